/* eq_check_outputs.c - comparing what two runs computed, and the checks
 * that are made of that: fixed_weights (step 3) and the random checks
 * (step 4).
 *
 * Outputs pair up by position (they are the model's return values; a
 * migrated model may name them differently). Endpoints pair up by name,
 * eager names through name_map, and are walked in the graph's execution
 * order, so the first one out of tolerance is where the divergence starts:
 * the guide's ablation, done without editing the model. The comparator
 * (eq_compare.h) does the arithmetic; eager is the "actual" side and graph
 * the "expected" one, as the legacy graph model is the reference a
 * migration is held to.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"
#include "eq_compare.h"

/* The comparator on one pair; a shape mismatch is EQ_ERR_SHAPE (the
 * comparator refuses it). Pure: safe to run for many pairs at once. */
static eq_status diff_pair(const eq_tensor *expected, const eq_tensor *actual, double rtol,
                           double atol, eq_diff *d)
{
    eq_compare_opts opts = eq_compare_opts_default();
    opts.rtol = rtol;
    opts.atol = atol;
    return eq_compare_tensors(actual, expected, &opts, d, NULL);
}

/* One compared pair as report JSON: the comparator's fields plus names;
 * shape mismatches are reported as such. */
static json_t *pair_json(const char *name, const char *eager_name, const eq_tensor *expected,
                         const eq_tensor *actual, eq_status st, const eq_diff *d, int *close,
                         char *message, size_t msg_size)
{
    json_t *o;
    if (st != EQ_OK) {
        char es[96], as[96];
        *close = 0;
        o = json_object();
        json_object_set_new(o, "close", json_false());
        json_object_set_new(o, "shape_mismatch", json_true());
        json_t *s1 = json_array(), *s2 = json_array();
        for (int i = 0; i < expected->rank; i++)
            json_array_append_new(s1, json_integer(expected->shape[i]));
        for (int i = 0; i < actual->rank; i++)
            json_array_append_new(s2, json_integer(actual->shape[i]));
        json_object_set_new(o, "expected_shape", s1);
        json_object_set_new(o, "actual_shape", s2);
        snprintf(message, msg_size, "Shapes differ: expected %s, got %s.",
                 eq_shape_str(expected->rank, expected->shape, es, sizeof es),
                 eq_shape_str(actual->rank, actual->shape, as, sizeof as));
        json_object_set_new(o, "message", json_string(message));
    } else {
        *close = d->close;
        o = eq_diff_to_json(d);
        if (!o)
            o = json_object();
        eq_diff_message(d, message, msg_size);
    }
    json_object_set_new(o, "name", json_string(name));
    if (eager_name && strcmp(eager_name, name) != 0)
        json_object_set_new(o, "eager_name", json_string(eager_name));
    return o;
}

static json_t *compare_pair(const char *name, const char *eager_name, const eq_tensor *expected,
                            const eq_tensor *actual, double rtol, double atol, int *close,
                            char *message, size_t msg_size)
{
    eq_diff d;
    eq_status st = diff_pair(expected, actual, rtol, atol, &d);
    return pair_json(name, eager_name, expected, actual, st, &d, close, message, msg_size);
}

