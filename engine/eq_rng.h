/* eq_rng.h - random numbers exactly as TensorFlow makes them.
 *
 * Specification: shared/spec/random-and-naming.md, sections 1-4. The layers,
 * bottom up:
 *
 *   eq_philox_*      Philox4x32-10 (TF's tsl PhiloxRandom): a counter-based
 *                    generator; a block is 4 u32 words; skip is O(1).
 *   eq_rng_kernel_*  one stateful random kernel (TF's per-op, per-session
 *                    generator): seeded from the op attributes (seed, seed2);
 *                    every execution of N elements reads a snapshot and moves
 *                    the kernel on by N*256 blocks (the "256 rule").
 *   eq_random_*      the Python-level ops (tf.random.uniform / normal /
 *                    truncated_normal): the raw kernel output, then separate
 *                    float ops for the scaling, each rounded to the dtype.
 *   eq_init_*        initializers (compat.v1 init_ops and tf-slim), named so
 *                    the model language can refer to them.
 *   eq_seed_*        seed derivation (get_seed, graph counter, eager MT19937
 *                    op seeds), the seed context of a graph or of the eager
 *                    runtime, and the DeterministicRandomTestTool policy.
 *   eq_rng_cache_*   the eager kernel cache: a reused seed pair continues
 *                    its stream; set_seed clears it.
 *
 * How a backend makes one random tensor (e.g. a variable's initial value):
 *
 *   eq_seed_pair s;                                 // tf.compat.v1.get_seed
 *   if (eq_seed_ctx_get_seed(ctx, NULL, &s, err)) return ...;  // op seed None
 *   eq_rng_kernel *k;                               // graph: one per node,
 *   eq_rng_kernel own;                              // eager: from the cache
 *   if (eager) eq_seed_ctx_kernel(ctx, eq_init_rng_op(&init), EQ_RNG_F32, s, &k, err);
 *   else { eq_rng_kernel_init(&own, s, err); k = &own; }
 *   eq_init_fill(&init, k, tensor, err);
 *
 * A pair (0, 0) means "unseeded" (TF would seed from the OS). Nothing here
 * does that silently: eq_rng_kernel_init refuses (0, 0) and only
 * eq_rng_kernel_init_nondeterministic reads the OS entropy source.
 *
 * Threads: a kernel, cache, seed context or policy is used by one thread at
 * a time (TF's mutex around the kernel is the caller's business here).
 * Float arithmetic relies on the project's ISO C mode (-std=c11), in which
 * GCC does not contract a*b+c into an FMA: TF rounds the product and the
 * sum separately.
 */
#ifndef EQ_RNG_H
#define EQ_RNG_H

#include <stdint.h>

#include "eq_error.h"
#include "eq_tensor.h"

/* ==== Philox4x32-10 (spec 1) ============================================ */

typedef struct eq_philox {
    uint32_t key[2]; /* k0, k1 */
    uint32_t ctr[4]; /* 128-bit counter, ctr[0] least significant */
} eq_philox;

/* TF's seeding from op attributes: key = (lo(seed), hi(seed)), counter =
 * (0, 0, lo(seed2), hi(seed2)). No (0,0) check here; see eq_rng_kernel_init. */
void eq_philox_init(eq_philox *g, int64_t seed, int64_t seed2);
/* The block function: 10 rounds on (ctr, key), key bumped between rounds. */
void eq_philox_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Same with a round count (Random123 also publishes 7-round vectors). */
void eq_philox_block_rounds(const uint32_t ctr[4], const uint32_t key[2],
                            int rounds, uint32_t out[4]);
/* The block at the current counter, then counter += 1 (carry over 128 bits). */
void eq_philox_next(eq_philox *g, uint32_t out[4]);
/* nblocks consecutive blocks into words[4*nblocks], as many eq_philox_next
 * calls would, but faster. */
void eq_philox_fill(eq_philox *g, uint32_t *words, int64_t nblocks);
/* counter += n, full 128-bit carry, O(1). (TF drops a carry only for
 * n >= 2^64 - 2^32, which no kernel reaches.) */
void eq_philox_skip(eq_philox *g, uint64_t n);

/* ==== word -> value transforms (spec 2.1, 2.2, 2.4) ===================== */

