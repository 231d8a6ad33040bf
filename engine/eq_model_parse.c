/* eq_model_parse.c - the model's top level: parameters and zoo arguments,
 * the declared input, block definitions (with the static check that every
 * block reference exists and no blocks call each other in a cycle), the
 * top-level defaults, the body and the outputs. Entry points of eq_model.h. */
#include "eq_model_internal.h"

#include <string.h>

#include "eq_alloc.h"

#define MODEL_ARENA_BLOCK (64u << 10) /* small models stay small */

/* ---- parameters ------------------------------------------------------------ */

static const char *const param_keys[] = {"default", "doc", NULL};

/* Check a {"name": {"default": v, "doc": s}, ...} declaration. */
static eq_status check_param_decls(mp_ctx *c, const mp_val *ps, const char *owner)
{
    if (!json_is_object(ps->j)) {
        char got[96];
        eq_model_describe(ps->j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, ps->path,
                             "expected an object of parameters ({\"name\": {\"default\": "
                             "value, \"doc\": text}}), got %s",
                             got);
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)ps->j, key, val) {
        mp_path kp = {ps->path, key, 0};
        if (!eq_model_is_identifier(key))
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "a parameter name is an identifier (letters, digits, '_'; "
                                 "not starting with a digit), got '%.60s'",
                                 key);
        mp_val d = {val, NULL, &kp, NULL, NULL};
        if (!json_is_object(val)) {
            char got[96];
            eq_model_describe(val, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "expected {\"default\": value, \"doc\": text} for a parameter "
                                 "of %s, got %s",
                                 owner, got);
        }
        eq_status st = eq_model_check_keys(c, &d, param_keys, "a parameter");
        if (st != EQ_OK)
            return st;
        const json_t *doc = json_object_get(val, "doc");
        if (doc && !json_is_string(doc)) {
            mp_path dp = {&kp, "doc", 0};
            char got[96];
            eq_model_describe(doc, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, &dp, "expected a string, got %s", got);
        }
    }
    return EQ_OK;
}

static eq_status parse_params(mp_ctx *c, const mp_val *model, const json_t *args,
                              mp_path *slots_out[])
{
    /* The bindings keep paths under "params" for the whole parse. */
    mp_val params = eq_model_member(model, "params", &c->params_path);
    eq_model *m = c->m;
    eq_status st;
    static const mp_path args_root = {NULL, "args", 0};
    if (params.j && (st = check_param_decls(c, &params, "the model")) != EQ_OK)
        return st;
    if (args && !json_is_object(args)) {
        char got[96];
        eq_model_describe(args, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, &args_root,
                             "expected an object of model arguments, got %s", got);
    }
    if (args) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)args, key, val) {
            if (params.j && json_object_get(params.j, key))
                continue;
            char list[400] = "";
            size_t len = 0;
            const char *pk;
            json_t *pv;
            if (params.j)
                json_object_foreach((json_t *)params.j, pk, pv) {
                    int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", pk);
                    len += w > 0 ? (size_t)w : 0;
                    if (len >= sizeof list)
                        break;
                }
            mp_path kp = {&args_root, key, 0};
            return eq_model_fail(c, EQ_ERR_INVALID, &kp,
                                 "unknown parameter '%.60s'; the model's parameters: %s", key,
                                 list[0] ? list : "none");
        }
    }
    size_t n = params.j ? json_object_size(params.j) : 0;
    m->params = eq_arena_calloc(c->a, (n ? n : 1) * sizeof *m->params);
    c->params.b = eq_arena_calloc(c->a, (n ? n : 1) * sizeof *c->params.b);
    mp_path *slots = eq_arena_calloc(c->a, (n ? n : 1) * 3 * sizeof *slots);
    if (!m->params || !c->params.b || !slots)
        return eq_model_nomem(c, &c->root);
    *slots_out = slots;
    c->params.what = "the model";
    if (!params.j)
        return EQ_OK;
    const char *key;
    json_t *val;
    int i = 0;
    json_object_foreach((json_t *)params.j, key, val) {
        mp_path *kp = &slots[3 * i];
        *kp = (mp_path){params.path, key, 0};
        mp_val bound;
        const json_t *given = args ? json_object_get(args, key) : NULL;
        if (given) {
            /* "args" is no part of the model: its path has no prefix. */
            slots[3 * i + 1] = (mp_path){&args_root, key, 0};
            bound = (mp_val){given, NULL, &slots[3 * i + 1], NULL, NULL};
        } else {
            const json_t *d = json_object_get(val, "default");
            if (!d)
                return eq_model_fail(c, EQ_ERR_INVALID, kp,
                                     "parameter '%s' has no default and args do not set it",
                                     key);
            slots[3 * i + 1] = (mp_path){kp, "default", 0};
            bound = (mp_val){d, NULL, &slots[3 * i + 1], NULL, NULL};
        }
        /* Parameter values are literal: no env, so "$x" in one is an error
         * when it is used ("$$x" is the string "$x"). */
        c->params.b[i].name = eq_arena_strdup(c->a, key);
        c->params.b[i].val = bound;
        const json_t *doc = json_object_get(val, "doc");
        eq_model_param *p = &m->params[i];
        p->name = c->params.b[i].name;
        p->doc = doc ? eq_arena_strdup(c->a, json_string_value(doc)) : NULL;
        p->value = json_deep_copy(bound.j);
        if (!p->name || (doc && !p->doc) || !p->value)
            return eq_model_nomem(c, kp);
        m->n_params = ++i;
        c->params.n = i;
    }
    return EQ_OK;
}

