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

/* Fixed-point conversion for the force and energy accumulators, rounded to nearest (truncation
 * would bias sums of many small terms of one sign by half a unit each). */
inline long to_fixed(real v)
{
    const real s = v * FIXED_SCALE;
    return (long)(s + (s >= 0 ? 0.5f : -0.5f));
}

/* Adds a force to atom i with 64-bit integer atomics (order-independent, deterministic). */
inline void add_force_atomic(__global long *force, int npad, int i, real fx, real fy, real fz)
{
    atom_add(&force[i], to_fixed(fx));
    atom_add(&force[i + npad], to_fixed(fy));
    atom_add(&force[i + 2 * npad], to_fixed(fz));
}

inline void add_energy(__global long *energy, int comp, real e)
{
    atom_add(&energy[comp], to_fixed(e));
}

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
