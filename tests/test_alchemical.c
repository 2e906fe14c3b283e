/* Suite: a scaled region (alchemical decoupling). Alanine dipeptide in TIP3P with PME and with
 * reaction field, the solute the region: soft-core LJ between the region and the water with
 * lambda_sterics, the region's charges times lambda_electrostatics (PME included). Checked:
 * dU/dlambda (sterics and electrostatics) against central finite differences of the energy, on
 * the reference and on the OpenCL device; forces against finite differences of the energy; the
 * device against the reference at several lambdas; the end points against the plain system
 * (lambda 1: the unscaled system's energy; lambda_e 0: the region's charges zeroed); batched
 * copies at different lambdas against one-system engines bit for bit; and, where the committed
 * openmmtools references exist (tests/data/alchemical), energies, forces and dU/dlambda against
 * openmmtools' AlchemicalFactory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine.h"
#include "state/state.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

#define NREGION 22

static clmd_system *ala2_water(int region)
{
    const char *top = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-explicit.inpcrd");
    if (!top || !crd) return NULL;
    clmd_system *s = NULL;
    clmd_err err = {0};
    if (clmd_amber_load(top, crd, &s, &err)) return NULL;
    if (region) {
        CLMD_NEW(s->region, s->n);
        for (int i = 0; i < NREGION; i++) s->region[i] = 1;
        s->nregion = NREGION;
    }
    return s;
}

static void opts(clmd_ffopts *fo, clmd_nbmethod method)
{
    clmd_ffopts_defaults(fo);
    fo->method = method;
    fo->cutoff_nm = 0.9;
    fo->skin_auto = 0;
    fo->skin_nm = 0.1;
    fo->region_softcore = 1;
    fo->softcore_alpha = 0.5;
}

static clmd_engine *engine(const clmd_system *s, const clmd_ffopts *fo, const char *device,
                           clmd_err *err)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *e = NULL;
    if (clmd_engine_create(s, fo, &eo, NULL, &e, err)) return NULL;
    return e;
}

static double potential_at(clmd_engine *e, double ls, double le, double *dls, double *dle,
                           double *f)
{
    clmd_region_scale sc = {le, 1, ls, 1};
    clmd_engine_set_segment_scale(e, 0, &sc);
    clmd_err err = {0};
    double comp[CLMD_E_NCOMP], u = 0;
    int rc = clmd_engine_evaluate(e, comp, f, &err);
    if (rc) printf("\n  evaluate: %s", err.msg);
    CU_ASSERT_FATAL(rc == CLMD_OK);
    for (int c = 0; c < CLMD_E_NCOMP; c++) u += comp[c];
    clmd_engine_segment_dudl(e, 0, dls, dle);
    return u;
}

/* dU/dlambda against central differences, at interior lambdas. */
static void dudl_case(const char *device, clmd_nbmethod method)
{
    clmd_system *s = ala2_water(1);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    opts(&fo, method);
    clmd_err err = {0};
    clmd_engine *e = engine(s, &fo, device, &err);
    if (!e && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(e != NULL);
    const int ref = strcmp(device, "reference") == 0;
    /* double precision: h 1e-4; float kernels: a wider step (energies carry ~1e-7 relative) */
    const double h = ref ? 1e-4 : 2e-2;
    const double pts[][2] = {{0.7, 1.0}, {0.4, 0.0}, {1.0, 0.6}, {0.2, 0.3}};
    for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
        const double ls = pts[k][0], le = pts[k][1];
        double dls, dle, x1, x2;
        potential_at(e, ls, le, &dls, &dle, NULL);
        double up = potential_at(e, fmin(ls + h, 1.0), le, &x1, &x2, NULL);
        double um = potential_at(e, ls - h, le, &x1, &x2, NULL);
        double fd_s = (up - um) / (fmin(ls + h, 1.0) - (ls - h));
        up = potential_at(e, ls, le + h, &x1, &x2, NULL);
        um = potential_at(e, ls, le - h, &x1, &x2, NULL);
        double fd_e = (up - um) / (2 * h);
        printf("\n  %s lambda (%.2f, %.2f): dU/dl_s %.6f (fd %.6f), dU/dl_e %.6f (fd %.6f)", device,
               ls, le, dls, fd_s, dle, fd_e);
        /* the float path: energies of ~-3e4 kJ/mol carry ~3e-3 kJ/mol of rounding, over 2h */
        ASSERT_REL(dls, fd_s, ref ? 1e-5 : 2e-3, ref ? 1 : 20, "dU/dlambda_sterics",
                   "central differences of the energy");
        ASSERT_REL(dle, fd_e, ref ? 1e-5 : 2e-3, ref ? 1 : 20, "dU/dlambda_electrostatics",
                   "central differences (the energy is quadratic in lambda_e)");
    }
    clmd_engine_destroy(&e);
    clmd_system_destroy(&s);
}

