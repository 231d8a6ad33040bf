/* eq_compare.h - how far apart are two tensors, and would a tolerance pass.
 *
 * The comparator behind every check. `a` is the actual tensor (e.g. eager
 * mode), `b` the expected one (e.g. graph mode or a float64 reference). Both
 * have the same shape; float32 and float64 may be mixed and everything is
 * computed in double. The pass rule is numpy's assert_allclose:
 *
 *     |a - b| <= atol + rtol * |b|        (per element)
 *
 * Flow: eq_compare_tensors() fills a caller-owned eq_diff with every metric
 * (no allocation); eq_diff_message() turns it into the sentence a user reads
 * (modelled on PyTorch's assert_close); eq_diff_to_json() into the report's
 * JSON. eq_compare_first_divergence() walks endpoints in execution order and
 * names the first one out of tolerance (the migration guide's "ablation").
 *
 * Definitions (each has a pure per-element function below, so the checks and
 * the tests can use the same arithmetic):
 *
 * - A "finite pair" is an element where a and b are both finite.
 * - Non-finite elements follow numpy's isclose: equal infinities (same sign)
 *   are close; NaN against NaN is close only with opts.equal_nan (default
 *   off, like assert_allclose); any other pair with a NaN or Inf is a
 *   "non-finite mismatch". A non-finite mismatch counts as mismatched, has
 *   abs and rel difference +inf, makes atol_needed and rtol_needed +inf, and
 *   goes to the histogram's non-finite bin. Close non-finite pairs have
 *   difference 0 and go to the zero bin.
 * - max_abs_diff, max_rel_diff and mean_abs_diff are taken over finite pairs
 *   only (0 when there are none), so one NaN does not hide the size of the
 *   other differences; non-finite trouble is counted separately.
 * - Relative difference |a-b|/|b|. Where b == 0: 0 when a == 0 too;
 *   otherwise it is undefined, left out of max_rel_diff and counted in
 *   rel_skipped (numpy's assert_allclose report also skips b == 0).
 * - The worst element is the one with the largest ratio |a-b| / allowed,
 *   allowed = atol + rtol*|b| (atol where b is not finite); a ratio with
 *   allowed == 0 is +inf unless the difference is 0. Ties go to the larger
 *   |a-b|, then to the lower flat index, so non-finite mismatches come first.
 *   It is defined even when everything passes (the element closest to
 *   failing), and is -1 only for empty tensors.
 * - ULP distance of the worst element: float32 ULPs when both tensors are
 *   float32, else float64 ULPs. +0 and -0 are 0 apart; the distance counts
 *   representable numbers between the two, across zero too. Undefined
 *   (EQ_ULP_UNDEFINED) when either value is NaN.
 * - Histogram of |a-b| with fixed decade bins (upper edges included):
 *     bin 0: exactly 0          bin 1: (0, 1e-12]
 *     bin k (2..13): (10^(k-14), 10^(k-13)]   i.e. (1e-12, 1e-11] .. (0.1, 1]
 *     bin 14: > 1 (finite pairs)   bin 15: non-finite mismatch
 *   The counts sum to numel.
 * - atol_needed: the smallest atol that passes every element with
 *   opts.rtol fixed; rtol_needed: the smallest rtol with opts.atol fixed.
 *   Both are +inf when no value passes (a non-finite mismatch; for
 *   rtol_needed also b == 0 with |a| > atol). They are rounded up so that a
 *   rerun with that tolerance really passes, and are exact to within a few
 *   ULPs.
 */
#ifndef EQ_COMPARE_H
#define EQ_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eq_error.h"
#include "eq_tensor.h"

typedef struct eq_compare_opts {
    double rtol;    /* >= 0, finite */
    double atol;    /* >= 0, finite */
    int equal_nan;  /* NaN in both at one position counts as close */
    int same_dtype; /* a float32/float64 pair is an error instead of compared */
} eq_compare_opts;

