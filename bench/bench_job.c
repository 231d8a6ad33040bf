/* bench_job.c - how much a validation job costs beyond its forward passes.
 *
 *   bench/bench_job [JOB.json] [--repeat N] [--threads N]
 *
 * Runs a job (default: every check on Inception-ResNet-v2, batch 1, the
 * zoo model with the job defaults) N times and prints, per run, the wall
 * time next to the sum of its passes' compute time (eq_result.seconds of
 * every forward pass, graph builds and variable initialisation included),
 * and the difference: parsing, comparisons, traces, report building. The
 * target (DESIGN.md) is an overhead below 10% of the wall time. Parsing the
 * job (and the zoo model) happens before the clock of eq_job_run starts, so
 * it is timed and printed apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eq.h"
#include "eq_job.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int repeat = 3, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (argv[i][0] != '-')
            file = argv[i];
        else {
            fprintf(stderr, "usage: bench_job [JOB.json] [--repeat N] [--threads N]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    eq_error err;
    if (eq_blas_init(threads, &err) != EQ_OK) {
        fprintf(stderr, "bench_job: %s\n", err.message);
        return 1;
    }
    json_error_t jerr;
    json_t *spec = file ? json_load_file(file, 0, &jerr)
                        : json_pack("{s:s, s:{s:s}}", "name", "irv2-default", "model", "zoo",
                                    "inception_resnet_v2");
    if (!spec) {
        fprintf(stderr, "bench_job: %s: %s\n", file ? file : "(default job)", jerr.text);
        return 1;
    }
    double *overhead = calloc((size_t)repeat, sizeof *overhead);
    printf("job: %s, %d run%s\n", file ? file : "inception_resnet_v2, all checks, batch 1", repeat,
           repeat == 1 ? "" : "s");
    printf("%-4s %10s %10s %10s %10s %9s %7s  %s\n", "run", "parse_s", "wall_s", "passes_s",
           "overhead_s", "overhead", "passes", "verdict");
    int rc = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_seconds();
        eq_job *job = eq_job_parse(spec, NULL, &err);
        double parse_s = now_seconds() - t0;
        if (!job) {
            fprintf(stderr, "bench_job: %s: %s\n", err.path, err.message);
            rc = 1;
            break;
        }
        json_t *report = eq_job_run(job, NULL, &err);
        eq_job_free(job);
        if (!report) {
            fprintf(stderr, "bench_job: %s\n", err.message);
            rc = 1;
            break;
        }
        const json_t *t = json_object_get(report, "timing");
        double wall = json_number_value(json_object_get(t, "wall_seconds"));
        double passes = json_number_value(json_object_get(t, "pass_seconds"));
        overhead[r] = wall > 0 ? (wall - passes) / wall : 0;
        printf("%-4d %10.3f %10.3f %10.3f %10.3f %8.1f%% %7lld  %s\n", r + 1, parse_s, wall, passes,
               wall - passes, 100.0 * overhead[r],
               (long long)json_integer_value(json_object_get(t, "passes")),
               eq_report_verdict(report));
        if (r == 0) {
            /* Where the time goes, per check. */
            size_t i;
            const json_t *c;
            json_array_foreach(json_object_get(report, "checks"), i, c) {
                double cs = json_number_value(json_object_get(c, "seconds"));
                double cp = json_number_value(json_object_get(c, "pass_seconds"));
                printf("     %-18s %8.3f s, passes %8.3f s, other %7.3f s\n",
                       json_string_value(json_object_get(c, "name")), cs, cp, cs - cp);
            }
        }
        json_decref(report);
    }
    if (rc == 0) {
        qsort(overhead, (size_t)repeat, sizeof *overhead, cmp_double);
        printf("median overhead: %.1f%% of the wall time (target < 10%%)\n",
               100.0 * overhead[repeat / 2]);
    }
    free(overhead);
    json_decref(spec);
    return rc;
}
