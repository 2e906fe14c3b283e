/* Suite: gbsa (GBSA/OBC double-precision reference, src/ff/gbsa_ref.c).
 * References: tests/refs/<system>_gbsa.json, made by tests/refs/make_gbsa_refs.py with OpenMM 7.7's Reference
 * platform (double precision) from the Amber files in the shared data folder; per-atom parameters are the
 * ones OpenMM's GB force holds, so these tests do not depend on clmd's Amber importer.
 *
 * Tolerances: clmd and OpenMM evaluate the same closed-form expressions in double precision and differ
 * only in summation order, so agreement is ~1e-13 (measured values are printed). The bounds below are
 * 1e-9 (energy) and 1e-8 (force RMS), far inside the 1e-5 / 1e-4 the term must meet and tight enough to
 * catch a wrong Coulomb constant (OpenMM's two differ by 2e-7) or a dropped pair. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ff/gbsa_ref.h"
#include "system/system.h"
#include "testutil.h"

#define E_TOL 1e-9
#define F_TOL 1e-8

typedef struct ref {
    clmd_jv *doc;
    int n;
    double *q, *rad, *scale, *x; /* malloc'd */
} ref;

static double *num_array(const clmd_jv *a, int n)
{
    if (!a || a->kind != JV_ARR || a->n != n) return NULL;
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) v[i] = clmd_jv_num(a->item[i], NAN);
    return v;
}

static int ref_load(ref *r, const char *file)
{
    memset(r, 0, sizeof *r);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/refs/%s", file);
    r->doc = clmd_jv_load(clmd_test_source(rel));
    if (!r->doc) return 0;
    const clmd_jv *atoms = clmd_jv_get(r->doc, "atoms");
    r->n = clmd_jv_vec3s(clmd_jv_get(atoms, "positions"), &r->x);
    r->q = num_array(clmd_jv_get(atoms, "charge"), r->n);
    r->rad = num_array(clmd_jv_get(atoms, "radius"), r->n);
    r->scale = num_array(clmd_jv_get(atoms, "scale"), r->n);
    CU_ASSERT_FATAL(r->n > 0 && r->q && r->rad && r->scale);
    return 1;
}

static void ref_free(ref *r)
{
    clmd_jv_free(r->doc);
    free(r->q);
    free(r->rad);
    free(r->scale);
    free(r->x);
}

