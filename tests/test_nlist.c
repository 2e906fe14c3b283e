/* Suite: neighbor list. The buffered cluster list must contain every pair within the cutoff,
 * exactly once, for as long as no atom moved more than skin/2, whatever the box shape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/plan.h"
#include "nlist/nlist.h"
#include "system/system.h"
#include "testutil.h"

static double urand(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (*state >> 8) / 16777216.0;
}

/* n random particles at liquid-like density in the system's box (or a 4 nm region if open) */
static clmd_system *random_system(int n, int periodic, int triclinic, unsigned seed)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    double L = cbrt(n / 30.0);
    if (periodic && triclinic) clmd_system_set_box_angles(s, L, L * 1.1, L * 0.95, 75, 100, 80);
    else if (periodic) clmd_system_set_box(s, L, L * 1.05, L * 0.95);
    for (int i = 0; i < n; i++) {
        double f[3] = {urand(&seed), urand(&seed), urand(&seed)};
        for (int d = 0; d < 3; d++) {
            /* start some atoms outside the box to exercise wrapping */
            double shift = (i % 7 == 0) ? 1.0 : 0.0;
            s->x[3 * i + d] = periodic ? (f[0] + shift) * s->box[0][d] + f[1] * s->box[1][d] +
                                             f[2] * s->box[2][d]
                                       : f[d] * L;
        }
        s->mass[i] = 1;
    }
    return s;
}

typedef struct {
    int n;
    unsigned char *seen; /* n*n */
    int dup;
} pairset;

static void mark(int i, int j, double r2, void *ctx)
{
    (void)r2;
    pairset *p = ctx;
    if (p->seen[(size_t)i * p->n + j]) p->dup++;
    p->seen[(size_t)i * p->n + j] = 1;
}

/* Compares the list's pairs within cutoff (for positions x) with brute force; returns the
 * number of mismatches (missing, extra or duplicated pairs). */
static int compare_with_brute_force(const clmd_system *s, const clmd_nlist *nl, const double *x,
                                    double cutoff)
{
    pairset p = {s->n, calloc((size_t)s->n * s->n, 1), 0};
    clmd_nlist_for_each_pair(nl, x, s->box, cutoff, mark, &p);
    int bad = p.dup;
    for (int i = 0; i < s->n; i++)
        for (int j = i + 1; j < s->n; j++) {
            double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
            clmd_min_image(s, d);
            int within = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < cutoff * cutoff &&
                         !clmd_system_excluded(s, i, j);
            if (within != p.seen[(size_t)i * s->n + j]) bad++;
        }
    free(p.seen);
    return bad;
}

typedef struct {
    pairset p;
    const unsigned char *flag;
    int bad; /* calls whose i is not flagged */
} flagset;

static void mark_flagged(int i, int j, double r2, void *ctx)
{
    flagset *f = ctx;
    if (!f->flag[i]) f->bad++;
    mark(i < j ? i : j, i < j ? j : i, r2, &f->p);
}

/* The pairs with a flagged particle through clmd_nlist_for_each_flagged_pair against brute
 * force: each such pair within the cutoff once, none other. Returns the number of mismatches. */
static int compare_flagged_with_brute_force(const clmd_system *s, const clmd_nlist *nl,
                                            const double *x, double cutoff, const unsigned char *flag)
{
    flagset f = {{s->n, calloc((size_t)s->n * s->n, 1), 0}, flag, 0};
    long count = clmd_nlist_for_each_flagged_pair(nl, x, s->box, cutoff, flag, mark_flagged, &f);
    int bad = f.p.dup + f.bad;
    long expect = 0;
    for (int i = 0; i < s->n; i++)
        for (int j = i + 1; j < s->n; j++) {
            double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
            clmd_min_image(s, d);
            int within = (flag[i] || flag[j]) && d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < cutoff * cutoff &&
                         !clmd_system_excluded(s, i, j);
            expect += within;
            if (within != f.p.seen[(size_t)i * s->n + j]) bad++;
        }
    if (count != expect) bad++;
    free(f.p.seen);
    return bad;
}

