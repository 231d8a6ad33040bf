/* eq_job_run.c - running a job: input, runners, passes, the report.
 *
 * The driver is deliberately thin: it builds the input, hands every check a
 * report object to fill, and keeps the books (passes, seconds, progress,
 * cancellation). A check that fails to run gets verdict "error" with the
 * engine's message and the others still run; a cancelled job marks what is
 * left "skipped". The report's timing block puts the job's wall time next
 * to the sum of its passes' compute time, which is what the 10% overhead
 * target is measured against (bench/bench_job.c).
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eq_clock.h"
#include "eq_alloc.h"
#include "eq_blas.h"
#include "eq_gemm_packed.h"
#include "eq_checks.h"
#include "eq_rng.h"

#define REPORT_FORMAT "equivd-report/1"
/* TF's DEFAULT_GRAPH_SEED: a uniform input is what
 * tf.compat.v1.random_uniform(shape, min, max, seed=S) gives with no global
 * seed. */
#define INPUT_GLOBAL_SEED 87654321


/* ---- runners and passes -------------------------------------------------- */

eq_runner *job_runner_new(job_run *run, eq_mode mode, int training, eq_var_hook hook,
                          void *hook_ctx, eq_error *err)
{
    const eq_job *job = run->job;
    eq_run_config cfg;
    eq_run_config_default(&cfg, mode);
    cfg.training = training;
    cfg.seeding = job->seeding;
    cfg.seed = job->seed;
    cfg.operation_seed = job->operation_seed;
    cfg.functional = mode == EQ_MODE_EAGER && job->functional;
    cfg.graph = job->graph;
    cfg.hook = hook;
    cfg.hook_ctx = hook_ctx;
    eq_runner *r = eq_runner_new(mode == EQ_MODE_GRAPH ? job->model : job->eager_model, &cfg, err);
    if (!r) {
        eq_error_prefix(err, "%s mode: ", eq_mode_name(mode));
        return NULL;
    }
    if (++run->runners_alive > run->runners_max)
        run->runners_max = run->runners_alive;
    return r;
}

void job_runner_free(job_run *run, eq_runner *r)
{
    if (!r)
        return;
    eq_runner_free(r);
    run->runners_alive--;
}

eq_runner *job_shared(job_run *run, eq_mode mode, eq_error *err)
{
    if (!run->shared[mode])
        run->shared[mode] = job_runner_new(run, mode, 0, NULL, NULL, err);
    return run->shared[mode];
}

static void progress(job_run *run, eq_mode mode, int call)
{
    if (!run->hooks || !run->hooks->progress)
        return;
    char what[128];
    snprintf(what, sizeof what, "%s: %s call %d", run->check ? run->check : "job",
             eq_mode_name(mode), call);
    run->hooks->progress(run->hooks->ctx, run->passes_done, run->passes_total, what);
}

eq_status job_pass(job_run *run, eq_runner *r, eq_mode mode, const eq_result **res,
                   eq_error *err)
{
    const eq_job_hooks *h = run->hooks;
    if (h && h->cancel && h->cancel(h->ctx))
        return eq_error_set(err, EQ_ERR_CANCELLED, "cancelled by the caller");
    eq_status st = eq_runner_call(r, run->input, res, err);
    if (st != EQ_OK) {
        eq_error_prefix(err, "%s mode, call %d: ", eq_mode_name(mode), eq_runner_calls(r) + 1);
        return st;
    }
    run->passes_done++;
    run->pass_seconds += (*res)->seconds;
    if ((*res)->activation_bytes > run->activation_max[mode])
        run->activation_max[mode] = (*res)->activation_bytes;
    run->check_passes++;
    run->check_pass_seconds += (*res)->seconds;
    if (run->passes_done > run->passes_total)
        run->passes_total = run->passes_done; /* the plan is an estimate */
    progress(run, mode, eq_runner_calls(r));
    if (h && h->tensor) {
        const char *m = eq_mode_name(mode);
        for (int i = 0; i < (*res)->n_outputs; i++)
            h->tensor(h->ctx, run->check, m, (*res)->outputs[i].name, (*res)->outputs[i].tensor);
        for (int i = 0; i < (*res)->n_endpoints; i++)
            h->tensor(h->ctx, run->check, m, (*res)->endpoints[i].name,
                      (*res)->endpoints[i].tensor);
    }
    return EQ_OK;
}

