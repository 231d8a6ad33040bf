/* eq_random.c - stateful random kernels and their distributions (spec 1.3,
 * 1.4, 2), and the Python-level scaling of tf.random.* (spec 2.6). */
#include "eq_rng.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>

#include <omp.h>

#include "eq_blas.h"

/* The 256 rule reserves n*256 blocks; beyond this n that overflows. */
#define MAX_ELEMENTS (INT64_C(1) << 54)
/* The 2*pi of TF's Box-Muller: a double (2.0f * M_PI is promoted). */
#define TWO_PI 6.283185307179586476925286766559

/* ---- word -> value ------------------------------------------------------ */

float eq_rng_u32_to_float(uint32_t x)
{
    uint32_t bits = (127u << 23) | (x & 0x7FFFFFu);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f - 1.0f;
}

double eq_rng_u64_to_double(uint32_t x0, uint32_t x1)
{
    uint64_t bits = (UINT64_C(1023) << 52) | ((uint64_t)(x0 & 0xFFFFFu) << 32) | x1;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 1.0;
}

void eq_rng_box_muller_f32(uint32_t x0, uint32_t x1, float *z0, float *z1)
{
    const float epsilon = 1.0e-7f; /* keeps logf away from 0 */
    float u1 = eq_rng_u32_to_float(x0);
    if (u1 < epsilon)
        u1 = epsilon;
    /* TF forms the angle in double and rounds it to float. */
    const float v = (float)(TWO_PI * (double)eq_rng_u32_to_float(x1));
    const float r = sqrtf(-2.0f * logf(u1));
    float s, c;
    sincosf(v, &s, &c); /* what TF calls on Linux */
    *z0 = s * r;
    *z1 = c * r;
}

void eq_rng_box_muller_f64(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3,
                           double *z0, double *z1)
{
    const double epsilon = 1.0e-7;
    double u1 = eq_rng_u64_to_double(x0, x1);
    if (u1 < epsilon)
        u1 = epsilon;
    const double v = TWO_PI * eq_rng_u64_to_double(x2, x3);
    const double r = sqrt(-2.0 * log(u1));
    double s, c;
    sincos(v, &s, &c);
    *z0 = s * r;
    *z1 = c * r;
}

/* ---- names --------------------------------------------------------------- */

const char *eq_rng_op_name(eq_rng_op op)
{
    switch (op) {
    case EQ_RNG_UNIFORM: return "RandomUniform";
    case EQ_RNG_NORMAL: return "RandomStandardNormal";
    case EQ_RNG_TRUNCATED_NORMAL: return "TruncatedNormal";
    case EQ_RNG_UNIFORM_INT: return "RandomUniformInt";
    }
    return "?";
}

const char *eq_rng_dtype_name(eq_rng_dtype dtype)
{
    switch (dtype) {
    case EQ_RNG_F32: return "float32";
    case EQ_RNG_F64: return "float64";
    case EQ_RNG_I32: return "int32";
    case EQ_RNG_I64: return "int64";
    }
    return "?";
}

eq_rng_dtype eq_rng_dtype_of(eq_dtype dtype)
{
    return dtype == EQ_F64 ? EQ_RNG_F64 : EQ_RNG_F32;
}

/* ---- the kernel ---------------------------------------------------------- */

eq_status eq_rng_kernel_init(eq_rng_kernel *k, eq_seed_pair seeds, eq_error *err)
{
    EQ_ASSERT(k);
    if (seeds.seed == 0 && seeds.seed2 == 0)
        return eq_error_set(err, EQ_ERR_STATE,
                            "random op has seed pair (0, 0), which TensorFlow treats as "
                            "unseeded (nondeterministic); set a global or op seed, or ask "
                            "for a nondeterministic kernel explicitly");
    eq_philox_init(&k->gen, seeds.seed, seeds.seed2);
    k->seeds = seeds;
    k->executions = 0;
    return EQ_OK;
}

eq_status eq_rng_kernel_init_nondeterministic(eq_rng_kernel *k, eq_error *err)
{
    EQ_ASSERT(k);
    uint64_t r[2];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom((char *)r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return eq_error_set(err, EQ_ERR_IO,
                                "nondeterministic random kernel: getrandom failed: %s",
                                strerror(errno));
        }
        got += (size_t)n;
    }
    eq_seed_pair s = {(int64_t)r[0], (int64_t)r[1]};
    eq_philox_init(&k->gen, s.seed, s.seed2);
    k->seeds = s;
    k->executions = 0;
    return EQ_OK;
}

eq_philox eq_rng_kernel_reserve(eq_rng_kernel *k, int64_t n)
{
    EQ_ASSERT(k && n >= 0 && n <= MAX_ELEMENTS);
    eq_philox snapshot = k->gen;
    eq_philox_skip(&k->gen, (uint64_t)n * 256u);
    k->executions++;
    return snapshot;
}

