/* Suite: the clmd program end to end (run, eval, check, devices): eval against OpenMM's
 * argon references, exit codes and messages for bad input, the no-overwrite rule, outputs,
 * determinism and bit-for-bit restarts, NVE energy drift and Langevin temperature. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "io/checkpoint.h"
#include "testutil.h"

static char cmd[16384];

/* Writes a deck into the scratch dir and returns its path. */
static const char *write_deck(const char *dir, const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, text), 0);
    return path;
}

static int run_clmd(const char *args, char **out)
{
    snprintf(cmd, sizeof cmd, "%s %s", clmd_test_binary(), args);
    return clmd_test_run(cmd, out);
}

static void argon_deck(char *buf, size_t n, const char *pdb, int disp, const char *extra)
{
    snprintf(buf, n,
             "title: argon reference\n"
             "system:\n  coordinates: %s\n  forcefield: %s\n"
             "nonbonded: {method: cutoff, cutoff: 0.85, dispersion_correction: %s%s}\n",
             pdb, clmd_test_source("forcefields/argon.yaml"), disp ? "true" : "false", extra);
}

/* clmd eval of the OpenMM argon system: energies and forces against the reference files. */
static void eval_case(const char *ref_name, int disp, const char *device, double ftol)
{
    int switched = strstr(ref_name, "switch") != NULL;
    const char *ref_path = switched ? clmd_test_source(ref_name) : clmd_test_data(ref_name);
    const char *pdb = clmd_test_data("systems/lj_argon.pdb");
    if (!ref_path || !pdb) CLMD_SKIP_DATA("OpenMM argon reference data not found (CLMD_TEST_DATA)");
    char refp[4096];
    snprintf(refp, sizeof refp, "%s", ref_path);
    const char *dir = clmd_test_tmpdir();
    char text[8192];
    argon_deck(text, sizeof text, pdb, disp, switched ? ", switch_distance: 0.75" : "");
    const char *deck = write_deck(dir, "argon.yaml", text);
    char args[8192], *out = NULL;
    snprintf(args, sizeof args, "eval %s --json %s/e.json --device %s", deck, dir, device);
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char jp[4200];
    snprintf(jp, sizeof jp, "%s/e.json", dir);
    clmd_jv *got = clmd_jv_load(jp), *ref = clmd_jv_load(refp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    const clmd_jv *en = clmd_jv_get(got, "energies");
    double lj = clmd_jv_num(clmd_jv_get(en, "lj"), NAN);
    double dc = clmd_jv_num(clmd_jv_get(en, "dispersion_correction"), 0);
    double total = clmd_jv_num(clmd_jv_get(en, "total"), NAN);
    double eref = clmd_jv_num(clmd_jv_get(ref, "energy"), NAN);
    CU_ASSERT_EQUAL(clmd_jv_get(en, "dispersion_correction") != NULL, disp);
    ASSERT_REL(lj + dc, eref, 1e-6, 0, "LJ + dispersion energy vs OpenMM",
               "same physics; float kernels sum to ~1e-7");
    ASSERT_REL(total, eref, 1e-6, 0, "total energy vs OpenMM", "only LJ in this system");
    double *f = NULL, *fref = NULL;
    int n = clmd_jv_vec3s(clmd_jv_get(got, "forces"), &f);
    int nr = clmd_jv_vec3s(clmd_jv_get(ref, "forces"), &fref);
    CU_ASSERT_EQUAL_FATAL(n, nr);
    CU_ASSERT_EQUAL(clmd_jv_num(clmd_jv_get(got, "particles"), 0), n);
    ASSERT_BELOW(clmd_force_rms_rel(f, fref, n), ftol, "force RMS relative error vs OpenMM");
    free(f);
    free(fref);
    clmd_jv_free(got);
    clmd_jv_free(ref);
}

static void eval_argon_dispersion_on_opencl(void) { eval_case("lj_argon_disp_on.json", 1, "auto", 1e-5); }
static void eval_argon_dispersion_off_opencl(void) { eval_case("lj_argon_disp_off.json", 0, "auto", 1e-5); }
static void eval_argon_reference(void) { eval_case("lj_argon_disp_on.json", 1, "reference", 1e-9); }
/* OpenMM's switching function and switched dispersion correction (tests/refs/make_lj_refs.py) */
static void eval_argon_switched_opencl(void) { eval_case("tests/refs/lj_argon_switch.json", 1, "auto", 1e-5); }
static void eval_argon_switched_reference(void)
{
    eval_case("tests/refs/lj_argon_switch.json", 1, "reference", 1e-9);
}

/* TIP4P-Ew box (886 waters with M sites as virtual sites, flexible as in the reference) with
 * PME at tolerance 1e-6 against OpenMM: energy and forces after spreading the M-site forces. */
static void eval_tip4pew(const char *device, double ftol)
{
    const char *ref_path = clmd_test_data("tip4pew_box.json");
    const char *pdb = clmd_test_data("systems/tip4pew_box.pdb");
    if (!ref_path || !pdb) CLMD_SKIP_DATA("TIP4P-Ew reference data not found (CLMD_TEST_DATA)");
    char refp[4096], text[8192];
    snprintf(refp, sizeof refp, "%s", ref_path);
    const char *dir = clmd_test_tmpdir();
    snprintf(text, sizeof text,
             "system: {coordinates: %s, forcefield: %s}\n"
             "nonbonded: {method: pme, cutoff: 0.9, ewald_error_tolerance: 1.0e-6}\n"
             "rigid_water: false\n",
             pdb, clmd_test_source("forcefields/tip4pew.yaml"));
    const char *deck = write_deck(dir, "t4.yaml", text);
    char args[8192], *out = NULL;
    snprintf(args, sizeof args, "eval %s --json %s/e.json --device %s", deck, dir, device);
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char jp[4200];
    snprintf(jp, sizeof jp, "%s/e.json", dir);
    clmd_jv *got = clmd_jv_load(jp), *ref = clmd_jv_load(refp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    const clmd_jv *en = clmd_jv_get(got, "energies");
    double scale = 0;
    for (int k = 0; k < en->n; k++)
        if (strcmp(en->key[k], "total") != 0) scale += fabs(clmd_jv_num(en->item[k], 0));
    ASSERT_REL(clmd_jv_num(clmd_jv_get(en, "total"), NAN), clmd_jv_num(clmd_jv_get(ref, "energy"), NAN),
               1e-5, scale, "total energy vs OpenMM (relative to the sum of |terms|)",
               "issue tolerance for PME at 1e-6");
    const clmd_jv *pme = clmd_jv_get(got, "pme"), *rpme = clmd_jv_get(ref, "pme");
    ASSERT_REL(clmd_jv_num(clmd_jv_get(pme, "alpha"), 0), clmd_jv_num(clmd_jv_get(rpme, "alpha"), 1),
               1e-12, 0, "PME alpha vs OpenMM's", "the same formula (last-digit rounding only)");
    double *f = NULL, *fref = NULL;
    int n = clmd_jv_vec3s(clmd_jv_get(got, "forces"), &f);
    int nr = clmd_jv_vec3s(clmd_jv_get(ref, "forces_spread"), &fref);
    CU_ASSERT_EQUAL_FATAL(n, nr);
    for (int i = 3; i < n; i += 4) /* M sites report zero after spreading */
        CU_ASSERT(f[3 * i] == 0 && f[3 * i + 1] == 0 && f[3 * i + 2] == 0);
    ASSERT_BELOW(clmd_force_rms_rel(f, fref, n), ftol, "force RMS relative error vs OpenMM (spread)");
    free(f);
    free(fref);
    clmd_jv_free(got);
    clmd_jv_free(ref);
}

static void eval_tip4pew_opencl(void) { eval_tip4pew("auto", 1e-5); }
static void eval_tip4pew_reference(void) { eval_tip4pew("reference", 1e-7); }

static const char *SMALL_ARGON =
    "title: small argon\n"
    "system: {builtin: lj_fcc, cells: 6, reduced_density: 0.8442}\n"
    "nonbonded: {method: cutoff, cutoff: 0.85, switch_distance: 0.75}\n"
    "velocities: {temperature: 120, seed: 3}\n";

static void bad_input_exits_1_naming_line_and_key(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "bad.yaml",
                                  "system: {builtin: lj_fcc, cells: 4}\n"
                                  "nonbonded:\n  method: cutoff\n  cutof: 0.9\n");
    char args[4200], *out = NULL;
    snprintf(args, sizeof args, "run %s", deck);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad.yaml:4:3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cutof"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "did you mean 'cutoff'"));
    free(out);
    /* missing deck, unknown option, missing file referenced by the deck */
    CU_ASSERT_EQUAL(run_clmd("run /nonexistent/deck.yaml", NULL), 1);
    snprintf(args, sizeof args, "run %s --frobnicate", deck);
    CU_ASSERT_EQUAL(run_clmd(args, NULL), 1);
    deck = write_deck(dir, "nofile.yaml", "system: {coordinates: missing.pdb, forcefield: missing.yaml}\n");
    snprintf(args, sizeof args, "check %s", deck);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "missing.pdb"));
    free(out);
}

