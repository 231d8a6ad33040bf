/* eq_graph.c - graph mode: nodes, the builder backend, fetches, finalize and
 * the session run (see eq_graph.h; passes in eq_graph_passes.c, the memory
 * plan in eq_graph_plan.c).
 *
 * Passes run at finalize in this fixed order, each only when enabled:
 *   1. constant_folding       ops over constants become constants
 *   2. fold_batch_norm        conv/fc -> BN_INFERENCE becomes one conv/fc
 *   3. arithmetic             identities removed, SCALE folded into conv/fc
 *   4. fuse_bias_activation   conv/fc -> bias add -> activation epilogues
 *   5. prune                  nodes no fetch depends on dropped
 *   6. buffer_reuse           (the memory plan) buffers shared by lifetime
 * BN folding comes before arithmetic so a SCALE after a folded BN can fold
 * too, and both come before fusion, which would otherwise hide the conv
 * behind an activation epilogue that neither fold may cross.
 */
#include "eq_graph_internal.h"

#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_blas.h"
#include "eq_clock.h"
#include "eq_gemm_packed.h"

/* ---- pass names and options ------------------------------------------- */

static const char *const pass_names[EQ_PASS_COUNT] = {
    [EQ_PASS_CONSTANT_FOLDING] = "constant_folding",
    [EQ_PASS_ARITHMETIC] = "arithmetic",
    [EQ_PASS_FOLD_BATCH_NORM] = "fold_batch_norm",
    [EQ_PASS_FUSE_BIAS_ACTIVATION] = "fuse_bias_activation",
    [EQ_PASS_PRUNE] = "prune",
    [EQ_PASS_BUFFER_REUSE] = "buffer_reuse",
};

const char *eq_graph_pass_name(eq_graph_pass p)
{
    return (unsigned)p < EQ_PASS_COUNT ? pass_names[p] : "unknown";
}

int eq_graph_pass_from_name(const char *name, eq_graph_pass *out)
{
    if (!name)
        return 0;
    for (int i = 0; i < EQ_PASS_COUNT; i++)
        if (strcmp(name, pass_names[i]) == 0) {
            if (out)
                *out = (eq_graph_pass)i;
            return 1;
        }
    return 0;
}

void eq_graph_options_all(eq_graph_options *o, int on)
{
    for (int i = 0; i < EQ_PASS_COUNT; i++)
        o->enabled[i] = on != 0;
}

/* ---- nodes ------------------------------------------------------------- */

int eq_graph_node_new(eq_graph *g, gnode_kind kind, eq_error *err)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        gnode *n = eq_realloc(g->nodes, (size_t)cap * sizeof *n);
        if (!n) {
            eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory for %d nodes", cap);
            return -1;
        }
        g->nodes = n;
        g->cap_nodes = cap;
    }
    int id = g->n_nodes++;
    gnode *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->alive = 1;
    n->alias_of = -1;
    for (int i = 0; i < DS_COUNT; i++)
        n->src[i] = -1;
    return id;
}

void eq_graph_count_uses(eq_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        gnode *n = &g->nodes[i];
        if (!n->alive)
            continue;
        if (n->kind == GN_OP)
            for (int k = 0; k < n->n_in; k++)
                g->nodes[n->in[k]].uses++;
        else if (n->kind == GN_DERIVED)
            for (int k = 0; k < DS_COUNT; k++)
                if (n->src[k] >= 0)
                    g->nodes[n->src[k]].uses++;
    }
}

const eq_tensor *eq_graph_node_tensor(const eq_graph *g, int id)
{
    const gnode *n = &g->nodes[id];
    switch (n->kind) {
    case GN_VARIABLE: return n->var->value;
    case GN_CONSTANT: return n->cst;
    default: return &n->out;
    }
}

/* ---- life cycle -------------------------------------------------------- */

static const eq_backend_vtable graph_vt;

