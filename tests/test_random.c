/* test_random.c - random kernels (the 256 rule, groups), distributions,
 * Python-level scaling, initializers; spec vectors and statistics. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "eq_alloc.h"
#include "eq_arena.h"
#include "eq_blas.h"
#include "eq_rng.h"
#include "eq_tensor.h"

static eq_rng_kernel kernel(int64_t seed, int64_t seed2)
{
    eq_rng_kernel k;
    eq_seed_pair s = {seed, seed2};
    ck_assert_int_eq(eq_rng_kernel_init(&k, s, NULL), EQ_OK);
    return k;
}

/* Printed spec values have 8 decimals; float32 near 1 has ulp 1.2e-7, so
 * 6e-9 pins the exact float. */
static void assert_f32s(const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "element %d: got %.9g want %.9g", i,
                      (double)got[i], want[i]);
}

/* ---- spec 4 test vectors --------------------------------------------------- */

START_TEST(uniform_42_0_first_12)
{
    static const double want[12] = {0.83545911, 0.91629732, 0.49464953, 0.52111328,
                                    0.71194923, 0.45645106, 0.11994720, 0.60958803,
                                    0.84381545, 0.05754983, 0.60490716, 0.07535851};
    eq_rng_kernel k = kernel(42, 0);
    float out[12];
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, out, 12, NULL), EQ_OK);
    assert_f32s(out, want, 12, 6e-9);
}
END_TEST

START_TEST(uniform_second_execution_skips_256n)
{
    eq_rng_kernel k = kernel(42, 0);
    float first[9], second[4];
    eq_rng_kernel_uniform_f32(&k, first, 9, NULL);
    /* 9 elements reserve 9*256 = 2304 blocks, whatever was really used */
    ck_assert_uint_eq(k.gen.ctr[0], 2304);
    ck_assert_int_eq(k.executions, 1);
    eq_rng_kernel_uniform_f32(&k, second, 4, NULL);
    static const double want[4] = {0.66813004, 0.12345874, 0.32518399, 0.34728324};
    assert_f32s(second, want, 4, 6e-9);
    ck_assert_uint_eq(k.gen.ctr[0], 2304 + 1024);

    /* the same from first principles: block 2304 of the stream */
    eq_philox g;
    eq_philox_init(&g, 42, 0);
    eq_philox_skip(&g, 2304);
    uint32_t w[4];
    eq_philox_next(&g, w);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(second[i], eq_rng_u32_to_float(w[i]));
}
END_TEST

START_TEST(uniform_num_random_ops_seeds)
{
    static const double w1[4] = {0.15012848, 0.63992536, 0.81787777, 0.34572172};
    static const double w2[4] = {0.98781276, 0.36207271, 0.86808324, 0.23366416};
    float out[4];
    eq_rng_kernel k1 = kernel(42, 1), k2 = kernel(42, 2);
    eq_rng_kernel_uniform_f32(&k1, out, 4, NULL);
    assert_f32s(out, w1, 4, 6e-9);
    eq_rng_kernel_uniform_f32(&k2, out, 4, NULL);
    assert_f32s(out, w2, 4, 6e-9);
    /* spec 3.4: no global seed, op seed 1 */
    static const double w3[4] = {0.23903739, 0.92039955, 0.05051243, 0.49574447};
    eq_rng_kernel k3 = kernel(EQ_DEFAULT_GRAPH_SEED, 1);
    eq_rng_kernel_uniform_f32(&k3, out, 4, NULL);
    assert_f32s(out, w3, 4, 6e-9);
}
END_TEST

START_TEST(normal_and_truncated_42_0)
{
    static const double n4[4] = {-0.30101568, 0.51859164, -0.15693977, -1.17608738};
    static const double t1[4] = {1.18872011, 0.35026696, -0.30662382, -0.69534916};
    float out[8];
    eq_rng_kernel k = kernel(42, 0);
    eq_rng_kernel_normal_f32(&k, out, 4, NULL);
    assert_f32s(out, n4, 4, 6e-9);
    k = kernel(42, 0);
    eq_rng_kernel_truncated_normal_f32(&k, out, 8, NULL);
    assert_f32s(out, n4, 4, 6e-9);     /* group 0: all |z| < 2 */
    assert_f32s(out + 4, t1, 4, 6e-9); /* group 1: block offset 256 */
    ck_assert_uint_eq(k.gen.ctr[0], 8 * 256);
}
END_TEST

START_TEST(uniform_f64_42_0)
{
    eq_rng_kernel k = kernel(42, 0);
    double out[3];
    eq_rng_kernel_uniform_f64(&k, out, 3, NULL);
    ck_assert_double_eq_tol(out[0], 0.6836733518471891, 1e-16);
    ck_assert_double_eq_tol(out[1], 0.9571965607276434, 1e-16);
    /* element 2 starts block 1 (G = 2) */
    eq_philox g;
    eq_philox_init(&g, 42, 0);
    uint32_t w[4];
    eq_philox_next(&g, w);
    eq_philox_next(&g, w);
    ck_assert_double_eq(out[2], eq_rng_u64_to_double(w[0], w[1]));
}
END_TEST

START_TEST(normal_5_1_docstring)
{
    /* random_ops.py docstring: set_seed(5); normal([2,2], seed=1) */
    static const double want[4] = {-1.3768897, -0.01258316, -0.169515, 1.0824056};
    eq_rng_kernel k = kernel(5, 1);
    float out[4];
    ck_assert_int_eq(eq_random_normal_f32(&k, 0.0, 1.0, out, 4, NULL), EQ_OK);
    assert_f32s(out, want, 4, 6e-8);
}
END_TEST

