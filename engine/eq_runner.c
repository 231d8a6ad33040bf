/* eq_runner.c - one model in one mode: variables, seeds, calls. */
#include "eq_clock.h"
#include "eq_runtime.h"

#include <string.h>
#include <time.h>

#include "eq_alloc.h"
#include "eq_eager.h"
#include "eq_graph.h"
#include "eq_interp.h"
#include "eq_rand.h"

struct eq_runner {
    const eq_model *model;
    eq_run_config cfg;
    eq_varstore *vars;
    eq_rand *rand;
    eq_interp *interp;
    int calls;

    /* eager */
    eq_eager *eager;
    eq_arena *call_arena;   /* reset per call */

    /* graph */
    eq_graph *graph;
    eq_arena *build_arena;  /* values of the build, lives with the graph */
    int fetch_outputs, fetch_endpoints, fetch_reg; /* first fetch index of each */

    eq_result result;
    char describe[512];
};

const char *eq_mode_name(eq_mode m) { return m == EQ_MODE_GRAPH ? "graph" : "eager"; }

void eq_run_config_default(eq_run_config *c, eq_mode mode)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->seeding = EQ_SEEDING_CONSTANT;
    c->seed = 42;
    eq_graph_options_all(&c->graph, 1);
}


eq_runner *eq_runner_new(const eq_model *m, const eq_run_config *cfg, eq_error *err)
{
    eq_runner *r = eq_calloc(1, sizeof *r);
    if (!r) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a runner");
        return NULL;
    }
    r->model = m;
    r->cfg = *cfg;
    r->vars = eq_varstore_new();
    r->call_arena = eq_arena_new((size_t)16 << 20);
    r->build_arena = eq_arena_new((size_t)1 << 20);
    if (!r->vars || !r->call_arena || !r->build_arena) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a runner");
        goto fail;
    }
    r->rand = eq_rand_new(cfg->mode, cfg->seeding, cfg->seed, cfg->operation_seed, err);
    if (!r->rand)
        goto fail;
    r->interp = eq_interp_new(m, cfg, r->vars, r->rand, err);
    if (!r->interp)
        goto fail;
    if (cfg->mode == EQ_MODE_EAGER) {
        r->eager = eq_eager_new(r->rand, err);
        if (!r->eager)
            goto fail;
        eq_eager_set_op_timer(r->eager, cfg->op_timer, cfg->op_timer_ctx);
    }
    return r;
fail:
    eq_runner_free(r);
    return NULL;
}

void eq_runner_free(eq_runner *r)
{
    if (!r)
        return;
    eq_graph_free(r->graph);
    eq_eager_free(r->eager);
    eq_interp_free(r->interp);
    eq_rand_free(r->rand);
    eq_varstore_free(r->vars);
    eq_arena_free(r->call_arena);
    eq_arena_free(r->build_arena);
    eq_free(r);
}

eq_varstore *eq_runner_vars(eq_runner *r) { return r->vars; }
int eq_runner_calls(const eq_runner *r) { return r->calls; }

eq_status eq_runner_set_operation_seed(eq_runner *r, int64_t op_seed, eq_error *err)
{
    return eq_rand_set_operation_seed(r->rand, op_seed, err);
}

int eq_runner_trace(const eq_runner *r, const eq_trace_entry **entries)
{
    return eq_interp_trace(r->interp, entries);
}

/* Copy the interpreter's named values into the public result. */
static eq_status result_from_eager(eq_runner *r, const eq_interp_result *ir, eq_error *err)
{
    eq_result *res = &r->result;
    res->n_outputs = ir->n_outputs;
    res->n_endpoints = ir->n_endpoints;
    res->outputs = eq_arena_alloc(r->call_arena, (size_t)(ir->n_outputs + 1) * sizeof *res->outputs);
    res->endpoints = eq_arena_alloc(r->call_arena,
                                    (size_t)(ir->n_endpoints + 1) * sizeof *res->endpoints);
    if (!res->outputs || !res->endpoints)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for results");
    for (int i = 0; i < ir->n_outputs; i++) {
        res->outputs[i].name = ir->outputs[i].name;
        res->outputs[i].tensor = &ir->outputs[i].value->t;
    }
    for (int i = 0; i < ir->n_endpoints; i++) {
        res->endpoints[i].name = ir->endpoints[i].name;
        res->endpoints[i].tensor = &ir->endpoints[i].value->t;
    }
    res->has_reg_loss = ir->reg_loss != NULL;
    res->reg_loss = ir->reg_loss ? eq_tensor_f32(&ir->reg_loss->t)[0] : 0.0f;
    res->activation_bytes = eq_eager_peak_bytes(r->eager);
    return EQ_OK;
}