eq_graph *eq_graph_new(eq_varstore *vars, eq_error *err)
{
    eq_graph *g = eq_calloc(1, sizeof *g);
    if (!g) {
        eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->arena = eq_arena_new(0);
    if (!g->arena) {
        eq_free(g);
        eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->backend.vt = &graph_vt;
    g->vars = vars;
    g->input = -1;
    eq_graph_options_all(&g->opt, 1);
    return g;
}

void eq_graph_free(eq_graph *g)
{
    if (!g)
        return;
    eq_workspace_release(&g->ws);
    eq_aligned_free(g->block);
    eq_free(g->order);
    eq_free(g->results);
    eq_free(g->fetch);
    eq_free(g->nodes);
    eq_arena_free(g->arena);
    eq_free(g);
}

eq_backend *eq_graph_backend(eq_graph *g) { return &g->backend; }

int eq_graph_node_count(const eq_graph *g)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        c += g->nodes[i].alive && g->nodes[i].kind != GN_DERIVED;
    return c;
}

/* ---- building ---------------------------------------------------------- */

static eq_status check_building(const eq_graph *g, const char *what, eq_error *err)
{
    if (g->finalized)
        return eq_error_set(err, EQ_ERR_STATE,
                            "graph: cannot add %s after the graph was finalized", what);
    return EQ_OK;
}

/* A value descriptor for node id: its shape, no data (graph mode). */
static eq_status value_for(eq_graph *g, int id, eq_value **out, eq_error *err)
{
    eq_value *v = eq_arena_alloc(g->arena, sizeof *v);
    if (!v)
        return eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory");
    v->t = g->nodes[id].out;
    v->t.data = NULL;
    v->node = id;
    v->temp = 0;
    v->pinned = 0;
    *out = v;
    return EQ_OK;
}

static eq_status check_value(const eq_graph *g, const eq_value *v, const char *who,
                             int k, eq_error *err)
{
    if (!v || v->node < 0 || v->node >= g->n_nodes || !g->nodes[v->node].alive)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "%s: input %d is not a value of this graph", who, k);
    return EQ_OK;
}

static const char *dup_name(eq_graph *g, const char *s)
{
    return s ? eq_arena_strdup(g->arena, s) : NULL;
}

static eq_status graph_op(eq_backend *b, const eq_opdesc *d, eq_value *const *in,
                          int n, eq_value **out, eq_error *err)
{
    eq_graph *g = (eq_graph *)b;
    const char *who = d->name ? d->name : eq_opkind_name(d->kind);
    eq_status st = check_building(g, "an op", err);
    if (st != EQ_OK)
        return st;
    if (n < 1 || n > EQ_OP_MAX_INPUTS)
        return eq_error_set(err, EQ_ERR_INVALID, "%s (%s): %d inputs, expected 1..%d",
                            who, eq_opkind_name(d->kind), n, EQ_OP_MAX_INPUTS);
    const eq_tensor *ts[EQ_OP_MAX_INPUTS];
    for (int k = 0; k < n; k++) {
        if ((st = check_value(g, in[k], who, k, err)) != EQ_OK)
            return st;
        ts[k] = &g->nodes[in[k]->node].out;
    }
    int rank;
    int64_t shape[EQ_MAX_RANK];
    if ((st = eq_opdesc_infer(d, ts, n, &rank, shape, err)) != EQ_OK)
        return st;
    eq_dtype dtype = ts[0]->dtype;
    const char *name = dup_name(g, d->name);
    if (d->name && !name)
        return eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory");
    int id = eq_graph_node_new(g, GN_OP, err);
    if (id < 0)
        return EQ_ERR_NOMEM;
    gnode *node = &g->nodes[id];
    node->desc = *d;
    node->desc.name = node->name = name;
    node->n_in = n;
    for (int k = 0; k < n; k++)
        node->in[k] = in[k]->node;
    node->out.dtype = dtype;
    node->out.rank = rank;
    memcpy(node->out.shape, shape, sizeof shape);
    return value_for(g, id, out, err);
}

static eq_status graph_variable(eq_backend *b, eq_var *var, eq_value **out,
                                eq_error *err)
{
    eq_graph *g = (eq_graph *)b;
    eq_status st = check_building(g, "a variable", err);
    if (st != EQ_OK)
        return st;
    if (!var || !var->value)
        return eq_error_set(err, EQ_ERR_INVALID, "graph: variable without a value");
    int id = eq_graph_node_new(g, GN_VARIABLE, err);
    if (id < 0)
        return EQ_ERR_NOMEM;
    gnode *node = &g->nodes[id];
    node->var = var;
    node->name = var->name;
    node->out = *var->value;
    return value_for(g, id, out, err);
}

