/* The engine: one simulation context. It holds the state (state/state.h: positions,
 * velocities, box, bath, step), the force terms built from the force-field plan, the pair list
 * (nlist/pairlist.h), constraints and virtual sites, an integrator and step hooks
 * (md/integrator.h), and either the OpenCL device buffers or the double-precision reference
 * arrays. Positions stay on the device; they come back when the pair list is rebuilt or the
 * caller asks for them.
 * Create with clmd_engine_create, free with clmd_engine_destroy. The system must outlive the
 * engine (the engine reads its topology and never changes it). */
#ifndef CLMD_MD_ENGINE_H
#define CLMD_MD_ENGINE_H

#include <stdio.h>

#include "core/err.h"
#include "ff/options.h"
#include "ff/term.h"

struct clmd_system;
struct clmd_probe;
struct clmd_state;
struct clmd_ffplan;
struct clmd_hook;
struct clmd_ckpt_writer;
struct clmd_ckpt_reader;
typedef struct clmd_engine clmd_engine;

typedef enum { CLMD_LANGEVIN = 0, CLMD_VERLET } clmd_engine_integrator;

typedef struct clmd_engine_opts {
    char device[256];        /* "reference" or an OpenCL spec: auto, pocl, nvidia:0 ... */
    clmd_engine_integrator integrator;
    double dt_ps;
    double temperature_K;    /* Langevin bath (the state's, at the start) */
    double friction_per_ps;  /* Langevin */
    unsigned long seed;      /* Langevin noise */
    int remove_com;          /* remove centre-of-mass motion every com_interval steps */
    int com_interval;
    double constraint_tol;   /* relative, see md/constraints.h */
    /* An OpenCL device already open (engines of one campaign share it: one context, one program
     * cache); the engine does not close it. NULL: the engine opens `device` itself. */
    struct clmd_ocl *ocl;
} clmd_engine_opts;

void clmd_engine_opts_defaults(clmd_engine_opts *o);

int clmd_engine_create(const struct clmd_system *sys, const clmd_ffopts *ff,
                       const clmd_engine_opts *eo, struct clmd_probe *probe, clmd_engine **out,
                       clmd_err *err);
void clmd_engine_destroy(clmd_engine **e);

/* Adds a step hook (md/integrator.h), which the engine then owns; hooks run in the order added.
 * Call before the first step. */
int clmd_engine_add_hook(clmd_engine *e, struct clmd_hook *h, clmd_err *err);

/* Advances nsteps; with want_energy the energies of the final state are computed. */
int clmd_engine_step(clmd_engine *e, long nsteps, int want_energy, clmd_err *err);

/* One evaluation at the current positions: energies by component (kJ/mol, [CLMD_E_NCOMP]) and,
 * if forces is not NULL, forces ([3n], kJ/mol/nm) after virtual-site spreading. */
int clmd_engine_evaluate(clmd_engine *e, double *energies, double *forces, clmd_err *err);

/* Steepest-descent energy minimization of the current positions (constraints kept): moves
 * along the forces with an adaptive step (grown 1.2x on success, cut 5x on failure, at most
 * 0.01 nm to start) until the largest force falls below tol (kJ/mol/nm) or max_steps is reached.
 * States the device's fixed point cannot represent (clashes) are evaluated in double precision
 * on the host until they can (md/minimize.c). Writes *e0_out (the starting potential energy),
 * *fmax_out (largest force) and *steps_out; the engine's energies are then those of the
 * result. Velocities are not changed. Coincident particles cannot be separated (no force
 * direction): an error naming them. */
int clmd_engine_minimize(clmd_engine *e, long max_steps, double tol, double *e0_out,
                         double *fmax_out, long *steps_out, clmd_err *err);

/* Energies of the last state computed with want_energy (or by evaluate). */
void clmd_engine_energies(const clmd_engine *e, double *components, double *potential,
                          double *kinetic);
double clmd_engine_temperature(const clmd_engine *e, double kinetic);
int clmd_engine_dof(const clmd_engine *e);

/* Batched copies of one system (an engine made for a clmd_system_replicate system; every
 * function above then sees all copies together: positions of all, energies summed). Copy
 * `seg`'s own energies as of the last energy read, its temperature from its kinetic energy, and
 * its bath: temperature and the seed of its noise stream (the stream a one-system engine with
 * that seed draws). An engine of one system has one copy. */
int clmd_engine_segments(const clmd_engine *e);
void clmd_engine_segment_energies(clmd_engine *e, int seg, double *components,
                                  double *potential, double *kinetic);
double clmd_engine_segment_temperature(const clmd_engine *e, double kinetic);
void clmd_engine_set_segment_bath(clmd_engine *e, int seg, double temperature_K,
                                  unsigned long seed);
double clmd_engine_segment_bath(const clmd_engine *e, int seg);
/* A scaled region (system.h region, ff/options.h): each copy's factors (all 1 at the start;
 * the deck's alchemical lambdas or a ladder's state set them), and its dU/dlambda_sterics and
 * dU/dlambda_electrostatics as of the last energy read (alchemical region: charge factor =
 * lambda_electrostatics). */
void clmd_engine_set_segment_scale(clmd_engine *e, int seg, const clmd_region_scale *sc);
clmd_region_scale clmd_engine_segment_scale(const clmd_engine *e, int seg);
void clmd_engine_segment_dudl(const clmd_engine *e, int seg, double *dudl_sterics,
                              double *dudl_electrostatics);
