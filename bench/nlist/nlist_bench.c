/* Neighbor-list build benchmark (not a test): times clmd_nlist_build on a few systems with 1
 * and 2 build threads (or --threads) and prints ms per build, list size and a checksum of the
 * list's meaning.
 *
 * The checksum hashes, per cluster, its atoms and its entries sorted by j (j, lane mask, image
 * code), then the per-atom image counts: two builds of the same positions with the same
 * checksum hold the same list up to the order of entries within a cluster. `order` hashes the
 * entries as laid out, so a change of order shows there.
 *
 * --tiles builds the GPU kernel's half list of cluster pairs instead (entries then counts tiles);
 * --skin overrides the buffer of every case.
 *
 * Build and run: bench/nlist/run [--repeats N] [--min-seconds S] [--only NAME] [--threads 1,2,16]
 * (compiles against build/libclmdcore.a; see the script). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "nlist/nlist.h"
#include "system/amber.h"
#include "system/builtin.h"
#include "system/forcefield.h"
#include "system/system.h"

typedef struct bench_case {
    const char *name;
    int cells;       /* lj_fcc cells, or 0 for an Amber system */
    const char *top; /* Amber files under $CLMD_TEST_DATA/systems/ */
    const char *crd;
    double cutoff, skin;
} bench_case;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++) h = (h ^ b[k]) * 1099511628211ull;
    return h;
}

