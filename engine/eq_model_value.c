/* eq_model_value.c - JSON paths, "$name" resolution and typed reads for the
 * model parser (see eq_model_internal.h). Nothing here allocates except the
 * arena copies of names; a path is rendered only when a message needs it. */
#include "eq_model_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq_alloc.h"

/* ---- paths ---------------------------------------------------------------- */

#define PATH_MAX_SEGS 512

void eq_model_path_str(const mp_path *p, char *buf, size_t n)
{
    const mp_path *segs[PATH_MAX_SEGS];
    int k = 0;
    int cut = 0;
    for (const mp_path *q = p; q; q = q->up) {
        if (k == PATH_MAX_SEGS) {
            cut = 1;
            break;
        }
        segs[k++] = q;
    }
    char full[4096];
    size_t len = 0;
    full[0] = '\0';
    if (cut)
        len += (size_t)snprintf(full, sizeof full, "...");
    for (int i = k - 1; i >= 0 && len < sizeof full - 1; i--) {
        const mp_path *s = segs[i];
        int w;
        if (s->key)
            w = snprintf(full + len, sizeof full - len, "%s%s",
                         (len > 0 && s->key[0]) ? "." : "", s->key);
        else
            w = snprintf(full + len, sizeof full - len, "[%zu]", s->index);
        if (w < 0)
            break;
        len += (size_t)w;
        if (len >= sizeof full)
            len = sizeof full - 1;
    }
    if (n == 0)
        return;
    if (len < n) {
        memcpy(buf, full, len + 1);
        return;
    }
    /* Too long: the tail says where, so keep it. */
    if (n < 4) {
        buf[0] = '\0';
        return;
    }
    size_t keep = n - 4;
    memcpy(buf, "...", 3);
    memcpy(buf + 3, full + len - keep, keep);
    buf[n - 1] = '\0';
}

/* ---- errors --------------------------------------------------------------- */

void eq_model_describe(const json_t *j, char *buf, size_t n)
{
    if (!j) {
        snprintf(buf, n, "nothing");
        return;
    }
    switch (json_typeof(j)) {
    case JSON_NULL: snprintf(buf, n, "null"); return;
    case JSON_TRUE: snprintf(buf, n, "true"); return;
    case JSON_FALSE: snprintf(buf, n, "false"); return;
    case JSON_INTEGER:
        snprintf(buf, n, "%lld", (long long)json_integer_value(j));
        return;
    case JSON_REAL: {
        double x = json_real_value(j);
        char t[64];
        snprintf(t, sizeof t, "%.15g", x);
        if (strtod(t, NULL) != x)
            snprintf(t, sizeof t, "%.17g", x);
        /* Show that it is a real even when it is integral ("3.0"). */
        if (!strpbrk(t, ".eEn"))
            snprintf(buf, n, "%s.0", t);
        else
            snprintf(buf, n, "%s", t);
        return;
    }
    case JSON_STRING: {
        const char *s = json_string_value(j);
        char t[48];
        size_t i = 0;
        for (; s[i] && i < 40; i++)
            t[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
        t[i] = '\0';
        snprintf(buf, n, "\"%s%s\"", t, s[i] ? "..." : "");
        return;
    }
    case JSON_ARRAY: {
        size_t m = json_array_size(j);
        if (m == 0)
            snprintf(buf, n, "an empty array");
        else
            snprintf(buf, n, "an array of %zu element%s", m, m == 1 ? "" : "s");
        return;
    }
    case JSON_OBJECT:
        snprintf(buf, n, json_object_size(j) ? "an object" : "an empty object");
        return;
    }
    snprintf(buf, n, "a value");
}

static eq_status vfail(mp_ctx *c, eq_status st, const mp_path *p, const mp_val *via,
                       const char *fmt, va_list ap)
{
    eq_error *err = c->err;
    err->status = st;
    eq_model_path_str(p, err->path, sizeof err->path);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    if (via && via->ref && via->use) {
        char use[256];
        eq_model_path_str(via->use, use, sizeof use);
        size_t len = strlen(err->message);
        snprintf(err->message + len, sizeof err->message - len,
                 " (the value of $%s used at %s)", via->ref, use);
    }
    for (const mp_call *k = c->calls; k; k = k->up) {
        char at[256];
        eq_model_path_str(k->at, at, sizeof at);
        size_t len = strlen(err->message);
        snprintf(err->message + len, sizeof err->message - len,
                 "; in block '%s' called at %s", k->block, at);
    }
    return st;
}

eq_status eq_model_fail(mp_ctx *c, eq_status st, const mp_path *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, st, p, NULL, fmt, ap);
    va_end(ap);
    return st;
}

eq_status eq_model_fail_val(mp_ctx *c, const mp_val *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, EQ_ERR_INVALID, v->path, v, fmt, ap);
    va_end(ap);
    return EQ_ERR_INVALID;
}

