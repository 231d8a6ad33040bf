/* test_store.c - the daemon's store, config parsing and queue, without HTTP. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv_config.h"
#include "srv_exec.h"
#include "srv_metrics.h"
#include "srv_npy.h"
#include "srv_sha256.h"
#include "srv_queue.h"
#include "srv_schema.h"
#include "srv_store.h"

static char dir[256];

static void mkstate(void)
{
    snprintf(dir, sizeof dir, "/tmp/equivd-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rmstate(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static srv_store *open_store(void)
{
    eq_error err = {0};
    srv_store *s = srv_store_open(dir, &err);
    ck_assert_msg(s != NULL, "open: %s", err.message);
    return s;
}

static int64_t insert(srv_store *s, const char *name)
{
    srv_job_new j = {name, "{\"x\": 1}", 3, 0};
    eq_error err = {0};
    ck_assert_int_eq(srv_store_jobs_insert(s, &j, 1, &err), EQ_OK);
    ck_assert_int_gt(j.id, 0);
    return j.id;
}

START_TEST(migrations_apply_once)
{
    mkstate();
    srv_store *s = open_store();
    ck_assert_int_eq(srv_store_schema_version(s), srv_schema_count);
    ck_assert_int_ge(srv_schema_count, 1);
    insert(s, "a");
    srv_store_close(s);
    /* Reopening must not re-run 001 (it would fail: tables exist). */
    s = open_store();
    ck_assert_int_eq(srv_store_schema_version(s), srv_schema_count);
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    char ok[64];
    ck_assert_int_eq(srv_store_integrity(s, ok, sizeof ok, NULL), EQ_OK);
    ck_assert_str_eq(ok, "ok");
    srv_store_close(s);
    rmstate();
}
END_TEST

START_TEST(newer_schema_refused)
{
    mkstate();
    srv_store *s = open_store();
    ck_assert_int_eq(sqlite3_exec(srv_store_db(s), "PRAGMA user_version = 999", NULL, NULL, NULL),
                     SQLITE_OK);
    srv_store_close(s);
    eq_error err = {0};
    ck_assert_ptr_null(srv_store_open(dir, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "newer"));
    rmstate();
}
END_TEST

