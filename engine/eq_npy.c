/* eq_npy.c - .npy reader and writer (see eq_npy.h). */
#include "eq_npy.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eq_npy writes '<f4'/'<f8' from memory as it is: little-endian hosts only"
#endif

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define ALIGN 64
#define GROWTH_AXIS_DIGITS 21 /* numpy's GROWTH_AXIS_MAX_DIGITS */

/* ---- writing ---- */

eq_status eq_npy_header(const eq_tensor *t, unsigned char *buf, size_t cap,
                        size_t *len, eq_error *err)
{
    *len = 0;
    if (t->dtype != EQ_F32 && t->dtype != EQ_F64)
        return eq_error_set(err, EQ_ERR_UNSUPPORTED, "npy: unknown dtype code %d",
                            (int)t->dtype);
    eq_status st = eq_shape_check(t->rank, t->shape, "npy", err);
    if (st != EQ_OK)
        return st;

    /* The dict as Python's repr writes it, keys sorted. */
    char text[EQ_NPY_HEADER_MAX];
    int n = snprintf(text, sizeof text, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     t->dtype == EQ_F64 ? "<f8" : "<f4");
    for (int i = 0; i < t->rank; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, i ? ", %lld" : "%lld",
                      (long long)t->shape[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, t->rank == 1 ? ",), }" : "), }");
    if (t->rank > 0) {
        int first = snprintf(NULL, 0, "%lld", (long long)t->shape[0]);
        for (int i = first; i < GROWTH_AXIS_DIGITS; i++)
            text[n++] = ' ';
    }
    size_t hlen = (size_t)n + 1; /* + '\n' */
    size_t pad = ALIGN - (MAGIC_LEN + 2 + 2 + hlen) % ALIGN;
    size_t total = MAGIC_LEN + 2 + 2 + hlen + pad;
    EQ_ASSERT(total <= EQ_NPY_HEADER_MAX); /* rank <= 6, dims < 2^40 */
    if (cap < total)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "npy: header needs %zu bytes, buffer has %zu", total, cap);
    memcpy(buf, MAGIC, MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    size_t text_len = hlen + pad; /* HLEN counts the padding and '\n' */
    buf[8] = (unsigned char)(text_len & 0xff);
    buf[9] = (unsigned char)(text_len >> 8);
    memcpy(buf + 10, text, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[total - 1] = '\n';
    *len = total;
    return EQ_OK;
}

eq_status eq_npy_write_mem(const eq_tensor *t, unsigned char **out,
                           size_t *out_len, eq_error *err)
{
    *out = NULL;
    *out_len = 0;
    unsigned char hdr[EQ_NPY_HEADER_MAX];
    size_t hl;
    eq_status st = eq_npy_header(t, hdr, sizeof hdr, &hl, err);
    if (st != EQ_OK)
        return st;
    size_t nb = eq_tensor_nbytes(t);
    unsigned char *buf = eq_malloc(hl + nb);
    if (!buf)
        return eq_error_set(err, EQ_ERR_NOMEM, "npy: out of memory for %zu bytes", hl + nb);
    memcpy(buf, hdr, hl);
    if (nb)
        memcpy(buf + hl, t->data, nb);
    *out = buf;
    *out_len = hl + nb;
    return EQ_OK;
}

eq_status eq_npy_write_file(const char *path, const eq_tensor *t, eq_error *err)
{
    unsigned char hdr[EQ_NPY_HEADER_MAX];
    size_t hl;
    eq_status st = eq_npy_header(t, hdr, sizeof hdr, &hl, err);
    if (st != EQ_OK)
        return st;
    eq_file_chunk chunks[2] = {{hdr, hl}, {t->data, eq_tensor_nbytes(t)}};
    return eq_file_write_atomic(path, chunks, 2, err);
}

/* ---- reading: a strict parser for the header dict ---- */

typedef struct hparse {
    const char *p, *end;
    const char *start; /* for positions in messages */
    eq_error *err;
} hparse;

static eq_status fail(hparse *h, const char *what)
{
    return eq_error_set(h->err, EQ_ERR_INVALID, "npy: header: %s at character %ld",
                        what, (long)(h->p - h->start));
}

static void skip_ws(hparse *h)
{
    while (h->p < h->end && *h->p == ' ')
        h->p++;
}

static int eat(hparse *h, char c)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out (cap bytes incl. NUL). */
static eq_status parse_str(hparse *h, char *out, size_t cap)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return fail(h, "expected a quoted string");
    char q = *h->p++;
    size_t n = 0;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || *h->p == '\n')
            return fail(h, "escapes and newlines are not allowed in strings");
        if (n + 1 >= cap)
            return fail(h, "string too long");
        out[n++] = *h->p++;
    }
    if (h->p >= h->end)
        return fail(h, "unterminated string");
    h->p++;
    out[n] = '\0';
    return EQ_OK;
}

