/* eq_graph.h - graph mode: build once, optimise, run in a session.
 *
 * Life of a graph:
 *   eq_graph_new()            an empty graph over a variable store
 *   eq_graph_input()          the placeholder (shape fixed at build)
 *   ...the interpreter builds through eq_graph_backend()...
 *   eq_graph_fetch()          mark what a run returns (outputs, endpoints,
 *                             the regularisation loss); fetched nodes are
 *                             kept: no pass may fuse them away or reuse
 *                             their buffers
 *   eq_graph_finalize()       run the enabled passes, plan memory
 *   eq_graph_run()            one session.run of every fetch; repeatable
 *
 * Random nodes own their Philox kernel, created at build from the seed pair;
 * each run draws from it and advances it (TF's per-session kernel).
 * Folded weights (batch-norm folding) are recomputed on a run when the
 * variable store's version moved since the last fold.
 */
#ifndef EQ_GRAPH_H
#define EQ_GRAPH_H

#include "eq_backend.h"
#include "eq_runtime.h"

typedef struct eq_graph eq_graph;

eq_graph *eq_graph_new(eq_varstore *vars, eq_error *err);
void eq_graph_free(eq_graph *g);

eq_backend *eq_graph_backend(eq_graph *g);

/* The input placeholder. */
eq_status eq_graph_input(eq_graph *g, int rank, const int64_t *shape,
                         eq_value **out, eq_error *err);

/* Mark a value as fetched; returns its fetch index through *index. */
eq_status eq_graph_fetch(eq_graph *g, const eq_value *v, int *index,
                         eq_error *err);

eq_status eq_graph_finalize(eq_graph *g, const eq_graph_options *opt,
                            eq_error *err);

/* input must have the placeholder's shape. */
eq_status eq_graph_run(eq_graph *g, const eq_tensor *input, eq_error *err);

/* Fetch i after a run; valid until the next run. */
const eq_tensor *eq_graph_result(const eq_graph *g, int i);

/* Nodes after passes, bytes of the activation plan, passes applied. */
const char *eq_graph_describe(eq_graph *g);

/* Bytes of the activation plan after finalize (0 before). */
size_t eq_graph_planned_bytes(const eq_graph *g);

/* Time every node of each run and report it to fn (NULL: stop). */
void eq_graph_set_op_timer(eq_graph *g, eq_op_timer fn, void *ctx);
int eq_graph_node_count(const eq_graph *g);

#endif
