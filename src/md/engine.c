#include "md/engine.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/mem.h"
#include "io/checkpoint.h"
#include "md/constraints.h"
#include "md/engine_impl.h"
#include "md/rng.h"
#include "md/vsite.h"
#include "nlist/nlist.h"
#include "nlist/pairlist.h"
#include "nlist/verletbuf.h"
#include "probe/probe.h"
#include "state/state.h"
#include "system/box.h"
#include "system/molecules.h"
#include "system/system.h"

#define WG CLMD_ENGINE_WG
enum { E_SLOTS = CLMD_E_SLOTS /* components, kinetic, overflow word */, NFLAGS = 6,
       FLAG_PRUNE = 4 /* the prune's words (nlist/pairlist.h) */ };

/* Bar to kJ/mol/nm^3: 1e5 Pa * 1e-27 m^3/nm^3 * N_A / 1000. */
#define CLMD_BAR_TO_KJ_NM3 (6.02214076e23 * 1e-25)

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
typedef int (*term_ctor)(const clmd_system *, const clmd_ffplan *, clmd_term **, clmd_err *);
static const term_ctor term_ctors[] = {clmd_pme_create, clmd_nonbonded_create, clmd_bonded_create,
                                       clmd_cmap_create, clmd_gbsa_create};

static size_t groups(int items) { return (size_t)(items + WG - 1) / WG * WG; }

/* The device force buffer: three blocks of npad, then the force overflow word. */
static size_t force_bytes(const clmd_engine *e)
{
    return sizeof(cl_long) * (3 * (size_t)e->dev.npad + 1);
}

/* ---- kernel argument binder ---- */

clmd_binder clmd_bind(cl_kernel k, int fp64)
{
    clmd_binder b = {k, 0, fp64, CL_SUCCESS};
    return b;
}

void clmd_bind_raw(clmd_binder *b, size_t size, const void *v)
{
    cl_int e = clSetKernelArg(b->k, b->next, size, v);
    if (e != CL_SUCCESS && b->rc == CL_SUCCESS) b->rc = e;
    b->next++;
}

void clmd_bind_mem(clmd_binder *b, cl_mem m) { clmd_bind_raw(b, sizeof m, &m); }
void clmd_bind_int(clmd_binder *b, int v)
{
    cl_int x = v;
    clmd_bind_raw(b, sizeof x, &x);
}
void clmd_bind_uint(clmd_binder *b, unsigned v)
{
    cl_uint x = v;
    clmd_bind_raw(b, sizeof x, &x);
}
void clmd_bind_mixed(clmd_binder *b, double v)
{
    if (b->fp64) {
        cl_double x = v;
        clmd_bind_raw(b, sizeof x, &x);
    } else {
        cl_float x = (float)v;
        clmd_bind_raw(b, sizeof x, &x);
    }
}
void clmd_bind_mixed4(clmd_binder *b, const double v[4])
{
    if (b->fp64) {
        cl_double4 x = {{v[0], v[1], v[2], v[3]}};
        clmd_bind_raw(b, sizeof x, &x);
    } else {
        cl_float4 x = {{(float)v[0], (float)v[1], (float)v[2], (float)v[3]}};
        clmd_bind_raw(b, sizeof x, &x);
    }
}

int clmd_bind_done(const clmd_binder *b, clmd_err *err)
{
    if (b->rc == CL_SUCCESS) return CLMD_OK;
    char name[128] = "?";
    clGetKernelInfo(b->k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    return clmd_err_set(err, CLMD_ERUNTIME, "OpenCL: setting the arguments of kernel %s: %s", name,
                        clmd_ocl_errstr(b->rc));
}

/* ---- host <-> device ---- */

int clmd_engine_step_units(const clmd_engine *e)
{
    const char *v = getenv("CLMD_STEP_UNITS");
    return e->cons && !(v && strcmp(v, "0") == 0);
}

void clmd_engine_step_defines(const clmd_engine *e, char *buf, size_t size)
{
    snprintf(buf, size, "#define HAVE_FP64 %d\n#define WG %d\n#define NSEG %d\n#define SEG_LEN %d\n"
             "#define E_STRIDE %d\n", e->fp64, WG, e->nseg,
             e->nseg > 1 ? e->sys->seg_stride : 0x3fffffff, E_SLOTS);
}

/* Bytes of the energy accumulators: every copy's slots. */
static size_t energy_bytes(const clmd_engine *e) { return sizeof(cl_long) * E_SLOTS * (size_t)e->nseg; }

static void to_mixed(const clmd_engine *e, const double *a, const double *w, void *buf)
{
    int n = e->sys->n;
    memset(buf, 0, e->mixed_size * (size_t)e->dev.npad);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            if (e->fp64) ((double *)buf)[4 * i + k] = a[3 * i + k];
            else ((float *)buf)[4 * i + k] = (float)a[3 * i + k];
        }
        if (w) {
            if (e->fp64) ((double *)buf)[4 * i + 3] = w[i];
            else ((float *)buf)[4 * i + 3] = (float)w[i];
        }
    }
}

static void from_mixed(const clmd_engine *e, const void *buf, double *a)
{
    for (int i = 0; i < e->sys->n; i++)
        for (int k = 0; k < 3; k++)
            a[3 * i + k] = e->fp64 ? ((const double *)buf)[4 * i + k] : ((const float *)buf)[4 * i + k];
}

int clmd_engine_download_positions(clmd_engine *e, clmd_err *err)
{
    if (e->reference) return CLMD_OK;
    PROBE_START(e->probe, P_DOWNLOAD);
    int rc = clmd_ocl_read(e->dev.ocl, e->pos, 0, e->mixed_size * (size_t)e->sys->n, e->mixed_host,
                           err);
    PROBE_STOP(e->probe, P_DOWNLOAD);
    if (!rc) from_mixed(e, e->mixed_host, e->st->x);
    return rc;
}

static int download_velocities(clmd_engine *e, clmd_err *err)
{
    if (e->reference) return CLMD_OK;
    PROBE_START(e->probe, P_DOWNLOAD);
    int rc = clmd_ocl_read(e->dev.ocl, e->vel, 0, e->mixed_size * (size_t)e->sys->n, e->mixed_host,
                           err);
    PROBE_STOP(e->probe, P_DOWNLOAD);
    if (!rc) from_mixed(e, e->mixed_host, e->st->v);
    return rc;
}

/* The state's positions to the device (pos; posq follows from it with the list's wraps). */
static int upload_positions(clmd_engine *e, clmd_err *err)
{
    to_mixed(e, e->st->x, NULL, e->mixed_host);
    return clmd_ocl_write(e->dev.ocl, e->pos, 0, e->mixed_size * (size_t)e->dev.npad, e->mixed_host,
                          err);
}

static int upload_velocities(clmd_engine *e, clmd_err *err)
{
    to_mixed(e, e->st->v, e->invmass, e->mixed_host);
    return clmd_ocl_write(e->dev.ocl, e->vel, 0, e->mixed_size * (size_t)e->dev.npad, e->mixed_host,
                          err);
}

static int check_finite(clmd_engine *e, const double *x, clmd_err *err)
{
    for (int i = 0; i < 3 * e->sys->n; i++)
        if (!isfinite(x[i]) || fabs(x[i]) > 1e6)
            return clmd_err_set(err, CLMD_ERUNTIME, "the simulation blew up at step %ld: particle "
                                "%d has position %g nm (try a smaller timestep, or minimize/"
                                "equilibrate the input)", e->st->step, i / 3 + 1, x[i]);
    return CLMD_OK;
}

/* Builds the pair list from the state's positions (on the device, downloaded first). */
int clmd_engine_rebuild_list(clmd_engine *e, clmd_err *err)
{
    int rc;
    if ((rc = clmd_engine_download_positions(e, err)) || (rc = check_finite(e, e->st->x, err)))
        return rc;
    e->last_d2 = 0;
    e->list_step = e->ref_step = e->st->step;
    e->disp_prev = 0;
    return clmd_pairlist_build(e->pl, e->st->x, e->st->box, e->st->step, err);
}

/* Reads the flag words (one small blocking read): [0] the largest squared displacement,
 * [1] constraint failure, [2] the terms whose forces overflowed (cl/integrate.cl records the
 * force word there and freezes the particles), [3] the step of that overflow; with a pruned
 * list, [4] the last prune's largest squared distance from the outer list's reference and [5]
 * that prune's number. */
static int examine_flags(clmd_engine *e, const cl_uint flags[NFLAGS], clmd_err *err);

static int read_flags(clmd_engine *e, cl_uint flags[NFLAGS], clmd_err *err)
{
    PROBE_START(e->probe, P_NLIST_CHECK);
    int rc = clmd_ocl_read(e->dev.ocl, e->flags, 0, sizeof(cl_uint) * NFLAGS, flags, err);
    PROBE_STOP(e->probe, P_NLIST_CHECK);
    if (rc) return rc;
    e->flags_step = e->st->step;
    return examine_flags(e, flags, err);
}

/* The displacements a flag read tells (nm): the outer list's, and *d_in the motion since the
 * last prune (the outer list's own without pruning). Pruned, the displacement words measure
 * from the prune's positions, and the outer list's is bounded by their distance from its
 * reference plus that motion. */
static double flag_disp(const clmd_engine *e, const cl_uint flags[NFLAGS], double *d_in)
{
    float d2, p2;
    memcpy(&d2, &flags[0], sizeof d2);
    const double d = sqrt(d2 > 0 ? (double)d2 : 0);
    if (d_in) *d_in = d;
    if (e->reference || !clmd_pairlist_prunes(e->pl)) return d;
    memcpy(&p2, &flags[FLAG_PRUNE], sizeof p2);
    return d + sqrt(p2 > 0 ? (double)p2 : 0);
}

/* Pruned lists: asks for a prune when the motion since the last one (d_in, `ahead` steps old)
 * may use up the inner buffer within the next step; the new buffer covers prune_steps steps
 * and the lag at the growth rate measured. */
static void plan_prune(clmd_engine *e, double d_in, int ahead)
{
    if (!clmd_pairlist_prunes(e->pl)) return;
    const double room = clmd_pairlist_inner_room(e->pl), g = e->disp_growth;
    if (d_in > room) clmd_probe_count(e->probe, "nlist_late_prunes", 1);
    /* the next prune's buffer follows the growth measured (and with it the outer list's room) */
    if (g > 0) clmd_pairlist_plan_prune(e->pl, 2.0 * (e->prune_steps + e->lag + 1) * g * 1.25 + 0.01);
    if (d_in + (ahead + 1) * g >= room) clmd_pairlist_request_prune(e->pl);
}

/* The overflow and constraint words of a flag read. */
static int examine_flags(clmd_engine *e, const cl_uint flags[NFLAGS], clmd_err *err)
{
    int rc = CLMD_OK;
    if (flags[2]) {
        /* cleared once reported, so that an engine that goes on is not frozen for good (the
         * force buffer's overflow word with the next evaluation's clearing) */
        clmd_overflow ovf = {flags[2], 0};
        e->force_cleared = 0;
        rc = clmd_ocl_zero(e->dev.ocl, e->flags, sizeof(cl_uint) * NFLAGS, err);
        return rc ? rc : clmd_engine_overflow_error(e, (long)flags[3], &ovf, NULL, NULL, err);
    }
    if (flags[1])
        rc = clmd_err_set(err, CLMD_ERUNTIME, "step %ld: the constraints could not be satisfied "
                          "(SHAKE did not converge to relative tolerance %g or a water's geometry "
                          "broke): the simulation blew up; try a smaller timestep",
                          e->st->step, e->eo.constraint_tol);
    return rc;
}

/* The lagged reads (e->lag > 0): this step's flag words, read asynchronously into its slot of
 * the ring. */
static int ring_enqueue(clmd_engine *e, long step, clmd_err *err)
{
    const int slot = (int)(step % CLMD_FLAG_RING);
    if (e->flag_ev[slot]) {
        clReleaseEvent(e->flag_ev[slot]);
        e->flag_ev[slot] = NULL;
    }
    int rc = clmd_ocl_read_async(e->dev.ocl, e->flags, 0, sizeof(cl_uint) * NFLAGS,
                                 e->flag_ring_host + (size_t)slot * NFLAGS, &e->flag_ev[slot], err);
    clFlush(clmd_ocl_queue(e->dev.ocl));
    return rc;
}

/* The flag words of step `seen` (waiting for them only if the device is that far behind),
 * their overflow and constraint words examined. */
static int ring_examine(clmd_engine *e, long seen, const cl_uint **flags, clmd_err *err)
{
    const int s = (int)(seen % CLMD_FLAG_RING);
    PROBE_START(e->probe, P_NLIST_CHECK);
    int rc = clmd_ocl_wait(e->dev.ocl, &e->flag_ev[s], err);
    PROBE_STOP(e->probe, P_NLIST_CHECK);
    if (rc) return rc;
    *flags = e->flag_ring_host + (size_t)s * NFLAGS;
    return examine_flags(e, *flags, err);
}

