/* test_npy.c - .npy writer (exact numpy bytes) and strict reader. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eq_alloc.h"
#include "eq_arena.h"
#include "eq_npy.h"
#include "eq_tensor.h"

#define SP10 "          "

/* np.save(f, np.zeros((2, 3), '<f4')) writes this header (numpy 1.24):
 * 10 bytes of magic, version and HLEN = 118 ('v'), the dict, 20 spaces of
 * room for the first axis plus 38 of alignment, '\n': 128 bytes. */
static const char header_2x3_f4[] =
    "\x93NUMPY\x01\x00v\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    SP10 SP10 SP10 SP10 SP10 "        "
    "\n";

/* A header as numpy writes it: prefix, dict, `spaces` spaces, newline. */
static size_t npy_expect(char *buf, unsigned hlen, const char *dict, int spaces)
{
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    size_t n = 10 + strlen(dict);
    memcpy(buf + 10, dict, strlen(dict));
    memset(buf + n, ' ', (size_t)spaces);
    n += (size_t)spaces;
    buf[n++] = '\n';
    return n;
}

static void check_header(eq_dtype dt, int rank, const int64_t *shape, const char *want,
                         size_t want_len)
{
    eq_tensor t;
    float dummy[1];
    ck_assert_int_eq(eq_tensor_view(&t, dt, rank, shape, dummy, NULL), EQ_OK);
    unsigned char buf[EQ_NPY_HEADER_MAX];
    size_t len;
    ck_assert_int_eq(eq_npy_header(&t, buf, sizeof buf, &len, NULL), EQ_OK);
    ck_assert_uint_eq(len, want_len);
    ck_assert_uint_eq(len % 64, 0);
    ck_assert_int_eq(memcmp(buf, want, len), 0);
}

START_TEST(exact_header_bytes)
{
    ck_assert_uint_eq(sizeof header_2x3_f4 - 1, 128);
    int64_t s23[2] = {2, 3};
    check_header(EQ_F32, 2, s23, header_2x3_f4, 128);

    char want[EQ_NPY_HEADER_MAX];
    size_t n;
    /* Scalars get no room to grow: 62 spaces of alignment. */
    n = npy_expect(want, 118, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 62);
    check_header(EQ_F64, 0, NULL, want, n);
    /* One axis: a trailing comma, like Python's repr. */
    int64_t s5[1] = {5};
    n = npy_expect(want, 118, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 60);
    check_header(EQ_F32, 1, s5, want, n);
    /* Already aligned before padding: numpy still pads a whole 64 (20 + 64
     * spaces), and so do we. */
    int64_t s6[6] = {0, 100, 1000000, 1000000, 1000000, 1000000};
    n = npy_expect(want, 182,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': "
                   "(0, 100, 1000000, 1000000, 1000000, 1000000), }",
                   84);
    ck_assert_uint_eq(n, 192);
    check_header(EQ_F32, 6, s6, want, n);

    /* Too small a buffer is an error, not an overflow. */
    eq_tensor t;
    float d[6];
    eq_tensor_view(&t, EQ_F32, 2, s23, d, NULL);
    unsigned char small[100];
    size_t len = 7;
    eq_error err;
    ck_assert_int_eq(eq_npy_header(&t, small, sizeof small, &len, &err), EQ_ERR_INVALID);
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* Bytes numpy wrote for np.save(f, np.array([1.0, -2.0, 0.5])). */
START_TEST(reads_numpy_bytes)
{
    char file[256];
    size_t n = npy_expect(file, 118, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                          60);
    static const unsigned char data[24] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0,
                                           0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f};
    memcpy(file + n, data, 24);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *t;
    eq_error err;
    ck_assert_int_eq(eq_npy_read_mem(file, n + 24, a, &t, &err), EQ_OK);
    ck_assert_int_eq(t->dtype, EQ_F64);
    ck_assert_int_eq(t->rank, 1);
    ck_assert_int_eq(t->shape[0], 3);
    ck_assert(eq_tensor_f64(t)[0] == 1.0 && eq_tensor_f64(t)[1] == -2.0 &&
              eq_tensor_f64(t)[2] == 0.5);
    eq_arena_free(a);
}
END_TEST

static void round_trip(eq_dtype dt, int rank, const int64_t *shape, const void *data)
{
    eq_tensor t;
    ck_assert_int_eq(eq_tensor_view(&t, dt, rank, shape, (void *)data, NULL), EQ_OK);
    unsigned char *buf;
    size_t len;
    eq_error err;
    ck_assert_int_eq(eq_npy_write_mem(&t, &buf, &len, &err), EQ_OK);
    ck_assert_uint_eq((len - eq_tensor_nbytes(&t)) % 64, 0);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *back;
    ck_assert_int_eq(eq_npy_read_mem(buf, len, a, &back, &err), EQ_OK);
    ck_assert_int_eq(back->dtype, dt);
    ck_assert(eq_shape_equal(back->rank, back->shape, rank, shape));
    ck_assert_int_eq(memcmp(back->data, data, eq_tensor_nbytes(&t)), 0);
    eq_arena_free(a);
    eq_free(buf);
}