/* Multiples of 2^-23 in [0, 1): the low 23 bits as a mantissa of [1,2), minus 1. */
float eq_rng_u32_to_float(uint32_t x);
/* 52-bit mantissa ((x0 & 0xFFFFF) << 32 | x1) in [1,2), minus 1. */
double eq_rng_u64_to_double(uint32_t x0, uint32_t x1);
/* Box-Muller (basic form): x0 feeds the radius, x1 the angle; sine first. */
void eq_rng_box_muller_f32(uint32_t x0, uint32_t x1, float *z0, float *z1);
void eq_rng_box_muller_f64(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3,
                           double *z0, double *z1);

/* ==== stateful random kernels (spec 1.3, 1.4, 2) ======================== */

typedef struct eq_seed_pair {
    int64_t seed;  /* the global/graph seed: Philox key */
    int64_t seed2; /* the op seed: counter substream */
} eq_seed_pair;

/* The TF op types, because the eager kernel cache keys on the op type. */
typedef enum eq_rng_op {
    EQ_RNG_UNIFORM = 0,      /* RandomUniform */
    EQ_RNG_NORMAL,           /* RandomStandardNormal */
    EQ_RNG_TRUNCATED_NORMAL, /* TruncatedNormal */
    EQ_RNG_UNIFORM_INT       /* RandomUniformInt */
} eq_rng_op;

typedef enum eq_rng_dtype { EQ_RNG_F32 = 0, EQ_RNG_F64, EQ_RNG_I32, EQ_RNG_I64 } eq_rng_dtype;

const char *eq_rng_op_name(eq_rng_op op);         /* "RandomUniform", ... */
const char *eq_rng_dtype_name(eq_rng_dtype dtype); /* "float32", ..., "int64" */
eq_rng_dtype eq_rng_dtype_of(eq_dtype dtype);      /* EQ_F32 -> EQ_RNG_F32 ... */

typedef struct eq_rng_kernel {
    eq_philox gen;      /* where the next execution starts */
    eq_seed_pair seeds; /* the attributes it was built from */
    int64_t executions; /* how many executions so far */
} eq_rng_kernel;

/* Build a kernel from its (seed, seed2). (0, 0) is the unseeded request:
 * EQ_ERR_STATE unless the caller chooses eq_rng_kernel_init_nondeterministic. */
eq_status eq_rng_kernel_init(eq_rng_kernel *k, eq_seed_pair seeds, eq_error *err);
/* TF's unseeded kernel: seed and seed2 replaced by OS entropy (getrandom).
 * EQ_ERR_IO when the OS gives none. */
eq_status eq_rng_kernel_init_nondeterministic(eq_rng_kernel *k, eq_error *err);
/* The 256 rule: returns the generator at the start of an execution of n
 * elements and moves the kernel on by n*256 blocks. n >= 0. */
eq_philox eq_rng_kernel_reserve(eq_rng_kernel *k, int64_t n);

/* One execution of a raw op producing n elements into out (n >= 0).
 * Fixed-sample ops: element i of float32/int32 comes from block i/4; of
 * float64/int64 from block i/2. Truncated normal: group g of G (4 for f32,
 * 2 for f64) starts at block g*G*64 and rejects |z| >= 2. */
eq_status eq_rng_kernel_uniform_f32(eq_rng_kernel *k, float *out, int64_t n, eq_error *err);
eq_status eq_rng_kernel_uniform_f64(eq_rng_kernel *k, double *out, int64_t n, eq_error *err);
eq_status eq_rng_kernel_normal_f32(eq_rng_kernel *k, float *out, int64_t n, eq_error *err);
eq_status eq_rng_kernel_normal_f64(eq_rng_kernel *k, double *out, int64_t n, eq_error *err);
eq_status eq_rng_kernel_truncated_normal_f32(eq_rng_kernel *k, float *out, int64_t n,
                                             eq_error *err);
eq_status eq_rng_kernel_truncated_normal_f64(eq_rng_kernel *k, double *out, int64_t n,
                                             eq_error *err);
/* [lo, hi): "Need minval < maxval" (EQ_ERR_INVALID) unless lo < hi; an
 * empty output is no error and does not move the kernel (as in TF). */
eq_status eq_rng_kernel_uniform_int32(eq_rng_kernel *k, int32_t lo, int32_t hi,
                                      int32_t *out, int64_t n, eq_error *err);
