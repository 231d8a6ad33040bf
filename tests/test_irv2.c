/* test_irv2.c - Inception-ResNet-v2 from the zoo against the spec's data
 * (copied into tests/fixtures/irv2/ from shared/spec/irv2/):
 *   - the graph-mode manifest equals manifest.json (names, shapes,
 *     trainable flags, count, creation order), and eager's too;
 *   - without aux logits and batch-norm scale it equals the other manifest;
 *   - endpoint shapes equal endpoints.json, in order;
 *   - with every variable 0.001 and an all-ones input, the logits and the
 *     sums of the listed tensors match reference_fixed_0.001.json (float64
 *     from an independent implementation) within 1e-4 relative, in both
 *     modes. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_zoo.h"

static json_t *fixture(const char *name)
{
    const char *src = getenv("EQ_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/irv2/%s", src ? src : ".", name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
    return j;
}

static json_t *zoo_json(void)
{
    char path[1024];
    eq_error err;
    ck_assert_msg(eq_zoo_find("inception_resnet_v2", path, sizeof path, &err) == EQ_OK, "%s",
                  err.message);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    ck_assert_msg(j != NULL, "%s", jerr.text);
    return j;
}

static eq_model *parse(json_t *j, json_t *args)
{
    eq_error err;
    eq_model *m = eq_model_parse(j, args, NULL, &err);
    ck_assert_msg(m != NULL, "%s: %s", err.path, err.message);
    return m;
}

static eq_tensor *ones_input(eq_arena *a)
{
    int64_t shape[4] = {1, 299, 299, 3};
    eq_tensor *x = eq_tensor_new(a, EQ_F32, 4, shape, NULL);
    ck_assert_ptr_nonnull(x);
    eq_tensor_fill(x, 1.0);
    return x;
}

static eq_runner *run_once(const eq_model *m, eq_mode mode, const eq_tensor *x,
                           const eq_result **res)
{
    eq_run_config cfg;
    eq_run_config_default(&cfg, mode);
    eq_error err;
    eq_runner *r = eq_runner_new(m, &cfg, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert_msg(eq_runner_call(r, x, res, &err) == EQ_OK, "%s: %s", err.path, err.message);
    return r;
}

static void assert_manifest(eq_varstore *vs, json_t *want, const char *mode)
{
    ck_assert_int_eq(eq_varstore_count(vs), (int)json_array_size(want));
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w) {
        const eq_var *v = eq_varstore_at(vs, (int)i);
        const char *name = json_string_value(json_object_get(w, "name"));
        ck_assert_msg(strcmp(v->name, name) == 0, "%s variable %zu: %s, want %s", mode, i,
                      v->name, name);
        json_t *shape = json_object_get(w, "shape");
        ck_assert_int_eq(v->value->rank, (int)json_array_size(shape));
        for (int d = 0; d < v->value->rank; d++)
            ck_assert_int_eq(v->value->shape[d], json_integer_value(json_array_get(shape, d)));
        ck_assert_int_eq(v->trainable, json_is_true(json_object_get(w, "trainable")));
        ck_assert(v->value->dtype == EQ_F32);
    }
}

static void assert_endpoint_shapes(const eq_result *res, json_t *want)
{
    const char *name;
    json_t *shape;
    int k = 0;
    json_object_foreach(json_object_get(want, "end_points"), name, shape) {
        /* The same order, skipping the extra endpoints a test may add. */
        while (k < res->n_endpoints && strcmp(res->endpoints[k].name, name) != 0)
            k++;
        ck_assert_msg(k < res->n_endpoints, "endpoint %s missing or out of order", name);
        const eq_tensor *t = res->endpoints[k].tensor;
        ck_assert_int_eq(t->rank, (int)json_array_size(shape));
        for (int d = 0; d < t->rank; d++)
            ck_assert_int_eq(t->shape[d], json_integer_value(json_array_get(shape, d)));
    }
}

