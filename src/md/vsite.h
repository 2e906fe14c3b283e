/* Virtual sites (massless interaction sites placed from real particles), on the OpenCL device
 * and on the host in double. The one kind clmd has is OpenMM's ThreeParticleAverageSite
 * (TIP4P-Ew's M): x_s = w_a x_a + w_b x_b + w_c x_c.
 *   build   places every site from its parents; the engine calls it after every position
 *           update (integration, constraints, set_positions) and at the start, so forces are
 *           always evaluated at consistent sites.
 *   spread  after all force terms ran: f_a += w_a f_s, f_b += w_b f_s, f_c += w_c f_s, f_s = 0.
 *           This is the chain rule of E(x_s(x_a, x_b, x_c)); when the weights sum to 1 the
 *           total force and torque are unchanged. On the device the parts are computed in the
 *           fixed-point accumulator and the last one is the remainder, so the total force is
 *           conserved exactly.
 * Parents must be real particles (a site built from a site is an error). Create with
 * clmd_vsites_create, free with clmd_vsites_destroy; device objects are released by destroy,
 * the buffers in the clmd_mdbuf belong to the engine. */
#ifndef CLMD_MD_VSITE_H
#define CLMD_MD_VSITE_H

#include "core/err.h"
#include "md/mdbuf.h"

struct clmd_system;
struct clmd_vsite;
typedef struct clmd_vsites clmd_vsites;

/* *out = NULL (and CLMD_OK) when the system has no virtual sites. */
int clmd_vsites_create(const struct clmd_system *sys, clmd_vsites **out, clmd_err *err);
void clmd_vsites_destroy(clmd_vsites **v);
int clmd_vsites_count(const clmd_vsites *v);

/* Host: places the sites in x ([3n], nm). */
void clmd_vsites_build_ref(const clmd_vsites *v, double *x);
/* Host: moves the sites' forces in f ([3n]) onto their parents and zeroes them. */
void clmd_vsites_spread_ref(const clmd_vsites *v, double *f);

/* Device: kernels and the site table. b is copied. */
int clmd_vsites_setup_device(clmd_vsites *v, const clmd_mdbuf *b, clmd_err *err);
/* Places the sites in b->pos and posq/posq_lo, folding their displacement into flags[0]. */
int clmd_vsites_enqueue_build(clmd_vsites *v, clmd_err *err);
/* Spreads the sites' fixed-point forces in b->force onto their parents. */
int clmd_vsites_enqueue_spread(clmd_vsites *v, clmd_err *err);
/* The site table (after setup_device): the sites, and on the device int4 (site, a, b, c) and
 * mixed4 weights, as vsite_build reads them; returns the number of sites. */
int clmd_vsites_tables(const clmd_vsites *v, const struct clmd_vsite **sites, cl_mem *d_atoms,
                       cl_mem *d_w);

#endif