/* For every entry with an image code, the partner's image from the code (positions wrapped as
 * at the build) equals the minimum image for every lane pair within the cutoff. Returns the
 * number of violations. */
static int check_image_codes(const clmd_system *s, const clmd_nlist *nl, const double *x, double cutoff)
{
    clmd_nlist_view v = clmd_nlist_get(nl);
    if (!v.jshift) return 0;
    int bad = 0;
    const double(*b)[3] = s->box;
    for (int c = 0; c < v.nclusters; c++)
        for (int e = v.jstart[c]; e < v.jstart[c + 1]; e++) {
            int j = (int)(v.jlist[e] >> 8), code = v.jshift[e];
            if (code == CLMD_NLIST_PAIR_IMAGE) continue;
            int sh[3] = {code / 9 - 1, code / 3 % 3 - 1, code % 3 - 1};
            for (int l = 0; l < CLMD_CLUSTER; l++) {
                int i = v.cluster_atoms[8 * c + l];
                if (i < 0 || !(v.jlist[e] & (1u << l))) continue;
                double dmin[3], dsh[3];
                for (int d = 0; d < 3; d++) dmin[d] = x[3 * j + d] - x[3 * i + d];
                clmd_min_image(s, dmin);
                if (dmin[0] * dmin[0] + dmin[1] * dmin[1] + dmin[2] * dmin[2] >= cutoff * cutoff) continue;
                for (int d = 0; d < 3; d++) {
                    double wj = x[3 * j + d], wi = x[3 * i + d];
                    for (int k = 0; k < 3; k++) {
                        wj += (v.image[3 * j + k] + sh[k]) * b[k][d];
                        wi += v.image[3 * i + k] * b[k][d];
                    }
                    dsh[d] = wj - wi;
                }
                for (int d = 0; d < 3; d++)
                    if (fabs(dsh[d] - dmin[d]) > 1e-9) {
                        bad++;
                        break;
                    }
            }
        }
    return bad;
}

/* The list's definition, checked by brute force: cluster c lists atom j exactly when some image
 * of j (positions wrapped as at the build) lies within rlist of one of c's atoms, once, with the
 * mask of c's lanes less padding, j itself and j's exclusions (entries left with no lane are
 * dropped), and the image code of the one image near c (PAIR_IMAGE when two images are, or the
 * box is narrower than 2 rlist). Atoms within 1e-9 nm of rlist are left out: the build's wrapped
 * positions differ from x + image B by rounding. Returns the number of violations. */
