/* test_norm.c - batch normalisation, inference and training. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "eq_alloc.h"
#include "kernel_testutil.h"

/* TF's FusedBatchNorm order, each float32 step rounded:
 * scaling = (1 / sqrt(var + eps)) * gamma; y = (x - mean) * scaling + beta. */
static void ref_apply(const eq_tensor *x, const double *mean, const double *var,
                      const eq_tensor *gamma, const eq_tensor *beta, float eps, double *ref)
{
    eq_dtype dt = x->dtype;
    int64_t c = x->shape[x->rank - 1], rows = eq_tensor_numel(x) / c;
    for (int64_t j = 0; j < c; j++) {
        double root = tk_round(dt, sqrt(tk_round(dt, var[j] + (double)eps)));
        double scaling = tk_round(dt, tk_round(dt, 1.0 / root) *
                                          (gamma ? eq_tensor_get(gamma, j) : 1.0));
        double b = beta ? eq_tensor_get(beta, j) : 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double v = eq_tensor_get(x, r * c + j);
            ref[r * c + j] =
                tk_round(dt, tk_round(dt, tk_round(dt, v - mean[j]) * scaling) + b);
        }
    }
}

/* Mean, then the mean of the squared centred values (squares in the dtype),
 * both summed in double over the rows in order. */
static void ref_stats(const eq_tensor *x, double *mean, double *var)
{
    eq_dtype dt = x->dtype;
    int64_t c = x->shape[x->rank - 1], rows = eq_tensor_numel(x) / c;
    for (int64_t j = 0; j < c; j++) {
        double s = 0.0;
        for (int64_t r = 0; r < rows; r++)
            s += eq_tensor_get(x, r * c + j);
        mean[j] = tk_round(dt, s / (double)rows);
        double q = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double d = tk_round(dt, eq_tensor_get(x, r * c + j) - mean[j]);
            q += tk_round(dt, d * d);
        }
        var[j] = tk_round(dt, q / (double)rows);
    }
}

static int random_nhwc(tk_rng *r, int64_t s[4])
{
    int rank = (int)tk_int(r, 2, 4);
    for (int d = 0; d < rank - 1; d++)
        s[d] = tk_int(r, 1, 5);
    s[rank - 1] = tk_int(r, 1, 37); /* crosses the 16-channel stat blocks */
    return rank;
}

START_TEST(inference_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {41};
    for (int d = 0; d < 2; d++)
        for (int rep = 0; rep < 12; rep++) {
            eq_dtype dt = tk_dtypes[d];
            int64_t s[4];
            int rank = random_nhwc(&r, s);
            int64_t cs[1] = {s[rank - 1]};
            eq_tensor *x = tk_random(a, &r, dt, rank, s, -3, 5);
            eq_tensor *mean = tk_random(a, &r, dt, 1, cs, -1, 1);
            eq_tensor *var = tk_random(a, &r, dt, 1, cs, 0, 2);
            eq_tensor *gamma = rep % 3 ? tk_random(a, &r, dt, 1, cs, 0.5, 1.5) : NULL;
            eq_tensor *beta = rep % 2 ? tk_random(a, &r, dt, 1, cs, -1, 1) : NULL;
            float eps = rep % 4 ? 0.001f : 1e-5f;
            double mv[37], vv[37];
            for (int64_t j = 0; j < cs[0]; j++) {
                mv[j] = eq_tensor_get(mean, j);
                vv[j] = eq_tensor_get(var, j);
            }
            double *ref = malloc((size_t)eq_tensor_numel(x) * sizeof *ref);
            ref_apply(x, mv, vv, gamma, beta, eps, ref);
            eq_tensor *y = rep % 2 ? tk_new(a, dt, rank, s) : x; /* in place too */
            TK_ASSERT_OK(eq_batch_norm_inference(x, gamma, beta, mean, var, eps, y, &e_));
            tk_assert_bits(y, ref, "batch_norm_inference");
            free(ref);
        }
    eq_arena_free(a);
}
END_TEST

