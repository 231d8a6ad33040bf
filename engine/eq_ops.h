/* eq_ops.h - forward kernels with TensorFlow's semantics.
 *
 * Every kernel comes in two parts:
 *   eq_<op>_shape(...)  validates the inputs and computes the output shape,
 *                       returning EQ_ERR_SHAPE / EQ_ERR_INVALID with a
 *                       message that names the op and the shapes involved;
 *   eq_<op>(...)        computes into a caller-allocated output of exactly
 *                       that shape (it re-validates, so it is safe to call
 *                       alone).
 * The split lets graph mode plan memory before anything runs.
 *
 * Conventions: NHWC activations, HWIO conv kernels, [in, out] dense kernels,
 * float32 (a kernel given float64 returns EQ_ERR_UNSUPPORTED unless it says
 * otherwise). Outputs never alias inputs unless a kernel says so.
 *
 * Determinism: for a fixed thread count every kernel gives bit-identical
 * output for identical input. Element-wise kernels may split work across
 * threads freely; reductions use a fixed order that does not depend on the
 * thread count.
 */
#ifndef EQ_OPS_H
#define EQ_OPS_H

#include "eq_error.h"
#include "eq_tensor.h"

/* ---- shared parameter types ------------------------------------------- */

typedef enum eq_padding { EQ_PAD_VALID = 0, EQ_PAD_SAME = 1 } eq_padding;

typedef enum eq_activation {
    EQ_ACT_NONE = 0,
    EQ_ACT_RELU,
    EQ_ACT_RELU6,
    EQ_ACT_SIGMOID,
    EQ_ACT_TANH
} eq_activation;

const char *eq_padding_name(eq_padding p);       /* "VALID", "SAME" */
const char *eq_activation_name(eq_activation a); /* "none", "relu", ... */

/* TensorFlow's output size and padding for one spatial dimension
 * (kernel_shape_util): eff_k = (k-1)*dilation+1; SAME: out = ceil(in/s),
 * pad_total = max(0, (out-1)*s + eff_k - in), pad_before = pad_total/2, the
 * odd pixel after; VALID: out = floor((in-eff_k)/s)+1, no padding.
 * EQ_ERR_SHAPE when the output would be empty. */
eq_status eq_conv_out_dim(int64_t in, int64_t k, int stride, int dilation,
                          eq_padding padding, int64_t *out, int64_t *pad_before,
                          int64_t *pad_after, eq_error *err);

/* Scratch memory a kernel may use (im2col panels). The owner keeps it across
 * calls so its pages stay warm; `limit` bounds it (0 = 64 MiB). Kernels that
 * need more than the limit work in chunks. */
typedef struct eq_workspace {
    void *data;
    size_t size;
    size_t limit;
} eq_workspace;

eq_status eq_workspace_reserve(eq_workspace *ws, size_t bytes, eq_error *err);
void eq_workspace_release(eq_workspace *ws);

/* ---- convolution and dense (BLIS sgemm) -------------------------------- */

typedef struct eq_conv2d_params {
    int stride_h, stride_w;     /* >= 1 */
    int dilation_h, dilation_w; /* >= 1 */
    eq_padding padding;
    eq_activation activation;   /* fused epilogue: y = act(conv + bias) */
} eq_conv2d_params;

/* x [N,H,W,Cin], w [kh,kw,Cin,Cout], bias [Cout] or NULL -> y [N,Ho,Wo,Cout] */
eq_status eq_conv2d_shape(const eq_tensor *x, const eq_tensor *w,
                          const eq_tensor *bias, const eq_conv2d_params *p,
                          int64_t out_shape[4], eq_error *err);
eq_status eq_conv2d(const eq_tensor *x, const eq_tensor *w, const eq_tensor *bias,
                    const eq_conv2d_params *p, eq_tensor *y, eq_workspace *ws,
                    eq_error *err);

/* x [N,Cin], w [Cin,Cout], bias [Cout] or NULL -> y [N,Cout] */
eq_status eq_fully_connected_shape(const eq_tensor *x, const eq_tensor *w,
                                   const eq_tensor *bias, int64_t out_shape[2],
                                   eq_error *err);
eq_status eq_fully_connected(const eq_tensor *x, const eq_tensor *w,
                             const eq_tensor *bias, eq_activation act,
                             eq_tensor *y, eq_error *err);

/* y = x + b with b [C] broadcast along the last axis. y may alias x. */
eq_status eq_bias_add(const eq_tensor *x, const eq_tensor *b, eq_tensor *y,
                      eq_error *err);

/* Row-major single-precision GEMM through BLIS:
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, with leading
 * dimensions in elements. eq_blas_init() runs first if nobody called it. */
void eq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
              float alpha, const float *a, int64_t lda, const float *b,
              int64_t ldb, float beta, float *c, int64_t ldc);

/* ---- normalisation and activations -------------------------------------- */

/* Inference: y = (x - mean) * (rsqrt(var + eps) * gamma) + beta, the order of
 * TF's FusedBatchNorm CPU kernel. gamma/beta may be NULL (1 and 0). All
 * parameter vectors are [C] for x [..., C]. y may alias x. */
