/* eq_gemm.c - row-major sgemm on BLIS.
 *
 * BLIS takes a row stride and a column stride for every operand, so a
 * row-major matrix needs no transposition trick: op(A) is described directly
 * by its strides (row-major [m,k]: rs = lda, cs = 1; transposed storage
 * [k,m]: rs = 1, cs = lda) and BLIS is always told "no transpose". */
#include "eq_ops.h"

#include <blis.h>
#include <omp.h>

#include "eq_blas.h"
#include "eq_epilogue.h"

/* GEMMs with at most this many rows of C (and B not transposed, beta 0)
 * skip BLIS: its skx kernel set has no small-matrix path in 0.9, so every
 * call packs all of B first. Measured here, 2 threads, BLIS vs this loop:
 * [1,784]x[784,256] 55-77 us vs 15; [4,784]x[784,256] 56 vs 28;
 * [1,1536]x[1536,1000] (IRv2's logits) 375 vs 131; [8,...] were even, so
 * BLIS keeps 5 rows and more. Batch-1 dense layers are this case. */
#define EQ_SGEMM_SMALL_M 4
/* ... and splits the columns over the threads from this many B elements */
#define EQ_SGEMM_SMALL_PAR ((int64_t)1 << 18)

/* C[0..m, j0..j1) = alpha * A B for few rows, a tile of columns at a time:
 * the tile's accumulators (hot in L1, private to the thread, so threads on
 * neighbouring tiles never share a cache line of C while they sum) get
 * a[i,p] * B[p, tile] added for p = 0..k-1 in order, in float32. */
#define EQ_SGEMM_TILE 256
EQ_TARGET_CLONES
static void small_m_cols(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha,
                         const float *a, int64_t rsa, int64_t csa, const float *b,
                         int64_t ldb, float *c, int64_t ldc)
{
    float acc[EQ_SGEMM_SMALL_M][EQ_SGEMM_TILE];
    for (int64_t t0 = j0; t0 < j1; t0 += EQ_SGEMM_TILE) {
        int64_t w = j1 - t0 < EQ_SGEMM_TILE ? j1 - t0 : EQ_SGEMM_TILE;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < w; j++)
                acc[i][j] = 0.0f;
        for (int64_t p = 0; p < k; p++) {
            const float *bp = b + p * ldb + t0;
            for (int64_t i = 0; i < m; i++) {
                float av = a[i * rsa + p * csa];
                float *ai = acc[i];
#pragma omp simd
                for (int64_t j = 0; j < w; j++)
                    ai[j] += av * bp[j];
            }
        }
        for (int64_t i = 0; i < m; i++) {
            float *ci = c + i * ldc + t0;
            if (alpha == 1.0f) {
                for (int64_t j = 0; j < w; j++)
                    ci[j] = acc[i][j];
            } else {
#pragma omp simd
                for (int64_t j = 0; j < w; j++)
                    ci[j] = alpha * acc[i][j];
            }
        }
    }
}

static void small_m(int threads, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                    float *c, int64_t ldc)
{
    int nt = threads > 0 ? threads : eq_blas_threads();
    if (k * n < EQ_SGEMM_SMALL_PAR || nt < 2 || n < 64 * nt) {
        small_m_cols(m, 0, n, k, alpha, a, rsa, csa, b, ldb, c, ldc);
        return;
    }
    /* column blocks (multiples of 16) per thread: no sum is split, so the
     * result does not depend on the thread count */
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), tn = omp_get_num_threads();
        int64_t j0 = (n * t / tn) & ~(int64_t)15;
        int64_t j1 = (n * (t + 1) / tn) & ~(int64_t)15;
        if (t == tn - 1)
            j1 = n;
        small_m_cols(m, j0, j1, k, alpha, a, rsa, csa, b, ldb, c, ldc);
    }
}

/* threads <= 0: BLIS's global setting (eq_blas_set_threads). */
static void sgemm(int threads, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc)
{
    EQ_ASSERT(m >= 0 && n >= 0 && k >= 0);
    if (m == 0 || n == 0)
        return;
    EQ_ASSERT(c && ldc >= n);
    if (k == 0) {
        /* BLIS would check the strides of empty operands; the result is just
         * beta * C, with beta == 0 overwriting (NaN-clean) as BLAS does. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    EQ_ASSERT(a && b);
    EQ_ASSERT(lda >= (trans_a ? m : k));
    EQ_ASSERT(ldb >= (trans_b ? k : n));
    eq_blas_info_get(); /* the kernel set must be chosen before BLIS starts */
    inc_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    if (m <= EQ_SGEMM_SMALL_M && !trans_b && beta == 0.0f) {
        small_m(threads, m, n, k, alpha, a, rsa, csa, b, ldb, c, ldc);
        return;
    }
    inc_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
    /* BLIS's typed API is not const-correct; it does not write A or B. */
    if (threads <= 0) {
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k,
                  &alpha, (float *)a, rsa, csa, (float *)b, rsb, csb, &beta, c, (inc_t)ldc,
                  1);
        return;
    }
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads((dim_t)threads, &rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &alpha,
                 (float *)a, rsa, csa, (float *)b, rsb, csb, &beta, c, (inc_t)ldc, 1, NULL,
                 &rntm);
}

void eq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
              float *c, int64_t ldc)
{
    sgemm(0, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void eq_sgemm_threads(int threads, int trans_a, int trans_b, int64_t m, int64_t n,
                      int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float beta, float *c, int64_t ldc)
{
    EQ_ASSERT(threads >= 1);
    sgemm(threads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
