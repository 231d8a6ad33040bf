/* eq_tensor.h - dense tensors: NHWC, contiguous, row-major.
 *
 * An eq_tensor is a small descriptor (dtype, rank, shape) plus a pointer to
 * its elements. The descriptor is a plain struct so kernels can read shapes
 * without calls. The elements are owned by an arena (eq_tensor_new) or by
 * whoever made the view (eq_tensor_view); a tensor never frees anything.
 *
 * Layout conventions: activations NHWC, conv kernels HWIO [kh, kw, in, out],
 * dense kernels [in, out]. float32 everywhere; float64 for reference passes.
 */
#ifndef EQ_TENSOR_H
#define EQ_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "eq_arena.h"
#include "eq_error.h"

#define EQ_MAX_RANK 6

typedef enum eq_dtype { EQ_F32 = 0, EQ_F64 = 1 } eq_dtype;

typedef struct eq_tensor {
    eq_dtype dtype;
    int rank;                      /* 0 (scalar) .. EQ_MAX_RANK */
    int64_t shape[EQ_MAX_RANK];    /* entries past rank are 1 */
    void *data;                    /* numel elements, contiguous row-major */
} eq_tensor;

/* Size in bytes of one element. */
size_t eq_dtype_size(eq_dtype dtype);
const char *eq_dtype_name(eq_dtype dtype); /* "float32", "float64" */

/* Validates rank and dims (each >= 0, product fits in memory) and returns
 * EQ_ERR_SHAPE naming `what` otherwise. */
eq_status eq_shape_check(int rank, const int64_t *shape, const char *what,
                         eq_error *err);

/* A new tensor in the arena, elements uninitialised. */
eq_tensor *eq_tensor_new(eq_arena *arena, eq_dtype dtype, int rank,
                         const int64_t *shape, eq_error *err);
/* A new zero-filled tensor. */
eq_tensor *eq_tensor_zeros(eq_arena *arena, eq_dtype dtype, int rank,
                           const int64_t *shape, eq_error *err);

/* Fill a caller-owned descriptor that views `data` (not copied, not owned). */
eq_status eq_tensor_view(eq_tensor *t, eq_dtype dtype, int rank,
                         const int64_t *shape, void *data, eq_error *err);

int64_t eq_tensor_numel(const eq_tensor *t);
size_t eq_tensor_nbytes(const eq_tensor *t);
int64_t eq_shape_numel(int rank, const int64_t *shape);

static inline float *eq_tensor_f32(const eq_tensor *t) { return (float *)t->data; }
static inline double *eq_tensor_f64(const eq_tensor *t) { return (double *)t->data; }

/* 1 when dtype, rank and every dim match. */
int eq_tensor_same_shape(const eq_tensor *a, const eq_tensor *b);
int eq_shape_equal(int rank_a, const int64_t *a, int rank_b, const int64_t *b);

/* "[1, 299, 299, 3]" into buf (always terminated); returns buf. */
char *eq_shape_str(int rank, const int64_t *shape, char *buf, size_t n);

/* Set every element to value (either dtype). */
void eq_tensor_fill(eq_tensor *t, double value);
/* Copy elements; shapes must have the same numel and dtypes may differ
 * (float32 <-> float64 conversion). */
eq_status eq_tensor_copy(eq_tensor *dst, const eq_tensor *src, eq_error *err);
/* A new tensor in the arena with src's shape and elements converted. */
eq_tensor *eq_tensor_convert(eq_arena *arena, const eq_tensor *src,
                             eq_dtype dtype, eq_error *err);

/* Element i as double, whatever the dtype. */
double eq_tensor_get(const eq_tensor *t, int64_t i);

#endif
