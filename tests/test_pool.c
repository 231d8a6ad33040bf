/* test_pool.c - max/avg pool2d and mean over axes. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "eq_alloc.h"
#include "kernel_testutil.h"

/* TF's output size and leading padding, written out again here so the
 * test does not lean on eq_conv_out_dim. */
static void ref_dim(int64_t in, int k, int s, eq_padding p, int64_t *out, int64_t *before)
{
    if (p == EQ_PAD_SAME) {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + k - in;
        *before = total > 0 ? total / 2 : 0;
    } else {
        *out = (in - k) / s + 1;
        *before = 0;
    }
}

/* Per output cell, the window's in-bounds cells row by row. Average: sum in
 * the dtype from 0, one division by the number of cells. Max: from the
 * lowest finite value. */
static double *ref_pool(const eq_tensor *x, const eq_pool2d_params *p, int is_max,
                        int64_t out_shape[4])
{
    eq_dtype dt = x->dtype;
    int64_t n = x->shape[0], h = x->shape[1], w = x->shape[2], c = x->shape[3];
    int64_t ho, wo, pt, pl;
    ref_dim(h, p->kernel_h, p->stride_h, p->padding, &ho, &pt);
    ref_dim(w, p->kernel_w, p->stride_w, p->padding, &wo, &pl);
    int64_t shape[4] = {n, ho, wo, c};
    memcpy(out_shape, shape, sizeof shape);
    double *ref = malloc((size_t)(n * ho * wo * c) * sizeof *ref);
    ck_assert_ptr_nonnull(ref);
    double lowest = dt == EQ_F32 ? -FLT_MAX : -DBL_MAX;
    for (int64_t b = 0; b < n; b++)
        for (int64_t oh = 0; oh < ho; oh++)
            for (int64_t ow = 0; ow < wo; ow++)
                for (int64_t ch = 0; ch < c; ch++) {
                    double acc = is_max ? lowest : 0.0;
                    int count = 0;
                    for (int i = 0; i < p->kernel_h; i++) {
                        int64_t ih = oh * p->stride_h - pt + i;
                        if (ih < 0 || ih >= h)
                            continue;
                        for (int j = 0; j < p->kernel_w; j++) {
                            int64_t iw = ow * p->stride_w - pl + j;
                            if (iw < 0 || iw >= w)
                                continue;
                            double v = eq_tensor_get(x, ((b * h + ih) * w + iw) * c + ch);
                            acc = is_max ? (v > acc ? v : acc) : tk_round(dt, acc + v);
                            count++;
                        }
                    }
                    ck_assert_int_gt(count, 0);
                    if (!is_max)
                        acc = tk_round(dt, acc / count);
                    ref[((b * ho + oh) * wo + ow) * c + ch] = acc;
                }
    return ref;
}

static void check_pool(eq_arena *a, tk_rng *r, eq_dtype dt, const eq_pool2d_params *p)
{
    int64_t s[4] = {tk_int(r, 1, 3), tk_int(r, 5, 11), tk_int(r, 5, 11), tk_int(r, 1, 5)};
    eq_tensor *x = tk_random(a, r, dt, 4, s, -10, 10);
    for (int is_max = 0; is_max < 2; is_max++) {
        int64_t want[4], got[4];
        double *ref = ref_pool(x, p, is_max, want);
        TK_ASSERT_OK(eq_pool2d_shape(x, p, got, &e_));
        ck_assert(eq_shape_equal(4, got, 4, want));
        eq_tensor *y = tk_new(a, dt, 4, got);
        if (is_max)
            TK_ASSERT_OK(eq_max_pool2d(x, p, y, &e_));
        else
            TK_ASSERT_OK(eq_avg_pool2d(x, p, y, &e_));
        char what[128];
        snprintf(what, sizeof what, "%s_pool2d k%dx%d s%dx%d %s on [%lld,%lld,%lld,%lld]",
                 is_max ? "max" : "avg", p->kernel_h, p->kernel_w, p->stride_h,
                 p->stride_w, eq_padding_name(p->padding), (long long)s[0],
                 (long long)s[1], (long long)s[2], (long long)s[3]);
        tk_assert_bits(y, ref, what);
        free(ref);
    }
}

