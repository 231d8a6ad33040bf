/* test_seed.c - seed derivation (get_seed, graph counter, eager MT op
 * seeds), the eager kernel cache, the DeterministicRandomTestTool policy,
 * and the guide's random-number demonstrations run through both contexts. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_rng.h"

static const int64_t MAXI = EQ_SEED_MAXINT32;

/* ---- T() and MT19937 ---------------------------------------------------------- */

START_TEST(truncate_is_python_mod)
{
    ck_assert_int_eq(eq_seed_truncate(5), 5);
    ck_assert_int_eq(eq_seed_truncate(2147483647), 0); /* 2^31 - 1, not 2^31 */
    ck_assert_int_eq(eq_seed_truncate(2147483648), 1);
    ck_assert_int_eq(eq_seed_truncate(-1), 2147483646);
    ck_assert_int_eq(eq_seed_truncate(INT64_MIN), 2147483645); /* Python: (-2**63) % M */
    ck_assert_int_eq(eq_seed_truncate(INT64_MAX), 1);
    ck_assert_int_eq(eq_seed_truncate(1892932127), 1892932127);
}
END_TEST

static void assert_op_seeds(int64_t g, const int64_t *want, int n)
{
    eq_mt19937 m;
    eq_seed_mt_init(&m, g);
    for (int i = 0; i < n; i++)
        ck_assert_msg(eq_seed_mt_op_seed(&m) == want[i], "G=%lld seed %d", (long long)g, i);
}

START_TEST(mt_verified_sequences)
{
    static const int64_t g1234[] = {1892932127, 501869158, 32175636, 389311301, 150006740};
    static const int64_t g42[] = {478163327, 107420369, 1181241943, 1051802512, 958682846};
    static const int64_t g0[] = {1654615998, 1806341205, 173879092, 1112038970, 2087043557};
    assert_op_seeds(1234, g1234, 5);
    assert_op_seeds(42, g42, 5);
    assert_op_seeds(0, g0, 5);
    assert_op_seeds(-1234, g1234, 5); /* Python seeds with |G| */
    /* from CPython's random.Random(G).randint(0, 2**31 - 1) */
    static const int64_t g1[] = {577090037, 271041745, 1095513148};
    static const int64_t g2_32_1[] = {991850117, 1780619055, 393686508}; /* key [1, 1] */
    static const int64_t gmax[] = {1359979423, 569878368, 2108559838};
    static const int64_t gmin[] = {1691753470, 899083848, 1039357674}; /* |G| = 2^63 */
    assert_op_seeds(1, g1, 3);
    assert_op_seeds((INT64_C(1) << 32) + 1, g2_32_1, 3);
    assert_op_seeds(INT64_MAX, gmax, 3);
    assert_op_seeds(INT64_MIN, gmin, 3);
}
END_TEST

START_TEST(mt_raw_words_and_rejection)
{
    /* random.Random(1234).getrandbits(32): the first two are >= 2^31, so
     * randint rejects them and the first op seed is the third word */
    eq_mt19937 m;
    eq_seed_mt_init(&m, 1234);
    uint32_t w[1300];
    for (int i = 0; i < 1300; i++)
        w[i] = eq_seed_mt_next(&m);
    ck_assert_uint_eq(w[0], 4150886329u);
    ck_assert_uint_eq(w[1], 3342196574u);
    ck_assert_uint_eq(w[2], 1892932127u);
    /* across the state regenerations at 624 and 1248 */
    ck_assert_uint_eq(w[623], 152069139u);
    ck_assert_uint_eq(w[624], 3715477445u);
    ck_assert_uint_eq(w[1247], 408172097u);
    ck_assert_uint_eq(w[1248], 134171704u);
    ck_assert_uint_eq(w[1299], 2861468013u);
}
END_TEST

/* ---- get_seed ------------------------------------------------------------------- */

static eq_seed_pair get(eq_seed_ctx *ctx, const int64_t *op)
{
    eq_seed_pair s;
    eq_error err;
    ck_assert_msg(eq_seed_ctx_get_seed(ctx, op, &s, &err) == EQ_OK, "%s", err.message);
    return s;
}

static int64_t op_v[1];
static const int64_t *op(int64_t v)
{
    op_v[0] = v;
    return op_v;
}

