/* srv_config.c - settings table, config file and flag parsing. */
#include "srv_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

typedef enum { T_STR, T_INT, T_SIZE, T_COUNT, T_DURATION, T_BOOL, T_REAL } opt_type;

typedef struct opt {
    const char *name;
    opt_type type;
    size_t off, len; /* len: buffer size for strings */
    const char *arg, *help;
} opt;

#define O(field) offsetof(srv_config, field)
#define S(field) sizeof(((srv_config *)0)->field)

static const opt OPTS[] = {
    {"listen", T_STR, O(listen), S(listen), "ADDR", "address to listen on (default 127.0.0.1)"},
    {"port", T_INT, O(port), 0, "PORT", "TCP port (default 8080; 0 picks a free one)"},
    {"state-dir", T_STR, O(state_dir), S(state_dir), "DIR",
     "database, checkpoints (default ./equivd-data)"},
    {"web-root", T_STR, O(web_root), S(web_root), "DIR",
     "static web UI files (default: installed pkgdatadir/web, or ./web in a source tree)"},
    {"token-file", T_STR, O(token_file), S(token_file), "FILE",
     "bearer token for write requests (none: writes are open)"},
    {"auth-reads", T_BOOL, O(auth_reads), 0, "yes|no",
     "reads need the token too (default no; /healthz stays open)"},
    {"workers", T_INT, O(workers), 0, "N", "jobs run at the same time (default 1)"},
    {"http-threads", T_INT, O(http_threads), 0, "N", "HTTP polling threads (default 2)"},
    {"engine-threads", T_INT, O(engine_threads), 0, "N",
     "compute threads per running job (default: cores / workers, at least 1)"},
    {"max-connections", T_INT, O(max_connections), 0, "N", "open connections (default 512)"},
    {"max-queue", T_INT, O(max_queue), 0, "N",
     "queued jobs before submissions get 429 (default 256)"},
    {"max-body", T_SIZE, O(max_body), 0, "SIZE", "largest JSON request body (default 4M)"},
    {"max-checkpoint", T_SIZE, O(max_checkpoint), 0, "SIZE",
     "largest uploaded checkpoint (default 2G)"},
    {"max-blob", T_SIZE, O(max_blob), 0, "SIZE",
     "raw output tensors up to this size are kept for .npy download (default 1M)"},
    {"max-parameters", T_COUNT, O(max_parameters), 0, "N",
     "refuse models with more parameters (default 200M; 0: no limit)"},
    {"max-activation-bytes", T_SIZE, O(max_activation_bytes), 0, "SIZE",
     "refuse models needing more activation memory per pass (default 8G; 0: no limit)"},
    {"max-flops", T_REAL, O(max_flops), 0, "N",
     "refuse jobs estimated above this many FLOPs, all passes (default 1e13; 0: no limit)"},
    {"max-wait", T_DURATION, O(max_wait), 0, "DURATION",
     "longest ?wait= honoured (default 10m)"},
    {"retention", T_DURATION, O(retention), 0, "DURATION",
     "delete finished jobs older than this, checked hourly (default 0: keep)"},
    {"port-file", T_STR, O(port_file), S(port_file), "FILE",
     "write the bound port here once ready (for --port 0)"},
};
#define N_OPTS (sizeof OPTS / sizeof *OPTS)

void srv_config_defaults(srv_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1");
    c->port = 8080;
    snprintf(c->state_dir, sizeof c->state_dir, "./equivd-data");
    /* A source tree's web/ wins when run from the tree (the developer's
     * case); otherwise the installed copy. */
    if (access("web/index.html", R_OK) == 0)
        snprintf(c->web_root, sizeof c->web_root, "./web");
    else
        snprintf(c->web_root, sizeof c->web_root, "%s", EQUIVD_WEB_DIR);
    c->workers = 1;
    c->http_threads = 2;
    c->max_connections = 512;
    c->max_queue = 256;
    c->max_body = 4 << 20;
    c->max_checkpoint = (int64_t)2 << 30;
    c->max_blob = 1 << 20;
    c->max_parameters = 200000000;
    c->max_activation_bytes = (int64_t)8 << 30;
    c->max_flops = 1e13;
    c->max_wait = 600;
    c->retention = 0;
}

