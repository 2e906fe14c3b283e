/* clmd: the command-line program (run, eval, check, devices, --version). */
#include <stdio.h>
#include <string.h>

#include "buildinfo.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("clmd %s (%s)\n", CLMD_VERSION, CLMD_GIT_COMMIT);
        return 0;
    }
    fprintf(stderr, "usage: clmd run|eval|check|devices|--version\n");
    return 1;
}
