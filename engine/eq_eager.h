/* eq_eager.h - eager mode: every op runs the moment it is emitted.
 *
 * Values live in the call's arena (reset at the start of each call, so
 * pages stay warm); variables are read in place. Internal to the engine. */
#ifndef EQ_EAGER_H
#define EQ_EAGER_H

#include "eq_arena.h"
#include "eq_backend.h"
#include "eq_rand.h"

typedef struct eq_eager eq_eager;

eq_eager *eq_eager_new(eq_rand *rand, eq_error *err);
void eq_eager_free(eq_eager *e);

/* Point the backend at the arena of the call about to run. */
void eq_eager_begin(eq_eager *e, eq_arena *call_arena);
eq_backend *eq_eager_backend(eq_eager *e);

/* Time every op and report it to fn (NULL: stop). */
void eq_eager_set_op_timer(eq_eager *e, eq_op_timer fn, void *ctx);

/* Multiply-accumulates executed since eq_eager_begin. */
int64_t eq_eager_macs(const eq_eager *e);

#endif
