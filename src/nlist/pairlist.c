#include "nlist/pairlist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "core/mem.h"
#include "ff/dev.h"
#include "ff/plan.h"
#include "io/checkpoint.h"
#include "nlist/nlist.h"
#include "probe/probe.h"
#include "system/molecules.h"
#include "system/system.h"

enum { WG = 64 };

struct clmd_pairlist {
    const clmd_system *sys;
    const clmd_ffplan *plan;
    const clmd_molecules *mols;
    clmd_probe *probe;
    clmd_nlist *nl;
    int check;              /* the list can go stale (cutoff methods) */
    int skin_auto;
    int drift;              /* buffers from the energy drift (clmd_pairlist_set_drift) */
    int gpu;                /* cost model of neighbor_skin: auto */
    long last_build;        /* step of the last build */
    double slack_nm;        /* buffer used up by box scalings since the build */
    double reach_nm;        /* bound on an atom's distance from its molecule's centroid */
    double *xevent;         /* [3n] positions of the last event (build or box scaling) */
    /* device */
    clmd_dev *dev;
    int fp64;
    size_t mixed_size;
    cl_mem posq_ref;        /* float4 [npad]: posq of the last event */
    cl_mem pos_shift;       /* mixed4 [npad]: image counts of the build times the current box */
    cl_mem pos_event;       /* mixed4 [npad]: positions of the last event */
    cl_mem image;           /* int4 [npad]: image counts of the build */
    cl_mem pos;             /* the engine's positions (mixed4), set by setup */
    size_t cap_clusters, cap_jlist;
    /* The list's upload: copied into pinned staging memory (by the overlapped build's thread
     * when it made the list), then written to the device without blocking; stage_mu guards
     * the staging, up_ev is the last write in flight. */
    struct {
        cl_mem mem;
        void *host;
        size_t cap;
    } stg[5];               /* cluster_atoms, jstart, jlist, jshift, image (int4) */
    const clmd_nlist *staged; /* the list the staging holds */
    long staged_builds;     /* and its build count then */
    cl_event up_ev;
    pthread_mutex_t stage_mu;
    void *mixed_host;       /* staging, [npad] mixed4 */
    cl_kernel k_shift, k_positions, k_reference, k_prune, k_prune_tiles;
    /* The inner list (clmd_pairlist_setup_prune): pruned on the device at radius cutoff + s_in
     * from the outer list. The displacement reference posq_ref then holds the positions of the
     * last prune, posq_oref the outer list's; the prune writes the largest distance between the
     * two into flags[flag_word]. */
    int tiles;              /* the list is tiles (clmd_pairlist_use_tiles) */
    int split;              /* tiles per piece (0: a cluster's tiles in one piece) */
    size_t staged_tasks, cap_tasks; /* pieces in the staging; the device buffer's room */
    int prune;
    int inner_valid;        /* the inner list matches the outer list and posq_ref */
    double s_in;            /* the buffer of the inner list in use */
    double s_in_next;       /* the buffer of the next prune */
    cl_mem posq_oref;       /* float4 [npad] */
    cl_mem flags;
    int flag_word;
    cl_uint gen;            /* counts the prunes (a re-prune of a restore keeps its number) */
    double skin_nominal;    /* the buffer of a list built now (neighbor_skin, or tuned) */
    double build_cost;      /* R of tune_skin on GPUs */
    long nbuilds;           /* lists made (built, switched to, restored): never goes back */
    /* The overlapped search (clmd_pairlist_bg_*): the next list built on host threads from a
     * snapshot of the positions while the device goes on with the current one. */
    struct {
        int active;         /* a build was started and not yet switched to or dropped */
        int running;        /* its thread has not been joined */
        long step;          /* the snapshot's step */
        long gen;           /* counts the builds started: tells a snapshot's build from a later one */
        double skin, box[3][3];
        double *x;          /* [3n] the snapshot's positions */
        clmd_nlist *nl;     /* the list being built (swapped with pl->nl at the switch) */
        pthread_t tid;
        int rc;
        double wait_ns, build_ns; /* the thread's wait for the snapshot, and the build */
        cl_event ev;        /* the snapshot's read into pinned memory */
        cl_mem pinned;
        void *pinned_host;
        cl_mem pos_snap;    /* the snapshot on the device: the new list's displacement reference */
    } bg;
};

int clmd_pairlist_create(const clmd_system *sys, const clmd_ffplan *plan,
                         const clmd_molecules *mols, int gpu, clmd_probe *probe,
                         clmd_pairlist **out, clmd_err *err)
{
    *out = NULL;
    clmd_pairlist *pl = clmd_alloc(sizeof *pl);
    pl->sys = sys;
    pl->plan = plan;
    pl->mols = mols;
    pl->probe = probe;
    pl->gpu = gpu;
    CLMD_NEW(pl->xevent, 3 * sys->n);
    pl->skin_nominal = plan->o.skin_nm;
    pl->build_cost = 30000;
    {
        const char *v = getenv("CLMD_LIST_BUILD_COST"); /* measurements of the cost model */
        if (v && *v && atof(v) > 0) pl->build_cost = atof(v);
    }
    pthread_mutex_init(&pl->stage_mu, NULL);
    int rc;
    if (!plan->cutoff_on) {
        /* every pair, once: an open list that never goes stale */
        rc = clmd_nlist_create(sys, 0, 1e6, 1e6, &pl->nl, err);
    } else {
        pl->check = 1;
        pl->skin_auto = plan->o.skin_auto;
        rc = clmd_nlist_create(sys, plan->periodic, plan->o.cutoff_nm, plan->o.skin_nm, &pl->nl,
                               err);
    }
    if (rc) {
        clmd_pairlist_destroy(&pl);
        return rc;
    }
    *out = pl;
    return CLMD_OK;
}

void clmd_pairlist_destroy(clmd_pairlist **ppl)
{
    if (!ppl || !*ppl) return;
    clmd_pairlist *pl = *ppl;
    clmd_pairlist_bg_cancel(pl);
    clmd_nlist_destroy(&pl->nl);
    clmd_nlist_destroy(&pl->bg.nl);
    clmd_free(pl->bg.x);
    if (pl->bg.pinned) clmd_ocl_release_pinned(pl->dev->ocl, &pl->bg.pinned, &pl->bg.pinned_host);
    clmd_ocl_release(&pl->bg.pos_snap);
    if (pl->up_ev) clWaitForEvents(1, &pl->up_ev), clReleaseEvent(pl->up_ev);
    for (int k = 0; k < 5; k++)
        if (pl->stg[k].mem) clmd_ocl_release_pinned(pl->dev->ocl, &pl->stg[k].mem, &pl->stg[k].host);
    pthread_mutex_destroy(&pl->stage_mu);
    if (pl->k_shift) clReleaseKernel(pl->k_shift);
    if (pl->k_positions) clReleaseKernel(pl->k_positions);
    if (pl->k_reference) clReleaseKernel(pl->k_reference);
    if (pl->k_prune) clReleaseKernel(pl->k_prune);
    if (pl->k_prune_tiles) clReleaseKernel(pl->k_prune_tiles);
    clmd_ocl_release(&pl->posq_oref);
    clmd_ocl_release(&pl->posq_ref);
    clmd_ocl_release(&pl->pos_shift);
    clmd_ocl_release(&pl->pos_event);
    clmd_ocl_release(&pl->image);
    if (pl->dev) {
        clmd_dev *d = pl->dev;
        clmd_ocl_release(&d->nl_cluster_atoms);
        clmd_ocl_release(&d->nl_jstart);
        clmd_ocl_release(&d->nl_jlist);
        clmd_ocl_release(&d->nl_jshift);
        clmd_ocl_release(&d->nl_ijlist);
        clmd_ocl_release(&d->nl_ijshift);
        clmd_ocl_release(&d->nl_icount);
        clmd_ocl_release(&d->shift_table);
    }
    clmd_free(pl->mixed_host);
    clmd_free(pl->xevent);
    clmd_free(pl);
    *ppl = NULL;
}