#define ASSERT_PAIR(p, a, b)                                                                   \
    do {                                                                                       \
        eq_seed_pair p_ = (p);                                                                 \
        ck_assert_msg(p_.seed == (a) && p_.seed2 == (b), "got (%lld, %lld) want (%lld, %lld)", \
                      (long long)p_.seed, (long long)p_.seed2, (long long)(a),                  \
                      (long long)(b));                                                         \
    } while (0)

START_TEST(get_seed_table)
{
    /* tensorflow random_seed_test's cases, in both kinds of context */
    for (int kind = 0; kind < 2; kind++) {
        eq_seed_ctx *c = eq_seed_ctx_new((eq_seed_ctx_kind)kind);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(eq_seed_ctx_kind_of(c), kind);
        ck_assert_int_eq(eq_seed_ctx_global_seed(c, NULL), 0);
        ASSERT_PAIR(get(c, NULL), 0, 0); /* (None, None): unseeded */
        ASSERT_PAIR(get(c, op(1)), EQ_DEFAULT_GRAPH_SEED, 1);
        ASSERT_PAIR(get(c, op(MAXI + 3)), 87654321, 3);
        eq_seed_ctx_set_seed(c, 1);
        int64_t g = -7;
        ck_assert_int_eq(eq_seed_ctx_global_seed(c, &g), 1);
        ck_assert_int_eq(g, 1);
        ASSERT_PAIR(get(c, op(1)), 1, 1);
        eq_seed_ctx_set_seed(c, 0);
        ASSERT_PAIR(get(c, op(0)), 0, MAXI); /* (0,0) is rewritten */
        eq_seed_ctx_set_seed(c, MAXI);
        ASSERT_PAIR(get(c, op(0)), 0, MAXI); /* T wraps to (0,0): rewritten too */
        eq_seed_ctx_set_seed(c, 0);
        ASSERT_PAIR(get(c, op(MAXI)), 0, MAXI);
        eq_seed_ctx_set_seed(c, -1);
        ASSERT_PAIR(get(c, op(-5)), 2147483646, 2147483642);
        eq_seed_ctx_free(c);
    }
}
END_TEST

START_TEST(graph_counter)
{
    eq_seed_ctx *g = eq_seed_ctx_new(EQ_SEEDS_GRAPH);
    ASSERT_PAIR(get(g, NULL), 0, 0); /* no global seed: no counter taken */
    eq_seed_ctx_set_seed(g, 1234);
    ASSERT_PAIR(get(g, NULL), 1234, 0);
    ASSERT_PAIR(get(g, op(99)), 1234, 99); /* explicit: the counter is not used */
    ASSERT_PAIR(get(g, NULL), 1234, 1);
    eq_seed_ctx_set_seed(g, 7); /* set_random_seed does not reset the counter */
    ASSERT_PAIR(get(g, NULL), 7, 2);
    eq_seed_ctx_set_seed(g, 0); /* set_seed(0), third op: (0, 3) */
    ASSERT_PAIR(get(g, NULL), 0, 3);
    ck_assert_ptr_null(eq_seed_ctx_cache(g));
    eq_rng_kernel *k;
    eq_error err;
    eq_seed_pair s = {1, 2};
    ck_assert_int_eq(eq_seed_ctx_kernel(g, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k, &err),
                     EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "graph mode has no kernel cache"));
    eq_seed_ctx_free(g);

    /* the first graph op after set_seed(0): (0, 0) -> (0, 2^31-1) */
    g = eq_seed_ctx_new(EQ_SEEDS_GRAPH);
    eq_seed_ctx_set_seed(g, 0);
    ASSERT_PAIR(get(g, NULL), 0, MAXI);
    ASSERT_PAIR(get(g, NULL), 0, 1);
    eq_seed_ctx_free(g);
}
END_TEST

START_TEST(eager_op_seeds)
{
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    eq_seed_ctx_set_seed(e, 1234);
    ASSERT_PAIR(get(e, NULL), 1234, 1892932127);
    ASSERT_PAIR(get(e, op(5)), 1234, 5); /* an explicit seed draws nothing */
    ASSERT_PAIR(get(e, NULL), 1234, 501869158);
    eq_seed_ctx_set_seed(e, 1234); /* the sequence restarts */
    ASSERT_PAIR(get(e, NULL), 1234, 1892932127);
    eq_seed_ctx_set_seed(e, MAXI); /* the MT gets G itself, the pair T(G) */
    ASSERT_PAIR(get(e, NULL), 0, 1364760256);
    eq_seed_ctx_free(e);
}
END_TEST

