/* The Langevin middle scheme (NVT), as OpenMM's LangevinMiddleIntegrator:
 *   v += dt F/m; [RATTLE v]; x += dt/2 v; v = a v + sqrt(1 - a^2) sqrt(kT/m) R; x += dt/2 v;
 *   [SHAKE x, v += shift/dt]; sites; [forces]
 * with a = exp(-friction dt). The bath temperature and friction are the state's, read at every
 * step (replica exchange swaps them); the noise R is Philox keyed by the state's seed with the
 * step as counter, the same numbers on the device and the host. Device kernels: langevin_middle
 * (no constraints) in cl/integrate.cl; with constraints langevin_units (cl/units.cl), the step
 * in one launch, or (clmd_engine_step_units off) verlet_kick, constrain_velocities,
 * langevin_drift and constrain_positions. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/constraints.h"
#include "md/engine_impl.h"
#include "md/rng.h"
#include "probe/probe.h"
#include "state/state.h"
#include "system/system.h"

typedef struct langevin {
    cl_kernel k_middle, k_kick, k_drift;
    cl_kernel k_units;             /* with constraints: the whole step in one launch */
    int sites_left;                /* virtual sites k_units leaves to vsite_build */
    cl_mem seg_bkt, seg_key;       /* batched copies: each one's b_kt (mixed) and key (uint2) */
    long seg_version;              /* the engine's seg_bath_version uploaded */
    cl_uint middle_arg, drift_arg; /* first per-step argument (a, b_kt, key, step_lo, step_hi) */
    cl_uint kick_step;             /* the kick's step argument (its overflow record) */
} langevin;

static size_t groups(int items)
{
    return (size_t)(items + CLMD_ENGINE_WG - 1) / CLMD_ENGINE_WG * CLMD_ENGINE_WG;
}

/* Binds posq, posq_lo, pos, vel (and force), n (and npad), dt; returns the binder positioned
 * at the per-step arguments. */
static clmd_binder bind_front(cl_kernel k, const clmd_engine *e, int with_force)
{
    const clmd_mdbuf *m = &e->mb;
    clmd_binder b = clmd_bind(k, e->fp64);
    clmd_bind_mem(&b, m->posq);
    clmd_bind_mem(&b, m->posq_lo);
    clmd_bind_mem(&b, m->pos);
    clmd_bind_mem(&b, m->vel);
    if (with_force) clmd_bind_mem(&b, m->force);
    clmd_bind_int(&b, m->n);
    if (with_force) clmd_bind_int(&b, m->npad);
    clmd_bind_mixed(&b, e->eo.dt_ps);
    return b;
}

/* The arguments after the per-step ones: list reference, flags, wraps, the copies' baths. */
static int bind_back(clmd_binder *b, const clmd_engine *e, const langevin *l, clmd_err *err)
{
    b->next += 5;
    clmd_bind_mem(b, e->mb.posq_ref);
    clmd_bind_mem(b, e->mb.flags);
    clmd_bind_mem(b, e->mb.pos_shift);
    clmd_bind_mem(b, l->seg_bkt);
    clmd_bind_mem(b, l->seg_key);
    return clmd_bind_done(b, err);
}

