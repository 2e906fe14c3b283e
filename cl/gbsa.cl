/* GBSA/OBC implicit solvent (src/ff/gbsa.c). Three passes per evaluation over the engine's
 * cluster neighbor list:
 *   born   Born sums S_i (HCT integrals), then per atom the Born radius B_i and dB_i/dS_i
 *   pair   Still pair energy, its direct force, dE/dB_i; then per atom the self and ACE terms
 *          and the chain factor g_i = dE/dB_i dB_i/dS_i
 *   chain  forces through the Born radii: g_i dT(i<-j)/dr + g_j dT(j<-i)/dr along r_ij
 * GPUs run them as three kernels (gb_born, gb_pair, gb_chain: one work-group per i-cluster,
 * work-item = lane x slice), or, for small systems, as one kernel in one work-group (gb_fused)
 * so that a 20-atom system pays for one launch, not three. CPU devices run gb_*_cpu: one
 * work-item per cluster with the 8 lanes in a float8.
 *
 * The list is full (each pair seen from both sides), so a work-group owns its atoms' sums and
 * writes them without atomics: results do not depend on thread scheduling. GB counts bonded
 * pairs, so the list's exclusion bits are ignored (a lane skips only padding and j == i) and a
 * supplementary per-cluster list (sstart/slist) brings back the partners the neighbor list
 * dropped because every lane of the cluster was excluded from them.
 * GPU kernels sum pair forces and energies in 64-bit fixed point (exact sums of the float pair
 * terms); the CPU kernels sum them in float8, in the list's order within one work-item (so still
 * deterministic), and convert each atom's total once: a float-to-long conversion per pair and
 * lane cost them two thirds of their time. Born sums and dE/dB in float.
 *
 * Program defines (set by src/ff/gbsa.c):
 *   SLICES             GPU: work-items per lane in the three-kernel path (work-group 8 * SLICES)
 *   FUSED_WG           GPU: work-group size of gb_fused
 *   CUTOFF, CUTOFF2    pairs with r^2 > CUTOFF2 ignored when CUTOFF is 1
 *   SHIFT              1/cutoff (pair energies shifted as OpenMM does), 0 without a cutoff
 *   PRE                -coulomb (1/eps_solute - 1/eps_solvent), kJ mol^-1 nm e^-2
 *   OBC_ALPHA, OBC_BETA, OBC_GAMMA, INSIDE_CORR (1: OpenMM's built-in engulf correction)
 * gbp[i] = (offset radius or_i, scaled radius sr_i = scale_i or_i, radius_i,
 *           ACE prefactor 4 pi sa_energy (radius_i + probe)^2 radius_i^6, 0 when ACE is off). */

/* HCT integral of atom j's scaled sphere (radius srj) seen from atom i (offset radius ori) at
 * distance r (ir = 1/r), 0 when the sphere does not reach i; and its r-derivative (the built-in's
 * engulf correction cancels the moving-L term, the CustomGBForce keeps it). As gbsa_ref.c, written
 * branch-free so that the same text serves scalars and float8. */
#define GB_HCT_FUNCTIONS(T, SUFFIX)                                                          \
    inline T hct_t##SUFFIX(T ori, T srj, T r, T ir)                                          \
    {                                                                                        \
        const T u = r + srj, l = fmax(ori, fabs(r - srj));                                   \
        const T il = 1.0f / l, iu = 1.0f / u;                                                \
        T t = il - iu + 0.25f * (r - srj * srj * ir) * (iu * iu - il * il) +                 \
              0.5f * ir * log(l * iu);                                                       \
        if (INSIDE_CORR) t = select(t, t + 2.0f * (1.0f / ori - il), ori < srj - r);         \
        return select((T)0.0f, t, ori < u);                                                  \
    }                                                                                        \
    inline T hct_dtdr##SUFFIX(T ori, T srj, T r, T ir)                                       \
    {                                                                                        \
        const T u = r + srj, l = fmax(ori, fabs(r - srj));                                   \
        const T il = 1.0f / l, iu = 1.0f / u, il2 = il * il;                                 \
        T dt = 0.25f * (1.0f + srj * srj * ir * ir) * (iu * iu - il2) -                      \
               0.5f * log(l * iu) * ir * ir;                                                 \
        if (!INSIDE_CORR) dt = select(dt, dt + 2.0f * il2, ori < srj - r);                   \
        return select((T)0.0f, dt, ori < u);                                                 \
    }

GB_HCT_FUNCTIONS(real, )

