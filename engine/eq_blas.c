/* eq_blas.c - choose BLIS's kernel set from the CPU, then its threads.
 *
 * Order matters (see eq_blas.h): BLIS reads BLIS_ARCH_TYPE once, in its
 * initialisation, and querying the arch before that crashed with the
 * variable set. So: decide, setenv, bli_init(), and only then query. */
#include "eq_blas.h"

#include <blis.h>
#include <limits.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The kernel sets EQ_BLIS_ARCH may name, and what each needs to run. */
enum { NEEDS_NOTHING = 0, NEEDS_AVX2 = 1, NEEDS_AVX512 = 2 };

typedef struct arch_entry {
    const char *name;
    int id;
    int needs;
} arch_entry;

static const arch_entry eq_arch_names[] = {
    {"skx", BLIS_ARCH_SKX, NEEDS_AVX512}, {"haswell", BLIS_ARCH_HASWELL, NEEDS_AVX2},
    {"zen3", BLIS_ARCH_ZEN3, NEEDS_AVX2}, {"zen2", BLIS_ARCH_ZEN2, NEEDS_AVX2},
    {"zen", BLIS_ARCH_ZEN, NEEDS_AVX2},   {"generic", BLIS_ARCH_GENERIC, NEEDS_NOTHING},
};

/* Kernel sets compiled into this BLIS: a BLIS_ARCH_TYPE naming any other
 * would leave BLIS without a context and crash it, so it is refused. */
static int arch_compiled_in(long id)
{
    switch (id) {
#ifdef BLIS_CONFIG_SKX
    case BLIS_ARCH_SKX:
#endif
#ifdef BLIS_CONFIG_KNL
    case BLIS_ARCH_KNL:
#endif
#ifdef BLIS_CONFIG_HASWELL
    case BLIS_ARCH_HASWELL:
#endif
#ifdef BLIS_CONFIG_SANDYBRIDGE
    case BLIS_ARCH_SANDYBRIDGE:
#endif
#ifdef BLIS_CONFIG_PENRYN
    case BLIS_ARCH_PENRYN:
#endif
#ifdef BLIS_CONFIG_ZEN3
    case BLIS_ARCH_ZEN3:
#endif
#ifdef BLIS_CONFIG_ZEN2
    case BLIS_ARCH_ZEN2:
#endif
#ifdef BLIS_CONFIG_ZEN
    case BLIS_ARCH_ZEN:
#endif
#ifdef BLIS_CONFIG_EXCAVATOR
    case BLIS_ARCH_EXCAVATOR:
#endif
#ifdef BLIS_CONFIG_STEAMROLLER
    case BLIS_ARCH_STEAMROLLER:
#endif
#ifdef BLIS_CONFIG_PILEDRIVER
    case BLIS_ARCH_PILEDRIVER:
#endif
#ifdef BLIS_CONFIG_BULLDOZER
    case BLIS_ARCH_BULLDOZER:
#endif
    case BLIS_ARCH_GENERIC: return 1;
    default: return 0;
    }
}

static int has_avx512(const eq_cpu_features *c)
{
    return c->avx512f && c->avx512dq && c->avx512bw && c->avx512vl;
}

static int has_avx2(const eq_cpu_features *c)
{
    return c->avx2 && c->fma;
}

void eq_cpu_features_detect(eq_cpu_features *f)
{
    memset(f, 0, sizeof *f);
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc's checks include the OS's XCR0 state, so a kernel that does not
     * save the zmm registers reports no AVX-512 here. */
    __builtin_cpu_init();
    f->avx512f = __builtin_cpu_supports("avx512f") != 0;
    f->avx512dq = __builtin_cpu_supports("avx512dq") != 0;
    f->avx512bw = __builtin_cpu_supports("avx512bw") != 0;
    f->avx512vl = __builtin_cpu_supports("avx512vl") != 0;
    f->avx2 = __builtin_cpu_supports("avx2") != 0;
    f->fma = __builtin_cpu_supports("fma") != 0;
    f->amd = __builtin_cpu_is("amd") != 0;
#endif
}