static const clmd_jv *ref_case(const ref *r, const char *name)
{
    const clmd_jv *c = clmd_jv_get(clmd_jv_get(r->doc, "cases"), name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return c;
}

/* Params for a reference case, from clmd's own model constants; asserts that the constants OpenMM used
 * (recorded in the file) are the ones clmd_gbsa_params_init picked. box gets the case's box or NULL. */
static void case_params(const ref *r, const clmd_jv *c, clmd_gbsa_params *p, double box[3][3], int *has_box)
{
    const clmd_jv *model = clmd_jv_get(c, "model");
    CU_ASSERT_FATAL(model && model->kind == JV_STR);
    clmd_gbsa_params_init(p, strcmp(model->str, "OBC1") == 0 ? CLMD_GB_OBC1 : CLMD_GB_OBC2);
    CU_ASSERT_EQUAL(p->coulomb, clmd_jv_num(clmd_jv_get(c, "coulomb"), NAN));
    CU_ASSERT_EQUAL(p->solute_dielectric, clmd_jv_num(clmd_jv_get(c, "solute_dielectric"), NAN));
    CU_ASSERT_EQUAL(p->solvent_dielectric, clmd_jv_num(clmd_jv_get(c, "solvent_dielectric"), NAN));
    CU_ASSERT_EQUAL(p->sa_energy, clmd_jv_num(clmd_jv_get(c, "sa_energy"), NAN));
    CU_ASSERT_EQUAL(p->probe_radius_nm, clmd_jv_num(clmd_jv_get(c, "probe_radius_nm"), NAN));
    p->cutoff_nm = clmd_jv_num(clmd_jv_get(c, "cutoff_nm"), 0.0);
    p->charge = r->q;
    p->radius = r->rad;
    p->scale = r->scale;
    const clmd_jv *b = clmd_jv_get(c, "box");
    *has_box = b && b->kind == JV_ARR;
    if (*has_box) {
        double *bv = NULL;
        CU_ASSERT_FATAL(clmd_jv_vec3s(b, &bv) == 3);
        memcpy(box, bv, 9 * sizeof(double));
        free(bv);
    }
}

/* Runs a case and compares energy, forces and Born radii with OpenMM; prints what was reached. */
static void check_case(const char *file, const char *name)
{
    ref r;
    if (!ref_load(&r, file))
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    const clmd_jv *c = ref_case(&r, name);
    clmd_gbsa_params p;
    double box[3][3];
    int has_box;
    case_params(&r, c, &p, box, &has_box);
    double *f = calloc(3 * (size_t)r.n, sizeof *f), *born = calloc((size_t)r.n, sizeof *born), *fref = NULL;
    double egb = NAN, esa = NAN;
    clmd_err err = {0};
    int rc = clmd_gbsa_ref(&p, r.n, r.x, has_box ? (const double(*)[3])box : NULL, f, &egb, &esa, born, &err);
    if (rc != CLMD_OK) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    double eref = clmd_jv_num(clmd_jv_get(c, "energy"), NAN);
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref) == r.n);
    double *bref = num_array(clmd_jv_get(c, "born_radii"), r.n);
    CU_ASSERT_FATAL(bref != NULL);
    double bmax = 0;
    for (int i = 0; i < r.n; i++) bmax = fmax(bmax, fabs(born[i] - bref[i]) / bref[i]);
    printf("\n  %s %s: E %.10f (OpenMM %.10f)", file, name, egb + esa, eref);
    ASSERT_BELOW(fabs(egb + esa - eref) / fabs(eref), E_TOL, "energy rel error vs OpenMM");
    ASSERT_BELOW(clmd_force_rms_rel(f, fref, r.n), F_TOL, "force RMS rel error vs OpenMM");
    /* Born radii come from numpy (OpenMM does not expose them), checked there against OpenMM's energy */
    ASSERT_BELOW(bmax, 1e-11, "max Born radius rel error vs numpy recomputation");
    free(f);
    free(born);
    free(fref);
    free(bref);
    ref_free(&r);
}

static void ala2_obc2_matches_openmm(void) { check_case("ala2_gbsa.json", "obc2"); }
static void ala2_obc1_matches_openmm_customgb(void) { check_case("ala2_gbsa.json", "obc1"); }
static void ala2_obc2_cutoff_nonperiodic_matches_openmm(void) { check_case("ala2_gbsa.json", "obc2_cutoff"); }
static void ala2_obc1_cutoff_nonperiodic_matches_openmm(void) { check_case("ala2_gbsa.json", "obc1_cutoff"); }
static void protein_obc2_matches_openmm(void) { check_case("protein_gbsa.json", "obc2"); }
static void protein_obc1_matches_openmm(void) { check_case("protein_gbsa.json", "obc1"); }
static void protein_obc2_cutoff_nonperiodic_matches_openmm(void) { check_case("protein_gbsa.json", "obc2_cutoff"); }
static void protein_obc1_cutoff_nonperiodic_matches_openmm(void) { check_case("protein_gbsa.json", "obc1_cutoff"); }
static void protein_obc2_periodic_box_matches_openmm(void) { check_case("protein_gbsa.json", "obc2_periodic"); }
static void protein_obc2_periodic_triclinic_matches_openmm(void)
{
    check_case("protein_gbsa.json", "obc2_periodic_triclinic");
}
static void protein_obc1_periodic_triclinic_matches_openmm(void)
{
    check_case("protein_gbsa.json", "obc1_periodic_triclinic");
}
/* Atom 1 sits inside atom 0's scaled sphere: the built-in adds the inside correction, the CustomGBForce
 * does not and its force carries the extra dL/dr term. */
