/* eq_job_estimate.c - what a job will cost, from the AST alone.
 *
 * The server refuses a job over its parameter, memory or FLOP budget before
 * it runs, so this must be cheap: it walks the parsed model with shapes
 * only (no variables allocated, no kernels run), using the same padding
 * arithmetic as the kernels (eq_conv_out_dim). Its limits, named where they
 * are taken: activation_bytes is the sum of every statement's output (an
 * upper bound: graph mode's buffer reuse needs less), and a shape the walk
 * cannot work out (a reshape it cannot resolve) is reported as an error
 * rather than guessed.
 */
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"
#include "eq_ops.h"

typedef struct shp {
    int rank;
    int64_t d[EQ_MAX_RANK];
} shp;

#define MAX_NAMES 4096

typedef struct est {
    shp input;
    const char *names[MAX_NAMES];
    shp shapes[MAX_NAMES];
    int n_names;
    int64_t params, flops, act_elems;
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

static int lookup(const est *e, const char *name, shp *out)
{
    if (strcmp(name, "input") == 0) {
        *out = e->input;
        return 1;
    }
    for (int i = e->n_names - 1; i >= 0; i--)
        if (strcmp(e->names[i], name) == 0) {
            *out = e->shapes[i];
            return 1;
        }
    return 0;
}

static void save(est *e, const char *name, const shp *s)
{
    if (e->n_names < MAX_NAMES) {
        e->names[e->n_names] = name;
        e->shapes[e->n_names] = *s;
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
        if (L->n_inputs < 1 || !lookup(e, L->inputs[0], &first))
            return fail(e, node, "concat input '%s' is unknown", L->n_inputs ? L->inputs[0] : "");
        *y = first;
        int axis = L->axis < 0 ? L->axis + first.rank : L->axis;
        if (axis < 0 || axis >= first.rank)
            return fail(e, node, "%s axis out of range", "concat");
        for (int i = 1; i < L->n_inputs; i++) {
            shp s;
            if (!lookup(e, L->inputs[i], &s))
                return fail(e, node, "concat input '%s' is unknown", L->inputs[i]);
            y->d[axis] += s.d[axis];
        }
        return EQ_OK;
    }
    case EQ_LAYER_ADD:
    case EQ_LAYER_SUB:
    case EQ_LAYER_MUL:
        if (L->n_inputs == 2 && !lookup(e, L->inputs[0], y))
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

static eq_status walk(est *e, eq_node *const *body, int n, const shp *x, shp *out);

static eq_status node_shape(est *e, const eq_node *node, const shp *x0, shp *y)
{
    shp x = *x0;
    *y = x;
    if (node->input && !lookup(e, node->input, &x))
        return fail(e, node, "tensor '%s' is unknown", node->input);
    eq_status st = EQ_OK;
    switch (node->kind) {
    case EQ_NODE_LAYER:
        st = layer(e, node, &x, y);
        break;
    case EQ_NODE_SCOPE:
        st = walk(e, node->body, node->n_body, &x, y);
        break;
    case EQ_NODE_RESIDUAL: {
        shp inner;
        st = walk(e, node->body, node->n_body, &x, &inner);
        *y = x;
        break;
    }
    case EQ_NODE_BRANCHES: {
        int axis = -1;
        for (int b = 0; b < node->n_branches && st == EQ_OK; b++) {
            shp s;
            st = walk(e, node->branches[b], node->n_branch_body[b], &x, &s);
            if (st != EQ_OK)
                break;
            if (b == 0) {
                *y = s;
                axis = node->axis < 0 ? node->axis + s.rank : node->axis;
                if (axis < 0 || axis >= s.rank)
                    return fail(e, node, "%s axis out of range", "branches");
            } else {
                y->d[axis] += s.d[axis];
            }
        }
        if (node->n_branches == 0)
            *y = x;
        break;
    }
    }
    if (st != EQ_OK)
        return st;
    e->act_elems += numel(y);
    if (node->as)
        save(e, node->as, y);
    if (node->endpoint && (!node->as || strcmp(node->as, node->endpoint) != 0))
        save(e, node->endpoint, y);
    return EQ_OK;
}

static eq_status walk(est *e, eq_node *const *body, int n, const shp *x, shp *out)
{
    shp cur = *x;
    for (int i = 0; i < n; i++) {
        shp y = cur;
        eq_status st = node_shape(e, body[i], &cur, &y);
        if (st != EQ_OK)
            return st;
        cur = y;
    }
    *out = cur;
    return EQ_OK;
}

static eq_status estimate_model(const eq_model *m, const shp *input, est *e)
{
    memset(e->names, 0, sizeof e->names);
    e->n_names = 0;
    e->params = e->flops = 0;
    e->act_elems = numel(input);
    e->input = *input;
    shp out;
    return walk(e, m->body, m->n_body, input, &out);
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
        st = estimate_model(models[k], &input, e);
        if (st != EQ_OK) {
            eq_error_prefix(err, "estimating %s: ", k ? "eager_model" : "model");
            break;
        }
        if (e->params > out->parameters)
            out->parameters = e->params;
        if (e->flops > out->flops)
            out->flops = e->flops;
        if (e->act_elems * 4 > out->activation_bytes)
            out->activation_bytes = e->act_elems * 4;
    }
    eq_free(e);
    return st;
}
