/* eq_interp.h - the interpreter: walks a model AST, emits ops on a backend.
 *
 * One interpreter serves both modes; what differs is the backend it emits
 * to and the TensorFlow rules that depend on the mode:
 *   - get_variable and layer variables: graph mode refuses an existing name
 *     unless reuse is set ("already exists, disallowed"); eager mode runs in
 *     track_tf1_style_variables' store, where falsy reuse means AUTO_REUSE;
 *   - `variable` (tf.Variable) is created wherever it is evaluated: once in
 *     graph mode, on every eager call unless the statement says cache;
 *   - scope-name counts (Repeat, Repeat_1, dense, dense_1) live as long as
 *     the interpreter, so in eager mode they persist across calls and
 *     unnamed top-level layers get new names (and variables) every call.
 * Internal to the engine.
 */
#ifndef EQ_INTERP_H
#define EQ_INTERP_H

#include "eq_arena.h"
#include "eq_backend.h"
#include "eq_model.h"
#include "eq_rand.h"
#include "eq_runtime.h"
#include "eq_varstore.h"

typedef struct eq_interp eq_interp;

typedef struct eq_named_value {
    const char *name;
    eq_value *value;
} eq_named_value;

typedef struct eq_interp_result {
    eq_named_value *outputs;
    int n_outputs;
    eq_named_value *endpoints; /* execution order */
    int n_endpoints;
    eq_value *reg_loss;        /* NULL when no variable has a regularizer */
} eq_interp_result;

eq_interp *eq_interp_new(const eq_model *m, const eq_run_config *cfg,
                         eq_varstore *vars, eq_rand *rand, eq_error *err);
void eq_interp_free(eq_interp *in);

/* One forward pass. call: 0 for a functional build, 1.. for calls. Values
 * and result arrays live in call_arena. */
eq_status eq_interp_call(eq_interp *in, eq_backend *be, eq_arena *call_arena,
                         int call, eq_value *input, eq_interp_result *res,
                         eq_error *err);

int eq_interp_trace(const eq_interp *in, const eq_trace_entry **entries);

#endif
