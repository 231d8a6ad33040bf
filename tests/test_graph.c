/* test_graph.c - graph mode: build through the backend vtable, passes,
 * memory plan, session runs.
 *
 * Every model is one builder function run twice: into the graph, and into a
 * tiny eager backend defined here that executes each op at once with
 * eq_opdesc_execute - the op-by-op reference. With every pass off the graph
 * must match it bit for bit; with passes on, within a tight tolerance
 * (exactly for fuse_bias_activation, prune and buffer_reuse).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_blas.h"
#include "eq_gemm_packed.h"
#include "eq_graph.h"
#include "eq_graph_internal.h"
#include "eq_rng.h"

/* ---- a reference backend: execute every op now ------------------------ */

typedef struct refbe {
    eq_backend b;
    eq_arena *arena;
    eq_workspace ws;
} refbe;

static eq_value *ref_value(refbe *r, const eq_tensor *t)
{
    eq_value *v = eq_arena_calloc(r->arena, sizeof *v);
    v->t = *t;
    v->node = -1;
    v->temp = 0;
    return v;
}

static eq_status ref_op(eq_backend *b, const eq_opdesc *d, eq_value *const *in, int n,
                        eq_value **out, eq_error *err)
{
    refbe *r = (refbe *)b;
    const eq_tensor *ts[EQ_OP_MAX_INPUTS];
    for (int k = 0; k < n; k++)
        ts[k] = &in[k]->t;
    int rank;
    int64_t shape[EQ_MAX_RANK];
    eq_status st = eq_opdesc_infer(d, ts, n, &rank, shape, err);
    if (st != EQ_OK)
        return st;
    eq_tensor *y = eq_tensor_new(r->arena, ts[0]->dtype, rank, shape, err);
    if (!y)
        return EQ_ERR_NOMEM;
    if ((st = eq_opdesc_execute(d, ts, n, y, &r->ws, err)) != EQ_OK)
        return st;
    *out = ref_value(r, y);
    return EQ_OK;
}

static eq_status ref_variable(eq_backend *b, eq_var *v, eq_value **out, eq_error *err)
{
    (void)err;
    *out = ref_value((refbe *)b, v->value);
    return EQ_OK;
}

static eq_status ref_constant(eq_backend *b, const eq_tensor *t, eq_value **out, eq_error *err)
{
    (void)err;
    *out = ref_value((refbe *)b, t);
    return EQ_OK;
}

static eq_status ref_random(eq_backend *b, const char *name, int64_t seed, int64_t seed2,
                            int rank, const int64_t *shape, eq_value **out, eq_error *err)
{
    (void)b, (void)name, (void)seed, (void)seed2, (void)rank, (void)shape, (void)out;
    return eq_error_set(err, EQ_ERR_UNSUPPORTED, "no random ops in the reference");
}

static void ref_release(eq_backend *b, eq_value *v)
{
    (void)b;
    (void)v;
}

static const eq_backend_vtable ref_vt = {.op = ref_op,
                                         .op_consume = ref_op,
                                         .variable = ref_variable,
                                         .constant = ref_constant,
                                         .random_uniform = ref_random,
                                         .release = ref_release};

/* ---- models ------------------------------------------------------------ */

typedef struct ctx {
    eq_varstore *vs;
    eq_arena *arena; /* inputs and constants */
} ctx;

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* Deterministic values in [lo, hi), seeded by the name. */
static void fill(eq_tensor *t, uint32_t seed, float lo, float hi)
{
    float *p = eq_tensor_f32(t);
    uint32_t s = seed | 1;
    for (int64_t i = 0; i < eq_tensor_numel(t); i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.0f;
    }
}

static eq_var *getvar(ctx *c, const char *name, int rank, const int64_t *shape, float lo,
                      float hi)
{
    eq_var *v = eq_varstore_find(c->vs, name);
    if (v)
        return v;
    eq_error err;
    v = eq_varstore_add(c->vs, name, rank, shape, 1, "test", "", "", 1, &err);
    ck_assert_msg(v != NULL, "%s", err.message);
    fill(v->value, hash(name), lo, hi);
    return v;
}

static eq_value *var(ctx *c, eq_backend *b, const char *name, int rank, const int64_t *shape,
                     float lo, float hi)
{
    eq_value *out;
    eq_error err;
    eq_status st = b->vt->variable(b, getvar(c, name, rank, shape, lo, hi), &out, &err);
    ck_assert_msg(st == EQ_OK, "%s", err.message);
    return out;
}

static eq_value *op(eq_backend *b, eq_opdesc d, eq_value *const *in, int n)
{
    eq_value *out;
    eq_error err;
    eq_status st = b->vt->op(b, &d, in, n, &out, &err);
    ck_assert_msg(st == EQ_OK, "%s", err.message);
    return out;
}

static eq_value *op1(eq_backend *b, eq_opdesc d, eq_value *x) { return op(b, d, &x, 1); }

static eq_value *op2(eq_backend *b, eq_opdesc d, eq_value *x, eq_value *y)
{
    eq_value *in[2] = {x, y};
    return op(b, d, in, 2);
}

static eq_opdesc conv_desc(int stride, eq_padding pad)
{
    eq_opdesc d = {.kind = EQ_OP_CONV2D, .name = "Conv2D"};
    d.conv = (eq_conv2d_params){stride, stride, 1, 1, pad, EQ_ACT_NONE};
    return d;
}

static eq_opdesc act_desc(eq_activation a)
{
    return (eq_opdesc){.kind = EQ_OP_ACTIVATION, .name = "act", .activation = a};
}

static eq_opdesc scale_desc(float s)
{
    return (eq_opdesc){.kind = EQ_OP_SCALE, .name = "Scale", .scale = s};
}

static eq_value *conv(ctx *c, eq_backend *b, const char *wname, eq_value *x, int k, int cout,
                      int stride)
{
    int64_t ws[4] = {k, k, x->t.shape[3], cout};
    eq_value *w = var(c, b, wname, 4, ws, -0.5f, 0.5f);
    return op2(b, conv_desc(stride, EQ_PAD_SAME), x, w);
}

static eq_value *bias_add(ctx *c, eq_backend *b, const char *name, eq_value *x)
{
    int64_t s[1] = {x->t.shape[x->t.rank - 1]};
    eq_value *bias = var(c, b, name, 1, s, -0.3f, 0.3f);
    return op2(b, (eq_opdesc){.kind = EQ_OP_BIAS_ADD, .name = "BiasAdd"}, x, bias);
}

