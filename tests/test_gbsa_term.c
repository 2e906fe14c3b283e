/* Suite: gbsa_term (the GBSA/OBC force term, src/ff/gbsa.c + cl/gbsa.cl, run by the engine).
 * Systems come from clmd's Amber importer (alanine dipeptide, 22 atoms; the lcpo_test protein,
 * 697 atoms). References:
 *   - GB-only energies and forces: tests/refs/<system>_gbsa.json (OpenMM 7.7 Reference platform,
 *     GB force alone, made by tests/refs/make_gbsa_refs.py), no cutoff, cutoff and periodic cases;
 *   - GB force energies and total forces of whole systems: the shared ala2_obc2/ala2_obc1/
 *     protein_obc2.json (CLMD_TEST_DATA).
 * The engine always runs the nonbonded term too, so the device's GB-only forces are taken as
 * (engine with GB) - (same engine without GB): forces accumulate in 64-bit integers, the
 * nonbonded kernels add the same integers in both runs, and the difference is the GB term's own
 * contribution to the last bit. The reference path is the term's reference op.
 *
 * Tolerances: the task's (GB + ACE energy within 1e-5 of OpenMM; forces RMS within 1e-4 of
 * OpenMM; OpenCL within 1e-5 RMS of the double-precision reference), printed with what was
 * reached. The reference path is double precision and meets the same bounds by orders of
 * magnitude (tests/test_gbsa.c holds it to 1e-9). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/bonded_ref.h"
#include "ff/term.h"
#include "md/engine.h"
#include "probe/probe.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

#define E_TOL 1e-5       /* energy vs OpenMM */
#define F_OPENMM_TOL 1e-4 /* force RMS vs OpenMM */
#define F_DEV_TOL 1e-5   /* force RMS, OpenCL vs reference */

static const char *ALA2[2] = {"systems/alanine-dipeptide-implicit.prmtop",
                              "systems/alanine-dipeptide-implicit.inpcrd"};
static const char *PROTEIN[2] = {"systems/lcpo_test.prmtop", "systems/lcpo_test.inpcrd"};

