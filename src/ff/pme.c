/* PME reciprocal-space term (see ff/pme.h). Device evaluation, FFT on the device (default on
 * GPUs; everything enqueued at once, no host work per step):
 *   pme_spread (OpenCL)                      charges -> fixed-point grid
 *   clmd_pme_fft_convolve (OpenCL)           r2c FFT, influence function and energy, c2r FFT
 *   pme_gather (OpenCL)                      forces into dev->force, energy into dev->energy
 * FFT on the host (default on CPU devices, where FFTW's threads beat our kernels):
 *   pme_spread + pme_finish_spread (OpenCL)  charges -> fixed-point grid -> float grid
 *                                            (CPU devices: pme_spread_private, one copy of
 *                                            the grid per work-group, summed by the finish)
 *   grid to the host, r2c FFT (FFTW single, threads), multiply by the influence function,
 *   c2r FFT, potential grid back to the device (in the finish op, while the device runs the
 *   other terms)
 *   pme_gather (OpenCL)
 * CLMD_PME_FFT=device|host forces one path (auto, the default, picks by device type).
 * Reference path: clmd_pme_ref (double precision) + self + plasma.
 * Batched copies of a system (system/replicate.c): G grids end to end, spread and gathered per
 * copy, transformed by one batched launch per FFT kernel (device) or one FFTW many-plan (host);
 * each copy's energy into its own slots. */
#include "ff/pme.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/mem.h"
#include "ff/dev.h"
#include "ff/plan.h"
#include "ff/pme_fft.h"
#include "ff/pme_ref.h"
#include "ff/term.h"
#include "probe/probe.h"
#include "system/box.h"
#include "system/system.h"

/* Work-group size of the per-atom and per-point kernels (they check their bounds): a fixed
 * size, because the driver's own choice for an odd atom count can be tiny. */
enum { PME_WG = 64 };

typedef struct pme {
    const clmd_system *sys;
    int G;                    /* grids: batched copies (1: one system) */
    cl_mem e_seg;             /* long [2G]: each copy's energy the gather adds (batched), then
                               * (region) its dU/dlambda_elec */
    long *e_seg_host;
    /* a scaled region: sums over one copy's rest and region of q^2 and q */
    int region;
    double q2_rest, q2_reg, q_rest, q_reg;
    long scale_version;
    cl_event grid_event; /* the grid's copy to the host, between enqueue and finish */
    int order, K[3], npoints, nhalf;
    double alpha;
    double qtot;
    double e_self;            /* constant for the run */
    double e_plasma;          /* depends on the volume */
    double box[3][3];         /* box the influence function and recip were made for */
    double recip[3][3];
    int nthreads;             /* FFTW threads */
    int wisdom;               /* bit 0: wisdom file read, bit 1: wisdom file written */
    clmd_pme_ref *ref;        /* reference path, made on first use */
    clmd_pme_ref *ref_region; /* one copy's region alone (energy matrix), made on first use */
    /* device evaluation */
    clmd_pme_fft *fft;        /* FFT on the device; NULL on the host-FFT path */
    float *rgrid;             /* real grid [K0][K1][K2]: charges, then potential */
    fftwf_complex *cgrid;     /* half-complex grid [K0][K1][K2/2+1] */
    float *g;                 /* influence function on the half-complex grid (both paths) */
    double *gd;               /* its double-precision scratch, made with g */
    double *mod[3];           /* B-spline moduli per dimension (box-independent), made with g */
    fftwf_plan fwd, bwd;
    cl_kernel k_spread, k_finish, k_gather;
    cl_kernel k_influence;    /* the influence function made on the device (device FFT) */
    cl_mem mod_dev;           /* B-spline moduli end to end, double where the device has it */
    int fp64;
    clmd_ocl *fft_ocl;        /* the device of k_influence */
    int npriv;                /* copies of the fixed-point grids the spread fills (1: atomics
                               * into one; more: one per work-group, plain adds) */
    cl_mem grid_fixed, grid_dev;
} pme;

static const clmd_term_ops pme_ops;
static double region_constants(const pme *p, double a, double V, double *dudl);

