/* eq_graph_passes.c - the graph optimisation passes (order: eq_graph.c).
 *
 * Every rewrite of a chain a -> b keeps the id of the LAST node b (which
 * becomes the merged op) and kills a, so consumers and fetches of b stay
 * valid. A node inside a chain may be merged away only when it is used once
 * and is not fetched: a fetched tensor is one a check will compare
 * (STYLE.md #4), so marking it is exactly what stops fusion there.
 *
 * Which rewrites change rounding:
 *   constant_folding      none (same kernels, run once earlier)
 *   arithmetic            identities none; SCALE folding does (w*s, b*s)
 *   fold_batch_norm       does (w*scale, folded bias)
 *   fuse_bias_activation  none (the kernels' epilogues compute the same ops:
 *                         bias, then a residual add, then the activation)
 *   prune                 none
 * Folded weights are DERIVED nodes over the variables: eq_graph_run
 * recomputes them when the variable store's version moved.
 */
#include "eq_graph_internal.h"

#include <math.h>
#include <string.h>

#include "eq_alloc.h"

/* Ready before a run starts: never executed per run. */
static int is_static(const gnode *n)
{
    return n->kind == GN_VARIABLE || n->kind == GN_CONSTANT || n->kind == GN_DERIVED;
}

static int is_op(const gnode *n, eq_opkind k)
{
    return n->alive && n->kind == GN_OP && n->desc.kind == k;
}

/* A node that may be merged into its single consumer. */
static int mergeable(const gnode *n) { return n->alive && !n->fetched && n->uses == 1; }

/* Conv or dense without a fused activation yet. */
static int is_linear(const gnode *n)
{
    if (is_op(n, EQ_OP_CONV2D))
        return n->desc.conv.activation == EQ_ACT_NONE;
    if (is_op(n, EQ_OP_FULLY_CONNECTED))
        return n->desc.activation == EQ_ACT_NONE;
    return 0;
}

static void kill(gnode *n)
{
    n->alive = 0;
    n->n_in = 0;
}

/* ---- constant folding -------------------------------------------------- */

/* An op whose inputs are all constants runs once, now, and its output
 * becomes a constant in the graph's arena. Constants left without
 * consumers by this (and not fetched) go too: they were folded in. */
int eq_graph_pass_constant_folding(eq_graph *g, eq_error *err)
{
    int folded = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        if (!n->alive || n->kind != GN_OP)
            continue;
        int all = 1;
        const eq_tensor *ins[EQ_OP_MAX_INPUTS];
        for (int k = 0; k < n->n_in && all; k++) {
            all = g->nodes[n->in[k]].kind == GN_CONSTANT;
            ins[k] = eq_graph_node_tensor(g, n->in[k]);
        }
        if (!all)
            continue;
        eq_tensor *t = eq_tensor_new(g->arena, n->out.dtype, n->out.rank, n->out.shape, err);
        if (!t)
            return -1;
        if (eq_opdesc_execute(&n->desc, ins, n->n_in, t, &g->ws, err) != EQ_OK) {
            eq_error_prefix(err, "constant folding: ");
            return -1;
        }
        for (int k = 0; k < n->n_in; k++) {
            gnode *c = &g->nodes[n->in[k]];
            if (--c->uses == 0 && !c->fetched)
                kill(c);
        }
        n->kind = GN_CONSTANT;
        n->cst = t;
        n->n_in = 0;
        folded++;
    }
    return folded;
}

/* ---- derived (folded) weights ------------------------------------------ */

/* A DERIVED node of x's shape; sources set by the caller. -1 on failure. */
static int derived_new(eq_graph *g, derive_kind how, int shape_of, int rank_one,
                       eq_error *err)
{
    int id = eq_graph_node_new(g, GN_DERIVED, err);
    if (id < 0)
        return -1;
    gnode *n = &g->nodes[id];
    const eq_tensor *like = eq_graph_node_tensor(g, shape_of);
    n->derive = how;
    n->out.dtype = like->dtype;
    if (rank_one) {
        n->out.rank = 1;
        for (int i = 0; i < EQ_MAX_RANK; i++)
            n->out.shape[i] = i == 0 ? like->shape[like->rank - 1] : 1;
    } else {
        n->out.rank = like->rank;
        memcpy(n->out.shape, like->shape, sizeof n->out.shape);
    }
    n->out.data = NULL; /* allocated by the first refresh, unless transient */
    n->name = "folded";
    return id;
}