double srv_parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    double mult = 1;
    if (*end) {
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        case 'w': mult = 7 * 86400; break;
        default: return -1;
        }
        if (end[1])
            return -1;
    }
    return v * mult;
}

static double parse_scaled(const char *s, double k)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    double mult = 1;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K': mult = k; break;
        case 'M': mult = k * k; break;
        case 'G': mult = k * k * k; break;
        case 'T': mult = k * k * k * k; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'B') /* accept "MiB", "MB" */
            end++;
        if (*end == 'B')
            end++;
        if (*end)
            return -1;
    }
    return v * mult;
}

int64_t srv_parse_size(const char *s)
{
    double v = parse_scaled(s, 1024);
    return v < 0 || v > 9.2e18 ? -1 : (int64_t)v;
}

static eq_status set_opt(srv_config *c, const opt *o, const char *val, const char *where, eq_error *err)
{
    char *p = (char *)c + o->off;
    switch (o->type) {
    case T_STR:
        if (strlen(val) >= o->len)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name, "%s: %s is too long", where, o->name);
        memcpy(p, val, strlen(val) + 1);
        return EQ_OK;
    case T_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (end == val || *end || errno || v < 0 || v > 1000000)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants a whole number from 0 to 1000000, not '%s'",
                                     where, o->name, val);
        *(int *)p = (int)v;
        return EQ_OK;
    }
    case T_SIZE: {
        int64_t v = srv_parse_size(val);
        if (v < 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants a size like 512K, 4M or 2G, not '%s'", where,
                                     o->name, val);
        *(int64_t *)p = v;
        return EQ_OK;
    }
    case T_COUNT: {
        double v = parse_scaled(val, 1000);
        if (v < 0 || v > 9.2e18)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants a count like 5000000 or 200M, not '%s'", where,
                                     o->name, val);
        *(int64_t *)p = (int64_t)v;
        return EQ_OK;
    }
    case T_REAL: {
        double v = parse_scaled(val, 1000);
        if (v < 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants a number like 1e12 or 500G, not '%s'", where,
                                     o->name, val);
        *(double *)p = v;
        return EQ_OK;
    }
    case T_DURATION: {
        double v = srv_parse_duration(val);
        if (v < 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants a duration like 30d, 12h, 15m or 90s, not '%s'",
                                     where, o->name, val);
        if (o->off == O(max_wait))
            *(int *)p = v > 86400 ? 86400 : (int)v;
        else
            *(double *)p = v;
        return EQ_OK;
    }
    case T_BOOL:
        if (!strcmp(val, "yes") || !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "on"))
            *(int *)p = 1;
        else if (!strcmp(val, "no") || !strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "off"))
            *(int *)p = 0;
        else
            return eq_error_set_path(err, EQ_ERR_INVALID, o->name,
                                     "%s: %s wants yes or no, not '%s'", where, o->name, val);
        return EQ_OK;
    }
    return EQ_OK;
}

