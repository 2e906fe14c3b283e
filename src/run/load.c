/* clmd_system_from_deck(): the one place that knows which importer a deck asks for. */
#include "run/load.h"

#include <stdio.h>

#include "input/deck.h"
#include "system/amber.h"
#include "system/builtin.h"
#include "system/constrain.h"
#include "system/coords.h"
#include "system/forcefield.h"
#include "core/mem.h"
#include "system/select.h"
#include "system/system.h"

/* One limit for system.cells: what the deck accepts is what the generator builds. */
_Static_assert(CLMD_DECK_MAX_CELLS == CLMD_LJ_FCC_MAX_CELLS,
               "the deck's system.cells range and the lj_fcc generator's must agree");

static clmd_rigid_bonds rigid_bonds(clmd_constrain_kind k)
{
    switch (k) {
    case CLMD_CONSTRAIN_HBONDS: return CLMD_RIGID_HBONDS;
    case CLMD_CONSTRAIN_ALLBONDS: return CLMD_RIGID_ALLBONDS;
    case CLMD_CONSTRAIN_NONE: break;
    }
    return CLMD_RIGID_NONE;
}

/* "deck.yaml:12:3: key 'system.forcefield'" (line and column left out when defaulted). */
static void where(const clmd_deck *d, clmd_mark m, const char *key, char *buf, size_t size)
{
    if (m.line > 0)
        snprintf(buf, size, "%s:%d:%d: key '%s'", d->path, m.line, m.column, key);
    else
        snprintf(buf, size, "%s: key '%s'", d->path, key);
}

static int load_ff(const clmd_deck *d, const char *fallback, clmd_ff **ff, clmd_err *err)
{
    char path[CLMD_PATH_MAX], at[CLMD_PATH_MAX + 64];
    if (d->system.forcefield[0]) {
        snprintf(path, sizeof path, "%s", d->system.forcefield);
    } else {
        if (!fallback) {
            where(d, d->system.coordinates_mark, "system.coordinates", at, sizeof at);
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s: coordinates need a force field (add system.forcefield)", at);
        }
        if (clmd_ff_locate(fallback, d->dir, path, sizeof path, err) != CLMD_OK) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            where(d, d->system.mark, "system.forcefield", at, sizeof at);
            return clmd_err_set(err, CLMD_EINPUT, "%s: not given, and the default %.1500s", at, why);
        }
    }
    int st = clmd_ff_load(path, ff, err);
    if (st) {
        where(d, d->system.forcefield_mark, "system.forcefield", at, sizeof at);
        clmd_err_prefix(err, "%s", at);
    }
    return st;
}

int clmd_system_from_deck(const clmd_deck *d, clmd_system **out, clmd_err *err)
{
    *out = NULL;
    clmd_system *s = NULL;
    clmd_ff *ff = NULL;
    clmd_coords *c = NULL;
    char at[CLMD_PATH_MAX + 64];
    int st = CLMD_OK;

    switch (d->system.kind) {
    case CLMD_SRC_BUILTIN:
        if (d->system.builtin == CLMD_BUILTIN_LJ_FCC) {
            if ((st = load_ff(d, "argon", &ff, err))) goto done;
            st = clmd_builtin_lj_fcc(ff, d->system.cells, d->system.reduced_density, &s, err);
        } else if (d->system.builtin == CLMD_BUILTIN_WATER_BOX) {
            if ((st = load_ff(d, d->system.model[0] ? d->system.model : "tip4pew", &ff, err)))
                goto done;
            st = clmd_builtin_water_box(ff, d->system.edge_nm, &s, err);
        } else {
            st = clmd_err_set(err, CLMD_EINPUT, "unknown builtin system %d", (int)d->system.builtin);
        }
        if (st) {
            where(d, d->system.mark, "system.builtin", at, sizeof at);
            clmd_err_prefix(err, "%s", at);
            goto done;
        }
        break;
    case CLMD_SRC_AMBER:
        st = clmd_amber_load(d->system.prmtop, d->system.inpcrd[0] ? d->system.inpcrd : NULL, &s,
                             err);
        if (st) {
            where(d, d->system.prmtop_mark, "system.amber", at, sizeof at);
            clmd_err_prefix(err, "%s", at);
            goto done;
        }
        break;
    case CLMD_SRC_COORDS:
        if ((st = load_ff(d, NULL, &ff, err))) goto done;
        if ((st = clmd_coords_read(d->system.coordinates, &c, err)) == CLMD_OK)
            st = clmd_ff_build(ff, c, &s, err);
        if (st) {
            where(d, d->system.coordinates_mark, "system.coordinates", at, sizeof at);
            clmd_err_prefix(err, "%s", at);
            goto done;
        }
        break;
    default:
        where(d, d->system.mark, "system", at, sizeof at);
        st = clmd_err_set(err, CLMD_EINPUT, "%s: unknown system source %d", at, (int)d->system.kind);
        goto done;
    }

    if (d->system.has_box) {
        if (!(d->system.box[0] > 0 && d->system.box[1] > 0 && d->system.box[2] > 0)) {
            where(d, d->system.mark, "system.box", at, sizeof at);
            st = clmd_err_set(err, CLMD_EINPUT, "%s: edges must be > 0 nm", at);
            goto done;
        }
        clmd_system_set_box(s, d->system.box[0], d->system.box[1], d->system.box[2]);
    }
    /* rigid water first, so that water bonds become the water's three constraints */
    if ((st = clmd_constrain(s, CLMD_RIGID_NONE, d->rigid_water, ff, err))) {
        clmd_err_prefix(err, "%s: key 'rigid_water'", d->path);
        goto done;
    }
    if ((st = clmd_constrain(s, rigid_bonds(d->constraints), 0, ff, err))) {
        clmd_err_prefix(err, "%s: key 'constraints'", d->path);
        goto done;
    }
    /* the scaled region (alchemical, REST2's solute) */
    const clmd_deck_selection *sel = d->alchemical.enabled ? &d->alchemical.region
                                   : d->solute_tempering.enabled ? &d->solute_tempering.solute
                                                                 : NULL;
    if (sel) {
        CLMD_NEW(s->region, s->n);
        if ((st = clmd_selection_flags(s, sel, d->path, s->region, &s->nregion, err))) goto done;
    }
    if ((st = clmd_system_validate(s, err))) goto done;
    *out = s;
    s = NULL;
done:
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
    clmd_coords_destroy(&c);
    return st;
}
