/* eq_model_layers.c - one layer statement's arguments: which keys each
 * layer type takes, their defaults (tf-slim's where the layer is slim's),
 * arg_scope-style defaults from enclosing "defaults" statements, and the
 * typed reading of every argument, initializers and inline tensors
 * included. */
#include "eq_model_internal.h"

#include <float.h>
#include <string.h>
#include <strings.h>

/* ---- layer type names ------------------------------------------------------ */

static const char *const type_names[EQ_LAYER_COUNT] = {
    [EQ_LAYER_CONV2D] = "conv2d",
    [EQ_LAYER_FULLY_CONNECTED] = "fully_connected",
    [EQ_LAYER_DENSE] = "dense",
    [EQ_LAYER_BATCH_NORM] = "batch_norm",
    [EQ_LAYER_MAX_POOL2D] = "max_pool2d",
    [EQ_LAYER_AVG_POOL2D] = "avg_pool2d",
    [EQ_LAYER_DROPOUT] = "dropout",
    [EQ_LAYER_FLATTEN] = "flatten",
    [EQ_LAYER_RESHAPE] = "reshape",
    [EQ_LAYER_CONCAT] = "concat",
    [EQ_LAYER_ADD] = "add",
    [EQ_LAYER_SUB] = "sub",
    [EQ_LAYER_MUL] = "mul",
    [EQ_LAYER_RELU] = "relu",
    [EQ_LAYER_RELU6] = "relu6",
    [EQ_LAYER_SIGMOID] = "sigmoid",
    [EQ_LAYER_TANH] = "tanh",
    [EQ_LAYER_SOFTMAX] = "softmax",
    [EQ_LAYER_MEAN] = "mean",
    [EQ_LAYER_IDENTITY] = "identity",
    [EQ_LAYER_CONSTANT] = "constant",
    [EQ_LAYER_VARIABLE] = "variable",
    [EQ_LAYER_GET_VARIABLE] = "get_variable",
    [EQ_LAYER_RANDOM_UNIFORM] = "random_uniform",
};

/* The scope a layer opens when it has no name: slim's default scopes, the
 * compat.v1 layer's snake_case class name, tf.Variable's default name. */
static const char *const default_scopes[EQ_LAYER_COUNT] = {
    [EQ_LAYER_CONV2D] = "Conv",
    [EQ_LAYER_FULLY_CONNECTED] = "fully_connected",
    [EQ_LAYER_DENSE] = "dense",
    [EQ_LAYER_BATCH_NORM] = "BatchNorm",
    [EQ_LAYER_MAX_POOL2D] = "MaxPool2D",
    [EQ_LAYER_AVG_POOL2D] = "AvgPool2D",
    [EQ_LAYER_DROPOUT] = "Dropout",
    [EQ_LAYER_FLATTEN] = "Flatten",
    [EQ_LAYER_VARIABLE] = "Variable",
};

const char *eq_layer_type_name(eq_layer_type t)
{
    return (unsigned)t < EQ_LAYER_COUNT ? type_names[t] : "unknown";
}

int eq_layer_type_from_name(const char *name, eq_layer_type *out)
{
    for (int i = 0; i < EQ_LAYER_COUNT; i++) {
        if (strcmp(type_names[i], name) == 0) {
            if (out)
                *out = (eq_layer_type)i;
            return 1;
        }
    }
    return 0;
}

const char *eq_layer_type_list(void)
{
    return "conv2d, fully_connected, dense, batch_norm, max_pool2d, avg_pool2d, dropout, "
           "flatten, reshape, concat, add, sub, mul, relu, relu6, sigmoid, tanh, softmax, "
           "mean, identity, constant, variable, get_variable, random_uniform";
}

int eq_model_layer_uses_x(const eq_layer *l)
{
    switch (l->type) {
    case EQ_LAYER_CONSTANT:
    case EQ_LAYER_VARIABLE:
    case EQ_LAYER_GET_VARIABLE:
    case EQ_LAYER_RANDOM_UNIFORM:
    case EQ_LAYER_CONCAT:
        return 0;
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        return l->n_inputs < 2;
    default:
        return 1;
    }
}

/* ---- initializers ---------------------------------------------------------- */

static const char *const init_kinds[] = {
    "zeros", "ones", "constant", "random_uniform", "random_normal", "truncated_normal",
    "variance_scaling", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "xavier_uniform", "xavier_normal",
    "slim_variance_scaling", NULL};

#define INIT_KIND_LIST                                                                   \
    "zeros, ones, constant, random_uniform, random_normal, truncated_normal, "           \
    "variance_scaling, glorot_uniform, glorot_normal, he_normal, he_uniform, "           \
    "lecun_normal, lecun_uniform, xavier_uniform, xavier_normal, slim_variance_scaling"

const char *eq_model_init_kind(const char *name)
{
    if (strcmp(name, "xavier_initializer") == 0)
        return "xavier_uniform"; /* slim's name for its default */
    for (const char *const *k = init_kinds; *k; k++)
        if (strcmp(*k, name) == 0)
            return *k;
    return NULL;
}

/* TF's default parameters of each kind. */
static void init_defaults(eq_ast_init *in, const char *kind)
{
    memset(in, 0, sizeof *in);
    in->kind = kind;
    in->maxval = 1.0;
    in->stddev = 1.0;
    in->scale = 1.0;
    in->mode = "fan_in";
    in->distribution = "truncated_normal";
    if (strcmp(kind, "slim_variance_scaling") == 0)
        in->scale = 2.0; /* slim's factor */
}

static eq_status parse_tensor(mp_ctx *c, const mp_val *v, const eq_tensor **out);

static const char *const init_keys_none[] = {"kind", NULL};
static const char *const init_keys_constant[] = {"kind", "value", NULL};
static const char *const init_keys_uniform[] = {"kind", "minval", "maxval", NULL};
static const char *const init_keys_normal[] = {"kind", "mean", "stddev", NULL};
static const char *const init_keys_vs[] = {"kind", "scale", "mode", "distribution", NULL};
static const char *const init_keys_slim_vs[] = {"kind", "factor", "mode", "uniform", NULL};
static const char *const init_keys_values[] = {"values", NULL};

