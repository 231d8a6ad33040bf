/* bench_server.c - load for `equivd serve` from a second process on
 * loopback: job throughput (submitted and completed per second) and
 * GET /api/v1/jobs/{id} rate and latency. Bounded in count and time.
 *
 *   bench_server --daemon PATH [--executor sleep:0s] [--spec FILE]
 *                [--jobs N] [--clients C] [--gets N] [--workers W]
 *                [--http-threads T] [--engine-threads T]
 *
 * It starts the daemon itself (temporary state directory, free port),
 * drives it over keep-alive HTTP/1.1 connections (one per client thread,
 * plain sockets so the client costs little), prints the figures and stops
 * the daemon with SIGTERM. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *spec = "{\"passes\": 1, \"name\": \"bench\"}";
static size_t spec_len;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct conn {
    int fd;
    char buf[1 << 16];
    size_t have;
} conn;

static int conn_open(conn *c)
{
    c->have = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One request; returns the status (or -1) and copies up to out_n bytes of
 * the body into out. Reconnects once if the server closed the connection. */
static int request(conn *c, const char *method, const char *path, const char *body, size_t blen,
                   char *out, size_t out_n)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c) != 0)
            return -1;
        char head[512];
        int hn = snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          method, path, blen);
        if (send_all(c->fd, head, (size_t)hn) != 0 || (blen && send_all(c->fd, body, blen) != 0)) {
            close(c->fd);
            c->fd = -1;
            continue;
        }
        c->have = 0;
        char *end = NULL;
        while (!(end = memmem(c->buf, c->have, "\r\n\r\n", 4))) {
            ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have - 1, 0);
            if (r <= 0)
                break;
            c->have += (size_t)r;
        }
        if (!end) {
            close(c->fd);
            c->fd = -1;
            continue;
        }
        c->buf[c->have] = 0;
        int status = atoi(c->buf + 9);
        size_t clen = 0;
        int closing = 0;
        for (char *h = c->buf; h < end; h = strstr(h, "\r\n") + 2) {
            if (strncasecmp(h, "Content-Length:", 15) == 0)
                clen = (size_t)atol(h + 15);
            if (strncasecmp(h, "Connection: close", 17) == 0)
                closing = 1;
        }
        size_t head_len = (size_t)(end - c->buf) + 4;
        size_t got = c->have - head_len;
        if (out && out_n) {
            size_t k = got < out_n - 1 ? got : out_n - 1;
            memcpy(out, c->buf + head_len, k);
            out[k] = 0;
        }
        while (got < clen) {
            char sink[1 << 14];
            ssize_t r = recv(c->fd, sink, sizeof sink, 0);
            if (r <= 0)
                break;
            if (out && out_n && got < out_n - 1) {
                size_t k = (size_t)r < out_n - 1 - got ? (size_t)r : out_n - 1 - got;
                memcpy(out + got, sink, k);
                out[got + k] = 0;
            }
            got += (size_t)r;
        }
        if (closing) {
            close(c->fd);
            c->fd = -1;
        }
        return status;
    }
    return -1;
}

/* ---- phase 1: submissions ---- */

static atomic_int next_job, submit_errors;
static int n_jobs;

static void *submitter(void *arg)
{
    (void)arg;
    conn c = {.fd = -1};
    char out[512];
    while (atomic_fetch_add(&next_job, 1) < n_jobs) {
        int st = request(&c, "POST", "/api/v1/jobs", spec, spec_len, out, sizeof out);
        if (st != 202 && st != 200) {
            atomic_fetch_add(&submit_errors, 1);
            if (submit_errors < 5)
                fprintf(stderr, "submit: %d %s\n", st, out);
        }
    }
    if (c.fd >= 0)
        close(c.fd);
    return NULL;
}

static long finished_jobs(conn *c)
{
    static char out[1 << 16];
    if (request(c, "GET", "/metrics", NULL, 0, out, sizeof out) != 200)
        return -1;
    long done = 0, failed = 0, cancelled = 0;
    char *p = strstr(out, "equivd_jobs_finished_total{status=\"done\"} ");
    if (p)
        done = atol(p + strlen("equivd_jobs_finished_total{status=\"done\"} "));
    p = strstr(out, "equivd_jobs_finished_total{status=\"failed\"} ");
    if (p)
        failed = atol(p + strlen("equivd_jobs_finished_total{status=\"failed\"} "));
    p = strstr(out, "equivd_jobs_finished_total{status=\"cancelled\"} ");
    if (p)
        cancelled = atol(p + strlen("equivd_jobs_finished_total{status=\"cancelled\"} "));
    if (failed && done + failed + cancelled >= n_jobs)
        fprintf(stderr, "note: %ld job(s) failed\n", failed);
    return done + failed + cancelled;
}

/* ---- phase 2: GET latency ---- */

static atomic_int next_get;
static int n_gets;
static int max_id;

typedef struct getter {
    double *lat;
    int n;
    int errors;
} getter;

