/* eq_check_reference.c - both modes against golden tensors that come with
 * the job, so CI can pin outputs across engine versions.
 *
 * Reference tensors are named like outputs or endpoints (eager names
 * through name_map) and compared as "expected" with each mode's tensor as
 * "actual". They may come inline, from .npy files, from a safetensors file,
 * or from the stored outputs of an earlier job (through eq_job_env, so the
 * engine never touches the server's store). Every reference tensor must be
 * found; the first one out of tolerance in the mode's execution order
 * (endpoints, then outputs) is named.
 */
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"
#include "eq_compare.h"
#include "eq_safetensors.h"

typedef struct ref_set {
    const char **names;
    const eq_tensor **tensors;
    int n;
} ref_set;

static eq_status ref_add(job_run *run, ref_set *s, const char *name, const eq_tensor *t,
                         eq_error *err)
{
    const char **nn = eq_arena_alloc(run->arena, (size_t)(s->n + 1) * sizeof *nn);
    const eq_tensor **tt = eq_arena_alloc(run->arena, (size_t)(s->n + 1) * sizeof *tt);
    char *copy = eq_arena_strdup(run->arena, name);
    if (!nn || !tt || !copy)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for reference tensors");
    if (s->n) {
        memcpy(nn, s->names, (size_t)s->n * sizeof *nn);
        memcpy(tt, s->tensors, (size_t)s->n * sizeof *tt);
    }
    nn[s->n] = copy;
    tt[s->n] = t;
    s->names = nn;
    s->tensors = tt;
    s->n++;
    return EQ_OK;
}

/* {"name": {"shape": [...], "data": [...]}} as float64 tensors. */
static eq_status refs_from_json(job_run *run, const json_t *obj, const char *path, ref_set *s,
                                eq_error *err)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char p[300];
        snprintf(p, sizeof p, "%s.%s", path, key);
        if (!json_is_object(v) || !json_object_get(v, "data"))
            return eq_error_set_path(err, EQ_ERR_INVALID, p,
                                     "expected {\"shape\": [...], \"data\": [...]}");
        int rank;
        int64_t shape[EQ_MAX_RANK];
        double *vals = NULL;
        eq_status st = eq_job_data_parse(json_object_get(v, "data"), json_object_get(v, "shape"), p,
                                         &rank, shape, &vals, err);
        if (st != EQ_OK)
            return st;
        eq_tensor *t = eq_tensor_new(run->arena, EQ_F64, rank, shape, err);
        if (!t) {
            eq_free(vals);
            return err ? err->status : EQ_ERR_NOMEM;
        }
        memcpy(t->data, vals, eq_tensor_nbytes(t));
        eq_free(vals);
        if ((st = ref_add(run, s, key, t, err)) != EQ_OK)
            return st;
    }
    return EQ_OK;
}

static eq_status load_refs(job_run *run, ref_set *s, eq_error *err)
{
    const eq_job_reference *ref = &run->job->reference;
    eq_status st;
    switch (ref->kind) {
    case EQ_REF_INLINE:
        return refs_from_json(run, ref->tensors, "reference.tensors", s, err);
    case EQ_REF_JOB: {
        const eq_job_env *env = &run->job->env;
        if (!env->load_job_outputs)
            return eq_error_set_path(err, EQ_ERR_UNSUPPORTED, "reference.job",
                                     "outputs of earlier jobs are only available through the "
                                     "server");
        json_t *outs = env->load_job_outputs(env->ctx, ref->job_id, err);
        if (!outs)
            return err ? err->status : EQ_ERR_IO;
        char p[64];
        snprintf(p, sizeof p, "job %lld", (long long)ref->job_id);
        st = json_is_object(outs) ? refs_from_json(run, outs, p, s, err)
                                  : eq_error_set_path(err, EQ_ERR_INVALID, "reference.job",
                                                      "job %lld's stored outputs are not an "
                                                      "object of tensors",
                                                      (long long)ref->job_id);
        json_decref(outs);
        return st;
    }
    case EQ_REF_SAFETENSORS: {
        const eq_safetensors *f;
        if ((st = eq_safetensors_read_file(ref->file, 0, run->arena, &f, err)) != EQ_OK) {
            eq_error_prefix(err, "reference %s: ", ref->file);
            return st;
        }
        for (size_t i = 0; i < eq_safetensors_count(f); i++) {
            const eq_safetensors_entry *e = eq_safetensors_entry_at(f, i);
            if (!e->tensor)
                return eq_error_set_path(err, EQ_ERR_UNSUPPORTED, "reference.safetensors",
                                         "tensor '%s' is %s; references must be F32 or F64",
                                         e->name, e->dtype);
            if ((st = ref_add(run, s, e->name, e->tensor, err)) != EQ_OK)
                return st;
        }
        return EQ_OK;
    }
    case EQ_REF_NPY: {
        const char *key;
        const json_t *v;
        json_object_foreach(ref->tensors, key, v) {
            eq_tensor *t;
            if ((st = eq_job_load_npy(run->arena, json_string_value(v), &t, err)) != EQ_OK) {
                eq_error_prefix(err, "reference.npy.%s: ", key);
                return st;
            }
            if ((st = ref_add(run, s, key, t, err)) != EQ_OK)
                return st;
        }
        return EQ_OK;
    }
    }
    return EQ_OK;
}

