/* test_dense.c - fully_connected and bias_add: reference, hand-computed
 * values, the fused epilogue, aliasing, errors. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"

static unsigned rng_state = 777u;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f * 8.0f - 4.0f;
}

static eq_tensor *tnew(eq_arena *a, int rank, const int64_t *shape)
{
    eq_error err;
    eq_tensor *t = eq_tensor_new(a, EQ_F32, rank, shape, &err);
    ck_assert_msg(t != NULL, "%s", err.message);
    return t;
}

static eq_tensor *trand(eq_arena *a, int rank, const int64_t *shape)
{
    eq_tensor *t = tnew(a, rank, shape);
    for (int64_t i = 0; i < eq_tensor_numel(t); i++)
        eq_tensor_f32(t)[i] = frand();
    return t;
}

static eq_tensor *tvals(eq_arena *a, int rank, const int64_t *shape, const float *v)
{
    eq_tensor *t = tnew(a, rank, shape);
    memcpy(t->data, v, (size_t)eq_tensor_numel(t) * sizeof(float));
    return t;
}

static double ref_act(eq_activation act, double v)
{
    switch (act) {
    case EQ_ACT_NONE: return v;
    case EQ_ACT_RELU: return v < 0 ? 0 : v;
    case EQ_ACT_RELU6: return v < 0 ? 0 : (v > 6 ? 6 : v);
    case EQ_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case EQ_ACT_TANH: return tanh(v);
    }
    return v;
}

/* ---- fully_connected ---------------------------------------------------- */

START_TEST(fc_against_reference)
{
    const int64_t dims[][3] = {
        {1, 1, 1}, {3, 17, 5}, {8, 64, 33}, {5, 300, 129}, {64, 96, 40}};
    for (int threads = 1; threads <= 2; threads++) {
        eq_blas_set_threads(threads);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
            for (int act = EQ_ACT_NONE; act <= EQ_ACT_TANH; act++)
                for (int use_b = 0; use_b <= 1; use_b++) {
                    eq_arena *a = eq_arena_new(0);
                    int64_t n = dims[di][0], cin = dims[di][1], cout = dims[di][2];
                    int64_t xs[2] = {n, cin}, wsh[2] = {cin, cout}, bs[1] = {cout}, ys[2];
                    eq_tensor *x = trand(a, 2, xs), *w = trand(a, 2, wsh);
                    eq_tensor *b = use_b ? trand(a, 1, bs) : NULL;
                    eq_error err;
                    ck_assert_int_eq(eq_fully_connected_shape(x, w, b, ys, &err), EQ_OK);
                    ck_assert_int_eq(ys[0], n);
                    ck_assert_int_eq(ys[1], cout);
                    eq_tensor *y = tnew(a, 2, ys);
                    ck_assert_int_eq(
                        eq_fully_connected(x, w, b, (eq_activation)act, y, &err), EQ_OK);
                    for (int64_t i = 0; i < n; i++)
                        for (int64_t j = 0; j < cout; j++) {
                            double s = 0, sa = 0;
                            for (int64_t k = 0; k < cin; k++) {
                                double t = (double)eq_tensor_f32(x)[i * cin + k] *
                                           (double)eq_tensor_f32(w)[k * cout + j];
                                s += t;
                                sa += fabs(t);
                            }
                            if (b) {
                                s += eq_tensor_f32(b)[j];
                                sa += fabs(eq_tensor_f32(b)[j]);
                            }
                            double r = ref_act((eq_activation)act, s);
                            double tol = (double)(cin + 4) * FLT_EPSILON * sa +
                                         4 * FLT_EPSILON * fabs(r) + 1e-30;
                            double got = eq_tensor_f32(y)[i * cout + j];
                            ck_assert_msg(fabs(got - r) <= tol,
                                          "[%lld,%lld]x[%lld,%lld] act %s: (%lld,%lld) is "
                                          "%.9g, reference %.9g",
                                          (long long)n, (long long)cin, (long long)cin,
                                          (long long)cout, eq_activation_name(act),
                                          (long long)i, (long long)j, got, r);
                        }
                    eq_arena_free(a);
                }
    }
}
END_TEST