static eq_status parse_mode(mp_ctx *c, const mp_val *v, const char **out)
{
    const char *s;
    eq_status st = eq_model_get_string(c, v, "\"fan_in\", \"fan_out\" or \"fan_avg\"", &s);
    if (st != EQ_OK)
        return st;
    static const char *const modes[] = {"fan_in", "fan_out", "fan_avg"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, modes[i]) == 0) {
            *out = modes[i];
            return EQ_OK;
        }
    }
    mp_val r;
    eq_model_resolve(c, v, &r);
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r, "expected \"fan_in\", \"fan_out\" or \"fan_avg\", got %s",
                             got);
}

static eq_status parse_init_object(mp_ctx *c, const mp_val *o, eq_ast_init *in)
{
    mp_path ps[4];
    mp_val values = eq_model_member(o, "values", &ps[0]);
    if (values.j) {
        eq_status st = eq_model_check_keys(c, o, init_keys_values, "an inline initializer");
        if (st != EQ_OK)
            return st;
        init_defaults(in, "values");
        return parse_tensor(c, &values, &in->values);
    }
    mp_val kv = eq_model_member(o, "kind", &ps[0]);
    if (!kv.j)
        return eq_model_fail(c, EQ_ERR_INVALID, o->path,
                             "an initializer object needs \"kind\" (" INIT_KIND_LIST
                             ") or \"values\"");
    const char *name;
    eq_status st = eq_model_get_string(c, &kv, "an initializer kind", &name);
    if (st != EQ_OK)
        return st;
    const char *kind = eq_model_init_kind(name);
    if (!kind) {
        mp_val r;
        eq_model_resolve(c, &kv, &r);
        return eq_model_fail_val(c, &r, "unknown initializer \"%.60s\"; known: " INIT_KIND_LIST,
                                 name);
    }
    init_defaults(in, kind);
    const char *const *keys = init_keys_none;
    if (strcmp(kind, "constant") == 0)
        keys = init_keys_constant;
    else if (strcmp(kind, "random_uniform") == 0)
        keys = init_keys_uniform;
    else if (strcmp(kind, "random_normal") == 0 || strcmp(kind, "truncated_normal") == 0)
        keys = init_keys_normal;
    else if (strcmp(kind, "variance_scaling") == 0)
        keys = init_keys_vs;
    else if (strcmp(kind, "slim_variance_scaling") == 0)
        keys = init_keys_slim_vs;
    char what[64];
    snprintf(what, sizeof what, "a %s initializer", kind);
    st = eq_model_check_keys(c, o, keys, what);
    if (st != EQ_OK)
        return st;
    const double big = DBL_MAX;
    mp_val a;
    if ((a = eq_model_member(o, "value", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, -big, big, 0, "a number", &in->value)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "minval", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, -big, big, 0, "a number", &in->minval)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "maxval", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, -big, big, 0, "a number", &in->maxval)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "mean", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, -big, big, 0, "a number", &in->mean)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "stddev", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, 0, big, 0, "a number >= 0", &in->stddev)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "scale", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, 0, big, 1, "a number > 0", &in->scale)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "factor", &ps[1])).j &&
        (st = eq_model_get_number(c, &a, 0, big, 0, "a number >= 0", &in->scale)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "mode", &ps[1])).j && (st = parse_mode(c, &a, &in->mode)) != EQ_OK)
        return st;
    if ((a = eq_model_member(o, "distribution", &ps[1])).j) {
        static const char *const dists[] = {"truncated_normal", "normal",
                                            "untruncated_normal", "uniform"};
        const char *what_d = "\"truncated_normal\", \"normal\", \"untruncated_normal\" or "
                             "\"uniform\"";
        const char *s;
        if ((st = eq_model_get_string(c, &a, what_d, &s)) != EQ_OK)
            return st;
        int found = 0;
        for (int i = 0; i < 4 && !found; i++)
            if (strcasecmp(s, dists[i]) == 0) {
                in->distribution = dists[i];
                found = 1;
            }
        if (!found) {
            mp_val r;
            eq_model_resolve(c, &a, &r);
            char got[96];
            eq_model_describe(r.j, got, sizeof got);
            return eq_model_fail_val(c, &r, "expected %s, got %s", what_d, got);
        }
    }
    if ((a = eq_model_member(o, "uniform", &ps[1])).j) {
        int u;
        if ((st = eq_model_get_bool(c, &a, &u)) != EQ_OK)
            return st;
        in->distribution = u ? "uniform" : "truncated_normal";
    }
    return EQ_OK;
}

static eq_status parse_init(mp_ctx *c, const mp_val *v, eq_ast_init *in)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (r.j && json_is_string(r.j)) {
        const char *name;
        eq_model_get_string(c, &r, "", &name);
        const char *kind = eq_model_init_kind(name);
        if (!kind)
            return eq_model_fail_val(c, &r, "unknown initializer \"%.60s\"; known: " INIT_KIND_LIST
                                     ", or {\"values\": ...}",
                                     name);
        init_defaults(in, kind);
        return EQ_OK;
    }
    if (r.j && json_is_object(r.j))
        return parse_init_object(c, &r, in);
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r,
                             "expected an initializer (a name, {\"kind\": ...} or "
                             "{\"values\": ...}), got %s",
                             got);
}

/* ---- inline tensors -------------------------------------------------------- */

/* Nested arrays of numbers, rectangular, rank <= EQ_MAX_RANK; a bare number
 * is a scalar. First the shape from the first elements, then a walk that
 * checks every row and writes the numbers (float32: the model runs float32
 * and TF rounds Python floats the same way when it makes a float32
 * constant). */
