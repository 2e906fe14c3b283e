/* The force-field plan: every value derived from the deck's force-field options and the
 * system, decided once, in one place, before any term is built. Terms, the pair list, the run
 * and `clmd eval` read these fields instead of deriving them again: the periodicity of the
 * nonbonded interactions, the cutoff-versus-box rule, PME's alpha and grid, the reaction-field
 * constants, and which energy components the system has (the keys `clmd eval` writes and the
 * energy-log columns). Values that depend on the current box (the dispersion correction's
 * 1/V, PME's influence function) are not here: terms compute them from the state's box at
 * every evaluation. Plain struct; nothing to free. */
#ifndef CLMD_FF_PLAN_H
#define CLMD_FF_PLAN_H

#include "core/err.h"
#include "ff/options.h"
#include "ff/term.h"

struct clmd_system;

typedef struct clmd_ffplan {
    clmd_ffopts o;               /* the options as given */
    int cutoff_on;               /* a cutoff method (not nocutoff) */
    int periodic;                /* nonbonded interactions take periodic images: a box and a
                                  * cutoff method */
    int has_box;                 /* the system has a box: bonded terms take the minimum image */
    int charged;                 /* some particle has a charge */
    int coulomb;                 /* 0 none, 1 plain 1/r, 2 reaction field, 3 Ewald real space */
    double krf, crf;             /* reaction field: E = qq (1/r + krf r^2 - crf) */
    double ewald_alpha;          /* PME, 1/nm (0 otherwise) */
    int pme_grid[3];             /* PME grid, rounded to 2,3,5,7 products as the device FFT needs */
    int present[CLMD_E_NCOMP];   /* energy components this system has */
    const char *problem;         /* after a failed clmd_ffplan_make: the deck key the problem
                                  * belongs to ("nonbonded.cutoff"...), for messages */
} clmd_ffplan;

/* Checks the options against the system (PME needs a box; the cutoff against the box by the one
 * rule in system/box.h; PME order and grid sizes; GB needs radii and a compatible method) and
 * fills the plan. CLMD_EINPUT with a message naming what is wrong. */
int clmd_ffplan_make(const struct clmd_system *sys, const clmd_ffopts *o, clmd_ffplan *plan,
                     clmd_err *err);

/* The box the run may shrink to before the cutoff rule breaks: nonzero when the cutoff fits
 * box b (a barostat rejects a move that would break it). Always 1 without periodic images. */
int clmd_ffplan_box_ok(const clmd_ffplan *plan, const double b[3][3]);

#endif
