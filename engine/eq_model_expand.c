/* eq_model_expand.c - statements to AST nodes: scopes, defaults (slim's
 * arg_scope), branches, residual blocks, block calls, slim.repeat and `if`,
 * expanded in place, plus the static checks that need execution order
 * (tensor names read before they are saved, endpoints reported twice). */
#include "eq_model_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- node lists ------------------------------------------------------------ */

typedef struct node_vec {
    eq_node **v;
    int n, cap;
} node_vec;

static eq_status vec_push(mp_ctx *c, node_vec *vec, eq_node *node, const mp_path *p)
{
    if (vec->n == vec->cap) {
        int cap = vec->cap ? vec->cap * 2 : 8;
        eq_node **v = eq_arena_alloc(c->a, (size_t)cap * sizeof *v);
        if (!v)
            return eq_model_nomem(c, p);
        if (vec->n)
            memcpy(v, vec->v, (size_t)vec->n * sizeof *v);
        vec->v = v; /* the old array stays in the arena: bounded waste */
        vec->cap = cap;
    }
    vec->v[vec->n++] = node;
    return EQ_OK;
}

static eq_status new_node(mp_ctx *c, eq_node_kind kind, const mp_path *p, eq_node **out)
{
    if (++c->n_nodes > EQ_MODEL_MAX_NODES)
        return eq_model_fail(c, EQ_ERR_LIMIT, p,
                             "the expanded model has more than %d statements "
                             "(check repeat counts and nested blocks)",
                             EQ_MODEL_MAX_NODES);
    eq_node *n = eq_arena_calloc(c->a, sizeof *n);
    if (!n)
        return eq_model_nomem(c, p);
    char buf[1024];
    eq_model_path_str(p, buf, sizeof buf);
    n->path = eq_arena_strdup(c->a, buf);
    if (!n->path)
        return eq_model_nomem(c, p);
    n->kind = kind;
    n->scale = 1.0;
    *out = n;
    return EQ_OK;
}

/* ---- blocks ---------------------------------------------------------------- */

mp_block *eq_model_find_block(mp_ctx *c, const char *name)
{
    for (int i = 0; i < c->n_blocks; i++)
        if (strcmp(c->blocks[i].name, name) == 0)
            return &c->blocks[i];
    return NULL;
}

void eq_model_block_list(const mp_ctx *c, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->n_blocks && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", c->blocks[i].name);
        len += w > 0 ? (size_t)w : 0;
    }
    if (c->n_blocks == 0)
        snprintf(buf, n, "none");
}

/* ---- constructs ------------------------------------------------------------ */

static const char *const construct_keys[] = {"scope", "defaults", "branches", "residual",
                                             "block", "repeat",  "if",       NULL};

typedef struct stmt_common {
    const char *as, *endpoint, *input;
    mp_val as_v, endpoint_v, input_v;
} stmt_common;

static eq_status expand_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                             node_vec *out);

static eq_status enter(mp_ctx *c, const mp_path *p)
{
    if (++c->depth > EQ_MODEL_MAX_DEPTH)
        return eq_model_fail(c, EQ_ERR_LIMIT, p,
                             "statements and block calls nest deeper than %d levels",
                             EQ_MODEL_MAX_DEPTH);
    return EQ_OK;
}

static eq_status expand_list(mp_ctx *c, const mp_val *list, const mp_defaults *d,
                             node_vec *out)
{
    if (!list->j || !json_is_array(list->j)) {
        char got[96];
        eq_model_describe(list->j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, list->path,
                             "expected an array of statements, got %s", got);
    }
    size_t n = json_array_size(list->j);
    for (size_t i = 0; i < n; i++) {
        mp_path slot;
        mp_val s = eq_model_element(list, i, &slot);
        eq_status st = expand_stmt(c, &s, d, out);
        if (st != EQ_OK)
            return st;
    }
    return EQ_OK;
}

eq_status eq_model_expand_body(mp_ctx *c, const mp_val *list, const mp_defaults *d,
                               eq_node ***out, int *n_out)
{
    node_vec vec = {NULL, 0, 0};
    eq_status st = expand_list(c, list, d, &vec);
    *out = vec.v;
    *n_out = vec.n;
    return st;
}

/* A member that must be present and a statement list. */
static eq_status body_of(mp_ctx *c, const mp_val *o, const char *key, const char *construct,
                         const mp_defaults *d, mp_path *slot, eq_node ***out, int *n_out)
{
    mp_val b = eq_model_member(o, key, slot);
    if (!b.j)
        return eq_model_fail(c, EQ_ERR_INVALID, o->path, "%s needs \"%s\": [statements]",
                             construct, key);
    return eq_model_expand_body(c, &b, d, out, n_out);
}

