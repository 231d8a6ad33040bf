/* test_conv.c - conv2d against a naive double-precision loop, small
 * hand-computed cases, the 1x1 path, the fused epilogue, determinism and
 * every error path. Every test runs twice: with the engine's packed GEMM
 * kernel (when the CPU has AVX-512) and with BLIS (EQ_GEMM=blis's path). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq.h"
#include "eq_gemm_packed.h"

/* ---- helpers ------------------------------------------------------------ */


static unsigned rng_state = 12345u;

static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static int irand(int lo, int hi) /* inclusive */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (int)((rng_state >> 8) % (unsigned)(hi - lo + 1));
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
    float *d = eq_tensor_f32(t);
    for (int64_t i = 0; i < eq_tensor_numel(t); i++)
        d[i] = frand();
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

/* Naive conv written from TF's definition, accumulating in double; also
 * the sum of |terms| of every output, for the tolerance. */
static void ref_conv(const eq_tensor *x, const eq_tensor *w, const eq_tensor *b,
                     const eq_conv2d_params *p, const int64_t ys[4], double *out,
                     double *sumabs)
{
    int64_t H = x->shape[1], W = x->shape[2], C = x->shape[3];
    int64_t KH = w->shape[0], KW = w->shape[1], CO = w->shape[3];
    int64_t pt = 0, pl = 0, ho, wo, after;
    ck_assert_int_eq(eq_conv_out_dim(H, KH, p->stride_h, p->dilation_h, p->padding, &ho,
                                     &pt, &after, NULL),
                     EQ_OK);
    ck_assert_int_eq(eq_conv_out_dim(W, KW, p->stride_w, p->dilation_w, p->padding, &wo,
                                     &pl, &after, NULL),
                     EQ_OK);
    ck_assert_int_eq(ho, ys[1]);
    ck_assert_int_eq(wo, ys[2]);
    const float *xd = eq_tensor_f32(x), *wd = eq_tensor_f32(w);
    for (int64_t n = 0; n < ys[0]; n++)
        for (int64_t i = 0; i < ho; i++)
            for (int64_t j = 0; j < wo; j++)
                for (int64_t co = 0; co < CO; co++) {
                    double s = 0, sa = 0;
                    for (int64_t a = 0; a < KH; a++)
                        for (int64_t bb = 0; bb < KW; bb++) {
                            int64_t h = i * p->stride_h - pt + a * p->dilation_h;
                            int64_t ww = j * p->stride_w - pl + bb * p->dilation_w;
                            if (h < 0 || h >= H || ww < 0 || ww >= W)
                                continue;
                            for (int64_t c = 0; c < C; c++) {
                                double t = (double)xd[((n * H + h) * W + ww) * C + c] *
                                           (double)wd[((a * KW + bb) * C + c) * CO + co];
                                s += t;
                                sa += fabs(t);
                            }
                        }
                    if (b) {
                        s += eq_tensor_f32(b)[co];
                        sa += fabs(eq_tensor_f32(b)[co]);
                    }
                    int64_t o = ((n * ho + i) * wo + j) * CO + co;
                    out[o] = ref_act(p->activation, s);
                    sumabs[o] = sa;
                }
}

/* |y - ref| <= (K + 4) * eps * sum|terms| + 4 * eps * |ref| + 1e-30: the
 * classic bound of a float32 dot product of K terms, whatever the order, plus
 * one rounding of the bias add and of the activation. */
static void check_close(const eq_tensor *y, const double *ref, const double *sumabs,
                        int64_t k, const char *what)
{
    const float *yd = eq_tensor_f32(y);
    for (int64_t i = 0; i < eq_tensor_numel(y); i++) {
        double tol = (double)(k + 4) * FLT_EPSILON * sumabs[i] +
                     4.0 * FLT_EPSILON * fabs(ref[i]) + 1e-30;
        ck_assert_msg(fabs((double)yd[i] - ref[i]) <= tol,
                      "%s: element %lld is %.9g, reference %.9g (tolerance %.3g)", what,
                      (long long)i, (double)yd[i], ref[i], tol);
    }
}

typedef struct conv_case {
    int64_t n, h, w, cin, kh, kw, cout;
    int stride, dilation;
    eq_padding pad;
    int bias;
    eq_activation act;
} conv_case;

/* Runs one case against the reference; returns 0 if the shape is empty
 * (and checks that conv2d says so). */