static void pme_describe(const clmd_term *t, FILE *out)
{
    const pme *p = t->impl;
    fprintf(out, "pme: PME alpha %.6g /nm, grid %dx%dx%d, order %d (reciprocal + self%s",
            p->alpha, p->K[0], p->K[1], p->K[2], p->order, fabs(p->qtot) > 1e-6 ? " + plasma" : "");
    if (p->fft) {
        char how[512];
        clmd_pme_fft_describe(p->fft, how, sizeof how);
        fprintf(out, "; FFT and convolution on the device, %s", how);
    }
    if (p->fwd) fprintf(out, "; FFT on the host, FFTW single precision");
    if (p->fwd)
        fprintf(out, ", up to %d thread%s, measured plans%s", p->nthreads, p->nthreads == 1 ? "" : "s",
                p->wisdom & 2 ? " kept in the wisdom file" : " (wisdom file not writable: a new "
                "process may plan differently in the last bits)");
    fprintf(out, ")\n");
}

int clmd_pme_term_params(const clmd_term *t, double *alpha, int grid[3])
{
    if (!t || t->ops != &pme_ops) return CLMD_EINPUT;
    const pme *p = t->impl;
    if (alpha) *alpha = p->alpha;
    if (grid) memcpy(grid, p->K, sizeof p->K);
    return CLMD_OK;
}

/* The influence function for the reciprocal vectors p->recip and volume v, by cl/pme.cl's
 * pme_influence into the device FFT's buffer. */
static int influence_device(pme *p, double v, clmd_err *err)
{
    const double pre = CLMD_COULOMB / (M_PI * v), fac = M_PI * M_PI / (p->alpha * p->alpha);
    cl_kernel k = p->k_influence;
    cl_mem g = clmd_pme_fft_influence(p->fft);
    CLMD_ARG(k, 0, g, err);
    CLMD_ARG(k, 1, p->mod_dev, err);
    for (int r = 0; r < 3; r++) {
        if (p->fp64) {
            cl_double4 x = {{p->recip[r][0], p->recip[r][1], p->recip[r][2], 0}};
            CLMD_ARG(k, 2 + r, x, err);
        } else {
            cl_float4 x = {{(float)p->recip[r][0], (float)p->recip[r][1], (float)p->recip[r][2], 0}};
            CLMD_ARG(k, 2 + r, x, err);
        }
    }
    if (p->fp64) {
        CLMD_ARG(k, 5, pre, err);
        CLMD_ARG(k, 6, fac, err);
    } else {
        const float pf = (float)pre, ff = (float)fac;
        CLMD_ARG(k, 5, pf, err);
        CLMD_ARG(k, 6, ff, err);
    }
    return clmd_ocl_launch(p->fft_ocl, k, (size_t)p->nhalf, PME_WG, P_PME_INFLUENCE, err);
}

/* Recomputes what depends on the box when it differs from the one in use (a barostat changes
 * it): the reciprocal vectors, the influence function and the plasma energy. The influence
 * function is made on the host for the FFTW path, by a kernel for the device FFT; neither exists
 * on the reference path. */
static int pme_set_box(pme *p, const double box[3][3], clmd_err *err)
{
    if (memcmp(p->box, box, sizeof p->box) == 0) return CLMD_OK;
    double v;
    int rc = clmd_pme_recip_box(box, p->recip, &v, err);
    if (rc) return rc;
    if (p->k_influence) {
        /* the device FFT's: one launch (a host loop and a blocking copy cost the H100 4-75 ms
         * a box, and a barostat or the pressure changes the box often) */
        if ((rc = influence_device(p, v, err))) return rc;
    } else if (p->g) {
        /* a barostat changes the box every few steps: the scratch is kept, not allocated */
        rc = clmd_pme_influence_moduli(p->order, p->K, p->alpha, box, (const double *const *)p->mod,
                                       p->gd, err);
        for (int k = 0; k < p->nhalf && !rc; k++) p->g[k] = (float)p->gd[k];
        if (rc) return rc;
    }
    p->e_plasma = clmd_ewald_plasma_energy(p->qtot, v, p->alpha);
    memcpy(p->box, box, sizeof p->box);
    return CLMD_OK;
}

/* ---- reference ---- */