eq_status job_calls_until(job_run *run, eq_runner *r, eq_mode mode, int n, const eq_result **res,
                          eq_error *err)
{
    *res = NULL;
    while (eq_runner_calls(r) < n) {
        eq_status st = job_pass(run, r, mode, res, err);
        if (st != EQ_OK)
            return st;
    }
    return EQ_OK;
}

/* ---- planning ------------------------------------------------------------ */

int job_plan_passes(const eq_job *job)
{
    int calls[2] = {0, 0}; /* shared runners, by eq_mode */
    int passes = 0;
    for (int i = 0; i < job->n_checks; i++) {
        switch (job->checks[i]) {
        case EQ_CHECK_VARIABLES_ONCE:
        case EQ_CHECK_MANIFEST:
            if (calls[EQ_MODE_EAGER] < job->eager_calls) {
                passes += job->eager_calls - calls[EQ_MODE_EAGER];
                calls[EQ_MODE_EAGER] = job->eager_calls;
            }
            if (job->checks[i] == EQ_CHECK_MANIFEST && calls[EQ_MODE_GRAPH] < 1) {
                passes++;
                calls[EQ_MODE_GRAPH] = 1;
            }
            break;
        case EQ_CHECK_FIXED_WEIGHTS:
        case EQ_CHECK_CHECKPOINT:
            for (int m = 0; m < 2; m++) {
                passes += calls[m] < 1 ? 2 : 1;
                calls[m] = calls[m] < 1 ? 2 : calls[m] + 1;
            }
            break;
        case EQ_CHECK_RANDOM_INFERENCE:
        case EQ_CHECK_RANDOM_TRAINING:
            passes += 2;
            break;
        case EQ_CHECK_REFERENCE: {
            int n = 0;
            for (int m = 0; m < 2; m++) {
                int want = m == EQ_MODE_GRAPH ? (job->reference.modes & EQ_REF_MODE_GRAPH)
                                              : (job->reference.modes & EQ_REF_MODE_EAGER);
                if (!want)
                    continue;
                if (job->reference.weights == EQ_REF_WEIGHTS_RANDOM) {
                    n++;
                } else {
                    n += calls[m] < 1 ? 2 : 1;
                    calls[m] = calls[m] < 1 ? 2 : calls[m] + 1;
                }
            }
            passes += n;
            break;
        }
        case EQ_CHECK_COUNT:
            break;
        }
    }
    return passes;
}

/* ---- input --------------------------------------------------------------- */

static eq_status build_input(job_run *run, eq_error *err)
{
    const eq_job_input *in = &run->job->input;
    if (in->kind == EQ_INPUT_NPY || in->kind == EQ_INPUT_SAFETENSORS)
        return eq_job_load_input_file(run->arena, in, &run->input, err);
    eq_tensor *t = eq_tensor_new(run->arena, EQ_F32, in->rank, in->shape, err);
    if (!t)
        return err ? err->status : EQ_ERR_NOMEM;
    int64_t n = eq_tensor_numel(t);
    float *x = eq_tensor_f32(t);
    if (in->kind == EQ_INPUT_DATA) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)in->data[i];
    } else if (in->fill == EQ_FILL_UNIFORM) {
        eq_rng_kernel k;
        eq_seed_pair seeds = {INPUT_GLOBAL_SEED, in->seed};
        eq_status st = eq_rng_kernel_init(&k, seeds, err);
        if (st != EQ_OK)
            return st;
        eq_uniform_args a = {in->minval, in->maxval, 0};
        if ((st = eq_random_uniform_f32(&k, &a, x, n, err)) != EQ_OK)
            return st;
    } else {
        eq_tensor_fill(t, in->fill == EQ_FILL_ONES ? 1.0 : 0.0);
    }
    run->input = t;
    return EQ_OK;
}

