/* srv_exec_test.c - a fake executor for the server's own tests.
 *
 * EQUIVD_TEST_EXECUTOR=sleep:200ms makes every job take about 200 ms, split
 * into passes that check for cancellation between them, and produce a small
 * report with one compared tensor, a manifest per mode and a random trace,
 * so every store table and download route has something to show. A job spec
 * can steer it (all optional):
 *   "name": string          the job's name
 *   "passes": 1..1000       passes to report (default 4)
 *   "sleep_ms": N           this job's total time instead of the default
 *   "verdict": "pass" | "fail" | "error"
 *   "parameters", "activation_bytes", "flops": the estimate (budget tests)
 *   "crash": true           the executor fails (job status "failed")
 *   "report_failed": true   a report with status "failed", as the engine
 *                           writes when a job cannot start its checks
 *   "invalid_at": "a.b"     refuse the spec with that JSON path (422 tests)
 *   "model": "unknown"      refuse it as an unknown zoo model
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_config.h"
#include "srv_exec.h"

typedef struct test_exec {
    double seconds;
} test_exec;

static eq_status t_check(srv_exec *x, const json_t *spec, char **name, srv_estimate *est,
                         eq_error *err)
{
    (void)x;
    *name = NULL;
    if (!json_is_object(spec))
        return eq_error_set_path(err, EQ_ERR_INVALID, "", "a job must be a JSON object");
    json_t *n = json_object_get(spec, "name");
    if (n && !json_is_string(n))
        return eq_error_set_path(err, EQ_ERR_INVALID, "name", "name must be a string");
    json_t *p = json_object_get(spec, "passes");
    if (p && (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 1000))
        return eq_error_set_path(err, EQ_ERR_INVALID, "passes",
                                 "passes must be a whole number from 1 to 1000");
    json_t *v = json_object_get(spec, "verdict");
    if (v && (!json_is_string(v) || (strcmp(json_string_value(v), "pass") &&
                                     strcmp(json_string_value(v), "fail") &&
                                     strcmp(json_string_value(v), "error"))))
        return eq_error_set_path(err, EQ_ERR_INVALID, "verdict",
                                 "verdict must be \"pass\", \"fail\" or \"error\"");
    json_t *inv = json_object_get(spec, "invalid_at");
    if (json_is_string(inv))
        return eq_error_set_path(err, EQ_ERR_INVALID, json_string_value(inv),
                                 "the test executor was told to refuse this path");
    json_t *m = json_object_get(spec, "model");
    if (json_is_string(m) && strcmp(json_string_value(m), "unknown") == 0)
        return eq_error_set_path(err, EQ_ERR_INVALID, "model", "unknown zoo model 'unknown'");
    est->parameters = json_integer_value(json_object_get(spec, "parameters"));
    if (!est->parameters)
        est->parameters = 1000;
    est->activation_bytes = json_integer_value(json_object_get(spec, "activation_bytes"));
    if (!est->activation_bytes)
        est->activation_bytes = 4096;
    est->flops = json_number_value(json_object_get(spec, "flops"));
    if (est->flops <= 0)
        est->flops = 2000;
    est->passes = p ? (int)json_integer_value(p) : 4;
    *name = strdup(n ? json_string_value(n) : "");
    return *name ? EQ_OK : eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static json_t *variables(void)
{
    return json_pack("[{s:s, s:[i,i], s:s, s:b}, {s:s, s:[i], s:s, s:b}]", "name", "dense/kernel",
                     "shape", 3, 2, "dtype", "float32", "trainable", 1, "name", "dense/bias",
                     "shape", 2, "dtype", "float32", "trainable", 1);
}

static json_t *t_run(srv_exec *x, const json_t *spec, const srv_exec_hooks *h, eq_error *err)
{
    test_exec *t = x->impl;
    json_t *p = json_object_get(spec, "passes");
    int passes = p ? (int)json_integer_value(p) : 4;
    json_t *ms = json_object_get(spec, "sleep_ms");
    double total = ms ? (double)json_integer_value(ms) / 1000.0 : t->seconds;
    const char *verdict = json_string_value(json_object_get(spec, "verdict"));
    if (!verdict)
        verdict = "pass";
    if (json_is_true(json_object_get(spec, "crash")))
        return eq_error_set(err, EQ_ERR_IO, "the test executor was told to crash"), NULL;

    int cancelled = 0, done = 0;
    for (; done < passes; done++) {
        if (h->cancel && h->cancel(h->ctx)) {
            cancelled = 1;
            break;
        }
        if (h->progress)
            h->progress(h->ctx, done, passes, done % 2 ? "fixed_weights eager" : "fixed_weights graph");
        sleep_seconds(total / passes);
    }
    if (!cancelled && h->progress)
        h->progress(h->ctx, passes, passes, "done");
    if (cancelled) {
        eq_error_set(err, EQ_ERR_CANCELLED, "cancelled after %d of %d passes", done, passes);
        return NULL;
    }
    /* logits [2, 3] = 0..5 in both modes; a float64 probe with a NaN and an
     * Inf so the non-finite paths are exercised. */
    float logits[6] = {0, 1, 2, 3, 4, 5};
    double probe[3] = {1.5, 0.0 / 0.0, 1.0 / 0.0};
    int64_t shape[2] = {2, 3}, pshape[1] = {3};
    if (h->tensor) {
        h->tensor(h->ctx, "fixed_weights", "graph", "logits", "float32", 2, shape, logits, sizeof logits);
        h->tensor(h->ctx, "fixed_weights", "eager", "logits", "float32", 2, shape, logits, sizeof logits);
        h->tensor(h->ctx, "fixed_weights", "eager", "block/probe", "float64", 1, pshape, probe,
                  sizeof probe);
    }
    /* The shape of docs/report.md ("equivd-report/1"), small. */
    static const char *const tmpl =
        "{\"format\": \"equivd-report/1\", \"status\": \"completed\","
        " \"checks\": ["
        "  {\"name\": \"manifest\", \"verdict\": \"pass\", \"summary\": \"2 variables match\","
        "   \"details\": {\"graph\": {\"count\": 2, \"variables\": []},"
        "                \"eager\": {\"count\": 2, \"variables\": []}}},"
        "  {\"name\": \"fixed_weights\", \"verdict\": \"VERDICT\", \"summary\": \"test executor\","
        "   \"details\": {\"outputs\": [{\"name\": \"logits\", \"close\": true, \"max_abs_diff\": 0.0,"
        "     \"max_rel_diff\": 0.0, \"mean_abs_diff\": 0.0, \"mismatched\": 0, \"numel\": 6,"
        "     \"worst\": {\"index\": [0, 0], \"actual\": 0.0, \"expected\": 0.0},"
        "     \"nan_actual\": 0, \"nan_expected\": 0, \"inf_actual\": 0, \"inf_expected\": 0}],"
        "    \"endpoints\": [{\"name\": \"block/probe\", \"close\": true, \"max_abs_diff\": \"nan\","
        "     \"max_rel_diff\": \"inf\", \"mismatched\": 0, \"numel\": 3, \"nan_actual\": 1,"
        "     \"nan_expected\": 1, \"inf_actual\": 1, \"inf_expected\": 1, \"execution_index\": 0}],"
        "    \"first_divergent_endpoint\": null}},"
        "  {\"name\": \"random_inference\", \"verdict\": \"pass\", \"summary\": \"traces match\","
        "   \"details\": {\"random_trace\": {\"match\": true,"
        "    \"graph\": [{\"op\": \"RandomUniform\", \"target\": \"dropout\", \"seed\": 42, \"seed2\": 0, \"shape\": [2, 3]}],"
        "    \"eager\": [{\"op\": \"RandomUniform\", \"target\": \"dropout\", \"seed\": 42, \"seed2\": 0, \"shape\": [2, 3]}]}}}"
        " ]}";
    json_t *r = json_loads(tmpl, 0, NULL);
    if (r) {
        json_t *vars = variables();
        json_t *checks = json_object_get(r, "checks");
        json_t *manifest = json_object_get(json_array_get(checks, 0), "details");
        json_object_set(json_object_get(manifest, "graph"), "variables", vars);
        json_object_set(json_object_get(manifest, "eager"), "variables", vars);
        json_decref(vars);
        json_object_set_new(json_array_get(checks, 1), "verdict", json_string(verdict));
        const char *name = json_string_value(json_object_get(spec, "name"));
        json_object_set_new(r, "name", json_string(name ? name : ""));
        json_object_set_new(r, "verdict", json_string(verdict));
        char line[128];
        snprintf(line, sizeof line, "%s: test executor, %d passes", verdict, passes);
        json_object_set_new(r, "summary", json_string(line));
        json_object_set_new(r, "check_counts",
                            json_pack("{s:i, s:i, s:i, s:i}", "pass", 2 + !strcmp(verdict, "pass"),
                                      "fail", !strcmp(verdict, "fail"), "error",
                                      !strcmp(verdict, "error"), "skipped", 0));
        json_object_set_new(r, "timing", json_pack("{s:f, s:i}", "wall_seconds", total, "passes", passes));
        if (json_is_true(json_object_get(spec, "report_failed"))) {
            json_object_set_new(r, "status", json_string("failed"));
            json_object_set_new(r, "verdict", json_string("error"));
            json_object_set_new(r, "checks", json_array());
            json_object_set_new(r, "error", json_pack("{s:s, s:s, s:s}", "status", "io", "message",
                                                      "input.npy: no such file", "path", "input.npy"));
        }
    }
    if (!r)
        eq_error_set(err, EQ_ERR_NOMEM, "test executor: building the report failed");
    return r;
}

