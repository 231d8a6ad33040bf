/* srv_report.c - table rows from an engine report (see srv_report.h). */
#include "srv_report.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* The first member of `o` among `keys` (NULL-terminated) that exists. */
static json_t *member(const json_t *o, const char *const *keys)
{
    if (!json_is_object(o))
        return NULL;
    for (; *keys; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (v)
            return v;
    }
    return NULL;
}

static const char *str_member(const json_t *o, const char *const *keys)
{
    json_t *v = member(o, keys);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double num_member(const json_t *o, const char *const *keys)
{
    json_t *v = member(o, keys);
    if (json_is_number(v))
        return json_number_value(v);
    /* Non-finite figures travel as strings ("nan", "inf"): JSON has none. */
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strstr(s, "nan") || strstr(s, "NaN"))
            return NAN;
        if (strstr(s, "inf") || strstr(s, "Inf"))
            return s[0] == '-' ? -INFINITY : INFINITY;
    }
    return NAN;
}

static const char *const K_NAME[] = {"name", "check", NULL};
static const char *const K_VERDICT[] = {"verdict", "status", NULL};
static const char *const K_CHECKS[] = {"checks", NULL};

/* Calls fn for each check object; checks may be an array of objects with a
 * name, or an object keyed by check name. */
typedef void (*check_fn)(const char *name, json_t *check, void *ctx);
static void each_check(const json_t *report, check_fn fn, void *ctx)
{
    json_t *checks = member(report, K_CHECKS);
    if (json_is_array(checks)) {
        size_t i;
        json_t *c;
        json_array_foreach(checks, i, c)
        {
            const char *name = str_member(c, K_NAME);
            fn(name ? name : "", c, ctx);
        }
    } else if (json_is_object(checks)) {
        const char *k;
        json_t *c;
        json_object_foreach(checks, k, c) fn(k, c, ctx);
    }
}

struct summary_ctx {
    json_t *list;
    int pass, fail, error, other;
};

static void summarise_check(const char *name, json_t *check, void *vctx)
{
    struct summary_ctx *c = vctx;
    const char *v = str_member(check, K_VERDICT);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "verdict", v ? json_string(v) : json_null());
    json_array_append_new(c->list, o);
    if (!v)
        c->other++;
    else if (strcmp(v, "pass") == 0)
        c->pass++;
    else if (strcmp(v, "fail") == 0)
        c->fail++;
    else
        c->error++;
}

json_t *srv_report_summary(const json_t *report)
{
    json_t *out = json_object();
    const char *v = str_member(report, (const char *const[]){"verdict", NULL});
    json_object_set_new(out, "verdict", v ? json_string(v) : json_null());
    json_t *given = json_object_get(report, "summary");
    if (json_is_object(given))
        json_object_update(out, given);
    else if (json_is_string(given))
        json_object_set(out, "text", given);
    struct summary_ctx c = {json_array(), 0, 0, 0, 0};
    each_check(report, summarise_check, &c);
    json_object_set_new(out, "checks", c.list);
    json_object_set_new(out, "checks_passed", json_integer(c.pass));
    json_object_set_new(out, "checks_failed", json_integer(c.fail));
    json_object_set_new(out, "checks_error", json_integer(c.error));
    const char *msg = str_member(report, (const char *const[]){"message", "error", NULL});
    if (msg)
        json_object_set_new(out, "message", json_string(msg));
    return out;
}

static int in_string_array(const json_t *a, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return 1;
        if (json_is_object(v)) {
            const char *n = str_member(v, K_NAME);
            if (n && strcmp(n, name) == 0)
                return 1;
        }
    }
    return 0;
}

int srv_report_is_endpoint(const json_t *report, const char *name)
{
    if (!report || !name)
        return 0;
    json_t *e = json_object_get(report, "endpoints");
    if (!e)
        e = json_object_get(json_object_get(report, "model"), "endpoints");
    return json_is_array(e) && in_string_array(e, name);
}

/* ---- rows ---- */

struct store_ctx {
    sqlite3 *db;
    int64_t id;
    eq_error *err;
    eq_status rc;
    int have_variables[2];
};

static void fail(struct store_ctx *c, const char *what)
{
    if (c->rc == EQ_OK)
        c->rc = eq_error_set(c->err, EQ_ERR_IO, "database: storing %s: %s", what,
                             sqlite3_errmsg(c->db));
}

static void bind_opt_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
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

static void store_variables(struct store_ctx *c, const char *mode, const json_t *vars)
{
    int m = strcmp(mode, "graph") == 0 ? 0 : 1;
    if (!json_is_array(vars) || c->have_variables[m] || c->rc != EQ_OK)
        return;
    c->have_variables[m] = 1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO variables (job_id, mode, ord, name, shape, "
                                  "dtype, trainable) VALUES (?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        fail(c, "variables");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(vars, i, v)
    {
        const char *name = str_member(v, K_NAME);
        if (!name)
            continue;
        json_t *shape = json_object_get(v, "shape");
        const char *dtype = str_member(v, (const char *const[]){"dtype", NULL});
        json_t *tr = json_object_get(v, "trainable");
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
        if (shape)
            bind_json(st, 5, shape);
        else
            sqlite3_bind_text(st, 5, "[]", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, dtype ? dtype : "float32", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, tr ? json_is_true(tr) : 1);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fail(c, "variables");
            break;
        }
    }
    sqlite3_finalize(st);
}