/* ---- report pieces -------------------------------------------------------- */

void job_message(json_t *check, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_t *msgs = json_object_get(check, "messages");
    if (!msgs) {
        msgs = json_array();
        json_object_set_new(check, "messages", msgs);
    }
    json_array_append_new(msgs, json_string(buf));
}

void job_verdict(json_t *check, int pass, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_object_set_new(check, "verdict", json_string(pass ? "pass" : "fail"));
    json_object_set_new(check, "summary", json_string(buf));
}

const char *job_map_name(const job_run *run, const char *name, char *buf, size_t n)
{
    /* A name the map cannot hold is compared unmapped (it will show up as
     * only-in-eager, which is the honest outcome). */
    if (eq_name_map_apply(run->job->name_map, name, buf, n, NULL) != EQ_OK)
        snprintf(buf, n, "%s", name);
    return buf;
}

static json_t *shape_json(int rank, const int64_t *shape)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

static json_t *settings_json(const eq_job *job)
{
    json_t *s = json_object();
    json_object_set_new(s, "model", json_string(job->model_label));
    json_object_set_new(s, "eager_model", json_string(job->eager_model_label));
    json_object_set_new(s, "separate_eager_model", json_boolean(job->eager_model != job->model));

    json_t *in = json_object();
    const eq_job_input *x = &job->input;
    static const char *const kinds[] = {"fill", "data", "npy", "safetensors"};
    static const char *const fills[] = {"ones", "zeros", "uniform"};
    json_object_set_new(in, "kind", json_string(kinds[x->kind]));
    if (x->kind == EQ_INPUT_FILL) {
        json_object_set_new(in, "fill", json_string(fills[x->fill]));
        if (x->fill == EQ_FILL_UNIFORM) {
            json_object_set_new(in, "seed", json_integer(x->seed));
            json_object_set_new(in, "min", eq_report_number(x->minval));
            json_object_set_new(in, "max", eq_report_number(x->maxval));
        }
    }
    if (x->kind == EQ_INPUT_FILL || x->kind == EQ_INPUT_DATA)
        json_object_set_new(in, "shape", shape_json(x->rank, x->shape));
    if (x->file)
        json_object_set_new(in, "file", json_string(x->file));
    if (x->tensor)
        json_object_set_new(in, "tensor", json_string(x->tensor));
    json_object_set_new(s, "input", in);

    json_t *checks = json_array();
    for (int i = 0; i < job->n_checks; i++)
        json_array_append_new(checks, json_string(job->check_names[i]));
    json_object_set_new(s, "checks", checks);

    json_t *sp = json_object();
    json_object_set_new(sp, "mode", json_string(job->seeding == EQ_SEEDING_NUM_RANDOM_OPS
                                                    ? "num_random_ops"
                                                    : "constant"));
    json_object_set_new(sp, "seed", json_integer(job->seed));
    json_object_set_new(sp, "operation_seed", json_integer(job->operation_seed));
    json_object_set_new(s, "seed_policy", sp);
    json_object_set_new(s, "fixed_weight_value", eq_report_number(job->fixed_weight_value));
    json_object_set_new(s, "eager_calls", json_integer(job->eager_calls));
    json_object_set_new(s, "eager_call", json_string(job->functional ? "functional" : "direct"));

    json_t *go = json_object();
    for (int p = 0; p < EQ_PASS_COUNT; p++)
        json_object_set_new(go, eq_graph_pass_name((eq_graph_pass)p),
                            json_boolean(job->graph.enabled[p]));
    json_object_set_new(s, "graph_options", go);

    json_t *tol = json_object();
    json_object_set_new(tol, "rtol", eq_report_number(job->rtol));
    json_object_set_new(tol, "atol", eq_report_number(job->atol));
    json_t *ov = json_object();
    for (int i = 0; i < job->n_overrides; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "rtol", eq_report_number(job->overrides[i].rtol));
        json_object_set_new(o, "atol", eq_report_number(job->overrides[i].atol));
        json_object_set_new(ov, job->overrides[i].name, o);
    }
    json_object_set_new(tol, "overrides", ov);
    json_object_set_new(s, "tolerances", tol);
    json_object_set_new(s, "name_map_rules", json_integer(eq_name_map_count(job->name_map)));
    json_object_set_new(s, "checkpoint", job->checkpoint ? json_string(job->checkpoint) : json_null());
    if (job->reference.present) {
        static const char *const srcs[] = {"tensors", "npy", "safetensors", "job"};
        static const char *const weights[] = {"fixed", "checkpoint", "random"};
        json_t *r = json_object();
        json_object_set_new(r, "source", json_string(srcs[job->reference.kind]));
        json_object_set_new(r, "weights", json_string(weights[job->reference.weights]));
        json_t *modes = json_array();
        if (job->reference.modes & EQ_REF_MODE_GRAPH)
            json_array_append_new(modes, json_string("graph"));
        if (job->reference.modes & EQ_REF_MODE_EAGER)
            json_array_append_new(modes, json_string("eager"));
        json_object_set_new(r, "modes", modes);
        json_object_set_new(s, "reference", r);
    } else {
        json_object_set_new(s, "reference", json_null());
    }
    return s;
}

