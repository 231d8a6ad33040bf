/* eq_runtime.h - running a parsed model in eager or graph mode.
 *
 * An eq_runner is one model in one mode with its own variables:
 *
 *   eq_run_config cfg;
 *   eq_run_config_default(&cfg, EQ_MODE_GRAPH);
 *   eq_runner *r = eq_runner_new(model, &cfg, &err);
 *   const eq_result *res;
 *   eq_runner_call(r, input, &res, &err);      // graph: builds, initialises, runs
 *   eq_runner_call(r, input, &res, &err);      // graph: runs the session again
 *   res->outputs[0].tensor ...                 // valid until the next call
 *   eq_runner_free(r);
 *
 * Eager mode re-runs the interpreter on every call: variables are created on
 * the first call and (for get_variable and named layers) reused after;
 * uncached `variable`s and auto-named layers create new ones every call, as
 * in TF2 with track_tf1_style_variables. Graph mode builds nodes once,
 * optimises them with the passes switched on in cfg.graph, and runs a
 * session per call.
 */
#ifndef EQ_RUNTIME_H
#define EQ_RUNTIME_H

#include <stdint.h>

#include "eq_error.h"
#include "eq_model.h"
#include "eq_tensor.h"
#include "eq_varstore.h"

typedef enum eq_mode { EQ_MODE_EAGER = 0, EQ_MODE_GRAPH = 1 } eq_mode;
const char *eq_mode_name(eq_mode m); /* "eager", "graph" */

/* Graph optimisation passes, each switchable (the guide isolates a
 * divergence by turning passes off). */
typedef enum eq_graph_pass {
    EQ_PASS_CONSTANT_FOLDING = 0,
    EQ_PASS_ARITHMETIC,          /* identities removed, residual scale folded */
    EQ_PASS_FOLD_BATCH_NORM,     /* inference BN folded into the conv before it */
    EQ_PASS_FUSE_BIAS_ACTIVATION,/* bias add + activation as the conv/fc epilogue */
    EQ_PASS_PRUNE,               /* nodes no fetch depends on are dropped */
    EQ_PASS_BUFFER_REUSE,        /* activations share buffers by lifetime */
    EQ_PASS_COUNT
} eq_graph_pass;

typedef struct eq_graph_options {
    int enabled[EQ_PASS_COUNT];
} eq_graph_options;

/* "constant_folding", "arithmetic", "fold_batch_norm",
 * "fuse_bias_activation", "prune", "buffer_reuse". */
const char *eq_graph_pass_name(eq_graph_pass p);
int eq_graph_pass_from_name(const char *name, eq_graph_pass *out);
void eq_graph_options_all(eq_graph_options *o, int on);

/* How random ops get their seeds. TF: the plain TensorFlow rules (global
 * seed + per-graph counter in graph mode, internal op seeds in eager mode);
 * CONSTANT and NUM_RANDOM_OPS: the DeterministicRandomTestTool modes. */
typedef enum eq_seeding {
    EQ_SEEDING_TF = 0,
    EQ_SEEDING_CONSTANT,
    EQ_SEEDING_NUM_RANDOM_OPS
} eq_seeding;

/* Called before a variable is created. Return EQ_OK to allow it, anything
 * else (with err filled) to forbid it: the guide's
 * assert_no_variable_creations / catch_and_raise_created_variables. */
typedef eq_status (*eq_var_hook)(void *ctx, const eq_var *proposed,
                                 eq_error *err);

typedef struct eq_runner eq_runner;

/* One executed op, for profilers: graph mode reports every node it runs,
 * eager mode every op as it executes. */
typedef struct eq_op_timing {
    const char *kind;              /* "Conv2D", "ConcatV2", ... */
    const char *name;              /* the op's name, or NULL */
    const eq_tensor *const *in;    /* its inputs (shapes are what matter) */
    int n_in;
    const eq_tensor *out;
    int64_t macs;                  /* multiply-accumulates (conv, dense), else 0 */
    double seconds;                /* wall time of the kernel */
} eq_op_timing;
typedef void (*eq_op_timer)(void *ctx, const eq_op_timing *t);

typedef struct eq_run_config {
    eq_mode mode;
    int training;             /* dropout on, batch norm on batch statistics */
    eq_seeding seeding;
    int64_t seed;             /* global seed / the tool's seed (default 42) */
    int64_t operation_seed;   /* first operation seed of the tool (default 0) */
    int functional;           /* eager: create every variable before the
                                 first real call (Keras functional wrapping) */
    eq_graph_options graph;   /* graph mode only */
    int skip_reg_loss;        /* do not compute the regularisation loss */
    eq_var_hook hook;         /* NULL: every creation allowed */
    void *hook_ctx;
    eq_op_timer op_timer;     /* NULL: ops are not timed */
    void *op_timer_ctx;
} eq_run_config;

void eq_run_config_default(eq_run_config *c, eq_mode mode);

/* One random op as both modes record it, for the random-trace comparison. */
typedef struct eq_trace_entry {
    const char *op;        /* "RandomUniform" (dropout), "initializer" */
    const char *target;    /* layer or variable name */
    const char *detail;    /* "glorot_uniform", "dropout keep_prob=0.8" */
    int64_t seed, seed2;
    int rank;
    int64_t shape[EQ_MAX_RANK];
    int call;              /* 0 = functional build, 1.. = calls */
} eq_trace_entry;

typedef struct eq_named_tensor {
    const char *name;
    const eq_tensor *tensor;
} eq_named_tensor;

typedef struct eq_result {
    eq_named_tensor *outputs;   /* the model's `outputs`, in order */
    int n_outputs;
    eq_named_tensor *endpoints; /* in execution order */
    int n_endpoints;
    int has_reg_loss;
    float reg_loss;             /* sum of REGULARIZATION_LOSSES, creation order */
    double seconds;             /* wall time of the call */
    size_t activation_bytes;    /* op outputs held at once: eager, the most
                                   this call had alive; graph, the session's
                                   planned buffer */
} eq_result;

eq_runner *eq_runner_new(const eq_model *m, const eq_run_config *cfg,
                         eq_error *err);
void eq_runner_free(eq_runner *r);

/* Run the model on input. *out stays valid until the next call or free. */
eq_status eq_runner_call(eq_runner *r, const eq_tensor *input,
                         const eq_result **out, eq_error *err);

eq_varstore *eq_runner_vars(eq_runner *r);

/* The seed policy's operation_seed, settable between calls as the guide's
 * tool allows (`tool.operation_seed = n`). Setting it back so that a seed
 * would be handed out twice makes the next random op fail with the tool's
 * overlap error. EQ_ERR_STATE without a seed policy. */
eq_status eq_runner_set_operation_seed(eq_runner *r, int64_t op_seed, eq_error *err);
int eq_runner_calls(const eq_runner *r);

/* The random-op trace so far, in the order seeds were handed out. */
int eq_runner_trace(const eq_runner *r, const eq_trace_entry **entries);

/* Graph mode: describe the optimised graph (node count, passes applied,
 * planned bytes) as one line; eager: "eager". */
const char *eq_runner_describe(eq_runner *r);

#endif