static const void *src_data(const eq_graph *g, const gnode *n, int slot)
{
    return n->src[slot] >= 0 ? eq_graph_node_tensor(g, n->src[slot])->data : NULL;
}

/* One body per element type: the scale s[c] is computed exactly as the
 * FusedBatchNorm kernel computes its scaling, (1/sqrt(var+eps)) * gamma. */
#define DERIVE_BODY(T, SQRT)                                                    \
    do {                                                                        \
        T *y = (T *)n->out.data;                                                \
        const T *x = src_data(g, n, DS_X);                                      \
        int64_t count = eq_tensor_numel(&n->out);                               \
        if (n->derive == DERIVE_SCALE) {                                        \
            T s = (T)n->dscale;                                                 \
            for (int64_t i = 0; i < count; i++)                                 \
                y[i] = x[i] * s;                                                \
            break;                                                              \
        }                                                                       \
        const T *gamma = src_data(g, n, DS_GAMMA), *var = src_data(g, n, DS_VAR); \
        int64_t c = n->out.shape[n->out.rank - 1];                              \
        T *s = eq_malloc((size_t)c * sizeof *s);                                \
        if (!s)                                                                 \
            return eq_error_set(err, EQ_ERR_NOMEM, "graph: out of memory");     \
        for (int64_t j = 0; j < c; j++)                                         \
            s[j] = ((T)1 / SQRT(var[j] + (T)n->epsilon)) * (gamma ? gamma[j] : (T)1); \
        if (n->derive == DERIVE_BN_WEIGHT) {                                    \
            for (int64_t i = 0; i < count; i += c)                              \
                for (int64_t j = 0; j < c; j++)                                 \
                    y[i + j] = x[i + j] * s[j];                                 \
        } else {                                                                \
            const T *beta = src_data(g, n, DS_BETA), *mean = src_data(g, n, DS_MEAN); \
            const T *b = src_data(g, n, DS_BIAS);                               \
            for (int64_t j = 0; j < c; j++)                                     \
                y[j] = (beta ? beta[j] : (T)0) + ((b ? b[j] : (T)0) - mean[j]) * s[j]; \
        }                                                                       \
        eq_free(s);                                                             \
    } while (0)

eq_status eq_graph_derive_one(eq_graph *g, int id, eq_error *err)
{
    gnode *n = &g->nodes[id];
    EQ_ASSERT(n->kind == GN_DERIVED && n->out.data);
    if (n->out.dtype == EQ_F64)
        DERIVE_BODY(double, sqrt);
    else
        DERIVE_BODY(float, sqrtf);
    return EQ_OK;
}

eq_status eq_graph_refresh_derived(eq_graph *g, eq_error *err)
{
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        if (!n->alive || n->kind != GN_DERIVED || n->transient)
            continue;
        if (!n->out.data) {
            n->out.data = eq_arena_alloc(g->arena, eq_tensor_nbytes(&n->out));
            if (!n->out.data)
                return eq_error_set(err, EQ_ERR_NOMEM,
                                    "graph: out of memory for folded weights");
        }
        eq_status st = eq_graph_derive_one(g, id, err);
        if (st != EQ_OK)
            return st;
    }
    g->folded_version = g->vars ? eq_varstore_version(g->vars) : 0;
    return EQ_OK;
}

/* Same dtype as the conv's output and ready before a run. */
static int foldable_source(const eq_graph *g, int id, eq_dtype dtype)
{
    const gnode *s = &g->nodes[id];
    return is_static(s) && eq_graph_node_tensor(g, id)->dtype == dtype;
}

/* The conv/fc p, merged into the node at `into`: same descriptor and name,
 * inputs (x, w, [bias]) as given, and p's residual if it has one. p dies. */
