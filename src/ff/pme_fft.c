/* PME's reciprocal space on the device (see ff/pme_fft.h). Per convolution, five kernels:
 *   pme_fft_z_r2c    fixed-point grid -> half-complex spectrum along z (rows in pairs)
 *   pme_fft_lines    y forward
 *   pme_fft_lines    x forward, times the influence function, energy, x inverse (mode 2)
 *   pme_fft_lines    y inverse
 *   pme_fft_z_c2r    spectrum -> real potential grid along z */
#include "ff/pme_fft.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "probe/probe.h"

enum { FFT_MAX_PASS = 12, FFT_AXES = 3 };

typedef struct fft_axis {
    int n, nlines;          /* line length; lines (z: pairs of real rows) */
    int t, wg;              /* lines per work-group, work-group size */
    int npass, radix[FFT_MAX_PASS];
    size_t global;          /* work-items per launch */
    cl_mem tw;              /* exp(-2 pi i m / n), m < n, float2 */
} fft_axis;

struct clmd_pme_fft {
    clmd_ocl *ocl;
    int K[3], H2;
    int batch, e_stride;    /* grids transformed per launch; energy slots between their sums */
    size_t nhalf;
    fft_axis ax[FFT_AXES];
    cl_kernel k_r2c, k_c2r, k_y, k_x;
    cl_mem spec, g, e_dummy;
};

int clmd_pme_fft_size_ok(int n)
{
    if (n < 1) return 0;
    const int p[4] = {2, 3, 5, 7};
    for (int i = 0; i < 4; i++)
        while (n % p[i] == 0) n /= p[i];
    return n == 1;
}

/* Radices of n's passes: 7s, 5s and 3s, then 4s, then at most one 2. */
static int factor(int n, int *radix)
{
    int np = 0;
    const int odd[3] = {7, 5, 3};
    for (int i = 0; i < 3; i++)
        while (n % odd[i] == 0 && np < FFT_MAX_PASS) {
            radix[np++] = odd[i];
            n /= odd[i];
        }
    while (n % 4 == 0 && np < FFT_MAX_PASS) {
        radix[np++] = 4;
        n /= 4;
    }
    if (n % 2 == 0 && np < FFT_MAX_PASS) {
        radix[np++] = 2;
        n /= 2;
    }
    return n == 1 ? np : -1;
}

/* Lines per work-group: up to 16 (16 float2 = 128 contiguous bytes per line element on the y
 * and x axes, full cache lines), fewer when the two local buffers would not fit in `budget`
 * bytes or when fewer work-groups than twice the compute units would result. Work-group: a
 * power of two near the radix-4 butterflies of a pass, 32..256. */
static void shape(fft_axis *a, size_t budget, size_t maxwg, int cu)
{
    int t = 16;
    while (t > 1 && (size_t)2 * t * a->n * sizeof(cl_float2) + 256 * sizeof(cl_double) > budget)
        t /= 2;
    while (t > 1 && (a->nlines + t - 1) / t < 2 * cu) t /= 2;
    int wg = 32;
    while (wg < 256 && (size_t)(2 * wg) <= maxwg && 2 * wg <= t * a->n / 4) wg *= 2;
    a->t = t;
    a->wg = wg;
    a->global = (size_t)((a->nlines + t - 1) / t) * (size_t)wg;
}

static int make_twiddles(clmd_pme_fft *f, fft_axis *a, clmd_err *err)
{
    cl_float2 *w;
    CLMD_NEW(w, a->n);
    for (int m = 0; m < a->n; m++) {
        /* the angle from m / n reduced first, so every entry is as exact as double allows */
        const double ang = -2.0 * M_PI * (double)m / (double)a->n;
        w[m].s[0] = (float)cos(ang);
        w[m].s[1] = (float)sin(ang);
    }
    int rc = clmd_ocl_alloc(f->ocl, sizeof *w * (size_t)a->n, &a->tw, err);
    if (!rc) rc = clmd_ocl_write(f->ocl, a->tw, 0, sizeof *w * (size_t)a->n, w, err);
    clmd_free(w);
    return rc;
}

