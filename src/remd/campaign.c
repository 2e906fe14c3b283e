#include "remd/campaign.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo.h"
#include "core/json.h"
#include "core/mem.h"
#include "ff/plan.h"
#include "io/checkpoint.h"
#include "io/energylog.h"
#include "io/h5md.h"
#include "io/outfile.h"
#include "io/pdbout.h"
#include "io/remdlog.h"
#include "md/barostat.h"
#include "md/engine.h"
#include "md/integrator.h"
#include "md/rng.h"
#include "ocl/ocl.h"
#include "probe/probe.h"
#include "remd/comm.h"
#include "remd/report.h"
#include "run/load.h"
#include "run/setup.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"

enum { CLMD_CAMPAIGN_MAX_DEVICES = 16 };

_Static_assert(CLMD_REMD_MAX_STATES == CLMD_MAX_REPLICAS, "one limit for ladders");

#define BAR_TO_KJ_NM3 (6.02214076e23 * 1e-25)
#define AMU_NM3_TO_G_CM3 1.66053906660e-3

enum { MAX_COLS = CLMD_E_NCOMP + 6 };

struct clmd_campaign {
    clmd_run_opts o;
    clmd_deck d;
    clmd_system *sys;
    clmd_probe *probe;
    const clmd_comm *comm;
    int K, first, count;        /* states = replicas; this rank's block of replicas */
    double T[CLMD_MAX_REPLICAS];
    /* The ladder: temperatures (T), or Hamiltonians at one temperature (lambda ladders, REST2's
     * solute temperatures): each state's region factors; `ladder` is what plots and reports show
     * (temperatures, the state index for lambdas, the solute's temperatures for REST2) */
    enum { LADDER_T, LADDER_LAMBDA, LADDER_REST2 } kind;
    clmd_region_scale scale[CLMD_MAX_REPLICAS];
    double ladder[CLMD_MAX_REPLICAS];
    const char *unit;
    double *urow;               /* [count * K] this rank's replicas' reduced energies (H-REMD) */
    double *uall;               /* [K * K] gathered */
    double P;                   /* barostat pressure (bar), < 0 without one */
    clmd_remd_scheme scheme;
    uint32_t key[2];            /* the exchange test's random stream */
    /* OpenCL devices of the deck's device list ("nvidia:0,nvidia:1"), shared by this rank's
     * engines: engine b of rank p runs on ocls[(p + b) % nocl] */
    clmd_ocl *ocls[CLMD_CAMPAIGN_MAX_DEVICES];
    int nocl;
    /* This rank's replicas run in neng engines: engine b holds local replicas
     * eng_first[b] .. eng_first[b + 1] - 1, as the copies of a batched system (system/replicate.c,
     * one launch per kernel for all) or, one replica per engine, the system itself. */
    int neng, per_engine, stride;   /* replicas per engine; particles per copy */
    clmd_engine **eng;          /* [neng] */
    clmd_system **bsys;         /* [neng] the batched systems (NULL: the engine runs sys) */
    int *eng_first;             /* [neng + 1] */
    int *rep_eng, *rep_seg;     /* [count] each local replica's engine and copy */
    double *xv;                 /* [3 * per_engine * stride] positions or velocities of an engine */
    const char *one_at_a_time;  /* why replicas run one at a time when batching was automatic */
    int use_input_v;            /* every replica starts from the input's velocities */
    int *state_of;              /* [K] */
    long round, interval, exchanges;
    long *prop, *acc, *rprop, *racc; /* [K*K] cumulative and of the last round */
    int *history;               /* [(round+1)*K]: the assignment at the start and after each round */
    long hist_cap;
    double *u;                  /* [K*K] */
    double *mine, *all;         /* row gathers: [count*per], [K*per] */
    int per;                    /* doubles per replica row */
    /* outputs (rank 0) */
    char ckpt[CLMD_PATH_MAX + 16], summary[CLMD_PATH_MAX + 16], rlog_path[CLMD_PATH_MAX + 32];
    char walk_svg[CLMD_PATH_MAX + 16], acc_svg[CLMD_PATH_MAX + 16];
    const char *probe_json;
    clmd_energylog **log;       /* [K] */
    clmd_h5md **h5;             /* [K] */
    clmd_remdlog *rlog;
    int nterms, ncols, col_comp[CLMD_E_NCOMP];
    const char *col_name[MAX_COLS + 1];
    double *frames;             /* [K*3n] rank 0, [count*3n] elsewhere */
    double *frame_mine;
    double total_mass;
    int restart, interrupted;
    double elapsed, t_md, t_exchange, t_io;
    long steps_done;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void where(const clmd_deck *d, clmd_mark m, const char *key, char *buf, size_t size)
{
    if (m.line > 0) snprintf(buf, size, "%s:%d:%d: key '%s'", d->path, m.line, m.column, key);
    else snprintf(buf, size, "%s: key '%s'", d->path, key);
}

const clmd_deck *clmd_campaign_deck(const clmd_campaign *c) { return &c->d; }
int clmd_campaign_rank(const clmd_campaign *c) { return c->comm->rank; }
int clmd_campaign_interrupted(const clmd_campaign *c) { return c->interrupted; }

/* ---- set-up ---- */

/* Engine b: its replicas' starting velocities (drawn at each replica's temperature, or the
 * input's), their baths (each replica's temperature and its own noise seed, which stays with the
 * replica through swaps), sharing the device; the barostat with one replica per engine. */
static int make_engine(clmd_campaign *c, int b, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    const int i0 = c->eng_first[b], k = c->eng_first[b + 1] - i0, r0 = c->first + i0;
    clmd_engine_opts eo;
    clmd_engine_opts_from_deck(d, &eo);
    eo.seed = d->integrator.seed + (unsigned long)r0;
    eo.temperature_K = c->T[r0];
    eo.ocl = c->nocl ? c->ocls[(c->comm->rank + b) % c->nocl] : NULL;
    clmd_ffopts fo;
    clmd_ffopts_from_deck(d, &fo);
    clmd_system *s = c->sys;
    const int n = s->n;
    double *v;
    CLMD_NEW(v, 3 * (size_t)n * k);
    for (int j = 0; j < k; j++) {
        const int r = r0 + j;
        if (c->use_input_v)
            memcpy(v + 3 * (size_t)n * j, s->v, sizeof(double) * 3 * (size_t)n);
        else
            clmd_draw_velocities(s, c->T[r], (d->velocities.given ? d->velocities.seed : 1) + (unsigned long)r,
                                 d->integrator.remove_com_motion, v + 3 * (size_t)n * j);
    }
    clmd_system *run = s;
    int rc = CLMD_OK;
    if (k > 1) { /* a batch (the last one may hold a single replica: that runs the system) */
        if ((rc = clmd_system_replicate(s, k, c->stride, &c->bsys[b], err))) {
            clmd_free(v);
            return rc;
        }
        run = c->bsys[b];
        if (!run->v) clmd_system_alloc_velocities(run);
        for (int j = 0; j < k; j++)
            memcpy(run->v + 3 * (size_t)c->stride * j, v + 3 * (size_t)n * j, sizeof(double) * 3 * (size_t)n);
    } else {
        /* the engine takes its state's velocities from the system when it is made */
        if (!s->v) clmd_system_alloc_velocities(s);
        memcpy(s->v, v, sizeof(double) * 3 * (size_t)n);
    }
    clmd_free(v);
    clmd_engine **e = &c->eng[b];
    if ((rc = clmd_engine_create(run, &fo, &eo, c->probe, e, err)))
        return clmd_err_prefix(err, "%s: replica %d", d->path, r0);
    for (int j = 0; j < k; j++) {
        clmd_engine_set_segment_bath(*e, j, c->T[r0 + j], d->integrator.seed + (unsigned long)(r0 + j));
        if (c->kind != LADDER_T) clmd_engine_set_segment_scale(*e, j, &c->scale[r0 + j]);
    }
    if (d->barostat.enabled) {
        clmd_barostat_opts bo;
        clmd_barostat_opts_from_deck(d, &bo);
        bo.seed += (unsigned long)r0;
        clmd_hook *h = NULL;
        char at[CLMD_PATH_MAX + 64];
        where(d, d->barostat.mark, "barostat", at, sizeof at);
        if ((rc = clmd_barostat_create(&bo, *e, &h, err))) return clmd_err_prefix(err, "%s", at);
        if ((rc = clmd_engine_add_hook(*e, h, err))) return rc;
    }
    return CLMD_OK;
}

static void free_outputs(clmd_campaign *c)
{
    for (int k = 0; c->log && k < c->K; k++) clmd_energylog_close(&c->log[k], NULL);
    for (int k = 0; c->h5 && k < c->K; k++) clmd_h5md_close(&c->h5[k], NULL);
    clmd_remdlog_close(&c->rlog, NULL);
}

void clmd_campaign_destroy(clmd_campaign **pc)
{
    if (!pc || !*pc) return;
    clmd_campaign *c = *pc;
    free_outputs(c);
    for (int b = 0; c->eng && b < c->neng; b++) clmd_engine_destroy(&c->eng[b]);
    for (int b = 0; c->bsys && b < c->neng; b++) clmd_system_destroy(&c->bsys[b]);
    for (int k = 0; k < c->nocl; k++) clmd_ocl_close(&c->ocls[k]);
    clmd_system_destroy(&c->sys);
    clmd_probe_destroy(&c->probe);
    void *arrays[] = {c->urow, c->uall, c->eng, c->bsys, c->eng_first, c->rep_eng, c->rep_seg, c->xv, c->state_of, c->prop, c->acc, c->rprop, c->racc, c->history, c->u,
                      c->mine, c->all, c->log, c->h5, c->frames, c->frame_mine};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) clmd_free(arrays[i]);
    clmd_free(c);
    *pc = NULL;
}

