/* Suite: NPT. The Monte Carlo barostat samples the isobaric ensemble (an ideal gas's volume
 * distribution p(V) ~ V^N exp(-PV/kT), mean (N+1)kT/P, isotropic and anisotropic, on the
 * reference and on the OpenCL device); molecules stay rigid under box scaling; the pair list
 * stays exact through box scalings as long as it says it is valid; snapshots restore the state
 * bit for bit; the pressure from energy differences equals the virial pressure; an NPT run
 * restarted from its checkpoint repeats the straight run bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/plan.h"
#include "io/checkpoint.h"
#include "md/barostat.h"
#include "md/engine.h"
#include "md/integrator.h"
#include "nlist/nlist.h"
#include "nlist/pairlist.h"
#include "state/state.h"
#include "system/box.h"
#include "system/builtin.h"
#include "system/constrain.h"
#include "system/forcefield.h"
#include "system/molecules.h"
#include "system/system.h"
#include "testutil.h"

#define KB CLMD_BOLTZMANN
#define BAR 0.0602214076 /* kJ/mol/nm^3 per bar */

static double urand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffffff) / 16777216.0;
}

/* n non-interacting particles (no charge, no LJ well) in a cubic box of edge L. */
static clmd_system *ideal_gas(int n, double L, unsigned seed)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    clmd_system_set_box(s, L, L, L);
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 3; d++) s->x[3 * i + d] = urand(&seed) * L;
        s->mass[i] = 40;
        s->sigma[i] = 0.3;
        s->epsilon[i] = 0;
        snprintf(s->name[i], sizeof s->name[i], "AR");
    }
    snprintf(s->source, sizeof s->source, "ideal gas");
    return s;
}

static clmd_engine *make_engine(clmd_system *s, const clmd_ffopts *o, const char *device,
                                double T, const clmd_barostat_opts *bo)
{
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "%s", device);
    eo.temperature_K = T;
    eo.remove_com = 0;
    clmd_err err = {0};
    clmd_engine *e = NULL;
    if (clmd_engine_create(s, o, &eo, NULL, &e, &err)) {
        printf("\n  engine (%s): %s\n", device, err.msg);
        return NULL;
    }
    if (bo) {
        clmd_hook *h = NULL;
        if (clmd_barostat_create(bo, e, &h, &err) || clmd_engine_add_hook(e, h, &err)) {
            printf("\n  barostat: %s\n", err.msg);
            clmd_engine_destroy(&e);
        }
    }
    return e;
}

/* Regularized lower incomplete gamma P(a, x) by its series (a, x of tens here). */
static double gamma_p(double a, double x)
{
    if (x <= 0) return 0;
    double term = 1 / a, sum = term;
    for (int k = 1; k < 10000; k++) {
        term *= x / (a + k);
        sum += term;
        if (term < sum * 1e-16) break;
    }
    return exp(a * log(x) - x - lgamma(a)) * sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov distance of the samples from Gamma(shape, scale). */
static double ks_gamma(double *v, int n, double shape, double scale)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double d = 0;
    for (int i = 0; i < n; i++) {
        double F = gamma_p(shape, v[i] / scale);
        d = fmax(d, fmax(fabs(F - (double)i / n), fabs(F - (double)(i + 1) / n)));
    }
    return d;
}

/* Mean and its standard error from block averages. */
static void block_mean(const double *v, int n, int nblocks, double *mean, double *sem)
{
    int bl = n / nblocks;
    double s = 0, s2 = 0;
    for (int b = 0; b < nblocks; b++) {
        double m = 0;
        for (int i = b * bl; i < (b + 1) * bl; i++) m += v[i];
        m /= bl;
        s += m;
        s2 += m * m;
    }
    *mean = s / nblocks;
    *sem = sqrt(fmax(s2 / nblocks - *mean * *mean, 0) / (nblocks - 1));
}

