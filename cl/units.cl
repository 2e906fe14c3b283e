/* An integrator's step with constraints in one launch: one work-item owns one unit, a rigid
 * water (SETTLE), a cluster of coupled constraints (SHAKE/RATTLE) or one particle in no
 * constraint, and takes it through the whole of its part of the step: kick, velocity
 * constraints, drift, position constraints (and a water places the virtual site built from
 * it, TIP4P's M). A unit's constraints touch only its own particles,
 * so this equals the kernels of the split step run one after another (integrate.cl, then
 * constraints.cl) with one launch instead of three or four: on GPUs a launch costs more than
 * this work for small systems.
 * Built after integrate.cl, constraints.cl and vsite.cl (one program, src/md/constraints.c
 * clmd_constraints_bind_units); every index below npad lies in exactly one unit, so the units
 * that read the forces also leave them zero (integrate.cl clear_force). Work-groups: [0, gw)
 * waters, [gw, gw + gc) clusters, the rest free particles (padding included). */

#define UNIT_ARGS                                                                              \
    const int nw, __global const int4 *restrict water, __global const mixed2 *restrict wdist,  \
        const int ncl, __global const int *restrict cstart, __global const int2 *restrict cij, \
        __global const mixed *restrict cd2, __global const int *restrict astart,               \
        __global const int *restrict atoms, const int nfree,                                   \
        __global const int *restrict free_at, const int gw, const int gc, const mixed tol,     \
        const mixed vtol, const mixed inv_dt, __global const int *restrict wsite,              \
        __global const int4 *restrict vs_atoms, __global const mixed4 *restrict vs_w

#define UNIT_PASS                                                                              \
    nw, water, wdist, ncl, cstart, cij, cd2, astart, atoms, nfree, free_at, gw, gc, tol, vtol,  \
        inv_dt, wsite, vs_atoms, vs_w

/* The unit of this work-item: 0 water, 1 cluster, 2 free particle, -1 none; *u its index. */
inline int unit_of(const int nw, const int ncl, const int nfree, const int gw, const int gc,
                   int *u)
{
    const int grp = get_group_id(0), lid = get_local_id(0);
    if (grp < gw) {
        *u = grp * WG + lid;
        return *u < nw ? 0 : -1;
    }
    if (grp < gw + gc) {
        *u = (grp - gw) * WG + lid;
        return *u < ncl ? 1 : -1;
    }
    *u = (grp - gw - gc) * WG + lid;
    return *u < nfree ? 2 : -1;
}

/* The k-th particle of a unit and the unit's particle count. */
inline int unit_size(int kind, int u, __global const int *astart)
{
    return kind == 0 ? 3 : kind == 1 ? astart[u + 1] - astart[u] : 1;
}

inline int unit_atom(int kind, int u, int k, __global const int4 *water,
                     __global const int *astart, __global const int *atoms,
                     __global const int *free_at)
{
    if (kind == 0) {
        const int4 w = water[u];
        return k == 0 ? w.x : k == 1 ? w.y : w.z;
    }
    return kind == 1 ? atoms[astart[u] + k] : free_at[u];
}

/* The squared displacement since the list build that store_position would report for x,
 * without storing it: a unit's particles before their constraints fold it into the step's
 * largest, as the split kernels do when they store the unconstrained position (the list checks
 * see the same words either way). */
inline float unstored_disp2(__global const mixed4 *pshift, int i, mixed3 x,
                            __global const real4 *ref)
{
    const real3 p = convert_float3(x + pshift[i].xyz);
    const real4 r = ref[i];
    const real dx = p.x - r.x, dy = p.y - r.y, dz = p.z - r.z;
    return dx * dx + dy * dy + dz * dz;
}

/* The virtual site water w owns (wsite[w], -1: none; src/md/constraints.c units_prepare): its
 * force spread onto the water's atoms (this work-item owns them: plain adds) and zeroed, or the
 * site placed from the water's new positions, with vsite.cl's arithmetic. Force evaluations
 * leave the spreading to this launch (src/md/engine.c spread_in_step); spreading twice changes
 * nothing. */