static eq_status require_tensor(mp_ctx *c, const char *name, const mp_val *at)
{
    if (strcmp(name, "input") == 0 || eq_model_nameset_has(&c->tensors, name))
        return EQ_OK;
    mp_val r;
    eq_model_resolve(c, at, &r);
    return eq_model_fail_val(c, &r,
                             "unknown tensor '%s': no earlier statement saves it with \"as\" "
                             "or \"endpoint\" (\"input\" is the model input)",
                             name);
}

static eq_status read_common(mp_ctx *c, const mp_val *stmt, stmt_common *sc, mp_path slots[3])
{
    memset(sc, 0, sizeof *sc);
    eq_status st;
    sc->as_v = eq_model_member(stmt, "as", &slots[0]);
    sc->endpoint_v = eq_model_member(stmt, "endpoint", &slots[1]);
    sc->input_v = eq_model_member(stmt, "input", &slots[2]);
    if (sc->as_v.j && (st = eq_model_get_tensor_name(c, &sc->as_v, &sc->as)) != EQ_OK)
        return st;
    if (sc->endpoint_v.j &&
        (st = eq_model_get_tensor_name(c, &sc->endpoint_v, &sc->endpoint)) != EQ_OK)
        return st;
    if (sc->input_v.j) {
        if ((st = eq_model_get_tensor_name(c, &sc->input_v, &sc->input)) != EQ_OK)
            return st;
        if ((st = require_tensor(c, sc->input, &sc->input_v)) != EQ_OK)
            return st;
    }
    const mp_val *names[2] = {&sc->as_v, &sc->endpoint_v};
    const char *vals[2] = {sc->as, sc->endpoint};
    for (int i = 0; i < 2; i++) {
        if (vals[i] && strcmp(vals[i], "input") == 0) {
            mp_val r;
            eq_model_resolve(c, names[i], &r);
            return eq_model_fail_val(c, &r,
                                     "\"input\" is the model input's name; choose another");
        }
    }
    return EQ_OK;
}

/* After the node's body: bind "as" (or the endpoint's name) and record the
 * endpoint. */
static eq_status finish(mp_ctx *c, eq_node *n, const stmt_common *sc)
{
    n->as = sc->as ? sc->as : sc->endpoint;
    n->endpoint = sc->endpoint;
    n->input = sc->input;
    int found;
    if (n->as && eq_model_nameset_add(c, &c->tensors, n->as, NULL, &found, NULL) != EQ_OK)
        return eq_model_nomem(c, sc->as ? sc->as_v.path : sc->endpoint_v.path);
    if (n->endpoint &&
        eq_model_nameset_add(c, &c->tensors, n->endpoint, NULL, &found, NULL) != EQ_OK)
        return eq_model_nomem(c, sc->endpoint_v.path);
    if (n->endpoint) {
        const char *first = NULL;
        if (eq_model_nameset_add(c, &c->endpoints, n->endpoint, n->path, &found, &first) !=
            EQ_OK)
            return eq_model_nomem(c, sc->endpoint_v.path);
        if (found) {
            mp_val r;
            eq_model_resolve(c, &sc->endpoint_v, &r);
            return eq_model_fail_val(c, &r, "endpoint '%s' is already reported by the statement at %s",
                                     n->endpoint, first ? first : "?");
        }
    }
    return EQ_OK;
}

static eq_status no_common(mp_ctx *c, const mp_val *stmt, const char *construct)
{
    static const char *const keys[] = {"as", "endpoint", "input"};
    for (int i = 0; i < 3; i++) {
        if (json_object_get(stmt->j, keys[i])) {
            mp_path kp = {stmt->path, keys[i], 0};
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "\"%s\" is not allowed on %s statement (it makes no node "
                                 "of its own): put it on a statement in its body",
                                 keys[i], construct);
        }
    }
    return EQ_OK;
}

