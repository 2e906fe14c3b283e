/* Suite: the pair list on GPUs' terms, run on any OpenCL device. With the lagged check (flag
 * words read asynchronously and judged `lag` steps later, CLMD_LIST_LAG) and the overlapped
 * search (the next list built on host threads from a snapshot while the device goes on,
 * CLMD_LIST_OVERLAP), the list must stay exact: at every sampled step the forces from the list
 * in use equal those from a list built at that moment (only the float summation order differs),
 * no rebuild comes late, overlapped builds do happen, and a run restarted from a checkpoint taken
 * while an overlapped build was in flight repeats the straight run bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine.h"
#include "md/engine_impl.h"
#include "probe/probe.h"
#include "nlist/nlist.h"
#include "nlist/pairlist.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"
#include "testutil.h"

/* Pairs within the cutoff at positions x (minimum image), excluded pairs left out: brute force. */
static long pairs_within(const clmd_system *s, const double *x, const double b[3][3], double rc)
{
    long count = 0;
    const double rc2 = rc * rc;
    for (int i = 0; i < s->n; i++)
        for (int j = i + 1; j < s->n; j++) {
            double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
            clmd_box_min_image(b, d);
            if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < rc2 && !clmd_system_excluded(s, i, j)) count++;
        }
    return count;
}

/* Pairs within the cutoff at positions x in the device's inner list of tiles (the list the
 * last evaluation read; minimum image), -1 if the engine keeps no such list. */
