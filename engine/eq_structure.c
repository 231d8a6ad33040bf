/* eq_structure.c - concat and reshape shape inference (see eq_ops.h).
 *
 * Neither does arithmetic, so both work for any dtype: concat moves bytes.
 */
#include "eq_ops.h"

#include <stdint.h>
#include <string.h>

#include "eq_blas.h"

/* Concats below this many bytes stay on the calling thread. */
#define CONCAT_PAR_MIN_BYTES ((size_t)1 << 18)

static eq_status concat_check(const eq_tensor *const *xs, int n, int axis,
                              int *axis_out, int64_t out_shape[EQ_MAX_RANK],
                              eq_error *err)
{
    if (n < 1)
        return eq_error_set(err, EQ_ERR_INVALID, "concat: needs at least one input, got %d",
                            n);
    EQ_ASSERT(xs != NULL);
    for (int i = 0; i < n; i++)
        EQ_ASSERT(xs[i] != NULL);
    const eq_tensor *x0 = xs[0];
    int rank = x0->rank;
    char s0[128], si[128];
    if (rank < 1)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "concat: input 0 is a scalar; concat needs rank >= 1");
    if (axis < -rank || axis >= rank)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "concat: axis %d is out of range for rank %d inputs "
                            "(allowed %d..%d)", axis, rank, -rank, rank - 1);
    int ax = axis < 0 ? axis + rank : axis;
    for (int d = 0; d < EQ_MAX_RANK; d++)
        out_shape[d] = d < rank ? x0->shape[d] : 1;
    for (int i = 1; i < n; i++) {
        const eq_tensor *xi = xs[i];
        if (xi->dtype != x0->dtype)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "concat: input %d is %s but input 0 is %s", i,
                                eq_dtype_name(xi->dtype), eq_dtype_name(x0->dtype));
        if (xi->rank != rank)
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "concat: input %d shape %s has rank %d but input 0 "
                                "shape %s has rank %d", i,
                                eq_shape_str(xi->rank, xi->shape, si, sizeof si), xi->rank,
                                eq_shape_str(rank, x0->shape, s0, sizeof s0), rank);
        for (int d = 0; d < rank; d++) {
            if (d != ax && xi->shape[d] != x0->shape[d])
                return eq_error_set(err, EQ_ERR_SHAPE,
                                    "concat: input %d shape %s differs from input 0 "
                                    "shape %s on axis %d (not the concat axis %d)", i,
                                    eq_shape_str(rank, xi->shape, si, sizeof si),
                                    eq_shape_str(rank, x0->shape, s0, sizeof s0), d, ax);
        }
        out_shape[ax] += xi->shape[ax];
    }
    *axis_out = ax;
    return eq_shape_check(rank, out_shape, "concat: output", err);
}

eq_status eq_concat_shape(const eq_tensor *const *xs, int n, int axis,
                          int64_t out_shape[EQ_MAX_RANK], eq_error *err)
{
    int ax;
    return concat_check(xs, n, axis, &ax, out_shape, err);
}

eq_status eq_concat(const eq_tensor *const *xs, int n, int axis, eq_tensor *y,
                    eq_error *err)
{
    int64_t shape[EQ_MAX_RANK];
    int ax;
    eq_status st = concat_check(xs, n, axis, &ax, shape, err);
    if (st != EQ_OK)
        return st;
    int rank = xs[0]->rank;
    if (y->dtype != xs[0]->dtype || !eq_shape_equal(y->rank, y->shape, rank, shape)) {
        char sy[128], so[128];
        return eq_error_set(err, EQ_ERR_SHAPE, "concat: output %s %s does not match the "
                            "result %s %s", eq_dtype_name(y->dtype),
                            eq_shape_str(y->rank, y->shape, sy, sizeof sy),
                            eq_dtype_name(xs[0]->dtype),
                            eq_shape_str(rank, shape, so, sizeof so));
    }
    /* Row-major: every input is `outer` blocks of shape[ax] * inner
     * elements; the output interleaves those blocks input by input. Output
     * rows are filled in order (one write stream), and big concats split
     * their rows over the threads: a copy, so the split changes nothing. */
    size_t esize = eq_dtype_size(y->dtype);
    int64_t outer = eq_shape_numel(ax, shape);
    int64_t inner = eq_shape_numel(rank - ax - 1, shape + ax + 1);
    size_t out_row = (size_t)(shape[ax] * inner) * esize;
    if (out_row == 0 || outer == 0)
        return EQ_OK;
    int nt = eq_blas_threads();
    if ((size_t)outer * out_row < CONCAT_PAR_MIN_BYTES || outer < 2)
        nt = 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; o++) {
        char *dst = (char *)y->data + (size_t)o * out_row;
        for (int i = 0; i < n; i++) {
            size_t in_row = (size_t)(xs[i]->shape[ax] * inner) * esize;
            if (in_row)
                memcpy(dst, (const char *)xs[i]->data + (size_t)o * in_row, in_row);
            dst += in_row;
        }
    }
    return EQ_OK;
}

eq_status eq_reshape_shape(const eq_tensor *x, int rank, const int64_t *new_shape,
                           int64_t out_shape[EQ_MAX_RANK], eq_error *err)
{
    char sx[128], sn[128];
    int64_t numel = eq_tensor_numel(x);
    if (rank < 0 || rank > EQ_MAX_RANK)
        return eq_error_set(err, EQ_ERR_SHAPE, "reshape: target rank %d is outside 0..%d",
                            rank, EQ_MAX_RANK);
    eq_shape_str(x->rank, x->shape, sx, sizeof sx);
    eq_shape_str(rank, new_shape, sn, sizeof sn);
    int infer = -1, has_zero = 0;
    for (int d = 0; d < rank; d++) {
        if (new_shape[d] == -1) {
            if (infer >= 0)
                return eq_error_set(err, EQ_ERR_SHAPE,
                                    "reshape: target %s has more than one -1 "
                                    "(axes %d and %d)", sn, infer, d);
            infer = d;
        } else if (new_shape[d] < 0) {
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "reshape: target %s has dimension %lld on axis %d "
                                "(only -1 may be negative)", sn,
                                (long long)new_shape[d], d);
        } else if (new_shape[d] == 0) {
            has_zero = 1;
        }
    }
    int64_t known = 1;
    for (int d = 0; d < rank && !has_zero; d++) {
        if (d == infer)
            continue;
        if (known > INT64_MAX / new_shape[d])
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "reshape: cannot reshape %s (%lld elements) to %s "
                                "(its size overflows 64 bits)", sx, (long long)numel, sn);
        known *= new_shape[d];
    }
    if (has_zero)
        known = 0;
    for (int d = 0; d < EQ_MAX_RANK; d++)
        out_shape[d] = d < rank ? new_shape[d] : 1;
    if (infer >= 0) {
        if (known == 0)
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "reshape: cannot infer the -1 of %s for %s (%lld "
                                "elements): the other dimensions multiply to 0", sn, sx,
                                (long long)numel);
        if (numel % known != 0)
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "reshape: cannot reshape %s (%lld elements) to %s: %lld "
                                "is not a multiple of %lld", sx, (long long)numel, sn,
                                (long long)numel, (long long)known);
        out_shape[infer] = numel / known;
    } else if (known != numel) {
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "reshape: cannot reshape %s (%lld elements) to %s (%lld "
                            "elements)", sx, (long long)numel, sn, (long long)known);
    }
    return EQ_OK;
}
