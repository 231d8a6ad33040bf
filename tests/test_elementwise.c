/* test_elementwise.c - add/sub/mul with broadcasting, scale, dropout,
 * l2_loss. */
#include <check.h>
#include <float.h>
#include <math.h>

#include "eq_alloc.h"
#include "kernel_testutil.h"

static double apply(eq_binary_op op, double a, double b)
{
    switch (op) {
    case EQ_BIN_ADD: return a + b;
    case EQ_BIN_SUB: return a - b;
    case EQ_BIN_MUL: return a * b;
    }
    return NAN;
}

enum { SAME, A_SCALAR, B_SCALAR, A_VECTOR, B_VECTOR, N_KINDS };

/* Builds operands of the given broadcast kind around a random big shape,
 * runs the op (out of place, then into each operand that has the result's
 * shape) and compares with a per-element reference. */
static void check_binary(eq_arena *ar, tk_rng *r, eq_dtype dt, eq_binary_op op, int kind)
{
    int64_t big[4], one[4] = {1, 1, 1, 1};
    int rank = (int)tk_int(r, 1, 4);
    for (int d = 0; d < rank; d++)
        big[d] = tk_int(r, 1, 6);
    /* A one-element big operand would make "which one is broadcast"
     * ambiguous; binary_by_hand covers that case. */
    if (kind == A_SCALAR || kind == B_SCALAR)
        big[0] = tk_int(r, 2, 6);
    int64_t c = big[rank - 1];
    int64_t vec[1] = {c};
    int srank = (int)tk_int(r, 0, 3); /* a one-element operand of any rank */
    const int64_t *sa = big, *sb = big;
    int ra = rank, rb = rank;
    switch (kind) {
    case A_SCALAR: sa = one; ra = srank; break;
    case B_SCALAR: sb = one; rb = srank; break;
    case A_VECTOR: sa = vec; ra = 1; break;
    case B_VECTOR: sb = vec; rb = 1; break;
    }
    for (int alias = 0; alias < 3; alias++) {
        eq_tensor *a = tk_random(ar, r, dt, ra, sa, -4, 4);
        eq_tensor *b = tk_random(ar, r, dt, rb, sb, -4, 4);
        int64_t n = eq_shape_numel(rank, big);
        double ref[6 * 6 * 6 * 6];
        for (int64_t i = 0; i < n; i++) {
            int64_t ia = eq_tensor_numel(a) == n ? i : (eq_tensor_numel(a) == 1 ? 0 : i % c);
            int64_t ib = eq_tensor_numel(b) == n ? i : (eq_tensor_numel(b) == 1 ? 0 : i % c);
            ref[i] = tk_round(dt, apply(op, eq_tensor_get(a, ia), eq_tensor_get(b, ib)));
        }
        eq_tensor *y;
        if (alias == 1 && eq_tensor_numel(a) == n && a->rank == rank)
            y = a;
        else if (alias == 2 && eq_tensor_numel(b) == n && b->rank == rank)
            y = b;
        else
            y = tk_new(ar, dt, rank, big);
        int out_rank;
        int64_t out_shape[EQ_MAX_RANK];
        TK_ASSERT_OK(eq_binary_shape(op, a, b, &out_rank, out_shape, &e_));
        ck_assert(eq_shape_equal(out_rank, out_shape, rank, big));
        TK_ASSERT_OK(eq_binary(op, a, b, y, &e_));
        tk_assert_bits(y, ref, "binary");
    }
}

START_TEST(binary_matches_reference)
{
    eq_arena *ar = eq_arena_new(0);
    tk_rng r = {7};
    for (int d = 0; d < 2; d++)
        for (int op = EQ_BIN_ADD; op <= EQ_BIN_MUL; op++)
            for (int kind = 0; kind < N_KINDS; kind++)
                for (int rep = 0; rep < 4; rep++)
                    check_binary(ar, &r, tk_dtypes[d], (eq_binary_op)op, kind);
    eq_arena_free(ar);
}
END_TEST

