/* CMAP term: correction maps over pairs of consecutive torsions (Amber ff19SB, CHARMM), as
 * OpenMM's CMAPTorsionForce. The patch coefficients of every map are computed once at creation,
 * in double precision (ff/cmap_ref.c); the reference evaluates with them, the device path
 * (cl/cmap.cl, probe P_CMAP) with a float copy. Energy component CLMD_E_CMAP ("cmap").
 *
 * Periodicity as the bonded term: torsion vectors take the minimum image whenever the system has
 * a box, so the program gets its own PERIODIC/TRICLINIC defines from the system, and the box
 * arguments follow the state's current box. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "ff/cmap_ref.h"
#include "ff/dev.h"
#include "ff/plan.h"
#include "ff/term.h"
#include "probe/probe.h"
#include "system/system.h"

enum { CMAP_WG = 64 }; /* work-group size of the kernel (energy reduction) */

typedef struct cmapterm {
    const clmd_system *sys;
    int *off;      /* [ncmap_maps + 1] first patch of each map */
    double *coeff; /* 16 per patch, all maps */
    /* device */
    long box_version; /* of the box arguments set */
    cl_kernel k;
    cl_mem terms, coeffs;
} cmapterm;

static int cm_reference(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                        clmd_err *err)
{
    (void)err;
    const cmapterm *c = t->impl;
    e[CLMD_E_CMAP] += clmd_cmap_ref_eval(c->sys, c->sys->periodic ? env->box : NULL, c->coeff,
                                         c->off, x, f);
    return CLMD_OK;
}

static void cm_describe(const clmd_term *t, FILE *out)
{
    const cmapterm *c = t->impl;
    const clmd_system *s = c->sys;
    fprintf(out, "cmap: %d correction-map torsion pairs, %d maps (", s->ncmaps, s->ncmap_maps);
    for (int m = 0; m < s->ncmap_maps; m++)
        if (m == 0 || s->cmap_maps[m].size != s->cmap_maps[m - 1].size)
            fprintf(out, "%s%dx%d", m ? ", " : "", s->cmap_maps[m].size, s->cmap_maps[m].size);
    fprintf(out, "), bicubic on periodic spline derivatives%s\n",
            s->periodic ? ", minimum image in the box" : "");
}

