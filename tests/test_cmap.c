/* Suite: CMAP correction maps (ff/cmap.c, ff/cmap_ref.c, cl/cmap.cl) against OpenMM 7.7's
 * CMAPTorsionForce. References: tests/refs/cmap_refs.json, made by tests/refs/make_cmap_refs.py
 * (OpenMM's AmberPrmtopFile reads the prmtop's CMAP sections and createSystem adds the force, so
 * the reference is OpenMM's own import and interpolation of 18protein.parm7):
 *   - the interpolation tables: grid values reproduced, C1 across cells, spline slopes;
 *   - the 16 terms of 18protein at its coordinates and 256 synthetic terms sweeping every map
 *     (grid nodes, the 0 and +-pi seams, random points), reference and OpenCL;
 *   - finite differences of the reference; OpenCL against the reference;
 *   - the whole 18protein system (21,536 atoms, PME) through `clmd eval` against OpenMM. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/cmap_ref.h"
#include "ff/term.h"
#include "md/engine.h"
#include "probe/probe.h"
#include "system/amber.h"
#include "system/system.h"
#include "testutil.h"

static clmd_jv *refs; /* cmap_refs.json */

static double jnum(const clmd_jv *obj, const char *key)
{
    return clmd_jv_num(clmd_jv_get(obj, key), NAN);
}

/* 18protein with its coordinates (with_crd) or without; NULL when the data is absent. */
static clmd_system *load_protein18(int with_crd)
{
    char p[4096], c[4096];
    const char *pp = clmd_test_data("systems/18protein.parm7");
    const char *cc = clmd_test_data("systems/18protein.rst7");
    if (!pp || !cc) return NULL;
    snprintf(p, sizeof p, "%s", pp);
    snprintf(c, sizeof c, "%s", cc);
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(p, with_crd ? c : NULL, &s, &err);
    if (rc) printf("\n  load 18protein failed: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

/* A system of n particles (mass 12, nothing else) with the maps of `from`. */
static clmd_system *bare_system(int n, const clmd_system *from)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    for (int i = 0; i < n; i++) {
        s->mass[i] = 12;
        s->sigma[i] = 0.3;
    }
    for (int m = 0; m < from->ncmap_maps; m++)
        clmd_system_add_cmap_map(s, from->cmap_maps[m].size, from->cmap_maps[m].energy);
    snprintf(s->source, sizeof s->source, "test system with the maps of %.400s", from->source);
    return s;
}

/* The atoms of 18protein's CMAP terms as a system of their own: same positions, box and maps,
 * the terms renumbered; keep[] (the JSON's "atoms" list) gives each one's original index. */
static clmd_system *protein18_cmap_atoms(const clmd_system *full, const clmd_jv *atoms)
{
    clmd_system *s = bare_system(atoms->n, full);
    int *newidx = clmd_calloc(full->n, sizeof *newidx);
    for (int i = 0; i < full->n; i++) newidx[i] = -1;
    for (int k = 0; k < atoms->n; k++) {
        int i = (int)clmd_jv_num(atoms->item[k], -1);
        CU_ASSERT_FATAL(i >= 0 && i < full->n);
        newidx[i] = k;
        memcpy(s->x + 3 * k, full->x + 3 * i, 3 * sizeof(double));
        s->mass[k] = full->mass[i];
    }
    s->periodic = full->periodic;
    memcpy(s->box, full->box, sizeof s->box);
    for (int k = 0; k < full->ncmaps; k++) {
        const clmd_cmap *t = &full->cmaps[k];
        clmd_system_add_cmap(s, newidx[t->a], newidx[t->b], newidx[t->c], newidx[t->d],
                             newidx[t->e], t->map);
    }
    clmd_free(newidx);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_system_validate(s, &err), CLMD_OK);
    return s;
}

/* The sweep of cmap_refs.json: 5-atom chains with the maps of 18protein. */
static clmd_system *sweep_system(const clmd_system *maps_from, const clmd_jv *sw)
{
    const clmd_jv *pos = clmd_jv_get(sw, "positions"), *tors = clmd_jv_get(sw, "torsions");
    clmd_system *s = bare_system(pos->n, maps_from);
    for (int i = 0; i < pos->n; i++)
        for (int c = 0; c < 3; c++) s->x[3 * i + c] = clmd_jv_num(pos->item[i]->item[c], NAN);
    for (int k = 0; k < tors->n; k++) {
        int v[6];
        for (int q = 0; q < 6; q++) v[q] = (int)clmd_jv_num(tors->item[k]->item[q], -1);
        clmd_system_add_cmap(s, v[0], v[1], v[2], v[3], v[4], v[5]);
    }
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_system_validate(s, &err), CLMD_OK);
    return s;
}

