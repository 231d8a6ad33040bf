/* test_model.c - the model language: every construct through the AST,
 * defaults, expansion of blocks/repeat/if, scope names, every error with its
 * path and rule, the zoo (Inception-ResNet-v2 against the spec's variable
 * list), and the dump.
 *
 * Model texts are written with ' for " to stay readable; q() swaps them. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq_model.h"

/* ---- helpers --------------------------------------------------------------- */

static char *q(const char *s)
{
    char *t = strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static eq_model *parse_args(const char *text, const char *args, eq_error *err)
{
    char *t = q(text);
    json_t *a = NULL;
    if (args) {
        char *at = q(args);
        a = json_loads(at, 0, NULL);
        free(at);
        ck_assert_ptr_nonnull(a);
    }
    eq_model *m = eq_model_parse_string(t, a, err);
    json_decref(a);
    free(t);
    return m;
}

static eq_model *parse_ok(const char *text)
{
    eq_error err;
    eq_model *m = parse_args(text, NULL, &err);
    if (!m)
        ck_abort_msg("parse failed: %s: %s", err.path, err.message);
    return m;
}

/* Expect failure with this status and path, and a message that starts with
 * `msg` (lists of names follow many messages). */
static void expect_err_args(const char *text, const char *args, eq_status st,
                            const char *path, const char *msg)
{
    eq_error err;
    eq_model *m = parse_args(text, args, &err);
    if (m) {
        eq_model_free(m);
        ck_abort_msg("expected an error at %s: %s", path, msg);
    }
    ck_assert_msg(err.status == st, "status %s, want %s (%s: %s)", eq_status_name(err.status),
                  eq_status_name(st), err.path, err.message);
    ck_assert_msg(strcmp(err.path, path) == 0, "path '%s', want '%s' (%s)", err.path, path,
                  err.message);
    ck_assert_msg(strncmp(err.message, msg, strlen(msg)) == 0, "message '%s', want '%s...'",
                  err.message, msg);
}

static void expect_err(const char *text, const char *path, const char *msg)
{
    expect_err_args(text, NULL, EQ_ERR_INVALID, path, msg);
}

/* A one-statement model around `stmt`. */
static char *one(const char *stmt)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{'body': [%s], 'outputs': ['input']}", stmt);
    return buf;
}

static const eq_layer *first_layer(const eq_model *m)
{
    ck_assert_int_ge(m->n_body, 1);
    ck_assert_int_eq(m->body[0]->kind, EQ_NODE_LAYER);
    return &m->body[0]->layer;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static char *src_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("EQ_SRCDIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : ".", rel);
    return buf;
}

/* ---- layer names ----------------------------------------------------------- */

START_TEST(layer_type_names)
{
    for (int t = 0; t < EQ_LAYER_COUNT; t++) {
        const char *name = eq_layer_type_name((eq_layer_type)t);
        eq_layer_type back;
        ck_assert_int_eq(eq_layer_type_from_name(name, &back), 1);
        ck_assert_int_eq(back, t);
        ck_assert_ptr_nonnull(strstr(eq_layer_type_list(), name));
    }
    eq_layer_type x;
    ck_assert_int_eq(eq_layer_type_from_name("conv3d", &x), 0);
    ck_assert_str_eq(eq_layer_type_name(EQ_LAYER_GET_VARIABLE), "get_variable");
    ck_assert_str_eq(eq_layer_type_name(EQ_LAYER_RANDOM_UNIFORM), "random_uniform");
    ck_assert_str_eq(eq_layer_type_name(EQ_LAYER_COUNT), "unknown");
}
END_TEST

/* ---- layers: defaults and every argument ----------------------------------- */

START_TEST(conv2d_slim_defaults)
{
    eq_model *m = parse_ok(one("{'conv2d': {'filters': 8, 'kernel': 3}}"));
    const eq_layer *l = first_layer(m);
    ck_assert_int_eq(l->type, EQ_LAYER_CONV2D);
    ck_assert_ptr_null(l->name);
    ck_assert_str_eq(l->default_scope, "Conv");
    ck_assert_int_eq(l->filters, 8);
    ck_assert_int_eq(l->kernel[0], 3);
    ck_assert_int_eq(l->kernel[1], 3);
    ck_assert_int_eq(l->kernel_from_input, 0);
    ck_assert_int_eq(l->stride[0], 1);
    ck_assert_int_eq(l->stride[1], 1);
    ck_assert_int_eq(l->rate[0], 1);
    ck_assert_int_eq(l->padding, EQ_PAD_SAME);
    ck_assert_int_eq(l->activation, EQ_ACT_RELU);
    ck_assert_int_eq(l->has_normalizer, 0);
    ck_assert_int_eq(l->use_bias, 1);
    ck_assert_str_eq(l->weights_init.kind, "xavier_uniform");
    ck_assert_str_eq(l->biases_init.kind, "zeros");
    ck_assert(l->weights_l2 == 0 && l->biases_l2 == 0);
    ck_assert_int_eq(l->trainable, 1);
    ck_assert_int_eq(l->n_inputs, 0);
    ck_assert_str_eq(m->body[0]->path, "body[0]");
    eq_model_free(m);
}
END_TEST

START_TEST(conv2d_every_argument)
{
    eq_model *m = parse_ok(one(
        "{'conv2d': {'name': 'Conv2d_0b_1x7', 'filters': 160, 'kernel': [1, 7], 'stride': [2, 1],"
        " 'padding': 'valid', 'rate': 2, 'activation': 'tanh', 'normalizer': 'batch_norm',"
        " 'normalizer_args': {'center': false, 'scale': true, 'epsilon': 0.01, 'decay': 0.9},"
        " 'use_bias': false, 'weights_initializer': {'kind': 'truncated_normal', 'stddev': 0.1},"
        " 'biases_initializer': {'kind': 'constant', 'value': 0.5},"
        " 'weights_regularizer': {'l2': 4e-5}, 'biases_regularizer': {'l2': 0.5},"
        " 'trainable': false}}"));
    const eq_layer *l = first_layer(m);
    ck_assert_str_eq(l->name, "Conv2d_0b_1x7");
    ck_assert_int_eq(l->filters, 160);
    ck_assert_int_eq(l->kernel[0], 1);
    ck_assert_int_eq(l->kernel[1], 7);
    ck_assert_int_eq(l->stride[0], 2);
    ck_assert_int_eq(l->stride[1], 1);
    ck_assert_int_eq(l->rate[0], 2);
    ck_assert_int_eq(l->rate[1], 2);
    ck_assert_int_eq(l->padding, EQ_PAD_VALID);
    ck_assert_int_eq(l->activation, EQ_ACT_TANH);
    ck_assert_int_eq(l->has_normalizer, 1);
    ck_assert_int_eq(l->bn.center, 0);
    ck_assert_int_eq(l->bn.scale, 1);
    ck_assert_double_eq(l->bn.epsilon, 0.01);
    ck_assert_double_eq(l->bn.decay, 0.9);
    ck_assert_int_eq(l->use_bias, 0);
    ck_assert_str_eq(l->weights_init.kind, "truncated_normal");
    ck_assert_double_eq(l->weights_init.stddev, 0.1);
    ck_assert_double_eq(l->weights_init.mean, 0.0);
    ck_assert_str_eq(l->biases_init.kind, "constant");
    ck_assert_double_eq(l->biases_init.value, 0.5);
    ck_assert_double_eq(l->weights_l2, 4e-5);
    ck_assert_double_eq(l->biases_l2, 0.5);
    ck_assert_int_eq(l->trainable, 0);
    eq_model_free(m);
}
END_TEST

START_TEST(conv2d_normalizer_drops_bias_and_kernel_input)
{
    eq_model *m = parse_ok(one("{'conv2d': {'filters': 768, 'kernel': 'input', 'padding':"
                               " 'VALID', 'normalizer': 'batch_norm', 'activation': null}}"));
    const eq_layer *l = first_layer(m);
    ck_assert_int_eq(l->kernel_from_input, 1);
    ck_assert_int_eq(l->use_bias, 0); /* slim: no biases under a normalizer */
    ck_assert_int_eq(l->activation, EQ_ACT_NONE);
    /* slim's batch_norm defaults: center, no scale, 0.001, 0.999 */
    ck_assert_int_eq(l->bn.center, 1);
    ck_assert_int_eq(l->bn.scale, 0);
    ck_assert_double_eq(l->bn.epsilon, 0.001);
    ck_assert_double_eq(l->bn.decay, 0.999);
    eq_model_free(m);
}
END_TEST

START_TEST(fully_connected_and_dense_defaults)
{
    eq_model *m = parse_ok(
        "{'body': [{'fully_connected': {'num_outputs': 10}}, {'dense': {'units': 4}},"
        " {'dense': {'units': 3, 'activation': 'relu6', 'use_bias': false,"
        "  'kernel_initializer': 'glorot_normal', 'bias_initializer': 'ones',"
        "  'kernel_regularizer': {'l2': 0.25}, 'bias_regularizer': null}}],"
        " 'outputs': ['input']}");
    ck_assert_int_eq(m->n_body, 3);
    const eq_layer *fc = &m->body[0]->layer, *d = &m->body[1]->layer, *d2 = &m->body[2]->layer;
    ck_assert_int_eq(fc->type, EQ_LAYER_FULLY_CONNECTED);
    ck_assert_int_eq(fc->filters, 10);
    ck_assert_int_eq(fc->activation, EQ_ACT_RELU);
    ck_assert_int_eq(fc->use_bias, 1);
    ck_assert_str_eq(fc->weights_init.kind, "xavier_uniform");
    ck_assert_str_eq(fc->default_scope, "fully_connected");
    ck_assert_int_eq(d->type, EQ_LAYER_DENSE);
    ck_assert_int_eq(d->filters, 4);
    ck_assert_int_eq(d->activation, EQ_ACT_NONE);
    ck_assert_int_eq(d->use_bias, 1);
    ck_assert_str_eq(d->weights_init.kind, "glorot_uniform");
    ck_assert_str_eq(d->biases_init.kind, "zeros");
    ck_assert_str_eq(d->default_scope, "dense");
    ck_assert_int_eq(d2->activation, EQ_ACT_RELU6);
    ck_assert_int_eq(d2->use_bias, 0);
    ck_assert_str_eq(d2->weights_init.kind, "glorot_normal");
    ck_assert_str_eq(d2->biases_init.kind, "ones");
    ck_assert_double_eq(d2->weights_l2, 0.25);
    ck_assert_double_eq(d2->biases_l2, 0.0);
    eq_model_free(m);
}
END_TEST

START_TEST(batch_norm_pool_dropout_and_plain_ops)
{
    eq_model *m = parse_ok(
        "{'body': [{'batch_norm': {}},"
        " {'batch_norm': {'name': 'bn', 'scale': true, 'center': false, 'epsilon': 1e-5,"
        "  'decay': 0.5, 'activation': 'relu', 'trainable': false}},"
        " {'max_pool2d': {'kernel': 3}}, {'avg_pool2d': {'kernel': [5, 4], 'stride': 3,"
        "  'padding': 'SAME'}}, {'avg_pool2d': {'kernel': 'input'}},"
        " {'dropout': {}}, {'dropout': {'keep_prob': 0.8}}, {'flatten': {}},"
        " {'relu': {}}, {'relu6': {}}, {'sigmoid': {}}, {'tanh': {}}, {'softmax': {'name': 'p'}},"
        " {'identity': {}}], 'outputs': ['input']}");
    ck_assert_int_eq(m->n_body, 14);
    const eq_layer *b0 = &m->body[0]->layer, *b1 = &m->body[1]->layer;
    ck_assert_int_eq(b0->bn.center, 1);
    ck_assert_int_eq(b0->bn.scale, 0);
    ck_assert_double_eq(b0->bn.epsilon, 0.001);
    ck_assert_double_eq(b0->bn.decay, 0.999);
    ck_assert_int_eq(b0->activation, EQ_ACT_NONE);
    ck_assert_str_eq(b0->default_scope, "BatchNorm");
    ck_assert_str_eq(b1->name, "bn");
    ck_assert_int_eq(b1->bn.scale, 1);
    ck_assert_int_eq(b1->bn.center, 0);
    ck_assert_double_eq(b1->bn.epsilon, 1e-5);
    ck_assert_double_eq(b1->bn.decay, 0.5);
    ck_assert_int_eq(b1->activation, EQ_ACT_RELU);
    ck_assert_int_eq(b1->trainable, 0);
    const eq_layer *mp = &m->body[2]->layer, *ap = &m->body[3]->layer, *gp = &m->body[4]->layer;
    ck_assert_int_eq(mp->stride[0], 2); /* slim pooling defaults */
    ck_assert_int_eq(mp->padding, EQ_PAD_VALID);
    ck_assert_str_eq(mp->default_scope, "MaxPool2D");
    ck_assert_int_eq(ap->kernel[0], 5);
    ck_assert_int_eq(ap->kernel[1], 4);
    ck_assert_int_eq(ap->stride[1], 3);
    ck_assert_int_eq(ap->padding, EQ_PAD_SAME);
    ck_assert_str_eq(ap->default_scope, "AvgPool2D");
    ck_assert_int_eq(gp->kernel_from_input, 1);
    ck_assert_double_eq(m->body[5]->layer.keep_prob, 0.5);
    ck_assert_str_eq(m->body[5]->layer.default_scope, "Dropout");
    ck_assert_double_eq(m->body[6]->layer.keep_prob, 0.8);
    ck_assert_str_eq(m->body[7]->layer.default_scope, "Flatten");
    static const eq_layer_type plain[] = {EQ_LAYER_RELU, EQ_LAYER_RELU6, EQ_LAYER_SIGMOID,
                                          EQ_LAYER_TANH, EQ_LAYER_SOFTMAX, EQ_LAYER_IDENTITY};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(m->body[8 + i]->layer.type, plain[i]);
        ck_assert_ptr_null(m->body[8 + i]->layer.default_scope);
    }
    ck_assert_str_eq(m->body[12]->layer.name, "p");
    eq_model_free(m);
}
END_TEST