START_TEST(pool_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {31};
    const int ks[3] = {2, 3, 5};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++)
            for (int s = 1; s <= 2; s++)
                for (int pad = 0; pad < 2; pad++) {
                    eq_pool2d_params p = {ks[k], ks[k], s, s, (eq_padding)pad};
                    check_pool(a, &r, tk_dtypes[d], &p);
                }
    /* non-square windows and strides */
    eq_pool2d_params p1 = {3, 2, 2, 1, EQ_PAD_SAME}, p2 = {1, 5, 1, 3, EQ_PAD_VALID};
    check_pool(a, &r, EQ_F32, &p1);
    check_pool(a, &r, EQ_F32, &p2);
    eq_arena_free(a);
}
END_TEST

START_TEST(pool_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[4] = {1, 4, 4, 1};
    double xv[16];
    for (int i = 0; i < 16; i++)
        xv[i] = i + 1; /* row r, column c holds 4r + c + 1 */
    eq_tensor *x = tk_from(a, EQ_F32, 4, s, xv);
    eq_tensor *y44 = tk_new(a, EQ_F32, 4, s);
    int64_t s22[4] = {1, 2, 2, 1};
    eq_tensor *y22 = tk_new(a, EQ_F32, 4, s22);

    /* 3x3 SAME stride 1: the corner window holds 1, 2, 5, 6 and divides
     * by 4, an edge window by 6, an inner one by 9. */
    eq_pool2d_params same3 = {3, 3, 1, 1, EQ_PAD_SAME};
    TK_ASSERT_OK(eq_avg_pool2d(x, &same3, y44, &e_));
    const double avg3[16] = {3.5, 4.0, 5.0, 5.5, 5.5, 6.0, 7.0, 7.5,
                             9.5, 10.0, 11.0, 11.5, 11.5, 12.0, 13.0, 13.5};
    tk_assert_bits(y44, avg3, "avg 3x3 SAME s1");
    TK_ASSERT_OK(eq_max_pool2d(x, &same3, y44, &e_));
    const double max3[16] = {6, 7, 8, 8, 10, 11, 12, 12, 14, 15, 16, 16, 14, 15, 16, 16};
    tk_assert_bits(y44, max3, "max 3x3 SAME s1");

    eq_pool2d_params valid2 = {2, 2, 2, 2, EQ_PAD_VALID};
    TK_ASSERT_OK(eq_avg_pool2d(x, &valid2, y22, &e_));
    tk_assert_bits(y22, (const double[]){3.5, 5.5, 11.5, 13.5}, "avg 2x2 VALID s2");
    TK_ASSERT_OK(eq_max_pool2d(x, &valid2, y22, &e_));
    tk_assert_bits(y22, (const double[]){6, 8, 14, 16}, "max 2x2 VALID s2");

    /* 3x3 SAME stride 2 on 4: pad_total 1, all of it after, so the first
     * window is a full 3x3 and the last a 2x2 (11, 12, 15, 16) / 4. */
    eq_pool2d_params same3s2 = {3, 3, 2, 2, EQ_PAD_SAME};
    TK_ASSERT_OK(eq_avg_pool2d(x, &same3s2, y22, &e_));
    tk_assert_bits(y22, (const double[]){6.0, 7.5, 12.0, 13.5}, "avg 3x3 SAME s2");

    /* Padding never wins a max, even over negative inputs; all -inf gives
     * the lowest finite value, as TF. */
    int64_t s2[4] = {1, 2, 2, 1};
    eq_tensor *neg = tk_from(a, EQ_F32, 4, s2, (const double[]){-5, -6, -7, -INFINITY});
    TK_ASSERT_OK(eq_max_pool2d(neg, &same3, y22, &e_));
    tk_assert_bits(y22, (const double[]){-5, -5, -5, -5}, "max of negatives");
    int64_t s1[4] = {1, 1, 1, 1};
    eq_tensor *ninf = tk_from(a, EQ_F32, 4, s1, (const double[]){-INFINITY});
    eq_tensor *y1 = tk_new(a, EQ_F32, 4, s1);
    TK_ASSERT_OK(eq_max_pool2d(ninf, &same3, y1, &e_));
    ck_assert(eq_tensor_f32(y1)[0] == -FLT_MAX);
    eq_arena_free(a);
}
END_TEST

