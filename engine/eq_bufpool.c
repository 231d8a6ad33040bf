/* eq_bufpool.c - reusable tensor buffers (see eq_bufpool.h). */
#include "eq_bufpool.h"

#include "eq_alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define REUSE 0
#else
#define REUSE 1
#endif

#define ALIGN 64

typedef struct buf {
    void *data;
    size_t size;   /* allocated */
    size_t given;  /* asked for, rounded to ALIGN, while in use */
    int in_use;
} buf;

struct eq_bufpool {
    buf *bufs;
    int n, cap;
    size_t held, in_use, peak;
};

eq_bufpool *eq_bufpool_new(void) { return eq_calloc(1, sizeof(eq_bufpool)); }

void eq_bufpool_free(eq_bufpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        eq_aligned_free(p->bufs[i].data);
    eq_free(p->bufs);
    eq_free(p);
}

/* Drop entry i (its memory is freed by the caller or already gone). */
static void remove_at(eq_bufpool *p, int i)
{
    p->held -= p->bufs[i].size;
    p->bufs[i] = p->bufs[--p->n];
}

void *eq_bufpool_get(eq_bufpool *p, size_t size)
{
    size_t need = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < size)
        return NULL; /* overflow */
    if (need == 0)
        need = ALIGN;
    int best = -1;
    for (int i = 0; REUSE && i < p->n; i++) {
        const buf *b = &p->bufs[i];
        if (!b->in_use && b->size >= need && b->size / 2 <= need &&
            (best < 0 || b->size < p->bufs[best].size))
            best = i;
    }
    if (best < 0) {
        if (p->n == p->cap) {
            int cap = p->cap ? 2 * p->cap : 32;
            buf *grown = eq_realloc(p->bufs, (size_t)cap * sizeof *grown);
            if (!grown)
                return NULL;
            p->bufs = grown;
            p->cap = cap;
        }
        void *data = eq_aligned_alloc(need);
        if (!data)
            return NULL;
        best = p->n++;
        p->bufs[best] = (buf){.data = data, .size = need};
        p->held += need;
    }
    buf *b = &p->bufs[best];
    b->in_use = 1;
    b->given = need;
    p->in_use += need;
    if (p->in_use > p->peak)
        p->peak = p->in_use;
    return b->data;
}

int eq_bufpool_put(eq_bufpool *p, void *data)
{
    for (int i = 0; data && i < p->n; i++) {
        buf *b = &p->bufs[i];
        if (b->data != data)
            continue;
        if (!b->in_use)
            return 0;
        b->in_use = 0;
        p->in_use -= b->given;
        if (!REUSE) {
            eq_aligned_free(b->data);
            remove_at(p, i);
        }
        return 1;
    }
    return 0;
}

void eq_bufpool_reset(eq_bufpool *p)
{
    int trim = !REUSE || p->held > 2 * p->peak;
    for (int i = p->n - 1; i >= 0; i--) {
        buf *b = &p->bufs[i];
        b->in_use = 0;
        if (trim) {
            eq_aligned_free(b->data);
            remove_at(p, i);
        }
    }
    p->in_use = 0;
    p->peak = 0;
}

eq_bufpool_stats eq_bufpool_get_stats(const eq_bufpool *p)
{
    return (eq_bufpool_stats){.held = p->held, .in_use = p->in_use, .peak_in_use = p->peak,
                              .buffers = p->n};
}