static void merge_linear(eq_graph *g, int p, int into, int w, int bias)
{
    gnode *src = &g->nodes[p], *dst = &g->nodes[into];
    int x = src->in[0];
    int res = src->desc.has_residual ? src->in[2 + (src->desc.has_bias != 0)] : -1;
    dst->desc = src->desc;
    dst->name = src->name;
    dst->desc.has_bias = bias >= 0;
    dst->in[0] = x;
    dst->in[1] = w;
    dst->n_in = 2;
    if (bias >= 0)
        dst->in[dst->n_in++] = bias;
    if (res >= 0)
        dst->in[dst->n_in++] = res;
    kill(src);
}

/* ---- fold batch norm --------------------------------------------------- */

/* conv/fc (no activation, used once, not fetched) -> BN_INFERENCE becomes
 * conv/fc(x, w * s, beta + (b - mean) * s) with s = gamma / sqrt(var + eps)
 * per output channel (the last axis of HWIO and [in, out] kernels). */
int eq_graph_pass_fold_batch_norm(eq_graph *g, eq_error *err)
{
    int folded = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *bn = &g->nodes[id];
        if (!is_op(bn, EQ_OP_BN_INFERENCE))
            continue;
        int p = bn->in[0];
        gnode *conv = &g->nodes[p];
        if (!is_linear(conv) || !mergeable(conv))
            continue;
        eq_dtype dt = conv->out.dtype;
        int ok = foldable_source(g, conv->in[1], dt) &&
                 (!conv->desc.has_bias || foldable_source(g, conv->in[2], dt));
        for (int k = 1; k < bn->n_in; k++)
            ok = ok && foldable_source(g, bn->in[k], dt);
        if (!ok)
            continue;
        int slot = 1, gamma = -1, beta = -1;
        if (bn->desc.has_gamma)
            gamma = bn->in[slot++];
        if (bn->desc.has_beta)
            beta = bn->in[slot++];
        int mean = bn->in[slot], var = bn->in[slot + 1];
        int w = conv->in[1], bias = conv->desc.has_bias ? conv->in[2] : -1;
        float eps = bn->desc.epsilon;

        int dw = derived_new(g, DERIVE_BN_WEIGHT, w, 0, err);
        if (dw < 0)
            return -1;
        int db = derived_new(g, DERIVE_BN_BIAS, w, 1, err);
        if (db < 0)
            return -1;
        gnode *nw = &g->nodes[dw], *nb = &g->nodes[db];
        nw->src[DS_X] = w;
        nw->src[DS_GAMMA] = gamma;
        nw->src[DS_VAR] = var;
        nw->epsilon = eps;
        nb->src[DS_BIAS] = bias;
        nb->src[DS_GAMMA] = gamma;
        nb->src[DS_BETA] = beta;
        nb->src[DS_MEAN] = mean;
        nb->src[DS_VAR] = var;
        nb->epsilon = eps;
        merge_linear(g, p, id, dw, db);
        eq_graph_count_uses(g);
        folded++;
    }
    return folded;
}

/* ---- arithmetic -------------------------------------------------------- */

static int is_identity(const eq_graph *g, const gnode *n)
{
    if (!n->alive || n->kind != GN_OP || n->fetched)
        return 0;
    const gnode *x = &g->nodes[n->in[0]];
    switch (n->desc.kind) {
    case EQ_OP_SCALE: return n->desc.scale == 1.0f;
    case EQ_OP_ADD_N: return n->n_in == 1;
    case EQ_OP_ACTIVATION: return n->desc.activation == EQ_ACT_NONE;
    case EQ_OP_RESHAPE:
        return eq_shape_equal(n->out.rank, n->out.shape, x->out.rank, x->out.shape);
    default: return 0;
    }
}

/* Every consumer of `from` reads `to` instead. */
static void replace_uses(eq_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++) {
        gnode *n = &g->nodes[i];
        if (!n->alive)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] == from)
                n->in[k] = to;
        if (n->kind == GN_DERIVED)
            for (int k = 0; k < DS_COUNT; k++)
                if (n->src[k] == from)
                    n->src[k] = to;
    }
}