/* Born radius and dB/dS from the Born sum (OBC): returns (B, dB/dS). */
inline real2 gb_radius(real sum, real4 gi)
{
    const real ori = gi.x, rad = gi.z;
    const real psi = 0.5f * ori * sum;
    const real th = tanh(psi * (OBC_ALPHA + psi * (-OBC_BETA + psi * OBC_GAMMA)));
    const real b = 1.0f / (1.0f / ori - th / rad);
    const real dbds = b * b * (1.0f - th * th) *
                      (OBC_ALPHA + psi * (-2.0f * OBC_BETA + 3.0f * OBC_GAMMA * psi)) * 0.5f * ori /
                      rad;
    return (real2)(b, dbds);
}

/* Per-atom end of the pair pass: adds the self and ACE terms to dE/dB and returns the chain factor
 * g = dE/dB dB/dS; *e_self and *e_sa receive the atom's self and ACE energies. qi = PRE * q. */
inline real gb_atom(real2 bd, real qi, real q, real4 gi, real dedb, real *e_self, real *e_sa)
{
    const real ib = 1.0f / bd.x, qq = qi * q;
    const real r3 = ib * ib * ib, es = gi.w * r3 * r3;
    dedb -= 0.5f * qq * ib * ib + 6.0f * es * ib;
    *e_self = 0.5f * qq * ib;
    *e_sa = es;
    return dedb * bd.y;
}

#define GB_LIST_ARGS                                                                        \
    __global const real4 *restrict posq, __global const real4 *restrict posq_lo,            \
        __global const real4 *restrict gbp, __global const int *restrict cluster_atoms,     \
        __global const int *restrict jstart, __global const uint *restrict jlist,           \
        __global const int *restrict sstart, __global const int *restrict slist,            \
        const int nclusters

/* The k-th partner of cluster c: the neighbor list's entries first, then the supplement. */
#define GB_PARTNER(k) ((k) < n1 ? (int)(jlist[e0 + (k)] >> 8) : slist[s0 + (k) - n1])

/* Pair terms to fixed point, noting in the kernel's `bad` any that is not admitted (FIXED_LIMIT
 * in common.cl); each kernel flags its term once at the end (gb_flag). */
#define GB_FIX(v) (bad |= fixed_bad(v), to_fixed(v))

inline void gb_flag(int bad, __global long *force, int npad)
{
    if (bad) flag_overflow(force + 3 * npad, TERM_BIT(E_GB) | TERM_BIT(E_SA));
}

#if CLMD_GPU

/* Lane atom a of cluster c, its data, and the cluster's partner ranges (ntot = 0 for padding). */
#define GB_LANE(c, lane)                                                                    \
    const int a = cluster_atoms[8 * (c) + (lane)];                                          \
    const int s = a < 0 ? 0 : a;                                                            \
    const real4 pi = posq[s], pil = posq_lo[s], gi = gbp[s];                                \
    const int e0 = jstart[c], n1 = jstart[(c) + 1] - e0, s0 = sstart[c];                    \
    const int ntot = a < 0 ? 0 : n1 + sstart[(c) + 1] - s0;

/* Loop header over this work-item's share of the partners: displacement, minimum image, squared
 * distance; skips j == i and pairs beyond the cutoff. */