static json_t *t_models(srv_exec *x, eq_error *err)
{
    (void)x;
    (void)err;
    return json_pack("[{s:s, s:i, s:s}]", "name", "test_mlp", "parameters", 8, "description",
                     "the test executor's only model");
}

static const char *t_verdict(srv_exec *x, const json_t *report)
{
    (void)x;
    const char *v = json_string_value(json_object_get(report, "verdict"));
    return v ? v : "error";
}

static char *t_junit(srv_exec *x, const json_t *report)
{
    const char *v = t_verdict(x, report);
    char *out = NULL;
    int fail = strcmp(v, "pass") != 0;
    if (asprintf(&out,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<testsuite name=\"equivd\" tests=\"1\" failures=\"%d\" errors=\"0\">\n"
                 "  <testcase classname=\"equivd\" name=\"fixed_weights\">%s</testcase>\n"
                 "</testsuite>\n",
                 fail, fail ? "<failure message=\"test executor\"/>" : "") < 0)
        return NULL;
    return out;
}

static void t_destroy(srv_exec *x)
{
    free(x->impl);
    free(x);
}

srv_exec *srv_exec_test_new(const char *desc, eq_error *err)
{
    if (strncmp(desc, "sleep:", 6) != 0) {
        eq_error_set(err, EQ_ERR_INVALID, "EQUIVD_TEST_EXECUTOR: expected sleep:DURATION, not '%s'", desc);
        return NULL;
    }
    const char *d = desc + 6;
    double s;
    size_t n = strlen(d);
    if (n > 2 && strcmp(d + n - 2, "ms") == 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)(n - 2), d);
        s = srv_parse_duration(buf);
        s = s < 0 ? -1 : s / 1000.0;
    } else {
        s = srv_parse_duration(d);
    }
    if (s < 0) {
        eq_error_set(err, EQ_ERR_INVALID, "EQUIVD_TEST_EXECUTOR: bad duration '%s'", d);
        return NULL;
    }
    srv_exec *x = calloc(1, sizeof *x);
    test_exec *t = calloc(1, sizeof *t);
    if (!x || !t) {
        free(x);
        free(t);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->seconds = s;
    x->kind = "test";
    x->check = t_check;
    x->run = t_run;
    x->models = t_models;
    x->verdict = t_verdict;
    x->junit = t_junit;
    x->destroy = t_destroy;
    x->impl = t;
    return x;
}

void srv_exec_free(srv_exec *x)
{
    if (x)
        x->destroy(x);
}
