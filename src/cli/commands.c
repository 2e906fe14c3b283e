#include "cli/commands.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buildinfo.h"
#include "core/json.h"
#include "core/mem.h"
#include "ff/pme.h"
#include "ff/term.h"
#include "input/deck.h"
#include "io/checkpoint.h"
#include "io/energylog.h"
#include "io/h5md.h"
#include "io/outfile.h"
#include "md/engine.h"
#include "md/rng.h"
#include "ocl/ocl.h"
#include "probe/probe.h"
#include "run/load.h"
#include "run/setup.h"
#include "system/system.h"

/* ---- command-line parsing ---- */

typedef struct cli {
    const char *deck;
    long steps;           /* -1: the deck's */
    const char *device;   /* NULL: the deck's */
    const char *probe_json;
    const char *json;     /* eval */
    const char *restart;
    int overwrite, quiet;
} cli;

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "clmd %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage:\n"
                    "  clmd run   DECK [--steps N] [--device SPEC] [--probe-json FILE] [--overwrite]\n"
                    "                  [--quiet] [--restart CHECKPOINT]\n"
                    "  clmd eval  DECK --json FILE [--device SPEC]\n"
                    "  clmd check DECK\n"
                    "  clmd devices\n"
                    "  clmd --version\n");
    return CLMD_EINPUT;
}

/* Parses `args` for the options `allowed` (a string of option letters: s d p o q j r). */
static int parse_cli(const char *cmd, int argc, char **argv, const char *allowed, cli *c)
{
    memset(c, 0, sizeof *c);
    c->steps = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, letter) (strcmp(a, name) == 0 && strchr(allowed, letter))
        if (OPT("--steps", 's')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            char *end;
            errno = 0;
            c->steps = strtol(val, &end, 10);
            if (*end || end == val || errno || c->steps < 0)
                return usage_error(cmd, "--steps '%s' is not a non-negative integer", val);
            i++;
        } else if (OPT("--device", 'd')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->device = val;
            i++;
        } else if (OPT("--probe-json", 'p')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->probe_json = val;
            i++;
        } else if (OPT("--json", 'j')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->json = val;
            i++;
        } else if (OPT("--restart", 'r')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->restart = val;
            i++;
        } else if (OPT("--overwrite", 'o')) {
            c->overwrite = 1;
        } else if (OPT("--quiet", 'q')) {
            c->quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown option '%s'", a);
        } else if (!c->deck) {
            c->deck = a;
        } else {
            return usage_error(cmd, "unexpected argument '%s'", a);
        }
#undef OPT
    }
    if (!c->deck) return usage_error(cmd, "%s", "a DECK file is required");
    return CLMD_OK;
}

static int fail(clmd_err *err)
{
    fprintf(stderr, "clmd: error: %s\n", err->msg);
    return err->code ? err->code : CLMD_ERUNTIME;
}

/* ---- shared set-up: deck, system, engine ---- */

typedef struct session {
    clmd_deck deck;
    clmd_system *sys;
    clmd_engine *eng;
    clmd_probe *probe;
} session;

static void session_end(session *s)
{
    clmd_engine_destroy(&s->eng);
    clmd_system_destroy(&s->sys);
    clmd_probe_destroy(&s->probe);
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

static int session_start(session *s, const cli *c, int probes_on, clmd_err *err)
{
    memset(s, 0, sizeof *s);
    int rc = clmd_deck_load(c->deck, &s->deck, err);
    if (rc) return rc;
    if (c->device) snprintf(s->deck.device, sizeof s->deck.device, "%s", c->device);
    if (c->steps >= 0) s->deck.integrator.steps = c->steps;
    if (c->overwrite) s->deck.output.overwrite = 1;
    if (s->deck.remd.enabled)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: key 'replica_exchange': replica exchange "
                            "is not available in this version of clmd", c->deck,
                            s->deck.remd.mark.line, s->deck.remd.mark.column);
    s->probe = clmd_probe_create(probes_on);
    if ((rc = clmd_system_from_deck(&s->deck, &s->sys, err))) return rc;
    /* velocities: from the input file, or drawn at a temperature */
    const clmd_deck *d = &s->deck;
    if (d->velocities.from_input && !s->sys->v)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: key 'velocities': from_input, but %s has "
                            "no velocities", c->deck, d->velocities.mark.line,
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
    clmd_ffopts fo;
    clmd_ffopts_from_deck(d, &fo);
    return clmd_engine_create(s->sys, &fo, &eo, s->probe, &s->eng, err);
}

