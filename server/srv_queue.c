/* srv_queue.c - FIFO of queued ids, group-committed submissions, workers. */
#include "srv_queue.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pending {
    const char *name, *spec;
    int passes;
    int64_t id;
    int done;
    eq_status rc;
    eq_error err;
    struct pending *next;
} pending;

typedef struct slot {
    srv_queue *q;
    pthread_t thread;
    int64_t id;           /* 0: idle */
    int cancel;           /* the user asked */
    int done, total;
    char what[128];
    double last_pass;     /* monotonic seconds of the last progress call */
    double last_saved;    /* when progress last went to the database */
    srv_tensor_rec *tensors;
    size_t n_tensors, cap_tensors;
} slot;

struct srv_queue {
    srv_store *store;
    srv_exec *exec;
    srv_metrics *metrics;
    const srv_config *cfg;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a job was queued, or stop */
    pthread_cond_t committed; /* a group commit finished */
    int64_t *fifo;            /* ring buffer of queued ids */
    size_t head, len, cap;
    int reserved;             /* submissions between admission and commit */
    pending *pending_head, *pending_tail;
    int committing;
    int stopping;
    int started;
    slot *slots;
    int n_slots;
    double avg_job_seconds;
    void (*on_end)(void *, int64_t);
    void *on_end_ctx;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fifo_push(srv_queue *q, int64_t id)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        int64_t *f = malloc(cap * sizeof *f);
        if (!f)
            return -1;
        for (size_t i = 0; i < q->len; i++)
            f[i] = q->fifo[(q->head + i) % q->cap];
        free(q->fifo);
        q->fifo = f;
        q->cap = cap;
        q->head = 0;
    }
    q->fifo[(q->head + q->len) % q->cap] = id;
    q->len++;
    return 0;
}

static int64_t fifo_pop(srv_queue *q)
{
    int64_t id = q->fifo[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return id;
}

/* Remove id if queued: 1 if it was. */
static int fifo_remove(srv_queue *q, int64_t id)
{
    for (size_t i = 0; i < q->len; i++) {
        if (q->fifo[(q->head + i) % q->cap] != id)
            continue;
        for (size_t j = i; j + 1 < q->len; j++)
            q->fifo[(q->head + j) % q->cap] = q->fifo[(q->head + j + 1) % q->cap];
        q->len--;
        return 1;
    }
    return 0;
}

static int fifo_has(const srv_queue *q, int64_t id)
{
    for (size_t i = 0; i < q->len; i++)
        if (q->fifo[(q->head + i) % q->cap] == id)
            return 1;
    return 0;
}

srv_queue *srv_queue_new(srv_store *store, srv_exec *exec, srv_metrics *metrics,
                         const srv_config *cfg, eq_error *err)
{
    srv_queue *q = calloc(1, sizeof *q);
    if (q)
        q->slots = calloc((size_t)cfg->workers, sizeof *q->slots);
    if (!q || !q->slots) {
        free(q);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    q->store = store;
    q->exec = exec;
    q->metrics = metrics;
    q->cfg = cfg;
    q->n_slots = cfg->workers;
    q->avg_job_seconds = 1.0;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->committed, NULL);
    return q;
}

void srv_queue_on_end(srv_queue *q, void (*fn)(void *ctx, int64_t id), void *ctx)
{
    q->on_end = fn;
    q->on_end_ctx = ctx;
}

int srv_queue_recover(srv_queue *q, eq_error *err)
{
    int requeued = srv_store_requeue_running(q->store, err);
    if (requeued < 0)
        return -1;
    int64_t *ids;
    size_t n;
    if (srv_store_queued_ids(q->store, &ids, &n, err) != EQ_OK)
        return -1;
    pthread_mutex_lock(&q->lock);
    for (size_t i = 0; i < n; i++)
        if (fifo_push(q, ids[i]) != 0) {
            pthread_mutex_unlock(&q->lock);
            free(ids);
            eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
            return -1;
        }
    pthread_mutex_unlock(&q->lock);
    free(ids);
    return requeued;
}

/* ---- submission with group commit ----
 * One fsync costs milliseconds; concurrent submitters queue their rows and
 * whichever finds no commit under way writes everyone's in one transaction
 * (leader/follower), so N clients pay about one fsync, not N. */

eq_status srv_queue_submit(srv_queue *q, const char *name, const char *spec, int passes,
                           int64_t *id, eq_error *err)
{
    pending me = {name, spec, passes, 0, 0, EQ_OK, {0}, NULL};
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        return eq_error_set(err, EQ_ERR_STATE, "the daemon is shutting down; submit again later");
    }
    if ((int)q->len + q->reserved >= q->cfg->max_queue) {
        int n = (int)q->len;
        pthread_mutex_unlock(&q->lock);
        return eq_error_set(err, EQ_ERR_LIMIT, "the queue is full: %d jobs wait (max-queue %d)", n,
                            q->cfg->max_queue);
    }
    q->reserved++;
    if (q->pending_tail)
        q->pending_tail->next = &me;
    else
        q->pending_head = &me;
    q->pending_tail = &me;
    while (!me.done) {
        if (q->committing) {
            pthread_cond_wait(&q->committed, &q->lock);
            continue;
        }
        q->committing = 1;
        pending *batch = q->pending_head;
        q->pending_head = q->pending_tail = NULL;
        pthread_mutex_unlock(&q->lock);

        size_t n = 0;
        for (pending *p = batch; p; p = p->next)
            n++;
        srv_job_new *rows = calloc(n, sizeof *rows);
        eq_error e = {0};
        eq_status rc;
        if (!rows) {
            rc = eq_error_set(&e, EQ_ERR_NOMEM, "out of memory");
        } else {
            size_t i = 0;
            for (pending *p = batch; p; p = p->next, i++) {
                rows[i].name = p->name;
                rows[i].spec = p->spec;
                rows[i].passes = p->passes;
            }
            rc = srv_store_jobs_insert(q->store, rows, n, &e);
        }

        pthread_mutex_lock(&q->lock);
        size_t i = 0;
        for (pending *p = batch, *next; p; p = next, i++) {
            next = p->next;
            p->rc = rc;
            p->err = e;
            if (rc == EQ_OK) {
                p->id = rows[i].id;
                if (fifo_push(q, p->id) != 0)
                    p->rc = eq_error_set(&p->err, EQ_ERR_NOMEM, "out of memory");
            }
            p->done = 1;
            q->reserved--;
        }
        free(rows);
        q->committing = 0;
        pthread_cond_broadcast(&q->committed);
        pthread_cond_broadcast(&q->work);
    }
    pthread_mutex_unlock(&q->lock);
    if (me.rc != EQ_OK && err)
        *err = me.err;
    *id = me.id;
    return me.rc;
}

