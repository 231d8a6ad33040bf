/* eq_dense.c - fully_connected (one GEMM), bias_add, and the bias +
 * activation epilogue they share with conv2d. */
#include <omp.h>
#include <string.h>

#include "eq_blas.h"
#include "eq_epilogue.h"
#include "eq_ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define EQ_EPILOGUE_PAR_MIN ((int64_t)1 << 15)

static inline void epilogue_row(const float *x, float *y, int64_t cols, const float *b,
                                eq_activation act)
{
    /* One loop per case so each one vectorises (omp simd: GCC's -O2 cost
     * model leaves loops of unknown length scalar, and a scalar relu on
     * random signs mispredicts half its branches); the float32 sum is
     * rounded before the activation sees it, exactly as in separate ops. */
    switch (act) {
    case EQ_ACT_NONE:
        if (b) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                y[c] = x[c] + b[c];
        } else if (x != y) {
            memcpy(y, x, (size_t)cols * sizeof *y);
        }
        return;
    case EQ_ACT_RELU6:
        if (b) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                y[c] = eq_act_f32(EQ_ACT_RELU6, x[c] + b[c]);
        } else {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                y[c] = eq_act_f32(EQ_ACT_RELU6, x[c]);
        }
        return;
    case EQ_ACT_RELU:
        if (b) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) {
                float t = x[c] + b[c];
                y[c] = t < 0.0f ? 0.0f : t;
            }
        } else {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                y[c] = x[c] < 0.0f ? 0.0f : x[c];
        }
        return;
    default:
        if (b) {
            for (int64_t c = 0; c < cols; c++)
                y[c] = eq_act_f32(act, x[c] + b[c]);
        } else {
            for (int64_t c = 0; c < cols; c++)
                y[c] = eq_act_f32(act, x[c]);
        }
        return;
    }
}

EQ_TARGET_CLONES
static void epilogue_rows(const float *x, float *y, int64_t rows, int64_t cols,
                          const float *bias, eq_activation act)
{
    if (!bias) {
        /* Without a bias the rows are one contiguous run: no per-row cost. */
        epilogue_row(x, y, rows * cols, NULL, act);
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        epilogue_row(x + r * cols, y + r * cols, cols, bias, act);
}

void eq_epilogue_apply(const float *x, float *y, int64_t rows, int64_t cols,
                       const float *bias, eq_activation act, int threads)
{
    if (!bias && act == EQ_ACT_NONE && x == y)
        return;
    int nt = rows * cols >= EQ_EPILOGUE_PAR_MIN && threads > 1 ? threads : 1;
    if (nt > rows)
        nt = (int)rows;
    if (nt <= 1) {
        epilogue_rows(x, y, rows, cols, bias, act);
        return;
    }
    /* Contiguous blocks of rows per thread; element-wise, so the split
     * cannot change a value. */
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), tn = omp_get_num_threads();
        int64_t lo = rows * t / tn, hi = rows * (t + 1) / tn;
        epilogue_rows(x + lo * cols, y + lo * cols, hi - lo, cols, bias, act);
    }
}

/* ---- validation --------------------------------------------------------- */

static const char *shape_of(const eq_tensor *t, char *buf, size_t n)
{
    return eq_shape_str(t->rank, t->shape, buf, n);
}

static eq_status check_f32(const char *op, const char *what, const eq_tensor *t,
                           eq_error *err)
{
    if (t->dtype != EQ_F32) {
        char s[128];
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "%s: %s %s is %s; %s supports float32 only", op, what,
                            shape_of(t, s, sizeof s), eq_dtype_name(t->dtype), op);
    }
    return EQ_OK;
}