/* The lagged check (e->lag > 0): enqueues this step's flag read, then examines the one of
 * lag steps ago (waiting for it only if the device is that far behind). */
static int update_list_lagged(clmd_engine *e, clmd_err *err)
{
    const long step = e->st->step;
    int rc;
    if ((rc = ring_enqueue(e, step, err))) return rc;
    if (step - e->list_step <= e->lag) {
        /* a list younger than the lag: checked now, blocking, so that it is never used unchecked */
        cl_uint f[NFLAGS];
        if ((rc = read_flags(e, f, err))) return rc;
        double d_in;
        const double d = flag_disp(e, f, &d_in);
        e->disp_growth = fmax(d / (double)(step - e->ref_step), 0.999 * e->disp_growth);
        e->last_d2 = d * d;
        if (clmd_pairlist_stale_d2(e->pl, d * d)) return clmd_engine_rebuild_list(e, err);
        plan_prune(e, d_in, 0);
        return CLMD_OK;
    }
    const long seen = step - e->lag;
    if (seen <= e->list_step) return CLMD_OK; /* reads of the list before: nothing to examine */
    const cl_uint *flags;
    if ((rc = ring_examine(e, seen, &flags, err))) return rc;
    if (!clmd_pairlist_checks(e->pl)) return CLMD_OK;
    double d_in;
    const double d = flag_disp(e, flags, &d_in);
    /* growth per step: from the previous examined step, or from the build (zero) */
    const double g = seen - 1 > e->list_step ? d - e->disp_prev : d / (double)(seen - e->ref_step);
    e->disp_growth = fmax(g, 0.999 * e->disp_growth);
    e->disp_prev = d;
    e->last_d2 = d * d;
    const double room = clmd_pairlist_room(e->pl);
    /* Pruned, the room is the outer list's for the next prune. A spent outer list stays in use
     * while the last inner list pruned from it lasts (its own buffer, judged on the motion since
     * that prune as plan_prune judges it), with no more prunes from it: the lists then live
     * about the whole outer buffer instead of its share left after the inner one. A read from
     * before the last prune says nothing of that inner list. Every decision follows from this
     * read alone, so restarts repeat it. */
    const int own_prune = flags[FLAG_PRUNE + 1] == clmd_pairlist_prune_gen(e->pl);
    const int spend = clmd_pairlist_prunes(e->pl) && e->prune_spend;
    int stale = d + e->lag * e->disp_growth >= room, spent = 0;
    if (stale && spend && own_prune) {
        spent = 1;
        stale = d_in + (e->lag + 1) * e->disp_growth >= clmd_pairlist_inner_room(e->pl);
    }
    /* the net caught it late (a spent outer list is beyond its room by design; its inner list's
     * lateness is plan_prune's count) */
    if (d > room && !spent) clmd_probe_count(e->probe, "nlist_late_rebuilds", 1);
    const long bg = clmd_pairlist_bg_step(e->pl);
    /* an overlapped list is taken `overlap` steps after its snapshot, or when the lists in use
     * run out (pruned with spent outer lists: only then, which gives the build more time) */
    if (bg >= 0 && (stale || (!spend && step >= bg + e->overlap))) {
        /* the overlapped list, built from the snapshot of step bg: checked from now on against
         * that snapshot (blocking for lag steps, as a new list) */
        if ((rc = clmd_pairlist_bg_switch(e->pl, e->st->box, step, err))) return rc;
        e->list_step = step;
        e->ref_step = bg;
        e->disp_prev = 0;
        return CLMD_OK;
    }
    if (stale) return clmd_engine_rebuild_list(e, err);
    /* the inner list, from a read of its own prune; none from a spent outer list */
    if (own_prune && !spent) plan_prune(e, d_in, e->lag);
    /* the next list is needed `overlap` steps before the outer list runs out, or (pruned, with
     * spent lists running on) about when it is spent: the inner list's life after that is the
     * build's time */
    const int ahead = spend ? 2 : e->overlap;
    if (e->overlap > 0 && bg < 0 && d + (e->lag + ahead) * e->disp_growth >= room) {
        /* stale within `overlap` steps: the next list from a snapshot of now, on host threads,
         * its buffer wider by the motion expected until it is used */
        const double skin = clmd_pairlist_nominal_skin(e->pl) +
                            e->widen * 2 * (e->overlap + e->lag) * e->disp_growth;
        return clmd_pairlist_bg_start(e->pl, e->st->box, step, skin, err);
    }
    return CLMD_OK;
}

/* ---- lists sized from the energy drift (engine_impl.h: drift) ---- */

static int env_setting(const char *name, double lo, double hi, int integer, double *v, clmd_err *err);

/* The kinetic temperature of velocities v (host, [3n]; 0 without). */
static double kinetic_temperature(const clmd_engine *e, const double *v)
{
    double ek = 0;
    for (int i = 0; v && i < e->sys->n; i++)
        ek += e->sys->mass[i] * (v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] + v[3 * i + 2] * v[3 * i + 2]);
    return e->dof > 0 ? ek / (e->dof * CLMD_BOLTZMANN) : 0;
}

/* The temperature the buffers are sized for: the hottest copy's bath; without one (NVE) that of
 * the velocities last set (drift_T0), or 300 K. */
static double drift_temperature(const clmd_engine *e)
{
    double T = 0;
    for (int g = 0; g < e->nseg; g++) T = fmax(T, e->seg_T[g]);
    if (T > 0) return T;
    return e->dplan.T0 > 1 ? e->dplan.T0 : 300;
}

/* The inner list's buffer for prunes every prune_steps steps; prunes are dropped (0) when the
 * inner list would be nearly as wide as the outer one. */
static void drift_inner(clmd_engine *e)
{
    e->dplan.skin_in = 0;
    if (e->prune_steps <= 0) return;
    const double rc = e->plan.o.cutoff_nm;
    const double s_in = clmd_verletbuf_size(e->vb, e->dplan.kT, e->eo.dt_ps, e->prune_steps, e->drift_tol,
                                            e->drift_cin, 1);
    if (rc + s_in < 0.99 * (rc + e->dplan.skin)) e->dplan.skin_in = s_in;
    else e->prune_steps = 0;
}

/* The buffers for the bath's temperature now (the lists' lives stay as planned). */
static void drift_buffers(clmd_engine *e)
{
    e->dplan.kT = CLMD_BOLTZMANN * drift_temperature(e);
    e->dplan.skin = clmd_verletbuf_size(e->vb, e->dplan.kT, e->eo.dt_ps, e->list_life, e->drift_tol,
                                        8, e->drift_cj);
    if (e->prune_steps > 0)
        e->dplan.skin_in = fmin(clmd_verletbuf_size(e->vb, e->dplan.kT, e->eo.dt_ps, e->prune_steps,
                                                    e->drift_tol, e->drift_cin, 1), e->dplan.skin);
    clmd_pairlist_set_drift(e->pl, e->dplan.skin, e->dplan.skin_in);
}

/* The plan at creation. The tolerance: neighbor_tolerance, CLMD_LIST_TOLERANCE over it; auto
 * (< 0) is 0.005 kJ/mol/ps per atom (GROMACS's default) on OpenCL devices with cutoff lists, no
 * implicit solvent and neighbor_skin: auto; exact lists on the reference path (the tests'
 * yardstick), with GB and with a buffer given as a number. Then the estimate's classes, the outer list's life
 * (neighbor_steps; auto: on GPUs 100 steps, GROMACS's GPU choice, where the pruned inner list
 * keeps the kernel's work small and the build is overlapped; on CPU devices, whose kernel reads
 * the outer list, the longest of 10-100 steps whose list holds at most 1.25 times the pairs of a
 * 10-step one, GROMACS's CPU rule; shorter where the buffer would not fit the box) and its
 * buffer. gpu: the device prunes (GPU kernels with the lagged check): every 4 steps, or 2 more
 * while the inner buffer would be 0, at most a quarter of the life. */
static int drift_plan(clmd_engine *e, const clmd_ffopts *ff, int gpu_prune, clmd_err *err)
{
    e->drift_tol = ff->list_tolerance;
    if (e->drift_tol < 0)
        e->drift_tol = !e->reference && !e->plan.present[CLMD_E_GB] && ff->skin_auto ? 0.005 : 0;
    const char *env = getenv("CLMD_LIST_TOLERANCE");
    if (env && *env) {
        char *end;
        const double t = strtod(env, &end);
        if (*end || !(t >= 0))
            return clmd_err_set(err, CLMD_EINPUT, "CLMD_LIST_TOLERANCE is '%s': use 0 (exact "
                                "lists) or a drift in kJ/mol/ps per atom", env);
        e->drift_tol = t;
    }
    if (!(e->drift_tol > 0) || !clmd_pairlist_checks(e->pl)) return CLMD_OK;
    if (e->plan.present[CLMD_E_GB] && getenv("CLMD_LIST_TOLERANCE")) return CLMD_OK; /* studies */
    if (e->plan.present[CLMD_E_GB])
        return clmd_err_set(err, CLMD_EINPUT, "nonbonded.neighbor_tolerance: lists sized from the "
                            "drift are not available with implicit solvent (its Born radii need "
                            "every pair within the cutoff); leave it null");
    int rc = clmd_verletbuf_create(e->sys, &e->plan,
                                   e->plan.periodic ? (const double(*)[3])e->st->box : NULL, &e->vb, err);
    if (rc) return rc;
    e->drift = 1;
    e->dplan.T0 = kinetic_temperature(e, e->st->v);
    e->dplan.kT = CLMD_BOLTZMANN * drift_temperature(e);
    /* The lists' clusters: the outer list pairs 8-atom clusters with atoms (entries) or with
     * clusters (the GPU kernel's tiles, setup_device's rule); the tiles' prune keeps atom pairs,
     * the entries' keeps an atom near any of the cluster's. */
    {
        const char *t = getenv("CLMD_LIST_TILES");
        const int tiles = gpu_prune && !e->sys->region && !(t && strcmp(t, "0") == 0);
        e->drift_cj = tiles ? 8 : 1;
        e->drift_cin = tiles ? 1 : 8;
    }
    const double dt = e->eo.dt_ps, rcut = e->plan.o.cutoff_nm, kT = e->dplan.kT, tol = e->drift_tol;
    double life = ff->list_steps;
    if ((rc = env_setting("CLMD_LIST_STEPS", 0, 100000, 1, &life, err))) return rc;
    if (life < 2) {
        static const int cand[] = {20, 25, 40, 50, 80, 100};
        /* one image per pair: rlist within half the box's narrowest width */
        double wmin = INFINITY;
        if (e->plan.periodic)
            for (int d = 0; d < 3; d++) wmin = fmin(wmin, e->st->box[d][d]);
        const double r10 = rcut + clmd_verletbuf_size(e->vb, kT, dt, 10, tol, 8, e->drift_cj);
        life = 10;
        for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++) {
            const double r = rcut + clmd_verletbuf_size(e->vb, kT, dt, cand[k], tol, 8, e->drift_cj);
            if ((gpu_prune || r * r * r <= 1.25 * r10 * r10 * r10) && r <= 0.49 * wmin) life = cand[k];
        }
    }
    e->list_life = (int)life;
    e->dplan.skin = clmd_verletbuf_size(e->vb, kT, dt, e->list_life, tol, 8, e->drift_cj);
    e->prune_steps = 0;
    if (gpu_prune) {
        int K = 4;
        while (K + 2 <= e->list_life / 4 &&
               clmd_verletbuf_size(e->vb, kT, dt, K, tol, e->drift_cin, 1) == 0)
            K += 2;
        e->prune_steps = K < e->list_life ? K : 0; /* its buffer: setup_device (drift_inner) */
    }
    clmd_pairlist_set_drift(e->pl, e->dplan.skin, e->dplan.skin_in);
    return CLMD_OK;
}

/* The safety net: an atom displaced by d (nm) at `age` steps from the list's reference says the
 * system moves faster than the buffers' model. */
static int drift_net(const clmd_engine *e, double d, long age)
{
    const double sig = clmd_verletbuf_sigma_max(e->vb, e->dplan.kT, e->eo.dt_ps, (int)(age > 0 ? age : 1));
    return d > fmax(0.5 * e->dplan.skin, 4.5 * sig);
}

/* Before a list is made: the buffers follow a bath changed by more than 1 %. */
static void drift_follow_bath(clmd_engine *e)
{
    if (fabs(CLMD_BOLTZMANN * drift_temperature(e) - e->dplan.kT) > 0.01 * e->dplan.kT) drift_buffers(e);
}

/* A list now. */
static int drift_rebuild(clmd_engine *e, clmd_err *err)
{
    drift_follow_bath(e);
    return clmd_engine_rebuild_list(e, err);
}

