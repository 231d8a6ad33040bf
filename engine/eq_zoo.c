/* eq_zoo.c - locate built-in model files. */
#include "eq_zoo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

#ifndef EQ_ZOO_INSTALL_DIR
#define EQ_ZOO_INSTALL_DIR "/usr/local/share/equivd/zoo"
#endif

static int is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *eq_zoo_dir(char *buf, size_t n)
{
    const char *env = getenv("EQ_ZOO_DIR");
    if (is_dir(env)) {
        snprintf(buf, n, "%s", env);
        return buf;
    }
    const char *src = getenv("EQ_SRCDIR");
    if (src) {
        snprintf(buf, n, "%s/engine/zoo", src);
        if (is_dir(buf))
            return buf;
    }
    if (is_dir("engine/zoo")) {
        snprintf(buf, n, "engine/zoo");
        return buf;
    }
    if (is_dir(EQ_ZOO_INSTALL_DIR)) {
        snprintf(buf, n, "%s", EQ_ZOO_INSTALL_DIR);
        return buf;
    }
    return NULL;
}

eq_status eq_zoo_find(const char *name, char *buf, size_t n, eq_error *err)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return eq_error_set(err, EQ_ERR_INVALID,
                                "zoo model name '%s' may hold only a-z, 0-9 and _", name);
    char dir[1024];
    if (!eq_zoo_dir(dir, sizeof dir))
        return eq_error_set(err, EQ_ERR_IO,
                            "no zoo directory found (set EQ_ZOO_DIR, or install equivd)");
    snprintf(buf, n, "%s/%s.json", dir, name);
    struct stat st;
    if (stat(buf, &st) != 0)
        return eq_error_set(err, EQ_ERR_INVALID, "unknown zoo model '%s' (no %s)", name, buf);
    return EQ_OK;
}
