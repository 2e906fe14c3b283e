/* Suite: input deck (YAML parsing, defaults, validation messages, path resolution, printing). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input/deck.h"
#include "testutil.h"

/* The deck of the contract (shared/INPUT.md), verbatim. */
static const char *CONTRACT_DECK =
    "title: Liquid argon                       # free text\n"
    "system:                                   # exactly one source\n"
    "  builtin: lj_fcc                         # or water_box\n"
    "  cells: 20                               # lj_fcc: 4*cells^3 atoms\n"
    "  reduced_density: 0.8442                 # lj_fcc: rho*sigma^3\n"
    "  model: tip4pew                          # water_box: tip4pew | tip3p\n"
    "  edge: 4.0                               # water_box: cubic box edge, nm\n"
    "  forcefield: ../forcefields/argon.yaml   # parameters for built-in or coordinate-file systems\n"
    "  # amber: {prmtop: ala2.prmtop, inpcrd: ala2.inpcrd}\n"
    "  # coordinates: argon.pdb                # PDB (CRYST1 box) or XYZ\n"
    "  # box: [3.0, 3.0, 3.0]                  # nm; overrides the file's box\n"
    "nonbonded:\n"
    "  method: cutoff                          # nocutoff | cutoff | reaction_field | pme\n"
    "  cutoff: 0.85\n"
    "  switch_distance: null                   # LJ switching start, or null\n"
    "  dispersion_correction: true\n"
    "  ewald_error_tolerance: 5.0e-4           # pme: picks alpha and grid like OpenMM\n"
    "  pme_grid: null                          # [nx, ny, nz] to force a grid\n"
    "  neighbor_skin: 0.1                      # nm of buffer; list rebuilt by displacement\n"
    "implicit_solvent: null                    # or {model: obc2, solvent_dielectric: 78.5,\n"
    "                                          #     solute_dielectric: 1.0, surface_area: ace}\n"
    "constraints: none                         # none | hbonds | allbonds\n"
    "rigid_water: true\n"
    "velocities: {temperature: 300, seed: 7}   # or from the input file\n"
    "integrator:\n"
    "  type: langevin                          # langevin (middle scheme) | verlet\n"
    "  timestep: 0.002\n"
    "  temperature: 300\n"
    "  friction: 1.0                           # 1/ps\n"
    "  steps: 10000\n"
    "  seed: 1\n"
    "replica_exchange: null                    # or:\n"
    "  # temperatures: {min: 300, max: 450, count: 8}   # geometric ladder, or an explicit list\n"
    "  # exchange_interval: 500                          # steps between attempts\n"
    "  # exchanges: 200\n"
    "  # seed: 11\n"
    "output:\n"
    "  directory: out/argon\n"
    "  trajectory: {file: traj.h5, interval: 1000}      # H5MD\n"
    "  energies: {file: energies.csv, interval: 100}\n"
    "  checkpoint: {file: state.chk, interval: 10000}\n"
    "  overwrite: false\n"
    "device: auto\n"
    "probes: {json: probes.json}\n";

/* ---------------------------------------------------------------- helpers */

static int parse(const char *text, clmd_deck *d, clmd_err *err)
{
    clmd_err_clear(err);
    return clmd_deck_parse_string(text, "deck.yaml", "/decks", d, err);
}

/* Is there a message line "deck.yaml:WHERE: key 'KEY': ...WHAT..."? */
static int find_problem(const char *msg, const char *where, const char *key, const char *what)
{
    char head[512];
    if (key)
        snprintf(head, sizeof head, "deck.yaml:%s: key '%s': ", where, key);
    else
        snprintf(head, sizeof head, "deck.yaml:%s: ", where);
    size_t lh = strlen(head);
    for (const char *line = msg; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        if (strncmp(buf, head, lh) == 0 && (!what || strstr(buf + lh, what))) return 1;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

#define ASSERT_PROBLEM(err, where, key, what)                                                   \
    do {                                                                                        \
        const char *key_ = (key), *what_ = (what);                                              \
        int found_ = find_problem((err)->msg, (where), key_, what_);                            \
        if (!found_)                                                                            \
            printf("\n  expected a line \"deck.yaml:%s: key '%s': ...%s...\" in:\n%s\n", (where), \
                   key_ ? key_ : "", what_ ? what_ : "", (err)->msg);                           \
        CU_ASSERT(found_);                                                                      \
    } while (0)

/* No line at all about KEY. */
static int mentions_key(const char *msg, const char *key)
{
    char pat[300];
    snprintf(pat, sizeof pat, "key '%s':", key);
    return strstr(msg, pat) != NULL;
}

static int count_lines(const char *s)
{
    int n = *s ? 1 : 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void cwd_join(char *out, size_t n, const char *rel)
{
    char cwd[4096];
    CLMD_ASSERT(getcwd(cwd, sizeof cwd));
    snprintf(out, n, "%s/%s", cwd, rel);
}

static void make_file(const char *dir, const char *rel)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    CLMD_ASSERT(clmd_test_write_file(p, "placeholder\n") == 0);
}

static void make_dir(const char *dir, const char *rel)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    CLMD_ASSERT(mkdir(p, 0755) == 0);
}

/* ---------------------------------------------------------------- tests */

static void contract_example_parses_with_the_values_shown(void)
{
    const char *tmp = clmd_test_tmpdir();
    make_dir(tmp, "decks");
    make_dir(tmp, "forcefields");
    make_file(tmp, "forcefields/argon.yaml");
    char dir[4096], want[8192];
    snprintf(dir, sizeof dir, "%s/decks", tmp);
    clmd_deck d;
    clmd_err err = {0};
    int rc = clmd_deck_parse_string(CONTRACT_DECK, "argon.yaml", dir, &d, &err);
    if (rc != CLMD_OK) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);

    CU_ASSERT_STRING_EQUAL(d.title, "Liquid argon");
    CU_ASSERT_EQUAL(d.system.kind, CLMD_SRC_BUILTIN);
    CU_ASSERT_EQUAL(d.system.builtin, CLMD_BUILTIN_LJ_FCC);
    CU_ASSERT_EQUAL(d.system.cells, 20);
    CU_ASSERT_EQUAL(d.system.reduced_density, 0.8442);
    cwd_join(want, sizeof want, tmp);
    strcat(want, "/decks/../forcefields/argon.yaml");
    CU_ASSERT_STRING_EQUAL(d.system.forcefield, want);
    CU_ASSERT_EQUAL(access(d.system.forcefield, R_OK), 0);
    CU_ASSERT_EQUAL(d.system.forcefield_mark.line, 8);
    CU_ASSERT_EQUAL(d.system.forcefield_mark.column, 3);
    CU_ASSERT_EQUAL(d.system.has_box, 0);
    /* model and edge belong to water_box: ignored for lj_fcc, left at their defaults. */
    CU_ASSERT_EQUAL(d.system.edge_nm, 3.0);

    CU_ASSERT_EQUAL(d.nonbonded.method, CLMD_DECK_NB_CUTOFF);
    CU_ASSERT_EQUAL(d.nonbonded.cutoff_nm, 0.85);
    CU_ASSERT(d.nonbonded.switch_nm <= 0);
    CU_ASSERT_EQUAL(d.nonbonded.dispersion_correction, 1);
    CU_ASSERT_EQUAL(d.nonbonded.ewald_tolerance, 5.0e-4);
    CU_ASSERT_EQUAL(d.nonbonded.pme_grid[0], 0);
    CU_ASSERT_EQUAL(d.nonbonded.skin_nm, 0.1);
    CU_ASSERT_EQUAL(d.implicit_solvent.model, CLMD_DECK_GB_NONE);
    CU_ASSERT_EQUAL(d.nonbonded_mark.line, 12);
    CU_ASSERT_EQUAL(d.constraints, CLMD_CONSTRAIN_NONE);
    CU_ASSERT_EQUAL(d.rigid_water, 1);

    CU_ASSERT_EQUAL(d.velocities.given, 1);
    CU_ASSERT_EQUAL(d.velocities.from_input, 0);
    CU_ASSERT_EQUAL(d.velocities.temperature, 300.0);
    CU_ASSERT_EQUAL(d.velocities.seed, 7UL);

    CU_ASSERT_EQUAL(d.integrator.type, CLMD_INT_LANGEVIN);
    CU_ASSERT_EQUAL(d.integrator.timestep_ps, 0.002);
    CU_ASSERT_EQUAL(d.integrator.temperature, 300.0);
    CU_ASSERT_EQUAL(d.integrator.friction, 1.0);
    CU_ASSERT_EQUAL(d.integrator.steps, 10000);
    CU_ASSERT_EQUAL(d.integrator.seed, 1UL);
    CU_ASSERT_EQUAL(d.remd.enabled, 0);

    cwd_join(want, sizeof want, tmp);
    strcat(want, "/decks/out/argon");
    CU_ASSERT_STRING_EQUAL(d.output.directory, want);
    CU_ASSERT_STRING_EQUAL(d.output.trajectory, "traj.h5");
    CU_ASSERT_EQUAL(d.output.trajectory_interval, 1000);
    CU_ASSERT_STRING_EQUAL(d.output.energies, "energies.csv");
    CU_ASSERT_EQUAL(d.output.energies_interval, 100);
    CU_ASSERT_STRING_EQUAL(d.output.checkpoint, "state.chk");
    CU_ASSERT_EQUAL(d.output.checkpoint_interval, 10000);
    CU_ASSERT_EQUAL(d.output.overwrite, 0);
    CU_ASSERT_STRING_EQUAL(d.device, "auto");
    cwd_join(want, sizeof want, tmp);
    strcat(want, "/decks/probes.json");
    CU_ASSERT_STRING_EQUAL(d.probes_json, want);
}