static void test_dudl_reference_pme(void) { dudl_case("reference", CLMD_NB_PME); }
static void test_dudl_reference_rf(void) { dudl_case("reference", CLMD_NB_REACTION_FIELD); }
static void test_dudl_device_pme(void) { dudl_case("auto", CLMD_NB_PME); }

/* Forces: the gradient of the energy (reference, double precision) at lambda (0.5, 0.5), for the
 * region's particles and a few waters. */
static void test_forces_finite_differences(void)
{
    clmd_system *s = ala2_water(1);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    opts(&fo, CLMD_NB_PME);
    clmd_err err = {0};
    clmd_engine *e = engine(s, &fo, "reference", &err);
    CU_ASSERT_FATAL(e != NULL);
    const int n = s->n;
    double *f = clmd_calloc(3 * (size_t)n, sizeof *f), *g = clmd_calloc(3 * (size_t)n, sizeof *g);
    double *x = clmd_calloc(3 * (size_t)n, sizeof *x);
    potential_at(e, 0.5, 0.5, NULL, NULL, f);
    CU_ASSERT_FATAL(clmd_engine_get_positions(e, x, &err) == CLMD_OK);
    const int atoms[] = {0, 4, 8, 14, 21, 22, 100, 1000};
    double worst = 0;
    const double h = 1e-5;
    for (size_t a = 0; a < sizeof atoms / sizeof atoms[0]; a++)
        for (int d = 0; d < 3; d++) {
            const int i = atoms[a];
            const double x0 = x[3 * i + d];
            /* a pair crossing the (plain, unswitched) LJ cutoff makes the energy jump: its
             * difference quotient grows as 1/h, a wrong force does not; the smaller of two steps
             * whose quotients agree is taken */
            double fds[2];
            for (int k = 0; k < 2; k++) {
                const double hk = k ? h / 64 : h;
                x[3 * i + d] = x0 + hk;
                CU_ASSERT_FATAL(clmd_engine_set_positions(e, x, &err) == CLMD_OK);
                double up = potential_at(e, 0.5, 0.5, NULL, NULL, g);
                x[3 * i + d] = x0 - hk;
                CU_ASSERT_FATAL(clmd_engine_set_positions(e, x, &err) == CLMD_OK);
                double um = potential_at(e, 0.5, 0.5, NULL, NULL, g);
                fds[k] = -(up - um) / (2 * hk);
            }
            x[3 * i + d] = x0;
            const double fd = fabs(fds[0] - f[3 * i + d]) < fabs(fds[1] - f[3 * i + d]) ? fds[0] : fds[1];
            const double rel = fabs(fd - f[3 * i + d]) / fmax(fabs(f[3 * i + d]), 10);
            if (rel > 1e-5) printf("\n  atom %d axis %d: force %.6f, -dU/dx %.6f", i, d, f[3 * i + d], fd);
            worst = fmax(worst, rel);
        }
    printf("\n  forces vs -dU/dx (central differences): worst %.3g relative", worst);
    ASSERT_BELOW(worst, 1e-4, "force vs finite difference (relative, floor 10 kJ/mol/nm)");
    clmd_free(f);
    clmd_free(g);
    clmd_free(x);
    clmd_engine_destroy(&e);
    clmd_system_destroy(&s);
}

/* The end points: lambda (1, 1) is the plain system; lambda_e 0 equals the plain system with the
 * region's charges zeroed (sterics at 1). */