static int pme_reference(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                         clmd_err *err)
{
    pme *p = t->impl;
    int rc;
    if (!p->ref && (rc = clmd_pme_ref_create(p->sys->n, p->alpha, p->K, p->order, &p->ref, err)))
        return rc;
    if ((rc = pme_set_box(p, env->box, err))) return rc;
    double e_recip = 0;
    if (!p->region) {
        if ((rc = clmd_pme_ref_compute(p->ref, p->sys->charge, x, p->box, f, &e_recip, err))) return rc;
        e[CLMD_E_PME_RECIP] += e_recip + p->e_self + p->e_plasma;
        return CLMD_OK;
    }
    /* a scaled region: its charges times a; the energy is quadratic in a, E0 + a E1 + a^2 E2,
     * so three more evaluations (a = 0, 1/2, 1) give the derivative exactly */
    const int n = p->sys->n;
    const double a = env->scale ? env->scale[0].charge : 1;
    double *q = clmd_calloc((size_t)n, sizeof *q), *scratch = clmd_calloc(3 * (size_t)n, sizeof *scratch);
    double Eab[3];
    const double at[3] = {0, 0.5, 1};
    for (int k = 0; k < 4 && !rc; k++) {
        const double s = k < 3 ? at[k] : a;
        for (int i = 0; i < n; i++) q[i] = p->sys->charge[i] * (p->sys->region[i] ? s : 1);
        if (k < 3) {
            memset(scratch, 0, sizeof(double) * 3 * (size_t)n);
            rc = clmd_pme_ref_compute(p->ref, q, x, p->box, scratch, &Eab[k], err);
        } else {
            rc = clmd_pme_ref_compute(p->ref, q, x, p->box, f, &e_recip, err);
        }
    }
    clmd_free(q);
    clmd_free(scratch);
    if (rc) return rc;
    const double E2 = 2 * (Eab[2] - 2 * Eab[1] + Eab[0]), E1 = Eab[2] - Eab[0] - E2;
    double dudl = 0, c = region_constants(p, a, clmd_box_volume(env->box), &dudl);
    e[CLMD_E_PME_RECIP] += e_recip + c;
    e[CLMD_E_DUDL_E] += E1 + 2 * a * E2 + dudl;
    return CLMD_OK;
}

/* ---- device ---- */

static pthread_once_t fftw_threads_once = PTHREAD_ONCE_INIT;
static int fftw_threads_ok;

static void fftw_threads_init(void)
{
#ifdef CLMD_HAVE_FFTW_THREADS
    fftw_threads_ok = fftwf_init_threads() != 0;
#endif
}

/* FFTW threads: every core; the measuring planner uses fewer where that is faster. */
static int pme_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 1) return 1;
    pthread_once(&fftw_threads_once, fftw_threads_init);
    if (!fftw_threads_ok) return 1;
    return cores > 64 ? 64 : (int)cores;
}

/* FFTW wisdom file in clmd's cache folder. */
static void wisdom_path(char *out, size_t n)
{
    char dir[4000];
    clmd_ocl_cache_dir(dir, sizeof dir);
    snprintf(out, n, "%s/fftwf.wisdom", dir);
}

/* Makes the two plans. FFTW_MEASURE plans run 2-3x faster than FFTW_ESTIMATE ones here, but
 * measuring picks by timing, so two processes could get different algorithms and results
 * differing in the last bits. The wisdom file keeps the first choice: later runs (a restart
 * from a checkpoint) import it and get the same plan, hence the same bits. Returns nonzero
 * when FFTW could not plan. */
static int pme_plan(pme *p)
{
    char path[4096], tmp[4200];
    p->nthreads = pme_threads(); /* initializes FFTW's threads, before any other FFTW call */
    wisdom_path(path, sizeof path);
    int had = fftwf_import_wisdom_from_filename(path);
#ifdef CLMD_HAVE_FFTW_THREADS
    if (fftw_threads_ok) fftwf_plan_with_nthreads(p->nthreads);
#endif
    const int *K = p->K;
    /* MEASURE overwrites the arrays while planning; nothing is in them yet */
    if (p->G == 1) {
        p->fwd = fftwf_plan_dft_r2c_3d(K[0], K[1], K[2], p->rgrid, p->cgrid, FFTW_MEASURE);
        p->bwd = fftwf_plan_dft_c2r_3d(K[0], K[1], K[2], p->cgrid, p->rgrid, FFTW_MEASURE);
    } else {
        /* batched copies: every grid in one plan */
        p->fwd = fftwf_plan_many_dft_r2c(3, K, p->G, p->rgrid, NULL, 1, p->npoints, p->cgrid, NULL,
                                         1, p->nhalf, FFTW_MEASURE);
        p->bwd = fftwf_plan_many_dft_c2r(3, K, p->G, p->cgrid, NULL, 1, p->nhalf, p->rgrid, NULL, 1,
                                         p->npoints, FFTW_MEASURE);
    }
    if (!p->fwd || !p->bwd) return 1;
    p->wisdom = had ? 1 : 0;
    /* write-then-rename, so concurrent runs never read half a file; failure is harmless */
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    if (fftwf_export_wisdom_to_filename(tmp) && rename(tmp, path) == 0) p->wisdom |= 2;
    else remove(tmp);
    return 0;
}

