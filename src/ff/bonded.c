/* Bonded term: harmonic bonds, harmonic angles and periodic torsions (proper and improper alike)
 * of a clmd_system, in OpenMM's conventions (system/system.h). The reference is ff/bonded_ref.c;
 * the device path is cl/bonded.cl, one kernel launch for the three kinds (work-groups of one
 * kind each), timed under the probe P_BONDED. The 1-4 pairs are not here: the nonbonded term
 * owns them.
 *
 * Periodicity: bonded vectors take the minimum image whenever the system has a box
 * (sys->periodic), whatever the nonbonded method, exactly as bonded_ref does. The engine's
 * device state is periodic only for cutoff methods, so this term builds its program with its
 * own PERIODIC/TRICLINIC defines and sets the box arguments from the state's current box. For whole molecules
 * the image is the plain difference, so the choice only matters for molecules split across the
 * box, which it then handles on both paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/bonded_ref.h"
#include "ff/dev.h"
#include "ff/plan.h"
#include "ff/term.h"
#include "probe/probe.h"
#include "system/system.h"

enum { BONDED_WG = 64 }; /* work-group size of the bonded kernels (energy reduction) */

typedef struct bonded {
    const clmd_system *sys;
    int nimproper;           /* torsions whose atoms are not a bonded chain (for describe) */
    /* device */
    long box_version;        /* of the box arguments set */
    cl_kernel k_terms;       /* cl/bonded.cl bonded_terms: the three kinds in one launch */
    int gb, ga, ng;          /* work-groups of bonds, of angles, of all (torsions the rest) */
    cl_mem bond_ij, bond_par, angle_ijk, angle_cs, angle_k, tors_ijkl, tors_par;
} bonded;

/* ---- reference ---- */

static int bd_reference(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                        clmd_err *err)
{
    (void)err;
    const bonded *b = t->impl;
    const double(*box)[3] = b->sys->periodic ? env->box : NULL;
    e[CLMD_E_BOND] += clmd_bonded_ref_bonds(b->sys, box, x, f);
    e[CLMD_E_ANGLE] += clmd_bonded_ref_angles(b->sys, box, x, f);
    e[CLMD_E_TORSION] += clmd_bonded_ref_torsions_region(b->sys, box, x, f,
                                                          env->scale ? env->scale[0].torsion : 1);
    return CLMD_OK;
}

/* REST2: the solute's torsions go as the torsion factor, the rest does not change. */
static int bd_region_energies(clmd_term *t, const clmd_fenv *env, const double *x, int S,
                              const clmd_region_scale *scales, const double *slots, double *out,
                              clmd_err *err)
{
    (void)slots;
    (void)err;
    const bonded *b = t->impl;
    const clmd_system *s = b->sys;
    if (!s->region || !s->ntorsions) return CLMD_OK;
    const int G = s->nseg > 1 ? s->nseg : 1;
    double *et = clmd_calloc((size_t)G, sizeof *et);
    clmd_bonded_ref_region_torsions(s, s->periodic ? env->box : NULL, x, et);
    for (int g = 0; g < G; g++)
        for (int k = 0; k < S; k++) out[(size_t)g * S + k] += scales[(size_t)g * S + k].torsion * et[g];
    clmd_free(et);
    return CLMD_OK;
}

static void bd_describe(const clmd_term *t, FILE *out)
{
    const bonded *b = t->impl;
    const clmd_system *s = b->sys;
    fprintf(out, "bonded: %d harmonic bonds, %d harmonic angles, %d periodic torsions "
            "(%d proper, %d improper)%s\n", s->nbonds, s->nangles, s->ntorsions,
            s->ntorsions - b->nimproper, b->nimproper,
            s->periodic ? ", minimum image in the box" : "");
}

/* ---- device ---- */

static void split(double v, cl_float *hi, cl_float *lo)
{
    *hi = (float)v;
    *lo = (float)(v - (double)*hi);
}

/* Uploads n records of `size` bytes (at least one, so empty kinds still get a valid buffer). */
static int upload(clmd_ocl *o, const void *src, size_t size, int n, cl_mem *out, clmd_err *err)
{
    size_t bytes = size * (size_t)(n > 0 ? n : 1);
    int rc = clmd_ocl_alloc(o, bytes, out, err);
    if (!rc && n > 0) rc = clmd_ocl_write(o, *out, 0, size * (size_t)n, src, err);
    return rc;
}

