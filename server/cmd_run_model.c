/* cmd_run_model.c - `equivd run-model`: run one model in one or both modes
 * from the command line and print what it computed. A tool for people
 * writing models and for the tests; the checks proper come with `validate`. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_zoo.h"

typedef struct options {
    const char *model;      /* file or zoo name */
    json_t *args;           /* zoo args */
    int modes[2];           /* eager, graph requested */
    char input_fill[16];
    int input_rank;
    int64_t input_shape[EQ_MAX_RANK];
    int64_t input_seed;
    int calls;
    int has_weights;
    double weights;
    int training;
    eq_seeding seeding;
    int64_t seed;
    eq_graph_options graph;
    int threads;
    int endpoints;
    int json;
    const char *manifest_out;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: equivd run-model MODEL [options]\n"
            "\n"
            "Run a model (a JSON file, or a zoo name such as inception_resnet_v2)\n"
            "in eager mode, graph mode, or both, and print its outputs.\n"
            "\n"
            "  --mode eager|graph|both    execution mode (default both)\n"
            "  --input FILL:SHAPE[:SEED]  input tensor, FILL = ones|zeros|uniform,\n"
            "                             SHAPE like 1x299x299x3 (default: ones, the\n"
            "                             model's declared input shape at batch 1)\n"
            "  --arg NAME=JSON            model parameter (e.g. --arg num_classes=10)\n"
            "  --weights VALUE            set every variable to VALUE after the\n"
            "                             first call, then run again (the guide's step 3)\n"
            "  --calls N                  calls per mode (default 1)\n"
            "  --training                 training mode (dropout on, batch statistics)\n"
            "  --seed-mode constant|num_random_ops|tf   (default constant)\n"
            "  --seed N                   global / tool seed (default 42)\n"
            "  --passes all|none|LIST     graph passes, LIST = comma-separated names of\n"
            "                             constant_folding, arithmetic, fold_batch_norm,\n"
            "                             fuse_bias_activation, prune, buffer_reuse\n"
            "  --threads N                compute threads (default: available cores)\n"
            "  --endpoints                print every endpoint, not just outputs\n"
            "  --manifest FILE            write the variable manifest as JSON (with\n"
            "                             --mode both: FILE.eager and FILE.graph)\n"
            "  --json                     print a JSON summary instead of text\n");
}

static int parse_shape(const char *s, int *rank, int64_t *shape)
{
    *rank = 0;
    while (*s) {
        if (*rank == EQ_MAX_RANK)
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1 || errno)
            return -1;
        shape[(*rank)++] = v;
        s = end;
        if (*s == 'x')
            s++;
        else if (*s)
            return -1;
    }
    return *rank > 0 ? 0 : -1;
}

static int parse_input(const char *spec, options *o)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *fill = strtok(buf, ":");
    char *shape = strtok(NULL, ":");
    char *seed = strtok(NULL, ":");
    if (!fill || !shape)
        return -1;
    if (strcmp(fill, "ones") && strcmp(fill, "zeros") && strcmp(fill, "uniform"))
        return -1;
    snprintf(o->input_fill, sizeof o->input_fill, "%s", fill);
    if (parse_shape(shape, &o->input_rank, o->input_shape))
        return -1;
    o->input_seed = seed ? strtoll(seed, NULL, 10) : 0;
    return 0;
}