char *eq_cpu_features_str(const eq_cpu_features *f, char *buf, size_t n)
{
    const struct {
        int on;
        const char *name;
    } list[] = {{f->avx512f, "avx512f"},
                {f->avx512dq, "avx512dq"},
                {f->avx512bw, "avx512bw"},
                {f->avx512vl, "avx512vl"},
                {f->avx2, "avx2"},
                {f->fma, "fma"},
                {f->amd, "amd"}};
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? " " : "", list[i].name);
        if (w < 0 || (size_t)w >= n - used) {
            buf[used] = '\0'; /* drop a name that did not fit whole */
            break;
        }
        used += (size_t)w;
    }
    return buf;
}

static int is_set(const char *s)
{
    return s && s[0] != '\0';
}

/* Digits only (no sign, no spaces), at most 9 of them. */
static int parse_count(const char *s, long *out)
{
    long v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 9)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return i > 0;
}

eq_status eq_blas_arch_decide(const eq_cpu_features *cpu, const char *eq_blis_arch,
                              const char *blis_arch_type, eq_blas_arch_choice *out,
                              eq_error *err)
{
    EQ_ASSERT(cpu && out);
    if (is_set(blis_arch_type)) {
        long id;
        if (!parse_count(blis_arch_type, &id) || !arch_compiled_in(id))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "BLIS_ARCH_TYPE='%s' is not the number of a kernel set "
                                "this BLIS was built with (it takes the arch_t "
                                "value, e.g. 0 for skx, 3 for haswell)",
                                blis_arch_type);
        out->arch_id = (int)id;
        out->set_env = 0;
        out->name = bli_arch_string((arch_t)id); /* a table lookup, no init */
        out->source = "BLIS_ARCH_TYPE";
        return EQ_OK;
    }
    if (is_set(eq_blis_arch) && strcasecmp(eq_blis_arch, "auto") != 0) {
        const arch_entry *e = NULL;
        for (size_t i = 0; i < sizeof eq_arch_names / sizeof eq_arch_names[0]; i++)
            if (strcasecmp(eq_blis_arch, eq_arch_names[i].name) == 0)
                e = &eq_arch_names[i];
        if (!e)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "EQ_BLIS_ARCH='%s' is not one of "
                                "skx|haswell|zen3|zen2|zen|generic|auto",
                                eq_blis_arch);
        if ((e->needs == NEEDS_AVX512 && !has_avx512(cpu)) ||
            (e->needs == NEEDS_AVX2 && !has_avx2(cpu)))
            return eq_error_set(
                err, EQ_ERR_INVALID, "EQ_BLIS_ARCH='%s' needs %s, which this CPU lacks",
                eq_blis_arch,
                e->needs == NEEDS_AVX512 ? "AVX-512 F/DQ/BW/VL" : "AVX2 and FMA");
        out->arch_id = e->id;
        out->set_env = 1;
        out->name = e->name;
        out->source = "EQ_BLIS_ARCH";
        return EQ_OK;
    }
    out->set_env = 1;
    out->source = "cpu-features";
    if (has_avx512(cpu)) {
        out->arch_id = BLIS_ARCH_SKX;
        out->name = "skx";
    } else if (has_avx2(cpu)) {
        out->arch_id = cpu->amd ? BLIS_ARCH_ZEN3 : BLIS_ARCH_HASWELL;
        out->name = cpu->amd ? "zen3" : "haswell";
    } else {
        out->arch_id = -1;
        out->set_env = 0;
        out->name = "blis";
        out->source = "blis";
    }
    return EQ_OK;
}

eq_status eq_blas_threads_decide(int threads_arg, const char *eq_threads_env,
                                 int available_cores, int *out, eq_error *err)
{
    if (threads_arg > 0) {
        *out = threads_arg;
        return EQ_OK;
    }
    if (is_set(eq_threads_env)) {
        long v;
        if (!parse_count(eq_threads_env, &v) || v < 1 || v > 4096)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "EQ_THREADS='%s' must be an integer from 1 to 4096",
                                eq_threads_env);
        *out = (int)v;
        return EQ_OK;
    }
    *out = available_cores > 0 ? available_cores : 1;
    return EQ_OK;
}