static eq_status graph_constant(eq_backend *b, const eq_tensor *t, eq_value **out,
                                eq_error *err)
{
    eq_graph *g = (eq_graph *)b;
    eq_status st = check_building(g, "a constant", err);
    if (st != EQ_OK)
        return st;
    if (!t || (!t->data && eq_tensor_numel(t) > 0))
        return eq_error_set(err, EQ_ERR_INVALID, "graph: constant without data");
    int id = eq_graph_node_new(g, GN_CONSTANT, err);
    if (id < 0)
        return EQ_ERR_NOMEM;
    gnode *node = &g->nodes[id];
    node->cst = t;
    node->out = *t;
    return value_for(g, id, out, err);
}

static eq_status graph_random_uniform(eq_backend *b, const char *name, int64_t seed,
                                      int64_t seed2, int rank, const int64_t *shape,
                                      eq_value **out, eq_error *err)
{
    eq_graph *g = (eq_graph *)b;
    eq_status st = check_building(g, "a random op", err);
    if (st != EQ_OK)
        return st;
    if ((st = eq_shape_check(rank, shape, name ? name : "RandomUniform", err)) != EQ_OK)
        return st;
    /* The kernel is built now, like TF's op kernel at session creation:
     * its stream starts here and advances with every run. */
    eq_rng_kernel k;
    if ((st = eq_rng_kernel_init(&k, (eq_seed_pair){seed, seed2}, err)) != EQ_OK) {
        eq_error_prefix(err, "%s (RandomUniform): ", name ? name : "random_uniform");
        return st;
    }
    int id = eq_graph_node_new(g, GN_RANDOM, err);
    if (id < 0)
        return EQ_ERR_NOMEM;
    gnode *node = &g->nodes[id];
    node->name = dup_name(g, name);
    node->rng = k;
    node->out.dtype = EQ_F32;
    node->out.rank = rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        node->out.shape[i] = i < rank ? shape[i] : 1;
    return value_for(g, id, out, err);
}

/* The memory plan knows every node's last reader already. */
static void graph_release(eq_backend *b, eq_value *v)
{
    (void)b;
    (void)v;
}

static const eq_backend_vtable graph_vt = {
    .op = graph_op,
    .op_consume = graph_op, /* the memory plan reuses buffers already */
    .variable = graph_variable,
    .constant = graph_constant,
    .random_uniform = graph_random_uniform,
    .release = graph_release,
};

eq_status eq_graph_input(eq_graph *g, int rank, const int64_t *shape,
                         eq_value **out, eq_error *err)
{
    eq_status st = check_building(g, "the input", err);
    if (st != EQ_OK)
        return st;
    if (g->input >= 0)
        return eq_error_set(err, EQ_ERR_STATE, "graph: the input placeholder exists already");
    if ((st = eq_shape_check(rank, shape, "graph input", err)) != EQ_OK)
        return st;
    int id = eq_graph_node_new(g, GN_INPUT, err);
    if (id < 0)
        return EQ_ERR_NOMEM;
    gnode *node = &g->nodes[id];
    node->name = "input";
    node->out.dtype = EQ_F32;
    node->out.rank = rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        node->out.shape[i] = i < rank ? shape[i] : 1;
    g->input = id;
    return value_for(g, id, out, err);
}

eq_status eq_graph_fetch(eq_graph *g, const eq_value *v, int *index, eq_error *err)
{
    eq_status st = check_building(g, "a fetch", err);
    if (st != EQ_OK)
        return st;
    if ((st = check_value(g, v, "graph fetch", 0, err)) != EQ_OK)
        return st;
    if (g->n_fetch == g->cap_fetch) {
        int cap = g->cap_fetch ? g->cap_fetch * 2 : 16;
        int *f = eq_realloc(g->fetch, (size_t)cap * sizeof *f);
        if (!f)
            return eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory for fetches");
        g->fetch = f;
        g->cap_fetch = cap;
    }
    g->fetch[g->n_fetch] = v->node;
    g->nodes[v->node].fetched = 1;
    if (index)
        *index = g->n_fetch;
    g->n_fetch++;
    return EQ_OK;
}

/* ---- packed filters ------------------------------------------------------ */

