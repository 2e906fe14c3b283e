/* Helpers every clmd kernel sees. The program builder puts in front of this file:
 * the int64 atomics pragma, CLMD_GPU, the precision typedefs (real, real2, real3, real4) and
 * FIXED_SCALE; each program adds its own #defines (PERIODIC, TRICLINIC, the energy component indices
 * E_LJ... from clmd_dev_defines, ...). */

#define ONE_4PI_EPS0 138.935456f

/* Box arguments, in this order, for every kernel that needs periodic images. */
#define BOX_PARAMS real4 box, real4 inv_box, real4 box_b, real4 box_c

/* Minimum image of a displacement (dx, dy, dz): scalars or vectors of the same type.
 * Triclinic: reduced box (c, then b, then a), valid for cutoffs below half the box width. */
#if defined(PERIODIC) && PERIODIC
#if TRICLINIC
#define MIN_IMAGE(dx, dy, dz)                                   \
    {                                                           \
        dx -= rint((dz) * inv_box.z) * box_c.x;                 \
        dy -= rint((dz) * inv_box.z) * box_c.y;                 \
        dz -= rint((dz) * inv_box.z) * box_c.z;                 \
        dx -= rint((dy) * inv_box.y) * box_b.x;                 \
        dy -= rint((dy) * inv_box.y) * box_b.y;                 \
        dx -= rint((dx) * inv_box.x) * box.x;                   \
    }
#else
#define MIN_IMAGE(dx, dy, dz)                                   \
    {                                                           \
        dx -= rint((dx) * inv_box.x) * box.x;                   \
        dy -= rint((dy) * inv_box.y) * box.y;                   \
        dz -= rint((dz) * inv_box.z) * box.z;                   \
    }
#endif
#else
#define MIN_IMAGE(dx, dy, dz)
#endif

/* Fixed-point conversion for the force and energy accumulators. */
inline long to_fixed(real v) { return (long)(v * FIXED_SCALE); }

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