/* Cores this process may run on: the affinity mask (a container or taskset
 * may give fewer than the machine has), else the online count. */
static int available_cores(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < INT_MAX ? (int)n : 1;
}

static pthread_mutex_t eq_blas_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int eq_blas_ready;
static eq_blas_info eq_blas_state;

static void apply_threads(int n)
{
    bli_thread_set_num_threads((dim_t)n);
    omp_set_num_threads(n);
    eq_blas_state.threads = n;
}

/* Called with the lock held. strict = 0 is the implicit path (a kernel ran
 * before anyone called eq_blas_init): bad environment values cannot be
 * reported to a caller there, so they are ignored with a note on stderr. */
static eq_status init_locked(int threads, int strict, eq_error *err)
{
    eq_cpu_features cpu;
    eq_cpu_features_detect(&cpu);
    const char *env_arch = getenv("EQ_BLIS_ARCH");
    const char *env_type = getenv("BLIS_ARCH_TYPE");
    const char *env_threads = getenv("EQ_THREADS");
    eq_blas_arch_choice choice;
    eq_error local;
    eq_status st = eq_blas_arch_decide(&cpu, env_arch, env_type, &choice, &local);
    if (st != EQ_OK) {
        if (strict) {
            if (err)
                *err = local;
            return st;
        }
        fprintf(stderr, "equivd: %s; choosing BLIS kernels from the CPU instead\n",
                local.message);
        /* A bad BLIS_ARCH_TYPE would crash BLIS itself, so it goes too. */
        if (is_set(env_type))
            unsetenv("BLIS_ARCH_TYPE");
        st = eq_blas_arch_decide(&cpu, NULL, NULL, &choice, NULL);
        EQ_ASSERT(st == EQ_OK);
    }
    int nthreads;
    st = eq_blas_threads_decide(threads, env_threads, available_cores(), &nthreads, &local);
    if (st != EQ_OK) {
        if (strict) {
            if (err)
                *err = local;
            return st;
        }
        fprintf(stderr, "equivd: %s; using the available cores\n", local.message);
        nthreads = available_cores();
    }
    if (choice.set_env) {
        char num[16];
        snprintf(num, sizeof num, "%d", choice.arch_id);
        setenv("BLIS_ARCH_TYPE", num, 1);
    }
    bli_init(); /* reads BLIS_ARCH_TYPE; everything below may query */
    arch_t id = bli_arch_query_id();
    snprintf(eq_blas_state.arch, sizeof eq_blas_state.arch, "%s", bli_arch_string(id));
    eq_blas_state.arch_id = (int)id;
    snprintf(eq_blas_state.source, sizeof eq_blas_state.source, "%s", choice.source);
    eq_cpu_features_str(&cpu, eq_blas_state.cpu_features,
                        sizeof eq_blas_state.cpu_features);
    apply_threads(nthreads);
    atomic_store_explicit(&eq_blas_ready, 1, memory_order_release);
    return EQ_OK;
}

static eq_status init(int threads, int strict, eq_error *err)
{
    if (atomic_load_explicit(&eq_blas_ready, memory_order_acquire))
        return EQ_OK;
    pthread_mutex_lock(&eq_blas_lock);
    eq_status st = EQ_OK;
    if (!atomic_load_explicit(&eq_blas_ready, memory_order_relaxed))
        st = init_locked(threads, strict, err);
    pthread_mutex_unlock(&eq_blas_lock);
    return st;
}

eq_status eq_blas_init(int threads, eq_error *err)
{
    return init(threads, 1, err);
}

const eq_blas_info *eq_blas_info_get(void)
{
    init(0, 0, NULL);
    return &eq_blas_state;
}

int eq_blas_threads(void)
{
    init(0, 0, NULL);
    return eq_blas_state.threads;
}

void eq_blas_set_threads(int threads)
{
    init(0, 0, NULL);
    int n;
    if (eq_blas_threads_decide(threads, NULL, available_cores(), &n, NULL) != EQ_OK)
        n = 1;
    pthread_mutex_lock(&eq_blas_lock);
    apply_threads(n);
    pthread_mutex_unlock(&eq_blas_lock);
}
