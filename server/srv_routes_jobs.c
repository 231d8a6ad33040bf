/* srv_routes_jobs.c - /api/v1/jobs and everything under it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_http.h"
#include "srv_npy.h"

/* A positive decimal id, or 0. */
static int64_t parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return atoll(s);
}

/* ?wait=SECONDS: -1 when malformed. */
static double parse_wait(srv_req *r)
{
    const char *w = srv_req_arg(r, "wait");
    if (!w)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(w, &end);
    if (end == w || *end || errno || !isfinite(v) || v < 0)
        return -1;
    return v > r->srv->cfg->max_wait ? r->srv->cfg->max_wait : v;
}

static enum MHD_Result no_job(srv_req *r, const char *id)
{
    return srv_reply_error(r, 404, "not_found", "id", "there is no job %s", id);
}

/* The job resource with live progress for a running job. */
static json_t *job_json(srv_req *r, int64_t id, int *found, eq_error *err)
{
    json_t *j = srv_store_job_get(r->srv->store, id, found, err);
    if (!j)
        return NULL;
    int done, total;
    char what[128];
    if (srv_queue_progress(r->srv->queue, id, &done, &total, what, sizeof what)) {
        json_t *p = json_object_get(j, "progress");
        json_object_set_new(p, "passes_done", json_integer(done));
        if (total > 0) /* else the estimate stored at submission stands */
            json_object_set_new(p, "passes_total", json_integer(total));
        json_object_set_new(p, "current", what[0] ? json_string(what) : json_null());
        json_object_set_new(j, "status", json_string("running"));
    }
    return j;
}

static int is_final(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));
    return s && (!strcmp(s, "done") || !strcmp(s, "failed") || !strcmp(s, "cancelled"));
}

/* Reply with the job; `accepted`: the answer to a POST (202 while it has
 * not ended, 200 once it has, with Location either way). */
static enum MHD_Result reply_job(srv_req *r, int64_t id, int accepted)
{
    int found = 0;
    eq_error err = {0};
    json_t *j = job_json(r, id, &found, &err);
    if (!j) {
        if (!found && err.status == EQ_OK) {
            char s[32];
            snprintf(s, sizeof s, "%lld", (long long)id);
            return no_job(r, s);
        }
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    }
    unsigned status = 200;
    if (accepted) {
        char loc[64];
        snprintf(loc, sizeof loc, "/api/v1/jobs/%lld", (long long)id);
        srv_req_header(r, MHD_HTTP_HEADER_LOCATION, loc);
        status = is_final(j) ? 200 : 202;
    }
    return srv_reply_json(r, status, j);
}

static enum MHD_Result over_budget(srv_req *r, const char *what, const char *flag, double figure,
                                   double limit)
{
    return srv_reply_error(r, 422, "over_budget", "model",
                           "the model needs %.6g %s; the limit is %.6g (%s)", figure, what, limit, flag);
}