START_TEST(op_determinism)
{
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    eq_seed_ctx_set_op_determinism(e, 1);
    eq_seed_pair s = {9, 9};
    eq_error err;
    ck_assert_int_eq(eq_seed_ctx_get_seed(e, NULL, &s, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "Random ops require a seed"));
    ASSERT_PAIR(get(e, op(3)), EQ_DEFAULT_GRAPH_SEED, 3);
    eq_seed_ctx_set_op_determinism(e, 0);
    ASSERT_PAIR(get(e, NULL), 0, 0);
    eq_seed_ctx_free(e);
}
END_TEST

/* ---- the kernel cache ----------------------------------------------------------- */

START_TEST(cache_continues_streams)
{
    eq_rng_cache *c = eq_rng_cache_new();
    ck_assert_ptr_nonnull(c);
    eq_seed_pair s = {42, 0}, t = {42, 1};
    eq_rng_kernel *k1, *k2, *k3, *k4, *k5;
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k1, NULL), EQ_OK);
    float out[9];
    eq_rng_kernel_uniform_f32(k1, out, 9, NULL);
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k2, NULL), EQ_OK);
    ck_assert_ptr_eq(k1, k2); /* same op, dtype and seeds: the same kernel */
    ck_assert_int_eq(k2->executions, 1);
    eq_rng_kernel_uniform_f32(k2, out, 4, NULL);
    ck_assert_float_eq_tol(out[0], 0.66813004f, 6e-9f); /* continued at 2304 blocks */
    eq_rng_cache_get(c, EQ_RNG_NORMAL, EQ_RNG_F32, s, &k3, NULL);
    eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F64, s, &k4, NULL);
    eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, t, &k5, NULL);
    ck_assert(k3 != k1 && k4 != k1 && k5 != k1 && k3 != k4);
    ck_assert_int_eq(k3->executions, 0);
    ck_assert_int_eq(eq_rng_cache_size(c), 4);
    eq_rng_cache_clear(c);
    ck_assert_int_eq(eq_rng_cache_size(c), 0);
    eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k1, NULL);
    ck_assert_int_eq(k1->executions, 0);
    ck_assert_uint_eq(k1->gen.ctr[0], 0);

    eq_error err;
    eq_seed_pair zero = {0, 0};
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_TRUNCATED_NORMAL, EQ_RNG_F32, zero, &k1, &err),
                     EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "TruncatedNormal (float32): "));
    ck_assert_ptr_null(k1);
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, zero, &k1, NULL),
                     EQ_ERR_STATE);
    eq_rng_cache_free(c);
}
END_TEST

START_TEST(cache_grows_with_stable_kernels)
{
    eq_rng_cache *c = eq_rng_cache_new();
    enum { N = 3000 };
    static eq_rng_kernel *first[N];
    for (int i = 0; i < N; i++) {
        eq_seed_pair s = {i % 7 + 1, i};
        ck_assert_int_eq(eq_rng_cache_get(c, (eq_rng_op)(i % 4), (eq_rng_dtype)(i % 3), s,
                                          &first[i], NULL),
                         EQ_OK);
        first[i]->executions = i; /* a mark to find again */
    }
    ck_assert_int_eq(eq_rng_cache_size(c), N);
    for (int i = 0; i < N; i++) {
        eq_seed_pair s = {i % 7 + 1, i};
        eq_rng_kernel *k;
        eq_rng_cache_get(c, (eq_rng_op)(i % 4), (eq_rng_dtype)(i % 3), s, &k, NULL);
        ck_assert_ptr_eq(k, first[i]);
        ck_assert_int_eq(k->executions, i);
    }
    ck_assert_int_eq(eq_rng_cache_size(c), N);
    eq_rng_cache_free(c);
}
END_TEST