/* ---- hooks the executor calls ---- */

static void h_progress(void *ctx, int done, int total, const char *what)
{
    slot *s = ctx;
    srv_queue *q = s->q;
    double now = mono();
    pthread_mutex_lock(&q->lock);
    double last = s->last_pass;
    int advanced = done > s->done;
    s->done = done;
    s->total = total;
    snprintf(s->what, sizeof s->what, "%s", what ? what : "");
    s->last_pass = now;
    pthread_mutex_unlock(&q->lock);
    if (advanced && last > 0)
        srv_metrics_pass(q->metrics, now - last);
    /* The live figures are served from memory; the row only needs to be
     * roughly current for a daemon that dies, so at most once a second. */
    if (now - s->last_saved >= 1.0) {
        s->last_saved = now;
        srv_store_job_progress(q->store, s->id, done, total, what, NULL);
    }
}

static int h_cancel(void *ctx)
{
    slot *s = ctx;
    pthread_mutex_lock(&s->q->lock);
    int stop = s->cancel || s->q->stopping;
    pthread_mutex_unlock(&s->q->lock);
    return stop;
}

/* Summary statistics over finite elements; NaN and Inf are counted (JSON
 * and SQLite cannot hold them as numbers). */
static void stats(srv_tensor_rec *r, const void *data, int is64)
{
    double sum = 0, sumsq = 0, mn = INFINITY, mx = -INFINITY;
    int64_t finite = 0;
    for (int64_t i = 0; i < r->numel; i++) {
        double v = is64 ? ((const double *)data)[i] : (double)((const float *)data)[i];
        if (isnan(v)) {
            r->nan_count++;
        } else if (isinf(v)) {
            r->inf_count++;
        } else {
            finite++;
            sum += v;
            sumsq += v * v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    }
    if (finite) {
        r->mean = sum / (double)finite;
        double var = sumsq / (double)finite - r->mean * r->mean;
        r->std = sqrt(var > 0 ? var : 0);
        r->min = mn;
        r->max = mx;
    } else {
        r->mean = r->std = r->min = r->max = NAN;
    }
}

static void h_tensor(void *ctx, const char *check, const char *mode, const char *name,
                     const char *dtype, int rank, const int64_t *shape, const void *data,
                     size_t nbytes)
{
    slot *s = ctx;
    if (rank < 0 || rank > 8)
        return;
    if (s->n_tensors == s->cap_tensors) {
        size_t cap = s->cap_tensors ? s->cap_tensors * 2 : 16;
        srv_tensor_rec *t = realloc(s->tensors, cap * sizeof *t);
        if (!t)
            return;
        s->tensors = t;
        s->cap_tensors = cap;
    }
    srv_tensor_rec *r = &s->tensors[s->n_tensors];
    memset(r, 0, sizeof *r);
    int is64 = strcmp(dtype, "float64") == 0;
    r->dtype = is64 ? "float64" : "float32";
    r->rank = rank;
    r->numel = 1;
    for (int i = 0; i < rank; i++) {
        r->shape[i] = shape[i];
        r->numel *= shape[i];
    }
    if ((size_t)r->numel * (is64 ? 8 : 4) != nbytes)
        return; /* a descriptor that does not add up is not stored */
    r->check = strdup(check ? check : "");
    r->mode = strdup(mode ? mode : "");
    r->name = strdup(name ? name : "");
    if (!r->check || !r->mode || !r->name) {
        srv_tensor_rec_free(r);
        return;
    }
    stats(r, data, is64);
    if ((int64_t)nbytes <= s->q->cfg->max_blob) {
        r->data = malloc(nbytes ? nbytes : 1);
        if (r->data) {
            memcpy(r->data, data, nbytes);
            r->nbytes = nbytes;
        }
    }
    s->n_tensors++;
}

/* ---- workers ---- */

static void run_one(slot *s, int64_t id)
{
    srv_queue *q = s->q;
    eq_error err = {0};
    srv_job_result res = {0};
    json_t *report = NULL;
    double t0 = mono();

    if (srv_store_job_start(q->store, id, 0, &err) != EQ_OK) {
        fprintf(stderr, "equivd: job %lld: %s\n", (long long)id, err.message);
    }
    char *text = srv_store_job_spec(q->store, id, &err);
    json_error_t jerr;
    json_t *spec = text ? json_loads(text, 0, &jerr) : NULL;
    free(text);
    if (!spec) {
        res.status = "failed";
        res.verdict = "error";
        res.error_code = "internal";
        res.error_message = "the stored job spec could not be read back";
    } else {
        srv_exec_hooks hooks = {h_progress, h_cancel, h_tensor, s};
        report = q->exec->run(q->exec, spec, &hooks, &err);
        json_decref(spec);
    }

    pthread_mutex_lock(&q->lock);
    int user_cancel = s->cancel, shutdown = q->stopping;
    res.passes_done = s->done;
    res.passes_total = s->total;
    pthread_mutex_unlock(&q->lock);

    /* The engine reports its own ending: "completed", "failed" (the job
     * could not start its checks) or "cancelled" (its cancel hook said
     * stop, whoever asked). */
    const char *rstatus = report ? json_string_value(json_object_get(report, "status")) : NULL;
    json_t *rerr = report ? json_object_get(report, "error") : NULL;
    int stopped = (!report && err.status == EQ_ERR_CANCELLED) || (rstatus && !strcmp(rstatus, "cancelled"));
    int requeue = 0;
    if (spec) {
        if (user_cancel) {
            res.status = "cancelled";
            res.verdict = "error";
            res.error_code = "cancelled";
            res.error_message = "cancelled while running";
        } else if (shutdown && (stopped || res.passes_done < res.passes_total)) {
            /* Interrupted by SIGTERM: the job is not finished, so it goes
             * back to the queue rather than ending with a partial result. */
            requeue = 1;
        } else if (report && rstatus && !strcmp(rstatus, "failed")) {
            res.status = "failed";
            res.verdict = q->exec->verdict(q->exec, report);
            res.error_code = json_string_value(json_object_get(rerr, "status"));
            res.error_message = json_string_value(json_object_get(rerr, "message"));
            res.error_path = json_string_value(json_object_get(rerr, "path"));
            if (!res.error_code)
                res.error_code = "failed";
        } else if (report) {
            res.status = "done";
            res.verdict = q->exec->verdict(q->exec, report);
        } else {
            res.status = "failed";
            res.verdict = "error";
            res.error_code = eq_status_name(err.status);
            res.error_message = err.message;
            res.error_path = err.path[0] ? err.path : NULL;
        }
    }
    res.report = report;
    res.tensors = s->tensors;
    res.n_tensors = s->n_tensors;

    eq_error serr = {0};
    eq_status rc = requeue ? srv_store_job_requeue(q->store, id, "interrupted by shutdown", &serr)
                           : srv_store_job_finish(q->store, id, &res, &serr);
    if (rc != EQ_OK)
        fprintf(stderr, "equivd: job %lld: storing the result: %s\n", (long long)id, serr.message);
    double secs = mono() - t0;
    if (!requeue)
        srv_metrics_job_done(q->metrics, res.status, secs);
    json_decref(report);
    for (size_t i = 0; i < s->n_tensors; i++)
        srv_tensor_rec_free(&s->tensors[i]);
    s->n_tensors = 0;

    pthread_mutex_lock(&q->lock);
    s->id = 0;
    if (!requeue)
        q->avg_job_seconds = 0.9 * q->avg_job_seconds + 0.1 * secs;
    pthread_mutex_unlock(&q->lock);
    if (!requeue && q->on_end)
        q->on_end(q->on_end_ctx, id);
}

static void *worker(void *arg)
{
    slot *s = arg;
    srv_queue *q = s->q;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->stopping && q->len == 0)
            pthread_cond_wait(&q->work, &q->lock);
        if (q->stopping) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        int64_t id = fifo_pop(q);
        s->id = id;
        s->cancel = 0;
        s->done = s->total = 0;
        s->what[0] = 0;
        s->last_pass = mono();
        s->last_saved = s->last_pass;
        pthread_mutex_unlock(&q->lock);
        run_one(s, id);
    }
    free(s->tensors);
    s->tensors = NULL;
    s->cap_tensors = 0;
    return NULL;
}

