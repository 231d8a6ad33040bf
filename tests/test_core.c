/* test_core.c - errors, allocation wrapper, arenas, buffer pools, tensors. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "eq_alloc.h"
#include "eq_arena.h"
#include "eq_bufpool.h"
#include "eq_error.h"
#include "eq_tensor.h"

START_TEST(error_set_and_prefix)
{
    eq_error err;
    eq_error_clear(&err);
    ck_assert_int_eq(eq_error_set(&err, EQ_ERR_SHAPE, "bad %d", 7), EQ_ERR_SHAPE);
    ck_assert_str_eq(err.message, "bad 7");
    eq_error_prefix(&err, "conv2d '%s': ", "c1");
    ck_assert_str_eq(err.message, "conv2d 'c1': bad 7");
    ck_assert_int_eq(eq_error_set_path(&err, EQ_ERR_INVALID, "body[3].stride", "no"),
                     EQ_ERR_INVALID);
    ck_assert_str_eq(err.path, "body[3].stride");
    ck_assert_str_eq(eq_status_name(EQ_ERR_LIMIT), "limit");
    /* NULL err: the status still comes back. */
    ck_assert_int_eq(eq_error_set(NULL, EQ_ERR_IO, "x"), EQ_ERR_IO);
}
END_TEST

START_TEST(alloc_failure_injection)
{
    eq_alloc_fail_after(2, 0);
    void *a = eq_malloc(8);
    void *b = eq_malloc(8);
    void *c = eq_malloc(8);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(eq_alloc_count(), 3);
    eq_alloc_fail_after(0, 0);
    eq_free(a);
    eq_free(c);
}
END_TEST

START_TEST(arena_alignment_reuse)
{
    eq_arena *a = eq_arena_new(4096);
    ck_assert_ptr_nonnull(a);
    char *p = eq_arena_alloc(a, 10);
    char *q = eq_arena_alloc(a, 10);
    ck_assert_int_eq((uintptr_t)p % 64, 0);
    ck_assert_int_eq((uintptr_t)q % 64, 0);
    ck_assert_int_eq(q - p, 64);
    void *big = eq_arena_alloc(a, 100000); /* larger than a block */
    ck_assert_ptr_nonnull(big);
    size_t cap = eq_arena_capacity(a);
    ck_assert_uint_ge(cap, 100000 + 4096);
    eq_arena_reset(a);
    ck_assert_uint_eq(eq_arena_used(a), 0);
    /* After a reset the same memory comes back: no new blocks. */
    char *p2 = eq_arena_alloc(a, 10);
    ck_assert_ptr_eq(p2, p);
    ck_assert_ptr_nonnull(eq_arena_alloc(a, 100000));
    ck_assert_uint_eq(eq_arena_capacity(a), cap);
    ck_assert_str_eq(eq_arena_strdup(a, "scope/name"), "scope/name");
    eq_arena_free(a);
}
END_TEST

START_TEST(arena_out_of_memory_is_null)
{
    eq_arena *a = eq_arena_new(0);
    eq_alloc_fail_after(1, 1);
    ck_assert_ptr_null(eq_arena_alloc(a, 16));
    eq_error err;
    int64_t s[2] = {3, 4};
    ck_assert_ptr_null(eq_tensor_new(a, EQ_F32, 2, s, &err));
    ck_assert_int_eq(err.status, EQ_ERR_NOMEM);
    eq_alloc_fail_after(0, 0);
    eq_arena_free(a);
}
END_TEST

