/* eq_model_dump.c - the resolved AST as JSON.
 *
 * The dump is itself a model in the model language: every parameter,
 * default, block call and repeat is already applied, every layer argument
 * is written out, and each statement carries its source path in "doc". So
 * parsing a dump and dumping again gives the same JSON (tests rely on it),
 * and a person can read exactly what the interpreter will run. */
#include "eq_model.h"

#include <string.h>

typedef struct dumper {
    int failed; /* an allocation failed somewhere */
} dumper;

static json_t *chk(dumper *d, json_t *j)
{
    if (!j)
        d->failed = 1;
    return j;
}

/* jansson's *_new calls take the reference even when they fail. */
static void set(dumper *d, json_t *o, const char *key, json_t *v)
{
    if (!o || !v) {
        d->failed = 1;
        json_decref(v);
    } else if (json_object_set_new(o, key, v) != 0) {
        d->failed = 1;
    }
}

static void push(dumper *d, json_t *a, json_t *v)
{
    if (!a || !v) {
        d->failed = 1;
        json_decref(v);
    } else if (json_array_append_new(a, v) != 0) {
        d->failed = 1;
    }
}

static json_t *str(dumper *d, const char *s) { return chk(d, json_string(s)); }
static json_t *num(dumper *d, double x) { return chk(d, json_real(x)); }
static json_t *integer(dumper *d, long long x) { return chk(d, json_integer(x)); }
static json_t *boolean(dumper *d, int x) { return chk(d, json_boolean(x)); }
static json_t *null(dumper *d) { return chk(d, json_null()); }

static json_t *pair(dumper *d, const int v[2])
{
    json_t *a = chk(d, json_array());
    push(d, a, integer(d, v[0]));
    push(d, a, integer(d, v[1]));
    return a;
}

static json_t *shape(dumper *d, int rank, const int64_t *s)
{
    json_t *a = chk(d, json_array());
    for (int i = 0; i < rank; i++)
        push(d, a, integer(d, (long long)s[i]));
    return a;
}

static json_t *tensor_rec(dumper *d, const eq_tensor *t, int dim, int64_t *pos)
{
    if (dim == t->rank)
        return num(d, eq_tensor_get(t, (*pos)++));
    json_t *a = chk(d, json_array());
    for (int64_t i = 0; i < t->shape[dim]; i++)
        push(d, a, tensor_rec(d, t, dim + 1, pos));
    return a;
}

static json_t *tensor(dumper *d, const eq_tensor *t)
{
    int64_t pos = 0;
    return tensor_rec(d, t, 0, &pos);
}

static json_t *act(dumper *d, eq_activation a)
{
    return a == EQ_ACT_NONE ? null(d) : str(d, eq_activation_name(a));
}

static json_t *init(dumper *d, const eq_ast_init *in)
{
    json_t *o = chk(d, json_object());
    if (!in->kind)
        return o;
    if (strcmp(in->kind, "values") == 0) {
        set(d, o, "values", in->values ? tensor(d, in->values) : null(d));
        return o;
    }
    set(d, o, "kind", str(d, in->kind));
    const char *k = in->kind;
    if (strcmp(k, "constant") == 0) {
        set(d, o, "value", num(d, in->value));
    } else if (strcmp(k, "random_uniform") == 0) {
        set(d, o, "minval", num(d, in->minval));
        set(d, o, "maxval", num(d, in->maxval));
    } else if (strcmp(k, "random_normal") == 0 || strcmp(k, "truncated_normal") == 0) {
        set(d, o, "mean", num(d, in->mean));
        set(d, o, "stddev", num(d, in->stddev));
    } else if (strcmp(k, "variance_scaling") == 0) {
        set(d, o, "scale", num(d, in->scale));
        set(d, o, "mode", str(d, in->mode));
        set(d, o, "distribution", str(d, in->distribution));
    } else if (strcmp(k, "slim_variance_scaling") == 0) {
        set(d, o, "factor", num(d, in->scale));
        set(d, o, "mode", str(d, in->mode));
        set(d, o, "uniform", boolean(d, strcmp(in->distribution, "uniform") == 0));
    }
    return o;
}

