/* eq_job_parse.c - a job's JSON into an eq_job, with path-precise errors.
 *
 * Every object is first held to the field table (eq_job_rules.c): unknown
 * fields, wrong JSON types and unknown enum values are reported with their
 * path before any value is read. What the table cannot say (ranges, one of
 * several input forms, a check that needs a file) is checked here, again
 * with the path of the offending value. Models are parsed by the model
 * language (eq_model_parse) under the prefix "model" / "eager_model", so a
 * model error reads "model.body[3].conv2d.stride".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eq_alloc.h"
#include "eq_job_internal.h"
#include "eq_job_rules.h"
#include "eq_zoo.h"

/* ---- small helpers -------------------------------------------------------- */

static const char *const k_check_names[EQ_CHECK_COUNT] = {
    "variables_once", "manifest", "fixed_weights", "checkpoint",
    "random_inference", "random_training", "reference"};

const char *eq_check_name(eq_check_id id)
{
    EQ_ASSERT(id >= 0 && id < EQ_CHECK_COUNT);
    return k_check_names[id];
}

int eq_check_from_name(const char *name, eq_check_id *out)
{
    for (int i = 0; i < EQ_CHECK_COUNT; i++)
        if (strcmp(k_check_names[i], name) == 0) {
            *out = (eq_check_id)i;
            return 1;
        }
    return 0;
}

static char *dup_or_null(const char *s, eq_error *err)
{
    char *d = eq_strdup(s);
    if (!d)
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
    return d;
}

static double num(const json_t *v) { return json_number_value(v); }

/* A finite number >= 0 (tolerances). */
static eq_status nonneg_number(const json_t *v, const char *path, double *out, eq_error *err)
{
    double d = num(v);
    if (!isfinite(d) || d < 0)
        return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                 "expected a finite number >= 0, got %g", d);
    *out = d;
    return EQ_OK;
}

void eq_job_default_graph_options(eq_graph_options *o)
{
    /* Every pass, as a TF1 session optimises by default. Two of them
     * (arithmetic, fold_batch_norm) change rounding; on Inception-ResNet-v2
     * the largest difference they cause is about 15 times below the default
     * atol (docs/graph-passes.md has the measurements), so the default job
     * passes with them on and a job that wants bit-identical results
     * switches them off. */
    for (int p = 0; p < EQ_PASS_COUNT; p++)
        o->enabled[p] = 1;
}

void eq_job_tolerance(const eq_job *job, const char *name, double *rtol, double *atol)
{
    *rtol = job->rtol;
    *atol = job->atol;
    for (int i = 0; name && i < job->n_overrides; i++)
        if (strcmp(job->overrides[i].name, name) == 0) {
            *rtol = job->overrides[i].rtol;
            *atol = job->overrides[i].atol;
            return;
        }
}

eq_status eq_job_resolve_file(const eq_job_env *env, const char *file, const char *path,
                              char **out, eq_error *err)
{
    *out = NULL;
    if (!file[0])
        return eq_error_set_path(err, EQ_ERR_INVALID, path, "expected a file name, got \"\"");
    int confined = env && env->files_confined;
    if (confined) {
        if (file[0] == '/')
            return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                     "'%s': absolute paths are not allowed here; name a file "
                                     "relative to the file directory",
                                     file);
        for (const char *p = file; *p;) {
            const char *slash = strchr(p, '/');
            size_t len = slash ? (size_t)(slash - p) : strlen(p);
            if (len == 2 && p[0] == '.' && p[1] == '.')
                return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                         "'%s': '..' is not allowed here; files must stay "
                                         "inside the file directory",
                                         file);
            p += len;
            if (*p == '/')
                p++;
        }
    }
    const char *dir = env ? env->file_dir : NULL;
    char buf[4096];
    if (dir && dir[0] && file[0] != '/')
        snprintf(buf, sizeof buf, "%s/%s", dir, file);
    else
        snprintf(buf, sizeof buf, "%s", file);
    if (access(buf, R_OK) != 0)
        return eq_error_set_path(err, EQ_ERR_IO, path, "cannot read '%s': %s", file,
                                 strerror(errno));
    *out = dup_or_null(buf, err);
    return *out ? EQ_OK : EQ_ERR_NOMEM;
}

/* ---- tensors as JSON: {"shape": [...], "data": [...]} ------------------ */

