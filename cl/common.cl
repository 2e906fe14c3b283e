/* Helpers every clmd kernel sees. The program builder puts in front of this file:
 * the int64 atomics pragma, CLMD_GPU, the precision typedefs (real, real2, real3, real4) and
 * FIXED_SCALE; each program adds its own #defines (PERIODIC, TRICLINIC, the energy component indices
 * E_LJ... from clmd_dev_defines, ...). */

#define ONE_4PI_EPS0 138.935456f

/* Box arguments, in this order, for every kernel that needs periodic images: diagonal
 * (a_x, b_y, c_z), its inverse, the b and c vectors, and the low parts of diagonal, b and c
 * (value - (float)value), so image shifts are as exact as the double-float positions. */
#define BOX_PARAMS real4 box, real4 inv_box, real4 box_b, real4 box_c, real4 box_lo, \
    real4 box_b_lo, real4 box_c_lo

/* Nearest integer of x (|x| < 1024), as a float: a truncating conversion of x + 1024.5 is one
 * fast instruction on CPUs and GPUs, where floor(), rint() or a rounding-mode conversion can be
 * library calls on some OpenCL compilers (PoCL). Ties differ, which never matters for images. */
#define ROUND(x) (convert_float(convert_int((x) + 1024.5f)) - 1024.0f)
#define ROUND8(x) (convert_float8(convert_int8((x) + 1024.5f)) - 1024.0f)
#define ROUND_real(x) ROUND(x)
#define ROUND_float(x) ROUND(x)
#define ROUND_float8(x) ROUND8(x)

/* Minimum image of a displacement (dx, dy, dz) of type T (real or float8); ROUND_T picks the
 * rounding for T.
 * Triclinic: reduced box (c, then b, then a), valid for cutoffs below half the box width. */
#if defined(PERIODIC) && PERIODIC
#if TRICLINIC
#define MIN_IMAGE(T, dx, dy, dz)                                \
    {                                                           \
        T k_ = ROUND_##T((dz) * inv_box.z); \
        dx = (dx - k_ * box_c.x) - k_ * box_c_lo.x;             \
        dy = (dy - k_ * box_c.y) - k_ * box_c_lo.y;             \
        dz = (dz - k_ * box_c.z) - k_ * box_c_lo.z;             \
        k_ = ROUND_##T((dy) * inv_box.y); \
        dx = (dx - k_ * box_b.x) - k_ * box_b_lo.x;             \
        dy = (dy - k_ * box_b.y) - k_ * box_b_lo.y;             \
        k_ = ROUND_##T((dx) * inv_box.x); \
        dx = (dx - k_ * box.x) - k_ * box_lo.x;                 \
    }
#else
#define MIN_IMAGE(T, dx, dy, dz)                                \
    {                                                           \
        T k_ = ROUND_##T((dx) * inv_box.x); \
        dx = (dx - k_ * box.x) - k_ * box_lo.x;                 \
        k_ = ROUND_##T((dy) * inv_box.y); \
        dy = (dy - k_ * box.y) - k_ * box_lo.y;                 \
        k_ = ROUND_##T((dz) * inv_box.z); \
        dz = (dz - k_ * box.z) - k_ * box_lo.z;                 \
    }
#endif
#else
#define MIN_IMAGE(T, dx, dy, dz)
#endif

/* Displacement xj - xi from double-float positions (posq + posq_lo). */
#define DELTA(dx, dy, dz, xi, xi_lo, xj, xj_lo)         \
    dx = ((xj).x - (xi).x) + ((xj_lo).x - (xi_lo).x);   \
    dy = ((xj).y - (xi).y) + ((xj_lo).y - (xi_lo).y);   \
    dz = ((xj).z - (xi).z) + ((xj_lo).z - (xi_lo).z);

/* One component of x_j + s - x_i (s a lattice shift, high part s, low part sl) from double-float
 * positions: the positions' difference first, then the shift. Every operation is a rounded
 * difference or sum of negated operands when seen from j's side (the shift table holds -s for
 * code 26 - c), so the pair from j's side gives exactly -d and both sides of a full list make
 * the same cutoff decision (adding s to x_j first rounded differently from the two sides, by up
 * to ulp(x_j + s) ~ 2e-7 nm: a pair within that of the cutoff was kept by one side only). Same
 * accuracy as before, ~ulp of the larger position. */
#define DELTA_SHIFT(d, xj, xjl, xi, xil, s, sl) d = ((((xj) - (xi)) + ((xjl) - (xil))) + (s)) + (sl)

/* xj - xi (real4 double-float positions) under a list's image: the lattice shift (sh, sl) as
 * DELTA_SHIFT adds it when `shifted`, else the minimum image pair by pair (code PAIR_IMAGE). */