/* ---- checkpoints ---- */

static int history_push(clmd_campaign *c)
{
    long need = (c->round + 1) * c->K;
    if (need > c->hist_cap) {
        long cap = c->hist_cap ? 2 * c->hist_cap : 64 * c->K;
        while (cap < need) cap *= 2;
        c->history = clmd_realloc(c->history, sizeof(int) * (size_t)c->hist_cap, sizeof(int) * (size_t)cap);
        c->hist_cap = cap;
    }
    memcpy(c->history + c->round * c->K, c->state_of, sizeof(int) * (size_t)c->K);
    return CLMD_OK;
}

/* The campaign's checkpoint: rank 0 writes the ladder, the round, the history and the counts,
 * and every engine's own checkpoint as a blob ("engine_NNN" with the replicas it holds), gathered
 * from the ranks; atomically (io/checkpoint.h). */
static int write_checkpoint(clmd_campaign *c, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    int rc = CLMD_OK;
    PROBE_START(c->probe, P_CHECKPOINT);
    long *sizes = NULL, *all_sizes = NULL;
    char *blob = NULL;
    void *all = NULL;
    size_t total = 0;
    int nall = 0;
    CLMD_NEW(sizes, c->neng);
    for (int b = 0; b < c->neng && !rc; b++) {
        clmd_ckpt_writer *w = NULL;
        void *bytes = NULL;
        size_t n = 0;
        if ((rc = clmd_ckpt_writer_open_memory(&w, err)) ||
            (rc = clmd_ckpt_put_i64(w, "remd_first", c->first + c->eng_first[b], err)) ||
            (rc = clmd_ckpt_put_i64(w, "remd_count", c->eng_first[b + 1] - c->eng_first[b], err)) ||
            (rc = clmd_engine_save_checkpoint(c->eng[b], w, err)) ||
            (rc = clmd_ckpt_writer_finish_memory(&w, &bytes, &n, err))) {
            clmd_ckpt_writer_abort(&w);
            break;
        }
        blob = clmd_realloc(blob, total, total + n);
        memcpy(blob + total, bytes, n);
        total += n;
        sizes[b] = (long)n;
        free(bytes);
    }
    if (clmd_comm_max(c->comm, rc)) rc = rc ? rc : clmd_err_set(err, CLMD_ERUNTIME, "checkpoint: another rank failed");
    if (!rc) rc = clmd_comm_gather_bytes(c->comm, c->neng, sizes, blob, &nall, &all_sizes, &all, err);
    if (!rc && c->comm->rank == 0) {
        clmd_ckpt_writer *w = NULL;
        const long hist = (c->round + 1) * c->K;
        int64_t *h64;
        CLMD_NEW(h64, hist);
        for (long k = 0; k < hist; k++) h64[k] = c->history[k];
        rc = clmd_ckpt_writer_open(c->ckpt, &w, err);
        if (!rc) rc = clmd_ckpt_put_f64(w, "timestep_ps", d->integrator.timestep_ps, err);
        if (!rc) rc = clmd_ckpt_put_i64(w, "remd_replicas", c->K, err);
        if (!rc) rc = clmd_ckpt_put(w, "remd_ladder", CLMD_CKPT_F64, c->T, (size_t)c->K, err);
        if (!rc) rc = clmd_ckpt_put(w, "remd_state_factors", CLMD_CKPT_F64, c->scale, 4 * (size_t)c->K, err);
        if (!rc) rc = clmd_ckpt_put_i64(w, "remd_interval", c->interval, err);
        if (!rc) rc = clmd_ckpt_put_i64(w, "remd_round", c->round, err);
        if (!rc) rc = clmd_ckpt_put(w, "remd_history", CLMD_CKPT_I64, h64, (size_t)hist, err);
        if (!rc) rc = clmd_ckpt_put(w, "remd_proposed", CLMD_CKPT_I64, c->prop, (size_t)c->K * c->K, err);
        if (!rc) rc = clmd_ckpt_put(w, "remd_accepted", CLMD_CKPT_I64, c->acc, (size_t)c->K * c->K, err);
        if (!rc) rc = clmd_ckpt_put_i64(w, "remd_engines", nall, err);
        long at = 0;
        for (int b = 0; b < nall && !rc; b++) {
            char name[32];
            snprintf(name, sizeof name, "engine_%03d", b);
            rc = clmd_ckpt_put(w, name, CLMD_CKPT_BYTES, (char *)all + at, (size_t)all_sizes[b], err);
            at += all_sizes[b];
        }
        if (!rc) rc = clmd_ckpt_writer_commit(&w, err);
        if (w) clmd_ckpt_writer_abort(&w);
        clmd_free(h64);
    }
    clmd_free(sizes);
    clmd_free(all_sizes);
    clmd_free(blob);
    clmd_free(all);
    PROBE_STOP(c->probe, P_CHECKPOINT);
    return rc;
}

