/* Suite: Amber topologies with extra points (src/system/amber.c). tleap-built TIP4P-Ew systems
 * (tests/data/ep/, made by make_ep.py there) against what OpenMM 7.7's AmberPrmtopFile builds
 * from the same files: particle, virtual-site, bond, angle, torsion, 1-4 and exclusion counts,
 * every site's parents and weights, massless sites excluded from their water; then energies and
 * forces through the engine on the reference path and on the OpenCL device against OpenMM's
 * Reference platform (PME at tolerances 5e-4 and 1e-6, flexible water), `clmd eval` on a deck
 * and a few steps of the deck users copy (inputs/tip4pew_amber.yaml). Layouts clmd cannot
 * represent (TIP5P's two lone pairs, an extra point off water, a named extra point with mass)
 * must fail with errors naming the file, the residue and the atom. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

/* Path of a file under tests/data/ (NULL when absent). Stands in for clmd_test_data until that
 * looks in tests/data itself; replace the calls one for one then. */
static clmd_system *load_sys(const char *name)
{
    char top[4096], crd[4096], rel[256];
    snprintf(rel, sizeof rel, "ep/%s.prmtop", name);
    const char *p = clmd_test_data(rel);
    if (!p) return NULL;
    snprintf(top, sizeof top, "%s", p);
    snprintf(rel, sizeof rel, "ep/%s.inpcrd", name);
    p = clmd_test_data(rel);
    if (!p) return NULL;
    snprintf(crd, sizeof crd, "%s", p);
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(top, crd, &s, &err);
    if (rc) printf("\n  load %s: %s\n", name, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

static clmd_jv *load_json(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "ep/%s.json", name);
    const char *p = clmd_test_data(rel);
    return p ? clmd_jv_load(p) : NULL;
}

static int jint(const clmd_jv *doc, const char *key)
{
    const clmd_jv *v = clmd_jv_get(doc, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return (int)v->num;
}

/* ---- import ---- */

/* Counts against OpenMM's System less the bonded terms on extra points (OpenMM 7.7 keeps the
 * O-EP bond, Amber and clmd drop it: see make_ep.py); sites, weights, masses, exclusions. */
static void import_matches_openmm(const char *name)
{
    char tname[128];
    snprintf(tname, sizeof tname, "%s_topology", name);
    clmd_jv *ref = load_json(tname);
    clmd_system *s = ref ? load_sys(name) : NULL;
    if (!ref || !s) {
        clmd_jv_free(ref);
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("tests/data/ep files missing");
    }
    const clmd_jv *vs = clmd_jv_get(ref, "virtual_sites");
    CU_ASSERT_PTR_NOT_NULL_FATAL(vs);
    printf("\n  %s: %d particles, %d sites, %d bonds, %d angles, %d torsions, %d 1-4 pairs, %d "
           "excluded pairs", name, s->n, s->nvsites, s->nbonds, s->nangles, s->ntorsions,
           s->npairs, s->excl_start[s->n] / 2);
    CU_ASSERT_EQUAL(s->n, jint(ref, "particles"));
    CU_ASSERT_EQUAL_FATAL(s->nvsites, vs->n);
    CU_ASSERT(vs->n > 100); /* every water has its site */
    CU_ASSERT(jint(ref, "bonds_with_sites") == vs->n); /* tleap's O-EP bonds, one per water */
    CU_ASSERT_EQUAL(s->nbonds, jint(ref, "bonds") - jint(ref, "bonds_with_sites"));
    CU_ASSERT_EQUAL(s->nangles, jint(ref, "angles") - jint(ref, "angles_with_sites"));
    CU_ASSERT_EQUAL(s->ntorsions, jint(ref, "torsions") - jint(ref, "torsions_with_sites"));
    CU_ASSERT_EQUAL(s->npairs, jint(ref, "exceptions_1_4"));
    CU_ASSERT_EQUAL(s->excl_start[s->n] / 2, jint(ref, "exceptions"));
    double q_site = clmd_jv_get(ref, "site_charges")->item[0]->num;
    int bad_site = 0, bad_w = 0, bad_mass = 0, bad_excl = 0, bad_q = 0, bad_lj = 0;
    double wmax = 0;
    for (int k = 0; k < vs->n; k++) {
        const clmd_jv *r = vs->item[k];
        const clmd_vsite *v = &s->vsites[k];
        bad_site += v->site != (int)r->item[0]->num || v->a != (int)r->item[1]->num ||
                    v->b != (int)r->item[2]->num || v->c != (int)r->item[3]->num;
        for (int q = 0; q < 3; q++) {
            double d = fabs(v->w[q] - r->item[4 + q]->num);
            if (d > wmax) wmax = d;
            bad_w += d > 1e-15;
        }
        bad_mass += s->mass[v->site] != 0;
        bad_excl += !clmd_system_excluded(s, v->site, v->a) || !clmd_system_excluded(s, v->site, v->b) ||
                    !clmd_system_excluded(s, v->site, v->c);
        bad_q += fabs(s->charge[v->site] - q_site) > 1e-9;
        bad_lj += s->epsilon[v->site] != 0;
    }
    printf("; largest weight difference from OpenMM %.2g", wmax);
    CU_ASSERT_EQUAL(bad_site, 0);
    CU_ASSERT_EQUAL(bad_w, 0); /* the same formula on the same bond lengths */
    CU_ASSERT_EQUAL(bad_mass, 0);
    CU_ASSERT_EQUAL(bad_excl, 0);
    CU_ASSERT_EQUAL(bad_q, 0);
    CU_ASSERT_EQUAL(bad_lj, 0);
    /* TIP4P-Ew from tleap: d_OE 0.125 A, d_OH 0.9572 A, d_HH 1.5136 A */
    double wh = 0.125 / sqrt(0.9572 * 0.9572 - 0.25 * 1.5136 * 1.5136);
    ASSERT_REL(s->vsites[0].w[0], 1 - wh, 1e-12, 0, "O weight", "TIP4P-Ew's bond lengths");
    ASSERT_REL(s->vsites[0].w[1], wh / 2, 1e-12, 0, "H weight", "TIP4P-Ew's bond lengths");
    /* no bonded term and no constraint partner is a site */
    int touched = 0;
    for (int k = 0; k < s->nbonds; k++) touched += s->mass[s->bonds[k].i] == 0 || s->mass[s->bonds[k].j] == 0;
    for (int k = 0; k < s->nangles; k++)
        touched += s->mass[s->angles[k].i] == 0 || s->mass[s->angles[k].j] == 0 || s->mass[s->angles[k].k] == 0;
    for (int k = 0; k < s->ntorsions; k++)
        touched += s->mass[s->torsions[k].i] == 0 || s->mass[s->torsions[k].l] == 0 ||
                   s->mass[s->torsions[k].j] == 0 || s->mass[s->torsions[k].k] == 0;
    CU_ASSERT_EQUAL(touched, 0);
    CU_ASSERT_EQUAL(clmd_system_dof(s, 0), 3 * (s->n - s->nvsites));
    clmd_jv_free(ref);
    clmd_system_destroy(&s);
}

static void box_import_matches_openmm(void) { import_matches_openmm("tip4pew_box"); }
static void ala2_import_matches_openmm(void) { import_matches_openmm("ala2_tip4pew"); }

/* ---- energies and forces through the engine ---- */

static const char *const openmm_class[] = {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce"};
static const clmd_ecomp clmd_comp[] = {CLMD_E_BOND, CLMD_E_ANGLE, CLMD_E_TORSION};

/* Energy against OpenMM's total judged against the sum of |terms|; bonded classes one by one
 * (they do not depend on PME); forces by the global RMS relative error against forces_spread
 * (the site's force moved onto O, H1, H2, as clmd reports it). */
static void energy_forces_match_openmm(const char *name, const char *ref_case, double tol,
                                       const char *device, double etol, double ftol)
{
    clmd_jv *ref = load_json(ref_case);
    clmd_system *s = ref ? load_sys(name) : NULL;
    if (!ref || !s) {
        clmd_jv_free(ref);
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("tests/data/ep files missing");
    }
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 0.9;
    o.dispersion_correction = 1;
    o.ewald_tolerance = tol;
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * (size_t)s->n, sizeof *f);
    int rc = clmd_engine_create(s, &o, &eo, NULL, &eng, &err);
    if (!rc) rc = clmd_engine_evaluate(eng, e, f, &err);
    if (rc) printf("\n  engine: %s\n", err.msg);
    clmd_engine_destroy(&eng);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    double total = 0, scale = 0;
    for (int k = 0; k < CLMD_E_NCOMP; k++) {
        total += e[k];
        scale += fabs(e[k]);
    }
    double eref = clmd_jv_num(clmd_jv_get(ref, "energy"), NAN);
    const clmd_jv *per = clmd_jv_get(ref, "energies");
    double *fref = NULL;
    int nr = clmd_jv_vec3s(clmd_jv_get(ref, "forces_spread"), &fref);
    CU_ASSERT_EQUAL_FATAL(nr, s->n);
    double ferr = clmd_force_rms_rel(f, fref, s->n);
    printf("\n  %s, tolerance %g, %s: energy %.6f vs OpenMM %.6f (%.2g of the sum of |terms| "
           "%.1f), force RMS relative error %.3g", name, tol, device, total, eref,
           fabs(total - eref) / scale, scale, ferr);
    ASSERT_REL(total, eref, etol, scale, "total energy vs OpenMM (relative to the sum of |terms|)",
               "same PME alpha and grid as OpenMM; rounding and the device's float sums");
    for (int k = 0; k < 3; k++) {
        double r = clmd_jv_num(clmd_jv_get(per, openmm_class[k]), NAN);
        printf("\n    %s %.6f vs %.6f", openmm_class[k], e[clmd_comp[k]], r);
        ASSERT_REL(e[clmd_comp[k]], r, etol, fabs(r) + 1.0, openmm_class[k],
                   "bonded terms, O-EP bonds dropped on both sides");
    }
    ASSERT_BELOW(ferr, ftol, "force RMS relative error vs OpenMM (site forces spread)");
    int site_force = 0;
    for (int k = 0; k < s->nvsites; k++) {
        const double *fs = f + 3 * s->vsites[k].site;
        site_force += fs[0] != 0 || fs[1] != 0 || fs[2] != 0;
    }
    CU_ASSERT_EQUAL(site_force, 0); /* spread onto the parents */
    free(fref); /* malloc'd by clmd_jv_vec3s */
    clmd_free(f);
    clmd_jv_free(ref);
    clmd_system_destroy(&s);
}

/* Tolerances as the PME tests (test_pme_term.c, test_cli.c) judge PME against OpenMM: energy
 * 1e-5 of the sum of |terms|; forces 5e-4 at ewald tolerance 5e-4 on both paths, at 1e-6 1e-7
 * on the double reference and 5e-5 on the float device. The references use clmd's alpha and
 * grid (OpenMM's formula, the grid rounded up to a 2,3,5,7 product as OpenMM's OpenCL platform
 * does; make_ep.py), which the eval test checks. */
static void energy_forces(const char *name, const char *device)
{
    char loose[128], tight[128];
    snprintf(loose, sizeof loose, "%s_pme", name);
    snprintf(tight, sizeof tight, "%s_pme_tight", name);
    int ref = strcmp(device, "reference") == 0;
    energy_forces_match_openmm(name, loose, 5e-4, device, 1e-5, 5e-4);
    energy_forces_match_openmm(name, tight, 1e-6, device, 1e-5, ref ? 1e-7 : 5e-5);
}

static void box_reference(void) { energy_forces("tip4pew_box", "reference"); }
static void box_opencl(void) { energy_forces("tip4pew_box", "auto"); }
static void ala2_reference(void) { energy_forces("ala2_tip4pew", "reference"); }
static void ala2_opencl(void) { energy_forces("ala2_tip4pew", "auto"); }

/* ---- the command line ---- */

static int run_clmd(const char *args, char **out)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", clmd_test_binary(), args);
    return clmd_test_run(cmd, out);
}

/* `clmd eval` on a deck pointing at the prmtop: the JSON it writes against OpenMM. */
static void eval_deck_matches_openmm(void)
{
    const char *p = clmd_test_data("ep/tip4pew_box.prmtop");
    if (!p) CLMD_SKIP_DATA("tests/data/ep files missing");
    char top[4096], crd[4096], refp[4096], text[16384], path[4200], jp[4200];
    snprintf(top, sizeof top, "%s", p);
    snprintf(crd, sizeof crd, "%s", clmd_test_data("ep/tip4pew_box.inpcrd"));
    snprintf(refp, sizeof refp, "%s", clmd_test_data("ep/tip4pew_box_pme_tight.json"));
    const char *dir = clmd_test_tmpdir();
    snprintf(text, sizeof text,
             "system: {amber: {prmtop: %s, inpcrd: %s}}\n"
             "nonbonded: {method: pme, cutoff: 0.9, ewald_error_tolerance: 1.0e-6}\n"
             "rigid_water: false\n",
             top, crd);
    snprintf(path, sizeof path, "%s/d.yaml", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, text), 0);
    char args[12000], *out = NULL;
    snprintf(args, sizeof args, "eval %s --json %s/e.json --device reference", path, dir);
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(jp, sizeof jp, "%s/e.json", dir);
    clmd_jv *got = clmd_jv_load(jp), *ref = clmd_jv_load(refp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    const clmd_jv *en = clmd_jv_get(got, "energies");
    double scale = 0;
    for (int k = 0; k < en->n; k++)
        if (strcmp(en->key[k], "total") != 0) scale += fabs(clmd_jv_num(en->item[k], 0));
    double tot = clmd_jv_num(clmd_jv_get(en, "total"), NAN), eref = clmd_jv_num(clmd_jv_get(ref, "energy"), NAN);
    double *f = NULL, *fref = NULL;
    int n = clmd_jv_vec3s(clmd_jv_get(got, "forces"), &f);
    int nr = clmd_jv_vec3s(clmd_jv_get(ref, "forces_spread"), &fref);
    CU_ASSERT_EQUAL_FATAL(n, nr);
    double ferr = clmd_force_rms_rel(f, fref, n);
    printf("\n  clmd eval: total %.6f vs OpenMM %.6f, force RMS relative error %.3g", tot, eref, ferr);
    ASSERT_REL(tot, eref, 1e-5, scale, "eval total energy vs OpenMM", "PME at 1e-6, as the engine test");
    ASSERT_BELOW(ferr, 1e-7, "eval force RMS relative error vs OpenMM (reference path)");
    const clmd_jv *pme = clmd_jv_get(got, "pme"), *rpme = clmd_jv_get(ref, "pme");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pme);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rpme);
    ASSERT_REL(clmd_jv_num(clmd_jv_get(pme, "alpha"), 0), clmd_jv_num(clmd_jv_get(rpme, "alpha"), 1),
               1e-12, 0, "PME alpha vs OpenMM's", "the same formula");
    const clmd_jv *g = clmd_jv_get(pme, "grid"), *rg = clmd_jv_get(rpme, "grid");
    CU_ASSERT_FATAL(g && rg && g->n == 3 && rg->n == 3);
    for (int k = 0; k < 3; k++) CU_ASSERT_EQUAL(g->item[k]->num, rg->item[k]->num);
    free(f);
    free(fref);
    clmd_jv_free(got);
    clmd_jv_free(ref);
}