eq_status eq_model_nomem(mp_ctx *c, const mp_path *p)
{
    return eq_model_fail(c, EQ_ERR_NOMEM, p, "out of memory while parsing the model");
}

/* ---- reading -------------------------------------------------------------- */

mp_val eq_model_member(const mp_val *o, const char *key, mp_path *slot)
{
    slot->up = o->path;
    slot->key = key;
    slot->index = 0;
    mp_val v = {NULL, o->env, slot, NULL, NULL};
    if (o->j && json_is_object(o->j))
        v.j = json_object_get(o->j, key);
    return v;
}

mp_val eq_model_element(const mp_val *a, size_t i, mp_path *slot)
{
    slot->up = a->path;
    slot->key = NULL;
    slot->index = i;
    mp_val v = {NULL, a->env, slot, NULL, NULL};
    if (a->j && json_is_array(a->j))
        v.j = json_array_get(a->j, i);
    return v;
}

static const mp_binding *env_lookup(const mp_env *e, const char *name)
{
    for (; e; e = e->up)
        for (int i = 0; i < e->n; i++)
            if (strcmp(e->b[i].name, name) == 0)
                return &e->b[i];
    return NULL;
}

static void env_names(const mp_env *e, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (; e && len < n; e = e->up) {
        int w = snprintf(buf + len, n - len, "%s%s has ", len ? "; " : "", e->what);
        if (w < 0)
            return;
        len += (size_t)w;
        if (e->n == 0 && len < n) {
            w = snprintf(buf + len, n - len, "none");
            len += w > 0 ? (size_t)w : 0;
        }
        for (int i = 0; i < e->n && len < n; i++) {
            w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", e->b[i].name);
            len += w > 0 ? (size_t)w : 0;
        }
    }
}

eq_status eq_model_resolve(mp_ctx *c, const mp_val *v, mp_val *out)
{
    mp_val cur = *v;
    /* Each hop moves to an outer environment (a caller's, then the
     * model's), so the chain is at most as long as the call stack. */
    for (int hops = 0; cur.j && json_is_string(cur.j); hops++) {
        const char *s = json_string_value(cur.j);
        if (s[0] != '$' || s[1] == '$')
            break;
        if (hops > EQ_MODEL_MAX_DEPTH + 2)
            return eq_model_fail(c, EQ_ERR_LIMIT, cur.path,
                                 "parameter references nest too deeply");
        const char *name = s + 1;
        if (!cur.env)
            return eq_model_fail_val(c, &cur,
                                     "parameter references are not allowed here "
                                     "(write \"$$%s\" for the literal string \"$%s\")",
                                     name, name);
        const mp_binding *b = env_lookup(cur.env, name);
        if (!b) {
            char names[512];
            env_names(cur.env, names, sizeof names);
            return eq_model_fail_val(c, &cur, "unknown parameter $%s (%s)", name, names);
        }
        mp_val next = b->val;
        next.use = cur.use ? cur.use : cur.path;
        next.ref = cur.ref ? cur.ref : b->name;
        cur = next;
    }
    *out = cur;
    return EQ_OK;
}

static eq_status expected(mp_ctx *c, const mp_val *v, const char *what)
{
    char got[96];
    eq_model_describe(v->j, got, sizeof got);
    return eq_model_fail_val(c, v, "expected %s, got %s", what, got);
}

eq_status eq_model_get_int(mp_ctx *c, const mp_val *v, int64_t lo, int64_t hi,
                           const char *what, int64_t *out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (!r.j || !json_is_integer(r.j))
        return expected(c, &r, what);
    int64_t x = (int64_t)json_integer_value(r.j);
    if (x < lo)
        return expected(c, &r, what);
    if (x > hi) {
        /* Large bounds are the engine's limits, not the language's rules, so
         * the message has to name them; small ranges are part of `what`. */
        if (hi >= 1000) {
            char got[96];
            eq_model_describe(r.j, got, sizeof got);
            return eq_model_fail_val(c, &r, "expected %s (at most %lld), got %s", what,
                                     (long long)hi, got);
        }
        return expected(c, &r, what);
    }
    *out = x;
    return EQ_OK;
}

eq_status eq_model_get_number(mp_ctx *c, const mp_val *v, double lo, double hi,
                              int lo_open, const char *what, double *out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (!r.j || !json_is_number(r.j))
        return expected(c, &r, what);
    double x = json_number_value(r.j);
    if (!isfinite(x) || x > hi || x < lo || (lo_open && x == lo))
        return expected(c, &r, what);
    *out = x;
    return EQ_OK;
}

eq_status eq_model_get_bool(mp_ctx *c, const mp_val *v, int *out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (!r.j || !json_is_boolean(r.j))
        return expected(c, &r, "true or false");
    *out = json_is_true(r.j);
    return EQ_OK;
}

eq_status eq_model_get_string(mp_ctx *c, const mp_val *v, const char *what,
                              const char **out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (!r.j || !json_is_string(r.j))
        return expected(c, &r, what);
    const char *s = json_string_value(r.j);
    *out = (s[0] == '$' && s[1] == '$') ? s + 1 : s;
    return EQ_OK;
}

