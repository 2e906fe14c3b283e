/* Bonded kernels: harmonic bonds, harmonic angles, periodic torsions (proper and improper),
 * one work-item per term, forces added with 64-bit fixed-point atomics (deterministic),
 * energies reduced per work-group in fixed point and added once per group.
 *
 * Precision. Near equilibrium r - r0 and theta - theta0 are small differences of large numbers:
 * from plain float vectors they carry relative errors of 1e-5..1e-4 (water bonds sit exactly
 * at r0). Bond and angle vectors are therefore kept as double-float pairs (hi + lo, like the
 * positions) and the two differences are formed from double-float sums: r - r0 as
 * (r^2 - r0^2) / (r + r0), theta - theta0 as atan2 of (sin, cos) of theta rotated by -theta0.
 * The cross products (angle and torsion plane normals) are also double-float, as they cancel
 * for nearly straight angles. The rest uses the float high parts of the double-float vectors.
 *
 * Program defines (set by src/ff/bonded.c): PERIODIC, TRICLINIC (the system's box, not the
 * nonbonded method's), E_BOND, E_ANGLE, E_TORSION, BONDED_WG (work-group size). The three kinds
 * run in one kernel, bonded_terms, at the end. */

/* double-float helpers (two_sum, df_*) and energy_fixed live in common.cl */

#if PERIODIC
#if TRICLINIC
#define DF_MIN_IMAGE(X_, Y_, Z_)                                                    \
    {                                                                               \
        real k_ = rint(Z_.x * inv_box.z);                                           \
        X_ = df_shift(X_, k_, box_c.x, box_c_lo.x);                                 \
        Y_ = df_shift(Y_, k_, box_c.y, box_c_lo.y);                                 \
        Z_ = df_shift(Z_, k_, box_c.z, box_c_lo.z);                                 \
        k_ = rint(Y_.x * inv_box.y);                                                \
        X_ = df_shift(X_, k_, box_b.x, box_b_lo.x);                                 \
        Y_ = df_shift(Y_, k_, box_b.y, box_b_lo.y);                                 \
        k_ = rint(X_.x * inv_box.x);                                                \
        X_ = df_shift(X_, k_, box.x, box_lo.x);                                     \
    }
#else
#define DF_MIN_IMAGE(X_, Y_, Z_)                                                    \
    {                                                                               \
        X_ = df_shift(X_, rint(X_.x * inv_box.x), box.x, box_lo.x);                 \
        Y_ = df_shift(Y_, rint(Y_.x * inv_box.y), box.y, box_lo.y);                 \
        Z_ = df_shift(Z_, rint(Z_.x * inv_box.z), box.z, box_lo.z);                 \
    }
#endif
#else
#define DF_MIN_IMAGE(X_, Y_, Z_)
#endif

/* xj - xi per component as double-float: the float difference of the high parts with its
 * rounding error, plus the difference of the low parts. */
#define DF_DELTA(dx, dy, dz, i, j)                                                  \
    {                                                                               \
        const real4 pi_ = posq[i], pil_ = posq_lo[i], pj_ = posq[j], pjl_ = posq_lo[j]; \
        real2 t_ = two_sum(pj_.x, -pi_.x);                                          \
        dx = df_norm(t_.x, t_.y + (pjl_.x - pil_.x));                               \
        t_ = two_sum(pj_.y, -pi_.y);                                                \
        dy = df_norm(t_.x, t_.y + (pjl_.y - pil_.y));                               \
        t_ = two_sum(pj_.z, -pi_.z);                                                \
        dz = df_norm(t_.x, t_.y + (pjl_.z - pil_.z));                               \
        DF_MIN_IMAGE(dx, dy, dz);                                                   \
    }

/* Energies to fixed point rounded to nearest: to_fixed truncates, which biases a sum of many
 * small positive terms (water bonds near r0) by half a unit each. */

/* Sums each work-item's energy e in fixed point over the work-group (fixed order, exact
 * integer sums; an e that is not admitted is saturated and flagged) and, when want is nonzero, adds the total with one atomic. Every work-item of the group
 * must call it, also when energies are not wanted: PoCL 3.1 miscompiles barriers inside a
 * uniform `if (want_energy)` (the group total was added once per work-item). */