START_TEST(pool_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s3[3] = {4, 4, 1}, s[4] = {1, 4, 4, 2}, bad[4] = {1, 2, 2, 3};
    eq_tensor *x3 = tk_new(a, EQ_F32, 3, s3), *x = tk_new(a, EQ_F32, 4, s);
    eq_tensor *y_bad = tk_new(a, EQ_F32, 4, bad);
    int64_t out[4];
    eq_pool2d_params p = {2, 2, 2, 2, EQ_PAD_VALID};
    TK_ASSERT_ERR(eq_pool2d_shape(x3, &p, out, &e_), EQ_ERR_SHAPE,
                  "pool2d: input [4, 4, 1] has rank 3; it must be NHWC (rank 4)");
    TK_ASSERT_ERR(eq_max_pool2d(x, &p, y_bad, &e_), EQ_ERR_SHAPE,
                  "max_pool2d: output float32 [1, 2, 2, 3] does not match the result "
                  "float32 [1, 2, 2, 2]");
    eq_pool2d_params k0 = {0, 2, 1, 1, EQ_PAD_SAME};
    TK_ASSERT_ERR(eq_avg_pool2d(x, &k0, y_bad, &e_), EQ_ERR_INVALID,
                  "avg_pool2d: height of input [1, 4, 4, 2] with kernel 0x2, stride 1x1: "
                  "kernel 0, stride 1");
    eq_pool2d_params s0 = {2, 2, 1, 0, EQ_PAD_SAME};
    TK_ASSERT_ERR(eq_pool2d_shape(x, &s0, out, &e_), EQ_ERR_INVALID,
                  "pool2d: width of input [1, 4, 4, 2]");
    eq_pool2d_params big = {5, 3, 1, 1, EQ_PAD_VALID};
    TK_ASSERT_ERR(eq_pool2d_shape(x, &big, out, &e_), EQ_ERR_SHAPE,
                  "smaller than the effective kernel size 5 with VALID padding");
    eq_pool2d_params badpad = {2, 2, 1, 1, (eq_padding)7};
    TK_ASSERT_ERR(eq_pool2d_shape(x, &badpad, out, &e_), EQ_ERR_INVALID,
                  "pool2d: unknown padding 7");
    eq_arena_free(a);
}
END_TEST

/* Naive mean: for every output cell, the matching inputs in row-major order,
 * summed in double, divided by their count, rounded to the dtype. */
static void ref_mean(const eq_tensor *x, unsigned mask, double *ref, int64_t n_out)
{
    int rank = x->rank;
    int64_t n_in = eq_tensor_numel(x);
    for (int64_t o = 0; o < n_out; o++) {
        double sum = 0.0;
        int64_t count = 0;
        for (int64_t i = 0; i < n_in; i++) {
            /* output coordinates of input i, flattened */
            int64_t rem = i, flat = 0, stride = 1;
            for (int d = rank - 1; d >= 0; d--) {
                int64_t idx = rem % x->shape[d];
                rem /= x->shape[d];
                if (!(mask & (1u << d))) {
                    flat += idx * stride;
                    stride *= x->shape[d];
                }
            }
            if (flat == o) {
                sum += eq_tensor_get(x, i);
                count++;
            }
        }
        ref[o] = tk_round(x->dtype, sum / (double)count);
    }
}

START_TEST(mean_matches_reference)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {77};
    for (int d = 0; d < 2; d++)
        for (int rank = 1; rank <= 4; rank++) {
            int64_t s[4];
            for (int k = 0; k < rank; k++)
                s[k] = tk_int(&r, 1, 5);
            eq_tensor *x = tk_random(a, &r, tk_dtypes[d], rank, s, -1, 1);
            for (unsigned mask = 0; mask < (1u << rank); mask++)
                for (int keep = 0; keep < 2; keep++) {
                    int out_rank;
                    int64_t out[EQ_MAX_RANK];
                    TK_ASSERT_OK(eq_mean_shape(x, mask, keep, &out_rank, out, &e_));
                    int kept = 0;
                    for (int k = 0; k < rank; k++)
                        kept += !(mask & (1u << k));
                    ck_assert_int_eq(out_rank, keep ? rank : kept);
                    eq_tensor *y = tk_new(a, tk_dtypes[d], out_rank, out);
                    TK_ASSERT_OK(eq_mean(x, mask, keep, y, &e_));
                    double ref[625];
                    ref_mean(x, mask, ref, eq_tensor_numel(y));
                    tk_assert_bits(y, ref, "mean");
                }
        }
    eq_arena_free(a);
}
END_TEST

