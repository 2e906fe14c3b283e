/* Distance constraints (see src/md/constraints.h): SETTLE for rigid waters, SHAKE/RATTLE per
 * cluster of coupled constraints. One work-item owns one water or one cluster, so no two
 * work-items touch the same particle and results do not depend on scheduling. Positions and
 * velocities are `mixed` (double where the device has it); moved particles get their float
 * posq/posq_lo rewritten and their displacement since the last list build folded into
 * flags[0]; a failed solve sets flags[1].
 * The kernels, constrain_positions and constrain_velocities, take both kinds in one launch.
 * Defines: HAVE_FP64 (0/1), WG (work-group size, a power of two), MAX_ITER. */

inline int unit3(mixed3 *a)
{
    const mixed l = sqrt(dot(*a, *a));
    if (!(l > 0)) return 0;
    *a /= l;
    return 1;
}

/* SETTLE for one water: p[0..2] = O, H1, H2 new (unconstrained) positions, p0 the old ones;
 * on success d[] holds the displacements. The derivation is in src/md/constraints.c
 * (settle_one), which this follows line for line. */
inline int settle_one(mixed mo, mixed mh, mixed doh, mixed dhh, const mixed3 *p0,
                      const mixed3 *p, mixed3 *d)
{
    const mixed wt = mo + 2 * mh, rc = (mixed)0.5 * dhh, h = sqrt(doh * doh - rc * rc);
    const mixed ra = 2 * mh * h / wt, rb = h - ra;
    const mixed3 com = (mo * p[0] + mh * (p[1] + p[2])) / wt;
    const mixed3 ob = p0[1] - p0[0], oc = p0[2] - p0[0];
    mixed3 rel[3] = {p[0] - com, p[1] - com, p[2] - com};
    mixed3 Z = cross(ob, oc);
    mixed3 X = cross(rel[0], Z);
    mixed3 Y = cross(Z, X);
    if (!unit3(&X) || !unit3(&Y) || !unit3(&Z)) return 0;
    const mixed xb0 = dot(ob, X), yb0 = dot(ob, Y), xc0 = dot(oc, X), yc0 = dot(oc, Y);
    mixed x1[3], y1[3], z1[3];
    for (int a = 0; a < 3; a++) {
        x1[a] = dot(rel[a], X);
        y1[a] = dot(rel[a], Y);
        z1[a] = dot(rel[a], Z);
    }
    const mixed sinphi = z1[0] / ra;
    if (!(fabs(sinphi) < 1)) return 0;
    const mixed cosphi = sqrt(1 - sinphi * sinphi);
    const mixed sinpsi = (z1[1] - z1[2]) / (2 * rc * cosphi);
    if (!(fabs(sinpsi) < 1)) return 0;
    const mixed cospsi = sqrt(1 - sinpsi * sinpsi);
    const mixed x2[3] = {0, -rc * cospsi, rc * cospsi};
    const mixed y2[3] = {ra * cosphi, -rb * cosphi - rc * sinpsi * sinphi,
                         -rb * cosphi + rc * sinpsi * sinphi};
    const mixed z2[3] = {ra * sinphi, -rb * sinphi + rc * sinpsi * cosphi,
                         -rb * sinphi - rc * sinpsi * cosphi};
    const mixed alpha = xb0 * x2[1] + yb0 * y2[1] + xc0 * x2[2] + yc0 * y2[2];
    const mixed beta = xb0 * y2[1] - yb0 * x2[1] + xc0 * y2[2] - yc0 * x2[2];
    const mixed gamma = xb0 * y1[1] - yb0 * x1[1] + xc0 * y1[2] - yc0 * x1[2];
    const mixed r2 = alpha * alpha + beta * beta, disc = r2 - gamma * gamma;
    if (!(disc >= 0) || !(r2 > 0)) return 0;
    const mixed sq = sqrt(disc);
    const mixed sint = (alpha * gamma - beta * sq) / r2, cost = (beta * gamma + alpha * sq) / r2;
    for (int a = 0; a < 3; a++) {
        const mixed dx = x2[a] * cost - y2[a] * sint - x1[a];
        const mixed dy = x2[a] * sint + y2[a] * cost - y1[a];
        const mixed dz = z2[a] - z1[a];
        d[a] = dx * X + dy * Y + dz * Z;
    }
    return 1;
}

/* Position SETTLE of water w (moves its atoms, corrects their velocities when inv_dt != 0);
 * returns the largest squared displacement of its atoms from the list reference. */
