/* Suite: pair lists sized from the energy drift (nlist/verletbuf.h, the engine's
 * neighbor_tolerance). The estimate's properties; its model against real dynamics (the pairs a
 * list of a given buffer misses, counted by brute force over windows of a Langevin run, and the
 * energy they carry, both within the model's prediction and not far below it); the engine's
 * scheduled lists on the GPU kernels (lagged check, overlapped builds, device prunes): forces
 * close to a fresh list's and no early rebuild; NVE energy drift within the tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/plan.h"
#include "md/engine.h"
#include "md/engine_impl.h"
#include "nlist/pairlist.h"
#include "nlist/verletbuf.h"
#include "probe/probe.h"
#include "run/setup.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"
#include "testutil.h"

static void pme_opts(clmd_ffopts *fo)
{
    clmd_ffopts_defaults(fo);
    fo->method = CLMD_NB_PME;
    fo->cutoff_nm = 0.9;
}

/* Langevin at 300 K, friction 1/ps, 2 fs, on the default OpenCL device. */
static void langevin_opts(clmd_engine_opts *eo)
{
    clmd_engine_opts_defaults(eo);
    snprintf(eo->device, sizeof eo->device, "auto");
    eo->temperature_K = 300;
    eo->friction_per_ps = 1;
    eo->dt_ps = 0.002;
}

static const double kT300 = CLMD_BOLTZMANN * 300;

static void test_estimate(void)
{
    clmd_system *s = clmd_test_ala2_water();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    pme_opts(&fo);
    const clmd_ffplan *plan = clmd_test_plan(s, &fo);
    CU_ASSERT_FATAL(plan != NULL);
    clmd_verletbuf *vb = NULL;
    clmd_err err = {0};
    CU_ASSERT_FATAL(clmd_verletbuf_create(s, plan, (const double(*)[3])s->box, &vb, &err) == CLMD_OK);
    const double rho = clmd_verletbuf_density(vb);
    printf("\n  %d classes, %.1f atoms/nm^3", clmd_verletbuf_classes(vb), rho);
    /* a box filled evenly (this one holds water at 2/3 of the usual density): about N / V */
    const double nv = s->n / clmd_box_volume(s->box);
    CU_ASSERT(rho > 0.95 * nv && rho < 1.3 * nv);
    CU_ASSERT(clmd_verletbuf_classes(vb) > 10);
    /* the drift falls with the buffer */
    double prev = INFINITY;
    for (int k = 0; k <= 30; k++) {
        const double d = clmd_verletbuf_drift(vb, kT300, 0.002, 20, 0.01 * k, 1, 1);
        CU_ASSERT(d < prev || (d == 0 && prev == 0));
        prev = d;
    }
    /* the size is the smallest multiple of 1 pm that meets the tolerance */
    const double tol = 0.005;
    const double s20 = clmd_verletbuf_size(vb, kT300, 0.002, 20, tol, 1, 1);
    CU_ASSERT(clmd_verletbuf_drift(vb, kT300, 0.002, 20, s20, 1, 1) <= tol);
    CU_ASSERT(clmd_verletbuf_drift(vb, kT300, 0.002, 20, s20 - 0.001, 1, 1) > tol);
    /* longer lives, higher temperatures and tighter tolerances need wider buffers */
    const int lives[] = {5, 10, 20, 50, 100};
    double last = -1;
    printf("\n  buffers of 8x8 cluster lists at 300 K, 2 fs, %g kJ/mol/ps per atom:", tol);
    for (int k = 0; k < 5; k++) {
        const double b = clmd_verletbuf_size(vb, kT300, 0.002, lives[k], tol, 8, 8);
        printf(" %d steps %.3f nm;", lives[k], b);
        CU_ASSERT(b > last);
        last = b;
    }
    CU_ASSERT(clmd_verletbuf_size(vb, kT300 * 4 / 3, 0.002, 20, tol, 1, 1) > s20);
    CU_ASSERT(clmd_verletbuf_size(vb, kT300, 0.002, 20, tol / 10, 1, 1) > s20);
    /* a sane scale: GROMACS's water buffers at these settings are 0.03-0.2 nm */
    CU_ASSERT(s20 > 0.02 && s20 < 0.3);
    clmd_verletbuf_destroy(&vb);
    clmd_system_destroy(&s);
}

/* r^2 of the minimum image of i-j at positions x */
static double dist2(const double *x, int i, int j, const double b[3][3])
{
    double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
    clmd_box_min_image(b, d);
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
}

