/* H5MD 1.1 trajectory writer (libhdf5, serial). One file holds, for the particle group "all":
 *   h5md                      version [1,1]; author{name}; creator{name "clmd", version};
 *                             modules/units{version [1,0], system "SI"}
 *   particles/all/box         dimension 3, boundary ["periodic" x3] or ["none" x3];
 *                             edges{step,time,value float64 (frames,3,3)} when periodic: the rows
 *                             are the box vectors in nm (the triclinic form, which also holds a
 *                             rectangular box and which MDAnalysis reads)
 *   particles/all/position    step int64 (frames), time float64 (frames, "ps"),
 *                             value float32 (frames,N,3) "nm"
 *   particles/all/velocity    value float32 (frames,N,3) "nm ps-1" (optional)
 *   particles/all/species     Enumeration[N] of the particle names (optional), mass[N] "u",
 *                             charge[N] "e" (optional)
 *   observables/potential_energy, kinetic_energy, total_energy ("kJ mol-1"), temperature ("K"),
 *                             plus extra scalar observables named at creation
 *   parameters/clmd           title attribute and the resolved deck text (optional)
 * Every time series of the file is sampled together, so box/edges, velocity and observables
 * hard-link position's step and time datasets, as H5MD asks. Values grow one frame per
 * clmd_h5md_write_frame() (chunked, extensible datasets); the file is flushed after each frame
 * so a killed run leaves a readable file holding every frame written.
 *
 * clmd_h5md_create() returns a handle the caller closes with clmd_h5md_close(). HDF5's own
 * error printing is silenced inside these calls; its messages come back on the clmd_err.
 * HDF5 locks the file while it is open: a reader opening it during a run needs
 * HDF5_USE_FILE_LOCKING=FALSE. */
#ifndef CLMD_IO_H5MD_H
#define CLMD_IO_H5MD_H

#include "core/err.h"
#include "io/thermo.h"

typedef struct clmd_h5md clmd_h5md;

typedef struct clmd_h5md_opts {
    int n_particles;             /* > 0 */
    int periodic;                /* 1: boundary periodic, box edges written each frame */
    int write_velocities;        /* 1: particles/all/velocity, frames must carry v */
    const char *author;          /* h5md/author name; NULL: "unknown" */
    const char *creator_version; /* NULL: clmd's version and git commit */
    const char *title;           /* NULL or a title stored in parameters/clmd */
    const char *deck_text;       /* NULL or the resolved deck, stored in parameters/clmd/deck */
    const char *const *names;    /* NULL or n_particles names -> species ("" becomes "?") */
    const double *mass;          /* NULL or n_particles masses (amu) */
    const double *charge;        /* NULL or n_particles charges (e) */
    int n_extra;                 /* extra scalar observables, e.g. per-term energies */
    const char *const *extra_names; /* their names (unique, no '/', not a standard name) */
    const char *extra_unit;      /* their unit; NULL: "kJ mol-1" */
} clmd_h5md_opts;

typedef struct clmd_h5md_frame {
    long step;          /* strictly increasing from frame to frame */
    double time_ps;     /* never decreasing */
    clmd_vec3s x;       /* positions, nm */
    clmd_vec3s v;       /* velocities, nm/ps (read only when write_velocities) */
    double box[3][3];   /* rows are the box vectors, nm (read only when periodic) */
    clmd_thermo thermo; /* kJ/mol and K */
    const double *extra; /* n_extra values (NULL when n_extra is 0) */
} clmd_h5md_frame;

/* Creates (truncates) path and writes the static layout. The overwrite policy is the caller's
 * (clmd_outfile_prepare). CLMD_EINPUT for bad options, CLMD_ERUNTIME for HDF5 failures. */
int clmd_h5md_create(const char *path, const clmd_h5md_opts *opts, clmd_h5md **out,
                     clmd_err *err);

/* Continues the trajectory of a restarted run: opens path (written by clmd_h5md_create with the
 * same options: the particle count and observables are checked, CLMD_EINPUT otherwise), keeps
 * every frame up to step last_step and drops those after it (written after the checkpoint the
 * run restarts from, or cut short by a kill), then appends. A missing file is created. */
int clmd_h5md_continue(const char *path, const clmd_h5md_opts *opts, long last_step,
                       clmd_h5md **out, clmd_err *err);

/* Appends one frame to every time series and flushes the file. */
int clmd_h5md_write_frame(clmd_h5md *h, const clmd_h5md_frame *frame, clmd_err *err);

/* Frames written so far (a continued file counts the frames it kept), and the step of the last
 * one (-1 when there is none). */
long clmd_h5md_frames(const clmd_h5md *h);
long clmd_h5md_last_step(const clmd_h5md *h);

/* Closes the file and frees the handle, setting *h to NULL (NULL-safe). */
int clmd_h5md_close(clmd_h5md **h, clmd_err *err);

#endif
