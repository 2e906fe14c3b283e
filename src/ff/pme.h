/* The PME reciprocal-space term (clmd_pme_create, declared with the other constructors in
 * ff/term.h): smooth PME with charge spreading and force gathering in OpenCL (cl/pme.cl) and
 * the 3-D FFTs and the convolution either on the device (ff/pme_fft.h; the default on GPUs) or
 * on the host with FFTW single precision (the default on CPU devices); the environment
 * variable CLMD_PME_FFT=device|host|auto overrides the choice when the term is set up. Its energy
 * component E_PME_RECIP is the reciprocal-space energy plus the Ewald self energy and the
 * neutralizing-plasma energy, so coulomb + pme_reciprocal is the whole electrostatic energy.
 * This header only lets callers (clmd eval, tests) ask a PME term what it chose; the term is
 * freed with clmd_term_destroy like any other. */
#ifndef CLMD_FF_PME_H
#define CLMD_FF_PME_H

struct clmd_term;

/* The Ewald alpha (1/nm) and grid of a PME term (from clmd_pme_params: forced values, else
 * OpenMM 7.7's rule, any grid size). Returns CLMD_OK, or CLMD_EINPUT when t is not a PME term
 * (alpha and grid then untouched). alpha or grid may be NULL. */
int clmd_pme_term_params(const struct clmd_term *t, double *alpha, int grid[3]);

#endif
