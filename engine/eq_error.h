/* eq_error.h - errors as values.
 *
 * Two channels (see STYLE.md): a programmer error (a broken invariant inside
 * the engine) is an EQ_ASSERT that aborts with file:line; everything a user
 * can cause (bad JSON, bad shapes, a limit) is an eq_status returned up the
 * stack with an eq_error that says what was wrong and where.
 *
 * Every function that can fail takes an `eq_error *err` as its last argument
 * (which may be NULL when the caller only wants the status) and returns an
 * eq_status. Callers add context with eq_error_prefix() while unwinding.
 */
#ifndef EQ_ERROR_H
#define EQ_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum eq_status {
    EQ_OK = 0,
    EQ_ERR_INVALID,     /* an argument or user input breaks a rule */
    EQ_ERR_SHAPE,       /* tensor shapes do not fit together */
    EQ_ERR_NOMEM,       /* an allocation failed */
    EQ_ERR_IO,          /* a file could not be read or written */
    EQ_ERR_UNSUPPORTED, /* valid, but not implemented for this case (e.g. dtype) */
    EQ_ERR_STATE,       /* the operation is not allowed now (seed reuse, forbidden variable creation) */
    EQ_ERR_LIMIT,       /* a configured resource limit would be exceeded */
    EQ_ERR_CANCELLED    /* the caller asked to stop */
} eq_status;

typedef struct eq_error {
    eq_status status;
    char path[256];    /* where: a JSON path ("body[3].conv2d.stride") or "" */
    char message[1024];/* what: a sentence a user can act on */
} eq_error;

/* Record an error and return its status, so `return eq_error_set(...)` reads
 * naturally. `err` may be NULL. */
eq_status eq_error_set(eq_error *err, eq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, with a location (JSON path or similar). */
eq_status eq_error_set_path(eq_error *err, eq_status status, const char *path,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepend context to the message: "conv2d 'Conv2d_1a': " + message.
 * Returns the stored status (EQ_OK if none). */
eq_status eq_error_prefix(eq_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void eq_error_clear(eq_error *err);

/* A stable lower-case name for a status ("invalid", "shape", ...). */
const char *eq_status_name(eq_status status);

/* Programmer errors only: never for anything a user can cause. */
#define EQ_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
