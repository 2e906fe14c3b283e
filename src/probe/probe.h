/* Timing probes: one named timer per phase of a step. Host phases are timed with the monotonic
 * clock (PROBE_START/PROBE_STOP); device kernels are timed from OpenCL profiling events, which
 * the ocl layer hands over in batches (clmd_probe_add_sample) rather than waiting per kernel.
 * A run ends with a table (phase, calls, total ms, ms/step, share) and optionally a JSON file
 * with build, device and raw per-call samples. Probes cost a clock read when on and a branch
 * when off. Adding a probe: add an id to the enum and its name and parent in probe.c. */
#ifndef CLMD_PROBE_PROBE_H
#define CLMD_PROBE_PROBE_H

#include <stdio.h>

#include "core/err.h"

typedef enum clmd_probe_id {
    P_TOTAL = 0,      /* the whole MD loop */
    P_SETUP,          /* system import, device and kernel setup before the loop */
    P_NLIST_CHECK,    /* displacement check (device reduction + one scalar back) */
    P_NLIST_BUILD,    /* host cell grid + cluster-pair list */
    P_NLIST_PRUNE,    /* the inner list pruned from the outer one on the device */
    P_UPLOAD,         /* host -> device copies */
    P_DOWNLOAD,       /* device -> host copies */
    P_FORCE_CLEAR,    /* zeroing force/energy accumulators */
    P_NONBONDED,      /* LJ + Coulomb pair kernel (on GPUs with the 1-4 exceptions and
                       * exclusion corrections in the same launch) */
    P_PAIRS14,        /* 1-4 exceptions and exclusion corrections (CPU devices) */
    P_BONDED,         /* bonds, angles and torsions (one launch) */
    P_CMAP,           /* CMAP correction-map torsion pairs */
    P_PME_SPREAD,
    P_PME_GRID_COPY,  /* grid device <-> host */
    P_PME_FFT_FWD,
    P_PME_CONVOLVE,
    P_PME_INFLUENCE,  /* the influence function made on the device for a new box */
    P_PME_FFT_INV,
    P_PME_GATHER,
    P_GB_RADII,
    P_GB_FORCE,
    P_SA,
    P_VSITE_BUILD,
    P_VSITE_SPREAD,
    P_INTEGRATE,
    P_CONSTRAINTS,
    P_ENERGY,         /* reading back and summing energies */
    P_OUT_TRAJ,
    P_OUT_ENERGY,
    P_CHECKPOINT,
    P_REMD_EXCHANGE,
    P_BAROSTAT,       /* Monte Carlo volume moves: the trial evaluation and its undo */
    P_BOX_SCALE,      /* the rigid-molecule scaling kernel (barostat, pressure) */
    P_PRESSURE,       /* the pressure observable: two energies of scaled boxes */
    P_REMD_MD,        /* a campaign's MD segments between exchanges (all of a process's engines) */
    P_REMD_ENERGIES,  /* a campaign's per-replica energies and their exchange between processes */
    P_MPI_WAIT,       /* time in MPI collectives (one sample per round; inside the rows above) */
    P_MINIMIZE,       /* energy minimization before the run (not part of md_loop) */
    P_NPROBES
} clmd_probe_id;

typedef struct clmd_probe clmd_probe;

/* A NULL probe is valid everywhere and records nothing. */
clmd_probe *clmd_probe_create(int enabled);
void clmd_probe_destroy(clmd_probe **p);
int clmd_probe_enabled(const clmd_probe *p);

void clmd_probe_start(clmd_probe *p, clmd_probe_id id);
void clmd_probe_stop(clmd_probe *p, clmd_probe_id id);
/* The probes' clock: monotonic nanoseconds (for times measured on other threads). */
double clmd_probe_clock_ns(void);
/* Adds one sample measured elsewhere (device event), in nanoseconds. */
void clmd_probe_add_sample(clmd_probe *p, clmd_probe_id id, double ns);
/* Marks a phase as measured on the device (shown as such in the report). */
void clmd_probe_set_device(clmd_probe *p, clmd_probe_id id);
/* A device call of phase id that was not timed (the OpenCL layer times one launch in
 * CLMD_PROBE_SAMPLE of each phase): counted, and the phase's time is its timed calls' scaled
 * to all its calls. */
void clmd_probe_add_untimed(clmd_probe *p, clmd_probe_id id);

/* Starts the MD loop's accounting: drops what the phases inside the loop and the counters
 * recorded before it (minimization, the first list build and evaluation), so the per-step
 * figures are the loop's own. setup and minimize keep theirs. Device events must have been
 * handed over first (clmd_ocl_finish). */
void clmd_probe_begin_loop(clmd_probe *p);

/* Counters that go into the report (neighbor-list rebuilds, steps...). */
void clmd_probe_count(clmd_probe *p, const char *name, long delta);
long clmd_probe_counter(const clmd_probe *p, const char *name);

/* Totals for a phase. */
long clmd_probe_calls(const clmd_probe *p, clmd_probe_id id);
/* How many times the loop's counts were reset (clmd_probe_begin_loop). */
int clmd_probe_loop_id(const clmd_probe *p);
/* Of those, the calls that were timed (all but sampled device launches). */
long clmd_probe_timed_calls(const clmd_probe *p, clmd_probe_id id);
double clmd_probe_total_ms(const clmd_probe *p, clmd_probe_id id);
const char *clmd_probe_name(clmd_probe_id id);

/* Free-form facts for the JSON header (device, driver, system...). */
void clmd_probe_set_info(clmd_probe *p, const char *key, const char *value);

/* Prints the end-of-run table; steps is the number of MD steps the loop ran. */
void clmd_probe_report(const clmd_probe *p, long steps, FILE *out);
/* Writes the JSON report (build, info, per-phase totals and raw samples). */
int clmd_probe_write_json(const clmd_probe *p, long steps, const char *path, clmd_err *err);

#define PROBE_START(p, id) clmd_probe_start((p), (id))
#define PROBE_STOP(p, id) clmd_probe_stop((p), (id))

#endif