/* the pair potential (LJ, PME real space) relative to its value at the cutoff */
static double pair_v(const clmd_system *s, const clmd_ffplan *p, int i, int j, double r)
{
    const double rc = p->o.cutoff_nm, sg = 0.5 * (s->sigma[i] + s->sigma[j]);
    const double ep = sqrt(s->epsilon[i] * s->epsilon[j]), qq = s->charge[i] * s->charge[j];
    double v[2];
    const double rr[2] = {r, rc};
    for (int k = 0; k < 2; k++) {
        const double x6 = pow(sg / rr[k], 6);
        v[k] = 4 * ep * (x6 * x6 - x6) + CLMD_COULOMB * qq * erfc(p->ewald_alpha * rr[k]) / rr[k];
    }
    return v[0] - v[1];
}

static void test_model_vs_dynamics(void)
{
    clmd_system *s = clmd_test_ala2_water();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    clmd_ffopts fo;
    pme_opts(&fo);
    clmd_engine_opts eo;
    langevin_opts(&eo);
    clmd_engine *e = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, &fo, &eo, NULL, &e, &err);
    if (rc && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(rc == CLMD_OK);
    const int n = s->n;
    double *v = clmd_calloc(3 * (size_t)n, sizeof *v), *x0 = clmd_calloc(3 * (size_t)n, sizeof *x0),
           *x1 = clmd_calloc(3 * (size_t)n, sizeof *x1);
    clmd_draw_velocities(s, 300, 11, 1, v);
    CU_ASSERT_FATAL(clmd_engine_set_velocities(e, v, &err) == CLMD_OK);
    CU_ASSERT_FATAL(clmd_engine_step(e, 200, 0, &err) == CLMD_OK);
    clmd_verletbuf *vb = NULL;
    CU_ASSERT_FATAL(clmd_verletbuf_create(s, &e->plan, (const double(*)[3])s->box, &vb, &err) == CLMD_OK);
    enum { WINDOWS = 6, NB = 4, L = 20 };
    const double bufs[NB] = {0.0, 0.02, 0.04, 0.08};
    double seen[NB] = {0}, energy[NB] = {0};
    const double rcut = fo.cutoff_nm;
    for (int w = 0; w < WINDOWS; w++) {
        /* a list built from x0 is used at L steps, the last at age L - 1 */
        CU_ASSERT_FATAL(clmd_engine_get_positions(e, x0, &err) == CLMD_OK);
        CU_ASSERT_FATAL(clmd_engine_step(e, L - 1, 0, &err) == CLMD_OK);
        CU_ASSERT_FATAL(clmd_engine_get_positions(e, x1, &err) == CLMD_OK);
        const double(*b)[3] = (const double(*)[3])clmd_engine_state(e)->box;
        double ew[NB] = {0};
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                const int lj = s->epsilon[i] != 0 && s->epsilon[j] != 0;
                if (!lj && s->charge[i] * s->charge[j] == 0) continue;
                const double r1 = dist2(x1, i, j, b);
                if (r1 >= rcut * rcut || clmd_system_excluded(s, i, j)) continue;
                const double r0 = sqrt(dist2(x0, i, j, b));
                for (int k = 0; k < NB; k++)
                    if (r0 > rcut + bufs[k]) {
                        seen[k] += 1;
                        ew[k] += pair_v(s, &e->plan, i, j, sqrt(r1));
                    }
            }
        for (int k = 0; k < NB; k++) energy[k] += fabs(ew[k]);
        CU_ASSERT_FATAL(clmd_engine_step(e, 1, 0, &err) == CLMD_OK);
    }
    for (int k = 0; k < NB; k++) {
        const double pred = clmd_verletbuf_missed(vb, kT300, eo.dt_ps, L, bufs[k]);
        const double epred = clmd_verletbuf_drift(vb, kT300, eo.dt_ps, L, bufs[k], 1, 1) * n * L * eo.dt_ps;
        printf("\n  buffer %.2f nm, lists of %d steps: pairs missed %.1f per list (model %.1f), "
               "their energy %.3g kJ/mol (model %.3g)", bufs[k], L, seen[k] / WINDOWS, pred,
               energy[k] / WINDOWS, epred);
        /* the model may only overestimate (ballistic motion, Gaussian tails, no cancellation) */
        CU_ASSERT(seen[k] / WINDOWS <= pred);
        CU_ASSERT(energy[k] / WINDOWS <= epred);
        /* and not by orders of magnitude where there is something to count */
        if (pred > 20) CU_ASSERT(seen[k] / WINDOWS > pred / 30);
    }
    clmd_verletbuf_destroy(&vb);
    clmd_free(v);
    clmd_free(x0);
    clmd_free(x1);
    clmd_engine_destroy(&e);
    clmd_system_destroy(&s);
}

