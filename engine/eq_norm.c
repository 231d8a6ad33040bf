/* eq_norm.c - batch normalisation, inference and training (see eq_ops.h).
 *
 * The arithmetic follows TF's FusedBatchNorm CPU kernel step by step, in the
 * input's dtype:
 *   scaling = (1 / sqrt(var + eps)) * gamma       per channel
 *   y       = (x - mean) * scaling + beta         per element
 * (TF's fused kernel has no float64 version; float64 here uses the same
 * order so a reference pass differs from float32 by rounding only.)
 * Training first computes the batch mean and biased variance over every
 * axis but the last, as TF does (mean, then the mean of the squared
 * centred values), with double accumulators in row order.
 */
#include "eq_ops.h"

#include <math.h>
#include <string.h>

#include "eq_alloc.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many elements, starting threads costs more than the loop. */
#define PAR_MIN 32768

/* This thread's share [*lo, *hi) of n items inside a parallel region (all of
 * them outside one, or without OpenMP). */
static void thread_range(int64_t n, int64_t *lo, int64_t *hi)
{
#ifdef _OPENMP
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
#else
    *lo = 0;
    *hi = n;
#endif
}

/* A per-channel parameter: rank 1, [C], x's dtype. */
static eq_status check_param(const char *op, const char *what, const eq_tensor *p,
                             const eq_tensor *x, eq_error *err)
{
    int64_t c = x->shape[x->rank - 1];
    if (p->rank == 1 && p->shape[0] == c && p->dtype == x->dtype)
        return EQ_OK;
    char sp[128], sx[128];
    return eq_error_set(err, EQ_ERR_SHAPE,
                        "%s: %s %s %s must be %s [%lld] to match the channels of "
                        "input %s", op, what, eq_dtype_name(p->dtype),
                        eq_shape_str(p->rank, p->shape, sp, sizeof sp),
                        eq_dtype_name(x->dtype), (long long)c,
                        eq_shape_str(x->rank, x->shape, sx, sizeof sx));
}

static eq_status check_common(const char *op, const eq_tensor *x, const eq_tensor *gamma,
                              const eq_tensor *beta, float epsilon, const eq_tensor *y,
                              eq_error *err)
{
    char sx[128], sy[128];
    if (x->rank < 1)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: input is a scalar; it needs a channel axis (the last)",
                            op);
    if (!eq_tensor_same_shape(x, y))
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: output %s %s does not match input %s %s", op,
                            eq_dtype_name(y->dtype),
                            eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                            eq_dtype_name(x->dtype),
                            eq_shape_str(x->rank, x->shape, sx, sizeof sx));
    if (!(epsilon >= 0.0f)) /* also refuses NaN */
        return eq_error_set(err, EQ_ERR_INVALID, "%s: epsilon %g must be >= 0", op,
                            (double)epsilon);
    eq_status st;
    if (gamma && (st = check_param(op, "gamma", gamma, x, err)) != EQ_OK)
        return st;
    if (beta && (st = check_param(op, "beta", beta, x, err)) != EQ_OK)
        return st;
    return EQ_OK;
}

/* scaling[c] = (1/sqrt(var[c] + eps)) * gamma[c], then the element loop.
 * Rows are independent, so threads may split them. */
#define BN_APPLY(NAME, T, SQRT)                                                \
    static void NAME(const T *x, T *y, int64_t rows, int64_t c, const T *mean, \
                     const T *var, const T *gamma, const T *beta, T eps,       \
                     T *scaling)                                               \
    {                                                                          \
        for (int64_t j = 0; j < c; j++)                                        \
            scaling[j] = ((T)1 / SQRT(var[j] + eps)) * (gamma ? gamma[j] : (T)1); \
        _Pragma("omp parallel for schedule(static) if (rows * c >= PAR_MIN)")  \
        for (int64_t r = 0; r < rows; r++) {                                   \
            const T *xr = x + r * c;                                           \
            T *yr = y + r * c;                                                 \
            for (int64_t j = 0; j < c; j++)                                    \
                yr[j] = (xr[j] - mean[j]) * scaling[j] + (beta ? beta[j] : (T)0); \
        }                                                                      \
    }

BN_APPLY(bn_apply_f32, float, sqrtf)
BN_APPLY(bn_apply_f64, double, sqrt)

/* Batch mean and biased variance per channel. Each thread owns a contiguous
 * range of channels and streams the rows through it; every channel's sums
 * still run over the rows in order, so the result does not depend on the
 * thread count. The squares are taken in T, as TF squares its centred
 * values, and summed in double. acc holds C doubles of scratch. */
