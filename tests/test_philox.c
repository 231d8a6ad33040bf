/* test_philox.c - Philox4x32-10: Random123 known answers, TF's seeding,
 * counter arithmetic, and the word -> value transforms. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "eq_rng.h"

typedef struct kat {
    uint32_t ctr[4], key[2], out[4];
} kat;

/* Random123 tests/kat_vectors, philox4x32 (spec 1.5). */
static const kat KAT10[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};
static const kat KAT7[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
};

static void assert_words(const uint32_t got[4], const uint32_t want[4])
{
    for (int i = 0; i < 4; i++)
        ck_assert_msg(got[i] == want[i], "word %d: got %08x want %08x", i, got[i], want[i]);
}

START_TEST(kat_10_rounds)
{
    uint32_t out[4];
    for (size_t i = 0; i < 3; i++) {
        eq_philox_block(KAT10[i].ctr, KAT10[i].key, out);
        assert_words(out, KAT10[i].out);
        eq_philox_block_rounds(KAT10[i].ctr, KAT10[i].key, 10, out);
        assert_words(out, KAT10[i].out);
    }
}
END_TEST

START_TEST(kat_7_rounds)
{
    uint32_t out[4];
    for (size_t i = 0; i < 3; i++) {
        eq_philox_block_rounds(KAT7[i].ctr, KAT7[i].key, 7, out);
        assert_words(out, KAT7[i].out);
    }
}
END_TEST

/* A second, plainer reading of spec 1.2 (the key schedule precomputed). */
static void naive_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    for (uint32_t r = 0; r < 10; r++) {
        uint32_t k0 = key[0] + r * 0x9E3779B9u, k1 = key[1] + r * 0xBB67AE85u;
        uint64_t p0 = (uint64_t)0xD2511F53u * x[0], p1 = (uint64_t)0xCD9E8D57u * x[2];
        uint32_t y[4] = {(uint32_t)(p1 >> 32) ^ x[1] ^ k0, (uint32_t)p1,
                         (uint32_t)(p0 >> 32) ^ x[3] ^ k1, (uint32_t)p0};
        memcpy(x, y, sizeof x);
    }
    memcpy(out, x, sizeof x);
}

START_TEST(block_matches_naive)
{
    uint32_t ctr[4] = {1, 2, 3, 4}, key[2] = {5, 6}, a[4], b[4];
    for (int t = 0; t < 1000; t++) {
        eq_philox_block(ctr, key, a);
        naive_block(ctr, key, b);
        assert_words(a, b);
        memcpy(ctr, a, sizeof ctr); /* walk through varied inputs */
        key[0] ^= a[0];
        key[1] += a[1];
    }
}
END_TEST

START_TEST(tf_seeding)
{
    eq_philox g;
    eq_philox_init(&g, 42, 0);
    ck_assert_uint_eq(g.key[0], 42);
    ck_assert_uint_eq(g.key[1], 0);
    uint32_t out[4];
    eq_philox_next(&g, out);
    const uint32_t want[4] = {0x9ceaf053, 0x77f5493b, 0x12bf50ad, 0x5742b3d7};
    assert_words(out, want);
    ck_assert_uint_eq(g.ctr[0], 1);

    /* key = (lo, hi) of seed; counter = (0, 0, lo, hi) of seed2 */
    eq_philox_init(&g, INT64_C(0x0000000100000002), INT64_C(0x0000000300000004));
    ck_assert_uint_eq(g.key[0], 2);
    ck_assert_uint_eq(g.key[1], 1);
    ck_assert_uint_eq(g.ctr[0], 0);
    ck_assert_uint_eq(g.ctr[1], 0);
    ck_assert_uint_eq(g.ctr[2], 4);
    ck_assert_uint_eq(g.ctr[3], 3);
    eq_philox_init(&g, -1, -2); /* int64 bits as two's complement */
    ck_assert_uint_eq(g.key[0], 0xffffffffu);
    ck_assert_uint_eq(g.key[1], 0xffffffffu);
    ck_assert_uint_eq(g.ctr[2], 0xfffffffeu);
    ck_assert_uint_eq(g.ctr[3], 0xffffffffu);
}
END_TEST

