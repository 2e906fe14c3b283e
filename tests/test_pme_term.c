/* Suite: PME reciprocal-space term (src/ff/pme.c, cl/pme.cl). Alanine dipeptide in water through
 * the engine against OpenMM 7.7's NonbondedForce (energy at tolerance 1e-6, forces at 5e-4), on
 * the OpenCL device and on the reference; the device's reciprocal part alone against the
 * double-precision reference; full PME on the device against the converged plain Ewald sum at
 * tolerances 5e-5..1e-3 (rectangular and triclinic); bitwise determinism; every stage timed
 * by its probe. The tests that do not name an FFT path take the default one (FFTW on CPU
 * devices): run the suite with CLMD_PME_FFT=device to check them all on the device FFT. The
 * device FFT path against the host one, its choice and its determinism are tested here too. */
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "ff/bonded_ref.h"
#include "ff/dev.h"
#include "ff/pme.h"
#include "ff/pme_ref.h"
#include "ff/term.h"
#include "md/engine.h"
#include "probe/probe.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

/* ---- helpers ---- */

/* Sets (value) or unsets (NULL) an environment variable; returns the old value for env_restore. */
static char *env_set(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
    return saved;
}

static void env_restore(const char *name, char *saved)
{
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
}

static uint64_t rng_state;
static double urand(void) /* splitmix64, uniform in [0, 1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Alanine dipeptide in TIP3P water with its bonded terms removed, so the engine computes
 * NonbondedForce alone; *bonded gets (if not NULL) the bonded forces the system had, for
 * subtracting from OpenMM's total forces. NULL when the data is absent. */
static clmd_system *load_ala2(double **bonded)
{
    const char *top = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-explicit.inpcrd");
    if (!top || !crd) return NULL;
    char tpath[4096];
    snprintf(tpath, sizeof tpath, "%s", top); /* clmd_test_data may reuse its buffer */
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(tpath, crd, &s, &err);
    if (rc) printf("\n  amber: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    if (bonded) {
        double *f = clmd_calloc(3 * s->n, sizeof *f);
        clmd_bonded_ref_bonds(s, clmd_system_box(s), s->x, f);
        clmd_bonded_ref_angles(s, clmd_system_box(s), s->x, f);
        clmd_bonded_ref_torsions(s, clmd_system_box(s), s->x, f);
        *bonded = f;
    }
    s->nbonds = s->nangles = s->ntorsions = 0;
    return s;
}

static void ala2_opts(clmd_ffopts *o, double tol)
{
    clmd_ffopts_defaults(o);
    o->method = CLMD_NB_PME;
    o->cutoff_nm = 0.9;
    o->dispersion_correction = 1;
    o->ewald_tolerance = tol;
}

static int eval(const clmd_system *s, const clmd_ffopts *o, const char *device, clmd_probe *probe,
                int repeat, double *e, double *f)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, o, &eo, probe, &eng, &err);
    if (rc) {
        printf("\n  engine: %s\n", err.msg);
        return rc;
    }
    for (int r = 0; r < repeat && !rc; r++) rc = clmd_engine_evaluate(eng, e, f, &err);
    if (rc) printf("\n  evaluate: %s\n", err.msg);
    clmd_engine_destroy(&eng);
    return rc;
}

static double rms(const double *f, int n)
{
    double s = 0;
    for (int i = 0; i < 3 * n; i++) s += f[i] * f[i];
    return sqrt(s / n);
}

/* A term evaluated on a device state this test builds itself (the engine's dev holds every
 * term), so the reciprocal part can be compared alone. Destroys t. With desc, the term's
 * describe() line after setup goes there (n bytes). */
static int dev_eval_term_desc(clmd_term *t, const clmd_system *s, const clmd_ffopts *o, double *f,
                              double *e, char *desc, size_t ndesc, clmd_err *err)
{
    clmd_dev d;
    memset(&d, 0, sizeof d);
    int rc = clmd_ocl_open("auto", NULL, &d.ocl, err);
    if (rc) {
        clmd_term_destroy(&t);
        return rc;
    }
    int n = s->n, np = (n + 63) / 64 * 64;
    d.n = n;
    d.npad = np;
    d.periodic = 1;
    d.triclinic = !clmd_system_box_is_rectangular(s);
    clmd_dev_set_box(&d, s->box, 1);
    cl_float4 *pq = clmd_calloc(np, sizeof *pq), *pl = clmd_calloc(np, sizeof *pl);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            pq[i].s[k] = (float)s->x[3 * i + k];
            pl[i].s[k] = (float)(s->x[3 * i + k] - (double)pq[i].s[k]);
        }
        pq[i].s[3] = (float)s->charge[i];
    }
    for (int i = n; i < np; i++) pq[i].s[0] = pq[i].s[1] = pq[i].s[2] = 1e4f;
    cl_long *fb = clmd_calloc(3 * np, sizeof *fb), eb[CLMD_E_NCOMP + 1];
    rc = clmd_ocl_alloc(d.ocl, sizeof *pq * np, &d.posq, err);
    if (!rc) rc = clmd_ocl_alloc(d.ocl, sizeof *pl * np, &d.posq_lo, err);
    if (!rc) rc = clmd_ocl_alloc(d.ocl, sizeof *fb * 3 * np, &d.force, err);
    if (!rc) rc = clmd_ocl_alloc(d.ocl, sizeof eb, &d.energy, err);
    if (!rc) rc = clmd_ocl_write(d.ocl, d.posq, 0, sizeof *pq * np, pq, err);
    if (!rc) rc = clmd_ocl_write(d.ocl, d.posq_lo, 0, sizeof *pl * np, pl, err);
    clmd_fenv env = clmd_test_fenv(s, clmd_test_plan(s, o), &d);
    if (!rc) rc = t->ops->setup_device(t, &env, err);
    if (!rc && desc) {
        FILE *m = fmemopen(desc, ndesc, "w");
        t->ops->describe(t, m);
        fclose(m);
    }
    if (!rc) rc = t->ops->enqueue(t, &env, 1, err);
    if (!rc && t->ops->finish) rc = t->ops->finish(t, &env, 1, err);
    if (!rc) rc = clmd_ocl_read(d.ocl, d.force, 0, sizeof *fb * 3 * np, fb, err);
    if (!rc) rc = clmd_ocl_read(d.ocl, d.energy, 0, sizeof eb, eb, err);
    for (int i = 0; i < n && !rc; i++)
        for (int k = 0; k < 3; k++) f[3 * i + k] = (double)fb[i + k * np] / CLMD_FIXED_SCALE;
    for (int c = 0; c < CLMD_E_NCOMP && !rc; c++) e[c] = (double)eb[c] / CLMD_FIXED_SCALE;
    clmd_free(pq);
    clmd_free(pl);
    clmd_free(fb);
    clmd_ocl_release(&d.posq);
    clmd_ocl_release(&d.posq_lo);
    clmd_ocl_release(&d.force);
    clmd_ocl_release(&d.energy);
    /* the term's device objects belong to this context: destroy it before closing */
    clmd_term_destroy(&t);
    clmd_ocl_close(&d.ocl);
    return rc;
}

