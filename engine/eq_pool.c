/* eq_pool.c - 2-D max/average pooling and mean over axes (see eq_ops.h).
 *
 * Pooling follows TF's CPU kernels (pooling_ops_common.h): for each output
 * cell the in-bounds input cells of its window are visited row by row, the
 * average sums them in the input's dtype starting from 0 and divides once by
 * their count; max starts from the lowest finite value, so padding never
 * wins and an all -inf window gives -FLT_MAX as TF does. Output rows are
 * independent, so they may be spread over threads without changing a bit.
 */
#include "eq_epilogue.h"
#include "eq_ops.h"

#include <float.h>
#include <stdint.h>

#include "eq_alloc.h"

/* Below this many output elements, starting threads costs more than the loop. */
#define PAR_MIN 8192

typedef struct pool_geom {
    int64_t n, h, w, c;       /* input */
    int64_t ho, wo;           /* output */
    int64_t pad_top, pad_left;
    int64_t kh, kw, sh, sw;
} pool_geom;

static eq_status pool_check(const char *op, const eq_tensor *x, const eq_pool2d_params *p,
                            pool_geom *g, eq_error *err)
{
    char sx[128];
    eq_shape_str(x->rank, x->shape, sx, sizeof sx);
    if (x->rank != 4)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: input %s has rank %d; it must be NHWC (rank 4)", op, sx,
                            x->rank);
    if (p->padding != EQ_PAD_VALID && p->padding != EQ_PAD_SAME)
        return eq_error_set(err, EQ_ERR_INVALID, "%s: unknown padding %d (VALID or SAME)",
                            op, (int)p->padding);
    g->n = x->shape[0];
    g->h = x->shape[1];
    g->w = x->shape[2];
    g->c = x->shape[3];
    g->kh = p->kernel_h;
    g->kw = p->kernel_w;
    g->sh = p->stride_h;
    g->sw = p->stride_w;
    eq_status st = eq_conv_out_dim(g->h, p->kernel_h, p->stride_h, 1, p->padding, &g->ho,
                                   &g->pad_top, NULL, err);
    if (st != EQ_OK) {
        eq_error_prefix(err, "%s: height of input %s with kernel %dx%d, stride %dx%d: ",
                        op, sx, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w);
        return st;
    }
    st = eq_conv_out_dim(g->w, p->kernel_w, p->stride_w, 1, p->padding, &g->wo,
                         &g->pad_left, NULL, err);
    if (st != EQ_OK) {
        eq_error_prefix(err, "%s: width of input %s with kernel %dx%d, stride %dx%d: ",
                        op, sx, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w);
        return st;
    }
    return EQ_OK;
}

eq_status eq_pool2d_shape(const eq_tensor *x, const eq_pool2d_params *p,
                          int64_t out_shape[4], eq_error *err)
{
    pool_geom g;
    eq_status st = pool_check("pool2d", x, p, &g, err);
    if (st != EQ_OK)
        return st;
    out_shape[0] = g.n;
    out_shape[1] = g.ho;
    out_shape[2] = g.wo;
    out_shape[3] = g.c;
    return EQ_OK;
}

static eq_status pool_prepare(const char *op, const eq_tensor *x,
                              const eq_pool2d_params *p, const eq_tensor *y,
                              pool_geom *g, eq_error *err)
{
    eq_status st = pool_check(op, x, p, g, err);
    if (st != EQ_OK)
        return st;
    int64_t want[4] = {g->n, g->ho, g->wo, g->c};
    if (y->dtype != x->dtype || !eq_shape_equal(y->rank, y->shape, 4, want)) {
        char sy[128], sw[128];
        return eq_error_set(err, EQ_ERR_SHAPE, "%s: output %s %s does not match the "
                            "result %s %s", op, eq_dtype_name(y->dtype),
                            eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                            eq_dtype_name(x->dtype), eq_shape_str(4, want, sw, sizeof sw));
    }
    return EQ_OK;
}

/* The in-bounds part [*lo, *hi) of the window starting at `start`. */
static inline void clip(int64_t start, int64_t k, int64_t size, int64_t *lo, int64_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + k > size ? size : start + k;
}

/* One loop over output rows (n, oh) per dtype. Each output cell's C values
 * are accumulated in y itself, window cell by window cell. The loops over
 * channels are vectorised (GCC's -O2 cost model leaves the compare-select
 * scalar otherwise) and cloned for AVX-512; lanes are channels, so the
 * order of every max and sum is unchanged. */
