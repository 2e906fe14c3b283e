/* Rigid-molecule box scaling for the barostat and the pressure probe (src/md/engine.c):
 * every coordinate is scaled by s about the origin for the molecules' centroids only, so each
 * molecule moves as a rigid unit: x += (s - 1) c_m, with c_m the centroid (the plain average of
 * the molecule's particles, as OpenMM's barostat takes it). posq is rewritten from pos + pos_shift
 * (the new box's wraps, set before). One work-item per molecule, atoms in a fixed order, so the
 * result does not depend on scheduling. Defines: HAVE_FP64, WG. */
__kernel void scale_molecules(__global const int *restrict mstart, __global const int *restrict matoms,
                              const int nmol, __global mixed4 *restrict pos,
                              __global real4 *restrict posq, __global real4 *restrict posq_lo,
                              __global const mixed4 *restrict pshift,
                              __global const real4 *restrict ref, const mixed4 s1)
{
    const int m = get_global_id(0);
    if (m >= nmol) return;
    const int a0 = mstart[m], a1 = mstart[m + 1];
    mixed3 c = (mixed3)(0, 0, 0);
    for (int a = a0; a < a1; a++) c += pos[matoms[a]].xyz;
    c /= (mixed)(a1 - a0);
    const mixed3 d = s1.xyz * c;
    for (int a = a0; a < a1; a++) {
        const int i = matoms[a];
        mixed4 x = pos[i];
        x.xyz += d;
        pos[i] = x;
        store_position(posq, posq_lo, pshift, i, x.xyz, ref);
    }
}