START_TEST(fc_hand_computed)
{
    /* x [[1, 2, 3], [-1, 0, 1]], w [[1, 0], [0, 1], [1, 1]], b [10, -5]
     * x w = [[4, 5], [0, 1]]; + b = [[14, 0], [10, -4]]; relu -> [[14, 0], [10, 0]] */
    eq_arena *a = eq_arena_new(0);
    const float xv[6] = {1, 2, 3, -1, 0, 1}, wv[6] = {1, 0, 0, 1, 1, 1}, bv[2] = {10, -5};
    int64_t xs[2] = {2, 3}, wsh[2] = {3, 2}, bs[1] = {2}, ys[2] = {2, 2};
    eq_tensor *x = tvals(a, 2, xs, xv), *w = tvals(a, 2, wsh, wv), *b = tvals(a, 1, bs, bv);
    eq_tensor *y = tnew(a, 2, ys);
    ck_assert_int_eq(eq_fully_connected(x, w, b, EQ_ACT_NONE, y, NULL), EQ_OK);
    const float e[4] = {14, 0, 10, -4};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(eq_tensor_f32(y)[i], e[i]);
    ck_assert_int_eq(eq_fully_connected(x, w, b, EQ_ACT_RELU, y, NULL), EQ_OK);
    const float er[4] = {14, 0, 10, 0};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(eq_tensor_f32(y)[i], er[i]);
    ck_assert_int_eq(eq_fully_connected(x, w, NULL, EQ_ACT_RELU6, y, NULL), EQ_OK);
    const float e6[4] = {4, 5, 0, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(eq_tensor_f32(y)[i], e6[i]);
    eq_arena_free(a);
}
END_TEST

START_TEST(fc_fused_equals_separate_ops)
{
    eq_blas_set_threads(2);
    for (int act = EQ_ACT_NONE; act <= EQ_ACT_TANH; act++) {
        eq_arena *a = eq_arena_new(0);
        int64_t xs[2] = {37, 211}, wsh[2] = {211, 75}, bs[1] = {75}, ys[2] = {37, 75};
        eq_tensor *x = trand(a, 2, xs), *w = trand(a, 2, wsh), *b = trand(a, 1, bs);
        eq_tensor *y1 = tnew(a, 2, ys), *y2 = tnew(a, 2, ys);
        ck_assert_int_eq(eq_fully_connected(x, w, b, (eq_activation)act, y1, NULL), EQ_OK);
        ck_assert_int_eq(eq_fully_connected(x, w, NULL, EQ_ACT_NONE, y2, NULL), EQ_OK);
        ck_assert_int_eq(eq_bias_add(y2, b, y2, NULL), EQ_OK);
        /* The separate activation is the kernel library's own. */
        ck_assert_int_eq(eq_activate(y2, (eq_activation)act, y2, NULL), EQ_OK);
        ck_assert_msg(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)) == 0, "act %s",
                      eq_activation_name((eq_activation)act));
        eq_arena_free(a);
    }
}
END_TEST

START_TEST(fc_deterministic_at_2_threads)
{
    eq_blas_set_threads(2);
    eq_arena *a = eq_arena_new(0);
    int64_t xs[2] = {256, 1536}, wsh[2] = {1536, 1000}, bs[1] = {1000}, ys[2] = {256, 1000};
    eq_tensor *x = trand(a, 2, xs), *w = trand(a, 2, wsh), *b = trand(a, 1, bs);
    eq_tensor *y1 = tnew(a, 2, ys), *y2 = tnew(a, 2, ys);
    ck_assert_int_eq(eq_fully_connected(x, w, b, EQ_ACT_RELU, y1, NULL), EQ_OK);
    ck_assert_int_eq(eq_fully_connected(x, w, b, EQ_ACT_RELU, y2, NULL), EQ_OK);
    ck_assert_int_eq(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)), 0);
    eq_arena_free(a);
}
END_TEST