/* Which energy components this system has (the keys `clmd eval` writes). */
static void present_components(const session *s, int present[CLMD_E_NCOMP])
{
    const clmd_system *y = s->sys;
    clmd_ffopts fo;
    clmd_ffopts_from_deck(&s->deck, &fo);
    const clmd_ffopts *o = &fo;
    int charged = 0;
    for (int i = 0; i < y->n && !charged; i++) charged = y->charge[i] != 0;
    memset(present, 0, sizeof(int) * CLMD_E_NCOMP);
    present[CLMD_E_LJ] = 1;
    present[CLMD_E_COULOMB] = charged || o->method == CLMD_NB_PME;
    present[CLMD_E_PME_RECIP] = o->method == CLMD_NB_PME;
    present[CLMD_E_BOND] = y->nbonds > 0;
    present[CLMD_E_ANGLE] = y->nangles > 0;
    present[CLMD_E_TORSION] = y->ntorsions > 0;
    present[CLMD_E_GB] = o->gb_model != CLMD_GB_NONE;
    present[CLMD_E_SA] = o->gb_model != CLMD_GB_NONE && o->surface_area;
    present[CLMD_E_DISP] = y->periodic && o->method != CLMD_NB_NOCUTOFF && o->dispersion_correction;
    present[CLMD_E_CMAP] = y->ncmaps > 0;
}

/* ---- clmd eval ---- */

int clmd_cmd_eval(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("eval", argc, argv, "dj", &c);
    if (rc) return rc;
    if (!c.json) return usage_error("eval", "%s", "--json FILE is required");
    clmd_err err = {0};
    session s;
    if ((rc = session_start(&s, &c, 0, &err))) {
        session_end(&s);
        return fail(&err);
    }
    int n = s.sys->n;
    double e[CLMD_E_NCOMP], *f = clmd_calloc(3 * (size_t)n, sizeof(double));
    rc = clmd_engine_evaluate(s.eng, e, f, &err);
    if (rc) {
        clmd_free(f);
        session_end(&s);
        return fail(&err);
    }
    char tmp[CLMD_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", c.json);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        clmd_free(f);
        session_end(&s);
        clmd_err_set(&err, CLMD_ERUNTIME, "%s: cannot write: %s", c.json, strerror(errno));
        return fail(&err);
    }
    int present[CLMD_E_NCOMP];
    present_components(&s, present);
    clmd_json j;
    clmd_json_init(&j, out);
    clmd_json_begin_object(&j, NULL);
    clmd_json_string(&j, "clmd_version", CLMD_VERSION " (" CLMD_GIT_COMMIT ")");
    clmd_json_string(&j, "device", clmd_engine_device(s.eng));
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
        if (present[k]) clmd_json_number(&j, clmd_ecomp_name[k], e[k]);
    }
    clmd_json_number(&j, "total", total);
    clmd_json_end_object(&j);
    if (s.deck.nonbonded.method == CLMD_DECK_NB_PME) {
        /* the same deterministic choice the engine's PME term made */
        clmd_term *pt = NULL;
        double alpha;
        int grid[3];
        clmd_ffopts fo;
        clmd_ffopts_from_deck(&s.deck, &fo);
        if (clmd_pme_create(s.sys, &fo, &pt, &err) == CLMD_OK && pt &&
            clmd_pme_term_params(pt, &alpha, grid) == CLMD_OK) {
            clmd_json_begin_object(&j, "pme");
            clmd_json_number(&j, "alpha", alpha);
            clmd_json_begin_array(&j, "grid");
            for (int k = 0; k < 3; k++) clmd_json_int(&j, NULL, grid[k]);
            clmd_json_end_array(&j);
            clmd_json_end_object(&j);
        }
        clmd_term_destroy(&pt);
    }
    clmd_json_begin_array(&j, "forces");
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s\n[%.10g, %.10g, %.10g]", i ? "," : "", f[3 * i], f[3 * i + 1], f[3 * i + 2]);
    }
    clmd_json_end_array(&j);
    clmd_json_end_object(&j);
    int bad = ferror(out);
    if (fclose(out) != 0 || bad || rename(tmp, c.json) != 0) {
        remove(tmp);
        clmd_err_set(&err, CLMD_ERUNTIME, "%s: error writing", c.json);
        rc = fail(&err);
    }
    clmd_free(f);
    session_end(&s);
    return rc;
}