START_TEST(reshape_concat_arithmetic_mean)
{
    eq_model *m = parse_ok(
        "{'body': [{'identity': {}, 'as': 'a'}, {'identity': {}, 'as': 'b'},"
        " {'reshape': {'shape': [-1, 2, 3]}}, {'reshape': {'shape': 6}},"
        " {'concat': {'inputs': ['a', 'b', 'input'], 'axis': 3}},"
        " {'add': {'inputs': ['a', 'b']}}, {'sub': {'inputs': ['a']}}, {'mul': {'value': 0.17}},"
        " {'mean': {'axes': [2, 1], 'keepdims': true}}, {'mean': {'axes': [0]}}],"
        " 'outputs': ['a']}");
    ck_assert_int_eq(m->n_body, 10);
    const eq_layer *r = &m->body[2]->layer;
    ck_assert_int_eq(r->shape_rank, 3);
    ck_assert_int_eq(r->shape[0], -1);
    ck_assert_int_eq(r->shape[2], 3);
    ck_assert_int_eq(m->body[3]->layer.shape_rank, 1);
    ck_assert_int_eq(m->body[3]->layer.shape[0], 6);
    const eq_layer *c = &m->body[4]->layer;
    ck_assert_int_eq(c->n_inputs, 3);
    ck_assert_str_eq(c->inputs[0], "a");
    ck_assert_str_eq(c->inputs[2], "input");
    ck_assert_int_eq(c->axis, 3);
    ck_assert_int_eq(m->body[5]->layer.n_inputs, 2);
    ck_assert_str_eq(m->body[5]->layer.inputs[1], "b");
    ck_assert_int_eq(m->body[6]->layer.n_inputs, 1);
    ck_assert_int_eq(m->body[6]->layer.has_value, 0);
    ck_assert_int_eq(m->body[7]->layer.n_inputs, 0);
    ck_assert_int_eq(m->body[7]->layer.has_value, 1);
    ck_assert_double_eq(m->body[7]->layer.value, 0.17);
    ck_assert_uint_eq(m->body[8]->layer.axes_mask, 6u);
    ck_assert_int_eq(m->body[8]->layer.keepdims, 1);
    ck_assert_uint_eq(m->body[9]->layer.axes_mask, 1u);
    ck_assert_int_eq(m->body[9]->layer.keepdims, 0);
    eq_model_free(m);
}
END_TEST

START_TEST(constants_and_variables)
{
    eq_model *m = parse_ok(
        "{'body': [{'constant': {'data': [[1, 2, 3], [4, 5, 6]]}, 'as': 'c1'},"
        " {'constant': {'shape': [3, 2], 'data': [1, 2, 3, 4, 5, 6.5]}, 'as': 'c2'},"
        " {'constant': {'shape': [2, 2], 'data': 0.25}, 'as': 'c3'},"
        " {'variable': {'values': 2.0}, 'as': 'v1'},"
        " {'variable': {'name': 'w', 'shape': [2, 3], 'initializer': 'random_normal',"
        "  'trainable': false, 'cache': true}, 'as': 'v2'},"
        " {'variable': {'shape': [2], 'initializer': {'values': [7, 8]}}, 'as': 'v3'},"
        " {'get_variable': {'name': 'bias', 'shape': [4]}, 'as': 'g1'},"
        " {'get_variable': {'name': 'k', 'shape': 3, 'initializer': 'zeros',"
        "  'regularizer': {'l2': 0.1}, 'reuse': true}, 'as': 'g2'}],"
        " 'outputs': ['c1']}");
    const eq_layer *c1 = &m->body[0]->layer;
    ck_assert_int_eq(c1->shape_rank, 2);
    ck_assert_int_eq(c1->shape[1], 3);
    ck_assert_int_eq(c1->constant->rank, 2);
    ck_assert(eq_tensor_f32(c1->constant)[5] == 6.0f);
    const eq_layer *c2 = &m->body[1]->layer;
    ck_assert_int_eq(c2->constant->shape[0], 3); /* a flat list takes "shape" */
    ck_assert_int_eq(c2->constant->shape[1], 2);
    ck_assert(eq_tensor_f32(c2->constant)[5] == 6.5f);
    const eq_layer *c3 = &m->body[2]->layer;
    ck_assert_int_eq(eq_tensor_numel(c3->constant), 4);
    ck_assert(eq_tensor_f32(c3->constant)[3] == 0.25f);
    const eq_layer *v1 = &m->body[3]->layer;
    ck_assert_str_eq(v1->default_scope, "Variable");
    ck_assert_str_eq(v1->init.kind, "values");
    ck_assert_int_eq(v1->shape_rank, 0); /* tf.Variable(2.0) is a scalar */
    ck_assert(eq_tensor_f32(v1->init.values)[0] == 2.0f);
    ck_assert_int_eq(v1->cache, 0);
    ck_assert_int_eq(v1->trainable, 1);
    const eq_layer *v2 = &m->body[4]->layer;
    ck_assert_str_eq(v2->name, "w");
    ck_assert_str_eq(v2->init.kind, "random_normal");
    ck_assert_int_eq(v2->shape_rank, 2);
    ck_assert_int_eq(v2->trainable, 0);
    ck_assert_int_eq(v2->cache, 1);
    ck_assert(eq_tensor_f32(m->body[5]->layer.init.values)[1] == 8.0f);
    const eq_layer *g1 = &m->body[6]->layer, *g2 = &m->body[7]->layer;
    ck_assert_str_eq(g1->init.kind, "glorot_uniform"); /* get_variable's fallback */
    ck_assert_int_eq(g1->reuse, -1);
    ck_assert_int_eq(g1->shape[0], 4);
    ck_assert_int_eq(g2->shape_rank, 1);
    ck_assert_int_eq(g2->shape[0], 3);
    ck_assert_double_eq(g2->l2, 0.1);
    ck_assert_int_eq(g2->reuse, 1);
    eq_model_free(m);
}
END_TEST

START_TEST(initializer_kinds_and_parameters)
{
    eq_model *m = parse_ok(
        "{'body': ["
        " {'dense': {'units': 1, 'kernel_initializer': 'xavier_initializer'}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'kind': 'random_uniform', 'minval': -2,"
        "  'maxval': 3}}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'kind': 'variance_scaling', 'scale': 2,"
        "  'mode': 'FAN_AVG', 'distribution': 'uniform'}}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'kind': 'slim_variance_scaling'}}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'kind': 'slim_variance_scaling',"
        "  'factor': 1.0, 'mode': 'fan_out', 'uniform': true}}},"
        " {'dense': {'units': 1, 'kernel_initializer': 'variance_scaling'}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'kind': 'random_normal', 'mean': 1}}},"
        " {'dense': {'units': 1, 'kernel_initializer': {'values': [[0.5]]}}},"
        " {'dense': {'units': 1, 'kernel_initializer': 'he_normal'}}],"
        " 'outputs': ['input']}");
    ck_assert_str_eq(m->body[0]->layer.weights_init.kind, "xavier_uniform");
    const eq_ast_init *u = &m->body[1]->layer.weights_init;
    ck_assert_str_eq(u->kind, "random_uniform");
    ck_assert_double_eq(u->minval, -2);
    ck_assert_double_eq(u->maxval, 3);
    const eq_ast_init *vs = &m->body[2]->layer.weights_init;
    ck_assert_double_eq(vs->scale, 2);
    ck_assert_str_eq(vs->mode, "fan_avg");
    ck_assert_str_eq(vs->distribution, "uniform");
    const eq_ast_init *s1 = &m->body[3]->layer.weights_init;
    ck_assert_double_eq(s1->scale, 2.0); /* slim's factor */
    ck_assert_str_eq(s1->mode, "fan_in");
    ck_assert_str_eq(s1->distribution, "truncated_normal");
    const eq_ast_init *s2 = &m->body[4]->layer.weights_init;
    ck_assert_double_eq(s2->scale, 1.0);
    ck_assert_str_eq(s2->mode, "fan_out");
    ck_assert_str_eq(s2->distribution, "uniform");
    const eq_ast_init *v = &m->body[5]->layer.weights_init;
    ck_assert_double_eq(v->scale, 1.0); /* compat.v1 VarianceScaling defaults */
    ck_assert_str_eq(v->mode, "fan_in");
    ck_assert_str_eq(v->distribution, "truncated_normal");
    const eq_ast_init *n = &m->body[6]->layer.weights_init;
    ck_assert_double_eq(n->mean, 1);
    ck_assert_double_eq(n->stddev, 1);
    const eq_ast_init *in = &m->body[7]->layer.weights_init;
    ck_assert_str_eq(in->kind, "values");
    ck_assert_int_eq(in->values->rank, 2);
    ck_assert(eq_tensor_f32(in->values)[0] == 0.5f);
    ck_assert_str_eq(m->body[8]->layer.weights_init.kind, "he_normal");
    eq_model_free(m);
}
END_TEST

/* ---- statements ------------------------------------------------------------ */

START_TEST(as_endpoint_and_input)
{
    eq_model *m = parse_ok(
        "{'body': [{'relu': {}, 'endpoint': 'r'}, {'tanh': {}, 'as': 't', 'endpoint': 'T'},"
        " {'sigmoid': {}, 'input': 'r'}, {'add': {'inputs': ['t']}, 'input': 'T'},"
        " {'mul': {'value': 2}, 'input': 'input', 'as': 'out', 'doc': 'x times two'}],"
        " 'outputs': ['out', 'r', 'input']}");
    ck_assert_str_eq(m->body[0]->endpoint, "r");
    ck_assert_str_eq(m->body[0]->as, "r"); /* an endpoint is a tensor name too */
    ck_assert_str_eq(m->body[1]->as, "t");
    ck_assert_str_eq(m->body[1]->endpoint, "T");
    const eq_node *s = m->body[2];
    ck_assert_str_eq(s->input, "r");
    ck_assert_int_eq(s->layer.n_inputs, 1); /* unary layers carry it in inputs[0] */
    ck_assert_str_eq(s->layer.inputs[0], "r");
    const eq_node *a = m->body[3];
    ck_assert_str_eq(a->input, "T");
    ck_assert_int_eq(a->layer.n_inputs, 1); /* x = T, then x + t */
    ck_assert_str_eq(a->layer.inputs[0], "t");
    ck_assert_str_eq(m->body[4]->input, "input");
    ck_assert_int_eq(m->body[4]->layer.n_inputs, 0);
    ck_assert_ptr_null(m->body[4]->endpoint);
    ck_assert_int_eq(m->n_outputs, 3);
    ck_assert_str_eq(m->outputs[0], "out");
    ck_assert_str_eq(m->outputs[2], "input");
    eq_model_free(m);
}
END_TEST

