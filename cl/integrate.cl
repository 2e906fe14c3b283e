/* Integrators and their helpers. Positions and velocities are integrated in `mixed`
 * precision (double where the device has it) and copied to the float posq the force kernels
 * read; forces arrive as 64-bit fixed point. Every kernel folds the maximum displacement since
 * the last neighbor-list build into flags[0] (float bits, squared nm) for the rebuild check.
 * The engine's flag words (md/engine.c): flags[0] that displacement, flags[1] constraint failure,
 * flags[2] the terms whose forces overflowed (bits as the force word, common.cl), flags[3] the
 * step of the first such overflow.
 * Defines: HAVE_FP64 (0/1), WG (work-group size, a power of two); with batched copies of one
 * system (src/system/replicate.c) NSEG, SEG_LEN (a multiple of WG, so that no work-group spans
 * two copies) and E_STRIDE: each copy has its own energy slots, bath and noise stream. */

#define INV_FIXED (1.0 / 4294967296.0)
/* Force-overflow bits go this far up in the energy overflow word (CLMD_OVF_FORCE_SHIFT). */
#define FORCE_BITS_SHIFT 16

/* The integrator kernels' overflow check: the force word (the terms whose forces overflowed in
 * the last evaluation) or an overflow already recorded in flags[2]. Work-item 0 records the
 * word's bits in flags[2] and, the first time, the step in flags[3]. Nonzero: the kernel moves
 * nothing, so the host finds the state whose forces overflowed. */
inline uint overflow_seen(__global const long *force, int npad, __global uint *flags, uint step)
{
    const uint w = *(__global const uint *)(force + 3 * npad);
    if (w != 0 && get_global_id(0) == 0 && atomic_or(&flags[2], w) == 0) flags[3] = step;
    return w | flags[2];
}

/* Philox4x32-10 counter-based generator: the same (key, counter) gives the same numbers on
 * every device and on the host reference, so runs are reproducible and restartable. */
inline uint4 philox(uint4 ctr, uint2 key)
{
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const ulong p0 = (ulong)0xD2511F53u * ctr.x, p1 = (ulong)0xCD9E8D57u * ctr.z;
        ctr = (uint4)((uint)(p1 >> 32) ^ ctr.y ^ key.x, (uint)p1, (uint)(p0 >> 32) ^ ctr.w ^ key.y,
                      (uint)p0);
        key += (uint2)(0x9E3779B9u, 0xBB67AE85u);
    }
    return ctr;
}

/* Three standard normal numbers for (atom, step) by Box-Muller. The native_ functions are
 * accurate to a few ulp, far below what thermostat noise needs, and several times faster on
 * CPU devices. */
inline float4 gaussian3(uint2 key, uint atom, uint step_lo, uint step_hi)
{
    const uint4 u = philox((uint4)(atom, step_lo, step_hi, 0x5eedu), key);
    const float4 f = (convert_float4(u >> 8) + 0.5f) * (1.0f / 16777216.0f);
    /* f rounds up to 1 for the top 2^-25 of draws, where an approximate log may come out a hair
     * above 0: clamped, so the noise is 0 there, never NaN */
    const float r1 = sqrt(fmax(0.0f, -2.0f * native_log(f.x))), r2 = sqrt(fmax(0.0f, -2.0f * native_log(f.z)));
    const float t1 = 6.283185307f * f.y, t2 = 6.283185307f * f.w;
    return (float4)(r1 * native_cos(t1), r1 * native_sin(t1), r2 * native_cos(t2), 0.0f);
}

inline float displacement2(real4 p, real4 r)
{
    const real dx = p.x - r.x, dy = p.y - r.y, dz = p.z - r.z;
    return dx * dx + dy * dy + dz * dz;
}

inline mixed4 force_of(__global const long *force, int npad, int i)
{
    return (mixed4)((mixed)force[i] * INV_FIXED, (mixed)force[i + npad] * INV_FIXED,
                    (mixed)force[i + 2 * npad] * INV_FIXED, 0);
}

/* The last reader of a step's forces leaves them zero for the next evaluation (one command
 * less per step than clearing the buffer): work-item i clears the entries it read, and those of
 * padding atoms past the launch. The overflow word after the blocks is left alone: it is 0
 * unless an overflow was reported, and then the engine clears the whole buffer itself. */
inline void clear_force(__global long *force, int npad, int i)
{
    for (int j = i; j < npad; j += (int)get_global_size(0)) {
        force[j] = 0;
        force[j + npad] = 0;
        force[j + 2 * npad] = 0;
    }
}