static void test_end_points(void)
{
    clmd_system *s = ala2_water(1), *plain = ala2_water(0), *zero = ala2_water(0);
    if (!s || !plain || !zero) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    for (int i = 0; i < NREGION; i++) zero->charge[i] = 0;
    /* zeroed charges also zero the exceptions' charge products inside the region */
    for (int k = 0; k < zero->npairs; k++)
        if (zero->pairs[k].i < NREGION || zero->pairs[k].j < NREGION) zero->pairs[k].qq = 0;
    clmd_ffopts fo;
    opts(&fo, CLMD_NB_PME);
    clmd_err err = {0};
    clmd_engine *e = engine(s, &fo, "reference", &err), *p = engine(plain, &fo, "reference", &err);
    clmd_engine *z = engine(zero, &fo, "reference", &err);
    CU_ASSERT_FATAL(e && p && z);
    double u1 = potential_at(e, 1, 1, NULL, NULL, NULL), u0 = potential_at(e, 1, 0, NULL, NULL, NULL);
    double up, uz;
    CU_ASSERT_FATAL(clmd_engine_evaluate(p, NULL, NULL, &err) == CLMD_OK);
    clmd_engine_energies(p, NULL, &up, NULL);
    CU_ASSERT_FATAL(clmd_engine_evaluate(z, NULL, NULL, &err) == CLMD_OK);
    clmd_engine_energies(z, NULL, &uz, NULL);
    printf("\n  lambda (1,1) %.6f vs plain %.6f; lambda (1,0) %.6f vs charges zeroed %.6f", u1, up, u0, uz);
    /* up to the dispersion correction's region-region pairs, counted without i = j as OpenMM
     * counts an interaction group (openmmtools' forces): a constant 0.0047 kJ/mol here */
    ASSERT_BELOW(fabs(u1 - up), 0.01, "|fully coupled - plain system| (kJ/mol)");
    ASSERT_BELOW(fabs(u0 - uz), 0.01, "|lambda_e 0 - region charges zeroed| (kJ/mol)");
    ASSERT_BELOW(fabs((u1 - up) - (u0 - uz)), 1e-9, "the offset is the same at both ends");
    clmd_engine_destroy(&e);
    clmd_engine_destroy(&p);
    clmd_engine_destroy(&z);
    clmd_system_destroy(&s);
    clmd_system_destroy(&plain);
    clmd_system_destroy(&zero);
}

/* The device (float kernels) against the reference at several lambdas. */
static void test_device_vs_reference(void)
{
    clmd_system *s = ala2_water(1);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    opts(&fo, CLMD_NB_PME);
    clmd_err err = {0};
    clmd_engine *d = engine(s, &fo, "auto", &err);
    if (!d && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        CLMD_SKIP("no OpenCL device");
    }
    clmd_engine *r = engine(s, &fo, "reference", &err);
    CU_ASSERT_FATAL(d && r);
    const int n = s->n;
    double *fd = clmd_calloc(3 * (size_t)n, sizeof *fd), *fr = clmd_calloc(3 * (size_t)n, sizeof *fr);
    const double pts[][2] = {{1, 1}, {0.5, 0}, {0, 0}, {0.8, 0.3}};
    for (size_t k = 0; k < 4; k++) {
        double a1, a2, b1, b2;
        double ud = potential_at(d, pts[k][0], pts[k][1], &a1, &a2, fd);
        double ur = potential_at(r, pts[k][0], pts[k][1], &b1, &b2, fr);
        double rms = clmd_force_rms_rel(fd, fr, n);
        printf("\n  lambda (%.1f, %.1f): U device %.4f reference %.4f; forces %.2g rms; dU/dl_s %.4f "
               "%.4f; dU/dl_e %.4f %.4f", pts[k][0], pts[k][1], ud, ur, rms, a1, b1, a2, b2);
        ASSERT_REL(ud, ur, 2e-6, 1, "potential, device vs reference", "float kernels, PME tolerance");
        ASSERT_BELOW(rms, 1e-4, "forces, device vs reference (rms relative)");
        ASSERT_REL(a1, b1, 1e-3, 5, "dU/dlambda_sterics, device vs reference", "float sums");
        ASSERT_REL(a2, b2, 1e-3, 5, "dU/dlambda_electrostatics, device vs reference", "float sums");
    }
    clmd_free(fd);
    clmd_free(fr);
    clmd_engine_destroy(&d);
    clmd_engine_destroy(&r);
    clmd_system_destroy(&s);
}

