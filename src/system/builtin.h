/* Built-in systems, generated deterministically (same arguments, same system, bit for bit):
 *   lj_fcc     4*cells^3 atoms of a force field's single type on an fcc lattice in a cubic box,
 *              lattice constant a = (4/rho*)^(1/3) sigma;
 *   water_box  a cubic box of rigid waters (the force field's rigid_water template) at
 *              997 kg/m^3, oxygens on a lattice, orientations pseudo-random, no O-O pair closer
 *              than CLMD_WATER_MIN_OO; virtual sites (TIP4P-Ew's M) included per water.
 * The caller owns the result (clmd_system_destroy). */
#ifndef CLMD_SYSTEM_BUILTIN_H
#define CLMD_SYSTEM_BUILTIN_H

#include "core/err.h"

struct clmd_ff;
struct clmd_system;

#define CLMD_WATER_DENSITY 997.0 /* kg/m^3 */
#define CLMD_WATER_MIN_OO 0.26   /* nm */
#define CLMD_AVOGADRO 6.02214076e23
/* lj_fcc: at most 200 cells a side, 32,000,000 atoms. Below every index limit (4*cells^3 and
 * the 3*n coordinate index fit an int up to 563 cells; the pair list numbers 8-atom clusters
 * in 24 bits, up to 322 cells), and already 2.9 GB of host memory for the system alone
 * (88 bytes an atom, measured; built in about 11 s), before velocities and the engine's
 * buffers. The deck's system.cells range is the same number (CLMD_DECK_MAX_CELLS, checked at
 * compile time in run/load.c). */
#define CLMD_LJ_FCC_MAX_CELLS 200

int clmd_builtin_lj_fcc(const struct clmd_ff *ff, int cells, double reduced_density,
                        struct clmd_system **out, clmd_err *err);

int clmd_builtin_water_box(const struct clmd_ff *ff, double edge_nm, struct clmd_system **out,
                           clmd_err *err);

#endif