static int cm_setup_device(clmd_term *t, const clmd_fenv *env, clmd_err *err)
{
    cmapterm *c = t->impl;
    clmd_dev *dev = env->dev;
    const clmd_system *s = c->sys;
    clmd_dev boxdev;
    clmd_dev_box_view(&boxdev, s->periodic, env->box, env->box_version);
    boxdev.nseg = env->dev->nseg; /* the batched copies' energy slots */
    boxdev.seg_stride = env->dev->seg_stride;
    char defs[1024];
    snprintf(defs, sizeof defs, "%s#define CMAP_WG %d\n", clmd_dev_defines(&boxdev), CMAP_WG);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(dev->ocl, "cmap.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, "cmap", &c->k, err)))
        return rc;

    const int nt = s->ncmaps, npatch = c->off[s->ncmap_maps];
    cl_int8 *tb = clmd_calloc(nt > 0 ? nt : 1, sizeof *tb);
    for (int k = 0; k < nt; k++) {
        const clmd_cmap *q = &s->cmaps[k];
        const int v[8] = {q->a, q->b, q->c, q->d, q->e, s->cmap_maps[q->map].size,
                          c->off[q->map], 0};
        for (int j = 0; j < 8; j++) tb[k].s[j] = v[j];
    }
    cl_float *cb = clmd_calloc(16 * (size_t)(npatch > 0 ? npatch : 1), sizeof *cb);
    for (size_t k = 0; k < 16 * (size_t)npatch; k++) cb[k] = (cl_float)c->coeff[k];
    rc = clmd_ocl_alloc(dev->ocl, sizeof *tb * (size_t)(nt > 0 ? nt : 1), &c->terms, err);
    if (!rc && nt > 0) rc = clmd_ocl_write(dev->ocl, c->terms, 0, sizeof *tb * (size_t)nt, tb, err);
    if (!rc) rc = clmd_ocl_alloc(dev->ocl, 16 * sizeof *cb * (size_t)(npatch > 0 ? npatch : 1),
                                 &c->coeffs, err);
    if (!rc && npatch > 0)
        rc = clmd_ocl_write(dev->ocl, c->coeffs, 0, 16 * sizeof *cb * (size_t)npatch, cb, err);
    clmd_free(tb);
    clmd_free(cb);
    if (rc) return rc;

    cl_kernel k = c->k;
    CLMD_ARG(k, 0, dev->posq, err);
    CLMD_ARG(k, 1, dev->posq_lo, err);
    CLMD_ARG(k, 2, c->terms, err);
    CLMD_ARG(k, 3, c->coeffs, err);
    CLMD_ARG(k, 4, s->ncmaps, err);
    CLMD_ARG(k, 5, dev->force, err);
    CLMD_ARG(k, 6, dev->npad, err);
    CLMD_ARG(k, 7, dev->energy, err);
    c->box_version = -1;
    return CLMD_OK;
}

static int cm_enqueue(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    cmapterm *c = t->impl;
    if (c->box_version != env->box_version) {
        /* the current box, with the system's own periodicity (see the top of this file) */
        clmd_dev boxdev;
        clmd_dev_box_view(&boxdev, c->sys->periodic, env->box, env->box_version);
        int rc = clmd_dev_box_args(&boxdev, c->k, 9, err);
        if (rc) return rc;
        c->box_version = env->box_version;
    }
    CLMD_ARG(c->k, 8, want_energy, err);
    return clmd_ocl_launch(env->dev->ocl, c->k, (size_t)c->sys->ncmaps, CMAP_WG, P_CMAP, err);
}

static void cm_destroy(clmd_term *t)
{
    cmapterm *c = t->impl;
    if (c->k) clReleaseKernel(c->k);
    clmd_ocl_release(&c->terms);
    clmd_ocl_release(&c->coeffs);
    clmd_free(c->off);
    clmd_free(c->coeff);
    clmd_free(c);
    clmd_free(t);
}

static const clmd_term_ops cm_ops = {"cmap", cm_setup_device, cm_enqueue, cm_reference,
                                     cm_describe, cm_destroy, NULL, NULL};

int clmd_cmap_create(const clmd_system *sys, const clmd_ffplan *plan, clmd_term **out,
                     clmd_err *err)
{
    (void)plan;
    *out = NULL;
    if (!sys->ncmaps) return CLMD_OK;
    /* the engine may be handed a system that no importer validated */
    for (int k = 0; k < sys->ncmaps; k++)
        if (sys->cmaps[k].map < 0 || sys->cmaps[k].map >= sys->ncmap_maps)
            return clmd_err_set(err, CLMD_EINPUT, "CMAP term %d uses map %d of %d", k + 1,
                                sys->cmaps[k].map + 1, sys->ncmap_maps);
    for (int m = 0; m < sys->ncmap_maps; m++)
        if (sys->cmap_maps[m].size < 3 || !sys->cmap_maps[m].energy)
            return clmd_err_set(err, CLMD_EINPUT, "CMAP map %d has resolution %d (at least 3)",
                                m + 1, sys->cmap_maps[m].size);
    cmapterm *c = clmd_alloc(sizeof *c);
    c->sys = sys;
    CLMD_NEW(c->off, sys->ncmap_maps + 1);
    clmd_cmap_ref_offsets(sys, c->off);
    CLMD_NEW(c->coeff, 16 * (size_t)c->off[sys->ncmap_maps]);
    for (int m = 0; m < sys->ncmap_maps; m++)
        clmd_cmap_ref_coefficients(sys->cmap_maps[m].size, sys->cmap_maps[m].energy,
                                   c->coeff + 16 * (size_t)c->off[m]);
    clmd_term *t = clmd_alloc(sizeof *t);
    t->ops = &cm_ops;
    t->impl = c;
    *out = t;
    return CLMD_OK;
}
