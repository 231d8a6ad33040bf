/* srv_store.c - SQLite store: connections, migrations, jobs, results. */
#include "srv_store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "srv_report.h"
#include "srv_schema.h"

struct srv_store {
    char path[4096];
    pthread_key_t key;
    pthread_mutex_t write_lock; /* one writer at a time inside the process */
    int version;
};

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static eq_status db_error(eq_error *err, sqlite3 *db, const char *what)
{
    return eq_error_set(err, EQ_ERR_IO, "database: %s: %s", what,
                        db ? sqlite3_errmsg(db) : "no connection");
}

static void close_conn(void *p)
{
    if (p)
        sqlite3_close_v2((sqlite3 *)p);
}

static sqlite3 *open_conn(const char *path, eq_error *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        eq_error_set(err, EQ_ERR_IO, "database %s: %s", path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return NULL;
    }
    /* busy_timeout first: the other pragmas may need a lock. */
    sqlite3_busy_timeout(db, 5000);
    const char *setup = "PRAGMA foreign_keys = ON;"
                        "PRAGMA synchronous = NORMAL;";
    if (sqlite3_exec(db, setup, NULL, NULL, NULL) != SQLITE_OK) {
        db_error(err, db, "connection setup");
        sqlite3_close_v2(db);
        return NULL;
    }
    return db;
}