/* A DERIVED node = node `of` * s. -1 on failure. */
static int scaled(eq_graph *g, int of, float s, eq_error *err)
{
    int id = derived_new(g, DERIVE_SCALE, of, 0, err);
    if (id < 0)
        return -1;
    g->nodes[id].src[DS_X] = of;
    g->nodes[id].dscale = s;
    return id;
}

/* SCALE(s) after conv/fc, or after BIAS_ADD after conv/fc: fold s into the
 * weights (and biases). Returns 1 when folded, 0 when not, -1 on error. */
static int fold_scale(eq_graph *g, int id, eq_error *err)
{
    gnode *sc = &g->nodes[id];
    float s = sc->desc.scale;
    int p = sc->in[0];
    gnode *prev = &g->nodes[p];
    if (!mergeable(prev))
        return 0;
    if (is_linear(prev)) {
        eq_dtype dt = prev->out.dtype;
        if (!foldable_source(g, prev->in[1], dt) ||
            (prev->desc.has_bias && !foldable_source(g, prev->in[2], dt)))
            return 0;
        int w = prev->in[1], b = prev->desc.has_bias ? prev->in[2] : -1;
        int dw = scaled(g, w, s, err);
        int db = dw >= 0 && b >= 0 ? scaled(g, b, s, err) : -1;
        if (dw < 0 || (b >= 0 && db < 0))
            return -1;
        merge_linear(g, p, id, dw, db);
        return 1;
    }
    if (is_op(prev, EQ_OP_BIAS_ADD)) {
        int q = prev->in[0];
        gnode *conv = &g->nodes[q];
        eq_dtype dt = prev->out.dtype;
        if (!is_linear(conv) || !mergeable(conv) ||
            !foldable_source(g, conv->in[1], dt) || !foldable_source(g, prev->in[1], dt) ||
            (conv->desc.has_bias && !foldable_source(g, conv->in[2], dt)))
            return 0;
        int dw = scaled(g, conv->in[1], s, err), db0 = -1;
        if (dw < 0)
            return -1;
        if (g->nodes[q].desc.has_bias && (db0 = scaled(g, g->nodes[q].in[2], s, err)) < 0)
            return -1;
        int db = scaled(g, g->nodes[p].in[1], s, err);
        if (db < 0)
            return -1;
        conv = &g->nodes[q];
        conv->in[1] = dw;
        if (db0 >= 0)
            conv->in[2] = db0;
        /* The bias add moves into the SCALE's node; its old node dies. */
        gnode *ba = &g->nodes[p], *dst = &g->nodes[id];
        dst->desc = ba->desc;
        dst->name = ba->name;
        dst->in[0] = q;
        dst->in[1] = db;
        dst->n_in = 2;
        kill(ba);
        return 1;
    }
    return 0;
}

/* Identities (SCALE by 1, RESHAPE to the same shape, ADD_N of one input,
 * ACTIVATION none) disappear; a SCALE after a conv/fc (optionally through a
 * BIAS_ADD) folds into the weights, like grappler's FoldMultiplyIntoConv. */
int eq_graph_pass_arithmetic(eq_graph *g, eq_error *err)
{
    int changed = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        if (is_identity(g, n)) {
            replace_uses(g, id, n->in[0]);
            kill(n);
            eq_graph_count_uses(g);
            changed++;
        }
    }
    for (int id = 0; id < g->n_nodes; id++) {
        if (!is_op(&g->nodes[id], EQ_OP_SCALE))
            continue;
        int r = fold_scale(g, id, err);
        if (r < 0)
            return -1;
        if (r) {
            eq_graph_count_uses(g);
            changed++;
        }
    }
    return changed;
}

/* ---- fuse bias and activation ------------------------------------------ */

/* conv/fc (no bias) -> BIAS_ADD becomes conv/fc with has_bias; conv/fc (no
 * activation) -> ACTIVATION becomes its epilogue. Walking in id order
 * fuses a whole conv -> bias -> relu chain into the relu's node. */
/* n = ADD(a, b) where one operand is a conv without an activation, used
 * only here, and the other has exactly the add's shape: the operand index
 * of the conv, or -1. This is a residual block's `x + up` (the block's
 * scale already folded into up's weights by `arithmetic`). */
