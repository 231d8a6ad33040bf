/* eq_model.h - the model language: JSON in, a resolved AST out.
 *
 * A model is JSON a person can write (docs/model-language.md is the
 * reference; engine/zoo/ holds worked examples). The parser resolves
 * everything that is static before anything runs:
 *   - `$param` references (model parameters, block parameters, zoo args),
 *   - `if` statements on parameters,
 *   - `defaults` (slim's arg_scope: per-layer-type default arguments, nested),
 *   - `block` calls and `repeat` (expanded in place, with slim's scope names),
 * and produces a tree of eq_node. What stays dynamic is left to the
 * interpreter because TensorFlow decides it at run time and the two modes
 * differ there: uniquifying default scope names (`Repeat`, `Repeat_1`,
 * auto-named layers `dense`, `dense_1`), variable creation and reuse,
 * random seeds, shapes (computed from the input when the model runs).
 *
 * Ownership: an eq_model owns one arena; every node, string and inline
 * tensor of the AST lives in it and goes with eq_model_free().
 */
#ifndef EQ_MODEL_H
#define EQ_MODEL_H

#include <jansson.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_ops.h"
#include "eq_tensor.h"

/* ---- statements ---------------------------------------------------------- */

typedef enum eq_node_kind {
    EQ_NODE_LAYER = 0, /* one layer or op (eq_layer) */
    EQ_NODE_SCOPE,     /* variable_scope(name or default_name) around body */
    EQ_NODE_BRANCHES,  /* every branch body gets the same input; outputs
                          concatenated along `axis` in branch order */
    EQ_NODE_RESIDUAL   /* out = act(x + scale * body(x)) (slim block35 etc.) */
} eq_node_kind;

typedef enum eq_layer_type {
    EQ_LAYER_CONV2D = 0,
    EQ_LAYER_FULLY_CONNECTED, /* slim: weights/biases, default scope fully_connected */
    EQ_LAYER_DENSE,           /* compat.v1 layers.dense: kernel/bias, scope dense */
    EQ_LAYER_BATCH_NORM,
    EQ_LAYER_MAX_POOL2D,
    EQ_LAYER_AVG_POOL2D,
    EQ_LAYER_DROPOUT,
    EQ_LAYER_FLATTEN,
    EQ_LAYER_RESHAPE,
    EQ_LAYER_CONCAT,
    EQ_LAYER_ADD,
    EQ_LAYER_SUB,
    EQ_LAYER_MUL,
    EQ_LAYER_RELU,
    EQ_LAYER_RELU6,
    EQ_LAYER_SIGMOID,
    EQ_LAYER_TANH,
    EQ_LAYER_SOFTMAX,
    EQ_LAYER_MEAN,
    EQ_LAYER_IDENTITY,
    EQ_LAYER_CONSTANT,     /* inline tensor */
    EQ_LAYER_VARIABLE,     /* TF2 tf.Variable: created where evaluated */
    EQ_LAYER_GET_VARIABLE, /* compat.v1 get_variable: scoped, reused */
    EQ_LAYER_RANDOM_UNIFORM, /* tf.random.uniform(shape, minval, maxval): a
                                stateful random op, the guide's demos */
    EQ_LAYER_COUNT
} eq_layer_type;

/* The JSON key of a layer type ("conv2d", ...), and the reverse (returns 1
 * and sets *out when name is a layer type, else 0). */
const char *eq_layer_type_name(eq_layer_type t);
int eq_layer_type_from_name(const char *name, eq_layer_type *out);
/* "conv2d, fully_connected, ..." for error messages. */
const char *eq_layer_type_list(void);

/* An initializer as written in the model; the RNG module turns it into
 * numbers. kind is one of the RNG module's preset names (eq_init_parse):
 *   zeros ones constant random_uniform random_normal truncated_normal
 *   variance_scaling glorot_uniform glorot_normal he_normal he_uniform
 *   lecun_normal lecun_uniform xavier_uniform xavier_normal
 *   slim_variance_scaling
 * or "values" (inline data in `values`). The parser fills every parameter
 * with its TF default and fills the layer's default kind when none is
 * written (slim: xavier_uniform weights, zeros biases; dense:
 * glorot_uniform kernel), so kind is NULL only where the layer has no such
 * variable. mode and distribution are lower case; for
 * slim_variance_scaling, scale is slim's `factor` and distribution is
 * "uniform" or "truncated_normal" (slim's uniform=False). */
typedef struct eq_ast_init {
    const char *kind;         /* NULL: the layer's default */
    double value;             /* constant */
    double minval, maxval;    /* random_uniform */
    double mean, stddev;      /* random_normal, truncated_normal */
    double scale;             /* variance_scaling scale; slim factor */
    const char *mode;         /* fan_in | fan_out | fan_avg */
    const char *distribution; /* uniform | normal | truncated_normal | untruncated_normal */
    const eq_tensor *values;  /* kind == "values" */
} eq_ast_init;

/* batch_norm arguments (standalone layer or a conv/fc normalizer). */
typedef struct eq_ast_batch_norm {
    int center;      /* beta   (default 1) */
    int scale;       /* gamma  (default 0, slim's default) */
    double epsilon;  /* default 0.001 */
    double decay;    /* default 0.999 */
} eq_ast_batch_norm;

