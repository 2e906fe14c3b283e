#include "run/run.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
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
#include "md/barostat.h"
#include "md/engine.h"
#include "md/integrator.h"
#include "md/rng.h"
#include "ocl/ocl.h"
#include "probe/probe.h"
#include "run/load.h"
#include "run/setup.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"

/* g/cm^3 per amu/nm^3 (1.66053906660e-24 g / 1e-21 cm^3) */
#define AMU_NM3_TO_G_CM3 1.66053906660e-3

/* ---- session ---- */

static void where(const clmd_deck *d, clmd_mark m, const char *key, char *buf, size_t size);

/* The mark of a deck key the force-field plan names. */
static clmd_mark plan_mark(const clmd_deck *d, const char *key)
{
    if (strcmp(key, "nonbonded.cutoff") == 0 && d->cutoff_mark.line) return d->cutoff_mark;
    if (strcmp(key, "nonbonded.method") == 0 && d->method_mark.line) return d->method_mark;
    if (strncmp(key, "implicit_solvent", 16) == 0) return d->implicit_solvent_mark;
    return d->nonbonded_mark;
}

/* A force-field plan problem, pointed at the deck's key. */
static int plan_problem(const clmd_deck *d, const clmd_ffplan *plan, clmd_err *err)
{
    const char *key = plan->problem;
    char at[CLMD_PATH_MAX + 64];
    where(d, plan_mark(d, key), key, at, sizeof at);
    return clmd_err_prefix(err, "%s", at);
}

/* "deck.yaml:12:3: key 'barostat'" (line and column left out when defaulted). */
static void where(const clmd_deck *d, clmd_mark m, const char *key, char *buf, size_t size)
{
    if (m.line > 0) snprintf(buf, size, "%s:%d:%d: key '%s'", d->path, m.line, m.column, key);
    else snprintf(buf, size, "%s: key '%s'", d->path, key);
}