/* RECIP_PARAMS of cl/pme.cl: the three reciprocal vectors, then their low parts. */
static int set_recip_args(pme *p, cl_kernel k, int first, clmd_err *err)
{
    for (int d = 0; d < 3; d++) {
        cl_float4 r = {{0}}, lo = {{0}};
        for (int c = 0; c < 3; c++) {
            r.s[c] = (float)p->recip[d][c];
            lo.s[c] = (float)(p->recip[d][c] - (double)r.s[c]);
        }
        CLMD_ARG(k, first + d, r, err);
        CLMD_ARG(k, first + 3 + d, lo, err);
    }
    return CLMD_OK;
}

/* CLMD_PME_FFT: where the FFTs run. */
typedef enum pme_fft_where { PME_FFT_AUTO, PME_FFT_DEVICE, PME_FFT_HOST } pme_fft_where;

static int pme_fft_choice(pme_fft_where *w, clmd_err *err)
{
    const char *v = getenv("CLMD_PME_FFT");
    *w = PME_FFT_AUTO;
    if (!v || !*v || strcmp(v, "auto") == 0) return CLMD_OK;
    if (strcmp(v, "device") == 0) *w = PME_FFT_DEVICE;
    else if (strcmp(v, "host") == 0) *w = PME_FFT_HOST;
    else return clmd_err_set(err, CLMD_EINPUT, "CLMD_PME_FFT is '%s': use device, host or auto", v);
    return CLMD_OK;
}