static eq_status parse_shape(const json_t *a, const char *path, int *rank, int64_t *shape,
                             int allow_any, eq_error *err)
{
    if (!json_is_array(a))
        return eq_error_set_path(err, EQ_ERR_INVALID, path, "expected an array of dimensions");
    size_t n = json_array_size(a);
    if (n > EQ_MAX_RANK)
        return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                 "rank %zu is more than the %d dimensions supported", n,
                                 EQ_MAX_RANK);
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(a, i);
        char p[300];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (!json_is_integer(d) || json_integer_value(d) < (allow_any ? -1 : 1))
            return eq_error_set_path(err, EQ_ERR_INVALID, p,
                                     "expected a positive integer dimension");
        shape[i] = json_integer_value(d);
    }
    *rank = (int)n;
    for (int i = (int)n; i < EQ_MAX_RANK; i++)
        shape[i] = 1;
    if (eq_shape_numel(*rank, shape) > ((int64_t)1 << 31))
        return eq_error_set_path(err, EQ_ERR_LIMIT, path,
                                 "shape has more than 2^31 elements");
    return EQ_OK;
}

/* Flatten nested arrays of numbers; record the nesting as a shape. */
static eq_status flatten(const json_t *a, const char *path, int depth, int *rank,
                         int64_t *shape, double *out, int64_t *count, int64_t cap, eq_error *err)
{
    if (json_is_number(a)) {
        if (*rank < 0)
            *rank = depth;
        else if (*rank != depth)
            return eq_error_set_path(err, EQ_ERR_SHAPE, path,
                                     "ragged nesting: a number at depth %d, elsewhere %d",
                                     depth, *rank);
        if (*count < cap && out)
            out[*count] = num(a);
        (*count)++;
        return EQ_OK;
    }
    if (!json_is_array(a))
        return eq_error_set_path(err, EQ_ERR_INVALID, path, "expected a number or an array");
    if (depth >= EQ_MAX_RANK)
        return eq_error_set_path(err, EQ_ERR_INVALID, path, "nested deeper than %d levels",
                                 EQ_MAX_RANK);
    int64_t n = (int64_t)json_array_size(a);
    if (*rank >= 0 && depth >= *rank)
        return eq_error_set_path(err, EQ_ERR_SHAPE, path,
                                 "ragged nesting: an array at depth %d, numbers at depth %d",
                                 depth, *rank);
    if (shape[depth] < 0)
        shape[depth] = n;
    else if (shape[depth] != n)
        return eq_error_set_path(err, EQ_ERR_SHAPE, path,
                                 "ragged nesting: %lld entries here, %lld in a sibling",
                                 (long long)n, (long long)shape[depth]);
    if (n == 0 && *rank < 0)
        *rank = depth + 1;
    for (int64_t i = 0; i < n; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s[%lld]", path, (long long)i);
        eq_status st = flatten(json_array_get(a, (size_t)i), p, depth + 1, rank, shape, out,
                               count, cap, err);
        if (st != EQ_OK)
            return st;
    }
    return EQ_OK;
}

eq_status eq_job_data_parse(const json_t *data, const json_t *shape_json, const char *path,
                            int *rank, int64_t *shape, double **values, eq_error *err)
{
    char dpath[300], spath[300];
    job_path_join(dpath, sizeof dpath, path, "data");
    job_path_join(spath, sizeof spath, path, "shape");
    int nest_rank = -1;
    int64_t nest[EQ_MAX_RANK];
    for (int i = 0; i < EQ_MAX_RANK; i++)
        nest[i] = -1;
    int64_t count = 0;
    eq_status st = flatten(data, dpath, 0, &nest_rank, nest, NULL, &count, 0, err);
    if (st != EQ_OK)
        return st;
    if (shape_json) {
        if ((st = parse_shape(shape_json, spath, rank, shape, 0, err)) != EQ_OK)
            return st;
        if (eq_shape_numel(*rank, shape) != count) {
            char sb[96];
            return eq_error_set_path(err, EQ_ERR_SHAPE, dpath,
                                     "%lld numbers, but shape %s holds %lld", (long long)count,
                                     eq_shape_str(*rank, shape, sb, sizeof sb),
                                     (long long)eq_shape_numel(*rank, shape));
        }
    } else {
        if (nest_rank < 0)
            nest_rank = 1; /* [] */
        *rank = nest_rank;
        for (int i = 0; i < EQ_MAX_RANK; i++)
            shape[i] = i < nest_rank ? (nest[i] < 0 ? 0 : nest[i]) : 1;
    }
    if (!values)
        return EQ_OK;
    *values = eq_malloc((size_t)(count > 0 ? count : 1) * sizeof **values);
    if (!*values)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for %lld numbers",
                            (long long)count);
    int r2 = -1;
    int64_t s2[EQ_MAX_RANK];
    for (int i = 0; i < EQ_MAX_RANK; i++)
        s2[i] = -1;
    int64_t c2 = 0;
    return flatten(data, dpath, 0, &r2, s2, *values, &c2, count, err);
}

