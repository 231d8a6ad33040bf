/* test_structure.c - concat and reshape shape inference. */
#include <check.h>
#include <stdlib.h>

#include "eq_blas.h"
#include "kernel_testutil.h"

/* Output element i comes from the input whose slice of the concat axis
 * holds i's coordinate there. */
static void ref_concat(const eq_tensor *const *xs, int n, int ax, const int64_t *oshape,
                       int rank, double *ref)
{
    int64_t total = eq_shape_numel(rank, oshape);
    for (int64_t i = 0; i < total; i++) {
        int64_t idx[EQ_MAX_RANK], rem = i;
        for (int d = rank - 1; d >= 0; d--) {
            idx[d] = rem % oshape[d];
            rem /= oshape[d];
        }
        int k = 0;
        while (idx[ax] >= xs[k]->shape[ax]) {
            idx[ax] -= xs[k]->shape[ax];
            k++;
        }
        int64_t flat = 0;
        for (int d = 0; d < rank; d++)
            flat = flat * xs[k]->shape[d] + idx[d];
        ref[i] = eq_tensor_get(xs[k], flat);
    }
}

START_TEST(concat_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {51};
    for (int dt = 0; dt < 2; dt++)
        for (int rank = 1; rank <= 4; rank++)
            for (int axis = -rank; axis < rank; axis++) {
                int ax = axis < 0 ? axis + rank : axis;
                int n = (int)tk_int(&r, 1, 3);
                int64_t base[4];
                for (int d = 0; d < rank; d++)
                    base[d] = tk_int(&r, 1, 4);
                const eq_tensor *xs[3];
                for (int k = 0; k < n; k++) {
                    int64_t s[4];
                    memcpy(s, base, sizeof s);
                    s[ax] = tk_int(&r, k == 1 ? 0 : 1, 4); /* an empty part too */
                    xs[k] = tk_random(a, &r, tk_dtypes[dt], rank, s, -1, 1);
                }
                int64_t out[EQ_MAX_RANK];
                TK_ASSERT_OK(eq_concat_shape(xs, n, axis, out, &e_));
                int64_t sum = 0;
                for (int k = 0; k < n; k++)
                    sum += xs[k]->shape[ax];
                ck_assert_int_eq(out[ax], sum);
                eq_tensor *y = tk_new(a, tk_dtypes[dt], rank, out);
                TK_ASSERT_OK(eq_concat(xs, n, axis, y, &e_));
                double ref[12 * 4 * 4 * 4];
                ref_concat(xs, n, ax, out, rank, ref);
                tk_assert_bits(y, ref, "concat");
            }
    eq_arena_free(a);
}
END_TEST

/* Big enough that the rows are split over 2 threads (an Inception block's
 * channel concat at batch 8 scale), and with an empty part: every element
 * lands where the reference puts it. */
START_TEST(concat_big_on_two_threads)
{
    eq_blas_set_threads(2);
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {77};
    int64_t s0[4] = {2, 17, 17, 96}, s1[4] = {2, 17, 17, 0}, s2[4] = {2, 17, 17, 160};
    const eq_tensor *xs[3] = {tk_random(a, &r, EQ_F32, 4, s0, -1, 1),
                              tk_random(a, &r, EQ_F32, 4, s1, -1, 1),
                              tk_random(a, &r, EQ_F32, 4, s2, -1, 1)};
    int64_t out[EQ_MAX_RANK];
    TK_ASSERT_OK(eq_concat_shape(xs, 3, -1, out, &e_));
    eq_tensor *y = tk_new(a, EQ_F32, 4, out);
    TK_ASSERT_OK(eq_concat(xs, 3, -1, y, &e_));
    double *ref = malloc(sizeof(double) * (size_t)eq_tensor_numel(y));
    ref_concat(xs, 3, 3, out, 4, ref);
    tk_assert_bits(y, ref, "concat on 2 threads");
    free(ref);
    eq_arena_free(a);
}
END_TEST

