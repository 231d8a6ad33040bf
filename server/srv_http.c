/* srv_http.c - libmicrohttpd setup, request life cycle, routing, auth,
 * body limits, replies and suspended waits. */
#include "srv_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const srv_route ROUTES[] = {
    {"POST", "/api/v1/jobs", SRV_WRITE | SRV_BODY_JSON, srv_route_jobs_post, NULL, NULL, NULL,
     "submit a job"},
    {"GET", "/api/v1/jobs", 0, srv_route_jobs_list, NULL, NULL, NULL, "list jobs"},
    {"GET", "/api/v1/jobs/{id}", 0, srv_route_job_get, NULL, NULL, NULL, "one job"},
    {"DELETE", "/api/v1/jobs/{id}", SRV_WRITE, srv_route_job_delete, NULL, NULL, NULL, "cancel"},
    {"GET", "/api/v1/jobs/{id}/report", 0, srv_route_job_report, NULL, NULL, NULL, "report"},
    {"GET", "/api/v1/jobs/{id}/junit.xml", 0, srv_route_job_junit, NULL, NULL, NULL, "JUnit XML"},
    {"GET", "/api/v1/jobs/{id}/events", 0, srv_route_job_events, NULL, NULL, NULL, "event log"},
    {"GET", "/api/v1/jobs/{id}/manifests/{mode}", 0, srv_route_job_manifest, NULL, NULL, NULL,
     "variables of a mode"},
    {"GET", "/api/v1/jobs/{id}/tensors", 0, srv_route_job_tensors, NULL, NULL, NULL,
     "stored tensors"},
    {"GET", "/api/v1/jobs/{id}/tensors/{*name}", 0, srv_route_job_tensor, NULL, NULL, NULL,
     "one tensor as .npy"},
    {"PUT", "/api/v1/checkpoints/{name}", SRV_WRITE | SRV_BODY_STREAM, srv_route_checkpoint_put,
     srv_route_checkpoint_start, srv_route_checkpoint_chunk, srv_route_checkpoint_abort,
     "upload a checkpoint"},
    {"GET", "/api/v1/checkpoints/{name}", 0, srv_route_checkpoint_get, NULL, NULL, NULL,
     "download a checkpoint"},
    {"GET", "/api/v1/checkpoints", 0, srv_route_checkpoints_list, NULL, NULL, NULL,
     "list checkpoints"},
    {"GET", "/api/v1/models", 0, srv_route_models, NULL, NULL, NULL, "the zoo"},
    {"GET", "/api/v1/openapi.yaml", 0, srv_route_openapi, NULL, NULL, NULL, "this API"},
    {"GET", "/healthz", SRV_OPEN, srv_route_healthz, NULL, NULL, NULL, "liveness"},
    {"GET", "/metrics", 0, srv_route_metrics, NULL, NULL, NULL, "Prometheus metrics"},
    {"GET", "/", SRV_FALLBACK | SRV_OPEN, srv_route_static, NULL, NULL, NULL, "web UI"},
    {"GET", "/{*path}", SRV_FALLBACK | SRV_OPEN, srv_route_static, NULL, NULL, NULL, "web UI files"},
};
#define N_ROUTES (sizeof ROUTES / sizeof *ROUTES)

const srv_route *srv_routes(size_t *n)
{
    *n = N_ROUTES;
    return ROUTES;
}

/* ---- matching ---- */

static void free_params(srv_req *r)
{
    for (int i = 0; i < r->n_params; i++)
        free(r->params[i]);
    r->n_params = 0;
}

/* Match url against pattern; fills r->params. "{x}" takes one non-empty
 * segment, "{*x}" the non-empty rest (slashes included). */
static int match(const char *pattern, const char *url, srv_req *r)
{
    free_params(r);
    const char *p = pattern, *u = url;
    while (*p) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            int rest = p[1] == '*';
            const char *end;
            if (rest) {
                end = u + strlen(u);
            } else {
                end = u;
                while (*end && *end != '/')
                    end++;
            }
            if (end == u || r->n_params == SRV_MAX_PARAMS)
                return 0;
            r->params[r->n_params++] = strndup(u, (size_t)(end - u));
            u = end;
            p = close + 1;
            continue;
        }
        if (*p != *u)
            return 0;
        p++;
        u++;
    }
    return *u == 0;
}

