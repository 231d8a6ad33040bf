/* test_job.c - the job spec: parser errors with exact paths, defaults,
 * name_map, report numbers and verdicts, JUnit, and the schema held to the
 * parser (field table and examples). Runs no model: see test_checks.c. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_job.h"
#include "eq_job_internal.h"
#include "schema_check.h"

/* A two-layer model with a declared input [-1, 4]. */
#define MODEL                                                                                      \
    "{\"input\": {\"shape\": [null, 4]}, \"body\": [{\"dense\": {\"name\": \"d1\", \"units\": "   \
    "3}, \"endpoint\": \"hidden\"}, {\"dense\": {\"name\": \"d2\", \"units\": 2}, \"endpoint\": "  \
    "\"logits\"}], \"outputs\": [\"logits\"]}"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON: %s: %s", jerr.text, text);
    return j;
}

static eq_job *parse_text(const char *text, const eq_job_env *env, eq_error *err)
{
    json_t *j = load(text);
    eq_job *job = eq_job_parse(j, env, err);
    json_decref(j);
    return job;
}

static const char *srcdir(void)
{
    const char *s = getenv("EQ_SRCDIR");
    return s ? s : ".";
}

/* ---- defaults --------------------------------------------------------- */

START_TEST(defaults)
{
    eq_error err;
    eq_job *job = parse_text("{\"model\": " MODEL "}", NULL, &err);
    ck_assert_msg(job != NULL, "%s: %s", err.path, err.message);
    ck_assert_str_eq(eq_job_name(job), "");
    const char *const *names;
    int n = eq_job_checks(job, &names);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(names[0], "variables_once");
    ck_assert_str_eq(names[1], "manifest");
    ck_assert_str_eq(names[2], "fixed_weights");
    ck_assert_str_eq(names[3], "random_inference");
    ck_assert_str_eq(names[4], "random_training");
    ck_assert_ptr_null(names[5]);
    ck_assert(job->rtol == 1e-6);
    ck_assert(job->atol == 1e-5);
    ck_assert(job->fixed_weight_value == 0.001);
    ck_assert_int_eq(job->eager_calls, 3);
    ck_assert_int_eq(job->functional, 0);
    ck_assert_int_eq(job->seeding, EQ_SEEDING_CONSTANT);
    ck_assert_int_eq(job->seed, 42);
    ck_assert_int_eq(job->operation_seed, 0);
    ck_assert_ptr_eq(job->eager_model, job->model);
    ck_assert_str_eq(job->model_label, "inline");
    /* Input: ones in the declared shape, the open batch dimension as 1. */
    ck_assert_int_eq(job->input.kind, EQ_INPUT_FILL);
    ck_assert_int_eq(job->input.fill, EQ_FILL_ONES);
    ck_assert_int_eq(job->input.rank, 2);
    ck_assert_int_eq(job->input.shape[0], 1);
    ck_assert_int_eq(job->input.shape[1], 4);
    eq_graph_options def;
    eq_job_default_graph_options(&def);
    ck_assert_mem_eq(&job->graph, &def, sizeof def);
    ck_assert_int_eq(eq_name_map_count(job->name_map), 0);
    ck_assert_ptr_null(job->checkpoint);
    ck_assert_int_eq(job->reference.present, 0);
    eq_job_free(job);
}
END_TEST

START_TEST(explicit_values)
{
    eq_error err;
    eq_job *job = parse_text(
        "{\"name\": \"n1\", \"model\": " MODEL ", \"eager_model\": " MODEL ","
        " \"checks\": [\"random_training\", \"manifest\"],"
        " \"seed_policy\": {\"mode\": \"num_random_ops\", \"seed\": 7, \"operation_seed\": 3},"
        " \"fixed_weight_value\": 0.5, \"eager_calls\": 4, \"eager_call\": \"functional\","
        " \"graph_options\": {\"fold_batch_norm\": true, \"prune\": false},"
        " \"tolerances\": {\"rtol\": 0.01, \"atol\": 0.02,"
        "   \"overrides\": {\"logits\": {\"atol\": 0.5}, \"hidden\": {\"rtol\": 0, \"atol\": 0}}},"
        " \"input\": {\"fill\": \"uniform\", \"shape\": [2, 4], \"seed\": 9, \"min\": -1, \"max\": 2},"
        " \"name_map\": [{\"pattern\": \"^a\", \"replace\": \"b\"}]}",
        NULL, &err);
    ck_assert_msg(job != NULL, "%s: %s", err.path, err.message);
    ck_assert_str_eq(eq_job_name(job), "n1");
    const char *const *names;
    /* Listed out of order, run in the guide's order. */
    ck_assert_int_eq(eq_job_checks(job, &names), 2);
    ck_assert_str_eq(names[0], "manifest");
    ck_assert_str_eq(names[1], "random_training");
    ck_assert_int_eq(job->seeding, EQ_SEEDING_NUM_RANDOM_OPS);
    ck_assert_int_eq(job->seed, 7);
    ck_assert_int_eq(job->operation_seed, 3);
    ck_assert(job->fixed_weight_value == 0.5);
    ck_assert_int_eq(job->eager_calls, 4);
    ck_assert_int_eq(job->functional, 1);
    ck_assert_int_eq(job->graph.enabled[EQ_PASS_FOLD_BATCH_NORM], 1);
    ck_assert_int_eq(job->graph.enabled[EQ_PASS_PRUNE], 0);
    ck_assert_ptr_ne(job->eager_model, job->model);
    double rtol, atol;
    eq_job_tolerance(job, "logits", &rtol, &atol);
    ck_assert(rtol == 0.01 && atol == 0.5); /* rtol inherited from the global one */
    eq_job_tolerance(job, "hidden", &rtol, &atol);
    ck_assert(rtol == 0 && atol == 0);
    eq_job_tolerance(job, "other", &rtol, &atol);
    ck_assert(rtol == 0.01 && atol == 0.02);
    ck_assert_int_eq(job->input.fill, EQ_FILL_UNIFORM);
    ck_assert_int_eq(job->input.seed, 9);
    ck_assert(job->input.minval == -1 && job->input.maxval == 2);
    ck_assert_int_eq(job->input.shape[0], 2);
    ck_assert_int_eq(eq_name_map_count(job->name_map), 1);
    eq_job_free(job);

    /* The string form of seed_policy. */
    job = parse_text("{\"model\": " MODEL ", \"seed_policy\": \"num_random_ops\"}", NULL, &err);
    ck_assert_msg(job != NULL, "%s", err.message);
    ck_assert_int_eq(job->seeding, EQ_SEEDING_NUM_RANDOM_OPS);
    ck_assert_int_eq(job->seed, 42);
    eq_job_free(job);
}
END_TEST

