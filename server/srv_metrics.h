/* srv_metrics.h - counters for GET /metrics (Prometheus text format 0.0.4).
 * Counters are atomics or take one short mutex, so the request path pays
 * next to nothing for them. */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <jansson.h>
#include <stddef.h>

typedef struct srv_metrics srv_metrics;

srv_metrics *srv_metrics_new(void);
void srv_metrics_free(srv_metrics *m);
void srv_metrics_http(srv_metrics *m, unsigned code);
void srv_metrics_pass(srv_metrics *m, double seconds);
void srv_metrics_job_done(srv_metrics *m, const char *status, double run_seconds);

/* The exposition text; job_counts is {"queued": n, ...} from the store.
 * Caller frees. */
char *srv_metrics_render(srv_metrics *m, const json_t *job_counts, int queue_depth, int running,
                         int workers, size_t *len);

#endif