static int dev_eval_term(clmd_term *t, const clmd_system *s, const clmd_ffopts *o, double *f,
                         double *e, clmd_err *err)
{
    return dev_eval_term_desc(t, s, o, f, e, NULL, 0, err);
}

/* The PME term alone, device against reference: RMS relative force error and energies. */
static void recip_device_vs_reference(const clmd_system *s, const clmd_ffopts *o, const char *what,
                                      double force_bound)
{
    clmd_err err = {0};
    clmd_term *t = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_pme_create(s, clmd_test_plan(s, o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    double alpha;
    int K[3];
    CU_ASSERT_EQUAL(clmd_pme_term_params(t, &alpha, K), CLMD_OK);
    double *fr = clmd_calloc(3 * s->n, sizeof *fr), *fd = clmd_calloc(3 * s->n, sizeof *fd);
    double er[CLMD_E_NCOMP] = {0}, ed[CLMD_E_NCOMP] = {0};
    clmd_fenv env = clmd_test_fenv(s, clmd_test_plan(s, o), NULL);
    CU_ASSERT_EQUAL_FATAL(t->ops->reference(t, &env, s->x, fr, er, &err), CLMD_OK);
    int rc = dev_eval_term(t, s, o, fd, ed, &err); /* destroys t */
    if (rc) printf("\n  device: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    double ferr = clmd_force_rms_rel(fd, fr, s->n);
    double e_self = clmd_ewald_self_energy(s->n, s->charge, alpha);
    printf("\n  %s: alpha %.5f grid %dx%dx%d: reciprocal force RMS rel error %.3g; E_recip+self "
           "device %.6f reference %.6f (diff %.3g, %.2g of |self|)",
           what, alpha, K[0], K[1], K[2], ferr, ed[CLMD_E_PME_RECIP], er[CLMD_E_PME_RECIP],
           ed[CLMD_E_PME_RECIP] - er[CLMD_E_PME_RECIP],
           fabs(ed[CLMD_E_PME_RECIP] - er[CLMD_E_PME_RECIP]) / fabs(e_self));
    ASSERT_BELOW(ferr, force_bound, "device vs reference reciprocal force RMS relative error");
    /* the grid sum E_recip is a small difference of large terms only through the self energy,
     * so the error is judged against |E_recip - E_self| + |E_self| */
    double e_recip = er[CLMD_E_PME_RECIP] - e_self;
    ASSERT_REL(ed[CLMD_E_PME_RECIP], er[CLMD_E_PME_RECIP], 1e-6, fabs(e_recip) + fabs(e_self),
               "E_recip + self", "float grid and FFT (~1e-7 relative), energy summed in double");
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (c != CLMD_E_PME_RECIP) CU_ASSERT_EQUAL(ed[c], 0.0);
    clmd_free(fr);
    clmd_free(fd);
}

/* n random charges, no two closer than dmin (minimum image, fractional), neutral. */
static clmd_system *random_charges(int n, const double box[3][3], double dmin, uint64_t seed)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    s->periodic = 1;
    memcpy(s->box, box, sizeof s->box);
    double recip[3][3];
    clmd_pme_recip_box(box, recip, NULL, NULL);
    rng_state = seed;
    double qs = 0;
    for (int i = 0; i < n; i++) {
        for (;;) {
            const double f[3] = {urand(), urand(), urand()};
            for (int c = 0; c < 3; c++)
                s->x[3 * i + c] = f[0] * box[0][c] + f[1] * box[1][c] + f[2] * box[2][c];
            int ok = 1;
            for (int j = 0; j < i && ok; j++) {
                const double d[3] = {s->x[3 * i] - s->x[3 * j], s->x[3 * i + 1] - s->x[3 * j + 1],
                                     s->x[3 * i + 2] - s->x[3 * j + 2]};
                double g[3], dd[3];
                for (int k = 0; k < 3; k++) {
                    g[k] = d[0] * recip[k][0] + d[1] * recip[k][1] + d[2] * recip[k][2];
                    g[k] -= round(g[k]);
                }
                for (int c = 0; c < 3; c++) dd[c] = g[0] * box[0][c] + g[1] * box[1][c] + g[2] * box[2][c];
                ok = dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2] >= dmin * dmin;
            }
            if (ok) break;
        }
        s->charge[i] = 2 * urand() - 1;
        qs += s->charge[i];
        s->mass[i] = 10;
        s->sigma[i] = 0.1; /* no LJ: epsilon 0 */
        s->epsilon[i] = 0;
    }
    for (int i = 0; i < n; i++) s->charge[i] -= qs / n;
    snprintf(s->source, sizeof s->source, "random charges");
    return s;
}

/* Full PME on the OpenCL device (real space in the nonbonded term + this term) against the
 * converged plain Ewald sum, as OpenMM's TestEwald does: RMS force error relative to the RMS
 * force below 2x the requested tolerance. */
static void device_pme_vs_ewald(const double box[3][3], int n, uint64_t seed, double cutoff,
                                const double *tols, int ntol, const char *what)
{
    clmd_system *s = random_charges(n, box, 0.25, seed);
    clmd_err err = {0};
    double *fref = clmd_calloc(3 * n, sizeof *fref), *f = clmd_calloc(3 * n, sizeof *f), eref;
    CU_ASSERT_EQUAL_FATAL(clmd_ewald_sum(n, s->charge, s->x, box, 3.5, 1e-16, fref, &eref, &err),
                          CLMD_OK);
    for (int k = 0; k < ntol; k++) {
        clmd_ffopts o;
        clmd_ffopts_defaults(&o);
        o.method = CLMD_NB_PME;
        o.cutoff_nm = cutoff;
        o.dispersion_correction = 0;
        o.ewald_tolerance = tols[k];
        double e[CLMD_E_NCOMP];
        CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e, f), CLMD_OK);
        double ferr = clmd_force_rms_rel(f, fref, n);
        double etot = e[CLMD_E_COULOMB] + e[CLMD_E_PME_RECIP];
        double scale = fabs(e[CLMD_E_COULOMB]) + fabs(e[CLMD_E_PME_RECIP]);
        printf("\n  %s tol %g: force error %.3g (bound %.3g), energy %.6f vs Ewald %.6f (%.2g of "
               "|real| + |recip + self|)", what, tols[k], ferr, 2 * tols[k], etot, eref,
               fabs(etot - eref) / scale);
        ASSERT_BELOW(ferr, 2 * tols[k], "OpenCL PME vs Ewald RMS force error / RMS force");
        ASSERT_REL(etot, eref, 2 * tols[k], scale, "OpenCL PME energy vs Ewald",
                   "the tolerance bounds the relative error; judged against the sum of |terms|");
    }
    clmd_free(fref);
    clmd_free(f);
    clmd_system_destroy(&s);
}