START_TEST(concat_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s22[2] = {2, 2}, s21[2] = {2, 1};
    eq_tensor *p = tk_from(a, EQ_F32, 2, s22, (const double[]){1, 2, 3, 4});
    eq_tensor *q = tk_from(a, EQ_F32, 2, s21, (const double[]){5, 6});
    const eq_tensor *xs[2] = {p, q};
    int64_t s23[2] = {2, 3};
    eq_tensor *y = tk_new(a, EQ_F32, 2, s23);
    TK_ASSERT_OK(eq_concat(xs, 2, -1, y, &e_));
    tk_assert_bits(y, (const double[]){1, 2, 5, 3, 4, 6}, "concat axis -1");
    const eq_tensor *pp[2] = {p, p};
    int64_t s42[2] = {4, 2};
    eq_tensor *y42 = tk_new(a, EQ_F32, 2, s42);
    TK_ASSERT_OK(eq_concat(pp, 2, 0, y42, &e_));
    tk_assert_bits(y42, (const double[]){1, 2, 3, 4, 1, 2, 3, 4}, "concat axis 0");
    eq_arena_free(a);
}
END_TEST

START_TEST(concat_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s0[4] = {1, 5, 4, 2}, s1[4] = {1, 4, 4, 2}, s3[3] = {1, 5, 4};
    eq_tensor *x0 = tk_new(a, EQ_F32, 4, s0), *x1 = tk_new(a, EQ_F32, 4, s1);
    eq_tensor *x3 = tk_new(a, EQ_F32, 3, s3), *x64 = tk_new(a, EQ_F64, 4, s0);
    int64_t out[EQ_MAX_RANK];
    const eq_tensor *bad_dim[2] = {x0, x1};
    TK_ASSERT_ERR(eq_concat_shape(bad_dim, 2, 3, out, &e_), EQ_ERR_SHAPE,
                  "concat: input 1 shape [1, 4, 4, 2] differs from input 0 shape "
                  "[1, 5, 4, 2] on axis 1 (not the concat axis 3)");
    /* the same inputs are fine along axis 1 */
    TK_ASSERT_OK(eq_concat_shape(bad_dim, 2, 1, out, &e_));
    ck_assert_int_eq(out[1], 9);
    const eq_tensor *bad_rank[2] = {x0, x3};
    TK_ASSERT_ERR(eq_concat_shape(bad_rank, 2, 0, out, &e_), EQ_ERR_SHAPE,
                  "concat: input 1 shape [1, 5, 4] has rank 3 but input 0 shape "
                  "[1, 5, 4, 2] has rank 4");
    const eq_tensor *bad_type[2] = {x0, x64};
    TK_ASSERT_ERR(eq_concat_shape(bad_type, 2, 0, out, &e_), EQ_ERR_INVALID,
                  "concat: input 1 is float64 but input 0 is float32");
    const eq_tensor *one[1] = {x0};
    TK_ASSERT_ERR(eq_concat_shape(one, 1, 4, out, &e_), EQ_ERR_INVALID,
                  "concat: axis 4 is out of range for rank 4 inputs (allowed -4..3)");
    TK_ASSERT_ERR(eq_concat_shape(one, 1, -5, out, &e_), EQ_ERR_INVALID, "axis -5");
    TK_ASSERT_ERR(eq_concat_shape(one, 0, 0, out, &e_), EQ_ERR_INVALID,
                  "concat: needs at least one input, got 0");
    eq_tensor *sc = tk_new(a, EQ_F32, 0, s0);
    const eq_tensor *scal[1] = {sc};
    TK_ASSERT_ERR(eq_concat_shape(scal, 1, 0, out, &e_), EQ_ERR_SHAPE, "input 0 is a scalar");
    TK_ASSERT_ERR(eq_concat(bad_dim, 2, 1, x0, &e_), EQ_ERR_SHAPE,
                  "concat: output float32 [1, 5, 4, 2] does not match the result float32 "
                  "[1, 9, 4, 2]");
    eq_arena_free(a);
}
END_TEST

static void check_reshape(const eq_tensor *x, int rank, const int64_t *target, int out_rank,
                          const int64_t *want)
{
    int64_t out[EQ_MAX_RANK];
    TK_ASSERT_OK(eq_reshape_shape(x, rank, target, out, &e_));
    ck_assert(eq_shape_equal(rank, out, out_rank, want));
    for (int d = rank; d < EQ_MAX_RANK; d++)
        ck_assert_int_eq(out[d], 1);
}

