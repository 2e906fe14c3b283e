/* The subcommands: argument parsing and printing only; the work is run/run.h's. */
#include "cli/commands.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "ff/plan.h"
#include "md/engine.h"
#include "ocl/ocl.h"
#include "probe/probe.h"
#include "remd/campaign.h"
#include "remd/comm.h"
#include "remd/report.h"
#include "run/run.h"
#include "system/system.h"

/* ---- command-line parsing ---- */

typedef struct cli {
    clmd_run_opts run;
    const char *json;     /* eval */
    int quiet;
} cli;

void clmd_usage(FILE *out)
{
    fprintf(out,
            "usage:\n"
            "  clmd run   DECK [--steps N] [--device SPEC] [--probe-json FILE] [--overwrite]\n"
            "                  [--quiet] [--restart CHECKPOINT] [--replicas-per-device K|auto]\n"
            "  clmd eval  DECK --json FILE [--device SPEC] [--overwrite]\n"
            "  clmd check DECK\n"
            "  clmd remd-report OUTDIR\n"
            "  clmd devices\n"
            "  clmd --version\n"
            "run      simulate the deck (Ctrl-C: finish the step, write a checkpoint, stop);\n"
            "         --restart continues a run from its checkpoint and its output files;\n"
            "         a deck with replica_exchange runs a campaign (mpirun -np R clmd run DECK\n"
            "         spreads its replicas over R processes; --replicas-per-device K runs them\n"
            "         in batches of K sharing one set of device buffers, auto: all at once)\n"
            "eval     one energy and force evaluation, written as JSON\n"
            "check    validate the deck and its system, print the resolved deck\n"
            "remd-report  mixing statistics of a campaign's replica_exchange.h5 (running or\n"
            "         finished): acceptance, transition matrix, round trips, a better ladder;\n"
            "         writes summary.json, walk.svg and acceptance.svg into OUTDIR\n"
            "devices  list the OpenCL devices (--device SPEC: auto, reference, or a platform or\n"
            "         device name with an optional :INDEX, e.g. pocl or nvidia:0)\n"
            "Exit status: 0 success, 1 bad input or usage, 2 runtime failure. The user guide is\n"
            "docs/guide.md, every deck key is in docs/input.md.\n");
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "clmd %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    clmd_usage(stderr);
    return CLMD_EINPUT;
}

/* --help or -h anywhere among a command's arguments. */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

/* Parses `args` for the options `allowed` (a string of option letters: s d p o q j r). */
static int parse_cli(const char *cmd, int argc, char **argv, const char *allowed, cli *c)
{
    memset(c, 0, sizeof *c);
    if (wants_help(argc, argv)) {
        clmd_usage(stdout);
        return -1;
    }
    c->run.steps = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, letter) (strcmp(a, name) == 0 && strchr(allowed, letter))
        if (OPT("--steps", 's')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            char *end;
            errno = 0;
            c->run.steps = strtol(val, &end, 10);
            if (*end || end == val || errno || c->run.steps < 0)
                return usage_error(cmd, "--steps '%s' is not a non-negative integer", val);
            i++;
        } else if (OPT("--device", 'd')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->run.device = val;
            i++;
        } else if (OPT("--probe-json", 'p')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->run.probe_json = val;
            i++;
        } else if (OPT("--json", 'j')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->json = val;
            i++;
        } else if (OPT("--restart", 'r')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            c->run.restart = val;
            i++;
        } else if (OPT("--replicas-per-device", 'R')) {
            if (!val) return usage_error(cmd, "%s needs a value", a);
            char *end;
            errno = 0;
            long k = strcmp(val, "auto") == 0 ? -1 : strtol(val, &end, 10);
            if (k != -1 && (*end || end == val || errno || k < 1 || k > 100000))
                return usage_error(cmd, "--replicas-per-device '%s' is neither auto nor a positive integer", val);
            c->run.replicas_per_device = (int)k;
            i++;
        } else if (OPT("--overwrite", 'o')) {
            c->run.overwrite = 1;
        } else if (OPT("--quiet", 'q')) {
            c->quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(cmd, "unknown option '%s'", a);
        } else if (!c->run.deck) {
            c->run.deck = a;
        } else {
            return usage_error(cmd, "unexpected argument '%s'", a);
        }
#undef OPT
    }
    if (!c->run.deck) return usage_error(cmd, "%s", "a DECK file is required");
    return CLMD_OK;
}

static int fail(clmd_err *err)
{
    fprintf(stderr, "clmd: error: %s\n", err->msg);
    return err->code ? err->code : CLMD_ERUNTIME;
}

/* ---- clmd eval ---- */