/* Finds the blob of the engine holding replicas first .. first + count - 1 and loads it. */
static int load_engine(clmd_campaign *c, clmd_ckpt_reader *rd, const char *path, int b, clmd_err *err)
{
    int64_t nblobs = 0;
    int rc = clmd_ckpt_get_i64(rd, "remd_engines", &nblobs, err);
    const int64_t first = c->first + c->eng_first[b], count = c->eng_first[b + 1] - c->eng_first[b];
    for (int64_t k = 0; !rc && k < nblobs; k++) {
        char name[32];
        snprintf(name, sizeof name, "engine_%03d", (int)k);
        size_t n = 0;
        clmd_ckpt_type type;
        if (!clmd_ckpt_find(rd, name, &type, &n) || type != CLMD_CKPT_BYTES)
            return clmd_err_set(err, CLMD_EINPUT, "%s: no %s", path, name);
        char *bytes = clmd_alloc(n + 1);
        clmd_ckpt_reader *sub = NULL;
        int64_t f = -1, m = -1;
        if (!(rc = clmd_ckpt_get(rd, name, CLMD_CKPT_BYTES, bytes, n, err)) &&
            !(rc = clmd_ckpt_reader_open_memory(bytes, n, name, &sub, err)) &&
            !(rc = clmd_ckpt_get_i64(sub, "remd_first", &f, err)) &&
            !(rc = clmd_ckpt_get_i64(sub, "remd_count", &m, err)) && f == first && m == count)
            rc = clmd_engine_load_checkpoint(c->eng[b], sub, err);
        clmd_ckpt_reader_close(&sub);
        clmd_free(bytes);
        if (rc) return clmd_err_prefix(err, "%s: %s", path, name);
        if (f == first && m == count) return CLMD_OK;
    }
    if (rc) return rc;
    return clmd_err_set(err, CLMD_EINPUT, "%s: written by a campaign that split its replicas "
                        "differently over processes and engines (no engine of replicas %lld-%lld); "
                        "continue it with the same number of MPI ranks and --replicas-per-device",
                        path, (long long)first, (long long)(first + count - 1));
}

static int read_checkpoint(clmd_campaign *c, const char *path, clmd_err *err)
{
    clmd_ckpt_reader *rd = NULL;
    int rc = clmd_ckpt_reader_open(path, &rd, err);
    int64_t R = 0, round = 0, interval = 0;
    double ladder[CLMD_MAX_REPLICAS], dt = 0;
    if (rc) goto done; /* missing or corrupt: the reader's message names the file */
    if (!clmd_ckpt_find(rd, "remd_replicas", NULL, NULL)) {
        char at[CLMD_PATH_MAX + 64];
        where(&c->d, c->d.remd.mark, "replica_exchange", at, sizeof at);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: checkpoint %s is not a replica-exchange campaign's "
                          "(a plain run's continues with a deck without replica_exchange)", at, path);
        goto done;
    }
    if ((rc = clmd_ckpt_get_i64(rd, "remd_replicas", &R, err)) ||
        (rc = clmd_ckpt_get_f64(rd, "timestep_ps", &dt, err)))
        goto done;
    if (R != c->K) {
        char at[CLMD_PATH_MAX + 64];
        where(&c->d, c->d.remd.mark, "replica_exchange.temperatures", at, sizeof at);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: %d states, but checkpoint %s is of a campaign of "
                          "%lld replicas", at, c->K, path, (long long)R);
        goto done;
    }
    if (rc) goto done;
    if ((rc = clmd_ckpt_get(rd, "remd_ladder", CLMD_CKPT_F64, ladder, (size_t)c->K, err)) ||
        (rc = clmd_ckpt_get_i64(rd, "remd_interval", &interval, err)) ||
        (rc = clmd_ckpt_get_i64(rd, "remd_round", &round, err)))
        goto done;
    clmd_region_scale factors[CLMD_MAX_REPLICAS];
    int other_factors = 0;
    {
        clmd_ckpt_type ty;
        size_t len;
        if (clmd_ckpt_find(rd, "remd_state_factors", &ty, &len)) {
            if ((rc = clmd_ckpt_get(rd, "remd_state_factors", CLMD_CKPT_F64, factors, 4 * (size_t)c->K, err)))
                goto done;
            other_factors = memcmp(factors, c->scale, sizeof factors[0] * (size_t)c->K) != 0;
        }
    }
    if (memcmp(ladder, c->T, sizeof(double) * (size_t)c->K) != 0 || interval != c->interval ||
        dt != c->d.integrator.timestep_ps || other_factors) {
        char at[CLMD_PATH_MAX + 64];
        where(&c->d, c->d.remd.mark, "replica_exchange", at, sizeof at);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: another ladder (temperatures, lambdas or solute "
                          "temperatures), exchange interval or time step than the campaign of "
                          "checkpoint %s", at, path);
        goto done;
    }
    c->round = (long)round;
    {
        long hist = (c->round + 1) * c->K;
        int64_t *h64;
        CLMD_NEW(h64, hist);
        c->hist_cap = hist;
        c->history = clmd_realloc(c->history, 0, sizeof(int) * (size_t)hist);
        rc = clmd_ckpt_get(rd, "remd_history", CLMD_CKPT_I64, h64, (size_t)hist, err);
        for (long k = 0; !rc && k < hist; k++) c->history[k] = (int)h64[k];
        clmd_free(h64);
        if (rc) goto done;
        memcpy(c->state_of, c->history + c->round * c->K, sizeof(int) * (size_t)c->K);
    }
    if ((rc = clmd_ckpt_get(rd, "remd_proposed", CLMD_CKPT_I64, c->prop, (size_t)c->K * c->K, err)) ||
        (rc = clmd_ckpt_get(rd, "remd_accepted", CLMD_CKPT_I64, c->acc, (size_t)c->K * c->K, err)))
        goto done;
    for (int b = 0; b < c->neng && !rc; b++) rc = load_engine(c, rd, path, b, err);
    /* each replica's bath: its state's temperature, its own noise seed */
    for (int i = 0; i < c->count && !rc; i++) {
        const int r = c->first + i;
        clmd_engine_set_segment_bath(c->eng[c->rep_eng[i]], c->rep_seg[i], c->T[c->state_of[r]],
                                     c->d.integrator.seed + (unsigned long)r);
        if (c->kind != LADDER_T)
            clmd_engine_set_segment_scale(c->eng[c->rep_eng[i]], c->rep_seg[i], &c->scale[c->state_of[r]]);
    }
done:
    clmd_ckpt_reader_close(&rd);
    return rc;
}

/* ---- outputs ---- */

