/* Device state the force terms of one engine share: positions+charges, the fixed-point force
 * and energy accumulators, the current box as kernels take it, and the handles of the pair
 * list's device buffers. The engine owns the positions and accumulators and refreshes the box
 * from the state whenever it changes (box_version); the pair list (nlist/pairlist.h) owns and
 * fills the list buffers and publishes their handles here. Terms read and add into it. */
#ifndef CLMD_FF_DEV_H
#define CLMD_FF_DEV_H

#include "ocl/ocl.h"

typedef struct clmd_dev {
    clmd_ocl *ocl;
    int n;              /* particles */
    int npad;           /* padded to a multiple of 64 */
    int periodic, triclinic; /* of the nonbonded interactions (ff/plan.h), fixed for a run */
    cl_mem posq;        /* float4 [npad]: x, y, z (nm), charge (e) */
    cl_mem posq_lo;     /* float4 [npad]: x - (float)x etc., w = 0: with posq a double-float
                           position, so pair distances keep ~1e-7 relative accuracy in big boxes */
    cl_mem force;       /* long [3*npad + 1]: x block, then y, then z; value * 2^32; then the
                           force overflow word (ff/term.h, cl/common.cl) */
    cl_mem energy;      /* long [CLMD_E_SLOTS]; value * 2^32; then the energy overflow word */
    /* The current box for kernels: box = (a_x, b_y, c_z, 0), inv_box = 1/box, box_b and box_c
     * full vectors, and the low parts (value - (float)value) of box, box_b and box_c. Valid for
     * box_version (the state's); terms re-set their box arguments when it changes. */
    long box_version;
    double box_rows[3][3];
    cl_float4 box, inv_box, box_b, box_c, box_lo, box_b_lo, box_c_lo;
    /* pair list (owned by nlist/pairlist.c); nl_version increases at every upload */
    cl_mem nl_cluster_atoms, nl_jstart, nl_jlist;
    cl_mem nl_jshift;   /* uchar per entry: image code (periodic), see nlist.h */
    cl_mem shift_table; /* float4 [54]: the 27 lattice shifts of the current box (a,b,c in -1..1),
                         * high then low parts; rewritten in place when the box changes */
    int nl_nclusters;
    long nl_version;
    /* The inner list (nl_prune set: GPU kernels, cutoff lists with the lagged check): pruned
     * on the device from the outer one above (cl/pairlist.cl prune). Cluster c's entries are
     * nl_icount[c] at nl_jstart[c] in nl_ijlist/nl_ijshift; the nonbonded kernels read these
     * (built with PRUNE 1). Allocated with the outer list (same capacities). */
    int nl_prune;
    cl_mem nl_ijlist, nl_ijshift, nl_icount;
    /* The list is the half list of cluster pairs (nlist.h tiles; nl_jstart counts tiles,
     * nl_jlist holds 4 words per tile, nl_jshift is unused): the nonbonded kernel is
     * nonbonded_tiles. Set by clmd_pairlist_use_tiles before the terms' setup. */
    int nl_tiles;
    /* Tiles handed out in pieces (nl_split > 0 tiles at most per work-group): nl_jstart then
     * holds nl_ntasks int4 (cluster, first tile, end tile, 0), every cluster at least one. */
    int nl_split, nl_ntasks;
    /* Batched copies of one system (system.h, nseg): copy s owns particles [s * seg_stride,
     * (s + 1) * seg_stride) and energy slots [s * CLMD_E_SLOTS, (s + 1) * CLMD_E_SLOTS); energy
     * is then long [nseg * CLMD_E_SLOTS]. 0 or 1: one system. */
    int nseg, seg_stride;
    /* A scaled region (system.h region): each copy's factors, float4 [nseg] (charge, lj,
     * lambda_sterics, torsion; clmd_region_scale), rewritten when scale_version changes; and the
     * region flag of every particle, uchar [npad]. NULL without a region. */
    cl_mem seg_scale, region;
    long scale_version;
} clmd_dev;

/* Sets the box kernel arguments (BOX_PARAMS in cl/common.cl: 7 of them) at index first.. of k. */
int clmd_dev_box_args(const clmd_dev *d, cl_kernel k, int first, clmd_err *err);
#define CLMD_BOX_NARGS 7

/* The 27 lattice shifts n_a a + n_b b + n_c c (n in -1..1, code = 9(n_a+1)+3(n_b+1)+n_c+1) as
 * float high parts [0..26] and low parts [27..53]. */
void clmd_dev_shift_table(const double b[3][3], cl_float4 table[54]);

/* Fills the box fields from box rows b (nm) and records the version. */
void clmd_dev_set_box(clmd_dev *d, const double b[3][3], long version);

/* A box-only clmd_dev for terms that follow the system's own periodicity whatever the
 * nonbonded method (bonded terms, CMAP): periodic when has_box, triclinic from b. */
void clmd_dev_box_view(clmd_dev *boxdev, int has_box, const double b[3][3], long version);

/* Defines every kernel program of this device state needs: PERIODIC, TRICLINIC, the energy
 * component indices (E_LJ, E_COULOMB, ... as in ff/term.h), E_FLAGS, E_STRIDE (slots per copy),
 * NSEG and SEG_LEN (the batched copies: cl/common.cl's E_SEG). Returns a static string the
 * caller copies at once. */
const char *clmd_dev_defines(const clmd_dev *d);

#endif
