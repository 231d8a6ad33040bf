/* eq_philox.c - Philox4x32-10 as TensorFlow uses it (spec 1). */
#include "eq_rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void eq_philox_init(eq_philox *g, int64_t seed, int64_t seed2)
{
    uint64_t s = (uint64_t)seed, s2 = (uint64_t)seed2;
    g->key[0] = (uint32_t)s;
    g->key[1] = (uint32_t)(s >> 32);
    g->ctr[0] = 0;
    g->ctr[1] = 0;
    g->ctr[2] = (uint32_t)s2;
    g->ctr[3] = (uint32_t)(s2 >> 32);
}

/* Always inlined so the fill loops keep the state in registers. */
static inline __attribute__((always_inline)) void
philox_rounds(const uint32_t ctr[4], const uint32_t key[2], int rounds, uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < rounds; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static inline void ctr_increment(uint32_t c[4])
{
    if (++c[0] == 0 && ++c[1] == 0 && ++c[2] == 0)
        ++c[3];
}

void eq_philox_block_rounds(const uint32_t ctr[4], const uint32_t key[2], int rounds,
                            uint32_t out[4])
{
    EQ_ASSERT(rounds >= 1 && rounds <= 16);
    philox_rounds(ctr, key, rounds, out);
}

void eq_philox_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    philox_rounds(ctr, key, 10, out);
}

void eq_philox_next(eq_philox *g, uint32_t out[4])
{
    philox_rounds(g->ctr, g->key, 10, out);
    ctr_increment(g->ctr);
}

/* LANES blocks side by side, word arrays indexed by lane: the rounds of
 * different blocks are independent, and this layout lets the compiler and
 * the CPU overlap them (about 1.7x the one-block-at-a-time rate here). */
#define LANES 8

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define HAVE_AVX512_PHILOX 1

/* hi and lo 32 bits of m * c for all 16 lanes: vpmuludq multiplies the even
 * lanes, so the odd lanes are shifted down, multiplied, and blended back. */
__attribute__((target("avx512f"))) static inline void mul_hilo(__m512i m, __m512i c,
                                                               __m512i *hi, __m512i *lo)
{
    __m512i even = _mm512_mul_epu32(m, c);
    __m512i odd = _mm512_mul_epu32(m, _mm512_srli_epi64(c, 32));
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

/* 16 blocks at once, lane l holding block b + l. Same arithmetic as
 * philox_rounds, so the words are identical (test_philox checks it). */
__attribute__((target("avx512f"))) static int64_t fill_avx512(uint32_t ctr[4],
                                                             const uint32_t key[2],
                                                             uint32_t *words, int64_t nblocks)
{
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    int64_t b = 0;
    for (; b + 16 <= nblocks; b += 16) {
        uint32_t c[4][16];
        for (int l = 0; l < 16; l++) {
            c[0][l] = ctr[0];
            c[1][l] = ctr[1];
            c[2][l] = ctr[2];
            c[3][l] = ctr[3];
            ctr_increment(ctr);
        }
        __m512i c0 = _mm512_loadu_si512(c[0]), c1 = _mm512_loadu_si512(c[1]);
        __m512i c2 = _mm512_loadu_si512(c[2]), c3 = _mm512_loadu_si512(c[3]);
        uint32_t k0 = key[0], k1 = key[1];
        for (int r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += PHILOX_W0;
                k1 += PHILOX_W1;
            }
            __m512i hi0, lo0, hi1, lo1;
            mul_hilo(m0, c0, &hi0, &lo0);
            mul_hilo(m1, c2, &hi1, &lo1);
            __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
            __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
            c1 = lo1;
            c3 = lo0;
            c0 = n0;
            c2 = n2;
        }
        _mm512_storeu_si512(c[0], c0);
        _mm512_storeu_si512(c[1], c1);
        _mm512_storeu_si512(c[2], c2);
        _mm512_storeu_si512(c[3], c3);
        for (int l = 0; l < 16; l++) {
            uint32_t *o = words + 4 * (b + l);
            o[0] = c[0][l];
            o[1] = c[1][l];
            o[2] = c[2][l];
            o[3] = c[3][l];
        }
    }
    return b;
}
#endif

void eq_philox_fill(eq_philox *g, uint32_t *words, int64_t nblocks)
{
    uint32_t ctr[4] = {g->ctr[0], g->ctr[1], g->ctr[2], g->ctr[3]};
    int64_t b = 0;
#ifdef HAVE_AVX512_PHILOX
    /* About 4x the scalar batches' rate where the CPU has AVX-512. */
    if (__builtin_cpu_supports("avx512f"))
        b = fill_avx512(ctr, g->key, words, nblocks);
#endif
    for (; b + LANES <= nblocks; b += LANES) {
        uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
        for (int l = 0; l < LANES; l++) {
            c0[l] = ctr[0];
            c1[l] = ctr[1];
            c2[l] = ctr[2];
            c3[l] = ctr[3];
            ctr_increment(ctr);
        }
        uint32_t k0 = g->key[0], k1 = g->key[1];
        for (int r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += PHILOX_W0;
                k1 += PHILOX_W1;
            }
            for (int l = 0; l < LANES; l++) {
                uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
                uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
                uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
                c1[l] = (uint32_t)p1;
                c3[l] = (uint32_t)p0;
                c0[l] = n0;
                c2[l] = n2;
            }
        }
        for (int l = 0; l < LANES; l++) {
            uint32_t *o = words + 4 * (b + l);
            o[0] = c0[l];
            o[1] = c1[l];
            o[2] = c2[l];
            o[3] = c3[l];
        }
    }
    for (; b < nblocks; b++) {
        philox_rounds(ctr, g->key, 10, words + 4 * b);
        ctr_increment(ctr);
    }
    for (int i = 0; i < 4; i++)
        g->ctr[i] = ctr[i];
}

void eq_philox_skip(eq_philox *g, uint64_t n)
{
    uint64_t low = ((uint64_t)g->ctr[1] << 32) | g->ctr[0];
    uint64_t sum = low + n;
    g->ctr[0] = (uint32_t)sum;
    g->ctr[1] = (uint32_t)(sum >> 32);
    if (sum < low && ++g->ctr[2] == 0) /* carry into the high 64 bits */
        ++g->ctr[3];
}
