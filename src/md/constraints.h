/* Distance constraints for the engine's step loop, on the OpenCL device (the engine's mixed
 * precision) and on the host in double (the reference path). Two solvers:
 *   SETTLE  rigid three-site waters, found from the topology as three constraints forming a
 *           triangle O-H1, O-H2, H1-H2 with |O-H1| = |O-H2| and m(H1) = m(H2), touching no
 *           other constraint. Analytical (Miyamoto & Kollman, J. Comput. Chem. 13, 952 (1992)):
 *           exact to rounding, one work-item per water.
 *   SHAKE   every other constraint, grouped into clusters (connected components of the
 *           constraint graph: with hbonds, a heavy atom and its hydrogens). One work-item per
 *           cluster iterates Gauss-Seidel SHAKE until every constraint of the cluster holds to
 *           the relative tolerance, so the device result does not depend on thread scheduling.
 *           Velocities: RATTLE's second half, iterated the same way.
 * Tolerance `tol` (relative): positions converge when |r^2 - d^2| <= 2 tol d^2 for every
 * constraint (|r - d| <= ~tol d); velocities when |r_ij . v_ij| dt <= tol d^2 (the bond would
 * change length by at most tol d over one step). SETTLE positions and velocities are exact.
 * Molecules must be whole (no minimum image is taken; the engine never wraps positions).
 *
 * Position constraints move x along the bond directions of a reference configuration (the
 * positions before the step) and add the same displacement / dt to the velocities, as OpenMM
 * does (Verlet: RATTLE first half; Langevin middle: after the second half drift).
 *
 * Create with clmd_constraints_create, free with clmd_constraints_destroy; the system must
 * outlive the handle. Device objects are created by clmd_constraints_setup_device and released
 * by destroy; the buffers in the clmd_mdbuf belong to the engine. */
#ifndef CLMD_MD_CONSTRAINTS_H
#define CLMD_MD_CONSTRAINTS_H

#include "core/err.h"
#include "md/mdbuf.h"

struct clmd_system;
typedef struct clmd_constraints clmd_constraints;

/* *out = NULL (and CLMD_OK) when the system has no constraints. use_settle = 0 sends the
 * waters to SHAKE as well (for tests comparing the two). Errors: a constraint on a massless
 * particle, an atom constrained to itself, a distance <= 0. */
int clmd_constraints_create(const struct clmd_system *sys, double tol, int use_settle,
                            clmd_constraints **out, clmd_err *err);
void clmd_constraints_destroy(clmd_constraints **c);

/* Waters handled by SETTLE, SHAKE clusters, and constraints in those clusters. */
void clmd_constraints_counts(const clmd_constraints *c, int *nsettle, int *nclusters,
                             int *nshake);
double clmd_constraints_tolerance(const clmd_constraints *c);

/* ---- host (double precision) ---- */

/* Constrains x ([3n], nm) along the bond directions of xref; when v is not NULL, adds the
 * displacement / dt to v. xref may equal x (constraining a configuration onto itself, e.g.
 * at the start of a run). Fails (CLMD_ERUNTIME) when SHAKE does not converge or the
 * geometry is broken (a bond turned by 90 degrees or more in one step). */
int clmd_constraints_positions_ref(clmd_constraints *c, const double *xref, double *x, double *v,
                                   double dt, clmd_err *err);
/* Removes the velocity components along the constraints at positions x (RATTLE). dt only
 * sets the convergence test above. */
int clmd_constraints_velocities_ref(clmd_constraints *c, const double *x, double *v, double dt,
                                    clmd_err *err);
/* Largest |r - d| / d over every constraint of the system at x. */
double clmd_constraints_max_error(const struct clmd_system *sys, const double *x);
/* Largest |r_ij . v_ij| / (|r_ij| d) over every constraint (velocity along the bond relative
 * to the bond length, 1/ps). */
double clmd_constraints_max_velocity_error(const struct clmd_system *sys, const double *x,
                                           const double *v);
/* Largest SHAKE iteration count any cluster needed in the host calls so far. */
int clmd_constraints_max_iterations(const clmd_constraints *c);

/* ---- device ---- */

/* Builds the kernels and uploads the water and cluster tables. b is copied. */
int clmd_constraints_setup_device(clmd_constraints *c, const clmd_mdbuf *b, clmd_err *err);
/* Constrains b->pos along the directions of b->pos_old; with dt > 0 the displacement / dt is
 * added to b->vel, with dt = 0 the velocities are left alone. Rewrites posq/posq_lo of the
 * moved particles and folds their displacement into flags[0]; a failed solve sets flags[1]. */
int clmd_constraints_enqueue_positions(clmd_constraints *c, double dt, clmd_err *err);
/* RATTLE on b->vel at positions b->pos. */
int clmd_constraints_enqueue_velocities(clmd_constraints *c, double dt, clmd_err *err);

/* An integrator's step in one launch (cl/units.cl, the program CLMD_UNITS_PROGRAM): binds the unit tables and constants from argument `first` on (UNIT_ARGS,
 * for time step dt); the launch takes clmd_constraints_unit_items work-items in work-groups of
 * clmd_constraints_unit_wg. A virtual site of vs (NULL: none; set up on the device) whose
 * parents are one SETTLE water is placed by that water's unit; *sites_left counts the others
 * (0: the step needs no vsite_build). */
struct clmd_vsites;
#define CLMD_UNITS_PROGRAM "integrate.cl constraints.cl vsite.cl units.cl"
int clmd_constraints_bind_units(clmd_constraints *c, const struct clmd_vsites *vs, cl_kernel k,
                                cl_uint first, double dt, int *sites_left, clmd_err *err);
size_t clmd_constraints_unit_items(const clmd_constraints *c);
int clmd_constraints_unit_wg(void);
/* "#define MAX_ITER ..." for programs that include constraints.cl. */
void clmd_constraints_defines(char *buf, size_t size);

#endif
