/* eq_activation.c - element-wise activations and softmax (see eq_ops.h).
 *
 * Float32 and float64 share one loop body per activation, stamped out by
 * macros. Every element is independent, so splitting the loops across
 * OpenMP threads cannot change a single bit of the result.
 */
#include "eq_ops.h"
#include "eq_epilogue.h"

#include <math.h>
#include <string.h>

/* Below this many elements, starting threads costs more than the loop. */
#define PAR_MIN 32768

/* y must be x's dtype and shape; y == x (in place) is allowed. */
static eq_status check_unary(const char *op, const eq_tensor *x, const eq_tensor *y,
                             eq_error *err)
{
    if (eq_tensor_same_shape(x, y))
        return EQ_OK;
    char sx[128], sy[128];
    return eq_error_set(err, EQ_ERR_SHAPE,
                        "%s: output %s %s does not match input %s %s", op,
                        eq_dtype_name(y->dtype), eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                        eq_dtype_name(x->dtype), eq_shape_str(x->rank, x->shape, sx, sizeof sx));
}

/* TF's Relu is cwiseMax(0) and Relu6 cwiseMin(6) on top: std::max/min
 * semantics, so NaN passes through and -0.0 stays -0.0. */
#define RELU(v) ((v) < 0 ? 0 : (v))
#define RELU6(v) ((v) < 0 ? 0 : (6 < (v) ? 6 : (v)))

/* The float32 sigmoid is the conv/dense epilogue's (eq_epilogue.h), so a
 * fused activation equals a separate one bit for bit. */
static inline float sigmoid_f32(float v) { return eq_sigmoid_f32(v); }

static inline double sigmoid_f64(double v)
{
    if (v >= 0.0)
        return 1.0 / (1.0 + exp(-v));
    double e = exp(v);
    return e / (1.0 + e);
}