/* Velocity Verlet, first half: v += dt/2 F/m; x += dt v. vel.w holds 1/m (0: not integrated). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void verlet_kick_drift(__global real4 *restrict posq, __global real4 *restrict posq_lo,
                       __global mixed4 *restrict pos,
                       __global mixed4 *restrict vel, __global long *restrict force,
                       const int n, const int npad, const mixed dt,
                       __global const real4 *restrict ref, __global uint *restrict flags,
                       __global const mixed4 *restrict pshift, const uint step, const int clear)
{
    __local float red[WG];
    const int i = get_global_id(0);
    float d2 = 0;
    const uint ovf = overflow_seen(force, npad, flags, step);
    if (i < n && !ovf) {
        mixed4 v = vel[i];
        if (v.w != 0) {
            const mixed4 f = force_of(force, npad, i);
            v.xyz += (mixed)0.5 * dt * v.w * f.xyz;
            mixed4 x = pos[i];
            x.xyz += dt * v.xyz;
            pos[i] = x;
            vel[i] = v;
            d2 = store_position(posq, posq_lo, pshift, i, x.xyz, ref);
        }
    }
    if (clear) clear_force(force, npad, i);
    reduce_max_disp(d2, red, flags);
}

/* Velocity Verlet, second half: v += dt/2 F/m with the new forces (clear: the last reader of
 * them, as the Langevin kick is). */
__kernel void verlet_kick(__global mixed4 *restrict vel, __global long *restrict force,
                          const int n, const int npad, const mixed dt,
                          __global uint *restrict flags, const uint step, const int clear)
{
    const int i = get_global_id(0);
    if (!overflow_seen(force, npad, flags, step) && i < n) {
        mixed4 v = vel[i];
        if (v.w != 0) {
            v.xyz += (mixed)0.5 * dt * v.w * force_of(force, npad, i).xyz;
            vel[i] = v;
        }
    }
    if (clear) clear_force(force, npad, i);
}

/* The middle of the Langevin middle step for particle i with velocity v (already kicked):
 * x += dt/2 v; v = a v + sqrt(1-a^2) sqrt(kT/m) R; x += dt/2 v. Stores position and velocity
 * (not posq: the caller does, or a constraint that moves it further) and returns the position. */
inline mixed3 drift_noise(int i, mixed4 v, __global mixed4 *pos, __global mixed4 *vel, mixed dt,
                          mixed a, mixed b_kt, uint2 key, uint step_lo, uint step_hi)
{
    mixed4 x = pos[i];
    x.xyz += (mixed)0.5 * dt * v.xyz;
    /* a copy's particles draw the numbers of the one system: its own key, its own indices */
    const float4 g = gaussian3(key, (uint)(i % SEG_LEN), step_lo, step_hi);
    const mixed sd = b_kt * sqrt(v.w);
    v.x = a * v.x + sd * g.x;
    v.y = a * v.y + sd * g.y;
    v.z = a * v.z + sd * g.z;
    x.xyz += (mixed)0.5 * dt * v.xyz;
    pos[i] = x;
    vel[i] = v;
    return x.xyz;
}

/* drift_noise, then posq; returns the squared displacement since the list build. */
inline float drift_noise_drift(int i, mixed4 v, __global mixed4 *pos, __global mixed4 *vel,
                               mixed dt, mixed a, mixed b_kt, uint2 key, uint step_lo,
                               uint step_hi, __global real4 *posq, __global real4 *posq_lo,
                               __global const mixed4 *pshift, __global const real4 *ref)
{
    const mixed3 x = drift_noise(i, v, pos, vel, dt, a, b_kt, key, step_lo, step_hi);
    return store_position(posq, posq_lo, pshift, i, x, ref);
}