#define POOL_LOOP(NAME, T, INIT, ACC, FINISH)                                  \
    EQ_TARGET_CLONES static void NAME(const T *x, T *y, const pool_geom *g)    \
    {                                                                          \
        const int64_t c = g->c, rows = g->n * g->ho;                           \
        _Pragma("omp parallel for schedule(static) if (rows * g->wo * c >= PAR_MIN)") \
        for (int64_t r = 0; r < rows; r++) {                                   \
            int64_t b = r / g->ho, oh = r % g->ho, h0, h1;                     \
            clip(oh * g->sh - g->pad_top, g->kh, g->h, &h0, &h1);              \
            for (int64_t ow = 0; ow < g->wo; ow++) {                           \
                int64_t w0, w1;                                                \
                clip(ow * g->sw - g->pad_left, g->kw, g->w, &w0, &w1);         \
                T *yo = y + (r * g->wo + ow) * c;                              \
                _Pragma("omp simd")                                            \
                for (int64_t j = 0; j < c; j++)                                \
                    yo[j] = INIT;                                              \
                for (int64_t ih = h0; ih < h1; ih++)                           \
                    for (int64_t iw = w0; iw < w1; iw++) {                     \
                        const T *xi = x + ((b * g->h + ih) * g->w + iw) * c;   \
                        _Pragma("omp simd")                                    \
                        for (int64_t j = 0; j < c; j++)                        \
                            ACC;                                               \
                    }                                                          \
                const T count = (T)((h1 - h0) * (w1 - w0));                    \
                (void)count;                                                   \
                _Pragma("omp simd")                                            \
                for (int64_t j = 0; j < c; j++)                                \
                    FINISH;                                                    \
            }                                                                  \
        }                                                                      \
    }

/* std::max(acc, v): NaN inputs never replace the running maximum. */
POOL_LOOP(max_pool_f32, float, -FLT_MAX, yo[j] = (yo[j] < xi[j]) ? xi[j] : yo[j], (void)0)
POOL_LOOP(max_pool_f64, double, -DBL_MAX, yo[j] = (yo[j] < xi[j]) ? xi[j] : yo[j], (void)0)
POOL_LOOP(avg_pool_f32, float, 0.0f, yo[j] += xi[j], yo[j] /= count)
POOL_LOOP(avg_pool_f64, double, 0.0, yo[j] += xi[j], yo[j] /= count)

eq_status eq_max_pool2d(const eq_tensor *x, const eq_pool2d_params *p, eq_tensor *y,
                        eq_error *err)
{
    pool_geom g;
    eq_status st = pool_prepare("max_pool2d", x, p, y, &g, err);
    if (st != EQ_OK)
        return st;
    if (x->dtype == EQ_F64)
        max_pool_f64(x->data, y->data, &g);
    else
        max_pool_f32(x->data, y->data, &g);
    return EQ_OK;
}

eq_status eq_avg_pool2d(const eq_tensor *x, const eq_pool2d_params *p, eq_tensor *y,
                        eq_error *err)
{
    pool_geom g;
    eq_status st = pool_prepare("avg_pool2d", x, p, y, &g, err);
    if (st != EQ_OK)
        return st;
    if (x->dtype == EQ_F64)
        avg_pool_f64(x->data, y->data, &g);
    else
        avg_pool_f32(x->data, y->data, &g);
    return EQ_OK;
}

/* ---- mean over axes ------------------------------------------------------ */

static eq_status mean_check(const char *op, const eq_tensor *x, unsigned axes_mask,
                            int keepdims, int *out_rank, int64_t out_shape[EQ_MAX_RANK],
                            eq_error *err)
{
    unsigned valid = (1u << x->rank) - 1; /* rank <= EQ_MAX_RANK < 32 */
    if (axes_mask & ~valid) {
        char sx[128];
        return eq_error_set(err, EQ_ERR_INVALID,
                            "%s: axes mask 0x%x names axes beyond the last axis %d of "
                            "input %s", op, axes_mask, x->rank - 1,
                            eq_shape_str(x->rank, x->shape, sx, sizeof sx));
    }
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (axes_mask & (1u << d)) {
            if (keepdims)
                out_shape[r++] = 1;
        } else {
            out_shape[r++] = x->shape[d];
        }
    }
    *out_rank = r;
    for (int d = r; d < EQ_MAX_RANK; d++)
        out_shape[d] = 1;
    return EQ_OK;
}