/* ---- tests ---- */

static void ala2_energy_matches_openmm_nonbonded(const char *device)
{
    const char *path = clmd_test_data("ala2_pme_tight.json");
    clmd_system *s = load_ala2(NULL);
    if (!path || !s) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("alanine dipeptide system or ala2_pme_tight.json "
                       "missing: set CLMD_TEST_DATA");
    }
    clmd_jv *doc = clmd_jv_load(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    double ref = clmd_jv_num(clmd_jv_get(clmd_jv_get(doc, "energies"), "NonbondedForce"), NAN);
    clmd_ffopts o;
    ala2_opts(&o, 1e-6);
    double e[CLMD_E_NCOMP];
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, device, NULL, 1, e, NULL), CLMD_OK);
    double nb = e[CLMD_E_COULOMB] + e[CLMD_E_PME_RECIP] + e[CLMD_E_LJ] + e[CLMD_E_DISP];
    printf("\n  %s: coulomb %.6f pme_reciprocal %.6f lj %.6f disp %.6f: sum %.6f vs OpenMM %.6f "
           "(rel %.2g)", device, e[CLMD_E_COULOMB], e[CLMD_E_PME_RECIP], e[CLMD_E_LJ],
           e[CLMD_E_DISP], nb, ref, fabs(nb - ref) / fabs(ref));
    ASSERT_REL(nb, ref, 1e-5, 0, "NonbondedForce energy at tolerance 1e-6",
               "PME at 1e-6 is converged far below 1e-5; single precision sums on the device");
    clmd_jv_free(doc);
    clmd_system_destroy(&s);
}

static void ala2_energy_reference(void) { ala2_energy_matches_openmm_nonbonded("reference"); }
static void ala2_energy_opencl(void) { ala2_energy_matches_openmm_nonbonded("auto"); }

static void ala2_forces_match_openmm_nonbonded(const char *device, const char *file, double tol,
                                               double bound)
{
    const char *path = clmd_test_data(file);
    double *bonded = NULL;
    clmd_system *s = load_ala2(&bonded);
    if (!path || !s) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("alanine dipeptide system or OpenMM PME reference "
                       "missing: set CLMD_TEST_DATA");
    }
    clmd_jv *doc = clmd_jv_load(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    double *fref = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(doc, "forces"), &fref), s->n);
    for (int i = 0; i < 3 * s->n; i++) fref[i] -= bonded[i]; /* NonbondedForce alone */
    clmd_ffopts o;
    ala2_opts(&o, tol);
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * s->n, sizeof *f);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, device, NULL, 1, e, f), CLMD_OK);
    double err = clmd_force_rms_rel(f, fref, s->n);
    printf("\n  %s, %s: nonbonded force RMS relative error %.3g (RMS force %.1f kJ/mol/nm)",
           device, file, err, rms(fref, s->n));
    ASSERT_BELOW(err, bound, "force RMS relative error vs OpenMM NonbondedForce");
    free(fref); /* malloc'd by clmd_jv_vec3s */
    clmd_free(f);
    clmd_free(bonded);
    clmd_jv_free(doc);
    clmd_system_destroy(&s);
}

/* Same alpha and grid as OpenMM's: the difference is rounding (and float on the device), far
 * below the tolerance 5e-4 the brief asks for. */