typedef struct eq_layer {
    eq_layer_type type;
    const char *name;  /* explicit scope/variable name; NULL = auto-named per
                          call from default_scope, as compat.v1 layers do */
    const char *default_scope; /* "Conv", "fully_connected", "dense", "BatchNorm",
                                  "Dropout", "MaxPool2D", ...; NULL for plain ops */

    /* Inputs: named tensors; n_inputs == 0 means the current tensor x (the
     * previous output, or the statement's `input`, eq_node.input).
     *   concat: the tensors joined (n_inputs >= 1; x is not implied);
     *   add/sub/mul: n_inputs == 2: inputs[0] op inputs[1];
     *                n_inputs == 1: x op inputs[0];
     *                n_inputs == 0: x op value (has_value);
     *   every other layer that reads a tensor: n_inputs is 0, or 1 with
     *   inputs[0] == eq_node.input (the parser copies it there). */
    const char **inputs;
    int n_inputs;

    /* conv2d, pools */
    int64_t filters;          /* conv2d: num_outputs; fc/dense: units */
    int kernel[2];            /* [h, w] */
    int kernel_from_input;    /* "kernel": "input" (global pool, aux conv) */
    int stride[2];
    int rate[2];              /* dilation */
    eq_padding padding;

    /* conv2d, fully_connected, dense */
    eq_activation activation;
    int has_normalizer;       /* normalizer: batch_norm (then no bias variable) */
    int use_bias;
    eq_ast_init weights_init; /* kernel_initializer for dense */
    eq_ast_init biases_init;
    double weights_l2;        /* l2 regularizer scale, 0 = none */
    double biases_l2;
    int trainable;

    eq_ast_batch_norm bn;     /* normalizer args, or the batch_norm layer's */

    /* dropout */
    double keep_prob;

    /* concat, mean, reshape */
    int axis;
    unsigned axes_mask;
    int keepdims;
    int shape_rank;
    int64_t shape[EQ_MAX_RANK]; /* reshape target (one -1 allowed), variable shape */

    /* random_uniform: [minval, maxval) */
    double minval, maxval;

    /* mul / add / sub with a constant: `value` when has_value */
    int has_value;
    double value;

    /* constant, variable, get_variable */
    const eq_tensor *constant; /* constant data */
    eq_ast_init init;          /* variable / get_variable initializer */
    double l2;                 /* get_variable regularizer */
    int cache;                 /* variable: keep after the first call */
    int reuse;                 /* get_variable: -1 inherit, 0/1 */
} eq_layer;

typedef struct eq_node eq_node;

struct eq_node {
    eq_node_kind kind;
    const char *path;      /* JSON path of the statement, for messages */
    const char *as;        /* save the output under this tensor name, or NULL;
                              the parser sets it to `endpoint` when only that
                              is given */
    const char *endpoint;  /* report the output under this endpoint name; an
                              endpoint is also a tensor name (bind the output
                              under both `as` and `endpoint`) */
    const char *input;     /* read this tensor instead of the previous output
                              (any node kind), or NULL. "input" is the model
                              input. Added by the model parser. */

    /* EQ_NODE_LAYER */
    eq_layer layer;

    /* EQ_NODE_SCOPE: exactly one of scope_name, default_name is set */
    const char *scope_name;
    const char *default_name;

    /* EQ_NODE_SCOPE, EQ_NODE_RESIDUAL: body; EQ_NODE_BRANCHES: one body per
     * branch (branches[i], n_body[i]) */
    eq_node **body;
    int n_body;
    eq_node ***branches;
    int *n_branch_body;
    int n_branches;

    /* EQ_NODE_BRANCHES: concat axis; EQ_NODE_RESIDUAL: scale, activation */
    int axis;
    double scale;
    eq_activation activation;
};

/* Static limits: past them the parser returns EQ_ERR_LIMIT. Nesting counts
 * statements inside statements and block calls; nodes count the expanded
 * AST (Inception-ResNet-v2 has 492 nodes). */
#define EQ_MODEL_MAX_DEPTH 64
#define EQ_MODEL_MAX_NODES 100000
#define EQ_MODEL_MAX_REPEAT 10000

/* ---- the model ----------------------------------------------------------- */

typedef struct eq_model_param {
    const char *name;
    json_t *value;       /* resolved value (default or override); owned by the model */
    const char *doc;
} eq_model_param;

typedef struct eq_model {
    eq_arena *arena;
    const char *name;
    const char *description;

    eq_model_param *params;  /* declared parameters with resolved values */
    int n_params;

    int input_rank;          /* declared input shape (-1 = any dim), or 0 */
    int64_t input_shape[EQ_MAX_RANK];

    eq_node **body;          /* top-level statements, in order */
    int n_body;

    const char **outputs;    /* tensor or endpoint names the model returns */
    int n_outputs;
} eq_model;

/* Parse a model from JSON. `args` (may be NULL) overrides declared params
 * (the zoo's {"zoo": ..., "args": {...}}); an unknown arg is an error.
 * `path_prefix` is prepended to JSON paths in messages (e.g. "model"), NULL
 * for none. On error returns NULL and fills err->path and err->message, e.g.
 * path "body[3].conv2d.stride", message
 * "expected a positive integer or [h, w], got -1". Never crashes on any
 * input; frees everything it allocated on failure. */
eq_model *eq_model_parse(const json_t *model, const json_t *args,
                         const char *path_prefix, eq_error *err);
/* Convenience: read and parse a file. err->path is the JSON path inside the
 * file and err->message starts with the file name; a file that cannot be
 * read is EQ_ERR_IO. */
eq_model *eq_model_parse_file(const char *filename, const json_t *args,
                              eq_error *err);
/* Parse from a string (jansson's line/column on malformed JSON; duplicate
 * keys are an error). */
eq_model *eq_model_parse_string(const char *text, const json_t *args,
                                eq_error *err);
void eq_model_free(eq_model *m);

/* Dump the resolved AST as JSON (for tests and `equivd run-model --ast`). */
json_t *eq_model_dump(const eq_model *m);

#endif