/* ---- layout against a block-by-block reference --------------------------- */

static void block_at(int64_t seed, int64_t seed2, uint64_t b, uint32_t w[4])
{
    eq_philox g;
    eq_philox_init(&g, seed, seed2);
    uint32_t ctr[4] = {g.ctr[0], g.ctr[1], g.ctr[2], g.ctr[3]};
    uint64_t low = ((uint64_t)ctr[1] << 32 | ctr[0]) + b; /* small b: no high carry */
    ctr[0] = (uint32_t)low;
    ctr[1] = (uint32_t)(low >> 32);
    eq_philox_block(ctr, g.key, w);
}

START_TEST(fixed_groups_use_block_i_over_g)
{
    enum { N = 37 };
    float f[N];
    double d[N], dn[N];
    int32_t i32[N];
    int64_t i64[N];
    eq_rng_kernel k = kernel(11, 12);
    eq_rng_kernel_uniform_f32(&k, f, N, NULL);
    k = kernel(11, 12);
    eq_rng_kernel_uniform_f64(&k, d, N, NULL);
    k = kernel(11, 12);
    eq_rng_kernel_normal_f64(&k, dn, N, NULL);
    k = kernel(11, 12);
    eq_rng_kernel_uniform_int32(&k, -5, 1000, i32, N, NULL);
    k = kernel(11, 12);
    eq_rng_kernel_uniform_int64(&k, -(INT64_C(1) << 40), INT64_C(3) << 40, i64, N, NULL);
    uint32_t w[4];
    for (int i = 0; i < N; i++) {
        block_at(11, 12, (uint64_t)i / 4, w);
        ck_assert_float_eq(f[i], eq_rng_u32_to_float(w[i % 4]));
        ck_assert_int_eq(i32[i], -5 + (int32_t)(w[i % 4] % 1005u));
        block_at(11, 12, (uint64_t)i / 2, w);
        int j = i % 2;
        ck_assert_double_eq(d[i], eq_rng_u64_to_double(w[2 * j], w[2 * j + 1]));
        uint64_t bits = w[2 * j] | (uint64_t)w[2 * j + 1] << 32;
        ck_assert_int_eq(i64[i], -(INT64_C(1) << 40) + (int64_t)(bits % (UINT64_C(4) << 40)));
        double z[2];
        eq_rng_box_muller_f64(w[0], w[1], w[2], w[3], &z[0], &z[1]);
        ck_assert_double_eq(dn[i], z[j]);
    }
}
END_TEST

START_TEST(partial_groups_are_prefixes)
{
    float a[16], b[16];
    for (int n = 1; n <= 16; n++) {
        eq_rng_kernel k1 = kernel(9, 9), k2 = kernel(9, 9);
        eq_rng_kernel_normal_f32(&k1, a, n, NULL);
        eq_rng_kernel_normal_f32(&k2, b, 16, NULL);
        ck_assert_mem_eq(a, b, (size_t)n * sizeof(float));
        k1 = kernel(9, 9);
        k2 = kernel(9, 9);
        eq_rng_kernel_truncated_normal_f32(&k1, a, n, NULL);
        eq_rng_kernel_truncated_normal_f32(&k2, b, 16, NULL);
        ck_assert_mem_eq(a, b, (size_t)n * sizeof(float));
    }
}
END_TEST

/* Truncated normal from spec 2.5 alone: group g reads words from block
 * g*G*64 on, pairs, |z| < 2 accepted, the rest of a pair dropped. */
static void truncated_reference_f32(int64_t seed, int64_t seed2, float *out, int n)
{
    for (int g = 0; g * 4 < n; g++) {
        uint64_t blk = (uint64_t)g * 256;
        uint32_t w[4];
        int used = 4, got = 0;
        float res[4];
        while (got < 4) {
            uint32_t x[2];
            for (int t = 0; t < 2; t++) {
                if (used == 4) {
                    block_at(seed, seed2, blk++, w);
                    used = 0;
                }
                x[t] = w[used++];
            }
            float z[2];
            eq_rng_box_muller_f32(x[0], x[1], &z[0], &z[1]);
            for (int t = 0; t < 2 && got < 4; t++)
                if (fabsf(z[t]) < 2.0f)
                    res[got++] = z[t];
        }
        for (int j = 0; j < 4 && g * 4 + j < n; j++)
            out[g * 4 + j] = res[j];
    }
}

static void truncated_reference_f64(int64_t seed, int64_t seed2, double *out, int n)
{
    for (int g = 0; g * 2 < n; g++) {
        uint64_t blk = (uint64_t)g * 128;
        int got = 0;
        double res[2];
        while (got < 2) {
            uint32_t w[4];
            block_at(seed, seed2, blk++, w); /* 4 words per pair: one block */
            double z[2];
            eq_rng_box_muller_f64(w[0], w[1], w[2], w[3], &z[0], &z[1]);
            for (int t = 0; t < 2 && got < 2; t++)
                if (fabs(z[t]) < 2.0)
                    res[got++] = z[t];
        }
        for (int j = 0; j < 2 && g * 2 + j < n; j++)
            out[g * 2 + j] = res[j];
    }
}

