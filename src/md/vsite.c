#include "md/vsite.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "system/system.h"

enum { WG = 64 };

struct clmd_vsites {
    int n, nsites;
    clmd_vsite *site;  /* copy of the system's table */
    clmd_mdbuf b;
    cl_mem d_atoms;    /* int4 [nsites]: site, a, b, c */
    cl_mem d_w;        /* mixed4 [nsites]: w_a, w_b, w_c, 1 if they sum to 1 (remainder spread) */
    cl_kernel k_build, k_spread;
};

int clmd_vsites_create(const clmd_system *s, clmd_vsites **out, clmd_err *err)
{
    *out = NULL;
    if (s->nvsites == 0) return CLMD_OK;
    char *is_site = clmd_calloc((size_t)s->n, 1);
    int rc = CLMD_OK;
    for (int k = 0; k < s->nvsites && !rc; k++) {
        const clmd_vsite *q = &s->vsites[k];
        const int idx[4] = {q->site, q->a, q->b, q->c};
        for (int m = 0; m < 4; m++)
            if (idx[m] < 0 || idx[m] >= s->n)
                rc = clmd_err_set(err, CLMD_EINPUT, "virtual site %d refers to particle %d of %d",
                                  k + 1, idx[m] + 1, s->n);
        if (!rc && is_site[q->site])
            rc = clmd_err_set(err, CLMD_EINPUT, "particle %d is defined as a virtual site twice",
                              q->site + 1);
        if (!rc && s->mass[q->site] != 0)
            rc = clmd_err_set(err, CLMD_EINPUT, "virtual site %d (particle %d) has mass %g; "
                              "sites must be massless", k + 1, q->site + 1, s->mass[q->site]);
        if (!rc) is_site[q->site] = 1;
    }
    for (int k = 0; k < s->nvsites && !rc; k++) {
        const clmd_vsite *q = &s->vsites[k];
        if (is_site[q->a] || is_site[q->b] || is_site[q->c] || q->a == q->site ||
            q->b == q->site || q->c == q->site)
            rc = clmd_err_set(err, CLMD_EINPUT, "virtual site %d (particle %d) is built from "
                              "another virtual site; only real particles can be parents",
                              k + 1, q->site + 1);
    }
    clmd_free(is_site);
    if (rc) return rc;
    clmd_vsites *v = clmd_alloc(sizeof *v);
    v->n = s->n;
    v->nsites = s->nvsites;
    CLMD_NEW(v->site, v->nsites);
    memcpy(v->site, s->vsites, sizeof *v->site * (size_t)v->nsites);
    *out = v;
    return CLMD_OK;
}

void clmd_vsites_destroy(clmd_vsites **pv)
{
    if (!pv || !*pv) return;
    clmd_vsites *v = *pv;
    if (v->k_build) clReleaseKernel(v->k_build);
    if (v->k_spread) clReleaseKernel(v->k_spread);
    clmd_ocl_release(&v->d_atoms);
    clmd_ocl_release(&v->d_w);
    clmd_free(v->site);
    clmd_free(v);
    *pv = NULL;
}

int clmd_vsites_count(const clmd_vsites *v) { return v ? v->nsites : 0; }

void clmd_vsites_build_ref(const clmd_vsites *v, double *x)
{
    for (int k = 0; k < v->nsites; k++) {
        const clmd_vsite *q = &v->site[k];
        for (int m = 0; m < 3; m++)
            x[3 * q->site + m] = q->w[0] * x[3 * q->a + m] + q->w[1] * x[3 * q->b + m] +
                                 q->w[2] * x[3 * q->c + m];
    }
}

void clmd_vsites_spread_ref(const clmd_vsites *v, double *f)
{
    for (int k = 0; k < v->nsites; k++) {
        const clmd_vsite *q = &v->site[k];
        for (int m = 0; m < 3; m++) {
            const double fs = f[3 * q->site + m];
            f[3 * q->a + m] += q->w[0] * fs;
            f[3 * q->b + m] += q->w[1] * fs;
            f[3 * q->c + m] += q->w[2] * fs;
            f[3 * q->site + m] = 0;
        }
    }
}

