#include "ff/plan.h"

#include <limits.h>
#include <string.h>

#include "ff/pme_ref.h"
#include "system/box.h"
#include "system/system.h"

#define PROBLEM(key, ...) (p->problem = (key), clmd_err_set(err, CLMD_EINPUT, __VA_ARGS__))

int clmd_ffplan_make(const clmd_system *sys, const clmd_ffopts *o, clmd_ffplan *p, clmd_err *err)
{
    memset(p, 0, sizeof *p);
    p->problem = "nonbonded";
    p->o = *o;
    p->cutoff_on = o->method != CLMD_NB_NOCUTOFF;
    p->has_box = sys->periodic != 0;
    p->periodic = p->has_box && p->cutoff_on;
    for (int i = 0; i < sys->n && !p->charged; i++) p->charged = sys->charge[i] != 0;
    if (p->cutoff_on && !(o->cutoff_nm > 0))
        return PROBLEM("nonbonded.cutoff", "the nonbonded cutoff must be > 0 (got %g nm)",
                       o->cutoff_nm);
    if (o->method == CLMD_NB_PME && !sys->periodic)
        return PROBLEM("nonbonded.method", "nonbonded method pme needs a periodic box (%s has "
                       "none)", sys->source[0] ? sys->source : "the system");
    if (p->periodic) {
        int rc = clmd_box_check_cutoff(sys->box, o->cutoff_nm, "the nonbonded cutoff", err);
        if (rc) {
            p->problem = "nonbonded.cutoff";
            return rc;
        }
    }
    switch (o->method) {
    case CLMD_NB_NOCUTOFF: p->coulomb = 1; break;
    case CLMD_NB_CUTOFF:
    case CLMD_NB_REACTION_FIELD: {
        double eps = o->rf_dielectric, rc = o->cutoff_nm;
        p->coulomb = 2;
        p->krf = (eps - 1) / ((2 * eps + 1) * rc * rc * rc);
        p->crf = 3 * eps / ((2 * eps + 1) * rc);
        break;
    }
    case CLMD_NB_PME: {
        p->coulomb = 3;
        if (o->pme_order < 3 || o->pme_order > 16)
            return PROBLEM("nonbonded.pme_order", "PME: B-spline order must be 3..16 (got %d)",
                           o->pme_order);
        int rc = clmd_pme_params(o->cutoff_nm, o->ewald_tolerance, sys->box, o->ewald_alpha,
                                 o->pme_grid, CLMD_PME_GRID_2357, &p->ewald_alpha, p->pme_grid, err);
        if (rc) {
            p->problem = "nonbonded.ewald_error_tolerance";
            return rc;
        }
        for (int d = 0; d < 3; d++)
            if (p->pme_grid[d] < o->pme_order)
                return PROBLEM("nonbonded.pme_grid", "PME: grid dimension %d is %d, smaller than "
                               "the B-spline order %d", d, p->pme_grid[d], o->pme_order);
        if ((double)p->pme_grid[0] * p->pme_grid[1] * p->pme_grid[2] > INT_MAX / 8)
            return PROBLEM("nonbonded.pme_grid", "PME: grid %dx%dx%d is too large",
                           p->pme_grid[0], p->pme_grid[1], p->pme_grid[2]);
        break;
    }
    }
    if (!p->charged && o->method != CLMD_NB_PME) p->coulomb = 0;
    if (o->gb_model != CLMD_GB_NONE) {
        if (o->method == CLMD_NB_PME)
            return PROBLEM("implicit_solvent", "GBSA: implicit solvent works with no cutoff or a "
                           "plain/reaction-field cutoff, not PME");
        if (!sys->gb_radius || !sys->gb_scale)
            return PROBLEM("implicit_solvent", "%s: the system has no GB radii and scale factors",
                           sys->source[0] ? sys->source : "system");
        if (sys->region)
            return PROBLEM("implicit_solvent", "a scaled region (alchemical, solute_tempering) "
                           "with implicit solvent is not supported: the GB terms would not follow "
                           "the region's charges");
    }

    int *pr = p->present;
    pr[CLMD_E_LJ] = 1;
    pr[CLMD_E_COULOMB] = p->charged || o->method == CLMD_NB_PME;
    pr[CLMD_E_PME_RECIP] = o->method == CLMD_NB_PME;
    pr[CLMD_E_BOND] = sys->nbonds > 0;
    pr[CLMD_E_ANGLE] = sys->nangles > 0;
    pr[CLMD_E_TORSION] = sys->ntorsions > 0;
    pr[CLMD_E_GB] = o->gb_model != CLMD_GB_NONE;
    pr[CLMD_E_SA] = o->gb_model != CLMD_GB_NONE && o->surface_area;
    pr[CLMD_E_DISP] = p->periodic && o->dispersion_correction;
    pr[CLMD_E_CMAP] = sys->ncmaps > 0;
    return CLMD_OK;
}

int clmd_ffplan_box_ok(const clmd_ffplan *p, const double b[3][3])
{
    return !p->periodic || p->o.cutoff_nm <= 0.5 * clmd_box_min_width(b);
}
