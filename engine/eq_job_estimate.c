/* eq_job_estimate.c - what a job will cost, from the AST alone.
 *
 * The server refuses a job over its parameter, memory or FLOP budget before
 * it runs, so this must be cheap: it walks the parsed model with shapes
 * only (no variables allocated, no kernels run), using the same padding
 * arithmetic as the kernels (eq_conv_out_dim).
 *
 * activation_bytes follows the interpreter's own release rules (see
 * release() and run_body() in eq_interp.c): every value the walk makes is
 * a row in a small table, counted while the eager backend would hold its
 * buffer, so the figure is the input plus the most op output bytes one
 * eager pass holds at once, the worse of inference and training (training
 * batch norm cannot write over its input). Graph mode's memory plan holds
 * about the same. A shape the walk cannot work out (a reshape it cannot
 * resolve) is reported as an error rather than guessed.
 */
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"
#include "eq_opdesc.h"
#include "eq_ops.h"

typedef struct shp {
    int rank;
    int64_t d[EQ_MAX_RANK];
} shp;

#define MAX_NAMES 4096

/* A value of the walk, as the eager backend would hold it. */
typedef struct val {
    shp s;
    int counted; /* an op output whose buffer is held (the backend's temp) */
    int pinned;  /* named or an end point: held to the end of the pass */
} val;

typedef struct est {
    shp input;
    const char *names[MAX_NAMES];
    int ids[MAX_NAMES]; /* value of each name */
    int n_names;
    val *vals;
    int n_vals, cap_vals;
    int training;
    int64_t params, flops;
    int64_t live, peak; /* op output bytes held now, and at most */
    eq_error *err;
} est;

static int64_t numel(const shp *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->d[i];
    return n;
}

static eq_status fail(est *e, const eq_node *node, const char *fmt, const char *what)
{
    return eq_error_set_path(e->err, EQ_ERR_SHAPE, node->path ? node->path : "", fmt, what);
}

/* The pool's size of a float32 tensor: rounded up to 64 bytes. */
static int64_t bytes_of(const shp *s) { return (numel(s) * 4 + 63) & ~(int64_t)63; }

/* A new value: an op output (counted: the backend holds a buffer for it
 * from now on) or a constant's or variable's (not the pass's memory).
 * Returns its id, -1 when out of memory (e->err set). */
static int value_new(est *e, const shp *shape, int counted)
{
    const shp s = *shape; /* shape may point into the table grown below */
    if (e->n_vals == e->cap_vals) {
        int cap = e->cap_vals ? 2 * e->cap_vals : 256;
        val *grown = eq_realloc(e->vals, (size_t)cap * sizeof *grown);
        if (!grown) {
            eq_error_set(e->err, EQ_ERR_NOMEM, "out of memory estimating the job");
            return -1;
        }
        e->vals = grown;
        e->cap_vals = cap;
    }
    e->vals[e->n_vals] = (val){.s = s, .counted = counted};
    if (counted) {
        e->live += bytes_of(&s);
        if (e->live > e->peak)
            e->peak = e->live;
    }
    return e->n_vals++;
}

/* The interpreter's release(): an unnamed op output's buffer goes back. */
static void value_release(est *e, int id)
{
    val *v = &e->vals[id];
    if (v->counted && !v->pinned) {
        e->live -= bytes_of(&v->s);
        v->counted = 0;
    }
}

/* The backend's op_consume: an element-wise op writes over its input when
 * that is a held op output; otherwise it makes a new value and the input
 * is released. Returns the result's id. */
static int value_consume(est *e, int id, int aliasable)
{
    if (aliasable && e->vals[id].counted)
        return id;
    int y = value_new(e, &e->vals[id].s, 1);
    if (y >= 0)
        value_release(e, id);
    return y;
}

static int lookup(const est *e, const char *name)
{
    if (strcmp(name, "input") == 0)
        return 0;
    for (int i = e->n_names - 1; i >= 0; i--)
        if (strcmp(e->names[i], name) == 0)
            return e->ids[i];
    return -1;
}

static int lookup_shape(const est *e, const char *name, shp *out)
{
    int id = lookup(e, name);
    if (id >= 0)
        *out = e->vals[id].s;
    return id >= 0;
}

static void save(est *e, const char *name, int id)
{
    e->vals[id].pinned = 1;
    if (e->n_names < MAX_NAMES) {
        e->names[e->n_names] = name;
        e->ids[e->n_names] = id;
        e->n_names++;
    }
}

static int64_t bn_params(const eq_ast_batch_norm *bn, int64_t c)
{
    return ((bn->center ? 1 : 0) + (bn->scale ? 1 : 0) + 2) * c;
}