static eq_value *bn(ctx *c, eq_backend *b, const char *scope, eq_value *x)
{
    int64_t s[1] = {x->t.shape[x->t.rank - 1]};
    char n[4][64];
    const char *what[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    eq_value *in[5] = {x};
    for (int i = 0; i < 4; i++) {
        snprintf(n[i], sizeof n[i], "%s/%s", scope, what[i]);
        in[i + 1] = var(c, b, n[i], 1, s, i == 3 ? 0.5f : (i == 0 ? 0.8f : -0.4f),
                        i == 3 ? 1.5f : (i == 0 ? 1.2f : 0.4f));
    }
    eq_opdesc d = {.kind = EQ_OP_BN_INFERENCE, .name = "FusedBatchNorm", .has_gamma = 1,
                   .has_beta = 1, .epsilon = 0.001f};
    return op(b, d, in, 5);
}

typedef void (*model_fn)(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n);

/* conv -> bn -> relu (9 nodes). */
static void m_conv_bn_relu(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    eq_value *y = conv(c, b, "c1/weights", x, 3, 4, 1);
    y = bn(c, b, "c1/BatchNorm", y);
    outs[0] = op1(b, act_desc(EQ_ACT_RELU), y);
    *n = 1;
}

/* conv -> bias add -> relu (6 nodes). */
static void m_conv_bias_relu(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    eq_value *y = conv(c, b, "c2/weights", x, 3, 5, 2);
    y = bias_add(c, b, "c2/biases", y);
    outs[0] = op1(b, act_desc(EQ_ACT_RELU), y);
    *n = 1;
}

/* relu(x + 0.17 * (conv1x1(x) + b)) (8 nodes). */
static void m_residual(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    eq_value *up = conv(c, b, "r/Conv2d_1x1/weights", x, 1, (int)x->t.shape[3], 1);
    up = bias_add(c, b, "r/Conv2d_1x1/biases", up);
    up = op1(b, scale_desc(0.17f), up);
    eq_value *s = op2(b, (eq_opdesc){.kind = EQ_OP_BINARY, .name = "add", .binary = EQ_BIN_ADD},
                      x, up);
    outs[0] = op1(b, act_desc(EQ_ACT_RELU), s);
    *n = 1;
}

/* Three branches concatenated, pooled, averaged, identities, a dense head. */
static void m_branches(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    eq_value *a = conv(c, b, "b/a/weights", x, 1, 4, 1);
    a = bias_add(c, b, "b/a/biases", a);
    a = op1(b, act_desc(EQ_ACT_RELU6), a);
    eq_value *m = conv(c, b, "b/m/weights", x, 3, 3, 1);
    m = bn(c, b, "b/m/BatchNorm", m);
    m = op1(b, act_desc(EQ_ACT_RELU), m);
    eq_opdesc mp = {.kind = EQ_OP_MAX_POOL, .name = "MaxPool"};
    mp.pool = (eq_pool2d_params){3, 3, 1, 1, EQ_PAD_SAME};
    eq_value *p = op1(b, mp, x);
    eq_opdesc ap = {.kind = EQ_OP_AVG_POOL, .name = "AvgPool"};
    ap.pool = (eq_pool2d_params){3, 3, 1, 1, EQ_PAD_SAME};
    eq_value *q = op1(b, ap, x);
    eq_value *cat_in[4] = {a, m, p, q};
    eq_value *cat = op(b, (eq_opdesc){.kind = EQ_OP_CONCAT, .name = "concat", .axis = 3},
                       cat_in, 4);
    eq_opdesc mp2 = {.kind = EQ_OP_MAX_POOL, .name = "MaxPool_1"};
    mp2.pool = (eq_pool2d_params){2, 2, 2, 2, EQ_PAD_VALID};
    eq_value *y = op1(b, mp2, cat);
    y = op1(b, (eq_opdesc){.kind = EQ_OP_MEAN, .name = "Mean", .axes_mask = 0x6}, y);
    /* identities */
    eq_opdesc rs = {.kind = EQ_OP_RESHAPE, .name = "Reshape", .rank = 2, .shape = {1, -1}};
    y = op1(b, rs, y);
    y = op1(b, scale_desc(1.0f), y);
    y = op(b, (eq_opdesc){.kind = EQ_OP_ADD_N, .name = "AddN"}, &y, 1);
    int64_t ws[2] = {y->t.shape[1], 5};
    eq_value *w = var(c, b, "b/fc/weights", 2, ws, -0.5f, 0.5f);
    y = op2(b, (eq_opdesc){.kind = EQ_OP_FULLY_CONNECTED, .name = "MatMul"}, y, w);
    y = bias_add(c, b, "b/fc/biases", y);
    outs[0] = op1(b, (eq_opdesc){.kind = EQ_OP_SOFTMAX, .name = "Softmax"}, y);
    outs[1] = cat;
    *n = 2;
}

/* Dense with a built-in bias, scaled, tanh (input [2, 6]). */
static void m_fc(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    int64_t ws[2] = {6, 3}, bs[1] = {3};
    eq_value *in[3] = {x, var(c, b, "fc/kernel", 2, ws, -1, 1), var(c, b, "fc/bias", 1, bs, -1, 1)};
    eq_value *y = op(b, (eq_opdesc){.kind = EQ_OP_FULLY_CONNECTED, .name = "MatMul",
                                    .has_bias = 1}, in, 3);
    y = op1(b, scale_desc(-2.5f), y);
    outs[0] = op1(b, act_desc(EQ_ACT_TANH), y);
    *n = 1;
}

/* Dense with a bias, then batch norm (the old bias folds too), sigmoid. */
static void m_fc_bn(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    int64_t ws[2] = {6, 4}, bs[1] = {4};
    eq_value *in[3] = {x, var(c, b, "fcbn/kernel", 2, ws, -1, 1),
                       var(c, b, "fcbn/bias", 1, bs, -1, 1)};
    eq_value *y = op(b, (eq_opdesc){.kind = EQ_OP_FULLY_CONNECTED, .name = "MatMul",
                                    .has_bias = 1}, in, 3);
    y = bn(c, b, "fcbn/BatchNorm", y);
    outs[0] = op1(b, act_desc(EQ_ACT_SIGMOID), y);
    *n = 1;
}

/* ---- harness ----------------------------------------------------------- */

typedef struct harness {
    ctx c;
    eq_graph *g;
    eq_tensor *x;
    refbe ref;
    eq_value *ref_out[8];
    int n_out;
} harness;

static eq_tensor *make_input(eq_arena *a, int rank, const int64_t *shape, uint32_t seed)
{
    eq_tensor *x = eq_tensor_new(a, EQ_F32, rank, shape, NULL);
    ck_assert_ptr_nonnull(x);
    fill(x, seed, -1.0f, 1.0f);
    return x;
}

static void h_init(harness *h, int rank, const int64_t *xshape)
{
    memset(h, 0, sizeof *h);
    h->c.vs = eq_varstore_new();
    h->c.arena = eq_arena_new(0);
    h->ref.b.vt = &ref_vt;
    h->ref.arena = eq_arena_new(0);
    h->x = make_input(h->c.arena, rank, xshape, 12345);
}

/* Build into a fresh graph with the options, and into the reference. */
static void h_build(harness *h, model_fn f, const eq_graph_options *opt)
{
    eq_error err;
    eq_graph_free(h->g);
    h->g = eq_graph_new(h->c.vs, &err);
    ck_assert_ptr_nonnull(h->g);
    eq_value *in, *outs[8];
    ck_assert_int_eq(eq_graph_input(h->g, h->x->rank, h->x->shape, &in, &err), EQ_OK);
    int n = 0;
    f(&h->c, eq_graph_backend(h->g), in, outs, &n);
    for (int i = 0; i < n; i++) {
        int idx;
        ck_assert_int_eq(eq_graph_fetch(h->g, outs[i], &idx, &err), EQ_OK);
        ck_assert_int_eq(idx, i);
    }
    eq_status st = eq_graph_finalize(h->g, opt, &err);
    ck_assert_msg(st == EQ_OK, "%s", err.message);

    eq_arena_reset(h->ref.arena);
    eq_value *xin = ref_value(&h->ref, h->x);
    f(&h->c, &h->ref.b, xin, h->ref_out, &h->n_out);
    ck_assert_int_eq(h->n_out, n);
}

static void h_run(harness *h)
{
    eq_error err;
    eq_status st = eq_graph_run(h->g, h->x, &err);
    ck_assert_msg(st == EQ_OK, "%s", err.message);
}

static void h_free(harness *h)
{
    eq_graph_free(h->g);
    eq_workspace_release(&h->ref.ws);
    eq_arena_free(h->ref.arena);
    eq_arena_free(h->c.arena);
    eq_varstore_free(h->c.vs);
}

static void assert_same_shape(const eq_tensor *a, const eq_tensor *b)
{
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->dtype, b->dtype);
    ck_assert(eq_shape_equal(a->rank, a->shape, b->rank, b->shape));
}

