/* Nonbonded pair kernel: Lennard-Jones + Coulomb over the cluster neighbor list, and the
 * pair kernel for 1-4 exceptions and Ewald exclusion corrections.
 *
 * Program defines (set by src/ff/nonbonded.c):
 *   CUTOFF (0/1), CUTOFF2         squared cutoff, nm^2
 *   COULOMB 0 none | 1 plain 1/r | 2 reaction field (KRF, CRF) | 3 Ewald real space (EWALD_ALPHA)
 *   LJ_SWITCH (0/1), SWITCH_START, SWITCH_INV_WIDTH
 * Per-atom LJ parameters are (sigma/2, 2 sqrt(eps)) so that a pair's sigma is a sum and its
 * 4 eps a product (Lorentz-Berthelot without a square root in the loop).
 * The list is full (each pair seen from both sides), so each work-item sums only its own
 * atoms' forces; energies are halved. The GPU kernels add those sums with atomics all the
 * same: the 1-4 records of the same launch (PAIRS14_ARGS) add to the same atoms. In periodic boxes positions are wrapped
 * as at the last list build and each entry carries j's image (jshift: index into the 27
 * lattice shifts, high parts then low parts in `shifts`; 27 = take the minimum image pair by
 * pair), so the inner loop needs no rounding. */

#define TWO_OVER_SQRT_PI 1.1283791670955126f
/* A force overflow here is flagged for both components (the kernels sum them per atom). */
#define NB_TERMS (TERM_BIT(E_LJ) | TERM_BIT(E_COULOMB))

/* The 1-4 exceptions ride on the GPU pair kernels' launch (one launch less per evaluation):
 * their work-items take the records in turn after their own work (pair14, at the end of this
 * file). CPU devices launch them on their own (pairs14), a launch there costing less than the
 * atomics the sharing needs; their pair kernels take the same arguments and leave them. */
#define PAIRS14_ARGS                                                                  \
    , __global const int4 *restrict p14_ij, __global const real4 *restrict p14_par,   \
        const int np14
inline void pair14(const int k, __global const real4 *restrict posq,
                   __global const real4 *restrict posq_lo, __global const int4 *restrict ij,
                   __global const real4 *restrict par, __global long *restrict force,
                   const int npad, __global long *restrict energy, const int want_energy,
                   BOX_PARAMS, __global const float4 *restrict seg_scale);
#define PAIRS14_CALL(k14, seg_scale)                                                         \
    if ((k14) < np14)                                                                        \
        pair14(k14, posq, posq_lo, p14_ij, p14_par, force, npad, energy, want_energy, box,   \
               inv_box, box_b, box_c, box_lo, box_b_lo, box_c_lo, seg_scale)
/* GPU kernels: the records strided over the pair kernel's work-items after its own work (no
 * work-group of its own that would leave the barriers early) */
#define PAIRS14_STRIDED(seg_scale)                                                           \
    for (int k14 = (int)get_global_id(0); k14 < np14; k14 += (int)get_global_size(0))        \
        PAIRS14_CALL(k14, seg_scale);

#if !CLMD_GPU
/* exp(x) for -87 < x <= 0 (the Ewald exp(-(alpha r)^2) at r <= cutoff): Cephes expf (range
 * reduction by n ln 2 in two parts, degree-7 polynomial, about 1 ulp) without the overflow,
 * underflow and two-step scaling branches of the library native_exp, which this range never
 * needs */
inline float8 nb_exp_neg(const float8 x)
{
    /* n = rint(x / ln 2) by the 1.5 2^23 shifter (PoCL's rint is a long software sequence);
     * the shifted value's low bits are n as an integer */
    const float8 sh = fma(x, 1.44269504088896341f, 12582912.0f);
    const float8 n = sh - 12582912.0f;
    const float8 g = fma(n, 2.12194440e-4f, fma(n, -0.693359375f, x));
    const float8 p = fma(fma(fma(fma(fma(1.9875691500e-4f, g, 1.3981999507e-3f), g,
                                     8.3334519073e-3f), g, 4.1665795894e-2f), g,
                             1.6666665459e-1f), g, 5.0000001201e-1f);
    const float8 y = fma(p, g * g, g) + 1.0f;
    return y * as_float8((as_int8(sh) - (0x4b400000 - 127)) << 23);
}

/* CPU devices: one work-item per i-cluster, the 8 lanes of the cluster in one float8 vector,
 * j atoms broadcast one at a time. */
