/* harness.h - start a real daemon on a free loopback port with a temporary
 * state directory, talk HTTP to it with libcurl, and always stop it: the
 * daemon dies with the test process (PR_SET_PDEATHSIG) and the temporary
 * directories are removed at exit. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct testd {
    pid_t pid;
    int port;
    char dir[256];   /* temporary root: state/, port, log, ... */
    char state[300];
    char base[64];   /* http://127.0.0.1:PORT */
    char executor[64];
    const char *args[24];
    int n_args;
} testd;

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char headers[8192];
} resp;

/* A fresh directory; executor is EQUIVD_TEST_EXECUTOR (NULL: none). */
void testd_init(testd *d, const char *executor);
void testd_arg(testd *d, const char *a);
/* Start and wait until /healthz answers; fails the test otherwise. */
void testd_start(testd *d);
/* Send sig and wait (up to 15 s, then SIGKILL); returns the exit status
 * (or 128 + signal). */
int testd_stop(testd *d, int sig);
/* The daemon's log (stderr), as a static buffer. */
const char *testd_log(testd *d);

resp http(testd *d, const char *method, const char *path, const char *body, size_t len,
          const char *token);
/* A raw path sent as is (no normalisation of .. by libcurl). */
resp http_raw_path(testd *d, const char *path);
/* PUT with chunked transfer encoding (no Content-Length). */
resp http_put_chunked(testd *d, const char *path, const char *body, size_t len, const char *token);
void resp_free(resp *r);
/* Header value (case-insensitive name) or NULL; static buffer. */
const char *resp_header(const resp *r, const char *name);

/* Wait until GET /api/v1/jobs/ID has a final status (bounded); returns it
 * (static buffer). */
const char *wait_final(testd *d, long long id, double seconds);
long long json_id(const resp *r);

#endif