static int run_case(const conv_case *c, eq_workspace *ws, const char *what)
{
    eq_arena *a = eq_arena_new(0);
    int64_t xs[4] = {c->n, c->h, c->w, c->cin}, wsh[4] = {c->kh, c->kw, c->cin, c->cout};
    int64_t bs[1] = {c->cout}, ys[4];
    eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh), *b = trand(a, 1, bs);
    eq_conv2d_params p = {c->stride, c->stride, c->dilation, c->dilation, c->pad, c->act};
    eq_error err;
    eq_status st = eq_conv2d_shape(x, w, c->bias ? b : NULL, &p, ys, &err);
    if (st != EQ_OK) {
        ck_assert_int_eq(st, EQ_ERR_SHAPE);
        eq_arena_free(a);
        return 0;
    }
    eq_tensor *y = tnew(a, 4, ys);
    ck_assert_msg(eq_conv2d(x, w, c->bias ? b : NULL, &p, y, ws, &err) == EQ_OK, "%s: %s",
                  what, err.message);
    int64_t ny = eq_tensor_numel(y);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    double *sa = malloc(sizeof(double) * (size_t)ny);
    ref_conv(x, w, c->bias ? b : NULL, &p, ys, ref, sa);
    char label[256];
    snprintf(label, sizeof label,
             "%s: x [%lld,%lld,%lld,%lld] k %lldx%lld->%lld s%d d%d %s bias %d act %s",
             what, (long long)c->n, (long long)c->h, (long long)c->w, (long long)c->cin,
             (long long)c->kh, (long long)c->kw, (long long)c->cout, c->stride, c->dilation,
             eq_padding_name(c->pad), c->bias, eq_activation_name(c->act));
    check_close(y, ref, sa, c->kh * c->kw * c->cin, label);
    free(ref);
    free(sa);
    eq_arena_free(a);
    return 1;
}

/* ---- against the reference ---------------------------------------------- */

static const int64_t kernels[][2] = {{1, 1}, {3, 3}, {5, 5}, {1, 7}, {7, 1}, {2, 2}};

static void random_cases(int threads, eq_workspace *ws)
{
    eq_blas_set_threads(threads);
    int ran = 0;
    for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
        for (int stride = 1; stride <= 2; stride++)
            for (int dil = 1; dil <= 2; dil++)
                for (int pad = 0; pad <= 1; pad++) {
                    conv_case c = {irand(1, 3),
                                   irand(5, 17),
                                   irand(5, 17),
                                   irand(1, 9),
                                   kernels[ki][0],
                                   kernels[ki][1],
                                   irand(1, 11),
                                   stride,
                                   dil,
                                   pad ? EQ_PAD_SAME : EQ_PAD_VALID,
                                   irand(0, 1),
                                   (eq_activation)irand(0, 4)};
                    ran += run_case(&c, ws, "random");
                }
    /* 48 combinations; a few large dilated VALID kernels do not fit (and
     * were checked to be refused) */
    ck_assert_int_ge(ran, 36);
}

START_TEST(conv_random_shapes_1_thread)
{
    eq_workspace ws = {0};
    random_cases(1, &ws);
    eq_workspace_release(&ws);
}
END_TEST

START_TEST(conv_random_shapes_2_threads)
{
    eq_workspace ws = {0};
    random_cases(2, &ws);
    eq_workspace_release(&ws);
}
END_TEST

/* Bigger shapes so the chunked and the per-thread paths both run with
 * several chunks; a small workspace limit forces many chunks. */
START_TEST(conv_chunked_and_split)
{
    eq_workspace ws = {0};
    eq_blas_set_threads(2);
    conv_case big = {2, 23, 21, 13, 3, 3, 17, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU};
    ck_assert(run_case(&big, &ws, "split"));
    ws.limit = 3 * 3 * 13 * sizeof(float) * 40; /* 40 im2col rows */
    ck_assert(run_case(&big, &ws, "split, small chunks"));
    ws.limit = 3 * 3 * 13 * sizeof(float) * 1; /* one row: no split */
    ck_assert(run_case(&big, &ws, "one row per chunk"));
    eq_workspace_release(&ws);
    /* few output rows: every step shared by the threads */
    conv_case few = {1, 9, 9, 64, 3, 3, 40, 2, 1, EQ_PAD_VALID, 1, EQ_ACT_NONE};
    ck_assert(run_case(&few, NULL, "shared, NULL workspace"));
    eq_blas_set_threads(1);
    ck_assert(run_case(&big, NULL, "1 thread"));
}
END_TEST

/* ---- hand-computed ------------------------------------------------------ */

static void conv_expect(int64_t h, int64_t w, int64_t cin, const float *xv, int64_t kh,
                        int64_t kw, int64_t cout, const float *wv, const float *bv,
                        eq_conv2d_params p, int64_t ho, int64_t wo, const float *expect)
{
    eq_arena *a = eq_arena_new(0);
    int64_t xs[4] = {1, h, w, cin}, wsh[4] = {kh, kw, cin, cout}, bs[1] = {cout}, ys[4];
    eq_tensor *x = tvals(a, 4, xs, xv), *wt = tvals(a, 4, wsh, wv);
    eq_tensor *b = bv ? tvals(a, 1, bs, bv) : NULL;
    eq_error err;
    ck_assert_int_eq(eq_conv2d_shape(x, wt, b, &p, ys, &err), EQ_OK);
    ck_assert_int_eq(ys[1], ho);
    ck_assert_int_eq(ys[2], wo);
    eq_tensor *y = tnew(a, 4, ys);
    ck_assert_int_eq(eq_conv2d(x, wt, b, &p, y, NULL, &err), EQ_OK);
    for (int64_t i = 0; i < ho * wo * cout; i++)
        ck_assert_msg(eq_tensor_f32(y)[i] == expect[i], "element %lld: %g, expected %g",
                      (long long)i, (double)eq_tensor_f32(y)[i], (double)expect[i]);
    eq_arena_free(a);
}

