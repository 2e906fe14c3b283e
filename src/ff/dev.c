#include "ff/dev.h"

#include <stdio.h>

#include "ff/term.h"

int clmd_dev_box_args(const clmd_dev *d, cl_kernel k, int first, clmd_err *err)
{
    CLMD_ARG(k, first, d->box, err);
    CLMD_ARG(k, first + 1, d->inv_box, err);
    CLMD_ARG(k, first + 2, d->box_b, err);
    CLMD_ARG(k, first + 3, d->box_c, err);
    return CLMD_OK;
}

const char *clmd_dev_defines(const clmd_dev *d)
{
    static char buf[4][512];
    int k = 2 * (d->periodic != 0) + (d->periodic && d->triclinic);
    char *b = buf[k];
    int len = snprintf(b, sizeof buf[k], "#define PERIODIC %d\n#define TRICLINIC %d\n",
                       d->periodic != 0, d->periodic && d->triclinic);
    static const char *names[CLMD_E_NCOMP] = {"E_LJ", "E_COULOMB", "E_PME_RECIP", "E_BOND", "E_ANGLE",
                                              "E_TORSION", "E_GB", "E_SA", "E_DISP"};
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        len += snprintf(b + len, sizeof buf[k] - (size_t)len, "#define %s %d\n", names[c], c);
    return b;
}
