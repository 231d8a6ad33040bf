/* bench_irv2.c - Inception-ResNet-v2 forward in eager or graph mode.
 *
 *   bench_irv2 --mode graph|eager --batch 1 --runs 7 [--passes all|none|LIST]
 *              [--weights W.safetensors] [--weights-out W.safetensors] [--aux]
 *              [--profile]
 *   bench_irv2 --sgemm-peak [--runs 5]
 *
 * Prints one JSON line per invocation (one mode, one batch), so a driver
 * (bench/run_irv2.sh) can interleave it with the peers and take medians:
 *   {"peer": "equivd-graph", "batch": 1, "ms_per_image_median": ...,
 *    "ms_runs": [...], "gflops": ..., "peak_rss_mb": ..., "activation_mb": ...,
 *    "blis_arch": ...}
 * activation_mb is the runner's activation_bytes: eager, the most op output
 * bytes one call had alive at once; graph, the planned activation buffer.
 * Peak RSS is the process's (getrusage), which is why each mode runs in its
 * own process. --weights loads every variable by its TF name from a
 * safetensors file (bench/peers/irv2_torch.py make-weights writes one), so
 * the engine and the peers run the same weights; --weights-out writes the
 * engine's own initial values instead. The timed pass leaves out the aux
 * head unless --aux, as the peers do; EQ_BENCH_* variables from
 * bench/peers/run_peers.sh fill in the batch, runs and weights. --profile
 * also prints, on stderr, where the timed runs spent their time: per op
 * kind and for the 20 costliest conv shapes (the runner's op timer adds
 * a clock read per op, well under 1% here). --sgemm-peak instead times
 * BLIS's sgemm on 2048^3 (the engine's eq_sgemm, same threads) and prints
 *   {"peer": "sgemm-peak", "sgemm_peak_gflops": ..., ...}
 * which run_peers.sh uses for every peer's percent of the machine's peak. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "eq.h"
#include "eq_clock.h"
#include "eq_model.h"
#include "eq_ops.h"
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

/* ---- --profile: time per op kind and per conv shape ---------------------- */

#define PROF_MAX 128

typedef struct prof_row {
    char key[96];
    int count;
    double seconds;
    int64_t macs;
} prof_row;

typedef struct profile {
    int on; /* only the timed runs count */
    prof_row kinds[PROF_MAX], convs[PROF_MAX];
    int n_kinds, n_convs;
} profile;

static void prof_add(prof_row *rows, int *n, const char *key, const eq_op_timing *t)
{
    int i = 0;
    while (i < *n && strcmp(rows[i].key, key) != 0)
        i++;
    if (i == *n) {
        if (*n == PROF_MAX)
            return;
        snprintf(rows[i].key, sizeof rows[i].key, "%s", key);
        (*n)++;
    }
    rows[i].count++;
    rows[i].seconds += t->seconds;
    rows[i].macs += t->macs;
}

static void prof_op(void *ctx, const eq_op_timing *t)
{
    profile *p = ctx;
    if (!p->on)
        return;
    prof_add(p->kinds, &p->n_kinds, t->kind, t);
    if (strcmp(t->kind, "Conv2D") == 0 && t->n_in >= 2 && t->in[1]->rank == 4 &&
        t->out->rank == 4) {
        const eq_tensor *x = t->in[0], *w = t->in[1], *y = t->out;
        char key[96];
        snprintf(key, sizeof key, "%lldx%lldx%lld -> %lldx%lldx%lld, %lldx%lld",
                 (long long)x->shape[1], (long long)x->shape[2], (long long)x->shape[3],
                 (long long)y->shape[1], (long long)y->shape[2], (long long)y->shape[3],
                 (long long)w->shape[0], (long long)w->shape[1]);
        prof_add(p->convs, &p->n_convs, key, t);
    }
}

