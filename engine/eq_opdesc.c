/* eq_opdesc.c - shape inference and execution for op descriptors.
 *
 * A thin dispatch onto the kernels of eq_ops.h: every rule about shapes
 * lives in the kernels' *_shape functions, so both modes and this file
 * agree by construction. */
#include "eq_opdesc.h"

#include <string.h>

#include "eq_gemm_packed.h"

const char *eq_opkind_name(eq_opkind k)
{
    static const char *const names[EQ_OP_COUNT] = {
        [EQ_OP_CONV2D] = "Conv2D",
        [EQ_OP_FULLY_CONNECTED] = "MatMul",
        [EQ_OP_BIAS_ADD] = "BiasAdd",
        [EQ_OP_BN_INFERENCE] = "FusedBatchNorm",
        [EQ_OP_BN_TRAINING] = "FusedBatchNormTraining",
        [EQ_OP_ACTIVATION] = "Activation",
        [EQ_OP_SOFTMAX] = "Softmax",
        [EQ_OP_MAX_POOL] = "MaxPool",
        [EQ_OP_AVG_POOL] = "AvgPool",
        [EQ_OP_MEAN] = "Mean",
        [EQ_OP_CONCAT] = "ConcatV2",
        [EQ_OP_BINARY] = "Binary",
        [EQ_OP_SCALE] = "Scale",
        [EQ_OP_RESHAPE] = "Reshape",
        [EQ_OP_DROPOUT] = "Dropout",
        [EQ_OP_L2_LOSS] = "L2Loss",
        [EQ_OP_ADD_N] = "AddN",
    };
    return k < EQ_OP_COUNT && names[k] ? names[k] : "unknown";
}

/* The number of inputs a descriptor expects (-1: variadic). */
static int expected_inputs(const eq_opdesc *d)
{
    switch (d->kind) {
    case EQ_OP_CONV2D: return 2 + (d->has_bias != 0) + (d->has_residual != 0);
    case EQ_OP_FULLY_CONNECTED: return 2 + (d->has_bias != 0);
    case EQ_OP_BIAS_ADD:
    case EQ_OP_BINARY:
    case EQ_OP_DROPOUT: return 2;
    case EQ_OP_BN_INFERENCE: return 3 + (d->has_gamma != 0) + (d->has_beta != 0);
    case EQ_OP_BN_TRAINING: return 1 + (d->has_gamma != 0) + (d->has_beta != 0);
    case EQ_OP_CONCAT:
    case EQ_OP_ADD_N: return -1;
    default: return 1;
    }
}

static eq_status check_arity(const eq_opdesc *d, int n, eq_error *err)
{
    int want = expected_inputs(d);
    if ((want >= 0 && n != want) || (want < 0 && (n < 1 || n > EQ_OP_MAX_INPUTS)))
        return eq_error_set(err, EQ_ERR_INVALID, "%s '%s': got %d inputs, expected %d",
                            eq_opkind_name(d->kind), d->name ? d->name : "", n, want);
    return EQ_OK;
}

/* BN inputs in order: x, [gamma], [beta], mean, var. */
static void bn_inputs(const eq_opdesc *d, const eq_tensor *const *in,
                      const eq_tensor **gamma, const eq_tensor **beta,
                      const eq_tensor **mean, const eq_tensor **var)
{
    int i = 1;
    *gamma = d->has_gamma ? in[i++] : NULL;
    *beta = d->has_beta ? in[i++] : NULL;
    if (mean) {
        *mean = in[i++];
        *var = in[i++];
    }
}

static eq_status check_channel_vector(const char *what, const eq_tensor *x,
                                      const eq_tensor *v, eq_error *err)
{
    if (!v)
        return EQ_OK;
    if (v->rank != 1 || v->shape[0] != x->shape[x->rank - 1]) {
        char a[128], b[128];
        return eq_error_set(err, EQ_ERR_SHAPE, "%s %s does not match the %lld channels of input %s",
                            what, eq_shape_str(v->rank, v->shape, b, sizeof b),
                            (long long)(x->rank ? x->shape[x->rank - 1] : 0),
                            eq_shape_str(x->rank, x->shape, a, sizeof a));
    }
    return EQ_OK;
}

static void copy_shape(int rank, const int64_t *src, int *out_rank, int64_t *out)
{
    *out_rank = rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        out[i] = i < rank ? src[i] : 1;
}