/* Replaces every occurrence of from by to in t (returns a new string, frees t). */
static char *replace_all(char *t, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to), n = 0;
    for (const char *q = strstr(t, from); q; q = strstr(q + lf, from)) n++;
    char *r = malloc(strlen(t) + n * (lt > lf ? lt - lf : 0) + 1), *w = r;
    const char *q = t;
    for (const char *h = strstr(q, from); h; h = strstr(q, from)) {
        memcpy(w, q, (size_t)(h - q));
        w += h - q;
        memcpy(w, to, lt);
        w += lt;
        q = h + lf;
    }
    strcpy(w, q);
    free(t);
    return r;
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

/* The deck users copy runs on its own device (auto) with rigid water (SETTLE on O, H1, H2, the
 * site riding along): its paths made absolute, its output sent to a scratch folder, energies
 * logged every 10 steps. */
static void user_deck_runs_a_few_steps(void)
{
    if (!clmd_test_data("ep/tip4pew_box.prmtop")) CLMD_SKIP_DATA("tests/data/ep files missing");
    char *deck = slurp(clmd_test_source("inputs/tip4pew_amber.yaml"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(deck);
    char data[4200], outdir[4300], path[4300];
    snprintf(data, sizeof data, "%s/tests/data/ep/", CLMD_SOURCE_DIR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(deck, "../tests/data/ep/"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(deck, "directory: ../out/tip4pew_amber"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(deck, "energies: {file: energies.csv, interval: 100}"));
    deck = replace_all(deck, "../tests/data/ep/", data);
    deck = replace_all(deck, "energies: {file: energies.csv, interval: 100}",
                       "energies: {file: energies.csv, interval: 10}");
    const char *dir = clmd_test_tmpdir();
    snprintf(outdir, sizeof outdir, "directory: out");
    deck = replace_all(deck, "directory: ../out/tip4pew_amber", outdir);
    snprintf(path, sizeof path, "%s/tip4pew_amber.yaml", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, deck), 0);
    free(deck);
    char args[9000], *out = NULL;
    snprintf(args, sizeof args, "run %s --steps 20 --quiet", path); /* the deck's device: auto */
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* the energy log's last line: finite potential, a plausible temperature */
    snprintf(path, sizeof path, "%s/out/energies.csv", dir);
    char *csv = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(csv);
    char *hdr_end = strchr(csv, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(hdr_end);
    *hdr_end = 0;
    int col_pot = -1, col_t = -1, col_step = -1, c = 0;
    for (char *tok = strtok(csv, ","); tok; tok = strtok(NULL, ","), c++) {
        if (strcmp(tok, "potential") == 0) col_pot = c;
        if (strcmp(tok, "temperature_K") == 0) col_t = c;
        if (strcmp(tok, "step") == 0) col_step = c;
    }
    CU_ASSERT_FATAL(col_pot >= 0 && col_t >= 0 && col_step >= 0);
    char *last = hdr_end + 1, *q = last;
    while ((q = strchr(q, '\n')) && q[1]) last = ++q;
    double vals[64];
    int nv = 0;
    for (char *tok = strtok(last, ",\n"); tok && nv < 64; tok = strtok(NULL, ",\n")) vals[nv++] = strtod(tok, NULL);
    CU_ASSERT_FATAL(nv > col_pot && nv > col_t && nv > col_step);
    CU_ASSERT_EQUAL(vals[col_step], 20);
    printf("\n  20 steps: potential %.1f kJ/mol, temperature %.1f K", vals[col_pot], vals[col_t]);
    CU_ASSERT(isfinite(vals[col_pot]) && vals[col_pot] < 0); /* liquid water is bound */
    CU_ASSERT(vals[col_t] > 200 && vals[col_t] < 400);
    free(csv);
}

/* ---- layouts clmd refuses ---- */

static void expect_error(const char *prmtop, const char *const *needles)
{
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(prmtop, NULL, &s, &err);
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(s);
    printf("\n  %s", err.msg);
    for (int k = 0; needles[k]; k++) {
        int found = strstr(err.msg, needles[k]) != NULL;
        if (!found) printf("\n  missing '%s'", needles[k]);
        CU_ASSERT(found);
    }
    clmd_system_destroy(&s);
}

static void tip5p_lone_pairs_are_an_error_naming_residue_and_atoms(void)
{
    const char *p = clmd_test_data("ep/tip5p_small.prmtop");
    if (!p) CLMD_SKIP_DATA("tests/data/ep/tip5p_small.prmtop missing");
    char top[4096];
    snprintf(top, sizeof top, "%s", p);
    const char *needles[] = {"tip5p_small.prmtop", "water WAT 3", "EP1, atom 16", "EP2, atom 17",
                             "TIP5P", NULL};
    expect_error(top, needles);
}

/* The first water's H1 made a carbon (name and atomic number) and its residue renamed: its
 * extra point now sits on a residue that is not a water. */
static void extra_point_off_water_is_an_error_naming_residue_and_atom(void)
{
    if (!clmd_test_data("ep/tip4pew_box.prmtop")) CLMD_SKIP_DATA("tests/data/ep files missing");
    char *t = slurp(clmd_test_data("ep/tip4pew_box.prmtop"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char *names = strstr(t, "%FLAG ATOM_NAME"), *nums = strstr(t, "%FLAG ATOMIC_NUMBER");
    char *labels = strstr(t, "%FLAG RESIDUE_LABEL");
    CU_ASSERT_FATAL(names && nums && labels);
    char *first = strchr(strchr(names, '\n') + 1, '\n') + 1; /* past %FLAG and %FORMAT */
    CU_ASSERT_FATAL(strncmp(first, "O   H1  H2  EPW ", 16) == 0);
    memcpy(first + 4, "C1  ", 4);
    first = strchr(strchr(nums, '\n') + 1, '\n') + 1;
    CU_ASSERT_FATAL(strncmp(first, "       8       1       1       0", 32) == 0);
    memcpy(first + 8, "       6", 8);
    first = strchr(strchr(labels, '\n') + 1, '\n') + 1;
    CU_ASSERT_FATAL(strncmp(first, "WAT ", 4) == 0);
    memcpy(first, "MOL ", 4);
    char path[4300];
    snprintf(path, sizeof path, "%s/offwater.prmtop", clmd_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, t), 0);
    free(t);
    const char *needles[] = {"offwater.prmtop", "extra point EPW (atom 4)", "residue MOL 1",
                             "not a water", "C1", NULL};
    expect_error(path, needles);
}

/* A massive atom named EP is a contradiction, not silently a site or an atom. */
static void named_extra_point_with_mass_is_an_error(void)
{
    if (!clmd_test_data("ep/tip4pew_box.prmtop")) CLMD_SKIP_DATA("tests/data/ep files missing");
    char *t = slurp(clmd_test_data("ep/tip4pew_box.prmtop"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char *mass = strstr(t, "%FLAG MASS");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mass);
    char *first = strchr(strchr(mass, '\n') + 1, '\n') + 1;
    /* the fourth 16-wide field is the first water's EPW */
    CU_ASSERT_FATAL(strncmp(first + 48, "  0.00000000E+00", 16) == 0);
    memcpy(first + 48, "  1.00000000E+00", 16);
    char path[4300];
    snprintf(path, sizeof path, "%s/epmass.prmtop", clmd_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, t), 0);
    free(t);
    const char *needles[] = {"epmass.prmtop", "section MASS", "atom 4 (EPW)", "massless", NULL};
    expect_error(path, needles);
}

/* The first water's O-EP bond moved to join the EP to H1 (coordinate index 0 -> 3): a layout
 * whose site clmd cannot place from the bond lengths. */
static void extra_point_bonded_to_hydrogen_is_an_error(void)
{
    if (!clmd_test_data("ep/tip4pew_box.prmtop")) CLMD_SKIP_DATA("tests/data/ep files missing");
    char *t = slurp(clmd_test_data("ep/tip4pew_box.prmtop"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char *sec = strstr(t, "%FLAG BONDS_WITHOUT_HYDROGEN");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    char *first = strchr(strchr(sec, '\n') + 1, '\n') + 1;
    /* the first O-EP bond: EP (coordinate index 9) to O (0), as tleap writes it */
    CU_ASSERT_FATAL(strncmp(first, "       9       0", 16) == 0 || strncmp(first, "       0       9", 16) == 0);
    if (strncmp(first, "       9       0", 16) == 0) memcpy(first + 8, "       3", 8);
    else memcpy(first, "       3", 8);
    char path[4300];
    snprintf(path, sizeof path, "%s/ephbond.prmtop", clmd_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, t), 0);
    free(t);
    const char *needles[] = {"ephbond.prmtop", "extra point EPW (atom 4)", "water WAT 1",
                             "bonded to a hydrogen", NULL};
    expect_error(path, needles);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"TIP4P-Ew box: sites, weights, counts, exclusions match OpenMM", box_import_matches_openmm},
        {"ala2 in TIP4P-Ew: sites, weights, counts, exclusions match OpenMM", ala2_import_matches_openmm},
        {"TIP4P-Ew box: energy and forces vs OpenMM, reference path", box_reference},
        {"TIP4P-Ew box: energy and forces vs OpenMM, OpenCL", box_opencl},
        {"ala2 in TIP4P-Ew: energy and forces vs OpenMM, reference path", ala2_reference},
        {"ala2 in TIP4P-Ew: energy and forces vs OpenMM, OpenCL", ala2_opencl},
        {"clmd eval on a prmtop deck matches OpenMM", eval_deck_matches_openmm},
        {"inputs/tip4pew_amber.yaml runs a few steps", user_deck_runs_a_few_steps},
        {"TIP5P (two EPs per water) is an error naming residue and atoms", tip5p_lone_pairs_are_an_error_naming_residue_and_atoms},
        {"EP off water is an error naming residue and atom", extra_point_off_water_is_an_error_naming_residue_and_atom},
        {"named EP with mass is an error", named_extra_point_with_mass_is_an_error},
        {"EP bonded to H is an error", extra_point_bonded_to_hydrogen_is_an_error},
        {NULL, NULL}};
    return clmd_test_main("amber_ep", tests, argc, argv);
}
