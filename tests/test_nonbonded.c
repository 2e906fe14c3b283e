/* Suite: nonbonded term. The OpenCL kernels must reproduce the double-precision reference, the
 * reference must be the gradient of its own energy, and repeated evaluations must be bitwise
 * identical. OpenMM comparisons on real systems live in test_openmm_refs.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine.h"
#include "system/system.h"
#include "testutil.h"

static double urand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (*s >> 8) / 16777216.0;
}

/* fcc argon-like lattice, jittered; charged variant gets +-q alternating (neutral) and a few
 * exclusions and 1-4 style exceptions so every code path runs. */
static clmd_system *make_system(int cells, int charged, int triclinic)
{
    clmd_system *s = clmd_system_create();
    int n = 4 * cells * cells * cells;
    clmd_system_alloc_particles(s, n);
    double sigma = 0.3405, a = cbrt(4 / 0.8442) * sigma, L = a * cells;
    if (triclinic) clmd_system_set_box_angles(s, L, L, L, 80, 95, 85);
    else clmd_system_set_box(s, L, L, L);
    const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    unsigned seed = 42;
    int k = 0;
    for (int i = 0; i < cells; i++)
        for (int j = 0; j < cells; j++)
            for (int l = 0; l < cells; l++)
                for (int b = 0; b < 4; b++, k++) {
                    double fr[3] = {(i + basis[b][0]) / cells, (j + basis[b][1]) / cells,
                                    (l + basis[b][2]) / cells};
                    for (int d = 0; d < 3; d++)
                        s->x[3 * k + d] = fr[0] * s->box[0][d] + fr[1] * s->box[1][d] +
                                          fr[2] * s->box[2][d] + 0.02 * (urand(&seed) - 0.5);
                    s->mass[k] = 39.948;
                    s->sigma[k] = sigma * (charged ? 0.9 + 0.2 * urand(&seed) : 1);
                    s->epsilon[k] = 0.996 * (charged ? 0.5 + urand(&seed) : 1);
                    s->charge[k] = charged ? (k % 2 ? 0.4 : -0.4) : 0;
                }
    if (charged) {
        int np = n / 8;
        int (*ex)[2] = clmd_calloc(np, sizeof *ex);
        for (int p = 0; p < np; p++) {
            ex[p][0] = 8 * p;
            ex[p][1] = 8 * p + 1;
            clmd_system_add_pair(s, 8 * p, 8 * p + 1, 0.5 * s->charge[8 * p] * s->charge[8 * p + 1],
                                 0.3, 0.5);
        }
        clmd_system_set_exclusions(s, np, (const int(*)[2])ex);
        clmd_free(ex);
    }
    snprintf(s->source, sizeof s->source, "test lattice");
    return s;
}

static void eval(const clmd_system *s, const clmd_ffopts *o, const char *device, double *e,
                 double *f)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    clmd_engine *eng = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, o, &eo, NULL, &eng, &err);
    if (rc) printf("\n  engine: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    rc = clmd_engine_evaluate(eng, e, f, &err);
    if (rc) printf("\n  evaluate: %s\n", err.msg);
    CU_ASSERT_EQUAL(rc, CLMD_OK);
    clmd_engine_destroy(&eng);
}

static void compare_device_with_reference(int charged, int triclinic, clmd_nbmethod method)
{
    clmd_system *s = make_system(6, charged, triclinic);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = method;
    o.cutoff_nm = 0.85;
    if (charged) o.switch_nm = 0.75;
    double ed[CLMD_E_NCOMP], er[CLMD_E_NCOMP];
    double *fd = clmd_calloc(3 * s->n, sizeof(double)), *fr = clmd_calloc(3 * s->n, sizeof(double));
    eval(s, &o, "reference", er, fr);
    eval(s, &o, "auto", ed, fd);
    double err = clmd_force_rms_rel(fd, fr, s->n);
    ASSERT_BELOW(err, 1e-5, "OpenCL vs reference force RMS relative error");
    double scale = fabs(er[CLMD_E_LJ]) + fabs(er[CLMD_E_COULOMB]);
    ASSERT_REL(ed[CLMD_E_LJ], er[CLMD_E_LJ], 1e-5, scale, "LJ energy", "single precision sums");
    ASSERT_REL(ed[CLMD_E_COULOMB], er[CLMD_E_COULOMB], 1e-5, scale, "Coulomb energy", "single precision sums");
    ASSERT_REL(ed[CLMD_E_DISP], er[CLMD_E_DISP], 1e-9, 1, "dispersion correction", "a constant handed over in 2^-32 fixed point");
    clmd_free(fd);
    clmd_free(fr);
    clmd_system_destroy(&s);
}

