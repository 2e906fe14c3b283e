/* The pair list's owner: one module holds the host search (nlist/nlist.h), the device copies
 * of the list the force kernels read, the per-atom wraps that make the list's image codes hold,
 * the reference positions of the displacement check, and the decision when to rebuild. The
 * engine asks it three things: build now (clmd_pairlist_build), is the list still valid
 * (clmd_pairlist_stale_*), and the box changed (clmd_pairlist_box_scaled).
 *
 * Validity. At a build every pair within rlist = cutoff + skin is listed. The list stays valid
 * while no unlisted pair can have come within the cutoff: with atoms displaced by at most d
 * since the reference positions, while 2 d < skin - slack. A box scaling by (1 + eps) moves
 * every atom with its molecule's centroid, so two atoms' distance changes by at most
 * eps (rlist + 2 R) (R: the farthest an atom is from its molecule's centroid); an accepted
 * barostat move therefore adds eps (rlist + 2 R) plus the displacement spent so far (2 d) to
 * the slack and makes the current positions the new reference. The list is rebuilt when the
 * displacement check fails, with neighbor_skin: auto retuning the buffer first (a deterministic
 * cost model, so runs repeat bit for bit).
 *
 * Device path: positions the force kernels read are wrapped as at the last build (posq = pos +
 * pos_shift, pos_shift = the build's image counts times the current box), the 27 lattice
 * shifts of the current box are in a table, and the integrator kernels fold the largest squared
 * displacement from posq_ref into a flag the engine reads once per step.
 *
 * Create with clmd_pairlist_create, free with clmd_pairlist_destroy; the system, plan and
 * molecules must outlive it. */
#ifndef CLMD_NLIST_PAIRLIST_H
#define CLMD_NLIST_PAIRLIST_H

#include "core/err.h"
#include "ocl/ocl.h"

struct clmd_system;
struct clmd_ffplan;
struct clmd_molecules;
struct clmd_nlist;
struct clmd_dev;
struct clmd_probe;
struct clmd_ckpt_writer;
struct clmd_ckpt_reader;
typedef struct clmd_pairlist clmd_pairlist;

/* gpu selects the cost model of neighbor_skin: auto (the build is far dearer than pair work on
 * a GPU). */
int clmd_pairlist_create(const struct clmd_system *sys, const struct clmd_ffplan *plan,
                         const struct clmd_molecules *mols, int gpu, struct clmd_probe *probe,
                         clmd_pairlist **out, clmd_err *err);
void clmd_pairlist_destroy(clmd_pairlist **pl);

/* Device buffers: the list (handles published in dev->nl_*, dev->shift_table), posq_ref,
 * pos_shift (mixed4, fp64 selects double) and the event copy of the positions. pos is the
 * engine's mixed4 position buffer; dev->posq/posq_lo/npad must be set: the pairlist rewrites
 * posq from pos at every build and box change. */
int clmd_pairlist_setup_device(clmd_pairlist *pl, struct clmd_dev *dev, cl_mem pos, int fp64,
                               clmd_err *err);
cl_mem clmd_pairlist_posq_ref(const clmd_pairlist *pl);
/* Keeps an inner list pruned on the device (GPU kernels, cutoff lists): the nonbonded kernels
 * read it; posq_ref then holds the positions of the last prune (the per-step displacement
 * check measures the motion since the prune) and every prune writes into flags[word] the
 * largest distance (float bits, nm^2) of those positions from the outer list's reference, and
 * into flags[word + 1] its number (clmd_pairlist_prune_gen).
 * The outer list stays valid while (that distance + the per-step one) stays within
 * clmd_pairlist_room; the inner one while the per-step one stays within
 * clmd_pairlist_inner_room. Only lists with neighbor_skin: auto are pruned (their buffer is
 * tuned wider for it; a given buffer is used as given). Call after clmd_pairlist_setup_device,
 * before the terms' setup. */
int clmd_pairlist_setup_prune(clmd_pairlist *pl, cl_mem flags, int word, clmd_err *err);
/* Lists as tiles (nlist.h clmd_nlist_set_tiles: the half list of cluster pairs) for the GPU
 * nonbonded kernel; publishes dev->nl_tiles. Only where no other kernel reads the list of
 * entries: the caller's rule (no pruning, no region, no GB). Call after
 * clmd_pairlist_setup_device, before the first build and the terms' setup. split > 0 hands
 * the kernel each cluster's tiles in pieces of at most split (dev->nl_split, nl_ntasks: more
 * work-groups for small systems). Returns whether tiles are on. */
int clmd_pairlist_use_tiles(clmd_pairlist *pl, int split);
int clmd_pairlist_prunes(const clmd_pairlist *pl);
/* The buffer (nm) of the prunes to come (at most half the outer list's; it sets the outer
 * list's room), and a prune at the next evaluation. */
void clmd_pairlist_plan_prune(clmd_pairlist *pl, double s_in);
void clmd_pairlist_request_prune(clmd_pairlist *pl);
/* Before an evaluation: prunes when the inner list is not valid (a new list, new positions or
 * box, or a request). */
int clmd_pairlist_prepare(clmd_pairlist *pl, clmd_err *err);
/* The number of the last prune, as the prune writes it into flags[word + 1]. */
unsigned clmd_pairlist_prune_gen(const clmd_pairlist *pl);
/* Half the inner list's buffer: how far an atom may move from the prune's positions. */
double clmd_pairlist_inner_room(const clmd_pairlist *pl);
cl_mem clmd_pairlist_pos_shift(const clmd_pairlist *pl);