/* CMAP energy and forces by the term's own reference. */
static double term_reference(const clmd_system *s, const double *x, double *f)
{
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    clmd_term *t = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_cmap_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    clmd_fenv env = clmd_test_fenv(s, clmd_test_plan(s, &o), NULL);
    double e[CLMD_E_NCOMP] = {0};
    if (f) memset(f, 0, 3 * (size_t)s->n * sizeof *f);
    CU_ASSERT_EQUAL(t->ops->reference(t, &env, x ? x : s->x, f, e, &err), CLMD_OK);
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (c != CLMD_E_CMAP) CU_ASSERT_EQUAL(e[c], 0);
    clmd_term_destroy(&t);
    return e[CLMD_E_CMAP];
}

/* One engine evaluation (no cutoff: the systems here have no charges or LJ). */
static int engine_eval(const clmd_system *s, const char *device, clmd_probe *probe, double *e,
                       double *f)
{
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_NOCUTOFF;
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, &o, &eo, probe, &eng, &err);
    if (!rc) rc = clmd_engine_evaluate(eng, e, f, &err);
    if (rc) printf("\n  engine (%s): %s\n", device, err.msg);
    clmd_engine_destroy(&eng);
    return rc;
}

/* ---- the tables ---- */

static double urand(unsigned *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (*seed >> 8) / 16777216.0;
}

/* Value and both first derivatives (in patch units) of patch c at (u, v). */
static void patch_eval(const double *c, double u, double v, double out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (int p = 0; p < 4; p++)
        for (int q = 0; q < 4; q++) {
            out[0] += c[4 * p + q] * pow(u, p) * pow(v, q);
            if (p) out[1] += p * c[4 * p + q] * pow(u, p - 1) * pow(v, q);
            if (q) out[2] += q * c[4 * p + q] * pow(u, p) * pow(v, q - 1);
        }
}

static void tables_interpolate_the_grid_continuously_with_spline_slopes(void)
{
    const int sizes[3] = {24, 7, 3};
    for (int z = 0; z < 3; z++) {
        const int n = sizes[z];
        const double h = 2 * M_PI / n;
        double *E = clmd_calloc(n * n, sizeof *E), *c = clmd_calloc(16 * n * n, sizeof *c);
        unsigned seed = 5 + z;
        for (int k = 0; k < n * n; k++) E[k] = 20 * urand(&seed) - 10;
        clmd_cmap_ref_coefficients(n, E, c);
        double node = 0, seam = 0;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) {
                const double *cc = c + 16 * (i + n * j);
                double a[3], b[3];
                patch_eval(cc, 0, 0, a);
                node = fmax(node, fabs(a[0] - E[i + n * j]));
                /* C1 across the u = 1 edge (periodic wrap included) and the v = 1 edge */
                for (int side = 0; side < 2; side++)
                    for (double w = 0; w <= 1.0; w += 0.25) {
                        const int next = side ? i + n * ((j + 1) % n) : (i + 1) % n + n * j;
                        const double *nb = c + 16 * next;
                        patch_eval(cc, side ? w : 1, side ? 1 : w, a);
                        patch_eval(nb, side ? w : 0, side ? 0 : w, b);
                        for (int k = 0; k < 3; k++) seam = fmax(seam, fabs(a[k] - b[k]));
                    }
            }
        printf("\n  %dx%d map: node error %.1e, largest jump of value or slope across cells %.1e",
               n, n, node, seam);
        ASSERT_BELOW(node, 1e-12, "patch value at its corner vs the grid (kJ/mol)");
        ASSERT_BELOW(seam, 1e-11, "value/slope jump across cell edges (C1 bicubic Hermite)");
        /* the slopes solve the periodic spline's equations d[k-1] + 4 d[k] + d[k+1] = 3 dy / h */
        double *y = clmd_calloc(n, sizeof *y), *d = clmd_calloc(n, sizeof *d), res = 0;
        for (int k = 0; k < n; k++) y[k] = E[k];
        clmd_cmap_ref_spline_slopes(n, h, y, d);
        for (int k = 0; k < n; k++) {
            double lhs = d[(k + n - 1) % n] + 4 * d[k] + d[(k + 1) % n];
            res = fmax(res, fabs(lhs - 3 * (y[(k + 1) % n] - y[(k + n - 1) % n]) / h));
        }
        ASSERT_BELOW(res, 1e-11, "periodic spline slope equations, largest residual");
        clmd_free(y);
        clmd_free(d);
        clmd_free(E);
        clmd_free(c);
    }
    /* a smooth periodic function: spline slopes converge to its derivative as h^4 */
    const int n = 24;
    double y[24], d[24], worst = 0;
    for (int k = 0; k < n; k++) y[k] = sin(2 * M_PI * k / n) + 0.5 * cos(2 * 2 * M_PI * k / n);
    clmd_cmap_ref_spline_slopes(n, 2 * M_PI / n, y, d);
    for (int k = 0; k < n; k++) {
        double x = 2 * M_PI * k / n;
        worst = fmax(worst, fabs(d[k] - (cos(x) - sin(2 * x))));
    }
    printf("\n  slopes of sin x + cos(2x)/2 on 24 points: largest error %.1e", worst);
    ASSERT_BELOW(worst, 1e-3, "spline slope vs exact derivative, 24 points (O(h^4) ~ 1e-4)");
}