/* The fixed_weights defaults of DESIGN.md: rtol 1e-6, atol 1e-5, NaN never
 * equal, mixed dtypes compared in double. */
eq_compare_opts eq_compare_opts_default(void);
/* EQ_ERR_INVALID unless rtol and atol are finite and >= 0. */
eq_status eq_compare_opts_check(const eq_compare_opts *opts, eq_error *err);

#define EQ_DIFF_HIST_BINS 16
#define EQ_DIFF_HIST_ZERO 0
#define EQ_DIFF_HIST_ABOVE_ONE 14
#define EQ_DIFF_HIST_NONFINITE 15
#define EQ_ULP_UNDEFINED UINT64_MAX
/* A buffer this large always holds eq_diff_message() in full. */
#define EQ_DIFF_MESSAGE_MAX 1024

typedef struct eq_diff {
    /* What was compared. */
    eq_compare_opts opts;
    eq_dtype dtype_actual, dtype_expected;
    int rank;
    int64_t shape[EQ_MAX_RANK];
    int64_t numel;

    /* The verdict: close == (mismatched == 0). */
    int close;
    int64_t mismatched;          /* incl. non-finite mismatches */
    double mismatched_fraction;  /* mismatched / numel; 0 when numel == 0 */

    /* Over finite pairs (see above); indices are flat, -1 when none. */
    int64_t finite_pairs;
    double max_abs_diff;
    int64_t max_abs_index;
    double max_rel_diff;
    int64_t max_rel_index;
    int64_t rel_skipped;         /* b == 0, a != 0: no relative difference */
    double sum_abs_diff;
    double mean_abs_diff;        /* sum_abs_diff / finite_pairs */

    /* The worst element. */
    int64_t worst_index;               /* flat; -1 when numel == 0 */
    int64_t worst_pos[EQ_MAX_RANK];    /* its multi-index (first rank entries) */
    double worst_actual, worst_expected;
    double worst_abs_diff;             /* +inf for a non-finite mismatch */
    double worst_allowed;              /* atol + rtol*|b| there */
    double worst_ratio;                /* worst_abs_diff / worst_allowed */
    uint64_t worst_ulp;                /* EQ_ULP_UNDEFINED when a NaN is involved */
    eq_dtype worst_ulp_dtype;          /* which ULPs worst_ulp counts */

    /* Non-finite values. */
    int64_t nan_actual, inf_actual, nan_expected, inf_expected;
    int64_t nonfinite_mismatched;

    int64_t hist[EQ_DIFF_HIST_BINS];

    double atol_needed;  /* with opts.rtol fixed; +inf when none passes */
    double rtol_needed;  /* with opts.atol fixed; +inf when none passes */
} eq_diff;

/* Compare actual `a` with expected `b`. Shapes must be equal (and dtypes
 * with opts->same_dtype): otherwise EQ_ERR_SHAPE naming both shapes and
 * dtypes, and *diff is left zeroed. Allocates nothing. opts NULL means
 * eq_compare_opts_default(). */
eq_status eq_compare_tensors(const eq_tensor *a, const eq_tensor *b,
                             const eq_compare_opts *opts, eq_diff *diff,
                             eq_error *err);

/* ---- pure per-element metric functions ---- */

typedef struct eq_elem_diff {
    int finite;       /* a and b both finite */
    int close;        /* passes the tolerance (non-finite rules included) */
    int rel_defined;  /* 0 only for b == 0, a != 0 (finite pairs) */
    double abs;       /* |a-b|; 0 or +inf for non-finite pairs */
    double rel;       /* |a-b|/|b| when rel_defined, else +inf */
    double allowed;   /* atol + rtol*|b|; atol when b is not finite */
} eq_elem_diff;