/* ---- clmd check ---- */

int clmd_cmd_check(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("check", argc, argv, "", &c);
    if (rc) return rc;
    clmd_err err = {0};
    clmd_deck d;
    if ((rc = clmd_deck_load(c.deck, &d, &err))) return fail(&err);
    clmd_system *sys = NULL;
    if ((rc = clmd_system_from_deck(&d, &sys, &err))) return fail(&err);
    clmd_deck_print(&d, stdout);
    printf("# system: %s: %d particles, %d bonds, %d angles, %d torsions, %d constraints, "
           "%d virtual sites%s\n",
           sys->source, sys->n, sys->nbonds, sys->nangles, sys->ntorsions, sys->nconstraints,
           sys->nvsites, sys->periodic ? ", periodic" : "");
    clmd_system_destroy(&sys);
    return CLMD_OK;
}

/* ---- clmd devices ---- */

int clmd_cmd_devices(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) return usage_error("devices", "%s", "takes no arguments");
    clmd_err err = {0};
    return clmd_ocl_list(stdout, &err) ? fail(&err) : CLMD_OK;
}

/* ---- clmd run ---- */

typedef struct outputs {
    char traj[CLMD_PATH_MAX + 8], energies[CLMD_PATH_MAX + 8], checkpoint[CLMD_PATH_MAX + 8];
    clmd_h5md *h5;
    clmd_energylog *log;
} outputs;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int write_checkpoint(session *s, const char *path, double *scratch, clmd_err *err)
{
    int n = s->sys->n, rc;
    clmd_ckpt_writer *w = NULL;
    PROBE_START(s->probe, P_CHECKPOINT);
    if ((rc = clmd_ckpt_writer_open(path, &w, err))) goto done;
    long step = clmd_engine_step_count(s->eng);
    if ((rc = clmd_ckpt_put_i64(w, "step", step, err)) ||
        (rc = clmd_ckpt_put_i64(w, "particles", n, err)) ||
        (rc = clmd_ckpt_put_f64(w, "timestep_ps", s->deck.integrator.timestep_ps, err)) ||
        (rc = clmd_ckpt_put(w, "box", CLMD_CKPT_F64, s->sys->box, 9, err)))
        goto done;
    double skin;
    long last_build;
    clmd_engine_get_list_state(s->eng, &skin, &last_build);
    if ((rc = clmd_ckpt_put_f64(w, "list_skin", skin, err)) ||
        (rc = clmd_ckpt_put_i64(w, "list_built_at", last_build, err)))
        goto done;
    if ((rc = clmd_engine_get_positions(s->eng, scratch, err)) ||
        (rc = clmd_ckpt_put(w, "positions", CLMD_CKPT_F64, scratch, 3 * (size_t)n, err)) ||
        (rc = clmd_engine_get_velocities(s->eng, scratch, err)) ||
        (rc = clmd_ckpt_put(w, "velocities", CLMD_CKPT_F64, scratch, 3 * (size_t)n, err)) ||
        (rc = clmd_engine_get_list_reference(s->eng, scratch)) ||
        (rc = clmd_ckpt_put(w, "list_reference", CLMD_CKPT_F64, scratch, 3 * (size_t)n, err)))
        goto done;
    rc = clmd_ckpt_writer_commit(&w, err);
done:
    if (w) clmd_ckpt_writer_abort(&w);
    PROBE_STOP(s->probe, P_CHECKPOINT);
    return rc;
}