START_TEST(job_lifecycle_and_results)
{
    mkstate();
    srv_store *s = open_store();
    int64_t id = insert(s, "mlp");
    int found;
    json_t *j = srv_store_job_get(s, id, &found, NULL);
    ck_assert_int_eq(found, 1);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "queued");
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "mlp");
    /* The estimated passes show before the job runs. */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "progress"), "passes_total")), 3);
    json_decref(j);

    ck_assert_int_eq(srv_store_job_start(s, id, 4, NULL), EQ_OK);
    ck_assert_int_eq(srv_store_job_progress(s, id, 2, 4, "fixed_weights eager", NULL), EQ_OK);
    j = srv_store_job_get(s, id, &found, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "running");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "progress"), "passes_done")), 2);
    json_decref(j);

    /* A report with a manifest, a diff and a trace; a tensor with a NaN. */
    json_t *report = json_loads(
        "{\"format\": \"equivd-report/1\", \"verdict\": \"fail\", \"summary\": \"fail: 1 of 2\","
        " \"check_counts\": {\"pass\": 1, \"fail\": 1, \"error\": 0, \"skipped\": 0},"
        " \"checks\": [{\"name\": \"manifest\", \"verdict\": \"pass\", \"details\": {\"graph\": "
        "{\"variables\": [{\"name\": \"w\", \"shape\": [3, 2], \"dtype\": \"float32\", \"trainable\": true}]},"
        " \"eager\": {\"variables\": []}}},"
        " {\"name\": \"fixed_weights\", \"verdict\": \"fail\", \"details\": {"
        "\"outputs\": [{\"name\": \"out\", \"close\": false, \"max_abs_diff\": 0.5, \"max_rel_diff\": \"inf\","
        " \"mismatched\": 1, \"numel\": 6, \"worst\": {\"index\": [1, 2], \"actual\": 1.5, \"expected\": 1.0}}],"
        " \"endpoints\": [{\"name\": \"h\", \"close\": true, \"max_abs_diff\": 0.0, \"execution_index\": 0}]}},"
        " {\"name\": \"random_inference\", \"verdict\": \"pass\", \"details\": {\"random_trace\": "
        "{\"graph\": [{\"op\": \"RandomUniform\"}], \"eager\": []}}}]}",
        0, NULL);
    ck_assert_ptr_nonnull(report);
    float data[3] = {1.0f, NAN, 3.0f};
    srv_tensor_rec t = {strdup("fixed_weights"), strdup("eager"), strdup("h"), "float32", 1, {3}, 3,
                        1.0, 3.0, 2.0, 1.0, 1, 0, malloc(sizeof data), sizeof data};
    memcpy(t.data, data, sizeof data);
    srv_job_result r = {"done", "fail", report, NULL, NULL, NULL, &t, 1, 4, 4};
    eq_error err = {0};
    ck_assert_msg(srv_store_job_finish(s, id, &r, &err) == EQ_OK, "%s", err.message);
    srv_tensor_rec_free(&t);
    json_decref(report);

    j = srv_store_job_get(s, id, &found, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "done");
    ck_assert_str_eq(json_string_value(json_object_get(j, "verdict")), "fail");
    json_t *sum = json_object_get(j, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(sum, "check_counts"), "fail")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(sum, "text")), "fail: 1 of 2");
    ck_assert_int_eq(json_array_size(json_object_get(sum, "checks")), 3);
    ck_assert(json_is_real(json_object_get(json_object_get(j, "timings"), "run_seconds")));
    json_decref(j);

    json_t *vars = srv_store_job_variables(s, id, "graph", &found, NULL);
    ck_assert_int_eq(json_array_size(vars), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vars, 0), "name")), "w");
    json_decref(vars);

    json_t *ts = srv_store_job_tensors(s, id, &found, NULL);
    ck_assert_int_eq(json_array_size(ts), 1);
    json_t *t0 = json_array_get(ts, 0);
    ck_assert_str_eq(json_string_value(json_object_get(t0, "kind")), "endpoint");
    ck_assert_int_eq(json_integer_value(json_object_get(t0, "nan_count")), 1);
    json_decref(ts);

    srv_tensor_rec back;
    ck_assert_int_eq(srv_store_tensor_data(s, id, "h", NULL, "eager", &back, &found, NULL), EQ_OK);
    ck_assert_int_eq(back.nbytes, sizeof data);
    ck_assert(isnan(((float *)back.data)[1]));
    ck_assert(((float *)back.data)[2] == 3.0f);
    srv_tensor_rec_free(&back);
    ck_assert_int_eq(srv_store_tensor_data(s, id, "nope", NULL, NULL, &back, &found, NULL), EQ_ERR_INVALID);
    ck_assert_int_eq(found, 0);
    srv_tensor_rec_free(&back);

    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(srv_store_db(s), "SELECT max_abs, max_rel, kind, passed, "
                                        "worst_actual, worst_index, ord FROM diffs WHERE job_id = ? "
                                        "ORDER BY ord", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert(sqlite3_column_double(st, 0) == 0.5);
    ck_assert_int_eq(sqlite3_column_type(st, 1), SQLITE_NULL); /* "inf" is no REAL here */
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "output");
    ck_assert_int_eq(sqlite3_column_int(st, 3), 0);
    ck_assert(sqlite3_column_double(st, 4) == 1.5);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 5), "[1,2]");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW); /* the endpoint, next ord */
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "endpoint");
    ck_assert_int_eq(sqlite3_column_int(st, 6), 1);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(srv_store_db(s), "SELECT count(*) FROM random_traces", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);

    int has_report;
    char *rep = srv_store_job_report(s, id, &has_report, NULL);
    ck_assert_ptr_nonnull(rep);
    ck_assert_ptr_nonnull(strstr(rep, "fixed_weights"));
    free(rep);
    json_t *ev = srv_store_job_events(s, id, NULL);
    ck_assert_int_eq(json_array_size(ev), 3); /* accepted, started, done */
    json_decref(ev);
    srv_store_close(s);
    rmstate();
}
END_TEST