static int build_axis(clmd_pme_fft *f, int d, int fp64, cl_program *prog, clmd_err *err)
{
    fft_axis *a = &f->ax[d];
    char defs[1024];
    int len = snprintf(defs, sizeof defs,
                       "#define FFT_AXIS %d\n#define FFT_N %d\n#define FFT_T %d\n#define FFT_WG %d\n"
                       "#define GRID_K0 %d\n#define GRID_K1 %d\n#define GRID_K2 %d\n"
                       "#define GRID_H2 %d\n#define HAVE_FP64 %d\n#define FFT_NPASS %d\n",
                       d, a->n, a->t, a->wg, f->K[0], f->K[1], f->K[2], f->H2, fp64, a->npass);
    for (int i = 0; i < a->npass && len > 0 && (size_t)len < sizeof defs; i++)
        len += snprintf(defs + len, sizeof defs - (size_t)len, "#define FFT_R%d %d\n", i,
                        a->radix[i]);
    return clmd_ocl_program(f->ocl, "pme_fft.cl", defs, prog, err);
}

/* The kernel must run with the work-group size it was built for. */
static int check_wg(clmd_pme_fft *f, cl_kernel k, int wg, clmd_err *err)
{
    size_t kwg = 0;
    CL_CHECK(clGetKernelWorkGroupInfo(k, clmd_ocl_device(f->ocl), CL_KERNEL_WORK_GROUP_SIZE,
                                      sizeof kwg, &kwg, NULL),
             err);
    if (kwg < (size_t)wg)
        return clmd_err_set(err, CLMD_ERUNTIME, "PME device FFT: kernel allows work-groups of %zu, "
                            "needs %d", kwg, wg);
    return CLMD_OK;
}

int clmd_pme_fft_create(clmd_ocl *ocl, const int K[3], clmd_pme_fft **out, clmd_err *err)
{
    return clmd_pme_fft_create_batch(ocl, K, 1, 0, out, err);
}