/* The runner of a mode with the weights the reference asks for, called. */
static eq_status run_mode(job_run *run, eq_mode mode, eq_runner **fresh, json_t *details,
                          const eq_result **res, eq_error *err)
{
    const eq_job *job = run->job;
    eq_status st;
    if (job->reference.weights == EQ_REF_WEIGHTS_RANDOM) {
        *fresh = job_runner_new(run, mode, 0, NULL, NULL, err);
        if (!*fresh)
            return err ? err->status : EQ_ERR_NOMEM;
        return job_pass(run, *fresh, mode, res, err);
    }
    eq_runner *r = job_shared(run, mode, err);
    if (!r)
        return err ? err->status : EQ_ERR_NOMEM;
    if ((st = job_calls_until(run, r, mode, 1, res, err)) != EQ_OK)
        return st;
    if (job->reference.weights == EQ_REF_WEIGHTS_FIXED) {
        eq_varstore_set_all(eq_runner_vars(r), job->fixed_weight_value);
    } else {
        json_t *keys = json_object();
        char k[32];
        snprintf(k, sizeof k, "%s_checkpoint_keys", eq_mode_name(mode));
        json_object_set_new(details, k, keys);
        int clean;
        if ((st = job_load_checkpoint(run, r, mode, keys, &clean, err)) != EQ_OK)
            return st;
    }
    return job_pass(run, r, mode, res, err);
}

static const eq_tensor *lookup(const job_run *run, const eq_result *res, eq_mode mode,
                               const char *name)
{
    char mapped[1024];
    for (int i = 0; i < res->n_endpoints; i++) {
        const char *n = mode == EQ_MODE_EAGER
                            ? job_map_name(run, res->endpoints[i].name, mapped, sizeof mapped)
                            : res->endpoints[i].name;
        if (strcmp(n, name) == 0)
            return res->endpoints[i].tensor;
    }
    for (int i = 0; i < res->n_outputs; i++) {
        const char *n = mode == EQ_MODE_EAGER
                            ? job_map_name(run, res->outputs[i].name, mapped, sizeof mapped)
                            : res->outputs[i].name;
        if (strcmp(n, name) == 0)
            return res->outputs[i].tensor;
    }
    return NULL;
}

/* Position of name in the mode's execution order (endpoints, then outputs). */
static int exec_index(const job_run *run, const eq_result *res, eq_mode mode, const char *name)
{
    char mapped[1024];
    for (int i = 0; i < res->n_endpoints; i++) {
        const char *n = mode == EQ_MODE_EAGER
                            ? job_map_name(run, res->endpoints[i].name, mapped, sizeof mapped)
                            : res->endpoints[i].name;
        if (strcmp(n, name) == 0)
            return i;
    }
    return res->n_endpoints; /* outputs come last */
}