sqlite3 *srv_store_db(srv_store *s)
{
    sqlite3 *db = pthread_getspecific(s->key);
    if (db)
        return db;
    eq_error e = {0};
    db = open_conn(s->path, &e);
    if (!db) {
        fprintf(stderr, "equivd: %s\n", e.message);
        return NULL;
    }
    pthread_setspecific(s->key, db);
    return db;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

/* Each migration runs in its own exclusive transaction together with the
 * user_version bump, so a crash leaves the database at N or N + 1, never in
 * between. A database newer than this binary is refused rather than guessed
 * at. */
static eq_status migrate(sqlite3 *db, int *version, eq_error *err)
{
    int v = user_version(db);
    if (v < 0)
        return db_error(err, db, "reading user_version");
    if (v > srv_schema_count)
        return eq_error_set(err, EQ_ERR_STATE,
                            "database schema version %d is newer than this equivd knows (%d)",
                            v, srv_schema_count);
    for (int i = v; i < srv_schema_count; i++) {
        if (sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK)
            return db_error(err, db, "begin migration");
        char *msg = NULL;
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", i + 1);
        if (sqlite3_exec(db, srv_schema_migrations[i], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, bump, NULL, NULL, &msg) != SQLITE_OK) {
            eq_error_set(err, EQ_ERR_IO, "database: migration %s failed: %s",
                         srv_schema_names[i], msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return err ? err->status : EQ_ERR_IO;
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            db_error(err, db, "commit migration");
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return EQ_ERR_IO;
        }
    }
    *version = srv_schema_count;
    return EQ_OK;
}

srv_store *srv_store_open(const char *state_dir, eq_error *err)
{
    if (mkdir(state_dir, 0750) != 0 && errno != EEXIST) {
        eq_error_set(err, EQ_ERR_IO, "state directory %s: %s", state_dir, strerror(errno));
        return NULL;
    }
    srv_store *s = calloc(1, sizeof *s);
    if (!s) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s/equivd.db", state_dir);
    pthread_mutex_init(&s->write_lock, NULL);
    if (pthread_key_create(&s->key, close_conn) != 0) {
        eq_error_set(err, EQ_ERR_NOMEM, "pthread_key_create failed");
        free(s);
        return NULL;
    }
    sqlite3 *db = srv_store_db(s);
    if (!db) {
        eq_error_set(err, EQ_ERR_IO, "cannot open database %s", s->path);
        goto fail;
    }
    /* auto_vacuum can only be chosen before the first table exists; it lets
     * gc hand the space of deleted blobs back to the file system. */
    if (user_version(db) == 0)
        sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
    /* WAL is a property of the database file: set once, kept. */
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg) != SQLITE_OK) {
        eq_error_set(err, EQ_ERR_IO, "database %s: enabling WAL: %s", s->path,
                     msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        goto fail;
    }
    if (migrate(db, &s->version, err) != EQ_OK)
        goto fail;
    return s;
fail:
    srv_store_close(s);
    return NULL;
}

void srv_store_close(srv_store *s)
{
    if (!s)
        return;
    sqlite3 *db = pthread_getspecific(s->key);
    if (db) {
        /* Fold the WAL back so the database is one file at rest. */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close_v2(db);
        pthread_setspecific(s->key, NULL);
    }
    pthread_key_delete(s->key);
    pthread_mutex_destroy(&s->write_lock);
    free(s);
}

int srv_store_schema_version(srv_store *s) { return s->version; }

eq_status srv_store_integrity(srv_store *s, char *buf, size_t n, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st;
    if (!db || sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return db_error(err, db, "integrity_check");
    snprintf(buf, n, "%s", "no answer");
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return EQ_OK;
}

/* ---- small statement helpers ---- */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, eq_error *err)
{
    sqlite3_stmt *st = NULL;
    if (!db) {
        eq_error_set(err, EQ_ERR_IO, "database: no connection");
        return NULL;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_error(err, db, "prepare");
        return NULL;
    }
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* A REAL column, NaN kept out (SQLite would store NULL anyway). */
static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static eq_status step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, eq_error *err)
{
    int rc = sqlite3_step(st);
    eq_status s = EQ_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        s = db_error(err, db, what);
    sqlite3_finalize(st);
    return s;
}

static eq_status exec(sqlite3 *db, const char *sql, eq_error *err)
{
    if (!db)
        return eq_error_set(err, EQ_ERR_IO, "database: no connection");
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(err, db, sql);
    return EQ_OK;
}

/* Write transactions: the process-wide writer lock, then BEGIN IMMEDIATE so
 * the write lock is taken up front (no upgrade deadlock with readers). */
static sqlite3 *write_begin(srv_store *s, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    if (!db) {
        eq_error_set(err, EQ_ERR_IO, "database: no connection");
        return NULL;
    }
    pthread_mutex_lock(&s->write_lock);
    if (exec(db, "BEGIN IMMEDIATE", err) != EQ_OK) {
        pthread_mutex_unlock(&s->write_lock);
        return NULL;
    }
    return db;
}

static eq_status write_end(srv_store *s, sqlite3 *db, eq_status st, eq_error *err)
{
    if (st == EQ_OK)
        st = exec(db, "COMMIT", err);
    if (st != EQ_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->write_lock);
    return st;
}

static eq_status add_event(sqlite3 *db, int64_t job, const char *kind, const char *msg,
                           eq_error *err)
{
    sqlite3_stmt *st = prep(db, "INSERT INTO events (job_id, at, kind, message) VALUES (?,?,?,?)", err);
    if (!st)
        return EQ_ERR_IO;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_double(st, 2, srv_now());
    bind_text(st, 3, kind);
    bind_text(st, 4, msg ? msg : "");
    return step_done(db, st, "insert event", err);
}

eq_status srv_store_event(srv_store *s, int64_t job_id, const char *kind, const char *message,
                          eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    return write_end(s, db, add_event(db, job_id, kind, message, err), err);
}

/* ---- jobs ---- */

eq_status srv_store_jobs_insert(srv_store *s, srv_job_new *jobs, size_t n, eq_error *err)
{
    /* The promise behind a 202: this commit reaches the disk. (The level
     * cannot change inside a transaction, so it is set around it.) */
    sqlite3 *conn = srv_store_db(s);
    if (!conn || exec(conn, "PRAGMA synchronous = FULL", err) != EQ_OK)
        return EQ_ERR_IO;
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    eq_status rc = EQ_OK;
    double now = srv_now();
    sqlite3_stmt *st = prep(db, "INSERT INTO jobs (name, spec, status, created_at, passes_total) "
                                "VALUES (?, ?, 'queued', ?, ?)", err);
    if (!st)
        rc = EQ_ERR_IO;
    for (size_t i = 0; rc == EQ_OK && i < n; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, jobs[i].name ? jobs[i].name : "");
        bind_text(st, 2, jobs[i].spec);
        sqlite3_bind_double(st, 3, now);
        sqlite3_bind_int(st, 4, jobs[i].passes > 0 ? jobs[i].passes : 0);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_error(err, db, "insert job");
            break;
        }
        jobs[i].id = sqlite3_last_insert_rowid(db);
        rc = add_event(db, jobs[i].id, "accepted", "", err);
    }
    sqlite3_finalize(st);
    rc = write_end(s, db, rc, err);
    sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return rc;
}