/* ---- pieces of the job ------------------------------------------------- */

static eq_model *load_model(const json_t *spec, const char *path, char **label, eq_error *err)
{
    if (!json_object_get(spec, "zoo")) {
        *label = dup_or_null("inline", err);
        if (!*label)
            return NULL;
        return eq_model_parse(spec, NULL, path, err);
    }
    if (job_check_object(spec, job_rules_object("zoo_model"), path, err) != EQ_OK)
        return NULL;
    const char *name = json_string_value(json_object_get(spec, "zoo"));
    char zpath[300];
    job_path_join(zpath, sizeof zpath, path, "zoo");
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            eq_error_set_path(err, EQ_ERR_INVALID, zpath,
                              "zoo model names are lower-case letters, digits and '_', got "
                              "'%s'",
                              name);
            return NULL;
        }
    char file[4096];
    if (eq_zoo_find(name, file, sizeof file, err) != EQ_OK) {
        if (err)
            snprintf(err->path, sizeof err->path, "%s", zpath);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(file, 0, &jerr);
    if (!doc) {
        eq_error_set_path(err, EQ_ERR_IO, zpath, "zoo model '%s' (%s): %s at line %d", name,
                          file, jerr.text, jerr.line);
        return NULL;
    }
    size_t cap = strlen(name) + 5;
    *label = eq_malloc(cap);
    if (!*label) {
        json_decref(doc);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
        return NULL;
    }
    snprintf(*label, cap, "zoo:%s", name);
    eq_model *m = eq_model_parse(doc, json_object_get(spec, "args"), path, err);
    json_decref(doc);
    if (!m && err) {
        /* The model parser names zoo arguments "args.x"; in a job they live
         * under the model's path. Anything else is inside the zoo file. */
        if (strncmp(err->path, "args", 4) == 0 &&
            (err->path[4] == '\0' || err->path[4] == '.' || err->path[4] == '[')) {
            char p[sizeof err->path];
            snprintf(p, sizeof p, "%s.%s", path, err->path);
            memcpy(err->path, p, sizeof p);
        } else {
            eq_error_prefix(err, "zoo model '%s': ", name);
        }
    }
    return m;
}