enum MHD_Result srv_route_jobs_post(srv_req *r)
{
    srv_server *s = r->srv;
    if (r->resumed)
        return reply_job(r, r->wait_id, 1);
    double wait = parse_wait(r);
    if (wait < 0)
        return srv_reply_error(r, 400, "bad_request", "wait", "wait must be a number of seconds");
    json_error_t jerr;
    json_t *spec = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!spec) {
        json_t *e = json_pack("{s:{s:s, s:s, s:s, s:i, s:i}}", "error", "code", "malformed_json",
                              "message", jerr.text, "path", "", "line", jerr.line, "column", jerr.column);
        char msg[400];
        snprintf(msg, sizeof msg, "the body is not valid JSON: %s at line %d, column %d", jerr.text,
                 jerr.line, jerr.column);
        json_object_set_new(json_object_get(e, "error"), "message", json_string(msg));
        return srv_reply_json(r, 400, e);
    }
    char *name = NULL;
    srv_estimate est = {0};
    eq_error err = {0};
    eq_status rc = s->exec->check(s->exec, spec, &name, &est, &err);
    if (rc != EQ_OK) {
        json_decref(spec);
        free(name);
        if (rc == EQ_ERR_NOMEM)
            return srv_reply_error(r, 500, "internal", "", "%s", err.message);
        return srv_reply_error(r, 422, "invalid_job", err.path, "%s", err.message);
    }
    const srv_config *c = s->cfg;
    double total_flops = est.flops * (est.passes > 0 ? est.passes : 1);
    enum MHD_Result refused = MHD_NO;
    int refuse = 1;
    if (c->max_parameters && est.parameters > c->max_parameters)
        refused = over_budget(r, "parameters", "max-parameters", (double)est.parameters,
                              (double)c->max_parameters);
    else if (c->max_activation_bytes && est.activation_bytes > c->max_activation_bytes)
        refused = over_budget(r, "bytes of activations per pass", "max-activation-bytes",
                              (double)est.activation_bytes, (double)c->max_activation_bytes);
    else if (c->max_flops > 0 && total_flops > c->max_flops)
        refused = over_budget(r, "FLOPs over all its passes", "max-flops", total_flops, c->max_flops);
    else
        refuse = 0;
    if (refuse) {
        json_decref(spec);
        free(name);
        return refused;
    }
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    int64_t id = 0;
    rc = text ? srv_queue_submit(s->queue, name, text, est.passes, &id, &err)
              : eq_error_set(&err, EQ_ERR_NOMEM, "out of memory");
    free(text);
    free(name);
    if (rc == EQ_ERR_LIMIT) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", srv_queue_retry_after(s->queue));
        srv_req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        return srv_reply_error(r, 429, "queue_full", "", "%s", err.message);
    }
    if (rc == EQ_ERR_STATE) {
        srv_req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        return srv_reply_error(r, 503, "shutting_down", "", "%s", err.message);
    }
    if (rc != EQ_OK)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    if (wait > 0 && srv_req_wait(r, id, wait))
        return MHD_YES;
    return reply_job(r, id, 1);
}

static int one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return 1;
    return 0;
}

enum MHD_Result srv_route_jobs_list(srv_req *r)
{
    static const char *const statuses[] = {"queued", "running", "done", "failed", "cancelled", NULL};
    static const char *const verdicts[] = {"pass", "fail", "error", NULL};
    srv_job_filter f = {srv_req_arg(r, "status"), srv_req_arg(r, "verdict"), srv_req_arg(r, "name"), 0, 50};
    if (f.status && !one_of(f.status, statuses))
        return srv_reply_error(r, 400, "bad_request", "status",
                               "status must be queued, running, done, failed or cancelled");
    if (f.verdict && !one_of(f.verdict, verdicts))
        return srv_reply_error(r, 400, "bad_request", "verdict", "verdict must be pass, fail or error");
    const char *cursor = srv_req_arg(r, "cursor");
    if (cursor && !(f.before = parse_id(cursor)))
        return srv_reply_error(r, 400, "bad_request", "cursor",
                               "cursor must be a next_cursor value from an earlier page");
    const char *limit = srv_req_arg(r, "limit");
    if (limit) {
        int64_t l = parse_id(limit);
        if (l < 1 || l > 500)
            return srv_reply_error(r, 400, "bad_request", "limit", "limit must be from 1 to 500");
        f.limit = (int)l;
    }
    eq_error err = {0};
    json_t *out = srv_store_job_list(r->srv->store, &f, &err);
    if (!out)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    /* Running jobs' live progress. */
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(out, "jobs"), i, j)
    {
        int done, total;
        char what[128];
        if (srv_queue_progress(r->srv->queue, json_integer_value(json_object_get(j, "id")), &done,
                               &total, what, sizeof what)) {
            json_t *p = json_object_get(j, "progress");
            json_object_set_new(p, "passes_done", json_integer(done));
            if (total > 0)
                json_object_set_new(p, "passes_total", json_integer(total));
            json_object_set_new(j, "status", json_string("running"));
        }
    }
    json_t *next = json_object_get(out, "next_cursor");
    if (json_is_string(next)) {
        char link[1024];
        int n = snprintf(link, sizeof link, "/api/v1/jobs?cursor=%s&limit=%d", json_string_value(next),
                         f.limit);
        if (f.status)
            n += snprintf(link + n, sizeof link - (size_t)n, "&status=%s", f.status);
        if (f.verdict)
            n += snprintf(link + n, sizeof link - (size_t)n, "&verdict=%s", f.verdict);
        json_object_set_new(out, "links", json_pack("{s:s}", "next", link));
        /* name is free text: clients add it back themselves. */
    } else {
        json_object_set_new(out, "links", json_pack("{s:n}", "next"));
    }
    return srv_reply_json(r, 200, out);
}