/* The ideal gas in NPT: the volume's mean and distribution. Returns 0 when the run failed. */
static int ideal_gas_case(const char *device, double T, int anisotropic, int adapt, int equil,
                          int samples, int thin)
{
    const int N = 64;
    const double P_bar = 1.0, kT = KB * T, P = P_bar * BAR;
    const double expected = (N + 1) * kT / P;
    clmd_system *s = ideal_gas(N, cbrt(expected), 17);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_CUTOFF;
    o.cutoff_nm = 1.0;
    o.dispersion_correction = 0;
    clmd_barostat_opts bo = {anisotropic, {P_bar, P_bar, P_bar}, 1, adapt, 99};
    clmd_engine *e = make_engine(s, &o, device, T, &bo);
    if (!e) {
        CU_FAIL("engine");
        clmd_system_destroy(&s);
        return 0;
    }
    clmd_err err = {0};
    double *v = clmd_calloc(samples, sizeof *v);
    int rc = clmd_engine_step(e, equil, 0, &err);
    for (int k = 0; k < samples && !rc; k++) {
        rc = clmd_engine_step(e, 1, 0, &err);
        v[k] = clmd_box_volume(clmd_engine_state(e)->box);
    }
    if (rc) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    double mean, sem;
    block_mean(v, samples, 20, &mean, &sem);
    printf("\n  %s %s T %g K: <V> %.2f +- %.2f nm^3, (N+1)kT/P %.2f (%.2f sigma)", device,
           anisotropic ? "anisotropic" : "isotropic", T, mean, sem, expected,
           (mean - expected) / sem);
    ASSERT_BELOW(fabs(mean - expected), 4 * sem, "|<V> - (N+1)kT/P| in standard errors x 4");
    ASSERT_REL(mean, expected, 0.04, 0, "<V> of the ideal gas",
               "a 4% bound above the statistical error of the run");
    if (thin) {
        /* thinned to nearly independent samples: p(V) ~ V^N exp(-PV/kT) is Gamma(N+1, kT/P) */
        int m = samples / thin;
        double *w = clmd_calloc(m, sizeof *w);
        for (int i = 0; i < m; i++) w[i] = v[i * thin];
        double D = ks_gamma(w, m, N + 1, kT / P), crit = 1.95 / sqrt(m); /* alpha 0.001 */
        double Dwrong = ks_gamma(w, m, N + 1, 1.15 * kT / P);
        printf(", KS D %.3f (critical %.3f; against a 15%% wrong pressure %.3f)", D, crit, Dwrong);
        ASSERT_BELOW(D, crit, "KS distance from Gamma(N+1, kT/P)");
        /* the test can tell a wrong distribution */
        CU_ASSERT(Dwrong > crit);
        clmd_free(w);
    }
    clmd_free(v);
    clmd_engine_destroy(&e);
    clmd_system_destroy(&s);
    return 1;
}

static void ideal_gas_volume_at_three_temperatures(void)
{
    double T[3] = {300, 600, 1000};
    for (int k = 0; k < 3; k++) ideal_gas_case("reference", T[k], 0, 1, 2000, 40000, 40);
}

/* One axis at a time: nothing holds the box's shape, so its edges wander; with the move size
 * adapted up to 30% of the volume an edge soon meets twice the cutoff, where moves are refused
 * and the volume's distribution is cut. Small fixed moves (1% of the volume) keep the walk far
 * from that wall over the run. */
static void ideal_gas_volume_anisotropic(void) { ideal_gas_case("reference", 450, 1, 0, 3000, 60000, 150); }

static void ideal_gas_volume_on_the_device(void) { ideal_gas_case("auto", 300, 0, 1, 1000, 8000, 0); }

/* A box of rigid TIP3P waters (SETTLE), on the reference or the device. */
static clmd_system *water(double edge)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    clmd_system *s = NULL;
    if (clmd_ff_load(clmd_test_source("forcefields/tip3p.yaml"), &ff, &err) ||
        clmd_builtin_water_box(ff, edge, &s, &err) ||
        clmd_constrain(s, CLMD_RIGID_NONE, 1, ff, &err)) {
        printf("\n  water: %s\n", err.msg);
        clmd_ff_destroy(&ff);
        clmd_system_destroy(&s);
        return NULL;
    }
    clmd_ff_destroy(&ff);
    return s;
}

