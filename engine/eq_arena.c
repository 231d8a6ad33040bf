/* eq_arena.c - bump allocator over a list of blocks (see eq_arena.h). */
#include "eq_arena.h"

#include "eq_alloc.h"

#include <string.h>

typedef struct block {
    struct block *next;
    size_t size;   /* usable bytes in data */
    size_t used;
    unsigned char *data;
} block;

struct eq_arena {
    block *first;
    block *last;
    block *current;   /* allocation tries this block first, then later ones */
    size_t block_size;
    size_t used;
};

#define ALIGN 64

static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

eq_arena *eq_arena_new(size_t block_size)
{
    eq_arena *a = eq_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->block_size = block_size ? align_up(block_size) : (size_t)1 << 20;
    return a;
}

static block *block_new(size_t size)
{
    block *b = eq_malloc(sizeof *b);
    if (!b)
        return NULL;
    b->data = eq_aligned_alloc(size);
    if (!b->data) {
        eq_free(b);
        return NULL;
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *eq_arena_alloc(eq_arena *a, size_t size)
{
    size_t need = align_up(size ? size : 1);
    if (need < size)
        return NULL; /* overflow */
    for (block *b = a->current; b; b = b->next) {
        if (b->size - b->used >= need) {
            void *p = b->data + b->used;
            b->used += need;
            a->current = b;
            a->used += need;
            return p;
        }
    }
    block *b = block_new(need > a->block_size ? need : a->block_size);
    if (!b)
        return NULL;
    if (a->last)
        a->last->next = b;
    else
        a->first = b;
    a->last = b;
    a->current = b;
    b->used = need;
    a->used += need;
    return b->data;
}

void *eq_arena_calloc(eq_arena *a, size_t size)
{
    void *p = eq_arena_alloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *eq_arena_strdup(eq_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = eq_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void eq_arena_reset(eq_arena *a)
{
    for (block *b = a->first; b; b = b->next)
        b->used = 0;
    a->current = a->first;
    a->used = 0;
}

void eq_arena_free(eq_arena *a)
{
    if (!a)
        return;
    block *b = a->first;
    while (b) {
        block *next = b->next;
        eq_aligned_free(b->data);
        eq_free(b);
        b = next;
    }
    eq_free(a);
}

size_t eq_arena_used(const eq_arena *a) { return a->used; }

size_t eq_arena_capacity(const eq_arena *a)
{
    size_t total = 0;
    for (const block *b = a->first; b; b = b->next)
        total += b->size;
    return total;
}