static int residual_conv_operand(const eq_graph *g, const gnode *n)
{
    if (!is_op(n, EQ_OP_BINARY) || n->desc.binary != EQ_BIN_ADD || n->n_in != 2 ||
        n->in[0] == n->in[1])
        return -1;
    for (int k = 0; k < 2; k++) {
        const gnode *c = &g->nodes[n->in[k]];
        const eq_tensor *r = eq_graph_node_tensor(g, n->in[1 - k]);
        if (is_op(c, EQ_OP_CONV2D) && c->desc.conv.activation == EQ_ACT_NONE &&
            !c->desc.has_residual && mergeable(c) && r->dtype == c->out.dtype &&
            eq_shape_equal(r->rank, r->shape, c->out.rank, c->out.shape))
            return k;
    }
    return -1;
}

int eq_graph_pass_fuse_bias_activation(eq_graph *g)
{
    int fused = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        if (!n->alive || n->kind != GN_OP)
            continue;
        int k = residual_conv_operand(g, n);
        if (k >= 0) {
            /* conv (+ bias) then + r: the conv's epilogue adds r after its
             * bias, the same two float32 adds in the same order */
            int p = n->in[k], r = n->in[1 - k];
            gnode *conv = &g->nodes[p];
            merge_linear(g, p, id, conv->in[1], conv->desc.has_bias ? conv->in[2] : -1);
            n->desc.has_residual = 1;
            n->in[n->n_in++] = r;
            eq_graph_count_uses(g);
            fused++;
            continue;
        }
        int p = n->in[0];
        gnode *prev = &g->nodes[p];
        if (!is_linear(prev) || !mergeable(prev))
            continue;
        if (n->desc.kind == EQ_OP_BIAS_ADD && !prev->desc.has_bias &&
            !prev->desc.has_residual) {
            /* (not after a residual: that order would be (acc + r) + b) */
            merge_linear(g, p, id, prev->in[1], n->in[1]);
        } else if (n->desc.kind == EQ_OP_ACTIVATION && n->desc.activation != EQ_ACT_NONE) {
            eq_activation act = n->desc.activation;
            merge_linear(g, p, id, prev->in[1], prev->desc.has_bias ? prev->in[2] : -1);
            if (n->desc.kind == EQ_OP_CONV2D)
                n->desc.conv.activation = act;
            else
                n->desc.activation = act;
        } else {
            continue;
        }
        eq_graph_count_uses(g);
        fused++;
    }
    return fused;
}

/* ---- prune ------------------------------------------------------------- */

/* Keep what a fetch depends on (through op inputs and folded-weight
 * sources) and the placeholder; drop the rest. */
int eq_graph_pass_prune(eq_graph *g)
{
    unsigned char *keep = eq_calloc((size_t)g->n_nodes + 1, 1);
    if (!keep)
        return 0; /* pruning is an optimisation: without memory, skip it */
    for (int i = 0; i < g->n_fetch; i++)
        keep[g->fetch[i]] = 1;
    if (g->input >= 0)
        keep[g->input] = 1;
    /* Op inputs have smaller ids, but folded weights (DERIVED) are appended
     * after the ops that read them: sweep from the top until nothing new is
     * marked (two sweeps in practice). */
    for (int more = 1; more;) {
        more = 0;
        for (int id = g->n_nodes - 1; id >= 0; id--) {
            gnode *n = &g->nodes[id];
            if (!keep[id] || !n->alive)
                continue;
            for (int k = 0; k < n->n_in; k++)
                if (!keep[n->in[k]])
                    keep[n->in[k]] = 1, more = 1;
            if (n->kind == GN_DERIVED)
                for (int k = 0; k < DS_COUNT; k++)
                    if (n->src[k] >= 0 && !keep[n->src[k]])
                        keep[n->src[k]] = 1, more = 1;
        }
    }
    int removed = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        if (n->alive && !keep[id]) {
            removed += n->kind != GN_DERIVED;
            kill(n);
        }
    }
    eq_free(keep);
    eq_graph_count_uses(g);
    return removed;
}