static void unknown_device_exits_2_and_points_at_devices(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "a.yaml", SMALL_ARGON);
    char args[4200], *out = NULL;
    snprintf(args, sizeof args, "run %s --steps 1 --device nosuchplatform --quiet", deck);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "clmd devices"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--device reference"));
    free(out);
    CU_ASSERT_EQUAL(run_clmd("devices", &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "reference"));
    free(out);
}

static void existing_outputs_are_never_overwritten_unless_asked(void)
{
    const char *dir = clmd_test_tmpdir();
    char text[4096];
    snprintf(text, sizeof text, "%soutput: {directory: out, energies: {file: e.csv, interval: 5}}\n",
             SMALL_ARGON);
    const char *deck = write_deck(dir, "a.yaml", text);
    char args[4200], path[4200], *out = NULL;
    snprintf(path, sizeof path, "%s/out/e.csv", dir);
    snprintf(args, sizeof args, "run %s --steps 10 --quiet", deck);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    struct stat st1, st2;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st1), 0);
    /* second run refuses and leaves the file alone */
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "exists"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--overwrite"));
    free(out);
    CU_ASSERT_EQUAL(stat(path, &st2), 0);
    CU_ASSERT_EQUAL(st1.st_size, st2.st_size);
    snprintf(args, sizeof args, "run %s --steps 10 --quiet --overwrite", deck);
    CU_ASSERT_EQUAL(run_clmd(args, NULL), 0);
}

