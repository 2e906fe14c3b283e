#include "md/engine.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "ff/dev.h"
#include "md/constraints.h"
#include "md/mdbuf.h"
#include "md/rng.h"
#include "md/vsite.h"
#include "nlist/nlist.h"
#include "probe/probe.h"
#include "system/system.h"

enum { MAX_TERMS = 16, WG = 64, E_SLOTS = CLMD_E_NCOMP + 1 /* + kinetic */ };

struct clmd_engine {
    const clmd_system *sys;
    clmd_ffopts ff;
    clmd_engine_opts eo;
    clmd_probe *probe;
    int reference;
    clmd_term *terms[MAX_TERMS];
    int nterms;
    clmd_nlist *nl;
    int check_disp;       /* the list can go stale (cutoff methods) */
    long last_build;      /* step of the last list build */
    long step;
    int forces_valid;     /* forces in f / on the device belong to the current positions */
    int dof;
    uint32_t key[2];      /* Langevin noise key */
    clmd_constraints *cons; /* NULL without constraints */
    clmd_vsites *vs;        /* NULL without virtual sites */
    double energy[CLMD_E_NCOMP], ekin;
    /* host state (reference path; on the device path x doubles as download scratch) */
    double *x, *v, *f, *invmass;
    double *xold;         /* positions before the step: constraint directions (reference) */
    double *wrap;         /* [3n] lattice vector wrapping each atom into the box at the last list
                           * build; the force kernels see positions x + wrap (device path) */
    /* device state */
    clmd_dev dev;
    int fp64;
    size_t mixed_size;    /* bytes of one mixed4 */
    cl_mem pos, vel, posq_ref, pos_old, pos_shift;
    cl_mem maxdisp;       /* uint[2]: max squared displacement bits; constraint failure flag */
    cl_kernel k_kick_drift, k_kick, k_langevin, k_kinetic, k_com;
    cl_kernel k_kick_full, k_langevin_drift; /* Langevin split around the constraints */
    char device_desc[900];
};

void clmd_engine_opts_defaults(clmd_engine_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->device, sizeof o->device, "auto");
    o->integrator = CLMD_LANGEVIN;
    o->dt_ps = 0.002;
    o->temperature_K = 300;
    o->friction_per_ps = 1.0;
    o->seed = 1;
    o->remove_com = 1;
    o->com_interval = 100;
    o->constraint_tol = 1e-6;
}

/* Every force term's constructor; each returns no term when it does not apply. */
typedef int (*term_ctor)(const clmd_system *, const clmd_ffopts *, clmd_term **, clmd_err *);
static const term_ctor term_ctors[] = {clmd_pme_create, clmd_nonbonded_create, clmd_bonded_create,
                                       clmd_cmap_create, clmd_gbsa_create};

static int build_terms(clmd_engine *e, clmd_err *err)
{
    for (size_t k = 0; k < sizeof term_ctors / sizeof term_ctors[0]; k++) {
        clmd_term *t = NULL;
        int rc = term_ctors[k](e->sys, &e->ff, &t, err);
        if (rc) return rc;
        if (t) e->terms[e->nterms++] = t;
    }
    return CLMD_OK;
}

/* ---- device helpers ---- */

static int upload_list(clmd_engine *e, clmd_err *err)
{
    clmd_dev *d = &e->dev;
    clmd_nlist_view v = clmd_nlist_get(e->nl);
    size_t nent = (size_t)v.jstart[v.nclusters];
    int rc;
    PROBE_START(e->probe, P_UPLOAD);
    if ((size_t)v.nclusters > d->nl_cap_clusters || nent > d->nl_cap_jlist || !d->nl_jlist) {
        clmd_ocl_release(&d->nl_cluster_atoms);
        clmd_ocl_release(&d->nl_jstart);
        clmd_ocl_release(&d->nl_jlist);
        clmd_ocl_release(&d->nl_jshift);
        d->nl_cap_clusters = (size_t)v.nclusters + (size_t)v.nclusters / 4 + 16;
        d->nl_cap_jlist = nent + nent / 4 + 1024;
        if ((rc = clmd_ocl_alloc(d->ocl, sizeof(int) * CLMD_CLUSTER * d->nl_cap_clusters,
                                 &d->nl_cluster_atoms, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, sizeof(int) * (d->nl_cap_clusters + 1), &d->nl_jstart, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, sizeof(unsigned) * d->nl_cap_jlist, &d->nl_jlist, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, d->nl_cap_jlist, &d->nl_jshift, err)))
            return rc;
    }
    if ((rc = clmd_ocl_write(d->ocl, d->nl_cluster_atoms, 0,
                             sizeof(int) * CLMD_CLUSTER * (size_t)v.nclusters, v.cluster_atoms, err)) ||
        (rc = clmd_ocl_write(d->ocl, d->nl_jstart, 0, sizeof(int) * ((size_t)v.nclusters + 1),
                             v.jstart, err)) ||
        (rc = clmd_ocl_write(d->ocl, d->nl_jlist, 0, sizeof(unsigned) * nent, v.jlist, err)) ||
        (v.jshift && (rc = clmd_ocl_write(d->ocl, d->nl_jshift, 0, nent, v.jshift, err))))
        return rc;
    d->nl_nclusters = v.nclusters;
    d->nl_version++;
    CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(d->ocl), d->posq, e->posq_ref, 0, 0,
                                 sizeof(cl_float4) * (size_t)d->npad, 0, NULL, NULL),
             err);
    PROBE_STOP(e->probe, P_UPLOAD);
    return CLMD_OK;
}

/* Reads the mixed-precision positions into e->x. */
static int download_positions(clmd_engine *e, clmd_err *err)
{
    int n = e->sys->n, rc;
    void *buf = clmd_alloc(e->mixed_size * (size_t)n);
    PROBE_START(e->probe, P_DOWNLOAD);
    rc = clmd_ocl_read(e->dev.ocl, e->pos, 0, e->mixed_size * (size_t)n, buf, err);
    PROBE_STOP(e->probe, P_DOWNLOAD);
    for (int i = 0; i < n && !rc; i++)
        for (int k = 0; k < 3; k++)
            e->x[3 * i + k] = e->fp64 ? ((double *)buf)[4 * i + k] : ((float *)buf)[4 * i + k];
    clmd_free(buf);
    return rc;
}