static void assert_identical(const eq_tensor *a, const eq_tensor *b)
{
    assert_same_shape(a, b);
    ck_assert_msg(memcmp(a->data, b->data, eq_tensor_nbytes(a)) == 0,
                  "results differ bitwise");
}

/* |a - b| <= atol + rtol*|b| everywhere; returns the largest difference. */
static double assert_close(const eq_tensor *a, const eq_tensor *b, double rtol, double atol)
{
    assert_same_shape(a, b);
    double worst = 0;
    for (int64_t i = 0; i < eq_tensor_numel(a); i++) {
        double x = eq_tensor_get(a, i), y = eq_tensor_get(b, i), d = fabs(x - y);
        ck_assert_msg(d <= atol + rtol * fabs(y), "element %lld: %.9g vs %.9g", (long long)i,
                      x, y);
        if (d > worst)
            worst = d;
    }
    return worst;
}

static void options_only(eq_graph_options *o, int pass)
{
    eq_graph_options_all(o, 0);
    if (pass >= 0)
        o->enabled[pass] = 1;
}

typedef struct model_case {
    const char *name;
    model_fn f;
    int rank;
    int64_t shape[4];
} model_case;

static const model_case models[] = {
    {"conv_bn_relu", m_conv_bn_relu, 4, {1, 6, 6, 3}},
    {"conv_bias_relu", m_conv_bias_relu, 4, {2, 7, 7, 3}},
    {"residual", m_residual, 4, {1, 5, 5, 4}},
    {"branches", m_branches, 4, {1, 8, 8, 3}},
    {"fc", m_fc, 2, {2, 6}},
    {"fc_bn", m_fc_bn, 2, {3, 6}},
};
#define N_MODELS ((int)(sizeof models / sizeof models[0]))

/* ---- tests: passes against the reference -------------------------------- */

START_TEST(all_off_is_bit_identical)
{
    const model_case *m = &models[_i];
    harness h;
    h_init(&h, m->rank, m->shape);
    eq_graph_options o;
    options_only(&o, -1);
    h_build(&h, m->f, &o);
    h_run(&h);
    for (int i = 0; i < h.n_out; i++)
        assert_identical(eq_graph_result(h.g, i), &h.ref_out[i]->t);
    ck_assert_int_eq(h.g->stats.nodes_before, h.g->stats.nodes_after);
    h_free(&h);
}
END_TEST

/* Each pass alone, then all: close to the reference; exact for the passes
 * that do not change rounding. Two runs agree bit for bit. */
START_TEST(each_pass_alone_and_all)
{
    const model_case *m = &models[_i];
    for (int p = 0; p <= EQ_PASS_COUNT; p++) {
        harness h;
        h_init(&h, m->rank, m->shape);
        eq_graph_options o;
        if (p == EQ_PASS_COUNT)
            eq_graph_options_all(&o, 1);
        else
            options_only(&o, p);
        h_build(&h, m->f, &o);
        h_run(&h);
        int exact = p == EQ_PASS_FUSE_BIAS_ACTIVATION || p == EQ_PASS_PRUNE ||
                    p == EQ_PASS_BUFFER_REUSE || p == EQ_PASS_CONSTANT_FOLDING;
        for (int i = 0; i < h.n_out; i++) {
            const eq_tensor *r = eq_graph_result(h.g, i);
            if (exact)
                assert_identical(r, &h.ref_out[i]->t);
            else
                assert_close(r, &h.ref_out[i]->t, 1e-5, 1e-6);
        }
        /* A second session run gives the same bits. */
        eq_tensor first[8];
        float copy[8][2048];
        for (int i = 0; i < h.n_out; i++) {
            first[i] = *eq_graph_result(h.g, i);
            ck_assert_uint_le(eq_tensor_nbytes(&first[i]), sizeof copy[i]);
            memcpy(copy[i], first[i].data, eq_tensor_nbytes(&first[i]));
            first[i].data = copy[i];
        }
        h_run(&h);
        for (int i = 0; i < h.n_out; i++)
            assert_identical(eq_graph_result(h.g, i), &first[i]);
        h_free(&h);
    }
}
END_TEST

static harness build_with(const model_case *m, int pass_or_all)
{
    harness h;
    h_init(&h, m->rank, m->shape);
    eq_graph_options o;
    if (pass_or_all == EQ_PASS_COUNT)
        eq_graph_options_all(&o, 1);
    else
        options_only(&o, pass_or_all);
    h_build(&h, m->f, &o);
    return h;
}

START_TEST(node_counts_per_pass)
{
    /* {model, config, nodes after, pass count} ; config EQ_PASS_COUNT = all */
    static const struct { int model, config, after, changed; } cases[] = {
        {0, -1, 9, 0},
        {0, EQ_PASS_FOLD_BATCH_NORM, 8, 1},           /* conv gone into bn's node */
        {0, EQ_PASS_FUSE_BIAS_ACTIVATION, 9, 0},      /* relu follows bn: no fusion */
        {0, EQ_PASS_ARITHMETIC, 9, 0},
        {0, EQ_PASS_COUNT, 7, 1},                      /* folded, then relu fused */
        {1, -1, 6, 0},
        {1, EQ_PASS_FUSE_BIAS_ACTIVATION, 4, 2},      /* bias and relu into conv */
        {1, EQ_PASS_FOLD_BATCH_NORM, 6, 0},
        {2, -1, 8, 0},
        {2, EQ_PASS_ARITHMETIC, 7, 1},                /* scale into w and b */
        {2, EQ_PASS_FUSE_BIAS_ACTIVATION, 7, 1},      /* bias (scale blocks relu) */
        {2, EQ_PASS_COUNT, 4, 1},                     /* scale folded; bias, add, relu fused */
        {3, -1, 27, 0},
        {3, EQ_PASS_ARITHMETIC, 24, 3},               /* reshape, scale 1, addn 1 */
        {3, EQ_PASS_FUSE_BIAS_ACTIVATION, 24, 3},     /* conv+bias+relu6, fc+bias */
        {4, EQ_PASS_ARITHMETIC, 5, 1},                /* fc bias scaled */
        {4, EQ_PASS_COUNT, 4, 1},                     /* then tanh fused */
        {5, EQ_PASS_FOLD_BATCH_NORM, 9, 1},           /* fc bias and bn into one */
        {5, EQ_PASS_COUNT, 8, 1},                     /* then sigmoid fused */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h = build_with(&models[cases[i].model], cases[i].config);
        ck_assert_msg(eq_graph_node_count(h.g) == cases[i].after, "case %zu: %d nodes, want %d",
                      i, eq_graph_node_count(h.g), cases[i].after);
        if (cases[i].config >= 0 && cases[i].config < EQ_PASS_COUNT)
            ck_assert_msg(h.g->stats.changed[cases[i].config] == cases[i].changed,
                          "case %zu: changed %d, want %d", i,
                          h.g->stats.changed[cases[i].config], cases[i].changed);
        if (cases[i].config == EQ_PASS_COUNT)
            ck_assert_int_eq(h.g->stats.changed[EQ_PASS_FOLD_BATCH_NORM] +
                             h.g->stats.changed[EQ_PASS_ARITHMETIC], cases[i].changed);
        h_free(&h);
    }
}
END_TEST