/* Batched copies at four lambdas = four one-system engines, bit for bit. */
static void test_batched_copies(void)
{
    clmd_system *s = ala2_water(1);
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    opts(&fo, CLMD_NB_PME);
    fo.skin_nm = 0.3;
    enum { K = 4 };
    const double ls[K] = {1, 0.7, 0.3, 0}, le[K] = {1, 0.5, 0, 0};
    clmd_err err = {0};
    clmd_system *big = NULL;
    CU_ASSERT_FATAL(clmd_system_replicate(s, K, (s->n + 63) / 64 * 64, &big, &err) == CLMD_OK);
    setenv("CLMD_PME_FFT", "device", 1);
    clmd_engine *b = engine(big, &fo, "auto", &err);
    if (!b && strstr(err.msg, "OpenCL")) {
        unsetenv("CLMD_PME_FFT");
        clmd_system_destroy(&big);
        clmd_system_destroy(&s);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(b != NULL);
    for (int g = 0; g < K; g++) clmd_engine_set_segment_scale(b, g, &(clmd_region_scale){le[g], 1, ls[g], 1});
    double eb[CLMD_E_NCOMP];
    CU_ASSERT_FATAL(clmd_engine_evaluate(b, eb, NULL, &err) == CLMD_OK);
    for (int g = 0; g < K; g++) {
        clmd_engine *one = engine(s, &fo, "auto", &err);
        CU_ASSERT_FATAL(one != NULL);
        double d1s, d1e, dbs, dbe, pb;
        double u1 = potential_at(one, ls[g], le[g], &d1s, &d1e, NULL);
        clmd_engine_segment_energies(b, g, NULL, &pb, NULL);
        clmd_engine_segment_dudl(b, g, &dbs, &dbe);
        ASSERT_REL(pb, u1, 0, 1e-300, "copy's potential vs one-system engine", "the same sums");
        ASSERT_REL(dbs, d1s, 0, 1e-300, "copy's dU/dl_s", "the same sums");
        ASSERT_REL(dbe, d1e, 1e-12, 1e-6, "copy's dU/dl_e", "the same sums");
        clmd_engine_destroy(&one);
    }
    unsetenv("CLMD_PME_FFT");
    clmd_engine_destroy(&b);
    clmd_system_destroy(&big);
    clmd_system_destroy(&s);
}

/* One openmmtools reference case: every lambda pair of `stem` (tests/data/alchemical/stem_*.json)
 * on the reference path and the device: the energy change from the fully coupled state,
 * forces, dU/dlambda_sterics and dU/dlambda_electrostatics. tol_e: relative tolerance of energy
 * derivatives (floor 1 kJ/mol); tol_u: absolute tolerance of energy changes (kJ/mol); tol_f:
 * rms relative force difference. The device's tolerances are ten times the reference's. */
static void openmmtools_case(const char *stem, const char *prmtop, const char *inpcrd,
                             clmd_nbmethod method, int nregion, int annihilate, double tol_e,
                             double tol_u, double tol_f)
{
    static const double pts[][2] = {{1, 1}, {1, 0.5}, {1, 0}, {0.75, 0}, {0.5, 0}, {0.25, 0},
                                    {0, 0}, {0.5, 0.5}};
    const char *top = clmd_test_data(prmtop), *crd = clmd_test_data(inpcrd);
    if (!top || !crd) CLMD_SKIP_DATA("system files");
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_FATAL(clmd_amber_load(top, crd, &s, &err) == CLMD_OK);
    CLMD_NEW(s->region, s->n);
    for (int i = 0; i < nregion; i++) s->region[i] = 1;
    s->nregion = nregion;
    clmd_ffopts fo;
    opts(&fo, method);
    fo.region_annihilate = annihilate;
    int found = 0;
    double u11[2] = {NAN, NAN};
    for (int dev = 0; dev < 2; dev++) {
        clmd_engine *e = NULL;
        for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
            char rel[256];
            snprintf(rel, sizeof rel, "alchemical/%s_s%.2f_e%.2f.json", stem, pts[k][0], pts[k][1]);
            const char *path = clmd_test_data(rel);
            if (!path) continue;
            clmd_jv *doc = clmd_jv_load(path);
            CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
            const clmd_jv *pme = clmd_jv_get(doc, "pme");
            if (!e) {
                if (pme && method == CLMD_NB_PME) {
                    /* OpenMM's alpha and grid, so that only the alchemical physics differs */
                    fo.ewald_alpha = clmd_jv_num(clmd_jv_get(pme, "alpha"), 0);
                    for (int d = 0; d < 3; d++)
                        fo.pme_grid[d] = (int)clmd_jv_num(clmd_jv_get(pme, "grid")->item[d], 0);
                }
                e = engine(s, &fo, dev ? "auto" : "reference", &err);
                if (!e && dev && strstr(err.msg, "OpenCL")) {
                    clmd_jv_free(doc);
                    break;
                }
                if (!e) printf("\n  %s", err.msg);
                CU_ASSERT_FATAL(e != NULL);
            }
            found++;
            const int n = s->n;
            double *f = clmd_calloc(3 * (size_t)n, sizeof *f), *fr = NULL, dls, dle;
            double u = potential_at(e, pts[k][0], pts[k][1], &dls, &dle, f);
            CU_ASSERT_EQUAL(clmd_jv_vec3s(clmd_jv_get(doc, "forces"), &fr), n);
            const double ur = clmd_jv_num(clmd_jv_get(doc, "energy"), NAN);
            const double rs = clmd_jv_num(clmd_jv_get(doc, "dUdlambda_sterics"), NAN);
            const double re = clmd_jv_num(clmd_jv_get(doc, "dUdlambda_electrostatics"), NAN);
            if (k == 0) u11[dev] = u - ur;
            const double rms = clmd_force_rms_rel(f, fr, n);
            printf("\n  %s %s (%.2f, %.2f): U %.4f (openmmtools %.4f), dU/dl_s %.5f (%.5f), dU/dl_e "
                   "%.5f (%.5f), forces %.2g", stem, dev ? "device" : "reference", pts[k][0],
                   pts[k][1], u, ur, dls, rs, dle, re, rms);
            /* energies as changes from lambda (1, 1): the PME grid's own error cancels */
            if (isfinite(u11[dev]))
                ASSERT_BELOW(fabs((u - ur) - u11[dev]), tol_u * (dev ? 10 : 1),
                             "energy change from the coupled state: |clmd - openmmtools| (kJ/mol)");
            ASSERT_REL(dls, rs, tol_e * (dev ? 10 : 1), 1, "dU/dlambda_sterics vs openmmtools",
                       "the soft-core tail of the dispersion correction is linear in lambda here");
            ASSERT_REL(dle, re, tol_e * (dev ? 10 : 1), 1, "dU/dlambda_electrostatics vs openmmtools",
                       "same physics");
            ASSERT_BELOW(rms, tol_f * (dev ? 10 : 1), "forces vs openmmtools (rms relative)");
            clmd_free(f);
            free(fr);
            clmd_jv_free(doc);
        }
        clmd_engine_destroy(&e);
    }
    if (!found) {
        clmd_system_destroy(&s);
        CLMD_SKIP_DATA("openmmtools references (tests/data/alchemical)");
    }
    clmd_system_destroy(&s);
}