/* A conv whose filter is ready before a run (a variable, a constant or
 * folded weights) gets the filter packed once for the GEMM kernel, as an
 * inference runtime prepacks its weights; it is packed again whenever the
 * variable store changes. The kernel is the same one eq_conv2d uses when it
 * packs on every call (eager mode), so this changes no result.
 *
 * Folded weights read by nothing but such a filter are "transient": they
 * are computed into a scratch buffer just before their filter is packed,
 * instead of being kept next to the variables and the packed copy (for
 * Inception-ResNet-v2 that is 237 MB less resident memory). */
static int has_static_filter(const eq_graph *g, const gnode *n)
{
    if (!n->alive || n->kind != GN_OP || n->desc.kind != EQ_OP_CONV2D || n->n_in < 2)
        return 0;
    const gnode *w = &g->nodes[n->in[1]];
    const eq_tensor *t = eq_graph_node_tensor(g, n->in[1]);
    return (w->kind == GN_VARIABLE || w->kind == GN_CONSTANT || w->kind == GN_DERIVED) &&
           t->dtype == EQ_F32 && t->rank == 4 && n->in[0] != n->in[1] &&
           (n->n_in < 3 || n->in[2] != n->in[1]);
}

static void filter_dims(const eq_graph *g, const gnode *n, int64_t *k, int64_t *cout)
{
    const eq_tensor *w = eq_graph_node_tensor(g, n->in[1]);
    *k = w->shape[0] * w->shape[1] * w->shape[2];
    *cout = w->shape[3];
}

static int is_transient(const eq_graph *g, int id)
{
    const gnode *n = &g->nodes[id];
    return n->kind == GN_DERIVED && n->transient;
}

/* Bytes a transient node needs while it is computed: its own tensor and
 * those of its transient sources. */
static size_t chain_bytes(const eq_graph *g, int id)
{
    const gnode *n = &g->nodes[id];
    size_t b = (eq_tensor_nbytes(&n->out) + 63) / 64 * 64;
    for (int k = 0; k < DS_COUNT; k++)
        if (n->src[k] >= 0 && is_transient(g, n->src[k]))
            b += chain_bytes(g, n->src[k]);
    return b;
}

/* A DERIVED node is transient when its only consumer is a packed filter
 * slot or a transient DERIVED node. The filters first; then, since a
 * DERIVED node's consumers have larger ids (they were added later), one
 * pass from the top settles every chain. */
static void mark_transient(eq_graph *g)
{
    eq_graph_count_uses(g);
    for (int i = 0; i < g->n_nodes; i++) {
        const gnode *n = &g->nodes[i];
        gnode *w = n->packed ? &g->nodes[n->in[1]] : NULL;
        if (w && w->kind == GN_DERIVED && w->uses == 1)
            w->transient = 1;
    }
    for (int id = g->n_nodes - 1; id >= 0; id--) {
        gnode *d = &g->nodes[id];
        if (!d->alive || d->kind != GN_DERIVED || d->uses != 1 || d->transient)
            continue;
        for (int c = id + 1; c < g->n_nodes; c++) {
            const gnode *u = &g->nodes[c];
            if (!u->alive || u->kind != GN_DERIVED)
                continue;
            for (int k = 0; k < DS_COUNT; k++)
                if (u->src[k] == id && u->transient)
                    d->transient = 1;
        }
    }
}

/* Compute transient node id and its transient sources into scratch (bump
 * allocation from *off); sources' buffers are dropped afterwards. */
static eq_status transient_compute(eq_graph *g, int id, unsigned char *scratch, size_t *off,
                                   eq_error *err)
{
    gnode *n = &g->nodes[id];
    for (int k = 0; k < DS_COUNT; k++)
        if (n->src[k] >= 0 && is_transient(g, n->src[k])) {
            eq_status st = transient_compute(g, n->src[k], scratch, off, err);
            if (st != EQ_OK)
                return st;
        }
    n->out.data = scratch + *off;
    *off += (eq_tensor_nbytes(&n->out) + 63) / 64 * 64;
    eq_status st = eq_graph_derive_one(g, id, err);
    for (int k = 0; k < DS_COUNT; k++)
        if (n->src[k] >= 0 && is_transient(g, n->src[k]))
            g->nodes[n->src[k]].out.data = NULL;
    return st;
}