#define BN_STATS(NAME, T)                                                      \
    static void NAME(const T *x, int64_t rows, int64_t c, T *mean, T *var,     \
                     double *acc)                                              \
    {                                                                          \
        _Pragma("omp parallel if (rows * c >= PAR_MIN)")                       \
        {                                                                      \
            int64_t j0, j1;                                                    \
            thread_range(c, &j0, &j1);                                         \
            for (int64_t j = j0; j < j1; j++)                                  \
                acc[j] = 0.0;                                                  \
            for (int64_t r = 0; r < rows; r++) {                               \
                const T *xr = x + r * c;                                       \
                for (int64_t j = j0; j < j1; j++)                              \
                    acc[j] += xr[j];                                           \
            }                                                                  \
            for (int64_t j = j0; j < j1; j++) {                                \
                mean[j] = (T)(acc[j] / (double)rows);                          \
                acc[j] = 0.0;                                                  \
            }                                                                  \
            for (int64_t r = 0; r < rows; r++) {                               \
                const T *xr = x + r * c;                                       \
                for (int64_t j = j0; j < j1; j++) {                            \
                    T d = xr[j] - mean[j];                                     \
                    acc[j] += d * d;                                           \
                }                                                              \
            }                                                                  \
            for (int64_t j = j0; j < j1; j++)                                  \
                var[j] = (T)(acc[j] / (double)rows);                           \
        }                                                                      \
    }

BN_STATS(bn_stats_f32, float)
BN_STATS(bn_stats_f64, double)

static void *scratch(const char *op, int64_t count, size_t esize, eq_error *err)
{
    void *p = eq_malloc((size_t)(count > 0 ? count : 1) * esize);
    if (!p)
        eq_error_set(err, EQ_ERR_NOMEM, "%s: out of memory for %lld per-channel values",
                     op, (long long)count);
    return p;
}

static const void *data_or_null(const eq_tensor *t) { return t ? t->data : NULL; }

eq_status eq_batch_norm_inference(const eq_tensor *x, const eq_tensor *gamma,
                                  const eq_tensor *beta, const eq_tensor *mean,
                                  const eq_tensor *var, float epsilon,
                                  eq_tensor *y, eq_error *err)
{
    static const char op[] = "batch_norm_inference";
    eq_status st = check_common(op, x, gamma, beta, epsilon, y, err);
    if (st != EQ_OK)
        return st;
    if (!mean || !var)
        return eq_error_set(err, EQ_ERR_INVALID, "%s: the moving mean and variance are "
                            "required", op);
    if ((st = check_param(op, "mean", mean, x, err)) != EQ_OK ||
        (st = check_param(op, "variance", var, x, err)) != EQ_OK)
        return st;
    int64_t c = x->shape[x->rank - 1];
    int64_t rows = c ? eq_tensor_numel(x) / c : 0;
    void *scaling = scratch(op, c, eq_dtype_size(x->dtype), err);
    if (!scaling)
        return EQ_ERR_NOMEM;
    if (x->dtype == EQ_F64)
        bn_apply_f64(x->data, y->data, rows, c, mean->data, var->data,
                     data_or_null(gamma), data_or_null(beta), (double)epsilon, scaling);
    else
        bn_apply_f32(x->data, y->data, rows, c, mean->data, var->data,
                     data_or_null(gamma), data_or_null(beta), epsilon, scaling);
    eq_free(scaling);
    return EQ_OK;
}

eq_status eq_batch_norm_training(const eq_tensor *x, const eq_tensor *gamma,
                                 const eq_tensor *beta, float epsilon,
                                 eq_tensor *y, eq_tensor *batch_mean,
                                 eq_tensor *batch_var, eq_error *err)
{
    static const char op[] = "batch_norm_training";
    eq_status st = check_common(op, x, gamma, beta, epsilon, y, err);
    if (st != EQ_OK)
        return st;
    if (batch_mean && (st = check_param(op, "batch_mean", batch_mean, x, err)) != EQ_OK)
        return st;
    if (batch_var && (st = check_param(op, "batch_var", batch_var, x, err)) != EQ_OK)
        return st;
    int64_t c = x->shape[x->rank - 1];
    int64_t rows = c ? eq_tensor_numel(x) / c : 0;
    if (c > 0 && rows == 0) {
        char sx[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: input %s has no elements per channel, so the batch "
                            "statistics are undefined", op,
                            eq_shape_str(x->rank, x->shape, sx, sizeof sx));
    }
    size_t es = eq_dtype_size(x->dtype);
    /* C double accumulators, then mean, variance and scaling in T */
    char *buf = scratch(op, c, 3 * es + sizeof(double), err);
    if (!buf)
        return EQ_ERR_NOMEM;
    double *acc = (double *)buf;
    char *mean = buf + (size_t)c * sizeof(double);
    char *var = mean + (size_t)c * es, *scaling = var + (size_t)c * es;
    if (x->dtype == EQ_F64) {
        bn_stats_f64(x->data, rows, c, (double *)mean, (double *)var, acc);
        bn_apply_f64(x->data, y->data, rows, c, (double *)mean, (double *)var,
                     data_or_null(gamma), data_or_null(beta), (double)epsilon,
                     (double *)scaling);
    } else {
        bn_stats_f32(x->data, rows, c, (float *)mean, (float *)var, acc);
        bn_apply_f32(x->data, y->data, rows, c, (float *)mean, (float *)var,
                     data_or_null(gamma), data_or_null(beta), epsilon, (float *)scaling);
    }
    /* After the stats: y may alias x but not the outputs below. */
    if (batch_mean && c > 0)
        memcpy(batch_mean->data, mean, (size_t)c * es);
    if (batch_var && c > 0)
        memcpy(batch_var->data, var, (size_t)c * es);
    eq_free(buf);
    return EQ_OK;
}
