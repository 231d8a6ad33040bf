/* eq_interp.c - walks the model AST and emits ops (see eq_interp.h).
 *
 * Layout of this file: scope names, variables, random draws, then one
 * function per layer family, then the statement walker. */
#include "eq_interp.h"

#include <stdarg.h>
#include <string.h>

#include "eq_alloc.h"

#define SCOPE_MAX 1024

typedef struct scope_count {
    char *name;
    int count;
} scope_count;

typedef struct cached_var {
    const eq_node *node;
    eq_var *var;
} cached_var;

typedef struct named {
    const char *name;
    eq_value *value;
} named;

struct eq_interp {
    /* lives as long as the interpreter */
    const eq_model *model;
    eq_mode mode;
    int training;
    int skip_reg_loss;
    eq_varstore *vars;
    eq_rand *rand;
    eq_var_hook hook;
    void *hook_ctx;
    eq_arena *persist;
    scope_count *counts;
    int n_counts, cap_counts;
    cached_var *cache;
    int n_cache, cap_cache;
    eq_trace_entry *trace;
    int n_trace, cap_trace;

    /* one call */
    eq_backend *be;
    eq_arena *arena;
    int call;
    char scope[SCOPE_MAX];
    named *tensors;
    int n_tensors, cap_tensors;
    named *endpoints;
    int n_endpoints, cap_endpoints;
};

/* ---- small growable arrays ---------------------------------------------- */

static eq_status grow(void **items, int *cap, int need, size_t size, eq_error *err)
{
    if (need <= *cap)
        return EQ_OK;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = eq_realloc(*items, (size_t)ncap * size);
    if (!p)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory in the interpreter");
    *items = p;
    *cap = ncap;
    return EQ_OK;
}

/* ---- errors -------------------------------------------------------------- */

/* Locate an error at a statement: path = its JSON path, message prefixed with
 * the layer type and scope so the user finds it in the model and the graph. */
static eq_status at_node(eq_interp *in, const eq_node *node, eq_status st, eq_error *err)
{
    if (st == EQ_OK || !err)
        return st;
    if (!err->path[0] && node->path)
        snprintf(err->path, sizeof err->path, "%s", node->path);
    return st;
}

