/* CMAP (correction map) torsion pairs: the interpolation tables and the double-precision CPU
 * reference, in OpenMM's CMAPTorsionForce conventions, so the two compare to rounding:
 *   - phi is the torsion a-b-c-d, psi the torsion b-c-d-e, each with OpenMM's (IUPAC) sign, taken
 *     into [0, 2pi) to index the map (layout of clmd_cmap_map in system/system.h);
 *   - the energy is the bicubic Hermite interpolant on the grid cell holding (phi, psi), with the
 *     derivatives at the nodes dE/dphi, dE/dpsi and d2E/dphi dpsi taken from periodic cubic splines
 *     through the grid lines (the cross derivative as the phi-spline of the psi-derivatives).
 * A map of size n gives n*n patches of 16 coefficients: patch (i, j) covers
 * phi in [i h, (i+1) h), psi in [j h, (j+1) h), h = 2pi/n, and
 *   E = sum_{p,q=0..3} c[4p + q] u^p v^q,  u = phi/h - i,  v = psi/h - j.
 * The functions are pure; the caller owns every array. */
#ifndef CLMD_FF_CMAP_REF_H
#define CLMD_FF_CMAP_REF_H

struct clmd_system;

/* Patch coefficients of one map: c has 16 * size * size entries, patch (i, j) at
 * c + 16 * (i + size * j). energy is size*size values (kJ/mol) in clmd_cmap_map's layout. */
void clmd_cmap_ref_coefficients(int size, const double *energy, double *c);

/* Slopes of the periodic cubic spline through y[0..n-1] at the nodes, spacing h: d[k] = y'(k h).
 * (The interpolating periodic cubic spline is unique, so these are OpenMM's numbers too.) */
void clmd_cmap_ref_spline_slopes(int n, double h, const double *y, double *d);

/* Offsets of each map's patches in the concatenation of all maps of sys: map m's patch (i, j) is
 * patch number off[m] + i + size_m * j; off has ncmap_maps + 1 entries (the last is the total). */
void clmd_cmap_ref_offsets(const struct clmd_system *sys, int *off);

/* Energy (kJ/mol) of sys->cmaps at x ([3n], nm), adding forces (kJ/mol/nm) into f ([3n], may be
 * NULL). coeff holds 16 coefficients per patch for every map, concatenated at the offsets above.
 * Torsion vectors take the minimum image in box (NULL: none), as the bonded reference does. */
double clmd_cmap_ref_eval(const struct clmd_system *sys, const double (*box)[3],
                          const double *coeff, const int *off, const double *x, double *f);

/* phi and psi (radians, in (-pi, pi]) of CMAP term k at x. */
void clmd_cmap_ref_angles(const struct clmd_system *sys, const double (*box)[3], int k,
                          const double *x, double *phi, double *psi);

#endif