static eq_status check_count(const char *op, int64_t n, eq_error *err)
{
    if (n < 0)
        return eq_error_set(err, EQ_ERR_INVALID, "%s: element count %lld is negative", op,
                            (long long)n);
    if (n > MAX_ELEMENTS)
        return eq_error_set(err, EQ_ERR_LIMIT, "%s: %lld elements is more than the limit %lld",
                            op, (long long)n, (long long)MAX_ELEMENTS);
    return EQ_OK;
}

/* ---- fixed-sample distributions: element group g reads block g ---------- */

/* Every fixed-sample op is a function of the snapshot's word stream: element
 * i of a 32-bit type reads word i, of a 64-bit type words 2i and 2i+1, and
 * Box-Muller pairs read consecutive words. So the fills walk the stream in
 * batches of CHUNK blocks made by one eq_philox_fill call. */
#define CHUNK 256
/* Uniform fills from this many floats use every thread. */
#define UNIFORM_PAR_MIN ((int64_t)1 << 18)

/* Up to CHUNK blocks covering `words` more words; returns the words made. */
static int64_t next_words(eq_philox *g, uint32_t *w, int64_t words)
{
    int64_t blocks = (words + 3) / 4;
    if (blocks > CHUNK)
        blocks = CHUNK;
    eq_philox_fill(g, w, blocks);
    return 4 * blocks;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

eq_status eq_rng_kernel_uniform_f32(eq_rng_kernel *k, float *out, int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomUniform", n, err);
    if (st)
        return st;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    /* Philox blocks are independent (block b is the counter plus b), so
     * big fills split into runs of whole blocks, one per thread, each
     * generator skipped to its run: the same numbers in the same places
     * (an initializer fills 59M floats for Inception-ResNet-v2). */
    int64_t blocks = (n + 3) / 4;
    int nt = n >= UNIFORM_PAR_MIN ? eq_blas_threads() : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = nt > 1 ? omp_get_thread_num() : 0;
        int tn = nt > 1 ? omp_get_num_threads() : 1;
        int64_t b0 = blocks * t / tn, b1 = blocks * (t + 1) / tn;
        int64_t end = min64(4 * b1, n);
        eq_philox gt = g;
        eq_philox_skip(&gt, (uint64_t)b0);
        uint32_t w[4 * CHUNK];
        for (int64_t i = 4 * b0; i < end;) {
            int64_t m = min64(next_words(&gt, w, end - i), end - i);
#pragma omp simd
            for (int64_t j = 0; j < m; j++)
                out[i + j] = eq_rng_u32_to_float(w[j]);
            i += m;
        }
    }
    return EQ_OK;
}

eq_status eq_rng_kernel_uniform_f64(eq_rng_kernel *k, double *out, int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomUniform", n, err);
    if (st)
        return st;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    uint32_t w[4 * CHUNK];
    for (int64_t i = 0; i < n;) {
        int64_t m = min64(next_words(&g, w, 2 * (n - i)) / 2, n - i);
        for (int64_t j = 0; j < m; j++)
            out[i + j] = eq_rng_u64_to_double(w[2 * j], w[2 * j + 1]);
        i += m;
    }
    return EQ_OK;
}

eq_status eq_rng_kernel_normal_f32(eq_rng_kernel *k, float *out, int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomStandardNormal", n, err);
    if (st)
        return st;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    uint32_t w[4 * CHUNK];
    for (int64_t i = 0; i < n;) {
        int64_t m = min64(next_words(&g, w, n - i), n - i);
        int64_t j = 0;
        for (; j + 2 <= m; j += 2)
            eq_rng_box_muller_f32(w[j], w[j + 1], &out[i + j], &out[i + j + 1]);
        if (j < m) { /* odd n: the pair is made, its second value dropped */
            float z1;
            eq_rng_box_muller_f32(w[j], w[j + 1], &out[i + j], &z1);
        }
        i += m;
    }
    return EQ_OK;
}

eq_status eq_rng_kernel_normal_f64(eq_rng_kernel *k, double *out, int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomStandardNormal", n, err);
    if (st)
        return st;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    uint32_t w[4 * CHUNK];
    for (int64_t i = 0; i < n;) {
        int64_t m = min64(next_words(&g, w, 2 * (n - i)) / 2, n - i);
        for (int64_t j = 0; j < m; j += 2) {
            const uint32_t *b = w + 2 * j; /* one block per pair */
            double z1;
            eq_rng_box_muller_f64(b[0], b[1], b[2], b[3], &out[i + j],
                                  j + 1 < m ? &out[i + j + 1] : &z1);
        }
        i += m;
    }
    return EQ_OK;
}

