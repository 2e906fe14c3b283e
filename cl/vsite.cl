/* Virtual sites (see src/md/vsite.h): three-particle averages built from their parents before
 * the forces, and their forces spread back after. One work-item per site.
 * Defines: HAVE_FP64 (0/1), WG (work-group size, a power of two). */

/* Site at = (site, a, b, c) with weights wk: x_s = w_a x_a + w_b x_b + w_c x_c in mixed
 * precision, then its float posq/posq_lo copy (the charge in posq.w is kept); returns its squared
 * displacement from the list reference. */
inline float site_place(const int4 at, const mixed4 wk, __global mixed4 *pos, __global real4 *posq,
                        __global real4 *posq_lo, __global const mixed4 *pshift,
                        __global const real4 *ref)
{
    const mixed3 x = wk.x * pos[at.y].xyz + wk.y * pos[at.z].xyz + wk.z * pos[at.w].xyz;
    pos[at.x] = (mixed4)(x, 0);
    return store_position(posq, posq_lo, pshift, at.x, x, ref);
}

/* Parts w_a F, w_b F rounded in fixed point; with weights summing to 1 (wk.w) the third part is
 * the remainder, so the parents receive exactly the site's force, which is then zeroed. Integer
 * adds, so the sum does not depend on order: atomic when parents may be shared between
 * work-items, plain when the caller owns them (cl/units.cl). */
inline void site_spread(const int4 at, const mixed4 wk, __global long *force, const int npad,
                        const int atomic)
{
    for (int d = 0; d < 3; d++) {
        const long f = force[at.x + d * npad];
        if (f == 0) continue;
        const long fa = (long)rint(wk.x * (mixed)f), fb = (long)rint(wk.y * (mixed)f);
        const long fc = wk.w != 0 ? f - fa - fb : (long)rint(wk.z * (mixed)f);
        if (atomic) {
            atom_add(&force[at.y + d * npad], fa);
            atom_add(&force[at.z + d * npad], fb);
            atom_add(&force[at.w + d * npad], fc);
        } else {
            force[at.y + d * npad] += fa;
            force[at.z + d * npad] += fb;
            force[at.w + d * npad] += fc;
        }
        force[at.x + d * npad] = 0;
    }
}

/* One work-item per site. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void vsite_build(const int ns, __global const int4 *restrict atoms, __global const mixed4 *restrict w,
                 __global mixed4 *restrict pos, __global real4 *restrict posq,
                 __global real4 *restrict posq_lo, __global const real4 *restrict ref,
                 __global uint *restrict flags,
                 __global const mixed4 *restrict pshift)
{
    __local float red[WG];
    const int k = get_global_id(0);
    float d2 = 0;
    if (k < ns) d2 = site_place(atoms[k], w[k], pos, posq, posq_lo, pshift, ref);
    reduce_max_disp(d2, red, flags);
}

/* One work-item per site (parents may be shared between sites: atomics). */
__kernel void vsite_spread(const int ns, __global const int4 *restrict atoms,
                           __global const mixed4 *restrict w, __global long *restrict force,
                           const int npad)
{
    const int k = get_global_id(0);
    if (k < ns) site_spread(atoms[k], w[k], force, npad, 1);
}