START_TEST(truncated_matches_reference)
{
    enum { N = 403 };
    static float a[N], b[N];
    static double c[N], d[N];
    for (int64_t s2 = 0; s2 < 4; s2++) {
        eq_rng_kernel k = kernel(1, s2);
        eq_rng_kernel_truncated_normal_f32(&k, a, N, NULL);
        truncated_reference_f32(1, s2, b, N);
        ck_assert_mem_eq(a, b, sizeof a);
        k = kernel(1, s2);
        eq_rng_kernel_truncated_normal_f64(&k, c, N, NULL);
        truncated_reference_f64(1, s2, d, N);
        ck_assert_mem_eq(c, d, sizeof c);
        ck_assert_uint_eq(k.gen.ctr[0], N * 256);
    }
    /* the references did see rejections (|z| >= 2 happens ~4.6% of the time) */
    int rejected = 0;
    eq_philox g;
    eq_philox_init(&g, 1, 0);
    for (int i = 0; i < 1000; i++) {
        uint32_t w[4];
        float z0, z1;
        eq_philox_next(&g, w);
        eq_rng_box_muller_f32(w[0], w[1], &z0, &z1);
        rejected += fabsf(z0) >= 2.0f;
    }
    ck_assert_int_gt(rejected, 10);
}
END_TEST

/* ---- integers ---------------------------------------------------------------- */

START_TEST(int_bounds_and_errors)
{
    eq_rng_kernel k = kernel(5, 10);
    int32_t v[8];
    eq_error err;
    ck_assert_int_eq(eq_rng_kernel_uniform_int32(&k, 3, 3, v, 1, &err), EQ_ERR_INVALID);
    ck_assert_str_eq(err.message, "RandomUniformInt: Need minval < maxval, got 3 >= 3");
    ck_assert_int_eq(eq_rng_kernel_uniform_int32(&k, 5, -1, v, 4, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "Need minval < maxval"));
    int64_t v64[2];
    ck_assert_int_eq(eq_rng_kernel_uniform_int64(&k, 9, 2, v64, 2, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "got 9 >= 2"));
    /* an empty output: no error, no reservation */
    ck_assert_int_eq(eq_rng_kernel_uniform_int32(&k, 5, 5, v, 0, &err), EQ_OK);
    ck_assert_int_eq(eq_rng_kernel_uniform_int64(&k, 5, 5, v64, 0, &err), EQ_OK);
    ck_assert_int_eq(k.executions, 0);
    ck_assert_uint_eq(k.gen.ctr[0], 0);
    /* negative counts */
    float f[1];
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, f, -1, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "RandomUniform"));
    ck_assert_int_eq(eq_rng_kernel_truncated_normal_f32(&k, f, -3, &err), EQ_ERR_INVALID);
    ck_assert_int_eq(eq_rng_kernel_normal_f32(&k, f, INT64_MAX, &err), EQ_ERR_LIMIT);

    /* the docstring: set_seed(5); uniform([], maxval=3, int32, seed=10) -> 2, then 0 */
    k = kernel(5, 10);
    eq_rng_kernel_uniform_int32(&k, 0, 3, v, 1, NULL);
    ck_assert_int_eq(v[0], 2);
    eq_rng_kernel_uniform_int32(&k, 0, 3, v, 1, NULL);
    ck_assert_int_eq(v[0], 0);

    /* the full int32 range: lo + (x mod (2^32 - 1)) without overflow */
    k = kernel(5, 11);
    eq_rng_kernel_uniform_int32(&k, INT32_MIN, INT32_MAX, v, 8, NULL);
    uint32_t w[4];
    block_at(5, 11, 0, w);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(v[i], (int32_t)((uint32_t)INT32_MIN + w[i] % 0xffffffffu));
    k = kernel(5, 11);
    eq_rng_kernel_uniform_int64(&k, INT64_MIN, INT64_MAX, v64, 2, NULL);
    ck_assert_int_eq(v64[0], (int64_t)((uint64_t)INT64_MIN +
                                       ((w[0] | (uint64_t)w[1] << 32) % UINT64_MAX)));
}
END_TEST

/* ---- Python-level scaling ----------------------------------------------------- */

START_TEST(uniform_python_bounds)
{
    enum { N = 64 };
    float raw[N], out[N];
    eq_rng_kernel k = kernel(3, 3);
    eq_rng_kernel_uniform_f32(&k, raw, N, NULL);

    eq_uniform_args a = eq_uniform_args_default(); /* int 0, int 1: the raw output */
    ck_assert_double_eq(a.minval, 0.0);
    ck_assert_double_eq(a.maxval, 1.0);
    k = kernel(3, 3);
    eq_random_uniform_f32(&k, &a, out, N, NULL);
    ck_assert_mem_eq(out, raw, sizeof raw);

    eq_uniform_args b = {0.0, 3.0, EQ_MINVAL_INT | EQ_MAXVAL_INT}; /* int 0, int 3 */
    k = kernel(3, 3);
    eq_random_uniform_f32(&k, &b, out, N, NULL);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], raw[i] * 3.0f);

    eq_uniform_args c = {-1.0, 0.1, EQ_MINVAL_INT}; /* int -1, float 0.1 */
    k = kernel(3, 3);
    eq_random_uniform_f32(&k, &c, out, N, NULL);
    float range = 0.1f - (-1.0f); /* a float32 subtraction */
    for (int i = 0; i < N; i++) {
        float t = raw[i] * range;
        ck_assert_float_eq(out[i], t + -1.0f);
    }

    /* 0.0 and 1.0 given as floats take the general path: raw*(1-0)+0 */
    eq_uniform_args d = {0.0, 1.0, 0};
    k = kernel(3, 3);
    eq_random_uniform_f32(&k, &d, out, N, NULL);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], raw[i]);
    /* int 0 and a float maxval: raw*maxval */
    eq_uniform_args e = {0.0, 0.3, EQ_MINVAL_INT};
    k = kernel(3, 3);
    eq_random_uniform_f32(&k, &e, out, N, NULL);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], raw[i] * 0.3f);

    double rawd[N], outd[N];
    k = kernel(3, 3);
    eq_rng_kernel_uniform_f64(&k, rawd, N, NULL);
    k = kernel(3, 3);
    eq_random_uniform_f64(&k, &c, outd, N, NULL);
    for (int i = 0; i < N; i++) {
        double t = rawd[i] * (0.1 - -1.0);
        ck_assert_double_eq(outd[i], t + -1.0);
    }
}
END_TEST

