/* srv_exec.c - choose the executor: the test one when asked for, else the
 * engine. Kept apart from libsrv so that library links without the engine's
 * job code (the server's unit tests use only the test executor). */
#include <stdlib.h>

#include "srv_exec.h"

srv_exec *srv_exec_new(const char *checkpoint_dir, srv_store *store, int threads, eq_error *err)
{
    const char *t = getenv("EQUIVD_TEST_EXECUTOR");
    if (t && *t)
        return srv_exec_test_new(t, err);
    return srv_exec_engine_new(checkpoint_dir, store, threads, err);
}