static long inner_tile_pairs_within(clmd_engine *e, const double *x, const double b[3][3], double rc)
{
    const clmd_dev *d = &e->dev;
    if (!d->nl_prune || !d->nl_tiles) return -1;
    const int nc = d->nl_nclusters;
    int *ca = clmd_calloc(8 * (size_t)nc, sizeof *ca), *start = clmd_calloc((size_t)nc + 1, sizeof *start),
        *cnt = clmd_calloc((size_t)nc, sizeof *cnt);
    clmd_err err = {0};
    long count = -2;
    if (clmd_ocl_read(d->ocl, d->nl_cluster_atoms, 0, sizeof *ca * 8 * (size_t)nc, ca, &err) ||
        clmd_ocl_read(d->ocl, d->nl_jstart, 0, sizeof *start * ((size_t)nc + 1), start, &err) ||
        clmd_ocl_read(d->ocl, d->nl_icount, 0, sizeof *cnt * (size_t)nc, cnt, &err))
        goto done;
    unsigned *tiles = clmd_calloc(4 * (size_t)start[nc] + 4, sizeof *tiles);
    if (clmd_ocl_read(d->ocl, d->nl_ijlist, 0, sizeof *tiles * 4 * (size_t)start[nc], tiles, &err)) {
        clmd_free(tiles);
        goto done;
    }
    count = 0;
    for (int c = 0; c < nc; c++)
        for (int t = start[c]; t < start[c] + cnt[c]; t++) {
            const unsigned *tl = tiles + 4 * (size_t)t;
            for (int m = 0; m < 8; m++)
                for (int l = 0; l < 8; l++) {
                    if (!((tl[1 + m / 4] >> (8 * (m % 4) + l)) & 1u)) continue;
                    const int i = ca[8 * c + l], j = ca[8 * tl[0] + m];
                    double r[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
                    clmd_box_min_image(b, r);
                    if (r[0] * r[0] + r[1] * r[1] + r[2] * r[2] < rc * rc) count++;
                }
        }
    clmd_free(tiles);
done:
    clmd_free(ca);
    clmd_free(start);
    clmd_free(cnt);
    return count;
}

/* gpu: the GPU kernels (on any device), which read the half list of cluster pairs (tiles)
 * unless CLMD_LIST_TILES=0 is set; prune: with the lagged check they read an inner list pruned
 * on the device (the forces must be as exact, and no prune may come late). */
static void exact_list(int lag, int overlap, int gpu, int prune)
{
    clmd_system *s = clmd_test_ala2_water();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    char v[16];
    snprintf(v, sizeof v, "%d", lag);
    setenv("CLMD_LIST_LAG", v, 1);
    snprintf(v, sizeof v, "%d", overlap);
    setenv("CLMD_LIST_OVERLAP", v, 1);
    if (gpu) setenv("CLMD_GPU_KERNELS", "1", 1);
    setenv("CLMD_LIST_PRUNE", prune ? "4" : "0", 1);
    clmd_ffopts fo;
    clmd_ffopts_defaults(&fo);
    fo.method = CLMD_NB_PME;
    fo.cutoff_nm = 0.9;
    fo.skin_auto = gpu; /* pruned lists have tuned buffers */
    fo.list_tolerance = 0; /* exact lists (GPUs default to drift-sized ones) */
    fo.skin_nm = 0.2;
    clmd_engine_opts eo;
    clmd_engine_opts_defaults(&eo);
    snprintf(eo.device, sizeof eo.device, "auto");
    eo.temperature_K = 300;
    eo.dt_ps = 0.002;
    clmd_probe *probe = clmd_probe_create(1);
    clmd_engine *e = NULL, *fresh = NULL;
    clmd_err err = {0};
    int rc = clmd_engine_create(s, &fo, &eo, probe, &e, &err);
    unsetenv("CLMD_LIST_LAG");
    unsetenv("CLMD_LIST_OVERLAP");
    unsetenv("CLMD_GPU_KERNELS");
    unsetenv("CLMD_LIST_PRUNE");
    /* the judge: an engine of the device's own kernels that gets the positions and builds its
     * list from them (every kernel computes a shifted pair's distance antisymmetrically, so
     * the entries kernels, which see each pair from both sides, and the tiles kernel make the
     * same cutoff decision even for a pair within rounding of the cutoff) */
    if (!rc) rc = clmd_engine_create(s, &fo, &eo, NULL, &fresh, &err);
    if (rc && strstr(err.msg, "OpenCL")) {
        clmd_system_destroy(&s);
        clmd_probe_destroy(&probe);
        CLMD_SKIP("no OpenCL device");
    }
    CU_ASSERT_FATAL(rc == CLMD_OK);
    CU_ASSERT_EQUAL(e->lag, lag);
    CU_ASSERT_EQUAL(e->overlap, lag > 0 ? overlap : 0);
    CU_ASSERT_EQUAL(clmd_pairlist_prunes(e->pl), prune && lag > 0);
    const char *tl = getenv("CLMD_LIST_TILES");
    /* tiles wherever the GPU kernels run: asked for, or on a GPU */
    CU_ASSERT_EQUAL(e->dev.nl_tiles, (gpu || clmd_ocl_is_gpu(e->dev.ocl)) && !(tl && strcmp(tl, "0") == 0));
    if (e->dev.nl_tiles && getenv("CLMD_TILE_SPLIT"))
        CU_ASSERT(e->dev.nl_split > 0 && e->dev.nl_ntasks > e->dev.nl_nclusters);
    const int n = s->n;
    double *f = clmd_calloc(3 * (size_t)n, sizeof *f), *g = clmd_calloc(3 * (size_t)n, sizeof *g);
    double *x = clmd_calloc(3 * (size_t)n, sizeof *x);
    double worst = 0;
    long missing = 0, missing_inner = 0;
    /* 600 steps in pieces of 7 (so that samples fall at every phase of a list's life) */
    for (int k = 0; k < 85; k++) {
        if (clmd_engine_step(e, 7, 0, &err) || clmd_engine_evaluate(e, NULL, f, &err) ||
            clmd_engine_get_positions(e, x, &err) || clmd_engine_set_positions(fresh, x, &err) ||
            clmd_engine_rebuild_list(fresh, &err) || clmd_engine_evaluate(fresh, NULL, g, &err)) {
            printf("\n  step %ld: %s", clmd_engine_state(e)->step, err.msg);
            CU_FAIL_FATAL("a step, an evaluation or a list build failed");
        }
        worst = fmax(worst, clmd_force_rms_rel(f, g, n));
        /* every pair within the cutoff now is in the list in use */
        const double(*b)[3] = (const double(*)[3])clmd_engine_state(e)->box;
        long listed = clmd_nlist_for_each_pair(clmd_pairlist_host(e->pl), x, b, fo.cutoff_nm, NULL, NULL);
        const long within = pairs_within(s, x, b, fo.cutoff_nm);
        missing += within - listed;
        /* and in the inner list the evaluation read */
        const long inner = inner_tile_pairs_within(e, x, b, fo.cutoff_nm);
        if (inner != -1) {
            if (inner != within)
                printf("\n  step %ld: %ld pairs within the cutoff, %ld in the inner list",
                       clmd_engine_state(e)->step, within, inner);
            missing_inner += within - inner;
        }
    }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(missing_inner, 0);
    clmd_free(x);
    clmd_engine_destroy(&fresh);
    printf("\n  lag %d, overlap %d%s%s: %ld lists, %ld overlapped, %ld late; %ld prunes, %ld late; "
           "forces of the list in use vs a fresh one: %.3g rms relative; pairs within the cutoff "
           "missing: %ld", lag, overlap, gpu ? ", GPU kernels" : "",
           e->dev.nl_tiles ? " (tiles)" : "", clmd_engine_list_builds(e),
           clmd_probe_counter(probe, "nlist_overlapped_builds"),
           clmd_probe_counter(probe, "nlist_late_rebuilds"), clmd_probe_counter(probe, "nlist_prunes"),
           clmd_probe_counter(probe, "nlist_late_prunes"), worst, missing);
    /* a missed pair near the cutoff shows as ~1e-4 or more; summation order as ~1e-7 */
    ASSERT_BELOW(worst, 2e-6, "forces: list in use vs a fresh list (rms relative)");
    CU_ASSERT_EQUAL(clmd_probe_counter(probe, "nlist_late_rebuilds"), 0);
    if (lag > 0 && overlap > 0) CU_ASSERT(clmd_probe_counter(probe, "nlist_overlapped_builds") > 0);
    CU_ASSERT_EQUAL(clmd_probe_counter(probe, "nlist_late_prunes"), 0);
    /* pruned: more prunes than lists (the inner list is renewed within a list's life) */
    if (prune && lag > 0)
        CU_ASSERT(clmd_probe_counter(probe, "nlist_prunes") > clmd_engine_list_builds(e));
    clmd_free(f);
    clmd_free(g);
    clmd_engine_destroy(&e);
    clmd_probe_destroy(&probe);
    clmd_system_destroy(&s);
}

static void test_lag0(void) { exact_list(0, 0, 0, 0); }
static void test_lag2(void) { exact_list(2, 0, 0, 0); }
static void test_lag2_overlap(void) { exact_list(2, 6, 0, 0); }
static void test_lag4_overlap(void) { exact_list(4, 10, 0, 0); }
static void test_pruned(void) { exact_list(2, 6, 1, 1); }
/* the inner list of entries (the list kept where tiles are not: GB, a scaled region) */
static void test_pruned_entries(void)
{
    setenv("CLMD_LIST_TILES", "0", 1);
    exact_list(2, 6, 1, 1);
    unsetenv("CLMD_LIST_TILES");
}
static void test_tiles(void) { exact_list(2, 6, 1, 0); }
/* tiles handed to the kernel in pieces of at most 5 (CLMD_TILE_SPLIT): the same exactness */
static void test_tiles_split(void)
{
    setenv("CLMD_TILE_SPLIT", "5", 1);
    exact_list(2, 6, 1, 0);
    unsetenv("CLMD_TILE_SPLIT");
}

/* A run stopped at several steps (some while an overlapped build is in flight) and continued
 * from its checkpoint ends with the straight run's energies, byte for byte. */
static void restart_bitwise(const char *env, const char *skin, const int *cuts, int ncuts)
{
    const char *top = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-explicit.inpcrd");
    if (!top || !crd) CLMD_SKIP_DATA("alanine-dipeptide-explicit prmtop/inpcrd");
    char *out = NULL;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' devices", clmd_test_binary());
    if (clmd_test_run(cmd, &out) != 0 || !out || !strstr(out, "platform 0")) {
        free(out);
        CLMD_SKIP("no OpenCL device");
    }
    free(out);
    const char *dir = clmd_test_tmpdir();
    char deck[2][4096];
    for (int k = 0; k < 2; k++) {
        char text[8192];
        snprintf(text, sizeof text,
                 "title: list restart\n"
                 "system:\n  amber: {prmtop: %s, inpcrd: %s}\n"
                 "nonbonded: {method: pme, cutoff: 0.9, neighbor_skin: %s}\n"
                 "constraints: hbonds\n"
                 "integrator: {type: langevin, timestep: 0.002, temperature: 300, friction: 1.0, "
                 "steps: 300, seed: 1}\n"
                 "velocities: {temperature: 300, seed: 3}\n"
                 "output:\n  directory: %s\n  energies: {file: energies.csv, interval: 10}\n"
                 "  checkpoint: {file: state.chk, interval: 1000}\n"
                 "device: auto\n",
                 top, crd, skin, k == 0 ? "straight" : "cut");
        snprintf(deck[k], sizeof deck[k], "%s/%s.yaml", dir, k == 0 ? "straight" : "cut");
        CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(deck[k], text), 0);
    }
    /* output directories are relative to the deck's folder */
    char probe[4200];
    snprintf(probe, sizeof probe, "%.4000s/straight-probe.json", dir);
    snprintf(cmd, sizeof cmd, "%s '%.1000s' run '%.2000s' --quiet --probe-json '%.4100s'", env,
             clmd_test_binary(), deck[0], probe);
    CU_ASSERT_EQUAL_FATAL(clmd_test_run(cmd, NULL), 0);
    /* what the cuts fall between: the straight run's list builds and prunes */
    clmd_jv *pj = clmd_jv_load(probe);
    CU_ASSERT_FATAL(pj != NULL);
    const clmd_jv *cnt = clmd_jv_get(pj, "counters");
    long builds = (long)clmd_jv_num(clmd_jv_get(cnt, "nlist_overlapped_builds"), 0),
         prunes = (long)clmd_jv_num(clmd_jv_get(cnt, "nlist_prunes"), 0);
    clmd_jv_free(pj);
    printf("\n  straight run: %ld overlapped builds, %ld prunes", builds, prunes);
    if (!strstr(env, "LAG=0")) CU_ASSERT(builds > 0);
    if (strstr(env, "PRUNE=4")) CU_ASSERT(prunes > builds);
    if (strstr(env, "PRUNE=0")) CU_ASSERT_EQUAL(prunes, 0);
    for (int c = 0; c < ncuts; c++) {
        snprintf(cmd, sizeof cmd,
                 "%s '%.1000s' run '%.1000s' --quiet --overwrite --steps %d && %s '%.1000s' run "
                 "'%.1000s' --quiet --restart '%.1000s/cut/state.chk' && cmp -s "
                 "'%.1000s/straight/energies.csv' '%.1000s/cut/energies.csv'",
                 env, clmd_test_binary(), deck[1], cuts[c], env, clmd_test_binary(), deck[1], dir, dir,
                 dir);
        int rc = clmd_test_run(cmd, NULL);
        if (rc) printf("\n  cut at step %d: the continued run differs from the straight one", cuts[c]);
        CU_ASSERT_EQUAL(rc, 0);
    }
}