int clmd_pairlist_setup_device(clmd_pairlist *pl, clmd_dev *d, cl_mem pos, int fp64, clmd_err *err)
{
    pl->dev = d;
    pl->fp64 = fp64;
    pl->pos = pos;
    pl->mixed_size = fp64 ? sizeof(cl_double4) : sizeof(cl_float4);
    size_t np = (size_t)d->npad;
    int rc;
    if ((rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &pl->posq_ref, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * np, &pl->posq_oref, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, pl->mixed_size * np, &pl->pos_shift, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, pl->mixed_size * np, &pl->pos_event, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_int4) * np, &pl->image, err)) ||
        (rc = clmd_ocl_alloc(d->ocl, sizeof(cl_float4) * 54, &d->shift_table, err)) ||
        (rc = clmd_ocl_zero(d->ocl, pl->pos_shift, pl->mixed_size * np, err)) ||
        (rc = clmd_ocl_zero(d->ocl, pl->image, sizeof(cl_int4) * np, err)))
        return rc;
    pl->mixed_host = clmd_calloc(np, pl->mixed_size);
    char defs[96];
    snprintf(defs, sizeof defs, "#define HAVE_FP64 %d\n#define WG %d\n", fp64, WG);
    cl_program prog;
    if ((rc = clmd_ocl_program(d->ocl, "pairlist.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "set_shift", &pl->k_shift, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "set_positions", &pl->k_positions, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "set_reference", &pl->k_reference, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "prune", &pl->k_prune, err)) ||
        (rc = clmd_ocl_kernel(d->ocl, prog, "prune_tiles", &pl->k_prune_tiles, err)))
        return rc;
    int n = pl->sys->n;
    cl_kernel k = pl->k_shift;
    CLMD_ARG(k, 0, pl->image, err);
    CLMD_ARG(k, 1, pl->pos_shift, err);
    CLMD_ARG(k, 2, n, err);
    k = pl->k_positions;
    CLMD_ARG(k, 0, pl->pos, err);
    CLMD_ARG(k, 1, pl->pos_shift, err);
    CLMD_ARG(k, 2, d->posq, err);
    CLMD_ARG(k, 3, d->posq_lo, err);
    CLMD_ARG(k, 4, pl->posq_ref, err);
    CLMD_ARG(k, 5, n, err);
    k = pl->k_reference;
    CLMD_ARG(k, 1, pl->pos_shift, err);
    CLMD_ARG(k, 2, pl->posq_ref, err);
    CLMD_ARG(k, 3, pl->pos_event, err);
    CLMD_ARG(k, 4, n, err);
    CLMD_ARG(k, 5, pl->posq_oref, err);
    return CLMD_OK;
}

int clmd_pairlist_setup_prune(clmd_pairlist *pl, cl_mem flags, int word, clmd_err *err)
{
    (void)err;
    /* a buffer as given is used as given: pruning needs one tuned wider than the prune's, or
     * both sized from the drift */
    if (!pl->dev || !pl->check || !(pl->skin_auto || pl->drift)) return CLMD_OK;
    pl->prune = 1;
    pl->dev->nl_prune = 1;
    pl->flags = flags;
    pl->flag_word = word;
    pl->inner_valid = 0;
    /* half the outer buffer until a smaller one is asked (drift: the one set) */
    if (!pl->drift) pl->s_in = pl->s_in_next = INFINITY;
    return CLMD_OK;
}

void clmd_pairlist_set_drift(clmd_pairlist *pl, double skin, double s_in)
{
    if (!pl->check) return;
    pl->drift = 1;
    pl->skin_auto = 0;
    pl->skin_nominal = skin;
    clmd_nlist_set_skin(pl->nl, skin);
    pl->s_in = pl->s_in_next = s_in;
    pl->inner_valid = 0;
}

int clmd_pairlist_prunes(const clmd_pairlist *pl) { return pl->prune; }

int clmd_pairlist_use_tiles(clmd_pairlist *pl, int split)
{
    if (!pl->dev) return 0;
    pl->tiles = clmd_nlist_set_tiles(pl->nl, 1);
    /* pieces index the outer list: a pruned one is read whole */
    pl->split = pl->tiles && split > 0 && !pl->prune ? split : 0;
    pl->dev->nl_tiles = pl->tiles;
    pl->dev->nl_split = pl->split;
    return pl->tiles;
}

/* The pieces of the tiles (split > 0) into out (NULL: count only): (cluster, first, end, 0). */
static size_t tile_tasks(const clmd_pairlist *pl, const clmd_nlist_view *v, cl_int4 *out)
{
    size_t k = 0;
    for (int c = 0; c < v->nclusters; c++) {
        const int t0 = v->jstart[c], t1 = v->jstart[c + 1];
        int t = t0;
        do {
            const int e = t1 - t < pl->split ? t1 : t + pl->split;
            if (out) out[k] = (cl_int4){{c, t, e, 0}};
            k++;
            t = e;
        } while (t < t1);
    }
    return k;
}

/* bytes per list entry: a tile is 4 words */
static size_t entry_bytes(const clmd_pairlist *pl) { return sizeof(unsigned) * (pl->tiles ? 4 : 1); }

/* The buffer of the next prune: as asked, at most half the outer list's. */
static double inner_skin(const clmd_pairlist *pl)
{
    /* drift-sized buffers: any inner one up to the outer one's (a statistical list, no room) */
    const double half = (pl->drift ? 1 : 0.5) * clmd_nlist_skin(pl->nl);
    return pl->s_in_next < half ? pl->s_in_next : half;
}

/* Word flag_word + off of the engine's flags := v, in queue order. */
static int set_flag_word(clmd_pairlist *pl, int off, cl_uint v, clmd_err *err)
{
    CL_CHECK(clEnqueueFillBuffer(clmd_ocl_queue(pl->dev->ocl), pl->flags, &v, sizeof v,
                                 sizeof(cl_uint) * (size_t)(pl->flag_word + off), sizeof v, 0, NULL,
                                 NULL),
             err);
    return CLMD_OK;
}

/* The inner list from the outer one at positions src (posq, or posq_ref to redo the last prune
 * exactly), with buffer s_in_next, capped by the outer list's. */
static int prune_from(clmd_pairlist *pl, cl_mem src, clmd_err *err)
{
    clmd_dev *d = pl->dev;
    const double s_in = inner_skin(pl);
    /* a hair wider for the float distances of the prune */
    const double rin = pl->plan->o.cutoff_nm + s_in + 1e-5;
    const float rin2 = (float)(rin * rin);
    /* tiles carry their image code; entries have codes only where the list kept them */
    const int periodic = pl->plan->periodic && (pl->tiles || clmd_nlist_get(pl->nl).jshift != NULL);
    cl_kernel k = pl->tiles ? pl->k_prune_tiles : pl->k_prune;
    int rc = set_flag_word(pl, 0, 0, err); /* the prune's atomic_max starts from zero */
    if (rc) return rc;
    CLMD_ARG(k, 0, src, err);
    CLMD_ARG(k, 1, d->nl_cluster_atoms, err);
    CLMD_ARG(k, 2, d->nl_jstart, err);
    CLMD_ARG(k, 3, d->nl_jlist, err);
    CLMD_ARG(k, 4, d->nl_jshift, err);
    CLMD_ARG(k, 5, d->shift_table, err);
    CLMD_ARG(k, 6, d->nl_ijlist, err);
    CLMD_ARG(k, 7, d->nl_ijshift, err);
    CLMD_ARG(k, 8, d->nl_icount, err);
    CLMD_ARG(k, 9, pl->posq_ref, err);
    CLMD_ARG(k, 10, pl->posq_oref, err);
    CLMD_ARG(k, 11, pl->flags, err);
    CLMD_ARG(k, 12, rin2, err);
    CLMD_ARG(k, 13, periodic, err);
    CLMD_ARG(k, 14, pl->flag_word, err);
    CLMD_ARG(k, 15, pl->gen, err);
    if ((rc = clmd_ocl_launch(d->ocl, k, (size_t)d->nl_nclusters * 64, 64, P_NLIST_PRUNE, err)))
        return rc;
    pl->s_in = s_in;
    pl->inner_valid = 1;
    clmd_probe_count(pl->probe, "nlist_prunes", 1);
    return CLMD_OK;
}

/* The inner list as it was (restores): pruned again from the positions of its prune, which
 * posq_ref holds, with its buffer; valid 0: left to the next evaluation. */
static int reprune(clmd_pairlist *pl, int valid, double s_in, double s_in_next, cl_uint gen,
                   clmd_err *err)
{
    pl->inner_valid = 0;
    pl->gen = gen;
    /* the device's copy of the number, as the saved run's reads saw it */
    int rc = set_flag_word(pl, 1, gen, err);
    if (!rc && valid) {
        pl->s_in_next = s_in;
        rc = prune_from(pl, pl->posq_ref, err);
    }
    pl->s_in = s_in;
    pl->s_in_next = s_in_next;
    return rc;
}

int clmd_pairlist_prepare(clmd_pairlist *pl, clmd_err *err)
{
    if (!pl->prune || pl->inner_valid) return CLMD_OK;
    pl->gen++;
    return prune_from(pl, pl->dev->posq, err);
}

unsigned clmd_pairlist_prune_gen(const clmd_pairlist *pl) { return pl->gen; }

void clmd_pairlist_plan_prune(clmd_pairlist *pl, double s_in)
{
    if (pl->prune) pl->s_in_next = s_in;
}

void clmd_pairlist_request_prune(clmd_pairlist *pl)
{
    if (pl->prune) pl->inner_valid = 0;
}

double clmd_pairlist_inner_room(const clmd_pairlist *pl)
{
    return pl->prune ? 0.5 * pl->s_in : INFINITY;
}

cl_mem clmd_pairlist_posq_ref(const clmd_pairlist *pl) { return pl->posq_ref; }
cl_mem clmd_pairlist_pos_shift(const clmd_pairlist *pl) { return pl->pos_shift; }

static size_t groups(int items) { return (size_t)(items + WG - 1) / WG * WG; }

/* pos_shift from the build's image counts and box b, the lattice-shift table of b, then posq
 * from pos (device). */
static int device_box(clmd_pairlist *pl, const double b[3][3], clmd_err *err)
{
    clmd_dev *d = pl->dev;
    int n = pl->sys->n, rc;
    pl->inner_valid = 0; /* new wraps: posq moves */
    cl_float4 table[54];
    clmd_dev_shift_table(b, table);
    if ((rc = clmd_ocl_write(d->ocl, d->shift_table, 0, sizeof table, table, err))) return rc;
    cl_kernel k = pl->k_shift;
    for (int r = 0; r < 3; r++) {
        if (pl->fp64) {
            cl_double4 v = {{b[r][0], b[r][1], b[r][2], 0}};
            CLMD_ARG(k, 3 + r, v, err);
        } else {
            cl_float4 v = {{(float)b[r][0], (float)b[r][1], (float)b[r][2], 0}};
            CLMD_ARG(k, 3 + r, v, err);
        }
    }
    if ((rc = clmd_ocl_launch(d->ocl, k, groups(n), WG, P_UPLOAD, err))) return rc;
    return clmd_ocl_launch(d->ocl, pl->k_positions, groups(n), WG, P_UPLOAD, err);
}

/* The current positions (device: pos, or src when given) become the displacement reference. */
static int device_reference(clmd_pairlist *pl, cl_mem src, clmd_err *err)
{
    CLMD_ARG(pl->k_reference, 0, src, err);
    pl->inner_valid = 0; /* the reference is the event's: the next evaluation prunes */
    return clmd_ocl_launch(pl->dev->ocl, pl->k_reference, groups(pl->sys->n), WG, P_UPLOAD, err);
}

static int upload_list_locked(clmd_pairlist *pl, clmd_err *err);

/* Staging slot k holds at least `bytes` (waits for the upload in flight: it reads the staging). */
static int stage_room(clmd_pairlist *pl, int k, size_t bytes, clmd_err *err)
{
    if (pl->stg[k].mem && pl->stg[k].cap >= bytes) return CLMD_OK;
    if (pl->stg[k].mem) clmd_ocl_release_pinned(pl->dev->ocl, &pl->stg[k].mem, &pl->stg[k].host);
    pl->stg[k].cap = bytes + bytes / 4 + 256;
    return clmd_ocl_alloc_pinned(pl->dev->ocl, pl->stg[k].cap, &pl->stg[k].mem, &pl->stg[k].host, err);
}

/* Bytes of the five uploads of list view v (cluster atoms, tile offsets or pieces, entries or
 * tiles, entry images, per-atom image counts); tasks: the pieces, when split. */
static void list_bytes(const clmd_pairlist *pl, const clmd_nlist_view *v, size_t tasks, size_t b[5])
{
    const size_t nc = (size_t)v->nclusters, nent = (size_t)v->jstart[v->nclusters];
    b[0] = sizeof(int) * CLMD_CLUSTER * nc;
    b[1] = pl->split ? sizeof(cl_int4) * tasks : sizeof(int) * (nc + 1);
    b[2] = entry_bytes(pl) * nent;
    b[3] = v->jshift ? nent : 0;
    b[4] = sizeof(cl_int4) * (size_t)pl->sys->n;
}

/* Copies list nl into the staging (call with stage_mu held). */
static int stage_list(clmd_pairlist *pl, const clmd_nlist *nl, clmd_err *err)
{
    if (pl->up_ev) {
        cl_int e = clWaitForEvents(1, &pl->up_ev);
        clReleaseEvent(pl->up_ev);
        pl->up_ev = NULL;
        CL_CHECK(e, err);
    }
    clmd_nlist_view v = clmd_nlist_get(nl);
    const int n = pl->sys->n;
    /* pieces: in the place of jstart */
    pl->staged_tasks = pl->split ? tile_tasks(pl, &v, NULL) : 0;
    size_t bytes[5];
    list_bytes(pl, &v, pl->staged_tasks, bytes);
    int rc;
    for (int k = 0; k < 5; k++)
        if ((rc = stage_room(pl, k, bytes[k], err))) return rc;
    memcpy(pl->stg[0].host, v.cluster_atoms, bytes[0]);
    if (pl->split) tile_tasks(pl, &v, pl->stg[1].host);
    else memcpy(pl->stg[1].host, v.jstart, bytes[1]);
    memcpy(pl->stg[2].host, v.jlist, bytes[2]);
    if (v.jshift) memcpy(pl->stg[3].host, v.jshift, bytes[3]);
    cl_int4 *img = pl->stg[4].host;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) img[i].s[k] = v.image ? v.image[3 * i + k] : 0;
        img[i].s[3] = 0;
    }
    pl->staged = nl;
    pl->staged_builds = clmd_nlist_builds(nl);
    return CLMD_OK;
}