eq_status eq_fully_connected_shape(const eq_tensor *x, const eq_tensor *w,
                                   const eq_tensor *bias, int64_t out_shape[2],
                                   eq_error *err)
{
    EQ_ASSERT(x && w && out_shape);
    char sx[128], sw[128], sb[128];
    shape_of(x, sx, sizeof sx);
    shape_of(w, sw, sizeof sw);
    if (x->rank != 2)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: input %s must have rank 2 [N, Cin], "
                            "got rank %d (filter %s)",
                            sx, x->rank, sw);
    if (w->rank != 2)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: filter %s must have rank 2 [Cin, Cout], "
                            "got rank %d (input %s)",
                            sw, w->rank, sx);
    if (x->shape[1] != w->shape[0])
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: input %s has %lld features but filter "
                            "%s expects %lld",
                            sx, (long long)x->shape[1], sw, (long long)w->shape[0]);
    if (bias && (bias->rank != 1 || bias->shape[0] != w->shape[1]))
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: bias %s must be [%lld] to match filter %s",
                            shape_of(bias, sb, sizeof sb), (long long)w->shape[1], sw);
    if (x->shape[0] == 0 || x->shape[1] == 0 || w->shape[1] == 0)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: input %s with filter %s is empty; "
                            "N, Cin and Cout must all be >= 1",
                            sx, sw);
    eq_status st;
    if ((st = check_f32("fully_connected", "input", x, err)) != EQ_OK ||
        (st = check_f32("fully_connected", "filter", w, err)) != EQ_OK ||
        (bias && (st = check_f32("fully_connected", "bias", bias, err)) != EQ_OK))
        return st;
    out_shape[0] = x->shape[0];
    out_shape[1] = w->shape[1];
    return EQ_OK;
}

eq_status eq_fully_connected(const eq_tensor *x, const eq_tensor *w, const eq_tensor *bias,
                             eq_activation act, eq_tensor *y, eq_error *err)
{
    EQ_ASSERT(y);
    int64_t os[2];
    eq_status st = eq_fully_connected_shape(x, w, bias, os, err);
    if (st != EQ_OK)
        return st;
    if (!eq_activation_valid(act))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "fully_connected: activation %d is not an eq_activation",
                            (int)act);
    if ((st = check_f32("fully_connected", "output", y, err)) != EQ_OK)
        return st;
    if (!eq_shape_equal(y->rank, y->shape, 2, os)) {
        char sy[128], se[128], sx[128], sw[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "fully_connected: output %s should be %s for input %s and "
                            "filter %s",
                            shape_of(y, sy, sizeof sy), eq_shape_str(2, os, se, sizeof se),
                            shape_of(x, sx, sizeof sx), shape_of(w, sw, sizeof sw));
    }
    int64_t n = os[0], cin = x->shape[1], cout = os[1];
    float *yd = eq_tensor_f32(y);
    eq_sgemm(0, 0, n, cout, cin, 1.0f, eq_tensor_f32(x), cin, eq_tensor_f32(w), cout, 0.0f,
             yd, cout);
    eq_epilogue_apply(yd, yd, n, cout, bias ? eq_tensor_f32(bias) : NULL, act,
                      eq_blas_threads());
    return EQ_OK;
}

eq_status eq_bias_add(const eq_tensor *x, const eq_tensor *b, eq_tensor *y, eq_error *err)
{
    EQ_ASSERT(x && b && y);
    char sx[128], sb[128], sy[128];
    shape_of(x, sx, sizeof sx);
    shape_of(b, sb, sizeof sb);
    if (x->rank < 1)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "bias_add: input %s must have rank >= 1 (bias %s)", sx, sb);
    int64_t c = x->shape[x->rank - 1];
    if (b->rank != 1 || b->shape[0] != c)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "bias_add: bias %s must be [%lld], the last dimension of "
                            "input %s",
                            sb, (long long)c, sx);
    eq_status st;
    if ((st = check_f32("bias_add", "input", x, err)) != EQ_OK ||
        (st = check_f32("bias_add", "bias", b, err)) != EQ_OK ||
        (st = check_f32("bias_add", "output", y, err)) != EQ_OK)
        return st;
    if (!eq_shape_equal(y->rank, y->shape, x->rank, x->shape))
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "bias_add: output %s should have the shape of input %s",
                            shape_of(y, sy, sizeof sy), sx);
    int64_t numel = eq_tensor_numel(x);
    if (numel == 0)
        return EQ_OK;
    eq_epilogue_apply(eq_tensor_f32(x), eq_tensor_f32(y), numel / c, c, eq_tensor_f32(b),
                      EQ_ACT_NONE, eq_blas_threads());
    return EQ_OK;
}