/* ".." or "." as a path segment, a backslash: refused everywhere, before
 * any handler sees the path. (libmicrohttpd has already decoded %2e%2e.) */
static int path_is_unsafe(const char *url)
{
    if (strchr(url, '\\'))
        return 1;
    const char *s = url;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 1;
        s = e;
    }
    return 0;
}

/* ---- replies ---- */

void srv_req_header(srv_req *r, const char *name, const char *value)
{
    if (r->n_hdr < 4) {
        snprintf(r->hdr_name[r->n_hdr], sizeof r->hdr_name[0], "%s", name);
        snprintf(r->hdr_value[r->n_hdr], sizeof r->hdr_value[0], "%s", value);
        r->n_hdr++;
    }
}

enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *type, void *data, size_t len,
                          int must_free)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data, must_free ? MHD_RESPMEM_MUST_FREE
                                                             : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (must_free)
            free(data);
        return MHD_NO;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->n_hdr; i++)
        MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    r->n_hdr = 0;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->responded = 1;
    srv_metrics_http(r->srv->metrics, status);
    return ret;
}

enum MHD_Result srv_reply_json(srv_req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    if (!text)
    {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"path\":\"\"}}\n";
        return srv_reply(r, 500, "application/json", (void *)oom, sizeof oom - 1, 0);
    }
    size_t len = strlen(text);
    /* Trailing newline: friendlier for curl users. */
    char *t = realloc(text, len + 2);
    if (t) {
        text = t;
        text[len++] = '\n';
        text[len] = 0;
    }
    return srv_reply(r, status, "application/json", text, len, 1);
}

static json_t *error_body(const char *code, const char *path, const char *message)
{
    return json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "message", message, "path",
                     path ? path : "");
}

enum MHD_Result srv_reply_error(srv_req *r, unsigned status, const char *code, const char *path,
                                const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return srv_reply_json(r, status, error_body(code, path, msg));
}

void srv_req_fail(srv_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    if (r->fail_status)
        return;
    r->fail_status = (int)status;
    snprintf(r->fail_code, sizeof r->fail_code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_message, sizeof r->fail_message, fmt, ap);
    va_end(ap);
}

const char *srv_req_arg(srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- auth ---- */

/* Compares every byte of the longer string whatever matches, so the time
 * does not tell how much of a guess was right. */
static int token_equal(const char *given, size_t given_len, const char *token)
{
    size_t tlen = strlen(token);
    size_t n = given_len > tlen ? given_len : tlen;
    unsigned char diff = (unsigned char)(given_len != tlen);
    for (size_t i = 0; i < n; i++) {
        unsigned char a = i < given_len ? (unsigned char)given[i] : 0;
        unsigned char b = i < tlen ? (unsigned char)token[i] : 0;
        diff |= (unsigned char)(a ^ b);
    }
    return diff == 0;
}

/* 0 when allowed; otherwise a reply was queued. */
static int check_auth(srv_req *r, enum MHD_Result *ret)
{
    const srv_config *c = r->srv->cfg;
    if (!c->token[0] || (r->route->flags & SRV_OPEN))
        return 0;
    if (!(r->route->flags & SRV_WRITE) && !c->auth_reads)
        return 0;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        srv_req_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"equivd\"");
        *ret = srv_reply_error(r, 401, "unauthorized", "", "this request needs a bearer token "
                               "(Authorization: Bearer TOKEN)");
        return 1;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t len = strlen(t);
    while (len && t[len - 1] == ' ')
        len--;
    if (!token_equal(t, len, c->token)) {
        *ret = srv_reply_error(r, 403, "forbidden", "", "the bearer token is not valid");
        return 1;
    }
    return 0;
}

/* ---- waiting ---- */

int srv_req_wait(srv_req *r, int64_t id, double seconds)
{
    srv_server *s = r->srv;
    if (seconds <= 0)
        return 0;
    pthread_mutex_lock(&s->wlock);
    /* Checked under wlock: a job that ends after this check finds the
     * waiter in the list (srv_http_job_ended takes wlock). */
    if (s->wstop || !srv_queue_is_active(s->queue, id)) {
        pthread_mutex_unlock(&s->wlock);
        return 0;
    }
    r->wait_id = id;
    r->deadline = srv_now() + seconds;
    r->woke = 0;
    r->waiting = 1;
    r->wnext = s->waiters;
    s->waiters = r;
    MHD_suspend_connection(r->conn);
    pthread_cond_signal(&s->wcond);
    pthread_mutex_unlock(&s->wlock);
    return 1;
}