int clmd_cmd_eval(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("eval", argc, argv, "djo", &c);
    if (rc) return rc < 0 ? CLMD_OK : rc;
    if (!c.json) return usage_error("eval", "%s", "--json FILE is required");
    clmd_err err = {0};
    clmd_session s;
    rc = clmd_session_open(&s, &c.run, 1, &err);
    if (!rc) rc = clmd_session_eval(&s, c.json, c.run.overwrite, &err);
    clmd_session_close(&s);
    return rc ? fail(&err) : CLMD_OK;
}

/* ---- clmd check ---- */

int clmd_cmd_check(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("check", argc, argv, "", &c);
    if (rc) return rc < 0 ? CLMD_OK : rc;
    clmd_err err = {0};
    clmd_session s;
    if ((rc = clmd_session_open(&s, &c.run, 0, &err))) {
        clmd_session_close(&s);
        return fail(&err);
    }
    const clmd_system *sys = s.sys;
    clmd_deck_print(&s.deck, stdout);
    printf("# system: %s: %d particles, %d bonds, %d angles, %d torsions, %d constraints, "
           "%d virtual sites%s\n",
           sys->source, sys->n, sys->nbonds, sys->nangles, sys->ntorsions, sys->nconstraints,
           sys->nvsites, sys->periodic ? ", periodic" : "");
    clmd_session_close(&s);
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

static volatile int interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void progress(void *ctx, long done, long total, double elapsed, int final)
{
    const clmd_run *r = ctx;
    double dt = clmd_run_session((clmd_run *)r)->deck.integrator.timestep_ps;
    double nsday = elapsed > 0 ? done * dt * 1e-3 / elapsed * 86400 : 0;
    double eta = done > 0 ? elapsed / done * (total - done) : 0;
    fprintf(stderr, "\rstep %ld/%ld  %.3f ns/day  %.1f steps/s  ETA %.0f s   ", done, total, nsday,
            elapsed > 0 ? done / elapsed : 0, eta);
    if (final) fputc('\n', stderr);
}

static void print_header(clmd_run *r)
{
    clmd_session *s = clmd_run_session(r);
    const clmd_deck *d = &s->deck;
    printf("clmd %s (%s)\n%s\n", CLMD_VERSION, CLMD_GIT_COMMIT, d->title);
    printf("system: %s: %d particles%s\n", s->sys->source, s->sys->n,
           s->sys->periodic ? ", periodic box" : "");
    printf("device: %s\n", clmd_engine_device(s->eng));
    const clmd_run_minimized *m = clmd_run_minimize_result(r);
    if (m->done)
        printf("minimize: %ld steepest-descent steps, potential %.6g -> %.6g kJ/mol, largest "
               "force %.4g kJ/mol/nm%s\n", m->steps, m->e0, m->e1, m->fmax,
               m->converged ? ""
               : m->steps >= d->minimize.max_steps ? " (max_steps reached before the tolerance)"
                                                   : " (no lower energy along the force: stopped)");
    clmd_engine_describe(s->eng, stdout);
    printf("run: %ld steps, %d degrees of freedom\n", d->integrator.steps, clmd_engine_dof(s->eng));
    fflush(stdout);
}

static void print_summary(clmd_run *r)
{
    clmd_session *s = clmd_run_session(r);
    const clmd_run_summary *u = clmd_run_get_summary(r);
    const clmd_ffplan *plan = clmd_engine_plan(s->eng);
    double dt = s->deck.integrator.timestep_ps;
    printf("\nfinal energies at step %ld (kJ/mol):\n", u->last_step);
    for (int k = 0; k < CLMD_E_NCOMP; k++)
        if (plan->present[k]) printf("  %-22s %16.6f\n", clmd_ecomp_name[k], u->components[k]);
    printf("  %-22s %16.6f\n  %-22s %16.6f\n  %-22s %16.6f\n  %-22s %16.3f K\n", "potential",
           u->final.potential, "kinetic", u->final.kinetic, "total", u->final.total, "temperature",
           u->final.temperature_k);
    if (u->periodic)
        printf("  %-22s %16.6f nm^3\n  %-22s %16.6f g/cm^3\n  %-22s %16.3f bar\n", "volume",
               u->volume_nm3, "density", u->density_g_cm3, "pressure", u->pressure_bar);
    if (u->samples > 0) {
        printf("averages over %ld samples: potential %.6f kJ/mol, temperature %.3f K", u->samples,
               u->mean_potential, u->mean_temperature);
        if (u->periodic)
            printf(", volume %.6f nm^3, density %.6f g/cm^3", u->mean_volume_nm3,
                   u->mean_density_g_cm3);
        printf("\n");
    }
    clmd_engine_report_hooks(s->eng, stdout);
    double el = u->elapsed_s;
    printf("performance: %ld steps in %.3f s: %.2f steps/s, %.3f ns/day, %ld neighbor-list builds "
           "(the first included)\n",
           u->steps, el, el > 0 ? u->steps / el : 0,
           el > 0 ? u->steps * dt * 1e-3 / el * 86400 : 0, clmd_engine_list_builds(s->eng));
    clmd_probe_report(s->probe, u->steps, stdout);
}

static void campaign_progress(void *ctx, long done, long total, double elapsed, int final)
{
    const clmd_campaign *cp = ctx;
    const clmd_deck *d = clmd_campaign_deck(cp);
    double dt = d->integrator.timestep_ps, per = d->remd.ntemps;
    double nsday = elapsed > 0 ? done / per * dt * 1e-3 / elapsed * 86400 : 0;
    double eta = done > 0 ? elapsed / done * (total - done) : 0;
    fprintf(stderr, "\rreplica-step %ld/%ld  %.3f ns/day per replica  %.1f replica-steps/s  "
            "ETA %.0f s   ", done, total, nsday, elapsed > 0 ? done / elapsed : 0, eta);
    if (final) fputc('\n', stderr);
}

/* A replica-exchange campaign: every rank runs its replicas; rank 0 prints and writes. A rank
 * that fails takes the others down with it (they would wait in a collective forever). */
static int run_campaign(cli *c)
{
    clmd_err err = {0};
    clmd_campaign *cp = NULL;
    const clmd_comm *w = clmd_comm_world();
    int rc = clmd_campaign_create(&c->run, &cp, &err);
    long worst = clmd_comm_max(w, rc);
    if (!rc && worst) {
        rc = (int)worst;
        clmd_err_set(&err, rc, "another MPI rank failed to set up its replicas");
    }
    if (!rc) {
        int r0 = w->rank == 0;
        if (r0 && !c->quiet) clmd_campaign_describe(cp, stdout);
        int tty = r0 && !c->quiet && isatty(2);
        rc = clmd_campaign_execute(cp, tty ? campaign_progress : NULL, cp, &err);
        if (!rc && r0 && !c->quiet) clmd_campaign_report(cp, stdout);
    }
    const int interrupted_all = cp && clmd_campaign_interrupted(cp);
    clmd_campaign_destroy(&cp);
    if (rc && interrupted_all) {
        /* every rank stopped at the same round after the checkpoint: a clean end, said once */
        if (w->rank == 0) fprintf(stderr, "\nclmd: %s\n", err.msg);
        return CLMD_ERUNTIME;
    }
    if (rc) {
        if (w->size > 1) {
            fprintf(stderr, "clmd: error (MPI rank %d): %s\n", w->rank, err.msg);
            rc = err.code ? err.code : CLMD_ERUNTIME;
        } else {
            rc = fail(&err);
        }
        if (w->size > 1 && rc != CLMD_OK) clmd_comm_abort(rc);
    }
    return rc;
}

/* ---- clmd remd-report ---- */

int clmd_cmd_remd_report(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        clmd_usage(stdout);
        return CLMD_OK;
    }
    if (argc != 1) return usage_error("remd-report", "%s", "takes one argument: a campaign's output directory");
    clmd_err err = {0};
    int rc = clmd_remd_report_dir(argv[0], stdout, &err);
    return rc ? fail(&err) : CLMD_OK;
}

int clmd_cmd_run(int argc, char **argv)
{
    cli c;
    int rc = parse_cli("run", argc, argv, "sdpoqrR", &c);
    if (rc) return rc < 0 ? CLMD_OK : rc;
    c.run.probes = 1;
    /* SIGINT/SIGTERM: the loop finishes its step, checkpoints and stops */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    c.run.interrupt = &interrupted;
    clmd_err err = {0};
    {
        /* a deck with replica_exchange is a campaign */
        clmd_deck d;
        if ((rc = clmd_deck_load(c.run.deck, &d, &err))) return fail(&err);
        if (d.remd.enabled) return run_campaign(&c);
    }
    clmd_run *r = NULL;
    if ((rc = clmd_run_create(&c.run, &r, &err))) return fail(&err);
    if (!c.quiet) print_header(r);
    int tty = !c.quiet && isatty(2);
    rc = clmd_run_execute(r, tty ? progress : NULL, r, &err);
    if (!rc && !c.quiet) print_summary(r);
    clmd_run_destroy(&r);
    return rc ? fail(&err) : CLMD_OK;
}