/* The scheduled update of drift-sized lists, on every path: the displacement is read as the
 * exact lists read it (on the host for the reference, blocking with lag 0, `lag` steps late
 * otherwise) but only feeds the safety net; a list is renewed when it reaches its life (an
 * overlapped one started `overlap` steps before), and the inner list every prune_steps steps
 * of the list's use. Every decision follows from the step count and the flag reads, so restarts
 * repeat them. */
static int update_list_drift(clmd_engine *e, clmd_err *err)
{
    const long step = e->st->step;
    int rc;
    double d = -1;
    long seen = step;
    if (e->reference) {
        PROBE_START(e->probe, P_NLIST_CHECK);
        d = clmd_pairlist_max_disp_host(e->pl, e->st->x);
        PROBE_STOP(e->probe, P_NLIST_CHECK);
    } else if (e->lag == 0) {
        cl_uint f[NFLAGS];
        if ((rc = read_flags(e, f, err))) return rc;
        d = flag_disp(e, f, NULL);
    } else {
        if ((rc = ring_enqueue(e, step, err))) return rc;
        seen = step - e->lag;
        if (seen > e->list_step) {
            const cl_uint *flags;
            if ((rc = ring_examine(e, seen, &flags, err))) return rc;
            d = flag_disp(e, flags, NULL);
        }
    }
    if (d >= 0) e->last_d2 = d * d;
    if (d >= 0 && drift_net(e, d, seen - e->ref_step)) {
        clmd_probe_count(e->probe, "nlist_early_rebuilds", 1);
        return drift_rebuild(e, err);
    }
    const long age = step - e->ref_step, bg = clmd_pairlist_bg_step(e->pl);
    if (age >= e->list_life) {
        if (bg < 0) return drift_rebuild(e, err);
        if ((rc = clmd_pairlist_bg_switch(e->pl, e->st->box, step, err))) return rc;
        e->list_step = step;
        e->ref_step = bg;
        return CLMD_OK;
    }
    if (e->prune_steps > 0 && step > e->list_step && (step - e->list_step) % e->prune_steps == 0)
        clmd_pairlist_request_prune(e->pl);
    if (e->overlap > 0 && bg < 0 && age + e->overlap >= e->list_life && step > e->list_step) {
        drift_follow_bath(e);
        return clmd_pairlist_bg_start(e->pl, e->st->box, step, e->dplan.skin, err);
    }
    return CLMD_OK;
}

int clmd_engine_update_list(clmd_engine *e, clmd_err *err)
{
    int rc;
    if (e->drift) return update_list_drift(e, err);
    if (e->reference) {
        if (!clmd_pairlist_checks(e->pl)) return CLMD_OK;
        PROBE_START(e->probe, P_NLIST_CHECK);
        int stale = clmd_pairlist_stale_host(e->pl, e->st->x);
        PROBE_STOP(e->probe, P_NLIST_CHECK);
        return stale ? clmd_engine_rebuild_list(e, err) : CLMD_OK;
    }
    if (!clmd_pairlist_checks(e->pl) && !e->cons) return CLMD_OK;
    cl_uint flags[NFLAGS];
    if ((rc = read_flags(e, flags, err))) return rc;
    double d_in;
    const double d = flag_disp(e, flags, &d_in);
    e->last_d2 = d * d;
    if (clmd_pairlist_stale_d2(e->pl, d * d)) return clmd_engine_rebuild_list(e, err);
    plan_prune(e, d_in, 0);
    return CLMD_OK;
}

int clmd_engine_build_vsites(clmd_engine *e, clmd_err *err)
{
    if (!e->vs) return CLMD_OK;
    if (!e->reference) return clmd_vsites_enqueue_build(e->vs, err);
    PROBE_START(e->probe, P_VSITE_BUILD);
    clmd_vsites_build_ref(e->vs, e->st->x);
    PROBE_STOP(e->probe, P_VSITE_BUILD);
    return CLMD_OK;
}

/* ---- set-up ---- */

/* Each copy's region factors to the device (float4 per copy). */
static int upload_scale(clmd_engine *e, clmd_err *err)
{
    cl_float4 *v = clmd_calloc(e->nseg, sizeof *v);
    for (int g = 0; g < e->nseg; g++) {
        v[g].s[0] = (float)e->seg_scale[g].charge;
        v[g].s[1] = (float)e->seg_scale[g].lj;
        v[g].s[2] = (float)e->seg_scale[g].sterics;
        v[g].s[3] = (float)e->seg_scale[g].torsion;
    }
    int rc = clmd_ocl_write(e->dev.ocl, e->dev.seg_scale, 0, sizeof *v * (size_t)e->nseg, v, err);
    clmd_free(v);
    if (!rc) e->dev.scale_version = e->scale_version;
    return rc;
}

/* An environment override of a setting: *v stays when `name` is unset or empty; a value that
 * is not a number (an integer if asked) within [lo, hi] is an input error naming the variable. */
static int env_setting(const char *name, double lo, double hi, int integer, double *v, clmd_err *err)
{
    const char *s = getenv(name);
    if (!s || !*s) return CLMD_OK;
    char *end;
    const double x = integer ? (double)strtol(s, &end, 10) : strtod(s, &end);
    if (*end || !(x >= lo && x <= hi))
        return clmd_err_set(err, CLMD_EINPUT, "%s is '%s': use %g to %g", name, s, lo, hi);
    *v = x;
    return CLMD_OK;
}

/* Systems whose GPU lists are pruned and built further ahead by default: 16,000 particles or
 * more per copy. */
static int large_system(const clmd_engine *e)
{
    return e->sys->n / (e->nseg > 0 ? e->nseg : 1) >= 16000;
}

static int setup_device(clmd_engine *e, clmd_err *err)
{
    const clmd_system *s = e->sys;
    clmd_dev *d = &e->dev;
    int rc;
    d->n = s->n;
    d->npad = (s->n + 63) / 64 * 64;
    d->periodic = e->plan.periodic;
    d->nseg = e->nseg;
    d->seg_stride = e->nseg > 1 ? s->seg_stride : 0;
    d->triclinic = d->periodic && !clmd_box_is_rectangular(e->st->box);
    clmd_dev_set_box(d, e->st->box, e->st->box_version);
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmd_ocl_device(d->ocl), CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    e->fp64 = fp != 0;
    e->mixed_size = e->fp64 ? sizeof(cl_double4) : sizeof(cl_float4);
    size_t np = (size_t)d->npad;
    if ((rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &d->posq, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &d->posq_lo, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, force_bytes(e), &d->force, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, energy_bytes(e), &d->energy, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->pos, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->vel, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_uint) * NFLAGS, &e->flags, err)) ||
        (rc = clmd_ocl_zero(d->ocl, e->flags, sizeof(cl_uint) * NFLAGS, err)) ||
        (rc = clmd_ocl_zero(d->ocl, d->force, force_bytes(e), err)) ||
        (rc = clmd_ocl_zero(d->ocl, d->energy, energy_bytes(e), err)))
        return rc;
    if (e->cons && (rc = clmd_ocl_alloc(d->ocl, e->mixed_size * np, &e->pos_old, err))) return rc;
    /* the lag of the list check: on GPUs the host runs ahead of the device (no blocking read per
     * step); on CPU devices the read costs nothing next to the kernels. CLMD_LIST_LAG overrides. */
    {
        const int gpu = clmd_ocl_is_gpu(d->ocl);
        double lag = gpu ? 2 : 0, overlap, widen = 1;
        if ((rc = env_setting("CLMD_LIST_LAG", 0, CLMD_FLAG_RING - 1, 1, &lag, err))) return rc;
        e->lag = (int)lag;
        /* the overlapped search needs the lag (no blocking read) and host cores of its own;
         * large systems (pruned lists, below) get a longer window: their builds take more
         * steps (H100: 18protein 1.19x, 28k water 1.14x with the pruned list, against 8) */
        overlap = e->lag > 0 && gpu ? (large_system(e) ? 16 : 8) : 0;
        /* drift-sized lists live a fixed life: the build starts half of it ahead, so a large
         * system's search fits behind the device's steps (H100, against a quarter: LJ 32k 1.13x,
         * 96k water 1.23x, the small rows within noise; LJ 256k 0.88x, its build longer than
         * either window) */
        if (e->drift && overlap > 0) overlap = fmax(overlap, e->list_life / 2);
        if ((rc = env_setting("CLMD_LIST_OVERLAP", 0, 1000, 1, &overlap, err))) return rc;
        e->overlap = e->lag > 0 ? (int)overlap : 0;
        /* how much of the motion until its use an overlapped build's buffer gets in addition
         * (1: all of it); CLMD_LIST_WIDEN overrides */
        if ((rc = env_setting("CLMD_LIST_WIDEN", 0, 4, 0, &widen, err))) return rc;
        e->widen = widen;
    }
    if ((rc = clmd_ocl_alloc_pinned(d->ocl, sizeof(cl_uint) * NFLAGS * CLMD_FLAG_RING, &e->flag_ring,
                                    (void **)&e->flag_ring_host, err)))
        return rc;
    e->mixed_host = clmd_calloc(np, e->mixed_size);
    CLMD_NEW(e->force_host, 3 * np + 1);
    /* charges ride in posq.w and never change; the xyz parts are written from pos */
    {
        cl_float4 *pq = clmd_calloc(np, sizeof *pq);
        for (int i = 0; i < s->n; i++) pq[i].s[3] = (float)s->charge[i];
        /* padding atoms sit far away with no charge */
        for (size_t i = (size_t)s->n; i < np; i++) pq[i].s[0] = pq[i].s[1] = pq[i].s[2] = 1e4f;
        rc = clmd_ocl_write(d->ocl, d->posq, 0, sizeof *pq * np, pq, err);
        if (!rc) rc = clmd_ocl_zero(d->ocl, d->posq_lo, sizeof *pq * np, err);
        clmd_free(pq);
        if (rc) return rc;
    }
    if ((rc = upload_positions(e, err)) || (rc = upload_velocities(e, err))) return rc;
    if ((rc = clmd_pairlist_setup_device(e->pl, d, e->pos, e->fp64, err))) return rc;
    /* the inner list pruned on the device (GPU kernels, with the lagged check), every
     * prune_steps steps or so: CLMD_LIST_PRUNE sets that number. On by default (every 2 steps)
     * for large systems, where the kernel's pair work dominates (H100, with a 16-step overlap:
     * 18protein 1.22x, 28k water 1.14x); off for small ones, where the extra list builds cost
     * more than the smaller kernel saves (ala2 0.80x, 886 waters 0.83x;
     * docs/benchmarks-gpu-lists.md). */
    {
        double k = e->drift ? e->prune_steps : clmd_ocl_is_gpu(d->ocl) && large_system(e) ? 2 : 0;
        if ((rc = env_setting("CLMD_LIST_PRUNE", 0, 1000, 1, &k, err))) return rc;
        e->prune_steps = e->lag > 0 && clmd_ocl_is_gpu(d->ocl) ? (int)k : 0;
        if (e->drift) {
            /* the inner buffer for the prunes as set (or none) */
            drift_inner(e);
            clmd_pairlist_set_drift(e->pl, e->dplan.skin, e->dplan.skin_in);
        }
        double spend = 1;
        if ((rc = env_setting("CLMD_LIST_SPEND", 0, 1, 1, &spend, err))) return rc;
        e->prune_spend = (int)spend;
        if (e->prune_steps > 0 && e->lag > 0 && clmd_ocl_is_gpu(d->ocl) &&
            (rc = clmd_pairlist_setup_prune(e->pl, e->flags, FLAG_PRUNE, err)))
            return rc;
    }
    /* the GPU nonbonded kernel reads the half list of cluster pairs (tiles), pruned on the
     * device too, where no other kernel needs the list of entries (the region kernel, GB);
     * CLMD_LIST_TILES=0 keeps entries, CLMD_TILE_SPLIT=N hands out a cluster's tiles N at a
     * time (measurements) */
    {
        double t = 1, split = 0;
        if ((rc = env_setting("CLMD_LIST_TILES", 0, 1, 1, &t, err)) ||
            (rc = env_setting("CLMD_TILE_SPLIT", 0, 4096, 1, &split, err)))
            return rc;
        if (t > 0 && clmd_ocl_is_gpu(d->ocl) && !s->region && !e->plan.present[CLMD_E_GB])
            clmd_pairlist_use_tiles(e->pl, (int)split);
    }
    if (s->region) {
        /* the region's flags and each copy's factors, for the force kernels */
        unsigned char *flags = clmd_calloc(np, 1);
        memcpy(flags, s->region, (size_t)s->n);
        if (!(rc = clmd_ocl_alloc(d->ocl, np, &d->region, err)))
            rc = clmd_ocl_write(d->ocl, d->region, 0, np, flags, err);
        clmd_free(flags);
        if (!rc) rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * (size_t)e->nseg, &d->seg_scale, err);
        if (!rc) rc = upload_scale(e, err);
        if (rc) return rc;
    }

    char defs[256];
    clmd_engine_step_defines(e, defs, sizeof defs);
    cl_program prog;
    if ((rc = clmd_ocl_program(d->ocl, "integrate.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "kinetic", &e->k_kinetic, err)))
        return rc;
    clmd_binder b = clmd_bind(e->k_kinetic, e->fp64);
    clmd_bind_mem(&b, e->vel);
    clmd_bind_int(&b, s->n);
    clmd_bind_mem(&b, d->energy);
    clmd_bind_int(&b, CLMD_E_KINETIC);
    clmd_bind_mem(&b, d->force);
    clmd_bind_int(&b, d->npad);
    if ((rc = clmd_bind_done(&b, err))) return rc;

    e->mb = (clmd_mdbuf){d->ocl, e->fp64, s->n, d->npad, e->pos, e->pos_old, e->vel, d->posq,
                         d->posq_lo, clmd_pairlist_posq_ref(e->pl), clmd_pairlist_pos_shift(e->pl),
                         e->flags, d->force};
    if (e->cons && (rc = clmd_constraints_setup_device(e->cons, &e->mb, err))) return rc;
    if (e->vs && (rc = clmd_vsites_setup_device(e->vs, &e->mb, err))) return rc;
    if ((rc = e->integ->ops->setup_device(e->integ, e, err))) return rc;
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->ops->setup_device && (rc = e->hooks[h]->ops->setup_device(e->hooks[h], e, err)))
            return rc;
    clmd_fenv env = clmd_engine_fenv(e, 0);
    for (int t = 0; t < e->nterms; t++)
        if (e->terms[t]->ops->setup_device &&
            (rc = e->terms[t]->ops->setup_device(e->terms[t], &env, err)))
            return rc;
        else if (!e->terms[t]->ops->enqueue)
            return clmd_err_set(err, CLMD_ERUNTIME, "the %s term has no OpenCL implementation yet; "
                                "use --device reference", e->terms[t]->ops->name);
    return CLMD_OK;
}

/* ---- memory ---- */

/* Bytes the machine can give this run: MemAvailable from /proc/meminfo (or the physical memory),
 * or CLMD_MEMORY_LIMIT_MB when set. */
static double host_memory_available(void)
{
    const char *lim = getenv("CLMD_MEMORY_LIMIT_MB");
    if (lim && *lim) {
        char *end;
        double v = strtod(lim, &end);
        if (end != lim && v > 0) return v * 1048576.0;
    }
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            double kb;
            if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) {
                fclose(f);
                return kb * 1024.0;
            }
        }
        fclose(f);
    }
    return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