eq_status eq_rng_kernel_uniform_int64(eq_rng_kernel *k, int64_t lo, int64_t hi,
                                      int64_t *out, int64_t n, eq_error *err);

/* ==== Python-level ops (spec 2.6) ======================================== */

/* random_uniform's bounds. Python decides by the *type* of the bounds: a
 * minval given as the int 0 and a maxval given as the int 1 return the raw
 * output; int 0 with another maxval gives raw*maxval; anything else
 * raw*(maxval-minval)+minval, in the dtype. The flags say which bound was
 * written as an integer (JSON 0 versus 0.0). */
#define EQ_MINVAL_INT 1u
#define EQ_MAXVAL_INT 2u
typedef struct eq_uniform_args {
    double minval;
    double maxval; /* the default maxval=None means the int 1 */
    unsigned flags;
} eq_uniform_args;
/* tf.random.uniform's defaults: minval=0, maxval=None (-> int 1). */
eq_uniform_args eq_uniform_args_default(void);

eq_status eq_random_uniform_f32(eq_rng_kernel *k, const eq_uniform_args *a, float *out,
                                int64_t n, eq_error *err);
eq_status eq_random_uniform_f64(eq_rng_kernel *k, const eq_uniform_args *a, double *out,
                                int64_t n, eq_error *err);
/* raw*stddev + mean, two roundings (mean and stddev first rounded to the dtype). */
eq_status eq_random_normal_f32(eq_rng_kernel *k, double mean, double stddev, float *out,
                               int64_t n, eq_error *err);
eq_status eq_random_normal_f64(eq_rng_kernel *k, double mean, double stddev, double *out,
                               int64_t n, eq_error *err);
eq_status eq_random_truncated_normal_f32(eq_rng_kernel *k, double mean, double stddev,
                                         float *out, int64_t n, eq_error *err);
eq_status eq_random_truncated_normal_f64(eq_rng_kernel *k, double mean, double stddev,
                                         double *out, int64_t n, eq_error *err);

/* ==== initializers (spec 2.7) ============================================ */

typedef enum eq_init_kind {
    EQ_INIT_ZEROS = 0,
    EQ_INIT_ONES,
    EQ_INIT_CONSTANT,              /* value */
    EQ_INIT_RANDOM_UNIFORM,        /* uniform */
    EQ_INIT_RANDOM_NORMAL,         /* mean, stddev */
    EQ_INIT_TRUNCATED_NORMAL,      /* mean, stddev */
    EQ_INIT_VARIANCE_SCALING,      /* compat.v1 VarianceScaling: scale, mode, distribution */
    EQ_INIT_SLIM_VARIANCE_SCALING  /* tf-slim: scale = factor, mode, distribution
                                    * UNIFORM or TRUNCATED_NORMAL (uniform=False) */
} eq_init_kind;

typedef enum eq_fan_mode { EQ_FAN_IN = 0, EQ_FAN_OUT, EQ_FAN_AVG } eq_fan_mode;

typedef enum eq_vs_distribution {
    EQ_VS_TRUNCATED_NORMAL = 0, /* stddev = sqrt(s)/0.8796..., truncated */
    EQ_VS_NORMAL,               /* compat.v1 alias of truncated_normal */
    EQ_VS_UNTRUNCATED_NORMAL,   /* stddev = sqrt(s), random_normal */
    EQ_VS_UNIFORM               /* limit = sqrt(3s) */
} eq_vs_distribution;

typedef struct eq_init {
    eq_init_kind kind;
    const char *name;     /* the preset name it came from ("glorot_uniform"), static */
    double value;         /* CONSTANT */
    eq_uniform_args uniform; /* RANDOM_UNIFORM */
    double mean, stddev;  /* RANDOM_NORMAL, TRUNCATED_NORMAL */
    double scale;         /* VARIANCE_SCALING scale; SLIM_VARIANCE_SCALING factor */
    eq_fan_mode mode;
    eq_vs_distribution distribution;
} eq_init;

/* A named preset with TF's default parameters. Names:
 *   zeros ones constant random_uniform random_normal truncated_normal
 *   variance_scaling glorot_uniform glorot_normal he_normal he_uniform
 *   lecun_normal lecun_uniform            (compat.v1 init_ops, TF fans)
 *   xavier_uniform xavier_normal slim_variance_scaling
 *                                          (tf-slim: slim fans, no max(1,n),
 *                                           normal = sqrt(1.3 f/n), no 0.8796)
 * "xavier_initializer" is slim's default (= xavier_uniform), the weights
 * initializer of slim.conv2d and Inception-ResNet-v2. Unknown names:
 * EQ_ERR_INVALID with the list of known ones. */