static eq_status fail(eq_interp *in, const eq_node *node, eq_status st, eq_error *err,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static eq_status fail(eq_interp *in, const eq_node *node, eq_status st, eq_error *err,
                      const char *fmt, ...)
{
    if (!err)
        return st;
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return eq_error_set_path(err, st, node && node->path ? node->path : "", "%s", msg);
}

/* ---- scopes --------------------------------------------------------------- */

static scope_count *count_find(eq_interp *in, const char *name)
{
    for (int i = 0; i < in->n_counts; i++)
        if (strcmp(in->counts[i].name, name) == 0)
            return &in->counts[i];
    return NULL;
}

static int count_get(eq_interp *in, const char *name)
{
    scope_count *c = count_find(in, name);
    return c ? c->count : 0;
}

static eq_status count_inc(eq_interp *in, const char *name, eq_error *err)
{
    scope_count *c = count_find(in, name);
    if (c) {
        c->count++;
        return EQ_OK;
    }
    eq_status st = grow((void **)&in->counts, &in->cap_counts, in->n_counts + 1,
                        sizeof *in->counts, err);
    if (st != EQ_OK)
        return st;
    char *copy = eq_arena_strdup(in->persist, name);
    if (!copy)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for scope names");
    in->counts[in->n_counts].name = copy;
    in->counts[in->n_counts].count = 1;
    in->n_counts++;
    return EQ_OK;
}

/* TF's close_variable_subscopes: leaving a scope resets its children's
 * counts, which is why a named top-level scope makes eager naming stable. */
static void close_subscopes(eq_interp *in, const char *scope)
{
    size_t n = strlen(scope);
    for (int i = 0; i < in->n_counts; i++)
        if (strncmp(in->counts[i].name, scope, n) == 0 && in->counts[i].name[n] == '/')
            in->counts[i].count = 0;
}

static void join_scope(char *out, size_t n, const char *parent, const char *name)
{
    if (parent[0])
        snprintf(out, n, "%s/%s", parent, name);
    else
        snprintf(out, n, "%s", name);
}

/* Enter a variable scope; *saved receives the length to restore. name or
 * default_name (uniquified against the counts: D, D_1, D_2, ...). */
static eq_status scope_enter(eq_interp *in, const eq_node *node, const char *name,
                             const char *default_name, size_t *saved, eq_error *err)
{
    *saved = strlen(in->scope);
    char full[SCOPE_MAX];
    if (name) {
        join_scope(full, sizeof full, in->scope, name);
    } else {
        join_scope(full, sizeof full, in->scope, default_name);
        if (count_get(in, full) != 0) {
            for (int i = 1;; i++) {
                char cand[SCOPE_MAX / 2];
                snprintf(cand, sizeof cand, "%s_%d", default_name, i);
                join_scope(full, sizeof full, in->scope, cand);
                if (count_get(in, full) == 0)
                    break;
            }
        }
    }
    if (strlen(full) >= SCOPE_MAX - 64)
        return fail(in, node, EQ_ERR_LIMIT, err, "scope path '%.200s...' is too long", full);
    eq_status st = count_inc(in, full, err);
    if (st != EQ_OK)
        return st;
    memcpy(in->scope, full, strlen(full) + 1);
    return EQ_OK;
}

static void scope_leave(eq_interp *in, size_t saved)
{
    close_subscopes(in, in->scope);
    in->scope[saved] = '\0';
}

/* ---- named tensors and endpoints ---------------------------------------- */

static eq_value *tensor_find(eq_interp *in, const char *name)
{
    for (int i = in->n_tensors - 1; i >= 0; i--)
        if (strcmp(in->tensors[i].name, name) == 0)
            return in->tensors[i].value;
    return NULL;
}

static eq_status tensor_save(eq_interp *in, const char *name, eq_value *v, eq_error *err)
{
    eq_status st = grow((void **)&in->tensors, &in->cap_tensors, in->n_tensors + 1,
                        sizeof *in->tensors, err);
    if (st != EQ_OK)
        return st;
    in->tensors[in->n_tensors].name = name;
    in->tensors[in->n_tensors].value = v;
    in->n_tensors++;
    v->pinned = 1; /* any later statement may name it */
    return EQ_OK;
}

/* v is dead: no statement still to run can reach it. Only unnamed values
 * die; a named tensor or endpoint lives until the call ends. Callers pass
 * values they made, never an input they were given. eq_job_estimate.c
 * follows the same rules to predict a pass's memory (test_checks'
 * estimate_matches_eager_activations keeps the two in step). */
static void release(eq_interp *in, eq_value *v)
{
    if (v && !v->pinned)
        in->be->vt->release(in->be, v);
}

static eq_status endpoint_add(eq_interp *in, const char *name, eq_value *v, eq_error *err)
{
    eq_status st = grow((void **)&in->endpoints, &in->cap_endpoints, in->n_endpoints + 1,
                        sizeof *in->endpoints, err);
    if (st != EQ_OK)
        return st;
    in->endpoints[in->n_endpoints].name = name;
    in->endpoints[in->n_endpoints].value = v;
    in->n_endpoints++;
    return tensor_save(in, name, v, err);
}

/* ---- ops ----------------------------------------------------------------- */

static const char *op_name(eq_interp *in, const char *suffix)
{
    char buf[SCOPE_MAX + 64];
    join_scope(buf, sizeof buf, in->scope, suffix);
    const char *s = eq_arena_strdup(in->arena, buf);
    return s ? s : suffix;
}

static eq_status emit(eq_interp *in, const eq_node *node, eq_opdesc *d,
                      eq_value *const *inputs, int n, eq_value **out, eq_error *err)
{
    eq_status st = in->be->vt->op(in->be, d, inputs, n, out, err);
    return at_node(in, node, st, err);
}

static eq_status emit1(eq_interp *in, const eq_node *node, eq_opdesc *d,
                       eq_value *x, eq_value **out, eq_error *err)
{
    return emit(in, node, d, &x, 1, out, err);
}

/* emit, when inputs[0] is a temporary of this layer that nothing reads
 * after this op (not a named tensor, endpoint or output): the backend may
 * write the result over it (eq_backend.h). */
static eq_status emit_consuming(eq_interp *in, const eq_node *node, eq_opdesc *d,
                                eq_value *const *inputs, int n, eq_value **out, eq_error *err)
{
    eq_status st = in->be->vt->op_consume(in->be, d, inputs, n, out, err);
    /* When the kernel could not write over inputs[0] (training batch norm),
     * it is dead all the same. */
    if (st == EQ_OK)
        release(in, inputs[0]);
    return at_node(in, node, st, err);
}

/* The activation of a layer; `consume`: x is the layer's own temporary. */
static eq_status emit_activation(eq_interp *in, const eq_node *node, eq_activation act,
                                 eq_value *x, int consume, eq_value **out, eq_error *err)
{
    if (act == EQ_ACT_NONE) {
        *out = x;
        return EQ_OK;
    }
    eq_opdesc d = {.kind = EQ_OP_ACTIVATION, .activation = act};
    d.name = op_name(in, eq_activation_name(act));
    return consume ? emit_consuming(in, node, &d, &x, 1, out, err)
                   : emit1(in, node, &d, x, out, err);
}

/* ---- random draws and the trace ---------------------------------------- */

static eq_status trace_add(eq_interp *in, const char *op, const char *target,
                           const char *detail, int64_t seed, int64_t seed2,
                           int rank, const int64_t *shape, eq_error *err)
{
    eq_status st = grow((void **)&in->trace, &in->cap_trace, in->n_trace + 1,
                        sizeof *in->trace, err);
    if (st != EQ_OK)
        return st;
    eq_trace_entry *e = &in->trace[in->n_trace];
    memset(e, 0, sizeof *e);
    e->op = eq_arena_strdup(in->persist, op);
    e->target = eq_arena_strdup(in->persist, target);
    e->detail = eq_arena_strdup(in->persist, detail ? detail : "");
    if (!e->op || !e->target || !e->detail)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the random trace");
    e->seed = seed;
    e->seed2 = seed2;
    e->rank = rank;
    for (int i = 0; i < rank; i++)
        e->shape[i] = shape[i];
    e->call = in->call;
    in->n_trace++;
    return EQ_OK;
}

/* ---- variables ------------------------------------------------------------ */

typedef struct var_request {
    const char *name;        /* short name: "weights" */
    int rank;
    int64_t shape[EQ_MAX_RANK];
    const eq_ast_init *init; /* NULL kind: default_init */
    const char *default_init;
    int trainable;
    double l2;
    const char *creator;     /* "conv2d" */
    int reuse;               /* -1 inherit (falsy), 0, 1 */
} var_request;

static const char *init_name(const var_request *r)
{
    return r->init && r->init->kind ? r->init->kind : r->default_init;
}

static eq_status initialize(eq_interp *in, const eq_node *node, eq_var *v,
                            const var_request *r, eq_error *err)
{
    eq_ast_init init = {0};
    if (r->init && r->init->kind)
        init = *r->init;
    else
        init.kind = r->default_init;
    int64_t seed = 0, seed2 = 0;
    if (eq_rand_init_is_random(&init)) {
        eq_status st = eq_rand_next_seeds(in->rand, &seed, &seed2, err);
        if (st == EQ_OK)
            st = trace_add(in, "initializer", v->name, init.kind, seed, seed2,
                           v->value->rank, v->value->shape, err);
        if (st != EQ_OK)
            return at_node(in, node, st, err);
    }
    eq_status st = eq_rand_initialize(in->rand, &init, seed, seed2, v->value, err);
    if (st != EQ_OK)
        eq_error_prefix(err, "variable %s: ", v->name);
    return at_node(in, node, st, err);
}

static eq_status create_var(eq_interp *in, const eq_node *node, const char *full,
                            const var_request *r, eq_var **out, eq_error *err)
{
    char args[256], shape[128];
    snprintf(args, sizeof args, "shape=%s initializer=%s trainable=%s%s",
             eq_shape_str(r->rank, r->shape, shape, sizeof shape), init_name(r),
             r->trainable ? "true" : "false", r->l2 > 0 ? " regularizer=l2" : "");
    char creator[SCOPE_MAX + 64];
    snprintf(creator, sizeof creator, "%s %s", r->creator, in->scope[0] ? in->scope : "(top level)");
    if (in->hook) {
        eq_tensor proposed_value;
        proposed_value.dtype = EQ_F32;
        proposed_value.rank = r->rank;
        for (int i = 0; i < EQ_MAX_RANK; i++)
            proposed_value.shape[i] = i < r->rank ? r->shape[i] : 1;
        proposed_value.data = NULL;
        eq_var proposed = {.name = full, .value = &proposed_value, .trainable = r->trainable,
                           .creator = creator, .args = args, .path = node->path,
                           .call = in->call, .l2 = r->l2,
                           .index = eq_varstore_count(in->vars)};
        eq_status st = in->hook(in->hook_ctx, &proposed, err);
        if (st != EQ_OK)
            return at_node(in, node, st, err);
    }
    eq_var *v = eq_varstore_add(in->vars, full, r->rank, r->shape, r->trainable, creator,
                                args, node->path, in->call, err);
    if (!v)
        return at_node(in, node, err ? err->status : EQ_ERR_NOMEM, err);
    v->l2 = r->l2;
    *out = v;
    return initialize(in, node, v, r, err);
}

/* compat.v1 get_variable in the current scope. */
static eq_status get_variable(eq_interp *in, const eq_node *node, const var_request *r,
                              eq_var **out, eq_error *err)
{
    char full[SCOPE_MAX + 128];
    char base[SCOPE_MAX + 64];
    join_scope(base, sizeof base, in->scope, r->name);
    snprintf(full, sizeof full, "%s:0", base);
    eq_var *v = eq_varstore_find(in->vars, full);
    int reuse = r->reuse > 0;
    if (v) {
        if (in->mode == EQ_MODE_GRAPH && !reuse)
            return fail(in, node, EQ_ERR_STATE, err,
                        "Variable %s already exists, disallowed. Did you mean to set "
                        "reuse=True or reuse=tf.AUTO_REUSE in VarScope?", base);
        if (!eq_shape_equal(v->value->rank, v->value->shape, r->rank, r->shape)) {
            char a[128], b[128];
            return fail(in, node, EQ_ERR_SHAPE, err,
                        "Trying to share variable %s, but specified shape %s and found shape %s",
                        base, eq_shape_str(r->rank, r->shape, a, sizeof a),
                        eq_shape_str(v->value->rank, v->value->shape, b, sizeof b));
        }
        *out = v;
        return EQ_OK;
    }
    if (r->reuse > 0)
        return fail(in, node, EQ_ERR_STATE, err,
                    "Variable %s does not exist, or was not created with tf.get_variable(). "
                    "Did you mean to set reuse=tf.AUTO_REUSE in VarScope?", base);
    return create_var(in, node, full, r, out, err);
}

static eq_status read_var(eq_interp *in, const eq_node *node, eq_var *v, eq_value **out,
                          eq_error *err)
{
    return at_node(in, node, in->be->vt->variable(in->be, v, out, err), err);
}

static eq_status get_variable_value(eq_interp *in, const eq_node *node, const var_request *r,
                                    eq_value **out, eq_error *err)
{
    eq_var *v;
    eq_status st = get_variable(in, node, r, &v, err);
    return st != EQ_OK ? st : read_var(in, node, v, out, err);
}

static void shape_set(var_request *r, int rank, ...)
{
    va_list ap;
    va_start(ap, rank);
    r->rank = rank;
    for (int i = 0; i < rank; i++)
        r->shape[i] = va_arg(ap, int64_t);
    va_end(ap);
}

/* ---- layers ---------------------------------------------------------------- */

static int64_t channels(const eq_value *x) { return x->t.rank ? x->t.shape[x->t.rank - 1] : 1; }

/* slim/Keras batch norm in the current scope: gamma, beta, moving_mean,
 * moving_variance (gamma first: the Keras-based layer builds it first). */
static eq_status batch_norm(eq_interp *in, const eq_node *node, const eq_ast_batch_norm *bn,
                            eq_value *x, int consume, eq_value **out, eq_error *err)
{
    if (x->t.rank < 1)
        return fail(in, node, EQ_ERR_SHAPE, err, "batch_norm needs an input of rank >= 1");
    int64_t c = channels(x);
    eq_value *g = NULL, *b = NULL, *m = NULL, *v = NULL;
    static const eq_ast_init zeros = {.kind = "zeros"}, ones = {.kind = "ones"};
    var_request r = {.trainable = 1, .creator = "batch_norm", .reuse = -1};
    shape_set(&r, 1, c);
    eq_status st = EQ_OK;
    if (bn->scale) {
        r.name = "gamma";
        r.init = &ones;
        if ((st = get_variable_value(in, node, &r, &g, err)) != EQ_OK)
            return st;
    }
    if (bn->center) {
        r.name = "beta";
        r.init = &zeros;
        if ((st = get_variable_value(in, node, &r, &b, err)) != EQ_OK)
            return st;
    }
    r.trainable = 0;
    r.name = "moving_mean";
    r.init = &zeros;
    if ((st = get_variable_value(in, node, &r, &m, err)) != EQ_OK)
        return st;
    r.name = "moving_variance";
    r.init = &ones;
    if ((st = get_variable_value(in, node, &r, &v, err)) != EQ_OK)
        return st;

    eq_opdesc d = {.has_gamma = g != NULL, .has_beta = b != NULL, .epsilon = (float)bn->epsilon};
    eq_value *ins[5];
    int n = 0;
    ins[n++] = x;
    if (g)
        ins[n++] = g;
    if (b)
        ins[n++] = b;
    if (in->training) {
        d.kind = EQ_OP_BN_TRAINING;
        d.name = op_name(in, "FusedBatchNorm");
    } else {
        d.kind = EQ_OP_BN_INFERENCE;
        d.name = op_name(in, "FusedBatchNorm");
        ins[n++] = m;
        ins[n++] = v;
    }
    return consume ? emit_consuming(in, node, &d, ins, n, out, err)
                   : emit(in, node, &d, ins, n, out, err);
}

/* Weights (+ bias or normalizer) + activation: conv2d, fully_connected, dense. */
static eq_status weighted_layer(eq_interp *in, const eq_node *node, eq_value *x,
                                eq_value **out, eq_error *err)
{
    const eq_layer *L = &node->layer;
    eq_status st;
    int is_conv = L->type == EQ_LAYER_CONV2D;
    int is_dense = L->type == EQ_LAYER_DENSE;
    const char *type = eq_layer_type_name(L->type);
    char xs[128];
    if (is_conv && x->t.rank != 4)
        return fail(in, node, EQ_ERR_SHAPE, err, "conv2d expects an NHWC input of rank 4, got %s",
                    eq_shape_str(x->t.rank, x->t.shape, xs, sizeof xs));
    if (!is_conv && x->t.rank != 2)
        return fail(in, node, EQ_ERR_SHAPE, err,
                    "%s expects an input of rank 2 [batch, features], got %s (flatten first)",
                    type, eq_shape_str(x->t.rank, x->t.shape, xs, sizeof xs));

    size_t saved;
    st = scope_enter(in, node, L->name, L->default_scope, &saved, err);
    if (st != EQ_OK)
        return st;

    var_request r = {.trainable = L->trainable, .creator = type, .reuse = -1};
    r.name = is_dense ? "kernel" : "weights";
    r.init = &L->weights_init;
    r.default_init = is_dense ? "glorot_uniform" : "xavier_uniform";
    r.l2 = L->weights_l2;
    int64_t cin = channels(x);
    if (is_conv) {
        int64_t kh = L->kernel[0], kw = L->kernel[1];
        if (L->kernel_from_input) {
            kh = x->t.shape[1];
            kw = x->t.shape[2];
        }
        shape_set(&r, 4, kh, kw, cin, L->filters);
    } else {
        shape_set(&r, 2, cin, L->filters);
    }
    eq_value *w, *y;
    if ((st = get_variable_value(in, node, &r, &w, err)) != EQ_OK)
        goto done;

    eq_opdesc d = {0};
    if (is_conv) {
        d.kind = EQ_OP_CONV2D;
        d.name = op_name(in, "Conv2D");
        d.conv.stride_h = L->stride[0];
        d.conv.stride_w = L->stride[1];
        d.conv.dilation_h = L->rate[0];
        d.conv.dilation_w = L->rate[1];
        d.conv.padding = L->padding;
        d.conv.activation = EQ_ACT_NONE;
    } else {
        d.kind = EQ_OP_FULLY_CONNECTED;
        d.name = op_name(in, "MatMul");
        d.activation = EQ_ACT_NONE;
    }
    eq_value *ins[2] = {x, w};
    if ((st = emit(in, node, &d, ins, 2, &y, err)) != EQ_OK)
        goto done;

    if (L->use_bias && !L->has_normalizer) {
        static const eq_ast_init zeros = {.kind = "zeros"};
        var_request rb = {.trainable = L->trainable, .creator = type, .reuse = -1};
        rb.name = is_dense ? "bias" : "biases";
        rb.init = L->biases_init.kind ? &L->biases_init : &zeros;
        rb.default_init = "zeros";
        rb.l2 = L->biases_l2;
        shape_set(&rb, 1, L->filters);
        eq_value *b;
        if ((st = get_variable_value(in, node, &rb, &b, err)) != EQ_OK)
            goto done;
        eq_opdesc db = {.kind = EQ_OP_BIAS_ADD, .name = op_name(in, "BiasAdd")};
        eq_value *bins[2] = {y, b};
        if ((st = emit_consuming(in, node, &db, bins, 2, &y, err)) != EQ_OK)
            goto done;
    }
    if (L->has_normalizer) {
        size_t saved_bn;
        if ((st = scope_enter(in, node, "BatchNorm", NULL, &saved_bn, err)) != EQ_OK)
            goto done;
        st = batch_norm(in, node, &L->bn, y, 1, &y, err);
        scope_leave(in, saved_bn);
        if (st != EQ_OK)
            goto done;
    }
    st = emit_activation(in, node, L->activation, y, 1, out, err);
done:
    scope_leave(in, saved);
    return st;
}

static eq_status pool_layer(eq_interp *in, const eq_node *node, eq_value *x, eq_value **out,
                            eq_error *err)
{
    const eq_layer *L = &node->layer;
    char xs[128];
    if (x->t.rank != 4)
        return fail(in, node, EQ_ERR_SHAPE, err, "%s expects an NHWC input of rank 4, got %s",
                    eq_layer_type_name(L->type), eq_shape_str(x->t.rank, x->t.shape, xs, sizeof xs));
    eq_opdesc d = {.kind = L->type == EQ_LAYER_MAX_POOL2D ? EQ_OP_MAX_POOL : EQ_OP_AVG_POOL};
    d.name = op_name(in, L->name ? L->name : L->type == EQ_LAYER_MAX_POOL2D ? "MaxPool" : "AvgPool");
    d.pool.kernel_h = L->kernel_from_input ? (int)x->t.shape[1] : L->kernel[0];
    d.pool.kernel_w = L->kernel_from_input ? (int)x->t.shape[2] : L->kernel[1];
    d.pool.stride_h = L->stride[0];
    d.pool.stride_w = L->stride[1];
    d.pool.padding = L->padding;
    return emit1(in, node, &d, x, out, err);
}

static eq_status dropout_layer(eq_interp *in, const eq_node *node, eq_value *x,
                               eq_value **out, eq_error *err)
{
    const eq_layer *L = &node->layer;
    /* Inference, or keep_prob 1 (Keras short-circuits rate 0): identity, and
     * no seed is consumed. */
    if (!in->training || L->keep_prob >= 1.0) {
        *out = x;
        return EQ_OK;
    }
    size_t saved;
    eq_status st = scope_enter(in, node, L->name, L->default_scope ? L->default_scope : "Dropout",
                               &saved, err);
    if (st != EQ_OK)
        return st;
    int64_t seed, seed2;
    eq_value *u;
    char detail[64];
    snprintf(detail, sizeof detail, "dropout keep_prob=%g", L->keep_prob);
    st = eq_rand_next_seeds(in->rand, &seed, &seed2, err);
    if (st == EQ_OK)
        st = trace_add(in, "RandomUniform", in->scope, detail, seed, seed2, x->t.rank,
                       x->t.shape, err);
    if (st == EQ_OK)
        st = in->be->vt->random_uniform(in->be, op_name(in, "random_uniform"), seed, seed2,
                                        x->t.rank, x->t.shape, &u, err);
    if (st == EQ_OK) {
        eq_opdesc d = {.kind = EQ_OP_DROPOUT, .keep_prob = L->keep_prob};
        d.name = op_name(in, "dropout");
        eq_value *ins[2] = {x, u};
        st = emit(in, node, &d, ins, 2, out, err);
        release(in, u);
    }
    scope_leave(in, saved);
    return at_node(in, node, st, err);
}

static eq_status lookup_input(eq_interp *in, const eq_node *node, const char *name,
                              eq_value **out, eq_error *err)
{
    *out = tensor_find(in, name);
    if (!*out)
        return fail(in, node, EQ_ERR_INVALID, err,
                    "unknown tensor '%s' (name a tensor saved with \"as\", an endpoint, or \"input\")",
                    name);
    return EQ_OK;
}

static eq_status scalar_constant(eq_interp *in, const eq_node *node, double value,
                                 eq_value **out, eq_error *err)
{
    eq_tensor *t = eq_tensor_new(in->arena, EQ_F32, 0, NULL, err);
    if (!t)
        return at_node(in, node, EQ_ERR_NOMEM, err);
    eq_tensor_f32(t)[0] = (float)value;
    return at_node(in, node, in->be->vt->constant(in->be, t, out, err), err);
}

static eq_status binary_layer(eq_interp *in, const eq_node *node, eq_value *x,
                              eq_value **out, eq_error *err)
{
    const eq_layer *L = &node->layer;
    eq_status st;
    eq_binary_op op = L->type == EQ_LAYER_ADD ? EQ_BIN_ADD
                      : L->type == EQ_LAYER_SUB ? EQ_BIN_SUB : EQ_BIN_MUL;
    eq_value *a = x, *b = NULL;
    if (L->has_value) {
        if (op == EQ_BIN_MUL) {
            eq_opdesc d = {.kind = EQ_OP_SCALE, .scale = (float)L->value};
            d.name = op_name(in, "mul");
            return emit1(in, node, &d, x, out, err);
        }
        if ((st = scalar_constant(in, node, L->value, &b, err)) != EQ_OK)
            return st;
    } else if (L->n_inputs >= 2) {
        if ((st = lookup_input(in, node, L->inputs[0], &a, err)) != EQ_OK ||
            (st = lookup_input(in, node, L->inputs[1], &b, err)) != EQ_OK)
            return st;
    } else if (L->n_inputs == 1) {
        if ((st = lookup_input(in, node, L->inputs[0], &b, err)) != EQ_OK)
            return st;
    } else {
        return fail(in, node, EQ_ERR_INVALID, err, "%s needs \"inputs\" or \"value\"",
                    eq_layer_type_name(L->type));
    }
    eq_opdesc d = {.kind = EQ_OP_BINARY, .binary = op};
    d.name = op_name(in, eq_layer_type_name(L->type));
    eq_value *ins[2] = {a, b};
    return emit(in, node, &d, ins, 2, out, err);
}

static eq_status concat_layer(eq_interp *in, const eq_node *node, eq_value **out,
                              eq_error *err)
{
    const eq_layer *L = &node->layer;
    if (L->n_inputs < 1 || L->n_inputs > EQ_OP_MAX_INPUTS)
        return fail(in, node, EQ_ERR_INVALID, err, "concat needs 1 to %d inputs, got %d",
                    EQ_OP_MAX_INPUTS, L->n_inputs);
    eq_value *ins[EQ_OP_MAX_INPUTS];
    for (int i = 0; i < L->n_inputs; i++) {
        eq_status st = lookup_input(in, node, L->inputs[i], &ins[i], err);
        if (st != EQ_OK)
            return st;
    }
    eq_opdesc d = {.kind = EQ_OP_CONCAT, .axis = L->axis};
    d.name = op_name(in, "concat");
    return emit(in, node, &d, ins, L->n_inputs, out, err);
}

/* tf.Variable / get_variable statements. */
static eq_status variable_layer(eq_interp *in, const eq_node *node, eq_value **out,
                                eq_error *err)
{
    const eq_layer *L = &node->layer;
    var_request r = {.trainable = L->trainable, .init = &L->init, .default_init = "glorot_uniform",
                     .l2 = L->l2, .reuse = L->reuse};
    r.rank = L->shape_rank;
    for (int i = 0; i < L->shape_rank; i++)
        r.shape[i] = L->shape[i];
    if (L->init.kind && strcmp(L->init.kind, "values") == 0 && L->init.values) {
        r.rank = L->init.values->rank;
        for (int i = 0; i < r.rank; i++)
            r.shape[i] = L->init.values->shape[i];
    }
    if (L->type == EQ_LAYER_GET_VARIABLE) {
        r.name = L->name ? L->name : "Variable";
        r.creator = "get_variable";
        return get_variable_value(in, node, &r, out, err);
    }
    /* tf.Variable: cached statements keep their first variable. */
    r.creator = "variable";
    r.name = L->name ? L->name : "Variable";
    if (L->cache) {
        for (int i = 0; i < in->n_cache; i++)
            if (in->cache[i].node == node)
                return read_var(in, node, in->cache[i].var, out, err);
    }
    char base[SCOPE_MAX + 64], full[SCOPE_MAX + 128];
    join_scope(base, sizeof base, in->scope, r.name);
    snprintf(full, sizeof full, "%s:0", base);
    /* Graph op names are uniquified (x, x_1, ...); eager ones never are. */
    if (in->mode == EQ_MODE_GRAPH && eq_varstore_find(in->vars, full)) {
        for (int i = 1;; i++) {
            snprintf(full, sizeof full, "%s_%d:0", base, i);
            if (!eq_varstore_find(in->vars, full))
                break;
        }
    }
    eq_var *v;
    eq_status st = create_var(in, node, full, &r, &v, err);
    if (st != EQ_OK)
        return st;
    if (L->cache) {
        st = grow((void **)&in->cache, &in->cap_cache, in->n_cache + 1, sizeof *in->cache, err);
        if (st != EQ_OK)
            return st;
        in->cache[in->n_cache].node = node;
        in->cache[in->n_cache].var = v;
        in->n_cache++;
    }
    return read_var(in, node, v, out, err);
}

/* tf.random.uniform(shape, minval, maxval): the raw kernel output, then
 * TF's separate float ops raw * (maxval - minval) + minval unless the bounds
 * are the defaults [0, 1). */
static eq_status random_uniform_layer(eq_interp *in, const eq_node *node, eq_value **out,
                                      eq_error *err)
{
    const eq_layer *L = &node->layer;
    int64_t seed, seed2;
    eq_status st = eq_rand_next_seeds(in->rand, &seed, &seed2, err);
    const char *name = op_name(in, L->name ? L->name : "random_uniform");
    if (st == EQ_OK)
        st = trace_add(in, "RandomUniform", name, "random_uniform", seed, seed2, L->shape_rank,
                       L->shape, err);
    if (st == EQ_OK)
        st = in->be->vt->random_uniform(in->be, name, seed, seed2, L->shape_rank, L->shape, out,
                                        err);
    if (st != EQ_OK || (L->minval == 0.0 && L->maxval == 1.0))
        return at_node(in, node, st, err);
    float lo = (float)L->minval, hi = (float)L->maxval;
    eq_opdesc d = {.kind = EQ_OP_SCALE, .scale = hi - lo};
    d.name = op_name(in, "mul");
    eq_value *draw = *out;
    if ((st = emit_consuming(in, node, &d, &draw, 1, out, err)) != EQ_OK || lo == 0.0f)
        return st;
    eq_value *c;
    if ((st = scalar_constant(in, node, lo, &c, err)) != EQ_OK)
        return st;
    eq_opdesc da = {.kind = EQ_OP_BINARY, .binary = EQ_BIN_ADD};
    da.name = op_name(in, "add");
    eq_value *ins[2] = {*out, c};
    return emit_consuming(in, node, &da, ins, 2, out, err);
}

static eq_status layer(eq_interp *in, const eq_node *node, eq_value *x, eq_value **out,
                       eq_error *err)
{
    const eq_layer *L = &node->layer;
    eq_status st;
    switch (L->type) {
    case EQ_LAYER_CONV2D:
    case EQ_LAYER_FULLY_CONNECTED:
    case EQ_LAYER_DENSE:
        return weighted_layer(in, node, x, out, err);
    case EQ_LAYER_BATCH_NORM: {
        size_t saved;
        st = scope_enter(in, node, L->name, L->default_scope ? L->default_scope : "BatchNorm",
                         &saved, err);
        if (st != EQ_OK)
            return st;
        st = batch_norm(in, node, &L->bn, x, 0, out, err);
        scope_leave(in, saved);
        if (st != EQ_OK)
            return st;
        return emit_activation(in, node, L->activation, *out, 1, out, err);
    }
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D:
        return pool_layer(in, node, x, out, err);
    case EQ_LAYER_DROPOUT:
        return dropout_layer(in, node, x, out, err);
    case EQ_LAYER_FLATTEN:
    case EQ_LAYER_RESHAPE: {
        eq_opdesc d = {.kind = EQ_OP_RESHAPE};
        d.name = op_name(in, L->type == EQ_LAYER_FLATTEN ? "Flatten" : "Reshape");
        if (L->type == EQ_LAYER_FLATTEN) {
            if (x->t.rank < 1)
                return fail(in, node, EQ_ERR_SHAPE, err, "flatten needs an input of rank >= 1");
            d.rank = 2;
            d.shape[0] = x->t.shape[0];
            d.shape[1] = -1;
        } else {
            d.rank = L->shape_rank;
            for (int i = 0; i < L->shape_rank; i++)
                d.shape[i] = L->shape[i];
        }
        return emit1(in, node, &d, x, out, err);
    }
    case EQ_LAYER_CONCAT:
        return concat_layer(in, node, out, err);
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        return binary_layer(in, node, x, out, err);
    case EQ_LAYER_RELU:
        return emit_activation(in, node, EQ_ACT_RELU, x, 0, out, err);
    case EQ_LAYER_RELU6:
        return emit_activation(in, node, EQ_ACT_RELU6, x, 0, out, err);
    case EQ_LAYER_SIGMOID:
        return emit_activation(in, node, EQ_ACT_SIGMOID, x, 0, out, err);
    case EQ_LAYER_TANH:
        return emit_activation(in, node, EQ_ACT_TANH, x, 0, out, err);
    case EQ_LAYER_SOFTMAX: {
        eq_opdesc d = {.kind = EQ_OP_SOFTMAX};
        d.name = op_name(in, L->name ? L->name : "Softmax");
        return emit1(in, node, &d, x, out, err);
    }
    case EQ_LAYER_MEAN: {
        eq_opdesc d = {.kind = EQ_OP_MEAN, .axes_mask = L->axes_mask, .keepdims = L->keepdims};
        d.name = op_name(in, "Mean");
        return emit1(in, node, &d, x, out, err);
    }
    case EQ_LAYER_IDENTITY:
        *out = x;
        return EQ_OK;
    case EQ_LAYER_CONSTANT:
        return at_node(in, node, in->be->vt->constant(in->be, L->constant, out, err), err);
    case EQ_LAYER_VARIABLE:
    case EQ_LAYER_GET_VARIABLE:
        return variable_layer(in, node, out, err);
    case EQ_LAYER_RANDOM_UNIFORM:
        return random_uniform_layer(in, node, out, err);
    case EQ_LAYER_COUNT:
        break;
    }
    return fail(in, node, EQ_ERR_INVALID, err, "unknown layer type %d", (int)L->type);
}

/* ---- statements ------------------------------------------------------------ */

static eq_status run_body(eq_interp *in, eq_node *const *body, int n, eq_value *x,
                          eq_value **out, eq_error *err);

static eq_status run_node(eq_interp *in, const eq_node *node, eq_value *x, eq_value **out,
                          eq_error *err)
{
    eq_status st = EQ_OK;
    if (node->input && (st = lookup_input(in, node, node->input, &x, err)) != EQ_OK)
        return st;
    switch (node->kind) {
    case EQ_NODE_LAYER:
        st = layer(in, node, x, out, err);
        break;
    case EQ_NODE_SCOPE: {
        size_t saved;
        st = scope_enter(in, node, node->scope_name, node->default_name, &saved, err);
        if (st != EQ_OK)
            return st;
        st = run_body(in, node->body, node->n_body, x, out, err);
        scope_leave(in, saved);
        break;
    }
    case EQ_NODE_BRANCHES: {
        if (node->n_branches < 1 || node->n_branches > EQ_OP_MAX_INPUTS)
            return fail(in, node, EQ_ERR_INVALID, err, "branches: 1 to %d branches, got %d",
                        EQ_OP_MAX_INPUTS, node->n_branches);
        eq_value *outs[EQ_OP_MAX_INPUTS];
        for (int i = 0; i < node->n_branches && st == EQ_OK; i++)
            st = run_body(in, node->branches[i], node->n_branch_body[i], x, &outs[i], err);
        if (st != EQ_OK)
            return st;
        eq_opdesc d = {.kind = EQ_OP_CONCAT, .axis = node->axis};
        d.name = op_name(in, "concat");
        st = emit(in, node, &d, outs, node->n_branches, out, err);
        for (int i = 0; i < node->n_branches; i++)
            if (outs[i] != x) /* an empty branch passes x through */
                release(in, outs[i]);
        break;
    }
    case EQ_NODE_RESIDUAL: {
        eq_value *up, *scaled, *sum;
        if (node->activation == EQ_ACT_RELU6)
            return fail(in, node, EQ_ERR_UNSUPPORTED, err,
                        "residual with relu6 (slim clips scale*up to [-6, 6]) is not supported");
        st = run_body(in, node->body, node->n_body, x, &up, err);
        if (st != EQ_OK)
            return st;
        /* slim: net += scale * up, then the activation (none for Block8).
         * up is the body's own result unless the body passed x through or
         * named it; then it must survive the scaling. */
        eq_opdesc ds = {.kind = EQ_OP_SCALE, .scale = (float)node->scale};
        ds.name = op_name(in, "mul");
        if (up != x && !up->pinned)
            st = emit_consuming(in, node, &ds, &up, 1, &scaled, err);
        else
            st = emit1(in, node, &ds, up, &scaled, err);
        if (st != EQ_OK)
            return st;
        eq_opdesc da = {.kind = EQ_OP_BINARY, .binary = EQ_BIN_ADD};
        da.name = op_name(in, "add");
        eq_value *ins[2] = {x, scaled};
        if ((st = emit(in, node, &da, ins, 2, &sum, err)) != EQ_OK)
            return st;
        release(in, scaled);
        st = emit_activation(in, node, node->activation, sum, 1, out, err);
        break;
    }
    }
    if (st != EQ_OK)
        return st;
    if (node->as && (st = tensor_save(in, node->as, *out, err)) != EQ_OK)
        return st;
    if (node->endpoint && (st = endpoint_add(in, node->endpoint, *out, err)) != EQ_OK)
        return st;
    return EQ_OK;
}

static eq_status run_body(eq_interp *in, eq_node *const *body, int n, eq_value *x,
                          eq_value **out, eq_error *err)
{
    eq_value *cur = x;
    for (int i = 0; i < n; i++) {
        eq_value *next;
        eq_status st = run_node(in, body[i], cur, &next, err);
        if (st != EQ_OK)
            return st;
        /* Statements are sequential: what the previous one made is read by
         * this one at most (or later by name, and then it is pinned). x
         * belongs to the caller. */
        if (cur != x && cur != next)
            release(in, cur);
        cur = next;
    }
    *out = cur;
    return EQ_OK;
}

/* REGULARIZATION_LOSSES summed in variable creation order, left to right,
 * in chunks of AddN (one AddN per chunk keeps the same order). */
static eq_status regularization_loss(eq_interp *in, eq_value **out, eq_error *err)
{
    *out = NULL;
    eq_value *acc = NULL;
    eq_value *chunk[EQ_OP_MAX_INPUTS];
    int n = 0;
    int count = eq_varstore_count(in->vars);
    for (int i = 0; i <= count; i++) {
        eq_var *v = i < count ? eq_varstore_at(in->vars, i) : NULL;
        if (v && v->l2 <= 0)
            continue;
        if (v) {
            eq_value *w, *loss;
            eq_status st = in->be->vt->variable(in->be, v, &w, err);
            if (st != EQ_OK)
                return st;
            eq_opdesc d = {.kind = EQ_OP_L2_LOSS, .scale = (float)v->l2};
            char nm[512];
            snprintf(nm, sizeof nm, "%.*s/Regularizer/l2_regularizer",
                     (int)(strlen(v->name) - 2), v->name);
            d.name = eq_arena_strdup(in->arena, nm);
            if ((st = in->be->vt->op(in->be, &d, &w, 1, &loss, err)) != EQ_OK)
                return st;
            chunk[n++] = loss;
        }
        if (n == EQ_OP_MAX_INPUTS || (!v && n > 0)) {
            eq_opdesc d = {.kind = EQ_OP_ADD_N, .name = "total_regularization_loss"};
            eq_status st = in->be->vt->op(in->be, &d, chunk, n, &acc, err);
            if (st != EQ_OK)
                return st;
            chunk[0] = acc;
            n = 1;
        }
    }
    *out = acc;
    return EQ_OK;
}

/* ---- public ------------------------------------------------------------------ */

eq_interp *eq_interp_new(const eq_model *m, const eq_run_config *cfg, eq_varstore *vars,
                         eq_rand *rand, eq_error *err)
{
    eq_interp *in = eq_calloc(1, sizeof *in);
    if (!in) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the interpreter");
        return NULL;
    }
    in->persist = eq_arena_new(64 << 10);
    if (!in->persist) {
        eq_free(in);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the interpreter");
        return NULL;
    }
    in->model = m;
    in->mode = cfg->mode;
    in->training = cfg->training;
    in->skip_reg_loss = cfg->skip_reg_loss;
    in->vars = vars;
    in->rand = rand;
    in->hook = cfg->hook;
    in->hook_ctx = cfg->hook_ctx;
    return in;
}