int clmd_pme_fft_create_batch(clmd_ocl *ocl, const int K[3], int batch, int e_stride,
                              clmd_pme_fft **out, clmd_err *err)
{
    *out = NULL;
    if (batch < 1) return clmd_err_set(err, CLMD_EINPUT, "PME device FFT: batch of %d grids", batch);
    for (int d = 0; d < 3; d++)
        if (!clmd_pme_fft_size_ok(K[d]))
            return clmd_err_set(err, CLMD_EINPUT, "PME device FFT: grid size %d has a prime factor "
                                "above 7", K[d]);
    cl_device_id dev = clmd_ocl_device(ocl);
    cl_ulong local = 0;
    size_t maxwg = 0;
    cl_device_fp_config fp = 0;
    CL_CHECK(clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL), err);
    CL_CHECK(clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof maxwg, &maxwg, NULL), err);
    clGetDeviceInfo(dev, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    /* at most 32 KiB per work-group, so several fit on a GPU multiprocessor */
    size_t budget = local < 32768 ? (size_t)local : 32768;
    int cu = clmd_ocl_compute_units(ocl);

    clmd_pme_fft *f = clmd_alloc(sizeof *f);
    f->ocl = ocl;
    f->batch = batch;
    f->e_stride = e_stride;
    memcpy(f->K, K, sizeof f->K);
    f->H2 = K[2] / 2 + 1;
    f->nhalf = (size_t)K[0] * K[1] * f->H2;
    const int nlines[3] = {K[1] * f->H2, K[0] * f->H2, (K[0] * K[1] + 1) / 2};
    int rc = CLMD_OK;
    for (int d = 0; d < 3 && !rc; d++) {
        fft_axis *a = &f->ax[d];
        a->n = K[d];
        a->nlines = nlines[d];
        a->npass = factor(K[d], a->radix);
        if (a->npass < 0) rc = clmd_err_set(err, CLMD_EINPUT, "PME device FFT: %d has too many "
                                            "factors", K[d]);
        else if ((size_t)2 * a->n * sizeof(cl_float2) + 256 * sizeof(cl_double) > budget)
            rc = clmd_err_set(err, CLMD_EINPUT, "PME device FFT: lines of %d points do not fit in "
                              "the device's local memory", a->n);
        if (!rc) {
            shape(a, budget, maxwg, cu);
            rc = make_twiddles(f, a, err);
        }
    }
    cl_program prog[3];
    for (int d = 0; d < 3 && !rc; d++) rc = build_axis(f, d, fp != 0, &prog[d], err);
    if (!rc) rc = clmd_ocl_kernel(ocl, prog[2], "pme_fft_z_r2c", &f->k_r2c, err);
    if (!rc) rc = clmd_ocl_kernel(ocl, prog[2], "pme_fft_z_c2r", &f->k_c2r, err);
    if (!rc) rc = clmd_ocl_kernel(ocl, prog[1], "pme_fft_lines", &f->k_y, err);
    if (!rc) rc = clmd_ocl_kernel(ocl, prog[0], "pme_fft_lines", &f->k_x, err);
    if (!rc) rc = check_wg(f, f->k_r2c, f->ax[2].wg, err);
    if (!rc) rc = check_wg(f, f->k_c2r, f->ax[2].wg, err);
    if (!rc) rc = check_wg(f, f->k_y, f->ax[1].wg, err);
    if (!rc) rc = check_wg(f, f->k_x, f->ax[0].wg, err);
    if (!rc) rc = clmd_ocl_alloc(ocl, sizeof(cl_float2) * f->nhalf * (size_t)batch, &f->spec, err);
    if (!rc) rc = clmd_ocl_alloc(ocl, sizeof(cl_float) * f->nhalf, &f->g, err);
    if (!rc) rc = clmd_ocl_alloc(ocl, sizeof(cl_long), &f->e_dummy, err);
    if (rc) {
        clmd_pme_fft_destroy(&f);
        return rc;
    }
    /* arguments that never change: buffers and twiddles */
    const int zero = 0;
    if ((rc = clSetKernelArg(f->k_r2c, 1, sizeof f->spec, &f->spec)) ||
        (rc = clSetKernelArg(f->k_r2c, 2, sizeof f->ax[2].tw, &f->ax[2].tw)) ||
        (rc = clSetKernelArg(f->k_c2r, 0, sizeof f->spec, &f->spec)) ||
        (rc = clSetKernelArg(f->k_c2r, 2, sizeof f->ax[2].tw, &f->ax[2].tw)))
        goto cl_fail;
    for (int d = 0; d < 2; d++) {
        cl_kernel k = d == 0 ? f->k_x : f->k_y;
        if ((rc = clSetKernelArg(k, 0, sizeof f->spec, &f->spec)) ||
            (rc = clSetKernelArg(k, 1, sizeof f->ax[d].tw, &f->ax[d].tw)) ||
            (rc = clSetKernelArg(k, 2, sizeof zero, &zero)) ||
            (rc = clSetKernelArg(k, 3, sizeof f->g, &f->g)) ||
            (rc = clSetKernelArg(k, 4, sizeof f->e_dummy, &f->e_dummy)) ||
            (rc = clSetKernelArg(k, 5, sizeof zero, &zero)) ||
            (rc = clSetKernelArg(k, 6, sizeof zero, &zero)) ||
            (rc = clSetKernelArg(k, 7, sizeof e_stride, &e_stride)))
            goto cl_fail;
    }
    *out = f;
    return CLMD_OK;
cl_fail:
    clmd_pme_fft_destroy(&f);
    return clmd_err_set(err, CLMD_ERUNTIME, "PME device FFT: setting kernel arguments: %s",
                        clmd_ocl_errstr(rc));
}