/* Reads a dataset of doubles or floats from an HDF5 file into a new double array. */
static double *read_h5(const char *file, const char *name, hsize_t *count)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        H5Fclose(f);
        return NULL;
    }
    hid_t sp = H5Dget_space(d);
    *count = (hsize_t)H5Sget_simple_extent_npoints(sp);
    double *v = calloc(*count, sizeof *v);
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static double *ckpt_array(const char *path, const char *name, int n)
{
    clmd_ckpt_reader *r = NULL;
    clmd_err err = {0};
    double *x = clmd_calloc(3 * (size_t)n, sizeof(double));
    if (clmd_ckpt_reader_open(path, &r, &err) ||
        clmd_ckpt_get(r, name, CLMD_CKPT_F64, x, 3 * (size_t)n, &err)) {
        printf("\n  %s\n", err.msg);
        clmd_free(x);
        x = NULL;
    }
    clmd_ckpt_reader_close(&r);
    return x;
}

/* Two runs of the same deck give the same bits; a run restarted from its checkpoint at the
 * midpoint ends on the same bits as the straight run; the trajectory holds the positions. */
static void runs_are_deterministic_and_restart_bit_for_bit(void)
{
    const char *dir = clmd_test_tmpdir();
    const int n = 4 * 6 * 6 * 6;
    char text[4096];
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof text,
                 "%sintegrator: {type: langevin, timestep: 0.005, temperature: 120, steps: 200}\n"
                 "output: {directory: run%d, trajectory: {file: t.h5, interval: 100},\n"
                 "         checkpoint: {file: c.chk, interval: 100}, energies: null}\n",
                 SMALL_ARGON, k);
        char name[32];
        snprintf(name, sizeof name, "d%d.yaml", k);
        write_deck(dir, name, text);
    }
    char args[8600], *out = NULL;
    snprintf(args, sizeof args, "run %s/d0.yaml --quiet", dir);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, &out), 0);
    free(out);
    snprintf(args, sizeof args, "run %s/d1.yaml --quiet", dir);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    /* run 2: stop at 100 steps, then restart from its checkpoint to 200 */
    snprintf(args, sizeof args, "run %s/d2.yaml --quiet --steps 100", dir);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    char ck[4200], ck2[4300];
    snprintf(ck, sizeof ck, "%s/run2/c.chk", dir);
    snprintf(ck2, sizeof ck2, "%s/run2/mid.chk", dir);
    CU_ASSERT_EQUAL_FATAL(rename(ck, ck2), 0);
    snprintf(args, sizeof args, "run %s/d2.yaml --quiet --overwrite --restart %s", dir, ck2);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, &out), 0);
    free(out);
    double *x[3], *v[3];
    for (int k = 0; k < 3; k++) {
        snprintf(ck, sizeof ck, "%s/run%d/c.chk", dir, k);
        x[k] = ckpt_array(ck, "positions", n);
        v[k] = ckpt_array(ck, "velocities", n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(x[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[k]);
    }
    CU_ASSERT_EQUAL(memcmp(x[0], x[1], sizeof(double) * 3 * n), 0);
    CU_ASSERT_EQUAL(memcmp(v[0], v[1], sizeof(double) * 3 * n), 0);
    CU_ASSERT_EQUAL(memcmp(x[0], x[2], sizeof(double) * 3 * n), 0);
    CU_ASSERT_EQUAL(memcmp(v[0], v[2], sizeof(double) * 3 * n), 0);
    /* the last trajectory frame equals the final positions (stored as float) */
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/run0/t.h5", dir);
    hsize_t count = 0;
    double *traj = read_h5(tp, "/particles/all/position/value", &count);
    CU_ASSERT_PTR_NOT_NULL_FATAL(traj);
    CU_ASSERT_EQUAL(count, (hsize_t)3 * 3 * n); /* frames at 0, 100, 200 */
    double worst = 0;
    for (int i = 0; i < 3 * n; i++) worst = fmax(worst, fabs(traj[6 * n + i] - x[0][i]));
    ASSERT_BELOW(worst, 1e-5, "last trajectory frame vs final positions (float storage)");
    free(traj);
    for (int k = 0; k < 3; k++) {
        clmd_free(x[k]);
        clmd_free(v[k]);
    }
}

/* Reads columns of the energies CSV: returns rows; time and the named column. */
static int read_csv(const char *path, const char *col, double *t, double *val, int max)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[8192];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    int want = -1, k = 0;
    for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), k++)
        if (strcmp(tok, col) == 0) want = k;
    int rows = 0;
    while (rows < max && fgets(line, sizeof line, f)) {
        k = 0;
        for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), k++) {
            if (k == 1) t[rows] = strtod(tok, NULL);
            if (k == want) val[rows] = strtod(tok, NULL);
        }
        rows++;
    }
    fclose(f);
    return want < 0 ? -1 : rows;
}

