/* eq_ops_common.c - pieces every kernel family shares: names of enums,
 * TensorFlow's padding arithmetic, the scratch workspace. */
#include "eq_ops.h"

#include "eq_alloc.h"

const char *eq_padding_name(eq_padding p)
{
    return p == EQ_PAD_SAME ? "SAME" : "VALID";
}

const char *eq_activation_name(eq_activation a)
{
    switch (a) {
    case EQ_ACT_NONE: return "none";
    case EQ_ACT_RELU: return "relu";
    case EQ_ACT_RELU6: return "relu6";
    case EQ_ACT_SIGMOID: return "sigmoid";
    case EQ_ACT_TANH: return "tanh";
    }
    return "unknown";
}

eq_status eq_conv_out_dim(int64_t in, int64_t k, int stride, int dilation,
                          eq_padding padding, int64_t *out, int64_t *pad_before,
                          int64_t *pad_after, eq_error *err)
{
    if (k < 1 || stride < 1 || dilation < 1)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "kernel %lld, stride %d and dilation %d must all be >= 1",
                            (long long)k, stride, dilation);
    int64_t eff_k = (k - 1) * dilation + 1;
    int64_t o, before = 0, after = 0;
    if (padding == EQ_PAD_SAME) {
        o = (in + stride - 1) / stride;
        int64_t total = (o - 1) * stride + eff_k - in;
        if (total < 0)
            total = 0;
        before = total / 2;
        after = total - before; /* an odd total puts the extra pixel after */
    } else {
        o = in >= eff_k ? (in - eff_k) / stride + 1 : 0;
    }
    if (o <= 0)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "input size %lld is smaller than the effective kernel "
                            "size %lld with %s padding",
                            (long long)in, (long long)eff_k, eq_padding_name(padding));
    *out = o;
    if (pad_before)
        *pad_before = before;
    if (pad_after)
        *pad_after = after;
    return EQ_OK;
}

eq_status eq_workspace_reserve(eq_workspace *ws, size_t bytes, eq_error *err)
{
    size_t limit = ws->limit ? ws->limit : (size_t)64 << 20;
    if (bytes > limit)
        return eq_error_set(err, EQ_ERR_LIMIT,
                            "scratch of %zu bytes exceeds the workspace limit of %zu bytes",
                            bytes, limit);
    if (ws->size >= bytes)
        return EQ_OK;
    void *p = eq_aligned_alloc(bytes);
    if (!p)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for %zu bytes of scratch",
                            bytes);
    eq_aligned_free(ws->data);
    ws->data = p;
    ws->size = bytes;
    return EQ_OK;
}

void eq_workspace_release(eq_workspace *ws)
{
    eq_aligned_free(ws->data);
    ws->data = NULL;
    ws->size = 0;
}