static int open_outputs(clmd_campaign *c, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    const clmd_system *sys = c->sys;
    const clmd_ffplan *plan = clmd_engine_plan(c->eng[0]);
    const int K = c->K, n = sys->n, replace = d->output.overwrite || c->restart;
    CLMD_NEW(c->xv, 3 * (size_t)c->per_engine * c->stride);
    int rc;
    for (int k = 0; k < CLMD_E_NCOMP; k++)
        if (plan->present[k]) {
            c->col_comp[c->nterms] = k;
            c->col_name[c->nterms++] = clmd_ecomp_name[k];
        }
    c->ncols = c->nterms;
    if (sys->periodic) {
        c->col_name[c->ncols++] = "volume_nm3";
        c->col_name[c->ncols++] = "density_g_cm3";
        c->col_name[c->ncols++] = "pressure_bar";
    }
    if (c->kind == LADDER_LAMBDA) {
        /* thermodynamic integration's integrand, per state */
        c->col_name[c->ncols++] = "dudl_sterics";
        c->col_name[c->ncols++] = "dudl_electrostatics";
    }
    c->col_name[c->ncols++] = "replica";
    /* a row: potential, kinetic, total, temperature, the columns, then the exchange's U and V */
    c->per = 4 + c->ncols + 2;
    CLMD_NEW(c->mine, (size_t)c->count * c->per);
    CLMD_NEW(c->all, (size_t)K * c->per);
    CLMD_NEW(c->frame_mine, 3 * (size_t)n * c->count + 9 * (size_t)c->count);
    if (c->comm->rank == 0) CLMD_NEW(c->frames, 3 * (size_t)n * K + 9 * (size_t)K);
    if (c->comm->rank != 0) return CLMD_OK;

    /* every file checked before any is written */
    const char *dir = d->output.directory;
    int nnames = 0;
    const int per_state = 3;
    char(*names)[CLMD_PATH_MAX + 32];
    CLMD_NEW(names, (size_t)K * per_state + 6);
    char stem[CLMD_PATH_MAX];
    snprintf(stem, sizeof stem, "%s", d->output.trajectory);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = '\0';
    for (int k = 0; k < K; k++) {
        if (d->output.energies[0]) snprintf(names[nnames++], sizeof names[0], "state_%03d/%s", k, d->output.energies);
        if (d->output.trajectory[0]) {
            snprintf(names[nnames++], sizeof names[0], "state_%03d/%s", k, d->output.trajectory);
            snprintf(names[nnames++], sizeof names[0], "state_%03d/%s.pdb", k, stem);
        }
    }
    snprintf(names[nnames++], sizeof names[0], "replica_exchange.h5");
    snprintf(names[nnames++], sizeof names[0], "summary.json");
    snprintf(names[nnames++], sizeof names[0], "walk.svg");
    snprintf(names[nnames++], sizeof names[0], "acceptance.svg");
    if (d->output.checkpoint[0]) snprintf(names[nnames++], sizeof names[0], "%s", d->output.checkpoint);
    const char **ptrs = clmd_calloc(nnames, sizeof *ptrs);
    for (int i = 0; i < nnames; i++) ptrs[i] = names[i];
    rc = clmd_outfile_prepare(dir, ptrs, nnames, replace, err);
    clmd_free(ptrs);
    c->probe_json = c->o.probe_json ? c->o.probe_json : (d->probes_json[0] ? d->probes_json : NULL);
    if (!rc && c->probe_json) rc = clmd_outfile_prepare("", &c->probe_json, 1, replace, err);
    if (rc) {
        clmd_free(names);
        return rc;
    }
    if ((rc = clmd_outfile_path(dir, "replica_exchange.h5", c->rlog_path, sizeof c->rlog_path, err)) ||
        (rc = clmd_outfile_path(dir, "summary.json", c->summary, sizeof c->summary, err)) ||
        (rc = clmd_outfile_path(dir, "walk.svg", c->walk_svg, sizeof c->walk_svg, err)) ||
        (rc = clmd_outfile_path(dir, "acceptance.svg", c->acc_svg, sizeof c->acc_svg, err)) ||
        (d->output.checkpoint[0] &&
         (rc = clmd_outfile_path(dir, d->output.checkpoint, c->ckpt, sizeof c->ckpt, err)))) {
        clmd_free(names);
        return rc;
    }
    CLMD_NEW(c->log, K);
    CLMD_NEW(c->h5, K);
    const char **anames = clmd_calloc(n, sizeof *anames);
    for (int i = 0; i < n; i++) anames[i] = sys->name[i];
    const long last = c->round * c->interval;
    for (int k = 0; k < K && !rc; k++) {
        char path[CLMD_PATH_MAX + 64], rel[CLMD_PATH_MAX + 32];
        if (d->output.energies[0]) {
            snprintf(rel, sizeof rel, "state_%03d/%s", k, d->output.energies);
            if (!(rc = clmd_outfile_path(dir, rel, path, sizeof path, err)))
                rc = c->restart ? clmd_energylog_continue(path, c->col_name, c->ncols, last, &c->log[k], err)
                                : clmd_energylog_open(path, c->col_name, c->ncols, &c->log[k], err);
        }
        if (!rc && d->output.trajectory[0]) {
            clmd_h5md_opts ho = {0};
            ho.n_particles = n;
            ho.periodic = sys->periodic;
            ho.title = d->title;
            ho.names = anames;
            ho.mass = sys->mass;
            ho.charge = sys->charge;
            ho.n_extra = c->nterms;
            ho.extra_names = c->col_name;
            snprintf(rel, sizeof rel, "state_%03d/%s", k, d->output.trajectory);
            if (!(rc = clmd_outfile_path(dir, rel, path, sizeof path, err)))
                rc = c->restart ? clmd_h5md_continue(path, &ho, last, &c->h5[k], err)
                                : clmd_h5md_create(path, &ho, &c->h5[k], err);
            snprintf(rel, sizeof rel, "state_%03d/%s.pdb", k, stem);
            if (!rc && !(rc = clmd_outfile_path(dir, rel, path, sizeof path, err)) &&
                (!c->restart || access(path, F_OK) != 0)) {
                clmd_pdb_atoms pa = {n, (const char(*)[8])sys->name, sys->residue,
                                     (const char(*)[8])sys->resname, sys->atomic_number, sys->x,
                                     sys->periodic, {{0}}, d->title};
                memcpy(pa.box, sys->box, sizeof pa.box);
                rc = clmd_pdb_write(path, &pa, err);
            }
        }
    }
    clmd_free(anames);
    clmd_free(names);
    if (rc) return rc;
    clmd_remdlog_opts lo = {K, K, c->T, c->P, c->scheme == CLMD_REMD_ALL ? "all" : "neighbors",
                            c->interval, {NULL, NULL, NULL}, {NULL, NULL, NULL}};
    if (c->kind == LADDER_LAMBDA) {
        lo.extra_name[0] = "lambda_sterics";
        lo.extra[0] = d->remd.lambda_sterics;
        lo.extra_name[1] = "lambda_electrostatics";
        lo.extra[1] = d->remd.lambda_electrostatics;
    } else if (c->kind == LADDER_REST2) {
        lo.extra_name[0] = "solute_temperatures";
        lo.extra[0] = c->ladder;
    }
    return c->restart ? clmd_remdlog_continue(c->rlog_path, &lo, c->round, &c->rlog, err)
                      : clmd_remdlog_create(c->rlog_path, &lo, &c->rlog, err);
}