START_TEST(manifest_and_endpoints_match_the_spec)
{
    json_t *mj = zoo_json();
    eq_model *m = parse(mj, NULL);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = ones_input(a);
    json_t *manifest = fixture("manifest.json"), *endpoints = fixture("endpoints.json");
    for (int mode = 0; mode < 2; mode++) {
        const eq_result *res;
        eq_runner *r = run_once(m, (eq_mode)mode, x, &res);
        assert_manifest(eq_runner_vars(r), manifest, eq_mode_name((eq_mode)mode));
        ck_assert_int_eq(eq_varstore_params(eq_runner_vars(r)), 59273456);
        assert_endpoint_shapes(res, endpoints);
        ck_assert_int_eq(res->n_endpoints, (int)json_object_size(json_object_get(endpoints,
                                                                                 "end_points")));
        eq_runner_free(r);
    }
    json_decref(manifest);
    json_decref(endpoints);
    eq_model_free(m);

    /* No aux head, no gamma: the other manifest. */
    json_t *args = json_pack("{s:b, s:b}", "create_aux_logits", 0, "batch_norm_scale", 0);
    m = parse(mj, args);
    manifest = fixture("manifest_noaux_noscale.json");
    const eq_result *res;
    eq_runner *r = run_once(m, EQ_MODE_GRAPH, x, &res);
    assert_manifest(eq_runner_vars(r), manifest, "graph (no aux, no scale)");
    eq_runner_free(r);
    json_decref(manifest);
    json_decref(args);
    eq_model_free(m);
    json_decref(mj);
    eq_arena_free(a);
}
END_TEST

/* Mark the outputs of the repeats and the last block as endpoints, so the
 * reference's non-slim intermediate sums can be read too. */
static void add_endpoint(json_t *node, const char *block_name, int in_repeat,
                         const char *endpoint)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) add_endpoint(v, block_name, in_repeat, endpoint);
        return;
    }
    if (!json_is_object(node))
        return;
    json_t *rep = json_object_get(node, "repeat");
    json_t *blk = json_object_get(node, "block");
    if (in_repeat && rep &&
        strcmp(json_string_value(json_object_get(rep, "block")), block_name) == 0 &&
        !json_object_get(node, "endpoint"))
        json_object_set_new(node, "endpoint", json_string(endpoint));
    if (!in_repeat && json_is_string(blk) && !json_object_get(node, "count") &&
        strcmp(json_string_value(blk), block_name) == 0)
        json_object_set_new(node, "endpoint", json_string(endpoint));
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v) {
        if (strcmp(key, "blocks") != 0)
            add_endpoint(v, block_name, in_repeat, endpoint);
    }
}

static double tensor_sum(const eq_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < eq_tensor_numel(t); i++)
        s += eq_tensor_get(t, i);
    return s;
}

static const eq_tensor *find_endpoint(const eq_result *res, const char *name)
{
    for (int i = 0; i < res->n_endpoints; i++)
        if (strcmp(res->endpoints[i].name, name) == 0)
            return res->endpoints[i].tensor;
    return NULL;
}