START_TEST(out_of_memory_paths)
{
    eq_alloc_fail_after(1, 1);
    ck_assert_ptr_null(eq_rng_cache_new());
    ck_assert_ptr_null(eq_seed_ctx_new(EQ_SEEDS_GRAPH));
    eq_error err;
    ck_assert_ptr_null(eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err));
    ck_assert_int_eq(err.status, EQ_ERR_NOMEM);
    eq_alloc_fail_after(2, 1); /* the eager context's cache fails: no leak */
    ck_assert_ptr_null(eq_seed_ctx_new(EQ_SEEDS_EAGER));
    eq_alloc_fail_after(0, 0);

    eq_rng_cache *c = eq_rng_cache_new();
    eq_seed_pair s = {1, 1};
    eq_rng_kernel *k;
    eq_alloc_fail_after(1, 1); /* the slot table */
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k, &err),
                     EQ_ERR_NOMEM);
    eq_alloc_fail_after(2, 1); /* the entry */
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k, &err),
                     EQ_ERR_NOMEM);
    eq_alloc_fail_after(0, 0);
    ck_assert_int_eq(eq_rng_cache_size(c), 0);
    ck_assert_int_eq(eq_rng_cache_get(c, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k, &err), EQ_OK);
    eq_rng_cache_free(c);

    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    eq_alloc_fail_after(1, 1);
    eq_seed_pair out;
    ck_assert_int_eq(eq_seed_policy_next(p, &out, &err), EQ_ERR_NOMEM);
    eq_alloc_fail_after(0, 0);
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 0); /* nothing was handed out */
    ck_assert_int_eq(eq_seed_policy_next(p, &out, &err), EQ_OK);
    ASSERT_PAIR(out, 42, 0);
    eq_seed_policy_free(p);
}
END_TEST

/* ---- spec 3.5: observed TF outputs through the contexts ----------------------- */

/* One eager tf.random.* call: get_seed, the cached kernel, the op. */
static void eager_call(eq_seed_ctx *e, eq_rng_op kind, const int64_t *op_seed, float *out,
                       int64_t n)
{
    eq_seed_pair s = get(e, op_seed);
    eq_rng_kernel *k;
    eq_error err;
    ck_assert_msg(eq_seed_ctx_kernel(e, kind, EQ_RNG_F32, s, &k, &err) == EQ_OK, "%s",
                  err.message);
    eq_uniform_args u = eq_uniform_args_default();
    if (kind == EQ_RNG_UNIFORM)
        ck_assert_int_eq(eq_random_uniform_f32(k, &u, out, n, NULL), EQ_OK);
    else if (kind == EQ_RNG_NORMAL)
        ck_assert_int_eq(eq_random_normal_f32(k, 0.0, 1.0, out, n, NULL), EQ_OK);
    else
        ck_assert_int_eq(eq_random_truncated_normal_f32(k, 0.0, 1.0, out, n, NULL), EQ_OK);
}

/* A graph node: seeded when it is created. */
static void graph_node(eq_seed_ctx *g, const int64_t *op_seed, eq_rng_kernel *node)
{
    eq_seed_pair s = get(g, op_seed);
    eq_error err;
    ck_assert_msg(eq_rng_kernel_init(node, s, &err) == EQ_OK, "%s", err.message);
}

static void run_uniform(eq_rng_kernel *node, float *out, int64_t n)
{
    eq_uniform_args u = eq_uniform_args_default();
    ck_assert_int_eq(eq_random_uniform_f32(node, &u, out, n, NULL), EQ_OK);
}