void srv_http_job_ended(void *vs, int64_t id)
{
    srv_server *s = vs;
    pthread_mutex_lock(&s->wlock);
    int any = 0;
    for (srv_req *w = s->waiters; w; w = w->wnext)
        if (w->wait_id == id) {
            w->woke = 1;
            any = 1;
        }
    if (any)
        pthread_cond_signal(&s->wcond);
    pthread_mutex_unlock(&s->wlock);
}

/* Resumes waiters whose job ended or whose time is up; at stop, all. The
 * resume happens outside wlock: libmicrohttpd takes its own locks there. */
static void *waiter_thread(void *arg)
{
    srv_server *s = arg;
    pthread_mutex_lock(&s->wlock);
    for (;;) {
        double now = srv_now(), next = now + 1.0;
        srv_req *ready = NULL, **pp = &s->waiters;
        while (*pp) {
            srv_req *w = *pp;
            if (w->woke || w->deadline <= now || s->wstop) {
                *pp = w->wnext;
                w->wnext = ready;
                ready = w;
            } else {
                if (w->deadline < next)
                    next = w->deadline;
                pp = &w->wnext;
            }
        }
        if (ready) {
            pthread_mutex_unlock(&s->wlock);
            while (ready) {
                srv_req *w = ready;
                ready = w->wnext;
                w->waiting = 0;
                w->resumed = 1;
                MHD_resume_connection(w->conn);
            }
            pthread_mutex_lock(&s->wlock);
            continue;
        }
        if (s->wstop)
            break;
        struct timespec ts;
        ts.tv_sec = (time_t)next;
        ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&s->wcond, &s->wlock, &ts);
    }
    pthread_mutex_unlock(&s->wlock);
    return NULL;
}

/* ---- the request life cycle ---- */

static srv_req *req_new(srv_server *s, struct MHD_Connection *c, const char *method)
{
    srv_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = s;
    r->conn = c;
    r->method = method;
    r->fd = -1;
    return r;
}

static void req_free(srv_req *r)
{
    if (!r)
        return;
    if (r->fd >= 0 && r->route && r->route->upload_abort)
        r->route->upload_abort(r);
    if (r->fd >= 0)
        close(r->fd);
    free_params(r);
    free(r->body);
    free(r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_free(*con_cls);
    *con_cls = NULL;
}

/* The first call: route, auth, declared length. Returns 1 when a reply was
 * queued (the request ends there). */
static int begin(srv_req *r, const char *url, enum MHD_Result *ret)
{
    srv_server *s = r->srv;
    if (path_is_unsafe(url)) {
        *ret = srv_reply_error(r, 404, "not_found", url, "no such path");
        return 1;
    }
    const srv_route *hit = NULL;
    char allow[128] = "";
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!match(ROUTES[i].pattern, url, r))
            continue;
        if (strcmp(ROUTES[i].method, r->method) == 0) {
            hit = &ROUTES[i];
            break;
        }
        if (!(ROUTES[i].flags & SRV_FALLBACK) && strlen(allow) + 10 < sizeof allow) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, ROUTES[i].method);
        }
    }
    if (!hit && allow[0]) {
        free_params(r);
        srv_req_header(r, MHD_HTTP_HEADER_ALLOW, allow);
        *ret = srv_reply_error(r, 405, "method_not_allowed", url, "%s is not allowed here (allowed: %s)",
                               r->method, allow);
        return 1;
    }
    if (!hit) {
        free_params(r);
        *ret = srv_reply_error(r, 404, "not_found", url, "no such path");
        return 1;
    }
    /* Re-match to fill the parameters of the hit route. */
    match(hit->pattern, url, r);
    r->route = hit;
    if (check_auth(r, ret))
        return 1;
    if (s->draining && (hit->flags & SRV_WRITE)) {
        srv_req_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        *ret = srv_reply_error(r, 503, "shutting_down", "", "the daemon is shutting down");
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long declared = cl ? atoll(cl) : -1;
    int64_t limit = hit->flags & SRV_BODY_STREAM ? s->cfg->max_checkpoint : s->cfg->max_body;
    if (declared > limit) {
        *ret = srv_reply_error(r, 413, "body_too_large", "", "the body has %lld bytes; the limit is "
                               "%lld (%s)", declared, (long long)limit,
                               hit->flags & SRV_BODY_STREAM ? "max-checkpoint" : "max-body");
        return 1;
    }
    if ((hit->flags & SRV_BODY_STREAM) && hit->upload_start && hit->upload_start(r) != 0) {
        *ret = srv_reply_error(r, (unsigned)(r->fail_status ? r->fail_status : 500),
                               r->fail_code[0] ? r->fail_code : "internal", "", "%s", r->fail_message);
        return 1;
    }
    return 0;
}

