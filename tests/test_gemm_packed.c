/* test_gemm_packed.c - the engine's own packed-B sgemm: the packed layout by
 * hand, small products by hand, random shapes against a naive double loop
 * (every tail of the 14-row tiles, the 32-column panels and the 256-step k
 * blocks), the fused epilogue against the separate one bit for bit, NaN
 * through ReLU, strided A and C, and identical bytes at 1, 2 and 3
 * threads. On a CPU without AVX-512 the kernel is never used and these
 * tests only check that it says so. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eq_epilogue.h"
#include "eq_gemm_packed.h"

static unsigned rng_state = 777u;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static float *frand_array(size_t n)
{
    float *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static float *pack(const float *b, int64_t ldb, int64_t k, int64_t n)
{
    float *bp = malloc(eq_packed_floats(k, n) * sizeof *bp);
    ck_assert_ptr_nonnull(bp);
    eq_pack_b(b, ldb, k, n, bp);
    return bp;
}

/* 1 when the kernel can run here; otherwise the test has nothing to do. */
static int kernel_here(void)
{
    if (eq_gemm_packed_enabled())
        return 1;
    ck_assert_int_eq(eq_gemm_packed_set_enabled(1), 0);
    ck_assert_int_eq(eq_gemm_packed_enabled(), 0); /* refused: no AVX-512F */
    return 0;
}

START_TEST(pack_layout_by_hand)
{
    /* B [3, 40] with b[p][j] = 100 p + j: two panels, the second 8 wide */
    float b[3 * 40];
    for (int p = 0; p < 3; p++)
        for (int j = 0; j < 40; j++)
            b[p * 40 + j] = (float)(100 * p + j);
    ck_assert_uint_eq(eq_packed_floats(3, 40), 2 * 3 * 32);
    ck_assert_uint_eq(eq_packed_floats(5, 32), 5 * 32);
    ck_assert_uint_eq(eq_packed_floats(5, 33), 2 * 5 * 32);
    float *bp = pack(b, 40, 3, 40);
    for (int p = 0; p < 3; p++)
        for (int j = 0; j < 32; j++) {
            ck_assert_float_eq(bp[p * 32 + j], (float)(100 * p + j));
            float second = bp[3 * 32 + p * 32 + j];
            ck_assert_float_eq(second, j < 8 ? (float)(100 * p + 32 + j) : 0.0f);
        }
    free(bp);
}
END_TEST

START_TEST(product_by_hand)
{
    if (!kernel_here())
        return;
    /* A = [[1, 2, 3], [4, 5, 6]], B = [[1, 0], [0, 1], [1, 1]]:
     * A B = [[4, 5], [10, 11]] */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1};
    const float bias[2] = {-10.0f, 0.5f};
    float *bp = pack(b, 2, 3, 2);
    float c[4];
    eq_gemm_packed(1, 2, 2, 3, a, 3, bp, NULL, EQ_ACT_NONE, c, 2);
    const float plain[4] = {4, 5, 10, 11};
    ck_assert_int_eq(memcmp(c, plain, sizeof c), 0);
    eq_gemm_packed(1, 2, 2, 3, a, 3, bp, bias, EQ_ACT_NONE, c, 2);
    const float biased[4] = {-6, 5.5f, 0, 11.5f};
    ck_assert_int_eq(memcmp(c, biased, sizeof c), 0);
    eq_gemm_packed(1, 2, 2, 3, a, 3, bp, bias, EQ_ACT_RELU, c, 2);
    const float relu[4] = {0, 5.5f, 0, 11.5f};
    ck_assert_int_eq(memcmp(c, relu, sizeof c), 0);
    eq_gemm_packed(1, 2, 2, 3, a, 3, bp, bias, EQ_ACT_RELU6, c, 2);
    const float relu6[4] = {0, 5.5f, 0, 6};
    ck_assert_int_eq(memcmp(c, relu6, sizeof c), 0);
    free(bp);
}
END_TEST