START_TEST(normal_python_scaling)
{
    enum { N = 32 };
    float raw[N], out[N];
    eq_rng_kernel k = kernel(8, 1);
    eq_rng_kernel_normal_f32(&k, raw, N, NULL);
    k = kernel(8, 1);
    eq_random_normal_f32(&k, 0.1, 0.3, out, N, NULL);
    for (int i = 0; i < N; i++) {
        float t = raw[i] * 0.3f;
        ck_assert_float_eq(out[i], t + 0.1f);
    }
    k = kernel(8, 1);
    eq_rng_kernel_truncated_normal_f32(&k, raw, N, NULL);
    k = kernel(8, 1);
    eq_random_truncated_normal_f32(&k, -2.0, 0.5, out, N, NULL);
    for (int i = 0; i < N; i++) {
        float t = raw[i] * 0.5f;
        ck_assert_float_eq(out[i], t + -2.0f);
    }
    double rd[N], od[N];
    k = kernel(8, 1);
    eq_rng_kernel_normal_f64(&k, rd, N, NULL);
    k = kernel(8, 1);
    eq_random_normal_f64(&k, 0.1, 0.3, od, N, NULL);
    for (int i = 0; i < N; i++)
        ck_assert_double_eq(od[i], rd[i] * 0.3 + 0.1);
    k = kernel(8, 1);
    eq_rng_kernel_truncated_normal_f64(&k, rd, N, NULL);
    k = kernel(8, 1);
    eq_random_truncated_normal_f64(&k, 1.0, 2.0, od, N, NULL);
    for (int i = 0; i < N; i++)
        ck_assert_double_eq(od[i], rd[i] * 2.0 + 1.0);
}
END_TEST

/* ---- kernel seeding ------------------------------------------------------------ */

START_TEST(unseeded_is_explicit)
{
    eq_rng_kernel k;
    eq_error err;
    eq_seed_pair zero = {0, 0};
    ck_assert_int_eq(eq_rng_kernel_init(&k, zero, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "unseeded"));
    eq_rng_kernel a, b;
    ck_assert_int_eq(eq_rng_kernel_init_nondeterministic(&a, &err), EQ_OK);
    ck_assert_int_eq(eq_rng_kernel_init_nondeterministic(&b, &err), EQ_OK);
    /* 128 fresh bits each time: equal pairs would be a broken entropy source */
    ck_assert(a.seeds.seed != b.seeds.seed || a.seeds.seed2 != b.seeds.seed2);
    eq_philox g;
    eq_philox_init(&g, a.seeds.seed, a.seeds.seed2);
    ck_assert_mem_eq(&g, &a.gen, sizeof g);
    /* a pair with one zero is seeded */
    eq_seed_pair half = {0, 2147483647};
    ck_assert_int_eq(eq_rng_kernel_init(&k, half, &err), EQ_OK);
    ck_assert_uint_eq(k.gen.ctr[2], 2147483647u);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(eq_rng_op_name(EQ_RNG_UNIFORM), "RandomUniform");
    ck_assert_str_eq(eq_rng_op_name(EQ_RNG_NORMAL), "RandomStandardNormal");
    ck_assert_str_eq(eq_rng_op_name(EQ_RNG_TRUNCATED_NORMAL), "TruncatedNormal");
    ck_assert_str_eq(eq_rng_op_name(EQ_RNG_UNIFORM_INT), "RandomUniformInt");
    ck_assert_str_eq(eq_rng_dtype_name(EQ_RNG_I64), "int64");
    ck_assert_int_eq(eq_rng_dtype_of(EQ_F64), EQ_RNG_F64);
    ck_assert_int_eq(eq_rng_dtype_of(EQ_F32), EQ_RNG_F32);
}
END_TEST

/* ---- statistics (10^6 draws; bounds are 6 standard errors) ----------------- */

enum { BIG = 1000000 };

static void moments(const float *x, int n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / n;
}

START_TEST(uniform_statistics)
{
    float *x = eq_malloc(BIG * sizeof *x);
    ck_assert_ptr_nonnull(x);
    eq_rng_kernel k = kernel(2024, 7);
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, x, BIG, NULL), EQ_OK);
    /* count, then assert once: every ck_assert writes to Check's pipe */
    int64_t outside = 0, off_grid = 0;
    for (int i = 0; i < BIG; i++) {
        outside += !(x[i] >= 0.0f && x[i] < 1.0f);
        float scaled = x[i] * 8388608.0f; /* 2^23: every value is j * 2^-23 */
        off_grid += scaled != floorf(scaled);
    }
    ck_assert_int_eq(outside, 0);
    ck_assert_int_eq(off_grid, 0);
    double mean, var;
    moments(x, BIG, &mean, &var);
    /* mean 1/2 - 2^-24, sd 1/sqrt(12); se(var) = sqrt(1/80 - 1/144)/sqrt(n) */
    ck_assert_double_le(fabs(mean - (0.5 - ldexp(1, -24))), 6 * sqrt(1.0 / 12) / 1000);
    ck_assert_double_le(fabs(var - 1.0 / 12), 6 * sqrt(1.0 / 80 - 1.0 / 144) / 1000);
    eq_free(x);
}
END_TEST