static int upload_list(clmd_pairlist *pl, clmd_err *err)
{
    pthread_mutex_lock(&pl->stage_mu);
    int rc = upload_list_locked(pl, err);
    pthread_mutex_unlock(&pl->stage_mu);
    return rc;
}

static int upload_list_locked(clmd_pairlist *pl, clmd_err *err)
{
    clmd_dev *d = pl->dev;
    clmd_nlist_view v = clmd_nlist_get(pl->nl);
    size_t nent = (size_t)v.jstart[v.nclusters];
    int rc;
    /* from the staging (filled by the build's thread, or here), without blocking: the writes
     * follow the kernels that still read the old list, in queue order */
    if ((pl->staged != pl->nl || pl->staged_builds != clmd_nlist_builds(pl->nl)) &&
        (rc = stage_list(pl, pl->nl, err)))
        return rc;
    if ((size_t)v.nclusters > pl->cap_clusters || nent > pl->cap_jlist || !d->nl_jlist ||
        pl->staged_tasks > pl->cap_tasks) {
        clmd_ocl_release(&d->nl_cluster_atoms);
        clmd_ocl_release(&d->nl_jstart);
        clmd_ocl_release(&d->nl_jlist);
        clmd_ocl_release(&d->nl_jshift);
        clmd_ocl_release(&d->nl_ijlist);
        clmd_ocl_release(&d->nl_ijshift);
        clmd_ocl_release(&d->nl_icount);
        pl->cap_clusters = (size_t)v.nclusters + (size_t)v.nclusters / 4 + 16;
        pl->cap_jlist = nent + nent / 4 + 1024;
        pl->cap_tasks = pl->split ? pl->staged_tasks + pl->staged_tasks / 4 + 16 : 0;
        const size_t start_bytes = pl->split ? sizeof(cl_int4) * pl->cap_tasks
                                             : sizeof(int) * (pl->cap_clusters + 1);
        if ((rc = clmd_ocl_alloc(d->ocl, sizeof(int) * CLMD_CLUSTER * pl->cap_clusters,
                                 &d->nl_cluster_atoms, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, start_bytes, &d->nl_jstart, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, entry_bytes(pl) * pl->cap_jlist, &d->nl_jlist, err)) ||
            (rc = clmd_ocl_alloc(d->ocl, pl->tiles ? 1 : pl->cap_jlist, &d->nl_jshift, err)))
            return rc;
        if (pl->prune &&
            ((rc = clmd_ocl_alloc(d->ocl, entry_bytes(pl) * pl->cap_jlist, &d->nl_ijlist, err)) ||
             (rc = clmd_ocl_alloc(d->ocl, pl->tiles ? 1 : pl->cap_jlist, &d->nl_ijshift, err)) ||
             (rc = clmd_ocl_alloc(d->ocl, sizeof(int) * pl->cap_clusters, &d->nl_icount, err))))
            return rc;
    }
    cl_mem dst[5] = {d->nl_cluster_atoms, d->nl_jstart, d->nl_jlist, d->nl_jshift, pl->image};
    /* the build's image counts: pos_shift follows them in every box */
    size_t bytes[5];
    list_bytes(pl, &v, pl->staged_tasks, bytes);
    cl_command_queue q = clmd_ocl_queue(d->ocl);
    for (int k = 0; k < 5; k++) {
        if (!bytes[k]) continue;
        cl_event *ev = k == 4 ? &pl->up_ev : NULL;
        CL_CHECK(clEnqueueWriteBuffer(q, dst[k], CL_FALSE, 0, bytes[k], pl->stg[k].host, 0, NULL, ev),
                 err);
    }
    clFlush(q);
    pl->staged = NULL; /* consumed: the next upload stages its own list */
    d->nl_nclusters = v.nclusters;
    d->nl_ntasks = (int)pl->staged_tasks;
    d->nl_version++;
    return CLMD_OK;
}

