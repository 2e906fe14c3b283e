/* Suite: bonded term (bonds, angles, torsions) through the engine. The OpenCL kernels must
 * reproduce the double-precision reference (ff/bonded_ref.c) on alanine dipeptide, in vacuum
 * and in its periodic water box, also for molecules split across the box; repeated evaluations
 * must be bitwise identical; and the whole force field (bonded + nonbonded) must match
 * OpenMM 7.7 (ala2_vacuum.json, ala2_rf.json) on the device and on the reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/term.h"
#include "md/engine.h"
#include "probe/probe.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

static const char *IMPLICIT[2] = {"systems/alanine-dipeptide-implicit.prmtop",
                                  "systems/alanine-dipeptide-implicit.inpcrd"};
static const char *EXPLICIT[2] = {"systems/alanine-dipeptide-explicit.prmtop",
                                  "systems/alanine-dipeptide-explicit.inpcrd"};

/* Loads a data-folder Amber system; NULL (the caller skips loudly) when the files are absent. */
static clmd_system *load(const char *const files[2])
{
    char p[4096], c[4096];
    const char *pp = clmd_test_data(files[0]);
    if (!pp) return NULL;
    snprintf(p, sizeof p, "%s", pp);
    const char *cc = clmd_test_data(files[1]);
    if (!cc) return NULL;
    snprintf(c, sizeof c, "%s", cc);
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(p, c, &s, &err);
    if (rc) printf("\n  load %s failed: %s\n", files[0], err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

/* One engine evaluation on `device` ("reference" or an OpenCL spec) at positions x. */
static int eval(const clmd_system *s, const clmd_ffopts *o, const char *device, const double *x,
                double *e, double *f)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, o, &eo, NULL, &eng, &err);
    if (rc) {
        printf("\n  engine (%s): %s\n", device, err.msg);
        return rc;
    }
    if (x) rc = clmd_engine_set_positions(eng, x, &err);
    if (!rc) rc = clmd_engine_evaluate(eng, e, f, &err);
    if (rc) printf("\n  evaluate (%s): %s\n", device, err.msg);
    clmd_engine_destroy(&eng);
    return rc;
}

static clmd_ffopts nocutoff_opts(void)
{
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_NOCUTOFF;
    return o;
}

/* Leaves only the bonded forces: no charges, no LJ, 1-4 exceptions of zero strength (the
 * nonbonded kernels then add exact zeros). */
static void zero_nonbonded(clmd_system *s)
{
    for (int i = 0; i < s->n; i++) s->charge[i] = s->epsilon[i] = 0;
    for (int p = 0; p < s->npairs; p++) s->pairs[p].qq = s->pairs[p].eps = 0;
}

static double *vec3n(const clmd_system *s) { return clmd_calloc(3 * (size_t)s->n, sizeof(double)); }

/* ---- the term itself ---- */

static void systems_without_bonded_terms_get_no_term_and_counts_are_described(void)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, 4);
    clmd_ffopts o = nocutoff_opts();
    clmd_term sentinel = {0}, *t = &sentinel; /* must be overwritten with NULL */
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_bonded_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(t);
    /* a chain 0-1-2-3 with one proper torsion, and one improper (2 is not bonded to 0) */
    clmd_system_add_bond(s, 0, 1, 1000, 0.1);
    clmd_system_add_bond(s, 1, 2, 1000, 0.1);
    clmd_system_add_bond(s, 2, 3, 1000, 0.1);
    clmd_system_add_angle(s, 0, 1, 2, 100, 2.0);
    clmd_system_add_torsion(s, 0, 1, 2, 3, 3, 1.0, 0.0);
    clmd_system_add_torsion(s, 1, 0, 2, 3, 2, 4.0, M_PI);
    CU_ASSERT_EQUAL_FATAL(clmd_bonded_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    t->ops->describe(t, f);
    fclose(f);
    printf("\n  %s", buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "3 harmonic bonds, 1 harmonic angles, 2 periodic torsions "
                                       "(1 proper, 1 improper)"));
    clmd_term_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
    clmd_system_destroy(&s);
}

/* Energies and forces of one kind of term alone (the others' counts set to zero for the call),
 * on the device and the reference; returns the force RMS relative error. */
