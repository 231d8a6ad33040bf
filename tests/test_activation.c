/* test_activation.c - relu, relu6, sigmoid, tanh, eq_activate, softmax. */
#include <check.h>
#include <float.h>
#include <math.h>

#include "kernel_testutil.h"

/* A random shape of rank 1..4 with odd-ish sizes. */
static int random_shape(tk_rng *r, int64_t shape[4])
{
    int rank = (int)tk_int(r, 1, 4);
    for (int d = 0; d < rank; d++)
        shape[d] = tk_int(r, 1, 7);
    return rank;
}

static double ref_activation(eq_activation act, eq_dtype dt, double v)
{
    switch (act) {
    case EQ_ACT_NONE: return v;
    /* max(v, 0) and min(., 6) with NaN passing through and -0.0 kept */
    case EQ_ACT_RELU: return isnan(v) ? v : (v < 0 ? 0.0 : v);
    case EQ_ACT_RELU6: return isnan(v) ? v : (v < 0 ? 0.0 : (v > 6 ? 6.0 : v));
    case EQ_ACT_TANH: return dt == EQ_F32 ? (double)tanhf((float)v) : tanh(v);
    case EQ_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v)); /* compared with a tolerance */
    }
    return NAN;
}

static void check_activation(eq_arena *a, tk_rng *r, eq_dtype dt, eq_activation act,
                             int in_place)
{
    int64_t shape[4];
    int rank = random_shape(r, shape);
    eq_tensor *x = tk_random(a, r, dt, rank, shape, -9.0, 9.0);
    int64_t n = eq_tensor_numel(x);
    /* Sprinkle in the values where the rules matter. */
    const double special[] = {0.0, -0.0, 6.0, -100.0, 100.0, NAN};
    for (int i = 0; i < 6 && i < n; i++)
        tk_set(x, (i * 5) % n, special[i]);
    double ref[7 * 7 * 7 * 7];
    for (int64_t i = 0; i < n; i++)
        ref[i] = ref_activation(act, dt, eq_tensor_get(x, i));
    eq_tensor *y = in_place ? x : tk_new(a, dt, rank, shape);
    eq_error e_;
    ck_assert_int_eq(eq_activate(x, act, y, &e_), EQ_OK);
    if (act != EQ_ACT_SIGMOID) {
        tk_assert_bits(y, ref, eq_activation_name(act));
        return;
    }
    /* A few ulps of expf/exp and the divide; in float32's subnormal range
     * (sigmoid(-100)) an ulp is absolute. */
    double rel = dt == EQ_F32 ? 1e-6 : 1e-14;
    double abs_tol = dt == EQ_F32 ? 2 * FLT_TRUE_MIN : 0.0;
    for (int64_t i = 0; i < n; i++) {
        double got = eq_tensor_get(y, i);
        if (isnan(ref[i])) {
            ck_assert(isnan(got));
            continue;
        }
        ck_assert_msg(fabs(got - ref[i]) <= rel * ref[i] + abs_tol,
                      "sigmoid element %lld: %.9g vs %.9g",
                      (long long)i, got, ref[i]);
    }
}

START_TEST(activations_match_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {11};
    const eq_activation acts[] = {EQ_ACT_NONE, EQ_ACT_RELU, EQ_ACT_RELU6, EQ_ACT_SIGMOID,
                                  EQ_ACT_TANH};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 5; k++)
            for (int rep = 0; rep < 6; rep++)
                check_activation(a, &r, tk_dtypes[d], acts[k], rep % 2);
    eq_arena_free(a);
}
END_TEST

START_TEST(activations_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[1] = {6};
    const double xv[6] = {-1.0, 0.0, 2.5, -0.0, 7.0, 6.0};
    const double relu[6] = {0.0, 0.0, 2.5, -0.0, 7.0, 6.0};
    const double relu6[6] = {0.0, 0.0, 2.5, -0.0, 6.0, 6.0};
    eq_tensor *x = tk_from(a, EQ_F32, 1, s, xv);
    eq_tensor *y = tk_new(a, EQ_F32, 1, s);
    TK_ASSERT_OK(eq_relu(x, y, &e_));
    tk_assert_bits(y, relu, "relu");
    TK_ASSERT_OK(eq_relu6(x, y, &e_));
    tk_assert_bits(y, relu6, "relu6");
    TK_ASSERT_OK(eq_activate(x, EQ_ACT_NONE, y, &e_));
    tk_assert_bits(y, xv, "none");

    /* sigmoid: exact centre, saturation without NaN, tiny but positive
     * values far left, symmetry. */
    const double sv[6] = {0.0, 100.0, -100.0, -1000.0, 2.0, -2.0};
    eq_tensor *xs = tk_from(a, EQ_F32, 1, s, sv);
    TK_ASSERT_OK(eq_sigmoid(xs, y, &e_));
    const float *yf = eq_tensor_f32(y);
    ck_assert(yf[0] == 0.5f);
    ck_assert(yf[1] == 1.0f);
    ck_assert(yf[2] > 0.0f && yf[2] < 1e-40f); /* e^-100 = 3.7e-44, a subnormal */
    ck_assert(yf[3] == 0.0f);
    ck_assert_float_eq_tol(yf[4], 0.880797078f, 1e-7f);
    ck_assert_float_eq_tol(yf[4] + yf[5], 1.0f, 1e-7f);

    const double tv[6] = {0.0, 0.5, -0.5, 20.0, -20.0, 1.0};
    const double tw[6] = {0.0, 0.46211715726, -0.46211715726, 1.0, -1.0, 0.76159415596};
    eq_tensor *xt = tk_from(a, EQ_F32, 1, s, tv);
    TK_ASSERT_OK(eq_tanh(xt, y, &e_));
    tk_assert_near(y, tw, 1e-7, "tanh");
    eq_arena_free(a);
}
END_TEST

