/* eq_opdesc.h - one op, described as data, with shared shape inference and
 * execution.
 *
 * Both backends go through here: eager mode executes an op the moment the
 * interpreter emits it; graph mode records it as a node and executes it
 * later in a session. Because both call eq_opdesc_execute() with the same
 * kernels, the two modes differ only where TensorFlow's modes differ (graph
 * passes, random streams, variable creation), never by accident.
 *
 * Inputs by kind (in this order; [x] = optional, see the flags):
 *   CONV2D          x, w, [bias]            (has_bias)
 *   FULLY_CONNECTED x, w, [bias]            (has_bias)
 *   BIAS_ADD        x, b
 *   BN_INFERENCE    x, [gamma], [beta], mean, var   (has_gamma, has_beta)
 *   BN_TRAINING     x, [gamma], [beta]              (has_gamma, has_beta)
 *   ACTIVATION      x          SOFTMAX   x
 *   MAX_POOL        x          AVG_POOL  x          MEAN  x
 *   CONCAT          x0..xn-1   BINARY    a, b       SCALE x
 *   RESHAPE         x          DROPOUT   x, u (uniform noise, x's shape)
 *   L2_LOSS         w  -> scalar sum(w^2)/2 * l2_scale
 *   ADD_N           s0..sn-1 (same shapes) -> sum, left to right
 */
#ifndef EQ_OPDESC_H
#define EQ_OPDESC_H

#include "eq_error.h"
#include "eq_ops.h"
#include "eq_tensor.h"

typedef enum eq_opkind {
    EQ_OP_CONV2D = 0,
    EQ_OP_FULLY_CONNECTED,
    EQ_OP_BIAS_ADD,
    EQ_OP_BN_INFERENCE,
    EQ_OP_BN_TRAINING,
    EQ_OP_ACTIVATION,
    EQ_OP_SOFTMAX,
    EQ_OP_MAX_POOL,
    EQ_OP_AVG_POOL,
    EQ_OP_MEAN,
    EQ_OP_CONCAT,
    EQ_OP_BINARY,
    EQ_OP_SCALE,
    EQ_OP_RESHAPE,
    EQ_OP_DROPOUT,
    EQ_OP_L2_LOSS,
    EQ_OP_ADD_N,
    EQ_OP_COUNT
} eq_opkind;

#define EQ_OP_MAX_INPUTS 16

typedef struct eq_opdesc {
    eq_opkind kind;
    const char *name;          /* "InceptionResnetV2/Conv2d_1a_3x3/Conv2D" */

    eq_conv2d_params conv;     /* CONV2D (conv.activation = fused epilogue) */
    eq_activation activation;  /* ACTIVATION; FULLY_CONNECTED epilogue */
    eq_pool2d_params pool;     /* MAX_POOL, AVG_POOL */
    int has_bias, has_gamma, has_beta;
    int has_residual;          /* CONV2D: in[2 + has_bias] is added after the
                                  bias, before the activation (graph fusion) */
    float epsilon;             /* BN_* */
    unsigned axes_mask;        /* MEAN */
    int keepdims;              /* MEAN */
    int axis;                  /* CONCAT */
    eq_binary_op binary;       /* BINARY */
    float scale;               /* SCALE; L2_LOSS factor */
    int rank;                  /* RESHAPE target */
    int64_t shape[EQ_MAX_RANK];
    double keep_prob;          /* DROPOUT */
} eq_opdesc;

const char *eq_opkind_name(eq_opkind k); /* "Conv2D", "FusedBatchNorm", ... */

/* Output shape from input descriptors (only dtype/rank/shape are read; data
 * may be NULL). Errors name the op (d->name) and the shapes. */
eq_status eq_opdesc_infer(const eq_opdesc *d, const eq_tensor *const *in, int n,
                          int *rank, int64_t shape[EQ_MAX_RANK], eq_error *err);

/* Execute into `out` (allocated with the inferred shape). */
eq_status eq_opdesc_execute(const eq_opdesc *d, const eq_tensor *const *in, int n,
                            eq_tensor *out, eq_workspace *ws, eq_error *err);

/* Multiply-accumulates of the op for the given inputs (conv, fc; 0 else). */
int64_t eq_opdesc_macs(const eq_opdesc *d, const eq_tensor *const *in, int n,
                       const eq_tensor *out);

#endif
