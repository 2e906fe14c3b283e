#include "nlist/nlist.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "system/system.h"

#define CLMD_NLIST_MAX_THREADS 16

/* Inline min/max: the libm fmin/fmax are calls when NaN semantics must be kept. */
static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }
static inline int popcount8(unsigned m)
{
    m = m - ((m >> 1) & 0x55u);
    m = (m & 0x33u) + ((m >> 2) & 0x33u);
    return (int)((m + (m >> 4)) & 0x0fu);
}

struct clmd_nlist {
    const clmd_system *sys;
    int n, periodic;
    double cutoff, skin, rlist;
    long builds;
    double *xref;     /* [3n] positions at the last build */
    double *w;        /* [3n] wrapped positions */
    double *s;        /* [3n] fractional coordinates in [0,1) (periodic) */
    int *order, *key; /* sort scratch */
    int *cell_start, *cell_atoms;
    int ncell[3], cap_cells;
    int *image;           /* [3n] image counts applied at the last build (periodic lists) */
    unsigned char *jshift; /* per entry image code */
    int shift_ok;         /* box wide enough (2 rlist) for one image per entry */
    /* per-thread search state */
    int nthreads;
    int *tstamp[CLMD_NLIST_MAX_THREADS], *tentry[CLMD_NLIST_MAX_THREADS];
    unsigned *tlist[CLMD_NLIST_MAX_THREADS];
    unsigned char *tshift[CLMD_NLIST_MAX_THREADS];
    long tcap[CLMD_NLIST_MAX_THREADS];
    /* the list */
    int nclusters, cap_clusters;
    int *cluster_atoms, *jstart;
    unsigned *jlist;
    long njlist, cap_jlist, npairs;
};

void clmd_min_image(const clmd_system *sys, double d[3])
{
    if (!sys->periodic) return;
    const double(*b)[3] = sys->box;
    double k = round(d[2] / b[2][2]);
    d[0] -= k * b[2][0];
    d[1] -= k * b[2][1];
    d[2] -= k * b[2][2];
    k = round(d[1] / b[1][1]);
    d[0] -= k * b[1][0];
    d[1] -= k * b[1][1];
    k = round(d[0] / b[0][0]);
    d[0] -= k * b[0][0];
}