static void ala2_forces_reference(void)
{
    ala2_forces_match_openmm_nonbonded("reference", "ala2_pme.json", 5e-4, 5e-4);
}
static void ala2_forces_opencl(void)
{
    ala2_forces_match_openmm_nonbonded("auto", "ala2_pme.json", 5e-4, 5e-4);
}
static void ala2_forces_tight_opencl(void)
{
    /* at 1e-6 the float device path's own rounding (~1e-6 .. 1e-5) dominates */
    ala2_forces_match_openmm_nonbonded("auto", "ala2_pme_tight.json", 1e-6, 5e-5);
}

static void ala2_term_params_match_openmm(void)
{
    const char *files[2] = {"ala2_pme.json", "ala2_pme_tight.json"};
    const double tols[2] = {5e-4, 1e-6};
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    for (int k = 0; k < 2; k++) {
        const char *path = clmd_test_data(files[k]);
        if (!path) {
            clmd_system_destroy(&s);
            CLMD_SKIP_DATA("OpenMM PME reference missing: set CLMD_TEST_DATA");
        }
        clmd_jv *doc = clmd_jv_load(path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        clmd_ffopts o;
        ala2_opts(&o, tols[k]);
        clmd_term *t = NULL;
        clmd_err err = {0};
        CU_ASSERT_EQUAL_FATAL(clmd_pme_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        double alpha;
        int K[3];
        CU_ASSERT_EQUAL(clmd_pme_term_params(t, &alpha, K), CLMD_OK);
        const clmd_jv *pme = clmd_jv_get(doc, "pme");
        ASSERT_REL(alpha, clmd_jv_num(clmd_jv_get(pme, "alpha"), NAN), 1e-15, 0, "alpha",
                   "OpenMM's expression; last-bit libm differences only");
        /* the reference files hold OpenMM Reference's grid (no rounding); clmd rounds each size
         * up to a product of 2, 3, 5, 7 (fast FFTs), as OpenMM's OpenCL platform does */
        for (int d = 0; d < 3; d++) {
            int ref = (int)clmd_jv_num(clmd_jv_get(pme, "grid")->item[d], -1);
            CU_ASSERT_EQUAL(K[d], clmd_pme_legal_size(ref, CLMD_PME_GRID_2357));
            CU_ASSERT(K[d] >= ref);
        }
        char line[256];
        FILE *m = fmemopen(line, sizeof line, "w");
        t->ops->describe(t, m);
        fclose(m);
        printf("\n  %s", line);
        CU_ASSERT_PTR_NOT_NULL(strstr(line, "grid "));
        clmd_term_destroy(&t);
        clmd_jv_free(doc);
    }
    /* the nonbonded term is not a PME term; other methods get no PME term */
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    clmd_term *nb = NULL, *none = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_nonbonded_create(s, clmd_test_plan(s, &o), &nb, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_pme_term_params(nb, NULL, NULL), CLMD_EINPUT);
    clmd_term_destroy(&nb);
    o.method = CLMD_NB_REACTION_FIELD;
    CU_ASSERT_EQUAL(clmd_pme_create(s, clmd_test_plan(s, &o), &none, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(none);
    clmd_system_destroy(&s);
}

static void ala2_recip_opencl_equals_reference(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    /* float grids and single-precision FFTs: the float FFT alone costs ~1e-6 on the 140^3
     * grid; B-splines and fractional coordinates are in double where the device has doubles */
    recip_device_vs_reference(s, &o, "ala2 tol 5e-4", 5e-6);
    ala2_opts(&o, 1e-6);
    recip_device_vs_reference(s, &o, "ala2 tol 1e-6", 5e-6);
    clmd_system_destroy(&s);
}

static void triclinic_recip_opencl_equals_reference(void)
{
    const double box[3][3] = {{3.0, 0, 0}, {1.1, 2.9, 0}, {-1.2, 1.3, 2.8}};
    clmd_system *s = random_charges(400, box, 0.2, 99);
    /* shift a few atoms by box vectors: the wrap into the cell is the kernel's job */
    for (int i = 0; i < 40; i++)
        for (int c = 0; c < 3; c++) s->x[3 * i + c] += (i % 3 - 1) * box[i % 3][c];
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 1.0;
    o.ewald_tolerance = 1e-5;
    recip_device_vs_reference(s, &o, "triclinic tol 1e-5", 5e-6);
    clmd_system_destroy(&s);
}

static void opencl_pme_force_error_below_twice_tolerance(void)
{
    const double box[3][3] = {{3, 0, 0}, {0, 3, 0}, {0, 0, 3}};
    const double tols[] = {5e-5, 1e-4, 5e-4, 1e-3};
    device_pme_vs_ewald(box, 300, 2024, 1.0, tols, 4, "rectangular");
}

static void opencl_pme_triclinic_matches_ewald(void)
{
    /* reduced form, skewed in all three angles; cutoff below half of every cell height */
    clmd_system *tmp = clmd_system_create();
    clmd_system_set_box_angles(tmp, 3.2, 3.3, 3.4, 75, 100, 80);
    double box[3][3];
    memcpy(box, tmp->box, sizeof box);
    clmd_system_destroy(&tmp);
    const double tols[] = {5e-5, 1e-4, 5e-4, 1e-3};
    device_pme_vs_ewald(box, 300, 31, 1.0, tols, 4, "triclinic");
}

static void opencl_evaluations_are_bitwise_identical(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP];
    double *f1 = clmd_calloc(3 * s->n, sizeof *f1), *f2 = clmd_calloc(3 * s->n, sizeof *f2);
    /* two engines (FFTW plans made twice), the second evaluating three times */
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e1, f1), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 3, e2, f2), CLMD_OK);
    CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof *f1 * 3 * s->n), 0);
    CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
    CU_ASSERT(e1[CLMD_E_PME_RECIP] != 0);
    clmd_free(f1);
    clmd_free(f2);
    clmd_system_destroy(&s);
}

