/* Buffered neighbor list, built on the CPU and laid out for the OpenCL kernels.
 *
 * Atoms are sorted into spatial clusters of CLMD_CLUSTER (8): the box is cut into columns
 * (fractional a/b), atoms of a column sorted along c and chunked by 8. For every i-cluster the
 * list holds every atom j that lies within rlist = cutoff + skin of one of the cluster's atoms
 * (under periodic images), in both directions (a "full" list: the pair i-j appears in i's cluster
 * list and in j's), so each kernel work-item owns the forces of its own atoms and needs no
 * atomics. Each entry packs j and an 8-bit lane mask: (j << 8) | mask, bit k set when lane k of
 * the cluster interacts with j (clear for padding lanes, j itself and excluded pairs); entries no
 * lane interacts with are left out. Within a cluster, entries come grouped by the cluster j
 * belongs to, in the order the search meets those clusters.
 *
 * The search culls whole clusters by their bounding boxes before testing atoms, on all host
 * cores (CLMD_NLIST_THREADS overrides the count; the threads wait between builds); the list
 * does not depend on the thread count.
 *
 * This module is the search only: when to rebuild, the device copies of the list and what the
 * run does with them belong to the list's owner, nlist/pairlist.h. The handle is opaque and
 * owned by the caller (clmd_nlist_destroy). */
#ifndef CLMD_NLIST_NLIST_H
#define CLMD_NLIST_NLIST_H

#include "core/err.h"

#define CLMD_CLUSTER 8

struct clmd_system;
typedef struct clmd_nlist clmd_nlist;

/* The layout the kernels read; pointers stay valid until the next build. */
typedef struct clmd_nlist_view {
    int nclusters;
    const int *cluster_atoms; /* [nclusters*8]: atom index or -1 for padding */
    const int *jstart;        /* [nclusters+1] */
    const unsigned *jlist;    /* [jstart[nclusters]]: (j << 8) | lane mask */
    long npairs_in_list;      /* entries * set lanes (pair evaluations a kernel does) */
    /* Periodic lists only (NULL otherwise): the image of each entry, so kernels need no
     * per-pair minimum image. image[3i..3i+2] are the box-vector counts n that wrapped atom i
     * into the box at this build (w_i = x_i + n_a a + n_b b + n_c c); with positions so wrapped,
     * entry e's partner is at w_j + S, S = (c/9 - 1) a + (c/3 % 3 - 1) b + (c % 3 - 1) c for
     * c = jshift[e], for every lane within the cutoff until the next rebuild. c ==
     * CLMD_NLIST_PAIR_IMAGE asks for the minimum image pair by pair (boxes narrower than twice
     * cutoff + skin, or two images of j near the cluster). */
    const unsigned char *jshift;
    const int *image;
    /* Tiles (clmd_nlist_set_tiles): jstart counts tiles and jlist holds 4 words per tile:
     * j-cluster cj, the lane-pair bits (bit 8 m + l: lane l of the i-cluster with lane m of
     * cj) low then high word, and the tile's image code (CLMD_NLIST_PAIR_IMAGE: pair by pair);
     * jshift is NULL. */
    int tiles;
} clmd_nlist_view;

#define CLMD_NLIST_PAIR_IMAGE 27

/* sys supplies the particle count and the exclusions. periodic: periodic images in the box
 * given to each build (0 treats the system as open even if it has a box). The cutoff-versus-box
 * rule is the caller's (ff/plan.h). */
int clmd_nlist_create(const struct clmd_system *sys, int periodic, double cutoff_nm, double skin_nm,
                      clmd_nlist **out, clmd_err *err);
void clmd_nlist_destroy(clmd_nlist **nl);

/* Builds the list for positions x ([3n], nm, not necessarily wrapped) in box b (periodic
 * lists; ignored otherwise) and remembers both. */
int clmd_nlist_build(clmd_nlist *nl, const double *x, const double b[3][3], clmd_err *err);

/* Host displacement check against the build positions: nonzero when some atom moved more than
 * skin/2 since the build (for tests; runs use the owner's check, which accounts for box
 * changes). */
int clmd_nlist_needs_rebuild(const clmd_nlist *nl, const double *x);
/* The box of the last build (periodic lists). */
const double (*clmd_nlist_box(const clmd_nlist *nl))[3];

/* The layout of the builds to come: 0 the full list of entries above; 1 a half list of
 * cluster pairs ("tiles", the GPU kernels' layout): every pair of clusters with two atoms
 * within rlist once, with the bits of the lane pairs that interact (excluded pairs and an
 * atom with itself left out, a cluster's pairs with itself once). Which cluster of a pair
 * lists it alternates, so every cluster lists about half of its neighbours (batched copies:
 * each copy's tiles as its own list would have them). Returns whether tiles are on. */
int clmd_nlist_set_tiles(clmd_nlist *nl, int on);

/* Changes the buffer for the next build (rlist = cutoff + skin). */
void clmd_nlist_set_skin(clmd_nlist *nl, double skin_nm);

clmd_nlist_view clmd_nlist_get(const clmd_nlist *nl);
double clmd_nlist_rlist(const clmd_nlist *nl);
double clmd_nlist_skin(const clmd_nlist *nl);
long clmd_nlist_builds(const clmd_nlist *nl);
/* Positions of the last build ([3n]); used by checkpoints to rebuild the identical list. */
const double *clmd_nlist_reference_positions(const clmd_nlist *nl);

/* Calls fn for every pair i<j within `cutoff` (minimum image in box b, periodic lists) found
 * through the list: the nonbonded reference, and tests comparing with a brute-force search.
 * Returns the number of pairs. */
long clmd_nlist_for_each_pair(const clmd_nlist *nl, const double *x, const double b[3][3],
                              double cutoff, void (*fn)(int i, int j, double r2, void *ctx),
                              void *ctx);

/* The same for the pairs with at least one particle flagged (flag[i] != 0): only the
 * i-clusters holding a flagged particle are visited, so a small region's pairs cost little
 * more than the region's share of the list. fn gets i flagged; a pair of two flagged
 * particles comes once, with i < j. Returns the number of pairs. */
long clmd_nlist_for_each_flagged_pair(const clmd_nlist *nl, const double *x, const double b[3][3],
                                      double cutoff, const unsigned char *flag,
                                      void (*fn)(int i, int j, double r2, void *ctx), void *ctx);

#endif