START_TEST(round_trips)
{
    float f[6] = {1.5f, -0.0f, 1e-40f, NAN, INFINITY, -3.25f};
    int64_t s23[2] = {2, 3};
    round_trip(EQ_F32, 2, s23, f);
    double d[4] = {0.1, -1e300, 5e-324, -INFINITY};
    int64_t s4[1] = {4};
    round_trip(EQ_F64, 1, s4, d);
    double scalar = 42;
    round_trip(EQ_F64, 0, NULL, &scalar);
    int64_t s0[2] = {3, 0};
    round_trip(EQ_F32, 2, s0, f);
    float six[2] = {7, 8};
    int64_t s6[6] = {1, 1, 2, 1, 1, 1};
    round_trip(EQ_F32, 6, s6, six);
}
END_TEST

#define NPY_FIXTURE "tests/npy_fixture.npy"

START_TEST(file_round_trip)
{
    float f[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3};
    eq_tensor t;
    eq_tensor_view(&t, EQ_F32, 2, s23, f, NULL);
    eq_error err;
    ck_assert_int_eq(eq_npy_write_file(NPY_FIXTURE, &t, &err), EQ_OK);
    FILE *fp = fopen(NPY_FIXTURE, "rb");
    ck_assert_ptr_nonnull(fp);
    unsigned char bytes[256];
    size_t got = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    ck_assert_uint_eq(got, 128 + 24);
    ck_assert_int_eq(memcmp(bytes, header_2x3_f4, 128), 0);
    ck_assert_int_eq(memcmp(bytes + 128, f, 24), 0);

    eq_arena *a = eq_arena_new(0);
    eq_tensor *back;
    ck_assert_int_eq(eq_npy_read_file(NPY_FIXTURE, a, &back, &err), EQ_OK);
    ck_assert_int_eq(memcmp(back->data, f, 24), 0);
    ck_assert_int_eq(back->shape[1], 3);

    /* Truncated files on disk. */
    const char *cut = "tests/npy_truncated.npy";
    for (size_t l = 0; l < got; l += 5) {
        fp = fopen(cut, "wb");
        ck_assert_uint_eq(fwrite(bytes, 1, l, fp), l);
        fclose(fp);
        ck_assert_int_eq(eq_npy_read_file(cut, a, &back, &err), EQ_ERR_INVALID);
        ck_assert_ptr_null(back);
        ck_assert_ptr_nonnull(strstr(err.message, cut));
    }
    unlink(cut);
    ck_assert_int_eq(eq_npy_read_file("tests/none.npy", a, &back, &err), EQ_ERR_IO);
    ck_assert_int_eq(eq_npy_write_file("no_such_dir/x.npy", &t, &err), EQ_ERR_IO);
    eq_arena_free(a);
}
END_TEST

START_TEST(every_truncation_is_an_error)
{
    double d[5] = {1, 2, 3, 4, 5};
    int64_t s[1] = {5};
    eq_tensor t;
    eq_tensor_view(&t, EQ_F64, 1, s, d, NULL);
    unsigned char *buf;
    size_t len;
    eq_npy_write_mem(&t, &buf, &len, NULL);
    eq_arena *a = eq_arena_new(0);
    for (size_t l = 0; l < len; l++) {
        unsigned char *c = eq_malloc(l);
        memcpy(c, buf, l);
        eq_tensor *back = (eq_tensor *)1;
        eq_error err;
        ck_assert_int_eq(eq_npy_read_mem(c, l, a, &back, &err), EQ_ERR_INVALID);
        ck_assert_ptr_null(back);
        eq_free(c);
    }
    /* One byte too many is an error as well. */
    unsigned char *longer = eq_malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    eq_tensor *back;
    eq_error err;
    ck_assert_int_eq(eq_npy_read_mem(longer, len + 1, a, &back, &err), EQ_ERR_INVALID);
    ck_assert_str_eq(err.message, "npy: float64 [5] needs 40 data bytes, the file has 41");
    eq_free(longer);
    eq_arena_free(a);
    eq_free(buf);
}
END_TEST

/* A file around a header text (the text's own '\n' included) and `data`
 * zero bytes; version 1.0 unless v2. */
static unsigned char made[20000];