static eq_status parse_input(eq_job *job, const json_t *in, eq_error *err)
{
    eq_job_input *x = &job->input;
    x->kind = EQ_INPUT_FILL;
    x->fill = EQ_FILL_ONES;
    x->minval = 0.0;
    x->maxval = 1.0;
    eq_status st;
    if (in && (st = job_check_object(in, job_rules_object("input"), "input", err)) != EQ_OK)
        return st;
    const char *forms[] = {"fill", "data", "npy", "safetensors"};
    int nforms = 0;
    const char *form = NULL;
    for (int i = 0; in && i < 4; i++)
        if (json_object_get(in, forms[i])) {
            nforms++;
            form = forms[i];
        }
    if (in && nforms > 1)
        return eq_error_set_path(err, EQ_ERR_INVALID, "input",
                                 "give exactly one of fill, data, npy, safetensors");
    if (in && nforms == 0 && !json_object_get(in, "shape"))
        return eq_error_set_path(err, EQ_ERR_INVALID, "input",
                                 "give one of fill, data, npy, safetensors");
    /* Fields that belong to one form only. */
    static const struct {
        const char *field, *form;
    } owner[] = {{"seed", "fill"}, {"min", "fill"}, {"max", "fill"}, {"tensor", "safetensors"}};
    for (size_t i = 0; in && i < sizeof owner / sizeof owner[0]; i++) {
        if (!json_object_get(in, owner[i].field))
            continue;
        int ok = form && strcmp(form, owner[i].form) == 0;
        if (ok && strcmp(owner[i].form, "fill") == 0)
            ok = strcmp(json_string_value(json_object_get(in, "fill")), "uniform") == 0;
        if (!ok) {
            char p[64];
            snprintf(p, sizeof p, "input.%s", owner[i].field);
            return eq_error_set_path(err, EQ_ERR_INVALID, p, "'%s' applies only to %s",
                                     owner[i].field,
                                     strcmp(owner[i].form, "fill") == 0
                                         ? "\"fill\": \"uniform\""
                                         : "\"safetensors\" input");
        }
    }
    const json_t *shape = in ? json_object_get(in, "shape") : NULL;
    if (form && (strcmp(form, "npy") == 0 || strcmp(form, "safetensors") == 0)) {
        if (shape)
            return eq_error_set_path(err, EQ_ERR_INVALID, "input.shape",
                                     "a file input takes its shape from the file");
        x->kind = strcmp(form, "npy") == 0 ? EQ_INPUT_NPY : EQ_INPUT_SAFETENSORS;
        char p[32];
        snprintf(p, sizeof p, "input.%s", form);
        if ((st = eq_job_resolve_file(&job->env, json_string_value(json_object_get(in, form)),
                                      p, &x->file, err)) != EQ_OK)
            return st;
        if (x->kind == EQ_INPUT_SAFETENSORS) {
            const json_t *t = json_object_get(in, "tensor");
            if (!t)
                return eq_error_set_path(err, EQ_ERR_INVALID, "input",
                                         "a safetensors input needs \"tensor\": the name of "
                                         "the tensor in the file");
            if (!(x->tensor = dup_or_null(json_string_value(t), err)))
                return EQ_ERR_NOMEM;
        }
        return EQ_OK;
    }
    if (form && strcmp(form, "data") == 0) {
        x->kind = EQ_INPUT_DATA;
        st = eq_job_data_parse(json_object_get(in, "data"), shape, "input", &x->rank, x->shape,
                               &x->data, err);
        if (st != EQ_OK)
            return st;
    } else {
        if (form) {
            const char *f = json_string_value(json_object_get(in, "fill"));
            x->fill = strcmp(f, "zeros") == 0   ? EQ_FILL_ZEROS
                      : strcmp(f, "uniform") == 0 ? EQ_FILL_UNIFORM
                                                  : EQ_FILL_ONES;
        }
        const json_t *v;
        if (in && (v = json_object_get(in, "seed"))) {
            if (json_integer_value(v) < 0)
                return eq_error_set_path(err, EQ_ERR_INVALID, "input.seed",
                                         "expected an integer >= 0, got %lld",
                                         (long long)json_integer_value(v));
            x->seed = json_integer_value(v);
        }
        if (in && (v = json_object_get(in, "min")))
            x->minval = num(v);
        if (in && (v = json_object_get(in, "max")))
            x->maxval = num(v);
        if (!(x->minval < x->maxval) || !isfinite(x->minval) || !isfinite(x->maxval))
            return eq_error_set_path(err, EQ_ERR_INVALID, "input.max",
                                     "need finite min < max, got [%g, %g)", x->minval,
                                     x->maxval);
        if (shape) {
            if ((st = parse_shape(shape, "input.shape", &x->rank, x->shape, 0, err)) != EQ_OK)
                return st;
        } else {
            const eq_model *m = job->model;
            if (m->input_rank == 0)
                return eq_error_set_path(err, EQ_ERR_INVALID, "input.shape",
                                         "the model declares no input shape; give "
                                         "input.shape");
            /* The declared shape with "any" dimensions (the batch) as 1. */
            x->rank = m->input_rank;
            for (int i = 0; i < EQ_MAX_RANK; i++)
                x->shape[i] = i < m->input_rank && m->input_shape[i] > 0 ? m->input_shape[i] : 1;
        }
    }
    /* A known shape must fit what each model declares. */
    const eq_model *models[2] = {job->model, job->eager_model};
    for (int k = 0; k < 2; k++) {
        const eq_model *m = models[k];
        if (m->input_rank == 0 || (k == 1 && m == models[0]))
            continue;
        int ok = m->input_rank == x->rank;
        for (int i = 0; ok && i < x->rank; i++)
            ok = m->input_shape[i] < 0 || m->input_shape[i] == x->shape[i];
        if (!ok) {
            char want[96], got[96];
            eq_shape_str(m->input_rank, m->input_shape, want, sizeof want);
            eq_shape_str(x->rank, x->shape, got, sizeof got);
            return eq_error_set_path(err, EQ_ERR_SHAPE,
                                     x->kind == EQ_INPUT_DATA ? "input.data" : "input.shape",
                                     "%s declares input shape %s (-1: any), the input is %s",
                                     k ? "eager_model" : "model", want, got);
        }
    }
    return EQ_OK;
}