/* What the run will hold, before the big allocations: per-particle arrays, the pair list (its
 * entries estimated from the density: each 8-atom cluster lists the atoms within rlist of any of
 * its atoms), PME grids, on the host and on the device. An estimate within a factor ~1.5. */
static void memory_estimate(const clmd_engine *e, double *host, double *device)
{
    const clmd_system *s = e->sys;
    const double n = s->n;
    double entries;
    if (!e->plan.cutoff_on) {
        entries = n / 8 * n; /* every pair: the open list is full */
    } else {
        double vol = e->plan.periodic ? clmd_box_volume(s->box) : 0;
        if (!(vol > 0)) {
            double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
            for (int i = 0; i < s->n; i++)
                for (int d = 0; d < 3; d++) {
                    lo[d] = fmin(lo[d], s->x[3 * i + d]);
                    hi[d] = fmax(hi[d], s->x[3 * i + d]);
                }
            vol = fmax((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]), n * 0.01);
        }
        double rho = n / vol, rc = cbrt(3 * 8 / (4 * M_PI * rho)); /* a cluster's radius */
        double reach = e->plan.o.cutoff_nm + fmax(e->plan.o.skin_nm, 0.1) * (e->plan.o.skin_auto ? 2 : 1) + rc;
        entries = n / 8 * fmin(n, rho * 4.0 / 3.0 * M_PI * reach * reach * reach);
    }
    /* host: particle arrays of the engine and the search, list entries twice (the build
     * threads' buffers and the list), 5 bytes each */
    *host = n * 400 + entries * 10;
    *device = e->reference ? 0 : n * 300 + entries * 5;
    if (e->plan.o.method == CLMD_NB_PME) {
        double pts = (double)e->plan.pme_grid[0] * e->plan.pme_grid[1] * e->plan.pme_grid[2];
        *host += pts * 24;
        *device += e->reference ? 0 : pts * 24;
    }
}

static int check_memory(const clmd_engine *e, clmd_err *err)
{
    double host, device, have = host_memory_available();
    memory_estimate(e, &host, &device);
    const int on_cpu = !e->reference && clmd_ocl_is_cpu(e->dev.ocl);
    if (on_cpu) host += device;
    const double MB = 1048576.0;
    if (host > 0.9 * have)
        return clmd_err_set(err, CLMD_ERUNTIME, "this system needs about %.0f MB of memory "
                            "(%d particles%s) and %.0f MB are available: use a smaller system, a "
                            "shorter cutoff or a machine with more memory", host / MB, e->sys->n,
                            e->plan.cutoff_on ? "" : ", no cutoff: every pair is listed", have / MB);
    if (!e->reference && !on_cpu) {
        double dev_mem = (double)clmd_ocl_global_mem(e->dev.ocl);
        if (dev_mem > 0 && device > 0.9 * dev_mem)
            return clmd_err_set(err, CLMD_ERUNTIME, "this system needs about %.0f MB on the device "
                                "and %s has %.0f MB", device / MB, e->device_desc, dev_mem / MB);
    }
    return CLMD_OK;
}

int clmd_engine_create(const clmd_system *sys, const clmd_ffopts *ff, const clmd_engine_opts *eo,
                       clmd_probe *probe, clmd_engine **out, clmd_err *err)
{
    *out = NULL;
    clmd_engine *e = clmd_alloc(sizeof *e);
    e->sys = sys;
    e->eo = *eo;
    e->probe = probe;
    e->reference = strcasecmp(eo->device, "reference") == 0;
    e->flags_step = -1;
    e->dof = clmd_system_dof(sys, eo->remove_com);
    e->nseg = sys->nseg > 1 ? sys->nseg : 1;
    int n = sys->n, rc;
    PROBE_START(probe, P_SETUP);
    if ((rc = clmd_ffplan_make(sys, ff, &e->plan, err))) goto fail;
    e->st = clmd_state_create(sys);
    clmd_state_set_thermostat(e->st, eo->temperature_K, eo->friction_per_ps, eo->seed);
    CLMD_NEW(e->seg_energy, (size_t)e->nseg * CLMD_SEG_VALUES);
    CLMD_NEW(e->seg_T, e->nseg);
    CLMD_NEW(e->seg_scale, e->nseg);
    for (int g = 0; g < e->nseg; g++) e->seg_scale[g] = (clmd_region_scale){1, 1, 1, 1};
    CLMD_NEW(e->seg_scratch, 5 * (size_t)e->nseg);
    CLMD_NEW(e->seg_key, e->nseg);
    for (int g = 0; g < e->nseg; g++) {
        e->seg_T[g] = e->st->temperature_K;
        memcpy(e->seg_key[g], e->st->key, sizeof e->seg_key[g]);
    }
    if (e->nseg > 1) {
        /* batched copies: what the kernels keep apart (system/replicate.c) */
        const char *why = e->reference ? "the reference path evaluates one system" : NULL;
        if (why) {
            rc = clmd_err_set(err, CLMD_EINPUT, "batched replicas are not available here: %s "
                              "(run the replicas one at a time)", why);
            goto fail;
        }
    }
    e->mols = clmd_molecules_create(sys);
    CLMD_NEW(e->f, 3 * n);
    CLMD_NEW(e->invmass, n);
    for (int i = 0; i < n; i++) e->invmass[i] = sys->mass[i] > 0 ? 1 / sys->mass[i] : 0;
    for (size_t k = 0; k < sizeof term_ctors / sizeof term_ctors[0]; k++) {
        clmd_term *t = NULL;
        if ((rc = term_ctors[k](sys, &e->plan, &t, err))) goto fail;
        if (t) e->terms[e->nterms++] = t;
    }
    if ((rc = clmd_constraints_create(sys, eo->constraint_tol, 1, &e->cons, err)) ||
        (rc = clmd_vsites_create(sys, &e->vs, err)))
        goto fail;
    if (e->cons) CLMD_NEW(e->xold, 3 * n);
    e->integ = eo->integrator == CLMD_VERLET ? clmd_verlet_create() : clmd_langevin_create();
    if (eo->remove_com && eo->com_interval > 0)
        e->hooks[e->nhooks++] = clmd_com_remover_create(eo->com_interval);
    /* forces are always evaluated at sites placed from their parents, whatever the input held */
    if (e->vs) clmd_vsites_build_ref(e->vs, e->st->x);
    if ((rc = check_finite(e, e->st->x, err))) goto fail;
    if (e->reference) {
        snprintf(e->device_desc, sizeof e->device_desc, "reference (double-precision CPU)");
    } else {
        if (eo->ocl) e->dev.ocl = eo->ocl;
        else if ((rc = clmd_ocl_open(eo->device, probe, &e->dev.ocl, err))) goto fail;
        snprintf(e->device_desc, sizeof e->device_desc, "%s", clmd_ocl_description(e->dev.ocl));
    }
    if ((rc = check_memory(e, err))) goto fail;
    /* the list's cost model depends on the kind of device */
    if ((rc = clmd_pairlist_create(sys, &e->plan, e->mols,
                                   !e->reference && clmd_ocl_is_gpu(e->dev.ocl), probe, &e->pl,
                                   err)))
        goto fail;
    /* lists sized from the energy drift (neighbor_tolerance): the device prunes where the GPU
     * kernels run */
    if ((rc = drift_plan(e, ff, !e->reference && clmd_ocl_is_gpu(e->dev.ocl), err))) goto fail;
    if (!e->reference && (rc = setup_device(e, err))) goto fail;
    if (e->drift) {
        char info[256];
        snprintf(info, sizeof info, "drift-sized (%g kJ/mol/ps per atom at %.0f K): outer list "
                 "%d steps, buffer %.3f nm; inner list %s%d steps, buffer %.3f nm (%d classes, "
                 "%.1f atoms/nm^3)", e->drift_tol, e->dplan.kT / CLMD_BOLTZMANN, e->list_life,
                 e->dplan.skin, e->prune_steps > 0 ? "every " : "none: ", e->prune_steps,
                 e->dplan.skin_in, clmd_verletbuf_classes(e->vb), clmd_verletbuf_density(e->vb));
        clmd_probe_set_info(probe, "pair_list", info);
    }
    rc = clmd_pairlist_build(e->pl, e->st->x, e->st->box, 0, err);
    /* on the device, sites placed by the kernel from the start, as after set_positions, so a
     * restarted run sees the same bits */
    if (!rc && !e->reference) rc = clmd_engine_build_vsites(e, err);
    if (rc) goto fail;
    PROBE_STOP(probe, P_SETUP);
    *out = e;
    return CLMD_OK;
fail:
    PROBE_STOP(probe, P_SETUP);
    clmd_engine_destroy(&e);
    return rc;
}

int clmd_engine_add_hook(clmd_engine *e, clmd_hook *h, clmd_err *err)
{
    if (e->nhooks == CLMD_ENGINE_MAX_HOOKS) {
        clmd_hook_destroy(&h);
        return clmd_err_set(err, CLMD_ERUNTIME, "too many step hooks");
    }
    if (e->nseg > 1 && h->needs_energy) {
        /* a hook that reads the energy (the barostat) acts on one system's */
        const char *name = h->ops->name;
        clmd_hook_destroy(&h);
        return clmd_err_set(err, CLMD_EINPUT, "batched replicas are not available with the %s "
                            "(run the replicas one at a time)", name);
    }
    e->hooks[e->nhooks++] = h;
    /* a hook that reads energies also judges the list on the current displacement (barostat) */
    if (h->needs_energy) e->lag = e->overlap = 0;
    if (!e->reference && h->ops->setup_device) return h->ops->setup_device(h, e, err);
    return CLMD_OK;
}

