/* bench_conv.c - eq_conv2d on Inception-ResNet-v2 layer shapes against
 * BLIS's own sgemm on a GEMM of the same M, N, K, interleaved in one run.
 *
 *   bench/bench_conv [--reps N] [--threads N] [--batch N] [--small]
 *
 * --small times GEMMs with few rows of C instead (dense layers at batch
 * 1..8): eq_sgemm, which has its own loop up to 4 rows, against bli_sgemm.
 *
 * Each conv is timed with its real epilogue (relu, or bias for the 1x1
 * up-projections), twice: as eager mode runs it (eq_conv2d, which packs the
 * filter on every call when the packed kernel is on) and as graph mode does
 * (eq_conv2d_prepacked on a filter packed beforehand). The sgemm peer
 * multiplies contiguous row-major A[M,K] * B[K,N] into C[M,N]: the rate a
 * conv would reach if lowering cost nothing. Buffers are allocated and touched once, one warm-up run of each
 * comes first, then conv and sgemm alternate (timings drift over minutes
 * here, so only interleaved ratios are meaningful); medians are printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>

#include "eq.h"
#include "eq_alloc.h"
#include "eq_gemm_packed.h"

typedef struct layer {
    const char *name;
    int h, w, cin, kh, kw, cout, stride;
    eq_padding pad;
    int bias;
    eq_activation act;
} layer;

static const layer layers[] = {
    {"Conv2d_1a_3x3", 299, 299, 3, 3, 3, 32, 2, EQ_PAD_VALID, 0, EQ_ACT_RELU},
    {"Conv2d_2b_3x3", 147, 147, 32, 3, 3, 64, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
    {"Conv2d_4a_3x3", 73, 73, 80, 3, 3, 192, 1, EQ_PAD_VALID, 0, EQ_ACT_RELU},
    {"block35 0c_3x3", 35, 35, 48, 3, 3, 64, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
    {"block35 1x1 up", 35, 35, 128, 1, 1, 320, 1, EQ_PAD_SAME, 1, EQ_ACT_NONE},
    {"Mixed_6a 1a_3x3", 35, 35, 320, 3, 3, 384, 2, EQ_PAD_VALID, 0, EQ_ACT_RELU},
    {"block17 0b_1x7", 17, 17, 128, 1, 7, 160, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
    {"block17 0c_7x1", 17, 17, 160, 7, 1, 192, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
    {"block17 1x1 up", 17, 17, 384, 1, 1, 1088, 1, EQ_PAD_SAME, 1, EQ_ACT_NONE},
    {"block8 0b_1x3", 8, 8, 192, 1, 3, 224, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
    {"Conv2d_7b_1x1", 8, 8, 2080, 1, 1, 1536, 1, EQ_PAD_SAME, 0, EQ_ACT_RELU},
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill(float *p, size_t n, unsigned *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (float)(*state >> 8) / 16777216.0f - 0.5f;
    }
}

static float *alloc_filled(size_t n, unsigned *state)
{
    float *p = eq_aligned_alloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    fill(p, n, state);
    return p;
}

static double time_sgemm(int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                         float *c)
{
    double t = now();
    eq_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    return now() - t;
}

/* eq_sgemm against bli_sgemm (same threads) on shapes with few rows. */
static void bench_small(int reps, double *ta, double *tb)
{
    static const int64_t shapes[][3] = {{1, 784, 256},   {1, 256, 10},    {4, 784, 256},
                                        {8, 784, 256},   {1, 1536, 1000}, {4, 1536, 1000},
                                        {8, 1536, 1000}, {1, 2080, 1536}};
    unsigned seed = 777;
    printf("%-22s %12s %12s %7s\n", "GEMM [m,k]x[k,n]", "eq_sgemm us", "bli_sgemm us",
           "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *a = alloc_filled((size_t)(m * k), &seed);
        float *b = alloc_filled((size_t)(k * n), &seed);
        float *c = alloc_filled((size_t)(m * n), &seed);
        float one = 1.0f, zero = 0.0f;
        for (int r = -1; r < reps; r++) {
            double t = now();
            eq_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            double t1 = now();
            bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k,
                      &one, a, (inc_t)k, 1, b, (inc_t)n, 1, &zero, c, (inc_t)n, 1);
            double t2 = now();
            if (r >= 0) {
                ta[r] = t1 - t;
                tb[r] = t2 - t1;
            }
        }
        double ma = median(ta, reps), mb = median(tb, reps);
        char name[64];
        snprintf(name, sizeof name, "[%lld,%lld]x[%lld,%lld]", (long long)m, (long long)k,
                 (long long)k, (long long)n);
        printf("%-22s %12.1f %12.1f %6.2fx\n", name, ma * 1e6, mb * 1e6, mb / ma);
        eq_aligned_free(a);
        eq_aligned_free(b);
        eq_aligned_free(c);
    }
}