enum MHD_Result srv_route_job_get(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    if (r->resumed)
        return reply_job(r, id, 0);
    double wait = parse_wait(r);
    if (wait < 0)
        return srv_reply_error(r, 400, "bad_request", "wait", "wait must be a number of seconds");
    if (wait > 0 && srv_req_wait(r, id, wait))
        return MHD_YES;
    return reply_job(r, id, 0);
}

enum MHD_Result srv_route_job_delete(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    eq_error err = {0};
    switch (srv_queue_cancel(r->srv->queue, id, &err)) {
    case SRV_CANCEL_NOT_FOUND:
        return no_job(r, r->params[0]);
    case SRV_CANCEL_DONE:
        return reply_job(r, id, 0);
    case SRV_CANCEL_REQUESTED: {
        int found;
        json_t *j = job_json(r, id, &found, &err);
        if (!j)
            return srv_reply_error(r, 500, "internal", "", "%s", err.message);
        json_object_set_new(j, "cancel_requested", json_true());
        return srv_reply_json(r, 202, j);
    }
    case SRV_CANCEL_ENDED: {
        int found;
        json_t *j = srv_store_job_get(r->srv->store, id, &found, &err);
        const char *st = json_string_value(json_object_get(j, "status"));
        enum MHD_Result ret = srv_reply_error(r, 409, "conflict", "id",
                                              "job %lld has already ended (status %s)", (long long)id,
                                              st ? st : "unknown");
        json_decref(j);
        return ret;
    }
    case SRV_CANCEL_ERROR:
    default:
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    }
}

/* The stored report, parsed; NULL after replying. */
static json_t *load_report(srv_req *r, int64_t id, enum MHD_Result *ret)
{
    int found = 0;
    eq_error err = {0};
    char *text = srv_store_job_report(r->srv->store, id, &found, &err);
    if (!text) {
        if (!found)
            *ret = no_job(r, r->params[0]);
        else if (srv_queue_is_active(r->srv->queue, id))
            *ret = srv_reply_error(r, 409, "not_ready", "id",
                                   "job %lld has not finished; its report is not ready", (long long)id);
        else
            *ret = srv_reply_error(r, 404, "no_report", "id",
                                   "job %lld ended without a report (see its error)", (long long)id);
        return NULL;
    }
    json_t *rep = json_loads(text, 0, NULL);
    free(text);
    if (!rep)
        *ret = srv_reply_error(r, 500, "internal", "", "the stored report of job %lld is unreadable",
                               (long long)id);
    return rep;
}

enum MHD_Result srv_route_job_report(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    enum MHD_Result ret = MHD_NO;
    json_t *rep = load_report(r, id, &ret);
    return rep ? srv_reply_json(r, 200, rep) : ret;
}