void clmd_engine_destroy(clmd_engine **pe)
{
    if (!pe || !*pe) return;
    clmd_engine *e = *pe;
    if (e->dev.ocl) clmd_ocl_finish(e->dev.ocl, NULL);
    for (int t = 0; t < e->nterms; t++) clmd_term_destroy(&e->terms[t]);
    for (int h = 0; h < e->nhooks; h++) clmd_hook_destroy(&e->hooks[h]);
    clmd_engine_snapshot_destroy(&e->psnap);
    clmd_integrator_destroy(&e->integ);
    clmd_pairlist_destroy(&e->pl);
    clmd_verletbuf_destroy(&e->vb);
    clmd_constraints_destroy(&e->cons);
    clmd_vsites_destroy(&e->vs);
    for (int k = 0; k < CLMD_FLAG_RING; k++)
        if (e->flag_ev[k]) clReleaseEvent(e->flag_ev[k]);
    if (e->flag_ring) clmd_ocl_release_pinned(e->dev.ocl, &e->flag_ring, (void **)&e->flag_ring_host);
    if (e->k_kinetic) clReleaseKernel(e->k_kinetic);
    if (e->k_scale) clReleaseKernel(e->k_scale);
    clmd_dev *d = &e->dev;
    cl_mem *ms[] = {&d->seg_scale, &d->region, &d->posq, &d->posq_lo, &d->force, &d->energy, &e->pos, &e->vel, &e->flags,
                    &e->pos_old, &e->mol_start, &e->mol_atoms};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) clmd_ocl_release(ms[i]);
    if (!e->eo.ocl) clmd_ocl_close(&d->ocl);
    clmd_molecules_destroy(&e->mols);
    clmd_state_destroy(&e->st);
    clmd_free(e->f);
    clmd_free(e->invmass);
    clmd_free(e->xold);
    clmd_free(e->mixed_host);
    clmd_free(e->force_host);
    clmd_free(e->seg_energy);
    clmd_free(e->seg_T);
    clmd_free(e->seg_scale);
    clmd_free(e->seg_scratch);
    clmd_free(e->seg_key);
    clmd_free(e);
    *pe = NULL;
}

/* ---- force evaluation ---- */

clmd_fenv clmd_engine_fenv(clmd_engine *e, int host)
{
    clmd_fenv env = {e->sys, &e->plan, e->st->box, e->st->box_version, clmd_pairlist_host(e->pl),
                     host ? NULL : &e->dev, e->probe, e->st->step,
                     e->sys->region ? e->seg_scale : NULL, e->scale_version};
    return env;
}

static int forces_device(clmd_engine *e, int want_energy, clmd_err *err)
{
    clmd_dev *d = &e->dev;
    int rc;
    if (d->box_version != e->st->box_version) clmd_dev_set_box(d, e->st->box, e->st->box_version);
    if (d->seg_scale && d->scale_version != e->scale_version && (rc = upload_scale(e, err))) return rc;
    PROBE_START(e->probe, P_FORCE_CLEAR);
    /* the force overflow word after the blocks is cleared with them; an integrator kernel that
     * read the last forces left them zero (one command less per step) */
    rc = e->force_cleared ? CLMD_OK : clmd_ocl_zero(d->ocl, d->force, force_bytes(e), err);
    e->force_cleared = 0;
    if (!rc && want_energy) rc = clmd_ocl_zero(d->ocl, d->energy, energy_bytes(e), err);
    PROBE_STOP(e->probe, P_FORCE_CLEAR);
    if (rc) return rc;
    if ((rc = clmd_pairlist_prepare(e->pl, err))) return rc;
    clmd_fenv env = clmd_engine_fenv(e, 0);
    for (int t = 0; t < e->nterms; t++)
        if ((rc = e->terms[t]->ops->enqueue(e->terms[t], &env, want_energy, err))) return rc;
    for (int t = 0; t < e->nterms; t++)
        if (e->terms[t]->ops->finish &&
            (rc = e->terms[t]->ops->finish(e->terms[t], &env, want_energy, err)))
            return rc;
    return e->vs && !e->spread_in_step ? clmd_vsites_enqueue_spread(e->vs, err) : CLMD_OK;
}

/* The double-precision terms on the host at the state's positions, into e->f and e->energy,
 * with the overflow check into e->ovf (the reference path, and the minimizer's fallback on the
 * device path). */
static int forces_reference(clmd_engine *e, clmd_err *err)
{
    memset(e->f, 0, sizeof(double) * 3 * (size_t)e->sys->n);
    double slots[CLMD_E_SLOTS] = {0};
    clmd_fenv env = clmd_engine_fenv(e, 1);
    for (int t = 0; t < e->nterms; t++) {
        int rc = e->terms[t]->ops->reference(e->terms[t], &env, e->st->x, e->f, slots, err);
        if (rc) return rc;
    }
    memcpy(e->energy, slots, sizeof e->energy);
    for (int k = 0; k < 4; k++) e->seg_energy[CLMD_E_NCOMP + 1 + k] = slots[CLMD_E_DUDL_S + k];
    if (e->vs) {
        PROBE_START(e->probe, P_VSITE_SPREAD);
        clmd_vsites_spread_ref(e->vs, e->f);
        PROBE_STOP(e->probe, P_VSITE_SPREAD);
    }
    return clmd_overflow_check_host(e, &e->ovf, err);
}

/* Reads the device's energy accumulators into e->energy / e->ekin and the overflow word. */
static int read_energies_raw(clmd_engine *e, clmd_overflow *ovf, clmd_err *err)
{
    cl_long one[E_SLOTS], *buf = e->nseg > 1 ? (cl_long *)e->force_host : one;
    PROBE_START(e->probe, P_DOWNLOAD);
    int rc = clmd_ocl_read(e->dev.ocl, e->dev.energy, 0, energy_bytes(e), buf, err);
    PROBE_STOP(e->probe, P_DOWNLOAD);
    if (rc) return rc;
    /* every copy's slots (one read), their sums the totals */
    memset(e->energy, 0, sizeof e->energy);
    e->ekin = 0;
    ovf->energy = ovf->force = 0;
    for (int g = 0; g < e->nseg; g++) {
        const cl_long *b = buf + (size_t)g * E_SLOTS;
        double *se = e->seg_energy + (size_t)g * CLMD_SEG_VALUES;
        for (int c = 0; c <= CLMD_E_NCOMP; c++) {
            se[c] = (double)b[c] / CLMD_FIXED_SCALE;
            if (c < CLMD_E_NCOMP) e->energy[c] += se[c];
        }
        for (int k = 0; k < 4; k++) se[CLMD_E_NCOMP + 1 + k] = (double)b[CLMD_E_DUDL_S + k] / CLMD_FIXED_SCALE;
        e->ekin += se[CLMD_E_NCOMP];
        uint32_t w;
        memcpy(&w, &b[CLMD_E_FLAGS], sizeof w); /* the kernels OR the word's first four bytes */
        ovf->energy |= w & ((1u << CLMD_OVF_FORCE_SHIFT) - 1);
        ovf->force |= w >> CLMD_OVF_FORCE_SHIFT;
    }
    if (ovf->force) e->force_cleared = 0; /* the overflow word is cleared with the forces */
    return CLMD_OK;
}

int clmd_engine_read_energies(clmd_engine *e, clmd_err *err)
{
    if (e->reference) return CLMD_OK;
    clmd_overflow ovf = {0, 0};
    int rc = read_energies_raw(e, &ovf, err);
    cl_uint flags[NFLAGS];
    /* an overflow the integrator recorded earlier (and froze the particles at) comes first */
    if (!rc && (ovf.force || ovf.energy) && !(rc = read_flags(e, flags, err)))
        rc = clmd_engine_overflow_error(e, e->st->step, &ovf, NULL, NULL, err);
    return rc;
}

static double kinetic_reference(const clmd_engine *e)
{
    double k = 0;
    const double *v = e->st->v;
    for (int i = 0; i < e->sys->n; i++)
        if (e->invmass[i] > 0)
            k += 0.5 * (v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] + v[3 * i + 2] * v[3 * i + 2]) /
                 e->invmass[i];
    return k;
}

/* Forces (and energies) without the overflow check. */
static int forces_raw(clmd_engine *e, int want_energy, clmd_err *err)
{
    if (e->forces_valid && (!want_energy || e->energy_valid)) return CLMD_OK;
    int rc = e->reference ? forces_reference(e, err) : forces_device(e, want_energy, err);
    if (rc) return rc;
    e->forces_valid = 1;
    e->energy_valid = want_energy || e->reference;
    return CLMD_OK;
}

/* The device's overflows surface when the engine reads its flags or energies; the reference
 * path's at once. */
int clmd_engine_forces(clmd_engine *e, int want_energy, clmd_err *err)
{
    int rc = forces_raw(e, want_energy, err);
    if (!rc && e->reference && (e->ovf.force || e->ovf.energy))
        rc = clmd_engine_overflow_error(e, e->st->step, &e->ovf, e->f, NULL, err);
    return rc;
}

/* Kinetic energy into e->ekin and the potential energies into e->energy (device: one read),
 * and what overflowed into *ovf. */
static int finish_energies_raw(clmd_engine *e, clmd_overflow *ovf, clmd_err *err)
{
    if (e->reference) {
        e->ekin = kinetic_reference(e);
        memcpy(e->seg_energy, e->energy, sizeof e->energy);
        e->seg_energy[CLMD_E_NCOMP] = e->ekin;
        *ovf = e->ovf;
        if (!isfinite(e->ekin)) ovf->energy |= 1u << CLMD_E_NCOMP;
        return CLMD_OK;
    }
    int rc = clmd_ocl_launch(e->dev.ocl, e->k_kinetic, groups(e->sys->n), WG, P_ENERGY, err);
    return rc ? rc : read_energies_raw(e, ovf, err);
}

static int finish_energies(clmd_engine *e, clmd_err *err)
{
    if (!e->reference) {
        int rc = clmd_ocl_launch(e->dev.ocl, e->k_kinetic, groups(e->sys->n), WG, P_ENERGY, err);
        return rc ? rc : clmd_engine_read_energies(e, err);
    }
    clmd_overflow ovf = {0, 0};
    int rc = finish_energies_raw(e, &ovf, err);
    if (!rc && (ovf.force || ovf.energy))
        rc = clmd_engine_overflow_error(e, e->st->step, &ovf, e->f, NULL, err);
    return rc;
}

/* ---- stepping ---- */

static int step_one(clmd_engine *e, int want_energy, clmd_err *err)
{
    int rc;
    long next = e->st->step + 1;
    int need_e = want_energy;
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->needs_energy && next % e->hooks[h]->interval == 0) need_e = 1;
    if (!e->reference && (rc = clmd_ocl_zero(e->dev.ocl, e->flags, sizeof(cl_uint), err)))
        return rc;
    if ((rc = e->integ->ops->before_forces(e->integ, e, err))) return rc;
    e->force_cleared = !e->reference && e->integ->ops->clears_forces;
    e->st->step = next;
    e->forces_valid = e->energy_valid = 0;
    rc = e->lag > 0 && !e->reference && !e->drift && (clmd_pairlist_checks(e->pl) || e->cons)
             ? update_list_lagged(e, err)
             : clmd_engine_update_list(e, err);
    if (rc) return rc;
    if ((rc = clmd_engine_forces(e, need_e, err))) return rc;
    if ((rc = e->integ->ops->after_forces(e->integ, e, err))) return rc;
    for (int h = 0; h < e->nhooks; h++)
        if (next % e->hooks[h]->interval == 0 && (rc = e->hooks[h]->ops->apply(e->hooks[h], e, err)))
            return rc;
    if (want_energy) {
        /* a hook may have moved the particles: the energies must be the final state's */
        if ((rc = clmd_engine_forces(e, 1, err))) return rc;
        if ((rc = finish_energies(e, err))) return rc;
    }
    return CLMD_OK;
}

int clmd_engine_step(clmd_engine *e, long nsteps, int want_energy, clmd_err *err)
{
    int rc = clmd_engine_forces(e, 0, err);
    for (long s = 0; s < nsteps && !rc; s++) rc = step_one(e, want_energy && s == nsteps - 1, err);
    /* without a per-step read (no cutoff, no constraints) the flags are read once here: the
     * integrator froze the particles at the first overflow and recorded its step */
    cl_uint flags[NFLAGS];
    if (!rc && !e->reference && e->flags_step != e->st->step) rc = read_flags(e, flags, err);
    if (!rc && want_energy) {
        /* every energy passed the overflow check when read; what is left is a finite but
         * absurd temperature */
        double T = clmd_engine_temperature(e, e->ekin);
        if (!(T <= 1e6))
            return clmd_err_set(err, CLMD_ERUNTIME, "the simulation blew up at step %ld: "
                                "temperature %g K (kinetic energy %g kJ/mol; try a smaller "
                                "timestep, constraints, or minimize/equilibrate the input)",
                                e->st->step, T, e->ekin);
    }
    return rc;
}

/* Device forces (kJ/mol/nm, [3n]) and the force word from the device buffer. */
int clmd_engine_read_forces(clmd_engine *e, double *forces, unsigned *word, clmd_err *err)
{
    int np = e->dev.npad, n = e->sys->n;
    int rc = e->spread_in_step ? clmd_vsites_enqueue_spread(e->vs, err) : CLMD_OK;
    if (!rc) rc = clmd_ocl_read(e->dev.ocl, e->dev.force, 0, force_bytes(e), e->force_host, err);
    if (rc) return rc;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            forces[3 * i + k] = (double)e->force_host[i + k * np] / CLMD_FIXED_SCALE;
    uint32_t w;
    memcpy(&w, &e->force_host[3 * (size_t)np], sizeof w);
    if (word) *word = w;
    return CLMD_OK;
}

