/* eq_init.c - variable initializers: compat.v1 init_ops and tf-slim's
 * (spec 2.7). Each fill reproduces the Python of its source: the same double
 * arithmetic for limits and stddevs, then one Python-level random op. */
#include "eq_rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* std of N(0,1) truncated to [-2, 2] (scipy truncnorm(-2, 2).std()), the
 * correction compat.v1 VarianceScaling applies to truncated normals. */
#define TRUNCNORM_STD 0.87962566103423978

typedef struct preset {
    const char *name;
    eq_init_kind kind;
    double scale;
    eq_fan_mode mode;
    eq_vs_distribution distribution;
} preset;

static const preset PRESETS[] = {
    {"zeros", EQ_INIT_ZEROS, 0, 0, 0},
    {"ones", EQ_INIT_ONES, 0, 0, 0},
    {"constant", EQ_INIT_CONSTANT, 0, 0, 0},
    {"random_uniform", EQ_INIT_RANDOM_UNIFORM, 0, 0, 0},
    {"random_normal", EQ_INIT_RANDOM_NORMAL, 0, 0, 0},
    {"truncated_normal", EQ_INIT_TRUNCATED_NORMAL, 0, 0, 0},
    {"variance_scaling", EQ_INIT_VARIANCE_SCALING, 1.0, EQ_FAN_IN, EQ_VS_TRUNCATED_NORMAL},
    {"glorot_uniform", EQ_INIT_VARIANCE_SCALING, 1.0, EQ_FAN_AVG, EQ_VS_UNIFORM},
    {"glorot_normal", EQ_INIT_VARIANCE_SCALING, 1.0, EQ_FAN_AVG, EQ_VS_TRUNCATED_NORMAL},
    {"he_normal", EQ_INIT_VARIANCE_SCALING, 2.0, EQ_FAN_IN, EQ_VS_TRUNCATED_NORMAL},
    {"he_uniform", EQ_INIT_VARIANCE_SCALING, 2.0, EQ_FAN_IN, EQ_VS_UNIFORM},
    {"lecun_normal", EQ_INIT_VARIANCE_SCALING, 1.0, EQ_FAN_IN, EQ_VS_TRUNCATED_NORMAL},
    {"lecun_uniform", EQ_INIT_VARIANCE_SCALING, 1.0, EQ_FAN_IN, EQ_VS_UNIFORM},
    {"xavier_uniform", EQ_INIT_SLIM_VARIANCE_SCALING, 1.0, EQ_FAN_AVG, EQ_VS_UNIFORM},
    {"xavier_normal", EQ_INIT_SLIM_VARIANCE_SCALING, 1.0, EQ_FAN_AVG, EQ_VS_TRUNCATED_NORMAL},
    {"xavier_initializer", EQ_INIT_SLIM_VARIANCE_SCALING, 1.0, EQ_FAN_AVG, EQ_VS_UNIFORM},
    {"slim_variance_scaling", EQ_INIT_SLIM_VARIANCE_SCALING, 2.0, EQ_FAN_IN,
     EQ_VS_TRUNCATED_NORMAL},
};
#define NPRESETS (sizeof PRESETS / sizeof PRESETS[0])

const char *eq_init_known_names(void)
{
    return "zeros ones constant random_uniform random_normal truncated_normal "
           "variance_scaling glorot_uniform glorot_normal he_normal he_uniform "
           "lecun_normal lecun_uniform xavier_uniform xavier_normal xavier_initializer "
           "slim_variance_scaling";
}

eq_status eq_init_parse(const char *name, eq_init *out, eq_error *err)
{
    EQ_ASSERT(out);
    for (size_t i = 0; name && i < NPRESETS; i++) {
        const preset *p = &PRESETS[i];
        if (strcmp(name, p->name) != 0)
            continue;
        memset(out, 0, sizeof *out);
        out->kind = p->kind;
        out->name = p->name;
        out->uniform = eq_uniform_args_default();
        out->mean = 0.0;
        out->stddev = 1.0;
        out->scale = p->scale;
        out->mode = p->mode;
        out->distribution = p->distribution;
        return EQ_OK;
    }
    return eq_error_set(err, EQ_ERR_INVALID, "unknown initializer '%s'; known initializers: %s",
                        name ? name : "(null)", eq_init_known_names());
}

eq_status eq_init_mode_parse(const char *s, eq_fan_mode *out, eq_error *err)
{
    static const char *names[] = {"fan_in", "fan_out", "fan_avg"};
    for (int i = 0; s && i < 3; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (eq_fan_mode)i;
            return EQ_OK;
        }
    return eq_error_set(err, EQ_ERR_INVALID,
                        "invalid variance scaling mode '%s'; expected fan_in, fan_out or fan_avg",
                        s ? s : "(null)");
}

eq_status eq_init_distribution_parse(const char *s, eq_vs_distribution *out, eq_error *err)
{
    static const char *names[] = {"truncated_normal", "normal", "untruncated_normal",
                                  "uniform"};
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (eq_vs_distribution)i;
            return EQ_OK;
        }
    return eq_error_set(err, EQ_ERR_INVALID,
                        "invalid variance scaling distribution '%s'; expected truncated_normal, "
                        "normal, untruncated_normal or uniform",
                        s ? s : "(null)");
}