static double compare_kind(clmd_system *s, const clmd_ffopts *o, int kind, const double *x,
                           const char *label)
{
    static const char *kname[3] = {"bonds", "angles", "torsions"};
    static const clmd_ecomp comp[3] = {CLMD_E_BOND, CLMD_E_ANGLE, CLMD_E_TORSION};
    const int saved[3] = {s->nbonds, s->nangles, s->ntorsions};
    int *count[3] = {&s->nbonds, &s->nangles, &s->ntorsions};
    for (int k = 0; k < 3; k++)
        if (kind >= 0 && k != kind) *count[k] = 0;
    double ed[CLMD_E_NCOMP], er[CLMD_E_NCOMP], *fd = vec3n(s), *fr = vec3n(s);
    int rc = eval(s, o, "reference", x, er, fr);
    if (!rc) rc = eval(s, o, "auto", x, ed, fd);
    for (int k = 0; k < 3; k++) *count[k] = saved[k];
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    double rms = clmd_force_rms_rel(fd, fr, s->n);
    printf("\n  %s %-8s", label, kind >= 0 ? kname[kind] : "all");
    for (int k = 0; k < 3; k++) {
        if (kind >= 0 && k != kind) continue;
        double rel = fabs(ed[comp[k]] - er[comp[k]]) / fabs(er[comp[k]]);
        printf(" E_%s %.6f rel %.1e", kname[k], er[comp[k]], rel);
        ASSERT_REL(ed[comp[k]], er[comp[k]], 1e-5, 0, kname[k],
                   "float kernels with double-float r - r0 and theta - theta0: ~1e-7 expected");
    }
    printf(", force rms rel %.2e", rms);
    ASSERT_BELOW(rms, 1e-5, "bonded forces, OpenCL vs reference (RMS relative)");
    clmd_free(fd);
    clmd_free(fr);
    return rms;
}

static void compare_bonded_only(const char *const files[2], const char *label)
{
    clmd_system *s = load(files);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide prmtop/inpcrd not in CLMD_TEST_DATA");
    zero_nonbonded(s);
    /* no cutoff also for the periodic one: the bonded term follows the box regardless */
    clmd_ffopts o = nocutoff_opts();
    for (int kind = 0; kind < 3; kind++) compare_kind(s, &o, kind, NULL, label);
    compare_kind(s, &o, -1, NULL, label);
    clmd_system_destroy(&s);
}

static void ala2_vacuum_opencl_bonded_equals_reference(void)
{
    compare_bonded_only(IMPLICIT, "vacuum");
}

static void ala2_water_box_opencl_bonded_equals_reference(void)
{
    compare_bonded_only(EXPLICIT, "water box");
}

static double urand(unsigned *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (*seed >> 8) / 16777216.0;
}

/* A random-walk chain with every kind of parameter the kernels take: periodicities 1..6,
 * arbitrary phases and equilibrium angles, improper quadruples, and a few nearly straight
 * angles (the chain is bent by only ~1e-3 rad there). Nothing is at equilibrium. */
static clmd_system *random_chain(int n)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    unsigned seed = 7;
    double dir[3] = {1, 0, 0};
    for (int i = 0; i < n; i++) {
        s->mass[i] = 12;
        s->sigma[i] = 0.3;
        if (i == 0) continue;
        if (i % 17 != 0) { /* new direction, except every 17th atom: straight on, nearly */
            double u = 2 * urand(&seed) - 1, a = 2 * M_PI * urand(&seed), r = sqrt(1 - u * u);
            dir[0] = r * cos(a);
            dir[1] = r * sin(a);
            dir[2] = u;
        } else {
            dir[1] += 1e-3;
        }
        double len = 0.1 + 0.06 * urand(&seed);
        for (int k = 0; k < 3; k++) s->x[3 * i + k] = s->x[3 * (i - 1) + k] + len * dir[k];
    }
    for (int i = 0; i + 1 < n; i++)
        clmd_system_add_bond(s, i, i + 1, 1e5 + 3e5 * urand(&seed), 0.1 + 0.05 * urand(&seed));
    for (int i = 0; i + 2 < n; i++)
        clmd_system_add_angle(s, i, i + 1, i + 2, 200 + 500 * urand(&seed), M_PI * urand(&seed));
    for (int i = 0; i + 3 < n; i++) {
        clmd_system_add_torsion(s, i, i + 1, i + 2, i + 3, 1 + i % 6, 1 + 10 * urand(&seed),
                                2 * M_PI * urand(&seed));
        if (i % 3 == 0) /* improper: centre i+1 with its three neighbours */
            clmd_system_add_torsion(s, i, i + 2, i + 1, i + 3, 2, 4 + 4 * urand(&seed), M_PI);
    }
    snprintf(s->source, sizeof s->source, "random chain");
    return s;
}

