/* GBSA/OBC implicit-solvent term: OBC1/OBC2 Born radii, Still pair energy and the ACE surface
 * term as OpenMM 7.7 computes them (constants and flavours in ff/gbsa_ref.h), without a cutoff or
 * with a cutoff (periodic or not). Reference path: clmd_gbsa_ref in double precision. Device path
 * (cl/gbsa.cl): three passes over the engine's cluster list (Born radii, pair terms, chain rule),
 * as three kernels, or on GPUs as one fused work-group for systems of a few clusters; CPU devices
 * get float8 variants. Probes: P_GB_RADII (Born-radius kernel), P_GB_FORCE (pair and chain
 * kernels, or the fused one). The ACE term and the self energies are per-atom epilogues of the
 * pair kernel (no launch of their own), so P_SA records nothing.
 *
 * The neighbor list drops a j from a cluster's list when every lane of the cluster is excluded
 * from j, but GB counts excluded (bonded) pairs. At each list upload the term rebuilds, on the
 * host, a small supplementary list of those dropped partners (sstart/slist) from the host list
 * and the exclusions (timed under P_UPLOAD); the kernels walk both and ignore the exclusion bits. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "ff/dev.h"
#include "ff/gbsa_ref.h"
#include "ff/plan.h"
#include "ff/term.h"
#include "nlist/nlist.h"
#include "probe/probe.h"
#include "system/system.h"

typedef struct gbsa {
    const clmd_system *sys;
    clmd_gbmodel model;
    clmd_gbsa_params p; /* borrows sys's charge, gb_radius, gb_scale */
    int periodic;
    /* device */
    int gpu, slices; /* slices: GPU work-items per cluster lane */
    int fused_wg;    /* 0: the device cannot run gb_fused */
    cl_kernel k_born, k_pair, k_chain, k_fused;
    cl_mem gbp, born, chain, sstart, slist;
    size_t cap_sstart, cap_slist; /* elements */
    int *h_sstart, *h_slist, *mark;
    size_t hcap_sstart, hcap_slist;
    long nl_version, box_version;
} gbsa;

static void gb_describe(const clmd_term *t, FILE *out)
{
    const gbsa *g = t->impl;
    const clmd_gbsa_params *p = &g->p;
    fprintf(out, "gbsa: %s (alpha %g, beta %g, gamma %g, Coulomb %.17g), dielectrics %g/%g",
            g->model == CLMD_GB_OBC1 ? "OBC1 as OpenMM's CustomGBForce" : "OBC2 as OpenMM's GBSAOBCForce",
            p->alpha, p->beta, p->gamma, p->coulomb, p->solute_dielectric, p->solvent_dielectric);
    if (p->surface_area)
        fprintf(out, ", ACE %g kJ/mol/nm^2 probe %g nm", p->sa_energy, p->probe_radius_nm);
    if (p->cutoff_nm > 0)
        fprintf(out, ", cutoff %g nm%s", p->cutoff_nm, g->periodic ? " periodic" : "");
    else
        fprintf(out, ", no cutoff");
    fprintf(out, "\n");
}

static int gb_reference(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                        clmd_err *err)
{
    gbsa *g = t->impl;
    double egb = 0, esa = 0;
    int rc = clmd_gbsa_ref(&g->p, g->sys->n, x, g->periodic ? env->box : NULL, f, &egb, &esa, NULL,
                           err);
    if (rc) return rc;
    e[CLMD_E_GB] += egb;
    e[CLMD_E_SA] += esa;
    return CLMD_OK;
}

/* Grows a device buffer of `elem`-byte elements to hold at least n, with headroom. */
static int ensure_buffer(clmd_ocl *ocl, cl_mem *m, size_t *cap, size_t n, size_t elem, clmd_err *err)
{
    if (*m && n <= *cap) return CLMD_OK;
    clmd_ocl_release(m);
    *cap = n + n / 4 + 64;
    return clmd_ocl_alloc(ocl, *cap * elem, m, err);
}

/* Rebuilds the supplementary partner list for the list now on the device (see the file comment):
 * for each cluster, the excluded partners of its atoms that the neighbor list left out. */