START_TEST(training_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {43};
    for (int d = 0; d < 2; d++)
        for (int rep = 0; rep < 12; rep++) {
            eq_dtype dt = tk_dtypes[d];
            int64_t s[4];
            int rank = random_nhwc(&r, s);
            int64_t cs[1] = {s[rank - 1]};
            eq_tensor *x = tk_random(a, &r, dt, rank, s, 2, 6); /* mean far from 0 */
            eq_tensor *gamma = rep % 3 ? tk_random(a, &r, dt, 1, cs, 0.5, 1.5) : NULL;
            eq_tensor *beta = rep % 2 ? tk_random(a, &r, dt, 1, cs, -1, 1) : NULL;
            double mv[37], vv[37];
            ref_stats(x, mv, vv);
            double *ref = malloc((size_t)eq_tensor_numel(x) * sizeof *ref);
            ref_apply(x, mv, vv, gamma, beta, 0.001f, ref);
            eq_tensor *bm = rep % 4 != 3 ? tk_new(a, dt, 1, cs) : NULL;
            eq_tensor *bv = rep % 4 != 3 ? tk_new(a, dt, 1, cs) : NULL;
            eq_tensor *y = rep % 2 ? tk_new(a, dt, rank, s) : x;
            TK_ASSERT_OK(eq_batch_norm_training(x, gamma, beta, 0.001f, y, bm, bv, &e_));
            tk_assert_bits(y, ref, "batch_norm_training");
            if (bm) {
                tk_assert_bits(bm, mv, "batch mean");
                tk_assert_bits(bv, vv, "batch variance");
            }
            free(ref);
        }
    eq_arena_free(a);
}
END_TEST

START_TEST(batch_norm_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {2, 2}, c2[1] = {2};
    /* Inference, exact in float32: var [4, 0.25] and eps 0 give
     * scaling [0.5, 2] (times gamma [2, 3] -> [1, 6]). */
    eq_tensor *x = tk_from(a, EQ_F32, 2, s, (const double[]){1, 2, 3, 4});
    eq_tensor *mean = tk_from(a, EQ_F32, 1, c2, (const double[]){1, 2});
    eq_tensor *var = tk_from(a, EQ_F32, 1, c2, (const double[]){4, 0.25});
    eq_tensor *gamma = tk_from(a, EQ_F32, 1, c2, (const double[]){2, 3});
    eq_tensor *beta = tk_from(a, EQ_F32, 1, c2, (const double[]){1, -1});
    eq_tensor *y = tk_new(a, EQ_F32, 2, s);
    TK_ASSERT_OK(eq_batch_norm_inference(x, NULL, NULL, mean, var, 0.0f, y, &e_));
    tk_assert_bits(y, (const double[]){0, 0, 1, 4}, "inference, no gamma/beta");
    TK_ASSERT_OK(eq_batch_norm_inference(x, gamma, beta, mean, var, 0.0f, y, &e_));
    tk_assert_bits(y, (const double[]){1, -1, 3, 11}, "inference with gamma/beta");

    /* Training on [3, 2]: channel 0 is 1, 3, 5 (mean 3, biased var 8/3),
     * channel 1 is 2, 4, 9 (mean 5, biased var 26/3); eps 0.001,
     * gamma [2, 0.5], beta [0.1, -1]. Values from the formula in double. */
    int64_t s32[2] = {3, 2};
    eq_tensor *xt = tk_from(a, EQ_F32, 2, s32, (const double[]){1, 2, 3, 4, 5, 9});
    eq_tensor *g = tk_from(a, EQ_F32, 1, c2, (const double[]){2, 0.5});
    eq_tensor *b = tk_from(a, EQ_F32, 1, c2, (const double[]){0.1, -1});
    eq_tensor *yt = tk_new(a, EQ_F32, 2, s32);
    eq_tensor *bm = tk_new(a, EQ_F32, 1, c2), *bv = tk_new(a, EQ_F32, 1, c2);
    TK_ASSERT_OK(eq_batch_norm_training(xt, g, b, 0.001f, yt, bm, bv, &e_));
    const double want[6] = {-2.3490305926, -1.5094952723, 0.1, -1.1698317574,
                            2.5490305926, -0.3206729703};
    tk_assert_near(yt, want, 2e-6, "training [3, 2]");
    tk_assert_bits(bm, (const double[]){3, 5}, "batch mean");
    tk_assert_near(bv, (const double[]){8.0 / 3, 26.0 / 3}, 1e-6, "batch variance");
    /* The variance is the biased one: 26/3, not 26/2. */
    ck_assert(fabs(eq_tensor_f32(bv)[1] - 13.0f) > 1.0f);
    eq_arena_free(a);
}
END_TEST

