/* The pair list owner's per-atom kernels (src/nlist/pairlist.c). Defines: HAVE_FP64, WG. */

/* pos_shift[i] = n_a a + n_b b + n_c c for the image counts of the last list build and the
 * current box vectors (a, b, c as mixed4 rows): the lattice vector that wraps atom i as at the
 * build, so posq = pos + pos_shift keeps the list's per-entry images valid after a box change. */
__kernel void set_shift(__global const int4 *restrict image, __global mixed4 *restrict pshift,
                        const int n, const mixed4 a, const mixed4 b, const mixed4 c)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int4 m = image[i];
    pshift[i] = (mixed4)((mixed)m.x * a.xyz + (mixed)m.y * b.xyz + (mixed)m.z * c.xyz, 0);
}

/* Takes positions src as the displacement check's reference: posq_ref = the float copy of
 * src + pos_shift (as store_position writes posq), pos_event = src (kept for checkpoints, which
 * rebuild posq_ref from it; src may be pos_event itself). */
__kernel void set_reference(__global const mixed4 *src, __global const mixed4 *restrict pshift,
                            __global real4 *restrict posq_ref, __global mixed4 *pos_event,
                            const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const mixed4 x = src[i];
    pos_event[i] = x;
    const mixed3 xw = x.xyz + pshift[i].xyz;
    posq_ref[i] = (real4)(convert_float3(xw), 0);
}

/* posq/posq_lo = the double-float copy of pos + pos_shift for every particle, as the integrator
 * kernels write it (after a list build or a box change). */
__kernel void set_positions(__global const mixed4 *restrict pos, __global const mixed4 *restrict pshift,
                            __global real4 *restrict posq, __global real4 *restrict posq_lo,
                            __global const real4 *restrict ref, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    store_position(posq, posq_lo, pshift, i, pos[i].xyz, ref);
}