inline float settle_water(const int w, __global const int4 *restrict water,
                          __global const mixed2 *restrict wdist, __global mixed4 *restrict pos,
                          __global const mixed4 *restrict pos_old, __global mixed4 *restrict vel,
                          const mixed inv_dt, __global real4 *restrict posq,
                          __global real4 *restrict posq_lo, __global const real4 *restrict ref,
                          __global uint *restrict flags, __global const mixed4 *restrict pshift)
{
    float d2 = 0;
    const int4 at = water[w];
    const int idx[3] = {at.x, at.y, at.z};
    mixed3 p[3], p0[3], d[3];
    mixed4 v[3];
    for (int a = 0; a < 3; a++) {
        p[a] = pos[idx[a]].xyz;
        p0[a] = pos_old[idx[a]].xyz;
        v[a] = vel[idx[a]];
    }
    const mixed2 dist = wdist[w];
    if (settle_one(1 / v[0].w, 1 / v[1].w, dist.x, dist.y, p0, p, d)) {
        for (int a = 0; a < 3; a++) {
            const mixed3 x = p[a] + d[a];
            pos[idx[a]] = (mixed4)(x, 0);
            if (inv_dt != 0) {
                v[a].xyz += d[a] * inv_dt;
                vel[idx[a]] = v[a];
            }
            d2 = fmax(d2, store_position(posq, posq_lo, pshift, idx[a], x, ref));
        }
    } else {
        flags[1] = 1;
    }
    return d2;
}

/* Velocity SETTLE of water w: the 3x3 system of src/md/constraints.c (settle_velocities_one). */
inline void settle_water_velocities(const int w, __global const int4 *restrict water,
                                    __global const mixed4 *restrict pos,
                                    __global mixed4 *restrict vel, __global uint *restrict flags)
{
    const int4 at = water[w];
    const mixed3 pa = pos[at.x].xyz, pb = pos[at.y].xyz, pc = pos[at.z].xyz;
    mixed4 va = vel[at.x], vb = vel[at.y], vc = vel[at.z];
    mixed3 eab = pb - pa, eac = pc - pa, ebc = pc - pb;
    if (!unit3(&eab) || !unit3(&eac) || !unit3(&ebc)) {
        flags[1] = 1;
        return;
    }
    const mixed ia = va.w, ib = vb.w, ic = vc.w;
    const mixed cab_ac = dot(eab, eac), cab_bc = dot(eab, ebc), cac_bc = dot(eac, ebc);
    const mixed m11 = ia + ib, m22 = ia + ic, m33 = ib + ic;
    const mixed m12 = ia * cab_ac, m13 = -ib * cab_bc, m23 = ic * cac_bc;
    const mixed b1 = dot(eab, vb.xyz - va.xyz), b2 = dot(eac, vc.xyz - va.xyz),
                b3 = dot(ebc, vc.xyz - vb.xyz);
    const mixed det = m11 * (m22 * m33 - m23 * m23) - m12 * (m12 * m33 - m23 * m13) +
                      m13 * (m12 * m23 - m22 * m13);
    if (!(fabs(det) > 0)) {
        flags[1] = 1;
        return;
    }
    const mixed tab = (b1 * (m22 * m33 - m23 * m23) - m12 * (b2 * m33 - m23 * b3) +
                       m13 * (b2 * m23 - m22 * b3)) / det;
    const mixed tac = (m11 * (b2 * m33 - m23 * b3) - b1 * (m12 * m33 - m23 * m13) +
                       m13 * (m12 * b3 - b2 * m13)) / det;
    const mixed tbc = (m11 * (m22 * b3 - b2 * m23) - m12 * (m12 * b3 - b2 * m13) +
                       b1 * (m12 * m23 - m22 * m13)) / det;
    va.xyz += ia * (tab * eab + tac * eac);
    vb.xyz += ib * (-tab * eab + tbc * ebc);
    vc.xyz += ic * (-tac * eac - tbc * ebc);
    vel[at.x] = va;
    vel[at.y] = vb;
    vel[at.z] = vc;
}

/* Gauss-Seidel SHAKE over the constraints of cluster q, in their fixed order, until all hold
 * to |r^2 - d^2| <= 2 tol d^2; each correction moves along the old bond vector and (inv_dt != 0)
 * adds the same displacement / dt to the velocities. Returns the largest squared displacement of
 * the cluster's atoms from the list reference. */
