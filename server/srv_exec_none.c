/* srv_exec_none.c - stands in for the engine executor while the engine's
 * job runner (eq_job_*) is not part of the build: `equivd serve` starts,
 * says why jobs cannot run, and refuses to start without the test executor.
 * server/server.am links this or srv_exec_engine.c, whichever fits. */
#include "srv_exec.h"

srv_exec *srv_exec_engine_new(const char *checkpoint_dir, srv_store *store, int threads,
                              eq_error *err)
{
    (void)threads;
    (void)checkpoint_dir;
    (void)store;
    eq_error_set(err, EQ_ERR_UNSUPPORTED,
                 "this equivd was built without the engine's job runner (engine/eq_job_run.c)");
    return NULL;
}