START_TEST(normal_statistics)
{
    float *x = eq_malloc(BIG * sizeof *x);
    ck_assert_ptr_nonnull(x);
    eq_rng_kernel k = kernel(2024, 8);
    eq_rng_kernel_normal_f32(&k, x, BIG, NULL);
    double mean, var;
    moments(x, BIG, &mean, &var);
    ck_assert_double_le(fabs(mean), 6.0 / 1000);             /* se 1/sqrt(n) */
    ck_assert_double_le(fabs(var - 1.0), 6 * sqrt(2.0) / 1000); /* se sqrt(2/n) */
    float mx = 0;
    for (int i = 0; i < BIG; i++)
        mx = fmaxf(mx, fabsf(x[i]));
    ck_assert_float_le(mx, 5.6778f); /* the 1e-7 clamp bounds |z| */
    ck_assert_float_gt(mx, 4.0f);

    k = kernel(2024, 9);
    eq_rng_kernel_truncated_normal_f32(&k, x, BIG, NULL);
    int64_t outside = 0;
    for (int i = 0; i < BIG; i++)
        outside += !(x[i] > -2.0f && x[i] < 2.0f);
    ck_assert_int_eq(outside, 0);
    moments(x, BIG, &mean, &var);
    /* truncated to (-2,2): var 0.87962566^2; x^2 <= 4 bounds the fourth
     * moment by 4 var, so se(var) <= sqrt(4 var / n) */
    double tv = 0.87962566103423978 * 0.87962566103423978;
    ck_assert_double_le(fabs(mean), 6 * sqrt(tv) / 1000);
    ck_assert_double_le(fabs(var - tv), 6 * sqrt(4 * tv) / 1000);
    ck_assert_double_le(fabs(sqrt(var) - 0.8796), 0.01);
    eq_free(x);
}
END_TEST

/* A big fill is split over the threads at Philox block boundaries: the
 * same floats as one thread makes, for lengths that are not whole blocks,
 * both from a fresh kernel and after a first execution moved it on; the
 * scaled (Python-level) uniform too. */
START_TEST(uniform_fill_same_at_any_thread_count)
{
    const int64_t ns[] = {1 << 18, (1 << 20) + 3, 3000001};
    for (size_t c = 0; c < 3; c++) {
        int64_t n = ns[c];
        float *a = eq_malloc((size_t)n * sizeof *a), *b = eq_malloc((size_t)n * sizeof *b);
        ck_assert(a && b);
        eq_uniform_args u = {-0.25, 0.75, 0};
        for (int threads = 1; threads <= 2; threads++) {
            eq_blas_set_threads(threads);
            float *out = threads == 1 ? a : b;
            eq_rng_kernel k = kernel(7, 3);
            ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, out, 5, NULL), EQ_OK);
            ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, out, n, NULL), EQ_OK);
            if (c == 2)
                ck_assert_int_eq(eq_random_uniform_f32(&k, &u, out, n, NULL), EQ_OK);
        }
        ck_assert_msg(memcmp(a, b, (size_t)n * sizeof *a) == 0, "n %lld differs", (long long)n);
        eq_free(a);
        eq_free(b);
    }
    /* the first 12 of a big fill are still the spec's vector */
    eq_blas_set_threads(2);
    float *x = eq_malloc((size_t)(1 << 20) * sizeof *x);
    eq_rng_kernel k = kernel(42, 0);
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, x, 1 << 20, NULL), EQ_OK);
    static const double want[12] = {0.83545911, 0.91629732, 0.49464953, 0.52111328,
                                    0.71194923, 0.45645106, 0.11994720, 0.60958803,
                                    0.84381545, 0.05754983, 0.60490716, 0.07535851};
    assert_f32s(x, want, 12, 6e-9);
    /* and block 2^17 + 10, in the second thread's half, is the stream's
     * block of that number */
    eq_rng_kernel k2 = kernel(42, 0);
    float tail[8];
    eq_philox g = eq_rng_kernel_reserve(&k2, 1 << 20);
    eq_philox_skip(&g, (1 << 17) + 10);
    uint32_t w[4];
    eq_philox_next(&g, w);
    for (int i = 0; i < 4; i++)
        tail[i] = eq_rng_u32_to_float(w[i]);
    ck_assert_int_eq(memcmp(tail, x + 4 * ((1 << 17) + 10), 4 * sizeof(float)), 0);
    eq_free(x);
}
END_TEST