static const char *init_label(const eq_init *init)
{
    return init->name ? init->name : "initializer";
}

eq_status eq_init_check(const eq_init *init, eq_error *err)
{
    EQ_ASSERT(init);
    switch (init->kind) {
    case EQ_INIT_ZEROS:
    case EQ_INIT_ONES:
    case EQ_INIT_CONSTANT:
    case EQ_INIT_RANDOM_UNIFORM:
    case EQ_INIT_RANDOM_NORMAL:
    case EQ_INIT_TRUNCATED_NORMAL:
        return EQ_OK;
    case EQ_INIT_VARIANCE_SCALING:
        if (!(init->scale > 0.0))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "%s: scale must be a positive float, got %g", init_label(init),
                                init->scale);
        if ((unsigned)init->mode > EQ_FAN_AVG || (unsigned)init->distribution > EQ_VS_UNIFORM)
            return eq_error_set(err, EQ_ERR_INVALID, "%s: invalid mode or distribution",
                                init_label(init));
        return EQ_OK;
    case EQ_INIT_SLIM_VARIANCE_SCALING:
        /* Python would fail in math.sqrt on a negative factor. */
        if (!(init->scale >= 0.0))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "%s: factor must be >= 0 (sqrt of a negative), got %g",
                                init_label(init), init->scale);
        if ((unsigned)init->mode > EQ_FAN_AVG)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "%s: unknown mode; slim takes FAN_IN, FAN_OUT or FAN_AVG",
                                init_label(init));
        if (init->distribution != EQ_VS_UNIFORM && init->distribution != EQ_VS_TRUNCATED_NORMAL)
            return eq_error_set(err, EQ_ERR_INVALID,
                                "%s: slim variance scaling is uniform or truncated_normal "
                                "(uniform=False) only",
                                init_label(init));
        return EQ_OK;
    }
    return eq_error_set(err, EQ_ERR_INVALID, "unknown initializer kind %d", (int)init->kind);
}

int eq_init_is_random(const eq_init *init)
{
    return init->kind != EQ_INIT_ZEROS && init->kind != EQ_INIT_ONES &&
           init->kind != EQ_INIT_CONSTANT;
}

eq_rng_op eq_init_rng_op(const eq_init *init)
{
    switch (init->kind) {
    case EQ_INIT_RANDOM_NORMAL:
        return EQ_RNG_NORMAL;
    case EQ_INIT_TRUNCATED_NORMAL:
        return EQ_RNG_TRUNCATED_NORMAL;
    case EQ_INIT_VARIANCE_SCALING:
        if (init->distribution == EQ_VS_UNIFORM)
            return EQ_RNG_UNIFORM;
        return init->distribution == EQ_VS_UNTRUNCATED_NORMAL ? EQ_RNG_NORMAL
                                                              : EQ_RNG_TRUNCATED_NORMAL;
    case EQ_INIT_SLIM_VARIANCE_SCALING:
        return init->distribution == EQ_VS_UNIFORM ? EQ_RNG_UNIFORM : EQ_RNG_TRUNCATED_NORMAL;
    default:
        return EQ_RNG_UNIFORM;
    }
}

/* ---- fans ----------------------------------------------------------------- */

eq_fans eq_init_fans(int rank, const int64_t *shape)
{
    eq_fans f = {1.0, 1.0};
    if (rank == 1) {
        f.fan_in = f.fan_out = (double)shape[0];
    } else if (rank == 2) {
        f.fan_in = (double)shape[0];
        f.fan_out = (double)shape[1];
    } else if (rank >= 3) {
        int64_t receptive = 1; /* Python ints: exact product, then float */
        for (int i = 0; i < rank - 2; i++)
            receptive *= shape[i];
        f.fan_in = (double)(shape[rank - 2] * receptive);
        f.fan_out = (double)(shape[rank - 1] * receptive);
    }
    return f;
}

eq_fans eq_init_fans_slim(int rank, const int64_t *shape)
{
    eq_fans f = {1.0, 1.0};
    if (rank == 0)
        return f;
    f.fan_in = rank > 1 ? (double)shape[rank - 2] : (double)shape[rank - 1];
    f.fan_out = (double)shape[rank - 1];
    for (int i = 0; i < rank - 2; i++) { /* float products, in this order */
        f.fan_in *= (double)shape[i];
        f.fan_out *= (double)shape[i];
    }
    return f;
}

static double pick_fan(eq_fans f, eq_fan_mode mode)
{
    switch (mode) {
    case EQ_FAN_IN: return f.fan_in;
    case EQ_FAN_OUT: return f.fan_out;
    case EQ_FAN_AVG: break;
    }
    return (f.fan_in + f.fan_out) / 2.0;
}

/* ---- fill ----------------------------------------------------------------- */

typedef enum { DRAW_UNIFORM, DRAW_NORMAL, DRAW_TRUNCATED } draw_kind;