START_TEST(inline_input_and_reference)
{
    eq_error err;
    eq_job *job = parse_text("{\"model\": " MODEL ", \"input\": {\"data\": [[1, 2, 3, 4]]},"
                             " \"reference\": {\"tensors\": {\"logits\": {\"shape\": [1, 2], "
                             "\"data\": [0.5, -0.25]}}, \"modes\": [\"eager\"]}}",
                             NULL, &err);
    ck_assert_msg(job != NULL, "%s: %s", err.path, err.message);
    ck_assert_int_eq(job->input.kind, EQ_INPUT_DATA);
    ck_assert_int_eq(job->input.rank, 2);
    ck_assert_int_eq(job->input.shape[0], 1);
    ck_assert_int_eq(job->input.shape[1], 4);
    ck_assert(job->input.data[3] == 4.0);
    ck_assert_int_eq(job->reference.present, 1);
    ck_assert_int_eq(job->reference.kind, EQ_REF_INLINE);
    ck_assert_int_eq(job->reference.modes, EQ_REF_MODE_EAGER);
    ck_assert_int_eq(job->reference.weights, EQ_REF_WEIGHTS_FIXED);
    const char *const *names;
    int n = eq_job_checks(job, &names);
    ck_assert_int_eq(n, 6); /* all that apply now include the reference */
    ck_assert_str_eq(names[5], "reference");
    eq_job_free(job);

    /* A flat list with a shape is the same input. */
    job = parse_text("{\"model\": " MODEL ", \"input\": {\"data\": [1, 2, 3, 4, 5, 6, 7, 8],"
                     " \"shape\": [2, 4]}}",
                     NULL, &err);
    ck_assert_msg(job != NULL, "%s", err.message);
    ck_assert_int_eq(job->input.shape[0], 2);
    ck_assert(job->input.data[7] == 8.0);
    eq_job_free(job);
}
END_TEST

static json_t *fake_outputs(void *ctx, int64_t id, eq_error *err)
{
    (void)ctx;
    (void)id;
    (void)err;
    return json_object();
}