static json_t *stats_json(const eq_tensor *t)
{
    int64_t n = eq_tensor_numel(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t finite = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = eq_tensor_get(t, i);
        if (!isfinite(v))
            continue;
        finite++;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    json_t *o = json_object();
    json_object_set_new(o, "min", eq_report_number(finite ? mn : NAN));
    json_object_set_new(o, "max", eq_report_number(finite ? mx : NAN));
    json_object_set_new(o, "mean", eq_report_number(finite ? sum / (double)finite : NAN));
    json_object_set_new(o, "sum", eq_report_number(sum));
    json_object_set_new(o, "non_finite_count", json_integer(n - finite));
    return o;
}

/* The largest max_abs_diff seen so far, and whose. */
static void note_largest(const json_t *o, const char *name, double *largest, const char **who)
{
    double d;
    if (eq_report_number_get(json_object_get(o, "max_abs_diff"), &d) && d > *largest) {
        *largest = d;
        *who = name;
    }
}

eq_status job_compare_results(job_run *run, json_t *check, json_t *details, const eq_result *g,
                              const eq_result *e, int *close, eq_error *err)
{
    const eq_job *job = run->job;
    int all_close = 1;
    char msg[EQ_DIFF_MESSAGE_MAX], mapped[1024];
    double rtol, atol;
    double largest = 0;
    const char *largest_name = NULL;

    /* Outputs, by position. */
    json_t *outs = json_array();
    json_object_set_new(details, "outputs", outs);
    if (g->n_outputs != e->n_outputs) {
        all_close = 0;
        job_message(check, "graph returns %d outputs, eager %d", g->n_outputs, e->n_outputs);
    }
    int n_out = g->n_outputs < e->n_outputs ? g->n_outputs : e->n_outputs;
    int out_bad = 0;
    for (int i = 0; i < n_out; i++) {
        const char *name = g->outputs[i].name;
        eq_job_tolerance(job, name, &rtol, &atol);
        int ok;
        json_t *o = compare_pair(name, e->outputs[i].name, g->outputs[i].tensor,
                                 e->outputs[i].tensor, rtol, atol, &ok, msg, sizeof msg);
        json_t *stats = json_object();
        json_object_set_new(stats, "graph", stats_json(g->outputs[i].tensor));
        json_object_set_new(stats, "eager", stats_json(e->outputs[i].tensor));
        json_object_set_new(o, "value_stats", stats);
        json_array_append_new(outs, o);
        if (!ok) {
            all_close = 0;
            out_bad++;
            /* An output that is also an endpoint is told about once, with
             * the endpoints. */
            int is_endpoint = 0;
            for (int k = 0; k < g->n_endpoints && !is_endpoint; k++)
                is_endpoint = strcmp(g->endpoints[k].name, name) == 0;
            if (!is_endpoint)
                job_message(check, "output %s: %s", name, msg);
        }
        note_largest(o, name, &largest, &largest_name);
    }

    /* Endpoints, by name, in the graph's execution order. */
    json_t *eps = json_array();
    json_object_set_new(details, "endpoints", eps);
    json_t *eager_index = json_object(); /* mapped eager name -> index */
    for (int j = 0; j < e->n_endpoints; j++)
        json_object_set_new(eager_index, job_map_name(run, e->endpoints[j].name, mapped, sizeof mapped),
                            json_integer(j));
    json_t *only_g = json_array(), *only_e = json_array();
    json_t *used = json_object();
    int first_bad = -1, ep_bad = 0, compared = 0;
    json_t *first = json_null();
    /* The comparisons are the bulk of a check's own work (Inception-ResNet-v2:
     * 6 million elements of endpoints); they are independent, so they run
     * side by side, and the report is written in order afterwards. */
    int ng = g->n_endpoints;
    int *partner = eq_calloc((size_t)ng + 1, sizeof *partner);
    eq_diff *diffs = eq_calloc((size_t)ng + 1, sizeof *diffs);
    eq_status *sts = eq_calloc((size_t)ng + 1, sizeof *sts);
    if (!partner || !diffs || !sts) {
        eq_free(partner);
        eq_free(diffs);
        eq_free(sts);
        json_decref(only_g);
        json_decref(only_e);
        json_decref(used);
        json_decref(eager_index);
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory comparing endpoints");
    }
    for (int i = 0; i < ng; i++) {
        json_t *jj = json_object_get(eager_index, g->endpoints[i].name);
        partner[i] = jj ? (int)json_integer_value(jj) : -1;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < ng; i++) {
        if (partner[i] < 0)
            continue;
        double rt, at;
        eq_job_tolerance(job, g->endpoints[i].name, &rt, &at);
        sts[i] = diff_pair(g->endpoints[i].tensor, e->endpoints[partner[i]].tensor, rt, at,
                           &diffs[i]);
    }
    for (int i = 0; i < ng; i++) {
        const char *name = g->endpoints[i].name;
        if (partner[i] < 0) {
            json_array_append_new(only_g, json_string(name));
            continue;
        }
        int j = partner[i];
        json_object_set_new(used, name, json_true());
        int ok;
        json_t *o = pair_json(name, e->endpoints[j].name, g->endpoints[i].tensor,
                              e->endpoints[j].tensor, sts[i], &diffs[i], &ok, msg, sizeof msg);
        json_object_set_new(o, "execution_index", json_integer(i));
        note_largest(o, name, &largest, &largest_name);
        json_array_append_new(eps, o);
        compared++;
        if (!ok) {
            ep_bad++;
            all_close = 0;
            if (first_bad < 0) {
                first_bad = i;
                first = json_object();
                json_object_set_new(first, "name", json_string(name));
                json_object_set_new(first, "execution_index", json_integer(i));
                json_object_set_new(first, "endpoints_in_graph", json_integer(g->n_endpoints));
                json_object_set_new(first, "message", json_string(msg));
                job_message(check, "divergence starts at %s (endpoint %d of %d in execution "
                                   "order): %s",
                            name, i + 1, g->n_endpoints, msg);
            }
        }
    }
    eq_free(partner);
    eq_free(diffs);
    eq_free(sts);
    for (int j = 0; j < e->n_endpoints; j++) {
        job_map_name(run, e->endpoints[j].name, mapped, sizeof mapped);
        if (!json_object_get(used, mapped))
            json_array_append_new(only_e, json_string(mapped));
    }
    json_decref(used);
    json_decref(eager_index);
    json_object_set_new(details, "first_divergent_endpoint", first);
    json_object_set_new(details, "endpoints_compared", json_integer(compared));
    json_object_set_new(details, "endpoints_out_of_tolerance", json_integer(ep_bad));
    json_object_set_new(details, "only_in_graph_endpoints", only_g);
    json_object_set_new(details, "only_in_eager_endpoints", only_e);
    if (json_array_size(only_g) + json_array_size(only_e) > 0)
        job_message(check, "endpoints only in graph: %zu, only in eager: %zu (not compared)",
                    json_array_size(only_g), json_array_size(only_e));

    /* The summed regularisation loss. */
    json_t *reg = json_null();
    if (g->has_reg_loss || e->has_reg_loss) {
        reg = json_object();
        if (g->has_reg_loss != e->has_reg_loss) {
            all_close = 0;
            json_object_set_new(reg, "close", json_false());
            json_object_set_new(reg, "graph", g->has_reg_loss ? eq_report_number(g->reg_loss) : json_null());
            json_object_set_new(reg, "eager", e->has_reg_loss ? eq_report_number(e->reg_loss) : json_null());
            job_message(check, "only %s mode has a regularisation loss",
                        g->has_reg_loss ? "graph" : "eager");
        } else {
            eq_job_tolerance(job, "regularization_loss", &rtol, &atol);
            double gv = g->reg_loss, ev = e->reg_loss, d = fabs(ev - gv);
            int ok = (isnan(gv) && isnan(ev)) || d <= atol + rtol * fabs(gv) || gv == ev;
            json_object_set_new(reg, "close", json_boolean(ok));
            json_object_set_new(reg, "graph", eq_report_number(gv));
            json_object_set_new(reg, "eager", eq_report_number(ev));
            json_object_set_new(reg, "abs_diff", eq_report_number(d));
            json_object_set_new(reg, "rel_diff", eq_report_number(gv != 0 ? d / fabs(gv) : (d == 0 ? 0 : INFINITY)));
            json_object_set_new(reg, "rtol", eq_report_number(rtol));
            json_object_set_new(reg, "atol", eq_report_number(atol));
            if (!ok) {
                all_close = 0;
                job_message(check, "regularisation loss: graph %.9g, eager %.9g (difference %.3g, "
                                   "up to %.3g allowed)",
                            gv, ev, d, atol + rtol * fabs(gv));
            }
        }
    }
    json_object_set_new(details, "regularization_loss", reg);

    *close = all_close;
    char sum[600];
    if (all_close) {
        char tail[160] = "; bit-identical";
        if (largest_name)
            snprintf(tail, sizeof tail, "; largest difference %.3g (%s)", largest, largest_name);
        snprintf(sum, sizeof sum, "%d output%s, %d endpoint%s%s within tolerance (rtol %g, atol %g)%s",
                 n_out, n_out == 1 ? "" : "s", compared, compared == 1 ? "" : "s",
                 json_is_object(reg) ? " and the regularisation loss" : "", job->rtol, job->atol,
                 tail);
    } else if (first_bad >= 0) {
        snprintf(sum, sizeof sum, "divergence starts at %s (endpoint %d of %d); %d of %d "
                                  "endpoints and %d of %d outputs out of tolerance",
                 g->endpoints[first_bad].name, first_bad + 1, g->n_endpoints, ep_bad, compared,
                 out_bad, n_out);
    } else if (out_bad) {
        snprintf(sum, sizeof sum, "%d of %d outputs out of tolerance (endpoints agree)", out_bad,
                 n_out);
    } else {
        snprintf(sum, sizeof sum, "outputs and endpoints agree, but %s",
                 g->n_outputs != e->n_outputs ? "the number of outputs differs"
                                              : "the regularisation loss differs");
    }
    json_object_set_new(details, "summary", json_string(sum));
    return EQ_OK;
}

/* ---- step 3: fixed_weights ------------------------------------------------- */

eq_status eq_check_fixed_weights(job_run *run, json_t *check, eq_error *err)
{
    const eq_job *job = run->job;
    eq_runner *r[2];
    const eq_result *res[2];
    eq_status st;
    /* Variables exist only after a first call; then every one is set and the
     * model called again, in inference mode. */
    for (int k = 0; k < 2; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER; /* the reference first */
        if (!(r[m] = job_shared(run, (eq_mode)m, err)))
            return err ? err->status : EQ_ERR_NOMEM;
        if ((st = job_calls_until(run, r[m], (eq_mode)m, 1, &res[m], err)) != EQ_OK)
            return st;
    }
    for (int k = 0; k < 2; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER;
        eq_varstore_set_all(eq_runner_vars(r[m]), job->fixed_weight_value);
        if ((st = job_pass(run, r[m], (eq_mode)m, &res[m], err)) != EQ_OK)
            return st;
    }
    json_t *details = json_object();
    json_object_set_new(check, "details", details);
    json_object_set_new(details, "fixed_weight_value", eq_report_number(job->fixed_weight_value));
    json_object_set_new(details, "training", json_false());
    json_object_set_new(details, "graph_runner", json_string(eq_runner_describe(r[EQ_MODE_GRAPH])));
    int close;
    if ((st = job_compare_results(run, check, details, res[EQ_MODE_GRAPH], res[EQ_MODE_EAGER],
                                  &close, err)) != EQ_OK)
        return st;
    job_verdict(check, close, "%s", json_string_value(json_object_get(details, "summary")));
    return EQ_OK;
}

/* ---- step 4: random_inference, random_training ----------------------------- */

eq_status eq_check_random(job_run *run, json_t *check, int training, eq_error *err)
{
    const eq_job *job = run->job;
    eq_runner *r[2] = {NULL, NULL};
    const eq_result *res[2];
    eq_status st = EQ_OK;
    /* Fresh variables under the seed policy, as the guide builds new models
     * inside the DeterministicRandomTestTool's scope. */
    for (int k = 0; k < 2 && st == EQ_OK; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER;
        r[m] = job_runner_new(run, (eq_mode)m, training, NULL, NULL, err);
        if (!r[m])
            st = err ? err->status : EQ_ERR_NOMEM;
        else
            st = job_pass(run, r[m], (eq_mode)m, &res[m], err);
    }
    if (st == EQ_OK) {
        json_t *details = json_object();
        json_object_set_new(check, "details", details);
        json_object_set_new(details, "training", json_boolean(training));
        json_object_set_new(details, "seed_policy",
                            json_string(job->seeding == EQ_SEEDING_NUM_RANDOM_OPS ? "num_random_ops"
                                                                                  : "constant"));
        json_object_set_new(details, "graph_runner",
                            json_string(eq_runner_describe(r[EQ_MODE_GRAPH])));
        int close, match;
        st = job_compare_results(run, check, details, res[EQ_MODE_GRAPH], res[EQ_MODE_EAGER],
                                 &close, err);
        if (st == EQ_OK) {
            const eq_trace_entry *gt, *et;
            int ng = eq_runner_trace(r[EQ_MODE_GRAPH], &gt);
            int ne = eq_runner_trace(r[EQ_MODE_EAGER], &et);
            json_t *trace = job_compare_traces(run, gt, ng, et, ne, &match);
            json_object_set_new(details, "random_trace", trace);
            const char *why = json_string_value(
                json_object_get(json_object_get(trace, "first_difference"), "explanation"));
            if (!match && why)
                job_message(check, "random trace: %s", why);
            const char *numbers = json_string_value(json_object_get(details, "summary"));
            if (close && match)
                job_verdict(check, 1, "%s; random traces match (%d random ops)", numbers, ng);
            else if (!match)
                job_verdict(check, 0, "random traces differ: %s; %s", why ? why : "?", numbers);
            else
                job_verdict(check, 0, "%s (random traces match)", numbers);
        }
    }
    job_runner_free(run, r[0]);
    job_runner_free(run, r[1]);
    return st;
}