/* Farthest any atom is from its molecule's centroid at positions x (nm). */
static double molecular_reach(const clmd_pairlist *pl, const double *x)
{
    const clmd_molecules *m = pl->mols;
    if (!m) return 0;
    double r2max = 0;
    for (int k = 0; k < m->n; k++) {
        int a0 = m->start[k], a1 = m->start[k + 1];
        if (a1 - a0 < 2) continue;
        double c[3] = {0, 0, 0};
        for (int a = a0; a < a1; a++)
            for (int d = 0; d < 3; d++) c[d] += x[3 * m->atoms[a] + d];
        for (int d = 0; d < 3; d++) c[d] /= a1 - a0;
        for (int a = a0; a < a1; a++) {
            const double *p = x + 3 * m->atoms[a];
            double r2 = (p[0] - c[0]) * (p[0] - c[0]) + (p[1] - c[1]) * (p[1] - c[1]) +
                        (p[2] - c[2]) * (p[2] - c[2]);
            if (r2 > r2max) r2max = r2;
        }
    }
    return sqrt(r2max);
}

/* The widest buffer whose lists keep one image per entry (cutoff + skin within half the
 * box's narrowest width; nlist.h): wider ones ask the kernels for the minimum image pair by
 * pair, and pruning keeps such entries whole. */
static double max_skin(const clmd_pairlist *pl)
{
    if (!pl->plan->periodic) return INFINITY;
    const double(*b)[3] = clmd_nlist_box(pl->nl);
    double w = fmin(b[0][0], fmin(b[1][1], b[2][2]));
    double s = 0.5 * w * 0.98 - pl->plan->o.cutoff_nm;
    return s > 0.04 ? s : 0.04;
}

/* With neighbor_skin: auto, each rebuild picks the buffer that minimizes a model of the cost
 * per step: pair work P(s) (the list's lane pairs, growing as (cutoff + s)^3) plus one build
 * (R work units per atom) spread over the steps a list lasts L(s) (atoms move ballistically
 * over a few steps, so L grows in proportion to s). P and L are measured on the list just
 * retired; R is the cost of building the list for one atom in units of one lane pair in the
 * kernel, which depends on the kind of device: ~1500 on a CPU device (measured with PoCL on 2
 * cores: a build costs 1.8-2.2 us per atom, a lane pair 1-2 ns in the float8 kernel), ~30000 on
 * a GPU (kernels are fast, the build is on the host). The change per rebuild
 * is limited to x2 or x0.5. The model counts pairs and steps, never time, so runs stay
 * deterministic. */
static void tune_skin(clmd_pairlist *pl, long step)
{
    long lasted = step - pl->last_build;
    pl->last_build = step;
    if (!pl->skin_auto || !pl->check || lasted <= 0) return;
    clmd_nlist_view v = clmd_nlist_get(pl->nl);
    if (v.npairs_in_list <= 0) return;
    const double R = pl->gpu ? pl->build_cost : 1500.0, rc = pl->plan->o.cutoff_nm;
    /* the retired list may have had a wider buffer (an overlapped build's): its pairs scaled
     * to the nominal one */
    const double s0 = pl->skin_nominal, sc = (rc + s0) / (rc + clmd_nlist_skin(pl->nl));
    const double P0 = (double)v.npairs_in_list * sc * sc * sc, L0 = (double)lasted;
    /* pruned: the outer list's pairs cost only the prunes (a distance test, about a quarter of
     * a pair's force, every few steps: weight 1/16), and the list lasts while the motion fills
     * its buffer less the inner one's */
    const double w = pl->prune ? 1.0 / 16 : 1.0;
    const double s_in = pl->prune ? fmin(pl->s_in_next, 0.5 * s0) : 0, e0 = s0 - s_in;
    const double smax = max_skin(pl);
    double best = s0 < smax ? s0 : smax, best_f = INFINITY;
    for (int k = 0; k <= (pl->prune ? 112 : 72); k++) {
        double s = 0.04 + 0.005 * k; /* 0.04 .. 0.40 nm, pruned 0.60 */
        if (s > 2 * s0 || s < 0.5 * s0 || s - s_in < 0.05 * e0 || s > smax) continue;
        double r = (rc + s) / (rc + s0);
        double f = w * P0 * r * r * r + R * pl->sys->n / (L0 * (s - s_in) / e0);
        if (f < best_f) {
            best_f = f;
            best = s;
        }
    }
    pl->skin_nominal = best;
}

