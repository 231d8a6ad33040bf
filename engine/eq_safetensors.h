/* eq_safetensors.h - read and write checkpoints in the safetensors format.
 *
 * The format (all we rely on):
 *
 *   bytes 0..7     N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N   a JSON object, UTF-8, possibly padded with spaces:
 *                    { "<name>": {"dtype": "F32", "shape": [2, 3],
 *                                 "data_offsets": [begin, end]}, ...,
 *                      "__metadata__": {"<key>": "<value>", ...} }   (optional)
 *   bytes 8+N..    the data; [begin, end) is relative to byte 8+N;
 *                  elements little-endian, row-major.
 *
 * Writer: F32/F64 tensors in the order given, packed back to back, with the
 * header padded with spaces to a multiple of 8 so the data is 8-aligned.
 *
 * Reader: every entry is checked before any data is touched: N at least 2
 * (the smallest object, "{}") and at most EQ_SAFETENSORS_MAX_HEADER and
 * within the file; the header an object without duplicate keys; each entry
 * an object with exactly "dtype" (string), "shape" (array of at most
 * EQ_MAX_RANK non-negative integers) and "data_offsets" (two non-negative
 * integers, begin <= end <= data length); end - begin == numel * dtype size;
 * no two non-empty entries overlap. Gaps between entries are allowed (the
 * bytes are ignored). "__metadata__" must map strings to strings.
 *
 * Dtypes: F32 and F64 are loaded as eq_tensor. The other dtypes of the
 * format (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32,
 * I64, U64) are validated like any entry and then skipped: they appear in
 * the entry list with tensor == NULL, so a checkpoint with an int64
 * "global_step" still loads and the checkpoint check can report the key.
 * With EQ_SAFETENSORS_REJECT_UNSUPPORTED they are an EQ_ERR_UNSUPPORTED
 * error instead. A dtype string outside that list is always an error (its
 * size is unknown, so the entry cannot be validated).
 *
 * Everything the reader returns (the eq_safetensors, names, tensors) lives
 * in the caller's arena; there is no free function. After an error the
 * arena may hold partial allocations: reset or free it. Errors are values
 * (EQ_ERR_INVALID for a malformed file, EQ_ERR_IO, EQ_ERR_NOMEM,
 * EQ_ERR_UNSUPPORTED); no input crashes the reader. One limit outside our
 * code: jansson 2.14's lexer does not survive its own allocation failures
 * (akheron/jansson#362), so the header parse is only as robust under
 * memory exhaustion as jansson is.
 *
 * Byte order: the engine runs on little-endian machines only (checked at
 * compile time), so element bytes are copied as they are.
 */
#ifndef EQ_SAFETENSORS_H
#define EQ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_tensor.h"

/* The reference implementation's limit too. */
#define EQ_SAFETENSORS_MAX_HEADER 100000000u

#define EQ_SAFETENSORS_REJECT_UNSUPPORTED 1u

/* One tensor to write. */
typedef struct eq_safetensors_item {
    const char *name;          /* non-empty UTF-8, unique, not "__metadata__" */
    const eq_tensor *tensor;   /* F32 or F64 */
} eq_safetensors_item;

typedef struct eq_safetensors_meta {
    const char *key;   /* UTF-8, unique */
    const char *value; /* UTF-8 */
} eq_safetensors_meta;

/* One entry of a file that was read. */
typedef struct eq_safetensors_entry {
    const char *name;
    const char *dtype;          /* as in the file: "F32", "BF16", ... */
    int rank;
    int64_t shape[EQ_MAX_RANK]; /* entries past rank are 1 */
    uint64_t begin, end;        /* data_offsets */
    const eq_tensor *tensor;    /* NULL: dtype not loaded (skipped) */
} eq_safetensors_entry;

typedef struct eq_safetensors eq_safetensors;

/* ---- writing ---- */

/* The whole file in a new buffer (*out, *out_len); release with eq_free.
 * meta may be NULL when n_meta is 0. */
eq_status eq_safetensors_write_mem(const eq_safetensors_item *items, size_t n,
                                   const eq_safetensors_meta *meta, size_t n_meta,
                                   unsigned char **out, size_t *out_len,
                                   eq_error *err);
/* The same bytes to path, replaced atomically (eq_file.h). Tensor data is
 * written from the tensors themselves, not copied into one buffer. */
eq_status eq_safetensors_write_file(const char *path,
                                    const eq_safetensors_item *items, size_t n,
                                    const eq_safetensors_meta *meta, size_t n_meta,
                                    eq_error *err);

/* ---- reading ---- */

eq_status eq_safetensors_read_mem(const void *buf, size_t len, unsigned flags,
                                  eq_arena *arena, const eq_safetensors **out,
                                  eq_error *err);
/* Reads the header, validates it against the file size, then reads each
 * loaded tensor straight into the arena. */
eq_status eq_safetensors_read_file(const char *path, unsigned flags,
                                   eq_arena *arena, const eq_safetensors **out,
                                   eq_error *err);

/* Entries in file order (by data offset, then header order), skipped ones
 * included. */
size_t eq_safetensors_count(const eq_safetensors *st);
const eq_safetensors_entry *eq_safetensors_entry_at(const eq_safetensors *st,
                                                    size_t i);
/* How many entries were skipped for their dtype. */
size_t eq_safetensors_skipped(const eq_safetensors *st);
/* Lookup by exact name (binary search); NULL when absent. */
const eq_safetensors_entry *eq_safetensors_find(const eq_safetensors *st,
                                                const char *name);
/* The loaded tensor of that name; NULL when absent or skipped. */
const eq_tensor *eq_safetensors_get(const eq_safetensors *st, const char *name);

/* "__metadata__" pairs, in header order. */
size_t eq_safetensors_meta_count(const eq_safetensors *st);
const eq_safetensors_meta *eq_safetensors_meta_at(const eq_safetensors *st,
                                                  size_t i);
/* The value for key, or NULL. */
const char *eq_safetensors_meta_get(const eq_safetensors *st, const char *key);

#endif