static int pme_setup_device(clmd_term *t, const clmd_fenv *env, clmd_err *err)
{
    pme *p = t->impl;
    clmd_dev *dev = env->dev;
    pme_fft_where where;
    int rc = pme_fft_choice(&where, err);
    if (rc) return rc;
    /* auto: on the device for GPUs (host FFTs and grid copies would dominate the step there),
     * FFTW on CPU devices (its threads beat our kernels there) */
    int on_device = where == PME_FFT_DEVICE || (where == PME_FFT_AUTO && clmd_ocl_is_gpu(dev->ocl));
    if (on_device) {
        rc = clmd_pme_fft_create_batch(dev->ocl, p->K, p->G, CLMD_E_SLOTS, &p->fft, err);
        /* auto falls back to FFTW for a grid our kernels cannot take (a line too long for
         * local memory); a forced device path reports it */
        if (rc == CLMD_EINPUT && where == PME_FFT_AUTO) {
            clmd_err_clear(err);
            rc = CLMD_OK;
        }
        if (rc) return rc;
    }
    /* host FFT on a CPU device: locked atomic adds dominate a shared grid's spread there, so
     * each of a few work-groups spreads its share of the atoms into a copy of its own */
    p->npriv = 1;
    if (!p->fft && !clmd_ocl_is_gpu(dev->ocl)) {
        int cu = clmd_ocl_compute_units(dev->ocl);
        p->npriv = cu < 1 ? 1 : cu > 8 ? 8 : cu;
    }
    char defs[1024];
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(clmd_ocl_device(dev->ocl), CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    snprintf(defs, sizeof defs, "%s#define PME_ORDER %d\n#define GRID_K0 %d\n#define GRID_K1 %d\n"
             "#define GRID_K2 %d\n#define HAVE_FP64 %d\n#define REGION %d\n#define NPRIV %d\n",
             clmd_dev_defines(dev), p->order, p->K[0], p->K[1], p->K[2], fp != 0, p->region,
             p->npriv);
    cl_program prog;
    if ((rc = clmd_ocl_program(dev->ocl, "pme.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, p->npriv > 1 ? "pme_spread_private" : "pme_spread",
                              &p->k_spread, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, "pme_finish_spread", &p->k_finish, err)) ||
        (rc = clmd_ocl_kernel(dev->ocl, prog, "pme_gather", &p->k_gather, err)))
        return rc;
    const size_t allpoints = (size_t)p->npoints * p->G;
    const size_t fixed_bytes = sizeof(cl_long) * allpoints * (size_t)p->npriv;
    if ((rc = clmd_ocl_alloc(dev->ocl, fixed_bytes, &p->grid_fixed, err)) ||
        (rc = clmd_ocl_zero(dev->ocl, p->grid_fixed, fixed_bytes, err)) ||
        (rc = clmd_ocl_alloc(dev->ocl, sizeof(cl_float) * allpoints, &p->grid_dev, err)) ||
        (rc = clmd_ocl_alloc(dev->ocl, sizeof(cl_long) * 2 * (size_t)p->G, &p->e_seg, err)))
        return rc;
    CLMD_NEW(p->e_seg_host, 2 * (size_t)p->G);

    for (int d = 0; d < 3; d++) {
        CLMD_NEW(p->mod[d], p->K[d]);
        clmd_pme_bspline_moduli(p->order, p->K[d], p->mod[d]);
    }
    if (p->fft) {
        /* the influence function is made where the FFT reads it, from the moduli copied once */
        const int nk = p->K[0] + p->K[1] + p->K[2];
        p->fp64 = fp != 0;
        p->fft_ocl = dev->ocl;
        const size_t bytes = (p->fp64 ? sizeof(cl_double) : sizeof(cl_float)) * (size_t)nk;
        void *m = clmd_alloc(bytes);
        for (int d = 0, at = 0; d < 3; d++)
            for (int k = 0; k < p->K[d]; k++, at++) {
                if (p->fp64) ((double *)m)[at] = p->mod[d][k];
                else ((float *)m)[at] = (float)p->mod[d][k];
            }
        rc = clmd_ocl_kernel(dev->ocl, prog, "pme_influence", &p->k_influence, err);
        if (!rc) rc = clmd_ocl_alloc(dev->ocl, bytes, &p->mod_dev, err);
        if (!rc) rc = clmd_ocl_write(dev->ocl, p->mod_dev, 0, bytes, m, err);
        clmd_free(m);
        if (rc) return rc;
    } else {
        p->g = clmd_calloc(p->nhalf, sizeof *p->g);
        p->gd = clmd_calloc(p->nhalf, sizeof *p->gd);
        p->rgrid = clmd_calloc(allpoints, sizeof *p->rgrid);
        p->cgrid = clmd_calloc((size_t)p->nhalf * p->G, sizeof *p->cgrid);
        if (pme_plan(p))
            return clmd_err_set(err, CLMD_ERUNTIME, "PME: FFTW could not plan a %dx%dx%d "
                                "transform", p->K[0], p->K[1], p->K[2]);
    }
    memset(p->box, 0, sizeof p->box); /* force the influence function to be made */
    if ((rc = pme_set_box(p, env->box, err))) return rc;

    int n = p->sys->n;
    cl_kernel k = p->k_spread;
    CLMD_ARG(k, 0, dev->posq, err);
    CLMD_ARG(k, 1, dev->posq_lo, err);
    CLMD_ARG(k, 2, n, err);
    CLMD_ARG(k, 3, p->grid_fixed, err);
    k = p->k_finish;
    CLMD_ARG(k, 0, p->grid_fixed, err);
    CLMD_ARG(k, 1, p->grid_dev, err);
    const cl_int npts = (cl_int)allpoints;
    CLMD_ARG(k, 2, npts, err);
    k = p->k_gather;
    CLMD_ARG(k, 0, dev->posq, err);
    CLMD_ARG(k, 1, dev->posq_lo, err);
    CLMD_ARG(k, 2, n, err);
    CLMD_ARG(k, 3, p->grid_dev, err);
    CLMD_ARG(k, 10, dev->force, err);
    CLMD_ARG(k, 11, dev->npad, err);
    CLMD_ARG(k, 12, dev->energy, err);
    CLMD_ARG(k, 15, p->e_seg, err);
    if (p->region) {
        CLMD_ARG(p->k_spread, 10, dev->region, err);
        CLMD_ARG(p->k_spread, 11, dev->seg_scale, err);
        CLMD_ARG(p->k_gather, 16, dev->region, err);
        CLMD_ARG(p->k_gather, 17, dev->seg_scale, err);
    }
    return CLMD_OK;
}

/* A copy's self and plasma energies and their dU/dlambda_elec, with its region's charges times
 * a (volume V). */
static double region_constants(const pme *p, double a, double V, double *dudl)
{
    const double k = CLMD_COULOMB, sp = sqrt(M_PI), Q = p->q_rest + a * p->q_reg;
    const double self = -p->alpha / sp * k * (p->q2_rest + a * a * p->q2_reg);
    const double plasma = -M_PI * k * Q * Q / (2 * V * p->alpha * p->alpha);
    *dudl = -p->alpha / sp * k * 2 * a * p->q2_reg - M_PI * k * 2 * Q * p->q_reg / (2 * V * p->alpha * p->alpha);
    return self + plasma;
}

/* Each copy's constant energy (self + plasma, and with a region its dU/dlambda) into
 * e_seg_host, fixed point; e_grid[g] (host FFT path) the copy's grid energy, or NULL. */
static void fill_constants(pme *p, const clmd_fenv *env, const double *e_grid);

/* Multiplies the transformed charge grid by the influence function; returns the reciprocal
 * energy 1/2 sum over the full grid of G |S|^2 (each stored k2 other than 0 and K2/2 stands
 * for its conjugate mirror too) when want_energy, else 0. */
static double pme_convolve(pme *p, int grid, int want_energy)
{
    const int H2 = p->K[2] / 2 + 1, K2even = p->K[2] % 2 == 0;
    const size_t rows = (size_t)p->K[0] * p->K[1];
    double e = 0;
    for (size_t r = 0; r < rows; r++) {
        fftwf_complex *c = p->cgrid + (size_t)grid * p->nhalf + r * H2;
        const float *g = p->g + r * H2;
        if (want_energy) {
            double er = 0;
            for (int k2 = 0; k2 < H2; k2++) {
                double m = (double)c[k2][0] * c[k2][0] + (double)c[k2][1] * c[k2][1];
                er += (k2 == 0 || (K2even && 2 * k2 == p->K[2]) ? 1.0 : 2.0) * g[k2] * m;
            }
            e += er;
        }
        for (int k2 = 0; k2 < H2; k2++) {
            c[k2][0] *= g[k2];
            c[k2][1] *= g[k2];
        }
    }
    return 0.5 * e;
}

/* Force gathering; e (kJ/mol, double on the host) goes into the energy in fixed point. */
/* saturated, never an undefined conversion: the reciprocal energy is bounded by the charges
 * and stays far below the limit for the finite positions the engine admits */
static cl_long energy_fixed(double e)
{
    const double cap = 1073741824.0; /* 2^30, half the accumulator's range */
    double ec = isfinite(e) ? fmax(-cap, fmin(cap, e)) : cap;
    return (cl_long)llround(ec * CLMD_FIXED_SCALE);
}

/* Force gathering; e (kJ/mol, double on the host) goes into the energy in fixed point, and
 * with batched copies e_seg_host[g] (fixed point) into copy g's. */
static int pme_launch_gather(pme *p, clmd_dev *dev, int want_energy, double e, clmd_err *err)
{
    cl_long e_fixed = want_energy ? energy_fixed(e) : 0;
    if (want_energy && (p->G > 1 || p->region)) {
        int rc = clmd_ocl_write_async(dev->ocl, p->e_seg, 0, sizeof(cl_long) * 2 * (size_t)p->G,
                                      p->e_seg_host, err);
        if (rc) return rc;
    }
    CLMD_ARG(p->k_gather, 13, want_energy, err);
    CLMD_ARG(p->k_gather, 14, e_fixed, err);
    size_t n = (size_t)p->sys->n;
    return clmd_ocl_launch(dev->ocl, p->k_gather, n ? n : 1, PME_WG, P_PME_GATHER, err);
}

static int pme_enqueue(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    pme *p = t->impl;
    clmd_dev *dev = env->dev;
    int rc;
    if (memcmp(p->box, env->box, sizeof p->box) != 0) {
        if ((rc = pme_set_box(p, env->box, err))) return rc;
    }
    /* the box arguments change rarely, but setting three float4s costs nothing */
    if ((rc = set_recip_args(p, p->k_spread, 4, err)) ||
        (rc = set_recip_args(p, p->k_gather, 4, err)))
        return rc;
    size_t n = (size_t)p->sys->n;
    rc = p->npriv > 1 ? clmd_ocl_launch(dev->ocl, p->k_spread, (size_t)p->npriv, 1, P_PME_SPREAD, err)
                      : clmd_ocl_launch(dev->ocl, p->k_spread, n, PME_WG, P_PME_SPREAD, err);
    if (rc) return rc;
    if (p->fft) {
        /* the grid energy goes in from the convolution kernel, self + plasma from the gather */
        if ((rc = clmd_pme_fft_convolve(p->fft, p->grid_fixed, p->grid_dev, dev->energy,
                                        CLMD_E_PME_RECIP, want_energy, err)))
            return rc;
        fill_constants(p, env, NULL);
        return pme_launch_gather(p, dev, want_energy,
                                 (double)p->e_seg_host[0] / CLMD_FIXED_SCALE, err);
    }
    const size_t allpoints = (size_t)p->npoints * p->G;
    if ((rc = clmd_ocl_launch(dev->ocl, p->k_finish, allpoints, PME_WG, P_PME_SPREAD, err)))
        return rc;
    /* the grid comes back while the device goes on with the other terms' kernels */
    return clmd_ocl_read_async(dev->ocl, p->grid_dev, 0, sizeof(float) * allpoints, p->rgrid,
                               &p->grid_event, err);
}

/* Second half of the host-FFT path: FFT, convolution and inverse FFT on the host, grid back,
 * gather on the device. Nothing to do when the FFT runs on the device. */
static int pme_finish(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    pme *p = t->impl;
    if (p->fft) return CLMD_OK;
    clmd_dev *dev = env->dev;
    clmd_probe *pr = env->probe;
    int rc;
    PROBE_START(pr, P_PME_GRID_COPY);
    rc = clmd_ocl_wait(dev->ocl, &p->grid_event, err);
    PROBE_STOP(pr, P_PME_GRID_COPY);
    if (rc) return rc;

    PROBE_START(pr, P_PME_FFT_FWD);
    fftwf_execute(p->fwd);
    PROBE_STOP(pr, P_PME_FFT_FWD);
    PROBE_START(pr, P_PME_CONVOLVE);
    double e = 0, eg1[1];
    double *eg = p->G > 1 ? clmd_calloc(p->G, sizeof *eg) : eg1;
    for (int g = 0; g < p->G; g++) {
        eg[g] = pme_convolve(p, g, want_energy);
        e += eg[g];
    }
    fill_constants(p, env, eg);
    if (eg != eg1) clmd_free(eg);
    PROBE_STOP(pr, P_PME_CONVOLVE);
    PROBE_START(pr, P_PME_FFT_INV);
    fftwf_execute(p->bwd);
    PROBE_STOP(pr, P_PME_FFT_INV);

    /* in-order queue: the gather sees the grid, and the next step's read of rgrid waits for
     * this write, so the host buffer may be reused without blocking here */
    PROBE_START(pr, P_PME_GRID_COPY);
    rc = clmd_ocl_write_async(dev->ocl, p->grid_dev, 0, sizeof(float) * (size_t)p->npoints * p->G,
                              p->rgrid, err);
    PROBE_STOP(pr, P_PME_GRID_COPY);
    if (rc) return rc;

    /* energy in double on the host, handed to the kernel already in fixed point */
    return pme_launch_gather(p, dev, want_energy,
                             p->region ? (double)p->e_seg_host[0] / CLMD_FIXED_SCALE
                                       : e + p->e_self + p->e_plasma, err);
}

static void fill_constants(pme *p, const clmd_fenv *env, const double *e_grid)
{
    const double V = clmd_box_volume(env->box);
    for (int g = 0; g < p->G; g++) {
        double c = p->e_self + p->e_plasma, dudl = 0;
        if (p->region) c = region_constants(p, env->scale ? env->scale[g].charge : 1, V, &dudl);
        p->e_seg_host[g] = energy_fixed(c + (e_grid ? e_grid[g] : 0));
        p->e_seg_host[p->G + g] = energy_fixed(dudl);
    }
}

/* The energy at other charge factors a of the region: E(a) = E_rest + a E_x + a^2 E_rr + the
 * self and plasma terms. E_rr is the region's charges alone on the grid (one reference PME per
 * copy, double precision); E_x follows from the evaluation at the copy's own factor a0, whose
 * dU/da is E_x + 2 a0 E_rr + the constants' derivative (its slot CLMD_E_DUDL_E). */
static int pme_region_energies(clmd_term *t, const clmd_fenv *env, const double *x, int S,
                               const clmd_region_scale *scales, const double *slots, double *out,
                               clmd_err *err)
{
    pme *p = t->impl;
    if (!p->region) return CLMD_OK;
    const clmd_system *s = p->sys;
    const int G = p->G, stride = G > 1 ? s->seg_stride : s->n, n1 = G > 1 ? s->seg_base->n : s->n;
    int rc;
    if (!p->ref_region && (rc = clmd_pme_ref_create(n1, p->alpha, p->K, p->order, &p->ref_region, err)))
        return rc;
    const double V = clmd_box_volume(env->box);
    double *q = clmd_calloc((size_t)n1, sizeof *q);
    rc = CLMD_OK;
    for (int g = 0; g < G && !rc; g++) {
        const int o = g * stride;
        for (int i = 0; i < n1; i++) q[i] = s->region[o + i] ? s->charge[o + i] : 0;
        double err_ = 0, d0 = 0;
        if ((rc = clmd_pme_ref_compute(p->ref_region, q, x + 3 * (size_t)o, env->box, NULL, &err_, err)))
            break;
        const double a0 = env->scale[g].charge;
        region_constants(p, a0, V, &d0);
        const double ex = slots[4 * (size_t)g + (CLMD_E_DUDL_E - CLMD_E_DUDL_S)] - d0 - 2 * a0 * err_;
        for (int k = 0; k < S; k++) {
            const double a = scales[(size_t)g * S + k].charge;
            double dd;
            out[(size_t)g * S + k] += a * ex + a * a * err_ + region_constants(p, a, V, &dd);
        }
    }
    clmd_free(q);
    return rc;
}

static void pme_destroy(clmd_term *t)
{
    pme *p = t->impl;
    if (p->grid_event) clReleaseEvent(p->grid_event);
    clmd_pme_fft_destroy(&p->fft);
    if (p->k_spread) clReleaseKernel(p->k_spread);
    if (p->k_finish) clReleaseKernel(p->k_finish);
    if (p->k_gather) clReleaseKernel(p->k_gather);
    if (p->k_influence) clReleaseKernel(p->k_influence);
    clmd_ocl_release(&p->mod_dev);
    clmd_ocl_release(&p->grid_fixed);
    clmd_ocl_release(&p->grid_dev);
    clmd_ocl_release(&p->e_seg);
    clmd_free(p->e_seg_host);
    if (p->fwd) fftwf_destroy_plan(p->fwd);
    if (p->bwd) fftwf_destroy_plan(p->bwd);
    clmd_free(p->rgrid);
    clmd_free(p->cgrid);
    clmd_free(p->g);
    clmd_free(p->gd);
    for (int d = 0; d < 3; d++) clmd_free(p->mod[d]);
    clmd_pme_ref_destroy(&p->ref);
    clmd_pme_ref_destroy(&p->ref_region);
    clmd_free(p);
    clmd_free(t);
}

static const clmd_term_ops pme_ops = {"pme", pme_setup_device, pme_enqueue, pme_reference,
                                      pme_describe, pme_destroy, pme_finish,
                                      pme_region_energies};

int clmd_pme_create(const clmd_system *sys, const clmd_ffplan *plan, clmd_term **out,
                    clmd_err *err)
{
    *out = NULL;
    if (plan->o.method != CLMD_NB_PME || !plan->charged) return CLMD_OK; /* nothing to spread */
    const int *K = plan->pme_grid;
    double alpha = plan->ewald_alpha;
    int rc;
    pme *p = clmd_alloc(sizeof *p);
    p->sys = sys;
    p->G = sys->nseg > 1 ? sys->nseg : 1;
    /* batched copies: each copy's own self and plasma energies */
    const clmd_system *one = sys->nseg > 1 ? sys->seg_base : sys;
    p->order = plan->o.pme_order;
    p->alpha = alpha;
    memcpy(p->K, K, sizeof p->K);
    p->npoints = K[0] * K[1] * K[2];
    p->nhalf = K[0] * K[1] * (K[2] / 2 + 1);
    p->nthreads = 1;
    for (int i = 0; i < one->n; i++) p->qtot += one->charge[i];
    p->e_self = clmd_ewald_self_energy(one->n, one->charge, alpha);
    p->region = one->region != NULL;
    for (int i = 0; p->region && i < one->n; i++) {
        const double q = one->charge[i];
        if (one->region[i]) {
            p->q2_reg += q * q;
            p->q_reg += q;
        } else {
            p->q2_rest += q * q;
            p->q_rest += q;
        }
    }
    if ((rc = pme_set_box(p, sys->box, err))) {
        clmd_free(p);
        return rc;
    }
    clmd_term *t = clmd_alloc(sizeof *t);
    t->ops = &pme_ops;
    t->impl = p;
    *out = t;
    return CLMD_OK;
}