int srv_store_requeue_running(srv_store *s, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return -1;
    eq_status rc = exec(db, "INSERT INTO events (job_id, at, kind, message) "
                            "SELECT id, (julianday('now') - 2440587.5) * 86400.0, 'requeued', "
                            "'the daemon stopped while the job ran' "
                            "FROM jobs WHERE status = 'running'", err);
    if (rc == EQ_OK)
        rc = exec(db, "UPDATE jobs SET status = 'queued', passes_done = 0, progress_what = NULL "
                      "WHERE status = 'running'", err);
    int changed = sqlite3_changes(db);
    rc = write_end(s, db, rc, err);
    return rc == EQ_OK ? changed : -1;
}

eq_status srv_store_queued_ids(srv_store *s, int64_t **ids, size_t *n, eq_error *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT id FROM jobs WHERE status = 'queued' ORDER BY id", err);
    if (!st)
        return EQ_ERR_IO;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *p = realloc(*ids, cap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                free(*ids);
                *ids = NULL;
                return eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
            }
            *ids = p;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(err, db, "list queued jobs");
    return EQ_OK;
}

char *srv_store_job_spec(srv_store *s, int64_t id, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT spec FROM jobs WHERE id = ?", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

eq_status srv_store_job_start(srv_store *s, int64_t id, int passes_total, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET status = 'running', started_at = ?, "
                                "attempts = attempts + 1, passes_done = 0, "
                                "passes_total = CASE WHEN ?2 > 0 THEN ?2 ELSE passes_total END "
                                "WHERE id = ?3", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        sqlite3_bind_double(st, 1, srv_now());
        sqlite3_bind_int(st, 2, passes_total);
        sqlite3_bind_int64(st, 3, id);
        rc = step_done(db, st, "start job", err);
    }
    if (rc == EQ_OK)
        rc = add_event(db, id, "started", "", err);
    return write_end(s, db, rc, err);
}

eq_status srv_store_job_progress(srv_store *s, int64_t id, int done, int total, const char *what,
                                 eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET passes_done = ?, passes_total = ?, "
                                "progress_what = ? WHERE id = ?", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        sqlite3_bind_int(st, 1, done);
        sqlite3_bind_int(st, 2, total);
        bind_text(st, 3, what);
        sqlite3_bind_int64(st, 4, id);
        rc = step_done(db, st, "job progress", err);
    }
    return write_end(s, db, rc, err);
}

eq_status srv_store_job_requeue(srv_store *s, int64_t id, const char *why, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET status = 'queued', passes_done = 0, "
                                "progress_what = NULL WHERE id = ? AND status = 'running'", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        rc = step_done(db, st, "requeue job", err);
    }
    if (rc == EQ_OK)
        rc = add_event(db, id, "requeued", why, err);
    return write_end(s, db, rc, err);
}

int srv_store_job_cancel_queued(srv_store *s, int64_t id, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return -1;
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET status = 'cancelled', verdict = 'error', "
                                "finished_at = ?, error_code = 'cancelled', "
                                "error_message = 'cancelled before it started' "
                                "WHERE id = ? AND status = 'queued'", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        sqlite3_bind_double(st, 1, srv_now());
        sqlite3_bind_int64(st, 2, id);
        rc = step_done(db, st, "cancel job", err);
    }
    int changed = rc == EQ_OK ? sqlite3_changes(db) : 0;
    if (rc == EQ_OK && changed)
        rc = add_event(db, id, "cancelled", "cancelled while queued", err);
    rc = write_end(s, db, rc, err);
    return rc == EQ_OK ? changed : -1;
}

void srv_tensor_rec_free(srv_tensor_rec *t)
{
    if (!t)
        return;
    free(t->check);
    free(t->mode);
    free(t->name);
    free(t->data);
    memset(t, 0, sizeof *t);
}

static json_t *shape_json(int rank, const int64_t *shape)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