/* One Python-level op into t, in t's dtype. */
static eq_status draw(eq_rng_kernel *k, draw_kind kind, const eq_uniform_args *u, double mean,
                      double stddev, eq_tensor *t, eq_error *err)
{
    int64_t n = eq_tensor_numel(t);
    int f64 = t->dtype == EQ_F64;
    switch (kind) {
    case DRAW_UNIFORM:
        return f64 ? eq_random_uniform_f64(k, u, eq_tensor_f64(t), n, err)
                   : eq_random_uniform_f32(k, u, eq_tensor_f32(t), n, err);
    case DRAW_NORMAL:
        return f64 ? eq_random_normal_f64(k, mean, stddev, eq_tensor_f64(t), n, err)
                   : eq_random_normal_f32(k, mean, stddev, eq_tensor_f32(t), n, err);
    case DRAW_TRUNCATED:
        break;
    }
    return f64 ? eq_random_truncated_normal_f64(k, mean, stddev, eq_tensor_f64(t), n, err)
               : eq_random_truncated_normal_f32(k, mean, stddev, eq_tensor_f32(t), n, err);
}

/* random_uniform(shape, -limit, limit) with Python floats as bounds. */
static eq_status draw_symmetric(eq_rng_kernel *k, double limit, eq_tensor *t, eq_error *err)
{
    eq_uniform_args u = {-limit, limit, 0};
    return draw(k, DRAW_UNIFORM, &u, 0, 0, t, err);
}

static eq_status fill_variance_scaling(const eq_init *init, eq_rng_kernel *k, eq_tensor *t,
                                       eq_error *err)
{
    double n = pick_fan(eq_init_fans(t->rank, t->shape), init->mode);
    double s = init->scale / (n > 1.0 ? n : 1.0);
    switch (init->distribution) {
    case EQ_VS_UNIFORM:
        return draw_symmetric(k, sqrt(3.0 * s), t, err);
    case EQ_VS_UNTRUNCATED_NORMAL:
        return draw(k, DRAW_NORMAL, NULL, 0.0, sqrt(s), t, err);
    case EQ_VS_TRUNCATED_NORMAL:
    case EQ_VS_NORMAL:
        break;
    }
    return draw(k, DRAW_TRUNCATED, NULL, 0.0, sqrt(s) / TRUNCNORM_STD, t, err);
}

static eq_status fill_slim(const eq_init *init, eq_rng_kernel *k, eq_tensor *t, eq_error *err)
{
    double n = pick_fan(eq_init_fans_slim(t->rank, t->shape), init->mode);
    if (n == 0.0) {
        char buf[96];
        return eq_error_set(err, EQ_ERR_INVALID,
                            "%s: shape %s has a zero fan (tf-slim divides by it)",
                            init_label(init), eq_shape_str(t->rank, t->shape, buf, sizeof buf));
    }
    if (init->distribution == EQ_VS_UNIFORM)
        return draw_symmetric(k, sqrt(3.0 * init->scale / n), t, err);
    /* slim's own truncated stddev: 1.3 instead of 1/0.8796^2, by design. */
    return draw(k, DRAW_TRUNCATED, NULL, 0.0, sqrt(1.3 * init->scale / n), t, err);
}

eq_status eq_init_fill(const eq_init *init, eq_rng_kernel *k, eq_tensor *t, eq_error *err)
{
    EQ_ASSERT(init && t);
    eq_status st = eq_init_check(init, err);
    if (st)
        return st;
    if (t->dtype != EQ_F32 && t->dtype != EQ_F64)
        return eq_error_set(err, EQ_ERR_UNSUPPORTED, "%s: dtype %s is not supported",
                            init_label(init), eq_dtype_name(t->dtype));
    if (eq_init_is_random(init) && !k)
        return eq_error_set(err, EQ_ERR_INVALID, "%s is random but no random kernel was given",
                            init_label(init));
    switch (init->kind) {
    case EQ_INIT_ZEROS:
        eq_tensor_fill(t, 0.0);
        return EQ_OK;
    case EQ_INIT_ONES:
        eq_tensor_fill(t, 1.0);
        return EQ_OK;
    case EQ_INIT_CONSTANT:
        eq_tensor_fill(t, init->value);
        return EQ_OK;
    case EQ_INIT_RANDOM_UNIFORM:
        return draw(k, DRAW_UNIFORM, &init->uniform, 0, 0, t, err);
    case EQ_INIT_RANDOM_NORMAL:
        return draw(k, DRAW_NORMAL, NULL, init->mean, init->stddev, t, err);
    case EQ_INIT_TRUNCATED_NORMAL:
        return draw(k, DRAW_TRUNCATED, NULL, init->mean, init->stddev, t, err);
    case EQ_INIT_VARIANCE_SCALING:
        return fill_variance_scaling(init, k, t, err);
    case EQ_INIT_SLIM_VARIANCE_SCALING:
        return fill_slim(init, k, t, err);
    }
    return EQ_ERR_INVALID; /* unreachable: eq_init_check rejected the kind */
}
