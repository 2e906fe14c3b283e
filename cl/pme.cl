/* PME reciprocal space on the device: charge spreading onto the grid and force gathering from
 * the potential grid; the FFTs and the convolution run in cl/pme_fft.cl (which reads the
 * fixed-point grid itself) or on the host (src/ff/pme.c, through pme_finish_spread).
 *
 * Program defines (set by src/ff/pme.c):
 *   PME_ORDER                 B-spline order (3..16)
 *   GRID_K0, GRID_K1, GRID_K2 grid size; the real grid is [K0][K1][K2], z fastest
 *   HAVE_FP64 (0/1)           fractional coordinates in double where the device has it
 * Kernel arguments recip0..2 are the reciprocal box vectors (rows, 1/nm): fractional coordinate
 * s_d = x . recip_d. Grid point floor(u) - j (u = K s, wrapped into [0, K)) gets the weight
 * M(w + j), w = u - floor(u), as in the double-precision reference (src/ff/pme_ref.c).
 * Spreading adds fixed-point integers (value * FIXED_SCALE) with 64-bit atomics, so the grid is
 * the same bits whatever the order in which atoms arrive. Batched copies of a system (NSEG > 1)
 * have a grid each, laid end to end: copy a / SEG_LEN spreads into and gathers from its own. */

#define GRID_POINTS ((size_t)GRID_K0 * GRID_K1 * GRID_K2)
#define GRID_OF(a) (NSEG > 1 ? (size_t)((a) / SEG_LEN) * GRID_POINTS : 0)

/* Reciprocal box vectors as double-float pairs: recip_d = recipd + recipd_lo. */
#define RECIP_PARAMS const real4 recip0, const real4 recip1, const real4 recip2, \
    const real4 recip0_lo, const real4 recip1_lo, const real4 recip2_lo

#if HAVE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
/* B-splines in double, rounded to float: the float recursion's error breaks the weights'
 * partition of unity by ~1e-7, which shows as a 3e-6 relative error on water's reciprocal
 * forces (their large intramolecular parts cancel against the exclusion corrections). */
typedef double spline;
/* Grid index floor(u) and weight offset w of one fractional coordinate, from the double-float
 * position, in double: a float s = x . recip in [0, 1) carries an absolute error of ~6e-8 K
 * grid spacings (~2e-7 nm), a 3e-6 relative error on water's reciprocal forces. */
inline int pme_index(real4 p, real4 pl, real4 r, real4 rl, int K, spline *w)
{
    const double s0 = ((double)p.x + (double)pl.x) * ((double)r.x + (double)rl.x) +
                      ((double)p.y + (double)pl.y) * ((double)r.y + (double)rl.y) +
                      ((double)p.z + (double)pl.z) * ((double)r.z + (double)rl.z);
    const double u = (s0 - floor(s0)) * K;
    int i0 = (int)u;
    *w = u - (double)i0;
    if (i0 >= K) i0 -= K;
    return i0;
}
#else
/* Devices without doubles: float fractional coordinate (the positions' low parts are zero
 * there anyway, see cl/integrate.cl) and float B-splines. */
typedef float spline;
inline int pme_index(real4 p, real4 pl, real4 r, real4 rl, int K, spline *w)
{
    (void)pl;
    (void)rl;
    real s = p.x * r.x + p.y * r.y + p.z * r.z;
    s -= floor(s);
    const real u = s * K;
    int i0 = (int)u;
    *w = u - (real)i0;
    if (i0 >= K) i0 -= K; /* s rounded up to 1 */
    return i0;
}
#endif

/* Cardinal B-spline weights theta[j] = M(w + j) and, with deriv, dtheta[j] = M'(w + j),
 * by the Cox-de Boor recursion starting from M_1 = 1 on [0, 1). */
