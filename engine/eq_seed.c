/* eq_seed.c - tf.compat.v1.get_seed and the state behind it (spec 3): the
 * per-graph op counter, the eager runtime's internal operation seeds (Python's
 * MT19937), set_seed, and the DeterministicRandomTestTool hook (spec 4). */
#include "eq_rng.h"

#include "eq_alloc.h"

struct eq_seed_ctx {
    eq_seed_ctx_kind kind;
    int global_set;
    int64_t global_seed;
    int64_t graph_counter;  /* graph: get_seed calls that took a counter value */
    eq_mt19937 mt;          /* eager: random.Random(global_seed) */
    eq_rng_cache *cache;    /* eager: kernels keyed by op, dtype and seeds */
    eq_seed_policy *policy; /* the active tool scope, not owned */
    int op_determinism;
};

int64_t eq_seed_truncate(int64_t s)
{
    int64_t r = s % EQ_SEED_MAXINT32;
    return r < 0 ? r + EQ_SEED_MAXINT32 : r; /* Python's % is never negative here */
}

/* ---- MT19937 as CPython's random module runs it ---------------------------- */

#define MT_N 624
#define MT_M 397

static void mt_init_genrand(eq_mt19937 *m, uint32_t s)
{
    m->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
    m->mti = MT_N;
}