START_TEST(batch_norm_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {4, 3}, c3[1] = {3}, c4[1] = {4}, s13[2] = {1, 3}, s0[2] = {0, 3};
    eq_tensor *x = tk_new(a, EQ_F32, 2, s), *y = tk_new(a, EQ_F32, 2, s);
    eq_tensor *p3 = tk_new(a, EQ_F32, 1, c3), *p4 = tk_new(a, EQ_F32, 1, c4);
    eq_tensor *p13 = tk_new(a, EQ_F32, 2, s13), *p64 = tk_new(a, EQ_F64, 1, c3);
    eq_tensor *y43 = tk_new(a, EQ_F32, 1, c4);
    eq_tensor_fill(x, 1.0);
    eq_tensor_fill(p3, 1.0);
    TK_ASSERT_ERR(eq_batch_norm_inference(x, p4, NULL, p3, p3, 0.001f, y, &e_), EQ_ERR_SHAPE,
                  "batch_norm_inference: gamma float32 [4] must be float32 [3] to match "
                  "the channels of input [4, 3]");
    TK_ASSERT_ERR(eq_batch_norm_inference(x, NULL, p13, p3, p3, 0.001f, y, &e_),
                  EQ_ERR_SHAPE, "beta float32 [1, 3] must be float32 [3]");
    TK_ASSERT_ERR(eq_batch_norm_inference(x, NULL, NULL, p64, p3, 0.001f, y, &e_),
                  EQ_ERR_SHAPE, "mean float64 [3] must be float32 [3]");
    TK_ASSERT_ERR(eq_batch_norm_inference(x, NULL, NULL, p3, p4, 0.001f, y, &e_),
                  EQ_ERR_SHAPE, "variance float32 [4]");
    TK_ASSERT_ERR(eq_batch_norm_inference(x, NULL, NULL, NULL, p3, 0.001f, y, &e_),
                  EQ_ERR_INVALID, "moving mean and variance are required");
    TK_ASSERT_ERR(eq_batch_norm_inference(x, NULL, NULL, p3, p3, -1e-3f, y, &e_),
                  EQ_ERR_INVALID, "epsilon -0.001 must be >= 0");
    TK_ASSERT_ERR(eq_batch_norm_training(x, NULL, NULL, NAN, y, NULL, NULL, &e_),
                  EQ_ERR_INVALID, "batch_norm_training: epsilon nan must be >= 0");
    TK_ASSERT_ERR(eq_batch_norm_training(x, NULL, NULL, 0.001f, y43, NULL, NULL, &e_),
                  EQ_ERR_SHAPE,
                  "batch_norm_training: output float32 [4] does not match input float32 "
                  "[4, 3]");
    TK_ASSERT_ERR(eq_batch_norm_training(x, NULL, NULL, 0.001f, y, p4, NULL, &e_),
                  EQ_ERR_SHAPE, "batch_mean float32 [4] must be float32 [3]");
    TK_ASSERT_ERR(eq_batch_norm_training(x, NULL, NULL, 0.001f, y, NULL, p64, &e_),
                  EQ_ERR_SHAPE, "batch_var float64 [3]");
    eq_tensor *empty = tk_new(a, EQ_F32, 2, s0);
    TK_ASSERT_ERR(eq_batch_norm_training(empty, NULL, NULL, 0.001f, empty, NULL, NULL, &e_),
                  EQ_ERR_SHAPE, "input [0, 3] has no elements per channel");
    eq_tensor *scalar = tk_new(a, EQ_F32, 0, s);
    TK_ASSERT_ERR(eq_batch_norm_training(scalar, NULL, NULL, 0.001f, scalar, NULL, NULL, &e_),
                  EQ_ERR_SHAPE, "input is a scalar");
    eq_arena_free(a);
}
END_TEST

START_TEST(batch_norm_out_of_memory)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {4, 3}, c3[1] = {3};
    eq_tensor *x = tk_new(a, EQ_F32, 2, s), *p = tk_new(a, EQ_F32, 1, c3);
    eq_tensor_fill(x, 1.0);
    eq_tensor_fill(p, 1.0);
    eq_alloc_fail_after(1, 1);
    eq_status st1 = eq_batch_norm_training(x, NULL, NULL, 0.001f, x, NULL, NULL, NULL);
    eq_status st2 = eq_batch_norm_inference(x, NULL, NULL, p, p, 0.001f, x, NULL);
    eq_alloc_fail_after(0, 0);
    ck_assert_int_eq(st1, EQ_ERR_NOMEM);
    ck_assert_int_eq(st2, EQ_ERR_NOMEM);
    eq_arena_free(a);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("norm");
    tcase_add_test(tc, inference_matches_reference);
    tcase_add_test(tc, training_matches_reference);
    tcase_add_test(tc, batch_norm_by_hand);
    tcase_add_test(tc, batch_norm_errors);
    tcase_add_test(tc, batch_norm_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(norm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