static eq_status tensor_fill(mp_ctx *c, const mp_val *v, int dim, int rank,
                             const int64_t *shape, float *data, int64_t *pos)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (dim == rank) {
        if (!r.j || !json_is_number(r.j)) {
            char got[96];
            eq_model_describe(r.j, got, sizeof got);
            return eq_model_fail_val(c, &r, "expected a number (tensor data), got %s", got);
        }
        double x = json_number_value(r.j);
        if (x > FLT_MAX || x < -FLT_MAX) {
            char got[96];
            eq_model_describe(r.j, got, sizeof got);
            return eq_model_fail_val(c, &r, "expected a number that fits in float32, got %s",
                                     got);
        }
        if (data)
            data[*pos] = (float)x;
        (*pos)++;
        return EQ_OK;
    }
    if (!r.j || !json_is_array(r.j) || (int64_t)json_array_size(r.j) != shape[dim]) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r,
                                 "expected an array of %lld elements (tensor data is "
                                 "rectangular), got %s",
                                 (long long)shape[dim], got);
    }
    for (int64_t i = 0; i < shape[dim]; i++) {
        mp_path slot;
        mp_val e = eq_model_element(&r, (size_t)i, &slot);
        if ((st = tensor_fill(c, &e, dim + 1, rank, shape, data, pos)) != EQ_OK)
            return st;
    }
    return EQ_OK;
}

static eq_status parse_tensor(mp_ctx *c, const mp_val *v, const eq_tensor **out)
{
    int rank = 0;
    int64_t shape[EQ_MAX_RANK];
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    const json_t *j = r.j;
    while (j && json_is_array(j)) {
        if (rank == EQ_MAX_RANK)
            return eq_model_fail_val(c, &r, "tensor data nests deeper than rank %d",
                                     EQ_MAX_RANK);
        shape[rank++] = (int64_t)json_array_size(j);
        j = json_array_size(j) ? json_array_get(j, 0) : NULL;
        /* A "$name" inside the data is resolved per element by tensor_fill;
         * for the shape, a reference ends the descent. */
    }
    /* Check every row before allocating: the first elements alone could
     * claim a huge shape. */
    int64_t pos = 0;
    if ((st = tensor_fill(c, &r, 0, rank, shape, NULL, &pos)) != EQ_OK)
        return st;
    eq_tensor *t = eq_tensor_new(c->a, EQ_F32, rank, shape, c->err);
    if (!t)
        return eq_model_nomem(c, r.path);
    pos = 0;
    if ((st = tensor_fill(c, &r, 0, rank, shape, eq_tensor_f32(t), &pos)) != EQ_OK)
        return st;
    *out = t;
    return EQ_OK;
}

/* ---- argument handlers ----------------------------------------------------- */

#define MAX_FILTERS ((int64_t)1 << 24)
#define MAX_WINDOW ((int64_t)1 << 16)
#define MAX_DIM ((int64_t)1 << 40)
#define MAX_FILL ((int64_t)1 << 24) /* elements a scalar may fill: memory is touched */

typedef eq_status (*arg_fn)(mp_ctx *c, eq_layer *l, const mp_val *v);

static eq_status a_name(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_scope_name(c, v, &l->name);
}

static eq_status a_filters(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_int(c, v, 1, MAX_FILTERS, "a positive integer", &l->filters);
}

/* int | [h, w]; allow_input: also "input" (kernel = the input's spatial size). */
static eq_status pair(mp_ctx *c, const mp_val *v, int out[2], int allow_input, int *from_input)
{
    const char *what = allow_input ? "a positive integer, [h, w] or \"input\""
                                   : "a positive integer or [h, w]";
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    int64_t x;
    if (r.j && json_is_integer(r.j)) {
        if ((st = eq_model_get_int(c, &r, 1, MAX_WINDOW, what, &x)) != EQ_OK)
            return st;
        out[0] = out[1] = (int)x;
        if (from_input)
            *from_input = 0;
        return EQ_OK;
    }
    if (allow_input && r.j && json_is_string(r.j) && strcmp(json_string_value(r.j), "input") == 0) {
        out[0] = out[1] = 0;
        *from_input = 1;
        return EQ_OK;
    }
    if (r.j && json_is_array(r.j) && json_array_size(r.j) == 2) {
        for (size_t i = 0; i < 2; i++) {
            mp_path slot;
            mp_val e = eq_model_element(&r, i, &slot);
            if ((st = eq_model_get_int(c, &e, 1, MAX_WINDOW, "a positive integer", &x)) != EQ_OK)
                return st;
            out[i] = (int)x;
        }
        if (from_input)
            *from_input = 0;
        return EQ_OK;
    }
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r, "expected %s, got %s", what, got);
}

static eq_status a_kernel(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return pair(c, v, l->kernel, 1, &l->kernel_from_input);
}

static eq_status a_stride(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return pair(c, v, l->stride, 0, NULL);
}

static eq_status a_rate(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return pair(c, v, l->rate, 0, NULL);
}

/* A string from a fixed list (any case), or null for `null_index`. */
static eq_status choice(mp_ctx *c, const mp_val *v, const char *const *names, int n,
                        int null_index, const char *what, int *out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (r.j && json_is_null(r.j) && null_index >= 0) {
        *out = null_index;
        return EQ_OK;
    }
    if (r.j && json_is_string(r.j)) {
        const char *s;
        eq_model_get_string(c, &r, what, &s);
        for (int i = 0; i < n; i++) {
            if (strcasecmp(s, names[i]) == 0) {
                *out = i;
                return EQ_OK;
            }
        }
    }
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r, "expected %s, got %s", what, got);
}

static eq_status a_padding(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    static const char *const names[] = {"VALID", "SAME"};
    int i;
    eq_status st = choice(c, v, names, 2, -1, "\"SAME\" or \"VALID\"", &i);
    if (st == EQ_OK)
        l->padding = i == 1 ? EQ_PAD_SAME : EQ_PAD_VALID;
    return st;
}

