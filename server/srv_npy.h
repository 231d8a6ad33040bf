/* srv_npy.h - NumPy .npy (format 1.0) for stored tensors: a header dict
 * padded so the data starts on a 64-byte boundary, then the raw
 * little-endian elements, C order. */
#ifndef SRV_NPY_H
#define SRV_NPY_H

#include <stddef.h>
#include <stdint.h>

/* The whole file in one malloc'd buffer; NULL on overflow / no memory. */
unsigned char *srv_npy_encode(const char *dtype, int rank, const int64_t *shape, const void *data,
                              size_t nbytes, size_t *out_len);

#endif
