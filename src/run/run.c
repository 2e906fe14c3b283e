#include "run/run.h"

#include <errno.h>
#include <math.h>
#include <string.h>
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
#include "md/barostat.h"
#include "md/engine.h"
#include "md/integrator.h"
#include "md/rng.h"
#include "probe/probe.h"
#include "run/load.h"
#include "run/setup.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"

/* g/cm^3 per amu/nm^3 (1.66053906660e-24 g / 1e-21 cm^3) */
#define AMU_NM3_TO_G_CM3 1.66053906660e-3

/* ---- session ---- */

/* Maxwell-Boltzmann velocities at temperature T from a seed (Philox stream, deterministic),
 * centre-of-mass motion removed. */
static void maxwell_boltzmann(const clmd_system *s, double T, unsigned long seed, int remove_com,
                              double *v)
{
    uint32_t key[2];
    clmd_seed_key(seed, key);
    double p[3] = {0, 0, 0}, mtot = 0;
    for (int i = 0; i < s->n; i++) {
        double g[3] = {0, 0, 0};
        if (s->mass[i] > 0) clmd_gaussian3(key, (uint32_t)i, UINT64_MAX, g);
        double sd = s->mass[i] > 0 ? sqrt(CLMD_BOLTZMANN * T / s->mass[i]) : 0;
        for (int k = 0; k < 3; k++) {
            v[3 * i + k] = sd * g[k];
            p[k] += s->mass[i] * v[3 * i + k];
        }
        mtot += s->mass[i];
    }
    if (remove_com && mtot > 0)
        for (int i = 0; i < s->n; i++)
            if (s->mass[i] > 0)
                for (int k = 0; k < 3; k++) v[3 * i + k] -= p[k] / mtot;
}

/* "deck.yaml:12:3: key 'barostat'" (line and column left out when defaulted). */
static void where(const clmd_deck *d, clmd_mark m, const char *key, char *buf, size_t size)
{
    if (m.line > 0) snprintf(buf, size, "%s:%d:%d: key '%s'", d->path, m.line, m.column, key);
    else snprintf(buf, size, "%s: key '%s'", d->path, key);
}

static void engine_opts_from_deck(const clmd_deck *d, clmd_engine_opts *eo)
{
    clmd_engine_opts_defaults(eo);
    snprintf(eo->device, sizeof eo->device, "%s", d->device);
    eo->integrator = d->integrator.type == CLMD_INT_VERLET ? CLMD_VERLET : CLMD_LANGEVIN;
    eo->dt_ps = d->integrator.timestep_ps;
    eo->temperature_K = d->integrator.temperature;
    eo->friction_per_ps = d->integrator.friction;
    eo->seed = d->integrator.seed;
    eo->remove_com = d->integrator.remove_com_motion;
    eo->com_interval = d->integrator.com_interval;
    eo->constraint_tol = d->constraint_tolerance;
}

static int add_barostat(clmd_session *s, clmd_err *err)
{
    const clmd_deck *d = &s->deck;
    if (!d->barostat.enabled) return CLMD_OK;
    clmd_barostat_opts bo = {d->barostat.anisotropic,
                             {d->barostat.pressure_bar[0], d->barostat.pressure_bar[1],
                              d->barostat.pressure_bar[2]},
                             d->barostat.interval, d->barostat.adapt, d->barostat.seed};
    clmd_hook *h = NULL;
    int rc = clmd_barostat_create(&bo, s->eng, &h, err);
    if (rc) {
        char at[CLMD_PATH_MAX + 64];
        where(d, d->barostat.mark, "barostat", at, sizeof at);
        return clmd_err_prefix(err, "%s: ", at);
    }
    return clmd_engine_add_hook(s->eng, h, err);
}

