/* srv_sha256.h - SHA-256 (FIPS 180-4), incremental, for checkpoint uploads
 * hashed as they stream to disk. Written from the standard; no dependency
 * on a crypto library for one hash. */
#ifndef SRV_SHA256_H
#define SRV_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} srv_sha256;

void srv_sha256_init(srv_sha256 *c);
void srv_sha256_update(srv_sha256 *c, const void *data, size_t n);
/* 64 lowercase hex digits and a NUL into hex[65]. */
void srv_sha256_hex(srv_sha256 *c, char hex[65]);

#endif