static eq_status spatial(est *e, const eq_node *node, const shp *x, int kh, int kw, int sh,
                         int sw, int rh, int rw, eq_padding pad, shp *y)
{
    if (x->rank != 4)
        return fail(e, node, "%s needs a rank-4 NHWC input", eq_layer_type_name(node->layer.type));
    *y = *x;
    if (eq_conv_out_dim(x->d[1], kh, sh, rh, pad, &y->d[1], NULL, NULL, e->err) != EQ_OK ||
        eq_conv_out_dim(x->d[2], kw, sw, rw, pad, &y->d[2], NULL, NULL, e->err) != EQ_OK) {
        if (e->err)
            snprintf(e->err->path, sizeof e->err->path, "%s", node->path ? node->path : "");
        return EQ_ERR_SHAPE;
    }
    return EQ_OK;
}

static eq_status layer(est *e, const eq_node *node, const shp *x, shp *y)
{
    const eq_layer *L = &node->layer;
    *y = *x;
    switch (L->type) {
    case EQ_LAYER_CONV2D: {
        int kh = L->kernel_from_input ? (int)x->d[1] : L->kernel[0];
        int kw = L->kernel_from_input ? (int)x->d[2] : L->kernel[1];
        eq_status st = spatial(e, node, x, kh, kw, L->stride[0], L->stride[1], L->rate[0],
                               L->rate[1], L->padding, y);
        if (st != EQ_OK)
            return st;
        int64_t cin = x->d[3];
        y->d[3] = L->filters;
        e->params += (int64_t)kh * kw * cin * L->filters;
        e->params += L->has_normalizer ? bn_params(&L->bn, L->filters)
                                       : (L->use_bias ? L->filters : 0);
        e->flops += 2 * y->d[0] * y->d[1] * y->d[2] * (int64_t)kh * kw * cin * L->filters;
        return EQ_OK;
    }
    case EQ_LAYER_FULLY_CONNECTED:
    case EQ_LAYER_DENSE: {
        if (x->rank < 1)
            return fail(e, node, "%s needs an input of rank >= 1", eq_layer_type_name(L->type));
        int64_t cin = x->d[x->rank - 1];
        y->d[x->rank - 1] = L->filters;
        e->params += cin * L->filters;
        e->params += L->has_normalizer ? bn_params(&L->bn, L->filters)
                                       : (L->use_bias ? L->filters : 0);
        e->flops += 2 * (numel(x) / (cin ? cin : 1)) * cin * L->filters;
        return EQ_OK;
    }
    case EQ_LAYER_BATCH_NORM:
        e->params += x->rank ? bn_params(&L->bn, x->d[x->rank - 1]) : 0;
        return EQ_OK;
    case EQ_LAYER_MAX_POOL2D:
    case EQ_LAYER_AVG_POOL2D: {
        int kh = L->kernel_from_input ? (int)x->d[1] : L->kernel[0];
        int kw = L->kernel_from_input ? (int)x->d[2] : L->kernel[1];
        return spatial(e, node, x, kh, kw, L->stride[0], L->stride[1], 1, 1, L->padding, y);
    }
    case EQ_LAYER_FLATTEN:
        y->rank = 2;
        y->d[0] = x->rank ? x->d[0] : 1;
        y->d[1] = x->rank ? numel(x) / (x->d[0] ? x->d[0] : 1) : 1;
        return EQ_OK;
    case EQ_LAYER_RESHAPE: {
        y->rank = L->shape_rank;
        int64_t known = 1;
        int free_dim = -1;
        for (int i = 0; i < L->shape_rank; i++) {
            y->d[i] = L->shape[i];
            if (L->shape[i] < 0)
                free_dim = i;
            else
                known *= L->shape[i];
        }
        if (free_dim >= 0)
            y->d[free_dim] = known ? numel(x) / known : 0;
        return EQ_OK;
    }
    case EQ_LAYER_CONCAT: {
        shp first;
        if (L->n_inputs < 1 || !lookup_shape(e, L->inputs[0], &first))
            return fail(e, node, "concat input '%s' is unknown", L->n_inputs ? L->inputs[0] : "");
        *y = first;
        int axis = L->axis < 0 ? L->axis + first.rank : L->axis;
        if (axis < 0 || axis >= first.rank)
            return fail(e, node, "%s axis out of range", "concat");
        for (int i = 1; i < L->n_inputs; i++) {
            shp s;
            if (!lookup_shape(e, L->inputs[i], &s))
                return fail(e, node, "concat input '%s' is unknown", L->inputs[i]);
            y->d[axis] += s.d[axis];
        }
        return EQ_OK;
    }
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        if (L->n_inputs == 2 && !lookup_shape(e, L->inputs[0], y))
            return fail(e, node, "input '%s' is unknown", L->inputs[0]);
        return EQ_OK;
    case EQ_LAYER_MEAN: {
        int r = 0;
        for (int i = 0; i < x->rank; i++) {
            if (L->axes_mask & (1u << i)) {
                if (L->keepdims)
                    y->d[r++] = 1;
            } else {
                y->d[r++] = x->d[i];
            }
        }
        y->rank = r;
        return EQ_OK;
    }
    case EQ_LAYER_CONSTANT:
        if (L->constant) {
            y->rank = L->constant->rank;
            for (int i = 0; i < y->rank; i++)
                y->d[i] = L->constant->shape[i];
        }
        return EQ_OK;
    case EQ_LAYER_VARIABLE:
    case EQ_LAYER_GET_VARIABLE: {
        const eq_tensor *vals = L->init.values;
        y->rank = vals ? vals->rank : L->shape_rank;
        for (int i = 0; i < y->rank; i++)
            y->d[i] = vals ? vals->shape[i] : L->shape[i];
        e->params += numel(y);
        return EQ_OK;
    }
    default:
        return EQ_OK; /* element-wise: relu, dropout, softmax, identity, ... */
    }
}