#define UNARY_LOOP(NAME, T, EXPR)                                              \
    static void NAME(const T *x, T *y, int64_t n)                              \
    {                                                                          \
        _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")         \
        for (int64_t i = 0; i < n; i++) {                                      \
            T v = x[i];                                                        \
            y[i] = (EXPR);                                                     \
        }                                                                      \
    }

/* ReLU and ReLU6 as vector compare-and-blend: the scalar loop GCC makes at
 * -O2 branches on every sign and mispredicts about half of them on real
 * activations (4x slower on Inception-ResNet-v2's residual ReLUs). Same
 * results element by element, -0.0 and NaN included. */
#define UNARY_LOOP_SIMD(NAME, T, EXPR)                                         \
    static void NAME(const T *x, T *y, int64_t n)                              \
    {                                                                          \
        _Pragma("omp parallel for simd schedule(static) if (n >= PAR_MIN)")    \
        for (int64_t i = 0; i < n; i++) {                                      \
            T v = x[i];                                                        \
            y[i] = (EXPR);                                                     \
        }                                                                      \
    }

UNARY_LOOP_SIMD(relu_loop_f32, float, RELU(v))
UNARY_LOOP_SIMD(relu_loop_f64, double, RELU(v))
UNARY_LOOP_SIMD(relu6_loop_f32, float, RELU6(v))
UNARY_LOOP_SIMD(relu6_loop_f64, double, RELU6(v))
UNARY_LOOP(sigmoid_loop_f32, float, sigmoid_f32(v))
UNARY_LOOP(sigmoid_loop_f64, double, sigmoid_f64(v))
UNARY_LOOP(tanh_loop_f32, float, tanhf(v))
UNARY_LOOP(tanh_loop_f64, double, tanh(v))

static eq_status activate(const char *op, const eq_tensor *x, eq_activation act,
                          eq_tensor *y, eq_error *err)
{
    eq_status st = check_unary(op, x, y, err);
    if (st != EQ_OK)
        return st;
    int64_t n = eq_tensor_numel(x);
    int f64 = x->dtype == EQ_F64;
    switch (act) {
    case EQ_ACT_NONE:
        if (y->data != x->data && n > 0)
            memmove(y->data, x->data, eq_tensor_nbytes(x));
        return EQ_OK;
    case EQ_ACT_RELU:
        if (f64)
            relu_loop_f64(x->data, y->data, n);
        else
            relu_loop_f32(x->data, y->data, n);
        return EQ_OK;
    case EQ_ACT_RELU6:
        if (f64)
            relu6_loop_f64(x->data, y->data, n);
        else
            relu6_loop_f32(x->data, y->data, n);
        return EQ_OK;
    case EQ_ACT_SIGMOID:
        if (f64)
            sigmoid_loop_f64(x->data, y->data, n);
        else
            sigmoid_loop_f32(x->data, y->data, n);
        return EQ_OK;
    case EQ_ACT_TANH:
        if (f64)
            tanh_loop_f64(x->data, y->data, n);
        else
            tanh_loop_f32(x->data, y->data, n);
        return EQ_OK;
    }
    return eq_error_set(err, EQ_ERR_INVALID,
                        "%s: unknown activation %d (expected none, relu, relu6, "
                        "sigmoid or tanh)", op, (int)act);
}

eq_status eq_activate(const eq_tensor *x, eq_activation act, eq_tensor *y,
                      eq_error *err)
{
    return activate("activate", x, act, y, err);
}

eq_status eq_relu(const eq_tensor *x, eq_tensor *y, eq_error *err)
{
    return activate("relu", x, EQ_ACT_RELU, y, err);
}

eq_status eq_relu6(const eq_tensor *x, eq_tensor *y, eq_error *err)
{
    return activate("relu6", x, EQ_ACT_RELU6, y, err);
}

eq_status eq_sigmoid(const eq_tensor *x, eq_tensor *y, eq_error *err)
{
    return activate("sigmoid", x, EQ_ACT_SIGMOID, y, err);
}

eq_status eq_tanh(const eq_tensor *x, eq_tensor *y, eq_error *err)
{
    return activate("tanh", x, EQ_ACT_TANH, y, err);
}

/* TF's CPU softmax: shift by the row max, exp, then multiply by the
 * reciprocal of the row sum (not a division per element). The sum is
 * accumulated in double in index order, so it is exact-ish and fixed; rows
 * are independent and may go to different threads. */
#define SOFTMAX_LOOP(NAME, T, EXP)                                             \
    static void NAME(const T *x, T *y, int64_t rows, int64_t c)                \
    {                                                                          \
        _Pragma("omp parallel for schedule(static) if (rows * c >= PAR_MIN)")  \
        for (int64_t r = 0; r < rows; r++) {                                   \
            const T *xr = x + r * c;                                           \
            T *yr = y + r * c;                                                 \
            T m = xr[0];                                                       \
            for (int64_t j = 1; j < c; j++)                                    \
                m = (m < xr[j]) ? xr[j] : m;                                   \
            double sum = 0.0;                                                  \
            for (int64_t j = 0; j < c; j++) {                                  \
                T e = EXP(xr[j] - m);                                          \
                yr[j] = e;                                                     \
                sum += e;                                                      \
            }                                                                  \
            T inv = (T)1 / (T)sum;                                             \
            for (int64_t j = 0; j < c; j++)                                    \
                yr[j] = yr[j] * inv;                                           \
        }                                                                      \
    }

SOFTMAX_LOOP(softmax_loop_f32, float, expf)
SOFTMAX_LOOP(softmax_loop_f64, double, exp)

eq_status eq_softmax(const eq_tensor *x, eq_tensor *y, eq_error *err)
{
    if (x->rank < 1) {
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "softmax: input is a scalar; it needs at least one axis "
                            "(softmax runs over the last)");
    }
    eq_status st = check_unary("softmax", x, y, err);
    if (st != EQ_OK)
        return st;
    int64_t c = x->shape[x->rank - 1];
    if (c == 0)
        return EQ_OK;
    int64_t rows = eq_tensor_numel(x) / c;
    if (x->dtype == EQ_F64)
        softmax_loop_f64(x->data, y->data, rows, c);
    else
        softmax_loop_f32(x->data, y->data, rows, c);
    return EQ_OK;
}
