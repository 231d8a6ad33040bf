/* eq_gemm_packed.c - sgemm with an AVX-512 micro-kernel on a prepacked B,
 * or on B as it is (see eq_gemm_packed.h for the contract).
 *
 * Blocking, from the outside in: MC rows of A (their KC-wide slice stays
 * in L2 while every panel of B passes over it), KC steps of k (a panel's
 * KC x 32 slice is 32 KiB: it stays in L1 while the tiles of the MC rows
 * stream past it), panels of 32 columns, tiles of MR rows. A tile keeps
 * its MR x 32 sums in 28 registers; A is read in place (row-major, one
 * broadcast per row and k), so nothing but B is ever copied, and B only
 * when the caller packs it. Between KC blocks the partial sums go through
 * C unchanged (a float32 store and load are exact), which is why neither
 * the blocking, nor the thread split, nor B's layout can change a result.
 *
 * Tried and not kept (interleaved bench_irv2 runs): KC of 192 or 320 and
 * MC of 18 or 72 tiles (within noise), KC of 128 (slower); K split into
 * equal blocks, rows split between the threads at any row instead of at
 * tile boundaries, a finer cost model for the row/column split (within
 * noise). */
#include "eq_gemm_packed.h"

#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "eq_epilogue.h"

#define NR EQ_PACK_NR
#define MR 14
#define KC 256
#define MC (36 * MR)

/* ---- enabling ----------------------------------------------------------- */

static int packed_enabled = -1; /* -1: not decided yet */

static int cpu_has_avx512f(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

static int decide_enabled(void)
{
    const char *e = getenv("EQ_GEMM");
    return !(e && strcmp(e, "blis") == 0) && cpu_has_avx512f();
}

int eq_gemm_packed_enabled(void)
{
    int v = __atomic_load_n(&packed_enabled, __ATOMIC_ACQUIRE);
    if (v < 0) {
        v = decide_enabled();
        __atomic_store_n(&packed_enabled, v, __ATOMIC_RELEASE);
    }
    return v;
}

int eq_gemm_packed_set_enabled(int on)
{
    int old = eq_gemm_packed_enabled();
    on = on && cpu_has_avx512f(); /* never on a CPU without it */
    __atomic_store_n(&packed_enabled, on ? 1 : 0, __ATOMIC_RELEASE);
    return old;
}

/* ---- packing ------------------------------------------------------------ */

size_t eq_packed_floats(int64_t k, int64_t n)
{
    return (size_t)((n + NR - 1) / NR) * (size_t)k * NR;
}

void eq_pack_b(const float *b, int64_t ldb, int64_t k, int64_t n, float *dst)
{
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        int64_t w = n - j0 < NR ? n - j0 : NR;
        for (int64_t p = 0; p < k; p++, dst += NR) {
            memcpy(dst, b + p * ldb + j0, (size_t)w * sizeof *dst);
            for (int64_t j = w; j < NR; j++)
                dst[j] = 0.0f;
        }
    }
}

void eq_pack_b_threads(int threads, const float *b, int64_t ldb, int64_t k, int64_t n,
                       float *dst)
{
    int64_t panels = (n + NR - 1) / NR;
    int nt = threads > 1 && k * n >= ((int64_t)1 << 16) ? threads : 1;
    if (nt > panels)
        nt = (int)panels;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = nt > 1 ? omp_get_thread_num() : 0;
        int tn = nt > 1 ? omp_get_num_threads() : 1;
        int64_t p0 = panels * t / tn, p1 = panels * (t + 1) / tn;
        int64_t j0 = p0 * NR, j1 = p1 * NR < n ? p1 * NR : n;
        if (j1 > j0)
            eq_pack_b(b + j0, ldb, k, j1 - j0, dst + (size_t)p0 * (size_t)k * NR);
    }
}

/* ---- the micro-kernel --------------------------------------------------- */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* What happens to a finished sum: bias (or not), then the residual (or
 * not), then relu/relu6 (or not), exactly eq_act_f32's comparisons: x < 0 ? 0 : x keeps NaN and -0,
 * 6 < r ? 6 : r keeps NaN. */