static void fc_expect(const eq_tensor *x, const eq_tensor *w, const eq_tensor *b,
                      eq_activation act, eq_tensor *y, eq_status want, const char *msg)
{
    eq_error err;
    eq_error_clear(&err);
    ck_assert_int_eq(eq_fully_connected(x, w, b, act, y, &err), want);
    ck_assert_msg(strstr(err.message, msg) != NULL, "'%s' lacks '%s'", err.message, msg);
    ck_assert_int_eq(eq_fully_connected(x, w, b, act, y, NULL), want);
}

START_TEST(fc_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t xs[2] = {4, 6}, wsh[2] = {6, 3}, ys[2] = {4, 3};
    eq_tensor *x = trand(a, 2, xs), *w = trand(a, 2, wsh), *y = tnew(a, 2, ys);
    int64_t x3s[3] = {4, 6, 1}, w1s[1] = {6}, w5s[2] = {5, 3}, b4s[1] = {4},
            b2s[2] = {1, 3};
    fc_expect(trand(a, 3, x3s), w, NULL, EQ_ACT_NONE, y, EQ_ERR_SHAPE,
              "fully_connected: input [4, 6, 1] must have rank 2");
    fc_expect(x, trand(a, 1, w1s), NULL, EQ_ACT_NONE, y, EQ_ERR_SHAPE,
              "fully_connected: filter [6] must have rank 2");
    fc_expect(x, trand(a, 2, w5s), NULL, EQ_ACT_NONE, y, EQ_ERR_SHAPE,
              "fully_connected: input [4, 6] has 6 features but filter [5, 3] expects 5");
    fc_expect(x, w, trand(a, 1, b4s), EQ_ACT_NONE, y, EQ_ERR_SHAPE,
              "fully_connected: bias [4] must be [3] to match filter [6, 3]");
    fc_expect(x, w, trand(a, 2, b2s), EQ_ACT_NONE, y, EQ_ERR_SHAPE, "bias [1, 3]");
    int64_t x0s[2] = {0, 6}, w0s[2] = {6, 0};
    fc_expect(trand(a, 2, x0s), w, NULL, EQ_ACT_NONE, y, EQ_ERR_SHAPE,
              "input [0, 6] with filter [6, 3] is empty");
    fc_expect(x, trand(a, 2, w0s), NULL, EQ_ACT_NONE, y, EQ_ERR_SHAPE, "is empty");
    eq_error err;
    eq_tensor *x64 = eq_tensor_convert(a, x, EQ_F64, &err);
    eq_tensor *w64 = eq_tensor_convert(a, w, EQ_F64, &err);
    eq_tensor *y64 = eq_tensor_convert(a, y, EQ_F64, &err);
    fc_expect(x64, w, NULL, EQ_ACT_NONE, y, EQ_ERR_UNSUPPORTED,
              "fully_connected: input [4, 6] is float64");
    fc_expect(x, w64, NULL, EQ_ACT_NONE, y, EQ_ERR_UNSUPPORTED, "filter [6, 3] is float64");
    fc_expect(x, w, NULL, EQ_ACT_NONE, y64, EQ_ERR_UNSUPPORTED, "output [4, 3] is float64");
    int64_t ybad[2] = {3, 4};
    fc_expect(x, w, NULL, EQ_ACT_NONE, tnew(a, 2, ybad), EQ_ERR_SHAPE,
              "fully_connected: output [3, 4] should be [4, 3] for input [4, 6] and filter "
              "[6, 3]");
    fc_expect(x, w, NULL, (eq_activation)9, y, EQ_ERR_INVALID, "activation 9");
    eq_arena_free(a);
}
END_TEST

/* ---- bias_add ----------------------------------------------------------- */

