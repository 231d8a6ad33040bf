/* eq_compare.c - tensor comparison metrics (see eq_compare.h). */
#include "eq_compare.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

eq_compare_opts eq_compare_opts_default(void)
{
    eq_compare_opts o = {1e-6, 1e-5, 0, 0};
    return o;
}

eq_status eq_compare_opts_check(const eq_compare_opts *opts, eq_error *err)
{
    if (!isfinite(opts->rtol) || opts->rtol < 0)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "compare: rtol must be a finite number >= 0, got %g",
                            opts->rtol);
    if (!isfinite(opts->atol) || opts->atol < 0)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "compare: atol must be a finite number >= 0, got %g",
                            opts->atol);
    return EQ_OK;
}

/* ---- per-element metrics ---- */

static inline eq_elem_diff element(double a, double b, double rtol, double atol,
                                   int equal_nan)
{
    eq_elem_diff e;
    if (isfinite(a) && isfinite(b)) {
        e.finite = 1;
        e.abs = fabs(a - b); /* may overflow to +inf for huge opposite values */
        e.allowed = atol + rtol * fabs(b);
        e.close = e.abs <= e.allowed;
        if (b != 0) {
            e.rel = e.abs / fabs(b);
            e.rel_defined = 1;
        } else if (a == 0) {
            e.rel = 0;
            e.rel_defined = 1;
        } else {
            e.rel = INFINITY;
            e.rel_defined = 0;
        }
    } else {
        e.finite = 0;
        e.allowed = isfinite(b) ? atol + rtol * fabs(b) : atol;
        e.close = a == b || (equal_nan && isnan(a) && isnan(b));
        e.abs = e.close ? 0 : INFINITY;
        e.rel = e.abs;
        e.rel_defined = e.close;
    }
    return e;
}

eq_elem_diff eq_compare_element(double a, double b, const eq_compare_opts *opts)
{
    return element(a, b, opts->rtol, opts->atol, opts->equal_nan);
}

/* Map the bits onto a line where adjacent representable numbers are
 * adjacent integers: negatives below 2^63, positives above, both zeros on
 * 2^63 itself. */
static uint64_t order_key64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    uint64_t mag = u & 0x7fffffffffffffffULL;
    const uint64_t mid = 0x8000000000000000ULL;
    return (u >> 63) ? mid - mag : mid + mag;
}

static uint64_t order_key32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint64_t mag = u & 0x7fffffffu;
    const uint64_t mid = 0x80000000ULL;
    return (u >> 31) ? mid - mag : mid + mag;
}

uint64_t eq_compare_ulp_f32(float a, float b)
{
    if (isnan(a) || isnan(b))
        return EQ_ULP_UNDEFINED;
    uint64_t ka = order_key32(a), kb = order_key32(b);
    return ka > kb ? ka - kb : kb - ka;
}

uint64_t eq_compare_ulp_f64(double a, double b)
{
    if (isnan(a) || isnan(b))
        return EQ_ULP_UNDEFINED;
    uint64_t ka = order_key64(a), kb = order_key64(b);
    return ka > kb ? ka - kb : kb - ka;
}

static const char *const hist_labels[EQ_DIFF_HIST_BINS] = {
    "0",              "(0, 1e-12]",     "(1e-12, 1e-11]", "(1e-11, 1e-10]",
    "(1e-10, 1e-09]", "(1e-09, 1e-08]", "(1e-08, 1e-07]", "(1e-07, 1e-06]",
    "(1e-06, 1e-05]", "(1e-05, 0.0001]", "(0.0001, 0.001]", "(0.001, 0.01]",
    "(0.01, 0.1]",    "(0.1, 1]",       ">1",             "non-finite",
};

/* Bin from the binary exponent. A binade [2^e, 2^(e+1)) holds at most one
 * decade edge (10 > 2), so the bin is binade_bin[e] or one more, decided by
 * one compare with that bin's upper edge. binade_bin[e + 41] = 1 + the
 * number of edges below 2^e, for e in -41..1 (2^-40 < 1e-12; e >= 1 means
 * d >= 2). A search over the edges mispredicts on real data, where
 * differences scatter over several decades; this has no branch.
 * test_compare checks it against the plain definition. */
static const unsigned char binade_bin[43] = {
    1,  1,  2,  2,  2,  3,  3,  3,  4,  4,  4,  4,  5,  5,  5,  6,  6,  6,  7,  7,  7,  7,
    8,  8,  8,  9,  9,  9,  10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 13, 14,
};

