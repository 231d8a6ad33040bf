/* eq_safetensors.c - safetensors reader and writer (see eq_safetensors.h). */
#include "eq_safetensors.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eq_alloc.h"
#include "eq_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eq_safetensors copies element bytes as they are: little-endian hosts only"
#endif

#define META_KEY "__metadata__"

/* ---- dtypes ---- */

typedef struct dtype_info {
    const char *name;
    unsigned size;
    int loaded;       /* 1: becomes an eq_tensor */
    eq_dtype dtype;
} dtype_info;

static const dtype_info dtypes[] = {
    {"F32", 4, 1, EQ_F32},  {"F64", 8, 1, EQ_F64},  {"BOOL", 1, 0, EQ_F32},
    {"U8", 1, 0, EQ_F32},   {"I8", 1, 0, EQ_F32},   {"F8_E5M2", 1, 0, EQ_F32},
    {"F8_E4M3", 1, 0, EQ_F32}, {"I16", 2, 0, EQ_F32}, {"U16", 2, 0, EQ_F32},
    {"F16", 2, 0, EQ_F32},  {"BF16", 2, 0, EQ_F32}, {"I32", 4, 0, EQ_F32},
    {"U32", 4, 0, EQ_F32},  {"I64", 8, 0, EQ_F32},  {"U64", 8, 0, EQ_F32},
};

static const dtype_info *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return &dtypes[i];
    return NULL;
}

/* ---- the reader's result ---- */

typedef struct slot {
    eq_safetensors_entry e;  /* first: entry_at hands out &slot->e */
    size_t order;            /* position in the header, for stable sorting */
    const dtype_info *dt;
} slot;

struct eq_safetensors {
    size_t n;
    slot *slots;             /* file order */
    const slot **by_name;    /* sorted by strcmp, for lookups */
    size_t n_skipped;
    size_t n_meta;
    eq_safetensors_meta *meta;
};

size_t eq_safetensors_count(const eq_safetensors *st) { return st->n; }

const eq_safetensors_entry *eq_safetensors_entry_at(const eq_safetensors *st,
                                                    size_t i)
{
    return i < st->n ? &st->slots[i].e : NULL;
}

size_t eq_safetensors_skipped(const eq_safetensors *st) { return st->n_skipped; }

static int by_name_key_cmp(const void *key, const void *elem)
{
    const slot *s = *(const slot *const *)elem;
    return strcmp((const char *)key, s->e.name);
}

const eq_safetensors_entry *eq_safetensors_find(const eq_safetensors *st,
                                                const char *name)
{
    const slot **hit = bsearch(name, st->by_name, st->n, sizeof *st->by_name,
                               by_name_key_cmp);
    return hit ? &(*hit)->e : NULL;
}

const eq_tensor *eq_safetensors_get(const eq_safetensors *st, const char *name)
{
    const eq_safetensors_entry *e = eq_safetensors_find(st, name);
    return e ? e->tensor : NULL;
}

size_t eq_safetensors_meta_count(const eq_safetensors *st) { return st->n_meta; }

const eq_safetensors_meta *eq_safetensors_meta_at(const eq_safetensors *st,
                                                  size_t i)
{
    return i < st->n_meta ? &st->meta[i] : NULL;
}

