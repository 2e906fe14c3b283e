/* Suite: batched replicas. K copies of a system in one engine (system/replicate.c: one set of
 * device buffers, one launch per kernel) must behave as K engines of one system each: every
 * copy's energies equal the one-system engine's, its forces bit for bit, and a copy given the
 * bath (temperature, noise seed) of a one-system engine follows that engine's trajectory bit for
 * bit (the same forces, the same noise numbers, the same constraint iterations). Checked on
 * alanine dipeptide in OBC2 with hydrogen bonds constrained (no cutoff: the lists never age)
 * and on a rigid-water box with a reaction-field cutoff (there the batch rebuilds its lists
 * together, so trajectories agree until the first rebuild; the energies at the start exactly). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine.h"
#include "md/engine_impl.h"
#include "ocl/ocl.h"
#include "state/state.h"
#include "system/amber.h"
#include "system/builtin.h"
#include "system/constrain.h"
#include "system/forcefield.h"
#include "system/system.h"
#include "testutil.h"

enum { K = 3 };
static const double temps[K] = {300, 340, 385};

static clmd_engine *engine(const clmd_system *s, const clmd_ffopts *fo, double T,
                           unsigned long seed, clmd_err *err)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "auto");
    eo.temperature_K = T;
    eo.seed = seed;
    eo.dt_ps = 0.002;
    clmd_engine *e = NULL;
    if (clmd_engine_create(s, fo, &eo, NULL, &e, err)) return NULL;
    return e;
}

/* Single engines per copy vs one batched engine: energies and forces at the start, then
 * `steps` Langevin steps with each copy's own bath, positions compared (bitwise when exact). */
