#include "run/setup.h"

#include "input/deck.h"

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
    o->gb_model = gb_model(gb->model);
    o->solvent_dielectric = gb->solvent_dielectric;
    o->solute_dielectric = gb->solute_dielectric;
    o->surface_area = gb->surface_area;
    o->sa_energy = gb->sa_energy;
    o->probe_radius_nm = gb->probe_radius_nm;
}
