/* Suite: Amber importer (prmtop + inpcrd). Compares what clmd reads with what OpenMM 7.7 builds
 * from the same files (tests/refs/amber_refs.json, made by tests/refs/make_amber_refs.py), and
 * checks that broken, truncated and unsupported files fail with messages naming the file and
 * the section. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

static clmd_jv *refs;

static const clmd_jv *ref(const char *sys) { return clmd_jv_get(refs, sys); }
static double refnum(const char *sys, const char *key)
{
    return clmd_jv_num(clmd_jv_get(ref(sys), key), NAN);
}

/* Loads a data-folder system; NULL (and a loud skip by the caller) when the data is absent. */
static clmd_system *load(const char *prmtop, const char *inpcrd, const clmd_amber_opts *opts)
{
    char p[4096], c[4096];
    const char *pp = clmd_test_data(prmtop);
    if (!pp) return NULL;
    snprintf(p, sizeof p, "%s", pp);
    const char *cc = inpcrd ? clmd_test_data(inpcrd) : NULL;
    if (inpcrd && !cc) return NULL;
    if (cc) snprintf(c, sizeof c, "%s", cc);
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load_opts(p, cc ? c : NULL, opts, &s, &err);
    if (rc) printf("\n  load %s failed: %s\n", prmtop, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

/* The counts OpenMM reports: exceptions are every excluded pair (1-4 ones included). */
static void check_counts(const clmd_system *s, const char *sys)
{
    CU_ASSERT_EQUAL(s->n, (int)refnum(sys, "atoms"));
    CU_ASSERT_EQUAL(s->nbonds, (int)refnum(sys, "bonds"));
    CU_ASSERT_EQUAL(s->nangles, (int)refnum(sys, "angles"));
    CU_ASSERT_EQUAL(s->ntorsions, (int)refnum(sys, "torsions"));
    CU_ASSERT_EQUAL(s->npairs, (int)refnum(sys, "pairs14"));
    CU_ASSERT_EQUAL(s->excl_start[s->n] / 2, (int)refnum(sys, "exceptions"));
    if (s->n != (int)refnum(sys, "atoms") || s->npairs != (int)refnum(sys, "pairs14") ||
        s->excl_start[s->n] / 2 != (int)refnum(sys, "exceptions"))
        printf("\n  %s: atoms %d bonds %d angles %d torsions %d pairs %d exclusions %d\n", sys, s->n,
               s->nbonds, s->nangles, s->ntorsions, s->npairs, s->excl_start[s->n] / 2);
    double q = 0, m = 0;
    for (int i = 0; i < s->n; i++) {
        q += s->charge[i];
        m += s->mass[i];
    }
    ASSERT_REL(q, refnum(sys, "total_charge"), 1e-9, 1.0, "total charge",
               "same division by 18.2223, summed in another order");
    ASSERT_REL(m, refnum(sys, "total_mass"), 1e-12, 0, "total mass", "masses are copied");
    const clmd_jv *z = clmd_jv_get(ref(sys), "atomic_numbers");
    int bad = 0;
    for (int i = 0; i < z->n && i < s->n; i++) bad += s->atomic_number[i] != (int)z->item[i]->num;
    CU_ASSERT_EQUAL(bad, 0);
    const clmd_jv *box = clmd_jv_get(ref(sys), "box");
    CU_ASSERT_EQUAL(s->periodic, box->kind == JV_ARR);
    if (box->kind == JV_ARR)
        for (int a = 0; a < 3; a++)
            for (int k = 0; k < 3; k++)
                ASSERT_REL(s->box[a][k], box->item[a]->item[k]->num, 1e-12, 1e-9, "box vector",
                           "A to nm, same reduction as OpenMM");
}

static void ala2_implicit_matches_openmm_counts_charges_masses_and_lj(void)
{
    clmd_system *s = load("systems/alanine-dipeptide-implicit.prmtop",
                          "systems/alanine-dipeptide-implicit.inpcrd", NULL);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    check_counts(s, "ala2_implicit");
    const clmd_jv *r = ref("ala2_implicit");
    const char *keys[] = {"charges", "masses", "sigma", "epsilon"};
    for (int k = 0; k < 4; k++) {
        const clmd_jv *a = clmd_jv_get(r, keys[k]);
        CU_ASSERT_EQUAL_FATAL(a->n, s->n);
        const double *mine = k == 0 ? s->charge : k == 1 ? s->mass : k == 2 ? s->sigma : s->epsilon;
        for (int i = 0; i < s->n; i++)
            ASSERT_REL(mine[i], a->item[i]->num, 1e-12, 1e-12, keys[k],
                       "the same conversions as OpenMM's amber_file_parser, in double");
    }
    CU_ASSERT_EQUAL(s->nresidues, 3);
    CU_ASSERT_STRING_EQUAL(s->resname[0], "ACE");
    CU_ASSERT_STRING_EQUAL(s->resname[1], "ALA");
    CU_ASSERT_STRING_EQUAL(s->resname[2], "NME");
    CU_ASSERT_STRING_EQUAL(s->name[0], "HH31");
    CU_ASSERT_EQUAL(s->residue[0], 0);
    CU_ASSERT_EQUAL(s->residue[s->n - 1], 2);
    CU_ASSERT_EQUAL(s->lj_table, 0);
    CU_ASSERT_PTR_NULL(s->v);
    /* first inpcrd atom is (2.0000010, 1.0000000, -0.0000013) A */
    ASSERT_REL(s->x[0], 0.2000001, 1e-12, 0, "x[0]", "A to nm");
    ASSERT_REL(s->x[2], -0.00000013, 1e-9, 1e-9, "z[0]", "A to nm");
    /* GB parameters from RADII (A -> nm) and SCREEN */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->gb_radius);
    ASSERT_REL(s->gb_radius[0], 0.12, 1e-12, 0, "gb radius of HH31", "mbondi2 H radius 1.2 A");
    ASSERT_REL(s->gb_scale[0], 0.85, 1e-12, 0, "gb screen of HH31", "SCREEN of H");
    clmd_system_destroy(&s);
}

static void ala2_one_four_pairs_match_openmm_exceptions_pair_by_pair(void)
{
    clmd_system *s = load("systems/alanine-dipeptide-implicit.prmtop", NULL, NULL);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    const clmd_jv *list = clmd_jv_get(ref("ala2_implicit"), "pairs14_list");
    CU_ASSERT_EQUAL_FATAL(list->n, s->npairs);
    int matched = 0;
    for (int k = 0; k < list->n; k++) {
        const clmd_jv *e = list->item[k];
        int i = (int)e->item[0]->num, j = (int)e->item[1]->num;
        for (int p = 0; p < s->npairs; p++) {
            const clmd_pair *q = &s->pairs[p];
            if (!((q->i == i && q->j == j) || (q->i == j && q->j == i))) continue;
            matched++;
            ASSERT_REL(q->qq, e->item[2]->num, 1e-12, 1e-12, "1-4 qq", "q_i q_j / SCEE in double");
            ASSERT_REL(q->sigma, e->item[3]->num, 1e-12, 0, "1-4 sigma", "LB from Rmin/2, in double");
            ASSERT_REL(q->eps, e->item[4]->num, 1e-12, 1e-15, "1-4 eps", "sqrt(e_i e_j) / SCNB");
            CU_ASSERT(clmd_system_excluded(s, i, j));
        }
    }
    CU_ASSERT_EQUAL(matched, list->n);
    clmd_system_destroy(&s);
}

static void ala2_explicit_has_the_inpcrd_box_and_openmm_counts(void)
{
    clmd_system *s = load("systems/alanine-dipeptide-explicit.prmtop",
                          "systems/alanine-dipeptide-explicit.inpcrd", NULL);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    check_counts(s, "ala2_explicit");
    CU_ASSERT(clmd_system_box_is_rectangular(s));
    /* water: O then two H, the H-H pair bonded and excluded */
    CU_ASSERT_STRING_EQUAL(s->resname[s->nresidues - 1], "WAT");
    CU_ASSERT_EQUAL(s->atomic_number[s->n - 3], 8);
    CU_ASSERT(clmd_system_excluded(s, s->n - 1, s->n - 2));
    CU_ASSERT(!clmd_system_excluded(s, s->n - 1, s->n - 4));
    /* TIP3P hydrogens have A = B = 0: no LJ, a harmless placeholder sigma */
    CU_ASSERT_EQUAL(s->epsilon[s->n - 1], 0.0);
    CU_ASSERT(s->sigma[s->n - 1] > 0);
    CU_ASSERT(s->epsilon[s->n - 3] > 0);
    clmd_system_destroy(&s);
}

static void prmtop_box_is_used_when_the_inpcrd_has_none(void)
{
    const char *pp = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    if (!pp) CLMD_SKIP_DATA("alanine-dipeptide-explicit.prmtop not in CLMD_TEST_DATA");
    char p[4096];
    snprintf(p, sizeof p, "%s", pp);
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_amber_load(p, NULL, &s, &err), CLMD_OK);
    /* BOX_DIMENSIONS of this file: beta 90, 32.8528630 32.8616480 31.8550980 A */
    CU_ASSERT(s->periodic);
    ASSERT_REL(s->box[0][0], 3.2852863, 1e-12, 0, "a", "A to nm");
    ASSERT_REL(s->box[2][2], 3.1855098, 1e-12, 0, "c", "A to nm");
    clmd_system_destroy(&s);
}

