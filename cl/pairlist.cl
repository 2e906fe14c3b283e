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
 * rebuild posq_ref from it; src may be pos_event itself). posq_oref, the outer list's reference
 * when the list is pruned (`prune`), gets the same. */
__kernel void set_reference(__global const mixed4 *src, __global const mixed4 *restrict pshift,
                            __global real4 *restrict posq_ref, __global mixed4 *pos_event,
                            const int n, __global real4 *restrict posq_oref)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const mixed4 x = src[i];
    pos_event[i] = x;
    const mixed3 xw = x.xyz + pshift[i].xyz;
    posq_ref[i] = posq_oref[i] = (real4)(convert_float3(xw), 0);
}

/* The prunes' start for i-cluster c (work-group of 64): its positions at src into xi (padding
 * lanes far away; their bits are clear in every entry and tile anyway), which become the
 * displacement reference posq_ref; their largest squared distance from the outer list's
 * reference posq_oref goes into flags[word] (atomic_max), gen into flags[word + 1]. */
inline void prune_begin(const int c, const int lid, __global const real4 *src,
                        __global const int *restrict cluster_atoms, __global real4 *posq_ref,
                        __global const real4 *restrict posq_oref, __global uint *restrict flags,
                        const int word, const uint gen, __local float4 *xi, __local float *dred)
{
    if (lid < 8) {
        const int a = cluster_atoms[8 * c + lid];
        float4 p = (float4)(1e4f, 1e4f, 1e4f, 0);
        float d2 = 0;
        if (a >= 0) {
            p = src[a];
            const float4 o = posq_oref[a];
            d2 = (p.x - o.x) * (p.x - o.x) + (p.y - o.y) * (p.y - o.y) + (p.z - o.z) * (p.z - o.z);
            posq_ref[a] = (float4)(p.xyz, 0);
        }
        xi[lid] = p;
        dred[lid] = d2;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        float m = dred[0];
        for (int k = 1; k < 8; k++) m = fmax(m, dred[k]);
        atomic_max(&flags[word], as_uint(m));
        if (c == 0) flags[word + 1] = gen;
    }
}

/* The place of this work-item's item among the kept ones of the work-group, in work-item order
 * (an inclusive scan; -1 if not kept); *total: how many are kept. Ends with a barrier, so scan
 * can be reused. */
inline int keep_place(const int lid, const int keep, __local int *scan, int *total)
{
    scan[lid] = keep;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = 1; off < 64; off <<= 1) {
        const int v = lid >= off ? scan[lid - off] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        scan[lid] += v;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int at = scan[lid] - 1;
    *total = scan[63];
    barrier(CLK_LOCAL_MEM_FENCE);
    return keep ? at : -1;
}

/* The inner list, pruned from the outer one: one work-group of 64 per i-cluster c keeps the
 * entries with a lane within sqrt(rin2) at positions src (posq's layout, the entry's image
 * added), in the outer list's order, their lane masks narrowed; icount[c] is their number, at
 * jstart[c] in ijlist/ijshift. Entries that ask for the minimum image pair by pair (code
 * PAIR_IMAGE) are kept as they are. The cluster's positions become the displacement reference
 * posq_ref (the per-step check then measures the motion since the prune), and the largest
 * distance of any of them from the outer list's reference posq_oref goes into flags[word]
 * (float bits, squared nm, atomic_max; zeroed before the launch): the host bounds the outer
 * list's displacement by that plus the per-step one. flags[word + 1] = gen tells the host which
 * prune a flag read saw. */
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void prune(__global const real4 *src, __global const int *restrict cluster_atoms,
           __global const int *restrict jstart, __global const uint *restrict jlist,
           __global const uchar *restrict jshift, __global const real4 *restrict shifts,
           __global uint *restrict ijlist, __global uchar *restrict ijshift,
           __global int *restrict icount, __global real4 *posq_ref,
           __global const real4 *restrict posq_oref, __global uint *restrict flags,
           const float rin2, const int periodic, const int word, const uint gen)
{
    const int c = get_group_id(0), lid = get_local_id(0);
    __local float4 xi[8];
    __local int scan[64];
    __local float dred[8];
    prune_begin(c, lid, src, cluster_atoms, posq_ref, posq_oref, flags, word, gen, xi, dred);
    const int e0 = jstart[c], e1 = jstart[c + 1];
    int out = e0;
    for (int base = e0; base < e1; base += 64) {
        const int e = base + lid;
        uint ent = 0;
        uchar code = 0;
        int keep = 0;
        if (e < e1) {
            ent = jlist[e];
            uint m = ent & 0xffu;
            if (periodic) code = jshift[e];
            if (!periodic || code < 27) {
                float4 pj = src[ent >> 8];
                if (periodic) pj.xyz += shifts[code].xyz;
                uint nm = 0;
                for (int k = 0; k < 8; k++) {
                    const float dx = pj.x - xi[k].x, dy = pj.y - xi[k].y, dz = pj.z - xi[k].z;
                    if (dx * dx + dy * dy + dz * dz < rin2) nm |= 1u << k;
                }
                m &= nm;
            }
            ent = (ent & ~0xffu) | m;
            keep = m != 0;
        }
        int total;
        const int at = keep_place(lid, keep, scan, &total);
        if (at >= 0) {
            ijlist[out + at] = ent;
            ijshift[out + at] = code;
        }
        out += total;
    }
    if (lid == 0) icount[c] = out - e0;
}

