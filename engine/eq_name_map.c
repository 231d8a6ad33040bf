/* eq_name_map.c - ordered regex rewrites of eager names (job `name_map`).
 *
 * Why POSIX regex: the rules are short patterns over variable names
 * ("^v2/" -> "InceptionResnetV2/"); regex.h is in libc and ERE is what
 * people write. Each rule replaces every non-overlapping match, left to
 * right, like Python's re.sub; an empty match advances one character so a
 * pattern such as "x*" cannot loop.
 */
#include "eq_job_internal.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "eq_alloc.h"

typedef struct rule {
    regex_t re;
    char *replace;
} rule;

struct eq_name_map {
    rule *rules;
    int n;
};

#define MAX_GROUPS 10

/* A replacement template is checked once, when the rule is compiled, so
 * applying it cannot fail on a bad escape. */
static int check_template(const char *t, size_t groups, char *why, size_t n)
{
    for (const char *p = t; *p; p++) {
        if (*p != '\\')
            continue;
        p++;
        if (*p == '\\')
            continue;
        if (*p >= '0' && *p <= '9') {
            if ((size_t)(*p - '0') > groups) {
                snprintf(why, n, "\\%c refers to group %d but the pattern has %zu group%s",
                         *p, *p - '0', groups, groups == 1 ? "" : "s");
                return 0;
            }
            continue;
        }
        snprintf(why, n, "a backslash must be followed by a digit 0-9 or another backslash");
        return 0;
    }
    return 1;
}

eq_name_map *eq_name_map_new(const json_t *rules, const char *path, eq_error *err)
{
    eq_name_map *m = eq_calloc(1, sizeof *m);
    if (!m) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for name_map");
        return NULL;
    }
    if (!rules || json_array_size(rules) == 0)
        return m;
    if (!json_is_array(rules)) {
        eq_error_set_path(err, EQ_ERR_INVALID, path,
                          "expected an array of {\"pattern\", \"replace\"} rules");
        goto fail;
    }
    size_t count = json_array_size(rules);
    m->rules = eq_calloc(count, sizeof *m->rules);
    if (!m->rules) {
        eq_error_set(err, EQ_ERR_NOMEM, "out of memory for name_map");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *r = json_array_get(rules, i);
        char where[256];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        if (!json_is_object(r)) {
            eq_error_set_path(err, EQ_ERR_INVALID, where,
                              "expected an object {\"pattern\": ..., \"replace\": ...}");
            goto fail;
        }
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)r, key, v) {
            if (strcmp(key, "pattern") != 0 && strcmp(key, "replace") != 0) {
                char kp[300];
                snprintf(kp, sizeof kp, "%s.%s", where, key);
                eq_error_set_path(err, EQ_ERR_INVALID, kp,
                                  "unknown field '%s' (expected pattern, replace)", key);
                goto fail;
            }
        }
        const json_t *pat = json_object_get(r, "pattern");
        const json_t *rep = json_object_get(r, "replace");
        char kp[300];
        if (!json_is_string(pat) || json_string_length(pat) == 0) {
            snprintf(kp, sizeof kp, "%s.pattern", where);
            eq_error_set_path(err, EQ_ERR_INVALID, kp,
                              "expected a non-empty regular expression string");
            goto fail;
        }
        if (!json_is_string(rep)) {
            snprintf(kp, sizeof kp, "%s.replace", where);
            eq_error_set_path(err, EQ_ERR_INVALID, kp,
                              "expected a replacement string (may be empty)");
            goto fail;
        }
        rule *ru = &m->rules[m->n];
        int rc = regcomp(&ru->re, json_string_value(pat), REG_EXTENDED);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &ru->re, msg, sizeof msg);
            snprintf(kp, sizeof kp, "%s.pattern", where);
            eq_error_set_path(err, EQ_ERR_INVALID, kp, "invalid regular expression '%s': %s",
                              json_string_value(pat), msg);
            goto fail;
        }
        m->n++; /* compiled: freed from here on */
        char why[160];
        if (!check_template(json_string_value(rep), ru->re.re_nsub, why, sizeof why)) {
            snprintf(kp, sizeof kp, "%s.replace", where);
            eq_error_set_path(err, EQ_ERR_INVALID, kp, "%s", why);
            goto fail;
        }
        ru->replace = eq_strdup(json_string_value(rep));
        if (!ru->replace) {
            eq_error_set(err, EQ_ERR_NOMEM, "out of memory for name_map");
            goto fail;
        }
    }
    return m;
