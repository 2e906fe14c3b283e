/* Monte Carlo barostat (NPT with the Langevin thermostat), as OpenMM's MonteCarloBarostat and
 * MonteCarloAnisotropicBarostat, as a step hook (md/integrator.h). Every `interval` steps a
 * volume move is tried: dV uniform in +-A (A starts at 1% of the volume); isotropic moves scale
 * the three box vectors by (V'/V)^(1/3), anisotropic ones one random axis by V'/V, each axis with
 * its own A. Molecules (system/molecules.h) move as rigid units with their centroids
 * (clmd_engine_scale_box). The move is accepted with probability min(1, exp(-w/kT)),
 *   w = U' - U + P dV - N kT ln(V'/V)   (N: molecules; P: the pressure along the axis),
 * U from the energy of the step (computed with its forces), U' from one energy evaluation of the
 * trial, whose forces are kept when accepted; a rejected move restores the saved state
 * bit for bit. With adapt, after every 10 attempts on an axis A becomes A/1.1 when fewer than
 * 25% were accepted and min(1.1 A, 0.3 V) when more than 75% were. The random numbers are
 * Philox keyed by the seed with the attempt number as counter; the move sizes, counters and the
 * attempt number go into checkpoints. The pair list stays valid through accepted moves (the
 * scaling is charged to its buffer, nlist/pairlist.h). Probes: P_BAROSTAT, P_BOX_SCALE. */
#ifndef CLMD_MD_BAROSTAT_H
#define CLMD_MD_BAROSTAT_H

#include "core/err.h"

struct clmd_hook;
struct clmd_engine;

typedef struct clmd_barostat_opts {
    int anisotropic;          /* 0: isotropic */
    double pressure_bar[3];   /* isotropic: [0] */
    long interval;            /* steps between moves (>= 1) */
    int adapt;                /* adapt the move size */
    unsigned long seed;
} clmd_barostat_opts;

/* A barostat for engine e (its state's box and bath temperature are read at every move).
 * CLMD_EINPUT when the system has no box or the nonbonded method has no cutoff. The hook goes to
 * clmd_engine_add_hook, which owns it. */
int clmd_barostat_create(const clmd_barostat_opts *o, struct clmd_engine *e,
                         struct clmd_hook **out, clmd_err *err);

/* Counters of a barostat hook: attempts and acceptances per axis ([0] only when isotropic)
 * and the current move sizes (nm^3). */
void clmd_barostat_counts(const struct clmd_hook *h, long attempted[3], long accepted[3],
                          double move_nm3[3]);

#endif