int clmd_pairlist_build(clmd_pairlist *pl, const double *x, const double b[3][3], long step,
                        clmd_err *err)
{
    int rc;
    clmd_pairlist_bg_cancel(pl); /* a list now: an overlapped one is not needed */
    tune_skin(pl, step);
    if (pl->check) clmd_nlist_set_skin(pl->nl, pl->skin_nominal);
    PROBE_START(pl->probe, P_NLIST_BUILD);
    rc = clmd_nlist_build(pl->nl, x, b, err);
    if (!rc) {
        pl->nbuilds++;
        memcpy(pl->xevent, x, sizeof(double) * 3 * (size_t)pl->sys->n);
        pl->slack_nm = 0;
        /* atoms stay within skin/2 of these positions while the list lives, their centroids too */
        if (pl->check) pl->reach_nm = molecular_reach(pl, x) + clmd_nlist_skin(pl->nl);
    }
    PROBE_STOP(pl->probe, P_NLIST_BUILD);
    clmd_probe_count(pl->probe, "nlist_builds", 1);
    if (rc || !pl->dev) return rc;
    PROBE_START(pl->probe, P_UPLOAD);
    rc = upload_list(pl, err);
    if (!rc) rc = device_box(pl, b, err);
    if (!rc) rc = device_reference(pl, pl->pos, err);
    PROBE_STOP(pl->probe, P_UPLOAD);
    return rc;
}

/* ---- the overlapped search ---- */

static int copy_mem(const clmd_pairlist *pl, cl_mem from, cl_mem to, size_t bytes, clmd_err *err);

static void *bg_main(void *arg)
{
    clmd_pairlist *pl = arg;
    const int n = pl->sys->n;
    const double t0 = clmd_probe_clock_ns();
    if (pl->bg.ev) {
        /* the snapshot's read, enqueued by the main thread */
        if (clWaitForEvents(1, &pl->bg.ev) != CL_SUCCESS) {
            pl->bg.rc = CLMD_ERUNTIME;
            return NULL;
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++)
                pl->bg.x[3 * i + k] = pl->fp64 ? ((double *)pl->bg.pinned_host)[4 * i + k]
                                               : ((float *)pl->bg.pinned_host)[4 * i + k];
    }
    clmd_err e = {0};
    const double t1 = clmd_probe_clock_ns();
    clmd_nlist_set_skin(pl->bg.nl, pl->bg.skin);
    pl->bg.rc = clmd_nlist_build(pl->bg.nl, pl->bg.x, (const double(*)[3])pl->bg.box, &e);
    if (!pl->bg.rc) {
        /* the upload's copy into pinned memory, off the stepping thread */
        pthread_mutex_lock(&pl->stage_mu);
        pl->bg.rc = stage_list(pl, pl->bg.nl, &e);
        pthread_mutex_unlock(&pl->stage_mu);
    }
    pl->bg.wait_ns = t1 - t0;
    pl->bg.build_ns = clmd_probe_clock_ns() - t1;
    return NULL;
}

static int bg_setup(clmd_pairlist *pl, clmd_err *err)
{
    if (pl->bg.nl) return CLMD_OK;
    const int n = pl->sys->n;
    size_t np = (size_t)pl->dev->npad;
    int rc = clmd_nlist_create(pl->sys, pl->plan->periodic, pl->plan->o.cutoff_nm, pl->skin_nominal,
                               &pl->bg.nl, err);
    if (!rc) clmd_nlist_set_tiles(pl->bg.nl, pl->tiles);
    if (!rc) rc = clmd_ocl_alloc_pinned(pl->dev->ocl, pl->mixed_size * np, &pl->bg.pinned,
                                        &pl->bg.pinned_host, err);
    if (!rc) rc = clmd_ocl_alloc(pl->dev->ocl, pl->mixed_size * np, &pl->bg.pos_snap, err);
    if (!rc) CLMD_NEW(pl->bg.x, 3 * (size_t)n);
    return rc;
}

static void bg_join(clmd_pairlist *pl)
{
    if (!pl->bg.running) return;
    pthread_join(pl->bg.tid, NULL);
    pl->bg.running = 0;
    if (pl->bg.ev) {
        clReleaseEvent(pl->bg.ev);
        pl->bg.ev = NULL;
    }
}

int clmd_pairlist_bg_start(clmd_pairlist *pl, const double b[3][3], long step, double skin,
                           clmd_err *err)
{
    if (!pl->check || !pl->dev) return CLMD_OK;
    clmd_pairlist_bg_cancel(pl);
    int rc = bg_setup(pl, err);
    if (rc) return rc;
    const size_t bytes = pl->mixed_size * (size_t)pl->sys->n;
    /* the snapshot on the device (the new list's reference) and its copy to pinned memory */
    if ((rc = copy_mem(pl, pl->pos, pl->bg.pos_snap, bytes, err)) ||
        (rc = clmd_ocl_read_async(pl->dev->ocl, pl->bg.pos_snap, 0, bytes, pl->bg.pinned_host,
                                  &pl->bg.ev, err)))
        return rc;
    clFlush(clmd_ocl_queue(pl->dev->ocl));
    pl->bg.step = step;
    pl->bg.gen++;
    /* auto buffers stay within the box's reach (a user's is taken as given) */
    if (pl->skin_auto && skin > max_skin(pl) && max_skin(pl) >= pl->skin_nominal) skin = max_skin(pl);
    pl->bg.skin = skin;
    memcpy(pl->bg.box, b, sizeof pl->bg.box);
    pl->bg.rc = CLMD_OK;
    if (pthread_create(&pl->bg.tid, NULL, bg_main, pl) != 0) {
        /* no thread: build here */
        bg_main(pl);
        if (pl->bg.ev) {
            clReleaseEvent(pl->bg.ev);
            pl->bg.ev = NULL;
        }
    } else {
        pl->bg.running = 1;
    }
    pl->bg.active = 1;
    return CLMD_OK;
}

long clmd_pairlist_bg_step(const clmd_pairlist *pl) { return pl->bg.active ? pl->bg.step : -1; }

void clmd_pairlist_bg_cancel(clmd_pairlist *pl)
{
    bg_join(pl);
    pl->bg.active = 0;
}

/* Makes the overlapped build of step `step` from positions x (a checkpoint's or a snapshot's)
 * the one in flight again, built here: the device snapshot from x (exact, x came from it). */
static int bg_resume(clmd_pairlist *pl, long step, long gen, double skin, const double box[3][3],
                     const double *x, clmd_err *err)
{
    const int n = pl->sys->n, np = pl->dev->npad;
    clmd_pairlist_bg_cancel(pl);
    int rc = bg_setup(pl, err);
    if (rc) return rc;
    pl->bg.skin = skin;
    memcpy(pl->bg.box, box, sizeof pl->bg.box);
    if (x != pl->bg.x) memcpy(pl->bg.x, x, sizeof(double) * 3 * (size_t)n);
    memset(pl->mixed_host, 0, pl->mixed_size * (size_t)np);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            if (pl->fp64) ((double *)pl->mixed_host)[4 * i + k] = pl->bg.x[3 * i + k];
            else ((float *)pl->mixed_host)[4 * i + k] = (float)pl->bg.x[3 * i + k];
        }
    if ((rc = clmd_ocl_write(pl->dev->ocl, pl->bg.pos_snap, 0, pl->mixed_size * (size_t)np,
                             pl->mixed_host, err)))
        return rc;
    pl->bg.step = step;
    pl->bg.gen = gen;
    pl->bg.ev = NULL;
    pl->bg.rc = CLMD_OK;
    bg_main(pl); /* the steps that follow would wait for it anyway */
    pl->bg.active = 1;
    return CLMD_OK;
}

