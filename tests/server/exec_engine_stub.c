/* exec_engine_stub.c - the test daemon has no engine: only the test
 * executor (EQUIVD_TEST_EXECUTOR) runs jobs. */
#include "srv_exec.h"

srv_exec *srv_exec_engine_new(const char *checkpoint_dir, srv_store *store, eq_error *err)
{
    (void)checkpoint_dir;
    (void)store;
    eq_error_set(err, EQ_ERR_UNSUPPORTED,
                 "this test daemon has no engine: set EQUIVD_TEST_EXECUTOR=sleep:DURATION");
    return NULL;
}
