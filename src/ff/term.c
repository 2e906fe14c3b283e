#include "ff/term.h"

#include <stddef.h>

const char *const clmd_ecomp_name[CLMD_E_NCOMP] = {
    "lj", "coulomb", "pme_reciprocal", "bond", "angle", "torsion", "gb", "surface_area",
    "dispersion_correction", "cmap"};

const char *const clmd_ecomp_define[CLMD_E_NCOMP] = {
    "E_LJ", "E_COULOMB", "E_PME_RECIP", "E_BOND", "E_ANGLE", "E_TORSION", "E_GB", "E_SA",
    "E_DISP", "E_CMAP"};

void clmd_term_destroy(clmd_term **t)
{
    if (!t || !*t) return;
    if ((*t)->ops && (*t)->ops->destroy) (*t)->ops->destroy(*t);
    *t = NULL;
}