eq_status eq_init_parse(const char *name, eq_init *out, eq_error *err);
/* Space-separated list of the names above (for messages and docs). */
const char *eq_init_known_names(void);
/* "fan_in" | "fan_out" | "fan_avg" (any case). */
eq_status eq_init_mode_parse(const char *s, eq_fan_mode *out, eq_error *err);
/* "truncated_normal" | "normal" | "untruncated_normal" | "uniform" (any case). */
eq_status eq_init_distribution_parse(const char *s, eq_vs_distribution *out, eq_error *err);
/* The constructor checks TF makes (compat.v1: scale > 0; slim: factor >= 0;
 * slim takes only uniform or truncated normal). */
eq_status eq_init_check(const eq_init *init, eq_error *err);

/* Whether filling calls get_seed and a random kernel (zeros/ones/constant don't). */
int eq_init_is_random(const eq_init *init);
/* The raw op a random initializer executes (for the kernel cache key). */
eq_rng_op eq_init_rng_op(const eq_init *init);

typedef struct eq_fans {
    double fan_in, fan_out;
} eq_fans;
/* compat.v1/Keras _compute_fans: rank 0 -> (1,1); [n] -> (n,n); [in,out];
 * rank >= 3 (HWIO): in*prod(shape[:-2]), out*prod(shape[:-2]). */
eq_fans eq_init_fans(int rank, const int64_t *shape);
/* tf-slim: fan_in = shape[-2] (shape[-1] for rank 1), fan_out = shape[-1],
 * both times prod(shape[:-2]) multiplied in double; rank 0 -> (1,1). */
eq_fans eq_init_fans_slim(int rank, const int64_t *shape);

/* Fill t (float32 or float64) the way the initializer's Python would. k may
 * be NULL for non-random kinds; random kinds execute exactly one raw op on k.
 * A slim initializer whose n is 0 is EQ_ERR_INVALID (Python divides by zero). */
eq_status eq_init_fill(const eq_init *init, eq_rng_kernel *k, eq_tensor *t, eq_error *err);

/* ==== seed derivation (spec 3) =========================================== */

#define EQ_DEFAULT_GRAPH_SEED INT64_C(87654321)
#define EQ_SEED_MAXINT32 INT64_C(2147483647) /* 2^31 - 1: T's modulus */

/* T(s) = s mod (2^31 - 1), with Python's non-negative result. */
int64_t eq_seed_truncate(int64_t s);

/* Python's random.Random(G) (MT19937, init_by_array on the 32-bit words of |G|). */
typedef struct eq_mt19937 {
    uint32_t mt[624];
    int mti;
} eq_mt19937;
void eq_seed_mt_init(eq_mt19937 *m, int64_t g);
uint32_t eq_seed_mt_next(eq_mt19937 *m);     /* genrand_uint32 */
int64_t eq_seed_mt_op_seed(eq_mt19937 *m);   /* randint(0, 2^31-1): reject >= 2^31 */

/* ---- the eager kernel cache (spec 3.3) ---- */
typedef struct eq_rng_cache eq_rng_cache;
eq_rng_cache *eq_rng_cache_new(void);   /* NULL when out of memory */
void eq_rng_cache_free(eq_rng_cache *c);
/* The kernel for (op, dtype, seeds): the cached one (its stream continues)
 * or a new one at offset 0. The pointer stays valid until clear/free.
 * (0, 0) seeds: EQ_ERR_STATE as in eq_rng_kernel_init. */
eq_status eq_rng_cache_get(eq_rng_cache *c, eq_rng_op op, eq_rng_dtype dtype,
                           eq_seed_pair seeds, eq_rng_kernel **out, eq_error *err);
void eq_rng_cache_clear(eq_rng_cache *c);
int64_t eq_rng_cache_size(const eq_rng_cache *c);

/* ---- the DeterministicRandomTestTool (spec 4) ---- */
typedef enum eq_seed_mode { EQ_SEED_CONSTANT = 0, EQ_SEED_NUM_RANDOM_OPS } eq_seed_mode;
typedef struct eq_seed_policy eq_seed_policy;

