/* Suite: PME's device FFT and convolution (src/ff/pme_fft.c, cl/pme_fft.cl) against FFTW in
 * double precision on grids 20x24x30, 27x25x49 (odd sizes, an odd number of z rows), 64x64x64
 * and 70x72x75 (every radix: 2, 3, 4, 5, 7): the forward r2c transform, the c2r inverse, and the
 * whole convolution with a real PME influence function (potential grid and energy); the
 * fixed-point input grid cleared for the next spread; the same bits on every run; sizes with
 * other prime factors refused. */
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "ff/pme_fft.h"
#include "ff/pme_ref.h"
#include "testutil.h"

static uint64_t rng_state;
static double urand(void) /* splitmix64, uniform in [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

enum { NSHAPES = 4 };
static const int shapes[NSHAPES][3] = {{20, 24, 30}, {27, 25, 49}, {64, 64, 64}, {70, 72, 75}};

/* Single-precision FFTs: rounding ~6e-8 per operation over log N passes gives ~2e-7 relative
 * RMS; 1e-6 is the precision target of the device path. */
static const double FFT_BOUND = 1e-6;

/* One device, one transform handle and its buffers for a grid. */
typedef struct fixture {
    clmd_ocl *ocl;
    clmd_pme_fft *fft;
    int K[3], H2;
    size_t np, nh;
    cl_mem grid_fixed, phi, energy;
} fixture;

static int fixture_open(fixture *x, const int K[3])
{
    memset(x, 0, sizeof *x);
    clmd_err err = {0};
    memcpy(x->K, K, sizeof x->K);
    x->H2 = K[2] / 2 + 1;
    x->np = (size_t)K[0] * K[1] * K[2];
    x->nh = (size_t)K[0] * K[1] * x->H2;
    int rc = clmd_ocl_open("auto", NULL, &x->ocl, &err);
    if (!rc) rc = clmd_pme_fft_create(x->ocl, K, &x->fft, &err);
    if (!rc) rc = clmd_ocl_alloc(x->ocl, sizeof(cl_long) * x->np, &x->grid_fixed, &err);
    if (!rc) rc = clmd_ocl_alloc(x->ocl, sizeof(cl_float) * x->np, &x->phi, &err);
    if (!rc) rc = clmd_ocl_alloc(x->ocl, sizeof(cl_long) * 4, &x->energy, &err);
    if (rc) printf("\n  device FFT %dx%dx%d: %s\n", K[0], K[1], K[2], err.msg);
    return rc;
}

static void fixture_close(fixture *x)
{
    clmd_ocl_release(&x->grid_fixed);
    clmd_ocl_release(&x->phi);
    clmd_ocl_release(&x->energy);
    clmd_pme_fft_destroy(&x->fft);
    clmd_ocl_close(&x->ocl);
}

/* A random grid in [-1, 1) as the device takes it (fixed point, value * 2^32) into fixed, and
 * the same values in double into ref. */
static void random_grid(size_t np, uint64_t seed, cl_long *fixed, double *ref)
{
    rng_state = seed;
    for (size_t i = 0; i < np; i++) {
        fixed[i] = (cl_long)llround((2 * urand() - 1) * 4294967296.0);
        ref[i] = (double)fixed[i] / 4294967296.0;
    }
}

/* sqrt(sum |a - b|^2 / sum |b|^2) over n doubles. */
static double rms_rel(const double *a, const double *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        s += b[i] * b[i];
    }
    return sqrt(d / s);
}

static void forward_matches_fftw(void)
{
    for (int s = 0; s < NSHAPES; s++) {
        fixture x;
        CU_ASSERT_EQUAL_FATAL(fixture_open(&x, shapes[s]), CLMD_OK);
        const int *K = x.K;
        cl_long *fixed = clmd_calloc(x.np, sizeof *fixed);
        double *grid = fftw_alloc_real(x.np);
        fftw_complex *ref = fftw_alloc_complex(x.nh);
        random_grid(x.np, 11 + s, fixed, grid);
        fftw_plan plan = fftw_plan_dft_r2c_3d(K[0], K[1], K[2], grid, ref, FFTW_ESTIMATE);
        fftw_execute(plan);
        fftw_destroy_plan(plan);

        clmd_err err = {0};
        cl_float2 *spec = clmd_calloc(x.nh, sizeof *spec);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, x.grid_fixed, 0, sizeof *fixed * x.np, fixed, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_pme_fft_forward(x.fft, x.grid_fixed, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, clmd_pme_fft_spectrum(x.fft), 0,
                                            sizeof *spec * x.nh, spec, &err), CLMD_OK);
        double *dev = clmd_calloc(2 * x.nh, sizeof *dev);
        for (size_t i = 0; i < x.nh; i++) {
            dev[2 * i] = spec[i].s[0];
            dev[2 * i + 1] = spec[i].s[1];
        }
        double e = rms_rel(dev, (const double *)ref, 2 * x.nh);
        char how[512];
        clmd_pme_fft_describe(x.fft, how, sizeof how);
        printf("\n  %dx%dx%d (%s): forward RMS relative error %.3g", K[0], K[1], K[2], how, e);
        ASSERT_BELOW(e, FFT_BOUND, "device r2c vs FFTW double, RMS relative");

        /* the spread grid is consumed: zero for the next spread */
        memset(fixed, 0xff, sizeof *fixed * x.np);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.grid_fixed, 0, sizeof *fixed * x.np, fixed, &err), CLMD_OK);
        size_t nonzero = 0;
        for (size_t i = 0; i < x.np; i++) nonzero += fixed[i] != 0;
        CU_ASSERT_EQUAL(nonzero, 0);

        clmd_free(dev);
        clmd_free(spec);
        clmd_free(fixed);
        fftw_free(grid);
        fftw_free(ref);
        fixture_close(&x);
    }
}

