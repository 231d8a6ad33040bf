/* srv_exec_engine.c - the executor that runs jobs with the engine (eq_job). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "eq_blas.h"
#include "eq_job.h"
#include "eq_zoo.h"
#include "srv_exec.h"
#include "srv_store.h"

typedef struct engine_exec {
    char file_dir[4096];
    srv_store *store;
} engine_exec;

/* {"job": ID} references: the outputs an earlier job stored, as
 * {"Name": {"shape": [...], "data": [...]}} (first stored copy of each). */
static json_t *load_job_outputs(void *ctx, int64_t job_id, eq_error *err)
{
    engine_exec *e = ctx;
    int found = 0;
    json_t *list = srv_store_job_tensors(e->store, job_id, &found, err);
    if (!found) {
        json_decref(list);
        eq_error_set(err, EQ_ERR_INVALID, "job %lld does not exist", (long long)job_id);
        return NULL;
    }
    json_t *out = json_object();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!name || json_object_get(out, name) || !json_is_true(json_object_get(t, "stored")))
            continue;
        srv_tensor_rec rec;
        int f;
        if (srv_store_tensor_data(e->store, job_id, name, NULL, NULL, &rec, &f, NULL) != EQ_OK) {
            srv_tensor_rec_free(&rec);
            continue;
        }
        json_t *data = json_array();
        int is64 = strcmp(rec.dtype, "float64") == 0;
        for (int64_t k = 0; k < rec.numel; k++)
            json_array_append_new(data, json_real(is64 ? ((double *)rec.data)[k]
                                                       : (double)((float *)rec.data)[k]));
        json_t *shape = json_array();
        for (int d = 0; d < rec.rank; d++)
            json_array_append_new(shape, json_integer(rec.shape[d]));
        json_object_set_new(out, name, json_pack("{s:o, s:o}", "shape", shape, "data", data));
        srv_tensor_rec_free(&rec);
    }
    json_decref(list);
    return out;
}

static eq_job *parse(engine_exec *e, const json_t *spec, eq_error *err)
{
    eq_job_env env = {e->file_dir, 1, load_job_outputs, e};
    return eq_job_parse(spec, &env, err);
}

static eq_status e_check(srv_exec *x, const json_t *spec, char **name, srv_estimate *est,
                         eq_error *err)
{
    *name = NULL;
    eq_job *job = parse(x->impl, spec, err);
    if (!job)
        return err && err->status != EQ_OK ? err->status : EQ_ERR_INVALID;
    eq_job_estimate e = {0};
    eq_status rc = eq_job_estimate_cost(job, &e, err);
    if (rc == EQ_OK) {
        est->parameters = e.parameters;
        est->activation_bytes = e.activation_bytes;
        est->flops = (double)e.flops;
        est->passes = e.passes;
        *name = strdup(eq_job_name(job) ? eq_job_name(job) : "");
        if (!*name)
            rc = eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
    }
    eq_job_free(job);
    return rc;
}

typedef struct hook_bridge {
    const srv_exec_hooks *h;
} hook_bridge;

static void b_progress(void *ctx, int done, int total, const char *what)
{
    const srv_exec_hooks *h = ((hook_bridge *)ctx)->h;
    if (h->progress)
        h->progress(h->ctx, done, total, what);
}

static int b_cancel(void *ctx)
{
    const srv_exec_hooks *h = ((hook_bridge *)ctx)->h;
    return h->cancel ? h->cancel(h->ctx) : 0;
}

static void b_tensor(void *ctx, const char *check, const char *mode, const char *name,
                     const eq_tensor *t)
{
    const srv_exec_hooks *h = ((hook_bridge *)ctx)->h;
    if (h->tensor)
        h->tensor(h->ctx, check, mode, name, eq_dtype_name(t->dtype), t->rank, t->shape, t->data,
                  eq_tensor_nbytes(t));
}

static json_t *e_run(srv_exec *x, const json_t *spec, const srv_exec_hooks *h, eq_error *err)
{
    eq_job *job = parse(x->impl, spec, err);
    if (!job)
        return NULL;
    hook_bridge b = {h};
    eq_job_hooks hooks = {b_progress, b_cancel, b_tensor, &b};
    json_t *report = eq_job_run(job, &hooks, err);
    eq_job_free(job);
    return report;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each zoo file, with the figures its estimate gives for a job that runs it
 * with default settings. */
static json_t *e_models(srv_exec *x, eq_error *err)
{
    char dir[4096];
    if (!eq_zoo_dir(dir, sizeof dir))
        return json_array();
    DIR *d = opendir(dir);
    if (!d) {
        eq_error_set(err, EQ_ERR_IO, "zoo directory %s cannot be read", dir);
        return NULL;
    }
    char *names[512];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && de->d_name[0] != '.')
            names[n++] = strndup(de->d_name, len - 5);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(names[i]));
        char path[4600];
        snprintf(path, sizeof path, "%s/%s.json", dir, names[i]);
        json_t *file = json_load_file(path, 0, NULL);
        const char *desc = json_string_value(json_object_get(file, "description"));
        json_object_set_new(m, "description", desc ? json_string(desc) : json_null());
        json_t *params = json_object_get(file, "params");
        if (!params)
            params = json_object_get(file, "parameters");
        json_object_set(m, "arguments", params ? params : json_null());
        json_decref(file);
        json_t *spec = json_pack("{s:{s:s}}", "model", "zoo", names[i]);
        eq_error e = {0};
        eq_job *job = parse(x->impl, spec, &e);
        eq_job_estimate est = {0};
        if (job && eq_job_estimate_cost(job, &est, &e) == EQ_OK) {
            json_object_set_new(m, "parameters", json_integer(est.parameters));
            json_object_set_new(m, "activation_bytes", json_integer(est.activation_bytes));
            json_object_set_new(m, "flops", json_integer(est.flops));
        } else {
            json_object_set_new(m, "parameters", json_null());
            json_object_set_new(m, "estimate_error", json_string(e.message));
        }
        eq_job_free(job);
        json_decref(spec);
        json_array_append_new(out, m);
        free(names[i]);
    }
    return out;
}

static const char *e_verdict(srv_exec *x, const json_t *report)
{
    (void)x;
    return eq_report_verdict(report);
}

static char *e_junit(srv_exec *x, const json_t *report)
{
    (void)x;
    return eq_report_junit(report);
}

static void e_destroy(srv_exec *x)
{
    free(x->impl);
    free(x);
}

srv_exec *srv_exec_engine_new(const char *checkpoint_dir, srv_store *store, int threads,
                              eq_error *err)
{
    /* Jobs on several workers share the cores: each computes on its share
     * (BLIS and the engine's loops read the count from eq_blas, whichever
     * thread runs them), or they would spin against each other. */
    if (eq_blas_init(threads, err) != EQ_OK)
        return NULL;
    srv_exec *x = calloc(1, sizeof *x);
    engine_exec *e = calloc(1, sizeof *e);
    if (!x || !e) {
        free(x);
        free(e);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(e->file_dir, sizeof e->file_dir, "%s", checkpoint_dir);
    e->store = store;
    x->kind = "engine";
    x->check = e_check;
    x->run = e_run;
    x->models = e_models;
    x->verdict = e_verdict;
    x->junit = e_junit;
    x->destroy = e_destroy;
    x->impl = e;
    return x;
}
