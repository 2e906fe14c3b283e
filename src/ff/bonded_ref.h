/* Double-precision CPU references of the bonded terms of a clmd_system, in OpenMM's
 * conventions (see system/system.h): harmonic bonds, harmonic angles, periodic torsions
 * (proper and improper alike, OpenMM's/IUPAC dihedral sign), and the Coulomb + LJ energy of
 * the 1-4 pair exceptions. Pure functions: each reads x ([3n], nm), adds its forces
 * (kJ/mol/nm) into f ([3n]; f may be NULL for the energy alone) and returns its energy
 * (kJ/mol). With a box (rows, reduced form; NULL: none) every bond, angle, torsion and pair
 * vector is taken at its minimum image, so molecules split across the boundary are fine; pass
 * the run's current box (the state's), or clmd_system_box(sys) for the input's.
 * Nothing is allocated; the caller owns x and f. */
#ifndef CLMD_FF_BONDED_REF_H
#define CLMD_FF_BONDED_REF_H

struct clmd_system;

/* d = x_to - x_from at its minimum image in box (valid for |d| below half the smallest box
 * width), else the plain difference. */
void clmd_bonded_ref_delta(const double (*box)[3], const double *x_from, const double *x_to,
                           double d[3]);

/* E = 1/2 k (r - r0)^2 over sys->bonds. */
double clmd_bonded_ref_bonds(const struct clmd_system *sys, const double (*box)[3],
                             const double *x, double *f);
/* E = 1/2 k (theta - theta0)^2 over sys->angles. */
double clmd_bonded_ref_angles(const struct clmd_system *sys, const double (*box)[3],
                              const double *x, double *f);
/* E = k (1 + cos(n phi - phase)) over sys->torsions. */
double clmd_bonded_ref_torsions(const struct clmd_system *sys, const double (*box)[3],
                                const double *x, double *f);
/* The same with the force constants of torsions whose four particles are all in the system's
 * region (REST2's solute) times region_factor. */
double clmd_bonded_ref_torsions_region(const struct clmd_system *sys, const double (*box)[3],
                                       const double *x, double *f, double region_factor);

/* The unscaled energy of the region's torsions (all four particles in the region), per copy of
 * a batched system (per_copy[nseg], one entry otherwise), added into per_copy. */
void clmd_bonded_ref_region_torsions(const struct clmd_system *sys, const double (*box)[3],
                                     const double *x, double *per_copy);
/* E = 138.935456 qq / r + 4 eps ((s/r)^12 - (s/r)^6) over sys->pairs (the 1-4 exceptions). */
double clmd_bonded_ref_pairs(const struct clmd_system *sys, const double (*box)[3],
                             const double *x, double *f);

#endif