/* ---- truncated normal: variable samples per group ------------------------ */

/* TF's SingleSampleAdapter: words one at a time, a new block when needed. */
typedef struct word_reader {
    eq_philox g;
    uint32_t w[4];
    int used; /* words of w consumed; 4 = need a block */
} word_reader;

static inline uint32_t next_word(word_reader *r)
{
    if (r->used == 4) {
        eq_philox_next(&r->g, r->w);
        r->used = 0;
    }
    return r->w[r->used++];
}

/* Group g reads from the snapshot skipped by g*G*256/4 blocks, so each group
 * is independent of how the work is split (TF's FillPhiloxRandomTask). */
static void group_reader(word_reader *r, const eq_philox *snapshot, int64_t g, int group)
{
    r->g = *snapshot;
    eq_philox_skip(&r->g, (uint64_t)g * (uint64_t)group * 64u);
    r->used = 4;
}

eq_status eq_rng_kernel_truncated_normal_f32(eq_rng_kernel *k, float *out, int64_t n,
                                             eq_error *err)
{
    eq_status st = check_count("TruncatedNormal", n, err);
    if (st)
        return st;
    eq_philox snap = eq_rng_kernel_reserve(k, n);
    word_reader r;
    for (int64_t base = 0, g = 0; base < n; base += 4, g++) {
        group_reader(&r, &snap, g, 4);
        float res[4];
        int got = 0;
        while (got < 4) {
            uint32_t x0 = next_word(&r);
            uint32_t x1 = next_word(&r);
            float z0, z1;
            eq_rng_box_muller_f32(x0, x1, &z0, &z1);
            if (fabsf(z0) < 2.0f) {
                res[got++] = z0;
                if (got == 4)
                    break; /* the rest of the pair is dropped */
            }
            if (fabsf(z1) < 2.0f)
                res[got++] = z1;
        }
        for (int j = 0; j < 4 && base + j < n; j++)
            out[base + j] = res[j];
    }
    return EQ_OK;
}

eq_status eq_rng_kernel_truncated_normal_f64(eq_rng_kernel *k, double *out, int64_t n,
                                             eq_error *err)
{
    eq_status st = check_count("TruncatedNormal", n, err);
    if (st)
        return st;
    eq_philox snap = eq_rng_kernel_reserve(k, n);
    word_reader r;
    for (int64_t base = 0, g = 0; base < n; base += 2, g++) {
        group_reader(&r, &snap, g, 2);
        double res[2];
        int got = 0;
        while (got < 2) {
            uint32_t x0 = next_word(&r), x1 = next_word(&r);
            uint32_t x2 = next_word(&r), x3 = next_word(&r);
            double z0, z1;
            eq_rng_box_muller_f64(x0, x1, x2, x3, &z0, &z1);
            if (fabs(z0) < 2.0) {
                res[got++] = z0;
                if (got == 2)
                    break;
            }
            if (fabs(z1) < 2.0)
                res[got++] = z1;
        }
        for (int j = 0; j < 2 && base + j < n; j++)
            out[base + j] = res[j];
    }
    return EQ_OK;
}

/* ---- integers ------------------------------------------------------------ */

eq_status eq_rng_kernel_uniform_int32(eq_rng_kernel *k, int32_t lo, int32_t hi, int32_t *out,
                                      int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomUniformInt", n, err);
    if (st)
        return st;
    if (n == 0) /* TF returns before checking the bounds or reserving */
        return EQ_OK;
    if (!(lo < hi))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "RandomUniformInt: Need minval < maxval, got %ld >= %ld", (long)lo,
                            (long)hi);
    uint32_t range = (uint32_t)hi - (uint32_t)lo;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    uint32_t w[4 * CHUNK];
    for (int64_t i = 0; i < n;) {
        int64_t m = min64(next_words(&g, w, n - i), n - i);
        for (int64_t j = 0; j < m; j++) /* unsigned: no signed overflow */
            out[i + j] = (int32_t)((uint32_t)lo + w[j] % range);
        i += m;
    }
    return EQ_OK;
}

eq_status eq_rng_kernel_uniform_int64(eq_rng_kernel *k, int64_t lo, int64_t hi, int64_t *out,
                                      int64_t n, eq_error *err)
{
    eq_status st = check_count("RandomUniformInt", n, err);
    if (st)
        return st;
    if (n == 0)
        return EQ_OK;
    if (!(lo < hi))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "RandomUniformInt: Need minval < maxval, got %lld >= %lld",
                            (long long)lo, (long long)hi);
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    eq_philox g = eq_rng_kernel_reserve(k, n);
    uint32_t w[4 * CHUNK];
    for (int64_t i = 0; i < n;) {
        int64_t m = min64(next_words(&g, w, 2 * (n - i)) / 2, n - i);
        for (int64_t j = 0; j < m; j++) {
            uint64_t bits = (uint64_t)w[2 * j] | ((uint64_t)w[2 * j + 1] << 32);
            out[i + j] = (int64_t)((uint64_t)lo + bits % range);
        }
        i += m;
    }
    return EQ_OK;
}