int clmd_nlist_create(const clmd_system *sys, int periodic, double cutoff_nm, double skin_nm,
                      clmd_nlist **out, clmd_err *err)
{
    *out = NULL;
    if (!(cutoff_nm > 0) || skin_nm < 0)
        return clmd_err_set(err, CLMD_EINPUT, "neighbor list: cutoff %g and skin %g are invalid",
                            cutoff_nm, skin_nm);
    if (sys->n >= (1 << 24))
        return clmd_err_set(err, CLMD_EINPUT, "neighbor list: %d particles is more than the 16.7 "
                            "million the list layout addresses", sys->n);
    if (periodic && !sys->periodic)
        return clmd_err_set(err, CLMD_EINPUT, "neighbor list: periodic list for a system without a box");
    if (periodic) {
        const double(*b)[3] = sys->box;
        double minw = dmin(b[0][0], dmin(b[1][1], b[2][2]));
        if (cutoff_nm > 0.5 * minw)
            return clmd_err_set(err, CLMD_EINPUT, "the cutoff %g nm is more than half the box width "
                                "(%g nm): use a larger box or a shorter cutoff", cutoff_nm, minw);
    }
    clmd_nlist *nl = clmd_alloc(sizeof *nl);
    nl->sys = sys;
    nl->n = sys->n;
    nl->periodic = periodic;
    nl->cutoff = cutoff_nm;
    nl->skin = skin_nm;
    nl->rlist = cutoff_nm + skin_nm;
    int n = sys->n;
    CLMD_NEW(nl->xref, 3 * n);
    CLMD_NEW(nl->w, 3 * n);
    CLMD_NEW(nl->s, 3 * n);
    CLMD_NEW(nl->order, n);
    CLMD_NEW(nl->key, n);
    CLMD_NEW(nl->cell_atoms, n);
    CLMD_NEW(nl->image, 3 * n);
    if (periodic) {
        const double(*b)[3] = sys->box;
        double minw = dmin(b[0][0], dmin(b[1][1], b[2][2]));
        nl->shift_ok = minw >= 2 * nl->rlist;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("CLMD_NLIST_THREADS");
    if (env && *env) cores = strtol(env, NULL, 10);
    nl->nthreads = cores < 1 ? 1 : cores > CLMD_NLIST_MAX_THREADS ? CLMD_NLIST_MAX_THREADS : (int)cores;
    for (int t = 0; t < nl->nthreads; t++) {
        CLMD_NEW(nl->tstamp[t], n);
        CLMD_NEW(nl->tentry[t], n);
        for (int i = 0; i < n; i++) nl->tstamp[t][i] = -1;
    }
    *out = nl;
    return CLMD_OK;
}

void clmd_nlist_destroy(clmd_nlist **pnl)
{
    if (!pnl || !*pnl) return;
    clmd_nlist *nl = *pnl;
    clmd_free(nl->xref);
    clmd_free(nl->w);
    clmd_free(nl->s);
    clmd_free(nl->order);
    clmd_free(nl->key);
    clmd_free(nl->cell_start);
    clmd_free(nl->cell_atoms);
    clmd_free(nl->image);
    clmd_free(nl->jshift);
    for (int t = 0; t < nl->nthreads; t++) {
        clmd_free(nl->tstamp[t]);
        clmd_free(nl->tentry[t]);
        clmd_free(nl->tlist[t]);
        clmd_free(nl->tshift[t]);
    }
    clmd_free(nl->cluster_atoms);
    clmd_free(nl->jstart);
    clmd_free(nl->jlist);
    clmd_free(nl);
    *pnl = NULL;
}

/* The frame the grid lives in: box rows B (lower triangular) and its inverse, or for an open
 * system a bounding box of the atoms. */
typedef struct frame {
    double b[3][3];
    double inv_norm[3]; /* |column k of B^-1|: fractional change per nm along axis k */
    double origin[3];
    int periodic;
} frame;

static void to_frac(const frame *f, const double x[3], double s[3])
{
    double y[3] = {x[0] - f->origin[0], x[1] - f->origin[1], x[2] - f->origin[2]};
    s[2] = y[2] / f->b[2][2];
    s[1] = (y[1] - s[2] * f->b[2][1]) / f->b[1][1];
    s[0] = (y[0] - s[1] * f->b[1][0] - s[2] * f->b[2][0]) / f->b[0][0];
}

static void from_frac(const frame *f, const double s[3], double x[3])
{
    for (int d = 0; d < 3; d++)
        x[d] = f->origin[d] + s[0] * f->b[0][d] + s[1] * f->b[1][d] + s[2] * f->b[2][d];
}

static void make_frame(const clmd_nlist *nl, const double *x, frame *f)
{
    memset(f, 0, sizeof *f);
    const clmd_system *sys = nl->sys;
    if (nl->periodic) {
        memcpy(f->b, sys->box, sizeof f->b);
        f->periodic = 1;
    } else {
        double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int i = 0; i < nl->n; i++)
            for (int d = 0; d < 3; d++) {
                lo[d] = dmin(lo[d], x[3 * i + d]);
                hi[d] = dmax(hi[d], x[3 * i + d]);
            }
        for (int d = 0; d < 3; d++) {
            f->origin[d] = lo[d];
            f->b[d][d] = dmax(hi[d] - lo[d], 1e-3) * (1 + 1e-9) + 1e-9;
        }
    }
    /* columns of B^-1 for lower-triangular B (rows a, b, c) */
    const double(*b)[3] = f->b;
    double inv[3][3] = {{0}};
    inv[0][0] = 1 / b[0][0];
    inv[1][1] = 1 / b[1][1];
    inv[2][2] = 1 / b[2][2];
    inv[1][0] = -b[1][0] / (b[0][0] * b[1][1]);
    inv[2][1] = -b[2][1] / (b[1][1] * b[2][2]);
    inv[2][0] = (b[1][0] * b[2][1] - b[1][1] * b[2][0]) / (b[0][0] * b[1][1] * b[2][2]);
    /* s = x B^-1: s_k = sum_d x_d inv[d][k]; the gradient of s_k is column k */
    for (int k = 0; k < 3; k++)
        f->inv_norm[k] = sqrt(inv[0][k] * inv[0][k] + inv[1][k] * inv[1][k] + inv[2][k] * inv[2][k]);
}


/* qsort has no context argument in C11: sort the order array by the s_c of each atom through a
 * file-scope pointer, set just before the call. */