/* How this rank's replicas are split over engines: replicas_per_device (the option, else the
 * deck's; automatic: all of them in one engine) where the system can be batched (an OpenCL
 * device, no barostat), else one replica per engine. */
static int plan_engines(clmd_campaign *c, const clmd_run_opts *o, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    int k = o->replicas_per_device != 0 ? o->replicas_per_device : d->remd.replicas_per_device;
    const int automatic = k <= 0;
    if (automatic) k = c->count;
    if (k > c->count) k = c->count;
    const char *why = strcasecmp(d->device, "reference") == 0 ? "the reference path runs one system"
                    : d->barostat.enabled ? "each replica has its own box under the barostat"
                    : NULL;
    if (k > 1 && why) {
        if (!automatic) {
            char at[CLMD_PATH_MAX + 64];
            where(d, d->remd.mark, "replica_exchange.replicas_per_device", at, sizeof at);
            return clmd_err_set(err, CLMD_EINPUT, "%s (or --replicas-per-device): %d replicas per "
                                "device asked for, but %s: use 1", at, k, why);
        }
        c->one_at_a_time = why;
        k = 1;
    }
    c->per_engine = k;
    c->stride = k > 1 ? (c->sys->n + 63) / 64 * 64 : c->sys->n;
    c->neng = (c->count + k - 1) / k;
    CLMD_NEW(c->eng, c->neng);
    CLMD_NEW(c->bsys, c->neng);
    CLMD_NEW(c->eng_first, c->neng + 1);
    CLMD_NEW(c->rep_eng, c->count);
    CLMD_NEW(c->rep_seg, c->count);
    for (int b = 0; b <= c->neng; b++) c->eng_first[b] = b * k < c->count ? b * k : c->count;
    for (int i = 0; i < c->count; i++) {
        c->rep_eng[i] = i / k;
        c->rep_seg[i] = i % k;
    }
    return CLMD_OK;
}

/* The deck's minimization, once, on one copy of the system: every replica starts from its
 * result, however the replicas are split (so the split does not change the campaign). */
static int minimize_start(clmd_campaign *c, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    clmd_engine_opts eo;
    clmd_engine_opts_from_deck(d, &eo);
    eo.ocl = c->nocl ? c->ocls[c->comm->rank % c->nocl] : NULL;
    clmd_ffopts fo;
    clmd_ffopts_from_deck(d, &fo);
    clmd_engine *e = NULL;
    double e0, fmax;
    long steps;
    int rc = clmd_engine_create(c->sys, &fo, &eo, c->probe, &e, err);
    if (!rc) rc = clmd_engine_minimize(e, d->minimize.max_steps, d->minimize.tolerance, &e0, &fmax,
                                       &steps, err);
    if (!rc) rc = clmd_engine_get_positions(e, c->sys->x, err);
    clmd_engine_destroy(&e);
    return rc;
}

int clmd_campaign_create(const clmd_run_opts *o, clmd_campaign **out, clmd_err *err)
{
    *out = NULL;
    clmd_campaign *c = clmd_alloc(sizeof *c);
    c->o = *o;
    c->comm = clmd_comm_world();
    int rc = clmd_deck_load(o->deck, &c->d, err);
    clmd_deck *d = &c->d;
    if (rc) goto fail;
    if (o->device) snprintf(d->device, sizeof d->device, "%s", o->device);
    if (o->overwrite) d->output.overwrite = 1;
    if (d->remd.nlambdas > 0) {
        /* a lambda ladder: every state at the integrator's temperature */
        c->kind = LADDER_LAMBDA;
        c->K = d->remd.nlambdas;
        c->unit = "state";
        for (int k = 0; k < c->K; k++) {
            c->T[k] = d->integrator.temperature;
            c->scale[k] = clmd_region_scale_alchemical(d->remd.lambda_sterics[k], d->remd.lambda_electrostatics[k]);
            c->ladder[k] = k;
        }
    } else if (d->solute_tempering.enabled) {
        /* REST2: the solute's temperatures, the physical one for all */
        c->kind = LADDER_REST2;
        c->K = d->solute_tempering.ntemps;
        c->unit = "K (solute)";
        for (int k = 0; k < c->K; k++) {
            c->T[k] = d->integrator.temperature;
            c->scale[k] = clmd_region_scale_rest2(d->integrator.temperature, d->solute_tempering.temps[k]);
            c->ladder[k] = d->solute_tempering.temps[k];
        }
    } else {
        c->kind = LADDER_T;
        c->K = d->remd.ntemps;
        c->unit = "K";
        memcpy(c->T, d->remd.temps, sizeof(double) * (size_t)c->K);
        memcpy(c->ladder, d->remd.temps, sizeof(double) * (size_t)c->K);
    }
    c->P = d->barostat.enabled ? d->barostat.pressure_bar[0] : -1;
    c->scheme = d->remd.scheme ? CLMD_REMD_ALL : CLMD_REMD_NEIGHBORS;
    c->interval = d->remd.exchange_interval;
    c->exchanges = d->remd.exchanges;
    if (o->steps >= 0) c->exchanges = (o->steps + c->interval - 1) / c->interval;
    clmd_seed_key(d->remd.seed, c->key);
    if (c->comm->size > c->K) {
        char at[CLMD_PATH_MAX + 64];
        where(d, d->remd.mark, "replica_exchange.temperatures", at, sizeof at);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: %d replicas for %d MPI ranks: every rank needs at "
                          "least one replica", at, c->K, c->comm->size);
        goto fail;
    }
    if (d->barostat.enabled && d->barostat.anisotropic) {
        char at[CLMD_PATH_MAX + 64];
        where(d, d->barostat.mark, "barostat.type", at, sizeof at);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: a replica-exchange campaign takes an isotropic "
                          "barostat (the PV term of the exchange uses one pressure)", at);
        goto fail;
    }
    clmd_comm_block(c->comm, c->comm->rank, c->K, &c->first, &c->count);
    c->probe = clmd_probe_create(o->probes);
    if ((rc = clmd_system_from_deck(d, &c->sys, err))) goto fail;
    if (strcasecmp(d->device, "reference") != 0) {
        /* a list of devices: the engines take them in turn */
        char list[sizeof d->device], *save = NULL;
        snprintf(list, sizeof list, "%s", d->device);
        for (char *tok = strtok_r(list, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            if (c->nocl == CLMD_CAMPAIGN_MAX_DEVICES) {
                rc = clmd_err_set(err, CLMD_EINPUT, "device list '%s': more than %d devices",
                                  d->device, CLMD_CAMPAIGN_MAX_DEVICES);
                break;
            }
            rc = clmd_ocl_open(tok, c->probe, &c->ocls[c->nocl], err);
            if (!rc) c->nocl++;
        }
        if (rc) goto fail;
    }
    CLMD_NEW(c->state_of, c->K);
    CLMD_NEW(c->prop, c->K * c->K);
    CLMD_NEW(c->acc, c->K * c->K);
    CLMD_NEW(c->rprop, c->K * c->K);
    CLMD_NEW(c->racc, c->K * c->K);
    CLMD_NEW(c->u, c->K * c->K);
    CLMD_NEW(c->uall, c->K * c->K);
    CLMD_NEW(c->urow, (size_t)c->count * c->K + 1);
    for (int r = 0; r < c->K; r++) c->state_of[r] = r;
    clmd_ffplan plan;
    {
        clmd_ffopts fo;
        clmd_ffopts_from_deck(d, &fo);
        if ((rc = clmd_ffplan_make(c->sys, &fo, &plan, err))) goto fail;
    }
    c->use_input_v = c->sys->v && (d->velocities.from_input || !d->velocities.given);
    if ((rc = plan_engines(c, o, err))) goto fail;
    if (!o->restart && d->minimize.enabled && (rc = minimize_start(c, err))) goto fail;
    for (int b = 0; b < c->neng && !rc; b++) rc = make_engine(c, b, err);
    if (rc) goto fail;
    for (int i = 0; i < c->sys->n; i++) c->total_mass += c->sys->mass[i];
    if (o->restart) {
        c->restart = 1;
        if ((rc = read_checkpoint(c, o->restart, err))) goto fail;
        if (c->round > c->exchanges) {
            char at[CLMD_PATH_MAX + 64];
            if (o->steps >= 0)
                snprintf(at, sizeof at, "--steps %ld", o->steps);
            else
                where(d, d->remd.mark, "replica_exchange.exchanges", at, sizeof at);
            rc = clmd_err_set(err, CLMD_EINPUT, "%s: the campaign is asked to end after %ld rounds "
                              "(%ld steps), but checkpoint %s is already at round %ld", at,
                              c->exchanges, c->exchanges * c->interval, o->restart, c->round);
            goto fail;
        }
    } else {
        history_push(c);
        for (int b = 0; b < c->neng && !rc; b++) rc = clmd_engine_apply_constraints(c->eng[b], err);
        if (rc) goto fail;
    }
    if ((rc = open_outputs(c, err))) goto fail;
    *out = c;
    return CLMD_OK;
fail:
    clmd_campaign_destroy(&c);
    return rc;
}