START_TEST(increment_carries)
{
    eq_philox g = {{0, 0}, {0xffffffff, 0xffffffff, 0xffffffff, 5}};
    uint32_t out[4], want[4];
    eq_philox_block(g.ctr, g.key, want);
    eq_philox_next(&g, out);
    assert_words(out, want); /* the block at the old counter */
    ck_assert_uint_eq(g.ctr[0], 0);
    ck_assert_uint_eq(g.ctr[1], 0);
    ck_assert_uint_eq(g.ctr[2], 0);
    ck_assert_uint_eq(g.ctr[3], 6);

    eq_philox h = {{0, 0}, {0xffffffff, 7, 0, 0}};
    eq_philox_next(&h, out);
    ck_assert_uint_eq(h.ctr[0], 0);
    ck_assert_uint_eq(h.ctr[1], 8);
    ck_assert_uint_eq(h.ctr[2], 0);

    eq_philox w = {{0, 0}, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}};
    eq_philox_next(&w, out); /* wraps to zero */
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(w.ctr[i], 0);
}
END_TEST

typedef unsigned __int128 u128;

static u128 ctr_value(const uint32_t c[4])
{
    return (u128)c[0] | (u128)c[1] << 32 | (u128)c[2] << 64 | (u128)c[3] << 96;
}

/* TF's PhiloxRandom::Skip, written from its description, as a reference for
 * the counts it handles (spec 1.2). */
static void tf_skip(uint32_t c[4], uint64_t count)
{
    uint32_t lo = (uint32_t)count, hi = (uint32_t)(count >> 32);
    c[0] += lo;
    if (c[0] < lo)
        ++hi;
    c[1] += hi;
    if (c[1] < hi && ++c[2] == 0)
        ++c[3];
}

START_TEST(skip_adds_to_128_bits)
{
    const uint32_t starts[][4] = {{0, 0, 0, 0},
                                  {0xffffffff, 0, 0, 0},
                                  {0xffffffff, 0xffffffff, 0, 0},
                                  {0xfffffff0, 0xffffffff, 0xffffffff, 1},
                                  {0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321},
                                  {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}};
    const uint64_t counts[] = {0,          1,           255,          256,
                               0xffffffff, UINT64_C(1) << 32, UINT64_C(0x123456789abc),
                               UINT64_C(0xfffffffeffffffff), UINT64_MAX};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++)
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            eq_philox g = {{1, 2}, {starts[s][0], starts[s][1], starts[s][2], starts[s][3]}};
            eq_philox_skip(&g, counts[c]);
            u128 want = ctr_value(starts[s]) + counts[c];
            ck_assert_msg(ctr_value(g.ctr) == want, "start %zu count %zu", s, c);
            if (counts[c] < UINT64_MAX - 0xffffffffu) { /* where TF carries right */
                uint32_t t[4];
                memcpy(t, starts[s], sizeof t);
                tf_skip(t, counts[c]);
                ck_assert(ctr_value(t) == want);
            }
        }
}
END_TEST

START_TEST(skip_equals_repeated_next)
{
    eq_philox a, b;
    eq_philox_init(&a, 7, 9);
    b = a;
    uint32_t out[4], want[4];
    for (int i = 0; i < 1000; i++)
        eq_philox_next(&a, out);
    eq_philox_skip(&b, 1000);
    ck_assert_mem_eq(a.ctr, b.ctr, sizeof a.ctr);
    eq_philox_next(&a, out);
    eq_philox_next(&b, want);
    assert_words(out, want);
}
END_TEST

START_TEST(fill_equals_next)
{
    /* the batched path (8 lanes) and the tail, across a 96-bit carry */
    static uint32_t words[4 * 40];
    for (int64_t nb = 0; nb <= 40; nb++) {
        eq_philox a = {{11, 22}, {0xfffffffa, 0xffffffff, 0xffffffff, 3}}, b = a;
        eq_philox_fill(&a, words, nb);
        for (int64_t i = 0; i < nb; i++) {
            uint32_t want[4];
            eq_philox_next(&b, want);
            assert_words(words + 4 * i, want);
        }
        ck_assert_mem_eq(a.ctr, b.ctr, sizeof a.ctr);
    }
}
END_TEST

