/* eq_job.h - a validation job: parse its JSON, estimate it, run its checks.
 *
 * A job names a model (inline or from the zoo), an input, the checks to
 * run and their options (see docs/job.md and schema/job.schema.json). Running
 * it produces one report (a jansson object, documented in docs/report.md)
 * with a verdict "pass", "fail" or "error".
 *
 *   eq_job *job = eq_job_parse(spec, &env, &err);     // path-precise errors
 *   eq_job_estimate(job, &est, &err);                  // refuse before running
 *   json_t *report = eq_job_run(job, &hooks, &err);    // NULL only on OOM
 *   eq_job_free(job);
 *
 * The engine knows nothing of HTTP or SQLite: what the server has to offer
 * (stored outputs of an earlier job, the checkpoint directory) comes in
 * through eq_job_env.
 */
#ifndef EQ_JOB_H
#define EQ_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "eq_error.h"
#include "eq_tensor.h"

typedef struct eq_job eq_job;

/* Where a job may look for files and earlier results. */
typedef struct eq_job_env {
    /* Directory that relative checkpoint / reference / input file paths are
     * resolved in (NULL: the current directory). The server points it at
     * its checkpoint store and forbids paths outside it. */
    const char *file_dir;
    int files_confined; /* 1: reject absolute paths and ".." */
    /* Resolve {"job": ID} references: return a new reference to an object
     * {"TensorName": {"shape": [...], "data": [...]}} or NULL with err. */
    json_t *(*load_job_outputs)(void *ctx, int64_t job_id, eq_error *err);
    void *ctx;
} eq_job_env;

eq_job *eq_job_parse(const json_t *spec, const eq_job_env *env, eq_error *err);
void eq_job_free(eq_job *job);

/* The job's name (or "") and the check names it will run, in order. */
const char *eq_job_name(const eq_job *job);
int eq_job_checks(const eq_job *job, const char *const **names);

/* Cost figures estimated from the model before anything runs. */
typedef struct eq_job_estimate {
    int64_t parameters;       /* variables' elements, largest of the models */
    int64_t activation_bytes; /* bytes of activations for one forward pass */
    int64_t flops;            /* 2 * multiply-accumulates of one forward pass */
    int passes;               /* forward passes the checks will run */
} eq_job_estimate;

eq_status eq_job_estimate_cost(eq_job *job, eq_job_estimate *out, eq_error *err);

/* Progress and cancellation, called between passes (a pass = one forward
 * call of one mode). Both may be NULL. cancel returning non-zero stops the
 * job at the next pass boundary with verdict "error" and status cancelled. */
typedef struct eq_job_hooks {
    void (*progress)(void *ctx, int passes_done, int passes_total, const char *what);
    int (*cancel)(void *ctx);
    /* Every output and endpoint a check computed, so a caller can keep the
     * raw tensors (the server stores them for .npy downloads). The tensor
     * is valid only during the call. */
    void (*tensor)(void *ctx, const char *check, const char *mode, const char *name,
                   const eq_tensor *t);
    void *ctx;
} eq_job_hooks;

/* Run every check; returns the report (caller owns it). Engine errors end up
 * in the report as verdict "error" with the message; NULL only when even the
 * report cannot be built (out of memory), with err filled. */
json_t *eq_job_run(eq_job *job, const eq_job_hooks *hooks, eq_error *err);

/* The report's verdict: "pass", "fail" or "error". */
const char *eq_report_verdict(const json_t *report);

/* JUnit XML of a report: one testsuite, one testcase per check. Caller
 * frees with free(). */
char *eq_report_junit(const json_t *report);

#endif