#define GB_FOR_PARTNERS(slice, nslices)                                                     \
    for (int k = (slice); k < ntot; k += (nslices)) {                                       \
        const int j = GB_PARTNER(k);                                                        \
        if (j == a) continue;                                                               \
        real dx, dy, dz;                                                                    \
        DELTA(dx, dy, dz, pi, pil, posq[j], posq_lo[j]);                                    \
        MIN_IMAGE(real, dx, dy, dz);                                                        \
        const real r2 = dx * dx + dy * dy + dz * dz;                                        \
        if (CUTOFF && r2 > CUTOFF2) continue;                                               \
        const real r = sqrt(r2), ir = 1.0f / r;

/* Pair-pass body: Still energy (fixed point), direct force (fixed point), dE/dB_i. */
#define GB_PAIR_BODY                                                                        \
    {                                                                                       \
        const real bj = born[j].x, bb = bi * bj;                                            \
        const real dd = 0.25f * r2 / bb, ex = exp(-dd);                                     \
        const real f2 = r2 + bb * ex, fij = sqrt(f2), if3 = 1.0f / (f2 * fij);              \
        const real qq = qi * posq[j].w;                                                     \
        const real dedr_r = -qq * (1.0f - 0.25f * ex) * if3; /* (dE/dr) / r */              \
        dedb -= 0.5f * qq * ex * (1.0f + dd) * if3 * bj;                                    \
        fx += GB_FIX(dedr_r * dx);                                                          \
        fy += GB_FIX(dedr_r * dy);                                                          \
        fz += GB_FIX(dedr_r * dz);                                                          \
        if (want_energy) e += GB_FIX(qq * (1.0f / fij - SHIFT));                            \
    }

/* Chain-pass body: forces through both atoms' Born radii. */
#define GB_CHAIN_BODY                                                                       \
    {                                                                                       \
        const real4 gj = gbp[j];                                                            \
        const real dedr = gc * hct_dtdr(gi.x, gj.y, r, ir) + chain[j] * hct_dtdr(gj.x, gi.y, r, ir); \
        const real sc = dedr * ir;                                                          \
        fx += GB_FIX(sc * dx);                                                              \
        fy += GB_FIX(sc * dy);                                                              \
        fz += GB_FIX(sc * dz);                                                              \
    }

#define WG (8 * SLICES)

/* Pass 1: Born sums, then born[i] = (B_i, dB_i/dS_i). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_born(GB_LIST_ARGS, __global real2 *restrict born, BOX_PARAMS)
{
    const int c = get_group_id(0);
    if (c >= nclusters) return;
    const int lid = get_local_id(0), lane = lid & 7, slice = lid >> 3;
    GB_LANE(c, lane)
    __local real red[WG];
    real sum = 0;
    GB_FOR_PARTNERS(slice, SLICES)
        sum += hct_t(gi.x, gbp[j].y, r, ir);
    }
    red[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0 && a >= 0) {
        for (int k = 1; k < SLICES; k++) sum += red[lane + 8 * k];
        born[a] = gb_radius(sum, gi);
    }
}

/* Pass 2: pair terms, then per atom the self and ACE terms and chain[i]. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_pair(GB_LIST_ARGS, __global const real2 *restrict born, __global real *restrict chain,
             __global long *restrict force, const int npad, __global long *restrict energy,
             const int want_energy, BOX_PARAMS)
{
    const int c = get_group_id(0);
    if (c >= nclusters) return;
    const int lid = get_local_id(0), lane = lid & 7, slice = lid >> 3;
    GB_LANE(c, lane)
    __local long redf[3 * WG];
    __local long rede[WG];
    __local real redb[WG];
    const real bi = born[s].x, qi = PRE * pi.w;
    long fx = 0, fy = 0, fz = 0, e = 0;
    real dedb = 0;
    int bad = 0;
    GB_FOR_PARTNERS(slice, SLICES)
        GB_PAIR_BODY
    }
    redf[lid] = fx;
    redf[lid + WG] = fy;
    redf[lid + 2 * WG] = fz;
    rede[lid] = e;
    redb[lid] = dedb;
    barrier(CLK_LOCAL_MEM_FENCE);
    long esa = 0;
    if (slice == 0) {
        for (int k = 1; k < SLICES; k++) {
            const int o = lane + 8 * k;
            fx += redf[o];
            fy += redf[o + WG];
            fz += redf[o + 2 * WG];
            e += rede[o];
            dedb += redb[o];
        }
        e /= 2; /* every pair was seen from both sides */
        if (a >= 0) {
            real es, ea;
            chain[a] = gb_atom(born[a], qi, pi.w, gi, dedb, &es, &ea);
            force[a] += fx;
            force[a + npad] += fy;
            force[a + 2 * npad] += fz;
            e += GB_FIX(es);
            esa = GB_FIX(ea);
        }
    }
    gb_flag(bad, force, npad);
    if (!want_energy) return;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0) {
        rede[lane] = e;
        rede[lane + 8] = esa;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        long tg = 0, ts = 0;
        for (int k = 0; k < 8; k++) {
            tg += rede[k];
            ts += rede[k + 8];
        }
        __global long *eseg = energy + E_SEG(cluster_atoms[8 * c]);
        atom_add(&eseg[E_GB], tg);
        atom_add(&eseg[E_SA], ts);
    }
}