static int upload_supplement(gbsa *g, const clmd_fenv *env, clmd_err *err)
{
    const clmd_system *s = g->sys;
    clmd_dev *dev = env->dev;
    if (!env->nl) return clmd_err_set(err, CLMD_ERUNTIME, "gbsa: no neighbor list");
    clmd_nlist_view v = clmd_nlist_get(env->nl);
    if (v.nclusters != dev->nl_nclusters)
        return clmd_err_set(err, CLMD_ERUNTIME, "gbsa: host and device neighbor lists differ");
    size_t need_start = (size_t)v.nclusters + 1;
    if (need_start > g->hcap_sstart) {
        clmd_free(g->h_sstart);
        g->hcap_sstart = need_start + need_start / 4;
        CLMD_NEW(g->h_sstart, g->hcap_sstart);
    }
    for (int i = 0; i < s->n; i++) g->mark[i] = -1;
    size_t ns = 0;
    for (int c = 0; c < v.nclusters; c++) {
        g->h_sstart[c] = (int)ns;
        if (!s->excl) continue;
        for (int e = v.jstart[c]; e < v.jstart[c + 1]; e++) g->mark[v.jlist[e] >> 8] = c;
        for (int l = 0; l < CLMD_CLUSTER; l++) {
            int i = v.cluster_atoms[c * CLMD_CLUSTER + l];
            if (i < 0) continue;
            for (int x = s->excl_start[i]; x < s->excl_start[i + 1]; x++) {
                int j = s->excl[x];
                if (g->mark[j] == c) continue;
                g->mark[j] = c;
                if (ns == g->hcap_slist) {
                    size_t nc = g->hcap_slist * 2 + 256;
                    g->h_slist = clmd_realloc(g->h_slist, g->hcap_slist * sizeof *g->h_slist,
                                              nc * sizeof *g->h_slist);
                    g->hcap_slist = nc;
                }
                g->h_slist[ns++] = j;
            }
        }
    }
    g->h_sstart[v.nclusters] = (int)ns;
    int rc;
    if ((rc = ensure_buffer(dev->ocl, &g->sstart, &g->cap_sstart, need_start, sizeof(cl_int), err)) ||
        (rc = ensure_buffer(dev->ocl, &g->slist, &g->cap_slist, ns ? ns : 1, sizeof(cl_int), err)) ||
        (rc = clmd_ocl_write(dev->ocl, g->sstart, 0, sizeof(cl_int) * need_start, g->h_sstart, err)))
        return rc;
    if (ns && (rc = clmd_ocl_write(dev->ocl, g->slist, 0, sizeof(cl_int) * ns, g->h_slist, err)))
        return rc;
    /* list arguments 3..8 are the same in every kernel */
    cl_kernel ks[4] = {g->k_born, g->k_pair, g->k_chain, g->k_fused};
    for (int k = 0; k < 4; k++) {
        if (!ks[k]) continue;
        CLMD_ARG(ks[k], 3, dev->nl_cluster_atoms, err);
        CLMD_ARG(ks[k], 4, dev->nl_jstart, err);
        CLMD_ARG(ks[k], 5, dev->nl_jlist, err);
        CLMD_ARG(ks[k], 6, g->sstart, err);
        CLMD_ARG(ks[k], 7, g->slist, err);
        CLMD_ARG(ks[k], 8, dev->nl_nclusters, err);
    }
    g->nl_version = dev->nl_version;
    return CLMD_OK;
}

/* GPU work-group sizes, from timings on an H100 (probes, OBC2, no cutoff, 8 to 697 atoms): the
 * three kernels cost about 23 us up to 256 atoms whatever the size (three launches at the ~8 us
 * the device reports for any kernel), 39 us at 697 atoms with 64 slices per lane (58 with 32, 34
 * with 128 but slower below 200 atoms). One fused work-group runs all three passes in 11-21 us up
 * to 48 atoms (6 clusters) and loses from 64 atoms (38 us), so it takes systems of up to
 * GB_FUSED_MAX_CLUSTERS clusters. */
enum { GB_SLICES = 64, GB_FUSED_WG = 256, GB_FUSED_MAX_CLUSTERS = 6 };

