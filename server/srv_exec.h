/* srv_exec.h - the engine as the server sees it: validate a job spec,
 * estimate its cost, run it with progress / cancel / tensor hooks.
 *
 * The real executor (srv_exec_engine.c) calls eq_job_*. A test executor
 * (srv_exec_test.c), chosen by the environment variable
 * EQUIVD_TEST_EXECUTOR=sleep:DURATION, fakes jobs that take DURATION, so the
 * queue, durability and HTTP tests do not depend on heavy compute. It is for
 * the test suite, not for users, and says so in the log when active. */
#ifndef SRV_EXEC_H
#define SRV_EXEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"

typedef struct srv_store srv_store;

typedef struct srv_estimate {
    int64_t parameters;
    int64_t activation_bytes;
    double flops; /* one forward pass */
    int passes;
} srv_estimate;

typedef struct srv_exec_hooks {
    void (*progress)(void *ctx, int done, int total, const char *what);
    int (*cancel)(void *ctx); /* non-zero: stop at the next pass boundary */
    /* A computed output or endpoint; data valid only during the call. */
    void (*tensor)(void *ctx, const char *check, const char *mode, const char *name,
                   const char *dtype, int rank, const int64_t *shape, const void *data,
                   size_t nbytes);
    void *ctx;
} srv_exec_hooks;

typedef struct srv_exec srv_exec;
struct srv_exec {
    const char *kind; /* "engine" or "test" */
    /* Parse and validate; *name gets the job's name (malloc'd, maybe "").
     * Invalid specs: EQ_ERR_INVALID with err->path the JSON path. */
    eq_status (*check)(srv_exec *x, const json_t *spec, char **name, srv_estimate *est,
                       eq_error *err);
    /* Run to the end (or to cancel); the report, or NULL with err. */
    json_t *(*run)(srv_exec *x, const json_t *spec, const srv_exec_hooks *h, eq_error *err);
    /* The zoo: [{"name", "parameters", ...}]. */
    json_t *(*models)(srv_exec *x, eq_error *err);
    const char *(*verdict)(srv_exec *x, const json_t *report);
    char *(*junit)(srv_exec *x, const json_t *report); /* free() */
    void (*destroy)(srv_exec *x);
    void *impl;
};

/* The engine executor. checkpoint_dir confines job file paths. */
srv_exec *srv_exec_engine_new(const char *checkpoint_dir, srv_store *store, int threads,
                              eq_error *err);
/* "sleep:200ms" and friends (see srv_exec_test.c). */
srv_exec *srv_exec_test_new(const char *desc, eq_error *err);
/* EQUIVD_TEST_EXECUTOR if set, else the engine, computing with `threads`
 * threads per job (BLIS and the engine's own loops). */
srv_exec *srv_exec_new(const char *checkpoint_dir, srv_store *store, int threads, eq_error *err);
void srv_exec_free(srv_exec *x);

#endif