/* Pass 3: forces through the Born radii. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_chain(GB_LIST_ARGS, __global const real *restrict chain, __global long *restrict force,
              const int npad, BOX_PARAMS)
{
    const int c = get_group_id(0);
    if (c >= nclusters) return;
    const int lid = get_local_id(0), lane = lid & 7, slice = lid >> 3;
    GB_LANE(c, lane)
    __local long redf[3 * WG];
    const real gc = chain[s];
    long fx = 0, fy = 0, fz = 0;
    int bad = 0;
    GB_FOR_PARTNERS(slice, SLICES)
        GB_CHAIN_BODY
    }
    gb_flag(bad, force, npad);
    redf[lid] = fx;
    redf[lid + WG] = fy;
    redf[lid + 2 * WG] = fz;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0 && a >= 0) {
        for (int k = 1; k < SLICES; k++) {
            const int o = lane + 8 * k;
            fx += redf[o];
            fy += redf[o + WG];
            fz += redf[o + 2 * WG];
        }
        force[a] += fx;
        force[a + npad] += fy;
        force[a + 2 * npad] += fz;
    }
}

/* All three passes in one work-group of FUSED_WG, for systems of at most FUSED_WG / 8 clusters:
 * work-item = (cluster, lane, slice) with nsl slices per lane (nsl * 8 * nclusters <= FUSED_WG);
 * born[] and chain[] go through global memory between the passes, made visible to the group by
 * the barriers. The sums are taken in the same order as the three kernels (slices in turn). */