eq_status srv_queue_start(srv_queue *q, eq_error *err)
{
    for (int i = 0; i < q->n_slots; i++) {
        q->slots[i].q = q;
        if (pthread_create(&q->slots[i].thread, NULL, worker, &q->slots[i]) != 0) {
            q->n_slots = i;
            return eq_error_set(err, EQ_ERR_NOMEM, "cannot start worker %d", i);
        }
    }
    q->started = 1;
    return EQ_OK;
}

srv_cancel srv_queue_cancel(srv_queue *q, int64_t id, eq_error *err)
{
    pthread_mutex_lock(&q->lock);
    if (fifo_remove(q, id)) {
        pthread_mutex_unlock(&q->lock);
        int n = srv_store_job_cancel_queued(q->store, id, err);
        if (n < 0)
            return SRV_CANCEL_ERROR;
        if (q->on_end)
            q->on_end(q->on_end_ctx, id);
        return SRV_CANCEL_DONE;
    }
    for (int i = 0; i < q->n_slots; i++) {
        if (q->slots[i].id == id) {
            q->slots[i].cancel = 1;
            pthread_mutex_unlock(&q->lock);
            srv_store_event(q->store, id, "cancel-requested",
                            "stops at the next pass boundary", NULL);
            return SRV_CANCEL_REQUESTED;
        }
    }
    pthread_mutex_unlock(&q->lock);
    int found = 0;
    json_t *j = srv_store_job_get(q->store, id, &found, err);
    json_decref(j);
    if (!found)
        return err && err->status != EQ_OK ? SRV_CANCEL_ERROR : SRV_CANCEL_NOT_FOUND;
    return SRV_CANCEL_ENDED;
}

