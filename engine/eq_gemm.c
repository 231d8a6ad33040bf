/* eq_gemm.c - row-major sgemm on BLIS.
 *
 * BLIS takes a row stride and a column stride for every operand, so a
 * row-major matrix needs no transposition trick: op(A) is described directly
 * by its strides (row-major [m,k]: rs = lda, cs = 1; transposed storage
 * [k,m]: rs = 1, cs = lda) and BLIS is always told "no transpose". */
#include "eq_ops.h"

#include <blis.h>

#include "eq_blas.h"

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