static const float x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float w2[4] = {1, 2, 3, 4}; /* [[1,2],[3,4]] */

START_TEST(conv_hand_3x3_input_2x2_kernel_valid)
{
    /* y[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1] */
    const float e[4] = {37, 47, 67, 77};
    conv_expect(3, 3, 1, x3, 2, 2, 1, w2, NULL,
                (eq_conv2d_params){1, 1, 1, 1, EQ_PAD_VALID, EQ_ACT_NONE}, 2, 2, e);
}
END_TEST

START_TEST(conv_hand_same_pads_bottom_right)
{
    /* SAME, 2x2 kernel: pad_total 1 goes after, so the last row and column
     * see zeros below/right: y[0,2] = 3 + 3*6, y[2,2] = 9. */
    const float e[9] = {37, 47, 21, 67, 77, 33, 23, 26, 9};
    conv_expect(3, 3, 1, x3, 2, 2, 1, w2, NULL,
                (eq_conv2d_params){1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE}, 3, 3, e);
}
END_TEST

START_TEST(conv_hand_same_stride2_even_size)
{
    /* 4x4 input 1..16, 3x3 ones, stride 2 SAME: out 2x2, pad_total
     * (2-1)*2+3-4 = 1, all of it bottom/right. Windows start at rows/cols
     * 0 and 2: y00 = rows 0-2 x cols 0-2 = 54; y01 = cols 2-3 (+pad) = 45;
     * y10 = rows 2-3 = 72; y11 = 11+12+15+16 = 54. (Padding on top/left
     * instead would give y00 = 1+2+5+6 = 14.) */
    float x[16], w[9];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++)
        w[i] = 1;
    const float e[4] = {54, 45, 72, 54};
    conv_expect(4, 4, 1, x, 3, 3, 1, w, NULL,
                (eq_conv2d_params){2, 2, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE}, 2, 2, e);
}
END_TEST

START_TEST(conv_hand_stride2_valid_and_dilation)
{
    float x[25];
    for (int i = 0; i < 25; i++)
        x[i] = (float)(i + 1);
    float ones[9];
    for (int i = 0; i < 9; i++)
        ones[i] = 1;
    /* 5x5, 3x3 ones, stride 2 VALID: windows at 0 and 2.
     * y00 = 1+2+3+6+7+8+11+12+13 = 63; two columns right adds 2*9, two rows
     * down 2*5*9: y01 = 81, y10 = 153, y11 = 171 */
    const float e1[4] = {63, 81, 153, 171};
    conv_expect(5, 5, 1, x, 3, 3, 1, ones, NULL,
                (eq_conv2d_params){2, 2, 1, 1, EQ_PAD_VALID, EQ_ACT_NONE}, 2, 2, e1);
    /* 2x2 kernel [[1,2],[3,4]] with dilation 2 (effective 3x3), VALID: 3x3
     * out; y00 = x00 + 2 x02 + 3 x20 + 4 x22 = 1 + 6 + 33 + 52 = 92, and
     * each step right adds 1+2+3+4 = 10, each step down 50. */
    const float e2[9] = {92, 102, 112, 142, 152, 162, 192, 202, 212};
    conv_expect(5, 5, 1, x, 2, 2, 1, w2, NULL,
                (eq_conv2d_params){1, 1, 2, 2, EQ_PAD_VALID, EQ_ACT_NONE}, 3, 3, e2);
}
END_TEST

START_TEST(conv_hand_channels_bias_relu)
{
    /* 1x1 conv, 2 pixels, Cin 2 -> Cout 2: y = x W + b, then relu.
     * pixel [1,2]: [1+6, 2+8] + [0.5, -20] = [7.5, -10] -> [7.5, 0]
     * pixel [-3,1]: [-3+3, -6+4] + b = [0.5, -22] -> [0.5, 0] */
    const float x[4] = {1, 2, -3, 1}, w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -20};
    const float e[4] = {7.5f, 0, 0.5f, 0};
    conv_expect(1, 2, 2, x, 1, 1, 2, w, b,
                (eq_conv2d_params){1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_RELU}, 1, 2, e);
    /* relu6 clips: b = [0.5, 20] gives [7.5, 30] -> [6, 6] and
     * [0.5, 18] -> [0.5, 6] */
    const float b6[2] = {0.5f, 20}, e6[4] = {6, 6, 0.5f, 6};
    conv_expect(1, 2, 2, x, 1, 1, 2, w, b6,
                (eq_conv2d_params){1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_RELU6}, 1, 2, e6);
}
END_TEST

/* ---- 1x1 path, fused epilogue, determinism ---------------------------- */

