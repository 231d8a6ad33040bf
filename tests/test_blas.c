/* test_blas.c - the BLIS kernel-set and thread decisions, eq_blas_init's
 * effects (each test runs in its own forked process, so each may initialise
 * BLIS its own way), and eq_sgemm against a naive loop. */
#include <blis.h>
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"

/* ---- the arch decision -------------------------------------------------- */

static const eq_cpu_features cpu_avx512 = {1, 1, 1, 1, 1, 1, 0};
static const eq_cpu_features cpu_avx512_amd = {1, 1, 1, 1, 1, 1, 1};
static const eq_cpu_features cpu_knl = {1, 0, 0, 0, 1, 1, 0}; /* F without DQ/BW/VL */
static const eq_cpu_features cpu_avx2 = {0, 0, 0, 0, 1, 1, 0};
static const eq_cpu_features cpu_avx2_amd = {0, 0, 0, 0, 1, 1, 1};
static const eq_cpu_features cpu_avx2_nofma = {0, 0, 0, 0, 1, 0, 0};
static const eq_cpu_features cpu_none = {0, 0, 0, 0, 0, 0, 0};

static void expect_choice(const eq_cpu_features *cpu, const char *eq_env,
                          const char *blis_env, int id, const char *name,
                          const char *source, int set_env)
{
    eq_blas_arch_choice c;
    eq_error err;
    eq_error_clear(&err);
    ck_assert_msg(eq_blas_arch_decide(cpu, eq_env, blis_env, &c, &err) == EQ_OK,
                  "EQ_BLIS_ARCH=%s BLIS_ARCH_TYPE=%s: %s", eq_env ? eq_env : "(unset)",
                  blis_env ? blis_env : "(unset)", err.message);
    ck_assert_int_eq(c.arch_id, id);
    ck_assert_str_eq(c.name, name);
    ck_assert_str_eq(c.source, source);
    ck_assert_int_eq(c.set_env, set_env);
}

static void expect_refusal(const eq_cpu_features *cpu, const char *eq_env,
                           const char *blis_env, const char *msg)
{
    eq_blas_arch_choice c;
    eq_error err;
    eq_error_clear(&err);
    ck_assert_int_eq(eq_blas_arch_decide(cpu, eq_env, blis_env, &c, &err), EQ_ERR_INVALID);
    ck_assert_str_eq(err.message, msg);
    ck_assert_int_eq(eq_blas_arch_decide(cpu, eq_env, blis_env, &c, NULL), EQ_ERR_INVALID);
}

START_TEST(arch_from_cpu_features)
{
    /* the enum values the issue names */
    ck_assert_int_eq(BLIS_ARCH_SKX, 0);
    ck_assert_int_eq(BLIS_ARCH_HASWELL, 3);
    ck_assert_int_eq(BLIS_ARCH_ZEN3, 6);
    expect_choice(&cpu_avx512, NULL, NULL, 0, "skx", "cpu-features", 1);
    expect_choice(&cpu_avx512_amd, NULL, NULL, 0, "skx", "cpu-features", 1);
    expect_choice(&cpu_knl, NULL, NULL, 3, "haswell", "cpu-features", 1);
    expect_choice(&cpu_avx2, NULL, NULL, 3, "haswell", "cpu-features", 1);
    expect_choice(&cpu_avx2_amd, NULL, NULL, 6, "zen3", "cpu-features", 1);
    expect_choice(&cpu_avx2_nofma, NULL, NULL, -1, "blis", "blis", 0);
    expect_choice(&cpu_none, NULL, NULL, -1, "blis", "blis", 0);
    /* empty strings and "auto" are no override */
    expect_choice(&cpu_avx512, "", "", 0, "skx", "cpu-features", 1);
    expect_choice(&cpu_avx2_amd, "auto", NULL, 6, "zen3", "cpu-features", 1);
    expect_choice(&cpu_avx2_amd, "AUTO", "", 6, "zen3", "cpu-features", 1);
}
END_TEST