static int upload_params(bonded *b, clmd_ocl *o, clmd_err *err)
{
    const clmd_system *s = b->sys;
    int rc, nb = s->nbonds, na = s->nangles, nt = s->ntorsions;

    cl_int2 *bij = clmd_calloc(nb > 0 ? nb : 1, sizeof *bij);
    cl_float4 *bpar = clmd_calloc(nb > 0 ? nb : 1, sizeof *bpar);
    for (int k = 0; k < nb; k++) {
        const clmd_bond *t = &s->bonds[k];
        bij[k].s[0] = t->i;
        bij[k].s[1] = t->j;
        bpar[k].s[0] = (float)t->k;
        bpar[k].s[1] = (float)t->r0;
        split(t->r0 * t->r0, &bpar[k].s[2], &bpar[k].s[3]);
    }
    rc = upload(o, bij, sizeof *bij, nb, &b->bond_ij, err);
    if (!rc) rc = upload(o, bpar, sizeof *bpar, nb, &b->bond_par, err);
    clmd_free(bij);
    clmd_free(bpar);
    if (rc) return rc;

    cl_int4 *aijk = clmd_calloc(na > 0 ? na : 1, sizeof *aijk);
    cl_float4 *acs = clmd_calloc(na > 0 ? na : 1, sizeof *acs);
    cl_float *ak = clmd_calloc(na > 0 ? na : 1, sizeof *ak);
    for (int k = 0; k < na; k++) {
        const clmd_angle *t = &s->angles[k];
        aijk[k].s[0] = t->i;
        aijk[k].s[1] = t->j;
        aijk[k].s[2] = t->k;
        split(cos(t->theta0), &acs[k].s[0], &acs[k].s[1]);
        split(sin(t->theta0), &acs[k].s[2], &acs[k].s[3]);
        ak[k] = (float)t->kf;
    }
    rc = upload(o, aijk, sizeof *aijk, na, &b->angle_ijk, err);
    if (!rc) rc = upload(o, acs, sizeof *acs, na, &b->angle_cs, err);
    if (!rc) rc = upload(o, ak, sizeof *ak, na, &b->angle_k, err);
    clmd_free(aijk);
    clmd_free(acs);
    clmd_free(ak);
    if (rc) return rc;

    cl_int4 *tijkl = clmd_calloc(nt > 0 ? nt : 1, sizeof *tijkl);
    cl_float4 *tpar = clmd_calloc(nt > 0 ? nt : 1, sizeof *tpar);
    for (int k = 0; k < nt; k++) {
        const clmd_torsion *t = &s->torsions[k];
        tijkl[k].s[0] = t->i;
        tijkl[k].s[1] = t->j;
        tijkl[k].s[2] = t->k;
        tijkl[k].s[3] = t->l;
        tpar[k].s[0] = (float)t->kf;
        /* a torsion of the region (REST2's solute): the sign of its periodicity */
        const int reg = s->region && s->region[t->i] && s->region[t->j] && s->region[t->k] &&
                        s->region[t->l];
        tpar[k].s[1] = (float)(reg ? -t->periodicity : t->periodicity);
        tpar[k].s[2] = (float)cos(t->phase);
        tpar[k].s[3] = (float)sin(t->phase);
    }
    rc = upload(o, tijkl, sizeof *tijkl, nt, &b->tors_ijkl, err);
    if (!rc) rc = upload(o, tpar, sizeof *tpar, nt, &b->tors_par, err);
    clmd_free(tijkl);
    clmd_free(tpar);
    return rc;
}

/* The current box into the kernel, when it changed: the system's own periodicity, whatever
 * the nonbonded method (see the top of this file). */
static int set_box_args(bonded *b, const clmd_fenv *env, clmd_err *err)
{
    if (b->box_version == env->box_version) return CLMD_OK;
    clmd_dev boxdev;
    clmd_dev_box_view(&boxdev, b->sys->periodic, env->box, env->box_version);
    int rc = clmd_dev_box_args(&boxdev, b->k_terms, 18, err);
    if (rc) return rc;
    b->box_version = env->box_version;
    return CLMD_OK;
}

static int groups_of(int n) { return (n + BONDED_WG - 1) / BONDED_WG; }

