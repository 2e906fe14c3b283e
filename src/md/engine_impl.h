/* The engine's insides, for the modules that plug into its step (integrators, hooks, the
 * minimizer) and nothing else: the struct, and the services those modules call. Code outside
 * src/md uses md/engine.h. */
#ifndef CLMD_MD_ENGINE_IMPL_H
#define CLMD_MD_ENGINE_IMPL_H

#include "ff/dev.h"
#include "ff/plan.h"
#include "ff/term.h"
#include "md/engine.h"
#include "md/integrator.h"
#include "md/mdbuf.h"

struct clmd_system;
struct clmd_state;
struct clmd_molecules;
struct clmd_pairlist;
struct clmd_constraints;
struct clmd_vsites;
struct clmd_verletbuf;

enum { CLMD_SEG_VALUES = CLMD_E_NCOMP + 5 };
enum { CLMD_ENGINE_MAX_TERMS = 16, CLMD_ENGINE_MAX_HOOKS = 8, CLMD_ENGINE_WG = 64,
       CLMD_FLAG_RING = 8 /* lagged flag reads in flight, at most */ };

/* What overflowed in an evaluation (CLMD_FIXED_LIMIT in ff/term.h): the terms, as bits
 * 1 << clmd_ecomp, whose forces and whose energies went beyond the limit or were not finite;
 * energy bit CLMD_E_NCOMP is the kinetic energy. */
typedef struct clmd_overflow {
    unsigned force, energy;
} clmd_overflow;

struct clmd_engine {
    const struct clmd_system *sys;
    clmd_ffplan plan;
    clmd_engine_opts eo;
    struct clmd_probe *probe;
    int reference;                 /* the double-precision host path */
    struct clmd_state *st;         /* positions, velocities, box, bath, step */
    struct clmd_molecules *mols;
    clmd_term *terms[CLMD_ENGINE_MAX_TERMS];
    int nterms;
    struct clmd_pairlist *pl;
    clmd_integrator *integ;
    clmd_hook *hooks[CLMD_ENGINE_MAX_HOOKS];
    int nhooks;
    struct clmd_constraints *cons; /* NULL without constraints */
    struct clmd_vsites *vs;        /* NULL without virtual sites */
    int forces_valid;              /* forces belong to the current positions */
    int spread_in_step;            /* device: the integrator's kernels spread the virtual sites'
                                    * forces before they read them (cl/units.cl), so force
                                    * evaluations leave it to them; clmd_engine_read_forces
                                    * spreads first (spreading twice changes nothing) */
    int force_cleared;             /* device: an integrator kernel left the force blocks zero
                                    * (the next evaluation skips clearing them) */
    int energy_valid;              /* energy[] belongs to the current positions */
    int dof;
    double energy[CLMD_E_NCOMP], ekin;
    double last_d2;                /* largest squared displacement at the last list check */
    clmd_overflow ovf;             /* of the last evaluation on the host (md/overflow.c) */
    long flags_step;               /* the step at which the device flags were last read */
    /* host (reference path; on the device path x/v of the state are download targets) */
    double *f, *invmass, *xold;
    /* device */
    clmd_dev dev;
    int fp64;
    size_t mixed_size;             /* bytes of one mixed4 */
    cl_mem pos, vel, pos_old;
    cl_mem flags;                  /* uint[4]: max squared displacement bits; constraint failure;
                                      overflowed force terms; step of that overflow */
    clmd_mdbuf mb;
    void *mixed_host;              /* staging [npad] mixed4 */
    cl_long *force_host;           /* staging [3 npad] */
    cl_kernel k_kinetic;
    cl_mem mol_start, mol_atoms;   /* molecules (system/molecules.h), for box scaling */
    cl_kernel k_scale;
    cl_uint scale_arg;             /* the scaling kernel's per-call argument */
    clmd_engine_snapshot *psnap;   /* the pressure probe's undo, made on first use */
    /* Batched copies (system.h nseg; 1 for one system): each copy's energies, and its bath
     * (temperature, Philox key of the noise); seg_bath_version changes with any of them. */
    int nseg;
    double *seg_energy;            /* [nseg * CLMD_SEG_VALUES]: components, kinetic, and the
                                    * region slots dU/dl_s, dU/dl_e part, E_re, E_rr */
    double *seg_T;                 /* [nseg] K */
    clmd_region_scale *seg_scale;  /* [nseg] each copy's region factors (all 1 without) */
    long scale_version;
    double *seg_scratch;           /* [5 nseg]: the pressure's energies and kinetic energies */
    uint32_t (*seg_key)[2];        /* [nseg] */
    long seg_bath_version;
    /* Lagged flag reads (GPUs: no blocking read per step). The flag words of step s are read
     * asynchronously into slot s % CLMD_FLAG_RING of pinned memory and examined at step
     * s + lag, which rebuilds the list when the displacement then, plus lag steps of its largest
     * growth per step (twice), reaches the list's room; the decision depends on data only, so
     * runs repeat bit for bit. lag 0: the flags are read (blocking) every step. */
    int lag;
    int prune_steps;               /* inner list: steps a prune is meant to last (0: no pruning) */
    double widen;                  /* share of the expected motion an overlapped build adds */
    int overlap;                   /* steps between an overlapped build's snapshot and its use
                                    * (0: lists built synchronously) */
    cl_mem flag_ring;
    cl_uint *flag_ring_host;       /* [CLMD_FLAG_RING][6] (md/engine.c NFLAGS) */
    cl_event flag_ev[CLMD_FLAG_RING];
    long list_step;                /* step of the last list build (or switch to one) */
    long ref_step;                 /* step of its displacement reference (an overlapped list's
                                    * snapshot is older than the switch) */
    double disp_prev, disp_growth; /* sqrt of the last examined max d2 (nm); its largest growth */
    int prune_spend;               /* pruned: a spent outer list runs on while its last inner
                                    * list lasts (CLMD_LIST_SPEND, default 1) */
    /* Lists sized from the energy drift (neighbor_tolerance > 0, nlist/verletbuf.h): statistical,
     * renewed on a schedule instead of by the displacement check. A list lives list_life steps
     * from the positions it was built from (an overlapped build's snapshot included), its buffer
     * drift_skin; pruned lists are pruned every prune_steps steps of its use with buffer
     * drift_skin_in. The flag reads only catch a system moving faster than the model allows
     * (an atom displaced beyond max(drift_skin / 2, 7 sigma of the fastest atom class at that
     * age)), which rebuilds early and is counted (nlist_early_rebuilds). The buffers follow the
     * bath temperature (drift_kT, re-planned at a build when it changes). */
    int drift;
    int list_life;
    double drift_tol;
    /* the plan that follows the bath (snapshots and checkpoints keep it): without a bath the
     * temperature of the velocities last set (K), kT (kJ/mol), the outer and inner buffers (nm) */
    struct clmd_drift_plan {
        double T0, kT, skin, skin_in;
    } dplan;
    int drift_cj, drift_cin;       /* cluster sizes the estimate credits: the outer list's j side
                                    * (its i side is 8), the inner list's i side */
    struct clmd_verletbuf *vb;
    char device_desc[900];
};