static eq_status layer_stmt(mp_ctx *c, const mp_val *stmt, eq_layer_type t, const char *key,
                            const mp_defaults *d, node_vec *out)
{
    static const char *const allowed[] = {"as", "endpoint", "input", "doc", NULL};
    char what[64];
    snprintf(what, sizeof what, "a %s statement", key);
    eq_status st;
    /* The construct key is allowed too: check the others by hand. */
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)stmt->j, k, val) {
        if (strcmp(k, key) == 0)
            continue;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            mp_path kp = {stmt->path, k, 0};
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "unknown key '%.60s' in %s; allowed: %s, as, endpoint, "
                                 "input, doc",
                                 k, what, key);
        }
    }
    mp_path slots[4];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_LAYER, stmt->path, &n)) != EQ_OK)
        return st;
    mp_val args = eq_model_member(stmt, key, &slots[3]);
    if ((st = eq_model_layer_parse(c, t, &args, d, &n->layer)) != EQ_OK)
        return st;
    eq_layer *l = &n->layer;
    if (sc.input && !eq_model_layer_uses_x(l)) {
        mp_val r;
        eq_model_resolve(c, &sc.input_v, &r);
        return eq_model_fail_val(c, &r,
                                 "\"input\" has no meaning here: this %s reads no current "
                                 "tensor%s",
                                 key, l->n_inputs ? " (it reads its \"inputs\")" : "");
    }
    for (int i = 0; i < l->n_inputs; i++) {
        mp_path ap, ip;
        mp_val a = eq_model_member(&args, "inputs", &ap);
        mp_val e = eq_model_element(&a, (size_t)i, &ip);
        if ((st = require_tensor(c, l->inputs[i], &e)) != EQ_OK)
            return st;
    }
    if (sc.input && l->n_inputs == 0 && l->type != EQ_LAYER_ADD &&
        l->type != EQ_LAYER_SUB && l->type != EQ_LAYER_MUL) {
        /* Unary layers also carry their input in inputs[0] (eq_model.h). */
        const char **in = eq_arena_alloc(c->a, sizeof *in);
        if (!in)
            return eq_model_nomem(c, stmt->path);
        in[0] = sc.input;
        l->inputs = in;
        l->n_inputs = 1;
    }
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

static eq_status check_stmt_keys(mp_ctx *c, const mp_val *stmt, const char *const *allowed,
                                 const char *construct)
{
    char what[64];
    snprintf(what, sizeof what, "a %s statement", construct);
    return eq_model_check_keys(c, stmt, allowed, what);
}

/* "Name" or {"default_name": "Name"}. */
static eq_status scope_spec(mp_ctx *c, const mp_val *v, eq_node *n)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (r.j && json_is_object(r.j)) {
        static const char *const keys[] = {"default_name", NULL};
        if ((st = eq_model_check_keys(c, &r, keys, "a scope")) != EQ_OK)
            return st;
        mp_path slot;
        mp_val dn = eq_model_member(&r, "default_name", &slot);
        if (!dn.j)
            return eq_model_fail(c, EQ_ERR_INVALID, r.path,
                                 "a scope object needs \"default_name\"");
        return eq_model_get_scope_name(c, &dn, &n->default_name);
    }
    if (r.j && json_is_string(r.j))
        return eq_model_get_scope_name(c, &r, &n->scope_name);
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r,
                             "expected a scope name or {\"default_name\": name}, got %s", got);
}

static eq_status scope_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                            node_vec *out)
{
    static const char *const allowed[] = {"scope", "body", "as", "endpoint", "input", "doc",
                                          NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "scope");
    if (st != EQ_OK)
        return st;
    mp_path slots[5];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_SCOPE, stmt->path, &n)) != EQ_OK)
        return st;
    mp_val sv = eq_model_member(stmt, "scope", &slots[3]);
    if ((st = scope_spec(c, &sv, n)) != EQ_OK)
        return st;
    if ((st = body_of(c, stmt, "body", "a scope statement", d, &slots[4], &n->body,
                      &n->n_body)) != EQ_OK)
        return st;
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

eq_status eq_model_defaults_frame(mp_ctx *c, const mp_val *obj, const mp_defaults *up,
                                  mp_defaults *frame, mp_path *slots)
{
    memset(frame, 0, sizeof *frame);
    frame->up = up;
    mp_val o;
    eq_status st = eq_model_get_object(c, obj,
                                       "an object of per-layer defaults "
                                       "({\"conv2d\": {...}, ...})",
                                       &o);
    if (st != EQ_OK)
        return st;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o.j, key, val) {
        eq_layer_type t;
        mp_path kp = {o.path, key, 0};
        if (!eq_layer_type_from_name(key, &t))
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "unknown layer type '%.60s' in defaults; known: %s", key,
                                 eq_layer_type_list());
        mp_val a = eq_model_member(&o, key, &slots[t]);
        if ((st = eq_model_defaults_check(c, t, &a)) != EQ_OK)
            return st;
        mp_val ar;
        eq_model_resolve(c, &a, &ar);
        frame->by_type[t] = ar;
    }
    return EQ_OK;
}