const char *eq_safetensors_meta_get(const eq_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

/* ---- header validation ---- */

static eq_status nomem(eq_error *err)
{
    return eq_error_set(err, EQ_ERR_NOMEM, "safetensors: out of memory");
}

static eq_status bad(eq_error *err, const char *name, const char *what)
{
    return eq_error_set(err, EQ_ERR_INVALID, "safetensors: entry '%s': %s", name, what);
}

/* A JSON integer >= 0 (jansson already refuses ones beyond int64). */
static int get_uint(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static eq_status parse_entry(const char *name, json_t *v, uint64_t data_len,
                             unsigned flags, slot *s, eq_error *err)
{
    if (!json_is_object(v))
        return bad(err, name, "is not an object");
    const char *key;
    json_t *field;
    json_object_foreach(v, key, field) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors: entry '%s' has an unknown field '%s' "
                                "(expected dtype, shape, data_offsets)",
                                name, key);
    }
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return bad(err, name, "\"dtype\" is missing or not a string");
    if (!json_is_array(js))
        return bad(err, name, "\"shape\" is missing or not an array");
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return bad(err, name, "\"data_offsets\" is missing or not an array of 2 integers");

    const dtype_info *dt = dtype_lookup(json_string_value(jd));
    if (!dt)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: entry '%s' has unknown dtype '%s'", name,
                            json_string_value(jd));
    if (!dt->loaded && (flags & EQ_SAFETENSORS_REJECT_UNSUPPORTED))
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "safetensors: entry '%s' has dtype %s; only F32 and F64 "
                            "can be loaded",
                            name, dt->name);

    size_t rank = json_array_size(js);
    if (rank > EQ_MAX_RANK)
        return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                            "safetensors: entry '%s' has rank %zu; at most %d is supported",
                            name, rank, EQ_MAX_RANK);
    s->e.rank = (int)rank;
    uint64_t bytes = dt->size;
    for (size_t i = 0; i < EQ_MAX_RANK; i++) {
        uint64_t d = 1;
        if (i < rank && !get_uint(json_array_get(js, i), &d))
            return bad(err, name, "\"shape\" must hold non-negative integers");
        s->e.shape[i] = (int64_t)d;
        if (i < rank && __builtin_mul_overflow(bytes, d, &bytes))
            return bad(err, name, "\"shape\" is too large");
    }

    uint64_t begin, end;
    if (!get_uint(json_array_get(jo, 0), &begin) || !get_uint(json_array_get(jo, 1), &end))
        return bad(err, name, "\"data_offsets\" must be 2 non-negative integers");
    if (end < begin)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: entry '%s': data_offsets [%llu, %llu] end before they begin",
                            name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: entry '%s': data_offsets [%llu, %llu] run past the "
                            "end of the data (%llu bytes)",
                            name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)data_len);
    if (end - begin != bytes) {
        char sh[160];
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: entry '%s': %s %s needs %llu bytes but "
                            "data_offsets [%llu, %llu] hold %llu",
                            name, dt->name, eq_shape_str(s->e.rank, s->e.shape, sh, sizeof sh),
                            (unsigned long long)bytes, (unsigned long long)begin,
                            (unsigned long long)end, (unsigned long long)(end - begin));
    }
    if (dt->loaded) {
        eq_status st = eq_shape_check(s->e.rank, s->e.shape, name, err);
        if (st != EQ_OK) {
            eq_error_prefix(err, "safetensors: entry ");
            return st;
        }
    }
    s->e.begin = begin;
    s->e.end = end;
    s->dt = dt;
    return EQ_OK;
}

static eq_status parse_meta(json_t *v, eq_arena *arena, eq_safetensors *st,
                            eq_error *err)
{
    if (!json_is_object(v))
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: \"" META_KEY "\" is not an object");
    st->n_meta = json_object_size(v);
    st->meta = eq_arena_alloc(arena, (st->n_meta ? st->n_meta : 1) * sizeof *st->meta);
    if (!st->meta)
        return nomem(err);
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_string(val))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors: \"" META_KEY "\" value of '%s' is not a string",
                                key);
        st->meta[i].key = eq_arena_strdup(arena, key);
        st->meta[i].value = eq_arena_strdup(arena, json_string_value(val));
        if (!st->meta[i].key || !st->meta[i].value)
            return nomem(err);
        i++;
    }
    return EQ_OK;
}

