/* eq_bufpool.h - tensor buffers that are given back one at a time.
 *
 * The eager backend's op outputs live here rather than in the call arena,
 * so that the interpreter can hand back an activation as soon as nothing
 * reads it again: a call then holds its live tensors, not every tensor it
 * ever made (Inception-ResNet-v2 at batch 8: all of them are about 2 GB).
 *
 * Buffers are kept for reuse, across calls too, for the reason the arena
 * keeps its blocks: on this VM a first touch of a page costs ~30 us.
 * A request takes the smallest free buffer that fits and is at most twice
 * its size, or a new one. Results never depend on which buffer is chosen.
 *
 * Under AddressSanitizer nothing is reused: eq_bufpool_put frees, so a
 * tensor read after it was given back is reported instead of silently
 * reading another tensor's numbers.
 *
 * Not thread safe: one pool per eager backend, used by one thread.
 */
#ifndef EQ_BUFPOOL_H
#define EQ_BUFPOOL_H

#include <stddef.h>

typedef struct eq_bufpool eq_bufpool;

eq_bufpool *eq_bufpool_new(void);
/* Frees every buffer, in use or not. */
void eq_bufpool_free(eq_bufpool *p);

/* `size` bytes, 64-byte aligned, uninitialised; NULL when out of memory. */
void *eq_bufpool_get(eq_bufpool *p, size_t size);
/* Give back a buffer from eq_bufpool_get. Returns 0 when `data` is not one
 * of this pool's buffers in use (nothing happens then). */
int eq_bufpool_put(eq_bufpool *p, void *data);
/* Give back every buffer (a new call begins). When the pool holds more
 * than twice what the last call needed at once, the spare buffers are
 * freed, so that held memory stays near the peak of a call. */
void eq_bufpool_reset(eq_bufpool *p);

typedef struct eq_bufpool_stats {
    size_t held;        /* bytes allocated from the system, in use or not */
    size_t in_use;      /* bytes handed out now, as asked for (rounded up to
                           64): a bigger buffer's slack is not counted */
    size_t peak_in_use; /* most bytes in use at once since the last reset */
    int buffers;        /* buffers held */
} eq_bufpool_stats;

eq_bufpool_stats eq_bufpool_get_stats(const eq_bufpool *p);

#endif