/* ---- against OpenMM ---- */

static void protein18_reference_matches_openmm(void)
{
    clmd_system *s = load_protein18(1);
    if (!s) CLMD_SKIP_DATA("18protein.parm7/.rst7 not in CLMD_TEST_DATA");
    const clmd_jv *c = clmd_jv_get(refs, "protein18_cmap"), *atoms = clmd_jv_get(c, "atoms");
    CU_ASSERT_PTR_NOT_NULL_FATAL(atoms);
    double *f = clmd_calloc(3 * (size_t)s->n, sizeof *f), *fref = NULL;
    double e = term_reference(s, NULL, f);
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref), atoms->n);
    double *fa = clmd_calloc(3 * (size_t)atoms->n, sizeof *fa);
    for (int k = 0; k < atoms->n; k++) {
        const int i = (int)clmd_jv_num(atoms->item[k], 0);
        memcpy(fa + 3 * k, f + 3 * i, 3 * sizeof(double));
        memset(f + 3 * i, 0, 3 * sizeof(double));
    }
    int outside = 0; /* force components left on atoms outside the terms */
    for (int k = 0; k < 3 * s->n; k++) outside += f[k] != 0;
    double rms = clmd_force_rms_rel(fa, fref, atoms->n), eref = jnum(c, "energy");
    printf("\n  18protein CMAP reference: E %.10f vs OpenMM %.10f (rel %.1e), forces rms rel %.1e",
           e, eref, fabs(e - eref) / fabs(eref), rms);
    ASSERT_REL(e, eref, 1e-8, 0, "CMAP energy, reference vs OpenMM",
               "both double precision, the same interpolant; the JSON keeps 10 digits");
    ASSERT_BELOW(rms, 1e-8, "CMAP forces, reference vs OpenMM (RMS relative; 10-digit JSON)");
    CU_ASSERT_EQUAL(outside, 0); /* no force on atoms outside the terms */
    free(fref);
    clmd_free(f);
    clmd_free(fa);
    clmd_system_destroy(&s);
}

/* OpenCL vs OpenMM and vs the reference on one system; forces compared over every particle.
 * Returns the OpenCL-vs-reference force RMS relative error. */