inline void group_energy(__local long *buf, real e, __global long *energy, int comp, int want,
                         int atom)
{
    const int lid = get_local_id(0);
#if NSEG > 1
    /* batched copies: a group's terms may belong to several copies, so each work-item adds its
     * own (integer sums: the same totals as the group's) into its copy's slots; energies are
     * wanted on few steps */
    (void)buf;
    if (want && atom >= 0) {
        __global long *eseg = energy + E_SEG(atom);
        if (fixed_bad(e)) flag_overflow(eseg + E_FLAGS, TERM_BIT(comp));
        const long v = energy_fixed(e);
        if (v != 0) atom_add(&eseg[comp], v);
    }
    return;
#endif
    if (want && fixed_bad(e)) flag_overflow(energy + E_FLAGS, TERM_BIT(comp));
    buf[lid] = energy_fixed(e);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = BONDED_WG / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (want && lid == 0 && buf[0] != 0) atom_add(&energy[comp], buf[0]);
}

/* E = 1/2 k (r - r0)^2 of bond b. par = (k, r0, r0^2 high, r0^2 low). */
inline real bond_term(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                      __global const int2 *restrict ij, __global const real4 *restrict par,
                      const int b, __global long *restrict force, const int npad, BOX_PARAMS)
{
    real e = 0;
    {
        const int i = ij[b].x, j = ij[b].y;
        const real4 p = par[b];
        real2 dx, dy, dz;
        DF_DELTA(dx, dy, dz, i, j);
        const real2 r2 = df_add(df_add(df_mul(dx, dx), df_mul(dy, dy)), df_mul(dz, dz));
        const real r = sqrt(r2.x);
        /* r^2 - r0^2 in double-float, then divided by r + r0: no cancellation left */
        const real2 diff = df_add(r2, (real2)(-p.z, -p.w));
        const real dr = (diff.x + diff.y) / (r + p.y);
        e = 0.5f * p.x * dr * dr;
        if (r > 0) {
            const real g = p.x * dr / r; /* pulls i toward j when stretched */
            add_force_atomic(force, npad, i, g * dx.x, g * dy.x, g * dz.x, TERM_BIT(E_BOND));
            add_force_atomic(force, npad, j, -g * dx.x, -g * dy.x, -g * dz.x, TERM_BIT(E_BOND));
        }
    }
    return e;
}

/* E = 1/2 k (theta - theta0)^2 of angle a, theta the angle i-j-k. cs = (cos theta0 high, low,
 * sin theta0 high, low). */
inline real angle_term(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                       __global const int4 *restrict ijk, __global const real4 *restrict cs,
                       __global const real *restrict kf, const int a, __global long *restrict force,
                       const int npad, BOX_PARAMS)
{
    real e = 0;
    {
        const int4 t = ijk[a];
        const real4 c0 = cs[a];
        const real k = kf[a];
        real2 ux, uy, uz, vx, vy, vz;
        DF_DELTA(ux, uy, uz, t.y, t.x); /* j -> i */
        DF_DELTA(vx, vy, vz, t.y, t.z); /* j -> k */
        /* cross product and dot product in double-float */
        const real2 cx = df_cross1(uy, vz, uz, vy);
        const real2 cy = df_cross1(uz, vx, ux, vz);
        const real2 cz = df_cross1(ux, vy, uy, vx);
        const real2 S = df_sqrt(df_add(df_add(df_mul(cx, cx), df_mul(cy, cy)), df_mul(cz, cz)));
        const real2 C = df_add(df_add(df_mul(ux, vx), df_mul(uy, vy)), df_mul(uz, vz));
        /* (C, S) = |u||v| (cos theta, sin theta); rotated by -theta0 its angle is theta - theta0,
           whose sine part is a small difference: formed in double-float */
        const real2 cos0 = c0.xy, sin0 = c0.zw;
        const real2 y = df_add(df_mul(S, cos0), -df_mul(C, sin0));
        const real x = C.x * cos0.x + S.x * sin0.x;
        const real dtheta = atan2(y.x + y.y, x);
        e = 0.5f * k * dtheta * dtheta;
        const real3 u = (real3)(ux.x, uy.x, uz.x), v = (real3)(vx.x, vy.x, vz.x);
        const real3 c = (real3)(cx.x, cy.x, cz.x);
        const real cn = S.x;
        if (cn > 0) {
            /* dtheta/dx_i = (u x c) / (|u|^2 |c|), dtheta/dx_k = (c x v) / (|v|^2 |c|) */
            const real de = k * dtheta;
            const real3 fi = cross(u, c) * (-de / (dot(u, u) * cn));
            const real3 fk = cross(c, v) * (-de / (dot(v, v) * cn));
            add_force_atomic(force, npad, t.x, fi.x, fi.y, fi.z, TERM_BIT(E_ANGLE));
            add_force_atomic(force, npad, t.z, fk.x, fk.y, fk.z, TERM_BIT(E_ANGLE));
            add_force_atomic(force, npad, t.y, -fi.x - fk.x, -fi.y - fk.y, -fi.z - fk.z,
                             TERM_BIT(E_ANGLE));
        }
    }
    return e;
}