inline void pme_bspline(spline w, real *theta, real *dtheta)
{
    spline c[PME_ORDER];
    c[0] = 1;
    for (int j = 1; j < PME_ORDER; j++) c[j] = 0;
    for (int k = 2; k <= PME_ORDER; k++) {
        if (k == PME_ORDER && dtheta) /* M_n'(x) = M_{n-1}(x) - M_{n-1}(x - 1) */
            for (int j = 0; j < PME_ORDER; j++)
                dtheta[j] = (real)((j < PME_ORDER - 1 ? c[j] : 0) - (j > 0 ? c[j - 1] : 0));
        const spline inv = (spline)1 / (k - 1);
        for (int j = k - 1; j >= 0; j--)
            c[j] = ((w + j) * c[j] + (j > 0 ? (k - w - j) * c[j - 1] : 0)) * inv;
    }
    for (int j = 0; j < PME_ORDER; j++) theta[j] = (real)c[j];
}

/* One work-item per atom: q * theta0 theta1 theta2 added to the order^3 grid points. */
/* A scaled region (REGION): the region's charges times each copy's factor seg_scale[copy].x. */
#if REGION
#define REGION_PARAMS , __global const uchar *restrict region, __global const float4 *restrict seg_scale
#define Q_EFF(i, q) ((q) * (region[i] ? seg_scale[NSEG > 1 ? (i) / SEG_LEN : 0].x : 1.0f))
#else
#define REGION_PARAMS
#define Q_EFF(i, q) (q)
#endif

/* q * theta0 theta1 theta2 of the atom at p (+ pl) added to the order^3 points of grid, with
 * 64-bit atomics or (plain, for a work-item that owns this copy of the grid) plain adds. */
inline void spread_atom(__global long *restrict grid, const real4 p, const real4 pl, const real q,
                        RECIP_PARAMS, const int plain)
{
    spline w0, w1, w2;
    real t0[PME_ORDER], t1[PME_ORDER], t2[PME_ORDER];
    const int i0 = pme_index(p, pl, recip0, recip0_lo, GRID_K0, &w0);
    const int i1 = pme_index(p, pl, recip1, recip1_lo, GRID_K1, &w1);
    const int i2 = pme_index(p, pl, recip2, recip2_lo, GRID_K2, &w2);
    pme_bspline(w0, t0, 0);
    pme_bspline(w1, t1, 0);
    pme_bspline(w2, t2, 0);
    for (int j0 = 0; j0 < PME_ORDER; j0++) {
        int k0 = i0 - j0;
        if (k0 < 0) k0 += GRID_K0;
        const real a0 = q * t0[j0];
        for (int j1 = 0; j1 < PME_ORDER; j1++) {
            int k1 = i1 - j1;
            if (k1 < 0) k1 += GRID_K1;
            const real a01 = a0 * t1[j1];
            __global long *row = grid + ((size_t)k0 * GRID_K1 + k1) * GRID_K2;
            for (int j2 = 0; j2 < PME_ORDER; j2++) {
                int k2 = i2 - j2;
                if (k2 < 0) k2 += GRID_K2;
                if (plain) row[k2] += to_fixed(a01 * t2[j2]);
                else atom_add(&row[k2], to_fixed(a01 * t2[j2]));
            }
        }
    }
}

/* One work-item per atom, atomics into the one grid (per copy). */
__kernel void pme_spread(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                         const int n, __global long *restrict grid, RECIP_PARAMS REGION_PARAMS)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const real4 p = posq[i], pl = posq_lo[i];
    const real q = Q_EFF(i, p.w);
    if (q == 0.0f) return;
    spread_atom(grid + GRID_OF(i), p, pl, q, recip0, recip1, recip2, recip0_lo, recip1_lo,
                recip2_lo, 0);
}

/* CPU devices: work-groups of one work-item, group g spreading a contiguous share of the atoms
 * into its own copy g of the grids (NSEG grids of GRID_POINTS each) with plain adds, since
 * locked atomic adds dominate the spread on CPU cores. pme_finish_spread sums the copies:
 * integer sums, so the grid is the same bits as pme_spread's. */