static int gb_setup_device(clmd_term *t, const clmd_fenv *env, clmd_err *err)
{
    gbsa *g = t->impl;
    clmd_dev *dev = env->dev;
    const clmd_gbsa_params *p = &g->p;
    g->gpu = clmd_ocl_is_gpu(dev->ocl);
    /* as many slices as the device's work-group limit allows, up to GB_SLICES */
    size_t maxwg = 0;
    CL_CHECK(clGetDeviceInfo(clmd_ocl_device(dev->ocl), CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof maxwg,
                             &maxwg, NULL),
             err);
    g->slices = GB_SLICES;
    while (g->slices > 1 && (size_t)(8 * g->slices) > maxwg) g->slices /= 2;
    /* the fused kernel sums the whole system's energy in one group: one copy only */
    g->fused_wg = maxwg >= GB_FUSED_WG && dev->nseg <= 1 ? GB_FUSED_WG : 0;
    double pre = -p->coulomb * (1.0 / p->solute_dielectric - 1.0 / p->solvent_dielectric);
    char defs[1536];
    snprintf(defs, sizeof defs,
             "%s#define SLICES %d\n#define FUSED_WG %d\n#define CUTOFF %d\n"
             "#define CUTOFF2 ((real)%.17g)\n#define SHIFT ((real)%.17g)\n#define PRE ((real)%.17g)\n"
             "#define OBC_ALPHA ((real)%.17g)\n#define OBC_BETA ((real)%.17g)\n"
             "#define OBC_GAMMA ((real)%.17g)\n#define INSIDE_CORR %d\n",
             clmd_dev_defines(dev), g->slices, g->fused_wg ? g->fused_wg : 8, p->cutoff_nm > 0,
             p->cutoff_nm * p->cutoff_nm, p->cutoff_nm > 0 ? 1.0 / p->cutoff_nm : 0.0, pre, p->alpha,
             p->beta, p->gamma, p->inside_correction);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(dev->ocl, "gbsa.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, g->gpu ? "gb_born" : "gb_born_cpu", &g->k_born, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, g->gpu ? "gb_pair" : "gb_pair_cpu", &g->k_pair, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, g->gpu ? "gb_chain" : "gb_chain_cpu", &g->k_chain, err)) ||
        (g->gpu && g->fused_wg && (rc = clmd_ocl_kernel(dev->ocl, prog, "gb_fused", &g->k_fused, err))))
        return rc;

    const clmd_system *s = g->sys;
    size_t np = (size_t)dev->npad;
    cl_float4 *par = clmd_calloc(np, sizeof *par);
    double ace = p->surface_area ? 4.0 * M_PI * p->sa_energy : 0.0;
    for (int i = 0; i < s->n; i++) {
        double rad = p->radius[i], ori = rad - p->offset_nm, rp = rad + p->probe_radius_nm;
        par[i].s[0] = (float)ori;
        par[i].s[1] = (float)(p->scale[i] * ori);
        par[i].s[2] = (float)rad;
        par[i].s[3] = (float)(ace * rp * rp * pow(rad, 6));
    }
    rc = clmd_ocl_alloc(dev->ocl, sizeof *par * np, &g->gbp, err);
    if (!rc) rc = clmd_ocl_write(dev->ocl, g->gbp, 0, sizeof *par * np, par, err);
    clmd_free(par);
    if (rc) return rc;
    if ((rc = clmd_ocl_alloc(dev->ocl, sizeof(cl_float2) * np, &g->born, err)) ||
        (rc = clmd_ocl_alloc(dev->ocl, sizeof(cl_float) * np, &g->chain, err)))
        return rc;
    CLMD_NEW(g->mark, s->n);

    cl_kernel ks[4] = {g->k_born, g->k_pair, g->k_chain, g->k_fused};
    for (int k = 0; k < 4; k++) {
        if (!ks[k]) continue;
        CLMD_ARG(ks[k], 0, dev->posq, err);
        CLMD_ARG(ks[k], 1, dev->posq_lo, err);
        CLMD_ARG(ks[k], 2, g->gbp, err);
    }
    CLMD_ARG(g->k_born, 9, g->born, err);
    CLMD_ARG(g->k_chain, 9, g->chain, err);
    CLMD_ARG(g->k_chain, 10, dev->force, err);
    CLMD_ARG(g->k_chain, 11, dev->npad, err);
    /* gb_pair and gb_fused share arguments 9..14 */
    cl_kernel kp[2] = {g->k_pair, g->k_fused};
    for (int k = 0; k < 2; k++) {
        if (!kp[k]) continue;
        CLMD_ARG(kp[k], 9, g->born, err);
        CLMD_ARG(kp[k], 10, g->chain, err);
        CLMD_ARG(kp[k], 11, dev->force, err);
        CLMD_ARG(kp[k], 12, dev->npad, err);
        CLMD_ARG(kp[k], 13, dev->energy, err);
    }
    g->nl_version = g->box_version = -1;
    return CLMD_OK;
}