static void minimal_deck_gets_every_documented_default(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n", &d, &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(d.title, "");
    CU_ASSERT_EQUAL(d.system.cells, 10);
    CU_ASSERT_EQUAL(d.system.reduced_density, 0.8442);
    CU_ASSERT_STRING_EQUAL(d.system.forcefield, "");
    CU_ASSERT_EQUAL(d.system.has_box, 0);
    CU_ASSERT_EQUAL(d.nonbonded.method, CLMD_DECK_NB_CUTOFF);
    CU_ASSERT_EQUAL(d.nonbonded.cutoff_nm, 1.0);
    CU_ASSERT(d.nonbonded.switch_nm <= 0);
    CU_ASSERT_EQUAL(d.nonbonded.dispersion_correction, 1);
    CU_ASSERT_EQUAL(d.nonbonded.rf_dielectric, 78.3);
    CU_ASSERT_EQUAL(d.nonbonded.ewald_tolerance, 5e-4);
    CU_ASSERT_EQUAL(d.nonbonded.ewald_alpha, 0.0);
    CU_ASSERT_EQUAL(d.nonbonded.pme_order, 5);
    CU_ASSERT_EQUAL(d.nonbonded.skin_nm, 0.1);
    CU_ASSERT_EQUAL(d.implicit_solvent.model, CLMD_DECK_GB_NONE);
    CU_ASSERT_EQUAL(d.implicit_solvent.solvent_dielectric, 78.5);
    CU_ASSERT_EQUAL(d.implicit_solvent.solute_dielectric, 1.0);
    CU_ASSERT_EQUAL(d.implicit_solvent.surface_area, 1);
    CU_ASSERT_EQUAL(d.implicit_solvent.sa_energy, 2.25936);
    CU_ASSERT_EQUAL(d.implicit_solvent.probe_radius_nm, 0.14);
    CU_ASSERT_EQUAL(d.constraints, CLMD_CONSTRAIN_NONE);
    CU_ASSERT_EQUAL(d.constraint_tolerance, 1e-6);
    CU_ASSERT_EQUAL(d.rigid_water, 1);
    CU_ASSERT_EQUAL(d.velocities.given, 0);
    CU_ASSERT_EQUAL(d.velocities.from_input, 0);
    CU_ASSERT_EQUAL(d.velocities.temperature, 300.0);
    CU_ASSERT_EQUAL(d.velocities.seed, 1UL);
    CU_ASSERT_EQUAL(d.velocities.mark.line, 0);
    CU_ASSERT_EQUAL(d.integrator.type, CLMD_INT_LANGEVIN);
    CU_ASSERT_EQUAL(d.integrator.timestep_ps, 0.002);
    CU_ASSERT_EQUAL(d.integrator.temperature, 300.0);
    CU_ASSERT_EQUAL(d.integrator.friction, 1.0);
    CU_ASSERT_EQUAL(d.integrator.steps, 1000);
    CU_ASSERT_EQUAL(d.integrator.seed, 1UL);
    CU_ASSERT_EQUAL(d.integrator.remove_com_motion, 1);
    CU_ASSERT_EQUAL(d.integrator.com_interval, 100);
    CU_ASSERT_EQUAL(d.remd.enabled, 0);
    CU_ASSERT_EQUAL(d.remd.exchange_interval, 500);
    CU_ASSERT_EQUAL(d.remd.exchanges, 100);
    CU_ASSERT_EQUAL(d.remd.seed, 11UL);
    CU_ASSERT_STRING_EQUAL(d.output.directory, "/decks/out");
    CU_ASSERT_STRING_EQUAL(d.output.trajectory, "");
    CU_ASSERT_EQUAL(d.output.trajectory_interval, 0);
    CU_ASSERT_STRING_EQUAL(d.output.energies, "energies.csv");
    CU_ASSERT_EQUAL(d.output.energies_interval, 100);
    /* checkpoints by default: every 15 minutes of wall time and at the end */
    CU_ASSERT_STRING_EQUAL(d.output.checkpoint, "state.chk");
    CU_ASSERT_EQUAL(d.output.checkpoint_interval, 0);
    CU_ASSERT_EQUAL(d.output.checkpoint_wall_minutes, 15.0);
    CU_ASSERT_EQUAL(d.output.overwrite, 0);
    CU_ASSERT_STRING_EQUAL(d.device, "auto");
    CU_ASSERT_STRING_EQUAL(d.probes_json, "");
    CU_ASSERT_STRING_EQUAL(d.dir, "/decks");
    CU_ASSERT_STRING_EQUAL(d.path, "deck.yaml");

    /* Velocities default to the integrator temperature, also when only a seed is given. */
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nintegrator: {temperature: 350}\n",
                                &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.velocities.temperature, 350.0);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nvelocities: {seed: 3}\n"
                                "integrator: {temperature: 320}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.velocities.given, 1);
    CU_ASSERT_EQUAL(d.velocities.temperature, 320.0);
    CU_ASSERT_EQUAL(d.velocities.seed, 3UL);
    /* water_box defaults */
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: water_box}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.system.builtin, CLMD_BUILTIN_WATER_BOX);
    CU_ASSERT_STRING_EQUAL(d.system.model, "tip4pew");
    CU_ASSERT_EQUAL(d.system.edge_nm, 3.0);
}