static char *shape_text(int rank, const int64_t *shape)
{
    json_t *a = shape_json(rank, shape);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static eq_status insert_tensors(sqlite3 *db, int64_t id, const srv_job_result *r, eq_error *err)
{
    if (r->n_tensors == 0)
        return EQ_OK;
    sqlite3_stmt *st = prep(db, "INSERT OR REPLACE INTO tensors (job_id, check_name, mode, name, "
                                "kind, dtype, shape, numel, min, max, mean, std, nan_count, "
                                "inf_count, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err);
    if (!st)
        return EQ_ERR_IO;
    eq_status rc = EQ_OK;
    for (size_t i = 0; i < r->n_tensors && rc == EQ_OK; i++) {
        const srv_tensor_rec *t = &r->tensors[i];
        char *shape = shape_text(t->rank, t->shape);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        bind_text(st, 2, t->check);
        bind_text(st, 3, t->mode);
        bind_text(st, 4, t->name);
        bind_text(st, 5, srv_report_is_endpoint(r->report, t->name) ? "endpoint" : "output");
        bind_text(st, 6, t->dtype);
        bind_text(st, 7, shape ? shape : "[]");
        sqlite3_bind_int64(st, 8, t->numel);
        bind_real(st, 9, t->min);
        bind_real(st, 10, t->max);
        bind_real(st, 11, t->mean);
        bind_real(st, 12, t->std);
        sqlite3_bind_int64(st, 13, t->nan_count);
        sqlite3_bind_int64(st, 14, t->inf_count);
        if (t->data)
            sqlite3_bind_blob64(st, 15, t->data, t->nbytes, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 15);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(err, db, "insert tensor");
        free(shape);
    }
    sqlite3_finalize(st);
    return rc;
}

eq_status srv_store_job_finish(srv_store *s, int64_t id, const srv_job_result *r, eq_error *err)
{
    char *report = r->report ? json_dumps(r->report, JSON_COMPACT) : NULL;
    json_t *summary = r->report ? srv_report_summary(r->report) : NULL;
    char *summary_text = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
    json_decref(summary);
    sqlite3 *db = write_begin(s, err);
    if (!db) {
        free(report);
        free(summary_text);
        return EQ_ERR_IO;
    }
    sqlite3_stmt *st = prep(db, "UPDATE jobs SET status = ?, verdict = ?, report = ?, summary = ?, "
                                "error_code = ?, error_message = ?, error_path = ?, "
                                "passes_done = ?, passes_total = ?, finished_at = ? "
                                "WHERE id = ?", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        bind_text(st, 1, r->status);
        bind_text(st, 2, r->verdict);
        bind_text(st, 3, report);
        bind_text(st, 4, summary_text);
        bind_text(st, 5, r->error_code);
        bind_text(st, 6, r->error_message);
        bind_text(st, 7, r->error_path);
        sqlite3_bind_int(st, 8, r->passes_done);
        sqlite3_bind_int(st, 9, r->passes_total);
        sqlite3_bind_double(st, 10, srv_now());
        sqlite3_bind_int64(st, 11, id);
        rc = step_done(db, st, "finish job", err);
    }
    /* A job run twice (requeued) replaces what the first run left. */
    if (rc == EQ_OK) {
        const char *clear[] = {"DELETE FROM variables WHERE job_id = ?",
                               "DELETE FROM tensors WHERE job_id = ?",
                               "DELETE FROM diffs WHERE job_id = ?",
                               "DELETE FROM random_traces WHERE job_id = ?"};
        for (size_t i = 0; i < sizeof clear / sizeof *clear && rc == EQ_OK; i++) {
            sqlite3_stmt *d = prep(db, clear[i], err);
            if (!d) {
                rc = EQ_ERR_IO;
                break;
            }
            sqlite3_bind_int64(d, 1, id);
            rc = step_done(db, d, "clear results", err);
        }
    }
    if (rc == EQ_OK)
        rc = insert_tensors(db, id, r, err);
    if (rc == EQ_OK && r->report)
        rc = srv_report_store(db, id, r->report, err);
    if (rc == EQ_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s%s%s%s", r->verdict ? "verdict " : "",
                 r->verdict ? r->verdict : "", r->error_message ? ": " : "",
                 r->error_message ? r->error_message : "");
        rc = add_event(db, id, r->status, msg, err);
    }
    rc = write_end(s, db, rc, err);
    free(report);
    free(summary_text);
    return rc;
}

/* ---- reading ---- */

static json_t *col_json(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    const char *t = (const char *)sqlite3_column_text(st, i);
    json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_string((const char *)sqlite3_column_text(st, i));
}

static json_t *col_real(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    return json_real(sqlite3_column_double(st, i));
}

/* The last column names the model for lists: "zoo:NAME" for zoo models,
 * the inline model's own name, or NULL (a spec without a model). */
#define JOB_COLUMNS                                                                          \
    "id, name, status, passes_done, passes_total, progress_what, verdict, summary, "        \
    "error_code, error_message, error_path, attempts, created_at, started_at, finished_at, " \
    "CASE WHEN json_valid(spec) = 0 THEN NULL "                                             \
    "WHEN json_type(spec, '$.model.zoo') = 'text' THEN 'zoo:' || json_extract(spec, '$.model.zoo') " \
    "WHEN json_type(spec, '$.model.name') = 'text' THEN json_extract(spec, '$.model.name') " \
    "ELSE NULL END"

static json_t *job_row(sqlite3_stmt *st)
{
    int64_t id = sqlite3_column_int64(st, 0);
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(id));
    json_object_set_new(j, "name", col_str(st, 1));
    json_object_set_new(j, "model", col_str(st, 15));
    json_object_set_new(j, "status", col_str(st, 2));
    json_t *prog = json_object();
    json_object_set_new(prog, "passes_done", json_integer(sqlite3_column_int(st, 3)));
    json_object_set_new(prog, "passes_total", json_integer(sqlite3_column_int(st, 4)));
    json_object_set_new(prog, "current", col_str(st, 5));
    json_object_set_new(j, "progress", prog);
    json_object_set_new(j, "verdict", col_str(st, 6));
    json_object_set_new(j, "summary", col_json(st, 7));
    if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
        json_t *e = json_object();
        json_object_set_new(e, "code", col_str(st, 8));
        json_object_set_new(e, "message", col_str(st, 9));
        json_object_set_new(e, "path", col_str(st, 10));
        json_object_set_new(j, "error", e);
    } else {
        json_object_set_new(j, "error", json_null());
    }
    json_object_set_new(j, "attempts", json_integer(sqlite3_column_int(st, 11)));
    json_t *t = json_object();
    json_object_set_new(t, "created", col_real(st, 12));
    json_object_set_new(t, "started", col_real(st, 13));
    json_object_set_new(t, "finished", col_real(st, 14));
    if (sqlite3_column_type(st, 13) != SQLITE_NULL && sqlite3_column_type(st, 14) != SQLITE_NULL)
        json_object_set_new(t, "run_seconds",
                            json_real(sqlite3_column_double(st, 14) - sqlite3_column_double(st, 13)));
    else
        json_object_set_new(t, "run_seconds", json_null());
    json_object_set_new(j, "timings", t);
    char buf[96];
    json_t *links = json_object();
    snprintf(buf, sizeof buf, "/api/v1/jobs/%lld", (long long)id);
    json_object_set_new(links, "self", json_string(buf));
    snprintf(buf, sizeof buf, "/api/v1/jobs/%lld/report", (long long)id);
    json_object_set_new(links, "report", json_string(buf));
    snprintf(buf, sizeof buf, "/api/v1/jobs/%lld/junit.xml", (long long)id);
    json_object_set_new(links, "junit", json_string(buf));
    json_object_set_new(j, "links", links);
    return j;
}