static void pme_opts(clmd_ffopts *o)
{
    clmd_ffopts_defaults(o);
    o->method = CLMD_NB_PME;
    o->cutoff_nm = 0.8;
    o->skin_auto = 0;
    o->skin_nm = 0.1;
}

static void molecules_move_as_rigid_units(void)
{
    clmd_system *s = water(2.0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    clmd_molecules *m = clmd_molecules_create(s);
    CU_ASSERT_EQUAL(m->n, s->n / 3);
    CU_ASSERT_EQUAL(m->largest, 3);
    clmd_ffopts o;
    pme_opts(&o);
    const int n = s->n;
    double *x0 = clmd_calloc(3 * n, sizeof *x0), *x1 = clmd_calloc(3 * n, sizeof *x1);
    double *xr = clmd_calloc(3 * n, sizeof *xr);
    const char *devices[2] = {"reference", "auto"};
    for (int dv = 0; dv < 2; dv++) {
        clmd_engine *e = make_engine(s, &o, devices[dv], 300, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        clmd_err err = {0};
        CU_ASSERT_EQUAL_FATAL(clmd_engine_get_positions(e, x0, &err), CLMD_OK);
        double sc[3] = {1.03, 0.98, 1.01}, V0 = clmd_box_volume(clmd_engine_state(e)->box);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_scale_box(e, sc, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_get_positions(e, x1, &err), CLMD_OK);
        ASSERT_REL(clmd_box_volume(clmd_engine_state(e)->box), V0 * 1.03 * 0.98 * 1.01, 1e-14, 0,
                   "scaled volume", "exact product");
        double worst_bond = 0, worst_centroid = 0;
        for (int k = 0; k < m->n; k++) {
            int a0 = m->start[k], a1 = m->start[k + 1];
            double c0[3] = {0}, c1[3] = {0};
            for (int a = a0; a < a1; a++)
                for (int d = 0; d < 3; d++) {
                    c0[d] += x0[3 * m->atoms[a] + d] / (a1 - a0);
                    c1[d] += x1[3 * m->atoms[a] + d] / (a1 - a0);
                }
            for (int d = 0; d < 3; d++) worst_centroid = fmax(worst_centroid, fabs(c1[d] - sc[d] * c0[d]));
            for (int a = a0; a < a1; a++)
                for (int b = a0; b < a1; b++)
                    for (int d = 0; d < 3; d++) {
                        double r0 = x0[3 * m->atoms[b] + d] - x0[3 * m->atoms[a] + d];
                        double r1 = x1[3 * m->atoms[b] + d] - x1[3 * m->atoms[a] + d];
                        worst_bond = fmax(worst_bond, fabs(r1 - r0));
                    }
        }
        printf("\n  %s: intramolecular vectors change by %.2g nm, centroids off by %.2g nm",
               devices[dv], worst_bond, worst_centroid);
        /* double precision on both paths (the device integrates in double where it can) */
        ASSERT_BELOW(worst_bond, dv ? 1e-6 : 1e-12, "change of any intramolecular vector (nm)");
        ASSERT_BELOW(worst_centroid, dv ? 1e-6 : 1e-12, "centroid off its scaled position (nm)");
        if (dv == 0) memcpy(xr, x1, sizeof(double) * 3 * n);
        else
            for (int i = 0; i < 3 * n; i++)
                CU_ASSERT(fabs(x1[i] - xr[i]) < 1e-6);
        /* a box too small for the cutoff is refused before anything moves */
        double tiny[3] = {0.5, 0.5, 0.5};
        CU_ASSERT_EQUAL(clmd_engine_scale_box(e, tiny, &err), CLMD_EINPUT);
        CU_ASSERT_EQUAL(clmd_engine_get_positions(e, x0, &err), CLMD_OK);
        CU_ASSERT_EQUAL(memcmp(x0, x1, sizeof(double) * 3 * n), 0);
        clmd_engine_destroy(&e);
        memcpy(x0, s->x, sizeof(double) * 3 * n);
    }
    clmd_free(x0);
    clmd_free(x1);
    clmd_free(xr);
    clmd_molecules_destroy(&m);
    clmd_system_destroy(&s);
}

/* ---- the pair list through box scalings ---- */

typedef struct pairs {
    int n;
    unsigned char *seen;
} pairs;

static void mark(int i, int j, double r2, void *ctx)
{
    (void)r2;
    pairs *p = ctx;
    p->seen[(size_t)i * p->n + j] = 1;
}

/* Pairs within the cutoff that the list misses. */
static int missing_pairs(const clmd_system *s, clmd_nlist *nl, const double *x,
                         const double b[3][3], double cutoff)
{
    pairs p = {s->n, calloc((size_t)s->n * s->n, 1)};
    clmd_nlist_for_each_pair(nl, x, b, cutoff, mark, &p);
    int miss = 0;
    for (int i = 0; i < s->n; i++)
        for (int j = i + 1; j < s->n; j++) {
            double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
            clmd_box_min_image(b, d);
            if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < cutoff * cutoff && !p.seen[(size_t)i * s->n + j])
                miss++;
        }
    free(p.seen);
    return miss;
}

/* Random scalings and moves of diatomic molecules: whenever the owner says the list is valid,
 * it holds every pair within the cutoff, and it does run out of room along the way. */
static void pair_list_stays_exact_through_box_scalings(void)
{
    const int nmol = 300, n = 2 * nmol;
    const double L = 3.2, cutoff = 0.9, skin = 0.15;
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, n);
    clmd_system_set_box(s, L, L, L);
    unsigned seed = 5;
    for (int k = 0; k < nmol; k++) {
        double c[3] = {urand(&seed) * L, urand(&seed) * L, urand(&seed) * L};
        for (int d = 0; d < 3; d++) {
            s->x[6 * k + d] = c[d];
            s->x[6 * k + 3 + d] = c[d] + (d == 0 ? 0.25 : 0.0);
        }
        clmd_system_add_bond(s, 2 * k, 2 * k + 1, 1000, 0.25);
    }
    for (int i = 0; i < n; i++) s->mass[i] = 1;
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.cutoff_nm = cutoff;
    o.skin_nm = skin;
    o.skin_auto = 0;
    clmd_ffplan plan;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_ffplan_make(s, &o, &plan, &err), CLMD_OK);
    clmd_molecules *m = clmd_molecules_create(s);
    clmd_pairlist *pl = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_pairlist_create(s, &plan, m, 0, NULL, &pl, &err), CLMD_OK);
    double b[3][3];
    memcpy(b, s->box, sizeof b);
    double *x = clmd_calloc(3 * n, sizeof *x);
    memcpy(x, s->x, sizeof(double) * 3 * n);
    CU_ASSERT_EQUAL_FATAL(clmd_pairlist_build(pl, x, b, 0, &err), CLMD_OK);
    int checks = 0, rebuilds = 0, scalings = 0, bad = 0;
    for (int round = 0; round < 400; round++) {
        if (urand(&seed) < 0.5) {
            /* a box scaling by up to 1.5% per axis, molecules moved with their centroids */
            double sc[3], eps = 0;
            for (int d = 0; d < 3; d++) {
                sc[d] = 1 + 0.03 * (urand(&seed) - 0.5);
                eps = fmax(eps, fabs(sc[d] - 1));
            }
            for (int k = 0; k < nmol; k++)
                for (int d = 0; d < 3; d++) {
                    double c = 0.5 * (x[6 * k + d] + x[6 * k + 3 + d]);
                    x[6 * k + d] += (sc[d] - 1) * c;
                    x[6 * k + 3 + d] += (sc[d] - 1) * c;
                }
            for (int r = 0; r < 3; r++)
                for (int d = 0; d < 3; d++) b[r][d] *= sc[d];
            CU_ASSERT_EQUAL(clmd_pairlist_box_scaled(pl, x, b, eps, 0, &err), CLMD_OK);
            scalings++;
        } else {
            /* thermal-like moves of up to 0.01 nm */
            for (int i = 0; i < 3 * n; i++) x[i] += 0.02 * (urand(&seed) - 0.5);
        }
        if (clmd_pairlist_stale_host(pl, x)) {
            CU_ASSERT_EQUAL(clmd_pairlist_build(pl, x, b, round, &err), CLMD_OK);
            rebuilds++;
        }
        bad += missing_pairs(s, clmd_pairlist_host(pl), x, b, cutoff);
        checks++;
    }
    printf("\n  %d checks, %d box scalings, %d rebuilds, %d missing pairs", checks, scalings,
           rebuilds, bad);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(rebuilds > 3); /* the scalings used the buffer up, so the check had work to do */
    clmd_free(x);
    clmd_pairlist_destroy(&pl);
    clmd_molecules_destroy(&m);
    clmd_system_destroy(&s);
}