static int cmp_entry(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Order-independent (within a cluster) hash of the list, and the hash of the layout as is. */
static void list_hashes(const clmd_nlist *nl, int n, uint64_t *meaning, uint64_t *order)
{
    clmd_nlist_view v = clmd_nlist_get(nl);
    uint64_t h = 1469598103934665603ull, o = h;
    if (v.tiles) { /* tiles: their words as laid out (one tile per cluster pair) */
        h = fnv(h, v.cluster_atoms, sizeof(int) * 8 * (size_t)v.nclusters);
        h = fnv(h, v.jstart, sizeof(int) * ((size_t)v.nclusters + 1));
        h = fnv(h, v.jlist, sizeof(unsigned) * 4 * (size_t)v.jstart[v.nclusters]);
        if (v.image) h = fnv(h, v.image, sizeof(int) * 3 * (size_t)n);
        *meaning = *order = h;
        return;
    }
    uint64_t *tmp = NULL;
    long cap = 0;
    for (int c = 0; c < v.nclusters; c++) {
        h = fnv(h, v.cluster_atoms + 8 * c, sizeof(int) * 8);
        long e0 = v.jstart[c], ne = v.jstart[c + 1] - e0;
        if (ne > cap) {
            free(tmp);
            cap = ne;
            tmp = malloc(sizeof *tmp * (size_t)cap);
        }
        for (long k = 0; k < ne; k++) {
            /* j and mask in the high bits, image code below: sorting orders by j */
            unsigned sh = v.jshift ? v.jshift[e0 + k] : 255;
            tmp[k] = ((uint64_t)v.jlist[e0 + k] << 8) | sh;
        }
        o = fnv(o, tmp, sizeof *tmp * (size_t)ne);
        qsort(tmp, (size_t)ne, sizeof *tmp, cmp_entry);
        h = fnv(h, &ne, sizeof ne);
        h = fnv(h, tmp, sizeof *tmp * (size_t)ne);
    }
    if (v.image) h = fnv(h, v.image, sizeof(int) * 3 * (size_t)n);
    free(tmp);
    *meaning = h;
    *order = o;
}

static int load_case(const bench_case *bc, clmd_system **out, clmd_err *err)
{
    if (bc->cells) {
        char path[1024];
        clmd_ff *ff = NULL;
        int rc = clmd_ff_locate("argon", NULL, path, sizeof path, err);
        if (!rc) rc = clmd_ff_load(path, &ff, err);
        if (!rc) rc = clmd_builtin_lj_fcc(ff, bc->cells, 0.8442, out, err);
        clmd_ff_destroy(&ff);
        return rc;
    }
    const char *data = getenv("CLMD_TEST_DATA");
    char top[1024], crd[1024];
    snprintf(top, sizeof top, "%s/systems/%s", data ? data : "../shared/data", bc->top);
    snprintf(crd, sizeof crd, "%s/systems/%s", data ? data : "../shared/data", bc->crd);
    return clmd_amber_load(top, crd, out, err);
}

static void count_pair(int i, int j, double r2, void *ctx)
{
    (void)i, (void)j, (void)r2;
    ++*(long *)ctx;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int repeats = 5;
    double min_seconds = 1.0;
    const char *only = NULL;
    int threads[16] = {1, 2}, nthreads = 2, tiles = 0;
    double skin = -1;
    for (int a = 1; a < argc; a++) {
        char *end = NULL;
        if (!strcmp(argv[a], "--repeats") && a + 1 < argc) {
            repeats = (int)strtol(argv[++a], &end, 10);
            if (*end || repeats < 1) return fprintf(stderr, "bad --repeats\n"), 2;
        } else if (!strcmp(argv[a], "--min-seconds") && a + 1 < argc) {
            min_seconds = strtod(argv[++a], &end);
            if (*end || min_seconds < 0) return fprintf(stderr, "bad --min-seconds\n"), 2;
        } else if (!strcmp(argv[a], "--tiles")) {
            tiles = 1;
        } else if (!strcmp(argv[a], "--skin") && a + 1 < argc) {
            skin = strtod(argv[++a], &end);
            if (*end || skin < 0) return fprintf(stderr, "bad --skin\n"), 2;
        } else if (!strcmp(argv[a], "--only") && a + 1 < argc) {
            only = argv[++a];
        } else if (!strcmp(argv[a], "--threads") && a + 1 < argc) {
            const char *p = argv[++a];
            for (nthreads = 0; nthreads < 16 && *p; nthreads++) {
                threads[nthreads] = (int)strtol(p, &end, 10);
                if (end == p || threads[nthreads] < 1 || (*end && *end != ',')) return fprintf(stderr, "bad --threads\n"), 2;
                p = *end ? end + 1 : end;
            }
        } else {
            fprintf(stderr, "usage: %s [--repeats N] [--min-seconds S] [--only NAME] [--threads 1,2,16] "
                            "[--tiles] [--skin NM]\n",
                    argv[0]);
            return 2;
        }
    }
    /* cutoffs and skins as the bench decks use them (bench/benchlib/systems.py) */
    const bench_case cases[] = {
        {"argon-32k", 20, NULL, NULL, 0.85, 0.1},
        {"argon-256k", 40, NULL, NULL, 0.85, 0.1},
        {"ala2-water", 0, "alanine-dipeptide-explicit.prmtop", "alanine-dipeptide-explicit.inpcrd", 0.9, 0.1},
        {"18protein", 0, "18protein.parm7", "18protein.rst7", 0.9, 0.1},
    };
    printf("%-11s %7s %3s %9s %9s %9s %11s %12s %8s %16s %16s\n", "system", "atoms", "thr",
           "ms/build", "min ms", "builds", "entries", "lane pairs", "in rc", "checksum", "order");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bench_case *bc = &cases[k];
        if (only && !strstr(bc->name, only)) continue;
        clmd_err err = {0};
        clmd_system *s = NULL;
        if (load_case(bc, &s, &err)) {
            printf("%-11s skipped: %s\n", bc->name, err.msg);
            continue;
        }
        for (int ti = 0; ti < nthreads; ti++) {
            char tv[16];
            snprintf(tv, sizeof tv, "%d", threads[ti]);
            setenv("CLMD_NLIST_THREADS", tv, 1);
            clmd_nlist *nl = NULL;
            if (clmd_nlist_create(s, s->periodic, bc->cutoff, skin >= 0 ? skin : bc->skin, &nl, &err) ||
                !(clmd_nlist_set_tiles(nl, tiles), 1) ||
                clmd_nlist_build(nl, s->x, (const double(*)[3])s->box, &err)) { /* the first build warms up */
                printf("%-11s failed: %s\n", bc->name, err.msg);
                clmd_nlist_destroy(&nl);
                break;
            }
            int cap = 10000, nb = 0;
            double *t = malloc(sizeof *t * (size_t)cap), t0 = now_s();
            while (nb < cap && (nb < repeats || now_s() - t0 < min_seconds)) {
                double a = now_s();
                clmd_nlist_build(nl, s->x, (const double(*)[3])s->box, &err);
                t[nb++] = 1e3 * (now_s() - a);
            }
            qsort(t, (size_t)nb, sizeof *t, cmp_double);
            clmd_nlist_view v = clmd_nlist_get(nl);
            long in_rc = 0;
            clmd_nlist_for_each_pair(nl, s->x, (const double(*)[3])s->box, bc->cutoff, count_pair, &in_rc);
            uint64_t hm, ho;
            list_hashes(nl, s->n, &hm, &ho);
            /* in rc: pairs within the cutoff (both directions) per lane pair evaluated; tiles:
             * pairs within the cutoff per lane-pair slot of the tiles (64 each) */
            const double used = v.tiles ? in_rc / (64.0 * v.jstart[v.nclusters])
                                        : 2.0 * in_rc / (double)v.npairs_in_list;
            printf("%-11s %7d %3d %9.2f %9.2f %9d %11d %12ld %8.3f %016llx %016llx\n", bc->name,
                   s->n, threads[ti], t[nb / 2], t[0], nb, v.jstart[v.nclusters], v.npairs_in_list,
                   used, (unsigned long long)hm,
                   (unsigned long long)ho);
            fflush(stdout);
            free(t);
            clmd_nlist_destroy(&nl);
        }
        unsetenv("CLMD_NLIST_THREADS");
        clmd_system_destroy(&s);
    }
    return 0;
}