START_TEST(bias_add_hand_and_alias)
{
    eq_arena *a = eq_arena_new(0);
    const float xv[6] = {1, 2, 3, 4, 5, 6}, bv[3] = {10, 20, 30};
    int64_t xs[2] = {2, 3}, bs[1] = {3};
    eq_tensor *x = tvals(a, 2, xs, xv), *b = tvals(a, 1, bs, bv), *y = tnew(a, 2, xs);
    ck_assert_int_eq(eq_bias_add(x, b, y, NULL), EQ_OK);
    const float e[6] = {11, 22, 33, 14, 25, 36};
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(eq_tensor_f32(y)[i], e[i]);
        ck_assert_float_eq(eq_tensor_f32(x)[i], xv[i]); /* input untouched */
    }
    /* in place */
    ck_assert_int_eq(eq_bias_add(x, b, x, NULL), EQ_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(eq_tensor_f32(x)[i], e[i]);
    /* rank 1: the bias is added to the vector itself */
    eq_tensor *v = tvals(a, 1, bs, xv);
    ck_assert_int_eq(eq_bias_add(v, b, v, NULL), EQ_OK);
    ck_assert_float_eq(eq_tensor_f32(v)[2], 33);
    /* an empty tensor is fine and touches nothing */
    int64_t zs[2] = {0, 3};
    eq_tensor *z = tnew(a, 2, zs);
    ck_assert_int_eq(eq_bias_add(z, b, z, NULL), EQ_OK);
    eq_arena_free(a);
}
END_TEST

START_TEST(bias_add_rank4_reference_both_thread_counts)
{
    for (int threads = 1; threads <= 2; threads++) {
        eq_blas_set_threads(threads);
        eq_arena *a = eq_arena_new(0);
        int64_t xs[4] = {2, 33, 35, 48}, bs[1] = {48};
        eq_tensor *x = trand(a, 4, xs), *b = trand(a, 1, bs), *y = tnew(a, 4, xs);
        ck_assert_int_eq(eq_bias_add(x, b, y, NULL), EQ_OK);
        for (int64_t i = 0; i < eq_tensor_numel(x); i++)
            ck_assert_float_eq(eq_tensor_f32(y)[i],
                               eq_tensor_f32(x)[i] + eq_tensor_f32(b)[i % 48]);
        eq_arena_free(a);
    }
}
END_TEST

START_TEST(bias_add_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t xs[3] = {2, 4, 5}, bs[1] = {5}, b4[1] = {4}, b2[2] = {1, 5}, ys[3] = {2, 4, 4};
    eq_tensor *x = trand(a, 3, xs), *b = trand(a, 1, bs);
    eq_error err;
    ck_assert_int_eq(eq_bias_add(x, trand(a, 1, b4), x, &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(
        err.message,
        "bias_add: bias [4] must be [5], the last dimension of input [2, 4, 5]");
    ck_assert_int_eq(eq_bias_add(x, trand(a, 2, b2), x, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "bias [1, 5]"));
    ck_assert_int_eq(eq_bias_add(x, b, tnew(a, 3, ys), &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message,
                     "bias_add: output [2, 4, 4] should have the shape of input [2, 4, 5]");
    eq_tensor *s = tnew(a, 0, NULL);
    ck_assert_int_eq(eq_bias_add(s, b, s, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "input [] must have rank >= 1"));
    eq_tensor *x64 = eq_tensor_convert(a, x, EQ_F64, &err);
    eq_tensor *b64 = eq_tensor_convert(a, b, EQ_F64, &err);
    ck_assert_int_eq(eq_bias_add(x64, b, x64, &err), EQ_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "bias_add: input [2, 4, 5] is float64"));
    ck_assert_int_eq(eq_bias_add(x, b64, x, &err), EQ_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "bias [5] is float64"));
    ck_assert_int_eq(eq_bias_add(x, b, x64, &err), EQ_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "output [2, 4, 5] is float64"));
    ck_assert_int_eq(eq_bias_add(x, b64, x, NULL), EQ_ERR_UNSUPPORTED);
    eq_arena_free(a);
}
END_TEST

static Suite *dense_suite(void)
{
    Suite *s = suite_create("dense");
    TCase *t = tcase_create("fully_connected");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, fc_against_reference);
    tcase_add_test(t, fc_hand_computed);
    tcase_add_test(t, fc_fused_equals_separate_ops);
    tcase_add_test(t, fc_deterministic_at_2_threads);
    tcase_add_test(t, fc_errors);
    suite_add_tcase(s, t);
    t = tcase_create("bias_add");
    tcase_add_test(t, bias_add_hand_and_alias);
    tcase_add_test(t, bias_add_rank4_reference_both_thread_counts);
    tcase_add_test(t, bias_add_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dense_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
