#include "nlist/nlist.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NLIST_HAVE_AVX2 1
#endif

#include "core/mem.h"
#include "system/box.h"
#include "system/system.h"

#define CLMD_NLIST_MAX_THREADS 16
/* Units of work handed out to the build threads one at a time (dense and sparse regions cost
 * very different amounts, so static ranges would leave threads idle): */
#define NLIST_CHUNK_CLUSTERS 8  /* i-clusters per search chunk */
#define NLIST_CHUNK_ATOMS 4096  /* atoms per wrapping chunk */
#define NLIST_CHUNK_COLUMNS 4   /* columns per sorting chunk */

/* Inline min/max: the libm fmin/fmax are calls when NaN semantics must be kept. */
static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }
static inline int popcount8(unsigned m)
{
    m = m - ((m >> 1) & 0x55u);
    m = (m & 0x33u) + ((m >> 2) & 0x33u);
    return (int)((m + (m >> 4)) & 0x0fu);
}

/* What the search of one i-cluster found in one j-cluster: the j lanes listed, and for each its
 * image code and its i-lane mask. */
typedef struct visit {
    int cj;
    unsigned near;
    unsigned char code[CLMD_CLUSTER], mask[CLMD_CLUSTER];
} visit;

/* Search state of one build thread, kept between builds (a cache line of its own: the
 * counters change at every cluster). */
typedef struct nlist_thread {
    _Alignas(64) struct clmd_nlist *nl;
    int t; /* 0: the thread that calls clmd_nlist_build */
    int *cstamp, *cvisit; /* [n]: i-cluster that last visited cluster c (-1: none), its visit */
    visit *vis;
    long vcap, vmax; /* vmax: the most visits of one cluster this thread met */
    unsigned *list; /* entries of the chunks this thread searched, in its order */
    unsigned char *shift;
    long cap, n, npairs;
} nlist_thread;

/* A barrier whose party count is set once the threads exist (so a thread that could not be
 * started is simply left out). */
typedef struct nlist_barrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int parties, waiting;
    unsigned gen;
} nlist_barrier;

/* The frame the grid lives in: box rows B (lower triangular) and its inverse, or for an open
 * system a bounding box of the atoms. */
typedef struct frame {
    double b[3][3];
    double inv_norm[3]; /* |column k of B^-1|: fractional change per nm along axis k */
    double origin[3];
    int periodic;
} frame;

typedef struct cskey {
    double c; /* fractional c */
    int i;    /* atom */
} cskey;

struct clmd_nlist {
    const clmd_system *sys;
    int n, periodic;
    double cutoff, skin, rlist;
    long builds;
    double *xref;          /* [3n] positions at the last build */
    double *w;             /* [3n] wrapped positions */
    double *s;             /* [3n] fractional coordinates in [0,1) (periodic) */
    int *image;            /* [3n] image counts applied at the last build (periodic lists) */
    int shift_ok;          /* box wide enough (2 rlist) for one image per entry */
    frame f;               /* of the current build */
    /* columns across a and b (nca x ncb); column k holds atoms col_atoms[k] .. col_atoms[k+1]-1
     * of csort (sorted along c) and clusters col_start[k] .. col_start[k+1]-1 */
    int nca, ncb, cap_cols;
    int *col_atoms, *col_start;
    int *key;              /* [n] column of each atom */
    cskey *csort;          /* [n] atoms grouped by column */
    int *slot;             /* [n] 8 * cluster + lane of each atom */
    /* the clusters and what the search reads of them */
    int nclusters, cap_clusters;
    int *cluster_atoms, *jstart;
    double *cl_box;        /* [6 per cluster]: lo xyz, hi xyz of the wrapped lane positions */
    double *cl_lanes;      /* [24 per cluster]: x[8], y[8], z[8]; padding lanes repeat lane 0 */
    double *cl_sc;         /* [2 per cluster]: lowest and highest fractional c of the lanes (a
                            * compact copy of cl_sf's c bounds for the bisection along columns) */
    double *cl_sf;         /* [6 per cluster]: lowest a, b, c and highest a, b, c fractional
                            * coordinates of the lanes (the search's window, read in cluster
                            * order instead of gathered from the atoms') */
    unsigned char *cl_real; /* [per cluster]: bit k set when lane k is an atom */
    /* search chunks: the thread that searched chunk k and where its entries start in that
     * thread's buffer */
    int *chunk_thread;
    long *chunk_off;
    /* the build team: nthreads - 1 workers that wait between builds */
    int nthreads, nworkers, quit;
    int avx2;              /* the search's AVX2 version runs (same list bit for bit) */
    pthread_t tid[CLMD_NLIST_MAX_THREADS];
    nlist_barrier bar;
    nlist_thread th[CLMD_NLIST_MAX_THREADS];
    atomic_int next_atoms, next_cols, next_chunk, next_copy;
    /* the list */
    unsigned *jlist;
    unsigned char *jshift; /* per entry image code */
    long njlist, cap_jlist, npairs;
    /* Batched copies (system.h nseg > 1): each copy searched on its own by a one-thread list of
     * the base system, the copies shared out over this list's team, the results laid end to end
     * (clusters, entries and images shifted to the copy's particles). */
    int nseg, seg_stride;
    struct clmd_nlist **sub;
    int tiles;             /* the half list of cluster pairs (clmd_nlist_set_tiles) */
    const double *seg_x;   /* the build's positions and box, for the team */
    const double (*seg_box)[3];
    atomic_int next_seg;
    int seg_failed;
};