/* A restarted run is a new process: FFTW's in-memory wisdom is gone and a measuring planner
 * could pick another algorithm. The term keeps its plans in a wisdom file, so a term made after
 * forgetting all wisdom gets the same plan and the same bits. A fresh cache folder makes the
 * first term measure for real. */
static void new_process_reproduces_bits_through_wisdom_file(void)
{
    const char *dir = clmd_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char cwd[4096], cache[8300];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    snprintf(cache, sizeof cache, "%s/%s", cwd, dir);
    char *saved = env_set("CLMD_CACHE_DIR", cache);
    char *saved_fft = env_set("CLMD_PME_FFT", "host"); /* FFTW's plans are the subject */

    const double box[3][3] = {{3.1, 0, 0}, {0, 3.2, 0}, {0, 0, 3.3}};
    clmd_system *s = random_charges(500, box, 0.2, 7);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 1.0;
    o.ewald_tolerance = 1e-5;
    double *f[2], e[2][CLMD_E_NCOMP];
    for (int k = 0; k < 2; k++) {
        if (k == 1) fftwf_forget_wisdom();
        clmd_term *t = NULL;
        clmd_err err = {0};
        f[k] = clmd_calloc(3 * s->n, sizeof *f[k]);
        CU_ASSERT_EQUAL_FATAL(clmd_pme_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
        int rc = dev_eval_term(t, s, &o, f[k], e[k], &err);
        if (rc) printf("\n  device: %s\n", err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    }
    char wisdom[8400];
    snprintf(wisdom, sizeof wisdom, "%s/fftwf.wisdom", cache);
    CU_ASSERT(access(wisdom, R_OK) == 0);
    CU_ASSERT_EQUAL(memcmp(f[0], f[1], sizeof *f[0] * 3 * s->n), 0);
    CU_ASSERT_EQUAL(memcmp(e[0], e[1], sizeof e[0]), 0);
    env_restore("CLMD_CACHE_DIR", saved);
    env_restore("CLMD_PME_FFT", saved_fft);
    clmd_free(f[0]);
    clmd_free(f[1]);
    clmd_system_destroy(&s);
}

/* The whole engine (real space, exclusion corrections, reciprocal space) on the OpenCL device.
 * Wrapping each atom into the box (molecules split across the boundary) changes nothing but
 * rounding: energy 1e-7 of the sum of |terms|, forces 1e-5 RMS relative. Translating every atom
 * by a vector that is not a multiple of the grid spacing moves the charges relative to the PME
 * grid, so energy and forces change within PME's own error: energy 1e-6 of the sum of |terms|,
 * forces below 2x the tolerance (5e-4) relative, as the Ewald comparisons judge PME. */
static void opencl_energy_independent_of_translation_and_wrapping(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    int n = s->n;
    double e0[CLMD_E_NCOMP], e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP];
    double *f0 = clmd_calloc(3 * n, sizeof(double)), *f1 = clmd_calloc(3 * n, sizeof(double)),
           *f2 = clmd_calloc(3 * n, sizeof(double)), *x0 = clmd_calloc(3 * n, sizeof(double));
    memcpy(x0, s->x, sizeof(double) * 3 * n);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e0, f0), CLMD_OK);
    const double shift[3] = {1.234, -2.718, 0.577};
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) s->x[3 * i + d] += shift[d];
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e1, f1), CLMD_OK);
    for (int i = 0; i < n; i++) /* rectangular box: wrap each coordinate */
        for (int d = 0; d < 3; d++) s->x[3 * i + d] -= s->box[d][d] * floor(s->x[3 * i + d] / s->box[d][d]);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e2, f2), CLMD_OK);
    double t0 = 0, t1 = 0, t2 = 0, scale = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) {
        t0 += e0[c];
        t1 += e1[c];
        t2 += e2[c];
        scale += fabs(e0[c]);
    }
    ASSERT_REL(t1, t0, 1e-6, scale, "total energy after translating", "PME grid discretization");
    ASSERT_REL(t2, t1, 1e-7, scale, "total energy after wrapping atoms", "float sums only");
    ASSERT_BELOW(clmd_force_rms_rel(f1, f0, n), 2 * 5e-4, "force change after translating (RMS rel)");
    ASSERT_BELOW(clmd_force_rms_rel(f2, f1, n), 1e-5, "force change after wrapping (RMS rel)");
    memcpy(s->x, x0, sizeof(double) * 3 * n);
    clmd_free(f0);
    clmd_free(f1);
    clmd_free(f2);
    clmd_free(x0);
    clmd_system_destroy(&s);
}

/* Every stage has its probe on both FFT paths: on the host path the grid copies and FFTW's
 * stages are host-timed; on the device path the FFTs and the convolution are kernels and no grid
 * is copied. */