START_TEST(list_pages_and_filters)
{
    mkstate();
    srv_store *s = open_store();
    for (int i = 0; i < 7; i++)
        insert(s, i % 2 ? "odd" : "even");
    srv_job_filter f = {NULL, NULL, NULL, 0, 3};
    int seen = 0;
    int64_t last = 1000;
    for (int page = 0; page < 5; page++) {
        json_t *l = srv_store_job_list(s, &f, NULL);
        json_t *jobs = json_object_get(l, "jobs");
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j)
        {
            int64_t id = json_integer_value(json_object_get(j, "id"));
            ck_assert_int_lt(id, last); /* newest first, no repeats */
            last = id;
            seen++;
        }
        json_t *next = json_object_get(l, "next_cursor");
        if (json_is_null(next)) {
            json_decref(l);
            break;
        }
        f.before = atoll(json_string_value(next));
        json_decref(l);
    }
    ck_assert_int_eq(seen, 7);
    srv_job_filter odd = {NULL, NULL, "odd", 0, 100};
    json_t *l = srv_store_job_list(s, &odd, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 3);
    json_decref(l);
    srv_job_filter running = {"running", NULL, NULL, 0, 100};
    l = srv_store_job_list(s, &running, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(l, "jobs")), 0);
    json_decref(l);
    srv_store_close(s);
    rmstate();
}
END_TEST

START_TEST(requeue_cancel_gc)
{
    mkstate();
    srv_store *s = open_store();
    int64_t a = insert(s, "a"), b = insert(s, "b"), c = insert(s, "c");
    ck_assert_int_eq(srv_store_job_start(s, a, 2, NULL), EQ_OK);
    ck_assert_int_eq(srv_store_requeue_running(s, NULL), 1);
    int64_t *ids;
    size_t n;
    ck_assert_int_eq(srv_store_queued_ids(s, &ids, &n, NULL), EQ_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], a);
    free(ids);
    ck_assert_int_eq(srv_store_job_cancel_queued(s, b, NULL), 1);
    ck_assert_int_eq(srv_store_job_cancel_queued(s, b, NULL), 0);
    srv_job_result r = {"done", "pass", NULL, NULL, NULL, NULL, NULL, 0, 1, 1};
    ck_assert_int_eq(srv_store_job_finish(s, c, &r, NULL), EQ_OK);
    /* Nothing finished before an hour ago. */
    ck_assert_int_eq(srv_store_gc(s, srv_now() - 3600, NULL), 0);
    /* b (cancelled) and c (done) are old by a cutoff in the future; a is
     * still queued and stays. */
    ck_assert_int_eq(srv_store_gc(s, srv_now() + 1, NULL), 2);
    int found;
    json_t *j = srv_store_job_get(s, a, &found, NULL);
    ck_assert_int_eq(found, 1);
    json_decref(j);
    j = srv_store_job_get(s, c, &found, NULL);
    ck_assert_int_eq(found, 0);
    json_t *ev = srv_store_job_events(s, c, NULL);
    ck_assert_int_eq(json_array_size(ev), 0); /* cascaded */
    json_decref(ev);
    srv_store_close(s);
    rmstate();
}
END_TEST

START_TEST(config_values)
{
    ck_assert(srv_parse_duration("30d") == 30 * 86400.0);
    ck_assert(srv_parse_duration("90s") == 90.0);
    ck_assert(srv_parse_duration("1.5h") == 5400.0);
    ck_assert(srv_parse_duration("3x") < 0);
    ck_assert(srv_parse_duration("-1") < 0);
    ck_assert_int_eq(srv_parse_size("4M"), 4 << 20);
    ck_assert_int_eq(srv_parse_size("512K"), 512 << 10);
    ck_assert_int_eq(srv_parse_size("2GiB"), (int64_t)2 << 30);
    ck_assert_int_eq(srv_parse_size("12"), 12);
    ck_assert_int_lt(srv_parse_size("12Q"), 0);

    srv_config c;
    srv_config_defaults(&c);
    ck_assert_str_eq(c.listen, "127.0.0.1");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_str_eq(c.state_dir, "./equivd-data");
    ck_assert_int_eq(c.workers, 1);

    mkstate();
    char path[512];
    snprintf(path, sizeof path, "%s/equivd.conf", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nworkers = 3\nport = 9000 # trailing\nmax-body = 1K\nretention = 30d\n");
    fclose(f);
    char *argv[] = {"serve", "--config", path, "--port", "0", "--auth-reads", NULL};
    int help;
    eq_error err = {0};
    ck_assert_msg(srv_config_parse(&c, 6, argv, &help, &err) == EQ_OK, "%s", err.message);
    ck_assert_int_eq(c.workers, 3);   /* from the file */
    ck_assert_int_eq(c.port, 0);      /* the flag wins */
    ck_assert_int_eq(c.max_body, 1024);
    ck_assert(c.retention == 30 * 86400.0);
    ck_assert_int_eq(c.auth_reads, 1);

    f = fopen(path, "w");
    fprintf(f, "workers = 2\nbogus = 1\n");
    fclose(f);
    char *argv2[] = {"serve", "--config", path, NULL};
    ck_assert_int_eq(srv_config_parse(&c, 3, argv2, &help, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, ":2: unknown setting 'bogus'"));

    char *argv3[] = {"serve", "--workers", "many", NULL};
    ck_assert_int_eq(srv_config_parse(&c, 3, argv3, &help, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "workers"));
    char *argv4[] = {"serve", "--no-such", NULL};
    ck_assert_int_eq(srv_config_parse(&c, 2, argv4, &help, &err), EQ_ERR_INVALID);

    /* Tokens: trimmed; empty refused. */
    snprintf(c.token_file, sizeof c.token_file, "%s/token", dir);
    f = fopen(c.token_file, "w");
    fprintf(f, "  s3cret\n");
    fclose(f);
    ck_assert_int_eq(srv_config_load_token(&c, &err), EQ_OK);
    ck_assert_str_eq(c.token, "s3cret");
    f = fopen(c.token_file, "w");
    fclose(f);
    ck_assert_int_eq(srv_config_load_token(&c, &err), EQ_ERR_INVALID);
    rmstate();
}
END_TEST

/* ---- queue ---- */

typedef struct submitter {
    srv_queue *q;
    int n;
    int64_t ids[64];
} submitter;

static void *submit_many(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++) {
        eq_error err = {0};
        ck_assert_int_eq(srv_queue_submit(s->q, "t", "{\"passes\": 2, \"sleep_ms\": 1}", 2, &s->ids[i], &err),
                         EQ_OK);
    }
    return NULL;
}