static void engulfed_atom_obc2_builtin_matches_openmm(void) { check_case("engulfed_gbsa.json", "obc2"); }
static void engulfed_atom_obc1_customgb_matches_openmm(void) { check_case("engulfed_gbsa.json", "obc1"); }

/* ACE energy and forces alone: OpenMM's (with ACE) - (without ACE) against clmd's e_sa and the force
 * difference between surface_area on and off. */
static void ace_term_alone(const char *file, const char *name)
{
    ref r;
    if (!ref_load(&r, file))
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    const clmd_jv *c = ref_case(&r, name);
    clmd_gbsa_params p;
    double box[3][3];
    int has_box;
    case_params(&r, c, &p, box, &has_box);
    CU_ASSERT_FATAL(!has_box);
    size_t n3 = 3 * (size_t)r.n;
    double *fon = calloc(n3, sizeof(double)), *foff = calloc(n3, sizeof(double));
    double *fref = NULL, *fref_off = NULL, egb_on, esa_on, egb_off, esa_off;
    CU_ASSERT_EQUAL_FATAL(clmd_gbsa_ref(&p, r.n, r.x, NULL, fon, &egb_on, &esa_on, NULL, NULL), CLMD_OK);
    p.surface_area = 0;
    CU_ASSERT_EQUAL_FATAL(clmd_gbsa_ref(&p, r.n, r.x, NULL, foff, &egb_off, &esa_off, NULL, NULL), CLMD_OK);
    CU_ASSERT_EQUAL(esa_off, 0.0);
    CU_ASSERT_EQUAL(egb_on, egb_off); /* ACE leaves the polar energy alone */
    double e_on = clmd_jv_num(clmd_jv_get(c, "energy"), NAN), e_off = clmd_jv_num(clmd_jv_get(c, "energy_nosa"), NAN);
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref) == r.n);
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces_nosa"), &fref_off) == r.n);
    for (size_t k = 0; k < n3; k++) {
        fon[k] -= foff[k];
        fref[k] -= fref_off[k];
    }
    printf("\n  %s %s: E_sa %.10f (OpenMM %.10f)", file, name, esa_on, e_on - e_off);
    /* OBC1's CustomGBForce writes 28.3919551 for 4 pi 2.25936 = 28.39195514...: 1.4e-9 relative */
    ASSERT_BELOW(fabs(esa_on - (e_on - e_off)) / fabs(e_on - e_off), E_TOL * 10, "ACE energy rel error");
    ASSERT_BELOW(clmd_force_rms_rel(fon, fref, r.n), F_TOL, "ACE force RMS rel error");
    ASSERT_BELOW(clmd_force_rms_rel(foff, fref_off, r.n), F_TOL, "force RMS rel error without ACE");
    free(fon);
    free(foff);
    free(fref);
    free(fref_off);
    ref_free(&r);
}

static void ace_term_alone_ala2_obc2(void) { ace_term_alone("ala2_gbsa.json", "obc2"); }
static void ace_term_alone_ala2_obc1(void) { ace_term_alone("ala2_gbsa.json", "obc1"); }
static void ace_term_alone_protein_obc2(void) { ace_term_alone("protein_gbsa.json", "obc2"); }

