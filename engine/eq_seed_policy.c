/* eq_seed_policy.c - tf-keras DeterministicRandomTestTool (spec 4): the seed
 * pair each random op gets inside the tool's scope. */
#include "eq_rng.h"

#include <string.h>

#include "eq_alloc.h"

struct eq_seed_policy {
    int64_t seed;
    eq_seed_mode mode;
    int64_t operation_seed;
    /* the operation seeds handed out (num_random_ops): an open-addressing
     * set, because explicit operation_seed jumps make them non-contiguous */
    int64_t *keys;
    unsigned char *used;
    size_t cap; /* a power of two, or 0 */
    size_t count;
};

eq_status eq_seed_mode_parse(const char *s, eq_seed_mode *out, eq_error *err)
{
    if (s && strcmp(s, "constant") == 0) {
        *out = EQ_SEED_CONSTANT;
        return EQ_OK;
    }
    if (s && strcmp(s, "num_random_ops") == 0) {
        *out = EQ_SEED_NUM_RANDOM_OPS;
        return EQ_OK;
    }
    return eq_error_set(err, EQ_ERR_INVALID,
                        "Mode arg must be 'constant' or 'num_random_ops'. Got: %s",
                        s ? s : "None");
}

const char *eq_seed_mode_name(eq_seed_mode mode)
{
    return mode == EQ_SEED_NUM_RANDOM_OPS ? "num_random_ops" : "constant";
}

eq_seed_policy *eq_seed_policy_new(int64_t seed, eq_seed_mode mode, eq_error *err)
{
    eq_seed_policy *p = eq_calloc(1, sizeof *p);
    if (!p) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory creating a seed policy");
        return NULL;
    }
    p->seed = seed;
    p->mode = mode;
    return p;
}

void eq_seed_policy_free(eq_seed_policy *p)
{
    if (!p)
        return;
    eq_free(p->keys);
    eq_free(p->used);
    eq_free(p);
}

int64_t eq_seed_policy_seed(const eq_seed_policy *p) { return p->seed; }
eq_seed_mode eq_seed_policy_mode(const eq_seed_policy *p) { return p->mode; }
int64_t eq_seed_policy_operation_seed(const eq_seed_policy *p) { return p->operation_seed; }

void eq_seed_policy_set_operation_seed(eq_seed_policy *p, int64_t op_seed)
{
    p->operation_seed = op_seed;
}

static size_t slot_of(int64_t key, size_t cap)
{
    uint64_t h = (uint64_t)key * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 17) & (cap - 1);
}

static int set_contains(const eq_seed_policy *p, int64_t key)
{
    if (!p->cap)
        return 0;
    for (size_t i = slot_of(key, p->cap);; i = (i + 1) & (p->cap - 1)) {
        if (!p->used[i])
            return 0;
        if (p->keys[i] == key)
            return 1;
    }
}

static void set_put(int64_t *keys, unsigned char *used, size_t cap, int64_t key)
{
    size_t i = slot_of(key, cap);
    while (used[i])
        i = (i + 1) & (cap - 1);
    used[i] = 1;
    keys[i] = key;
}

static eq_status set_add(eq_seed_policy *p, int64_t key, eq_error *err)
{
    if (2 * (p->count + 1) > p->cap) { /* keep the load at most 1/2 */
        size_t cap = p->cap ? 2 * p->cap : 64;
        int64_t *keys = eq_malloc(cap * sizeof *keys);
        unsigned char *used = eq_calloc(cap, 1);
        if (!keys || !used) {
            eq_free(keys);
            eq_free(used);
            return eq_error_set(err, EQ_ERR_NOMEM,
                                "out of memory recording operation seed %lld", (long long)key);
        }
        for (size_t i = 0; i < p->cap; i++)
            if (p->used[i])
                set_put(keys, used, cap, p->keys[i]);
        eq_free(p->keys);
        eq_free(p->used);
        p->keys = keys;
        p->used = used;
        p->cap = cap;
    }
    set_put(p->keys, p->used, p->cap, key);
    p->count++;
    return EQ_OK;
}

eq_status eq_seed_policy_next(eq_seed_policy *p, eq_seed_pair *out, eq_error *err)
{
    EQ_ASSERT(p && out);
    int64_t op_seed = p->operation_seed;
    if (p->mode == EQ_SEED_NUM_RANDOM_OPS) {
        if (set_contains(p, op_seed))
            return eq_error_set(
                err, EQ_ERR_STATE,
                "This DeterministicRandomTestTool (num_random_ops) is trying to re-use the "
                "already-used operation seed %lld. It cannot guarantee random numbers will "
                "match between eager and sessions when an operation seed is reused: eager "
                "execution continues the cached kernel of a repeated seed pair, while a "
                "session gives every graph node a fresh kernel that starts from the beginning "
                "of its stream. You most likely set operation_seed explicitly to a value that "
                "made the naturally-incrementing operation seeds overlap an already-used seed.",
                (long long)op_seed);
        eq_status st = set_add(p, op_seed, err);
        if (st)
            return st;
        p->operation_seed++;
    }
    out->seed = p->seed;
    out->seed2 = op_seed;
    return EQ_OK;
}
