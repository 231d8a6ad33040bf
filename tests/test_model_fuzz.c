/* test_model_fuzz.c - the parser on hostile input: no crash and no leak
 * (run it under the sanitizer build) on truncated files, values of the
 * wrong type at every position, huge numbers, deep nesting, random bytes,
 * and allocation failure at every allocation.
 *
 * Every failure must come back as an error with a status, a message and a
 * terminated path; every success must dump. The loops are sized to keep
 * this program to a few seconds (the IRv2 mutations are sampled). */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_model.h"

/* The zoo plus a fixture with every construct; IRv2 first (it is sampled). */
static const char *const zoo_files[] = {
    "engine/zoo/inception_resnet_v2.json", "engine/zoo/small_cnn.json", "engine/zoo/mlp.json",
    "engine/zoo/scaling_broken.json", "engine/zoo/scaling_fixed.json",
    "engine/zoo/unnamed_layers_broken.json", "engine/zoo/unnamed_layers_fixed.json",
    "tests/fixtures/model/all_constructs.json", NULL};

static char *zoo_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("EQ_SRCDIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : ".", rel);
    return buf;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The contract on any outcome: a model that dumps, or an error that says
 * something. Returns 1 for a model. */
static int check_outcome(eq_model *m, const eq_error *err)
{
    if (m) {
        json_t *d = eq_model_dump(m);
        ck_assert_ptr_nonnull(d);
        json_decref(d);
        eq_model_free(m);
        return 1;
    }
    ck_assert_int_ne(err->status, EQ_OK);
    ck_assert_int_gt(strlen(err->message), 0);
    ck_assert_int_lt(strlen(err->path), sizeof err->path);
    return 0;
}

/* ---- truncation ------------------------------------------------------------- */

START_TEST(every_prefix_of_every_zoo_file)
{
    for (const char *const *f = zoo_files; *f; f++) {
        char *text = read_text(zoo_path(*f));
        size_t n = strlen(text);
        int ok = 0;
        for (size_t len = 0; len <= n; len++) {
            char saved = text[len];
            text[len] = '\0';
            eq_error err;
            eq_model *m = eq_model_parse_string(text, NULL, &err);
            if (check_outcome(m, &err)) {
                ok++;
                /* only the whole text (maybe without its last newline) parses */
                ck_assert_uint_ge(len, n - 1);
            } else {
                ck_assert_int_eq(err.status, EQ_ERR_INVALID);
            }
            text[len] = saved;
        }
        ck_assert_int_ge(ok, 1);
        free(text);
    }
}
END_TEST

/* ---- wrong types at every position ----------------------------------------- */

typedef struct position {
    json_t *parent;  /* object or array */
    const char *key; /* NULL: index */
    size_t index;
} position;

typedef struct positions {
    position *v;
    size_t n, cap;
} positions;

static void add_position(positions *ps, json_t *parent, const char *key, size_t index)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 256;
        ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
    }
    ps->v[ps->n++] = (position){parent, key, index};
}

static void collect(json_t *j, positions *ps)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            add_position(ps, j, k, 0);
            collect(v, ps);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            add_position(ps, j, NULL, i);
            collect(v, ps);
        }
    }
}

static json_t *get_at(const position *p)
{
    return p->key ? json_object_get(p->parent, p->key) : json_array_get(p->parent, p->index);
}

static void set_at(const position *p, json_t *v)
{
    /* Replacing keeps an object's key order (jansson updates in place). */
    int rc = p->key ? json_object_set(p->parent, p->key, v)
                    : json_array_set(p->parent, p->index, v);
    ck_assert_int_eq(rc, 0);
}

static const char *const replacements[] = {
    "null", "true", "0", "-1", "1e308", "-1e308", "9223372036854775807",
    "-9223372036854775808", "0.5", "\"x\"", "\"$nope\"", "\"$$x\"", "\"input\"", "\"\"",
    "[]", "[1, 2]", "[[1], [2, 3]]", "{}", "{\"kind\": \"zeros\"}", "{\"l2\": 1}", NULL};

/* Replace the value at every `stride`-th position by each replacement in
 * turn (and drop the member or add an unknown one), parse, restore. */