static int lm_setup_device(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    langevin *l = it->impl;
    const clmd_mdbuf *m = &e->mb;
    char defs[256];
    clmd_engine_step_defines(e, defs, sizeof defs);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(m->ocl, "integrate.cl", defs, &prog, err))) return rc;
    if ((rc = clmd_ocl_alloc(m->ocl, sizeof(cl_double) * (size_t)e->nseg, &l->seg_bkt, err)) ||
        (rc = clmd_ocl_alloc(m->ocl, sizeof(cl_uint2) * (size_t)e->nseg, &l->seg_key, err)))
        return rc;
    l->seg_version = -1;
    if (!e->cons) {
        if ((rc = clmd_ocl_kernel(m->ocl, prog, "langevin_middle", &l->k_middle, err))) return rc;
        clmd_binder b = bind_front(l->k_middle, e, 1);
        l->middle_arg = b.next;
        if ((rc = bind_back(&b, e, l, err))) return rc;
        const int clear = 1; /* the step's last reader of the forces */
        CLMD_ARG(l->k_middle, b.next, clear, err);
        return CLMD_OK;
    }
    if (clmd_engine_step_units(e)) {
        /* one launch: kick, velocity constraints, drift, position constraints (cl/units.cl) */
        clmd_constraints_defines(defs + strlen(defs), sizeof defs - strlen(defs));
        if ((rc = clmd_ocl_program(m->ocl, CLMD_UNITS_PROGRAM, defs, &prog, err)) ||
            (rc = clmd_ocl_kernel(m->ocl, prog, "langevin_units", &l->k_units, err)))
            return rc;
        clmd_binder b = bind_front(l->k_units, e, 1);
        l->middle_arg = b.next;
        if ((rc = bind_back(&b, e, l, err))) return rc;
        CLMD_ARG(l->k_units, b.next, m->pos_old, err);
        if ((rc = clmd_constraints_bind_units(e->cons, e->vs, l->k_units, b.next + 1, e->eo.dt_ps,
                                              &l->sites_left, err)))
            return rc;
        /* the waters place their sites and spread the sites' forces */
        e->spread_in_step = e->vs && !l->sites_left;
        return CLMD_OK;
    }
    if ((rc = clmd_ocl_kernel(m->ocl, prog, "verlet_kick", &l->k_kick, err)) ||
        (rc = clmd_ocl_kernel(m->ocl, prog, "langevin_drift", &l->k_drift, err)))
        return rc;
    /* the full kick: verlet_kick applies half its step argument, so it gets 2 dt */
    clmd_binder b = clmd_bind(l->k_kick, e->fp64);
    clmd_bind_mem(&b, m->vel);
    clmd_bind_mem(&b, m->force);
    clmd_bind_int(&b, m->n);
    clmd_bind_int(&b, m->npad);
    clmd_bind_mixed(&b, 2 * e->eo.dt_ps);
    clmd_bind_mem(&b, m->flags);
    l->kick_step = b.next;
    clmd_bind_uint(&b, 0);
    clmd_bind_int(&b, 1); /* the step's last reader of the forces clears them */
    if ((rc = clmd_bind_done(&b, err))) return rc;
    b = bind_front(l->k_drift, e, 0);
    l->drift_arg = b.next;
    if ((rc = bind_back(&b, e, l, err))) return rc;
    CLMD_ARG(l->k_drift, b.next, m->pos_old, err); /* the copy before the drift */
    return CLMD_OK;
}

/* a = exp(-friction dt) and b_kt = sqrt((1 - a^2) kT) for the state's bath. */
static void bath(const clmd_engine *e, double *a, double *b_kt)
{
    *a = exp(-e->st->friction_per_ps * e->eo.dt_ps);
    *b_kt = sqrt((1 - *a * *a) * CLMD_BOLTZMANN * e->st->temperature_K);
}

/* Batched copies: each copy's b_kt and noise key to the device when a bath changed. */
static int upload_baths(langevin *l, const clmd_engine *e, clmd_err *err)
{
    if (e->nseg <= 1 || l->seg_version == e->seg_bath_version) return CLMD_OK;
    const double a = exp(-e->st->friction_per_ps * e->eo.dt_ps);
    cl_double *bd = clmd_calloc(e->nseg, sizeof *bd);
    cl_float *bf = (cl_float *)bd;
    cl_uint2 *keys = clmd_calloc(e->nseg, sizeof *keys);
    for (int g = 0; g < e->nseg; g++) {
        /* the same arithmetic as bath() for one system */
        double b_kt = sqrt((1 - a * a) * CLMD_BOLTZMANN * e->seg_T[g]);
        if (e->fp64) bd[g] = b_kt;
        else bf[g] = (cl_float)b_kt;
        keys[g].s[0] = e->seg_key[g][0];
        keys[g].s[1] = e->seg_key[g][1];
    }
    int rc = clmd_ocl_write(e->dev.ocl, l->seg_bkt, 0, (e->fp64 ? sizeof(cl_double) : sizeof(cl_float)) * (size_t)e->nseg, bd, err);
    if (!rc) rc = clmd_ocl_write(e->dev.ocl, l->seg_key, 0, sizeof *keys * (size_t)e->nseg, keys, err);
    clmd_free(bd);
    clmd_free(keys);
    if (!rc) l->seg_version = e->seg_bath_version;
    return rc;
}

static int bind_step(cl_kernel k, cl_uint first, const clmd_engine *e, clmd_err *err)
{
    double a, b_kt;
    bath(e, &a, &b_kt);
    cl_uint2 key = {{e->st->key[0], e->st->key[1]}};
    unsigned long step = (unsigned long)e->st->step;
    clmd_binder b = clmd_bind(k, e->fp64);
    b.next = first;
    clmd_bind_mixed(&b, a);
    clmd_bind_mixed(&b, b_kt);
    clmd_bind_raw(&b, sizeof key, &key);
    clmd_bind_uint(&b, (unsigned)step);
    clmd_bind_uint(&b, (unsigned)(step >> 32));
    return clmd_bind_done(&b, err);
}