static void yaml_syntax_errors_carry_libyaml_line_and_column(void)
{
    clmd_deck d;
    clmd_err err = {0};
    /* A tab used for indentation, first character of line 3. */
    CU_ASSERT_EQUAL(parse("system:\n  builtin: lj_fcc\n\tcells: 3\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", NULL, "YAML syntax error: found a tab character");
    /* Over-indented key: libyaml stops at the ':' of line 3 (column 9). */
    CU_ASSERT_EQUAL(parse("system:\n  builtin: lj_fcc\n   cells: 3\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:9", NULL, "YAML syntax error: mapping values are not allowed");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* A second document is not silently dropped. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n---\nsystem: {builtin: water_box}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", NULL, "second YAML document");
    /* An empty deck lacks the system. */
    CU_ASSERT_EQUAL(parse("# nothing here\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:1", "system", "required");
}

static void missing_required_keys_are_reported_where_they_belong(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(parse("title: no system\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:1", "system", "required key is missing");

    CU_ASSERT_EQUAL(parse("system:\n  amber: {prmtop: a.prmtop}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:10", "system.amber.inpcrd", "required key is missing");

    CU_ASSERT_EQUAL(parse("system:\n  coordinates: x.pdb\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:3", "system.forcefield", "required key is missing");

    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nreplica_exchange:\n"
                          "  temperatures: {min: 300, max: 400}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:17", "replica_exchange.temperatures.count", "required key is missing");

    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nreplica_exchange: {exchanges: 5}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:19", "replica_exchange.temperatures", "required key is missing");

    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nimplicit_solvent: {solvent_dielectric: 80}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:19", "implicit_solvent.model", "required key is missing");
}

static void system_needs_exactly_one_source(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(parse("system:\n  cells: 4\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:3", "system", "no system source");

    CU_ASSERT_EQUAL(parse("system: null\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:9", "system", "no system source");

    CU_ASSERT_EQUAL(parse("system:\n  builtin: lj_fcc\n  coordinates: a.pdb\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:3", "system.coordinates",
                   "more than one system source (builtin is given at 2:3)");
}

static void wrong_types_name_the_expected_type(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "nonbonded:\n"
                       "  cutoff: abc\n"
                       "  dispersion_correction: maybe\n"
                       "integrator:\n"
                       "  temperature: \"300\"\n"
                       "  steps: 2.5\n"
                       "  seed: -1\n"
                       "  friction: [1]\n"
                       "title: {a: 1}\n"
                       "velocities: 300\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:11", "nonbonded.cutoff", "expected a number, got 'abc'");
    ASSERT_PROBLEM(&err, "4:26", "nonbonded.dispersion_correction", "expected true or false");
    ASSERT_PROBLEM(&err, "6:16", "integrator.temperature",
                   "expected a number, got the quoted string \"300\"");
    ASSERT_PROBLEM(&err, "7:10", "integrator.steps", "expected a whole number, got 2.5");
    ASSERT_PROBLEM(&err, "8:9", "integrator.seed", "non-negative integer");
    ASSERT_PROBLEM(&err, "9:13", "integrator.friction", "expected a number, got a list");
    ASSERT_PROBLEM(&err, "10:8", "title", "expected a string or null, got a mapping");
    ASSERT_PROBLEM(&err, "11:13", "velocities",
                   "expected a mapping {temperature, seed} or from_input");

    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc, box: 3}\nnonbonded: {pme_grid: [a, 8, 8]}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:32", "system.box", "expected a list of three edge lengths");
    ASSERT_PROBLEM(&err, "2:24", "nonbonded.pme_grid[0]", "expected an integer, got 'a'");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc, box: [1, 2]}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:32", "system.box", "got a list of 2");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {cutoff: .nan}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:21", "nonbonded.cutoff", "expected a number");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {cutoff: inf}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:21", "nonbonded.cutoff", "finite");
}

static void out_of_range_values_are_rejected_with_the_bound(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system:\n"
                       "  builtin: lj_fcc\n"
                       "  cells: 0\n"
                       "  reduced_density: -0.5\n"
                       "nonbonded:\n"
                       "  cutoff: 1.0\n"
                       "  switch_distance: 1.2\n"
                       "  ewald_error_tolerance: 0\n"
                       "constraint_tolerance: 1.5\n"
                       "integrator:\n"
                       "  timestep: -0.002\n"
                       "  temperature: 0\n"
                       "  com_interval: 0\n"
                       "output:\n"
                       "  energies: {file: e.csv, interval: -5}\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:10", "system.cells", "must be in [1, 200] (got 0)");
    ASSERT_PROBLEM(&err, "4:20", "system.reduced_density", "must be > 0 (got -0.5)");
    ASSERT_PROBLEM(&err, "7:20", "nonbonded.switch_distance", "less than the cutoff (1 nm)");
    ASSERT_PROBLEM(&err, "8:26", "nonbonded.ewald_error_tolerance", "must be in (0, 1) (got 0)");
    ASSERT_PROBLEM(&err, "9:23", "constraint_tolerance", "must be in (0, 1) (got 1.5)");
    ASSERT_PROBLEM(&err, "11:13", "integrator.timestep", "must be > 0 (got -0.002)");
    ASSERT_PROBLEM(&err, "12:16", "integrator.temperature", "must be > 0 (got 0)");
    ASSERT_PROBLEM(&err, "13:17", "integrator.com_interval", "must be >= 1 (got 0)");
    ASSERT_PROBLEM(&err, "15:37", "output.energies.interval", "must be >= 0 (got -5)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 9);

    /* A periodic cutoff must fit in half the box (minimum image). */
    CU_ASSERT_EQUAL(parse("system: {builtin: water_box, edge: 1.5}\nnonbonded: {cutoff: 1.0}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:13", "nonbonded.cutoff", "exceeds half the shortest box edge");
    CU_ASSERT_EQUAL(parse("system: {builtin: water_box, edge: 1.5}\n"
                          "nonbonded: {cutoff: 1.0, method: nocutoff}\n", &d, &err), CLMD_OK);

    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nreplica_exchange:\n"
                          "  temperatures: {min: 300, max: 300, count: 4}\n"
                          "  exchange_interval: 0\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:33", "replica_exchange.temperatures.max", "greater than min");
    ASSERT_PROBLEM(&err, "4:22", "replica_exchange.exchange_interval", "must be >= 1");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "replica_exchange: {temperatures: [300, 320, 310]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:45", "replica_exchange.temperatures[2]", "strictly ascending");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {pme_grid: [4, 16, 16]}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:23", "nonbonded.pme_grid[0]", "at least pme_order (5)");
}

static void unknown_keys_get_the_closest_known_key(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "nonbonded:\n"
                       "  cutof: 0.9\n"
                       "integrator:\n"
                       "  temprature: 310\n"
                       "  zzz_unrelated: 1\n"
                       "cutoff: 1.0\n"
                       "intergrator: {}\n"
                       "output: {energies: {file: e.csv, every: 10}}\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:3", "nonbonded.cutof", "unknown key; did you mean 'cutoff'?");
    ASSERT_PROBLEM(&err, "5:3", "integrator.temprature", "did you mean 'temperature'?");
    ASSERT_PROBLEM(&err, "6:3", "integrator.zzz_unrelated", "known keys here: type, timestep");
    ASSERT_PROBLEM(&err, "7:1", "cutoff", "did you mean 'nonbonded.cutoff'?");
    ASSERT_PROBLEM(&err, "8:1", "intergrator", "did you mean 'integrator'?");
    ASSERT_PROBLEM(&err, "9:34", "output.energies.every", "unknown key");
    CU_ASSERT_EQUAL(count_lines(err.msg), 6);
}

static void duplicate_keys_are_rejected_naming_the_first(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "nonbonded:\n"
                       "  cutoff: 0.9\n"
                       "  cutoff: 1.1\n"
                       "system: {builtin: water_box}\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:3", "nonbonded.cutoff", "duplicate key (first given at 3:3)");
    ASSERT_PROBLEM(&err, "5:1", "system", "duplicate key (first given at 1:1)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 2);
}

static void unreadable_files_name_the_file_and_the_key(void)
{
    const char *tmp = clmd_test_tmpdir();
    make_file(tmp, "ala.prmtop");
    make_dir(tmp, "ffdir");
    char abs[4096], want[8192];
    cwd_join(abs, sizeof abs, tmp);
    clmd_deck d;
    clmd_err err = {0};

    int rc = clmd_deck_parse_string("system:\n  amber:\n    prmtop: ala.prmtop\n"
                                    "    inpcrd: ala.inpcrd\n", "deck.yaml", tmp, &d, &err);
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    snprintf(want, sizeof want, "cannot read '%s/ala.inpcrd': No such file or directory", abs);
    ASSERT_PROBLEM(&err, "4:13", "system.amber.inpcrd", want);
    CU_ASSERT(!mentions_key(err.msg, "system.amber.prmtop"));

    rc = clmd_deck_parse_string("system:\n  coordinates: missing.pdb\n  forcefield: ffdir\n",
                                "deck.yaml", tmp, &d, &err);
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    snprintf(want, sizeof want, "cannot read '%s/missing.pdb'", abs);
    ASSERT_PROBLEM(&err, "2:16", "system.coordinates", want);
    snprintf(want, sizeof want, "'%s/ffdir' is a directory", abs);
    ASSERT_PROBLEM(&err, "3:15", "system.forcefield", want);

    /* With both files present the same deck is accepted. */
    make_file(tmp, "ala.inpcrd");
    rc = clmd_deck_parse_string("system:\n  amber:\n    prmtop: ala.prmtop\n"
                                "    inpcrd: ala.inpcrd\n", "deck.yaml", tmp, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.system.kind, CLMD_SRC_AMBER);
    snprintf(want, sizeof want, "%s/ala.prmtop", abs);
    CU_ASSERT_STRING_EQUAL(d.system.prmtop, want);
    CU_ASSERT_EQUAL(d.system.inpcrd_mark.line, 4);

    /* A file without read permission: only meaningful when not root (root reads anything). */
    if (geteuid() == 0) {
        clmd_test_skip(__func__, "running as root, so a mode-000 file is still readable; "
                                 "the missing-file and directory cases above ran");
        return;
    }
    snprintf(want, sizeof want, "%s/ala.prmtop", tmp);
    CU_ASSERT_EQUAL_FATAL(chmod(want, 0), 0);
    rc = clmd_deck_parse_string("system:\n  amber:\n    prmtop: ala.prmtop\n"
                                "    inpcrd: ala.inpcrd\n", "deck.yaml", tmp, &d, &err);
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:13", "system.amber.prmtop", "Permission denied");
    chmod(want, 0644);
}

static void enum_values_outside_the_set_list_the_allowed_ones(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: argon}\n"
                       "nonbonded: {method: ewald}\n"
                       "constraints: hbond\n"
                       "integrator: {type: brownian}\n"
                       "implicit_solvent: {model: gbn2, surface_area: sasa}\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:19", "system.builtin", "expected one of lj_fcc, water_box; got 'argon'");
    ASSERT_PROBLEM(&err, "2:21", "nonbonded.method",
                   "expected one of nocutoff, cutoff, reaction_field, pme; got 'ewald'");
    ASSERT_PROBLEM(&err, "3:14", "constraints",
                   "none, hbonds, allbonds; got 'hbond' (did you mean 'hbonds'?)");
    ASSERT_PROBLEM(&err, "4:20", "integrator.type", "expected one of langevin, verlet");
    ASSERT_PROBLEM(&err, "5:27", "implicit_solvent.model", "expected one of obc1, obc2");
    ASSERT_PROBLEM(&err, "5:47", "implicit_solvent.surface_area", "expected one of none, ace");
}

