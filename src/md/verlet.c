/* Velocity Verlet (NVE), as OpenMM's VerletIntegrator with constraints:
 *   v += dt/2 F/m; x += dt v; SHAKE x (directions of the old x), v += shift/dt; sites;
 *   [forces]; v += dt/2 F/m; RATTLE v.
 * Device kernels: verlet_kick_drift and verlet_kick in cl/integrate.cl; with constraints
 * verlet_units_drift and verlet_units_kick (cl/units.cl), each half with its constraints in one
 * launch (or, clmd_engine_step_units off, the split kernels and constraints.cl's). */
#include <string.h>

#include "core/mem.h"
#include "md/constraints.h"
#include "md/engine_impl.h"
#include "md/vsite.h"
#include "probe/probe.h"
#include "state/state.h"
#include "system/system.h"

typedef struct verlet {
    cl_kernel k_kick_drift, k_kick;
    cl_uint kick_drift_step, kick_step; /* the step argument (the overflow record) */
    int units;                          /* with constraints: each half in one launch */
    int sites_left;                     /* virtual sites the units leave to vsite_build */
} verlet;

static size_t groups(int items)
{
    return (size_t)(items + CLMD_ENGINE_WG - 1) / CLMD_ENGINE_WG * CLMD_ENGINE_WG;
}

/* The first arguments of the first half's kernels (verlet_kick_drift, verlet_units_drift). */
static void bind_drift_front(clmd_binder *b, const clmd_mdbuf *m, double dt)
{
    clmd_bind_mem(b, m->posq);
    clmd_bind_mem(b, m->posq_lo);
    clmd_bind_mem(b, m->pos);
    clmd_bind_mem(b, m->vel);
    clmd_bind_mem(b, m->force);
    clmd_bind_int(b, m->n);
    clmd_bind_int(b, m->npad);
    clmd_bind_mixed(b, dt);
    clmd_bind_mem(b, m->posq_ref);
    clmd_bind_mem(b, m->flags);
    clmd_bind_mem(b, m->pos_shift);
}

/* With constraints: verlet_units_drift and verlet_units_kick (cl/units.cl), the kick, drift
 * and constraints of each half in one launch. */
