/* Steepest-descent minimization (see clmd_engine_minimize in md/engine.h), through the
 * engine's public calls only. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine_impl.h"
#include "system/system.h"

static double largest_force(const clmd_engine *e, const double *f)
{
    double m2 = 0;
    for (int i = 0; i < e->sys->n; i++) {
        if (e->invmass[i] == 0) continue;
        double f2 = f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2];
        if (f2 > m2) m2 = f2;
    }
    return sqrt(m2);
}

static double energy_sum(const double *en)
{
    double t = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) t += en[c];
    return t;
}

int clmd_engine_minimize(clmd_engine *e, long max_steps, double tol, double *fmax_out,
                         long *steps_out, clmd_err *err)
{
    const int n3 = 3 * e->sys->n;
    double *x, *xt, *f, *ft, en[CLMD_E_NCOMP];
    CLMD_NEW(x, n3);
    CLMD_NEW(xt, n3);
    CLMD_NEW(f, n3);
    CLMD_NEW(ft, n3);
    int rc = clmd_engine_get_positions(e, x, err);
    if (!rc) rc = clmd_engine_evaluate(e, en, f, err);
    double E = energy_sum(en), h = 0.01, fmax = largest_force(e, f);
    long it = 0;
    for (; !rc && it < max_steps && fmax > tol && h > 1e-7; it++) {
        for (int i = 0; i < n3; i++) xt[i] = x[i] + (e->invmass[i / 3] != 0 ? h * f[i] / fmax : 0);
        if ((rc = clmd_engine_set_positions(e, xt, err)) ||
            (rc = clmd_engine_apply_constraints(e, err)) ||
            (rc = clmd_engine_evaluate(e, en, ft, err)))
            break;
        double Et = energy_sum(en);
        if (isfinite(Et) && Et < E) {
            if ((rc = clmd_engine_get_positions(e, x, err))) break;
            memcpy(f, ft, sizeof(double) * (size_t)n3);
            E = Et;
            fmax = largest_force(e, f);
            h *= 1.2;
        } else {
            h *= 0.2;
        }
    }
    /* leave the engine at the best positions found */
    if (!rc) rc = clmd_engine_set_positions(e, x, err);
    if (!rc) rc = clmd_engine_evaluate(e, en, NULL, err);
    if (fmax_out) *fmax_out = fmax;
    if (steps_out) *steps_out = it;
    clmd_free(x);
    clmd_free(xt);
    clmd_free(f);
    clmd_free(ft);
    return rc;
}

