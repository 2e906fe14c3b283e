/* Steepest-descent minimization (see clmd_engine_minimize in md/engine.h).
 *
 * Clashes: the device accumulates forces and energies in fixed point and refuses states beyond
 * its range (CLMD_FIXED_LIMIT, ff/term.h), which a clash of 0.1 nm already is. The minimizer
 * therefore evaluates a state the device cannot represent with the double-precision terms on the
 * host (the reference path's), steps on the host until the device can represent the state
 * again, then goes on on the device. On the device a trial step into an overflowing state is
 * rejected like one to a higher energy (the state it leaves was representable, so the trial is
 * a new clash).
 *
 * Constraints: a step along the forces followed by a projection of the positions onto the
 * constraints need not lower the energy (the projection is mass-weighted, the step is not: rigid
 * waters stalled with "no lower energy along the force" far from a minimum). With constraints
 * the step is along d = P M^-1 f instead, the accelerations with their components along the
 * constraints removed by the engine's velocity constraints (P, an M-orthogonal projection), for
 * which f . d >= 0; the largest force is taken of the projected forces M d (the constraint forces
 * never vanish), as GROMACS does. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine_impl.h"
#include "state/state.h"
#include "system/system.h"

/* The largest |f_i| (over particles that move). */
static double largest_force(const clmd_engine *e, const double *f)
{
    double m2 = 0;
    for (int i = 0; i < e->sys->n; i++) {
        if (e->invmass[i] == 0) continue;
        double f2 = f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2];
        if (!(f2 <= m2)) m2 = f2; /* NaN wins */
    }
    return sqrt(m2);
}

static double energy_sum(const double *en)
{
    double t = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) t += en[c];
    return t;
}

/* The largest |d_i|. */
static double largest(const clmd_engine *e, const double *d)
{
    double m2 = 0;
    for (int i = 0; i < e->sys->n; i++) {
        double d2 = d[3 * i] * d[3 * i] + d[3 * i + 1] * d[3 * i + 1] + d[3 * i + 2] * d[3 * i + 2];
        if (!(d2 <= m2)) m2 = d2;
    }
    return sqrt(m2);
}

/* The step direction d and the projected forces fp for forces f at the engine's (constrained)
 * positions: f and f without constraints, else P M^-1 f and M P M^-1 f (see above; the
 * velocities carry d through the engine's constraints, the caller restores them). */
static int direction(clmd_engine *e, const double *f, double *d, double *fp, clmd_err *err)
{
    const int n = e->sys->n;
    if (!e->cons) {
        memcpy(d, f, sizeof(double) * 3 * (size_t)n);
        memcpy(fp, f, sizeof(double) * 3 * (size_t)n);
        return CLMD_OK;
    }
    for (int i = 0; i < 3 * n; i++) d[i] = e->invmass[i / 3] * f[i];
    int rc;
    if ((rc = clmd_engine_set_velocities(e, d, err)) ||
        (rc = clmd_engine_apply_constraints(e, err)) || (rc = clmd_engine_get_velocities(e, d, err)))
        return rc;
    for (int i = 0; i < 3 * n; i++)
        fp[i] = e->invmass[i / 3] != 0 ? d[i] / e->invmass[i / 3] : (d[i] = 0);
    return CLMD_OK;
}

/* Evaluates the engine's positions into en, f: on the host when *host (or the reference path);
 * on the device otherwise, where *over reports an overflow. */
static int evaluate(clmd_engine *e, int host, double *en, double *f, int *over, clmd_err *err)
{
    clmd_overflow ovf;
    int rc = clmd_engine_evaluate_raw(e, host, en, f, &ovf, err);
    /* the kinetic energy's bit is not the potential's: the step directions ride in the
     * velocities (direction()), whose kinetic energy may well saturate */
    *over = !rc && !host && !e->reference &&
            (ovf.force || (ovf.energy & ~(1u << CLMD_E_NCOMP)));
    return rc;
}

int clmd_engine_minimize(clmd_engine *e, long max_steps, double tol, double *e0_out,
                         double *fmax_out, long *steps_out, clmd_err *err)
{
    const int n3 = 3 * e->sys->n;
    double *x, *xt, *f, *ft, *d, *fp, *v0, en[CLMD_E_NCOMP] = {0};
    CLMD_NEW(x, n3);
    CLMD_NEW(xt, n3);
    CLMD_NEW(f, n3);
    CLMD_NEW(ft, n3);
    CLMD_NEW(d, n3);
    CLMD_NEW(fp, n3);
    CLMD_NEW(v0, n3);
    int host = 0, over = 0;
    int rc = clmd_engine_get_positions(e, x, err);
    if (!rc) rc = clmd_engine_get_velocities(e, v0, err);
    if (!rc) rc = evaluate(e, host, en, f, &over, err);
    if (!rc && over) rc = evaluate(e, host = 1, en, f, &over, err);
    double E = energy_sum(en), E0 = E, h = 0.01, fmax = largest_force(e, f), dmax = 0;
    if (!rc && !(isfinite(E) && isfinite(fmax))) {
        /* coincident particles: their forces have no direction to move along */
        clmd_engine_overflow_error(e, e->st->step, &e->ovf, f, NULL, err);
        rc = clmd_err_prefix(err, "minimize");
    }
    if (!rc && (rc = direction(e, f, d, fp, err)) == CLMD_OK) {
        fmax = largest_force(e, fp);
        dmax = largest(e, d);
    }
    long it = 0;
    for (; !rc && it < max_steps && fmax > tol && dmax > 0 && h > 1e-7; it++) {
        /* h: how far the particle that moves most goes */
        for (int i = 0; i < n3; i++) xt[i] = x[i] + (e->invmass[i / 3] != 0 ? h * d[i] / dmax : 0);
        if ((rc = clmd_engine_set_positions(e, xt, err)) ||
            (rc = clmd_engine_apply_constraints(e, err)) ||
            (rc = evaluate(e, host, en, ft, &over, err)))
            break;
        double Et = energy_sum(en);
        if (!over && isfinite(Et) && Et < E && isfinite(largest_force(e, ft))) {
            if ((rc = clmd_engine_get_positions(e, x, err))) break;
            memcpy(f, ft, sizeof(double) * (size_t)n3);
            E = Et;
            h *= 1.2;
            if (host && !e->reference) {
                /* back to the device as soon as it represents the state */
                if ((rc = evaluate(e, 0, en, ft, &over, err))) break;
                if (!over) {
                    host = 0;
                    memcpy(f, ft, sizeof(double) * (size_t)n3);
                    E = energy_sum(en);
                }
            }
            if ((rc = direction(e, f, d, fp, err))) break;
            fmax = largest_force(e, fp);
            dmax = largest(e, d);
        } else {
            h *= 0.2;
        }
    }
    /* leave the engine at the best positions found, with their energies (on the host if the
     * device still cannot represent them: the run then stops with the overflow report) */
    if (!rc) rc = clmd_engine_set_positions(e, x, err);
    if (!rc) rc = clmd_engine_set_velocities(e, v0, err);
    if (!rc) rc = evaluate(e, 0, en, NULL, &over, err);
    if (!rc && over) rc = evaluate(e, 1, en, NULL, &over, err);
    if (e0_out) *e0_out = E0;
    if (fmax_out) *fmax_out = fmax;
    if (steps_out) *steps_out = it;
    clmd_free(x);
    clmd_free(xt);
    clmd_free(f);
    clmd_free(ft);
    clmd_free(d);
    clmd_free(fp);
    clmd_free(v0);
    return rc;
}