static int parse_passes(const char *spec, eq_graph_options *g)
{
    if (strcmp(spec, "all") == 0) {
        eq_graph_options_all(g, 1);
        return 0;
    }
    eq_graph_options_all(g, 0);
    if (strcmp(spec, "none") == 0)
        return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        eq_graph_pass p;
        if (!eq_graph_pass_from_name(t, &p)) {
            fprintf(stderr, "equivd: unknown graph pass '%s'\n", t);
            return -1;
        }
        g->enabled[p] = 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"mode", required_argument, 0, 'm'},    {"input", required_argument, 0, 'i'},
        {"arg", required_argument, 0, 'a'},     {"weights", required_argument, 0, 'w'},
        {"calls", required_argument, 0, 'c'},   {"training", no_argument, 0, 't'},
        {"seed-mode", required_argument, 0, 'S'}, {"seed", required_argument, 0, 's'},
        {"passes", required_argument, 0, 'p'},  {"threads", required_argument, 0, 'T'},
        {"endpoints", no_argument, 0, 'e'},     {"manifest", required_argument, 0, 'M'},
        {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->modes[0] = o->modes[1] = 1;
    o->calls = 1;
    o->seed = 42;
    o->seeding = EQ_SEEDING_CONSTANT;
    eq_graph_options_all(&o->graph, 1);
    snprintf(o->input_fill, sizeof o->input_fill, "ones"); /* shape: the model's */
    o->args = json_object();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->modes[0] = strcmp(optarg, "graph") != 0;
            o->modes[1] = strcmp(optarg, "eager") != 0;
            if (strcmp(optarg, "graph") && strcmp(optarg, "eager") && strcmp(optarg, "both")) {
                fprintf(stderr, "equivd: --mode must be eager, graph or both\n");
                return -1;
            }
            break;
        case 'i':
            if (parse_input(optarg, o)) {
                fprintf(stderr, "equivd: --input expects FILL:SHAPE[:SEED], e.g. ones:1x299x299x3\n");
                return -1;
            }
            break;
        case 'a': {
            const char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "equivd: --arg expects NAME=JSON\n");
                return -1;
            }
            json_error_t jerr;
            json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (!v) {
                fprintf(stderr, "equivd: --arg %s: not JSON: %s\n", optarg, jerr.text);
                return -1;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - optarg), optarg);
            json_object_set_new(o->args, name, v);
            break;
        }
        case 'w':
            o->has_weights = 1;
            o->weights = strtod(optarg, NULL);
            break;
        case 'c':
            o->calls = atoi(optarg);
            if (o->calls < 1) {
                fprintf(stderr, "equivd: --calls must be >= 1\n");
                return -1;
            }
            break;
        case 't': o->training = 1; break;
        case 'S':
            if (strcmp(optarg, "constant") == 0)
                o->seeding = EQ_SEEDING_CONSTANT;
            else if (strcmp(optarg, "num_random_ops") == 0)
                o->seeding = EQ_SEEDING_NUM_RANDOM_OPS;
            else if (strcmp(optarg, "tf") == 0)
                o->seeding = EQ_SEEDING_TF;
            else {
                fprintf(stderr, "equivd: --seed-mode must be constant, num_random_ops or tf\n");
                return -1;
            }
            break;
        case 's': o->seed = strtoll(optarg, NULL, 10); break;
        case 'p':
            if (parse_passes(optarg, &o->graph))
                return -1;
            break;
        case 'T': o->threads = atoi(optarg); break;
        case 'e': o->endpoints = 1; break;
        case 'M': o->manifest_out = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return -1;
    }
    o->model = argv[optind];
    return 0;
}

static eq_model *load_model(const options *o, eq_error *err)
{
    char path[1024];
    const char *file = o->model;
    if (!strchr(file, '/') && !strstr(file, ".json")) {
        if (eq_zoo_find(file, path, sizeof path, err) != EQ_OK)
            return NULL;
        file = path;
    }
    return eq_model_parse_file(file, o->args, err);
}

/* Without --input: the model's declared input, any free dimension 1. */
static eq_status default_input_shape(options *o, const eq_model *m, eq_error *err)
{
    if (o->input_rank > 0)
        return EQ_OK;
    if (m->input_rank <= 0)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "the model declares no input shape: give one with --input "
                            "FILL:SHAPE, e.g. ones:1x299x299x3");
    o->input_rank = m->input_rank;
    for (int i = 0; i < m->input_rank; i++)
        o->input_shape[i] = m->input_shape[i] > 0 ? m->input_shape[i] : 1;
    return EQ_OK;
}

static eq_tensor *make_input(const options *o, eq_arena *a, eq_error *err)
{
    eq_tensor *t = eq_tensor_new(a, EQ_F32, o->input_rank, o->input_shape, err);
    if (!t)
        return NULL;
    if (strcmp(o->input_fill, "uniform") == 0) {
        /* A simple deterministic fill: inputs are data, not random ops. */
        uint64_t s = (uint64_t)o->input_seed * 6364136223846793005ull + 1442695040888963407ull;
        float *d = eq_tensor_f32(t);
        for (int64_t i = 0; i < eq_tensor_numel(t); i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            d[i] = (float)(s >> 40) / (float)(1 << 24);
        }
    } else {
        eq_tensor_fill(t, strcmp(o->input_fill, "ones") == 0 ? 1.0 : 0.0);
    }
    return t;
}

