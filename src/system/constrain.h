/* Turns bonds into distance constraints the way OpenMM's createSystem does:
 *   rigid water   each water (residue HOH/WAT/SOL, or any residue whose massive atoms are one O
 *                 bonded to two H) gets constraints O-H1, O-H2, H1-H2; its bonds and H-O-H
 *                 angle are removed. Distances: the force field's rigid_water geometry when the
 *                 residue has a template with one, else the O-H bond r0 and the H-H bond r0 or
 *                 the H-O-H angle (law of cosines).
 *   hbonds        every remaining bond with a hydrogen (atomic number 1, or mass < 1.5 amu when
 *                 the element is unknown) becomes a constraint of length r0 and leaves the bond
 *                 list; angles stay.
 *   allbonds      every remaining bond likewise.
 * Exclusions are not changed. */
#ifndef CLMD_SYSTEM_CONSTRAIN_H
#define CLMD_SYSTEM_CONSTRAIN_H

#include "core/err.h"

struct clmd_system;
struct clmd_ff;

/* Which bonds become constraints (the deck's `constraints`, mapped by run/load.c). */
typedef enum { CLMD_RIGID_NONE = 0, CLMD_RIGID_HBONDS, CLMD_RIGID_ALLBONDS } clmd_rigid_bonds;

/* ff may be NULL (systems not built from a force-field file). */
int clmd_constrain(struct clmd_system *s, clmd_rigid_bonds kind, int rigid_water,
                   const struct clmd_ff *ff, clmd_err *err);

/* Nonzero for a hydrogen by the rule above. */
int clmd_is_hydrogen(const struct clmd_system *s, int i);

#endif