static long mutate(const char *file, size_t stride, size_t offset)
{
    json_t *model = json_load_file(zoo_path(file), 0, NULL);
    ck_assert_ptr_nonnull(model);
    json_t *reps[32];
    int n_reps = 0;
    for (const char *const *r = replacements; *r; r++) {
        reps[n_reps] = json_loads(*r, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(reps[n_reps]);
        n_reps++;
    }
    positions ps = {0};
    collect(model, &ps);
    long parses = 0, models = 0, unknown_key_errors = 0;
    for (size_t i = offset; i < ps.n; i += stride) {
        const position *p = &ps.v[i];
        json_t *old = json_incref(get_at(p));
        for (int r = 0; r < n_reps; r++) {
            set_at(p, reps[r]);
            eq_error err;
            models += check_outcome(eq_model_parse(model, NULL, NULL, &err), &err);
            parses++;
        }
        set_at(p, old);
        json_decref(old);
    }
    /* Structural mutations on copies: drop a member, add an unknown one. */
    for (size_t i = offset; i < ps.n; i += stride * 4) {
        json_t *copy = json_deep_copy(model);
        positions cs = {0};
        collect(copy, &cs);
        ck_assert_uint_eq(cs.n, ps.n);
        const position *p = &cs.v[i];
        if (p->key)
            json_object_del(p->parent, p->key);
        else
            json_array_remove(p->parent, p->index);
        eq_error err;
        models += check_outcome(eq_model_parse(copy, NULL, NULL, &err), &err);
        json_t *v = get_at(&ps.v[i]);
        if (json_is_object(v)) {
            json_t *c2 = json_deep_copy(model);
            positions cs2 = {0};
            collect(c2, &cs2);
            json_object_set_new(get_at(&cs2.v[i]), "zzz_unknown", json_true());
            eq_error err2;
            /* an error, unless the object is in an `if` arm not taken */
            unknown_key_errors +=
                !check_outcome(eq_model_parse(c2, NULL, NULL, &err2), &err2);
            free(cs2.v);
            json_decref(c2);
        }
        free(cs.v);
        json_decref(copy);
        parses += 2;
    }
    /* the unmutated model still parses */
    eq_error err;
    ck_assert_int_eq(check_outcome(eq_model_parse(model, NULL, NULL, &err), &err), 1);
    for (int r = 0; r < n_reps; r++)
        json_decref(reps[r]);
    free(ps.v);
    json_decref(model);
    ck_assert_int_gt(parses, 0);
    ck_assert_int_gt(unknown_key_errors, 0);
    return models;
}

START_TEST(wrong_types_everywhere_small_models)
{
    for (const char *const *f = zoo_files + 1; *f; f++) {
        long models = mutate(*f, 1, 0);
        /* Some replacements are valid (a number for a number). */
        ck_assert_int_gt(models, 0);
    }
}
END_TEST

START_TEST(wrong_types_sampled_inception_resnet_v2)
{
    /* ~1/7 of the ~2,600 positions; the offset moves the sample per run
     * of the loop so params, blocks and body are all hit. */
    ck_assert_int_gt(mutate("engine/zoo/inception_resnet_v2.json", 7, 3), 0);
}
END_TEST

/* ---- huge numbers, deep nesting, long strings ------------------------------- */

static void expect_error_status(const char *text, eq_status want)
{
    eq_error err;
    eq_model *m = eq_model_parse_string(text, NULL, &err);
    ck_assert_int_eq(check_outcome(m, &err), 0);
    ck_assert_msg(err.status == want, "status %s, want %s: %s: %s", eq_status_name(err.status),
                  eq_status_name(want), err.path, err.message);
}

static char *repeat_text(const char *head, const char *open, int n, const char *mid,
                         const char *close, const char *tail)
{
    size_t len = strlen(head) + n * (strlen(open) + strlen(close)) + strlen(mid) + strlen(tail) + 1;
    char *s = malloc(len);
    char *p = s;
    p += sprintf(p, "%s", head);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "%s", mid);
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", close);
    sprintf(p, "%s", tail);
    return s;
}

