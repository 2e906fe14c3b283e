#include "md/barostat.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "io/checkpoint.h"
#include "md/engine_impl.h"
#include "md/rng.h"
#include "nlist/pairlist.h"
#include "probe/probe.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"

/* Bar to kJ/mol/nm^3: 1e5 Pa * 1e-27 m^3/nm^3 * N_A / 1000. */
#define BAR_TO_KJ_NM3 (6.02214076e23 * 1e-25)

typedef struct barostat {
    clmd_barostat_opts o;
    uint32_t key[2];
    int64_t draws;          /* moves attempted in all: the random stream's counter */
    double move[3];         /* A per axis (nm^3); 0 until the first move */
    int64_t window_attempted[3], window_accepted[3]; /* since the last adaptation */
    int64_t attempted[3], accepted[3];               /* in all */
    clmd_engine_snapshot *snap;
} barostat;

static int bs_setup_device(clmd_hook *h, clmd_engine *e, clmd_err *err)
{
    barostat *b = h->impl;
    return b->snap ? CLMD_OK : clmd_engine_snapshot_create(e, &b->snap, err);
}

/* OpenMM's adaptation: only once 10 moves were tried on the axis since the last change. */
static void adapt(barostat *b, int axis, double volume)
{
    if (b->window_attempted[axis] < 10) return;
    if (b->window_accepted[axis] < 0.25 * b->window_attempted[axis]) {
        b->move[axis] /= 1.1;
    } else if (b->window_accepted[axis] > 0.75 * b->window_attempted[axis]) {
        b->move[axis] = fmin(b->move[axis] * 1.1, volume * 0.3);
    } else {
        return;
    }
    b->window_attempted[axis] = b->window_accepted[axis] = 0;
}

static int bs_apply(clmd_hook *h, clmd_engine *e, clmd_err *err)
{
    barostat *b = h->impl;
    clmd_state *st = e->st;
    int rc;
    if (!b->snap && (rc = clmd_engine_snapshot_create(e, &b->snap, err))) return rc;
    PROBE_START(e->probe, P_BAROSTAT);
    const double V = clmd_box_volume(st->box);
    if (b->move[0] == 0)
        for (int k = 0; k < 3; k++) b->move[k] = 0.01 * V;
    const int64_t draw = b->draws++;
    int axis = 0;
    if (b->o.anisotropic) axis = (int)(3 * clmd_uniform(b->key, (uint64_t)draw, 0));
    if (axis > 2) axis = 2;
    const double dV = b->move[axis] * 2 * (clmd_uniform(b->key, (uint64_t)draw, 1) - 0.5);
    const double Vn = V + dV;
    double s[3] = {1, 1, 1};
    if (b->o.anisotropic) s[axis] = Vn / V;
    else s[0] = s[1] = s[2] = cbrt(Vn / V);
    double eps = fmax(fabs(s[0] - 1), fmax(fabs(s[1] - 1), fabs(s[2] - 1)));
    int accepted = 0, rebuild_trial = 0;
    double u0 = 0, u1 = 0;
    rc = clmd_engine_potential(e, &u0, err);
    if (rc || !(Vn > 0)) goto done;
    /* the list must hold through the trial: rebuild first when its buffer is short; a move too
     * large for any buffer (dilute systems) gets a list of its own */
    if (!clmd_pairlist_fits_scaling(e->pl, e->last_d2, eps)) {
        if (clmd_pairlist_fits_fresh(e->pl, eps)) {
            if ((rc = clmd_engine_rebuild_list(e, err))) goto done;
        } else {
            rebuild_trial = 1;
        }
    }
    if ((rc = clmd_engine_save(e, b->snap, err))) goto done;
    rc = clmd_engine_scale_box(e, s, err);
    if (rc == CLMD_EINPUT) {
        /* a box the cutoff no longer fits: an infinitely high energy, so a rejected move */
        clmd_err_clear(err);
        rc = CLMD_OK;
        goto done;
    }
    if (rc || (rebuild_trial && (rc = clmd_engine_rebuild_list(e, err))) ||
        (rc = clmd_engine_potential(e, &u1, err)))
        goto done;
    const double kT = CLMD_BOLTZMANN * st->temperature_K;
    const double P = b->o.pressure_bar[b->o.anisotropic ? axis : 0] * BAR_TO_KJ_NM3;
    const double w = u1 - u0 + P * dV - clmd_engine_molecule_count(e) * kT * log(Vn / V);
    accepted = !(w > 0 && clmd_uniform(b->key, (uint64_t)draw, 2) > exp(-w / kT));
    if (!accepted)
        rc = clmd_engine_restore(e, b->snap, err);
    else if (!rebuild_trial)
        rc = clmd_pairlist_box_scaled(e->pl, e->reference ? st->x : NULL, st->box, eps, e->last_d2,
                                      err);
done:
    if (!rc) {
        b->attempted[axis]++;
        b->window_attempted[axis]++;
        b->accepted[axis] += accepted;
        b->window_accepted[axis] += accepted;
        if (b->o.adapt) adapt(b, axis, V);
        if (accepted) e->last_d2 = 0;
    }
    PROBE_STOP(e->probe, P_BAROSTAT);
    return rc;
}