static int bd_setup_device(clmd_term *t, const clmd_fenv *env, clmd_err *err)
{
    bonded *b = t->impl;
    clmd_dev *dev = env->dev;
    const clmd_system *s = b->sys;
    /* PERIODIC/TRICLINIC from the system (see the top of this file); a barostat keeps the
     * box's shape */
    clmd_dev boxdev;
    clmd_dev_box_view(&boxdev, s->periodic, env->box, env->box_version);
    boxdev.nseg = env->dev->nseg; /* the batched copies' energy slots */
    boxdev.seg_stride = env->dev->seg_stride;
    char defs[1024];
    snprintf(defs, sizeof defs, "%s#define BONDED_WG %d\n#define REGION %d\n", clmd_dev_defines(&boxdev),
             BONDED_WG, s->region != NULL);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(dev->ocl, "bonded.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, "bonded_terms", &b->k_terms, err)) ||
        (rc = upload_params(b, dev->ocl, err)))
        return rc;
    b->gb = groups_of(s->nbonds);
    b->ga = groups_of(s->nangles);
    b->ng = b->gb + b->ga + groups_of(s->ntorsions);
    cl_kernel k = b->k_terms;
    /* each copy's factors (the torsion factor is .w); any buffer without a region */
    cl_mem scale = dev->seg_scale ? dev->seg_scale : b->tors_par;
    CLMD_ARG(k, 0, dev->posq, err);
    CLMD_ARG(k, 1, dev->posq_lo, err);
    CLMD_ARG(k, 2, b->bond_ij, err);
    CLMD_ARG(k, 3, b->bond_par, err);
    CLMD_ARG(k, 4, s->nbonds, err);
    CLMD_ARG(k, 5, b->angle_ijk, err);
    CLMD_ARG(k, 6, b->angle_cs, err);
    CLMD_ARG(k, 7, b->angle_k, err);
    CLMD_ARG(k, 8, s->nangles, err);
    CLMD_ARG(k, 9, b->tors_ijkl, err);
    CLMD_ARG(k, 10, b->tors_par, err);
    CLMD_ARG(k, 11, s->ntorsions, err);
    CLMD_ARG(k, 12, dev->force, err);
    CLMD_ARG(k, 13, dev->npad, err);
    CLMD_ARG(k, 14, dev->energy, err);
    /* 15: want_energy */
    CLMD_ARG(k, 16, b->gb, err);
    CLMD_ARG(k, 17, b->ga, err);
    CLMD_ARG(k, 18 + CLMD_BOX_NARGS, scale, err);
    b->box_version = -1;
    return CLMD_OK;
}

static int bd_enqueue(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    bonded *b = t->impl;
    if (b->ng == 0) return CLMD_OK;
    int rc = set_box_args(b, env, err);
    if (rc) return rc;
    CLMD_ARG(b->k_terms, 15, want_energy, err);
    return clmd_ocl_launch(env->dev->ocl, b->k_terms, (size_t)b->ng * BONDED_WG, BONDED_WG, P_BONDED, err);
}

static void bd_destroy(clmd_term *t)
{
    bonded *b = t->impl;
    if (b->k_terms) clReleaseKernel(b->k_terms);
    cl_mem *ms[] = {&b->bond_ij, &b->bond_par, &b->angle_ijk, &b->angle_cs,
                    &b->angle_k, &b->tors_ijkl, &b->tors_par};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) clmd_ocl_release(ms[i]);
    clmd_free(b);
    clmd_free(t);
}

static const clmd_term_ops bd_ops = {"bonded", bd_setup_device, bd_enqueue, bd_reference,
                                     bd_describe, bd_destroy, NULL,
                                     bd_region_energies};

/* ---- construction ---- */

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long pair_key(int i, int j)
{
    return i < j ? (long)i << 32 | (long)j : (long)j << 32 | (long)i;
}

/* Torsions whose i-j, j-k, k-l are not all bonds (or constraints, which replace bonds). */
static int count_impropers(const clmd_system *s)
{
    int n = s->nbonds + s->nconstraints, nimp = 0;
    long *keys;
    CLMD_NEW(keys, n);
    for (int k = 0; k < s->nbonds; k++) keys[k] = pair_key(s->bonds[k].i, s->bonds[k].j);
    for (int k = 0; k < s->nconstraints; k++)
        keys[s->nbonds + k] = pair_key(s->constraints[k].i, s->constraints[k].j);
    qsort(keys, (size_t)n, sizeof *keys, cmp_long);
    for (int q = 0; q < s->ntorsions; q++) {
        const clmd_torsion *t = &s->torsions[q];
        long chain[3] = {pair_key(t->i, t->j), pair_key(t->j, t->k), pair_key(t->k, t->l)};
        for (int c = 0; c < 3; c++)
            if (!bsearch(&chain[c], keys, (size_t)n, sizeof *keys, cmp_long)) {
                nimp++;
                break;
            }
    }
    clmd_free(keys);
    return nimp;
}

int clmd_bonded_create(const clmd_system *sys, const clmd_ffplan *plan, clmd_term **out,
                       clmd_err *err)
{
    (void)plan;
    (void)err;
    *out = NULL;
    if (!sys->nbonds && !sys->nangles && !sys->ntorsions) return CLMD_OK;
    bonded *b = clmd_alloc(sizeof *b);
    b->sys = sys;
    b->nimproper = count_impropers(sys);
    clmd_term *t = clmd_alloc(sizeof *t);
    t->ops = &bd_ops;
    t->impl = b;
    *out = t;
    return CLMD_OK;
}