/* Pack every filter again from its source's current values (non-transient
 * folded weights must be fresh already). */
static eq_status packed_filters_refresh(eq_graph *g, eq_error *err)
{
    size_t need = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const gnode *n = &g->nodes[i];
        if (n->packed && is_transient(g, n->in[1])) {
            size_t b = chain_bytes(g, n->in[1]);
            need = b > need ? b : need;
        }
    }
    unsigned char *scratch = NULL;
    if (need && !(scratch = eq_aligned_alloc(need)))
        return eq_error_set(err, EQ_ERR_NOMEM,
                            "graph: out of memory for folding a filter (%zu bytes)", need);
    eq_status st = EQ_OK;
    for (int i = 0; i < g->n_nodes && st == EQ_OK; i++) {
        gnode *n = &g->nodes[i];
        if (!n->packed)
            continue;
        int transient = is_transient(g, n->in[1]);
        size_t off = 0;
        if (transient && (st = transient_compute(g, n->in[1], scratch, &off, err)) != EQ_OK)
            break;
        int64_t k, cout;
        filter_dims(g, n, &k, &cout);
        eq_pack_b_threads(eq_blas_threads(), eq_tensor_f32(eq_graph_node_tensor(g, n->in[1])),
                          cout, k, cout, n->packed);
        if (transient)
            g->nodes[n->in[1]].out.data = NULL;
    }
    eq_aligned_free(scratch);
    return st;
}

/* Give every conv with a static filter its packed buffer and mark the
 * folded weights that only feed those filters; packing happens in
 * packed_filters_refresh. */
static eq_status packed_filters_new(eq_graph *g, eq_error *err)
{
    if (!eq_gemm_packed_enabled())
        return EQ_OK;
    for (int i = 0; i < g->n_nodes; i++) {
        gnode *n = &g->nodes[i];
        if (!has_static_filter(g, n))
            continue;
        int64_t k, cout;
        filter_dims(g, n, &k, &cout);
        size_t bytes = eq_packed_floats(k, cout) * sizeof(float);
        n->packed = eq_arena_alloc(g->arena, bytes);
        if (!n->packed)
            return eq_error_set(err, EQ_ERR_NOMEM,
                                "graph: out of memory for the packed filter of %s",
                                n->name ? n->name : "a conv2d");
        g->has_packed = 1;
        g->stats.packed++;
        g->stats.packed_bytes += bytes;
    }
    mark_transient(g);
    return EQ_OK;
}

/* ---- finalize ---------------------------------------------------------- */

static void build_description(eq_graph *g)
{
    const graph_stats *s = &g->stats;
    int len = snprintf(g->describe, sizeof g->describe,
                       "graph: %d nodes -> %d", s->nodes_before, s->nodes_after);
    if (s->derived)
        len += snprintf(g->describe + len, sizeof g->describe - (size_t)len,
                        " (+%d folded tensors, %zu bytes kept%s%.0d%s)", s->derived,
                        s->derived_bytes, s->derived_transient ? ", " : "",
                        s->derived_transient,
                        s->derived_transient ? " only while packing filters" : "");
    if (s->packed)
        len += snprintf(g->describe + len, sizeof g->describe - (size_t)len,
                        " (+%d packed filters, %zu bytes)", s->packed, s->packed_bytes);
    len += snprintf(g->describe + len, sizeof g->describe - (size_t)len,
                    "; %d executed; activations %zu bytes planned (%zu unshared); passes:",
                    g->n_order, s->planned_bytes, s->unshared_bytes);
    for (int p = 0; p < EQ_PASS_COUNT && len < (int)sizeof g->describe; p++) {
        if (g->opt.enabled[p])
            len += snprintf(g->describe + len, sizeof g->describe - (size_t)len,
                            " %s=%d", pass_names[p], s->changed[p]);
        else
            len += snprintf(g->describe + len, sizeof g->describe - (size_t)len,
                            " %s=off", pass_names[p]);
    }
}

/* A failed finalize leaves the graph half rewritten: it can only be freed. */
static eq_status finalize(eq_graph *g, eq_error *err);