/* ---- tests: specific passes -------------------------------------------- */

/* bias = const * 3 is computed once; the constant it read goes too. */
static void m_const(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    static float cdata[4] = {1, -2, 0.5f, 4};
    static eq_tensor ct = {.dtype = EQ_F32, .rank = 1, .shape = {4, 1, 1, 1, 1, 1},
                           .data = cdata};
    eq_value *cv;
    ck_assert_int_eq(b->vt->constant(b, &ct, &cv, NULL), EQ_OK);
    eq_value *bias = op1(b, scale_desc(3.0f), cv);
    eq_value *y = conv(c, b, "k/weights", x, 1, 4, 1);
    outs[0] = op2(b, (eq_opdesc){.kind = EQ_OP_BIAS_ADD, .name = "BiasAdd"}, y, bias);
    *n = 1;
}

START_TEST(constant_folding_folds_once)
{
    static const model_case m = {"const", m_const, 4, {1, 3, 3, 2}};
    harness h = build_with(&m, EQ_PASS_CONSTANT_FOLDING);
    /* input, const, scale, w, conv, bias_add = 6; const folded in: 5 */
    ck_assert_int_eq(h.g->stats.nodes_before, 6);
    ck_assert_int_eq(eq_graph_node_count(h.g), 5);
    ck_assert_int_eq(h.g->stats.changed[EQ_PASS_CONSTANT_FOLDING], 1);
    ck_assert_int_eq(h.g->n_order, 2); /* conv and bias add run; the scale does not */
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &h.ref_out[0]->t);
    h_free(&h);

    h = build_with(&m, EQ_PASS_COUNT);
    ck_assert_int_eq(eq_graph_node_count(h.g), 4); /* bias fused into the conv */
    ck_assert_int_eq(h.g->n_order, 1);
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &h.ref_out[0]->t);
    h_free(&h);
}
END_TEST

/* Hand-computed: 1x1 conv of a single pixel with bn folded. */
START_TEST(fold_batch_norm_hand_values)
{
    eq_error err;
    eq_varstore *vs = eq_varstore_new();
    int64_t ws[4] = {1, 1, 2, 2}, cs[1] = {2}, xs[4] = {1, 1, 1, 2};
    eq_var *w = eq_varstore_add(vs, "w", 4, ws, 1, "t", "", "", 1, &err);
    eq_var *p[4];
    const char *names[4] = {"gamma", "beta", "mean", "var"};
    /* w = [[1, 2], [3, 4]] (in x out); gamma 2, 1; beta 0.5, -1; mean 1, 0;
     * var 3.999, 0.999 with eps 0.001: rsqrt = 0.5, 1. */
    float wv[4] = {1, 2, 3, 4}, pv[4][2] = {{2, 1}, {0.5f, -1}, {1, 0}, {3.999f, 0.999f}};
    memcpy(w->value->data, wv, sizeof wv);
    for (int i = 0; i < 4; i++) {
        p[i] = eq_varstore_add(vs, names[i], 1, cs, 1, "t", "", "", 1, &err);
        memcpy(p[i]->value->data, pv[i], sizeof pv[i]);
    }
    eq_graph *g = eq_graph_new(vs, &err);
    eq_backend *b = eq_graph_backend(g);
    eq_value *x, *vw, *in[5];
    ck_assert_int_eq(eq_graph_input(g, 4, xs, &x, &err), EQ_OK);
    ck_assert_int_eq(b->vt->variable(b, w, &vw, &err), EQ_OK);
    eq_value *y = op2(b, conv_desc(1, EQ_PAD_VALID), x, vw);
    in[0] = y;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(b->vt->variable(b, p[i], &in[i + 1], &err), EQ_OK);
    y = op(b, (eq_opdesc){.kind = EQ_OP_BN_INFERENCE, .name = "bn", .has_gamma = 1,
                          .has_beta = 1, .epsilon = 0.001f}, in, 5);
    ck_assert_int_eq(eq_graph_fetch(g, y, NULL, &err), EQ_OK);
    eq_graph_options o;
    options_only(&o, EQ_PASS_FOLD_BATCH_NORM);
    ck_assert_int_eq(eq_graph_finalize(g, &o, &err), EQ_OK);
    float xv[2] = {1, 1};
    eq_tensor xt;
    eq_tensor_view(&xt, EQ_F32, 4, xs, xv, NULL);
    ck_assert_int_eq(eq_graph_run(g, &xt, &err), EQ_OK);
    /* conv: [1*1+3*1, 2*1+4*1] = [4, 6]; bn: (4-1)*2*0.5+0.5 = 3.5,
     * (6-0)*1*1-1 = 5. Folded: w' = [[1, 2], [3, 4]] * [1, 1], b' = [-0.5, -1]. */
    const float *r = eq_tensor_f32(eq_graph_result(g, 0));
    ck_assert_float_eq_tol(r[0], 3.5f, 1e-5f);
    ck_assert_float_eq_tol(r[1], 5.0f, 1e-5f);
    /* Reassign the moving mean through the store: the fold follows. */
    eq_tensor_f32(p[2]->value)[1] = 2.0f;
    eq_varstore_mark_changed(vs);
    ck_assert_int_eq(eq_graph_run(g, &xt, &err), EQ_OK);
    ck_assert_float_eq_tol(r[1], 3.0f, 1e-5f);
    eq_graph_free(g);
    eq_varstore_free(vs);
}
END_TEST

/* A conv's filter is packed once for the GEMM kernel (when this CPU runs
 * it) and packed again when the store changes: with every pass off, a new
 * filter value shows in the next run. */
START_TEST(packed_filters_follow_variable_changes)
{
    eq_error err;
    eq_varstore *vs = eq_varstore_new();
    int64_t ws[4] = {1, 1, 2, 2}, xs[4] = {1, 1, 1, 2};
    eq_var *w = eq_varstore_add(vs, "w", 4, ws, 1, "t", "", "", 1, &err);
    float wv[4] = {1, 2, 3, 4};
    memcpy(w->value->data, wv, sizeof wv);
    eq_graph *g = eq_graph_new(vs, &err);
    eq_backend *b = eq_graph_backend(g);
    eq_value *x, *vw;
    ck_assert_int_eq(eq_graph_input(g, 4, xs, &x, &err), EQ_OK);
    ck_assert_int_eq(b->vt->variable(b, w, &vw, &err), EQ_OK);
    eq_value *y = op2(b, conv_desc(1, EQ_PAD_VALID), x, vw);
    ck_assert_int_eq(eq_graph_fetch(g, y, NULL, &err), EQ_OK);
    eq_graph_options o;
    options_only(&o, -1);
    ck_assert_int_eq(eq_graph_finalize(g, &o, &err), EQ_OK);
    int packed = eq_gemm_packed_enabled();
    ck_assert_int_eq(g->stats.packed, packed);
    /* one panel of 32 columns over K = 2 rows */
    ck_assert_uint_eq(g->stats.packed_bytes, packed ? 2 * 32 * sizeof(float) : 0);
    ck_assert((strstr(eq_graph_describe(g), "+1 packed filters, 256 bytes") != NULL) ==
              packed);
    float xv[2] = {1, 1};
    eq_tensor xt;
    eq_tensor_view(&xt, EQ_F32, 4, xs, xv, NULL);
    ck_assert_int_eq(eq_graph_run(g, &xt, &err), EQ_OK);
    const float *r = eq_tensor_f32(eq_graph_result(g, 0));
    ck_assert_float_eq(r[0], 4.0f); /* 1*1 + 3*1 */
    ck_assert_float_eq(r[1], 6.0f); /* 2*1 + 4*1 */
    /* w = [[1, 0], [0, 5]] through the store */
    float wv2[4] = {1, 0, 0, 5};
    memcpy(w->value->data, wv2, sizeof wv2);
    eq_varstore_mark_changed(vs);
    ck_assert_int_eq(eq_graph_run(g, &xt, &err), EQ_OK);
    r = eq_tensor_f32(eq_graph_result(g, 0));
    ck_assert_float_eq(r[0], 1.0f);
    ck_assert_float_eq(r[1], 5.0f);
    eq_graph_free(g);
    eq_varstore_free(vs);
}
END_TEST

