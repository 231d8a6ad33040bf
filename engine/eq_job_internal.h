/* eq_job_internal.h - the parsed job and the pieces the job files share.
 *
 * eq_job.h is the public face (parse, estimate, run, verdict, JUnit). This
 * header is what the job's own files (parser, checks, report, JUnit) and
 * their tests see: the resolved job, the parser's rule table (so a test can
 * hold schema/job.schema.json to it), name_map rewriting and the report's
 * number encoding. Internal to the engine.
 */
#ifndef EQ_JOB_INTERNAL_H
#define EQ_JOB_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"
#include "eq_job.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_tensor.h"

/* ---- checks --------------------------------------------------------------- */

typedef enum eq_check_id {
    EQ_CHECK_VARIABLES_ONCE = 0,
    EQ_CHECK_MANIFEST,
    EQ_CHECK_FIXED_WEIGHTS,
    EQ_CHECK_CHECKPOINT,
    EQ_CHECK_RANDOM_INFERENCE,
    EQ_CHECK_RANDOM_TRAINING,
    EQ_CHECK_REFERENCE,
    EQ_CHECK_COUNT
} eq_check_id;

/* "variables_once", ...; the order of the enum is the order checks run in. */
const char *eq_check_name(eq_check_id id);
int eq_check_from_name(const char *name, eq_check_id *out);

/* ---- name_map ------------------------------------------------------------- */

/* Ordered regex rewrites applied to eager names before they are compared
 * with graph names (re.sub semantics: every non-overlapping match of each
 * rule, rules in order, each on the previous rule's result). POSIX extended
 * regular expressions; the replacement may use \0..\9 for groups and \\ for
 * a backslash. */
typedef struct eq_name_map eq_name_map;

/* rules: a JSON array of {"pattern": ..., "replace": ...}; NULL or empty
 * gives a map that changes nothing. Errors name the path
 * ("name_map[1].pattern") and the regex compiler's complaint. */
eq_name_map *eq_name_map_new(const json_t *rules, const char *path, eq_error *err);
void eq_name_map_free(eq_name_map *m);
int eq_name_map_count(const eq_name_map *m);
/* Rewrite name into out (always terminated). Returns EQ_ERR_LIMIT when the
 * result does not fit. A NULL or empty map copies name. */
eq_status eq_name_map_apply(const eq_name_map *m, const char *name, char *out,
                            size_t n, eq_error *err);

/* ---- the parsed job ------------------------------------------------------- */

typedef enum eq_input_kind {
    EQ_INPUT_FILL = 0,   /* ones / zeros / uniform */
    EQ_INPUT_DATA,       /* inline numbers */
    EQ_INPUT_NPY,        /* a .npy file */
    EQ_INPUT_SAFETENSORS /* one tensor of a safetensors file */
} eq_input_kind;

typedef enum eq_fill { EQ_FILL_ONES = 0, EQ_FILL_ZEROS, EQ_FILL_UNIFORM } eq_fill;

typedef struct eq_job_input {
    eq_input_kind kind;
    eq_fill fill;
    int64_t seed;           /* uniform */
    double minval, maxval;  /* uniform: [min, max) */
    int rank;               /* fill, data: the shape (data: from "shape") */
    int64_t shape[EQ_MAX_RANK];
    double *data;           /* EQ_INPUT_DATA: numel values, row-major */
    char *file;             /* npy / safetensors: resolved path */
    char *tensor;           /* safetensors: tensor name */
} eq_job_input;

typedef struct eq_tol_override {
    char *name;             /* output / endpoint name (graph side), or
                               "regularization_loss" */
    double rtol, atol;
} eq_tol_override;

typedef enum eq_ref_kind {
    EQ_REF_INLINE = 0,
    EQ_REF_NPY,
    EQ_REF_SAFETENSORS,
    EQ_REF_JOB
} eq_ref_kind;

/* Which weights the reference check runs with. */
typedef enum eq_ref_weights {
    EQ_REF_WEIGHTS_FIXED = 0,  /* every variable = fixed_weight_value */
    EQ_REF_WEIGHTS_CHECKPOINT, /* the job's checkpoint */
    EQ_REF_WEIGHTS_RANDOM      /* initialisers under the seed policy */
} eq_ref_weights;

