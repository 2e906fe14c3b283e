/* The run driver: the library side of `clmd run`, `clmd eval` and `clmd check`. A session is a
 * deck, the system it describes and an engine (with the barostat hook when the deck has one);
 * a run adds the outputs (energy log, H5MD trajectory, checkpoints, probe JSON) and the loop
 * that steps the engine and writes them on their schedule. Nothing here prints: the caller
 * (cli/) prints what it wants from the accessors and the progress callback.
 * Create with clmd_run_create, free with clmd_run_destroy. */
#ifndef CLMD_RUN_RUN_H
#define CLMD_RUN_RUN_H

#include <stdio.h>

#include "core/err.h"
#include "ff/term.h"
#include "input/deck.h"
#include "io/thermo.h"

struct clmd_system;
struct clmd_engine;
struct clmd_probe;

typedef struct clmd_run_opts {
    const char *deck;        /* deck file */
    long steps;              /* -1: the deck's integrator.steps */
    const char *device;      /* NULL: the deck's */
    const char *probe_json;  /* NULL: the deck's probes.json */
    const char *restart;     /* checkpoint to continue from, or NULL */
    int overwrite;           /* outputs may be replaced */
    int probes;              /* record timing probes */
    int replicas_per_device; /* campaigns: 0 the deck's replica_exchange.replicas_per_device,
                              * -1 automatic, 1 one replica at a time, k: batches of k */
    /* Set (to nonzero) by the caller's signal handler: the loop then finishes its step, writes
     * a checkpoint, flushes the outputs and returns CLMD_ERUNTIME saying so. May be NULL. */
    volatile int *interrupt;
} clmd_run_opts;

/* Deck + system + engine. */
typedef struct clmd_session {
    clmd_deck deck;
    struct clmd_system *sys;
    struct clmd_engine *eng;
    struct clmd_probe *probe;
} clmd_session;

/* Loads the deck (applying the options' overrides), builds the system, draws or reads the
 * velocities and creates the engine with its hooks. With engine == 0 stops after the system and
 * the force-field plan (clmd check: everything a run validates before it starts). */
int clmd_session_open(clmd_session *s, const clmd_run_opts *o, int engine, clmd_err *err);
void clmd_session_close(clmd_session *s);

/* `clmd eval`: one evaluation written as JSON to path (the format of ../shared/INPUT.md); an
 * existing file is replaced only with overwrite. */
int clmd_session_eval(clmd_session *s, const char *path, int overwrite, clmd_err *err);

typedef struct clmd_run clmd_run;

/* The result of the deck's minimize step (fresh runs that ask for one). */
typedef struct clmd_run_minimized {
    int done;
    long steps;
    double e0, e1, fmax;
    int converged;           /* largest force below the tolerance */
} clmd_run_minimized;

/* Opens the session, continues from the checkpoint or constrains (and minimizes) a fresh
 * start, and checks and creates every output before the first step. A restart continues the
 * run's outputs: the energy log and trajectory keep everything up to the checkpoint's step,
 * drop what was written after it and append, so they end identical to an uninterrupted run's.
 * The checkpoint records what the run depends on (time step, integrator, bath, barostat, the
 * input box and a hash of the physics keys); a deck that differs is refused naming the key. */
int clmd_run_create(const clmd_run_opts *o, clmd_run **out, clmd_err *err);
void clmd_run_destroy(clmd_run **r);

/* Called about once a second while the loop runs (and once at the end with final = 1). */
typedef void (*clmd_run_progress)(void *ctx, long steps_done, long steps_total, double elapsed_s,
                                  int final);

/* Runs the loop to the deck's step count, writing energies, frames and checkpoints on their
 * intervals (the state at the first step of a fresh run and at the last step too), checkpoints
 * every output.checkpoint.wall_minutes of wall time, a final checkpoint, and the probe JSON. */
int clmd_run_execute(clmd_run *r, clmd_run_progress progress, void *ctx, clmd_err *err);

clmd_session *clmd_run_session(clmd_run *r);
const clmd_run_minimized *clmd_run_minimize_result(const clmd_run *r);

/* What the loop measured. */
typedef struct clmd_run_summary {
    long first_step, last_step, steps;
    double elapsed_s;
    clmd_thermo final;                 /* at the last step */
    double components[CLMD_E_NCOMP];  /* at the last step */
    long samples;                      /* energy samples averaged */
    double mean_potential, mean_temperature;
    int periodic;
    double volume_nm3, density_g_cm3, pressure_bar; /* at the last step (periodic) */
    double mean_volume_nm3, mean_density_g_cm3;
} clmd_run_summary;
const clmd_run_summary *clmd_run_get_summary(const clmd_run *r);

#endif