__kernel void nonbonded(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                        __global const real2 *restrict ljp, __global const int *restrict cluster_atoms,
                        __global const int *restrict jstart, __global const uint *restrict jlist,
                        const int nclusters, __global long *restrict force, const int npad,
                        __global long *restrict energy, const int want_energy, const long e_const,
                        BOX_PARAMS, __global const uchar *restrict jshift,
                        __global const real4 *restrict shifts PAIRS14_ARGS)
{
    const int c = get_global_id(0);
    if (c >= nclusters) return;
    real xa[8], ya[8], za[8], xl[8], yl[8], zl[8], qa[8], sa[8], ea[8];
    int atom[8];
    for (int l = 0; l < 8; l++) {
        int a = cluster_atoms[8 * c + l];
        atom[l] = a;
        int s = a < 0 ? 0 : a;
        real4 p = posq[s], pl = posq_lo[s];
        real2 lj = ljp[s];
        xa[l] = p.x;
        ya[l] = p.y;
        za[l] = p.z;
        xl[l] = pl.x;
        yl[l] = pl.y;
        zl[l] = pl.z;
        qa[l] = p.w * ONE_4PI_EPS0;
        sa[l] = lj.x;
        ea[l] = lj.y;
    }
    const float8 xi = vload8(0, xa), yi = vload8(0, ya), zi = vload8(0, za);
    const float8 xil = vload8(0, xl), yil = vload8(0, yl), zil = vload8(0, zl);
    const float8 qi = vload8(0, qa), si = vload8(0, sa), ei = vload8(0, ea);
    const int8 lanebit = (int8)(1, 2, 4, 8, 16, 32, 64, 128);
    float8 fx = 0, fy = 0, fz = 0, elj = 0, ecoul = 0;
    const int e1 = jstart[c + 1];
    for (int e = jstart[c]; e < e1; e++) {
        const uint ent = jlist[e];
        const int j = (int)(ent >> 8);
        int8 m = ((int8)(int)ent & lanebit) != 0;
        const real4 pj = posq[j], pjl = posq_lo[j];
        const real2 ljj = ljp[j];
        float8 dx, dy, dz;
#if PERIODIC
        const uint code = jshift[e];
        if (code < 27) {
            /* the list's image of j: one scalar shift per j instead of a minimum image per lane */
            const real4 sh = shifts[code], sl = shifts[27 + code];
            /* x_j - x_i first, then the shift: exactly antisymmetric (the pair seen from j's
             * side, with code 26 - c, gives -d bit for bit, so both sides agree on the cutoff
             * test), and the same rounding as MIN_IMAGE on rectangular boxes */
            DELTA_SHIFT(dx, pj.x, pjl.x, xi, xil, sh.x, sl.x);
            DELTA_SHIFT(dy, pj.y, pjl.y, yi, yil, sh.y, sl.y);
            DELTA_SHIFT(dz, pj.z, pjl.z, zi, zil, sh.z, sl.z);
        } else {
            dx = (pj.x - xi) + (pjl.x - xil);
            dy = (pj.y - yi) + (pjl.y - yil);
            dz = (pj.z - zi) + (pjl.z - zil);
            MIN_IMAGE(float8, dx, dy, dz);
        }
#else
        dx = (pj.x - xi) + (pjl.x - xil);
        dy = (pj.y - yi) + (pjl.y - yil);
        dz = (pj.z - zi) + (pjl.z - zil);
#endif
        float8 r2 = dx * dx + dy * dy + dz * dz;
#if CUTOFF
        m &= r2 < (float8)CUTOFF2;
#endif
        r2 = select((float8)1.0f, r2, m);
        /* a plain divide: PoCL lowers native_recip to one anyway, and the divider runs beside
         * the multiply ports, which bound this loop (a Newton step or a multiply-only inverse
         * square root costs more than it saves) */
        const float8 inv_r2 = 1.0f / r2;
        /* -dE/dr / r; a j without LJ (water hydrogens, the TIP4P M site) or without charge (the
         * TIP4P oxygen) skips that half: a scalar branch, the same for all 8 lanes */
        float8 f = 0;
        if (ljj.y != 0) {
            const float8 sig = si + ljj.x, eps4 = ei * ljj.y;
            const float8 s2 = sig * sig * inv_r2, s6 = s2 * s2 * s2;
            float8 e_lj = eps4 * (s6 * s6 - s6);
            float8 f_lj = eps4 * (12.0f * s6 * s6 - 6.0f * s6) * inv_r2;
#if LJ_SWITCH
            {
                const float8 r = sqrt(r2);
                const float8 t = clamp((r - SWITCH_START) * SWITCH_INV_WIDTH, 0.0f, 1.0f);
                const float8 sw = 1.0f + t * t * t * (-10.0f + t * (15.0f - 6.0f * t));
                const float8 dsw = t * t * (-30.0f + t * (60.0f - 30.0f * t)) * SWITCH_INV_WIDTH;
                f_lj = f_lj * sw - e_lj * dsw / r;
                e_lj *= sw;
            }
#endif
            f = f_lj;
            if (want_energy) elj += select((float8)0.0f, e_lj, m);
        }
#if COULOMB != 0
        if (pj.w != 0) {
            const float8 qq = qi * pj.w;
            const float8 inv_r = sqrt(inv_r2);
#if COULOMB == 1
            const float8 e_c = qq * inv_r;
            f += e_c * inv_r2;
#elif COULOMB == 2
            const float8 e_c = qq * (inv_r + KRF * r2 - CRF);
            f += qq * (inv_r * inv_r2 - 2.0f * KRF);
#else
            /* erfc by Abramowitz-Stegun 7.1.26 (absolute error 1.5e-7, as OpenMM's kernels): the
             * library erfc() and exp() are slow calls on some CPU OpenCL compilers */
            const float8 ar = EWALD_ALPHA * r2 * inv_r;
            const float8 t = native_recip(1.0f + 0.3275911f * ar);
            const float8 ex2 = nb_exp_neg(-ar * ar);
            const float8 erfc_ar = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                                   t * (-1.453152027f + t * 1.061405429f)))) * ex2;
            const float8 e_c = qq * erfc_ar * inv_r;
            f += qq * (erfc_ar * inv_r + EWALD_ALPHA * TWO_OVER_SQRT_PI * ex2) * inv_r2;
#endif
            if (want_energy) ecoul += select((float8)0.0f, e_c, m);
        }
#endif
        f = select((float8)0.0f, f, m);
        fx -= f * dx;
        fy -= f * dy;
        fz -= f * dz;
    }
    real fxa[8], fya[8], fza[8];
    vstore8(fx, 0, fxa);
    vstore8(fy, 0, fya);
    vstore8(fz, 0, fza);
    for (int l = 0; l < 8; l++) {
        const int a = atom[l];
        if (a < 0) continue;
        add_force(force, npad, a, fxa[l], fya[l], fza[l], NB_TERMS);
    }
    if (want_energy) {
        real el = 0.5f * (elj.s0 + elj.s1 + elj.s2 + elj.s3 + elj.s4 + elj.s5 + elj.s6 + elj.s7);
        real ec = 0.5f * (ecoul.s0 + ecoul.s1 + ecoul.s2 + ecoul.s3 + ecoul.s4 + ecoul.s5 +
                          ecoul.s6 + ecoul.s7);
        __global long *eseg = energy + E_SEG(atom[0]);
        add_energy(eseg, E_LJ, el);
        add_energy(eseg, E_COULOMB, ec);
        /* the constant once per copy (clusters never span copies, each copy has one) */
        if (c < NSEG) atom_add(&energy[c * E_STRIDE + E_DISP], e_const);
    }
}

#else
/* PRUNE (GPU kernels): the entries of cluster c are the icount[c] of the inner list pruned on
 * the device (src/nlist/pairlist.c), passed as jlist/jshift, from jstart[c]. */
