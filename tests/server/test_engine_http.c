/* test_engine_http.c - the real path: the equivd command's daemon running
 * zoo jobs through the engine (no test executor). */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static json_t *body_json(const resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %.400s", e.text, r->body);
    return j;
}

static const char *str_at(const json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

START_TEST(mlp_job_end_to_end)
{
    testd d;
    testd_init(&d, NULL);
    testd_start(&d);
    const char *job = "{\"name\": \"mlp-e2e\", \"model\": {\"zoo\": \"mlp\"}}";
    resp r = http(&d, "POST", "/api/v1/jobs?wait=60", job, strlen(job), NULL);
    ck_assert_msg(r.status == 200, "%ld %.600s\n%s", r.status, r.body, testd_log(&d));
    json_t *j = body_json(&r);
    ck_assert_str_eq(str_at(j, "status"), "done");
    ck_assert_str_eq(str_at(j, "model"), "zoo:mlp");
    ck_assert_msg(!strcmp(str_at(j, "verdict"), "pass"), "verdict %s: %.800s", str_at(j, "verdict"),
                  r.body);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_t *p = json_object_get(j, "progress");
    ck_assert_int_gt(json_integer_value(json_object_get(p, "passes_total")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "passes_done")),
                     json_integer_value(json_object_get(p, "passes_total")));
    ck_assert(json_is_array(json_object_get(json_object_get(j, "summary"), "checks")));
    json_decref(j);
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/report", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    j = body_json(&r);
    ck_assert_str_eq(str_at(j, "format"), "equivd-report/1");
    ck_assert_int_ge(json_array_size(json_object_get(j, "checks")), 3);
    json_decref(j);
    resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/jobs/%lld/junit.xml", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<testsuite"));
    ck_assert_ptr_nonnull(strstr(r.body, "fixed_weights"));
    resp_free(&r);

    /* The manifest check's variables are in the store, both modes alike. */
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/manifests/graph", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    size_t ng = json_array_size(json_object_get(j, "variables"));
    ck_assert_int_gt(ng, 0);
    json_decref(j);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/manifests/eager", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "variables")), ng);
    json_decref(j);
    resp_free(&r);

    /* Outputs arrived through the tensor hook; one downloads as .npy. */
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/tensors", id);
    r = http(&d, "GET", path, NULL, 0, NULL);
    j = body_json(&r);
    json_t *list = json_object_get(j, "tensors");
    ck_assert_int_gt(json_array_size(list), 0);
    json_t *t0 = json_array_get(list, 0);
    char npy[512];
    snprintf(npy, sizeof npy, "/api/v1/jobs/%lld/tensors/%s.npy?check=%s&mode=%s", id,
             str_at(t0, "name"), str_at(t0, "check"), str_at(t0, "mode"));
    json_decref(j);
    resp_free(&r);
    r = http(&d, "GET", npy, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", npy, r.status, r.body);
    ck_assert_int_eq(memcmp(r.body, "\x93NUMPY", 6), 0);
    resp_free(&r);

    /* The zoo, with parameter counts. */
    r = http(&d, "GET", "/api/v1/models", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"mlp\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"inception_resnet_v2\""));
    resp_free(&r);
    ck_assert_int_eq(testd_stop(&d, SIGTERM), 0);
}
END_TEST

START_TEST(engine_errors_are_422)
{
    testd d;
    testd_init(&d, NULL);
    testd_arg(&d, "--max-parameters");
    testd_arg(&d, "1000000");
    testd_start(&d);
    const char *bad[][2] = {
        {"{\"model\": {\"zoo\": \"no_such_model\"}}", "model"},
        {"{\"model\": {\"zoo\": \"mlp\"}, \"eager_calls\": 1}", "eager_calls"},
        {"{\"model\": {\"zoo\": \"mlp\"}, \"colour\": \"blue\"}", "colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = http(&d, "POST", "/api/v1/jobs", bad[i][0], strlen(bad[i][0]), NULL);
        ck_assert_msg(r.status == 422, "%s: %ld %s", bad[i][0], r.status, r.body);
        json_t *j = body_json(&r);
        json_t *e = json_object_get(j, "error");
        ck_assert_str_eq(str_at(e, "code"), "invalid_job");
        ck_assert_msg(strstr(str_at(e, "path"), bad[i][1]) != NULL, "path %s for %s", str_at(e, "path"),
                      bad[i][0]);
        json_decref(j);
        resp_free(&r);
    }
    /* Inception-ResNet-v2 (55.8M parameters) is over this daemon's budget. */
    const char *big = "{\"model\": {\"zoo\": \"inception_resnet_v2\"}}";
    resp r = http(&d, "POST", "/api/v1/jobs", big, strlen(big), NULL);
    ck_assert_msg(r.status == 422, "%ld %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "over_budget"));
    ck_assert_ptr_nonnull(strstr(r.body, "max-parameters"));
    resp_free(&r);
    testd_stop(&d, SIGTERM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_http");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mlp_job_end_to_end);
    tcase_add_test(tc, engine_errors_are_422);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