/* Least-squares slope of y(t) over the rows with t >= tmin; *mean gets the mean of y there. */
static double slope_after(const double *t, const double *y, int rows, double tmin, double *mean)
{
    double st = 0, sy = 0, stt = 0, sty = 0;
    int m = 0;
    for (int i = 0; i < rows; i++) {
        if (t[i] < tmin) continue;
        st += t[i];
        sy += y[i];
        stt += t[i] * t[i];
        sty += t[i] * y[i];
        m++;
    }
    if (mean) *mean = m ? sy / m : 0;
    return m > 1 ? (m * sty - st * sy) / (m * stt - st * st) : 0;
}

/* NVE: 2,048 argon atoms, LJ switched smoothly to zero at the cutoff (so the energy has no
 * jumps), velocity Verlet at 4 fs for 20 ps. Bound: |drift| below 5e-5 kJ/mol/ps per atom, 100x
 * under the 0.005 kJ/mol/ps per particle that GROMACS tolerates from its pair-list buffer. With
 * mixed-precision integration and a complete list, clmd measures ~1e-9; a stale neighbor list,
 * a half-step error or inconsistent forces and energies each exceed the bound. */
static void nve_energy_drift_is_small(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "nve.yaml",
        "system: {builtin: lj_fcc, cells: 8, reduced_density: 0.8442}\n"
        "nonbonded: {method: cutoff, cutoff: 0.85, switch_distance: 0.7, neighbor_skin: 0.1}\n"
        "velocities: {temperature: 100, seed: 5}\n"
        "integrator: {type: verlet, timestep: 0.004, steps: 5000}\n"
        "output: {directory: out, energies: {file: e.csv, interval: 50}}\n");
    char args[4200], path[4200];
    snprintf(args, sizeof args, "run %s --quiet", deck);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    snprintf(path, sizeof path, "%s/out/e.csv", dir);
    static double t[200], e[200];
    int rows = read_csv(path, "total", t, e, 200);
    CU_ASSERT_FATAL(rows > 50);
    /* after 2 ps of equilibration (the lattice melts first) */
    double slope = slope_after(t, e, rows, 2.0, NULL);
    double per_atom = slope / 2048;
    printf("\n  NVE drift: %.3g kJ/mol/ps total, %.3g kJ/mol/ps per atom over %d rows", slope,
           per_atom, rows);
    ASSERT_BELOW(fabs(per_atom), 5e-5, "|energy drift| per atom (kJ/mol/ps)");
}

