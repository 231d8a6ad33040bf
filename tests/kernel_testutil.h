/* kernel_testutil.h - helpers shared by the kernel tests.
 *
 * References in the tests compute in double and round with tk_round() after
 * every float32 operation. For +, -, *, / and sqrt that gives exactly the
 * float32 result (double has more than 2*24+2 bits), so one reference loop
 * checks both dtypes bit for bit.
 */
#ifndef KERNEL_TESTUTIL_H
#define KERNEL_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_ops.h"
#include "eq_tensor.h"

/* A small LCG: the tests must not depend on the engine's own RNG module. */
typedef struct tk_rng {
    uint64_t s;
} tk_rng;

static inline uint32_t tk_next(tk_rng *r)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->s >> 32);
}

/* Uniform in [lo, hi), rounded to float32 so both dtypes hold it exactly. */
static inline double tk_uniform(tk_rng *r, double lo, double hi)
{
    return (double)(float)(lo + (hi - lo) * (tk_next(r) / 4294967296.0));
}

/* Uniform integer in [lo, hi]. */
static inline int64_t tk_int(tk_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tk_next(r) % (uint32_t)(hi - lo + 1));
}

static inline double tk_round(eq_dtype dt, double v)
{
    return dt == EQ_F32 ? (double)(float)v : v;
}

static inline eq_tensor *tk_new(eq_arena *a, eq_dtype dt, int rank, const int64_t *shape)
{
    eq_error err;
    eq_error_clear(&err);
    eq_tensor *t = eq_tensor_new(a, dt, rank, shape, &err);
    ck_assert_msg(t != NULL, "tensor: %s", err.message);
    return t;
}

static inline void tk_set(eq_tensor *t, int64_t i, double v)
{
    if (t->dtype == EQ_F64)
        eq_tensor_f64(t)[i] = v;
    else
        eq_tensor_f32(t)[i] = (float)v;
}

static inline eq_tensor *tk_random(eq_arena *a, tk_rng *r, eq_dtype dt, int rank,
                                   const int64_t *shape, double lo, double hi)
{
    eq_tensor *t = tk_new(a, dt, rank, shape);
    int64_t n = eq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        tk_set(t, i, tk_uniform(r, lo, hi));
    return t;
}

static inline eq_tensor *tk_from(eq_arena *a, eq_dtype dt, int rank, const int64_t *shape,
                                 const double *vals)
{
    eq_tensor *t = tk_new(a, dt, rank, shape);
    int64_t n = eq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        tk_set(t, i, vals[i]);
    return t;
}

/* 1 when a and b are the same value bit for bit (any NaN equals any NaN). */
static inline int tk_same_bits(double a, double b, eq_dtype dt)
{
    if (isnan(a) && isnan(b))
        return 1;
    if (dt == EQ_F32) {
        float fa = (float)a, fb = (float)b;
        return memcmp(&fa, &fb, sizeof fa) == 0;
    }
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Every element of t equals ref[i] (as rounded to t's dtype), bit for bit. */
static inline void tk_assert_bits(const eq_tensor *t, const double *ref, const char *what)
{
    int64_t n = eq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double got = eq_tensor_get(t, i);
        ck_assert_msg(tk_same_bits(got, ref[i], t->dtype),
                      "%s (%s): element %lld is %.17g, expected %.17g", what,
                      eq_dtype_name(t->dtype), (long long)i, got, ref[i]);
    }
}

/* Every element of t is within tol of want[i]. */
static inline void tk_assert_near(const eq_tensor *t, const double *want, double tol,
                                  const char *what)
{
    int64_t n = eq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double got = eq_tensor_get(t, i);
        ck_assert_msg(fabs(got - want[i]) <= tol,
                      "%s: element %lld is %.9g, expected %.9g (tolerance %g)", what,
                      (long long)i, got, want[i], tol);
    }
}

/* The call (which passes &e_ as its error) failed with `status` and a
 * message containing `part`. */
#define TK_ASSERT_ERR(call, status, part)                                      \
    do {                                                                       \
        eq_error e_;                                                           \
        eq_error_clear(&e_);                                                   \
        eq_status st_ = (call);                                                \
        ck_assert_msg(st_ == (status), "%s: status %s, expected %s (%s)",      \
                      #call, eq_status_name(st_), eq_status_name(status),      \
                      e_.message);                                             \
        ck_assert_msg(strstr(e_.message, (part)) != NULL,                      \
                      "%s: message \"%s\" lacks \"%s\"", #call, e_.message,    \
                      (part));                                                 \
    } while (0)

/* The call (passing &e_ as its error) succeeded. */
#define TK_ASSERT_OK(call)                                                     \
    do {                                                                       \
        eq_error e_;                                                           \
        eq_error_clear(&e_);                                                   \
        eq_status st_ = (call);                                                \
        ck_assert_msg(st_ == EQ_OK, "%s: %s: %s", #call, eq_status_name(st_),  \
                      e_.message);                                             \
    } while (0)

static const eq_dtype tk_dtypes[2] = {EQ_F32, EQ_F64};

#endif