static void bs_describe(const clmd_hook *h, FILE *out)
{
    const barostat *b = h->impl;
    if (b->o.anisotropic)
        fprintf(out, "barostat: Monte Carlo anisotropic, %g/%g/%g bar", b->o.pressure_bar[0],
                b->o.pressure_bar[1], b->o.pressure_bar[2]);
    else
        fprintf(out, "barostat: Monte Carlo isotropic, %g bar", b->o.pressure_bar[0]);
    fprintf(out, ", a volume move every %ld steps, molecules scaled as rigid units, move size %s\n",
            h->interval, b->o.adapt ? "adapted to 25-75% acceptance" : "fixed");
}

static void bs_report(const clmd_hook *h, FILE *out)
{
    const barostat *b = h->impl;
    static const char *const axis[] = {"x", "y", "z"};
    for (int k = 0; k < (b->o.anisotropic ? 3 : 1); k++) {
        char name[32];
        snprintf(name, sizeof name, b->o.anisotropic ? "barostat (%s)" : "barostat", axis[k]);
        fprintf(out, "%s: %lld volume moves, %lld accepted (%.1f%%), move size %.4g nm^3\n", name,
                (long long)b->attempted[k], (long long)b->accepted[k],
                b->attempted[k] ? 100.0 * b->accepted[k] / b->attempted[k] : 0.0, b->move[k]);
    }
}

static int bs_save(const clmd_hook *h, clmd_ckpt_writer *w, clmd_err *err)
{
    const barostat *b = h->impl;
    int rc;
    if ((rc = clmd_ckpt_put_i64(w, "barostat_draws", b->draws, err)) ||
        (rc = clmd_ckpt_put(w, "barostat_move", CLMD_CKPT_F64, b->move, 3, err)) ||
        (rc = clmd_ckpt_put(w, "barostat_window_attempted", CLMD_CKPT_I64, b->window_attempted, 3, err)) ||
        (rc = clmd_ckpt_put(w, "barostat_window_accepted", CLMD_CKPT_I64, b->window_accepted, 3, err)) ||
        (rc = clmd_ckpt_put(w, "barostat_attempted", CLMD_CKPT_I64, b->attempted, 3, err)) ||
        (rc = clmd_ckpt_put(w, "barostat_accepted", CLMD_CKPT_I64, b->accepted, 3, err)))
        return rc;
    return CLMD_OK;
}

static int bs_load(clmd_hook *h, clmd_ckpt_reader *r, clmd_err *err)
{
    barostat *b = h->impl;
    if (!clmd_ckpt_find(r, "barostat_draws", NULL, NULL))
        return clmd_err_set(err, CLMD_EINPUT, "the checkpoint was written without a barostat, "
                            "but the deck has one");
    int64_t draws;
    int rc;
    if ((rc = clmd_ckpt_get_i64(r, "barostat_draws", &draws, err)) ||
        (rc = clmd_ckpt_get(r, "barostat_move", CLMD_CKPT_F64, b->move, 3, err)) ||
        (rc = clmd_ckpt_get(r, "barostat_window_attempted", CLMD_CKPT_I64, b->window_attempted, 3, err)) ||
        (rc = clmd_ckpt_get(r, "barostat_window_accepted", CLMD_CKPT_I64, b->window_accepted, 3, err)) ||
        (rc = clmd_ckpt_get(r, "barostat_attempted", CLMD_CKPT_I64, b->attempted, 3, err)) ||
        (rc = clmd_ckpt_get(r, "barostat_accepted", CLMD_CKPT_I64, b->accepted, 3, err)))
        return rc;
    b->draws = draws;
    return CLMD_OK;
}

static void bs_destroy(clmd_hook *h)
{
    barostat *b = h->impl;
    clmd_engine_snapshot_destroy(&b->snap);
    clmd_free(b);
    clmd_free(h);
}

static const clmd_hook_ops bs_ops = {"barostat", bs_setup_device, bs_apply, bs_describe, bs_save,
                                     bs_load, bs_report, bs_destroy};

int clmd_barostat_create(const clmd_barostat_opts *o, clmd_engine *e, clmd_hook **out,
                         clmd_err *err)
{
    *out = NULL;
    if (!e->sys->periodic)
        return clmd_err_set(err, CLMD_EINPUT, "a barostat needs a periodic box (%s has none)",
                            e->sys->source[0] ? e->sys->source : "the system");
    if (!e->plan.cutoff_on)
        return clmd_err_set(err, CLMD_EINPUT, "a barostat needs a cutoff method (nonbonded.method "
                            "cutoff, reaction_field or pme), not nocutoff");
    if (o->interval < 1)
        return clmd_err_set(err, CLMD_EINPUT, "barostat: interval must be >= 1 (got %ld)",
                            o->interval);
    for (int k = 0; k < 3; k++)
        if (!isfinite(o->pressure_bar[k]))
            return clmd_err_set(err, CLMD_EINPUT, "barostat: the pressure must be finite");
    barostat *b = clmd_alloc(sizeof *b);
    b->o = *o;
    if (!o->anisotropic) b->o.pressure_bar[1] = b->o.pressure_bar[2] = o->pressure_bar[0];
    clmd_seed_key(o->seed, b->key);
    clmd_hook *h = clmd_alloc(sizeof *h);
    h->ops = &bs_ops;
    h->impl = b;
    h->interval = o->interval;
    h->needs_energy = 1;
    *out = h;
    return CLMD_OK;
}

void clmd_barostat_counts(const clmd_hook *h, long attempted[3], long accepted[3],
                          double move_nm3[3])
{
    const barostat *b = h->impl;
    for (int k = 0; k < 3; k++) {
        attempted[k] = (long)b->attempted[k];
        accepted[k] = (long)b->accepted[k];
        move_nm3[k] = b->move[k];
    }
}
