/* cli.h - the verbs of the equivd command. Each returns the process exit
 * status: 0 success, 1 a failing verdict, 2 bad input or an engine error. */
#ifndef EQ_CLI_H
#define EQ_CLI_H

int cli_run_model(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_gc(int argc, char **argv);

#endif