/* NVE with GBSA/OBC2 and hbonds constraints: the 697-atom protein, minimized, velocity Verlet
 * at 2 fs for 4 ps. The first 0.5 ps are left out (a minimized structure given 300 K velocities
 * swings between kinetic and potential energy, and Verlet's energy error swings with it).
 * Measured: device ~90 and double reference ~180 kJ/mol/ns over 3.5 ps, i.e. 7-15% of the
 * kinetic energy per ns with a 10 kJ/mol range, the noise of so short a slope; bound 30%. A
 * lost constraint, an inconsistent force or a broken Born-radius chain rule drifts by whole
 * kinetic energies per ns. */
static void nve_gbsa_with_constraints_drift_is_bounded(void)
{
    const char *prmtop = clmd_test_data("systems/lcpo_test.prmtop");
    const char *inpcrd = clmd_test_data("systems/lcpo_test.inpcrd");
    if (!prmtop || !inpcrd) CLMD_SKIP_DATA("lcpo_test.prmtop/.inpcrd not found (CLMD_TEST_DATA)");
    char p1[4096], text[16384];
    snprintf(p1, sizeof p1, "%s", prmtop);
    const char *dir = clmd_test_tmpdir();
    snprintf(text, sizeof text,
             "system: {amber: {prmtop: %s, inpcrd: %s}}\n"
             "nonbonded: {method: nocutoff}\n"
             "implicit_solvent: {model: obc2}\n"
             "constraints: hbonds\n"
             "minimize: {max_steps: 200, tolerance: 50}\n"
             "velocities: {temperature: 300, seed: 3}\n"
             "integrator: {type: verlet, timestep: 0.002, steps: 2000}\n"
             "output: {directory: out, energies: {file: e.csv, interval: 20}}\n",
             p1, inpcrd);
    const char *deck = write_deck(dir, "gb.yaml", text);
    char args[8192], path[4200], *out = NULL;
    snprintf(args, sizeof args, "run %s --quiet", deck);
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(path, sizeof path, "%s/out/e.csv", dir);
    static double t[200], e[200], k[200];
    int rows = read_csv(path, "total", t, e, 200);
    CU_ASSERT_FATAL(read_csv(path, "kinetic", t, k, 200) == rows && rows > 90);
    double ke;
    double slope = slope_after(t, e, rows, 0.5, NULL) * 1000; /* kJ/mol/ns */
    slope_after(t, k, rows, 0.5, &ke);
    printf("\n  NVE GBSA protein, hbonds: drift %.3g kJ/mol/ns, <KE> %.1f kJ/mol (%.3g of KE per ns)",
           slope, ke, slope / ke);
    ASSERT_BELOW(fabs(slope) / ke, 0.3, "|drift| / <KE> per ns");
}

/* Langevin at 120 K: the mean temperature over 10 ps after 2 ps of equilibration is within 2%
 * of the bath (the standard error of that mean is about 0.3%). */
