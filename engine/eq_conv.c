/* eq_conv.c - conv2d as GEMM: y[M, Cout] = patches[M, K] * w[K, Cout] with
 * M = N*Ho*Wo output pixels and K = kh*kw*Cin, which is exactly the HWIO
 * filter read as a row-major [K, Cout] matrix.
 *
 * Two paths:
 *  - 1x1, stride 1: the NHWC input already is the [M, Cin] patch matrix, so
 *    the conv is one GEMM on it, no copy;
 *  - everything else: im2col into the workspace, a chunk of output rows at a
 *    time, each chunk followed by its GEMM and its epilogue while the rows
 *    are still in cache.
 * Both paths compute every output element as one BLIS dot product over the
 * whole K in the same order whatever the chunking, and the epilogue
 * (bias, activation) is the shared eq_epilogue_apply, so y equals conv, then
 * bias_add, then the activation, bit for bit. */
#include <string.h>

#include "eq_blas.h"
#include "eq_epilogue.h"
#include "eq_ops.h"

/* Bytes of im2col panel per chunk. A chunk's panel, its slice of y and the
 * packed filter should stay in the 2 MiB L2 of a core; the bench measured
 * this (bench/README.md). */
#define EQ_CONV_CHUNK_BYTES ((size_t)1 << 20)

typedef struct conv_geom {
    int64_t n, h, w, cin;      /* input */
    int64_t kh, kw, cout;      /* filter */
    int64_t ho, wo;            /* output */
    int64_t pad_top, pad_left; /* TF's split: the odd pixel goes after */
    int64_t sh, sw, dh, dw;
    int64_t m, k;              /* GEMM: M = n*ho*wo rows, K = kh*kw*cin */
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
                            p->stride_h, p->stride_w, p->dilation_h, p->dilation_w, sx,
                            sw);
    if (p->padding != EQ_PAD_SAME && p->padding != EQ_PAD_VALID)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "conv2d: padding %d is neither SAME nor VALID", (int)p->padding);
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
    if (st != EQ_OK)
        return eq_error_prefix(err, "conv2d: input %s with filter %s gives an empty "
                                    "output: ",
                               sx, sw);
    if ((st = check_f32("input", x, err)) != EQ_OK ||
        (st = check_f32("filter", w, err)) != EQ_OK ||
        (bias && (st = check_f32("bias", bias, err)) != EQ_OK))
        return st;
    g->m = g->n * g->ho * g->wo;
    g->k = g->kh * g->kw * g->cin;
    return EQ_OK;
}

eq_status eq_conv2d_shape(const eq_tensor *x, const eq_tensor *w,
                          const eq_tensor *bias, const eq_conv2d_params *p,
                          int64_t out_shape[4], eq_error *err)
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

/* One patch row: the kh*kw*cin inputs under output pixel `row`, zeros where
 * the window hangs over the padding. */
static void im2col_row(const conv_geom *g, const float *x, int64_t row, float *dst)
{
    int64_t per_img = g->ho * g->wo;
    int64_t n = row / per_img, r = row % per_img;
    int64_t h0 = (r / g->wo) * g->sh - g->pad_top;
    int64_t w0 = (r % g->wo) * g->sw - g->pad_left;
    int64_t cin = g->cin, run = g->kw * cin;
    const float *img = x + n * g->h * g->w * cin;
    for (int64_t i = 0; i < g->kh; i++, dst += run) {
        int64_t h = h0 + i * g->dh;
        if (h < 0 || h >= g->h) {
            memset(dst, 0, (size_t)run * sizeof *dst);
            continue;
        }
        const float *src = img + h * g->w * cin;
        if (g->dw == 1) {
            /* The in-bounds part of a filter row is one contiguous run of
             * the NHWC input. */
            int64_t jlo = w0 < 0 ? -w0 : 0;
            int64_t jhi = g->w - w0 < g->kw ? g->w - w0 : g->kw;
            if (jhi < jlo)
                jhi = jlo;
            if (jlo > 0)
                memset(dst, 0, (size_t)(jlo * cin) * sizeof *dst);
            memcpy(dst + jlo * cin, src + (w0 + jlo) * cin,
                   (size_t)((jhi - jlo) * cin) * sizeof *dst);
            if (jhi < g->kw)
                memset(dst + jhi * cin, 0, (size_t)((g->kw - jhi) * cin) * sizeof *dst);
        } else {
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t wc = w0 + j * g->dw;
                if (wc < 0 || wc >= g->w)
                    memset(dst + j * cin, 0, (size_t)cin * sizeof *dst);
                else
                    memcpy(dst + j * cin, src + wc * cin, (size_t)cin * sizeof *dst);
            }
        }
    }
}

eq_status eq_conv2d(const eq_tensor *x, const eq_tensor *w, const eq_tensor *bias,
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
    const float *xd = eq_tensor_f32(x), *wd = eq_tensor_f32(w);
    const float *bd = bias ? eq_tensor_f32(bias) : NULL;
    float *yd = eq_tensor_f32(y);
    int threads = eq_blas_threads();

    if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1) {
        eq_sgemm(0, 0, g.m, g.cout, g.k, 1.0f, xd, g.k, wd, g.cout, 0.0f, yd, g.cout);
        eq_epilogue_apply(yd, yd, g.m, g.cout, bd, p->activation, threads);
        return EQ_OK;
    }

    eq_workspace local = {0};
    eq_workspace *scratch = ws ? ws : &local;
    size_t limit = scratch->limit ? scratch->limit : (size_t)64 << 20;
    size_t row_bytes = (size_t)g.k * sizeof(float);
    size_t target = EQ_CONV_CHUNK_BYTES < limit ? EQ_CONV_CHUNK_BYTES : limit;
    int64_t rows = (int64_t)(target / row_bytes);
    if (rows < 1)
        rows = 1;
    if (rows > g.m)
        rows = g.m;
    st = eq_workspace_reserve(scratch, (size_t)rows * row_bytes, err);
    if (st != EQ_OK) {
        char sx[128], sw[128];
        eq_error_prefix(err, "conv2d: input %s with filter %s: ",
                        shape_of(x, sx, sizeof sx), shape_of(w, sw, sizeof sw));
        if (scratch == &local)
            eq_workspace_release(&local);
        return st;
    }
    float *panel = scratch->data;
    for (int64_t m0 = 0; m0 < g.m; m0 += rows) {
        int64_t mc = g.m - m0 < rows ? g.m - m0 : rows;
        int nt = mc * g.k >= ((int64_t)1 << 14) ? threads : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int64_t r = 0; r < mc; r++)
            im2col_row(&g, xd, m0 + r, panel + r * g.k);
        float *yc = yd + m0 * g.cout;
        eq_sgemm(0, 0, mc, g.cout, g.k, 1.0f, panel, g.k, wd, g.cout, 0.0f, yc, g.cout);
        eq_epilogue_apply(yc, yc, mc, g.cout, bd, p->activation, threads);
    }
    if (scratch == &local)
        eq_workspace_release(&local);
    return EQ_OK;
}