START_TEST(reference_job_needs_env)
{
    eq_error err;
    const char *text = "{\"model\": " MODEL ", \"reference\": {\"job\": 12}}";
    ck_assert_ptr_null(parse_text(text, NULL, &err));
    ck_assert_str_eq(err.path, "reference.job");
    ck_assert_ptr_nonnull(strstr(err.message, "only available through the server"));
    eq_job_env env = {.load_job_outputs = fake_outputs};
    eq_job *job = parse_text(text, &env, &err);
    ck_assert_msg(job != NULL, "%s", err.message);
    ck_assert_int_eq(job->reference.kind, EQ_REF_JOB);
    ck_assert_int_eq(job->reference.job_id, 12);
    eq_job_free(job);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

typedef struct bad_case {
    const char *json;
    const char *path;
    const char *message; /* a substring of the message */
} bad_case;

#define M "\"model\": " MODEL
static const bad_case k_bad[] = {
    {"[]", "", "a job is a JSON object"},
    {"{}", "model", "a job needs a model"},
    {"{" M ", \"bogus\": 1}", "bogus", "unknown field 'bogus' (expected one of: name,"},
    {"{" M ", \"eager_calls\": 1}", "eager_calls", "from 2 to 100"},
    {"{" M ", \"eager_calls\": 101}", "eager_calls", "got 101"},
    {"{" M ", \"eager_calls\": \"3\"}", "eager_calls", "expected an integer, got a string"},
    {"{" M ", \"checks\": [\"manifest\", \"nope\"]}", "checks[1]", "unknown value 'nope'"},
    {"{" M ", \"checks\": [\"manifest\", 3]}", "checks[1]", "expected a string"},
    {"{" M ", \"checks\": [\"manifest\", \"manifest\"]}", "checks[1]", "listed twice"},
    {"{" M ", \"checks\": [\"checkpoint\"]}", "checks[0]", "needs \"checkpoint\""},
    {"{" M ", \"checks\": [\"reference\"]}", "checks[0]", "needs \"reference\""},
    {"{" M ", \"checks\": []}", "checks", "at least one check"},
    {"{" M ", \"seed_policy\": \"random\"}", "seed_policy", "unknown value 'random'"},
    {"{" M ", \"seed_policy\": 3}", "seed_policy", "expected a string or an object"},
    {"{" M ", \"seed_policy\": {\"mode\": \"x\"}}", "seed_policy.mode", "unknown value 'x'"},
    {"{" M ", \"seed_policy\": {\"seed\": 0}}", "seed_policy.seed", "(0, 0)"},
    {"{" M ", \"seed_policy\": {\"seed\": -4}}", "seed_policy.seed", ">= 0"},
    {"{" M ", \"seed_policy\": {\"operation_seed\": 1.5}}", "seed_policy.operation_seed",
     "expected an integer"},
    {"{" M ", \"seed_policy\": {\"sed\": 1}}", "seed_policy.sed", "unknown field 'sed'"},
    {"{" M ", \"fixed_weight_value\": \"x\"}", "fixed_weight_value", "expected a number"},
    {"{" M ", \"eager_call\": \"lazy\"}", "eager_call", "expected one of: direct, functional"},
    {"{" M ", \"graph_options\": {\"fold_bn\": true}}", "graph_options.fold_bn",
     "unknown field 'fold_bn'"},
    {"{" M ", \"graph_options\": {\"prune\": 1}}", "graph_options.prune", "expected a boolean"},
    {"{" M ", \"tolerances\": {\"rtol\": -1}}", "tolerances.rtol", ">= 0"},
    {"{" M ", \"tolerances\": {\"atol\": \"1e-5\"}}", "tolerances.atol", "expected a number"},
    {"{" M ", \"tolerances\": {\"overrides\": {\"logits\": {\"atol\": \"x\"}}}}",
     "tolerances.overrides.logits.atol", "expected a number"},
    {"{" M ", \"tolerances\": {\"overrides\": {\"logits\": {}}}}", "tolerances.overrides.logits",
     "give rtol, atol or both"},
    {"{" M ", \"tolerances\": {\"overrides\": {\"logits\": {\"rtl\": 1}}}}",
     "tolerances.overrides.logits.rtl", "unknown field"},
    {"{" M ", \"input\": {}}", "input", "give one of fill, data, npy, safetensors"},
    {"{" M ", \"input\": {\"fill\": \"ones\", \"data\": [1]}}", "input", "exactly one"},
    {"{" M ", \"input\": {\"fill\": \"twos\"}}", "input.fill", "unknown value 'twos'"},
    {"{" M ", \"input\": {\"fill\": \"ones\", \"seed\": 3}}", "input.seed",
     "applies only to \"fill\": \"uniform\""},
    {"{" M ", \"input\": {\"fill\": \"uniform\", \"min\": 1, \"max\": 1}}", "input.max",
     "min < max"},
    {"{" M ", \"input\": {\"shape\": [1, 0]}}", "input.shape[1]", "positive integer"},
    {"{" M ", \"input\": {\"shape\": [1, 5]}}", "input.shape",
     "model declares input shape [-1, 4] (-1: any), the input is [1, 5]"},
    {"{" M ", \"input\": {\"data\": [[1, 2, 3, 4], [1, 2]]}}", "input.data[1]", "ragged"},
    {"{" M ", \"input\": {\"data\": [1, 2, 3], \"shape\": [1, 4]}}", "input.data",
     "3 numbers, but shape [1, 4] holds 4"},
    {"{" M ", \"input\": {\"data\": [1, \"x\", 3, 4], \"shape\": [1, 4]}}", "input.data[1]",
     "expected a number or an array"},
    {"{" M ", \"input\": {\"npy\": \"x.npy\", \"shape\": [1, 4]}}", "input.shape",
     "takes its shape from the file"},
    {"{" M ", \"input\": {\"npy\": \"/no/such/file.npy\"}}", "input.npy", "cannot read"},
    {"{" M ", \"name_map\": [{\"pattern\": \"(\", \"replace\": \"\"}]}", "name_map[0].pattern",
     "invalid regular expression '('"},
    {"{" M ", \"name_map\": [{\"pattern\": \"a\", \"replace\": \"\\\\1\"}]}",
     "name_map[0].replace", "refers to group 1 but the pattern has 0 groups"},
    {"{" M ", \"name_map\": [{\"pattern\": \"a\", \"replace\": \"\\\\q\"}]}",
     "name_map[0].replace", "backslash"},
    {"{" M ", \"name_map\": [{\"pattern\": \"a\"}]}", "name_map[0].replace",
     "expected a replacement string"},
    {"{" M ", \"name_map\": [{\"pattern\": \"\", \"replace\": \"\"}]}", "name_map[0].pattern",
     "non-empty"},
    {"{" M ", \"name_map\": [{\"pattern\": \"a\", \"replace\": \"b\", \"x\": 1}]}",
     "name_map[0].x", "unknown field 'x'"},
    {"{" M ", \"name_map\": {\"a\": \"b\"}}", "name_map", "expected an array"},
    {"{" M ", \"checkpoint\": \"/no/such/ck.safetensors\"}", "checkpoint", "cannot read"},
    {"{" M ", \"checkpoint\": \"\"}", "checkpoint", "expected a file name"},
    {"{\"model\": {\"zoo\": \"no_such_model\"}}", "model.zoo", ""},
    {"{\"model\": {\"zoo\": \"Bad-Name\"}}", "model.zoo", "lower-case letters"},
    {"{\"model\": {\"zoo\": \"inception_resnet_v2\", \"extra\": 1}}", "model.extra",
     "unknown field 'extra' (expected one of: zoo, args)"},
    {"{\"model\": {\"zoo\": \"inception_resnet_v2\", \"args\": 3}}", "model.args",
     "expected an object"},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"job\": 3}}", "reference",
     "exactly one of tensors, npy, safetensors, job"},
    {"{" M ", \"reference\": {}}", "reference", "exactly one"},
    {"{" M ", \"reference\": {\"tensors\": {}}}", "reference.tensors", "at least one tensor"},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"shape\": [2], \"data\": [1]}}}}",
     "reference.tensors.a.data", "1 numbers, but shape [2] holds 2"},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"shape\": [1]}}}}", "reference.tensors.a",
     "needs \"data\""},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"weights\": "
     "\"checkpoint\"}}",
     "reference.weights", "need the job's \"checkpoint\""},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"modes\": []}}",
     "reference.modes", "at least one of graph, eager"},
    {"{" M ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"modes\": [\"both\"]}}",
     "reference.modes[0]", "unknown value 'both'"},
    {"{" M ", \"reference\": {\"job\": 0}}", "reference.job", ">= 1"},
    {"{" M ", \"reference\": {\"npy\": {\"a\": 3}}}", "reference.npy.a", "expected a .npy"},
};
#undef M