static eq_status parse_seed_policy(eq_job *job, const json_t *sp, eq_error *err)
{
    job->seeding = EQ_SEEDING_CONSTANT;
    job->seed = EQ_JOB_DEFAULT_SEED;
    job->operation_seed = 0;
    if (!sp)
        return EQ_OK;
    const char *mode = NULL;
    if (json_is_string(sp)) {
        mode = json_string_value(sp);
    } else {
        eq_status st = job_check_object(sp, job_rules_object("seed_policy"), "seed_policy", err);
        if (st != EQ_OK)
            return st;
        const json_t *v = json_object_get(sp, "mode");
        mode = v ? json_string_value(v) : "constant";
        if ((v = json_object_get(sp, "seed"))) {
            if (json_integer_value(v) < 0)
                return eq_error_set_path(err, EQ_ERR_INVALID, "seed_policy.seed",
                                         "expected an integer >= 0, got %lld",
                                         (long long)json_integer_value(v));
            job->seed = json_integer_value(v);
        }
        if ((v = json_object_get(sp, "operation_seed"))) {
            if (json_integer_value(v) < 0)
                return eq_error_set_path(err, EQ_ERR_INVALID, "seed_policy.operation_seed",
                                         "expected an integer >= 0, got %lld",
                                         (long long)json_integer_value(v));
            job->operation_seed = json_integer_value(v);
        }
        /* The tool hands (seed, operation_seed) to the kernel unchanged, and
         * TF treats the pair (0, 0) as "unseeded": nondeterministic. */
        if (job->seed == 0 && job->operation_seed == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, "seed_policy.seed",
                                     "seed 0 with operation_seed 0 gives the first random op "
                                     "the pair (0, 0), which TensorFlow treats as unseeded "
                                     "(nondeterministic); use another seed");
    }
    job->seeding = strcmp(mode, "num_random_ops") == 0 ? EQ_SEEDING_NUM_RANDOM_OPS
                                                      : EQ_SEEDING_CONSTANT;
    return EQ_OK;
}

static eq_status parse_graph_options(eq_job *job, const json_t *go, eq_error *err)
{
    eq_job_default_graph_options(&job->graph);
    if (!go)
        return EQ_OK;
    eq_status st = job_check_object(go, job_rules_object("graph_options"), "graph_options", err);
    if (st != EQ_OK)
        return st;
    /* The table lists the passes in eq_graph_pass order (test_checks holds
     * it to eq_graph_pass_name), so a field's index is its pass. */
    const job_object *rules = job_rules_object("graph_options");
    EQ_ASSERT(rules->n == EQ_PASS_COUNT);
    for (size_t p = 0; p < rules->n; p++) {
        const json_t *v = json_object_get(go, rules->fields[p].name);
        if (v)
            job->graph.enabled[p] = json_is_true(v);
    }
    return EQ_OK;
}

static eq_status parse_tolerance_pair(const json_t *o, const char *path, double *rtol,
                                      double *atol, eq_error *err)
{
    const json_t *v;
    char p[300];
    eq_status st;
    if ((v = json_object_get(o, "rtol"))) {
        job_path_join(p, sizeof p, path, "rtol");
        if ((st = nonneg_number(v, p, rtol, err)) != EQ_OK)
            return st;
    }
    if ((v = json_object_get(o, "atol"))) {
        job_path_join(p, sizeof p, path, "atol");
        if ((st = nonneg_number(v, p, atol, err)) != EQ_OK)
            return st;
    }
    return EQ_OK;
}