static void every_pme_stage_is_timed(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    const clmd_probe_id ids[] = {P_PME_SPREAD, P_PME_GRID_COPY, P_PME_FFT_FWD, P_PME_CONVOLVE,
                                 P_PME_FFT_INV, P_PME_GATHER};
    const double tols[2] = {5e-4, 1e-6};
    const char *paths[2] = {"host", "device"};
    for (int w = 0; w < 2; w++) {
        char *saved = env_set("CLMD_PME_FFT", paths[w]);
        for (int k = 0; k < 2; k++) {
            clmd_ffopts o;
            ala2_opts(&o, tols[k]);
            clmd_probe *pr = clmd_probe_create(1);
            enum { NEVAL = 20 };
            double e[CLMD_E_NCOMP];
            CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", pr, NEVAL, e, NULL), CLMD_OK);
            printf("\n  ala2 (%d atoms), tolerance %g, FFT on the %s, %d evaluations with energy, "
                   "per evaluation:", s->n, tols[k], paths[w], NEVAL);
            for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
                long calls = clmd_probe_calls(pr, ids[i]);
                double ms = clmd_probe_total_ms(pr, ids[i]);
                printf("\n    %-16s %4ld calls %9.3f ms", clmd_probe_name(ids[i]), calls, ms / NEVAL);
                if (w == 1 && ids[i] == P_PME_GRID_COPY) {
                    CU_ASSERT_EQUAL(calls, 0);
                    continue;
                }
                CU_ASSERT(calls >= NEVAL);
                CU_ASSERT(ms > 0);
            }
            printf("\n    %-16s %4ld calls %9.3f ms", clmd_probe_name(P_NONBONDED),
                   clmd_probe_calls(pr, P_NONBONDED), clmd_probe_total_ms(pr, P_NONBONDED) / NEVAL);
            clmd_probe_destroy(&pr);
        }
        env_restore("CLMD_PME_FFT", saved);
    }
    clmd_system_destroy(&s);
}

/* The reciprocal term alone with the FFT on the device against the FFTW path: both are float
 * grids and single-precision FFTs (~1e-7 relative each), so forces agree to 5e-6 RMS relative
 * and E_recip + self to 1e-7 of |grid sum| + |self|. */
static void device_fft_term_vs_host(const clmd_system *s, const clmd_ffopts *o, const char *what)
{
    double *f[2], e[2][CLMD_E_NCOMP];
    const char *paths[2] = {"host", "device"};
    char desc[2][1024];
    double alpha = 0;
    for (int w = 0; w < 2; w++) {
        char *saved = env_set("CLMD_PME_FFT", paths[w]);
        clmd_term *t = NULL;
        clmd_err err = {0};
        CU_ASSERT_EQUAL_FATAL(clmd_pme_create(s, clmd_test_plan(s, o), &t, &err), CLMD_OK);
        CU_ASSERT_EQUAL(clmd_pme_term_params(t, &alpha, NULL), CLMD_OK);
        f[w] = clmd_calloc(3 * s->n, sizeof *f[w]);
        int rc = dev_eval_term_desc(t, s, o, f[w], e[w], desc[w], sizeof desc[w], &err);
        if (rc) printf("\n  %s device: %s\n", paths[w], err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
        env_restore("CLMD_PME_FFT", saved);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(desc[0], "FFT on the host"));
    CU_ASSERT_PTR_NOT_NULL(strstr(desc[1], "FFT and convolution on the device"));
    const double ferr = clmd_force_rms_rel(f[1], f[0], s->n);
    const double e_self = clmd_ewald_self_energy(s->n, s->charge, alpha);
    const double scale = fabs(e[0][CLMD_E_PME_RECIP] - e_self) + fabs(e_self);
    printf("\n  %s: %s\n  device FFT vs FFTW: reciprocal force RMS rel %.3g; E_recip+self %.6f vs "
           "%.6f (%.2g of |grid sum| + |self|)", what, desc[1], ferr, e[1][CLMD_E_PME_RECIP],
           e[0][CLMD_E_PME_RECIP], fabs(e[1][CLMD_E_PME_RECIP] - e[0][CLMD_E_PME_RECIP]) / scale);
    ASSERT_BELOW(ferr, 5e-6, "device FFT vs FFTW path: reciprocal force RMS relative");
    ASSERT_REL(e[1][CLMD_E_PME_RECIP], e[0][CLMD_E_PME_RECIP], 1e-7, scale, "E_recip + self",
               "single-precision FFTs on both paths, ~1e-7 of the grid sum");
    clmd_free(f[0]);
    clmd_free(f[1]);
}

static void device_fft_equals_host_fft(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    device_fft_term_vs_host(s, &o, "ala2 tol 5e-4");
    ala2_opts(&o, 1e-6);
    device_fft_term_vs_host(s, &o, "ala2 tol 1e-6");
    clmd_system_destroy(&s);

    const double box[3][3] = {{3.0, 0, 0}, {1.1, 2.9, 0}, {-1.2, 1.3, 2.8}};
    s = random_charges(400, box, 0.2, 99);
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 1.0;
    o.ewald_tolerance = 1e-5;
    device_fft_term_vs_host(s, &o, "triclinic tol 1e-5");
    clmd_system_destroy(&s);
}

/* The whole engine with the FFT on the device, twice (two engines, the second evaluating three
 * times): the same bits; and against the FFTW path within the FFTs' rounding. */
static void device_fft_engine_bitwise_and_matches_host(void)
{
    clmd_system *s = load_ala2(NULL);
    if (!s) CLMD_SKIP_DATA("alanine dipeptide system missing: set CLMD_TEST_DATA");
    clmd_ffopts o;
    ala2_opts(&o, 5e-4);
    double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP], eh[CLMD_E_NCOMP];
    double *f1 = clmd_calloc(3 * s->n, sizeof *f1), *f2 = clmd_calloc(3 * s->n, sizeof *f2),
           *fh = clmd_calloc(3 * s->n, sizeof *fh);
    char *saved = env_set("CLMD_PME_FFT", "device");
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, e1, f1), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 3, e2, f2), CLMD_OK);
    setenv("CLMD_PME_FFT", "host", 1);
    CU_ASSERT_EQUAL_FATAL(eval(s, &o, "auto", NULL, 1, eh, fh), CLMD_OK);
    env_restore("CLMD_PME_FFT", saved);
    CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof *f1 * 3 * s->n), 0);
    CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
    CU_ASSERT(e1[CLMD_E_PME_RECIP] != 0);
    double ferr = clmd_force_rms_rel(f1, fh, s->n), scale = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) scale += fabs(eh[c]);
    printf("\n  engine, device FFT vs FFTW: nonbonded force RMS rel %.3g, pme_reciprocal %.6f vs "
           "%.6f", ferr, e1[CLMD_E_PME_RECIP], eh[CLMD_E_PME_RECIP]);
    ASSERT_BELOW(ferr, 5e-6, "engine forces, device FFT vs FFTW path, RMS relative");
    ASSERT_REL(e1[CLMD_E_PME_RECIP], eh[CLMD_E_PME_RECIP], 1e-7, scale, "pme_reciprocal",
               "single-precision FFTs on both paths, judged against the sum of |terms|");
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (c != CLMD_E_PME_RECIP) CU_ASSERT_EQUAL(e1[c], eh[c]);
    clmd_free(f1);
    clmd_free(f2);
    clmd_free(fh);
    clmd_system_destroy(&s);
}