static json_t *model_json(const eq_model *m, const char *source, eq_runner *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "name", json_string(m->name ? m->name : ""));
    if (r && eq_runner_calls(r) > 0) {
        eq_varstore *vs = eq_runner_vars(r);
        int trainable = 0;
        for (int i = 0; i < eq_varstore_count(vs); i++)
            trainable += eq_varstore_at(vs, i)->trainable != 0;
        json_object_set_new(o, "variables", json_integer(eq_varstore_count(vs)));
        json_object_set_new(o, "trainable_variables", json_integer(trainable));
        json_object_set_new(o, "parameters", json_integer(eq_varstore_params(vs)));
        json_object_set_new(o, "runner", json_string(eq_runner_describe(r)));
    }
    return o;
}

/* The report's "models" entry of a mode. */
static json_t *mode_model_json(const eq_job *job, eq_mode mode, eq_runner *r)
{
    return mode == EQ_MODE_GRAPH ? model_json(job->model, job->model_label, r)
                                 : model_json(job->eager_model, job->eager_model_label, r);
}

/* Whether a check runs on the shared runner of `mode` (the random checks
 * make their own). */
static int uses_shared(eq_check_id id, eq_mode mode)
{
    switch (id) {
    case EQ_CHECK_VARIABLES_ONCE: return mode == EQ_MODE_EAGER;
    case EQ_CHECK_RANDOM_INFERENCE:
    case EQ_CHECK_RANDOM_TRAINING: return 0;
    default: return 1;
    }
}

static eq_status run_check(job_run *run, eq_check_id id, json_t *check, eq_error *err)
{
    switch (id) {
    case EQ_CHECK_VARIABLES_ONCE: return eq_check_variables_once(run, check, err);
    case EQ_CHECK_MANIFEST: return eq_check_manifest(run, check, err);
    case EQ_CHECK_FIXED_WEIGHTS: return eq_check_fixed_weights(run, check, err);
    case EQ_CHECK_CHECKPOINT: return eq_check_checkpoint(run, check, err);
    case EQ_CHECK_RANDOM_INFERENCE: return eq_check_random(run, check, 0, err);
    case EQ_CHECK_RANDOM_TRAINING: return eq_check_random(run, check, 1, err);
    case EQ_CHECK_REFERENCE: return eq_check_reference(run, check, err);
    case EQ_CHECK_COUNT: break;
    }
    return eq_error_set(err, EQ_ERR_INVALID, "unknown check %d", (int)id);
}