START_TEST(binary_by_hand)
{
    eq_arena *ar = eq_arena_new(0);
    int64_t s3[1] = {3}, s1[1] = {1}, s23[2] = {2, 3};
    const double v3[3] = {1, 2, 3}, v5[1] = {5}, m[6] = {10, 20, 30, 40, 50, 60};
    eq_tensor *a3 = tk_from(ar, EQ_F32, 1, s3, v3);
    eq_tensor *five = tk_from(ar, EQ_F32, 1, s1, v5);
    eq_tensor *mat = tk_from(ar, EQ_F32, 2, s23, m);
    eq_tensor *y3 = tk_new(ar, EQ_F32, 1, s3);
    eq_tensor *y23 = tk_new(ar, EQ_F32, 2, s23);
    /* a - b keeps its order whichever side is broadcast. */
    TK_ASSERT_OK(eq_sub(five, a3, y3, &e_));
    tk_assert_bits(y3, (const double[]){4, 3, 2}, "5 - [1,2,3]");
    TK_ASSERT_OK(eq_sub(a3, five, y3, &e_));
    tk_assert_bits(y3, (const double[]){-4, -3, -2}, "[1,2,3] - 5");
    TK_ASSERT_OK(eq_sub(mat, a3, y23, &e_));
    tk_assert_bits(y23, (const double[]){9, 18, 27, 39, 48, 57}, "mat - vec");
    TK_ASSERT_OK(eq_sub(a3, mat, y23, &e_));
    tk_assert_bits(y23, (const double[]){-9, -18, -27, -39, -48, -57}, "vec - mat");
    TK_ASSERT_OK(eq_add(mat, a3, y23, &e_));
    tk_assert_bits(y23, (const double[]){11, 22, 33, 41, 52, 63}, "mat + vec");
    TK_ASSERT_OK(eq_mul(a3, mat, mat, &e_)); /* in place into the big operand */
    tk_assert_bits(mat, (const double[]){10, 40, 90, 40, 100, 180}, "vec * mat");

    /* Shapes: the larger operand's; two one-element operands give the
     * higher rank. */
    int rank;
    int64_t out[EQ_MAX_RANK], s11[2] = {1, 1};
    eq_tensor *sc = tk_new(ar, EQ_F32, 0, s1), *one11 = tk_new(ar, EQ_F32, 2, s11);
    TK_ASSERT_OK(eq_binary_shape(EQ_BIN_ADD, sc, one11, &rank, out, &e_));
    ck_assert_int_eq(rank, 2);
    TK_ASSERT_OK(eq_binary_shape(EQ_BIN_ADD, one11, sc, &rank, out, &e_));
    ck_assert_int_eq(rank, 2);
    TK_ASSERT_OK(eq_binary_shape(EQ_BIN_MUL, sc, mat, &rank, out, &e_));
    ck_assert(eq_shape_equal(rank, out, 2, s23));
    eq_arena_free(ar);
}
END_TEST

START_TEST(binary_errors)
{
    eq_arena *ar = eq_arena_new(0);
    int64_t s23[2] = {2, 3}, s33[2] = {3, 3}, s2[1] = {2}, s32[2] = {3, 2};
    eq_tensor *a = tk_new(ar, EQ_F32, 2, s23), *b = tk_new(ar, EQ_F32, 2, s33);
    eq_tensor *v2 = tk_new(ar, EQ_F32, 1, s2), *a64 = tk_new(ar, EQ_F64, 2, s23);
    eq_tensor *y32 = tk_new(ar, EQ_F32, 2, s32), *y = tk_new(ar, EQ_F32, 2, s23);
    int rank;
    int64_t out[EQ_MAX_RANK];
    TK_ASSERT_ERR(eq_add(a, b, y, &e_), EQ_ERR_SHAPE,
                  "add: shapes [2, 3] and [3, 3] cannot be broadcast");
    /* [2] is not the last dim of [2, 3], though it is the first. */
    TK_ASSERT_ERR(eq_mul(v2, a, y, &e_), EQ_ERR_SHAPE,
                  "mul: shapes [2] and [2, 3] cannot be broadcast");
    TK_ASSERT_ERR(eq_binary_shape(EQ_BIN_SUB, a, v2, &rank, out, &e_), EQ_ERR_SHAPE,
                  "sub: shapes [2, 3] and [2]");
    TK_ASSERT_ERR(eq_sub(a, a64, y, &e_), EQ_ERR_INVALID,
                  "sub: operands are float32 and float64");
    TK_ASSERT_ERR(eq_add(a, a, y32, &e_), EQ_ERR_SHAPE,
                  "add: output float32 [3, 2] does not match the result float32 [2, 3]");
    TK_ASSERT_ERR(eq_binary((eq_binary_op)9, a, a, y, &e_), EQ_ERR_INVALID,
                  "unknown op 9");
    eq_arena_free(ar);
}
END_TEST