static int check_finite(clmd_engine *e, const double *x, clmd_err *err)
{
    for (int i = 0; i < 3 * e->sys->n; i++)
        if (!isfinite(x[i]) || fabs(x[i]) > 1e6)
            return clmd_err_set(err, CLMD_ERUNTIME, "the simulation blew up at step %ld: particle "
                                "%d has position %g nm (try a smaller timestep, or minimize/"
                                "equilibrate the input)", e->step, i / 3 + 1, x[i]);
    return CLMD_OK;
}

/* Takes the list's per-atom image counts as the wrap of every atom (host copy). */
static void update_wrap(clmd_engine *e)
{
    clmd_nlist_view v = clmd_nlist_get(e->nl);
    const double(*b)[3] = e->sys->box;
    for (int i = 0; i < e->sys->n; i++)
        for (int d = 0; d < 3; d++)
            e->wrap[3 * i + d] = v.image ? v.image[3 * i] * b[0][d] + v.image[3 * i + 1] * b[1][d] +
                                               v.image[3 * i + 2] * b[2][d]
                                         : 0.0;
}

static int upload_wrap(clmd_engine *e, clmd_err *err)
{
    int n = e->sys->n, np = e->dev.npad;
    void *buf = clmd_calloc(np, e->mixed_size);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            if (e->fp64) ((double *)buf)[4 * i + k] = e->wrap[3 * i + k];
            else ((float *)buf)[4 * i + k] = (float)e->wrap[3 * i + k];
        }
    int rc = clmd_ocl_write(e->dev.ocl, e->pos_shift, 0, e->mixed_size * np, buf, err);
    clmd_free(buf);
    return rc;
}

/* The float pair the force kernels read, for positions x wrapped as at the last build, into
 * buffer `dst` (posq with charges, or the reference copy) and optionally posq_lo. */
static int upload_posq(clmd_engine *e, const double *x, cl_mem dst, cl_mem dst_lo, clmd_err *err)
{
    const clmd_system *s = e->sys;
    int n = s->n, np = e->dev.npad, rc;
    cl_float4 *pq = clmd_calloc(np, sizeof *pq), *pl = clmd_calloc(np, sizeof *pl);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            double xw = x[3 * i + k] + e->wrap[3 * i + k];
            pq[i].s[k] = (float)xw;
            if (e->fp64) pl[i].s[k] = (float)(xw - (double)pq[i].s[k]);
        }
        pq[i].s[3] = (float)s->charge[i];
    }
    /* padding atoms sit far away with no charge */
    for (int i = n; i < np; i++) pq[i].s[0] = pq[i].s[1] = pq[i].s[2] = 1e4f;
    rc = clmd_ocl_write(e->dev.ocl, dst, 0, sizeof *pq * np, pq, err);
    if (!rc && dst_lo) rc = clmd_ocl_write(e->dev.ocl, dst_lo, 0, sizeof *pl * np, pl, err);
    clmd_free(pq);
    clmd_free(pl);
    return rc;
}

/* With neighbor_skin: auto, each rebuild picks the buffer that minimizes a model of the cost
 * per step: pair work P(s) (the list's lane pairs, growing as (cutoff + s)^3) plus one build
 * (R work units per atom) spread over the steps a list lasts L(s) (atoms move ballistically
 * over a few steps, so L grows in proportion to s). P and L are measured on the list just
 * retired; R is the cost of building the list for one atom in units of one lane pair in the
 * kernel, which depends on the kind of device: ~300 on a CPU device (host and kernels share the
 * cores), ~30000 on a GPU (kernels are fast, the build is on the host). The change per rebuild
 * is limited to x2 or x0.5. The model counts pairs and steps, never time, so runs stay
 * deterministic. */
static void tune_skin(clmd_engine *e)
{
    long lasted = e->step - e->last_build;
    e->last_build = e->step;
    if (!e->ff.skin_auto || !e->check_disp || lasted <= 0) return;
    clmd_nlist_view v = clmd_nlist_get(e->nl);
    if (v.npairs_in_list <= 0) return;
    int gpu = !e->reference && clmd_ocl_is_gpu(e->dev.ocl);
    const double R = gpu ? 30000.0 : 300.0, rc = e->ff.cutoff_nm;
    const double s0 = clmd_nlist_skin(e->nl), P0 = (double)v.npairs_in_list, L0 = (double)lasted;
    double best = s0, best_f = INFINITY;
    for (int k = 0; k <= 72; k++) {
        double s = 0.04 + 0.005 * k; /* 0.04 .. 0.40 nm */
        if (s > 2 * s0 || s < 0.5 * s0) continue;
        double r = (rc + s) / (rc + s0);
        double f = P0 * r * r * r + R * e->sys->n / (L0 * s / s0);
        if (f < best_f) {
            best_f = f;
            best = s;
        }
    }
    if (best != s0) clmd_nlist_set_skin(e->nl, best);
}

static int rebuild_list(clmd_engine *e, clmd_err *err)
{
    int rc;
    if ((rc = check_finite(e, e->x, err))) return rc;
    tune_skin(e);
    PROBE_START(e->probe, P_NLIST_BUILD);
    rc = clmd_nlist_build(e->nl, e->x, err);
    PROBE_STOP(e->probe, P_NLIST_BUILD);
    clmd_probe_count(e->probe, "nlist_builds", 1);
    if (rc) return rc;
    if (e->reference) return CLMD_OK;
    /* positions re-wrapped as at this build: the list's entry images refer to them */
    update_wrap(e);
    PROBE_START(e->probe, P_UPLOAD);
    rc = upload_wrap(e, err);
    if (!rc) rc = upload_posq(e, e->x, e->dev.posq, e->dev.posq_lo, err);
    PROBE_STOP(e->probe, P_UPLOAD);
    return rc ? rc : upload_list(e, err);
}