static eq_status parse_tolerances(eq_job *job, const json_t *t, eq_error *err)
{
    job->rtol = EQ_JOB_DEFAULT_RTOL;
    job->atol = EQ_JOB_DEFAULT_ATOL;
    if (!t)
        return EQ_OK;
    eq_status st = job_check_object(t, job_rules_object("tolerances"), "tolerances", err);
    if (st == EQ_OK)
        st = parse_tolerance_pair(t, "tolerances", &job->rtol, &job->atol, err);
    if (st != EQ_OK)
        return st;
    const json_t *ov = json_object_get(t, "overrides");
    if (!ov || json_object_size(ov) == 0)
        return EQ_OK;
    job->overrides = eq_calloc(json_object_size(ov), sizeof *job->overrides);
    if (!job->overrides)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)ov, key, v) {
        char path[300];
        snprintf(path, sizeof path, "tolerances.overrides.%s", key);
        if ((st = job_check_object(v, job_rules_object("tolerance"), path, err)) != EQ_OK)
            return st;
        if (json_object_size(v) == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, path, "give rtol, atol or both");
        eq_tol_override *o = &job->overrides[job->n_overrides];
        o->rtol = job->rtol;
        o->atol = job->atol;
        if ((st = parse_tolerance_pair(v, path, &o->rtol, &o->atol, err)) != EQ_OK)
            return st;
        if (!(o->name = dup_or_null(key, err)))
            return EQ_ERR_NOMEM;
        job->n_overrides++;
    }
    return EQ_OK;
}

static eq_status parse_reference(eq_job *job, const json_t *r, eq_error *err)
{
    eq_job_reference *ref = &job->reference;
    if (!r)
        return EQ_OK;
    eq_status st = job_check_object(r, job_rules_object("reference"), "reference", err);
    if (st != EQ_OK)
        return st;
    static const char *forms[] = {"tensors", "npy", "safetensors", "job"};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (json_object_get(r, forms[i])) {
            ref->kind = (eq_ref_kind)i;
            n++;
        }
    if (n != 1)
        return eq_error_set_path(err, EQ_ERR_INVALID, "reference",
                                 "give exactly one of tensors, npy, safetensors, job");
    ref->present = 1;
    ref->modes = EQ_REF_MODE_GRAPH | EQ_REF_MODE_EAGER;
    const json_t *modes = json_object_get(r, "modes");
    if (modes) {
        if (json_array_size(modes) == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, "reference.modes",
                                     "expected at least one of graph, eager");
        ref->modes = 0;
        size_t i;
        const json_t *m;
        json_array_foreach(modes, i, m)
            ref->modes |= strcmp(json_string_value(m), "graph") == 0 ? EQ_REF_MODE_GRAPH
                                                                     : EQ_REF_MODE_EAGER;
    }
    /* Golden outputs are pinned with the checkpoint when there is one. */
    ref->weights = job->checkpoint ? EQ_REF_WEIGHTS_CHECKPOINT : EQ_REF_WEIGHTS_FIXED;
    const json_t *w = json_object_get(r, "weights");
    if (w) {
        const char *ws = json_string_value(w);
        ref->weights = strcmp(ws, "checkpoint") == 0 ? EQ_REF_WEIGHTS_CHECKPOINT
                       : strcmp(ws, "random") == 0   ? EQ_REF_WEIGHTS_RANDOM
                                                     : EQ_REF_WEIGHTS_FIXED;
        if (ref->weights == EQ_REF_WEIGHTS_CHECKPOINT && !job->checkpoint)
            return eq_error_set_path(err, EQ_ERR_INVALID, "reference.weights",
                                     "\"checkpoint\" weights need the job's \"checkpoint\" "
                                     "file");
    }
    const char *key;
    const json_t *v;
    switch (ref->kind) {
    case EQ_REF_INLINE: {
        const json_t *ts = json_object_get(r, "tensors");
        if (json_object_size(ts) == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, "reference.tensors",
                                     "expected at least one tensor");
        json_object_foreach((json_t *)ts, key, v) {
            char path[300];
            snprintf(path, sizeof path, "reference.tensors.%s", key);
            if ((st = job_check_object(v, job_rules_object("tensor"), path, err)) != EQ_OK)
                return st;
            if (!json_object_get(v, "data"))
                return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                         "a tensor needs \"data\" (and optionally \"shape\")");
            int rank;
            int64_t shape[EQ_MAX_RANK];
            if ((st = eq_job_data_parse(json_object_get(v, "data"), json_object_get(v, "shape"),
                                        path, &rank, shape, NULL, err)) != EQ_OK)
                return st;
        }
        ref->tensors = json_incref((json_t *)ts);
        break;
    }
    case EQ_REF_NPY: {
        const json_t *files = json_object_get(r, "npy");
        if (json_object_size(files) == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, "reference.npy",
                                     "expected at least one {\"tensor name\": \"file.npy\"}");
        ref->tensors = json_object();
        if (!ref->tensors)
            return eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
        json_object_foreach((json_t *)files, key, v) {
            char path[300];
            snprintf(path, sizeof path, "reference.npy.%s", key);
            if (!json_is_string(v))
                return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                         "expected a .npy file name");
            char *file;
            if ((st = eq_job_resolve_file(&job->env, json_string_value(v), path, &file,
                                          err)) != EQ_OK)
                return st;
            json_object_set_new(ref->tensors, key, json_string(file));
            eq_free(file);
        }
        break;
    }
    case EQ_REF_SAFETENSORS:
        return eq_job_resolve_file(&job->env,
                                   json_string_value(json_object_get(r, "safetensors")),
                                   "reference.safetensors", &ref->file, err);
    case EQ_REF_JOB:
        ref->job_id = json_integer_value(json_object_get(r, "job"));
        if (ref->job_id < 1)
            return eq_error_set_path(err, EQ_ERR_INVALID, "reference.job",
                                     "expected a job id >= 1, got %lld",
                                     (long long)ref->job_id);
        if (!job->env.load_job_outputs)
            return eq_error_set_path(err, EQ_ERR_UNSUPPORTED, "reference.job",
                                     "outputs of earlier jobs are only available through the "
                                     "server (equivd serve); use tensors, npy or safetensors");
        break;
    }
    return EQ_OK;
}

