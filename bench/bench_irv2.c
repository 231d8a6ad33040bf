/* bench_irv2.c - Inception-ResNet-v2 forward in eager or graph mode.
 *
 *   bench_irv2 --mode graph|eager --batch 1 --runs 7 [--passes all|none|LIST]
 *              [--weights W.safetensors] [--weights-out W.safetensors] [--aux]
 *
 * Prints one JSON line per invocation (one mode, one batch), so a driver
 * (bench/run_irv2.sh) can interleave it with the peers and take medians:
 *   {"peer": "equivd-graph", "batch": 1, "ms_per_image_median": ...,
 *    "ms_runs": [...], "gflops": ..., "peak_rss_mb": ..., "blis_arch": ...}
 * Peak RSS is the process's (getrusage), which is why each mode runs in its
 * own process. --weights loads every variable by its TF name from a
 * safetensors file (bench/peers/irv2_torch.py make-weights writes one), so
 * the engine and the peers run the same weights; --weights-out writes the
 * engine's own initial values instead. The timed pass leaves out the aux
 * head unless --aux, as the peers do; EQ_BENCH_* variables from
 * bench/peers/run_peers.sh fill in the batch, runs and weights. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "eq.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_safetensors.h"
#include "eq_zoo.h"

#define IRV2_FLOP_PER_IMAGE 26.31e9 /* conv + fc, without the aux head */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int write_weights(eq_varstore *vs, const char *path, eq_error *err)
{
    int n = eq_varstore_count(vs);
    eq_safetensors_item *items = malloc((size_t)n * sizeof *items);
    if (!items)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        items[i].name = eq_varstore_at(vs, i)->name;
        items[i].tensor = eq_varstore_at(vs, i)->value;
    }
    eq_status st = eq_safetensors_write_file(path, items, (size_t)n, NULL, 0, err);
    free(items);
    return st;
}

static int load_weights(eq_varstore *vs, const char *path, eq_error *err)
{
    eq_arena *a = eq_arena_new(0);
    const eq_safetensors *st;
    eq_status rc = eq_safetensors_read_file(path, 0, a, &st, err);
    for (int i = 0; rc == EQ_OK && i < eq_varstore_count(vs); i++) {
        eq_var *v = eq_varstore_at(vs, i);
        const eq_tensor *t = eq_safetensors_get(st, v->name);
        if (!t)
            rc = eq_error_set(err, EQ_ERR_INVALID, "%s: no tensor %s", path, v->name);
        else
            rc = eq_tensor_copy(v->value, t, err);
    }
    eq_varstore_mark_changed(vs);
    eq_arena_free(a);
    return rc;
}

