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
    "barostat: null                            # or (Langevin only):\n"
    "  # type: isotropic                       # isotropic | anisotropic\n"
    "  # pressure: 1.01325                     # bar (anisotropic: a number or [px, py, pz])\n"
    "  # interval: 25                          # steps between Monte Carlo volume moves\n"
    "  # adapt: true                           # adapt the move size (freeze it for production)\n"
    "  # seed: 13\n"
    "alchemical: null                          # or: a region whose coupling to the rest is scaled\n"
    "  # atoms: [0, \"5-9\"]                     # 0-based indices and \"a-b\" ranges, or residues: [LIG]\n"
    "  # lambda_sterics: 1.0                   # 1 = fully coupled, 0 = decoupled (soft-core LJ)\n"
    "  # lambda_electrostatics: 1.0            # charges of the region scaled linearly\n"
    "  # softcore_alpha: 0.5\n"
    "replica_exchange: null                    # or:\n"
    "  # temperatures: {min: 300, max: 450, count: 8}   # geometric ladder, or an explicit list\n"
    "  # lambdas: {sterics: [...], electrostatics: [...]}  # instead: a ladder over the alchemical region\n"
    "  # exchange_interval: 500                          # steps between attempts\n"
    "  # exchanges: 200\n"
    "  # scheme: neighbors                               # neighbors | all\n"
    "  # velocities: rescale                             # rescale | resample (after a temperature swap)\n"
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
    CU_ASSERT_EQUAL(d.barostat.enabled, 0);
    CU_ASSERT_EQUAL(d.alchemical.enabled, 0);
    CU_ASSERT_EQUAL(d.alchemical.mark.line, 38);
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
    CU_ASSERT_EQUAL(d.nonbonded.list_tolerance, -1); /* neighbor_tolerance: auto */
    CU_ASSERT_EQUAL(d.nonbonded.list_steps, 0);      /* neighbor_steps: auto */
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
    CU_ASSERT_EQUAL(d.remd.nlambdas, 0);
    CU_ASSERT_EQUAL(d.alchemical.enabled, 0);
    CU_ASSERT_EQUAL(d.alchemical.lambda_sterics, 1.0);
    CU_ASSERT_EQUAL(d.alchemical.lambda_electrostatics, 1.0);
    CU_ASSERT_EQUAL(d.alchemical.softcore_alpha, 0.5);
    CU_ASSERT_EQUAL(d.alchemical.annihilate_sterics, 0);
    CU_ASSERT_EQUAL(d.alchemical.region.nranges + d.alchemical.region.nresidues, 0);
    CU_ASSERT_EQUAL(d.solute_tempering.enabled, 0);
    CU_ASSERT_EQUAL(d.solute_tempering.ntemps, 0);
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
    d->alchemical.mark = d->alchemical.region.mark = none;
    d->solute_tempering.mark = d->solute_tempering.solute.mark = none;
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
               "            ewald_error_tolerance: 1e-5, pme_order: 6, neighbor_skin: 0.07,\n"
               "            neighbor_tolerance: 0.001, neighbor_steps: 64}\n"
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

/* neighbor_tolerance: a number, auto or null (exact lists); neighbor_steps: an integer or auto;
 * bad values name the key, line and column. */
static void neighbor_tolerance_and_steps_read_every_form(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "nonbonded: {neighbor_tolerance: 0.002, neighbor_steps: 40}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.nonbonded.list_tolerance, 0.002);
    CU_ASSERT_EQUAL(d.nonbonded.list_steps, 40);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "nonbonded: {neighbor_tolerance: null, neighbor_steps: auto}\n", &d,
                                &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.nonbonded.list_tolerance, 0);
    CU_ASSERT_EQUAL(d.nonbonded.list_steps, 0);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nnonbonded: {neighbor_tolerance: AUTO}\n",
                                &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.nonbonded.list_tolerance, -1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "nonbonded:\n  neighbor_tolerance: -0.1\n  neighbor_steps: 1\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:23", "nonbonded.neighbor_tolerance", "must be > 0 (got -0.1)");
    ASSERT_PROBLEM(&err, "4:19", "nonbonded.neighbor_steps", "must be");
    CU_ASSERT_EQUAL(count_lines(err.msg), 2);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nnonbonded: {neighbor_tolerance: small}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:33", "nonbonded.neighbor_tolerance", "expected a number, got 'small'");
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

