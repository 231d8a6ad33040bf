/* eq_model_internal.h - the model parser's private interface.
 *
 * Shared by eq_model_parse.c (top level), eq_model_expand.c (statements,
 * blocks, defaults), eq_model_layers.c (layer arguments) and
 * eq_model_value.c (paths, $param resolution, typed reads). Nothing here is
 * part of the engine's API; only eq_model.h is.
 *
 * Three ideas carry the parser:
 *   - a JSON path is a chain of mp_path nodes on the C stack, rendered to
 *     text only for an error message or a node's `path`, so reading a value
 *     costs no allocation;
 *   - a value (mp_val) travels with the environment its `$name` references
 *     resolve in, so a block argument written as "$x" at a call site resolves
 *     in the caller's parameters even when it is read deep inside the block;
 *   - defaults (slim's arg_scope) are a chain of frames on the C stack that
 *     follows the dynamic extent, into block bodies, as arg_scope does.
 */
#ifndef EQ_MODEL_INTERNAL_H
#define EQ_MODEL_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_model.h"

/* ---- paths ---------------------------------------------------------------- */

typedef struct mp_path {
    const struct mp_path *up;
    const char *key;  /* member name; NULL: an array index */
    size_t index;
} mp_path;

/* "body[3].conv2d.stride" into buf (always terminated). A path longer than
 * the buffer keeps its tail behind "...". */
void eq_model_path_str(const mp_path *p, char *buf, size_t n);

/* ---- values and environments -------------------------------------------- */

typedef struct mp_env mp_env;

typedef struct mp_val {
    const json_t *j;       /* NULL: absent */
    const mp_env *env;     /* where "$name" in j resolves; NULL: nowhere */
    const mp_path *path;   /* where j is written */
    const mp_path *use;    /* where the first "$name" leading here is written */
    const char *ref;       /* that name, or NULL when j is literal */
} mp_val;

typedef struct mp_binding {
    const char *name;
    mp_val val;
} mp_binding;

struct mp_env {
    const mp_env *up;      /* block frames: the model's parameters */
    const char *what;      /* "the model", "block 'block35'" (messages) */
    mp_binding *b;
    int n;
};

/* ---- the parse context ---------------------------------------------------- */

typedef struct mp_block {
    const char *name;
    const json_t *def;     /* the block's JSON object */
    mp_path path;          /* blocks.<name> */
    int state;             /* cycle search: 0 new, 1 on stack, 2 done */
} mp_block;

typedef struct mp_nameset {
    const char **slot;     /* open addressing; NULL = empty */
    const char **path;     /* for endpoints: where each was first reported */
    size_t cap, n;
} mp_nameset;

typedef struct mp_call {
    const struct mp_call *up;
    const char *block;
    const mp_path *at;
} mp_call;

typedef struct mp_ctx {
    eq_model *m;
    eq_arena *a;
    eq_error *err;
    mp_path root;          /* the path prefix ("" or "model") */
    mp_path params_path;   /* root.params */
    mp_env params;         /* the model's parameters */
    mp_block *blocks;
    int n_blocks;
    long n_nodes;
    int depth;
    const mp_call *calls;  /* block calls being expanded, innermost first */
    mp_nameset tensors;    /* names bound so far ("as", endpoints, "input") */
    mp_nameset endpoints;
} mp_ctx;

/* Defaults (arg_scope): per layer type, an object of arguments. */
typedef struct mp_defaults {
    const struct mp_defaults *up;
    mp_val by_type[EQ_LAYER_COUNT]; /* .j NULL when the frame sets nothing */
} mp_defaults;

/* ---- errors --------------------------------------------------------------- */

/* Set err with the path rendered and, when v came through "$name", a note
 * naming the reference. Returns the status. */