START_TEST(conv_1x1_is_one_gemm_without_scratch)
{
    eq_arena *a = eq_arena_new(0);
    int64_t xs[4] = {2, 7, 9, 24}, wsh[4] = {1, 1, 24, 19}, ys[4];
    eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh);
    eq_conv2d_params p = {1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE};
    ck_assert_int_eq(eq_conv2d_shape(x, w, NULL, &p, ys, NULL), EQ_OK);
    eq_tensor *y = tnew(a, 4, ys);
    eq_workspace ws = {0};
    ck_assert_int_eq(eq_conv2d(x, w, NULL, &p, y, &ws, NULL), EQ_OK);
    /* no im2col: the workspace was never touched */
    ck_assert_ptr_null(ws.data);
    ck_assert_uint_eq(ws.size, 0);
    /* and it is exactly the GEMM of the input as an [M, Cin] matrix: with
     * the engine's kernel, the GEMM on the packed filter (so reading the
     * filter as it is gives the same bits as packing it), else BLIS's */
    eq_tensor *g = tnew(a, 4, ys);
    if (eq_gemm_packed_enabled()) {
        float *wp = malloc(eq_packed_floats(24, 19) * sizeof *wp);
        eq_pack_b(eq_tensor_f32(w), 19, 24, 19, wp);
        eq_gemm_packed(1, 2 * 7 * 9, 19, 24, eq_tensor_f32(x), 24, wp, NULL, EQ_ACT_NONE,
                       eq_tensor_f32(g), 19);
        free(wp);
    } else {
        eq_sgemm(0, 0, 2 * 7 * 9, 19, 24, 1.0f, eq_tensor_f32(x), 24, eq_tensor_f32(w), 19,
                 0.0f, eq_tensor_f32(g), 19);
    }
    ck_assert_int_eq(memcmp(y->data, g->data, eq_tensor_nbytes(y)), 0);
    double *ref = malloc(sizeof(double) * (size_t)eq_tensor_numel(y));
    double *sa = malloc(sizeof(double) * (size_t)eq_tensor_numel(y));
    ref_conv(x, w, NULL, &p, ys, ref, sa);
    check_close(y, ref, sa, 24, "1x1");
    /* with a bias and an activation: the same GEMM and an epilogue pass,
     * still no scratch */
    eq_blas_set_threads(2);
    int64_t xbs[4] = {2, 35, 35, 16}, wbs[4] = {1, 1, 16, 24}, bbs[1] = {24}, ybs[4];
    eq_tensor *xb = trand(a, 4, xbs), *wb = trand(a, 4, wbs), *bb = trand(a, 1, bbs);
    eq_conv2d_params pb = {1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_RELU};
    ck_assert_int_eq(eq_conv2d_shape(xb, wb, bb, &pb, ybs, NULL), EQ_OK);
    eq_tensor *yb = tnew(a, 4, ybs);
    ck_assert_int_eq(eq_conv2d(xb, wb, bb, &pb, yb, &ws, NULL), EQ_OK);
    /* 2450 rows: enough tiles reuse the filter that the engine's kernel
     * gets it packed for the call, the only thing in the workspace */
    if (eq_gemm_packed_enabled())
        ck_assert_uint_eq(ws.size, eq_packed_floats(16, 24) * sizeof(float));
    else
        ck_assert_ptr_null(ws.data);
    double *refb = malloc(sizeof(double) * (size_t)eq_tensor_numel(yb));
    double *sab = malloc(sizeof(double) * (size_t)eq_tensor_numel(yb));
    ref_conv(xb, wb, bb, &pb, ybs, refb, sab);
    check_close(yb, refb, sab, 16, "1x1 with bias and relu");
    free(refb);
    free(sab);
    /* a 1x1 with stride 2 is not a plain GEMM: it goes through im2col */
    eq_conv2d_params p2 = {2, 2, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE};
    ck_assert_int_eq(eq_conv2d_shape(x, w, NULL, &p2, ys, NULL), EQ_OK);
    eq_tensor *y2 = tnew(a, 4, ys);
    ck_assert_int_eq(eq_conv2d(x, w, NULL, &p2, y2, &ws, NULL), EQ_OK);
    ck_assert_ptr_nonnull(ws.data);
    ref_conv(x, w, NULL, &p2, ys, ref, sa);
    check_close(y2, ref, sa, 24, "1x1 stride 2");
    free(ref);
    free(sa);
    eq_workspace_release(&ws);
    eq_arena_free(a);
}
END_TEST

START_TEST(conv_fused_equals_separate_ops)
{
    eq_blas_set_threads(2);
    const int64_t ks[][2] = {{1, 1}, {3, 3}};
    for (int ki = 0; ki < 2; ki++)
        for (int act = EQ_ACT_NONE; act <= EQ_ACT_TANH; act++) {
            eq_arena *a = eq_arena_new(0);
            /* 2*29*27 = 1566 output rows: the 3x3 runs in split mode */
            int64_t xs[4] = {2, 29, 27, 12}, wsh[4] = {ks[ki][0], ks[ki][1], 12, 21};
            int64_t bs[1] = {21}, ys[4];
            eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh), *b = trand(a, 1, bs);
            eq_conv2d_params fused = {1, 1, 1, 1, EQ_PAD_SAME, (eq_activation)act};
            eq_conv2d_params plain = {1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE};
            ck_assert_int_eq(eq_conv2d_shape(x, w, b, &fused, ys, NULL), EQ_OK);
            eq_tensor *y1 = tnew(a, 4, ys), *y2 = tnew(a, 4, ys);
            eq_workspace ws = {0};
            ck_assert_int_eq(eq_conv2d(x, w, b, &fused, y1, &ws, NULL), EQ_OK);
            ck_assert_int_eq(eq_conv2d(x, w, NULL, &plain, y2, &ws, NULL), EQ_OK);
            ck_assert_int_eq(eq_bias_add(y2, b, y2, NULL), EQ_OK);
            /* The separate activation is the kernel library's own, as a
             * graph with fusion off runs it. */
            ck_assert_int_eq(eq_activate(y2, (eq_activation)act, y2, NULL), EQ_OK);
            ck_assert_msg(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)) == 0,
                          "kernel %lldx%lld act %s: fused differs from separate ops",
                          (long long)ks[ki][0], (long long)ks[ki][1],
                          eq_activation_name((eq_activation)act));
            eq_workspace_release(&ws);
            eq_arena_free(a);
        }
}
END_TEST