static void lj_opencl_equals_reference(void) { compare_device_with_reference(0, 0, CLMD_NB_CUTOFF); }
static void lj_rf_triclinic_opencl_equals_reference(void)
{
    compare_device_with_reference(1, 1, CLMD_NB_REACTION_FIELD);
}
static void ewald_real_space_opencl_equals_reference(void)
{
    compare_device_with_reference(1, 0, CLMD_NB_PME);
}
static void nocutoff_opencl_equals_reference(void)
{
    compare_device_with_reference(1, 0, CLMD_NB_NOCUTOFF);
}

/* the work-group kernels written for GPUs, run here on the CPU device */
static void gpu_style_kernels_equal_reference(void)
{
    setenv("CLMD_GPU_KERNELS", "1", 1);
    compare_device_with_reference(1, 1, CLMD_NB_PME);
    compare_device_with_reference(0, 0, CLMD_NB_CUTOFF);
    unsetenv("CLMD_GPU_KERNELS");
}

/* central differences of the reference energy along random directions of single atoms */
static void check_fd(clmd_nbmethod method, int charged)
{
    clmd_system *s = make_system(4, charged, 0);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = method;
    o.cutoff_nm = 0.85;
    o.switch_nm = 0.7;
    o.dispersion_correction = 0;
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * s->n, sizeof(double));
    eval(s, &o, "reference", e, f);
    const double h = 1e-6;
    double worst = 0, fmax = 0;
    for (int i = 0; i < 3 * s->n; i++) fmax = fmax > fabs(f[i]) ? fmax : fabs(f[i]);
    for (int t = 0; t < 12; t++) {
        int c = (t * 37) % (3 * s->n);
        double x0 = s->x[c], ep[CLMD_E_NCOMP], em[CLMD_E_NCOMP], sp = 0, sm = 0;
        s->x[c] = x0 + h;
        eval(s, &o, "reference", ep, NULL);
        s->x[c] = x0 - h;
        eval(s, &o, "reference", em, NULL);
        s->x[c] = x0;
        for (int k = 0; k < CLMD_E_NCOMP; k++) {
            sp += ep[k];
            sm += em[k];
        }
        double fd = -(sp - sm) / (2 * h);
        worst = fmax > 0 && fabs(fd - f[c]) / fmax > worst ? fabs(fd - f[c]) / fmax : worst;
    }
    /* h = 1e-6 nm: truncation error ~h^2 f''' and rounding ~1e-16 E/h, both << 1e-6 of max |F| */
    ASSERT_BELOW(worst, 1e-6, "finite-difference error relative to max |F|");
    clmd_free(f);
    clmd_system_destroy(&s);
}

static void lj_switch_reference_is_gradient(void) { check_fd(CLMD_NB_CUTOFF, 0); }
static void coulomb_rf_reference_is_gradient(void) { check_fd(CLMD_NB_REACTION_FIELD, 1); }
static void ewald_real_reference_is_gradient(void) { check_fd(CLMD_NB_PME, 1); }

static void repeated_evaluations_are_bitwise_identical(void)
{
    clmd_system *s = make_system(6, 1, 0);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_PME;
    o.cutoff_nm = 0.85;
    double e1[CLMD_E_NCOMP], e2[CLMD_E_NCOMP];
    double *f1 = clmd_calloc(3 * s->n, sizeof(double)), *f2 = clmd_calloc(3 * s->n, sizeof(double));
    eval(s, &o, "auto", e1, f1);
    eval(s, &o, "auto", e2, f2);
    CU_ASSERT_EQUAL(memcmp(f1, f2, sizeof(double) * 3 * s->n), 0);
    CU_ASSERT_EQUAL(memcmp(e1, e2, sizeof e1), 0);
    clmd_free(f1);
    clmd_free(f2);
    clmd_system_destroy(&s);
}

/* Pairs at the cutoff across the box edge, each within a few 1e-7 nm of it (isolated pairs on
 * a grid, the partner through the periodic boundary in z): every kernel must see a pair from
 * both sides alike, so the force on the two particles cancels. Computing the partner's
 * shifted position first (x_j + box, rounded at ulp(3.7 nm) ~ 2.4e-7 nm) let one side keep
 * the pair and the other drop it in the kernels that read each pair twice (entries). */
