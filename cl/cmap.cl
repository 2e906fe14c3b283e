/* CMAP kernel: one work-item per correction-map term (two consecutive torsions a-b-c-d and
 * b-c-d-e), OpenMM's CMAPTorsionForce conventions (see src/ff/cmap_ref.h). The bicubic patch
 * coefficients are computed once on the host in double precision and stored as 4 real4 rows per
 * patch: row p holds the coefficients of u^p v^0..3. Forces are added with 64-bit fixed-point
 * atomics (one add per atom, the two torsions' shares summed first), energies reduced per
 * work-group in fixed point and added once per group.
 *
 * Precision: the four bond vectors are formed in double-float from the double-float positions,
 * image shifts included (cmap_delta), then rounded to float: an angle is accurate to ~1e-7 rad
 * wherever the atoms are, also across the box boundary; the rest is float.
 *
 * Program defines (set by src/ff/cmap.c): PERIODIC, TRICLINIC (the system's box), E_CMAP,
 * CMAP_WG (work-group size). */

#define TWO_PI 6.28318530717958647692f


/* ---- bond vectors: exact differences of double-float positions, exact image shifts ----
 * A vector between atoms in neighbouring images is a small difference of coordinates of the
 * size of the box: in plain float it would carry ulp(box) ~ 5e-7 nm of error, 3e-6 of a bond.
 * So each component stays a double-float pair (hi, lo) until the image is taken, as in
 * bonded.cl (two_sum, df_shift: common.cl). */

/* (a_hi + a_lo) - (b_hi + b_lo) as a renormalized pair. */
inline real2 cmap_df_diff(real a_hi, real a_lo, real b_hi, real b_lo)
{
    const real2 t = two_sum(a_hi, -b_hi);
    const real lo = t.y + (a_lo - b_lo), s = t.x + lo;
    return (real2)(s, lo - (s - t.x));
}

/* Bond vector x_j - x_i at its minimum image (reduced triclinic box: c, then b, then a). */
inline real3 cmap_delta(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                        int i, int j, BOX_PARAMS)
{
    const real4 pi = posq[i], pil = posq_lo[i], pj = posq[j], pjl = posq_lo[j];
    real2 dx = cmap_df_diff(pj.x, pjl.x, pi.x, pil.x);
    real2 dy = cmap_df_diff(pj.y, pjl.y, pi.y, pil.y);
    real2 dz = cmap_df_diff(pj.z, pjl.z, pi.z, pil.z);
#if PERIODIC
#if TRICLINIC
    real k = rint(dz.x * inv_box.z);
    dx = df_shift(dx, k, box_c.x, box_c_lo.x);
    dy = df_shift(dy, k, box_c.y, box_c_lo.y);
    dz = df_shift(dz, k, box_c.z, box_c_lo.z);
    k = rint(dy.x * inv_box.y);
    dx = df_shift(dx, k, box_b.x, box_b_lo.x);
    dy = df_shift(dy, k, box_b.y, box_b_lo.y);
    dx = df_shift(dx, rint(dx.x * inv_box.x), box.x, box_lo.x);
#else
    dx = df_shift(dx, rint(dx.x * inv_box.x), box.x, box_lo.x);
    dy = df_shift(dy, rint(dy.x * inv_box.y), box.y, box_lo.y);
    dz = df_shift(dz, rint(dz.x * inv_box.z), box.z, box_lo.z);
#endif
#endif
    return (real3)(dx.x + dx.y, dy.x + dy.y, dz.x + dz.y);
}

/* Torsion angle of rij = x_i - x_j, rkj = x_k - x_j, rkl = x_k - x_l with OpenMM's (IUPAC)
 * sign, from the plane normals m = rij x rkj, n = rkj x rkl: (m x n) = rkj (rij . n). */
inline real cmap_torsion(real3 rij, real3 rkj, real3 rkl, real3 *m, real3 *n)
{
    *m = cross(rij, rkj);
    *n = cross(rkj, rkl);
    return atan2(dot(cross(*m, *n), rkj) * rsqrt(dot(rkj, rkj)), dot(*m, *n));
}

/* Grid cell of an angle in (-pi, pi] and the position u in [0, 1] inside it; an angle that
 * rounds to 2pi stays at the end of the last cell. */
inline int cmap_cell(real angle, int size, real *u)
{
    const real a = angle < 0 ? angle + TWO_PI : angle, x = a * (size / TWO_PI);
    const int s = clamp((int)x, 0, size - 1);
    *u = x - s;
    return s;
}

/* -dE/dphi dphi/dx of one torsion on its four atoms (Bekker / Blondel-Karplus decomposition);
 * fj and fk are the forces on j and k. */