static int lm_before_device(langevin *l, clmd_engine *e, clmd_err *err)
{
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    clmd_ocl *o = e->dev.ocl;
    int rc;
    if ((rc = upload_baths(l, e, err))) return rc;
    if (!e->cons) {
        if ((rc = bind_step(l->k_middle, l->middle_arg, e, err))) return rc;
        rc = clmd_ocl_launch(o, l->k_middle, groups(n), CLMD_ENGINE_WG, P_INTEGRATE, err);
    } else if (l->k_units) {
        if ((rc = bind_step(l->k_units, l->middle_arg, e, err))) return rc;
        rc = clmd_ocl_launch(o, l->k_units, clmd_constraints_unit_items(e->cons),
                             (size_t)clmd_constraints_unit_wg(), P_INTEGRATE, err);
        /* the waters placed their sites */
        if (rc || !l->sites_left) return rc;
    } else {
        clmd_binder b = clmd_bind(l->k_kick, e->fp64);
        b.next = l->kick_step;
        clmd_bind_uint(&b, (unsigned)e->st->step);
        if ((rc = clmd_bind_done(&b, err)) || (rc = bind_step(l->k_drift, l->drift_arg, e, err)) ||
            (rc = clmd_ocl_launch(o, l->k_kick, groups(n), CLMD_ENGINE_WG, P_INTEGRATE, err)) ||
            (rc = clmd_constraints_enqueue_velocities(e->cons, dt, err)))
            return rc;
        /* the drift also copies pos to pos_old first (one command less per step) */
        rc = clmd_ocl_launch(o, l->k_drift, groups(n), CLMD_ENGINE_WG, P_INTEGRATE, err);
        if (!rc) rc = clmd_constraints_enqueue_positions(e->cons, dt, err);
    }
    return rc ? rc : clmd_engine_build_vsites(e, err);
}

static int lm_before(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    langevin *l = it->impl;
    if (!e->reference) return lm_before_device(l, e, err);
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    double *x = e->st->x, *v = e->st->v, a, b_kt;
    int rc;
    bath(e, &a, &b_kt);
    if (e->cons) {
        /* the SHAKE directions: the positions before the drift */
        memcpy(e->xold, x, sizeof(double) * 3 * (size_t)n);
        PROBE_START(e->probe, P_INTEGRATE);
        for (int i = 0; i < 3 * n; i++) v[i] += dt * e->invmass[i / 3] * e->f[i];
        PROBE_STOP(e->probe, P_INTEGRATE);
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_velocities_ref(e->cons, x, v, dt, err);
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return clmd_err_prefix(err, "step %ld: ", e->st->step);
    }
    PROBE_START(e->probe, P_INTEGRATE);
    for (int i = 0; i < n; i++) {
        if (e->invmass[i] == 0) continue;
        double g[3];
        clmd_gaussian3(e->st->key, (uint32_t)i, (uint64_t)e->st->step, g);
        double sd = b_kt * sqrt(e->invmass[i]);
        for (int k = 0; k < 3; k++) {
            double *vi = &v[3 * i + k], *xi = &x[3 * i + k];
            if (!e->cons) *vi += dt * e->invmass[i] * e->f[3 * i + k];
            *xi += 0.5 * dt * *vi;
            *vi = a * *vi + sd * g[k];
            *xi += 0.5 * dt * *vi;
        }
    }
    PROBE_STOP(e->probe, P_INTEGRATE);
    if (e->cons) {
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_positions_ref(e->cons, e->xold, x, v, dt, err);
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return clmd_err_prefix(err, "step %ld: ", e->st->step);
    }
    return clmd_engine_build_vsites(e, err);
}

static int lm_after(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    (void)it;
    (void)e;
    (void)err;
    return CLMD_OK;
}

static void lm_describe(const clmd_integrator *it, const clmd_engine *e, FILE *out)
{
    (void)it;
    fprintf(out, "integrator: Langevin middle (NVT), dt %g ps, bath %g K, friction %g /ps\n",
            e->eo.dt_ps, e->st->temperature_K, e->st->friction_per_ps);
}

static void lm_destroy(clmd_integrator *it)
{
    langevin *l = it->impl;
    cl_kernel ks[] = {l->k_middle, l->k_kick, l->k_drift, l->k_units};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    clmd_ocl_release(&l->seg_bkt);
    clmd_ocl_release(&l->seg_key);
    clmd_free(l);
    clmd_free(it);
}

static const clmd_integrator_ops lm_ops = {"langevin", lm_setup_device, lm_before, lm_after,
                                           lm_describe, lm_destroy, 1};

clmd_integrator *clmd_langevin_create(void)
{
    clmd_integrator *it = clmd_alloc(sizeof *it);
    it->ops = &lm_ops;
    it->impl = clmd_alloc(sizeof(langevin));
    return it;
}