START_TEST(fixed_weights_match_the_independent_reference)
{
    json_t *mj = zoo_json();
    add_endpoint(mj, "block35", 1, "Repeat");
    add_endpoint(mj, "block8", 1, "Repeat_2");
    add_endpoint(mj, "block8", 0, "Block8");
    eq_model *m = parse(mj, NULL);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *x = ones_input(a);
    json_t *ref = fixture("reference_fixed_0.001.json");
    double logit = json_real_value(json_object_get(ref, "logits_each_float64"));
    for (int mode = 0; mode < 2; mode++) {
        const eq_result *res;
        eq_runner *r = run_once(m, (eq_mode)mode, x, &res);
        eq_varstore_set_all(eq_runner_vars(r), 0.001);
        eq_error err;
        ck_assert_msg(eq_runner_call(r, x, &res, &err) == EQ_OK, "%s", err.message);
        const eq_tensor *logits = res->outputs[0].tensor;
        ck_assert_int_eq(eq_tensor_numel(logits), 1000);
        for (int i = 0; i < 1000; i++)
            ck_assert_msg(fabs(eq_tensor_f32(logits)[i] - logit) <= 1e-4 * logit,
                          "%s logit %d = %.9g, want %.9g", eq_mode_name((eq_mode)mode), i,
                          eq_tensor_f32(logits)[i], logit);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(ref, "tensors"), i, t) {
            const char *name = json_string_value(json_object_get(t, "name"));
            /* The reference names the repeats' outputs by their scopes;
             * Repeat_1's output is the endpoint PreAuxLogits. */
            const eq_tensor *got =
                find_endpoint(res, strcmp(name, "Repeat_1") == 0 ? "PreAuxLogits" : name);
            ck_assert_msg(got != NULL, "no tensor %s", name);
            double want = json_real_value(json_object_get(t, "sum_float64"));
            double sum = tensor_sum(got);
            ck_assert_msg(fabs(sum - want) <= 1e-4 * fabs(want), "%s %s: sum %.9g, want %.9g",
                          eq_mode_name((eq_mode)mode), name, sum, want);
        }
        eq_runner_free(r);
    }
    json_decref(ref);
    json_decref(mj);
    eq_model_free(m);
    eq_arena_free(a);
}
END_TEST

/* Random weights (constant seed policy), inference: eager equals graph bit
 * for bit with every pass off; with the default passes on, the logits and
 * every endpoint agree within the default tolerance (rtol 1e-6, atol 1e-5). */
START_TEST(modes_agree_with_random_weights)
{
    json_t *mj = zoo_json();
    eq_model *m = parse(mj, NULL);
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {1, 299, 299, 3};
    eq_tensor *x = eq_tensor_new(a, EQ_F32, 4, shape, NULL);
    for (int64_t i = 0; i < eq_tensor_numel(x); i++)
        eq_tensor_f32(x)[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    eq_runner *r[3];
    const eq_result *res[3];
    for (int k = 0; k < 3; k++) {
        eq_run_config cfg;
        eq_run_config_default(&cfg, k == 0 ? EQ_MODE_EAGER : EQ_MODE_GRAPH);
        if (k == 1)
            eq_graph_options_all(&cfg.graph, 0);
        eq_error err;
        r[k] = eq_runner_new(m, &cfg, &err);
        ck_assert_msg(eq_runner_call(r[k], x, &res[k], &err) == EQ_OK, "%s", err.message);
    }
    for (int i = 0; i < res[0]->n_endpoints; i++) {
        const eq_tensor *e = res[0]->endpoints[i].tensor, *g0 = res[1]->endpoints[i].tensor,
                        *g1 = res[2]->endpoints[i].tensor;
        ck_assert_msg(memcmp(e->data, g0->data, eq_tensor_nbytes(e)) == 0,
                      "endpoint %s differs with passes off", res[0]->endpoints[i].name);
        for (int64_t j = 0; j < eq_tensor_numel(e); j++) {
            double ev = eq_tensor_f32(e)[j], gv = eq_tensor_f32(g1)[j];
            ck_assert_msg(fabs(gv - ev) <= 1e-5 + 1e-6 * fabs(ev),
                          "endpoint %s[%lld]: graph %.9g, eager %.9g",
                          res[0]->endpoints[i].name, (long long)j, gv, ev);
        }
    }
    for (int k = 0; k < 3; k++)
        eq_runner_free(r[k]);
    json_decref(mj);
    eq_model_free(m);
    eq_arena_free(a);
}
END_TEST

static Suite *irv2_suite(void)
{
    Suite *s = suite_create("irv2");
    TCase *tc = tcase_create("irv2");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, manifest_and_endpoints_match_the_spec);
    tcase_add_test(tc, fixed_weights_match_the_independent_reference);
    tcase_add_test(tc, modes_agree_with_random_weights);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    eq_blas_init(0, NULL);
    SRunner *sr = srunner_create(irv2_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