static size_t make(const char *text, size_t data, int v2)
{
    size_t tl = strlen(text), off = v2 ? 12 : 10;
    memcpy(made, "\x93NUMPY", 6);
    made[6] = v2 ? 2 : 1;
    made[7] = 0;
    for (size_t i = 0; i < off - 8; i++)
        made[8 + i] = (unsigned char)(tl >> (8 * i));
    memcpy(made + off, text, tl);
    memset(made + off + tl, 0, data);
    return off + tl + data;
}

static eq_status read_made(const char *text, size_t data, int v2, eq_error *err,
                           eq_tensor *copy)
{
    size_t len = make(text, data, v2);
    eq_arena *a = eq_arena_new(0);
    eq_tensor *t;
    eq_status s = eq_npy_read_mem(made, len, a, &t, err);
    ck_assert(s == EQ_OK ? t != NULL : t == NULL);
    if (s == EQ_OK && copy)
        *copy = *t; /* descriptor only: data dies with the arena */
    eq_arena_free(a);
    return s;
}

#define EXPECT(status, text, data, needle)                                       \
    do {                                                                         \
        eq_error e_;                                                             \
        eq_error_clear(&e_);                                                     \
        ck_assert_int_eq(read_made(text, data, 0, &e_, NULL), status);           \
        ck_assert_msg(strstr(e_.message, needle) != NULL, "'%s' lacks '%s'",     \
                      e_.message, needle);                                       \
    } while (0)

START_TEST(lenient_where_numpy_is)
{
    eq_tensor t;
    eq_error err;
    /* Other key order, double quotes, no trailing comma, no padding. */
    ck_assert_int_eq(read_made("{\"shape\": (2,3),\"fortran_order\":False,\"descr\":\"<f8\"}\n",
                               48, 0, &err, &t),
                     EQ_OK);
    ck_assert_int_eq(t.dtype, EQ_F64);
    ck_assert_int_eq(t.rank, 2);
    ck_assert_int_eq(t.shape[0], 2);
    ck_assert_int_eq(t.shape[1], 3);
    /* Trailing comma inside a multi-axis tuple, spaces everywhere. */
    ck_assert_int_eq(read_made("{ 'descr' : '<f4' , 'fortran_order' : False , "
                               "'shape' : ( 1 , 2 , ) , }   \n",
                               8, 0, &err, &t),
                     EQ_OK);
    ck_assert_int_eq(t.rank, 2);
    /* Version 2.0: 4-byte header length. */
    ck_assert_int_eq(read_made("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 12, 1,
                               &err, &t),
                     EQ_OK);
    ck_assert_int_eq(t.shape[0], 3);
    /* Scalar and empty. */
    ck_assert_int_eq(read_made("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4, 0,
                               &err, &t),
                     EQ_OK);
    ck_assert_int_eq(t.rank, 0);
    ck_assert_int_eq(read_made("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }\n", 0,
                               0, &err, &t),
                     EQ_OK);
}
END_TEST