static int upload_state(clmd_engine *e, const double *x, const double *v, clmd_err *err)
{
    int n = e->sys->n, np = e->dev.npad, rc = CLMD_OK;
    if (x) {
        void *pm = clmd_calloc(np, e->mixed_size);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) {
                if (e->fp64) ((double *)pm)[4 * i + k] = x[3 * i + k];
                else ((float *)pm)[4 * i + k] = (float)x[3 * i + k];
            }
        rc = upload_posq(e, x, e->dev.posq, e->dev.posq_lo, err);
        if (!rc) rc = clmd_ocl_write(e->dev.ocl, e->pos, 0, e->mixed_size * np, pm, err);
        clmd_free(pm);
    }
    if (v && !rc) {
        void *vm = clmd_calloc(np, e->mixed_size);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 3; k++) {
                if (e->fp64) ((double *)vm)[4 * i + k] = v[3 * i + k];
                else ((float *)vm)[4 * i + k] = (float)v[3 * i + k];
            }
            if (e->fp64) ((double *)vm)[4 * i + 3] = e->invmass[i];
            else ((float *)vm)[4 * i + 3] = (float)e->invmass[i];
        }
        rc = clmd_ocl_write(e->dev.ocl, e->vel, 0, e->mixed_size * np, vm, err);
        clmd_free(vm);
    }
    return rc;
}

/* verlet_kick's arguments: v += kick F/m (kick = dt/2 for Verlet, dt for the Langevin kick). */
static int set_kick_args(clmd_engine *e, cl_kernel k, double kick, clmd_err *err)
{
    /* the kernel applies half its step argument */
    cl_double step_d = 2 * kick;
    cl_float step_f = (float)step_d;
    int n = e->sys->n;
    CLMD_ARG(k, 0, e->vel, err);
    CLMD_ARG(k, 1, e->dev.force, err);
    CLMD_ARG(k, 2, n, err);
    CLMD_ARG(k, 3, e->dev.npad, err);
    CL_CHECK(e->fp64 ? clSetKernelArg(k, 4, sizeof step_d, &step_d)
                     : clSetKernelArg(k, 4, sizeof step_f, &step_f), err);
    return CLMD_OK;
}