int clmd_pairlist_bg_switch(clmd_pairlist *pl, const double b[3][3], long step, clmd_err *err)
{
    if (!pl->bg.active) return CLMD_OK;
    PROBE_START(pl->probe, P_NLIST_BUILD); /* only the wait for the build shows */
    bg_join(pl);
    PROBE_STOP(pl->probe, P_NLIST_BUILD);
    pl->bg.active = 0;
    if (pl->bg.rc) return clmd_err_set(err, CLMD_ERUNTIME, "the overlapped neighbor-list build failed");
    tune_skin(pl, step);
    clmd_nlist *t = pl->nl;
    pl->nl = pl->bg.nl;
    pl->bg.nl = t;
    pl->nbuilds++;
    const int n = pl->sys->n;
    memcpy(pl->xevent, pl->bg.x, sizeof(double) * 3 * (size_t)n);
    pl->slack_nm = 0;
    pl->reach_nm = molecular_reach(pl, pl->bg.x) + clmd_nlist_skin(pl->nl);
    clmd_probe_count(pl->probe, "nlist_builds", 1);
    clmd_probe_count(pl->probe, "nlist_overlapped_builds", 1);
    /* where an overlapped build's time went: the snapshot's arrival, the search on host threads
     * (with the list's copy into the upload staging), and the steps the device ran meanwhile */
    clmd_probe_count(pl->probe, "nlist_bg_snapshot_wait_us", (long)(pl->bg.wait_ns * 1e-3));
    clmd_probe_count(pl->probe, "nlist_bg_build_us", (long)(pl->bg.build_ns * 1e-3));
    clmd_probe_count(pl->probe, "nlist_bg_steps", step - pl->bg.step);
    PROBE_START(pl->probe, P_UPLOAD);
    int rc = upload_list(pl, err);
    if (!rc) rc = device_box(pl, b, err);
    if (!rc) rc = device_reference(pl, pl->bg.pos_snap, err);
    PROBE_STOP(pl->probe, P_UPLOAD);
    return rc;
}

double clmd_pairlist_nominal_skin(const clmd_pairlist *pl) { return pl->skin_nominal; }

int clmd_pairlist_checks(const clmd_pairlist *pl) { return pl->check; }

/* Largest displacement still allowed from the reference: half the unspent buffer. */
static double half_room(const clmd_pairlist *pl)
{
    /* pruned: at every prune the outer list must hold the pairs within cutoff + s_in */
    return 0.5 * (clmd_nlist_skin(pl->nl) - pl->slack_nm - (pl->prune ? inner_skin(pl) : 0));
}

double clmd_pairlist_room(const clmd_pairlist *pl) { return pl->check ? half_room(pl) : INFINITY; }

int clmd_pairlist_stale_host(const clmd_pairlist *pl, const double *x)
{
    if (!pl->check) return 0;
    if (clmd_nlist_builds(pl->nl) == 0) return 1;
    double h = half_room(pl);
    if (!(h > 0)) return 1;
    double lim = h * h;
    for (int i = 0; i < 3 * pl->sys->n; i += 3) {
        double dx = x[i] - pl->xevent[i], dy = x[i + 1] - pl->xevent[i + 1],
               dz = x[i + 2] - pl->xevent[i + 2];
        if (dx * dx + dy * dy + dz * dz > lim) return 1;
    }
    return 0;
}

int clmd_pairlist_stale_d2(const clmd_pairlist *pl, double max_d2)
{
    if (!pl->check) return 0;
    double h = half_room(pl);
    return !(h > 0) || !(max_d2 <= h * h);
}

/* The slack a box scaling by (1 + eps) adds: two atoms' distance changes by at most
 * eps (rlist + 2 reach). */
static double scaling_slack(const clmd_pairlist *pl, double eps)
{
    return fabs(eps) * (clmd_nlist_rlist(pl->nl) + 2 * pl->reach_nm);
}

int clmd_pairlist_fits_scaling(const clmd_pairlist *pl, double max_d2, double eps)
{
    if (!pl->check || pl->drift) return 1;
    double spent = pl->slack_nm + 2 * sqrt(max_d2 > 0 ? max_d2 : 0) + scaling_slack(pl, eps);
    return spent < clmd_nlist_skin(pl->nl);
}

/* Largest squared displacement from the reference on the host. */
static double host_max_d2(const clmd_pairlist *pl, const double *x)
{
    double m = 0;
    for (int i = 0; i < 3 * pl->sys->n; i += 3) {
        double dx = x[i] - pl->xevent[i], dy = x[i + 1] - pl->xevent[i + 1],
               dz = x[i + 2] - pl->xevent[i + 2], d2 = dx * dx + dy * dy + dz * dz;
        if (d2 > m) m = d2;
    }
    return m;
}

double clmd_pairlist_max_disp_host(const clmd_pairlist *pl, const double *x)
{
    return sqrt(host_max_d2(pl, x));
}

int clmd_pairlist_box_scaled(clmd_pairlist *pl, const double *x, const double b[3][3],
                             double eps, double max_d2, clmd_err *err)
{
    if (!pl->check) return CLMD_OK;
    if (x) max_d2 = host_max_d2(pl, x);
    pl->slack_nm += 2 * sqrt(max_d2 > 0 ? max_d2 : 0) + scaling_slack(pl, eps);
    if (x) memcpy(pl->xevent, x, sizeof(double) * 3 * (size_t)pl->sys->n);
    if (!pl->dev) return CLMD_OK;
    (void)b;
    return device_reference(pl, pl->pos, err);
}

int clmd_pairlist_set_box(clmd_pairlist *pl, const double b[3][3], clmd_err *err)
{
    if (!pl->dev || !pl->plan->periodic) return CLMD_OK;
    return device_box(pl, b, err);
}

int clmd_pairlist_refresh_positions(clmd_pairlist *pl, clmd_err *err)
{
    if (!pl->dev) return CLMD_OK;
    pl->inner_valid = 0;
    return clmd_ocl_launch(pl->dev->ocl, pl->k_positions, groups(pl->sys->n), WG, P_UPLOAD, err);
}

int clmd_pairlist_fits_fresh(const clmd_pairlist *pl, double eps)
{
    return !pl->check || pl->drift || scaling_slack(pl, eps) < clmd_nlist_skin(pl->nl);
}

struct clmd_pairlist_snapshot {
    long builds, last_build;
    double skin, nominal, slack, reach, box[3][3];
    double *xbuild, *xevent;    /* [3n] */
    cl_mem posq_ref, pos_event; /* device */
    cl_mem posq_oref;           /* device, pruned lists */
    int inner_valid;
    double s_in, s_in_next;
    cl_uint gen;
    /* an overlapped build in flight at the save */
    int bg_active;
    long bg_step, bg_gen;
    double bg_skin, bg_box[3][3];
    double *bg_x; /* [3n] */
};

int clmd_pairlist_snapshot_create(const clmd_pairlist *pl, clmd_pairlist_snapshot **out,
                                  clmd_err *err)
{
    clmd_pairlist_snapshot *s = clmd_alloc(sizeof *s);
    *out = s;
    int n = pl->sys->n, rc;
    CLMD_NEW(s->xbuild, 3 * n);
    CLMD_NEW(s->xevent, 3 * n);
    if (!pl->dev) return CLMD_OK;
    if (pl->check) CLMD_NEW(s->bg_x, 3 * n);
    size_t np = (size_t)pl->dev->npad;
    if ((rc = clmd_ocl_alloc(pl->dev->ocl, sizeof(cl_float4) * np, &s->posq_ref, err)) ||
        (rc = clmd_ocl_alloc(pl->dev->ocl, pl->mixed_size * np, &s->pos_event, err)) ||
        (pl->prune && (rc = clmd_ocl_alloc(pl->dev->ocl, sizeof(cl_float4) * np, &s->posq_oref, err)))) {
        clmd_pairlist_snapshot_destroy(out);
        return rc;
    }
    return CLMD_OK;
}