static eq_status infer(const eq_opdesc *d, const eq_tensor *const *in, int n,
                       int *rank, int64_t shape[EQ_MAX_RANK], eq_error *err)
{
    eq_status st = check_arity(d, n, err);
    if (st != EQ_OK)
        return st;
    const eq_tensor *x = in[0];
    switch (d->kind) {
    case EQ_OP_CONV2D: {
        *rank = 4;
        st = eq_conv2d_shape(x, in[1], d->has_bias ? in[2] : NULL, &d->conv, shape, err);
        const eq_tensor *r = d->has_residual ? in[2 + (d->has_bias != 0)] : NULL;
        if (st == EQ_OK && r && !eq_shape_equal(r->rank, r->shape, 4, shape)) {
            char sr[128], so[128];
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "conv2d: residual %s must have the output's shape %s",
                                eq_shape_str(r->rank, r->shape, sr, sizeof sr),
                                eq_shape_str(4, shape, so, sizeof so));
        }
        return st;
    }
    case EQ_OP_FULLY_CONNECTED:
        *rank = 2;
        return eq_fully_connected_shape(x, in[1], d->has_bias ? in[2] : NULL, shape, err);
    case EQ_OP_BIAS_ADD:
        if (x->rank < 1)
            return eq_error_set(err, EQ_ERR_SHAPE, "BiasAdd: input must have rank >= 1");
        st = check_channel_vector("bias", x, in[1], err);
        copy_shape(x->rank, x->shape, rank, shape);
        return st;
    case EQ_OP_BN_INFERENCE:
    case EQ_OP_BN_TRAINING: {
        const eq_tensor *g, *b, *m = NULL, *v = NULL;
        bn_inputs(d, in, &g, &b, d->kind == EQ_OP_BN_INFERENCE ? &m : NULL, &v);
        if (x->rank < 1)
            return eq_error_set(err, EQ_ERR_SHAPE, "batch_norm: input must have rank >= 1");
        if ((st = check_channel_vector("batch_norm gamma", x, g, err)) ||
            (st = check_channel_vector("batch_norm beta", x, b, err)) ||
            (st = check_channel_vector("batch_norm moving_mean", x, m, err)) ||
            (st = check_channel_vector("batch_norm moving_variance", x, v, err)))
            return st;
        copy_shape(x->rank, x->shape, rank, shape);
        return EQ_OK;
    }
    case EQ_OP_ACTIVATION:
    case EQ_OP_SOFTMAX:
    case EQ_OP_SCALE:
        if (d->kind == EQ_OP_SOFTMAX && x->rank < 1)
            return eq_error_set(err, EQ_ERR_SHAPE, "softmax: input must have rank >= 1");
        copy_shape(x->rank, x->shape, rank, shape);
        return EQ_OK;
    case EQ_OP_MAX_POOL:
    case EQ_OP_AVG_POOL:
        *rank = 4;
        return eq_pool2d_shape(x, &d->pool, shape, err);
    case EQ_OP_MEAN:
        return eq_mean_shape(x, d->axes_mask, d->keepdims, rank, shape, err);
    case EQ_OP_CONCAT:
        st = eq_concat_shape(in, n, d->axis, shape, err);
        *rank = x->rank;
        return st;
    case EQ_OP_BINARY:
        return eq_binary_shape(d->binary, x, in[1], rank, shape, err);
    case EQ_OP_RESHAPE:
        st = eq_reshape_shape(x, d->rank, d->shape, shape, err);
        *rank = d->rank;
        return st;
    case EQ_OP_DROPOUT:
        if (!eq_shape_equal(x->rank, x->shape, in[1]->rank, in[1]->shape)) {
            char a[128], b[128];
            return eq_error_set(err, EQ_ERR_SHAPE, "dropout: noise %s differs from input %s",
                                eq_shape_str(in[1]->rank, in[1]->shape, b, sizeof b),
                                eq_shape_str(x->rank, x->shape, a, sizeof a));
        }
        copy_shape(x->rank, x->shape, rank, shape);
        return EQ_OK;
    case EQ_OP_L2_LOSS:
        *rank = 0;
        return EQ_OK;
    case EQ_OP_ADD_N:
        for (int i = 1; i < n; i++)
            if (!eq_shape_equal(x->rank, x->shape, in[i]->rank, in[i]->shape)) {
                char a[128], b[128];
                return eq_error_set(err, EQ_ERR_SHAPE, "AddN: input %d %s differs from input 0 %s", i,
                                    eq_shape_str(in[i]->rank, in[i]->shape, b, sizeof b),
                                    eq_shape_str(x->rank, x->shape, a, sizeof a));
            }
        copy_shape(x->rank, x->shape, rank, shape);
        return EQ_OK;
    case EQ_OP_COUNT:
        break;
    }
    return eq_error_set(err, EQ_ERR_INVALID, "unknown op kind %d", (int)d->kind);
}