START_TEST(scopes_branches_residual)
{
    eq_model *m = parse_ok(
        "{'body': [{'scope': 'Mixed', 'endpoint': 'Mixed', 'body': ["
        "  {'branches': [[{'scope': 'Branch_0', 'body': [{'relu': {}}]}],"
        "                [{'relu6': {}}, {'tanh': {}}], []], 'axis': 3}]},"
        " {'scope': {'default_name': 'Repeat'}, 'body': []},"
        " {'residual': {'scale': 0.17, 'body': [{'relu': {}}]}},"
        " {'residual': {'activation': null, 'body': []}}],"
        " 'outputs': ['Mixed']}");
    ck_assert_int_eq(m->n_body, 4);
    const eq_node *s = m->body[0];
    ck_assert_int_eq(s->kind, EQ_NODE_SCOPE);
    ck_assert_str_eq(s->scope_name, "Mixed");
    ck_assert_ptr_null(s->default_name);
    ck_assert_int_eq(s->n_body, 1);
    const eq_node *b = s->body[0];
    ck_assert_int_eq(b->kind, EQ_NODE_BRANCHES);
    ck_assert_int_eq(b->n_branches, 3);
    ck_assert_int_eq(b->axis, 3);
    ck_assert_int_eq(b->n_branch_body[0], 1);
    ck_assert_int_eq(b->n_branch_body[1], 2);
    ck_assert_int_eq(b->n_branch_body[2], 0);
    ck_assert_str_eq(b->branches[0][0]->scope_name, "Branch_0");
    ck_assert_int_eq(b->branches[1][1]->layer.type, EQ_LAYER_TANH);
    ck_assert_str_eq(b->branches[1][1]->path, "body[0].body[0].branches[1][1]");
    ck_assert_str_eq(m->body[1]->default_name, "Repeat");
    ck_assert_ptr_null(m->body[1]->scope_name);
    const eq_node *r = m->body[2];
    ck_assert_int_eq(r->kind, EQ_NODE_RESIDUAL);
    ck_assert_double_eq(r->scale, 0.17);
    ck_assert_int_eq(r->activation, EQ_ACT_RELU); /* slim blocks' default */
    ck_assert_int_eq(r->n_body, 1);
    ck_assert_double_eq(m->body[3]->scale, 1.0);
    ck_assert_int_eq(m->body[3]->activation, EQ_ACT_NONE);
    eq_model_free(m);
}
END_TEST

START_TEST(defaults_nest_and_override)
{
    eq_model *m = parse_ok(
        "{'defaults': {'conv2d': {'padding': 'VALID', 'activation': 'relu6', 'stride': 2}},"
        " 'body': ["
        "  {'conv2d': {'filters': 1, 'kernel': 1}},"
        "  {'defaults': {'conv2d': {'stride': 3}, 'max_pool2d': {'padding': 'SAME'}}, 'body': ["
        "    {'conv2d': {'filters': 1, 'kernel': 1}},"
        "    {'conv2d': {'filters': 1, 'kernel': 1, 'stride': 4, 'activation': null}},"
        "    {'max_pool2d': {'kernel': 2}}]},"
        "  {'conv2d': {'filters': 1, 'kernel': 1}}],"
        " 'outputs': ['input']}");
    ck_assert_int_eq(m->n_body, 5); /* defaults statements splice their bodies */
    const eq_layer *a = &m->body[0]->layer, *b = &m->body[1]->layer, *c = &m->body[2]->layer;
    ck_assert_int_eq(a->stride[0], 2);
    ck_assert_int_eq(a->padding, EQ_PAD_VALID);
    ck_assert_int_eq(a->activation, EQ_ACT_RELU6);
    ck_assert_int_eq(b->stride[0], 3);          /* inner overrides outer per key */
    ck_assert_int_eq(b->padding, EQ_PAD_VALID); /* outer still applies */
    ck_assert_int_eq(c->stride[0], 4);          /* explicit beats every default */
    ck_assert_int_eq(c->activation, EQ_ACT_NONE);
    ck_assert_int_eq(m->body[3]->layer.padding, EQ_PAD_SAME);
    ck_assert_int_eq(m->body[3]->layer.stride[0], 2); /* slim's pool default */
    ck_assert_int_eq(m->body[4]->layer.stride[0], 2); /* the inner frame is gone */
    ck_assert_str_eq(m->body[2]->path, "body[1].body[1]");
    eq_model_free(m);
}
END_TEST

START_TEST(defaults_for_normalizers)
{
    /* slim's normalizer_fn goes through arg_scope like any batch_norm call;
     * normalizer_args replaces (does not merge with) an outer one. */
    eq_model *m = parse_ok(
        "{'defaults': {'batch_norm': {'decay': 0.5},"
        "              'conv2d': {'normalizer': 'batch_norm', 'normalizer_args': {'scale': true}}},"
        " 'body': [{'conv2d': {'filters': 1, 'kernel': 1}},"
        "  {'conv2d': {'filters': 1, 'kernel': 1, 'normalizer_args': {'epsilon': 0.01}}},"
        "  {'conv2d': {'filters': 1, 'kernel': 1, 'normalizer': null,"
        "              'normalizer_args': {'epsilon': 0.02}}},"
        "  {'batch_norm': {}}],"
        " 'outputs': ['input']}");
    const eq_layer *a = &m->body[0]->layer, *b = &m->body[1]->layer, *c = &m->body[2]->layer;
    ck_assert_int_eq(a->has_normalizer, 1);
    ck_assert_int_eq(a->bn.scale, 1);
    ck_assert_double_eq(a->bn.decay, 0.5);
    ck_assert_double_eq(a->bn.epsilon, 0.001);
    ck_assert_int_eq(b->bn.scale, 0);
    ck_assert_double_eq(b->bn.epsilon, 0.01);
    ck_assert_double_eq(b->bn.decay, 0.5);
    ck_assert_int_eq(c->has_normalizer, 0);
    ck_assert_int_eq(c->use_bias, 1);
    ck_assert_double_eq(m->body[3]->layer.bn.decay, 0.5);
    eq_model_free(m);
}
END_TEST

static const char *blocks_model =
    "{'params': {'k': {'default': 3, 'doc': 'kernel'}, 'act': {'default': 'relu6'}},"
    " 'blocks': {"
    "  'unit': {'doc': 'conv then residual', 'default_scope': 'Unit',"
    "   'params': {'scale': {'default': 1.0}, 'activation': {'default': '$act'},"
    "              'filters': {}},"
    "   'body': [{'conv2d': {'name': 'conv', 'filters': '$filters', 'kernel': '$k'}},"
    "            {'residual': {'scale': '$scale', 'activation': '$activation', 'body': ["
    "               {'block': 'leaf', 'args': {'n': '$filters'}}]}}]},"
    "  'leaf': {'params': {'n': {}}, 'body': [{'dense': {'units': '$n'}}]}},"
    " 'defaults': {'conv2d': {'padding': 'VALID'}},"
    " 'body': ["
    "  {'block': 'unit', 'args': {'filters': 8}},"
    "  {'block': 'unit', 'args': {'filters': 9, 'scale': 0.5, 'activation': null},"
    "   'scope': 'Named'},"
    "  {'block': 'unit', 'args': {'filters': '$k'}, 'scope': {'default_name': 'Other'}},"
    "  {'repeat': {'count': 3, 'block': 'unit', 'args': {'filters': 4, 'scale': 0.2}},"
    "   'endpoint': 'Rep'},"
    "  {'repeat': {'count': 2, 'block': 'leaf', 'args': {'n': 5}, 'scope': 'conv3'}}],"
    " 'outputs': ['Rep']}";

START_TEST(block_calls)
{
    eq_model *m = parse_ok(blocks_model);
    ck_assert_int_eq(m->n_body, 5);
    const eq_node *b0 = m->body[0];
    ck_assert_int_eq(b0->kind, EQ_NODE_SCOPE);
    ck_assert_str_eq(b0->default_name, "Unit"); /* variable_scope(None, 'Unit') */
    ck_assert_ptr_null(b0->scope_name);
    ck_assert_int_eq(b0->n_body, 2);
    const eq_layer *conv = &b0->body[0]->layer;
    ck_assert_int_eq(conv->filters, 8);
    ck_assert_int_eq(conv->kernel[0], 3);         /* $k from the model's params */
    ck_assert_int_eq(conv->padding, EQ_PAD_VALID); /* defaults reach into blocks */
    ck_assert_str_eq(b0->body[0]->path, "blocks.unit.body[0]");
    const eq_node *res = b0->body[1];
    ck_assert_double_eq(res->scale, 1.0);
    ck_assert_int_eq(res->activation, EQ_ACT_RELU6); /* a block default "$act" */
    const eq_node *leaf = res->body[0];
    ck_assert_str_eq(leaf->default_name, "leaf"); /* no default_scope: the block name */
    ck_assert_int_eq(leaf->body[0]->layer.filters, 8);
    const eq_node *b1 = m->body[1];
    ck_assert_str_eq(b1->scope_name, "Named");
    ck_assert_double_eq(b1->body[1]->scale, 0.5);
    ck_assert_int_eq(b1->body[1]->activation, EQ_ACT_NONE);
    ck_assert_int_eq(b1->body[0]->layer.filters, 9);
    const eq_node *b2 = m->body[2];
    ck_assert_str_eq(b2->default_name, "Other");
    ck_assert_int_eq(b2->body[0]->layer.filters, 3); /* "$k" resolved at the call */
    eq_model_free(m);
}
END_TEST

START_TEST(repeat_names_like_slim)
{
    eq_model *m = parse_ok(blocks_model);
    const eq_node *r = m->body[3];
    ck_assert_int_eq(r->kind, EQ_NODE_SCOPE);
    ck_assert_str_eq(r->default_name, "Repeat");
    ck_assert_ptr_null(r->scope_name);
    ck_assert_str_eq(r->endpoint, "Rep");
    ck_assert_int_eq(r->n_body, 3);
    static const char *const names[] = {"unit_1", "unit_2", "unit_3"};
    for (int i = 0; i < 3; i++) {
        const eq_node *c = r->body[i];
        ck_assert_int_eq(c->kind, EQ_NODE_SCOPE);
        ck_assert_str_eq(c->scope_name, names[i]);
        ck_assert_ptr_null(c->default_name);
        ck_assert_int_eq(c->n_body, 2);
        ck_assert_int_eq(c->body[0]->layer.filters, 4);
        ck_assert_double_eq(c->body[1]->scale, 0.2);
    }
    const eq_node *s = m->body[4];
    ck_assert_str_eq(s->scope_name, "conv3"); /* slim.repeat(..., scope='conv3') */
    ck_assert_str_eq(s->body[0]->scope_name, "conv3_1");
    ck_assert_str_eq(s->body[1]->scope_name, "conv3_2");
    ck_assert_int_eq(s->body[1]->body[0]->layer.filters, 5);
    eq_model_free(m);
}
END_TEST

