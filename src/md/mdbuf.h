/* The engine's per-particle device buffers as the step-side modules (constraints, virtual
 * sites) see them. The engine owns every buffer and fills this struct once at setup; the
 * modules only pass the handles to their kernels and never release them. */
#ifndef CLMD_MD_MDBUF_H
#define CLMD_MD_MDBUF_H

#include "ocl/ocl.h"

typedef struct clmd_mdbuf {
    clmd_ocl *ocl;
    int fp64;          /* `mixed` is double (1) or float (0) on this device */
    int n, npad;       /* particles, padded count (multiple of 64) */
    cl_mem pos;        /* mixed4 [npad]: positions, nm (w unused) */
    cl_mem pos_old;    /* mixed4 [npad]: positions at the start of the step (constraint directions) */
    cl_mem vel;        /* mixed4 [npad]: velocities, nm/ps; w = 1/mass (0: not integrated) */
    cl_mem posq;       /* float4 [npad]: the force kernels' positions (w = charge) */
    cl_mem posq_lo;    /* float4 [npad]: low parts, x - (float)x */
    cl_mem posq_ref;   /* float4 [npad]: positions at the last neighbor-list build */
    cl_mem pos_shift;  /* mixed4 [npad]: lattice vector that wraps each position into the box as at
                        * the last list build; posq = pos + pos_shift (store_position) */
    cl_mem flags;      /* uint [2]: [0] largest squared displacement since the list build (float
                        * bits, atomic max); [1] nonzero once a constraint solve failed (sticky) */
    cl_mem force;      /* long [3 npad]: fixed-point forces, x block, y block, z block */
} clmd_mdbuf;

/* Host size of one mixed4. */
static inline size_t clmd_mdbuf_mixed4_size(const clmd_mdbuf *b)
{
    return b->fp64 ? sizeof(cl_double4) : sizeof(cl_float4);
}

#endif
