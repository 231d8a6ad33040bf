/* eq_eager.c - the eager backend (see eq_eager.h). */
#include "eq_clock.h"
#include "eq_eager.h"

#include "eq_alloc.h"
#include "eq_bufpool.h"

struct eq_eager {
    eq_backend base;  /* first: the vtable functions cast back */
    eq_rand *rand;
    eq_arena *arena;  /* the call's: value and tensor descriptors */
    eq_bufpool *pool; /* tensor data of op outputs, given back by release */
    eq_workspace ws;  /* im2col scratch, kept across calls */
    int64_t macs;
    eq_op_timer timer;
    void *timer_ctx;
};

static eq_value *new_value(eq_eager *e, eq_error *err)
{
    eq_value *v = eq_arena_calloc(e->arena, sizeof *v);
    if (!v)
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for an eager value");
    return v;
}

/* A float32 op output: descriptor in the call's arena, data from the pool
 * (the value that holds it has temp = 1 and owns the buffer). */
static eq_tensor *new_output(eq_eager *e, int rank, const int64_t *shape, eq_error *err)
{
    eq_tensor *t = eq_arena_alloc(e->arena, sizeof *t);
    if (!t) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a tensor descriptor");
        return NULL;
    }
    if (eq_tensor_view(t, EQ_F32, rank, shape, NULL, err) != EQ_OK)
        return NULL;
    t->data = eq_bufpool_get(e->pool, eq_tensor_nbytes(t));
    if (!t->data) {
        char s[128];
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a float32 tensor of shape %s",
                     eq_shape_str(rank, shape, s, sizeof s));
        return NULL;
    }
    return t;
}

/* Kernels documented to allow their output to alias input 0 (eq_ops.h). */
static int may_alias_input(const eq_opdesc *d)
{
    switch (d->kind) {
    case EQ_OP_ACTIVATION:
    case EQ_OP_BIAS_ADD:
    case EQ_OP_BN_INFERENCE:
    case EQ_OP_SCALE: return 1;
    default: return 0;
    }
}

/* Run one op now. `consume`: in[0] is a temporary nobody reads again, so
 * an element-wise kernel that allows it writes its result over in[0]
 * instead of into a new tensor of the call's arena. */
static eq_status run_op(eq_eager *e, const eq_opdesc *d, eq_value *const *in, int n,
                        int consume, eq_value **out, eq_error *err)
{
    const eq_tensor *ts[EQ_OP_MAX_INPUTS];
    if (n > EQ_OP_MAX_INPUTS)
        return eq_error_set(err, EQ_ERR_INVALID, "%s: too many inputs (%d)", d->name, n);
    for (int i = 0; i < n; i++)
        ts[i] = &in[i]->t;
    int rank;
    int64_t shape[EQ_MAX_RANK];
    eq_status st = eq_opdesc_infer(d, ts, n, &rank, shape, err);
    if (st != EQ_OK)
        return st;
    eq_value *v = new_value(e, err);
    if (!v)
        return EQ_ERR_NOMEM;
    eq_tensor over, *t;
    if (consume && n >= 1 && in[0]->temp && may_alias_input(d) && in[0]->t.dtype == EQ_F32 &&
        eq_shape_equal(rank, shape, in[0]->t.rank, in[0]->t.shape)) {
        over = in[0]->t;
        t = &over;
        in[0]->temp = 0; /* the buffer now belongs to the result */
    } else if (!(t = new_output(e, rank, shape, err))) {
        return err ? err->status : EQ_ERR_NOMEM;
    }
    double t0 = e->timer ? eq_now_seconds() : 0;
    st = eq_opdesc_execute(d, ts, n, t, &e->ws, err);
    if (st != EQ_OK)
        return st;
    int64_t macs = eq_opdesc_macs(d, ts, n, t);
    e->macs += macs;
    if (e->timer) {
        eq_op_timing tm = {eq_opkind_name(d->kind), d->name, ts, n, t, macs,
                           eq_now_seconds() - t0};
        e->timer(e->timer_ctx, &tm);
    }
    v->t = *t;
    v->node = -1;
    v->temp = 1;
    *out = v;
    return EQ_OK;
}

