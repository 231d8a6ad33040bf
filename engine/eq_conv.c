/* eq_conv.c - conv2d as GEMM: y[M, Cout] = patches[M, K] * w[K, Cout] with
 * M = N*Ho*Wo output pixels and K = kh*kw*Cin, which is exactly the HWIO
 * filter read as a row-major [K, Cout] matrix.
 *
 * The GEMM: on a CPU with AVX-512 the engine's own kernel
 * (eq_gemm_packed.c), on the filter packed into column panels once per
 * graph by graph mode (eq_conv2d_prepacked), or on the filter as it is in
 * eager mode (the same sums in the same order, so the same bits); elsewhere
 * (or with EQ_GEMM=blis) BLIS's sgemm and a separate epilogue pass.
 *
 * Paths:
 *  - 1x1, stride 1: the NHWC input already is the [M, Cin] patch matrix, so
 *    the conv is one GEMM on it (all threads), no copy;
 *  - everything else is lowered with im2col into the workspace, a chunk of
 *    output rows at a time, each chunk followed by its GEMM and its epilogue
 *    while its rows are still in cache. With enough rows per thread
 *    ("split" mode) every thread runs that pipeline on its own contiguous
 *    share of the rows with a private panel and a one-thread GEMM: no
 *    barrier between the steps and each panel stays in its core's L2. This
 *    beat sharing every step between the threads on all the IRv2 shapes
 *    measured. Few rows (8x8 maps) would leave the threads idle, so there
 *    every step is shared (the GEMM then splits along Cout).
 * The epilogue (bias, activation) computes the formulas of eq_epilogue.h,
 * so y equals conv, then bias_add, then the activation, bit for bit. For a
 * fixed thread count and workspace limit the chunking is fixed, so runs
 * are identical (with the packed kernel, whatever the chunking). */
#include <omp.h>
#include <string.h>

#include "eq_blas.h"
#include "eq_epilogue.h"
#include "eq_gemm_packed.h"
#include "eq_ops.h"

/* Bytes of im2col panel plus output per chunk and thread: both should stay
 * in one core's L2 (2 MiB here, with the packed filter) from the im2col
 * through the GEMM to the epilogue. At least EQ_CONV_MIN_ROWS rows though:
 * every chunk's GEMM packs the whole filter again, which fewer rows do not
 * repay. (Measured with bench/bench_conv: sizing by panel + output instead
 * of panel alone saved 8% on the 3-channel stem, whose output is larger
 * than its panel; 91-row chunks cost 25% on Mixed_6a; 1-2 MiB were within
 * noise of each other.) */
#define EQ_CONV_CHUNK_BYTES ((size_t)3 << 19)
#define EQ_CONV_MIN_ROWS 512
/* Eager mode packs a filter for the call from this many output rows (the
 * number of row tiles reusing it): below, reading it in place was faster
 * (IRv2 batch 1), above, packing it (batch 8). */
#define EQ_CONV_PACK_MIN_ROWS 1024
/* Split mode when every thread gets at least this many output rows. */
#define EQ_CONV_SPLIT_MIN_ROWS 64

typedef struct conv_geom {
    int64_t n, h, w, cin;      /* input */
    int64_t kh, kw, cout;      /* filter */
    int64_t ho, wo;            /* output */
    int64_t pad_top, pad_left; /* TF's split: the odd pixel goes after */
    int64_t sh, sw, dh, dw;
    int64_t m, k; /* GEMM: M = n*ho*wo rows, K = kh*kw*cin */
} conv_geom;

static const char *shape_of(const eq_tensor *t, char *buf, size_t n)
{
    return eq_shape_str(t->rank, t->shape, buf, n);
}

static eq_status check_f32(const char *what, const eq_tensor *t, eq_error *err)
{
    if (t->dtype != EQ_F32) {
        char s[128];
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "conv2d: %s %s is %s; conv2d supports float32 only", what,
                            shape_of(t, s, sizeof s), eq_dtype_name(t->dtype));
    }
    return EQ_OK;
}