/* ---------------------------------------------------------------- alchemical, lambdas, REST2 */

static void alchemical_region_reads_every_form_and_key(void)
{
    clmd_deck d;
    clmd_err err = {0};
    int rc = parse("system: {builtin: lj_fcc}\n"
                   "alchemical:\n"
                   "  atoms: [0, \"5-9\", 12, 3-4, \"7\", 1e1, \"2-2\"]\n"
                   "  lambda_sterics: 0.25\n"
                   "  lambda_electrostatics: 0\n"
                   "  softcore_alpha: 0.3\n"
                   "  annihilate_sterics: yes\n", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    const clmd_deck_selection *s = &d.alchemical.region;
    CU_ASSERT_EQUAL(d.alchemical.enabled, 1);
    CU_ASSERT_EQUAL(d.alchemical.mark.line, 2);
    CU_ASSERT_EQUAL_FATAL(s->nranges, 7);
    CU_ASSERT_EQUAL(s->nresidues, 0);
    /* one range per item, in the order written */
    const int want[7][2] = {{0, 0}, {5, 9}, {12, 12}, {3, 4}, {7, 7}, {10, 10}, {2, 2}};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(s->range[i][0], want[i][0]);
        CU_ASSERT_EQUAL(s->range[i][1], want[i][1]);
    }
    CU_ASSERT_EQUAL(s->mark.line, 3);
    CU_ASSERT_EQUAL(s->mark.column, 3);
    CU_ASSERT_STRING_EQUAL(s->key, "alchemical.atoms");
    CU_ASSERT_EQUAL(d.alchemical.lambda_sterics, 0.25);
    CU_ASSERT_EQUAL(d.alchemical.lambda_electrostatics, 0.0);
    CU_ASSERT_EQUAL(d.alchemical.softcore_alpha, 0.3);
    CU_ASSERT_EQUAL(d.alchemical.annihilate_sterics, 1);

    /* residues, the other keys at their defaults */
    rc = parse("system: {builtin: lj_fcc}\nalchemical: {residues: [LIG, \"ALA\", Na+, NO]}\n", &d,
               &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.alchemical.enabled, 1);
    CU_ASSERT_EQUAL(s->nranges, 0);
    CU_ASSERT_EQUAL_FATAL(s->nresidues, 4);
    CU_ASSERT_STRING_EQUAL(s->residue[0], "LIG");
    CU_ASSERT_STRING_EQUAL(s->residue[1], "ALA");
    CU_ASSERT_STRING_EQUAL(s->residue[2], "Na+");
    CU_ASSERT_STRING_EQUAL(s->residue[3], "NO"); /* a name, not a boolean */
    CU_ASSERT_STRING_EQUAL(s->key, "alchemical.residues");
    CU_ASSERT_EQUAL(s->mark.line, 2);
    CU_ASSERT_EQUAL(s->mark.column, 14);
    CU_ASSERT_EQUAL(d.alchemical.lambda_sterics, 1.0);
    CU_ASSERT_EQUAL(d.alchemical.lambda_electrostatics, 1.0);
    CU_ASSERT_EQUAL(d.alchemical.softcore_alpha, 0.5);
    CU_ASSERT_EQUAL(d.alchemical.annihilate_sterics, 0);

    /* 64 items fit; null is off */
    char big[1024];
    size_t len = (size_t)snprintf(big, sizeof big, "system: {builtin: lj_fcc}\nalchemical: {atoms: [");
    for (int i = 0; i < CLMD_MAX_SELECTION; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s%d", i ? ", " : "", 2 * i);
    snprintf(big + len, sizeof big - len, "]}\n");
    CU_ASSERT_EQUAL_FATAL(parse(big, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nranges, CLMD_MAX_SELECTION);
    CU_ASSERT_EQUAL(s->range[63][0], 126);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nalchemical: null\n", &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.alchemical.enabled, 0);
    CU_ASSERT_EQUAL(d.alchemical.mark.line, 2);
}

static void alchemical_errors_name_the_key_and_where(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "alchemical:\n"
                       "  atoms: [-1, \"9-5\", x, 2.5, null, \"99999999999\", [1]]\n"
                       "  lambda_sterics: 1.5\n"
                       "  lambda_electrostatics: -0.1\n"
                       "  softcore_alpha: 0\n"
                       "  annihilate_sterics: maybe\n";
    CU_ASSERT_EQUAL(parse(deck, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:11", "alchemical.atoms[0]", "0-based: must be >= 0 (got -1)");
    ASSERT_PROBLEM(&err, "3:15", "alchemical.atoms[1]", "needs a <= b (got 9-5)");
    ASSERT_PROBLEM(&err, "3:22", "alchemical.atoms[2]",
                   "expected a particle index (0-based) or a range \"a-b\", got 'x'");
    ASSERT_PROBLEM(&err, "3:25", "alchemical.atoms[3]", "expected a whole number, got 2.5");
    ASSERT_PROBLEM(&err, "3:30", "alchemical.atoms[4]", "got null");
    ASSERT_PROBLEM(&err, "3:36", "alchemical.atoms[5]", "too large (got 99999999999)");
    ASSERT_PROBLEM(&err, "3:51", "alchemical.atoms[6]", "got a list");
    ASSERT_PROBLEM(&err, "4:19", "alchemical.lambda_sterics", "must be in [0, 1] (got 1.5)");
    ASSERT_PROBLEM(&err, "5:26", "alchemical.lambda_electrostatics", "must be in [0, 1] (got -0.1)");
    ASSERT_PROBLEM(&err, "6:19", "alchemical.softcore_alpha", "must be > 0 (got 0)");
    ASSERT_PROBLEM(&err, "7:23", "alchemical.annihilate_sterics", "expected true or false");
    CU_ASSERT_EQUAL(count_lines(err.msg), 11);

    /* exactly one of atoms and residues, not empty, a list */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:13", "alchemical", "no particles selected: give exactly one of atoms");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: [0], residues: [LIG]}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:26", "alchemical.residues",
                   "give exactly one of atoms or residues (atoms is given at 2:14)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {residues: [LIG], atoms: [0]}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:31", "alchemical.atoms", "(residues is given at 2:14)");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: []}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:21", "alchemical.atoms", "needs 1 to 64 items, got 0");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: 5}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:21", "alchemical.atoms",
                   "expected a list of particle indices and \"a-b\" ranges, got '5'");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {residues: LIG}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:24", "alchemical.residues", "expected a list of residue names");
    char big[1024];
    size_t len = (size_t)snprintf(big, sizeof big, "system: {builtin: lj_fcc}\nalchemical: {atoms: [");
    for (int i = 0; i <= CLMD_MAX_SELECTION; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s%d", i ? ", " : "", i);
    snprintf(big + len, sizeof big - len, "]}\n");
    CU_ASSERT_EQUAL(parse(big, &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:21", "alchemical.atoms", "needs 1 to 64 items, got 65 (write runs");

    /* residue names: 1 to 7 characters, no blanks, a scalar */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "alchemical: {residues: [ABCDEFGH, \"A B\", null, \"\", [X]]}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:25", "alchemical.residues[0]", "1 to 7 characters, got 'ABCDEFGH'");
    ASSERT_PROBLEM(&err, "2:35", "alchemical.residues[1]", "no blanks");
    ASSERT_PROBLEM(&err, "2:42", "alchemical.residues[2]", "expected a residue name, got null");
    ASSERT_PROBLEM(&err, "2:48", "alchemical.residues[3]", "1 to 7 characters");
    ASSERT_PROBLEM(&err, "2:52", "alchemical.residues[4]", "expected a residue name, got a list");
    CU_ASSERT_EQUAL(count_lines(err.msg), 5);

    /* other spellings that are not an index */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "alchemical: {atoms: [\"5-\", 0x10, \"1-2-3\", \" 4\", 3.0e0]}\n", &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:22", "alchemical.atoms[0]", "expected a particle index");
    ASSERT_PROBLEM(&err, "2:28", "alchemical.atoms[1]", "expected a particle index");
    ASSERT_PROBLEM(&err, "2:34", "alchemical.atoms[2]", "expected a particle index");
    ASSERT_PROBLEM(&err, "2:43", "alchemical.atoms[3]", "expected a particle index");
    CU_ASSERT_EQUAL(count_lines(err.msg), 4); /* 3.0e0 is the index 3 */

    /* keys: unknown ones get the closest; a selection key at the top level is pointed home */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atom: [1]}\natoms: [1]\n"
                          "alchemcal: null\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:14", "alchemical.atom", "did you mean 'atoms'?");
    ASSERT_PROBLEM(&err, "2:13", "alchemical", "no particles selected");
    ASSERT_PROBLEM(&err, "3:1", "atoms",
                   "did you mean 'alchemical.atoms' or 'solute_tempering.atoms'?");
    ASSERT_PROBLEM(&err, "4:1", "alchemcal", "did you mean 'alchemical'?");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: [0, 1]\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:13", "alchemical", "expected a mapping of keys, got a list");
}

static void lambda_ladder_is_read_with_the_alchemical_region(void)
{
    clmd_deck d;
    clmd_err err = {0};
    int rc = parse("system: {builtin: lj_fcc}\n"
                   "alchemical: {residues: [LIG]}\n"
                   "barostat: {}\n"
                   "replica_exchange:\n"
                   "  lambdas:\n"
                   "    sterics: [1, 1, 0.5, 0]\n"
                   "    electrostatics: [1, 0.5, 0, 0]\n"
                   "  exchange_interval: 100\n", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.remd.enabled, 1);
    CU_ASSERT_EQUAL(d.remd.ntemps, 0); /* every state at integrator.temperature */
    CU_ASSERT_EQUAL_FATAL(d.remd.nlambdas, 4);
    const double st[4] = {1, 1, 0.5, 0}, el[4] = {1, 0.5, 0, 0};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(d.remd.lambda_sterics[i], st[i]);
        CU_ASSERT_EQUAL(d.remd.lambda_electrostatics[i], el[i]);
    }
    CU_ASSERT_EQUAL(d.remd.exchange_interval, 100);
    CU_ASSERT_EQUAL(d.barostat.enabled, 1); /* NPT alchemical campaigns */
    CU_ASSERT_EQUAL(d.solute_tempering.enabled, 0);

    /* 256 states fit, any order */
    char big[8192];
    size_t len = (size_t)snprintf(big, sizeof big, "system: {builtin: lj_fcc}\n"
                                  "alchemical: {atoms: [0]}\nreplica_exchange:\n  lambdas:\n");
    for (int k = 0; k < 2; k++) {
        len += (size_t)snprintf(big + len, sizeof big - len, "    %s: [",
                                k ? "electrostatics" : "sterics");
        for (int i = 0; i < CLMD_MAX_REPLICAS; i++)
            len += (size_t)snprintf(big + len, sizeof big - len, "%s%g", i ? ", " : "",
                                    k ? (i % 2) * 0.5 : i / 255.0);
        len += (size_t)snprintf(big + len, sizeof big - len, "]\n");
    }
    rc = parse(big, &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.remd.nlambdas, CLMD_MAX_REPLICAS);
    CU_ASSERT_EQUAL(d.remd.lambda_electrostatics[1], 0.5);
    CU_ASSERT_EQUAL(d.remd.lambda_sterics[255], 1.0);
}

static void lambda_ladder_errors_name_the_key_and_where(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *head = "system: {builtin: lj_fcc}\nalchemical: {atoms: [0]}\nreplica_exchange:\n";
    char deck[1024];
#define WITH(body) (snprintf(deck, sizeof deck, "%s%s", head, (body)), deck)
    CU_ASSERT_EQUAL(parse(WITH("  lambdas: {sterics: [1, 0.5, 0], electrostatics: [1, 0]}\n"),
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:51", "replica_exchange.lambdas.electrostatics",
                   "has 2 values and sterics 3");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse(WITH("  lambdas: {sterics: [1.5, x], electrostatics: [1]}\n"), &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:23", "replica_exchange.lambdas.sterics[0]",
                   "must be in [0, 1] (got 1.5)");
    ASSERT_PROBLEM(&err, "4:28", "replica_exchange.lambdas.sterics[1]",
                   "expected a number, got 'x'");
    ASSERT_PROBLEM(&err, "4:48", "replica_exchange.lambdas.electrostatics",
                   "needs 2 to 256 values, got 1");
    CU_ASSERT_EQUAL(count_lines(err.msg), 3);
    CU_ASSERT_EQUAL(parse(WITH("  lambdas: {sterics: [1, 0]}\n"), &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:12", "replica_exchange.lambdas.electrostatics",
                   "required key is missing");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse(WITH("  lambdas: {sterics: 1, electrostatics: [1, 0], coulomb: [1]}\n"),
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:22", "replica_exchange.lambdas.sterics", "expected a list");
    ASSERT_PROBLEM(&err, "4:49", "replica_exchange.lambdas.coulomb", "unknown key");
    CU_ASSERT_EQUAL(parse(WITH("  lambdas: [1, 0]\n"), &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:12", "replica_exchange.lambdas",
                   "expected a mapping {sterics: [...], electrostatics: [...]}, got a list");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* one ladder only */
    CU_ASSERT_EQUAL(parse(WITH("  temperatures: [300, 310]\n"
                               "  lambdas: {sterics: [1, 0], electrostatics: [1, 0]}\n"), &d,
                          &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "5:3", "replica_exchange.lambdas",
                   "give exactly one of temperatures, lambdas or a solute_tempering section as "
                   "the ladder (temperatures is given at 4:3)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
#undef WITH
    /* the lambdas scale the alchemical region: without one they mean nothing */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: null\nreplica_exchange:\n"
                          "  lambdas: {sterics: [1, 0], electrostatics: [1, 0]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:3", "replica_exchange.lambdas", "needs the alchemical section");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* no ladder at all: the message names the three ways to give one */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nreplica_exchange: {seed: 3}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:19", "replica_exchange.temperatures",
                   "give exactly one of temperatures ({min, max, count} or an ascending list), "
                   "lambdas, or a solute_tempering section");
    /* a lambda campaign needs a thermostat as any other */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {type: verlet}\n"
                          "alchemical: {atoms: [0]}\nreplica_exchange:\n"
                          "  lambdas: {sterics: [1, 0], electrostatics: [1, 0]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "4:1", "replica_exchange", "needs a thermostat");
}

static void solute_tempering_reads_its_ladder_and_solute(void)
{
    clmd_deck d;
    clmd_err err = {0};
    int rc = parse("system: {builtin: lj_fcc}\n"
                   "integrator: {temperature: 300}\n"
                   "solute_tempering:\n"
                   "  residues: [ALA]\n"
                   "  temperatures: {min: 300, max: 600, count: 6}\n"
                   "replica_exchange: {exchange_interval: 100}\n", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.solute_tempering.enabled, 1);
    CU_ASSERT_EQUAL(d.solute_tempering.mark.line, 3);
    CU_ASSERT_EQUAL(d.solute_tempering.solute.nresidues, 1);
    CU_ASSERT_STRING_EQUAL(d.solute_tempering.solute.residue[0], "ALA");
    CU_ASSERT_STRING_EQUAL(d.solute_tempering.solute.key, "solute_tempering.residues");
    CU_ASSERT_EQUAL(d.solute_tempering.solute.mark.line, 4);
    CU_ASSERT_EQUAL_FATAL(d.solute_tempering.ntemps, 6);
    CU_ASSERT_EQUAL(d.solute_tempering.temps[0], 300.0);
    CU_ASSERT_EQUAL(d.solute_tempering.temps[5], 600.0);
    for (int i = 1; i < 6; i++)
        ASSERT_REL(d.solute_tempering.temps[i] / d.solute_tempering.temps[i - 1], pow(2.0, 0.2),
                   1e-13, 0, "REST2 ladder ratio", "pow() and one division: a few ulps");
    /* the campaign's ladder is REST2's: replica_exchange has none of its own */
    CU_ASSERT_EQUAL(d.remd.enabled, 1);
    CU_ASSERT_EQUAL(d.remd.ntemps, 0);
    CU_ASSERT_EQUAL(d.remd.nlambdas, 0);
    CU_ASSERT_EQUAL(d.remd.exchange_interval, 100);

    rc = parse("system: {builtin: lj_fcc}\nintegrator: {temperature: 310.5}\n"
               "solute_tempering: {atoms: [\"0-21\"], temperatures: [310.5, 350, 420.25]}\n"
               "replica_exchange: {}\nbarostat: {}\n", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    CU_ASSERT_EQUAL(d.solute_tempering.solute.nranges, 1);
    CU_ASSERT_EQUAL(d.solute_tempering.solute.range[0][1], 21);
    CU_ASSERT_EQUAL_FATAL(d.solute_tempering.ntemps, 3);
    CU_ASSERT_EQUAL(d.solute_tempering.temps[2], 420.25);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nsolute_tempering: ~\n", &d, &err),
                          CLMD_OK);
    CU_ASSERT_EQUAL(d.solute_tempering.enabled, 0);
}

static void solute_tempering_errors_name_the_key_and_where(void)
{
    clmd_deck d;
    clmd_err err = {0};
    /* T0 is the physical temperature */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {temperature: 310}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 350]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:47", "solute_tempering.temperatures[0]",
                   "the first temperature (300 K) must equal integrator.temperature (310 K)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: {min: 290, max: 400, "
                          "count: 4}}\nreplica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:52", "solute_tempering.temperatures.min",
                   "must equal integrator.temperature (300 K)");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* a bad integrator temperature is reported once, not again as a mismatch */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nintegrator: {temperature: -1}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 350]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    ASSERT_PROBLEM(&err, "2:27", "integrator.temperature", "must be > 0");

    /* the ladder itself: ascending, > 0, 2 or more, present */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 290, -5]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:52", "solute_tempering.temperatures[1]", "strictly ascending");
    ASSERT_PROBLEM(&err, "2:57", "solute_tempering.temperatures[2]", "must be > 0");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:46", "solute_tempering.temperatures", "needs 2 to 256 temperatures, got 1");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: {min: 300, max: 300, count: 3}}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:62", "solute_tempering.temperatures.max", "greater than min");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nsolute_tempering: {residues: [ALA]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:19", "solute_tempering.temperatures", "required key is missing");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nsolute_tempering: {temperatures: [300, 400]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:19", "solute_tempering", "no particles selected");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);

    /* a REST2 ladder is a campaign: replica_exchange is required, without a ladder of its own */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400]}\n", &d, &err),
                    CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:1", "solute_tempering", "needs replica_exchange");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400]}\n"
                          "replica_exchange: null\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:1", "solute_tempering", "needs replica_exchange");
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400]}\n"
                          "replica_exchange: {temperatures: [300, 400]}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:20", "replica_exchange.temperatures",
                   "the ladder is given by solute_tempering (at 2:1): give exactly one of "
                   "temperatures, lambdas or a solute_tempering section");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    /* not with an alchemical region (nor its lambdas) */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: [1]}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400]}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "solute_tempering",
                   "solute_tempering and alchemical (given at 2:1) cannot be used together");
    CU_ASSERT_EQUAL(count_lines(err.msg), 1);
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: [1]}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400]}\n"
                          "replica_exchange: {lambdas: {sterics: [1, 0], electrostatics: [1, 0]}}\n",
                          &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "3:1", "solute_tempering", "cannot be used together");
    ASSERT_PROBLEM(&err, "4:20", "replica_exchange.lambdas", "the ladder is given by solute_tempering");
    CU_ASSERT_EQUAL(count_lines(err.msg), 2);
    /* a key of the ladder written one level off is pointed home */
    CU_ASSERT_EQUAL(parse("system: {builtin: lj_fcc}\n"
                          "solute_tempering: {atoms: [0], temperatures: [300, 400], count: 3}\n"
                          "replica_exchange: {}\n", &d, &err), CLMD_EINPUT);
    ASSERT_PROBLEM(&err, "2:58", "solute_tempering.count",
                   "did you mean 'solute_tempering.temperatures.count' or "
                   "'replica_exchange.temperatures.count'?");
}