enum { POST_NONE, POST_RELU, POST_RELU6 };

static inline __attribute__((always_inline)) AVX512 __m512 post(__m512 v, const float *bias,
                                                               const float *res, __mmask16 km,
                                                               int act)
{
    if (bias)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(km, bias));
    if (res)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(km, res));
    if (act != POST_NONE) {
        __m512 zero = _mm512_setzero_ps();
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, zero);
        if (act == POST_RELU6) {
            __m512 six = _mm512_set1_ps(6.0f);
            v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(six, v, _CMP_LT_OQ), v, six);
        }
    }
    return v;
}

/* C[mr rows, the columns in k0|k1] = (first ? 0 : C) + A[mr, kc] * B[kc, 32]
 * where b is a panel slice (32 floats per k) or, when `plain`, rows of B
 * ldb apart read through the column masks; when `last`, the sums get
 * bias + act before they are stored. mr and plain are constants at every
 * call site, so the loops over rows unroll, the sums live in registers and
 * the packed variant keeps its plain loads at a fixed stride (masked loads
 * at a variable stride cost the packed path 11% of IRv2's time). */
static inline __attribute__((always_inline)) AVX512 void
tile(const int mr, const int plain, int64_t kc, const float *a, int64_t lda, const float *b,
     float *c, int64_t ldc, __mmask16 k0, __mmask16 k1, int first, int last,
     const float *bias, const float *res, int64_t ldr, int act, const float *bnext,
     int64_t ldb)
{
    if (!plain)
        ldb = NR;
    __m512 s0[MR], s1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        if (first) {
            s0[i] = _mm512_setzero_ps();
            s1[i] = _mm512_setzero_ps();
        } else {
            s0[i] = _mm512_maskz_loadu_ps(k0, c + i * ldc);
            s1[i] = _mm512_maskz_loadu_ps(k1, c + i * ldc + 16);
        }
    }
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0, b1;
        if (plain) {
            b0 = _mm512_maskz_loadu_ps(k0, b + p * ldb);
            b1 = _mm512_maskz_loadu_ps(k1, b + p * ldb + 16);
        } else {
            b0 = _mm512_loadu_ps(b + p * NR);
            b1 = _mm512_loadu_ps(b + p * NR + 16);
        }
        if (bnext) {
            _mm_prefetch((const char *)(bnext + p * ldb), _MM_HINT_T1);
            _mm_prefetch((const char *)(bnext + p * ldb + 16), _MM_HINT_T1);
        }
#pragma GCC unroll 14
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + p]);
            s0[i] = _mm512_fmadd_ps(av, b0, s0[i]);
            s1[i] = _mm512_fmadd_ps(av, b1, s1[i]);
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
        __m512 v0 = s0[i], v1 = s1[i];
        if (last) {
            const float *r = res ? res + i * ldr : NULL;
            v0 = post(v0, bias, r, k0, act);
            v1 = post(v1, bias ? bias + 16 : NULL, r ? r + 16 : NULL, k1, act);
        }
        _mm512_mask_storeu_ps(c + i * ldc, k0, v0);
        _mm512_mask_storeu_ps(c + i * ldc + 16, k1, v1);
    }
}

/* One tile with a run-time row count and post-processing: a switch onto
 * the specialised bodies (rows 1..MR, and for the last k block the three
 * kinds of post), one function per layout of B. */
#define TILE_ROWS(R, PLAIN)                                                               \
    case R:                                                                               \
        if (!last)                                                                        \
            tile(R, PLAIN, kc, a, lda, b, c, ldc, k0, k1, first, 0, NULL, NULL, 0,        \
                 POST_NONE, bnext, ldb);                                                  \
        else if (act == POST_RELU)                                                        \
            tile(R, PLAIN, kc, a, lda, b, c, ldc, k0, k1, first, 1, bias, res, ldr,       \
                 POST_RELU, bnext, ldb);                                                  \
        else if (act == POST_RELU6)                                                       \
            tile(R, PLAIN, kc, a, lda, b, c, ldc, k0, k1, first, 1, bias, res, ldr,       \
                 POST_RELU6, bnext, ldb);                                                 \
        else                                                                              \
            tile(R, PLAIN, kc, a, lda, b, c, ldc, k0, k1, first, 1, bias, res, ldr,       \
                 POST_NONE, bnext, ldb);                                                  \
        break;