static int count_status(srv_store *s, const char *status)
{
    json_t *c = srv_store_job_counts(s, NULL);
    int n = (int)json_integer_value(json_object_get(c, status));
    json_decref(c);
    return n;
}

START_TEST(queue_runs_everything_once)
{
    mkstate();
    srv_store *s = open_store();
    srv_config cfg;
    srv_config_defaults(&cfg);
    cfg.workers = 2;
    srv_exec *x = srv_exec_test_new("sleep:1ms", NULL);
    srv_metrics *m = srv_metrics_new();
    srv_queue *q = srv_queue_new(s, x, m, &cfg, NULL);
    ck_assert_int_eq(srv_queue_recover(q, NULL), 0);
    ck_assert_int_eq(srv_queue_start(q, NULL), EQ_OK);
    submitter sub[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sub[i].q = q;
        sub[i].n = 10;
        pthread_create(&th[i], NULL, submit_many, &sub[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* Ids are unique across threads. */
    for (int a = 0; a < 40; a++)
        for (int b = a + 1; b < 40; b++)
            ck_assert_int_ne(sub[a / 10].ids[a % 10], sub[b / 10].ids[b % 10]);
    for (int tries = 0; tries < 500 && count_status(s, "done") < 40; tries++)
        usleep(10000);
    ck_assert_int_eq(count_status(s, "done"), 40);
    int found;
    json_t *j = srv_store_job_get(s, sub[0].ids[0], &found, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "verdict")), "pass");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    srv_queue_free(q);
    srv_metrics_free(m);
    srv_exec_free(x);
    srv_store_close(s);
    rmstate();
}
END_TEST

START_TEST(queue_full_and_cancel)
{
    mkstate();
    srv_store *s = open_store();
    srv_config cfg;
    srv_config_defaults(&cfg);
    cfg.max_queue = 3;
    srv_exec *x = srv_exec_test_new("sleep:2s", NULL);
    srv_metrics *m = srv_metrics_new();
    srv_queue *q = srv_queue_new(s, x, m, &cfg, NULL);
    /* Not started: everything stays queued. */
    int64_t ids[3], extra;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(srv_queue_submit(q, "", "{}", 4, &ids[i], NULL), EQ_OK);
    eq_error err = {0};
    ck_assert_int_eq(srv_queue_submit(q, "", "{}", 4, &extra, &err), EQ_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "max-queue 3"));
    ck_assert_int_ge(srv_queue_retry_after(q), 1);
    ck_assert_int_eq(srv_queue_cancel(q, ids[1], NULL), SRV_CANCEL_DONE);
    ck_assert_int_eq(srv_queue_cancel(q, ids[1], NULL), SRV_CANCEL_ENDED);
    ck_assert_int_eq(srv_queue_cancel(q, 9999, NULL), SRV_CANCEL_NOT_FOUND);
    ck_assert_int_eq(srv_queue_is_active(q, ids[0]), 1);
    ck_assert_int_eq(srv_queue_is_active(q, ids[1]), 0);
    /* Room again after the cancel. */
    ck_assert_int_eq(srv_queue_submit(q, "", "{}", 4, &extra, NULL), EQ_OK);
    /* Start: the first job runs; cancel it mid-run. */
    ck_assert_int_eq(srv_queue_start(q, NULL), EQ_OK);
    int done = 0, total = 0;
    char what[64];
    for (int t = 0; t < 200 && !srv_queue_progress(q, ids[0], &done, &total, what, sizeof what); t++)
        usleep(5000);
    ck_assert_int_eq(srv_queue_cancel(q, ids[0], NULL), SRV_CANCEL_REQUESTED);
    for (int t = 0; t < 400 && srv_queue_is_active(q, ids[0]); t++)
        usleep(5000);
    int found;
    json_t *j = srv_store_job_get(s, ids[0], &found, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "cancelled");
    json_decref(j);
    /* Stop while ids[2] runs: it goes back to the queue, not cancelled. */
    for (int t = 0; t < 200 && !srv_queue_progress(q, ids[2], &done, &total, what, sizeof what); t++)
        usleep(5000);
    srv_queue_stop(q);
    j = srv_store_job_get(s, ids[2], &found, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "queued");
    json_decref(j);
    ck_assert_int_eq(srv_queue_submit(q, "", "{}", 4, &extra, &err), EQ_ERR_STATE);
    srv_queue_free(q);
    srv_metrics_free(m);
    srv_exec_free(x);
    srv_store_close(s);
    rmstate();
}
END_TEST