static int cmp_row_time(const void *a, const void *b)
{
    double x = ((const prof_row *)a)->seconds, y = ((const prof_row *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_print_rows(prof_row *rows, int n, int limit, int runs, double total)
{
    qsort(rows, (size_t)n, sizeof *rows, cmp_row_time);
    for (int i = 0; i < n && i < limit; i++) {
        double ms = rows[i].seconds * 1e3 / runs;
        fprintf(stderr, "  %-34s %6d %9.2f %6.1f%%", rows[i].key, rows[i].count / runs, ms,
                100.0 * rows[i].seconds / total);
        if (rows[i].macs)
            fprintf(stderr, " %8.1f", 2.0 * (double)rows[i].macs / rows[i].seconds * 1e-9);
        fputc('\n', stderr);
    }
}

static void prof_print(profile *p, const char *mode, int batch, int runs)
{
    double total = 0;
    for (int i = 0; i < p->n_kinds; i++)
        total += p->kinds[i].seconds;
    fprintf(stderr, "profile: %s mode, batch %d, per run (mean of %d runs): %.1f ms in ops\n",
            mode, batch, runs, total * 1e3 / runs);
    fprintf(stderr, "  %-34s %6s %9s %7s %8s\n", "op kind", "count", "ms", "share", "GFLOP/s");
    prof_print_rows(p->kinds, p->n_kinds, PROF_MAX, runs, total);
    fprintf(stderr, "  %-34s %6s %9s %7s %8s\n", "conv (input -> output, kernel)", "count",
            "ms", "share", "GFLOP/s");
    prof_print_rows(p->convs, p->n_convs, 20, runs, total);
}

/* BLIS sgemm 2048^3 (row-major, through eq_sgemm) on the configured threads:
 * one warm-up call, then the median of `runs`. */
static int sgemm_peak(int runs)
{
    const int64_t n = 2048;
    size_t bytes = (size_t)(n * n) * sizeof(float);
    float *a = eq_aligned_alloc(bytes), *b = eq_aligned_alloc(bytes), *c = eq_aligned_alloc(bytes);
    double *t = calloc((size_t)runs, sizeof *t);
    if (!a || !b || !c || !t) {
        fprintf(stderr, "bench_irv2: out of memory for the sgemm peak\n");
        return 2;
    }
    for (int64_t i = 0; i < n * n; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f;
        c[i] = 0.0f;
    }
    eq_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int r = 0; r < runs; r++) {
        double t0 = eq_now_seconds();
        eq_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = eq_now_seconds() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    const eq_blas_info *bi = eq_blas_info_get();
    printf("{\"peer\": \"sgemm-peak\", \"sgemm_peak_gflops\": %.1f, \"ms_median\": %.2f, "
           "\"blis_arch\": \"%s\", \"threads\": %d}\n",
           2.0 * n * n * n / t[runs / 2] * 1e-9, t[runs / 2] * 1e3, bi->arch, bi->threads);
    eq_aligned_free(a);
    eq_aligned_free(b);
    eq_aligned_free(c);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = "graph", *passes = "all", *weights_out = NULL, *weights_in = NULL;
    int batch = 1, runs = 7, threads = 0, aux = 0, profiling = 0, peak = 0;
    static profile prof;
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
        {"profile", no_argument, 0, 'P'},       {"sgemm-peak", no_argument, 0, 'S'},
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
        case 'P': profiling = 1; break;
        case 'S': peak = 1; break;
        default:
            fprintf(stderr, "usage: bench_irv2 --mode graph|eager --batch N --runs N "
                            "[--passes all|none|LIST] [--threads N] [--weights FILE] "
                            "[--weights-out FILE] [--aux] [--profile]\n"
                            "       bench_irv2 --sgemm-peak [--runs N] [--threads N]\n");
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
    if (peak)
        return sgemm_peak(runs < 3 ? 3 : runs);
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
    if (profiling) {
        cfg.op_timer = prof_op;
        cfg.op_timer_ctx = &prof;
    }
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
    prof.on = 1;
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
           "\"gflops\": %.1f, \"peak_rss_mb\": %.0f, \"activation_mb\": %.0f, "
           "\"blis_arch\": \"%s\", \"threads\": %d, \"passes\": \"%s\", \"ms_runs\": [",
           mode, batch, median, sorted[0] / batch, IRV2_FLOP_PER_IMAGE / (median * 1e-3) / 1e9,
           (double)ru.ru_maxrss / 1024.0, (double)res->activation_bytes / (1 << 20), bi->arch,
           bi->threads, passes);
    for (int i = 0; i < runs; i++)
        printf(i ? ", %.2f" : "%.2f", ms[i]);
    printf("]}\n");
    fflush(stdout);
    if (profiling)
        prof_print(&prof, mode, batch, runs);
    free(ms);
    free(sorted);
    eq_runner_free(r);
    eq_arena_free(a);
    eq_model_free(m);
    return 0;
}