/* The defines of the step-side programs built from cl/integrate.cl: HAVE_FP64, WG and the
 * batched copies' NSEG, SEG_LEN, E_STRIDE. */
void clmd_engine_step_defines(const clmd_engine *e, char *buf, size_t size);
/* Nonzero when an integrator with constraints takes its step in one launch per half
 * (cl/units.cl); CLMD_STEP_UNITS=0 selects the split kernels (tests compare the two). */
int clmd_engine_step_units(const clmd_engine *e);

/* Forces (and energies with want_energy) at the current positions, unless already valid. */
int clmd_engine_forces(clmd_engine *e, int want_energy, clmd_err *err);
/* After positions moved by an integrator or a hook on the device: reads the displacement and
 * constraint flags (one small blocking read) and rebuilds the pair list when it went stale.
 * On the reference path checks the host positions. */
int clmd_engine_update_list(clmd_engine *e, clmd_err *err);
/* The host positions from the device (into the state's x). */
int clmd_engine_download_positions(clmd_engine *e, clmd_err *err);
/* Rebuilds the pair list from the current positions now. */
int clmd_engine_rebuild_list(clmd_engine *e, clmd_err *err);
/* The potential energy at the current positions (evaluated if not yet valid; kJ/mol). */
int clmd_engine_potential(clmd_engine *e, double *u, clmd_err *err);
/* Reads the device's energy accumulators into e->energy / e->ekin. */
int clmd_engine_read_energies(clmd_engine *e, clmd_err *err);
/* Places the virtual sites from their parents (both paths). */
int clmd_engine_build_vsites(clmd_engine *e, clmd_err *err);

/* What force terms see: host selects the host view (no device; the reference terms). */
clmd_fenv clmd_engine_fenv(clmd_engine *e, int host);
/* One evaluation at the current positions like clmd_engine_evaluate, but an overflow is
 * reported in *ovf instead of failing; host evaluates the double-precision terms on the host
 * also on the device path (the minimizer's way past states the device cannot represent; the
 * device's forces and energies are then left invalid). energies, forces may be NULL. */
int clmd_engine_evaluate_raw(clmd_engine *e, int host, double *energies, double *forces,
                             clmd_overflow *ovf, clmd_err *err);
/* Device path: the forces (kJ/mol/nm, [3n]) and the force overflow word from the device. */
int clmd_engine_read_forces(clmd_engine *e, double *forces, unsigned *word, clmd_err *err);

/* md/overflow.c. The error (CLMD_ERUNTIME) for an overflow at step: the terms, the particle
 * with the largest force (a non-finite one first) and its nearest interacting particle, and
 * their distance, then advice (NULL: the usual for step 0 or a run). forces: the
 * evaluation's ([3n]), or NULL to read them (device) or take the host's. */
int clmd_engine_overflow_error(clmd_engine *e, long step, const clmd_overflow *ovf,
                               const double *forces, const char *advice, clmd_err *err);
/* The host check of the forces e->f and energies e->energy just computed: the same limit per
 * particle force component as the device's per contribution, energies finite and within the
 * accumulators' range; fills *ovf, finding the terms at fault by evaluating each alone. */
int clmd_overflow_check_host(clmd_engine *e, clmd_overflow *ovf, clmd_err *err);

/* Kernel arguments in order, without literal indices scattered over files: bind(k) starts at
 * argument 0, each arg_* call takes the next. */
typedef struct clmd_binder {
    cl_kernel k;
    cl_uint next;
    int fp64;
    cl_int rc;
} clmd_binder;
clmd_binder clmd_bind(cl_kernel k, int fp64);
void clmd_bind_mem(clmd_binder *b, cl_mem m);
void clmd_bind_int(clmd_binder *b, int v);
void clmd_bind_uint(clmd_binder *b, unsigned v);
/* A `mixed` scalar (double on fp64 devices, else float). */
void clmd_bind_mixed(clmd_binder *b, double v);
/* A mixed4 (x, y, z, w). */
void clmd_bind_mixed4(clmd_binder *b, const double v[4]);
void clmd_bind_raw(clmd_binder *b, size_t size, const void *v);
/* CLMD_OK, or the first failure as an error naming the kernel and argument. */
int clmd_bind_done(const clmd_binder *b, clmd_err *err);

#endif