static int add_barostat(clmd_session *s, clmd_err *err)
{
    const clmd_deck *d = &s->deck;
    if (!d->barostat.enabled) return CLMD_OK;
    clmd_barostat_opts bo;
    clmd_barostat_opts_from_deck(d, &bo);
    clmd_hook *h = NULL;
    int rc = clmd_barostat_create(&bo, s->eng, &h, err);
    if (rc) {
        char at[CLMD_PATH_MAX + 64];
        where(d, d->barostat.mark, "barostat", at, sizeof at);
        return clmd_err_prefix(err, "%s", at);
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
    if (d->remd.enabled && engine && o->restart)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: key 'replica_exchange': a campaign's "
                            "checkpoint continues with clmd run (remd/campaign.h)", d->path,
                            d->remd.mark.line, d->remd.mark.column);
    s->probe = clmd_probe_create(o->probes);
    if ((rc = clmd_system_from_deck(d, &s->sys, err))) return rc;
    clmd_ffopts fo;
    clmd_ffopts_from_deck(d, &fo);
    if (!engine) {
        /* what a run validates before its first step, short of the run itself */
        clmd_ffplan plan;
        if (clmd_ffplan_make(s->sys, &fo, &plan, err)) return plan_problem(d, &plan, err);
        if (d->barostat.enabled && (!s->sys->periodic || !plan.cutoff_on)) {
            char at[CLMD_PATH_MAX + 64];
            where(d, d->barostat.mark, "barostat", at, sizeof at);
            return clmd_err_set(err, CLMD_EINPUT, "%s: a barostat needs a periodic box and a cutoff "
                                "method", at);
        }
        if (strcasecmp(d->device, "reference") != 0) {
            clmd_ocl *ocl = NULL;
            if ((rc = clmd_ocl_open(d->device, NULL, &ocl, err))) {
                char at[CLMD_PATH_MAX + 64];
                where(d, d->device_mark, "device", at, sizeof at);
                return clmd_err_prefix(err, "%s", at);
            }
            clmd_ocl_close(&ocl);
        }
        return CLMD_OK;
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
        clmd_draw_velocities(s->sys, T, d->velocities.given ? d->velocities.seed : 1,
                             d->integrator.remove_com_motion, s->sys->v);
    }
    clmd_engine_opts eo;
    clmd_engine_opts_from_deck(d, &eo);
    clmd_ffplan plan;
    if (clmd_ffplan_make(s->sys, &fo, &plan, err)) return plan_problem(d, &plan, err);
    if ((rc = clmd_engine_create(s->sys, &fo, &eo, s->probe, &s->eng, err)))
        return clmd_err_prefix(err, "%s", d->path);
    if (d->alchemical.enabled) {
        clmd_region_scale sc = clmd_region_scale_alchemical(d->alchemical.lambda_sterics,
                                                            d->alchemical.lambda_electrostatics);
        clmd_engine_set_segment_scale(s->eng, 0, &sc);
    }
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
    if (s->deck.alchemical.enabled) {
        double dls, dle;
        clmd_engine_segment_dudl(s->eng, 0, &dls, &dle);
        clmd_json_begin_object(&j, "alchemical");
        clmd_json_number(&j, "lambda_sterics", s->deck.alchemical.lambda_sterics);
        clmd_json_number(&j, "lambda_electrostatics", s->deck.alchemical.lambda_electrostatics);
        clmd_json_number(&j, "dUdlambda_sterics", dls);
        clmd_json_number(&j, "dUdlambda_electrostatics", dle);
        clmd_json_int(&j, "region_particles", s->sys->nregion);
        clmd_json_end_object(&j);
    }
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

enum { MAX_COLUMNS = CLMD_E_NCOMP + 5 };

struct clmd_run {
    clmd_session s;
    clmd_run_opts o;
    clmd_run_minimized min;
    clmd_run_summary sum;
    char traj[CLMD_PATH_MAX + 8], energies[CLMD_PATH_MAX + 8], checkpoint[CLMD_PATH_MAX + 8];
    char topology[CLMD_PATH_MAX + 16]; /* the trajectory's PDB topology */
    char topology_name[CLMD_PATH_MAX + 16];
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
    long restart_step;       /* the checkpoint's step (restarts), else -1 */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* FNV-1a over the deck's physics keys (the force field, constraints and system source): a
 * restart with other physics than its checkpoint's would continue a different simulation. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static uint64_t physics_hash(const clmd_deck *d)
{
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &d->nonbonded, sizeof d->nonbonded);
    h = fnv(h, &d->implicit_solvent, sizeof d->implicit_solvent);
    h = fnv(h, &d->constraints, sizeof d->constraints);
    h = fnv(h, &d->constraint_tolerance, sizeof d->constraint_tolerance);
    h = fnv(h, &d->rigid_water, sizeof d->rigid_water);
    h = fnv(h, &d->system.kind, sizeof d->system.kind);
    h = fnv(h, &d->system.builtin, sizeof d->system.builtin);
    h = fnv(h, &d->system.cells, sizeof d->system.cells);
    h = fnv(h, &d->system.reduced_density, sizeof d->system.reduced_density);
    h = fnv(h, &d->system.edge_nm, sizeof d->system.edge_nm);
    const char *names[5] = {d->system.model, d->system.forcefield, d->system.prmtop,
                            d->system.inpcrd, d->system.coordinates};
    /* file names without their folders: a run directory may be moved */
    for (int k = 0; k < 5; k++) h = fnv(h, basename_of(names[k]), strlen(basename_of(names[k])) + 1);
    if (d->alchemical.enabled) {
        /* the region and its lambdas (hashed only when present: older checkpoints still match) */
        const clmd_deck_selection *g = &d->alchemical.region;
        h = fnv(h, &d->alchemical.lambda_sterics, sizeof(double));
        h = fnv(h, &d->alchemical.lambda_electrostatics, sizeof(double));
        h = fnv(h, &d->alchemical.softcore_alpha, sizeof(double));
        h = fnv(h, &d->alchemical.annihilate_sterics, sizeof(int));
        h = fnv(h, &g->nranges, sizeof g->nranges);
        h = fnv(h, g->range, sizeof g->range[0] * (size_t)g->nranges);
        h = fnv(h, &g->nresidues, sizeof g->nresidues);
        h = fnv(h, g->residue, sizeof g->residue[0] * (size_t)g->nresidues);
    }
    return h;
}

static int write_checkpoint(clmd_run *r, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    clmd_ckpt_writer *w = NULL;
    PROBE_START(r->s.probe, P_CHECKPOINT);
    int rc = clmd_ckpt_writer_open(r->checkpoint, &w, err);
    const double pressure[3] = {d->barostat.pressure_bar[0], d->barostat.pressure_bar[1],
                                d->barostat.pressure_bar[2]};
    if (!rc) rc = clmd_ckpt_put_f64(w, "timestep_ps", d->integrator.timestep_ps, err);
    if (!rc) rc = clmd_ckpt_put_i64(w, "run_integrator", d->integrator.type, err);
    if (!rc) rc = clmd_ckpt_put_f64(w, "run_temperature_K", d->integrator.temperature, err);
    if (!rc) rc = clmd_ckpt_put_f64(w, "run_friction_per_ps", d->integrator.friction, err);
    if (!rc) rc = clmd_ckpt_put_i64(w, "run_barostat", d->barostat.enabled, err);
    if (!rc) rc = clmd_ckpt_put(w, "run_pressure_bar", CLMD_CKPT_F64, pressure, 3, err);
    if (!rc) rc = clmd_ckpt_put(w, "run_input_box", CLMD_CKPT_F64, r->s.sys->box, 9, err);
    if (!rc) rc = clmd_ckpt_put_u64(w, "run_physics_hash", physics_hash(d), err);
    if (!rc) rc = clmd_engine_save_checkpoint(r->s.eng, w, err);
    if (!rc) rc = clmd_ckpt_writer_commit(&w, err);
    if (w) clmd_ckpt_writer_abort(&w);
    PROBE_STOP(r->s.probe, P_CHECKPOINT);
    return rc;
}

/* "deck.yaml:12:3: key 'integrator.timestep': the checkpoint's run used 0.002, the deck
 * says 0.001: ..." */
static int mismatch(const clmd_run *r, const char *path, clmd_mark m, const char *key,
                    const char *what, clmd_err *err)
{
    char at[CLMD_PATH_MAX + 64];
    where(&r->s.deck, m, key, at, sizeof at);
    return clmd_err_set(err, CLMD_EINPUT, "%s: %s than the run of checkpoint %s: a restart must "
                        "continue the same simulation (start a new run for new settings)", at,
                        what, path);
}

/* The deck must describe the run the checkpoint belongs to. */
static int check_run_records(clmd_run *r, clmd_ckpt_reader *rd, const char *path, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    double dt, T, fr, pressure[3], box[9];
    int64_t integ, baro;
    uint64_t hash;
    int rc;
    if ((rc = clmd_ckpt_get_f64(rd, "timestep_ps", &dt, err)) ||
        (rc = clmd_ckpt_get_i64(rd, "run_integrator", &integ, err)) ||
        (rc = clmd_ckpt_get_f64(rd, "run_temperature_K", &T, err)) ||
        (rc = clmd_ckpt_get_f64(rd, "run_friction_per_ps", &fr, err)) ||
        (rc = clmd_ckpt_get_i64(rd, "run_barostat", &baro, err)) ||
        (rc = clmd_ckpt_get(rd, "run_pressure_bar", CLMD_CKPT_F64, pressure, 3, err)) ||
        (rc = clmd_ckpt_get(rd, "run_input_box", CLMD_CKPT_F64, box, 9, err)) ||
        (rc = clmd_ckpt_get_u64(rd, "run_physics_hash", &hash, err)))
        return rc;
    clmd_mark im = d->integrator.mark;
    if (dt != d->integrator.timestep_ps)
        return mismatch(r, path, im, "integrator.timestep", "another time step", err);
    if (integ != (int64_t)d->integrator.type)
        return mismatch(r, path, im, "integrator.type", "another integrator", err);
    if (T != d->integrator.temperature)
        return mismatch(r, path, im, "integrator.temperature", "another temperature", err);
    if (fr != d->integrator.friction)
        return mismatch(r, path, im, "integrator.friction", "another friction", err);
    if (baro != d->barostat.enabled ||
        (baro && memcmp(pressure, d->barostat.pressure_bar, sizeof pressure) != 0))
        return mismatch(r, path, d->barostat.mark, "barostat", baro ? (d->barostat.enabled
                         ? "another pressure" : "no barostat, rather") : "a barostat, rather", err);
    if (memcmp(box, r->s.sys->box, sizeof box) != 0)
        return mismatch(r, path, d->system.mark, "system", "another box", err);
    if (hash != physics_hash(d))
        return mismatch(r, path, d->nonbonded_mark,
                        "nonbonded/implicit_solvent/constraints/system/alchemical", "other physics",
                        err);
    return CLMD_OK;
}

static int read_checkpoint(clmd_run *r, const char *path, clmd_err *err)
{
    clmd_ckpt_reader *rd = NULL;
    int rc = clmd_ckpt_reader_open(path, &rd, err);
    if (!rc) rc = check_run_records(r, rd, path, err);
    if (!rc && (rc = clmd_engine_load_checkpoint(r->s.eng, rd, err))) clmd_err_prefix(err, "%s", path);
    clmd_ckpt_reader_close(&rd);
    if (rc) return rc;
    r->restart_step = clmd_engine_step_count(r->s.eng);
    const clmd_deck *d = &r->s.deck;
    if (d->integrator.steps < r->restart_step) {
        char at[CLMD_PATH_MAX + 64];
        where(d, d->integrator.mark, "integrator.steps", at, sizeof at);
        return clmd_err_set(err, CLMD_EINPUT, "%s: the run is asked to end at step %ld (or "
                            "--steps), but checkpoint %s is already at step %ld", at,
                            d->integrator.steps, path, r->restart_step);
    }
    return CLMD_OK;
}

static int minimize(clmd_run *r, clmd_err *err)
{
    const clmd_deck *d = &r->s.deck;
    clmd_engine *e = r->s.eng;
    int rc;
    PROBE_START(r->s.probe, P_MINIMIZE);
    /* the velocities then satisfy the constraints of the minimized positions */
    if (!(rc = clmd_engine_minimize(e, d->minimize.max_steps, d->minimize.tolerance, &r->min.e0,
                                    &r->min.fmax, &r->min.steps, err)))
        rc = clmd_engine_apply_constraints(e, err);
    if (!rc) rc = clmd_engine_finish(e, err);
    PROBE_STOP(r->s.probe, P_MINIMIZE);
    if (rc) return rc;
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
    /* every output checked before anything is written; a restart continues its run's files */
    const int restart = r->restart_step >= 0, replace = d->output.overwrite || restart;
    r->probe_json = r->o.probe_json ? r->o.probe_json : (d->probes_json[0] ? d->probes_json : NULL);
    /* the trajectory's topology: traj.h5 -> traj.pdb */
    if (d->output.trajectory[0]) {
        snprintf(r->topology_name, sizeof r->topology_name, "%s", d->output.trajectory);
        char *dot = strrchr(r->topology_name, '.'), *slash = strrchr(r->topology_name, '/');
        if (dot && (!slash || dot > slash)) *dot = '\0';
        strncat(r->topology_name, ".pdb", sizeof r->topology_name - strlen(r->topology_name) - 1);
    }
    const char *names[4] = {d->output.trajectory, d->output.energies, d->output.checkpoint,
                            r->topology_name};
    if ((rc = clmd_outfile_prepare(d->output.directory, names, 4, replace, err))) return rc;
    if (r->probe_json && (rc = clmd_outfile_prepare("", &r->probe_json, 1, replace, err))) return rc;
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
    if (d->alchemical.enabled) {
        /* thermodynamic integration's integrand, per row */
        r->col_name[r->ncols++] = "dudl_sterics";
        r->col_name[r->ncols++] = "dudl_electrostatics";
    }
    if (r->energies[0] &&
        (rc = restart ? clmd_energylog_continue(r->energies, r->col_name, r->ncols, r->restart_step,
                                                &r->log, err)
                      : clmd_energylog_open(r->energies, r->col_name, r->ncols, &r->log, err)))
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
        rc = restart ? clmd_h5md_continue(r->traj, &ho, r->restart_step, &r->h5, err)
                     : clmd_h5md_create(r->traj, &ho, &r->h5, err);
        clmd_free(anames);
        if (rc) return rc;
        if ((rc = clmd_outfile_path(dir, r->topology_name, r->topology, sizeof r->topology, err)))
            return rc;
        const clmd_state *st = clmd_engine_state(r->s.eng);
        clmd_pdb_atoms pa = {n, (const char(*)[8])sys->name, sys->residue,
                             (const char(*)[8])sys->resname, sys->atomic_number, sys->x,
                             sys->periodic, {{0}}, d->title};
        memcpy(pa.box, st->box, sizeof pa.box);
        if (!restart || access(r->topology, F_OK) != 0) {
            if ((rc = clmd_engine_get_positions(r->s.eng, r->positions, err))) return rc;
            pa.x = r->positions;
            if ((rc = clmd_pdb_write(r->topology, &pa, err))) return rc;
        }
    }
    return CLMD_OK;
}

