/* The subcommands of the clmd program. Each takes the arguments after its name, returns the
 * process exit status (0 success, 1 bad input or usage, 2 runtime failure) and prints its own
 * messages; main() only dispatches. */
#ifndef CLMD_CLI_COMMANDS_H
#define CLMD_CLI_COMMANDS_H

#include <stdio.h>

/* The usage text: every command and option. */
void clmd_usage(FILE *out);

int clmd_cmd_run(int argc, char **argv);
int clmd_cmd_eval(int argc, char **argv);
int clmd_cmd_check(int argc, char **argv);
int clmd_cmd_devices(int argc, char **argv);
int clmd_cmd_remd_report(int argc, char **argv);

#endif