/* Inclusive upper edges of bins 0..14 (bin 14, >1, has none). Literals,
 * so each edge is exactly the double nearest its decade and the tests can
 * state bins with the same literals. */
static const double bin_upper[15] = {
    0,    1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6,
    1e-5, 1e-4,  1e-3,  1e-2,  1e-1, 1,    INFINITY,
};

/* For finite d >= 0. */
static inline int hist_bin(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    int e = (int)((u >> 52) & 0x7ff) - 1023; /* zero and subnormals: -1023 */
    e = e < -41 ? -41 : (e > 1 ? 1 : e);
    int bin = binade_bin[e + 41];
    bin += d > bin_upper[bin];
    return (d > 0) * bin;
}

int eq_compare_hist_bin(double abs_diff) { return hist_bin(abs_diff); }

const char *eq_compare_hist_label(int bin)
{
    if (bin < 0 || bin >= EQ_DIFF_HIST_BINS)
        return NULL;
    return hist_labels[bin];
}

double eq_compare_hist_upper(int bin)
{
    if (bin >= 0 && bin < 14)
        return bin_upper[bin];
    return INFINITY;
}

/* ---- the tensor comparison ---- */

static void unravel(int rank, const int64_t *shape, int64_t flat, int64_t *pos)
{
    for (int i = rank - 1; i >= 0; i--) {
        int64_t d = shape[i] > 0 ? shape[i] : 1;
        pos[i] = flat % d;
        flat /= d;
    }
}

void eq_compare_unravel(int rank, const int64_t *shape, int64_t flat, int64_t *pos)
{
    unravel(rank, shape, flat, pos);
}

/* Smallest atol (rtol fixed) under which element (d, |b|) passes, given that
 * it fails under `cur`. Rounded up until the pass test itself agrees. */
static double raise_atol(double d, double rtol, double absb)
{
    double r = rtol * absb;
    double c = d - r;
    if (c < 0)
        c = 0;
    while (c + r < d)
        c = nextafter(c, INFINITY);
    return c;
}

static double raise_rtol(double d, double atol, double absb)
{
    if (absb == 0)
        return INFINITY;
    double c = (d - atol) / absb;
    if (c < 0)
        c = 0;
    while (atol + c * absb < d)
        c = nextafter(c, INFINITY);
    return c;
}

static int valid_dtype(eq_dtype t) { return t == EQ_F32 || t == EQ_F64; }

static eq_status check_pair(const eq_tensor *a, const eq_tensor *b,
                            const eq_compare_opts *o, eq_error *err)
{
    if (!valid_dtype(a->dtype) || !valid_dtype(b->dtype))
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "compare: unknown dtype code (actual %d, expected %d)",
                            (int)a->dtype, (int)b->dtype);
    if (a->rank < 0 || a->rank > EQ_MAX_RANK || b->rank < 0 || b->rank > EQ_MAX_RANK)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "compare: rank outside 0..%d (actual %d, expected %d)",
                            EQ_MAX_RANK, a->rank, b->rank);
    int shape_ok = eq_shape_equal(a->rank, a->shape, b->rank, b->shape);
    if (!shape_ok || (o->same_dtype && a->dtype != b->dtype)) {
        char sa[128], sb[128];
        eq_shape_str(a->rank, a->shape, sa, sizeof sa);
        eq_shape_str(b->rank, b->shape, sb, sizeof sb);
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "compare: %s differ: actual %s %s vs expected %s %s",
                            shape_ok ? "dtypes" : "shapes", eq_dtype_name(a->dtype),
                            sa, eq_dtype_name(b->dtype), sb);
    }
    return EQ_OK;
}

/* Running state of one comparison. Maxima start at -1 so the first
 * finite pair always sets their index. */
typedef struct acc {
    double rtol, atol;
    int equal_nan;
    double max_abs, max_rel, sum;
    double worst_ratio, worst_abs, worst_allowed;
    double atol_need, rtol_need;
    int64_t mism, nonfinite, skipped, nonfin_mism;
    int64_t max_abs_i, max_rel_i, worst_i;
    int64_t nan_a, inf_a, nan_b, inf_b;
    int64_t hist[EQ_DIFF_HIST_BINS];
} acc;

/* Slightly below 1: a product test scaled by this never rejects an element
 * whose exact quotient would win, so the division runs only for likely
 * winners (see fast_pair). */