static int setup_units(verlet *v, clmd_engine *e, char *defs, size_t size, clmd_err *err)
{
    const clmd_mdbuf *m = &e->mb;
    const double dt = e->eo.dt_ps;
    cl_program prog;
    int rc;
    clmd_constraints_defines(defs + strlen(defs), size - strlen(defs));
    if ((rc = clmd_ocl_program(m->ocl, CLMD_UNITS_PROGRAM, defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(m->ocl, prog, "verlet_units_drift", &v->k_kick_drift, err)) ||
        (rc = clmd_ocl_kernel(m->ocl, prog, "verlet_units_kick", &v->k_kick, err)))
        return rc;
    v->units = 1;
    clmd_binder b = clmd_bind(v->k_kick_drift, e->fp64);
    bind_drift_front(&b, m, dt);
    v->kick_drift_step = b.next;
    clmd_bind_uint(&b, 0);
    clmd_bind_mem(&b, m->pos_old);
    if ((rc = clmd_bind_done(&b, err)) ||
        (rc = clmd_constraints_bind_units(e->cons, e->vs, v->k_kick_drift, b.next, dt,
                                          &v->sites_left, err)))
        return rc;
    b = clmd_bind(v->k_kick, e->fp64);
    clmd_bind_mem(&b, m->pos);
    clmd_bind_mem(&b, m->vel);
    clmd_bind_mem(&b, m->force);
    clmd_bind_int(&b, m->n);
    clmd_bind_int(&b, m->npad);
    clmd_bind_mixed(&b, dt);
    clmd_bind_mem(&b, m->flags);
    v->kick_step = b.next;
    clmd_bind_uint(&b, 0);
    if ((rc = clmd_bind_done(&b, err)) ||
        (rc = clmd_constraints_bind_units(e->cons, e->vs, v->k_kick, b.next, dt, &v->sites_left, err)))
        return rc;
    /* the waters place their sites and spread the sites' forces (both halves) */
    e->spread_in_step = e->vs && !v->sites_left;
    return CLMD_OK;
}

/* One launch of a kernel over the particles, or over the constraint units. */
static int launch(const verlet *v, clmd_engine *e, cl_kernel k, clmd_err *err)
{
    if (v->units)
        return clmd_ocl_launch(e->dev.ocl, k, clmd_constraints_unit_items(e->cons),
                               (size_t)clmd_constraints_unit_wg(), P_INTEGRATE, err);
    return clmd_ocl_launch(e->dev.ocl, k, groups(e->sys->n), CLMD_ENGINE_WG, P_INTEGRATE, err);
}

static int vv_setup_device(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    verlet *v = it->impl;
    const clmd_mdbuf *m = &e->mb;
    char defs[256];
    clmd_engine_step_defines(e, defs, sizeof defs);
    if (clmd_engine_step_units(e)) return setup_units(v, e, defs, sizeof defs, err);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(m->ocl, "integrate.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(m->ocl, prog, "verlet_kick_drift", &v->k_kick_drift, err)) ||
        (rc = clmd_ocl_kernel(m->ocl, prog, "verlet_kick", &v->k_kick, err)))
        return rc;
    const double dt = e->eo.dt_ps;
    clmd_binder b = clmd_bind(v->k_kick_drift, e->fp64);
    bind_drift_front(&b, m, dt);
    v->kick_drift_step = b.next;
    clmd_bind_uint(&b, 0);
    clmd_bind_int(&b, 1); /* the second reader of the forces clears them */
    if ((rc = clmd_bind_done(&b, err))) return rc;
    /* the kernel applies half its step argument: v += dt/2 F/m */
    b = clmd_bind(v->k_kick, e->fp64);
    clmd_bind_mem(&b, m->vel);
    clmd_bind_mem(&b, m->force);
    clmd_bind_int(&b, m->n);
    clmd_bind_int(&b, m->npad);
    clmd_bind_mixed(&b, dt);
    clmd_bind_mem(&b, m->flags);
    v->kick_step = b.next;
    clmd_bind_uint(&b, 0);
    clmd_bind_int(&b, 0); /* kick_drift reads these forces again */
    return clmd_bind_done(&b, err);
}

/* The step the kernel records with a force overflow it finds (that of the forces it reads). */
static int bind_step(cl_kernel k, cl_uint arg, const clmd_engine *e, clmd_err *err)
{
    clmd_binder b = clmd_bind(k, e->fp64);
    b.next = arg;
    clmd_bind_uint(&b, (unsigned)e->st->step);
    return clmd_bind_done(&b, err);
}

static int vv_before(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    verlet *v = it->impl;
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    double *x = e->st->x, *vel = e->st->v;
    int rc;
    if (!e->reference) {
        if (e->cons && !v->units)
            CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(e->dev.ocl), e->pos, e->pos_old, 0, 0,
                                         e->mixed_size * (size_t)n, 0, NULL, NULL),
                     err);
        rc = bind_step(v->k_kick_drift, v->kick_drift_step, e, err);
        if (!rc) rc = launch(v, e, v->k_kick_drift, err);
        if (!rc && e->cons && !v->units) rc = clmd_constraints_enqueue_positions(e->cons, dt, err);
        /* units: the waters placed their sites */
        if (rc || (v->units && !v->sites_left)) return rc;
        return clmd_engine_build_vsites(e, err);
    }
    if (e->cons) memcpy(e->xold, x, sizeof(double) * 3 * (size_t)n);
    PROBE_START(e->probe, P_INTEGRATE);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            vel[3 * i + k] += 0.5 * dt * e->invmass[i] * e->f[3 * i + k];
            if (e->invmass[i] != 0) x[3 * i + k] += dt * vel[3 * i + k];
        }
    PROBE_STOP(e->probe, P_INTEGRATE);
    if (e->cons) {
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_positions_ref(e->cons, e->xold, x, vel, dt, err);
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return clmd_err_prefix(err, "step %ld: ", e->st->step);
    }
    return clmd_engine_build_vsites(e, err);
}

static int vv_after(clmd_integrator *it, clmd_engine *e, clmd_err *err)
{
    verlet *v = it->impl;
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    int rc;
    if (!e->reference) {
        rc = bind_step(v->k_kick, v->kick_step, e, err);
        if (!rc) rc = launch(v, e, v->k_kick, err);
        if (!rc && e->cons && !v->units) rc = clmd_constraints_enqueue_velocities(e->cons, dt, err);
        return rc;
    }
    double *vel = e->st->v;
    PROBE_START(e->probe, P_INTEGRATE);
    for (int i = 0; i < 3 * n; i++) vel[i] += 0.5 * dt * e->invmass[i / 3] * e->f[i];
    PROBE_STOP(e->probe, P_INTEGRATE);
    if (e->cons) {
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_velocities_ref(e->cons, e->st->x, vel, dt, err);
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return clmd_err_prefix(err, "step %ld: ", e->st->step);
    }
    return CLMD_OK;
}

static void vv_describe(const clmd_integrator *it, const clmd_engine *e, FILE *out)
{
    (void)it;
    fprintf(out, "integrator: velocity Verlet (NVE), dt %g ps\n", e->eo.dt_ps);
}

static void vv_destroy(clmd_integrator *it)
{
    verlet *v = it->impl;
    if (v->k_kick_drift) clReleaseKernel(v->k_kick_drift);
    if (v->k_kick) clReleaseKernel(v->k_kick);
    clmd_free(v);
    clmd_free(it);
}

static const clmd_integrator_ops vv_ops = {"verlet", vv_setup_device, vv_before, vv_after,
                                           vv_describe, vv_destroy, 1};

clmd_integrator *clmd_verlet_create(void)
{
    clmd_integrator *it = clmd_alloc(sizeof *it);
    it->ops = &vv_ops;
    it->impl = clmd_alloc(sizeof(verlet));
    return it;
}