static clmd_system *load(const char *const files[2])
{
    const char *top = clmd_test_data(files[0]);
    char crd[4096];
    if (!top || !clmd_test_data(files[1])) return NULL;
    snprintf(crd, sizeof crd, "%s", clmd_test_data(files[1]));
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(top, crd, &s, &err);
    if (rc) printf("\n  amber: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

static clmd_engine *engine(const clmd_system *s, const clmd_ffopts *o, const char *device,
                           clmd_probe *probe)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *e = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, o, &eo, probe, &e, &err);
    if (rc) printf("\n  engine: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return e;
}

static void evaluate(clmd_engine *e, double *en, double *f)
{
    clmd_err err = {0};
    int rc = clmd_engine_evaluate(e, en, f, &err);
    if (rc) printf("\n  evaluate: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
}

/* All energy components and forces of the engine on `device`. */
static void eval_once(const clmd_system *s, const clmd_ffopts *o, const char *device, double *en,
                      double *f)
{
    clmd_engine *e = engine(s, o, device, NULL);
    evaluate(e, en, f);
    clmd_engine_destroy(&e);
}

/* GB-only forces on the OpenCL device (see the file comment); en gets the GB run's components. */
static void gb_device(const clmd_system *s, const clmd_ffopts *o, double *en, double *f)
{
    size_t n3 = 3 * (size_t)s->n;
    double *f0 = clmd_calloc(n3, sizeof(double)), e0[CLMD_E_NCOMP];
    clmd_ffopts off = *o;
    off.gb_model = CLMD_GB_NONE;
    eval_once(s, o, "auto", en, f);
    eval_once(s, &off, "auto", e0, f0);
    for (size_t k = 0; k < n3; k++) f[k] -= f0[k];
    CU_ASSERT_EQUAL(e0[CLMD_E_GB], 0.0);
    clmd_free(f0);
}

/* GB-only energies and forces from the term's reference op. */
static void gb_reference(const clmd_system *s, const clmd_ffopts *o, double *en, double *f)
{
    clmd_term *t = NULL;
    clmd_err err = {0};
    int rc = clmd_gbsa_create(s, clmd_test_plan(s, o), &t, &err);
    if (rc) printf("\n  gbsa: %s\n", err.msg);
    CU_ASSERT_FATAL(rc == CLMD_OK && t != NULL);
    memset(en, 0, sizeof(double) * CLMD_E_NCOMP);
    memset(f, 0, sizeof(double) * 3 * (size_t)s->n);
    clmd_fenv env = clmd_test_fenv(s, clmd_test_plan(s, o), NULL);
    rc = t->ops->reference(t, &env, s->x, f, en, &err);
    if (rc) printf("\n  gbsa reference: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    clmd_term_destroy(&t);
}

typedef struct gbcase {
    clmd_jv *doc;
    const clmd_jv *c;
    double *fref;
    double eref;
} gbcase;

/* Loads case `name` of tests/refs/<file>, checks that the importer's GB parameters are the ones
 * OpenMM's force held, and sets the options (and the box of periodic cases) to the case's. */
static int gbcase_load(gbcase *g, const char *file, const char *name, clmd_system *s, clmd_ffopts *o)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/refs/%s", file);
    memset(g, 0, sizeof *g);
    g->doc = clmd_jv_load(clmd_test_source(rel));
    if (!g->doc) return 0;
    g->c = clmd_jv_get(clmd_jv_get(g->doc, "cases"), name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g->c);
    const clmd_jv *atoms = clmd_jv_get(g->doc, "atoms");
    const clmd_jv *q = clmd_jv_get(atoms, "charge"), *rad = clmd_jv_get(atoms, "radius"),
                  *sc = clmd_jv_get(atoms, "scale");
    CU_ASSERT_FATAL(q && rad && sc && q->n == s->n && rad->n == s->n && sc->n == s->n);
    double dmax = 0;
    for (int i = 0; i < s->n; i++) {
        dmax = fmax(dmax, fabs(s->charge[i] - clmd_jv_num(q->item[i], NAN)));
        dmax = fmax(dmax, fabs(s->gb_radius[i] - clmd_jv_num(rad->item[i], NAN)));
        dmax = fmax(dmax, fabs(s->gb_scale[i] - clmd_jv_num(sc->item[i], NAN)));
    }
    ASSERT_BELOW(dmax, 1e-12, "importer's charge/GB radius/scale vs OpenMM's GB force");
    const clmd_jv *model = clmd_jv_get(g->c, "model");
    CU_ASSERT_FATAL(model && model->kind == JV_STR);
    clmd_ffopts_defaults(o);
    o->gb_model = strcmp(model->str, "OBC1") == 0 ? CLMD_GB_OBC1 : CLMD_GB_OBC2;
    o->dispersion_correction = 0;
    double cut = clmd_jv_num(clmd_jv_get(g->c, "cutoff_nm"), 0.0);
    o->method = cut > 0 ? CLMD_NB_CUTOFF : CLMD_NB_NOCUTOFF;
    if (cut > 0) o->cutoff_nm = cut;
    const clmd_jv *b = clmd_jv_get(g->c, "box");
    s->periodic = 0;
    if (b && b->kind == JV_ARR) {
        double *bv = NULL;
        CU_ASSERT_FATAL(clmd_jv_vec3s(b, &bv) == 3);
        memcpy(s->box, bv, 9 * sizeof(double));
        s->periodic = 1;
        free(bv);
    }
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(g->c, "forces"), &g->fref) == s->n);
    g->eref = clmd_jv_num(clmd_jv_get(g->c, "energy"), NAN);
    return 1;
}

static void gbcase_free(gbcase *g)
{
    free(g->fref);
    clmd_jv_free(g->doc);
}