static int name_char(char ch, int first, int slash_ok)
{
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '.')
        return 1;
    if (first)
        return 0;
    return ch == '_' || ch == '-' || (slash_ok && (ch == '/' || ch == ':'));
}

static eq_status get_name(mp_ctx *c, const mp_val *v, int tensor, const char **out)
{
    const char *what = tensor ? "a tensor name (letters, digits, '.', '_', '-', '/', ':';"
                                " starting with a letter, digit or '.'; at most 200)"
                              : "a scope name (letters, digits, '.', '_', '-'; starting "
                                "with a letter, digit or '.'; at most 200)";
    const char *s;
    eq_status st = eq_model_get_string(c, v, what, &s);
    if (st != EQ_OK)
        return st;
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 200;
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(s[i], i == 0, tensor);
    if (!ok) {
        mp_val r;
        eq_model_resolve(c, v, &r);
        return expected(c, &r, what);
    }
    *out = eq_arena_strdup(c->a, s);
    if (!*out)
        return eq_model_nomem(c, v->path);
    return EQ_OK;
}

eq_status eq_model_get_scope_name(mp_ctx *c, const mp_val *v, const char **out)
{
    return get_name(c, v, 0, out);
}

eq_status eq_model_get_tensor_name(mp_ctx *c, const mp_val *v, const char **out)
{
    return get_name(c, v, 1, out);
}

eq_status eq_model_get_object(mp_ctx *c, const mp_val *v, const char *what, mp_val *out)
{
    eq_status st = eq_model_resolve(c, v, out);
    if (st != EQ_OK)
        return st;
    if (!out->j || !json_is_object(out->j))
        return expected(c, out, what);
    return EQ_OK;
}

eq_status eq_model_check_keys(mp_ctx *c, const mp_val *o, const char *const *allowed,
                              const char *what)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o->j, key, val) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (ok)
            continue;
        char list[600];
        size_t len = 0;
        list[0] = '\0';
        for (const char *const *a = allowed; *a && len < sizeof list; a++) {
            int w = snprintf(list + len, sizeof list - len, "%s%s",
                             a == allowed ? "" : ", ", *a);
            len += w > 0 ? (size_t)w : 0;
        }
        mp_path kp = {o->path, key, 0};
        char shown[64];
        snprintf(shown, sizeof shown, "%s", key);
        return eq_model_fail(c, EQ_ERR_INVALID, &kp, "unknown key '%s' in %s; allowed: %s",
                             shown, what, list[0] ? list : "none");
    }
    return EQ_OK;
}

int eq_model_is_identifier(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return 0;
    }
    return 1;
}

int eq_model_truthy(const json_t *j)
{
    if (!j)
        return 0;
    switch (json_typeof(j)) {
    case JSON_NULL:
    case JSON_FALSE: return 0;
    case JSON_TRUE: return 1;
    case JSON_INTEGER: return json_integer_value(j) != 0;
    case JSON_REAL: return json_real_value(j) != 0.0;
    case JSON_STRING: return json_string_length(j) != 0;
    case JSON_ARRAY: return json_array_size(j) != 0;
    case JSON_OBJECT: return json_object_size(j) != 0;
    }
    return 0;
}

/* ---- name sets ------------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static long find_slot(const mp_nameset *s, const char *name)
{
    size_t mask = s->cap - 1;
    for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask)
        if (!s->slot[i] || strcmp(s->slot[i], name) == 0)
            return (long)i;
}

int eq_model_nameset_has(const mp_nameset *s, const char *name)
{
    if (s->cap == 0)
        return 0;
    return s->slot[find_slot(s, name)] != NULL;
}

static eq_status grow(mp_ctx *c, mp_nameset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    const char **slot = eq_arena_calloc(c->a, cap * sizeof *slot);
    const char **path = eq_arena_calloc(c->a, cap * sizeof *path);
    if (!slot || !path)
        return EQ_ERR_NOMEM;
    mp_nameset bigger = {slot, path, cap, s->n};
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i])
            continue;
        long k = find_slot(&bigger, s->slot[i]);
        slot[k] = s->slot[i];
        path[k] = s->path[i];
    }
    *s = bigger; /* the old arrays stay in the arena until the model goes */
    return EQ_OK;
}

eq_status eq_model_nameset_add(mp_ctx *c, mp_nameset *s, const char *name,
                               const char *path, int *found, const char **first_path)
{
    if ((s->n + 1) * 2 > s->cap && grow(c, s) != EQ_OK)
        return EQ_ERR_NOMEM;
    long k = find_slot(s, name);
    if (s->slot[k]) {
        *found = 1;
        if (first_path)
            *first_path = s->path[k];
        return EQ_OK;
    }
    *found = 0;
    s->slot[k] = name;
    s->path[k] = path;
    s->n++;
    return EQ_OK;
}
