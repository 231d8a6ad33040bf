/* eq_elementwise.c - binary add/sub/mul with simple broadcasting, scaling,
 * dropout and l2_loss (see eq_ops.h).
 *
 * Element-wise loops may be split across threads freely: each output
 * element depends on its own inputs only. l2_loss is the one reduction here
 * and runs in index order on one thread.
 */
#include "eq_alloc.h"
#include "eq_ops.h"

#include <string.h>

/* Below this many elements, starting threads costs more than the loop. */
#define PAR_MIN 32768

static const char *binary_name(eq_binary_op op)
{
    switch (op) {
    case EQ_BIN_ADD: return "add";
    case EQ_BIN_SUB: return "sub";
    case EQ_BIN_MUL: return "mul";
    }
    return "binary";
}

/* How the smaller operand is laid over the larger one. */
typedef enum bcast {
    BC_SAME,      /* equal shapes */
    BC_A_SCALAR,  /* a has one element */
    BC_B_SCALAR,  /* b has one element */
    BC_A_VECTOR,  /* a is [C], C = b's last dim */
    BC_B_VECTOR   /* b is [C], C = a's last dim */
} bcast;

static int is_vector_of(const eq_tensor *v, const eq_tensor *t)
{
    return v->rank == 1 && t->rank >= 1 && v->shape[0] == t->shape[t->rank - 1];
}

static eq_status binary_plan(eq_binary_op op, const eq_tensor *a, const eq_tensor *b,
                             bcast *how, const eq_tensor **big, eq_error *err)
{
    const char *name = binary_name(op);
    if ((unsigned)op > EQ_BIN_MUL)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "binary: unknown op %d (expected add, sub or mul)", (int)op);
    if (a->dtype != b->dtype)
        return eq_error_set(err, EQ_ERR_INVALID, "%s: operands are %s and %s; both must "
                            "have the same dtype", name, eq_dtype_name(a->dtype),
                            eq_dtype_name(b->dtype));
    int64_t na = eq_tensor_numel(a), nb = eq_tensor_numel(b);
    /* Checked in this order so that the result is the larger operand's
     * shape, and with two one-element operands the higher rank wins, as
     * TF's broadcasting would give. */
    if (eq_shape_equal(a->rank, a->shape, b->rank, b->shape)) {
        *how = BC_SAME;
        *big = a;
    } else if (nb == 1 && (na != 1 || a->rank >= b->rank)) {
        *how = BC_B_SCALAR;
        *big = a;
    } else if (na == 1) {
        *how = BC_A_SCALAR;
        *big = b;
    } else if (is_vector_of(b, a)) {
        *how = BC_B_VECTOR;
        *big = a;
    } else if (is_vector_of(a, b)) {
        *how = BC_A_VECTOR;
        *big = b;
    } else {
        char sa[128], sb[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: shapes %s and %s cannot be broadcast (supported: equal "
                            "shapes, a one-element operand, or a [C] vector matching the "
                            "other operand's last dimension)",
                            name, eq_shape_str(a->rank, a->shape, sa, sizeof sa),
                            eq_shape_str(b->rank, b->shape, sb, sizeof sb));
    }
    return EQ_OK;
}

eq_status eq_binary_shape(eq_binary_op op, const eq_tensor *a, const eq_tensor *b,
                          int *out_rank, int64_t out_shape[EQ_MAX_RANK],
                          eq_error *err)
{
    bcast how;
    const eq_tensor *big;
    eq_status st = binary_plan(op, a, b, &how, &big, err);
    if (st != EQ_OK)
        return st;
    *out_rank = big->rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        out_shape[i] = i < big->rank ? big->shape[i] : 1;
    return EQ_OK;
}

/* One loop per (op, dtype); IA/IB map an output index to the operand index
 * (i, 0 or i % c), so the broadcast kinds share a body. */