START_TEST(bad_jobs)
{
    const bad_case *c = &k_bad[_i];
    eq_error err;
    eq_error_clear(&err);
    eq_job_env env = {0};
    eq_job *job = parse_text(c->json, &env, &err);
    ck_assert_msg(job == NULL, "case %d accepted: %s", _i, c->json);
    ck_assert_msg(strcmp(err.path, c->path) == 0, "case %d: path '%s', want '%s' (%s)", _i,
                  err.path, c->path, err.message);
    ck_assert_msg(strstr(err.message, c->message) != NULL, "case %d: message '%s' lacks '%s'",
                  _i, err.message, c->message);
}
END_TEST

START_TEST(model_errors_carry_the_job_path)
{
    eq_error err;
    /* An inline model's error is under "model"... */
    ck_assert_ptr_null(parse_text(
        "{\"model\": {\"body\": [{\"conv2d\": {\"filters\": -1, \"kernel\": 3}}]}}", NULL, &err));
    ck_assert_msg(strncmp(err.path, "model.body[0]", 13) == 0, "path %s", err.path);
    /* ...or "eager_model"... */
    ck_assert_ptr_null(parse_text("{\"model\": " MODEL ", \"eager_model\": {\"body\": [{\"dense\": "
                                  "{\"units\": 0}}]}}",
                                  NULL, &err));
    ck_assert_msg(strncmp(err.path, "eager_model.body[0]", 19) == 0, "path %s", err.path);
    /* ...and a zoo argument's under the model's args. */
    ck_assert_ptr_null(parse_text(
        "{\"model\": {\"zoo\": \"inception_resnet_v2\", \"args\": {\"no_such_arg\": 1}}}", NULL,
        &err));
    ck_assert_msg(strncmp(err.path, "model.args", 10) == 0, "path %s (%s)", err.path, err.message);
}
END_TEST

START_TEST(confined_files)
{
    eq_error err;
    eq_job_env env = {.file_dir = srcdir(), .files_confined = 1};
    ck_assert_ptr_null(parse_text("{\"model\": " MODEL ", \"checkpoint\": \"../x.safetensors\"}",
                                  &env, &err));
    ck_assert_str_eq(err.path, "checkpoint");
    ck_assert_ptr_nonnull(strstr(err.message, "'..' is not allowed"));
    ck_assert_ptr_null(parse_text("{\"model\": " MODEL ", \"checkpoint\": \"a/../../x\"}", &env,
                                  &err));
    ck_assert_ptr_nonnull(strstr(err.message, "'..' is not allowed"));
    ck_assert_ptr_null(
        parse_text("{\"model\": " MODEL ", \"checkpoint\": \"/etc/passwd\"}", &env, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "absolute paths are not allowed"));
    /* Relative to file_dir: a file that exists there resolves. */
    char *out = NULL;
    ck_assert_int_eq(eq_job_resolve_file(&env, "configure.ac", "x", &out, &err), EQ_OK);
    ck_assert_ptr_nonnull(strstr(out, "configure.ac"));
    ck_assert_int_eq(strncmp(out, srcdir(), strlen(srcdir())), 0);
    eq_free(out);
    /* "..x" is a name, not a parent directory. */
    ck_assert_int_eq(eq_job_resolve_file(&env, "..x", "x", &out, &err), EQ_ERR_IO);
}
END_TEST