static void compare(clmd_system *base, const clmd_ffopts *fo, int steps, int exact)
{
    clmd_err err = {0};
    const int n = base->n, stride = (n + 63) / 64 * 64;
    clmd_system *big = NULL;
    CU_ASSERT_FATAL(clmd_system_replicate(base, K, stride, &big, &err) == CLMD_OK);
    CU_ASSERT_EQUAL(big->n, K * stride);
    CU_ASSERT_EQUAL(clmd_system_dof(big, 1), K * clmd_system_dof(base, 1));
    clmd_engine *one[K] = {NULL}, *batch = engine(big, fo, temps[0], 1, &err);
    if (!batch && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&big);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(batch != NULL);
    CU_ASSERT_EQUAL(clmd_engine_segments(batch), K);
    /* GPU kernels without GB read tiles, the batch's joined from its copies' */
    if (!batch->reference)
        CU_ASSERT_EQUAL(batch->dev.nl_tiles, clmd_ocl_is_gpu(batch->dev.ocl) && fo->gb_model == CLMD_GB_NONE);
    /* on GPUs a one-system engine of at most 6 clusters runs GB as one fused kernel, the batch as
     * three: the same physics, other float sums, so the copies agree to float precision there */
    if (exact && fo->gb_model != CLMD_GB_NONE && n <= 48 && !batch->reference &&
        clmd_ocl_is_gpu(batch->dev.ocl)) {
        printf("\n  GPU: the one-system engines use the fused GB kernel; compared to float precision");
        exact = 0;
    }
    for (int g = 0; g < K; g++) {
        one[g] = engine(base, fo, temps[g], 100 + g, &err);
        CU_ASSERT_FATAL(one[g] != NULL);
        clmd_engine_set_segment_bath(batch, g, temps[g], 100 + g);
    }
    /* the start: energies per copy, forces per copy */
    double *fb = clmd_calloc(3 * (size_t)big->n, sizeof *fb), *f1 = clmd_calloc(3 * (size_t)n, sizeof *f1);
    double eb[CLMD_E_NCOMP], e1[CLMD_E_NCOMP];
    CU_ASSERT_FATAL(clmd_engine_evaluate(batch, eb, fb, &err) == CLMD_OK);
    for (int g = 0; g < K; g++) {
        CU_ASSERT_FATAL(clmd_engine_evaluate(one[g], e1, f1, &err) == CLMD_OK);
        double cb[CLMD_E_NCOMP], pb, kb, p1, k1;
        clmd_engine_segment_energies(batch, g, cb, &pb, &kb);
        clmd_engine_energies(one[g], NULL, &p1, &k1);
        for (int c = 0; c < CLMD_E_NCOMP; c++)
            ASSERT_REL(cb[c], e1[c], exact ? 0 : 1e-6, 1e-300, clmd_ecomp_name[c],
                       "fixed-point sums of the same terms are exact");
        ASSERT_REL(pb, p1, exact ? 0 : 1e-6, 1e-300, "potential", "sum of equal components");
        if (exact) CU_ASSERT(memcmp(fb + 3 * (size_t)g * stride, f1, sizeof(double) * 3 * (size_t)n) == 0);
        ASSERT_BELOW(clmd_force_rms_rel(fb + 3 * (size_t)g * stride, f1, n), exact ? 1e-300 : 1e-6,
                     "relative rms force difference");
        /* ghosts feel nothing */
        for (int i = n; i < stride; i++)
            CU_ASSERT(fb[3 * ((size_t)g * stride + i)] == 0);
    }
    /* the copies' sums are the totals */
    double tot = 0, pb;
    for (int g = 0; g < K; g++) {
        clmd_engine_segment_energies(batch, g, NULL, &pb, NULL);
        tot += pb;
    }
    double pall;
    clmd_engine_energies(batch, NULL, &pall, NULL);
    ASSERT_REL(pall, tot, 1e-12, 1, "total potential", "sum over the copies");
    /* a trajectory per copy */
    CU_ASSERT_FATAL(clmd_engine_step(batch, steps, 1, &err) == CLMD_OK);
    double *xb = clmd_calloc(3 * (size_t)big->n, sizeof *xb), *x1 = clmd_calloc(3 * (size_t)n, sizeof *x1);
    CU_ASSERT_FATAL(clmd_engine_get_positions(batch, xb, &err) == CLMD_OK);
    for (int g = 0; g < K; g++) {
        CU_ASSERT_FATAL(clmd_engine_step(one[g], steps, 1, &err) == CLMD_OK);
        CU_ASSERT_FATAL(clmd_engine_get_positions(one[g], x1, &err) == CLMD_OK);
        double worst = 0;
        for (int k = 0; k < 3 * n; k++) worst = fmax(worst, fabs(xb[3 * (size_t)g * stride + k] - x1[k]));
        if (exact) {
            CU_ASSERT(worst == 0);
            if (worst != 0) fprintf(stderr, "copy %d: positions differ by %g nm after %d steps\n", g, worst, steps);
        } else {
            ASSERT_BELOW(worst, 1e-3, "position difference (nm)");
        }
        double p1, k1, kb;
        clmd_engine_energies(one[g], NULL, &p1, &k1);
        clmd_engine_segment_energies(batch, g, NULL, &pb, &kb);
        if (exact) {
            ASSERT_REL(pb, p1, 0, 1e-300, "potential after the steps", "same positions, same sums");
            ASSERT_REL(kb, k1, 0, 1e-300, "kinetic after the steps", "work-groups within one copy");
            ASSERT_REL(clmd_engine_segment_temperature(batch, kb), clmd_engine_temperature(one[g], k1),
                       1e-14, 1, "temperature", "dof per copy");
        }
    }
    for (int g = 0; g < K; g++) clmd_engine_destroy(&one[g]);
    clmd_engine_destroy(&batch);
    clmd_free(fb);
    clmd_free(f1);
    clmd_free(xb);
    clmd_free(x1);
    clmd_system_destroy(&big);
}