static void random_geometries_and_parameters_opencl_equals_reference(void)
{
    clmd_system *s = random_chain(400);
    clmd_ffopts o = nocutoff_opts();
    for (int kind = 0; kind < 3; kind++) compare_kind(s, &o, kind, NULL, "random chain");
    compare_kind(s, &o, -1, NULL, "random chain");
    clmd_system_destroy(&s);
}

/* Moves every atom by its own lattice vector (-2..2 of each), splitting molecules. */
static double *scatter_images(const clmd_system *s)
{
    double *x = vec3n(s);
    unsigned seed = 2024;
    for (int i = 0; i < s->n; i++) {
        int m[3];
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            m[k] = (int)((seed >> 16) % 5) - 2;
        }
        for (int d = 0; d < 3; d++)
            x[3 * i + d] = s->x[3 * i + d] + m[0] * s->box[0][d] + m[1] * s->box[1][d] +
                           m[2] * s->box[2][d];
    }
    return x;
}

/* Split molecules give the whole-molecule energies and forces, on the device as on the
 * reference, with the minimum image taken from the system's box (no cutoff method here). */
static void check_split(clmd_system *s, const char *label)
{
    clmd_ffopts o = nocutoff_opts();
    double e0[CLMD_E_NCOMP], *f0 = vec3n(s), ed[CLMD_E_NCOMP], *fd = vec3n(s),
           er[CLMD_E_NCOMP], *fr = vec3n(s);
    double *x = scatter_images(s);
    int rc = eval(s, &o, "reference", NULL, e0, f0);
    if (!rc) rc = eval(s, &o, "reference", x, er, fr);
    if (!rc) rc = eval(s, &o, "auto", x, ed, fd);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    const clmd_ecomp comp[3] = {CLMD_E_BOND, CLMD_E_ANGLE, CLMD_E_TORSION};
    for (int k = 0; k < 3; k++) {
        ASSERT_REL(er[comp[k]], e0[comp[k]], 1e-9, 0, clmd_ecomp_name[comp[k]],
                   "reference: images only add lattice vectors");
        ASSERT_REL(ed[comp[k]], e0[comp[k]], 1e-5, 0, clmd_ecomp_name[comp[k]],
                   "OpenCL: the image shift is subtracted in double-float");
    }
    double rms_r = clmd_force_rms_rel(fr, f0, s->n), rms_d = clmd_force_rms_rel(fd, f0, s->n);
    printf("\n  %s: split molecules, force rms rel: reference %.1e, OpenCL %.2e", label, rms_r, rms_d);
    ASSERT_BELOW(rms_r, 1e-8, "reference forces, split vs whole molecules");
    ASSERT_BELOW(rms_d, 1e-5, "OpenCL forces, split vs whole molecules");
    clmd_free(x);
    clmd_free(f0);
    clmd_free(fd);
    clmd_free(fr);
}

static void split_molecules_use_the_minimum_image_without_a_cutoff(void)
{
    clmd_system *s = load(EXPLICIT);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide explicit prmtop/inpcrd not in CLMD_TEST_DATA");
    CU_ASSERT_FATAL(s->periodic && clmd_system_box_is_rectangular(s));
    zero_nonbonded(s);
    check_split(s, "rectangular water box");
    clmd_system_destroy(&s);
}

static void split_molecules_in_triclinic_boxes(void)
{
    clmd_system *s = load(IMPLICIT);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide implicit prmtop/inpcrd not in CLMD_TEST_DATA");
    zero_nonbonded(s);
    clmd_system_set_box_angles(s, 2.0, 2.0, 2.0, 109.4712190, 109.4712190, 109.4712190);
    CU_ASSERT(s->box[1][0] != 0 && s->box[2][0] != 0 && s->box[2][1] != 0);
    check_split(s, "truncated octahedron");
    clmd_system_set_box_angles(s, 1.9, 2.1, 2.3, 75.0, 80.0, 65.0);
    check_split(s, "skewed triclinic");
    clmd_system_destroy(&s);
}

