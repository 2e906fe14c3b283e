/* GBSA/OBC implicit solvent (src/ff/gbsa.c): three kernels per evaluation, each over the cluster
 * neighbor list of the engine, one work-group per i-cluster (work-item = lane x slice, 8 lanes):
 *   gb_born   Born sums S_i (HCT integrals), then per atom the Born radius B_i and dB_i/dS_i
 *   gb_pair   Still pair energy, its direct force, dE/dB_i; then per atom the self and ACE terms
 *             and the chain factor g_i = dE/dB_i dB_i/dS_i
 *   gb_chain  forces through the Born radii: g_i dT(i<-j)/dr + g_j dT(j<-i)/dr along r_ij
 * The list is full (each pair seen from both sides), so a work-group owns its atoms' sums and
 * writes them without atomics: the result does not depend on thread scheduling. GB counts
 * bonded pairs, so the list's exclusion bits are ignored (a lane skips only padding and j == i)
 * and a supplementary per-cluster list (sstart/slist) brings back the partners the neighbor list
 * dropped because every lane of the cluster was excluded from them.
 * Pair forces and energies are accumulated per work-item in 64-bit fixed point (exact sums of
 * the float pair terms); Born sums and dE/dB in float.
 *
 * Program defines (set by src/ff/gbsa.c):
 *   SLICES             work-items per lane (work-group size 8 * SLICES)
 *   CUTOFF, CUTOFF2    pairs with r^2 > CUTOFF2 ignored when CUTOFF is 1
 *   SHIFT              1/cutoff (pair energies shifted as OpenMM does), 0 without a cutoff
 *   PRE                -coulomb (1/eps_solute - 1/eps_solvent), kJ mol^-1 nm e^-2
 *   OBC_ALPHA, OBC_BETA, OBC_GAMMA, INSIDE_CORR (1: OpenMM's built-in engulf correction)
 * gbp[i] = (offset radius or_i, scaled radius sr_i = scale_i or_i, radius_i,
 *           ACE prefactor 4 pi sa_energy (radius_i + probe)^2 radius_i^6, 0 when ACE is off). */

#define WG (8 * SLICES)

/* The k-th partner of cluster c: the neighbor list's entries first, then the supplement. */
inline int gb_partner(int k, int n1, int e0, int s0, __global const uint *restrict jlist,
                      __global const int *restrict slist)
{
    return k < n1 ? (int)(jlist[e0 + k] >> 8) : slist[s0 + k - n1];
}

/* HCT integral of atom j's scaled sphere (radius srj) seen from atom i (offset radius ori) at
 * distance r (ir = 1/r); 0 when the sphere does not reach i. As in src/ff/gbsa_ref.c. */
inline real hct_t(real ori, real srj, real r, real ir)
{
    const real u = r + srj;
    if (!(ori < u)) return 0.0f;
    const real l = fmax(ori, fabs(r - srj));
    const real il = 1.0f / l, iu = 1.0f / u;
    real t = il - iu + 0.25f * (r - srj * srj * ir) * (iu * iu - il * il) + 0.5f * ir * log(l * iu);
#if INSIDE_CORR
    if (ori < srj - r) t += 2.0f * (1.0f / ori - il);
#endif
    return t;
}

/* dT/dr of hct_t (the built-in's correction cancels the moving-L term; the CustomGBForce keeps it). */
inline real hct_dtdr(real ori, real srj, real r, real ir)
{
    const real u = r + srj;
    if (!(ori < u)) return 0.0f;
    const real l = fmax(ori, fabs(r - srj));
    const real il = 1.0f / l, iu = 1.0f / u, il2 = il * il;
    real dt = 0.25f * (1.0f + srj * srj * ir * ir) * (iu * iu - il2) - 0.5f * log(l * iu) * ir * ir;
#if !INSIDE_CORR
    if (ori < srj - r) dt += 2.0f * il2;
#endif
    return dt;
}

#define GB_KERNEL_HEAD                                                                      \
    const int c = get_group_id(0);                                                          \
    if (c >= nclusters) return;                                                             \
    const int lid = get_local_id(0), lane = lid & 7, slice = lid >> 3;                      \
    const int a = cluster_atoms[8 * c + lane];                                              \
    const int s = a < 0 ? 0 : a;                                                            \
    const real4 pi = posq[s], pil = posq_lo[s], gi = gbp[s];                                \
    const int e0 = jstart[c], n1 = jstart[c + 1] - e0, s0 = sstart[c];                      \
    const int ntot = a < 0 ? 0 : n1 + sstart[c + 1] - s0;

/* Displacement to j, minimum image, squared distance; `continue`s past j == i and pairs beyond
 * the cutoff. */
#define GB_PAIR_GEOMETRY                                                                    \
    const int j = gb_partner(k, n1, e0, s0, jlist, slist);                                  \
    if (j == a) continue;                                                                   \
    real dx, dy, dz;                                                                        \
    DELTA(dx, dy, dz, pi, pil, posq[j], posq_lo[j]);                                        \
    MIN_IMAGE(real, dx, dy, dz);                                                            \
    const real r2 = dx * dx + dy * dy + dz * dz;                                            \
    if (CUTOFF && r2 > CUTOFF2) continue;                                                   \
    const real r = sqrt(r2), ir = 1.0f / r;