/* The state's current box into every kernel, when it changed. */
static int set_box_args(gbsa *g, clmd_dev *dev, clmd_err *err)
{
    if (g->box_version == dev->box_version) return CLMD_OK;
    int rc;
    if ((rc = clmd_dev_box_args(dev, g->k_born, 10, err)) ||
        (rc = clmd_dev_box_args(dev, g->k_chain, 12, err)) ||
        (rc = clmd_dev_box_args(dev, g->k_pair, 15, err)) ||
        (g->k_fused && (rc = clmd_dev_box_args(dev, g->k_fused, 16, err))))
        return rc;
    g->box_version = dev->box_version;
    return CLMD_OK;
}

static int gb_enqueue(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    gbsa *g = t->impl;
    clmd_dev *dev = env->dev;
    int rc, ncl = dev->nl_nclusters;
    if ((rc = set_box_args(g, dev, err))) return rc;
    if (g->nl_version != dev->nl_version) {
        PROBE_START(env->probe, P_UPLOAD);
        rc = upload_supplement(g, env, err);
        PROBE_STOP(env->probe, P_UPLOAD);
        if (rc) return rc;
    }
    if (g->k_fused && ncl <= GB_FUSED_MAX_CLUSTERS && 8 * ncl <= g->fused_wg) {
        cl_int nsl = 1;
        while (2 * nsl * 8 * ncl <= g->fused_wg) nsl *= 2;
        CLMD_ARG(g->k_fused, 14, want_energy, err);
        CLMD_ARG(g->k_fused, 15, nsl, err);
        return clmd_ocl_launch(dev->ocl, g->k_fused, (size_t)g->fused_wg, (size_t)g->fused_wg, P_GB_FORCE,
                               err);
    }
    CLMD_ARG(g->k_pair, 14, want_energy, err);
    /* GPUs: a work-group per cluster; CPU devices: a work-item per cluster */
    size_t wg = g->gpu ? 8 * (size_t)g->slices : 0, global = (size_t)ncl * (g->gpu ? wg : 1);
    if ((rc = clmd_ocl_launch(dev->ocl, g->k_born, global, wg, P_GB_RADII, err)) ||
        (rc = clmd_ocl_launch(dev->ocl, g->k_pair, global, wg, P_GB_FORCE, err)) ||
        (rc = clmd_ocl_launch(dev->ocl, g->k_chain, global, wg, P_GB_FORCE, err)))
        return rc;
    return CLMD_OK;
}

static void gb_destroy(clmd_term *t)
{
    gbsa *g = t->impl;
    cl_kernel ks[4] = {g->k_born, g->k_pair, g->k_chain, g->k_fused};
    for (int k = 0; k < 4; k++)
        if (ks[k]) clReleaseKernel(ks[k]);
    cl_mem *ms[5] = {&g->gbp, &g->born, &g->chain, &g->sstart, &g->slist};
    for (int k = 0; k < 5; k++) clmd_ocl_release(ms[k]);
    clmd_free(g->h_sstart);
    clmd_free(g->h_slist);
    clmd_free(g->mark);
    clmd_free(g);
    clmd_free(t);
}

static const clmd_term_ops gb_ops = {"gbsa", gb_setup_device, gb_enqueue, gb_reference,
                                     gb_describe, gb_destroy, NULL, NULL};

int clmd_gbsa_create(const clmd_system *sys, const clmd_ffplan *plan, clmd_term **out,
                     clmd_err *err)
{
    *out = NULL;
    const clmd_ffopts *o = &plan->o;
    if (o->gb_model == CLMD_GB_NONE) return CLMD_OK;
    clmd_gbsa_params p;
    int periodic = 0, rc;
    if ((rc = clmd_gbsa_params_from_system(&p, &periodic, sys, o, err))) return rc;
    for (int i = 0; i < sys->n; i++)
        if (!(p.radius[i] > p.offset_nm) || !(p.scale[i] >= 0))
            return clmd_err_set(err, CLMD_EINPUT, "%s: atom %d: GB radius %g nm (must exceed %g nm) "
                                "or scale factor %g (must be >= 0) out of range", sys->source, i + 1,
                                p.radius[i], p.offset_nm, p.scale[i]);
    gbsa *g = clmd_alloc(sizeof *g);
    g->sys = sys;
    g->model = o->gb_model;
    g->p = p;
    g->periodic = periodic;
    clmd_term *t = clmd_alloc(sizeof *t);
    t->ops = &gb_ops;
    t->impl = g;
    *out = t;
    return CLMD_OK;
}