int srv_queue_is_active(srv_queue *q, int64_t id)
{
    pthread_mutex_lock(&q->lock);
    int active = fifo_has(q, id);
    for (int i = 0; !active && i < q->n_slots; i++)
        active = q->slots[i].id == id;
    pthread_mutex_unlock(&q->lock);
    return active;
}

int srv_queue_progress(srv_queue *q, int64_t id, int *done, int *total, char *what, size_t n)
{
    int found = 0;
    pthread_mutex_lock(&q->lock);
    for (int i = 0; i < q->n_slots; i++) {
        if (q->slots[i].id == id) {
            *done = q->slots[i].done;
            *total = q->slots[i].total;
            snprintf(what, n, "%s", q->slots[i].what);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return found;
}

void srv_queue_stats(srv_queue *q, int *depth, int *running)
{
    pthread_mutex_lock(&q->lock);
    *depth = (int)q->len;
    int r = 0;
    for (int i = 0; i < q->n_slots; i++)
        r += q->slots[i].id != 0;
    *running = r;
    pthread_mutex_unlock(&q->lock);
}

int srv_queue_retry_after(srv_queue *q)
{
    pthread_mutex_lock(&q->lock);
    double s = ceil((double)q->len * q->avg_job_seconds / q->n_slots / 4);
    pthread_mutex_unlock(&q->lock);
    /* A quarter of the backlog's time: by then some room has opened. */
    return s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
}

void srv_queue_stop(srv_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->lock);
    if (q->started) {
        for (int i = 0; i < q->n_slots; i++)
            pthread_join(q->slots[i].thread, NULL);
        q->started = 0;
    }
}

void srv_queue_free(srv_queue *q)
{
    if (!q)
        return;
    srv_queue_stop(q);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->committed);
    free(q->fifo);
    free(q->slots);
    free(q);
}
