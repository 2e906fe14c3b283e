/* Double-precision CPU reference for Ewald electrostatics: OpenMM 7.7's choice of alpha and PME
 * grid, smooth PME reciprocal space (Essmann et al., J. Chem. Phys. 103, 8577 (1995)) with
 * B-splines of any order, the self and neutralizing-plasma energies, the real-space pair and
 * exclusion-correction helpers the nonbonded term uses, and a plain Ewald sum for tests.
 *
 * Pure interface: arrays in, nothing on the device. clmd_pme_ref_compute runs the stages the
 * OpenCL PME mirrors (spread, r2c FFT, convolution with the influence function, c2r FFT,
 * gather); each stage is exposed so device results can be checked stage by stage.
 *
 * Conventions: box rows are the box vectors a, b, c (nm); any right-handed cell works (OpenMM's
 * reduced form is the usual input). Charges in e, positions x[3n] in nm (any image: PME and the
 * Ewald sum wrap them), forces in kJ/mol/nm are ADDED into f_add[3n], energies in kJ/mol with the
 * Coulomb constant CLMD_COULOMB. Energies split as OpenMM does: total electrostatics =
 * real-space pairs + exclusion corrections + 1-4 exceptions + reciprocal + self (+ plasma for a
 * net charge, which OpenMM 7.7 leaves out).
 *
 * Ownership: clmd_pme_ref_create allocates the handle (grids and FFTW plans, made once);
 * clmd_pme_ref_destroy frees it and sets the caller's pointer to NULL. FFTW planning is not
 * thread-safe: create and destroy handles from one thread. */
#ifndef CLMD_FF_PME_REF_H
#define CLMD_FF_PME_REF_H

#include "core/err.h"

/* Which grid sizes are accepted when rounding the grid up. */
typedef enum clmd_pme_grid_rule {
    CLMD_PME_GRID_ANY = 0, /* any size (FFTW; OpenMM's Reference and CPU platforms) */
    CLMD_PME_GRID_2357     /* sizes whose prime factors are 2, 3, 5, 7 (OpenMM's OpenCL FFT) */
} clmd_pme_grid_rule;

/* Smallest size >= n accepted by rule (n < 1 gives 1). */
int clmd_pme_legal_size(int n, clmd_pme_grid_rule rule);

/* OpenMM 7.7's NonbondedForceImpl::calcPMEParameters: alpha = sqrt(-ln(2 tol))/cutoff,
 * grid[d] = max(6, ceil(2 alpha box[d][d] / (3 tol^(1/5)))), then rounded up by rule.
 * alpha_forced > 0 replaces the computed alpha (the grid then follows from it); grid_forced
 * (may be NULL) with all three entries > 0 replaces the computed grid (still rounded by rule,
 * as OpenMM's OpenCL platform does). Returns CLMD_EINPUT for a bad cutoff, tolerance or box. */
int clmd_pme_params(double cutoff_nm, double tol, const double box[3][3], double alpha_forced,
                    const int grid_forced[3], clmd_pme_grid_rule rule, double *alpha,
                    int grid[3], clmd_err *err);

/* Cardinal B-spline of the given order at the points w, w+1, ..., w+order-1 (0 <= w < 1):
 * theta[j] = M_order(w + j), dtheta[j] = M_order'(w + j). dtheta may be NULL. */
void clmd_pme_bspline(int order, double w, double *theta, double *dtheta);

/* |sum_k M_order(k+1) exp(2 pi i m k / K)|^2 for m = 0..K-1: the denominator of the B-spline
 * factor of the influence function. Values that vanish (m = K/2 for odd order and even K) are
 * replaced by the mean of their neighbours, as OpenMM and GROMACS do. */
void clmd_pme_bspline_moduli(int order, int K, double *mod);

/* Reciprocal box vectors r[d] (rows; a_i . r_j = delta_ij) and volume; CLMD_EINPUT if the box
 * is degenerate or left-handed. */
int clmd_pme_recip_box(const double box[3][3], double recip[3][3], double *volume, clmd_err *err);