static eq_status parse_checks(eq_job *job, const json_t *checks, eq_error *err)
{
    int want[EQ_CHECK_COUNT] = {0};
    if (!checks) {
        /* All that apply. */
        for (int i = 0; i < EQ_CHECK_COUNT; i++)
            want[i] = 1;
        want[EQ_CHECK_CHECKPOINT] = job->checkpoint != NULL;
        want[EQ_CHECK_REFERENCE] = job->reference.present;
    } else {
        if (json_array_size(checks) == 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, "checks",
                                     "expected at least one check (leave \"checks\" out to run "
                                     "all that apply)");
        size_t i;
        const json_t *c;
        json_array_foreach(checks, i, c) {
            char path[64];
            snprintf(path, sizeof path, "checks[%zu]", i);
            eq_check_id id;
            if (!eq_check_from_name(json_string_value(c), &id))
                return eq_error_set_path(err, EQ_ERR_INVALID, path, "unknown check '%s'",
                                         json_string_value(c));
            if (want[id])
                return eq_error_set_path(err, EQ_ERR_INVALID, path, "'%s' is listed twice",
                                         json_string_value(c));
            if (id == EQ_CHECK_CHECKPOINT && !job->checkpoint)
                return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                         "the checkpoint check needs \"checkpoint\": a "
                                         "safetensors file");
            if (id == EQ_CHECK_REFERENCE && !job->reference.present)
                return eq_error_set_path(err, EQ_ERR_INVALID, path,
                                         "the reference check needs \"reference\": the "
                                         "tensors to compare with");
            want[id] = 1;
        }
    }
    /* Checks run in the guide's order whatever order they were listed in. */
    for (int i = 0; i < EQ_CHECK_COUNT; i++)
        if (want[i]) {
            job->checks[job->n_checks] = (eq_check_id)i;
            job->check_names[job->n_checks] = k_check_names[i];
            job->n_checks++;
        }
    job->check_names[job->n_checks] = NULL;
    return EQ_OK;
}

/* ---- the job ------------------------------------------------------------- */

