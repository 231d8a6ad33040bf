/* cmd_serve.c - `equivd serve`: the daemon.
 *
 * Start order (ready means the DB is migrated and the port is open):
 *   config -> store (migrate) -> requeue interrupted jobs -> HTTP listen
 *   -> workers -> port file, sd_notify READY=1 -> wait for a signal.
 * Stop (SIGTERM / SIGINT): STOPPING=1, stop accepting connections and
 * writes, interrupt running jobs at their pass boundary (requeued), answer
 * the waiting requests, close the store.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_notify.h"

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "equivd: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int write_port_file(const char *path, int port)
{
    char tmp[SRV_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void run_gc(srv_store *store, double retention)
{
    eq_error err = {0};
    int64_t n = srv_store_gc(store, srv_now() - retention, &err);
    if (n < 0)
        logf_("retention: %s", err.message);
    else if (n > 0)
        logf_("retention: removed %lld jobs", (long long)n);
}

int cli_serve(int argc, char **argv)
{
    srv_config cfg;
    srv_config_defaults(&cfg);
    int help = 0;
    eq_error err = {0};
    if (srv_config_parse(&cfg, argc, argv, &help, &err) != EQ_OK) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        return 2;
    }
    if (help) {
        srv_config_usage(stdout);
        return 0;
    }
    if (srv_config_load_token(&cfg, &err) != EQ_OK) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        return 2;
    }

    /* Signals are taken synchronously by this thread (sigtimedwait); every
     * thread started below inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 2;
    srv_server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = &cfg;
    srv.store = srv_store_open(cfg.state_dir, &err);
    if (!srv.store) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        return 2;
    }
    snprintf(srv.checkpoint_dir, sizeof srv.checkpoint_dir, "%s/checkpoints", cfg.state_dir);
    if (mkdir(srv.checkpoint_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "equivd serve: %s: %s\n", srv.checkpoint_dir, strerror(errno));
        goto out;
    }
    int threads = cfg.engine_threads;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > cfg.workers ? (int)(cores / cfg.workers) : 1;
    }
    srv.exec = srv_exec_new(srv.checkpoint_dir, srv.store, threads, &err);
    srv.metrics = srv_metrics_new();
    if (!srv.exec || !srv.metrics) {
        fprintf(stderr, "equivd serve: %s\n", err.message[0] ? err.message : "out of memory");
        goto out;
    }
    if (strcmp(srv.exec->kind, "engine") != 0)
        logf_("TEST EXECUTOR '%s' is active (EQUIVD_TEST_EXECUTOR): jobs are not really run",
              srv.exec->kind);
    srv.queue = srv_queue_new(srv.store, srv.exec, srv.metrics, &cfg, &err);
    if (!srv.queue) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        goto out;
    }
    int requeued = srv_queue_recover(srv.queue, &err);
    if (requeued < 0) {
        fprintf(stderr, "equivd serve: recovering the queue: %s\n", err.message);
        goto out;
    }
    if (requeued)
        logf_("requeued %d job(s) interrupted by the previous stop", requeued);
    srv_queue_on_end(srv.queue, srv_http_job_ended, &srv);
    /* Collect before serving (so a start is a known point), then hourly. */
    double last_gc = 0;
    if (cfg.retention > 0) {
        run_gc(srv.store, cfg.retention);
        last_gc = srv_now();
    }
    if (srv_http_start(&srv, &err) != EQ_OK) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        goto out;
    }
    if (srv_queue_start(srv.queue, &err) != EQ_OK) {
        fprintf(stderr, "equivd serve: %s\n", err.message);
        goto stop;
    }
    if (cfg.port_file[0] && write_port_file(cfg.port_file, srv.port) != 0)
        logf_("cannot write the port file %s: %s", cfg.port_file, strerror(errno));
    logf_("listening on http://%s%s%s:%d/ (state %s, %d worker%s x %d thread%s, schema v%d%s)",
          strchr(cfg.listen, ':') ? "[" : "", cfg.listen, strchr(cfg.listen, ':') ? "]" : "", srv.port,
          cfg.state_dir, cfg.workers, cfg.workers == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
          srv_store_schema_version(srv.store),
          cfg.token[0] ? ", token required for writes" : "");
    char status[256];
    snprintf(status, sizeof status, "READY=1\nSTATUS=listening on %s port %d", cfg.listen, srv.port);
    srv_notify(status);

    for (;;) {
        if (cfg.retention > 0 && srv_now() - last_gc >= 3600) {
            run_gc(srv.store, cfg.retention);
            last_gc = srv_now();
        }
        struct timespec ts = {60, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP)
            logf_("SIGHUP ignored: restart to change settings");
    }
    logf_("stopping: no new requests; running jobs stop at their next pass and are requeued");
    srv_notify("STOPPING=1");
    rc = 0;
stop:
    srv_http_quiesce(&srv);
    srv_queue_stop(srv.queue);
    srv_http_stop(&srv);
out:
    srv_queue_free(srv.queue);
    srv_exec_free(srv.exec);
    srv_metrics_free(srv.metrics);
    srv_store_close(srv.store);
    if (rc == 0)
        logf_("stopped cleanly");
    return rc;
}
