/* eq_arena.h - bump allocation with one free for everything.
 *
 * Ownership rule of the engine: every tensor lives in an arena (one per pass,
 * per graph session or per job) or is a view over memory someone else owns.
 * Nothing is freed one tensor at a time; eq_arena_reset() recycles all of an
 * arena's memory for the next pass and eq_arena_free() returns it.
 *
 * Why reset keeps the blocks: on this VM a page fault costs ~30 us, so a
 * forward pass that mallocs fresh buffers pays that on every page. A reset
 * arena hands out the same, already-touched pages again.
 */
#ifndef EQ_ARENA_H
#define EQ_ARENA_H

#include <stddef.h>

typedef struct eq_arena eq_arena;

/* block_size: bytes per block (0 = 1 MiB). Larger requests get a block of
 * their own. Returns NULL when out of memory. */
eq_arena *eq_arena_new(size_t block_size);

/* 64-byte aligned, uninitialised; NULL when out of memory. */
void *eq_arena_alloc(eq_arena *a, size_t size);
/* Same, zero-filled. */
void *eq_arena_calloc(eq_arena *a, size_t size);
/* A copy of s in the arena. */
char *eq_arena_strdup(eq_arena *a, const char *s);

/* Forget every allocation, keep the memory for reuse. */
void eq_arena_reset(eq_arena *a);
void eq_arena_free(eq_arena *a);

/* Bytes handed out since the last reset, and bytes held from the system. */
size_t eq_arena_used(const eq_arena *a);
size_t eq_arena_capacity(const eq_arena *a);

#endif