static void test_openmmtools_vacuum(void)
{
    openmmtools_case("ala2_vacuum", "systems/alanine-dipeptide-implicit.prmtop",
                     "systems/alanine-dipeptide-implicit.inpcrd", CLMD_NB_NOCUTOFF, 10, 0,
                     /* clmd's Coulomb constant 138.935456 against OpenMM's 138.93545764...: 1.2e-8 */
                     2e-7, 2e-5, 1e-7);
}

static void test_openmmtools_pme(void)
{
    openmmtools_case("ala2_pme", "systems/alanine-dipeptide-explicit.prmtop",
                     "systems/alanine-dipeptide-explicit.inpcrd", CLMD_NB_PME, NREGION, 0,
                     /* the soft-core tail of the dispersion correction taken as lambda times the
                      * plain one (OpenMM integrates it at each lambda): ~3e-3 kJ/mol; forces: the
                      * plain system's PME difference (3.8e-5, the same at lambda 1) */
                     1e-4, 1e-2, 1e-4);
}

static void test_openmmtools_pme_annihilate(void)
{
    openmmtools_case("ala2_pme_annihilate", "systems/alanine-dipeptide-explicit.prmtop",
                     "systems/alanine-dipeptide-explicit.inpcrd", CLMD_NB_PME, NREGION, 1, 1e-4, 1e-2, 1e-4);
}

