/* eq_check_checkpoint.c - step 3b: a name-based checkpoint loads the same
 * way in both modes.
 *
 * TF checkpoints key variables by name without the ":0" output suffix
 * ("InceptionResnetV2/Conv2d_1a_3x3/weights"); files written from a
 * variable list often keep it. Both are accepted, the bare name first.
 * Eager names go through name_map first, exactly as in the manifest, so a
 * migration that renamed scopes loads the legacy checkpoint once the map
 * says how. Keys whose dtype the reader does not load (an int64
 * global_step, say) are listed as ignored, not as unexpected.
 */
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"
#include "eq_safetensors.h"

#define LIST_MAX 1000
#define MESSAGE_MAX 5

static void push(json_t *arr, json_t *item)
{
    if (json_array_size(arr) < LIST_MAX)
        json_array_append_new(arr, item);
    else
        json_decref(item);
}

static json_t *shape_json(int rank, const int64_t *shape)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

static eq_status read_checkpoint(job_run *run, eq_error *err)
{
    if (run->checkpoint)
        return EQ_OK;
    eq_status st = eq_safetensors_read_file(run->job->checkpoint, 0, run->arena, &run->checkpoint,
                                            err);
    if (st != EQ_OK)
        eq_error_prefix(err, "checkpoint %s: ", run->job->checkpoint);
    return st;
}

eq_status job_load_checkpoint(job_run *run, eq_runner *r, eq_mode mode, json_t *into, int *clean,
                              eq_error *err)
{
    eq_status st = read_checkpoint(run, err);
    if (st != EQ_OK)
        return st;
    const eq_safetensors *ck = run->checkpoint;
    size_t nk = eq_safetensors_count(ck);
    eq_varstore *vs = eq_runner_vars(r);
    int nv = eq_varstore_count(vs);
    char *consumed = eq_calloc(nk + 1, 1);
    if (!consumed)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory loading the checkpoint");
    json_t *missing = json_array(), *unexpected = json_array(), *misshaped = json_array(),
           *ignored = json_array();
    int n_loaded = 0, n_missing = 0, n_unexpected = 0, n_misshaped = 0;
    char mapped[1024], key[1024];
    for (int i = 0; i < nv && st == EQ_OK; i++) {
        eq_var *v = eq_varstore_at(vs, i);
        const char *name = mode == EQ_MODE_EAGER ? job_map_name(run, v->name, mapped, sizeof mapped)
                                                 : v->name;
        size_t len = strlen(name);
        if (len > 2 && strcmp(name + len - 2, ":0") == 0)
            snprintf(key, sizeof key, "%.*s", (int)(len - 2), name);
        else
            snprintf(key, sizeof key, "%s", name);
        const eq_safetensors_entry *e = eq_safetensors_find(ck, key);
        if (!e)
            e = eq_safetensors_find(ck, name);
        if (!e) {
            n_missing++;
            push(missing, json_string(name));
            continue;
        }
        /* Entries are stored contiguously; the index marks the key used. */
        for (size_t k = 0; k < nk; k++)
            if (eq_safetensors_entry_at(ck, k) == e)
                consumed[k] = 1;
        if (!e->tensor || !eq_shape_equal(e->rank, e->shape, v->value->rank, v->value->shape)) {
            n_misshaped++;
            json_t *o = json_object();
            json_object_set_new(o, "variable", json_string(name));
            json_object_set_new(o, "key", json_string(e->name));
            json_object_set_new(o, "variable_shape", shape_json(v->value->rank, v->value->shape));
            json_object_set_new(o, "checkpoint_shape", shape_json(e->rank, e->shape));
            json_object_set_new(o, "checkpoint_dtype", json_string(e->dtype));
            push(misshaped, o);
            continue;
        }
        st = eq_tensor_copy(v->value, e->tensor, err);
        n_loaded++;
    }
    if (st == EQ_OK) {
        eq_varstore_mark_changed(vs);
        for (size_t k = 0; k < nk; k++) {
            const eq_safetensors_entry *e = eq_safetensors_entry_at(ck, k);
            if (consumed[k])
                continue;
            if (!e->tensor) {
                push(ignored, json_string(e->name));
            } else {
                n_unexpected++;
                push(unexpected, json_string(e->name));
            }
        }
    }
    eq_free(consumed);
    json_object_set_new(into, "variables", json_integer(nv));
    json_object_set_new(into, "loaded", json_integer(n_loaded));
    json_object_set_new(into, "missing", missing);
    json_object_set_new(into, "missing_count", json_integer(n_missing));
    json_object_set_new(into, "unexpected", unexpected);
    json_object_set_new(into, "unexpected_count", json_integer(n_unexpected));
    json_object_set_new(into, "mis_shaped", misshaped);
    json_object_set_new(into, "mis_shaped_count", json_integer(n_misshaped));
    json_object_set_new(into, "ignored_dtype_keys", ignored);
    *clean = n_missing == 0 && n_unexpected == 0 && n_misshaped == 0;
    return st;
}