static void langevin_mean_temperature_within_2_percent(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "nvt.yaml",
        "system: {builtin: lj_fcc, cells: 8, reduced_density: 0.8442}\n"
        "nonbonded: {method: cutoff, cutoff: 0.85}\n"
        "velocities: {temperature: 120, seed: 9}\n"
        "integrator: {type: langevin, timestep: 0.005, temperature: 120, friction: 5.0, steps: 2400}\n"
        "output: {directory: out, energies: {file: e.csv, interval: 10}}\n");
    char args[4200], path[4200];
    snprintf(args, sizeof args, "run %s --quiet", deck);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    snprintf(path, sizeof path, "%s/out/e.csv", dir);
    static double t[400], T[400];
    int rows = read_csv(path, "temperature_K", t, T, 400);
    CU_ASSERT_FATAL(rows > 100);
    double sum = 0;
    int m = 0;
    for (int i = 0; i < rows; i++)
        if (t[i] >= 2.0) {
            sum += T[i];
            m++;
        }
    printf("\n  mean temperature %.3f K over %d samples", sum / m, m);
    ASSERT_REL(sum / m, 120.0, 0.02, 0, "mean temperature (K)", "Langevin bath at 120 K, 2% bound");
}


/* Byte-for-byte equality of two files (1 equal, 0 not, -1 unreadable). */
static int same_file(const char *a, const char *b)
{
    char *ta = NULL, *tb = NULL;
    size_t na = 0, nb = 0;
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int r = -1;
    if (fa && fb) {
        fseek(fa, 0, SEEK_END);
        fseek(fb, 0, SEEK_END);
        na = (size_t)ftell(fa);
        nb = (size_t)ftell(fb);
        rewind(fa);
        rewind(fb);
        ta = malloc(na + 1);
        tb = malloc(nb + 1);
        r = na == nb && fread(ta, 1, na, fa) == na && fread(tb, 1, nb, fb) == nb &&
            memcmp(ta, tb, na) == 0;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    free(ta);
    free(tb);
    return r;
}

/* The deck of the restart tests: outputs in folder `out`, `steps` steps. */
static const char *restart_deck(const char *dir, const char *name, const char *out, long steps,
                                const char *dt)
{
    char text[4096];
    snprintf(text, sizeof text,
             "%sintegrator: {type: langevin, timestep: %s, temperature: 120, steps: %ld}\n"
             "output: {directory: %s, energies: {file: e.csv, interval: 20},\n"
             "         trajectory: {file: t.h5, interval: 50}, checkpoint: {file: c.chk, interval: 100}}\n",
             SMALL_ARGON, dt, steps, out);
    return write_deck(dir, name, text);
}

static int outputs_equal(const char *dir, const char *a, const char *b)
{
    char pa[4200], pb[4200], args[9000];
    int ok = 1;
    const char *files[2] = {"e.csv", "c.chk"};
    for (int k = 0; k < 2; k++) {
        snprintf(pa, sizeof pa, "%s/%s/%s", dir, a, files[k]);
        snprintf(pb, sizeof pb, "%s/%s/%s", dir, b, files[k]);
        int same = same_file(pa, pb);
        if (same != 1) printf("\n  %s differs from %s", pa, pb);
        ok = ok && same == 1;
    }
    /* the trajectory's datasets (values, not the file's bytes) */
    static const char *const sets[] = {"/particles/all/position/step", "/particles/all/position/time",
                                       "/particles/all/position/value", "/particles/all/box/edges/value",
                                       "/observables/potential_energy/value",
                                       "/observables/temperature/value"};
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        snprintf(pa, sizeof pa, "%s/%s/t.h5", dir, a);
        snprintf(pb, sizeof pb, "%s/%s/t.h5", dir, b);
        hsize_t na = 0, nb = 0;
        double *va = read_h5(pa, sets[k], &na), *vb = read_h5(pb, sets[k], &nb);
        int same = va && vb && na == nb && memcmp(va, vb, sizeof(double) * na) == 0;
        if (!same) printf("\n  the trajectories differ in %s (%llu and %llu values)", sets[k],
                          (unsigned long long)na, (unsigned long long)nb);
        ok = ok && same;
        free(va);
        free(vb);
    }
    (void)args;
    return ok;
}