__kernel __attribute__((reqd_work_group_size(FUSED_WG, 1, 1)))
void gb_fused(GB_LIST_ARGS, __global real2 *restrict born, __global real *restrict chain,
              __global long *restrict force, const int npad, __global long *restrict energy,
              const int want_energy, const int nsl, BOX_PARAMS)
{
    const int lid = get_local_id(0), per = 8 * nsl;
    const int c0 = lid / per, lane = lid & 7, slice = (lid % per) >> 3;
    const int c = c0 < nclusters ? c0 : 0, active = c0 < nclusters;
    const int head = c * per + lane; /* slice 0 of this lane */
    GB_LANE(c, lane)
    const int ntot_act = active ? ntot : 0;
    __local long redf[3 * FUSED_WG];
    __local long rede[FUSED_WG];
    __local real redb[FUSED_WG];
    /* pass 1 */
    {
        real sum = 0;
        for (int k = slice; k < ntot_act; k += nsl) {
            const int j = GB_PARTNER(k);
            if (j == a) continue;
            real dx, dy, dz;
            DELTA(dx, dy, dz, pi, pil, posq[j], posq_lo[j]);
            MIN_IMAGE(real, dx, dy, dz);
            const real r2 = dx * dx + dy * dy + dz * dz;
            if (CUTOFF && r2 > CUTOFF2) continue;
            const real r = sqrt(r2), ir = 1.0f / r;
            sum += hct_t(gi.x, gbp[j].y, r, ir);
        }
        redb[lid] = sum;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && slice == 0 && a >= 0) {
            for (int k = 1; k < nsl; k++) sum += redb[head + 8 * k];
            born[a] = gb_radius(sum, gi);
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
    /* pass 2 */
    long fx = 0, fy = 0, fz = 0, e = 0, esa = 0;
    int bad = 0;
    {
        const real bi = born[s].x, qi = PRE * pi.w;
        real dedb = 0;
        for (int k = slice; k < ntot_act; k += nsl) {
            const int j = GB_PARTNER(k);
            if (j == a) continue;
            real dx, dy, dz;
            DELTA(dx, dy, dz, pi, pil, posq[j], posq_lo[j]);
            MIN_IMAGE(real, dx, dy, dz);
            const real r2 = dx * dx + dy * dy + dz * dz;
            if (CUTOFF && r2 > CUTOFF2) continue;
            GB_PAIR_BODY
        }
        redf[lid] = fx;
        redf[lid + FUSED_WG] = fy;
        redf[lid + 2 * FUSED_WG] = fz;
        rede[lid] = e;
        redb[lid] = dedb;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && slice == 0) {
            for (int k = 1; k < nsl; k++) {
                const int o = head + 8 * k;
                fx += redf[o];
                fy += redf[o + FUSED_WG];
                fz += redf[o + 2 * FUSED_WG];
                e += rede[o];
                dedb += redb[o];
            }
            e /= 2;
            if (a >= 0) {
                real es, ea;
                chain[a] = gb_atom(born[a], qi, pi.w, gi, dedb, &es, &ea);
                e += GB_FIX(es);
                esa = GB_FIX(ea);
            }
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
    /* pass 3: the slice-0 work-items keep their pass-2 forces and add these */
    {
        const real gc = chain[s];
        long cx = 0, cy = 0, cz = 0;
        for (int k = slice; k < ntot_act; k += nsl) {
            const int j = GB_PARTNER(k);
            if (j == a) continue;
            real dx, dy, dz;
            DELTA(dx, dy, dz, pi, pil, posq[j], posq_lo[j]);
            MIN_IMAGE(real, dx, dy, dz);
            const real r2 = dx * dx + dy * dy + dz * dz;
            if (CUTOFF && r2 > CUTOFF2) continue;
            const real r = sqrt(r2), ir = 1.0f / r;
            const real4 gj = gbp[j];
            const real sc = (gc * hct_dtdr(gi.x, gj.y, r, ir) + chain[j] * hct_dtdr(gj.x, gi.y, r, ir)) * ir;
            cx += GB_FIX(sc * dx);
            cy += GB_FIX(sc * dy);
            cz += GB_FIX(sc * dz);
        }
        redf[lid] = cx;
        redf[lid + FUSED_WG] = cy;
        redf[lid + 2 * FUSED_WG] = cz;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (active && slice == 0 && a >= 0) {
            for (int k = 0; k < nsl; k++) {
                const int o = head + 8 * k;
                fx += redf[o];
                fy += redf[o + FUSED_WG];
                fz += redf[o + 2 * FUSED_WG];
            }
            force[a] += fx;
            force[a + npad] += fy;
            force[a + 2 * npad] += fz;
        }
    }
    gb_flag(bad, force, npad);
    if (!want_energy) return;
    barrier(CLK_LOCAL_MEM_FENCE);
    rede[lid] = active && slice == 0 ? e : 0;
    redf[lid] = active && slice == 0 ? esa : 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        long tg = 0, ts = 0;
        for (int k = 0; k < FUSED_WG; k++) {
            tg += rede[k];
            ts += redf[k];
        }
        atom_add(&energy[E_GB], tg);
        atom_add(&energy[E_SA], ts);
    }
}

#else /* CPU devices */

GB_HCT_FUNCTIONS(float8, 8)

/* One work-item per cluster: the 8 lanes' positions and parameters as float8, partners broadcast
 * one at a time; m is the lanes that interact with j. */
#define GB_CPU_HEAD                                                                         \
    const int c = get_global_id(0);                                                         \
    if (c >= nclusters) return;                                                             \
    real xa[8], ya[8], za[8], xl[8], yl[8], zl[8], oa[8], sa[8], qa[8];                     \
    int atom[8];                                                                            \
    for (int l = 0; l < 8; l++) {                                                           \
        const int a = cluster_atoms[8 * c + l], s = a < 0 ? 0 : a;                          \
        const real4 p = posq[s], pl = posq_lo[s], g = gbp[s];                               \
        atom[l] = a;                                                                        \
        xa[l] = p.x; ya[l] = p.y; za[l] = p.z;                                              \
        xl[l] = pl.x; yl[l] = pl.y; zl[l] = pl.z;                                           \
        oa[l] = g.x; sa[l] = g.y; qa[l] = p.w;                                              \
    }                                                                                       \
    const float8 xi = vload8(0, xa), yi = vload8(0, ya), zi = vload8(0, za);                \
    const float8 xil = vload8(0, xl), yil = vload8(0, yl), zil = vload8(0, zl);             \
    const float8 ori = vload8(0, oa), sri = vload8(0, sa), qv = vload8(0, qa);              \
    const int8 av = vload8(0, atom);                                                        \
    const int e0 = jstart[c], n1 = jstart[c + 1] - e0, s0 = sstart[c];                      \
    const int ntot = n1 + sstart[c + 1] - s0;

#define GB_CPU_FOR_PARTNERS                                                                 \
    for (int k = 0; k < ntot; k++) {                                                        \
        const int j = GB_PARTNER(k);                                                        \
        const real4 pj = posq[j], pjl = posq_lo[j];                                         \
        float8 dx = (pj.x - xi) + (pjl.x - xil), dy = (pj.y - yi) + (pjl.y - yil),          \
               dz = (pj.z - zi) + (pjl.z - zil);                                            \
        MIN_IMAGE(float8, dx, dy, dz);                                                      \
        float8 r2 = dx * dx + dy * dy + dz * dz;                                            \
        int8 m = av >= 0 && av != (int8)j;                                                  \
        if (CUTOFF) m = m && r2 <= (float8)CUTOFF2;                                         \
        r2 = select((float8)1.0f, r2, m);                                                   \
        const float8 r = sqrt(r2), ir = 1.0f / r;

__kernel void gb_born_cpu(GB_LIST_ARGS, __global real2 *restrict born, BOX_PARAMS)
{
    GB_CPU_HEAD
    float8 sum = 0;
    GB_CPU_FOR_PARTNERS
        sum += select((float8)0.0f, hct_t8(ori, (float8)gbp[j].y, r, ir), m);
    }
    real sl[8];
    vstore8(sum, 0, sl);
    for (int l = 0; l < 8; l++)
        if (atom[l] >= 0) born[atom[l]] = gb_radius(sl[l], gbp[atom[l]]);
}

__kernel void gb_pair_cpu(GB_LIST_ARGS, __global const real2 *restrict born,
                          __global real *restrict chain, __global long *restrict force,
                          const int npad, __global long *restrict energy, const int want_energy,
                          BOX_PARAMS)
{
    GB_CPU_HEAD
    real ba[8];
    for (int l = 0; l < 8; l++) ba[l] = born[atom[l] < 0 ? 0 : atom[l]].x;
    const float8 bi = vload8(0, ba), qi = PRE * qv;
    float8 fx = 0, fy = 0, fz = 0, e = 0, dedb = 0;
    int bad = 0;
    GB_CPU_FOR_PARTNERS
        const real bj = born[j].x;
        const float8 bb = bi * bj, dd = 0.25f * r2 / bb, ex = exp(-dd);
        const float8 f2 = r2 + bb * ex, fij = sqrt(f2), if3 = 1.0f / (f2 * fij);
        const float8 qq = select((float8)0.0f, qi * pj.w, m);
        const float8 dedr_r = -qq * (1.0f - 0.25f * ex) * if3;
        dedb -= 0.5f * qq * ex * (1.0f + dd) * if3 * bj;
        fx += dedr_r * dx;
        fy += dedr_r * dy;
        fz += dedr_r * dz;
        if (want_energy) e += qq * (1.0f / fij - SHIFT);
    }
    real fxa[8], fya[8], fza[8], ea[8], da[8];
    vstore8(fx, 0, fxa);
    vstore8(fy, 0, fya);
    vstore8(fz, 0, fza);
    vstore8(e, 0, ea);
    vstore8(dedb, 0, da);
    long tg = 0, ts = 0;
    for (int l = 0; l < 8; l++) {
        const int a = atom[l];
        if (a < 0) continue;
        real es, esa;
        chain[a] = gb_atom(born[a], PRE * qa[l], qa[l], gbp[a], da[l], &es, &esa);
        force[a] += GB_FIX(fxa[l]);
        force[a + npad] += GB_FIX(fya[l]);
        force[a + 2 * npad] += GB_FIX(fza[l]);
        tg += GB_FIX(0.5f * ea[l]) + GB_FIX(es);
        ts += GB_FIX(esa);
    }
    gb_flag(bad, force, npad);
    if (want_energy) {
        __global long *eseg = energy + E_SEG(cluster_atoms[8 * c]);
        atom_add(&eseg[E_GB], tg);
        atom_add(&eseg[E_SA], ts);
    }
}