START_TEST(speed_one_million)
{
    /* Not a benchmark: a guard that 10^6 values take milliseconds (the
     * bound is loose for sanitizer builds and a busy machine). */
    float *x = eq_malloc(BIG * sizeof *x);
    ck_assert_ptr_nonnull(x);
    eq_rng_kernel k = kernel(1, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    eq_rng_kernel_uniform_f32(&k, x, BIG, NULL);
    eq_rng_kernel_normal_f32(&k, x, BIG, NULL);
    eq_rng_kernel_truncated_normal_f32(&k, x, BIG, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    ck_assert_msg(s < 2.0, "3 x 10^6 random values took %.3f s", s);
    eq_free(x);
}
END_TEST

/* ---- initializers ---------------------------------------------------------------- */

START_TEST(fans)
{
    int64_t s1[1] = {5}, s2[2] = {3, 4}, s4[4] = {3, 3, 16, 32}, s5[5] = {2, 3, 4, 5, 6};
    eq_fans f = eq_init_fans(0, s1);
    ck_assert_double_eq(f.fan_in, 1);
    ck_assert_double_eq(f.fan_out, 1);
    f = eq_init_fans(1, s1);
    ck_assert_double_eq(f.fan_in, 5);
    ck_assert_double_eq(f.fan_out, 5);
    f = eq_init_fans(2, s2);
    ck_assert_double_eq(f.fan_in, 3);
    ck_assert_double_eq(f.fan_out, 4);
    f = eq_init_fans(4, s4); /* HWIO: in*kh*kw, out*kh*kw */
    ck_assert_double_eq(f.fan_in, 144);
    ck_assert_double_eq(f.fan_out, 288);
    f = eq_init_fans(5, s5);
    ck_assert_double_eq(f.fan_in, 5 * 24);
    ck_assert_double_eq(f.fan_out, 6 * 24);

    f = eq_init_fans_slim(0, s1);
    ck_assert_double_eq(f.fan_in, 1);
    ck_assert_double_eq(f.fan_out, 1);
    f = eq_init_fans_slim(1, s1);
    ck_assert_double_eq(f.fan_in, 5);
    ck_assert_double_eq(f.fan_out, 5);
    f = eq_init_fans_slim(2, s2);
    ck_assert_double_eq(f.fan_in, 3);
    ck_assert_double_eq(f.fan_out, 4);
    f = eq_init_fans_slim(4, s4);
    ck_assert_double_eq(f.fan_in, 144);
    ck_assert_double_eq(f.fan_out, 288);
}
END_TEST

static eq_tensor *tensor(eq_arena *a, eq_dtype dt, int rank, const int64_t *shape)
{
    eq_tensor *t = eq_tensor_new(a, dt, rank, shape, NULL);
    ck_assert_ptr_nonnull(t);
    return t;
}

static eq_init named(const char *name)
{
    eq_init init;
    eq_error err;
    ck_assert_msg(eq_init_parse(name, &init, &err) == EQ_OK, "%s", err.message);
    ck_assert_str_eq(init.name, name);
    return init;
}

START_TEST(glorot_uniform_example)
{
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {3, 3, 16, 32};
    eq_tensor *t = tensor(a, EQ_F32, 4, shape);
    eq_init init = named("glorot_uniform");
    eq_rng_kernel k = kernel(42, 0);
    ck_assert_int_eq(eq_init_fill(&init, &k, t, NULL), EQ_OK);
    static const double want[4] = {0.07906847, 0.09812222, -0.00126112, 0.00497644};
    assert_f32s(eq_tensor_f32(t), want, 4, 6e-9);
    ck_assert_int_eq(k.executions, 1);
    ck_assert_uint_eq(k.gen.ctr[0], 4608 * 256);

    /* the f32 limit: sqrt(6/432) rounded, 0.117851130664... */
    float lim = (float)sqrt(6.0 / 432.0);
    ck_assert_double_eq_tol(lim, 0.117851130664, 1e-12);
    float *v = eq_tensor_f32(t);
    int64_t outside = 0;
    for (int64_t i = 0; i < 4608; i++)
        outside += !(v[i] >= -lim && v[i] < lim);
    ck_assert_int_eq(outside, 0);

    /* slim's xavier uniform gives the same numbers for this shape */
    eq_tensor *s = tensor(a, EQ_F32, 4, shape);
    eq_init x = named("xavier_uniform");
    k = kernel(42, 0);
    eq_init_fill(&x, &k, s, NULL);
    ck_assert_mem_eq(s->data, t->data, eq_tensor_nbytes(t));
    eq_init xi = named("xavier_initializer");
    ck_assert_int_eq(xi.kind, EQ_INIT_SLIM_VARIANCE_SCALING);
    ck_assert_int_eq(xi.distribution, EQ_VS_UNIFORM);
    k = kernel(42, 0);
    eq_init_fill(&xi, &k, s, NULL);
    ck_assert_mem_eq(s->data, t->data, eq_tensor_nbytes(t));

    /* float64 tensors take the float64 ops */
    eq_tensor *d = tensor(a, EQ_F64, 4, shape);
    k = kernel(42, 0);
    ck_assert_int_eq(eq_init_fill(&init, &k, d, NULL), EQ_OK);
    eq_rng_kernel k2 = kernel(42, 0);
    double raw;
    eq_rng_kernel_uniform_f64(&k2, &raw, 1, NULL);
    double limd = sqrt(3.0 * (1.0 / 216.0));
    ck_assert_double_eq(eq_tensor_f64(d)[0], raw * (limd - -limd) + -limd);
    eq_arena_free(a);
}
END_TEST

/* A normal-family initializer is raw*stddev + 0 in float32, where stddev
 * is the initializer's double formula rounded to float. */
static void check_stddev(const eq_init *init, const int64_t *shape, int rank, eq_rng_op op,
                         double stddev)
{
    eq_arena *a = eq_arena_new(0);
    eq_tensor *t = tensor(a, EQ_F32, rank, shape);
    eq_rng_kernel k = kernel(42, 0);
    ck_assert_int_eq(eq_init_fill(init, &k, t, NULL), EQ_OK);
    ck_assert_int_eq(eq_init_rng_op(init), op);
    float raw[8];
    k = kernel(42, 0);
    if (op == EQ_RNG_TRUNCATED_NORMAL)
        eq_rng_kernel_truncated_normal_f32(&k, raw, 8, NULL);
    else
        eq_rng_kernel_normal_f32(&k, raw, 8, NULL);
    for (int i = 0; i < 8; i++) {
        float p = raw[i] * (float)stddev;
        ck_assert_msg(eq_tensor_f32(t)[i] == p + 0.0f, "%s element %d: %.9g vs %.9g",
                      init->name, i, (double)eq_tensor_f32(t)[i], (double)p);
    }
    eq_arena_free(a);
}

START_TEST(normal_initializer_stddevs)
{
    const double c = 0.87962566103423978;
    int64_t hwio[4] = {3, 3, 16, 32}, dense[2] = {100, 10};
    /* the spec's glorot_normal stddev for this kernel */
    ck_assert_double_eq_tol(sqrt(1.0 / 216) / c, 0.0773526567, 1e-10);
    eq_init g = named("glorot_normal");
    check_stddev(&g, hwio, 4, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.0 / 216) / c);
    eq_init he = named("he_normal");
    check_stddev(&he, hwio, 4, EQ_RNG_TRUNCATED_NORMAL, sqrt(2.0 / 144) / c);
    eq_init vs = named("variance_scaling"); /* 1.0, fan_in, truncated */
    check_stddev(&vs, dense, 2, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.0 / 100) / c);
    vs.distribution = EQ_VS_NORMAL; /* the deprecated alias: also truncated */
    check_stddev(&vs, dense, 2, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.0 / 100) / c);
    vs.distribution = EQ_VS_UNTRUNCATED_NORMAL; /* random_normal, no correction */
    vs.mode = EQ_FAN_OUT;
    check_stddev(&vs, dense, 2, EQ_RNG_NORMAL, sqrt(1.0 / 10));
    eq_init ln = named("lecun_normal");
    check_stddev(&ln, dense, 2, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.0 / 100) / c);
    /* slim: sqrt(1.3 * factor / n), no 0.8796 */
    eq_init xn = named("xavier_normal");
    check_stddev(&xn, hwio, 4, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.3 * 1.0 / 216));
    eq_init sv = named("slim_variance_scaling"); /* factor 2, FAN_IN */
    check_stddev(&sv, hwio, 4, EQ_RNG_TRUNCATED_NORMAL, sqrt(1.3 * 2.0 / 144));
    eq_init tn = named("truncated_normal");
    tn.stddev = 0.02;
    check_stddev(&tn, dense, 2, EQ_RNG_TRUNCATED_NORMAL, 0.02);
    eq_init rn = named("random_normal");
    rn.stddev = 0.5;
    check_stddev(&rn, dense, 2, EQ_RNG_NORMAL, 0.5);
}
END_TEST