static void printed_alchemical_sections_parse_back_to_the_same_values(void)
{
    const char *tmp = clmd_test_tmpdir();
    round_trip("system: {builtin: lj_fcc}\n"
               "alchemical: {atoms: [0, \"5-9\", 12, \"3-3\", 1e1], lambda_sterics: 0.123456789,\n"
               "             lambda_electrostatics: 0, softcore_alpha: 0.3, annihilate_sterics: true}\n",
               tmp);
    round_trip("system: {builtin: lj_fcc}\n"
               "alchemical: {residues: [LIG, \"a:b\", \"x#y\", '\"q\"', NO, \"1\"]}\n"
               "replica_exchange: {temperatures: [300, 310]}\n", tmp);
    round_trip("system: {builtin: lj_fcc}\nalchemical: {residues: [LIG]}\nbarostat: {}\n"
               "replica_exchange:\n"
               "  lambdas: {sterics: [1, 0.9, 0.1, 0], electrostatics: [0.3333333333333333, 0, 0, 1]}\n"
               "  exchanges: 7\n  scheme: all\n", tmp);
    round_trip("system: {builtin: lj_fcc}\nintegrator: {temperature: 298.15}\n"
               "solute_tempering: {residues: [ALA, NME], temperatures: {min: 298.15, max: 500, "
               "count: 7}}\n"
               "replica_exchange: {exchange_interval: 50, seed: 4}\n", tmp);
    round_trip("system: {builtin: lj_fcc}\n"
               "solute_tempering: {atoms: [\"0-21\", 30], temperatures: [300, 301.5]}\n"
               "replica_exchange: {}\n", tmp);

    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\nalchemical: {atoms: [0, \"5-9\"]}\n"
                                "replica_exchange:\n"
                                "  lambdas: {sterics: [1, 0.5], electrostatics: [1, 0]}\n", &d,
                                &err), CLMD_OK);
    char *printed = print_to_string(&d);
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\nalchemical:\n  atoms: [0, \"5-9\"]\n"
                                           "  lambda_sterics: 1\n  lambda_electrostatics: 1\n"
                                           "  softcore_alpha: 0.5\n  annihilate_sterics: false\n"
                                           "solute_tempering: null\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\nreplica_exchange:\n  lambdas:\n    sterics: [1, 0.5]\n"
                                           "    electrostatics: [1, 0]\n  exchange_interval: 500\n"));
    CU_ASSERT_PTR_NULL(strstr(printed, "temperatures"));
    free(printed);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n"
                                "solute_tempering: {residues: [ALA], temperatures: [300, 400]}\n"
                                "replica_exchange: {}\n", &d, &err), CLMD_OK);
    printed = print_to_string(&d);
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\nalchemical: null\nsolute_tempering:\n"
                                           "  residues: [\"ALA\"]\n  temperatures: [300, 400]\n"
                                           "replica_exchange:\n  # the ladder"));
    free(printed);
    CU_ASSERT_EQUAL_FATAL(parse("system: {builtin: lj_fcc}\n", &d, &err), CLMD_OK);
    printed = print_to_string(&d);
    CU_ASSERT_PTR_NOT_NULL(strstr(printed, "\nalchemical: null\nsolute_tempering: null\n"
                                           "replica_exchange: null\n"));
    free(printed);
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
        {"neighbor_tolerance and neighbor_steps read every form",
         neighbor_tolerance_and_steps_read_every_form},
        {"printed barostat parses back to the same values", printed_barostat_parses_back_to_the_same_values},
        {"cells limit is what the loader builds", cells_limit_is_what_the_loader_builds},
        {"alchemical region reads every form and key", alchemical_region_reads_every_form_and_key},
        {"alchemical errors name the key and where", alchemical_errors_name_the_key_and_where},
        {"lambda ladder is read with the alchemical region", lambda_ladder_is_read_with_the_alchemical_region},
        {"lambda ladder errors name the key and where", lambda_ladder_errors_name_the_key_and_where},
        {"solute tempering reads its ladder and solute", solute_tempering_reads_its_ladder_and_solute},
        {"solute tempering errors name the key and where", solute_tempering_errors_name_the_key_and_where},
        {"printed alchemical sections parse back to the same values", printed_alchemical_sections_parse_back_to_the_same_values},
        {NULL, NULL}};
    return clmd_test_main("input", tests, argc, argv);
}