#define TILE_ANY(NAME, PLAIN)                                                             \
    static AVX512 void NAME(int mr, int64_t kc, const float *a, int64_t lda,              \
                            const float *b, float *c, int64_t ldc, __mmask16 k0,          \
                            __mmask16 k1, int first, int last, const float *bias,         \
                            const float *res, int64_t ldr, int act, const float *bnext,   \
                            int64_t ldb)                                                  \
    {                                                                                     \
        switch (mr) {                                                                     \
            TILE_ROWS(14, PLAIN)                                                          \
            TILE_ROWS(13, PLAIN)                                                          \
            TILE_ROWS(12, PLAIN)                                                          \
            TILE_ROWS(11, PLAIN)                                                          \
            TILE_ROWS(10, PLAIN)                                                          \
            TILE_ROWS(9, PLAIN)                                                           \
            TILE_ROWS(8, PLAIN)                                                           \
            TILE_ROWS(7, PLAIN)                                                           \
            TILE_ROWS(6, PLAIN)                                                           \
            TILE_ROWS(5, PLAIN)                                                           \
            TILE_ROWS(4, PLAIN)                                                           \
            TILE_ROWS(3, PLAIN)                                                           \
            TILE_ROWS(2, PLAIN)                                                           \
            TILE_ROWS(1, PLAIN)                                                           \
        }                                                                                 \
    }

TILE_ANY(tile_packed, 0)
TILE_ANY(tile_plain, 1)

typedef struct gemm_job {
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    const float *bp;
    const float *bias;
    const float *res; /* residual added after the bias, or NULL */
    int64_t ldr;
    int act; /* POST_* fused into the store */
    int64_t ldb; /* 0: B packed in panels; else B row-major with this stride */
    float *c;
    int64_t ldc;
} gemm_job;

/* Rows [m0, m1) by panels [p0, p1) of C. */
static AVX512 void region(const gemm_job *jb, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    for (int64_t ic = m0; ic < m1; ic += MC) {
        int64_t mc_end = ic + MC < m1 ? ic + MC : m1;
        for (int64_t pc = 0; pc < jb->k; pc += KC) {
            int64_t kc = jb->k - pc < KC ? jb->k - pc : KC;
            int first = pc == 0, last = pc + kc == jb->k;
            for (int64_t jp = p0; jp < p1; jp++) {
                int64_t j0 = jp * NR;
                int64_t cols = jb->n - j0 < NR ? jb->n - j0 : NR;
                __mmask16 k0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
                __mmask16 k1 = cols >= 32   ? (__mmask16)0xFFFF
                               : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1)
                                           : (__mmask16)0;
                const float *bias = jb->bias ? jb->bias + j0 : NULL;
                /* B's slice [pc, pc + kc) x [j0, j0 + 32): a panel's rows
                 * of 32 (zero-padded, loaded whole), or rows of the plain
                 * matrix (loaded through the column masks: nothing past
                 * column n is read). The first tile prefetches the next
                 * slice this loop reads into L2 while it computes, so that
                 * slice's first tile does not wait on memory (the filters
                 * of a network do not stay in cache between runs). */
                const float *b, *bnext;
                if (jb->ldb) {
                    b = jb->bp + pc * jb->ldb + j0;
                    bnext = jp + 1 < p1 ? b + NR : NULL;
                } else {
                    b = jb->bp + jp * jb->k * NR + pc * NR;
                    bnext = jp + 1 < p1       ? b + jb->k * NR
                            : pc + KC < jb->k ? jb->bp + p0 * jb->k * NR + (pc + KC) * NR
                                              : NULL;
                }
                for (int64_t i = ic; i < mc_end; i += MR) {
                    int mr = mc_end - i < MR ? (int)(mc_end - i) : MR;
                    (jb->ldb ? tile_plain : tile_packed)(
                        mr, kc, jb->a + i * jb->lda + pc, jb->lda, b, jb->c + i * jb->ldc + j0,
                        jb->ldc, k0, k1, first, last, bias,
                        jb->res ? jb->res + i * jb->ldr + j0 : NULL, jb->ldr, jb->act,
                        i == ic ? bnext : NULL, jb->ldb);
                }
            }
        }
    }
}
#endif /* x86-64 GCC */