int main(int argc, char **argv)
{
    const char *mode = "graph", *passes = "all", *weights_out = NULL, *weights_in = NULL;
    int batch = 1, runs = 7, threads = 0, aux = 0;
    if (getenv("EQ_BENCH_BATCH"))
        batch = atoi(getenv("EQ_BENCH_BATCH"));
    if (getenv("EQ_BENCH_RUNS"))
        runs = atoi(getenv("EQ_BENCH_RUNS"));
    if (getenv("EQ_BENCH_THREADS"))
        threads = atoi(getenv("EQ_BENCH_THREADS"));
    weights_in = getenv("EQ_BENCH_WEIGHTS");
    static const struct option longopts[] = {
        {"mode", required_argument, 0, 'm'},    {"batch", required_argument, 0, 'b'},
        {"runs", required_argument, 0, 'r'},    {"passes", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'}, {"weights-out", required_argument, 0, 'w'},
        {"weights", required_argument, 0, 'W'}, {"aux", no_argument, 0, 'a'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': mode = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 'p': passes = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'w': weights_out = optarg; break;
        case 'W': weights_in = optarg; break;
        case 'a': aux = 1; break;
        default:
            fprintf(stderr, "usage: bench_irv2 --mode graph|eager --batch N --runs N "
                            "[--passes all|none|LIST] [--threads N] [--weights-out FILE]\n");
            return 2;
        }
    }
    if (batch < 1 || runs < 1 || (strcmp(mode, "graph") && strcmp(mode, "eager"))) {
        fprintf(stderr, "bench_irv2: bad arguments\n");
        return 2;
    }
    eq_error err;
    eq_error_clear(&err);
    if (eq_blas_init(threads, &err) != EQ_OK) {
        fprintf(stderr, "bench_irv2: %s\n", err.message);
        return 2;
    }
    char path[1024];
    if (eq_zoo_find("inception_resnet_v2", path, sizeof path, &err) != EQ_OK) {
        fprintf(stderr, "bench_irv2: %s\n", err.message);
        return 2;
    }
    json_t *args = json_pack("{s:b}", "create_aux_logits", aux);
    eq_model *m = eq_model_parse_file(path, args, &err);
    json_decref(args);
    if (!m) {
        fprintf(stderr, "bench_irv2: %s: %s\n", err.path, err.message);
        return 2;
    }
    eq_run_config cfg;
    eq_run_config_default(&cfg, strcmp(mode, "graph") == 0 ? EQ_MODE_GRAPH : EQ_MODE_EAGER);
    cfg.skip_reg_loss = 1; /* a forward pass, as the peers run it */
    if (strcmp(passes, "all") != 0) {
        eq_graph_options_all(&cfg.graph, 0);
        char buf[512];
        snprintf(buf, sizeof buf, "%s", passes);
        for (char *t = strtok(buf, ","); t && strcmp(passes, "none"); t = strtok(NULL, ",")) {
            eq_graph_pass p;
            if (!eq_graph_pass_from_name(t, &p)) {
                fprintf(stderr, "bench_irv2: unknown pass %s\n", t);
                return 2;
            }
            cfg.graph.enabled[p] = 1;
        }
    }
    eq_runner *r = eq_runner_new(m, &cfg, &err);
    eq_arena *a = eq_arena_new(0);
    int64_t shape[4] = {batch, 299, 299, 3};
    eq_tensor *x = eq_tensor_new(a, EQ_F32, 4, shape, &err);
    if (!r || !x) {
        fprintf(stderr, "bench_irv2: %s\n", err.message);
        return 2;
    }
    float *xd = eq_tensor_f32(x);
    for (int64_t i = 0; i < eq_tensor_numel(x); i++)
        xd[i] = (float)((i * 7919) % 1000) / 1000.0f;

    double *ms = calloc((size_t)runs, sizeof *ms);
    const eq_result *res;
    /* Warm-up: builds the graph / creates variables, touches every buffer. */
    if (eq_runner_call(r, x, &res, &err) != EQ_OK || eq_runner_call(r, x, &res, &err) != EQ_OK) {
        fprintf(stderr, "bench_irv2: %s: %s\n", err.path, err.message);
        return 2;
    }
    if (weights_in && load_weights(eq_runner_vars(r), weights_in, &err) != EQ_OK) {
        fprintf(stderr, "bench_irv2: %s\n", err.message);
        return 2;
    }
    if (weights_out && write_weights(eq_runner_vars(r), weights_out, &err) != EQ_OK) {
        fprintf(stderr, "bench_irv2: %s\n", err.message);
        return 2;
    }
    for (int i = 0; i < runs; i++) {
        if (eq_runner_call(r, x, &res, &err) != EQ_OK) {
            fprintf(stderr, "bench_irv2: %s\n", err.message);
            return 2;
        }
        ms[i] = res->seconds * 1e3;
    }
    double *sorted = malloc((size_t)runs * sizeof *sorted);
    memcpy(sorted, ms, (size_t)runs * sizeof *sorted);
    qsort(sorted, (size_t)runs, sizeof *sorted, cmp_double);
    double median = sorted[runs / 2] / batch;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const eq_blas_info *bi = eq_blas_info_get();
    printf("{\"peer\": \"equivd-%s\", \"batch\": %d, \"ms_per_image_median\": %.2f, "
           "\"ms_per_image_min\": %.2f, "
           "\"gflops\": %.1f, \"peak_rss_mb\": %.0f, \"blis_arch\": \"%s\", \"threads\": %d, "
           "\"passes\": \"%s\", \"ms_runs\": [",
           mode, batch, median, sorted[0] / batch, IRV2_FLOP_PER_IMAGE / (median * 1e-3) / 1e9,
           (double)ru.ru_maxrss / 1024.0, bi->arch, bi->threads, passes);
    for (int i = 0; i < runs; i++)
        printf(i ? ", %.2f" : "%.2f", ms[i]);
    printf("]}\n");
    free(ms);
    free(sorted);
    eq_runner_free(r);
    eq_arena_free(a);
    eq_model_free(m);
    return 0;
}