START_TEST(observed_eager_outputs)
{
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    float v[4];
    /* set_seed(5); normal([2,2], seed=1) */
    eq_seed_ctx_set_seed(e, 5);
    eager_call(e, EQ_RNG_NORMAL, op(1), v, 4);
    ck_assert_float_eq_tol(v[0], -1.3768897f, 6e-8f);
    ck_assert_float_eq_tol(v[1], -0.01258316f, 6e-9f);
    ck_assert_float_eq_tol(v[2], -0.169515f, 6e-7f);
    ck_assert_float_eq_tol(v[3], 1.0824056f, 6e-8f);

    /* set_seed(5); uniform([], maxval=3, int32, seed=10) twice -> 2, 0 */
    eq_seed_ctx_set_seed(e, 5);
    int32_t iv[2];
    for (int t = 0; t < 2; t++) {
        eq_seed_pair s = get(e, op(10));
        eq_rng_kernel *k;
        eq_seed_ctx_kernel(e, EQ_RNG_UNIFORM_INT, EQ_RNG_I32, s, &k, NULL);
        eq_rng_kernel_uniform_int32(k, 0, 3, &iv[t], 1, NULL);
    }
    ck_assert_int_eq(iv[0], 2);
    ck_assert_int_eq(iv[1], 0);

    /* set_seed(1234); uniform([1]) twice: fresh op seeds each call */
    eq_seed_ctx_set_seed(e, 1234);
    eager_call(e, EQ_RNG_UNIFORM, NULL, &v[0], 1);
    eager_call(e, EQ_RNG_UNIFORM, NULL, &v[1], 1);
    ck_assert_float_eq_tol(v[0], 0.5380393f, 6e-8f);
    ck_assert_float_eq_tol(v[1], 0.3253647f, 6e-8f);
    /* set_seed(1234); uniform([1]) then normal([1]) */
    eq_seed_ctx_set_seed(e, 1234);
    eager_call(e, EQ_RNG_UNIFORM, NULL, &v[0], 1);
    eager_call(e, EQ_RNG_NORMAL, NULL, &v[1], 1);
    ck_assert_float_eq_tol(v[0], 0.5380393f, 6e-8f);
    ck_assert_float_eq_tol(v[1], 1.1468066f, 6e-8f);

    /* set_seed(1234); uniform([1], seed=1) twice, set_seed(1234), twice again */
    eq_seed_ctx_set_seed(e, 1234);
    for (int round = 0; round < 2; round++) {
        eager_call(e, EQ_RNG_UNIFORM, op(1), &v[0], 1);
        eager_call(e, EQ_RNG_UNIFORM, op(1), &v[1], 1); /* the cached kernel goes on */
        ck_assert_float_eq_tol(v[0], 0.1689806f, 6e-8f);
        ck_assert_float_eq_tol(v[1], 0.7539084f, 6e-8f);
        eq_seed_ctx_set_seed(e, 1234); /* clears the cache: the stream restarts */
        ck_assert_int_eq(eq_rng_cache_size(eq_seed_ctx_cache(e)), 0);
    }
    eq_seed_ctx_free(e);

    /* no global seed: uniform([1], seed=1) twice -> (87654321, 1) continued */
    e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    eager_call(e, EQ_RNG_UNIFORM, op(1), &v[0], 1);
    eager_call(e, EQ_RNG_UNIFORM, op(1), &v[1], 1);
    ck_assert_float_eq_tol(v[0], 0.2390374f, 6e-8f);
    ck_assert_float_eq_tol(v[1], 0.22267115f, 6e-9f);
    eq_seed_ctx_free(e);
}
END_TEST

START_TEST(observed_tf_function)
{
    /* A tf.function with two unseeded uniform([1]) after set_seed(1234): its
     * FuncGraph counts 0, 1; its kernels persist across calls. */
    eq_seed_ctx *fg = eq_seed_ctx_new(EQ_SEEDS_GRAPH);
    eq_seed_ctx_set_seed(fg, 1234);
    eq_rng_kernel a, b;
    graph_node(fg, NULL, &a);
    graph_node(fg, NULL, &b);
    ASSERT_PAIR(a.seeds, 1234, 0);
    ASSERT_PAIR(b.seeds, 1234, 1);
    float v[4];
    run_uniform(&a, &v[0], 1);
    run_uniform(&b, &v[1], 1);
    run_uniform(&a, &v[2], 1);
    run_uniform(&b, &v[3], 1);
    ck_assert_float_eq_tol(v[0], 0.13047123f, 6e-9f);
    ck_assert_float_eq_tol(v[1], 0.1689806f, 6e-8f);
    ck_assert_float_eq_tol(v[2], 0.6087816f, 6e-8f);
    ck_assert_float_eq_tol(v[3], 0.7539084f, 6e-8f);
    eq_seed_ctx_free(fg);
}
END_TEST

/* ---- the DeterministicRandomTestTool ------------------------------------------ */