#define BINARY_LOOP(NAME, T, OPER)                                             \
    static void NAME(const T *a, const T *b, T *y, int64_t n, bcast how,       \
                     int64_t c)                                                \
    {                                                                          \
        switch (how) {                                                         \
        case BC_SAME:                                                          \
            _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")     \
            for (int64_t i = 0; i < n; i++)                                    \
                y[i] = a[i] OPER b[i];                                         \
            break;                                                             \
        case BC_A_SCALAR: {                                                    \
            const T s = a[0]; /* read before y (which may alias) is written */ \
            _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")     \
            for (int64_t i = 0; i < n; i++)                                    \
                y[i] = s OPER b[i];                                            \
            break;                                                             \
        }                                                                      \
        case BC_B_SCALAR: {                                                    \
            const T s = b[0];                                                  \
            _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")     \
            for (int64_t i = 0; i < n; i++)                                    \
                y[i] = a[i] OPER s;                                            \
            break;                                                             \
        }                                                                      \
        case BC_A_VECTOR: {                                                    \
            int64_t rows = n / c;                                              \
            _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")     \
            for (int64_t r = 0; r < rows; r++)                                 \
                for (int64_t j = 0; j < c; j++)                                \
                    y[r * c + j] = a[j] OPER b[r * c + j];                     \
            break;                                                             \
        }                                                                      \
        case BC_B_VECTOR: {                                                    \
            int64_t rows = n / c;                                              \
            _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")     \
            for (int64_t r = 0; r < rows; r++)                                 \
                for (int64_t j = 0; j < c; j++)                                \
                    y[r * c + j] = a[r * c + j] OPER b[j];                     \
            break;                                                             \
        }                                                                      \
        }                                                                      \
    }

BINARY_LOOP(add_f32, float, +)
BINARY_LOOP(sub_f32, float, -)
BINARY_LOOP(mul_f32, float, *)
BINARY_LOOP(add_f64, double, +)
BINARY_LOOP(sub_f64, double, -)
BINARY_LOOP(mul_f64, double, *)

eq_status eq_binary(eq_binary_op op, const eq_tensor *a, const eq_tensor *b,
                    eq_tensor *y, eq_error *err)
{
    bcast how;
    const eq_tensor *big;
    eq_status st = binary_plan(op, a, b, &how, &big, err);
    if (st != EQ_OK)
        return st;
    if (!eq_tensor_same_shape(y, big)) {
        char sy[128], sb[128];
        return eq_error_set(err, EQ_ERR_SHAPE, "%s: output %s %s does not match the "
                            "result %s %s", binary_name(op), eq_dtype_name(y->dtype),
                            eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                            eq_dtype_name(big->dtype),
                            eq_shape_str(big->rank, big->shape, sb, sizeof sb));
    }
    int64_t n = eq_tensor_numel(big);
    if (n == 0)
        return EQ_OK;
    int64_t c = big->rank ? big->shape[big->rank - 1] : 1;
    if (a->dtype == EQ_F64) {
        switch (op) {
        case EQ_BIN_ADD: add_f64(a->data, b->data, y->data, n, how, c); break;
        case EQ_BIN_SUB: sub_f64(a->data, b->data, y->data, n, how, c); break;
        case EQ_BIN_MUL: mul_f64(a->data, b->data, y->data, n, how, c); break;
        }
    } else {
        switch (op) {
        case EQ_BIN_ADD: add_f32(a->data, b->data, y->data, n, how, c); break;
        case EQ_BIN_SUB: sub_f32(a->data, b->data, y->data, n, how, c); break;
        case EQ_BIN_MUL: mul_f32(a->data, b->data, y->data, n, how, c); break;
        }
    }
    return EQ_OK;
}

eq_status eq_add(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err)
{
    return eq_binary(EQ_BIN_ADD, a, b, y, err);
}

eq_status eq_sub(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err)
{
    return eq_binary(EQ_BIN_SUB, a, b, y, err);
}

eq_status eq_mul(const eq_tensor *a, const eq_tensor *b, eq_tensor *y, eq_error *err)
{
    return eq_binary(EQ_BIN_MUL, a, b, y, err);
}

static eq_status check_like(const char *op, const char *what, const eq_tensor *x,
                            const eq_tensor *t, eq_error *err)
{
    if (eq_tensor_same_shape(x, t))
        return EQ_OK;
    char sx[128], st[128];
    return eq_error_set(err, EQ_ERR_SHAPE, "%s: %s %s %s does not match input %s %s",
                        op, what, eq_dtype_name(t->dtype),
                        eq_shape_str(t->rank, t->shape, st, sizeof st),
                        eq_dtype_name(x->dtype), eq_shape_str(x->rank, x->shape, sx, sizeof sx));
}

eq_status eq_scale(const eq_tensor *x, float s, eq_tensor *y, eq_error *err)
{
    eq_status st = check_like("scale", "output", x, y, err);
    if (st != EQ_OK)
        return st;
    int64_t n = eq_tensor_numel(x);
    if (x->dtype == EQ_F64) {
        const double *xd = x->data;
        double *yd = y->data;
        const double sd = s;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            yd[i] = xd[i] * sd;
    } else {
        const float *xf = x->data;
        float *yf = y->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            yf[i] = xf[i] * s;
    }
    return EQ_OK;
}

eq_status eq_dropout(const eq_tensor *x, const eq_tensor *u, double keep_prob,
                     eq_tensor *y, eq_error *err)
{
    /* Written so that NaN fails too. */
    if (!(keep_prob > 0.0 && keep_prob <= 1.0))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "dropout: keep_prob %g is outside (0, 1]", keep_prob);
    eq_status st = check_like("dropout", "output", x, y, err);
    if (st != EQ_OK)
        return st;
    /* keep_prob == 1 makes no random op in TF, so u is not needed then. */
    if (u || keep_prob < 1.0) {
        if (!u)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "dropout: keep_prob %g < 1 needs the uniform noise u",
                                keep_prob);
        st = check_like("dropout", "noise u", x, u, err);
        if (st != EQ_OK)
            return st;
    }
    int64_t n = eq_tensor_numel(x);
    if (keep_prob == 1.0) {
        if (y->data != x->data && n > 0)
            memmove(y->data, x->data, eq_tensor_nbytes(x));
        return EQ_OK;
    }
    /* tf.nn.dropout: rate and 1/(1-rate) are Python doubles, each converted
     * to x's dtype on its own; keep = (u >= rate). Recomputing keep_prob as
     * 1 - rate (not using it directly) is deliberate: it can differ in the
     * last bit. */
    double rate = 1.0 - keep_prob;
    double scale = 1.0 / (1.0 - rate);
    if (x->dtype == EQ_F64) {
        const double *xd = x->data, *ud = u->data;
        double *yd = y->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            yd[i] = ud[i] >= rate ? xd[i] * scale : 0.0;
    } else {
        const float rate_f = (float)rate, scale_f = (float)scale;
        const float *xf = x->data, *uf = u->data;
        float *yf = y->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            yf[i] = uf[i] >= rate_f ? xf[i] * scale_f : 0.0f;
    }
    return EQ_OK;
}