/* Forces are minus the gradient of e_gb + e_sa: central differences on a few atoms, every component. */
static void forces_are_energy_gradient(const char *file, const char *name, const int *atoms, int natoms)
{
    ref r;
    if (!ref_load(&r, file))
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    const clmd_jv *c = ref_case(&r, name);
    clmd_gbsa_params p;
    double box[3][3];
    int has_box;
    case_params(&r, c, &p, box, &has_box);
    const double(*bx)[3] = has_box ? (const double(*)[3])box : NULL;
    double *f = calloc(3 * (size_t)r.n, sizeof *f);
    CU_ASSERT_EQUAL_FATAL(clmd_gbsa_ref(&p, r.n, r.x, bx, f, NULL, NULL, NULL, NULL), CLMD_OK);
    /* h = 1e-5 nm: truncation error h^2 E'''/6 ~ 1e-8 kJ/mol/nm, rounding ~1e-16 |E| / h ~ 1e-8 for the
     * protein; a wrong derivative term is >= 1e-3 of the force. */
    const double h = 1e-5;
    double worst = 0, fscale = 0;
    for (int a = 0; a < natoms; a++) {
        int i = atoms[a];
        for (int k = 0; k < 3; k++) {
            double e[2], x0 = r.x[3 * i + k];
            for (int s = 0; s < 2; s++) {
                double gb, sa;
                r.x[3 * i + k] = x0 + (s ? -h : h);
                CU_ASSERT_EQUAL_FATAL(clmd_gbsa_ref(&p, r.n, r.x, bx, NULL, &gb, &sa, NULL, NULL), CLMD_OK);
                e[s] = gb + sa;
            }
            r.x[3 * i + k] = x0;
            double fd = -(e[0] - e[1]) / (2 * h);
            worst = fmax(worst, fabs(fd - f[3 * i + k]));
            fscale = fmax(fscale, fabs(f[3 * i + k]));
        }
    }
    printf("\n  %s %s: max |F - F_fd| %.3g kJ/mol/nm over forces up to %.3g", file, name, worst, fscale);
    ASSERT_BELOW(worst / fscale, 1e-6, "max finite-difference error / max force component");
    free(f);
    ref_free(&r);
}

static void fd_ala2_obc2(void)
{
    const int atoms[] = {0, 4, 8, 14, 21};
    forces_are_energy_gradient("ala2_gbsa.json", "obc2", atoms, 5);
}
static void fd_ala2_obc1(void)
{
    const int atoms[] = {1, 6, 10, 18};
    forces_are_energy_gradient("ala2_gbsa.json", "obc1", atoms, 4);
}
static void fd_engulfed_both_flavours(void)
{
    const int atoms[] = {0, 1, 2};
    forces_are_energy_gradient("engulfed_gbsa.json", "obc2", atoms, 3);
    forces_are_energy_gradient("engulfed_gbsa.json", "obc1", atoms, 3);
}
static void fd_protein_periodic_triclinic(void)
{
    const int atoms[] = {0, 250, 696};
    forces_are_energy_gradient("protein_gbsa.json", "obc2_periodic_triclinic", atoms, 3);
}

/* Our dumps and the shared reference files (made separately by make_refs.py) must agree: same OpenMM,
 * same prmtops and coordinates, so the GB force energies should be the same number. */