eq_status eq_batch_norm_inference(const eq_tensor *x, const eq_tensor *gamma,
                                  const eq_tensor *beta, const eq_tensor *mean,
                                  const eq_tensor *var, float epsilon,
                                  eq_tensor *y, eq_error *err);
/* Training: batch mean and biased variance over every axis but the last,
 * then the inference formula with them. batch_mean/batch_var ([C], may be
 * NULL) receive the statistics (the biased variance). */
eq_status eq_batch_norm_training(const eq_tensor *x, const eq_tensor *gamma,
                                 const eq_tensor *beta, float epsilon,
                                 eq_tensor *y, eq_tensor *batch_mean,
                                 eq_tensor *batch_var, eq_error *err);

/* Element-wise activation; y may alias x. */
eq_status eq_activate(const eq_tensor *x, eq_activation act, eq_tensor *y,
                      eq_error *err);
eq_status eq_relu(const eq_tensor *x, eq_tensor *y, eq_error *err);
eq_status eq_relu6(const eq_tensor *x, eq_tensor *y, eq_error *err);
eq_status eq_sigmoid(const eq_tensor *x, eq_tensor *y, eq_error *err);
eq_status eq_tanh(const eq_tensor *x, eq_tensor *y, eq_error *err);
/* Softmax over the last axis, max-subtracted. y may alias x. */
eq_status eq_softmax(const eq_tensor *x, eq_tensor *y, eq_error *err);

/* ---- pooling and reductions --------------------------------------------- */

typedef struct eq_pool2d_params {
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    eq_padding padding;
} eq_pool2d_params;

/* x [N,H,W,C] -> y [N,Ho,Wo,C]. SAME average pooling divides by the number
 * of in-bounds cells of each window, as TF does. */
eq_status eq_pool2d_shape(const eq_tensor *x, const eq_pool2d_params *p,
                          int64_t out_shape[4], eq_error *err);
eq_status eq_max_pool2d(const eq_tensor *x, const eq_pool2d_params *p,
                        eq_tensor *y, eq_error *err);
eq_status eq_avg_pool2d(const eq_tensor *x, const eq_pool2d_params *p,
                        eq_tensor *y, eq_error *err);

/* Mean over the axes whose bit is set in axes_mask (bit i = axis i).
 * keepdims keeps reduced axes as 1. Global average pooling of NHWC is
 * axes_mask = 0x6 with keepdims. */
eq_status eq_mean_shape(const eq_tensor *x, unsigned axes_mask, int keepdims,
                        int *out_rank, int64_t out_shape[EQ_MAX_RANK],
                        eq_error *err);
eq_status eq_mean(const eq_tensor *x, unsigned axes_mask, int keepdims,
                  eq_tensor *y, eq_error *err);

/* TF's l2_loss: sum(w*w*0.5), into *out. */
eq_status eq_l2_loss(const eq_tensor *w, float *out, eq_error *err);

/* ---- structure ---------------------------------------------------------- */

/* Concatenate n tensors along axis (negative counts from the end). */
eq_status eq_concat_shape(const eq_tensor *const *xs, int n, int axis,
                          int64_t out_shape[EQ_MAX_RANK], eq_error *err);
eq_status eq_concat(const eq_tensor *const *xs, int n, int axis, eq_tensor *y,
                    eq_error *err);

/* Binary element-wise ops. b (or a) may be: the same shape, a scalar (one
 * element), or a vector [C] matching the other's last dim. y has the shape of
 * the larger operand and may alias either input. */
typedef enum eq_binary_op { EQ_BIN_ADD = 0, EQ_BIN_SUB, EQ_BIN_MUL } eq_binary_op;
eq_status eq_binary_shape(eq_binary_op op, const eq_tensor *a, const eq_tensor *b,
                          int *out_rank, int64_t out_shape[EQ_MAX_RANK],
                          eq_error *err);
eq_status eq_binary(eq_binary_op op, const eq_tensor *a, const eq_tensor *b,
                    eq_tensor *y, eq_error *err);
eq_status eq_add(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err);
eq_status eq_sub(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err);
eq_status eq_mul(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err);

/* y = x * s (one float32 multiply per element). y may alias x. */
eq_status eq_scale(const eq_tensor *x, float s, eq_tensor *y, eq_error *err);

/* Reshape: new_shape may hold one -1 (inferred). Fills out_shape; the data is
 * unchanged (a reshape is a view: same elements, same order). Flatten of
 * [N, ...] is new_shape {N, -1}. */
eq_status eq_reshape_shape(const eq_tensor *x, int rank, const int64_t *new_shape,
                           int64_t out_shape[EQ_MAX_RANK], eq_error *err);

/* TF's dropout given the uniform noise u (same shape as x, values in [0,1)):
 * rate = 1 - keep_prob (double, then float32), scale = (float)(1/(1-rate))
 * computed in double, y = (u >= rate) ? x * scale : 0. keep_prob in (0, 1];
 * keep_prob == 1 is the identity. y may alias x. */
eq_status eq_dropout(const eq_tensor *x, const eq_tensor *u, double keep_prob,
                     eq_tensor *y, eq_error *err);

#endif