static eq_status eager_call(eq_runner *r, const eq_tensor *input, eq_error *err)
{
    eq_status st;
    /* Functional wrapping: Keras builds the model (creating every variable)
     * before the first real call. */
    int first = r->calls == 0;
    for (int call = first && r->cfg.functional ? 0 : r->calls + 1; call <= r->calls + 1; call++) {
        eq_arena_reset(r->call_arena);
        eq_eager_begin(r->eager, r->call_arena);
        eq_value *in = eq_arena_calloc(r->call_arena, sizeof *in);
        if (!in)
            return eq_error_set(err, EQ_ERR_NOMEM, "out of memory");
        in->t = *input;
        in->node = -1;
        in->temp = 0; /* the caller's tensor: never written over */
        eq_interp_result ir;
        st = eq_interp_call(r->interp, eq_eager_backend(r->eager), r->call_arena, call, in,
                            &ir, err);
        if (st != EQ_OK)
            return st;
        if (call == r->calls + 1)
            return result_from_eager(r, &ir, err);
    }
    return EQ_OK;
}

static eq_status graph_build(eq_runner *r, const eq_tensor *input, eq_error *err)
{
    r->graph = eq_graph_new(r->vars, err);
    if (!r->graph)
        return err ? err->status : EQ_ERR_NOMEM;
    eq_graph_set_op_timer(r->graph, r->cfg.op_timer, r->cfg.op_timer_ctx);
    eq_value *in;
    eq_status st = eq_graph_input(r->graph, input->rank, input->shape, &in, err);
    if (st != EQ_OK)
        return st;
    eq_interp_result ir;
    st = eq_interp_call(r->interp, eq_graph_backend(r->graph), r->build_arena, 1, in, &ir, err);
    if (st != EQ_OK)
        return st;
    eq_result *res = &r->result;
    res->n_outputs = ir.n_outputs;
    res->n_endpoints = ir.n_endpoints;
    res->has_reg_loss = ir.reg_loss != NULL;
    res->outputs = eq_arena_alloc(r->build_arena, (size_t)(ir.n_outputs + 1) * sizeof *res->outputs);
    res->endpoints = eq_arena_alloc(r->build_arena,
                                    (size_t)(ir.n_endpoints + 1) * sizeof *res->endpoints);
    if (!res->outputs || !res->endpoints)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory for results");
    int idx;
    for (int i = 0; i < ir.n_outputs; i++) {
        if ((st = eq_graph_fetch(r->graph, ir.outputs[i].value, &idx, err)) != EQ_OK)
            return st;
        if (i == 0)
            r->fetch_outputs = idx;
        res->outputs[i].name = ir.outputs[i].name;
    }
    for (int i = 0; i < ir.n_endpoints; i++) {
        if ((st = eq_graph_fetch(r->graph, ir.endpoints[i].value, &idx, err)) != EQ_OK)
            return st;
        if (i == 0)
            r->fetch_endpoints = idx;
        res->endpoints[i].name = ir.endpoints[i].name;
    }
    if (ir.reg_loss && (st = eq_graph_fetch(r->graph, ir.reg_loss, &r->fetch_reg, err)) != EQ_OK)
        return st;
    return eq_graph_finalize(r->graph, &r->cfg.graph, err);
}

static eq_status graph_call(eq_runner *r, const eq_tensor *input, eq_error *err)
{
    eq_status st;
    if (!r->graph && (st = graph_build(r, input, err)) != EQ_OK)
        return st;
    if ((st = eq_graph_run(r->graph, input, err)) != EQ_OK)
        return st;
    eq_result *res = &r->result;
    for (int i = 0; i < res->n_outputs; i++)
        res->outputs[i].tensor = eq_graph_result(r->graph, r->fetch_outputs + i);
    for (int i = 0; i < res->n_endpoints; i++)
        res->endpoints[i].tensor = eq_graph_result(r->graph, r->fetch_endpoints + i);
    if (res->has_reg_loss)
        res->reg_loss = eq_tensor_f32(eq_graph_result(r->graph, r->fetch_reg))[0];
    res->activation_bytes = eq_graph_planned_bytes(r->graph);
    return EQ_OK;
}

eq_status eq_runner_call(eq_runner *r, const eq_tensor *input, const eq_result **out,
                         eq_error *err)
{
    double t0 = eq_now_seconds();
    if (input->dtype != EQ_F32)
        return eq_error_set(err, EQ_ERR_UNSUPPORTED, "the model input must be float32");
    eq_status st = r->cfg.mode == EQ_MODE_GRAPH ? graph_call(r, input, err)
                                                : eager_call(r, input, err);
    if (st != EQ_OK)
        return st;
    r->calls++;
    r->result.seconds = eq_now_seconds() - t0;
    *out = &r->result;
    return EQ_OK;
}

const char *eq_runner_describe(eq_runner *r)
{
    if (r->cfg.mode == EQ_MODE_GRAPH && r->graph)
        return eq_graph_describe(r->graph);
    snprintf(r->describe, sizeof r->describe, "%s mode, %d variables, %d calls",
             eq_mode_name(r->cfg.mode), eq_varstore_count(r->vars), r->calls);
    return r->describe;
}