int clmd_vsites_setup_device(clmd_vsites *v, const clmd_mdbuf *b, clmd_err *err)
{
    v->b = *b;
    clmd_ocl *o = b->ocl;
    int rc;
    char defs[96];
    snprintf(defs, sizeof defs, "#define HAVE_FP64 %d\n#define WG %d\n", b->fp64, WG);
    cl_program prog;
    if ((rc = clmd_ocl_program(o, "vsite.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(o, prog, "vsite_build", &v->k_build, err)) ||
        (rc = clmd_ocl_kernel(o, prog, "vsite_spread", &v->k_spread, err)))
        return rc;
    cl_int4 *at = clmd_calloc((size_t)v->nsites, sizeof *at);
    void *w = clmd_calloc((size_t)v->nsites, clmd_mdbuf_mixed4_size(b));
    for (int k = 0; k < v->nsites; k++) {
        const clmd_vsite *q = &v->site[k];
        at[k].s[0] = q->site, at[k].s[1] = q->a, at[k].s[2] = q->b, at[k].s[3] = q->c;
        double sum = q->w[0] + q->w[1] + q->w[2];
        double ws[4] = {q->w[0], q->w[1], q->w[2], fabs(sum - 1) < 1e-12 ? 1 : 0};
        for (int m = 0; m < 4; m++)
            if (b->fp64) ((double *)w)[4 * k + m] = ws[m];
            else ((float *)w)[4 * k + m] = (float)ws[m];
    }
    rc = clmd_ocl_alloc(o, sizeof *at * (size_t)v->nsites, &v->d_atoms, err);
    if (!rc) rc = clmd_ocl_write(o, v->d_atoms, 0, sizeof *at * (size_t)v->nsites, at, err);
    if (!rc) rc = clmd_ocl_alloc(o, clmd_mdbuf_mixed4_size(b) * (size_t)v->nsites, &v->d_w, err);
    if (!rc) rc = clmd_ocl_write(o, v->d_w, 0, clmd_mdbuf_mixed4_size(b) * (size_t)v->nsites, w, err);
    clmd_free(at);
    clmd_free(w);
    if (rc) return rc;
    cl_kernel k = v->k_build;
    CLMD_ARG(k, 0, v->nsites, err);
    CLMD_ARG(k, 1, v->d_atoms, err);
    CLMD_ARG(k, 2, v->d_w, err);
    CLMD_ARG(k, 3, b->pos, err);
    CLMD_ARG(k, 4, b->posq, err);
    CLMD_ARG(k, 5, b->posq_lo, err);
    CLMD_ARG(k, 6, b->posq_ref, err);
    CLMD_ARG(k, 7, b->flags, err);
    CLMD_ARG(k, 8, b->pos_shift, err);
    k = v->k_spread;
    CLMD_ARG(k, 0, v->nsites, err);
    CLMD_ARG(k, 1, v->d_atoms, err);
    CLMD_ARG(k, 2, v->d_w, err);
    CLMD_ARG(k, 3, b->force, err);
    CLMD_ARG(k, 4, b->npad, err);
    return CLMD_OK;
}

static size_t groups(int items) { return (size_t)(items + WG - 1) / WG * WG; }

int clmd_vsites_enqueue_build(clmd_vsites *v, clmd_err *err)
{
    return clmd_ocl_launch(v->b.ocl, v->k_build, groups(v->nsites), WG, P_VSITE_BUILD, err);
}

int clmd_vsites_enqueue_spread(clmd_vsites *v, clmd_err *err)
{
    return clmd_ocl_launch(v->b.ocl, v->k_spread, groups(v->nsites), WG, P_VSITE_SPREAD, err);
}

int clmd_vsites_tables(const clmd_vsites *v, const clmd_vsite **sites, cl_mem *d_atoms, cl_mem *d_w)
{
    *sites = v->site;
    *d_atoms = v->d_atoms;
    *d_w = v->d_w;
    return v->nsites;
}