START_TEST(parse_under_allocation_failure)
{
    /* Every allocation failing in turn: an error or a job, never a crash
     * or a leak (ASan runs catch the leaks). */
    json_t *j = load("{\"name\": \"x\", \"model\": " MODEL ", \"name_map\": [{\"pattern\": "
                     "\"a\", \"replace\": \"b\"}], \"tolerances\": {\"overrides\": {\"logits\": "
                     "{\"atol\": 1}}}, \"input\": {\"data\": [[1, 2, 3, 4]]}}");
    int completed = 0;
    for (long n = 1; n < 2000 && !completed; n++) {
        eq_error err;
        eq_alloc_fail_after(n, 0);
        eq_job *job = eq_job_parse(j, NULL, &err);
        eq_alloc_fail_after(0, 0);
        if (job) {
            completed = 1;
            eq_job_free(job);
        } else {
            ck_assert_msg(err.status == EQ_ERR_NOMEM, "allocation %ld: %s: %s", n, err.path,
                          err.message);
        }
    }
    ck_assert(completed);
    json_decref(j);
}
END_TEST

/* ---- name_map ------------------------------------------------------------ */

static eq_name_map *map_of(const char *rules)
{
    json_t *j = load(rules);
    eq_error err;
    eq_name_map *m = eq_name_map_new(j, "name_map", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    json_decref(j);
    return m;
}

static void expect_map(const eq_name_map *m, const char *in, const char *want)
{
    char out[256];
    eq_error err;
    ck_assert_int_eq(eq_name_map_apply(m, in, out, sizeof out, &err), EQ_OK);
    ck_assert_str_eq(out, want);
}

START_TEST(name_map_rules)
{
    eq_name_map *m = map_of("[{\"pattern\": \"^v2/\", \"replace\": \"InceptionResnetV2/\"}]");
    expect_map(m, "v2/Conv2d_1a_3x3/weights:0", "InceptionResnetV2/Conv2d_1a_3x3/weights:0");
    expect_map(m, "x/v2/a:0", "x/v2/a:0"); /* ^ anchors to the start of the name only */
    eq_name_map_free(m);

    m = map_of("[{\"pattern\": \"dense_([0-9]+)/(kernel|bias)\", \"replace\": \"fc\\\\1/\\\\2\"}]");
    expect_map(m, "net/dense_12/kernel:0", "net/fc12/kernel:0");
    expect_map(m, "dense_1/bias:0 dense_2/kernel", "fc1/bias:0 fc2/kernel"); /* every match */
    eq_name_map_free(m);

    /* Rules apply in order, each to the previous result. */
    m = map_of("[{\"pattern\": \"a\", \"replace\": \"b\"}, {\"pattern\": \"b\", \"replace\": "
               "\"c\"}]");
    expect_map(m, "ab", "cc");
    expect_map(m, "banana", "ccncnc");
    eq_name_map_free(m);

    /* An empty match moves on by one character, as Python's re.sub. */
    m = map_of("[{\"pattern\": \"x*\", \"replace\": \"-\"}]");
    expect_map(m, "abc", "-a-b-c-");
    eq_name_map_free(m);

    /* \\ is a backslash; \0 the whole match. */
    m = map_of("[{\"pattern\": \"/\", \"replace\": \"\\\\\\\\\"}, {\"pattern\": \"[0-9]+\", "
               "\"replace\": \"<\\\\0>\"}]");
    expect_map(m, "a/b7", "a\\b<7>");
    eq_name_map_free(m);

    /* NULL and empty maps copy. */
    expect_map(NULL, "same:0", "same:0");
    m = map_of("[]");
    ck_assert_int_eq(eq_name_map_count(m), 0);
    expect_map(m, "same:0", "same:0");
    eq_name_map_free(m);
}
END_TEST

START_TEST(name_map_overflow)
{
    eq_name_map *m = map_of("[{\"pattern\": \"a\", \"replace\": \"aaaaaaaaaaaaaaaa\"}]");
    char out[32];
    eq_error err;
    ck_assert_int_eq(eq_name_map_apply(m, "aaaa", out, sizeof out, &err), EQ_ERR_LIMIT);
    ck_assert_int_eq(eq_name_map_apply(m, "a", out, sizeof out, &err), EQ_OK);
    ck_assert_str_eq(out, "aaaaaaaaaaaaaaaa");
    ck_assert_int_eq(eq_name_map_apply(NULL, "0123456789012345678901234567890123", out,
                                       sizeof out, &err),
                     EQ_ERR_LIMIT);
    eq_name_map_free(m);
}
END_TEST

/* ---- report helpers and JUnit ---------------------------------------------- */

START_TEST(report_numbers)
{
    json_t *n = eq_report_number(NAN);
    ck_assert_str_eq(json_string_value(n), "nan");
    json_decref(n);
    n = eq_report_number(INFINITY);
    ck_assert_str_eq(json_string_value(n), "inf");
    json_decref(n);
    n = eq_report_number(-INFINITY);
    ck_assert_str_eq(json_string_value(n), "-inf");
    json_decref(n);
    n = eq_report_number(0.25);
    ck_assert(json_is_real(n) && json_real_value(n) == 0.25);
    /* The report is always valid JSON, non-finite values included. */
    json_t *o = json_pack("{s:o, s:o}", "a", eq_report_number(NAN), "b", n);
    char *text = json_dumps(o, 0);
    ck_assert_str_eq(text, "{\"a\": \"nan\", \"b\": 0.25}");
    free(text);
    double v;
    ck_assert(eq_report_number_get(json_object_get(o, "a"), &v) && isnan(v));
    ck_assert(eq_report_number_get(json_object_get(o, "b"), &v) && v == 0.25);
    json_t *s = json_string("inf");
    ck_assert(eq_report_number_get(s, &v) && isinf(v) && v > 0);
    json_decref(s);
    s = json_string("lots");
    ck_assert(!eq_report_number_get(s, &v));
    json_decref(s);
    json_decref(o);
}
END_TEST

START_TEST(verdicts)
{
    ck_assert_str_eq(eq_report_combine("pass", "pass"), "pass");
    ck_assert_str_eq(eq_report_combine("pass", "fail"), "fail");
    ck_assert_str_eq(eq_report_combine("error", "fail"), "error");
    ck_assert_str_eq(eq_report_combine("pass", "skipped"), "pass");
    json_t *r = json_pack("{s:s}", "verdict", "fail");
    ck_assert_str_eq(eq_report_verdict(r), "fail");
    json_object_set_new(r, "verdict", json_string("pass"));
    ck_assert_str_eq(eq_report_verdict(r), "pass");
    json_object_set_new(r, "verdict", json_string("maybe"));
    ck_assert_str_eq(eq_report_verdict(r), "error"); /* never pass by accident */
    json_object_del(r, "verdict");
    ck_assert_str_eq(eq_report_verdict(r), "error");
    json_decref(r);
    eq_error err;
    eq_error_set_path(&err, EQ_ERR_STATE, "body[2]", "seed reused");
    json_t *e = eq_report_error_json(&err);
    ck_assert_str_eq(json_string_value(json_object_get(e, "status")), "state");
    ck_assert_str_eq(json_string_value(json_object_get(e, "path")), "body[2]");
    ck_assert_str_eq(json_string_value(json_object_get(e, "message")), "seed reused");
    json_decref(e);
}
END_TEST

START_TEST(junit_xml)
{
    json_t *report = load(
        "{\"name\": \"ci <job>\", \"verdict\": \"error\", \"format\": \"equivd-report/1\","
        " \"timing\": {\"wall_seconds\": 2.5},"
        " \"checks\": ["
        "  {\"name\": \"variables_once\", \"verdict\": \"pass\", \"seconds\": 0.5, \"summary\": \"ok\"},"
        "  {\"name\": \"fixed_weights\", \"verdict\": \"fail\", \"seconds\": 1.25,"
        "   \"summary\": \"divergence starts at a<b & \\\"c\\\"\", \"messages\": [\"line\\u0001one\", \"two\"]},"
        "  {\"name\": \"random_training\", \"verdict\": \"error\", \"seconds\": \"nan\","
        "   \"summary\": \"error: boom\", \"error\": {\"status\": \"state\", \"message\": \"boom\", \"path\": \"body[1]\"}},"
        "  {\"name\": \"reference\", \"verdict\": \"skipped\", \"summary\": \"not run\"}]}");
    char *xml = eq_report_junit(report);
    ck_assert_ptr_nonnull(xml);
    ck_assert_ptr_nonnull(strstr(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    ck_assert_ptr_nonnull(strstr(xml, "<testsuites name=\"equivd\" tests=\"4\" failures=\"1\" "
                                      "errors=\"1\" skipped=\"1\" time=\"2.500000\">"));
    ck_assert_ptr_nonnull(strstr(xml, "<testsuite name=\"equivd.ci &lt;job&gt;\" tests=\"4\""));
    ck_assert_ptr_nonnull(strstr(xml, "<testcase classname=\"equivd.ci &lt;job&gt;\" "
                                      "name=\"variables_once\" time=\"0.500000\"/>"));
    ck_assert_ptr_nonnull(strstr(xml, "<failure message=\"divergence starts at a&lt;b &amp; "
                                      "&quot;c&quot;\" type=\"mismatch\">"));
    ck_assert_ptr_nonnull(strstr(xml, "line?one\ntwo</failure>")); /* control char replaced */
    ck_assert_ptr_nonnull(strstr(xml, "name=\"random_training\" time=\"0.000000\">"));
    ck_assert_ptr_nonnull(strstr(xml, "<error message=\"error: boom\" type=\"state\">"));
    ck_assert_ptr_nonnull(strstr(xml, "body[1]: boom</error>"));
    ck_assert_ptr_nonnull(strstr(xml, "<skipped message=\"not run\"/>"));
    ck_assert_ptr_nonnull(strstr(xml, "<property name=\"verdict\" value=\"error\"/>"));
    ck_assert_ptr_null(strstr(xml, "name=\"job\""));
    free(xml);

    /* A job that failed outside its checks gets a testcase of its own. */
    json_object_set_new(report, "error",
                        json_pack("{s:s, s:s, s:s}", "status", "io", "message", "input: cannot "
                                  "read x.npy", "path", "input.npy"));
    xml = eq_report_junit(report);
    ck_assert_ptr_nonnull(strstr(xml, "tests=\"5\" failures=\"1\" errors=\"2\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"job\" time=\"0\">"));
    ck_assert_ptr_nonnull(strstr(xml, "<error message=\"input: cannot read x.npy\" type=\"io\">"
                                      "input.npy: input: cannot read x.npy</error>"));
    free(xml);
    json_decref(report);
}
END_TEST

/* ---- the schema, the parser and the examples ---------------------------- */

static json_t *load_schema(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/schema/job.schema.json", srcdir());
    json_error_t jerr;
    json_t *s = json_load_file(path, 0, &jerr);
    ck_assert_msg(s != NULL, "%s: %s", path, jerr.text);
    return s;
}

static char *sorted_keys(const json_t *o)
{
    /* "a,b,c" of an object's keys, sorted, for a readable comparison. */
    const char *keys[256];
    size_t n = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v) if (n < 256) keys[n++] = k;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", keys[i]);
    }
    return strdup(buf);
}

static char *sorted_strings(const json_t *a)
{
    json_t *o = json_object();
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) json_object_set_new(o, json_string_value(x), json_true());
    char *s = sorted_keys(o);
    json_decref(o);
    return s;
}