static int check_list_meaning(const clmd_system *s, const clmd_nlist *nl, const double *x, double rlist)
{
    clmd_nlist_view v = clmd_nlist_get(nl);
    const int n = s->n, per = v.image != NULL;
    const double(*b)[3] = s->box;
    /* images two boxes away matter only when a box width (volume / face area) is below rlist */
    double minwidth = INFINITY;
    for (int k = 0; per && k < 3; k++) {
        const double *u = b[(k + 1) % 3], *t = b[(k + 2) % 3];
        double cr[3] = {u[1] * t[2] - u[2] * t[1], u[2] * t[0] - u[0] * t[2], u[0] * t[1] - u[1] * t[0]};
        minwidth = fmin(minwidth, b[0][0] * b[1][1] * b[2][2] / sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]));
    }
    const int range = !per ? 0 : minwidth > rlist ? 1 : 2;
    double *w = calloc(3 * (size_t)n, sizeof *w);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) {
            w[3 * i + d] = x[3 * i + d];
            for (int k = 0; per && k < 3; k++) w[3 * i + d] += v.image[3 * i + k] * b[k][d];
        }
    int shift_ok = per && fmin(b[0][0], fmin(b[1][1], b[2][2])) >= 2 * rlist;
    int *entry = malloc(sizeof(int) * (size_t)n), bad = 0;
    for (int c = 0; c < v.nclusters; c++) {
        const int *lanes = v.cluster_atoms + 8 * c;
        for (int j = 0; j < n; j++) entry[j] = -1;
        for (int e = v.jstart[c]; e < v.jstart[c + 1]; e++) {
            int j = (int)(v.jlist[e] >> 8);
            if (entry[j] >= 0) bad++; /* listed twice */
            entry[j] = e;
        }
        for (int j = 0; j < n; j++) {
            int nnear = 0, code = CLMD_NLIST_PAIR_IMAGE, unsure = 0;
            for (int ia = -range; ia <= range; ia++)
                for (int ib = -range; ib <= range; ib++)
                    for (int ic = -range; ic <= range; ic++) {
                        double p[3], dmin = INFINITY;
                        for (int d = 0; d < 3; d++) p[d] = w[3 * j + d] + ia * b[0][d] + ib * b[1][d] + ic * b[2][d];
                        for (int l = 0; l < 8; l++) {
                            if (lanes[l] < 0) continue;
                            const double *wi = w + 3 * lanes[l];
                            double d2 = (p[0] - wi[0]) * (p[0] - wi[0]) + (p[1] - wi[1]) * (p[1] - wi[1]) +
                                        (p[2] - wi[2]) * (p[2] - wi[2]);
                            dmin = fmin(dmin, d2);
                        }
                        if (fabs(sqrt(dmin) - rlist) < 1e-9) unsure = 1;
                        if (dmin > rlist * rlist) continue;
                        nnear++;
                        if (abs(ia) <= 1 && abs(ib) <= 1 && abs(ic) <= 1)
                            code = (ia + 1) * 9 + (ib + 1) * 3 + (ic + 1);
                    }
            if (unsure) continue;
            unsigned mask = 0;
            for (int l = 0; l < 8; l++)
                if (lanes[l] >= 0 && lanes[l] != j && !clmd_system_excluded(s, lanes[l], j)) mask |= 1u << l;
            if (!nnear || !mask) {
                bad += entry[j] >= 0;
                continue;
            }
            if (entry[j] < 0 || (v.jlist[entry[j]] & 0xffu) != mask) {
                bad++;
                continue;
            }
            if (!shift_ok || nnear > 1) code = CLMD_NLIST_PAIR_IMAGE;
            if (v.jshift && v.jshift[entry[j]] != code) bad++;
        }
    }
    free(entry);
    free(w);
    return bad;
}

/* 1500 random particles (random_system) with a few exclusions: consecutive pairs */
static clmd_system *excluded_system(int periodic, int triclinic, unsigned seed)
{
    clmd_system *s = random_system(1500, periodic, triclinic, seed);
    int (*ex)[2] = clmd_calloc(s->n / 2, sizeof *ex);
    for (int k = 0; k < s->n / 2; k++) {
        ex[k][0] = 2 * k;
        ex[k][1] = 2 * k + 1;
    }
    clmd_system_set_exclusions(s, s->n / 2, (const int(*)[2])ex);
    clmd_free(ex);
    return s;
}

/* x: the system's positions, each moved in a random direction by less than skin/2 */
static void random_moves(const clmd_system *s, double *x, double skin, unsigned *seed)
{
    for (int i = 0; i < s->n; i++) {
        double dir[3] = {urand(seed) - 0.5, urand(seed) - 0.5, urand(seed) - 0.5};
        double len = sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]) + 1e-12;
        double step = 0.499 * skin * urand(seed);
        for (int d = 0; d < 3; d++) x[3 * i + d] = s->x[3 * i + d] + step * dir[d] / len;
    }
}