START_TEST(policy_modes)
{
    eq_seed_mode m;
    eq_error err;
    ck_assert_int_eq(eq_seed_mode_parse("constant", &m, &err), EQ_OK);
    ck_assert_int_eq(m, EQ_SEED_CONSTANT);
    ck_assert_int_eq(eq_seed_mode_parse("num_random_ops", &m, &err), EQ_OK);
    ck_assert_int_eq(m, EQ_SEED_NUM_RANDOM_OPS);
    ck_assert_int_eq(eq_seed_mode_parse("random", &m, &err), EQ_ERR_INVALID);
    ck_assert_str_eq(err.message, "Mode arg must be 'constant' or 'num_random_ops'. Got: random");
    ck_assert_str_eq(eq_seed_mode_name(EQ_SEED_NUM_RANDOM_OPS), "num_random_ops");
    ck_assert_str_eq(eq_seed_mode_name(EQ_SEED_CONSTANT), "constant");

    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    ck_assert_int_eq(eq_seed_policy_seed(p), 42);
    ck_assert_int_eq(eq_seed_policy_mode(p), EQ_SEED_CONSTANT);
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 0);
    eq_seed_pair s;
    for (int i = 0; i < 3; i++) { /* (42, 0) for every op, never counting */
        ck_assert_int_eq(eq_seed_policy_next(p, &s, &err), EQ_OK);
        ASSERT_PAIR(s, 42, 0);
    }
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 0);
    eq_seed_policy_set_operation_seed(p, 7);
    eq_seed_policy_next(p, &s, &err);
    ASSERT_PAIR(s, 42, 7);
    eq_seed_policy_next(p, &s, &err); /* constant mode may repeat a seed */
    ASSERT_PAIR(s, 42, 7);
    eq_seed_policy_free(p);

    p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    for (int i = 0; i < 200; i++) { /* past the set's first growth */
        ck_assert_int_eq(eq_seed_policy_next(p, &s, &err), EQ_OK);
        ASSERT_PAIR(s, 42, i);
    }
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 200);
    eq_seed_policy_set_operation_seed(p, 150);
    ck_assert_int_eq(eq_seed_policy_next(p, &s, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "already-used operation seed 150"));
    ck_assert_ptr_nonnull(strstr(err.message, "cannot guarantee random numbers will match "
                                              "between eager and sessions when an operation "
                                              "seed is reused"));
    ck_assert_ptr_nonnull(strstr(err.message, "fresh kernel"));
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 150); /* unchanged by the error */
    eq_seed_policy_set_operation_seed(p, -3);
    ck_assert_int_eq(eq_seed_policy_next(p, &s, &err), EQ_OK);
    ASSERT_PAIR(s, 42, -3);
    eq_seed_policy_free(p);

    /* no T() and no (0,0) rewrite: seed 0 in constant mode is unseeded */
    p = eq_seed_policy_new(0, EQ_SEED_CONSTANT, &err);
    eq_seed_policy_next(p, &s, &err);
    ASSERT_PAIR(s, 0, 0);
    eq_seed_policy_free(p);
    p = eq_seed_policy_new(INT64_C(3000000000), EQ_SEED_CONSTANT, &err);
    eq_seed_policy_next(p, &s, &err);
    ASSERT_PAIR(s, INT64_C(3000000000), 0);
    eq_seed_policy_free(p);
}
END_TEST

START_TEST(policy_in_context)
{
    eq_error err;
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    eq_seed_ctx_set_seed(e, 1234);
    ck_assert_int_eq(eq_seed_ctx_enter_policy(e, p, &err), EQ_OK);
    int64_t g;
    eq_seed_ctx_global_seed(e, &g);
    ck_assert_int_eq(g, 42); /* scope() calls set_seed(seed) */
    ck_assert_int_eq(eq_seed_ctx_enter_policy(e, p, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "already active"));
    ASSERT_PAIR(get(e, op(77)), 42, 0); /* the op's own seed is ignored */
    eq_seed_ctx_global_seed(e, &g);
    ck_assert_int_eq(g, 0); /* constant mode: set_seed(operation_seed) per op */
    eq_seed_ctx_leave_policy(e);
    ASSERT_PAIR(get(e, op(77)), 0, 77); /* plain get_seed again, global seed now 0 */
    eq_seed_policy_free(p);

    /* seed 0: the policy hands out (0, 0), which no kernel accepts silently */
    p = eq_seed_policy_new(0, EQ_SEED_CONSTANT, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    eq_seed_pair s = get(e, NULL);
    ASSERT_PAIR(s, 0, 0);
    eq_rng_kernel *k;
    ck_assert_int_eq(eq_seed_ctx_kernel(e, EQ_RNG_UNIFORM, EQ_RNG_F32, s, &k, &err),
                     EQ_ERR_STATE);
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);
    eq_seed_ctx_free(e);
}
END_TEST