/* ---- input ---------------------------------------------------------------- */

static eq_status parse_input(mp_ctx *c, const mp_val *model)
{
    static const char *const keys[] = {"shape", NULL};
    mp_path ps, ss;
    mp_val in = eq_model_member(model, "input", &ps);
    if (!in.j)
        return EQ_OK;
    mp_val o;
    eq_status st = eq_model_get_object(c, &in, "{\"shape\": [null, 299, 299, 3]}", &o);
    if (st != EQ_OK)
        return st;
    if ((st = eq_model_check_keys(c, &o, keys, "the input")) != EQ_OK)
        return st;
    mp_val shape = eq_model_member(&o, "shape", &ss);
    if (!shape.j)
        return eq_model_fail(c, EQ_ERR_INVALID, o.path, "the input needs \"shape\"");
    mp_val r;
    if ((st = eq_model_resolve(c, &shape, &r)) != EQ_OK)
        return st;
    size_t n = json_is_array(r.j) ? json_array_size(r.j) : 0;
    if (n < 1 || n > EQ_MAX_RANK) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r,
                                 "expected a shape of 1 to %d dimensions (null for any size), "
                                 "got %s",
                                 EQ_MAX_RANK, got);
    }
    for (size_t i = 0; i < n; i++) {
        mp_path es;
        mp_val e = eq_model_element(&r, i, &es);
        mp_val er;
        if ((st = eq_model_resolve(c, &e, &er)) != EQ_OK)
            return st;
        if (er.j && json_is_null(er.j)) {
            c->m->input_shape[i] = -1;
            continue;
        }
        if ((st = eq_model_get_int(c, &er, 1, (int64_t)1 << 31,
                                   "a positive integer or null (any size)",
                                   &c->m->input_shape[i])) != EQ_OK)
            return st;
    }
    c->m->input_rank = (int)n;
    return EQ_OK;
}

/* ---- blocks ---------------------------------------------------------------- */

static int block_name_ok(const char *s)
{
    return eq_model_is_identifier(s) && s[0] != '_' && strlen(s) <= 60;
}