eq_status eq_model_fail(mp_ctx *c, eq_status st, const mp_path *p,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
eq_status eq_model_fail_val(mp_ctx *c, const mp_val *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
eq_status eq_model_nomem(mp_ctx *c, const mp_path *p);
/* A short description of a JSON value for messages: -1, "abc", null, an
 * array of 3 elements, an object. */
void eq_model_describe(const json_t *j, char *buf, size_t n);

/* ---- reading values ------------------------------------------------------- */

/* Member `key` of object value o (absent: .j NULL), with its path node in
 * *slot (which must outlive the returned value). */
mp_val eq_model_member(const mp_val *o, const char *key, mp_path *slot);
/* Element i of array value a. */
mp_val eq_model_element(const mp_val *a, size_t i, mp_path *slot);
/* Follow "$name" references to a literal value. "$$x" is the literal "$x". */
eq_status eq_model_resolve(mp_ctx *c, const mp_val *v, mp_val *out);

/* Typed reads. Each resolves references first and reports "expected ...,
 * got ..." at the value's path. `what` describes the expected value. */
eq_status eq_model_get_int(mp_ctx *c, const mp_val *v, int64_t lo, int64_t hi,
                           const char *what, int64_t *out);
eq_status eq_model_get_number(mp_ctx *c, const mp_val *v, double lo, double hi,
                              int lo_open, const char *what, double *out);
eq_status eq_model_get_bool(mp_ctx *c, const mp_val *v, int *out);
/* A string; "$$x" gives "$x". The result points into the JSON. */
eq_status eq_model_get_string(mp_ctx *c, const mp_val *v, const char *what,
                              const char **out);
/* A string copied to the arena and checked: a scope or layer name
 * (TensorFlow's op-name rule without '/'). */
eq_status eq_model_get_scope_name(mp_ctx *c, const mp_val *v, const char **out);
/* A tensor name ("as", "endpoint", "input", "inputs", "outputs"). */
eq_status eq_model_get_tensor_name(mp_ctx *c, const mp_val *v, const char **out);
/* Resolve and check that the value is an object. */
eq_status eq_model_get_object(mp_ctx *c, const mp_val *v, const char *what,
                              mp_val *out);
/* Every key of object o must be in `allowed` (NULL-terminated); otherwise
 * "unknown key 'k' in <what>; allowed: a, b, c". */
eq_status eq_model_check_keys(mp_ctx *c, const mp_val *o, const char *const *allowed,
                              const char *what);

int eq_model_is_identifier(const char *s);

/* Python's truth value of a JSON value. */
int eq_model_truthy(const json_t *j);

/* ---- names ---------------------------------------------------------------- */

/* Insert; *found tells whether it was there. EQ_ERR_NOMEM possible. */
eq_status eq_model_nameset_add(mp_ctx *c, mp_nameset *s, const char *name,
                               const char *path, int *found, const char **first_path);
int eq_model_nameset_has(const mp_nameset *s, const char *name);

/* ---- layers (eq_model_layers.c) ------------------------------------------ */

/* Parse layer `t` from its argument object `args` under defaults `d`. */
eq_status eq_model_layer_parse(mp_ctx *c, eq_layer_type t, const mp_val *args,
                               const mp_defaults *d, eq_layer *out);
/* Check one entry of a "defaults" object: every key allowed as a default
 * for t, every value well-typed. */
eq_status eq_model_defaults_check(mp_ctx *c, eq_layer_type t, const mp_val *args);
/* Whether a parsed layer reads the current tensor x (conv2d does;
 * constant, variable, get_variable, concat and a two-input add do not). */
int eq_model_layer_uses_x(const eq_layer *l);
/* "relu", "relu6", "sigmoid", "tanh", "none" (any case) or null. */
eq_status eq_model_get_activation(mp_ctx *c, const mp_val *v, eq_activation *out);
/* The canonical initializer name for `name` (aliases resolved), or NULL. */
const char *eq_model_init_kind(const char *name);

/* ---- statements (eq_model_expand.c) --------------------------------------- */

/* Build a defaults frame over `up` from a "defaults" object (validated).
 * `slots` (EQ_LAYER_COUNT path nodes) must live as long as the frame. */
eq_status eq_model_defaults_frame(mp_ctx *c, const mp_val *obj, const mp_defaults *up,
                                  mp_defaults *frame, mp_path *slots);

/* Expand the statement array `list` (path given) into *out / *n_out. */
eq_status eq_model_expand_body(mp_ctx *c, const mp_val *list, const mp_defaults *d,
                               eq_node ***out, int *n_out);
/* The names of every block a statement array calls, for the static check:
 * calls fn(c, name, path, user) for each "block" reference; stops at the
 * first non-OK status. Malformed statements are skipped (expansion reports
 * them). */
typedef eq_status (*mp_block_ref_fn)(mp_ctx *c, const char *name, const mp_path *p,
                                     void *user);
eq_status eq_model_walk_block_refs(mp_ctx *c, const json_t *list, const mp_path *p,
                                   int depth, mp_block_ref_fn fn, void *user);
mp_block *eq_model_find_block(mp_ctx *c, const char *name);
/* "block35, block17, block8" (or "none") into buf, for messages. */
void eq_model_block_list(const mp_ctx *c, char *buf, size_t n);

#endif
