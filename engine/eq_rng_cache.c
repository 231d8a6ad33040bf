/* eq_rng_cache.c - the eager runtime's random-kernel cache (spec 3.3).
 *
 * TF caches eager kernels by a fingerprint of the op type and attributes
 * (seed, seed2, dtype); the shape is an input, not an attribute. So a second
 * call with the same seed pair and dtype finds the same kernel and continues
 * its stream, whatever its shape. set_seed clears the cache. (TF's key also
 * holds the device and the shape's index type; here both are fixed.)
 */
#include "eq_rng.h"

#include "eq_alloc.h"

typedef struct entry {
    eq_rng_op op;
    eq_rng_dtype dtype;
    eq_rng_kernel kernel; /* kernel.seeds is the rest of the key */
} entry;

struct eq_rng_cache {
    entry **slots; /* open addressing; entries own stable addresses */
    size_t cap;    /* a power of two, or 0 */
    int64_t count;
};

eq_rng_cache *eq_rng_cache_new(void)
{
    return eq_calloc(1, sizeof(eq_rng_cache));
}

void eq_rng_cache_clear(eq_rng_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        eq_free(c->slots[i]);
        c->slots[i] = NULL;
    }
    c->count = 0;
}

void eq_rng_cache_free(eq_rng_cache *c)
{
    if (!c)
        return;
    eq_rng_cache_clear(c);
    eq_free(c->slots);
    eq_free(c);
}

int64_t eq_rng_cache_size(const eq_rng_cache *c)
{
    return c->count;
}

static size_t hash_key(eq_rng_op op, eq_rng_dtype dtype, eq_seed_pair s, size_t cap)
{
    uint64_t h = (uint64_t)s.seed * UINT64_C(0x9E3779B97F4A7C15);
    h ^= (uint64_t)s.seed2 + UINT64_C(0xBF58476D1CE4E5B9) + (h << 6) + (h >> 2);
    h ^= ((uint64_t)op << 8 | (uint64_t)dtype) * UINT64_C(0x94D049BB133111EB);
    h ^= h >> 31;
    return (size_t)h & (cap - 1);
}

static int same_key(const entry *e, eq_rng_op op, eq_rng_dtype dtype, eq_seed_pair s)
{
    return e->op == op && e->dtype == dtype && e->kernel.seeds.seed == s.seed &&
           e->kernel.seeds.seed2 == s.seed2;
}

static eq_status grow(eq_rng_cache *c, eq_error *err)
{
    size_t cap = c->cap ? 2 * c->cap : 64;
    entry **slots = eq_calloc(cap, sizeof *slots);
    if (!slots)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory growing the random kernel cache");
    for (size_t i = 0; i < c->cap; i++) {
        entry *e = c->slots[i];
        if (!e)
            continue;
        size_t j = hash_key(e->op, e->dtype, e->kernel.seeds, cap);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = e;
    }
    eq_free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return EQ_OK;
}

eq_status eq_rng_cache_get(eq_rng_cache *c, eq_rng_op op, eq_rng_dtype dtype,
                           eq_seed_pair seeds, eq_rng_kernel **out, eq_error *err)
{
    EQ_ASSERT(c && out);
    *out = NULL;
    if (c->cap) {
        for (size_t i = hash_key(op, dtype, seeds, c->cap); c->slots[i];
             i = (i + 1) & (c->cap - 1))
            if (same_key(c->slots[i], op, dtype, seeds)) {
                *out = &c->slots[i]->kernel;
                return EQ_OK;
            }
    }
    entry fresh = {op, dtype, {{{0}, {0}}, {0, 0}, 0}};
    eq_status st = eq_rng_kernel_init(&fresh.kernel, seeds, err);
    if (st) {
        eq_error_prefix(err, "%s (%s): ", eq_rng_op_name(op), eq_rng_dtype_name(dtype));
        return st;
    }
    if (2 * (size_t)(c->count + 1) > c->cap && (st = grow(c, err)) != EQ_OK)
        return st;
    entry *e = eq_malloc(sizeof *e);
    if (!e)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory caching a random kernel");
    *e = fresh;
    size_t i = hash_key(op, dtype, seeds, c->cap);
    while (c->slots[i])
        i = (i + 1) & (c->cap - 1);
    c->slots[i] = e;
    c->count++;
    *out = &e->kernel;
    return EQ_OK;
}