static int file_order_cmp(const void *pa, const void *pb)
{
    const slot *a = pa, *b = pb;
    if (a->e.begin != b->e.begin)
        return a->e.begin < b->e.begin ? -1 : 1;
    if (a->e.end != b->e.end)
        return a->e.end < b->e.end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int by_name_cmp(const void *pa, const void *pb)
{
    const slot *a = *(const slot *const *)pa, *b = *(const slot *const *)pb;
    return strcmp(a->e.name, b->e.name);
}

static eq_status check_overlap(const eq_safetensors *st, eq_error *err)
{
    const slot *last = NULL; /* the non-empty entry reaching furthest so far */
    for (size_t i = 0; i < st->n; i++) {
        const slot *s = &st->slots[i];
        if (s->e.begin == s->e.end)
            continue; /* an empty range overlaps nothing */
        if (last && s->e.begin < last->e.end)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors: entries '%s' [%llu, %llu) and '%s' [%llu, "
                                "%llu) overlap",
                                last->e.name, (unsigned long long)last->e.begin,
                                (unsigned long long)last->e.end, s->e.name,
                                (unsigned long long)s->e.begin, (unsigned long long)s->e.end);
        if (!last || s->e.end > last->e.end)
            last = s;
    }
    return EQ_OK;
}

/* Parse and validate the header (hdr, hlen) of a file whose data section
 * has data_len bytes. Allocates the result and its tensors (elements not
 * yet read) in the arena. */
static eq_status parse_header(const char *hdr, size_t hlen, uint64_t data_len,
                              unsigned flags, eq_arena *arena, eq_safetensors **out,
                              eq_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson leaves the text empty when its lexer cannot allocate
         * its buffer, and says out_of_memory elsewhere. */
        if (jerr.text[0] == '\0' || json_error_code(&jerr) == json_error_out_of_memory)
            return nomem(err);
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: the header is not valid JSON: %s (at byte %d "
                            "of the header)",
                            jerr.text, jerr.position);
    }
    eq_status st_ = EQ_OK;
    eq_safetensors *st = NULL;
    if (!json_is_object(root)) {
        st_ = eq_error_set(err, EQ_ERR_INVALID, "safetensors: the header is not a JSON object");
        goto done;
    }
    st = eq_arena_calloc(arena, sizeof *st);
    if (!st) {
        st_ = nomem(err);
        goto done;
    }
    json_t *meta = json_object_get(root, META_KEY);
    size_t cap = json_object_size(root) - (meta != NULL);
    st->slots = eq_arena_calloc(arena, (cap ? cap : 1) * sizeof *st->slots);
    st->by_name = eq_arena_alloc(arena, (cap ? cap : 1) * sizeof *st->by_name);
    if (!st->slots || !st->by_name) {
        st_ = nomem(err);
        goto done;
    }
    if (meta && (st_ = parse_meta(meta, arena, st, err)) != EQ_OK)
        goto done;

    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, META_KEY) == 0)
            continue;
        slot *s = &st->slots[st->n];
        s->order = st->n;
        if ((st_ = parse_entry(key, v, data_len, flags, s, err)) != EQ_OK)
            goto done;
        s->e.name = eq_arena_strdup(arena, key);
        s->e.dtype = s->dt->name;
        if (!s->e.name) {
            st_ = nomem(err);
            goto done;
        }
        st->n_skipped += !s->dt->loaded;
        st->n++;
    }

    qsort(st->slots, st->n, sizeof *st->slots, file_order_cmp);
    if ((st_ = check_overlap(st, err)) != EQ_OK)
        goto done;
    for (size_t i = 0; i < st->n; i++)
        st->by_name[i] = &st->slots[i];
    qsort(st->by_name, st->n, sizeof *st->by_name, by_name_cmp);

    /* Only now, with the whole header valid, take memory for the data. */
    for (size_t i = 0; i < st->n; i++) {
        slot *s = &st->slots[i];
        if (!s->dt->loaded)
            continue;
        eq_tensor *t = eq_tensor_new(arena, s->dt->dtype, s->e.rank, s->e.shape, err);
        if (!t) {
            st_ = EQ_ERR_NOMEM; /* the shape was checked above */
            eq_error_prefix(err, "safetensors: entry '%s': ", s->e.name);
            goto done;
        }
        s->e.tensor = t;
    }
    *out = st;
done:
    json_decref(root);
    return st_;
}

/* Header length from the first 8 bytes, checked against the file size. */
static eq_status header_len(const unsigned char *first8, uint64_t file_len,
                            uint64_t *n, eq_error *err)
{
    if (file_len < 8)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: the file is %llu bytes, too short for the "
                            "8-byte header length",
                            (unsigned long long)file_len);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | first8[i];
    if (v > file_len - 8)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: header length %llu is larger than the rest of "
                            "the file (%llu bytes)",
                            (unsigned long long)v, (unsigned long long)(file_len - 8));
    if (v > EQ_SAFETENSORS_MAX_HEADER)
        return eq_error_set(err, EQ_ERR_LIMIT,
                            "safetensors: header length %llu exceeds the limit of %u bytes",
                            (unsigned long long)v, EQ_SAFETENSORS_MAX_HEADER);
    if (v < 2)
        return eq_error_set(err, EQ_ERR_INVALID,
                            "safetensors: header length %llu is too short for a JSON object",
                            (unsigned long long)v);
    *n = v;
    return EQ_OK;
}

eq_status eq_safetensors_read_mem(const void *buf, size_t len, unsigned flags,
                                  eq_arena *arena, const eq_safetensors **out,
                                  eq_error *err)
{
    *out = NULL;
    const unsigned char *p = buf;
    uint64_t n;
    eq_status st_ = header_len(p, len, &n, err);
    if (st_ != EQ_OK)
        return st_;
    eq_safetensors *st;
    st_ = parse_header((const char *)p + 8, (size_t)n, len - 8 - n, flags, arena, &st, err);
    if (st_ != EQ_OK)
        return st_;
    const unsigned char *data = p + 8 + n;
    for (size_t i = 0; i < st->n; i++) {
        const eq_safetensors_entry *e = &st->slots[i].e;
        if (e->tensor)
            memcpy(e->tensor->data, data + e->begin, (size_t)(e->end - e->begin));
    }
    *out = st;
    return EQ_OK;
}

