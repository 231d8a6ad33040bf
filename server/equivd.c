/* equivd.c - the equivd command: dispatch to a verb. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: equivd VERB [options]\n"
            "\n"
            "verbs:\n"
            "  serve             run the validation service (HTTP API, queue, store)\n"
            "  gc                delete old finished jobs (--older-than 30d)\n"
            "  run-model MODEL   run a model in eager and/or graph mode and print outputs\n"
            "  validate JOB      run a validation job's checks (no server) and report\n"
            "  version           print the version\n"
            "\n"
            "`equivd VERB --help` describes a verb's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "serve") == 0)
        return cli_serve(argc - 1, argv + 1);
    if (strcmp(verb, "gc") == 0)
        return cli_gc(argc - 1, argv + 1);
    if (strcmp(verb, "run-model") == 0)
        return cli_run_model(argc - 1, argv + 1);
    if (strcmp(verb, "validate") == 0)
        return cli_validate(argc - 1, argv + 1);
    if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0) {
        printf("equivd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (strcmp(verb, "help") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "equivd: unknown verb '%s'\n", verb);
    usage(stderr);
    return 2;
}