eq_status eq_model_get_activation(mp_ctx *c, const mp_val *v, eq_activation *out)
{
    static const char *const names[] = {"none", "relu", "relu6", "sigmoid", "tanh"};
    static const eq_activation acts[] = {EQ_ACT_NONE, EQ_ACT_RELU, EQ_ACT_RELU6,
                                         EQ_ACT_SIGMOID, EQ_ACT_TANH};
    int i;
    eq_status st = choice(c, v, names, 5, 0,
                          "an activation (\"relu\", \"relu6\", \"sigmoid\", \"tanh\", "
                          "\"none\" or null)",
                          &i);
    if (st == EQ_OK)
        *out = acts[i];
    return st;
}

static eq_status a_activation(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_activation(c, v, &l->activation);
}

static eq_status a_normalizer(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    static const char *const names[] = {"none", "batch_norm"};
    int i;
    eq_status st = choice(c, v, names, 2, 0, "\"batch_norm\" or null", &i);
    if (st == EQ_OK)
        l->has_normalizer = i;
    return st;
}

static const char *const bn_keys[] = {"center", "scale", "epsilon", "decay", NULL};

static eq_status bn_arg(mp_ctx *c, eq_ast_batch_norm *bn, const char *key, const mp_val *v)
{
    if (strcmp(key, "center") == 0)
        return eq_model_get_bool(c, v, &bn->center);
    if (strcmp(key, "scale") == 0)
        return eq_model_get_bool(c, v, &bn->scale);
    if (strcmp(key, "epsilon") == 0)
        return eq_model_get_number(c, v, 0, 1e10, 1, "a number > 0", &bn->epsilon);
    return eq_model_get_number(c, v, 0, 1, 0, "a number in [0, 1]", &bn->decay);
}

static eq_status a_normalizer_args(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    mp_val o;
    eq_status st = eq_model_get_object(c, v, "an object of batch_norm arguments", &o);
    if (st != EQ_OK)
        return st;
    if ((st = eq_model_check_keys(c, &o, bn_keys, "normalizer_args")) != EQ_OK)
        return st;
    for (const char *const *k = bn_keys; *k; k++) {
        mp_path slot;
        mp_val a = eq_model_member(&o, *k, &slot);
        if (a.j && (st = bn_arg(c, &l->bn, *k, &a)) != EQ_OK)
            return st;
    }
    return EQ_OK;
}

static eq_status a_use_bias(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_bool(c, v, &l->use_bias);
}

static eq_status a_weights_init(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return parse_init(c, v, &l->weights_init);
}

static eq_status a_biases_init(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return parse_init(c, v, &l->biases_init);
}

static eq_status regularizer(mp_ctx *c, const mp_val *v, double *out)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (r.j && json_is_null(r.j)) {
        *out = 0;
        return EQ_OK;
    }
    if (!r.j || !json_is_object(r.j)) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r, "expected a regularizer ({\"l2\": scale} or null), got %s",
                                 got);
    }
    static const char *const keys[] = {"l2", NULL};
    if ((st = eq_model_check_keys(c, &r, keys, "a regularizer")) != EQ_OK)
        return st;
    mp_path slot;
    mp_val s = eq_model_member(&r, "l2", &slot);
    if (!s.j)
        return eq_model_fail(c, EQ_ERR_INVALID, r.path,
                             "a regularizer needs \"l2\": scale (slim's l2_regularizer)");
    return eq_model_get_number(c, &s, 0, 1e10, 0, "a number >= 0", out);
}

static eq_status a_weights_reg(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return regularizer(c, v, &l->weights_l2);
}

static eq_status a_biases_reg(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return regularizer(c, v, &l->biases_l2);
}

static eq_status a_regularizer(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return regularizer(c, v, &l->l2);
}

static eq_status a_trainable(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_bool(c, v, &l->trainable);
}

static eq_status a_center(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return bn_arg(c, &l->bn, "center", v);
}

static eq_status a_scale(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return bn_arg(c, &l->bn, "scale", v);
}

static eq_status a_epsilon(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return bn_arg(c, &l->bn, "epsilon", v);
}

static eq_status a_decay(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return bn_arg(c, &l->bn, "decay", v);
}

static eq_status a_keep_prob(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_number(c, v, 0, 1, 1, "a probability in (0, 1]", &l->keep_prob);
}

/* A shape: [d0, d1, ...] (an integer n means [n]). reshape allows one -1. */
static eq_status get_shape(mp_ctx *c, const mp_val *v, int allow_infer, int *rank,
                           int64_t shape[EQ_MAX_RANK])
{
    const char *what = allow_infer ? "a shape (an array of integers >= 0, one may be -1)"
                                   : "a shape (an array of integers >= 0)";
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    int64_t lo = allow_infer ? -1 : 0;
    if (r.j && json_is_integer(r.j)) {
        *rank = 1;
        return eq_model_get_int(c, &r, lo, MAX_DIM, "an integer >= 0", &shape[0]);
    }
    if (!r.j || !json_is_array(r.j) || json_array_size(r.j) > EQ_MAX_RANK) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r, "expected %s of at most %d dimensions, got %s", what,
                                 EQ_MAX_RANK, got);
    }
    int n = (int)json_array_size(r.j), inferred = 0;
    for (int i = 0; i < n; i++) {
        mp_path slot;
        mp_val e = eq_model_element(&r, (size_t)i, &slot);
        st = eq_model_get_int(c, &e, lo, MAX_DIM,
                              allow_infer ? "an integer >= -1" : "an integer >= 0", &shape[i]);
        if (st != EQ_OK)
            return st;
        if (shape[i] == -1 && inferred++) {
            mp_val re;
            eq_model_resolve(c, &e, &re);
            return eq_model_fail_val(c, &re, "only one dimension of a shape may be -1");
        }
    }
    /* Multiply with a guard: eq_shape_numel would overflow on hostile dims. */
    int64_t numel = 1;
    for (int i = 0; i < n; i++) {
        if (shape[i] <= 0)
            continue;
        if (numel > MAX_DIM / shape[i])
            return eq_model_fail_val(c, &r, "the shape has too many elements (at most %lld)",
                                     (long long)MAX_DIM);
        numel *= shape[i];
    }
    *rank = n;
    return EQ_OK;
}