/* C against a double-precision loop, with the float32 dot-product bound;
 * A and C strided (lda = k + 3, ldc = n + 5) with the gaps of C left
 * untouched. */
static void check_shape(int64_t m, int64_t n, int64_t k, int threads)
{
    int64_t lda = k + 3, ldc = n + 5;
    float *a = frand_array((size_t)(m * lda));
    float *b = frand_array((size_t)(k * n));
    float *bias = frand_array((size_t)n);
    float *bp = pack(b, n, k, n);
    float *c = malloc((size_t)(m * ldc) * sizeof *c);
    for (int64_t i = 0; i < m * ldc; i++)
        c[i] = 12345.0f;
    eq_gemm_packed(threads, m, n, k, a, lda, bp, bias, EQ_ACT_NONE, c, ldc);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = bias[j], sa = fabs(bias[j]);
            for (int64_t p = 0; p < k; p++) {
                double t = (double)a[i * lda + p] * (double)b[p * n + j];
                s += t;
                sa += fabs(t);
            }
            double tol = (double)(k + 2) * FLT_EPSILON * sa + 1e-30;
            ck_assert_msg(fabs((double)c[i * ldc + j] - s) <= tol,
                          "m %lld n %lld k %lld threads %d: C[%lld, %lld] = %.9g, "
                          "reference %.9g",
                          (long long)m, (long long)n, (long long)k, threads, (long long)i,
                          (long long)j, (double)c[i * ldc + j], s);
        }
        for (int64_t j = n; j < ldc; j++)
            ck_assert_float_eq(c[i * ldc + j], 12345.0f);
    }
    free(a);
    free(b);
    free(bias);
    free(bp);
    free(c);
}

START_TEST(random_shapes_against_reference)
{
    if (!kernel_here())
        return;
    /* rows around the 14-row tile and the 504-row block, columns around
     * the 16-float vectors and 32-column panels, k around the 256 block */
    const int64_t ms[] = {1, 2, 13, 14, 15, 29, 505};
    const int64_t ns[] = {1, 15, 16, 17, 31, 32, 33, 48, 100};
    const int64_t ks[] = {1, 7, 256, 257, 600};
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                if (ms[mi] * ns[ni] * ks[ki] > 6000000)
                    continue; /* keeps the naive loop quick */
                check_shape(ms[mi], ns[ni], ks[ki], 1 + (int)((mi + ni + ki) % 2));
            }
}
END_TEST

START_TEST(same_bytes_at_any_thread_count)
{
    if (!kernel_here())
        return;
    /* big enough to use the threads, split by rows (the first three) and
     * by columns (one row tile, many panels) */
    const int64_t shapes[][3] = {
        {289, 192, 1088}, {600, 32, 300}, {64, 2080, 64}, {14, 256, 100}};
    for (size_t s = 0; s < 4; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = frand_array((size_t)(m * k)), *b = frand_array((size_t)(k * n));
        float *bias = frand_array((size_t)n);
        float *bp = pack(b, n, k, n);
        float *c1 = malloc((size_t)(m * n) * sizeof *c1);
        float *c2 = malloc((size_t)(m * n) * sizeof *c2);
        eq_gemm_packed(1, m, n, k, a, k, bp, bias, EQ_ACT_RELU, c1, n);
        for (int t = 2; t <= 3; t++) {
            memset(c2, 0xff, (size_t)(m * n) * sizeof *c2);
            eq_gemm_packed(t, m, n, k, a, k, bp, bias, EQ_ACT_RELU, c2, n);
            ck_assert_msg(memcmp(c1, c2, (size_t)(m * n) * sizeof *c1) == 0,
                          "shape %zu: %d threads differ from 1", s, t);
        }
        free(a);
        free(b);
        free(bias);
        free(bp);
        free(c1);
        free(c2);
    }
}
END_TEST

