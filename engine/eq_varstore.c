/* eq_varstore.c - variables in creation order with a name index. */
#include "eq_varstore.h"

#include <string.h>

#include "eq_alloc.h"

struct eq_varstore {
    eq_arena *arena;    /* names, descriptors and values */
    eq_var **vars;      /* creation order */
    int count, cap;
    int *slots;         /* open-addressing index into vars, -1 = empty */
    int nslots;         /* power of two */
    uint64_t version;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

eq_varstore *eq_varstore_new(void)
{
    eq_varstore *s = eq_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->arena = eq_arena_new((size_t)4 << 20);
    if (!s->arena) {
        eq_free(s);
        return NULL;
    }
    return s;
}

void eq_varstore_free(eq_varstore *s)
{
    if (!s)
        return;
    eq_arena_free(s->arena);
    eq_free(s->vars);
    eq_free(s->slots);
    eq_free(s);
}

eq_var *eq_varstore_find(const eq_varstore *s, const char *name)
{
    if (s->nslots == 0)
        return NULL;
    size_t mask = (size_t)s->nslots - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        int k = s->slots[i];
        if (k < 0)
            return NULL;
        if (strcmp(s->vars[k]->name, name) == 0)
            return s->vars[k];
    }
}

static int index_insert(eq_varstore *s, int k)
{
    size_t mask = (size_t)s->nslots - 1;
    for (size_t i = hash_name(s->vars[k]->name) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] < 0) {
            s->slots[i] = k;
            return 1;
        }
        if (strcmp(s->vars[s->slots[i]]->name, s->vars[k]->name) == 0)
            return 0; /* duplicate name: the first stays findable */
    }
}

static eq_status grow(eq_varstore *s, eq_error *err)
{
    if (s->count < s->cap)
        return EQ_OK;
    int cap = s->cap ? s->cap * 2 : 64;
    eq_var **vars = eq_realloc(s->vars, (size_t)cap * sizeof *vars);
    if (!vars)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the variable list");
    s->vars = vars;
    s->cap = cap;
    /* Keep the index at most half full. */
    int nslots = cap * 2;
    int *slots = eq_malloc((size_t)nslots * sizeof *slots);
    if (!slots)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the variable index");
    eq_free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    memset(slots, 0xff, (size_t)nslots * sizeof *slots);
    for (int k = 0; k < s->count; k++)
        index_insert(s, k);
    return EQ_OK;
}

eq_var *eq_varstore_add(eq_varstore *s, const char *name, int rank,
                        const int64_t *shape, int trainable,
                        const char *creator, const char *args, const char *path,
                        int call, eq_error *err)
{
    if (grow(s, err) != EQ_OK)
        return NULL;
    eq_var *v = eq_arena_calloc(s->arena, sizeof *v);
    if (!v) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for variable %s", name);
        return NULL;
    }
    v->name = eq_arena_strdup(s->arena, name);
    v->creator = eq_arena_strdup(s->arena, creator ? creator : "");
    v->args = eq_arena_strdup(s->arena, args ? args : "");
    v->path = eq_arena_strdup(s->arena, path ? path : "");
    v->value = eq_tensor_new(s->arena, EQ_F32, rank, shape, err);
    if (!v->name || !v->creator || !v->args || !v->path || !v->value) {
        if (v->value || !err || err->status == EQ_OK)
            eq_error_set(err, EQ_ERR_NOMEM, "out of memory for variable %s", name);
        else
            eq_error_prefix(err, "variable %s: ", name);
        return NULL;
    }
    v->trainable = trainable;
    v->call = call;
    v->index = s->count;
    s->vars[s->count] = v;
    index_insert(s, s->count);
    s->count++;
    s->version++;
    return v;
}

int eq_varstore_count(const eq_varstore *s) { return s->count; }

eq_var *eq_varstore_at(const eq_varstore *s, int i)
{
    return i >= 0 && i < s->count ? s->vars[i] : NULL;
}

int64_t eq_varstore_params(const eq_varstore *s)
{
    int64_t n = 0;
    for (int i = 0; i < s->count; i++)
        n += eq_tensor_numel(s->vars[i]->value);
    return n;
}

uint64_t eq_varstore_version(const eq_varstore *s) { return s->version; }

void eq_varstore_mark_changed(eq_varstore *s) { s->version++; }

void eq_varstore_set_all(eq_varstore *s, double value)
{
    for (int i = 0; i < s->count; i++)
        eq_tensor_fill(s->vars[i]->value, value);
    s->version++;
}

eq_arena *eq_varstore_arena(eq_varstore *s) { return s->arena; }