static eq_status conv_geometry(const eq_tensor *x, const eq_tensor *w,
                               const eq_tensor *bias, const eq_conv2d_params *p,
                               conv_geom *g, eq_error *err)
{
    EQ_ASSERT(x && w && p && g);
    char sx[128], sw[128], sb[128];
    shape_of(x, sx, sizeof sx);
    shape_of(w, sw, sizeof sw);
    if (x->rank != 4)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "conv2d: input %s must have rank 4 [N, H, W, Cin], got "
                            "rank %d (filter %s)",
                            sx, x->rank, sw);
    if (w->rank != 4)
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "conv2d: filter %s must have rank 4 [kh, kw, Cin, Cout], "
                            "got rank %d (input %s)",
                            sw, w->rank, sx);
    if (x->shape[3] != w->shape[2])
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "conv2d: input %s has %lld channels but filter %s expects "
                            "%lld",
                            sx, (long long)x->shape[3], sw, (long long)w->shape[2]);
    if (bias && (bias->rank != 1 || bias->shape[0] != w->shape[3]))
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "conv2d: bias %s must be [%lld], the output channels of "
                            "filter %s",
                            shape_of(bias, sb, sizeof sb), (long long)w->shape[3], sw);
    if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "conv2d: strides (%d, %d) and dilations (%d, %d) must be "
                            ">= 1 (input %s, filter %s)",
                            p->stride_h, p->stride_w, p->dilation_h, p->dilation_w, sx, sw);
    if (p->padding != EQ_PAD_SAME && p->padding != EQ_PAD_VALID)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "conv2d: padding %d is neither SAME nor VALID",
                            (int)p->padding);
    if (!eq_activation_valid(p->activation))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "conv2d: activation %d is not an eq_activation",
                            (int)p->activation);
    for (int i = 0; i < 4; i++)
        if (x->shape[i] == 0 || w->shape[i] == 0)
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "conv2d: input %s with filter %s is empty; every "
                                "dimension must be >= 1",
                                sx, sw);
    g->n = x->shape[0];
    g->h = x->shape[1];
    g->w = x->shape[2];
    g->cin = x->shape[3];
    g->kh = w->shape[0];
    g->kw = w->shape[1];
    g->cout = w->shape[3];
    g->sh = p->stride_h;
    g->sw = p->stride_w;
    g->dh = p->dilation_h;
    g->dw = p->dilation_w;
    int64_t pad_after;
    eq_status st = eq_conv_out_dim(g->h, g->kh, p->stride_h, p->dilation_h, p->padding,
                                   &g->ho, &g->pad_top, &pad_after, err);
    if (st == EQ_OK)
        st = eq_conv_out_dim(g->w, g->kw, p->stride_w, p->dilation_w, p->padding, &g->wo,
                             &g->pad_left, &pad_after, err);
    if (st != EQ_OK) {
        /* not `return eq_error_prefix(...)`: with err NULL that is EQ_OK */
        eq_error_prefix(err, "conv2d: input %s with filter %s gives an empty output: ", sx,
                        sw);
        return st;
    }
    if ((st = check_f32("input", x, err)) != EQ_OK ||
        (st = check_f32("filter", w, err)) != EQ_OK ||
        (bias && (st = check_f32("bias", bias, err)) != EQ_OK))
        return st;
    g->m = g->n * g->ho * g->wo;
    g->k = g->kh * g->kw * g->cin;
    return EQ_OK;
}

eq_status eq_conv2d_shape(const eq_tensor *x, const eq_tensor *w, const eq_tensor *bias,
                          const eq_conv2d_params *p, int64_t out_shape[4], eq_error *err)
{
    conv_geom g;
    eq_status st = conv_geometry(x, w, bias, p, &g, err);
    if (st != EQ_OK)
        return st;
    out_shape[0] = g.n;
    out_shape[1] = g.ho;
    out_shape[2] = g.wo;
    out_shape[3] = g.cout;
    return EQ_OK;
}