#define PREFILTER (1.0 - 0x1p-50)

static inline void take_worst(acc *s, int64_t i, double abs, double allowed)
{
    double ratio = abs == 0 ? 0 : (allowed > 0 ? abs / allowed : INFINITY);
    if (ratio > s->worst_ratio || (ratio == s->worst_ratio && abs > s->worst_abs)) {
        s->worst_ratio = ratio;
        s->worst_abs = abs;
        s->worst_allowed = allowed;
        s->worst_i = i;
    }
}

/* The tests below are the pass rule itself with the tolerance found so
 * far, so an element that already passes costs two compares. */
static inline void raise_needed(acc *s, double abs, double absb)
{
    if (!(abs <= s->atol_need + s->rtol * absb)) {
        double c = raise_atol(abs, s->rtol, absb);
        if (c > s->atol_need)
            s->atol_need = c;
    }
    if (!(abs <= s->atol + s->rtol_need * absb)) {
        double c = raise_rtol(abs, s->atol, absb);
        if (c > s->rtol_need)
            s->rtol_need = c;
    }
}

/* Any element: the definitions of eq_compare.h as they read. Used for
 * non-finite values and overflowing differences. */
static inline __attribute__((always_inline)) void generic_pair(acc *s, int64_t i,
                                                                double x, double y)
{
    eq_elem_diff e = element(x, y, s->rtol, s->atol, s->equal_nan);
    s->mism += !e.close;
    if (e.finite) {
        s->sum += e.abs;
        if (e.abs > s->max_abs) {
            s->max_abs = e.abs;
            s->max_abs_i = i;
        }
        if (!e.rel_defined) {
            s->skipped++;
        } else if (e.rel > s->max_rel) {
            s->max_rel = e.rel;
            s->max_rel_i = i;
        }
        s->hist[hist_bin(e.abs)]++;
    } else {
        s->nonfinite++;
        s->nan_a += isnan(x);
        s->inf_a += isinf(x) != 0;
        s->nan_b += isnan(y);
        s->inf_b += isinf(y) != 0;
        s->nonfin_mism += !e.close;
        s->hist[e.close ? EQ_DIFF_HIST_ZERO : EQ_DIFF_HIST_NONFINITE]++;
    }
    take_worst(s, i, e.abs, e.allowed);
    if (!e.finite) {
        if (!e.close)
            s->atol_need = s->rtol_need = INFINITY;
        return;
    }
    raise_needed(s, e.abs, fabs(y));
}

/* The same for a finite pair with a finite difference, which is nearly
 * every element: no classification, and the divisions for the relative
 * difference and the worst ratio only when a product test says the element
 * may win. */
static inline __attribute__((always_inline)) void fast_pair(acc *s, int64_t i,
                                                             double x, double y,
                                                             double d)
{
    double absb = fabs(y);
    double allowed = s->atol + s->rtol * absb;
    s->mism += !(d <= allowed);
    s->sum += d;
    s->hist[hist_bin(d)]++;
    if (d > s->max_abs) {
        s->max_abs = d;
        s->max_abs_i = i;
    }
    if (y != 0) {
        if (d >= s->max_rel * absb * PREFILTER) {
            double r = d / absb;
            if (r > s->max_rel) {
                s->max_rel = r;
                s->max_rel_i = i;
            }
        }
    } else if (x != 0) {
        s->skipped++;
    } else if (0 > s->max_rel) {
        s->max_rel = 0;
        s->max_rel_i = i;
    }
    if (allowed == 0 || d >= s->worst_ratio * allowed * PREFILTER)
        take_worst(s, i, d, allowed);
    raise_needed(s, d, absb);
}

/* One loop per dtype pair, so the loads are plain and the compiler can
 * keep the state in registers. */
#define COMPARE_LOOP(TA, TB)                                                   \
    do {                                                                       \
        const TA *pa = a->data;                                                \
        const TB *pb = b->data;                                                \
        for (int64_t i = 0; i < n; i++) {                                      \
            double x = (double)pa[i], y = (double)pb[i];                       \
            double d = fabs(x - y);                                            \
            if (__builtin_expect(d <= DBL_MAX, 1))                             \
                fast_pair(&s, i, x, y, d);                                     \
            else                                                               \
                generic_pair(&s, i, x, y);                                     \
        }                                                                      \
    } while (0)

