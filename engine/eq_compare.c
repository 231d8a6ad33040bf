/* eq_compare.c - tensor comparison metrics (see eq_compare.h). */
#include "eq_compare.h"

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

/* Upper edges of bins 0..13; literals, so each edge is exactly the double
 * nearest the decade and the tests can state bins with the same literals. */
static const double hist_upper[14] = {
    0,     1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7,
    1e-6,  1e-5,  1e-4,  1e-3,  1e-2, 1e-1, 1,
};

static const char *const hist_labels[EQ_DIFF_HIST_BINS] = {
    "0",              "(0, 1e-12]",     "(1e-12, 1e-11]", "(1e-11, 1e-10]",
    "(1e-10, 1e-09]", "(1e-09, 1e-08]", "(1e-08, 1e-07]", "(1e-07, 1e-06]",
    "(1e-06, 1e-05]", "(1e-05, 0.0001]", "(0.0001, 0.001]", "(0.001, 0.01]",
    "(0.01, 0.1]",    "(0.1, 1]",       ">1",             "non-finite",
};

static inline int hist_bin(double d)
{
    if (!(d > 0))
        return EQ_DIFF_HIST_ZERO;
    if (d > 1)
        return EQ_DIFF_HIST_ABOVE_ONE;
    /* Smallest k in 1..13 with d <= hist_upper[k]: binary search. */
    int lo = 1, hi = 13;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (d <= hist_upper[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
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
        return hist_upper[bin];
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
    diff->max_abs_index = diff->max_rel_index = diff->worst_index = -1;

    const float *a32 = a->dtype == EQ_F32 ? a->data : NULL;
    const double *a64 = a->data;
    const float *b32 = b->dtype == EQ_F32 ? b->data : NULL;
    const double *b64 = b->data;
    const double rtol = o.rtol, atol = o.atol;

    double max_abs = 0, max_rel = 0, sum = 0;
    double worst_ratio = -1, worst_abs = -1;
    double atol_need = 0, rtol_need = 0;
    int64_t mism = 0, finite = 0, skipped = 0, nonfin_mism = 0;

    for (int64_t i = 0; i < n; i++) {
        double x = a32 ? (double)a32[i] : a64[i];
        double y = b32 ? (double)b32[i] : b64[i];
        eq_elem_diff e = element(x, y, rtol, atol, o.equal_nan);
        if (!e.close)
            mism++;
        if (e.finite) {
            finite++;
            sum += e.abs;
            if (e.abs > max_abs || diff->max_abs_index < 0) {
                max_abs = e.abs;
                diff->max_abs_index = i;
            }
            if (!e.rel_defined)
                skipped++;
            else if (e.rel > max_rel || diff->max_rel_index < 0) {
                max_rel = e.rel;
                diff->max_rel_index = i;
            }
            diff->hist[hist_bin(e.abs)]++;
        } else {
            if (isnan(x))
                diff->nan_actual++;
            else if (isinf(x))
                diff->inf_actual++;
            if (isnan(y))
                diff->nan_expected++;
            else if (isinf(y))
                diff->inf_expected++;
            if (e.close) {
                diff->hist[EQ_DIFF_HIST_ZERO]++;
            } else {
                nonfin_mism++;
                diff->hist[EQ_DIFF_HIST_NONFINITE]++;
            }
        }

        double ratio = e.abs == 0 ? 0 : (e.allowed > 0 ? e.abs / e.allowed : INFINITY);
        if (ratio > worst_ratio || (ratio == worst_ratio && e.abs > worst_abs)) {
            worst_ratio = ratio;
            worst_abs = e.abs;
            diff->worst_index = i;
            diff->worst_allowed = e.allowed;
        }

        if (!e.finite) {
            if (!e.close)
                atol_need = rtol_need = INFINITY;
            continue;
        }
        double absb = fabs(y);
        /* The tests below are the pass rule itself with the tolerance found
         * so far, so an element that already passes costs two compares. */
        if (!(e.abs <= atol_need + rtol * absb)) {
            double c = raise_atol(e.abs, rtol, absb);
            if (c > atol_need)
                atol_need = c;
        }
        if (!(e.abs <= atol + rtol_need * absb)) {
            double c = raise_rtol(e.abs, atol, absb);
            if (c > rtol_need)
                rtol_need = c;
        }
    }

    diff->mismatched = mism;
    diff->close = mism == 0;
    diff->mismatched_fraction = n > 0 ? (double)mism / (double)n : 0;
    diff->finite_pairs = finite;
    diff->max_abs_diff = max_abs;
    diff->max_rel_diff = max_rel;
    diff->rel_skipped = skipped;
    diff->sum_abs_diff = sum;
    diff->mean_abs_diff = finite > 0 ? sum / (double)finite : 0;
    diff->nonfinite_mismatched = nonfin_mism;
    diff->atol_needed = atol_need;
    diff->rtol_needed = rtol_need;

    diff->worst_ulp = EQ_ULP_UNDEFINED;
    diff->worst_ulp_dtype = (a32 && b32) ? EQ_F32 : EQ_F64;
    if (diff->worst_index >= 0) {
        int64_t w = diff->worst_index;
        unravel(diff->rank, diff->shape, w, diff->worst_pos);
        diff->worst_actual = eq_tensor_get(a, w);
        diff->worst_expected = eq_tensor_get(b, w);
        diff->worst_abs_diff = worst_abs;
        diff->worst_ratio = worst_ratio;
        diff->worst_ulp = (a32 && b32)
                              ? eq_compare_ulp_f32(a32[w], b32[w])
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
