#include "run/setup.h"

#include <math.h>
#include <stdio.h>

#include "input/deck.h"
#include "md/barostat.h"
#include "md/engine.h"
#include "md/rng.h"
#include "system/system.h"

static clmd_nbmethod nb_method(clmd_deck_nbmethod m)
{
    switch (m) {
    case CLMD_DECK_NB_NOCUTOFF: return CLMD_NB_NOCUTOFF;
    case CLMD_DECK_NB_CUTOFF: return CLMD_NB_CUTOFF;
    case CLMD_DECK_NB_REACTION_FIELD: return CLMD_NB_REACTION_FIELD;
    case CLMD_DECK_NB_PME: return CLMD_NB_PME;
    }
    CLMD_ASSERT(!"a nonbonded method the deck knows");
    return CLMD_NB_CUTOFF;
}

static clmd_gbmodel gb_model(clmd_deck_gbmodel m)
{
    switch (m) {
    case CLMD_DECK_GB_NONE: return CLMD_GB_NONE;
    case CLMD_DECK_GB_OBC1: return CLMD_GB_OBC1;
    case CLMD_DECK_GB_OBC2: return CLMD_GB_OBC2;
    }
    CLMD_ASSERT(!"an implicit-solvent model the deck knows");
    return CLMD_GB_NONE;
}

void clmd_ffopts_from_deck(const clmd_deck *d, clmd_ffopts *o)
{
    const clmd_deck_nonbonded *nb = &d->nonbonded;
    const clmd_deck_implicit *gb = &d->implicit_solvent;
    clmd_ffopts_defaults(o);
    o->method = nb_method(nb->method);
    o->cutoff_nm = nb->cutoff_nm;
    o->switch_nm = nb->switch_nm;
    o->dispersion_correction = nb->dispersion_correction;
    o->rf_dielectric = nb->rf_dielectric;
    o->ewald_tolerance = nb->ewald_tolerance;
    o->ewald_alpha = nb->ewald_alpha;
    for (int i = 0; i < 3; i++) o->pme_grid[i] = nb->pme_grid[i];
    o->pme_order = nb->pme_order;
    o->skin_nm = nb->skin_nm;
    o->skin_auto = nb->skin_auto;
    o->list_tolerance = nb->list_tolerance;
    o->list_steps = nb->list_steps;
    o->gb_model = gb_model(gb->model);
    o->solvent_dielectric = gb->solvent_dielectric;
    o->solute_dielectric = gb->solute_dielectric;
    o->surface_area = gb->surface_area;
    o->sa_energy = gb->sa_energy;
    o->probe_radius_nm = gb->probe_radius_nm;
    /* an alchemical region: openmmtools' soft-core sterics (REST2 scales without soft-core) */
    o->region_softcore = d->alchemical.enabled;
    o->region_annihilate = d->alchemical.enabled && d->alchemical.annihilate_sterics;
    if (d->alchemical.enabled) o->softcore_alpha = d->alchemical.softcore_alpha;
}

clmd_region_scale clmd_region_scale_alchemical(double lambda_sterics, double lambda_electrostatics)
{
    return (clmd_region_scale){lambda_electrostatics, 1, lambda_sterics, 1};
}

clmd_region_scale clmd_region_scale_rest2(double T0, double T)
{
    /* Wang, Friesner and Berne (2011): solute-solute terms times beta_m/beta_0, solute-solvent
     * times its square root: charges and 2 sqrt(eps) times sqrt(T0/T), torsions times T0/T */
    const double s = T0 / T;
    return (clmd_region_scale){sqrt(s), sqrt(s), 1, s};
}

void clmd_engine_opts_from_deck(const clmd_deck *d, clmd_engine_opts *eo)
{
    clmd_engine_opts_defaults(eo);
    snprintf(eo->device, sizeof eo->device, "%s", d->device);
    eo->integrator = d->integrator.type == CLMD_INT_VERLET ? CLMD_VERLET : CLMD_LANGEVIN;
    eo->dt_ps = d->integrator.timestep_ps;
    eo->temperature_K = d->integrator.temperature;
    eo->friction_per_ps = d->integrator.friction;
    eo->seed = d->integrator.seed;
    eo->remove_com = d->integrator.remove_com_motion;
    eo->com_interval = d->integrator.com_interval;
    eo->constraint_tol = d->constraint_tolerance;
}

void clmd_barostat_opts_from_deck(const clmd_deck *d, clmd_barostat_opts *bo)
{
    bo->anisotropic = d->barostat.anisotropic;
    for (int k = 0; k < 3; k++) bo->pressure_bar[k] = d->barostat.pressure_bar[k];
    bo->interval = d->barostat.interval;
    bo->adapt = d->barostat.adapt;
    bo->seed = d->barostat.seed;
}

/* Maxwell-Boltzmann velocities at temperature T from a seed (Philox stream, deterministic),
 * centre-of-mass motion removed. */
void clmd_draw_velocities(const clmd_system *s, double T, unsigned long seed, int remove_com,
                          double *v)
{
    uint32_t key[2];
    clmd_seed_key(seed, key);
    double p[3] = {0, 0, 0}, mtot = 0;
    for (int i = 0; i < s->n; i++) {
        double g[3] = {0, 0, 0};
        if (s->mass[i] > 0) clmd_gaussian3(key, (uint32_t)i, UINT64_MAX, g);
        double sd = s->mass[i] > 0 ? sqrt(CLMD_BOLTZMANN * T / s->mass[i]) : 0;
        for (int k = 0; k < 3; k++) {
            v[3 * i + k] = sd * g[k];
            p[k] += s->mass[i] * v[3 * i + k];
        }
        mtot += s->mass[i];
    }
    if (remove_com && mtot > 0)
        for (int i = 0; i < s->n; i++)
            if (s->mass[i] > 0)
                for (int k = 0; k < 3; k++) v[3 * i + k] -= p[k] / mtot;
}

