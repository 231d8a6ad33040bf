/* eq_graph_internal.h - the graph's nodes, shared by eq_graph.c (build, run),
 * eq_graph_passes.c (rewrites) and eq_graph_plan.c (memory plan).
 *
 * Nodes live in one array in creation order. Every node's inputs have
 * smaller ids (the interpreter can only refer to values it already has, and
 * passes only rewrite a node in place or add DERIVED nodes whose sources are
 * older), so id order is a valid execution order after any pass.
 *
 * Rewrites keep ids stable: when a chain conv -> bn collapses, the LAST node
 * of the chain (the bn) becomes the folded conv and the first one dies. So
 * whatever refers to the last node (consumers, fetches) stays valid without
 * rewiring, and only nodes inside a chain need to be single-use.
 */
#ifndef EQ_GRAPH_INTERNAL_H
#define EQ_GRAPH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eq_graph.h"
#include "eq_rng.h"

typedef enum gnode_kind {
    GN_INPUT = 0, /* the placeholder: a view of the caller's input per run */
    GN_OP,        /* an eq_opdesc over input nodes, run every session */
    GN_VARIABLE,  /* var->value, never copied, never planned */
    GN_CONSTANT,  /* a tensor that outlives the graph or lives in its arena */
    GN_RANDOM,    /* stateful RandomUniform [0,1), own Philox kernel */
    GN_DERIVED    /* folded weights: a recipe over VARIABLE/CONSTANT/DERIVED
                     sources, recomputed when the variable store moves */
} gnode_kind;

/* How a DERIVED node computes its tensor from its sources. */
typedef enum derive_kind {
    DERIVE_SCALE = 0,  /* src[0] * scale                                     */
    DERIVE_BN_WEIGHT,  /* w[..., c] * s[c]; s = (1/sqrt(var+eps)) * gamma     */
    DERIVE_BN_BIAS     /* beta[c] + (b[c] - mean[c]) * s[c]  (b absent: 0)    */
} derive_kind;

/* DERIVED source slots (unused = -1). */
enum { DS_X = 0, DS_GAMMA, DS_BETA, DS_MEAN, DS_VAR, DS_BIAS, DS_COUNT };

typedef struct gnode {
    gnode_kind kind;
    int alive;
    int fetched;       /* kept: no pass fuses it away, its buffer is never reused */
    int uses;          /* alive consumers (fetches not counted) */
    const char *name;  /* op name (graph arena), or NULL */

    eq_opdesc desc;    /* GN_OP */
    int in[EQ_OP_MAX_INPUTS];
    int n_in;

    eq_var *var;       /* GN_VARIABLE */
    const eq_tensor *cst; /* GN_CONSTANT */

    eq_rng_kernel rng;    /* GN_RANDOM: TF's per-session kernel state */

    derive_kind derive;   /* GN_DERIVED */
    int transient;        /* GN_DERIVED read only to pack a filter: its tensor
                             exists only while that filter is packed */
    int src[DS_COUNT];
    float dscale;
    float epsilon;

    /* Output: dtype/rank/shape from inference; data fixed at finalize for
     * planned nodes, set per run for INPUT and VARIABLE. */
    eq_tensor out;
    int planned;          /* output lives in the plan block */
    size_t offset;        /* in the plan block */
    int alias_of;         /* shares this node's buffer (reshape, in place), or -1 */

    float *packed;        /* CONV2D with a static filter: the filter packed
                             for eq_gemm_packed (arena), or NULL */
} gnode;

/* Counts kept for describe(). */
typedef struct graph_stats {
    int nodes_before, nodes_after;
    int changed[EQ_PASS_COUNT];
    size_t planned_bytes;     /* the block actually allocated */
    size_t unshared_bytes;    /* what one buffer per output would take */
    int derived;              /* folded tensors */
    size_t derived_bytes;     /* memory of those kept: a second copy of folded weights */
    int derived_transient;    /* folded only while packing a filter, not kept */
    int packed;               /* conv filters packed once for the GEMM kernel */
    size_t packed_bytes;
} graph_stats;

struct eq_graph {
    eq_backend backend;       /* first: eq_backend* -> eq_graph* */
    eq_varstore *vars;
    eq_arena *arena;          /* nodes' names, values, folded tensors */

    gnode *nodes;
    int n_nodes, cap_nodes;
    int input;                /* placeholder node, -1 until eq_graph_input */

    int *fetch;               /* node per fetch index */
    int n_fetch, cap_fetch;
    eq_tensor *results;       /* per fetch, filled by a run */

    int finalized;
    eq_graph_options opt;

    int *order;               /* executed nodes (OP, RANDOM), in order */
    int n_order;
    unsigned char *block;     /* the activation plan, allocated once */
    size_t block_size;
    eq_workspace ws;          /* kernels' scratch, kept warm across runs */

    uint64_t folded_version;  /* store version of the last refresh */
    int has_derived;
    int has_packed;           /* some conv holds a packed filter */
    eq_op_timer timer;        /* eq_graph_set_op_timer, or NULL */
    void *timer_ctx;

    graph_stats stats;
    char describe[512];
};

/* Node helpers (eq_graph.c). */
int eq_graph_node_new(eq_graph *g, gnode_kind kind, eq_error *err);
void eq_graph_count_uses(eq_graph *g);
/* The tensor a node's consumers read during a run. */
const eq_tensor *eq_graph_node_tensor(const eq_graph *g, int id);

/* Passes (eq_graph_passes.c), each returning how many nodes it changed. */
int eq_graph_pass_constant_folding(eq_graph *g, eq_error *err);
int eq_graph_pass_arithmetic(eq_graph *g, eq_error *err);
int eq_graph_pass_fold_batch_norm(eq_graph *g, eq_error *err);
int eq_graph_pass_fuse_bias_activation(eq_graph *g);
int eq_graph_pass_prune(eq_graph *g);
/* Recompute every DERIVED node but the transient ones, in id order
 * (allocating from the arena on first use). */
eq_status eq_graph_refresh_derived(eq_graph *g, eq_error *err);
/* Compute one DERIVED node into n->out.data, which the caller has set;
 * its sources must hold their values. */
eq_status eq_graph_derive_one(eq_graph *g, int id, eq_error *err);

/* Memory plan (eq_graph_plan.c): execution order, buffers, one block. */
eq_status eq_graph_plan(eq_graph *g, int reuse, eq_error *err);

#endif