eq_status eq_compare_tensors(const eq_tensor *a, const eq_tensor *b,
                             const eq_compare_opts *opts, eq_diff *diff,
                             eq_error *err)
{
    eq_compare_opts o = opts ? *opts : eq_compare_opts_default();
    memset(diff, 0, sizeof *diff);
    eq_status st = eq_compare_opts_check(&o, err);
    if (st == EQ_OK)
        st = check_pair(a, b, &o, err);
    if (st != EQ_OK)
        return st;

    diff->opts = o;
    diff->dtype_actual = a->dtype;
    diff->dtype_expected = b->dtype;
    diff->rank = a->rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        diff->shape[i] = i < a->rank ? a->shape[i] : 1;
    int64_t n = eq_tensor_numel(a);
    diff->numel = n;

    acc s;
    memset(&s, 0, sizeof s);
    s.rtol = o.rtol;
    s.atol = o.atol;
    s.equal_nan = o.equal_nan;
    s.max_abs = s.max_rel = s.worst_ratio = s.worst_abs = -1;
    s.max_abs_i = s.max_rel_i = s.worst_i = -1;

    int a32 = a->dtype == EQ_F32, b32 = b->dtype == EQ_F32;
    if (a32 && b32)
        COMPARE_LOOP(float, float);
    else if (a32)
        COMPARE_LOOP(float, double);
    else if (b32)
        COMPARE_LOOP(double, float);
    else
        COMPARE_LOOP(double, double);

    int64_t finite = n - s.nonfinite;
    diff->mismatched = s.mism;
    diff->close = s.mism == 0;
    diff->mismatched_fraction = n > 0 ? (double)s.mism / (double)n : 0;
    diff->finite_pairs = finite;
    diff->max_abs_diff = s.max_abs_i >= 0 ? s.max_abs : 0;
    diff->max_abs_index = s.max_abs_i;
    diff->max_rel_diff = s.max_rel_i >= 0 ? s.max_rel : 0;
    diff->max_rel_index = s.max_rel_i;
    diff->rel_skipped = s.skipped;
    diff->sum_abs_diff = s.sum;
    diff->mean_abs_diff = finite > 0 ? s.sum / (double)finite : 0;
    diff->nan_actual = s.nan_a;
    diff->inf_actual = s.inf_a;
    diff->nan_expected = s.nan_b;
    diff->inf_expected = s.inf_b;
    diff->nonfinite_mismatched = s.nonfin_mism;
    memcpy(diff->hist, s.hist, sizeof diff->hist);
    diff->atol_needed = s.atol_need;
    diff->rtol_needed = s.rtol_need;

    diff->worst_index = s.worst_i;
    diff->worst_ulp = EQ_ULP_UNDEFINED;
    diff->worst_ulp_dtype = (a32 && b32) ? EQ_F32 : EQ_F64;
    if (s.worst_i >= 0) {
        int64_t w = s.worst_i;
        unravel(diff->rank, diff->shape, w, diff->worst_pos);
        diff->worst_actual = eq_tensor_get(a, w);
        diff->worst_expected = eq_tensor_get(b, w);
        diff->worst_abs_diff = s.worst_abs;
        diff->worst_allowed = s.worst_allowed;
        diff->worst_ratio = s.worst_ratio;
        diff->worst_ulp = (a32 && b32)
                              ? eq_compare_ulp_f32(eq_tensor_f32(a)[w], eq_tensor_f32(b)[w])
                              : eq_compare_ulp_f64(diff->worst_actual, diff->worst_expected);
    }
    return EQ_OK;
}

/* ---- text ---- */

char *eq_compare_index_str(int rank, const int64_t *pos, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    size_t off = 0;
    int w = snprintf(buf, n, "(");
    off = (size_t)w;
    for (int i = 0; i < rank && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld",
                                (long long)pos[i]);
    if (off < n)
        snprintf(buf + off, n - off, ")");
    return buf;
}