static int setup_device(clmd_engine *e, clmd_err *err)
{
    const clmd_system *s = e->sys;
    clmd_dev *d = &e->dev;
    int rc;
    if ((rc = clmd_ocl_open(e->eo.device, e->probe, &d->ocl, err))) return rc;
    snprintf(e->device_desc, sizeof e->device_desc, "%s", clmd_ocl_description(d->ocl));
    d->n = s->n;
    d->npad = (s->n + 63) / 64 * 64;
    d->periodic = s->periodic && e->ff.method != CLMD_NB_NOCUTOFF;
    d->triclinic = d->periodic && !clmd_system_box_is_rectangular(s);
    if (d->periodic) clmd_dev_set_box(d, s->box);
    {
        cl_float4 table[54];
        clmd_dev_shift_table(s->box, table);
        if ((rc = clmd_ocl_alloc(d->ocl, sizeof table, &d->shift_table, err)) ||
            (rc = clmd_ocl_write(d->ocl, d->shift_table, 0, sizeof table, table, err)))
            return rc;
    }
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmd_ocl_device(d->ocl), CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    e->fp64 = fp != 0;
    e->mixed_size = e->fp64 ? sizeof(cl_double4) : sizeof(cl_float4);
    size_t np = (size_t)d->npad;
    if ((rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &d->posq, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &d->posq_lo, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_long) * 3 * np, &d->force, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_long) * E_SLOTS, &d->energy, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->pos, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->vel, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &e->posq_ref, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_uint) * 2, &e->maxdisp, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->pos_shift, err)) ||
        (rc = clmd_ocl_zero(d->ocl, e->maxdisp, sizeof(cl_uint) * 2, err)))
        return rc;
    if (e->cons && (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->pos_old, err))) return rc;
    update_wrap(e);
    if ((rc = upload_wrap(e, err))) return rc;

    char defs[256];
    snprintf(defs, sizeof defs, "#define HAVE_FP64 %d\n#define WG %d\n", e->fp64, WG);
    cl_program prog;
    if ((rc = clmd_ocl_program(d->ocl, "integrate.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "verlet_kick_drift", &e->k_kick_drift, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "verlet_kick", &e->k_kick, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "langevin_middle", &e->k_langevin, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "kinetic", &e->k_kinetic, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "remove_com", &e->k_com, err)))
        return rc;
    if (e->cons && ((rc = clmd_ocl_kernel(d->ocl, prog, "verlet_kick", &e->k_kick_full, err)) ||
                    (rc = clmd_ocl_kernel(d->ocl, prog, "langevin_drift", &e->k_langevin_drift, err))))
        return rc;

    /* static kernel arguments */
    int n = s->n;
    cl_double dt_d = e->eo.dt_ps;
    cl_float dt_f = (float)e->eo.dt_ps;
    double a = exp(-e->eo.friction_per_ps * e->eo.dt_ps);
    double b_kt = sqrt((1 - a * a) * CLMD_BOLTZMANN * e->eo.temperature_K);
    cl_double a_d = a, bkt_d = b_kt;
    cl_float a_f = (float)a, bkt_f = (float)b_kt;
    cl_uint2 key = {{e->key[0], e->key[1]}};
#define MIXED_ARG(k, i, dval, fval) \
    CL_CHECK(e->fp64 ? clSetKernelArg(k, i, sizeof dval, &dval) : clSetKernelArg(k, i, sizeof fval, &fval), err)
    cl_kernel k = e->k_kick_drift;
    CLMD_ARG(k, 0, d->posq, err);
    CLMD_ARG(k, 1, d->posq_lo, err);
    CLMD_ARG(k, 2, e->pos, err);
    CLMD_ARG(k, 3, e->vel, err);
    CLMD_ARG(k, 4, d->force, err);
    CLMD_ARG(k, 5, n, err);
    CLMD_ARG(k, 6, d->npad, err);
    MIXED_ARG(k, 7, dt_d, dt_f);
    CLMD_ARG(k, 8, e->posq_ref, err);
    CLMD_ARG(k, 9, e->maxdisp, err);
    CLMD_ARG(k, 10, e->pos_shift, err);
    if ((rc = set_kick_args(e, e->k_kick, 0.5 * e->eo.dt_ps, err))) return rc;
    k = e->k_langevin;
    CLMD_ARG(k, 0, d->posq, err);
    CLMD_ARG(k, 1, d->posq_lo, err);
    CLMD_ARG(k, 2, e->pos, err);
    CLMD_ARG(k, 3, e->vel, err);
    CLMD_ARG(k, 4, d->force, err);
    CLMD_ARG(k, 5, n, err);
    CLMD_ARG(k, 6, d->npad, err);
    MIXED_ARG(k, 7, dt_d, dt_f);
    MIXED_ARG(k, 8, a_d, a_f);
    MIXED_ARG(k, 9, bkt_d, bkt_f);
    CLMD_ARG(k, 10, key, err);
    CLMD_ARG(k, 13, e->posq_ref, err);
    CLMD_ARG(k, 14, e->maxdisp, err);
    CLMD_ARG(k, 15, e->pos_shift, err);
    if (e->cons) {
        /* the full Langevin kick: verlet_kick with a kick of dt */
        if ((rc = set_kick_args(e, e->k_kick_full, e->eo.dt_ps, err))) return rc;
        k = e->k_langevin_drift;
        CLMD_ARG(k, 0, d->posq, err);
        CLMD_ARG(k, 1, d->posq_lo, err);
        CLMD_ARG(k, 2, e->pos, err);
        CLMD_ARG(k, 3, e->vel, err);
        CLMD_ARG(k, 4, n, err);
        MIXED_ARG(k, 5, dt_d, dt_f);
        MIXED_ARG(k, 6, a_d, a_f);
        MIXED_ARG(k, 7, bkt_d, bkt_f);
        CLMD_ARG(k, 8, key, err);
        CLMD_ARG(k, 11, e->posq_ref, err);
        CLMD_ARG(k, 12, e->maxdisp, err);
        CLMD_ARG(k, 13, e->pos_shift, err);
    }
#undef MIXED_ARG
    int slot = CLMD_E_NCOMP;
    k = e->k_kinetic;
    CLMD_ARG(k, 0, e->vel, err);
    CLMD_ARG(k, 1, n, err);
    CLMD_ARG(k, 2, d->energy, err);
    CLMD_ARG(k, 3, slot, err);
    k = e->k_com;
    CLMD_ARG(k, 0, e->vel, err);
    CLMD_ARG(k, 1, n, err);

    clmd_mdbuf mb = {d->ocl, e->fp64, n, d->npad, e->pos, e->pos_old, e->vel, d->posq, d->posq_lo,
                     e->posq_ref, e->pos_shift, e->maxdisp, d->force};
    if (e->cons && (rc = clmd_constraints_setup_device(e->cons, &mb, err))) return rc;
    if (e->vs && (rc = clmd_vsites_setup_device(e->vs, &mb, err))) return rc;
    /* sites placed by the device kernel from the start, as after set_positions, so a restarted
     * run sees the same bits */
    if ((rc = upload_state(e, e->x, e->v, err))) return rc;
    if (e->vs && (rc = clmd_vsites_enqueue_build(e->vs, err))) return rc;
    clmd_fenv env = {s, &e->ff, e->nl, d, e->probe, 0};
    for (int t = 0; t < e->nterms; t++)
        if (e->terms[t]->ops->setup_device &&
            (rc = e->terms[t]->ops->setup_device(e->terms[t], &env, err)))
            return rc;
        else if (!e->terms[t]->ops->enqueue)
            return clmd_err_set(err, CLMD_ERUNTIME, "the %s term has no OpenCL implementation yet; "
                                "use --device reference", e->terms[t]->ops->name);
    return CLMD_OK;
}

int clmd_engine_create(const clmd_system *sys, const clmd_ffopts *ff, const clmd_engine_opts *eo,
                       clmd_probe *probe, clmd_engine **out, clmd_err *err)
{
    *out = NULL;
    clmd_engine *e = clmd_alloc(sizeof *e);
    e->sys = sys;
    e->ff = *ff;
    e->eo = *eo;
    e->probe = probe;
    e->reference = strcmp(eo->device, "reference") == 0;
    e->dof = clmd_system_dof(sys, eo->remove_com);
    clmd_seed_key(eo->seed, e->key);
    int n = sys->n, rc;
    CLMD_NEW(e->x, 3 * n);
    CLMD_NEW(e->v, 3 * n);
    CLMD_NEW(e->f, 3 * n);
    CLMD_NEW(e->invmass, n);
    CLMD_NEW(e->wrap, 3 * n);
    memcpy(e->x, sys->x, sizeof(double) * 3 * (size_t)n);
    if (sys->v) memcpy(e->v, sys->v, sizeof(double) * 3 * (size_t)n);
    for (int i = 0; i < n; i++) e->invmass[i] = sys->mass[i] > 0 ? 1 / sys->mass[i] : 0;

    PROBE_START(probe, P_SETUP);
    if ((rc = build_terms(e, err))) goto fail;
    if ((rc = clmd_constraints_create(sys, eo->constraint_tol, 1, &e->cons, err)) ||
        (rc = clmd_vsites_create(sys, &e->vs, err)))
        goto fail;
    if (e->cons) CLMD_NEW(e->xold, 3 * n);
    /* forces are always evaluated at sites placed from their parents, whatever the input held */
    if (e->vs) clmd_vsites_build_ref(e->vs, e->x);
    if (ff->method == CLMD_NB_NOCUTOFF) {
        /* every pair, once: an open list that never goes stale */
        rc = clmd_nlist_create(sys, 0, 1e6, 1e6, &e->nl, err);
    } else {
        e->check_disp = 1;
        rc = clmd_nlist_create(sys, sys->periodic, ff->cutoff_nm, ff->skin_nm, &e->nl, err);
    }
    if (rc) goto fail;
    if ((rc = check_finite(e, e->x, err))) goto fail;
    PROBE_START(probe, P_NLIST_BUILD);
    rc = clmd_nlist_build(e->nl, e->x, err);
    PROBE_STOP(probe, P_NLIST_BUILD);
    if (rc) goto fail;
    if (e->reference) {
        snprintf(e->device_desc, sizeof e->device_desc, "reference (double-precision CPU)");
    } else {
        if ((rc = setup_device(e, err))) goto fail;
        if ((rc = upload_list(e, err))) goto fail;
    }
    PROBE_STOP(probe, P_SETUP);
    *out = e;
    return CLMD_OK;
fail:
    PROBE_STOP(probe, P_SETUP);
    clmd_engine_destroy(&e);
    return rc;
}

void clmd_engine_destroy(clmd_engine **pe)
{
    if (!pe || !*pe) return;
    clmd_engine *e = *pe;
    if (e->dev.ocl) clmd_ocl_finish(e->dev.ocl, NULL);
    for (int t = 0; t < e->nterms; t++) clmd_term_destroy(&e->terms[t]);
    clmd_nlist_destroy(&e->nl);
    clmd_constraints_destroy(&e->cons);
    clmd_vsites_destroy(&e->vs);
    cl_kernel ks[] = {e->k_kick_drift, e->k_kick, e->k_langevin, e->k_kinetic, e->k_com,
                      e->k_kick_full, e->k_langevin_drift};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    clmd_dev *d = &e->dev;
    cl_mem *ms[] = {&d->shift_table, &d->nl_jshift, &d->posq, &d->posq_lo, &d->force, &d->energy, &d->nl_cluster_atoms, &d->nl_jstart,
                    &d->nl_jlist, &e->pos, &e->vel, &e->posq_ref, &e->pos_shift, &e->maxdisp, &e->pos_old};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) clmd_ocl_release(ms[i]);
    clmd_ocl_close(&d->ocl);
    clmd_free(e->x);
    clmd_free(e->v);
    clmd_free(e->f);
    clmd_free(e->invmass);
    clmd_free(e->wrap);
    clmd_free(e->xold);
    clmd_free(e);
    *pe = NULL;
}

/* ---- force evaluation ---- */

static int forces_device(clmd_engine *e, int want_energy, clmd_err *err)
{
    clmd_dev *d = &e->dev;
    int rc;
    PROBE_START(e->probe, P_FORCE_CLEAR);
    rc = clmd_ocl_zero(d->ocl, d->force, sizeof(cl_long) * 3 * (size_t)d->npad, err);
    if (!rc && want_energy) rc = clmd_ocl_zero(d->ocl, d->energy, sizeof(cl_long) * E_SLOTS, err);
    PROBE_STOP(e->probe, P_FORCE_CLEAR);
    if (rc) return rc;
    clmd_fenv env = {e->sys, &e->ff, e->nl, d, e->probe, e->step};
    for (int t = 0; t < e->nterms; t++)
        if ((rc = e->terms[t]->ops->enqueue(e->terms[t], &env, want_energy, err))) return rc;
    for (int t = 0; t < e->nterms; t++)
        if (e->terms[t]->ops->finish &&
            (rc = e->terms[t]->ops->finish(e->terms[t], &env, want_energy, err)))
            return rc;
    return e->vs ? clmd_vsites_enqueue_spread(e->vs, err) : CLMD_OK;
}

static int forces_reference(clmd_engine *e, clmd_err *err)
{
    memset(e->f, 0, sizeof(double) * 3 * (size_t)e->sys->n);
    memset(e->energy, 0, sizeof e->energy);
    clmd_fenv env = {e->sys, &e->ff, e->nl, NULL, e->probe, e->step};
    for (int t = 0; t < e->nterms; t++) {
        int rc = e->terms[t]->ops->reference(e->terms[t], &env, e->x, e->f, e->energy, err);
        if (rc) return rc;
    }
    if (e->vs) {
        PROBE_START(e->probe, P_VSITE_SPREAD);
        clmd_vsites_spread_ref(e->vs, e->f);
        PROBE_STOP(e->probe, P_VSITE_SPREAD);
    }
    return CLMD_OK;
}

static int read_energies(clmd_engine *e, clmd_err *err)
{
    cl_long buf[E_SLOTS];
    PROBE_START(e->probe, P_DOWNLOAD);
    int rc = clmd_ocl_read(e->dev.ocl, e->dev.energy, 0, sizeof buf, buf, err);
    PROBE_STOP(e->probe, P_DOWNLOAD);
    if (rc) return rc;
    for (int c = 0; c < CLMD_E_NCOMP; c++) e->energy[c] = (double)buf[c] / CLMD_FIXED_SCALE;
    e->ekin = (double)buf[CLMD_E_NCOMP] / CLMD_FIXED_SCALE;
    return CLMD_OK;
}

static double kinetic_reference(const clmd_engine *e)
{
    double k = 0;
    for (int i = 0; i < e->sys->n; i++)
        if (e->invmass[i] > 0)
            k += 0.5 * (e->v[3 * i] * e->v[3 * i] + e->v[3 * i + 1] * e->v[3 * i + 1] +
                        e->v[3 * i + 2] * e->v[3 * i + 2]) / e->invmass[i];
    return k;
}

static void remove_com_reference(clmd_engine *e)
{
    double p[3] = {0, 0, 0}, m = 0;
    for (int i = 0; i < e->sys->n; i++) {
        if (e->invmass[i] == 0) continue;
        double mi = 1 / e->invmass[i];
        for (int k = 0; k < 3; k++) p[k] += mi * e->v[3 * i + k];
        m += mi;
    }
    if (m == 0) return;
    for (int i = 0; i < e->sys->n; i++)
        if (e->invmass[i] != 0)
            for (int k = 0; k < 3; k++) e->v[3 * i + k] -= p[k] / m;
}

static int ensure_forces(clmd_engine *e, int want_energy, clmd_err *err)
{
    if (e->forces_valid && !want_energy) return CLMD_OK;
    int rc = e->reference ? forces_reference(e, err) : forces_device(e, want_energy, err);
    if (!rc) e->forces_valid = 1;
    return rc;
}

/* ---- stepping ---- */

static int constrain_positions_reference(clmd_engine *e, clmd_err *err)
{
    PROBE_START(e->probe, P_CONSTRAINTS);
    int rc = clmd_constraints_positions_ref(e->cons, e->xold, e->x, e->v, e->eo.dt_ps, err);
    PROBE_STOP(e->probe, P_CONSTRAINTS);
    return rc ? clmd_err_prefix(err, "step %ld: ", e->step) : CLMD_OK;
}

static int constrain_velocities_reference(clmd_engine *e, clmd_err *err)
{
    PROBE_START(e->probe, P_CONSTRAINTS);
    int rc = clmd_constraints_velocities_ref(e->cons, e->x, e->v, e->eo.dt_ps, err);
    PROBE_STOP(e->probe, P_CONSTRAINTS);
    return rc ? clmd_err_prefix(err, "step %ld: ", e->step) : CLMD_OK;
}

static void build_vsites_reference(clmd_engine *e)
{
    PROBE_START(e->probe, P_VSITE_BUILD);
    clmd_vsites_build_ref(e->vs, e->x);
    PROBE_STOP(e->probe, P_VSITE_BUILD);
}

/* Order of one step, as OpenMM's integrators with constraints:
 *   Verlet    v += dt/2 F/m; x += dt v; SHAKE x (directions of the old x), v += shift/dt;
 *             sites; forces; v += dt/2 F/m; RATTLE v.
 *   Langevin  v += dt F/m; RATTLE v; x += dt/2 v; O step; x += dt/2 v; SHAKE x, v += shift/dt;
 *             sites; forces. */
static int step_reference(clmd_engine *e, int want_energy, clmd_err *err)
{
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    int rc;
    if (e->cons) memcpy(e->xold, e->x, sizeof(double) * 3 * (size_t)n);
    PROBE_START(e->probe, P_INTEGRATE);
    if (e->eo.integrator == CLMD_VERLET) {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) {
                e->v[3 * i + k] += 0.5 * dt * e->invmass[i] * e->f[3 * i + k];
                if (e->invmass[i] != 0) e->x[3 * i + k] += dt * e->v[3 * i + k];
            }
    } else {
        double a = exp(-e->eo.friction_per_ps * dt);
        double b_kt = sqrt((1 - a * a) * CLMD_BOLTZMANN * e->eo.temperature_K);
        if (e->cons) {
            for (int i = 0; i < 3 * n; i++) e->v[i] += dt * e->invmass[i / 3] * e->f[i];
            PROBE_STOP(e->probe, P_INTEGRATE);
            if ((rc = constrain_velocities_reference(e, err))) return rc;
            PROBE_START(e->probe, P_INTEGRATE);
        }
        for (int i = 0; i < n; i++) {
            if (e->invmass[i] == 0) continue;
            double g[3];
            clmd_gaussian3(e->key, (uint32_t)i, (uint64_t)e->step, g);
            double sd = b_kt * sqrt(e->invmass[i]);
            for (int k = 0; k < 3; k++) {
                double *v = &e->v[3 * i + k], *x = &e->x[3 * i + k];
                if (!e->cons) *v += dt * e->invmass[i] * e->f[3 * i + k];
                *x += 0.5 * dt * *v;
                *v = a * *v + sd * g[k];
                *x += 0.5 * dt * *v;
            }
        }
    }
    PROBE_STOP(e->probe, P_INTEGRATE);
    if (e->cons && (rc = constrain_positions_reference(e, err))) return rc;
    if (e->vs) build_vsites_reference(e);
    e->step++;
    e->forces_valid = 0;
    if (e->check_disp) {
        PROBE_START(e->probe, P_NLIST_CHECK);
        int stale = clmd_nlist_needs_rebuild(e->nl, e->x);
        PROBE_STOP(e->probe, P_NLIST_CHECK);
        if (stale && (rc = rebuild_list(e, err))) return rc;
    }
    if ((rc = ensure_forces(e, want_energy, err))) return rc;
    if (e->eo.integrator == CLMD_VERLET) {
        PROBE_START(e->probe, P_INTEGRATE);
        for (int i = 0; i < 3 * n; i++) e->v[i] += 0.5 * dt * e->invmass[i / 3] * e->f[i];
        PROBE_STOP(e->probe, P_INTEGRATE);
        if (e->cons && (rc = constrain_velocities_reference(e, err))) return rc;
    }
    if (e->eo.remove_com && e->eo.com_interval > 0 && e->step % e->eo.com_interval == 0)
        remove_com_reference(e);
    if (want_energy) e->ekin = kinetic_reference(e);
    return CLMD_OK;
}

