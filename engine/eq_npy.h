/* eq_npy.h - NumPy .npy files for single tensors.
 *
 * The format (version 1.0):
 *
 *   "\x93NUMPY" 0x01 0x00      magic and version
 *   uint16 little-endian HLEN  length of the header text
 *   header text                a Python dict literal, padded with spaces and
 *                              ended by '\n', so that the data starts at a
 *                              multiple of 64 bytes
 *   data                       row-major elements
 *
 * Writer: exactly the bytes numpy 1.24 writes with np.save for a C-order
 * '<f4' (float32) or '<f8' (float64) array, e.g. for shape [2, 3]:
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * then 21 - len("2") spaces (numpy's room to grow the first axis in place),
 * then spaces up to the next multiple of 64 (a whole 64 when already
 * aligned, as numpy does), then '\n'.
 *
 * Reader: the header is parsed strictly, not evaluated: a dict with exactly
 * the keys 'descr', 'fortran_order' and 'shape' (any order, single or
 * double quotes, optional trailing comma), descr '<f4' or '<f8' (anything
 * else is EQ_ERR_UNSUPPORTED, naming it), fortran_order False (True is
 * EQ_ERR_UNSUPPORTED), shape a tuple of at most EQ_MAX_RANK non-negative
 * integers ("(5,)" for one axis, "()" for a scalar); after the dict only
 * spaces and the final '\n'. The data must be exactly numel * itemsize
 * bytes. Version 1.0 is read, and 2.0 too (same layout with a 4-byte
 * HLEN); others are EQ_ERR_UNSUPPORTED. Malformed input is EQ_ERR_INVALID;
 * no input crashes the reader.
 */
#ifndef EQ_NPY_H
#define EQ_NPY_H

#include <stddef.h>

#include "eq_arena.h"
#include "eq_error.h"
#include "eq_tensor.h"

/* A header for any eq_tensor fits in this many bytes. */
#define EQ_NPY_HEADER_MAX 256
/* Longest header text the reader accepts (numpy's own default limit is
 * 10000). */
#define EQ_NPY_MAX_HEADER_TEXT 10000

/* The header bytes for t (magic to '\n'; *len is a multiple of 64), so a
 * server can send the header and then the tensor's own data without a
 * copy. cap >= EQ_NPY_HEADER_MAX always suffices. */
eq_status eq_npy_header(const eq_tensor *t, unsigned char *buf, size_t cap,
                        size_t *len, eq_error *err);

/* The whole file in a new buffer; release with eq_free. */
eq_status eq_npy_write_mem(const eq_tensor *t, unsigned char **out,
                           size_t *out_len, eq_error *err);
/* The same bytes to path, replaced atomically (eq_file.h). */
eq_status eq_npy_write_file(const char *path, const eq_tensor *t, eq_error *err);

/* A new tensor in the arena; *out is NULL on error. After an error the arena
 * may hold partial allocations. */
eq_status eq_npy_read_mem(const void *buf, size_t len, eq_arena *arena,
                          eq_tensor **out, eq_error *err);
eq_status eq_npy_read_file(const char *path, eq_arena *arena, eq_tensor **out,
                           eq_error *err);

#endif