/* bias + act in the kernel equals the plain product followed by the
 * shared epilogue (what graph mode runs with fusion off), bit for bit. */
START_TEST(fused_epilogue_equals_separate)
{
    if (!kernel_here())
        return;
    int64_t m = 37, n = 70, k = 300;
    float *a = frand_array((size_t)(m * k)), *b = frand_array((size_t)(k * n));
    float *bias = frand_array((size_t)n);
    float *bp = pack(b, n, k, n);
    float *c1 = malloc((size_t)(m * n) * sizeof *c1);
    float *c2 = malloc((size_t)(m * n) * sizeof *c2);
    for (int act = EQ_ACT_NONE; act <= EQ_ACT_TANH; act++)
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            const float *bb = with_bias ? bias : NULL;
            eq_gemm_packed(2, m, n, k, a, k, bp, bb, (eq_activation)act, c1, n);
            eq_gemm_packed(2, m, n, k, a, k, bp, NULL, EQ_ACT_NONE, c2, n);
            eq_epilogue_apply(c2, c2, m, n, bb, (eq_activation)act, 2);
            ck_assert_msg(memcmp(c1, c2, (size_t)(m * n) * sizeof *c1) == 0,
                          "act %s bias %d: fused differs",
                          eq_activation_name((eq_activation)act), with_bias);
        }
    free(a);
    free(b);
    free(bias);
    free(bp);
    free(c1);
    free(c2);
}
END_TEST

/* A residual (ldr wider than n) is added after the bias and before the
 * activation, as separate bias and add ops would: bit for bit. */