#if PRUNE
#define PRUNE_ARG , __global const int *restrict icount
#define LIST_END(c) (jstart[c] + icount[c])
#else
#define PRUNE_ARG
#define LIST_END(c) jstart[(c) + 1]
#endif

/* One pair of the plain GPU kernels at squared distance r2 (within the cutoff): i's LJ
 * parameters lji and charge qi (times 1/(4 pi eps0)), j's ljj and charge qj. Adds the pair's
 * energies to *elj and *ecoul and returns F/r: the force on j is f d, on i -f d (d = x_j - x_i). */
inline real nb_pair(const real r2, const real2 lji, const real2 ljj, const real qi, const real qj,
                    real *elj, real *ecoul)
{
    const real inv_r2 = 1.0f / r2;
    const real sig = lji.x + ljj.x, eps4 = lji.y * ljj.y;
    const real s2 = sig * sig * inv_r2, s6 = s2 * s2 * s2;
    real e_lj = eps4 * (s6 * s6 - s6);
    real f = eps4 * (12.0f * s6 * s6 - 6.0f * s6) * inv_r2;
#if LJ_SWITCH
    {
        const real r = sqrt(r2);
        const real t = clamp((r - SWITCH_START) * SWITCH_INV_WIDTH, 0.0f, 1.0f);
        const real sw = 1.0f + t * t * t * (-10.0f + t * (15.0f - 6.0f * t));
        const real dsw = t * t * (-30.0f + t * (60.0f - 30.0f * t)) * SWITCH_INV_WIDTH;
        f = f * sw - e_lj * dsw / r;
        e_lj *= sw;
    }
#endif
#if COULOMB != 0
    const real qq = qi * qj;
    const real inv_r = rsqrt(r2);
#if COULOMB == 1
    const real e_c = qq * inv_r;
    f += e_c * inv_r2;
#elif COULOMB == 2
    const real e_c = qq * (inv_r + KRF * r2 - CRF);
    f += qq * (inv_r * inv_r2 - 2.0f * KRF);
#elif ERFC_APPROX
    const real ar = EWALD_ALPHA * r2 * inv_r;
    const real ex = exp(-ar * ar);
    const real t = 1.0f / fma(0.3275911f, ar, 1.0f);
    const real erfc_ar = t * fma(t, fma(t, fma(t, fma(t, 1.061405429f, -1.453152027f), 1.421413741f),
                                        -0.284496736f), 0.254829592f) * ex;
    const real e_c = qq * erfc_ar * inv_r;
    f += qq * (erfc_ar * inv_r + EWALD_ALPHA * TWO_OVER_SQRT_PI * ex) * inv_r2;
#else
    const real ar = EWALD_ALPHA * r2 * inv_r;
    const real erfc_ar = erfc(ar);
    const real e_c = qq * erfc_ar * inv_r;
    f += qq * (erfc_ar * inv_r + EWALD_ALPHA * TWO_OVER_SQRT_PI * exp(-ar * ar)) * inv_r2;
#endif
    *ecoul += e_c;
#endif
    *elj += e_lj;
    return f;
}

/* GPUs: a work-group of 64 per i-cluster; work-item = (lane, slice): 8 lanes of the cluster
 * times 8 slices of its j list, reduced across slices in local memory in a fixed order. */
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void nonbonded(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
               __global const real2 *restrict ljp,
               __global const int *restrict cluster_atoms, __global const int *restrict jstart,
               __global const uint *restrict jlist, const int nclusters,
               __global long *restrict force, const int npad, __global long *restrict energy,
               const int want_energy, const long e_const, BOX_PARAMS,
               __global const uchar *restrict jshift, __global const real4 *restrict shifts
               PRUNE_ARG PAIRS14_ARGS)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int lane = lid & 7, slice = lid >> 3;
    __local real4 red[64];
    __local real2 ered[64];
    const int a = cluster_atoms[8 * c + lane];
    const int s = a < 0 ? 0 : a;
    const real4 pi = posq[s], pil = posq_lo[s];
    const real2 lji = ljp[s];
    const real qi = pi.w * ONE_4PI_EPS0;
    const uint bit = 1u << lane;
    real fx = 0, fy = 0, fz = 0, elj = 0, ecoul = 0;
    const int e1 = LIST_END(c);
    for (int e = jstart[c] + slice; e < e1; e += 8) {
        const uint ent = jlist[e];
        const int j = (int)(ent >> 8);
        const real4 pj = posq[j], pjl = posq_lo[j];
        const real2 ljj = ljp[j];
        real dx, dy, dz;
#if PERIODIC
        const uint code = jshift[e], ic = code < 27 ? code : 13;
        const real4 sh = shifts[ic], sl = shifts[27 + ic];
        DELTA_IMAGE(dx, dy, dz, pi, pil, pj, pjl, code < 27, sh, sl);
#else
        DELTA(dx, dy, dz, pi, pil, pj, pjl);
#endif
        const real r2 = dx * dx + dy * dy + dz * dz;
        bool m = (ent & bit) != 0;
#if CUTOFF
        m = m && r2 < CUTOFF2;
#endif
        if (!m) continue;
        const real f = nb_pair(r2, lji, ljj, qi, pj.w, &elj, &ecoul);
        fx -= f * dx;
        fy -= f * dy;
        fz -= f * dz;
    }
    red[lid] = (real4)(fx, fy, fz, 0);
    ered[lid] = (real2)(elj, ecoul);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0) {
        real4 t = red[lane];
        for (int k = 1; k < 8; k++) t += red[lane + 8 * k];
        if (a >= 0) add_force_atomic(force, npad, a, t.x, t.y, t.z, NB_TERMS);
    }
    if (want_energy && lid == 0) {
        real2 t = 0;
        for (int k = 0; k < 64; k++) t += ered[k];
        __global long *eseg = energy + E_SEG(cluster_atoms[8 * c]);
        add_energy(eseg, E_LJ, 0.5f * t.x);
        add_energy(eseg, E_COULOMB, 0.5f * t.y);
        if (c < NSEG) atom_add(&energy[c * E_STRIDE + E_DISP], e_const);
    }
    PAIRS14_STRIDED((__global const float4 *)0)
}