/* One engine per path at box b (n evaluations), or, with `to`, at b then to then b again:
 * energies and forces after each box go to e[k] / f[k]; the influence function's launches into
 * *made. */
static int eval_boxes(const clmd_system *s, const clmd_ffopts *o, const double to[3][3],
                      double e[3][CLMD_E_NCOMP], double *f[3], long *made)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    clmd_probe *pr = clmd_probe_create(1);
    int rc = clmd_engine_create(s, o, &eo, pr, &eng, &err);
    for (int k = 0; k < (to ? 3 : 1) && !rc; k++) {
        if (k > 0) rc = clmd_engine_set_box(eng, k == 1 ? to : s->box, &err);
        /* twice at each box: the second evaluation makes nothing new */
        for (int r = 0; r < 2 && !rc; r++) rc = clmd_engine_evaluate(eng, e[k], f[k], &err);
    }
    if (rc) printf("\n  engine: %s\n", err.msg);
    clmd_engine_destroy(&eng);
    *made = clmd_probe_calls(pr, P_PME_INFLUENCE);
    clmd_probe_destroy(&pr);
    return rc;
}

/* A barostat's trial box and the pressure observable's scaled boxes change the influence
 * function; on the device FFT path a kernel makes it (cl/pme.cl pme_influence, one launch per
 * box). A triclinic box changed to another and back: at the new box the engine agrees with one
 * created there and with the FFTW path; back at the first box it repeats its first bits. */
static void device_fft_influence_follows_the_box(void)
{
    const double b0[3][3] = {{3.0, 0, 0}, {1.1, 2.9, 0}, {-1.2, 1.3, 2.8}};
    const double sc[3] = {1.03, 0.98, 1.01};
    double b1[3][3];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) b1[r][c] = b0[r][c] * sc[c];
    clmd_system *s = random_charges(400, b0, 0.2, 7), *s1 = random_charges(400, b0, 0.2, 7);
    memcpy(s1->box, b1, sizeof b1);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 1.0;
    o.ewald_tolerance = 1e-5;
    const int n = s->n;
    double e[3][CLMD_E_NCOMP], e1[3][CLMD_E_NCOMP], eh[3][CLMD_E_NCOMP], *f[3], *f1[3], *fh[3];
    for (int k = 0; k < 3; k++) {
        f[k] = clmd_calloc(3 * n, sizeof *f[k]);
        f1[k] = clmd_calloc(3 * n, sizeof *f1[k]);
        fh[k] = clmd_calloc(3 * n, sizeof *fh[k]);
    }
    long made = 0, made1 = 0, madeh = 0;
    char *saved = env_set("CLMD_PME_FFT", "device");
    CU_ASSERT_EQUAL_FATAL(eval_boxes(s, &o, b1, e, f, &made), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(eval_boxes(s1, &o, NULL, e1, f1, &made1), CLMD_OK);
    setenv("CLMD_PME_FFT", "host", 1);
    CU_ASSERT_EQUAL_FATAL(eval_boxes(s, &o, b1, eh, fh, &madeh), CLMD_OK);
    env_restore("CLMD_PME_FFT", saved);
    const double ferr_new = clmd_force_rms_rel(f[1], f1[0], n), ferr_host = clmd_force_rms_rel(f[1], fh[1], n);
    double scale = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++) scale += fabs(eh[1][c]);
    printf("\n  triclinic, box scaled (%.2f, %.2f, %.2f) and back: influence made %ld times on the "
           "device, %ld on the host path\n  at the new box: forces vs an engine made there RMS rel "
           "%.3g, vs FFTW %.3g; pme_reciprocal %.8f / %.8f / FFTW %.8f", sc[0], sc[1], sc[2], made,
           madeh, ferr_new, ferr_host, e[1][CLMD_E_PME_RECIP], e1[0][CLMD_E_PME_RECIP],
           eh[1][CLMD_E_PME_RECIP]);
    CU_ASSERT_EQUAL(made, 3);  /* the first box, the new one, the first again */
    CU_ASSERT_EQUAL(made1, 1);
    CU_ASSERT_EQUAL(madeh, 0); /* made on the host there */
    CU_ASSERT(e[1][CLMD_E_PME_RECIP] != e[0][CLMD_E_PME_RECIP]);
    /* the engine made there wraps the atoms into its box itself: float positions of other
     * images (6.7e-5 after a translation, above), so not the same bits */
    ASSERT_BELOW(ferr_new, 2e-5, "device FFT after a box change vs an engine made at that box");
    ASSERT_REL(e[1][CLMD_E_PME_RECIP], e1[0][CLMD_E_PME_RECIP], 1e-7, scale, "pme_reciprocal",
               "the same kernels at the same box");
    ASSERT_BELOW(ferr_host, 5e-6, "device FFT after a box change vs the FFTW path");
    ASSERT_REL(e[1][CLMD_E_PME_RECIP], eh[1][CLMD_E_PME_RECIP], 1e-7, scale, "pme_reciprocal",
               "single-precision FFTs on both paths");
    /* back at the first box: the first evaluation's bits */
    CU_ASSERT_EQUAL(memcmp(f[2], f[0], sizeof *f[0] * 3 * n), 0);
    CU_ASSERT_EQUAL(memcmp(e[2], e[0], sizeof e[0]), 0);
    for (int k = 0; k < 3; k++) {
        clmd_free(f[k]);
        clmd_free(f1[k]);
        clmd_free(fh[k]);
    }
    clmd_system_destroy(&s);
    clmd_system_destroy(&s1);
}