/* The inner list of tiles (nlist.h), pruned from the outer one as `prune` prunes entries, with
 * the same arguments: a work-item takes one of cluster c's tiles (64 at a time), narrows its 64
 * lane-pair bits (bit 8 m + l: i lane l, j lane m) to the pairs within sqrt(rin2) at positions
 * src (the tile's image added) and keeps the tile if any is left; the tiles kept, in the outer
 * order, go to icount[c] places at jstart[c] in ijlist (4 words a tile). Tiles that ask for the
 * minimum image pair by pair (code PAIR_IMAGE) are kept as they are. jshift and ijshift are
 * unused (the code is in the tile). posq_ref, flags: as `prune`. */
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void prune_tiles(__global const real4 *src, __global const int *restrict cluster_atoms,
                 __global const int *restrict jstart, __global const uint *restrict jlist,
                 __global const uchar *restrict jshift, __global const real4 *restrict shifts,
                 __global uint *restrict ijlist, __global uchar *restrict ijshift,
                 __global int *restrict icount, __global real4 *posq_ref,
                 __global const real4 *restrict posq_oref, __global uint *restrict flags,
                 const float rin2, const int periodic, const int word, const uint gen)
{
    const int c = get_group_id(0), lid = get_local_id(0);
    __local float4 xi[8];
    __local int scan[64];
    __local float dred[8];
    prune_begin(c, lid, src, cluster_atoms, posq_ref, posq_oref, flags, word, gen, xi, dred);
    const int t0 = jstart[c], t1 = jstart[c + 1];
    int out = t0;
    for (int base = t0; base < t1; base += 64) {
        const int t = base + lid;
        uint4 tl = (uint4)(0, 0, 0, 0);
        int keep = 0;
        if (t < t1) {
            tl = vload4(t, jlist);
            if (!periodic || tl.w < 27) {
                const float4 sh = periodic ? shifts[tl.w] : (float4)(0, 0, 0, 0);
                uint lo = 0, hi = 0;
                for (int m = 0; m < 8; m++) {
                    const int ja = cluster_atoms[8 * tl.x + m];
                    if (ja < 0) continue;
                    const float4 pj = src[ja] + sh;
                    uint near = 0;
                    for (int l = 0; l < 8; l++) {
                        const float dx = pj.x - xi[l].x, dy = pj.y - xi[l].y, dz = pj.z - xi[l].z;
                        if (dx * dx + dy * dy + dz * dz < rin2) near |= 1u << l;
                    }
                    if (m < 4) lo |= near << (8 * m);
                    else hi |= near << (8 * (m - 4));
                }
                tl.y &= lo;
                tl.z &= hi;
            }
            keep = (tl.y | tl.z) != 0;
        }
        int total;
        const int at = keep_place(lid, keep, scan, &total);
        if (at >= 0) vstore4(tl, out + at, ijlist);
        out += total;
    }
    if (lid == 0) icount[c] = out - t0;
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