json_t *srv_store_job_get(srv_store *s, int64_t id, int *found, eq_error *err)
{
    *found = 0;
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *j = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = 1;
        j = job_row(st);
    } else if (rc != SQLITE_DONE) {
        db_error(err, db, "read job");
    }
    sqlite3_finalize(st);
    return j;
}

json_t *srv_store_job_list(srv_store *s, const srv_job_filter *f, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    /* NULL filters match everything; keyset pagination on id (newest
     * first) stays stable while jobs are added. One row more than the page
     * tells whether a next page exists. */
    sqlite3_stmt *st = prep(db, "SELECT " JOB_COLUMNS " FROM jobs "
                                "WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR verdict = ?2) "
                                "AND (?3 IS NULL OR instr(name, ?3) > 0) AND (?4 = 0 OR id < ?4) "
                                "ORDER BY id DESC LIMIT ?5", err);
    if (!st)
        return NULL;
    bind_text(st, 1, f->status);
    bind_text(st, 2, f->verdict);
    bind_text(st, 3, f->name);
    sqlite3_bind_int64(st, 4, f->before);
    sqlite3_bind_int(st, 5, f->limit + 1);
    json_t *jobs = json_array();
    int rc, n = 0;
    int64_t last = 0, more = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit) {
            more = 1;
            break;
        }
        json_t *j = job_row(st);
        last = sqlite3_column_int64(st, 0);
        json_array_append_new(jobs, j);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(jobs);
        db_error(err, db, "list jobs");
        return NULL;
    }
    json_t *out = json_object();
    json_object_set_new(out, "jobs", jobs);
    if (more) {
        char c[32];
        snprintf(c, sizeof c, "%lld", (long long)last);
        json_object_set_new(out, "next_cursor", json_string(c));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    return out;
}

