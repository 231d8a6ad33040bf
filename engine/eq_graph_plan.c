/* eq_graph_plan.c - execution order and the activation memory plan.
 *
 * Every executed node (OP, RANDOM) writes its output into one block that is
 * allocated and touched once at finalize and reused by every run: a page
 * fault costs ~30 us here, so a run never allocates.
 *
 * Without buffer_reuse each output gets its own range. With it, buffers get
 * offsets greedily, largest first, at the lowest offset that overlaps no
 * buffer whose lifetime (defining step .. last reading step) overlaps its
 * own - the scheme of TFLite's arena planner and ggml-alloc. Fetched nodes
 * live to the end of the run, so nothing defined after them takes their
 * bytes. A RESHAPE whose input is a planned buffer shares that buffer (same
 * elements, same order), and an element-wise op that is the last reader of
 * its input's buffer writes in place; such a group lives as one buffer.
 * Neither changes a single bit of the results.
 *
 * Cost: O(buffers^2 log buffers) at finalize, nothing per run.
 */
#include "eq_graph_internal.h"

#include <stdlib.h>
#include <string.h>

#include "eq_alloc.h"

#define PLAN_ALIGN 64

typedef struct buf {
    int node;        /* the root node owning the range */
    int def, last;   /* lifetime in steps, inclusive */
    size_t size, offset;
} buf;

static size_t align_up(size_t n) { return (n + PLAN_ALIGN - 1) & ~(size_t)(PLAN_ALIGN - 1); }

static int by_size_desc(const void *a, const void *b)
{
    const buf *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->def - y->def; /* ties: earlier first, a stable order */
}

static int lifetimes_overlap(const buf *a, const buf *b)
{
    return a->def <= b->last && b->def <= a->last;
}