static int read_checkpoint(session *s, const char *path, clmd_err *err)
{
    int n = s->sys->n, rc;
    clmd_ckpt_reader *r = NULL;
    double *buf = clmd_calloc(3 * (size_t)n, sizeof(double));
    int64_t step = 0, particles = 0;
    if ((rc = clmd_ckpt_reader_open(path, &r, err)) ||
        (rc = clmd_ckpt_get_i64(r, "particles", &particles, err)))
        goto done;
    if (particles != n) {
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: checkpoint of %lld particles, but the deck's "
                          "system has %d", path, (long long)particles, n);
        goto done;
    }
    double skin;
    int64_t built_at;
    if ((rc = clmd_ckpt_get_f64(r, "list_skin", &skin, err)) ||
        (rc = clmd_ckpt_get_i64(r, "list_built_at", &built_at, err)))
        goto done;
    if ((rc = clmd_ckpt_get_i64(r, "step", &step, err)) ||
        (rc = clmd_ckpt_get(r, "positions", CLMD_CKPT_F64, buf, 3 * (size_t)n, err)) ||
        (rc = clmd_engine_set_positions(s->eng, buf, err)) ||
        (rc = clmd_ckpt_get(r, "velocities", CLMD_CKPT_F64, buf, 3 * (size_t)n, err)) ||
        (rc = clmd_engine_set_velocities(s->eng, buf, err)) ||
        (rc = clmd_ckpt_get(r, "list_reference", CLMD_CKPT_F64, buf, 3 * (size_t)n, err)))
        goto done;
    /* the list exactly as the original run had it: buffer, build step, reference positions */
    clmd_engine_set_list_state(s->eng, skin, (long)built_at);
    if ((rc = clmd_engine_set_list_reference(s->eng, buf, err))) goto done;
    clmd_engine_set_step_count(s->eng, (long)step);
done:
    clmd_ckpt_reader_close(&r);
    clmd_free(buf);
    return rc;
}

static void thermo_now(session *s, clmd_thermo *t, double *comp)
{
    double epot, ekin;
    clmd_engine_energies(s->eng, comp, &epot, &ekin);
    t->potential = epot;
    t->kinetic = ekin;
    t->total = epot + ekin;
    t->temperature_k = clmd_engine_temperature(s->eng, ekin);
}

static void progress(const session *s, long step, long total, double t0, int final)
{
    double el = now_s() - t0, dt = s->deck.integrator.timestep_ps;
    long done = step;
    double nsday = el > 0 ? done * dt * 1e-3 / el * 86400 : 0;
    double eta = done > 0 ? el / done * (total - done) : 0;
    fprintf(stderr, "\rstep %ld/%ld  %.3f ns/day  %.1f steps/s  ETA %.0f s   ", step, total, nsday,
            el > 0 ? done / el : 0, eta);
    if (final) fputc('\n', stderr);
}