static void several_problems_are_reported_together_in_file_order(void)
{
    clmd_deck d;
    clmd_err err = {0};
    /* Parsed in another order than written (title is read first, integrator after nonbonded). */
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "integrator: {timestep: 0}\n"
                       "nonbonded: {cutoff: -1}\n"
                       "device: \"\"\n"
                       "title: [a, b]\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    CU_ASSERT_EQUAL(count_lines(err.msg), 4);
    const char *l2 = strstr(err.msg, "deck.yaml:2:"), *l3 = strstr(err.msg, "deck.yaml:3:");
    const char *l4 = strstr(err.msg, "deck.yaml:4:"), *l5 = strstr(err.msg, "deck.yaml:5:");
    CU_ASSERT_FATAL(l2 && l3 && l4 && l5);
    CU_ASSERT(l2 == err.msg && l2 < l3 && l3 < l4 && l4 < l5);
    ASSERT_PROBLEM(&err, "4:9", "device", "expected auto, reference or PLATFORM_SUBSTRING[:INDEX]");

    /* More problems than the message holds: the rest are counted, not dropped silently. */
    char big[8192];
    size_t len = (size_t)snprintf(big, sizeof big, "system: {builtin: lj_fcc}\n");
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "unknown_key_%03d: 1\n", i);
    CU_ASSERT_EQUAL(parse(big, &d, &err), CLMD_EINPUT);
    CU_ASSERT(strncmp(err.msg, "deck.yaml:2:1: key 'unknown_key_000'", 36) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "more problems not shown)"));
}

