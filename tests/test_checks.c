/* test_checks.c - the checks: trace and result comparison on hand-made
 * data, then every check end to end on small models (eq_job_run), the
 * hooks, cancellation, errors, the report's field names and the estimate. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eq.h"
#include "eq_checks.h"
#include "eq_blas.h"
#include "eq_gemm_packed.h"
#include "eq_job.h"
#include "eq_job_internal.h"
#include "eq_npy.h"
#include "eq_safetensors.h"

#define MLP                                                                                        \
    "{\"input\": {\"shape\": [null, 8]}, \"body\": [{\"dense\": {\"name\": \"fc1\", \"units\": "   \
    "4, \"activation\": \"relu\"}, \"endpoint\": \"fc1\"}, {\"dense\": {\"name\": \"fc2\", "        \
    "\"units\": 2}, \"endpoint\": \"fc2\"}], \"outputs\": [\"fc2\"]}"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON: %s: %s", jerr.text, text);
    return j;
}

static eq_job *parse(const char *text)
{
    json_t *j = load(text);
    eq_error err;
    eq_job *job = eq_job_parse(j, NULL, &err);
    ck_assert_msg(job != NULL, "%s: %s", err.path, err.message);
    json_decref(j);
    return job;
}

static json_t *run(const char *text)
{
    eq_job *job = parse(text);
    eq_error err;
    json_t *r = eq_job_run(job, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    eq_job_free(job);
    return r;
}

static const json_t *check_of(const json_t *report, const char *name)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(report, "checks"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
            return c;
    }
    ck_abort_msg("no check %s", name);
    return NULL;
}

static const char *verdict_of(const json_t *report, const char *name)
{
    return json_string_value(json_object_get(check_of(report, name), "verdict"));
}

static const json_t *details(const json_t *report, const char *name)
{
    return json_object_get(check_of(report, name), "details");
}

START_TEST(graph_options_follow_the_runtime)
{
    /* The job's field table lists the passes in eq_graph_pass order: the
     * parser relies on it. */
    json_t *j = load("{\"model\": " MLP ", \"graph_options\": {\"constant_folding\": false, "
                     "\"buffer_reuse\": false, \"fold_batch_norm\": true}}");
    eq_error err;
    eq_job *job = eq_job_parse(j, NULL, &err);
    ck_assert_ptr_nonnull(job);
    for (int p = 0; p < EQ_PASS_COUNT; p++) {
        const char *name = eq_graph_pass_name((eq_graph_pass)p);
        int want = strcmp(name, "constant_folding") && strcmp(name, "buffer_reuse");
        if (strcmp(name, "arithmetic") == 0)
            want = job->graph.enabled[p]; /* a default, not set here */
        ck_assert_msg(job->graph.enabled[p] == want, "pass %s", name);
    }
    eq_job_free(job);
    json_decref(j);
    json_t *rules = eq_job_rules();
    const char *key;
    const json_t *v;
    int p = 0;
    json_object_foreach(json_object_get(rules, "graph_options"), key, v)
        ck_assert_str_eq(key, eq_graph_pass_name((eq_graph_pass)p++));
    ck_assert_int_eq(p, EQ_PASS_COUNT);
    json_decref(rules);
}
END_TEST

/* ---- random traces, by hand ---------------------------------------------- */

static eq_trace_entry te(const char *op, const char *target, int64_t seed2, int64_t dim, int call)
{
    eq_trace_entry e;
    memset(&e, 0, sizeof e);
    e.op = op;
    e.target = target;
    e.detail = "";
    e.seed = 42;
    e.seed2 = seed2;
    e.rank = 1;
    e.shape[0] = dim;
    e.call = call;
    return e;
}

static job_run *trace_run(const char *extra)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{\"model\": " MLP "%s}", extra);
    job_run *r = calloc(1, sizeof *r);
    r->job = parse(buf);
    return r;
}

static void trace_run_free(job_run *r)
{
    eq_job_free(r->job);
    free(r);
}

START_TEST(traces_identical)
{
    job_run *r = trace_run("");
    eq_trace_entry g[] = {te("initializer", "fc1/kernel:0", 0, 32, 1),
                          te("RandomUniform", "drop", 1, 4, 1)};
    int match;
    json_t *t = job_compare_traces(r, g, 2, g, 2, &match);
    ck_assert_int_eq(match, 1);
    ck_assert(json_is_true(json_object_get(t, "match")));
    ck_assert(json_is_false(json_object_get(t, "order_differs")));
    ck_assert(json_is_null(json_object_get(t, "first_difference")));
    ck_assert_int_eq(json_array_size(json_object_get(t, "graph")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(t, "graph"), 1), "seed2")),
                     1);
    json_decref(t);
    trace_run_free(r);
}
END_TEST

START_TEST(traces_constant_order_is_harmless)
{
    /* Constant mode: every op (42, 0); functional wrapping reorders them. */
    job_run *r = trace_run(", \"seed_policy\": \"constant\"");
    eq_trace_entry g[] = {te("initializer", "fc1/kernel:0", 0, 32, 1),
                          te("RandomUniform", "drop1", 0, 4, 1),
                          te("initializer", "fc2/kernel:0", 0, 8, 1)};
    eq_trace_entry e[] = {te("initializer", "fc1/kernel:0", 0, 32, 0),
                          te("initializer", "fc2/kernel:0", 0, 8, 0),
                          te("RandomUniform", "drop1", 0, 4, 1)};
    int match;
    json_t *t = job_compare_traces(r, g, 3, e, 3, &match);
    ck_assert_int_eq(match, 1);
    ck_assert(json_is_true(json_object_get(t, "order_differs")));
    json_decref(t);
    trace_run_free(r);
}
END_TEST

