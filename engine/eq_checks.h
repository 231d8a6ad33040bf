/* eq_checks.h - what a running job shares with its checks. Internal.
 *
 * eq_job_run() (eq_job_run.c) owns a job_run: the input tensor, the two
 * "inference runners" that steps 1 to 3b share (the guide runs its first
 * steps on one model object: call it N times, look at its variables, set
 * them to a constant, load a checkpoint), the pass counters behind progress
 * and the timing figures. Each check is one function that fills its part of
 * the report (a check object with "verdict", "summary", "messages",
 * "details") and returns EQ_OK, or an error that makes the check's verdict
 * "error". The random checks make their own runners: fresh variables under
 * the seed policy, as the guide's step 4 does.
 */
#ifndef EQ_CHECKS_H
#define EQ_CHECKS_H

#include <jansson.h>

#include "eq_arena.h"
#include "eq_job_internal.h"
#include "eq_runtime.h"

typedef struct job_run {
    eq_job *job;
    const eq_job_hooks *hooks;
    eq_arena *arena;          /* the input and other job-lifetime tensors */
    eq_tensor *input;
    eq_runner *shared[2];     /* indexed by eq_mode: inference, job's seeding */
    int passes_done, passes_total;
    double pass_seconds;      /* sum of eq_result.seconds over every pass */
    const char *check;        /* the check running now (progress, tensor hook) */
    const struct eq_safetensors *checkpoint; /* read once, in arena */
    /* per-check figures, reset by the driver before each check */
    int check_passes;
    double check_pass_seconds;
    int runners_alive, runners_max; /* memory: each runner holds a model */
    size_t activation_max[2]; /* most op output bytes one pass held, by eq_mode */
} job_run;

/* A runner for the job's model in `mode` (eager uses eager_model and the
 * job's eager_call). hook may be NULL. */
eq_runner *job_runner_new(job_run *run, eq_mode mode, int training, eq_var_hook hook,
                          void *hook_ctx, eq_error *err);

/* Free a runner from job_runner_new (NULL is fine). */
void job_runner_free(job_run *run, eq_runner *r);

/* The shared inference runner of a mode, created on first use. */
eq_runner *job_shared(job_run *run, eq_mode mode, eq_error *err);

/* One forward pass: checks for cancellation first, counts the pass, reports
 * progress and hands outputs and endpoints to the tensor hook. */
eq_status job_pass(job_run *run, eq_runner *r, eq_mode mode, const eq_result **res,
                   eq_error *err);

/* Call a runner until it has made at least n calls (its last result in
 * *res, or NULL when no call was needed). */
eq_status job_calls_until(job_run *run, eq_runner *r, eq_mode mode, int n,
                          const eq_result **res, eq_error *err);

/* Add a line to the check's "messages". */
void job_message(json_t *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the check's verdict ("pass" / "fail") and one-line summary. */
void job_verdict(json_t *check, int pass, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map an eager name through name_map (into buf, always terminated). */
const char *job_map_name(const job_run *run, const char *name, char *buf, size_t n);

/* Compare a graph result with an eager one (outputs in order, endpoints by
 * name in the graph's execution order, the regularisation loss) into
 * details; *close says whether everything was within tolerance. Adds the
 * summary sentences to the check. */
eq_status job_compare_results(job_run *run, json_t *check, json_t *details,
                              const eq_result *graph, const eq_result *eager, int *close,
                              eq_error *err);

/* The checks. */
eq_status eq_check_variables_once(job_run *run, json_t *check, eq_error *err);
eq_status eq_check_manifest(job_run *run, json_t *check, eq_error *err);
eq_status eq_check_fixed_weights(job_run *run, json_t *check, eq_error *err);
eq_status eq_check_checkpoint(job_run *run, json_t *check, eq_error *err);
eq_status eq_check_random(job_run *run, json_t *check, int training, eq_error *err);
eq_status eq_check_reference(job_run *run, json_t *check, eq_error *err);

/* The random-trace comparison of the random checks: both traces as JSON
 * and the first entry that differs, with an explanation. *match is 0 when a
 * seed pair, shape or op differs or an entry has no counterpart. */
json_t *job_compare_traces(const job_run *run, const eq_trace_entry *g, int ng,
                           const eq_trace_entry *e, int ne, int *match);

/* Load the job's checkpoint (read once per job) into a runner's variables
 * by name, eager names through name_map; "key" is the name without ":0"
 * (TF checkpoints), or with it. Fills `into` with the key bookkeeping
 * (loaded, missing, unexpected, mis-shaped) and sets *clean when nothing
 * is missing, unexpected or mis-shaped. */
eq_status job_load_checkpoint(job_run *run, eq_runner *r, eq_mode mode, json_t *into,
                              int *clean, eq_error *err);

/* The input from a .npy or safetensors file, as float32 in arena. */
eq_status eq_job_load_input_file(eq_arena *arena, const eq_job_input *in, eq_tensor **out,
                                 eq_error *err);
/* A .npy file (float32 or float64) as a tensor in arena. */
eq_status eq_job_load_npy(eq_arena *arena, const char *path, eq_tensor **out, eq_error *err);

/* Forward passes the job's checks will make (for progress and estimates). */
int job_plan_passes(const eq_job *job);

#endif
