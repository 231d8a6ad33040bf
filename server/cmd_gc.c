/* cmd_gc.c - `equivd gc`: delete finished jobs older than a cutoff, with
 * everything they own (variables, tensors and their blobs, diffs, traces,
 * events), then give the space back. Safe beside a running daemon: SQLite's
 * busy timeout orders the two writers. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "srv_config.h"
#include "srv_store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: equivd gc --older-than DURATION [--state-dir DIR] [--config FILE]\n"
               "\n"
               "Delete jobs that finished (done, failed or cancelled) more than DURATION ago\n"
               "(30d, 12h, 90m, 45s), with their stored tensors, diffs, traces and events.\n"
               "Queued and running jobs are never removed. Without --older-than, the config\n"
               "file's 'retention' setting is used.\n"
               "\n"
               "  --older-than DURATION   cutoff age\n"
               "  --state-dir DIR         state directory (default ./equivd-data)\n"
               "  --config FILE           read state-dir and retention from FILE\n"
               "  --dry-run               only say how many jobs would go\n");
}

int cli_gc(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    double older = -1;
    int dry = 0;
    eq_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--older-than") && v) {
            older = srv_parse_duration(v);
            if (older < 0) {
                fprintf(stderr, "equivd gc: --older-than wants a duration like 30d, not '%s'\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--state-dir") && v) {
            snprintf(cfg.state_dir, sizeof cfg.state_dir, "%s", v);
            i++;
        } else if (!strcmp(a, "--config") && v) {
            if (srv_config_load_file(&cfg, v, &err) != EQ_OK) {
                fprintf(stderr, "equivd gc: %s\n", err.message);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else {
            fprintf(stderr, "equivd gc: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (older < 0)
        older = cfg.retention > 0 ? cfg.retention : -1;
    if (older < 0) {
        fprintf(stderr, "equivd gc: say how old: --older-than DURATION (or retention in the config)\n");
        return 2;
    }
    srv_store *s = srv_store_open(cfg.state_dir, &err);
    if (!s) {
        fprintf(stderr, "equivd gc: %s\n", err.message);
        return 2;
    }
    double cutoff = srv_now() - older;
    int64_t n;
    if (dry) {
        n = srv_store_gc_count(s, cutoff, &err);
    } else {
        n = srv_store_gc(s, cutoff, &err);
    }
    srv_store_close(s);
    if (n < 0) {
        fprintf(stderr, "equivd gc: %s\n", err.message);
        return 2;
    }
    printf("%s %lld job(s) finished more than %.0f s ago\n", dry ? "would remove" : "removed",
           (long long)n, older);
    return 0;
}