eq_status eq_safetensors_read_file(const char *path, unsigned flags,
                                   eq_arena *arena, const eq_safetensors **out,
                                   eq_error *err)
{
    *out = NULL;
    int fd;
    uint64_t size;
    char *hdr = NULL;
    eq_safetensors *st = NULL;
    eq_status st_ = eq_file_open_read(path, &fd, &size, err);
    if (st_ != EQ_OK)
        return st_;
    unsigned char first8[8] = {0};
    uint64_t n = 0;
    st_ = eq_file_read_at(fd, 0, first8, size < 8 ? (size_t)size : 8, path, err);
    if (st_ != EQ_OK)
        goto out;
    if ((st_ = header_len(first8, size, &n, err)) != EQ_OK) {
        eq_error_prefix(err, "'%s': ", path);
        goto out;
    }
    hdr = eq_malloc((size_t)n);
    if (!hdr) {
        st_ = nomem(err);
        goto out;
    }
    if ((st_ = eq_file_read_at(fd, 8, hdr, (size_t)n, path, err)) != EQ_OK)
        goto out;
    st_ = parse_header(hdr, (size_t)n, size - 8 - n, flags, arena, &st, err);
    if (st_ != EQ_OK) {
        eq_error_prefix(err, "'%s': ", path);
        goto out;
    }
    for (size_t i = 0; i < st->n && st_ == EQ_OK; i++) {
        const eq_safetensors_entry *e = &st->slots[i].e;
        if (e->tensor && e->end > e->begin)
            st_ = eq_file_read_at(fd, 8 + n + e->begin, e->tensor->data,
                                  (size_t)(e->end - e->begin), path, err);
    }
    if (st_ == EQ_OK)
        *out = st;
out:
    eq_free(hdr);
    eq_file_close(fd);
    return st_;
}

/* ---- writing ---- */

/* Well-formed UTF-8 without overlongs, surrogates or code points past
 * U+10FFFF: what JSON (and jansson) accept. */
static int utf8_valid(const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    while (*p) {
        unsigned c = *p, cp;
        int n;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static eq_status check_items(const eq_safetensors_item *items, size_t n,
                             const eq_safetensors_meta *meta, size_t n_meta,
                             eq_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = items[i].name;
        const eq_tensor *t = items[i].tensor;
        if (!name || !*name)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: tensor %zu has no name", i);
        if (!utf8_valid(name))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: tensor %zu's name is not valid UTF-8", i);
        if (strcmp(name, META_KEY) == 0)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: \"" META_KEY "\" cannot name a tensor");
        if (!t)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: tensor '%s' is NULL", name);
        if (t->dtype != EQ_F32 && t->dtype != EQ_F64)
            return eq_error_set(err, EQ_ERR_UNSUPPORTED,
                                "safetensors write: tensor '%s' has an unknown dtype", name);
        eq_status st = eq_shape_check(t->rank, t->shape, name, err);
        if (st != EQ_OK) {
            eq_error_prefix(err, "safetensors write: ");
            return st;
        }
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: metadata entry %zu has a NULL key or value", i);
        if (!utf8_valid(meta[i].key) || !utf8_valid(meta[i].value))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "safetensors write: metadata '%s' is not valid UTF-8", meta[i].key);
    }
    return EQ_OK;
}