/* ---- Python-level ops ---------------------------------------------------- */

eq_uniform_args eq_uniform_args_default(void)
{
    eq_uniform_args a = {0.0, 1.0, EQ_MINVAL_INT | EQ_MAXVAL_INT};
    return a;
}

static int minval_is_int_zero(const eq_uniform_args *a)
{
    return (a->flags & EQ_MINVAL_INT) && a->minval == 0.0;
}

static int maxval_is_int_one(const eq_uniform_args *a)
{
    return (a->flags & EQ_MAXVAL_INT) && a->maxval == 1.0;
}

/* Each statement below is one TF op: the product and the sum are rounded
 * separately, as two graph nodes would. */
eq_status eq_random_uniform_f32(eq_rng_kernel *k, const eq_uniform_args *a, float *out,
                                int64_t n, eq_error *err)
{
    EQ_ASSERT(a);
    eq_status st = eq_rng_kernel_uniform_f32(k, out, n, err);
    if (st)
        return st;
    const float lo = (float)a->minval, hi = (float)a->maxval;
    if (minval_is_int_zero(a)) {
        if (!maxval_is_int_one(a)) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                out[i] = out[i] * hi;
        }
        return EQ_OK;
    }
    /* Two roundings, as TF's separate Mul and Add ops (-ffp-contract=off
     * keeps the vector loop from fusing them). */
    const float range = hi - lo;
    int nt = n >= UNIFORM_PAR_MIN ? eq_blas_threads() : 1;
#pragma omp parallel for simd num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float scaled = out[i] * range;
        out[i] = scaled + lo;
    }
    return EQ_OK;
}

eq_status eq_random_uniform_f64(eq_rng_kernel *k, const eq_uniform_args *a, double *out,
                                int64_t n, eq_error *err)
{
    EQ_ASSERT(a);
    eq_status st = eq_rng_kernel_uniform_f64(k, out, n, err);
    if (st)
        return st;
    if (minval_is_int_zero(a)) {
        if (!maxval_is_int_one(a))
            for (int64_t i = 0; i < n; i++)
                out[i] = out[i] * a->maxval;
        return EQ_OK;
    }
    const double range = a->maxval - a->minval;
    for (int64_t i = 0; i < n; i++) {
        double scaled = out[i] * range;
        out[i] = scaled + a->minval;
    }
    return EQ_OK;
}

static void scale_shift_f32(float *out, int64_t n, double mean, double stddev)
{
    const float m = (float)mean, s = (float)stddev;
    for (int64_t i = 0; i < n; i++) {
        float scaled = out[i] * s;
        out[i] = scaled + m;
    }
}

static void scale_shift_f64(double *out, int64_t n, double mean, double stddev)
{
    for (int64_t i = 0; i < n; i++) {
        double scaled = out[i] * stddev;
        out[i] = scaled + mean;
    }
}

eq_status eq_random_normal_f32(eq_rng_kernel *k, double mean, double stddev, float *out,
                               int64_t n, eq_error *err)
{
    eq_status st = eq_rng_kernel_normal_f32(k, out, n, err);
    if (st == EQ_OK)
        scale_shift_f32(out, n, mean, stddev);
    return st;
}

eq_status eq_random_normal_f64(eq_rng_kernel *k, double mean, double stddev, double *out,
                               int64_t n, eq_error *err)
{
    eq_status st = eq_rng_kernel_normal_f64(k, out, n, err);
    if (st == EQ_OK)
        scale_shift_f64(out, n, mean, stddev);
    return st;
}

eq_status eq_random_truncated_normal_f32(eq_rng_kernel *k, double mean, double stddev,
                                         float *out, int64_t n, eq_error *err)
{
    eq_status st = eq_rng_kernel_truncated_normal_f32(k, out, n, err);
    if (st == EQ_OK)
        scale_shift_f32(out, n, mean, stddev);
    return st;
}

eq_status eq_random_truncated_normal_f64(eq_rng_kernel *k, double mean, double stddev,
                                         double *out, int64_t n, eq_error *err)
{
    eq_status st = eq_rng_kernel_truncated_normal_f64(k, out, n, err);
    if (st == EQ_OK)
        scale_shift_f64(out, n, mean, stddev);
    return st;
}
