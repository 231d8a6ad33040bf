/* test_compare.c - the comparator: metrics against their definitions and
 * against hand-computed cases, non-finite handling, ULPs, histogram, JSON,
 * messages, first divergence. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "eq_alloc.h"
#include "eq_compare.h"
#include "eq_tensor.h"

static eq_compare_opts tol(double rtol, double atol)
{
    eq_compare_opts o = eq_compare_opts_default();
    o.rtol = rtol;
    o.atol = atol;
    return o;
}

static void view64(eq_tensor *t, int rank, const int64_t *shape, double *data)
{
    ck_assert_int_eq(eq_tensor_view(t, EQ_F64, rank, shape, data, NULL), EQ_OK);
}

static void view32(eq_tensor *t, int rank, const int64_t *shape, float *data)
{
    ck_assert_int_eq(eq_tensor_view(t, EQ_F32, rank, shape, data, NULL), EQ_OK);
}

/* The brief's case: one element off by 0.0021 with atol 1e-5, rtol 0. */
START_TEST(hand_case_vector)
{
    double av[3] = {1, 2, 3.0021}, bv[3] = {1, 2, 3};
    int64_t s[1] = {3};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    eq_compare_opts o = tol(0, 1e-5);
    eq_diff d;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.close, 0);
    ck_assert_int_eq(d.mismatched, 1);
    ck_assert_int_eq(d.numel, 3);
    ck_assert_double_eq_tol(d.mismatched_fraction, 1.0 / 3.0, 1e-15);
    ck_assert_double_eq_tol(d.max_abs_diff, 0.0021, 1e-12);
    ck_assert_int_eq(d.max_abs_index, 2);
    ck_assert_double_eq_tol(d.max_rel_diff, 0.0007, 1e-12);
    ck_assert_int_eq(d.max_rel_index, 2);
    ck_assert_double_eq_tol(d.mean_abs_diff, 0.0007, 1e-12);
    ck_assert_int_eq(d.worst_index, 2);
    ck_assert_int_eq(d.worst_pos[0], 2);
    ck_assert(d.worst_actual == 3.0021 && d.worst_expected == 3.0);
    ck_assert(d.worst_allowed == 1e-5);
    ck_assert_int_eq(d.worst_ulp_dtype, EQ_F64);
    /* 3.0021 - 3 in float64 ULPs at 3 (2^-51 each). */
    ck_assert_uint_eq(d.worst_ulp, (uint64_t)llround((3.0021 - 3.0) * 0x1p51));
    /* Histogram: two exact zeros, one in (0.001, 0.01]. */
    ck_assert_int_eq(d.hist[0], 2);
    ck_assert_int_eq(d.hist[11], 1);
    ck_assert_str_eq(eq_compare_hist_label(11), "(0.001, 0.01]");
    ck_assert_double_eq_tol(d.atol_needed, 0.0021, 1e-12);
    ck_assert_double_eq_tol(d.rtol_needed, (0.0021 - 1e-5) / 3.0, 1e-12);
    ck_assert_int_eq(d.nan_actual + d.inf_actual + d.nan_expected + d.inf_expected, 0);
}
END_TEST

/* Same numbers in a [3, 4] tensor: the multi-index and the exact message. */
START_TEST(hand_case_matrix_message)
{
    double av[12], bv[12];
    for (int i = 0; i < 12; i++)
        av[i] = bv[i] = i + 1;
    bv[11] = 3;
    av[11] = 3.0021;
    int64_t s[2] = {3, 4};
    eq_tensor a, b;
    view64(&a, 2, s, av);
    view64(&b, 2, s, bv);
    eq_compare_opts o = tol(0, 1e-5);
    eq_diff d;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.mismatched, 1);
    ck_assert_int_eq(d.worst_index, 11);
    ck_assert_int_eq(d.worst_pos[0], 2);
    ck_assert_int_eq(d.worst_pos[1], 3);
    char msg[EQ_DIFF_MESSAGE_MAX];
    ck_assert_str_eq(eq_diff_message(&d, msg, sizeof msg),
                     "Mismatched elements: 1 / 12 (8.3%). Greatest absolute difference: "
                     "0.0021 at index (2, 3) (up to 1e-05 allowed). Greatest relative "
                     "difference: 0.0007 at index (2, 3) (up to 0 allowed). Would pass "
                     "with atol >= 0.0021 or rtol >= 0.000696667.");
    /* A short buffer is cut, still terminated. */
    char small[16];
    ck_assert_str_eq(eq_diff_message(&d, small, sizeof small), "Mismatched elem");

    /* Loosened so it passes: the message says so, no "Would pass". */
    o.atol = 0.01;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.close, 1);
    ck_assert_str_eq(eq_diff_message(&d, msg, sizeof msg),
                     "Mismatched elements: 0 / 12 (0.0%). Greatest absolute difference: "
                     "0.0021 at index (2, 3) (up to 0.01 allowed). Greatest relative "
                     "difference: 0.0007 at index (2, 3) (up to 0 allowed). Passes with "
                     "rtol 0, atol 0.01.");
}
END_TEST