START_TEST(traces_functional_num_random_ops)
{
    job_run *r = trace_run(", \"seed_policy\": \"num_random_ops\"");
    eq_trace_entry g[] = {te("initializer", "fc1/kernel:0", 0, 32, 1),
                          te("RandomUniform", "drop1", 1, 4, 1),
                          te("initializer", "fc2/kernel:0", 2, 8, 1)};
    eq_trace_entry e[] = {te("initializer", "fc1/kernel:0", 0, 32, 0),
                          te("initializer", "fc2/kernel:0", 1, 8, 0),
                          te("RandomUniform", "drop1", 2, 4, 1)};
    int match;
    json_t *t = job_compare_traces(r, g, 3, e, 3, &match);
    ck_assert_int_eq(match, 0);
    const json_t *fd = json_object_get(t, "first_difference");
    ck_assert_str_eq(json_string_value(json_object_get(fd, "kind")), "seeds");
    ck_assert_int_eq(json_integer_value(json_object_get(fd, "graph_index")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(fd, "eager_index")), 2);
    const char *why = json_string_value(json_object_get(fd, "explanation"));
    ck_assert_msg(strstr(why, "eager creates all variables before the first dropout: "
                              "functional wrapping") != NULL,
                  "%s", why);
    ck_assert_ptr_nonnull(strstr(why, "operation seed 1 in graph mode and 2 in eager mode"));
    ck_assert_int_eq(json_integer_value(json_object_get(t, "mismatches")), 2);
    json_decref(t);
    trace_run_free(r);
}
END_TEST

START_TEST(traces_shape_missing_and_name_map)
{
    job_run *r = trace_run(", \"name_map\": [{\"pattern\": \"^v2/\", \"replace\": \"\"}]");
    /* The name map pairs v2/fc1 with fc1; the shapes differ. */
    eq_trace_entry g[] = {te("initializer", "fc1/kernel:0", 0, 32, 1)};
    eq_trace_entry e[] = {te("initializer", "v2/fc1/kernel:0", 0, 16, 1)};
    int match;
    json_t *t = job_compare_traces(r, g, 1, e, 1, &match);
    ck_assert_int_eq(match, 0);
    const json_t *fd = json_object_get(t, "first_difference");
    ck_assert_str_eq(json_string_value(json_object_get(fd, "kind")), "shape");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(fd, "explanation")),
                                 "draws shape [32] in graph mode and [16] in eager mode"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(t, "eager"), 0), "target")),
                     "fc1/kernel:0");
    json_decref(t);

    /* An op only in graph mode, then one only in eager mode. */
    eq_trace_entry g2[] = {te("initializer", "fc1/kernel:0", 0, 32, 1),
                           te("RandomUniform", "drop", 1, 4, 1)};
    eq_trace_entry e2[] = {te("initializer", "v2/fc1/kernel:0", 0, 32, 1),
                           te("initializer", "v2/extra:0", 1, 4, 1)};
    t = job_compare_traces(r, g2, 2, e2, 2, &match);
    ck_assert_int_eq(match, 0);
    fd = json_object_get(t, "first_difference");
    ck_assert_str_eq(json_string_value(json_object_get(fd, "kind")), "missing_in_eager");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(fd, "explanation")),
                                 "eager mode has none"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(t, "eager"), 1), "difference")),
                     "missing_in_graph");
    json_decref(t);
    /* Only the eager extra: it is the first difference. */
    t = job_compare_traces(r, g2, 1, e2, 2, &match);
    ck_assert_int_eq(match, 0);
    fd = json_object_get(t, "first_difference");
    ck_assert_str_eq(json_string_value(json_object_get(fd, "kind")), "missing_in_graph");
    ck_assert(json_is_null(json_object_get(fd, "graph_index")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(fd, "explanation")),
                                 "extra:0, graph mode has none"));
    json_decref(t);
    trace_run_free(r);
}
END_TEST

/* ---- result comparison, by hand ------------------------------------------ */

typedef struct fake {
    float data[4][6];
    eq_tensor t[4];
    eq_named_tensor nt[4];
    eq_result res;
} fake;

/* outputs: "out" [2, 3]; endpoints: e0 [6], e1 [6], e2 [2, 3], all k + i/10. */
static void fake_result(fake *f, const char *prefix)
{
    memset(f, 0, sizeof *f);
    static const char *names[2][3] = {{"e0", "e1", "e2"}, {"v2/e0", "v2/e1", "v2/e2"}};
    int p = prefix != NULL;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 6; i++)
            f->data[k][i] = (float)k + (float)i / 10.0f;
        int64_t shape[2] = {2, 3}, flat[1] = {6};
        int two = k == 0 || k == 3;
        eq_tensor_view(&f->t[k], EQ_F32, two ? 2 : 1, two ? shape : flat, f->data[k], NULL);
        f->nt[k].tensor = &f->t[k];
        f->nt[k].name = k == 0 ? "out" : names[p][k - 1];
    }
    f->res.outputs = &f->nt[0];
    f->res.n_outputs = 1;
    f->res.endpoints = &f->nt[1];
    f->res.n_endpoints = 3;
    f->res.has_reg_loss = 1;
    f->res.reg_loss = 0.5f;
}

static json_t *compare(job_run *r, const eq_result *g, const eq_result *e, int *close)
{
    json_t *check = json_object(), *d = json_object();
    eq_error err;
    ck_assert_int_eq(job_compare_results(r, check, d, g, e, close, &err), EQ_OK);
    json_object_set_new(check, "details", d);
    return check;
}