static eq_status a_shape(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return get_shape(c, v, l->type == EQ_LAYER_RESHAPE, &l->shape_rank, l->shape);
}

static eq_status a_inputs(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    int binary = l->type != EQ_LAYER_CONCAT;
    const char *what = binary ? "an array of 1 or 2 tensor names"
                              : "an array of 1 to 64 tensor names";
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    size_t n = r.j && json_is_array(r.j) ? json_array_size(r.j) : 0;
    if (n < 1 || n > (binary ? 2u : 64u)) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r, "expected %s, got %s", what, got);
    }
    const char **names = eq_arena_alloc(c->a, n * sizeof *names);
    if (!names)
        return eq_model_nomem(c, r.path);
    for (size_t i = 0; i < n; i++) {
        mp_path slot;
        mp_val e = eq_model_element(&r, i, &slot);
        if ((st = eq_model_get_tensor_name(c, &e, &names[i])) != EQ_OK)
            return st;
    }
    l->inputs = names;
    l->n_inputs = (int)n;
    return EQ_OK;
}

static eq_status a_axis(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    int64_t x;
    eq_status st = eq_model_get_int(c, v, -EQ_MAX_RANK, EQ_MAX_RANK - 1,
                                    "an axis from -6 to 5", &x);
    if (st == EQ_OK)
        l->axis = (int)x;
    return st;
}

static eq_status a_value(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    l->has_value = 1;
    return eq_model_get_number(c, v, -DBL_MAX, DBL_MAX, 0, "a number", &l->value);
}

static eq_status a_minval(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_number(c, v, -DBL_MAX, DBL_MAX, 0, "a number", &l->minval);
}

static eq_status a_maxval(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_number(c, v, -DBL_MAX, DBL_MAX, 0, "a number", &l->maxval);
}

static eq_status a_axes(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    size_t n = r.j && json_is_array(r.j) ? json_array_size(r.j) : 0;
    if (n < 1 || n > EQ_MAX_RANK) {
        char got[96];
        eq_model_describe(r.j, got, sizeof got);
        return eq_model_fail_val(c, &r, "expected an array of axes from 0 to 5, got %s", got);
    }
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        mp_path slot;
        mp_val e = eq_model_element(&r, i, &slot);
        int64_t x;
        if ((st = eq_model_get_int(c, &e, 0, EQ_MAX_RANK - 1, "an axis from 0 to 5", &x)) != EQ_OK)
            return st;
        if (mask & (1u << x)) {
            mp_val re;
            eq_model_resolve(c, &e, &re);
            return eq_model_fail_val(c, &re, "axis %d is listed twice", (int)x);
        }
        mask |= 1u << x;
    }
    l->axes_mask = mask;
    return EQ_OK;
}

static eq_status a_keepdims(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_bool(c, v, &l->keepdims);
}

static eq_status a_data(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return parse_tensor(c, v, &l->constant);
}

static eq_status a_initializer(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return parse_init(c, v, &l->init);
}

static eq_status a_values(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    init_defaults(&l->init, "values");
    return parse_tensor(c, v, &l->init.values);
}

static eq_status a_cache(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    return eq_model_get_bool(c, v, &l->cache);
}

static eq_status a_reuse(mp_ctx *c, eq_layer *l, const mp_val *v)
{
    mp_val r;
    eq_status st = eq_model_resolve(c, v, &r);
    if (st != EQ_OK)
        return st;
    if (r.j && json_is_null(r.j)) {
        l->reuse = -1;
        return EQ_OK;
    }
    if (r.j && json_is_boolean(r.j)) {
        l->reuse = json_is_true(r.j);
        return EQ_OK;
    }
    char got[96];
    eq_model_describe(r.j, got, sizeof got);
    return eq_model_fail_val(c, &r, "expected true, false or null (inherit), got %s", got);
}

/* ---- the argument table ----------------------------------------------------- */

typedef enum arg_id {
    A_NAME, A_FILTERS, A_NUM_OUTPUTS, A_UNITS, A_KERNEL, A_STRIDE, A_PADDING, A_RATE,
    A_ACTIVATION, A_NORMALIZER, A_NORMALIZER_ARGS, A_USE_BIAS, A_WEIGHTS_INIT,
    A_BIASES_INIT, A_KERNEL_INIT, A_BIAS_INIT, A_WEIGHTS_REG, A_BIASES_REG, A_KERNEL_REG,
    A_BIAS_REG, A_TRAINABLE, A_CENTER, A_SCALE, A_EPSILON, A_DECAY, A_KEEP_PROB, A_SHAPE,
    A_INPUTS, A_AXIS, A_VALUE, A_AXES, A_KEEPDIMS, A_DATA, A_INITIALIZER, A_VALUES,
    A_CACHE, A_REGULARIZER, A_REUSE, A_MINVAL, A_MAXVAL, A_COUNT, A_END = -1
} arg_id;