static json_t *reg(dumper *d, double l2)
{
    if (l2 == 0)
        return null(d);
    json_t *o = chk(d, json_object());
    set(d, o, "l2", num(d, l2));
    return o;
}

static json_t *bn_args(dumper *d, const eq_ast_batch_norm *bn, json_t *o)
{
    set(d, o, "center", boolean(d, bn->center));
    set(d, o, "scale", boolean(d, bn->scale));
    set(d, o, "epsilon", num(d, bn->epsilon));
    set(d, o, "decay", num(d, bn->decay));
    return o;
}

static json_t *names(dumper *d, const char *const *v, int n)
{
    json_t *a = chk(d, json_array());
    for (int i = 0; i < n; i++)
        push(d, a, str(d, v[i]));
    return a;
}

static json_t *layer(dumper *d, const eq_layer *l)
{
    json_t *o = chk(d, json_object());
    if (l->name)
        set(d, o, "name", str(d, l->name));
    switch (l->type) {
    case EQ_LAYER_CONV2D:
    case EQ_LAYER_FULLY_CONNECTED:
    case EQ_LAYER_DENSE: {
        int conv = l->type == EQ_LAYER_CONV2D, dense = l->type == EQ_LAYER_DENSE;
        set(d, o, conv ? "filters" : dense ? "units" : "num_outputs",
            integer(d, (long long)l->filters));
        if (conv) {
            set(d, o, "kernel", l->kernel_from_input ? str(d, "input") : pair(d, l->kernel));
            set(d, o, "stride", pair(d, l->stride));
            set(d, o, "padding", str(d, eq_padding_name(l->padding)));
            set(d, o, "rate", pair(d, l->rate));
        }
        set(d, o, "activation", act(d, l->activation));
        if (!dense) {
            set(d, o, "normalizer", l->has_normalizer ? str(d, "batch_norm") : null(d));
            if (l->has_normalizer)
                set(d, o, "normalizer_args", bn_args(d, &l->bn, chk(d, json_object())));
        }
        set(d, o, "use_bias", boolean(d, l->use_bias));
        set(d, o, dense ? "kernel_initializer" : "weights_initializer", init(d, &l->weights_init));
        set(d, o, dense ? "bias_initializer" : "biases_initializer", init(d, &l->biases_init));
        set(d, o, dense ? "kernel_regularizer" : "weights_regularizer", reg(d, l->weights_l2));
        set(d, o, dense ? "bias_regularizer" : "biases_regularizer", reg(d, l->biases_l2));
        set(d, o, "trainable", boolean(d, l->trainable));
        break;
    }
    case EQ_LAYER_BATCH_NORM:
        bn_args(d, &l->bn, o);
        set(d, o, "activation", act(d, l->activation));
        set(d, o, "trainable", boolean(d, l->trainable));
        break;
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D:
        set(d, o, "kernel", l->kernel_from_input ? str(d, "input") : pair(d, l->kernel));
        set(d, o, "stride", pair(d, l->stride));
        set(d, o, "padding", str(d, eq_padding_name(l->padding)));
        break;
    case EQ_LAYER_DROPOUT:
        set(d, o, "keep_prob", num(d, l->keep_prob));
        break;
    case EQ_LAYER_RESHAPE:
        set(d, o, "shape", shape(d, l->shape_rank, l->shape));
        break;
    case EQ_LAYER_CONCAT:
        set(d, o, "inputs", names(d, l->inputs, l->n_inputs));
        set(d, o, "axis", integer(d, l->axis));
        break;
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        if (l->n_inputs)
            set(d, o, "inputs", names(d, l->inputs, l->n_inputs));
        else
            set(d, o, "value", num(d, l->value));
        break;
    case EQ_LAYER_MEAN: {
        json_t *axes = chk(d, json_array());
        for (int i = 0; i < EQ_MAX_RANK; i++)
            if (l->axes_mask & (1u << i))
                push(d, axes, integer(d, i));
        set(d, o, "axes", axes);
        set(d, o, "keepdims", boolean(d, l->keepdims));
        break;
    }
    case EQ_LAYER_RANDOM_UNIFORM:
        set(d, o, "shape", shape(d, l->shape_rank, l->shape));
        set(d, o, "minval", num(d, l->minval));
        set(d, o, "maxval", num(d, l->maxval));
        break;
    case EQ_LAYER_CONSTANT:
        set(d, o, "shape", shape(d, l->shape_rank, l->shape));
        set(d, o, "data", l->constant ? tensor(d, l->constant) : null(d));
        break;
    case EQ_LAYER_VARIABLE:
    case EQ_LAYER_GET_VARIABLE:
        set(d, o, "shape", shape(d, l->shape_rank, l->shape));
        set(d, o, "initializer", init(d, &l->init));
        set(d, o, "trainable", boolean(d, l->trainable));
        if (l->type == EQ_LAYER_VARIABLE) {
            set(d, o, "cache", boolean(d, l->cache));
        } else {
            set(d, o, "regularizer", reg(d, l->l2));
            set(d, o, "reuse", l->reuse < 0 ? null(d) : boolean(d, l->reuse));
        }
        break;
    default:
        break;
    }
    return o;
}