/* Deterministic pseudo-random numbers for the definition tests. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Every metric recomputed from its definition, float32 actual against a
 * float64 expected with some exact zeros and some large errors. */
START_TEST(metrics_match_definitions)
{
    enum { N = 500 };
    static float av[N];
    static double bv[N];
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        double base = ((double)lcg(&seed) / (1 << 24) - 0.5) * 4;
        if (i % 37 == 0)
            base = 0;
        double noise = ((double)lcg(&seed) / (1 << 24) - 0.5) * pow(10, -(int)(lcg(&seed) % 9));
        bv[i] = base;
        av[i] = (float)(base + (i % 5 == 0 ? noise : 0));
    }
    bv[185] = 0; /* an expected zero with a real error: no rtol can help */
    av[185] = 1e-3f;
    int64_t s[3] = {5, 10, 10};
    eq_tensor a, b;
    view32(&a, 3, s, av);
    view64(&b, 3, s, bv);
    eq_compare_opts o = tol(1e-4, 1e-6);
    eq_diff d;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);

    int64_t mism = 0, skipped = 0, hist[EQ_DIFF_HIST_BINS] = {0};
    double max_abs = 0, max_rel = 0, sum = 0, worst_ratio = -1;
    int64_t max_abs_i = -1, max_rel_i = -1, worst_i = -1;
    for (int i = 0; i < N; i++) {
        double x = av[i], y = bv[i], e = fabs(x - y);
        double allowed = o.atol + o.rtol * fabs(y);
        if (!(e <= allowed))
            mism++;
        sum += e;
        if (e > max_abs || max_abs_i < 0) {
            max_abs = e;
            max_abs_i = i;
        }
        if (y == 0 && x != 0) {
            skipped++;
        } else {
            double r = y == 0 ? 0 : e / fabs(y);
            if (r > max_rel || max_rel_i < 0) {
                max_rel = r;
                max_rel_i = i;
            }
        }
        double ratio = e == 0 ? 0 : e / allowed;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst_i = i;
        }
        int bin = 0;
        if (e > 1)
            bin = 14;
        else if (e > 0)
            for (bin = 1; e > pow(10, bin - 13) * (1 + 1e-15) && bin < 13; bin++)
                ;
        hist[bin]++;
    }
    ck_assert_int_gt(mism, 0);
    ck_assert_int_gt(skipped, 0);
    ck_assert_int_eq(d.mismatched, mism);
    ck_assert_int_eq(d.finite_pairs, N);
    ck_assert(d.max_abs_diff == max_abs);
    ck_assert_int_eq(d.max_abs_index, max_abs_i);
    ck_assert(d.max_rel_diff == max_rel);
    ck_assert_int_eq(d.max_rel_index, max_rel_i);
    ck_assert_int_eq(d.rel_skipped, skipped);
    ck_assert(d.mean_abs_diff == sum / N);
    ck_assert_int_eq(d.worst_index, worst_i);
    ck_assert_int_eq(d.worst_pos[0], worst_i / 100);
    ck_assert_int_eq(d.worst_pos[1], worst_i / 10 % 10);
    ck_assert_int_eq(d.worst_pos[2], worst_i % 10);
    int64_t total = 0;
    for (int k = 0; k < EQ_DIFF_HIST_BINS; k++) {
        ck_assert_int_eq(d.hist[k], hist[k]);
        total += d.hist[k];
    }
    ck_assert_int_eq(total, N);

    /* The tolerances it reports really pass, and a hair less does not. */
    eq_diff d2;
    eq_compare_opts o2 = tol(o.rtol, d.atol_needed);
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o2, &d2, NULL), EQ_OK);
    ck_assert_int_eq(d2.close, 1);
    o2.atol = d.atol_needed * (1 - 1e-9);
    eq_compare_tensors(&a, &b, &o2, &d2, NULL);
    ck_assert_int_eq(d2.close, 0);
    /* b has zeros where a does not, beyond atol: no rtol can pass. */
    ck_assert(isinf(d.rtol_needed));
}
END_TEST

/* The tensor loop (a fast path for finite pairs, the plain definitions for
 * the rest) agrees with eq_compare_element applied one element at a time,
 * on data with NaN, Inf, zeros and huge values mixed in. */