/* ---- snapshots ---- */

static void snapshot_restores_the_state_bit_for_bit(void)
{
    clmd_system *s = water(2.0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    clmd_ffopts o;
    pme_opts(&o);
    const char *devices[2] = {"reference", "auto"};
    const int n = s->n;
    double *xa = clmd_calloc(3 * n, sizeof *xa), *xb = clmd_calloc(3 * n, sizeof *xb);
    for (int dv = 0; dv < 2; dv++) {
        clmd_engine *e = make_engine(s, &o, devices[dv], 300, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        clmd_err err = {0};
        clmd_engine_snapshot *snap = NULL;
        CU_ASSERT_EQUAL_FATAL(clmd_engine_step(e, 5, 0, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_snapshot_create(e, &snap, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_save(e, snap, &err), CLMD_OK);
        double sc[3] = {1.01, 1.01, 1.01};
        CU_ASSERT_EQUAL_FATAL(clmd_engine_step(e, 20, 1, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_get_positions(e, xa, &err), CLMD_OK);
        double ea;
        clmd_engine_energies(e, NULL, &ea, NULL);
        /* wander off (a box change too), then come back and do it again */
        CU_ASSERT_EQUAL_FATAL(clmd_engine_scale_box(e, sc, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_step(e, 7, 0, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_restore(e, snap, &err), CLMD_OK);
        CU_ASSERT_EQUAL(clmd_engine_step_count(e), 5);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_step(e, 20, 1, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_get_positions(e, xb, &err), CLMD_OK);
        double eb;
        clmd_engine_energies(e, NULL, &eb, NULL);
        printf("\n  %s: potential %.10g after the replay, %.10g the first time", devices[dv], eb, ea);
        CU_ASSERT_EQUAL(memcmp(xa, xb, sizeof(double) * 3 * n), 0);
        CU_ASSERT_EQUAL(memcmp(&ea, &eb, sizeof ea), 0);
        clmd_engine_snapshot_destroy(&snap);
        clmd_engine_destroy(&e);
    }
    clmd_free(xa);
    clmd_free(xb);
    clmd_system_destroy(&s);
}

/* ---- pressure ---- */

/* The pressure from energy differences (OpenMM's computeCurrentPressure) against the virial
 * pressure of a switched LJ fluid (continuous potential, so the two agree to O(delta^2)):
 * P = (2 K + W) / 3V + E_disp / V (the dispersion correction E = C/V adds C/V^2),
 * W = sum over pairs of r . F. */
static void pressure_equals_the_virial_pressure(void)
{
    clmd_err err = {0};
    clmd_ff *ff = NULL;
    clmd_system *s = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ff_load(clmd_test_source("forcefields/argon.yaml"), &ff, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_builtin_lj_fcc(ff, 5, 0.8442, &s, &err), CLMD_OK);
    clmd_ff_destroy(&ff);
    const int n = s->n;
    unsigned seed = 3;
    for (int i = 0; i < 3 * n; i++) s->x[i] += 0.03 * (urand(&seed) - 0.5);
    clmd_system_alloc_velocities(s);
    for (int i = 0; i < 3 * n; i++) s->v[i] = 0.3 * (urand(&seed) - 0.5);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.cutoff_nm = 0.85;
    o.switch_nm = 0.7;
    const char *devices[2] = {"reference", "auto"};
    double p_ref = 0;
    for (int dv = 0; dv < 2; dv++) {
        clmd_engine *e = make_engine(s, &o, devices[dv], 120, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        double P;
        CU_ASSERT_EQUAL_FATAL(clmd_engine_pressure(e, &P, &err), CLMD_OK);
        if (dv == 0) {
            /* the virial by brute force over minimum-image pairs */
            const double(*b)[3] = (const double(*)[3])s->box, V = clmd_box_volume(b);
            const double rc = o.cutoff_nm, rs = o.switch_nm;
            double W = 0, K = 0;
            for (int i = 0; i < n; i++) {
                for (int d = 0; d < 3; d++) K += 0.5 * s->mass[i] * s->v[3 * i + d] * s->v[3 * i + d];
                for (int j = i + 1; j < n; j++) {
                    double dd[3] = {s->x[3 * j] - s->x[3 * i], s->x[3 * j + 1] - s->x[3 * i + 1],
                                    s->x[3 * j + 2] - s->x[3 * i + 2]};
                    clmd_box_min_image(b, dd);
                    double r = sqrt(dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2]);
                    if (r >= rc) continue;
                    double sg = 0.5 * (s->sigma[i] + s->sigma[j]), ep = sqrt(s->epsilon[i] * s->epsilon[j]);
                    double sr6 = pow(sg / r, 6), u = 4 * ep * (sr6 * sr6 - sr6);
                    double du = -4 * ep * (12 * sr6 * sr6 - 6 * sr6) / r, sw = 1, dsw = 0;
                    if (r > rs) {
                        double t = (r - rs) / (rc - rs);
                        sw = 1 + t * t * t * (-10 + t * (15 - 6 * t));
                        dsw = t * t * (-30 + t * (60 - 30 * t)) / (rc - rs);
                    }
                    W += -r * (du * sw + u * dsw);
                }
            }
            double en[CLMD_E_NCOMP];
            CU_ASSERT_EQUAL_FATAL(clmd_engine_evaluate(e, en, NULL, &err), CLMD_OK);
            double p_vir = ((2 * K + W) / (3 * V) + en[CLMD_E_DISP] / V) / BAR;
            printf("\n  pressure: energy differences %.4f bar, virial %.4f bar", P, p_vir);
            ASSERT_REL(P, p_vir, 2e-3, 10, "pressure (bar)",
                       "finite difference over 0.3% of the volume: O(delta^2) error");
            p_ref = P;
        } else {
            printf("\n  device %.4f bar", P);
            /* float energies: their differences over 0.6% of the volume carry ~1 bar */
            ASSERT_BELOW(fabs(P - p_ref), 5, "|device - reference pressure| (bar): float energy differences");
        }
        clmd_engine_destroy(&e);
    }
    clmd_system_destroy(&s);
}

/* ---- restarts ---- */

static double *ckpt_array(const char *path, const char *name, size_t count)
{
    clmd_ckpt_reader *r = NULL;
    clmd_err err = {0};
    double *x = clmd_calloc(count, sizeof(double));
    if (clmd_ckpt_reader_open(path, &r, &err) || clmd_ckpt_get(r, name, CLMD_CKPT_F64, x, count, &err)) {
        printf("\n  %s\n", err.msg);
        clmd_free(x);
        x = NULL;
    }
    clmd_ckpt_reader_close(&r);
    return x;
}

/* A TIP3P box in NPT with PME, straight for 120 steps, and cut at 60 then restarted: the
 * positions, velocities and box at the end are the same bits. */
static void npt_restart_repeats_the_run_bit_for_bit(const char *device)
{
    const char *dir = clmd_test_tmpdir();
    char text[4096], args[9000], path[4200];
    for (int k = 0; k < 2; k++) {
        snprintf(text, sizeof text,
                 "system: {builtin: water_box, model: tip3p, edge: 2.0, forcefield: %s}\n"
                 "nonbonded: {method: pme, cutoff: 0.8, neighbor_skin: 0.12}\n"
                 "velocities: {temperature: 300, seed: 5}\n"
                 "integrator: {type: langevin, timestep: 0.002, temperature: 300, steps: 120}\n"
                 "barostat: {pressure: 1.0, interval: 5, seed: 21}\n"
                 "output: {directory: run%d, energies: {file: e.csv, interval: 20},\n"
                 "         checkpoint: {file: c.chk, interval: 60}}\n",
                 clmd_test_source("forcefields/tip3p.yaml"), k);
        snprintf(path, sizeof path, "%s/d%d.yaml", dir, k);
        CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, text), 0);
    }
    char *out = NULL;
    snprintf(args, sizeof args, "%s run %s/d0.yaml --quiet --device %s", clmd_test_binary(), dir, device);
    int rc = clmd_test_run(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(args, sizeof args, "%s run %s/d1.yaml --quiet --device %s --steps 60", clmd_test_binary(),
             dir, device);
    CU_ASSERT_EQUAL_FATAL(clmd_test_run(args, NULL), 0);
    char ck[4300], mid[4300];
    snprintf(ck, sizeof ck, "%s/run1/c.chk", dir);
    snprintf(mid, sizeof mid, "%s/run1/mid.chk", dir);
    CU_ASSERT_EQUAL_FATAL(rename(ck, mid), 0);
    snprintf(args, sizeof args, "%s run %s/d1.yaml --quiet --device %s --overwrite --restart %s",
             clmd_test_binary(), dir, device, mid);
    rc = clmd_test_run(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    double *box0 = NULL, *box1 = NULL, *x0, *x1, *mb0, *mb1;
    snprintf(ck, sizeof ck, "%s/run0/c.chk", dir);
    box0 = ckpt_array(ck, "box", 9);
    mb0 = ckpt_array(ck, "barostat_move", 3);
    snprintf(mid, sizeof mid, "%s/run1/c.chk", dir);
    box1 = ckpt_array(mid, "box", 9);
    mb1 = ckpt_array(mid, "barostat_move", 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(box0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(box1);
    int n = 0;
    {
        clmd_ckpt_reader *r = NULL;
        clmd_err err = {0};
        int64_t particles = 0;
        CU_ASSERT_EQUAL_FATAL(clmd_ckpt_reader_open(ck, &r, &err), CLMD_OK);
        CU_ASSERT_EQUAL(clmd_ckpt_get_i64(r, "particles", &particles, &err), CLMD_OK);
        clmd_ckpt_reader_close(&r);
        n = (int)particles;
    }
    x0 = ckpt_array(ck, "positions", 3 * (size_t)n);
    x1 = ckpt_array(mid, "positions", 3 * (size_t)n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x1);
    printf("\n  %s: box edge %.6f nm after 120 steps (started at 2.0)", device, box0[0]);
    CU_ASSERT(box0[0] != 2.0); /* the barostat moved the box */
    CU_ASSERT_EQUAL(memcmp(box0, box1, 9 * sizeof(double)), 0);
    CU_ASSERT_EQUAL(memcmp(mb0, mb1, 3 * sizeof(double)), 0);
    CU_ASSERT_EQUAL(memcmp(x0, x1, 3 * (size_t)n * sizeof(double)), 0);
    double *v0 = ckpt_array(ck, "velocities", 3 * (size_t)n), *v1 = ckpt_array(mid, "velocities", 3 * (size_t)n);
    CU_ASSERT_EQUAL(memcmp(v0, v1, 3 * (size_t)n * sizeof(double)), 0);
    clmd_free(box0);
    clmd_free(box1);
    clmd_free(mb0);
    clmd_free(mb1);
    clmd_free(x0);
    clmd_free(x1);
    clmd_free(v0);
    clmd_free(v1);
}

static void npt_restart_reference(void) { npt_restart_repeats_the_run_bit_for_bit("reference"); }
static void npt_restart_device(void) { npt_restart_repeats_the_run_bit_for_bit("auto"); }

/* The hot path allocates nothing: NPT steps with volume moves, pair-list rebuilds, energy and
 * pressure evaluations, on both paths, after a warm-up that sizes every buffer. */
static void steps_allocate_nothing(void)
{
    clmd_system *s = water(2.0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    clmd_ffopts o;
    pme_opts(&o);
    const char *devices[2] = {"reference", "auto"};
    for (int dv = 0; dv < 2; dv++) {
        clmd_barostat_opts bo = {0, {1, 1, 1}, 5, 1, 4};
        clmd_engine *e = make_engine(s, &o, devices[dv], 300, &bo);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        clmd_err err = {0};
        double P;
        CU_ASSERT_EQUAL_FATAL(clmd_engine_step(e, 60, 1, &err), CLMD_OK);
        CU_ASSERT_EQUAL_FATAL(clmd_engine_pressure(e, &P, &err), CLMD_OK);
        long builds0 = clmd_engine_list_builds(e);
        size_t a0 = clmd_mem_allocations();
        for (int k = 0; k < 10 && !err.code; k++) {
            CU_ASSERT_EQUAL(clmd_engine_step(e, 20, 1, &err), CLMD_OK);
            CU_ASSERT_EQUAL(clmd_engine_pressure(e, &P, &err), CLMD_OK);
        }
        size_t a1 = clmd_mem_allocations();
        long builds = clmd_engine_list_builds(e) - builds0;
        printf("\n  %s: %zu allocations in 200 NPT steps (40 volume moves, %ld list builds)",
               devices[dv], a1 - a0, builds);
        CU_ASSERT(builds > 0); /* the loop exercised the rebuild path */
        CU_ASSERT_EQUAL(a1 - a0, 0);
        clmd_engine_destroy(&e);
    }
    clmd_system_destroy(&s);
}

/* The barostat refuses what it cannot do, with a message saying why. */
static void barostat_needs_a_box_and_a_cutoff(void)
{
    clmd_system *s = ideal_gas(16, 5, 1);
    clmd_ffopts o;
    clmd_ffopts_defaults(&o);
    o.method = CLMD_NB_NOCUTOFF;
    clmd_engine *e = make_engine(s, &o, "reference", 300, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    clmd_barostat_opts bo = {0, {1, 1, 1}, 25, 1, 1};
    clmd_hook *h = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_barostat_create(&bo, e, &h, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cutoff"));
    clmd_engine_destroy(&e);
    s->periodic = 0;
    e = make_engine(s, &o, "reference", 300, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(clmd_barostat_create(&bo, e, &h, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "periodic"));
    clmd_engine_destroy(&e);
    clmd_system_destroy(&s);
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {
        {"ideal_gas_volume_at_three_temperatures", ideal_gas_volume_at_three_temperatures},
        {"ideal_gas_volume_anisotropic", ideal_gas_volume_anisotropic},
        {"ideal_gas_volume_on_the_device", ideal_gas_volume_on_the_device},
        {"molecules_move_as_rigid_units", molecules_move_as_rigid_units},
        {"pair_list_stays_exact_through_box_scalings", pair_list_stays_exact_through_box_scalings},
        {"snapshot_restores_the_state_bit_for_bit", snapshot_restores_the_state_bit_for_bit},
        {"pressure_equals_the_virial_pressure", pressure_equals_the_virial_pressure},
        {"npt_restart_reference", npt_restart_reference},
        {"npt_restart_device", npt_restart_device},
        {"barostat_needs_a_box_and_a_cutoff", barostat_needs_a_box_and_a_cutoff},
        {"steps_allocate_nothing", steps_allocate_nothing},
        {NULL, NULL}};
    return clmd_test_main("barostat", tests, argc, argv);
}