/* A residual input: conv, bias, + r, activation in one call equals the
 * separate ops bit for bit, on every path (1x1, split, shared); a residual
 * of the wrong shape is refused. */
START_TEST(conv_residual_equals_separate_add)
{
    eq_blas_set_threads(2);
    const conv_case cases[] = {
        {1, 17, 17, 24, 1, 1, 40, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU},  /* 1x1 */
        {2, 29, 27, 12, 3, 3, 21, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU6}, /* split */
        {1, 8, 8, 16, 3, 3, 20, 1, 1, EQ_PAD_SAME, 0, EQ_ACT_TANH},    /* shared */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        eq_arena *a = eq_arena_new(0);
        int64_t xs[4] = {c->n, c->h, c->w, c->cin}, wsh[4] = {c->kh, c->kw, c->cin, c->cout};
        int64_t bs[1] = {c->cout}, ys[4];
        eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh), *b = trand(a, 1, bs);
        eq_tensor *bias = c->bias ? b : NULL;
        eq_conv2d_params p = {1, 1, 1, 1, c->pad, c->act};
        eq_conv2d_params plain = {1, 1, 1, 1, c->pad, EQ_ACT_NONE};
        ck_assert_int_eq(eq_conv2d_shape(x, w, bias, &p, ys, NULL), EQ_OK);
        eq_tensor *r = trand(a, 4, ys), *y1 = tnew(a, 4, ys), *y2 = tnew(a, 4, ys);
        eq_workspace ws = {0};
        eq_error err;
        ck_assert_msg(eq_conv2d_prepacked(x, w, NULL, bias, r, &p, y1, &ws, &err) == EQ_OK,
                      "%s", err.message);
        ck_assert_int_eq(eq_conv2d(x, w, bias, &plain, y2, &ws, NULL), EQ_OK);
        ck_assert_int_eq(eq_add(y2, r, y2, NULL), EQ_OK);
        ck_assert_int_eq(eq_activate(y2, c->act, y2, NULL), EQ_OK);
        ck_assert_msg(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)) == 0,
                      "case %zu: fused residual differs from separate ops", ci);
        int64_t bad[4] = {ys[0], ys[1], ys[2], ys[3] + 1};
        eq_tensor *rb = tnew(a, 4, bad);
        ck_assert_int_eq(eq_conv2d_prepacked(x, w, NULL, bias, rb, &p, y1, &ws, &err),
                         EQ_ERR_SHAPE);
        ck_assert_ptr_nonnull(strstr(err.message, "residual"));
        eq_workspace_release(&ws);
        eq_arena_free(a);
    }
}
END_TEST

/* Graph mode's conv on a filter packed beforehand gives eager mode's bytes
 * (the filter read as it is, or packed for the call when many row tiles
 * reuse it), on every path. */
START_TEST(conv_prepacked_equals_unpacked)
{
    eq_blas_set_threads(2);
    const conv_case cases[] = {
        {1, 17, 17, 24, 1, 1, 40, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU},  /* 1x1, filter as is */
        {4, 17, 17, 24, 1, 1, 40, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU},  /* 1x1, packed here */
        {1, 15, 15, 12, 3, 3, 21, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU6}, /* split, as is */
        {2, 29, 27, 12, 3, 3, 21, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU6}, /* split, packed */
        {1, 8, 8, 16, 3, 3, 70, 2, 1, EQ_PAD_VALID, 0, EQ_ACT_NONE},   /* shared */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        eq_arena *a = eq_arena_new(0);
        int64_t xs[4] = {c->n, c->h, c->w, c->cin}, wsh[4] = {c->kh, c->kw, c->cin, c->cout};
        int64_t bs[1] = {c->cout}, ys[4];
        eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh), *b = trand(a, 1, bs);
        eq_conv2d_params p = {c->stride, c->stride, 1, 1, c->pad, c->act};
        ck_assert_int_eq(eq_conv2d_shape(x, w, c->bias ? b : NULL, &p, ys, NULL), EQ_OK);
        eq_tensor *y1 = tnew(a, 4, ys), *y2 = tnew(a, 4, ys), *y3 = tnew(a, 4, ys);
        int64_t k = c->kh * c->kw * c->cin;
        float *wp = malloc(eq_packed_floats(k, c->cout) * sizeof *wp);
        eq_pack_b(eq_tensor_f32(w), c->cout, k, c->cout, wp);
        ck_assert_int_eq(eq_conv2d(x, w, c->bias ? b : NULL, &p, y1, NULL, NULL), EQ_OK);
        ck_assert_int_eq(
            eq_conv2d_prepacked(x, w, wp, c->bias ? b : NULL, NULL, &p, y2, NULL, NULL), EQ_OK);
        ck_assert_msg(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)) == 0,
                      "case %zu: prepacked differs", ci);
        /* a workspace too small for a packed copy: read as is, same bytes
         * (the engine's kernel only: BLIS's sums depend on the chunking) */
        if (eq_gemm_packed_enabled()) {
            eq_workspace tight = {NULL, 0, (size_t)k * sizeof(float) * 4};
            ck_assert_int_eq(eq_conv2d(x, w, c->bias ? b : NULL, &p, y3, &tight, NULL), EQ_OK);
            ck_assert_msg(memcmp(y1->data, y3->data, eq_tensor_nbytes(y1)) == 0,
                          "case %zu: tight workspace differs", ci);
            eq_workspace_release(&tight);
        }
        free(wp);
        eq_arena_free(a);
    }
}
END_TEST