START_TEST(tensor_matches_element_function)
{
    enum { N = 2000 };
    static double av[N], bv[N];
    const double specials[6] = {NAN, INFINITY, -INFINITY, 0.0, 1e308, -1e308};
    uint32_t seed = 99;
    for (int i = 0; i < N; i++) {
        bv[i] = ((double)lcg(&seed) / (1 << 24) - 0.5) * 8;
        av[i] = bv[i] + ((double)lcg(&seed) / (1 << 24) - 0.5) * pow(10, -(int)(lcg(&seed) % 12));
        if (lcg(&seed) % 23 == 0)
            av[i] = specials[lcg(&seed) % 6];
        if (lcg(&seed) % 29 == 0)
            bv[i] = specials[lcg(&seed) % 6];
    }
    int64_t s[1] = {N};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    for (int equal_nan = 0; equal_nan <= 1; equal_nan++) {
        eq_compare_opts o = tol(1e-5, 1e-7);
        o.equal_nan = equal_nan;
        eq_diff d;
        ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
        int64_t mism = 0, finite = 0, skipped = 0, nonfin = 0, hist[EQ_DIFF_HIST_BINS] = {0};
        double max_abs = 0, max_rel = 0;
        for (int i = 0; i < N; i++) {
            eq_elem_diff e = eq_compare_element(av[i], bv[i], &o);
            mism += !e.close;
            if (e.finite) {
                finite++;
                max_abs = fmax(max_abs, e.abs);
                if (e.rel_defined)
                    max_rel = fmax(max_rel, e.rel);
                else
                    skipped++;
                hist[eq_compare_hist_bin(e.abs)]++;
            } else {
                nonfin += !e.close;
                hist[e.close ? EQ_DIFF_HIST_ZERO : EQ_DIFF_HIST_NONFINITE]++;
            }
        }
        ck_assert_int_gt(nonfin, 0);
        ck_assert_int_eq(d.mismatched, mism);
        ck_assert_int_eq(d.finite_pairs, finite);
        ck_assert_int_eq(d.rel_skipped, skipped);
        ck_assert_int_eq(d.nonfinite_mismatched, nonfin);
        ck_assert(d.max_abs_diff == max_abs);
        ck_assert(d.max_rel_diff == max_rel);
        for (int k = 0; k < EQ_DIFF_HIST_BINS; k++)
            ck_assert_int_eq(d.hist[k], hist[k]);
        ck_assert(isinf(d.atol_needed));
        ck_assert(isinf(d.worst_abs_diff) && isinf(d.worst_ratio));
    }
}
END_TEST

START_TEST(rtol_needed_passes_and_is_tight)
{
    double av[4] = {1.001, -2.0, 100.5, 0.0}, bv[4] = {1.0, -2.002, 100.0, 0.0};
    int64_t s[1] = {4};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    eq_compare_opts o = tol(0, 1e-4);
    eq_diff d, d2;
    eq_compare_tensors(&a, &b, &o, &d, NULL);
    ck_assert_int_eq(d.mismatched, 3);
    /* Element 2 needs the most: (0.5 - 1e-4) / 100. */
    ck_assert_double_eq_tol(d.rtol_needed, (0.5 - 1e-4) / 100, 1e-15);
    /* atol with rtol 0: the largest difference. */
    ck_assert_double_eq_tol(d.atol_needed, 0.5, 1e-15);
    eq_compare_opts o2 = tol(d.rtol_needed, 1e-4);
    eq_compare_tensors(&a, &b, &o2, &d2, NULL);
    ck_assert_int_eq(d2.close, 1);
    o2.rtol = d.rtol_needed * (1 - 1e-9);
    eq_compare_tensors(&a, &b, &o2, &d2, NULL);
    ck_assert_int_eq(d2.close, 0);
}
END_TEST

/* b == 0: relative difference is skipped and counted; rtol cannot help. */
START_TEST(expected_zero)
{
    double av[3] = {0, 1e-7, 0}, bv[3] = {0, 0, 1e-3};
    int64_t s[1] = {3};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    eq_compare_opts o = tol(0, 0);
    eq_diff d;
    eq_compare_tensors(&a, &b, &o, &d, NULL);
    ck_assert_int_eq(d.rel_skipped, 1);
    ck_assert(d.max_rel_diff == 1.0);
    ck_assert_int_eq(d.max_rel_index, 2);
    ck_assert_int_eq(d.mismatched, 2);
    /* Both have allowed == 0: ratio inf, the larger difference wins. */
    ck_assert_int_eq(d.worst_index, 2);
    ck_assert(isinf(d.worst_ratio));
    ck_assert(isinf(d.rtol_needed));
    ck_assert(d.atol_needed == 1e-3);
    char msg[EQ_DIFF_MESSAGE_MAX];
    eq_diff_message(&d, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, " 1 element with expected 0 and actual not 0 have no relative difference."));
    ck_assert_ptr_nonnull(strstr(msg, "Would pass with atol >= 0.001 (no rtol passes with atol 0)."));
    /* With atol covering element 1, rtol can: (1e-3 - 1e-6) / 1e-3. */
    o.atol = 1e-6;
    eq_compare_tensors(&a, &b, &o, &d, NULL);
    ck_assert_double_eq_tol(d.rtol_needed, 0.999, 1e-12);
}
END_TEST