__kernel void pme_spread_private(__global const real4 *restrict posq,
                                 __global const real4 *restrict posq_lo, const int n,
                                 __global long *restrict grid, RECIP_PARAMS REGION_PARAMS)
{
    const int g = get_group_id(0), ng = get_num_groups(0);
    if (get_local_id(0) != 0) return;
    const int share = (n + ng - 1) / ng, a0 = g * share, a1 = min(n, a0 + share);
    grid += (size_t)g * NSEG * GRID_POINTS;
    for (int i = a0; i < a1; i++) {
        const real4 p = posq[i], pl = posq_lo[i];
        const real q = Q_EFF(i, p.w);
        if (q == 0.0f) continue;
        spread_atom(grid + GRID_OF(i), p, pl, q, recip0, recip1, recip2, recip0_lo, recip1_lo,
                    recip2_lo, 1);
    }
}

/* Host-FFT path: fixed-point grid to the float grid FFTW reads (the sum of the NPRIV copies
 * pme_spread_private filled, npoints each); clears them for the next spread (no separate fill
 * per step). */
__kernel void pme_finish_spread(__global long *restrict grid_fixed, __global real *restrict grid,
                                const int npoints)
{
    const int k = get_global_id(0);
    if (k >= npoints) return;
    long v = 0;
    for (int c = 0; c < NPRIV; c++) {
        v += grid_fixed[(size_t)c * npoints + k];
        grid_fixed[(size_t)c * npoints + k] = 0;
    }
    grid[k] = (real)v * (1.0f / FIXED_SCALE);
}

/* One work-item per atom: F = -q sum_d (dE/du_d) K_d recip_d from the potential grid phi (the
 * inverse FFT of the convolved charge grid). Each atom belongs to one work-item, so the force
 * is added without atomics. Work-item 0 adds the energy the host computed (fixed point). */
__kernel void pme_gather(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                         const int n, __global const real *restrict phi, RECIP_PARAMS,
                         __global long *restrict force,
                         const int npad, __global long *restrict energy, const int want_energy,
                         const long e_fixed, __global const long *restrict e_seg REGION_PARAMS)
{
    const int i = get_global_id(0);
    /* one copy: e_fixed; batched copies: each copy's own, from e_seg, at its first particle;
     * with a region e_seg[NSEG + copy] is the constant part's dU/dlambda_elec */
    if (NSEG == 1 && want_energy && i == 0) atom_add(&energy[E_PME_RECIP], e_fixed);
    if (i >= n) return;
    if (NSEG > 1 && want_energy && i % SEG_LEN == 0)
        atom_add(&energy[E_SEG(i) + E_PME_RECIP], e_seg[i / SEG_LEN]);
#if REGION
    if (want_energy && i % SEG_LEN == 0)
        atom_add(&energy[E_SEG(i) + E_DUDL_E], e_seg[NSEG + (NSEG > 1 ? i / SEG_LEN : 0)]);
#endif
    const real4 p = posq[i], pl = posq_lo[i];
    const real q = Q_EFF(i, p.w);
#if REGION
    const int reg = region[i];
    if (q == 0.0f && !reg) return;
#else
    if (q == 0.0f) return;
#endif
    phi += GRID_OF(i);
    spline w0, w1, w2;
    real t0[PME_ORDER], t1[PME_ORDER], t2[PME_ORDER];
    real d0[PME_ORDER], d1[PME_ORDER], d2[PME_ORDER];
    const int i0 = pme_index(p, pl, recip0, recip0_lo, GRID_K0, &w0);
    const int i1 = pme_index(p, pl, recip1, recip1_lo, GRID_K1, &w1);
    const int i2 = pme_index(p, pl, recip2, recip2_lo, GRID_K2, &w2);
    pme_bspline(w0, t0, d0);
    pme_bspline(w1, t1, d1);
    pme_bspline(w2, t2, d2);
    real g0 = 0, g1 = 0, g2 = 0; /* dE/du_d / q */
    real phi_i = 0;               /* the potential at the particle (a region's dU/dlambda) */
    for (int j0 = 0; j0 < PME_ORDER; j0++) {
        int k0 = i0 - j0;
        if (k0 < 0) k0 += GRID_K0;
        for (int j1 = 0; j1 < PME_ORDER; j1++) {
            int k1 = i1 - j1;
            if (k1 < 0) k1 += GRID_K1;
            __global const real *row = phi + ((size_t)k0 * GRID_K1 + k1) * GRID_K2;
            real s = 0, sd = 0; /* sums over z of phi t2 and phi dt2 */
            for (int j2 = 0; j2 < PME_ORDER; j2++) {
                int k2 = i2 - j2;
                if (k2 < 0) k2 += GRID_K2;
                const real v = row[k2];
                s += v * t2[j2];
                sd += v * d2[j2];
            }
            g0 += d0[j0] * t1[j1] * s;
            g1 += t0[j0] * d1[j1] * s;
            g2 += t0[j0] * t1[j1] * sd;
            phi_i += t0[j0] * t1[j1] * s;
        }
    }
    g0 *= GRID_K0;
    g1 *= GRID_K1;
    g2 *= GRID_K2;
    const real fx = -q * (g0 * recip0.x + g1 * recip1.x + g2 * recip2.x);
    const real fy = -q * (g0 * recip0.y + g1 * recip1.y + g2 * recip2.y);
    const real fz = -q * (g0 * recip0.z + g1 * recip1.z + g2 * recip2.z);
    add_force(force, npad, i, fx, fy, fz, TERM_BIT(E_PME_RECIP));
#if REGION
    /* dE/dlambda = sum over the region of q (unscaled) phi */
    if (want_energy && reg) add_energy(energy + E_SEG(i), E_DUDL_E, p.w * phi_i);
#else
    (void)phi_i;
#endif
}