/* ---- the loop ---- */

/* Each local replica's row (thermo, columns, U, V) into c->mine, gathered to c->all on every rank. */
static int gather_rows(clmd_campaign *c, int pressure, clmd_err *err)
{
    double P[CLMD_MAX_REPLICAS] = {0};
    for (int b = 0; b < c->neng; b++) {
        clmd_engine *e = c->eng[b];
        const clmd_state *st = clmd_engine_state(e);
        const double V = c->sys->periodic ? clmd_box_volume(st->box) : 0;
        const int i0 = c->eng_first[b], k = c->eng_first[b + 1] - i0;
        for (int j = 0; j < k; j++) {
            double comp[CLMD_E_NCOMP], epot, ekin, *row = c->mine + (size_t)(i0 + j) * c->per;
            clmd_engine_segment_energies(e, j, comp, &epot, &ekin);
            row[0] = epot;
            row[1] = ekin;
            row[2] = epot + ekin;
            row[3] = clmd_engine_segment_temperature(e, ekin);
            int m = 4;
            for (int t = 0; t < c->nterms; t++) row[m++] = comp[c->col_comp[t]];
            if (c->sys->periodic) {
                row[m++] = V;
                row[m++] = c->total_mass / V * AMU_NM3_TO_G_CM3;
                m++; /* the pressure, below */
            }
            if (c->kind == LADDER_LAMBDA) {
                clmd_engine_segment_dudl(e, j, &row[m], &row[m + 1]);
                m += 2;
            }
            row[m++] = c->first + i0 + j;
            row[m++] = epot;
            row[m++] = V;
        }
        /* the pressure costs two evaluations: only for rows that are written (after the energies
         * are read: the evaluations of scaled boxes replace them) */
        if (c->sys->periodic && pressure) {
            int rc = clmd_engine_segment_pressures(e, P, err);
            if (rc) return rc;
        }
        if (c->sys->periodic)
            for (int j = 0; j < k; j++) c->mine[(size_t)(i0 + j) * c->per + 4 + c->nterms + 2] = P[j];
    }
    return clmd_comm_allgather(c->comm, c->K, c->per, c->mine, c->all, err);
}

/* Rows and frames of every replica into the files of the state it holds (rank 0). */
static int write_outputs(clmd_campaign *c, long step, int rows, int frames, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    const double t = step * d->integrator.timestep_ps;
    const int n = c->sys->n;
    int rc = CLMD_OK;
    double t0 = now_s();
    if (frames) {
        PROBE_START(c->probe, P_OUT_TRAJ);
        for (int b = 0; b < c->neng && !rc; b++) {
            clmd_engine *e = c->eng[b];
            if ((rc = clmd_engine_get_positions(e, c->xv, err))) break;
            for (int i = c->eng_first[b]; i < c->eng_first[b + 1]; i++) {
                double *x = c->frame_mine + (size_t)i * (3 * (size_t)n + 9);
                memcpy(x, c->xv + 3 * (size_t)c->stride * c->rep_seg[i], sizeof(double) * 3 * (size_t)n);
                memcpy(x + 3 * n, clmd_engine_state(e)->box, 9 * sizeof(double));
            }
        }
        if (!rc) rc = clmd_comm_gather(c->comm, c->K, 3 * n + 9, c->frame_mine, c->frames, err);
        for (int r = 0; r < c->K && !rc && c->comm->rank == 0; r++) {
            const double *row = c->all + (size_t)r * c->per, *x = c->frames + (size_t)r * (3 * (size_t)n + 9);
            clmd_h5md_frame fr = {0};
            fr.step = step;
            fr.time_ps = t;
            fr.x.d = x;
            memcpy(fr.box, x + 3 * n, sizeof fr.box);
            fr.thermo = (clmd_thermo){row[0], row[1], row[2], row[3]};
            fr.extra = row + 4;
            rc = clmd_h5md_write_frame(c->h5[c->state_of[r]], &fr, err);
        }
        PROBE_STOP(c->probe, P_OUT_TRAJ);
    }
    if (rows && c->comm->rank == 0) {
        PROBE_START(c->probe, P_OUT_ENERGY);
        for (int r = 0; r < c->K && !rc; r++) {
            const double *row = c->all + (size_t)r * c->per;
            clmd_thermo th = {row[0], row[1], row[2], row[3]};
            rc = clmd_energylog_write(c->log[c->state_of[r]], step, t, &th, row + 4, err);
        }
        PROBE_STOP(c->probe, P_OUT_ENERGY);
    }
    c->t_io += now_s() - t0;
    return rc;
}

/* The swap step: reduced energies from every replica's U and V, the swaps (the same on every
 * rank), then each local replica takes its new state's bath and velocities. */
/* Hamiltonian ladders: every replica's reduced energy in every state, u[r][k] = (U_k(x_r) +
 * P V_r) / kT. Per engine one evaluation at its copies' own factors, then the part of the
 * energy the factors change at every state of the ladder in one host pass
 * (clmd_engine_region_energies), not K evaluations. The rows are gathered from every rank. */
