/* srv_routes_misc.c - checkpoints, models, health, metrics, the OpenAPI
 * document and the static web UI. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srv_http.h"

/* ---- checkpoints ---- */

/* Names become file names in the checkpoint directory: a strict set. */
static int checkpoint_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 128 || n[0] == '.' || n[0] == '-')
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int srv_route_checkpoint_start(srv_req *r)
{
    const char *name = r->params[0];
    if (!checkpoint_name_ok(name)) {
        srv_req_fail(r, 400, "bad_request", "checkpoint names hold 1 to 128 of A-Z a-z 0-9 . _ - and "
                     "do not start with . or -");
        return 1;
    }
    snprintf(r->tmp_path, sizeof r->tmp_path, "%s/.upload-XXXXXX", r->srv->checkpoint_dir);
    r->fd = mkstemp(r->tmp_path);
    if (r->fd < 0) {
        srv_req_fail(r, 500, "internal", "cannot create an upload file: %s", strerror(errno));
        return 1;
    }
    srv_sha256_init(&r->sha);
    r->written = 0;
    return 0;
}

int srv_route_checkpoint_chunk(srv_req *r, const char *data, size_t n)
{
    if (r->fd < 0)
        return 1;
    srv_sha256_update(&r->sha, data, n);
    while (n) {
        ssize_t w = write(r->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            srv_req_fail(r, e == ENOSPC ? 507 : 500, e == ENOSPC ? "insufficient_storage" : "internal",
                         "writing the checkpoint failed: %s", strerror(e));
            srv_route_checkpoint_abort(r);
            return 1;
        }
        data += w;
        n -= (size_t)w;
        r->written += w;
    }
    return 0;
}

void srv_route_checkpoint_abort(srv_req *r)
{
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
        unlink(r->tmp_path);
    }
}