static void cross_section_rules_are_checked(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {method: pme}\n"
                          "implicit_solvent: {model: obc2}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "implicit_solvent", "not pme");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {type: verlet}\n"
                          "replica_exchange: {temperatures: [300, 310]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "replica_exchange", "needs a thermostat");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nvelocities: from_input\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:1", "velocities", "from_input needs an amber source");
    CU_ASSERT_EQUAL(parse("system:\n  builtin: lj_fcc\n  forcefield: null\n"
                          "  box: [2.0, 2.0, 1.9]\nnonbonded: {cutoff: 0.9}\n", &d, &err),
                    CLMD_OK);
    CU_ASSERT_EQUAL(d.system.has_box, 1);
    CU_ASSERT_EQUAL(d.system.box[2], 1.9);
    CU_ASSERT_EQUAL(parse("system:\n  builtin: lj_fcc\n  box: [2.0, 2.0, 1.9]\n"
                          "nonbonded: {cutoff: 1.0}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:13", "nonbonded.cutoff", "(system.box: 1.9 nm)");
    CU_ASSERT_EQUAL(parse("system:\n  amber: {prmtop: a, inpcrd: b}\n  forcefield: c\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:3", "system.forcefield", "not used with an amber source");
}

static void numbers_booleans_and_enums_accept_the_usual_spellings(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: LJ_FCC, cells: 4.0}\n"
                       "nonbonded: {method: PME, cutoff: 1, neighbor_skin: .05, ewald_alpha: 3.25,\n"
                       "            dispersion_correction: No}\n"
                       "rigid_water: no\n"
                       "integrator: {steps: 1e6, seed: 18446744073709551615, remove_com_motion: FALSE}\n"
                       "output: {overwrite: Yes}\n"
                       "device: 'nvidia:1'\n";
    int rc = parse(deck, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.system.builtin, CLMD_BUILTIN_LJ_FCC);
    CU_ASSERT_EQUAL(d.system.cells, 4);
    CU_ASSERT_EQUAL(d.nonbonded.method, CLMD_DECK_NB_PME);
    CU_ASSERT_EQUAL(d.nonbonded.cutoff_nm, 1.0);
    CU_ASSERT_EQUAL(d.nonbonded.skin_nm, 0.05);
    CU_ASSERT_EQUAL(d.nonbonded.ewald_alpha, 3.25);
    CU_ASSERT_EQUAL(d.nonbonded.dispersion_correction, 0);
    CU_ASSERT_EQUAL(d.rigid_water, 0);
    CU_ASSERT_EQUAL(d.integrator.steps, 1000000);
    CU_ASSERT_EQUAL(d.integrator.seed, ULONG_MAX);
    CU_ASSERT_EQUAL(d.integrator.remove_com_motion, 0);
    CU_ASSERT_EQUAL(d.output.overwrite, 1);
    CU_ASSERT_STRING_EQUAL(d.device, "nvidia:1");
}