static void rst7_velocities_are_scaled_and_its_triclinic_box_wins(void)
{
    const char *pp = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    if (!pp) CLMD_SKIP_DATA("alanine-dipeptide-explicit.prmtop not in CLMD_TEST_DATA");
    char p[4096], path[4200];
    snprintf(p, sizeof p, "%s", pp);
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_amber_load(p, NULL, &s, &err), CLMD_OK);
    int n = s->n;
    /* an rst7 with coordinates, velocities and a truncated-octahedron box */
    size_t cap = (size_t)n * 80 + 4096, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "restart written by the test\n%6d  1.0000000E+01\n", n);
    for (int part = 0; part < 2; part++)
        for (int i = 0; i < 3 * n; i++) {
            double v = part == 0 ? 10.0 + 0.001 * i : 0.5 - 0.0001 * (i % 1000);
            len += (size_t)snprintf(text + len, cap - len, "%12.7f", v);
            if (i % 6 == 5 || i == 3 * n - 1) len += (size_t)snprintf(text + len, cap - len, "\n");
        }
    snprintf(text + len, cap - len, "%12.7f%12.7f%12.7f%12.7f%12.7f%12.7f\n", 40.0, 40.0, 40.0, 109.4712190, 109.4712190, 109.4712190);
    const char *dir = clmd_test_tmpdir();
    snprintf(path, sizeof path, "%s/v.rst7", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, text), 0);
    free(text);
    clmd_system_destroy(&s);
    CU_ASSERT_EQUAL_FATAL(clmd_amber_load(p, path, &s, &err), CLMD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->v);
    ASSERT_REL(s->x[5], 0.1 * (10.0 + 0.005), 1e-12, 0, "x", "A to nm");
    ASSERT_REL(s->v[7] / (0.5 - 0.0007), 2.0455, 1e-12, 0, "velocity scale",
               "Amber velocities * 20.455 A/ps * 0.1 nm/A");
    CU_ASSERT(!clmd_system_box_is_rectangular(s));
    clmd_system *t = clmd_system_create();
    clmd_system_set_box_angles(t, 4, 4, 4, 109.4712190, 109.4712190, 109.4712190);
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++)
            ASSERT_REL(s->box[a][k], t->box[a][k], 1e-12, 1e-12, "box", "the rst7 box, not BOX_DIMENSIONS");
    clmd_system_destroy(&t);
    clmd_system_destroy(&s);
}