static json_t *tensor_summary(const char *name, const eq_tensor *t)
{
    double sum = 0, asum = 0, mn = INFINITY, mx = -INFINITY;
    int64_t n = eq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = eq_tensor_get(t, i);
        sum += v;
        asum += fabs(v);
        if (v < mn)
            mn = v;
        if (v > mx)
            mx = v;
    }
    json_t *shape = json_array();
    for (int i = 0; i < t->rank; i++)
        json_array_append_new(shape, json_integer(t->shape[i]));
    return json_pack("{s:s, s:o, s:f, s:f, s:f, s:f, s:f}", "name", name, "shape", shape,
                     "sum", isfinite(sum) ? sum : 0.0, "mean_abs", n ? asum / (double)n : 0.0,
                     "min", isfinite(mn) ? mn : 0.0, "max", isfinite(mx) ? mx : 0.0,
                     "first", n ? eq_tensor_get(t, 0) : 0.0);
}

static json_t *manifest_json(eq_varstore *vs)
{
    json_t *list = json_array();
    for (int i = 0; i < eq_varstore_count(vs); i++) {
        const eq_var *v = eq_varstore_at(vs, i);
        json_t *shape = json_array();
        for (int d = 0; d < v->value->rank; d++)
            json_array_append_new(shape, json_integer(v->value->shape[d]));
        json_array_append_new(list, json_pack("{s:s, s:o, s:b}", "name", v->name, "shape",
                                              shape, "trainable", v->trainable));
    }
    return list;
}

static void print_tensor_line(const char *kind, json_t *s)
{
    char shape[128];
    json_t *sh = json_object_get(s, "shape");
    int64_t dims[EQ_MAX_RANK];
    int rank = (int)json_array_size(sh);
    for (int i = 0; i < rank && i < EQ_MAX_RANK; i++)
        dims[i] = json_integer_value(json_array_get(sh, i));
    printf("  %-8s %-28s %-20s sum %-14.8g min %-12.6g max %-12.6g\n", kind,
           json_string_value(json_object_get(s, "name")),
           eq_shape_str(rank, dims, shape, sizeof shape),
           json_real_value(json_object_get(s, "sum")), json_real_value(json_object_get(s, "min")),
           json_real_value(json_object_get(s, "max")));
}

static int run_mode(const options *o, const eq_model *m, const eq_tensor *input,
                    eq_mode mode, json_t *report)
{
    eq_error err;
    eq_error_clear(&err);
    eq_run_config cfg;
    eq_run_config_default(&cfg, mode);
    cfg.training = o->training;
    cfg.seeding = o->seeding;
    cfg.seed = o->seed;
    cfg.graph = o->graph;
    eq_runner *r = eq_runner_new(m, &cfg, &err);
    if (!r) {
        fprintf(stderr, "equivd: %s%s%s\n", err.path, err.path[0] ? ": " : "", err.message);
        return 2;
    }
    json_t *calls = json_array();
    int total = o->calls + (o->has_weights ? 1 : 0);
    int rc = 0;
    for (int c = 0; c < total; c++) {
        if (o->has_weights && c == total - 1)
            eq_varstore_set_all(eq_runner_vars(r), o->weights);
        const eq_result *res;
        if (eq_runner_call(r, input, &res, &err) != EQ_OK) {
            fprintf(stderr, "equivd: %s mode: %s%s%s\n", eq_mode_name(mode), err.path,
                    err.path[0] ? ": " : "", err.message);
            rc = 2;
            break;
        }
        json_t *call = json_pack("{s:i, s:f, s:I, s:[], s:[]}", "call", c + 1, "ms",
                                 res->seconds * 1e3, "activation_bytes",
                                 (json_int_t)res->activation_bytes, "outputs", "endpoints");
        for (int i = 0; i < res->n_outputs; i++)
            json_array_append_new(json_object_get(call, "outputs"),
                                  tensor_summary(res->outputs[i].name, res->outputs[i].tensor));
        if (o->endpoints)
            for (int i = 0; i < res->n_endpoints; i++)
                json_array_append_new(json_object_get(call, "endpoints"),
                                      tensor_summary(res->endpoints[i].name,
                                                     res->endpoints[i].tensor));
        if (res->has_reg_loss)
            json_object_set_new(call, "regularization_loss", json_real(res->reg_loss));
        json_array_append_new(calls, call);
    }
    eq_varstore *vs = eq_runner_vars(r);
    json_t *mj = json_pack("{s:s, s:i, s:I, s:s, s:o}", "mode", eq_mode_name(mode), "variables",
                           eq_varstore_count(vs), "parameters", (json_int_t)eq_varstore_params(vs),
                           "describe", eq_runner_describe(r), "calls", calls);
    json_array_append_new(json_object_get(report, "runs"), mj);
    if (o->manifest_out && rc == 0) {
        char path[1024];
        snprintf(path, sizeof path, "%s%s%s", o->manifest_out,
                 o->modes[0] && o->modes[1] ? "." : "",
                 o->modes[0] && o->modes[1] ? eq_mode_name(mode) : "");
        json_t *man = manifest_json(vs);
        if (json_dump_file(man, path, JSON_INDENT(1)) != 0) {
            fprintf(stderr, "equivd: cannot write %s\n", path);
            rc = 2;
        }
        json_decref(man);
    }
    eq_runner_free(r);
    return rc;
}