#define DELTA_IMAGE(dx, dy, dz, xi, xil, xj, xjl, shifted, sh, sl)      \
    if (shifted) {                                                      \
        DELTA_SHIFT(dx, (xj).x, (xjl).x, (xi).x, (xil).x, (sh).x, (sl).x); \
        DELTA_SHIFT(dy, (xj).y, (xjl).y, (xi).y, (xil).y, (sh).y, (sl).y); \
        DELTA_SHIFT(dz, (xj).z, (xjl).z, (xi).z, (xil).z, (sh).z, (sl).z); \
    } else {                                                            \
        DELTA(dx, dy, dz, xi, xil, xj, xjl);                            \
        MIN_IMAGE(real, dx, dy, dz);                                    \
    }

/* The largest magnitude a force component or energy contribution may have on its way into
 * the 64-bit fixed-point accumulators (kJ/mol/nm, kJ/mol): 2^26, 1/32 of their range (+-2^31),
 * so that no sum of fewer than 32 admitted contributions can wrap. A contribution at or beyond it,
 * infinite or NaN is an overflow: the conversions saturate it (no undefined conversion, NaN
 * saturates too) and every writer flags it, by term, in an overflow word (flag_overflow) the
 * engine reads; the run then stops and names the particles (src/md/engine.c). Must equal
 * CLMD_FIXED_LIMIT (ff/term.h). */
#define FIXED_LIMIT 67108864.0f

/* Nonzero when v is not admitted: NaN, infinite, or |v| >= FIXED_LIMIT. */
inline int fixed_bad(real v) { return !(fabs(v) < FIXED_LIMIT); }

/* v, or +-FIXED_LIMIT when it is not admitted (NaN takes its sign bit's side). */
inline real fixed_clamp(real v) { return fixed_bad(v) ? copysign(FIXED_LIMIT, v) : v; }

/* Fixed-point conversion for the force and energy accumulators, rounded to nearest (truncation
 * would bias sums of many small terms of one sign by half a unit each); saturates at
 * +-FIXED_LIMIT. */
inline long to_fixed(real v)
{
    const real s = fixed_clamp(v) * FIXED_SCALE;
    return (long)(s + (s >= 0 ? 0.5f : -0.5f));
}

/* ORs term bits (1 << the term's energy component) into an overflow word: force[3 npad], the
 * word after the force blocks (cleared with the forces), or energy[E_FLAGS]. */
inline void flag_overflow(__global long *word, uint bits)
{
    atomic_or((__global uint *)word, bits);
}

#define TERM_BIT(comp) (1u << (comp))

/* ---- double-float helpers: value = hi + lo, |lo| <= ulp(hi)/2 ----
 * Products are made exact by splitting floats into 12-bit halves with a bit mask: every partial
 * product then fits a float, so the result is the same whether or not the compiler contracts
 * a multiply and an add into one fma (-cl-mad-enable allows it, and a TwoProd built on a
 * rounded product would break under it). */

/* a + b exactly as s + e (Knuth's TwoSum). */
inline real2 two_sum(real a, real b)
{
    const real s = a + b, z = s - a;
    return (real2)(s, (a - (s - z)) + (b - z));
}

/* hi + lo renormalized (|lo| small against hi). */
inline real2 df_norm(real hi, real lo)
{
    const real s = hi + lo;
    return (real2)(s, lo - (s - hi));
}

inline real2 df_add(real2 a, real2 b)
{
    const real2 s = two_sum(a.x, b.x);
    return df_norm(s.x, s.y + a.y + b.y);
}

/* The high 12 significand bits of a (the rest, a - split_hi(a), is exact and has <= 12). */
inline real split_hi(real a) { return as_float(as_uint(a) & 0xfffff000u); }

/* a * b, relative error ~2^-36 (the middle partial products are summed in float). */
inline real2 df_mul(real2 a, real2 b)
{
    const real a1 = split_hi(a.x), a2 = a.x - a1, b1 = split_hi(b.x), b2 = b.x - b1;
    const real2 s = two_sum(a1 * b1, a1 * b2 + a2 * b1);
    return df_norm(s.x, s.y + (a2 * b2 + (a.x * b.y + a.y * b.x)));
}

inline real2 df_sqrt(real2 a)
{
    if (!(a.x > 0)) return (real2)(0, 0);
    const real s = sqrt(a.x), s1 = split_hi(s), s2 = s - s1;
    /* one Newton step: s + (a - s^2) / 2s, the residual from exact partial products */
    const real r = (((a.x - s1 * s1) - 2 * s1 * s2) - s2 * s2) + a.y;
    return df_norm(s, r / (2 * s));
}

/* d - k (b + b_lo) for an image count k: a small integer, so k times either 12-bit half of b
 * is exact, and both halves are subtracted exactly (the low half of a box edge is ~1e-3 nm,
 * too large to be rounded into the low part of a 0.1 nm vector). */