/* GPUs, the half list of cluster pairs (nlist.h tiles): a work-group of 64 per i-cluster takes
 * 8 of its tiles at a time, work-item = (i lane l, tile slot). A tile's j atoms (moved by the
 * tile's lattice shift) go to local memory; each work-item evaluates its i atom with the 8 j
 * atoms, keeps i's force and leaves each pair's force on j in local memory; then work-item
 * (j lane l, slot) sums its j atom's 8 in a fixed order and adds them atomically. Every pair
 * is evaluated once, so energies count whole. Tile entries: (cj, bits low, bits high, image
 * code), bit 8 m + l for i lane l with j lane m. jshift is unused (the code is in the tile). */
#define TILE_FJ(slot, m, l) ((slot) * 72 + (m) * 8 + (l)) /* padded: stores of a warp hit all banks */
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void nonbonded_tiles(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                     __global const real2 *restrict ljp,
                     __global const int *restrict cluster_atoms, __global const int *restrict tstart,
                     __global const uint4 *restrict tiles, const int nclusters,
                     __global long *restrict force, const int npad, __global long *restrict energy,
                     const int want_energy, const long e_const, BOX_PARAMS,
                     __global const uchar *restrict jshift, __global const real4 *restrict shifts
                     PRUNE_ARG PAIRS14_ARGS)
{
    const int g = get_group_id(0);
#if TILE_TASKS /* a piece of a cluster's tiles: (cluster, first, end) in the place of tstart */
    const int4 task = vload4(g, tstart);
    const int c = task.x, t0 = task.y, t1 = task.z;
#elif PRUNE /* the inner list (cl/pairlist.cl prune_tiles): icount[c] tiles at tstart[c] */
    const int c = g, t0 = tstart[c], t1 = t0 + icount[c];
#else
    const int c = g, t0 = tstart[c], t1 = tstart[c + 1];
#endif
    const int lid = get_local_id(0);
    const int l = lid & 7, slot = lid >> 3;
    __local real4 jp[64], jpl[64];
    __local real2 jlj[64];
    __local real fj[3][8 * 72];
    __local real4 red[64];
    __local real2 ered[64];
    const int a = cluster_atoms[8 * c + l];
    const int s = a < 0 ? 0 : a;
    const real4 pi = posq[s], pil = posq_lo[s];
    const real2 lji = ljp[s];
    const real qi = pi.w * ONE_4PI_EPS0;
    real fx = 0, fy = 0, fz = 0, elj = 0, ecoul = 0;
    for (int base = t0; base < t1; base += 8) {
        const int t = base + slot;
        const uint4 tl = t < t1 ? tiles[t] : (uint4)(0, 0, 0, 0);
        /* this work-item's j lanes (bits 8 m + l over m), and its lane of the tile's j cluster */
        uint mine = 0;
        for (int m = 0; m < 8; m++)
            mine |= (((m < 4 ? tl.y : tl.z) >> (8 * (m & 3) + l)) & 1u) << m;
        const int ja = t < t1 ? cluster_atoms[8 * tl.x + l] : -1;
        {
            const int js = ja < 0 ? 0 : ja;
            jp[lid] = posq[js];
            jpl[lid] = posq_lo[js];
            jlj[lid] = ljp[js];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#if PERIODIC
        const real4 sh = shifts[tl.w < 27 ? tl.w : 13], sl = shifts[27 + (tl.w < 27 ? tl.w : 13)];
#endif
        for (int m = 0; m < 8; m++) {
            const int q = 8 * slot + m;
            real gx = 0, gy = 0, gz = 0;
            if (mine >> m & 1u) {
                const real4 pj = jp[q], pjl = jpl[q];
                real dx, dy, dz;
#if PERIODIC
                /* the tile's shift as the entries kernels apply it */
                DELTA_IMAGE(dx, dy, dz, pi, pil, pj, pjl, tl.w < 27, sh, sl);
#else
                DELTA(dx, dy, dz, pi, pil, pj, pjl);
#endif
                const real r2 = dx * dx + dy * dy + dz * dz;
#if CUTOFF
                if (r2 < CUTOFF2)
#endif
                {
                    const real f = nb_pair(r2, lji, jlj[q], qi, pj.w, &elj, &ecoul);
                    gx = f * dx;
                    gy = f * dy;
                    gz = f * dz;
                    fx -= gx;
                    fy -= gy;
                    fz -= gz;
                }
            }
            fj[0][TILE_FJ(slot, m, l)] = gx;
            fj[1][TILE_FJ(slot, m, l)] = gy;
            fj[2][TILE_FJ(slot, m, l)] = gz;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* j lane l of the slot's tile */
        real sx = 0, sy = 0, sz = 0;
        for (int k = 0; k < 8; k++) {
            sx += fj[0][TILE_FJ(slot, l, k)];
            sy += fj[1][TILE_FJ(slot, l, k)];
            sz += fj[2][TILE_FJ(slot, l, k)];
        }
        if (ja >= 0 && (sx != 0 || sy != 0 || sz != 0))
            add_force_atomic(force, npad, ja, sx, sy, sz, NB_TERMS);
    }
    red[lid] = (real4)(fx, fy, fz, 0);
    ered[lid] = (real2)(elj, ecoul);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slot == 0) {
        real4 u = red[l];
        for (int k = 1; k < 8; k++) u += red[l + 8 * k];
        if (a >= 0 && (u.x != 0 || u.y != 0 || u.z != 0))
            add_force_atomic(force, npad, a, u.x, u.y, u.z, NB_TERMS);
    }
    if (want_energy && lid == 0) {
        real2 u = 0;
        for (int k = 0; k < 64; k++) u += ered[k];
        __global long *eseg = energy + E_SEG(cluster_atoms[8 * c]);
        add_energy(eseg, E_LJ, u.x);
        add_energy(eseg, E_COULOMB, u.y);
        /* each copy's constant once (there are at least as many work-groups as copies) */
        if (g < NSEG) atom_add(&energy[g * E_STRIDE + E_DISP], e_const);
    }
    PAIRS14_STRIDED((__global const float4 *)0)
}
#endif

#if REGION
/* Systems with a scaled region (src/ff/nonbonded.c, ff/options.h), in the layout of the plain
 * kernel of the device (CLMD_GPU): the float8 one below on CPUs, the work-group one after it on
 * GPUs; the same physics. A region particle has the sign bit of its ljp.x set. Each copy's
 * factors are seg_scale[copy] = (charge, lj, lambda_sterics, torsion):
 * region charges times .x, region 2 sqrt(eps) times .y; with SOFTCORE the LJ of a pair with one
 * particle in the region (both, with ANNIHILATE) is openmmtools' soft-core form
 *   U = l 4 eps x (x - 1), x = sigma^6 / (SC_ALPHA sigma^6 (1 - l) + r^6), l = .z,
 * and dU/dl goes into the copy's E_DUDL_S slot. The Coulomb energy of region-rest and
 * region-region pairs with the region's charges unscaled goes into E_ELEC_RE and E_ELEC_RR
 * (dU/dlambda_elec = E_re + 2 lambda E_rr for the direct part). e_disp[copy] is each copy's
 * dispersion correction (fixed point), e_disp[NSEG + copy] its dU/dl.
 * ELEC_MODE: 0 the region's charges scaled (REST2; region-region pairs go as .x^2); 1
 * openmmtools' alchemical PME ("exact": charges scaled, 1-4 charge products linear in lambda);
 * 2 openmmtools without PME (every Coulomb term touching the region times lambda, region-region
 * pairs too). E_ELEC_RE collects the terms linear in lambda, E_ELEC_RR the quadratic ones. */
#if !CLMD_GPU
/* CPU devices: the float8 layout of `nonbonded`. An entry whose i-cluster and j are both
 * outside the region (almost all of them) takes the plain path plus the scaled j factors;
 * the soft-core LJ and the unscaled region Coulomb parts are computed only for entries that
 * touch the region (scalar branches, the same for all 8 lanes). */
__kernel void nonbonded_region(__global const real4 *restrict posq,
                               __global const real4 *restrict posq_lo,
                               __global const real2 *restrict ljp,
                               __global const int *restrict cluster_atoms,
                               __global const int *restrict jstart,
                               __global const uint *restrict jlist, const int nclusters,
                               __global long *restrict force, const int npad,
                               __global long *restrict energy, const int want_energy,
                               __global const long *restrict e_disp, BOX_PARAMS,
                               __global const uchar *restrict jshift,
                               __global const real4 *restrict shifts,
                               __global const float4 *restrict seg_scale PAIRS14_ARGS)
{
    const int c = get_global_id(0);
    if (c >= nclusters) return;
    const int a0 = cluster_atoms[8 * c];
    const float4 sc = seg_scale[NSEG > 1 ? a0 / SEG_LEN : 0];
    real xa[8], ya[8], za[8], xl[8], yl[8], zl[8], qa[8], qua[8], sa[8], ea[8];
    int atom[8], ra[8];
    for (int l = 0; l < 8; l++) {
        int a = cluster_atoms[8 * c + l];
        atom[l] = a;
        int s = a < 0 ? 0 : a;
        real4 p = posq[s], pl = posq_lo[s];
        real2 lj = ljp[s];
        const int reg = a >= 0 && signbit(lj.x);
        xa[l] = p.x;
        ya[l] = p.y;
        za[l] = p.z;
        xl[l] = pl.x;
        yl[l] = pl.y;
        zl[l] = pl.z;
        qua[l] = p.w * ONE_4PI_EPS0;
        qa[l] = qua[l] * (reg ? sc.x : 1.0f);
        sa[l] = fabs(lj.x);
        ea[l] = lj.y * (reg ? sc.y : 1.0f);
        ra[l] = reg ? -1 : 0;
    }
    const float8 xi = vload8(0, xa), yi = vload8(0, ya), zi = vload8(0, za);
    const float8 xil = vload8(0, xl), yil = vload8(0, yl), zil = vload8(0, zl);
    const float8 qi = vload8(0, qa), qi_u = vload8(0, qua), si = vload8(0, sa), ei = vload8(0, ea);
    const int8 reg_i = vload8(0, ra);
    const int any_i = any(reg_i);
    const int8 lanebit = (int8)(1, 2, 4, 8, 16, 32, 64, 128);
    float8 fx = 0, fy = 0, fz = 0, elj = 0, ecoul = 0, dudl = 0, ere = 0, err_ = 0;
    const int e1 = jstart[c + 1];
    for (int e = jstart[c]; e < e1; e++) {
        const uint ent = jlist[e];
        const int j = (int)(ent >> 8);
        int8 m = ((int8)(int)ent & lanebit) != 0;
        const real4 pj = posq[j], pjl = posq_lo[j];
        const real2 ljj = ljp[j];
        float8 dx, dy, dz;
#if PERIODIC
        const uint code = jshift[e];
        if (code < 27) {
            const real4 sh = shifts[code], sl = shifts[27 + code];
            /* x_j - x_i first, then the shift: exactly antisymmetric (the pair seen from j's
             * side, with code 26 - c, gives -d bit for bit, so both sides agree on the cutoff
             * test), and the same rounding as MIN_IMAGE on rectangular boxes */
            DELTA_SHIFT(dx, pj.x, pjl.x, xi, xil, sh.x, sl.x);
            DELTA_SHIFT(dy, pj.y, pjl.y, yi, yil, sh.y, sl.y);
            DELTA_SHIFT(dz, pj.z, pjl.z, zi, zil, sh.z, sl.z);
        } else {
            dx = (pj.x - xi) + (pjl.x - xil);
            dy = (pj.y - yi) + (pjl.y - yil);
            dz = (pj.z - zi) + (pjl.z - zil);
            MIN_IMAGE(float8, dx, dy, dz);
        }
#else
        dx = (pj.x - xi) + (pjl.x - xil);
        dy = (pj.y - yi) + (pjl.y - yil);
        dz = (pj.z - zi) + (pjl.z - zil);
#endif
        float8 r2 = dx * dx + dy * dy + dz * dz;
#if CUTOFF
        m &= r2 < (float8)CUTOFF2;
#endif
        r2 = select((float8)1.0f, r2, m);
        const float8 inv_r2 = 1.0f / r2;
        const int reg_j = signbit(ljj.x);
        /* the entry touches the region: some lane of the cluster or j is in it */
        const int touch = any_i || reg_j;
        float8 f = 0;
        if (ljj.y != 0) {
            const float8 sig = si + fabs(ljj.x), eps4 = ei * (ljj.y * (reg_j ? sc.y : 1.0f));
            const float8 s2 = sig * sig * inv_r2, s6 = s2 * s2 * s2;
            float8 e_lj = eps4 * (s6 * s6 - s6);
            float8 f_lj = eps4 * (12.0f * s6 * s6 - 6.0f * s6) * inv_r2;
            float8 dl = 0;
#if SOFTCORE
            /* soft-core lanes: one particle in the region (both, with ANNIHILATE) */
            const int8 soft = m & (reg_j ? (ANNIHILATE ? (int8)(-1) : ~reg_i) : reg_i);
            if (touch && any(soft)) {
                const real l = sc.z;
                const float8 q2 = sig * sig, q6 = q2 * q2 * q2, r6 = r2 * r2 * r2;
                const float8 D = SC_ALPHA * q6 * (1.0f - l) + r6;
                const int8 pos = D > 0.0f;
                const float8 x = select((float8)0.0f, q6 / D, pos);
                const float8 e_sc = l * eps4 * x * (x - 1.0f);
                const float8 f_sc = select(
                    (float8)0.0f, 6.0f * l * eps4 * (2.0f * x - 1.0f) * x * r2 * r2 / D, pos);
                e_lj = select(e_lj, e_sc, soft);
                f_lj = select(f_lj, f_sc, soft);
                const float8 d_sc =
                    eps4 * (x * (x - 1.0f) + l * (2.0f * x - 1.0f) * SC_ALPHA * x * x);
                dl = select((float8)0.0f, d_sc, soft);
            }
#endif
#if LJ_SWITCH
            {
                const float8 r = sqrt(r2);
                const float8 t = clamp((r - SWITCH_START) * SWITCH_INV_WIDTH, 0.0f, 1.0f);
                const float8 sw = 1.0f + t * t * t * (-10.0f + t * (15.0f - 6.0f * t));
                const float8 dsw = t * t * (-30.0f + t * (60.0f - 30.0f * t)) * SWITCH_INV_WIDTH;
                f_lj = f_lj * sw - e_lj * dsw / r;
                e_lj *= sw;
                dl *= sw;
            }
#endif
            f = f_lj;
            if (want_energy) {
                elj += select((float8)0.0f, e_lj, m);
                dudl += dl;
            }
        }
#if COULOMB != 0
        if (pj.w != 0) {
            /* ELEC_MODE 2: a pair with j in the region goes as lambda once, whatever i is */
            const float8 qq =
                (ELEC_MODE == 2 && reg_j ? qi_u : qi) * (pj.w * (reg_j ? sc.x : 1.0f));
            const float8 inv_r = sqrt(inv_r2);
#if COULOMB == 1
            const float8 g = inv_r;
            f += qq * inv_r * inv_r2;
#elif COULOMB == 2
            const float8 g = inv_r + KRF * r2 - CRF;
            f += qq * (inv_r * inv_r2 - 2.0f * KRF);
#else
            /* erfc as in `nonbonded` (Abramowitz-Stegun 7.1.26) */
            const float8 ar = EWALD_ALPHA * r2 * inv_r;
            const float8 t = native_recip(1.0f + 0.3275911f * ar);
            const float8 ex2 = nb_exp_neg(-ar * ar);
            const float8 erfc_ar = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                                   t * (-1.453152027f + t * 1.061405429f)))) * ex2;
            const float8 g = erfc_ar * inv_r;
            f += qq * (g + EWALD_ALPHA * TWO_OVER_SQRT_PI * ex2) * inv_r2;
#endif
            if (want_energy) {
                ecoul += select((float8)0.0f, qq * g, m);
                if (touch) {
                    /* the unscaled region parts: region-rest (and, ELEC_MODE 2, region-region)
                     * pairs linear, region-region pairs quadratic */
                    const float8 eu = qi_u * pj.w * g;
                    const int8 lin = m & (reg_j ? (ELEC_MODE == 2 ? (int8)(-1) : ~reg_i) : reg_i);
                    const int8 quad = m & (ELEC_MODE != 2 && reg_j ? reg_i : (int8)0);
                    ere += select((float8)0.0f, eu, lin);
                    err_ += select((float8)0.0f, eu, quad);
                }
            }
        }