START_TEST(results_close_and_first_divergence)
{
    job_run *r = trace_run("");
    fake *g = malloc(sizeof *g), *e = malloc(sizeof *e);
    fake_result(g, NULL);
    fake_result(e, NULL);
    int close;
    json_t *c = compare(r, &g->res, &e->res, &close);
    ck_assert_int_eq(close, 1);
    const json_t *d = json_object_get(c, "details");
    ck_assert(json_is_null(json_object_get(d, "first_divergent_endpoint")));
    ck_assert_int_eq(json_integer_value(json_object_get(d, "endpoints_compared")), 3);
    ck_assert(json_is_true(json_object_get(json_object_get(d, "regularization_loss"), "close")));
    ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(d, "outputs"), 0), "close")));
    json_decref(c);

    /* e1 and e2 off: the divergence starts at e1, the earlier one. */
    e->data[2][4] += 1e-3f;
    e->data[3][0] += 1.0f;
    c = compare(r, &g->res, &e->res, &close);
    ck_assert_int_eq(close, 0);
    d = json_object_get(c, "details");
    const json_t *first = json_object_get(d, "first_divergent_endpoint");
    ck_assert_str_eq(json_string_value(json_object_get(first, "name")), "e1");
    ck_assert_int_eq(json_integer_value(json_object_get(first, "execution_index")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "endpoints_out_of_tolerance")), 2);
    const json_t *e1 = json_array_get(json_object_get(d, "endpoints"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(e1, "mismatched")), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(
                         json_object_get(json_object_get(e1, "worst"), "index"), 0)),
                     4);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d, "summary")),
                                 "divergence starts at e1 (endpoint 2 of 3)"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(json_object_get(c, "messages"), 0)),
                                 "divergence starts at e1"));
    json_decref(c);
    free(g);
    free(e);
    trace_run_free(r);
}
END_TEST

START_TEST(results_overrides_shapes_reg_loss_and_names)
{
    /* e1 gets a wide tolerance; eager names go through the map. */
    job_run *r = trace_run(", \"tolerances\": {\"overrides\": {\"e1\": {\"atol\": 0.01}}},"
                           " \"name_map\": [{\"pattern\": \"^v2/\", \"replace\": \"\"}]");
    fake *g = malloc(sizeof *g), *e = malloc(sizeof *e);
    fake_result(g, NULL);
    fake_result(e, "v2/");
    e->data[2][4] += 1e-3f;
    int close;
    json_t *c = compare(r, &g->res, &e->res, &close);
    ck_assert_int_eq(close, 1);
    const json_t *d = json_object_get(c, "details");
    const json_t *e1 = json_array_get(json_object_get(d, "endpoints"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e1, "name")), "e1");
    ck_assert_str_eq(json_string_value(json_object_get(e1, "eager_name")), "v2/e1");
    ck_assert_int_eq(json_array_size(json_object_get(d, "only_in_eager_endpoints")), 0);
    json_decref(c);

    /* A shape mismatch on e2, and a regularisation loss only one mode has. */
    e->t[3].rank = 1;
    e->t[3].shape[0] = 6;
    e->res.reg_loss = 0.75f;
    c = compare(r, &g->res, &e->res, &close);
    ck_assert_int_eq(close, 0);
    d = json_object_get(c, "details");
    const json_t *e2 = json_array_get(json_object_get(d, "endpoints"), 2);
    ck_assert(json_is_true(json_object_get(e2, "shape_mismatch")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e2, "message")),
                                 "expected [2, 3], got [6]"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(d, "first_divergent_endpoint"), "name")),
                     "e2");
    const json_t *reg = json_object_get(d, "regularization_loss");
    ck_assert(json_is_false(json_object_get(reg, "close")));
    ck_assert(json_real_value(json_object_get(reg, "abs_diff")) == 0.25);
    json_decref(c);
    e->res.has_reg_loss = 0;
    c = compare(r, &g->res, &e->res, &close);
    ck_assert(json_is_null(json_object_get(
        json_object_get(json_object_get(c, "details"), "regularization_loss"), "eager")));
    json_decref(c);

    /* Endpoints one mode lacks are listed, not compared. */
    e->res.has_reg_loss = 1;
    e->res.reg_loss = 0.5f;
    e->t[3] = g->t[3];
    e->res.n_endpoints = 2;
    c = compare(r, &g->res, &e->res, &close);
    ck_assert_int_eq(close, 1);
    d = json_object_get(c, "details");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "only_in_graph_endpoints"), 0)),
                     "e2");
    json_decref(c);
    free(g);
    free(e);
    trace_run_free(r);
}
END_TEST

/* ---- the checks on small models ------------------------------------------- */

#define SCALING(cache)                                                                             \
    "{\"input\": {\"shape\": [null, 8]}, \"body\": [{\"dense\": {\"name\": \"dense\", "            \
    "\"units\": 4}, \"as\": \"h\"}, {\"scope\": \"scaling\", \"body\": [{\"variable\": {\"name\": " \
    "\"scale\", \"shape\": [], \"initializer\": {\"kind\": \"constant\", \"value\": 2.0}" cache     \
    "}, \"as\": \"s\"}, {\"mul\": {\"inputs\": [\"h\", \"s\"]}}], \"endpoint\": \"scaled\"}], "     \
    "\"outputs\": [\"scaled\"]}"

START_TEST(variables_once_names_the_variable)
{
    json_t *r = run("{\"model\": " SCALING("") ", \"checks\": [\"variables_once\", "
                    "\"manifest\"], \"eager_calls\": 3}");
    ck_assert_str_eq(verdict_of(r, "variables_once"), "fail");
    const json_t *d = details(r, "variables_once");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "created_after_first_call_count")), 2);
    const json_t *v = json_array_get(json_object_get(d, "created_after_first_call"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "scaling/scale:0");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "call")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(v, "cause")), "uncached_variable");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(v, "creator")), "variable"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(v, "arguments")), "shape=[]"));
    ck_assert_str_eq(json_string_value(json_object_get(v, "first_call_variable")), "scaling/scale:0");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(v, "fix")), "cache"));
    const json_t *per_call = json_object_get(d, "variables_created_per_call");
    ck_assert_int_eq(json_integer_value(json_array_get(per_call, 0)), 0);
    ck_assert_int_eq(json_integer_value(json_array_get(per_call, 1)), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(per_call, 2)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(per_call, 3)), 1);
    /* The manifest sees the same thing as duplicate eager names. */
    ck_assert_str_eq(verdict_of(r, "manifest"), "fail");
    const json_t *m = details(r, "manifest");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "duplicate_names_in_eager_count")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "graph"), "count")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(m, "eager"), "count")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "fail");
    json_decref(r);

    r = run("{\"model\": " SCALING(", \"cache\": true") ", \"checks\": [\"variables_once\", "
            "\"manifest\", \"fixed_weights\"]}");
    ck_assert_str_eq(verdict_of(r, "variables_once"), "pass");
    ck_assert_str_eq(verdict_of(r, "manifest"), "pass");
    ck_assert_str_eq(verdict_of(r, "fixed_weights"), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "pass");
    json_decref(r);
}
END_TEST