static const struct {
    const char *key;
    arg_fn fn;
    int defaultable; /* may come from a "defaults" statement */
} args_table[A_COUNT] = {
    [A_NAME] = {"name", a_name, 0},
    [A_FILTERS] = {"filters", a_filters, 1},
    [A_NUM_OUTPUTS] = {"num_outputs", a_filters, 1},
    [A_UNITS] = {"units", a_filters, 1},
    [A_KERNEL] = {"kernel", a_kernel, 1},
    [A_STRIDE] = {"stride", a_stride, 1},
    [A_PADDING] = {"padding", a_padding, 1},
    [A_RATE] = {"rate", a_rate, 1},
    [A_ACTIVATION] = {"activation", a_activation, 1},
    [A_NORMALIZER] = {"normalizer", a_normalizer, 1},
    [A_NORMALIZER_ARGS] = {"normalizer_args", a_normalizer_args, 1},
    [A_USE_BIAS] = {"use_bias", a_use_bias, 1},
    [A_WEIGHTS_INIT] = {"weights_initializer", a_weights_init, 1},
    [A_BIASES_INIT] = {"biases_initializer", a_biases_init, 1},
    [A_KERNEL_INIT] = {"kernel_initializer", a_weights_init, 1},
    [A_BIAS_INIT] = {"bias_initializer", a_biases_init, 1},
    [A_WEIGHTS_REG] = {"weights_regularizer", a_weights_reg, 1},
    [A_BIASES_REG] = {"biases_regularizer", a_biases_reg, 1},
    [A_KERNEL_REG] = {"kernel_regularizer", a_weights_reg, 1},
    [A_BIAS_REG] = {"bias_regularizer", a_biases_reg, 1},
    [A_TRAINABLE] = {"trainable", a_trainable, 1},
    [A_CENTER] = {"center", a_center, 1},
    [A_SCALE] = {"scale", a_scale, 1},
    [A_EPSILON] = {"epsilon", a_epsilon, 1},
    [A_DECAY] = {"decay", a_decay, 1},
    [A_KEEP_PROB] = {"keep_prob", a_keep_prob, 1},
    [A_SHAPE] = {"shape", a_shape, 0},
    [A_INPUTS] = {"inputs", a_inputs, 0},
    [A_AXIS] = {"axis", a_axis, 1},
    [A_VALUE] = {"value", a_value, 0},
    [A_AXES] = {"axes", a_axes, 1},
    [A_KEEPDIMS] = {"keepdims", a_keepdims, 1},
    [A_DATA] = {"data", a_data, 0},
    [A_INITIALIZER] = {"initializer", a_initializer, 1},
    [A_VALUES] = {"values", a_values, 0},
    [A_CACHE] = {"cache", a_cache, 1},
    [A_REGULARIZER] = {"regularizer", a_regularizer, 1},
    [A_REUSE] = {"reuse", a_reuse, 1},
    [A_MINVAL] = {"minval", a_minval, 0},
    [A_MAXVAL] = {"maxval", a_maxval, 0},
};

/* Keys per type, in the order they are read (and dumped). */
static const arg_id k_conv2d[] = {
    A_NAME, A_FILTERS, A_KERNEL, A_STRIDE, A_PADDING, A_RATE, A_ACTIVATION, A_NORMALIZER,
    A_NORMALIZER_ARGS, A_USE_BIAS, A_WEIGHTS_INIT, A_BIASES_INIT, A_WEIGHTS_REG,
    A_BIASES_REG, A_TRAINABLE, A_END};
static const arg_id k_fc[] = {
    A_NAME, A_NUM_OUTPUTS, A_ACTIVATION, A_NORMALIZER, A_NORMALIZER_ARGS, A_USE_BIAS,
    A_WEIGHTS_INIT, A_BIASES_INIT, A_WEIGHTS_REG, A_BIASES_REG, A_TRAINABLE, A_END};
static const arg_id k_dense[] = {
    A_NAME, A_UNITS, A_ACTIVATION, A_USE_BIAS, A_KERNEL_INIT, A_BIAS_INIT, A_KERNEL_REG,
    A_BIAS_REG, A_TRAINABLE, A_END};
static const arg_id k_bn[] = {A_NAME, A_CENTER, A_SCALE, A_EPSILON, A_DECAY, A_ACTIVATION,
                              A_TRAINABLE, A_END};
static const arg_id k_pool[] = {A_NAME, A_KERNEL, A_STRIDE, A_PADDING, A_END};
static const arg_id k_dropout[] = {A_NAME, A_KEEP_PROB, A_END};
static const arg_id k_name[] = {A_NAME, A_END};
static const arg_id k_reshape[] = {A_NAME, A_SHAPE, A_END};
static const arg_id k_concat[] = {A_NAME, A_INPUTS, A_AXIS, A_END};
static const arg_id k_binary[] = {A_NAME, A_INPUTS, A_VALUE, A_END};
static const arg_id k_mean[] = {A_NAME, A_AXES, A_KEEPDIMS, A_END};
static const arg_id k_constant[] = {A_NAME, A_SHAPE, A_DATA, A_END};
static const arg_id k_variable[] = {A_NAME, A_SHAPE, A_INITIALIZER, A_VALUES, A_TRAINABLE,
                                    A_CACHE, A_END};
static const arg_id k_random_uniform[] = {A_NAME, A_SHAPE, A_MINVAL, A_MAXVAL, A_END};
static const arg_id k_get_variable[] = {A_NAME, A_SHAPE, A_INITIALIZER, A_REGULARIZER,
                                        A_TRAINABLE, A_REUSE, A_END};

static const arg_id *type_keys(eq_layer_type t)
{
    switch (t) {
    case EQ_LAYER_CONV2D: return k_conv2d;
    case EQ_LAYER_FULLY_CONNECTED: return k_fc;
    case EQ_LAYER_DENSE: return k_dense;
    case EQ_LAYER_BATCH_NORM: return k_bn;
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D: return k_pool;
    case EQ_LAYER_DROPOUT: return k_dropout;
    case EQ_LAYER_RESHAPE: return k_reshape;
    case EQ_LAYER_CONCAT: return k_concat;
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL: return k_binary;
    case EQ_LAYER_MEAN: return k_mean;
    case EQ_LAYER_CONSTANT: return k_constant;
    case EQ_LAYER_VARIABLE: return k_variable;
    case EQ_LAYER_GET_VARIABLE: return k_get_variable;
    case EQ_LAYER_RANDOM_UNIFORM: return k_random_uniform;
    default: return k_name;
    }
}

/* The allowed key names of t (only the defaultable ones when `defaults`),
 * NULL-terminated, in `buf`. */