char *srv_store_job_report(srv_store *s, int64_t id, int *found, eq_error *err)
{
    *found = 0;
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT report FROM jobs WHERE id = ?", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *found = 1;
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

static int job_exists(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM jobs WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

json_t *srv_store_job_variables(srv_store *s, int64_t id, const char *mode, int *found,
                                eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    *found = db && job_exists(db, id);
    if (!*found)
        return NULL;
    sqlite3_stmt *st = prep(db, "SELECT ord, name, shape, dtype, trainable FROM variables "
                                "WHERE job_id = ? AND mode = ? ORDER BY ord", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, mode);
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = json_object();
        json_object_set_new(v, "order", json_integer(sqlite3_column_int(st, 0)));
        json_object_set_new(v, "name", col_str(st, 1));
        json_object_set_new(v, "shape", col_json(st, 2));
        json_object_set_new(v, "dtype", col_str(st, 3));
        json_object_set_new(v, "trainable", json_boolean(sqlite3_column_int(st, 4)));
        json_array_append_new(a, v);
    }
    sqlite3_finalize(st);
    return a;
}

json_t *srv_store_job_tensors(srv_store *s, int64_t id, int *found, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    *found = db && job_exists(db, id);
    if (!*found)
        return NULL;
    sqlite3_stmt *st = prep(db, "SELECT check_name, mode, name, kind, dtype, shape, numel, min, max, "
                                "mean, std, nan_count, inf_count, data IS NOT NULL FROM tensors "
                                "WHERE job_id = ? ORDER BY id", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *v = json_object();
        json_object_set_new(v, "check", col_str(st, 0));
        json_object_set_new(v, "mode", col_str(st, 1));
        json_object_set_new(v, "name", col_str(st, 2));
        json_object_set_new(v, "kind", col_str(st, 3));
        json_object_set_new(v, "dtype", col_str(st, 4));
        json_object_set_new(v, "shape", col_json(st, 5));
        json_object_set_new(v, "numel", json_integer(sqlite3_column_int64(st, 6)));
        json_object_set_new(v, "min", col_real(st, 7));
        json_object_set_new(v, "max", col_real(st, 8));
        json_object_set_new(v, "mean", col_real(st, 9));
        json_object_set_new(v, "std", col_real(st, 10));
        json_object_set_new(v, "nan_count", json_integer(sqlite3_column_int64(st, 11)));
        json_object_set_new(v, "inf_count", json_integer(sqlite3_column_int64(st, 12)));
        json_object_set_new(v, "stored", json_boolean(sqlite3_column_int(st, 13)));
        json_array_append_new(a, v);
    }
    sqlite3_finalize(st);
    return a;
}

eq_status srv_store_tensor_data(srv_store *s, int64_t id, const char *name, const char *check,
                                const char *mode, srv_tensor_rec *out, int *found, eq_error *err)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT check_name, mode, dtype, shape, numel, data FROM tensors "
                                "WHERE job_id = ?1 AND name = ?2 AND (?3 IS NULL OR check_name = ?3) "
                                "AND (?4 IS NULL OR mode = ?4) ORDER BY id LIMIT 1", err);
    if (!st)
        return EQ_ERR_IO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, name);
    bind_text(st, 3, check);
    bind_text(st, 4, mode);
    eq_status rc = EQ_OK;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = eq_error_set_path(err, EQ_ERR_INVALID, name, "job %lld has no stored tensor '%s'%s%s%s%s",
                               (long long)id, name, check ? " in check " : "", check ? check : "",
                               mode ? " mode " : "", mode ? mode : "");
        goto out;
    }
    *found = 1;
    out->check = strdup((const char *)sqlite3_column_text(st, 0));
    out->mode = strdup((const char *)sqlite3_column_text(st, 1));
    out->name = strdup(name);
    out->dtype = strcmp((const char *)sqlite3_column_text(st, 2), "float64") == 0 ? "float64"
                                                                                  : "float32";
    out->numel = sqlite3_column_int64(st, 4);
    json_t *shape = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
    size_t i;
    json_t *d;
    json_array_foreach(shape, i, d)
    {
        if (i < 8)
            out->shape[i] = json_integer_value(d);
    }
    out->rank = shape ? (int)(json_array_size(shape) < 8 ? json_array_size(shape) : 8) : 0;
    json_decref(shape);
    if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
        rc = eq_error_set_path(err, EQ_ERR_LIMIT, name,
                               "tensor '%s' of job %lld was larger than the blob limit; only its "
                               "summary was stored", name, (long long)id);
        goto out;
    }
    out->nbytes = (size_t)sqlite3_column_bytes(st, 5);
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) {
        rc = eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(out->data, sqlite3_column_blob(st, 5), out->nbytes);
out:
    sqlite3_finalize(st);
    return rc;
}