static const opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strlen(OPTS[i].name) == len && strncmp(OPTS[i].name, name, len) == 0)
            return &OPTS[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

eq_status srv_config_load_file(srv_config *c, const char *path, eq_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return eq_error_set_path(err, EQ_ERR_IO, "config", "config file %s: %s", path, strerror(errno));
    char line[8192];
    int lineno = 0;
    eq_status rc = EQ_OK;
    while (rc == EQ_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *s = trim(line);
        if (!*s)
            continue;
        char where[SRV_PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = eq_error_set_path(err, EQ_ERR_INVALID, "config", "%s: expected 'key = value'", where);
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        const opt *o = find_opt(key, strlen(key));
        if (!o) {
            rc = eq_error_set_path(err, EQ_ERR_INVALID, "config", "%s: unknown setting '%s'", where, key);
            break;
        }
        rc = set_opt(c, o, val, where, err);
    }
    fclose(f);
    return rc;
}

eq_status srv_config_parse(srv_config *c, int argc, char **argv, int *help, eq_error *err)
{
    *help = 0;
    /* The config file first, wherever --config stands, so flags override it. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return eq_error_set_path(err, EQ_ERR_INVALID, "config", "--config needs a FILE");
            eq_status rc = srv_config_load_file(c, argv[i + 1], err);
            if (rc != EQ_OK)
                return rc;
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
            eq_status rc = srv_config_load_file(c, a + 9, err);
            if (rc != EQ_OK)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return EQ_OK;
        }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0)
            return eq_error_set_path(err, EQ_ERR_INVALID, a, "unexpected argument '%s'", a);
        const char *name = a + 2;
        const char *eqs = strchr(name, '=');
        size_t len = eqs ? (size_t)(eqs - name) : strlen(name);
        const opt *o = find_opt(name, len);
        if (!o)
            return eq_error_set_path(err, EQ_ERR_INVALID, a, "unknown option '%.*s' (see --help)",
                                     (int)len + 2, a);
        const char *val;
        if (eqs) {
            val = eqs + 1;
        } else if (o->type == T_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            val = "yes";
        } else {
            if (i + 1 >= argc)
                return eq_error_set_path(err, EQ_ERR_INVALID, a, "%s needs a value (%s)", a, o->arg);
            val = argv[++i];
        }
        char where[64];
        snprintf(where, sizeof where, "--%s", o->name);
        eq_status rc = set_opt(c, o, val, where, err);
        if (rc != EQ_OK)
            return rc;
    }
    if (c->workers < 1)
        return eq_error_set_path(err, EQ_ERR_INVALID, "workers", "workers must be at least 1");
    if (c->http_threads < 1)
        return eq_error_set_path(err, EQ_ERR_INVALID, "http-threads", "http-threads must be at least 1");
    if (c->port > 65535)
        return eq_error_set_path(err, EQ_ERR_INVALID, "port", "port must be at most 65535");
    if (c->max_queue < 1)
        return eq_error_set_path(err, EQ_ERR_INVALID, "max-queue", "max-queue must be at least 1");
    return EQ_OK;
}

eq_status srv_config_load_token(srv_config *c, eq_error *err)
{
    c->token[0] = 0;
    if (!c->token_file[0])
        return EQ_OK;
    FILE *f = fopen(c->token_file, "r");
    if (!f)
        return eq_error_set_path(err, EQ_ERR_IO, "token-file", "token file %s: %s", c->token_file,
                                 strerror(errno));
    size_t n = fread(c->token, 1, sizeof c->token - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    c->token[n] = 0;
    char *t = trim(c->token);
    memmove(c->token, t, strlen(t) + 1);
    if (more)
        return eq_error_set_path(err, EQ_ERR_INVALID, "token-file",
                                 "token file %s: longer than %zu bytes", c->token_file, sizeof c->token - 1);
    if (!c->token[0])
        return eq_error_set_path(err, EQ_ERR_INVALID, "token-file",
                                 "token file %s is empty (an empty token would let anyone in)",
                                 c->token_file);
    for (const char *p = c->token; *p; p++)
        if (!isgraph((unsigned char)*p))
            return eq_error_set_path(err, EQ_ERR_INVALID, "token-file",
                                     "token file %s: the token must be one word of printable characters",
                                     c->token_file);
    return EQ_OK;
}

void srv_config_usage(FILE *f)
{
    fprintf(f, "usage: equivd serve [--config FILE] [options]\n"
               "\n"
               "Run the validation service: HTTP API, job queue and workers, SQLite store.\n"
               "Settings come from built-in defaults, then the config file, then flags.\n"
               "A config file holds 'name = value' lines with the option names below\n"
               "(without --); '#' starts a comment.\n"
               "\n"
               "  --config FILE              read settings from FILE\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", OPTS[i].name, OPTS[i].arg);
        fprintf(f, "  %-26s %s\n", left, OPTS[i].help);
    }
    fprintf(f, "\n"
               "Sizes take K, M, G suffixes (powers of 1024); counts k, M, G, T (powers of\n"
               "1000); durations s, m, h, d, w.\n"
               "Signals: SIGTERM or SIGINT stop accepting requests, let the running pass\n"
               "finish (its job goes back to the queue) and exit.\n");
}