/* im2col copies many short runs (kw*Cin floats: 9 for the stem conv), where
 * a libc memcpy call costs more than the copy; GCC turns a plain loop back
 * into that call, so short runs go through fixed-size moves. */
static inline void copy_floats(float *d, const float *s, int64_t n)
{
    if (n >= 64) {
        memcpy(d, s, (size_t)n * sizeof *d);
        return;
    }
    for (; n >= 16; n -= 16, d += 16, s += 16)
        memcpy(d, s, 16 * sizeof *d);
    if (n >= 8) {
        memcpy(d, s, 8 * sizeof *d);
        n -= 8, d += 8, s += 8;
    }
    if (n >= 4) {
        memcpy(d, s, 4 * sizeof *d);
        n -= 4, d += 4, s += 4;
    }
    if (n >= 2) {
        memcpy(d, s, 2 * sizeof *d);
        n -= 2, d += 2, s += 2;
    }
    if (n)
        *d = *s;
}

static inline void zero_floats(float *d, int64_t n)
{
    if (n >= 64) {
        memset(d, 0, (size_t)n * sizeof *d);
        return;
    }
    for (; n >= 4; n -= 4, d += 4)
        memset(d, 0, 4 * sizeof *d);
    for (; n > 0; n--)
        *d++ = 0.0f;
}

/* The taps of filter row i under output pixel ow (whose window starts at
 * input column w0) into d: kw*cin floats, zeros over the padding. */
static inline void im2col_taps(const conv_geom *g, const float *src, int64_t w0, float *d)
{
    int64_t cin = g->cin;
    if (g->dw == 1) {
        /* The in-bounds taps are one contiguous run of the NHWC row. */
        int64_t jlo = w0 < 0 ? -w0 : 0;
        int64_t jhi = g->w - w0 < g->kw ? g->w - w0 : g->kw;
        if (jhi < jlo)
            jhi = jlo;
        if (jlo > 0)
            zero_floats(d, jlo * cin);
        copy_floats(d + jlo * cin, src + (w0 + jlo) * cin, (jhi - jlo) * cin);
        if (jhi < g->kw)
            zero_floats(d + jhi * cin, (g->kw - jhi) * cin);
        return;
    }
    for (int64_t j = 0; j < g->kw; j++) {
        int64_t wc = w0 + j * g->dw;
        if (wc < 0 || wc >= g->w)
            zero_floats(d + j * cin, cin);
        else
            copy_floats(d + j * cin, src + wc * cin, cin);
    }
}

static void im2col_row_edges(const conv_geom *g, const float *img, int64_t h0, int64_t w0,
                             float *d, const float *dst_end, const float *x_end);

/* Patch rows [r0, r1) into dst, row r at dst + (r - r0) * K: the
 * kh*kw*cin inputs under each output pixel. Pixels are walked in order, a
 * stretch of an output row at a time: divisions happen once per call and
 * bounds once per stretch, so pixels whose window lies inside the input
 * cost a pointer step and kh copies (this loop is most of the im2col cost
 * of the 3-channel stem, where a patch row is only 27 floats). All writes
 * go to increasing addresses, which allows the short-run trick below. */