static double opencl_case(const clmd_system *s, double eref, const double *fref, const char *label)
{
    double er[CLMD_E_NCOMP], ed[CLMD_E_NCOMP];
    double *fr = clmd_calloc(3 * (size_t)s->n, sizeof *fr);
    double *fd = clmd_calloc(3 * (size_t)s->n, sizeof *fd);
    clmd_probe *p = clmd_probe_create(1);
    CU_ASSERT_EQUAL_FATAL(engine_eval(s, "reference", NULL, er, fr), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(engine_eval(s, "auto", p, ed, fd), CLMD_OK);
    double rms_omm = clmd_force_rms_rel(fd, fref, s->n), rms_ref = clmd_force_rms_rel(fd, fr, s->n);
    double rms_ref_omm = clmd_force_rms_rel(fr, fref, s->n);
    printf("\n  %s: E OpenCL %.8f reference %.8f OpenMM %.8f (OpenCL rel %.1e); forces rms rel "
           "OpenCL-OpenMM %.1e, OpenCL-reference %.1e, reference-OpenMM %.1e; %ld cmap launch(es)",
           label, ed[CLMD_E_CMAP], er[CLMD_E_CMAP], eref, fabs(ed[CLMD_E_CMAP] - eref) / fabs(eref),
           rms_omm, rms_ref, rms_ref_omm, clmd_probe_calls(p, P_CMAP));
    ASSERT_REL(ed[CLMD_E_CMAP], eref, 1e-5, 0, "CMAP energy, OpenCL vs OpenMM",
               "float kernel with float patch coefficients: ~1e-7 expected");
    ASSERT_REL(er[CLMD_E_CMAP], eref, 1e-8, 0, "CMAP energy, engine reference vs OpenMM",
               "double precision, 10-digit JSON");
    ASSERT_BELOW(rms_omm, 1e-4, "CMAP forces, OpenCL vs OpenMM (RMS relative)");
    ASSERT_BELOW(rms_ref, 1e-5, "CMAP forces, OpenCL vs reference (RMS relative)");
    ASSERT_BELOW(rms_ref_omm, 1e-8, "CMAP forces, engine reference vs OpenMM (RMS relative)");
    CU_ASSERT_EQUAL(clmd_probe_calls(p, P_CMAP), 1);
    clmd_probe_destroy(&p);
    clmd_free(fr);
    clmd_free(fd);
    return rms_ref;
}

static void protein18_opencl_matches_openmm_and_reference(void)
{
    clmd_system *full = load_protein18(1);
    if (!full) CLMD_SKIP_DATA("18protein.parm7/.rst7 not in CLMD_TEST_DATA");
    const clmd_jv *c = clmd_jv_get(refs, "protein18_cmap");
    clmd_system *s = protein18_cmap_atoms(full, clmd_jv_get(c, "atoms"));
    double *fref = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref), s->n);
    opencl_case(s, jnum(c, "energy"), fref, "18protein CMAP atoms (periodic box)");
    free(fref);
    clmd_system_destroy(&s);
    clmd_system_destroy(&full);
}

/* Moves the CMAP atoms so the first term's first atom sits at a corner of the box, then wraps
 * every atom into the cell on its own: the terms straddle the boundary. */
static void split_across_the_box(clmd_system *s)
{
    double shift[3];
    for (int k = 0; k < 3; k++) shift[k] = 0.02 - s->x[k];
    for (int i = 0; i < s->n; i++) {
        double *x = s->x + 3 * i;
        for (int k = 0; k < 3; k++) x[k] += shift[k];
        for (int v = 2; v >= 0; v--) { /* reduced form: c, then b, then a */
            double f = floor(x[v] / s->box[v][v]);
            for (int k = 0; k < 3; k++) x[k] -= f * s->box[v][k];
        }
    }
}

static void molecules_split_across_rectangular_and_triclinic_boxes(void)
{
    clmd_system *full = load_protein18(1);
    if (!full) CLMD_SKIP_DATA("18protein.parm7/.rst7 not in CLMD_TEST_DATA");
    const clmd_jv *c = clmd_jv_get(refs, "protein18_cmap");
    double *fref = NULL;
    for (int tri = 0; tri < 2; tri++) {
        clmd_system *s = protein18_cmap_atoms(full, clmd_jv_get(c, "atoms"));
        if (tri) /* reduced form: |b_x| <= a_x/2, |c_x| <= a_x/2, |c_y| <= b_y/2 */
            clmd_system_set_box_angles(s, 5.0, 5.2, 5.5, 75.0, 80.0, 100.0);
        else
            clmd_system_set_box(s, 4.0, 4.5, 5.0);
        split_across_the_box(s);
        if (!fref) CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(c, "forces"), &fref), s->n);
        double rms = opencl_case(s, jnum(c, "energy"), fref,
                                 tri ? "split, triclinic box" : "split, rectangular box");
        /* plain float images would give ~3e-6 here (ulp of the box edge over a bond length) */
        ASSERT_BELOW(rms, 1e-6, "split terms, OpenCL vs reference: images exact in double-float");
        clmd_system_destroy(&s);
    }
    free(fref);
    clmd_system_destroy(&full);
}

