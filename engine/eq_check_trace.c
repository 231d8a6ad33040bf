/* eq_check_trace.c - the random-op traces of the two modes, side by side.
 *
 * Every random op (an initializer drawing a variable's values, a dropout
 * drawing its noise) is recorded with its seed pair and shape. Entries pair
 * up by (op, target) and occurrence, not by position: under the constant
 * policy every op gets the same seeds, so an eager model that creates its
 * variables in another order (functional wrapping) still draws the same
 * numbers, and only a different seed pair, shape or a missing op is a
 * mismatch. The first mismatch in graph order is explained in the terms of
 * the guide (creation order, functional wrapping, naming).
 */
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_checks.h"

static json_t *entry_json(const eq_trace_entry *t, const char *target)
{
    json_t *o = json_object();
    json_object_set_new(o, "op", json_string(t->op ? t->op : ""));
    json_object_set_new(o, "target", json_string(target ? target : (t->target ? t->target : "")));
    json_object_set_new(o, "detail", json_string(t->detail ? t->detail : ""));
    json_object_set_new(o, "seed", json_integer(t->seed));
    json_object_set_new(o, "seed2", json_integer(t->seed2));
    json_t *shape = json_array();
    for (int d = 0; d < t->rank; d++)
        json_array_append_new(shape, json_integer(t->shape[d]));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "call", json_integer(t->call));
    return o;
}

static int is_initializer(const eq_trace_entry *t)
{
    return t->op && strcmp(t->op, "initializer") == 0;
}

static int is_dropout(const eq_trace_entry *t)
{
    return t->op && strcmp(t->op, "RandomUniform") == 0;
}

static void key_of(const char *op, const char *target, char *buf, size_t n)
{
    snprintf(buf, n, "%s\x1f%s", op ? op : "", target ? target : "");
}