static void repeated_evaluations_are_bitwise_identical(void)
{
    const char *const *files[2] = {IMPLICIT, EXPLICIT};
    for (int k = 0; k < 2; k++) {
        clmd_system *s = load(files[k]);
        if (!s) CLMD_SKIP_DATA("alanine dipeptide prmtop/inpcrd not in CLMD_TEST_DATA");
        clmd_ffopts o = nocutoff_opts();
        if (k == 1) {
            o.method = CLMD_NB_REACTION_FIELD;
            o.cutoff_nm = 0.9;
        }
        double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP], *f1 = vec3n(s), *f2 = vec3n(s);
        CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, e1, f1), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, e2, f2), CLMD_OK);
        CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof(double) * 3 * (size_t)s->n), 0);
        CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
        clmd_free(f1);
        clmd_free(f2);
        clmd_system_destroy(&s);
    }
}

/* Every force evaluation launches each kind once, timed under its own probe. */
static void each_kind_is_timed_under_its_own_probe(void)
{
    clmd_system *s = load(IMPLICIT);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide implicit prmtop/inpcrd not in CLMD_TEST_DATA");
    clmd_ffopts o = nocutoff_opts();
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    clmd_probe *p = clmd_probe_create(1);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    setenv("CLMD_PROBE_SAMPLE", "1", 1); /* every launch timed (GPUs time one in 16 by default) */
    int rc = clmd_engine_create(s, &o, &eo, p, &eng, &err);
    unsetenv("CLMD_PROBE_SAMPLE");
    if (!rc) rc = clmd_engine_evaluate(eng, NULL, NULL, &err);
    if (!rc) rc = clmd_engine_step(eng, 10, 1, &err);
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, CLMD_OK);
    clmd_engine_destroy(&eng); /* waits for the queue: every event is harvested */
    long evals = clmd_probe_calls(p, P_NONBONDED);
    printf("\n  %ld evaluations: bonded (bonds, angles, torsions in one launch) %ld (%.3f ms)",
           evals, clmd_probe_calls(p, P_BONDED), clmd_probe_total_ms(p, P_BONDED));
    CU_ASSERT_EQUAL(evals, 11);
    CU_ASSERT_EQUAL(clmd_probe_calls(p, P_BONDED), evals);
    CU_ASSERT_EQUAL(clmd_probe_timed_calls(p, P_BONDED), evals);
    CU_ASSERT(clmd_probe_total_ms(p, P_BONDED) > 0);
    clmd_probe_destroy(&p);

    /* sampled device timings (CLMD_PROBE_SAMPLE=4): every call counted, launches 0, 4 and 8
     * of each kernel timed, the phase's time scaled to all its calls */
    setenv("CLMD_PROBE_SAMPLE", "4", 1);
    p = clmd_probe_create(1);
    rc = clmd_engine_create(s, &o, &eo, p, &eng, &err);
    unsetenv("CLMD_PROBE_SAMPLE");
    if (!rc) rc = clmd_engine_evaluate(eng, NULL, NULL, &err);
    if (!rc) rc = clmd_engine_step(eng, 10, 1, &err);
    CU_ASSERT_EQUAL(rc, CLMD_OK);
    clmd_engine_destroy(&eng);
    printf("\n  sampled 1 in 4: bonded %ld calls, %ld timed, %.3f ms", clmd_probe_calls(p, P_BONDED),
           clmd_probe_timed_calls(p, P_BONDED), clmd_probe_total_ms(p, P_BONDED));
    CU_ASSERT_EQUAL(clmd_probe_calls(p, P_BONDED), 11);
    CU_ASSERT_EQUAL(clmd_probe_timed_calls(p, P_BONDED), 3);
    CU_ASSERT_EQUAL(clmd_probe_calls(p, P_NONBONDED), 11);
    CU_ASSERT(clmd_probe_total_ms(p, P_BONDED) > 0);
    clmd_probe_destroy(&p);
    clmd_system_destroy(&s);
}

/* ---- the whole force field against OpenMM ---- */

static double jnum(const clmd_jv *obj, const char *key)
{
    return clmd_jv_num(clmd_jv_get(obj, key), NAN);
}