START_TEST(scale_matches_reference)
{
    eq_arena *ar = eq_arena_new(0);
    tk_rng r = {3};
    int64_t s[3] = {3, 5, 7};
    for (int d = 0; d < 2; d++) {
        eq_dtype dt = tk_dtypes[d];
        eq_tensor *x = tk_random(ar, &r, dt, 3, s, -5, 5);
        const float k = 0.17f; /* residual scales like 0.17 are not exact */
        double ref[105];
        for (int i = 0; i < 105; i++)
            ref[i] = tk_round(dt, eq_tensor_get(x, i) * (double)k);
        eq_tensor *y = tk_new(ar, dt, 3, s);
        TK_ASSERT_OK(eq_scale(x, k, y, &e_));
        tk_assert_bits(y, ref, "scale");
        TK_ASSERT_OK(eq_scale(x, k, x, &e_));
        tk_assert_bits(x, ref, "scale in place");
        TK_ASSERT_ERR(eq_scale(x, k, tk_new(ar, dt, 2, s), &e_), EQ_ERR_SHAPE,
                      "scale: output");
    }
    eq_arena_free(ar);
}
END_TEST

START_TEST(dropout_by_hand)
{
    eq_arena *ar = eq_arena_new(0);
    int64_t s[1] = {6};
    /* keep_prob 0.8: rate = 1 - 0.8 = 0.19999999999999996 in double, which
     * is 0.2f in float32; scale = 1/(1 - rate) = 1.25. u == rate is kept,
     * the float just below it is dropped. */
    float rate_f = 0.2f;
    float below = nextafterf(rate_f, 0.0f);
    const double x[6] = {1, 2, 3, 4, 5, 6};
    const double u[6] = {0.1, rate_f, below, 0.5, 0.99, 0.0};
    const double want[6] = {0, 2.5, 0, 5, 6.25, 0};
    eq_tensor *xt = tk_from(ar, EQ_F32, 1, s, x);
    eq_tensor *ut = tk_from(ar, EQ_F32, 1, s, u);
    eq_tensor *y = tk_new(ar, EQ_F32, 1, s);
    TK_ASSERT_OK(eq_dropout(xt, ut, 0.8, y, &e_));
    tk_assert_bits(y, want, "dropout 0.8");

    /* float64: the comparison is against the double rate itself. */
    double rate_d = 1.0 - 0.8;
    const double u64[6] = {0.1, rate_d, nextafter(rate_d, 0.0), 0.5, 0.99, 0.2};
    const double want64[6] = {0, 2.5, 0, 5, 6.25, 7.5};
    eq_tensor *x64 = tk_from(ar, EQ_F64, 1, s, x);
    eq_tensor *u64t = tk_from(ar, EQ_F64, 1, s, u64);
    TK_ASSERT_OK(eq_dropout(x64, u64t, 0.8, x64, &e_)); /* in place */
    tk_assert_bits(x64, want64, "dropout 0.8 float64");

    /* keep_prob 0.7: scale is (float)(1/0.7), not a rounded 1/0.7f chain. */
    TK_ASSERT_OK(eq_dropout(xt, ut, 0.7, y, &e_));
    ck_assert(eq_tensor_f32(y)[3] == 4.0f * (float)(1.0 / (1.0 - (1.0 - 0.7))));
    ck_assert(eq_tensor_f32(y)[1] == 0.0f); /* 0.2 < 0.3 */

    /* keep_prob 1 is the identity and needs no noise. */
    TK_ASSERT_OK(eq_dropout(xt, NULL, 1.0, y, &e_));
    tk_assert_bits(y, x, "dropout 1.0");
    eq_arena_free(ar);
}
END_TEST

