/* test_http.c - integration tests: a real daemon on a free loopback port,
 * driven over HTTP. Jobs run on the test executor (EQUIVD_TEST_EXECUTOR),
 * so these tests check the service, not the engine. */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "srv_http.h"

static json_t *body_json(const resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, r->body);
    return j;
}

/* The error object's code, checked for the documented shape. */
static void assert_error(const resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, wanted %ld: %s", r->status, status, r->body);
    json_t *j = body_json(r);
    json_t *e = json_object_get(j, "error");
    ck_assert_msg(json_is_object(e), "no error object: %s", r->body);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert(json_is_string(json_object_get(e, "message")));
    ck_assert(json_is_string(json_object_get(e, "path")));
    json_decref(j);
    const char *ct = resp_header(r, "Content-Type");
    ck_assert_ptr_nonnull(ct);
    ck_assert_str_eq(ct, "application/json");
}

static resp post_job(testd *d, const char *spec, const char *query)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs%s", query ? query : "");
    return http(d, "POST", path, spec, strlen(spec), NULL);
}

static long long submit(testd *d, const char *spec)
{
    resp r = post_job(d, spec, NULL);
    ck_assert_msg(r.status == 202 || r.status == 200, "submit: %ld %s", r.status, r.body);
    long long id = json_id(&r);
    ck_assert_int_gt(id, 0);
    resp_free(&r);
    return id;
}

static const char *str_at(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

START_TEST(submit_wait_and_results)
{
    testd d;
    testd_init(&d, "sleep:50ms");
    testd_start(&d);
    resp r = post_job(&d, "{\"name\": \"first\", \"passes\": 3}", "?wait=20");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(resp_header(&r, "Location"), "/api/v1/jobs/1");
    json_t *j = body_json(&r);
    ck_assert_str_eq(str_at(j, "status"), "done");
    ck_assert_str_eq(str_at(j, "verdict"), "pass");
    ck_assert_str_eq(str_at(j, "name"), "first");
    json_t *p = json_object_get(j, "progress");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "passes_done")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "passes_total")), 3);
    ck_assert(json_is_number(json_object_get(json_object_get(j, "timings"), "run_seconds")));
    ck_assert_str_eq(str_at(json_object_get(j, "links"), "report"), "/api/v1/jobs/1/report");
    json_decref(j);
    resp_free(&r);

    /* Without wait: 202 and queued/running. */
    r = post_job(&d, "{\"verdict\": \"fail\", \"passes\": 5}", NULL);
    ck_assert_int_eq(r.status, 202);
    j = body_json(&r);
    /* The estimate's pass count, before the engine reports any. */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "progress"), "passes_total")), 5);
    ck_assert(!strcmp(str_at(j, "status"), "queued") || !strcmp(str_at(j, "status"), "running"));
    long long id2 = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    resp_free(&r);
    /* GET ?wait blocks until the end too. */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld?wait=20", id2);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_str_eq(str_at(j, "status"), "done");
    ck_assert_str_eq(str_at(j, "verdict"), "fail");
    json_decref(j);
    resp_free(&r);

    r = http(&d, "GET", "/api/v1/jobs/1/report", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(str_at(j, "verdict"), "pass");
    ck_assert(json_is_array(json_object_get(j, "checks")));
    json_decref(j);
    resp_free(&r);

    r = http(&d, "GET", "/api/v1/jobs/1/junit.xml", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(resp_header(&r, "Content-Type"), "application/xml; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "<testsuite"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/junit.xml", id2);
    r = http(&d, "GET", path, NULL, 0, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "failures=\"1\""));
    resp_free(&r);

    r = http(&d, "GET", "/api/v1/jobs/1/manifests/eager", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    json_t *v0 = json_array_get(json_object_get(j, "variables"), 0);
    ck_assert_str_eq(str_at(v0, "name"), "dense/kernel");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(v0, "shape"), 0)), 3);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/1/manifests/sideways", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);

    /* .npy: header, shape and the exact float32 bytes 0..5. */
    r = http(&d, "GET", "/api/v1/jobs/1/tensors/logits.npy?mode=eager", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(resp_header(&r, "X-Equivd-Mode"), "eager");
    ck_assert_int_eq(memcmp(r.body, "\x93NUMPY\x01\x00", 8), 0);
    size_t hlen = (unsigned char)r.body[8] | (size_t)(unsigned char)r.body[9] << 8;
    ck_assert_int_eq((10 + hlen) % 64, 0);
    ck_assert_ptr_nonnull(strstr(r.body + 10, "'descr': '<f4'"));
    ck_assert_ptr_nonnull(strstr(r.body + 10, "'shape': (2, 3)"));
    ck_assert_int_eq(r.len, 10 + hlen + 24);
    float want[6] = {0, 1, 2, 3, 4, 5};
    ck_assert_int_eq(memcmp(r.body + 10 + hlen, want, 24), 0);
    resp_free(&r);
    /* A name with a slash, float64, with NaN and Inf preserved. */
    r = http(&d, "GET", "/api/v1/jobs/1/tensors/block/probe.npy", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body + 10, "'descr': '<f8'"));
    ck_assert_ptr_nonnull(strstr(r.body + 10, "'shape': (3,)"));
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/1/tensors/nothing.npy", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/1/tensors", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "tensors")), 3);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/1/events", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 3);
    json_decref(j);
    resp_free(&r);
    ck_assert_int_eq(testd_stop(&d, SIGTERM), 0);
}
END_TEST