static void key_names(eq_layer_type t, int defaults, const char **buf)
{
    int n = 0;
    for (const arg_id *k = type_keys(t); *k != A_END; k++)
        if (!defaults || args_table[*k].defaultable)
            buf[n++] = args_table[*k].key;
    buf[n] = NULL;
}

/* slim's and TF's defaults for a fresh layer of type t. */
static void layer_defaults(eq_layer *l, eq_layer_type t)
{
    memset(l, 0, sizeof *l);
    l->type = t;
    l->default_scope = default_scopes[t];
    l->stride[0] = l->stride[1] = 1;
    l->rate[0] = l->rate[1] = 1;
    l->padding = EQ_PAD_SAME;
    l->use_bias = 1;
    l->trainable = 1;
    l->bn = (eq_ast_batch_norm){1, 0, 0.001, 0.999};
    l->keep_prob = 0.5;
    l->axis = -1;
    l->reuse = -1;
    l->minval = 0.0;
    l->maxval = 1.0;
    switch (t) {
    case EQ_LAYER_CONV2D:
    case EQ_LAYER_FULLY_CONNECTED:
        l->activation = EQ_ACT_RELU; /* slim's activation_fn=nn.relu */
        init_defaults(&l->weights_init, "xavier_uniform");
        init_defaults(&l->biases_init, "zeros");
        break;
    case EQ_LAYER_DENSE:
        init_defaults(&l->weights_init, "glorot_uniform");
        init_defaults(&l->biases_init, "zeros");
        break;
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D:
        l->stride[0] = l->stride[1] = 2; /* slim's pooling defaults */
        l->padding = EQ_PAD_VALID;
        break;
    case EQ_LAYER_GET_VARIABLE:
        init_defaults(&l->init, "glorot_uniform"); /* get_variable's fallback */
        break;
    default:
        break;
    }
}

/* The value of `key` for a layer of type t: written in args, else from the
 * innermost defaults frame that sets it. */
static mp_val lookup(const mp_val *args, const mp_defaults *d, eq_layer_type t,
                     const char *key, int defaultable, mp_path *slot)
{
    mp_val v = eq_model_member(args, key, slot);
    if (v.j || !defaultable)
        return v;
    for (const mp_defaults *f = d; f; f = f->up) {
        if (f->by_type[t].j && json_object_get(f->by_type[t].j, key))
            return eq_model_member(&f->by_type[t], key, slot);
    }
    return v;
}

static eq_status missing(mp_ctx *c, const mp_val *args, eq_layer_type t, const char *key,
                         const char *rule)
{
    return eq_model_fail(c, EQ_ERR_INVALID, args->path, "%s needs \"%s\"%s",
                         eq_layer_type_name(t), key, rule ? rule : "");
}

/* The shape of a variable comes from "shape" or from inline values; they
 * must agree (a flat list of the right size is reshaped). */
static eq_status check_values_shape(mp_ctx *c, eq_layer *l, int has_shape, const mp_val *at,
                                    const eq_tensor **values, int allow_scalar)
{
    const eq_tensor *v = *values;
    if (!has_shape) {
        l->shape_rank = v->rank;
        memcpy(l->shape, v->shape, sizeof l->shape);
        return EQ_OK;
    }
    if (eq_shape_equal(v->rank, v->shape, l->shape_rank, l->shape))
        return EQ_OK;
    int64_t want = eq_shape_numel(l->shape_rank, l->shape); /* <= 2^40: get_shape */
    if (allow_scalar && v->rank == 0 && want > MAX_FILL)
        return eq_model_fail_val(c, at,
                                 "a constant filled from one number may have at most %lld "
                                 "elements, \"shape\" asks for %lld",
                                 (long long)MAX_FILL, (long long)want);
    if ((v->rank == 1 && v->shape[0] == want) || (allow_scalar && v->rank == 0)) {
        eq_tensor *t = eq_tensor_new(c->a, EQ_F32, l->shape_rank, l->shape, c->err);
        if (!t)
            return eq_model_nomem(c, at->path);
        float *dst = eq_tensor_f32(t);
        const float *src = eq_tensor_f32(v);
        for (int64_t i = 0; i < want; i++)
            dst[i] = v->rank == 0 ? src[0] : src[i];
        *values = t;
        return EQ_OK;
    }
    char a[96], b[96];
    eq_shape_str(v->rank, v->shape, a, sizeof a);
    eq_shape_str(l->shape_rank, l->shape, b, sizeof b);
    return eq_model_fail_val(c, at, "the values have shape %s but \"shape\" is %s", a, b);
}

