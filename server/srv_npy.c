/* srv_npy.c - .npy encoding. */
#include "srv_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned char *srv_npy_encode(const char *dtype, int rank, const int64_t *shape, const void *data,
                              size_t nbytes, size_t *out_len)
{
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     strcmp(dtype, "float64") == 0 ? "<f8" : "<f4");
    for (int i = 0; i < rank && n < (int)sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)shape[i],
                      i + 1 < rank ? " " : "");
    /* A 1-tuple keeps its comma "(3,)"; longer ones drop the last. */
    if (rank > 1)
        n--;
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n >= (int)sizeof dict - 70)
        return NULL;
    /* magic(6) + version(2) + header length(2) + dict + padding + '\n' */
    size_t head = 10 + (size_t)n + 1;
    size_t pad = (64 - head % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    size_t total = 10 + hlen + nbytes;
    unsigned char *out = malloc(total);
    if (!out)
        return NULL;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', pad);
    out[10 + n + pad] = '\n';
    memcpy(out + 10 + hlen, data, nbytes);
    *out_len = total;
    return out;
}