static void *get_loop(void *arg)
{
    getter *g = arg;
    conn c = {.fd = -1};
    char path[64];
    int i;
    while ((i = atomic_fetch_add(&next_get, 1)) < n_gets) {
        snprintf(path, sizeof path, "/api/v1/jobs/%d", 1 + i % max_id);
        double t0 = now();
        int st = request(&c, "GET", path, NULL, 0, NULL, 0);
        g->lat[g->n++] = now() - t0;
        if (st != 200)
            g->errors++;
    }
    if (c.fd >= 0)
        close(c.fd);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_server --daemon PATH [--executor DESC] [--spec FILE] [--jobs N]\n"
                    "                    [--clients C] [--gets N] [--workers W] [--http-threads T]\n"
                    "                    [--engine-threads T]\n");
}

int main(int argc, char **argv)
{
    const char *daemon = NULL, *executor = NULL, *spec_file = NULL, *workers = "1",
               *http_threads = "2", *engine_threads = "0";
    int clients = 8;
    n_jobs = 2000;
    n_gets = 50000;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--daemon"))
            daemon = v;
        else if (!strcmp(argv[i], "--executor"))
            executor = v;
        else if (!strcmp(argv[i], "--spec"))
            spec_file = v;
        else if (!strcmp(argv[i], "--jobs"))
            n_jobs = atoi(v);
        else if (!strcmp(argv[i], "--clients"))
            clients = atoi(v);
        else if (!strcmp(argv[i], "--gets"))
            n_gets = atoi(v);
        else if (!strcmp(argv[i], "--workers"))
            workers = v;
        else if (!strcmp(argv[i], "--http-threads"))
            http_threads = v;
        else if (!strcmp(argv[i], "--engine-threads"))
            engine_threads = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!daemon || n_jobs < 1 || n_jobs > 1000000 || clients < 1 || clients > 256 || n_gets < 0 ||
        n_gets > 10000000) {
        usage();
        return 2;
    }
    if (spec_file) {
        FILE *f = fopen(spec_file, "r");
        if (!f) {
            perror(spec_file);
            return 2;
        }
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        spec = buf;
    }
    spec_len = strlen(spec);

    char dir[] = "/tmp/equivd-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char state[128], portfile[128], logfile[128], maxq[32];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    snprintf(logfile, sizeof logfile, "%s/log", dir);
    snprintf(maxq, sizeof maxq, "%d", n_jobs + 16);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen(logfile, "w", stderr))
            _exit(127);
        if (executor)
            setenv("EQUIVD_TEST_EXECUTOR", executor, 1);
        execl(daemon, daemon, "serve", "--port", "0", "--port-file", portfile, "--state-dir", state,
              "--workers", workers, "--http-threads", http_threads, "--engine-threads", engine_threads,
              "--max-queue", maxq, (char *)NULL);
        _exit(127);
    }
    double t0 = now();
    while (now() - t0 < 10) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port)
                break;
        }
        usleep(10000);
    }
    int rc = 1;
    if (!port) {
        fprintf(stderr, "the daemon did not start (log in %s)\n", logfile);
        goto out;
    }

    /* Phase 1: N jobs from C clients; time until the last one finished. */
    pthread_t th[256];
    double start = now();
    for (int i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, submitter, NULL);
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double submitted = now();
    conn mc = {.fd = -1};
    long fin = 0;
    while ((fin = finished_jobs(&mc)) >= 0 && fin < n_jobs - submit_errors && now() - start < 300)
        usleep(2000);
    double finished = now();
    if (mc.fd >= 0)
        close(mc.fd);
    printf("jobs: %d submitted by %d clients in %.3f s (%.0f/s); all %ld finished after %.3f s: "
           "%.0f jobs/s submitted and completed; %d submit errors\n",
           n_jobs, clients, submitted - start, n_jobs / (submitted - start), fin, finished - start,
           fin / (finished - start), submit_errors);

    /* Phase 2: GET /api/v1/jobs/{id} over the stored jobs. */
    if (n_gets > 0) {
        max_id = n_jobs;
        getter g[256];

        for (int i = 0; i < clients; i++) {
            g[i].lat = malloc(sizeof(double) * (size_t)n_gets); /* any thread may take them all */
            g[i].n = 0;
            g[i].errors = 0;
        }
        start = now();
        for (int i = 0; i < clients; i++)
            pthread_create(&th[i], NULL, get_loop, &g[i]);
        for (int i = 0; i < clients; i++)
            pthread_join(th[i], NULL);
        double secs = now() - start;
        double *all = malloc(sizeof(double) * (size_t)n_gets);
        int n = 0, errors = 0;
        for (int i = 0; i < clients; i++) {
            memcpy(all + n, g[i].lat, sizeof(double) * (size_t)g[i].n);
            n += g[i].n;
            errors += g[i].errors;
            free(g[i].lat);
        }
        qsort(all, (size_t)n, sizeof *all, cmp_double);
        printf("GET /api/v1/jobs/{id}: %d requests, %d connections, %.3f s: %.0f req/s; latency "
               "p50 %.3f ms, p99 %.3f ms, max %.3f ms; %d non-200\n",
               n, clients, secs, n / secs, all[n / 2] * 1e3, all[(int)(n * 0.99)] * 1e3,
               all[n - 1] * 1e3, errors);
        free(all);
    }
    rc = submit_errors ? 1 : 0;
out:
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