static int by_offset(const void *a, const void *b)
{
    const buf *x = *(const buf *const *)a, *y = *(const buf *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Lowest offset for b clear of every placed buffer it coexists with: the
 * first gap big enough between those buffers, sorted by offset. `tmp` has
 * room for n pointers. */
static size_t place(const buf *placed, int n, const buf *b, const buf **tmp)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (lifetimes_overlap(&placed[i], b))
            tmp[m++] = &placed[i];
    qsort(tmp, (size_t)m, sizeof *tmp, by_offset);
    size_t off = 0;
    for (int i = 0; i < m; i++) {
        if (tmp[i]->offset >= off + b->size)
            break; /* the gap before tmp[i] fits */
        if (tmp[i]->offset + tmp[i]->size > off)
            off = tmp[i]->offset + tmp[i]->size;
    }
    return off;
}

/* Element-wise kernels that may write over this input (eq_ops.h: "y may
 * alias x"); -1 if none. BINARY may reuse either operand of its shape. */
static int inplace_candidates(const gnode *n, int *second)
{
    *second = -1;
    switch (n->desc.kind) {
    case EQ_OP_ACTIVATION:
    case EQ_OP_SOFTMAX:
    case EQ_OP_SCALE:
    case EQ_OP_BIAS_ADD:
    case EQ_OP_BN_INFERENCE:
    case EQ_OP_DROPOUT: return 0;
    case EQ_OP_BINARY: *second = 1; return 0;
    default: return -1;
    }
}

/* Which input node `id` (at step i) shares its buffer with, or -1:
 *  - a RESHAPE always shares its planned input (same bytes, same order);
 *  - an element-wise op writes over an input whose buffer group it reads
 *    last (so nobody reads the old values after it) when the sizes match,
 *    as TF's kernels forward an input buffer they hold the only reference
 *    to. A fetched group lives to the end, so it never qualifies. */
static int shares_input(const eq_graph *g, int id, int i, const int *step, const int *root,
                        const int *last)
{
    const gnode *n = &g->nodes[id];
    if (n->kind != GN_OP)
        return -1;
    if (n->desc.kind == EQ_OP_RESHAPE)
        return step[n->in[0]] >= 0 ? 0 : -1;
    int second, k = inplace_candidates(n, &second);
    for (int c = 0; c < 2 && k >= 0; c++, k = second) {
        int x = n->in[k];
        if (step[x] < 0 || last[root[x]] != i)
            continue;
        const gnode *r = &g->nodes[root[x]];
        if (eq_tensor_nbytes(&r->out) == eq_tensor_nbytes(&n->out) && r->out.dtype == n->out.dtype)
            return k;
    }
    return -1;
}

eq_status eq_graph_plan(eq_graph *g, int reuse, eq_error *err)
{
    eq_status st = EQ_OK;
    int *step = NULL, *last = NULL, *root = NULL;
    buf *bufs = NULL;
    const buf **tmp = NULL;

    g->order = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *g->order);
    step = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *step);
    last = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *last);
    root = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *root);
    bufs = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *bufs);
    tmp = eq_malloc(((size_t)g->n_nodes + 1) * sizeof *tmp);
    if (!g->order || !step || !last || !root || !bufs || !tmp) {
        st = eq_error_set(err, EQ_ERR_NOMEM, "graph plan: out of memory");
        goto done;
    }

    /* Order: executed nodes by id (inputs of an op that run per session
     * always have smaller ids). */
    g->n_order = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        gnode *n = &g->nodes[id];
        step[id] = -1;
        root[id] = id;
        n->planned = 0;
        n->alias_of = -1;
        if (n->alive && (n->kind == GN_OP || n->kind == GN_RANDOM)) {
            step[id] = g->n_order;
            last[id] = g->n_order;
            g->order[g->n_order++] = id;
            n->planned = 1;
        }
    }
    for (int i = 0; i < g->n_order; i++) {
        gnode *n = &g->nodes[g->order[i]];
        if (n->fetched)
            last[g->order[i]] = g->n_order;
        for (int k = 0; k < n->n_in; k++)
            if (step[n->in[k]] >= 0 && last[n->in[k]] < i)
                last[n->in[k]] = i;
    }

    /* Aliasing: fold each sharing node's lifetime into its input's root. */
    if (reuse)
        for (int i = 0; i < g->n_order; i++) {
            int id = g->order[i];
            int k = shares_input(g, id, i, step, root, last);
            if (k < 0)
                continue;
            int r = root[g->nodes[id].in[k]];
            root[id] = r;
            g->nodes[id].alias_of = r;
            if (last[id] > last[r])
                last[r] = last[id];
        }

    int nb = 0;
    size_t unshared = 0;
    for (int i = 0; i < g->n_order; i++) {
        int id = g->order[i];
        size_t size = align_up(eq_tensor_nbytes(&g->nodes[id].out));
        unshared += size;
        if (root[id] != id)
            continue;
        bufs[nb++] = (buf){.node = id, .def = step[id], .last = last[id], .size = size};
    }

    size_t total = 0;
    int shared = 0;
    if (reuse) {
        qsort(bufs, (size_t)nb, sizeof *bufs, by_size_desc);
        for (int i = 0; i < nb; i++) {
            bufs[i].offset = place(bufs, i, &bufs[i], tmp);
            if (bufs[i].offset + bufs[i].size > total)
                total = bufs[i].offset + bufs[i].size;
        }
        /* For describe(): outputs that take bytes an earlier output used. */
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < nb; j++)
                if (bufs[j].def < bufs[i].def && bufs[j].offset < bufs[i].offset + bufs[i].size &&
                    bufs[i].offset < bufs[j].offset + bufs[j].size) {
                    shared++;
                    break;
                }
        for (int i = 0; i < g->n_order; i++)
            shared += root[g->order[i]] != g->order[i];
    } else {
        for (int i = 0; i < nb; i++) {
            bufs[i].offset = total;
            total += bufs[i].size;
        }
    }

    g->block_size = total;
    g->block = eq_aligned_alloc(total ? total : PLAN_ALIGN);
    if (!g->block) {
        st = eq_error_set(err, EQ_ERR_NOMEM,
                          "graph plan: out of memory for %zu bytes of activations", total);
        goto done;
    }
    /* Touch every page now, not in the first run (and no run ever reads
     * uninitialised bytes). */
    memset(g->block, 0, total ? total : PLAN_ALIGN);
    for (int i = 0; i < nb; i++)
        g->nodes[bufs[i].node].offset = bufs[i].offset;
    for (int i = 0; i < g->n_order; i++) {
        gnode *n = &g->nodes[g->order[i]];
        n->offset = g->nodes[root[g->order[i]]].offset;
        n->out.data = g->block + n->offset;
    }
    g->stats.planned_bytes = total;
    g->stats.unshared_bytes = unshared;
    g->stats.changed[EQ_PASS_BUFFER_REUSE] = shared;

done:
    eq_free(step);
    eq_free(last);
    eq_free(root);
    eq_free(bufs);
    eq_free(tmp);
    return st;
}