static json_t *entry_json(const eq_tensor *t, uint64_t begin, uint64_t end)
{
    json_t *e = json_object(), *shape = json_array(), *off = json_array();
    int ok = e && shape && off;
    for (int i = 0; ok && i < t->rank; i++)
        ok = json_array_append_new(shape, json_integer((json_int_t)t->shape[i])) == 0;
    ok = ok && json_array_append_new(off, json_integer((json_int_t)begin)) == 0 &&
         json_array_append_new(off, json_integer((json_int_t)end)) == 0;
    ok = ok && json_object_set_new(e, "dtype", json_string(t->dtype == EQ_F64 ? "F64" : "F32")) == 0;
    if (ok) {
        ok = json_object_set_new(e, "shape", shape) == 0;
        shape = NULL; /* owned by e now, even on failure */
    }
    if (ok) {
        ok = json_object_set_new(e, "data_offsets", off) == 0;
        off = NULL;
    }
    json_decref(shape);
    json_decref(off);
    if (!ok) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* Builds the padded header: *hdr (eq_malloc, 8 + padded bytes incl. the
 * length prefix, with `extra` spare bytes after it for the caller) and the
 * data section's length. */
static eq_status build_header(const eq_safetensors_item *items, size_t n,
                              const eq_safetensors_meta *meta, size_t n_meta,
                              size_t extra_is_data, unsigned char **hdr,
                              size_t *hdr_len, uint64_t *data_len, eq_error *err)
{
    eq_status st = check_items(items, n, meta, n_meta, err);
    if (st != EQ_OK)
        return st;
    json_t *root = json_object();
    if (!root)
        return nomem(err);
    st = EQ_OK;
    if (n_meta > 0) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, META_KEY, m) != 0) {
            st = nomem(err);
            goto done;
        }
        for (size_t i = 0; i < n_meta; i++) {
            if (json_object_get(m, meta[i].key)) {
                st = eq_error_set(err, EQ_ERR_INVALID,
                                  "safetensors write: metadata key '%s' appears twice",
                                  meta[i].key);
                goto done;
            }
            if (json_object_set_new(m, meta[i].key, json_string(meta[i].value)) != 0) {
                st = nomem(err);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(root, items[i].name)) {
            st = eq_error_set(err, EQ_ERR_INVALID,
                              "safetensors write: tensor name '%s' appears twice",
                              items[i].name);
            goto done;
        }
        uint64_t bytes = eq_tensor_nbytes(items[i].tensor);
        json_t *e = entry_json(items[i].tensor, off, off + bytes);
        if (!e || json_object_set_new(root, items[i].name, e) != 0) {
            st = nomem(err);
            goto done;
        }
        off += bytes;
    }
    size_t js = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (js == 0) {
        st = nomem(err);
        goto done;
    }
    size_t padded = (js + 7) & ~(size_t)7;
    size_t total = 8 + padded + (extra_is_data ? (size_t)off : 0);
    unsigned char *buf = eq_malloc(total);
    if (!buf) {
        st = nomem(err);
        goto done;
    }
    if (json_dumpb(root, (char *)buf + 8, js, JSON_COMPACT) != js) {
        eq_free(buf);
        st = nomem(err);
        goto done;
    }
    memset(buf + 8 + js, ' ', padded - js);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    *hdr = buf;
    *hdr_len = 8 + padded;
    *data_len = off;
done:
    json_decref(root);
    return st;
}

eq_status eq_safetensors_write_mem(const eq_safetensors_item *items, size_t n,
                                   const eq_safetensors_meta *meta, size_t n_meta,
                                   unsigned char **out, size_t *out_len,
                                   eq_error *err)
{
    *out = NULL;
    *out_len = 0;
    unsigned char *buf;
    size_t hlen;
    uint64_t dlen;
    eq_status st = build_header(items, n, meta, n_meta, 1, &buf, &hlen, &dlen, err);
    if (st != EQ_OK)
        return st;
    size_t off = hlen;
    for (size_t i = 0; i < n; i++) {
        size_t b = eq_tensor_nbytes(items[i].tensor);
        if (b)
            memcpy(buf + off, items[i].tensor->data, b);
        off += b;
    }
    *out = buf;
    *out_len = hlen + (size_t)dlen;
    return EQ_OK;
}

eq_status eq_safetensors_write_file(const char *path,
                                    const eq_safetensors_item *items, size_t n,
                                    const eq_safetensors_meta *meta, size_t n_meta,
                                    eq_error *err)
{
    unsigned char *hdr;
    size_t hlen;
    uint64_t dlen;
    eq_status st = build_header(items, n, meta, n_meta, 0, &hdr, &hlen, &dlen, err);
    if (st != EQ_OK)
        return st;
    eq_file_chunk *chunks = eq_malloc((n + 1) * sizeof *chunks);
    if (!chunks) {
        eq_free(hdr);
        return nomem(err);
    }
    chunks[0].data = hdr;
    chunks[0].len = hlen;
    for (size_t i = 0; i < n; i++) {
        chunks[i + 1].data = items[i].tensor->data;
        chunks[i + 1].len = eq_tensor_nbytes(items[i].tensor);
    }
    st = eq_file_write_atomic(path, chunks, n + 1, err);
    eq_free(chunks);
    eq_free(hdr);
    return st;
}