/* A run cut at step 150 whose last checkpoint is at 100, restarted from that checkpoint, ends
 * with outputs identical to the uninterrupted run's: the log and trajectory keep what precedes
 * the checkpoint, lose what followed it, and go on; no --overwrite is needed. */
static void restart_continues_the_outputs(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *whole = restart_deck(dir, "whole.yaml", "whole", 300, "0.005");
    char args[9000], *out = NULL;
    /* (write_deck's path buffer is reused: each path is used before the next deck is written) */
    snprintf(args, sizeof args, "run %s --quiet --device reference", whole);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    const char *cut = restart_deck(dir, "cut.yaml", "cut", 300, "0.005");
    snprintf(args, sizeof args, "run %s --quiet --device reference --steps 100", cut);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    snprintf(args, sizeof args, "cp %s/cut/c.chk %s/mid.chk", dir, dir);
    CU_ASSERT_EQUAL_FATAL(system(args), 0);
    /* on to 150: rows and frames after the checkpoint that a kill would leave behind */
    snprintf(args, sizeof args, "run %s --quiet --device reference --steps 150 --restart %s/mid.chk",
             cut, dir);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, &out), 0);
    free(out);
    snprintf(args, sizeof args, "run %s --quiet --device reference --restart %s/mid.chk", cut, dir);
    int rc = run_clmd(args, &out);
    if (rc) printf("\n%s", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(outputs_equal(dir, "whole", "cut"));
}

/* SIGINT: the run finishes its step, writes a checkpoint, keeps its outputs and exits 2; the
 * restart from that checkpoint ends identical to the uninterrupted run. */
static void interrupt_checkpoints_and_the_restart_continues(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *whole = restart_deck(dir, "whole.yaml", "whole", 3000, "0.005");
    char args[9000], *out = NULL;
    snprintf(args, sizeof args, "run %s --quiet --device reference", whole);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    const char *cut = restart_deck(dir, "cut.yaml", "cut", 3000, "0.005");
    snprintf(cmd, sizeof cmd,
             "%s run %s --quiet --device reference 2>&1 & pid=$!; sleep 1; kill -INT $pid; wait $pid",
             clmd_test_binary(), cut);
    int rc = clmd_test_run(cmd, &out);
    if (rc != 2) printf("\n  exit %d: %s", rc, out);
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "interrupted at step"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--restart"));
    free(out);
    snprintf(args, sizeof args, "run %s --quiet --device reference --restart %s/cut/c.chk", cut, dir);
    rc = run_clmd(args, &out);
    if (rc) printf("\n%s", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(outputs_equal(dir, "whole", "cut"));
}

/* A restart must continue the same simulation: another time step, or an end before the
 * checkpoint, is refused naming the key. */
static void restart_refuses_another_simulation(void)
{
    const char *dir = clmd_test_tmpdir();
    char deck[4096];
    snprintf(deck, sizeof deck, "%s", restart_deck(dir, "a.yaml", "a", 100, "0.005"));
    char args[9000], *out = NULL;
    snprintf(args, sizeof args, "run %s --quiet --device reference", deck);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    const char *other = restart_deck(dir, "b.yaml", "a", 200, "0.004");
    snprintf(args, sizeof args, "run %s --quiet --device reference --restart %s/a/c.chk", other, dir);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "b.yaml:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "integrator.timestep"));
    free(out);
    snprintf(args, sizeof args, "run %s --quiet --device reference --steps 50 --restart %s/a/c.chk",
             deck, dir);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "integrator.steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "step 100"));
    free(out);
}

/* --help and unknown commands; device names in any case. */
static void help_and_usage(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(run_clmd("--help", &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "clmd run"));
    free(out);
    CU_ASSERT_EQUAL(run_clmd("run -h", &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "--restart"));
    free(out);
    CU_ASSERT_EQUAL(run_clmd("frobnicate x.yaml", &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown command 'frobnicate'"));
    free(out);
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "a.yaml", SMALL_ARGON);
    char args[4200];
    snprintf(args, sizeof args, "run %s --steps 2 --quiet --device REFERENCE", deck);
    CU_ASSERT_EQUAL(run_clmd(args, NULL), 0);
}

/* A system larger than the memory it may use is refused up front (exit 2, with the numbers),
 * never aborted half-way. CLMD_MEMORY_LIMIT_MB stands for a small machine. */
static void too_large_a_system_is_refused_before_it_allocates(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "a.yaml", "system: {builtin: lj_fcc, cells: 20}\n");
    char args[4300], *out = NULL;
    snprintf(cmd, sizeof cmd, "CLMD_MEMORY_LIMIT_MB=20 %s run %s --steps 2 --quiet", clmd_test_binary(),
             deck);
    CU_ASSERT_EQUAL(clmd_test_run(cmd, &out), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "needs about"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "32000 particles"));
    free(out);
    snprintf(args, sizeof args, "run %s --steps 2 --quiet --overwrite", deck);
    CU_ASSERT_EQUAL(run_clmd(args, NULL), 0);
}