START_TEST(uniform_initializers)
{
    eq_arena *a = eq_arena_new(0);
    int64_t shape[2] = {20, 5};
    eq_tensor *t = tensor(a, EQ_F32, 2, shape);
    float raw[100];
    eq_rng_kernel k = kernel(7, 7);
    eq_rng_kernel_uniform_f32(&k, raw, 100, NULL);

    struct {
        const char *name;
        double limit;
    } cases[] = {
        {"he_uniform", sqrt(3.0 * (2.0 / 20))},
        {"lecun_uniform", sqrt(3.0 * (1.0 / 20))},
        {"glorot_uniform", sqrt(3.0 * (1.0 / 12.5))},
        {"xavier_uniform", sqrt(3.0 * 1.0 / 12.5)},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        eq_init init = named(cases[c].name);
        ck_assert_int_eq(eq_init_rng_op(&init), EQ_RNG_UNIFORM);
        k = kernel(7, 7);
        eq_init_fill(&init, &k, t, NULL);
        float lo = (float)-cases[c].limit, hi = (float)cases[c].limit;
        for (int i = 0; i < 100; i++) {
            float p = raw[i] * (hi - lo);
            ck_assert_float_eq(eq_tensor_f32(t)[i], p + lo);
        }
    }
    /* random_uniform defaults: the raw output, bitwise */
    eq_init ru = named("random_uniform");
    k = kernel(7, 7);
    eq_init_fill(&ru, &k, t, NULL);
    ck_assert_mem_eq(t->data, raw, sizeof raw);
    /* random_uniform(-0.05, 0.05) given as floats */
    ru.uniform.minval = -0.05;
    ru.uniform.maxval = 0.05;
    ru.uniform.flags = 0;
    k = kernel(7, 7);
    eq_init_fill(&ru, &k, t, NULL);
    for (int i = 0; i < 100; i++) {
        float p = raw[i] * (0.05f - -0.05f);
        ck_assert_float_eq(eq_tensor_f32(t)[i], p + -0.05f);
    }
    /* variance_scaling(3.0, fan_out, uniform): limit sqrt(9/5) */
    eq_init vs = named("variance_scaling");
    vs.scale = 3.0;
    vs.mode = EQ_FAN_OUT;
    vs.distribution = EQ_VS_UNIFORM;
    k = kernel(7, 7);
    eq_init_fill(&vs, &k, t, NULL);
    float l = (float)sqrt(3.0 * (3.0 / 5));
    ck_assert_float_eq(eq_tensor_f32(t)[0], raw[0] * (l - -l) + -l);
    eq_arena_free(a);
}
END_TEST