static void lcpo_protein_loads_with_gb_parameters_and_atomic_numbers(void)
{
    clmd_system *s = load("systems/lcpo_test.prmtop", "systems/lcpo_test.inpcrd", NULL);
    if (!s) CLMD_SKIP_DATA("lcpo_test.prmtop/.inpcrd not in CLMD_TEST_DATA");
    CU_ASSERT_EQUAL(s->n, 697);
    check_counts(s, "lcpo_test");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->gb_radius);
    /* first atom: N, RADII 1.55 A */
    ASSERT_REL(s->gb_radius[0], 0.155, 1e-12, 0, "gb radius of N", "RADII 1.55 A");
    CU_ASSERT(s->gb_scale[0] > 0.5 && s->gb_scale[0] < 1.0);
    clmd_system_destroy(&s);
}

/* The 18protein maps and terms against OpenMM's CMAPTorsionForce of the same file
 * (tests/refs/cmap_refs.json, made by tests/refs/make_cmap_refs.py): same torsions, same maps
 * entry by entry (kcal/mol -> kJ/mol and the half-grid rotation from the file's -180 origin). */
static void check_cmap_matches_openmm(const clmd_system *s)
{
    clmd_jv *doc = clmd_jv_load(clmd_test_source("tests/refs/cmap_refs.json"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    const clmd_jv *c = clmd_jv_get(doc, "protein18_cmap");
    const clmd_jv *maps = clmd_jv_get(c, "maps"), *tors = clmd_jv_get(c, "torsions");
    CU_ASSERT_PTR_NOT_NULL_FATAL(maps);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tors);
    CU_ASSERT_EQUAL_FATAL(s->ncmap_maps, maps->n);
    CU_ASSERT_EQUAL_FATAL(s->ncmaps, tors->n);
    int bad = 0;
    for (int k = 0; k < tors->n; k++) {
        const clmd_cmap *t = &s->cmaps[k];
        const int got[6] = {t->a, t->b, t->c, t->d, t->e, t->map};
        for (int q = 0; q < 6; q++) bad += got[q] != (int)clmd_jv_num(tors->item[k]->item[q], -1);
    }
    CU_ASSERT_EQUAL(bad, 0);
    double worst = 0;
    for (int m = 0; m < maps->n; m++) {
        const clmd_jv *e = clmd_jv_get(maps->item[m], "energy");
        int size = (int)clmd_jv_num(clmd_jv_get(maps->item[m], "size"), 0);
        CU_ASSERT_EQUAL_FATAL(s->cmap_maps[m].size, size);
        CU_ASSERT_EQUAL_FATAL(e->n, size * size);
        for (int k = 0; k < e->n; k++) {
            double want = clmd_jv_num(e->item[k], NAN), d = fabs(s->cmap_maps[m].energy[k] - want);
            if (d > worst) worst = d;
        }
    }
    printf("\n  %d CMAP terms, %d maps of %dx%d; largest map difference from OpenMM %.2g kJ/mol",
           s->ncmaps, s->ncmap_maps, s->cmap_maps[0].size, s->cmap_maps[0].size, worst);
    ASSERT_BELOW(worst, 1e-8, "CMAP map entries vs OpenMM (kJ/mol; the JSON keeps 10 digits)");
    clmd_jv_free(doc);
}

static void protein18_cmap_is_read_as_openmm_does_and_dropped_on_request(void)
{
    clmd_system *s = load("systems/18protein.parm7", "systems/18protein.rst7", NULL);
    if (!s) CLMD_SKIP_DATA("18protein.parm7/.rst7 not in CLMD_TEST_DATA");
    CU_ASSERT_EQUAL(s->n, 21536);
    check_counts(s, "protein18");
    CU_ASSERT_EQUAL(s->ncmaps, (int)refnum("protein18", "cmap_torsions"));
    CU_ASSERT_PTR_NULL(strstr(s->source, "left out"));
    check_cmap_matches_openmm(s);
    clmd_system_destroy(&s);
    clmd_amber_opts o = {.drop_cmap = 1};
    s = load("systems/18protein.parm7", "systems/18protein.rst7", &o);
    CU_ASSERT_EQUAL(s->ncmaps, 0);
    CU_ASSERT_EQUAL(s->ncmap_maps, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(s->source, "16 CMAP terms left out"));
    clmd_system_destroy(&s);
}

/* Replaces every occurrence of `from` by `to` in a malloc'd text (returns the new text). */
static char *replace_all(char *t, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to), n = 0;
    for (const char *p = strstr(t, from); p; p = strstr(p + lf, from)) n++;
    char *u = malloc(strlen(t) + n * (lt > lf ? lt - lf : 0) + 1), *w = u;
    const char *r = t;
    for (const char *p = strstr(r, from); p; p = strstr(r, from)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, to, lt);
        w += lt;
        r = p + lf;
    }
    strcpy(w, r);
    free(t);
    return u;
}