eq_status eq_check_checkpoint(job_run *run, json_t *check, eq_error *err)
{
    eq_runner *r[2];
    const eq_result *res[2];
    eq_status st;
    json_t *details = json_object();
    json_object_set_new(check, "details", details);
    json_object_set_new(details, "file", json_string(run->job->checkpoint));
    int clean[2];
    json_t *keys[2];
    for (int k = 0; k < 2; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER; /* the reference first */
        if (!(r[m] = job_shared(run, (eq_mode)m, err)))
            return err ? err->status : EQ_ERR_NOMEM;
        if ((st = job_calls_until(run, r[m], (eq_mode)m, 1, &res[m], err)) != EQ_OK)
            return st;
        keys[m] = json_object();
        json_object_set_new(details, m == EQ_MODE_GRAPH ? "graph_keys" : "eager_keys", keys[m]);
        if ((st = job_load_checkpoint(run, r[m], (eq_mode)m, keys[m], &clean[m], err)) != EQ_OK)
            return st;
    }
    json_object_set_new(details, "checkpoint_keys",
                        json_integer((json_int_t)eq_safetensors_count(run->checkpoint)));
    for (int k = 0; k < 2; k++) {
        int m = k == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER;
        if ((st = job_pass(run, r[m], (eq_mode)m, &res[m], err)) != EQ_OK)
            return st;
    }
    int close;
    if ((st = job_compare_results(run, check, details, res[EQ_MODE_GRAPH], res[EQ_MODE_EAGER],
                                  &close, err)) != EQ_OK)
        return st;
    static const char *const lists[] = {"missing", "unexpected", "mis_shaped"};
    for (int m = 0; m < 2; m++)
        for (int l = 0; l < 3; l++) {
            const json_t *a = json_object_get(keys[m], lists[l]);
            for (size_t i = 0; i < json_array_size(a) && i < MESSAGE_MAX; i++) {
                const json_t *x = json_array_get(a, i);
                job_message(check, "%s: %s key %s", eq_mode_name((eq_mode)m), lists[l],
                            json_is_string(x) ? json_string_value(x)
                                              : json_string_value(json_object_get(x, "key")));
            }
        }
    if (clean[0] && clean[1] && close) {
        job_verdict(check, 1, "checkpoint loads cleanly in both modes (%lld variables); %s",
                    (long long)json_integer_value(json_object_get(keys[EQ_MODE_GRAPH], "loaded")),
                    json_string_value(json_object_get(details, "summary")));
    } else if (!clean[0] || !clean[1]) {
        long long c[2][3];
        for (int m = 0; m < 2; m++)
            for (int l = 0; l < 3; l++) {
                char k[32];
                snprintf(k, sizeof k, "%s_count", lists[l]);
                c[m][l] = (long long)json_integer_value(json_object_get(keys[m], k));
            }
        job_verdict(check, 0,
                    "keys do not line up: graph %lld missing, %lld unexpected, %lld mis-shaped; "
                    "eager %lld missing, %lld unexpected, %lld mis-shaped",
                    c[0][0], c[0][1], c[0][2], c[1][0], c[1][1], c[1][2]);
    } else {
        job_verdict(check, 0, "checkpoint loads cleanly, but %s",
                    json_string_value(json_object_get(details, "summary")));
    }
    return EQ_OK;
}