static eq_status defaults_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                               node_vec *out)
{
    static const char *const allowed[] = {"defaults", "body", "doc", "as", "endpoint",
                                          "input", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "defaults");
    if (st != EQ_OK)
        return st;
    if ((st = no_common(c, stmt, "a defaults")) != EQ_OK)
        return st;
    mp_path dslot, bslot;
    mp_path slots[EQ_LAYER_COUNT];
    mp_defaults frame;
    mp_val dv = eq_model_member(stmt, "defaults", &dslot);
    if ((st = eq_model_defaults_frame(c, &dv, d, &frame, slots)) != EQ_OK)
        return st;
    mp_val body = eq_model_member(stmt, "body", &bslot);
    if (!body.j)
        return eq_model_fail(c, EQ_ERR_INVALID, stmt->path,
                             "a defaults statement needs \"body\": [statements]");
    return expand_list(c, &body, &frame, out);
}

static eq_status branches_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                               node_vec *out)
{
    static const char *const allowed[] = {"branches", "axis", "as", "endpoint", "input",
                                          "doc", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "branches");
    if (st != EQ_OK)
        return st;
    mp_path slots[5];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_BRANCHES, stmt->path, &n)) != EQ_OK)
        return st;
    n->axis = -1;
    mp_val av = eq_model_member(stmt, "axis", &slots[3]);
    if (av.j) {
        int64_t x;
        if ((st = eq_model_get_int(c, &av, -EQ_MAX_RANK, EQ_MAX_RANK - 1,
                                   "an axis from -6 to 5", &x)) != EQ_OK)
            return st;
        n->axis = (int)x;
    }
    mp_val bv = eq_model_member(stmt, "branches", &slots[4]);
    size_t nb = json_is_array(bv.j) ? json_array_size(bv.j) : 0;
    if (nb < 1 || nb > 64) {
        char got[96];
        eq_model_describe(bv.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, bv.path,
                             "expected an array of 1 to 64 branches (each an array of "
                             "statements), got %s",
                             got);
    }
    n->branches = eq_arena_calloc(c->a, nb * sizeof *n->branches);
    n->n_branch_body = eq_arena_calloc(c->a, nb * sizeof *n->n_branch_body);
    if (!n->branches || !n->n_branch_body)
        return eq_model_nomem(c, stmt->path);
    n->n_branches = (int)nb;
    for (size_t i = 0; i < nb; i++) {
        mp_path slot;
        mp_val b = eq_model_element(&bv, i, &slot);
        if ((st = eq_model_expand_body(c, &b, d, &n->branches[i], &n->n_branch_body[i])) !=
            EQ_OK)
            return st;
    }
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

static eq_status residual_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                               node_vec *out)
{
    static const char *const allowed[] = {"residual", "as", "endpoint", "input", "doc", NULL};
    static const char *const inner[] = {"scale", "activation", "body", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "residual");
    if (st != EQ_OK)
        return st;
    mp_path slots[7];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    mp_val rv = eq_model_member(stmt, "residual", &slots[3]);
    if (!json_is_object(rv.j)) {
        char got[96];
        eq_model_describe(rv.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, rv.path,
                             "expected {\"scale\": number, \"activation\": name or null, "
                             "\"body\": [statements]}, got %s",
                             got);
    }
    if ((st = eq_model_check_keys(c, &rv, inner, "a residual")) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_RESIDUAL, stmt->path, &n)) != EQ_OK)
        return st;
    n->scale = 1.0;
    n->activation = EQ_ACT_RELU; /* slim's block35/17/8 default */
    mp_val s = eq_model_member(&rv, "scale", &slots[4]);
    if (s.j && (st = eq_model_get_number(c, &s, -1e30, 1e30, 0, "a number", &n->scale)) != EQ_OK)
        return st;
    mp_val a = eq_model_member(&rv, "activation", &slots[5]);
    if (a.j && (st = eq_model_get_activation(c, &a, &n->activation)) != EQ_OK)
        return st;
    if ((st = body_of(c, &rv, "body", "a residual", d, &slots[6], &n->body, &n->n_body)) !=
        EQ_OK)
        return st;
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