START_TEST(schema_matches_parser_rules)
{
    json_t *schema = load_schema();
    json_t *rules = eq_job_rules();
    const char *obj;
    const json_t *fields;
    int objects = 0;
    json_object_foreach(rules, obj, fields) {
        const json_t *so = strcmp(obj, "job") == 0
                               ? schema
                               : json_object_get(json_object_get(schema, "$defs"), obj);
        ck_assert_msg(so != NULL, "schema has no $defs/%s", obj);
        const json_t *props = json_object_get(so, "properties");
        char *a = sorted_keys(fields), *b = sorted_keys(props);
        ck_assert_msg(strcmp(a, b) == 0, "%s: parser fields {%s}, schema properties {%s}", obj,
                      a, b);
        free(a);
        free(b);
        ck_assert_msg(json_is_false(json_object_get(so, "additionalProperties")),
                      "%s: the parser rejects unknown fields, the schema must too", obj);
        const char *f;
        const json_t *rule;
        json_object_foreach((json_t *)fields, f, rule) {
            json_t *types = json_object(), *enums = json_array();
            int items_enum = 0;
            sc_property_facts(schema, json_object_get(props, f), types, enums, &items_enum);
            char *pt = sorted_strings(json_object_get(rule, "type"));
            char *st = sorted_keys(types);
            ck_assert_msg(strcmp(pt, st) == 0, "%s.%s: parser types {%s}, schema {%s}", obj, f,
                          pt, st);
            const json_t *pe = json_object_get(rule, "enum");
            if (!pe)
                pe = json_object_get(rule, "items_enum");
            char *pes = pe ? sorted_strings(pe) : strdup("");
            char *ses = sorted_strings(enums);
            ck_assert_msg(strcmp(pes, ses) == 0, "%s.%s: parser enum {%s}, schema {%s}", obj, f,
                          pes, ses);
            ck_assert_int_eq(items_enum, json_object_get(rule, "items_enum") != NULL);
            free(pt);
            free(st);
            free(pes);
            free(ses);
            json_decref(types);
            json_decref(enums);
        }
        objects++;
    }
    ck_assert_int_ge(objects, 10);
    /* graph_options has one field per pass (names: test_checks). */
    ck_assert_int_eq(json_object_size(json_object_get(rules, "graph_options")), EQ_PASS_COUNT);
    json_decref(rules);
    json_decref(schema);
}
END_TEST