/* A copy of 18protein.parm7 with one textual edit (first occurrence of `from` -> `to`, or every
 * one when all is set); returns its path or NULL when the data is absent. */
static const char *protein18_copy(const char *name, const char *from, const char *to, int all)
{
    static char path[4300];
    const char *src = clmd_test_data("systems/18protein.parm7");
    if (!src) return NULL;
    char *text = slurp(src);
    if (all) {
        text = replace_all(text, from, to);
    } else {
        char *p = strstr(text, from);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t lf = strlen(from), lt = strlen(to);
        char *u = malloc(strlen(text) + lt + 1);
        memcpy(u, text, (size_t)(p - text));
        memcpy(u + (p - text), to, lt);
        strcpy(u + (p - text) + lt, p + lf);
        free(text);
        text = u;
    }
    snprintf(path, sizeof path, "%s/%s", clmd_test_tmpdir(), name);
    int rc = clmd_test_write_file(path, text);
    free(text);
    return rc == 0 ? path : NULL;
}

static void charmm_cmap_spelling_is_read_the_same(void)
{
    const char *p = protein18_copy("charmm.parm7", "%FLAG CMAP_", "%FLAG CHARMM_CMAP_", 1);
    if (!p) CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(p, NULL, &s, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    check_cmap_matches_openmm(s);
    clmd_system_destroy(&s);
}

static void expect_error(const char *path, const char *inpcrd, const char *const *want);

static void broken_cmap_sections_are_errors_naming_them(void)
{
    if (!clmd_test_data("systems/18protein.parm7"))
        CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    /* the first term's first atom (8) moved past the last atom */
    const char *p = protein18_copy("idx.parm7", "       8      10      12      18      20       1",
                                   "   99999      10      12      18      20       1", 0);
    expect_error(p, NULL, (const char *const[]){"idx.parm7", "CMAP_INDEX", "term 1", "99999", NULL});
    /* an odd grid has no node at both 0 and -180 degrees */
    p = protein18_copy("odd.parm7", "CMAP_RESOLUTION\n%FORMAT(20I4)\n  24",
                       "CMAP_RESOLUTION\n%FORMAT(20I4)\n  23", 0);
    expect_error(p, NULL, (const char *const[]){"CMAP_RESOLUTION", "map 1", "resolution 23", NULL});
    /* 15 maps promised, 16 given */
    p = protein18_copy("count.parm7", "CMAP_COUNT\n%FORMAT(2I8)\n      16      16",
                       "CMAP_COUNT\n%FORMAT(2I8)\n      16      15", 0);
    expect_error(p, NULL, (const char *const[]){"CMAP_PARAMETER_16", "maps 1..15", NULL});
    /* map number 17 of 16 */
    p = protein18_copy("map.parm7", "       8      10      12      18      20       1",
                       "       8      10      12      18      20      17", 0);
    expect_error(p, NULL, (const char *const[]){"CMAP_INDEX", "map 17", NULL});
    /* CMAP data without its count */
    p = protein18_copy("nocount.parm7", "%FLAG CMAP_COUNT\n%FORMAT(2I8)\n      16      16\n", "", 0);
    expect_error(p, NULL, (const char *const[]){"CMAP_RESOLUTION", "without CMAP_COUNT", NULL});
}

/* ---- broken files */

/* Writes a copy of the implicit prmtop with `edit` applied; returns its path or NULL. */
static const char *broken_copy(const char *name, char *(*edit)(char *text))
{
    static char path[4300];
    const char *src = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    if (!src) return NULL;
    char *text = slurp(src);
    text = edit(text);
    const char *dir = clmd_test_tmpdir();
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = clmd_test_write_file(path, text);
    free(text);
    return rc == 0 ? path : NULL;
}

/* Loads a broken file, expects CLMD_EINPUT and a message that holds every `want` string. */
static void expect_error(const char *path, const char *inpcrd, const char *const *want)
{
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(path, inpcrd, &s, &err);
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(s);
    for (int k = 0; want[k]; k++) {
        int ok = strstr(err.msg, want[k]) != NULL;
        CU_ASSERT(ok);
        if (!ok) printf("\n  message '%s' lacks '%s'\n", err.msg, want[k]);
    }
    clmd_system_destroy(&s);
}

static char *cut_inside_dihedrals(char *t)
{
    /* keep the section header and two data lines of DIHEDRALS_INC_HYDROGEN */
    char *p = strstr(t, "%FLAG DIHEDRALS_INC_HYDROGEN");
    for (int k = 0; k < 4 && p; k++) p = strchr(p, '\n') + 1;
    *p = 0;
    return t;
}

static char *drop_mass(char *t)
{
    char *a = strstr(t, "%FLAG MASS"), *b = strstr(t, "%FLAG ATOM_TYPE_INDEX");
    memmove(a, b, strlen(b) + 1);
    return t;
}

static char *short_charge_line(char *t)
{
    /* remove the last data line of CHARGE: 20 values instead of 22 */
    char *a = strstr(t, "%FLAG MASS"), *e = a - 1;
    while (e[-1] != '\n') e--;
    memmove(e, a, strlen(a) + 1);
    return t;
}

static char *add_polarizability(char *t)
{
    size_t n = strlen(t);
    const char *add = "%FLAG POLARIZABILITY\n%FORMAT(5E16.8)\n";
    char *u = malloc(n + 4096);
    memcpy(u, t, n + 1);
    strcat(u, add);
    for (int i = 0; i < 22; i++) {
        strcat(u, "  1.00000000E+00");
        if (i % 5 == 4 || i == 21) strcat(u, "\n");
    }
    free(t);
    return u;
}

static char *add_ctitle(char *t)
{
    size_t n = strlen(t);
    char *u = malloc(n + 256);
    memcpy(u, t, n + 1);
    strcat(u, "%FLAG CTITLE\n%FORMAT(a80)\nmade by chamber\n");
    free(t);
    return u;
}

static char *old_style(char *t)
{
    strcpy(t, "ACE ALA NME\n  22   7  12   9  25  11  35  17   0   0\n");
    return t;
}

static char *bad_bond_index(char *t)
{
    /* first entry of BONDS_WITHOUT_HYDROGEN: a coordinate index that is not 3*atom */
    char *p = strstr(t, "%FLAG BONDS_WITHOUT_HYDROGEN");
    p = strchr(strchr(p, '\n') + 1, '\n') + 1;
    memcpy(p, "     301", 8);
    return t;
}

static void truncated_prmtop_names_the_file_and_the_section(void)
{
    const char *path = broken_copy("cut.prmtop", cut_inside_dihedrals);
    if (!path) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    expect_error(path, NULL, (const char *[]){"cut.prmtop", "DIHEDRALS_INC_HYDROGEN", "truncated", NULL});
    path = broken_copy("short.prmtop", short_charge_line);
    expect_error(path, NULL, (const char *[]){"short.prmtop", "CHARGE", "NATOM", NULL});
}

static void missing_required_section_is_named(void)
{
    const char *path = broken_copy("nomass.prmtop", drop_mass);
    if (!path) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    expect_error(path, NULL, (const char *[]){"nomass.prmtop", "MASS", "missing", NULL});
}

static void unsupported_sections_are_errors_naming_them(void)
{
    const char *path = broken_copy("pol.prmtop", add_polarizability);
    if (!path) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    expect_error(path, NULL, (const char *[]){"pol.prmtop", "POLARIZABILITY", "not supported", NULL});
    path = broken_copy("chamber.prmtop", add_ctitle);
    expect_error(path, NULL, (const char *[]){"chamber.prmtop", "CTITLE", "not supported", NULL});
    path = broken_copy("old.prmtop", old_style);
    expect_error(path, NULL, (const char *[]){"old.prmtop", "old-style", NULL});
}

static void out_of_range_bond_index_is_named(void)
{
    const char *path = broken_copy("badbond.prmtop", bad_bond_index);
    if (!path) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    expect_error(path, NULL, (const char *[]){"badbond.prmtop", "BONDS_WITHOUT_HYDROGEN", "bond 1", NULL});
}

static void truncated_inpcrd_and_atom_count_mismatch_are_errors(void)
{
    const char *pp = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    const char *cc = clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
    if (!pp || !cc)
        CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    char p[4096], path[4300];
    snprintf(p, sizeof p, "%s", pp);
    char *t = slurp(cc);
    /* drop the last three coordinate lines */
    for (int k = 0; k < 3; k++) {
        char *e = t + strlen(t) - 1;
        *e = 0;
        *(strrchr(t, '\n') + 1) = 0;
    }
    const char *dir = clmd_test_tmpdir();
    snprintf(path, sizeof path, "%s/cut.inpcrd", dir);
    clmd_test_write_file(path, t);
    expect_error(p, path, (const char *[]){"cut.inpcrd", NULL});
    clmd_test_write_file(path, "title\n    21\n");
    expect_error(p, path, (const char *[]){"cut.inpcrd", "21 atoms", NULL});
    free(t);
}

/* Cuts the file at many byte offsets: every load either fails with a message naming the file
 * or, when only optional trailing sections were cut, succeeds; none crashes (run under ASan). */
static void prmtop_cut_anywhere_fails_cleanly(void)
{
    const char *src = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    if (!src) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    char *text = slurp(src);
    size_t len = strlen(text);
    char path[4300];
    snprintf(path, sizeof path, "%s/cut.prmtop", clmd_test_tmpdir());
    int failed = 0, loaded = 0, unnamed = 0;
    for (size_t cut = 0; cut < len; cut += 53) {
        char saved = text[cut];
        text[cut] = 0;
        clmd_test_write_file(path, text);
        text[cut] = saved;
        clmd_system *s = NULL;
        clmd_err err = {0};
        int rc = clmd_amber_load(path, NULL, &s, &err);
        if (rc == CLMD_OK) {
            loaded++;
            /* only the GB sections at the end may go missing without an error */
            CU_ASSERT(strstr(text + cut, "%FLAG RADII") != NULL || strstr(text + cut, "%FLAG SCREEN") == NULL);
        } else {
            failed++;
            CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
            if (!strstr(err.msg, "cut.prmtop")) unnamed++;
        }
        clmd_system_destroy(&s);
    }
    printf("\n  %d cuts failed with a message, %d loaded (optional sections cut)", failed, loaded);
    CU_ASSERT_EQUAL(unnamed, 0);
    CU_ASSERT(failed > 250);
    free(text);
}

/* NBFIX: an off-diagonal A coefficient that breaks Lorentz-Berthelot turns the type table on. */
static int nbfix_ta, nbfix_tb; /* 0-based types of the edited pair, ta < tb */

static char *nbfix_edit(char *t)
{
    /* LEaP orders the pairs as NONBONDED_PARM_INDEX says: (a, b), a <= b, 1-based, is value
     * b(b-1)/2 + a; values are 16 characters wide, 5 to a line */
    int ico = (nbfix_tb + 1) * nbfix_tb / 2 + nbfix_ta + 1;
    char *p = strstr(t, "%FLAG LENNARD_JONES_ACOEF");
    p = strchr(strchr(p, '\n') + 1, '\n') + 1;
    for (int l = 0; l < (ico - 1) / 5; l++) p = strchr(p, '\n') + 1;
    memcpy(p + 16 * ((ico - 1) % 5), "  1.23456789E+05", 16);
    return t;
}

static void off_diagonal_lj_fills_the_type_table(void)
{
    clmd_system *s = NULL, *ref0 = load("systems/alanine-dipeptide-implicit.prmtop", NULL, NULL);
    if (!ref0) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop not in CLMD_TEST_DATA");
    CU_ASSERT_EQUAL(ref0->lj_table, 0);
    /* edit the pair of types of the first 1-4 pair between different types */
    int first = -1;
    for (int p = 0; p < ref0->npairs && first < 0; p++)
        if (ref0->type[ref0->pairs[p].i] != ref0->type[ref0->pairs[p].j]) first = p;
    CU_ASSERT_FATAL(first >= 0);
    int ta = ref0->type[ref0->pairs[first].i], tb = ref0->type[ref0->pairs[first].j];
    nbfix_ta = ta < tb ? ta : tb;
    nbfix_tb = ta < tb ? tb : ta;
    const char *path = broken_copy("nbfix.prmtop", nbfix_edit);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_amber_load(path, NULL, &s, &err), CLMD_OK);
    int nt = s->ntypes, ab = nbfix_ta * nt + nbfix_tb, ba = nbfix_tb * nt + nbfix_ta;
    CU_ASSERT_EQUAL(nt, 7);
    CU_ASSERT_EQUAL(s->lj_table, 1);
    ASSERT_REL(s->c12[ab], 1.23456789e5 * 4.184e-12, 1e-12, 0, "c12(a,b)", "kcal A^12 -> kJ nm^12");
    ASSERT_REL(s->c12[ba], 1.23456789e5 * 4.184e-12, 1e-12, 0, "c12(b,a)", "symmetric table");
    ASSERT_REL(s->c12[0], ref0->c12[0], 1e-15, 0, "c12(1,1)", "untouched diagonal");
    ASSERT_REL(s->c6[ab], ref0->c6[ab], 1e-15, 0, "c6(a,b)", "untouched B");
    /* 1-4 pairs between the edited types take the pair's own A and B; others are unchanged */
    int checked = 0;
    for (int p = 0; p < s->npairs; p++) {
        int ti = s->type[s->pairs[p].i], tj = s->type[s->pairs[p].j];
        if (ti * nt + tj == ab || ti * nt + tj == ba) {
            double A = 1.23456789e5, B = ref0->c6[ab] / 4.184e-6;
            ASSERT_REL(s->pairs[p].sigma, 0.1 * pow(A / B, 1.0 / 6.0), 1e-12, 0, "nbfix 1-4 sigma",
                       "(A/B)^(1/6) of the pair");
            ASSERT_REL(s->pairs[p].eps, 4.184 * B * B / (4 * A) / 2.0, 1e-12, 0, "nbfix 1-4 eps",
                       "B^2/4A of the pair over SCNB 2");
            checked++;
        } else {
            /* from the pair's own A and B now, which agree with LB to their 9 printed digits */
            ASSERT_REL(s->pairs[p].sigma, ref0->pairs[p].sigma, 1e-7, 0, "1-4 sigma",
                       "E16.8 coefficients: LB holds to ~1e-8");
            ASSERT_REL(s->pairs[p].eps, ref0->pairs[p].eps, 1e-7, 1e-15, "1-4 eps",
                       "E16.8 coefficients: LB holds to ~1e-8");
        }
    }
    CU_ASSERT(checked > 0);
    clmd_system_destroy(&s);
    clmd_system_destroy(&ref0);
}