START_TEST(tensor_new_fill_copy_convert)
{
    eq_arena *a = eq_arena_new(0);
    eq_error err;
    int64_t s[4] = {1, 2, 3, 4};
    eq_tensor *t = eq_tensor_new(a, EQ_F32, 4, s, &err);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(eq_tensor_numel(t), 24);
    ck_assert_uint_eq(eq_tensor_nbytes(t), 96);
    ck_assert_int_eq(t->shape[5], 1);
    eq_tensor_fill(t, 0.1);
    ck_assert(eq_tensor_f32(t)[23] == 0.1f);
    eq_tensor *d = eq_tensor_convert(a, t, EQ_F64, &err);
    ck_assert_ptr_nonnull(d);
    ck_assert(eq_tensor_f64(d)[5] == (double)0.1f);
    ck_assert_double_eq(eq_tensor_get(d, 5), (double)0.1f);
    eq_tensor *z = eq_tensor_zeros(a, EQ_F32, 4, s, &err);
    ck_assert(eq_tensor_f32(z)[0] == 0.0f);
    ck_assert_int_eq(eq_tensor_copy(z, d, &err), EQ_OK);
    ck_assert(eq_tensor_f32(z)[7] == 0.1f);
    ck_assert(eq_tensor_same_shape(z, t));
    ck_assert(!eq_tensor_same_shape(z, d)); /* dtype differs */
    eq_arena_free(a);
}
END_TEST

START_TEST(tensor_shape_errors)
{
    eq_arena *a = eq_arena_new(0);
    eq_error err;
    int64_t neg[2] = {3, -1};
    ck_assert_ptr_null(eq_tensor_new(a, EQ_F32, 2, neg, &err));
    ck_assert_int_eq(err.status, EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "[3, -1]"));
    int64_t s7[7] = {1, 1, 1, 1, 1, 1, 1};
    ck_assert_ptr_null(eq_tensor_new(a, EQ_F32, 7, s7, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "rank 7"));
    int64_t huge[3] = {1 << 20, 1 << 20, 1 << 20};
    ck_assert_ptr_null(eq_tensor_new(a, EQ_F32, 3, huge, &err));
    ck_assert_int_eq(err.status, EQ_ERR_SHAPE);
    int64_t s1[1] = {5}, s2[2] = {2, 3};
    eq_tensor *x = eq_tensor_new(a, EQ_F32, 1, s1, &err);
    eq_tensor *y = eq_tensor_new(a, EQ_F32, 2, s2, &err);
    ck_assert_int_eq(eq_tensor_copy(y, x, &err), EQ_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.message, "[5]"));
    ck_assert_ptr_nonnull(strstr(err.message, "[2, 3]"));
    eq_arena_free(a);
}
END_TEST

START_TEST(tensor_view_and_shape_str)
{
    float buf[6] = {1, 2, 3, 4, 5, 6};
    eq_tensor v;
    int64_t s[2] = {2, 3};
    ck_assert_int_eq(eq_tensor_view(&v, EQ_F32, 2, s, buf, NULL), EQ_OK);
    ck_assert(eq_tensor_f32(&v)[4] == 5.0f);
    char str[64];
    ck_assert_str_eq(eq_shape_str(2, s, str, sizeof str), "[2, 3]");
    ck_assert_str_eq(eq_shape_str(0, s, str, sizeof str), "[]");
    int64_t scalar_numel = eq_shape_numel(0, s);
    ck_assert_int_eq(scalar_numel, 1);
}
END_TEST