static int energy_matrix(clmd_campaign *c, clmd_err *err)
{
    const int K = c->K;
    int rc = CLMD_OK;
    for (int b = 0; b < c->neng && !rc; b++) {
        clmd_engine *e = c->eng[b];
        const double V = c->sys->periodic ? clmd_box_volume(clmd_engine_state(e)->box) : 0;
        const int m = c->eng_first[b + 1] - c->eng_first[b];
        double *ub = clmd_calloc((size_t)clmd_engine_segments(e) * K, sizeof *ub);
        if (!(rc = clmd_engine_region_energies(e, K, c->scale, ub, err)))
            for (int i = 0; i < m; i++) {
                const int row = c->eng_first[b] + i, seg = c->rep_seg[row];
                for (int k = 0; k < K; k++)
                    c->urow[(size_t)row * K + k] =
                        (ub[(size_t)seg * K + k] + (c->P >= 0 ? c->P * BAR_TO_KJ_NM3 * V : 0)) /
                        (CLMD_BOLTZMANN * c->T[k]);
            }
        clmd_free(ub);
    }
    if (clmd_comm_max(c->comm, rc)) return rc ? rc : clmd_err_set(err, CLMD_ERUNTIME, "another MPI rank failed");
    if ((rc = clmd_comm_allgather(c->comm, K, K, c->urow, c->u, err))) return rc;
    return CLMD_OK;
}

static int exchange(clmd_campaign *c, clmd_err *err)
{
    const int K = c->K;
    double t0 = now_s();
    PROBE_START(c->probe, P_REMD_EXCHANGE);
    if (c->kind == LADDER_T) {
        /* one energy per replica: u = beta_k (U + P V) */
        for (int r = 0; r < K; r++) {
            const double *row = c->all + (size_t)r * c->per;
            double U = row[c->per - 2], V = row[c->per - 1];
            for (int k = 0; k < K; k++)
                c->u[r * K + k] = (U + (c->P >= 0 ? c->P * BAR_TO_KJ_NM3 * V : 0)) / (CLMD_BOLTZMANN * c->T[k]);
        }
    } else {
        int rc = energy_matrix(c, err);
        if (rc) {
            PROBE_STOP(c->probe, P_REMD_EXCHANGE);
            return rc;
        }
    }
    int *old = clmd_calloc(K, sizeof *old);
    memcpy(old, c->state_of, sizeof(int) * (size_t)K);
    memset(c->rprop, 0, sizeof(long) * (size_t)K * K);
    memset(c->racc, 0, sizeof(long) * (size_t)K * K);
    clmd_remd_exchange(c->scheme, K, c->u, c->state_of, c->key, c->round, c->rprop, c->racc);
    for (int k = 0; k < K * K; k++) {
        c->prop[k] += c->rprop[k];
        c->acc[k] += c->racc[k];
    }
    int rc = CLMD_OK;
    const int n = c->sys->n;
    for (int b = 0; b < c->neng && !rc; b++) {
        clmd_engine *e = c->eng[b];
        int moved = 0, drawn = 0;
        for (int i = c->eng_first[b]; i < c->eng_first[b + 1]; i++) moved |= c->state_of[c->first + i] != old[c->first + i];
        if (!moved) continue;
        if (c->kind != LADDER_T) {
            /* a Hamiltonian swap: the replica takes its new state's factors, the temperature is
             * the same, the velocities stay */
            for (int i = c->eng_first[b]; i < c->eng_first[b + 1]; i++) {
                const int r = c->first + i;
                if (c->state_of[r] != old[r])
                    clmd_engine_set_segment_scale(e, c->rep_seg[i], &c->scale[c->state_of[r]]);
            }
            continue;
        }
        if ((rc = clmd_engine_get_velocities(e, c->xv, err))) break;
        for (int i = c->eng_first[b]; i < c->eng_first[b + 1]; i++) {
            const int r = c->first + i;
            if (c->state_of[r] == old[r]) continue;
            const double To = c->T[old[r]], Tn = c->T[c->state_of[r]];
            double *v = c->xv + 3 * (size_t)c->stride * c->rep_seg[i];
            clmd_engine_set_segment_bath(e, c->rep_seg[i], Tn, c->d.integrator.seed + (unsigned long)r);
            if (c->d.remd.resample_velocities) {
                uint64_t seed = (uint64_t)c->d.remd.seed * 1000003u + (uint64_t)c->round * 4096u + (uint64_t)r;
                clmd_draw_velocities(c->sys, Tn, seed, c->d.integrator.remove_com_motion, v);
                drawn = 1;
            } else {
                const double f = sqrt(Tn / To);
                for (int k = 0; k < 3 * n; k++) v[k] *= f;
            }
        }
        if (!(rc = clmd_engine_set_velocities(e, c->xv, err)) && drawn)
            rc = clmd_engine_apply_constraints(e, err);
    }
    clmd_free(old);
    c->round++;
    history_push(c);
    if (!rc && c->comm->rank == 0) {
        /* the log row: the energies the test used, the states after it */
        rc = clmd_remdlog_append(c->rlog, c->u, c->state_of, c->rprop, c->racc, err);
    }
    PROBE_STOP(c->probe, P_REMD_EXCHANGE);
    c->t_exchange += now_s() - t0;
    return rc;
}

static int write_summary(clmd_campaign *c, int final, clmd_err *err)
{
    if (c->comm->rank != 0) return CLMD_OK;
    clmd_remd_summary s;
    clmd_remd_summarize(c->K, c->round + 1, c->history, c->prop, c->acc, c->ladder, &s);
    int rc = clmd_remd_write_summary(c->summary, &s, c->ladder, err);
    if (!rc && final)
        rc = clmd_remd_write_walk_svg(c->walk_svg, c->K, c->round + 1, c->history, c->ladder, c->unit, err);
    if (!rc && final)
        rc = clmd_remd_write_acceptance_svg(c->acc_svg, c->K, s.acceptance, c->ladder, c->unit, err);
    clmd_remd_summary_free(&s);
    return rc;
}

