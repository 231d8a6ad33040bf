/* eq_gemm_packed.h - the engine's own sgemm for convolutions (internal).
 *
 * C[M, N] = A[M, K] * B[K, N], row-major, where B is a filter packed once
 * (eq_pack_b) into column panels of EQ_PACK_NR: panel j holds columns
 * [32j, 32j + 32) as K consecutive rows of 32 floats, zero beyond N. A
 * graph packs each filter once and reuses it on every run, which is what
 * BLIS cannot do: it packs B again on every call, and at batch 1 the
 * late Inception blocks are GEMMs of 64 or 289 rows where that repacking
 * is a large part of the work. The same kernel also reads B as it is
 * (eq_gemm_plain_residual: eager mode, where packing on every call cost
 * more than strided rows do).
 *
 * Every C element is one float32 FMA chain over k = 0..K-1 in order,
 * computed by one thread, whatever the blocking or the thread split: the
 * result does not depend on the thread count (stronger than the engine's
 * rule). Bias and ReLU/ReLU6 are applied as each tile is stored, with the
 * formulas of eq_epilogue.h; other activations run eq_epilogue_apply
 * afterwards.
 *
 * The kernel needs AVX-512F. eq_gemm_packed_enabled() says whether this
 * CPU runs it (and the user did not set EQ_GEMM=blis); when it does not,
 * convolutions keep the BLIS path, so a machine without AVX-512 still gets
 * BLIS's AVX2 kernels. */
#ifndef EQ_GEMM_PACKED_H
#define EQ_GEMM_PACKED_H

#include <stddef.h>
#include <stdint.h>

#include "eq_ops.h"

#define EQ_PACK_NR 32

/* 1 when convolutions use the packed kernel. Decided once: the CPU has
 * AVX-512F and the environment does not say EQ_GEMM=blis. */
int eq_gemm_packed_enabled(void);
/* Tests switch between the two paths; returns the previous setting. */
int eq_gemm_packed_set_enabled(int on);

/* Floats eq_pack_b writes for a [k, n] matrix. */
size_t eq_packed_floats(int64_t k, int64_t n);

/* Pack row-major B [k, n] (leading dimension ldb) into dst, which holds
 * eq_packed_floats(k, n) floats. */
void eq_pack_b(const float *b, int64_t ldb, int64_t k, int64_t n, float *dst);
/* The same with the panels split over `threads` (a copy: same bytes). */
void eq_pack_b_threads(int threads, const float *b, int64_t ldb, int64_t k, int64_t n,
                       float *dst);

/* C = act(A * B + bias), bias [n] or NULL. threads >= 1 share the tiles
 * (without changing any value); only call when eq_gemm_packed_enabled(). */
void eq_gemm_packed(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *bp, const float *bias, eq_activation act,
                    float *c, int64_t ldc);

/* The same with a residual: C = act(A * B + bias + R), R [m, n] with
 * leading dimension ldr (not overlapping C), added after the bias as a
 * separate add op would. */
void eq_gemm_packed_residual(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                             int64_t lda, const float *bp, const float *bias,
                             const float *res, int64_t ldr, eq_activation act, float *c,
                             int64_t ldc);

/* The same kernel on B as it is: row-major [k, n] with leading dimension
 * ldb >= n. Every element is computed by the same FMA chain as with the
 * packed B, so the result is identical; only the memory access differs
 * (rows of B strided by ldb instead of contiguous panels). */
void eq_gemm_plain_residual(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                            int64_t lda, const float *b, int64_t ldb, const float *bias,
                            const float *res, int64_t ldr, eq_activation act, float *c,
                            int64_t ldc);

/* eq_conv2d (eq_ops.h) with the filter already packed: w_packed is
 * eq_pack_b of w read as [kh*kw*Cin, Cout], or NULL, in which case the
 * kernel reads w as it is (eq_gemm_plain_residual). w is still required
 * (shapes, and the BLIS path when the kernel is not enabled) unless a
 * packed copy is given. The output is identical either way. residual
 * (NULL, or the output's shape, not overlapping it) is added after the
 * bias and before the activation: y = act(conv + bias + residual), graph
 * mode's fusion of a residual block's `x + up`. */
eq_status eq_conv2d_prepacked(const eq_tensor *x, const eq_tensor *w, const float *w_packed,
                              const eq_tensor *bias, const eq_tensor *residual,
                              const eq_conv2d_params *p, eq_tensor *y, eq_workspace *ws,
                              eq_error *err);

#endif