/* GB-only: OpenCL and reference against OpenMM's GB force, and against each other. */
static void check_gb_only(const char *const files[2], const char *file, const char *name)
{
    clmd_system *s = load(files);
    if (!s) CLMD_SKIP_DATA("Amber system files missing (set CLMD_TEST_DATA)");
    clmd_ffopts o;
    gbcase g;
    if (!gbcase_load(&g, file, name, s, &o)) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    }
    size_t n3 = 3 * (size_t)s->n;
    double *fd = clmd_calloc(n3, sizeof(double)), *fr = clmd_calloc(n3, sizeof(double));
    double ed[CLMD_E_NCOMP], er[CLMD_E_NCOMP];
    gb_device(s, &o, ed, fd);
    gb_reference(s, &o, er, fr);
    double egd = ed[CLMD_E_GB] + ed[CLMD_E_SA], egr = er[CLMD_E_GB] + er[CLMD_E_SA];
    double dev_ref = clmd_force_rms_rel(fd, fr, s->n), dev_mm = clmd_force_rms_rel(fd, g.fref, s->n);
    double ref_mm = clmd_force_rms_rel(fr, g.fref, s->n);
    printf("\n  %s %s: E OpenCL %.8f ref %.8f OpenMM %.8f (rel %.1e / %.1e); F RMS OpenCL-ref %.2e "
           "OpenCL-OpenMM %.2e ref-OpenMM %.2e",
           file, name, egd, egr, g.eref, fabs(egd - g.eref) / fabs(g.eref),
           fabs(egr - g.eref) / fabs(g.eref), dev_ref, dev_mm, ref_mm);
    ASSERT_REL(egd, g.eref, E_TOL, 0, "OpenCL GB + ACE energy vs OpenMM", "task bound");
    ASSERT_REL(egr, g.eref, E_TOL, 0, "reference GB + ACE energy vs OpenMM", "task bound");
    ASSERT_BELOW(dev_mm, F_OPENMM_TOL, "OpenCL GB force RMS rel vs OpenMM");
    ASSERT_BELOW(ref_mm, F_OPENMM_TOL, "reference GB force RMS rel vs OpenMM");
    ASSERT_BELOW(dev_ref, F_DEV_TOL, "OpenCL vs reference GB force RMS rel");
    ASSERT_REL(ed[CLMD_E_SA], er[CLMD_E_SA], E_TOL, 0, "OpenCL ACE energy vs reference", "task bound");
    clmd_free(fd);
    clmd_free(fr);
    gbcase_free(&g);
    clmd_system_destroy(&s);
}

static void ala2_obc2_gb_matches_openmm(void) { check_gb_only(ALA2, "ala2_gbsa.json", "obc2"); }
static void ala2_obc1_gb_matches_openmm(void) { check_gb_only(ALA2, "ala2_gbsa.json", "obc1"); }
static void protein_obc2_gb_matches_openmm(void) { check_gb_only(PROTEIN, "protein_gbsa.json", "obc2"); }
static void protein_obc1_gb_matches_openmm(void) { check_gb_only(PROTEIN, "protein_gbsa.json", "obc1"); }
static void ala2_obc2_cutoff_gb_matches_openmm(void)
{
    check_gb_only(ALA2, "ala2_gbsa.json", "obc2_cutoff");
}
static void ala2_obc1_cutoff_gb_matches_openmm(void)
{
    check_gb_only(ALA2, "ala2_gbsa.json", "obc1_cutoff");
}
static void protein_obc2_cutoff_gb_matches_openmm(void)
{
    check_gb_only(PROTEIN, "protein_gbsa.json", "obc2_cutoff");
}
static void protein_obc2_periodic_gb_matches_openmm(void)
{
    check_gb_only(PROTEIN, "protein_gbsa.json", "obc2_periodic");
}
static void protein_obc1_periodic_triclinic_gb_matches_openmm(void)
{
    check_gb_only(PROTEIN, "protein_gbsa.json", "obc1_periodic_triclinic");
}
static void protein_obc2_periodic_triclinic_gb_matches_openmm(void)
{
    check_gb_only(PROTEIN, "protein_gbsa.json", "obc2_periodic_triclinic");
}

/* Whole systems against the shared reference files: the GB force's energy, and total forces with
 * the bonded terms. Until the bonded term is merged into the engine, bonds, angles and torsions
 * come from the host reference (ff/bonded_ref.h); once the engine reports bonded energies itself
 * they are not added twice. The 1-4 pairs belong to the nonbonded term. */