eq_job *eq_job_parse(const json_t *spec, const eq_job_env *env, eq_error *err)
{
    eq_job *job = eq_calloc(1, sizeof *job);
    if (!job) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
        return NULL;
    }
    if (env)
        job->env = *env;
    eq_status st;
    const json_t *v;
    if (!spec || !json_is_object(spec)) {
        eq_error_set_path(err, EQ_ERR_INVALID, "", "a job is a JSON object");
        goto fail;
    }
    if ((st = job_check_object(spec, job_rules_object("job"), "", err)) != EQ_OK)
        goto fail;
    job->spec = json_deep_copy(spec);
    if (!job->spec) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory parsing the job");
        goto fail;
    }
    v = json_object_get(spec, "name");
    if (!(job->name = dup_or_null(v ? json_string_value(v) : "", err)))
        goto fail;

    v = json_object_get(spec, "model");
    if (!v) {
        eq_error_set_path(err, EQ_ERR_INVALID, "model",
                          "a job needs a model: inline, or {\"zoo\": NAME, \"args\": {...}}");
        goto fail;
    }
    if (!(job->model = load_model(v, "model", &job->model_label, err)))
        goto fail;
    if ((v = json_object_get(spec, "eager_model"))) {
        if (!(job->eager_model = load_model(v, "eager_model", &job->eager_model_label, err)))
            goto fail;
    } else {
        job->eager_model = job->model;
        if (!(job->eager_model_label = dup_or_null(job->model_label, err)))
            goto fail;
    }

    if (!(job->name_map = eq_name_map_new(json_object_get(spec, "name_map"), "name_map", err)))
        goto fail;
    if ((st = parse_input(job, json_object_get(spec, "input"), err)) != EQ_OK)
        goto fail;
    if ((st = parse_seed_policy(job, json_object_get(spec, "seed_policy"), err)) != EQ_OK)
        goto fail;

    job->fixed_weight_value = EQ_JOB_DEFAULT_FIXED_WEIGHT;
    if ((v = json_object_get(spec, "fixed_weight_value"))) {
        job->fixed_weight_value = num(v);
        if (!isfinite(job->fixed_weight_value)) {
            eq_error_set_path(err, EQ_ERR_INVALID, "fixed_weight_value",
                              "expected a finite number");
            goto fail;
        }
    }
    job->eager_calls = EQ_JOB_DEFAULT_EAGER_CALLS;
    if ((v = json_object_get(spec, "eager_calls"))) {
        json_int_t n = json_integer_value(v);
        if (n < 2 || n > EQ_JOB_MAX_EAGER_CALLS) {
            eq_error_set_path(err, EQ_ERR_INVALID, "eager_calls",
                              "expected an integer from 2 to %d (a variable created after "
                              "call 1 needs a second call to show), got %lld",
                              EQ_JOB_MAX_EAGER_CALLS, (long long)n);
            goto fail;
        }
        job->eager_calls = (int)n;
    }
    v = json_object_get(spec, "eager_call");
    job->functional = v && strcmp(json_string_value(v), "functional") == 0;

    if ((st = parse_graph_options(job, json_object_get(spec, "graph_options"), err)) != EQ_OK)
        goto fail;
    if ((st = parse_tolerances(job, json_object_get(spec, "tolerances"), err)) != EQ_OK)
        goto fail;
    if ((v = json_object_get(spec, "checkpoint")) &&
        (st = eq_job_resolve_file(&job->env, json_string_value(v), "checkpoint",
                                  &job->checkpoint, err)) != EQ_OK)
        goto fail;
    if ((st = parse_reference(job, json_object_get(spec, "reference"), err)) != EQ_OK)
        goto fail;
    if ((st = parse_checks(job, json_object_get(spec, "checks"), err)) != EQ_OK)
        goto fail;
    return job;
fail:
    eq_job_free(job);
    return NULL;
}

void eq_job_free(eq_job *job)
{
    if (!job)
        return;
    if (job->eager_model && job->eager_model != job->model)
        eq_model_free(job->eager_model);
    if (job->model)
        eq_model_free(job->model);
    json_decref(job->spec);
    eq_free(job->name);
    eq_free(job->model_label);
    eq_free(job->eager_model_label);
    eq_name_map_free(job->name_map);
    eq_free(job->input.data);
    eq_free(job->input.file);
    eq_free(job->input.tensor);
    for (int i = 0; i < job->n_overrides; i++)
        eq_free(job->overrides[i].name);
    eq_free(job->overrides);
    eq_free(job->checkpoint);
    json_decref(job->reference.tensors);
    eq_free(job->reference.file);
    eq_free(job);
}

const char *eq_job_name(const eq_job *job) { return job->name; }

int eq_job_checks(const eq_job *job, const char *const **names)
{
    *names = job->check_names;
    return job->n_checks;
}