/* The guide's program: a = uniform(3x1); b = uniform(3x3); c = uniform(3x3),
 * each times 3, built in a graph and run once in a session. */
typedef struct abc {
    float a[3], b[9], c[9];
} abc;

static void times3(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = x[i] * 3.0f;
}

static abc graph_program(eq_seed_policy *p)
{
    eq_seed_ctx *g = eq_seed_ctx_new(EQ_SEEDS_GRAPH);
    ck_assert_int_eq(eq_seed_ctx_enter_policy(g, p, NULL), EQ_OK);
    eq_rng_kernel na, nb, nc;
    graph_node(g, NULL, &na);
    graph_node(g, NULL, &nb);
    graph_node(g, NULL, &nc);
    abc r;
    run_uniform(&na, r.a, 3);
    run_uniform(&nb, r.b, 9);
    run_uniform(&nc, r.c, 9);
    times3(r.a, 3);
    times3(r.b, 9);
    times3(r.c, 9);
    eq_seed_ctx_leave_policy(g);
    eq_seed_ctx_free(g);
    return r;
}

/* The same in eager mode; order 0 is a, b, c; order 1 creates b first. */
static abc eager_program(eq_seed_ctx *e, int order)
{
    abc r;
    if (order == 0)
        eager_call(e, EQ_RNG_UNIFORM, NULL, r.a, 3);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.b, 9);
    if (order == 1)
        eager_call(e, EQ_RNG_UNIFORM, NULL, r.a, 3);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.c, 9);
    times3(r.a, 3);
    times3(r.b, 9);
    times3(r.c, 9);
    return r;
}

static const double CONST_12[12] = {0.83545911, 0.91629732, 0.49464953, 0.52111328,
                                    0.71194923, 0.45645106, 0.11994720, 0.60958803,
                                    0.84381545, 0.05754983, 0.60490716, 0.07535851};

START_TEST(guide_constant_mode)
{
    eq_error err;
    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    abc g = graph_program(p);
    /* same shape, same values, bitwise; the 3x1 is a prefix of the 3x3 */
    ck_assert_mem_eq(g.b, g.c, sizeof g.b);
    ck_assert_mem_eq(g.a, g.b, sizeof g.a);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq_tol(g.b[i], 3.0f * (float)CONST_12[i], 2e-7f);
    eq_seed_policy_free(p);

    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    abc r = eager_program(e, 0);
    ck_assert_mem_eq(&r, &g, sizeof r); /* eager matches the session */
    ck_assert_int_eq(eq_rng_cache_size(eq_seed_ctx_cache(e)), 1);
    /* calling the eager model again: each op's set_seed clears the cache,
     * so the same numbers come back */
    abc r2 = eager_program(e, 0);
    ck_assert_mem_eq(&r2, &g, sizeof r2);
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);

    /* why the set_seed matters: the same pair (42, 0) without it continues
     * the cached kernel, and b and c differ */
    eq_seed_ctx_set_seed(e, 42);
    float b[9], c[9];
    eager_call(e, EQ_RNG_UNIFORM, op(0), b, 9);
    eager_call(e, EQ_RNG_UNIFORM, op(0), c, 9);
    ck_assert(memcmp(b, c, sizeof b) != 0);
    eq_seed_ctx_free(e);

    /* a session running the same node twice advances it */
    eq_seed_ctx *gc = eq_seed_ctx_new(EQ_SEEDS_GRAPH);
    p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    eq_seed_ctx_enter_policy(gc, p, &err);
    eq_rng_kernel node;
    graph_node(gc, NULL, &node);
    run_uniform(&node, b, 9);
    run_uniform(&node, c, 9);
    ck_assert_float_eq_tol(c[0], 0.66813004f, 6e-9f);
    eq_seed_ctx_leave_policy(gc);
    eq_seed_policy_free(p);
    eq_seed_ctx_free(gc);
}
END_TEST