static void check_case(int periodic, int triclinic)
{
    const double cutoff = 0.9, skin = 0.12;
    clmd_system *s = excluded_system(periodic, triclinic, 12345u + periodic * 7 + triclinic);
    clmd_nlist *nl = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, s->periodic, cutoff, skin, &nl, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_build(nl, s->x, s->box, &err), CLMD_OK);
    CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, s->x, cutoff), 0);
    CU_ASSERT_EQUAL(check_list_meaning(s, nl, s->x, cutoff + skin), 0);
    /* random moves of up to skin/2 in total: the old list must still hold every pair */
    unsigned seed = 99;
    double *x = clmd_calloc(3 * s->n, sizeof(double));
    for (int round = 0; round < 3; round++) {
        random_moves(s, x, skin, &seed);
        CU_ASSERT(!clmd_nlist_needs_rebuild(nl, x));
        CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, x, cutoff), 0);
        CU_ASSERT_EQUAL(check_image_codes(s, nl, x, cutoff), 0);
        /* a region: forty particles (some within the cutoff of each other) and a few more */
        unsigned char *flag = clmd_calloc(s->n, 1);
        for (int i = 0; i < s->n; i++) flag[i] = i < 40 || i % 97 == round;
        CU_ASSERT_EQUAL(compare_flagged_with_brute_force(s, nl, x, cutoff, flag), 0);
        clmd_free(flag);
    }
    /* one atom moved past skin/2 triggers a rebuild */
    memcpy(x, s->x, sizeof(double) * 3 * s->n);
    x[0] += 0.51 * skin;
    CU_ASSERT(clmd_nlist_needs_rebuild(nl, x));
    CU_ASSERT_EQUAL(clmd_nlist_build(nl, x, s->box, &err), CLMD_OK);
    CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, x, cutoff), 0);
    clmd_free(x);
    clmd_nlist_destroy(&nl);
    CU_ASSERT_PTR_NULL(nl);
    clmd_system_destroy(&s);
}

/* The rules of tiles (the half list of cluster pairs) beyond the pairs they give: a pair of
 * clusters comes once (from one of the two), bits never join padding, an atom with itself or an
 * excluded pair, and a tile's image code (positions wrapped as at the build) is the minimum
 * image of every lane pair within the cutoff at positions x. Returns the number of violations. */
static int check_tiles(const clmd_system *s, const clmd_nlist *nl, const double *x, double cutoff)
{
    clmd_nlist_view v = clmd_nlist_get(nl);
    if (!v.tiles || v.jshift) return 1;
    const int nc = v.nclusters;
    const double(*b)[3] = s->box;
    unsigned char *seen = calloc((size_t)nc * nc, 1);
    int bad = 0;
    for (int c = 0; c < nc; c++)
        for (int t = v.jstart[c]; t < v.jstart[c + 1]; t++) {
            const unsigned *tl = v.jlist + 4 * (size_t)t;
            const int cj = (int)tl[0], code = (int)tl[3];
            const int lo = c < cj ? c : cj, hi = c < cj ? cj : c;
            if (seen[(size_t)lo * nc + hi]++) bad++;
            const unsigned long long bits = tl[1] | (unsigned long long)tl[2] << 32;
            if (!bits) bad++;
            for (int k = 0; k < 64; k++) {
                if (!(bits >> k & 1u)) continue;
                const int i = v.cluster_atoms[8 * c + (k & 7)], j = v.cluster_atoms[8 * cj + (k >> 3)];
                if (i < 0 || j < 0 || i == j || clmd_system_excluded(s, i, j)) {
                    bad++;
                    continue;
                }
                if (!v.image || code == CLMD_NLIST_PAIR_IMAGE) continue;
                const int sh[3] = {code / 9 - 1, code / 3 % 3 - 1, code % 3 - 1};
                double dmin[3], dsh[3];
                for (int d = 0; d < 3; d++) dmin[d] = x[3 * j + d] - x[3 * i + d];
                clmd_min_image(s, dmin);
                if (dmin[0] * dmin[0] + dmin[1] * dmin[1] + dmin[2] * dmin[2] >= cutoff * cutoff) continue;
                for (int d = 0; d < 3; d++) {
                    double wj = x[3 * j + d], wi = x[3 * i + d];
                    for (int m = 0; m < 3; m++) {
                        wj += (v.image[3 * j + m] + sh[m]) * b[m][d];
                        wi += v.image[3 * i + m] * b[m][d];
                    }
                    dsh[d] = wj - wi;
                }
                for (int d = 0; d < 3; d++)
                    if (fabs(dsh[d] - dmin[d]) > 1e-9) {
                        bad++;
                        break;
                    }
            }
        }
    free(seen);
    return bad;
}