static void take_body(srv_req *r, const char *data, size_t n)
{
    srv_server *s = r->srv;
    if (r->route->flags & SRV_BODY_STREAM) {
        if (r->fail_status)
            return;
        if (r->written + (int64_t)n > s->cfg->max_checkpoint) {
            srv_req_fail(r, 413, "body_too_large", "the upload exceeds the limit of %lld bytes "
                         "(max-checkpoint)", (long long)s->cfg->max_checkpoint);
            if (r->route->upload_abort)
                r->route->upload_abort(r);
            return;
        }
        r->route->upload_chunk(r, data, n);
        return;
    }
    if (!(r->route->flags & SRV_BODY_JSON) || r->too_large)
        return; /* bodies of other requests are read and dropped */
    if ((int64_t)(r->body_len + n) > s->cfg->max_body) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->too_large = 1;
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    srv_server *s = cls;
    srv_req *r = *con_cls;
    enum MHD_Result ret = MHD_YES;
    if (!r) {
        r = req_new(s, c, method);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        if (begin(r, url, &ret))
            return ret;
        return MHD_YES;
    }
    if (*upload_data_size) {
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->waiting)
        return MHD_YES; /* spurious call while suspended */
    if (r->responded)
        return MHD_YES;
    if (r->too_large)
        return srv_reply_error(r, 413, "body_too_large", "", "the body is larger than the limit of %lld "
                               "bytes (max-body)", (long long)s->cfg->max_body);
    if (r->fail_status)
        return srv_reply_error(r, (unsigned)r->fail_status, r->fail_code, "", "%s", r->fail_message);
    ret = r->route->handler(r);
    return ret;
}

/* ---- start / stop ---- */

eq_status srv_http_start(srv_server *s, eq_error *err)
{
    pthread_mutex_init(&s->wlock, NULL);
    pthread_cond_init(&s->wcond, NULL);
    pthread_mutex_init(&s->models_lock, NULL);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, s->cfg->listen, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s->cfg->port);
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->cfg->listen, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s->cfg->port);
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return eq_error_set_path(err, EQ_ERR_INVALID, "listen",
                                 "listen address '%s' is not an IPv4 or IPv6 address", s->cfg->listen);
    }
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)s->cfg->port, NULL, NULL, access_handler, s, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg->http_threads, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_END);
    if (!s->mhd)
        return eq_error_set_path(err, EQ_ERR_IO, "listen", "cannot listen on %s port %d: %s",
                                 s->cfg->listen, s->cfg->port, strerror(errno));
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg->port;
    if (pthread_create(&s->wthread, NULL, waiter_thread, s) != 0) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        return eq_error_set(err, EQ_ERR_NOMEM, "cannot start the waiter thread");
    }
    s->wstarted = 1;
    return EQ_OK;
}

void srv_http_quiesce(srv_server *s)
{
    s->draining = 1;
    if (s->mhd) {
        MHD_socket fd = MHD_quiesce_daemon(s->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void srv_http_stop(srv_server *s)
{
    if (s->wstarted) {
        pthread_mutex_lock(&s->wlock);
        s->wstop = 1;
        pthread_cond_signal(&s->wcond);
        pthread_mutex_unlock(&s->wlock);
        pthread_join(s->wthread, NULL);
        s->wstarted = 0;
        /* Let the resumed requests be answered before the sockets close. */
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    json_decref(s->models);
    s->models = NULL;
}