/* The values a layer makes in eager mode, mirroring eq_interp.c's layer
 * functions: x is the input value, y the output shape from layer().
 * Returns the output value's id (x itself for a pass-through), -1 when
 * out of memory. */
static int layer_values(est *e, const eq_node *node, int x, const shp *y)
{
    const eq_layer *L = &node->layer;
    switch (L->type) {
    case EQ_LAYER_CONV2D:
    case EQ_LAYER_FULLY_CONNECTED:
    case EQ_LAYER_DENSE: {
        /* bias, inference batch norm and activation write over the output */
        int v = value_new(e, y, 1);
        if (v >= 0 && L->has_normalizer && e->training)
            v = value_consume(e, v, 0);
        return v;
    }
    case EQ_LAYER_IDENTITY:
        return x;
    case EQ_LAYER_DROPOUT: {
        if (!e->training || L->keep_prob >= 1.0)
            return x;
        int u = value_new(e, y, 1); /* the random tensor */
        int v = u >= 0 ? value_new(e, y, 1) : -1;
        if (v >= 0)
            value_release(e, u);
        return v;
    }
    case EQ_LAYER_CONSTANT:
    case EQ_LAYER_VARIABLE:
    case EQ_LAYER_GET_VARIABLE:
        return value_new(e, y, 0);
    case EQ_LAYER_RANDOM_UNIFORM: {
        /* drawn; scaled over itself unless [0, 1); then shifted into a
         * new tensor unless minval is 0 */
        int v = value_new(e, y, 1);
        if (v >= 0 && L->minval != 0.0)
            v = value_consume(e, v, 0);
        return v;
    }
    default:
        /* every other layer is one op (or one op and an activation written
         * over its output) making a new tensor */
        return value_new(e, y, 1);
    }
}

static eq_status walk(est *e, eq_node *const *body, int n, int x, int *out);

/* One statement: its output shape (layer()) and the values it makes and
 * gives back, as eq_interp.c's run_node. */
static eq_status node_value(est *e, const eq_node *node, int x, int *y)
{
    *y = -1;
    if (node->input && (x = lookup(e, node->input)) < 0)
        return fail(e, node, "tensor '%s' is unknown", node->input);
    eq_status st = EQ_OK;
    shp xs = e->vals[x].s;
    switch (node->kind) {
    case EQ_NODE_LAYER: {
        shp ys;
        if ((st = layer(e, node, &xs, &ys)) != EQ_OK)
            return st;
        *y = layer_values(e, node, x, &ys);
        break;
    }
    case EQ_NODE_SCOPE:
        st = walk(e, node->body, node->n_body, x, y);
        break;
    case EQ_NODE_RESIDUAL: {
        int up, scaled;
        if ((st = walk(e, node->body, node->n_body, x, &up)) != EQ_OK)
            return st;
        /* scaled over the body's own result unless that is x or named */
        if (up != x && !e->vals[up].pinned)
            scaled = value_consume(e, up, 1);
        else
            scaled = value_new(e, &e->vals[up].s, 1);
        *y = scaled >= 0 ? value_new(e, &xs, 1) : -1; /* x + scaled */
        if (*y >= 0)
            value_release(e, scaled);
        break;
    }
    case EQ_NODE_BRANCHES: {
        int outs[EQ_OP_MAX_INPUTS];
        int nb = node->n_branches < EQ_OP_MAX_INPUTS ? node->n_branches : EQ_OP_MAX_INPUTS;
        shp ys = xs;
        int axis = -1;
        for (int b = 0; b < nb; b++) {
            if ((st = walk(e, node->branches[b], node->n_branch_body[b], x, &outs[b])) != EQ_OK)
                return st;
            const shp *s = &e->vals[outs[b]].s;
            if (b == 0) {
                ys = *s;
                axis = node->axis < 0 ? node->axis + s->rank : node->axis;
                if (axis < 0 || axis >= s->rank)
                    return fail(e, node, "%s axis out of range", "branches");
            } else {
                ys.d[axis] += s->d[axis];
            }
        }
        *y = value_new(e, &ys, 1); /* the concat */
        for (int b = 0; b < nb && *y >= 0; b++)
            if (outs[b] != x)
                value_release(e, outs[b]);
        break;
    }
    }
    if (st != EQ_OK)
        return st;
    if (*y < 0)
        return EQ_ERR_NOMEM;
    if (node->as)
        save(e, node->as, *y);
    if (node->endpoint)
        save(e, node->endpoint, *y);
    return EQ_OK;
}

