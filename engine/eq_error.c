/* eq_error.c - error values (see eq_error.h). */
#include "eq_error.h"

#include <stdarg.h>
#include <string.h>

static void set_message(eq_error *err, const char *fmt, va_list ap)
{
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

eq_status eq_error_set(eq_error *err, eq_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    err->path[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    return status;
}

eq_status eq_error_set_path(eq_error *err, eq_status status, const char *path,
                            const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    set_message(err, fmt, ap);
    va_end(ap);
    return status;
}

eq_status eq_error_prefix(eq_error *err, const char *fmt, ...)
{
    if (!err)
        return EQ_OK;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof err->message];
    snprintf(joined, sizeof joined, "%s%s", prefix, err->message);
    memcpy(err->message, joined, sizeof joined);
    return err->status;
}

void eq_error_clear(eq_error *err)
{
    if (!err)
        return;
    err->status = EQ_OK;
    err->path[0] = '\0';
    err->message[0] = '\0';
}

const char *eq_status_name(eq_status status)
{
    switch (status) {
    case EQ_OK: return "ok";
    case EQ_ERR_INVALID: return "invalid";
    case EQ_ERR_SHAPE: return "shape";
    case EQ_ERR_NOMEM: return "nomem";
    case EQ_ERR_IO: return "io";
    case EQ_ERR_UNSUPPORTED: return "unsupported";
    case EQ_ERR_STATE: return "state";
    case EQ_ERR_LIMIT: return "limit";
    case EQ_ERR_CANCELLED: return "cancelled";
    }
    return "unknown";
}
