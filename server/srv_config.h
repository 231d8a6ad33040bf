/* srv_config.h - `equivd serve` settings: defaults, config file, flags.
 *
 * Every setting has one name, used both as a long flag (--max-queue 64) and
 * as a config file key (max-queue = 64). Precedence: built-in default, then
 * the config file (--config FILE), then flags. */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "eq_error.h"

#define SRV_PATH_MAX 4096

typedef struct srv_config {
    char listen[128];            /* address to bind: 127.0.0.1 */
    int port;                    /* 8080; 0 picks a free port */
    char state_dir[SRV_PATH_MAX];
    char web_root[SRV_PATH_MAX];
    char token_file[SRV_PATH_MAX];
    char port_file[SRV_PATH_MAX]; /* write the bound port here once ready */
    int workers;                 /* jobs run at once */
    int http_threads;            /* libmicrohttpd polling threads */
    int engine_threads;          /* compute threads per job; 0: cores / workers */
    int max_queue;               /* queued jobs before 429 */
    int max_connections;
    int64_t max_body;            /* bytes of a JSON request body */
    int64_t max_checkpoint;      /* bytes of one uploaded checkpoint */
    int64_t max_blob;            /* raw tensors up to this size go in the DB */
    int64_t max_parameters;      /* model budget; 0 = no limit */
    int64_t max_activation_bytes;
    double max_flops;            /* FLOPs of the whole job (all passes) */
    int max_wait;                /* longest ?wait= honoured, seconds */
    int auth_reads;              /* 1: reads need the token too */
    double retention;            /* seconds; gc jobs finished longer ago; 0 = keep */
    char token[512];             /* loaded from token_file */
} srv_config;

void srv_config_defaults(srv_config *c);
/* Apply the config file (if --config is among the args) then the flags.
 * Returns EQ_ERR_INVALID naming the flag or file:line otherwise; *help is
 * set when --help was given. */
eq_status srv_config_parse(srv_config *c, int argc, char **argv, int *help, eq_error *err);
eq_status srv_config_load_file(srv_config *c, const char *path, eq_error *err);
/* Read the token file into c->token (trailing whitespace removed). */
eq_status srv_config_load_token(srv_config *c, eq_error *err);
void srv_config_usage(FILE *f);

/* "30d", "12h", "15m", "20s", "1.5" (seconds) -> seconds; -1 if malformed. */
double srv_parse_duration(const char *s);
/* "1M" = 1048576, "512K", "2G", "100" bytes; -1 if malformed. */
int64_t srv_parse_size(const char *s);

#endif