START_TEST(folded_weights_follow_variable_changes)
{
    for (int mi = 0; mi < 3; mi++) {
        const model_case *m = &models[mi == 2 ? 3 : mi == 1 ? 2 : 0];
        harness h = build_with(m, EQ_PASS_COUNT);
        ck_assert_int_gt(h.g->stats.derived, 0);
        h_run(&h);
        const eq_tensor *r = eq_graph_result(h.g, 0);
        static float before[1024];
        size_t nb = eq_tensor_nbytes(r);
        ck_assert_uint_le(nb, sizeof before);
        memcpy(before, r->data, nb);
        eq_varstore_set_all(h.c.vs, 0.001);
        h_run(&h);
        /* The reference re-executed with the new values. */
        eq_arena_reset(h.ref.arena);
        int n;
        m->f(&h.c, &h.ref.b, ref_value(&h.ref, h.x), h.ref_out, &n);
        assert_close(eq_graph_result(h.g, 0), &h.ref_out[0]->t, 1e-5, 1e-6);
        ck_assert(memcmp(eq_graph_result(h.g, 0)->data, before, nb) != 0);
        h_free(&h);
    }
}
END_TEST

START_TEST(fuse_is_exact_and_respects_fetches)
{
    /* conv -> bias -> relu with the conv output fetched: nothing fuses. */
    harness h;
    int64_t xs[4] = {1, 5, 5, 2};
    h_init(&h, 4, xs);
    eq_error err;
    h.g = eq_graph_new(h.c.vs, &err);
    eq_backend *b = eq_graph_backend(h.g);
    eq_value *x;
    ck_assert_int_eq(eq_graph_input(h.g, 4, xs, &x, &err), EQ_OK);
    eq_value *c = conv(&h.c, b, "w", x, 3, 3, 1);
    eq_value *ba = bias_add(&h.c, b, "b", c);
    eq_value *r = op1(b, act_desc(EQ_ACT_RELU), ba);
    ck_assert_int_eq(eq_graph_fetch(h.g, r, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_fetch(h.g, c, NULL, &err), EQ_OK);
    eq_graph_options o;
    eq_graph_options_all(&o, 1);
    ck_assert_int_eq(eq_graph_finalize(h.g, &o, &err), EQ_OK);
    ck_assert_int_eq(h.g->stats.changed[EQ_PASS_FUSE_BIAS_ACTIVATION], 0);
    ck_assert_int_eq(eq_graph_node_count(h.g), 6);
    h_run(&h);
    eq_value *rc = conv(&h.c, &h.ref.b, "w", ref_value(&h.ref, h.x), 3, 3, 1);
    eq_value *rb = bias_add(&h.c, &h.ref.b, "b", rc);
    eq_value *rr = op1(&h.ref.b, act_desc(EQ_ACT_RELU), rb);
    assert_identical(eq_graph_result(h.g, 0), &rr->t);
    assert_identical(eq_graph_result(h.g, 1), &rc->t);
    eq_graph_free(h.g);

    /* Now the bias add is fetched: conv+bias fuse into it, the relu stays. */
    h.g = eq_graph_new(h.c.vs, &err);
    b = eq_graph_backend(h.g);
    ck_assert_int_eq(eq_graph_input(h.g, 4, xs, &x, &err), EQ_OK);
    c = conv(&h.c, b, "w", x, 3, 3, 1);
    ba = bias_add(&h.c, b, "b", c);
    r = op1(b, act_desc(EQ_ACT_RELU), ba);
    ck_assert_int_eq(eq_graph_fetch(h.g, r, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_fetch(h.g, ba, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_finalize(h.g, &o, &err), EQ_OK);
    ck_assert_int_eq(h.g->stats.changed[EQ_PASS_FUSE_BIAS_ACTIVATION], 1);
    ck_assert_int_eq(eq_graph_node_count(h.g), 5);
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &rr->t);
    assert_identical(eq_graph_result(h.g, 1), &rb->t);
    h_free(&h);
}
END_TEST

static eq_opdesc add_desc(void)
{
    return (eq_opdesc){.kind = EQ_OP_BINARY, .name = "add", .binary = EQ_BIN_ADD};
}

/* A residual block's tail, relu(x + (conv(h) + b)), with `conv_first`
 * choosing the add's operand order; `extra_bias` puts a BiasAdd after the
 * add instead (which must not fuse into the residual conv: its order would
 * be (acc + r) + b). Returns the graph's output. */
static eq_value *residual_tail(harness *h, eq_backend *b, eq_value *x, int conv_first,
                               int extra_bias, eq_value **conv_out)
{
    eq_value *hid = op1(b, act_desc(EQ_ACT_RELU), conv(&h->c, b, "r/in", x, 3, 4, 1));
    eq_value *up = conv(&h->c, b, "r/up", hid, 1, x->t.shape[3], 1);
    if (!extra_bias)
        up = bias_add(&h->c, b, "r/up_b", up);
    *conv_out = up;
    eq_value *sum = conv_first ? op2(b, add_desc(), up, x) : op2(b, add_desc(), x, up);
    if (extra_bias)
        sum = bias_add(&h->c, b, "r/after_b", sum);
    return op1(b, act_desc(EQ_ACT_RELU), sum);
}

/* The residual add (and the ReLU after it) run in the up-projection's
 * epilogue, bit for bit equal to the separate ops, in either operand order;
 * not when the conv output is fetched or a BiasAdd follows the add. */
START_TEST(fuse_residual_add_into_conv)
{
    for (int variant = 0; variant < 4; variant++) {
        int conv_first = variant & 1, fetch_conv = variant == 2, extra_bias = variant == 3;
        harness h;
        int64_t xs[4] = {2, 6, 5, 3};
        h_init(&h, 4, xs);
        eq_error err;
        h.g = eq_graph_new(h.c.vs, &err);
        eq_backend *b = eq_graph_backend(h.g);
        eq_value *x, *up;
        ck_assert_int_eq(eq_graph_input(h.g, 4, xs, &x, &err), EQ_OK);
        eq_value *y = residual_tail(&h, b, x, conv_first, extra_bias, &up);
        ck_assert_int_eq(eq_graph_fetch(h.g, y, NULL, &err), EQ_OK);
        if (fetch_conv)
            ck_assert_int_eq(eq_graph_fetch(h.g, up, NULL, &err), EQ_OK);
        eq_graph_options o;
        options_only(&o, EQ_PASS_FUSE_BIAS_ACTIVATION);
        ck_assert_int_eq(eq_graph_finalize(h.g, &o, &err), EQ_OK);
        int residual_convs = 0;
        for (int i = 0; i < h.g->n_nodes; i++)
            residual_convs += h.g->nodes[i].alive && h.g->nodes[i].kind == GN_OP &&
                              h.g->nodes[i].desc.kind == EQ_OP_CONV2D &&
                              h.g->nodes[i].desc.has_residual;
        ck_assert_int_eq(residual_convs, fetch_conv ? 0 : 1);
        if (variant < 2) {
            /* relu fused into the first conv; bias, add and relu into up */
            ck_assert_int_eq(h.g->stats.changed[EQ_PASS_FUSE_BIAS_ACTIVATION], 4);
            ck_assert_int_eq(h.g->n_order, 2);
        }
        h_run(&h);
        eq_value *ry = residual_tail(&h, &h.ref.b, ref_value(&h.ref, h.x), conv_first,
                                     extra_bias, &up);
        assert_identical(eq_graph_result(h.g, 0), &ry->t);
        if (fetch_conv)
            assert_identical(eq_graph_result(h.g, 1), &up->t);
        h_free(&h);
    }
}
END_TEST

/* x -> conv -> relu fetched; x -> max pool -> scale not fetched. */
static void m_dead_branch(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    eq_value *y = conv(c, b, "d/weights", x, 3, 2, 1);
    outs[0] = op1(b, act_desc(EQ_ACT_RELU), y);
    eq_opdesc mp = {.kind = EQ_OP_MAX_POOL, .name = "MaxPool"};
    mp.pool = (eq_pool2d_params){2, 2, 2, 2, EQ_PAD_VALID};
    int64_t vs[1] = {2};
    (void)op1(b, scale_desc(2.0f), op1(b, mp, x));
    (void)var(c, b, "d/unused", 1, vs, 0, 1);
    *n = 1;
}

START_TEST(prune_removes_unfetched_branch)
{
    static const model_case m = {"dead", m_dead_branch, 4, {1, 4, 4, 2}};
    harness h = build_with(&m, -1);
    ck_assert_int_eq(eq_graph_node_count(h.g), 7);
    ck_assert_int_eq(h.g->n_order, 4);
    h_free(&h);
    h = build_with(&m, EQ_PASS_PRUNE);
    ck_assert_int_eq(eq_graph_node_count(h.g), 4); /* input, w, conv, relu */
    ck_assert_int_eq(h.g->stats.changed[EQ_PASS_PRUNE], 3);
    ck_assert_int_eq(h.g->n_order, 2);
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &h.ref_out[0]->t);
    ck_assert_ptr_nonnull(strstr(eq_graph_describe(h.g), "prune=3"));
    ck_assert_ptr_nonnull(strstr(eq_graph_describe(h.g), "fold_batch_norm=off"));
    h_free(&h);
}
END_TEST

/* A chain of element-wise ops, pools and reshapes on [1, 16, 16, 8]. */
static void m_chain(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    (void)c;
    eq_value *y = x;
    eq_opdesc mp = {.kind = EQ_OP_MAX_POOL, .name = "MaxPool"};
    mp.pool = (eq_pool2d_params){3, 3, 1, 1, EQ_PAD_SAME};
    for (int i = 0; i < 6; i++) {
        y = op1(b, scale_desc(1.5f + (float)i), y);
        y = op1(b, act_desc(i % 2 ? EQ_ACT_TANH : EQ_ACT_RELU6), y);
        if (i == 2) {
            eq_opdesc rs = {.kind = EQ_OP_RESHAPE, .name = "Reshape", .rank = 4,
                            .shape = {1, 256, 1, 8}};
            y = op1(b, rs, y);
        }
        y = op1(b, mp, y);
    }
    eq_opdesc back = {.kind = EQ_OP_RESHAPE, .name = "Reshape_1", .rank = 4,
                      .shape = {1, 16, 16, 8}};
    outs[0] = op1(b, back, y);
    *n = 1;
}

START_TEST(buffer_reuse_plans_fewer_bytes)
{
    static const model_case m = {"chain", m_chain, 4, {1, 16, 16, 8}};
    harness off = build_with(&m, -1), on = build_with(&m, EQ_PASS_BUFFER_REUSE);
    size_t one = 16 * 16 * 8 * 4;
    /* 20 outputs, each its own buffer, vs two: scale, activation and
     * reshape work in place, and each pool writes the other buffer. */
    ck_assert_uint_eq(off.g->stats.planned_bytes, 20 * one);
    ck_assert_uint_eq(on.g->stats.unshared_bytes, 20 * one);
    ck_assert_uint_eq(on.g->stats.planned_bytes, 2 * one);
    ck_assert_int_gt(on.g->stats.changed[EQ_PASS_BUFFER_REUSE], 12);
    h_run(&off);
    h_run(&on);
    assert_identical(eq_graph_result(on.g, 0), eq_graph_result(off.g, 0));
    assert_identical(eq_graph_result(on.g, 0), &on.ref_out[0]->t);
    h_run(&on);
    assert_identical(eq_graph_result(on.g, 0), &on.ref_out[0]->t);
    h_free(&off);
    h_free(&on);
}
END_TEST

/* A value read twice is not overwritten by the first reader: relu(x1) and
 * x1 + relu(x1) with x1 = 2x. */
static void m_two_readers(ctx *c, eq_backend *b, eq_value *x, eq_value **outs, int *n)
{
    (void)c;
    eq_value *x1 = op1(b, scale_desc(2.0f), x);
    eq_value *r = op1(b, act_desc(EQ_ACT_RELU), x1);
    eq_value *s = op2(b, (eq_opdesc){.kind = EQ_OP_BINARY, .name = "add", .binary = EQ_BIN_ADD},
                      x1, r);
    outs[0] = op1(b, act_desc(EQ_ACT_TANH), s);
    outs[1] = r;
    *n = 2;
}

START_TEST(in_place_respects_later_readers_and_fetches)
{
    static const model_case m = {"two", m_two_readers, 4, {1, 4, 4, 2}};
    harness h = build_with(&m, EQ_PASS_BUFFER_REUSE);
    size_t one = 4 * 4 * 2 * 4;
    /* x1 (the add and tanh in place over it) and r (fetched): two buffers. */
    ck_assert_uint_eq(h.g->stats.planned_bytes, 2 * one);
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &h.ref_out[0]->t);
    assert_identical(eq_graph_result(h.g, 1), &h.ref_out[1]->t);
    h_free(&h);
}
END_TEST