int clmd_session_open(clmd_session *s, const clmd_run_opts *o, int engine, clmd_err *err)
{
    memset(s, 0, sizeof *s);
    int rc = clmd_deck_load(o->deck, &s->deck, err);
    if (rc) return rc;
    clmd_deck *d = &s->deck;
    if (o->device) snprintf(d->device, sizeof d->device, "%s", o->device);
    if (o->steps >= 0) d->integrator.steps = o->steps;
    if (o->overwrite) d->output.overwrite = 1;
    if (d->remd.enabled)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: key 'replica_exchange': replica exchange "
                            "is not available in this version of clmd", d->path,
                            d->remd.mark.line, d->remd.mark.column);
    s->probe = clmd_probe_create(o->probes);
    if ((rc = clmd_system_from_deck(d, &s->sys, err))) return rc;
    clmd_ffopts fo;
    clmd_ffopts_from_deck(d, &fo);
    if (!engine) {
        clmd_ffplan plan;
        return clmd_ffplan_make(s->sys, &fo, &plan, err) ? clmd_err_prefix(err, "%s: ", d->path)
                                                          : CLMD_OK;
    }
    /* velocities: from the input file, or drawn at a temperature */
    if (d->velocities.from_input && !s->sys->v)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: key 'velocities': from_input, but %s has "
                            "no velocities", d->path, d->velocities.mark.line,
                            d->velocities.mark.column, s->sys->source);
    int use_file = s->sys->v && (d->velocities.from_input || !d->velocities.given);
    if (!use_file) {
        clmd_system_alloc_velocities(s->sys);
        double T = d->velocities.given ? d->velocities.temperature : d->integrator.temperature;
        maxwell_boltzmann(s->sys, T, d->velocities.given ? d->velocities.seed : 1,
                          d->integrator.remove_com_motion, s->sys->v);
    }
    clmd_engine_opts eo;
    engine_opts_from_deck(d, &eo);
    if ((rc = clmd_engine_create(s->sys, &fo, &eo, s->probe, &s->eng, err)))
        return clmd_err_prefix(err, "%s: ", d->path);
    return add_barostat(s, err);
}

void clmd_session_close(clmd_session *s)
{
    clmd_engine_destroy(&s->eng);
    clmd_system_destroy(&s->sys);
    clmd_probe_destroy(&s->probe);
}

int clmd_session_eval(clmd_session *s, const char *path, int overwrite, clmd_err *err)
{
    if (!overwrite && access(path, F_OK) == 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s exists: pass --overwrite to replace it", path);
    int n = s->sys->n, rc;
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * (size_t)n, sizeof(double));
    if ((rc = clmd_engine_evaluate(s->eng, e, f, err))) {
        clmd_free(f);
        return rc;
    }
    /* the engine refuses overflows; JSON has no nan or inf, so never write one regardless */
    for (int i = 0; i < 3 * n + CLMD_E_NCOMP; i++)
        if (!isfinite(i < 3 * n ? f[i] : e[i - 3 * n])) {
            clmd_free(f);
            return clmd_err_set(err, CLMD_ERUNTIME, "eval: a non-finite %s; nothing written",
                                i < 3 * n ? "force" : "energy");
        }
    char tmp[CLMD_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        clmd_free(f);
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot write: %s", path, strerror(errno));
    }
    const clmd_ffplan *plan = clmd_engine_plan(s->eng);
    clmd_json j;
    clmd_json_init(&j, out);
    clmd_json_begin_object(&j, NULL);
    clmd_json_string(&j, "clmd_version", CLMD_VERSION " (" CLMD_GIT_COMMIT ")");
    clmd_json_string(&j, "device", clmd_engine_device(s->eng));
    clmd_json_int(&j, "particles", n);
    clmd_json_begin_object(&j, "units");
    clmd_json_string(&j, "energy", "kJ/mol");
    clmd_json_string(&j, "force", "kJ/mol/nm");
    clmd_json_string(&j, "length", "nm");
    clmd_json_end_object(&j);
    clmd_json_begin_object(&j, "energies");
    double total = 0;
    for (int k = 0; k < CLMD_E_NCOMP; k++) {
        total += e[k];
        if (plan->present[k]) clmd_json_number(&j, clmd_ecomp_name[k], e[k]);
    }
    clmd_json_number(&j, "total", total);
    clmd_json_end_object(&j);
    if (plan->o.method == CLMD_NB_PME) {
        clmd_json_begin_object(&j, "pme");
        clmd_json_number(&j, "alpha", plan->ewald_alpha);
        clmd_json_begin_array(&j, "grid");
        for (int k = 0; k < 3; k++) clmd_json_int(&j, NULL, plan->pme_grid[k]);
        clmd_json_end_array(&j);
        clmd_json_end_object(&j);
    }
    clmd_json_begin_array(&j, "forces");
    for (int i = 0; i < n; i++)
        fprintf(out, "%s\n[%.10g, %.10g, %.10g]", i ? "," : "", f[3 * i], f[3 * i + 1], f[3 * i + 2]);
    clmd_json_end_array(&j);
    clmd_json_end_object(&j);
    clmd_free(f);
    int bad = ferror(out);
    if (fclose(out) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: error writing", path);
    }
    return CLMD_OK;
}

/* ---- run ---- */