START_TEST(arch_from_eq_blis_arch)
{
    expect_choice(&cpu_avx512, "skx", NULL, BLIS_ARCH_SKX, "skx", "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_avx512, "haswell", NULL, BLIS_ARCH_HASWELL, "haswell",
                  "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_avx512, "zen3", NULL, BLIS_ARCH_ZEN3, "zen3", "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_avx2, "zen2", NULL, BLIS_ARCH_ZEN2, "zen2", "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_avx2_amd, "zen", NULL, BLIS_ARCH_ZEN, "zen", "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_none, "generic", NULL, BLIS_ARCH_GENERIC, "generic", "EQ_BLIS_ARCH",
                  1);
    expect_choice(&cpu_avx512, "generic", NULL, BLIS_ARCH_GENERIC, "generic",
                  "EQ_BLIS_ARCH", 1);
    expect_choice(&cpu_avx512, "SKX", NULL, BLIS_ARCH_SKX, "skx", "EQ_BLIS_ARCH", 1);
    /* kernels the CPU cannot run are refused, not a SIGILL later */
    expect_refusal(&cpu_avx2, "skx", NULL,
                   "EQ_BLIS_ARCH='skx' needs AVX-512 F/DQ/BW/VL, which this CPU lacks");
    expect_refusal(&cpu_knl, "skx", NULL,
                   "EQ_BLIS_ARCH='skx' needs AVX-512 F/DQ/BW/VL, which this CPU lacks");
    expect_refusal(&cpu_avx2_nofma, "haswell", NULL,
                   "EQ_BLIS_ARCH='haswell' needs AVX2 and FMA, which this CPU lacks");
    expect_refusal(&cpu_none, "zen3", NULL,
                   "EQ_BLIS_ARCH='zen3' needs AVX2 and FMA, which this CPU lacks");
    expect_refusal(&cpu_avx512, "sapphirerapids", NULL,
                   "EQ_BLIS_ARCH='sapphirerapids' is not one of "
                   "skx|haswell|zen3|zen2|zen|generic|auto");
    expect_refusal(&cpu_avx512, "0", NULL,
                   "EQ_BLIS_ARCH='0' is not one of skx|haswell|zen3|zen2|zen|generic|auto");
}
END_TEST

START_TEST(arch_from_blis_arch_type)
{
    /* the user's own BLIS_ARCH_TYPE wins over everything and is left alone */
    expect_choice(&cpu_avx512, NULL, "0", 0, "skx", "BLIS_ARCH_TYPE", 0);
    expect_choice(&cpu_avx512, "haswell", "0", 0, "skx", "BLIS_ARCH_TYPE", 0);
    expect_choice(&cpu_avx512, "bogus", "3", 3, "haswell", "BLIS_ARCH_TYPE", 0);
    expect_choice(&cpu_none, NULL, "6", 6, "zen3", "BLIS_ARCH_TYPE", 0);
    char generic[16];
    snprintf(generic, sizeof generic, "%d", (int)BLIS_ARCH_GENERIC);
    expect_choice(&cpu_none, NULL, generic, BLIS_ARCH_GENERIC, "generic", "BLIS_ARCH_TYPE",
                  0);
    const char *tail = "' is not the number of a kernel set this BLIS was built with "
                       "(it takes the arch_t value, e.g. 0 for skx, 3 for haswell)";
    const char *bad[] = {"skx", "-1", "3x", "99", " 3"};
    char msg[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(msg, sizeof msg, "BLIS_ARCH_TYPE='%s%s", bad[i], tail);
        expect_refusal(&cpu_avx512, NULL, bad[i], msg);
    }
    /* an arch_t value of a set not in this (x86) build: BLIS would crash */
    snprintf(generic, sizeof generic, "%d", (int)BLIS_ARCH_ARMSVE);
    snprintf(msg, sizeof msg, "BLIS_ARCH_TYPE='%s%s", generic, tail);
    expect_refusal(&cpu_avx512, NULL, generic, msg);
}
END_TEST

