/* eq_check_vars.c - the guide's steps 1 and 2: variables created once, and
 * the same variables in both modes.
 *
 * Both read the variable stores of the shared inference runners. The store
 * records, for every variable, the call that created it and the statement
 * (JSON path) that did, so step 1 needs no hook: after eager_calls calls,
 * every variable with call > 1 is one the forward pass should have reused.
 * To say *why* it was not, the statement is looked up in the eager model's
 * AST: an uncached `variable` (tf.Variable), a layer without a name (a new
 * default scope per call), or a scope opened by default name.
 */
#include <stdio.h>
#include <string.h>

#include "eq_checks.h"

/* Variables listed per category before the report says "and N more". */
#define LIST_MAX 1000
/* ...and in the human messages. */
#define MESSAGE_MAX 5

/* ---- step 1: variables_once ----------------------------------------------- */

typedef enum cause {
    CAUSE_UNCACHED_VARIABLE = 0,
    CAUSE_UNNAMED_LAYER,
    CAUSE_DEFAULT_SCOPE,
    CAUSE_OTHER
} cause;

static const char *const k_cause_names[] = {"uncached_variable", "unnamed_layer",
                                            "default_named_scope", "other"};

typedef struct found {
    const eq_node *node;
    const eq_node *default_scope; /* innermost enclosing scope opened by default name */
} found;

static int find_node(eq_node *const *body, int n, const char *path, const eq_node *dscope,
                     found *out);

static int find_in(const eq_node *node, const char *path, const eq_node *dscope, found *out)
{
    if (node->path && strcmp(node->path, path) == 0) {
        out->node = node;
        out->default_scope = dscope;
        return 1;
    }
    if (node->kind == EQ_NODE_SCOPE && node->default_name)
        dscope = node;
    if (node->body && find_node(node->body, node->n_body, path, dscope, out))
        return 1;
    for (int b = 0; b < node->n_branches; b++)
        if (find_node(node->branches[b], node->n_branch_body[b], path, dscope, out))
            return 1;
    return 0;
}

static int find_node(eq_node *const *body, int n, const char *path, const eq_node *dscope,
                     found *out)
{
    for (int i = 0; i < n; i++)
        if (body[i] && find_in(body[i], path, dscope, out))
            return 1;
    return 0;
}

static cause diagnose(const eq_model *m, const eq_var *v, char *fix, size_t n)
{
    found f = {0};
    if (!v->path || !find_node(m->body, m->n_body, v->path, NULL, &f)) {
        snprintf(fix, n,
                 "the statement that created %s runs again on every call: make it reuse the "
                 "variable created by the first call",
                 v->name);
        return CAUSE_OTHER;
    }
    const eq_layer *L = &f.node->layer;
    if (f.node->kind == EQ_NODE_LAYER && L->type == EQ_LAYER_VARIABLE && !L->cache) {
        snprintf(fix, n,
                 "tf.Variable '%s' is created each time the statement at %s runs: create it "
                 "once and keep it (the guide's fix: cache the variable on the layer; in the "
                 "model language set \"cache\": true)",
                 v->name, v->path);
        return CAUSE_UNCACHED_VARIABLE;
    }
    if (f.node->kind == EQ_NODE_LAYER && !L->name && L->default_scope) {
        snprintf(fix, n,
                 "the %s layer at %s has no name, so every call opens a new default scope "
                 "('%s', '%s_1', ...) and creates new variables: give the layer an explicit "
                 "\"name\", or wrap the layers in a named scope",
                 eq_layer_type_name(L->type), v->path, L->default_scope, L->default_scope);
        return CAUSE_UNNAMED_LAYER;
    }
    if (f.default_scope) {
        snprintf(fix, n,
                 "the scope at %s is opened by default name '%s' and gets a new suffix on every "
                 "call: give the scope an explicit name",
                 f.default_scope->path, f.default_scope->default_name);
        return CAUSE_DEFAULT_SCOPE;
    }
    snprintf(fix, n,
             "the statement at %s creates %s again on call %d: make it reuse the variable "
             "created by the first call",
             v->path, v->name, v->call);
    return CAUSE_OTHER;
}

/* The variable the same statement created on the first call (or the
 * functional build), if any. */