enum { MAX_COLUMNS = CLMD_E_NCOMP + 3 };

struct clmd_run {
    clmd_session s;
    clmd_run_opts o;
    clmd_run_minimized min;
    clmd_run_summary sum;
    char traj[CLMD_PATH_MAX + 8], energies[CLMD_PATH_MAX + 8], checkpoint[CLMD_PATH_MAX + 8];
    const char *probe_json;
    clmd_h5md *h5;
    clmd_energylog *log;
    /* energy-log columns: the present energy terms, then volume, density, pressure (periodic) */
    int ncols, nterms, col_comp[CLMD_E_NCOMP];
    const char *col_name[MAX_COLUMNS];
    double col_value[MAX_COLUMNS];
    /* the H5MD observables: the present energy terms */
    double *positions;       /* [3n] scratch for frames */
    double total_mass;       /* amu */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int write_checkpoint(clmd_run *r, clmd_err *err)
{
    clmd_ckpt_writer *w = NULL;
    PROBE_START(r->s.probe, P_CHECKPOINT);
    int rc = clmd_ckpt_writer_open(r->checkpoint, &w, err);
    if (!rc) rc = clmd_ckpt_put_f64(w, "timestep_ps", r->s.deck.integrator.timestep_ps, err);
    if (!rc) rc = clmd_engine_save_checkpoint(r->s.eng, w, err);
    if (!rc) rc = clmd_ckpt_writer_commit(&w, err);
    if (w) clmd_ckpt_writer_abort(&w);
    PROBE_STOP(r->s.probe, P_CHECKPOINT);
    return rc;
}

static int read_checkpoint(clmd_run *r, const char *path, clmd_err *err)
{
    clmd_ckpt_reader *rd = NULL;
    int rc = clmd_ckpt_reader_open(path, &rd, err);
    if (!rc) rc = clmd_engine_load_checkpoint(r->s.eng, rd, err);
    clmd_ckpt_reader_close(&rd);
    return rc ? clmd_err_prefix(err, "%s: ", path) : CLMD_OK;
}

static int minimize(clmd_run *r, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    clmd_engine *e = r->s.eng;
    int rc;
    /* the velocities then satisfy the constraints of the minimized positions */
    if ((rc = clmd_engine_minimize(e, d->minimize.max_steps, d->minimize.tolerance, &r->min.e0,
                                   &r->min.fmax, &r->min.steps, err)) ||
        (rc = clmd_engine_apply_constraints(e, err)))
        return rc;
    clmd_engine_energies(e, NULL, &r->min.e1, NULL);
    r->min.done = 1;
    r->min.converged = r->min.fmax <= d->minimize.tolerance;
    return CLMD_OK;
}

static int open_outputs(clmd_run *r, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    const clmd_system *sys = r->s.sys;
    const clmd_ffplan *plan = clmd_engine_plan(r->s.eng);
    int n = sys->n, rc;
    /* every output checked before anything is written */
    r->probe_json = r->o.probe_json ? r->o.probe_json : (d->probes_json[0] ? d->probes_json : NULL);
    const char *names[3] = {d->output.trajectory, d->output.energies, d->output.checkpoint};
    if ((rc = clmd_outfile_prepare(d->output.directory, names, 3, d->output.overwrite, err)))
        return rc;
    if (r->probe_json && !d->output.overwrite && access(r->probe_json, F_OK) == 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s exists: set output.overwrite: true in the deck "
                            "or pass --overwrite", r->probe_json);
    const char *dir = d->output.directory;
    if ((d->output.trajectory[0] &&
         (rc = clmd_outfile_path(dir, d->output.trajectory, r->traj, sizeof r->traj, err))) ||
        (d->output.energies[0] &&
         (rc = clmd_outfile_path(dir, d->output.energies, r->energies, sizeof r->energies, err))) ||
        (d->output.checkpoint[0] &&
         (rc = clmd_outfile_path(dir, d->output.checkpoint, r->checkpoint, sizeof r->checkpoint, err))))
        return rc;
    /* one list of columns: the terms this system has (the plan's), then the box observables */
    for (int k = 0; k < CLMD_E_NCOMP; k++)
        if (plan->present[k]) {
            r->col_comp[r->ncols] = k;
            r->col_name[r->ncols++] = clmd_ecomp_name[k];
        }
    int nterms = r->nterms = r->ncols;
    if (sys->periodic) {
        r->col_name[r->ncols++] = "volume_nm3";
        r->col_name[r->ncols++] = "density_g_cm3";
        r->col_name[r->ncols++] = "pressure_bar";
    }
    if (r->energies[0] && (rc = clmd_energylog_open(r->energies, r->col_name, r->ncols, &r->log, err)))
        return rc;
    if (r->traj[0]) {
        const char **anames = clmd_calloc(n, sizeof *anames);
        for (int i = 0; i < n; i++) anames[i] = sys->name[i];
        clmd_h5md_opts ho = {0};
        ho.n_particles = n;
        ho.periodic = sys->periodic;
        ho.title = d->title;
        ho.names = anames;
        ho.mass = sys->mass;
        ho.charge = sys->charge;
        ho.n_extra = nterms;
        ho.extra_names = r->col_name;
        rc = clmd_h5md_create(r->traj, &ho, &r->h5, err);
        clmd_free(anames);
        if (rc) return rc;
    }
    return CLMD_OK;
}

int clmd_run_create(const clmd_run_opts *o, clmd_run **out, clmd_err *err)
{
    *out = NULL;
    clmd_run *r = clmd_alloc(sizeof *r);
    r->o = *o;
    int rc = clmd_session_open(&r->s, o, 1, err);
    if (rc) goto fail;
    const clmd_system *sys = r->s.sys;
    for (int i = 0; i < sys->n; i++) r->total_mass += sys->mass[i];
    CLMD_NEW(r->positions, 3 * sys->n);
    /* a fresh run starts from constrained positions and velocities; a restart continues the
     * checkpointed state untouched, so it repeats the original run bit for bit */
    if (o->restart) rc = read_checkpoint(r, o->restart, err);
    else rc = clmd_engine_apply_constraints(r->s.eng, err);
    if (!rc && !o->restart && r->s.deck.minimize.enabled) rc = minimize(r, err);
    if (!rc) rc = open_outputs(r, err);
    if (rc) goto fail;
    clmd_probe *p = r->s.probe;
    char buf[64];
    clmd_probe_set_info(p, "device", clmd_engine_device(r->s.eng));
    clmd_probe_set_info(p, "driver", clmd_engine_driver(r->s.eng));
    clmd_probe_set_info(p, "deck", o->deck);
    clmd_probe_set_info(p, "title", r->s.deck.title);
    clmd_probe_set_info(p, "system", sys->source);
    snprintf(buf, sizeof buf, "%d", sys->n);
    clmd_probe_set_info(p, "particles", buf);
    snprintf(buf, sizeof buf, "%g", r->s.deck.integrator.timestep_ps);
    clmd_probe_set_info(p, "timestep_ps", buf);
    *out = r;
    return CLMD_OK;
fail:
    clmd_run_destroy(&r);
    return rc;
}

void clmd_run_destroy(clmd_run **pr)
{
    if (!pr || !*pr) return;
    clmd_run *r = *pr;
    if (r->h5) clmd_h5md_close(&r->h5, NULL);
    if (r->log) clmd_energylog_close(&r->log, NULL);
    clmd_free(r->positions);
    clmd_session_close(&r->s);
    clmd_free(r);
    *pr = NULL;
}

clmd_session *clmd_run_session(clmd_run *r) { return &r->s; }
const clmd_run_minimized *clmd_run_minimize_result(const clmd_run *r) { return &r->min; }
const clmd_run_summary *clmd_run_get_summary(const clmd_run *r) { return &r->sum; }

/* The energies, temperature and box observables of the current step. */
static int sample(clmd_run *r, clmd_thermo *th, double *comp, clmd_err *err)
{
    clmd_engine *e = r->s.eng;
    double epot, ekin;
    clmd_engine_energies(e, comp, &epot, &ekin);
    th->potential = epot;
    th->kinetic = ekin;
    th->total = epot + ekin;
    th->temperature_k = clmd_engine_temperature(e, ekin);
    int c = 0;
    for (; c < r->nterms; c++) r->col_value[c] = comp[r->col_comp[c]];
    clmd_run_summary *s = &r->sum;
    s->periodic = r->s.sys->periodic;
    if (s->periodic) {
        const clmd_state *st = clmd_engine_state(e);
        double V = clmd_box_volume(st->box), P;
        int rc = clmd_engine_pressure(e, &P, err);
        if (rc) return rc;
        s->volume_nm3 = V;
        s->density_g_cm3 = r->total_mass / V * AMU_NM3_TO_G_CM3;
        s->pressure_bar = P;
        r->col_value[c++] = V;
        r->col_value[c++] = s->density_g_cm3;
        r->col_value[c++] = P;
    }
    return CLMD_OK;
}

int clmd_run_execute(clmd_run *r, clmd_run_progress progress, void *ctx, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    clmd_engine *e = r->s.eng;
    clmd_probe *pr = r->s.probe;
    const double dt = d->integrator.timestep_ps;
    long total = d->integrator.steps, step = clmd_engine_step_count(e);
    long ei = r->log ? d->output.energies_interval : 0, ti = r->h5 ? d->output.trajectory_interval : 0;
    long ci = r->checkpoint[0] ? d->output.checkpoint_interval : 0;
    double t0 = now_s(), last_progress = t0;
    const long step0 = step;
    double esum = 0, tsum = 0, vsum = 0, dsum = 0;
    long nsamples = 0;
    double comp[CLMD_E_NCOMP] = {0};
    clmd_thermo th = {0};
    int rc = CLMD_OK, first = 1;
    clmd_run_summary *sum = &r->sum;
    sum->first_step = step0;
    PROBE_START(pr, P_TOTAL);
    while (step <= total) {
        int want_e = (ei && step % ei == 0) || (ti && step % ti == 0) || step == total;
        if (first) {
            /* the state at the first step is written too */
            if (want_e && (rc = clmd_engine_evaluate(e, NULL, NULL, err))) break;
            first = 0;
        }
        if (want_e) {
            if ((rc = sample(r, &th, comp, err))) break;
            esum += th.potential;
            tsum += th.temperature_k;
            vsum += sum->volume_nm3;
            dsum += sum->density_g_cm3;
            nsamples++;
        }
        if (ei && step % ei == 0) {
            PROBE_START(pr, P_OUT_ENERGY);
            rc = clmd_energylog_write(r->log, step, step * dt, &th, r->col_value, err);
            PROBE_STOP(pr, P_OUT_ENERGY);
            if (rc) break;
        }
        if (ti && step % ti == 0) {
            PROBE_START(pr, P_OUT_TRAJ);
            rc = clmd_engine_get_positions(e, r->positions, err);
            clmd_h5md_frame fr = {0};
            fr.step = step;
            fr.time_ps = step * dt;
            fr.x.d = r->positions;
            memcpy(fr.box, clmd_engine_state(e)->box, sizeof fr.box);
            fr.thermo = th;
            fr.extra = r->col_value;
            if (!rc) rc = clmd_h5md_write_frame(r->h5, &fr, err);
            PROBE_STOP(pr, P_OUT_TRAJ);
            if (rc) break;
        }
        if (ci && step % ci == 0 && step > step0 && (rc = write_checkpoint(r, err))) break;
        if (progress && now_s() - last_progress > 1.0) {
            progress(ctx, step - step0, total - step0, now_s() - t0, 0);
            last_progress = now_s();
        }
        if (step == total) break;
        /* advance to the next step where something is written */
        long next = total;
        if (ei) next = fmin(next, (step / ei + 1) * ei);
        if (ti) next = fmin(next, (step / ti + 1) * ti);
        if (ci) next = fmin(next, (step / ci + 1) * ci);
        if (progress) next = fmin(next, step + 1000);
        int need_e = (ei && next % ei == 0) || (ti && next % ti == 0) || next == total;
        if ((rc = clmd_engine_step(e, next - step, need_e, err))) break;
        step = next;
    }
    PROBE_STOP(pr, P_TOTAL);
    if (rc) return rc;
    if (r->checkpoint[0] && (rc = write_checkpoint(r, err))) return rc;
    sum->last_step = total;
    sum->steps = total - step0;
    sum->elapsed_s = now_s() - t0;
    sum->final = th;
    memcpy(sum->components, comp, sizeof comp);
    sum->samples = nsamples;
    if (nsamples > 0) {
        sum->mean_potential = esum / nsamples;
        sum->mean_temperature = tsum / nsamples;
        sum->mean_volume_nm3 = vsum / nsamples;
        sum->mean_density_g_cm3 = dsum / nsamples;
    }
    clmd_probe_count(pr, "steps", sum->steps);
    clmd_probe_count(pr, "nlist_builds_total", clmd_engine_list_builds(e));
    if (progress) progress(ctx, sum->steps, sum->steps, sum->elapsed_s, 1);
    if (r->log && (rc = clmd_energylog_close(&r->log, err))) return rc;
    if (r->h5 && (rc = clmd_h5md_close(&r->h5, err))) return rc;
    if (r->probe_json && (rc = clmd_probe_write_json(pr, sum->steps, r->probe_json, err))) return rc;
    return CLMD_OK;
}