eq_status eq_model_layer_parse(mp_ctx *c, eq_layer_type t, const mp_val *args_in,
                               const mp_defaults *d, eq_layer *out)
{
    char what[64];
    snprintf(what, sizeof what, "the arguments of %s", eq_layer_type_name(t));
    mp_val args;
    eq_status st = eq_model_get_object(c, args_in, "an object of layer arguments ({} for none)",
                                       &args);
    if (st != EQ_OK)
        return st;
    const char *allowed[A_COUNT + 1];
    key_names(t, 0, allowed);
    if ((st = eq_model_check_keys(c, &args, allowed, what)) != EQ_OK)
        return st;

    eq_layer *l = out;
    layer_defaults(l, t);
    /* Which keys were given (in args or by defaults), and where. */
    mp_path slots[A_COUNT];
    mp_val given[A_COUNT];
    memset(given, 0, sizeof given);
    for (const arg_id *k = type_keys(t); *k != A_END; k++) {
        mp_val v = lookup(&args, d, t, args_table[*k].key, args_table[*k].defaultable,
                          &slots[*k]);
        if (!v.j)
            continue;
        given[*k] = v;
        if ((st = args_table[*k].fn(c, l, &v)) != EQ_OK)
            return st;
    }

    /* A normalizer's arguments: normalizer_args, then the batch_norm
     * defaults in effect, then slim's; slim's normalizer_fn goes through
     * arg_scope like any call to batch_norm. */
    if (l->has_normalizer) {
        l->bn = (eq_ast_batch_norm){1, 0, 0.001, 0.999};
        mp_val na = given[A_NORMALIZER_ARGS];
        for (const char *const *k = bn_keys; *k; k++) {
            mp_path slot;
            mp_val v = {NULL, NULL, NULL, NULL, NULL};
            if (na.j) {
                mp_val o;
                eq_model_resolve(c, &na, &o);
                v = eq_model_member(&o, *k, &slot);
            }
            if (!v.j) {
                mp_val none = {NULL, NULL, args.path, NULL, NULL};
                v = lookup(&none, d, EQ_LAYER_BATCH_NORM, *k, 1, &slot);
            }
            if (v.j && (st = bn_arg(c, &l->bn, *k, &v)) != EQ_OK)
                return st;
        }
    }

    switch (t) {
    case EQ_LAYER_CONV2D:
        if (!given[A_FILTERS].j)
            return missing(c, &args, t, "filters", " (the number of output channels)");
        if (!given[A_KERNEL].j)
            return missing(c, &args, t, "kernel", " (an integer, [h, w] or \"input\")");
        /* fall through */
    case EQ_LAYER_FULLY_CONNECTED:
        if (t == EQ_LAYER_FULLY_CONNECTED && !given[A_NUM_OUTPUTS].j)
            return missing(c, &args, t, "num_outputs", NULL);
        if (!given[A_USE_BIAS].j)
            l->use_bias = !l->has_normalizer;
        else if (l->use_bias && l->has_normalizer) {
            mp_val r;
            eq_model_resolve(c, &given[A_USE_BIAS], &r);
            return eq_model_fail_val(c, &r,
                                     "use_bias cannot be true when a normalizer is set "
                                     "(slim creates no biases then)");
        }
        break;
    case EQ_LAYER_DENSE:
        if (!given[A_UNITS].j)
            return missing(c, &args, t, "units", NULL);
        break;
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D:
        if (!given[A_KERNEL].j)
            return missing(c, &args, t, "kernel", " (an integer, [h, w] or \"input\")");
        break;
    case EQ_LAYER_RESHAPE:
        if (!given[A_SHAPE].j)
            return missing(c, &args, t, "shape", NULL);
        break;
    case EQ_LAYER_CONCAT:
        if (!given[A_INPUTS].j)
            return missing(c, &args, t, "inputs", " (the tensors to join, in order)");
        break;
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        if (given[A_INPUTS].j && given[A_VALUE].j)
            return eq_model_fail(c, EQ_ERR_INVALID, args.path,
                                 "%s takes \"inputs\" or \"value\", not both",
                                 eq_layer_type_name(t));
        if (!given[A_INPUTS].j && !given[A_VALUE].j)
            return eq_model_fail(c, EQ_ERR_INVALID, args.path,
                                 "%s needs \"inputs\" ([a, b], or [a] with the current "
                                 "tensor) or \"value\" (a number)",
                                 eq_layer_type_name(t));
        break;
    case EQ_LAYER_MEAN:
        if (!given[A_AXES].j)
            return missing(c, &args, t, "axes", NULL);
        break;
    case EQ_LAYER_RANDOM_UNIFORM:
        if (!given[A_SHAPE].j)
            return missing(c, &args, t, "shape", NULL);
        if (!(l->minval < l->maxval))
            return eq_model_fail(c, EQ_ERR_INVALID, args.path,
                                 "random_uniform needs minval < maxval, got [%g, %g)",
                                 l->minval, l->maxval);
        break;
    case EQ_LAYER_CONSTANT:
        if (!given[A_DATA].j)
            return missing(c, &args, t, "data", NULL);
        if ((st = check_values_shape(c, l, given[A_SHAPE].j != NULL, &given[A_DATA],
                                     &l->constant, 1)) != EQ_OK)
            return st;
        break;
    case EQ_LAYER_VARIABLE:
        if (given[A_INITIALIZER].j && given[A_VALUES].j)
            return eq_model_fail(c, EQ_ERR_INVALID, args.path,
                                 "variable takes \"initializer\" or \"values\", not both");
        if (!given[A_INITIALIZER].j && !given[A_VALUES].j)
            return missing(c, &args, t, "values",
                           " or \"initializer\" (tf.Variable needs an initial value)");
        /* fall through */
    case EQ_LAYER_GET_VARIABLE:
        if (t == EQ_LAYER_GET_VARIABLE && !given[A_NAME].j)
            return missing(c, &args, t, "name", " (get_variable looks variables up by name)");
        if (l->init.values) {
            mp_val at = given[A_VALUES].j ? given[A_VALUES] : given[A_INITIALIZER];
            mp_val r;
            eq_model_resolve(c, &at, &r);
            if ((st = check_values_shape(c, l, given[A_SHAPE].j != NULL, &r, &l->init.values,
                                         0)) != EQ_OK)
                return st;
        } else if (!given[A_SHAPE].j) {
            return missing(c, &args, t, "shape", " (unless the initial value is inline data)");
        }
        break;
    default:
        break;
    }
    return EQ_OK;
}

eq_status eq_model_defaults_check(mp_ctx *c, eq_layer_type t, const mp_val *args_in)
{
    char what[96];
    snprintf(what, sizeof what, "the defaults for %s", eq_layer_type_name(t));
    mp_val args;
    eq_status st = eq_model_get_object(c, args_in, "an object of default arguments", &args);
    if (st != EQ_OK)
        return st;
    const char *allowed[A_COUNT + 1];
    key_names(t, 1, allowed);
    if ((st = eq_model_check_keys(c, &args, allowed, what)) != EQ_OK)
        return st;
    eq_layer scratch;
    layer_defaults(&scratch, t);
    for (const arg_id *k = type_keys(t); *k != A_END; k++) {
        mp_path slot;
        mp_val v = eq_model_member(&args, args_table[*k].key, &slot);
        if (v.j && (st = args_table[*k].fn(c, &scratch, &v)) != EQ_OK)
            return st;
    }
    return EQ_OK;
}
