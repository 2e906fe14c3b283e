/* Integrators and step hooks: the two plug-in interfaces of the engine's step, as force terms
 * are the plug-ins of its force evaluation.
 *
 * A step of the engine (md/engine.c):
 *   integrator->before_forces     move positions (and velocities) from step n to n+1
 *   step n+1; the pair list's validity check (rebuild if needed); forces (and energies when
 *   asked) at the new positions
 *   integrator->after_forces      finish the velocities with the new forces
 *   every hook whose interval divides n+1, in the order added: apply
 * Integrators: velocity Verlet (NVE) and the Langevin middle scheme (NVT), md/verlet.c and
 * md/langevin.c; both take their constants (time step, bath temperature, friction) from the
 * engine's options and state at every step, so replica exchange may change them.
 * Hooks: centre-of-mass motion removal (md/com.c), the Monte Carlo barostat (md/barostat.h);
 * replica exchange will be one more. A hook may change positions, velocities and the box; it
 * must leave the engine with valid forces for the positions it leaves (the engine's services in
 * md/engine_impl.h do that). A hook with state of its own saves and loads it in checkpoints.
 *
 * Both interfaces work on the device path and on the double-precision reference path
 * (clmd_engine_is_reference). Integrators and hooks are owned by the engine that holds them
 * and destroyed with it. */
#ifndef CLMD_MD_INTEGRATOR_H
#define CLMD_MD_INTEGRATOR_H

#include <stdio.h>

#include "core/err.h"

struct clmd_engine;
struct clmd_ckpt_writer;
struct clmd_ckpt_reader;

typedef struct clmd_integrator clmd_integrator;

typedef struct clmd_integrator_ops {
    const char *name;
    /* Kernels and their fixed arguments (device path only). */
    int (*setup_device)(clmd_integrator *it, struct clmd_engine *e, clmd_err *err);
    int (*before_forces)(clmd_integrator *it, struct clmd_engine *e, clmd_err *err);
    int (*after_forces)(clmd_integrator *it, struct clmd_engine *e, clmd_err *err);
    /* "velocity Verlet (NVE), dt 0.002 ps" etc. */
    void (*describe)(const clmd_integrator *it, const struct clmd_engine *e, FILE *out);
    void (*destroy)(clmd_integrator *it);
    /* 1: before_forces' device kernels read the last forces and leave them zero, so the
     * evaluation that follows skips clearing them (md/engine.c force_cleared) */
    int clears_forces;
} clmd_integrator_ops;

struct clmd_integrator {
    const clmd_integrator_ops *ops;
    void *impl;
};

clmd_integrator *clmd_verlet_create(void);
clmd_integrator *clmd_langevin_create(void);
void clmd_integrator_destroy(clmd_integrator **it);

typedef struct clmd_hook clmd_hook;

typedef struct clmd_hook_ops {
    const char *name;
    int (*setup_device)(clmd_hook *h, struct clmd_engine *e, clmd_err *err);
    /* Runs after the step whose number the interval divides. */
    int (*apply)(clmd_hook *h, struct clmd_engine *e, clmd_err *err);
    void (*describe)(const clmd_hook *h, FILE *out);
    /* Checkpoint entries (names prefixed by the hook's name); NULL when stateless. */
    int (*save)(const clmd_hook *h, struct clmd_ckpt_writer *w, clmd_err *err);
    int (*load)(clmd_hook *h, struct clmd_ckpt_reader *r, clmd_err *err);
    /* Counters for the end-of-run report ("barostat: 400 moves, 48% accepted"); may be NULL. */
    void (*report)(const clmd_hook *h, FILE *out);
    void (*destroy)(clmd_hook *h);
} clmd_hook_ops;

struct clmd_hook {
    const clmd_hook_ops *ops;
    void *impl;
    long interval;     /* steps between applications (>= 1) */
    int needs_energy;  /* apply reads the potential energy of the step it follows */
};

void clmd_hook_destroy(clmd_hook **h);

/* Centre-of-mass motion removal every `interval` steps. */
clmd_hook *clmd_com_remover_create(long interval);

#endif