static void test_restart_bitwise(void)
{
    const int cuts[] = {97, 151, 173, 222};
    restart_bitwise("CLMD_LIST_LAG=2 CLMD_LIST_OVERLAP=6 CLMD_LIST_PRUNE=0",
                    "0.2, neighbor_tolerance: null", cuts, 4);
}

/* The same with the GPU kernels on tiles (the half list of cluster pairs, forces on j added
 * atomically in fixed point: the sums are exact integers whatever the order). */
static void test_restart_tiles(void)
{
    const int cuts[] = {97, 173};
    restart_bitwise("CLMD_GPU_KERNELS=1 CLMD_LIST_LAG=2 CLMD_LIST_OVERLAP=6 CLMD_LIST_PRUNE=0",
                    "auto, neighbor_tolerance: null", cuts, 2);
}

/* The same with the GPU kernels and the pruned inner list of tiles: a cut between prunes
 * continues with the inner list re-pruned from the positions of its prune. */
static void test_restart_pruned(void)
{
    const int cuts[] = {97, 173};
    restart_bitwise("CLMD_GPU_KERNELS=1 CLMD_LIST_LAG=2 CLMD_LIST_OVERLAP=6 CLMD_LIST_PRUNE=4",
                    "auto, neighbor_tolerance: null", cuts, 2);
}