static void test_openmmtools_rf(void)
{
    openmmtools_case("ala2_rf_shifted", "systems/alanine-dipeptide-explicit.prmtop",
                     "systems/alanine-dipeptide-explicit.inpcrd", CLMD_NB_REACTION_FIELD, NREGION, 0,
                     1e-4, 1e-2, 1e-4);
}

/* REST2: the region's factors (charges and 2 sqrt(eps) times sqrt(s), the region's torsions
 * times s, no soft-core) equal the plain system with the solute's charges times sqrt(s), its LJ
 * depths times s, its exceptions scaled by particle and its torsions times s. */
static void rest2_case(const char *device, clmd_nbmethod method)
{
    clmd_system *s = ala2_water(1), *m = ala2_water(0);
    if (!s || !m) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    const double f = 300.0 / 420.0, r = sqrt(f);
    for (int i = 0; i < NREGION; i++) {
        m->charge[i] *= r;
        m->epsilon[i] *= f;
    }
    for (int k = 0; k < m->npairs; k++) {
        const int nreg = (m->pairs[k].i < NREGION) + (m->pairs[k].j < NREGION);
        m->pairs[k].qq *= pow(r, nreg);
        m->pairs[k].eps *= pow(r, nreg);
    }
    for (int k = 0; k < m->ntorsions; k++) {
        const clmd_torsion *t = &m->torsions[k];
        if (t->i < NREGION && t->j < NREGION && t->k < NREGION && t->l < NREGION) m->torsions[k].kf *= f;
    }
    clmd_ffopts fo;
    opts(&fo, method);
    fo.region_softcore = 0; /* REST2 */
    clmd_err err = {0};
    clmd_engine *a = engine(s, &fo, device, &err);
    if (!a && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        clmd_system_destroy(&m);
        CLMD_SKIP("no OpenCL device");
    }
    clmd_engine *b = engine(m, &fo, device, &err);
    CU_ASSERT_FATAL(a && b);
    clmd_engine_set_segment_scale(a, 0, &(clmd_region_scale){r, r, 1, f});
    const int n = s->n;
    double *fa = clmd_calloc(3 * (size_t)n, sizeof *fa), *fb = clmd_calloc(3 * (size_t)n, sizeof *fb);
    double ea[CLMD_E_NCOMP], eb[CLMD_E_NCOMP], ua = 0, ub = 0;
    CU_ASSERT_FATAL(clmd_engine_evaluate(a, ea, fa, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_engine_evaluate(b, eb, fb, &err) == CLMD_OK);
    for (int c = 0; c < CLMD_E_NCOMP; c++) {
        ua += ea[c];
        ub += eb[c];
        ASSERT_REL(ea[c], eb[c], strcmp(device, "reference") ? 1e-6 : 1e-11, 1, clmd_ecomp_name[c],
                   "the same scaled interactions");
    }
    const double rms = clmd_force_rms_rel(fa, fb, n);
    printf("\n  REST2 (%s): U %.6f vs scaled system %.6f, forces %.2g rms", device, ua, ub, rms);
    ASSERT_BELOW(rms, strcmp(device, "reference") ? 1e-6 : 1e-12, "forces: REST2 factors vs scaled system");
    clmd_free(fa);
    clmd_free(fb);
    clmd_engine_destroy(&a);
    clmd_engine_destroy(&b);
    clmd_system_destroy(&s);
    clmd_system_destroy(&m);
}

static void test_rest2_reference(void) { rest2_case("reference", CLMD_NB_PME); }
static void test_rest2_device(void) { rest2_case("auto", CLMD_NB_PME); }

/* The energy matrix of a Hamiltonian ladder in one pass (clmd_engine_region_energies: one
 * evaluation, then the factor-dependent parts at every state on the host) against K direct
 * evaluations with the factors set to each state. kind 0: alchemical soft-core ladder; 1: the
 * same with annihilated sterics and an LJ switch; 2: REST2. The copies' own factors: a state of
 * the ladder, and a set between states. copies > 1: a batched engine, each copy at its own
 * factors and its positions moved, against one-system engines at the copies' positions. */
static void matrix_case(const char *device, clmd_nbmethod method, int kind, int copies)
{
    const int vac = method == CLMD_NB_NOCUTOFF;
    clmd_system *s;
    if (vac) {
        const char *top = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
        const char *crd = clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
        s = NULL;
        clmd_err e0 = {0};
        if (!top || !crd || clmd_amber_load(top, crd, &s, &e0)) s = NULL;
        if (s) {
            CLMD_NEW(s->region, s->n);
            for (int i = 0; i < 10; i++) s->region[i] = 1;
            s->nregion = 10;
        }
    } else {
        s = ala2_water(1);
    }
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide prmtop/inpcrd");
    clmd_ffopts fo;
    opts(&fo, method);
    if (kind == 1) {
        fo.region_annihilate = 1;
        fo.switch_nm = 0.8;
    }
    if (kind == 2) fo.region_softcore = 0;
    enum { K = 6 };
    clmd_region_scale st[K];
    if (kind < 2) {
        const double ls[K] = {1, 1, 1, 0.6, 0.3, 0}, le[K] = {1, 0.5, 0, 0, 0, 0};
        for (int k = 0; k < K; k++) st[k] = (clmd_region_scale){le[k], 1, ls[k], 1};
    } else {
        for (int k = 0; k < K; k++) {
            const double f = 300.0 / (300.0 * pow(450.0 / 300.0, k / (K - 1.0)));
            st[k] = (clmd_region_scale){sqrt(f), sqrt(f), 1, f};
        }
    }
    const clmd_region_scale own[2] = {st[3], kind < 2 ? (clmd_region_scale){0.2, 1, 0.45, 1}
                                                     : (clmd_region_scale){0.9, 0.9, 1, 0.81}};
    clmd_err err = {0};
    clmd_system *big = NULL;
    if (copies > 1)
        CU_ASSERT_FATAL(clmd_system_replicate(s, copies, (s->n + 63) / 64 * 64, &big, &err) == CLMD_OK);
    clmd_engine *e = engine(big ? big : s, &fo, device, &err);
    if (!e && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&big);
        clmd_system_destroy(&s);
        CLMD_SKIP("no OpenCL device");
    }
    if (!e) printf("\n  engine: %s", err.msg);
    CU_ASSERT_FATAL(e != NULL);
    const int ref = strcmp(device, "reference") == 0;
    /* double against double: rounding; the device: its own energies at each state carry float
     * rounding (~1e-7 of 3e4 kJ/mol) where the one pass adds double differences */
    const double tol = ref ? 2e-5 : 5e-3;
    const int n1 = s->n, stride = big ? big->seg_stride : n1;
    double *x = clmd_calloc(3 * (size_t)n1, sizeof *x);
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* copy g at its own factors; batched copies: each one's particles moved a little */
        if (copies > 1) {
            clmd_state *stt = clmd_engine_state(e);
            CU_ASSERT_FATAL(clmd_engine_get_positions(e, stt->x, &err) == CLMD_OK);
            for (int g = 0; g < copies; g++)
                for (int i = 0; i < n1; i++)
                    for (int d = 0; d < 3; d++)
                        stt->x[3 * ((size_t)g * stride + i) + d] =
                            s->x[3 * i + d] + 0.01 * g * sin(1.7 * i + d + 0.3 * g);
            CU_ASSERT_FATAL(clmd_engine_set_positions(e, stt->x, &err) == CLMD_OK);
        }
        for (int g = 0; g < (copies > 1 ? copies : 1); g++)
            clmd_engine_set_segment_scale(e, g, &own[(pass + g) % 2]);
        const int G = copies > 1 ? copies : 1;
        double *u = clmd_calloc((size_t)G * K, sizeof *u);
        int rc = clmd_engine_region_energies(e, K, st, u, &err);
        if (rc) printf("\n  region energies: %s", err.msg);
        CU_ASSERT_FATAL(rc == CLMD_OK);
        for (int g = 0; g < G; g++) {
            clmd_engine *one = e;
            if (copies > 1) {
                /* the copy's positions in a one-system engine */
                one = engine(s, &fo, device, &err);
                CU_ASSERT_FATAL(one != NULL);
                clmd_state *stt = clmd_engine_state(e);
                memcpy(x, stt->x + 3 * (size_t)g * stride, sizeof(double) * 3 * (size_t)n1);
                CU_ASSERT_FATAL(clmd_engine_set_positions(one, x, &err) == CLMD_OK);
            }
            for (int k = 0; k < K; k++) {
                clmd_engine_set_segment_scale(one, 0, &st[k]);
                double comp[CLMD_E_NCOMP], direct = 0;
                CU_ASSERT_FATAL(clmd_engine_evaluate(one, comp, NULL, &err) == CLMD_OK);
                for (int c = 0; c < CLMD_E_NCOMP; c++) direct += comp[c];
                const double d = fabs(u[(size_t)g * K + k] - direct);
                if (d > worst) worst = d;
                if (d > tol)
                    printf("\n  copy %d state %d: one pass %.6f, direct %.6f", g, k, u[(size_t)g * K + k], direct);
                CU_ASSERT(d <= tol);
            }
            if (copies > 1) clmd_engine_destroy(&one);
            else clmd_engine_set_segment_scale(e, 0, &own[(pass + g) % 2]);
        }
        clmd_free(u);
    }
    printf("\n  %s, method %d, kind %d, %d cop%s: one pass vs direct, worst %.3g kJ/mol (bound %g)",
           device, (int)method, kind, copies, copies == 1 ? "y" : "ies", worst, tol);
    clmd_free(x);
    clmd_engine_destroy(&e);
    clmd_system_destroy(&big);
    clmd_system_destroy(&s);
}