/* Same conv twice at 2 threads: identical bytes. Shapes big enough that
 * BLIS splits its loops (and our loops run in parallel), one per path. */
START_TEST(conv_deterministic_at_2_threads)
{
    eq_blas_set_threads(2);
    const conv_case cases[] = {
        {1, 35, 35, 64, 3, 3, 96, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU},   /* split */
        {1, 8, 8, 256, 3, 3, 256, 1, 1, EQ_PAD_SAME, 0, EQ_ACT_NONE},   /* shared */
        {1, 17, 17, 384, 1, 1, 512, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_NONE}, /* 1x1 */
        {2, 35, 35, 128, 1, 1, 320, 1, 1, EQ_PAD_SAME, 1, EQ_ACT_RELU}, /* 1x1 + bias */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        eq_arena *a = eq_arena_new(0);
        int64_t xs[4] = {c->n, c->h, c->w, c->cin},
                wsh[4] = {c->kh, c->kw, c->cin, c->cout};
        int64_t bs[1] = {c->cout}, ys[4];
        eq_tensor *x = trand(a, 4, xs), *w = trand(a, 4, wsh), *b = trand(a, 1, bs);
        eq_conv2d_params p = {c->stride, c->stride, 1, 1, c->pad, c->act};
        ck_assert_int_eq(eq_conv2d_shape(x, w, c->bias ? b : NULL, &p, ys, NULL), EQ_OK);
        eq_tensor *y1 = tnew(a, 4, ys), *y2 = tnew(a, 4, ys);
        eq_workspace ws1 = {0}, ws2 = {0};
        ck_assert_int_eq(eq_conv2d(x, w, c->bias ? b : NULL, &p, y1, &ws1, NULL), EQ_OK);
        memset(y2->data, 0xff, eq_tensor_nbytes(y2));
        ck_assert_int_eq(eq_conv2d(x, w, c->bias ? b : NULL, &p, y2, &ws2, NULL), EQ_OK);
        ck_assert_msg(memcmp(y1->data, y2->data, eq_tensor_nbytes(y1)) == 0,
                      "case %zu differs between two runs", ci);
        eq_workspace_release(&ws1);
        eq_workspace_release(&ws2);
        eq_arena_free(a);
    }
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

typedef struct err_fixture {
    eq_arena *a;
    eq_tensor *x, *w, *b;
    eq_conv2d_params p;
} err_fixture;

static err_fixture fixture(void)
{
    err_fixture f;
    f.a = eq_arena_new(0);
    int64_t xs[4] = {1, 8, 8, 3}, wsh[4] = {3, 3, 3, 8}, bs[1] = {8};
    f.x = trand(f.a, 4, xs);
    f.w = trand(f.a, 4, wsh);
    f.b = trand(f.a, 1, bs);
    f.p = (eq_conv2d_params){1, 1, 1, 1, EQ_PAD_SAME, EQ_ACT_NONE};
    return f;
}

/* Both entry points must refuse, with the same status and a message that
 * contains every fragment. */
static void expect_error(const eq_tensor *x, const eq_tensor *w, const eq_tensor *b,
                         const eq_conv2d_params *p, eq_status want, const char *frag1,
                         const char *frag2)
{
    eq_error err;
    int64_t ys[4];
    eq_error_clear(&err);
    ck_assert_int_eq(eq_conv2d_shape(x, w, b, p, ys, &err), want);
    ck_assert_msg(strstr(err.message, "conv2d") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, frag1) != NULL, "'%s' lacks '%s'", err.message,
                  frag1);
    ck_assert_msg(!frag2 || strstr(err.message, frag2) != NULL, "'%s' lacks '%s'",
                  err.message, frag2);
    int64_t os[4] = {1, 1, 1, 1};
    float one = 0;
    eq_tensor y;
    eq_tensor_view(&y, EQ_F32, 4, os, &one, NULL);
    eq_error_clear(&err);
    ck_assert_int_eq(eq_conv2d(x, w, b, p, &y, NULL, &err), want);
    ck_assert_msg(strstr(err.message, frag1) != NULL, "'%s' lacks '%s'", err.message,
                  frag1);
    /* a NULL err still gets the status */
    ck_assert_int_eq(eq_conv2d_shape(x, w, b, p, ys, NULL), want);
}