START_TEST(variables_once_unnamed_layers)
{
    json_t *r = run("{\"model\": {\"input\": {\"shape\": [null, 8]}, \"body\": [{\"dense\": "
                    "{\"units\": 4}}, {\"dense\": {\"units\": 2}, \"endpoint\": \"out\"}], "
                    "\"outputs\": [\"out\"]}, \"checks\": [\"variables_once\"]}");
    ck_assert_str_eq(verdict_of(r, "variables_once"), "fail");
    const json_t *d = details(r, "variables_once");
    const json_t *v = json_array_get(json_object_get(d, "created_after_first_call"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "dense_2/kernel:0");
    ck_assert_str_eq(json_string_value(json_object_get(v, "cause")), "unnamed_layer");
    ck_assert_str_eq(json_string_value(json_object_get(v, "statement_path")), "model.body[0]");
    ck_assert_str_eq(json_string_value(json_object_get(v, "first_call_variable")), "dense/kernel:0");
    /* 4 variables per call after the first: 2 calls x 2 layers x 2 vars. */
    ck_assert_int_eq(json_integer_value(json_object_get(d, "created_after_first_call_count")), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "causes"),
                                                        "unnamed_layer")),
                     8);
    json_decref(r);
}
END_TEST

START_TEST(manifest_with_name_map)
{
    const char *legacy = "{\"input\": {\"shape\": [null, 8]}, \"body\": [{\"scope\": \"Legacy\", "
                         "\"body\": [{\"dense\": {\"name\": \"fc\", \"units\": 3}}]}], "
                         "\"outputs\": [\"input\"]}";
    const char *migrated = "{\"input\": {\"shape\": [null, 8]}, \"body\": [{\"scope\": \"New\", "
                           "\"body\": [{\"dense\": {\"name\": \"fc\", \"units\": 3, \"use_bias\": "
                           "false}}, {\"dense\": {\"name\": \"fc2\", \"units\": 3}}]}], "
                           "\"outputs\": [\"input\"]}";
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"model\": %s, \"eager_model\": %s, \"checks\": [\"manifest\"], \"name_map\": "
             "[{\"pattern\": \"^New/\", \"replace\": \"Legacy/\"}]}",
             legacy, migrated);
    json_t *r = run(buf);
    ck_assert_str_eq(verdict_of(r, "manifest"), "fail");
    const json_t *d = details(r, "manifest");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "matched_count")), 1);
    const json_t *og = json_object_get(d, "only_in_graph");
    ck_assert_int_eq(json_array_size(og), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(og, 0), "name")),
                     "Legacy/fc/bias:0");
    const json_t *oe = json_object_get(d, "only_in_eager");
    ck_assert_int_eq(json_array_size(oe), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(oe, 0), "name")),
                     "Legacy/fc2/kernel:0");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(oe, 0), "eager_name")),
                     "New/fc2/kernel:0");
    json_decref(r);

    /* Without the map nothing lines up. */
    snprintf(buf, sizeof buf, "{\"model\": %s, \"eager_model\": %s, \"checks\": [\"manifest\"]}",
             legacy, legacy);
    r = run(buf);
    ck_assert_str_eq(verdict_of(r, "manifest"), "pass");
    json_decref(r);
}
END_TEST

static const char *small_cnn(double eps2)
{
    static char buf[2][2048];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k],
             "{\"input\": {\"shape\": [null, 8, 8, 3]}, \"body\": ["
             "{\"conv2d\": {\"name\": \"c1\", \"filters\": 4, \"kernel\": 3, \"normalizer\": "
             "\"batch_norm\"}, \"endpoint\": \"c1\"},"
             "{\"conv2d\": {\"name\": \"c2\", \"filters\": 4, \"kernel\": 3, \"normalizer\": "
             "\"batch_norm\", \"normalizer_args\": {\"epsilon\": %g}}, \"endpoint\": \"c2\"},"
             "{\"conv2d\": {\"name\": \"c3\", \"filters\": 4, \"kernel\": 3}, \"endpoint\": \"c3\"},"
             "{\"flatten\": {}}, {\"dropout\": {\"name\": \"drop\", \"keep_prob\": 0.5}},"
             "{\"fully_connected\": {\"name\": \"logits\", \"num_outputs\": 2, \"activation\": null,"
             " \"weights_regularizer\": {\"l2\": 0.01}}, \"endpoint\": \"logits\"}],"
             " \"outputs\": [\"logits\"]}",
             eps2);
    return buf[k];
}

START_TEST(fixed_weights_names_first_divergence)
{
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"model\": %s, \"eager_model\": %s, \"checks\": [\"fixed_weights\"], \"input\": "
             "{\"fill\": \"uniform\", \"seed\": 1}}",
             small_cnn(0.001), small_cnn(0.1));
    json_t *r = run(buf);
    ck_assert_str_eq(verdict_of(r, "fixed_weights"), "fail");
    const json_t *d = details(r, "fixed_weights");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(d, "first_divergent_endpoint"), "name")),
                     "c2");
    ck_assert(json_is_true(json_object_get(json_array_get(json_object_get(d, "endpoints"), 0),
                                           "close")));
    ck_assert(json_real_value(json_object_get(d, "fixed_weight_value")) == 0.001);
    /* The regularisation loss depends on the weights only: equal. */
    ck_assert(json_is_true(json_object_get(json_object_get(d, "regularization_loss"), "close")));
    json_decref(r);

    snprintf(buf, sizeof buf, "{\"model\": %s, \"checks\": [\"fixed_weights\", "
                              "\"random_inference\", \"random_training\"]}",
             small_cnn(0.001));
    r = run(buf);
    ck_assert_str_eq(verdict_of(r, "fixed_weights"), "pass");
    ck_assert_str_eq(verdict_of(r, "random_inference"), "pass");
    ck_assert_str_eq(verdict_of(r, "random_training"), "pass");
    const json_t *tr = json_object_get(details(r, "random_training"), "random_trace");
    ck_assert(json_is_true(json_object_get(tr, "match")));
    ck_assert_int_ge(json_integer_value(json_object_get(tr, "graph_count")), 4);
    json_decref(r);
}
END_TEST