/* The body of block `b` called at `at` with `args` (may be absent). */
static eq_status call_block(mp_ctx *c, mp_block *b, const mp_val *args, const mp_path *at,
                            const mp_defaults *d, eq_node *n)
{
    for (const mp_call *k = c->calls; k; k = k->up)
        if (strcmp(k->block, b->name) == 0)
            return eq_model_fail(c, EQ_ERR_INVALID, at, "block '%s' calls itself",
                                 b->name);
    eq_status st = enter(c, at);
    if (st != EQ_OK)
        return st;
    mp_val def = {b->def, &c->params, &b->path, NULL, NULL};
    mp_path ps, bs;
    mp_val params = eq_model_member(&def, "params", &ps);
    mp_val a = {NULL, NULL, at, NULL, NULL};
    if (args && args->j) {
        if ((st = eq_model_get_object(c, args, "an object of block arguments", &a)) != EQ_OK)
            return st;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)a.j, key, val) {
            if (!params.j || !json_object_get(params.j, key)) {
                mp_path kp = {a.path, key, 0};
                char list[400] = "";
                size_t len = 0;
                const char *pk;
                json_t *pv;
                if (params.j)
                    json_object_foreach((json_t *)params.j, pk, pv) {
                        int w = snprintf(list + len, sizeof list - len, "%s%s",
                                         len ? ", " : "", pk);
                        len += w > 0 ? (size_t)w : 0;
                        if (len >= sizeof list)
                            break;
                    }
                return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                     "block '%s' has no parameter '%.60s'; its parameters: %s",
                                     b->name, key, list[0] ? list : "none");
            }
        }
    }
    size_t np = params.j ? json_object_size(params.j) : 0;
    mp_env env = {&c->params, NULL, NULL, 0};
    char what[128];
    snprintf(what, sizeof what, "block '%s'", b->name);
    env.what = eq_arena_strdup(c->a, what);
    env.b = eq_arena_calloc(c->a, (np ? np : 1) * sizeof *env.b);
    mp_path *slots = eq_arena_calloc(c->a, (np ? np : 1) * 3 * sizeof *slots);
    if (!env.what || !env.b || !slots)
        return eq_model_nomem(c, at);
    const char *pk;
    json_t *pv;
    json_object_foreach((json_t *)params.j, pk, pv) {
        /* The path nodes live in the arena: the bindings outlive this loop. */
        mp_val given = eq_model_member(&a, pk, &slots[3 * env.n]);
        mp_val decl = eq_model_member(&params, pk, &slots[3 * env.n + 1]);
        mp_val dflt = eq_model_member(&decl, "default", &slots[3 * env.n + 2]);
        mp_val bound;
        if (given.j) {
            bound = given; /* resolves in the caller's environment */
        } else if (dflt.j) {
            bound = dflt;  /* resolves in the model's parameters */
        } else {
            return eq_model_fail(c, EQ_ERR_INVALID, a.path,
                                 "block '%s' needs the argument '%s' (it has no default)",
                                 b->name, pk);
        }
        env.b[env.n].name = pk;
        env.b[env.n].val = bound;
        env.n++;
    }
    mp_call call = {c->calls, b->name, at};
    c->calls = &call;
    mp_val body = eq_model_member(&def, "body", &bs);
    st = eq_model_expand_body(c, &(mp_val){body.j, &env, body.path, NULL, NULL}, d, &n->body,
                              &n->n_body);
    c->calls = call.up;
    c->depth--;
    return st;
}

static eq_status block_name(mp_ctx *c, const mp_val *v, mp_block **out)
{
    if (!v->j || !json_is_string(v->j)) {
        char got[96];
        eq_model_describe(v->j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, v->path, "expected a block name, got %s", got);
    }
    const char *name = json_string_value(v->j);
    *out = eq_model_find_block(c, name);
    if (!*out) {
        char list[512];
        eq_model_block_list(c, list, sizeof list);
        return eq_model_fail(c, EQ_ERR_INVALID, v->path, "unknown block '%.60s'; defined: %s",
                             name, list);
    }
    return EQ_OK;
}