/* The influence function on the half-complex grid [K0][K1][K2/2+1] (the spectrum the device
 * FFT multiplies), for the box whose reciprocal vectors are the rows r0..r2 (1/nm):
 * pre exp(-fac m^2) / (m^2 B0(k0) B1(k1) B2(k2)), 0 at m = 0, with m = m0 r0 + m1 r1 + m2 r2
 * and m_d = k_d or k_d - K_d (the host's formula, src/ff/pme_ref.c). mod holds the B-spline
 * moduli B0, B1, B2 end to end. In double where the device has it, rounded to float once, so a
 * barostat's or the pressure's box change costs one launch instead of a host loop and a copy. */
#if HAVE_FP64
typedef double gval;
typedef double4 gval4;
#else
typedef float gval;
typedef float4 gval4;
#endif
__kernel void pme_influence(__global float *g, __global const gval *mod, const gval4 r0,
                            const gval4 r1, const gval4 r2, const gval pre, const gval fac)
{
    const int H2 = GRID_K2 / 2 + 1;
    const int at = get_global_id(0);
    if (at >= GRID_K0 * GRID_K1 * H2) return;
    const int k2 = at % H2, k1 = (at / H2) % GRID_K1, k0 = at / (H2 * GRID_K1);
    const int m0 = k0 < (GRID_K0 + 1) / 2 ? k0 : k0 - GRID_K0;
    const int m1 = k1 < (GRID_K1 + 1) / 2 ? k1 : k1 - GRID_K1;
    const int m2 = k2 < (GRID_K2 + 1) / 2 ? k2 : k2 - GRID_K2;
    const gval mx = m0 * r0.x + m1 * r1.x + m2 * r2.x;
    const gval my = m0 * r0.y + m1 * r1.y + m2 * r2.y;
    const gval mz = m0 * r0.z + m1 * r1.z + m2 * r2.z;
    const gval msq = mx * mx + my * my + mz * mz;
    g[at] = at == 0 ? 0.0f
                    : (float)(pre * exp(-fac * msq) /
                              (msq * mod[k0] * mod[GRID_K0 + k1] * mod[GRID_K0 + GRID_K1 + k2]));
}