__kernel void gb_chain_cpu(GB_LIST_ARGS, __global const real *restrict chain,
                           __global long *restrict force, const int npad, BOX_PARAMS)
{
    GB_CPU_HEAD
    real ga[8];
    for (int l = 0; l < 8; l++) ga[l] = chain[atom[l] < 0 ? 0 : atom[l]];
    const float8 gc = vload8(0, ga);
    float8 fx = 0, fy = 0, fz = 0;
    int bad = 0;
    GB_CPU_FOR_PARTNERS
        const real4 gj = gbp[j];
        const float8 dedr = gc * hct_dtdr8(ori, (float8)gj.y, r, ir) +
                            chain[j] * hct_dtdr8((float8)gj.x, sri, r, ir);
        const float8 sc = select((float8)0.0f, dedr * ir, m);
        fx += sc * dx;
        fy += sc * dy;
        fz += sc * dz;
    }
    real fxa[8], fya[8], fza[8];
    vstore8(fx, 0, fxa);
    vstore8(fy, 0, fya);
    vstore8(fz, 0, fza);
    for (int l = 0; l < 8; l++) {
        const int a = atom[l];
        if (a < 0) continue;
        force[a] += GB_FIX(fxa[l]);
        force[a + npad] += GB_FIX(fya[l]);
        force[a + 2 * npad] += GB_FIX(fza[l]);
    }
    gb_flag(bad, force, npad);
}

#endif