static void test_matrix_reference(void)
{
    matrix_case("reference", CLMD_NB_PME, 0, 1);
    matrix_case("reference", CLMD_NB_PME, 1, 1);
    matrix_case("reference", CLMD_NB_REACTION_FIELD, 0, 1);
    matrix_case("reference", CLMD_NB_NOCUTOFF, 0, 1);
    matrix_case("reference", CLMD_NB_PME, 2, 1);
    matrix_case("reference", CLMD_NB_CUTOFF, 0, 1);
}

static void test_matrix_device(void)
{
    matrix_case("auto", CLMD_NB_PME, 0, 1);
    matrix_case("auto", CLMD_NB_REACTION_FIELD, 1, 1);
    matrix_case("auto", CLMD_NB_NOCUTOFF, 0, 1);
    matrix_case("auto", CLMD_NB_PME, 2, 1);
    matrix_case("auto", CLMD_NB_CUTOFF, 0, 1);
}

static void test_matrix_batched(void)
{
    matrix_case("auto", CLMD_NB_PME, 0, 3);
    matrix_case("auto", CLMD_NB_PME, 2, 3);
}

/* The work-group kernels written for GPUs, run here on the CPU device (which takes the float8
 * layout otherwise): the region kernel of both layouts stays tested on any machine. Last in the
 * list, as a failed fatal assert leaves CLMD_GPU_KERNELS set. */