static void sweep_over_every_map_matches_openmm(void)
{
    clmd_system *maps = load_protein18(0);
    if (!maps) CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    const clmd_jv *sw = clmd_jv_get(refs, "sweep");
    clmd_system *s = sweep_system(maps, sw);
    double *fref = NULL, *f = clmd_calloc(3 * (size_t)s->n, sizeof *f);
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(sw, "forces"), &fref), s->n);
    double e = term_reference(s, NULL, f), eref = jnum(sw, "energy");
    double rms = clmd_force_rms_rel(f, fref, s->n);
    printf("\n  sweep, %d terms: reference E %.10f vs OpenMM %.10f (rel %.1e), forces rms rel %.1e",
           s->ncmaps, e, eref, fabs(e - eref) / fabs(eref), rms);
    ASSERT_REL(e, eref, 1e-8, 0, "CMAP sweep energy, reference vs OpenMM",
               "double precision, the same interpolant; 10-digit JSON");
    ASSERT_BELOW(rms, 1e-8, "CMAP sweep forces, reference vs OpenMM (RMS relative)");
    opencl_case(s, eref, fref, "sweep");
    free(fref);
    clmd_free(f);
    clmd_system_destroy(&s);
    clmd_system_destroy(&maps);
}

static void repeated_opencl_evaluations_are_bitwise_identical(void)
{
    clmd_system *maps = load_protein18(0);
    if (!maps) CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    clmd_system *s = sweep_system(maps, clmd_jv_get(refs, "sweep"));
    double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP];
    double *f1 = clmd_calloc(3 * (size_t)s->n, sizeof *f1);
    double *f2 = clmd_calloc(3 * (size_t)s->n, sizeof *f2);
    CU_ASSERT_EQUAL_FATAL(engine_eval(s, "auto", NULL, e1, f1), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(engine_eval(s, "auto", NULL, e2, f2), CLMD_OK);
    /* fixed-point force and energy sums do not depend on the order the atomics land in */
    CU_ASSERT_EQUAL(memcmp(f1, f2, 3 * (size_t)s->n * sizeof *f1), 0);
    CU_ASSERT_EQUAL(memcmp(&e1[CLMD_E_CMAP], &e2[CLMD_E_CMAP], sizeof e1[0]), 0);
    clmd_free(f1);
    clmd_free(f2);
    clmd_system_destroy(&s);
    clmd_system_destroy(&maps);
}

static void reference_forces_are_minus_the_energy_gradient(void)
{
    clmd_system *maps = load_protein18(0);
    if (!maps) CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    clmd_system *s = sweep_system(maps, clmd_jv_get(refs, "sweep"));
    const int n3 = 3 * s->n;
    double *f = clmd_calloc(n3, sizeof *f), *fd = clmd_calloc(n3, sizeof *fd);
    double *x = clmd_calloc(n3, sizeof *x);
    memcpy(x, s->x, n3 * sizeof *x);
    term_reference(s, x, f); /* the term's forces; the differences below reuse its tables */
    int *off = clmd_calloc(s->ncmap_maps + 1, sizeof *off);
    clmd_cmap_ref_offsets(s, off);
    double *coeff = clmd_calloc(16 * (size_t)off[s->ncmap_maps], sizeof *coeff);
    for (int m = 0; m < s->ncmap_maps; m++)
        clmd_cmap_ref_coefficients(s->cmap_maps[m].size, s->cmap_maps[m].energy,
                                   coeff + 16 * (size_t)off[m]);
    const double h = 1e-6; /* nm: truncation ~h^2 F''' and rounding ~1e-16 E / h, both ~1e-8 */
    for (int k = 0; k < n3; k++) {
        double x0 = x[k];
        x[k] = x0 + h;
        double ep = clmd_cmap_ref_eval(s, clmd_system_box(s), coeff, off, x, NULL);
        x[k] = x0 - h;
        double em = clmd_cmap_ref_eval(s, clmd_system_box(s), coeff, off, x, NULL);
        x[k] = x0;
        fd[k] = -(ep - em) / (2 * h);
    }
    clmd_free(off);
    clmd_free(coeff);
    double rms = clmd_force_rms_rel(f, fd, s->n);
    printf("\n  %d coordinates: forces vs central differences, rms rel %.1e", n3, rms);
    ASSERT_BELOW(rms, 1e-6, "reference forces vs -dE/dx by central differences (RMS relative)");
    clmd_free(f);
    clmd_free(fd);
    clmd_free(x);
    clmd_system_destroy(&s);
    clmd_system_destroy(&maps);
}