/* Influence function on the half-complex grid [K0][K1][K2/2+1] (FFTW r2c layout), so that with
 * S = FFT(charge grid), E_recip = 1/2 sum over the full grid of G |S|^2 and the potential grid is
 * the c2r transform of G S. G(0) = 0. Includes CLMD_COULOMB. */
int clmd_pme_influence(int order, const int grid[3], double alpha, const double box[3][3],
                       double *g, clmd_err *err);
/* The same with the B-spline moduli of each dimension given (clmd_pme_bspline_moduli; they do not
 * depend on the box, so a run whose box changes computes them once). */
int clmd_pme_influence_moduli(int order, const int grid[3], double alpha, const double box[3][3],
                              const double *const mod[3], double *g, clmd_err *err);

typedef struct clmd_pme_ref clmd_pme_ref;

/* A PME for n particles with this alpha (1/nm), grid and B-spline order (3..16, grid[d] >= order). */
int clmd_pme_ref_create(int n, double alpha, const int grid[3], int order, clmd_pme_ref **pme,
                        clmd_err *err);
void clmd_pme_ref_destroy(clmd_pme_ref **pme);

/* Reciprocal-space energy (grid sum only: no self or plasma term) into *e_recip, forces added
 * into f_add (may be NULL). Runs spread, convolve and gather. */
int clmd_pme_ref_compute(clmd_pme_ref *pme, const double *q, const double *x,
                         const double box[3][3], double *f_add, double *e_recip, clmd_err *err);

/* The stages of clmd_pme_ref_compute. spread: B-spline weights and the charge grid.
 * convolve: r2c FFT, multiply by the influence function (cached while the box is unchanged),
 * energy, c2r FFT into the potential grid. gather: forces from the potential grid. */
int clmd_pme_ref_spread(clmd_pme_ref *pme, const double *q, const double *x,
                        const double box[3][3], clmd_err *err);
int clmd_pme_ref_convolve(clmd_pme_ref *pme, double *e_recip, clmd_err *err);
void clmd_pme_ref_gather(clmd_pme_ref *pme, const double *q, double *f_add);
/* The real grid [K0][K1][K2] (row-major, z fastest): the charge grid after spread, the
 * potential grid (dE/dQ) after convolve. Owned by the handle. */
const double *clmd_pme_ref_grid(const clmd_pme_ref *pme, int dims[3]);

/* -alpha/sqrt(pi) * CLMD_COULOMB * sum q^2. */
double clmd_ewald_self_energy(int n, const double *q, double alpha);
/* Neutralizing-plasma energy of a net charge qtot in a cell of this volume:
 * -pi * CLMD_COULOMB * qtot^2 / (2 volume alpha^2). */
double clmd_ewald_plasma_energy(double qtot, double volume, double alpha);

/* Real-space Ewald pair for the displacement d = x_i - x_j (image chosen by the caller):
 * returns CLMD_COULOMB qq erfc(alpha r)/r and sets f_i to the force on i (the force on j is
 * -f_i); returns 0 with f_i = 0 when r >= cutoff. */
double clmd_ewald_real_pair(double qq, double alpha, double cutoff, const double d[3],
                            double f_i[3]);
/* Exclusion correction for an excluded pair (all of them, at any distance, 1-4 pairs included):
 * returns -CLMD_COULOMB qq erf(alpha r)/r (its r -> 0 limit, -CLMD_COULOMB qq 2 alpha/sqrt(pi),
 * at r = 0) and sets f_i to the force on i. OpenMM's Reference platform takes d without
 * periodic wrapping for exclusions and exceptions. */
double clmd_ewald_excl_pair(double qq, double alpha, const double d[3], double f_i[3]);

/* Plain Ewald sum of point charges in a periodic cell (no exclusions), converged to a relative
 * truncation eps (e.g. 1e-15) in both sums: real space over every image within erfc(alpha r) <=
 * eps, reciprocal space over every k with exp(-pi^2 k^2/alpha^2) <= eps, plus the self and
 * plasma terms, so the energy does not depend on alpha. O(n^2 images + n k-vectors): for tests
 * on small systems. Energy into *energy, forces added into f_add (may be NULL). */
int clmd_ewald_sum(int n, const double *q, const double *x, const double box[3][3], double alpha,
                   double eps, double *f_add, double *energy, clmd_err *err);

#endif