START_TEST(dropout_matches_reference)
{
    eq_arena *ar = eq_arena_new(0);
    tk_rng r = {99};
    int64_t s[4] = {2, 5, 3, 7};
    const double kps[3] = {0.5, 0.8, 0.9};
    for (int d = 0; d < 2; d++) {
        eq_dtype dt = tk_dtypes[d];
        for (int k = 0; k < 3; k++) {
            eq_tensor *x = tk_random(ar, &r, dt, 4, s, -3, 3);
            eq_tensor *u = tk_random(ar, &r, dt, 4, s, 0, 1);
            double rate = 1.0 - kps[k];
            double rate_t = tk_round(dt, rate), scale_t = tk_round(dt, 1.0 / (1.0 - rate));
            double ref[210];
            int kept = 0;
            for (int i = 0; i < 210; i++) {
                int keep = eq_tensor_get(u, i) >= rate_t;
                kept += keep;
                ref[i] = keep ? tk_round(dt, eq_tensor_get(x, i) * scale_t) : 0.0;
            }
            ck_assert(kept > 0 && kept < 210); /* the test means something */
            eq_tensor *y = tk_new(ar, dt, 4, s);
            TK_ASSERT_OK(eq_dropout(x, u, kps[k], y, &e_));
            tk_assert_bits(y, ref, "dropout");
        }
    }
    eq_arena_free(ar);
}
END_TEST

START_TEST(dropout_errors)
{
    eq_arena *ar = eq_arena_new(0);
    int64_t s[2] = {2, 3}, s2[2] = {3, 2};
    eq_tensor *x = tk_new(ar, EQ_F32, 2, s), *u = tk_new(ar, EQ_F32, 2, s);
    eq_tensor *u_bad = tk_new(ar, EQ_F32, 2, s2), *u64 = tk_new(ar, EQ_F64, 2, s);
    eq_tensor *y = tk_new(ar, EQ_F32, 2, s);
    TK_ASSERT_ERR(eq_dropout(x, u, 0.0, y, &e_), EQ_ERR_INVALID,
                  "dropout: keep_prob 0 is outside (0, 1]");
    TK_ASSERT_ERR(eq_dropout(x, u, -0.5, y, &e_), EQ_ERR_INVALID, "keep_prob -0.5");
    TK_ASSERT_ERR(eq_dropout(x, u, 1.5, y, &e_), EQ_ERR_INVALID, "keep_prob 1.5");
    TK_ASSERT_ERR(eq_dropout(x, u, NAN, y, &e_), EQ_ERR_INVALID, "outside (0, 1]");
    TK_ASSERT_ERR(eq_dropout(x, u_bad, 0.5, y, &e_), EQ_ERR_SHAPE,
                  "dropout: noise u float32 [3, 2] does not match input float32 [2, 3]");
    TK_ASSERT_ERR(eq_dropout(x, u64, 0.5, y, &e_), EQ_ERR_SHAPE, "noise u float64");
    TK_ASSERT_ERR(eq_dropout(x, NULL, 0.5, y, &e_), EQ_ERR_INVALID, "needs the uniform noise");
    TK_ASSERT_ERR(eq_dropout(x, u, 0.5, u_bad, &e_), EQ_ERR_SHAPE, "dropout: output");
    eq_arena_free(ar);
}
END_TEST