/* Variables lists: {"graph": [...], "eager": [...]} under one of a few
 * names, at the top level or in a check. */
static void find_manifests(struct store_ctx *c, const json_t *o)
{
    static const char *const keys[] = {"manifests", "manifest", "variables", NULL};
    json_t *m = member(o, keys);
    if (!json_is_object(m))
        return;
    store_variables(c, "graph", json_object_get(m, "graph"));
    store_variables(c, "eager", json_object_get(m, "eager"));
}

static void store_diffs(struct store_ctx *c, const char *check, const json_t *list)
{
    sqlite3_stmt *st;
    if (c->rc != EQ_OK)
        return;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO diffs (job_id, check_name, ord, tensor, "
                                  "passed, max_abs, max_rel, mean_abs, mismatched, total, worst_index, "
                                  "worst_a, worst_b, nan_count, inf_count, metrics) "
                                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        fail(c, "diffs");
        return;
    }
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        const char *name = str_member(d, (const char *const[]){"tensor", "name", NULL});
        if (!name)
            continue;
        json_t *passed = member(d, (const char *const[]){"passed", "ok", "within_tolerance", NULL});
        json_t *worst = member(d, (const char *const[]){"worst", "worst_element", NULL});
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, check, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
        if (json_is_boolean(passed))
            sqlite3_bind_int(st, 5, json_is_true(passed));
        else
            sqlite3_bind_null(st, 5);
        bind_opt_real(st, 6, num_member(d, (const char *const[]){"max_abs_diff", "max_abs", NULL}));
        bind_opt_real(st, 7, num_member(d, (const char *const[]){"max_rel_diff", "max_rel", NULL}));
        bind_opt_real(st, 8, num_member(d, (const char *const[]){"mean_abs_diff", "mean_abs", NULL}));
        double mm = num_member(d, (const char *const[]){"mismatched", "out_of_tolerance", NULL});
        double tot = num_member(d, (const char *const[]){"total", "numel", "elements", NULL});
        if (isfinite(mm))
            sqlite3_bind_int64(st, 9, (sqlite3_int64)mm);
        else
            sqlite3_bind_null(st, 9);
        if (isfinite(tot))
            sqlite3_bind_int64(st, 10, (sqlite3_int64)tot);
        else
            sqlite3_bind_null(st, 10);
        json_t *widx = json_is_object(worst) ? json_object_get(worst, "index")
                                             : json_object_get(d, "worst_index");
        if (widx)
            bind_json(st, 11, widx);
        else
            sqlite3_bind_null(st, 11);
        const json_t *wsrc = json_is_object(worst) ? worst : d;
        bind_opt_real(st, 12, num_member(wsrc, (const char *const[]){"a", "graph", "worst_a", NULL}));
        bind_opt_real(st, 13, num_member(wsrc, (const char *const[]){"b", "eager", "worst_b", NULL}));
        double nan = num_member(d, (const char *const[]){"nan_count", "nans", NULL});
        double inf = num_member(d, (const char *const[]){"inf_count", "infs", NULL});
        if (isfinite(nan))
            sqlite3_bind_int64(st, 14, (sqlite3_int64)nan);
        else
            sqlite3_bind_null(st, 14);
        if (isfinite(inf))
            sqlite3_bind_int64(st, 15, (sqlite3_int64)inf);
        else
            sqlite3_bind_null(st, 15);
        bind_json(st, 16, d);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fail(c, "diffs");
            break;
        }
    }
    sqlite3_finalize(st);
}

static void store_traces(struct store_ctx *c, const char *check, const char *mode, const json_t *list)
{
    sqlite3_stmt *st;
    if (!json_is_array(list) || c->rc != EQ_OK)
        return;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO random_traces (job_id, check_name, mode, "
                                  "ord, entry) VALUES (?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        fail(c, "random traces");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_text(st, 2, check, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)i);
        bind_json(st, 5, e);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fail(c, "random traces");
            break;
        }
    }
    sqlite3_finalize(st);
}

static void store_check(const char *name, json_t *check, void *vctx)
{
    struct store_ctx *c = vctx;
    find_manifests(c, check);
    json_t *diffs = member(check, (const char *const[]){"tensors", "comparisons", "diffs", "outputs", NULL});
    if (json_is_array(diffs))
        store_diffs(c, name, diffs);
    json_t *tr = member(check, (const char *const[]){"traces", "random_traces", "random", NULL});
    if (json_is_object(tr)) {
        store_traces(c, name, "graph", json_object_get(tr, "graph"));
        store_traces(c, name, "eager", json_object_get(tr, "eager"));
    }
}

eq_status srv_report_store(sqlite3 *db, int64_t id, const json_t *report, eq_error *err)
{
    struct store_ctx c = {db, id, err, EQ_OK, {0, 0}};
    find_manifests(&c, report);
    each_check(report, store_check, &c);
    return c.rc;
}