START_TEST(random_training_functional)
{
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"model\": %s, \"checks\": [\"random_inference\", \"random_training\"], "
             "\"eager_call\": \"functional\", \"seed_policy\": \"num_random_ops\"}",
             small_cnn(0.001));
    json_t *r = run(buf);
    ck_assert_str_eq(verdict_of(r, "random_inference"), "pass");
    ck_assert_str_eq(verdict_of(r, "random_training"), "fail");
    const json_t *fd = json_object_get(
        json_object_get(details(r, "random_training"), "random_trace"), "first_difference");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(fd, "explanation")),
                                 "functional wrapping"));
    json_decref(r);
    /* The same under constant seeding passes. */
    snprintf(buf, sizeof buf,
             "{\"model\": %s, \"checks\": [\"random_training\"], \"eager_call\": \"functional\"}",
             small_cnn(0.001));
    r = run(buf);
    ck_assert_str_eq(verdict_of(r, "random_training"), "pass");
    json_decref(r);
}
END_TEST

static void write_checkpoint(const char *path, int variant)
{
    /* MLP variables: fc1/kernel [8, 4], fc1/bias [4], fc2/kernel [4, 2],
     * fc2/bias [2]. variant 1: fc2/bias missing, an extra key, fc1/bias
     * mis-shaped. */
    eq_arena *a = eq_arena_new(0);
    int64_t s[4][2] = {{8, 4}, {4, 1}, {4, 2}, {2, 1}};
    int ranks[4] = {2, 1, 2, 1};
    const char *names[4] = {"fc1/kernel", "fc1/bias", "fc2/kernel:0", "fc2/bias"};
    eq_safetensors_item items[5];
    int n = 0;
    for (int k = 0; k < 4; k++) {
        if (variant == 1 && k == 3)
            continue;
        int64_t shape[2] = {s[k][0], s[k][1]};
        if (variant == 1 && k == 1)
            shape[0] = 5;
        eq_tensor *t = eq_tensor_new(a, EQ_F32, ranks[k], shape, NULL);
        for (int64_t i = 0; i < eq_tensor_numel(t); i++)
            eq_tensor_f32(t)[i] = (float)((i * 7 + k) % 11) / 20.0f - 0.25f;
        items[n].name = names[k];
        items[n].tensor = t;
        n++;
    }
    if (variant == 1) {
        int64_t one = 1;
        eq_tensor *t = eq_tensor_zeros(a, EQ_F32, 1, &one, NULL);
        items[n].name = "global_scale";
        items[n].tensor = t;
        n++;
    }
    eq_error err;
    ck_assert_int_eq(eq_safetensors_write_file(path, items, (size_t)n, NULL, 0, &err), EQ_OK);
    eq_arena_free(a);
}

START_TEST(checkpoint_keys)
{
    char path[] = "/tmp/eq_test_ckpt_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_checkpoint(path, 0);
    char buf[4096];
    snprintf(buf, sizeof buf, "{\"model\": " MLP ", \"checkpoint\": \"%s\", \"checks\": "
                              "[\"checkpoint\"], \"input\": {\"fill\": \"uniform\"}}",
             path);
    json_t *r = run(buf);
    ck_assert_str_eq(verdict_of(r, "checkpoint"), "pass");
    const json_t *d = details(r, "checkpoint");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "graph_keys"), "loaded")),
                     4);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "checkpoint_keys")), 4);
    /* The loaded values are what ran: the output is not the random init's. */
    const json_t *out = json_array_get(json_object_get(d, "outputs"), 0);
    ck_assert(json_is_true(json_object_get(out, "close")));
    json_decref(r);

    write_checkpoint(path, 1);
    r = run(buf);
    ck_assert_str_eq(verdict_of(r, "checkpoint"), "fail");
    const json_t *gk = json_object_get(details(r, "checkpoint"), "graph_keys");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(gk, "missing"), 0)),
                     "fc2/bias:0");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(gk, "unexpected"), 0)),
                     "global_scale");
    const json_t *ms = json_array_get(json_object_get(gk, "mis_shaped"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ms, "key")), "fc1/bias");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(ms, "checkpoint_shape"), 0)), 5);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(check_of(r, "checkpoint"), "summary")),
                                 "graph 1 missing, 1 unexpected, 1 mis-shaped"));
    json_decref(r);
    unlink(path);
}
END_TEST

START_TEST(reference_hand_computed)
{
    /* Weights 0.001, input ones [1, 8]: fc1 = 8*0.001 + 0.001 = 0.009,
     * fc2 = 4*0.009*0.001 + 0.001 = 0.001036. */
    json_t *r = run("{\"model\": " MLP ", \"input\": {\"fill\": \"ones\"}, \"reference\": "
                    "{\"tensors\": {\"fc1\": {\"shape\": [1, 4], \"data\": [0.009, 0.009, 0.009, "
                    "0.009]}, \"fc2\": {\"data\": [[0.001036, 0.001036]]}}}, \"checks\": "
                    "[\"reference\"], \"tolerances\": {\"rtol\": 1e-6, \"atol\": 1e-9}}");
    ck_assert_str_eq(verdict_of(r, "reference"), "pass");
    const json_t *d = details(r, "reference");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "reference_tensors")), 2);
    ck_assert(json_is_true(json_object_get(json_object_get(d, "eager"), "close")));
    json_decref(r);

    /* A wrong golden value and a name no mode produces. */
    r = run("{\"model\": " MLP ", \"input\": {\"fill\": \"ones\"}, \"reference\": "
            "{\"tensors\": {\"fc2\": {\"data\": [[0.001036, 0.002]]}, \"nope\": {\"data\": [1]}},"
            " \"modes\": [\"graph\"]}, \"checks\": [\"reference\"]}");
    ck_assert_str_eq(verdict_of(r, "reference"), "fail");
    d = details(r, "reference");
    ck_assert_ptr_null(json_object_get(d, "eager"));
    const json_t *g = json_object_get(d, "graph");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g, "first_divergent"), "name")),
                     "fc2");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(g, "missing"), 0)), "nope");
    json_decref(r);
}
END_TEST