START_TEST(if_statements)
{
    const char *text =
        "{'params': {'on': {'default': true}, 'n': {'default': 0}, 's': {'default': ''}},"
        " 'body': [{'if': '$on', 'body': [{'relu': {}}], 'else': [{'tanh': {}}]},"
        "  {'if': '$n', 'body': [{'relu': {}}], 'else': [{'sigmoid': {}}, {'sigmoid': {}}]},"
        "  {'if': ['$on', '$n'], 'body': [{'relu6': {}}]},"
        "  {'if': {'not': '$s'}, 'body': [{'identity': {}}]},"
        "  {'if': {'any': ['$n', 1]}, 'body': [{'softmax': {}}]},"
        "  {'if': {'all': []}, 'body': [{'flatten': {}}]}],"
        " 'outputs': ['input']}";
    eq_model *m = parse_ok(text);
    ck_assert_int_eq(m->n_body, 6);
    ck_assert_int_eq(m->body[0]->layer.type, EQ_LAYER_RELU);
    ck_assert_int_eq(m->body[1]->layer.type, EQ_LAYER_SIGMOID);
    ck_assert_int_eq(m->body[2]->layer.type, EQ_LAYER_SIGMOID);
    ck_assert_int_eq(m->body[3]->layer.type, EQ_LAYER_IDENTITY);
    ck_assert_int_eq(m->body[4]->layer.type, EQ_LAYER_SOFTMAX);
    ck_assert_int_eq(m->body[5]->layer.type, EQ_LAYER_FLATTEN);
    ck_assert_str_eq(m->body[2]->path, "body[1].else[1]");
    eq_model_free(m);
    eq_error err;
    m = parse_args(text, "{'on': false, 'n': 2, 's': 'x'}", &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->n_body, 4); /* tanh, relu, softmax, flatten */
    ck_assert_int_eq(m->body[0]->layer.type, EQ_LAYER_TANH);
    ck_assert_int_eq(m->body[1]->layer.type, EQ_LAYER_RELU);
    ck_assert_int_eq(m->body[2]->layer.type, EQ_LAYER_SOFTMAX);
    ck_assert_int_eq(m->body[3]->layer.type, EQ_LAYER_FLATTEN);
    eq_model_free(m);
}
END_TEST

START_TEST(model_fields_params_and_args)
{
    const char *text =
        "{'name': 'toy', 'description': 'a toy', 'doc': 'notes',"
        " 'params': {'units': {'default': 4, 'doc': 'width'}, 'extra': {'default': [1, 2]},"
        "            'lit': {'default': '$$x'}},"
        " 'input': {'shape': [null, '$units', 3]},"
        " 'body': [{'dense': {'units': '$units'}, 'as': 'y'}], 'outputs': ['y']}";
    eq_model *m = parse_ok(text);
    ck_assert_str_eq(m->name, "toy");
    ck_assert_str_eq(m->description, "a toy");
    ck_assert_int_eq(m->n_params, 3);
    ck_assert_str_eq(m->params[0].name, "units");
    ck_assert_str_eq(m->params[0].doc, "width");
    ck_assert_int_eq(json_integer_value(m->params[0].value), 4);
    ck_assert_ptr_null(m->params[1].doc);
    ck_assert_int_eq(json_array_size(m->params[1].value), 2);
    ck_assert_int_eq(m->input_rank, 3);
    ck_assert_int_eq(m->input_shape[0], -1);
    ck_assert_int_eq(m->input_shape[1], 4);
    ck_assert_int_eq(m->input_shape[2], 3);
    ck_assert_int_eq(m->body[0]->layer.filters, 4);
    eq_model_free(m);
    eq_error err;
    m = parse_args(text, "{'units': 7}", &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(json_integer_value(m->params[0].value), 7);
    ck_assert_int_eq(m->body[0]->layer.filters, 7);
    ck_assert_int_eq(m->input_shape[1], 7);
    eq_model_free(m);
    /* No name: "model"; no input: rank 0. */
    m = parse_ok("{'body': [], 'outputs': ['input']}");
    ck_assert_str_eq(m->name, "model");
    ck_assert_ptr_null(m->description);
    ck_assert_int_eq(m->input_rank, 0);
    ck_assert_int_eq(m->n_body, 0);
    eq_model_free(m);
}
END_TEST

START_TEST(many_tensor_names)
{
    /* 300 names: the name table grows and rehashes several times */
    char *text = malloc(1 << 16);
    size_t len = (size_t)sprintf(text, "{\"body\": [");
    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(text + len, "%s{\"relu\": {}, \"%s\": \"t%d\"}", i ? ", " : "",
                               i % 2 ? "as" : "endpoint", i);
    len += (size_t)sprintf(text + len, ", {\"concat\": {\"inputs\": [");
    for (int i = 0; i < 64; i++)
        len += (size_t)sprintf(text + len, "%s\"t%d\"", i ? ", " : "", i * 4);
    sprintf(text + len, "]}}], \"outputs\": [\"t0\", \"t299\", \"t150\"]}");
    eq_error err;
    eq_model *m = eq_model_parse_string(text, NULL, &err);
    if (!m)
        ck_abort_msg("%s: %s", err.path, err.message);
    ck_assert_int_eq(m->n_body, 301);
    ck_assert_str_eq(m->body[299]->as, "t299");
    ck_assert_str_eq(m->body[298]->endpoint, "t298");
    ck_assert_int_eq(m->body[300]->layer.n_inputs, 64);
    eq_model_free(m);
    /* and one name too many is still found missing */
    strcpy(text + strlen(text) - 3, "1\"]}");
    ck_assert_ptr_null(eq_model_parse_string(text, NULL, &err));
    ck_assert_str_eq(err.path, "outputs[2]");
    ck_assert_str_eq(err.message,
                     "unknown tensor 't1501': no statement saves it with \"as\" or \"endpoint\"");
    free(text);
}
END_TEST

START_TEST(path_prefix_and_null_arguments)
{
    json_t *j = json_loads("{\"body\": [{\"relu\": {}}, {\"relu\": {\"x\": 1}}], "
                           "\"outputs\": [\"input\"]}",
                           0, NULL);
    eq_error err;
    ck_assert_ptr_null(eq_model_parse(j, NULL, "model", &err));
    ck_assert_str_eq(err.path, "model.body[1].relu.x");
    ck_assert_ptr_null(eq_model_parse(j, NULL, NULL, NULL)); /* err may be NULL */
    json_decref(j);
    ck_assert_ptr_null(eq_model_parse(NULL, NULL, NULL, &err));
    ck_assert_str_eq(err.message, "expected a model (a JSON object), got nothing");
    ck_assert_ptr_null(eq_model_parse_string(NULL, NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_INVALID);
    ck_assert_ptr_null(eq_model_parse_file(NULL, NULL, &err));
    eq_model_free(NULL);
    ck_assert_ptr_null(eq_model_dump(NULL));
}
END_TEST

/* ---- errors: path and rule ------------------------------------------------- */

START_TEST(errors_layer_arguments)
{
    expect_err("{'body': [{'relu': {}}, {'relu': {}}, {'relu': {}},"
               " {'conv2d': {'filters': 8, 'kernel': 3, 'stride': -1}}], 'outputs': ['input']}",
               "body[3].conv2d.stride", "expected a positive integer or [h, w], got -1");
    expect_err(one("{'conv2d': {'filters': 8, 'kernel': [3, 0]}}"), "body[0].conv2d.kernel[1]",
               "expected a positive integer, got 0");
    expect_err(one("{'conv2d': {'filters': 8, 'kernel': [3, 3, 3]}}"), "body[0].conv2d.kernel",
               "expected a positive integer, [h, w] or \"input\", got an array of 3 elements");
    expect_err(one("{'conv2d': {'filters': 8, 'kernel': 3, 'strid': 1}}"),
               "body[0].conv2d.strid",
               "unknown key 'strid' in the arguments of conv2d; allowed: name, filters, kernel, "
               "stride, padding, rate, activation, normalizer, normalizer_args, use_bias, "
               "weights_initializer, biases_initializer, weights_regularizer, "
               "biases_regularizer, trainable");
    expect_err(one("{'conv2d': {'kernel': 3}}"), "body[0].conv2d",
               "conv2d needs \"filters\" (the number of output channels)");
    expect_err(one("{'conv2d': {'filters': 2}}"), "body[0].conv2d", "conv2d needs \"kernel\"");
    expect_err(one("{'conv2d': {'filters': 3.0, 'kernel': 1}}"), "body[0].conv2d.filters",
               "expected a positive integer, got 3.0");
    expect_err(one("{'conv2d': {'filters': 16777217, 'kernel': 1}}"), "body[0].conv2d.filters",
               "expected a positive integer (at most 16777216), got 16777217");
    expect_err(one("{'conv2d': {'filters': 1, 'kernel': 1, 'padding': 'same-ish'}}"),
               "body[0].conv2d.padding", "expected \"SAME\" or \"VALID\", got \"same-ish\"");
    expect_err(one("{'conv2d': {'filters': 1, 'kernel': 1, 'activation': 'gelu'}}"),
               "body[0].conv2d.activation",
               "expected an activation (\"relu\", \"relu6\", \"sigmoid\", \"tanh\", \"none\" or "
               "null), got \"gelu\"");
    expect_err(one("{'conv2d': {'filters': 1, 'kernel': 1, 'normalizer': 'layer_norm'}}"),
               "body[0].conv2d.normalizer", "expected \"batch_norm\" or null, got \"layer_norm\"");
    expect_err(one("{'conv2d': {'filters': 1, 'kernel': 1, 'normalizer': 'batch_norm',"
                   " 'use_bias': true}}"),
               "body[0].conv2d.use_bias",
               "use_bias cannot be true when a normalizer is set (slim creates no biases then)");
    expect_err(one("{'conv2d': {'filters': 1, 'kernel': 1, 'normalizer': 'batch_norm',"
                   " 'normalizer_args': {'momentum': 0.9}}}"),
               "body[0].conv2d.normalizer_args.momentum",
               "unknown key 'momentum' in normalizer_args; allowed: center, scale, epsilon, decay");
    expect_err(one("{'batch_norm': {'epsilon': 0}}"), "body[0].batch_norm.epsilon",
               "expected a number > 0, got 0");
    expect_err(one("{'batch_norm': {'decay': 1.5}}"), "body[0].batch_norm.decay",
               "expected a number in [0, 1], got 1.5");
    expect_err(one("{'batch_norm': {'scale': 1}}"), "body[0].batch_norm.scale",
               "expected true or false, got 1");
    expect_err(one("{'dropout': {'keep_prob': 0}}"), "body[0].dropout.keep_prob",
               "expected a probability in (0, 1], got 0");
    expect_err(one("{'dense': {'units': 1, 'kernel_regularizer': {'l1': 0.1}}}"),
               "body[0].dense.kernel_regularizer.l1",
               "unknown key 'l1' in a regularizer; allowed: l2");
    expect_err(one("{'dense': {'units': 1, 'kernel_regularizer': 0.1}}"),
               "body[0].dense.kernel_regularizer",
               "expected a regularizer ({\"l2\": scale} or null), got 0.1");
    expect_err(one("{'dense': {'units': 1, 'bias_regularizer': {'l2': -1}}}"),
               "body[0].dense.bias_regularizer.l2", "expected a number >= 0, got -1");
    expect_err(one("{'dense': {}}"), "body[0].dense", "dense needs \"units\"");
    expect_err(one("{'fully_connected': {'units': 3}}"), "body[0].fully_connected.units",
               "unknown key 'units' in the arguments of fully_connected");
    expect_err(one("{'max_pool2d': {}}"), "body[0].max_pool2d", "max_pool2d needs \"kernel\"");
    expect_err(one("{'relu': []}"), "body[0].relu",
               "expected an object of layer arguments ({} for none), got an empty array");
    expect_err(one("{'relu': {'inputs': ['a']}}"), "body[0].relu.inputs",
               "unknown key 'inputs' in the arguments of relu; allowed: name");
    expect_err(one("{'reshape': {'shape': [-1, 2, -1]}}"), "body[0].reshape.shape[2]",
               "only one dimension of a shape may be -1");
    expect_err(one("{'reshape': {'shape': [1, 2, 3, 4, 5, 6, 7]}}"), "body[0].reshape.shape",
               "expected a shape (an array of integers >= 0, one may be -1) of at most 6 "
               "dimensions, got an array of 7 elements");
    expect_err(one("{'variable': {'shape': [1099511627776, 2], 'initializer': 'zeros'}}"),
               "body[0].variable.shape",
               "the shape has too many elements (at most 1099511627776)");
    expect_err(one("{'concat': {}}"), "body[0].concat",
               "concat needs \"inputs\" (the tensors to join, in order)");
    expect_err(one("{'concat': {'inputs': ['input'], 'axis': 6}}"), "body[0].concat.axis",
               "expected an axis from -6 to 5, got 6");
    expect_err(one("{'add': {}}"), "body[0].add",
               "add needs \"inputs\" ([a, b], or [a] with the current tensor) or \"value\"");
    expect_err(one("{'sub': {'inputs': ['input'], 'value': 1}}"), "body[0].sub",
               "sub takes \"inputs\" or \"value\", not both");
    expect_err(one("{'mul': {'inputs': ['input', 'input', 'input']}}"), "body[0].mul.inputs",
               "expected an array of 1 or 2 tensor names, got an array of 3 elements");
    expect_err(one("{'mean': {'axes': [1, 1]}}"), "body[0].mean.axes[1]",
               "axis 1 is listed twice");
    expect_err(one("{'mean': {'axes': [-1]}}"), "body[0].mean.axes[0]",
               "expected an axis from 0 to 5, got -1");
    expect_err(one("{'mean': {}}"), "body[0].mean", "mean needs \"axes\"");
    expect_err(one("{'constant': {'data': [[1, 2], [3]]}}"), "body[0].constant.data[1]",
               "expected an array of 2 elements (tensor data is rectangular), got an array of "
               "1 element");
    expect_err(one("{'constant': {'data': [1, 'a']}}"), "body[0].constant.data[1]",
               "expected a number (tensor data), got \"a\"");
    expect_err(one("{'constant': {'data': [1e39]}}"), "body[0].constant.data[0]",
               "expected a number that fits in float32, got 1e+39");
    expect_err(one("{'constant': {'data': [[[[[[[1]]]]]]]}}"), "body[0].constant.data",
               "tensor data nests deeper than rank 6");
    expect_err(one("{'constant': {'shape': [5000, 5000], 'data': 1}}"), "body[0].constant.data",
               "a constant filled from one number may have at most 16777216 elements, "
               "\"shape\" asks for 25000000");
    expect_err(one("{'variable': {'shape': [2, 3], 'values': [[1, 2], [3, 4], [5, 6]]}}"),
               "body[0].variable.values", "the values have shape [3, 2] but \"shape\" is [2, 3]");
    expect_err(one("{'variable': {'shape': [2]}}"), "body[0].variable",
               "variable needs \"values\" or \"initializer\" (tf.Variable needs an initial value)");
    expect_err(one("{'variable': {'values': 1, 'initializer': 'zeros'}}"), "body[0].variable",
               "variable takes \"initializer\" or \"values\", not both");
    expect_err(one("{'variable': {'initializer': 'zeros'}}"), "body[0].variable",
               "variable needs \"shape\" (unless the initial value is inline data)");
    expect_err(one("{'get_variable': {'shape': [1]}}"), "body[0].get_variable",
               "get_variable needs \"name\" (get_variable looks variables up by name)");
    expect_err(one("{'get_variable': {'name': 'b', 'shape': [1], 'reuse': 'yes'}}"),
               "body[0].get_variable.reuse",
               "expected true, false or null (inherit), got \"yes\"");
    expect_err(one("{'conv2d': {'name': 'a/b', 'filters': 1, 'kernel': 1}}"),
               "body[0].conv2d.name", "expected a scope name (letters, digits, '.', '_', '-'");
    expect_err(one("{'conv2d': {'name': '', 'filters': 1, 'kernel': 1}}"), "body[0].conv2d.name",
               "expected a scope name");
}
END_TEST

START_TEST(errors_initializers)
{
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': 'foo'}}"),
               "body[0].dense.kernel_initializer",
               "unknown initializer \"foo\"; known: zeros, ones, constant, random_uniform");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': 3}}"),
               "body[0].dense.kernel_initializer",
               "expected an initializer (a name, {\"kind\": ...} or {\"values\": ...}), got 3");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'stddev': 1}}}"),
               "body[0].dense.kernel_initializer",
               "an initializer object needs \"kind\" (zeros, ones");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': 'zeros', 'value': 1}}}"),
               "body[0].dense.kernel_initializer.value",
               "unknown key 'value' in a zeros initializer; allowed: kind");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': 'random_normal',"
                   " 'stddev': -1}}}"),
               "body[0].dense.kernel_initializer.stddev", "expected a number >= 0, got -1");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': 'variance_scaling',"
                   " 'scale': 0}}}"),
               "body[0].dense.kernel_initializer.scale", "expected a number > 0, got 0");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': 'variance_scaling',"
                   " 'mode': 'fan'}}}"),
               "body[0].dense.kernel_initializer.mode",
               "expected \"fan_in\", \"fan_out\" or \"fan_avg\", got \"fan\"");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': 'variance_scaling',"
                   " 'distribution': 'cauchy'}}}"),
               "body[0].dense.kernel_initializer.distribution",
               "expected \"truncated_normal\", \"normal\", \"untruncated_normal\" or \"uniform\", "
               "got \"cauchy\"");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'values': [1], 'kind': 'ones'}}}"),
               "body[0].dense.kernel_initializer.kind",
               "unknown key 'kind' in an inline initializer; allowed: values");
    expect_err(one("{'dense': {'units': 1, 'kernel_initializer': {'kind': '$$zeros'}}}"),
               "body[0].dense.kernel_initializer.kind", "unknown initializer \"$zeros\"");
}
END_TEST