inline void water_site_spread(int w, __global const int *wsite, __global const int4 *vs_atoms,
                              __global const mixed4 *vs_w, __global long *force, int npad)
{
    const int k = wsite[w];
    if (k >= 0) site_spread(vs_atoms[k], vs_w[k], force, npad, 0);
}

/* The position constraints of water or cluster u along pos_old (v += shift/dt), and the
 * water's site placed; returns the largest squared displacement they leave. */
inline float unit_constrain(int kind, int u, UNIT_ARGS, __global mixed4 *pos,
                            __global const mixed4 *pos_old, __global mixed4 *vel,
                            __global real4 *posq, __global real4 *posq_lo,
                            __global const real4 *ref, __global uint *flags,
                            __global const mixed4 *pshift)
{
    if (kind == 0) {
        float d2 = settle_water(u, water, wdist, pos, pos_old, vel, inv_dt, posq, posq_lo, ref,
                                flags, pshift);
        const int k = wsite[u];
        if (k >= 0) d2 = fmax(d2, site_place(vs_atoms[k], vs_w[k], pos, posq, posq_lo, pshift, ref));
        return d2;
    }
    if (kind == 1)
        return shake_cluster(u, cstart, cij, cd2, astart, atoms, pos, pos_old, vel, inv_dt, tol,
                             posq, posq_lo, ref, flags, pshift);
    return 0;
}

/* v += h F/m for particle i (not past n, not massless) unless an overflow froze the step; its
 * forces are cleared when `clear` (the step's last reader). */
inline void unit_kick(int i, int n, __global mixed4 *vel, __global long *force, int npad,
                      mixed h, uint ovf, int clear)
{
    if (i < n && !ovf) {
        mixed4 v = vel[i];
        if (v.w != 0) {
            v.xyz += h * v.w * force_of(force, npad, i).xyz;
            vel[i] = v;
        }
    }
    if (clear) {
        force[i] = 0;
        force[i + npad] = 0;
        force[i + 2 * npad] = 0;
    }
}