START_TEST(float_transform)
{
    ck_assert_float_eq(eq_rng_u32_to_float(0), 0.0f);
    ck_assert_float_eq(eq_rng_u32_to_float(1), ldexpf(1.0f, -23));
    ck_assert_float_eq(eq_rng_u32_to_float(0x7fffff), 1.0f - ldexpf(1.0f, -23));
    ck_assert_float_eq(eq_rng_u32_to_float(0xff800000), 0.0f); /* only the low 23 bits */
    ck_assert_float_eq(eq_rng_u32_to_float(0x400000), 0.5f);
    ck_assert_double_eq(eq_rng_u64_to_double(0, 0), 0.0);
    ck_assert_double_eq(eq_rng_u64_to_double(0xfffff, 0xffffffff), 1.0 - ldexp(1.0, -52));
    ck_assert_double_eq(eq_rng_u64_to_double(0xfff00000, 0), 0.0);
    ck_assert_double_eq(eq_rng_u64_to_double(0x80000, 0), 0.5);
    ck_assert_double_eq(eq_rng_u64_to_double(0, 1), ldexp(1.0, -52));
}
END_TEST

START_TEST(box_muller_hand_values)
{
    float z0, z1;
    /* u1 = 0.5, angle 0: z0 = sin(0) r = 0, z1 = r = sqrt(2 ln 2) */
    eq_rng_box_muller_f32(0x400000, 0, &z0, &z1);
    ck_assert_float_eq(z0, 0.0f);
    ck_assert_float_eq_tol(z1, 1.1774100225f, 1e-6f);
    /* u1 = 0 is clamped to 1e-7: r = sqrt(-2 ln 1e-7) = 5.6777..; angle pi/2 */
    eq_rng_box_muller_f32(0, 0x200000, &z0, &z1);
    ck_assert_float_eq_tol(z0, 5.67773f, 1e-4f);
    ck_assert_float_lt(fabsf(z1), 1e-5f);
    /* the sine output comes first: angle pi/6 (u = 1/12) */
    eq_rng_box_muller_f32(0x400000, (uint32_t)(0x800000 / 12), &z0, &z1);
    ck_assert_float_eq_tol(z0, 0.5f * 1.1774100225f, 1e-5f);
    ck_assert_float_eq_tol(z1, 0.8660254f * 1.1774100225f, 1e-5f);

    double d0, d1;
    eq_rng_box_muller_f64(0x80000, 0, 0, 0, &d0, &d1); /* u1 = 0.5, angle 0 */
    ck_assert_double_eq(d0, 0.0);
    ck_assert_double_eq_tol(d1, sqrt(2.0 * log(2.0)), 1e-15);
    eq_rng_box_muller_f64(0, 0, 0x40000, 0, &d0, &d1); /* clamp, angle pi/2 */
    ck_assert_double_eq_tol(d0, sqrt(-2.0 * log(1e-7)), 1e-12);
}
END_TEST

START_TEST(box_muller_vs_double_reference)
{
    /* Float Box-Muller against the same formula in double: within a few ulp. */
    eq_philox g;
    eq_philox_init(&g, 3, 4);
    uint32_t w[4];
    for (int i = 0; i < 20000; i++) {
        eq_philox_next(&g, w);
        float z0, z1;
        eq_rng_box_muller_f32(w[0], w[1], &z0, &z1);
        double u1 = eq_rng_u32_to_float(w[0]);
        if (u1 < 1e-7f)
            u1 = 1e-7f;
        double v = (float)(2.0 * M_PI * eq_rng_u32_to_float(w[1]));
        double r = sqrt(-2.0 * log(u1));
        ck_assert_double_le(fabs(z0 - sin(v) * r), 4e-6 * (1.0 + r));
        ck_assert_double_le(fabs(z1 - cos(v) * r), 4e-6 * (1.0 + r));
    }
}
END_TEST

static Suite *philox_suite(void)
{
    Suite *s = suite_create("philox");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, kat_10_rounds);
    tcase_add_test(tc, kat_7_rounds);
    tcase_add_test(tc, block_matches_naive);
    tcase_add_test(tc, tf_seeding);
    tcase_add_test(tc, increment_carries);
    tcase_add_test(tc, skip_adds_to_128_bits);
    tcase_add_test(tc, skip_equals_repeated_next);
    tcase_add_test(tc, fill_equals_next);
    tcase_add_test(tc, float_transform);
    tcase_add_test(tc, box_muller_hand_values);
    tcase_add_test(tc, box_muller_vs_double_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(philox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