static json_t *body(dumper *d, eq_node *const *nodes, int n);

static json_t *node(dumper *d, const eq_node *n)
{
    json_t *o = chk(d, json_object());
    set(d, o, "doc", str(d, n->path ? n->path : ""));
    switch (n->kind) {
    case EQ_NODE_LAYER:
        set(d, o, eq_layer_type_name(n->layer.type), layer(d, &n->layer));
        break;
    case EQ_NODE_SCOPE:
        if (n->scope_name) {
            set(d, o, "scope", str(d, n->scope_name));
        } else {
            json_t *s = chk(d, json_object());
            set(d, s, "default_name", str(d, n->default_name ? n->default_name : "Scope"));
            set(d, o, "scope", s);
        }
        set(d, o, "body", body(d, n->body, n->n_body));
        break;
    case EQ_NODE_BRANCHES: {
        json_t *bs = chk(d, json_array());
        for (int i = 0; i < n->n_branches; i++)
            push(d, bs, body(d, n->branches[i], n->n_branch_body[i]));
        set(d, o, "branches", bs);
        set(d, o, "axis", integer(d, n->axis));
        break;
    }
    case EQ_NODE_RESIDUAL: {
        json_t *r = chk(d, json_object());
        set(d, r, "scale", num(d, n->scale));
        set(d, r, "activation", act(d, n->activation));
        set(d, r, "body", body(d, n->body, n->n_body));
        set(d, o, "residual", r);
        break;
    }
    }
    if (n->input)
        set(d, o, "input", str(d, n->input));
    if (n->as)
        set(d, o, "as", str(d, n->as));
    if (n->endpoint)
        set(d, o, "endpoint", str(d, n->endpoint));
    return o;
}

static json_t *body(dumper *d, eq_node *const *nodes, int n)
{
    json_t *a = chk(d, json_array());
    for (int i = 0; i < n; i++)
        push(d, a, node(d, nodes[i]));
    return a;
}

json_t *eq_model_dump(const eq_model *m)
{
    if (!m)
        return NULL;
    dumper d = {0};
    json_t *o = chk(&d, json_object());
    set(&d, o, "name", str(&d, m->name ? m->name : "model"));
    if (m->description)
        set(&d, o, "description", str(&d, m->description));
    json_t *ps = chk(&d, json_object());
    for (int i = 0; i < m->n_params; i++) {
        json_t *p = chk(&d, json_object());
        set(&d, p, "default", chk(&d, json_deep_copy(m->params[i].value)));
        if (m->params[i].doc)
            set(&d, p, "doc", str(&d, m->params[i].doc));
        set(&d, ps, m->params[i].name, p);
    }
    set(&d, o, "params", ps);
    if (m->input_rank > 0) {
        json_t *in = chk(&d, json_object());
        json_t *s = chk(&d, json_array());
        for (int i = 0; i < m->input_rank; i++)
            push(&d, s, m->input_shape[i] < 0 ? null(&d)
                                              : integer(&d, (long long)m->input_shape[i]));
        set(&d, in, "shape", s);
        set(&d, o, "input", in);
    }
    set(&d, o, "body", body(&d, m->body, m->n_body));
    set(&d, o, "outputs", names(&d, m->outputs, m->n_outputs));
    if (d.failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}