START_TEST(nonfinite_counting)
{
    double av[6] = {NAN, INFINITY, -INFINITY, 1, NAN, 2};
    double bv[6] = {NAN, INFINITY, INFINITY, NAN, 1, 2};
    int64_t s[2] = {2, 3};
    eq_tensor a, b;
    view64(&a, 2, s, av);
    view64(&b, 2, s, bv);
    eq_compare_opts o = tol(1e-6, 1e-5);
    eq_diff d;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.nan_actual, 2);
    ck_assert_int_eq(d.inf_actual, 2);
    ck_assert_int_eq(d.nan_expected, 2);
    ck_assert_int_eq(d.inf_expected, 2);
    /* NaN/NaN (equal_nan off), -inf/inf, 1/NaN, NaN/1; inf/inf is close. */
    ck_assert_int_eq(d.mismatched, 4);
    ck_assert_int_eq(d.nonfinite_mismatched, 4);
    ck_assert_int_eq(d.finite_pairs, 1);
    ck_assert(d.max_abs_diff == 0);
    ck_assert_int_eq(d.max_abs_index, 5);
    ck_assert_int_eq(d.hist[EQ_DIFF_HIST_ZERO], 2);
    ck_assert_int_eq(d.hist[EQ_DIFF_HIST_NONFINITE], 4);
    ck_assert_int_eq(d.worst_index, 0);
    ck_assert(isnan(d.worst_actual) && isnan(d.worst_expected));
    ck_assert(isinf(d.worst_abs_diff));
    ck_assert_uint_eq(d.worst_ulp, EQ_ULP_UNDEFINED);
    ck_assert(isinf(d.atol_needed) && isinf(d.rtol_needed));
    char msg[EQ_DIFF_MESSAGE_MAX];
    ck_assert_str_eq(eq_diff_message(&d, msg, sizeof msg),
                     "Mismatched elements: 4 / 6 (66.7%). Greatest absolute difference: 0 at "
                     "index (1, 2) (up to 1e-05 allowed). Greatest relative difference: 0 at "
                     "index (1, 2) (up to 1e-06 allowed). Non-finite mismatches: 4, first at "
                     "index (0, 0) (actual nan, expected nan). Actual has 2 NaN and 2 Inf; "
                     "expected has 2 NaN and 2 Inf. No finite tolerance would pass.");

    o.equal_nan = 1;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.mismatched, 3);
    ck_assert_int_eq(d.hist[EQ_DIFF_HIST_ZERO], 3);
    ck_assert_int_eq(d.worst_index, 2);
    ck_assert_int_eq(d.worst_pos[0], 0);
    ck_assert_int_eq(d.worst_pos[1], 2);
    /* -inf to +inf: every finite double and both zeros' slot in between. */
    ck_assert_uint_eq(d.worst_ulp, 2 * 0x7ff0000000000000ULL);

    /* All NaN in both, equal_nan: close. */
    double n1[2] = {NAN, NAN}, n2[2] = {NAN, NAN};
    int64_t s2[1] = {2};
    view64(&a, 1, s2, n1);
    view64(&b, 1, s2, n2);
    eq_compare_tensors(&a, &b, &o, &d, NULL);
    ck_assert_int_eq(d.close, 1);
    ck_assert_int_eq(d.finite_pairs, 0);
    ck_assert(d.mean_abs_diff == 0);
}
END_TEST

START_TEST(element_function)
{
    eq_compare_opts o = tol(0.5, 1);
    eq_elem_diff e = eq_compare_element(5, 3, &o);
    ck_assert(e.finite && e.close && e.rel_defined);
    ck_assert(e.abs == 2 && e.allowed == 2.5 && e.rel == 2.0 / 3.0);
    e = eq_compare_element(-1, 2, &o); /* 3 > 1 + 1 */
    ck_assert(!e.close && e.abs == 3 && e.allowed == 2);
    e = eq_compare_element(INFINITY, INFINITY, &o);
    ck_assert(!e.finite && e.close && e.abs == 0 && e.allowed == 1);
    e = eq_compare_element(1, -INFINITY, &o);
    ck_assert(!e.close && isinf(e.abs));
    e = eq_compare_element(0, 0, &o);
    ck_assert(e.close && e.rel_defined && e.rel == 0);
    e = eq_compare_element(1, 0, &o);
    ck_assert(!e.rel_defined && e.close);
}
END_TEST