static const double *sort_s;
static int cmp_by_c(const void *a, const void *b)
{
    double x = sort_s[3 * *(const int *)a + 2], y = sort_s[3 * *(const int *)b + 2];
    if (x != y) return (x > y) - (x < y);
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void ensure_list(clmd_nlist *nl, long need)
{
    if (need <= nl->cap_jlist) return;
    long nc = nl->cap_jlist ? nl->cap_jlist : 4096;
    while (nc < need) nc *= 2;
    nl->jlist = clmd_realloc(nl->jlist, sizeof *nl->jlist * (size_t)nl->cap_jlist,
                             sizeof *nl->jlist * (size_t)nc);
    nl->jshift = clmd_realloc(nl->jshift, (size_t)nl->cap_jlist, (size_t)nc);
    nl->cap_jlist = nc;
}

/* Image code of an entry: (i0+1)*9 + (i1+1)*3 + (i2+1) for image counts in -1..1 along a, b,
 * c, else CLMD_NLIST_PAIR_IMAGE. */
static unsigned char image_code(const int img[3])
{
    for (int d = 0; d < 3; d++)
        if (img[d] < -1 || img[d] > 1) return CLMD_NLIST_PAIR_IMAGE;
    return (unsigned char)((img[0] + 1) * 9 + (img[1] + 1) * 3 + (img[2] + 1));
}

typedef struct worker {
    clmd_nlist *nl;
    const frame *f;
    int c0, c1;          /* clusters [c0, c1) */
    int *stamp, *entry_of;
    long *start;         /* [c1 - c0] entry offsets within list */
    unsigned *list;
    unsigned char *shift; /* image code of each entry (see nlist.h) */
    long n, cap, npairs;
} worker;

static void worker_grow(worker *w, long need)
{
    if (need <= w->cap) return;
    long nc = w->cap ? 2 * w->cap : 65536;
    while (nc < need) nc *= 2;
    w->list = clmd_realloc(w->list, sizeof *w->list * (size_t)w->cap, sizeof *w->list * (size_t)nc);
    w->shift = clmd_realloc(w->shift, (size_t)w->cap, (size_t)nc);
    w->cap = nc;
}

/* Step 4 of a build for the clusters [c0, c1): every atom within rlist of some lane atom of
 * the cluster, under periodic images, with exclusions cleared from the lane masks. */
static void *search_clusters(void *arg)
{
    worker *w = arg;
    clmd_nlist *nl = w->nl;
    const double rl2 = nl->rlist * nl->rlist;
    const int *nc = nl->ncell;
    const frame f = *w->f;
    const clmd_system *sys = nl->sys;
    int *stamp = w->stamp, *entry_of = w->entry_of;
    long nj = 0, npairs = 0;
    for (int ci = w->c0; ci < w->c1; ci++) {
        w->start[ci - w->c0] = nj;
        const int *lanes = nl->cluster_atoms + ci * CLMD_CLUSTER;
        double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int l = 0; l < CLMD_CLUSTER; l++) {
            if (lanes[l] < 0) continue;
            for (int d = 0; d < 3; d++) {
                lo[d] = dmin(lo[d], nl->w[3 * lanes[l] + d]);
                hi[d] = dmax(hi[d], nl->w[3 * lanes[l] + d]);
            }
        }
        /* fractional range of the box corners, dilated by rlist */
        double slo[3] = {INFINITY, INFINITY, INFINITY}, shi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int corner = 0; corner < 8; corner++) {
            double p[3] = {corner & 1 ? hi[0] : lo[0], corner & 2 ? hi[1] : lo[1],
                           corner & 4 ? hi[2] : lo[2]};
            double sp[3];
            to_frac(&f, p, sp);
            for (int d = 0; d < 3; d++) {
                slo[d] = dmin(slo[d], sp[d]);
                shi[d] = dmax(shi[d], sp[d]);
            }
        }
        int cmin[3], cmax[3];
        for (int d = 0; d < 3; d++) {
            cmin[d] = (int)floor((slo[d] - nl->rlist * f.inv_norm[d]) * nc[d]);
            cmax[d] = (int)floor((shi[d] + nl->rlist * f.inv_norm[d]) * nc[d]);
            if (!f.periodic) {
                if (cmin[d] < 0) cmin[d] = 0;
                if (cmax[d] > nc[d] - 1) cmax[d] = nc[d] - 1;
            }
        }
        for (int c0 = cmin[0]; c0 <= cmax[0]; c0++)
            for (int c1 = cmin[1]; c1 <= cmax[1]; c1++)
                for (int c2 = cmin[2]; c2 <= cmax[2]; c2++) {
                    int cc[3] = {c0, c1, c2}, img[3] = {0, 0, 0};
                    for (int d = 0; d < 3; d++) {
                        img[d] = (int)floor((double)cc[d] / nc[d]);
                        cc[d] -= img[d] * nc[d];
                    }
                    double shift[3];
                    for (int d = 0; d < 3; d++)
                        shift[d] = img[0] * f.b[0][d] + img[1] * f.b[1][d] + img[2] * f.b[2][d];
                    int cell = (cc[0] * nc[1] + cc[1]) * nc[2] + cc[2];
                    unsigned char code = image_code(img);
                    for (int a = nl->cell_start[cell]; a < nl->cell_start[cell + 1]; a++) {
                        int j = nl->cell_atoms[a];
                        if (stamp[j] == ci && w->shift[entry_of[j]] == code) continue;
                        double p[3] = {nl->w[3 * j] + shift[0], nl->w[3 * j + 1] + shift[1],
                                       nl->w[3 * j + 2] + shift[2]};
                        double db = 0;
                        for (int d = 0; d < 3; d++) {
                            double e = dmax(0, dmax(lo[d] - p[d], p[d] - hi[d]));
                            db += e * e;
                        }
                        if (db > rl2) continue;
                        int near = 0;
                        for (int l = 0; l < CLMD_CLUSTER && !near; l++) {
                            if (lanes[l] < 0) continue;
                            const double *wi = nl->w + 3 * lanes[l];
                            double dx = p[0] - wi[0], dy = p[1] - wi[1], dz = p[2] - wi[2];
                            near = dx * dx + dy * dy + dz * dz <= rl2;
                        }
                        if (!near) continue;
                        if (stamp[j] == ci) {
                            /* a second image of j is near this cluster too (small box): the
                             * kernel must take the minimum image pair by pair */
                            w->shift[entry_of[j]] = CLMD_NLIST_PAIR_IMAGE;
                            continue;
                        }
                        unsigned mask = 0;
                        for (int l = 0; l < CLMD_CLUSTER; l++)
                            if (lanes[l] >= 0 && lanes[l] != j) mask |= 1u << l;
                        worker_grow(w, nj + 1);
                        stamp[j] = ci;
                        entry_of[j] = (int)nj;
                        w->shift[nj] = nl->shift_ok ? code : CLMD_NLIST_PAIR_IMAGE;
                        w->list[nj++] = ((unsigned)j << 8) | mask;
                    }
                }
        /* clear excluded lanes */
        if (sys->excl) {
            for (int l = 0; l < CLMD_CLUSTER; l++) {
                int i = lanes[l];
                if (i < 0) continue;
                for (int e = sys->excl_start[i]; e < sys->excl_start[i + 1]; e++) {
                    int j = sys->excl[e];
                    if (stamp[j] == ci) w->list[entry_of[j]] &= ~(1u << l);
                }
            }
        }
        /* drop entries no lane interacts with, count pair evaluations */
        /* stamps hold cluster indices, which later builds reuse: clear what was set */
        for (long e = w->start[ci - w->c0]; e < nj; e++) stamp[w->list[e] >> 8] = -1;
        long wr = w->start[ci - w->c0];
        for (long e = w->start[ci - w->c0]; e < nj; e++) {
            unsigned m = w->list[e] & 0xffu;
            if (!m) continue;
            w->shift[wr] = w->shift[e];
            w->list[wr++] = w->list[e];
            npairs += popcount8(m);
        }
        nj = wr;
    }
    w->n = nj;
    w->npairs = npairs;
    return NULL;
}