/* ---- hooks, cancellation, errors, report shape ----------------------------- */

typedef struct hook_log {
    int progress_calls, last_done, last_total, tensors, cancel_after, cancel_asks;
} hook_log;

static void on_progress(void *ctx, int done, int total, const char *what)
{
    hook_log *h = ctx;
    ck_assert_ptr_nonnull(what);
    ck_assert_int_eq(done, h->last_done + 1);
    h->progress_calls++;
    h->last_done = done;
    h->last_total = total;
}

static void on_tensor(void *ctx, const char *check, const char *mode, const char *name,
                      const eq_tensor *t)
{
    hook_log *h = ctx;
    ck_assert(strcmp(mode, "graph") == 0 || strcmp(mode, "eager") == 0);
    ck_assert_ptr_nonnull(check);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_gt(eq_tensor_numel(t), 0);
    h->tensors++;
}

static int on_cancel(void *ctx)
{
    hook_log *h = ctx;
    return ++h->cancel_asks > h->cancel_after;
}

/* The shared runners go as soon as no later check needs them, so the
 * random checks' fresh pair (checks run in the guide's order, random ones
 * after the shared ones) never sits next to them: two models at once, not
 * four; the report's model facts survive the early release. */
START_TEST(shared_runners_released_before_fresh_ones)
{
    static const struct { const char *checks; int at_once; } cases[] = {
        {"", 2}, /* the default checks */
        {"\"checks\": [\"random_inference\"], ", 2},
        {"\"checks\": [\"variables_once\"], ", 1},
        {"\"checks\": [\"manifest\", \"random_training\", \"random_inference\"], ", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"name\": \"m\", %s\"model\": " MLP "}",
                 cases[i].checks);
        json_t *r = run(text);
        ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "pass");
        ck_assert_msg(json_integer_value(json_object_get(json_object_get(r, "resources"),
                                                         "runners_at_once")) ==
                          cases[i].at_once,
                      "case %zu", i);
        /* activations per mode that ran: variables_once runs eager only */
        const json_t *acts = json_object_get(json_object_get(r, "resources"), "activation_bytes");
        ck_assert_int_gt(json_integer_value(json_object_get(acts, "eager")), 0);
        ck_assert_int_eq(json_object_get(acts, "graph") != NULL, i != 2);
        if (i != 2)
            ck_assert_int_gt(json_integer_value(json_object_get(acts, "graph")), 0);
        /* facts of a released shared runner are in the report all the same
         * (the random-only job never had one) */
        const json_t *eager = json_object_get(json_object_get(r, "models"), "eager");
        ck_assert_int_eq(json_integer_value(json_object_get(eager, "variables")) > 0,
                         i != 1);
        json_decref(r);
    }
}
END_TEST

START_TEST(hooks_and_report_fields)
{
    eq_job *job = parse("{\"name\": \"h\", \"model\": " MLP "}");
    hook_log h = {.cancel_after = 1000};
    eq_job_hooks hooks = {on_progress, on_cancel, on_tensor, &h};
    eq_error err;
    json_t *r = eq_job_run(job, &hooks, &err);
    ck_assert_ptr_nonnull(r);
    /* Default checks: vo 3 eager; manifest 1 graph; fixed 1 + 1; random 2 + 2. */
    ck_assert_int_eq(job_plan_passes(job), 10);
    ck_assert_int_eq(h.progress_calls, 10);
    ck_assert_int_eq(h.last_total, 10);
    ck_assert_int_eq(h.tensors, 10 * 3); /* 1 output + 2 endpoints per pass */
    static const char *top[] = {"format", "name", "verdict", "status", "summary", "job",
                                "settings", "checks", "check_counts", "models", "timing",
                                "engine", "resources"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        ck_assert_msg(json_object_get(r, top[i]) != NULL, "report lacks %s", top[i]);
    ck_assert_ptr_null(json_object_get(r, "error"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "format")), "equivd-report/1");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "completed");
    const json_t *eng = json_object_get(r, "engine");
    ck_assert_str_eq(json_string_value(json_object_get(eng, "blis_arch")), eq_blas_info_get()->arch);
    ck_assert_int_eq(json_integer_value(json_object_get(eng, "threads")), eq_blas_info_get()->threads);
    ck_assert_str_eq(json_string_value(json_object_get(eng, "conv_gemm")),
                     eq_gemm_packed_enabled() ? "packed-avx512" : "blis");
    const json_t *t = json_object_get(r, "timing");
    static const char *tk[] = {"wall_seconds", "pass_seconds", "overhead_seconds",
                               "overhead_fraction", "passes", "planned_passes"};
    for (size_t i = 0; i < sizeof tk / sizeof tk[0]; i++)
        ck_assert_msg(json_object_get(t, tk[i]) != NULL, "timing lacks %s", tk[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "passes")), 10);
    ck_assert(json_real_value(json_object_get(t, "pass_seconds")) <=
              json_real_value(json_object_get(t, "wall_seconds")));
    const json_t *s = json_object_get(r, "settings");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "seed_policy"), "mode")),
                     "constant");
    ck_assert(json_real_value(json_object_get(json_object_get(s, "tolerances"), "rtol")) == 1e-6);
    ck_assert_int_eq(json_object_size(json_object_get(s, "graph_options")), EQ_PASS_COUNT);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(r, "models"),
                                                                        "graph"),
                                                        "parameters")),
                     8 * 4 + 4 + 4 * 2 + 2);
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(r, "checks"), i, c) {
        static const char *ck[] = {"name", "verdict", "summary", "seconds", "pass_seconds",
                                   "passes", "details"};
        for (size_t k = 0; k < sizeof ck / sizeof ck[0]; k++)
            ck_assert_msg(json_object_get(c, ck[k]) != NULL, "check %zu lacks %s", i, ck[k]);
        ck_assert_str_eq(json_string_value(json_object_get(c, "verdict")), "pass");
    }
    ck_assert_str_eq(json_string_value(json_object_get(r, "summary")), "pass: all 5 checks passed");
    char *text = json_dumps(r, 0);
    ck_assert_ptr_nonnull(text);
    free(text);
    json_decref(r);

    /* Cancelled before the fourth pass: an error, the rest skipped. */
    memset(&h, 0, sizeof h);
    h.cancel_after = 3;
    r = eq_job_run(job, &hooks, &err);
    ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "cancelled");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "error"), "status")),
                     "cancelled");
    ck_assert_str_eq(verdict_of(r, "variables_once"), "pass");
    ck_assert_str_eq(verdict_of(r, "manifest"), "error");
    ck_assert_str_eq(verdict_of(r, "random_training"), "skipped");
    ck_assert_int_eq(h.progress_calls, 3);
    json_decref(r);
    eq_job_free(job);
}
END_TEST