START_TEST(ulp_distance)
{
    float one = 1.0f, next = nextafterf(1.0f, 2.0f);
    ck_assert_uint_eq(eq_compare_ulp_f32(one, next), 1);
    ck_assert_uint_eq(eq_compare_ulp_f32(next, one), 1);
    ck_assert_uint_eq(eq_compare_ulp_f32(one, one), 0);
    ck_assert_uint_eq(eq_compare_ulp_f32(0.0f, -0.0f), 0);
    float tiny = nextafterf(0.0f, 1.0f); /* smallest denormal */
    ck_assert_uint_eq(eq_compare_ulp_f32(tiny, -tiny), 2);
    ck_assert_uint_eq(eq_compare_ulp_f32(-tiny, 0.0f), 1);
    /* 1 and -1: 0x3f800000 steps down to zero and as many below. */
    ck_assert_uint_eq(eq_compare_ulp_f32(1.0f, -1.0f), 2 * 0x3f800000ULL);
    ck_assert_uint_eq(eq_compare_ulp_f32(3.4028235e38f, INFINITY), 1);
    ck_assert_uint_eq(eq_compare_ulp_f32(NAN, 1.0f), EQ_ULP_UNDEFINED);

    ck_assert_uint_eq(eq_compare_ulp_f64(1.0, nextafter(1.0, 2.0)), 1);
    ck_assert_uint_eq(eq_compare_ulp_f64(2.5, 2.5), 0);
    ck_assert_uint_eq(eq_compare_ulp_f64(-0.0, 0.0), 0);
    double dtiny = nextafter(0.0, 1.0);
    ck_assert_uint_eq(eq_compare_ulp_f64(-dtiny, dtiny), 2);
    ck_assert_uint_eq(eq_compare_ulp_f64(1.0, 0.0), 0x3ff0000000000000ULL);
    ck_assert_uint_eq(eq_compare_ulp_f64(1.0, NAN), EQ_ULP_UNDEFINED);

    /* Inside a comparison: both float32 -> float32 ULPs; mixed -> float64. */
    float a32[2] = {1.0f, 1.0f}, b32[2] = {1.0f, 1.0f};
    b32[1] = nextafterf(nextafterf(nextafterf(1.0f, 2.0f), 2.0f), 2.0f);
    int64_t s[1] = {2};
    eq_tensor a, b;
    view32(&a, 1, s, a32);
    view32(&b, 1, s, b32);
    eq_diff d;
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    ck_assert_int_eq(d.worst_index, 1);
    ck_assert_int_eq(d.worst_ulp_dtype, EQ_F32);
    ck_assert_uint_eq(d.worst_ulp, 3);
    double b64[2] = {1.0, b32[1]};
    view64(&b, 1, s, b64);
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    ck_assert_int_eq(d.worst_ulp_dtype, EQ_F64);
    ck_assert_uint_eq(d.worst_ulp, 3ULL << 29); /* 2^-23 is 2^29 double ULPs at 1 */
}
END_TEST

START_TEST(histogram_bins)
{
    ck_assert_int_eq(eq_compare_hist_bin(0), 0);
    ck_assert_int_eq(eq_compare_hist_bin(1e-300), 1);
    ck_assert_int_eq(eq_compare_hist_bin(1e-12), 1); /* upper edge is inside */
    ck_assert_int_eq(eq_compare_hist_bin(nextafter(1e-12, 1)), 2);
    ck_assert_int_eq(eq_compare_hist_bin(1e-11), 2);
    ck_assert_int_eq(eq_compare_hist_bin(5e-7), 7);
    ck_assert_int_eq(eq_compare_hist_bin(1e-6), 7);
    ck_assert_int_eq(eq_compare_hist_bin(0.5), 13);
    ck_assert_int_eq(eq_compare_hist_bin(1), 13);
    ck_assert_int_eq(eq_compare_hist_bin(nextafter(1, 2)), 14);
    ck_assert_int_eq(eq_compare_hist_bin(1e30), 14);
    ck_assert_str_eq(eq_compare_hist_label(0), "0");
    ck_assert_str_eq(eq_compare_hist_label(1), "(0, 1e-12]");
    ck_assert_str_eq(eq_compare_hist_label(7), "(1e-07, 1e-06]");
    ck_assert_str_eq(eq_compare_hist_label(13), "(0.1, 1]");
    ck_assert_str_eq(eq_compare_hist_label(14), ">1");
    ck_assert_str_eq(eq_compare_hist_label(15), "non-finite");
    ck_assert_ptr_null(eq_compare_hist_label(16));
    ck_assert_ptr_null(eq_compare_hist_label(-1));
    ck_assert(eq_compare_hist_upper(7) == 1e-6);
    ck_assert(eq_compare_hist_upper(13) == 1);
    ck_assert(isinf(eq_compare_hist_upper(14)));
    /* The fast bin (from the binary exponent) against the definition:
     * 1 + the number of upper edges below d, over every binade from
     * subnormals to 2^3 and both neighbours of every edge. */
    for (int e = -1080; e < 4; e++) {
        double base = ldexp(1.0, e);
        double probes[5] = {base, nextafter(base, 0), base * 1.3, base * 1.7,
                            nextafter(2 * base, 0)};
        for (int p = 0; p < 5; p++) {
            double v = probes[p];
            int want = v > 0;
            for (int k = 1; k < 14; k++)
                want += v > eq_compare_hist_upper(k);
            ck_assert_msg(eq_compare_hist_bin(v) == want, "bin of %a: %d, want %d", v,
                          eq_compare_hist_bin(v), want);
        }
    }
    for (int k = 1; k < 14; k++) {
        double edge = eq_compare_hist_upper(k);
        ck_assert_int_eq(eq_compare_hist_bin(nextafter(edge, 0)), k);
        ck_assert_int_eq(eq_compare_hist_bin(nextafter(edge, 2)), k + 1);
    }
    ck_assert_int_eq(eq_compare_hist_bin(DBL_MAX), 14);
    /* Each label's upper edge puts the edge itself in that bin. */
    for (int k = 1; k < 14; k++)
        ck_assert_int_eq(eq_compare_hist_bin(eq_compare_hist_upper(k)), k);

    /* Through a tensor: one difference per bin 0..14. */
    double av[15], bv[15];
    for (int k = 0; k < 15; k++) {
        bv[k] = 0;
        av[k] = k == 0 ? 0 : (k == 14 ? 2 : eq_compare_hist_upper(k));
    }
    int64_t s[1] = {15};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    eq_diff d;
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    for (int k = 0; k < 15; k++)
        ck_assert_int_eq(d.hist[k], 1);
    ck_assert_int_eq(d.hist[15], 0);
}
END_TEST