inline real2 df_shift(real2 d, real k, real b, real b_lo)
{
    const real b1 = split_hi(b);
    const real2 s = two_sum(d.x, -(k * b1));
    const real2 t = two_sum(s.x, -(k * (b - b1)));
    return df_norm(t.x, t.y + s.y + d.y - k * b_lo);
}

/* a b' - a' b in double-float: one component of a cross product, exact where the two vectors
 * are nearly parallel and the float products would cancel. */
inline real2 df_cross1(real2 a, real2 b2, real2 a2, real2 b)
{
    return df_add(df_mul(a, b2), -df_mul(a2, b));
}

/* Energies to fixed point, rounded to nearest (the conversion the bonded-type kernels use for
 * their per-group sums); saturates at +-FIXED_LIMIT, the caller flags. */
inline long energy_fixed(real e) { return convert_long_rte(fixed_clamp(e) * FIXED_SCALE); }

/* Nonzero when a force (fx, fy, fz) is not admitted (see FIXED_LIMIT). */
inline int force_bad(real fx, real fy, real fz)
{
    return fixed_bad(fx) | fixed_bad(fy) | fixed_bad(fz);
}

/* Adds a force to atom i with 64-bit integer atomics (order-independent, deterministic);
 * flags term (TERM_BIT) when the force is not admitted. */
inline void add_force_atomic(__global long *force, int npad, int i, real fx, real fy, real fz,
                             uint term)
{
    if (force_bad(fx, fy, fz)) flag_overflow(force + 3 * npad, term);
    atom_add(&force[i], to_fixed(fx));
    atom_add(&force[i + npad], to_fixed(fy));
    atom_add(&force[i + 2 * npad], to_fixed(fz));
}

/* The same for a work-item that owns atom i's force (no atomics). */
inline void add_force(__global long *force, int npad, int i, real fx, real fy, real fz, uint term)
{
    if (force_bad(fx, fy, fz)) flag_overflow(force + 3 * npad, term);
    force[i] += to_fixed(fx);
    force[i + npad] += to_fixed(fy);
    force[i + 2 * npad] += to_fixed(fz);
}

/* Batched copies of one system (NSEG > 1, src/system/replicate.c): particle a belongs to copy
 * a / SEG_LEN, whose energy slots start at E_SEG(a) (components, kinetic, overflow word, as
 * one copy's). Programs built without the device defines see one copy. */
#ifndef NSEG
#define NSEG 1
#define SEG_LEN 0x3fffffff
#endif
#ifdef E_STRIDE
#define E_SEG(a) (NSEG > 1 ? ((a) / SEG_LEN) * E_STRIDE : 0)
#endif

#ifdef E_FLAGS
/* Adds energy e to component comp; flags the component when e is not admitted. */
inline void add_energy(__global long *energy, int comp, real e)
{
    if (fixed_bad(e)) flag_overflow(energy + E_FLAGS, TERM_BIT(comp));
    atom_add(&energy[comp], to_fixed(e));
}
#endif

#ifdef HAVE_FP64
/* Integration precision for the step-side programs (integrate, constraints, vsite): double
 * where the device has it. */
#if HAVE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double mixed;
typedef double2 mixed2;
typedef double3 mixed3;
typedef double4 mixed4;
#define convert_mixed3 convert_double3
#else
typedef float mixed;
typedef float2 mixed2;
typedef float3 mixed3;
typedef float4 mixed4;
#define convert_mixed3 convert_float3
#endif

/* Writes the double-float copy the force kernels read of position x of particle i: the
 * position wrapped into the box as at the last neighbor-list build, x + pshift[i] (pshift is a
 * lattice vector, zero for open systems), so the list's per-entry images hold. Returns the
 * squared displacement from the list's reference position. */
inline float store_position(__global real4 *posq, __global real4 *posq_lo,
                            __global const mixed4 *pshift, int i, mixed3 x,
                            __global const real4 *ref)
{
    const mixed3 xw = x + pshift[i].xyz;
    real4 p = posq[i];
    p.xyz = convert_float3(xw);
    posq[i] = p;
    posq_lo[i] = (real4)(convert_float3(xw - convert_mixed3(p.xyz)), 0);
    const real4 r = ref[i];
    const real dx = p.x - r.x, dy = p.y - r.y, dz = p.z - r.z;
    return dx * dx + dy * dy + dz * dz;
}

#ifdef WG
/* Work-group maximum of d2, then one atomic per group (positive floats order like uints). */
inline void reduce_max_disp(float d2, __local float *red, __global uint *maxdisp)
{
    const int lid = get_local_id(0);
    red[lid] = d2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) atomic_max(maxdisp, as_uint(red[0]));
}
#endif
#endif