static void inverse_matches_fftw(void)
{
    for (int s = 0; s < NSHAPES; s++) {
        fixture x;
        CU_ASSERT_EQUAL_FATAL(fixture_open(&x, shapes[s]), CLMD_OK);
        const int *K = x.K;
        cl_long *fixed = clmd_calloc(x.np, sizeof *fixed);
        double *grid = fftw_alloc_real(x.np);
        fftw_complex *spec = fftw_alloc_complex(x.nh);
        random_grid(x.np, 21 + s, fixed, grid);
        /* a spectrum of real data (what the device inverse sees in PME), rounded to float so
         * that only the transforms differ */
        fftw_plan fwd = fftw_plan_dft_r2c_3d(K[0], K[1], K[2], grid, spec, FFTW_ESTIMATE);
        fftw_plan bwd = fftw_plan_dft_c2r_3d(K[0], K[1], K[2], spec, grid, FFTW_ESTIMATE);
        fftw_execute(fwd);
        cl_float2 *sf = clmd_calloc(x.nh, sizeof *sf);
        for (size_t i = 0; i < x.nh; i++)
            for (int c = 0; c < 2; c++) {
                sf[i].s[c] = (float)spec[i][c];
                spec[i][c] = sf[i].s[c];
            }
        fftw_execute(bwd); /* overwrites spec */
        fftw_destroy_plan(fwd);
        fftw_destroy_plan(bwd);

        clmd_err err = {0};
        float *phi = clmd_calloc(x.np, sizeof *phi);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, clmd_pme_fft_spectrum(x.fft), 0, sizeof *sf * x.nh, sf, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_pme_fft_inverse(x.fft, x.phi, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.phi, 0, sizeof *phi * x.np, phi, &err), CLMD_OK);
        double *dev = clmd_calloc(x.np, sizeof *dev);
        for (size_t i = 0; i < x.np; i++) dev[i] = phi[i];
        double e = rms_rel(dev, grid, x.np);
        printf("\n  %dx%dx%d: inverse RMS relative error %.3g", K[0], K[1], K[2], e);
        ASSERT_BELOW(e, FFT_BOUND, "device c2r vs FFTW double, RMS relative");
        clmd_free(dev);
        clmd_free(phi);
        clmd_free(sf);
        clmd_free(fixed);
        fftw_free(grid);
        fftw_free(spec);
        fixture_close(&x);
    }
}

/* The convolution with a PME influence function (order 5, alpha 3.1 /nm, a triclinic cell) on
 * a random grid: potential grid and energy against double-precision FFTW. Run twice: the same
 * bits both times. */
