/* harness.c - see harness.h. */
#include "harness.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef EQUIVD_BIN
#define EQUIVD_BIN "./equivd"
#endif

static char cleanup_dirs[8][256];
static int n_cleanup;

static void remove_dirs(void)
{
    for (int i = 0; i < n_cleanup; i++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cleanup_dirs[i]);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", cleanup_dirs[i]);
    }
    n_cleanup = 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void testd_init(testd *d, const char *executor)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/equivd-it-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->dir));
    if (n_cleanup == 0)
        atexit(remove_dirs);
    if (n_cleanup < 8)
        snprintf(cleanup_dirs[n_cleanup++], sizeof cleanup_dirs[0], "%s", d->dir);
    snprintf(d->state, sizeof d->state, "%s/state", d->dir);
    if (executor)
        snprintf(d->executor, sizeof d->executor, "%s", executor);
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
}

void testd_arg(testd *d, const char *a)
{
    ck_assert_int_lt(d->n_args, 23);
    d->args[d->n_args++] = a;
}

void testd_start(testd *d)
{
    char portfile[320], logfile[320];
    snprintf(portfile, sizeof portfile, "%s/port", d->dir);
    snprintf(logfile, sizeof logfile, "%s/log", d->dir);
    unlink(portfile);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The daemon never outlives the test that started it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        FILE *log = freopen(logfile, "a", stderr);
        (void)log;
        if (d->executor[0])
            setenv("EQUIVD_TEST_EXECUTOR", d->executor, 1);
        else
            unsetenv("EQUIVD_TEST_EXECUTOR");
        const char *argv[40];
        int n = 0;
        argv[n++] = EQUIVD_BIN;
        argv[n++] = "serve";
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--port";
        argv[n++] = "0";
        argv[n++] = "--port-file";
        argv[n++] = portfile;
        argv[n++] = "--state-dir";
        argv[n++] = d->state;
        for (int i = 0; i < d->n_args; i++)
            argv[n++] = d->args[i];
        argv[n] = NULL;
        execv(argv[0], (char **)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    double t0 = now();
    d->port = 0;
    while (now() - t0 < 10) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &d->port) != 1)
                d->port = 0;
            fclose(f);
            if (d->port)
                break;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            ck_abort_msg("the daemon exited at start: %s", testd_log(d));
        }
        usleep(10000);
    }
    ck_assert_msg(d->port > 0, "the daemon did not write its port: %s", testd_log(d));
    snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
    resp r = http(d, "GET", "/healthz", NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}

int testd_stop(testd *d, int sig)
{
    if (!d->pid)
        return -1;
    kill(d->pid, sig);
    double t0 = now();
    int st = 0;
    for (;;) {
        pid_t w = waitpid(d->pid, &st, WNOHANG);
        if (w == d->pid)
            break;
        if (now() - t0 > 15) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            d->pid = 0;
            ck_abort_msg("the daemon did not stop within 15 s of signal %d", sig);
        }
        usleep(5000);
    }
    d->pid = 0;
    /* A sanitizer report in the daemon fails the test that ran it. */
    const char *log = testd_log(d);
    ck_assert_msg(!strstr(log, "Sanitizer") && !strstr(log, "runtime error:"),
                  "the daemon reported a sanitizer error:\n%s", log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *testd_log(testd *d)
{
    static char buf[16384];
    char path[320];
    snprintf(path, sizeof path, "%s/log", d->dir);
    FILE *f = fopen(path, "r");
    buf[0] = 0;
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    resp *r = ctx;
    size_t add = size * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    r->body = b;
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = 0;
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    resp *r = ctx;
    size_t add = size * n, have = strlen(r->headers);
    if (have + add + 1 < sizeof r->headers) {
        memcpy(r->headers + have, p, add);
        r->headers[have + add] = 0;
    }
    return add;
}

typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    upload *u = ctx;
    size_t take = size * n < u->left ? size * n : u->left;
    if (take > 7000)
        take = 7000; /* several chunks */
    memcpy(buf, u->p, take);
    u->p += take;
    u->left -= take;
    return take;
}

static resp perform(testd *d, const char *method, const char *path, const char *body, size_t len,
                    const char *token, int raw, int chunked)
{
    resp r = {0};
    r.body = calloc(1, 1);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (raw)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    struct curl_slist *h = NULL;
    char auth[600];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    upload u = {body, len};
    if (chunked) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
    } else if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        r.status = -(long)rc;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

resp http(testd *d, const char *method, const char *path, const char *body, size_t len,
          const char *token)
{
    return perform(d, method, path, body, len, token, 0, 0);
}

resp http_raw_path(testd *d, const char *path)
{
    return perform(d, "GET", path, NULL, 0, NULL, 1, 0);
}

resp http_put_chunked(testd *d, const char *path, const char *body, size_t len, const char *token)
{
    return perform(d, "PUT", path, body, len, token, 0, 1);
}

void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

const char *resp_header(const resp *r, const char *name)
{
    static char val[1024];
    size_t n = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r\n");
            snprintf(val, sizeof val, "%.*s", (int)k, v);
            return val;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

long long json_id(const resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

const char *wait_final(testd *d, long long id, double seconds)
{
    static char status[32];
    double t0 = now();
    status[0] = 0;
    while (now() - t0 < seconds) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/jobs/%lld", id);
        resp r = http(d, "GET", path, NULL, 0, NULL);
        json_t *j = json_loads(r.body, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "status"));
        snprintf(status, sizeof status, "%s", s ? s : "");
        json_decref(j);
        resp_free(&r);
        if (!strcmp(status, "done") || !strcmp(status, "failed") || !strcmp(status, "cancelled"))
            break;
        usleep(20000);
    }
    return status;
}