START_TEST(activation_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {2, 3}, s2[2] = {3, 2};
    eq_tensor *x = tk_new(a, EQ_F32, 2, s);
    eq_tensor *y_shape = tk_new(a, EQ_F32, 2, s2);
    eq_tensor *y_f64 = tk_new(a, EQ_F64, 2, s);
    eq_tensor_fill(x, 1.0);
    TK_ASSERT_ERR(eq_relu(x, y_shape, &e_), EQ_ERR_SHAPE,
                  "relu: output float32 [3, 2] does not match input float32 [2, 3]");
    TK_ASSERT_ERR(eq_tanh(x, y_f64, &e_), EQ_ERR_SHAPE,
                  "tanh: output float64 [2, 3] does not match input float32 [2, 3]");
    TK_ASSERT_ERR(eq_activate(x, (eq_activation)42, x, &e_), EQ_ERR_INVALID,
                  "activate: unknown activation 42");
    TK_ASSERT_ERR(eq_softmax(x, y_shape, &e_), EQ_ERR_SHAPE, "softmax: output");
    eq_tensor *scalar = tk_new(a, EQ_F32, 0, s);
    TK_ASSERT_ERR(eq_softmax(scalar, scalar, &e_), EQ_ERR_SHAPE, "softmax: input is a scalar");
    /* NULL err still returns the status. */
    ck_assert_int_eq(eq_sigmoid(x, y_shape, NULL), EQ_ERR_SHAPE);
    eq_arena_free(a);
}
END_TEST

/* TF's order: shift by the max, exp, sum (here in double), multiply by the
 * reciprocal of the sum rounded to the dtype. */
static void ref_softmax(const eq_tensor *x, double *ref)
{
    eq_dtype dt = x->dtype;
    int64_t c = x->shape[x->rank - 1], rows = eq_tensor_numel(x) / c;
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY;
        for (int64_t j = 0; j < c; j++)
            m = fmax(m, eq_tensor_get(x, r * c + j));
        double sum = 0.0;
        for (int64_t j = 0; j < c; j++) {
            double d = tk_round(dt, eq_tensor_get(x, r * c + j) - m);
            ref[r * c + j] = dt == EQ_F32 ? (double)expf((float)d) : exp(d);
            sum += ref[r * c + j];
        }
        double inv = tk_round(dt, 1.0 / tk_round(dt, sum));
        for (int64_t j = 0; j < c; j++)
            ref[r * c + j] = tk_round(dt, ref[r * c + j] * inv);
    }
}

START_TEST(softmax_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {23};
    for (int d = 0; d < 2; d++) {
        for (int rep = 0; rep < 10; rep++) {
            int64_t shape[4];
            int rank = random_shape(&r, shape);
            eq_tensor *x = tk_random(a, &r, tk_dtypes[d], rank, shape, -30.0, 30.0);
            double ref[7 * 7 * 7 * 7];
            ref_softmax(x, ref);
            eq_tensor *y = rep % 2 ? x : tk_new(a, tk_dtypes[d], rank, shape);
            TK_ASSERT_OK(eq_softmax(x, y, &e_));
            tk_assert_bits(y, ref, "softmax");
            /* and it is a distribution */
            int64_t c = shape[rank - 1];
            for (int64_t row = 0; row < eq_tensor_numel(y) / c; row++) {
                double s = 0.0;
                for (int64_t j = 0; j < c; j++)
                    s += eq_tensor_get(y, row * c + j);
                ck_assert_double_eq_tol(s, 1.0, 1e-5);
            }
        }
    }
    eq_arena_free(a);
}
END_TEST

START_TEST(softmax_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {3, 3};
    /* Row 2 would overflow expf without the max shift; shifted, it is row 0
     * exactly. Row 1 is uniform. */
    const double xv[9] = {1, 2, 3, 5, 5, 5, 1001, 1002, 1003};
    const double want[9] = {0.0900305732, 0.2447284711, 0.6652409558,
                            1.0 / 3, 1.0 / 3, 1.0 / 3,
                            0.0900305732, 0.2447284711, 0.6652409558};
    eq_tensor *x = tk_from(a, EQ_F32, 2, s, xv);
    eq_tensor *y = tk_new(a, EQ_F32, 2, s);
    TK_ASSERT_OK(eq_softmax(x, y, &e_));
    tk_assert_near(y, want, 1e-7, "softmax [1,2,3]");
    const float *yf = eq_tensor_f32(y);
    ck_assert(memcmp(yf, yf + 6, 3 * sizeof *yf) == 0);
    /* One class: all ones. */
    int64_t s1[2] = {4, 1};
    eq_tensor *x1 = tk_random(a, &(tk_rng){5}, EQ_F32, 2, s1, -3, 3);
    TK_ASSERT_OK(eq_softmax(x1, x1, &e_));
    for (int i = 0; i < 4; i++)
        ck_assert(eq_tensor_f32(x1)[i] == 1.0f);
    eq_arena_free(a);
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("activation");
    tcase_add_test(tc, activations_match_reference);
    tcase_add_test(tc, activations_by_hand);
    tcase_add_test(tc, activation_errors);
    tcase_add_test(tc, softmax_matches_reference);
    tcase_add_test(tc, softmax_by_hand);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(activation_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