/* The Langevin middle step with constraints (langevin.c; OpenMM's LangevinMiddleIntegrator):
 * v += dt F/m; RATTLE/SETTLE v; x' = x; x += dt/2 v; v = a v + sqrt(1-a^2) sqrt(kT/m) R;
 * x += dt/2 v; SHAKE/SETTLE x along x', v += shift/dt. The split kernels' arithmetic and random
 * stream; posq is written once, after the constraints. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void langevin_units(__global real4 *restrict posq, __global real4 *restrict posq_lo,
                    __global mixed4 *restrict pos, __global mixed4 *restrict vel,
                    __global long *restrict force, const int n, const int npad, const mixed dt,
                    const mixed a, const mixed b_kt, const uint2 key, const uint step_lo,
                    const uint step_hi, __global const real4 *restrict ref,
                    __global uint *restrict flags, __global const mixed4 *restrict pshift,
                    __global const mixed *restrict seg_bkt, __global const uint2 *restrict seg_key,
                    __global mixed4 *restrict pos_old, UNIT_ARGS)
{
    __local float red[WG];
    float d2 = 0;
    int u;
    const int kind = unit_of(nw, ncl, nfree, gw, gc, &u);
    const uint ovf = overflow_seen(force, npad, flags, step_lo);
    if (kind >= 0) {
        const int m = unit_size(kind, u, astart);
        if (kind == 0) water_site_spread(u, wsite, vs_atoms, vs_w, force, npad);
        for (int k = 0; k < m; k++)
            unit_kick(unit_atom(kind, u, k, water, astart, atoms, free_at), n, vel, force, npad, dt,
                      ovf, 1);
        if (!ovf) {
            if (kind == 0) settle_water_velocities(u, water, pos, vel, flags);
            else if (kind == 1) rattle_cluster(u, cstart, cij, cd2, pos, vel, vtol, flags);
            for (int k = 0; k < m; k++) {
                const int i = unit_atom(kind, u, k, water, astart, atoms, free_at);
                if (i >= n) continue;
                const mixed4 v = vel[i];
                if (kind != 2) pos_old[i] = pos[i];
                if (v.w == 0) continue;
                const int g = i / SEG_LEN;
                const mixed bk = NSEG > 1 ? seg_bkt[g] : b_kt;
                const uint2 ky = NSEG > 1 ? seg_key[g] : key;
                if (kind == 2)
                    d2 = drift_noise_drift(i, v, pos, vel, dt, a, bk, ky, step_lo, step_hi, posq,
                                           posq_lo, pshift, ref);
                else
                    d2 = fmax(d2, unstored_disp2(pshift, i,
                                                 drift_noise(i, v, pos, vel, dt, a, bk, ky, step_lo,
                                                             step_hi),
                                                 ref));
            }
            d2 = fmax(d2, unit_constrain(kind, u, UNIT_PASS, pos, pos_old, vel, posq, posq_lo, ref,
                                         flags, pshift));
        }
    }
    reduce_max_disp(d2, red, flags);
}

/* Velocity Verlet's first half with constraints (verlet.c): x' = x; v += dt/2 F/m (the step's
 * last reader of these forces clears them); x += dt v; SHAKE/SETTLE x along x', v += shift/dt. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void verlet_units_drift(__global real4 *restrict posq, __global real4 *restrict posq_lo,
                        __global mixed4 *restrict pos, __global mixed4 *restrict vel,
                        __global long *restrict force, const int n, const int npad,
                        const mixed dt, __global const real4 *restrict ref,
                        __global uint *restrict flags, __global const mixed4 *restrict pshift,
                        const uint step, __global mixed4 *restrict pos_old, UNIT_ARGS)
{
    __local float red[WG];
    float d2 = 0;
    int u;
    const int kind = unit_of(nw, ncl, nfree, gw, gc, &u);
    const uint ovf = overflow_seen(force, npad, flags, step);
    if (kind >= 0) {
        const int m = unit_size(kind, u, astart);
        if (kind == 0) water_site_spread(u, wsite, vs_atoms, vs_w, force, npad);
        for (int k = 0; k < m; k++) {
            const int i = unit_atom(kind, u, k, water, astart, atoms, free_at);
            if (kind != 2 && i < n) pos_old[i] = pos[i];
            unit_kick(i, n, vel, force, npad, (mixed)0.5 * dt, ovf, 1);
            if (ovf || i >= n) continue;
            const mixed4 v = vel[i];
            if (v.w == 0) continue;
            mixed4 x = pos[i];
            x.xyz += dt * v.xyz;
            pos[i] = x;
            d2 = fmax(d2, kind == 2 ? store_position(posq, posq_lo, pshift, i, x.xyz, ref)
                                    : unstored_disp2(pshift, i, x.xyz, ref));
        }
        if (!ovf) {
            d2 = fmax(d2, unit_constrain(kind, u, UNIT_PASS, pos, pos_old, vel, posq, posq_lo, ref,
                                         flags, pshift));
        }
    }
    reduce_max_disp(d2, red, flags);
}

/* Velocity Verlet's second half with constraints: v += dt/2 F/m with the new forces (kept: the
 * next step's first half reads them again); RATTLE/SETTLE v. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void verlet_units_kick(__global mixed4 *restrict pos, __global mixed4 *restrict vel,
                       __global long *restrict force, const int n, const int npad,
                       const mixed dt, __global uint *restrict flags, const uint step, UNIT_ARGS)
{
    int u;
    const int kind = unit_of(nw, ncl, nfree, gw, gc, &u);
    const uint ovf = overflow_seen(force, npad, flags, step);
    if (kind < 0 || ovf) return;
    const int m = unit_size(kind, u, astart);
    if (kind == 0) water_site_spread(u, wsite, vs_atoms, vs_w, force, npad);
    for (int k = 0; k < m; k++)
        unit_kick(unit_atom(kind, u, k, water, astart, atoms, free_at), n, vel, force, npad,
                  (mixed)0.5 * dt, 0, 0);
    if (kind == 0) settle_water_velocities(u, water, pos, vel, flags);
    else if (kind == 1) rattle_cluster(u, cstart, cij, cd2, pos, vel, vtol, flags);
}