START_TEST(malformed_headers)
{
    EXPECT(EQ_ERR_UNSUPPORTED, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n", 8,
           "dtype '<i8' is not supported (only '<f4' and '<f8')");
    EXPECT(EQ_ERR_UNSUPPORTED, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n", 4,
           "'>f4'");
    EXPECT(EQ_ERR_UNSUPPORTED, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", 4,
           "fortran_order True is not supported");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': Flase, 'shape': (1,), }\n", 4,
           "True or False");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'shape': (1,), }\n", 4,
           "missing key 'fortran_order'");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", 4,
           "unknown key 'x'");
    EXPECT(EQ_ERR_INVALID,
           "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 4,
           "'descr' appears twice");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (5), }\n", 20,
           "trailing comma");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", 4,
           "non-negative integer");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (01,), }\n", 4,
           "leading zeros");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }\n", 4,
           "shape must be a tuple");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }\n", 8,
           "expected ',' or ')'");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,) }", 4,
           "newline");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x\n", 4,
           "only spaces may follow");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,),\n}\n", 4,
           "expected a quoted string");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }\n", 4,
           "expected ',' or '}'");
    EXPECT(EQ_ERR_INVALID, "{'descr: '<f4', 'fortran_order': False, 'shape': (1,), }\n", 4,
           "expected ':'");
    EXPECT(EQ_ERR_INVALID, "{'de\\scr': '<f4'}\n", 0, "escapes");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4\n'}\n", 0, "newlines are not allowed");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4\n", 0, "unterminated string");
    EXPECT(EQ_ERR_INVALID, "['descr']\n", 0, "expected '{'");
    EXPECT(EQ_ERR_INVALID, "\n", 0, "expected '{'");
    EXPECT(EQ_ERR_INVALID, "{}\n", 0, "missing key 'descr'");
    EXPECT(EQ_ERR_INVALID,
           "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 4,
           "dimension too large");
    EXPECT(EQ_ERR_UNSUPPORTED,
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1), }\n", 4,
           "more than 6 dimensions");
    EXPECT(EQ_ERR_SHAPE,
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 2), }\n", 4,
           "more than 2^40 elements");
    EXPECT(EQ_ERR_INVALID, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 8,
           "npy: float32 [3] needs 12 data bytes, the file has 8");
    EXPECT(EQ_ERR_INVALID, "{'descr': 'a-very-long-descr-string-beyond-the-buffer'}\n", 0,
           "string too long");

    /* Prefix problems. */
    eq_error err;
    eq_arena *a = eq_arena_new(0);
    eq_tensor *t;
    size_t len = make("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4, 0);
    made[0] = 'X';
    ck_assert_int_eq(eq_npy_read_mem(made, len, a, &t, &err), EQ_ERR_INVALID);
    ck_assert_str_eq(err.message, "npy: not a .npy file (bad magic)");
    made[0] = 0x93;
    made[6] = 3;
    ck_assert_int_eq(eq_npy_read_mem(made, len, a, &t, &err), EQ_ERR_UNSUPPORTED);
    ck_assert_str_eq(err.message, "npy: version 3.0 is not supported (1.0 and 2.0 are)");
    made[6] = 1;
    made[8] = 0xff; /* HLEN past the end */
    ck_assert_int_eq(eq_npy_read_mem(made, len, a, &t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "runs past the end"));
    made[8] = 0;
    made[9] = 0; /* HLEN 0 */
    ck_assert_int_eq(eq_npy_read_mem(made, len, a, &t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "newline"));
    /* A version 2.0 header length beyond the limit. */
    len = make("{}\n", 0, 1);
    made[10] = 1; /* 2^16 + 3 */
    ck_assert_int_eq(eq_npy_read_mem(made, len, a, &t, &err), EQ_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds the limit"));
    ck_assert_int_eq(eq_npy_read_mem(made, 11, a, &t, &err), EQ_ERR_INVALID);
    ck_assert_int_eq(eq_npy_read_mem(NULL, 0, a, &t, &err), EQ_ERR_INVALID);
    eq_arena_free(a);
}
END_TEST

START_TEST(allocation_failures)
{
    float f[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3};
    eq_tensor t;
    eq_tensor_view(&t, EQ_F32, 2, s23, f, NULL);
    const char *path = "tests/npy_allocfail.npy";
    ck_assert_int_eq(eq_npy_write_file(path, &t, NULL), EQ_OK);
    int failures = 0, done = 0;
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (long k = 1; k < 1000; k++) {
            eq_alloc_fail_after(k, sticky);
            unsigned char *buf = NULL;
            size_t len;
            eq_error err;
            eq_status ws = eq_npy_write_mem(&t, &buf, &len, &err);
            eq_status fws = eq_npy_write_file(path, &t, &err);
            eq_status rs = EQ_ERR_NOMEM, fs = EQ_ERR_NOMEM;
            eq_tensor *m = NULL, *fl = NULL;
            eq_arena *a = eq_arena_new(0);
            if (a && buf)
                rs = eq_npy_read_mem(buf, len, a, &m, &err);
            if (a)
                fs = eq_npy_read_file(path, a, &fl, &err);
            long used = eq_alloc_count();
            eq_alloc_fail_after(0, 0);
            ck_assert(ws == EQ_OK || ws == EQ_ERR_NOMEM);
            ck_assert(fws == EQ_OK || fws == EQ_ERR_NOMEM);
            ck_assert(rs == EQ_OK || rs == EQ_ERR_NOMEM);
            ck_assert(fs == EQ_OK || fs == EQ_ERR_NOMEM);
            if (rs == EQ_OK)
                ck_assert_int_eq(memcmp(m->data, f, 24), 0);
            if (fs == EQ_OK)
                ck_assert_int_eq(memcmp(fl->data, f, 24), 0);
            failures += ws != EQ_OK || fws != EQ_OK || rs != EQ_OK || fs != EQ_OK;
            eq_arena_free(a);
            eq_free(buf);
            if (used < k) {
                done++;
                break;
            }
        }
    }
    unlink(path);
    ck_assert_int_eq(done, 2);
    ck_assert_int_gt(failures, 5);
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, exact_header_bytes);
    tcase_add_test(tc, reads_numpy_bytes);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, file_round_trip);
    tcase_add_test(tc, every_truncation_is_an_error);
    tcase_add_test(tc, lenient_where_numpy_is);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(npy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