/* Jobs on which the schema and the parser must agree (both accept or both
 * reject); none needs a file or the zoo. */
#define SM                                                                                         \
    "\"model\": {\"body\": [{\"relu\": {}}], \"input\": {\"shape\": [1, 2]}, \"outputs\": "        \
    "[\"input\"]}"
static const struct {
    const char *json;
    int valid;
} k_agree[] = {
    {"{" SM "}", 1},
    {"{}", 0},
    {"{" SM ", \"x\": 1}", 0},
    {"{" SM ", \"eager_calls\": 1}", 0},
    {"{" SM ", \"eager_calls\": 2}", 1},
    {"{" SM ", \"eager_calls\": 2.5}", 0},
    {"{" SM ", \"checks\": [\"manifest\"]}", 1},
    {"{" SM ", \"checks\": [\"manifests\"]}", 0},
    {"{" SM ", \"checks\": []}", 0},
    {"{" SM ", \"seed_policy\": \"constant\"}", 1},
    {"{" SM ", \"seed_policy\": \"tf\"}", 0},
    {"{" SM ", \"seed_policy\": {\"mode\": \"num_random_ops\", \"seed\": 1}}", 1},
    {"{" SM ", \"seed_policy\": {\"seed\": -1}}", 0},
    {"{" SM ", \"eager_call\": \"functional\"}", 1},
    {"{" SM ", \"graph_options\": {\"buffer_reuse\": false}}", 1},
    {"{" SM ", \"graph_options\": {\"buffer_reuse\": 0}}", 0},
    {"{" SM ", \"tolerances\": {\"rtol\": 0, \"overrides\": {\"a\": {\"atol\": 1}}}}", 1},
    {"{" SM ", \"tolerances\": {\"overrides\": {\"a\": {}}}}", 0},
    {"{" SM ", \"tolerances\": {\"atol\": -1}}", 0},
    {"{" SM ", \"input\": {\"fill\": \"zeros\"}}", 1},
    {"{" SM ", \"input\": {\"shape\": [1, 2]}}", 1},
    {"{" SM ", \"input\": {\"fill\": \"zeros\", \"data\": [1, 2]}}", 0},
    {"{" SM ", \"input\": {}}", 0},
    {"{" SM ", \"input\": {\"data\": [[1, 2]]}}", 1},
    {"{" SM ", \"input\": {\"shape\": [1, 0]}}", 0},
    {"{" SM ", \"name_map\": [{\"pattern\": \"a\", \"replace\": \"b\"}]}", 1},
    {"{" SM ", \"name_map\": [{\"pattern\": \"a\"}]}", 0},
    {"{" SM ", \"name_map\": [{\"pattern\": \"\", \"replace\": \"b\"}]}", 0},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}}}", 1},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"modes\": [\"eager\"]}}", 1},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"modes\": []}}", 0},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"shape\": [1]}}}}", 0},
    {"{" SM ", \"reference\": {\"tensors\": {}}}", 0},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"weights\": \"rand\"}}", 0},
    {"{" SM ", \"reference\": {\"tensors\": {\"a\": {\"data\": [1]}}, \"weights\": \"random\"}}", 1},
    {"{" SM ", \"fixed_weight_value\": 0.5}", 1},
    {"{" SM ", \"fixed_weight_value\": true}", 0},
    {"{\"model\": {\"zoo\": \"inception_resnet_v2\", \"arg\": {}}}", 0},
};
#undef SM