static void null_and_zero_interval_turn_optional_parts_off(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "nonbonded: {switch_distance: null, ewald_alpha: null, pme_grid: null}\n"
                       "implicit_solvent: null\n"
                       "replica_exchange: ~\n"
                       "output:\n"
                       "  trajectory: {interval: 50}\n"
                       "  energies: {file: e.csv, interval: 0}\n"
                       "  checkpoint: {}\n"
                       "probes: null\n";
    int rc = parse(deck, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT(d.nonbonded.switch_nm <= 0);
    CU_ASSERT_EQUAL(d.nonbonded.ewald_alpha, 0.0);
    CU_ASSERT_EQUAL(d.nonbonded.pme_grid[0], 0);
    CU_ASSERT_EQUAL(d.implicit_solvent.model, CLMD_DECK_GB_NONE);
    CU_ASSERT_EQUAL(d.remd.enabled, 0);
    CU_ASSERT_STRING_EQUAL(d.output.trajectory, "traj.h5"); /* default name when only interval */
    CU_ASSERT_EQUAL(d.output.trajectory_interval, 50);
    CU_ASSERT_STRING_EQUAL(d.output.energies, "");
    CU_ASSERT_EQUAL(d.output.energies_interval, 0);
    CU_ASSERT_STRING_EQUAL(d.output.checkpoint, "state.chk");
    CU_ASSERT_EQUAL(d.output.checkpoint_interval, 0);
    CU_ASSERT_EQUAL(d.output.checkpoint_wall_minutes, 15.0);
    CU_ASSERT_STRING_EQUAL(d.probes_json, "");
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\noutput: {energies: null}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(d.output.energies, "");
    /* null turns checkpoints off; the two intervals are read */
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\noutput: {checkpoint: null}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(d.output.checkpoint, "");
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\noutput: {checkpoint: {file: c.chk, "
                                "interval: 500, wall_minutes: 2.5}}\n", &d, &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(d.output.checkpoint, "c.chk");
    CU_ASSERT_EQUAL(d.output.checkpoint_interval, 500);
    CU_ASSERT_EQUAL(d.output.checkpoint_wall_minutes, 2.5);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\noutput: {checkpoint: {wall_minutes: -1}}\n",
                          &d, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "wall_minutes"));
}

static void geometric_ladder_spans_min_to_max_with_a_constant_ratio(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nreplica_exchange:\n"
                                "  temperatures: {min: 300, max: 450, count: 8}\n"
                                "  exchange_interval: 250\n  exchanges: 40\n  seed: 5\n",
                                &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.remd.enabled, 1);
    CU_ASSERT_EQUAL_FATAL(d.remd.ntemps, 8);
    CU_ASSERT_EQUAL(d.remd.temps[0], 300.0);
    CU_ASSERT_EQUAL(d.remd.temps[7], 450.0);
    double ratio = pow(1.5, 1.0 / 7.0);
    for (int i = 1; i < 8; i++)
        ASSERT_REL(d.remd.temps[i] / d.remd.temps[i - 1], ratio, 1e-13, 0, "ladder ratio",
                   "pow() and one division: a few ulps");
    CU_ASSERT_EQUAL(d.remd.exchange_interval, 250);
    CU_ASSERT_EQUAL(d.remd.exchanges, 40);
    CU_ASSERT_EQUAL(d.remd.seed, 5UL);

    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "replica_exchange: {temperatures: [300, 310.5, 333.25]}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.remd.ntemps, 3);
    CU_ASSERT_EQUAL(d.remd.temps[1], 310.5);
}

static void relative_paths_resolve_against_the_decks_folder(void)
{
    const char *tmp = clmd_test_tmpdir();
    make_dir(tmp, "decks");
    make_dir(tmp, "ff");
    make_file(tmp, "ff/argon.yaml");
    char deckpath[4096], abs[4096], want[8192];
    snprintf(deckpath, sizeof deckpath, "%s/decks/run.yaml", tmp);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(deckpath,
                                               "system:\n"
                                               "  builtin: lj_fcc\n"
                                               "  forcefield: ../ff/argon.yaml\n"
                                               "output:\n"
                                               "  directory: results/./run1//\n"
                                               "probes: {json: /tmp/abs/probes.json}\n"),
                          0);
    cwd_join(abs, sizeof abs, tmp);
    clmd_deck d;
    clmd_err err = {0};
    int rc = clmd_deck_load(deckpath, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_STRING_EQUAL(d.path, deckpath);
    snprintf(want, sizeof want, "%s/decks", abs);
    CU_ASSERT_STRING_EQUAL(d.dir, want);
    snprintf(want, sizeof want, "%s/decks/../ff/argon.yaml", abs);
    CU_ASSERT_STRING_EQUAL(d.system.forcefield, want);
    snprintf(want, sizeof want, "%s/decks/results/run1", abs);
    CU_ASSERT_STRING_EQUAL(d.output.directory, want);
    CU_ASSERT_STRING_EQUAL(d.probes_json, "/tmp/abs/probes.json");

    /* Messages from a file name it as given. */
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(deckpath, "system: {builtin: lj_fcc}\nbogus: 1\n"),
                          0);
    CU_ASSERT_EQUAL(clmd_deck_load(deckpath, &d, &err), CLMD_EINPUT);
    snprintf(want, sizeof want, "%s:2:1: key 'bogus': unknown key", deckpath);
    CU_ASSERT(strncmp(err.msg, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "%s/decks/none.yaml", tmp);
    CU_ASSERT_EQUAL(clmd_deck_load(want, &d, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "none.yaml: cannot read the deck"));

    /* Without a folder, the working directory. */
    CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string("system: {builtin: lj_fcc}\n", "x", NULL, &d,
                                                 &err), CLMD_OK);
    cwd_join(want, sizeof want, "out");
    CU_ASSERT_STRING_EQUAL(d.output.directory, want);
}

/* Marks say where a key was written; they differ between a deck and its printout. */
static void strip_marks(clmd_deck *d)
{
    const clmd_mark none = {0, 0};
    memset(d->path, 0, sizeof d->path);
    memset(d->dir, 0, sizeof d->dir);
    d->system.mark = d->system.forcefield_mark = d->system.prmtop_mark = none;
    d->system.inpcrd_mark = d->system.coordinates_mark = d->system.source_mark = none;
    d->system.box_mark = none;
    d->nonbonded_mark = d->method_mark = d->cutoff_mark = d->implicit_solvent_mark = none;
    d->constraints_mark = d->velocities.mark = d->integrator.mark = d->remd.mark = none;
    d->output.mark = d->device_mark = d->probes_mark = d->minimize.mark = none;
    d->barostat.mark = none;
}

static char *print_to_string(const clmd_deck *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CLMD_ASSERT(f);
    clmd_deck_print(d, f);
    fclose(f);
    return buf;
}