enum MHD_Result srv_route_checkpoint_put(srv_req *r)
{
    const char *name = r->params[0];
    if (r->fd < 0)
        return srv_reply_error(r, 500, "internal", "", "the upload was lost");
    char hex[65];
    srv_sha256_hex(&r->sha, hex);
    /* fsync before rename, then the directory: a recorded checkpoint is a
     * complete file even after a crash. */
    if (fsync(r->fd) != 0) {
        srv_route_checkpoint_abort(r);
        return srv_reply_error(r, 500, "internal", "", "fsync of the checkpoint failed: %s", strerror(errno));
    }
    close(r->fd);
    r->fd = -1;
    char final[SRV_PATH_MAX + 200];
    snprintf(final, sizeof final, "%s/%s", r->srv->checkpoint_dir, name);
    struct stat st;
    int existed = stat(final, &st) == 0;
    if (rename(r->tmp_path, final) != 0) {
        unlink(r->tmp_path);
        return srv_reply_error(r, 500, "internal", "", "storing the checkpoint failed: %s", strerror(errno));
    }
    int dfd = open(r->srv->checkpoint_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    eq_error err = {0};
    if (srv_store_checkpoint_put(r->srv->store, name, r->written, hex, &err) != EQ_OK)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    char loc[300];
    snprintf(loc, sizeof loc, "/api/v1/checkpoints/%s", name);
    srv_req_header(r, MHD_HTTP_HEADER_LOCATION, loc);
    json_t *meta = srv_store_checkpoint_get(r->srv->store, name, &err);
    return srv_reply_json(r, existed ? 200 : 201, meta);
}

enum MHD_Result srv_route_checkpoint_get(srv_req *r)
{
    const char *name = r->params[0];
    eq_error err = {0};
    json_t *meta = checkpoint_name_ok(name) ? srv_store_checkpoint_get(r->srv->store, name, &err) : NULL;
    if (!meta)
        return srv_reply_error(r, 404, "not_found", "name", "there is no checkpoint '%s'", name);
    char path[SRV_PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", r->srv->checkpoint_dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        json_decref(meta);
        return srv_reply_error(r, 404, "not_found", "name", "checkpoint '%s' is recorded but its file is "
                               "missing", name);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        json_decref(meta);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    char etag[80];
    snprintf(etag, sizeof etag, "\"%s\"", json_string_value(json_object_get(meta, "sha256")));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "X-Checksum-Sha256", json_string_value(json_object_get(meta, "sha256")));
    json_decref(meta);
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    srv_metrics_http(r->srv->metrics, 200);
    return ret;
}

enum MHD_Result srv_route_checkpoints_list(srv_req *r)
{
    eq_error err = {0};
    json_t *l = srv_store_checkpoint_list(r->srv->store, &err);
    if (!l)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    return srv_reply_json(r, 200, json_pack("{s:o}", "checkpoints", l));
}

/* ---- models, health, metrics, API document ---- */

enum MHD_Result srv_route_models(srv_req *r)
{
    srv_server *s = r->srv;
    pthread_mutex_lock(&s->models_lock);
    if (!s->models) {
        eq_error err = {0};
        s->models = s->exec->models(s->exec, &err);
        if (!s->models) {
            pthread_mutex_unlock(&s->models_lock);
            return srv_reply_error(r, 500, "internal", "", "%s", err.message);
        }
    }
    json_t *m = json_deep_copy(s->models);
    pthread_mutex_unlock(&s->models_lock);
    return srv_reply_json(r, 200, json_pack("{s:o}", "models", m));
}

enum MHD_Result srv_route_healthz(srv_req *r)
{
    srv_server *s = r->srv;
    eq_error err = {0};
    json_t *counts = srv_store_job_counts(s->store, &err);
    if (!counts)
        return srv_reply_error(r, 503, "unavailable", "", "the database does not answer: %s", err.message);
    json_decref(counts);
    int depth, running;
    srv_queue_stats(s->queue, &depth, &running);
    json_t *body = json_pack("{s:s, s:i, s:s, s:i, s:i}", "status", s->draining ? "stopping" : "ok",
                             "schema_version", srv_store_schema_version(s->store), "executor",
                             s->exec->kind, "queue_depth", depth, "running", running);
    return srv_reply_json(r, s->draining ? 503 : 200, body);
}

enum MHD_Result srv_route_metrics(srv_req *r)
{
    srv_server *s = r->srv;
    eq_error err = {0};
    json_t *counts = srv_store_job_counts(s->store, &err);
    if (!counts)
        return srv_reply_error(r, 500, "internal", "", "%s", err.message);
    int depth, running;
    srv_queue_stats(s->queue, &depth, &running);
    size_t len = 0;
    char *text = srv_metrics_render(s->metrics, counts, depth, running, s->cfg->workers, &len);
    json_decref(counts);
    if (!text)
        return srv_reply_error(r, 500, "internal", "", "out of memory");
    return srv_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 1);
}

enum MHD_Result srv_route_openapi(srv_req *r)
{
    return srv_reply(r, 200, "application/yaml; charset=utf-8", (void *)srv_openapi_yaml,
                     strlen(srv_openapi_yaml), 0);
}

/* ---- static files ---- */

static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
        {".yaml", "application/yaml; charset=utf-8"}, {".woff2", "font/woff2"},
        {".map", "application/json"}};
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (strcasecmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

/* Scripts and styles only from files of this origin: no inline script. */
#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " \
            "form-action 'self'"

enum MHD_Result srv_route_static(srv_req *r)
{
    const char *rel = r->n_params ? r->params[0] : "";
    if (strncmp(rel, "api/", 4) == 0 || strcmp(rel, "api") == 0)
        return srv_reply_error(r, 404, "not_found", rel, "no such API path");
    char root[PATH_MAX];
    if (!realpath(r->srv->cfg->web_root, root))
        return srv_reply_error(r, 404, "not_found", rel, "no web UI is installed (web root %s)",
                               r->srv->cfg->web_root);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/%s", root, rel);
    struct stat st;
    if (stat(want, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(want);
        snprintf(want + n, sizeof want - n, "%sindex.html", n && want[n - 1] == '/' ? "" : "/");
    }
    /* Resolve links and compare: whatever the path said, the file must lie
     * inside the web root. */
    char real[PATH_MAX];
    size_t rl = strlen(root);
    if (!realpath(want, real) || strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != 0))
        return srv_reply_error(r, 404, "not_found", rel, "no such file");
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return srv_reply_error(r, 404, "not_found", rel, "no such file");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(real));
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    srv_metrics_http(r->srv->metrics, 200);
    return ret;
}