EQ_TARGET_CLONES
static void im2col_rows(const conv_geom *g, const float *x, int64_t r0, int64_t r1,
                        float *dst)
{
    int64_t per_img = g->ho * g->wo;
    int64_t n = r0 / per_img, rem = r0 % per_img;
    int64_t oh = rem / g->wo, ow = rem % g->wo;
    int64_t cin = g->cin, run = g->kw * cin, k = g->k;
    int64_t img_stride = g->h * g->w * cin, row_stride = g->w * cin;
    int64_t eff_kw = (g->kw - 1) * g->dw + 1;
    const float *x_end = x + g->n * img_stride;
    const float *dst_end = dst + (r1 - r0) * k;
    /* A short run (kw*cin <= 64 floats: 9 for the stem) is copied in whole
     * 16-float blocks, one AVX-512 move each, instead of an exact copy of
     * several moves and branches. The excess lands on addresses this call
     * writes later (writes only move forward), so it is overwritten; a
     * block that would pass the end of this call's panel (memory another
     * thread owns) or of x takes the exact copy instead. */
    int64_t wide = (run + 15) / 16 * 16;
    int use_wide = run <= 64;
    int64_t last = (g->kh - 1) * g->dh;
    /* Output columns whose window lies inside the input's width:
     * ow * sw - pad_left >= 0 and ow * sw - pad_left + eff_kw <= w. */
    int64_t ow_in_lo = (g->pad_left + g->sw - 1) / g->sw;
    int64_t ow_in_hi = g->w - eff_kw + g->pad_left >= 0
                           ? (g->w - eff_kw + g->pad_left) / g->sw + 1
                           : 0; /* exclusive */
    float *d = dst;
    for (int64_t r = r0; r < r1;) {
        /* one stretch of an output row: [ow, ow + seg) */
        int64_t seg = g->wo - ow < r1 - r ? g->wo - ow : r1 - r;
        const float *img = x + n * img_stride;
        int64_t h0 = oh * g->sh - g->pad_top;
        /* [lo, hi): pixels whose whole window is inside the input, where
         * (dw == 1) each filter row is one contiguous run */
        int64_t lo = ow, hi = ow;
        if (g->dw == 1 && h0 >= 0 && h0 + last < g->h) {
            lo = ow > ow_in_lo ? ow : ow_in_lo;
            hi = ow + seg < ow_in_hi ? ow + seg : ow_in_hi;
            if (hi < lo)
                lo = hi = ow;
        }
        for (int64_t c = ow; c < lo; c++, d += k)
            im2col_row_edges(g, img, h0, c * g->sw - g->pad_left, d, dst_end, x_end);
        const float *s0 = NULL;
        if (lo < hi)
            s0 = img + h0 * row_stride + (lo * g->sw - g->pad_left) * cin;
        int64_t c = lo;
        for (; c < hi; c++, d += k, s0 += g->sw * cin) {
            /* the common case: a pointer walk and kh run copies */
            if (use_wide && (d + (g->kh - 1) * run + wide > dst_end ||
                             s0 + last * row_stride + wide > x_end))
                break;
            float *dd = d;
            for (int64_t i = 0; i < g->kh; i++, dd += run) {
                const float *s = s0 + i * g->dh * row_stride;
                if (use_wide) {
                    for (int64_t j = 0; j < wide; j += 16)
                        memcpy(dd + j, s + j, 16 * sizeof *dd);
                } else {
                    copy_floats(dd, s, run);
                }
            }
        }
        for (; c < ow + seg; c++, d += k)
            im2col_row_edges(g, img, h0, c * g->sw - g->pad_left, d, dst_end, x_end);
        r += seg;
        ow += seg;
        if (ow == g->wo) {
            ow = 0;
            if (++oh == g->ho) {
                oh = 0;
                n++;
            }
        }
    }
}

/* One patch row anywhere: runs over the padding, near the ends of the
 * panel or of x. */