static void mt_init_by_array(eq_mt19937 *m, const uint32_t *key, int len)
{
    mt_init_genrand(m, 19650218u);
    int i = 1, j = 0;
    for (int k = MT_N > len ? MT_N : len; k; k--) {
        uint32_t prev = m->mt[i - 1] ^ (m->mt[i - 1] >> 30);
        m->mt[i] = (m->mt[i] ^ (prev * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            m->mt[0] = m->mt[MT_N - 1];
            i = 1;
        }
        if (j >= len)
            j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        uint32_t prev = m->mt[i - 1] ^ (m->mt[i - 1] >> 30);
        m->mt[i] = (m->mt[i] ^ (prev * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            m->mt[0] = m->mt[MT_N - 1];
            i = 1;
        }
    }
    m->mt[0] = 0x80000000u; /* a non-zero initial state */
}

void eq_seed_mt_init(eq_mt19937 *m, int64_t g)
{
    /* CPython: the key is |g| in 32-bit little-endian words, [0] for 0. */
    uint64_t a = g < 0 ? (uint64_t)0 - (uint64_t)g : (uint64_t)g;
    uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    mt_init_by_array(m, key, key[1] ? 2 : 1);
}

uint32_t eq_seed_mt_next(eq_mt19937 *m)
{
    static const uint32_t mag01[2] = {0u, 0x9908B0DFu};
    if (m->mti >= MT_N) {
        int kk;
        uint32_t y;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (m->mt[kk] & 0x80000000u) | (m->mt[kk + 1] & 0x7FFFFFFFu);
            m->mt[kk] = m->mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (m->mt[kk] & 0x80000000u) | (m->mt[kk + 1] & 0x7FFFFFFFu);
            m->mt[kk] = m->mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (m->mt[MT_N - 1] & 0x80000000u) | (m->mt[0] & 0x7FFFFFFFu);
        m->mt[MT_N - 1] = m->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        m->mti = 0;
    }
    uint32_t y = m->mt[m->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= y >> 18;
    return y;
}

int64_t eq_seed_mt_op_seed(eq_mt19937 *m)
{
    /* randint(0, 2^31-1) = _randbelow(2^31): 32 bits, rejected until < 2^31. */
    for (;;) {
        uint32_t r = eq_seed_mt_next(m);
        if (r < 0x80000000u)
            return (int64_t)r;
    }
}

/* ---- contexts --------------------------------------------------------------- */

eq_seed_ctx *eq_seed_ctx_new(eq_seed_ctx_kind kind)
{
    eq_seed_ctx *ctx = eq_calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->kind = kind;
    if (kind == EQ_SEEDS_EAGER) {
        ctx->cache = eq_rng_cache_new();
        if (!ctx->cache) {
            eq_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

void eq_seed_ctx_free(eq_seed_ctx *ctx)
{
    if (!ctx)
        return;
    eq_rng_cache_free(ctx->cache);
    eq_free(ctx);
}

eq_seed_ctx_kind eq_seed_ctx_kind_of(const eq_seed_ctx *ctx)
{
    return ctx->kind;
}

void eq_seed_ctx_set_seed(eq_seed_ctx *ctx, int64_t g)
{
    ctx->global_set = 1;
    ctx->global_seed = g;
    if (ctx->kind == EQ_SEEDS_EAGER) {
        eq_seed_mt_init(&ctx->mt, g);
        eq_rng_cache_clear(ctx->cache);
    }
}

int eq_seed_ctx_global_seed(const eq_seed_ctx *ctx, int64_t *g)
{
    if (ctx->global_set && g)
        *g = ctx->global_seed;
    return ctx->global_set;
}

void eq_seed_ctx_set_op_determinism(eq_seed_ctx *ctx, int on)
{
    ctx->op_determinism = on != 0;
}

static eq_status policy_seed(eq_seed_ctx *ctx, eq_seed_pair *out, eq_error *err)
{
    eq_seed_policy *p = ctx->policy;
    /* The tool's constant mode calls tf.random.set_seed(operation_seed) for
     * every op: in eager mode that clears the kernel cache, which is what
     * makes each op read its stream from block 0. */
    if (eq_seed_policy_mode(p) == EQ_SEED_CONSTANT)
        eq_seed_ctx_set_seed(ctx, eq_seed_policy_operation_seed(p));
    return eq_seed_policy_next(p, out, err);
}

eq_status eq_seed_ctx_get_seed(eq_seed_ctx *ctx, const int64_t *op_seed, eq_seed_pair *out,
                               eq_error *err)
{
    EQ_ASSERT(ctx && out);
    if (ctx->policy)
        return policy_seed(ctx, out, err);
    eq_seed_pair s;
    if (ctx->global_set) {
        int64_t op;
        if (op_seed)
            op = *op_seed;
        else if (ctx->kind == EQ_SEEDS_GRAPH)
            op = ctx->graph_counter++;
        else
            op = eq_seed_mt_op_seed(&ctx->mt);
        s.seed = eq_seed_truncate(ctx->global_seed);
        s.seed2 = eq_seed_truncate(op);
    } else if (op_seed) {
        s.seed = EQ_DEFAULT_GRAPH_SEED;
        s.seed2 = eq_seed_truncate(*op_seed);
    } else {
        if (ctx->op_determinism)
            return eq_error_set(err, EQ_ERR_STATE,
                                "Random ops require a seed to be set when determinism is "
                                "enabled. Please set a seed before running the op, e.g. by "
                                "calling tf.random.set_seed(1).");
        out->seed = out->seed2 = 0; /* (None, None): an unseeded kernel */
        return EQ_OK;
    }
    /* (0, 0) would mean "unseeded" to the kernel; Python avoids it. */
    if (s.seed == 0 && s.seed2 == 0)
        s.seed2 = EQ_SEED_MAXINT32;
    *out = s;
    return EQ_OK;
}

eq_status eq_seed_ctx_kernel(eq_seed_ctx *ctx, eq_rng_op op, eq_rng_dtype dtype,
                             eq_seed_pair seeds, eq_rng_kernel **out, eq_error *err)
{
    if (ctx->kind != EQ_SEEDS_EAGER)
        return eq_error_set(err, EQ_ERR_STATE,
                            "%s: graph mode has no kernel cache; each graph node owns its kernel",
                            eq_rng_op_name(op));
    return eq_rng_cache_get(ctx->cache, op, dtype, seeds, out, err);
}

eq_rng_cache *eq_seed_ctx_cache(eq_seed_ctx *ctx)
{
    return ctx->cache;
}

eq_status eq_seed_ctx_enter_policy(eq_seed_ctx *ctx, eq_seed_policy *p, eq_error *err)
{
    EQ_ASSERT(ctx && p);
    if (ctx->policy)
        return eq_error_set(err, EQ_ERR_STATE,
                            "a DeterministicRandomTestTool scope is already active");
    eq_seed_ctx_set_seed(ctx, eq_seed_policy_seed(p)); /* scope() does this first */
    ctx->policy = p;
    return EQ_OK;
}

void eq_seed_ctx_leave_policy(eq_seed_ctx *ctx)
{
    ctx->policy = NULL;
}
