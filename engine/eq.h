/* eq.h - libequiv, the engine of equivd.
 *
 * equivd checks that a network gives the same numbers when run the way
 * TensorFlow 1.x runs it (graph mode: build once, optimise, run in a session)
 * and the way TensorFlow 2 runs it (eager mode: op by op, variables created
 * on the first call). The engine's data flows one way:
 *
 *   model JSON --parse--> model AST --interpreter--> backend (eager | graph)
 *        --kernels (eq_ops.h, BLIS)--> outputs, endpoints, manifests, traces
 *        --comparator--> report (jansson json_t)
 *
 * The layers, bottom up, one header each:
 *   eq_error.h   errors as values (eq_status + eq_error with a message)
 *   eq_alloc.h   the allocation door (with failure injection for tests)
 *   eq_arena.h   arenas: who owns tensors (one arena per pass or job)
 *   eq_tensor.h  NHWC float32/float64 tensors
 *   eq_blas.h    BLIS kernel-set choice and threads (call eq_blas_init first)
 *   eq_ops.h     forward kernels with TensorFlow's semantics
 *   eq_rng.h     Philox4x32-10, distributions, initializers, seed policy
 *   eq_model.h   the model language: JSON -> resolved AST (docs/model-language.md)
 *   eq_runtime.h eq_runner: one model in eager or graph mode (interpreter,
 *                backends, graph passes, variable store, random traces)
 *   eq_compare.h the comparator's metrics (assert_allclose semantics)
 *   eq_safetensors.h, eq_npy.h   tensor files
 *   eq_job.h     validation jobs: parse, estimate, run the checks, report
 *
 * The whole flow, as `equivd validate` runs it:
 *
 *   eq_job *job = eq_job_parse(spec, &env, &err);   // the model parsed inside
 *   json_t *report = eq_job_run(job, &hooks, &err); // runners per mode per check,
 *                                                   // outputs compared tensor by tensor
 *   eq_report_verdict(report);                      // "pass" | "fail" | "error"
 *
 * and one model by hand:
 *
 *   eq_model *m = eq_model_parse_file("engine/zoo/small_cnn.json", NULL, &err);
 *   eq_run_config cfg;
 *   eq_run_config_default(&cfg, EQ_MODE_GRAPH);     // or EQ_MODE_EAGER
 *   eq_runner *r = eq_runner_new(m, &cfg, &err);
 *   const eq_result *res;
 *   eq_runner_call(r, input, &res, &err);           // res->outputs, ->endpoints
 *
 * A minimal use of the kernels:
 *
 *   eq_error err;
 *   eq_blas_init(0, &err);                      // before any BLIS call
 *   eq_arena *a = eq_arena_new(0);
 *   int64_t xs[4] = {1, 299, 299, 3}, ws[4] = {3, 3, 3, 32}, ys[4];
 *   eq_tensor *x = eq_tensor_new(a, EQ_F32, 4, xs, &err);
 *   eq_tensor *w = eq_tensor_new(a, EQ_F32, 4, ws, &err);
 *   eq_conv2d_params p = {2, 2, 1, 1, EQ_PAD_VALID, EQ_ACT_NONE};
 *   eq_conv2d_shape(x, w, NULL, &p, ys, &err);  // -> [1, 149, 149, 32]
 *   eq_tensor *y = eq_tensor_new(a, EQ_F32, 4, ys, &err);
 *   eq_workspace scratch = {0};
 *   if (eq_conv2d(x, w, NULL, &p, y, &scratch, &err) != EQ_OK)
 *       fprintf(stderr, "%s\n", err.message);
 *   eq_workspace_release(&scratch);
 *   eq_arena_free(a);                           // frees x, w and y
 */
#ifndef EQ_H
#define EQ_H

#include "eq_alloc.h"
#include "eq_arena.h"
#include "eq_blas.h"
#include "eq_error.h"
#include "eq_ops.h"
#include "eq_rng.h"
#include "eq_tensor.h"

#endif
