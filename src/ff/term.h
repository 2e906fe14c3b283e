/* The force-term interface. Every physics term (LJ/Coulomb, bonded, PME reciprocal, GB, ...)
 * is a clmd_term: it is set up once for a system, then evaluated either on the OpenCL device
 * (enqueue: kernels that add fixed-point forces and energies into the shared device buffers)
 * or by its double-precision CPU reference (reference: adds forces and energies into host
 * arrays). The engine walks a list of terms and never names one.
 *
 * Energies are split into the components below, which are the keys `clmd eval` writes. */
#ifndef CLMD_FF_TERM_H
#define CLMD_FF_TERM_H

#include <stdio.h>

#include "core/err.h"

typedef enum clmd_ecomp {
    CLMD_E_LJ = 0,
    CLMD_E_COULOMB,
    CLMD_E_PME_RECIP,
    CLMD_E_BOND,
    CLMD_E_ANGLE,
    CLMD_E_TORSION,
    CLMD_E_GB,
    CLMD_E_SA,
    CLMD_E_DISP,
    CLMD_E_CMAP,
    CLMD_E_NCOMP
} clmd_ecomp;

/* JSON key of each component, in enum order (also the energy-log columns and H5MD
 * observables), and the name kernels see it under ("E_LJ"...): the one table of both. */
extern const char *const clmd_ecomp_name[CLMD_E_NCOMP];
extern const char *const clmd_ecomp_define[CLMD_E_NCOMP];

/* Fixed-point scale of device force and energy accumulators: value = (double)fixed / SCALE.
 * Integer sums are associative, so forces are bit-identical whatever the thread order. */
#define CLMD_FIXED_SCALE 4294967296.0 /* 2^32 */

/* Overflow. The accumulators hold +-2^31 kJ/mol/nm (kJ/mol); a force component or energy
 * contribution must stay below CLMD_FIXED_LIMIT = 2^26 (1/32 of that, so that no sum of fewer
 * than 32 admitted contributions wraps) on its way in. The kernels saturate one that does not,
 * or that is not finite, and flag its term (bit 1 << clmd_ecomp) in an overflow word (FIXED_LIMIT
 * in cl/common.cl); the engine reads the words and stops with the particles named. The reference
 * path holds the same limit on every particle's force, so both paths refuse the same states. */
#define CLMD_FIXED_LIMIT 67108864.0 /* 2^26 */

/* The device energy buffer: the components, the kinetic energy, then the energy overflow word
 * (E_FLAGS in kernels): bit c for component c, bit CLMD_E_NCOMP for the kinetic energy, and the
 * force word's bits shifted up by CLMD_OVF_FORCE_SHIFT (cl/integrate.cl, kernel kinetic). */
enum {
    CLMD_E_KINETIC = CLMD_E_NCOMP,
    CLMD_E_FLAGS,
    /* with a scaled region (ff/options.h): dU/dlambda_sterics; the part of dU/dlambda_elec the
     * kernels compute directly (PME reciprocal: sum over the region of q phi); the region-rest
     * and region-region Coulomb energies with the region's charges unscaled (dU/dlambda_elec's
     * direct part is E_re + 2 lambda E_rr) */
    CLMD_E_DUDL_S,
    CLMD_E_DUDL_E,
    CLMD_E_ELEC_RE,
    CLMD_E_ELEC_RR,
    CLMD_E_SLOTS,
    CLMD_OVF_FORCE_SHIFT = 16
};

/* One copy's scaling of the region (ff/options.h): charge factor (lambda_electrostatics, or
 * sqrt(beta_m/beta_0) in REST2), LJ factor on 2 sqrt(eps) (1, or sqrt(beta_m/beta_0)), soft-core
 * lambda_sterics, torsion factor (REST2: beta_m/beta_0). */
typedef struct clmd_region_scale {
    double charge, lj, sterics, torsion;
} clmd_region_scale;

