/* srv_store.h - the daemon's SQLite store (STATE/equivd.db).
 *
 * Connections: one per thread, opened lazily on a thread's first call and
 * closed when the thread exits (a pthread key destructor). WAL mode lets the
 * HTTP threads read while a worker writes. Writers inside the process take
 * one mutex around their transaction (BEGIN IMMEDIATE), so SQLite's busy
 * handler, which sleeps in steps of milliseconds, never runs between our own
 * threads; the busy timeout remains for other processes (`equivd gc` run
 * beside a live daemon).
 *
 * Durability: new jobs are inserted with synchronous=FULL (the 202 promise:
 * committed and fsynced before the answer), in groups when several arrive
 * at once, since one fsync costs milliseconds here. Everything else (start,
 * progress, results) uses synchronous=NORMAL: in WAL mode that survives a
 * killed process, and a power loss can only lose a job's latest state, after
 * which it is requeued and run again.
 */
#ifndef SRV_STORE_H
#define SRV_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"

typedef struct srv_store srv_store;
typedef struct sqlite3 sqlite3;

/* Open (creating) STATE/equivd.db, apply the migrations the database has not
 * seen, and check it. */
srv_store *srv_store_open(const char *state_dir, eq_error *err);
void srv_store_close(srv_store *s);
/* This thread's connection. NULL only if it cannot be opened (logged). */
sqlite3 *srv_store_db(srv_store *s);
/* PRAGMA user_version after migration. */
int srv_store_schema_version(srv_store *s);
/* "ok" or the first problem PRAGMA integrity_check reports, into buf. */
eq_status srv_store_integrity(srv_store *s, char *buf, size_t n, eq_error *err);

/* Seconds since the epoch, with fractions. */
double srv_now(void);

/* ---- jobs ---- */

typedef struct srv_job_new {
    const char *name;
    const char *spec;  /* JSON text */
    int passes;        /* estimated passes (progress total before it runs) */
    int64_t id;        /* out */
} srv_job_new;

/* Insert queued jobs in one fsynced transaction; fills each id. */
eq_status srv_store_jobs_insert(srv_store *s, srv_job_new *jobs, size_t n, eq_error *err);

/* Jobs found 'running' (a daemon that died mid-job) go back to 'queued',
 * with an event; returns how many, or -1 on error. */
int srv_store_requeue_running(srv_store *s, eq_error *err);
/* Ids of queued jobs, oldest first (caller frees). */
eq_status srv_store_queued_ids(srv_store *s, int64_t **ids, size_t *n, eq_error *err);

/* The job's spec text (caller frees) or NULL when there is no such job. */
char *srv_store_job_spec(srv_store *s, int64_t id, eq_error *err);

eq_status srv_store_job_start(srv_store *s, int64_t id, int passes_total, eq_error *err);
eq_status srv_store_job_progress(srv_store *s, int64_t id, int done, int total,
                                 const char *what, eq_error *err);
/* A job interrupted by a shutdown goes back to the queue. */
eq_status srv_store_job_requeue(srv_store *s, int64_t id, const char *why, eq_error *err);
/* Cancel a queued job: 1 if it was queued and is now cancelled, 0 if not. */
int srv_store_job_cancel_queued(srv_store *s, int64_t id, eq_error *err);

/* A tensor a check computed, summarised (and copied when small). */
typedef struct srv_tensor_rec {
    char *check, *mode, *name;
    const char *dtype; /* "float32" / "float64" (static) */
    int rank;
    int64_t shape[8];
    int64_t numel;
    double min, max, mean, std; /* over finite elements; NaN when none */
    int64_t nan_count, inf_count;
    void *data; /* NULL when over the blob limit */
    size_t nbytes;
} srv_tensor_rec;
void srv_tensor_rec_free(srv_tensor_rec *t);

typedef struct srv_job_result {
    const char *status;   /* done / failed / cancelled */
    const char *verdict;  /* pass / fail / error or NULL */
    json_t *report;       /* may be NULL */
    const char *error_code, *error_message, *error_path; /* failed jobs */
    srv_tensor_rec *tensors;
    size_t n_tensors;
    int passes_done, passes_total;
} srv_job_result;

/* Store the final state, report and everything extracted from it, in one
 * transaction. */
eq_status srv_store_job_finish(srv_store *s, int64_t id, const srv_job_result *r, eq_error *err);

eq_status srv_store_event(srv_store *s, int64_t job_id, const char *kind, const char *message,
                          eq_error *err);

/* The job resource (status, progress, verdict, summary, timings, error) as
 * the API returns it; NULL and *found = 0 when there is no such job. */
json_t *srv_store_job_get(srv_store *s, int64_t id, int *found, eq_error *err);

typedef struct srv_job_filter {
    const char *status, *verdict, *name; /* NULL: any */
    int64_t before;                      /* cursor: ids below it; 0: from the newest */
    int limit;
} srv_job_filter;
/* {"jobs": [...], "next_cursor": "..." or null}. */
json_t *srv_store_job_list(srv_store *s, const srv_job_filter *f, eq_error *err);

/* The report text (caller frees); NULL with *found 0 if no such job, NULL
 * with *found 1 if it has no report yet. */
char *srv_store_job_report(srv_store *s, int64_t id, int *found, eq_error *err);

/* The variables of a mode as a JSON array; NULL and *found 0 if no job. */
json_t *srv_store_job_variables(srv_store *s, int64_t id, const char *mode, int *found,
                                eq_error *err);
/* A job's tensors (summaries, without data) as a JSON array. */
json_t *srv_store_job_tensors(srv_store *s, int64_t id, int *found, eq_error *err);
/* One stored tensor's raw elements. check / mode may be NULL (first stored).
 * Returns EQ_ERR_INVALID with *found 0 when absent; EQ_ERR_LIMIT when only
 * the summary was kept. */
eq_status srv_store_tensor_data(srv_store *s, int64_t id, const char *name, const char *check,
                                const char *mode, srv_tensor_rec *out, int *found, eq_error *err);
json_t *srv_store_job_events(srv_store *s, int64_t id, eq_error *err);

/* Counts of jobs by status: {"queued": n, ...}. */
json_t *srv_store_job_counts(srv_store *s, eq_error *err);

/* ---- checkpoints ---- */
eq_status srv_store_checkpoint_put(srv_store *s, const char *name, int64_t size,
                                   const char *sha256, eq_error *err);
json_t *srv_store_checkpoint_list(srv_store *s, eq_error *err);
json_t *srv_store_checkpoint_get(srv_store *s, const char *name, eq_error *err);

/* ---- retention ---- */
/* Delete finished jobs (done/failed/cancelled) that finished before
 * `before` (epoch seconds), with everything they own; returns how many. */
int64_t srv_store_gc(srv_store *s, double before, eq_error *err);
/* How many srv_store_gc would delete. */
int64_t srv_store_gc_count(srv_store *s, double before, eq_error *err);

#endif
