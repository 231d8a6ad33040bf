/* eq_tensor.c - tensor descriptors and whole-tensor helpers. */
#include "eq_tensor.h"

#include <string.h>

size_t eq_dtype_size(eq_dtype dtype) { return dtype == EQ_F64 ? 8 : 4; }

const char *eq_dtype_name(eq_dtype dtype)
{
    return dtype == EQ_F64 ? "float64" : "float32";
}

int64_t eq_shape_numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    return n;
}

char *eq_shape_str(int rank, const int64_t *shape, char *buf, size_t n)
{
    size_t off = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld",
                                (long long)shape[i]);
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

eq_status eq_shape_check(int rank, const int64_t *shape, const char *what,
                         eq_error *err)
{
    if (rank < 0 || rank > EQ_MAX_RANK)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "%s: rank %d is outside 0..%d", what, rank,
                            EQ_MAX_RANK);
    /* 2^40 elements is far beyond any model this service runs; the bound
     * keeps the byte count from overflowing. */
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) {
            char s[128];
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "%s: dimension %d of shape %s is negative",
                                what, i, eq_shape_str(rank, shape, s, sizeof s));
        }
        if (shape[i] > 0 && n > ((int64_t)1 << 40) / shape[i]) {
            char s[128];
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "%s: shape %s has more than 2^40 elements",
                                what, eq_shape_str(rank, shape, s, sizeof s));
        }
        n *= shape[i];
    }
    return EQ_OK;
}

static void set_shape(eq_tensor *t, eq_dtype dtype, int rank,
                      const int64_t *shape)
{
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < EQ_MAX_RANK; i++)
        t->shape[i] = i < rank ? shape[i] : 1;
}

eq_tensor *eq_tensor_new(eq_arena *arena, eq_dtype dtype, int rank,
                         const int64_t *shape, eq_error *err)
{
    if (eq_shape_check(rank, shape, "tensor", err) != EQ_OK)
        return NULL;
    eq_tensor *t = eq_arena_alloc(arena, sizeof *t);
    if (!t) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a tensor descriptor");
        return NULL;
    }
    set_shape(t, dtype, rank, shape);
    t->data = eq_arena_alloc(arena, eq_tensor_nbytes(t));
    if (!t->data) {
        char s[128];
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for a %s tensor of shape %s",
                     eq_dtype_name(dtype), eq_shape_str(rank, shape, s, sizeof s));
        return NULL;
    }
    return t;
}

eq_tensor *eq_tensor_zeros(eq_arena *arena, eq_dtype dtype, int rank,
                           const int64_t *shape, eq_error *err)
{
    eq_tensor *t = eq_tensor_new(arena, dtype, rank, shape, err);
    if (t)
        memset(t->data, 0, eq_tensor_nbytes(t));
    return t;
}

eq_status eq_tensor_view(eq_tensor *t, eq_dtype dtype, int rank,
                         const int64_t *shape, void *data, eq_error *err)
{
    eq_status st = eq_shape_check(rank, shape, "tensor view", err);
    if (st != EQ_OK)
        return st;
    set_shape(t, dtype, rank, shape);
    t->data = data;
    return EQ_OK;
}

int64_t eq_tensor_numel(const eq_tensor *t) { return eq_shape_numel(t->rank, t->shape); }

size_t eq_tensor_nbytes(const eq_tensor *t)
{
    return (size_t)eq_tensor_numel(t) * eq_dtype_size(t->dtype);
}

int eq_shape_equal(int rank_a, const int64_t *a, int rank_b, const int64_t *b)
{
    if (rank_a != rank_b)
        return 0;
    for (int i = 0; i < rank_a; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

int eq_tensor_same_shape(const eq_tensor *a, const eq_tensor *b)
{
    return a->dtype == b->dtype && eq_shape_equal(a->rank, a->shape, b->rank, b->shape);
}

void eq_tensor_fill(eq_tensor *t, double value)
{
    int64_t n = eq_tensor_numel(t);
    if (t->dtype == EQ_F64) {
        double *d = eq_tensor_f64(t);
        for (int64_t i = 0; i < n; i++)
            d[i] = value;
    } else {
        float *f = eq_tensor_f32(t);
        float v = (float)value;
        for (int64_t i = 0; i < n; i++)
            f[i] = v;
    }
}

double eq_tensor_get(const eq_tensor *t, int64_t i)
{
    return t->dtype == EQ_F64 ? eq_tensor_f64(t)[i] : (double)eq_tensor_f32(t)[i];
}

eq_status eq_tensor_copy(eq_tensor *dst, const eq_tensor *src, eq_error *err)
{
    int64_t n = eq_tensor_numel(src);
    if (eq_tensor_numel(dst) != n) {
        char a[128], b[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "copy: source shape %s and destination shape %s differ in size",
                            eq_shape_str(src->rank, src->shape, a, sizeof a),
                            eq_shape_str(dst->rank, dst->shape, b, sizeof b));
    }
    if (dst->dtype == src->dtype) {
        memmove(dst->data, src->data, eq_tensor_nbytes(src));
    } else if (dst->dtype == EQ_F64) {
        const float *s = eq_tensor_f32(src);
        double *d = eq_tensor_f64(dst);
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        const double *s = eq_tensor_f64(src);
        float *d = eq_tensor_f32(dst);
        for (int64_t i = 0; i < n; i++)
            d[i] = (float)s[i];
    }
    return EQ_OK;
}

eq_tensor *eq_tensor_convert(eq_arena *arena, const eq_tensor *src,
                             eq_dtype dtype, eq_error *err)
{
    eq_tensor *t = eq_tensor_new(arena, dtype, src->rank, src->shape, err);
    if (t && eq_tensor_copy(t, src, err) != EQ_OK)
        return NULL;
    return t;
}