static void round_trip(const char *text, const char *dir)
{
    clmd_deck a, b;
    clmd_err err = {0};
    int rc = clmd_deck_parse_string(text, "deck.yaml", dir, &a, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    char *printed = print_to_string(&a);
    /* Another folder: printed paths are absolute, so they must not move. */
    rc = clmd_deck_parse_string(printed, "printed.yaml", "/somewhere/else", &b, &err);
    if (rc) printf("\n%s\n--- printed ---\n%s\n", err.msg, printed);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    char *again = print_to_string(&b);
    CU_ASSERT_STRING_EQUAL(printed, again);
    strip_marks(&a);
    strip_marks(&b);
    int same = memcmp(&a, &b, sizeof a) == 0;
    if (!same) printf("\n  round trip changed the deck; printed:\n%s\n", printed);
    CU_ASSERT(same);
    free(printed);
    free(again);
}

static void printed_deck_parses_back_to_an_identical_struct(void)
{
    const char *tmp = clmd_test_tmpdir();
    make_dir(tmp, "decks");
    make_dir(tmp, "forcefields");
    make_file(tmp, "forcefields/argon.yaml");
    make_file(tmp, "decks/ala.prmtop");
    make_file(tmp, "decks/ala.inpcrd");
    make_file(tmp, "decks/box.pdb");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/decks", tmp);

    round_trip(CONTRACT_DECK, dir);
    round_trip("system: {builtin: lj_fcc}\n", dir);
    round_trip("title: \"Ala \\\"2\\\": test\\n# not a comment\\tend\"\n"
               "system:\n  amber: {prmtop: ala.prmtop, inpcrd: ala.inpcrd}\n"
               "nonbonded: {method: reaction_field, cutoff: 0.9, switch_distance: 0.8,\n"
               "            reaction_field_dielectric: 80.1, dispersion_correction: false}\n"
               "implicit_solvent: {model: obc1, surface_area: none, surface_tension: 3.1,\n"
               "                   solvent_dielectric: 80, solute_dielectric: 2, probe_radius: 0.15}\n"
               "constraints: hbonds\nconstraint_tolerance: 1e-8\nrigid_water: false\n"
               "velocities: from_input\n"
               "integrator: {timestep: 0.001, temperature: 310, friction: 5, steps: 0, seed: 99,\n"
               "             remove_com_motion: false, com_interval: 7}\n"
               "replica_exchange: {temperatures: {min: 300, max: 450, count: 8}, exchanges: 3}\n"
               "output: {trajectory: null, checkpoint: {interval: 5000}, overwrite: true}\n"
               "device: nvidia:0\n",
               dir);
    round_trip("system:\n  coordinates: box.pdb\n  forcefield: ../forcefields/argon.yaml\n"
               "  box: [3.1, 3.2, 3.3]\n"
               "nonbonded: {method: pme, pme_grid: [32, 32, 36], ewald_alpha: 3.123456789,\n"
               "            ewald_error_tolerance: 1e-5, pme_order: 6, neighbor_skin: 0.07}\n"
               "constraints: allbonds\n"
               "velocities: {seed: 42}\nintegrator: {temperature: 310.15, type: langevin}\n"
               "replica_exchange: {temperatures: [300, 310.5, 333.3], exchange_interval: 10}\n"
               "output: {directory: /tmp/clmd-out, energies: {file: sub/e.csv, interval: 3}}\n"
               "probes: {json: probes/p.json}\n",
               dir);
    round_trip("system: {builtin: water_box, model: tip3p, edge: 2.5}\n"
               "integrator: {type: verlet, timestep: 0.0005}\n", dir);
}

static void barostat_is_off_by_default_and_takes_documented_defaults(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.enabled, 0);
    CU_ASSERT_EQUAL(d.barostat.anisotropic, 0);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(d.barostat.pressure_bar[i], 1.01325);
    CU_ASSERT_EQUAL(d.barostat.interval, 25);
    CU_ASSERT_EQUAL(d.barostat.adapt, 1);
    CU_ASSERT_EQUAL(d.barostat.seed, 13UL);
    CU_ASSERT_EQUAL(d.barostat.mark.line, 0);

    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nbarostat: null\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.enabled, 0);
    CU_ASSERT_EQUAL(d.barostat.mark.line, 2);

    /* An empty mapping turns it on with every default. */
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nbarostat: {}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.enabled, 1);
    CU_ASSERT_EQUAL(d.barostat.anisotropic, 0);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(d.barostat.pressure_bar[i], 1.01325);
    CU_ASSERT_EQUAL(d.barostat.interval, 25);
    CU_ASSERT_EQUAL(d.barostat.adapt, 1);
    CU_ASSERT_EQUAL(d.barostat.seed, 13UL);
    CU_ASSERT_EQUAL(d.barostat.mark.line, 2);
    CU_ASSERT_EQUAL(d.barostat.mark.column, 1);
}

static void barostat_reads_every_key(void)
{
    clmd_deck d;
    clmd_err err = {0};
    int rc = parse("system: {builtin: lj_fcc}\n"
                   "barostat:\n"
                   "  type: anisotropic\n"
                   "  pressure: [1.5, 2, 300.25]\n"
                   "  interval: 10\n"
                   "  adapt: false\n"
                   "  seed: 99\n", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.enabled, 1);
    CU_ASSERT_EQUAL(d.barostat.anisotropic, 1);
    CU_ASSERT_EQUAL(d.barostat.pressure_bar[0], 1.5);
    CU_ASSERT_EQUAL(d.barostat.pressure_bar[1], 2.0);
    CU_ASSERT_EQUAL(d.barostat.pressure_bar[2], 300.25);
    CU_ASSERT_EQUAL(d.barostat.interval, 10);
    CU_ASSERT_EQUAL(d.barostat.adapt, 0);
    CU_ASSERT_EQUAL(d.barostat.seed, 99UL);

    /* One number: the same pressure on every axis, isotropic or not. */
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "barostat: {type: Isotropic, pressure: 250, interval: 1e2}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.anisotropic, 0);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(d.barostat.pressure_bar[i], 250.0);
    CU_ASSERT_EQUAL(d.barostat.interval, 100);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "barostat: {type: anisotropic, pressure: -5}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.barostat.anisotropic, 1);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(d.barostat.pressure_bar[i], -5.0);
}

static void barostat_errors_name_the_key_and_where(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "barostat:\n"
                       "  type: isotropc\n"
                       "  presure: 1\n"
                       "  interval: 0\n"
                       "  adapt: maybe\n"
                       "  seed: -1\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:9", "barostat.type",
                   "expected one of isotropic, anisotropic; got 'isotropc' (did you mean "
                   "'isotropic'?)");
    ASSERT_PROBLEM(&err, "4:3", "barostat.presure", "unknown key; did you mean 'pressure'?");
    ASSERT_PROBLEM(&err, "5:13", "barostat.interval", "must be >= 1 (got 0)");
    ASSERT_PROBLEM(&err, "6:10", "barostat.adapt", "expected true or false");
    ASSERT_PROBLEM(&err, "7:9", "barostat.seed", "non-negative integer");
    CU_ASSERT_EQUAL(count_lines(err.msg), 5);

    /* pressure: a number; a list only for anisotropic, and then three numbers. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nbarostat: {pressure: [1, 1, 1]}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:22", "barostat.pressure", "needs type: anisotropic");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "barostat: {type: isotropic, pressure: [1, 2, 3]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:39", "barostat.pressure", "needs type: anisotropic");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "barostat: {type: anisotropic, pressure: [1, 2]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:41", "barostat.pressure", "got a list of 2");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "barostat: {type: anisotropic, pressure: [1, x, 3]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:45", "barostat.pressure[1]", "expected a number, got 'x'");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nbarostat: {pressure: high}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:22", "barostat.pressure", "expected a number, got 'high'");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nbarostat: on\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:11", "barostat", "expected a mapping of keys, got 'on'");

    /* NPT needs a thermostat, and a periodic cutoff method. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {type: verlet}\n"
                          "barostat: {pressure: 1}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "barostat", "NPT needs a thermostat");
    ASSERT_PROBLEM(&err, "3:1", "barostat", "integrator.type langevin");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {method: nocutoff}\n"
                          "barostat: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "barostat", "needs a periodic box and a cutoff method");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* Without a barostat, the same integrator and method are fine. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {type: verlet}\n"
                          "nonbonded: {method: nocutoff}\nbarostat: null\n", &d, &err), CLMD_OK);
    /* Every periodic method takes one. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {method: pme}\nbarostat: {}\n",
                          &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {method: reaction_field}\n"
                          "barostat: {}\n", &d, &err), CLMD_OK);
    /* A key of the barostat written at the top level is pointed home. */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\npressure: 1\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:1", "pressure", "did you mean 'barostat.pressure'?");
}