int clmd_run_create(const clmd_run_opts *o, clmd_run **out, clmd_err *err)
{
    *out = NULL;
    clmd_run *r = clmd_alloc(sizeof *r);
    r->o = *o;
    r->restart_step = -1;
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
    if (r->s.deck.alchemical.enabled) {
        double dls, dle;
        clmd_engine_segment_dudl(e, 0, &dls, &dle);
        r->col_value[c++] = dls;
        r->col_value[c++] = dle;
    }
    return CLMD_OK;
}

/* Steps from step to next in chunks of about half a second, so that an interrupt or a
 * wall-time checkpoint waits at most that long; the chunking changes nothing in the
 * trajectory (energies are computed at `next` only when want_e). */
static int advance(clmd_run *r, long *step, long next, int want_e, double *rate, double *t_ckpt,
                   clmd_err *err)
{
    clmd_engine *e = r->s.eng;
    const clmd_deck *d = &r->s.deck;
    const double wall = d->output.checkpoint_wall_minutes * 60;
    int rc;
    while (*step < next) {
        long chunk = (long)fmax(1, fmin((double)(next - *step), 0.5 * *rate));
        double t0 = now_s();
        if ((rc = clmd_engine_step(e, chunk, want_e && *step + chunk == next, err))) return rc;
        *step += chunk;
        double dt = now_s() - t0;
        if (dt > 0) *rate = fmax(1, chunk / dt);
        if (r->o.interrupt && *r->o.interrupt) {
            if (r->checkpoint[0] && (rc = write_checkpoint(r, err))) return rc;
            if (r->checkpoint[0])
                return clmd_err_set(err, CLMD_ERUNTIME, "interrupted at step %ld: checkpoint %s "
                                    "written; continue with --restart %s", *step, r->checkpoint,
                                    r->checkpoint);
            return clmd_err_set(err, CLMD_ERUNTIME, "interrupted at step %ld (checkpoints are off: "
                                "output.checkpoint is null)", *step);
        }
        if (r->checkpoint[0] && wall > 0 && now_s() - *t_ckpt >= wall && *step < next) {
            if ((rc = write_checkpoint(r, err))) return rc;
            *t_ckpt = now_s();
        }
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
    const double wall = r->checkpoint[0] ? d->output.checkpoint_wall_minutes * 60 : 0;
    double t0 = now_s(), last_progress = t0, rate = 20, t_ckpt = t0;
    const long step0 = step;
    double esum = 0, tsum = 0, vsum = 0, dsum = 0;
    long nsamples = 0;
    double comp[CLMD_E_NCOMP] = {0};
    clmd_thermo th = {0};
    int rc = CLMD_OK;
    /* a fresh run writes its first state; a restart's outputs may hold the checkpoint's already */
    int skip_energy = r->log && clmd_energylog_last_step(r->log) >= step;
    int skip_frame = r->h5 && clmd_h5md_last_step(r->h5) >= step;
    clmd_run_summary *sum = &r->sum;
    sum->first_step = step0;
    /* the phases report the loop's own work: what setup and minimization queued is done */
    if (clmd_probe_enabled(pr)) {
        if ((rc = clmd_engine_finish(e, err))) return rc;
        clmd_probe_begin_loop(pr);
    }
    const long launches0 = clmd_engine_kernel_launches(e);
    PROBE_START(pr, P_TOTAL);
    if (step > total) rc = clmd_err_set(err, CLMD_EINPUT, "the run is at step %ld, past its end at %ld",
                                        step, total);
    while (!rc && step <= total) {
        int want_e = (ei && step % ei == 0) || (ti && step % ti == 0) || step == total;
        if (step == step0 && want_e && (rc = clmd_engine_evaluate(e, NULL, NULL, err))) break;
        if (want_e) {
            if ((rc = sample(r, &th, comp, err))) break;
            esum += th.potential;
            tsum += th.temperature_k;
            vsum += sum->volume_nm3;
            dsum += sum->density_g_cm3;
            nsamples++;
        }
        if (!skip_energy && ei && step % ei == 0) {
            PROBE_START(pr, P_OUT_ENERGY);
            rc = clmd_energylog_write(r->log, step, step * dt, &th, r->col_value, err);
            PROBE_STOP(pr, P_OUT_ENERGY);
            if (rc) break;
        }
        if (!skip_frame && ti && step % ti == 0) {
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
        skip_energy = skip_frame = 0;
        if (ci && step % ci == 0 && step > step0 && step < total) {
            if ((rc = write_checkpoint(r, err))) break;
            t_ckpt = now_s();
        }
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
        if (r->o.interrupt || wall > 0) rc = advance(r, &step, next, need_e, &rate, &t_ckpt, err);
        else if (!(rc = clmd_engine_step(e, next - step, need_e, err))) step = next;
    }
    PROBE_STOP(pr, P_TOTAL);
    /* outputs are flushed row by row: what was written stays even when the loop failed */
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
    clmd_probe_count(pr, "kernel_launches", clmd_engine_kernel_launches(e) - launches0);
    if (clmd_ocl_device_bytes_peak() > 0) /* the device memory the run needed */
        clmd_probe_count(pr, "device_bytes_peak", (long)clmd_ocl_device_bytes_peak());
    if (progress) progress(ctx, sum->steps, sum->steps, sum->elapsed_s, 1);
    if (r->log && (rc = clmd_energylog_close(&r->log, err))) return rc;
    if (r->h5 && (rc = clmd_h5md_close(&r->h5, err))) return rc;
    if (r->probe_json && (rc = clmd_probe_write_json(pr, sum->steps, r->probe_json, err))) return rc;
    return CLMD_OK;
}