START_TEST(deep_nesting)
{
    /* deeper than jansson's own limit */
    char *s = repeat_text("{\"body\": ", "[", 5000, "", "]", ", \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_INVALID);
    free(s);
    /* scopes, residuals, branches, conditions and values past our limits */
    s = repeat_text("{\"body\": [", "{\"scope\": \"s\", \"body\": [", 600, "",
                    "]}", "], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    free(s);
    s = repeat_text("{\"body\": [", "{\"residual\": {\"body\": [", 400, "", "]}}",
                    "], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    free(s);
    s = repeat_text("{\"body\": [", "{\"branches\": [[", 600, "", "]]}",
                    "], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    free(s);
    s = repeat_text("{\"body\": [{\"if\": ", "{\"not\": ", 1000, "true", "}",
                    ", \"body\": []}], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    free(s);
    s = repeat_text("{\"body\": [{\"if\": ", "[", 1000, "true", "]",
                    ", \"body\": []}], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    free(s);
    s = repeat_text("{\"body\": [{\"constant\": {\"data\": ", "[", 1500, "1", "]",
                    "}}], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_INVALID);
    free(s);
    s = repeat_text("{\"params\": {\"p\": {\"default\": ", "[", 1500, "1", "]",
                    "}}, \"body\": [{\"conv2d\": {\"filters\": 1, \"kernel\": \"$p\"}}],"
                    " \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_INVALID);
    free(s);
    /* a deeply nested value in an ignored place is fine */
    s = repeat_text("{\"params\": {\"p\": {\"default\": ", "{\"a\": ", 1500, "1", "}",
                    "}}, \"body\": [], \"outputs\": [\"input\"]}");
    eq_error err;
    ck_assert_int_eq(check_outcome(eq_model_parse_string(s, NULL, &err), &err), 1);
    free(s);
}
END_TEST

START_TEST(many_blocks_and_long_strings)
{
    /* 3000 blocks calling the next: the static check stops at depth 64 */
    size_t cap = 1 << 20;
    char *s = malloc(cap);
    size_t len = (size_t)sprintf(s, "{\"blocks\": {");
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(s + len, "%s\"b%d\": {\"body\": [{\"block\": \"b%d\"}]}",
                               i ? ", " : "", i, i + 1 < 3000 ? i + 1 : 0);
    sprintf(s + len, "}, \"body\": [{\"block\": \"b0\"}], \"outputs\": [\"input\"]}");
    expect_error_status(s, EQ_ERR_LIMIT);
    /* 3000 independent blocks, each called once */
    len = (size_t)sprintf(s, "{\"blocks\": {");
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(s + len, "%s\"b%d\": {\"body\": [{\"relu\": {}}]}", i ? ", " : "",
                               i);
    len += (size_t)sprintf(s + len, "}, \"body\": [");
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(s + len, "%s{\"block\": \"b%d\"}", i ? ", " : "", i);
    sprintf(s + len, "], \"outputs\": [\"input\"]}");
    eq_error err;
    eq_model *m = eq_model_parse_string(s, NULL, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->n_body, 3000);
    ck_assert_str_eq(m->body[2999]->default_name, "b2999");
    eq_model_free(m);
    /* a 100,000 character name and key: messages stay within their buffers */
    char *big = malloc(100001);
    memset(big, 'a', 100000);
    big[100000] = '\0';
    snprintf(s, cap, "{\"body\": [{\"relu\": {\"name\": \"%s/\"}}], \"outputs\": [\"input\"]}",
             big);
    expect_error_status(s, EQ_ERR_INVALID);
    snprintf(s, cap, "{\"body\": [{\"relu\": {\"%s\": 1}}], \"outputs\": [\"input\"]}", big);
    expect_error_status(s, EQ_ERR_INVALID);
    snprintf(s, cap, "{\"body\": [{\"block\": \"%s\"}], \"outputs\": [\"input\"]}", big);
    expect_error_status(s, EQ_ERR_INVALID);
    snprintf(s, cap, "{\"body\": [{\"dense\": {\"units\": \"$%s\"}}], \"outputs\": [\"input\"]}",
             big);
    expect_error_status(s, EQ_ERR_INVALID);
    free(big);
    free(s);
    /* numbers jansson itself refuses */
    expect_error_status("{\"body\": [{\"mul\": {\"value\": 1e999}}], \"outputs\": [\"input\"]}",
                        EQ_ERR_INVALID);
    expect_error_status("{\"body\": [{\"dense\": {\"units\": 99999999999999999999}}],"
                        " \"outputs\": [\"input\"]}",
                        EQ_ERR_INVALID);
}
END_TEST

/* ---- random bytes ------------------------------------------------------------ */

START_TEST(random_byte_flips)
{
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (const char *const *f = zoo_files; *f; f++) {
        char *text = read_text(zoo_path(*f));
        size_t n = strlen(text);
        char *work = malloc(n + 1);
        int rounds = f == zoo_files ? 300 : 600;
        for (int r = 0; r < rounds; r++) {
            memcpy(work, text, n + 1);
            int flips = 1 + r % 4;
            for (int k = 0; k < flips; k++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(state >> 33) % n;
                static const char pool[] = "{}[]\",:0-9e.$ \\truefalsn";
                char c = pool[(state >> 20) % (sizeof pool - 1)];
                work[at] = c ? c : 'x';
            }
            eq_error err;
            check_outcome(eq_model_parse_string(work, NULL, &err), &err);
        }
        free(work);
        free(text);
    }
}
END_TEST

/* ---- allocation failure -------------------------------------------------------- */

/* Fail allocation n = 1, 2, ... until the call succeeds without reaching
 * the failure. Each failure must be EQ_ERR_NOMEM with nothing leaked; a
 * success despite a failure must give the same model. */
static void oom_parse(const char *file, const char *args_text, int sticky)
{
    json_t *model = json_load_file(zoo_path(file), 0, NULL);
    json_t *args = args_text ? json_loads(args_text, 0, NULL) : NULL;
    eq_model *ref_m = eq_model_parse(model, args, NULL, NULL);
    ck_assert_ptr_nonnull(ref_m);
    json_t *ref = eq_model_dump(ref_m);
    eq_model_free(ref_m);
    long n;
    for (n = 1;; n++) {
        eq_error err;
        eq_alloc_fail_after(n, sticky);
        eq_model *m = eq_model_parse(model, args, NULL, &err);
        long used = eq_alloc_count();
        eq_alloc_fail_after(0, 0);
        if (!m) {
            ck_assert_msg(err.status == EQ_ERR_NOMEM, "%s n=%ld: %s: %s", file, n, err.path,
                          err.message);
            continue;
        }
        json_t *d = eq_model_dump(m);
        ck_assert(json_equal(d, ref));
        json_decref(d);
        eq_model_free(m);
        if (n > used)
            break;
    }
    ck_assert_int_gt(n, 3);
    json_decref(ref);
    json_decref(args);
    json_decref(model);
}

START_TEST(out_of_memory_parse)
{
    for (const char *const *f = zoo_files; *f; f++)
        oom_parse(*f, NULL, 0);
    oom_parse("engine/zoo/inception_resnet_v2.json", "{\"create_aux_logits\": false}", 1);
    oom_parse("engine/zoo/small_cnn.json", "{\"num_classes\": 3}", 1);
    oom_parse("tests/fixtures/model/all_constructs.json", "{\"deep\": false}", 1);
}
END_TEST

START_TEST(out_of_memory_parse_string_and_dump)
{
    /* jansson allocates through eq_malloc too (main), so reading fails.
     * Sticky failures here: jansson 2.14's lexer drops a byte when a
     * string buffer cannot grow and then reads past it (load.c lex_save),
     * so a single failure followed by successes can crash jansson itself. */
    const char *const files[] = {"engine/zoo/small_cnn.json",
                                 "tests/fixtures/model/all_constructs.json", NULL};
    for (const char *const *f = files; *f; f++) {
        char *text = read_text(zoo_path(*f));
        long n;
        for (n = 1;; n++) {
            eq_error err;
            eq_alloc_fail_after(n, 1);
            eq_model *m = eq_model_parse_string(text, NULL, &err);
            long used = eq_alloc_count();
            eq_alloc_fail_after(0, 0);
            if (!m) {
                /* jansson's lexer turns some allocation failures into a
                 * syntax error; ours are always NOMEM. */
                ck_assert_msg(err.status == EQ_ERR_NOMEM || err.status == EQ_ERR_INVALID,
                              "n=%ld: %s", n, err.message);
                continue;
            }
            eq_model_free(m);
            if (n > used)
                break;
        }
        ck_assert_int_gt(n, 10);
        eq_model *m = eq_model_parse_string(text, NULL, NULL);
        json_t *ref = eq_model_dump(m);
        for (n = 1;; n++) {
            eq_alloc_fail_after(n, 0);
            json_t *d = eq_model_dump(m);
            long used = eq_alloc_count();
            eq_alloc_fail_after(0, 0);
            if (d) {
                ck_assert(json_equal(d, ref));
                json_decref(d);
                if (n > used)
                    break;
            }
        }
        ck_assert_int_gt(n, 10);
        json_decref(ref);
        eq_model_free(m);
        free(text);
    }
}
END_TEST

static Suite *fuzz_suite(void)
{
    Suite *s = suite_create("model_fuzz");
    TCase *t = tcase_create("fuzz");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, every_prefix_of_every_zoo_file);
    tcase_add_test(t, wrong_types_everywhere_small_models);
    tcase_add_test(t, wrong_types_sampled_inception_resnet_v2);
    tcase_add_test(t, deep_nesting);
    tcase_add_test(t, many_blocks_and_long_strings);
    tcase_add_test(t, random_byte_flips);
    tcase_add_test(t, out_of_memory_parse);
    tcase_add_test(t, out_of_memory_parse_string_and_dump);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* Before any JSON exists: jansson's allocations go through the failure
     * injection too. */
    json_set_alloc_funcs(eq_malloc, eq_free);
    SRunner *sr = srunner_create(fuzz_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