static void barrier_wait(nlist_barrier *b)
{
    pthread_mutex_lock(&b->mu);
    unsigned gen = b->gen;
    if (++b->waiting == b->parties) {
        b->waiting = 0;
        b->gen++;
        pthread_cond_broadcast(&b->cv);
    } else {
        while (gen == b->gen) pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
}

static void *worker_main(void *arg);

static int nlist_create(const clmd_system *sys, int periodic, double cutoff_nm, double skin_nm,
                        int max_threads, clmd_nlist **out, clmd_err *err);

int clmd_nlist_create(const clmd_system *sys, int periodic, double cutoff_nm, double skin_nm,
                      clmd_nlist **out, clmd_err *err)
{
    return nlist_create(sys, periodic, cutoff_nm, skin_nm, 0, out, err);
}

/* max_threads 0: as many as the cores and the size make useful. */
static int nlist_create(const clmd_system *sys, int periodic, double cutoff_nm, double skin_nm,
                        int max_threads, clmd_nlist **out, clmd_err *err)
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
    clmd_nlist *nl = clmd_alloc(sizeof *nl);
    nl->sys = sys;
    nl->n = sys->n;
    nl->periodic = periodic;
    nl->cutoff = cutoff_nm;
    nl->skin = skin_nm;
    nl->rlist = cutoff_nm + skin_nm;
    int n = sys->n;
    if (sys->nseg > 1) {
        nl->nseg = sys->nseg;
        nl->seg_stride = sys->seg_stride;
        CLMD_NEW(nl->sub, nl->nseg);
        for (int g = 0; g < nl->nseg; g++) {
            int rc = nlist_create(sys->seg_base, periodic, cutoff_nm, skin_nm, 1, &nl->sub[g], err);
            if (rc) {
                clmd_nlist_destroy(&nl);
                return rc;
            }
        }
    }
    CLMD_NEW(nl->xref, 3 * n);
    CLMD_NEW(nl->w, 3 * n);
    CLMD_NEW(nl->s, 3 * n);
    CLMD_NEW(nl->image, 3 * n);
    CLMD_NEW(nl->key, n);
    CLMD_NEW(nl->csort, n);
    CLMD_NEW(nl->slot, n);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("CLMD_NLIST_THREADS");
    if (env && *env) cores = strtol(env, NULL, 10);
    /* about 64 clusters per thread at least: smaller shares cost more in waking threads */
    long useful = 1 + n / 512;
    if (cores > useful) cores = useful;
    if (max_threads > 0 && cores > max_threads) cores = max_threads;
#ifdef NLIST_HAVE_AVX2
    const char *simd = getenv("CLMD_NLIST_SIMD"); /* "generic": the plain version, for checks */
    nl->avx2 = __builtin_cpu_supports("avx2") && !(simd && strcmp(simd, "generic") == 0);
#endif
    nl->nthreads = cores < 1 ? 1 : cores > CLMD_NLIST_MAX_THREADS ? CLMD_NLIST_MAX_THREADS : (int)cores;
    for (int t = 0; t < nl->nthreads; t++) {
        nl->th[t].nl = nl;
        nl->th[t].t = t;
        if (nl->nseg > 1) continue; /* the copies' lists search */
        CLMD_NEW(nl->th[t].cstamp, n);
        CLMD_NEW(nl->th[t].cvisit, n);
        for (int i = 0; i < n; i++) nl->th[t].cstamp[i] = -1;
    }
    pthread_mutex_init(&nl->bar.mu, NULL);
    pthread_cond_init(&nl->bar.cv, NULL);
    nl->bar.parties = CLMD_NLIST_MAX_THREADS + 1; /* nobody passes before the count is known */
    for (int t = 1; t < nl->nthreads; t++) {
        if (pthread_create(&nl->tid[nl->nworkers], NULL, worker_main, &nl->th[t]) != 0) break;
        nl->nworkers++;
    }
    pthread_mutex_lock(&nl->bar.mu);
    nl->bar.parties = nl->nworkers + 1;
    pthread_mutex_unlock(&nl->bar.mu);
    *out = nl;
    return CLMD_OK;
}

void clmd_nlist_destroy(clmd_nlist **pnl)
{
    if (!pnl || !*pnl) return;
    clmd_nlist *nl = *pnl;
    for (int g = 0; nl->sub && g < nl->nseg; g++) clmd_nlist_destroy(&nl->sub[g]);
    clmd_free(nl->sub);
    nl->quit = 1;
    barrier_wait(&nl->bar); /* the workers wake, see quit and return */
    for (int t = 0; t < nl->nworkers; t++) pthread_join(nl->tid[t], NULL);
    pthread_mutex_destroy(&nl->bar.mu);
    pthread_cond_destroy(&nl->bar.cv);
    clmd_free(nl->xref);
    clmd_free(nl->w);
    clmd_free(nl->s);
    clmd_free(nl->image);
    clmd_free(nl->key);
    clmd_free(nl->csort);
    clmd_free(nl->slot);
    clmd_free(nl->col_atoms);
    clmd_free(nl->col_start);
    clmd_free(nl->cluster_atoms);
    clmd_free(nl->jstart);
    clmd_free(nl->cl_box);
    clmd_free(nl->cl_lanes);
    clmd_free(nl->cl_sc);
    clmd_free(nl->cl_sf);
    clmd_free(nl->cl_real);
    clmd_free(nl->chunk_thread);
    clmd_free(nl->chunk_off);
    for (int t = 0; t < nl->nthreads; t++) {
        clmd_free(nl->th[t].cstamp);
        clmd_free(nl->th[t].cvisit);
        clmd_free(nl->th[t].vis);
        clmd_free(nl->th[t].list);
        clmd_free(nl->th[t].shift);
    }
    clmd_free(nl->jlist);
    clmd_free(nl->jshift);
    clmd_free(nl);
    *pnl = NULL;
}

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