inline float shake_cluster(const int q, __global const int *restrict cstart,
                           __global const int2 *restrict cij, __global const mixed *restrict cd2,
                           __global const int *restrict astart, __global const int *restrict atoms,
                           __global mixed4 *restrict pos, __global const mixed4 *restrict pos_old,
                           __global mixed4 *restrict vel, const mixed inv_dt, const mixed tol,
                           __global real4 *restrict posq, __global real4 *restrict posq_lo,
                           __global const real4 *restrict ref, __global uint *restrict flags,
                           __global const mixed4 *restrict pshift)
{
    float d2 = 0;
    const int k0 = cstart[q], k1 = cstart[q + 1];
    int done = 0, bad = 0;
    for (int it = 0; it < MAX_ITER && !done && !bad; it++) {
        done = 1;
        for (int k = k0; k < k1; k++) {
            const int2 ij = cij[k];
            mixed4 xi = pos[ij.x], xj = pos[ij.y];
            const mixed3 r = xi.xyz - xj.xyz;
            const mixed dd = cd2[k], diff = dd - dot(r, r);
            if (fabs(diff) <= 2 * tol * dd) continue;
            done = 0;
            const mixed3 ro = pos_old[ij.x].xyz - pos_old[ij.y].xyz;
            const mixed rro = dot(r, ro);
            if (!(rro > (mixed)1e-6 * dd)) {
                bad = 1;
                break;
            }
            mixed4 vi = vel[ij.x], vj = vel[ij.y];
            const mixed g = diff / (2 * rro * (vi.w + vj.w));
            const mixed3 si = g * vi.w * ro, sj = g * vj.w * ro;
            xi.xyz += si;
            xj.xyz -= sj;
            pos[ij.x] = xi;
            pos[ij.y] = xj;
            if (inv_dt != 0) {
                vi.xyz += si * inv_dt;
                vj.xyz -= sj * inv_dt;
                vel[ij.x] = vi;
                vel[ij.y] = vj;
            }
        }
    }
    if (!done || bad) flags[1] = 1;
    for (int a = astart[q]; a < astart[q + 1]; a++) {
        const int i = atoms[a];
        d2 = fmax(d2, store_position(posq, posq_lo, pshift, i, pos[i].xyz, ref));
    }
    return d2;
}

/* RATTLE's velocity half over cluster q: removes each constraint's stretching rate in turn
 * until |r . v_ij| <= vtol d^2 for all (vtol = tol / dt). */
inline void rattle_cluster(const int q, __global const int *restrict cstart,
                           __global const int2 *restrict cij, __global const mixed *restrict cd2,
                           __global const mixed4 *restrict pos, __global mixed4 *restrict vel,
                           const mixed vtol, __global uint *restrict flags)
{
    const int k0 = cstart[q], k1 = cstart[q + 1];
    int done = 0;
    for (int it = 0; it < MAX_ITER && !done; it++) {
        done = 1;
        for (int k = k0; k < k1; k++) {
            const int2 ij = cij[k];
            const mixed3 r = pos[ij.x].xyz - pos[ij.y].xyz;
            mixed4 vi = vel[ij.x], vj = vel[ij.y];
            const mixed rv = dot(r, vi.xyz - vj.xyz);
            if (fabs(rv) <= vtol * cd2[k]) continue;
            done = 0;
            const mixed g = -rv / (dot(r, r) * (vi.w + vj.w));
            vi.xyz += g * vi.w * r;
            vj.xyz -= g * vj.w * r;
            vel[ij.x] = vi;
            vel[ij.y] = vj;
        }
    }
    if (!done) flags[1] = 1;
}

/* The waters and the clusters in one launch each for positions and velocities (a launch costs
 * a small system more than the work): work-groups [0, gs) take waters, the rest clusters. Waters
 * and clusters share no atom, so they may run at once. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void constrain_positions(const int nw, __global const int4 *restrict water,
                         __global const mixed2 *restrict wdist, const int ncl,
                         __global const int *restrict cstart, __global const int2 *restrict cij,
                         __global const mixed *restrict cd2, __global const int *restrict astart,
                         __global const int *restrict atoms, __global mixed4 *restrict pos,
                         __global const mixed4 *restrict pos_old, __global mixed4 *restrict vel,
                         const mixed inv_dt, const mixed tol, __global real4 *restrict posq,
                         __global real4 *restrict posq_lo, __global const real4 *restrict ref,
                         __global uint *restrict flags, __global const mixed4 *restrict pshift,
                         const int gs)
{
    __local float red[WG];
    const int grp = get_group_id(0), lid = get_local_id(0);
    float d2 = 0;
    if (grp < gs) {
        const int w = grp * WG + lid;
        if (w < nw)
            d2 = settle_water(w, water, wdist, pos, pos_old, vel, inv_dt, posq, posq_lo, ref, flags,
                              pshift);
    } else {
        const int q = (grp - gs) * WG + lid;
        if (q < ncl)
            d2 = shake_cluster(q, cstart, cij, cd2, astart, atoms, pos, pos_old, vel, inv_dt, tol,
                               posq, posq_lo, ref, flags, pshift);
    }
    reduce_max_disp(d2, red, flags);
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void constrain_velocities(const int nw, __global const int4 *restrict water, const int ncl,
                          __global const int *restrict cstart, __global const int2 *restrict cij,
                          __global const mixed *restrict cd2, __global const mixed4 *restrict pos,
                          __global mixed4 *restrict vel, const mixed vtol,
                          __global uint *restrict flags, const int gs)
{
    const int grp = get_group_id(0), lid = get_local_id(0);
    if (grp < gs) {
        const int w = grp * WG + lid;
        if (w < nw) settle_water_velocities(w, water, pos, vel, flags);
    } else {
        const int q = (grp - gs) * WG + lid;
        if (q < ncl) rattle_cluster(q, cstart, cij, cd2, pos, vel, vtol, flags);
    }
}