/* A Python int literal >= 0 without leading zeros, up to 2^62. */
static eq_status parse_dim(hparse *h, int64_t *out)
{
    skip_ws(h);
    const char *s = h->p;
    int64_t v = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        if (v > ((int64_t)1 << 62) / 10)
            return fail(h, "dimension too large");
        v = v * 10 + (*h->p - '0');
        h->p++;
    }
    if (h->p == s)
        return fail(h, "expected a non-negative integer");
    if (*s == '0' && h->p - s > 1)
        return fail(h, "leading zeros in an integer");
    *out = v;
    return EQ_OK;
}

static eq_status parse_shape(hparse *h, int *rank, int64_t *shape)
{
    if (!eat(h, '('))
        return fail(h, "shape must be a tuple");
    int n = 0, trailing_comma = 0;
    if (!eat(h, ')')) {
        for (;;) {
            int64_t d = 0;
            eq_status st = parse_dim(h, &d);
            if (st != EQ_OK)
                return st;
            if (n == EQ_MAX_RANK)
                return eq_error_set(h->err, EQ_ERR_UNSUPPORTED,
                                    "npy: shape has more than %d dimensions", EQ_MAX_RANK);
            shape[n++] = d;
            trailing_comma = eat(h, ',');
            if (eat(h, ')'))
                break;
            if (!trailing_comma)
                return fail(h, "expected ',' or ')' in shape");
        }
        if (n == 1 && !trailing_comma)
            return fail(h, "a one-axis shape needs a trailing comma, like (5,)");
    }
    *rank = n;
    return EQ_OK;
}

static eq_status parse_word(hparse *h, int *value)
{
    skip_ws(h);
    size_t left = (size_t)(h->end - h->p);
    if (left >= 4 && memcmp(h->p, "True", 4) == 0) {
        h->p += 4;
        *value = 1;
        return EQ_OK;
    }
    if (left >= 5 && memcmp(h->p, "False", 5) == 0) {
        h->p += 5;
        *value = 0;
        return EQ_OK;
    }
    return fail(h, "fortran_order must be True or False");
}

typedef struct npy_header {
    eq_dtype dtype;
    int rank;
    int64_t shape[EQ_MAX_RANK];
} npy_header;

static eq_status parse_dict(hparse *h, npy_header *out)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    eq_status st;
    if (!eat(h, '{'))
        return fail(h, "expected '{'");
    while (!eat(h, '}')) {
        char key[32];
        if ((st = parse_str(h, key, sizeof key)) != EQ_OK)
            return st;
        if (!eat(h, ':'))
            return fail(h, "expected ':'");
        if (strcmp(key, "descr") == 0) {
            char descr[32];
            if (have_descr++)
                return fail(h, "'descr' appears twice");
            if ((st = parse_str(h, descr, sizeof descr)) != EQ_OK)
                return st;
            if (strcmp(descr, "<f4") == 0)
                out->dtype = EQ_F32;
            else if (strcmp(descr, "<f8") == 0)
                out->dtype = EQ_F64;
            else
                return eq_error_set(h->err, EQ_ERR_UNSUPPORTED,
                                    "npy: dtype '%s' is not supported (only '<f4' and '<f8')",
                                    descr);
        } else if (strcmp(key, "fortran_order") == 0) {
            int fo = 0;
            if (have_order++)
                return fail(h, "'fortran_order' appears twice");
            if ((st = parse_word(h, &fo)) != EQ_OK)
                return st;
            if (fo)
                return eq_error_set(h->err, EQ_ERR_UNSUPPORTED,
                                    "npy: fortran_order True is not supported (C order only)");
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                return fail(h, "'shape' appears twice");
            if ((st = parse_shape(h, &out->rank, out->shape)) != EQ_OK)
                return st;
        } else {
            return eq_error_set(h->err, EQ_ERR_INVALID,
                                "npy: header: unknown key '%s' (expected descr, "
                                "fortran_order, shape)",
                                key);
        }
        if (!eat(h, ',')) {
            if (!eat(h, '}'))
                return fail(h, "expected ',' or '}'");
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return eq_error_set(h->err, EQ_ERR_INVALID,
                            "npy: header: missing key '%s'",
                            !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    skip_ws(h);
    if (h->p != h->end)
        return fail(h, "only spaces may follow the dict");
    return EQ_OK;
}

/* Checks magic, version and header text; *data_off is where data begins. */
static eq_status parse_prefix(const unsigned char *buf, size_t len, npy_header *hdr,
                              size_t *data_off, eq_error *err)
{
    if (len < 10)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "npy: %zu bytes are too few for the magic and header length", len);
    if (memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return eq_error_set(err, EQ_ERR_INVALID, "npy: not a .npy file (bad magic)");
    size_t text_len, text_off;
    if (buf[6] == 1 && buf[7] == 0) {
        text_len = (size_t)buf[8] | (size_t)buf[9] << 8;
        text_off = 10;
    } else if (buf[6] == 2 && buf[7] == 0) {
        if (len < 12)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "npy: %zu bytes are too few for a version 2.0 header", len);
        text_len = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
                   (size_t)buf[11] << 24;
        text_off = 12;
    } else {
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "npy: version %u.%u is not supported (1.0 and 2.0 are)",
                            buf[6], buf[7]);
    }
    if (text_len > EQ_NPY_MAX_HEADER_TEXT)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "npy: header length %zu exceeds the limit of %d", text_len,
                            EQ_NPY_MAX_HEADER_TEXT);
    if (text_len > len - text_off)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "npy: header length %zu runs past the end of the file (%zu bytes)",
                            text_len, len);
    const char *text = (const char *)buf + text_off;
    if (text_len == 0 || text[text_len - 1] != '\n')
        return eq_error_set(err, EQ_ERR_INVALID, "npy: header does not end with a newline");
    hparse h = {text, text + text_len - 1, text, err};
    memset(hdr, 0, sizeof *hdr);
    eq_status st = parse_dict(&h, hdr);
    if (st != EQ_OK)
        return st;
    *data_off = text_off + text_len;
    return eq_shape_check(hdr->rank, hdr->shape, "npy", err);
}

