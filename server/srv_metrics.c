/* srv_metrics.c - counters and their Prometheus text exposition. */
#include "srv_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds (seconds) of the pass-duration buckets: passes run from
 * well under a millisecond (the zoo's MLP) to seconds (Inception-ResNet-v2
 * training passes). */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10, 30, 60};
#define N_BUCKETS (sizeof BUCKETS / sizeof *BUCKETS)

typedef struct histogram {
    unsigned long long counts[N_BUCKETS + 1]; /* last: +Inf */
    double sum;
    unsigned long long count;
} histogram;

struct srv_metrics {
    _Atomic unsigned long long http[600];
    pthread_mutex_t lock;
    histogram pass, job;
    unsigned long long finished_done, finished_failed, finished_cancelled;
};

srv_metrics *srv_metrics_new(void)
{
    srv_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void srv_metrics_free(srv_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void srv_metrics_http(srv_metrics *m, unsigned code)
{
    if (m && code < 600)
        atomic_fetch_add_explicit(&m->http[code], 1, memory_order_relaxed);
}

static void observe(histogram *h, double v)
{
    size_t i = 0;
    while (i < N_BUCKETS && v > BUCKETS[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void srv_metrics_pass(srv_metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    observe(&m->pass, seconds);
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_job_done(srv_metrics *m, const char *status, double run_seconds)
{
    pthread_mutex_lock(&m->lock);
    observe(&m->job, run_seconds);
    if (strcmp(status, "done") == 0)
        m->finished_done++;
    else if (strcmp(status, "failed") == 0)
        m->finished_failed++;
    else
        m->finished_cancelled++;
    pthread_mutex_unlock(&m->lock);
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void add(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

static void histogram_text(buf *b, const char *name, const char *help, const histogram *h)
{
    add(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        add(b, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS[i], cum);
    }
    cum += h->counts[N_BUCKETS];
    add(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, cum, name, h->sum,
        name, h->count);
}

char *srv_metrics_render(srv_metrics *m, const json_t *job_counts, int queue_depth, int running,
                         int workers, size_t *len)
{
    buf b = {0};
    add(&b, "# HELP equivd_jobs Jobs in the store by status.\n# TYPE equivd_jobs gauge\n");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)job_counts, k, v)
        add(&b, "equivd_jobs{status=\"%s\"} %lld\n", k, (long long)json_integer_value(v));
    add(&b, "# HELP equivd_queue_depth Jobs waiting for a worker.\n# TYPE equivd_queue_depth gauge\n"
            "equivd_queue_depth %d\n",
        queue_depth);
    add(&b, "# HELP equivd_jobs_running Jobs a worker is running now.\n"
            "# TYPE equivd_jobs_running gauge\nequivd_jobs_running %d\n",
        running);
    add(&b, "# HELP equivd_workers Configured workers.\n# TYPE equivd_workers gauge\n"
            "equivd_workers %d\n",
        workers);
    pthread_mutex_lock(&m->lock);
    add(&b, "# HELP equivd_jobs_finished_total Jobs finished since start, by final status.\n"
            "# TYPE equivd_jobs_finished_total counter\n"
            "equivd_jobs_finished_total{status=\"done\"} %llu\n"
            "equivd_jobs_finished_total{status=\"failed\"} %llu\n"
            "equivd_jobs_finished_total{status=\"cancelled\"} %llu\n",
        m->finished_done, m->finished_failed, m->finished_cancelled);
    histogram pass = m->pass, job = m->job;
    pthread_mutex_unlock(&m->lock);
    histogram_text(&b, "equivd_pass_duration_seconds",
                   "Time of one pass (one forward call of one mode) as the engine reports progress.",
                   &pass);
    histogram_text(&b, "equivd_job_duration_seconds", "Run time of finished jobs.", &job);
    add(&b, "# HELP equivd_http_requests_total HTTP responses sent, by status code.\n"
            "# TYPE equivd_http_requests_total counter\n");
    for (unsigned c = 100; c < 600; c++) {
        unsigned long long n = atomic_load_explicit(&m->http[c], memory_order_relaxed);
        if (n)
            add(&b, "equivd_http_requests_total{code=\"%u\"} %llu\n", c, n);
    }
    *len = b.len;
    return b.p;
}
