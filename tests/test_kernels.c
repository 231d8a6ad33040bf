/* test_kernels.c - determinism of every non-GEMM kernel across runs and
 * thread counts.
 *
 * The inputs are large enough that every OpenMP loop really splits. Each
 * kernel runs twice at 2 threads and once at 1; all three outputs must be
 * byte-identical (the kernels' reductions have a fixed order, so the thread
 * count does not matter either).
 */
#include <check.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernel_testutil.h"

enum { N_OUT = 17 };

typedef struct inputs {
    eq_tensor *x, *x2, *u, *vec, *gamma, *beta, *mean, *var;
} inputs;

typedef struct outputs {
    eq_tensor *t[N_OUT];
    float l2;
} outputs;

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
    ck_assert_int_eq(omp_get_max_threads(), n);
#else
    (void)n;
#endif
}

static eq_tensor *like(eq_arena *a, const eq_tensor *x)
{
    return tk_new(a, x->dtype, x->rank, x->shape);
}

static void run_all(eq_arena *a, const inputs *in, outputs *o)
{
    const eq_tensor *x = in->x;
    int k = 0;
    eq_tensor *y;
    const eq_activation acts[4] = {EQ_ACT_RELU, EQ_ACT_RELU6, EQ_ACT_SIGMOID, EQ_ACT_TANH};
    for (int i = 0; i < 4; i++) {
        y = o->t[k++] = like(a, x);
        TK_ASSERT_OK(eq_activate(x, acts[i], y, &e_));
    }
    y = o->t[k++] = like(a, x);
    TK_ASSERT_OK(eq_softmax(x, y, &e_));
    y = o->t[k++] = like(a, x);
    TK_ASSERT_OK(eq_batch_norm_inference(x, in->gamma, in->beta, in->mean, in->var, 0.001f,
                                         y, &e_));
    y = o->t[k++] = like(a, x);
    eq_tensor *bm = o->t[k++] = like(a, in->vec), *bv = o->t[k++] = like(a, in->vec);
    TK_ASSERT_OK(eq_batch_norm_training(x, in->gamma, in->beta, 0.001f, y, bm, bv, &e_));

    eq_pool2d_params pools[2] = {{3, 3, 1, 1, EQ_PAD_SAME}, {3, 3, 2, 2, EQ_PAD_VALID}};
    for (int i = 0; i < 2; i++) {
        int64_t s[4];
        TK_ASSERT_OK(eq_pool2d_shape(x, &pools[i], s, &e_));
        y = o->t[k++] = tk_new(a, x->dtype, 4, s);
        TK_ASSERT_OK(eq_avg_pool2d(x, &pools[i], y, &e_));
        y = o->t[k++] = tk_new(a, x->dtype, 4, s);
        TK_ASSERT_OK(eq_max_pool2d(x, &pools[i], y, &e_));
    }
    int rank;
    int64_t s[EQ_MAX_RANK];
    TK_ASSERT_OK(eq_mean_shape(x, 0x6, 1, &rank, s, &e_));
    y = o->t[k++] = tk_new(a, x->dtype, rank, s);
    TK_ASSERT_OK(eq_mean(x, 0x6, 1, y, &e_));

    y = o->t[k++] = like(a, x);
    TK_ASSERT_OK(eq_sub(x, in->vec, y, &e_));
    TK_ASSERT_OK(eq_mul(y, in->x2, y, &e_));
    TK_ASSERT_OK(eq_add(y, in->x2, y, &e_));
    TK_ASSERT_OK(eq_scale(y, 0.2f, y, &e_));
    y = o->t[k++] = like(a, x);
    TK_ASSERT_OK(eq_dropout(x, in->u, 0.8, y, &e_));

    const eq_tensor *parts[2] = {x, in->x2};
    TK_ASSERT_OK(eq_concat_shape(parts, 2, 3, s, &e_));
    y = o->t[k++] = tk_new(a, x->dtype, 4, s);
    TK_ASSERT_OK(eq_concat(parts, 2, 3, y, &e_));
    ck_assert_int_eq(k, N_OUT);
    TK_ASSERT_OK(eq_l2_loss(x, &o->l2, &e_));
}

static void assert_same(const outputs *p, const outputs *q, const char *what)
{
    for (int i = 0; i < N_OUT; i++) {
        ck_assert(eq_tensor_same_shape(p->t[i], q->t[i]));
        ck_assert_msg(memcmp(p->t[i]->data, q->t[i]->data, eq_tensor_nbytes(p->t[i])) == 0,
                      "%s: output %d differs", what, i);
    }
    ck_assert_msg(memcmp(&p->l2, &q->l2, sizeof p->l2) == 0, "%s: l2_loss differs", what);
}

START_TEST(bit_identical_across_runs_and_threads)
{
    eq_arena *a = eq_arena_new(0);
    tk_rng r = {2024};
    /* 2 x 37 x 37 x 48: 131k elements, above every parallel threshold */
    int64_t s[4] = {2, 37, 37, 48}, c[1] = {48};
    inputs in = {
        .x = tk_random(a, &r, EQ_F32, 4, s, -4, 4),
        .x2 = tk_random(a, &r, EQ_F32, 4, s, -1, 1),
        .u = tk_random(a, &r, EQ_F32, 4, s, 0, 1),
        .vec = tk_random(a, &r, EQ_F32, 1, c, -1, 1),
        .gamma = tk_random(a, &r, EQ_F32, 1, c, 0.5, 1.5),
        .beta = tk_random(a, &r, EQ_F32, 1, c, -1, 1),
        .mean = tk_random(a, &r, EQ_F32, 1, c, -1, 1),
        .var = tk_random(a, &r, EQ_F32, 1, c, 0.1, 2),
    };
    outputs first, second, single;
    set_threads(2);
    run_all(a, &in, &first);
    run_all(a, &in, &second);
    assert_same(&first, &second, "2 threads, run twice");
    set_threads(1);
    run_all(a, &in, &single);
    assert_same(&first, &single, "2 threads vs 1");
    set_threads(2);
    eq_arena_free(a);
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("determinism");
    tcase_add_test(tc, bit_identical_across_runs_and_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kernels_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