void clmd_pme_fft_destroy(clmd_pme_fft **pf)
{
    if (!pf || !*pf) return;
    clmd_pme_fft *f = *pf;
    cl_kernel ks[4] = {f->k_r2c, f->k_c2r, f->k_y, f->k_x};
    for (int i = 0; i < 4; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    for (int d = 0; d < FFT_AXES; d++) clmd_ocl_release(&f->ax[d].tw);
    clmd_ocl_release(&f->spec);
    clmd_ocl_release(&f->g);
    clmd_ocl_release(&f->e_dummy);
    clmd_free(f);
    *pf = NULL;
}

void clmd_pme_fft_describe(const clmd_pme_fft *f, char *out, size_t n)
{
    static const char axis[3] = {'x', 'y', 'z'};
    size_t len = 0;
    out[0] = '\0';
    for (int d = 0; d < 3 && len < n; d++) {
        const fft_axis *a = &f->ax[d];
        int w = snprintf(out + len, n - len, "%s%c: %d lines of %d per work-group of %d, radices",
                         d ? "; " : "", axis[d], a->t, a->n, a->wg);
        for (int i = 0; i < a->npass && w > 0 && len + (size_t)w < n; i++)
            w += snprintf(out + len + w, n - len - (size_t)w, "%s%d", i ? "x" : " ", a->radix[i]);
        if (w < 0) return;
        len += (size_t)w;
    }
}

cl_mem clmd_pme_fft_spectrum(const clmd_pme_fft *f) { return f->spec; }
cl_mem clmd_pme_fft_influence(const clmd_pme_fft *f) { return f->g; }

int clmd_pme_fft_set_influence(clmd_pme_fft *f, const float *g, clmd_err *err)
{
    return clmd_ocl_write(f->ocl, f->g, 0, sizeof(float) * f->nhalf, g, err);
}

static int run_lines(clmd_pme_fft *f, int d, int mode, cl_mem energy, int e_index,
                     int want_energy, clmd_probe_id pid, clmd_err *err)
{
    cl_kernel k = d == 0 ? f->k_x : f->k_y;
    CLMD_ARG(k, 2, mode, err);
    CLMD_ARG(k, 4, energy, err);
    CLMD_ARG(k, 5, e_index, err);
    CLMD_ARG(k, 6, want_energy, err);
    return clmd_ocl_launch_batch(f->ocl, k, f->ax[d].global, (size_t)f->ax[d].wg, (size_t)f->batch, pid, err);
}

static int run_r2c(clmd_pme_fft *f, cl_mem grid_fixed, clmd_err *err)
{
    CLMD_ARG(f->k_r2c, 0, grid_fixed, err);
    return clmd_ocl_launch_batch(f->ocl, f->k_r2c, f->ax[2].global, (size_t)f->ax[2].wg,
                                 (size_t)f->batch, P_PME_FFT_FWD, err);
}

static int run_c2r(clmd_pme_fft *f, cl_mem phi, clmd_err *err)
{
    CLMD_ARG(f->k_c2r, 1, phi, err);
    return clmd_ocl_launch_batch(f->ocl, f->k_c2r, f->ax[2].global, (size_t)f->ax[2].wg,
                                 (size_t)f->batch, P_PME_FFT_INV, err);
}

int clmd_pme_fft_forward(clmd_pme_fft *f, cl_mem grid_fixed, clmd_err *err)
{
    int rc;
    if ((rc = run_r2c(f, grid_fixed, err)) ||
        (rc = run_lines(f, 1, 0, f->e_dummy, 0, 0, P_PME_FFT_FWD, err)))
        return rc;
    return run_lines(f, 0, 0, f->e_dummy, 0, 0, P_PME_FFT_FWD, err);
}

int clmd_pme_fft_inverse(clmd_pme_fft *f, cl_mem phi, clmd_err *err)
{
    int rc;
    if ((rc = run_lines(f, 0, 1, f->e_dummy, 0, 0, P_PME_FFT_INV, err)) ||
        (rc = run_lines(f, 1, 1, f->e_dummy, 0, 0, P_PME_FFT_INV, err)))
        return rc;
    return run_c2r(f, phi, err);
}

int clmd_pme_fft_convolve(clmd_pme_fft *f, cl_mem grid_fixed, cl_mem phi, cl_mem energy,
                          int e_index, int want_energy, clmd_err *err)
{
    int rc;
    want_energy = want_energy != 0;
    if ((rc = run_r2c(f, grid_fixed, err)) ||
        (rc = run_lines(f, 1, 0, f->e_dummy, 0, 0, P_PME_FFT_FWD, err)) ||
        (rc = run_lines(f, 0, 2, want_energy ? energy : f->e_dummy, e_index, want_energy,
                        P_PME_CONVOLVE, err)) ||
        (rc = run_lines(f, 1, 1, f->e_dummy, 0, 0, P_PME_FFT_INV, err)))
        return rc;
    return run_c2r(f, phi, err);
}