/* mode 0: the device's kernels; 1: the GPU-style kernels (tiles); 2: the GPU-style entries */
static void pairs_at_cutoff_across_the_edge(int mode)
{
    /* each pair's column holds 14 particles without interactions between the two, so that
     * they fall in different clusters (one cluster would ask for the minimum image pair by
     * pair, which is antisymmetric anyway) */
    const int g = 12, npairs = g * g, per = 16;
    const double L = 3.1855, rc = 0.9, spacing = 2.2;
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, per * npairs);
    clmd_system_set_box(s, g * spacing, g * spacing, L);
    unsigned seed = 7;
    for (int p = 0; p < npairs; p++) {
        const double x0 = (p % g + 0.3) * spacing, y0 = (p / g + 0.3) * spacing;
        /* a random direction mostly along z, the distance 0 to 4e-7 nm inside the cutoff */
        const double dx = 0.3 * (urand(&seed) - 0.5), dy = 0.3 * (urand(&seed) - 0.5);
        const double r = rc - 4e-7 * urand(&seed), dz = sqrt(r * r - dx * dx - dy * dy);
        const double za = L - 0.2 - 0.3 * urand(&seed);
        double *a = s->x + 3 * per * p, *b = a + 3;
        a[0] = x0, a[1] = y0, a[2] = za;
        b[0] = x0 + dx, b[1] = y0 + dy, b[2] = za + dz - L; /* wrapped: the partner is in z's image */
        for (int k = 0; k < per; k++) {
            const int i = per * p + k;
            if (k >= 2) {
                s->x[3 * i] = x0 + 0.05 * (k % 3), s->x[3 * i + 1] = y0 + 0.05 * (k % 2);
                s->x[3 * i + 2] = b[2] + 0.15 + (za - b[2] - 0.3) * (k - 2) / (per - 3);
            }
            s->mass[i] = 39.948;
            s->sigma[i] = 0.3405;
            s->epsilon[i] = k < 2 ? 0.996 : 0;
        }
    }
    snprintf(s->source, sizeof s->source, "pairs at the cutoff");
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_CUTOFF;
    o.cutoff_nm = rc;
    o.dispersion_correction = 0;
    if (mode) setenv("CLMD_GPU_KERNELS", "1", 1);
    if (mode == 2) setenv("CLMD_LIST_TILES", "0", 1);
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * (size_t)s->n, sizeof(double));
    eval(s, &o, "auto", e, f);
    unsetenv("CLMD_GPU_KERNELS");
    unsetenv("CLMD_LIST_TILES");
    /* the LJ force at the cutoff is ~0.08 kJ/mol/nm: a one-sided pair shows as that */
    double worst = 0;
    int kept = 0;
    for (int p = 0; p < npairs; p++) {
        const double *fa = f + 3 * per * p, *fb = fa + 3;
        for (int d = 0; d < 3; d++) worst = fmax(worst, fabs(fa[d] + fb[d]));
        kept += fabs(fa[2]) > 1e-3;
    }
    printf("\n  %s: %d of %d pairs within 4e-7 nm of the cutoff kept; largest |F_a + F_b| %.3g",
           mode == 0 ? "device kernels" : mode == 1 ? "GPU-style kernels, tiles" : "GPU-style kernels, entries",
           kept, npairs, worst);
    ASSERT_BELOW(worst, 1e-5, "|F_a + F_b| of a pair at the cutoff (kJ/mol/nm)");
    clmd_free(f);
    clmd_system_destroy(&s);
}

static void pairs_at_cutoff_are_newtonian(void)
{
    for (int mode = 0; mode < 3; mode++) pairs_at_cutoff_across_the_edge(mode);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"LJ cutoff: OpenCL equals reference", lj_opencl_equals_reference},
        {"LJ switch + reaction field, triclinic: OpenCL equals reference", lj_rf_triclinic_opencl_equals_reference},
        {"Ewald real space + exclusion corrections: OpenCL equals reference", ewald_real_space_opencl_equals_reference},
        {"no cutoff: OpenCL equals reference", nocutoff_opencl_equals_reference},
        {"GPU-style kernels (run on this device) equal reference", gpu_style_kernels_equal_reference},
        {"LJ with switching: reference force is the energy gradient", lj_switch_reference_is_gradient},
        {"reaction field: reference force is the energy gradient", coulomb_rf_reference_is_gradient},
        {"Ewald real space: reference force is the energy gradient", ewald_real_reference_is_gradient},
        {"repeated OpenCL evaluations are bitwise identical", repeated_evaluations_are_bitwise_identical},
        {"pairs at the cutoff across the box edge: forces cancel (both sides agree)",
         pairs_at_cutoff_are_newtonian},
        {NULL, NULL}};
    return clmd_test_main("nonbonded", tests, argc, argv);
}