static eq_status block_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                            node_vec *out)
{
    static const char *const allowed[] = {"block", "args", "scope", "as", "endpoint",
                                          "input", "doc", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "block");
    if (st != EQ_OK)
        return st;
    mp_path slots[6];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    mp_block *b;
    mp_val bv = eq_model_member(stmt, "block", &slots[3]);
    if ((st = block_name(c, &bv, &b)) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_SCOPE, stmt->path, &n)) != EQ_OK)
        return st;
    mp_val sv = eq_model_member(stmt, "scope", &slots[4]);
    if (sv.j) {
        if ((st = scope_spec(c, &sv, n)) != EQ_OK)
            return st;
    } else {
        /* slim: variable_scope(scope, 'Block35') with scope=None */
        mp_path ds;
        mp_val def = {b->def, NULL, &b->path, NULL, NULL};
        mp_val dv = eq_model_member(&def, "default_scope", &ds);
        n->default_name = eq_arena_strdup(c->a, dv.j ? json_string_value(dv.j) : b->name);
        if (!n->default_name)
            return eq_model_nomem(c, stmt->path);
    }
    mp_val args = eq_model_member(stmt, "args", &slots[5]);
    if ((st = call_block(c, b, &args, stmt->path, d, n)) != EQ_OK)
        return st;
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

/* slim.repeat: variable_scope(scope, 'Repeat'), then the block called with
 * scope '<name>_1' .. '<name>_N', name = the scope if given, else the
 * block's (the Python function's) name. */
static eq_status repeat_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                             node_vec *out)
{
    static const char *const allowed[] = {"repeat", "as", "endpoint", "input", "doc", NULL};
    static const char *const inner[] = {"count", "block", "args", "scope", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "repeat");
    if (st != EQ_OK)
        return st;
    mp_path slots[8];
    stmt_common sc;
    if ((st = read_common(c, stmt, &sc, slots)) != EQ_OK)
        return st;
    mp_val rv = eq_model_member(stmt, "repeat", &slots[3]);
    if (!json_is_object(rv.j)) {
        char got[96];
        eq_model_describe(rv.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, rv.path,
                             "expected {\"count\": n, \"block\": name, \"args\": {...}}, got %s",
                             got);
    }
    if ((st = eq_model_check_keys(c, &rv, inner, "a repeat")) != EQ_OK)
        return st;
    mp_val cv = eq_model_member(&rv, "count", &slots[4]);
    if (!cv.j)
        return eq_model_fail(c, EQ_ERR_INVALID, rv.path, "repeat needs \"count\"");
    int64_t count;
    if ((st = eq_model_get_int(c, &cv, 1, EQ_MODEL_MAX_REPEAT, "a positive integer", &count)) !=
        EQ_OK)
        return st;
    mp_val bv = eq_model_member(&rv, "block", &slots[5]);
    if (!bv.j)
        return eq_model_fail(c, EQ_ERR_INVALID, rv.path, "repeat needs \"block\"");
    mp_block *b;
    if ((st = block_name(c, &bv, &b)) != EQ_OK)
        return st;
    eq_node *n;
    if ((st = new_node(c, EQ_NODE_SCOPE, stmt->path, &n)) != EQ_OK)
        return st;
    mp_val sv = eq_model_member(&rv, "scope", &slots[6]);
    const char *base = b->name;
    if (sv.j) {
        if ((st = eq_model_get_scope_name(c, &sv, &n->scope_name)) != EQ_OK)
            return st;
        base = n->scope_name;
        /* the copies' names ("<scope>_10000") must stay valid scope names */
        if (strlen(base) > 190) {
            mp_val r;
            eq_model_resolve(c, &sv, &r);
            return eq_model_fail_val(c, &r, "a repeat's scope name has at most 190 characters");
        }
    } else {
        n->default_name = "Repeat";
    }
    if ((st = enter(c, rv.path)) != EQ_OK)
        return st;
    n->body = eq_arena_calloc(c->a, (size_t)count * sizeof *n->body);
    if (!n->body)
        return eq_model_nomem(c, rv.path);
    mp_val args = eq_model_member(&rv, "args", &slots[7]);
    for (int64_t i = 0; i < count; i++) {
        eq_node *child;
        if ((st = new_node(c, EQ_NODE_SCOPE, rv.path, &child)) != EQ_OK)
            return st;
        char name[300];
        snprintf(name, sizeof name, "%s_%lld", base, (long long)(i + 1));
        child->scope_name = eq_arena_strdup(c->a, name);
        if (!child->scope_name)
            return eq_model_nomem(c, rv.path);
        if ((st = call_block(c, b, &args, rv.path, d, child)) != EQ_OK)
            return st;
        n->body[n->n_body++] = child;
    }
    c->depth--;
    if ((st = finish(c, n, &sc)) != EQ_OK)
        return st;
    return vec_push(c, out, n, stmt->path);
}

/* A condition: a literal array is all-of, {"not": c} / {"all": [...]} /
 * {"any": [...]} combine; anything else is resolved and taken by Python's
 * truth rules (false, null, 0, "", [] and {} are false). */
