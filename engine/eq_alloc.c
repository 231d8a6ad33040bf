/* eq_alloc.c - allocation wrapper with failure injection (see eq_alloc.h). */
#include "eq_alloc.h"

#include <stdlib.h>
#include <string.h>

static long fail_at;   /* 0: never fail; else the attempt number that fails */
static int fail_sticky;
static long attempts;

static int should_fail(void)
{
    attempts++;
    if (fail_at == 0)
        return 0;
    if (attempts == fail_at)
        return 1;
    return fail_sticky && attempts > fail_at;
}

void eq_alloc_fail_after(long n, int sticky)
{
    fail_at = n;
    fail_sticky = sticky;
    attempts = 0;
}

long eq_alloc_count(void) { return attempts; }

void *eq_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *eq_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *eq_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void eq_free(void *ptr) { free(ptr); }

char *eq_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = eq_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void *eq_aligned_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    /* aligned_alloc wants a multiple of the alignment. */
    size_t rounded = (size + 63) & ~(size_t)63;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void eq_aligned_free(void *ptr) { free(ptr); }