int clmd_engine_evaluate_raw(clmd_engine *e, int host, double *energies, double *forces,
                             clmd_overflow *ovf, clmd_err *err)
{
    int rc;
    ovf->force = ovf->energy = 0;
    e->forces_valid = e->energy_valid = 0;
    if (host && !e->reference) {
        /* the device's buffers stay as they were: nothing is valid for them afterwards */
        if ((rc = clmd_engine_download_positions(e, err)) || (rc = forces_reference(e, err)))
            return rc;
        *ovf = e->ovf;
        if (forces) memcpy(forces, e->f, sizeof(double) * 3 * (size_t)e->sys->n);
        if (energies) memcpy(energies, e->energy, sizeof e->energy);
        return CLMD_OK;
    }
    if ((rc = forces_raw(e, 1, err)) || (rc = finish_energies_raw(e, ovf, err))) return rc;
    if (forces) {
        if (e->reference) {
            memcpy(forces, e->f, sizeof(double) * 3 * (size_t)e->sys->n);
        } else {
            unsigned w;
            if ((rc = clmd_engine_read_forces(e, forces, &w, err))) return rc;
            ovf->force |= w;
        }
    }
    if (energies) memcpy(energies, e->energy, sizeof e->energy);
    return CLMD_OK;
}

int clmd_engine_evaluate(clmd_engine *e, double *energies, double *forces, clmd_err *err)
{
    clmd_overflow ovf;
    int rc = clmd_engine_evaluate_raw(e, 0, energies, forces, &ovf, err);
    if (!rc && (ovf.force || ovf.energy))
        rc = clmd_engine_overflow_error(e, e->st->step, &ovf, forces, NULL, err);
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

int clmd_engine_segments(const clmd_engine *e) { return e->nseg; }

void clmd_engine_segment_energies(clmd_engine *e, int seg, double *components,
                                  double *potential, double *kinetic)
{
    /* one system: the engine's own (the reference path computes no slots) */
    const double *se = e->seg_energy + (size_t)seg * CLMD_SEG_VALUES;
    if (e->nseg == 1) {
        memcpy(e->seg_energy, e->energy, sizeof e->energy);
        e->seg_energy[CLMD_E_NCOMP] = e->ekin;
    }
    double epot = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) {
        if (components) components[c] = se[c];
        epot += se[c];
    }
    if (potential) *potential = epot;
    if (kinetic) *kinetic = se[CLMD_E_NCOMP];
}

double clmd_engine_segment_temperature(const clmd_engine *e, double kinetic)
{
    return 2 * kinetic / ((double)e->dof / e->nseg * CLMD_BOLTZMANN);
}

void clmd_engine_set_segment_bath(clmd_engine *e, int seg, double temperature_K,
                                  unsigned long seed)
{
    e->seg_T[seg] = temperature_K;
    clmd_seed_key(seed, e->seg_key[seg]);
    e->seg_bath_version++;
    if (e->nseg == 1) clmd_state_set_thermostat(e->st, temperature_K, e->st->friction_per_ps, seed);
}

double clmd_engine_segment_bath(const clmd_engine *e, int seg) { return e->seg_T[seg]; }

void clmd_engine_set_segment_scale(clmd_engine *e, int seg, const clmd_region_scale *sc)
{
    if (memcmp(&e->seg_scale[seg], sc, sizeof *sc) == 0) return;
    e->seg_scale[seg] = *sc;
    e->scale_version++;
    e->forces_valid = e->energy_valid = 0;
}

clmd_region_scale clmd_engine_segment_scale(const clmd_engine *e, int seg) { return e->seg_scale[seg]; }

void clmd_engine_segment_dudl(const clmd_engine *e, int seg, double *dudl_sterics,
                              double *dudl_electrostatics)
{
    const double *v = e->seg_energy + (size_t)seg * CLMD_SEG_VALUES + CLMD_E_NCOMP + 1;
    if (dudl_sterics) *dudl_sterics = v[0];
    /* E(l) = E_rest + l E_re + l^2 E_rr for the direct and exception parts, the reciprocal and
     * self parts' derivative computed by their terms */
    if (dudl_electrostatics) *dudl_electrostatics = v[1] + v[2] + 2 * e->seg_scale[seg].charge * v[3];
}

int clmd_engine_region_energies(clmd_engine *e, int K, const clmd_region_scale *states, double *u,
                                clmd_err *err)
{
    if (!e->sys->region)
        return clmd_err_set(err, CLMD_ERUNTIME, "energies at other region factors need a region");
    int rc;
    if ((rc = clmd_engine_evaluate(e, NULL, NULL, err)) || (rc = clmd_engine_download_positions(e, err)))
        return rc;
    const int G = e->nseg, S = K + 1;
    clmd_region_scale *sc = clmd_calloc((size_t)G * S, sizeof *sc);
    double *slots = clmd_calloc(4 * (size_t)G, sizeof *slots);
    double *part = clmd_calloc((size_t)G * S, sizeof *part);
    for (int g = 0; g < G; g++) {
        memcpy(sc + (size_t)g * S, states, sizeof *states * (size_t)K);
        sc[(size_t)g * S + K] = e->seg_scale[g];
        memcpy(slots + 4 * (size_t)g, e->seg_energy + (size_t)g * CLMD_SEG_VALUES + CLMD_E_NCOMP + 1,
               4 * sizeof *slots);
    }
    /* the host list serves the pair search while it is valid for these positions */
    clmd_fenv env = clmd_engine_fenv(e, 1);
    if (env.nl && clmd_pairlist_stale_host(e->pl, e->st->x)) env.nl = NULL;
    for (int t = 0; t < e->nterms && !rc; t++)
        if (e->terms[t]->ops->region_energies)
            rc = e->terms[t]->ops->region_energies(e->terms[t], &env, e->st->x, S, sc, slots, part, err);
    for (int g = 0; g < G && !rc; g++) {
        double U;
        clmd_engine_segment_energies(e, g, NULL, &U, NULL);
        const double *pg = part + (size_t)g * S;
        for (int k = 0; k < K; k++) u[(size_t)g * K + k] = U + (pg[k] - pg[K]);
    }
    clmd_free(sc);
    clmd_free(slots);
    clmd_free(part);
    return rc;
}

/* ---- positions, velocities, box ---- */

clmd_state *clmd_engine_state(clmd_engine *e) { return e->st; }
const clmd_ffplan *clmd_engine_plan(const clmd_engine *e) { return &e->plan; }

int clmd_engine_get_positions(clmd_engine *e, double *x, clmd_err *err)
{
    int rc = clmd_engine_download_positions(e, err);
    if (!rc && x) memcpy(x, e->st->x, sizeof(double) * 3 * (size_t)e->sys->n);
    return rc;
}

int clmd_engine_get_velocities(clmd_engine *e, double *v, clmd_err *err)
{
    int rc = download_velocities(e, err);
    if (!rc && v) memcpy(v, e->st->v, sizeof(double) * 3 * (size_t)e->sys->n);
    return rc;
}

int clmd_engine_set_positions(clmd_engine *e, const double *x, clmd_err *err)
{
    int rc;
    if (x != e->st->x) memcpy(e->st->x, x, sizeof(double) * 3 * (size_t)e->sys->n);
    e->forces_valid = e->energy_valid = 0;
    if (e->vs) clmd_vsites_build_ref(e->vs, e->st->x);
    if (!e->reference) {
        if ((rc = upload_positions(e, err))) return rc;
        if (clmd_pairlist_stale_host(e->pl, e->st->x)) {
            if ((rc = clmd_engine_rebuild_list(e, err))) return rc;
        } else if ((rc = clmd_pairlist_refresh_positions(e->pl, err))) {
            return rc;
        }
        /* the device places its own sites, as it does after every step */
        return clmd_engine_build_vsites(e, err);
    }
    if (clmd_pairlist_stale_host(e->pl, e->st->x)) return clmd_engine_rebuild_list(e, err);
    return CLMD_OK;
}

int clmd_engine_set_velocities(clmd_engine *e, const double *v, clmd_err *err)
{
    if (v != e->st->v) memcpy(e->st->v, v, sizeof(double) * 3 * (size_t)e->sys->n);
    /* without a bath, drift-sized buffers follow these velocities from the next list on */
    if (e->drift) e->dplan.T0 = kinetic_temperature(e, v);
    return e->reference ? CLMD_OK : upload_velocities(e, err);
}

int clmd_engine_set_box(clmd_engine *e, const double b[3][3], clmd_err *err)
{
    if (!e->sys->periodic)
        return clmd_err_set(err, CLMD_EINPUT, "setting a box: the system is not periodic");
    if (!clmd_box_is_reduced(b))
        return clmd_err_set(err, CLMD_EINPUT, "setting a box: not in reduced form");
    if (!clmd_ffplan_box_ok(&e->plan, b))
        return clmd_err_set(err, CLMD_EINPUT, "the box (shortest width %g nm) is too small for "
                            "the cutoff %g nm", clmd_box_min_width(b), e->plan.o.cutoff_nm);
    clmd_state_set_box(e->st, b);
    e->forces_valid = e->energy_valid = 0;
    int rc = clmd_pairlist_set_box(e->pl, b, err);
    if (!rc && !e->reference) rc = clmd_engine_build_vsites(e, err);
    return rc;
}

/* The molecule tables and the scaling kernel, made on first use. */
static int scale_setup(clmd_engine *e, clmd_err *err)
{
    if (e->k_scale) return CLMD_OK;
    clmd_ocl *o = e->dev.ocl;
    const clmd_molecules *m = e->mols;
    char defs[96];
    snprintf(defs, sizeof defs, "#define HAVE_FP64 %d\n#define WG %d\n", e->fp64, WG);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_alloc(o, sizeof(int) * ((size_t)m->n + 1), &e->mol_start, err)) ||
        (rc = clmd_ocl_write(o, e->mol_start, 0, sizeof(int) * ((size_t)m->n + 1), m->start, err)) ||
        (rc = clmd_ocl_alloc(o, sizeof(int) * (size_t)e->sys->n, &e->mol_atoms, err)) ||
        (rc = clmd_ocl_write(o, e->mol_atoms, 0, sizeof(int) * (size_t)e->sys->n, m->atoms, err)) ||
        (rc = clmd_ocl_program(o, "scale.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(o, prog, "scale_molecules", &e->k_scale, err)))
        return rc;
    clmd_binder b = clmd_bind(e->k_scale, e->fp64);
    clmd_bind_mem(&b, e->mol_start);
    clmd_bind_mem(&b, e->mol_atoms);
    clmd_bind_int(&b, m->n);
    clmd_bind_mem(&b, e->pos);
    clmd_bind_mem(&b, e->dev.posq);
    clmd_bind_mem(&b, e->dev.posq_lo);
    clmd_bind_mem(&b, clmd_pairlist_pos_shift(e->pl));
    clmd_bind_mem(&b, clmd_pairlist_posq_ref(e->pl));
    e->scale_arg = b.next;
    return clmd_bind_done(&b, err);
}

static int scale_molecules_device(clmd_engine *e, const double s[3], clmd_err *err)
{
    int rc = scale_setup(e, err);
    if (rc) return rc;
    const double s1[4] = {s[0] - 1, s[1] - 1, s[2] - 1, 0};
    clmd_binder b = clmd_bind(e->k_scale, e->fp64);
    b.next = e->scale_arg;
    clmd_bind_mixed4(&b, s1);
    if ((rc = clmd_bind_done(&b, err))) return rc;
    return clmd_ocl_launch(e->dev.ocl, e->k_scale, groups(e->mols->n), WG, P_BOX_SCALE, err);
}

int clmd_engine_scale_box(clmd_engine *e, const double s[3], clmd_err *err)
{
    if (!e->sys->periodic)
        return clmd_err_set(err, CLMD_EINPUT, "scaling the box: the system is not periodic");
    double b[3][3];
    for (int r = 0; r < 3; r++)
        for (int d = 0; d < 3; d++) b[r][d] = e->st->box[r][d] * s[d];
    if (!clmd_ffplan_box_ok(&e->plan, b))
        return clmd_err_set(err, CLMD_EINPUT, "the box (shortest width %g nm) is too small for "
                            "the cutoff %g nm", clmd_box_min_width(b), e->plan.o.cutoff_nm);
    clmd_state_set_box(e->st, b);
    e->forces_valid = e->energy_valid = 0;
    const clmd_molecules *m = e->mols;
    int rc;
    if (e->reference) {
        double *x = e->st->x;
        for (int k = 0; k < m->n; k++) {
            int a0 = m->start[k], a1 = m->start[k + 1];
            double c[3] = {0, 0, 0};
            for (int a = a0; a < a1; a++)
                for (int d = 0; d < 3; d++) c[d] += x[3 * m->atoms[a] + d];
            for (int d = 0; d < 3; d++) c[d] = (s[d] - 1) * (c[d] / (a1 - a0));
            for (int a = a0; a < a1; a++)
                for (int d = 0; d < 3; d++) x[3 * m->atoms[a] + d] += c[d];
        }
        return clmd_engine_build_vsites(e, err);
    }
    /* the new box's wraps first: the scaling kernel writes posq from pos + pos_shift */
    if ((rc = clmd_pairlist_set_box(e->pl, b, err))) return rc;
    if ((rc = scale_molecules_device(e, s, err))) return rc;
    return clmd_engine_build_vsites(e, err);
}

int clmd_engine_molecule_count(const clmd_engine *e) { return e->mols->n; }

int clmd_engine_molecular_kinetic(clmd_engine *e, double ke[3], clmd_err *err)
{
    int rc = download_velocities(e, err);
    if (rc) return rc;
    const clmd_molecules *m = e->mols;
    const double *v = e->st->v;
    ke[0] = ke[1] = ke[2] = 0;
    for (int k = 0; k < m->n; k++) {
        double p[3] = {0, 0, 0}, mass = 0;
        for (int a = m->start[k]; a < m->start[k + 1]; a++) {
            int i = m->atoms[a];
            if (e->invmass[i] == 0) continue;
            double mi = 1 / e->invmass[i];
            for (int d = 0; d < 3; d++) p[d] += mi * v[3 * i + d];
            mass += mi;
        }
        if (mass > 0)
            for (int d = 0; d < 3; d++) ke[d] += 0.5 * p[d] * p[d] / mass;
    }
    return CLMD_OK;
}

int clmd_engine_potential(clmd_engine *e, double *u, clmd_err *err)
{
    int rc = clmd_engine_forces(e, 1, err);
    if (!rc) rc = clmd_engine_read_energies(e, err);
    if (rc) return rc;
    double t = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) t += e->energy[c];
    *u = t;
    return CLMD_OK;
}