#define GB_LIST_ARGS                                                                        \
    __global const real4 *restrict posq, __global const real4 *restrict posq_lo,            \
        __global const real4 *restrict gbp, __global const int *restrict cluster_atoms,     \
        __global const int *restrict jstart, __global const uint *restrict jlist,           \
        __global const int *restrict sstart, __global const int *restrict slist,            \
        const int nclusters

/* Pass 1: Born sums, then Born radii and dB/dS: born[i] = (B_i, dB_i/dS_i). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_born(GB_LIST_ARGS, __global real2 *restrict born, BOX_PARAMS)
{
    GB_KERNEL_HEAD
    __local real red[WG];
    real sum = 0;
    for (int k = slice; k < ntot; k += SLICES) {
        GB_PAIR_GEOMETRY
        sum += hct_t(gi.x, gbp[j].y, r, ir);
    }
    red[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (slice == 0 && a >= 0) {
        for (int k = 1; k < SLICES; k++) sum += red[lane + 8 * k];
        const real ori = gi.x, rad = gi.z;
        const real psi = 0.5f * ori * sum;
        const real th = tanh(psi * (OBC_ALPHA + psi * (-OBC_BETA + psi * OBC_GAMMA)));
        const real b = 1.0f / (1.0f / ori - th / rad);
        const real dbds = b * b * (1.0f - th * th) *
                          (OBC_ALPHA + psi * (-2.0f * OBC_BETA + 3.0f * OBC_GAMMA * psi)) * 0.5f *
                          ori / rad;
        born[a] = (real2)(b, dbds);
    }
}

/* Pass 2: Still pair terms (energy, direct force, dE/dB), then per atom the self and ACE terms
 * and the chain factor chain[i] = dE/dB_i dB_i/dS_i. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_pair(GB_LIST_ARGS, __global const real2 *restrict born, __global real *restrict chain,
             __global long *restrict force, const int npad, __global long *restrict energy,
             const int want_energy, BOX_PARAMS)
{
    GB_KERNEL_HEAD
    __local long redf[3 * WG];
    __local long rede[WG];
    __local real redb[WG];
    const real bi = born[s].x, qi = PRE * pi.w;
    long fx = 0, fy = 0, fz = 0, e = 0;
    real dedb = 0;
    for (int k = slice; k < ntot; k += SLICES) {
        GB_PAIR_GEOMETRY
        const real bj = born[j].x, bb = bi * bj;
        const real dd = 0.25f * r2 / bb, ex = exp(-dd);
        const real f2 = r2 + bb * ex, fij = sqrt(f2), if3 = 1.0f / (f2 * fij);
        const real qq = qi * posq[j].w;
        const real dedr_r = -qq * (1.0f - 0.25f * ex) * if3; /* (dE/dr) / r */
        dedb -= 0.5f * qq * ex * (1.0f + dd) * if3 * bj;
        fx += to_fixed(dedr_r * dx);
        fy += to_fixed(dedr_r * dy);
        fz += to_fixed(dedr_r * dz);
        if (want_energy) e += to_fixed(qq * (1.0f / fij - SHIFT));
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
        /* every pair was seen from both sides: half of the pair energy belongs to this atom */
        e /= 2;
        if (a >= 0) {
            const real2 bd = born[a];
            const real ib = 1.0f / bd.x, qq = qi * pi.w;
            dedb -= 0.5f * qq * ib * ib;
            const real r3 = ib * ib * ib, es = gi.w * r3 * r3;
            dedb -= 6.0f * es * ib;
            chain[a] = dedb * bd.y;
            force[a] += fx;
            force[a + npad] += fy;
            force[a + 2 * npad] += fz;
            e += to_fixed(0.5f * qq * ib);
            esa = to_fixed(es);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (want_energy) {
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
            atom_add(&energy[E_GB], tg);
            atom_add(&energy[E_SA], ts);
        }
    }
}

/* Pass 3: forces through the Born radii. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gb_chain(GB_LIST_ARGS, __global const real *restrict chain, __global long *restrict force,
              const int npad, BOX_PARAMS)
{
    GB_KERNEL_HEAD
    __local long redf[3 * WG];
    const real gc = chain[s];
    long fx = 0, fy = 0, fz = 0;
    for (int k = slice; k < ntot; k += SLICES) {
        GB_PAIR_GEOMETRY
        const real4 gj = gbp[j];
        const real dedr = gc * hct_dtdr(gi.x, gj.y, r, ir) + chain[j] * hct_dtdr(gj.x, gi.y, r, ir);
        const real sc = dedr * ir;
        fx += to_fixed(sc * dx);
        fy += to_fixed(sc * dy);
        fz += to_fixed(sc * dz);
    }
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