/* ---- the term, the system ---- */

static void term_exists_only_with_cmap_and_describes_itself(void)
{
    clmd_system *maps = load_protein18(0);
    if (!maps) CLMD_SKIP_DATA("18protein.parm7 not in CLMD_TEST_DATA");
    clmd_system *s = bare_system(5, maps);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    clmd_term sentinel = {0}, *t = &sentinel;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_cmap_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(t); /* maps but no terms: nothing to evaluate */
    clmd_system_add_cmap(s, 0, 1, 2, 3, 4, 2);
    CU_ASSERT_EQUAL_FATAL(clmd_cmap_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char buf[512] = {0};
    FILE *fp = fmemopen(buf, sizeof buf - 1, "w");
    t->ops->describe(t, fp);
    fclose(fp);
    printf("\n  %s", buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "1 correction-map torsion pairs, 16 maps (24x24)"));
    CU_ASSERT_STRING_EQUAL(t->ops->name, "cmap");
    clmd_term_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_STRING_EQUAL(clmd_ecomp_name[CLMD_E_CMAP], "cmap");
    CU_ASSERT_STRING_EQUAL(clmd_probe_name(P_CMAP), "cmap");
    clmd_system_destroy(&s);
    clmd_system_destroy(&maps);
}

static void validation_rejects_bad_cmap_indices_and_maps(void)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, 5);
    double e[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CU_ASSERT_EQUAL(clmd_system_add_cmap_map(s, 3, e), 0);
    clmd_system_add_cmap(s, 0, 1, 2, 3, 4, 0);
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_system_validate(s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->cmap_maps[0].energy[8], 9); /* copied */
    s->cmaps[0].e = 5;
    CU_ASSERT_EQUAL(clmd_system_validate(s, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CMAP term 1 refers to particle 6 of 5"));
    s->cmaps[0].e = 4;
    s->cmaps[0].map = 1;
    CU_ASSERT_EQUAL(clmd_system_validate(s, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "map 2 of 1"));
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    clmd_term *t = NULL;
    CU_ASSERT_EQUAL(clmd_cmap_create(s, clmd_test_plan(s, &o), &t, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(t);
    s->cmaps[0].map = 0;
    s->cmap_maps[0].energy[4] = NAN;
    CU_ASSERT_EQUAL(clmd_system_validate(s, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "non-finite"));
    clmd_system_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
}

/* ---- the whole system through clmd eval ---- */

static void protein18_pme_eval_matches_openmm_with_every_term(void)
{
    const char *pp = clmd_test_data("systems/18protein.parm7");
    const char *cc = clmd_test_data("systems/18protein.rst7");
    if (!pp || !cc) CLMD_SKIP_DATA("18protein.parm7/.rst7 not in CLMD_TEST_DATA");
    const clmd_jv *full = clmd_jv_get(refs, "protein18_full"), *en = clmd_jv_get(full, "energies");
    char deck[16384], path[4200], args[12000], jp[4200];
    const char *dir = clmd_test_tmpdir();
    /* OpenMM's settings in make_cmap_refs.py: PME 0.9 nm, tolerance 5e-4, flexible everything */
    snprintf(deck, sizeof deck,
             "title: 18protein PME single point\n"
             "system:\n  amber: {prmtop: %s, inpcrd: %s}\n"
             "nonbonded: {method: pme, cutoff: 0.9, ewald_error_tolerance: 5.0e-4, "
             "dispersion_correction: true}\n"
             "constraints: none\nrigid_water: false\n",
             pp, cc);
    snprintf(path, sizeof path, "%s/protein18.yaml", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, deck), 0);
    snprintf(jp, sizeof jp, "%s/e.json", dir);
    snprintf(args, sizeof args, "%s eval %s --json %s --device auto", clmd_test_binary(), path, jp);
    char *out = NULL;
    int rc = clmd_test_run(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    clmd_jv *got = clmd_jv_load(jp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    const clmd_jv *ge = clmd_jv_get(got, "energies");
    const struct {
        const char *clmd[4], *openmm;
    } terms[] = {
        {{"bond"}, "HarmonicBondForce"},
        {{"angle"}, "HarmonicAngleForce"},
        {{"torsion"}, "PeriodicTorsionForce"},
        {{"cmap"}, "CMAPTorsionForce"},
        {{"lj", "coulomb", "pme_reciprocal", "dispersion_correction"}, "NonbondedForce"},
    };
    double sum_abs = 0;
    const clmd_jv *dev = clmd_jv_get(got, "device");
    printf("\n  clmd (%s) vs OpenMM:", dev && dev->str ? dev->str : "?");
    for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
        double mine = 0, theirs = jnum(en, terms[k].openmm);
        for (int q = 0; q < 4 && terms[k].clmd[q]; q++) {
            const clmd_jv *v = clmd_jv_get(ge, terms[k].clmd[q]);
            CU_ASSERT_PTR_NOT_NULL(v);
            mine += clmd_jv_num(v, NAN);
        }
        sum_abs += fabs(theirs);
        printf("\n    %-20s %16.6f %16.6f  diff %.2e", terms[k].openmm, mine, theirs,
               mine - theirs);
    }
    double total = jnum(ge, "total"), tref = jnum(full, "energy");
    printf("\n    %-20s %16.6f %16.6f  diff %.2e (%.1e of the sum of |terms|)", "total", total,
           tref, total - tref, fabs(total - tref) / sum_abs);
    ASSERT_REL(total, tref, 1e-5 * sum_abs / fabs(tref), 0, "18protein total energy vs OpenMM",
               "1e-5 of the sum of |terms|: PME at 5e-4 with OpenMM's alpha, float device sums");
    ASSERT_REL(jnum(ge, "cmap"), jnum(en, "CMAPTorsionForce"), 1e-5, 0, "18protein cmap energy",
               "float CMAP kernel: ~1e-7 expected");
    /* PME parameters: the same rules as OpenMM's Reference platform (tests/test_pme.c) */
    const clmd_jv *pme[2] = {clmd_jv_get(got, "pme"), clmd_jv_get(full, "pme")};
    for (int k = 0; k < 2; k++) {
        const clmd_jv *g = clmd_jv_get(pme[k], "grid");
        printf("\n    %s PME alpha %.6f /nm, grid", k ? "OpenMM" : "clmd  ", jnum(pme[k], "alpha"));
        for (int d = 0; g && d < g->n; d++) printf(" %g", clmd_jv_num(g->item[d], 0));
    }
    double *f = NULL, *fref = NULL;
    int n = clmd_jv_vec3s(clmd_jv_get(got, "forces"), &f);
    CU_ASSERT_EQUAL_FATAL(n, 21536);
    CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(full, "forces"), &fref), n);
    double rms = clmd_force_rms_rel(f, fref, n);
    printf("\n    forces rms rel %.2e", rms);
    ASSERT_BELOW(rms, 5e-4, "18protein total forces vs OpenMM (RMS relative), PME tolerance 5e-4");
    free(f);
    free(fref);
    clmd_jv_free(got);
}

int main(int argc, char **argv)
{
    refs = clmd_jv_load(clmd_test_source("tests/refs/cmap_refs.json"));
    if (!refs) return 2;
    const clmd_test tests[] = {
        {"tables reproduce the grid, are C1 across cells, slopes are the periodic spline's", tables_interpolate_the_grid_continuously_with_spline_slopes},
        {"18protein: reference CMAP energy and forces match OpenMM", protein18_reference_matches_openmm},
        {"18protein: OpenCL CMAP matches OpenMM and the reference", protein18_opencl_matches_openmm_and_reference},
        {"terms split across rectangular and triclinic boxes match OpenMM", molecules_split_across_rectangular_and_triclinic_boxes},
        {"sweep over every map (seams, nodes, random): reference and OpenCL match OpenMM", sweep_over_every_map_matches_openmm},
        {"repeated OpenCL evaluations are bitwise identical", repeated_opencl_evaluations_are_bitwise_identical},
        {"reference forces are minus the gradient (central differences)", reference_forces_are_minus_the_energy_gradient},
        {"term exists only with CMAP terms and describes itself", term_exists_only_with_cmap_and_describes_itself},
        {"validation rejects bad CMAP indices and maps", validation_rejects_bad_cmap_indices_and_maps},
        {"18protein PME (all terms) through clmd eval matches OpenMM", protein18_pme_eval_matches_openmm_with_every_term},
        {NULL, NULL}};
    int rc = clmd_test_main("cmap", tests, argc, argv);
    clmd_jv_free(refs);
    return rc;
}