static const eq_var *first_call_twin(const eq_varstore *vs, const eq_var *v)
{
    for (int i = 0; i < eq_varstore_count(vs); i++) {
        const eq_var *w = eq_varstore_at(vs, i);
        if (w->call <= 1 && w->path && v->path && strcmp(w->path, v->path) == 0)
            return w;
    }
    return NULL;
}

eq_status eq_check_variables_once(job_run *run, json_t *check, eq_error *err)
{
    const eq_job *job = run->job;
    eq_runner *r = job_shared(run, EQ_MODE_EAGER, err);
    if (!r)
        return err ? err->status : EQ_ERR_NOMEM;
    const eq_result *res;
    eq_status st = job_calls_until(run, r, EQ_MODE_EAGER, job->eager_calls, &res, err);
    if (st != EQ_OK)
        return st;
    const eq_varstore *vs = eq_runner_vars(r);
    int nv = eq_varstore_count(vs);
    int calls = eq_runner_calls(r);

    json_t *details = json_object();
    json_object_set_new(check, "details", details);
    json_object_set_new(details, "eager_calls", json_integer(calls));
    json_object_set_new(details, "eager_call", json_string(job->functional ? "functional" : "direct"));
    /* Creations per call: index 0 is the functional build (0 when direct). */
    json_t *per_call = json_array();
    for (int c = 0; c <= calls; c++) {
        int k = 0;
        for (int i = 0; i < nv; i++)
            k += eq_varstore_at(vs, i)->call == c;
        json_array_append_new(per_call, json_integer(k));
    }
    json_object_set_new(details, "variables_created_per_call", per_call);

    json_t *list = json_array();
    int offending = 0;
    int by_cause[4] = {0};
    for (int i = 0; i < nv; i++) {
        const eq_var *v = eq_varstore_at(vs, i);
        if (v->call <= 1)
            continue;
        char fix[768];
        cause c = diagnose(job->eager_model, v, fix, sizeof fix);
        by_cause[c]++;
        if (offending < MESSAGE_MAX)
            job_message(check, "%s created by %s during call %d (%s). Fix: %s", v->name,
                        v->creator ? v->creator : "?", v->call, v->args ? v->args : "", fix);
        offending++;
        if (offending > LIST_MAX)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v->name));
        json_object_set_new(o, "creator", json_string(v->creator ? v->creator : ""));
        json_object_set_new(o, "arguments", json_string(v->args ? v->args : ""));
        json_object_set_new(o, "statement_path", json_string(v->path ? v->path : ""));
        json_object_set_new(o, "call", json_integer(v->call));
        json_object_set_new(o, "cause", json_string(k_cause_names[c]));
        json_object_set_new(o, "fix", json_string(fix));
        const eq_var *twin = first_call_twin(vs, v);
        json_object_set_new(o, "first_call_variable", twin ? json_string(twin->name) : json_null());
        json_array_append_new(list, o);
    }
    if (offending > MESSAGE_MAX)
        job_message(check, "... and %d more variables created after the first call",
                    offending - MESSAGE_MAX);
    json_object_set_new(details, "created_after_first_call", list);
    json_object_set_new(details, "created_after_first_call_count", json_integer(offending));
    json_object_set_new(details, "created_after_first_call_truncated",
                        json_boolean(offending > LIST_MAX));
    json_t *causes = json_object();
    for (int c = 0; c < 4; c++)
        json_object_set_new(causes, k_cause_names[c], json_integer(by_cause[c]));
    json_object_set_new(details, "causes", causes);
    json_object_set_new(details, "variables_after_last_call", json_integer(nv));

    if (offending == 0) {
        job_verdict(check, 1, "%d variables, all created by the first call; %d later calls "
                              "created none",
                    nv, calls - 1);
    } else {
        const eq_var *first = NULL;
        for (int i = 0; i < nv && !first; i++)
            if (eq_varstore_at(vs, i)->call > 1)
                first = eq_varstore_at(vs, i);
        job_verdict(check, 0, "%d variable%s created after the first call, first %s (call %d, %s)",
                    offending, offending == 1 ? "" : "s", first->name, first->call,
                    first->creator ? first->creator : "?");
    }
    return EQ_OK;
}

/* ---- step 2: manifest ----------------------------------------------------- */

