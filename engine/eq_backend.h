/* eq_backend.h - what the interpreter calls; eager and graph implement it.
 *
 * The interpreter walks the model AST and turns every layer into ops,
 * variable reads, constants and random draws on a backend. The eager
 * backend executes each at once; the graph backend records a node and
 * executes later in a session. A value always carries its dtype, rank and
 * shape (inferred with eq_opdesc_infer), so the interpreter can check
 * shapes and report errors before anything runs in graph mode.
 *
 * Internal to the engine (not part of the public API).
 */
#ifndef EQ_BACKEND_H
#define EQ_BACKEND_H

#include "eq_error.h"
#include "eq_opdesc.h"
#include "eq_tensor.h"
#include "eq_varstore.h"

typedef struct eq_value {
    eq_tensor t; /* dtype/rank/shape always; data only in eager mode */
    int node;    /* graph: node id; eager: -1 */
    int temp;    /* eager: t's storage is an op output of this backend (not a
                    variable's or constant's) and this value owns it, so
                    op_consume may reuse it and release gives it back */
    int pinned;  /* set by the interpreter: a named tensor, endpoint or the
                    call's input, readable until the call ends: never released */
} eq_value;

typedef struct eq_backend eq_backend;

typedef struct eq_backend_vtable {
    /* Run (eager) or record (graph) one op on values from this backend. */
    eq_status (*op)(eq_backend *b, const eq_opdesc *d, eq_value *const *in,
                    int n, eq_value **out, eq_error *err);
    /* As op, when in[0] is a temporary the interpreter never reads again
     * (a conv output on its way through bias, batch norm and activation):
     * a backend may write the result over it. Eager does for the
     * element-wise ops whose kernels allow y == x, which is what keeps a
     * call's activations from tripling; graph's memory plan already does
     * the same, so it treats this as op. The results are the same. */
    eq_status (*op_consume)(eq_backend *b, const eq_opdesc *d, eq_value *const *in,
                            int n, eq_value **out, eq_error *err);
    /* The current value of a variable (no copy in either mode). */
    eq_status (*variable)(eq_backend *b, eq_var *v, eq_value **out,
                          eq_error *err);
    /* An inline constant (the tensor outlives the backend: the model's). */
    eq_status (*constant)(eq_backend *b, const eq_tensor *t, eq_value **out,
                          eq_error *err);
    /* A stateful RandomUniform op in [0, 1) of the given shape, seeded with
     * (seed, seed2). Eager: drawn now from the eager kernel cache (a reused
     * seed pair continues its stream). Graph: a node with its own kernel,
     * drawn on every session run (its stream advances per run). */
    eq_status (*random_uniform)(eq_backend *b, const char *name, int64_t seed,
                                int64_t seed2, int rank, const int64_t *shape,
                                eq_value **out, eq_error *err);
    /* The interpreter will not read v again in this call. Eager gives its
     * buffer back for reuse (and clears v's data); graph does nothing, its
     * memory plan already knows every node's last reader. */
    void (*release)(eq_backend *b, eq_value *v);
} eq_backend_vtable;

struct eq_backend {
    const eq_backend_vtable *vt;
};

#endif