static void im2col_row_edges(const conv_geom *g, const float *img, int64_t h0, int64_t w0,
                             float *d, const float *dst_end, const float *x_end)
{
    int64_t cin = g->cin, run = g->kw * cin, row_stride = g->w * cin;
    int interior = g->dw == 1 && w0 >= 0 && w0 + (g->kw - 1) * g->dw + 1 <= g->w;
    int64_t wide = (run + 15) / 16 * 16;
    int use_wide = run <= 64;
    for (int64_t i = 0; i < g->kh; i++, d += run) {
        int64_t h = h0 + i * g->dh;
        if (h < 0 || h >= g->h) {
            zero_floats(d, run);
            continue;
        }
        const float *src = img + h * row_stride;
        if (!interior) {
            im2col_taps(g, src, w0, d);
            continue;
        }
        const float *s = src + w0 * cin;
        if (use_wide && d + wide <= dst_end && s + wide <= x_end) {
            for (int64_t j = 0; j < wide; j += 16)
                memcpy(d + j, s + j, 16 * sizeof *d);
        } else {
            copy_floats(d, s, run);
        }
    }
}

/* im2col of rows [m0, m0 + mc) split in contiguous blocks over the threads
 * (a copy, so the split cannot change any value). */
static void im2col_chunk(const conv_geom *g, const float *x, int64_t m0, int64_t mc,
                         float *panel, int threads)
{
    int nt = mc * g->k >= ((int64_t)1 << 14) && threads > 1 ? threads : 1;
    if (nt > mc)
        nt = (int)mc;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = nt > 1 ? omp_get_thread_num() : 0;
        int tn = nt > 1 ? omp_get_num_threads() : 1;
        int64_t lo = mc * t / tn, hi = mc * (t + 1) / tn;
        im2col_rows(g, x, m0 + lo, m0 + hi, panel + lo * g->k);
    }
}

/* Rows of im2col panel per chunk for each of `lanes` private panels,
 * within the workspace limit; 0 when not even one row fits. */
static int64_t chunk_rows(const conv_geom *g, int lanes, size_t limit)
{
    size_t row_bytes = (size_t)g->k * sizeof(float);
    size_t out_bytes = (size_t)g->cout * sizeof(float);
    int64_t rows = (int64_t)(EQ_CONV_CHUNK_BYTES / (row_bytes + out_bytes));
    if (rows < EQ_CONV_MIN_ROWS)
        rows = EQ_CONV_MIN_ROWS;
    int64_t share = (g->m + lanes - 1) / lanes;
    if (rows > share)
        rows = share;
    int64_t fit = (int64_t)(limit / ((size_t)lanes * row_bytes));
    if (rows > fit)
        rows = fit;
    if (rows < 1)
        return 0;
    /* equal chunks rather than full ones and a small remainder, whose GEMM
     * would pack the filter again for little work */
    int64_t chunks = (share + rows - 1) / rows;
    return (share + chunks - 1) / chunks;
}

/* The filter as the GEMM sees it: w is HWIO read as [K, Cout]; wp is the
 * same filter packed for eq_gemm_packed, or NULL. */
typedef struct conv_filter {
    const float *w, *wp;
    int plain; /* no wp: the engine's kernel on w as it is */
} conv_filter;

/* y += r over n floats: the residual add of the BLIS path, element-wise
 * (so the split over threads changes nothing). */
EQ_TARGET_CLONES
static void add_rows(float *y, const float *r, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = y[i] + r[i];
}

/* y[rows, Cout] = act(a[rows, K] * w + bias + res) on `threads` threads;
 * res (NULL or [rows, Cout]) is added after the bias, as a separate add op
 * after a bias_add would. */