eq_status eq_opdesc_infer(const eq_opdesc *d, const eq_tensor *const *in, int n,
                          int *rank, int64_t shape[EQ_MAX_RANK], eq_error *err)
{
    for (int i = 0; i < EQ_MAX_RANK; i++)
        shape[i] = 1;
    eq_status st = infer(d, in, n, rank, shape, err);
    if (st != EQ_OK && d->name)
        eq_error_prefix(err, "%s (%s): ", d->name, eq_opkind_name(d->kind));
    return st;
}

static eq_status execute(const eq_opdesc *d, const eq_tensor *const *in, int n,
                         eq_tensor *out, eq_workspace *ws, eq_error *err)
{
    const eq_tensor *x = in[0];
    switch (d->kind) {
    case EQ_OP_CONV2D:
        return eq_conv2d_prepacked(x, in[1], NULL, d->has_bias ? in[2] : NULL,
                                   d->has_residual ? in[2 + (d->has_bias != 0)] : NULL,
                                   &d->conv, out, ws, err);
    case EQ_OP_FULLY_CONNECTED:
        return eq_fully_connected(x, in[1], d->has_bias ? in[2] : NULL, d->activation, out, err);
    case EQ_OP_BIAS_ADD:
        return eq_bias_add(x, in[1], out, err);
    case EQ_OP_BN_INFERENCE: {
        const eq_tensor *g, *b, *m, *v;
        bn_inputs(d, in, &g, &b, &m, &v);
        return eq_batch_norm_inference(x, g, b, m, v, d->epsilon, out, err);
    }
    case EQ_OP_BN_TRAINING: {
        const eq_tensor *g, *b;
        bn_inputs(d, in, &g, &b, NULL, NULL);
        return eq_batch_norm_training(x, g, b, d->epsilon, out, NULL, NULL, err);
    }
    case EQ_OP_ACTIVATION:
        return eq_activate(x, d->activation, out, err);
    case EQ_OP_SOFTMAX:
        return eq_softmax(x, out, err);
    case EQ_OP_MAX_POOL:
        return eq_max_pool2d(x, &d->pool, out, err);
    case EQ_OP_AVG_POOL:
        return eq_avg_pool2d(x, &d->pool, out, err);
    case EQ_OP_MEAN:
        return eq_mean(x, d->axes_mask, d->keepdims, out, err);
    case EQ_OP_CONCAT:
        return eq_concat(in, n, d->axis, out, err);
    case EQ_OP_BINARY:
        return eq_binary(d->binary, x, in[1], out, err);
    case EQ_OP_SCALE:
        return eq_scale(x, d->scale, out, err);
    case EQ_OP_RESHAPE:
        /* A reshape keeps elements and order: a copy unless it aliases. */
        if (out->data != x->data)
            memcpy(out->data, x->data, eq_tensor_nbytes(x));
        return EQ_OK;
    case EQ_OP_DROPOUT:
        return eq_dropout(x, in[1], d->keep_prob, out, err);
    case EQ_OP_L2_LOSS: {
        float v;
        eq_status st = eq_l2_loss(x, &v, err);
        if (st == EQ_OK)
            eq_tensor_f32(out)[0] = d->scale * v;
        return st;
    }
    case EQ_OP_ADD_N: {
        /* Left to right, like add_n over a collection in creation order. */
        int64_t count = eq_tensor_numel(out);
        float *y = eq_tensor_f32(out);
        if (y != eq_tensor_f32(x))
            memcpy(y, x->data, eq_tensor_nbytes(x));
        for (int i = 1; i < n; i++) {
            const float *s = eq_tensor_f32(in[i]);
            for (int64_t j = 0; j < count; j++)
                y[j] += s[j];
        }
        return EQ_OK;
    }
    case EQ_OP_COUNT:
        break;
    }
    return eq_error_set(err, EQ_ERR_INVALID, "unknown op kind %d", (int)d->kind);
}

eq_status eq_opdesc_execute(const eq_opdesc *d, const eq_tensor *const *in, int n,
                            eq_tensor *out, eq_workspace *ws, eq_error *err)
{
    eq_status st = check_arity(d, n, err);
    if (st == EQ_OK)
        st = execute(d, in, n, out, ws, err);
    if (st != EQ_OK && d->name)
        eq_error_prefix(err, "%s (%s): ", d->name, eq_opkind_name(d->kind));
    return st;
}

int64_t eq_opdesc_macs(const eq_opdesc *d, const eq_tensor *const *in, int n,
                       const eq_tensor *out)
{
    (void)n;
    if (d->kind == EQ_OP_CONV2D) {
        const eq_tensor *w = in[1];
        return eq_tensor_numel(out) * w->shape[0] * w->shape[1] * w->shape[2];
    }
    if (d->kind == EQ_OP_FULLY_CONNECTED)
        return eq_tensor_numel(out) * in[1]->shape[0];
    return 0;
}