static eq_status eval_cond(mp_ctx *c, const mp_val *v, int depth, int *out)
{
    if (depth > 32)
        return eq_model_fail(c, EQ_ERR_LIMIT, v->path, "the condition nests too deeply");
    eq_status st;
    if (v->j && json_is_array(v->j)) {
        *out = 1;
        for (size_t i = 0; i < json_array_size(v->j); i++) {
            mp_path slot;
            mp_val e = eq_model_element(v, i, &slot);
            int x;
            if ((st = eval_cond(c, &e, depth + 1, &x)) != EQ_OK)
                return st;
            *out = *out && x;
        }
        return EQ_OK;
    }
    if (v->j && json_is_object(v->j)) {
        static const char *const keys[] = {"not", "all", "any", NULL};
        if ((st = eq_model_check_keys(c, v, keys, "a condition")) != EQ_OK)
            return st;
        if (json_object_size(v->j) != 1)
            return eq_model_fail(c, EQ_ERR_INVALID, v->path,
                                 "a condition object has exactly one of \"not\", \"all\", "
                                 "\"any\"");
        mp_path slot;
        mp_val e;
        int x;
        if ((e = eq_model_member(v, "not", &slot)).j) {
            if ((st = eval_cond(c, &e, depth + 1, &x)) != EQ_OK)
                return st;
            *out = !x;
            return EQ_OK;
        }
        int any = (e = eq_model_member(v, "any", &slot)).j != NULL;
        if (!any)
            e = eq_model_member(v, "all", &slot);
        if (!json_is_array(e.j)) {
            char got[96];
            eq_model_describe(e.j, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, e.path,
                                 "expected an array of conditions, got %s", got);
        }
        *out = !any;
        for (size_t i = 0; i < json_array_size(e.j); i++) {
            mp_path es;
            mp_val ei = eq_model_element(&e, i, &es);
            if ((st = eval_cond(c, &ei, depth + 1, &x)) != EQ_OK)
                return st;
            *out = any ? (*out || x) : (*out && x);
        }
        return EQ_OK;
    }
    mp_val r;
    if ((st = eq_model_resolve(c, v, &r)) != EQ_OK)
        return st;
    *out = eq_model_truthy(r.j);
    return EQ_OK;
}

static eq_status if_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d, node_vec *out)
{
    static const char *const allowed[] = {"if", "body", "else", "doc", "as", "endpoint",
                                          "input", NULL};
    eq_status st = check_stmt_keys(c, stmt, allowed, "if");
    if (st != EQ_OK)
        return st;
    if ((st = no_common(c, stmt, "an if")) != EQ_OK)
        return st;
    mp_path cs, bs, es;
    mp_val cond = eq_model_member(stmt, "if", &cs);
    mp_val body = eq_model_member(stmt, "body", &bs);
    mp_val other = eq_model_member(stmt, "else", &es);
    if (!body.j)
        return eq_model_fail(c, EQ_ERR_INVALID, stmt->path,
                             "an if statement needs \"body\": [statements]");
    /* Both arms must be statement lists even when not taken. */
    if (!json_is_array(body.j) || (other.j && !json_is_array(other.j))) {
        const mp_val *bad = json_is_array(body.j) ? &other : &body;
        char got[96];
        eq_model_describe(bad->j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, bad->path,
                             "expected an array of statements, got %s", got);
    }
    int taken;
    if ((st = eval_cond(c, &cond, 0, &taken)) != EQ_OK)
        return st;
    if (taken)
        return expand_list(c, &body, d, out);
    if (other.j)
        return expand_list(c, &other, d, out);
    return EQ_OK;
}