/* Tiles hold the same pairs as entries: every pair within rlist at the build once, every pair
 * within the cutoff after moves of up to skin/2, through the tiles' images; and a cluster lists
 * about half of its neighbours (the kernel's work stays even). */
static void check_tiles_case(int periodic, int triclinic)
{
    const double cutoff = 0.9, skin = 0.12;
    clmd_system *s = excluded_system(periodic, triclinic, 777u + periodic * 7 + triclinic);
    clmd_nlist *nl = NULL, *full = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, s->periodic, cutoff, skin, &nl, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, s->periodic, cutoff, skin, &full, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_nlist_set_tiles(nl, 1), 1);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_build(nl, s->x, s->box, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_build(full, s->x, s->box, &err), CLMD_OK);
    CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, s->x, cutoff + skin - 1e-9), 0);
    CU_ASSERT_EQUAL(check_tiles(s, nl, s->x, cutoff), 0);
    /* half: about half the entries' lane pairs (which hold every pair twice; a tile's bits are
     * those of the j lanes near the i-cluster, the entries' those of the j atoms near it) */
    clmd_nlist_view vt = clmd_nlist_get(nl), vf = clmd_nlist_get(full);
    printf("\n  entries: %ld lane pairs", vf.npairs_in_list);
    CU_ASSERT(vt.npairs_in_list < 0.6 * vf.npairs_in_list && vt.npairs_in_list > 0.4 * vf.npairs_in_list);
    int most = 0;
    for (int c = 0; c < vt.nclusters; c++)
        if (vt.jstart[c + 1] - vt.jstart[c] > most) most = vt.jstart[c + 1] - vt.jstart[c];
    const double mean = (double)vt.jstart[vt.nclusters] / vt.nclusters;
    printf("\n  %d tiles for %d clusters (%.1f per cluster, most %d), %ld lane pairs",
           vt.jstart[vt.nclusters], vt.nclusters, mean, most, vt.npairs_in_list);
    if (periodic) CU_ASSERT(most < 2 * mean);
    unsigned seed = 31;
    double *x = clmd_calloc(3 * s->n, sizeof(double));
    for (int round = 0; round < 3; round++) {
        random_moves(s, x, skin, &seed);
        CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, x, cutoff), 0);
        CU_ASSERT_EQUAL(check_tiles(s, nl, x, cutoff), 0);
        unsigned char *flag = clmd_calloc(s->n, 1);
        for (int i = 0; i < s->n; i++) flag[i] = i < 40 || i % 97 == round;
        CU_ASSERT_EQUAL(compare_flagged_with_brute_force(s, nl, x, cutoff, flag), 0);
        clmd_free(flag);
    }
    clmd_free(x);
    clmd_nlist_destroy(&nl);
    clmd_nlist_destroy(&full);
    clmd_system_destroy(&s);
}

static void rectangular_periodic_tiles_equal_brute_force(void) { check_tiles_case(1, 0); }
static void triclinic_periodic_tiles_equal_brute_force(void) { check_tiles_case(1, 1); }
static void open_boundaries_tiles_equal_brute_force(void) { check_tiles_case(0, 0); }