/* pos_old = pos: the directions the position constraints keep. */
static int save_old_positions(clmd_engine *e, clmd_err *err)
{
    CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(e->dev.ocl), e->pos, e->pos_old, 0, 0,
                                 e->mixed_size * (size_t)e->sys->n, 0, NULL, NULL),
             err);
    return CLMD_OK;
}

/* Reads the displacement / failure flags (one small blocking read). */
static int read_flags(clmd_engine *e, cl_uint flags[2], clmd_err *err)
{
    PROBE_START(e->probe, P_NLIST_CHECK);
    int rc = clmd_ocl_read(e->dev.ocl, e->maxdisp, 0, sizeof(cl_uint) * 2, flags, err);
    PROBE_STOP(e->probe, P_NLIST_CHECK);
    if (!rc && flags[1])
        rc = clmd_err_set(err, CLMD_ERUNTIME, "step %ld: the constraints could not be satisfied "
                          "(SHAKE did not converge to relative tolerance %g or a water's geometry "
                          "broke): the simulation blew up; try a smaller timestep",
                          e->step, e->eo.constraint_tol);
    return rc;
}

static int step_device(clmd_engine *e, int want_energy, clmd_err *err)
{
    clmd_dev *d = &e->dev;
    const int n = e->sys->n;
    const double dt = e->eo.dt_ps;
    int rc;
    /* only the displacement word; the failure flag stays until reported */
    if ((rc = clmd_ocl_zero(d->ocl, e->maxdisp, sizeof(cl_uint), err))) return rc;
    size_t global = (size_t)(n + WG - 1) / WG * WG;
    cl_uint lo = (cl_uint)e->step, hi = (cl_uint)((unsigned long)e->step >> 32);
    if (e->eo.integrator == CLMD_VERLET) {
        if (e->cons && (rc = save_old_positions(e, err))) return rc;
        rc = clmd_ocl_launch(d->ocl, e->k_kick_drift, global, WG, P_INTEGRATE, err);
        if (!rc && e->cons) rc = clmd_constraints_enqueue_positions(e->cons, dt, err);
    } else if (e->cons) {
        CLMD_ARG(e->k_langevin_drift, 9, lo, err);
        CLMD_ARG(e->k_langevin_drift, 10, hi, err);
        rc = clmd_ocl_launch(d->ocl, e->k_kick_full, global, WG, P_INTEGRATE, err);
        if (!rc) rc = clmd_constraints_enqueue_velocities(e->cons, dt, err);
        if (!rc) rc = save_old_positions(e, err);
        if (!rc) rc = clmd_ocl_launch(d->ocl, e->k_langevin_drift, global, WG, P_INTEGRATE, err);
        if (!rc) rc = clmd_constraints_enqueue_positions(e->cons, dt, err);
    } else {
        CLMD_ARG(e->k_langevin, 11, lo, err);
        CLMD_ARG(e->k_langevin, 12, hi, err);
        rc = clmd_ocl_launch(d->ocl, e->k_langevin, global, WG, P_INTEGRATE, err);
    }
    if (!rc && e->vs) rc = clmd_vsites_enqueue_build(e->vs, err);
    if (rc) return rc;
    e->step++;
    e->forces_valid = 0;
    if (e->check_disp || (want_energy && e->cons)) {
        cl_uint flags[2];
        if ((rc = read_flags(e, flags, err))) return rc;
        float d2;
        memcpy(&d2, &flags[0], sizeof d2);
        double half = 0.5 * clmd_nlist_skin(e->nl);
        if (e->check_disp && !(d2 <= half * half)) {
            if ((rc = download_positions(e, err)) || (rc = rebuild_list(e, err))) return rc;
        }
    }
    if ((rc = ensure_forces(e, want_energy, err))) return rc;
    if (e->eo.integrator == CLMD_VERLET) {
        if ((rc = clmd_ocl_launch(d->ocl, e->k_kick, global, WG, P_INTEGRATE, err))) return rc;
        if (e->cons && (rc = clmd_constraints_enqueue_velocities(e->cons, dt, err))) return rc;
    }
    if (e->eo.remove_com && e->eo.com_interval > 0 && e->step % e->eo.com_interval == 0 &&
        (rc = clmd_ocl_launch(d->ocl, e->k_com, WG, WG, P_INTEGRATE, err)))
        return rc;
    if (want_energy) {
        if ((rc = clmd_ocl_launch(d->ocl, e->k_kinetic, global, WG, P_ENERGY, err))) return rc;
        if ((rc = read_energies(e, err))) return rc;
    }
    return CLMD_OK;
}