static void check_total(const char *const files[2], const char *shared, const char *cls,
                        clmd_gbmodel model, const char *device)
{
    const char *path = clmd_test_data(shared);
    clmd_system *s = load(files);
    if (!s || !path) {
        if (s) clmd_system_destroy(&s);
        CLMD_SKIP_DATA("shared reference data missing (set CLMD_TEST_DATA)");
    }
    clmd_jv *doc = clmd_jv_load(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    double *fref = NULL;
    CU_ASSERT_FATAL(clmd_jv_vec3s(clmd_jv_get(doc, "forces"), &fref) == s->n);
    double egb_mm = clmd_jv_num(clmd_jv_get(clmd_jv_get(doc, "energies"), cls), NAN);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_NOCUTOFF;
    o.gb_model = model;
    size_t n3 = 3 * (size_t)s->n;
    double *f = clmd_calloc(n3, sizeof(double)), en[CLMD_E_NCOMP];
    eval_once(s, &o, device, en, f);
    int host_bonded = en[CLMD_E_BOND] == 0 && en[CLMD_E_ANGLE] == 0 && en[CLMD_E_TORSION] == 0;
    if (host_bonded) {
        clmd_bonded_ref_bonds(s, clmd_system_box(s), s->x, f);
        clmd_bonded_ref_angles(s, clmd_system_box(s), s->x, f);
        clmd_bonded_ref_torsions(s, clmd_system_box(s), s->x, f);
    }
    double egb = en[CLMD_E_GB] + en[CLMD_E_SA], rms = clmd_force_rms_rel(f, fref, s->n);
    printf("\n  %s (%s%s): %s energy %.8f (OpenMM %.8f, rel %.1e); total force RMS rel %.2e", shared,
           device, host_bonded ? ", host bonded" : "", cls, egb, egb_mm, fabs(egb - egb_mm) / fabs(egb_mm),
           rms);
    ASSERT_REL(egb, egb_mm, E_TOL, 0, "GB + ACE energy vs OpenMM's GB force", "task bound");
    ASSERT_BELOW(rms, F_OPENMM_TOL, "total force RMS rel vs OpenMM (all terms)");
    clmd_free(f);
    free(fref);
    clmd_jv_free(doc);
    clmd_system_destroy(&s);
}

static void ala2_obc2_total_forces_match_openmm(void)
{
    check_total(ALA2, "ala2_obc2.json", "GBSAOBCForce", CLMD_GB_OBC2, "auto");
    check_total(ALA2, "ala2_obc2.json", "GBSAOBCForce", CLMD_GB_OBC2, "reference");
}
static void ala2_obc1_total_forces_match_openmm(void)
{
    check_total(ALA2, "ala2_obc1.json", "CustomGBForce", CLMD_GB_OBC1, "auto");
    check_total(ALA2, "ala2_obc1.json", "CustomGBForce", CLMD_GB_OBC1, "reference");
}
static void protein_obc2_total_forces_match_openmm(void)
{
    check_total(PROTEIN, "protein_obc2.json", "GBSAOBCForce", CLMD_GB_OBC2, "auto");
    check_total(PROTEIN, "protein_obc2.json", "GBSAOBCForce", CLMD_GB_OBC2, "reference");
}

/* Same input, same bits: two engines, and repeated evaluations in one, agree exactly. The
 * alanine dipeptide runs the fused kernel on GPUs, the protein the three-kernel path. */
static void check_bitwise(const char *const files[2], const char *file, const char *name)
{
    clmd_system *s = load(files);
    if (!s) CLMD_SKIP_DATA("Amber system files missing (set CLMD_TEST_DATA)");
    clmd_ffopts o;
    gbcase g;
    if (!gbcase_load(&g, file, name, s, &o)) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    }
    size_t n3 = 3 * (size_t)s->n;
    double *f1 = clmd_calloc(n3, sizeof(double)), *f2 = clmd_calloc(n3, sizeof(double));
    double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP];
    clmd_engine *e = engine(s, &o, "auto", NULL);
    evaluate(e, e1, f1);
    for (int k = 0; k < 3; k++) {
        evaluate(e, e2, f2);
        CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof(double) * n3), 0);
        CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
    }
    clmd_engine_destroy(&e);
    eval_once(s, &o, "auto", e2, f2);
    CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof(double) * n3), 0);
    CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
    CU_ASSERT(e1[CLMD_E_GB] != 0 && e1[CLMD_E_SA] != 0);
    clmd_free(f1);
    clmd_free(f2);
    gbcase_free(&g);
    clmd_system_destroy(&s);
}