static void make_frame(const clmd_nlist *nl, const double *x, const double (*box)[3], frame *f)
{
    memset(f, 0, sizeof *f);
    if (nl->periodic) {
        memcpy(f->b, box, sizeof f->b);
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

static int cmp_cskey(const void *a, const void *b)
{
    const cskey *x = a, *y = b;
    if (x->c != y->c) return (x->c > y->c) - (x->c < y->c);
    return (x->i > y->i) - (x->i < y->i);
}

/* Image code of an entry: (i0+1)*9 + (i1+1)*3 + (i2+1) for image counts in -1..1 along a, b,
 * c, else CLMD_NLIST_PAIR_IMAGE. */
static unsigned char image_code(const int img[3])
{
    for (int d = 0; d < 3; d++)
        if (img[d] < -1 || img[d] > 1) return CLMD_NLIST_PAIR_IMAGE;
    return (unsigned char)((img[0] + 1) * 9 + (img[1] + 1) * 3 + (img[2] + 1));
}

/* Step 1 for atoms [i0, i1): fractional and wrapped coordinates, image counts, column. */
static void wrap_atoms(clmd_nlist *nl, int i0, int i1)
{
    const frame *f = &nl->f;
    const int nca = nl->nca, ncb = nl->ncb;
    for (int i = i0; i < i1; i++) {
        double *s = nl->s + 3 * i;
        to_frac(f, nl->xref + 3 * i, s);
        for (int d = 0; d < 3; d++) {
            double fl = floor(s[d]);
            nl->image[3 * i + d] = f->periodic ? -(int)fl : 0;
            if (f->periodic) s[d] -= fl;
            if (s[d] >= 1.0) s[d] = nextafter(1.0, 0.0);
            if (s[d] < 0) s[d] = 0;
        }
        from_frac(f, s, nl->w + 3 * i);
        int ca = (int)(s[0] * nca), cb = (int)(s[1] * ncb);
        if (ca >= nca) ca = nca - 1;
        if (cb >= ncb) cb = ncb - 1;
        nl->key[i] = ca * ncb + cb;
    }
}

static void grow_clusters(clmd_nlist *nl, int need)
{
    if (nl->jstart && need <= nl->cap_clusters) return;
    clmd_free(nl->cluster_atoms);
    clmd_free(nl->jstart);
    clmd_free(nl->cl_box);
    clmd_free(nl->cl_lanes);
    clmd_free(nl->cl_sc);
    clmd_free(nl->cl_sf);
    clmd_free(nl->cl_real);
    clmd_free(nl->chunk_thread);
    clmd_free(nl->chunk_off);
    int cap = need + need / 4 + 1, chunks = cap / NLIST_CHUNK_CLUSTERS + 1;
    nl->cap_clusters = cap;
    CLMD_NEW(nl->cluster_atoms, (size_t)cap * CLMD_CLUSTER);
    CLMD_NEW(nl->jstart, cap + 1);
    CLMD_NEW(nl->cl_box, (size_t)cap * 6);
    CLMD_NEW(nl->cl_lanes, (size_t)cap * 24);
    CLMD_NEW(nl->cl_sc, (size_t)cap * 2);
    CLMD_NEW(nl->cl_sf, (size_t)cap * 6);
    CLMD_NEW(nl->cl_real, cap);
    CLMD_NEW(nl->chunk_thread, chunks);
    CLMD_NEW(nl->chunk_off, chunks);
}

/* Step 2 (one thread): atoms grouped by column, cluster counts; sizes the cluster arrays. */
static void group_columns(clmd_nlist *nl)
{
    const int n = nl->n, ncol = nl->nca * nl->ncb;
    if (ncol + 1 > nl->cap_cols) {
        clmd_free(nl->col_atoms);
        clmd_free(nl->col_start);
        nl->cap_cols = ncol + 1;
        CLMD_NEW(nl->col_atoms, nl->cap_cols);
        CLMD_NEW(nl->col_start, nl->cap_cols);
    }
    int *ca = nl->col_atoms, *cs = nl->col_start;
    memset(ca, 0, sizeof(int) * (size_t)(ncol + 1));
    for (int i = 0; i < n; i++) ca[nl->key[i] + 1]++;
    cs[0] = 0;
    for (int c = 0; c < ncol; c++) {
        cs[c + 1] = cs[c] + (ca[c + 1] + CLMD_CLUSTER - 1) / CLMD_CLUSTER;
        ca[c + 1] += ca[c];
    }
    /* place the atoms with col_atoms[c] as column c's fill pointer, then shift it back */
    for (int i = 0; i < n; i++) {
        int k = ca[nl->key[i]]++;
        nl->csort[k].c = nl->s[3 * i + 2];
        nl->csort[k].i = i;
    }
    for (int c = ncol; c > 0; c--) ca[c] = ca[c - 1];
    ca[0] = 0;
    nl->nclusters = cs[ncol];
    grow_clusters(nl, nl->nclusters);
}

/* Step 3 for column c: its atoms sorted along c (then by index) and chunked by 8 into
 * clusters, with what the search reads of each cluster. */
static void build_column(clmd_nlist *nl, int c)
{
    cskey *key = nl->csort + nl->col_atoms[c];
    int cnt = nl->col_atoms[c + 1] - nl->col_atoms[c];
    qsort(key, (size_t)cnt, sizeof *key, cmp_cskey);
    for (int k = nl->col_start[c], a = 0; a < cnt; k++, a += CLMD_CLUSTER) {
        int *lanes = nl->cluster_atoms + CLMD_CLUSTER * k;
        double *box = nl->cl_box + 6 * k, *xl = nl->cl_lanes + 24 * k, *sc = nl->cl_sc + 2 * k,
               *sf = nl->cl_sf + 6 * k;
        unsigned real = 0;
        for (int l = 0; l < CLMD_CLUSTER; l++) {
            lanes[l] = a + l < cnt ? key[a + l].i : -1;
            if (lanes[l] >= 0) {
                real |= 1u << l;
                nl->slot[lanes[l]] = CLMD_CLUSTER * k + l;
            }
        }
        for (int d = 0; d < 3; d++) box[d] = sf[d] = INFINITY, box[3 + d] = sf[3 + d] = -INFINITY;
        sc[0] = INFINITY, sc[1] = -INFINITY;
        for (int l = 0; l < CLMD_CLUSTER; l++) {
            int i = lanes[l] >= 0 ? lanes[l] : lanes[0];
            for (int d = 0; d < 3; d++) {
                double v = nl->w[3 * i + d];
                xl[8 * d + l] = v;
                box[d] = dmin(box[d], v);
                box[3 + d] = dmax(box[3 + d], v);
                sf[d] = dmin(sf[d], nl->s[3 * i + d]);
                sf[3 + d] = dmax(sf[3 + d], nl->s[3 * i + d]);
            }
            sc[0] = dmin(sc[0], nl->s[3 * i + 2]);
            sc[1] = dmax(sc[1], nl->s[3 * i + 2]);
        }
        nl->cl_real[k] = (unsigned char)real;
    }
}

/* The lanes m of j-cluster lanes jl, moved by S, within rlist of some lane of il: bit m set
 * when min over l of |x_jm + S - x_il|^2 <= rl2. Written as plain loops over 8 that compilers
 * vectorize; the arithmetic is the atom-by-atom test's, so the result is the same bit for bit. */
static unsigned near_lanes(const double *il, const double *jl, const double S[3], double rl2)
{
    double jx[CLMD_CLUSTER], jy[CLMD_CLUSTER], jz[CLMD_CLUSTER], best[CLMD_CLUSTER];
    for (int m = 0; m < CLMD_CLUSTER; m++) {
        jx[m] = jl[m] + S[0];
        jy[m] = jl[8 + m] + S[1];
        jz[m] = jl[16 + m] + S[2];
        best[m] = INFINITY;
    }
    for (int l = 0; l < CLMD_CLUSTER; l++) {
        double xi = il[l], yi = il[8 + l], zi = il[16 + l];
        for (int m = 0; m < CLMD_CLUSTER; m++) {
            double dx = jx[m] - xi, dy = jy[m] - yi, dz = jz[m] - zi;
            best[m] = dmin(best[m], dx * dx + dy * dy + dz * dz);
        }
    }
    unsigned near = 0;
    for (int m = 0; m < CLMD_CLUSTER; m++) near |= (unsigned)(best[m] <= rl2) << m;
    return near;
}

#ifdef NLIST_HAVE_AVX2
/* near_lanes four lanes at a time. The same operations in the same order (no FMA: the target
 * leaves it out), and vminpd(a, b) is a < b ? a : b like dmin, so the bits are the same. */
__attribute__((target("avx2,no-fma"))) static inline unsigned
near_lanes_avx2(const double *il, const double *jl, const double S[3], double rl2)
{
    const __m256d sx = _mm256_set1_pd(S[0]), sy = _mm256_set1_pd(S[1]), sz = _mm256_set1_pd(S[2]);
    const __m256d jx0 = _mm256_add_pd(_mm256_loadu_pd(jl), sx),
                  jx1 = _mm256_add_pd(_mm256_loadu_pd(jl + 4), sx),
                  jy0 = _mm256_add_pd(_mm256_loadu_pd(jl + 8), sy),
                  jy1 = _mm256_add_pd(_mm256_loadu_pd(jl + 12), sy),
                  jz0 = _mm256_add_pd(_mm256_loadu_pd(jl + 16), sz),
                  jz1 = _mm256_add_pd(_mm256_loadu_pd(jl + 20), sz);
    __m256d b0 = _mm256_set1_pd(INFINITY), b1 = b0;
    for (int l = 0; l < CLMD_CLUSTER; l++) {
        const __m256d xi = _mm256_set1_pd(il[l]), yi = _mm256_set1_pd(il[8 + l]),
                      zi = _mm256_set1_pd(il[16 + l]);
        __m256d dx = _mm256_sub_pd(jx0, xi), dy = _mm256_sub_pd(jy0, yi), dz = _mm256_sub_pd(jz0, zi);
        __m256d r = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(dx, dx), _mm256_mul_pd(dy, dy)),
                                  _mm256_mul_pd(dz, dz));
        b0 = _mm256_min_pd(b0, r);
        dx = _mm256_sub_pd(jx1, xi), dy = _mm256_sub_pd(jy1, yi), dz = _mm256_sub_pd(jz1, zi);
        r = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(dx, dx), _mm256_mul_pd(dy, dy)),
                          _mm256_mul_pd(dz, dz));
        b1 = _mm256_min_pd(b1, r);
    }
    const __m256d lim = _mm256_set1_pd(rl2);
    return (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(b0, lim, _CMP_LE_OQ)) |
           (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(b1, lim, _CMP_LE_OQ)) << 4;
}
#endif