eq_status eq_graph_finalize(eq_graph *g, const eq_graph_options *opt, eq_error *err)
{
    if (g->finalized)
        return eq_error_set(err, EQ_ERR_STATE, "graph: finalized already");
    if (opt)
        g->opt = *opt;
    else
        eq_graph_options_all(&g->opt, 1);
    eq_status st = finalize(g, err);
    g->finalized = st == EQ_OK ? 1 : -1;
    if (st == EQ_OK)
        build_description(g);
    return st;
}

static eq_status finalize(eq_graph *g, eq_error *err)
{
    const int *on = g->opt.enabled;
    g->stats.nodes_before = eq_graph_node_count(g);
    eq_graph_count_uses(g);

    int c;
    if (on[EQ_PASS_CONSTANT_FOLDING]) {
        if ((c = eq_graph_pass_constant_folding(g, err)) < 0)
            return err ? err->status : EQ_ERR_INVALID;
        g->stats.changed[EQ_PASS_CONSTANT_FOLDING] = c;
    }
    if (on[EQ_PASS_FOLD_BATCH_NORM]) {
        if ((c = eq_graph_pass_fold_batch_norm(g, err)) < 0)
            return err ? err->status : EQ_ERR_INVALID;
        g->stats.changed[EQ_PASS_FOLD_BATCH_NORM] = c;
    }
    if (on[EQ_PASS_ARITHMETIC]) {
        if ((c = eq_graph_pass_arithmetic(g, err)) < 0)
            return err ? err->status : EQ_ERR_INVALID;
        g->stats.changed[EQ_PASS_ARITHMETIC] = c;
    }
    if (on[EQ_PASS_FUSE_BIAS_ACTIVATION])
        g->stats.changed[EQ_PASS_FUSE_BIAS_ACTIVATION] = eq_graph_pass_fuse_bias_activation(g);
    if (on[EQ_PASS_PRUNE])
        g->stats.changed[EQ_PASS_PRUNE] = eq_graph_pass_prune(g);

    eq_status st = eq_graph_plan(g, on[EQ_PASS_BUFFER_REUSE], err);
    if (st != EQ_OK)
        return st;
    g->results = eq_calloc(g->n_fetch ? (size_t)g->n_fetch : 1, sizeof *g->results);
    if (!g->results)
        return eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory for fetch results");
    if ((st = packed_filters_new(g, err)) != EQ_OK)
        return st;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].alive && g->nodes[i].kind == GN_DERIVED) {
            g->has_derived = 1;
            g->stats.derived++;
            if (g->nodes[i].transient)
                g->stats.derived_transient++;
            else
                g->stats.derived_bytes += eq_tensor_nbytes(&g->nodes[i].out);
        }
    if (g->has_derived && (st = eq_graph_refresh_derived(g, err)) != EQ_OK)
        return st;
    if (g->has_packed && (st = packed_filters_refresh(g, err)) != EQ_OK)
        return st;
    if (g->vars)
        g->folded_version = eq_varstore_version(g->vars);
    g->stats.nodes_after = eq_graph_node_count(g);
    return EQ_OK;
}

/* ---- run --------------------------------------------------------------- */

/* One execution of the node's RandomUniform: the kernel hands out its
 * current stream position and moves on by numel*256 blocks (TF's rule). */
static eq_status random_fill(gnode *n, eq_tensor *out, eq_error *err)
{
    eq_status st = eq_rng_kernel_uniform_f32(&n->rng, eq_tensor_f32(out),
                                             eq_tensor_numel(out), err);
    if (st != EQ_OK)
        eq_error_prefix(err, "%s (RandomUniform): ", n->name ? n->name : "random_uniform");
    return st;
}

static eq_status check_input(const eq_graph *g, const eq_tensor *input, eq_error *err)
{
    if (g->input < 0)
        return EQ_OK; /* a graph of constants and variables only */
    const eq_tensor *want = &g->nodes[g->input].out;
    if (!input)
        return eq_error_set(err, EQ_ERR_INVALID, "graph run: no input given for placeholder");
    if (input->dtype != want->dtype ||
        !eq_shape_equal(input->rank, input->shape, want->rank, want->shape)) {
        char a[128], b[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "graph run: input %s %s does not match the placeholder %s %s",
                            eq_dtype_name(input->dtype),
                            eq_shape_str(input->rank, input->shape, a, sizeof a),
                            eq_dtype_name(want->dtype),
                            eq_shape_str(want->rank, want->shape, b, sizeof b));
    }
    return EQ_OK;
}

