/* eq_rand.c - seeds and kernels for one runner, over the RNG module. */
#include "eq_rand.h"

#include <string.h>

#include "eq_alloc.h"
#include "eq_rng.h"

struct eq_rand {
    eq_mode mode;
    eq_seed_ctx *ctx;       /* graph (per-graph counter) or eager (MT, cache) */
    eq_seed_policy *policy; /* the DeterministicRandomTestTool, when used */
};

eq_rand *eq_rand_new(eq_mode mode, eq_seeding seeding, int64_t seed, int64_t operation_seed,
                     eq_error *err)
{
    eq_rand *r = eq_calloc(1, sizeof *r);
    if (!r) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for random state");
        return NULL;
    }
    r->mode = mode;
    r->ctx = eq_seed_ctx_new(mode == EQ_MODE_GRAPH ? EQ_SEEDS_GRAPH : EQ_SEEDS_EAGER);
    if (!r->ctx) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for random state");
        goto fail;
    }
    if (seeding == EQ_SEEDING_TF) {
        eq_seed_ctx_set_seed(r->ctx, seed);
        return r;
    }
    r->policy = eq_seed_policy_new(seed, seeding == EQ_SEEDING_CONSTANT ? EQ_SEED_CONSTANT
                                                                        : EQ_SEED_NUM_RANDOM_OPS,
                                   err);
    if (!r->policy)
        goto fail;
    eq_seed_policy_set_operation_seed(r->policy, operation_seed);
    if (eq_seed_ctx_enter_policy(r->ctx, r->policy, err) != EQ_OK)
        goto fail;
    return r;
fail:
    eq_rand_free(r);
    return NULL;
}

void eq_rand_free(eq_rand *r)
{
    if (!r)
        return;
    if (r->ctx && r->policy)
        eq_seed_ctx_leave_policy(r->ctx);
    eq_seed_ctx_free(r->ctx);
    eq_seed_policy_free(r->policy);
    eq_free(r);
}

eq_status eq_rand_next_seeds(eq_rand *r, int64_t *seed, int64_t *seed2, eq_error *err)
{
    eq_seed_pair p;
    eq_status st = eq_seed_ctx_get_seed(r->ctx, NULL, &p, err);
    if (st != EQ_OK)
        return st;
    if (p.seed == 0 && p.seed2 == 0)
        return eq_error_set(err, EQ_ERR_STATE,
                            "random op without a seed: set a global seed or a seed policy "
                            "(seed 0 in constant mode means unseeded in TensorFlow)");
    *seed = p.seed;
    *seed2 = p.seed2;
    return EQ_OK;
}

eq_status eq_rand_set_operation_seed(eq_rand *r, int64_t op_seed, eq_error *err)
{
    if (!r->policy)
        return eq_error_set(err, EQ_ERR_STATE,
                            "operation_seed belongs to a seed policy (constant or "
                            "num_random_ops); this run uses TensorFlow's own seed rules");
    eq_seed_policy_set_operation_seed(r->policy, op_seed);
    return EQ_OK;
}

/* The model's initializer as the RNG module's descriptor: the named preset,
 * then any parameter the model set. */
static eq_status to_init(const eq_ast_init *a, eq_init *out, eq_error *err)
{
    eq_status st = eq_init_parse(a->kind, out, err);
    if (st != EQ_OK)
        return st;
    switch (out->kind) {
    case EQ_INIT_CONSTANT:
        out->value = a->value;
        break;
    case EQ_INIT_RANDOM_UNIFORM:
        if (a->minval != 0 || a->maxval != 0) {
            out->uniform.minval = a->minval;
            out->uniform.maxval = a->maxval;
            out->uniform.flags = 0;
        }
        break;
    case EQ_INIT_RANDOM_NORMAL:
    case EQ_INIT_TRUNCATED_NORMAL:
        if (a->stddev != 0) {
            out->mean = a->mean;
            out->stddev = a->stddev;
        }
        break;
    case EQ_INIT_VARIANCE_SCALING:
    case EQ_INIT_SLIM_VARIANCE_SCALING:
        /* glorot_*, xavier_*, he_*, lecun_* are presets of these kinds with
         * fixed parameters; only the general kinds take the model's. */
        if (strcmp(a->kind, "variance_scaling") != 0 &&
            strcmp(a->kind, "slim_variance_scaling") != 0)
            break;
        if (a->scale != 0)
            out->scale = a->scale;
        if (a->mode && (st = eq_init_mode_parse(a->mode, &out->mode, err)) != EQ_OK)
            return st;
        if (a->distribution &&
            (st = eq_init_distribution_parse(a->distribution, &out->distribution, err)) != EQ_OK)
            return st;
        break;
    default:
        break;
    }
    return eq_init_check(out, err);
}

static int is_values(const eq_ast_init *a) { return a->kind && strcmp(a->kind, "values") == 0; }

int eq_rand_init_is_random(const eq_ast_init *a)
{
    if (!a->kind || is_values(a))
        return 0;
    eq_init init;
    return eq_init_parse(a->kind, &init, NULL) == EQ_OK && eq_init_is_random(&init);
}

eq_status eq_rand_initialize(eq_rand *r, const eq_ast_init *a, int64_t seed, int64_t seed2,
                             eq_tensor *t, eq_error *err)
{
    if (is_values(a)) {
        if (!a->values || eq_tensor_numel(a->values) != eq_tensor_numel(t)) {
            char s1[128], s2[128];
            return eq_error_set(err, EQ_ERR_SHAPE, "initial values %s do not fit shape %s",
                                a->values ? eq_shape_str(a->values->rank, a->values->shape, s1,
                                                         sizeof s1)
                                          : "(none)",
                                eq_shape_str(t->rank, t->shape, s2, sizeof s2));
        }
        return eq_tensor_copy(t, a->values, err);
    }
    eq_init init;
    eq_status st = to_init(a, &init, err);
    if (st != EQ_OK)
        return st;
    if (!eq_init_is_random(&init))
        return eq_init_fill(&init, NULL, t, err);
    eq_seed_pair pair = {seed, seed2};
    if (r->mode == EQ_MODE_EAGER) {
        eq_rng_kernel *k;
        st = eq_seed_ctx_kernel(r->ctx, eq_init_rng_op(&init), eq_rng_dtype_of(t->dtype), pair,
                                &k, err);
        return st != EQ_OK ? st : eq_init_fill(&init, k, t, err);
    }
    /* Graph mode: the initializer op is its own node with a fresh kernel. */
    eq_rng_kernel own;
    st = eq_rng_kernel_init(&own, pair, err);
    return st != EQ_OK ? st : eq_init_fill(&init, &own, t, err);
}

eq_status eq_rand_uniform(eq_rand *r, int64_t seed, int64_t seed2, eq_tensor *t, eq_error *err)
{
    eq_seed_pair pair = {seed, seed2};
    eq_rng_kernel *k;
    eq_status st = eq_seed_ctx_kernel(r->ctx, EQ_RNG_UNIFORM, EQ_RNG_F32, pair, &k, err);
    if (st != EQ_OK)
        return st;
    return eq_rng_kernel_uniform_f32(k, eq_tensor_f32(t), eq_tensor_numel(t), err);
}