static void printed_barostat_parses_back_to_the_same_values(void)
{
    const char *tmp = clmd_test_tmpdir();
    round_trip("system: {builtin: lj_fcc}\nbarostat: {pressure: 1.01325}\n", tmp);
    round_trip("system: {builtin: lj_fcc}\n"
               "barostat: {type: anisotropic, pressure: [0.1, 2.000001, 3e3], interval: 7,\n"
               "           adapt: no, seed: 18446744073709551615}\n", tmp);
    round_trip("system: {builtin: lj_fcc}\nbarostat: {type: anisotropic, pressure: 5}\n", tmp);
    round_trip("system: {builtin: lj_fcc}\nbarostat: null\n", tmp);
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "barostat: {type: anisotropic, pressure: [1, 2, 3]}\n", &d, &err),
                          CLMD_OK);
    char *printed = print_to_string(&d);
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "barostat:\n  type: anisotropic\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "  pressure: [1, 2, 3]\n"));
    free(printed);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n", &d, &err), CLMD_OK);
    printed = print_to_string(&d);
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\nbarostat: null\n"));
    free(printed);
}

static void cells_limit_is_what_the_loader_builds(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc, cells: 200}\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.system.cells, 200);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc, cells: 201}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "1:34", "system.cells", "must be in [1, 200] (got 201)");
    CU_ASSERT_EQUAL(CLMD_DECK_MAX_CELLS, 200);
}

static void reference_doc_example_parses(void)
{
    const char *doc = clmd_test_source("docs/input.md");
    FILE *f = fopen(doc, "r");
    if (!f) CLMD_SKIP("docs/input.md not found in the source tree");
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *start = strstr(text, "```yaml\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(start);
    start += strlen("```yaml\n");
    char *end = strstr(start, "```");
    CU_ASSERT_PTR_NOT_NULL_FATAL(end);
    *end = '\0';
    const char *tmp = clmd_test_tmpdir();
    make_file(tmp, "ala2.prmtop");
    make_file(tmp, "ala2.inpcrd");
    clmd_deck d;
    clmd_err err = {0};
    int rc = clmd_deck_parse_string(start, "input.md", tmp, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.system.kind, CLMD_SRC_AMBER);
    CU_ASSERT_EQUAL(d.implicit_solvent.model, CLMD_DECK_GB_OBC2);
    CU_ASSERT_EQUAL(d.constraints, CLMD_CONSTRAIN_HBONDS);
    /* the example shows a campaign: the geometric ladder and the keys as written */
    CU_ASSERT_EQUAL(d.remd.enabled, 1);
    CU_ASSERT_EQUAL(d.remd.ntemps, 8);
    CU_ASSERT_EQUAL(d.remd.temps[0], 300.0);
    CU_ASSERT_EQUAL(d.remd.temps[7], 450.0);
    CU_ASSERT_EQUAL(d.remd.exchange_interval, 500);
    CU_ASSERT_EQUAL(d.remd.exchanges, 2000);
    CU_ASSERT_EQUAL(d.remd.seed, 11UL);
    CU_ASSERT_EQUAL(d.output.checkpoint_interval, 10000);
    CU_ASSERT_EQUAL(d.output.checkpoint_wall_minutes, 15.0);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"contract example parses with the values shown", contract_example_parses_with_the_values_shown},
        {"minimal deck gets every documented default", minimal_deck_gets_every_documented_default},
        {"YAML syntax errors carry libyaml's line and column", yaml_syntax_errors_carry_libyaml_line_and_column},
        {"missing required keys are reported where they belong", missing_required_keys_are_reported_where_they_belong},
        {"system needs exactly one source", system_needs_exactly_one_source},
        {"wrong types name the expected type", wrong_types_name_the_expected_type},
        {"out-of-range values are rejected with the bound", out_of_range_values_are_rejected_with_the_bound},
        {"unknown keys get the closest known key", unknown_keys_get_the_closest_known_key},
        {"duplicate keys are rejected naming the first", duplicate_keys_are_rejected_naming_the_first},
        {"unreadable files name the file and the key", unreadable_files_name_the_file_and_the_key},
        {"enum values outside the set list the allowed ones", enum_values_outside_the_set_list_the_allowed_ones},
        {"several problems are reported together in file order", several_problems_are_reported_together_in_file_order},
        {"cross-section rules are checked", cross_section_rules_are_checked},
        {"numbers, booleans and enums accept the usual spellings", numbers_booleans_and_enums_accept_the_usual_spellings},
        {"null and a zero interval turn optional parts off", null_and_zero_interval_turn_optional_parts_off},
        {"geometric ladder spans min to max with a constant ratio", geometric_ladder_spans_min_to_max_with_a_constant_ratio},
        {"relative paths resolve against the deck's folder", relative_paths_resolve_against_the_decks_folder},
        {"printed deck parses back to an identical struct", printed_deck_parses_back_to_an_identical_struct},
        {"reference doc example parses", reference_doc_example_parses},
        {"barostat is off by default and takes the documented defaults", barostat_is_off_by_default_and_takes_documented_defaults},
        {"barostat reads every key", barostat_reads_every_key},
        {"barostat errors name the key and where", barostat_errors_name_the_key_and_where},
        {"printed barostat parses back to the same values", printed_barostat_parses_back_to_the_same_values},
        {"cells limit is what the loader builds", cells_limit_is_what_the_loader_builds},
        {NULL, NULL}};
    return clmd_test_main("input", tests, argc, argv);
}