START_TEST(errors_statements)
{
    expect_err(one("{'conv3d': {}}"), "body[0]",
               "the statement has no construct: expected one key of conv2d, fully_connected, "
               "dense, batch_norm, max_pool2d, avg_pool2d, dropout, flatten, reshape, concat, "
               "add, sub, mul, relu, relu6, sigmoid, tanh, softmax, mean, identity, constant, "
               "variable, get_variable, random_uniform, scope, defaults, branches, residual, block, repeat, if");
    expect_err(one("{'relu': {}, 'tanh': {}}"), "body[0]",
               "the statement has two constructs, 'relu' and 'tanh': write one per statement");
    expect_err(one("{'relu': {}, 'scope': 'x'}"), "body[0]",
               "the statement has two constructs, 'relu' and 'scope'");
    expect_err(one("{'relu': {}, 'when': 1}"), "body[0].when",
               "unknown key 'when' in a relu statement; allowed: relu, as, endpoint, input, doc");
    expect_err(one("[]"), "body[0]",
               "expected a statement (an object such as {\"conv2d\": {...}}), got an empty array");
    expect_err(one("'$x'"), "body[0]", "expected a statement");
    expect_err(one("{'relu': {}, 'doc': 3}"), "body[0].doc", "expected a string, got 3");
    expect_err(one("{'relu': {}, 'as': 3}"), "body[0].as", "expected a tensor name");
    expect_err(one("{'relu': {}, 'as': 'input'}"), "body[0].as",
               "\"input\" is the model input's name; choose another");
    expect_err(one("{'relu': {}, 'input': 'nope'}"), "body[0].input",
               "unknown tensor 'nope': no earlier statement saves it with \"as\" or \"endpoint\" "
               "(\"input\" is the model input)");
    expect_err(one("{'concat': {'inputs': ['input', 'later']}}"), "body[0].concat.inputs[1]",
               "unknown tensor 'later'");
    expect_err(one("{'constant': {'data': 1}, 'input': 'input'}"), "body[0].input",
               "\"input\" has no meaning here: this constant reads no current tensor");
    expect_err(one("{'add': {'inputs': ['input', 'input']}, 'input': 'input'}"), "body[0].input",
               "\"input\" has no meaning here: this add reads no current tensor (it reads its "
               "\"inputs\")");
    expect_err("{'body': [{'relu': {}, 'endpoint': 'e'}, {'relu': {}, 'endpoint': 'e'}],"
               " 'outputs': ['e']}",
               "body[1].endpoint", "endpoint 'e' is already reported by the statement at body[0]");
    expect_err(one("{'scope': 3, 'body': []}"), "body[0].scope",
               "expected a scope name or {\"default_name\": name}, got 3");
    expect_err(one("{'scope': {'name': 'x'}, 'body': []}"), "body[0].scope.name",
               "unknown key 'name' in a scope; allowed: default_name");
    expect_err(one("{'scope': 'x'}"), "body[0]", "a scope statement needs \"body\": [statements]");
    expect_err(one("{'scope': 'x', 'body': {}}"), "body[0].body",
               "expected an array of statements, got an empty object");
    expect_err(one("{'defaults': {'conv3d': {}}, 'body': []}"), "body[0].defaults.conv3d",
               "unknown layer type 'conv3d' in defaults; known: conv2d");
    expect_err(one("{'defaults': {'conv2d': {'name': 'x'}}, 'body': []}"),
               "body[0].defaults.conv2d.name",
               "unknown key 'name' in the defaults for conv2d; allowed: filters, kernel");
    expect_err(one("{'defaults': {'conv2d': {'stride': 0}}, 'body': []}"),
               "body[0].defaults.conv2d.stride", "expected a positive integer or [h, w], got 0");
    expect_err(one("{'defaults': {}, 'body': [], 'as': 'x'}"), "body[0].as",
               "\"as\" is not allowed on a defaults statement (it makes no node of its own): put "
               "it on a statement in its body");
    expect_err(one("{'defaults': []}"), "body[0].defaults",
               "expected an object of per-layer defaults");
    expect_err(one("{'branches': []}"), "body[0].branches",
               "expected an array of 1 to 64 branches (each an array of statements), got an "
               "empty array");
    expect_err(one("{'branches': [[{'relu': {}}], {}]}"), "body[0].branches[1]",
               "expected an array of statements, got an empty object");
    expect_err(one("{'branches': [[]], 'axis': 'last'}"), "body[0].axis",
               "expected an axis from -6 to 5, got \"last\"");
    expect_err(one("{'residual': [], 'as': 'r'}"), "body[0].residual",
               "expected {\"scale\": number, \"activation\": name or null, \"body\": "
               "[statements]}, got an empty array");
    expect_err(one("{'residual': {'scale': 'big', 'body': []}}"), "body[0].residual.scale",
               "expected a number, got \"big\"");
    expect_err(one("{'residual': {'scale': 1}}"), "body[0].residual",
               "a residual needs \"body\": [statements]");
    expect_err(one("{'residual': {'body': [], 'act': null}}"), "body[0].residual.act",
               "unknown key 'act' in a residual; allowed: scale, activation, body");
    expect_err(one("{'if': true}"), "body[0]", "an if statement needs \"body\": [statements]");
    expect_err(one("{'if': true, 'body': [], 'else': {}}"), "body[0].else",
               "expected an array of statements, got an empty object");
    expect_err(one("{'if': {'not': 1, 'all': []}, 'body': []}"), "body[0].if",
               "a condition object has exactly one of \"not\", \"all\", \"any\"");
    expect_err(one("{'if': {'any': 1}, 'body': []}"), "body[0].if.any",
               "expected an array of conditions, got 1");
    expect_err(one("{'if': {'xor': 1}, 'body': []}"), "body[0].if.xor",
               "unknown key 'xor' in a condition; allowed: not, all, any");
    expect_err(one("{'if': '$nope', 'body': []}"), "body[0].if",
               "unknown parameter $nope (the model has none)");
    expect_err(one("{'if': false, 'body': [], 'input': 'input'}"), "body[0].input",
               "\"input\" is not allowed on an if statement");
}
END_TEST