/* Every term's energy and the total forces against an OpenMM reference file, on both paths. */
static void compare_openmm(const char *const files[2], const char *json, const clmd_ffopts *o)
{
    const char *rp = clmd_test_data(json);
    if (!rp) CLMD_SKIP_DATA("OpenMM reference file not in CLMD_TEST_DATA");
    clmd_jv *r = clmd_jv_load(rp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    clmd_system *s = load(files);
    if (!s) {
        clmd_jv_free(r);
        CLMD_SKIP_DATA("alanine dipeptide prmtop/inpcrd not in CLMD_TEST_DATA");
    }
    const clmd_jv *en = clmd_jv_get(r, "energies");
    double *fref;
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(r, "forces"), &fref), s->n);
    const char *devices[2] = {"reference", "auto"};
    for (int d = 0; d < 2; d++) {
        double e[CLMD_E_NCOMP], *f = vec3n(s);
        CU_ASSERT_EQUAL_FATAL(eval(s, o, devices[d], NULL, e, f), CLMD_OK);
        const struct {
            const char *name;
            double clmd, openmm;
        } cmp[] = {
            {"bond", e[CLMD_E_BOND], jnum(en, "HarmonicBondForce")},
            {"angle", e[CLMD_E_ANGLE], jnum(en, "HarmonicAngleForce")},
            {"torsion", e[CLMD_E_TORSION], jnum(en, "PeriodicTorsionForce")},
            {"nonbonded", e[CLMD_E_LJ] + e[CLMD_E_COULOMB] + e[CLMD_E_PME_RECIP] + e[CLMD_E_DISP],
             jnum(en, "NonbondedForce")},
        };
        printf("\n  %s %-9s:", json, devices[d]);
        for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++) {
            printf(" %s %.6f (%.1e)", cmp[k].name, cmp[k].clmd,
                   fabs(cmp[k].clmd - cmp[k].openmm) / fabs(cmp[k].openmm));
            /* floor 10 with tol 1e-5: 1e-4 kJ/mol absolute for terms near zero */
            ASSERT_REL(cmp[k].clmd, cmp[k].openmm, 1e-5, 10, cmp[k].name,
                       "the brief's bound; OpenMM is double precision, the device float");
        }
        double rms = clmd_force_rms_rel(f, fref, s->n);
        printf(" forces rms rel %.2e", rms);
        ASSERT_BELOW(rms, 1e-4, "total forces vs OpenMM (RMS relative)");
        clmd_free(f);
    }
    free(fref);
    clmd_jv_free(r);
    clmd_system_destroy(&s);
}

static void ala2_vacuum_matches_openmm_on_device_and_reference(void)
{
    clmd_ffopts o = nocutoff_opts();
    compare_openmm(IMPLICIT, "ala2_vacuum.json", &o);
}

static void ala2_reaction_field_matches_openmm_on_device_and_reference(void)
{
    clmd_ffopts o;
    clmd_ffopts_defaults(&o); /* dispersion correction on, dielectric 78.3, no switch */
    o.method = CLMD_NB_REACTION_FIELD;
    o.cutoff_nm = 0.9;
    compare_openmm(EXPLICIT, "ala2_rf.json", &o);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"systems without bonded terms get no term; describe counts kinds", systems_without_bonded_terms_get_no_term_and_counts_are_described},
        {"ala2 vacuum: OpenCL bonds, angles, torsions equal the reference", ala2_vacuum_opencl_bonded_equals_reference},
        {"ala2 water box: OpenCL bonds, angles, torsions equal the reference", ala2_water_box_opencl_bonded_equals_reference},
        {"random geometries and parameters: OpenCL equals reference", random_geometries_and_parameters_opencl_equals_reference},
        {"split molecules use the minimum image without a cutoff", split_molecules_use_the_minimum_image_without_a_cutoff},
        {"split molecules in triclinic boxes", split_molecules_in_triclinic_boxes},
        {"repeated OpenCL evaluations are bitwise identical", repeated_evaluations_are_bitwise_identical},
        {"each kind is timed under its own probe", each_kind_is_timed_under_its_own_probe},
        {"ala2_vacuum: every term matches OpenMM on device and reference", ala2_vacuum_matches_openmm_on_device_and_reference},
        {"ala2_rf: every term matches OpenMM on device and reference", ala2_reaction_field_matches_openmm_on_device_and_reference},
        {NULL, NULL}};
    return clmd_test_main("bonded_term", tests, argc, argv);
}
