/* eq_rand.h - random numbers for one runner: seeds and kernels per mode.
 *
 * The interpreter asks for the seeds of every random op in program order
 * (variable initialisers and dropout noise alike) and draws with them. How
 * seeds are chosen (the TF rules, or the DeterministicRandomTestTool's
 * constant / num_random_ops modes) and how kernels hold state differ by mode,
 * as spec/random-and-naming.md §3 says:
 *   eager: kernels are cached by seed pair, so a reused pair continues its
 *          stream; set_seed (which constant mode does before every op)
 *          clears the cache;
 *   graph: every random node has its own kernel, starting at offset 0.
 * Internal to the engine.
 */
#ifndef EQ_RAND_H
#define EQ_RAND_H

#include <stdint.h>

#include "eq_error.h"
#include "eq_model.h"
#include "eq_runtime.h"
#include "eq_tensor.h"

typedef struct eq_rand eq_rand;

eq_rand *eq_rand_new(eq_mode mode, eq_seeding seeding, int64_t seed,
                     int64_t operation_seed, eq_error *err);
void eq_rand_free(eq_rand *r);

/* Seeds for the next random op. Fails (EQ_ERR_STATE) when the tool would
 * reuse an operation seed. */
eq_status eq_rand_next_seeds(eq_rand *r, int64_t *seed, int64_t *seed2,
                             eq_error *err);

/* The tool's settable operation_seed (seed policies only; EQ_ERR_STATE
 * under the plain TF seed rules). */
eq_status eq_rand_set_operation_seed(eq_rand *r, int64_t op_seed, eq_error *err);

/* 1 when the initializer draws random numbers (and so takes seeds). */
int eq_rand_init_is_random(const eq_ast_init *init);

/* Fill t per the initializer; random kinds use a kernel for (seed, seed2):
 * eager mode the cached one, graph mode a fresh one. */
eq_status eq_rand_initialize(eq_rand *r, const eq_ast_init *init, int64_t seed,
                             int64_t seed2, eq_tensor *t, eq_error *err);

/* Uniform [0, 1) noise from the eager kernel cache. */
eq_status eq_rand_uniform(eq_rand *r, int64_t seed, int64_t seed2,
                          eq_tensor *t, eq_error *err);

#endif