START_TEST(errors_model_level)
{
    expect_err("[]", "", "expected a model (a JSON object), got an empty array");
    expect_err("{'body': [], 'outputs': ['input'], 'layers': []}", "layers",
               "unknown key 'layers' in a model; allowed: name, description, doc, params, input, "
               "defaults, blocks, body, outputs");
    expect_err("{'outputs': ['input']}", "", "the model needs \"body\": [statements]");
    expect_err("{'body': []}", "", "the model needs \"outputs\": [tensor or endpoint names]");
    expect_err("{'body': [], 'outputs': []}", "outputs",
               "expected an array of 1 to 1024 tensor names, got an empty array");
    expect_err("{'body': [{'relu': {}, 'as': 'x'}], 'outputs': ['x', 'y']}", "outputs[1]",
               "unknown tensor 'y': no statement saves it with \"as\" or \"endpoint\"");
    expect_err("{'name': 3, 'body': [], 'outputs': ['input']}", "name",
               "expected a string, got 3");
    expect_err("{'body': [], 'outputs': ['input'], 'input': {'shape': [0, 3]}}",
               "input.shape[0]", "expected a positive integer or null (any size), got 0");
    expect_err("{'body': [], 'outputs': ['input'], 'input': {'shape': []}}", "input.shape",
               "expected a shape of 1 to 6 dimensions (null for any size), got an empty array");
    expect_err("{'body': [], 'outputs': ['input'], 'input': {'dims': [1]}}", "input.dims",
               "unknown key 'dims' in the input; allowed: shape");
    expect_err("{'body': [], 'outputs': ['input'], 'input': {}}", "input",
               "the input needs \"shape\"");
    /* parameters */
    expect_err("{'params': [], 'body': [], 'outputs': ['input']}", "params",
               "expected an object of parameters");
    expect_err("{'params': {'1x': {}}, 'body': [], 'outputs': ['input']}", "params.1x",
               "a parameter name is an identifier");
    expect_err("{'params': {'x': 3}, 'body': [], 'outputs': ['input']}", "params.x",
               "expected {\"default\": value, \"doc\": text} for a parameter of the model, got 3");
    expect_err("{'params': {'x': {'value': 3}}, 'body': [], 'outputs': ['input']}",
               "params.x.value", "unknown key 'value' in a parameter; allowed: default, doc");
    expect_err("{'params': {'x': {'doc': 3}}, 'body': [], 'outputs': ['input']}",
               "params.x.doc", "expected a string, got 3");
    expect_err("{'params': {'x': {}}, 'body': [], 'outputs': ['input']}", "params.x",
               "parameter 'x' has no default and args do not set it");
    expect_err_args("{'params': {'n': {'default': 1}}, 'body': [], 'outputs': ['input']}",
                    "{'n': 2, 'q': 1}", EQ_ERR_INVALID, "args.q",
                    "unknown parameter 'q'; the model's parameters: n");
    expect_err_args("{'params': {'n': {'default': 1}}, 'body': [{'dense': {'units': '$n'}}],"
                    " 'outputs': ['input']}",
                    "{'n': 'many'}", EQ_ERR_INVALID, "args.n",
                    "expected a positive integer, got \"many\" (the value of $n used at "
                    "body[0].dense.units)");
    expect_err_args("{'body': [], 'outputs': ['input']}", "[1]", EQ_ERR_INVALID, "args",
                    "expected an object of model arguments, got an array of 1 element");
    expect_err("{'params': {'n': {'default': '$m'}}, 'body': [{'dense': {'units': '$n'}}],"
               " 'outputs': ['input']}",
               "params.n.default",
               "parameter references are not allowed here (write \"$$m\" for the literal string "
               "\"$m\") (the value of $n used at body[0].dense.units)");
    expect_err("{'params': {'n': {'default': 1}}, 'body': [{'dense': {'units': '$m'}}],"
               " 'outputs': ['input']}",
               "body[0].dense.units", "unknown parameter $m (the model has n)");
}
END_TEST

START_TEST(errors_blocks)
{
    expect_err("{'blocks': [], 'body': [], 'outputs': ['input']}", "blocks",
               "expected an object of blocks");
    expect_err("{'blocks': {'_b': {'body': []}}, 'body': [], 'outputs': ['input']}", "blocks._b",
               "a block name is letters, digits and '_', starting with a letter");
    expect_err("{'blocks': {'b': []}, 'body': [], 'outputs': ['input']}", "blocks.b",
               "expected a block");
    expect_err("{'blocks': {'b': {'body': [], 'scope': 'x'}}, 'body': [], 'outputs': ['input']}",
               "blocks.b.scope",
               "unknown key 'scope' in a block; allowed: params, default_scope, body, doc");
    expect_err("{'blocks': {'b': {}}, 'body': [], 'outputs': ['input']}", "blocks.b",
               "a block needs \"body\": [statements], got nothing");
    expect_err("{'blocks': {'b': {'body': [], 'default_scope': '$s'}}, 'body': [],"
               " 'outputs': ['input']}",
               "blocks.b.default_scope", "parameter references are not allowed here");
    expect_err("{'blocks': {'b': {'body': [], 'params': {'x': {'default': 1, 'type': 'int'}}}},"
               " 'body': [], 'outputs': ['input']}",
               "blocks.b.params.x.type", "unknown key 'type' in a parameter");
    expect_err("{'blocks': {'b': {'body': []}}, 'body': [{'block': 'c'}], 'outputs': ['input']}",
               "body[0].block", "unknown block 'c'; defined: b");
    /* found statically, inside an if arm that is not taken */
    expect_err("{'body': [{'if': false, 'body': [{'repeat': {'count': 1, 'block': 'zz'}}]}],"
               " 'outputs': ['input']}",
               "body[0].body[0].repeat.block", "unknown block 'zz'; defined: none");
    expect_err("{'blocks': {'a': {'body': [{'block': 'a'}]}}, 'body': [], 'outputs': ['input']}",
               "blocks.a.body[0].block", "blocks call each other in a cycle: a -> a");
    expect_err("{'blocks': {'b': {'body': []}}, 'body': [{'block': 3}], 'outputs': ['input']}",
               "body[0].block", "expected a block name, got 3");
    expect_err("{'blocks': {'b': {'params': {'x': {'default': 1}}, 'body': []}},"
               " 'body': [{'block': 'b', 'args': {'y': 2}}], 'outputs': ['input']}",
               "body[0].args.y", "block 'b' has no parameter 'y'; its parameters: x");
    expect_err("{'blocks': {'b': {'params': {'x': {}}, 'body': []}},"
               " 'body': [{'block': 'b'}], 'outputs': ['input']}",
               "body[0]", "block 'b' needs the argument 'x' (it has no default)");
    expect_err("{'blocks': {'b': {'body': []}}, 'body': [{'block': 'b', 'args': 3}],"
               " 'outputs': ['input']}",
               "body[0].args", "expected an object of block arguments, got 3");
    expect_err("{'blocks': {'b': {'body': [{'relu': {'a': 1}}]}},"
               " 'body': [{'relu': {}}, {'block': 'b'}], 'outputs': ['input']}",
               "blocks.b.body[0].relu.a",
               "unknown key 'a' in the arguments of relu; allowed: name; in block 'b' called at "
               "body[1]");
    /* a block parameter resolves in the block, then the model; not the caller */
    expect_err("{'blocks': {'b': {'body': [{'dense': {'units': '$u'}}]},"
               "            'c': {'params': {'u': {'default': 1}}, 'body': [{'block': 'b'}]}},"
               " 'body': [{'block': 'c'}], 'outputs': ['input']}",
               "blocks.b.body[0].dense.units",
               "unknown parameter $u (block 'b' has none; the model has none); in block 'b' "
               "called at blocks.c.body[0]; in block 'c' called at body[0]");
    expect_err("{'blocks': {'b': {'body': []}},"
               " 'body': [{'repeat': {'count': 0, 'block': 'b'}}], 'outputs': ['input']}",
               "body[0].repeat.count", "expected a positive integer, got 0");
    expect_err("{'blocks': {'b': {'body': []}},"
               " 'body': [{'repeat': {'count': 10001, 'block': 'b'}}], 'outputs': ['input']}",
               "body[0].repeat.count", "expected a positive integer (at most 10000), got 10001");
    expect_err("{'blocks': {'b': {'body': []}},"
               " 'body': [{'repeat': {'block': 'b'}}], 'outputs': ['input']}",
               "body[0].repeat", "repeat needs \"count\"");
    expect_err("{'body': [{'repeat': {'count': 2}}], 'outputs': ['input']}", "body[0].repeat",
               "repeat needs \"block\"");
    expect_err("{'body': [{'repeat': {'count': 2, 'layer': 'relu'}}], 'outputs': ['input']}",
               "body[0].repeat.layer",
               "unknown key 'layer' in a repeat; allowed: count, block, args, scope");
    char text[1024];
    snprintf(text, sizeof text,
             "{'blocks': {'b': {'body': []}}, 'body': [{'repeat': {'count': 1, 'block': 'b',"
             " 'scope': '%0191d'}}], 'outputs': ['input']}",
             0);
    expect_err(text, "body[0].repeat.scope", "a repeat's scope name has at most 190 characters");
    expect_err("{'body': [{'repeat': 2}], 'outputs': ['input']}", "body[0].repeat",
               "expected {\"count\": n, \"block\": name, \"args\": {...}}, got 2");
}
END_TEST

START_TEST(errors_fixture_files)
{
    eq_error err;
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/bad_stride.json"), NULL,
                                           &err));
    ck_assert_str_eq(err.path, "body[3].conv2d.stride");
    ck_assert_msg(ends_with(err.message, "bad_stride.json: expected a positive integer or [h, w], "
                                         "got -1"),
                  "%s", err.message);
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/block_cycle.json"),
                                           NULL, &err));
    ck_assert_str_eq(err.path, "blocks.c.body[0].body[0].block");
    ck_assert(ends_with(err.message, "block_cycle.json: blocks call each other in a cycle: "
                                     "a -> b -> c -> a"));
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/bad_block_arg.json"),
                                           NULL, &err));
    ck_assert_str_eq(err.path, "params.width.default");
    ck_assert_msg(ends_with(err.message,
                            ".json: expected a positive integer, got \"wide\" (the value of "
                            "$filters used at blocks.unit.body[0].conv2d.filters); in block "
                            "'unit' called at body[1].repeat"),
                  "%s", err.message);
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/unknown_output.json"),
                                           NULL, &err));
    ck_assert_str_eq(err.path, "outputs[1]");
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/not_a_model.json"),
                                           NULL, &err));
    ck_assert_str_eq(err.path, "");
    ck_assert_ptr_nonnull(strstr(err.message, "not_a_model.json: expected a model"));
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/truncated.json"), NULL,
                                           &err));
    ck_assert_int_eq(err.status, EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "truncated.json: invalid JSON at line 2"));
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/duplicate_key.json"),
                                           NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "duplicate object key"));
    ck_assert_ptr_null(eq_model_parse_file(src_path("tests/fixtures/model/missing.json"), NULL,
                                           &err));
    ck_assert_int_eq(err.status, EQ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "cannot read the model file"));
    ck_assert_ptr_null(eq_model_parse_string("{\"body\": [", NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "invalid JSON at line 1, column"));
}
END_TEST