typedef struct eq_job_reference {
    int present;
    eq_ref_kind kind;
    json_t *tensors;        /* INLINE: {"name": {"shape", "data"}}; NPY:
                               {"name": resolved path} (owned) */
    char *file;             /* SAFETENSORS: resolved path */
    int64_t job_id;         /* JOB */
    int modes;              /* bit 0: graph, bit 1: eager */
    eq_ref_weights weights;
} eq_job_reference;

#define EQ_REF_MODE_GRAPH 1
#define EQ_REF_MODE_EAGER 2

struct eq_job {
    json_t *spec;           /* the job as given (a reference), echoed in the report */
    eq_job_env env;
    char *name;

    eq_model *model;        /* graph mode */
    eq_model *eager_model;  /* eager mode; == model when not given */
    char *model_label;      /* "zoo:inception_resnet_v2" or "inline" */
    char *eager_model_label;

    eq_name_map *name_map;
    eq_job_input input;

    eq_check_id checks[EQ_CHECK_COUNT];
    const char *check_names[EQ_CHECK_COUNT + 1];
    int n_checks;

    eq_seeding seeding;     /* CONSTANT or NUM_RANDOM_OPS */
    int64_t seed;
    int64_t operation_seed;
    double fixed_weight_value;
    int eager_calls;
    int functional;         /* eager_call: "functional" */
    eq_graph_options graph;

    double rtol, atol;
    eq_tol_override *overrides;
    int n_overrides;

    char *checkpoint;       /* resolved path, or NULL */
    eq_job_reference reference;
};

/* Defaults, also written in docs/job.md and the schema. */
#define EQ_JOB_DEFAULT_RTOL 1e-6
#define EQ_JOB_DEFAULT_ATOL 1e-5
#define EQ_JOB_DEFAULT_FIXED_WEIGHT 0.001
#define EQ_JOB_DEFAULT_EAGER_CALLS 3
#define EQ_JOB_DEFAULT_SEED 42
#define EQ_JOB_MAX_EAGER_CALLS 100

/* The graph passes a job gets unless graph_options says otherwise. */
void eq_job_default_graph_options(eq_graph_options *o);

/* Tolerance for a tensor by (graph-side) name. */
void eq_job_tolerance(const eq_job *job, const char *name, double *rtol, double *atol);

/* The parser's rules as JSON, for the schema-sync test:
 *   {"OBJECT": {"FIELD": {"type": [..], "enum": [..]}, ...}, ...}
 * OBJECT is "job" for the top level and the schema's $defs name otherwise. */
json_t *eq_job_rules(void);

/* Resolve a file path from the job against env->file_dir, refusing absolute
 * paths and ".." when env->files_confined. */
eq_status eq_job_resolve_file(const eq_job_env *env, const char *file, const char *path,
                              char **out, eq_error *err);

/* A tensor written as JSON: data is numbers or nested arrays of numbers;
 * shape (may be NULL) is checked against the count, or taken from the
 * nesting. values (may be NULL: validate only) gets eq_malloc'd doubles.
 * Errors name path + ".data" / ".shape". */
eq_status eq_job_data_parse(const json_t *data, const json_t *shape_json, const char *path,
                            int *rank, int64_t *shape, double **values, eq_error *err);

/* ---- report helpers (eq_report.c) -------------------------------------- */

/* A number for the report: finite values as JSON reals, non-finite ones as
 * the strings "nan", "inf", "-inf" (JSON has no such numbers; the same
 * encoding as the comparator's eq_compare_json_number). */
json_t *eq_report_number(double v);
/* The reverse (for tests and readers): 1 if j is a number or one of those
 * strings. */
int eq_report_number_get(const json_t *j, double *out);

/* An error as {"status", "message", "path"}. */
json_t *eq_report_error_json(const eq_error *err);

/* Combine check verdicts: any "error" -> "error", else any "fail" -> "fail",
 * else "pass" ("skipped" counts as neither). */
const char *eq_report_combine(const char *a, const char *b);

#endif