int clmd_engine_segment_pressures(clmd_engine *e, double *pressure_bar, clmd_err *err)
{
    if (!e->sys->periodic)
        return clmd_err_set(err, CLMD_EINPUT, "pressure: the system is not periodic");
    const double delta = 1e-3;
    const int G = e->nseg;
    PROBE_START(e->probe, P_PRESSURE);
    double *u1 = e->seg_scratch, *u2 = u1 + G, *ke = u2 + G; /* ke[3G] */
    memset(u1, 0, sizeof(double) * 5 * (size_t)G);
    int rc = e->psnap ? CLMD_OK : clmd_engine_snapshot_create(e, &e->psnap, err);
    const double lagged_d2 = e->last_d2; /* the lagged check's, put back with the state */
    if (!rc && e->lag > 0 && !e->reference) {
        /* the lagged displacement is old: the list's room is judged on the current one */
        cl_uint f[NFLAGS];
        if (!(rc = read_flags(e, f, err))) {
            const double d = flag_disp(e, f, NULL);
            e->last_d2 = d * d;
        }
    }
    clmd_engine_snapshot *snap = e->psnap;
    if (!rc) rc = clmd_engine_save(e, snap, err);
    const double V = clmd_box_volume(e->st->box);
    double s1[3] = {1 + delta, 1 + delta, 1 + delta}, s2[3] = {1 - delta, 1 - delta, 1 - delta};
    /* the list must hold through either scaling: rebuild first if the buffer is short */
    if (!rc && !clmd_pairlist_fits_scaling(e->pl, e->last_d2, delta)) {
        rc = clmd_engine_rebuild_list(e, err);
        if (!rc) rc = clmd_engine_save(e, snap, err);
    }
    double u;
    if (!rc) rc = clmd_engine_scale_box(e, s1, err);
    if (!rc) rc = clmd_engine_potential(e, &u, err);
    for (int g = 0; !rc && g < G; g++) clmd_engine_segment_energies(e, g, NULL, &u1[g], NULL);
    if (!rc) rc = clmd_engine_restore(e, snap, err);
    if (!rc) rc = clmd_engine_scale_box(e, s2, err);
    if (!rc) rc = clmd_engine_potential(e, &u, err);
    for (int g = 0; !rc && g < G; g++) clmd_engine_segment_energies(e, g, NULL, &u2[g], NULL);
    if (!rc) rc = clmd_engine_restore(e, snap, err);
    e->last_d2 = lagged_d2;
    if (!rc) rc = download_velocities(e, err);
    if (!rc) {
        /* each copy's molecular kinetic energy (molecules never span copies) */
        const clmd_molecules *m = e->mols;
        const double *v = e->st->v;
        for (int k = 0; k < m->n; k++) {
            double p[3] = {0, 0, 0}, mass = 0;
            for (int a = m->start[k]; a < m->start[k + 1]; a++) {
                int i = m->atoms[a];
                if (e->invmass[i] == 0) continue;
                double mi = 1 / e->invmass[i];
                for (int d = 0; d < 3; d++) p[d] += mi * v[3 * i + d];
                mass += mi;
            }
            const int g = clmd_system_segment(e->sys, m->atoms[m->start[k]]);
            if (mass > 0)
                for (int d = 0; d < 3; d++) ke[3 * g + d] += 0.5 * p[d] * p[d] / mass;
        }
    }
    PROBE_STOP(e->probe, P_PRESSURE);
    const double dV = V * (s1[0] * s1[0] * s1[0] - s2[0] * s2[0] * s2[0]);
    for (int g = 0; !rc && g < G; g++) {
        double p = (2.0 / 3.0) * (ke[3 * g] + ke[3 * g + 1] + ke[3 * g + 2]) / V - (u1[g] - u2[g]) / dV;
        pressure_bar[g] = p / CLMD_BAR_TO_KJ_NM3;
    }
    return rc;
}

int clmd_engine_pressure(clmd_engine *e, double *pressure_bar, clmd_err *err)
{
    if (e->nseg > 1)
        return clmd_err_set(err, CLMD_ERUNTIME, "pressure: batched copies have one each "
                            "(clmd_engine_segment_pressures)");
    return clmd_engine_segment_pressures(e, pressure_bar, err);
}

int clmd_engine_apply_constraints(clmd_engine *e, clmd_err *err)
{
    int rc;
    if (!e->cons) return CLMD_OK;
    e->forces_valid = e->energy_valid = 0;
    if (e->reference) {
        PROBE_START(e->probe, P_CONSTRAINTS);
        rc = clmd_constraints_positions_ref(e->cons, e->st->x, e->st->x, NULL, 0, err);
        if (!rc) {
            if (e->vs) clmd_vsites_build_ref(e->vs, e->st->x);
            rc = clmd_constraints_velocities_ref(e->cons, e->st->x, e->st->v, e->eo.dt_ps, err);
        }
        PROBE_STOP(e->probe, P_CONSTRAINTS);
        if (rc) return rc;
    } else {
        cl_uint flags[NFLAGS];
        CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(e->dev.ocl), e->pos, e->pos_old, 0, 0,
                                     e->mixed_size * (size_t)e->sys->n, 0, NULL, NULL),
                 err);
        if ((rc = clmd_constraints_enqueue_positions(e->cons, 0, err)) ||
            (e->vs && (rc = clmd_vsites_enqueue_build(e->vs, err))) ||
            (rc = clmd_constraints_enqueue_velocities(e->cons, e->eo.dt_ps, err)) ||
            (rc = read_flags(e, flags, err)) || (rc = clmd_engine_download_positions(e, err)))
            return rc;
    }
    if (clmd_pairlist_stale_host(e->pl, e->st->x)) return clmd_engine_rebuild_list(e, err);
    return CLMD_OK;
}

long clmd_engine_step_count(const clmd_engine *e) { return e->st->step; }
void clmd_engine_set_step_count(clmd_engine *e, long step) { e->st->step = step; }

/* ---- snapshots ---- */

struct clmd_engine_snapshot {
    clmd_state st;            /* scalars */
    double *x, *v, *f;        /* reference path */
    double energy[CLMD_E_NCOMP], ekin, last_d2;
    double *seg_energy;       /* [nseg * CLMD_SEG_VALUES] */
    int forces_valid, energy_valid;
    /* the lagged list check's state: the flag reads still to be examined and the estimates */
    long list_step, ref_step;
    double disp_prev, disp_growth;
    struct clmd_drift_plan dplan;
    cl_uint ring[CLMD_FLAG_RING][NFLAGS];
    clmd_pairlist_snapshot *list;
    cl_mem pos, vel, posq, posq_lo, force, energy_dev; /* device path */
};

int clmd_engine_snapshot_create(clmd_engine *e, clmd_engine_snapshot **out, clmd_err *err)
{
    clmd_engine_snapshot *s = clmd_alloc(sizeof *s);
    int n = e->sys->n, rc = CLMD_OK;
    *out = s;
    CLMD_NEW(s->seg_energy, (size_t)e->nseg * CLMD_SEG_VALUES);
    if ((rc = clmd_pairlist_snapshot_create(e->pl, &s->list, err))) {
        clmd_engine_snapshot_destroy(out);
        return rc;
    }
    if (e->reference) {
        CLMD_NEW(s->x, 3 * n);
        CLMD_NEW(s->v, 3 * n);
        CLMD_NEW(s->f, 3 * n);
        return CLMD_OK;
    }
    clmd_ocl *o = e->dev.ocl;
    size_t np = (size_t)e->dev.npad;
    if ((rc = clmd_ocl_alloc(o, e->mixed_size * np, &s->pos, err)) ||
        (rc = clmd_ocl_alloc(o, e->mixed_size * np, &s->vel, err)) ||
        (rc = clmd_ocl_alloc(o, sizeof(cl_float4) * np, &s->posq, err)) ||
        (rc = clmd_ocl_alloc(o, sizeof(cl_float4) * np, &s->posq_lo, err)) ||
        (rc = clmd_ocl_alloc(o, force_bytes(e), &s->force, err)) ||
        (rc = clmd_ocl_alloc(o, energy_bytes(e), &s->energy_dev, err))) {
        clmd_engine_snapshot_destroy(out);
        return rc;
    }
    return CLMD_OK;
}

void clmd_engine_snapshot_destroy(clmd_engine_snapshot **ps)
{
    if (!ps || !*ps) return;
    clmd_engine_snapshot *s = *ps;
    clmd_free(s->x);
    clmd_free(s->v);
    clmd_free(s->f);
    clmd_free(s->seg_energy);
    clmd_pairlist_snapshot_destroy(&s->list);
    cl_mem *ms[] = {&s->pos, &s->vel, &s->posq, &s->posq_lo, &s->force, &s->energy_dev};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) clmd_ocl_release(ms[i]);
    clmd_free(s);
    *ps = NULL;
}

static int copy_buffer(clmd_engine *e, cl_mem from, cl_mem to, size_t bytes, clmd_err *err)
{
    CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(e->dev.ocl), from, to, 0, 0, bytes, 0, NULL, NULL),
             err);
    return CLMD_OK;
}

/* Copies the device buffers one way or the other. */
static int copy_state(clmd_engine *e, const clmd_engine_snapshot *s, int save, clmd_err *err)
{
    size_t np = (size_t)e->dev.npad, m4 = e->mixed_size * np, f4 = sizeof(cl_float4) * np;
    const clmd_dev *d = &e->dev;
    cl_mem live[6] = {e->pos, e->vel, d->posq, d->posq_lo, d->force, d->energy};
    cl_mem copy[6] = {s->pos, s->vel, s->posq, s->posq_lo, s->force, s->energy_dev};
    size_t bytes[6] = {m4, m4, f4, f4, force_bytes(e), energy_bytes(e)};
    for (int k = 0; k < 6; k++) {
        int rc = save ? copy_buffer(e, live[k], copy[k], bytes[k], err)
                      : copy_buffer(e, copy[k], live[k], bytes[k], err);
        if (rc) return rc;
    }
    return CLMD_OK;
}

/* The lagged check's state into s (waiting for the reads in flight), or back from s. An
 * overlapped build in flight is the list's part of the snapshot (clmd_pairlist_save). */
static int lag_state(clmd_engine *e, clmd_engine_snapshot *s, int save, clmd_err *err)
{
    /* the list's schedule and the drift-sized buffers, on every path (drift-sized lists are
     * renewed by the step count; the buffers follow the bath) */
    if (save) {
        s->list_step = e->list_step;
        s->ref_step = e->ref_step;
        s->dplan = e->dplan;
    } else {
        e->list_step = s->list_step;
        e->ref_step = s->ref_step;
        e->dplan = s->dplan;
    }
    if (e->reference || e->lag == 0) return CLMD_OK;
    for (int k = 0; k < CLMD_FLAG_RING; k++) {
        int rc = clmd_ocl_wait(e->dev.ocl, &e->flag_ev[k], err);
        if (rc) return rc;
    }
    if (save) {
        memcpy(s->ring, e->flag_ring_host, sizeof s->ring);
        s->disp_prev = e->disp_prev;
        s->disp_growth = e->disp_growth;
    } else {
        memcpy(e->flag_ring_host, s->ring, sizeof s->ring);
        e->disp_prev = s->disp_prev;
        e->disp_growth = s->disp_growth;
    }
    return CLMD_OK;
}

