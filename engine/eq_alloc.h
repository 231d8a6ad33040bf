/* eq_alloc.h - the one door through which the engine allocates.
 *
 * Routing every allocation through here lets tests make the N-th allocation
 * fail (eq_alloc_fail_after) and check that the engine returns EQ_ERR_NOMEM
 * without crashing or leaking (the sqlite malloc-test idea, STYLE.md #10).
 * Memory from eq_malloc/eq_calloc/eq_realloc is released with eq_free;
 * memory from eq_aligned_alloc with eq_aligned_free.
 */
#ifndef EQ_ALLOC_H
#define EQ_ALLOC_H

#include <stddef.h>

void *eq_malloc(size_t size);
void *eq_calloc(size_t n, size_t size);
void *eq_realloc(void *ptr, size_t size);
void eq_free(void *ptr);
char *eq_strdup(const char *s);

/* 64-byte aligned (one cache line, one AVX-512 vector). */
void *eq_aligned_alloc(size_t size);
void eq_aligned_free(void *ptr);

/* Testing: the n-th allocation from now fails (n >= 1), and every one after
 * it too while `sticky`. n = 0 switches failure injection off. Not thread
 * safe; tests call it from one thread. */
void eq_alloc_fail_after(long n, int sticky);
/* How many allocations were attempted since the last eq_alloc_fail_after. */
long eq_alloc_count(void);

#endif
