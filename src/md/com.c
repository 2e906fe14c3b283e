/* Centre-of-mass motion removal as a step hook: every `interval` steps the total momentum is
 * taken out (device kernel remove_com in cl/integrate.cl: one work-group sums the momenta in a
 * fixed order, so runs repeat bit for bit). */
#include "core/mem.h"
#include "md/engine_impl.h"
#include "probe/probe.h"
#include "state/state.h"
#include "system/system.h"

typedef struct com {
    cl_kernel k;
} com;

static int com_setup_device(clmd_hook *h, clmd_engine *e, clmd_err *err)
{
    com *c = h->impl;
    char defs[256];
    clmd_engine_step_defines(e, defs, sizeof defs);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(e->dev.ocl, "integrate.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(e->dev.ocl, prog, "remove_com", &c->k, err)))
        return rc;
    clmd_binder b = clmd_bind(c->k, e->fp64);
    clmd_bind_mem(&b, e->vel);
    clmd_bind_int(&b, e->sys->n);
    return clmd_bind_done(&b, err);
}

static int com_apply(clmd_hook *h, clmd_engine *e, clmd_err *err)
{
    com *c = h->impl;
    if (!e->reference)
        return clmd_ocl_launch(e->dev.ocl, c->k, (size_t)CLMD_ENGINE_WG * e->nseg, CLMD_ENGINE_WG,
                               P_INTEGRATE, err);
    double p[3] = {0, 0, 0}, m = 0, *v = e->st->v;
    const int n = e->sys->n;
    for (int i = 0; i < n; i++) {
        if (e->invmass[i] == 0) continue;
        double mi = 1 / e->invmass[i];
        for (int k = 0; k < 3; k++) p[k] += mi * v[3 * i + k];
        m += mi;
    }
    if (m == 0) return CLMD_OK;
    for (int i = 0; i < n; i++)
        if (e->invmass[i] != 0)
            for (int k = 0; k < 3; k++) v[3 * i + k] -= p[k] / m;
    return CLMD_OK;
}

static void com_describe(const clmd_hook *h, FILE *out)
{
    fprintf(out, "centre-of-mass motion removed every %ld steps\n", h->interval);
}

static void com_destroy(clmd_hook *h)
{
    com *c = h->impl;
    if (c->k) clReleaseKernel(c->k);
    clmd_free(c);
    clmd_free(h);
}

static const clmd_hook_ops com_ops = {"com", com_setup_device, com_apply, com_describe, NULL, NULL,
                                      NULL, com_destroy};

clmd_hook *clmd_com_remover_create(long interval)
{
    clmd_hook *h = clmd_alloc(sizeof *h);
    h->ops = &com_ops;
    h->impl = clmd_alloc(sizeof(com));
    h->interval = interval > 0 ? interval : 1;
    return h;
}