START_TEST(errors_limits)
{
    /* 70 nested scopes */
    char *text = malloc(1 << 16);
    size_t len = 0;
    len += (size_t)sprintf(text + len, "{\"body\": [");
    for (int i = 0; i < 70; i++)
        len += (size_t)sprintf(text + len, "{\"scope\": \"s\", \"body\": [");
    for (int i = 0; i < 70; i++)
        len += (size_t)sprintf(text + len, "]}");
    sprintf(text + len, "], \"outputs\": [\"input\"]}");
    eq_error err;
    ck_assert_ptr_null(eq_model_parse_string(text, NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_LIMIT);
    ck_assert_str_eq(err.message, "statements and block calls nest deeper than 64 levels");
    /* a chain of 70 blocks: b0 calls b1 calls ... */
    len = (size_t)sprintf(text, "{\"blocks\": {");
    for (int i = 0; i < 70; i++)
        len += (size_t)sprintf(text + len, "%s\"b%d\": {\"body\": [%s%d%s]}", i ? ", " : "", i,
                               i < 69 ? "{\"block\": \"b" : "", i + 1, i < 69 ? "\"}" : "");
    sprintf(text + len, "}, \"body\": [], \"outputs\": [\"input\"]}");
    /* the last block's body is "[70]": never reached, the depth stops first */
    ck_assert_ptr_null(eq_model_parse_string(text, NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_LIMIT);
    ck_assert_str_eq(err.message, "blocks call each other more than 64 deep");
    /* too many expanded statements: 10000 x 11 */
    ck_assert_ptr_null(parse_args(
        "{'blocks': {'b': {'body': [{'relu': {}}, {'relu': {}}, {'relu': {}}, {'relu': {}},"
        " {'relu': {}}, {'relu': {}}, {'relu': {}}, {'relu': {}}, {'relu': {}}, {'relu': {}}]}},"
        " 'body': [{'repeat': {'count': 10000, 'block': 'b'}}], 'outputs': ['input']}",
        NULL, &err));
    ck_assert_int_eq(err.status, EQ_ERR_LIMIT);
    /* node 100001: 1 + 11 * 9090 + 10, the 9th relu of the 9091st copy */
    ck_assert_str_eq(err.path, "blocks.b.body[8]");
    ck_assert_ptr_nonnull(strstr(err.message, "more than 100000 statements"));
    free(text);
}
END_TEST

/* ---- the zoo ---------------------------------------------------------------- */

static const char *const zoo_files[] = {
    "inception_resnet_v2.json", "small_cnn.json", "mlp.json", "scaling_broken.json",
    "scaling_fixed.json", "unnamed_layers_broken.json", "unnamed_layers_fixed.json", NULL};

static eq_model *zoo(const char *file, const char *args)
{
    char rel[256];
    snprintf(rel, sizeof rel, "engine/zoo/%s", file);
    json_t *a = NULL;
    if (args) {
        char *at = q(args);
        a = json_loads(at, 0, NULL);
        free(at);
    }
    eq_error err;
    eq_model *m = eq_model_parse_file(src_path(rel), a, &err);
    json_decref(a);
    if (!m)
        ck_abort_msg("%s: %s: %s", file, err.path, err.message);
    return m;
}

START_TEST(zoo_files_parse)
{
    for (const char *const *f = zoo_files; *f; f++) {
        eq_model *m = zoo(*f, NULL);
        ck_assert_int_gt(m->n_body, 0);
        ck_assert_int_gt(m->n_outputs, 0);
        ck_assert_ptr_nonnull(m->description);
        eq_model_free(m);
    }
}
END_TEST

typedef struct counts {
    int nodes, bn_convs, up_projections, fcs, endpoints;
    const char *endpoint[32];
} counts;

static void count_nodes(eq_node *const *body, int n, counts *c)
{
    for (int i = 0; i < n; i++) {
        const eq_node *x = body[i];
        c->nodes++;
        switch (x->kind) {
        case EQ_NODE_LAYER:
            if (x->layer.type == EQ_LAYER_CONV2D && x->layer.has_normalizer)
                c->bn_convs++;
            else if (x->layer.type == EQ_LAYER_CONV2D)
                c->up_projections++;
            else if (x->layer.type == EQ_LAYER_FULLY_CONNECTED)
                c->fcs++;
            break;
        case EQ_NODE_BRANCHES:
            for (int b = 0; b < x->n_branches; b++)
                count_nodes(x->branches[b], x->n_branch_body[b], c);
            break;
        default:
            count_nodes(x->body, x->n_body, c);
            break;
        }
        if (x->endpoint && c->endpoints < 32)
            c->endpoint[c->endpoints++] = x->endpoint;
    }
}

START_TEST(zoo_inception_resnet_v2_counts)
{
    static const char *const endpoints[] = {
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1",
        "Conv2d_4a_3x3", "MaxPool_5a_3x3", "Mixed_5b", "Mixed_6a", "PreAuxLogits", "Mixed_7a",
        "Conv2d_7b_1x1", "AuxLogits", "global_pool", "PreLogitsFlatten", "Logits",
        "Predictions"};
    eq_model *m = zoo("inception_resnet_v2.json", NULL);
    counts c = {0};
    count_nodes(m->body, m->n_body, &c);
    ck_assert_int_eq(c.nodes, 492);
    ck_assert_int_eq(c.bn_convs, 206);
    ck_assert_int_eq(c.up_projections, 40);
    ck_assert_int_eq(c.fcs, 2);
    /* endpoints in execution order; a node's endpoint is recorded after its
     * children, so the order of the walk is the order of end_points */
    ck_assert_int_eq(c.endpoints, 17);
    for (int i = 0; i < 17; i++)
        ck_assert_str_eq(c.endpoint[i], endpoints[i]);
    ck_assert_int_eq(m->n_outputs, 1);
    ck_assert_str_eq(m->outputs[0], "Logits");
    ck_assert_int_eq(m->input_rank, 4);
    ck_assert_int_eq(m->input_shape[0], -1);
    ck_assert_int_eq(m->input_shape[1], 299);
    eq_model_free(m);
    m = zoo("inception_resnet_v2.json", "{'create_aux_logits': false}");
    counts d = {0};
    count_nodes(m->body, m->n_body, &d);
    ck_assert_int_eq(d.bn_convs, 204);
    ck_assert_int_eq(d.up_projections, 40);
    ck_assert_int_eq(d.fcs, 1);
    ck_assert_int_eq(d.endpoints, 16);
    eq_model_free(m);
}
END_TEST

/* Variable names the way TF-Slim would make them from this AST: scopes by
 * name (default names made unique within their parent), conv units with
 * BatchNorm (gamma before beta), up-projections and FCs with biases. This
 * is a stand-in for the interpreter that checks the statement order and the
 * scope names against the spec's manifest. */
typedef struct namer {
    char **names;
    int n, cap;
    char *used[4096]; /* full scope names opened so far */
    int n_used;
} namer;

static void add_name(namer *w, const char *scope, const char *leaf)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->names = realloc(w->names, (size_t)w->cap * sizeof *w->names);
    }
    size_t len = strlen(scope) + strlen(leaf) + 8;
    w->names[w->n] = malloc(len);
    snprintf(w->names[w->n++], len, "%s/%s:0", scope, leaf);
}

static int scope_used(namer *w, const char *full)
{
    for (int i = 0; i < w->n_used; i++)
        if (strcmp(w->used[i], full) == 0)
            return 1;
    return 0;
}

static void name_nodes(namer *w, eq_node *const *body, int n, const char *scope)
{
    char full[1024];
    for (int i = 0; i < n; i++) {
        const eq_node *x = body[i];
        if (x->kind == EQ_NODE_LAYER) {
            const eq_layer *l = &x->layer;
            if (l->type != EQ_LAYER_CONV2D && l->type != EQ_LAYER_FULLY_CONNECTED)
                continue;
            snprintf(full, sizeof full, "%s/%s", scope, l->name ? l->name : l->default_scope);
            add_name(w, full, "weights");
            if (l->has_normalizer) {
                if (l->bn.scale)
                    add_name(w, full, "BatchNorm/gamma");
                if (l->bn.center)
                    add_name(w, full, "BatchNorm/beta");
                add_name(w, full, "BatchNorm/moving_mean");
                add_name(w, full, "BatchNorm/moving_variance");
            } else if (l->use_bias) {
                add_name(w, full, "biases");
            }
        } else if (x->kind == EQ_NODE_SCOPE) {
            if (x->scope_name) {
                snprintf(full, sizeof full, "%s%s%s", scope, scope[0] ? "/" : "", x->scope_name);
            } else {
                snprintf(full, sizeof full, "%s%s%s", scope, scope[0] ? "/" : "",
                         x->default_name);
                for (int k = 1; scope_used(w, full); k++)
                    snprintf(full, sizeof full, "%s%s%s_%d", scope, scope[0] ? "/" : "",
                             x->default_name, k);
            }
            if (!scope_used(w, full) && w->n_used < 4096)
                w->used[w->n_used++] = strdup(full);
            char inner[1024];
            snprintf(inner, sizeof inner, "%s", full);
            name_nodes(w, x->body, x->n_body, inner);
        } else if (x->kind == EQ_NODE_BRANCHES) {
            for (int b = 0; b < x->n_branches; b++)
                name_nodes(w, x->branches[b], x->n_branch_body[b], scope);
        } else {
            name_nodes(w, x->body, x->n_body, scope);
        }
    }
}

static void namer_free(namer *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->names[i]);
    free(w->names);
    for (int i = 0; i < w->n_used; i++)
        free(w->used[i]);
}

static int read_lines(const char *file, char ***out)
{
    FILE *f = fopen(file, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int n = 0, cap = 0;
    char **v = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            v = realloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = strdup(line);
    }
    fclose(f);
    *out = v;
    return n;
}

START_TEST(zoo_inception_resnet_v2_variable_order)
{
    char **want;
    int n_want = read_lines(src_path("tests/fixtures/model/irv2_variable_names.txt"), &want);
    ck_assert_int_eq(n_want, 1114);
    eq_model *m = zoo("inception_resnet_v2.json", NULL);
    namer w = {0};
    name_nodes(&w, m->body, m->n_body, "");
    ck_assert_int_eq(w.n, 1114);
    for (int i = 0; i < w.n; i++)
        ck_assert_msg(strcmp(w.names[i], want[i]) == 0, "variable %d: %s, spec %s", i,
                      w.names[i], want[i]);
    namer_free(&w);
    eq_model_free(m);
    /* no aux head, no gamma: the spec's list without those (898) */
    m = zoo("inception_resnet_v2.json", "{'create_aux_logits': false, 'batch_norm_scale': false}");
    namer v = {0};
    name_nodes(&v, m->body, m->n_body, "");
    int k = 0;
    for (int i = 0; i < n_want; i++) {
        if (strstr(want[i], "/AuxLogits/") || strstr(want[i], "/gamma:0"))
            continue;
        ck_assert_int_lt(k, v.n);
        ck_assert_str_eq(v.names[k], want[i]);
        k++;
    }
    ck_assert_int_eq(k, 898);
    ck_assert_int_eq(v.n, 898);
    namer_free(&v);
    eq_model_free(m);
    for (int i = 0; i < n_want; i++)
        free(want[i]);
    free(want);
}
END_TEST

static const eq_layer *find_layer(eq_node *const *body, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        const eq_node *x = body[i];
        if (x->kind == EQ_NODE_LAYER && x->layer.name && strcmp(x->layer.name, name) == 0)
            return &x->layer;
        const eq_layer *l = NULL;
        if (x->kind == EQ_NODE_BRANCHES) {
            for (int b = 0; b < x->n_branches && !l; b++)
                l = find_layer(x->branches[b], x->n_branch_body[b], name);
        } else if (x->kind != EQ_NODE_LAYER) {
            l = find_layer(x->body, x->n_body, name);
        }
        if (l)
            return l;
    }
    return NULL;
}

START_TEST(zoo_inception_resnet_v2_layer_details)
{
    eq_model *m = zoo("inception_resnet_v2.json", NULL);
    const eq_layer *c1 = find_layer(m->body, m->n_body, "Conv2d_1a_3x3");
    ck_assert_int_eq(c1->stride[0], 2);
    ck_assert_int_eq(c1->padding, EQ_PAD_VALID);
    ck_assert_int_eq(c1->activation, EQ_ACT_RELU);
    ck_assert_int_eq(c1->use_bias, 0);
    ck_assert_int_eq(c1->bn.scale, 1);
    ck_assert_double_eq(c1->bn.decay, 0.9997);
    ck_assert_double_eq(c1->bn.epsilon, 0.001);
    ck_assert_double_eq(c1->weights_l2, 4e-5);
    ck_assert_str_eq(c1->weights_init.kind, "xavier_uniform");
    const eq_layer *c2b = find_layer(m->body, m->n_body, "Conv2d_2b_3x3");
    ck_assert_int_eq(c2b->padding, EQ_PAD_SAME);
    /* the first up-projection: Repeat/block35_1/Conv2d_1x1 */
    const eq_node *trunk = m->body[0];
    ck_assert_str_eq(trunk->scope_name, "InceptionResnetV2");
    const eq_node *rep = trunk->body[8];
    ck_assert_str_eq(rep->default_name, "Repeat");
    const eq_node *b1 = rep->body[0];
    ck_assert_str_eq(b1->scope_name, "block35_1");
    const eq_node *res = b1->body[0];
    ck_assert_int_eq(res->kind, EQ_NODE_RESIDUAL);
    ck_assert_double_eq(res->scale, 0.17);
    ck_assert_int_eq(res->activation, EQ_ACT_RELU);
    const eq_layer *up = &res->body[1]->layer;
    ck_assert_str_eq(up->name, "Conv2d_1x1");
    ck_assert_int_eq(up->filters, 320);
    ck_assert_int_eq(up->has_normalizer, 0);
    ck_assert_int_eq(up->activation, EQ_ACT_NONE);
    ck_assert_int_eq(up->use_bias, 1);
    ck_assert_double_eq(up->biases_l2, 4e-5);
    /* the last block8: called without a scope, no activation, scale 1 */
    const eq_node *last = trunk->body[13];
    ck_assert_str_eq(last->default_name, "Block8");
    ck_assert_int_eq(last->body[0]->activation, EQ_ACT_NONE);
    ck_assert_double_eq(last->body[0]->scale, 1.0);
    /* heads */
    const eq_node *aux = trunk->body[15];
    ck_assert_str_eq(aux->scope_name, "AuxLogits");
    ck_assert_str_eq(aux->input, "PreAuxLogits");
    const eq_layer *pool = &aux->body[0]->layer;
    ck_assert_int_eq(pool->type, EQ_LAYER_AVG_POOL2D);
    ck_assert_int_eq(pool->kernel[0], 5);
    ck_assert_int_eq(pool->stride[0], 3);
    ck_assert_int_eq(pool->padding, EQ_PAD_VALID);
    const eq_layer *k = &aux->body[2]->layer;
    ck_assert_int_eq(k->kernel_from_input, 1);
    ck_assert_int_eq(k->padding, EQ_PAD_VALID);
    const eq_layer *aux_fc = &aux->body[4]->layer;
    ck_assert_int_eq(aux_fc->filters, 1000);
    ck_assert_int_eq(aux_fc->activation, EQ_ACT_NONE);
    ck_assert_double_eq(aux_fc->weights_l2, 4e-5);
    const eq_node *logits = trunk->body[16];
    ck_assert_str_eq(logits->scope_name, "Logits");
    ck_assert_str_eq(logits->input, "Conv2d_7b_1x1");
    ck_assert_int_eq(logits->body[0]->layer.kernel_from_input, 1);
    ck_assert_int_eq(logits->body[0]->layer.stride[0], 2); /* outside the base arg_scope */
    ck_assert_double_eq(logits->body[2]->layer.keep_prob, 0.8);
    eq_model_free(m);
    m = zoo("inception_resnet_v2.json", "{'num_classes': 10, 'dropout_keep_prob': 0.5}");
    ck_assert_int_eq(find_layer(m->body, m->n_body, "Logits")->filters, 10);
    ck_assert_double_eq(find_layer(m->body, m->n_body, "Dropout")->keep_prob, 0.5);
    eq_model_free(m);
}
END_TEST