/* Under ASan the pool frees on put and never reuses (eq_bufpool.h), so the
 * reuse assertions hold only in normal builds. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_REUSES 0
#else
#define POOL_REUSES 1
#endif

START_TEST(bufpool_best_fit_and_accounting)
{
    eq_bufpool *p = eq_bufpool_new();
    ck_assert_ptr_nonnull(p);
    char *a = eq_bufpool_get(p, 1000); /* 1024 after rounding */
    char *b = eq_bufpool_get(p, 4000); /* 4032 */
    char *c = eq_bufpool_get(p, 3000); /* 3008 */
    ck_assert(a && b && c);
    ck_assert_int_eq((uintptr_t)a % 64, 0);
    ck_assert_int_eq((uintptr_t)b % 64, 0);
    memset(b, 1, 4000);
    eq_bufpool_stats st = eq_bufpool_get_stats(p);
    ck_assert_uint_eq(st.in_use, 1024 + 4032 + 3008);
    ck_assert_uint_eq(st.held, st.in_use);
    ck_assert_int_eq(st.buffers, 3);

    ck_assert_int_eq(eq_bufpool_put(p, b), 1);
    ck_assert_int_eq(eq_bufpool_put(p, b), 0); /* twice */
    ck_assert_int_eq(eq_bufpool_put(p, &st), 0); /* not the pool's */
    ck_assert_int_eq(eq_bufpool_put(p, NULL), 0);
    ck_assert_int_eq(eq_bufpool_put(p, c), 1);
    st = eq_bufpool_get_stats(p);
    ck_assert_uint_eq(st.in_use, 1024);
    ck_assert_uint_eq(st.peak_in_use, 1024 + 4032 + 3008);

    /* 2500 bytes: both free buffers fit; the smaller one (c) is taken. */
    char *d = eq_bufpool_get(p, 2500);
    /* 1500 bytes: b is more than twice as big, so a new buffer. */
    char *e = eq_bufpool_get(p, 1500);
    ck_assert(d && e);
    if (POOL_REUSES) {
        ck_assert_ptr_eq(d, c);
        ck_assert_ptr_ne(e, b);
        st = eq_bufpool_get_stats(p);
        ck_assert_int_eq(st.buffers, 4);
        ck_assert_uint_eq(st.in_use, 1024 + 2560 + 1536); /* as asked, not 3008 */
        ck_assert_uint_eq(st.held, 1024 + 4032 + 3008 + 1536);
    }
    eq_bufpool_free(p);
}
END_TEST

START_TEST(bufpool_reset_reuses_then_trims)
{
    eq_bufpool *p = eq_bufpool_new();
    ck_assert_ptr_nonnull(p);
    void *big = eq_bufpool_get(p, 1 << 20);
    void *small = eq_bufpool_get(p, 4096);
    ck_assert(big && small);
    eq_bufpool_reset(p);
    eq_bufpool_stats st = eq_bufpool_get_stats(p);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_eq(st.peak_in_use, 0);
    if (POOL_REUSES) {
        /* A new call gets the same, already touched, buffers back. */
        ck_assert_uint_eq(st.held, (1 << 20) + 4096);
        ck_assert_ptr_eq(eq_bufpool_get(p, 1 << 20), big);
        ck_assert_ptr_eq(eq_bufpool_get(p, 4000), small);
        eq_bufpool_reset(p);
        /* A call that needs far less than the pool holds: the next reset
         * frees the spare buffers. */
        ck_assert_ptr_nonnull(eq_bufpool_get(p, 4096));
        eq_bufpool_reset(p);
        st = eq_bufpool_get_stats(p);
        ck_assert_int_eq(st.buffers, 0);
        ck_assert_uint_eq(st.held, 0);
    } else {
        ck_assert_uint_eq(st.held, 0);
    }
    eq_bufpool_free(p);
}
END_TEST

START_TEST(bufpool_out_of_memory_is_null)
{
    eq_bufpool *p = eq_bufpool_new();
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(eq_bufpool_get(p, SIZE_MAX - 8)); /* rounding overflows */
    eq_alloc_fail_after(1, 1);
    ck_assert_ptr_null(eq_bufpool_get(p, 4096));
    eq_alloc_fail_after(0, 0);
    ck_assert_uint_eq(eq_bufpool_get_stats(p).held, 0);
    ck_assert_ptr_nonnull(eq_bufpool_get(p, 4096));
    eq_bufpool_free(p);
    eq_bufpool_free(NULL);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, error_set_and_prefix);
    tcase_add_test(tc, alloc_failure_injection);
    tcase_add_test(tc, arena_alignment_reuse);
    tcase_add_test(tc, arena_out_of_memory_is_null);
    tcase_add_test(tc, bufpool_best_fit_and_accounting);
    tcase_add_test(tc, bufpool_reset_reuses_then_trims);
    tcase_add_test(tc, bufpool_out_of_memory_is_null);
    tcase_add_test(tc, tensor_new_fill_copy_convert);
    tcase_add_test(tc, tensor_shape_errors);
    tcase_add_test(tc, tensor_view_and_shape_str);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