/* Appends to a fixed buffer; once full, further text is dropped. */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *s, const char *fmt, ...)
{
    if (s->len + 1 >= s->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    s->len += (size_t)w;
    if (s->len >= s->cap)
        s->len = s->cap - 1;
}

static const char *index_of(const eq_diff *d, int64_t flat, char *buf, size_t n)
{
    int64_t pos[EQ_MAX_RANK];
    unravel(d->rank, d->shape, flat, pos);
    return eq_compare_index_str(d->rank, pos, buf, n);
}

char *eq_diff_message(const eq_diff *d, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    buf[0] = '\0';
    sbuf s = {buf, n, 0};
    char idx[160];

    sb_printf(&s, "Mismatched elements: %lld / %lld (%.1f%%).", (long long)d->mismatched,
              (long long)d->numel, 100.0 * d->mismatched_fraction);
    if (d->max_abs_index >= 0)
        sb_printf(&s, " Greatest absolute difference: %g at index %s (up to %g allowed).",
                  d->max_abs_diff, index_of(d, d->max_abs_index, idx, sizeof idx),
                  d->opts.atol);
    if (d->max_rel_index >= 0)
        sb_printf(&s, " Greatest relative difference: %g at index %s (up to %g allowed).",
                  d->max_rel_diff, index_of(d, d->max_rel_index, idx, sizeof idx),
                  d->opts.rtol);
    if (d->rel_skipped > 0)
        sb_printf(&s, " %lld element%s with expected 0 and actual not 0 have no relative difference.",
                  (long long)d->rel_skipped, d->rel_skipped == 1 ? "" : "s");
    if (d->nonfinite_mismatched > 0)
        sb_printf(&s, " Non-finite mismatches: %lld, first at index %s (actual %g, expected %g).",
                  (long long)d->nonfinite_mismatched,
                  index_of(d, d->worst_index, idx, sizeof idx), d->worst_actual,
                  d->worst_expected);
    if (d->nan_actual || d->inf_actual || d->nan_expected || d->inf_expected)
        sb_printf(&s, " Actual has %lld NaN and %lld Inf; expected has %lld NaN and %lld Inf.",
                  (long long)d->nan_actual, (long long)d->inf_actual,
                  (long long)d->nan_expected, (long long)d->inf_expected);

    if (d->close) {
        sb_printf(&s, " Passes with rtol %g, atol %g.", d->opts.rtol, d->opts.atol);
    } else if (!isfinite(d->atol_needed)) {
        sb_printf(&s, " No finite tolerance would pass.");
    } else if (!isfinite(d->rtol_needed)) {
        sb_printf(&s, " Would pass with atol >= %g (no rtol passes with atol %g).",
                  d->atol_needed, d->opts.atol);
    } else {
        sb_printf(&s, " Would pass with atol >= %g or rtol >= %g.", d->atol_needed,
                  d->rtol_needed);
    }
    return buf;
}

/* ---- JSON ---- */

json_t *eq_compare_json_number(double x)
{
    if (isnan(x))
        return json_string("nan");
    if (isinf(x))
        return json_string(x > 0 ? "inf" : "-inf");
    return json_real(x);
}

/* json_object_set_new() frees the value even when it fails, so a failed
 * member leaves no leak: remember the failure and go on. */
static void put(json_t *obj, const char *key, json_t *v, int *ok)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *ok = 0;
}