START_TEST(mean_by_hand)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[2] = {2, 2};
    eq_tensor *x = tk_from(a, EQ_F32, 2, s, (const double[]){1, 2, 3, 4});
    int64_t s2[1] = {2}, s12[2] = {1, 2};
    eq_tensor *y2 = tk_new(a, EQ_F32, 1, s2), *y12 = tk_new(a, EQ_F32, 2, s12);
    eq_tensor *y0 = tk_new(a, EQ_F32, 0, s2);
    TK_ASSERT_OK(eq_mean(x, 0x1, 0, y2, &e_));
    tk_assert_bits(y2, (const double[]){2, 3}, "mean axis 0");
    TK_ASSERT_OK(eq_mean(x, 0x2, 0, y2, &e_));
    tk_assert_bits(y2, (const double[]){1.5, 3.5}, "mean axis 1");
    TK_ASSERT_OK(eq_mean(x, 0x1, 1, y12, &e_));
    tk_assert_bits(y12, (const double[]){2, 3}, "mean axis 0 keepdims");
    TK_ASSERT_OK(eq_mean(x, 0x3, 0, y0, &e_));
    tk_assert_bits(y0, (const double[]){2.5}, "mean of all");

    /* Global average pooling: NHWC [2, 2, 2, 2] -> [2, 1, 1, 2]. */
    int64_t s4[4] = {2, 2, 2, 2}, g[4] = {2, 1, 1, 2};
    double xv[16];
    for (int i = 0; i < 16; i++)
        xv[i] = i;
    eq_tensor *x4 = tk_from(a, EQ_F32, 4, s4, xv);
    eq_tensor *yg = tk_new(a, EQ_F32, 4, g);
    TK_ASSERT_OK(eq_mean(x4, 0x6, 1, yg, &e_));
    /* image 0 channel 0: 0, 2, 4, 6 -> 3; channel 1: 1, 3, 5, 7 -> 4 */
    tk_assert_bits(yg, (const double[]){3, 4, 11, 12}, "global average pool");

    /* An empty reduced axis gives NaN (0/0), as TF. */
    int64_t se[2] = {0, 3}, s3[1] = {3};
    eq_tensor *xe = tk_new(a, EQ_F32, 2, se), *y3 = tk_new(a, EQ_F32, 1, s3);
    TK_ASSERT_OK(eq_mean(xe, 0x1, 0, y3, &e_));
    ck_assert(isnan(eq_tensor_f32(y3)[0]));
    eq_arena_free(a);
}
END_TEST

START_TEST(mean_errors)
{
    eq_arena *a = eq_arena_new(0);
    int64_t s[4] = {1, 3, 3, 2}, bad[4] = {1, 1, 1, 3};
    eq_tensor *x = tk_new(a, EQ_F32, 4, s), *y = tk_new(a, EQ_F32, 4, bad);
    int rank;
    int64_t out[EQ_MAX_RANK];
    TK_ASSERT_ERR(eq_mean_shape(x, 0x10, 1, &rank, out, &e_), EQ_ERR_INVALID,
                  "mean: axes mask 0x10 names axes beyond the last axis 3 of input "
                  "[1, 3, 3, 2]");
    TK_ASSERT_ERR(eq_mean(x, 0x6, 1, y, &e_), EQ_ERR_SHAPE,
                  "mean: output float32 [1, 1, 1, 3] does not match the result float32 "
                  "[1, 1, 1, 2]");
    TK_ASSERT_ERR(eq_mean(x, 0x6, 0, y, &e_), EQ_ERR_SHAPE, "result float32 [1, 2]");
    /* The accumulators come from the allocator; failure is reported. */
    int64_t g[4] = {1, 1, 1, 2};
    eq_tensor *yg = tk_new(a, EQ_F32, 4, g);
    eq_tensor_fill(x, 1.0);
    eq_alloc_fail_after(1, 1);
    eq_status st = eq_mean(x, 0x6, 1, yg, NULL);
    eq_alloc_fail_after(0, 0);
    ck_assert_int_eq(st, EQ_ERR_NOMEM);
    TK_ASSERT_OK(eq_mean(x, 0x6, 1, yg, &e_));
    eq_arena_free(a);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, pool_matches_reference);
    tcase_add_test(tc, pool_by_hand);
    tcase_add_test(tc, pool_errors);
    tcase_add_test(tc, mean_matches_reference);
    tcase_add_test(tc, mean_by_hand);
    tcase_add_test(tc, mean_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pool_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