static void test_gpu_style_kernels(void)
{
    setenv("CLMD_GPU_KERNELS", "1", 1);
    test_device_vs_reference();
    test_batched_copies();
    rest2_case("auto", CLMD_NB_PME);
    matrix_case("auto", CLMD_NB_REACTION_FIELD, 1, 1);
    matrix_case("auto", CLMD_NB_PME, 0, 3);
    unsetenv("CLMD_GPU_KERNELS");
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {
        {"dU/dlambda vs finite differences (reference, PME)", test_dudl_reference_pme},
        {"dU/dlambda vs finite differences (reference, reaction field)", test_dudl_reference_rf},
        {"dU/dlambda vs finite differences (device, PME)", test_dudl_device_pme},
        {"forces vs finite differences of the energy", test_forces_finite_differences},
        {"end points: plain system, charges zeroed", test_end_points},
        {"device vs reference at several lambdas", test_device_vs_reference},
        {"batched copies at four lambdas = one-system engines", test_batched_copies},
        {"openmmtools: vacuum, region of 10 atoms", test_openmmtools_vacuum},
        {"openmmtools: PME", test_openmmtools_pme},
        {"openmmtools: PME, annihilated sterics", test_openmmtools_pme_annihilate},
        {"openmmtools: reaction field (shifted)", test_openmmtools_rf},
        {"REST2 factors = the scaled system (reference)", test_rest2_reference},
        {"REST2 factors = the scaled system (device)", test_rest2_device},
        {"energy matrix in one pass = direct evaluations (reference)", test_matrix_reference},
        {"energy matrix in one pass = direct evaluations (device)", test_matrix_device},
        {"energy matrix in one pass, batched copies", test_matrix_batched},
        {"GPU-style kernels (run on this device): device vs reference, REST2, matrix, batched",
         test_gpu_style_kernels},
        {NULL, NULL}};
    return clmd_test_main("test_alchemical", tests, argc, argv);
}