/* The engine's drift-sized lists on the GPU kernels with the lagged check, overlapped builds
 * and device prunes: lists on schedule, none early, forces near a fresh list's. */
static void test_engine_schedule(void)
{
    clmd_system *s = clmd_test_ala2_water();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    setenv("CLMD_LIST_LAG", "2", 1);
    setenv("CLMD_LIST_OVERLAP", "6", 1);
    setenv("CLMD_GPU_KERNELS", "1", 1);
    clmd_ffopts fo;
    pme_opts(&fo);
    fo.list_tolerance = 0.005;
    fo.list_steps = 40;
    clmd_engine_opts eo;
    langevin_opts(&eo);
    clmd_probe *probe = clmd_probe_create(1);
    clmd_engine *e = NULL, *fresh = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, &fo, &eo, probe, &e, &err);
    unsetenv("CLMD_LIST_LAG");
    unsetenv("CLMD_LIST_OVERLAP");
    unsetenv("CLMD_GPU_KERNELS");
    clmd_ffopts exact;
    pme_opts(&exact);
    if (!rc) rc = clmd_engine_create(s, &exact, &eo, NULL, &fresh, &err);
    if (rc && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        clmd_probe_destroy(&probe);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(rc == CLMD_OK);
    CU_ASSERT_FATAL(e->drift);
    CU_ASSERT_EQUAL(e->list_life, 40);
    CU_ASSERT(e->prune_steps > 0 && e->prune_steps < 40);
    CU_ASSERT(e->dplan.skin_in < e->dplan.skin);
    printf("\n  outer buffer %.3f nm, inner %.3f nm every %d steps", e->dplan.skin, e->dplan.skin_in,
           e->prune_steps);
    const int n = s->n;
    double *v = clmd_calloc(3 * (size_t)n, sizeof *v), *x = clmd_calloc(3 * (size_t)n, sizeof *x);
    double *f = clmd_calloc(3 * (size_t)n, sizeof *f), *g = clmd_calloc(3 * (size_t)n, sizeof *g);
    clmd_draw_velocities(s, 300, 5, 1, v);
    CU_ASSERT_FATAL(clmd_engine_set_velocities(e, v, &err) == CLMD_OK);
    double worst = 0, sum = 0, du = 0;
    const int samples = 60, every = 7;
    for (int k = 0; k < samples; k++) {
        double ue[CLMD_E_NCOMP], uf[CLMD_E_NCOMP];
        if (clmd_engine_step(e, every, 0, &err) || clmd_engine_evaluate(e, ue, f, &err) ||
            clmd_engine_get_positions(e, x, &err) || clmd_engine_set_positions(fresh, x, &err) ||
            clmd_engine_rebuild_list(fresh, &err) || clmd_engine_evaluate(fresh, uf, g, &err)) {
            printf("\n  step %ld: %s", clmd_engine_state(e)->step, err.msg);
            CU_FAIL_FATAL("a step, an evaluation or a list build failed");
        }
        const double r = clmd_force_rms_rel(f, g, n);
        double d = 0;
        for (int c = 0; c < CLMD_E_NCOMP; c++) d += ue[c] - uf[c];
        du += fabs(d);
        worst = fmax(worst, r);
        sum += r;
    }
    const long steps = (long)samples * every, builds = clmd_engine_list_builds(e);
    printf("\n  %ld steps: %ld lists (%ld overlapped, %ld early), %ld prunes; forces vs a fresh "
           "list: %.3g rms relative at worst, %.3g on average; energy %.3g kJ/mol on average",
           steps, builds,
           clmd_probe_counter(probe, "nlist_overlapped_builds"),
           clmd_probe_counter(probe, "nlist_early_rebuilds"), clmd_probe_counter(probe, "nlist_prunes"),
           worst, sum / samples, du / samples);
    /* a list every life - overlap steps (the overlap as asked), plus the first */
    CU_ASSERT_EQUAL(e->overlap, 6);
    CU_ASSERT(builds >= steps / 34 && builds <= steps / 34 + 2);
    /* the energy the lists miss, on average: what the estimate bounds (tolerance times a list's
     * life, per atom) */
    ASSERT_BELOW(du / samples / n, fo.list_tolerance * e->list_life * eo.dt_ps,
                 "energy of the pairs missed, per atom (kJ/mol)");
    CU_ASSERT_EQUAL(clmd_probe_counter(probe, "nlist_early_rebuilds"), 0);
    CU_ASSERT(clmd_probe_counter(probe, "nlist_prunes") >= steps / e->prune_steps - 2);
    /* a statistical list misses the rare pair: far below a force field's own error */
    ASSERT_BELOW(worst, 1e-3, "forces: drift-sized list vs a fresh list (rms relative)");
    clmd_free(v);
    clmd_free(x);
    clmd_free(f);
    clmd_free(g);
    clmd_engine_destroy(&e);
    clmd_engine_destroy(&fresh);
    clmd_probe_destroy(&probe);
    clmd_system_destroy(&s);
}