static eq_status eager_op(eq_backend *b, const eq_opdesc *d, eq_value *const *in, int n,
                          eq_value **out, eq_error *err)
{
    return run_op((eq_eager *)b, d, in, n, 0, out, err);
}

static eq_status eager_op_consume(eq_backend *b, const eq_opdesc *d, eq_value *const *in,
                                  int n, eq_value **out, eq_error *err)
{
    return run_op((eq_eager *)b, d, in, n, 1, out, err);
}

static eq_status eager_variable(eq_backend *b, eq_var *var, eq_value **out, eq_error *err)
{
    eq_eager *e = (eq_eager *)b;
    eq_value *v = new_value(e, err);
    if (!v)
        return EQ_ERR_NOMEM;
    v->t = *var->value;
    v->node = -1;
    v->temp = 0;
    *out = v;
    return EQ_OK;
}

static eq_status eager_constant(eq_backend *b, const eq_tensor *t, eq_value **out,
                                eq_error *err)
{
    eq_eager *e = (eq_eager *)b;
    eq_value *v = new_value(e, err);
    if (!v)
        return EQ_ERR_NOMEM;
    v->t = *t;
    v->node = -1;
    v->temp = 0;
    *out = v;
    return EQ_OK;
}

static eq_status eager_random_uniform(eq_backend *b, const char *name, int64_t seed,
                                      int64_t seed2, int rank, const int64_t *shape,
                                      eq_value **out, eq_error *err)
{
    eq_eager *e = (eq_eager *)b;
    eq_value *v = new_value(e, err);
    if (!v)
        return EQ_ERR_NOMEM;
    eq_tensor *t = new_output(e, rank, shape, err);
    if (!t)
        return err ? err->status : EQ_ERR_NOMEM;
    eq_status st = eq_rand_uniform(e->rand, seed, seed2, t, err);
    if (st != EQ_OK) {
        eq_error_prefix(err, "%s: ", name);
        return st;
    }
    v->t = *t;
    v->node = -1;
    v->temp = 1;
    *out = v;
    return EQ_OK;
}

static void eager_release(eq_backend *b, eq_value *v)
{
    eq_eager *e = (eq_eager *)b;
    if (v->temp && eq_bufpool_put(e->pool, v->t.data))
        v->t.data = NULL; /* a read after release fails loudly, not with old numbers */
    v->temp = 0;
}

static const eq_backend_vtable eager_vtable = {
    .op = eager_op,
    .op_consume = eager_op_consume,
    .variable = eager_variable,
    .constant = eager_constant,
    .random_uniform = eager_random_uniform,
    .release = eager_release,
};

eq_eager *eq_eager_new(eq_rand *rand, eq_error *err)
{
    eq_eager *e = eq_calloc(1, sizeof *e);
    if (!e) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the eager backend");
        return NULL;
    }
    e->base.vt = &eager_vtable;
    e->rand = rand;
    e->pool = eq_bufpool_new();
    if (!e->pool) {
        eq_free(e);
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for the eager backend");
        return NULL;
    }
    return e;
}

void eq_eager_set_op_timer(eq_eager *e, eq_op_timer fn, void *ctx)
{
    e->timer = fn;
    e->timer_ctx = ctx;
}

void eq_eager_free(eq_eager *e)
{
    if (!e)
        return;
    eq_workspace_release(&e->ws);
    eq_bufpool_free(e->pool);
    eq_free(e);
}

void eq_eager_begin(eq_eager *e, eq_arena *call_arena)
{
    e->arena = call_arena;
    eq_bufpool_reset(e->pool);
    e->macs = 0;
}

eq_backend *eq_eager_backend(eq_eager *e) { return &e->base; }

int64_t eq_eager_macs(const eq_eager *e) { return e->macs; }

size_t eq_eager_peak_bytes(const eq_eager *e) { return eq_bufpool_get_stats(e->pool).peak_in_use; }