#endif
        f = select((float8)0.0f, f, m);
        fx -= f * dx;
        fy -= f * dy;
        fz -= f * dz;
    }
    real fxa[8], fya[8], fza[8];
    vstore8(fx, 0, fxa);
    vstore8(fy, 0, fya);
    vstore8(fz, 0, fza);
    for (int l = 0; l < 8; l++) {
        const int a = atom[l];
        if (a < 0) continue;
        add_force(force, npad, a, fxa[l], fya[l], fza[l], NB_TERMS);
    }
    if (want_energy) {
        real t[5] = {0, 0, 0, 0, 0}, v[5 * 8];
        vstore8(elj, 0, v);
        vstore8(ecoul, 1, v);
        vstore8(dudl, 2, v);
        vstore8(ere, 3, v);
        vstore8(err_, 4, v);
        for (int k = 0; k < 5; k++)
            for (int l = 0; l < 8; l++) t[k] += v[8 * k + l];
        __global long *eseg = energy + E_SEG(a0);
        add_energy(eseg, E_LJ, 0.5f * t[0]);
        add_energy(eseg, E_COULOMB, 0.5f * t[1]);
        add_energy(eseg, E_DUDL_S, 0.5f * t[2]);
        add_energy(eseg, E_ELEC_RE, 0.5f * t[3]);
        add_energy(eseg, E_ELEC_RR, 0.5f * t[4]);
        if (c < NSEG) {
            atom_add(&energy[c * E_STRIDE + E_DISP], e_disp[c]);
            atom_add(&energy[c * E_STRIDE + E_DUDL_S], e_disp[NSEG + c]);
        }
    }
}