json_t *job_compare_traces(const job_run *run, const eq_trace_entry *g, int ng,
                           const eq_trace_entry *e, int ne, int *match)
{
    const eq_job *job = run->job;
    json_t *out = json_object();
    json_t *ga = json_array(), *ea = json_array();
    char mapped[1024], key[1200];
    /* Mapped eager targets, and per key the queue of eager indices. */
    json_t *queues = json_object();
    int functional_build = 0;
    int build_only = 0;
    for (int j = 0; j < ne; j++) {
        job_map_name(run, e[j].target ? e[j].target : "", mapped, sizeof mapped);
        json_t *ej = entry_json(&e[j], mapped);
        json_array_append_new(ea, ej);
        functional_build |= e[j].call == 0;
        /* A functional build also traces the ops that only compute (the
         * dropout noise): they take seeds, but the real call draws its own
         * numbers. They pair with nothing; the seeds they took show up as
         * shifted seeds further on. */
        if (e[j].call == 0 && !is_initializer(&e[j])) {
            json_object_set_new(ej, "build_only", json_true());
            build_only++;
            continue;
        }
        key_of(e[j].op, mapped, key, sizeof key);
        json_t *q = json_object_get(queues, key);
        if (!q) {
            q = json_array();
            json_object_set_new(queues, key, q);
        }
        json_array_append_new(q, json_integer(j));
    }
    json_t *taken = json_object(); /* key -> how many of its queue were used */
    char *used = eq_calloc((size_t)ne + 1, 1);
    if (!used) {
        *match = 0;
        json_decref(out);
        json_decref(ga);
        json_decref(ea);
        json_decref(queues);
        json_decref(taken);
        return NULL;
    }
    int first_g = -1, first_e = -1, mismatches = 0, order_differs = 0, last_j = -1;
    const char *first_kind = NULL;
    for (int i = 0; i < ng; i++) {
        json_t *gj = entry_json(&g[i], NULL);
        key_of(g[i].op, g[i].target, key, sizeof key);
        json_t *q = json_object_get(queues, key);
        json_int_t k = json_integer_value(json_object_get(taken, key));
        const char *kind = NULL;
        int j = -1;
        if (q && (size_t)k < json_array_size(q)) {
            j = (int)json_integer_value(json_array_get(q, (size_t)k));
            json_object_set_new(taken, key, json_integer(k + 1));
            used[j] = 1;
            if (j < last_j)
                order_differs = 1;
            last_j = j;
            if (g[i].seed != e[j].seed || g[i].seed2 != e[j].seed2)
                kind = "seeds";
            else if (!eq_shape_equal(g[i].rank, g[i].shape, e[j].rank, e[j].shape))
                kind = "shape";
            json_object_set_new(gj, "eager_index", json_integer(j));
        } else {
            kind = "missing_in_eager";
            json_object_set_new(gj, "eager_index", json_null());
        }
        if (kind) {
            json_object_set_new(gj, "difference", json_string(kind));
            mismatches++;
            if (first_g < 0) {
                first_g = i;
                first_e = j;
                first_kind = kind;
            }
        }
        json_array_append_new(ga, gj);
    }
    int first_unpaired_e = -1;
    for (int j = 0; j < ne; j++)
        if (!used[j] && !(e[j].call == 0 && !is_initializer(&e[j]))) {
            json_object_set_new(json_array_get(ea, (size_t)j), "difference",
                                json_string("missing_in_graph"));
            mismatches++;
            if (first_unpaired_e < 0)
                first_unpaired_e = j;
        }
    eq_free(used);
    json_decref(queues);
    json_decref(taken);
    if (first_g < 0 && first_unpaired_e >= 0) {
        first_e = first_unpaired_e;
        first_kind = "missing_in_graph";
    }
    *match = mismatches == 0;
    json_object_set_new(out, "match", json_boolean(mismatches == 0));
    json_object_set_new(out, "mismatches", json_integer(mismatches));
    json_object_set_new(out, "order_differs", json_boolean(order_differs));
    json_object_set_new(out, "build_only_count", json_integer(build_only));
    json_object_set_new(out, "graph_count", json_integer(ng));
    json_object_set_new(out, "eager_count", json_integer(ne));

    json_t *fd = json_null();
    if (first_kind) {
        fd = json_object();
        json_object_set_new(fd, "kind", json_string(first_kind));
        json_object_set_new(fd, "graph_index", first_g >= 0 ? json_integer(first_g) : json_null());
        json_object_set_new(fd, "eager_index", first_e >= 0 ? json_integer(first_e) : json_null());
        json_object_set_new(fd, "graph", first_g >= 0 ? json_incref(json_array_get(ga, (size_t)first_g))
                                                      : json_null());
        json_object_set_new(fd, "eager", first_e >= 0 ? json_incref(json_array_get(ea, (size_t)first_e))
                                                      : json_null());
        /* Was there a dropout in the graph up to this point? */
        int dropout_before = 0;
        for (int i = 0; i <= first_g && i < ng; i++)
            dropout_before |= is_dropout(&g[i]);
        char why[900];
        const eq_trace_entry *gt = first_g >= 0 ? &g[first_g] : NULL;
        const eq_trace_entry *et = first_e >= 0 ? &e[first_e] : NULL;
        if (strcmp(first_kind, "seeds") == 0 && functional_build && dropout_before &&
            job->seeding == EQ_SEEDING_NUM_RANDOM_OPS) {
            snprintf(why, sizeof why,
                     "eager creates all variables before the first dropout: functional wrapping; "
                     "num_random_ops numbers random ops in creation order, so %s %s gets "
                     "operation seed %lld in graph mode and %lld in eager mode. Call the layer "
                     "directly (eager_call \"direct\") or use seed_policy \"constant\"",
                     gt->op, gt->target ? gt->target : "", (long long)gt->seed2,
                     (long long)et->seed2);
        } else if (strcmp(first_kind, "seeds") == 0) {
            snprintf(why, sizeof why,
                     "%s %s gets seeds (%lld, %lld) in graph mode and (%lld, %lld) in eager mode: "
                     "the random ops before it were created in a different order or number%s",
                     gt->op, gt->target ? gt->target : "", (long long)gt->seed,
                     (long long)gt->seed2, (long long)et->seed, (long long)et->seed2,
                     job->seeding == EQ_SEEDING_NUM_RANDOM_OPS
                         ? " (num_random_ops numbers random ops in creation order)"
                         : "");
        } else if (strcmp(first_kind, "shape") == 0) {
            char gs[96], es[96];
            snprintf(why, sizeof why,
                     "%s %s draws shape %s in graph mode and %s in eager mode: the variable or "
                     "noise shape differs between the models",
                     gt->op, gt->target ? gt->target : "", eq_shape_str(gt->rank, gt->shape, gs, sizeof gs),
                     eq_shape_str(et->rank, et->shape, es, sizeof es));
        } else if (strcmp(first_kind, "missing_in_eager") == 0) {
            snprintf(why, sizeof why,
                     "graph mode makes random op %s for %s, eager mode has none with that name: a "
                     "layer or initializer is missing in eager mode or named differently (see "
                     "name_map)",
                     gt->op, gt->target ? gt->target : "");
        } else {
            job_map_name(run, et->target ? et->target : "", mapped, sizeof mapped);
            snprintf(why, sizeof why,
                     "eager mode makes random op %s for %s, graph mode has none with that name: "
                     "a layer or initializer exists only in eager mode or is named differently "
                     "(see name_map)",
                     et->op, mapped);
        }
        json_object_set_new(fd, "explanation", json_string(why));
    }
    json_object_set_new(out, "first_difference", fd);
    json_object_set_new(out, "graph", ga);
    json_object_set_new(out, "eager", ea);
    return out;
}