int clmd_cmd_run(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("run", argc, argv, "sdpoqr", &c);
    if (rc) return rc;
    clmd_err err = {0};
    session s;
    outputs o;
    memset(&o, 0, sizeof o);
    double *scratch = NULL;
    if ((rc = session_start(&s, &c, 1, &err))) goto out;
    const clmd_deck *d = &s.deck;
    int n = s.sys->n;
    scratch = clmd_calloc(3 * (size_t)n, sizeof(double));
    /* a fresh run starts from constrained positions and velocities; a restart continues the
     * checkpointed state untouched, so it repeats the original run bit for bit */
    if (c.restart) rc = read_checkpoint(&s, c.restart, &err);
    else rc = clmd_engine_apply_constraints(s.eng, &err);
    if (rc) goto out;
    if (!c.restart && d->minimize.enabled) {
        double e0, e1, fmax;
        long it;
        if ((rc = clmd_engine_evaluate(s.eng, NULL, NULL, &err))) goto out;
        clmd_engine_energies(s.eng, NULL, &e0, NULL);
        /* the velocities then satisfy the constraints of the minimized positions */
        if ((rc = clmd_engine_minimize(s.eng, d->minimize.max_steps, d->minimize.tolerance, &fmax,
                                       &it, &err)) ||
            (rc = clmd_engine_apply_constraints(s.eng, &err)))
            goto out;
        clmd_engine_energies(s.eng, NULL, &e1, NULL);
        if (!c.quiet)
            printf("minimize: %ld steepest-descent steps, potential %.6g -> %.6g kJ/mol, largest "
                   "force %.4g kJ/mol/nm%s\n", it, e0, e1, fmax,
                   fmax <= d->minimize.tolerance ? ""
                   : it >= d->minimize.max_steps ? " (max_steps reached before the tolerance)"
                                                 : " (no lower energy along the force: stopped)");
    }

    /* every output checked before anything is written */
    const char *probe_json = c.probe_json ? c.probe_json : (d->probes_json[0] ? d->probes_json : NULL);
    const char *names[3] = {d->output.trajectory, d->output.energies, d->output.checkpoint};
    if ((rc = clmd_outfile_prepare(d->output.directory, names, 3, d->output.overwrite, &err)))
        goto out;
    if (probe_json && !d->output.overwrite && access(probe_json, F_OK) == 0) {
        rc = clmd_err_set(&err, CLMD_EINPUT, "%s exists: set output.overwrite: true in the deck "
                          "or pass --overwrite", probe_json);
        goto out;
    }
    const char *dir = d->output.directory;
    if ((d->output.trajectory[0] &&
         (rc = clmd_outfile_path(dir, d->output.trajectory, o.traj, sizeof o.traj, &err))) ||
        (d->output.energies[0] &&
         (rc = clmd_outfile_path(dir, d->output.energies, o.energies, sizeof o.energies, &err))) ||
        (d->output.checkpoint[0] &&
         (rc = clmd_outfile_path(dir, d->output.checkpoint, o.checkpoint, sizeof o.checkpoint, &err))))
        goto out;
    static const char *const extra_names[CLMD_E_NCOMP] = {
        "lj", "coulomb", "pme_reciprocal", "bond", "angle", "torsion", "gb", "surface_area",
        "dispersion_correction", "cmap"};
    if (o.energies[0] && (rc = clmd_energylog_open(o.energies, extra_names, CLMD_E_NCOMP, &o.log, &err)))
        goto out;
    if (o.traj[0]) {
        const char **anames = clmd_calloc(n, sizeof *anames);
        for (int i = 0; i < n; i++) anames[i] = s.sys->name[i];
        clmd_h5md_opts ho = {0};
        ho.n_particles = n;
        ho.periodic = s.sys->periodic;
        ho.title = d->title;
        ho.names = anames;
        ho.mass = s.sys->mass;
        ho.charge = s.sys->charge;
        ho.n_extra = CLMD_E_NCOMP;
        ho.extra_names = extra_names;
        rc = clmd_h5md_create(o.traj, &ho, &o.h5, &err);
        clmd_free(anames);
        if (rc) goto out;
    }

    clmd_probe_set_info(s.probe, "device", clmd_engine_device(s.eng));
    clmd_probe_set_info(s.probe, "driver", clmd_engine_driver(s.eng));
    clmd_probe_set_info(s.probe, "deck", c.deck);
    clmd_probe_set_info(s.probe, "title", d->title);
    clmd_probe_set_info(s.probe, "system", s.sys->source);
    char buf[64];
    snprintf(buf, sizeof buf, "%d", n);
    clmd_probe_set_info(s.probe, "particles", buf);
    snprintf(buf, sizeof buf, "%g", d->integrator.timestep_ps);
    clmd_probe_set_info(s.probe, "timestep_ps", buf);

    if (!c.quiet) {
        printf("clmd %s (%s)\n%s\n", CLMD_VERSION, CLMD_GIT_COMMIT, d->title);
        printf("system: %s: %d particles%s\n", s.sys->source, n, s.sys->periodic ? ", periodic box" : "");
        printf("device: %s\n", clmd_engine_device(s.eng));
        clmd_engine_describe(s.eng, stdout);
        printf("integrator: %s, dt %g ps, %ld steps, %d degrees of freedom\n",
               d->integrator.type == CLMD_INT_VERLET ? "velocity Verlet (NVE)" : "Langevin middle (NVT)",
               d->integrator.timestep_ps, d->integrator.steps, clmd_engine_dof(s.eng));
        fflush(stdout);
    }

    long total = d->integrator.steps, step = clmd_engine_step_count(s.eng);
    long ei = o.log ? d->output.energies_interval : 0, ti = o.h5 ? d->output.trajectory_interval : 0;
    long ci = o.checkpoint[0] ? d->output.checkpoint_interval : 0;
    int tty = !c.quiet && isatty(2);
    double t0 = now_s(), last_progress = t0;
    long step0 = step;
    double esum = 0, tsum = 0;
    long nsamples = 0;
    double comp[CLMD_E_NCOMP];
    clmd_thermo th = {0};
    /* the state at the first step is written too */
    int first = 1;
    PROBE_START(s.probe, P_TOTAL);
    while (step <= total) {
        int want_e = (ei && step % ei == 0) || (ti && step % ti == 0) || step == total;
        if (first) {
            if (want_e && (rc = clmd_engine_evaluate(s.eng, NULL, NULL, &err))) break;
            first = 0;
        }
        if (want_e) {
            thermo_now(&s, &th, comp);
            esum += th.potential;
            tsum += th.temperature_k;
            nsamples++;
        }
        if (ei && step % ei == 0) {
            PROBE_START(s.probe, P_OUT_ENERGY);
            rc = clmd_energylog_write(o.log, step, step * d->integrator.timestep_ps, &th, comp, &err);
            PROBE_STOP(s.probe, P_OUT_ENERGY);
            if (rc) break;
        }
        if (ti && step % ti == 0) {
            PROBE_START(s.probe, P_OUT_TRAJ);
            rc = clmd_engine_get_positions(s.eng, scratch, &err);
            clmd_h5md_frame fr = {0};
            fr.step = step;
            fr.time_ps = step * d->integrator.timestep_ps;
            fr.x.d = scratch;
            memcpy(fr.box, s.sys->box, sizeof fr.box);
            fr.thermo = th;
            fr.extra = comp;
            if (!rc) rc = clmd_h5md_write_frame(o.h5, &fr, &err);
            PROBE_STOP(s.probe, P_OUT_TRAJ);
            if (rc) break;
        }
        if (ci && step % ci == 0 && step > step0 && (rc = write_checkpoint(&s, o.checkpoint, scratch, &err)))
            break;
        if (tty && now_s() - last_progress > 1.0) {
            progress(&s, step - step0, total - step0, t0, 0);
            last_progress = now_s();
        }
        if (step == total) break;
        /* advance to the next step where something is written */
        long next = total;
        if (ei) next = fmin(next, (step / ei + 1) * ei);
        if (ti) next = fmin(next, (step / ti + 1) * ti);
        if (ci) next = fmin(next, (step / ci + 1) * ci);
        if (tty) next = fmin(next, step + 1000);
        int need_e = (ei && next % ei == 0) || (ti && next % ti == 0) || next == total;
        if ((rc = clmd_engine_step(s.eng, next - step, need_e, &err))) break;
        step = next;
    }
    PROBE_STOP(s.probe, P_TOTAL);
    if (rc) goto out;
    if (o.checkpoint[0] && (rc = write_checkpoint(&s, o.checkpoint, scratch, &err))) goto out;
    long nsteps = total - step0;
    clmd_probe_count(s.probe, "steps", nsteps);
    clmd_probe_count(s.probe, "nlist_builds_total", clmd_engine_list_builds(s.eng));
    if (tty) progress(&s, nsteps, nsteps, t0, 1);
    if (!c.quiet) {
        double el = now_s() - t0;
        printf("\nfinal energies at step %ld (kJ/mol):\n", total);
        int present[CLMD_E_NCOMP];
        present_components(&s, present);
        for (int k = 0; k < CLMD_E_NCOMP; k++)
            if (present[k]) printf("  %-22s %16.6f\n", clmd_ecomp_name[k], comp[k]);
        printf("  %-22s %16.6f\n  %-22s %16.6f\n  %-22s %16.6f\n  %-22s %16.3f K\n", "potential",
               th.potential, "kinetic", th.kinetic, "total", th.total, "temperature", th.temperature_k);
        if (nsamples > 0)
            printf("averages over %ld samples: potential %.6f kJ/mol, temperature %.3f K\n", nsamples,
                   esum / nsamples, tsum / nsamples);
        printf("performance: %ld steps in %.3f s: %.2f steps/s, %.3f ns/day, %ld neighbor-list builds\n",
               nsteps, el, el > 0 ? nsteps / el : 0, el > 0 ? nsteps * d->integrator.timestep_ps * 1e-3 / el * 86400 : 0,
               clmd_engine_list_builds(s.eng));
        clmd_probe_report(s.probe, nsteps, stdout);
    }
    if (probe_json && (rc = clmd_probe_write_json(s.probe, nsteps, probe_json, &err))) goto out;
out:
    if (o.h5) clmd_h5md_close(&o.h5, rc ? NULL : &err);
    if (o.log) clmd_energylog_close(&o.log, rc ? NULL : &err);
    clmd_free(scratch);
    session_end(&s);
    return rc ? fail(&err) : CLMD_OK;
}