void clmd_pairlist_snapshot_destroy(clmd_pairlist_snapshot **ps)
{
    if (!ps || !*ps) return;
    clmd_free((*ps)->xbuild);
    clmd_free((*ps)->xevent);
    clmd_free((*ps)->bg_x);
    clmd_ocl_release(&(*ps)->posq_ref);
    clmd_ocl_release(&(*ps)->pos_event);
    clmd_ocl_release(&(*ps)->posq_oref);
    clmd_free(*ps);
    *ps = NULL;
}

static int copy_mem(const clmd_pairlist *pl, cl_mem from, cl_mem to, size_t bytes, clmd_err *err)
{
    CL_CHECK(clEnqueueCopyBuffer(clmd_ocl_queue(pl->dev->ocl), from, to, 0, 0, bytes, 0, NULL, NULL),
             err);
    return CLMD_OK;
}

int clmd_pairlist_save(const clmd_pairlist *pl, clmd_pairlist_snapshot *s, clmd_err *err)
{
    int n = pl->sys->n, rc;
    s->builds = pl->nbuilds;
    s->last_build = pl->last_build;
    s->skin = clmd_nlist_skin(pl->nl);
    s->nominal = pl->skin_nominal;
    s->slack = pl->slack_nm;
    s->reach = pl->reach_nm;
    memcpy(s->box, clmd_nlist_box(pl->nl), sizeof s->box);
    memcpy(s->xbuild, clmd_nlist_reference_positions(pl->nl), sizeof(double) * 3 * (size_t)n);
    if (!pl->dev) {
        memcpy(s->xevent, pl->xevent, sizeof(double) * 3 * (size_t)n);
        return CLMD_OK;
    }
    size_t np = (size_t)pl->dev->npad;
    if ((rc = copy_mem(pl, pl->posq_ref, s->posq_ref, sizeof(cl_float4) * np, err)) ||
        (rc = copy_mem(pl, pl->pos_event, s->pos_event, pl->mixed_size * np, err)) ||
        (pl->prune && (rc = copy_mem(pl, pl->posq_oref, s->posq_oref, sizeof(cl_float4) * np, err))))
        return rc;
    s->inner_valid = pl->inner_valid;
    s->s_in = pl->s_in;
    s->s_in_next = pl->s_in_next;
    s->gen = pl->gen;
    /* a build in flight belongs to the state: the run that goes on from a restore switches to
     * it as the saved run would (the wait is the snapshot's positions arriving on the host) */
    s->bg_active = pl->bg.active && s->bg_x;
    if (s->bg_active) {
        bg_join((clmd_pairlist *)pl);
        s->bg_step = pl->bg.step;
        s->bg_gen = pl->bg.gen;
        s->bg_skin = pl->bg.skin;
        memcpy(s->bg_box, pl->bg.box, sizeof s->bg_box);
        memcpy(s->bg_x, pl->bg.x, sizeof(double) * 3 * (size_t)n);
    }
    return CLMD_OK;
}

int clmd_pairlist_restore(clmd_pairlist *pl, const clmd_pairlist_snapshot *s, const double b[3][3],
                          clmd_err *err)
{
    int n = pl->sys->n, rc;
    int rebuilt = pl->nbuilds != s->builds;
    if (rebuilt) {
        /* the identical list: the same positions, box and buffer as the saved build */
        clmd_nlist_set_skin(pl->nl, s->skin);
        PROBE_START(pl->probe, P_NLIST_BUILD);
        rc = clmd_nlist_build(pl->nl, s->xbuild, s->box, err);
        PROBE_STOP(pl->probe, P_NLIST_BUILD);
        if (rc) return rc;
        pl->nbuilds++;
    }
    pl->last_build = s->last_build;
    pl->skin_nominal = s->nominal;
    pl->slack_nm = s->slack;
    pl->reach_nm = s->reach;
    if (!pl->dev) {
        memcpy(pl->xevent, s->xevent, sizeof(double) * 3 * (size_t)n);
        return CLMD_OK;
    }
    size_t np = (size_t)pl->dev->npad;
    if ((rebuilt && (rc = upload_list(pl, err))) || (rc = device_box(pl, b, err)) ||
        (rc = copy_mem(pl, s->posq_ref, pl->posq_ref, sizeof(cl_float4) * np, err)) ||
        (rc = copy_mem(pl, s->pos_event, pl->pos_event, pl->mixed_size * np, err)) ||
        (pl->prune && (rc = copy_mem(pl, s->posq_oref, pl->posq_oref, sizeof(cl_float4) * np, err))))
        return rc;
    if (pl->prune && (rc = reprune(pl, s->inner_valid, s->s_in, s->s_in_next, s->gen, err))) return rc;
    if (!s->bg_active) clmd_pairlist_bg_cancel(pl);
    else if (!pl->bg.active || pl->bg.gen != s->bg_gen) /* switched to, dropped or replaced since */
        return bg_resume(pl, s->bg_step, s->bg_gen, s->bg_skin, s->bg_box, s->bg_x, err);
    return CLMD_OK;
}

clmd_nlist *clmd_pairlist_host(const clmd_pairlist *pl) { return pl->nl; }
long clmd_pairlist_builds(const clmd_pairlist *pl) { return pl->nbuilds; }
double clmd_pairlist_skin(const clmd_pairlist *pl) { return clmd_nlist_skin(pl->nl); }
long clmd_pairlist_last_build(const clmd_pairlist *pl) { return pl->last_build; }

/* ---- checkpoint ---- */

static int read_event_positions(clmd_pairlist *pl, clmd_err *err)
{
    int n = pl->sys->n;
    int rc = clmd_ocl_read(pl->dev->ocl, pl->pos_event, 0, pl->mixed_size * (size_t)n,
                           pl->mixed_host, err);
    for (int i = 0; i < n && !rc; i++)
        for (int k = 0; k < 3; k++)
            pl->xevent[3 * i + k] = pl->fp64 ? ((double *)pl->mixed_host)[4 * i + k]
                                             : ((float *)pl->mixed_host)[4 * i + k];
    return rc;
}