START_TEST(shape_and_option_errors)
{
    float x[6] = {0};
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    eq_tensor a, b;
    view32(&a, 2, s23, x);
    view32(&b, 2, s32, x);
    eq_error err;
    eq_diff d;
    d.numel = 99;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, NULL, &d, &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message,
                     "compare: shapes differ: actual float32 [2, 3] vs expected float32 [3, 2]");
    ck_assert_int_eq(d.numel, 0);
    view32(&b, 1, s6, x);
    ck_assert_int_eq(eq_compare_tensors(&a, &b, NULL, &d, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "[2, 3]"));
    ck_assert_ptr_nonnull(strstr(err.message, "[6]"));

    /* Mixed dtypes compare unless same_dtype asks otherwise. */
    double y[6] = {0};
    view64(&b, 2, s23, y);
    ck_assert_int_eq(eq_compare_tensors(&a, &b, NULL, &d, &err), EQ_OK);
    ck_assert_int_eq(d.close, 1);
    eq_compare_opts o = eq_compare_opts_default();
    o.same_dtype = 1;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, &o, &d, &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message,
                     "compare: dtypes differ: actual float32 [2, 3] vs expected float64 [2, 3]");

    o = tol(-1, 0);
    ck_assert_int_eq(eq_compare_tensors(&a, &a, &o, &d, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "rtol"));
    o = tol(0, NAN);
    ck_assert_int_eq(eq_compare_tensors(&a, &a, &o, &d, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "atol"));
    o = tol(INFINITY, 0);
    ck_assert_int_eq(eq_compare_opts_check(&o, NULL), EQ_ERR_INVALID);
    eq_compare_opts def = eq_compare_opts_default();
    ck_assert(def.rtol == 1e-6 && def.atol == 1e-5 && def.equal_nan == 0);
}
END_TEST

START_TEST(empty_and_scalar)
{
    int64_t s0[2] = {0, 3};
    eq_tensor a, b;
    float none[1] = {0};
    view32(&a, 2, s0, none);
    view32(&b, 2, s0, none);
    eq_diff d;
    ck_assert_int_eq(eq_compare_tensors(&a, &b, NULL, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.numel, 0);
    ck_assert_int_eq(d.close, 1);
    ck_assert_int_eq(d.worst_index, -1);
    ck_assert_int_eq(d.max_abs_index, -1);
    ck_assert(d.mismatched_fraction == 0);
    char msg[EQ_DIFF_MESSAGE_MAX];
    ck_assert_str_eq(eq_diff_message(&d, msg, sizeof msg),
                     "Mismatched elements: 0 / 0 (0.0%). Passes with rtol 1e-06, atol 1e-05.");
    json_t *j = eq_diff_to_json(&d);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_null(json_object_get(j, "worst")));
    ck_assert(json_is_null(json_object_get(j, "max_abs_diff_index")));
    json_decref(j);

    float x = 1.5f, y = 1.0f;
    view32(&a, 0, NULL, &x);
    view32(&b, 0, NULL, &y);
    ck_assert_int_eq(eq_compare_tensors(&a, &b, NULL, &d, NULL), EQ_OK);
    ck_assert_int_eq(d.worst_index, 0);
    eq_diff_message(&d, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, "Greatest absolute difference: 0.5 at index () "));
    char idx[32];
    int64_t pos[3] = {1, 0, 7};
    ck_assert_str_eq(eq_compare_index_str(3, pos, idx, sizeof idx), "(1, 0, 7)");
    int64_t shp[3] = {2, 3, 4};
    eq_compare_unravel(3, shp, 23, pos);
    ck_assert(pos[0] == 1 && pos[1] == 2 && pos[2] == 3);
}
END_TEST

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