fail:
    eq_name_map_free(m);
    return NULL;
}

void eq_name_map_free(eq_name_map *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        regfree(&m->rules[i].re);
        eq_free(m->rules[i].replace);
    }
    eq_free(m->rules);
    eq_free(m);
}

int eq_name_map_count(const eq_name_map *m) { return m ? m->n : 0; }

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int overflow;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->overflow = 1;
        n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void expand(sbuf *b, const char *tmpl, const char *subject, const regmatch_t *g)
{
    for (const char *p = tmpl; *p; p++) {
        if (*p == '\\' && p[1] == '\\') {
            put(b, "\\", 1);
            p++;
        } else if (*p == '\\' && p[1] >= '0' && p[1] <= '9') {
            const regmatch_t *m = &g[p[1] - '0'];
            if (m->rm_so >= 0)
                put(b, subject + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
            p++;
        } else {
            put(b, p, 1);
        }
    }
}

static void apply_rule(const rule *r, const char *in, sbuf *out)
{
    size_t len = strlen(in);
    size_t pos = 0;
    int flags = 0;
    regmatch_t g[MAX_GROUPS];
    while (pos <= len) {
        if (regexec(&r->re, in + pos, MAX_GROUPS, g, flags) != 0)
            break;
        /* Offsets are relative to in + pos; make them absolute for expand. */
        for (int i = 0; i < MAX_GROUPS; i++) {
            if (g[i].rm_so >= 0) {
                g[i].rm_so += (regoff_t)pos;
                g[i].rm_eo += (regoff_t)pos;
            }
        }
        put(out, in + pos, (size_t)g[0].rm_so - pos);
        expand(out, r->replace, in, g);
        if (g[0].rm_eo == g[0].rm_so) {
            /* Empty match: copy one character and move on. */
            if ((size_t)g[0].rm_eo < len)
                put(out, in + g[0].rm_eo, 1);
            pos = (size_t)g[0].rm_eo + 1;
        } else {
            pos = (size_t)g[0].rm_eo;
        }
        flags = REG_NOTBOL; /* ^ anchors to the start of the name only */
    }
    if (pos < len)
        put(out, in + pos, len - pos);
}

eq_status eq_name_map_apply(const eq_name_map *m, const char *name, char *out, size_t n,
                            eq_error *err)
{
    EQ_ASSERT(n > 0);
    if (!m || m->n == 0) {
        if (strlen(name) + 1 > n) {
            snprintf(out, n, "%s", name);
            return eq_error_set(err, EQ_ERR_LIMIT, "name '%.80s...' is longer than %zu bytes",
                                name, n - 1);
        }
        memcpy(out, name, strlen(name) + 1);
        return EQ_OK;
    }
    char tmp[2][1024];
    const char *cur = name;
    for (int i = 0; i < m->n; i++) {
        sbuf b = {tmp[i & 1], 0, sizeof tmp[0], 0};
        b.p[0] = '\0';
        apply_rule(&m->rules[i], cur, &b);
        if (b.overflow) {
            snprintf(out, n, "%s", b.p);
            return eq_error_set(err, EQ_ERR_LIMIT,
                                "name_map rule %d makes '%.80s' longer than %zu bytes", i,
                                name, sizeof tmp[0] - 1);
        }
        cur = b.p;
    }
    if (strlen(cur) + 1 > n) {
        snprintf(out, n, "%s", cur);
        return eq_error_set(err, EQ_ERR_LIMIT, "mapped name of '%.80s' is longer than %zu bytes",
                            name, n - 1);
    }
    memcpy(out, cur, strlen(cur) + 1);
    return EQ_OK;
}
