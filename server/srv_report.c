/* srv_report.c - table rows from an engine report (docs/report.md,
 * "equivd-report/1"). Where the rows come from:
 *   variables      checks[name=manifest].details.{graph,eager}.variables
 *   diffs          checks[*].details.outputs / .endpoints (result
 *                  comparisons), checks[reference].details.{graph,eager}.tensors
 *   random_traces  checks[*].details.random_trace.{graph,eager}
 * Numbers may be the strings "nan", "inf", "-inf" (the comparator's
 * encoding); they are stored as NULL in REAL columns and kept verbatim in
 * the metrics JSON. */
#include "srv_report.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

static double num(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "inf"))
            return INFINITY;
        if (!strcmp(s, "-inf"))
            return -INFINITY;
    }
    return NAN;
}

static double num_at(const json_t *o, const char *key) { return num(json_object_get(o, key)); }

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *details(const json_t *check) { return json_object_get(check, "details"); }

json_t *srv_report_summary(const json_t *report)
{
    json_t *out = json_object();
    const char *v = str_at(report, "verdict");
    json_object_set_new(out, "verdict", v ? json_string(v) : json_null());
    json_t *s = json_object_get(report, "summary");
    if (json_is_string(s))
        json_object_set(out, "text", s);
    const char *status = str_at(report, "status");
    if (status)
        json_object_set_new(out, "status", json_string(status));
    json_t *counts = json_object_get(report, "check_counts");
    if (json_is_object(counts))
        json_object_set(out, "check_counts", counts);
    json_t *checks = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "checks"), i, c)
    {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(str_at(c, "name") ? str_at(c, "name") : ""));
        json_object_set_new(o, "verdict", str_at(c, "verdict") ? json_string(str_at(c, "verdict")) : json_null());
        if (str_at(c, "summary"))
            json_object_set_new(o, "summary", json_string(str_at(c, "summary")));
        json_array_append_new(checks, o);
    }
    json_object_set_new(out, "checks", checks);
    json_t *t = json_object_get(report, "timing");
    if (json_is_object(t)) {
        json_t *tt = json_object();
        const char *keys[] = {"wall_seconds", "pass_seconds", "overhead_fraction", "passes"};
        for (size_t k = 0; k < 4; k++)
            if (json_object_get(t, keys[k]))
                json_object_set(tt, keys[k], json_object_get(t, keys[k]));
        json_object_set_new(out, "timing", tt);
    }
    json_t *models = json_object_get(report, "models");
    json_t *gp = json_object_get(json_object_get(models, "graph"), "parameters");
    if (json_is_integer(gp))
        json_object_set(out, "parameters", gp);
    json_t *err = json_object_get(report, "error");
    if (json_is_object(err))
        json_object_set(out, "error", err);
    return out;
}

/* A name among the endpoints any result comparison compared. */
int srv_report_is_endpoint(const json_t *report, const char *name)
{
    if (!report || !name)
        return 0;
    size_t i, k;
    json_t *c, *e;
    json_array_foreach(json_object_get(report, "checks"), i, c)
    {
        json_array_foreach(json_object_get(details(c), "endpoints"), k, e)
        {
            const char *n = str_at(e, "name");
            const char *en = str_at(e, "eager_name");
            if ((n && !strcmp(n, name)) || (en && !strcmp(en, name)))
                return 1;
        }
    }
    /* The test executor's (and older reports') top-level list. */
    json_array_foreach(json_object_get(report, "endpoints"), k, e) if (json_is_string(e) &&
                                                                        !strcmp(json_string_value(e), name)) return 1;
    return 0;
}

/* ---- rows ---- */

struct store_ctx {
    sqlite3 *db;
    int64_t id;
    eq_error *err;
    eq_status rc;
    sqlite3_stmt *var, *diff, *trace;
};