int clmd_engine_step(clmd_engine *e, long nsteps, int want_energy, clmd_err *err)
{
    int rc = ensure_forces(e, 0, err);
    for (long s = 0; s < nsteps && !rc; s++) {
        int we = want_energy && s == nsteps - 1;
        rc = e->reference ? step_reference(e, we, err) : step_device(e, we, err);
    }
    if (!rc && want_energy) {
        double epot = 0;
        for (int c = 0; c < CLMD_E_NCOMP; c++) epot += e->energy[c];
        /* fixed-point accumulators wrap around instead of overflowing to infinity, so a
         * negative or absurd kinetic energy is the device's sign of a blow-up */
        double T = clmd_engine_temperature(e, e->ekin);
        if (!isfinite(epot) || !isfinite(e->ekin) || e->ekin < 0 || T > 1e6)
            return clmd_err_set(err, CLMD_ERUNTIME, "the simulation blew up at step %ld: "
                                "potential %g kJ/mol, temperature %g K (try a smaller timestep, "
                                "constraints, or minimize/equilibrate the input)", e->step, epot, T);
    }
    return rc;
}

int clmd_engine_evaluate(clmd_engine *e, double *energies, double *forces, clmd_err *err)
{
    int rc;
    e->forces_valid = 0;
    if ((rc = ensure_forces(e, 1, err))) return rc;
    if (e->reference) {
        e->ekin = kinetic_reference(e);
        if (forces) memcpy(forces, e->f, sizeof(double) * 3 * (size_t)e->sys->n);
    } else {
        if ((rc = clmd_ocl_launch(e->dev.ocl, e->k_kinetic, (size_t)(e->sys->n + WG - 1) / WG * WG,
                                  WG, P_ENERGY, err)) ||
            (rc = read_energies(e, err)))
            return rc;
        if (forces) {
            int np = e->dev.npad, n = e->sys->n;
            cl_long *buf = clmd_calloc(3 * (size_t)np, sizeof *buf);
            rc = clmd_ocl_read(e->dev.ocl, e->dev.force, 0, sizeof *buf * 3 * (size_t)np, buf, err);
            for (int i = 0; i < n && !rc; i++)
                for (int k = 0; k < 3; k++)
                    forces[3 * i + k] = (double)buf[i + k * np] / CLMD_FIXED_SCALE;
            clmd_free(buf);
            if (rc) return rc;
        }
    }
    if (energies) memcpy(energies, e->energy, sizeof e->energy);
    return CLMD_OK;
}