/* E = k (1 + cos(n phi - phase)) of torsion q, phi the dihedral i-j-k-l with OpenMM's (IUPAC)
 * sign. par = (k, periodicity n, cos phase, sin phase). */
inline real torsion_term(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                         __global const int4 *restrict ijkl, __global const real4 *restrict par,
                         const int q, __global long *restrict force, const int npad, BOX_PARAMS,
                         __global const float4 *restrict seg_scale)
{
    real e = 0;
    {
        const int4 t = ijkl[q];
        real4 p = par[q];
#if REGION
        /* a torsion of the region (negative periodicity): its constant times the copy's factor */
        if (p.y < 0) {
            p.y = -p.y;
            p.x *= seg_scale[NSEG > 1 ? t.x / SEG_LEN : 0].w;
        }
#else
        (void)seg_scale;
#endif
        /* double-float differences and images (exact also for atoms far from the origin or in
           other images), then rounded to float vectors */
        real2 ix, iy, iz, kx, ky, kz, lx, ly, lz;
        DF_DELTA(ix, iy, iz, t.y, t.x);
        DF_DELTA(kx, ky, kz, t.y, t.z);
        DF_DELTA(lx, ly, lz, t.w, t.z);
        const real3 rij = (real3)(ix.x, iy.x, iz.x); /* x_i - x_j */
        const real3 rkj = (real3)(kx.x, ky.x, kz.x); /* x_k - x_j */
        const real3 rkl = (real3)(lx.x, ly.x, lz.x); /* x_k - x_l */
        /* the plane normals in double-float: near-straight i-j-k or j-k-l would otherwise lose
           their direction to cancellation (relative error eps / sin of the bond angle) */
        const real3 m = (real3)(df_cross1(iy, kz, iz, ky).x, df_cross1(iz, kx, ix, kz).x,
                                df_cross1(ix, ky, iy, kx).x);
        const real3 n = (real3)(df_cross1(ky, lz, kz, ly).x, df_cross1(kz, lx, kx, lz).x,
                                df_cross1(kx, ly, ky, lx).x);
        const real rkj2 = dot(rkj, rkj), rkjn = sqrt(rkj2);
        /* (cos phi, sin phi) |m||n| = (m.n, (m x n).rkj / |rkj|), the sine part as the IUPAC
           sign of rij.n (m x n = rkj (rij.n)) but from the accurate normals: rij.n itself cancels
           for a nearly straight i-j-k. Then cos and sin of n phi - phase by complex
           multiplication: no atan2, and errors of ~n roundings instead of n times that of phi. */
        const real cx = dot(m, n), cy = dot(cross(m, n), rkj) / rkjn, cr = sqrt(cx * cx + cy * cy);
        const real c1 = cr > 0 ? cx / cr : 1, s1 = cr > 0 ? cy / cr : 0;
        real cn = 1, sn = 0;
        for (int r = (int)p.y; r > 0; r--) {
            const real c = cn * c1 - sn * s1;
            sn = sn * c1 + cn * s1;
            cn = c;
        }
        const real cos_arg = cn * p.z + sn * p.w; /* cos(n phi - phase) */
        const real sin_arg = sn * p.z - cn * p.w; /* sin(n phi - phase) */
        e = p.x * (1 + cos_arg);
        const real m2 = dot(m, m), n2 = dot(n, n);
        if (m2 > 0 && n2 > 0 && rkj2 > 0) {
            /* Bekker / Blondel-Karplus decomposition of -dE/dphi onto the four atoms */
            const real dvdphi = -p.x * p.y * sin_arg;
            const real3 fi = m * (-dvdphi * rkjn / m2);
            const real3 fl = n * (dvdphi * rkjn / n2);
            const real s_i = dot(rij, rkj) / rkj2, s_l = dot(rkl, rkj) / rkj2;
            const real3 s = s_i * fi - s_l * fl;
            const real3 fj = fi - s, fk = fl + s;
            add_force_atomic(force, npad, t.x, fi.x, fi.y, fi.z, TERM_BIT(E_TORSION));
            add_force_atomic(force, npad, t.y, -fj.x, -fj.y, -fj.z, TERM_BIT(E_TORSION));
            add_force_atomic(force, npad, t.z, -fk.x, -fk.y, -fk.z, TERM_BIT(E_TORSION));
            add_force_atomic(force, npad, t.w, fl.x, fl.y, fl.z, TERM_BIT(E_TORSION));
        }
    }
    return e;
}