static void fail(struct store_ctx *c, const char *what)
{
    if (c->rc == EQ_OK)
        c->rc = eq_error_set(c->err, EQ_ERR_IO, "database: storing %s: %s", what,
                             sqlite3_errmsg(c->db));
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_count(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_int64(st, i, (sqlite3_int64)v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (s)
        sqlite3_bind_text(st, i, s, -1, free);
    else
        sqlite3_bind_null(st, i);
}

static sqlite3_stmt *prepared(struct store_ctx *c, sqlite3_stmt **slot, const char *sql)
{
    if (!*slot && sqlite3_prepare_v2(c->db, sql, -1, slot, NULL) != SQLITE_OK) {
        fail(c, "prepare");
        *slot = NULL;
    }
    if (*slot)
        sqlite3_reset(*slot);
    return *slot;
}

static void store_variables(struct store_ctx *c, const char *mode, const json_t *vars)
{
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v)
    {
        const char *name = str_at(v, "name");
        if (!name || c->rc != EQ_OK)
            continue;
        sqlite3_stmt *st = prepared(c, &c->var, "INSERT OR REPLACE INTO variables (job_id, mode, ord, "
                                                "name, shape, dtype, trainable) VALUES (?,?,?,?,?,?,?)");
        if (!st)
            return;
        json_t *shape = json_object_get(v, "shape");
        const char *dtype = str_at(v, "dtype");
        json_t *tr = json_object_get(v, "trainable");
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        /* Eager manifests list names as eager created them when mapped. */
        const char *en = str_at(v, "eager_name");
        sqlite3_bind_text(st, 4, strcmp(mode, "eager") == 0 && en ? en : name, -1, SQLITE_TRANSIENT);
        if (shape)
            bind_json(st, 5, shape);
        else
            sqlite3_bind_text(st, 5, "[]", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, dtype ? dtype : "float32", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, tr ? json_is_true(tr) : 1);
        if (sqlite3_step(st) != SQLITE_DONE)
            fail(c, "variables");
    }
}

static void store_diffs(struct store_ctx *c, const char *check, const char *kind, const char *mode,
                        const json_t *list, int *ord)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        const char *name = str_at(d, "name");
        if (!name)
            name = str_at(d, "tensor");
        if (!name || c->rc != EQ_OK)
            continue;
        sqlite3_stmt *st = prepared(c, &c->diff,
                                    "INSERT OR REPLACE INTO diffs (job_id, check_name, ord, kind, mode, "
                                    "tensor, passed, max_abs, max_rel, mean_abs, mismatched, total, "
                                    "worst_index, worst_actual, worst_expected, nan_count, inf_count, "
                                    "metrics) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        if (!st)
            return;
        json_t *close = json_object_get(d, "close");
        if (!close)
            close = json_object_get(d, "passed");
        json_t *worst = json_object_get(d, "worst");
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, check, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, (*ord)++);
        sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
        if (mode)
            sqlite3_bind_text(st, 5, mode, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_text(st, 6, name, -1, SQLITE_TRANSIENT);
        if (json_is_boolean(close))
            sqlite3_bind_int(st, 7, json_is_true(close));
        else
            sqlite3_bind_null(st, 7);
        bind_real(st, 8, num_at(d, "max_abs_diff"));
        bind_real(st, 9, num_at(d, "max_rel_diff"));
        bind_real(st, 10, num_at(d, "mean_abs_diff"));
        bind_count(st, 11, num_at(d, "mismatched"));
        bind_count(st, 12, json_object_get(d, "numel") ? num_at(d, "numel") : num_at(d, "total"));
        json_t *widx = json_object_get(worst, "index");
        if (widx)
            bind_json(st, 13, widx);
        else
            sqlite3_bind_null(st, 13);
        bind_real(st, 14, json_object_get(worst, "actual") ? num_at(worst, "actual") : num_at(worst, "a"));
        bind_real(st, 15, json_object_get(worst, "expected") ? num_at(worst, "expected") : num_at(worst, "b"));
        double nan = num_at(d, "nan_actual"), nan_e = num_at(d, "nan_expected");
        double inf = num_at(d, "inf_actual"), inf_e = num_at(d, "inf_expected");
        bind_count(st, 16, isfinite(nan) || isfinite(nan_e) ? (isfinite(nan) ? nan : 0) + (isfinite(nan_e) ? nan_e : 0) : NAN);
        bind_count(st, 17, isfinite(inf) || isfinite(inf_e) ? (isfinite(inf) ? inf : 0) + (isfinite(inf_e) ? inf_e : 0) : NAN);
        bind_json(st, 18, d);
        if (sqlite3_step(st) != SQLITE_DONE)
            fail(c, "diffs");
    }
}

static void store_traces(struct store_ctx *c, const char *check, const char *mode, const json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (c->rc != EQ_OK)
            return;
        sqlite3_stmt *st = prepared(c, &c->trace, "INSERT OR REPLACE INTO random_traces (job_id, "
                                                  "check_name, mode, ord, entry) VALUES (?,?,?,?,?)");
        if (!st)
            return;
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, check, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)i);
        bind_json(st, 5, e);
        if (sqlite3_step(st) != SQLITE_DONE)
            fail(c, "random traces");
    }
}

static const char *const MODES[] = {"graph", "eager"};

static void store_check(struct store_ctx *c, const json_t *check)
{
    const char *name = str_at(check, "name");
    if (!name)
        return;
    json_t *d = details(check);
    int ord = 0;
    if (!strcmp(name, "manifest"))
        for (int m = 0; m < 2; m++)
            store_variables(c, MODES[m], json_object_get(json_object_get(d, MODES[m]), "variables"));
    store_diffs(c, name, "output", NULL, json_object_get(d, "outputs"), &ord);
    store_diffs(c, name, "endpoint", NULL, json_object_get(d, "endpoints"), &ord);
    if (!strcmp(name, "reference"))
        for (int m = 0; m < 2; m++)
            store_diffs(c, name, "reference", MODES[m],
                        json_object_get(json_object_get(d, MODES[m]), "tensors"), &ord);
    json_t *tr = json_object_get(d, "random_trace");
    for (int m = 0; m < 2; m++)
        store_traces(c, name, MODES[m], json_object_get(tr, MODES[m]));
}

eq_status srv_report_store(sqlite3 *db, int64_t id, const json_t *report, eq_error *err)
{
    struct store_ctx c = {db, id, err, EQ_OK, NULL, NULL, NULL};
    size_t i;
    json_t *check;
    json_array_foreach(json_object_get(report, "checks"), i, check) store_check(&c, check);
    sqlite3_finalize(c.var);
    sqlite3_finalize(c.diff);
    sqlite3_finalize(c.trace);
    return c.rc;
}