static double largest_force(const clmd_engine *e, const double *f)
{
    double m2 = 0;
    for (int i = 0; i < e->sys->n; i++) {
        if (e->invmass[i] == 0) continue;
        double f2 = f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2];
        if (f2 > m2) m2 = f2;
    }
    return sqrt(m2);
}

static double energy_sum(const double *en)
{
    double t = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) t += en[c];
    return t;
}

int clmd_engine_minimize(clmd_engine *e, long max_steps, double tol, double *fmax_out,
                         long *steps_out, clmd_err *err)
{
    const int n3 = 3 * e->sys->n;
    double *x, *xt, *f, *ft, en[CLMD_E_NCOMP];
    CLMD_NEW(x, n3);
    CLMD_NEW(xt, n3);
    CLMD_NEW(f, n3);
    CLMD_NEW(ft, n3);
    int rc = clmd_engine_get_positions(e, x, err);
    if (!rc) rc = clmd_engine_evaluate(e, en, f, err);
    double E = energy_sum(en), h = 0.01, fmax = largest_force(e, f);
    long it = 0;
    for (; !rc && it < max_steps && fmax > tol && h > 1e-7; it++) {
        for (int i = 0; i < n3; i++) xt[i] = x[i] + (e->invmass[i / 3] != 0 ? h * f[i] / fmax : 0);
        if ((rc = clmd_engine_set_positions(e, xt, err)) ||
            (rc = clmd_engine_apply_constraints(e, err)) ||
            (rc = clmd_engine_evaluate(e, en, ft, err)))
            break;
        double Et = energy_sum(en);
        if (isfinite(Et) && Et < E) {
            if ((rc = clmd_engine_get_positions(e, x, err))) break;
            memcpy(f, ft, sizeof(double) * (size_t)n3);
            E = Et;
            fmax = largest_force(e, f);
            h *= 1.2;
        } else {
            h *= 0.2;
        }
    }
    /* leave the engine at the best positions found */
    if (!rc) rc = clmd_engine_set_positions(e, x, err);
    if (!rc) rc = clmd_engine_evaluate(e, en, NULL, err);
    if (fmax_out) *fmax_out = fmax;
    if (steps_out) *steps_out = it;
    clmd_free(x);
    clmd_free(xt);
    clmd_free(f);
    clmd_free(ft);
    return rc;
}

void clmd_engine_energies(const clmd_engine *e, double *components, double *potential,
                          double *kinetic)
{
    double epot = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) {
        if (components) components[c] = e->energy[c];
        epot += e->energy[c];
    }
    if (potential) *potential = epot;
    if (kinetic) *kinetic = e->ekin;
}

