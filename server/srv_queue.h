/* srv_queue.h - the job queue and its workers.
 *
 * The database is the truth: a job is accepted once its row is committed
 * (status queued), and the in-memory FIFO only orders the queued ids. At
 * start, jobs left 'running' by a killed daemon are requeued and every
 * queued id is loaded, oldest first.
 *
 * Workers pop an id, re-read its spec from the store, run it through the
 * executor and store the result in one transaction. Cancellation and
 * shutdown both act at the next pass boundary (the executor's cancel hook):
 * a cancelled job ends as 'cancelled'; a job interrupted by shutdown goes
 * back to 'queued' and runs again after the restart.
 */
#ifndef SRV_QUEUE_H
#define SRV_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"
#include "srv_config.h"
#include "srv_exec.h"
#include "srv_metrics.h"
#include "srv_store.h"

typedef struct srv_queue srv_queue;

srv_queue *srv_queue_new(srv_store *store, srv_exec *exec, srv_metrics *metrics,
                         const srv_config *cfg, eq_error *err);
/* Requeue interrupted jobs and load the queued ones; returns how many
 * were requeued (>= 0) or -1. */
int srv_queue_recover(srv_queue *q, eq_error *err);
eq_status srv_queue_start(srv_queue *q, eq_error *err);
/* Called (from a worker thread, no lock held) each time a job ends. */
void srv_queue_on_end(srv_queue *q, void (*fn)(void *ctx, int64_t id), void *ctx);

/* Commit a new job (grouped with concurrent submissions into one fsync) and
 * queue it. EQ_ERR_LIMIT when the queue is full, EQ_ERR_STATE when the
 * daemon is stopping. */
eq_status srv_queue_submit(srv_queue *q, const char *name, const char *spec, int passes,
                           int64_t *id, eq_error *err);

typedef enum srv_cancel {
    SRV_CANCEL_NOT_FOUND,
    SRV_CANCEL_DONE,      /* it was queued; now cancelled */
    SRV_CANCEL_REQUESTED, /* it runs; it stops at the next pass boundary */
    SRV_CANCEL_ENDED,     /* it had already finished */
    SRV_CANCEL_ERROR
} srv_cancel;
srv_cancel srv_queue_cancel(srv_queue *q, int64_t id, eq_error *err);

/* 1 while the job is queued or running in this process. */
int srv_queue_is_active(srv_queue *q, int64_t id);
/* Live progress of a running job: 1 and the figures, or 0. */
int srv_queue_progress(srv_queue *q, int64_t id, int *done, int *total, char *what, size_t n);
void srv_queue_stats(srv_queue *q, int *depth, int *running);
/* Seconds a client should wait before submitting again. */
int srv_queue_retry_after(srv_queue *q);

/* Refuse new jobs, interrupt running ones at their next pass boundary
 * (they are requeued), and join the workers. */
void srv_queue_stop(srv_queue *q);
void srv_queue_free(srv_queue *q);

#endif