enum MHD_Result srv_route_job_junit(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    enum MHD_Result ret = MHD_NO;
    json_t *rep = load_report(r, id, &ret);
    if (!rep)
        return ret;
    char *xml = r->srv->exec->junit(r->srv->exec, rep);
    json_decref(rep);
    if (!xml)
        return srv_reply_error(r, 500, "internal", "", "JUnit XML could not be made");
    return srv_reply(r, 200, "application/xml; charset=utf-8", xml, strlen(xml), 1);
}

enum MHD_Result srv_route_job_manifest(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    const char *mode = r->params[1];
    if (strcmp(mode, "graph") != 0 && strcmp(mode, "eager") != 0)
        return srv_reply_error(r, 404, "not_found", "mode", "mode must be graph or eager, not '%s'", mode);
    int found = 0;
    eq_error err = {0};
    json_t *vars = srv_store_job_variables(r->srv->store, id, mode, &found, &err);
    if (!vars)
        return found || err.status != EQ_OK ? srv_reply_error(r, 500, "internal", "", "%s", err.message)
                                            : no_job(r, r->params[0]);
    return srv_reply_json(r, 200, json_pack("{s:I, s:s, s:o}", "job", (json_int_t)id, "mode", mode,
                                            "variables", vars));
}

enum MHD_Result srv_route_job_tensors(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    int found = 0;
    eq_error err = {0};
    json_t *list = srv_store_job_tensors(r->srv->store, id, &found, &err);
    if (!list)
        return found || err.status != EQ_OK ? srv_reply_error(r, 500, "internal", "", "%s", err.message)
                                            : no_job(r, r->params[0]);
    return srv_reply_json(r, 200, json_pack("{s:I, s:o}", "job", (json_int_t)id, "tensors", list));
}

enum MHD_Result srv_route_job_tensor(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    char *name = r->params[1];
    size_t n = strlen(name);
    if (n <= 4 || strcmp(name + n - 4, ".npy") != 0)
        return srv_reply_error(r, 404, "not_found", "name", "tensors are served as NAME.npy");
    name[n - 4] = 0;
    srv_tensor_rec t;
    int found = 0;
    eq_error err = {0};
    eq_status rc = srv_store_tensor_data(r->srv->store, id, name, srv_req_arg(r, "check"),
                                         srv_req_arg(r, "mode"), &t, &found, &err);
    if (rc != EQ_OK) {
        srv_tensor_rec_free(&t);
        if (rc == EQ_ERR_LIMIT)
            return srv_reply_error(r, 404, "not_stored", name, "%s", err.message);
        if (rc == EQ_ERR_INVALID)
            return srv_reply_error(r, 404, "not_found", name, "%s", err.message);
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    }
    size_t len = 0;
    unsigned char *npy = srv_npy_encode(t.dtype, t.rank, t.shape, t.data, t.nbytes, &len);
    char disp[300], fname[200];
    snprintf(fname, sizeof fname, "%s", name);
    for (char *p = fname; *p; p++)
        if (*p == '/' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '_';
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.npy\"", fname);
    srv_req_header(r, "Content-Disposition", disp);
    srv_req_header(r, "X-Equivd-Check", t.check);
    srv_req_header(r, "X-Equivd-Mode", t.mode);
    srv_tensor_rec_free(&t);
    if (!npy)
        return srv_reply_error(r, 500, "internal", "", "out of memory");
    return srv_reply(r, 200, "application/octet-stream", npy, len, 1);
}

enum MHD_Result srv_route_job_events(srv_req *r)
{
    int64_t id = parse_id(r->params[0]);
    if (!id)
        return no_job(r, r->params[0]);
    int found = 0;
    eq_error err = {0};
    json_t *j = srv_store_job_get(r->srv->store, id, &found, &err);
    json_decref(j);
    if (!found)
        return no_job(r, r->params[0]);
    json_t *ev = srv_store_job_events(r->srv->store, id, &err);
    if (!ev)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    return srv_reply_json(r, 200, json_pack("{s:I, s:o}", "job", (json_int_t)id, "events", ev));
}
