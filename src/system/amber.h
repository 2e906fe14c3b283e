/* Amber topology (prmtop, format 7+) and coordinates (inpcrd/rst7) importer.
 * Fills a clmd_system: particles, charges (prmtop units / 18.2223), masses, LJ parameters,
 * exclusions, bonds, angles, torsions, 1-4 pairs with SCEE/SCNB scaling, CMAP correction maps
 * and terms (CMAP_* or CHARMM_CMAP_* sections), box, GB radii and screening factors, atomic
 * numbers, and the extra point of 4-point water (TIP4P-Ew, OPC) as a massless virtual site
 * (ThreeParticleAverageSite of its water, OpenMM's weights; bonded terms with an extra point
 * dropped, as Amber does). Unsupported features are errors naming the section, or the residue
 * and atom for extra points clmd cannot place (TIP5P lone pairs, extra points off water).
 * The caller owns the result (clmd_system_destroy). */
#ifndef CLMD_SYSTEM_AMBER_H
#define CLMD_SYSTEM_AMBER_H

#include "core/err.h"

struct clmd_system;

/* Choices a caller may make about what the importer does with features clmd lacks. */
typedef struct clmd_amber_opts {
    /* CMAP correction maps (ff19SB, CHARMM through ParmEd) are read by default. Nonzero leaves
     * them out (the energy is then not the force field's); the count of left-out terms is
     * written into sys->source so that outputs show it. */
    int drop_cmap;
} clmd_amber_opts;

/* inpcrd may be NULL (coordinates left at zero). */
int clmd_amber_load(const char *prmtop, const char *inpcrd, struct clmd_system **out,
                    clmd_err *err);
/* Same, with options (opts may be NULL: defaults). */
int clmd_amber_load_opts(const char *prmtop, const char *inpcrd, const clmd_amber_opts *opts,
                         struct clmd_system **out, clmd_err *err);

#endif