/* Where the FFT runs: CLMD_PME_FFT=device|host forces it; auto (unset) puts it on the device
 * for GPU-style devices (CLMD_GPU_KERNELS=1 makes PoCL one) and on the host otherwise; any
 * other value is an input error. */
static void fft_path_follows_device_type_and_override(void)
{
    const double box[3][3] = {{2.5, 0, 0}, {0, 2.5, 0}, {0, 0, 2.5}};
    clmd_system *s = random_charges(100, box, 0.2, 5);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 1.0;
    o.ewald_tolerance = 5e-4;
    clmd_ocl *ocl = NULL;
    clmd_err err = {0};
    char *saved_gpu = env_set("CLMD_GPU_KERNELS", NULL);
    CU_ASSERT_EQUAL_FATAL(clmd_ocl_open("auto", NULL, &ocl, &err), CLMD_OK);
    const int native_gpu = clmd_ocl_is_gpu(ocl);
    clmd_ocl_close(&ocl);
    /* {CLMD_PME_FFT, CLMD_GPU_KERNELS, expected: 1 device, 0 host, -1 input error} */
    const struct { const char *fft, *gpu; int expect; } cases[] = {
        {NULL, NULL, native_gpu}, {"auto", NULL, native_gpu}, {NULL, "1", 1}, {"host", "1", 0},
        {"device", NULL, 1},      {"host", NULL, 0},          {"gpu", NULL, -1}};
    char *saved_fft = env_set("CLMD_PME_FFT", NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_set("CLMD_PME_FFT", cases[i].fft);
        env_set("CLMD_GPU_KERNELS", cases[i].gpu);
        clmd_term *t = NULL;
        CU_ASSERT_EQUAL_FATAL(clmd_pme_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
        double *f = clmd_calloc(3 * s->n, sizeof *f), e[CLMD_E_NCOMP];
        char desc[1024] = "";
        err.code = CLMD_OK;
        int rc = dev_eval_term_desc(t, s, &o, f, e, desc, sizeof desc, &err);
        printf("\n  CLMD_PME_FFT=%s CLMD_GPU_KERNELS=%s: %s", cases[i].fft ? cases[i].fft : "(unset)",
               cases[i].gpu ? cases[i].gpu : "(unset)", rc ? err.msg : desc);
        if (cases[i].expect < 0) {
            CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CLMD_PME_FFT"));
        } else {
            CU_ASSERT_EQUAL(rc, CLMD_OK);
            CU_ASSERT_PTR_NOT_NULL(strstr(desc, cases[i].expect ? "FFT and convolution on the device"
                                                                : "FFT on the host"));
        }
        clmd_free(f);
    }
    env_restore("CLMD_PME_FFT", saved_fft);
    env_restore("CLMD_GPU_KERNELS", saved_gpu);
    clmd_system_destroy(&s);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"PME term's alpha is OpenMM's and its grid OpenMM OpenCL's; describe() names them", ala2_term_params_match_openmm},
        {"ala2 reference: coulomb + pme + lj + disp = OpenMM NonbondedForce (tol 1e-6)", ala2_energy_reference},
        {"ala2 OpenCL: coulomb + pme + lj + disp = OpenMM NonbondedForce (tol 1e-6)", ala2_energy_opencl},
        {"ala2 reference: nonbonded forces match OpenMM (tol 5e-4)", ala2_forces_reference},
        {"ala2 OpenCL: nonbonded forces match OpenMM (tol 5e-4)", ala2_forces_opencl},
        {"ala2 OpenCL: nonbonded forces match OpenMM (tol 1e-6)", ala2_forces_tight_opencl},
        {"ala2: OpenCL reciprocal part equals the double reference", ala2_recip_opencl_equals_reference},
        {"triclinic: OpenCL reciprocal part equals the double reference", triclinic_recip_opencl_equals_reference},
        {"OpenCL PME force error below 2x tolerance vs Ewald sum (5e-5..1e-3)", opencl_pme_force_error_below_twice_tolerance},
        {"triclinic OpenCL PME matches the Ewald sum (5e-5..1e-3)", opencl_pme_triclinic_matches_ewald},
        {"OpenCL PME evaluations are bitwise identical", opencl_evaluations_are_bitwise_identical},
        {"a new process reproduces the bits through the FFTW wisdom file", new_process_reproduces_bits_through_wisdom_file},
        {"every PME stage is timed by its probe (FFT on the host and on the device)", every_pme_stage_is_timed},
        {"FFT on the device: reciprocal forces and energy equal the FFTW path's (ala2, triclinic)", device_fft_equals_host_fft},
        {"FFT on the device: engine bitwise identical run to run, equal to the FFTW path", device_fft_engine_bitwise_and_matches_host},
        {"FFT on the device: the influence function follows box changes (made on the device)", device_fft_influence_follows_the_box},
        {"FFT path: device on GPUs, host otherwise, CLMD_PME_FFT forces either", fft_path_follows_device_type_and_override},
        {"OpenCL energy and forces independent of translating and wrapping atoms",
         opencl_energy_independent_of_translation_and_wrapping},
        {NULL, NULL}};
    return clmd_test_main("pme_term", tests, argc, argv);
}