double clmd_engine_temperature(const clmd_engine *e, double kinetic)
{
    return 2 * kinetic / (e->dof * CLMD_BOLTZMANN);
}

int clmd_engine_dof(const clmd_engine *e) { return e->dof; }

int clmd_engine_get_positions(clmd_engine *e, double *x, clmd_err *err)
{
    if (!e->reference) {
        int rc = download_positions(e, err);
        if (rc) return rc;
    }
    memcpy(x, e->x, sizeof(double) * 3 * (size_t)e->sys->n);
    return CLMD_OK;
}

int clmd_engine_get_velocities(clmd_engine *e, double *v, clmd_err *err)
{
    int n = e->sys->n;
    if (e->reference) {
        memcpy(v, e->v, sizeof(double) * 3 * (size_t)n);
        return CLMD_OK;
    }
    void *buf = clmd_alloc(e->mixed_size * (size_t)n);
    int rc = clmd_ocl_read(e->dev.ocl, e->vel, 0, e->mixed_size * (size_t)n, buf, err);
    for (int i = 0; i < n && !rc; i++)
        for (int k = 0; k < 3; k++)
            v[3 * i + k] = e->fp64 ? ((double *)buf)[4 * i + k] : ((float *)buf)[4 * i + k];
    clmd_free(buf);
    return rc;
}

int clmd_engine_set_positions(clmd_engine *e, const double *x, clmd_err *err)
{
    memcpy(e->x, x, sizeof(double) * 3 * (size_t)e->sys->n);
    e->forces_valid = 0;
    if (e->vs) build_vsites_reference(e);
    if (!e->reference) {
        int rc;
        if ((rc = upload_state(e, e->x, NULL, err))) return rc;
        /* the device places its own sites, as it does after every step */
        if (e->vs && (rc = clmd_vsites_enqueue_build(e->vs, err))) return rc;
    }
    if (e->check_disp && clmd_nlist_needs_rebuild(e->nl, e->x)) return rebuild_list(e, err);
    return CLMD_OK;
}

int clmd_engine_apply_constraints(clmd_engine *e, clmd_err *err)
{
    int rc;
    if (!e->cons) return CLMD_OK;
    e->forces_valid = 0;
    if (e->reference) {
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_positions_ref(e->cons, e->x, e->x, NULL, 0, err);
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return rc;
        if (e->vs) build_vsites_reference(e);
        if ((rc = constrain_velocities_reference(e, err))) return rc;
    } else {
        cl_uint flags[2];
        if ((rc = save_old_positions(e, err)) ||
            (rc = clmd_constraints_enqueue_positions(e->cons, 0, err)) ||
            (e->vs && (rc = clmd_vsites_enqueue_build(e->vs, err))) ||
            (rc = clmd_constraints_enqueue_velocities(e->cons, e->eo.dt_ps, err)) ||
            (rc = read_flags(e, flags, err)) || (rc = download_positions(e, err)))
            return rc;
    }
    if (e->check_disp && clmd_nlist_needs_rebuild(e->nl, e->x)) return rebuild_list(e, err);
    return CLMD_OK;
}

int clmd_engine_set_velocities(clmd_engine *e, const double *v, clmd_err *err)
{
    memcpy(e->v, v, sizeof(double) * 3 * (size_t)e->sys->n);
    return e->reference ? CLMD_OK : upload_state(e, NULL, v, err);
}

long clmd_engine_step_count(const clmd_engine *e) { return e->step; }
void clmd_engine_set_step_count(clmd_engine *e, long step) { e->step = step; }

int clmd_engine_get_list_reference(clmd_engine *e, double *x)
{
    memcpy(x, clmd_nlist_reference_positions(e->nl), sizeof(double) * 3 * (size_t)e->sys->n);
    return CLMD_OK;
}

int clmd_engine_set_list_reference(clmd_engine *e, const double *xref, clmd_err *err)
{
    int rc;
    PROBE_START(e->probe, P_NLIST_BUILD);
    rc = clmd_nlist_build(e->nl, xref, err);
    PROBE_STOP(e->probe, P_NLIST_BUILD);
    if (rc || e->reference) return rc;
    /* wraps as the original build made them; the device's list reference is the float copy of
     * xref so wrapped, as the original run's copy of its positions at that build was */
    update_wrap(e);
    if ((rc = download_positions(e, err)) || (rc = upload_wrap(e, err)) ||
        (rc = upload_posq(e, e->x, e->dev.posq, e->dev.posq_lo, err)) ||
        (rc = upload_list(e, err)) || (rc = upload_posq(e, xref, e->posq_ref, NULL, err)))
        return rc;
    e->forces_valid = 0;
    return CLMD_OK;
}

void clmd_engine_get_list_state(const clmd_engine *e, double *skin_nm, long *last_build_step)
{
    *skin_nm = clmd_nlist_skin(e->nl);
    *last_build_step = e->last_build;
}

void clmd_engine_set_list_state(clmd_engine *e, double skin_nm, long last_build_step)
{
    clmd_nlist_set_skin(e->nl, skin_nm);
    e->last_build = last_build_step;
}

const char *clmd_engine_device(const clmd_engine *e) { return e->device_desc; }
const char *clmd_engine_driver(const clmd_engine *e)
{
    return e->reference ? "none" : clmd_ocl_driver_version(e->dev.ocl);
}
int clmd_engine_is_reference(const clmd_engine *e) { return e->reference; }
long clmd_engine_list_builds(const clmd_engine *e) { return clmd_nlist_builds(e->nl); }

void clmd_engine_describe(const clmd_engine *e, FILE *out)
{
    for (int t = 0; t < e->nterms; t++)
        if (e->terms[t]->ops->describe) e->terms[t]->ops->describe(e->terms[t], out);
    if (e->cons) {
        int nw, ncl, nsh;
        clmd_constraints_counts(e->cons, &nw, &ncl, &nsh);
        fprintf(out, "constraints: %d (SETTLE: %d waters; SHAKE/RATTLE: %d in %d clusters), "
                "relative tolerance %g\n", e->sys->nconstraints, nw, nsh, ncl,
                clmd_constraints_tolerance(e->cons));
    }
    if (e->vs)
        fprintf(out, "virtual sites: %d (three-particle averages)\n", clmd_vsites_count(e->vs));
}