/* "4 of 5 checks passed; fixed_weights failed: ..." */
static void overall_summary(json_t *report, const char *verdict)
{
    const json_t *checks = json_object_get(report, "checks");
    int counts[4] = {0}; /* pass, fail, error, skipped */
    const char *first_bad = NULL, *first_bad_summary = NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(checks, i, c) {
        const char *v = json_string_value(json_object_get(c, "verdict"));
        int k = strcmp(v, "pass") == 0 ? 0 : strcmp(v, "fail") == 0 ? 1 : strcmp(v, "error") == 0 ? 2 : 3;
        counts[k]++;
        if ((k == 1 || k == 2) && !first_bad) {
            first_bad = json_string_value(json_object_get(c, "name"));
            first_bad_summary = json_string_value(json_object_get(c, "summary"));
        }
    }
    json_t *cj = json_object();
    json_object_set_new(cj, "pass", json_integer(counts[0]));
    json_object_set_new(cj, "fail", json_integer(counts[1]));
    json_object_set_new(cj, "error", json_integer(counts[2]));
    json_object_set_new(cj, "skipped", json_integer(counts[3]));
    json_object_set_new(report, "check_counts", cj);
    char buf[1400];
    const json_t *jerr = json_object_get(report, "error");
    if (jerr && !first_bad)
        snprintf(buf, sizeof buf, "error: %s", json_string_value(json_object_get(jerr, "message")));
    else if (first_bad)
        snprintf(buf, sizeof buf, "%s: %d of %zu checks passed; %s: %s", verdict, counts[0],
                 json_array_size(checks), first_bad, first_bad_summary ? first_bad_summary : "");
    else
        snprintf(buf, sizeof buf, "%s: all %d checks passed", verdict, counts[0]);
    json_object_set_new(report, "summary", json_string(buf));
}