START_TEST(reshape_shapes)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[3] = {2, 3, 4}, se[2] = {0, 3};
    eq_tensor *x = tk_new(a, EQ_F32, 3, s), *empty = tk_new(a, EQ_F32, 2, se);
    check_reshape(x, 1, (const int64_t[]){-1}, 1, (const int64_t[]){24});
    check_reshape(x, 2, (const int64_t[]){2, -1}, 2, (const int64_t[]){2, 12}); /* flatten */
    check_reshape(x, 3, (const int64_t[]){4, -1, 3}, 3, (const int64_t[]){4, 2, 3});
    check_reshape(x, 4, (const int64_t[]){1, 1, 24, 1}, 4, (const int64_t[]){1, 1, 24, 1});
    check_reshape(empty, 1, (const int64_t[]){-1}, 1, (const int64_t[]){0});
    check_reshape(empty, 3, (const int64_t[]){3, 0, 7}, 3, (const int64_t[]){3, 0, 7});
    int64_t s1[1] = {1};
    eq_tensor *one = tk_new(a, EQ_F32, 1, s1);
    check_reshape(one, 0, NULL, 0, NULL); /* [1] -> scalar */
    eq_arena_free(a);
}
END_TEST

START_TEST(reshape_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {2, 3}, se[2] = {0, 3};
    eq_tensor *x = tk_new(a, EQ_F32, 2, s), *empty = tk_new(a, EQ_F32, 2, se);
    int64_t out[EQ_MAX_RANK];
    TK_ASSERT_ERR(eq_reshape_shape(x, 2, (const int64_t[]){4, -1}, out, &e_), EQ_ERR_SHAPE,
                  "reshape: cannot reshape [2, 3] (6 elements) to [4, -1]: 6 is not a "
                  "multiple of 4");
    TK_ASSERT_ERR(eq_reshape_shape(x, 2, (const int64_t[]){4, 2}, out, &e_), EQ_ERR_SHAPE,
                  "reshape: cannot reshape [2, 3] (6 elements) to [4, 2] (8 elements)");
    TK_ASSERT_ERR(eq_reshape_shape(x, 2, (const int64_t[]){-1, -1}, out, &e_), EQ_ERR_SHAPE,
                  "reshape: target [-1, -1] has more than one -1 (axes 0 and 1)");
    TK_ASSERT_ERR(eq_reshape_shape(x, 2, (const int64_t[]){-2, 3}, out, &e_), EQ_ERR_SHAPE,
                  "has dimension -2 on axis 0 (only -1 may be negative)");
    TK_ASSERT_ERR(eq_reshape_shape(x, 7, (const int64_t[]){1, 1, 1, 1, 1, 2, 3}, out, &e_),
                  EQ_ERR_SHAPE, "reshape: target rank 7 is outside 0..6");
    TK_ASSERT_ERR(eq_reshape_shape(empty, 2, (const int64_t[]){0, -1}, out, &e_),
                  EQ_ERR_SHAPE, "cannot infer the -1 of [0, -1] for [0, 3]");
    /* a product that would overflow int64 is refused, not wrapped */
    const int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    TK_ASSERT_ERR(eq_reshape_shape(x, 3, huge, out, &e_), EQ_ERR_SHAPE,
                  "(its size overflows 64 bits)");
    TK_ASSERT_ERR(eq_reshape_shape(empty, 2, (const int64_t[]){4, 5}, out, &e_),
                  EQ_ERR_SHAPE, "cannot reshape [0, 3] (0 elements) to [4, 5]");
    eq_arena_free(a);
}
END_TEST

static Suite *structure_suite(void)
{
    Suite *s = suite_create("structure");
    TCase *tc = tcase_create("structure");
    tcase_add_test(tc, concat_matches_reference);
    tcase_add_test(tc, concat_big_on_two_threads);
    tcase_add_test(tc, concat_by_hand);
    tcase_add_test(tc, concat_errors);
    tcase_add_test(tc, reshape_shapes);
    tcase_add_test(tc, reshape_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(structure_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