int clmd_nlist_build(clmd_nlist *nl, const double *x, clmd_err *err)
{
    const int n = nl->n;
    memcpy(nl->xref, x, sizeof(double) * 3 * (size_t)n);
    frame f;
    make_frame(nl, x, &f);

    /* 1. fractional and wrapped coordinates */
    for (int i = 0; i < n; i++) {
        double *s = nl->s + 3 * i;
        to_frac(&f, x + 3 * i, s);
        for (int d = 0; d < 3; d++) {
            nl->image[3 * i + d] = f.periodic ? -(int)floor(s[d]) : 0;
            if (f.periodic) s[d] -= floor(s[d]);
            if (s[d] >= 1.0) s[d] = nextafter(1.0, 0.0);
            if (s[d] < 0) s[d] = 0;
        }
        from_frac(&f, s, nl->w + 3 * i);
    }

    /* 2. columns across a and b sized so that a cluster of 8 is roughly cubic */
    double vol = f.b[0][0] * f.b[1][1] * f.b[2][2];
    double edge = cbrt(CLMD_CLUSTER * vol / (n > 0 ? n : 1));
    int nca = (int)dmax(1, floor(1.0 / (f.inv_norm[0] * edge)));
    int ncb = (int)dmax(1, floor(1.0 / (f.inv_norm[1] * edge)));
    int ncol = nca * ncb;
    int *colcount = clmd_calloc(ncol + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        int ca = (int)(nl->s[3 * i] * nca), cb = (int)(nl->s[3 * i + 1] * ncb);
        if (ca >= nca) ca = nca - 1;
        if (cb >= ncb) cb = ncb - 1;
        nl->key[i] = ca * ncb + cb;
        colcount[nl->key[i] + 1]++;
    }
    for (int c = 0; c < ncol; c++) colcount[c + 1] += colcount[c];
    int *fill = clmd_calloc(ncol, sizeof(int));
    for (int i = 0; i < n; i++) nl->order[colcount[nl->key[i]] + fill[nl->key[i]]++] = i;
    sort_s = nl->s;
    int nclusters = 0;
    for (int c = 0; c < ncol; c++) {
        int cnt = colcount[c + 1] - colcount[c];
        qsort(nl->order + colcount[c], (size_t)cnt, sizeof(int), cmp_by_c);
        nclusters += (cnt + CLMD_CLUSTER - 1) / CLMD_CLUSTER;
    }
    if (nclusters > nl->cap_clusters) {
        clmd_free(nl->cluster_atoms);
        clmd_free(nl->jstart);
        nl->cap_clusters = nclusters + nclusters / 4 + 1;
        CLMD_NEW(nl->cluster_atoms, (size_t)nl->cap_clusters * CLMD_CLUSTER);
        CLMD_NEW(nl->jstart, nl->cap_clusters + 1);
    }
    nl->nclusters = nclusters;
    int k = 0;
    for (int c = 0; c < ncol; c++)
        for (int a = colcount[c]; a < colcount[c + 1]; a += CLMD_CLUSTER) {
            for (int l = 0; l < CLMD_CLUSTER; l++)
                nl->cluster_atoms[k * CLMD_CLUSTER + l] = a + l < colcount[c + 1] ? nl->order[a + l] : -1;
            k++;
        }
    clmd_free(colcount);
    clmd_free(fill);

    /* 3. atom cells in fractional space, about rlist/2 wide */
    int total_cells = 1;
    for (int d = 0; d < 3; d++) {
        double width = 1.0 / f.inv_norm[d];
        int nc = (int)floor(width / (0.5 * nl->rlist));
        if (nc < 1) nc = 1;
        if (nc > 256) nc = 256;
        nl->ncell[d] = nc;
        total_cells *= nc;
    }
    if (total_cells + 1 > nl->cap_cells) {
        clmd_free(nl->cell_start);
        nl->cap_cells = total_cells + 1;
        CLMD_NEW(nl->cell_start, nl->cap_cells);
    }
    memset(nl->cell_start, 0, sizeof(int) * (size_t)(total_cells + 1));
    const int *nc = nl->ncell;
    for (int i = 0; i < n; i++) {
        int c[3];
        for (int d = 0; d < 3; d++) {
            c[d] = (int)(nl->s[3 * i + d] * nc[d]);
            if (c[d] >= nc[d]) c[d] = nc[d] - 1;
        }
        nl->key[i] = (c[0] * nc[1] + c[1]) * nc[2] + c[2];
        nl->cell_start[nl->key[i] + 1]++;
    }
    for (int c = 0; c < total_cells; c++) nl->cell_start[c + 1] += nl->cell_start[c];
    {
        int *pos = clmd_calloc(total_cells, sizeof(int));
        for (int i = 0; i < n; i++)
            nl->cell_atoms[nl->cell_start[nl->key[i]] + pos[nl->key[i]]++] = i;
        clmd_free(pos);
    }

    /* 4. the cluster searches, split over threads in contiguous ranges; concatenating the
     * ranges in order makes the list independent of the thread count */
    int nt = nl->nthreads;
    if (nt > nclusters / 64) nt = nclusters / 64;
    if (nt < 1) nt = 1;
    worker wk[CLMD_NLIST_MAX_THREADS];
    pthread_t tid[CLMD_NLIST_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        wk[t] = (worker){nl, &f, (int)((long)nclusters * t / nt), (int)((long)nclusters * (t + 1) / nt),
                         nl->tstamp[t], nl->tentry[t], NULL, nl->tlist[t], nl->tshift[t], 0, nl->tcap[t], 0};
        wk[t].start = clmd_calloc(wk[t].c1 - wk[t].c0 + 1, sizeof(long));
    }
    for (int t = 1; t < nt; t++)
        if (pthread_create(&tid[t], NULL, search_clusters, &wk[t]) != 0) search_clusters(&wk[t]), tid[t] = 0;
    search_clusters(&wk[0]);
    for (int t = 1; t < nt; t++)
        if (tid[t]) pthread_join(tid[t], NULL);
    long nj = 0, npairs = 0;
    for (int t = 0; t < nt; t++) nj += wk[t].n;
    ensure_list(nl, nj);
    long off = 0;
    for (int t = 0; t < nt; t++) {
        for (int c = wk[t].c0; c < wk[t].c1; c++) nl->jstart[c] = (int)(off + wk[t].start[c - wk[t].c0]);
        memcpy(nl->jlist + off, wk[t].list, sizeof(unsigned) * (size_t)wk[t].n);
        memcpy(nl->jshift + off, wk[t].shift, (size_t)wk[t].n);
        off += wk[t].n;
        npairs += wk[t].npairs;
        nl->tlist[t] = wk[t].list; /* keep the grown buffers for the next build */
        nl->tshift[t] = wk[t].shift;
        nl->tcap[t] = wk[t].cap;
        clmd_free(wk[t].start);
    }
    nl->jstart[nclusters] = (int)nj;
    if (nj >= 0x7fffffffL)
        return clmd_err_set(err, CLMD_ERUNTIME, "neighbor list too long (%ld entries)", nj);
    nl->njlist = nj;
    nl->npairs = npairs;
    nl->builds++;
    return CLMD_OK;
}

