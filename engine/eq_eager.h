/* eq_eager.h - eager mode: every op runs the moment it is emitted.
 *
 * Value descriptors live in the call's arena; op outputs' data in a
 * buffer pool, given back one by one as the interpreter releases values
 * nothing reads again (the rest at the start of the next call). Both keep
 * their memory across calls, so pages stay warm. Variables are read in
 * place. Internal to the engine. */
#ifndef EQ_EAGER_H
#define EQ_EAGER_H

#include "eq_arena.h"
#include "eq_backend.h"
#include "eq_rand.h"

typedef struct eq_eager eq_eager;

eq_eager *eq_eager_new(eq_rand *rand, eq_error *err);
void eq_eager_free(eq_eager *e);

/* Point the backend at the arena of the call about to run. Every value of
 * the previous call is invalid from here on. */
void eq_eager_begin(eq_eager *e, eq_arena *call_arena);
eq_backend *eq_eager_backend(eq_eager *e);

/* Time every op and report it to fn (NULL: stop). */
void eq_eager_set_op_timer(eq_eager *e, eq_op_timer fn, void *ctx);

/* Most bytes of op outputs alive at once since eq_eager_begin. */
size_t eq_eager_peak_bytes(const eq_eager *e);

/* Multiply-accumulates executed since eq_eager_begin. */
int64_t eq_eager_macs(const eq_eager *e);

#endif
