/* testd_main.c - the daemon's verbs without the rest of the equivd command
 * (see server/daemon.am). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return cli_serve(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "gc") == 0)
        return cli_gc(argc - 1, argv + 1);
    fprintf(stderr, "usage: equivd-testd serve|gc [options]\n");
    return 2;
}