START_TEST(json_fields_and_nonfinite)
{
    json_t *v = eq_compare_json_number(NAN);
    ck_assert_str_eq(json_string_value(v), "nan");
    json_decref(v);
    v = eq_compare_json_number(INFINITY);
    ck_assert_str_eq(json_string_value(v), "inf");
    json_decref(v);
    v = eq_compare_json_number(-INFINITY);
    ck_assert_str_eq(json_string_value(v), "-inf");
    json_decref(v);
    v = eq_compare_json_number(0.25);
    ck_assert(json_is_real(v) && json_real_value(v) == 0.25);
    json_decref(v);

    double av[6] = {NAN, INFINITY, -INFINITY, 1, NAN, 2};
    double bv[6] = {NAN, INFINITY, INFINITY, NAN, 1, 2.5};
    int64_t s[2] = {2, 3};
    eq_tensor a, b;
    view64(&a, 2, s, av);
    view64(&b, 2, s, bv);
    eq_diff d;
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    json_t *j = eq_diff_to_json(&d);
    ck_assert_ptr_nonnull(j);
    /* jansson refuses NaN in json_real, so a dump that succeeds shows every
     * non-finite number went through the encoding. */
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "\"atol_needed\":\"inf\""));
    ck_assert_ptr_nonnull(strstr(text, "\"actual\":\"nan\""));
    ck_assert_ptr_nonnull(strstr(text, "\"ulp_distance\":null"));
    json_error_t jerr;
    json_t *back = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(back);
    ck_assert(json_equal(back, j));
    json_decref(back);
    free(text);

    ck_assert(json_is_false(json_object_get(j, "close")));
    ck_assert_str_eq(jstr(j, "dtype_actual"), "float64");
    ck_assert_str_eq(jstr(j, "dtype_expected"), "float64");
    ck_assert_str_eq(jstr(j, "rtol_needed"), "inf");
    ck_assert_ptr_nonnull(strstr(jstr(j, "message"), "Mismatched elements: 5 / 6"));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "mismatched")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "numel")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "nan_actual")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "inf_expected")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "nonfinite_mismatched")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "finite_pairs")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rel_skipped")), 0);
    ck_assert(json_real_value(json_object_get(j, "max_abs_diff")) == 0.5);
    ck_assert(json_real_value(json_object_get(j, "max_rel_diff")) == 0.2);
    ck_assert(json_real_value(json_object_get(j, "mean_abs_diff")) == 0.5);
    ck_assert(json_real_value(json_object_get(j, "rtol")) == 1e-6);
    ck_assert(json_real_value(json_object_get(j, "atol")) == 1e-5);
    ck_assert(json_is_false(json_object_get(j, "equal_nan")));
    ck_assert(json_is_real(json_object_get(j, "mismatched_fraction")));
    json_t *idx = json_object_get(j, "max_abs_diff_index");
    ck_assert_int_eq(json_array_size(idx), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(idx, 0)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(idx, 1)), 2);
    ck_assert_int_eq(json_array_size(json_object_get(j, "max_rel_diff_index")), 2);
    json_t *shape = json_object_get(j, "shape");
    ck_assert_int_eq(json_integer_value(json_array_get(shape, 1)), 3);

    json_t *w = json_object_get(j, "worst");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "flat_index")), 0);
    ck_assert_int_eq(json_array_size(json_object_get(w, "index")), 2);
    ck_assert_str_eq(jstr(w, "expected"), "nan");
    ck_assert_str_eq(jstr(w, "abs_diff"), "inf");
    ck_assert(json_real_value(json_object_get(w, "allowed")) == 1e-5);
    ck_assert_str_eq(jstr(w, "ulp_dtype"), "float64");

    json_t *h = json_object_get(j, "histogram");
    json_t *counts = json_object_get(h, "counts");
    ck_assert_int_eq(json_array_size(counts), EQ_DIFF_HIST_BINS);
    ck_assert_int_eq(json_integer_value(json_array_get(counts, EQ_DIFF_HIST_NONFINITE)), 4);
    ck_assert_int_eq(json_integer_value(json_array_get(counts, 13)), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(h, "labels"), 15)),
                     "non-finite");
    json_t *upper = json_object_get(h, "upper");
    ck_assert(json_real_value(json_array_get(upper, 2)) == 1e-11);
    ck_assert_str_eq(json_string_value(json_array_get(upper, 14)), "inf");
    ck_assert_uint_eq(json_object_size(j), 27);
    json_decref(j);

    /* ULP distance present as an integer. */
    double c1[1] = {1.0}, c2[1] = {1.0};
    c2[0] = nextafter(nextafter(1.0, 2), 2);
    int64_t s1[1] = {1};
    view64(&a, 1, s1, c1);
    view64(&b, 1, s1, c2);
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    j = eq_diff_to_json(&d);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "worst"), "ulp_distance")), 2);
    json_decref(j);
}
END_TEST