int main(int argc, char **argv)
{
    int reps = 7, threads = 0, small = 0;
    int64_t batch = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--small"))
            small = 1;
        else {
            fprintf(stderr, "usage: %s [--reps N] [--threads N] [--batch N] [--small]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || batch < 1) {
        fprintf(stderr, "bench_conv: reps must be 1..1000 and batch >= 1\n");
        return 2;
    }
    eq_error err;
    if (eq_blas_init(threads, &err) != EQ_OK) {
        fprintf(stderr, "bench_conv: %s\n", err.message);
        return 1;
    }
    const eq_blas_info *info = eq_blas_info_get();
    printf("BLIS kernel set: %s (arch_t %d, from %s); threads: %d; cpu: %s\n", info->arch,
           info->arch_id, info->source, info->threads, info->cpu_features);
    printf("batch %lld, median of %d interleaved runs after one warm-up\n\n",
           (long long)batch, reps);

    double *tc = malloc(sizeof(double) * (size_t)reps);
    double *tg = malloc(sizeof(double) * (size_t)reps);
    double *tp = malloc(sizeof(double) * (size_t)reps);
    if (!tc || !tg || !tp) {
        fprintf(stderr, "bench_conv: out of memory\n");
        return 1;
    }
    if (small) {
        free(tp);
        bench_small(reps, tc, tg);
        free(tc);
        free(tg);
        return 0;
    }
    unsigned seed = 12345;

    /* The machine's sgemm peak, for scale. */
    {
        int64_t n = 2048;
        float *a = alloc_filled((size_t)(n * n), &seed);
        float *b = alloc_filled((size_t)(n * n), &seed);
        float *c = alloc_filled((size_t)(n * n), &seed);
        time_sgemm(n, n, n, a, b, c);
        for (int r = 0; r < reps; r++)
            tg[r] = time_sgemm(n, n, n, a, b, c);
        double t = median(tg, reps);
        printf("sgemm 2048^3 peak: %.2f ms, %.1f GFLOP/s\n\n", t * 1e3,
               2.0 * n * n * n / t * 1e-9);
        eq_aligned_free(a);
        eq_aligned_free(b);
        eq_aligned_free(c);
    }

    printf("conv GEMM: %s\n\n", eq_gemm_packed_enabled() ? "packed (engine's AVX-512 kernel)"
                                                          : "BLIS");
    printf("%-16s %-28s %6s %6s %6s %9s %9s %9s %9s %10s %6s\n", "layer",
           "shape (HxW Cin->Cout)", "M", "N", "K", "eager ms", "eager GF/s", "graph ms",
           "graph GF/s", "sgemm GF/s", "ratio");
    eq_workspace ws = {0};
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; li++) {
        const layer *L = &layers[li];
        eq_conv2d_params p = {L->stride, L->stride, 1, 1, L->pad, L->act};
        int64_t xs[4] = {batch, L->h, L->w, L->cin};
        int64_t wsh[4] = {L->kh, L->kw, L->cin, L->cout};
        int64_t bs[1] = {L->cout};
        eq_tensor x, w, b, y;
        eq_tensor_view(&x, EQ_F32, 4, xs,
                       alloc_filled((size_t)eq_shape_numel(4, xs), &seed), NULL);
        eq_tensor_view(&w, EQ_F32, 4, wsh,
                       alloc_filled((size_t)eq_shape_numel(4, wsh), &seed), NULL);
        eq_tensor_view(&b, EQ_F32, 1, bs, alloc_filled((size_t)L->cout, &seed), NULL);
        int64_t ys[4];
        if (eq_conv2d_shape(&x, &w, L->bias ? &b : NULL, &p, ys, &err) != EQ_OK) {
            fprintf(stderr, "bench_conv: %s: %s\n", L->name, err.message);
            return 1;
        }
        eq_tensor_view(&y, EQ_F32, 4, ys,
                       alloc_filled((size_t)eq_shape_numel(4, ys), &seed), NULL);
        int64_t m = ys[0] * ys[1] * ys[2], n = L->cout, k = (int64_t)L->kh * L->kw * L->cin;
        float *ga = alloc_filled((size_t)(m * k), &seed);
        float *gc = alloc_filled((size_t)(m * n), &seed);
        double flop = 2.0 * (double)m * (double)n * (double)k;
        float *wp = NULL; /* the filter packed once, as graph mode keeps it */
        if (eq_gemm_packed_enabled()) {
            wp = eq_aligned_alloc(eq_packed_floats(k, n) * sizeof *wp);
            if (!wp) {
                fprintf(stderr, "bench_conv: out of memory\n");
                return 1;
            }
            eq_pack_b(w.data, n, k, n, wp);
        }

        if (eq_conv2d(&x, &w, L->bias ? &b : NULL, &p, &y, &ws, &err) != EQ_OK) {
            fprintf(stderr, "bench_conv: %s: %s\n", L->name, err.message);
            return 1;
        }
        time_sgemm(m, n, k, ga, w.data, gc);
        eq_conv2d_prepacked(&x, &w, wp, L->bias ? &b : NULL, NULL, &p, &y, &ws, NULL);
        for (int r = 0; r < reps; r++) {
            double t = now();
            eq_conv2d(&x, &w, L->bias ? &b : NULL, &p, &y, &ws, NULL);
            tc[r] = now() - t;
            t = now();
            eq_conv2d_prepacked(&x, &w, wp, L->bias ? &b : NULL, NULL, &p, &y, &ws, NULL);
            tp[r] = now() - t;
            tg[r] = time_sgemm(m, n, k, ga, w.data, gc);
        }
        double c_med = median(tc, reps), p_med = median(tp, reps), g_med = median(tg, reps);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%d %dx%d/%d %s %d->%d%s", L->h, L->w, L->kh,
                 L->kw, L->stride, eq_padding_name(L->pad), L->cin, L->cout,
                 L->bias ? " +b" : "");
        printf("%-16s %-28s %6lld %6lld %6lld %9.3f %9.1f %9.3f %9.1f %10.1f %5.0f%%\n",
               L->name, shape, (long long)m, (long long)n, (long long)k, c_med * 1e3,
               flop / c_med * 1e-9, p_med * 1e3, flop / p_med * 1e-9, flop / g_med * 1e-9,
               100.0 * g_med / p_med);
        fflush(stdout);
        eq_aligned_free(x.data);
        eq_aligned_free(w.data);
        eq_aligned_free(b.data);
        eq_aligned_free(y.data);
        eq_aligned_free(ga);
        eq_aligned_free(gc);
        eq_aligned_free(wp);
    }
    eq_workspace_release(&ws);
    free(tc);
    free(tg);
    free(tp);
    return 0;
}