int clmd_campaign_execute(clmd_campaign *c, clmd_run_progress progress, void *ctx, clmd_err *err)
{
    const clmd_deck *d = &c->d;
    const long ei = d->output.energies[0] ? d->output.energies_interval : 0;
    const long ti = d->output.trajectory[0] ? d->output.trajectory_interval : 0;
    /* the deck's, the same on every rank (only rank 0 knows the file's path) */
    const int has_ckpt = d->output.checkpoint[0] != 0;
    const long ci = has_ckpt ? d->output.checkpoint_interval : 0;
    const double wall = d->output.checkpoint[0] ? d->output.checkpoint_wall_minutes * 60 : 0;
    const long end = c->exchanges * c->interval;
    long step = c->round * c->interval;
    const long step0 = step;
    double t0 = now_s(), t_ckpt = t0, last_progress = t0;
    int rc = CLMD_OK;
    PROBE_START(c->probe, P_TOTAL);
    /* the state at the start: evaluated, and written by a fresh campaign */
    for (int b = 0; b < c->neng && !rc; b++) rc = clmd_engine_evaluate(c->eng[b], NULL, NULL, err);
    if (!rc) rc = gather_rows(c, ei > 0, err);
    if (!rc && !c->restart) rc = write_outputs(c, step, ei > 0, ti > 0, err);
    while (!rc && step < end) {
        long round_end = (step / c->interval + 1) * c->interval;
        /* MD to the next output step or the round's end */
        long next = round_end;
        if (ei) next = fmin(next, (step / ei + 1) * ei);
        if (ti) next = fmin(next, (step / ti + 1) * ti);
        const int rows = ei && next % ei == 0, frames = ti && next % ti == 0;
        double tm = now_s(), w0 = clmd_comm_wait_s();
        PROBE_START(c->probe, P_REMD_MD);
        for (int b = 0; b < c->neng && !rc; b++) rc = clmd_engine_step(c->eng[b], next - step, 1, err);
        PROBE_STOP(c->probe, P_REMD_MD);
        c->t_md += now_s() - tm;
        if (clmd_comm_max(c->comm, rc)) rc = rc ? rc : clmd_err_set(err, CLMD_ERUNTIME, "another MPI rank failed");
        if (rc) break;
        c->steps_done += (next - step) * c->K;
        step = next;
        PROBE_START(c->probe, P_REMD_ENERGIES);
        rc = gather_rows(c, rows, err);
        PROBE_STOP(c->probe, P_REMD_ENERGIES);
        if (rc) break;
        if ((rows || frames) && (rc = write_outputs(c, step, rows, frames, err))) break;
        if (step == round_end) {
            if ((rc = exchange(c, err))) break;
            int due = (ci && step % ci == 0) || (wall > 0 && now_s() - t_ckpt >= wall);
            int stop = c->o.interrupt && clmd_comm_max(c->comm, *c->o.interrupt);
            if (has_ckpt) {
                if ((due || stop) && step < end) {
                    if ((rc = write_checkpoint(c, err)) || (rc = write_summary(c, 0, err))) break;
                    t_ckpt = now_s();
                }
            }
            if (stop) {
                c->interrupted = 1;
                if (has_ckpt)
                    rc = clmd_err_set(err, CLMD_ERUNTIME, "interrupted after round %ld: checkpoint %s "
                                      "written; continue with --restart %s", c->round, c->ckpt, c->ckpt);
                else
                    rc = clmd_err_set(err, CLMD_ERUNTIME, "interrupted after round %ld (checkpoints "
                                      "are off: output.checkpoint)", c->round);
                break;
            }
        }
        if (c->comm->size > 1) clmd_probe_add_sample(c->probe, P_MPI_WAIT, 1e9 * (clmd_comm_wait_s() - w0));
        if (progress && c->comm->rank == 0 && now_s() - last_progress > 1.0) {
            progress(ctx, (step - step0) * c->K, (end - step0) * c->K, now_s() - t0, 0);
            last_progress = now_s();
        }
    }
    PROBE_STOP(c->probe, P_TOTAL);
    c->elapsed = now_s() - t0;
    if (rc) return rc;
    if (has_ckpt && (rc = write_checkpoint(c, err)))
        return rc;
    if ((rc = write_summary(c, 1, err))) return rc;
    if (progress && c->comm->rank == 0) progress(ctx, c->steps_done, c->steps_done, c->elapsed, 1);
    clmd_probe_count(c->probe, "replica_steps", c->steps_done);
    if (c->nocl) {
        long launches = 0;
        for (int k = 0; k < c->nocl; k++) launches += clmd_ocl_launches(c->ocls[k]);
        clmd_probe_count(c->probe, "kernel_launches", launches);
        clmd_probe_count(c->probe, "device_bytes_peak", (long)clmd_ocl_device_bytes_peak());
    }
    clmd_probe_count(c->probe, "exchange_rounds", c->round);
    if (c->comm->rank == 0 && c->probe_json &&
        (rc = clmd_probe_write_json(c->probe, c->steps_done, c->probe_json, err)))
        return rc;
    return CLMD_OK;
}

/* ---- reports ---- */

void clmd_campaign_describe(const clmd_campaign *c, FILE *out)
{
    const clmd_deck *d = &c->d;
    fprintf(out, "clmd %s (%s)\n%s\n", CLMD_VERSION, CLMD_GIT_COMMIT, d->title);
    fprintf(out, "system: %s: %d particles%s\n", c->sys->source, c->sys->n,
            c->sys->periodic ? ", periodic box" : "");
    if (c->nocl > 1)
        for (int k = 0; k < c->nocl; k++) fprintf(out, "device %d: %s\n", k, clmd_ocl_description(c->ocls[k]));
    else
        fprintf(out, "device: %s\n", clmd_engine_device(c->eng[0]));
    clmd_engine_describe(c->eng[0], out);
    fprintf(out, "replica exchange: %d replicas over %d process%s, ", c->K, c->comm->size,
            c->comm->size == 1 ? "" : "es");
    if (c->kind == LADDER_LAMBDA) {
        fprintf(out, "all at %.4g K, lambdas (sterics, electrostatics)", c->T[0]);
        for (int k = 0; k < c->K; k++) fprintf(out, " (%.3g, %.3g)", c->scale[k].sterics, c->scale[k].charge);
    } else if (c->kind == LADDER_REST2) {
        fprintf(out, "all at %.4g K, the solute (REST2) at", c->T[0]);
        for (int k = 0; k < c->K; k++) fprintf(out, " %.4g", c->ladder[k]);
        fprintf(out, " K");
    } else {
        fprintf(out, "temperatures");
        for (int k = 0; k < c->K; k++) fprintf(out, " %.4g", c->T[k]);
        fprintf(out, " K");
    }
    fprintf(out, "; %ld rounds of %ld steps, %s swaps, velocities %s%s\n", c->exchanges, c->interval,
            c->scheme == CLMD_REMD_ALL ? "all-pairs" : "neighbour",
            d->remd.resample_velocities ? "resampled" : "rescaled",
            c->restart ? " (continued)" : "");
    if (c->per_engine > 1)
        fprintf(out, "batched: %d replicas per engine in one set of device buffers (one launch per "
                "kernel for all), %d engine%s on this process\n", c->per_engine, c->neng,
                c->neng == 1 ? "" : "s");
    else
        fprintf(out, "one replica per engine (%d on this process)%s%s\n", c->neng,
                c->one_at_a_time ? ": " : "", c->one_at_a_time ? c->one_at_a_time : "");
}

void clmd_campaign_report(const clmd_campaign *c, FILE *out)
{
    clmd_remd_summary s;
    clmd_remd_summarize(c->K, c->round + 1, c->history, c->prop, c->acc, c->ladder, &s);
    fputc('\n', out);
    clmd_remd_print_summary(&s, c->ladder, c->unit, out);
    const double dt = c->d.integrator.timestep_ps;
    double rate = c->elapsed > 0 ? c->steps_done / c->elapsed : 0;
    fprintf(out, "performance: %ld replica-steps in %.3f s: %.1f replica-steps/s, %.3f ns/day "
            "per replica; MD %.3f s, exchanges %.3f s, output %.3f s, MPI wait %.3f s\n",
            c->steps_done, c->elapsed, rate, rate / c->K * dt * 1e-3 * 86400, c->t_md,
            c->t_exchange, c->t_io, clmd_comm_wait_s());
    clmd_remd_summary_free(&s);
    clmd_probe_report(c->probe, c->steps_done, out);
}