/* Langevin middle scheme (OpenMM's LangevinMiddleIntegrator, BAOAB-like):
 * v += dt F/m; x += dt/2 v; v = a v + sqrt(1-a^2) sqrt(kT/m) R; x += dt/2 v. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void langevin_middle(__global real4 *restrict posq, __global real4 *restrict posq_lo,
                     __global mixed4 *restrict pos,
                     __global mixed4 *restrict vel, __global long *restrict force,
                     const int n, const int npad, const mixed dt, const mixed a,
                     const mixed b_kt, const uint2 key, const uint step_lo, const uint step_hi,
                     __global const real4 *restrict ref, __global uint *restrict flags,
                     __global const mixed4 *restrict pshift, __global const mixed *restrict seg_bkt,
                     __global const uint2 *restrict seg_key, const int clear)
{
    __local float red[WG];
    const int i = get_global_id(0);
    float d2 = 0;
    const uint ovf = overflow_seen(force, npad, flags, step_lo);
    if (i < n && !ovf) {
        mixed4 v = vel[i];
        if (v.w != 0) {
            v.xyz += dt * v.w * force_of(force, npad, i).xyz;
            const int g = i / SEG_LEN;
            d2 = drift_noise_drift(i, v, pos, vel, dt, a, NSEG > 1 ? seg_bkt[g] : b_kt,
                                   NSEG > 1 ? seg_key[g] : key, step_lo, step_hi, posq,
                                   posq_lo, pshift, ref);
        }
    }
    if (clear) clear_force(force, npad, i);
    reduce_max_disp(d2, red, flags);
}

/* The Langevin middle scheme split for constraints (OpenMM's LangevinMiddleIntegrator order):
 * the engine kicks (verlet_kick with 2 dt) and constrains the velocities first, then this does
 * x += dt/2 v; v = a v + sqrt(1-a^2) sqrt(kT/m) R; x += dt/2 v, and the position constraints
 * follow. Same random stream as langevin_middle; moves nothing after the kick saw an overflow.
 * pos_old gets the positions before the drift (the constraints' reference directions). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void langevin_drift(__global real4 *restrict posq, __global real4 *restrict posq_lo,
                    __global mixed4 *restrict pos, __global mixed4 *restrict vel, const int n,
                    const mixed dt, const mixed a, const mixed b_kt, const uint2 key,
                    const uint step_lo, const uint step_hi, __global const real4 *restrict ref,
                    __global uint *restrict flags, __global const mixed4 *restrict pshift,
                    __global const mixed *restrict seg_bkt, __global const uint2 *restrict seg_key,
                    __global mixed4 *restrict pos_old)
{
    __local float red[WG];
    const int i = get_global_id(0);
    float d2 = 0;
    if (i < n) pos_old[i] = pos[i];
    if (i < n && !flags[2]) {
        const mixed4 v = vel[i];
        const int g = i / SEG_LEN;
        if (v.w != 0)
            d2 = drift_noise_drift(i, v, pos, vel, dt, a, NSEG > 1 ? seg_bkt[g] : b_kt,
                                   NSEG > 1 ? seg_key[g] : key, step_lo, step_hi, posq,
                                   posq_lo, pshift, ref);
    }
    reduce_max_disp(d2, red, flags);
}

/* Kinetic energy 1/2 m v^2 into energy[slot] (fixed point, one atomic per work-group). The
 * overflow word energy[slot + 1] receives bit `slot` when a group's sum is not admitted (it is
 * saturated), and the force word's bits shifted by FORCE_BITS_SHIFT, so that the one read of
 * the energies also tells whether the forces of this state overflowed. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void kinetic(__global const mixed4 *restrict vel, const int n, __global long *restrict energy,
             const int slot, __global const long *restrict force, const int npad)
{
    __local mixed red[WG];
    const int i = get_global_id(0), lid = get_local_id(0);
    mixed e = 0;
    if (i < n) {
        const mixed4 v = vel[i];
        if (v.w != 0) e = (mixed)0.5 * (v.x * v.x + v.y * v.y + v.z * v.z) / v.w;
    }
    red[lid] = e;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        mixed k = red[0];
        if (!(k < (mixed)FIXED_LIMIT)) { /* NaN too */
            flag_overflow(energy + (NSEG > 1 ? (i / SEG_LEN) * E_STRIDE : 0) + slot + 1, TERM_BIT(slot));
            k = FIXED_LIMIT;
        }
        /* a work-group lies within one copy (SEG_LEN is a multiple of WG) */
        __global long *eseg = energy + (NSEG > 1 ? (i / SEG_LEN) * E_STRIDE : 0);
        atom_add(&eseg[slot], (long)(k * (mixed)4294967296.0));
        const uint w = *(__global const uint *)(force + 3 * npad);
        if (i == 0 && w != 0) flag_overflow(energy + slot + 1, w << FORCE_BITS_SHIFT);
    }
}

/* Removes the centre-of-mass velocity; one work-group sums momenta in a fixed order. Batched
 * copies: work-group g does copy g. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void remove_com(__global mixed4 *restrict vel, const int n_all)
{
    __local mixed4 red[WG];
    const int lid = get_local_id(0);
    const int first = NSEG > 1 ? get_group_id(0) * SEG_LEN : 0;
    vel += first;
    const int n = NSEG > 1 ? min(SEG_LEN, n_all - first) : n_all;
    mixed4 p = 0;
    for (int i = lid; i < n; i += WG) {
        const mixed4 v = vel[i];
        if (v.w != 0) p += (mixed4)(v.x / v.w, v.y / v.w, v.z / v.w, 1 / v.w);
    }
    red[lid] = p;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const mixed4 tot = red[0];
    if (tot.w == 0) return;
    const mixed3 vcm = tot.xyz / tot.w;
    for (int i = lid; i < n; i += WG) {
        mixed4 v = vel[i];
        if (v.w != 0) {
            v.xyz -= vcm;
            vel[i] = v;
        }
    }
}