/* L2Loss's summation order, fixed by the element count alone (never by the
 * thread count, so the loss is the same bits at any thread count): blocks
 * of L2_BLOCK elements; in a block, L2_LANES running sums in double (lane j
 * takes elements j, j + L2_LANES, ...), added in lane order, then the
 * block's tail; the blocks' sums added in block order. One running sum
 * over 59M weights (Inception-ResNet-v2) was a chain of dependent adds:
 * 80 ms per forward pass, more than half of an eager pass. */
#define L2_LANES 8
#define L2_BLOCK 16384
#define L2_STACK_BLOCKS 64

static double l2_block(const float *w, int64_t n)
{
    double acc[L2_LANES] = {0};
    int64_t i = 0;
    for (; i + L2_LANES <= n; i += L2_LANES)
        for (int j = 0; j < L2_LANES; j++)
            acc[j] += (double)(w[i + j] * w[i + j] * 0.5f);
    double s = 0.0;
    for (int j = 0; j < L2_LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += (double)(w[i] * w[i] * 0.5f);
    return s;
}

eq_status eq_l2_loss(const eq_tensor *w, float *out, eq_error *err)
{
    /* The result is a float, so a float64 pass would silently lose its
     * precision here; refuse rather than round. */
    if (w->dtype != EQ_F32)
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "l2_loss: %s input is not supported (its result is a "
                            "float32)", eq_dtype_name(w->dtype));
    const float *wf = w->data;
    int64_t n = eq_tensor_numel(w);
    /* TF's L2Loss halves each square in float32, then sums; the sums here
     * are in double, in the order above. */
    int64_t nb = (n + L2_BLOCK - 1) / L2_BLOCK;
    double stack[L2_STACK_BLOCKS];
    double *part = nb <= L2_STACK_BLOCKS ? stack : eq_malloc((size_t)nb * sizeof *part);
    if (!part)
        return eq_error_set(err, EQ_ERR_NOMEM, "l2_loss: out of memory for %lld block sums",
                            (long long)nb);
#pragma omp parallel for schedule(static) if (nb >= 4)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * L2_BLOCK;
        part[b] = l2_block(wf + i0, n - i0 < L2_BLOCK ? n - i0 : L2_BLOCK);
    }
    double sum = 0.0;
    for (int64_t b = 0; b < nb; b++)
        sum += part[b];
    if (part != stack)
        eq_free(part);
    *out = (float)sum;
    return EQ_OK;
}