static eq_status parse_blocks(mp_ctx *c, const mp_val *model, mp_path *blocks_path)
{
    static const char *const keys[] = {"params", "default_scope", "body", "doc", NULL};
    mp_val bs = eq_model_member(model, "blocks", blocks_path);
    if (!bs.j)
        return EQ_OK;
    if (!json_is_object(bs.j)) {
        char got[96];
        eq_model_describe(bs.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, bs.path,
                             "expected an object of blocks ({\"name\": {\"params\": ..., "
                             "\"body\": [...]}}), got %s",
                             got);
    }
    size_t n = json_object_size(bs.j);
    c->blocks = eq_arena_calloc(c->a, (n ? n : 1) * sizeof *c->blocks);
    if (!c->blocks)
        return eq_model_nomem(c, bs.path);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)bs.j, key, val) {
        mp_block *b = &c->blocks[c->n_blocks];
        b->name = key;
        b->def = val;
        b->path = (mp_path){bs.path, key, 0};
        if (!block_name_ok(key))
            return eq_model_fail(c, EQ_ERR_INVALID, &b->path,
                                 "a block name is letters, digits and '_', starting with a "
                                 "letter (at most 60), got '%.60s'",
                                 key);
        mp_val def = {val, &c->params, &b->path, NULL, NULL};
        if (!json_is_object(val)) {
            char got[96];
            eq_model_describe(val, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, &b->path,
                                 "expected a block ({\"params\": ..., \"default_scope\": name, "
                                 "\"body\": [...]}), got %s",
                                 got);
        }
        eq_status st = eq_model_check_keys(c, &def, keys, "a block");
        if (st != EQ_OK)
            return st;
        mp_path ps, ds, bp, dc;
        mp_val params = eq_model_member(&def, "params", &ps);
        if (params.j) {
            char owner[96];
            snprintf(owner, sizeof owner, "block '%s'", key);
            if ((st = check_param_decls(c, &params, owner)) != EQ_OK)
                return st;
        }
        mp_val dsv = eq_model_member(&def, "default_scope", &ds);
        if (dsv.j) {
            const char *unused;
            mp_val literal = dsv;
            literal.env = NULL;
            if ((st = eq_model_get_scope_name(c, &literal, &unused)) != EQ_OK)
                return st;
        }
        mp_val body = eq_model_member(&def, "body", &bp);
        if (!json_is_array(body.j)) {
            char got[96];
            eq_model_describe(body.j, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, body.j ? body.path : &b->path,
                                 "a block needs \"body\": [statements], got %s", got);
        }
        mp_val doc = eq_model_member(&def, "doc", &dc);
        if (doc.j && !json_is_string(doc.j)) {
            char got[96];
            eq_model_describe(doc.j, got, sizeof got);
            return eq_model_fail(c, EQ_ERR_INVALID, doc.path, "expected a string, got %s", got);
        }
        c->n_blocks++;
    }
    return EQ_OK;
}

/* The static reference check: every block named exists, and no chain of
 * block references comes back to where it started (even in an `if` arm or
 * a block that is never called). */
typedef struct ref_walk {
    mp_block *stack[EQ_MODEL_MAX_DEPTH + 2];
    int n;
} ref_walk;

static eq_status visit_block(mp_ctx *c, mp_block *b, ref_walk *w);

static eq_status on_ref(mp_ctx *c, const char *name, const mp_path *p, void *user)
{
    ref_walk *w = user;
    mp_block *t = eq_model_find_block(c, name);
    if (!t) {
        char list[512];
        eq_model_block_list(c, list, sizeof list);
        return eq_model_fail(c, EQ_ERR_INVALID, p, "unknown block '%.60s'; defined: %s", name,
                             list);
    }
    if (t->state == 1) {
        char cycle[512];
        size_t len = 0;
        int from = 0;
        while (w->stack[from] != t)
            from++;
        cycle[0] = '\0';
        for (int i = from; i < w->n && len < sizeof cycle; i++) {
            int k = snprintf(cycle + len, sizeof cycle - len, "%s -> ", w->stack[i]->name);
            len += k > 0 ? (size_t)k : 0;
        }
        if (len < sizeof cycle)
            snprintf(cycle + len, sizeof cycle - len, "%s", t->name);
        return eq_model_fail(c, EQ_ERR_INVALID, p, "blocks call each other in a cycle: %s",
                             cycle);
    }
    if (t->state == 0)
        return visit_block(c, t, w);
    return EQ_OK;
}