/* check validates what run would refuse, with file:line:column and key; eval keeps its JSON. */
static void check_refuses_what_run_refuses(void)
{
    const char *dir = clmd_test_tmpdir();
    const char *deck = write_deck(dir, "big.yaml",
                                  "system: {builtin: lj_fcc, cells: 4}\n"
                                  "nonbonded:\n  method: cutoff\n  cutoff: 1.2\n");
    char args[4200], *out = NULL;
    snprintf(args, sizeof args, "check %s", deck);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "big.yaml:4:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nonbonded.cutoff"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "half the box"));
    free(out);
    deck = write_deck(dir, "dev.yaml", "system: {builtin: lj_fcc, cells: 4}\ndevice: nosuchdevice\n");
    snprintf(args, sizeof args, "check %s", deck);
    CU_ASSERT_NOT_EQUAL(run_clmd(args, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "key 'device'"));
    free(out);
    deck = write_deck(dir, "ok.yaml", SMALL_ARGON);
    snprintf(args, sizeof args, "eval %s --json %s/e.json --device reference", deck, dir);
    CU_ASSERT_EQUAL_FATAL(run_clmd(args, NULL), 0);
    CU_ASSERT_EQUAL(run_clmd(args, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "exists"));
    free(out);
    snprintf(args, sizeof args, "eval %s --json %s/e.json --device reference --overwrite", deck, dir);
    CU_ASSERT_EQUAL(run_clmd(args, NULL), 0);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"eval: argon with dispersion correction (OpenCL) matches OpenMM", eval_argon_dispersion_on_opencl},
        {"eval: argon without dispersion correction (OpenCL) matches OpenMM", eval_argon_dispersion_off_opencl},
        {"eval: argon on the reference matches OpenMM", eval_argon_reference},
        {"eval: switched argon (OpenCL) matches OpenMM", eval_argon_switched_opencl},
        {"eval: switched argon on the reference matches OpenMM", eval_argon_switched_reference},
        {"eval: TIP4P-Ew water box with PME (OpenCL) matches OpenMM", eval_tip4pew_opencl},
        {"eval: TIP4P-Ew water box with PME on the reference matches OpenMM", eval_tip4pew_reference},
        {"bad input exits 1 naming line, column and key", bad_input_exits_1_naming_line_and_key},
        {"unknown device exits 2 and points at clmd devices", unknown_device_exits_2_and_points_at_devices},
        {"existing outputs are never overwritten unless asked", existing_outputs_are_never_overwritten_unless_asked},
        {"runs are deterministic and restart bit for bit", runs_are_deterministic_and_restart_bit_for_bit},
        {"NVE energy drift is small", nve_energy_drift_is_small},
        {"Langevin mean temperature within 2%", langevin_mean_temperature_within_2_percent},
        {"NVE with GBSA and hbonds constraints: drift bounded", nve_gbsa_with_constraints_drift_is_bounded},
        {"restart continues the outputs identically", restart_continues_the_outputs},
        {"interrupt checkpoints and the restart continues", interrupt_checkpoints_and_the_restart_continues},
        {"restart refuses another simulation naming the key", restart_refuses_another_simulation},
        {"help and usage", help_and_usage},
        {"check refuses what run refuses", check_refuses_what_run_refuses},
        {"too large a system is refused before it allocates", too_large_a_system_is_refused_before_it_allocates},
        {NULL, NULL}};
    return clmd_test_main("cli", tests, argc, argv);
}