START_TEST(guide_num_random_ops_mode)
{
    eq_error err;
    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    abc g = graph_program(p);
    ck_assert(memcmp(g.b, g.c, sizeof g.b) != 0);
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 3);
    /* a is (42,0), b (42,1), c (42,2) */
    ck_assert_float_eq_tol(g.a[0], 3.0f * 0.83545911f, 2e-7f);
    ck_assert_float_eq_tol(g.b[0], 3.0f * 0.15012848f, 2e-7f);
    ck_assert_float_eq_tol(g.b[3], 3.0f * 0.34572172f, 2e-7f);
    ck_assert_float_eq_tol(g.c[0], 3.0f * 0.98781276f, 2e-7f);
    eq_seed_policy_free(p);

    /* eager, same order: the same numbers */
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    abc r = eager_program(e, 0);
    ck_assert_mem_eq(&r, &g, sizeof r);
    ck_assert_int_eq(eq_seed_policy_operation_seed(p), 3);
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);

    /* order matters: creating b first gives b (42,0) and a (42,1) */
    p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    r = eager_program(e, 1);
    ck_assert(memcmp(r.a, g.a, sizeof r.a) != 0);
    ck_assert(memcmp(r.b, g.b, sizeof r.b) != 0);
    ck_assert_mem_eq(r.c, g.c, sizeof r.c); /* c is still the third op */
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);

    /* setting operation_seed explicitly reproduces the graph's a, b, c */
    p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    eq_seed_policy_set_operation_seed(p, 1);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.b, 9);
    eq_seed_policy_set_operation_seed(p, 0);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.a, 3);
    eq_seed_policy_set_operation_seed(p, 2);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.c, 9);
    times3(r.a, 3);
    times3(r.b, 9);
    times3(r.c, 9);
    ck_assert_mem_eq(&r, &g, sizeof r);
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);

    /* ...but letting the count run on from 0 into the used 1 is the error */
    p = eq_seed_policy_new(42, EQ_SEED_NUM_RANDOM_OPS, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    eq_seed_policy_set_operation_seed(p, 1);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.b, 9);
    eq_seed_policy_set_operation_seed(p, 0);
    eager_call(e, EQ_RNG_UNIFORM, NULL, r.a, 3);
    eq_seed_pair s;
    ck_assert_int_eq(eq_seed_ctx_get_seed(e, NULL, &s, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "re-use the already-used operation seed 1."));
    ck_assert_ptr_nonnull(strstr(err.message, "It cannot guarantee random numbers will match "
                                              "between eager and sessions"));
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);
    eq_seed_ctx_free(e);
}
END_TEST

START_TEST(guide_distributions_share_words)
{
    /* constant mode: a normal and a truncated normal of the same op seed read
     * the same words, so their first group agrees when nothing is rejected */
    eq_error err;
    eq_seed_ctx *e = eq_seed_ctx_new(EQ_SEEDS_EAGER);
    eq_seed_policy *p = eq_seed_policy_new(42, EQ_SEED_CONSTANT, &err);
    eq_seed_ctx_enter_policy(e, p, &err);
    float n[4], t[4];
    eager_call(e, EQ_RNG_NORMAL, NULL, n, 4);
    eager_call(e, EQ_RNG_TRUNCATED_NORMAL, NULL, t, 4);
    ck_assert_mem_eq(n, t, sizeof n);
    ck_assert_float_eq_tol(n[3], -1.17608738f, 6e-8f);
    eq_seed_ctx_leave_policy(e);
    eq_seed_policy_free(p);
    eq_seed_ctx_free(e);
}
END_TEST

static Suite *seed_suite(void)
{
    Suite *s = suite_create("seed");
    TCase *tc = tcase_create("derivation");
    tcase_add_test(tc, truncate_is_python_mod);
    tcase_add_test(tc, mt_verified_sequences);
    tcase_add_test(tc, mt_raw_words_and_rejection);
    tcase_add_test(tc, get_seed_table);
    tcase_add_test(tc, graph_counter);
    tcase_add_test(tc, eager_op_seeds);
    tcase_add_test(tc, op_determinism);
    tcase_add_test(tc, cache_continues_streams);
    tcase_add_test(tc, cache_grows_with_stable_kernels);
    tcase_add_test(tc, out_of_memory_paths);
    tcase_add_test(tc, observed_eager_outputs);
    tcase_add_test(tc, observed_tf_function);
    suite_add_tcase(s, tc);
    TCase *pc = tcase_create("policy");
    tcase_add_test(pc, policy_modes);
    tcase_add_test(pc, policy_in_context);
    tcase_add_test(pc, guide_constant_mode);
    tcase_add_test(pc, guide_num_random_ops_mode);
    tcase_add_test(pc, guide_distributions_share_words);
    suite_add_tcase(s, pc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seed_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