START_TEST(zoo_small_examples)
{
    eq_model *b = zoo("scaling_broken.json", NULL), *f = zoo("scaling_fixed.json", NULL);
    ck_assert_int_eq(b->body[0]->layer.type, EQ_LAYER_VARIABLE);
    ck_assert_int_eq(b->body[0]->layer.cache, 0);
    ck_assert_int_eq(f->body[0]->layer.cache, 1);
    ck_assert_int_eq(b->body[0]->layer.shape_rank, 0);
    ck_assert(eq_tensor_f32(b->body[0]->layer.init.values)[0] == 2.0f);
    ck_assert_int_eq(b->body[1]->layer.type, EQ_LAYER_GET_VARIABLE);
    ck_assert_str_eq(b->body[1]->layer.name, "bias");
    ck_assert_str_eq(b->body[1]->layer.init.kind, "zeros");
    ck_assert_str_eq(b->outputs[0], "output");
    eq_model_free(b);
    eq_model_free(f);
    eq_model *u = zoo("unnamed_layers_broken.json", NULL), *n = zoo("unnamed_layers_fixed.json", NULL);
    ck_assert_int_eq(u->n_body, 2);
    ck_assert_ptr_null(u->body[0]->layer.name);
    ck_assert_ptr_null(u->body[1]->layer.name);
    ck_assert_str_eq(u->body[0]->layer.default_scope, "dense");
    ck_assert_str_eq(n->body[0]->layer.name, "dense");
    ck_assert_str_eq(n->body[1]->layer.name, "dense_1");
    eq_model_free(u);
    eq_model_free(n);
    eq_model *s = zoo("small_cnn.json", NULL);
    const eq_layer *c1 = find_layer(s->body, s->n_body, "conv1");
    ck_assert_int_eq(c1->has_normalizer, 1);
    ck_assert_int_eq(c1->bn.scale, 1);
    ck_assert_double_eq(c1->weights_l2, 0.0001);
    ck_assert_int_eq(find_layer(s->body, s->n_body, "logits")->filters, 10);
    eq_model_free(s);
    eq_model *p = zoo("mlp.json", "{'hidden': 64}");
    ck_assert_int_eq(find_layer(p->body, p->n_body, "hidden1")->filters, 64);
    ck_assert_int_eq(find_layer(p->body, p->n_body, "hidden2")->has_normalizer, 1);
    ck_assert_int_eq(find_layer(p->body, p->n_body, "bn1")->type, EQ_LAYER_BATCH_NORM);
    eq_model_free(p);
}
END_TEST

/* ---- the dump --------------------------------------------------------------- */

static void strip_docs(json_t *j)
{
    if (json_is_object(j)) {
        json_object_del(j, "doc");
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
            strip_docs(v);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            strip_docs(v);
    }
}

START_TEST(dump_shows_expansion)
{
    eq_model *m = parse_ok(blocks_model);
    json_t *d = eq_model_dump(m);
    ck_assert_ptr_nonnull(d);
    json_t *rep = json_array_get(json_object_get(d, "body"), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rep, "scope"),
                                                       "default_name")),
                     "Repeat");
    json_t *kids = json_object_get(rep, "body");
    ck_assert_int_eq(json_array_size(kids), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(kids, 1), "scope")),
                     "unit_2");
    ck_assert_str_eq(json_string_value(json_object_get(rep, "endpoint")), "Rep");
    ck_assert_str_eq(json_string_value(json_object_get(rep, "doc")), "body[3]");
    json_t *conv = json_object_get(json_array_get(json_object_get(json_array_get(kids, 0), "body"),
                                                  0),
                                   "conv2d");
    ck_assert_int_eq(json_integer_value(json_object_get(conv, "filters")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(conv, "padding")), "VALID");
    json_decref(d);
    eq_model_free(m);
}
END_TEST

/* parse(dump(m)) dumps to the same JSON, up to the "doc" paths. */
static void check_round_trip(eq_model *m)
{
    json_t *d1 = eq_model_dump(m);
    ck_assert_ptr_nonnull(d1);
    eq_error err;
    eq_model *m2 = eq_model_parse(d1, NULL, NULL, &err);
    if (!m2)
        ck_abort_msg("re-parse of the dump failed: %s: %s", err.path, err.message);
    json_t *d2 = eq_model_dump(m2);
    strip_docs(d1);
    strip_docs(d2);
    ck_assert(json_equal(d1, d2));
    json_decref(d1);
    json_decref(d2);
    eq_model_free(m2);
}

START_TEST(all_constructs_fixture)
{
    eq_error err;
    eq_model *m = eq_model_parse_file(src_path("tests/fixtures/model/all_constructs.json"), NULL,
                                      &err);
    if (!m)
        ck_abort_msg("%s: %s", err.path, err.message);
    ck_assert_int_eq(m->input_shape[3], 8);
    const eq_layer *b = find_layer(m->body, m->n_body, "b");
    ck_assert_int_eq(b->rate[0], 1); /* "$rate" = [1, 2] */
    ck_assert_int_eq(b->rate[1], 2);
    ck_assert_str_eq(b->weights_init.kind, "truncated_normal"); /* a default "$init" */
    ck_assert_double_eq(b->weights_init.stddev, 0.02);
    ck_assert_double_eq(b->bn.decay, 0.99);
    ck_assert_double_eq(find_layer(m->body, m->n_body, "bn")->bn.decay, 0.99);
    const eq_node *net = m->body[0];
    ck_assert_str_eq(net->body[2]->default_name, "Unit");
    ck_assert_str_eq(net->body[4]->scope_name, "leaves");
    ck_assert_str_eq(net->body[4]->body[1]->scope_name, "leaves_2");
    ck_assert_str_eq(net->body[5]->default_name, "Tail");
    ck_assert_int_eq(net->body[6]->layer.type, EQ_LAYER_AVG_POOL2D); /* the if arm */
    ck_assert_str_eq(net->body[6]->path, "body[0].body[6].body[0]");
    ck_assert_int_eq(net->body[8]->layer.type, EQ_LAYER_FLATTEN);
    eq_model_free(m);
    json_t *args = json_pack("{s:b}", "deep", 0);
    m = eq_model_parse_file(src_path("tests/fixtures/model/all_constructs.json"), args, &err);
    json_decref(args);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->body[0]->body[6]->layer.type, EQ_LAYER_IDENTITY); /* else */
    eq_model_free(m);
}
END_TEST

START_TEST(dump_round_trips)
{
    for (const char *const *f = zoo_files; *f; f++) {
        eq_model *m = zoo(*f, NULL);
        check_round_trip(m);
        eq_model_free(m);
    }
    eq_model *m = parse_ok(blocks_model);
    check_round_trip(m);
    eq_model_free(m);
    m = eq_model_parse_file(src_path("tests/fixtures/model/all_constructs.json"), NULL, NULL);
    ck_assert_ptr_nonnull(m);
    check_round_trip(m);
    eq_model_free(m);
    m = parse_ok(
        "{'body': [{'constant': {'data': [[1, 2], [3, 4]]}, 'as': 'c'},"
        " {'variable': {'shape': [2], 'initializer': {'kind': 'random_uniform', 'minval': -1}}},"
        " {'get_variable': {'name': 'g', 'shape': [1], 'reuse': false,"
        "  'initializer': {'kind': 'slim_variance_scaling', 'uniform': true}}},"
        " {'mean': {'axes': [1, 2]}}, {'reshape': {'shape': [-1]}},"
        " {'sub': {'inputs': ['c']}}, {'add': {'value': 1}},"
        " {'branches': [[{'relu': {}}], []], 'axis': 1},"
        " {'residual': {'scale': 0.5, 'activation': 'relu6', 'body': [{'tanh': {}}]}},"
        " {'batch_norm': {'scale': true}}, {'dropout': {'keep_prob': 0.9}},"
        " {'dense': {'units': 2, 'kernel_initializer': {'kind': 'variance_scaling',"
        "  'mode': 'fan_out'}}}], 'input': {'shape': [null, 4]}, 'outputs': ['c']}");
    check_round_trip(m);
    eq_model_free(m);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *t = tcase_create("layers");
    tcase_add_test(t, layer_type_names);
    tcase_add_test(t, conv2d_slim_defaults);
    tcase_add_test(t, conv2d_every_argument);
    tcase_add_test(t, conv2d_normalizer_drops_bias_and_kernel_input);
    tcase_add_test(t, fully_connected_and_dense_defaults);
    tcase_add_test(t, batch_norm_pool_dropout_and_plain_ops);
    tcase_add_test(t, reshape_concat_arithmetic_mean);
    tcase_add_test(t, constants_and_variables);
    tcase_add_test(t, initializer_kinds_and_parameters);
    suite_add_tcase(s, t);
    t = tcase_create("statements");
    tcase_add_test(t, as_endpoint_and_input);
    tcase_add_test(t, scopes_branches_residual);
    tcase_add_test(t, defaults_nest_and_override);
    tcase_add_test(t, defaults_for_normalizers);
    tcase_add_test(t, block_calls);
    tcase_add_test(t, repeat_names_like_slim);
    tcase_add_test(t, if_statements);
    tcase_add_test(t, model_fields_params_and_args);
    tcase_add_test(t, many_tensor_names);
    tcase_add_test(t, path_prefix_and_null_arguments);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_add_test(t, errors_layer_arguments);
    tcase_add_test(t, errors_initializers);
    tcase_add_test(t, errors_statements);
    tcase_add_test(t, errors_model_level);
    tcase_add_test(t, errors_blocks);
    tcase_add_test(t, errors_fixture_files);
    tcase_add_test(t, errors_limits);
    suite_add_tcase(s, t);
    t = tcase_create("zoo");
    tcase_add_test(t, zoo_files_parse);
    tcase_add_test(t, zoo_inception_resnet_v2_counts);
    tcase_add_test(t, zoo_inception_resnet_v2_variable_order);
    tcase_add_test(t, zoo_inception_resnet_v2_layer_details);
    tcase_add_test(t, zoo_small_examples);
    tcase_add_test(t, all_constructs_fixture);
    tcase_add_test(t, dump_shows_expansion);
    tcase_add_test(t, dump_round_trips);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