int clmd_engine_save(clmd_engine *e, clmd_engine_snapshot *s, clmd_err *err)
{
    int n = e->sys->n;
    int lrc = lag_state(e, s, 1, err);
    if (lrc) return lrc;
    clmd_state_copy_scalars(&s->st, e->st);
    memcpy(s->energy, e->energy, sizeof s->energy);
    memcpy(s->seg_energy, e->seg_energy, sizeof(double) * (size_t)e->nseg * CLMD_SEG_VALUES);
    s->ekin = e->ekin;
    s->last_d2 = e->last_d2;
    s->forces_valid = e->forces_valid;
    s->energy_valid = e->energy_valid;
    int rc = clmd_pairlist_save(e->pl, s->list, err);
    if (rc) return rc;
    if (e->reference) {
        memcpy(s->x, e->st->x, sizeof(double) * 3 * (size_t)n);
        memcpy(s->v, e->st->v, sizeof(double) * 3 * (size_t)n);
        memcpy(s->f, e->f, sizeof(double) * 3 * (size_t)n);
        return CLMD_OK;
    }
    return copy_state(e, s, 1, err);
}

int clmd_engine_restore(clmd_engine *e, const clmd_engine_snapshot *s, clmd_err *err)
{
    int n = e->sys->n, rc;
    if ((rc = lag_state(e, (clmd_engine_snapshot *)s, 0, err))) return rc;
    long version = e->st->box_version;
    clmd_state_copy_scalars(e->st, &s->st);
    /* a new version, so whatever was derived from the trial box is derived again */
    e->st->box_version = version + 1;
    memcpy(e->energy, s->energy, sizeof e->energy);
    memcpy(e->seg_energy, s->seg_energy, sizeof(double) * (size_t)e->nseg * CLMD_SEG_VALUES);
    e->ekin = s->ekin;
    e->last_d2 = s->last_d2;
    e->forces_valid = s->forces_valid;
    e->energy_valid = s->energy_valid;
    if (e->reference) {
        memcpy(e->st->x, s->x, sizeof(double) * 3 * (size_t)n);
        memcpy(e->st->v, s->v, sizeof(double) * 3 * (size_t)n);
        memcpy(e->f, s->f, sizeof(double) * 3 * (size_t)n);
        return clmd_pairlist_restore(e->pl, s->list, e->st->box, err);
    }
    /* positions first: the list's restore rewrites posq from them with its wraps */
    e->force_cleared = 0;
    if ((rc = copy_state(e, s, 0, err))) return rc;
    return clmd_pairlist_restore(e->pl, s->list, e->st->box, err);
}

/* ---- checkpoints ---- */

int clmd_engine_save_checkpoint(clmd_engine *e, clmd_ckpt_writer *w, clmd_err *err)
{
    clmd_state *st = e->st;
    int n = e->sys->n, rc;
    if ((rc = clmd_engine_get_positions(e, NULL, err)) ||
        (rc = clmd_engine_get_velocities(e, NULL, err)))
        return rc;
    if ((rc = clmd_ckpt_put_i64(w, "step", st->step, err)) ||
        (rc = clmd_ckpt_put_i64(w, "particles", n, err)) ||
        (rc = clmd_ckpt_put(w, "box", CLMD_CKPT_F64, st->box, 9, err)) ||
        (rc = clmd_ckpt_put_f64(w, "temperature_K", st->temperature_K, err)) ||
        (rc = clmd_ckpt_put_f64(w, "friction_per_ps", st->friction_per_ps, err)) ||
        (rc = clmd_ckpt_put_u64(w, "noise_seed", st->seed, err)) ||
        (rc = clmd_ckpt_put(w, "positions", CLMD_CKPT_F64, st->x, 3 * (size_t)n, err)) ||
        (rc = clmd_ckpt_put(w, "velocities", CLMD_CKPT_F64, st->v, 3 * (size_t)n, err)) ||
        (rc = clmd_pairlist_write_checkpoint(e->pl, w, err)))
        return rc;
    if (e->lag > 0 && !e->reference) {
        /* the lagged check's state: a restart decides the rebuilds of the next steps as the
         * straight run does (the flag reads still to be examined, the growth estimate) */
        cl_uint ring[CLMD_FLAG_RING][NFLAGS];
        memset(ring, 0, sizeof ring);
        for (int k = 0; k < e->lag; k++) {
            const long s = st->step - k;
            if (s <= e->list_step) break;
            const int slot = (int)(s % CLMD_FLAG_RING);
            if ((rc = clmd_ocl_wait(e->dev.ocl, &e->flag_ev[slot], err))) return rc;
            memcpy(ring[k], e->flag_ring_host + (size_t)slot * NFLAGS, sizeof ring[k]);
        }
        double g[3] = {e->disp_growth, e->disp_prev, (double)e->ref_step};
        if ((rc = clmd_ckpt_put_i64(w, "list_lag", e->lag, err)) ||
            (rc = clmd_ckpt_put_i64(w, "list_lag_build_step", e->list_step, err)) ||
            (rc = clmd_ckpt_put(w, "list_lag_growth", CLMD_CKPT_F64, g, 3, err)) ||
            (rc = clmd_ckpt_put(w, "list_lag_flags6", CLMD_CKPT_U32, ring, (size_t)e->lag * NFLAGS, err)))
            return rc;
    }
    if (e->drift) {
        /* the schedule of drift-sized lists: when the list in use was made and from which step */
        int64_t sched[2] = {e->list_step, e->ref_step};
        const struct clmd_drift_plan *d = &e->dplan;
        double plan[4] = {d->T0, d->kT, d->skin, d->skin_in};
        if ((rc = clmd_ckpt_put(w, "list_drift_schedule", CLMD_CKPT_I64, sched, 2, err)) ||
            (rc = clmd_ckpt_put(w, "list_drift_plan", CLMD_CKPT_F64, plan, 4, err)))
            return rc;
    }
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->ops->save && (rc = e->hooks[h]->ops->save(e->hooks[h], w, err))) return rc;
    return CLMD_OK;
}

int clmd_engine_load_checkpoint(clmd_engine *e, clmd_ckpt_reader *r, clmd_err *err)
{
    clmd_state *st = e->st;
    int n = e->sys->n, rc;
    int64_t step = 0, particles = 0;
    uint64_t seed = 0;
    double box[3][3], T, friction;
    if ((rc = clmd_ckpt_get_i64(r, "particles", &particles, err))) return rc;
    if (particles != n)
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint of %lld particles, but the deck's "
                            "system has %d", (long long)particles, n);
    if ((rc = clmd_ckpt_get_i64(r, "step", &step, err)) ||
        (rc = clmd_ckpt_get(r, "box", CLMD_CKPT_F64, box, 9, err)) ||
        (rc = clmd_ckpt_get_f64(r, "temperature_K", &T, err)) ||
        (rc = clmd_ckpt_get_f64(r, "friction_per_ps", &friction, err)) ||
        (rc = clmd_ckpt_get_u64(r, "noise_seed", &seed, err)) ||
        (rc = clmd_ckpt_get(r, "positions", CLMD_CKPT_F64, st->x, 3 * (size_t)n, err)) ||
        (rc = clmd_ckpt_get(r, "velocities", CLMD_CKPT_F64, st->v, 3 * (size_t)n, err)))
        return rc;
    st->step = (long)step;
    if (st->periodic) clmd_state_set_box(st, box);
    clmd_state_set_thermostat(st, T, friction, (unsigned long)seed);
    e->forces_valid = e->energy_valid = 0;
    if (!e->reference && ((rc = upload_positions(e, err)) || (rc = upload_velocities(e, err))))
        return rc;
    /* the identical list (and on the device posq from pos with its wraps), then the sites as
     * the original run placed them */
    if ((rc = clmd_pairlist_read_checkpoint(e->pl, r, st->box, err))) return rc;
    e->list_step = e->ref_step = st->step; /* a list from now (other lags, the reference) */
    e->disp_prev = e->disp_growth = 0;
    clmd_ckpt_type type;
    size_t len;
    int64_t lag = -1, built = 0;
    if (!e->reference && e->lag > 0 && clmd_ckpt_find(r, "list_lag", &type, &len) &&
        !(rc = clmd_ckpt_get_i64(r, "list_lag", &lag, err)) && lag == e->lag) {
        cl_uint ring[CLMD_FLAG_RING][NFLAGS] = {{0}};
        double g[3];
        if ((rc = clmd_ckpt_get_i64(r, "list_lag_build_step", &built, err)) ||
            (rc = clmd_ckpt_get(r, "list_lag_growth", CLMD_CKPT_F64, g, 3, err)))
            return rc;
        if (clmd_ckpt_find(r, "list_lag_flags6", &type, &len)) {
            rc = clmd_ckpt_get(r, "list_lag_flags6", CLMD_CKPT_U32, ring, (size_t)e->lag * NFLAGS, err);
        } else {
            /* written before the prune's words: four words a read, nothing pruned */
            cl_uint old[CLMD_FLAG_RING][4];
            rc = clmd_ckpt_get(r, "list_lag_flags", CLMD_CKPT_U32, old, (size_t)e->lag * 4, err);
            for (int k = 0; k < e->lag && !rc; k++) memcpy(ring[k], old[k], sizeof old[k]);
        }
        if (rc) return rc;
        e->list_step = (long)built;
        e->disp_growth = g[0];
        e->disp_prev = g[1];
        e->ref_step = (long)g[2];
        for (int k = 0; k < e->lag; k++) {
            const long s = st->step - k;
            const int slot = (int)(s % CLMD_FLAG_RING);
            if (e->flag_ev[slot]) {
                clReleaseEvent(e->flag_ev[slot]);
                e->flag_ev[slot] = NULL;
            }
            memcpy(e->flag_ring_host + (size_t)slot * NFLAGS, ring[k], sizeof ring[k]);
        }
    }
    if (rc) return rc;
    if (e->drift && clmd_ckpt_find(r, "list_drift_schedule", &type, &len) &&
        clmd_ckpt_find(r, "list_drift_plan", &type, &len)) {
        int64_t sched[2];
        double plan[4];
        if ((rc = clmd_ckpt_get(r, "list_drift_schedule", CLMD_CKPT_I64, sched, 2, err)) ||
            (rc = clmd_ckpt_get(r, "list_drift_plan", CLMD_CKPT_F64, plan, 4, err)))
            return rc;
        e->list_step = (long)sched[0];
        e->ref_step = (long)sched[1];
        e->dplan = (struct clmd_drift_plan){plan[0], plan[1], plan[2], plan[3]};
    } else if (e->drift) {
        /* a checkpoint of exact lists: its list runs a life from now, the next ones drift-sized */
        e->dplan.T0 = kinetic_temperature(e, st->v);
        drift_buffers(e);
    }
    if (e->vs) {
        if (e->reference) clmd_vsites_build_ref(e->vs, st->x);
        else if ((rc = clmd_vsites_enqueue_build(e->vs, err))) return rc;
    }
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->ops->load && (rc = e->hooks[h]->ops->load(e->hooks[h], r, err))) return rc;
    return CLMD_OK;
}

/* ---- reports ---- */

const char *clmd_engine_device(const clmd_engine *e) { return e->device_desc; }
const char *clmd_engine_driver(const clmd_engine *e)
{
    return e->reference ? "none" : clmd_ocl_driver_version(e->dev.ocl);
}
int clmd_engine_is_reference(const clmd_engine *e) { return e->reference; }
long clmd_engine_list_builds(const clmd_engine *e) { return clmd_pairlist_builds(e->pl); }
int clmd_engine_finish(clmd_engine *e, clmd_err *err)
{
    return e->reference ? CLMD_OK : clmd_ocl_finish(e->dev.ocl, err);
}

long clmd_engine_kernel_launches(const clmd_engine *e)
{
    return e->reference ? 0 : clmd_ocl_launches(e->dev.ocl);
}

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
    e->integ->ops->describe(e->integ, e, out);
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->ops->describe) e->hooks[h]->ops->describe(e->hooks[h], out);
}

void clmd_engine_report_hooks(const clmd_engine *e, FILE *out)
{
    for (int h = 0; h < e->nhooks; h++)
        if (e->hooks[h]->ops->report) e->hooks[h]->ops->report(e->hooks[h], out);
}

void clmd_integrator_destroy(clmd_integrator **it)
{
    if (!it || !*it) return;
    (*it)->ops->destroy(*it);
    *it = NULL;
}

void clmd_hook_destroy(clmd_hook **h)
{
    if (!h || !*h) return;
    (*h)->ops->destroy(*h);
    *h = NULL;
}