START_TEST(residual_equals_separate_add)
{
    if (!kernel_here())
        return;
    int64_t m = 31, n = 45, k = 270, ldr = 50;
    float *a = frand_array((size_t)(m * k)), *b = frand_array((size_t)(k * n));
    float *bias = frand_array((size_t)n), *res = frand_array((size_t)(m * ldr));
    float *bp = pack(b, n, k, n);
    float *c1 = malloc((size_t)(m * n) * sizeof *c1);
    float *c2 = malloc((size_t)(m * n) * sizeof *c2);
    for (int act = EQ_ACT_NONE; act <= EQ_ACT_TANH; act++) {
        eq_gemm_packed_residual(2, m, n, k, a, k, bp, bias, res, ldr, (eq_activation)act, c1,
                                n);
        eq_gemm_packed(1, m, n, k, a, k, bp, bias, EQ_ACT_NONE, c2, n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c2[i * n + j] = c2[i * n + j] + res[i * ldr + j];
        eq_epilogue_apply(c2, c2, m, n, NULL, (eq_activation)act, 1);
        ck_assert_msg(memcmp(c1, c2, (size_t)(m * n) * sizeof *c1) == 0,
                      "act %s: fused residual differs",
                      eq_activation_name((eq_activation)act));
    }
    /* by hand: [1 2] . [[1], [1]] + bias 0.5 + residual -4 = -0.5, relu 0 */
    const float a1[2] = {1, 2}, b1[2] = {1, 1}, bias1[1] = {0.5f}, r1[1] = {-4.0f};
    float *bp1 = pack(b1, 1, 2, 1), out;
    eq_gemm_packed_residual(1, 1, 1, 2, a1, 2, bp1, bias1, r1, 1, EQ_ACT_NONE, &out, 1);
    ck_assert_float_eq(out, -0.5f);
    eq_gemm_packed_residual(1, 1, 1, 2, a1, 2, bp1, bias1, r1, 1, EQ_ACT_RELU, &out, 1);
    ck_assert_float_eq(out, 0.0f);
    free(bp1);
    free(a);
    free(b);
    free(bias);
    free(res);
    free(bp);
    free(c1);
    free(c2);
}
END_TEST

/* B read as it is (row-major, leading dimension wider than n) gives the
 * bytes B packed gives: same sums, same order; no column past n is read
 * (the matrix ends right after the last row's n columns). */
START_TEST(plain_b_equals_packed_b)
{
    if (!kernel_here())
        return;
    const int64_t shapes[][4] = {{1, 1, 1, 1},     {15, 17, 33, 17},  {29, 48, 257, 50},
                                 {70, 100, 300, 100}, {289, 192, 600, 200}, {14, 256, 100, 256}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ldb = shapes[s][3];
        float *a = frand_array((size_t)(m * k)), *bias = frand_array((size_t)n);
        float *res = frand_array((size_t)(m * n));
        /* the last row holds exactly n floats: a read past them would be
         * outside the allocation (ASan sees it) */
        float *b = frand_array((size_t)((k - 1) * ldb + n));
        float *bp = malloc(eq_packed_floats(k, n) * sizeof *bp);
        eq_pack_b(b, ldb, k, n, bp);
        float *c1 = malloc((size_t)(m * n) * sizeof *c1);
        float *c2 = malloc((size_t)(m * n) * sizeof *c2);
        for (int act = EQ_ACT_NONE; act <= EQ_ACT_RELU6; act++) {
            eq_gemm_packed_residual(2, m, n, k, a, k, bp, bias, res, n, (eq_activation)act, c1,
                                    n);
            eq_gemm_plain_residual(2, m, n, k, a, k, b, ldb, bias, res, n, (eq_activation)act,
                                   c2, n);
            ck_assert_msg(memcmp(c1, c2, (size_t)(m * n) * sizeof *c1) == 0,
                          "shape %zu act %d: plain B differs from packed B", s, act);
        }
        free(a);
        free(bias);
        free(res);
        free(b);
        free(bp);
        free(c1);
        free(c2);
    }
}
END_TEST

/* TF's relu is max(x, 0): NaN stays NaN; relu6 caps +inf at 6. */
START_TEST(relu_keeps_nan_and_caps_inf)
{
    if (!kernel_here())
        return;
    const float a[3] = {NAN, INFINITY, -INFINITY};
    const float b[2] = {1.0f, 2.0f};
    float *bp = pack(b, 2, 1, 2);
    float c[6];
    eq_gemm_packed(1, 3, 2, 1, a, 1, bp, NULL, EQ_ACT_RELU, c, 2);
    ck_assert(isnan(c[0]) && isnan(c[1]));
    ck_assert(isinf(c[2]) && c[2] > 0);
    ck_assert_float_eq(c[4], 0.0f);
    eq_gemm_packed(1, 3, 2, 1, a, 1, bp, NULL, EQ_ACT_RELU6, c, 2);
    ck_assert(isnan(c[0]) && isnan(c[1]));
    ck_assert_float_eq(c[2], 6.0f);
    ck_assert_float_eq(c[5], 0.0f);
    free(bp);
}
END_TEST

START_TEST(switch_reports_previous_setting)
{
    int here = eq_gemm_packed_enabled();
    ck_assert_int_eq(eq_gemm_packed_set_enabled(0), here);
    ck_assert_int_eq(eq_gemm_packed_enabled(), 0);
    ck_assert_int_eq(eq_gemm_packed_set_enabled(1), 0);
    ck_assert_int_eq(eq_gemm_packed_enabled(), here);
}
END_TEST

static Suite *gemm_packed_suite(void)
{
    Suite *s = suite_create("gemm_packed");
    TCase *t = tcase_create("kernel");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, pack_layout_by_hand);
    tcase_add_test(t, product_by_hand);
    tcase_add_test(t, random_shapes_against_reference);
    tcase_add_test(t, same_bytes_at_any_thread_count);
    tcase_add_test(t, fused_epilogue_equals_separate);
    tcase_add_test(t, residual_equals_separate_add);
    tcase_add_test(t, plain_b_equals_packed_b);
    tcase_add_test(t, relu_keeps_nan_and_caps_inf);
    tcase_add_test(t, switch_reports_previous_setting);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gemm_packed_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