/* Notes that the j lanes `near` of cluster cj, under image `code`, are within rlist of
 * i-cluster ci. A cluster met again under another image (small boxes, elongated clusters)
 * marks the lanes near under both as needing the minimum image pair by pair. */
static void note_visit(nlist_thread *th, long *nvis, int ci, int cj, unsigned near,
                       unsigned char code, unsigned lane_bits)
{
    visit *v;
    if (th->cstamp[cj] == ci) {
        v = th->vis + th->cvisit[cj];
        for (int m = 0; m < CLMD_CLUSTER; m++) {
            if (!(near >> m & 1u)) continue;
            v->code[m] = v->near >> m & 1u ? CLMD_NLIST_PAIR_IMAGE : code;
        }
        v->near |= near;
        return;
    }
    if (*nvis == th->vcap) {
        long nc = th->vcap ? 2 * th->vcap : 1024;
        th->vis = clmd_realloc(th->vis, sizeof *th->vis * (size_t)th->vcap, sizeof *th->vis * (size_t)nc);
        th->vcap = nc;
    }
    th->cstamp[cj] = ci;
    th->cvisit[cj] = (int)*nvis;
    v = th->vis + (*nvis)++;
    v->cj = cj;
    v->near = near;
    memset(v->code, code, sizeof v->code);
    memset(v->mask, (int)lane_bits, sizeof v->mask);
    /* j is a lane of ci only when the two clusters are one: no self pair */
    if (cj == ci)
        for (int m = 0; m < CLMD_CLUSTER; m++) v->mask[m] &= (unsigned char)~(1u << m);
}

/* Tiles: which of two clusters lists their pair. Alternating by the parity of the sum gives
 * every cluster about half of its neighbours on either side of its index (the kernel's work
 * per cluster stays even): ci lists cj > ci of the same parity, cj < ci of the other, and
 * itself. next_owned is the first cluster from cj on that ci lists, so the search steps over
 * the others without testing them (a test per candidate was a branch taken half the time). */
static inline int next_owned(int ci, int cj)
{
    if (cj == ci) return cj;
    return cj + ((cj < ci) ^ ((ci + cj) & 1));
}