/* Total energy's slope (kJ/mol/ps) over an NVE run of `steps` from thermal velocities. */
static int nve_slope(double tol, double *slope, double *builds)
{
    clmd_system *s = clmd_test_ala2_water();
    if (!s) return -1;
    clmd_ffopts fo;
    pme_opts(&fo);
    fo.list_tolerance = tol; /* 0: exact lists */
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "auto");
    eo.integrator = CLMD_VERLET;
    eo.dt_ps = 0.002;
    eo.constraint_tol = 1e-6;
    clmd_engine *e = NULL;
    clmd_err err = {0};
    if (clmd_engine_create(s, &fo, &eo, NULL, &e, &err)) {
        clmd_system_destroy(&s);
        return -2;
    }
    double *v = clmd_calloc(3 * (size_t)s->n, sizeof *v);
    clmd_draw_velocities(s, 300, 3, 1, v);
    int rc = clmd_engine_set_velocities(e, v, &err);
    enum { SAMPLES = 41, EVERY = 50 };
    double t[SAMPLES], u[SAMPLES];
    for (int k = 0; k < SAMPLES && !rc; k++) {
        rc = clmd_engine_step(e, EVERY, 1, &err);
        double pot = 0, kin = 0;
        clmd_engine_energies(e, NULL, &pot, &kin);
        t[k] = k * EVERY * eo.dt_ps;
        u[k] = pot + kin;
    }
    /* least squares */
    double mt = 0, mu = 0, stt = 0, stu = 0;
    for (int k = 0; k < SAMPLES; k++) mt += t[k] / SAMPLES, mu += u[k] / SAMPLES;
    for (int k = 0; k < SAMPLES; k++) stt += (t[k] - mt) * (t[k] - mt), stu += (t[k] - mt) * (u[k] - mu);
    *slope = stu / stt;
    *builds = (double)clmd_engine_list_builds(e);
    clmd_free(v);
    clmd_engine_destroy(&e);
    const int natoms = s->n;
    clmd_system_destroy(&s);
    return rc ? -3 : natoms;
}

static void test_nve_drift(void)
{
    double exact, drift, b0, b1;
    const double tol = 0.005;
    int n = nve_slope(0, &exact, &b0);
    if (n == -1) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    if (n == -2) CLMD_SKIP("no OpenCL device");
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_FATAL(nve_slope(tol, &drift, &b1) == n);
    printf("\n  NVE, 2000 steps of 2 fs: total energy drift %.4f kJ/mol/ps per atom with exact "
           "lists (%.0f lists), %.4f with lists sized for %g (%.0f lists)", exact / n, b0, drift / n,
           tol, b1);
    /* the runs part ways (chaos), so their slopes differ by ~0.002 kJ/mol/ps per atom with any
     * list (measured here: 0.0005 to 0.5 give -0.0023 to +0.0011 against -0.0021 exact); the
     * bound is the tolerance */
    ASSERT_BELOW(fabs(drift - exact) / n, tol, "NVE drift: drift-sized lists minus exact lists "
                                                 "(kJ/mol/ps per atom)");
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {
        {"the estimate: monotone, sized to the tolerance, sane scale", test_estimate},
        {"the model against Langevin dynamics: missed pairs and energy", test_model_vs_dynamics},
        {"engine: drift-sized lists on schedule, pruned, overlapped", test_engine_schedule},
        {"NVE energy drift within the tolerance", test_nve_drift},
        {NULL, NULL}};
    return clmd_test_main("test_verletbuf", tests, argc, argv);
}