START_TEST(threads_decision)
{
    int n = 0;
    eq_error err;
    ck_assert_int_eq(eq_blas_threads_decide(3, "7", 2, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(eq_blas_threads_decide(0, "7", 2, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 7);
    ck_assert_int_eq(eq_blas_threads_decide(-1, NULL, 2, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(eq_blas_threads_decide(0, "", 5, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(eq_blas_threads_decide(0, NULL, 0, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 1);
    const char *bad[] = {"0", "-2", "two", "4x", "99999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(eq_blas_threads_decide(0, bad[i], 2, &n, &err), EQ_ERR_INVALID);
        char msg[128];
        snprintf(msg, sizeof msg, "EQ_THREADS='%s' must be an integer from 1 to 4096",
                 bad[i]);
        ck_assert_str_eq(err.message, msg);
    }
    /* the argument wins even over a bad variable */
    ck_assert_int_eq(eq_blas_threads_decide(2, "two", 2, &n, &err), EQ_OK);
    ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(cpu_features_string)
{
    char buf[64];
    ck_assert_str_eq(eq_cpu_features_str(&cpu_avx512_amd, buf, sizeof buf),
                     "avx512f avx512dq avx512bw avx512vl avx2 fma amd");
    ck_assert_str_eq(eq_cpu_features_str(&cpu_avx2, buf, sizeof buf), "avx2 fma");
    ck_assert_str_eq(eq_cpu_features_str(&cpu_none, buf, sizeof buf), "");
    ck_assert_str_eq(eq_cpu_features_str(&cpu_avx512, buf, 12), "avx512f");
}
END_TEST

/* ---- eq_blas_init's effects (one process per test) ---------------------- */

START_TEST(init_follows_the_decision)
{
    unsetenv("BLIS_ARCH_TYPE");
    unsetenv("EQ_BLIS_ARCH");
    unsetenv("EQ_THREADS");
    eq_cpu_features cpu;
    eq_cpu_features_detect(&cpu);
    eq_blas_arch_choice c;
    ck_assert_int_eq(eq_blas_arch_decide(&cpu, NULL, NULL, &c, NULL), EQ_OK);
    eq_error err;
    ck_assert_int_eq(eq_blas_init(3, &err), EQ_OK);
    const eq_blas_info *info = eq_blas_info_get();
    if (c.arch_id >= 0) {
        ck_assert_int_eq(info->arch_id, c.arch_id);
        ck_assert_str_eq(info->arch, c.name);
        char want[16];
        snprintf(want, sizeof want, "%d", c.arch_id);
        ck_assert_str_eq(getenv("BLIS_ARCH_TYPE"), want);
    }
    ck_assert_str_eq(info->source, c.source);
    ck_assert_int_eq(info->threads, 3);
    ck_assert_int_eq(eq_blas_threads(), 3);
    char feats[64];
    ck_assert_str_eq(info->cpu_features, eq_cpu_features_str(&cpu, feats, sizeof feats));
    /* idempotent: the first call decided */
    ck_assert_int_eq(eq_blas_init(1, &err), EQ_OK);
    ck_assert_int_eq(eq_blas_info_get()->threads, 3);
    eq_blas_set_threads(1);
    ck_assert_int_eq(eq_blas_threads(), 1);
    eq_blas_set_threads(0); /* default: the available cores */
    ck_assert_int_ge(eq_blas_threads(), 1);
}
END_TEST

START_TEST(init_env_override_generic)
{
    /* "generic" runs on any CPU, so this test holds on every machine */
    unsetenv("BLIS_ARCH_TYPE");
    setenv("EQ_BLIS_ARCH", "generic", 1);
    setenv("EQ_THREADS", "2", 1);
    eq_error err;
    ck_assert_int_eq(eq_blas_init(0, &err), EQ_OK);
    const eq_blas_info *info = eq_blas_info_get();
    ck_assert_str_eq(info->arch, "generic");
    ck_assert_int_eq(info->arch_id, BLIS_ARCH_GENERIC);
    ck_assert_str_eq(info->source, "EQ_BLIS_ARCH");
    ck_assert_int_eq(info->threads, 2);
    /* and sgemm runs on it */
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4];
    eq_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    ck_assert_float_eq(c[0], 19);
    ck_assert_float_eq(c[3], 50);
}
END_TEST

START_TEST(init_respects_user_blis_arch_type)
{
    /* set before BLIS starts and queried after: the order that once crashed */
    char generic[16];
    snprintf(generic, sizeof generic, "%d", (int)BLIS_ARCH_GENERIC);
    setenv("BLIS_ARCH_TYPE", generic, 1);
    setenv("EQ_BLIS_ARCH", "skx", 1); /* loses to the user's variable */
    ck_assert_int_eq(eq_blas_init(0, NULL), EQ_OK);
    const eq_blas_info *info = eq_blas_info_get();
    ck_assert_str_eq(info->source, "BLIS_ARCH_TYPE");
    ck_assert_int_eq(info->arch_id, BLIS_ARCH_GENERIC);
    ck_assert_str_eq(getenv("BLIS_ARCH_TYPE"), generic);
}
END_TEST

START_TEST(init_refuses_bad_env_then_implicit_init_falls_back)
{
    unsetenv("BLIS_ARCH_TYPE");
    setenv("EQ_BLIS_ARCH", "pentium", 1);
    eq_error err;
    ck_assert_int_eq(eq_blas_init(0, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "EQ_BLIS_ARCH='pentium'"));
    setenv("EQ_BLIS_ARCH", "auto", 1);
    setenv("EQ_THREADS", "lots", 1);
    ck_assert_int_eq(eq_blas_init(0, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "EQ_THREADS='lots'"));
    /* a kernel run without a successful init still gets the CPU's choice
     * (the bad values are reported on stderr) */
    setenv("EQ_BLIS_ARCH", "pentium", 1);
    setenv("BLIS_ARCH_TYPE", "banana", 1);
    const eq_blas_info *info = eq_blas_info_get();
    eq_cpu_features cpu;
    eq_cpu_features_detect(&cpu);
    eq_blas_arch_choice c;
    ck_assert_int_eq(eq_blas_arch_decide(&cpu, NULL, NULL, &c, NULL), EQ_OK);
    ck_assert_str_eq(info->source, c.source);
    if (c.arch_id >= 0)
        ck_assert_int_eq(info->arch_id, c.arch_id);
    ck_assert_int_ge(info->threads, 1);
    /* now initialised: later calls succeed whatever the environment says */
    ck_assert_int_eq(eq_blas_init(0, &err), EQ_OK);
}
END_TEST

/* ---- eq_sgemm ----------------------------------------------------------- */

static unsigned rng_state = 99u;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

START_TEST(sgemm_hand_computed)
{
    /* [[1,2],[3,4]] [[5,6],[7,8]] = [[19,22],[43,50]] */
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {1, 1, 1, 1};
    eq_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    const float e[4] = {19, 22, 43, 50};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(c[i], e[i]);
    /* A^T B: [[1,3],[2,4]] [[5,6],[7,8]] = [[26,30],[38,44]]; alpha 2, beta
     * -1 on C = e: 2*26-19 = 33, 60-22 = 38, 76-43 = 33, 88-50 = 38 */
    eq_sgemm(1, 0, 2, 2, 2, 2.0f, a, 2, b, 2, -1.0f, c, 2);
    const float e2[4] = {33, 38, 33, 38};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(c[i], e2[i]);
    /* k = 0: C = beta C, and beta 0 clears even NaN */
    eq_sgemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.5f, c, 2);
    ck_assert_float_eq(c[0], 16.5f);
    c[1] = NAN;
    eq_sgemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    ck_assert_float_eq(c[1], 0);
    /* m = 0 or n = 0: nothing written */
    c[0] = 7;
    eq_sgemm(0, 0, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    eq_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    ck_assert_float_eq(c[0], 7);
}
END_TEST

START_TEST(sgemm_against_reference)
{
    const int64_t dims[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {130, 70, 300}};
    for (int threads = 1; threads <= 2; threads++) {
        eq_blas_set_threads(threads);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int ta = 0; ta <= 1; ta++)
                for (int tb = 0; tb <= 1; tb++) {
                    int64_t m = dims[di][0], n = dims[di][1], k = dims[di][2];
                    /* padded leading dimensions catch stride mistakes */
                    int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
                    int64_t arows = ta ? k : m, brows = tb ? n : k;
                    float *a = malloc(sizeof(float) * (size_t)(arows * lda));
                    float *b = malloc(sizeof(float) * (size_t)(brows * ldb));
                    float *c = malloc(sizeof(float) * (size_t)(m * ldc));
                    float *c0 = malloc(sizeof(float) * (size_t)(m * ldc));
                    for (int64_t i = 0; i < arows * lda; i++)
                        a[i] = frand();
                    for (int64_t i = 0; i < brows * ldb; i++)
                        b[i] = frand();
                    for (int64_t i = 0; i < m * ldc; i++)
                        c0[i] = c[i] = frand();
                    float alpha = 1.5f, beta = -0.5f;
                    if (threads == 1)
                        eq_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                    else
                        eq_sgemm_threads(2, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                                         ldc);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < ldc; j++) {
                            if (j >= n) { /* padding of C untouched */
                                ck_assert_float_eq(c[i * ldc + j], c0[i * ldc + j]);
                                continue;
                            }
                            double s = 0, sa = 0;
                            for (int64_t p = 0; p < k; p++) {
                                double av = ta ? a[p * lda + i] : a[i * lda + p];
                                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                                s += av * bv;
                                sa += fabs(av * bv);
                            }
                            double r = alpha * s + beta * (double)c0[i * ldc + j];
                            double tol = (double)(k + 4) * FLT_EPSILON *
                                         (fabs(alpha) * sa + fabs(beta * c0[i * ldc + j]));
                            ck_assert_msg(
                                fabs(c[i * ldc + j] - r) <= tol + 1e-30,
                                "m%lld n%lld k%lld ta%d tb%d (%lld,%lld): %.9g vs "
                                "%.9g",
                                (long long)m, (long long)n, (long long)k, ta, tb,
                                (long long)i, (long long)j, (double)c[i * ldc + j], r);
                        }
                    free(a);
                    free(b);
                    free(c);
                    free(c0);
                }
    }
}
END_TEST

/* Up to 4 rows of C with beta 0 take eq_sgemm's own loop instead of BLIS:
 * the reference, both thread counts, column tiles and their remainders. */
START_TEST(sgemm_small_m_path)
{
    /* hand-computed: [1, 2] [[1, 2], [3, 4]] = [7, 10]; beta 0 clears NaN */
    float a1[2] = {1, 2}, b1[4] = {1, 2, 3, 4}, h[2] = {NAN, NAN};
    eq_sgemm(0, 0, 1, 2, 2, 1.0f, a1, 2, b1, 2, 0.0f, h, 2);
    ck_assert_float_eq(h[0], 7);
    ck_assert_float_eq(h[1], 10);
    const int64_t dims[][3] = {{1, 5, 3},     {2, 300, 17},  {3, 64, 257},
                               {4, 600, 513}, {1, 784, 256}, {4, 1000, 700}};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (int ta = 0; ta <= 1; ta++) {
            int64_t m = dims[di][0], k = dims[di][1], n = dims[di][2];
            int64_t lda = (ta ? m : k) + 1, ldb = n + 3, ldc = n + 2;
            int64_t arows = ta ? k : m;
            float *a = malloc(sizeof(float) * (size_t)(arows * lda));
            float *b = malloc(sizeof(float) * (size_t)(k * ldb));
            float *c1 = malloc(sizeof(float) * (size_t)(m * ldc));
            float *c2 = malloc(sizeof(float) * (size_t)(m * ldc));
            for (int64_t i = 0; i < arows * lda; i++)
                a[i] = frand();
            for (int64_t i = 0; i < k * ldb; i++)
                b[i] = frand();
            for (int64_t i = 0; i < m * ldc; i++)
                c1[i] = c2[i] = 42.0f;
            float alpha = di % 2 ? 0.75f : 1.0f;
            eq_sgemm_threads(1, ta, 0, m, n, k, alpha, a, lda, b, ldb, 0.0f, c1, ldc);
            eq_sgemm_threads(2, ta, 0, m, n, k, alpha, a, lda, b, ldb, 0.0f, c2, ldc);
            /* the threads split columns, never a sum: identical bytes */
            ck_assert_int_eq(memcmp(c1, c2, sizeof(float) * (size_t)(m * ldc)), 0);
            for (int64_t i = 0; i < m; i++) {
                for (int64_t j = n; j < ldc; j++) /* padding untouched */
                    ck_assert_float_eq(c1[i * ldc + j], 42.0f);
                for (int64_t j = 0; j < n; j++) {
                    double s = 0, sa = 0;
                    for (int64_t p = 0; p < k; p++) {
                        double t = (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                                   (double)b[p * ldb + j];
                        s += t;
                        sa += fabs(t);
                    }
                    double r = alpha * s, tol = (double)(k + 4) * FLT_EPSILON * sa + 1e-30;
                    ck_assert_msg(fabs(c1[i * ldc + j] - r) <= tol,
                                  "m%lld k%lld n%lld ta%d (%lld,%lld): %.9g vs %.9g",
                                  (long long)m, (long long)k, (long long)n, ta,
                                  (long long)i, (long long)j, (double)c1[i * ldc + j], r);
                }
            }
            free(a);
            free(b);
            free(c1);
            free(c2);
        }
}
END_TEST

static Suite *blas_suite(void)
{
    Suite *s = suite_create("blas");
    TCase *t = tcase_create("decision");
    tcase_add_test(t, arch_from_cpu_features);
    tcase_add_test(t, arch_from_eq_blis_arch);
    tcase_add_test(t, arch_from_blis_arch_type);
    tcase_add_test(t, threads_decision);
    tcase_add_test(t, cpu_features_string);
    suite_add_tcase(s, t);
    t = tcase_create("init");
    tcase_add_test(t, init_follows_the_decision);
    tcase_add_test(t, init_env_override_generic);
    tcase_add_test(t, init_respects_user_blis_arch_type);
    tcase_add_test(t, init_refuses_bad_env_then_implicit_init_falls_back);
    suite_add_tcase(s, t);
    t = tcase_create("sgemm");
    tcase_add_test(t, sgemm_hand_computed);
    tcase_add_test(t, sgemm_against_reference);
    tcase_add_test(t, sgemm_small_m_path);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blas_suite());
    /* The init tests need a fresh process each: BLIS initialises once. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