static void conv_gemm(const conv_geom *g, const float *a, int64_t rows, const conv_filter *f,
                      const float *bias, const float *res, eq_activation act, float *y,
                      int threads)
{
    if (f->wp) {
        eq_gemm_packed_residual(threads, rows, g->cout, g->k, a, g->k, f->wp, bias, res,
                                g->cout, act, y, g->cout);
        return;
    }
    if (f->plain) {
        eq_gemm_plain_residual(threads, rows, g->cout, g->k, a, g->k, f->w, g->cout, bias, res,
                               g->cout, act, y, g->cout);
        return;
    }
    if (threads > 1)
        eq_sgemm(0, 0, rows, g->cout, g->k, 1.0f, a, g->k, f->w, g->cout, 0.0f, y, g->cout);
    else
        eq_sgemm_threads(1, 0, 0, rows, g->cout, g->k, 1.0f, a, g->k, f->w, g->cout, 0.0f, y,
                         g->cout);
    if (!res) {
        eq_epilogue_apply(y, y, rows, g->cout, bias, act, threads);
        return;
    }
    eq_epilogue_apply(y, y, rows, g->cout, bias, EQ_ACT_NONE, threads);
    int64_t count = rows * g->cout;
    int nt = threads > 1 && count >= ((int64_t)1 << 15) ? threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = nt > 1 ? omp_get_thread_num() : 0, tn = nt > 1 ? omp_get_num_threads() : 1;
        int64_t lo = count * t / tn, hi = count * (t + 1) / tn;
        add_rows(y + lo, res + lo, hi - lo);
    }
    eq_epilogue_apply(y, y, rows, g->cout, NULL, act, threads);
}

/* Output rows [lo, hi) chunk by chunk: im2col, GEMM, epilogue, so each
 * chunk's panel and output are still in cache for the next step. threads
 * is how many threads each step may use (1 inside split mode). */
static void conv_rows(const conv_geom *g, const float *x, const conv_filter *f,
                      const float *bias, const float *res, eq_activation act, float *y,
                      int64_t lo, int64_t hi, int64_t rows, float *panel, int threads)
{
    for (int64_t m0 = lo; m0 < hi; m0 += rows) {
        int64_t mc = hi - m0 < rows ? hi - m0 : rows;
        if (threads > 1)
            im2col_chunk(g, x, m0, mc, panel, threads);
        else
            im2col_rows(g, x, m0, m0 + mc, panel);
        conv_gemm(g, panel, mc, f, bias, res ? res + m0 * g->cout : NULL, act,
                  y + m0 * g->cout, threads);
    }
}

eq_status eq_conv2d(const eq_tensor *x, const eq_tensor *w, const eq_tensor *bias,
                    const eq_conv2d_params *p, eq_tensor *y, eq_workspace *ws,
                    eq_error *err)
{
    return eq_conv2d_prepacked(x, w, NULL, bias, NULL, p, y, ws, err);
}