START_TEST(conv_error_channels_mismatch)
{
    err_fixture f = fixture();
    int64_t wsh[4] = {3, 3, 4, 8};
    eq_tensor *w = trand(f.a, 4, wsh);
    eq_error err;
    int64_t ys[4];
    ck_assert_int_eq(eq_conv2d_shape(f.x, w, NULL, &f.p, ys, &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message,
                     "conv2d: input [1, 8, 8, 3] has 3 channels but filter [3, 3, 4, 8] "
                     "expects 4");
    expect_error(f.x, w, NULL, &f.p, EQ_ERR_SHAPE, "[1, 8, 8, 3]", "[3, 3, 4, 8]");
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_rank)
{
    err_fixture f = fixture();
    int64_t x3s[3] = {8, 8, 3}, w3s[3] = {3, 3, 3};
    eq_tensor *x3t = trand(f.a, 3, x3s), *w3t = trand(f.a, 3, w3s);
    expect_error(x3t, f.w, NULL, &f.p, EQ_ERR_SHAPE, "input [8, 8, 3] must have rank 4",
                 "[3, 3, 3, 8]");
    expect_error(f.x, w3t, NULL, &f.p, EQ_ERR_SHAPE, "filter [3, 3, 3] must have rank 4",
                 "[1, 8, 8, 3]");
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_bias)
{
    err_fixture f = fixture();
    int64_t b5[1] = {5}, b2[2] = {1, 8};
    expect_error(f.x, f.w, trand(f.a, 1, b5), &f.p, EQ_ERR_SHAPE, "bias [5] must be [8]",
                 "[3, 3, 3, 8]");
    expect_error(f.x, f.w, trand(f.a, 2, b2), &f.p, EQ_ERR_SHAPE, "bias [1, 8]", NULL);
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_empty)
{
    err_fixture f = fixture();
    /* VALID with a kernel larger than the input: no output */
    int64_t big[4] = {9, 3, 3, 8};
    f.p.padding = EQ_PAD_VALID;
    expect_error(f.x, trand(f.a, 4, big), NULL, &f.p, EQ_ERR_SHAPE, "empty output",
                 "[9, 3, 3, 8]");
    /* an empty batch, no channels, no output channels */
    int64_t x0[4] = {0, 8, 8, 3}, w0[4] = {3, 3, 3, 0}, xc0[4] = {1, 8, 8, 0},
            wc0[4] = {3, 3, 0, 8};
    f.p.padding = EQ_PAD_SAME;
    expect_error(trand(f.a, 4, x0), f.w, NULL, &f.p, EQ_ERR_SHAPE, "[0, 8, 8, 3]", "empty");
    expect_error(f.x, trand(f.a, 4, w0), NULL, &f.p, EQ_ERR_SHAPE, "[3, 3, 3, 0]", "empty");
    expect_error(trand(f.a, 4, xc0), trand(f.a, 4, wc0), NULL, &f.p, EQ_ERR_SHAPE,
                 "[1, 8, 8, 0]", "empty");
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_float64)
{
    err_fixture f = fixture();
    eq_error err;
    eq_tensor *x64 = eq_tensor_convert(f.a, f.x, EQ_F64, &err);
    eq_tensor *w64 = eq_tensor_convert(f.a, f.w, EQ_F64, &err);
    eq_tensor *b64 = eq_tensor_convert(f.a, f.b, EQ_F64, &err);
    expect_error(x64, f.w, NULL, &f.p, EQ_ERR_UNSUPPORTED, "input [1, 8, 8, 3] is float64",
                 "float32 only");
    expect_error(f.x, w64, NULL, &f.p, EQ_ERR_UNSUPPORTED, "filter [3, 3, 3, 8] is float64",
                 NULL);
    expect_error(f.x, f.w, b64, &f.p, EQ_ERR_UNSUPPORTED, "bias [8] is float64", NULL);
    /* a float64 output */
    int64_t ys[4] = {1, 8, 8, 8};
    eq_tensor *y64 = eq_tensor_new(f.a, EQ_F64, 4, ys, &err);
    ck_assert_int_eq(eq_conv2d(f.x, f.w, NULL, &f.p, y64, NULL, &err), EQ_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "output [1, 8, 8, 8] is float64"));
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_params)
{
    err_fixture f = fixture();
    eq_conv2d_params p = f.p;
    p.stride_w = 0;
    expect_error(f.x, f.w, NULL, &p, EQ_ERR_INVALID, "strides (1, 0)", "[1, 8, 8, 3]");
    p = f.p;
    p.dilation_h = -1;
    expect_error(f.x, f.w, NULL, &p, EQ_ERR_INVALID, "dilations (-1, 1)", NULL);
    p = f.p;
    p.padding = (eq_padding)7;
    expect_error(f.x, f.w, NULL, &p, EQ_ERR_INVALID, "padding 7", NULL);
    p = f.p;
    p.activation = (eq_activation)42;
    expect_error(f.x, f.w, NULL, &p, EQ_ERR_INVALID, "activation 42", NULL);
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_output_shape)
{
    err_fixture f = fixture();
    int64_t bad[4] = {1, 8, 8, 7};
    eq_tensor *y = tnew(f.a, 4, bad);
    eq_error err;
    ck_assert_int_eq(eq_conv2d(f.x, f.w, NULL, &f.p, y, NULL, &err), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message, "conv2d: output [1, 8, 8, 7] should be [1, 8, 8, 8] for "
                                  "input [1, 8, 8, 3] and filter [3, 3, 3, 8]");
    eq_arena_free(f.a);
}
END_TEST

