/* From the deck's plain values to the options of the modules that run them. The deck (input/)
 * knows nothing of ff/; this is the one place that maps one onto the other. */
#ifndef CLMD_RUN_SETUP_H
#define CLMD_RUN_SETUP_H

#include "ff/options.h"
#include "ff/term.h"

struct clmd_deck;
struct clmd_system;
struct clmd_engine_opts;
struct clmd_barostat_opts;

/* The force-field options of the deck's nonbonded: and implicit_solvent: sections. Every field
 * of *o is set (clmd_ffopts_defaults first, so a field added there keeps its default). */
void clmd_ffopts_from_deck(const struct clmd_deck *d, clmd_ffopts *o);

/* The engine's options (device, integrator, bath, constraints) and the barostat's. */
void clmd_engine_opts_from_deck(const struct clmd_deck *d, struct clmd_engine_opts *eo);
void clmd_barostat_opts_from_deck(const struct clmd_deck *d, struct clmd_barostat_opts *bo);

/* Maxwell-Boltzmann velocities ([3n], nm/ps) at temperature T from a seed (Philox stream,
 * deterministic), centre-of-mass motion removed when asked. */
void clmd_draw_velocities(const struct clmd_system *s, double T, unsigned long seed, int remove_com,
                          double *v);

/* A copy's region factors (ff/term.h) for an alchemical state, and for a REST2 state at solute
 * temperature T with physical temperature T0. */
clmd_region_scale clmd_region_scale_alchemical(double lambda_sterics, double lambda_electrostatics);
clmd_region_scale clmd_region_scale_rest2(double T0, double T);

#endif