START_TEST(errors_in_checks_and_jobs)
{
    /* A get_variable without reuse, twice in one scope: graph mode refuses
     * it, so the checks that build a graph error and the eager-only one
     * still runs. */
    json_t *r = run("{\"model\": {\"input\": {\"shape\": [null, 2]}, \"body\": ["
                    "{\"get_variable\": {\"name\": \"w\", \"shape\": [2], \"reuse\": false}},"
                    "{\"get_variable\": {\"name\": \"w\", \"shape\": [2], \"reuse\": false}, "
                    "\"endpoint\": \"w\"}], \"outputs\": [\"w\"]},"
                    " \"checks\": [\"variables_once\", \"manifest\"]}");
    ck_assert_str_eq(verdict_of(r, "variables_once"), "pass");
    ck_assert_str_eq(verdict_of(r, "manifest"), "error");
    const json_t *e = json_object_get(check_of(r, "manifest"), "error");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")),
                                 "already exists, disallowed"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "completed");
    char *xml = eq_report_junit(r);
    ck_assert_ptr_nonnull(strstr(xml, "errors=\"1\""));
    free(xml);
    json_decref(r);

    /* An input file that is not a .npy: the job fails before its checks. */
    char path[] = "/tmp/eq_test_npy_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not numpy", 9), 9);
    close(fd);
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"model\": " MLP ", \"input\": {\"npy\": \"%s\"}}", path);
    r = run(buf);
    unlink(path);
    ck_assert_str_eq(json_string_value(json_object_get(r, "verdict")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")), "failed");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(r, "error"),
                                                                   "message")),
                                 "input: "));
    ck_assert_str_eq(verdict_of(r, "manifest"), "skipped");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "check_counts"), "skipped")),
                     5);
    json_decref(r);
}
END_TEST

START_TEST(npy_input)
{
    char path[] = "/tmp/eq_test_in_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    double vals[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t shape[2] = {1, 8};
    eq_tensor t;
    eq_tensor_view(&t, EQ_F64, 2, shape, vals, NULL);
    eq_error err;
    ck_assert_int_eq(eq_npy_write_file(path, &t, &err), EQ_OK);
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"model\": " MLP ", \"input\": {\"npy\": \"%s\"}, \"checks\": "
                              "[\"fixed_weights\"]}",
             path);
    json_t *r = run(buf);
    unlink(path);
    ck_assert_str_eq(verdict_of(r, "fixed_weights"), "pass");
    /* fc1 = (1+...+8)*0.001 + 0.001 = 0.037 per unit. */
    const json_t *ep = json_array_get(json_object_get(details(r, "fixed_weights"), "endpoints"), 0);
    double v = json_real_value(json_object_get(json_object_get(ep, "worst"), "expected"));
    ck_assert_msg(fabs(v - 0.037) < 1e-6, "fc1 = %g", v);
    json_decref(r);
}
END_TEST

START_TEST(estimate)
{
    eq_job *job = parse("{\"model\": " MLP ", \"input\": {\"shape\": [2, 8]}}");
    eq_job_estimate est;
    eq_error err;
    ck_assert_int_eq(eq_job_estimate_cost(job, &est, &err), EQ_OK);
    ck_assert_int_eq(est.parameters, 8 * 4 + 4 + 4 * 2 + 2);
    ck_assert_int_eq(est.flops, 2 * 2 * 8 * 4 + 2 * 2 * 4 * 2);
    /* input 16, fc1 8 and fc2 4 floats, all held to the end (end points),
     * each buffer rounded up to 64 bytes as the eager pool does */
    ck_assert_int_eq(est.activation_bytes, 3 * 64);
    ck_assert_int_eq(est.passes, 10);
    eq_job_free(job);

    /* Conv arithmetic through the kernels' padding rules. */
    job = parse("{\"model\": {\"input\": {\"shape\": [null, 9, 9, 3]}, \"body\": [{\"conv2d\": "
                "{\"name\": \"c\", \"filters\": 5, \"kernel\": 3, \"stride\": 2, \"padding\": "
                "\"VALID\", \"normalizer\": \"batch_norm\"}}], \"outputs\": [\"input\"]}, "
                "\"checks\": [\"fixed_weights\"]}");
    ck_assert_int_eq(eq_job_estimate_cost(job, &est, &err), EQ_OK);
    /* out 4x4x5; weights 3*3*3*5 = 135; BN beta + mean + var = 15 */
    ck_assert_int_eq(est.parameters, 135 + 15);
    ck_assert_int_eq(est.flops, 2LL * 4 * 4 * 3 * 3 * 3 * 5);
    ck_assert_int_eq(est.passes, 4);
    eq_job_free(job);
}
END_TEST