static eq_status visit_block(mp_ctx *c, mp_block *b, ref_walk *w)
{
    if (w->n > EQ_MODEL_MAX_DEPTH)
        return eq_model_fail(c, EQ_ERR_LIMIT, &b->path,
                             "blocks call each other more than %d deep", EQ_MODEL_MAX_DEPTH);
    b->state = 1;
    w->stack[w->n++] = b;
    mp_path bp = {&b->path, "body", 0};
    eq_status st = eq_model_walk_block_refs(c, json_object_get(b->def, "body"), &bp, 0, on_ref,
                                            w);
    w->n--;
    b->state = 2;
    return st;
}

static eq_status check_block_refs(mp_ctx *c, const json_t *body, const mp_path *body_path)
{
    ref_walk w;
    w.n = 0;
    eq_status st = eq_model_walk_block_refs(c, body, body_path, 0, on_ref, &w);
    for (int i = 0; st == EQ_OK && i < c->n_blocks; i++)
        if (c->blocks[i].state == 0)
            st = visit_block(c, &c->blocks[i], &w);
    return st;
}

/* ---- outputs --------------------------------------------------------------- */

static eq_status parse_outputs(mp_ctx *c, const mp_val *model)
{
    mp_path os;
    mp_val o = eq_model_member(model, "outputs", &os);
    if (!o.j)
        return eq_model_fail(c, EQ_ERR_INVALID, &c->root,
                             "the model needs \"outputs\": [tensor or endpoint names]");
    mp_val r;
    eq_status st = eq_model_resolve(c, &o, &r);
    if (st != EQ_OK)
        return st;
    size_t n = json_is_array(r.j) ? json_array_size(r.j) : 0;
    if (n < 1 || n > 1024) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r, "expected an array of 1 to 1024 tensor names, got %s",
                                 got);
    }
    c->m->outputs = eq_arena_alloc(c->a, n * sizeof *c->m->outputs);
    if (!c->m->outputs)
        return eq_model_nomem(c, r.path);
    for (size_t i = 0; i < n; i++) {
        mp_path es;
        mp_val e = eq_model_element(&r, i, &es);
        const char *name;
        if ((st = eq_model_get_tensor_name(c, &e, &name)) != EQ_OK)
            return st;
        if (strcmp(name, "input") != 0 && !eq_model_nameset_has(&c->tensors, name)) {
            mp_val er;
            eq_model_resolve(c, &e, &er);
            return eq_model_fail_val(c, &er,
                                     "unknown tensor '%s': no statement saves it with \"as\" "
                                     "or \"endpoint\"",
                                     name);
        }
        c->m->outputs[i] = name;
    }
    c->m->n_outputs = (int)n;
    return EQ_OK;
}

/* ---- the model ------------------------------------------------------------- */

static eq_status optional_text(mp_ctx *c, const mp_val *model, const char *key,
                               const char **out)
{
    mp_path s;
    mp_val v = eq_model_member(model, key, &s);
    if (!v.j)
        return EQ_OK;
    if (!json_is_string(v.j)) {
        char got[96];
        eq_model_describe(v.j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, v.path, "expected a string, got %s", got);
    }
    *out = eq_arena_strdup(c->a, json_string_value(v.j));
    return *out ? EQ_OK : eq_model_nomem(c, v.path);
}