json_t *eq_job_run(eq_job *job, const eq_job_hooks *hooks, eq_error *err)
{
    double t0 = eq_now_seconds();
    json_t *report = json_object();
    json_t *checks = json_array();
    if (!report || !checks) {
        json_decref(report);
        json_decref(checks);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the report");
        return NULL;
    }
    json_object_set_new(report, "format", json_string(REPORT_FORMAT));
    json_object_set_new(report, "name", json_string(job->name));
    json_object_set_new(report, "verdict", json_string("error"));
    json_object_set_new(report, "job", json_deep_copy(job->spec));
    json_object_set_new(report, "settings", settings_json(job));
    json_object_set_new(report, "checks", checks);

    job_run run = {.job = job, .hooks = hooks};
    json_t *model_facts[2] = {NULL, NULL}; /* "models" of the report, by mode */
    run.passes_total = job_plan_passes(job);
    eq_error jerr;
    eq_error_clear(&jerr);
    int cancelled = 0, job_failed = 0;
    for (int i = 0; i < job->n_checks; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "name", json_string(job->check_names[i]));
        json_object_set_new(c, "verdict", json_string("skipped"));
        json_array_append_new(checks, c);
    }
    run.arena = eq_arena_new(0);
    if (!run.arena) {
        eq_error_set(&jerr, EQ_ERR_NOMEM, "out of memory for the job");
        job_failed = 1;
    } else if (build_input(&run, &jerr) != EQ_OK) {
        eq_error_prefix(&jerr, "input: ");
        job_failed = 1;
    }
    const char *verdict = "pass";
    for (int i = 0; i < job->n_checks; i++) {
        json_t *c = json_array_get(checks, (size_t)i);
        if (job_failed || cancelled) {
            json_object_set_new(c, "summary", json_string(cancelled ? "not run: the job was cancelled"
                                                                    : "not run: the job failed"));
            continue;
        }
        run.check = job->check_names[i];
        run.check_passes = 0;
        run.check_pass_seconds = 0;
        double tc = eq_now_seconds();
        eq_error cerr;
        eq_error_clear(&cerr);
        eq_status st = run_check(&run, job->checks[i], c, &cerr);
        json_object_set_new(c, "seconds", eq_report_number(eq_now_seconds() - tc));
        json_object_set_new(c, "pass_seconds", eq_report_number(run.check_pass_seconds));
        json_object_set_new(c, "passes", json_integer(run.check_passes));
        if (st != EQ_OK) {
            json_object_set_new(c, "verdict", json_string("error"));
            char sum[1200];
            snprintf(sum, sizeof sum, "error: %s%s%s", cerr.path[0] ? cerr.path : "",
                     cerr.path[0] ? ": " : "", cerr.message);
            json_object_set_new(c, "summary", json_string(sum));
            json_object_set_new(c, "error", eq_report_error_json(&cerr));
            if (st == EQ_ERR_CANCELLED) {
                cancelled = 1;
                jerr = cerr;
            }
            /* A runner that failed mid-call is in no state to share. */
            for (int m = 0; m < 2; m++) {
                job_runner_free(&run, run.shared[m]);
                run.shared[m] = NULL;
            }
        }
        /* A shared runner no later check uses goes now (its model facts
         * kept for the report): the random checks build two more models,
         * and four at once doubled a job's peak memory. */
        for (int m = 0; m < 2; m++) {
            int later = 0;
            for (int j = i + 1; j < job->n_checks; j++)
                later |= uses_shared(job->checks[j], (eq_mode)m);
            if (run.shared[m] && !later) {
                json_decref(model_facts[m]);
                model_facts[m] = mode_model_json(job, (eq_mode)m, run.shared[m]);
                job_runner_free(&run, run.shared[m]);
                run.shared[m] = NULL;
            }
        }
        verdict = eq_report_combine(verdict, json_string_value(json_object_get(c, "verdict")));
    }
    if (job_failed || cancelled) {
        verdict = "error";
        json_object_set_new(report, "error", eq_report_error_json(&jerr));
    }
    json_object_set_new(report, "verdict", json_string(verdict));
    json_object_set_new(report, "status", json_string(cancelled ? "cancelled" : job_failed ? "failed" : "completed"));

    json_t *models = json_object();
    for (int m = 0; m < 2; m++)
        if (!model_facts[m])
            model_facts[m] = mode_model_json(job, (eq_mode)m, run.shared[m]);
    json_object_set_new(models, "graph", model_facts[EQ_MODE_GRAPH]);
    json_object_set_new(models, "eager", model_facts[EQ_MODE_EAGER]);
    json_object_set_new(report, "models", models);
    job_runner_free(&run, run.shared[EQ_MODE_GRAPH]);
    job_runner_free(&run, run.shared[EQ_MODE_EAGER]);
    eq_arena_free(run.arena);

    double wall = eq_now_seconds() - t0;
    json_t *timing = json_object();
    json_object_set_new(timing, "wall_seconds", eq_report_number(wall));
    json_object_set_new(timing, "pass_seconds", eq_report_number(run.pass_seconds));
    json_object_set_new(timing, "overhead_seconds", eq_report_number(wall - run.pass_seconds));
    json_object_set_new(timing, "overhead_fraction",
                        eq_report_number(wall > 0 ? (wall - run.pass_seconds) / wall : 0));
    json_object_set_new(timing, "passes", json_integer(run.passes_done));
    json_object_set_new(timing, "planned_passes", json_integer(job_plan_passes(job)));
    json_object_set_new(report, "timing", timing);
    /* Each runner holds a whole model (variables, packed filters,
     * activations): the most alive at once is the job's memory multiplier.
     * Activations per mode tell what a batch size costs. */
    json_t *acts = json_object();
    for (int m = EQ_MODE_EAGER; m <= EQ_MODE_GRAPH; m++)
        if (run.activation_max[m])
            json_object_set_new(acts, eq_mode_name((eq_mode)m),
                                json_integer((json_int_t)run.activation_max[m]));
    json_object_set_new(report, "resources",
                        json_pack("{s:i, s:o}", "runners_at_once", run.runners_max,
                                  "activation_bytes", acts));
    /* Which kernels and how many threads computed these numbers: a kernel
     * set or thread count change can move results by an ulp. */
    const eq_blas_info *bi = eq_blas_info_get();
    json_object_set_new(report, "engine",
                        json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s}", "blis_arch", bi->arch,
                                  "blis_arch_id", bi->arch_id, "blis_arch_source", bi->source,
                                  "conv_gemm", eq_gemm_packed_enabled() ? "packed-avx512" : "blis",
                                  "threads", bi->threads, "cpu_features", bi->cpu_features,
                                  "version", PACKAGE_VERSION));
    overall_summary(report, verdict);
    return report;
}