/* name: the name to show (mapped for eager), eager_name: the original when
 * the map changed it. */
static json_t *var_json(const eq_var *v, const char *name, const char *eager_name)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name ? name : v->name));
    if (eager_name)
        json_object_set_new(o, "eager_name", json_string(eager_name));
    json_t *shape = json_array();
    for (int d = 0; d < v->value->rank; d++)
        json_array_append_new(shape, json_integer(v->value->shape[d]));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "dtype", json_string(eq_dtype_name(v->value->dtype)));
    json_object_set_new(o, "trainable", json_boolean(v->trainable));
    return o;
}

static json_t *manifest_json(const eq_varstore *vs, const job_run *run, int map)
{
    json_t *o = json_object();
    json_t *vars = json_array();
    int trainable = 0;
    for (int i = 0; i < eq_varstore_count(vs); i++) {
        const eq_var *v = eq_varstore_at(vs, i);
        trainable += v->trainable != 0;
        char mapped[1024];
        const char *m = map ? job_map_name(run, v->name, mapped, sizeof mapped) : v->name;
        json_array_append_new(vars, var_json(v, m, strcmp(m, v->name) ? v->name : NULL));
    }
    json_object_set_new(o, "count", json_integer(eq_varstore_count(vs)));
    json_object_set_new(o, "trainable_count", json_integer(trainable));
    json_object_set_new(o, "parameters", json_integer(eq_varstore_params(vs)));
    json_object_set_new(o, "variables", vars);
    return o;
}

static void add_capped(json_t *arr, json_t *item, int *count)
{
    if (*count < LIST_MAX)
        json_array_append_new(arr, item);
    else
        json_decref(item);
    (*count)++;
}

