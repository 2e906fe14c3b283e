/* The pair-list buffer sized from the energy drift it allows (GROMACS's verlet-buffer-tolerance
 * model, Pall & Hess 2013), for lists that are not exact: they live a fixed number of steps and
 * may miss the rare pair that travels further than the buffer in that time.
 *
 * The model. Over a list's lifetime t an atom moves ballistically: per dimension its
 * displacement has variance kT t^2 / m. An atom constrained to a heavier partner (mass M, length
 * d, M > 0.4 m) moves with the pair's centre (kT t^2 / (m + M)) plus a rotation on a sphere of
 * radius a = d M / (m + M), whose variance saturates (a^2 x / (1 + x/3 + 2x^2/45), x = kT t^2 M
 * / ((m + M) m a^2), x at most 4.74) and whose projection on a pair's axis has the sharper
 * tail of two degrees of freedom (a shifted, scaled Gaussian touching it stands in); a virtual
 * site moves as the weighted sum of its parents (1/m = sum w_k^2 / m_k). Two atoms' distance
 * then changes by a Gaussian of variance the sum of theirs. A pair that starts beyond rlist = cutoff + buffer and ends inside the cutoff is missed;
 * the energy it would have had is the potential's Taylor series about the cutoff (first to third
 * derivative: plain, switched or shifted LJ, reaction field, Ewald real space), integrated over
 * the Gaussian tail. Summed as absolute values over every pair of atom classes (mass model,
 * charge, LJ parameters) with the pair density of the system (a grid of cells about the cutoff
 * in size, so that solutes in vacuum and slabs are not diluted), divided by the lifetime and the
 * atom count, it is the drift in kJ/mol/ps per atom; lists of clusters are credited with the
 * pairs beyond rlist they hold anyway. It overestimates, as GROMACS's does (no cancellation
 * between pairs, ballistic motion, Gaussian tails).
 *
 * Create once per system and plan; the estimate takes kT and the lifetime, so temperature
 * changes cost only the evaluation. */
#ifndef CLMD_NLIST_VERLETBUF_H
#define CLMD_NLIST_VERLETBUF_H

#include "core/err.h"

struct clmd_system;
struct clmd_ffplan;

typedef struct clmd_verletbuf clmd_verletbuf;

/* box: the run's box (rows a, b, c; nm), NULL without one. Only cutoff methods have lists. */
int clmd_verletbuf_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                          const double box[3][3], clmd_verletbuf **out, clmd_err *err);
void clmd_verletbuf_destroy(clmd_verletbuf **vb);

/* The estimated drift (kJ/mol/ps per atom) of lists with buffer `buffer_nm` used for `steps`
 * steps of dt_ps after the positions they were built from (ages 0 .. steps - 1), at kT
 * (kJ/mol). ci, cj: the list's cluster sizes (a pair is listed when any atom of one cluster is
 * near any of the other's: 1 for lists of atom pairs), which list extra pairs beyond rlist. */
double clmd_verletbuf_drift(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                            double buffer_nm, int ci, int cj);
/* The pairs (of atoms that interact) such lists are expected to miss at their last step: pairs
 * within the cutoff then that were beyond cutoff + buffer at the build (for tests of the
 * model). */
double clmd_verletbuf_missed(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                             double buffer_nm);
/* The smallest buffer (a multiple of 0.001 nm) whose estimated drift is within tol. */
double clmd_verletbuf_size(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                           double tol, int ci, int cj);
/* The largest displacement standard deviation (nm, in 3D: sqrt of three times the per-dimension
 * variance) of any atom after `steps` steps at kT: the scale of the safety net that catches a
 * system moving faster than the model. */
double clmd_verletbuf_sigma_max(const clmd_verletbuf *vb, double kT, double dt_ps, int steps);
/* Atom classes and the effective density (atoms/nm^3), for reports and tests. */
int clmd_verletbuf_classes(const clmd_verletbuf *vb);
double clmd_verletbuf_density(const clmd_verletbuf *vb);

#endif