/* The estimate walks the interpreter's release rules: for these models it
 * must equal the input plus what eager mode really held at its worst over
 * every pass of the default checks (inference and training). */
START_TEST(estimate_matches_eager_activations)
{
    static const struct { const char *model; const char *shape; int64_t input_bytes; } cases[] = {
        {"{\"zoo\": \"small_cnn\"}", "[4, 28, 28, 1]", 4 * 28 * 28 * 4},
        {"{\"zoo\": \"mlp\"}", "[8, 784]", 8 * 784 * 4},
        {"{\"input\": {\"shape\": [null, 6, 6, 4]}, \"body\": ["
         " {\"conv2d\": {\"name\": \"c0\", \"filters\": 8, \"kernel\": 3,"
         "  \"normalizer\": \"batch_norm\"}, \"as\": \"early\"},"
         " {\"residual\": {\"scale\": 0.5, \"body\": ["
         "   {\"branches\": [[], [{\"conv2d\": {\"name\": \"b1\", \"filters\": 8, \"kernel\": 1}}],"
         "     [{\"conv2d\": {\"name\": \"b2\", \"filters\": 4, \"kernel\": 3},"
         "       \"endpoint\": \"b2\"}]]},"
         "   {\"conv2d\": {\"name\": \"up\", \"filters\": 8, \"kernel\": 1, \"activation\": null},"
         "    \"endpoint\": \"up\"}]}},"
         " {\"residual\": {\"scale\": 0.2, \"body\": [{\"conv2d\": {\"name\": \"r2\","
         "   \"filters\": 8, \"kernel\": 1}}]}},"
         " {\"residual\": {\"body\": [{\"identity\": {}}]}},"
         " {\"dropout\": {\"keep_prob\": 0.5}},"
         " {\"random_uniform\": {\"shape\": [2, 6, 6, 8], \"minval\": -1, \"maxval\": 1},"
         "  \"as\": \"noise\"},"
         " {\"add\": {\"inputs\": [\"early\", \"noise\"]}},"
         " {\"max_pool2d\": {\"kernel\": 2}, \"endpoint\": \"pool\"}],"
         " \"outputs\": [\"pool\"]}",
         "[2, 6, 6, 4]", 2 * 6 * 6 * 4 * 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text, "{\"model\": %s, \"input\": {\"shape\": %s}}",
                 cases[i].model, cases[i].shape);
        eq_job *job = parse(text);
        eq_job_estimate est;
        eq_error err;
        ck_assert_msg(eq_job_estimate_cost(job, &est, &err) == EQ_OK, "%s", err.message);
        eq_job_free(job);
        json_t *r = run(text);
        const json_t *acts = json_object_get(json_object_get(r, "resources"), "activation_bytes");
        json_int_t eager = json_integer_value(json_object_get(acts, "eager"));
        ck_assert_int_gt(eager, 0);
        ck_assert_msg(est.activation_bytes == cases[i].input_bytes + eager,
                      "case %zu: estimate %lld, input %lld + eager %lld", i,
                      (long long)est.activation_bytes, (long long)cases[i].input_bytes,
                      (long long)eager);
        json_decref(r);
    }
}
END_TEST

START_TEST(estimate_irv2)
{
    /* spec/inception-resnet-v2.md section 5: 59,273,456 parameters and
     * 13,162,501,216 multiply-accumulates at batch 1 (aux head included). */
    eq_job *job = parse("{\"model\": {\"zoo\": \"inception_resnet_v2\"}}");
    eq_job_estimate est;
    eq_error err;
    ck_assert_int_eq(eq_job_estimate_cost(job, &est, &err), EQ_OK);
    ck_assert_int_eq(est.parameters, 59273456);
    ck_assert_int_eq(est.flops, 2LL * 13162501216LL);
    ck_assert_int_eq(est.passes, 10);
    /* bench_irv2 measures 25 MB of op outputs alive at once in inference at
     * batch 1; training adds one conv output per layer at most (5.3 MB in
     * the stem), the input 1 MB. Every statement's output summed (the
     * estimate before it followed the release rules) is 244 MB. */
    ck_assert_msg(est.activation_bytes > 25 * 1000000 && est.activation_bytes < 33 * 1000000,
                  "%lld", (long long)est.activation_bytes);
    eq_job_free(job);
}
END_TEST

static Suite *checks_suite(void)
{
    Suite *s = suite_create("checks");
    TCase *tc = tcase_create("traces");
    tcase_add_test(tc, graph_options_follow_the_runtime);
    tcase_add_test(tc, traces_identical);
    tcase_add_test(tc, traces_constant_order_is_harmless);
    tcase_add_test(tc, traces_functional_num_random_ops);
    tcase_add_test(tc, traces_shape_missing_and_name_map);
    suite_add_tcase(s, tc);
    tc = tcase_create("results");
    tcase_add_test(tc, results_close_and_first_divergence);
    tcase_add_test(tc, results_overrides_shapes_reg_loss_and_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("checks");
    tcase_add_test(tc, variables_once_names_the_variable);
    tcase_add_test(tc, variables_once_unnamed_layers);
    tcase_add_test(tc, manifest_with_name_map);
    tcase_add_test(tc, fixed_weights_names_first_divergence);
    tcase_add_test(tc, random_training_functional);
    tcase_add_test(tc, checkpoint_keys);
    tcase_add_test(tc, reference_hand_computed);
    tcase_add_test(tc, npy_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("run");
    tcase_add_test(tc, hooks_and_report_fields);
    tcase_add_test(tc, shared_runners_released_before_fresh_ones);
    tcase_add_test(tc, errors_in_checks_and_jobs);
    tcase_add_test(tc, estimate);
    tcase_add_test(tc, estimate_irv2);
    tcase_add_test(tc, estimate_matches_eager_activations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    eq_error err;
    if (eq_blas_init(1, &err) != EQ_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    SRunner *sr = srunner_create(checks_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