inline void cmap_torsion_force(real3 rij, real3 rkj, real3 rkl, real3 m, real3 n, real dedphi,
                               real3 *fi, real3 *fj, real3 *fk, real3 *fl)
{
    const real m2 = dot(m, m), n2 = dot(n, n), rkj2 = dot(rkj, rkj);
    if (!(m2 > 0 && n2 > 0 && rkj2 > 0)) {
        *fi = *fj = *fk = *fl = (real3)(0, 0, 0);
        return;
    }
    const real rkjn = sqrt(rkj2);
    *fi = m * (-dedphi * rkjn / m2);
    *fl = n * (dedphi * rkjn / n2);
    const real3 s = (dot(rij, rkj) / rkj2) * *fi - (dot(rkl, rkj) / rkj2) * *fl;
    *fj = s - *fi;
    *fk = -s - *fl;
}

/* terms[q] = (a, b, c, d, e, map size, first patch of the map, unused). */
__kernel __attribute__((reqd_work_group_size(CMAP_WG, 1, 1)))
void cmap(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
          __global const int8 *restrict terms, __global const real4 *restrict coeff,
          const int nterms, __global long *restrict force, const int npad,
          __global long *restrict energy, const int want_energy, BOX_PARAMS)
{
    __local long ebuf[CMAP_WG];
    const int q = get_global_id(0);
    real e = 0;
    if (q < nterms) {
        const int8 t = terms[q];
        /* four bonds; torsion A = a-b-c-d, torsion B = b-c-d-e shares the middle ones */
        const real3 u1 = cmap_delta(posq, posq_lo, t.s1, t.s0, box, inv_box, box_b, box_c, box_lo,
                                    box_b_lo, box_c_lo); /* x_a - x_b */
        const real3 u2 = cmap_delta(posq, posq_lo, t.s1, t.s2, box, inv_box, box_b, box_c, box_lo,
                                    box_b_lo, box_c_lo); /* x_c - x_b */
        const real3 u3 = cmap_delta(posq, posq_lo, t.s3, t.s2, box, inv_box, box_b, box_c, box_lo,
                                    box_b_lo, box_c_lo); /* x_c - x_d */
        const real3 u4 = cmap_delta(posq, posq_lo, t.s3, t.s4, box, inv_box, box_b, box_c, box_lo,
                                    box_b_lo, box_c_lo); /* x_e - x_d */
        real3 mA, nA, mB, nB;
        const real phi = cmap_torsion(u1, u2, u3, &mA, &nA);
        const real psi = cmap_torsion(-u2, -u3, -u4, &mB, &nB);
        const int size = t.s5;
        real u, v;
        const int i = cmap_cell(phi, size, &u), j = cmap_cell(psi, size, &v);
        __global const real4 *c = coeff + 4 * (t.s6 + i + size * j);
        real dedu = 0, dedv = 0;
        for (int p = 3; p >= 0; p--) {
            const real4 r = c[p];
            const real vp = ((r.w * v + r.z) * v + r.y) * v + r.x;
            const real wp = (3 * r.w * v + 2 * r.z) * v + r.y;
            if (p > 0) dedu = dedu * u + p * vp;
            e = e * u + vp;
            dedv = dedv * u + wp;
        }
        const real inv_h = size / TWO_PI;
        real3 fa, fb, fc, fd, gb, gc, gd, ge;
        cmap_torsion_force(u1, u2, u3, mA, nA, dedu * inv_h, &fa, &fb, &fc, &fd);
        cmap_torsion_force(-u2, -u3, -u4, mB, nB, dedv * inv_h, &gb, &gc, &gd, &ge);
        fb += gb;
        fc += gc;
        fd += gd;
        add_force_atomic(force, npad, t.s0, fa.x, fa.y, fa.z, TERM_BIT(E_CMAP));
        add_force_atomic(force, npad, t.s1, fb.x, fb.y, fb.z, TERM_BIT(E_CMAP));
        add_force_atomic(force, npad, t.s2, fc.x, fc.y, fc.z, TERM_BIT(E_CMAP));
        add_force_atomic(force, npad, t.s3, fd.x, fd.y, fd.z, TERM_BIT(E_CMAP));
        add_force_atomic(force, npad, t.s4, ge.x, ge.y, ge.z, TERM_BIT(E_CMAP));
    }
    /* group sum in fixed point, barriers outside any want_energy test (PoCL 3.1 miscompiles
       barriers inside a uniform branch: see bonded.cl) */
    const int lid = get_local_id(0);
#if NSEG > 1
    /* batched copies: each work-item into its copy's slots (see bonded.cl's group_energy) */
    if (want_energy && q < nterms) {
        __global long *eseg = energy + E_SEG(terms[q].s0);
        if (fixed_bad(e)) flag_overflow(eseg + E_FLAGS, TERM_BIT(E_CMAP));
        const long v = energy_fixed(e);
        if (v != 0) atom_add(&eseg[E_CMAP], v);
    }
    return;
#endif
    if (want_energy && fixed_bad(e)) flag_overflow(energy + E_FLAGS, TERM_BIT(E_CMAP));
    ebuf[lid] = energy_fixed(e);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = CMAP_WG / 2; s > 0; s >>= 1) {
        if (lid < s) ebuf[lid] += ebuf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (want_energy && lid == 0 && ebuf[0] != 0) atom_add(&energy[E_CMAP], ebuf[0]);
}