static void shared_reference(const char *shared, const char *cls, const char *file, const char *name)
{
    const char *path = clmd_test_data(shared);
    if (!path) CLMD_SKIP_DATA("shared reference data missing (set CLMD_TEST_DATA)");
    clmd_jv *s = clmd_jv_load(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    ref r;
    if (!ref_load(&r, file)) {
        clmd_jv_free(s);
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    }
    double es = clmd_jv_num(clmd_jv_get(clmd_jv_get(s, "energies"), cls), NAN);
    double eo = clmd_jv_num(clmd_jv_get(ref_case(&r, name), "energy"), NAN);
    printf("\n  %s %s %.12f vs %s %s %.12f", shared, cls, es, file, name, eo);
    ASSERT_REL(eo, es, 1e-12, 0, "GB force energy", "same OpenMM, same inputs: only the bits can differ");
    CU_ASSERT_EQUAL(clmd_jv_num(clmd_jv_get(s, "particles"), -1), r.n);
    clmd_jv_free(s);
    ref_free(&r);
}

static void shared_data_agrees_with_gbsa_dumps(void)
{
    shared_reference("ala2_obc2.json", "GBSAOBCForce", "ala2_gbsa.json", "obc2");
    shared_reference("ala2_obc1.json", "CustomGBForce", "ala2_gbsa.json", "obc1");
    shared_reference("protein_obc2.json", "GBSAOBCForce", "protein_gbsa.json", "obc2");
}

/* The wrapper that reads a clmd_system and the deck options reproduces OpenMM, periodic included. */
static void system_wrapper(const char *file, const char *name, clmd_gbmodel model, clmd_nbmethod method)
{
    ref r;
    if (!ref_load(&r, file))
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    const clmd_jv *c = ref_case(&r, name);
    clmd_system *sys = clmd_system_create();
    clmd_system_alloc_particles(sys, r.n);
    clmd_system_alloc_gb(sys);
    memcpy(sys->x, r.x, 3 * (size_t)r.n * sizeof(double));
    memcpy(sys->charge, r.q, (size_t)r.n * sizeof(double));
    memcpy(sys->gb_radius, r.rad, (size_t)r.n * sizeof(double));
    memcpy(sys->gb_scale, r.scale, (size_t)r.n * sizeof(double));
    const clmd_jv *b = clmd_jv_get(c, "box");
    if (b && b->kind == JV_ARR) {
        double *bv = NULL;
        CU_ASSERT_FATAL(clmd_jv_vec3s(b, &bv) == 3);
        memcpy(sys->box, bv, 9 * sizeof(double));
        sys->periodic = 1;
        free(bv);
    }
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.gb_model = model;
    o.method = method;
    o.cutoff_nm = clmd_jv_num(clmd_jv_get(c, "cutoff_nm"), 0.0);
    double *f = calloc(3 * (size_t)r.n, sizeof *f), *fref = NULL, egb, esa;
    clmd_err err = {0};
    int rc = clmd_gbsa_ref_system(sys, &o, NULL, f, &egb, &esa, NULL, &err);
    if (rc != CLMD_OK) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref) == r.n);
    double eref = clmd_jv_num(clmd_jv_get(c, "energy"), NAN);
    ASSERT_BELOW(fabs(egb + esa - eref) / fabs(eref), E_TOL, "wrapper energy rel error vs OpenMM");
    ASSERT_BELOW(clmd_force_rms_rel(f, fref, r.n), F_TOL, "wrapper force RMS rel error vs OpenMM");
    free(f);
    free(fref);
    clmd_system_destroy(&sys);
    ref_free(&r);
}

static void params_from_system_and_options_match_openmm(void)
{
    system_wrapper("ala2_gbsa.json", "obc2", CLMD_GB_OBC2, CLMD_NB_NOCUTOFF);
    system_wrapper("ala2_gbsa.json", "obc1_cutoff", CLMD_GB_OBC1, CLMD_NB_REACTION_FIELD);
    system_wrapper("protein_gbsa.json", "obc1_periodic_triclinic", CLMD_GB_OBC1, CLMD_NB_CUTOFF);
}