static void rectangular_periodic_list_equals_brute_force(void) { check_case(1, 0); }
static void triclinic_periodic_list_equals_brute_force(void) { check_case(1, 1); }
static void open_boundaries_list_equals_brute_force(void) { check_case(0, 0); }

/* Few atoms in a small box: the clusters stretch across it, so some atoms lie within rlist of a
 * cluster under two images and must be left to the per-pair minimum image; in a box narrower
 * than 2 rlist every entry is. Returns the number of entries with PAIR_IMAGE in *pair_image. */
static void check_small_box(double lx, double ly, double lz, int *pair_image, int *entries)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, 40);
    clmd_system_set_box(s, lx, ly, lz);
    unsigned seed = 4242;
    for (int i = 0; i < s->n; i++) {
        for (int d = 0; d < 3; d++) s->x[3 * i + d] = urand(&seed) * s->box[d][d];
        s->mass[i] = 1;
    }
    clmd_nlist *nl = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, 1, 0.9, 0.1, &nl, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_build(nl, s->x, s->box, &err), CLMD_OK);
    clmd_nlist_view v = clmd_nlist_get(nl);
    *entries = v.jstart[v.nclusters];
    *pair_image = 0;
    for (int e = 0; e < *entries; e++) *pair_image += v.jshift[e] == CLMD_NLIST_PAIR_IMAGE;
    CU_ASSERT_EQUAL(check_list_meaning(s, nl, s->x, 1.0), 0);
    CU_ASSERT_EQUAL(compare_with_brute_force(s, nl, s->x, 0.9), 0);
    clmd_nlist_destroy(&nl);
    clmd_system_destroy(&s);
}

static void small_boxes_leave_atoms_near_under_two_images_to_the_pair(void)
{
    int pair_image, entries;
    check_small_box(2.1, 2.3, 2.2, &pair_image, &entries); /* at least 2 rlist wide */
    CU_ASSERT(pair_image > 0 && pair_image < entries); /* the case this test is about arises */
    check_small_box(1.9, 2.3, 2.2, &pair_image, &entries); /* narrower than 2 rlist */
    CU_ASSERT(entries > 0 && pair_image == entries);
}

/* the one cutoff-versus-box rule (system/box.h), applied by the force-field plan */
static void cutoff_longer_than_half_box_is_refused(void)
{
    clmd_system *s = random_system(100, 1, 0, 1);
    clmd_err err = {0};
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    clmd_ffplan plan;
    o.cutoff_nm = 0.6 * s->box[2][2];
    CU_ASSERT_EQUAL(clmd_ffplan_make(s, &o, &plan, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "half the box"));
    o.cutoff_nm = 0.5 * s->box[2][2];
    CU_ASSERT_EQUAL(clmd_ffplan_make(s, &o, &plan, &err), CLMD_OK);
    CU_ASSERT(clmd_ffplan_box_ok(&plan, (const double(*)[3])s->box));
    double small[3][3] = {{0}};
    for (int d = 0; d < 3; d++) small[d][d] = 0.99 * s->box[d][d];
    CU_ASSERT(!clmd_ffplan_box_ok(&plan, (const double(*)[3])small));
    o.method = CLMD_NB_NOCUTOFF;
    CU_ASSERT_EQUAL(clmd_ffplan_make(s, &o, &plan, &err), CLMD_OK);
    CU_ASSERT(clmd_ffplan_box_ok(&plan, (const double(*)[3])small));
    clmd_system_destroy(&s);
}

/* Builds lists a and b of positions x (the same system) and checks they are the same list
 * (entries and, with_shift, their image codes) byte for byte. */