static inline int popcount64(unsigned long long x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

/* The tile of visit v (cluster pair ci, v->cj) into out[4]: cj, the 64 lane-pair bits (bit
 * 8 m + l: i lane l with j lane m; j lanes near, not excluded, not the same atom, on ci's own
 * tile only l < m) as two words, and the image code (one for the whole tile, else the minimum
 * image pair by pair). Returns the number of bits, 0 for a tile with none. Byte m of a 64-bit
 * word is lane m throughout. */
static int tile_of(const clmd_nlist *nl, int ci, const visit *v, unsigned out[4])
{
    unsigned long long bits, codes, near = 0;
    memcpy(&bits, v->mask, sizeof bits);
    memcpy(&codes, v->code, sizeof codes);
    for (int m = 0; m < CLMD_CLUSTER; m++) near |= (unsigned long long)((0u - (v->near >> m & 1u)) & 0xffu) << (8 * m);
    bits &= near;
    if (v->cj == ci) bits &= 0x7f3f1f0f07030100ull; /* lane m with lanes l < m */
    if (!bits) return 0;
    /* the lanes left (a byte with a bit), and whether their codes agree with the first's */
    unsigned long long used = bits | bits >> 4;
    used |= used >> 2;
    used |= used >> 1;
    used = (used & 0x0101010101010101ull) * 0xffu;
    const unsigned first = v->code[__builtin_ctzll(bits) >> 3];
    const int one = ((codes ^ first * 0x0101010101010101ull) & used) == 0;
    out[0] = (unsigned)v->cj;
    out[1] = (unsigned)bits;
    out[2] = (unsigned)(bits >> 32);
    out[3] = nl->shift_ok && one ? first : CLMD_NLIST_PAIR_IMAGE;
    return popcount64(bits);
}

static inline int floor_div(int a, int n) { return a >= 0 ? a / n : -((n - 1 - a) / n); }

/* Step 4 for i-cluster ci: every atom within rlist of some lane atom of the cluster, under
 * periodic images, with exclusions cleared from the lane masks; appended to the thread's
 * buffer, the count left in jstart[ci]. Candidates are whole clusters: those of the columns
 * and the stretch of c that a sphere of rlist around the lanes can reach, then those whose
 * bounding box comes within rlist of this one's, then their atoms lane by lane. */
static inline __attribute__((always_inline)) void
search_cluster_body(clmd_nlist *nl, nlist_thread *th, int ci, int avx2)
{
    const frame *f = &nl->f;
    const double rl2 = nl->rlist * nl->rlist;
    const int nca = nl->nca, ncb = nl->ncb;
    const clmd_system *sys = nl->sys;
    const int *lanes = nl->cluster_atoms + ci * CLMD_CLUSTER;
    const double *ib = nl->cl_box + 6 * ci, *il = nl->cl_lanes + 24 * ci;
    const unsigned lane_bits = nl->cl_real[ci];
    const int tiles = nl->tiles;
    /* Fractional window holding every atom within rlist of a lane: s_k changes by at most
     * inv_norm[k] per nm. The margin only admits more candidates, never more entries. */
    const double *sf = nl->cl_sf + 6 * ci;
    double flo[3], fhi[3];
    for (int d = 0; d < 3; d++) {
        double r = nl->rlist * f->inv_norm[d] + 1e-9;
        flo[d] = sf[d] - r;
        fhi[d] = sf[3 + d] + r;
    }
    int a0, a1, b0, b1, i0, i1;
    if (f->periodic) {
        a0 = (int)floor(flo[0] * nca), a1 = (int)floor(fhi[0] * nca);
        b0 = (int)floor(flo[1] * ncb), b1 = (int)floor(fhi[1] * ncb);
        i0 = (int)floor(flo[2]), i1 = (int)floor(fhi[2]);
    } else { /* clamped before the conversion: open lists may have huge cutoffs */
        a0 = (int)floor(dmax(flo[0], 0) * nca), a1 = (int)floor(dmin(fhi[0], 1) * nca);
        b0 = (int)floor(dmax(flo[1], 0) * ncb), b1 = (int)floor(dmin(fhi[1], 1) * ncb);
        if (a1 > nca - 1) a1 = nca - 1;
        if (b1 > ncb - 1) b1 = ncb - 1;
        i0 = i1 = 0;
    }
    long nvis = 0;
    for (int ca = a0; ca <= a1; ca++)
        for (int cb = b0; cb <= b1; cb++) {
            int img[3] = {floor_div(ca, nca), floor_div(cb, ncb), 0};
            int col = (ca - img[0] * nca) * ncb + (cb - img[1] * ncb);
            int k0 = nl->col_start[col], k1 = nl->col_start[col + 1];
            for (img[2] = i0; img[2] <= i1; img[2]++) {
                double S[3];
                for (int d = 0; d < 3; d++)
                    S[d] = img[0] * f->b[0][d] + img[1] * f->b[1][d] + img[2] * f->b[2][d];
                double lo = flo[2] - img[2], hi = fhi[2] - img[2];
                /* a column's clusters are ordered along c: bisect to the first one whose top
                 * reaches the window */
                int a = k0, b = k1;
                while (a < b) {
                    int mid = (a + b) / 2;
                    if (nl->cl_sc[2 * mid + 1] < lo) a = mid + 1;
                    else b = mid;
                }
                for (int cj = tiles ? next_owned(ci, a) : a; cj < k1 && nl->cl_sc[2 * cj] <= hi;
                     cj = tiles ? next_owned(ci, cj + 1) : cj + 1) {
                    /* box-to-box distance: a lower bound of every atom pair's, in floating
                     * point too (rounding is monotonic) */
                    const double *jb = nl->cl_box + 6 * cj;
                    double d2 = 0;
                    for (int d = 0; d < 3; d++) {
                        double g = dmax(0, dmax(jb[d] + S[d] - ib[3 + d], ib[d] - (jb[3 + d] + S[d])));
                        d2 += g * g;
                    }
                    if (d2 > rl2) continue;
                    unsigned near;
#ifdef NLIST_HAVE_AVX2
                    if (avx2) near = near_lanes_avx2(il, nl->cl_lanes + 24 * cj, S, rl2);
                    else
#endif
                        near = near_lanes(il, nl->cl_lanes + 24 * cj, S, rl2);
                    near &= nl->cl_real[cj];
                    if (near) note_visit(th, &nvis, ci, cj, near, image_code(img), lane_bits);
                }
            }
        }
    if (nvis > th->vmax) th->vmax = nvis;
    /* clear excluded lanes */
    if (sys->excl) {
        for (int l = 0; l < CLMD_CLUSTER; l++) {
            int i = lanes[l];
            if (i < 0) continue;
            for (int e = sys->excl_start[i]; e < sys->excl_start[i + 1]; e++) {
                int slot = nl->slot[sys->excl[e]], cj = slot / CLMD_CLUSTER;
                if (th->cstamp[cj] == ci)
                    th->vis[th->cvisit[cj]].mask[slot % CLMD_CLUSTER] &= (unsigned char)~(1u << l);
            }
        }
    }
    /* the entries, leaving out those no lane interacts with; stamps hold cluster indices,
     * which later builds reuse: clear what was set */
    if (tiles) {
        if (4 * (th->n + nvis) > th->cap) {
            long nc = th->cap ? 2 * th->cap : 65536;
            while (nc < 4 * (th->n + nvis)) nc *= 2;
            th->list = clmd_realloc(th->list, sizeof *th->list * (size_t)th->cap, sizeof *th->list * (size_t)nc);
            th->cap = nc;
        }
        long nt = th->n;
        for (long k = 0; k < nvis; k++) {
            th->cstamp[th->vis[k].cj] = -1;
            int bits = tile_of(nl, ci, th->vis + k, th->list + 4 * nt);
            if (bits) nt++, th->npairs += bits;
        }
        nl->jstart[ci] = (int)(nt - th->n);
        th->n = nt;
        return;
    }
    if (th->n + CLMD_CLUSTER * nvis > th->cap) {
        long nc = th->cap ? 2 * th->cap : 65536;
        while (nc < th->n + CLMD_CLUSTER * nvis) nc *= 2;
        th->list = clmd_realloc(th->list, sizeof *th->list * (size_t)th->cap, sizeof *th->list * (size_t)nc);
        th->shift = clmd_realloc(th->shift, (size_t)th->cap, (size_t)nc);
        th->cap = nc;
    }
    long nj = th->n;
    for (long k = 0; k < nvis; k++) {
        const visit *v = th->vis + k;
        const int *jat = nl->cluster_atoms + CLMD_CLUSTER * v->cj;
        th->cstamp[v->cj] = -1;
        for (int m = 0; m < CLMD_CLUSTER; m++) {
            unsigned mask = v->mask[m];
            if (!(v->near >> m & 1u) || !mask) continue;
            th->shift[nj] = nl->shift_ok ? v->code[m] : CLMD_NLIST_PAIR_IMAGE;
            th->list[nj++] = ((unsigned)jat[m] << 8) | mask;
            th->npairs += popcount8(mask);
        }
    }
    nl->jstart[ci] = (int)(nj - th->n);
    th->n = nj;
}

static void search_cluster(clmd_nlist *nl, nlist_thread *th, int ci)
{
    search_cluster_body(nl, th, ci, 0);
}

#ifdef NLIST_HAVE_AVX2
/* The whole search compiled for AVX2 (without FMA), the lane test inlined. */
__attribute__((target("avx2,no-fma"))) static void
search_cluster_avx2(clmd_nlist *nl, nlist_thread *th, int ci)
{
    search_cluster_body(nl, th, ci, 1);
}
#endif

/* The build, run by every thread of the team (t = 0 is the caller); one thread does the
 * serial steps between barriers. Work is handed out in chunks through atomic counters, and
 * each cluster's entries depend only on the positions, so the list does not depend on how
 * many threads built it or which thread did what. */
static void build_phases(clmd_nlist *nl, int t)
{
    nlist_thread *th = nl->th + t;
    const int n = nl->n;
    int k;
    /* 1. fractional and wrapped coordinates */
    while ((k = atomic_fetch_add(&nl->next_atoms, 1)) < (n + NLIST_CHUNK_ATOMS - 1) / NLIST_CHUNK_ATOMS) {
        int i1 = (k + 1) * NLIST_CHUNK_ATOMS;
        wrap_atoms(nl, k * NLIST_CHUNK_ATOMS, i1 < n ? i1 : n);
    }
    barrier_wait(&nl->bar);
    /* 2. atoms grouped into columns across a and b */
    if (t == 0) group_columns(nl);
    barrier_wait(&nl->bar);
    /* 3. columns sorted along c and cut into clusters */
    const int ncol = nl->nca * nl->ncb;
    while ((k = atomic_fetch_add(&nl->next_cols, 1)) < (ncol + NLIST_CHUNK_COLUMNS - 1) / NLIST_CHUNK_COLUMNS)
        for (int c = k * NLIST_CHUNK_COLUMNS; c < (k + 1) * NLIST_CHUNK_COLUMNS && c < ncol; c++)
            build_column(nl, c);
    barrier_wait(&nl->bar);
    /* 4. the cluster searches */
    const int ncl = nl->nclusters, nchunks = (ncl + NLIST_CHUNK_CLUSTERS - 1) / NLIST_CHUNK_CLUSTERS;
    th->n = th->npairs = 0;
    while ((k = atomic_fetch_add(&nl->next_chunk, 1)) < nchunks) {
        nl->chunk_thread[k] = t;
        nl->chunk_off[k] = th->n;
        for (int c = k * NLIST_CHUNK_CLUSTERS; c < (k + 1) * NLIST_CHUNK_CLUSTERS && c < ncl; c++)
        {
#ifdef NLIST_HAVE_AVX2
            if (nl->avx2) search_cluster_avx2(nl, th, c);
            else
#endif
                search_cluster(nl, th, c);
        }
    }
    barrier_wait(&nl->bar);
    /* 5. offsets of each cluster's entries */
    if (t == 0) {
        long total = 0;
        nl->npairs = 0;
        for (int c = 0; c < ncl; c++) {
            long cnt = nl->jstart[c];
            nl->jstart[c] = (int)(total < 0x7fffffffL ? total : 0);
            total += cnt;
        }
        for (int u = 0; u <= nl->nworkers; u++) nl->npairs += nl->th[u].npairs;
        nl->njlist = total;
        if (total < 0x7fffffffL) {
            nl->jstart[ncl] = (int)total;
            if (total > nl->cap_jlist) {
                long nc = nl->cap_jlist ? nl->cap_jlist : 4096;
                while (nc < total) nc *= 2;
                const size_t es = sizeof *nl->jlist * (nl->tiles ? 4 : 1);
                nl->jlist = clmd_realloc(nl->jlist, es * (size_t)nl->cap_jlist, es * (size_t)nc);
                nl->jshift = clmd_realloc(nl->jshift, (size_t)nl->cap_jlist, (size_t)nc);
                nl->cap_jlist = nc;
            }
        }
    }
    barrier_wait(&nl->bar);
    /* 6. the chunks copied into place */
    while (nl->njlist < 0x7fffffffL && (k = atomic_fetch_add(&nl->next_copy, 1)) < nchunks) {
        int c0 = k * NLIST_CHUNK_CLUSTERS, c1 = c0 + NLIST_CHUNK_CLUSTERS < ncl ? c0 + NLIST_CHUNK_CLUSTERS : ncl;
        const nlist_thread *src = nl->th + nl->chunk_thread[k];
        size_t cnt = (size_t)(nl->jstart[c1] - nl->jstart[c0]);
        if (nl->tiles) {
            memcpy(nl->jlist + 4 * (size_t)nl->jstart[c0], src->list + 4 * nl->chunk_off[k],
                   sizeof(unsigned) * 4 * cnt);
            continue;
        }
        memcpy(nl->jlist + nl->jstart[c0], src->list + nl->chunk_off[k], sizeof(unsigned) * cnt);
        memcpy(nl->jshift + nl->jstart[c0], src->shift + nl->chunk_off[k], cnt);
    }
    barrier_wait(&nl->bar);
}

/* After a build (the workers idle): each thread's entry buffer holds twice the largest share
 * any thread took, at most the whole list, with a quarter to spare, and its visit buffer as
 * many visits as any thread's. Chunks go to whichever
 * thread asks first, so a thread may take far more than its share in a later build (one that
 * the host left waiting does less); growing then, inside the steps, would allocate. With two
 * threads this is the whole list. The buffers' contents are spent (copied into the list). */
static void reserve_thread_lists(clmd_nlist *nl)
{
    long share = 0, vcap = 0;
    for (int u = 0; u <= nl->nworkers; u++) {
        share = nl->th[u].n > share ? nl->th[u].n : share;
        vcap = nl->th[u].vmax > vcap ? nl->th[u].vmax : vcap;
    }
    const long total = nl->njlist < 0x7fffffffL ? nl->njlist : 0;
    vcap += vcap / 2;
    long want = (2 * share < total ? 2 * share : total);
    want += want / 4;
    if (nl->tiles) want *= 4; /* a tile entry is 4 words */
    for (int u = 0; u <= nl->nworkers; u++) {
        nlist_thread *th = nl->th + u;
        if (th->vcap < vcap) { /* the most visits of one cluster that any thread met */
            clmd_free(th->vis);
            th->vis = clmd_alloc(sizeof *th->vis * (size_t)vcap);
            th->vcap = vcap;
        }
        if (th->cap >= want) continue;
        clmd_free(th->list);
        clmd_free(th->shift);
        th->list = clmd_alloc(sizeof *th->list * (size_t)want);
        th->shift = nl->tiles ? NULL : clmd_alloc((size_t)want);
        th->cap = want;
    }
}

/* Batched copies: the team takes copies in turn, each built by its own one-thread list. */
static void build_segments(clmd_nlist *nl)
{
    int g;
    while ((g = atomic_fetch_add(&nl->next_seg, 1)) < nl->nseg) {
        clmd_err e = {0};
        if (clmd_nlist_build(nl->sub[g], nl->seg_x + 3 * (size_t)g * nl->seg_stride, nl->seg_box, &e))
            nl->seg_failed = 1;
    }
    barrier_wait(&nl->bar);
}

/* The copies' lists end to end: copy g's particle a is g * stride + a. */
static void join_segments(clmd_nlist *nl)
{
    long C = 0, E = 0;
    for (int g = 0; g < nl->nseg; g++) {
        C += nl->sub[g]->nclusters;
        E += nl->sub[g]->njlist;
    }
    grow_clusters(nl, (int)C);
    nl->nclusters = (int)C;
    const size_t es = sizeof *nl->jlist * (nl->tiles ? 4 : 1);
    if (E > nl->cap_jlist) {
        long nc = nl->cap_jlist ? nl->cap_jlist : 4096;
        while (nc < E) nc *= 2;
        nl->jlist = clmd_realloc(nl->jlist, es * (size_t)nl->cap_jlist, es * (size_t)nc);
        nl->jshift = clmd_realloc(nl->jshift, (size_t)nl->cap_jlist, (size_t)nc);
        nl->cap_jlist = nc;
    }
    memset(nl->image, 0, sizeof(int) * 3 * (size_t)nl->n);
    long c0 = 0, e0 = 0;
    nl->npairs = 0;
    for (int g = 0; g < nl->nseg; g++) {
        const clmd_nlist *s = nl->sub[g];
        const unsigned off = (unsigned)g * (unsigned)nl->seg_stride;
        for (long k = 0; k < (long)s->nclusters * CLMD_CLUSTER; k++) {
            int a = s->cluster_atoms[k];
            nl->cluster_atoms[c0 * CLMD_CLUSTER + k] = a < 0 ? -1 : a + (int)off;
        }
        for (int c = 0; c < s->nclusters; c++) nl->jstart[c0 + c] = (int)(s->jstart[c] + e0);
        if (nl->tiles) { /* tiles name j-clusters: shifted by the copies' clusters before */
            memcpy(nl->jlist + 4 * e0, s->jlist, es * (size_t)s->njlist);
            for (long k = 0; k < s->njlist; k++) nl->jlist[4 * (e0 + k)] += (unsigned)c0;
        } else {
            for (long k = 0; k < s->njlist; k++)
                nl->jlist[e0 + k] = (((s->jlist[k] >> 8) + off) << 8) | (s->jlist[k] & 0xffu);
            memcpy(nl->jshift + e0, s->jshift, (size_t)s->njlist);
        }
        memcpy(nl->image + 3 * (size_t)off, s->image, sizeof(int) * 3 * (size_t)s->n);
        nl->npairs += s->npairs;
        c0 += s->nclusters;
        e0 += s->njlist;
    }
    nl->jstart[C] = (int)E;
    nl->njlist = E;
    nl->f = nl->sub[0]->f;
    nl->shift_ok = nl->sub[0]->shift_ok;
}

static void *worker_main(void *arg)
{
    nlist_thread *th = arg;
    clmd_nlist *nl = th->nl;
    for (;;) {
        barrier_wait(&nl->bar); /* a build starts, or the list is destroyed */
        if (nl->quit) return NULL;
        if (nl->nseg > 1) build_segments(nl);
        else build_phases(nl, th->t);
    }
}

int clmd_nlist_build(clmd_nlist *nl, const double *x, const double box[3][3], clmd_err *err)
{
    const int n = nl->n;
    memcpy(nl->xref, x, sizeof(double) * 3 * (size_t)n);
    if (nl->nseg > 1) {
        nl->seg_x = x;
        nl->seg_box = box;
        nl->seg_failed = 0;
        atomic_store(&nl->next_seg, 0);
        barrier_wait(&nl->bar); /* wakes the workers */
        build_segments(nl);
        if (nl->seg_failed) return clmd_err_set(err, CLMD_ERUNTIME, "neighbor list of a copy failed");
        join_segments(nl);
        if (nl->njlist >= 0x7fffffffL)
            return clmd_err_set(err, CLMD_ERUNTIME, "neighbor list too long (%ld entries)", nl->njlist);
        nl->builds++;
        return CLMD_OK;
    }
    make_frame(nl, x, box, &nl->f);
    if (nl->periodic) {
        const double(*b)[3] = nl->f.b;
        nl->shift_ok = dmin(b[0][0], dmin(b[1][1], b[2][2])) >= 2 * nl->rlist;
    }
    /* columns across a and b sized so that a cluster of 8 is roughly cubic */
    const frame *f = &nl->f;
    double vol = f->b[0][0] * f->b[1][1] * f->b[2][2];
    double edge = cbrt(CLMD_CLUSTER * vol / (n > 0 ? n : 1));
    nl->nca = (int)dmax(1, floor(1.0 / (f->inv_norm[0] * edge)));
    nl->ncb = (int)dmax(1, floor(1.0 / (f->inv_norm[1] * edge)));
    atomic_store(&nl->next_atoms, 0);
    atomic_store(&nl->next_cols, 0);
    atomic_store(&nl->next_chunk, 0);
    atomic_store(&nl->next_copy, 0);
    barrier_wait(&nl->bar); /* wakes the workers */
    build_phases(nl, 0);
    reserve_thread_lists(nl);
    if (nl->njlist >= 0x7fffffffL)
        return clmd_err_set(err, CLMD_ERUNTIME, "neighbor list too long (%ld entries)", nl->njlist);
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

const double (*clmd_nlist_box(const clmd_nlist *nl))[3] { return (const double(*)[3])nl->f.b; }

clmd_nlist_view clmd_nlist_get(const clmd_nlist *nl)
{
    clmd_nlist_view v = {nl->nclusters, nl->cluster_atoms, nl->jstart, nl->jlist, nl->npairs,
                         nl->periodic && !nl->tiles ? nl->jshift : NULL,
                         nl->periodic ? nl->image : NULL, nl->tiles};
    return v;
}

int clmd_nlist_set_tiles(clmd_nlist *nl, int on)
{
    for (int g = 0; g < nl->nseg; g++) clmd_nlist_set_tiles(nl->sub[g], on);
    on = on != 0;
    if (on != nl->tiles) { /* the list's capacity counts entries of the old size */
        clmd_free(nl->jlist);
        clmd_free(nl->jshift);
        nl->jlist = NULL;
        nl->jshift = NULL;
        nl->cap_jlist = nl->njlist = 0;
        for (int t = 0; t < nl->nthreads; t++) {
            nlist_thread *th = nl->th + t;
            clmd_free(th->list);
            clmd_free(th->shift);
            th->list = NULL;
            th->shift = NULL;
            th->cap = th->n = 0;
        }
    }
    nl->tiles = on;
    return on;
}

void clmd_nlist_set_skin(clmd_nlist *nl, double skin_nm)
{
    for (int g = 0; g < nl->nseg; g++) clmd_nlist_set_skin(nl->sub[g], skin_nm);
    nl->skin = skin_nm;
    nl->rlist = nl->cutoff + skin_nm;
}

double clmd_nlist_rlist(const clmd_nlist *nl) { return nl->rlist; }
double clmd_nlist_skin(const clmd_nlist *nl) { return nl->skin; }
long clmd_nlist_builds(const clmd_nlist *nl) { return nl->builds; }
const double *clmd_nlist_reference_positions(const clmd_nlist *nl) { return nl->xref; }

/* Calls fn for the pair i-j when it lies within sqrt(c2) (the minimum image in periodic
 * lists): 1 then, else 0. */
static inline int visit_pair(const clmd_nlist *nl, const double *x, const double box[3][3], double c2,
                             int i, int j, void (*fn)(int i, int j, double r2, void *ctx), void *ctx)
{
    double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
    if (nl->periodic) clmd_box_min_image(box, d);
    const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if (!(r2 < c2)) return 0;
    if (fn) fn(i, j, r2, ctx);
    return 1;
}

/* for_each_pair and for_each_flagged_pair over tiles (each pair is in one tile once); with
 * flag, only pairs with a flagged particle, that one as i. */
static long tile_pairs(const clmd_nlist *nl, const double *x, const double box[3][3],
                       double cutoff, const unsigned char *flag,
                       void (*fn)(int i, int j, double r2, void *ctx), void *ctx)
{
    long count = 0;
    const double c2 = cutoff * cutoff;
    for (int ci = 0; ci < nl->nclusters; ci++)
        for (int t = nl->jstart[ci]; t < nl->jstart[ci + 1]; t++) {
            const unsigned *tl = nl->jlist + 4 * (size_t)t;
            const unsigned long long bits = tl[1] | (unsigned long long)tl[2] << 32;
            for (int b = 0; b < 64; b++) {
                if (!(bits >> b & 1u)) continue;
                int i = nl->cluster_atoms[ci * CLMD_CLUSTER + (b & 7)];
                int j = nl->cluster_atoms[tl[0] * CLMD_CLUSTER + (b >> 3)];
                if (flag && !flag[i] && !flag[j]) continue;
                if (flag ? !flag[i] || (flag[j] && j < i) : j < i) {
                    int u = i;
                    i = j;
                    j = u;
                }
                count += visit_pair(nl, x, box, c2, i, j, fn, ctx);
            }
        }
    return count;
}

long clmd_nlist_for_each_pair(const clmd_nlist *nl, const double *x, const double box[3][3],
                              double cutoff, void (*fn)(int i, int j, double r2, void *ctx),
                              void *ctx)
{
    if (nl->tiles) return tile_pairs(nl, x, box, cutoff, NULL, fn, ctx);
    long count = 0;
    double c2 = cutoff * cutoff;
    for (int ci = 0; ci < nl->nclusters; ci++)
        for (int e = nl->jstart[ci]; e < nl->jstart[ci + 1]; e++) {
            int j = (int)(nl->jlist[e] >> 8);
            unsigned m = nl->jlist[e] & 0xffu;
            for (int l = 0; l < CLMD_CLUSTER; l++) {
                int i = nl->cluster_atoms[ci * CLMD_CLUSTER + l];
                if (!(m & (1u << l)) || i >= j) continue;
                count += visit_pair(nl, x, box, c2, i, j, fn, ctx);
            }
        }
    return count;
}

long clmd_nlist_for_each_flagged_pair(const clmd_nlist *nl, const double *x, const double box[3][3],
                                      double cutoff, const unsigned char *flag,
                                      void (*fn)(int i, int j, double r2, void *ctx), void *ctx)
{
    if (nl->tiles) return tile_pairs(nl, x, box, cutoff, flag, fn, ctx);
    long count = 0;
    const double c2 = cutoff * cutoff;
    for (int ci = 0; ci < nl->nclusters; ci++) {
        const int *ca = nl->cluster_atoms + (size_t)ci * CLMD_CLUSTER;
        unsigned lanes = 0;
        for (int l = 0; l < CLMD_CLUSTER; l++)
            if (ca[l] >= 0 && flag[ca[l]]) lanes |= 1u << l;
        if (!lanes) continue;
        /* the list is full (a pair is in both particles' clusters): from a flagged i, every
         * partner once; two flagged particles from the smaller index only */
        for (int e = nl->jstart[ci]; e < nl->jstart[ci + 1]; e++) {
            const int j = (int)(nl->jlist[e] >> 8);
            const unsigned m = nl->jlist[e] & lanes;
            if (!m) continue;
            for (int l = 0; l < CLMD_CLUSTER; l++) {
                const int i = ca[l];
                if (!(m & (1u << l)) || i == j || (flag[j] && j < i)) continue;
                count += visit_pair(nl, x, box, c2, i, j, fn, ctx);
            }
        }
    }
    return count;
}
