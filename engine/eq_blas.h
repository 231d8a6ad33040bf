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

#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"

typedef struct eq_blas_info {
    char arch[32];         /* kernel set BLIS reports, e.g. "skx" */
    int arch_id;           /* BLIS's arch_t value */
    int threads;           /* threads for GEMM and our own parallel loops */
    char source[32];       /* "cpu-features", "EQ_BLIS_ARCH", "BLIS_ARCH_TYPE", "blis" */
    char cpu_features[64]; /* e.g. "avx512f avx2 fma" */
} eq_blas_info;

/* Idempotent; the first call decides. threads <= 0 means default.
 * Thread safe. */
eq_status eq_blas_init(int threads, eq_error *err);

/* Initialises with defaults if needed. Never NULL. */
const eq_blas_info *eq_blas_info_get(void);

/* Change the thread count later (GEMM and OpenMP loops); <= 0 means the
 * default. Not meant to race with running kernels. */
void eq_blas_set_threads(int threads);

/* The thread count our own OpenMP loops use (initialises if needed). Loops
 * name it in num_threads() instead of relying on omp_set_num_threads(), whose
 * setting belongs to the calling thread only and so would not reach a
 * server's worker threads. */
int eq_blas_threads(void);

/* eq_sgemm (row-major, see eq_ops.h) on exactly `threads` BLIS threads
 * whatever eq_blas_set_threads said: 1 inside a parallel region that has
 * already split the work between threads. */
void eq_sgemm_threads(int threads, int trans_a, int trans_b, int64_t m, int64_t n,
                      int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float beta, float *c, int64_t ldc);

/* ---- the decision, separated from its effects so tests can drive it ----- */

/* What the CPU offers, as far as the choice of BLIS kernels cares. */
typedef struct eq_cpu_features {
    int avx512f, avx512dq, avx512bw, avx512vl; /* BLIS's skx set is compiled
                                                  for all four (Skylake-X) */
    int avx2, fma;
    int amd; /* vendor is AuthenticAMD */
} eq_cpu_features;

/* Fill f from CPUID of the running CPU (and the OS's support for the wide
 * registers). */
void eq_cpu_features_detect(eq_cpu_features *f);

/* "avx512f avx512dq avx512bw avx512vl avx2 fma amd" (present ones only). */
char *eq_cpu_features_str(const eq_cpu_features *f, char *buf, size_t n);

typedef struct eq_blas_arch_choice {
    int arch_id;        /* arch_t value; -1 when BLIS chooses itself */
    int set_env;        /* 1: eq_blas_init must put arch_id in BLIS_ARCH_TYPE */
    const char *name;   /* "skx", "haswell", ... or "blis" (its own choice) */
    const char *source; /* "cpu-features", "EQ_BLIS_ARCH", "BLIS_ARCH_TYPE", "blis" */
} eq_blas_arch_choice;

/* The pure rule: CPU features and the two environment values (NULL or ""
 * when unset) -> the kernel set. In order of precedence:
 *   BLIS_ARCH_TYPE set: the user's; it must be the number of a kernel set
 *     this BLIS was built with, and it is left in place (set_env = 0);
 *   EQ_BLIS_ARCH = skx|haswell|zen3|zen2|zen|generic (case-insensitive): that
 *     set, refused if the CPU lacks its instructions (it would die of SIGILL);
 *     "auto" means no override;
 *   AVX-512 F/DQ/BW/VL -> skx; AVX2 + FMA -> zen3 on AMD, else haswell;
 *   otherwise BLIS's own choice (arch_id -1, source "blis").
 * EQ_ERR_INVALID with a message naming the variable, its value and the rule. */
eq_status eq_blas_arch_decide(const eq_cpu_features *cpu, const char *eq_blis_arch,
                              const char *blis_arch_type, eq_blas_arch_choice *out,
                              eq_error *err);

/* The thread rule: threads_arg > 0 wins, else EQ_THREADS (a positive
 * integer; NULL or "" when unset), else available_cores (at least 1). */
eq_status eq_blas_threads_decide(int threads_arg, const char *eq_threads_env,
                                 int available_cores, int *out, eq_error *err);

#endif
