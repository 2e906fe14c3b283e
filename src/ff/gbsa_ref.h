/* GBSA/OBC implicit solvent: the double-precision CPU reference, computed as OpenMM 7.7 does.
 * Pure functions on arrays (no device, no system needed); the GB force term and the tests use it,
 * and its stages are the kernels of cl/gbsa.cl to come (see gbsa_ref.c for the mapping).
 *
 * Model (Onufriev, Bashford, Case 2004), units nm, e, kJ/mol:
 *   or_i = radius_i - offset, sr_j = scale_j * or_j
 *   S_i = sum_{j != i, r_ij <= cutoff, or_i < r_ij + sr_j} T(or_i, sr_j, r_ij)     (HCT pair integral)
 *   psi_i = S_i or_i / 2,   B_i = 1 / (1/or_i - tanh(alpha psi - beta psi^2 + gamma psi^3) / radius_i)
 *   E_gb = pre sum_i q_i^2 / (2 B_i) + pre sum_{i<j, r_ij <= cutoff} q_i q_j (1/f_ij - 1/cutoff)
 *          f_ij = sqrt(r^2 + B_i B_j exp(-r^2 / (4 B_i B_j))),  pre = -coulomb (1/eps_solute - 1/eps_solvent)
 *          (the 1/cutoff shift only with a cutoff)
 *   E_sa = 4 pi sa_energy sum_i (radius_i + probe)^2 (radius_i / B_i)^6                   (ACE)
 * GB pairs have no exclusions: bonded neighbours count like any other pair.
 *
 * Two flavours, because OpenMM's app layer builds OBC2 and OBC1 differently for Amber files:
 *   OBC2: the built-in GBSAOBCForce: Coulomb constant ONE_4PI_EPS0 = 138.93545764438198, T includes
 *         the "atom i inside atom j" correction 2 (1/or_i - 1/L) (Tinker's), gamma 4.85.
 *   OBC1: a CustomGBForce (app/internal/customgbforces.py): Coulomb 138.935485, no inside-correction,
 *         gamma 2.909125 (Amber's igb=2 value; the built-in ObcTypeI would use 2.91).
 * clmd_gbsa_params_init() fills these. Forces are the exact gradient of the energy in both flavours.
 *
 * Cutoffs as OpenMM does them for GB: pairs beyond the cutoff drop out of both the Born sums and the pair
 * energy, pair energies are shifted by -pre q_i q_j / cutoff, self terms are not shifted; periodic boxes
 * use OpenMM's minimum-image rule (reduce along c, then b, then a) and need every box diagonal element
 * >= 2 cutoff. Without a cutoff all pairs count and no box may be given.
 *
 * Ownership: clmd_gbsa_params only borrows its per-atom arrays (charge, radius, scale); they must outlive
 * the calls that use the params. clmd_gbsa_ref allocates its scratch itself and frees it before returning. */
#ifndef CLMD_FF_GBSA_REF_H
#define CLMD_FF_GBSA_REF_H

#include "core/err.h"
#include "ff/options.h"

struct clmd_system;

#define CLMD_GBSA_OFFSET_NM 0.009             /* dielectric offset */
#define CLMD_GBSA_COULOMB_OPENMM 138.93545764438198 /* OpenMM 7.7 ONE_4PI_EPS0 (GBSAOBCForce) */
#define CLMD_GBSA_COULOMB_CUSTOMGB 138.935485 /* literal in OpenMM's customgbforces.py */

typedef struct clmd_gbsa_params {
    double alpha, beta, gamma;  /* OBC tanh coefficients */
    double offset_nm;           /* dielectric offset subtracted from the intrinsic radius */
    int inside_correction;      /* 1: add 2 (1/or_i - 1/L) when atom i lies inside atom j's scaled sphere */
    double coulomb;             /* kJ mol^-1 nm e^-2 */
    double solute_dielectric, solvent_dielectric;
    int surface_area;           /* 1: ACE nonpolar term */
    double sa_energy;           /* kJ/mol/nm^2; the prefactor is 4 pi sa_energy */
    double probe_radius_nm;
    double cutoff_nm;           /* <= 0: no cutoff */
    const double *charge;       /* [n] e */
    const double *radius;       /* [n] intrinsic radius, nm (> offset) */
    const double *scale;        /* [n] overlap scale factor */
} clmd_gbsa_params;

/* Fills p with OpenMM's app-layer constants for model (CLMD_GB_OBC1 or CLMD_GB_OBC2): dielectrics
 * 1 / 78.5, ACE on with 2.25936 kJ/mol/nm^2 and probe 0.14 nm, no cutoff, per-atom arrays NULL. */
void clmd_gbsa_params_init(clmd_gbsa_params *p, clmd_gbmodel model);

/* Energy and forces for n atoms at x ([3n], nm). box: rows are the box vectors (nm), lower-triangular
 * (reduced form); NULL for no periodicity (a box needs a cutoff). Forces are ADDED into f ([3n],
 * kJ/mol/nm; may be NULL). e_gb receives the polar (Still) energy, e_sa the ACE energy (0 when off); either
 * may be NULL. born_radii_out ([n], nm) receives the Born radii when non-NULL.
 * Returns CLMD_OK, or CLMD_EINPUT with a message for bad parameters (nothing is written then). */
int clmd_gbsa_ref(const clmd_gbsa_params *p, int n, const double *x, const double box[3][3], double *f,
                  double *e_gb, double *e_sa, double *born_radii_out, clmd_err *err);

/* Builds p from a system (charge, gb_radius, gb_scale) and the deck's options (gb_model, dielectrics,
 * surface_area, sa_energy, probe_radius_nm, method and cutoff_nm): the model's constants from
 * clmd_gbsa_params_init, no cutoff for CLMD_NB_NOCUTOFF, cutoff_nm for the cutoff methods; PME is refused
 * (OpenMM refuses it with GBSA too). p borrows sys's arrays. *periodic (may be NULL) is set to 1 when the
 * evaluation must use sys->box (a cutoff method on a periodic system). */
int clmd_gbsa_params_from_system(clmd_gbsa_params *p, int *periodic, const struct clmd_system *sys,
                                 const clmd_ffopts *o, clmd_err *err);

/* clmd_gbsa_params_from_system + clmd_gbsa_ref at positions x ([3n]; NULL: sys->x), with sys->box when
 * periodic. */
int clmd_gbsa_ref_system(const struct clmd_system *sys, const clmd_ffopts *o, const double *x, double *f,
                         double *e_gb, double *e_sa, double *born_radii_out, clmd_err *err);

#endif