/* Lengths around the padding edges (55: length fits the block, 56: it does
 * not), fed whole and in uneven pieces. Digests from Python's hashlib. */
START_TEST(sha256_vectors)
{
    static const struct {
        int n;
        const char *hex;
    } v[] = {
        {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {1000, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"},
    };
    char a[1000];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        for (int step = 1; step <= 1000; step = step * 7 + 1) {
            srv_sha256 c;
            srv_sha256_init(&c);
            for (int off = 0; off < v[i].n; off += step)
                srv_sha256_update(&c, a + off, (size_t)(off + step <= v[i].n ? step : v[i].n - off));
            char hex[65];
            srv_sha256_hex(&c, hex);
            ck_assert_msg(strcmp(hex, v[i].hex) == 0, "n=%d step=%d: %s", v[i].n, step, hex);
        }
    }
}
END_TEST

START_TEST(npy_headers)
{
    double d[6] = {1, 2, 3, 4, 5, 6};
    struct {
        const char *dtype;
        int rank;
        int64_t shape[3];
        size_t nbytes;
        const char *want;
    } v[] = {
        {"float64", 0, {0}, 8, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"},
        {"float32", 1, {6}, 24, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }"},
        {"float64", 3, {1, 2, 3}, 48, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }"},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        unsigned char *b = srv_npy_encode(v[i].dtype, v[i].rank, v[i].shape, d, v[i].nbytes, &len);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0);
        size_t hlen = b[8] | (size_t)b[9] << 8;
        ck_assert_int_eq((10 + hlen) % 64, 0);
        ck_assert_int_eq(len, 10 + hlen + v[i].nbytes);
        ck_assert_int_eq(memcmp(b + 10, v[i].want, strlen(v[i].want)), 0);
        ck_assert_int_eq(b[10 + hlen - 1], '\n');
        for (size_t k = 10 + strlen(v[i].want); k < 10 + hlen - 1; k++)
            ck_assert_int_eq(b[k], ' ');
        ck_assert_int_eq(memcmp(b + 10 + hlen, d, v[i].nbytes), 0);
        free(b);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, migrations_apply_once);
    tcase_add_test(tc, newer_schema_refused);
    tcase_add_test(tc, job_lifecycle_and_results);
    tcase_add_test(tc, list_pages_and_filters);
    tcase_add_test(tc, requeue_cancel_gc);
    tcase_add_test(tc, config_values);
    tcase_add_test(tc, queue_runs_everything_once);
    tcase_add_test(tc, queue_full_and_cancel);
    tcase_add_test(tc, sha256_vectors);
    tcase_add_test(tc, npy_headers);
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