static void convolution_matches_fftw_and_repeats_bitwise(void)
{
    const double box[3][3] = {{3.0, 0, 0}, {0.4, 3.1, 0}, {-0.5, 0.6, 3.2}};
    for (int s = 0; s < NSHAPES; s++) {
        fixture x;
        CU_ASSERT_EQUAL_FATAL(fixture_open(&x, shapes[s]), CLMD_OK);
        const int *K = x.K;
        clmd_err err = {0};
        double *g = clmd_calloc(x.nh, sizeof *g);
        CU_ASSERT_EQUAL_FATAL(clmd_pme_influence(5, K, 3.1, box, g, &err), CLMD_OK);
        float *gf = clmd_calloc(x.nh, sizeof *gf);
        for (size_t i = 0; i < x.nh; i++) {
            gf[i] = (float)g[i];
            g[i] = gf[i]; /* the reference uses the device's influence values */
        }
        CU_ASSERT_EQUAL_FATAL(clmd_pme_fft_set_influence(x.fft, gf, &err), CLMD_OK);

        cl_long *fixed = clmd_calloc(x.np, sizeof *fixed);
        double *grid = fftw_alloc_real(x.np);
        fftw_complex *spec = fftw_alloc_complex(x.nh);
        random_grid(x.np, 31 + s, fixed, grid);
        fftw_plan fwd = fftw_plan_dft_r2c_3d(K[0], K[1], K[2], grid, spec, FFTW_ESTIMATE);
        fftw_plan bwd = fftw_plan_dft_c2r_3d(K[0], K[1], K[2], spec, grid, FFTW_ESTIMATE);
        fftw_execute(fwd);
        double eref = 0;
        for (size_t i = 0; i < x.nh; i++) {
            const int kz = (int)(i % (size_t)x.H2);
            const double w = kz == 0 || 2 * kz == K[2] ? 1 : 2;
            eref += 0.5 * w * g[i] * (spec[i][0] * spec[i][0] + spec[i][1] * spec[i][1]);
            spec[i][0] *= g[i];
            spec[i][1] *= g[i];
        }
        fftw_execute(bwd);
        fftw_destroy_plan(fwd);
        fftw_destroy_plan(bwd);

        float *phi[2];
        cl_long eb[2][4];
        for (int r = 0; r < 2; r++) {
            phi[r] = clmd_calloc(x.np, sizeof *phi[r]);
            memset(eb[r], 0, sizeof eb[r]);
            CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, x.energy, 0, sizeof eb[r], eb[r], &err), CLMD_OK);
            CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, x.grid_fixed, 0, sizeof *fixed * x.np, fixed, &err), CLMD_OK);
            CU_ASSERT_EQUAL_FATAL(clmd_pme_fft_convolve(x.fft, x.grid_fixed, x.phi, x.energy, 2, 1, &err), CLMD_OK);
            CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.phi, 0, sizeof *phi[r] * x.np, phi[r], &err), CLMD_OK);
            CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.energy, 0, sizeof eb[r], eb[r], &err), CLMD_OK);
        }
        double *dev = clmd_calloc(x.np, sizeof *dev);
        for (size_t i = 0; i < x.np; i++) dev[i] = phi[0][i];
        double e = rms_rel(dev, grid, x.np);
        double edev = (double)eb[0][2] / 4294967296.0;
        printf("\n  %dx%dx%d: potential RMS relative error %.3g, energy %.9g vs %.9g (rel %.2g)",
               K[0], K[1], K[2], e, edev, eref, fabs(edev - eref) / fabs(eref));
        ASSERT_BELOW(e, FFT_BOUND, "device convolution vs FFTW double, RMS relative");
        ASSERT_REL(edev, eref, 1e-6, 0, "convolution energy",
                   "float spectrum (~1e-7 relative), summed in double or fixed-order float");
        CU_ASSERT(eb[0][0] == 0 && eb[0][1] == 0 && eb[0][3] == 0);
        CU_ASSERT_EQUAL(memcmp(phi[0], phi[1], sizeof *phi[0] * x.np), 0);
        CU_ASSERT_EQUAL(memcmp(eb[0], eb[1], sizeof eb[0]), 0);

        /* without want_energy the energy buffer is left alone and the potential is the same */
        cl_long e0[4] = {0};
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, x.energy, 0, sizeof e0, e0, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_write(x.ocl, x.grid_fixed, 0, sizeof *fixed * x.np, fixed, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_pme_fft_convolve(x.fft, x.grid_fixed, x.phi, x.energy, 2, 0, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.phi, 0, sizeof *phi[1] * x.np, phi[1], &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_ocl_read(x.ocl, x.energy, 0, sizeof e0, e0, &err), CLMD_OK);
        CU_ASSERT(e0[0] == 0 && e0[1] == 0 && e0[2] == 0 && e0[3] == 0);
        CU_ASSERT_EQUAL(memcmp(phi[0], phi[1], sizeof *phi[0] * x.np), 0);

        for (int r = 0; r < 2; r++) clmd_free(phi[r]);
        clmd_free(dev);
        clmd_free(fixed);
        clmd_free(g);
        clmd_free(gf);
        fftw_free(grid);
        fftw_free(spec);
        fixture_close(&x);
    }
}

static void sizes_with_other_primes_refused(void)
{
    CU_ASSERT(clmd_pme_fft_size_ok(1));
    CU_ASSERT(clmd_pme_fft_size_ok(2 * 3 * 4 * 5 * 7));
    CU_ASSERT(!clmd_pme_fft_size_ok(11));
    CU_ASSERT(!clmd_pme_fft_size_ok(2 * 13));
    CU_ASSERT(!clmd_pme_fft_size_ok(0));
    clmd_ocl *ocl = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_ocl_open("auto", NULL, &ocl, &err), CLMD_OK);
    clmd_pme_fft *f = NULL;
    const int K[3] = {20, 22, 20};
    CU_ASSERT_EQUAL(clmd_pme_fft_create(ocl, K, &f, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "22"));
    clmd_ocl_close(&ocl);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"device r2c FFT equals FFTW double (4 grids, radices 2-7) and clears the spread grid", forward_matches_fftw},
        {"device c2r FFT equals FFTW double (4 grids)", inverse_matches_fftw},
        {"device convolution: potential and energy equal FFTW double, same bits every run", convolution_matches_fftw_and_repeats_bitwise},
        {"grid sizes with prime factors above 7 are refused", sizes_with_other_primes_refused},
        {NULL, NULL}};
    return clmd_test_main("pme_fft", tests, argc, argv);
}