START_TEST(schema_and_parser_agree)
{
    json_t *schema = load_schema();
    json_t *j = load(k_agree[_i].json);
    char why[512];
    int schema_ok = sc_validate(schema, schema, j, "", why, sizeof why);
    eq_error err;
    eq_job *job = eq_job_parse(j, NULL, &err);
    ck_assert_msg(schema_ok == k_agree[_i].valid, "case %d: schema says %s (%s): %s", _i,
                  schema_ok ? "valid" : "invalid", schema_ok ? "" : why, k_agree[_i].json);
    ck_assert_msg((job != NULL) == k_agree[_i].valid, "case %d: parser says %s (%s: %s): %s", _i,
                  job ? "valid" : "invalid", job ? "" : err.path, job ? "" : err.message,
                  k_agree[_i].json);
    eq_job_free(job);
    json_decref(j);
    json_decref(schema);
}
END_TEST

START_TEST(examples_valid)
{
    json_t *schema = load_schema();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/examples", srcdir());
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no %s", dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
            strcmp(de->d_name, "expected.json") == 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        json_error_t jerr;
        json_t *j = json_load_file(path, 0, &jerr);
        ck_assert_msg(j != NULL, "%s: %s", de->d_name, jerr.text);
        char why[512];
        ck_assert_msg(sc_validate(schema, schema, j, "", why, sizeof why), "%s: schema: %s",
                      de->d_name, why);
        eq_error err;
        eq_job_env env = {.file_dir = dir};
        eq_job *job = eq_job_parse(j, &env, &err);
        ck_assert_msg(job != NULL, "%s: parser: %s: %s", de->d_name, err.path, err.message);
        eq_job_free(job);
        json_decref(j);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 8);
    json_decref(schema);
}
END_TEST

START_TEST(rules_cover_checks)
{
    /* The check enum, the parser's names and the schema's list agree. */
    for (int i = 0; i < EQ_CHECK_COUNT; i++) {
        eq_check_id id;
        ck_assert(eq_check_from_name(eq_check_name((eq_check_id)i), &id));
        ck_assert_int_eq(id, i);
    }
    eq_check_id id;
    ck_assert(!eq_check_from_name("nope", &id));
    json_t *rules = eq_job_rules();
    const json_t *e = json_object_get(json_object_get(json_object_get(rules, "job"), "checks"),
                                      "items_enum");
    ck_assert_int_eq(json_array_size(e), EQ_CHECK_COUNT);
    for (int i = 0; i < EQ_CHECK_COUNT; i++)
        ck_assert_str_eq(json_string_value(json_array_get(e, (size_t)i)),
                         eq_check_name((eq_check_id)i));
    json_decref(rules);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, explicit_values);
    tcase_add_test(tc, inline_input_and_reference);
    tcase_add_test(tc, reference_job_needs_env);
    tcase_add_loop_test(tc, bad_jobs, 0, (int)(sizeof k_bad / sizeof k_bad[0]));
    tcase_add_test(tc, model_errors_carry_the_job_path);
    tcase_add_test(tc, confined_files);
    tcase_add_test(tc, parse_under_allocation_failure);
    suite_add_tcase(s, tc);
    tc = tcase_create("name_map");
    tcase_add_test(tc, name_map_rules);
    tcase_add_test(tc, name_map_overflow);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, report_numbers);
    tcase_add_test(tc, verdicts);
    tcase_add_test(tc, junit_xml);
    suite_add_tcase(s, tc);
    tc = tcase_create("schema");
    tcase_add_test(tc, schema_matches_parser_rules);
    tcase_add_loop_test(tc, schema_and_parser_agree, 0, (int)(sizeof k_agree / sizeof k_agree[0]));
    tcase_add_test(tc, examples_valid);
    tcase_add_test(tc, rules_cover_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(job_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