eq_status eq_mean_shape(const eq_tensor *x, unsigned axes_mask, int keepdims,
                        int *out_rank, int64_t out_shape[EQ_MAX_RANK], eq_error *err)
{
    return mean_check("mean", x, axes_mask, keepdims, out_rank, out_shape, err);
}

/* Walks x once in row-major order, adding each element into the double
 * accumulator of its output cell. Every output therefore sums its inputs in
 * row-major order of the reduced axes, whatever the mask: the order a naive
 * per-output loop would use, and independent of threads (this runs on one).
 * Streaming x in memory order keeps global average pooling (axes 1,2 of
 * NHWC) cache friendly. */
#define MEAN_SUM(NAME, T)                                                      \
    static void NAME(const T *x, double *acc, int rank, const int64_t *shape,  \
                     const int64_t *ostride)                                   \
    {                                                                          \
        int64_t idx[EQ_MAX_RANK] = {0};                                        \
        int64_t last = shape[rank - 1], step = ostride[rank - 1];              \
        int64_t lines = eq_shape_numel(rank - 1, shape);                       \
        int64_t base = 0;                                                      \
        for (int64_t l = 0; l < lines; l++) {                                  \
            const T *xl = x + l * last;                                        \
            for (int64_t j = 0; j < last; j++)                                 \
                acc[base + j * step] += xl[j];                                 \
            /* odometer over the leading axes, keeping base in step */         \
            for (int d = rank - 2; d >= 0; d--) {                              \
                base += ostride[d];                                            \
                if (++idx[d] < shape[d])                                       \
                    break;                                                     \
                base -= ostride[d] * shape[d];                                 \
                idx[d] = 0;                                                    \
            }                                                                  \
        }                                                                      \
    }

MEAN_SUM(mean_sum_f32, float)
MEAN_SUM(mean_sum_f64, double)

eq_status eq_mean(const eq_tensor *x, unsigned axes_mask, int keepdims, eq_tensor *y,
                  eq_error *err)
{
    int out_rank;
    int64_t out_shape[EQ_MAX_RANK];
    eq_status st = mean_check("mean", x, axes_mask, keepdims, &out_rank, out_shape, err);
    if (st != EQ_OK)
        return st;
    if (y->dtype != x->dtype || !eq_shape_equal(y->rank, y->shape, out_rank, out_shape)) {
        char sy[128], so[128];
        return eq_error_set(err, EQ_ERR_SHAPE, "mean: output %s %s does not match the "
                            "result %s %s", eq_dtype_name(y->dtype),
                            eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                            eq_dtype_name(x->dtype),
                            eq_shape_str(out_rank, out_shape, so, sizeof so));
    }
    int64_t n_out = eq_shape_numel(out_rank, out_shape);
    int64_t n_in = eq_tensor_numel(x);
    if (n_out == 0)
        return EQ_OK;
    int64_t count = 1; /* inputs per output */
    int64_t ostride[EQ_MAX_RANK];
    int64_t s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        if (axes_mask & (1u << d)) {
            ostride[d] = 0;
            count *= x->shape[d];
        } else {
            ostride[d] = s;
            s *= x->shape[d];
        }
    }
    double *acc = eq_calloc((size_t)n_out, sizeof *acc);
    if (!acc)
        return eq_error_set(err, EQ_ERR_NOMEM,
                            "mean: out of memory for %lld accumulators",
                            (long long)n_out);
    if (n_in > 0 && x->rank > 0) {
        if (x->dtype == EQ_F64)
            mean_sum_f64(x->data, acc, x->rank, x->shape, ostride);
        else
            mean_sum_f32(x->data, acc, x->rank, x->shape, ostride);
    } else if (n_in > 0) {
        acc[0] = eq_tensor_get(x, 0); /* a scalar is its own mean */
    }
    /* count == 0 (an empty reduced axis) gives 0/0 = NaN, as TF does. */
    if (y->dtype == EQ_F64) {
        double *yd = y->data;
        for (int64_t i = 0; i < n_out; i++)
            yd[i] = acc[i] / (double)count;
    } else {
        float *yf = y->data;
        for (int64_t i = 0; i < n_out; i++)
            yf[i] = (float)(acc[i] / (double)count);
    }
    eq_free(acc);
    return EQ_OK;
}