#else
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void nonbonded_region(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                      __global const real2 *restrict ljp,
                      __global const int *restrict cluster_atoms, __global const int *restrict jstart,
                      __global const uint *restrict jlist, const int nclusters,
                      __global long *restrict force, const int npad, __global long *restrict energy,
                      const int want_energy, __global const long *restrict e_disp, BOX_PARAMS,
                      __global const uchar *restrict jshift, __global const real4 *restrict shifts,
                      __global const float4 *restrict seg_scale PRUNE_ARG PAIRS14_ARGS)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int lane = lid & 7, slice = lid >> 3;
    __local real4 red[64];
    __local real4 ered[64];
    __local real2 dred[64];
    const int a = cluster_atoms[8 * c + lane];
    const int s = a < 0 ? 0 : a;
    const int a0 = cluster_atoms[8 * c];
    const float4 sc = seg_scale[NSEG > 1 ? a0 / SEG_LEN : 0];
    const real4 pi = posq[s], pil = posq_lo[s];
    const real2 lji = ljp[s];
    const int reg_i = signbit(lji.x);
    const real si = fabs(lji.x), ei = lji.y * (reg_i ? sc.y : 1.0f);
    const real qi_u = pi.w * ONE_4PI_EPS0, qi = qi_u * (reg_i ? sc.x : 1.0f);
    const uint bit = 1u << lane;
    real fx = 0, fy = 0, fz = 0, elj = 0, ecoul = 0, dudl = 0, ere = 0, err_ = 0;
    const int e1 = LIST_END(c);
    for (int e = jstart[c] + slice; e < e1; e += 8) {
        const uint ent = jlist[e];
        const int j = (int)(ent >> 8);
        const real4 pj = posq[j], pjl = posq_lo[j];
        const real2 ljj = ljp[j];
        real dx, dy, dz;
#if PERIODIC
        const uint code = jshift[e], ic = code < 27 ? code : 13;
        const real4 sh = shifts[ic], sl = shifts[27 + ic];
        DELTA_IMAGE(dx, dy, dz, pi, pil, pj, pjl, code < 27, sh, sl);
#else
        DELTA(dx, dy, dz, pi, pil, pj, pjl);
#endif
        const real r2 = dx * dx + dy * dy + dz * dz;
        bool m = (ent & bit) != 0;
#if CUTOFF
        m = m && r2 < CUTOFF2;
#endif
        if (!m) continue;
        const int reg_j = signbit(ljj.x);
        const real inv_r2 = 1.0f / r2;
        const real sig = si + fabs(ljj.x), eps4 = ei * ljj.y * (reg_j ? sc.y : 1.0f);
        real e_lj, f;
#if SOFTCORE
        const int soft = reg_i != reg_j || (ANNIHILATE && reg_i && reg_j);
#else
        const int soft = 0;
#endif
        real dl = 0;
        if (soft) {
            const real l = sc.z, s2 = sig * sig, s6 = s2 * s2 * s2, r6 = r2 * r2 * r2;
            const real D = SC_ALPHA * s6 * (1.0f - l) + r6, x = D > 0 ? s6 / D : 0.0f;
            e_lj = l * eps4 * x * (x - 1.0f);
            f = D > 0 ? 6.0f * l * eps4 * (2.0f * x - 1.0f) * x * r2 * r2 / D : 0.0f;
            dl = eps4 * (x * (x - 1.0f) + l * (2.0f * x - 1.0f) * SC_ALPHA * x * x);
        } else {
            const real s2 = sig * sig * inv_r2, s6 = s2 * s2 * s2;
            e_lj = eps4 * (s6 * s6 - s6);
            f = eps4 * (12.0f * s6 * s6 - 6.0f * s6) * inv_r2;
        }
#if LJ_SWITCH
        {
            const real r = sqrt(r2);
            const real t = clamp((r - SWITCH_START) * SWITCH_INV_WIDTH, 0.0f, 1.0f);
            const real sw = 1.0f + t * t * t * (-10.0f + t * (15.0f - 6.0f * t));
            const real dsw = t * t * (-30.0f + t * (60.0f - 30.0f * t)) * SWITCH_INV_WIDTH;
            f = f * sw - e_lj * dsw / r;
            e_lj *= sw;
            dl *= sw;
        }
#endif
#if COULOMB != 0
        const real qj_u = pj.w;
#if ELEC_MODE == 2
        const real qq = qi_u * qj_u * (reg_i || reg_j ? sc.x : 1.0f);
#else
        const real qq = qi * qj_u * (reg_j ? sc.x : 1.0f);
#endif
        const real inv_r = rsqrt(r2);
#if COULOMB == 1
        const real g = inv_r;
        f += qq * inv_r * inv_r2;
#elif COULOMB == 2
        const real g = inv_r + KRF * r2 - CRF;
        f += qq * (inv_r * inv_r2 - 2.0f * KRF);
#else
        const real ar = EWALD_ALPHA * r2 * inv_r;
        const real erfc_ar = erfc(ar);
        const real g = erfc_ar * inv_r;
        f += qq * (erfc_ar * inv_r + EWALD_ALPHA * TWO_OVER_SQRT_PI * exp(-ar * ar)) * inv_r2;
#endif
        ecoul += qq * g;
        /* the unscaled region parts of the Coulomb energy */
        if (reg_i != reg_j || (ELEC_MODE == 2 && reg_i)) ere += qi_u * qj_u * g;
        else if (reg_i) err_ += qi_u * qj_u * g;
#endif
        fx -= f * dx;
        fy -= f * dy;
        fz -= f * dz;
        elj += e_lj;
        dudl += dl;
    }
    red[lid] = (real4)(fx, fy, fz, 0);
    ered[lid] = (real4)(elj, ecoul, dudl, 0);
    dred[lid] = (real2)(ere, err_);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0) {
        real4 t = red[lane];
        for (int k = 1; k < 8; k++) t += red[lane + 8 * k];
        if (a >= 0) add_force_atomic(force, npad, a, t.x, t.y, t.z, NB_TERMS);
    }
    if (want_energy && lid == 0) {
        real4 t = 0;
        real2 u = 0;
        for (int k = 0; k < 64; k++) {
            t += ered[k];
            u += dred[k];
        }
        __global long *eseg = energy + E_SEG(a0);
        add_energy(eseg, E_LJ, 0.5f * t.x);
        add_energy(eseg, E_COULOMB, 0.5f * t.y);
        add_energy(eseg, E_DUDL_S, 0.5f * t.z);
        add_energy(eseg, E_ELEC_RE, 0.5f * u.x);
        add_energy(eseg, E_ELEC_RR, 0.5f * u.y);
        if (c < NSEG) {
            atom_add(&energy[c * E_STRIDE + E_DISP], e_disp[c]);
            atom_add(&energy[c * E_STRIDE + E_DUDL_S], e_disp[NSEG + c]);
        }
    }
    PAIRS14_STRIDED(seg_scale)
}
#endif /* CLMD_GPU */
#endif /* REGION */