/* As eq_interp.c's run_body: a statement's input dies with the statement
 * unless it is the body's own input (the caller's) or passed through. */
static eq_status walk(est *e, eq_node *const *body, int n, int x, int *out)
{
    int cur = x;
    for (int i = 0; i < n; i++) {
        int next = -1;
        eq_status st = node_value(e, body[i], cur, &next);
        if (st != EQ_OK)
            return st;
        if (cur != x && cur != next)
            value_release(e, cur);
        cur = next;
    }
    *out = cur;
    return EQ_OK;
}

/* One walk of the model; value 0 is the input (the caller's, held). */
static eq_status walk_model(const eq_model *m, const shp *input, int training, est *e)
{
    e->n_names = 0;
    e->n_vals = 0;
    e->training = training;
    e->params = e->flops = 0;
    e->live = e->peak = 0;
    e->input = *input;
    if (value_new(e, input, 0) < 0)
        return EQ_ERR_NOMEM;
    e->vals[0].pinned = 1;
    int out;
    return walk(e, m->body, m->n_body, 0, &out);
}

/* Parameters and FLOPs from the inference walk; activations the worse of
 * inference and training, plus the input. */
static eq_status estimate_model(const eq_model *m, const shp *input, est *e,
                                int64_t *activation_bytes)
{
    eq_status st = walk_model(m, input, 1, e);
    if (st != EQ_OK)
        return st;
    int64_t training_peak = e->peak;
    if ((st = walk_model(m, input, 0, e)) != EQ_OK)
        return st;
    *activation_bytes = bytes_of(input) + (e->peak > training_peak ? e->peak : training_peak);
    return EQ_OK;
}

eq_status eq_job_estimate_cost(eq_job *job, eq_job_estimate *out, eq_error *err)
{
    memset(out, 0, sizeof *out);
    out->passes = job_plan_passes(job);
    shp input = {job->input.rank, {0}};
    for (int i = 0; i < EQ_MAX_RANK; i++)
        input.d[i] = job->input.shape[i];
    if (job->input.kind == EQ_INPUT_NPY || job->input.kind == EQ_INPUT_SAFETENSORS) {
        /* The shape lives in the file; the model's declaration stands in. */
        input.rank = job->model->input_rank;
        for (int i = 0; i < input.rank; i++)
            input.d[i] = job->model->input_shape[i] > 0 ? job->model->input_shape[i] : 1;
        if (input.rank == 0)
            return eq_error_set_path(err, EQ_ERR_UNSUPPORTED, "input",
                                     "cannot estimate: the input shape is only known from the "
                                     "file and the model declares none");
    }
    est *e = eq_calloc(1, sizeof *e); /* ~200 KiB of name table: not on the stack */
    if (!e)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory estimating the job");
    const eq_model *models[2] = {job->model, job->eager_model};
    eq_status st = EQ_OK;
    for (int k = 0; k < 2 && st == EQ_OK; k++) {
        if (k == 1 && models[1] == models[0])
            break;
        e->err = err;
        int64_t acts = 0;
        st = estimate_model(models[k], &input, e, &acts);
        if (st != EQ_OK) {
            eq_error_prefix(err, "estimating %s: ", k ? "eager_model" : "model");
            break;
        }
        if (e->params > out->parameters)
            out->parameters = e->params;
        if (e->flops > out->flops)
            out->flops = e->flops;
        if (acts > out->activation_bytes)
            out->activation_bytes = acts;
    }
    eq_free(e->vals);
    eq_free(e);
    return st;
}