json_t *srv_store_job_events(srv_store *s, int64_t id, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT at, kind, message FROM events WHERE job_id = ? ORDER BY id", err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *e = json_object();
        json_object_set_new(e, "at", col_real(st, 0));
        json_object_set_new(e, "kind", col_str(st, 1));
        json_object_set_new(e, "message", col_str(st, 2));
        json_array_append_new(a, e);
    }
    sqlite3_finalize(st);
    return a;
}

json_t *srv_store_job_counts(srv_store *s, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT status, count(*) FROM jobs GROUP BY status", err);
    if (!st)
        return NULL;
    json_t *o = json_object();
    const char *all[] = {"queued", "running", "done", "failed", "cancelled"};
    for (size_t i = 0; i < 5; i++)
        json_object_set_new(o, all[i], json_integer(0));
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    return o;
}

/* ---- checkpoints ---- */

eq_status srv_store_checkpoint_put(srv_store *s, const char *name, int64_t size,
                                   const char *sha256, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return EQ_ERR_IO;
    sqlite3_stmt *st = prep(db, "INSERT OR REPLACE INTO checkpoints (name, size, sha256, created_at) "
                                "VALUES (?, ?, ?, ?)", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, size);
        bind_text(st, 3, sha256);
        sqlite3_bind_double(st, 4, srv_now());
        rc = step_done(db, st, "record checkpoint", err);
    }
    return write_end(s, db, rc, err);
}

static json_t *checkpoint_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", col_str(st, 0));
    json_object_set_new(o, "size", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(o, "sha256", col_str(st, 2));
    json_object_set_new(o, "created", col_real(st, 3));
    return o;
}

json_t *srv_store_checkpoint_list(srv_store *s, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT name, size, sha256, created_at FROM checkpoints ORDER BY name", err);
    if (!st)
        return NULL;
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(a, checkpoint_row(st));
    sqlite3_finalize(st);
    return a;
}

json_t *srv_store_checkpoint_get(srv_store *s, const char *name, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT name, size, sha256, created_at FROM checkpoints WHERE name = ?", err);
    if (!st)
        return NULL;
    bind_text(st, 1, name);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        o = checkpoint_row(st);
    sqlite3_finalize(st);
    return o;
}

/* ---- retention ---- */

int64_t srv_store_gc(srv_store *s, double before, eq_error *err)
{
    sqlite3 *db = write_begin(s, err);
    if (!db)
        return -1;
    /* Foreign keys cascade the delete to variables, tensors (the blobs),
     * diffs, traces and events. */
    sqlite3_stmt *st = prep(db, "DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled') "
                                "AND finished_at < ?", err);
    eq_status rc = EQ_ERR_IO;
    if (st) {
        sqlite3_bind_double(st, 1, before);
        rc = step_done(db, st, "delete old jobs", err);
    }
    int64_t n = rc == EQ_OK ? sqlite3_changes64(db) : -1;
    rc = write_end(s, db, rc, err);
    if (rc != EQ_OK)
        return -1;
    if (n > 0) {
        /* Give the space back to the file system: blobs can be large. */
        pthread_mutex_lock(&s->write_lock);
        sqlite3_exec(db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->write_lock);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return n;
}

int64_t srv_store_gc_count(srv_store *s, double before, eq_error *err)
{
    sqlite3 *db = srv_store_db(s);
    sqlite3_stmt *st = prep(db, "SELECT count(*) FROM jobs WHERE status IN ('done', 'failed', "
                                "'cancelled') AND finished_at < ?", err);
    if (!st)
        return -1;
    sqlite3_bind_double(st, 1, before);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}