int clmd_pairlist_write_checkpoint(const clmd_pairlist *pl_c, clmd_ckpt_writer *w, clmd_err *err)
{
    clmd_pairlist *pl = (clmd_pairlist *)pl_c; /* the device path refreshes the event copy */
    int n = pl->sys->n, rc;
    if (pl->dev && (rc = read_event_positions(pl, err))) return rc;
    double box[9] = {0};
    if (pl->plan->periodic) memcpy(box, clmd_nlist_box(pl->nl), sizeof box);
    if ((rc = clmd_ckpt_put_f64(w, "list_skin", clmd_nlist_skin(pl->nl), err)) ||
        (rc = clmd_ckpt_put_i64(w, "list_built_at", pl->last_build, err)) ||
        (rc = clmd_ckpt_put_f64(w, "list_slack", pl->slack_nm, err)) ||
        (rc = clmd_ckpt_put_f64(w, "list_reach", pl->reach_nm, err)) ||
        (rc = clmd_ckpt_put(w, "list_box", CLMD_CKPT_F64, box, 9, err)) ||
        (rc = clmd_ckpt_put(w, "list_positions", CLMD_CKPT_F64, clmd_nlist_reference_positions(pl->nl),
                            3 * (size_t)n, err)) ||
        (rc = clmd_ckpt_put(w, "list_reference", CLMD_CKPT_F64, pl->xevent, 3 * (size_t)n, err)) ||
        (rc = clmd_ckpt_put_f64(w, "list_skin_nominal", pl->skin_nominal, err)))
        return rc;
    if (pl->prune && pl->inner_valid) {
        /* the inner list: the positions of its prune (floats, exact in doubles) and its buffer */
        cl_float4 *q = clmd_calloc((size_t)n, sizeof *q);
        double *xq = clmd_calloc(3 * (size_t)n, sizeof *xq);
        rc = clmd_ocl_read(pl->dev->ocl, pl->posq_ref, 0, sizeof *q * (size_t)n, q, err);
        for (int i = 0; i < n && !rc; i++)
            for (int k = 0; k < 3; k++) xq[3 * i + k] = q[i].s[k];
        if (!rc) rc = clmd_ckpt_put(w, "list_prune_positions", CLMD_CKPT_F64, xq, 3 * (size_t)n, err);
        if (!rc) rc = clmd_ckpt_put_f64(w, "list_prune_skin", pl->s_in, err);
        clmd_free(q);
        clmd_free(xq);
        if (rc) return rc;
    }
    if (pl->prune && ((rc = clmd_ckpt_put_f64(w, "list_prune_next", pl->s_in_next, err)) ||
                      (rc = clmd_ckpt_put_i64(w, "list_prune_gen", pl->gen, err))))
        return rc;
    if (pl->bg.active) {
        /* an overlapped build in flight: a restart makes the same list from the same snapshot */
        bg_join(pl);
        if ((rc = clmd_ckpt_put_i64(w, "list_bg_step", pl->bg.step, err)) ||
            (rc = clmd_ckpt_put_f64(w, "list_bg_skin", pl->bg.skin, err)) ||
            (rc = clmd_ckpt_put(w, "list_bg_box", CLMD_CKPT_F64, pl->bg.box, 9, err)) ||
            (rc = clmd_ckpt_put(w, "list_bg_positions", CLMD_CKPT_F64, pl->bg.x, 3 * (size_t)n, err)))
            return rc;
    }
    return CLMD_OK;
}

int clmd_pairlist_read_checkpoint(clmd_pairlist *pl, clmd_ckpt_reader *r, const double b[3][3],
                                  clmd_err *err)
{
    int n = pl->sys->n, rc;
    double skin, slack, reach, box[3][3];
    int64_t built_at;
    double *xb = clmd_calloc(3 * (size_t)n, sizeof *xb);
    if ((rc = clmd_ckpt_get_f64(r, "list_skin", &skin, err)) ||
        (rc = clmd_ckpt_get_i64(r, "list_built_at", &built_at, err)) ||
        (rc = clmd_ckpt_get_f64(r, "list_slack", &slack, err)) ||
        (rc = clmd_ckpt_get_f64(r, "list_reach", &reach, err)) ||
        (rc = clmd_ckpt_get(r, "list_box", CLMD_CKPT_F64, box, 9, err)) ||
        (rc = clmd_ckpt_get(r, "list_positions", CLMD_CKPT_F64, xb, 3 * (size_t)n, err)) ||
        (rc = clmd_ckpt_get(r, "list_reference", CLMD_CKPT_F64, pl->xevent, 3 * (size_t)n, err)))
        goto done;
    /* the identical list: same buffer, positions and box as the original build */
    clmd_nlist_set_skin(pl->nl, skin);
    PROBE_START(pl->probe, P_NLIST_BUILD);
    rc = clmd_nlist_build(pl->nl, xb, box, err);
    PROBE_STOP(pl->probe, P_NLIST_BUILD);
    if (rc) goto done;
    pl->nbuilds++;
    pl->last_build = (long)built_at;
    pl->slack_nm = slack;
    pl->reach_nm = reach;
    {
        clmd_ckpt_type t;
        size_t l;
        if (clmd_ckpt_find(r, "list_skin_nominal", &t, &l) &&
            (rc = clmd_ckpt_get_f64(r, "list_skin_nominal", &pl->skin_nominal, err)))
            goto done;
        /* written before the nominal buffer was kept apart: the list's own */
        if (!clmd_ckpt_find(r, "list_skin_nominal", &t, &l)) pl->skin_nominal = skin;
    }
    if (!pl->dev) goto done;
    /* wraps for the current box, posq from the restored positions, and the reference from the
     * event positions exactly as the original run's kernels made it */
    int np = pl->dev->npad;
    memset(pl->mixed_host, 0, pl->mixed_size * (size_t)np);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            if (pl->fp64) ((double *)pl->mixed_host)[4 * i + k] = pl->xevent[3 * i + k];
            else ((float *)pl->mixed_host)[4 * i + k] = (float)pl->xevent[3 * i + k];
        }
    if ((rc = upload_list(pl, err)) || (rc = device_box(pl, b, err)) ||
        (rc = clmd_ocl_write(pl->dev->ocl, pl->pos_event, 0, pl->mixed_size * (size_t)np,
                             pl->mixed_host, err)) ||
        (rc = device_reference(pl, pl->pos_event, err)))
        goto done;
    if (pl->prune) {
        clmd_ckpt_type t;
        size_t l;
        double s_in = INFINITY, s_next = INFINITY;
        int64_t gen = 0;
        int valid = clmd_ckpt_find(r, "list_prune_positions", &t, &l);
        if ((clmd_ckpt_find(r, "list_prune_next", &t, &l) &&
             (rc = clmd_ckpt_get_f64(r, "list_prune_next", &s_next, err))) ||
            (clmd_ckpt_find(r, "list_prune_gen", &t, &l) &&
             (rc = clmd_ckpt_get_i64(r, "list_prune_gen", &gen, err))))
            goto done;
        if (valid) {
            cl_float4 *q = clmd_calloc((size_t)np, sizeof *q);
            if (!(rc = clmd_ckpt_get(r, "list_prune_positions", CLMD_CKPT_F64, xb, 3 * (size_t)n, err)) &&
                !(rc = clmd_ckpt_get_f64(r, "list_prune_skin", &s_in, err))) {
                for (int i = 0; i < n; i++)
                    for (int k = 0; k < 3; k++) q[i].s[k] = (float)xb[3 * i + k];
                rc = clmd_ocl_write(pl->dev->ocl, pl->posq_ref, 0, sizeof *q * (size_t)n, q, err);
            }
            clmd_free(q);
            if (rc) goto done;
        }
        if ((rc = reprune(pl, valid, s_in, s_next, (cl_uint)gen, err))) goto done;
    }
    clmd_ckpt_type type;
    size_t len;
    clmd_pairlist_bg_cancel(pl);
    if (clmd_ckpt_find(r, "list_bg_step", &type, &len)) {
        int64_t bstep;
        double bskin, bbox[3][3];
        if ((rc = bg_setup(pl, err)) || (rc = clmd_ckpt_get_i64(r, "list_bg_step", &bstep, err)) ||
            (rc = clmd_ckpt_get_f64(r, "list_bg_skin", &bskin, err)) ||
            (rc = clmd_ckpt_get(r, "list_bg_box", CLMD_CKPT_F64, bbox, 9, err)) ||
            (rc = clmd_ckpt_get(r, "list_bg_positions", CLMD_CKPT_F64, pl->bg.x, 3 * (size_t)n, err)) ||
            (rc = bg_resume(pl, (long)bstep, pl->bg.gen + 1, bskin, bbox, pl->bg.x, err)))
            goto done;
    }
done:
    clmd_free(xb);
    return rc;
}