static void repeated_evaluations_are_bitwise_identical(void)
{
    check_bitwise(ALA2, "ala2_gbsa.json", "obc2");
    check_bitwise(PROTEIN, "protein_gbsa.json", "obc2_periodic_triclinic");
}

/* After the neighbor list is rebuilt (atoms moved past half the skin), the device still matches
 * the reference: the term notices the new list and rebuilds its supplementary partners. */
static void cutoff_forces_follow_neighbor_list_rebuilds(void)
{
    clmd_system *s = load(PROTEIN);
    if (!s) CLMD_SKIP_DATA("Amber system files missing (set CLMD_TEST_DATA)");
    clmd_ffopts o;
    gbcase g;
    if (!gbcase_load(&g, "protein_gbsa.json", "obc2_periodic", s, &o)) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("reference file missing: run tests/refs/make_gbsa_refs.py");
    }
    size_t n3 = 3 * (size_t)s->n;
    double *x = clmd_calloc(n3, sizeof(double)), *fd = clmd_calloc(n3, sizeof(double));
    double *f0 = clmd_calloc(n3, sizeof(double)), *fr = clmd_calloc(n3, sizeof(double));
    double en[CLMD_E_NCOMP], e0[CLMD_E_NCOMP], er[CLMD_E_NCOMP];
    clmd_ffopts off = o;
    off.gb_model = CLMD_GB_NONE;
    clmd_engine *e = engine(s, &o, "auto", NULL), *e_off = engine(s, &off, "auto", NULL);
    evaluate(e, en, fd);
    long builds = clmd_engine_list_builds(e);
    /* shift the whole protein by 1.3 nm (wrapping through the box) and jitter it */
    unsigned seed = 7;
    for (size_t k = 0; k < n3; k++) {
        seed = seed * 1664525u + 1013904223u;
        x[k] = s->x[k] + (k % 3 == 0 ? 1.3 : 0.0) + 0.01 * ((seed >> 8) / 16777216.0 - 0.5);
    }
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_engine_set_positions(e, x, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_engine_set_positions(e_off, x, &err), CLMD_OK);
    CU_ASSERT(clmd_engine_list_builds(e) > builds);
    evaluate(e, en, fd);
    evaluate(e_off, e0, f0);
    for (size_t k = 0; k < n3; k++) fd[k] -= f0[k];
    memcpy(s->x, x, sizeof(double) * n3);
    gb_reference(s, &o, er, fr);
    double rms = clmd_force_rms_rel(fd, fr, s->n);
    double ed = en[CLMD_E_GB] + en[CLMD_E_SA], eref = er[CLMD_E_GB] + er[CLMD_E_SA];
    printf("\n  after rebuild: E OpenCL %.8f ref %.8f; F RMS rel %.2e", ed, eref, rms);
    ASSERT_REL(ed, eref, E_TOL, 0, "OpenCL GB + ACE energy vs reference after a rebuild", "task bound");
    ASSERT_BELOW(rms, F_DEV_TOL, "OpenCL vs reference GB force RMS rel after a rebuild");
    clmd_engine_destroy(&e);
    clmd_engine_destroy(&e_off);
    clmd_free(x);
    clmd_free(fd);
    clmd_free(f0);
    clmd_free(fr);
    gbcase_free(&g);
    clmd_system_destroy(&s);
}

/* Device time per GB evaluation from the probes (P_GB_RADII + P_GB_FORCE), printed for 22 and
 * 697 atoms with the nonbonded kernel's time beside it. The bound is loose on purpose, only to
 * catch per-evaluation overhead coming back (the seed audit measured 7.8 ms for 4 atoms). */