START_TEST(buffer_reuse_keeps_fetched_buffers)
{
    /* The concat of "branches" is fetched alongside the softmax: its bytes
     * must survive later ops that reuse memory. */
    harness h = build_with(&models[3], EQ_PASS_BUFFER_REUSE);
    ck_assert_uint_lt(h.g->stats.planned_bytes, h.g->stats.unshared_bytes);
    h_run(&h);
    assert_identical(eq_graph_result(h.g, 0), &h.ref_out[0]->t);
    assert_identical(eq_graph_result(h.g, 1), &h.ref_out[1]->t);
    h_free(&h);
}
END_TEST

/* ---- random nodes -------------------------------------------------------- */

static eq_graph *random_graph(eq_varstore *vs, int64_t seed, int64_t seed2,
                              const eq_graph_options *o)
{
    eq_error err;
    eq_graph *g = eq_graph_new(vs, &err);
    eq_backend *b = eq_graph_backend(g);
    int64_t s[2] = {3, 5};
    eq_value *x, *u;
    ck_assert_int_eq(eq_graph_input(g, 2, s, &x, &err), EQ_OK);
    ck_assert_int_eq(b->vt->random_uniform(b, "dropout/random_uniform", seed, seed2, 2, s,
                                           &u, &err), EQ_OK);
    eq_value *d = op2(b, (eq_opdesc){.kind = EQ_OP_DROPOUT, .name = "dropout",
                                     .keep_prob = 0.5}, x, u);
    ck_assert_int_eq(eq_graph_fetch(g, u, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_fetch(g, d, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_finalize(g, o, &err), EQ_OK);
    return g;
}

START_TEST(random_streams_advance_per_run)
{
    eq_error err;
    eq_varstore *vs = eq_varstore_new();
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {3, 5};
    eq_tensor *x = make_input(a, 2, s, 7);
    eq_graph_options o;
    eq_graph_options_all(&o, 1);
    eq_graph *g = random_graph(vs, 42, 7, &o);
    float run1[15], run2[15];
    ck_assert_int_eq(eq_graph_run(g, x, &err), EQ_OK);
    memcpy(run1, eq_graph_result(g, 0)->data, sizeof run1);
    ck_assert_int_eq(eq_graph_run(g, x, &err), EQ_OK);
    memcpy(run2, eq_graph_result(g, 0)->data, sizeof run2);
    ck_assert(memcmp(run1, run2, sizeof run1) != 0);
    for (int i = 0; i < 15; i++) {
        ck_assert(run1[i] >= 0.0f && run1[i] < 1.0f);
        ck_assert(run2[i] >= 0.0f && run2[i] < 1.0f);
    }
    /* Against the RNG module: a fresh kernel (42, 7), then one that skipped
     * the first run's 15 * 256 blocks. */
    eq_rng_kernel k;
    float wv[15];
    ck_assert_int_eq(eq_rng_kernel_init(&k, (eq_seed_pair){42, 7}, &err), EQ_OK);
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, wv, 15, &err), EQ_OK);
    ck_assert(memcmp(wv, run1, sizeof wv) == 0);
    ck_assert_int_eq(eq_rng_kernel_uniform_f32(&k, wv, 15, &err), EQ_OK);
    ck_assert(memcmp(wv, run2, sizeof wv) == 0);
    /* Dropout of the run used that run's noise. */
    const float *dv = eq_tensor_f32(eq_graph_result(g, 1)), *xv = eq_tensor_f32(x);
    for (int i = 0; i < 15; i++)
        ck_assert(dv[i] == (run2[i] >= 0.5f ? xv[i] * 2.0f : 0.0f));
    eq_graph_free(g);

    /* A new graph with the same seeds starts the stream again. */
    eq_graph_options_all(&o, 0);
    g = random_graph(vs, 42, 7, &o);
    ck_assert_int_eq(eq_graph_run(g, x, &err), EQ_OK);
    ck_assert(memcmp(eq_graph_result(g, 0)->data, run1, sizeof run1) == 0);
    eq_graph_free(g);
    eq_arena_free(a);
    eq_varstore_free(vs);
}
END_TEST