/* Lists sized from the energy drift (neighbor_tolerance, set in the deck): renewed on a schedule
 * that a restart must continue, with the lagged check, overlapped builds and the device's
 * prunes; and on the blocking path (lag 0), where the checkpoint alone carries the schedule. */
static void test_restart_drift(void)
{
    const int cuts[] = {97, 173};
    restart_bitwise("CLMD_GPU_KERNELS=1 CLMD_LIST_LAG=2 CLMD_LIST_OVERLAP=6",
                    "auto, neighbor_tolerance: 0.005, neighbor_steps: 40", cuts, 2);
}

static void test_restart_drift_lag0(void)
{
    const int cuts[] = {97, 151};
    restart_bitwise("CLMD_LIST_LAG=0", "auto, neighbor_tolerance: 0.005, neighbor_steps: 30", cuts, 2);
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {{"blocking check, exact list", test_lag0},
                                      {"lag 2, exact list", test_lag2},
                                      {"lag 2 + overlapped search, exact list", test_lag2_overlap},
                                      {"lag 4 + overlapped search, exact list", test_lag4_overlap},
                                      {"restart bit for bit with overlapped builds", test_restart_bitwise},
                                      {"GPU kernels, pruned inner list of tiles, exact list", test_pruned},
                                      {"GPU kernels, pruned inner list of entries, exact list",
                                       test_pruned_entries},
                                      {"restart bit for bit with a pruned inner list", test_restart_pruned},
                                      {"GPU kernels on tiles, exact list", test_tiles},
                                      {"GPU kernels on tiles in pieces, exact list", test_tiles_split},
                                      {"restart bit for bit with tiles", test_restart_tiles},
                                      {"restart bit for bit, drift-sized lists", test_restart_drift},
                                      {"restart bit for bit, drift-sized lists, lag 0",
                                       test_restart_drift_lag0},
                                      {NULL, NULL}};
    return clmd_test_main("test_listsearch", tests, argc, argv);
}