/* Buffers sized from the energy drift (nlist/verletbuf.h; the engine's neighbor_tolerance): the
 * outer list gets `skin` and a pruned inner one s_in (at most skin); neither is tuned, the lists
 * are statistical (no displacement room: the engine renews them on a schedule), and box
 * scalings always fit. Call before clmd_pairlist_setup_prune and the first build. */
void clmd_pairlist_set_drift(clmd_pairlist *pl, double skin, double s_in);
/* The largest displacement (nm) of positions x from the host reference. */
double clmd_pairlist_max_disp_host(const clmd_pairlist *pl, const double *x);

/* Builds the list for positions x ([3n]) in box b at this step (neighbor_skin: auto retunes the
 * buffer first); on a device uploads the wraps, the positions and the list. */
int clmd_pairlist_build(clmd_pairlist *pl, const double *x, const double b[3][3], long step,
                        clmd_err *err);
/* Nonzero when the list can go stale at all (cutoff methods). */
int clmd_pairlist_checks(const clmd_pairlist *pl);
/* Host check (reference path): nonzero when positions x make the list invalid. */
int clmd_pairlist_stale_host(const clmd_pairlist *pl, const double *x);
/* The overlapped search (GPUs): clmd_pairlist_bg_start snapshots the device positions at this
 * point of the queue and builds the next list from them with buffer `skin` on host threads while
 * the device goes on; clmd_pairlist_bg_switch (at a later step) waits for the build, uploads the
 * list and makes the snapshot the displacement reference, so the checks that follow measure
 * the motion since the snapshot. A synchronous build (clmd_pairlist_build) drops a build in
 * flight. bg_step is the snapshot's step, -1 when none. Checkpoints hold a build in flight, so
 * a restart switches to the same list. */
int clmd_pairlist_bg_start(clmd_pairlist *pl, const double b[3][3], long step, double skin,
                           clmd_err *err);
long clmd_pairlist_bg_step(const clmd_pairlist *pl);
int clmd_pairlist_bg_switch(clmd_pairlist *pl, const double b[3][3], long step, clmd_err *err);
void clmd_pairlist_bg_cancel(clmd_pairlist *pl);
/* The buffer a list built now gets (neighbor_skin, or as tuned). */
double clmd_pairlist_nominal_skin(const clmd_pairlist *pl);
/* How far (nm) an atom may still move from the reference positions with the list valid (half
 * the unspent buffer; infinite when the list never ages). */
double clmd_pairlist_room(const clmd_pairlist *pl);
/* Device check: nonzero when the largest squared displacement the kernels found (nm^2)
 * makes the list invalid. */
int clmd_pairlist_stale_d2(const clmd_pairlist *pl, double max_d2);
/* Room left for a box scaling by (1 + eps) given the current largest squared displacement:
 * nonzero when the list stays valid through it. */
int clmd_pairlist_fits_scaling(const clmd_pairlist *pl, double max_d2, double eps);

/* After the box changed to b by a molecular scaling by (1 + eps) at most per axis (eps >= 0),
 * with the largest squared displacement max_d2 spent so far: adds the slack, takes positions x
 * (host, [3n]; NULL on the device path, where `posq` already holds them) as the new reference,
 * and on a device copies posq into posq_ref and uploads the new wraps and lattice shifts. */
int clmd_pairlist_box_scaled(clmd_pairlist *pl, const double *x, const double b[3][3],
                             double eps, double max_d2, clmd_err *err);
/* Uploads the wraps and lattice shifts for box b without touching the reference or the slack
 * (a trial box that will be undone, or the undo itself). */
int clmd_pairlist_set_box(clmd_pairlist *pl, const double b[3][3], clmd_err *err);

/* Device: posq from the engine's pos with the current wraps (after positions were set from
 * the host). */
int clmd_pairlist_refresh_positions(clmd_pairlist *pl, clmd_err *err);

/* A copy of the list's state (the build's positions, box and buffer, the slack, the event
 * reference; on the device posq_ref and the event positions), so that an engine snapshot's
 * restore puts back the identical list even when it was rebuilt since the save. */
typedef struct clmd_pairlist_snapshot clmd_pairlist_snapshot;
int clmd_pairlist_snapshot_create(const clmd_pairlist *pl, clmd_pairlist_snapshot **out,
                                  clmd_err *err);
void clmd_pairlist_snapshot_destroy(clmd_pairlist_snapshot **s);
int clmd_pairlist_save(const clmd_pairlist *pl, clmd_pairlist_snapshot *s, clmd_err *err);
/* b: the box being restored (the wraps follow it). */
int clmd_pairlist_restore(clmd_pairlist *pl, const clmd_pairlist_snapshot *s, const double b[3][3],
                          clmd_err *err);
/* Nonzero when a list built now would hold through a box scaling by (1 + eps). */
int clmd_pairlist_fits_fresh(const clmd_pairlist *pl, double eps);

/* The host list (reference path terms) and facts for reports. */
struct clmd_nlist *clmd_pairlist_host(const clmd_pairlist *pl);
long clmd_pairlist_builds(const clmd_pairlist *pl);
double clmd_pairlist_skin(const clmd_pairlist *pl);
long clmd_pairlist_last_build(const clmd_pairlist *pl);

/* Checkpoint: the list exactly as it is (build positions and box, buffer, build step, slack,
 * reference positions), so a restart rebuilds the identical list and repeats the run bit for
 * bit. load needs the current positions x and box b (already restored). Entry names start
 * with "list_". */
int clmd_pairlist_write_checkpoint(const clmd_pairlist *pl, struct clmd_ckpt_writer *w,
                                   clmd_err *err);
int clmd_pairlist_read_checkpoint(clmd_pairlist *pl, struct clmd_ckpt_reader *r,
                                  const double b[3][3], clmd_err *err);

#endif