#define BOX_PASS box, inv_box, box_b, box_c, box_lo, box_b_lo, box_c_lo

/* Bonds, angles and torsions in one launch (one kernel launch costs a small system more than
 * the work): work-groups [0, gb) take bonds, [gb, gb + ga) angles, the rest torsions. Each
 * group holds one kind, so its energy sum goes to that kind's component. */
__kernel __attribute__((reqd_work_group_size(BONDED_WG, 1, 1)))
void bonded_terms(__global const real4 *restrict posq, __global const real4 *restrict posq_lo,
                  __global const int2 *restrict bond_ij, __global const real4 *restrict bond_par,
                  const int nbonds, __global const int4 *restrict angle_ijk,
                  __global const real4 *restrict angle_cs, __global const real *restrict angle_k,
                  const int nangles, __global const int4 *restrict tors_ijkl,
                  __global const real4 *restrict tors_par, const int ntorsions,
                  __global long *restrict force, const int npad, __global long *restrict energy,
                  const int want_energy, const int gb, const int ga, BOX_PARAMS,
                  __global const float4 *restrict seg_scale)
{
    __local long ebuf[BONDED_WG];
    const int grp = get_group_id(0), lid = get_local_id(0);
    real e = 0;
    int comp, atom = -1;
    if (grp < gb) {
        const int b = grp * BONDED_WG + lid;
        comp = E_BOND;
        if (b < nbonds) {
            atom = bond_ij[b].x;
            e = bond_term(posq, posq_lo, bond_ij, bond_par, b, force, npad, BOX_PASS);
        }
    } else if (grp < gb + ga) {
        const int a = (grp - gb) * BONDED_WG + lid;
        comp = E_ANGLE;
        if (a < nangles) {
            atom = angle_ijk[a].x;
            e = angle_term(posq, posq_lo, angle_ijk, angle_cs, angle_k, a, force, npad, BOX_PASS);
        }
    } else {
        const int q = (grp - gb - ga) * BONDED_WG + lid;
        comp = E_TORSION;
        if (q < ntorsions) {
            atom = tors_ijkl[q].x;
            e = torsion_term(posq, posq_lo, tors_ijkl, tors_par, q, force, npad, BOX_PASS, seg_scale);
        }
    }
    group_energy(ebuf, e, energy, comp, want_energy, atom);
}