static int compare_mode(job_run *run, json_t *check, json_t *into, const eq_result *res,
                        eq_mode mode, const ref_set *refs)
{
    int ok_all = 1, first_idx = -1, bad = 0, missing = 0;
    const char *first = NULL;
    char msg[EQ_DIFF_MESSAGE_MAX], first_msg[EQ_DIFF_MESSAGE_MAX] = "";
    json_t *list = json_array(), *miss = json_array();
    for (int k = 0; k < refs->n; k++) {
        const char *name = refs->names[k];
        const eq_tensor *t = lookup(run, res, mode, name);
        if (!t) {
            json_array_append_new(miss, json_string(name));
            missing++;
            ok_all = 0;
            continue;
        }
        double rtol, atol;
        eq_job_tolerance(run->job, name, &rtol, &atol);
        eq_compare_opts opts = eq_compare_opts_default();
        opts.rtol = rtol;
        opts.atol = atol;
        eq_diff d;
        eq_error cerr;
        json_t *o;
        int close;
        if (eq_compare_tensors(t, refs->tensors[k], &opts, &d, &cerr) != EQ_OK) {
            close = 0;
            o = json_object();
            json_object_set_new(o, "close", json_false());
            json_object_set_new(o, "shape_mismatch", json_true());
            snprintf(msg, sizeof msg, "%s", cerr.message);
            json_object_set_new(o, "message", json_string(msg));
        } else {
            close = d.close;
            o = eq_diff_to_json(&d);
            if (!o)
                o = json_object();
            eq_diff_message(&d, msg, sizeof msg);
        }
        json_object_set_new(o, "name", json_string(name));
        json_array_append_new(list, o);
        if (!close) {
            ok_all = 0;
            bad++;
            int idx = exec_index(run, res, mode, name);
            if (first_idx < 0 || idx < first_idx) {
                first_idx = idx;
                first = name;
                snprintf(first_msg, sizeof first_msg, "%s", msg);
            }
        }
    }
    json_object_set_new(into, "tensors", list);
    json_object_set_new(into, "missing", miss);
    json_object_set_new(into, "out_of_tolerance", json_integer(bad));
    if (first) {
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(first));
        json_object_set_new(f, "message", json_string(first_msg));
        json_object_set_new(into, "first_divergent", f);
        job_message(check, "%s mode: divergence from the reference starts at %s: %s",
                    eq_mode_name(mode), first, first_msg);
    } else {
        json_object_set_new(into, "first_divergent", json_null());
    }
    for (size_t i = 0; i < json_array_size(miss); i++)
        job_message(check, "%s mode has no output or endpoint named %s", eq_mode_name(mode),
                    json_string_value(json_array_get(miss, i)));
    json_object_set_new(into, "close", json_boolean(ok_all));
    return ok_all;
}

eq_status eq_check_reference(job_run *run, json_t *check, eq_error *err)
{
    const eq_job *job = run->job;
    ref_set refs = {0};
    eq_status st = load_refs(run, &refs, err);
    if (st != EQ_OK)
        return st;
    json_t *details = json_object();
    json_object_set_new(check, "details", details);
    static const char *const srcs[] = {"tensors", "npy", "safetensors", "job"};
    static const char *const weights[] = {"fixed", "checkpoint", "random"};
    json_object_set_new(details, "source", json_string(srcs[job->reference.kind]));
    json_object_set_new(details, "weights", json_string(weights[job->reference.weights]));
    json_object_set_new(details, "reference_tensors", json_integer(refs.n));
    eq_runner *fresh[2] = {NULL, NULL};
    int ok = 1;
    char sum[600] = "";
    for (int k = 0; k < 2 && st == EQ_OK; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER;
        int bit = m == EQ_MODE_GRAPH ? EQ_REF_MODE_GRAPH : EQ_REF_MODE_EAGER;
        if (!(job->reference.modes & bit))
            continue;
        const eq_result *res;
        if ((st = run_mode(run, (eq_mode)m, &fresh[m], details, &res, err)) != EQ_OK)
            break;
        json_t *into = json_object();
        json_object_set_new(details, eq_mode_name((eq_mode)m), into);
        int mode_ok = compare_mode(run, check, into, res, (eq_mode)m, &refs);
        ok &= mode_ok;
        size_t len = strlen(sum);
        const json_t *f = json_object_get(into, "first_divergent");
        snprintf(sum + len, sizeof sum - len, "%s%s %s", len ? "; " : "", eq_mode_name((eq_mode)m),
                 mode_ok ? "matches the reference"
                         : (json_is_object(f) ? "diverges" : "misses reference tensors"));
        if (!mode_ok && json_is_object(f)) {
            len = strlen(sum);
            snprintf(sum + len, sizeof sum - len, " from %s",
                     json_string_value(json_object_get(f, "name")));
        }
    }
    job_runner_free(run, fresh[0]);
    job_runner_free(run, fresh[1]);
    if (st != EQ_OK)
        return st;
    size_t len = strlen(sum);
    snprintf(sum + len, sizeof sum - len, " (%d reference tensor%s, %s weights)", refs.n,
             refs.n == 1 ? "" : "s", weights[job->reference.weights]);
    job_verdict(check, ok, "%s", sum);
    return EQ_OK;
}