static const char *human_bytes(json_int_t b, char *buf, size_t n)
{
    if (b < 1024)
        snprintf(buf, n, "%lld bytes", (long long)b);
    else if (b < 1 << 20)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024);
    else
        snprintf(buf, n, "%.1f MiB", (double)b / (1 << 20));
    return buf;
}

static void print_text(json_t *report)
{
    printf("model %s, BLIS %s, %d threads\n",
           json_string_value(json_object_get(report, "model")),
           json_string_value(json_object_get(report, "blis_arch")),
           (int)json_integer_value(json_object_get(report, "threads")));
    size_t i, j, k;
    json_t *run, *call, *t;
    json_array_foreach(json_object_get(report, "runs"), i, run) {
        printf("%s mode: %d variables, %lld parameters (%s)\n",
               json_string_value(json_object_get(run, "mode")),
               (int)json_integer_value(json_object_get(run, "variables")),
               (long long)json_integer_value(json_object_get(run, "parameters")),
               json_string_value(json_object_get(run, "describe")));
        json_array_foreach(json_object_get(run, "calls"), j, call) {
            char act[32];
            printf("  call %d: %.1f ms, activations %s",
                   (int)json_integer_value(json_object_get(call, "call")),
                   json_real_value(json_object_get(call, "ms")),
                   human_bytes(json_integer_value(json_object_get(call, "activation_bytes")), act,
                               sizeof act));
            json_t *reg = json_object_get(call, "regularization_loss");
            if (reg)
                printf(", regularization loss %.9g", json_real_value(reg));
            printf("\n");
            json_array_foreach(json_object_get(call, "outputs"), k, t)
                print_tensor_line("output", t);
            json_array_foreach(json_object_get(call, "endpoints"), k, t)
                print_tensor_line("endpoint", t);
        }
    }
}

int cli_run_model(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        json_decref(o.args);
        return rc > 0 ? 0 : 2;
    }
    eq_error err;
    eq_error_clear(&err);
    if (eq_blas_init(o.threads, &err) != EQ_OK) {
        fprintf(stderr, "equivd: %s\n", err.message);
        json_decref(o.args);
        return 2;
    }
    eq_model *m = load_model(&o, &err);
    json_decref(o.args);
    if (!m) {
        fprintf(stderr, "equivd: %s%s%s\n", err.path, err.path[0] ? ": " : "", err.message);
        return 2;
    }
    eq_arena *a = eq_arena_new(0);
    eq_tensor *input = a && default_input_shape(&o, m, &err) == EQ_OK ? make_input(&o, a, &err)
                                                                        : NULL;
    if (!input) {
        fprintf(stderr, "equivd: input: %s\n", err.message);
        eq_arena_free(a);
        eq_model_free(m);
        return 2;
    }
    const eq_blas_info *bi = eq_blas_info_get();
    json_t *report = json_pack("{s:s, s:s, s:i, s:[]}", "model", m->name ? m->name : o.model,
                               "blis_arch", bi->arch, "threads", bi->threads, "runs");
    rc = 0;
    if (o.modes[0])
        rc = run_mode(&o, m, input, EQ_MODE_EAGER, report);
    if (rc == 0 && o.modes[1])
        rc = run_mode(&o, m, input, EQ_MODE_GRAPH, report);
    if (rc != 0) {
        /* the error is on stderr; a half-filled report would only mislead */
    } else if (o.json) {
        char *s = json_dumps(report, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    } else {
        print_text(report);
    }
    json_decref(report);
    eq_arena_free(a);
    eq_model_free(m);
    return rc;
}