eq_elem_diff eq_compare_element(double a, double b, const eq_compare_opts *opts);
/* Representable numbers from a to b; EQ_ULP_UNDEFINED if either is NaN. */
uint64_t eq_compare_ulp_f32(float a, float b);
uint64_t eq_compare_ulp_f64(double a, double b);
/* Bin (0..14) of a finite |a-b| >= 0; see the bin table above. */
int eq_compare_hist_bin(double abs_diff);
/* Bin label: "0", "(0, 1e-12]", "(1e-12, 1e-11]", ..., "(0.1, 1]", ">1",
 * "non-finite"; NULL outside 0..EQ_DIFF_HIST_BINS-1. */
const char *eq_compare_hist_label(int bin);
/* Inclusive upper edge of bins 0..13 (0, 1e-12, 1e-11, ..., 1); +inf for
 * bins 14 and 15. */
double eq_compare_hist_upper(int bin);

/* ---- indices and text ---- */

/* Flat row-major index -> multi-index (pos gets rank entries). */
void eq_compare_unravel(int rank, const int64_t *shape, int64_t flat,
                        int64_t *pos);
/* "(2, 3)"; "()" for rank 0. Always terminated; returns buf. */
char *eq_compare_index_str(int rank, const int64_t *pos, char *buf, size_t n);
/* The sentence for users, e.g.
 * "Mismatched elements: 1 / 12 (8.3%). Greatest absolute difference: 0.0021
 * at index (2, 3) (up to 1e-05 allowed). Greatest relative difference:
 * 0.0007 at index (2, 3) (up to 0 allowed). Would pass with atol >= 0.0021
 * or rtol >= 0.0007."  Always terminated; returns buf. */
char *eq_diff_message(const eq_diff *diff, char *buf, size_t n);

/* ---- JSON ---- */

/* A number for JSON: json_real for finite x, else the string "nan", "inf"
 * or "-inf" (JSON has no NaN/Inf and jansson's json_real refuses them).
 * NULL only when out of memory. */
json_t *eq_compare_json_number(double x);

/* The diff as a JSON object; NULL when out of memory. Field names are
 * stable (the report, the store and the web UI read them). "num" is a
 * number or one of "nan", "inf", "-inf" (eq_compare_json_number); "index"
 * is an array of ints (the multi-index), or null when there is none.
 *   close                bool
 *   message              string (eq_diff_message)
 *   rtol, atol           num
 *   equal_nan            bool
 *   dtype_actual, dtype_expected   "float32" | "float64"
 *   shape                [int, ...]
 *   numel, mismatched    int
 *   mismatched_fraction  num
 *   finite_pairs         int
 *   max_abs_diff         num;  max_abs_diff_index  index
 *   max_rel_diff         num;  max_rel_diff_index  index
 *   rel_skipped          int
 *   mean_abs_diff        num
 *   worst                null (empty tensors) or object:
 *       flat_index int, index index, actual num, expected num,
 *       abs_diff num, allowed num,
 *       ulp_distance int or null (NaN involved; saturates at 2^63-1),
 *       ulp_dtype "float32" | "float64"
 *   nan_actual, inf_actual, nan_expected, inf_expected,
 *   nonfinite_mismatched int
 *   histogram            {"labels": [16 strings], "upper": [16 num],
 *                         "counts": [16 ints]}
 *   atol_needed, rtol_needed       num
 */
json_t *eq_diff_to_json(const eq_diff *diff);

/* ---- first divergence ---- */

typedef struct eq_named_diff {
    const char *name;    /* endpoint or output name */
    const eq_diff *diff; /* NULL: not compared (skipped) */
} eq_named_diff;

/* Index of the first entry (in the given order, i.e. execution order) that
 * is not close; -1 when all are. */
long eq_compare_first_divergence(const eq_named_diff *list, size_t n);
/* "Divergence starts at 'Mixed_5b' (3 of 12 in execution order): " +
 * that diff's message, or "All 12 compared tensors are close.". Returns buf. */
char *eq_compare_divergence_message(const eq_named_diff *list, size_t n,
                                    char *buf, size_t len);

#endif
