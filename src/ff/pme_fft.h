/* PME's reciprocal space on the OpenCL device (cl/pme_fft.cl): the 3-D real-to-complex FFT of
 * the charge grid, the multiplication by the influence function with the energy sum, and the
 * complex-to-real inverse, with the conventions of FFTW's unnormalized r2c/c2r transforms on the
 * half-complex grid [K0][K1][K2/2+1] (float2, z fastest). Our own mixed-radix (2, 3, 4, 5, 7)
 * Stockham FFT, one work-group per batch of lines in local memory; no floating-point atomics,
 * so results are the same bits run to run. Sizes must be products of 2, 3, 5 and 7 (the PME
 * term rounds its grid so).
 *
 * The handle owns its kernels and device buffers (spectrum, influence function, twiddles);
 * clmd_pme_fft_destroy frees them and must run before the OpenCL handle is closed. Calls
 * enqueue on the OpenCL handle's in-order queue and do not wait, except set_influence. */
#ifndef CLMD_FF_PME_FFT_H
#define CLMD_FF_PME_FFT_H

#include <stddef.h>

#include "ocl/ocl.h"

typedef struct clmd_pme_fft clmd_pme_fft;

/* Nonzero when n factors into 2, 3, 5 and 7 (n >= 1). */
int clmd_pme_fft_size_ok(int n);

/* Builds the kernels for grid K (the per-axis line batches and work-group sizes follow the
 * device's local memory and compute units). CLMD_EINPUT when a size is not 2,3,5,7-smooth or a
 * line does not fit in local memory. */
int clmd_pme_fft_create(clmd_ocl *ocl, const int K[3], clmd_pme_fft **out, clmd_err *err);
/* The same for `batch` grids laid end to end (batched replicas: grid_fixed, phi and the spectrum
 * hold batch grids, one launch per kernel transforms them all, grid b's energy goes into
 * energy[b * e_stride + e_index]); the influence function is shared (one box). */
int clmd_pme_fft_create_batch(clmd_ocl *ocl, const int K[3], int batch, int e_stride,
                              clmd_pme_fft **out, clmd_err *err);
void clmd_pme_fft_destroy(clmd_pme_fft **f);

/* One line saying how the transforms are laid out (lines per work-group, radices). */
void clmd_pme_fft_describe(const clmd_pme_fft *f, char *out, size_t n);

/* The half-complex spectrum buffer (float2 [K0][K1][K2/2+1]), for tests. */
cl_mem clmd_pme_fft_spectrum(const clmd_pme_fft *f);

/* Uploads the influence function on the half-complex grid ([K0][K1][K2/2+1] floats, the
 * layout of clmd_pme_influence). Blocking. */
int clmd_pme_fft_set_influence(clmd_pme_fft *f, const float *g, clmd_err *err);
/* The influence function's buffer, for a kernel that makes it on the device (cl/pme.cl's
 * pme_influence). */
cl_mem clmd_pme_fft_influence(const clmd_pme_fft *f);

/* Forward r2c transform of the fixed-point grid grid_fixed (long [K0 K1 K2], value * 2^32, as
 * PME's spreading leaves it; cleared to zero on the way) into the spectrum. Timed as
 * P_PME_FFT_FWD. */
int clmd_pme_fft_forward(clmd_pme_fft *f, cl_mem grid_fixed, clmd_err *err);

/* Inverse c2r transform of the spectrum into phi (float [K0 K1 K2]); the spectrum is
 * overwritten. Timed as P_PME_FFT_INV. */
int clmd_pme_fft_inverse(clmd_pme_fft *f, cl_mem phi, clmd_err *err);

/* The whole reciprocal convolution: forward transform of grid_fixed (cleared), multiplication
 * by the influence function, inverse transform into phi. With want_energy, adds
 * 1/2 sum_k G |S(k)|^2 over the full grid into energy[e_index] (long, value * 2^32). The x-axis
 * transforms and the multiplication share one kernel, timed as P_PME_CONVOLVE; the z and y
 * transforms are timed as P_PME_FFT_FWD and P_PME_FFT_INV. */
int clmd_pme_fft_convolve(clmd_pme_fft *f, cl_mem grid_fixed, cl_mem phi, cl_mem energy,
                          int e_index, int want_energy, clmd_err *err);

#endif