/* "constant" | "num_random_ops"; anything else is the tool's ValueError. */
eq_status eq_seed_mode_parse(const char *s, eq_seed_mode *out, eq_error *err);
const char *eq_seed_mode_name(eq_seed_mode mode);
/* The tool's constructor (Python defaults: seed 42, constant). operation_seed
 * starts at 0, no seeds observed. NULL with EQ_ERR_NOMEM in err. */
eq_seed_policy *eq_seed_policy_new(int64_t seed, eq_seed_mode mode, eq_error *err);
void eq_seed_policy_free(eq_seed_policy *p);
int64_t eq_seed_policy_seed(const eq_seed_policy *p);
eq_seed_mode eq_seed_policy_mode(const eq_seed_policy *p);
int64_t eq_seed_policy_operation_seed(const eq_seed_policy *p);
void eq_seed_policy_set_operation_seed(eq_seed_policy *p, int64_t op_seed);
/* The pair the tool's get_seed wrapper returns for the next random op:
 * constant: (seed, operation_seed), unchanged; num_random_ops: (seed,
 * operation_seed) then operation_seed += 1, or EQ_ERR_STATE when that
 * operation seed was already handed out. No T() and no (0,0) rewrite.
 * Constant mode also calls tf.random.set_seed(operation_seed): that side
 * effect is eq_seed_ctx_get_seed's job, so use the context when one exists. */
eq_status eq_seed_policy_next(eq_seed_policy *p, eq_seed_pair *out, eq_error *err);

/* ---- seed contexts: one per graph (FuncGraph), or the eager runtime ---- */
typedef enum eq_seed_ctx_kind { EQ_SEEDS_GRAPH = 0, EQ_SEEDS_EAGER } eq_seed_ctx_kind;
typedef struct eq_seed_ctx eq_seed_ctx;

/* No global seed, no policy, determinism off. NULL when out of memory. */
eq_seed_ctx *eq_seed_ctx_new(eq_seed_ctx_kind kind);
void eq_seed_ctx_free(eq_seed_ctx *ctx);
eq_seed_ctx_kind eq_seed_ctx_kind_of(const eq_seed_ctx *ctx);
/* tf.random.set_seed(g) / set_random_seed. Graph: only graph.seed (the op
 * counter and existing kernels are untouched). Eager: the global seed, a new
 * random.Random(g) for op seeds, and the kernel cache cleared. */
void eq_seed_ctx_set_seed(eq_seed_ctx *ctx, int64_t g);
/* 1 and *g when a global seed is set. */
int eq_seed_ctx_global_seed(const eq_seed_ctx *ctx, int64_t *g);
/* tf.config.experimental.enable_op_determinism: unseeded ops become errors. */
void eq_seed_ctx_set_op_determinism(eq_seed_ctx *ctx, int on);
/* tf.compat.v1.get_seed(op_seed); op_seed NULL means None. With a policy
 * active, the policy decides and op_seed is ignored (as the tool's patch
 * does). (0, 0) in *out means unseeded (TF's (None, None)); with op
 * determinism on that is EQ_ERR_STATE instead. */
eq_status eq_seed_ctx_get_seed(eq_seed_ctx *ctx, const int64_t *op_seed, eq_seed_pair *out,
                               eq_error *err);
/* Eager only: the cached kernel for (op, dtype, seeds); EQ_ERR_STATE for a
 * graph context (graph kernels belong to nodes). */
eq_status eq_seed_ctx_kernel(eq_seed_ctx *ctx, eq_rng_op op, eq_rng_dtype dtype,
                             eq_seed_pair seeds, eq_rng_kernel **out, eq_error *err);
/* The eager cache (NULL for graph contexts). */
eq_rng_cache *eq_seed_ctx_cache(eq_seed_ctx *ctx);
/* `with tool.scope():` enter calls set_seed(policy seed) and routes get_seed
 * to the policy (the context does not own it); EQ_ERR_STATE if a policy is
 * already active. Leave restores the plain get_seed. */
eq_status eq_seed_ctx_enter_policy(eq_seed_ctx *ctx, eq_seed_policy *p, eq_error *err);
void eq_seed_ctx_leave_policy(eq_seed_ctx *ctx);

#endif
