/* The engine: one simulation context. It owns the force terms, the neighbor list and either
 * the OpenCL device state or the double-precision reference state, and advances the system
 * with velocity Verlet (NVE) or the Langevin middle scheme (NVT). Positions stay on the device;
 * they come back only when the neighbor list is rebuilt or the caller asks for them.
 * Create with clmd_engine_create, free with clmd_engine_destroy. The system must outlive the
 * engine (the engine reads its topology but never changes it). */
#ifndef CLMD_MD_ENGINE_H
#define CLMD_MD_ENGINE_H

#include "core/err.h"
#include "ff/options.h"
#include "ff/term.h"

struct clmd_system;
struct clmd_probe;
typedef struct clmd_engine clmd_engine;

typedef enum { CLMD_LANGEVIN = 0, CLMD_VERLET } clmd_integrator;

typedef struct clmd_engine_opts {
    char device[256];        /* "reference" or an OpenCL spec: auto, pocl, nvidia:0 ... */
    clmd_integrator integrator;
    double dt_ps;
    double temperature_K;    /* Langevin bath */
    double friction_per_ps;  /* Langevin */
    unsigned long seed;      /* Langevin noise */
    int remove_com;          /* remove centre-of-mass motion every com_interval steps */
    int com_interval;
    double constraint_tol;   /* relative, see md/constraints.h */
} clmd_engine_opts;

void clmd_engine_opts_defaults(clmd_engine_opts *o);

int clmd_engine_create(const struct clmd_system *sys, const clmd_ffopts *ff,
                       const clmd_engine_opts *eo, struct clmd_probe *probe, clmd_engine **out,
                       clmd_err *err);
void clmd_engine_destroy(clmd_engine **e);

/* Advances nsteps; with want_energy the energies of the final state are computed. */
int clmd_engine_step(clmd_engine *e, long nsteps, int want_energy, clmd_err *err);

/* One evaluation at the current positions: energies by component (kJ/mol, [CLMD_E_NCOMP]) and,
 * if forces is not NULL, forces ([3n], kJ/mol/nm) after virtual-site spreading. */
int clmd_engine_evaluate(clmd_engine *e, double *energies, double *forces, clmd_err *err);

/* Steepest-descent energy minimization of the current positions (constraints kept): moves
 * along the forces with an adaptive step (grown 1.2x on success, cut 5x on failure, at most
 * 0.01 nm to start) until the largest force falls below tol (kJ/mol/nm) or max_steps is reached.
 * Writes *fmax_out (largest force) and *steps_out. Velocities are not changed. */
int clmd_engine_minimize(clmd_engine *e, long max_steps, double tol, double *fmax_out,
                         long *steps_out, clmd_err *err);

/* Energies of the last state computed with want_energy (or by evaluate). */
void clmd_engine_energies(const clmd_engine *e, double *components, double *potential,
                          double *kinetic);
double clmd_engine_temperature(const clmd_engine *e, double kinetic);
int clmd_engine_dof(const clmd_engine *e);

int clmd_engine_get_positions(clmd_engine *e, double *x, clmd_err *err);
int clmd_engine_get_velocities(clmd_engine *e, double *v, clmd_err *err);
int clmd_engine_set_positions(clmd_engine *e, const double *x, clmd_err *err);
int clmd_engine_set_velocities(clmd_engine *e, const double *v, clmd_err *err);
/* Constrains the current positions onto the constraints (directions of the positions
 * themselves), places the virtual sites, then removes the velocity components along the
 * constraints; as OpenMM's Context::applyConstraints + applyVelocityConstraints. For the start
 * of a fresh run; neither create nor set_positions/set_velocities constrain (a restart must
 * continue with the exact saved state, and `eval` must see the input's coordinates). Virtual
 * sites, in contrast, are always rebuilt from their parents (create, set_positions, steps). */
int clmd_engine_apply_constraints(clmd_engine *e, clmd_err *err);

long clmd_engine_step_count(const clmd_engine *e);
void clmd_engine_set_step_count(clmd_engine *e, long step);
/* Positions the neighbor list was last built from; restoring them (checkpoint restart) rebuilds
 * the identical list, so a restarted run repeats the original bit for bit. */
int clmd_engine_get_list_reference(clmd_engine *e, double *x);
int clmd_engine_set_list_reference(clmd_engine *e, const double *x, clmd_err *err);
/* The neighbor-list buffer in use (tuned when the deck's neighbor_skin is auto) and the step of
 * the last build; a checkpoint keeps both so a restart tunes exactly as the original run. Call
 * set before set_list_reference. */
void clmd_engine_get_list_state(const clmd_engine *e, double *skin_nm, long *last_build_step);
void clmd_engine_set_list_state(clmd_engine *e, double skin_nm, long last_build_step);

/* "reference (double precision CPU)" or the OpenCL device description. */
const char *clmd_engine_device(const clmd_engine *e);
const char *clmd_engine_driver(const clmd_engine *e);
int clmd_engine_is_reference(const clmd_engine *e);
long clmd_engine_list_builds(const clmd_engine *e);
/* Writes each term's description. */
void clmd_engine_describe(const clmd_engine *e, FILE *out);

#endif