static void bad_parameters_are_refused_with_a_message(void)
{
    const double x[6] = {0, 0, 0, 0.3, 0, 0}, q[2] = {0.5, -0.5}, sc[2] = {0.8, 0.8};
    const double rad[2] = {0.15, 0.15}, rad_bad[2] = {0.15, 0.009}; /* 0.009: not above the offset */
    double f[6] = {0}, e = 123.0;
    clmd_gbsa_params p;
    clmd_gbsa_params_init(&p, CLMD_GB_OBC2);
    p.charge = q;
    p.radius = rad;
    p.scale = sc;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, x, NULL, f, &e, NULL, NULL, &err), CLMD_OK);
    CU_ASSERT(e < 0); /* opposite charges in a dielectric: solvation lowers the energy */

    p.radius = rad_bad;
    e = 123.0;
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, x, NULL, f, &e, NULL, NULL, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "atom 2"));
    CU_ASSERT_EQUAL(e, 123.0); /* nothing written on error */
    p.radius = rad;

    const double box[3][3] = {{3, 0, 0}, {0, 3, 0}, {0, 0, 3}};
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, x, box, f, &e, NULL, NULL, &err), CLMD_EINPUT); /* box, no cutoff */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cutoff"));
    p.cutoff_nm = 1.6; /* more than half the box */
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, x, box, f, &e, NULL, NULL, &err), CLMD_EINPUT);
    p.cutoff_nm = 1.0;
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, x, box, f, &e, NULL, NULL, &err), CLMD_OK);

    /* coincident atoms are no input error here: their energy is not finite, and the engine's
     * overflow check names them (tests/test_contacts.c) */
    const double same[6] = {0.1, 0.2, 0.3, 0.1, 0.2, 0.3};
    CU_ASSERT_EQUAL(clmd_gbsa_ref(&p, 2, same, NULL, f, &e, NULL, NULL, &err), CLMD_OK);
    CU_ASSERT(!isfinite(e));

    clmd_system *sys = clmd_system_create();
    clmd_system_alloc_particles(sys, 2);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.gb_model = CLMD_GB_OBC2;
    CU_ASSERT_EQUAL(clmd_gbsa_params_from_system(&p, NULL, sys, &o, &err), CLMD_EINPUT); /* no GB radii */
    clmd_system_alloc_gb(sys);
    o.method = CLMD_NB_PME;
    CU_ASSERT_EQUAL(clmd_gbsa_params_from_system(&p, NULL, sys, &o, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "PME"));
    clmd_system_destroy(&sys);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"ala2 OBC2 (GBSAOBCForce) energy, forces, Born radii match OpenMM", ala2_obc2_matches_openmm},
        {"ala2 OBC1 (CustomGBForce) matches OpenMM", ala2_obc1_matches_openmm_customgb},
        {"ala2 OBC2 CutoffNonPeriodic 0.6 nm matches OpenMM", ala2_obc2_cutoff_nonperiodic_matches_openmm},
        {"ala2 OBC1 CutoffNonPeriodic 0.6 nm matches OpenMM", ala2_obc1_cutoff_nonperiodic_matches_openmm},
        {"protein (697 atoms) OBC2 matches OpenMM", protein_obc2_matches_openmm},
        {"protein OBC1 matches OpenMM", protein_obc1_matches_openmm},
        {"protein OBC2 CutoffNonPeriodic 1.0 nm matches OpenMM", protein_obc2_cutoff_nonperiodic_matches_openmm},
        {"protein OBC1 CutoffNonPeriodic 1.0 nm matches OpenMM", protein_obc1_cutoff_nonperiodic_matches_openmm},
        {"protein OBC2 CutoffPeriodic rectangular box matches OpenMM", protein_obc2_periodic_box_matches_openmm},
        {"protein OBC2 CutoffPeriodic triclinic box matches OpenMM", protein_obc2_periodic_triclinic_matches_openmm},
        {"protein OBC1 CutoffPeriodic triclinic box matches OpenMM", protein_obc1_periodic_triclinic_matches_openmm},
        {"engulfed atom: OBC2 built-in inside correction matches OpenMM", engulfed_atom_obc2_builtin_matches_openmm},
        {"engulfed atom: OBC1 CustomGBForce (no correction) matches OpenMM", engulfed_atom_obc1_customgb_matches_openmm},
        {"ACE term alone matches OpenMM (ala2 OBC2)", ace_term_alone_ala2_obc2},
        {"ACE term alone matches OpenMM (ala2 OBC1)", ace_term_alone_ala2_obc1},
        {"ACE term alone matches OpenMM (protein OBC2)", ace_term_alone_protein_obc2},
        {"forces are minus the energy gradient (ala2 OBC2)", fd_ala2_obc2},
        {"forces are minus the energy gradient (ala2 OBC1)", fd_ala2_obc1},
        {"forces are minus the energy gradient with an engulfed atom (both flavours)", fd_engulfed_both_flavours},
        {"forces are minus the energy gradient (protein, periodic triclinic)", fd_protein_periodic_triclinic},
        {"shared ala2/protein OBC references agree with the GBSA dumps", shared_data_agrees_with_gbsa_dumps},
        {"params from a clmd_system and deck options reproduce OpenMM", params_from_system_and_options_match_openmm},
        {"bad parameters are refused with a message", bad_parameters_are_refused_with_a_message},
        {NULL, NULL}};
    return clmd_test_main("gbsa", tests, argc, argv);
}