eq_status eq_conv2d_prepacked(const eq_tensor *x, const eq_tensor *w, const float *w_packed,
                              const eq_tensor *bias, const eq_tensor *residual,
                              const eq_conv2d_params *p, eq_tensor *y, eq_workspace *ws,
                              eq_error *err)
{
    EQ_ASSERT(y);
    conv_geom g;
    eq_status st = conv_geometry(x, w, bias, p, &g, err);
    if (st != EQ_OK)
        return st;
    int64_t os[4] = {g.n, g.ho, g.wo, g.cout};
    if ((st = check_f32("output", y, err)) != EQ_OK)
        return st;
    if (!eq_shape_equal(y->rank, y->shape, 4, os)) {
        char sy[128], se[128], sx[128], sw[128];
        return eq_error_set(err, EQ_ERR_SHAPE,
                            "conv2d: output %s should be %s for input %s and filter %s",
                            shape_of(y, sy, sizeof sy), eq_shape_str(4, os, se, sizeof se),
                            shape_of(x, sx, sizeof sx), shape_of(w, sw, sizeof sw));
    }
    if (residual) {
        if ((st = check_f32("residual", residual, err)) != EQ_OK)
            return st;
        if (!eq_shape_equal(residual->rank, residual->shape, 4, os)) {
            char sr[128], se[128];
            return eq_error_set(err, EQ_ERR_SHAPE,
                                "conv2d: residual %s must have the output's shape %s",
                                shape_of(residual, sr, sizeof sr),
                                eq_shape_str(4, os, se, sizeof se));
        }
        /* the first k block overwrites y before the last one reads r */
        EQ_ASSERT(residual->data != y->data);
    }
    const float *xd = eq_tensor_f32(x), *wd = eq_tensor_f32(w);
    const float *bd = bias ? eq_tensor_f32(bias) : NULL;
    const float *rd = residual ? eq_tensor_f32(residual) : NULL;
    float *yd = eq_tensor_f32(y);
    int threads = eq_blas_threads();

    /* The engine's kernel reads a filter packed beforehand (graph mode) or
     * the HWIO filter as it is (eager mode: packing on every call cost
     * more than the strided reads do); BLIS without AVX-512 or with
     * EQ_GEMM=blis. */
    int own = eq_gemm_packed_enabled();
    conv_filter f = {wd, own ? w_packed : NULL, own && !w_packed};
    if (!wd && !f.wp)
        return eq_error_set(err, EQ_ERR_STATE,
                            "conv2d: the filter exists only packed, and the packed kernel "
                            "has been switched off since");
    int direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1;

    /* Split mode (see the top of the file) needs enough rows per thread. */
    int lanes = !direct && threads > 1 && g.m / threads >= EQ_CONV_SPLIT_MIN_ROWS ? threads : 1;
    eq_workspace local = {0};
    eq_workspace *scratch = ws ? ws : &local;
    size_t limit = scratch->limit ? scratch->limit : (size_t)64 << 20;
    size_t row_bytes = (size_t)g.k * sizeof(float);
    /* Without a packed filter the kernel reads w as it is, unless many
     * row tiles will reuse it: then w is packed here first, at the start
     * of the workspace, when it fits beside one im2col row (same result
     * either way, so the limit only decides the speed). */
    size_t pack_bytes = 0;
    if (f.plain && g.m >= EQ_CONV_PACK_MIN_ROWS) {
        size_t bytes = eq_packed_floats(g.k, g.cout) * sizeof(float);
        if (bytes + row_bytes <= limit)
            pack_bytes = bytes;
    }
    int64_t rows = 0;
    size_t panel_bytes = 0;
    if (!direct) {
        rows = chunk_rows(&g, lanes, limit - pack_bytes);
        if (rows < 1 && lanes > 1) {
            lanes = 1;
            rows = chunk_rows(&g, lanes, limit - pack_bytes);
        }
        panel_bytes = (size_t)lanes * (size_t)(rows > 0 ? rows : 1) * row_bytes;
    }
    if (pack_bytes + panel_bytes > 0 &&
        (st = eq_workspace_reserve(scratch, pack_bytes + panel_bytes, err)) != EQ_OK) {
        char sx[128], sw[128];
        eq_error_prefix(err, "conv2d: input %s with filter %s: im2col: ",
                        shape_of(x, sx, sizeof sx), shape_of(w, sw, sizeof sw));
        if (scratch == &local)
            eq_workspace_release(&local);
        return st;
    }
    if (pack_bytes) {
        eq_pack_b_threads(threads, wd, g.cout, g.k, g.cout, scratch->data);
        f.wp = scratch->data;
        f.plain = 0;
    }

    if (direct) {
        /* 1x1, stride 1: the input is the patch matrix */
        conv_gemm(&g, xd, g.m, &f, bd, rd, p->activation, yd, threads);
    } else {
        float *panel = (float *)((char *)scratch->data + pack_bytes);
        if (lanes > 1) {
#pragma omp parallel num_threads(lanes)
            {
                int t = omp_get_thread_num(), tn = omp_get_num_threads();
                int64_t lo = g.m * t / tn, hi = g.m * (t + 1) / tn;
                conv_rows(&g, xd, &f, bd, rd, p->activation, yd, lo, hi, rows,
                          panel + (size_t)t * (size_t)rows * (size_t)g.k, 1);
            }
        } else {
            conv_rows(&g, xd, &f, bd, rd, p->activation, yd, 0, g.m, rows, panel, threads);
        }
    }
    if (scratch == &local)
        eq_workspace_release(&local);
    return EQ_OK;
}