/* ---- errors and names ---------------------------------------------------- */

START_TEST(input_shape_mismatch)
{
    harness h = build_with(&models[0], EQ_PASS_COUNT);
    int64_t bad[4] = {1, 5, 6, 3};
    eq_tensor *x = make_input(h.c.arena, 4, bad, 1);
    eq_error err;
    ck_assert_int_eq(eq_graph_run(h.g, x, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "[1, 5, 6, 3]"));
    ck_assert_ptr_nonnull(strstr(err.message, "[1, 6, 6, 3]"));
    ck_assert_int_eq(eq_graph_run(h.g, NULL, &err), EQ_ERR_INVALID);
    h_run(&h); /* still usable */
    h_free(&h);
}
END_TEST

START_TEST(state_and_build_errors)
{
    eq_error err;
    eq_varstore *vs = eq_varstore_new();
    eq_graph *g = eq_graph_new(vs, &err);
    eq_backend *b = eq_graph_backend(g);
    int64_t xs[4] = {1, 4, 4, 3}, ws[4] = {3, 3, 2, 8};
    eq_value *x, *y, *w;
    ck_assert_int_eq(eq_graph_run(g, NULL, &err), EQ_ERR_STATE);
    ck_assert_int_eq(eq_graph_input(g, 4, xs, &x, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_input(g, 4, xs, &y, &err), EQ_ERR_STATE);
    /* Shape errors surface at build, naming the op and both shapes. */
    eq_var *v = eq_varstore_add(vs, "w", 4, ws, 1, "t", "", "", 1, &err);
    ck_assert_int_eq(b->vt->variable(b, v, &w, &err), EQ_OK);
    eq_opdesc d = conv_desc(1, EQ_PAD_SAME);
    d.name = "bad/Conv2D";
    eq_value *in[2] = {x, w};
    ck_assert_int_eq(b->vt->op(b, &d, in, 2, &y, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "bad/Conv2D"));
    /* A value from elsewhere. */
    eq_value alien = {.node = 99};
    in[1] = &alien;
    ck_assert_int_eq(b->vt->op(b, &d, in, 2, &y, &err), EQ_ERR_INVALID);
    ck_assert_int_eq(eq_graph_fetch(g, &alien, NULL, &err), EQ_ERR_INVALID);
    /* (0, 0) asks for OS entropy: refused, graph runs must be repeatable. */
    ck_assert_int_eq(b->vt->random_uniform(b, "r", 0, 0, 4, xs, &y, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "r (RandomUniform)"));
    ck_assert_int_eq(eq_graph_fetch(g, x, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_finalize(g, NULL, &err), EQ_OK);
    ck_assert_int_eq(eq_graph_finalize(g, NULL, &err), EQ_ERR_STATE);
    ck_assert_int_eq(b->vt->variable(b, v, &w, &err), EQ_ERR_STATE);
    ck_assert_int_eq(eq_graph_fetch(g, x, NULL, &err), EQ_ERR_STATE);
    ck_assert_ptr_null(eq_graph_result(g, 1));
    /* A fetched placeholder reads the caller's input. */
    eq_arena *a = eq_arena_new(0);
    eq_tensor *xt = make_input(a, 4, xs, 3);
    ck_assert_int_eq(eq_graph_run(g, xt, &err), EQ_OK);
    ck_assert_ptr_eq(eq_graph_result(g, 0)->data, xt->data);
    eq_arena_free(a);
    eq_graph_free(g);
    eq_varstore_free(vs);
}
END_TEST

/* Every allocation finalize makes can fail: NOMEM comes back, nothing leaks
 * (the sanitizer build checks), and the graph refuses to run. */
START_TEST(finalize_survives_allocation_failures)
{
    int succeeded = 0;
    for (long n = 1; n < 200 && !succeeded; n++) {
        harness h;
        h_init(&h, models[3].rank, models[3].shape);
        eq_error err;
        h.g = eq_graph_new(h.c.vs, &err);
        eq_value *in, *outs[8];
        int k;
        ck_assert_int_eq(eq_graph_input(h.g, h.x->rank, h.x->shape, &in, &err), EQ_OK);
        models[3].f(&h.c, eq_graph_backend(h.g), in, outs, &k);
        for (int i = 0; i < k; i++)
            ck_assert_int_eq(eq_graph_fetch(h.g, outs[i], NULL, &err), EQ_OK);
        eq_alloc_fail_after(n, 1);
        eq_status st = eq_graph_finalize(h.g, NULL, &err);
        eq_alloc_fail_after(0, 0);
        if (st == EQ_OK) {
            succeeded = 1;
            h_run(&h);
        } else {
            ck_assert_int_eq(st, EQ_ERR_NOMEM);
            ck_assert_int_eq(eq_graph_run(h.g, h.x, &err), EQ_ERR_STATE);
        }
        h_free(&h);
    }
    ck_assert(succeeded);
}
END_TEST

/* Allocation failures while building: the failing call reports NOMEM, the
 * nodes built so far stay consistent, finalize and run still work. */
START_TEST(build_survives_allocation_failures)
{
    eq_error err;
    eq_varstore *vs = eq_varstore_new();
    int64_t xs[4] = {1, 4, 4, 2}, ws[4] = {1, 1, 2, 2};
    eq_var *w = eq_varstore_add(vs, "w", 4, ws, 1, "t", "", "", 1, &err);
    eq_tensor_fill(w->value, 0.5);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = make_input(a, 4, xs, 5);
    /* Names longer than half an arena block: every op's copy of its name
     * needs a new block, so failures land on the name copy too. */
    size_t long_len = 700000;
    char *long_name = eq_malloc(long_len + 1);
    memset(long_name, 'n', long_len);
    long_name[long_len] = 0;
    int completed = 0;
    for (long n = 1; n < 100 && !completed; n++) {
        eq_graph *g = NULL;
        eq_alloc_fail_after(n, 1);
        g = eq_graph_new(vs, &err);
        eq_status st = g ? EQ_OK : EQ_ERR_NOMEM;
        eq_value *v = NULL, *wv = NULL;
        if (st == EQ_OK)
            st = eq_graph_input(g, 4, xs, &v, &err);
        for (int i = 0; i < 70 && st == EQ_OK; i++) {
            eq_backend *b = eq_graph_backend(g);
            if ((st = b->vt->variable(b, w, &wv, &err)) != EQ_OK)
                break;
            /* One conv, then cheap ops (BLIS calls cost ~1 ms under load). */
            eq_opdesc d = i == 0 ? conv_desc(1, EQ_PAD_SAME) : scale_desc(0.5f);
            d.name = i % 8 == 1 ? long_name : "op";
            eq_value *in[2] = {v, wv};
            st = b->vt->op(b, &d, in, i == 0 ? 2 : 1, &v, &err);
        }
        if (st == EQ_OK)
            st = eq_graph_fetch(g, v, NULL, &err);
        eq_alloc_fail_after(0, 0);
        if (g) {
            ck_assert(st == EQ_OK || st == EQ_ERR_NOMEM);
            /* Whatever was built is a valid graph. */
            ck_assert_int_eq(eq_graph_finalize(g, NULL, &err), EQ_OK);
            ck_assert_int_eq(eq_graph_run(g, x, &err), EQ_OK);
            completed = st == EQ_OK;
        }
        eq_graph_free(g);
    }
    ck_assert(completed);
    eq_free(long_name);
    eq_arena_free(a);
    eq_varstore_free(vs);
}
END_TEST

START_TEST(pass_names)
{
    for (int p = 0; p < EQ_PASS_COUNT; p++) {
        eq_graph_pass q;
        ck_assert(eq_graph_pass_from_name(eq_graph_pass_name((eq_graph_pass)p), &q));
        ck_assert_int_eq(q, p);
    }
    ck_assert_str_eq(eq_graph_pass_name(EQ_PASS_FOLD_BATCH_NORM), "fold_batch_norm");
    ck_assert_str_eq(eq_graph_pass_name(EQ_PASS_BUFFER_REUSE), "buffer_reuse");
    ck_assert(!eq_graph_pass_from_name("remapper", NULL));
    ck_assert(!eq_graph_pass_from_name(NULL, NULL));
    eq_graph_options o;
    eq_graph_options_all(&o, 1);
    for (int p = 0; p < EQ_PASS_COUNT; p++)
        ck_assert_int_eq(o.enabled[p], 1);
}
END_TEST

START_TEST(describe_reports_counts)
{
    harness h = build_with(&models[0], EQ_PASS_COUNT);
    const char *d = eq_graph_describe(h.g);
    ck_assert_ptr_nonnull(strstr(d, "9 nodes -> 7"));
    ck_assert_ptr_nonnull(strstr(d, "fold_batch_norm=1"));
    ck_assert_ptr_nonnull(strstr(d, "fuse_bias_activation=1"));
    /* w' [3, 3, 3, 4] and b' [4]; with the packed kernel w' only exists
     * while its packed filter (27 rows of one 32-column panel) is made */
    if (eq_gemm_packed_enabled()) {
        ck_assert_ptr_nonnull(
            strstr(d, "+2 folded tensors, 16 bytes kept, 1 only while packing filters"));
        ck_assert_ptr_nonnull(strstr(d, "+1 packed filters, 3456 bytes"));
        ck_assert_int_eq(h.g->stats.derived_transient, 1);
    } else {
        ck_assert_ptr_nonnull(strstr(d, "+2 folded tensors, 448 bytes kept)"));
    }
    char want[64];
    snprintf(want, sizeof want, "activations %zu bytes", h.g->stats.planned_bytes);
    ck_assert_ptr_nonnull(strstr(d, want));
    h_free(&h);
}
END_TEST

static Suite *graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *t = tcase_create("passes");
    tcase_add_loop_test(t, all_off_is_bit_identical, 0, N_MODELS);
    tcase_add_loop_test(t, each_pass_alone_and_all, 0, N_MODELS);
    tcase_add_test(t, node_counts_per_pass);
    tcase_add_test(t, constant_folding_folds_once);
    tcase_add_test(t, fold_batch_norm_hand_values);
    tcase_add_test(t, packed_filters_follow_variable_changes);
    tcase_add_test(t, fuse_residual_add_into_conv);
    tcase_add_test(t, folded_weights_follow_variable_changes);
    tcase_add_test(t, fuse_is_exact_and_respects_fetches);
    tcase_add_test(t, prune_removes_unfetched_branch);
    tcase_add_test(t, buffer_reuse_plans_fewer_bytes);
    tcase_add_test(t, buffer_reuse_keeps_fetched_buffers);
    tcase_add_test(t, in_place_respects_later_readers_and_fetches);
    tcase_add_test(t, random_streams_advance_per_run);
    tcase_add_test(t, input_shape_mismatch);
    tcase_add_test(t, state_and_build_errors);
    tcase_add_test(t, finalize_survives_allocation_failures);
    tcase_add_test(t, build_survives_allocation_failures);
    tcase_add_test(t, pass_names);
    tcase_add_test(t, describe_reports_counts);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* One thread: these graphs are tiny, and on a loaded machine every
     * two-thread GEMM waits for its second thread to be scheduled (5-20 s
     * for this file instead of 0.1 s). Kernel threading has its own tests. */
    eq_blas_init(1, NULL);
    SRunner *sr = srunner_create(graph_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