/* jansson routed through eq_alloc: every allocation failure gives NULL, no
 * crash, no leak (the sanitizer build checks the leak part). */
START_TEST(json_allocation_failures)
{
    double av[4] = {1, NAN, 3, 4}, bv[4] = {1, 2, 3.5, 4};
    int64_t s[2] = {2, 2};
    eq_tensor a, b;
    view64(&a, 2, s, av);
    view64(&b, 2, s, bv);
    eq_diff d;
    eq_compare_tensors(&a, &b, NULL, &d, NULL);
    json_set_alloc_funcs(eq_malloc, eq_free);
    int failures = 0;
    for (long k = 1; k < 10000; k++) {
        eq_alloc_fail_after(k, 0);
        json_t *j = eq_diff_to_json(&d);
        long used = eq_alloc_count();
        eq_alloc_fail_after(0, 0);
        if (!j) {
            failures++;
            continue;
        }
        json_decref(j);
        if (used < k)
            break; /* this run never reached the failing allocation */
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert_int_gt(failures, 20);
}
END_TEST

START_TEST(first_divergence)
{
    eq_diff close, off;
    memset(&close, 0, sizeof close);
    double av[2] = {1, 2.5}, bv[2] = {1, 2};
    int64_t s[1] = {2};
    eq_tensor a, b;
    view64(&a, 1, s, av);
    view64(&b, 1, s, bv);
    eq_compare_tensors(&a, &a, NULL, &close, NULL);
    eq_compare_tensors(&a, &b, NULL, &off, NULL);
    ck_assert_int_eq(close.close, 1);
    ck_assert_int_eq(off.close, 0);

    eq_named_diff list[5] = {
        {"Conv2d_1a_3x3", &close}, {"Conv2d_2a_3x3", NULL}, {"MaxPool_3a_3x3", &close},
        {"Mixed_5b", &off},        {"Logits", &off},
    };
    ck_assert_int_eq(eq_compare_first_divergence(list, 5), 3);
    ck_assert_int_eq(eq_compare_first_divergence(list, 3), -1);
    ck_assert_int_eq(eq_compare_first_divergence(list, 0), -1);
    char buf[2048], msg[EQ_DIFF_MESSAGE_MAX], want[2048];
    snprintf(want, sizeof want,
             "Divergence starts at 'Mixed_5b' (4 of 5 in execution order): %s",
             eq_diff_message(&off, msg, sizeof msg));
    ck_assert_str_eq(eq_compare_divergence_message(list, 5, buf, sizeof buf), want);
    ck_assert_str_eq(eq_compare_divergence_message(list, 3, buf, sizeof buf),
                     "All 2 compared tensors are close.");
    /* A NULL diff never counts as divergent, even first. */
    eq_named_diff only_missing[1] = {{"x", NULL}};
    ck_assert_int_eq(eq_compare_first_divergence(only_missing, 1), -1);
}
END_TEST

/* Identical inputs, identical diff bytes (no uninitialised padding used). */
START_TEST(deterministic)
{
    float av[64], bv[64];
    uint32_t seed = 7;
    for (int i = 0; i < 64; i++) {
        av[i] = (float)lcg(&seed) / (1 << 24);
        bv[i] = av[i] + (float)lcg(&seed) / (1 << 30);
    }
    int64_t s[2] = {8, 8};
    eq_tensor a, b;
    view32(&a, 2, s, av);
    view32(&b, 2, s, bv);
    eq_diff d1, d2;
    eq_compare_tensors(&a, &b, NULL, &d1, NULL);
    eq_compare_tensors(&a, &b, NULL, &d2, NULL);
    ck_assert_int_eq(memcmp(&d1, &d2, sizeof d1), 0);
}
END_TEST

static Suite *compare_suite(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("compare");
    tcase_add_test(tc, hand_case_vector);
    tcase_add_test(tc, hand_case_matrix_message);
    tcase_add_test(tc, metrics_match_definitions);
    tcase_add_test(tc, tensor_matches_element_function);
    tcase_add_test(tc, rtol_needed_passes_and_is_tight);
    tcase_add_test(tc, expected_zero);
    tcase_add_test(tc, nonfinite_counting);
    tcase_add_test(tc, element_function);
    tcase_add_test(tc, ulp_distance);
    tcase_add_test(tc, histogram_bins);
    tcase_add_test(tc, shape_and_option_errors);
    tcase_add_test(tc, empty_and_scalar);
    tcase_add_test(tc, json_fields_and_nonfinite);
    tcase_add_test(tc, json_allocation_failures);
    tcase_add_test(tc, first_divergence);
    tcase_add_test(tc, deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(compare_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
