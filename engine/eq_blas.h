/* eq_blas.h - choosing BLIS's kernel set and thread count.
 *
 * Why this exists: Debian's BLIS 0.9 does not recognise newer CPUs (AMD
 * family 26 here) and falls back to its generic reference kernels, about 5x
 * slower than its AVX-512 `skx` set on the same machine. BLIS reads
 * BLIS_ARCH_TYPE (a number, the arch_t enum) once, when it initialises, and
 * querying it before that crashed. So eq_blas_init() picks the kernel set
 * from the CPU's features and sets the variable before the first BLIS call:
 *   AVX-512F             -> skx     (BLIS_ARCH_SKX)
 *   AVX2 + FMA           -> haswell (BLIS_ARCH_HASWELL; zen3 on AMD)
 *   otherwise            -> BLIS's own choice
 * EQ_BLIS_ARCH=skx|haswell|zen3|zen2|zen|generic|auto overrides the choice;
 * a BLIS_ARCH_TYPE already in the environment is respected as the user's.
 * Threads: the `threads` argument, else EQ_THREADS, else the available cores.
 */
#ifndef EQ_BLAS_H
#define EQ_BLAS_H

#include "eq_error.h"

typedef struct eq_blas_info {
    char arch[32];        /* kernel set BLIS reports, e.g. "skx" */
    int arch_id;          /* BLIS's arch_t value */
    int threads;          /* threads for GEMM and our own parallel loops */
    char source[32];      /* "cpu-features", "EQ_BLIS_ARCH", "BLIS_ARCH_TYPE", "blis" */
    char cpu_features[64];/* e.g. "avx512f avx2 fma" */
} eq_blas_info;

/* Idempotent; the first call decides. threads <= 0 means default.
 * Thread safe. */
eq_status eq_blas_init(int threads, eq_error *err);

/* Initialises with defaults if needed. Never NULL. */
const eq_blas_info *eq_blas_info_get(void);

/* Change the thread count later (GEMM and OpenMP loops). */
void eq_blas_set_threads(int threads);

#endif