struct clmd_system;
struct clmd_ffplan;
struct clmd_nlist;
struct clmd_dev;
struct clmd_probe;

/* What a term sees at every evaluation. The box is the state's current box (it changes under
 * a barostat); box_version changes whenever the box does, so a term refreshes what it derives
 * from the box (kernel arguments, PME's influence function) only then. */
typedef struct clmd_fenv {
    const struct clmd_system *sys;
    const struct clmd_ffplan *plan;
    const double (*box)[3];     /* current box rows (nm); meaningless without one */
    long box_version;
    struct clmd_nlist *nl;      /* host pair list (reference path, cutoff methods), else NULL */
    struct clmd_dev *dev;       /* device state, NULL on the reference path */
    struct clmd_probe *probe;   /* may be NULL */
    long step;
    /* each copy's region scaling ([nseg]; NULL without a region) and its version (changes when
     * a factor does) */
    const clmd_region_scale *scale;
    long scale_version;
} clmd_fenv;

typedef struct clmd_term clmd_term;

typedef struct clmd_term_ops {
    const char *name;
    /* Creates kernels and device buffers (called once, only on the device path). */
    int (*setup_device)(clmd_term *t, const clmd_fenv *env, clmd_err *err);
    /* Enqueues the term's kernels: forces always, energies into env->dev's energy buffer when
     * want_energy is nonzero. Must not block on the device. */
    int (*enqueue)(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err);
    /* Double-precision CPU reference: adds forces (kJ/mol/nm, [3n]) into f and energies
     * (kJ/mol) into e[CLMD_E_NCOMP], for positions x ([3n], nm). */
    int (*reference)(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                     clmd_err *err);
    /* One line or a few describing the term and its parameters (for the run log). */
    void (*describe)(const clmd_term *t, FILE *out);
    /* Releases the term: its private state, device objects and the clmd_term itself. */
    void (*destroy)(clmd_term *t);
    /* Optional second half of a device evaluation, called after every term's enqueue: a term
     * whose work needs the host (PME's FFT) starts it in enqueue and completes it here, so the
     * device runs the other terms' kernels meanwhile. NULL when not needed. */
    int (*finish)(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err);
    /* Optional, for terms whose energy depends on a region's factors (Hamiltonian ladders: the
     * energy matrix in one pass). Adds into out[g * S + k] the part of copy g's energy that
     * changes with the factors, with its region scaled by scales[g * S + k] (k < S), at host
     * positions x ([3n], every copy), in double precision; what is left out is the same for
     * every set of factors, so differences between sets are exact. slots[g * 4 + m]: copy g's
     * region slots (CLMD_E_DUDL_S + m) from an evaluation at its factors env->scale[g], for a
     * term that takes a coefficient from there (PME: the linear one). env->nl is the host pair
     * list when it is valid for x, else NULL (then the term searches pairs itself). NULL when
     * the term does not depend on the factors. */
    int (*region_energies)(clmd_term *t, const clmd_fenv *env, const double *x, int S,
                           const clmd_region_scale *scales, const double *slots, double *out,
                           clmd_err *err);
} clmd_term_ops;

struct clmd_term {
    const clmd_term_ops *ops;
    void *impl;   /* the term's private state */
};

/* Destroys a term and sets *t to NULL. */
void clmd_term_destroy(clmd_term **t);

/* Every term's constructor: returns CLMD_OK and *out = NULL when the term does not apply to
 * this system (e.g. no bonds), a term otherwise. Terms copy what they need of the plan
 * (ff/plan.h).
 * Declared here so the list is in one place. */
int clmd_nonbonded_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                          clmd_term **out, clmd_err *err);
int clmd_bonded_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                       clmd_term **out, clmd_err *err);
int clmd_pme_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                    clmd_term **out, clmd_err *err);
int clmd_gbsa_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                     clmd_term **out, clmd_err *err);
int clmd_cmap_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                     clmd_term **out, clmd_err *err);

#endif