static eq_status expand_stmt(mp_ctx *c, const mp_val *stmt, const mp_defaults *d,
                             node_vec *out)
{
    if (!stmt->j || !json_is_object(stmt->j)) {
        char got[96];
        eq_model_describe(stmt->j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, stmt->path,
                             "expected a statement (an object such as {\"conv2d\": {...}}), "
                             "got %s",
                             got);
    }
    /* Find the one construct key. "scope" is also a key of block
     * statements, so it counts only when nothing else is there. */
    const char *found = NULL, *second = NULL;
    int has_scope = json_object_get(stmt->j, "scope") != NULL;
    eq_layer_type t = EQ_LAYER_COUNT;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)stmt->j, key, val) {
        eq_layer_type lt;
        int is_layer = eq_layer_type_from_name(key, &lt);
        int is_construct = 0;
        for (const char *const *k = construct_keys; *k && !is_construct; k++)
            is_construct = strcmp(*k, key) == 0 && strcmp(key, "scope") != 0;
        if (!is_layer && !is_construct)
            continue;
        if (!found) {
            found = key;
            if (is_layer)
                t = lt;
        } else if (!second) {
            second = key;
        }
    }
    if (found && has_scope && strcmp(found, "block") != 0)
        second = second ? second : "scope";
    if (!found && has_scope)
        found = "scope";
    if (!found)
        return eq_model_fail(c, EQ_ERR_INVALID, stmt->path,
                             "the statement has no construct: expected one key of %s, scope, "
                             "defaults, branches, residual, block, repeat, if",
                             eq_layer_type_list());
    if (second)
        return eq_model_fail(c, EQ_ERR_INVALID, stmt->path,
                             "the statement has two constructs, '%s' and '%s': write one "
                             "per statement",
                             found, second);
    mp_path ds;
    mp_val doc = eq_model_member(stmt, "doc", &ds);
    if (doc.j && !json_is_string(doc.j)) {
        char got[96];
        eq_model_describe(doc.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, doc.path, "expected a string, got %s", got);
    }
    eq_status st = enter(c, stmt->path);
    if (st != EQ_OK)
        return st;
    if (t != EQ_LAYER_COUNT)
        st = layer_stmt(c, stmt, t, found, d, out);
    else if (strcmp(found, "scope") == 0)
        st = scope_stmt(c, stmt, d, out);
    else if (strcmp(found, "defaults") == 0)
        st = defaults_stmt(c, stmt, d, out);
    else if (strcmp(found, "branches") == 0)
        st = branches_stmt(c, stmt, d, out);
    else if (strcmp(found, "residual") == 0)
        st = residual_stmt(c, stmt, d, out);
    else if (strcmp(found, "block") == 0)
        st = block_stmt(c, stmt, d, out);
    else if (strcmp(found, "repeat") == 0)
        st = repeat_stmt(c, stmt, d, out);
    else
        st = if_stmt(c, stmt, d, out);
    c->depth--;
    return st;
}

/* ---- the static walk over block references --------------------------------- */

eq_status eq_model_walk_block_refs(mp_ctx *c, const json_t *list, const mp_path *p, int depth,
                                   mp_block_ref_fn fn, void *user)
{
    if (!json_is_array(list) || depth > EQ_MODEL_MAX_DEPTH)
        return EQ_OK; /* expansion reports it */
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *s = json_array_get(list, i);
        if (!json_is_object(s))
            continue;
        mp_path sp = {p, NULL, i};
        eq_status st;
        const json_t *b = json_object_get(s, "block");
        if (json_is_string(b)) {
            mp_path bp = {&sp, "block", 0};
            if ((st = fn(c, json_string_value(b), &bp, user)) != EQ_OK)
                return st;
        }
        const json_t *r = json_object_get(s, "repeat");
        if (json_is_object(r) && json_is_string(json_object_get(r, "block"))) {
            mp_path rp = {&sp, "repeat", 0};
            mp_path bp = {&rp, "block", 0};
            if ((st = fn(c, json_string_value(json_object_get(r, "block")), &bp, user)) != EQ_OK)
                return st;
        }
        static const char *const lists[] = {"body", "else"};
        for (int k = 0; k < 2; k++) {
            mp_path lp = {&sp, lists[k], 0};
            if ((st = eq_model_walk_block_refs(c, json_object_get(s, lists[k]), &lp, depth + 1,
                                               fn, user)) != EQ_OK)
                return st;
        }
        const json_t *res = json_object_get(s, "residual");
        if (json_is_object(res)) {
            mp_path rp = {&sp, "residual", 0};
            mp_path lp = {&rp, "body", 0};
            if ((st = eq_model_walk_block_refs(c, json_object_get(res, "body"), &lp, depth + 1,
                                               fn, user)) != EQ_OK)
                return st;
        }
        const json_t *br = json_object_get(s, "branches");
        if (json_is_array(br)) {
            mp_path bp = {&sp, "branches", 0};
            for (size_t k = 0; k < json_array_size(br); k++) {
                mp_path kp = {&bp, NULL, k};
                if ((st = eq_model_walk_block_refs(c, json_array_get(br, k), &kp, depth + 1, fn,
                                                   user)) != EQ_OK)
                    return st;
            }
        }
    }
    return EQ_OK;
}