int clmd_nlist_needs_rebuild(const clmd_nlist *nl, const double *x)
{
    if (nl->builds == 0) return 1;
    double lim = 0.25 * nl->skin * nl->skin;
    for (int i = 0; i < 3 * nl->n; i += 3) {
        double dx = x[i] - nl->xref[i], dy = x[i + 1] - nl->xref[i + 1],
               dz = x[i + 2] - nl->xref[i + 2];
        if (dx * dx + dy * dy + dz * dz > lim) return 1;
    }
    return 0;
}

clmd_nlist_view clmd_nlist_get(const clmd_nlist *nl)
{
    clmd_nlist_view v = {nl->nclusters, nl->cluster_atoms, nl->jstart, nl->jlist, nl->npairs,
                         nl->periodic ? nl->jshift : NULL, nl->periodic ? nl->image : NULL};
    return v;
}

void clmd_nlist_set_skin(clmd_nlist *nl, double skin_nm)
{
    nl->skin = skin_nm;
    nl->rlist = nl->cutoff + skin_nm;
    if (nl->periodic) {
        const double(*b)[3] = nl->sys->box;
        nl->shift_ok = dmin(b[0][0], dmin(b[1][1], b[2][2])) >= 2 * nl->rlist;
    }
}

double clmd_nlist_rlist(const clmd_nlist *nl) { return nl->rlist; }
double clmd_nlist_skin(const clmd_nlist *nl) { return nl->skin; }
long clmd_nlist_builds(const clmd_nlist *nl) { return nl->builds; }
const double *clmd_nlist_reference_positions(const clmd_nlist *nl) { return nl->xref; }

long clmd_nlist_for_each_pair(const clmd_nlist *nl, const double *x, double cutoff,
                              void (*fn)(int i, int j, double r2, void *ctx), void *ctx)
{
    long count = 0;
    double c2 = cutoff * cutoff;
    for (int ci = 0; ci < nl->nclusters; ci++)
        for (int e = nl->jstart[ci]; e < nl->jstart[ci + 1]; e++) {
            int j = (int)(nl->jlist[e] >> 8);
            unsigned m = nl->jlist[e] & 0xffu;
            for (int l = 0; l < CLMD_CLUSTER; l++) {
                int i = nl->cluster_atoms[ci * CLMD_CLUSTER + l];
                if (!(m & (1u << l)) || i >= j) continue;
                double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1],
                               x[3 * j + 2] - x[3 * i + 2]};
                if (nl->periodic) clmd_min_image(nl->sys, d);
                double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                if (r2 < c2) {
                    count++;
                    if (fn) fn(i, j, r2, ctx);
                }
            }
        }
    return count;
}
