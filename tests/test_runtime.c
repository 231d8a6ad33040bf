/* test_runtime.c - the interpreter and the two modes, end to end through the
 * model language: bit-identical modes with passes off, variable creation per
 * mode (the guide's step-1 pitfalls), naming, get_variable rules, random
 * numbers per mode and seed policy, and shape errors. Inception-ResNet-v2
 * has its own test (test_irv2.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_zoo.h"

/* ---- helpers -------------------------------------------------------------- */

static eq_model *zoo(const char *name)
{
    char path[1024];
    eq_error err;
    ck_assert_msg(eq_zoo_find(name, path, sizeof path, &err) == EQ_OK, "%s", err.message);
    eq_model *m = eq_model_parse_file(path, NULL, &err);
    ck_assert_msg(m != NULL, "%s: %s", err.path, err.message);
    return m;
}

static eq_model *inline_model(const char *text)
{
    eq_error err;
    eq_model *m = eq_model_parse_string(text, NULL, &err);
    ck_assert_msg(m != NULL, "%s: %s", err.path, err.message);
    return m;
}

static eq_runner *runner(const eq_model *m, eq_mode mode, int training, eq_seeding seeding,
                         int passes)
{
    eq_run_config cfg;
    eq_run_config_default(&cfg, mode);
    cfg.training = training;
    cfg.seeding = seeding;
    eq_graph_options_all(&cfg.graph, passes);
    eq_error err;
    eq_runner *r = eq_runner_new(m, &cfg, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    return r;
}

static const eq_result *call(eq_runner *r, const eq_tensor *x)
{
    eq_error err;
    eq_error_clear(&err);
    const eq_result *res;
    eq_status st = eq_runner_call(r, x, &res, &err);
    ck_assert_msg(st == EQ_OK, "%s: %s", err.path, err.message);
    return res;
}

/* A deterministic input with varied values. */
static eq_tensor *input(eq_arena *a, int rank, const int64_t *shape)
{
    eq_tensor *t = eq_tensor_new(a, EQ_F32, rank, shape, NULL);
    ck_assert_ptr_nonnull(t);
    float *d = eq_tensor_f32(t);
    for (int64_t i = 0; i < eq_tensor_numel(t); i++)
        d[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    return t;
}

static int bits_equal(const eq_tensor *a, const eq_tensor *b)
{
    return eq_tensor_same_shape(a, b) && memcmp(a->data, b->data, eq_tensor_nbytes(a)) == 0;
}

static double max_rel_diff(const eq_tensor *a, const eq_tensor *b)
{
    ck_assert(eq_tensor_same_shape(a, b));
    double worst = 0;
    for (int64_t i = 0; i < eq_tensor_numel(a); i++) {
        double x = eq_tensor_get(a, i), y = eq_tensor_get(b, i);
        double d = fabs(x - y) / (1e-6 + fabs(y));
        if (d > worst)
            worst = d;
    }
    return worst;
}

static int has_var(eq_runner *r, const char *name)
{
    return eq_varstore_find(eq_runner_vars(r), name) != NULL;
}

/* ---- eager == graph, bit for bit, with passes off ------------------------- */

/* Every output and end point of two calls, bit for bit. */
static void assert_results_identical(const eq_result *re, const eq_result *rg, const char *what)
{
    ck_assert_int_eq(re->n_outputs, rg->n_outputs);
    ck_assert_int_eq(re->n_endpoints, rg->n_endpoints);
    for (int i = 0; i < re->n_outputs; i++)
        ck_assert_msg(bits_equal(re->outputs[i].tensor, rg->outputs[i].tensor),
                      "%s: output %s differs", what, re->outputs[i].name);
    for (int i = 0; i < re->n_endpoints; i++) {
        ck_assert_str_eq(re->endpoints[i].name, rg->endpoints[i].name);
        ck_assert_msg(bits_equal(re->endpoints[i].tensor, rg->endpoints[i].tensor),
                      "%s: endpoint %s differs", what, re->endpoints[i].name);
    }
}

static void check_modes_identical(const char *model, int training)
{
    eq_model *m = zoo(model);
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {3, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    eq_runner *e = runner(m, EQ_MODE_EAGER, training, EQ_SEEDING_CONSTANT, 0);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, training, EQ_SEEDING_CONSTANT, 0);
    const eq_result *re = call(e, x);
    const eq_result *rg = call(g, x);
    ck_assert_int_gt(re->n_endpoints, 2);
    assert_results_identical(re, rg, model);
    ck_assert_int_eq(re->has_reg_loss, rg->has_reg_loss);
    if (re->has_reg_loss)
        ck_assert(memcmp(&re->reg_loss, &rg->reg_loss, sizeof(float)) == 0);
    /* Same variables, same initial values. */
    eq_varstore *ve = eq_runner_vars(e), *vg = eq_runner_vars(g);
    ck_assert_int_eq(eq_varstore_count(ve), eq_varstore_count(vg));
    for (int i = 0; i < eq_varstore_count(ve); i++) {
        ck_assert_str_eq(eq_varstore_at(ve, i)->name, eq_varstore_at(vg, i)->name);
        ck_assert(bits_equal(eq_varstore_at(ve, i)->value, eq_varstore_at(vg, i)->value));
    }
    eq_runner_free(e);
    eq_runner_free(g);
    eq_arena_free(a);
    eq_model_free(m);
}

/* ---- the op timer ------------------------------------------------------------- */

typedef struct op_count {
    int ops, convs, bad;
    int64_t conv_macs;
} op_count;

static void count_op(void *ctx, const eq_op_timing *t)
{
    op_count *c = ctx;
    c->ops++;
    if (!t->kind || !t->out || t->seconds < 0 || t->n_in < 0)
        c->bad++;
    if (strcmp(t->kind, "Conv2D") == 0) {
        c->convs++;
        c->conv_macs += t->macs;
        /* a conv's MACs are its output elements times kh*kw*Cin */
        if (t->n_in < 2 || t->macs != eq_tensor_numel(t->out) * t->in[1]->shape[0] *
                                          t->in[1]->shape[1] * t->in[1]->shape[2])
            c->bad++;
    }
}

typedef struct inplace_log {
    int inplace, fresh;          /* element-wise ops over their input or not */
    int relu_layer_inplace;      /* the standalone relu layer, which must not */
} inplace_log;

static void log_inplace(void *ctx, const eq_op_timing *t)
{
    inplace_log *l = ctx;
    if (t->n_in < 1 || strcmp(t->kind, "Conv2D") == 0 || strcmp(t->kind, "MatMul") == 0)
        return;
    int over = t->out->data == t->in[0]->data;
    if (over)
        l->inplace++;
    else
        l->fresh++;
    if (t->name && strstr(t->name, "r/") == t->name && over)
        l->relu_layer_inplace++;
}

/* Eager mode writes a layer's bias, batch norm and activation over the
 * layer's own conv output (a tensor nobody else reads) instead of keeping
 * three tensors per layer, and never over a tensor the model names: the
 * standalone relu layer keeps the conv's endpoint intact. */
START_TEST(eager_layers_reuse_their_temporaries)
{
    eq_model *m = zoo("small_cnn");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {2, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    inplace_log log = {0};
    eq_run_config cfg;
    eq_run_config_default(&cfg, EQ_MODE_EAGER);
    cfg.op_timer = log_inplace;
    cfg.op_timer_ctx = &log;
    eq_error err;
    eq_runner *r = eq_runner_new(m, &cfg, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    call(r, x);
    /* conv1, conv2: batch norm + relu; fc1: bias + relu; logits: bias */
    ck_assert_int_eq(log.inplace, 7);
    eq_runner_free(r);
    eq_model_free(m);

    eq_model *m2 = inline_model(
        "{\"name\": \"t\", \"input\": {\"shape\": [null, 4, 4, 1]}, \"body\": ["
        "{\"conv2d\": {\"name\": \"c\", \"filters\": 2, \"kernel\": 1, \"activation\": null},"
        " \"endpoint\": \"c\"},"
        "{\"relu\": {\"name\": \"r\"}, \"endpoint\": \"r\"}],"
        " \"outputs\": [\"r\"]}");
    memset(&log, 0, sizeof log);
    r = eq_runner_new(m2, &cfg, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    int64_t s2[4] = {1, 4, 4, 1};
    const eq_result *res = call(r, input(a, 4, s2));
    ck_assert_int_eq(log.relu_layer_inplace, 0);
    ck_assert_int_gt(log.fresh, 0);
    /* the endpoint c still holds the conv's negative values */
    const eq_tensor *c = NULL;
    for (int i = 0; i < res->n_endpoints; i++)
        if (strcmp(res->endpoints[i].name, "c") == 0)
            c = res->endpoints[i].tensor;
    ck_assert_ptr_nonnull(c);
    int negatives = 0;
    for (int64_t i = 0; i < eq_tensor_numel(c); i++)
        negatives += eq_tensor_f32(c)[i] < 0;
    ck_assert_int_gt(negatives, 0);
    eq_runner_free(r);
    eq_model_free(m2);
    eq_arena_free(a);
}
END_TEST

/* Every op of a call reaches the timer, in both modes, with its inputs,
 * output and MACs; graph mode reports only what survives its passes. */
START_TEST(op_timer_reports_every_op)
{
    eq_model *m = zoo("small_cnn");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {3, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    op_count counts[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        eq_run_config cfg;
        eq_run_config_default(&cfg, i == 0 ? EQ_MODE_EAGER : EQ_MODE_GRAPH);
        eq_graph_options_all(&cfg.graph, i == 2);
        cfg.op_timer = count_op;
        cfg.op_timer_ctx = &counts[i];
        eq_error err;
        eq_runner *r = eq_runner_new(m, &cfg, &err);
        ck_assert_msg(r != NULL, "%s", err.message);
        call(r, x);
        int first = counts[i].ops;
        call(r, x);
        /* the same ops again on the second call */
        ck_assert_int_eq(counts[i].ops, 2 * first);
        eq_runner_free(r);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(counts[i].bad, 0);
        ck_assert_int_gt(counts[i].convs, 0);
        ck_assert_int_gt(counts[i].conv_macs, 0);
    }
    /* eager and graph without passes run the same ops; the passes remove
     * some (batch norm folded, bias and activation fused) */
    ck_assert_int_eq(counts[0].ops, counts[1].ops);
    ck_assert_int_eq(counts[0].conv_macs, counts[1].conv_macs);
    ck_assert_int_lt(counts[2].ops, counts[1].ops);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(small_cnn_modes_bit_identical_inference)
{
    check_modes_identical("small_cnn", 0);
}
END_TEST

START_TEST(small_cnn_modes_bit_identical_training)
{
    /* Constant seed policy: dropout noise and initial values agree. */
    check_modes_identical("small_cnn", 1);
}
END_TEST

START_TEST(graph_passes_agree_within_tolerance)
{
    eq_model *m = zoo("small_cnn");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {2, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    eq_runner *off = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 0);
    eq_runner *on = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    const eq_result *r0 = call(off, x);
    const eq_result *r1 = call(on, x);
    for (int i = 0; i < r0->n_outputs; i++)
        ck_assert_double_lt(max_rel_diff(r1->outputs[i].tensor, r0->outputs[i].tensor), 1e-4);
    /* Folding must follow new variable values (the fixed-weights check). */
    eq_varstore_set_all(eq_runner_vars(off), 0.001);
    eq_varstore_set_all(eq_runner_vars(on), 0.001);
    r0 = call(off, x);
    r1 = call(on, x);
    for (int i = 0; i < r0->n_outputs; i++)
        ck_assert_double_lt(max_rel_diff(r1->outputs[i].tensor, r0->outputs[i].tensor), 1e-4);
    eq_runner_free(off);
    eq_runner_free(on);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

/* Every small zoo model, inference and training: eager == graph bit for bit
 * with passes off, and within the default tolerance (assert_allclose with
 * rtol 1e-6, atol 1e-5) with every pass on. Inception-ResNet-v2 has the
 * same checks in test_irv2.c. */
static void assert_allclose(const eq_tensor *a, const eq_tensor *b, const char *what)
{
    ck_assert(eq_tensor_same_shape(a, b));
    for (int64_t i = 0; i < eq_tensor_numel(a); i++) {
        double x = eq_tensor_get(a, i), y = eq_tensor_get(b, i);
        ck_assert_msg(fabs(x - y) <= 1e-5 + 1e-6 * fabs(y), "%s[%lld]: %.9g vs %.9g", what,
                      (long long)i, x, y);
    }
}

START_TEST(every_small_zoo_model_agrees_across_modes)
{
    static const char *models[] = {"small_cnn", "mlp", "scaling_broken", "scaling_fixed",
                                   "unnamed_layers_broken", "unnamed_layers_fixed"};
    eq_arena *a = eq_arena_new(0);
    for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
        eq_model *m = zoo(models[k]);
        int64_t shape[EQ_MAX_RANK];
        ck_assert_int_gt(m->input_rank, 0);
        for (int d = 0; d < m->input_rank; d++)
            shape[d] = m->input_shape[d] < 0 ? 3 : m->input_shape[d];
        eq_tensor *x = input(a, m->input_rank, shape);
        for (int training = 0; training < 2; training++) {
            eq_runner *e = runner(m, EQ_MODE_EAGER, training, EQ_SEEDING_CONSTANT, 0);
            eq_runner *g0 = runner(m, EQ_MODE_GRAPH, training, EQ_SEEDING_CONSTANT, 0);
            eq_runner *g1 = runner(m, EQ_MODE_GRAPH, training, EQ_SEEDING_CONSTANT, 1);
            const eq_result *re = call(e, x), *r0 = call(g0, x), *r1 = call(g1, x);
            for (int i = 0; i < re->n_outputs; i++) {
                ck_assert_msg(bits_equal(re->outputs[i].tensor, r0->outputs[i].tensor),
                              "%s training=%d: output %s differs with passes off", models[k],
                              training, re->outputs[i].name);
                assert_allclose(r1->outputs[i].tensor, re->outputs[i].tensor, models[k]);
            }
            for (int i = 0; i < re->n_endpoints; i++)
                ck_assert_msg(bits_equal(re->endpoints[i].tensor, r0->endpoints[i].tensor),
                              "%s: endpoint %s differs", models[k], re->endpoints[i].name);
            eq_runner_free(e);
            eq_runner_free(g0);
            eq_runner_free(g1);
        }
        eq_model_free(m);
    }
    eq_arena_free(a);
}
END_TEST

START_TEST(batch_norm_layer_applies_its_activation)
{
    eq_model *m = inline_model(
        "{\"body\": [{\"batch_norm\": {\"name\": \"bn\", \"activation\": \"relu\"}, "
        "\"as\": \"y\"}], \"outputs\": [\"y\"]}");
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {4, 3};
    eq_tensor *x = input(a, 2, s);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    const eq_result *r = call(e, x);
    const float *y = eq_tensor_f32(r->outputs[0].tensor);
    int negatives_in = 0;
    for (int i = 0; i < 12; i++) {
        negatives_in += eq_tensor_f32(x)[i] < 0;
        /* moving mean 0, variance 1: y = relu(x / sqrt(1 + 0.001)) */
        ck_assert(y[i] >= 0.0f);
    }
    ck_assert_int_gt(negatives_in, 0);
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(default_initializers_are_tf_slims)
{
    /* slim.conv2d's default weights initializer is xavier (Glorot) uniform:
     * for an HWIO [3, 3, 16, 32] kernel with seeds (42, 0) the spec gives
     * the first values; biases start at zero. */
    eq_model *m = inline_model(
        "{\"body\": [{\"conv2d\": {\"name\": \"c\", \"filters\": 32, \"kernel\": 3, "
        "\"activation\": null}, \"as\": \"y\"}], \"outputs\": [\"y\"]}");
    eq_arena *a = eq_arena_new(0);
    int64_t s[4] = {1, 4, 4, 16};
    eq_tensor *x = input(a, 4, s);
    static const float want[4] = {0.07906847f, 0.09812222f, -0.00126112f, 0.00497644f};
    for (int mode = 0; mode < 2; mode++) {
        eq_runner *r = runner(m, (eq_mode)mode, 0, EQ_SEEDING_CONSTANT, 1);
        call(r, x);
        eq_var *w = eq_varstore_find(eq_runner_vars(r), "c/weights:0");
        eq_var *b = eq_varstore_find(eq_runner_vars(r), "c/biases:0");
        ck_assert_ptr_nonnull(w);
        ck_assert_ptr_nonnull(b);
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq_tol(eq_tensor_f32(w->value)[i], want[i], 1e-7);
        /* Every value within the Glorot limit sqrt(6 / (144 + 288)). */
        for (int64_t i = 0; i < eq_tensor_numel(w->value); i++)
            ck_assert(fabsf(eq_tensor_f32(w->value)[i]) <= 0.117851131f);
        ck_assert(eq_tensor_f32(b->value)[31] == 0.0f);
        eq_runner_free(r);
    }
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

/* ---- step 1 pitfalls ------------------------------------------------------- */

static eq_tensor *vec_input(eq_arena *a, int64_t n)
{
    int64_t shape[2] = {2, n};
    return input(a, 2, shape);
}

START_TEST(scaling_broken_creates_a_variable_per_eager_call)
{
    eq_model *m = zoo("scaling_broken");
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = vec_input(a, 4);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    for (int c = 1; c <= 3; c++) {
        const eq_result *re = call(e, x);
        call(g, x);
        /* bias is reused (get_variable in the store); Variable:0 is not. */
        ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 1 + c);
        ck_assert_int_eq(eq_varstore_count(eq_runner_vars(g)), 2);
        /* x * 2 + 0 */
        ck_assert(eq_tensor_f32(re->outputs[0].tensor)[1] == 2.0f * eq_tensor_f32(x)[1]);
    }
    const eq_var *v = eq_varstore_at(eq_runner_vars(e), 3);
    ck_assert_str_eq(v->name, "Variable:0");
    ck_assert_int_eq(v->call, 3);
    ck_assert(has_var(e, "bias:0"));
    eq_runner_free(e);
    eq_runner_free(g);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

static eq_status forbid_after_first_call(void *ctx, const eq_var *v, eq_error *err)
{
    int *seen = ctx;
    if (v->call > 1) {
        (*seen)++;
        return eq_error_set(err, EQ_ERR_STATE, "variable %s created in call %d by %s (%s)",
                            v->name, v->call, v->creator, v->args);
    }
    return EQ_OK;
}

START_TEST(creation_hook_forbids_and_names_the_variable)
{
    eq_model *m = zoo("scaling_broken");
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = vec_input(a, 4);
    int seen = 0;
    eq_run_config cfg;
    eq_run_config_default(&cfg, EQ_MODE_EAGER);
    cfg.hook = forbid_after_first_call;
    cfg.hook_ctx = &seen;
    eq_error err;
    eq_runner *e = eq_runner_new(m, &cfg, &err);
    call(e, x);
    const eq_result *res;
    ck_assert_int_eq(eq_runner_call(e, x, &res, &err), EQ_ERR_STATE);
    ck_assert_int_eq(seen, 1);
    ck_assert_ptr_nonnull(strstr(err.message, "Variable:0"));
    ck_assert_ptr_nonnull(strstr(err.message, "call 2"));
    ck_assert_ptr_nonnull(strstr(err.message, "initializer="));
    ck_assert_str_eq(err.path, "body[0]");
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(scaling_fixed_keeps_its_variables)
{
    eq_model *m = zoo("scaling_fixed");
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = vec_input(a, 4);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    for (int c = 0; c < 3; c++)
        call(e, x);
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 2);
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(unnamed_layers_get_new_names_every_eager_call)
{
    eq_model *m = zoo("unnamed_layers_broken");
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = vec_input(a, 8);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    call(e, x);
    call(g, x);
    call(g, x);
    ck_assert(has_var(e, "dense/kernel:0") && has_var(e, "dense/bias:0"));
    ck_assert(has_var(e, "dense_1/kernel:0") && has_var(e, "dense_1/bias:0"));
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 4);
    call(e, x);
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 8);
    ck_assert(has_var(e, "dense_2/kernel:0") && has_var(e, "dense_3/bias:0"));
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(g)), 4);
    eq_runner_free(e);
    eq_runner_free(g);
    eq_model_free(m);

    m = zoo("unnamed_layers_fixed");
    e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    for (int c = 0; c < 3; c++)
        call(e, x);
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 4);
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(get_variable_reuse_rules_per_mode)
{
    /* Two get_variable of the same name: TF1 graph refuses without reuse;
     * the eager shim's store reuses (AUTO_REUSE). */
    eq_model *m = inline_model(
        "{\"body\": ["
        " {\"get_variable\": {\"name\": \"w\", \"shape\": [3], \"initializer\": \"ones\"}, \"as\": \"a\"},"
        " {\"get_variable\": {\"name\": \"w\", \"shape\": [3], \"initializer\": \"ones\"}, \"as\": \"b\"},"
        " {\"add\": {\"inputs\": [\"a\", \"b\"]}, \"as\": \"out\"}], \"outputs\": [\"out\"]}");
    eq_arena *a = eq_arena_new(0);
    int64_t s[1] = {3};
    eq_tensor *x = input(a, 1, s);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    const eq_result *r = call(e, x);
    ck_assert_int_eq(eq_varstore_count(eq_runner_vars(e)), 1);
    ck_assert(eq_tensor_f32(r->outputs[0].tensor)[2] == 2.0f);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    eq_error err;
    ck_assert_int_eq(eq_runner_call(g, x, &r, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "Variable w already exists, disallowed"));
    ck_assert_str_eq(err.path, "body[1]");
    eq_runner_free(e);
    eq_runner_free(g);
    eq_model_free(m);

    /* Shared with a different shape: TF's "Trying to share" error. */
    m = inline_model(
        "{\"body\": ["
        " {\"get_variable\": {\"name\": \"w\", \"shape\": [3]}, \"as\": \"a\"},"
        " {\"get_variable\": {\"name\": \"w\", \"shape\": [4]}, \"as\": \"out\"}],"
        " \"outputs\": [\"out\"]}");
    e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 1);
    ck_assert_int_eq(eq_runner_call(e, x, &r, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "Trying to share variable w"));
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

START_TEST(shape_errors_name_the_layer_and_shapes)
{
    eq_model *m = inline_model(
        "{\"body\": [{\"scope\": \"net\", \"as\": \"y\", \"body\": ["
        " {\"conv2d\": {\"name\": \"c1\", \"filters\": 4, \"kernel\": 3}}]}],"
        " \"outputs\": [\"y\"]}");
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {2, 5};
    eq_tensor *x = input(a, 2, s);
    for (int mode = 0; mode < 2; mode++) {
        eq_runner *r = runner(m, (eq_mode)mode, 0, EQ_SEEDING_CONSTANT, 1);
        eq_error err;
        const eq_result *res;
        ck_assert_int_eq(eq_runner_call(r, x, &res, &err), EQ_ERR_SHAPE);
        ck_assert_ptr_nonnull(strstr(err.message, "conv2d"));
        ck_assert_ptr_nonnull(strstr(err.message, "[2, 5]"));
        ck_assert_str_eq(err.path, "body[0].body[0]");
        eq_runner_free(r);
    }
    eq_model_free(m);

    /* A kernel larger than the input: the op's message names both shapes. */
    m = inline_model(
        "{\"body\": [{\"conv2d\": {\"name\": \"c\", \"filters\": 2, \"kernel\": 5, "
        "\"padding\": \"VALID\"}, \"as\": \"y\"}], \"outputs\": [\"y\"]}");
    int64_t s4[4] = {1, 3, 3, 1};
    x = input(a, 4, s4);
    eq_runner *r = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    eq_error err;
    const eq_result *res;
    ck_assert_int_eq(eq_runner_call(r, x, &res, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "c/Conv2D"));
    eq_runner_free(r);

    /* Graph mode: a later input of another shape is refused. */
    r = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_CONSTANT, 1);
    int64_t big[4] = {1, 8, 8, 1}, other[4] = {2, 8, 8, 1};
    call(r, input(a, 4, big));
    ck_assert_int_ne(eq_runner_call(r, input(a, 4, other), &res, &err), EQ_OK);
    ck_assert_ptr_nonnull(strstr(err.message, "[2, 8, 8, 1]"));
    eq_runner_free(r);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

/* ---- random numbers: the guide's demonstrations through the language ------- */

/* a = uniform(3x1); b = uniform(3x3); c = uniform(3x3), each times 3, as in
 * the guide's DeterministicRandomTestTool section. */
static const char *ABC =
    "{\"body\": ["
    " {\"random_uniform\": {\"shape\": [3, 1]}, \"as\": \"a0\"},"
    " {\"mul\": {\"value\": 3}, \"endpoint\": \"a\"},"
    " {\"random_uniform\": {\"shape\": [3, 3]}},"
    " {\"mul\": {\"value\": 3}, \"endpoint\": \"b\"},"
    " {\"random_uniform\": {\"shape\": [3, 3]}},"
    " {\"mul\": {\"value\": 3}, \"endpoint\": \"c\"}],"
    " \"outputs\": [\"c\"]}";

static const eq_tensor *endpoint(const eq_result *r, const char *name)
{
    for (int i = 0; i < r->n_endpoints; i++)
        if (strcmp(r->endpoints[i].name, name) == 0)
            return r->endpoints[i].tensor;
    ck_abort_msg("no endpoint %s", name);
    return NULL;
}

START_TEST(random_abc_constant_and_num_random_ops)
{
    eq_model *m = inline_model(ABC);
    eq_arena *a = eq_arena_new(0);
    int64_t s[1] = {1};
    eq_tensor *x = input(a, 1, s);
    /* The spec's (42, 0) float32 uniform stream, times 3. */
    static const float first[3] = {0.83545911f, 0.91629732f, 0.49464953f};
    for (int mode = 0; mode < 2; mode++) {
        eq_runner *r = runner(m, (eq_mode)mode, 0, EQ_SEEDING_CONSTANT, 1);
        const eq_result *res = call(r, x);
        const eq_tensor *ta = endpoint(res, "a"), *tb = endpoint(res, "b"),
                        *tc = endpoint(res, "c");
        /* constant mode: b == c bitwise; a is a prefix of b's stream. */
        ck_assert(bits_equal(tb, tc));
        for (int i = 0; i < 3; i++) {
            ck_assert_float_eq_tol(eq_tensor_f32(ta)[i], 3.0f * first[i], 1e-6);
            ck_assert(eq_tensor_f32(ta)[i] == eq_tensor_f32(tb)[i]);
        }
        const eq_trace_entry *tr;
        ck_assert_int_eq(eq_runner_trace(r, &tr), 3);
        for (int i = 0; i < 3; i++)
            ck_assert(tr[i].seed == 42 && tr[i].seed2 == 0);
        eq_runner_free(r);
    }
    /* num_random_ops: (42,0), (42,1), (42,2); b != c; graph == eager. */
    eq_runner *re = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_NUM_RANDOM_OPS, 1);
    eq_runner *rg = runner(m, EQ_MODE_GRAPH, 0, EQ_SEEDING_NUM_RANDOM_OPS, 1);
    const eq_result *e = call(re, x);
    const eq_result *g = call(rg, x);
    ck_assert(!bits_equal(endpoint(e, "b"), endpoint(e, "c")));
    for (int i = 0; i < 3; i++) {
        const char *n = i == 0 ? "a" : i == 1 ? "b" : "c";
        ck_assert(bits_equal(endpoint(e, n), endpoint(g, n)));
    }
    /* (42, 1) starts 0.15012848 (spec test vectors), times 3. */
    ck_assert_float_eq_tol(eq_tensor_f32(endpoint(e, "b"))[0], 3.0f * 0.15012848f, 1e-6);
    const eq_trace_entry *tr;
    ck_assert_int_eq(eq_runner_trace(re, &tr), 3);
    ck_assert(tr[2].seed == 42 && tr[2].seed2 == 2);
    eq_runner_free(re);
    eq_runner_free(rg);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(random_order_and_explicit_operation_seed)
{
    /* The same three draws in another order: under num_random_ops the values
     * follow the order; setting operation_seed reproduces the original. */
    eq_model *m = inline_model(ABC);
    eq_model *reordered = inline_model(
        "{\"body\": ["
        " {\"random_uniform\": {\"shape\": [3, 3]}, \"endpoint\": \"b\"},"
        " {\"random_uniform\": {\"shape\": [3, 1]}, \"endpoint\": \"a\"}],"
        " \"outputs\": [\"a\"]}");
    eq_arena *a = eq_arena_new(0);
    int64_t s[1] = {1};
    eq_tensor *x = input(a, 1, s);
    eq_runner *r1 = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_NUM_RANDOM_OPS, 1);
    eq_runner *r2 = runner(reordered, EQ_MODE_EAGER, 0, EQ_SEEDING_NUM_RANDOM_OPS, 1);
    const eq_result *o = call(r1, x);
    const eq_result *n = call(r2, x);
    /* a drew (42,0) first in the original, second (42,1) in the reordered. */
    ck_assert(eq_tensor_f32(endpoint(o, "a"))[0] != 3.0f * eq_tensor_f32(endpoint(n, "a"))[0]);
    eq_runner_free(r2);

    eq_run_config cfg;
    eq_run_config_default(&cfg, EQ_MODE_EAGER);
    cfg.seeding = EQ_SEEDING_NUM_RANDOM_OPS;
    cfg.operation_seed = 1; /* b takes (42,1) as in the original */
    eq_error err;
    r2 = eq_runner_new(reordered, &cfg, &err);
    n = call(r2, x);
    for (int i = 0; i < 9; i++)
        ck_assert(eq_tensor_f32(endpoint(n, "b"))[i] * 3.0f == eq_tensor_f32(endpoint(o, "b"))[i]);
    eq_runner_free(r2);
    eq_runner_free(r1);
    eq_arena_free(a);
    eq_model_free(m);
    eq_model_free(reordered);
}
END_TEST

START_TEST(random_operation_seed_overlap_is_an_error)
{
    /* num_random_ops hands out (42,0), (42,1), (42,2) in call 1 and
     * continues at 3 in call 2. Setting operation_seed back to 1 makes the
     * next op ask for a seed already used: the tool's overlap error, since a
     * reused pair would continue an eager kernel's stream but restart a
     * graph's. */
    eq_model *m = inline_model(ABC);
    eq_arena *a = eq_arena_new(0);
    int64_t s[1] = {1};
    eq_tensor *x = input(a, 1, s);
    eq_runner *r = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_NUM_RANDOM_OPS, 1);
    call(r, x);
    call(r, x);
    const eq_trace_entry *tr;
    ck_assert_int_eq(eq_runner_trace(r, &tr), 6);
    ck_assert(tr[5].seed2 == 5);
    eq_error err;
    ck_assert_int_eq(eq_runner_set_operation_seed(r, 1, &err), EQ_OK);
    const eq_result *res;
    ck_assert_int_eq(eq_runner_call(r, x, &res, &err), EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "operation seed"));
    ck_assert_ptr_nonnull(strstr(err.message, "1"));
    ck_assert_str_eq(err.path, "body[0]");
    eq_runner_free(r);

    /* Plain TF seeding has no operation_seed to set. */
    r = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_TF, 1);
    ck_assert_int_eq(eq_runner_set_operation_seed(r, 1, &err), EQ_ERR_STATE);
    eq_runner_free(r);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(functional_wrapping_changes_the_trace_order)
{
    /* small_cnn in training: direct eager calls draw initializers and the
     * dropout in program order, like the graph; functional wrapping creates
     * every variable first, so the dropout's seed moves. */
    eq_model *m = zoo("small_cnn");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {2, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    eq_run_config cfg;
    eq_run_config_default(&cfg, EQ_MODE_GRAPH);
    cfg.training = 1;
    cfg.seeding = EQ_SEEDING_NUM_RANDOM_OPS;
    eq_error err;
    eq_runner *g = eq_runner_new(m, &cfg, &err);
    cfg.mode = EQ_MODE_EAGER;
    eq_runner *direct = eq_runner_new(m, &cfg, &err);
    cfg.functional = 1;
    eq_runner *func = eq_runner_new(m, &cfg, &err);
    const eq_result *rg = call(g, x), *rd = call(direct, x), *rf = call(func, x);
    const eq_trace_entry *tg, *td, *tf;
    int ng = eq_runner_trace(g, &tg), nd = eq_runner_trace(direct, &td);
    int nf = eq_runner_trace(func, &tf);
    ck_assert_int_eq(ng, nd);
    for (int i = 0; i < ng; i++) {
        ck_assert_str_eq(tg[i].target, td[i].target);
        ck_assert(tg[i].seed2 == td[i].seed2);
    }
    ck_assert(bits_equal(rg->outputs[0].tensor, rd->outputs[0].tensor));
    /* functional: the build (call 0) then call 1; the first call-1 entry is
     * the dropout, not an initializer, and its seed differs from graph's. */
    ck_assert_int_gt(nf, ng);
    int first_call1 = -1;
    for (int i = 0; i < nf; i++)
        if (tf[i].call == 1) {
            first_call1 = i;
            break;
        }
    ck_assert_int_ge(first_call1, 0);
    ck_assert_str_eq(tf[first_call1].op, "RandomUniform");
    ck_assert(!bits_equal(rg->outputs[0].tensor, rf->outputs[0].tensor));
    eq_runner_free(g);
    eq_runner_free(direct);
    eq_runner_free(func);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

START_TEST(graph_dropout_stream_advances_per_run)
{
    /* A graph's random node continues its stream on every session run; an
     * eager call under constant mode restarts it (set_seed per op). */
    eq_model *m = zoo("small_cnn");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {1, 28, 28, 1};
    eq_tensor *x = input(a, 4, shape);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, 1, EQ_SEEDING_CONSTANT, 0);
    eq_runner *e = runner(m, EQ_MODE_EAGER, 1, EQ_SEEDING_CONSTANT, 0);
    float g1 = eq_tensor_f32(call(g, x)->outputs[0].tensor)[0];
    float g2 = eq_tensor_f32(call(g, x)->outputs[0].tensor)[0];
    float e1 = eq_tensor_f32(call(e, x)->outputs[0].tensor)[0];
    float e2 = eq_tensor_f32(call(e, x)->outputs[0].tensor)[0];
    ck_assert(g1 == e1);
    ck_assert(e1 == e2);
    ck_assert(g1 != g2);
    eq_runner_free(g);
    eq_runner_free(e);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

/* ---- eager gives back what nothing reads again ------------------------------- */

/* Model JSON written with single quotes, for readability. */
static eq_model *inline_model_q(const char *text)
{
    char *json = strdup(text);
    ck_assert_ptr_nonnull(json);
    for (char *c = json; *c; c++)
        if (*c == '\'')
            *c = '"';
    eq_model *m = inline_model(json);
    free(json);
    return m;
}

/* Eager and graph (passes off) agree bit for bit on every output and end
 * point: an activation given back too early would be overwritten by a
 * later op's result (or, under ASan, read after it was freed). */
static void check_release_keeps_modes_identical(const eq_model *m, const eq_tensor *x,
                                                int training)
{
    eq_runner *e = runner(m, EQ_MODE_EAGER, training, EQ_SEEDING_CONSTANT, 0);
    eq_runner *g = runner(m, EQ_MODE_GRAPH, training, EQ_SEEDING_CONSTANT, 0);
    assert_results_identical(call(e, x), call(g, x), training ? "training" : "inference");
    eq_runner_free(e);
    eq_runner_free(g);
}

START_TEST(eager_holds_only_live_activations)
{
    /* 24 fully connected layers of 64 units at batch 32: 8 KiB per layer
     * output. Kept to the end of the call, they would be 192 KiB. */
    char json[8192];
    size_t n = (size_t)snprintf(json, sizeof json,
                                "{'name': 'deep', 'input': {'shape': [null, 64]}, 'body': [");
    for (int i = 0; i < 24; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "%s{'fully_connected': {'name': 'fc%d', 'num_outputs': 64}}", i ? ", " : "",
                              i);
    snprintf(json + n, sizeof json - n, ", {'identity': {}, 'as': 'out'}], 'outputs': ['out']}");
    eq_model *m = inline_model_q(json);
    eq_arena *a = eq_arena_new(0);
    int64_t shape[2] = {32, 64};
    eq_tensor *x = input(a, 2, shape);
    const size_t layer = 32 * 64 * sizeof(float);

    eq_runner *e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 0);
    const eq_result *r1 = call(e, x);
    /* a layer's input and its output, nothing older */
    ck_assert_uint_eq(r1->activation_bytes, 2 * layer);
    eq_arena *keep = eq_arena_new(0);
    eq_tensor *first = eq_tensor_new(keep, EQ_F32, 2, shape, NULL);
    ck_assert_int_eq(eq_tensor_copy(first, r1->outputs[0].tensor, NULL), EQ_OK);
    /* The second call reuses the buffers and computes the same bits. */
    const eq_result *r2 = call(e, x);
    ck_assert_uint_eq(r2->activation_bytes, 2 * layer);
    ck_assert(bits_equal(r2->outputs[0].tensor, first));
    eq_runner_free(e);
    check_release_keeps_modes_identical(m, x, 0);
    eq_model_free(m);

    /* An end point lives to the end of the call, so it adds one layer. */
    char *mark = strstr(json, "{'fully_connected': {'name': 'fc5', 'num_outputs': 64}}");
    ck_assert_ptr_nonnull(mark);
    char with_ep[8192];
    size_t head = (size_t)(mark - json) + strlen("{'fully_connected': {'name': 'fc5', 'num_outputs': 64}}");
    snprintf(with_ep, sizeof with_ep, "%.*s, 'endpoint': 'fc5'}%s", (int)(head - 1), json,
             json + head);
    m = inline_model_q(with_ep);
    e = runner(m, EQ_MODE_EAGER, 0, EQ_SEEDING_CONSTANT, 0);
    const eq_result *r3 = call(e, x);
    ck_assert_uint_eq(r3->activation_bytes, 3 * layer);
    ck_assert(bits_equal(r3->outputs[0].tensor, first));
    endpoint(r3, "fc5"); /* fails the test when missing */
    eq_runner_free(e);
    check_release_keeps_modes_identical(m, x, 0);
    eq_model_free(m);

    /* Training batch norm cannot write over the matmul's output, which is
     * given back right after: a layer's input, matmul output and batch
     * norm output at the worst moment, not one per layer. */
    char bn[8192];
    size_t k = 0;
    for (const char *c = json; *c; c++) {
        const char *fc = "'num_outputs': 64}";
        if (strncmp(c, fc, strlen(fc)) == 0) {
            k += (size_t)snprintf(bn + k, sizeof bn - k,
                                  "'num_outputs': 64, 'normalizer': 'batch_norm'}");
            c += strlen(fc) - 1;
        } else {
            bn[k++] = *c;
        }
    }
    bn[k] = '\0';
    m = inline_model_q(bn);
    e = runner(m, EQ_MODE_EAGER, 1, EQ_SEEDING_CONSTANT, 0);
    ck_assert_uint_eq(call(e, x)->activation_bytes, 3 * layer);
    eq_runner_free(e);
    check_release_keeps_modes_identical(m, x, 1);
    eq_model_free(m);
    eq_arena_free(keep);
    eq_arena_free(a);
}
END_TEST

START_TEST(eager_release_keeps_what_is_still_read)
{
    /* Every way a value outlives its statement: a name read five statements
     * later, an empty branch passing x to the concat, a residual body whose
     * result is an end point (so it must not be scaled in place), a body
     * that passes x through, dropout's random tensor. */
    eq_model *m = inline_model_q(
        "{'name': 'live', 'input': {'shape': [null, 6, 6, 4]}, 'body': ["
        " {'conv2d': {'name': 'c0', 'filters': 8, 'kernel': 3}, 'as': 'early'},"
        " {'residual': {'scale': 0.5, 'body': ["
        "   {'branches': [[],"
        "                 [{'conv2d': {'name': 'b1', 'filters': 8, 'kernel': 1}}],"
        "                 [{'conv2d': {'name': 'b2', 'filters': 4, 'kernel': 3}, 'endpoint': 'b2'}]]},"
        "   {'conv2d': {'name': 'up', 'filters': 8, 'kernel': 1, 'activation': null},"
        "    'endpoint': 'up'}]}},"
        " {'residual': {'scale': 0.2, 'activation': null, 'body': ["
        "   {'conv2d': {'name': 'r2', 'filters': 8, 'kernel': 1, 'activation': null}}]}},"
        " {'residual': {'scale': 2.0, 'body': [{'identity': {}}]}},"
        " {'dropout': {'keep_prob': 0.5}},"
        " {'conv2d': {'name': 'c1', 'filters': 8, 'kernel': 1}},"
        " {'add': {'inputs': ['early']}, 'endpoint': 'sum'},"
        " {'conv2d': {'name': 'last', 'filters': 3, 'kernel': 1}, 'as': 'out'}],"
        " 'outputs': ['out']}");
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {2, 6, 6, 4};
    eq_tensor *x = input(a, 4, shape);
    check_release_keeps_modes_identical(m, x, 0);
    check_release_keeps_modes_identical(m, x, 1);
    eq_arena_free(a);
    eq_model_free(m);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_cnn_modes_bit_identical_inference);
    tcase_add_test(tc, op_timer_reports_every_op);
    tcase_add_test(tc, eager_layers_reuse_their_temporaries);
    tcase_add_test(tc, eager_holds_only_live_activations);
    tcase_add_test(tc, eager_release_keeps_what_is_still_read);
    tcase_add_test(tc, small_cnn_modes_bit_identical_training);
    tcase_add_test(tc, graph_passes_agree_within_tolerance);
    tcase_add_test(tc, every_small_zoo_model_agrees_across_modes);
    tcase_add_test(tc, batch_norm_layer_applies_its_activation);
    tcase_add_test(tc, default_initializers_are_tf_slims);
    tcase_add_test(tc, scaling_broken_creates_a_variable_per_eager_call);
    tcase_add_test(tc, creation_hook_forbids_and_names_the_variable);
    tcase_add_test(tc, scaling_fixed_keeps_its_variables);
    tcase_add_test(tc, unnamed_layers_get_new_names_every_eager_call);
    tcase_add_test(tc, get_variable_reuse_rules_per_mode);
    tcase_add_test(tc, shape_errors_name_the_layer_and_shapes);
    tcase_add_test(tc, random_abc_constant_and_num_random_ops);
    tcase_add_test(tc, random_order_and_explicit_operation_seed);
    tcase_add_test(tc, random_operation_seed_overlap_is_an_error);
    tcase_add_test(tc, functional_wrapping_changes_the_trace_order);
    tcase_add_test(tc, graph_dropout_stream_advances_per_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    eq_blas_init(0, NULL);
    SRunner *sr = srunner_create(runtime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