static void same_builds(clmd_nlist *a, clmd_nlist *b, const clmd_system *s, int with_shift)
{
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_nlist_build(a, s->x, s->box, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_nlist_build(b, s->x, s->box, &err), CLMD_OK);
    clmd_nlist_view va = clmd_nlist_get(a), vb = clmd_nlist_get(b);
    CU_ASSERT_EQUAL_FATAL(va.nclusters, vb.nclusters);
    CU_ASSERT_EQUAL(memcmp(va.jstart, vb.jstart, sizeof(int) * (va.nclusters + 1)), 0);
    CU_ASSERT_EQUAL_FATAL(va.tiles, vb.tiles);
    CU_ASSERT_EQUAL(memcmp(va.jlist, vb.jlist,
                           sizeof(unsigned) * (va.tiles ? 4 : 1) * va.jstart[va.nclusters]), 0);
    if (with_shift && !va.tiles)
        CU_ASSERT_EQUAL(memcmp(va.jshift, vb.jshift, (size_t)va.jstart[va.nclusters]), 0);
}

/* the list must not depend on how many threads built it (runs are bitwise reproducible) */
static void list_is_independent_of_thread_count(void)
{
    clmd_system *s = random_system(3000, 1, 1, 777);
    clmd_err err = {0};
    clmd_nlist *a = NULL, *b = NULL;
    setenv("CLMD_NLIST_THREADS", "1", 1);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, 1, 0.9, 0.1, &a, &err), CLMD_OK);
    setenv("CLMD_NLIST_THREADS", "3", 1);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, 1, 0.9, 0.1, &b, &err), CLMD_OK);
    unsetenv("CLMD_NLIST_THREADS");
    /* entries, tiles, entries again */
    for (int round = 0; round < 6; round++) {
        if (round == 2 || round == 4) {
            clmd_nlist_set_tiles(a, round == 2);
            clmd_nlist_set_tiles(b, round == 2);
        }
        same_builds(a, b, s, 0);
        s->x[0] += 0.3; /* second round: a changed configuration, stale stamps would show */
    }
    clmd_nlist_destroy(&a);
    clmd_nlist_destroy(&b);
    clmd_system_destroy(&s);
}

/* the AVX2 search (where the CPU has it) gives the plain search's list bit for bit */
static void list_is_independent_of_the_simd_version(void)
{
    clmd_system *s = random_system(3000, 1, 1, 4242);
    clmd_err err = {0};
    clmd_nlist *a = NULL, *b = NULL;
    setenv("CLMD_NLIST_SIMD", "generic", 1);
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, 1, 0.9, 0.1, &a, &err), CLMD_OK);
    unsetenv("CLMD_NLIST_SIMD");
    CU_ASSERT_EQUAL_FATAL(clmd_nlist_create(s, 1, 0.9, 0.1, &b, &err), CLMD_OK);
    for (int round = 0; round < 3; round++) {
        same_builds(a, b, s, 1);
        for (int i = 0; i < 3 * s->n; i++) s->x[i] += 0.05 * sin(7.0 * i + round);
    }
    clmd_nlist_destroy(&a);
    clmd_nlist_destroy(&b);
    clmd_system_destroy(&s);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"rectangular periodic list equals brute force after moves", rectangular_periodic_list_equals_brute_force},
        {"triclinic periodic list equals brute force after moves", triclinic_periodic_list_equals_brute_force},
        {"open-boundary list equals brute force after moves", open_boundaries_list_equals_brute_force},
        {"rectangular periodic tiles equal brute force after moves", rectangular_periodic_tiles_equal_brute_force},
        {"triclinic periodic tiles equal brute force after moves", triclinic_periodic_tiles_equal_brute_force},
        {"open-boundary tiles equal brute force after moves", open_boundaries_tiles_equal_brute_force},
        {"small boxes leave atoms near under two images to the pair", small_boxes_leave_atoms_near_under_two_images_to_the_pair},
        {"cutoff longer than half the box is refused", cutoff_longer_than_half_box_is_refused},
        {"list is independent of the thread count", list_is_independent_of_thread_count},
        {"list is independent of the SIMD version", list_is_independent_of_the_simd_version},
        {NULL, NULL}};
    return clmd_test_main("nlist", tests, argc, argv);
}