static void test_ala2_obc2_bitwise(void)
{
    const char *top = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
    if (!top || !crd) CLMD_SKIP_DATA("alanine-dipeptide-implicit prmtop/inpcrd");
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_FATAL(clmd_amber_load(top, crd, &s, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_constrain(s, CLMD_RIGID_HBONDS, 1, NULL, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_NOCUTOFF;
    fo.gb_model = CLMD_GB_OBC2;
    fo.surface_area = 1;
    compare(s, &fo, 300, 1);
    clmd_system_destroy(&s);
}

static void test_protein_obc2_bitwise(void)
{
    const char *top = clmd_test_data("systems/lcpo_test.prmtop");
    const char *crd = clmd_test_data("systems/lcpo_test.inpcrd");
    if (!top || !crd) CLMD_SKIP_DATA("lcpo_test prmtop/inpcrd");
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_FATAL(clmd_amber_load(top, crd, &s, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_constrain(s, CLMD_RIGID_HBONDS, 1, NULL, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_NOCUTOFF;
    fo.gb_model = CLMD_GB_OBC2;
    compare(s, &fo, 20, 1);
    clmd_system_destroy(&s);
}

static void test_water_rf(void)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    const char *path = clmd_test_source("forcefields/tip3p.yaml");
    CU_ASSERT_FATAL(clmd_ff_load(path, &ff, &err) == CLMD_OK);
    clmd_system *s = NULL;
    CU_ASSERT_FATAL(clmd_builtin_water_box(ff, 2.0, &s, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_constrain(s, CLMD_RIGID_NONE, 1, ff, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_REACTION_FIELD;
    fo.cutoff_nm = 0.9;
    fo.skin_auto = 0;
    fo.skin_nm = 0.3;
    /* few enough steps and a buffer wide enough that no list is rebuilt: then the batch repeats
     * the single engines bit for bit */
    compare(s, &fo, 10, 1);
    /* over longer runs the batch rebuilds every copy's list when one copy needs it (the single
     * engines each on their own), which changes float summation orders, not the physics */
    fo.skin_nm = 0.1;
    compare(s, &fo, 100, 0);
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
}

/* PME: a grid per copy, the FFTs of all copies batched (FFTW's many-plan on the host, the
 * device FFT's second launch dimension), each copy's energy its own. */
static void water_pme(const char *fft, int exact)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    CU_ASSERT_FATAL(clmd_ff_load(clmd_test_source("forcefields/tip3p.yaml"), &ff, &err) == CLMD_OK);
    clmd_system *s = NULL;
    CU_ASSERT_FATAL(clmd_builtin_water_box(ff, 2.0, &s, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_constrain(s, CLMD_RIGID_NONE, 1, ff, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_PME;
    fo.cutoff_nm = 0.9;
    fo.skin_auto = 0;
    fo.skin_nm = 0.3;
    setenv("CLMD_PME_FFT", fft, 1);
    compare(s, &fo, 10, exact);
    unsetenv("CLMD_PME_FFT");
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
}

/* FFTW measures its plans: the batched plan may pick other codelets than the one-grid plan on
 * another machine, so the host path is held to float agreement, the device path to the bit */
static void test_water_pme_host_fft(void) { water_pme("host", 0); }
/* the GPU kernels (here on the CPU device) on tiles: each copy's tiles are those of its
 * one-system engine, the forces on j added in fixed point, so the copies repeat the single
 * engines bit for bit */
static void test_water_pme_gpu_tiles(void)
{
    setenv("CLMD_GPU_KERNELS", "1", 1);
    water_pme("device", 1);
    /* in pieces of at most 4 tiles (CLMD_TILE_SPLIT): each copy's dispersion constant once */
    setenv("CLMD_TILE_SPLIT", "4", 1);
    water_pme("device", 1);
    unsetenv("CLMD_TILE_SPLIT");
    unsetenv("CLMD_GPU_KERNELS");
}
static void test_water_pme_device_fft(void) { water_pme("device", 1); }

static void test_refusals(void)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    CU_ASSERT_FATAL(clmd_ff_load(clmd_test_source("forcefields/tip3p.yaml"), &ff, &err) == CLMD_OK);
    clmd_system *s = NULL, *big = NULL;
    CU_ASSERT_FATAL(clmd_builtin_water_box(ff, 2.0, &s, &err) == CLMD_OK);
    CU_ASSERT(clmd_system_replicate(s, 2, 63, &big, &err) != CLMD_OK); /* not a multiple of 64 */
    CU_ASSERT_FATAL(clmd_system_replicate(s, 2, (s->n + 63) / 64 * 64, &big, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_CUTOFF;
    fo.cutoff_nm = 0.9;
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "reference");
    clmd_engine *e = NULL;
    CU_ASSERT(clmd_engine_create(big, &fo, &eo, NULL, &e, &err) == CLMD_EINPUT);
    CU_ASSERT(strstr(err.msg, "batched") != NULL);
    clmd_system_destroy(&big);
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
}

/* A clash in one copy of a batch: the overflow names the copy and the particles as numbered in
 * the input (not the batch's buffer indices), and a partner in the same copy. */
static void test_overflow_names_copy_and_input_particles(void)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    CU_ASSERT_FATAL(clmd_ff_load(clmd_test_source("forcefields/tip3p.yaml"), &ff, &err) == CLMD_OK);
    clmd_system *s = NULL, *big = NULL;
    CU_ASSERT_FATAL(clmd_builtin_water_box(ff, 2.0, &s, &err) == CLMD_OK);
    const int n = s->n, stride = (n + 63) / 64 * 64;
    CU_ASSERT_FATAL(clmd_system_replicate(s, 2, stride, &big, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_CUTOFF;
    fo.cutoff_nm = 0.9;
    clmd_engine *e = engine(big, &fo, 300, 1, &err);
    if (!e && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&big);
        clmd_system_destroy(&s);
        clmd_ff_destroy(&ff);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(e != NULL);
    double *x = clmd_calloc(3 * (size_t)big->n, sizeof *x);
    CU_ASSERT_FATAL(clmd_engine_get_positions(e, x, &err) == CLMD_OK);
    /* copy 1: oxygen of water 5 (particle 13) 0.01 nm from the oxygen of water 2 (particle 4) */
    const int a = stride + 12, b = stride + 3;
    x[3 * a] = x[3 * b] + 0.01;
    x[3 * a + 1] = x[3 * b + 1];
    x[3 * a + 2] = x[3 * b + 2];
    CU_ASSERT_FATAL(clmd_engine_set_positions(e, x, &err) == CLMD_OK);
    int rc = clmd_engine_evaluate(e, NULL, NULL, &err);
    CU_ASSERT_EQUAL(rc, CLMD_ERUNTIME);
    const int ok = (strstr(err.msg, "particles 13 (") && strstr(err.msg, "and 4 (")) ||
                   (strstr(err.msg, "particles 4 (") && strstr(err.msg, "and 13 ("));
    printf("\n  %s", err.msg);
    CU_ASSERT(ok);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of replica copy 1 are 0.01 nm apart"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "lj"));
    clmd_free(x);
    clmd_engine_destroy(&e);
    clmd_system_destroy(&big);
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
}

/* The device byte count (probe counter device_bytes_peak): an engine's buffers raise it, and
 * destroying the engine gives back exactly what it took. */
static void test_device_bytes_follow_buffers(void)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    CU_ASSERT_FATAL(clmd_ff_load(clmd_test_source("forcefields/tip3p.yaml"), &ff, &err) == CLMD_OK);
    clmd_system *s = NULL;
    CU_ASSERT_FATAL(clmd_builtin_water_box(ff, 2.0, &s, &err) == CLMD_OK);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.list_tolerance = 0; /* exact lists: drift-sized ones follow the batch's hottest copy */
    fo.method = CLMD_NB_PME;
    fo.cutoff_nm = 0.9;
    const long long live0 = clmd_ocl_device_bytes_live();
    clmd_engine *e = engine(s, &fo, 300, 1, &err);
    if (!e && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        clmd_ff_destroy(&ff);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(e != NULL);
    CU_ASSERT_FATAL(clmd_engine_evaluate(e, NULL, NULL, &err) == CLMD_OK);
    const long long used = clmd_ocl_device_bytes_live() - live0;
    printf("\n  %d particles: %lld device bytes (%.0f per particle), peak %lld", s->n, used,
           (double)used / s->n, clmd_ocl_device_bytes_peak());
    /* at least positions, velocities and forces of every particle */
    CU_ASSERT(used >= 3 * 16 * (long long)s->n);
    CU_ASSERT(clmd_ocl_device_bytes_peak() >= clmd_ocl_device_bytes_live());
    clmd_engine_destroy(&e);
    CU_ASSERT_EQUAL(clmd_ocl_device_bytes_live(), live0);
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {{"ala2_obc2_bitwise", test_ala2_obc2_bitwise},
                                      {"protein_obc2_bitwise", test_protein_obc2_bitwise},
                                      {"water_rf", test_water_rf},
                                      {"water_pme_host_fft", test_water_pme_host_fft},
                                      {"water_pme_device_fft", test_water_pme_device_fft},
                                      {"water_pme_gpu_kernels_tiles", test_water_pme_gpu_tiles},
                                      {"refusals", test_refusals},
                                      {"device bytes follow the buffers", test_device_bytes_follow_buffers},
                                      {"overflow names the copy and the input's particles",
                                       test_overflow_names_copy_and_input_particles},
                                      {NULL, NULL}};
    return clmd_test_main("test_batch", tests, argc, argv);
}