/* ---- driver ------------------------------------------------------------- */

/* C = act(A * B + bias + res) with B packed (ldb 0) or row-major. */
static void gemm(int threads, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                 const float *b, int64_t ldb, const float *bias, const float *res,
                 int64_t ldr, eq_activation act, float *c, int64_t ldc)
{
    EQ_ASSERT(eq_gemm_packed_enabled());
    EQ_ASSERT(m >= 0 && n >= 0 && k >= 1 && lda >= k && ldc >= n);
    EQ_ASSERT(!res || ldr >= n);
    if (m == 0 || n == 0)
        return;
#if defined(__x86_64__) && defined(__GNUC__)
    int fused = act == EQ_ACT_NONE || act == EQ_ACT_RELU || act == EQ_ACT_RELU6;
    gemm_job jb = {m, n, k, a, lda, b, bias, res, ldr,
                   act == EQ_ACT_RELU    ? POST_RELU
                   : act == EQ_ACT_RELU6 ? POST_RELU6
                                         : POST_NONE,
                   ldb, c, ldc};
    int64_t panels = (n + NR - 1) / NR, tiles = (m + MR - 1) / MR;
    int nt = threads < 1 ? 1 : threads;
    /* too little work to wake a second thread for */
    if (m * n * k < ((int64_t)1 << 18))
        nt = 1;
    if (nt == 1) {
        region(&jb, 0, m, 0, panels);
    } else {
        /* Split the rows, each thread writing its own contiguous rows of C
         * with its own rows of A in its L2, unless splitting the columns
         * balances the work clearly better (by a quarter: few row tiles,
         * as at batch 1 on 8x8 maps). Interleaved bench_irv2 runs: rows
         * on ties were 3-4% faster at batch 8 than columns on ties. */
        int64_t by_cols = (panels + nt - 1) / nt * tiles;
        int64_t by_rows = (tiles + nt - 1) / nt * panels;
        int cols_split = by_cols * 4 < by_rows * 3;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), tn = omp_get_num_threads();
            if (cols_split)
                region(&jb, 0, m, panels * t / tn, panels * (t + 1) / tn);
            else {
                int64_t r0 = tiles * t / tn * MR, r1 = tiles * (t + 1) / tn * MR;
                region(&jb, r0, r1 < m ? r1 : m, 0, panels);
            }
        }
    }
    if (!fused)
        for (int64_t i = 0; i < m; i++)
            eq_epilogue_apply(c + i * ldc, c + i * ldc, 1, n, NULL, act, 1);
#else
    (void)threads, (void)a, (void)b, (void)ldb, (void)bias, (void)res, (void)act, (void)c;
#endif
}

void eq_gemm_packed(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                    int64_t lda, const float *bp, const float *bias, eq_activation act,
                    float *c, int64_t ldc)
{
    gemm(threads, m, n, k, a, lda, bp, 0, bias, NULL, 0, act, c, ldc);
}

void eq_gemm_packed_residual(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                             int64_t lda, const float *bp, const float *bias,
                             const float *res, int64_t ldr, eq_activation act, float *c,
                             int64_t ldc)
{
    gemm(threads, m, n, k, a, lda, bp, 0, bias, res, ldr, act, c, ldc);
}

void eq_gemm_plain_residual(int threads, int64_t m, int64_t n, int64_t k, const float *a,
                            int64_t lda, const float *b, int64_t ldb, const float *bias,
                            const float *res, int64_t ldr, eq_activation act, float *c,
                            int64_t ldc)
{
    EQ_ASSERT(ldb >= n);
    gemm(threads, m, n, k, a, lda, b, ldb, bias, res, ldr, act, c, ldc);
}