START_TEST(pagination_and_filters)
{
    testd d;
    testd_init(&d, "sleep:0s");
    testd_start(&d);
    for (int i = 0; i < 7; i++)
        submit(&d, i < 3 ? "{\"name\": \"alpha\", \"passes\": 1}" : "{\"name\": \"beta\", \"passes\": 1}");
    ck_assert_str_eq(wait_final(&d, 7, 20), "done");
    long long seen[16];
    int n = 0;
    char path[256] = "/api/v1/jobs?limit=3";
    for (int page = 0; page < 10; page++) {
        resp r = http(&d, "GET", path, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 200);
        json_t *j = body_json(&r);
        size_t i;
        json_t *job;
        json_array_foreach(json_object_get(j, "jobs"), i, job) seen[n++] =
            json_integer_value(json_object_get(job, "id"));
        json_t *next = json_object_get(json_object_get(j, "links"), "next");
        int more = json_is_string(next);
        if (more)
            snprintf(path, sizeof path, "%s", json_string_value(next));
        json_decref(j);
        resp_free(&r);
        if (!more)
            break;
    }
    ck_assert_int_eq(n, 7);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(seen[i], 7 - i); /* newest first, each once */
    resp r = http(&d, "GET", "/api/v1/jobs?name=alpha", NULL, 0, NULL);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 3);
    json_decref(j);
    resp_free(&r);
    /* ?name= matches a part of the name (the web UI's search box). */
    r = http(&d, "GET", "/api/v1/jobs?name=et", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 4);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?status=done&verdict=pass", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 7);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?status=queued", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 0);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?status=sleeping", NULL, 0, NULL);
    assert_error(&r, 400, "bad_request");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?cursor=abc", NULL, 0, NULL);
    assert_error(&r, 400, "bad_request");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?limit=0", NULL, 0, NULL);
    assert_error(&r, 400, "bad_request");
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(cancel_queued_and_running)
{
    testd d;
    testd_init(&d, "sleep:4s");
    testd_start(&d);
    long long a = submit(&d, "{\"passes\": 40}");
    long long b = submit(&d, "{}");
    /* a runs (one worker), b waits. */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", b);
    resp r = http(&d, "DELETE", path, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_t *j = body_json(&r);
    ck_assert_str_eq(str_at(j, "status"), "cancelled");
    json_decref(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", a);
    for (int i = 0; i < 200; i++) { /* until a has started */
        r = http(&d, "GET", path, NULL, 0, NULL);
        j = body_json(&r);
        int running = !strcmp(str_at(j, "status"), "running");
        json_decref(j);
        resp_free(&r);
        if (running)
            break;
        usleep(10000);
    }
    r = http(&d, "DELETE", path, NULL, 0, NULL);
    ck_assert_msg(r.status == 202, "%ld %s", r.status, r.body);
    j = body_json(&r);
    ck_assert(json_is_true(json_object_get(j, "cancel_requested")));
    json_decref(j);
    resp_free(&r);
    /* It stops at the next pass boundary (a pass is 0.1 s here). */
    ck_assert_str_eq(wait_final(&d, a, 5), "cancelled");
    r = http(&d, "DELETE", path, NULL, 0, NULL);
    assert_error(&r, 409, "conflict");
    resp_free(&r);
    r = http(&d, "DELETE", "/api/v1/jobs/9999", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    /* A cancelled job has no report. */
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/report", b);
    r = http(&d, "GET", path, NULL, 0, NULL);
    assert_error(&r, 404, "no_report");
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(error_codes)
{
    testd d;
    testd_init(&d, "sleep:0s");
    testd_arg(&d, "--max-body");
    testd_arg(&d, "1K");
    testd_arg(&d, "--max-parameters");
    testd_arg(&d, "1M");
    testd_start(&d);
    /* 400 with jansson's line and column. */
    resp r = post_job(&d, "{\n  \"name\": \"x\",\n  \"passes\": ]\n}", NULL);
    assert_error(&r, 400, "malformed_json");
    json_t *j = body_json(&r);
    json_t *e = json_object_get(j, "error");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "line")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "column")), 13);
    ck_assert_ptr_nonnull(strstr(str_at(e, "message"), "line 3"));
    json_decref(j);
    resp_free(&r);
    r = post_job(&d, "", NULL);
    assert_error(&r, 400, "malformed_json");
    resp_free(&r);
    /* 422 with the JSON path and the rule. */
    r = post_job(&d, "{\"passes\": 0}", NULL);
    assert_error(&r, 422, "invalid_job");
    j = body_json(&r);
    ck_assert_str_eq(str_at(json_object_get(j, "error"), "path"), "passes");
    ck_assert_ptr_nonnull(strstr(str_at(json_object_get(j, "error"), "message"), "1 to 1000"));
    json_decref(j);
    resp_free(&r);
    r = post_job(&d, "{\"invalid_at\": \"model.body[3].conv2d.stride\"}", NULL);
    assert_error(&r, 422, "invalid_job");
    j = body_json(&r);
    ck_assert_str_eq(str_at(json_object_get(j, "error"), "path"), "model.body[3].conv2d.stride");
    json_decref(j);
    resp_free(&r);
    /* A job whose model is invalid. */
    r = post_job(&d, "{\"model\": \"unknown\"}", NULL);
    assert_error(&r, 422, "invalid_job");
    resp_free(&r);
    r = post_job(&d, "[1, 2]", NULL);
    assert_error(&r, 422, "invalid_job");
    resp_free(&r);
    /* Over budget: names the figure and the limit. */
    r = post_job(&d, "{\"parameters\": 55843161}", NULL);
    assert_error(&r, 422, "over_budget");
    j = body_json(&r);
    const char *msg = str_at(json_object_get(j, "error"), "message");
    ck_assert_msg(strstr(msg, "5.58432e+07 parameters") && strstr(msg, "limit is 1e+06") &&
                      strstr(msg, "max-parameters"), "%s", msg);
    json_decref(j);
    resp_free(&r);
    /* 413: declared length and chunked. */
    char big[2048];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    r = http(&d, "POST", "/api/v1/jobs", big, sizeof big, NULL);
    assert_error(&r, 413, "body_too_large");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/nothing", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/abc", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/12345", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = http(&d, "PATCH", "/api/v1/jobs", "{}", 2, NULL);
    assert_error(&r, 405, "method_not_allowed");
    ck_assert_ptr_nonnull(strstr(resp_header(&r, "Allow"), "POST"));
    resp_free(&r);
    r = http(&d, "PUT", "/api/v1/jobs/1", "{}", 2, NULL);
    assert_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    r = post_job(&d, "{}", "?wait=soon");
    assert_error(&r, 400, "bad_request");
    resp_free(&r);
    /* A job the executor fails: status failed, error filled, no report. */
    long long id = submit(&d, "{\"crash\": true}");
    ck_assert_str_eq(wait_final(&d, id, 10), "failed");
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_ptr_nonnull(strstr(str_at(json_object_get(j, "error"), "message"), "crash"));
    ck_assert_str_eq(str_at(j, "verdict"), "error");
    json_decref(j);
    resp_free(&r);
    /* A report that says the job failed: status failed, its error, and the
     * report kept. */
    id = submit(&d, "{\"report_failed\": true}");
    ck_assert_str_eq(wait_final(&d, id, 10), "failed");
    r = http(&d, "GET", path, NULL, 0, NULL); /* still the crashed one */
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    json_t *err = json_object_get(j, "error");
    ck_assert_str_eq(str_at(err, "code"), "io");
    ck_assert_str_eq(str_at(err, "path"), "input.npy");
    json_decref(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/report", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(auth_on_and_off)
{
    testd d;
    testd_init(&d, "sleep:0s");
    char tok[320];
    snprintf(tok, sizeof tok, "%s/token", d.dir);
    FILE *f = fopen(tok, "w");
    fprintf(f, "correct-horse\n");
    fclose(f);
    testd_arg(&d, "--token-file");
    testd_arg(&d, tok);
    testd_start(&d);
    resp r = http(&d, "POST", "/api/v1/jobs", "{}", 2, NULL);
    assert_error(&r, 401, "unauthorized");
    ck_assert_ptr_nonnull(resp_header(&r, "WWW-Authenticate"));
    resp_free(&r);
    r = http(&d, "POST", "/api/v1/jobs", "{}", 2, "correct-horsf");
    assert_error(&r, 403, "forbidden");
    resp_free(&r);
    r = http(&d, "POST", "/api/v1/jobs", "{}", 2, "correct-horse-battery");
    assert_error(&r, 403, "forbidden");
    resp_free(&r);
    r = http(&d, "POST", "/api/v1/jobs", "{}", 2, "correct-horse");
    /* accepted; 200 when the instant test job already ended */
    ck_assert_msg(r.status == 202 || r.status == 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    r = http(&d, "DELETE", "/api/v1/jobs/1", NULL, 0, NULL);
    assert_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = http_put_chunked(&d, "/api/v1/checkpoints/c1", "abc", 3, NULL);
    assert_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs", NULL, 0, NULL); /* reads open */
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    testd_stop(&d, SIGTERM);

    /* auth-reads: reads need it too, except /healthz. */
    testd_arg(&d, "--auth-reads");
    testd_start(&d);
    r = http(&d, "GET", "/api/v1/jobs", NULL, 0, NULL);
    assert_error(&r, 401, "unauthorized");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs", NULL, 0, "correct-horse");
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    r = http(&d, "GET", "/healthz", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(queue_full_429)
{
    testd d;
    testd_init(&d, "sleep:5s");
    testd_arg(&d, "--max-queue");
    testd_arg(&d, "2");
    testd_start(&d);
    long long first = submit(&d, "{}");
    ck_assert_int_gt(first, 0);
    /* Until the first is taken by the worker, it counts as queued. */
    for (int i = 0; i < 200; i++) {
        resp r = http(&d, "GET", "/api/v1/jobs/1", NULL, 0, NULL);
        int running = strstr(r.body, "\"running\"") != NULL;
        resp_free(&r);
        if (running)
            break;
        usleep(10000);
    }
    submit(&d, "{}");
    submit(&d, "{}");
    resp r = post_job(&d, "{}", NULL);
    assert_error(&r, 429, "queue_full");
    const char *ra = resp_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(ra);
    ck_assert_int_ge(atoi(ra), 1);
    resp_free(&r);
    r = http(&d, "GET", "/metrics", NULL, 0, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "equivd_queue_depth 2"));
    ck_assert_ptr_nonnull(strstr(r.body, "equivd_http_requests_total{code=\"429\"} 1"));
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

typedef struct client {
    testd *d;
    long long ids[10];
    int ok;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    for (int i = 0; i < 10; i++) {
        resp r = post_job(c->d, "{\"passes\": 1, \"name\": \"concurrent\"}", NULL);
        if (r.status == 202 || r.status == 200) {
            c->ids[i] = json_id(&r);
            c->ok++;
        }
        resp_free(&r);
    }
    return NULL;
}

START_TEST(concurrent_submissions)
{
    testd d;
    testd_init(&d, "sleep:0s");
    testd_arg(&d, "--workers");
    testd_arg(&d, "2");
    testd_start(&d);
    client c[16];
    pthread_t t[16];
    for (int i = 0; i < 16; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].d = &d;
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    /* 160 accepted, 160 distinct ids, and 160 rows that all finish. */
    static char seen[1000];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(c[i].ok, 10);
        for (int k = 0; k < 10; k++) {
            ck_assert(c[i].ids[k] > 0 && c[i].ids[k] < 1000);
            ck_assert_msg(!seen[c[i].ids[k]], "id %lld twice", c[i].ids[k]);
            seen[c[i].ids[k]] = 1;
        }
    }
    int done = 0;
    for (int tries = 0; tries < 300 && done != 160; tries++) {
        resp r = http(&d, "GET", "/api/v1/jobs?status=done&limit=500&name=concurrent", NULL, 0, NULL);
        json_t *j = body_json(&r);
        done = (int)json_array_size(json_object_get(j, "jobs"));
        json_decref(j);
        resp_free(&r);
        if (done != 160)
            usleep(50000);
    }
    ck_assert_int_eq(done, 160);
    resp r = http(&d, "GET", "/api/v1/jobs?limit=500", NULL, 0, NULL);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 160);
    json_decref(j);
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

static void check_integrity(const char *state)
{
    char path[400];
    snprintf(path, sizeof path, "%s/equivd.db", state);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

START_TEST(kill9_and_restart)
{
    testd d;
    testd_init(&d, "sleep:1s");
    testd_start(&d);
    long long ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = submit(&d, "{\"passes\": 5}");
    for (int i = 0; i < 200; i++) {
        resp r = http(&d, "GET", "/api/v1/jobs/1", NULL, 0, NULL);
        int running = strstr(r.body, "\"passes_done\":2") != NULL;
        resp_free(&r);
        if (running)
            break;
        usleep(10000);
    }
    ck_assert_int_eq(testd_stop(&d, SIGKILL), 128 + SIGKILL);
    check_integrity(d.state);
    /* Restart quickly: everything accepted is still there and finishes. */
    char fast[] = "sleep:50ms";
    snprintf(d.executor, sizeof d.executor, "%s", fast);
    testd_start(&d);
    ck_assert_ptr_nonnull(strstr(testd_log(&d), "requeued 1 job"));
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(wait_final(&d, ids[i], 20), "done");
    resp r = http(&d, "GET", "/api/v1/jobs/1", NULL, 0, NULL);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/1/events", NULL, 0, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "\"requeued\""));
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs?limit=500", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "jobs")), 5);
    json_decref(j);
    resp_free(&r);
    ck_assert_int_eq(testd_stop(&d, SIGTERM), 0);
    check_integrity(d.state);
}
END_TEST

typedef struct waiter_arg {
    testd *d;
    resp r;
} waiter_arg;

static void *wait_request(void *arg)
{
    waiter_arg *w = arg;
    w->r = http(w->d, "GET", "/api/v1/jobs/1?wait=60", NULL, 0, NULL);
    return NULL;
}

START_TEST(sigterm_finishes_pass_and_requeues)
{
    testd d;
    testd_init(&d, "sleep:2s");
    /* Catch sd_notify messages on a socket of our own. */
    char sock[300];
    snprintf(sock, sizeof sock, "%s/notify", d.dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", sock, 1);
    testd_start(&d);
    unsetenv("NOTIFY_SOCKET");
    char msg[256];
    ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
    ck_assert_int_gt(n, 0);
    msg[n] = 0;
    ck_assert_ptr_nonnull(strstr(msg, "READY=1"));

    long long id = submit(&d, "{\"passes\": 4}");
    for (int i = 0; i < 200; i++) {
        resp r = http(&d, "GET", "/api/v1/jobs/1", NULL, 0, NULL);
        int running = strstr(r.body, "\"running\"") != NULL;
        resp_free(&r);
        if (running)
            break;
        usleep(10000);
    }
    waiter_arg w = {&d, {0}};
    pthread_t t;
    pthread_create(&t, NULL, wait_request, &w);
    usleep(100000);
    ck_assert_int_eq(testd_stop(&d, SIGTERM), 0);
    pthread_join(t, NULL);
    /* The waiting request got an answer, not a dropped connection. */
    ck_assert_msg(w.r.status == 200, "waiter: %ld %s", w.r.status, w.r.body);
    resp_free(&w.r);
    n = recv(fd, msg, sizeof msg - 1, 0);
    ck_assert_int_gt(n, 0);
    msg[n] = 0;
    ck_assert_ptr_nonnull(strstr(msg, "STOPPING=1"));
    close(fd);
    ck_assert_ptr_nonnull(strstr(testd_log(&d), "stopped cleanly"));
    check_integrity(d.state);
    /* Back in the queue, and done after a restart. */
    snprintf(d.executor, sizeof d.executor, "sleep:10ms");
    testd_start(&d);
    ck_assert_str_eq(wait_final(&d, id, 10), "done");
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(checkpoints)
{
    testd d;
    testd_init(&d, "sleep:0s");
    testd_arg(&d, "--max-checkpoint");
    testd_arg(&d, "2M");
    testd_start(&d);
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    /* SHA-256 of one million 'a' (FIPS 180-2 test vector). */
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    resp r = http_put_chunked(&d, "/api/v1/checkpoints/million.safetensors", a, n, NULL);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    json_t *j = body_json(&r);
    ck_assert_str_eq(str_at(j, "sha256"), want);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), (long long)n);
    json_decref(j);
    resp_free(&r);
    r = http(&d, "PUT", "/api/v1/checkpoints/abc", "abc", 3, NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_nonnull(strstr(r.body, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    resp_free(&r);
    r = http(&d, "PUT", "/api/v1/checkpoints/abc", "abc", 3, NULL);
    ck_assert_int_eq(r.status, 200); /* replaced */
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/checkpoints/million.safetensors", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.len, n);
    ck_assert_int_eq(memcmp(r.body, a, n), 0);
    ck_assert_str_eq(resp_header(&r, "X-Checksum-Sha256"), want);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/checkpoints", NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "checkpoints")), 2);
    json_decref(j);
    resp_free(&r);
    /* Over the limit, declared or streamed: 413 and no file left behind. */
    char *big = malloc(3 << 20);
    memset(big, 'b', 3 << 20);
    r = http(&d, "PUT", "/api/v1/checkpoints/big", big, 3 << 20, NULL);
    assert_error(&r, 413, "body_too_large");
    resp_free(&r);
    r = http_put_chunked(&d, "/api/v1/checkpoints/big", big, 3 << 20, NULL);
    assert_error(&r, 413, "body_too_large");
    resp_free(&r);
    free(big);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/checkpoints' | grep -v -e million -e '^abc$')\"", d.state);
    ck_assert_int_eq(system(cmd), 0);
    r = http(&d, "GET", "/api/v1/checkpoints/big", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = http(&d, "PUT", "/api/v1/checkpoints/.hidden", "x", 1, NULL);
    assert_error(&r, 400, "bad_request");
    resp_free(&r);
    free(a);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(static_files_and_path_escapes)
{
    testd d;
    testd_init(&d, "sleep:0s");
    char web[320], file[400];
    snprintf(web, sizeof web, "%s/web", d.dir);
    mkdir(web, 0755);
    snprintf(file, sizeof file, "%s/index.html", web);
    FILE *f = fopen(file, "w");
    fprintf(f, "<!doctype html><title>equivd</title><script src=\"app.js\"></script>\n");
    fclose(f);
    snprintf(file, sizeof file, "%s/app.js", web);
    f = fopen(file, "w");
    fprintf(f, "console.log(1);\n");
    fclose(f);
    snprintf(file, sizeof file, "%s/passwd-link", web);
    ck_assert_int_eq(symlink("/etc/passwd", file), 0);
    char secret[400];
    snprintf(secret, sizeof secret, "%s/secret.txt", d.dir); /* beside the web root */
    f = fopen(secret, "w");
    fprintf(f, "TOP-SECRET-CONTENT\n");
    fclose(f);
    testd_arg(&d, "--web-root");
    testd_arg(&d, web);
    testd_start(&d);
    resp r = http(&d, "GET", "/", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(resp_header(&r, "Content-Type"), "text/html; charset=utf-8");
    const char *csp = resp_header(&r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "script-src 'self'"));
    ck_assert_ptr_null(strstr(csp, "unsafe-inline"));
    resp_free(&r);
    r = http(&d, "GET", "/app.js", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(resp_header(&r, "Content-Type"), "text/javascript; charset=utf-8");
    resp_free(&r);
    const char *escapes[] = {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/%2e%2e/etc/passwd",
                             "/..%2fsecret.txt", "//etc/passwd", "/passwd-link", "/./index.html",
                             "/a/../../secret.txt", "/%2fetc%2fpasswd", "/..\\secret.txt"};
    for (size_t i = 0; i < sizeof escapes / sizeof *escapes; i++) {
        r = http_raw_path(&d, escapes[i]);
        ck_assert_msg(r.status == 404, "%s: %ld", escapes[i], r.status);
        ck_assert_ptr_null(strstr(r.body, "TOP-SECRET-CONTENT"));
        ck_assert_ptr_null(strstr(r.body, "root:"));
        resp_free(&r);
    }
    r = http(&d, "GET", "/api/v1/unknown", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

/* Every route the server registers is in schema/openapi.yaml, with its
 * method, and the daemon serves that very document. */
START_TEST(openapi_lists_every_route)
{
    const char *src = getenv("EQ_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/schema/openapi.yaml", src ? src : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char doc[200000];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    doc[len] = 0;
    fclose(f);
    ck_assert_str_eq(doc, srv_openapi_yaml);
    size_t n;
    const srv_route *routes = srv_routes(&n);
    ck_assert_int_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        char p[256];
        const char *pat = routes[i].pattern;
        if (strcmp(pat, "/{*path}") == 0)
            continue; /* the static fallback: documented under "/" */
        /* "{*name}" is documented as "{name}.npy". */
        const char *star = strstr(pat, "{*");
        if (star) {
            const char *close = strchr(star, '}');
            snprintf(p, sizeof p, "%.*s{%.*s}.npy%s", (int)(star - pat), pat,
                     (int)(close - star - 2), star + 2, close + 1);
        } else {
            snprintf(p, sizeof p, "%s", pat);
        }
        char key[300];
        snprintf(key, sizeof key, "\n  %s:\n", p);
        const char *at = strstr(doc, key);
        ck_assert_msg(at != NULL, "route %s %s is not in openapi.yaml (looked for %s)",
                      routes[i].method, pat, key);
        /* The method, before the next path entry. */
        char method[16];
        snprintf(method, sizeof method, "%s", routes[i].method);
        for (char *m = method; *m; m++)
            *m = (char)(*m - 'A' + 'a');
        char mkey[32];
        snprintf(mkey, sizeof mkey, "\n    %s:", method);
        const char *next = strstr(at + strlen(key) - 1, "\n  /");
        const char *comp = strstr(at, "\ncomponents:");
        if (!next || (comp && comp < next))
            next = comp;
        const char *m = strstr(at, mkey);
        ck_assert_msg(m && (!next || m < next), "%s %s: method missing in openapi.yaml",
                      routes[i].method, pat);
    }
    testd d;
    testd_init(&d, "sleep:0s");
    testd_start(&d);
    resp r = http(&d, "GET", "/api/v1/openapi.yaml", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, doc);
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/models", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *j = body_json(&r);
    ck_assert_int_ge(json_array_size(json_object_get(j, "models")), 1);
    ck_assert(json_is_integer(json_object_get(json_array_get(json_object_get(j, "models"), 0), "parameters")));
    json_decref(j);
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(metrics_text)
{
    testd d;
    testd_init(&d, "sleep:20ms");
    testd_start(&d);
    resp r = post_job(&d, "{\"passes\": 3}", "?wait=10");
    resp_free(&r);
    r = http(&d, "GET", "/api/v1/jobs/999", NULL, 0, NULL);
    resp_free(&r);
    r = http(&d, "GET", "/metrics", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(resp_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const char *must[] = {"equivd_jobs{status=\"done\"} 1", "equivd_queue_depth 0",
                          "# TYPE equivd_pass_duration_seconds histogram",
                          "equivd_pass_duration_seconds_count 3",
                          "equivd_pass_duration_seconds_bucket{le=\"+Inf\"} 3",
                          "equivd_http_requests_total{code=\"200\"}",
                          "equivd_http_requests_total{code=\"404\"} 1"};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        ck_assert_msg(strstr(r.body, must[i]) != NULL, "missing %s in\n%s", must[i], r.body);
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(gc_removes_old_jobs)
{
    testd d;
    testd_init(&d, "sleep:0s");
    testd_start(&d);
    long long a = submit(&d, "{\"passes\": 1}");
    ck_assert_str_eq(wait_final(&d, a, 10), "done");
    testd_stop(&d, SIGTERM);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s gc --older-than 1h --state-dir '%s' > '%s/gc.out'", EQUIVD_BIN,
             d.state, d.dir);
    ck_assert_int_eq(system(cmd), 0);
    char out[400];
    snprintf(out, sizeof out, "%s/gc.out", d.dir);
    FILE *f = fopen(out, "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(line, "removed 0 job"));
    snprintf(cmd, sizeof cmd, "%s gc --older-than 0s --state-dir '%s' > '%s/gc.out'", EQUIVD_BIN,
             d.state, d.dir);
    ck_assert_int_eq(system(cmd), 0);
    f = fopen(out, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(line, "removed 1 job"));
    snprintf(cmd, sizeof cmd, "%s gc --older-than soon --state-dir '%s' 2>/dev/null", EQUIVD_BIN, d.state);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    testd_start(&d);
    resp r = http(&d, "GET", "/api/v1/jobs/1", NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    long long b = submit(&d, "{\"passes\": 1}");
    ck_assert_str_eq(wait_final(&d, b, 10), "done");
    testd_stop(&d, SIGTERM);
    check_integrity(d.state);

    /* The retention setting: the daemon collects at start (then hourly). */
    usleep(1100000);
    testd_arg(&d, "--retention");
    testd_arg(&d, "1s");
    testd_start(&d);
    ck_assert_ptr_nonnull(strstr(testd_log(&d), "retention: removed 1 job"));
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", b);
    r = http(&d, "GET", path, NULL, 0, NULL);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(help_and_bad_flags)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s serve --help | grep -q -e '--max-queue' ", EQUIVD_BIN);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s serve --help | grep -q -e '--token-file' ", EQUIVD_BIN);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s serve --workers none 2>/dev/null", EQUIVD_BIN);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s serve --listen nowhere --state-dir /tmp/equivd-nowhere-$$ 2>/dev/null; "
             "r=$?; rm -rf /tmp/equivd-nowhere-$$; exit $r", EQUIVD_BIN);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, submit_wait_and_results);
    tcase_add_test(tc, pagination_and_filters);
    tcase_add_test(tc, cancel_queued_and_running);
    tcase_add_test(tc, error_codes);
    tcase_add_test(tc, auth_on_and_off);
    tcase_add_test(tc, queue_full_429);
    tcase_add_test(tc, concurrent_submissions);
    tcase_add_test(tc, kill9_and_restart);
    tcase_add_test(tc, sigterm_finishes_pass_and_requeues);
    tcase_add_test(tc, checkpoints);
    tcase_add_test(tc, static_files_and_path_escapes);
    tcase_add_test(tc, openapi_lists_every_route);
    tcase_add_test(tc, metrics_text);
    tcase_add_test(tc, gc_removes_old_jobs);
    tcase_add_test(tc, help_and_bad_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