static eq_status parse_model(mp_ctx *c, const json_t *j, const json_t *args)
{
    static const char *const keys[] = {"name", "description", "doc", "params", "input",
                                       "defaults", "blocks", "body", "outputs", NULL};
    if (!j || !json_is_object(j)) {
        char got[96];
        eq_model_describe(j, got, sizeof got);
        return eq_model_fail(c, EQ_ERR_INVALID, &c->root,
                             "expected a model (a JSON object), got %s", got);
    }
    mp_val model = {j, &c->params, &c->root, NULL, NULL};
    eq_status st = eq_model_check_keys(c, &model, keys, "a model");
    if (st != EQ_OK)
        return st;
    c->m->name = "model";
    const char *doc = NULL;
    if ((st = optional_text(c, &model, "name", &c->m->name)) != EQ_OK ||
        (st = optional_text(c, &model, "description", &c->m->description)) != EQ_OK ||
        (st = optional_text(c, &model, "doc", &doc)) != EQ_OK)
        return st;
    mp_path *param_slots = NULL;
    if ((st = parse_params(c, &model, args, &param_slots)) != EQ_OK)
        return st;
    if ((st = parse_input(c, &model)) != EQ_OK)
        return st;
    mp_path bs, ds, body_s;
    if ((st = parse_blocks(c, &model, &bs)) != EQ_OK)
        return st;
    mp_val body = eq_model_member(&model, "body", &body_s);
    if (!body.j)
        return eq_model_fail(c, EQ_ERR_INVALID, &c->root,
                             "the model needs \"body\": [statements]");
    if ((st = check_block_refs(c, body.j, body.path)) != EQ_OK)
        return st;
    mp_val dv = eq_model_member(&model, "defaults", &ds);
    mp_path slots[EQ_LAYER_COUNT];
    mp_defaults top;
    const mp_defaults *d = NULL;
    if (dv.j) {
        if ((st = eq_model_defaults_frame(c, &dv, NULL, &top, slots)) != EQ_OK)
            return st;
        d = &top;
    }
    if ((st = eq_model_expand_body(c, &body, d, &c->m->body, &c->m->n_body)) != EQ_OK)
        return st;
    return parse_outputs(c, &model);
}

eq_model *eq_model_parse(const json_t *model, const json_t *args, const char *path_prefix,
                         eq_error *err)
{
    eq_error local;
    if (!err)
        err = &local;
    eq_error_clear(err);
    eq_arena *a = eq_arena_new(MODEL_ARENA_BLOCK);
    eq_model *m = a ? eq_arena_calloc(a, sizeof *m) : NULL;
    if (!m) {
        eq_arena_free(a);
        eq_error_set_path(err, EQ_ERR_NOMEM, path_prefix ? path_prefix : "",
                          "out of memory while parsing the model");
        return NULL;
    }
    m->arena = a;
    mp_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.a = a;
    c.err = err;
    c.root = (mp_path){NULL, path_prefix ? path_prefix : "", 0};
    c.params.what = "the model";
    if (parse_model(&c, model, args) != EQ_OK) {
        eq_model_free(m);
        return NULL;
    }
    return m;
}

eq_model *eq_model_parse_string(const char *text, const json_t *args, eq_error *err)
{
    eq_error local;
    if (!err)
        err = &local;
    if (!text) {
        eq_error_set_path(err, EQ_ERR_INVALID, "", "no model text");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        /* jansson leaves the error empty when its lexer cannot allocate. */
        if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
            eq_error_set_path(err, EQ_ERR_NOMEM, "", "out of memory while reading the model");
        else
            eq_error_set_path(err, EQ_ERR_INVALID, "", "invalid JSON at line %d, column %d: %s",
                              je.line, je.column, je.text);
        return NULL;
    }
    eq_model *m = eq_model_parse(j, args, NULL, err);
    json_decref(j);
    return m;
}

eq_model *eq_model_parse_file(const char *filename, const json_t *args, eq_error *err)
{
    eq_error local;
    if (!err)
        err = &local;
    if (!filename) {
        eq_error_set_path(err, EQ_ERR_INVALID, "", "no model file name");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_load_file(filename, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        enum json_error_code code = json_error_code(&je);
        if (code == json_error_cannot_open_file)
            eq_error_set_path(err, EQ_ERR_IO, "", "%s: cannot read the model file: %s", filename,
                              je.text);
        else if (code == json_error_out_of_memory || je.text[0] == '\0')
            eq_error_set_path(err, EQ_ERR_NOMEM, "", "%s: out of memory while reading",
                              filename);
        else
            eq_error_set_path(err, EQ_ERR_INVALID, "", "%s: invalid JSON at line %d, column %d: %s",
                              filename, je.line, je.column, je.text);
        return NULL;
    }
    eq_model *m = eq_model_parse(j, args, NULL, err);
    json_decref(j);
    if (!m)
        eq_error_prefix(err, "%s: ", filename);
    return m;
}

void eq_model_free(eq_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++)
        json_decref(m->params[i].value);
    eq_arena_free(m->arena); /* m itself lives in it */
}
