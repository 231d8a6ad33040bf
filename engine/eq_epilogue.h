/* eq_epilogue.h - bias + activation after a GEMM, shared by conv2d,
 * fully_connected and bias_add (internal to the engine).
 *
 * Why one definition: a fused epilogue must give exactly the bits of
 * "bias_add, then the activation op" run separately (graph mode's fusion
 * pass must not change results). Both paths therefore compute
 * t = x + b[c] in float32 and then eq_act_f32(act, t), with the same
 * scalar formulas; eq_activate() should use eq_act_f32 too.
 *
 * The formulas follow TensorFlow's CPU kernels where it matters for NaN and
 * signed zero: relu is std::max(x, 0) (NaN stays NaN, -0 stays -0), relu6 is
 * std::min(std::max(x, 0), 6); sigmoid 1/(1+exp(-x)), tanh tanhf.
 */
#ifndef EQ_EPILOGUE_H
#define EQ_EPILOGUE_H

#include <math.h>
#include <stdint.h>

#include "eq_ops.h"

/* Two branches so neither exp can overflow into inf/inf; the small side
 * keeps its relative precision down into the subnormals. eq_activate uses
 * this same function, so a fused epilogue equals a separate activation. */
static inline float eq_sigmoid_f32(float v)
{
    if (v >= 0.0f)
        return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

static inline float eq_act_f32(eq_activation act, float x)
{
    switch (act) {
    case EQ_ACT_NONE: return x;
    case EQ_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case EQ_ACT_RELU6: {
        float r = x < 0.0f ? 0.0f : x;
        return 6.0f < r ? 6.0f : r;
    }
    case EQ_ACT_SIGMOID: return eq_sigmoid_f32(x);
    case EQ_ACT_TANH: return tanhf(x);
    }
    return x;
}

/* y[r, c] = act(x[r, c] + bias[c]) for rows x cols, both with leading
 * dimension cols; bias may be NULL (no add), y may equal x. Rows are split
 * statically over `threads` (element-wise, so the split never changes the
 * result); small calls stay on the calling thread. */
void eq_epilogue_apply(const float *x, float *y, int64_t rows, int64_t cols,
                       const float *bias, eq_activation act, int threads);

/* The loops that move or touch every element (im2col, the epilogue) are
 * built twice, for AVX-512 and for the baseline, and the loader picks one
 * by CPU: the project compiles without -march, and the wide moves halve
 * their cost. Results cannot differ: these loops only copy, add and
 * compare (no contraction: ISO C mode compiles with -ffp-contract=off). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EQ_TARGET_CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define EQ_TARGET_CLONES
#endif

/* 1 when act is one of the eq_activation values. */
static inline int eq_activation_valid(eq_activation act)
{
    return act >= EQ_ACT_NONE && act <= EQ_ACT_TANH;
}

#endif