static eq_status execute_node(eq_graph *g, int id, eq_error *err)
{
    gnode *n = &g->nodes[id];
    if (n->kind == GN_RANDOM)
        return random_fill(n, &n->out, err);
    const eq_tensor *ins[EQ_OP_MAX_INPUTS];
    for (int k = 0; k < n->n_in; k++)
        ins[k] = eq_graph_node_tensor(g, n->in[k]);
    if (n->packed) {
        const eq_opdesc *d = &n->desc;
        eq_status st = eq_conv2d_prepacked(
            ins[0], ins[1], n->packed, d->has_bias ? ins[2] : NULL,
            d->has_residual ? ins[2 + (d->has_bias != 0)] : NULL, &d->conv, &n->out, &g->ws,
            err);
        if (st != EQ_OK && d->name)
            eq_error_prefix(err, "%s (%s): ", d->name, eq_opkind_name(d->kind));
        return st;
    }
    return eq_opdesc_execute(&n->desc, ins, n->n_in, &n->out, &g->ws, err);
}

/* execute_node, timed and reported to the op timer when there is one. */
static eq_status run_node(eq_graph *g, int id, eq_error *err)
{
    if (!g->timer)
        return execute_node(g, id, err);
    gnode *n = &g->nodes[id];
    double t0 = eq_now_seconds();
    eq_status st = execute_node(g, id, err);
    double dt = eq_now_seconds() - t0;
    if (st != EQ_OK)
        return st;
    const eq_tensor *ins[EQ_OP_MAX_INPUTS];
    for (int k = 0; k < n->n_in; k++)
        ins[k] = eq_graph_node_tensor(g, n->in[k]);
    eq_op_timing tm = {n->kind == GN_RANDOM ? "RandomUniform" : eq_opkind_name(n->desc.kind),
                       n->kind == GN_RANDOM ? n->name : n->desc.name,
                       ins,
                       n->n_in,
                       &n->out,
                       n->kind == GN_OP ? eq_opdesc_macs(&n->desc, ins, n->n_in, &n->out) : 0,
                       dt};
    g->timer(g->timer_ctx, &tm);
    return EQ_OK;
}

void eq_graph_set_op_timer(eq_graph *g, eq_op_timer fn, void *ctx)
{
    g->timer = fn;
    g->timer_ctx = ctx;
}

eq_status eq_graph_run(eq_graph *g, const eq_tensor *input, eq_error *err)
{
    if (g->finalized != 1)
        return eq_error_set(err, EQ_ERR_STATE, "graph run: %s",
                            g->finalized ? "finalize failed; build a new graph"
                                         : "finalize the graph first");
    eq_status st = check_input(g, input, err);
    if (st != EQ_OK)
        return st;
    if (g->input >= 0)
        g->nodes[g->input].out.data = input->data;
    if ((g->has_derived || g->has_packed) && g->vars &&
        eq_varstore_version(g->vars) != g->folded_version) {
        /* folded weights first: packed filters may be made from them */
        if (g->has_derived && (st = eq_graph_refresh_derived(g, err)) != EQ_OK)
            return st;
        if (g->has_packed && (st = packed_filters_refresh(g, err)) != EQ_OK)
            return st;
        g->folded_version = eq_varstore_version(g->vars);
    }
    for (int i = 0; i < g->n_order; i++)
        if ((st = run_node(g, g->order[i], err)) != EQ_OK) {
            eq_error_prefix(err, "graph run: ");
            return st;
        }
    for (int i = 0; i < g->n_fetch; i++)
        g->results[i] = *eq_graph_node_tensor(g, g->fetch[i]);
    return EQ_OK;
}

const eq_tensor *eq_graph_result(const eq_graph *g, int i)
{
    if (g->finalized != 1 || i < 0 || i >= g->n_fetch)
        return NULL;
    return &g->results[i];
}

const char *eq_graph_describe(eq_graph *g)
{
    if (g->finalized != 1)
        snprintf(g->describe, sizeof g->describe, "graph: %d nodes, not finalized",
                 eq_graph_node_count(g));
    return g->describe;
}

size_t eq_graph_planned_bytes(const eq_graph *g)
{
    return g->finalized == 1 ? g->stats.planned_bytes : 0;
}