static json_t *int_array(int rank, const int64_t *v)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (int i = 0; i < rank; i++) {
        if (json_array_append_new(arr, json_integer((json_int_t)v[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *index_json(const eq_diff *d, int64_t flat)
{
    if (flat < 0)
        return json_null();
    int64_t pos[EQ_MAX_RANK];
    unravel(d->rank, d->shape, flat, pos);
    return int_array(d->rank, pos);
}

static json_t *worst_json(const eq_diff *d)
{
    if (d->worst_index < 0)
        return json_null();
    json_t *w = json_object();
    if (!w)
        return NULL;
    int ok = 1;
    put(w, "flat_index", json_integer((json_int_t)d->worst_index), &ok);
    put(w, "index", int_array(d->rank, d->worst_pos), &ok);
    put(w, "actual", eq_compare_json_number(d->worst_actual), &ok);
    put(w, "expected", eq_compare_json_number(d->worst_expected), &ok);
    put(w, "abs_diff", eq_compare_json_number(d->worst_abs_diff), &ok);
    put(w, "allowed", eq_compare_json_number(d->worst_allowed), &ok);
    if (d->worst_ulp == EQ_ULP_UNDEFINED)
        put(w, "ulp_distance", json_null(), &ok);
    else
        put(w, "ulp_distance",
            json_integer(d->worst_ulp > (uint64_t)INT64_MAX ? INT64_MAX
                                                            : (json_int_t)d->worst_ulp),
            &ok);
    put(w, "ulp_dtype", json_string(eq_dtype_name(d->worst_ulp_dtype)), &ok);
    if (!ok) {
        json_decref(w);
        return NULL;
    }
    return w;
}

static json_t *hist_json(const eq_diff *d)
{
    json_t *h = json_object();
    json_t *labels = json_array(), *upper = json_array(), *counts = json_array();
    int ok = h && labels && upper && counts;
    for (int k = 0; ok && k < EQ_DIFF_HIST_BINS; k++) {
        ok = json_array_append_new(labels, json_string(hist_labels[k])) == 0 &&
             json_array_append_new(upper, eq_compare_json_number(eq_compare_hist_upper(k))) == 0 &&
             json_array_append_new(counts, json_integer((json_int_t)d->hist[k])) == 0;
    }
    if (!ok) {
        json_decref(h);
        json_decref(labels);
        json_decref(upper);
        json_decref(counts);
        return NULL;
    }
    put(h, "labels", labels, &ok);
    put(h, "upper", upper, &ok);
    put(h, "counts", counts, &ok);
    if (!ok) {
        json_decref(h);
        return NULL;
    }
    return h;
}

json_t *eq_diff_to_json(const eq_diff *d)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int ok = 1;
    char msg[EQ_DIFF_MESSAGE_MAX];
    put(o, "close", json_boolean(d->close), &ok);
    put(o, "message", json_string(eq_diff_message(d, msg, sizeof msg)), &ok);
    put(o, "rtol", eq_compare_json_number(d->opts.rtol), &ok);
    put(o, "atol", eq_compare_json_number(d->opts.atol), &ok);
    put(o, "equal_nan", json_boolean(d->opts.equal_nan), &ok);
    put(o, "dtype_actual", json_string(eq_dtype_name(d->dtype_actual)), &ok);
    put(o, "dtype_expected", json_string(eq_dtype_name(d->dtype_expected)), &ok);
    put(o, "shape", int_array(d->rank, d->shape), &ok);
    put(o, "numel", json_integer((json_int_t)d->numel), &ok);
    put(o, "mismatched", json_integer((json_int_t)d->mismatched), &ok);
    put(o, "mismatched_fraction", eq_compare_json_number(d->mismatched_fraction), &ok);
    put(o, "finite_pairs", json_integer((json_int_t)d->finite_pairs), &ok);
    put(o, "max_abs_diff", eq_compare_json_number(d->max_abs_diff), &ok);
    put(o, "max_abs_diff_index", index_json(d, d->max_abs_index), &ok);
    put(o, "max_rel_diff", eq_compare_json_number(d->max_rel_diff), &ok);
    put(o, "max_rel_diff_index", index_json(d, d->max_rel_index), &ok);
    put(o, "rel_skipped", json_integer((json_int_t)d->rel_skipped), &ok);
    put(o, "mean_abs_diff", eq_compare_json_number(d->mean_abs_diff), &ok);
    put(o, "worst", worst_json(d), &ok);
    put(o, "nan_actual", json_integer((json_int_t)d->nan_actual), &ok);
    put(o, "inf_actual", json_integer((json_int_t)d->inf_actual), &ok);
    put(o, "nan_expected", json_integer((json_int_t)d->nan_expected), &ok);
    put(o, "inf_expected", json_integer((json_int_t)d->inf_expected), &ok);
    put(o, "nonfinite_mismatched", json_integer((json_int_t)d->nonfinite_mismatched), &ok);
    put(o, "histogram", hist_json(d), &ok);
    put(o, "atol_needed", eq_compare_json_number(d->atol_needed), &ok);
    put(o, "rtol_needed", eq_compare_json_number(d->rtol_needed), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- first divergence ---- */

long eq_compare_first_divergence(const eq_named_diff *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].diff && !list[i].diff->close)
            return (long)i;
    return -1;
}

char *eq_compare_divergence_message(const eq_named_diff *list, size_t n,
                                    char *buf, size_t len)
{
    if (len == 0)
        return buf;
    long first = eq_compare_first_divergence(list, n);
    if (first < 0) {
        size_t compared = 0;
        for (size_t i = 0; i < n; i++)
            compared += list[i].diff != NULL;
        snprintf(buf, len, "All %zu compared tensors are close.", compared);
        return buf;
    }
    char msg[EQ_DIFF_MESSAGE_MAX];
    snprintf(buf, len, "Divergence starts at '%s' (%ld of %zu in execution order): %s",
             list[first].name ? list[first].name : "?", first + 1, n,
             eq_diff_message(list[first].diff, msg, sizeof msg));
    return buf;
}
