/* srv_http.h - the HTTP side of `equivd serve` (libmicrohttpd).
 *
 * Threading: libmicrohttpd's internal polling threads, as a pool of
 * --http-threads (default 2, the machine's cores) with epoll. Why a pool
 * and not thread-per-connection: no handler ever blocks for long (reads are
 * single SQLite queries, writes short transactions, uploads are streamed to
 * disk chunk by chunk), so a thread per core keeps every core busy without
 * one thread (and stack) per idle keep-alive connection. The one request
 * that waits, ?wait=SECONDS, is *suspended* (MHD_suspend_connection) and
 * resumed by a small waiter thread when its job ends or its time is up, so
 * long waits hold no thread at all.
 *
 * Every response counts in the metrics by status code; errors are
 * {"error": {"code", "message", "path"}} with the HTTP status that fits.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>

#include "srv_config.h"
#include "srv_exec.h"
#include "srv_metrics.h"
#include "srv_queue.h"
#include "srv_sha256.h"
#include "srv_store.h"

typedef struct srv_server srv_server;
typedef struct srv_req srv_req;
typedef struct srv_route srv_route;

#define SRV_MAX_PARAMS 4

enum {
    SRV_WRITE = 1,       /* needs the token when one is configured */
    SRV_BODY_JSON = 2,   /* body collected up to --max-body, then the handler */
    SRV_BODY_STREAM = 4, /* body handed to route->upload chunk by chunk */
    SRV_OPEN = 8,        /* never needs a token (/healthz) */
    SRV_FALLBACK = 16    /* the static file route: not part of 405 logic */
};

typedef enum MHD_Result (*srv_handler)(srv_req *r);

struct srv_route {
    const char *method;
    const char *pattern; /* "/api/v1/jobs/{id}"; "{*rest}" takes the remainder */
    int flags;
    srv_handler handler;
    /* SRV_BODY_STREAM: start (headers known), chunk, and abort (request
     * ended early: clean up). Non-zero from start/chunk fails the request
     * with the status they set via srv_req_fail. */
    int (*upload_start)(srv_req *r);
    int (*upload_chunk)(srv_req *r, const char *data, size_t n);
    void (*upload_abort)(srv_req *r);
    const char *summary; /* for the route list and the OpenAPI check */
};

struct srv_req {
    srv_server *srv;
    struct MHD_Connection *conn;
    const srv_route *route;
    const char *method;
    char *params[SRV_MAX_PARAMS]; /* decoded path parameters, in order */
    int n_params;
    /* collected JSON body */
    char *body;
    size_t body_len, body_cap;
    int too_large;
    /* a streamed upload */
    int fd;
    char tmp_path[SRV_PATH_MAX];
    srv_sha256 sha;
    int64_t written;
    int fail_status; /* set by srv_req_fail during upload */
    char fail_code[32], fail_message[512];
    /* ?wait */
    int64_t wait_id;
    double deadline;
    int waiting, woke, resumed;
    srv_req *wnext;
    int responded;
    /* headers for the reply (srv_req_header) */
    char hdr_name[4][64], hdr_value[4][256];
    int n_hdr;
};

struct srv_server {
    srv_config *cfg;
    srv_store *store;
    srv_queue *queue;
    srv_exec *exec;
    srv_metrics *metrics;
    struct MHD_Daemon *mhd;
    int port;
    char checkpoint_dir[SRV_PATH_MAX];
    int draining;
    /* models listing, computed once (the zoo is static data) */
    pthread_mutex_t models_lock;
    json_t *models;
    /* suspended ?wait requests */
    pthread_mutex_t wlock;
    pthread_cond_t wcond;
    srv_req *waiters;
    pthread_t wthread;
    int wstop, wstarted;
};

/* Start listening (binds the port; cfg->port 0 picks one: see srv->port). */
eq_status srv_http_start(srv_server *srv, eq_error *err);
/* Stop accepting connections; requests already read still complete. */
void srv_http_quiesce(srv_server *srv);
/* Resume every waiting request, then stop. */
void srv_http_stop(srv_server *srv);
/* The queue's end-of-job hook: wakes the requests that wait for id. */
void srv_http_job_ended(void *srv, int64_t id);

/* The route table (for dispatch, and for the test that checks every route
 * is in schema/openapi.yaml). */
const srv_route *srv_routes(size_t *n);

/* ---- replies (all return the MHD_queue_response result) ---- */
enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *type, void *data, size_t len,
                          int must_free);
/* Takes the reference. */
enum MHD_Result srv_reply_json(srv_req *r, unsigned status, json_t *body);
enum MHD_Result srv_reply_error(srv_req *r, unsigned status, const char *code, const char *path,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds a header to the next reply of r (copied; up to 4). */
void srv_req_header(srv_req *r, const char *name, const char *value);
/* During an upload: fail the request with this error when it completes. */
void srv_req_fail(srv_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A query argument or NULL. */
const char *srv_req_arg(srv_req *r, const char *name);
/* Suspend r until job id ends or `seconds` pass; 0 if the job is not
 * active (answer now). The handler runs again on resume with r->resumed. */
int srv_req_wait(srv_req *r, int64_t id, double seconds);

/* Route handlers (srv_routes_*.c). */
enum MHD_Result srv_route_jobs_post(srv_req *r);
enum MHD_Result srv_route_jobs_list(srv_req *r);
enum MHD_Result srv_route_job_get(srv_req *r);
enum MHD_Result srv_route_job_delete(srv_req *r);
enum MHD_Result srv_route_job_report(srv_req *r);
enum MHD_Result srv_route_job_junit(srv_req *r);
enum MHD_Result srv_route_job_manifest(srv_req *r);
enum MHD_Result srv_route_job_tensors(srv_req *r);
enum MHD_Result srv_route_job_tensor(srv_req *r);
enum MHD_Result srv_route_job_events(srv_req *r);
enum MHD_Result srv_route_checkpoint_put(srv_req *r);
int srv_route_checkpoint_start(srv_req *r);
int srv_route_checkpoint_chunk(srv_req *r, const char *data, size_t n);
void srv_route_checkpoint_abort(srv_req *r);
enum MHD_Result srv_route_checkpoint_get(srv_req *r);
enum MHD_Result srv_route_checkpoints_list(srv_req *r);
enum MHD_Result srv_route_models(srv_req *r);
enum MHD_Result srv_route_healthz(srv_req *r);
enum MHD_Result srv_route_metrics(srv_req *r);
enum MHD_Result srv_route_openapi(srv_req *r);
enum MHD_Result srv_route_static(srv_req *r);

/* The OpenAPI document, embedded at build time. */
extern const char srv_openapi_yaml[];

#endif
