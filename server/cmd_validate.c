/* cmd_validate.c - `equivd validate JOB.json`: run a validation job with no
 * server, for CI. The report goes to stdout (or --report FILE), JUnit XML
 * to --junit FILE; stderr gets a progress line per forward pass and a
 * short human summary. Exit status: 0 pass, 1 fail, 2 bad input or an
 * engine error (including a job whose checks could not run). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eq.h"
#include "eq_job.h"

typedef struct vopts {
    const char *job;
    const char *report;
    const char *junit;
    int threads;
    int quiet;
} vopts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: equivd validate JOB.json [options]\n"
            "\n"
            "Run a validation job (docs/job.md) without a server: the guide's checks\n"
            "between graph mode and eager mode. Relative file names in the job\n"
            "(checkpoint, references, input files) are read from the job file's\n"
            "directory. JOB.json may be - for standard input.\n"
            "\n"
            "  --report FILE   write the JSON report to FILE (default: standard output;\n"
            "                  docs/report.md describes it)\n"
            "  --junit FILE    also write JUnit XML, one testcase per check\n"
            "  --threads N     compute threads (default: available cores)\n"
            "  --quiet         no progress lines and no summary on stderr\n"
            "\n"
            "Exit status: 0 every check passed, 1 a check failed, 2 bad input or an\n"
            "engine error.\n");
}

static int parse_args(int argc, char **argv, vopts *o)
{
    static const struct option longopts[] = {
        {"report", required_argument, 0, 'r'}, {"junit", required_argument, 0, 'j'},
        {"threads", required_argument, 0, 'T'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': o->report = optarg; break;
        case 'j': o->junit = optarg; break;
        case 'T': {
            char *end;
            errno = 0;
            long t = strtol(optarg, &end, 10);
            if (*end || errno || t < 1 || t > 1024) {
                fprintf(stderr, "equivd validate: --threads expects a number from 1 to 1024\n");
                return -1;
            }
            o->threads = (int)t;
            break;
        }
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "equivd validate: expected one job file\n");
        usage(stderr);
        return -1;
    }
    o->job = argv[optind];
    return 0;
}

typedef struct progress_ctx {
    int quiet;
    double t0;
} progress_ctx;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_progress(void *ctx, int done, int total, const char *what)
{
    progress_ctx *p = ctx;
    if (!p->quiet)
        fprintf(stderr, "[%3d/%3d %7.2fs] %s\n", done, total, now_seconds() - p->t0, what);
}

/* Write text to path; "-" is standard output. */
static int write_text(const char *path, const char *text)
{
    if (strcmp(path, "-") == 0)
        return fputs(text, stdout) < 0 ? -1 : 0;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "equivd validate: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (!ok)
        fprintf(stderr, "equivd validate: error writing %s\n", path);
    return ok ? 0 : -1;
}

static void print_summary(const json_t *report)
{
    const json_t *checks = json_object_get(report, "checks");
    size_t i;
    const json_t *c;
    fprintf(stderr, "\n");
    json_array_foreach(checks, i, c) {
        const char *v = json_string_value(json_object_get(c, "verdict"));
        double secs = json_number_value(json_object_get(c, "seconds"));
        fprintf(stderr, "  %-7s %-17s %6.2fs  %s\n", v ? v : "?",
                json_string_value(json_object_get(c, "name")), secs,
                json_string_value(json_object_get(c, "summary")));
        if (v && strcmp(v, "pass") != 0 && strcmp(v, "skipped") != 0) {
            const json_t *msgs = json_object_get(c, "messages");
            size_t k;
            const json_t *m;
            json_array_foreach(msgs, k, m) {
                if (k >= 8)
                    break;
                fprintf(stderr, "          - %s\n", json_string_value(m));
            }
        }
    }
    const json_t *t = json_object_get(report, "timing");
    fprintf(stderr, "\n%s\n", json_string_value(json_object_get(report, "summary")));
    if (t)
        fprintf(stderr, "wall %.2fs, forward passes %.2fs (%lld passes), overhead %.1f%%\n",
                json_number_value(json_object_get(t, "wall_seconds")),
                json_number_value(json_object_get(t, "pass_seconds")),
                (long long)json_integer_value(json_object_get(t, "passes")),
                100.0 * json_number_value(json_object_get(t, "overhead_fraction")));
}

int cli_validate(int argc, char **argv)
{
    vopts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    json_error_t jerr;
    json_t *spec = strcmp(o.job, "-") == 0 ? json_loadf(stdin, 0, &jerr)
                                           : json_load_file(o.job, 0, &jerr);
    if (!spec) {
        if (jerr.line > 0)
            fprintf(stderr, "equivd validate: %s: line %d, column %d: %s\n", o.job, jerr.line,
                    jerr.column, jerr.text);
        else
            fprintf(stderr, "equivd validate: %s: %s\n", o.job, jerr.text);
        return 2;
    }
    eq_error err;
    eq_error_clear(&err);
    if (eq_blas_init(o.threads, &err) != EQ_OK) {
        fprintf(stderr, "equivd validate: %s\n", err.message);
        json_decref(spec);
        return 2;
    }
    /* Files named in the job sit next to it. */
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s", strcmp(o.job, "-") == 0 ? "." : o.job);
    eq_job_env env = {.file_dir = dirname(dirbuf), .files_confined = 0};
    eq_job *job = eq_job_parse(spec, &env, &err);
    json_decref(spec);
    if (!job) {
        fprintf(stderr, "equivd validate: %s: %s%s%s\n", o.job, err.path[0] ? err.path : "",
                err.path[0] ? ": " : "", err.message);
        return 2;
    }
    progress_ctx pc = {o.quiet, now_seconds()};
    eq_job_hooks hooks = {.progress = on_progress, .ctx = &pc};
    if (!o.quiet) {
        const char *const *names;
        int n = eq_job_checks(job, &names);
        fprintf(stderr, "equivd validate: %s: %d check%s:", eq_job_name(job)[0] ? eq_job_name(job) : o.job,
                n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %s", names[i]);
        fprintf(stderr, "\n");
    }
    json_t *report = eq_job_run(job, &hooks, &err);
    eq_job_free(job);
    if (!report) {
        fprintf(stderr, "equivd validate: %s\n", err.message);
        return 2;
    }
    int rc = 0;
    char *text = json_dumps(report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text || write_text(o.report ? o.report : "-", text) != 0)
        rc = 2;
    if (text && !o.report)
        fputs("\n", stdout);
    free(text);
    if (o.junit) {
        char *xml = eq_report_junit(report);
        if (!xml || write_text(o.junit, xml) != 0)
            rc = 2;
        free(xml);
    }
    if (!o.quiet)
        print_summary(report);
    const char *verdict = eq_report_verdict(report);
    if (rc == 0)
        rc = strcmp(verdict, "pass") == 0 ? 0 : strcmp(verdict, "fail") == 0 ? 1 : 2;
    json_decref(report);
    return rc;
}