/* 1-4 exceptions and exclusion corrections, one work-item per record.
 * par = (4 pi eps0-scaled charge product of the exception, sigma, 4 eps, charge product for
 * the Ewald erf correction). Exceptions have no cutoff, as in OpenMM. */
inline void pair14(const int k, __global const real4 *restrict posq,
                   __global const real4 *restrict posq_lo, __global const int4 *restrict ij,
                   __global const real4 *restrict par, __global long *restrict force,
                   const int npad, __global long *restrict energy, const int want_energy,
                   BOX_PARAMS, __global const float4 *restrict seg_scale)
{
    const int i = ij[k].x, j = ij[k].y;
    real4 p = par[k];
#if REGION
    /* ij.z: how many of the two are in the region; charges and LJ depths scaled per copy */
    const int nreg = ij[k].z;
    const float4 sc = seg_scale[NSEG > 1 ? i / SEG_LEN : 0];
    /* the particles' charge factor (Ewald exclusion part), the exception's (its charge
     * product: linear in lambda for openmmtools' alchemical modes) */
    const real fq = nreg == 0 ? 1.0f : nreg == 1 ? sc.x : sc.x * sc.x;
    const real fx = ELEC_MODE == 0 ? fq : nreg ? sc.x : 1.0f;
    const real fw = ELEC_MODE == 2 ? fx : fq;
    const real fl = nreg == 0 ? 1.0f : nreg == 1 ? sc.y : sc.y * sc.y;
    const real qq_u = p.x, qe_u = p.w;
    p.x *= fx;
    p.z *= fl;
    p.w *= fw;
    /* soft-core 1-4 LJ across the region's boundary (openmmtools: no cutoff, lambda_sterics) */
    const int soft14 = SOFTCORE && (nreg == 1 || (ANNIHILATE && nreg == 2)) && p.z != 0;
#else
    (void)seg_scale;
#endif
    real dx, dy, dz;
    DELTA(dx, dy, dz, posq[i], posq_lo[i], posq[j], posq_lo[j]);
    MIN_IMAGE(real, dx, dy, dz);
    const real r2 = dx * dx + dy * dy + dz * dz;
    const real inv_r2 = 1.0f / r2, inv_r = rsqrt(r2);
    real e_c = p.x * inv_r;
    real f = e_c * inv_r2;
    real e_lj = 0, dl14 = 0;
#if REGION
    if (soft14) {
        const real l = sc.z, s2 = p.y * p.y, s6 = s2 * s2 * s2, r6 = r2 * r2 * r2;
        const real D = SC_ALPHA * s6 * (1.0f - l) + r6, x = D > 0 ? s6 / D : 0.0f;
        e_lj = l * p.z * x * (x - 1.0f);
        f += D > 0 ? 6.0f * l * p.z * (2.0f * x - 1.0f) * x * r2 * r2 / D : 0.0f;
        dl14 = p.z * (x * (x - 1.0f) + l * (2.0f * x - 1.0f) * SC_ALPHA * x * x);
    } else
#endif
    if (p.z != 0) {
        const real s2 = p.y * p.y * inv_r2, s6 = s2 * s2 * s2;
        e_lj = p.z * (s6 * s6 - s6);
        f += p.z * (12.0f * s6 * s6 - 6.0f * s6) * inv_r2;
    }
#if COULOMB == 3
    if (p.w != 0) {
        const real r = r2 * inv_r, ar = EWALD_ALPHA * r;
        const real erf_ar = erf(ar);
        e_c -= p.w * erf_ar * inv_r;
        f -= p.w * (erf_ar * inv_r - EWALD_ALPHA * TWO_OVER_SQRT_PI * exp(-ar * ar)) * inv_r2;
    }
#endif
    add_force_atomic(force, npad, i, -f * dx, -f * dy, -f * dz, NB_TERMS);
    add_force_atomic(force, npad, j, f * dx, f * dy, f * dz, NB_TERMS);
    if (want_energy) {
        add_energy(energy + E_SEG(i), E_COULOMB, e_c);
        add_energy(energy + E_SEG(i), E_LJ, e_lj);
#if REGION
        if (nreg > 0) {
            /* the unscaled Coulomb energy: the exception's charge product goes as fx, the Ewald
             * exclusion part as fw (linear or quadratic in lambda) */
            real lin = 0, quad = 0, ex = qq_u * inv_r;
            if (ELEC_MODE == 0 && nreg == 2) quad += ex;
            else lin += ex;
#if COULOMB == 3
            if (qe_u != 0) {
                const real ew = -qe_u * erf(EWALD_ALPHA * r2 * inv_r) * inv_r;
                if (ELEC_MODE != 2 && nreg == 2) quad += ew;
                else lin += ew;
            }
#endif
            add_energy(energy + E_SEG(i), E_ELEC_RE, lin);
            add_energy(energy + E_SEG(i), E_ELEC_RR, quad);
            if (soft14) add_energy(energy + E_SEG(i), E_DUDL_S, dl14);
        }
#endif
    }
}

/* CPU devices: the records in a launch of their own, one work-item each. */
__kernel void pairs14(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                      __global const int4 *restrict ij, __global const real4 *restrict par,
                      const int npairs, __global long *restrict force, const int npad,
                      __global long *restrict energy, const int want_energy, BOX_PARAMS,
                      __global const float4 *restrict seg_scale)
{
    const int k = get_global_id(0);
    if (k < npairs)
        pair14(k, posq, posq_lo, ij, par, force, npad, energy, want_energy, box, inv_box, box_b,
               box_c, box_lo, box_b_lo, box_c_lo, seg_scale);
}