void eq_interp_free(eq_interp *in)
{
    if (!in)
        return;
    eq_free(in->counts);
    eq_free(in->cache);
    eq_free(in->trace);
    eq_free(in->tensors);
    eq_free(in->endpoints);
    eq_arena_free(in->persist);
    eq_free(in);
}

int eq_interp_trace(const eq_interp *in, const eq_trace_entry **entries)
{
    *entries = in->trace;
    return in->n_trace;
}

eq_status eq_interp_call(eq_interp *in, eq_backend *be, eq_arena *call_arena, int call,
                         eq_value *input, eq_interp_result *res, eq_error *err)
{
    in->be = be;
    in->arena = call_arena;
    in->call = call;
    in->scope[0] = '\0';
    in->n_tensors = 0;
    in->n_endpoints = 0;
    memset(res, 0, sizeof *res);
    eq_status st = tensor_save(in, "input", input, err);
    eq_value *last;
    if (st == EQ_OK)
        st = run_body(in, in->model->body, in->model->n_body, input, &last, err);
    if (st != EQ_OK)
        return st;

    const eq_model *m = in->model;
    res->n_outputs = m->n_outputs ? m->n_outputs : 1;
    res->outputs = eq_arena_alloc(call_arena, (size_t)res->n_outputs * sizeof *res->outputs);
    res->endpoints = eq_arena_alloc(call_arena,
                                    (size_t)(in->n_endpoints ? in->n_endpoints : 1) *
                                        sizeof *res->endpoints);
    if (!res->outputs || !res->endpoints)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for results");
    if (m->n_outputs == 0) {
        res->outputs[0].name = "output";
        res->outputs[0].value = last;
    }
    for (int i = 0; i < m->n_outputs; i++) {
        eq_value *v = tensor_find(in, m->outputs[i]);
        if (!v)
            return eq_error_set_path(err, EQ_ERR_INVALID, "outputs",
                                     "output '%s' names no tensor the model produced",
                                     m->outputs[i]);
        res->outputs[i].name = m->outputs[i];
        res->outputs[i].value = v;
    }
    res->n_endpoints = in->n_endpoints;
    if (in->n_endpoints)
        memcpy(res->endpoints, in->endpoints, (size_t)in->n_endpoints * sizeof *res->endpoints);
    if (in->skip_reg_loss)
        return EQ_OK;
    return regularization_loss(in, &res->reg_loss, err);
}