/* Hamiltonian ladders: every copy's potential energy at each of K sets of region factors,
 * u[seg * K + k] (kJ/mol) at the current positions. One evaluation at the copies' own factors,
 * then the terms' factor-dependent parts at every set and at the copies' own in one host pass
 * (double precision; ff/term.h region_energies): U_k = U + part_k - part_own. Leaves the
 * copies' factors, positions and velocities as they were. */
int clmd_engine_region_energies(clmd_engine *e, int K, const clmd_region_scale *states, double *u,
                                clmd_err *err);
/* Every copy's instantaneous pressure (bar) as clmd_engine_pressure, into p[nseg]. */
int clmd_engine_segment_pressures(clmd_engine *e, double *p, clmd_err *err);

/* The instantaneous pressure (bar) as OpenMM's MonteCarloBarostat::computeCurrentPressure: the
 * molecular virial from the energies of the box scaled by 1 +- 1e-3 (molecules moved as rigid
 * units about their centroids) plus the molecules' centre-of-mass kinetic energy:
 * P = (2/3) K_mol / V - dU/dV. The state is left exactly as it was. Periodic systems only. */
int clmd_engine_pressure(clmd_engine *e, double *pressure_bar, clmd_err *err);

/* The state (positions and velocities in it are current only after get_positions /
 * get_velocities on the device path). */
struct clmd_state *clmd_engine_state(clmd_engine *e);
const struct clmd_ffplan *clmd_engine_plan(const clmd_engine *e);

int clmd_engine_get_positions(clmd_engine *e, double *x, clmd_err *err);
int clmd_engine_get_velocities(clmd_engine *e, double *v, clmd_err *err);
int clmd_engine_set_positions(clmd_engine *e, const double *x, clmd_err *err);
int clmd_engine_set_velocities(clmd_engine *e, const double *v, clmd_err *err);
/* Sets the box (rows, reduced form) without moving any particle. */
int clmd_engine_set_box(clmd_engine *e, const double b[3][3], clmd_err *err);
/* Scales the box by s (per axis: every box vector's x, y, z components by s[0], s[1], s[2])
 * and moves every molecule (system/molecules.h) as a rigid unit with its centroid; virtual sites
 * follow their parents. Forces become invalid. A box the cutoff no longer fits is refused
 * (CLMD_EINPUT) before anything moves. */
int clmd_engine_scale_box(clmd_engine *e, const double s[3], clmd_err *err);
/* The centre-of-mass kinetic energy of the molecules, per axis (kJ/mol). */
int clmd_engine_molecular_kinetic(clmd_engine *e, double ke[3], clmd_err *err);
/* Number of molecules (system/molecules.h). */
int clmd_engine_molecule_count(const clmd_engine *e);

/* Constrains the current positions onto the constraints (directions of the positions
 * themselves), places the virtual sites, then removes the velocity components along the
 * constraints; as OpenMM's Context::applyConstraints + applyVelocityConstraints. For the start
 * of a fresh run; neither create nor set_positions/set_velocities constrain (a restart must
 * continue with the exact saved state, and `eval` must see the input's coordinates). Virtual
 * sites, in contrast, are always rebuilt from their parents (create, set_positions, steps). */
int clmd_engine_apply_constraints(clmd_engine *e, clmd_err *err);

long clmd_engine_step_count(const clmd_engine *e);
void clmd_engine_set_step_count(clmd_engine *e, long step);

/* A copy of the whole dynamic state on the device (or the host): positions, velocities, the
 * force-field's view of them, forces, energies, box, bath and step; restore puts everything
 * back bit for bit. A barostat trial's undo, a pressure probe; later replica exchange. */
typedef struct clmd_engine_snapshot clmd_engine_snapshot;
int clmd_engine_snapshot_create(clmd_engine *e, clmd_engine_snapshot **out, clmd_err *err);
void clmd_engine_snapshot_destroy(clmd_engine_snapshot **s);
int clmd_engine_save(clmd_engine *e, clmd_engine_snapshot *s, clmd_err *err);
int clmd_engine_restore(clmd_engine *e, const clmd_engine_snapshot *s, clmd_err *err);

/* Checkpoint: the whole state (step, box, bath, noise seed, positions, velocities), the pair
 * list exactly as it is and every hook's state, so a restart repeats the run bit for bit. */
int clmd_engine_save_checkpoint(clmd_engine *e, struct clmd_ckpt_writer *w, clmd_err *err);
int clmd_engine_load_checkpoint(clmd_engine *e, struct clmd_ckpt_reader *r, clmd_err *err);

/* "reference (double precision CPU)" or the OpenCL device description. */
const char *clmd_engine_device(const clmd_engine *e);
const char *clmd_engine_driver(const clmd_engine *e);
int clmd_engine_is_reference(const clmd_engine *e);
long clmd_engine_list_builds(const clmd_engine *e);
/* Kernel launches so far on the engine's device (shared by the engines of one device). */
long clmd_engine_kernel_launches(const clmd_engine *e);
/* Waits for the device's queue (device timings handed to the probes). */
int clmd_engine_finish(clmd_engine *e, clmd_err *err);
/* Writes each term's, the integrator's and each hook's description. */
void clmd_engine_describe(const clmd_engine *e, FILE *out);
/* Writes each hook's counters (barostat acceptance...). */
void clmd_engine_report_hooks(const clmd_engine *e, FILE *out);

#endif