START_TEST(constant_initializers)
{
    eq_arena *a = eq_arena_new(0);
    int64_t shape[1] = {5};
    eq_tensor *t = tensor(a, EQ_F32, 1, shape);
    eq_init z = named("zeros"), o = named("ones"), c = named("constant");
    ck_assert(!eq_init_is_random(&z) && !eq_init_is_random(&o) && !eq_init_is_random(&c));
    ck_assert(eq_init_is_random(&(eq_init){.kind = EQ_INIT_TRUNCATED_NORMAL}));
    ck_assert_int_eq(eq_init_fill(&o, NULL, t, NULL), EQ_OK);
    ck_assert_float_eq(eq_tensor_f32(t)[4], 1.0f);
    ck_assert_int_eq(eq_init_fill(&z, NULL, t, NULL), EQ_OK);
    ck_assert_float_eq(eq_tensor_f32(t)[2], 0.0f);
    ck_assert_double_eq(c.value, 0.0); /* compat.v1 Constant(value=0) */
    c.value = 0.1;
    ck_assert_int_eq(eq_init_fill(&c, NULL, t, NULL), EQ_OK);
    ck_assert_float_eq(eq_tensor_f32(t)[0], 0.1f);
    eq_arena_free(a);
}
END_TEST

START_TEST(initializer_errors)
{
    eq_init init;
    eq_error err;
    ck_assert_int_eq(eq_init_parse("glorot", &init, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "unknown initializer 'glorot'"));
    ck_assert_ptr_nonnull(strstr(err.message, "glorot_uniform"));
    ck_assert_ptr_nonnull(strstr(err.message, "xavier_initializer"));
    ck_assert_int_eq(eq_init_parse(NULL, &init, &err), EQ_ERR_INVALID);

    eq_fan_mode m;
    ck_assert_int_eq(eq_init_mode_parse("FAN_AVG", &m, &err), EQ_OK);
    ck_assert_int_eq(m, EQ_FAN_AVG);
    ck_assert_int_eq(eq_init_mode_parse("fan_out", &m, &err), EQ_OK);
    ck_assert_int_eq(m, EQ_FAN_OUT);
    ck_assert_int_eq(eq_init_mode_parse("fan_sum", &m, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "fan_sum"));
    eq_vs_distribution d;
    ck_assert_int_eq(eq_init_distribution_parse("untruncated_normal", &d, &err), EQ_OK);
    ck_assert_int_eq(d, EQ_VS_UNTRUNCATED_NORMAL);
    ck_assert_int_eq(eq_init_distribution_parse("Uniform", &d, &err), EQ_OK);
    ck_assert_int_eq(d, EQ_VS_UNIFORM);
    ck_assert_int_eq(eq_init_distribution_parse("gamma", &d, &err), EQ_ERR_INVALID);

    eq_arena *a = eq_arena_new(0);
    int64_t shape[2] = {0, 4};
    eq_tensor *t = tensor(a, EQ_F32, 2, shape);
    eq_rng_kernel k = kernel(1, 1);
    init = named("xavier_normal"); /* slim, fan_in + fan_out = 0 + 4: fine */
    ck_assert_int_eq(eq_init_fill(&init, &k, t, &err), EQ_OK);
    init.mode = EQ_FAN_IN; /* n = 0: Python's ZeroDivisionError */
    ck_assert_int_eq(eq_init_fill(&init, &k, t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "[0, 4]"));
    init = named("glorot_uniform"); /* compat.v1 takes max(1, n) */
    ck_assert_int_eq(eq_init_fill(&init, &k, t, &err), EQ_OK);
    init.scale = 0.0;
    ck_assert_int_eq(eq_init_fill(&init, &k, t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "scale must be a positive float"));
    init = named("xavier_uniform");
    init.distribution = EQ_VS_UNTRUNCATED_NORMAL;
    ck_assert_int_eq(eq_init_check(&init, &err), EQ_ERR_INVALID);
    init.distribution = EQ_VS_UNIFORM;
    init.scale = -1;
    ck_assert_int_eq(eq_init_check(&init, &err), EQ_ERR_INVALID);
    init = named("truncated_normal");
    ck_assert_int_eq(eq_init_fill(&init, NULL, t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "no random kernel"));
    eq_arena_free(a);
}
END_TEST

static Suite *random_suite(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, uniform_42_0_first_12);
    tcase_add_test(tc, uniform_second_execution_skips_256n);
    tcase_add_test(tc, uniform_num_random_ops_seeds);
    tcase_add_test(tc, normal_and_truncated_42_0);
    tcase_add_test(tc, uniform_f64_42_0);
    tcase_add_test(tc, normal_5_1_docstring);
    tcase_add_test(tc, fixed_groups_use_block_i_over_g);
    tcase_add_test(tc, partial_groups_are_prefixes);
    tcase_add_test(tc, truncated_matches_reference);
    tcase_add_test(tc, int_bounds_and_errors);
    tcase_add_test(tc, uniform_python_bounds);
    tcase_add_test(tc, normal_python_scaling);
    tcase_add_test(tc, unseeded_is_explicit);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    TCase *st = tcase_create("statistics");
    tcase_add_test(st, uniform_statistics);
    tcase_add_test(st, normal_statistics);
    tcase_add_test(st, speed_one_million);
    tcase_add_test(st, uniform_fill_same_at_any_thread_count);
    suite_add_tcase(s, st);
    TCase *in = tcase_create("initializers");
    tcase_add_test(in, fans);
    tcase_add_test(in, glorot_uniform_example);
    tcase_add_test(in, normal_initializer_stddevs);
    tcase_add_test(in, uniform_initializers);
    tcase_add_test(in, constant_initializers);
    tcase_add_test(in, initializer_errors);
    suite_add_tcase(s, in);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(random_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