START_TEST(l2_loss_values)
{
    eq_arena *ar = eq_arena_new(0);
    int64_t s3[1] = {3};
    float out = -1.0f;
    eq_tensor *w = tk_from(ar, EQ_F32, 1, s3, (const double[]){1, -2, 3});
    TK_ASSERT_OK(eq_l2_loss(w, &out, &e_));
    ck_assert(out == 7.0f); /* 0.5 + 2 + 4.5 */

    tk_rng r = {1234};
    int64_t s[4] = {3, 3, 17, 9};
    eq_tensor *wr = tk_random(ar, &r, EQ_F32, 4, s, -0.3, 0.3);
    double sum = 0.0;
    for (int64_t i = 0; i < eq_tensor_numel(wr); i++) {
        double v = eq_tensor_get(wr, i);
        sum += tk_round(EQ_F32, tk_round(EQ_F32, v * v) * 0.5);
    }
    TK_ASSERT_OK(eq_l2_loss(wr, &out, &e_));
    ck_assert(out == (float)sum);

    int64_t s0[1] = {0};
    TK_ASSERT_OK(eq_l2_loss(tk_new(ar, EQ_F32, 1, s0), &out, &e_));
    ck_assert(out == 0.0f);
    TK_ASSERT_ERR(eq_l2_loss(tk_new(ar, EQ_F64, 1, s3), &out, &e_), EQ_ERR_UNSUPPORTED,
                  "l2_loss: float64 input is not supported");
    eq_arena_free(ar);
}
END_TEST

/* Over a million weights: more block sums than fit on the stack. The
 * order is the one eq_elementwise.c documents (blocks of 16384, 8 lanes in
 * double), so a reference written from that description gives the same
 * bits; and it is within float rounding of an exact sum. */
START_TEST(l2_loss_large_in_documented_order)
{
    eq_arena *ar = eq_arena_new(0);
    tk_rng r = {77};
    int64_t s[1] = {65 * 16384 + 1000 + 3};
    eq_tensor *w = tk_random(ar, &r, EQ_F32, 1, s, -0.5, 0.5);
    const float *wf = eq_tensor_f32(w);
    int64_t n = s[0];
    double total = 0.0;
    long double exact = 0.0L;
    for (int64_t b0 = 0; b0 < n; b0 += 16384) {
        int64_t len = n - b0 < 16384 ? n - b0 : 16384;
        double lane[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= len; i += 8)
            for (int j = 0; j < 8; j++)
                lane[j] += (double)(wf[b0 + i + j] * wf[b0 + i + j] * 0.5f);
        double block = 0.0;
        for (int j = 0; j < 8; j++)
            block += lane[j];
        for (; i < len; i++)
            block += (double)(wf[b0 + i] * wf[b0 + i] * 0.5f);
        total += block;
    }
    for (int64_t i = 0; i < n; i++)
        exact += (long double)(wf[i] * wf[i] * 0.5f);
    float out = -1.0f;
    TK_ASSERT_OK(eq_l2_loss(w, &out, &e_));
    ck_assert(out == (float)total);
    ck_assert(fabsl((long double)out - exact) <= 1e-6L * exact);
    eq_alloc_fail_after(1, 0);
    TK_ASSERT_ERR(eq_l2_loss(w, &out, &e_), EQ_ERR_NOMEM, "l2_loss: out of memory");
    eq_alloc_fail_after(0, 0);
    eq_arena_free(ar);
}
END_TEST

static Suite *elementwise_suite(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_add_test(tc, binary_matches_reference);
    tcase_add_test(tc, binary_by_hand);
    tcase_add_test(tc, binary_errors);
    tcase_add_test(tc, scale_matches_reference);
    tcase_add_test(tc, dropout_by_hand);
    tcase_add_test(tc, dropout_matches_reference);
    tcase_add_test(tc, dropout_errors);
    tcase_add_test(tc, l2_loss_values);
    tcase_add_test(tc, l2_loss_large_in_documented_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(elementwise_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