eq_status eq_check_manifest(job_run *run, json_t *check, eq_error *err)
{
    const eq_job *job = run->job;
    eq_runner *g = job_shared(run, EQ_MODE_GRAPH, err);
    if (!g)
        return err ? err->status : EQ_ERR_NOMEM;
    const eq_result *res;
    eq_status st = job_calls_until(run, g, EQ_MODE_GRAPH, 1, &res, err);
    if (st != EQ_OK)
        return st;
    eq_runner *e = job_shared(run, EQ_MODE_EAGER, err);
    if (!e)
        return err ? err->status : EQ_ERR_NOMEM;
    if ((st = job_calls_until(run, e, EQ_MODE_EAGER, job->eager_calls, &res, err)) != EQ_OK)
        return st;
    const eq_varstore *gs = eq_runner_vars(g), *es = eq_runner_vars(e);
    int ng = eq_varstore_count(gs), ne = eq_varstore_count(es);

    json_t *details = json_object();
    json_object_set_new(check, "details", details);
    json_object_set_new(details, "eager_calls", json_integer(eq_runner_calls(e)));
    json_object_set_new(details, "graph", manifest_json(gs, run, 0));
    json_object_set_new(details, "eager", manifest_json(es, run, 1));

    json_t *only_g = json_array(), *only_e = json_array(), *mism = json_array(),
           *dups = json_array();
    json_t *seen = json_object();    /* mapped eager names -> index of first */
    json_t *matched = json_object(); /* graph names that found a partner */
    int n_only_g = 0, n_only_e = 0, n_mism = 0, n_dups = 0, n_match = 0;
    int same_order = 1, last_graph_index = -1;
    for (int i = 0; i < ne; i++) {
        const eq_var *v = eq_varstore_at(es, i);
        char mapped[1024];
        job_map_name(run, v->name, mapped, sizeof mapped);
        json_t *prev = json_object_get(seen, mapped);
        if (prev) {
            /* Eager names never uniquify: the same statement on a later call
             * (or two tf.Variables with one name) give duplicates. */
            json_t *d = json_object();
            json_object_set_new(d, "name", json_string(mapped));
            json_object_set_new(d, "eager_name", json_string(v->name));
            json_object_set_new(d, "call", json_integer(v->call));
            add_capped(dups, d, &n_dups);
            continue;
        }
        json_object_set_new(seen, mapped, json_integer(i));
        const eq_var *w = eq_varstore_find(gs, mapped);
        if (!w) {
            add_capped(only_e, var_json(v, mapped, strcmp(mapped, v->name) ? v->name : NULL),
                       &n_only_e);
            continue;
        }
        json_object_set_new(matched, w->name, json_true());
        if (w->index < last_graph_index)
            same_order = 0;
        last_graph_index = w->index;
        int shape_ok = eq_shape_equal(w->value->rank, w->value->shape, v->value->rank,
                                      v->value->shape);
        int dtype_ok = w->value->dtype == v->value->dtype;
        int train_ok = (w->trainable != 0) == (v->trainable != 0);
        if (shape_ok && dtype_ok && train_ok) {
            n_match++;
            continue;
        }
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(w->name));
        json_object_set_new(m, "graph", var_json(w, NULL, NULL));
        json_object_set_new(m, "eager", var_json(v, mapped, strcmp(mapped, v->name) ? v->name : NULL));
        json_t *what = json_array();
        if (!shape_ok)
            json_array_append_new(what, json_string("shape"));
        if (!dtype_ok)
            json_array_append_new(what, json_string("dtype"));
        if (!train_ok)
            json_array_append_new(what, json_string("trainable"));
        json_object_set_new(m, "differences", what);
        add_capped(mism, m, &n_mism);
    }
    for (int i = 0; i < ng; i++) {
        const eq_var *w = eq_varstore_at(gs, i);
        if (!json_object_get(matched, w->name))
            add_capped(only_g, var_json(w, NULL, NULL), &n_only_g);
    }
    json_decref(seen);
    json_decref(matched);
    json_object_set_new(details, "matched_count", json_integer(n_match));
    json_object_set_new(details, "only_in_graph", only_g);
    json_object_set_new(details, "only_in_graph_count", json_integer(n_only_g));
    json_object_set_new(details, "only_in_eager", only_e);
    json_object_set_new(details, "only_in_eager_count", json_integer(n_only_e));
    json_object_set_new(details, "mismatched", mism);
    json_object_set_new(details, "mismatched_count", json_integer(n_mism));
    json_object_set_new(details, "duplicate_names_in_eager", dups);
    json_object_set_new(details, "duplicate_names_in_eager_count", json_integer(n_dups));
    json_object_set_new(details, "same_creation_order", json_boolean(same_order));

    /* A few examples in words for the CLI and JUnit. */
    for (size_t i = 0; i < json_array_size(only_g) && i < MESSAGE_MAX; i++)
        job_message(check, "only in graph: %s",
                    json_string_value(json_object_get(json_array_get(only_g, i), "name")));
    for (size_t i = 0; i < json_array_size(only_e) && i < MESSAGE_MAX; i++) {
        const json_t *o = json_array_get(only_e, i);
        const char *en = json_string_value(json_object_get(o, "eager_name"));
        job_message(check, "only in eager: %s%s%s%s",
                    json_string_value(json_object_get(o, "name")), en ? " (eager name " : "",
                    en ? en : "", en ? ")" : "");
    }
    for (size_t i = 0; i < json_array_size(mism) && i < MESSAGE_MAX; i++) {
        const json_t *o = json_array_get(mism, i);
        char what[64] = "";
        const json_t *d;
        size_t k;
        json_array_foreach(json_object_get(o, "differences"), k, d) {
            size_t len = strlen(what);
            snprintf(what + len, sizeof what - len, "%s%s", k ? ", " : "", json_string_value(d));
        }
        job_message(check, "mismatched %s: %s", what, json_string_value(json_object_get(o, "name")));
    }
    for (size_t i = 0; i < json_array_size(dups) && i < MESSAGE_MAX; i++)
        job_message(check, "eager name used more than once: %s (call %lld)",
                    json_string_value(json_object_get(json_array_get(dups, i), "name")),
                    (long long)json_integer_value(json_object_get(json_array_get(dups, i), "call")));

    int ok = n_only_g == 0 && n_only_e == 0 && n_mism == 0 && n_dups == 0;
    if (ok)
        job_verdict(check, 1,
                    "%d variables in both modes: names, shapes, dtypes and trainable flags match",
                    ng);
    else
        job_verdict(check, 0,
                    "graph %d variables, eager %d: %d only in graph, %d only in eager, %d "
                    "mismatched, %d duplicate eager names",
                    ng, ne, n_only_g, n_only_e, n_mism, n_dups);
    return EQ_OK;
}