static eq_status check_data_size(const npy_header *hdr, uint64_t have, eq_error *err)
{
    uint64_t need = (uint64_t)eq_shape_numel(hdr->rank, hdr->shape) * eq_dtype_size(hdr->dtype);
    if (have != need) {
        char s[160];
        return eq_error_set(err, EQ_ERR_INVALID,
                            "npy: %s %s needs %llu data bytes, the file has %llu",
                            eq_dtype_name(hdr->dtype), eq_shape_str(hdr->rank, hdr->shape, s, sizeof s),
                            (unsigned long long)need, (unsigned long long)have);
    }
    return EQ_OK;
}

eq_status eq_npy_read_mem(const void *buf, size_t len, eq_arena *arena,
                          eq_tensor **out, eq_error *err)
{
    *out = NULL;
    npy_header hdr;
    size_t off;
    eq_status st = parse_prefix(buf, len, &hdr, &off, err);
    if (st == EQ_OK)
        st = check_data_size(&hdr, len - off, err);
    if (st != EQ_OK)
        return st;
    eq_tensor *t = eq_tensor_new(arena, hdr.dtype, hdr.rank, hdr.shape, err);
    if (!t)
        return EQ_ERR_NOMEM; /* the shape was checked above */
    if (len > off)
        memcpy(t->data, (const unsigned char *)buf + off, len - off);
    *out = t;
    return EQ_OK;
}

eq_status eq_npy_read_file(const char *path, eq_arena *arena, eq_tensor **out,
                           eq_error *err)
{
    *out = NULL;
    int fd;
    uint64_t size;
    eq_status st = eq_file_open_read(path, &fd, &size, err);
    if (st != EQ_OK)
        return st;
    /* Enough for any header the reader accepts; the data is read into the
     * tensor directly. */
    enum { PREFIX_MAX = 12 + EQ_NPY_MAX_HEADER_TEXT };
    unsigned char *pre = eq_malloc(PREFIX_MAX);
    if (!pre) {
        eq_file_close(fd);
        return eq_error_set(err, EQ_ERR_NOMEM, "npy: out of memory reading '%s'", path);
    }
    size_t got = size < PREFIX_MAX ? (size_t)size : PREFIX_MAX;
    npy_header hdr;
    size_t off = 0;
    eq_tensor *t = NULL;
    st = eq_file_read_at(fd, 0, pre, got, path, err);
    if (st == EQ_OK) {
        /* parse_prefix sees a buffer of `got` bytes; a header claimed longer
         * than that fails the same way it would on the whole file. */
        st = parse_prefix(pre, got, &hdr, &off, err);
        if (st == EQ_OK)
            st = check_data_size(&hdr, size - off, err);
        if (st != EQ_OK)
            eq_error_prefix(err, "'%s': ", path);
    }
    if (st == EQ_OK) {
        t = eq_tensor_new(arena, hdr.dtype, hdr.rank, hdr.shape, err);
        if (!t)
            st = EQ_ERR_NOMEM;
    }
    if (st == EQ_OK && size > off)
        st = eq_file_read_at(fd, off, t->data, (size_t)(size - off), path, err);
    if (st == EQ_OK)
        *out = t;
    eq_free(pre);
    eq_file_close(fd);
    return st;
}