/* Graph mode may keep a filter only packed (its folded weights dropped);
 * with the kernel switched off since, the conv refuses instead of reading
 * a NULL filter. */
START_TEST(conv_error_filter_only_packed_without_kernel)
{
    err_fixture f = fixture();
    int64_t ys[4] = {1, 8, 8, 8};
    eq_tensor *y = tnew(f.a, 4, ys);
    float wp[27 * 32] = {0};
    eq_tensor w = *f.w;
    w.data = NULL;
    int was = eq_gemm_packed_set_enabled(0);
    eq_error err;
    ck_assert_int_eq(eq_conv2d_prepacked(f.x, &w, wp, NULL, NULL, &f.p, y, NULL, &err),
                     EQ_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "only packed"));
    eq_gemm_packed_set_enabled(was);
    eq_arena_free(f.a);
}
END_TEST

START_TEST(conv_error_workspace_limit_and_nomem)
{
    err_fixture f = fixture();
    int64_t ys[4] = {1, 8, 8, 8};
    eq_tensor *y = tnew(f.a, 4, ys);
    eq_error err;
    /* one im2col row is 3*3*3 floats = 108 bytes */
    eq_workspace ws = {NULL, 0, 100};
    ck_assert_int_eq(eq_conv2d(f.x, f.w, NULL, &f.p, y, &ws, &err), EQ_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "conv2d: input [1, 8, 8, 3] with filter "
                                              "[3, 3, 3, 8]"));
    ck_assert_ptr_nonnull(strstr(err.message, "limit of 100 bytes"));
    ws.limit = 108;
    ck_assert_int_eq(eq_conv2d(f.x, f.w, NULL, &f.p, y, &ws, &err), EQ_OK);
    eq_workspace_release(&ws);
    /* out of memory for the scratch: an error, nothing written, no leak */
    eq_workspace ws2 = {0};
    eq_alloc_fail_after(1, 1);
    eq_status st = eq_conv2d(f.x, f.w, NULL, &f.p, y, &ws2, &err);
    eq_alloc_fail_after(0, 0);
    ck_assert_int_eq(st, EQ_ERR_NOMEM);
    ck_assert_ptr_null(ws2.data);
    st = eq_conv2d(f.x, f.w, NULL, &f.p, y, NULL, &err); /* local scratch freed */
    ck_assert_int_eq(st, EQ_OK);
    eq_arena_free(f.a);
}
END_TEST

static void use_blis(void) { eq_gemm_packed_set_enabled(0); }
static void use_packed(void) { eq_gemm_packed_set_enabled(1); }

/* The same tests under one kernel path; `setup` picks it in each test's
 * process (checked fixtures run after the fork). */
static void add_tcases(Suite *s, const char *const names[4], void (*setup)(void))
{
    TCase *t = tcase_create(names[0]);
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, conv_random_shapes_1_thread);
    tcase_add_test(t, conv_random_shapes_2_threads);
    tcase_add_test(t, conv_chunked_and_split);
    suite_add_tcase(s, t);
    t = tcase_create(names[1]);
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, conv_hand_3x3_input_2x2_kernel_valid);
    tcase_add_test(t, conv_hand_same_pads_bottom_right);
    tcase_add_test(t, conv_hand_same_stride2_even_size);
    tcase_add_test(t, conv_hand_stride2_valid_and_dilation);
    tcase_add_test(t, conv_hand_channels_bias_relu);
    suite_add_tcase(s, t);
    t = tcase_create(names[2]);
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, conv_1x1_is_one_gemm_without_scratch);
    tcase_add_test(t, conv_fused_equals_separate_ops);
    tcase_add_test(t, conv_residual_equals_separate_add);
    tcase_add_test(t, conv_prepacked_equals_unpacked);
    tcase_add_test(t, conv_deterministic_at_2_threads);
    suite_add_tcase(s, t);
    t = tcase_create(names[3]);
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, conv_error_channels_mismatch);
    tcase_add_test(t, conv_error_rank);
    tcase_add_test(t, conv_error_bias);
    tcase_add_test(t, conv_error_empty);
    tcase_add_test(t, conv_error_float64);
    tcase_add_test(t, conv_error_params);
    tcase_add_test(t, conv_error_output_shape);
    tcase_add_test(t, conv_error_workspace_limit_and_nomem);
    tcase_add_test(t, conv_error_filter_only_packed_without_kernel);
    suite_add_tcase(s, t);
}

static Suite *conv_suite(void)
{
    Suite *s = suite_create("conv");
    static const char *const packed[4] = {"reference/packed", "hand/packed",
                                          "paths/packed", "errors/packed"};
    static const char *const blis[4] = {"reference/blis", "hand/blis", "paths/blis",
                                        "errors/blis"};
    add_tcases(s, packed, use_packed);
    add_tcases(s, blis, use_blis);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