static double time_gb(const char *const files[2], const char *label)
{
    clmd_system *s = load(files);
    if (!s) return -1;
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_NOCUTOFF;
    o.gb_model = CLMD_GB_OBC2;
    clmd_probe *p = clmd_probe_create(1);
    clmd_engine *e = engine(s, &o, "auto", p);
    double en[CLMD_E_NCOMP];
    evaluate(e, en, NULL); /* warm-up: program builds and first launches */
    double r0 = clmd_probe_total_ms(p, P_GB_RADII), f0 = clmd_probe_total_ms(p, P_GB_FORCE);
    double nb0 = clmd_probe_total_ms(p, P_NONBONDED);
    const int reps = 50;
    for (int k = 0; k < reps; k++) evaluate(e, en, NULL);
    double radii = (clmd_probe_total_ms(p, P_GB_RADII) - r0) / reps;
    double force = (clmd_probe_total_ms(p, P_GB_FORCE) - f0) / reps;
    double nb = (clmd_probe_total_ms(p, P_NONBONDED) - nb0) / reps;
    printf("\n  %s (%d atoms) on %s: GB %.4f ms per evaluation (radii %.4f, forces %.4f); "
           "nonbonded %.4f ms",
           label, s->n, clmd_engine_device(e), radii + force, radii, force, nb);
    clmd_engine_destroy(&e);
    clmd_probe_destroy(&p);
    clmd_system_destroy(&s);
    return radii + force;
}

static void gb_device_time_per_evaluation(void)
{
    double small = time_gb(ALA2, "alanine dipeptide");
    double big = time_gb(PROTEIN, "lcpo protein");
    if (small < 0 || big < 0) CLMD_SKIP_DATA("Amber system files missing (set CLMD_TEST_DATA)");
    ASSERT_BELOW(small, 1.0, "GB device ms per evaluation, 22 atoms");
    CU_ASSERT(big > 0);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"ala2 OBC2, no cutoff: GB energy and forces match OpenMM, OpenCL matches reference", ala2_obc2_gb_matches_openmm},
        {"ala2 OBC1 (CustomGBForce), no cutoff: GB matches OpenMM", ala2_obc1_gb_matches_openmm},
        {"protein OBC2, no cutoff: GB matches OpenMM", protein_obc2_gb_matches_openmm},
        {"protein OBC1, no cutoff: GB matches OpenMM", protein_obc1_gb_matches_openmm},
        {"ala2 OBC2, cutoff 0.6 nm non-periodic: GB matches OpenMM", ala2_obc2_cutoff_gb_matches_openmm},
        {"ala2 OBC1, cutoff 0.6 nm non-periodic: GB matches OpenMM", ala2_obc1_cutoff_gb_matches_openmm},
        {"protein OBC2, cutoff 1 nm non-periodic: GB matches OpenMM", protein_obc2_cutoff_gb_matches_openmm},
        {"protein OBC2, cutoff 1 nm periodic box: GB matches OpenMM", protein_obc2_periodic_gb_matches_openmm},
        {"protein OBC1, cutoff 1 nm triclinic box: GB matches OpenMM", protein_obc1_periodic_triclinic_gb_matches_openmm},
        {"protein OBC2, cutoff 1 nm triclinic box: GB matches OpenMM", protein_obc2_periodic_triclinic_gb_matches_openmm},
        {"ala2 OBC2: GB energy and total forces (all terms) match OpenMM", ala2_obc2_total_forces_match_openmm},
        {"ala2 OBC1: GB energy and total forces (all terms) match OpenMM", ala2_obc1_total_forces_match_openmm},
        {"protein OBC2: GB energy and total forces (all terms) match OpenMM", protein_obc2_total_forces_match_openmm},
        {"repeated OpenCL evaluations are bitwise identical", repeated_evaluations_are_bitwise_identical},
        {"cutoff: forces follow neighbor-list rebuilds", cutoff_forces_follow_neighbor_list_rebuilds},
        {"GB device time per evaluation (probes)", gb_device_time_per_evaluation},
        {NULL, NULL}};
    return clmd_test_main("gbsa_term", tests, argc, argv);
}
