/* clmd: the command-line program. Dispatches to the subcommands in cli/commands.c. */
#include <stdio.h>
#include <string.h>

#include "buildinfo.h"
#include "cli/commands.h"
#include "remd/comm.h"

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("clmd %s (%s, %s, %s)\n", CLMD_VERSION, CLMD_GIT_COMMIT, CLMD_COMPILER, CLMD_CFLAGS);
        return 0;
    }
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        clmd_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) {
        /* a campaign under mpirun is one of several processes */
        clmd_comm_init(&argc, &argv, NULL);
        int rc = clmd_cmd_run(argc - 2, argv + 2);
        clmd_comm_finish(NULL);
        return rc;
    }
    if (strcmp(cmd, "remd-report") == 0) return clmd_cmd_remd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0) return clmd_cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0) return clmd_cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "devices") == 0) return clmd_cmd_devices(argc - 2, argv + 2);
    if (cmd[0]) fprintf(stderr, "clmd: unknown command '%s'\n", cmd);
    else fprintf(stderr, "clmd: a command is required\n");
    clmd_usage(stderr);
    return 1;
}