int main(int argc, char **argv)
{
    refs = clmd_jv_load(clmd_test_source("tests/refs/amber_refs.json"));
    if (!refs) return 2;
    const clmd_test tests[] = {
        {"ala2 implicit matches OpenMM: counts, charges, masses, LJ, names, GB", ala2_implicit_matches_openmm_counts_charges_masses_and_lj},
        {"ala2 1-4 pairs match OpenMM's exceptions pair by pair", ala2_one_four_pairs_match_openmm_exceptions_pair_by_pair},
        {"ala2 explicit has the inpcrd box and OpenMM's counts", ala2_explicit_has_the_inpcrd_box_and_openmm_counts},
        {"prmtop BOX_DIMENSIONS is used when there is no inpcrd", prmtop_box_is_used_when_the_inpcrd_has_none},
        {"rst7 velocities are scaled and its triclinic box wins", rst7_velocities_are_scaled_and_its_triclinic_box_wins},
        {"lcpo protein loads with GB parameters and atomic numbers", lcpo_protein_loads_with_gb_parameters_and_atomic_numbers},
        {"18protein: CMAP maps and terms are OpenMM's; drop_cmap leaves them out", protein18_cmap_is_read_as_openmm_does_and_dropped_on_request},
        {"CHARMM_CMAP_* sections read the same as CMAP_*", charmm_cmap_spelling_is_read_the_same},
        {"broken CMAP sections are errors naming them", broken_cmap_sections_are_errors_naming_them},
        {"truncated prmtop names the file and the section", truncated_prmtop_names_the_file_and_the_section},
        {"missing required section is named", missing_required_section_is_named},
        {"unsupported sections are errors naming them", unsupported_sections_are_errors_naming_them},
        {"out-of-range bond index is named", out_of_range_bond_index_is_named},
        {"truncated inpcrd and atom-count mismatch are errors", truncated_inpcrd_and_atom_count_mismatch_are_errors},
        {"off-diagonal LJ (NBFIX) fills the type table", off_diagonal_lj_fills_the_type_table},
        {"prmtop cut anywhere fails cleanly", prmtop_cut_anywhere_fails_cleanly},
        {NULL, NULL}};
    int rc = clmd_test_main("amber", tests, argc, argv);
    clmd_jv_free(refs);
    return rc;
}
