/* The input deck: the tables that describe it (read by input/schema.c), code for the keys that
 * are not simple, the rules across sections, the defaults and the printout.
 *
 * A new section is one entry of SECTIONS with its allowed keys and its field table (each simple
 * key: kind, range, where its value goes); its printout is a few lines of clmd_deck_print. Code
 * of its own is needed only for a key that is more than one scalar or a rule across keys. */
#include "input/deck.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"
#include "input/schema.h"

/* ---------------------------------------------------------------- known keys and values */

static const char *const K_TOP[] = {"title", "system", "nonbonded", "implicit_solvent",
                                    "constraints", "constraint_tolerance", "rigid_water",
                                    "velocities", "minimize", "integrator", "barostat",
                                    "alchemical", "solute_tempering", "replica_exchange",
                                    "output", "device", "probes", NULL};
static const char *const K_MIN[] = {"max_steps", "tolerance", NULL};
static const char *const K_SYSTEM[] = {"builtin", "cells", "reduced_density", "model", "edge",
                                       "forcefield", "amber", "coordinates", "box", NULL};
static const char *const K_AMBER[] = {"prmtop", "inpcrd", NULL};
static const char *const K_NB[] = {"method", "cutoff", "switch_distance", "dispersion_correction",
                                   "reaction_field_dielectric", "ewald_error_tolerance",
                                   "ewald_alpha", "pme_grid", "pme_order", "neighbor_skin",
                                   "neighbor_tolerance", "neighbor_steps", NULL};
static const char *const K_GB[] = {"model", "solvent_dielectric", "solute_dielectric",
                                   "surface_area", "surface_tension", "probe_radius", NULL};
static const char *const K_VEL[] = {"temperature", "seed", NULL};
static const char *const K_INT[] = {"type", "timestep", "temperature", "friction", "steps",
                                    "seed", "remove_com_motion", "com_interval", NULL};
static const char *const K_BARO[] = {"type", "pressure", "interval", "adapt", "seed", NULL};
static const char *const K_REMD[] = {"temperatures", "lambdas", "exchange_interval", "exchanges",
                                     "seed", "scheme", "velocities", "replicas_per_device", NULL};
static const char *const K_LADDER[] = {"min", "max", "count", NULL};
static const char *const K_LAMBDAS[] = {"sterics", "electrostatics", NULL};
static const char *const K_ALCH[] = {"atoms", "residues", "lambda_sterics", "lambda_electrostatics",
                                     "softcore_alpha", "annihilate_sterics", NULL};
static const char *const K_REST[] = {"atoms", "residues", "temperatures", NULL};
static const char *const K_OUT[] = {"directory", "trajectory", "energies", "checkpoint",
                                    "overwrite", NULL};
static const char *const K_FILE[] = {"file", "interval", NULL};
static const char *const K_CKPT[] = {"file", "interval", "wall_minutes", NULL};
static const char *const K_PROBES[] = {"json", NULL};

/* Choice spellings, in the order of the C enums they map to. */
static const char *const E_BUILTIN[] = {"lj_fcc", "water_box", NULL};
static const char *const E_MODEL[] = {"tip4pew", "tip3p", NULL};
static const char *const E_METHOD[] = {"nocutoff", "cutoff", "reaction_field", "pme", NULL};
static const char *const E_GB[] = {"obc1", "obc2", NULL}; /* clmd_deck_gbmodel minus one */
static const char *const E_SURFACE[] = {"none", "ace", NULL};
static const char *const E_CONSTRAIN[] = {"none", "hbonds", "allbonds", NULL};
static const char *const E_INTEGRATOR[] = {"langevin", "verlet", NULL};
static const char *const E_BAROSTAT[] = {"isotropic", "anisotropic", NULL};

/* Defaults that the system section restores for the keys its source does not use. */
#define DEFAULT_CELLS 10
#define DEFAULT_REDUCED_DENSITY 0.8442
#define DEFAULT_WATER_MODEL "tip4pew"
#define DEFAULT_WATER_EDGE 3.0
#define DEFAULT_PRESSURE_BAR 1.01325 /* 1 atm */

/* ---------------------------------------------------------------- field tables */

/* SCHEMA_ENUM fields write these enums through an int. */
_Static_assert(sizeof(clmd_source_kind) == sizeof(int) &&
                   sizeof(clmd_builtin_kind) == sizeof(int) &&
                   sizeof(clmd_constrain_kind) == sizeof(int) &&
                   sizeof(clmd_integrator_kind) == sizeof(int) &&
                   sizeof(clmd_deck_nbmethod) == sizeof(int) &&
                   sizeof(clmd_deck_gbmodel) == sizeof(int),
               "the deck's enums are int-sized");

#define AT(m) offsetof(clmd_deck, m)
#define SIZE(m) sizeof(((clmd_deck *)0)->m)
#define FIELD(k, kind_, m) .key = (k), .kind = (kind_), .off = AT(m)
#define END {.key = NULL}

static const schema_field F_TOP[] = {
    {FIELD("title", SCHEMA_STR, title), .size = SIZE(title), .flags = SCHEMA_NULLABLE},
    {FIELD("constraints", SCHEMA_ENUM, constraints), .names = E_CONSTRAIN,
     .mark_off = AT(constraints_mark)},
    {FIELD("constraint_tolerance", SCHEMA_NUM, constraint_tolerance),
     .range = SCHEMA_OPEN(0, 1)},
    {FIELD("rigid_water", SCHEMA_BOOL, rigid_water)},
    {FIELD("device", SCHEMA_STR, device), .size = SIZE(device), .mark_off = AT(device_mark)},
    END};

/* cells..edge are read whatever the source; parse_system keeps only what the source uses. */
static const schema_field F_SYSTEM[] = {
    {FIELD("builtin", SCHEMA_ENUM, system.builtin), .names = E_BUILTIN},
    {FIELD("cells", SCHEMA_INT, system.cells), .range = SCHEMA_CLOSED(1, CLMD_DECK_MAX_CELLS)},
    {FIELD("reduced_density", SCHEMA_NUM, system.reduced_density), .range = SCHEMA_GT(0)},
    {FIELD("model", SCHEMA_WORD, system.model), .names = E_MODEL, .size = SIZE(system.model)},
    {FIELD("edge", SCHEMA_NUM, system.edge_nm), .range = SCHEMA_GT(0)},
    {FIELD("coordinates", SCHEMA_PATH, system.coordinates), .size = SIZE(system.coordinates),
     .flags = SCHEMA_MUST_READ, .mark_off = AT(system.coordinates_mark)},
    {FIELD("forcefield", SCHEMA_PATH, system.forcefield), .size = SIZE(system.forcefield),
     .flags = SCHEMA_NULLABLE | SCHEMA_MUST_READ, .mark_off = AT(system.forcefield_mark)},
    END};

static const schema_field F_AMBER[] = {
    {FIELD("prmtop", SCHEMA_PATH, system.prmtop), .size = SIZE(system.prmtop),
     .flags = SCHEMA_REQUIRED | SCHEMA_MUST_READ, .mark_off = AT(system.prmtop_mark)},
    {FIELD("inpcrd", SCHEMA_PATH, system.inpcrd), .size = SIZE(system.inpcrd),
     .flags = SCHEMA_REQUIRED | SCHEMA_MUST_READ, .mark_off = AT(system.inpcrd_mark)},
    END};

static const schema_field F_NONBONDED[] = {
    {FIELD("method", SCHEMA_ENUM, nonbonded.method), .names = E_METHOD,
     .mark_off = AT(method_mark)},
    {FIELD("cutoff", SCHEMA_NUM, nonbonded.cutoff_nm), .range = SCHEMA_GT(0),
     .mark_off = AT(cutoff_mark)},
    {FIELD("switch_distance", SCHEMA_NUM, nonbonded.switch_nm), .range = SCHEMA_GT(0),
     .flags = SCHEMA_NULLABLE},
    {FIELD("dispersion_correction", SCHEMA_BOOL, nonbonded.dispersion_correction)},
    {FIELD("reaction_field_dielectric", SCHEMA_NUM, nonbonded.rf_dielectric),
     .range = SCHEMA_GT(0)},
    {FIELD("ewald_error_tolerance", SCHEMA_NUM, nonbonded.ewald_tolerance),
     .range = SCHEMA_OPEN(0, 1)},
    {FIELD("ewald_alpha", SCHEMA_NUM, nonbonded.ewald_alpha), .range = SCHEMA_GT(0),
     .flags = SCHEMA_NULLABLE},
    {FIELD("pme_order", SCHEMA_INT, nonbonded.pme_order), .range = SCHEMA_CLOSED(3, 12)},
    END};

/* neighbor_skin when it is a number (parse_nonbonded reads "auto"). */
static const schema_field F_SKIN = {FIELD("neighbor_skin", SCHEMA_NUM, nonbonded.skin_nm),
                                    .range = SCHEMA_GE(0)};

static const schema_field F_IMPLICIT[] = {
    {FIELD("model", SCHEMA_ENUM, implicit_solvent.model), .names = E_GB, .base = 1,
     .flags = SCHEMA_REQUIRED, .why = "obc1 or obc2"},
    {FIELD("solvent_dielectric", SCHEMA_NUM, implicit_solvent.solvent_dielectric),
     .range = SCHEMA_GT(0)},
    {FIELD("solute_dielectric", SCHEMA_NUM, implicit_solvent.solute_dielectric),
     .range = SCHEMA_GT(0)},
    {FIELD("surface_area", SCHEMA_ENUM, implicit_solvent.surface_area), .names = E_SURFACE},
    {FIELD("surface_tension", SCHEMA_NUM, implicit_solvent.sa_energy), .range = SCHEMA_GE(0)},
    {FIELD("probe_radius", SCHEMA_NUM, implicit_solvent.probe_radius_nm),
     .range = SCHEMA_GT(0)},
    END};

static const schema_field F_VELOCITIES[] = {
    {FIELD("temperature", SCHEMA_NUM, velocities.temperature), .range = SCHEMA_GE(0)},
    {FIELD("seed", SCHEMA_SEED, velocities.seed)},
    END};

static const schema_field F_MINIMIZE[] = {
    {FIELD("max_steps", SCHEMA_LONG, minimize.max_steps), .range = SCHEMA_GE(1)},
    {FIELD("tolerance", SCHEMA_NUM, minimize.tolerance), .range = SCHEMA_GT(0)},
    END};

static const schema_field F_INTEGRATOR[] = {
    {FIELD("type", SCHEMA_ENUM, integrator.type), .names = E_INTEGRATOR},
    {FIELD("timestep", SCHEMA_NUM, integrator.timestep_ps), .range = SCHEMA_GT(0)},
    {FIELD("temperature", SCHEMA_NUM, integrator.temperature), .range = SCHEMA_GT(0)},
    {FIELD("friction", SCHEMA_NUM, integrator.friction), .range = SCHEMA_GE(0)},
    {FIELD("steps", SCHEMA_LONG, integrator.steps), .range = SCHEMA_GE(0)},
    {FIELD("seed", SCHEMA_SEED, integrator.seed)},
    {FIELD("remove_com_motion", SCHEMA_BOOL, integrator.remove_com_motion)},
    {FIELD("com_interval", SCHEMA_INT, integrator.com_interval), .range = SCHEMA_GE(1)},
    END};

/* pressure is a number or a list: parse_barostat. */
static const schema_field F_BAROSTAT[] = {
    {FIELD("type", SCHEMA_ENUM, barostat.anisotropic), .names = E_BAROSTAT},
    {FIELD("interval", SCHEMA_INT, barostat.interval), .range = SCHEMA_GE(1)},
    {FIELD("adapt", SCHEMA_BOOL, barostat.adapt)},
    {FIELD("seed", SCHEMA_SEED, barostat.seed)},
    END};

/* atoms/residues are read by parse_selection. */
static const schema_field F_ALCHEMICAL[] = {
    {FIELD("lambda_sterics", SCHEMA_NUM, alchemical.lambda_sterics), .range = SCHEMA_CLOSED(0, 1)},
    {FIELD("lambda_electrostatics", SCHEMA_NUM, alchemical.lambda_electrostatics),
     .range = SCHEMA_CLOSED(0, 1)},
    {FIELD("softcore_alpha", SCHEMA_NUM, alchemical.softcore_alpha), .range = SCHEMA_GT(0)},
    {FIELD("annihilate_sterics", SCHEMA_BOOL, alchemical.annihilate_sterics)},
    END};

static const char *const E_REMD_SCHEME[] = {"neighbors", "all", NULL};
static const char *const E_REMD_VELOCITIES[] = {"rescale", "resample", NULL};
static const schema_field F_REMD[] = {
    {FIELD("exchange_interval", SCHEMA_LONG, remd.exchange_interval), .range = SCHEMA_GE(1)},
    {FIELD("exchanges", SCHEMA_LONG, remd.exchanges), .range = SCHEMA_GE(1)},
    {FIELD("seed", SCHEMA_SEED, remd.seed)},
    {FIELD("scheme", SCHEMA_ENUM, remd.scheme), .names = E_REMD_SCHEME},
    {FIELD("velocities", SCHEMA_ENUM, remd.resample_velocities), .names = E_REMD_VELOCITIES},
    {FIELD("replicas_per_device", SCHEMA_INT, remd.replicas_per_device), .range = SCHEMA_GE(0)},
    END};

static const schema_field F_OUTPUT[] = {
    {FIELD("directory", SCHEMA_PATH, output.directory), .size = SIZE(output.directory)},
    {FIELD("overwrite", SCHEMA_BOOL, output.overwrite)},
    END};

static const schema_field F_PROBES[] = {
    {FIELD("json", SCHEMA_PATH, probes_json), .size = SIZE(probes_json),
     .flags = SCHEMA_NULLABLE},
    END};

/* A temperature ladder {min, max, count}, read into its own struct. */
typedef struct ladder {
    double min, max;
    int count;
} ladder;
static const schema_field F_LADDER[] = {
    {.key = "min", .kind = SCHEMA_NUM, .off = offsetof(ladder, min), .range = SCHEMA_GT(0),
     .flags = SCHEMA_REQUIRED},
    {.key = "max", .kind = SCHEMA_NUM, .off = offsetof(ladder, max), .range = SCHEMA_GT(0),
     .flags = SCHEMA_REQUIRED},
    {.key = "count", .kind = SCHEMA_INT, .off = offsetof(ladder, count),
     .range = SCHEMA_CLOSED(2, CLMD_MAX_REPLICAS), .flags = SCHEMA_REQUIRED},
    END};

/* One output stream {file, interval}, read into its own struct. */
typedef struct stream {
    char file[CLMD_PATH_MAX];
    long interval;
} stream;
static const schema_field F_STREAM[] = {
    {.key = "file", .kind = SCHEMA_STR, .off = offsetof(stream, file),
     .size = sizeof(((stream *)0)->file)},
    {.key = "interval", .kind = SCHEMA_LONG, .off = offsetof(stream, interval),
     .range = SCHEMA_GE(0)},
    END};

/* The checkpoint stream: steps and minutes of wall time between checkpoints. */
typedef struct ckpt_stream {
    char file[CLMD_PATH_MAX];
    long interval;
    double wall_minutes;
} ckpt_stream;
static const schema_field F_CKPT[] = {
    {.key = "file", .kind = SCHEMA_STR, .off = offsetof(ckpt_stream, file),
     .size = sizeof(((ckpt_stream *)0)->file)},
    {.key = "interval", .kind = SCHEMA_LONG, .off = offsetof(ckpt_stream, interval),
     .range = SCHEMA_GE(0)},
    {.key = "wall_minutes", .kind = SCHEMA_NUM, .off = offsetof(ckpt_stream, wall_minutes),
     .range = SCHEMA_GE(0)},
    END};

/* ---------------------------------------------------------------- sections */

static void parse_top(schema_ctx *c, yaml_node_t *root);
static void parse_system(schema_ctx *c, yaml_node_t *sys);
static void parse_nonbonded(schema_ctx *c, yaml_node_t *nb);
static void parse_velocities(schema_ctx *c, yaml_node_t *v);
static void velocities_word(schema_ctx *c, yaml_node_t *v);
static void parse_barostat(schema_ctx *c, yaml_node_t *b);
static void parse_alchemical(schema_ctx *c, yaml_node_t *a);
static void parse_solute_tempering(schema_ctx *c, yaml_node_t *s);
static void parse_remd(schema_ctx *c, yaml_node_t *r);
static void parse_output(schema_ctx *c, yaml_node_t *o);

/* Every mapping of the deck, top-level sections in reading order. Nested ones are read by
 * their parent's function; they are listed so that a key written one level off is pointed
 * to its home. */
static const schema_section SECTIONS[] = {
    {.name = "", .keys = K_TOP, .fields = F_TOP, .parse = parse_top},
    {.name = "system", .keys = K_SYSTEM, .flags = SCHEMA_REQUIRED, .mark_off = AT(system.mark),
     .fields = F_SYSTEM, .parse = parse_system,
     .if_null = "no system source: give exactly one of builtin, amber, coordinates",
     .why = "give the system's source (builtin, amber or coordinates)"},
    {.name = "system.amber", .keys = K_AMBER, .flags = SCHEMA_NESTED, .fields = F_AMBER,
     .expect = "a mapping {prmtop: FILE, inpcrd: FILE}"},
    {.name = "nonbonded", .keys = K_NB, .flags = SCHEMA_NULLABLE, .mark_off = AT(nonbonded_mark),
     .fields = F_NONBONDED, .parse = parse_nonbonded},
    {.name = "implicit_solvent", .keys = K_GB, .flags = SCHEMA_NULLABLE,
     .mark_off = AT(implicit_solvent_mark), .fields = F_IMPLICIT},
    {.name = "velocities", .keys = K_VEL, .mark_off = AT(velocities.mark),
     .enabled_off = AT(velocities.given), .fields = F_VELOCITIES, .parse = parse_velocities,
     .scalar = velocities_word, .expect = "a mapping {temperature, seed} or from_input"},
    {.name = "minimize", .keys = K_MIN, .flags = SCHEMA_NULLABLE, .mark_off = AT(minimize.mark),
     .enabled_off = AT(minimize.enabled), .fields = F_MINIMIZE},
    {.name = "integrator", .keys = K_INT, .flags = SCHEMA_NULLABLE,
     .mark_off = AT(integrator.mark), .fields = F_INTEGRATOR},
    {.name = "barostat", .keys = K_BARO, .flags = SCHEMA_NULLABLE, .mark_off = AT(barostat.mark),
     .enabled_off = AT(barostat.enabled), .fields = F_BAROSTAT, .parse = parse_barostat},
    {.name = "alchemical", .keys = K_ALCH, .flags = SCHEMA_NULLABLE,
     .mark_off = AT(alchemical.mark), .enabled_off = AT(alchemical.enabled),
     .fields = F_ALCHEMICAL, .parse = parse_alchemical},
    {.name = "solute_tempering", .keys = K_REST, .flags = SCHEMA_NULLABLE,
     .mark_off = AT(solute_tempering.mark), .enabled_off = AT(solute_tempering.enabled),
     .parse = parse_solute_tempering},
    {.name = "solute_tempering.temperatures", .keys = K_LADDER, .flags = SCHEMA_NESTED},
    {.name = "replica_exchange", .keys = K_REMD, .flags = SCHEMA_NULLABLE,
     .mark_off = AT(remd.mark), .enabled_off = AT(remd.enabled), .fields = F_REMD,
     .parse = parse_remd},
    {.name = "replica_exchange.temperatures", .keys = K_LADDER, .flags = SCHEMA_NESTED},
    {.name = "replica_exchange.lambdas", .keys = K_LAMBDAS, .flags = SCHEMA_NESTED},
    {.name = "output", .keys = K_OUT, .flags = SCHEMA_NULLABLE, .mark_off = AT(output.mark),
     .fields = F_OUTPUT, .parse = parse_output},
    {.name = "output.trajectory", .keys = K_FILE, .flags = SCHEMA_NESTED},
    {.name = "output.energies", .keys = K_FILE, .flags = SCHEMA_NESTED},
    {.name = "output.checkpoint", .keys = K_CKPT, .flags = SCHEMA_NESTED},
    {.name = "probes", .keys = K_PROBES, .flags = SCHEMA_NULLABLE, .mark_off = AT(probes_mark),
     .fields = F_PROBES},
};
#define NSECTIONS (sizeof SECTIONS / sizeof SECTIONS[0])

/* ---------------------------------------------------------------- keys that are not simple */

/* device: PLATFORM_SUBSTRING[:INDEX], the index (when present) a device number. */
static void parse_top(schema_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    yaml_node_t *v = schema_get(c, root, "device", NULL);
    if (!v || !schema_read_ok(c, "device")) return;
    const char *dev = d->device, *colon = strrchr(dev, ':');
    int ok = dev[0] != '\0';
    if (ok && colon) {
        char *end;
        errno = 0;
        long idx = strtol(colon + 1, &end, 10);
        ok = colon != dev && end != colon + 1 && *end == '\0' && errno == 0 && idx >= 0;
    }
    if (!ok) {
        schema_problem_add(c, v->start_mark, "device",
                           "expected auto, reference or PLATFORM_SUBSTRING[:INDEX] (e.g. pocl, "
                           "nvidia:0), got '%s'", dev);
        schema_set_str(d->device, sizeof d->device, "auto");
    }
}

static void parse_box(schema_ctx *c, yaml_node_t *sys)
{
    clmd_deck *d = c->d;
    yaml_mark_t m;
    yaml_node_t *v = schema_get(c, sys, "box", &m);
    if (!v) return;
    d->system.box_mark = schema_mark(m);
    if (schema_is_null(v)) return;
    int n = schema_list_len(v);
    if (n != 3) {
        char buf[128];
        if (n >= 0) snprintf(buf, sizeof buf, "a list of %d", n);
        schema_problem_add(c, v->start_mark, "system.box",
                           "expected a list of three edge lengths [x, y, z] in nm, got %s",
                           n < 0 ? schema_describe(v, buf, sizeof buf) : buf);
        return;
    }
    double box[3];
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        yaml_node_t *e = schema_list_item(c, v, i);
        char path[64];
        snprintf(path, sizeof path, "system.box[%d]", i);
        if (!schema_number(c, e, path, 0, &box[i]) ||
            !schema_in_range(c, e, path, SCHEMA_R(SCHEMA_GT(0)), box[i]))
            ok = 0;
    }
    if (!ok) return;
    d->system.has_box = 1;
    memcpy(d->system.box, box, sizeof box);
}

static int has_suffix_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && schema_streq_ci(s + ls - lx, suffix);
}

/* Exactly one source (builtin, amber, coordinates); the force field it needs; the box. */
static void parse_system(schema_ctx *c, yaml_node_t *sys)
{
    clmd_deck *d = c->d;
    static const char *const sources[] = {"builtin", "amber", "coordinates"};
    yaml_mark_t first_mark = {0, 0, 0};
    int nsrc = 0, kind = -1;
    for (int i = 0; i < 3; i++) {
        yaml_mark_t m;
        if (!schema_get(c, sys, sources[i], &m)) continue;
        if (nsrc == 0) {
            first_mark = m;
            kind = i;
            d->system.source_mark = schema_mark(m);
        } else {
            char path[64];
            schema_join(path, sizeof path, "system", sources[i]);
            schema_problem_add(c, m, path,
                               "more than one system source (%s is given at %d:%d); give "
                               "exactly one of builtin, amber, coordinates",
                               sources[kind], (int)first_mark.line + 1,
                               (int)first_mark.column + 1);
        }
        nsrc++;
    }
    if (nsrc == 0)
        schema_problem_add(c, sys->start_mark, "system",
                           "no system source: give exactly one of builtin, amber, coordinates");

    yaml_mark_t am;
    yaml_node_t *amber = schema_get(c, sys, "amber", &am);
    if (amber) schema_read_section(c, schema_section_named(c, "system.amber"), amber, am);

    if (d->system.coordinates[0]) {
        const char *p = d->system.coordinates;
        if (!has_suffix_ci(p, ".pdb") && !has_suffix_ci(p, ".ent") && !has_suffix_ci(p, ".xyz"))
            schema_problem_add(c, schema_get(c, sys, "coordinates", NULL)->start_mark,
                               "system.coordinates",
                               "the format is taken from the file name: expected a .pdb, .ent "
                               "or .xyz file, got '%s'", p);
    }
    yaml_mark_t fm;
    yaml_node_t *ff = schema_get(c, sys, "forcefield", &fm);
    int ff_null = ff && schema_is_null(ff);
    if (kind == CLMD_SRC_AMBER && ff && !ff_null)
        schema_problem_add(c, fm, "system.forcefield",
                           "not used with an amber source: the prmtop holds the parameters");
    if (kind == CLMD_SRC_COORDS && (!ff || ff_null))
        schema_missing(c, ff_null ? ff : sys, "system", "forcefield",
                       "a coordinates source needs a force-field file for its parameters");
    parse_box(c, sys);

    /* Keep only what the source uses, so that equal systems give equal decks. */
    if (kind >= 0) d->system.kind = (clmd_source_kind)kind;
    int builtin = d->system.kind == CLMD_SRC_BUILTIN;
    if (!(builtin && d->system.builtin == CLMD_BUILTIN_LJ_FCC)) {
        d->system.cells = DEFAULT_CELLS;
        d->system.reduced_density = DEFAULT_REDUCED_DENSITY;
    }
    if (!(builtin && d->system.builtin == CLMD_BUILTIN_WATER_BOX)) {
        schema_set_str(d->system.model, sizeof d->system.model, DEFAULT_WATER_MODEL);
        d->system.edge_nm = DEFAULT_WATER_EDGE;
    }
    if (d->system.kind != CLMD_SRC_AMBER) {
        memset(d->system.prmtop, 0, sizeof d->system.prmtop);
        memset(d->system.inpcrd, 0, sizeof d->system.inpcrd);
    }
}

/* neighbor_tolerance when it is a number (parse_nonbonded reads "auto" and null). */
static const schema_field F_TOL = {FIELD("neighbor_tolerance", SCHEMA_NUM, nonbonded.list_tolerance),
                                   .range = SCHEMA_GT(0)};

/* neighbor_steps when it is a number (parse_nonbonded reads "auto"). */
static const schema_field F_STEPS = {FIELD("neighbor_steps", SCHEMA_INT, nonbonded.list_steps),
                                     .range = SCHEMA_CLOSED(2, 100000)};

/* neighbor_skin and neighbor_steps (a number or auto) and pme_grid (null or three sizes). */
static void parse_nonbonded(schema_ctx *c, yaml_node_t *nb)
{
    clmd_deck *d = c->d;
    /* a number fixes the buffer; "auto" (the default) lets the engine tune it from 0.1 nm */
    yaml_node_t *sk = schema_get(c, nb, "neighbor_skin", NULL);
    if (sk && sk->type == YAML_SCALAR_NODE && schema_streq_ci(schema_sval(sk), "auto"))
        d->nonbonded.skin_auto = 1;
    else if (schema_read_field(c, nb, "nonbonded", &F_SKIN, d) == SCHEMA_GOOD)
        d->nonbonded.skin_auto = 0;
    yaml_node_t *nt = schema_get(c, nb, "neighbor_tolerance", NULL);
    if (nt && schema_is_null(nt))
        d->nonbonded.list_tolerance = 0;
    else if (nt && nt->type == YAML_SCALAR_NODE && schema_streq_ci(schema_sval(nt), "auto"))
        d->nonbonded.list_tolerance = -1;
    else if (nt)
        schema_read_field(c, nb, "nonbonded", &F_TOL, d);
    yaml_node_t *ns = schema_get(c, nb, "neighbor_steps", NULL);
    if (ns && ns->type == YAML_SCALAR_NODE && schema_streq_ci(schema_sval(ns), "auto"))
        d->nonbonded.list_steps = 0;
    else if (ns)
        schema_read_field(c, nb, "nonbonded", &F_STEPS, d);

    yaml_node_t *g = schema_get(c, nb, "pme_grid", NULL);
    if (!g || schema_is_null(g)) return;
    int n = schema_list_len(g);
    if (n != 3) {
        char buf[128];
        if (n >= 0) snprintf(buf, sizeof buf, "a list of %d", n);
        schema_problem_add(c, g->start_mark, "nonbonded.pme_grid",
                           "expected null or a list of three grid sizes [nx, ny, nz], got %s",
                           n < 0 ? schema_describe(g, buf, sizeof buf) : buf);
        schema_note_bad(c, "nonbonded.pme_grid");
        return;
    }
    int grid[3], ok = 1;
    for (int i = 0; i < 3; i++) {
        yaml_node_t *e = schema_list_item(c, g, i);
        char path[64];
        long x = 0;
        snprintf(path, sizeof path, "nonbonded.pme_grid[%d]", i);
        if (!schema_integer(c, e, path, &x) ||
            !schema_in_range(c, e, path, SCHEMA_R(SCHEMA_CLOSED(1, 65536)), (double)x))
            ok = 0;
        grid[i] = (int)x;
    }
    if (ok)
        memcpy(d->nonbonded.pme_grid, grid, sizeof grid);
    else
        schema_note_bad(c, "nonbonded.pme_grid");
}

/* A mapping without a temperature draws at the integrator's (filled in after all sections). */
static void parse_velocities(schema_ctx *c, yaml_node_t *v)
{
    if (!schema_get(c, v, "temperature", NULL)) c->d->velocities.temperature = -1;
}

/* velocities: from_input */
static void velocities_word(schema_ctx *c, yaml_node_t *v)
{
    clmd_deck *d = c->d;
    if (schema_streq_ci(schema_sval(v), "from_input")) {
        d->velocities.given = 1;
        d->velocities.from_input = 1;
        return;
    }
    char buf[128];
    const char *near = schema_closest(schema_sval(v), (const char *const[]){"from_input", NULL});
    schema_problem_add(c, v->start_mark, "velocities",
                       "expected a mapping {temperature, seed} or from_input, got %s%s",
                       schema_describe(v, buf, sizeof buf),
                       near ? " (did you mean 'from_input'?)" : "");
}

/* pressure: one number (bar), or for anisotropic also [px, py, pz]. */
static void parse_barostat(schema_ctx *c, yaml_node_t *b)
{
    clmd_deck *d = c->d;
    const char *P = "barostat.pressure";
    yaml_node_t *v = schema_get(c, b, "pressure", NULL);
    if (!v) return;
    double p[3];
    int n = schema_list_len(v);
    if (n < 0) {
        if (!schema_number(c, v, P, 0, &p[0])) return;
        d->barostat.pressure_bar[0] = d->barostat.pressure_bar[1] =
            d->barostat.pressure_bar[2] = p[0];
        return;
    }
    if (!d->barostat.anisotropic) {
        if (schema_read_ok(c, "barostat.type"))
            schema_problem_add(c, v->start_mark, P,
                               "a list of pressures [px, py, pz] needs type: anisotropic; an "
                               "isotropic barostat takes one number (bar)");
        return;
    }
    if (n != 3) {
        schema_problem_add(c, v->start_mark, P,
                           "expected a number or a list of three pressures [px, py, pz] in "
                           "bar, got a list of %d", n);
        return;
    }
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s[%d]", P, i);
        if (!schema_number(c, schema_list_item(c, v, i), path, 0, &p[i])) ok = 0;
    }
    if (ok) memcpy(d->barostat.pressure_bar, p, sizeof p);
}

/* A temperature ladder at P: an ascending list, or a geometric ladder {min, max, count}; *n is
 * set only when every value is good. */
static void parse_ladder(schema_ctx *c, yaml_node_t *t, const char *P, double *temps, int *ntemps)
{
    int n = schema_list_len(t);
    if (n >= 0) {
        if (n < 2 || n > CLMD_MAX_REPLICAS) {
            schema_problem_add(c, t->start_mark, P, "needs 2 to %d temperatures, got %d",
                               CLMD_MAX_REPLICAS, n);
            return;
        }
        int ok = 1;
        double prev = 0;
        for (int i = 0; i < n; i++) {
            yaml_node_t *e = schema_list_item(c, t, i);
            char path[96];
            double x;
            snprintf(path, sizeof path, "%s[%d]", P, i);
            if (!schema_number(c, e, path, 0, &x) ||
                !schema_in_range(c, e, path, SCHEMA_R(SCHEMA_GT(0)), x)) {
                ok = 0;
                continue;
            }
            if (i > 0 && ok && !(x > prev)) {
                schema_problem_add(c, e->start_mark, path,
                                   "temperatures must be strictly ascending (%s after %g)",
                                   schema_sval(e), prev);
                ok = 0;
            }
            prev = x;
            temps[i] = x;
        }
        if (ok) *ntemps = n;
        return;
    }
    if (t->type != YAML_MAPPING_NODE) {
        char buf[128];
        schema_problem_add(c, t->start_mark, P,
                           "expected {min, max, count} or an ascending list of temperatures, "
                           "got %s", schema_describe(t, buf, sizeof buf));
        return;
    }
    if (!schema_check_map(c, t, P, K_LADDER)) return;
    ladder l = {0, 0, 0};
    int good = 0;
    for (const schema_field *f = F_LADDER; f->key; f++)
        good += schema_read_field(c, t, P, f, &l) == SCHEMA_GOOD;
    if (good != 3) return;
    if (!(l.max > l.min)) {
        char path[96];
        schema_join(path, sizeof path, P, "max");
        schema_problem_add(c, schema_get(c, t, "max", NULL)->start_mark, path,
                           "must be greater than min (%g)", l.min);
        return;
    }
    /* Geometric spacing gives roughly equal exchange rates when the heat capacity is flat. */
    for (int i = 0; i < l.count; i++)
        temps[i] = l.min * pow(l.max / l.min, (double)i / (l.count - 1));
    temps[0] = l.min;
    temps[l.count - 1] = l.max;
    *ntemps = l.count;
}

/* One item of an atoms list: a 0-based index (5, or "5"), or an inclusive range "a-b", a <= b.
 * Whole numbers in other spellings (1e2, 4.0) are indices too, as for any integer key. */
static int parse_atom_item(schema_ctx *c, yaml_node_t *e, const char *path, int range[2])
{
    char buf[128];
    const char *s = e->type == YAML_SCALAR_NODE && !schema_is_null(e) ? schema_sval(e) : NULL;
    if (s && isdigit((unsigned char)s[0])) {
        char *end;
        errno = 0;
        long a = strtol(s, &end, 10), b = a;
        if (*end == '-' && isdigit((unsigned char)end[1])) b = strtol(end + 1, &end, 10);
        if (*end == '\0') {
            if (errno != 0 || a > INT_MAX || b > INT_MAX) {
                schema_problem_add(c, e->start_mark, path, "too large (got %s)", s);
                return 0;
            }
            if (a > b) {
                schema_problem_add(c, e->start_mark, path,
                                   "a range \"a-b\" needs a <= b (got %s)", s);
                return 0;
            }
            range[0] = (int)a;
            range[1] = (int)b;
            return 1;
        }
    }
    if (s) {
        char *end;
        double x = strtod(s, &end);
        /* no hexadecimal (strtod reads it), no blanks before */
        if (end != s && *end == '\0' && isfinite(x) && !isspace((unsigned char)s[0]) &&
            !strpbrk(s, "xX")) {
            if (x < 0) {
                schema_problem_add(c, e->start_mark, path,
                                   "particle indices are 0-based: must be >= 0 (got %s)", s);
                return 0;
            }
            if (x != floor(x)) {
                schema_problem_add(c, e->start_mark, path, "expected a whole number, got %s", s);
                return 0;
            }
            if (x > INT_MAX) {
                schema_problem_add(c, e->start_mark, path, "too large (got %s)", s);
                return 0;
            }
            range[0] = range[1] = (int)x;
            return 1;
        }
    }
    schema_problem_add(c, e->start_mark, path,
                       "expected a particle index (0-based) or a range \"a-b\", got %s",
                       schema_describe(e, buf, sizeof buf));
    return 0;
}

/* One item of a residues list: a name as the system spells it, 1 to 7 characters, no blanks. */
static int parse_residue_item(schema_ctx *c, yaml_node_t *e, const char *path, char name[8])
{
    char buf[128];
    if (e->type != YAML_SCALAR_NODE || schema_is_null(e)) {
        schema_problem_add(c, e->start_mark, path, "expected a residue name, got %s",
                           schema_describe(e, buf, sizeof buf));
        return 0;
    }
    const char *s = schema_sval(e);
    size_t len = e->data.scalar.length;
    if (len == 0 || len > 7) {
        schema_problem_add(c, e->start_mark, path,
                           "a residue name has 1 to 7 characters, got %s",
                           schema_describe(e, buf, sizeof buf));
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]) || s[i] == '\0') {
            schema_problem_add(c, e->start_mark, path,
                               "a residue name has no blanks, got %s",
                               schema_describe(e, buf, sizeof buf));
            return 0;
        }
    schema_set_str(name, 8, s);
    return 1;
}

/* The particles of a section: exactly one of atoms: [0, "5-9", ...] and residues: [LIG, ...],
 * a list of 1 to CLMD_MAX_SELECTION items. Each list item is kept as written (one range per
 * item, in order), so that messages of later stages can name it by its index. */
static void parse_selection(schema_ctx *c, yaml_node_t *map, const char *section,
                            clmd_deck_selection *sel)
{
    yaml_mark_t am, rm;
    yaml_node_t *a = schema_get(c, map, "atoms", &am), *r = schema_get(c, map, "residues", &rm);
    char path[96];
    if (!a && !r) {
        schema_problem_add(c, map->start_mark, section,
                           "no particles selected: give exactly one of atoms: [indices or "
                           "\"a-b\" ranges] or residues: [names]");
        return;
    }
    if (a && r) {
        int r_first = rm.index < am.index;
        schema_join(path, sizeof path, section, r_first ? "atoms" : "residues");
        yaml_mark_t first = r_first ? rm : am;
        schema_problem_add(c, r_first ? am : rm, path,
                           "give exactly one of atoms or residues (%s is given at %d:%d)",
                           r_first ? "residues" : "atoms", (int)first.line + 1,
                           (int)first.column + 1);
        return;
    }
    yaml_node_t *v = a ? a : r;
    const char *what = a ? "atoms" : "residues";
    schema_join(path, sizeof path, section, what);
    int n = schema_list_len(v);
    if (n < 0) {
        char buf[128];
        schema_problem_add(c, v->start_mark, path,
                           a ? "expected a list of particle indices and \"a-b\" ranges, got %s"
                             : "expected a list of residue names, got %s",
                           schema_describe(v, buf, sizeof buf));
        return;
    }
    if (n == 0 || n > CLMD_MAX_SELECTION) {
        schema_problem_add(c, v->start_mark, path, "needs 1 to %d items, got %d%s",
                           CLMD_MAX_SELECTION, n,
                           n && a ? " (write runs of indices as ranges \"a-b\")" : "");
        return;
    }
    clmd_deck_selection s;
    memset(&s, 0, sizeof s);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        char item[112];
        snprintf(item, sizeof item, "%s[%d]", path, i);
        yaml_node_t *e = schema_list_item(c, v, i);
        if (a)
            ok &= parse_atom_item(c, e, item, s.range[i]);
        else
            ok &= parse_residue_item(c, e, item, s.residue[i]);
    }
    if (!ok) return;
    if (a)
        s.nranges = n;
    else
        s.nresidues = n;
    s.mark = schema_mark(a ? am : rm);
    schema_set_str(s.key, sizeof s.key, path);
    *sel = s;
}

static void parse_alchemical(schema_ctx *c, yaml_node_t *a)
{
    parse_selection(c, a, "alchemical", &c->d->alchemical.region);
}

/* REST2: the solute and its ladder (the rules that involve other sections: cross_checks). */
static void parse_solute_tempering(schema_ctx *c, yaml_node_t *s)
{
    clmd_deck *d = c->d;
    parse_selection(c, s, "solute_tempering", &d->solute_tempering.solute);
    yaml_node_t *t = schema_get(c, s, "temperatures", NULL);
    if (!t)
        schema_missing(c, s, "solute_tempering", "temperatures",
                       "the solute's temperatures, {min, max, count} or an ascending list "
                       "starting at integrator.temperature");
    else
        parse_ladder(c, t, "solute_tempering.temperatures", d->solute_tempering.temps,
                     &d->solute_tempering.ntemps);
}

/* One list of a lambda ladder (replica_exchange.lambdas.KEY); its length, or -1. */
static int parse_lambda_list(schema_ctx *c, yaml_node_t *map, const char *key, double *out)
{
    const char *P = "replica_exchange.lambdas";
    char path[96];
    schema_join(path, sizeof path, P, key);
    yaml_node_t *v = schema_get(c, map, key, NULL);
    if (!v) {
        schema_missing(c, map, P, key, "a list of values in [0, 1], one per state");
        return -1;
    }
    int n = schema_list_len(v);
    if (n < 0) {
        char buf[128];
        schema_problem_add(c, v->start_mark, path,
                           "expected a list of values in [0, 1], one per state, got %s",
                           schema_describe(v, buf, sizeof buf));
        return -1;
    }
    if (n < 2 || n > CLMD_MAX_REPLICAS) {
        schema_problem_add(c, v->start_mark, path, "needs 2 to %d values, got %d",
                           CLMD_MAX_REPLICAS, n);
        return -1;
    }
    int ok = 1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *e = schema_list_item(c, v, i);
        char item[112];
        snprintf(item, sizeof item, "%s[%d]", path, i);
        if (!schema_number(c, e, item, 0, &out[i]) ||
            !schema_in_range(c, e, item, SCHEMA_R(SCHEMA_CLOSED(0, 1)), out[i]))
            ok = 0;
    }
    return ok ? n : -1;
}

/* lambdas: {sterics: [...], electrostatics: [...]}: state i is (sterics[i], electrostatics[i]). */
static void parse_lambdas(schema_ctx *c, yaml_node_t *l)
{
    clmd_deck *d = c->d;
    const char *P = "replica_exchange.lambdas";
    if (l->type != YAML_MAPPING_NODE) {
        char buf[128];
        schema_problem_add(c, l->start_mark, P,
                           "expected a mapping {sterics: [...], electrostatics: [...]}, got %s",
                           schema_describe(l, buf, sizeof buf));
        return;
    }
    if (!schema_check_map(c, l, P, K_LAMBDAS)) return;
    double st[CLMD_MAX_REPLICAS], el[CLMD_MAX_REPLICAS];
    int ns = parse_lambda_list(c, l, "sterics", st);
    int ne = parse_lambda_list(c, l, "electrostatics", el);
    if (ns < 0 || ne < 0) return;
    if (ns != ne) {
        schema_problem_add(c, schema_get(c, l, "electrostatics", NULL)->start_mark,
                           "replica_exchange.lambdas.electrostatics",
                           "has %d values and sterics %d: one state per index, so the two "
                           "lists must be equally long", ne, ns);
        return;
    }
    memcpy(d->remd.lambda_sterics, st, sizeof(double) * (size_t)ns);
    memcpy(d->remd.lambda_electrostatics, el, sizeof(double) * (size_t)ns);
    d->remd.nlambdas = ns;
}

/* The ladder: temperatures or lambdas here, or a solute_tempering section (checked with the
 * other sections in cross_checks). */
static void parse_remd(schema_ctx *c, yaml_node_t *r)
{
    clmd_deck *d = c->d;
    yaml_mark_t tm, lm;
    yaml_node_t *t = schema_get(c, r, "temperatures", &tm);
    yaml_node_t *l = schema_get(c, r, "lambdas", &lm);
    if (t) parse_ladder(c, t, "replica_exchange.temperatures", d->remd.temps, &d->remd.ntemps);
    if (l) parse_lambdas(c, l);
    if (t && l) {
        int l_first = lm.index < tm.index;
        yaml_mark_t first = l_first ? lm : tm;
        schema_problem_add(c, l_first ? tm : lm,
                           l_first ? "replica_exchange.temperatures" : "replica_exchange.lambdas",
                           "give exactly one of temperatures, lambdas or a solute_tempering "
                           "section as the ladder (%s is given at %d:%d)",
                           l_first ? "lambdas" : "temperatures", (int)first.line + 1,
                           (int)first.column + 1);
    }
}

/* One output stream: absent keeps the default, null turns it off, {file, interval} sets it;
 * interval 0 also turns it off. */
static void parse_stream(schema_ctx *c, yaml_node_t *out, const char *key, const char *def_file,
                         long def_interval, char *file, size_t n, long *interval)
{
    char P[64];
    schema_join(P, sizeof P, "output", key);
    yaml_node_t *v = schema_get(c, out, key, NULL);
    if (!v) return;
    if (schema_is_null(v)) {
        memset(file, 0, n);
        *interval = 0;
        return;
    }
    if (v->type != YAML_MAPPING_NODE) {
        char buf[128];
        schema_problem_add(c, v->start_mark, P,
                           "expected null or a mapping {file, interval}, got %s",
                           schema_describe(v, buf, sizeof buf));
        return;
    }
    if (!schema_check_map(c, v, P, K_FILE)) return;
    stream s;
    schema_set_str(s.file, sizeof s.file, def_file);
    s.interval = def_interval;
    int sf = schema_read_field(c, v, P, &F_STREAM[0], &s);
    if (sf == SCHEMA_GOOD && !s.file[0]) {
        schema_problem_add(c, schema_get(c, v, "file", NULL)->start_mark, P,
                           "the file name is empty");
        sf = SCHEMA_BAD;
    }
    int si = schema_read_field(c, v, P, &F_STREAM[1], &s);
    if (sf == SCHEMA_BAD || si == SCHEMA_BAD) return;
    if (s.interval == 0) {
        memset(file, 0, n);
        *interval = 0;
        return;
    }
    schema_set_str(file, n, s.file);
    *interval = s.interval;
}

/* The checkpoint: absent keeps the default (state.chk every 15 minutes of wall time), null turns
 * it off, {file, interval, wall_minutes} sets it (both intervals 0: at the end only). */
static void parse_checkpoint(schema_ctx *c, yaml_node_t *out)
{
    clmd_deck *d = c->d;
    const char *P = "output.checkpoint";
    yaml_node_t *v = schema_get(c, out, "checkpoint", NULL);
    if (!v) return;
    if (schema_is_null(v)) {
        memset(d->output.checkpoint, 0, sizeof d->output.checkpoint);
        d->output.checkpoint_interval = 0;
        d->output.checkpoint_wall_minutes = 0;
        return;
    }
    if (v->type != YAML_MAPPING_NODE) {
        char buf[128];
        schema_problem_add(c, v->start_mark, P,
                           "expected null or a mapping {file, interval, wall_minutes}, got %s",
                           schema_describe(v, buf, sizeof buf));
        return;
    }
    if (!schema_check_map(c, v, P, K_CKPT)) return;
    ckpt_stream s;
    schema_set_str(s.file, sizeof s.file, d->output.checkpoint[0] ? d->output.checkpoint : "state.chk");
    s.interval = 0;
    s.wall_minutes = 15;
    int bad = 0;
    for (int k = 0; k < 3; k++) bad |= schema_read_field(c, v, P, &F_CKPT[k], &s) == SCHEMA_BAD;
    if (!bad && !s.file[0]) {
        schema_problem_add(c, schema_get(c, v, "file", NULL)->start_mark, P, "the file name is empty");
        bad = 1;
    }
    if (bad) return;
    schema_set_str(d->output.checkpoint, sizeof d->output.checkpoint, s.file);
    d->output.checkpoint_interval = s.interval;
    d->output.checkpoint_wall_minutes = s.wall_minutes;
}

static void parse_output(schema_ctx *c, yaml_node_t *o)
{
    clmd_deck *d = c->d;
    parse_stream(c, o, "trajectory", "traj.h5", 1000, d->output.trajectory,
                 sizeof d->output.trajectory, &d->output.trajectory_interval);
    parse_stream(c, o, "energies", "energies.csv", 100, d->output.energies,
                 sizeof d->output.energies, &d->output.energies_interval);
    parse_checkpoint(c, o);
}

/* ---------------------------------------------------------------- rules across sections */

/* Who gives a replica-exchange ladder (exactly one of replica_exchange.temperatures,
 * replica_exchange.lambdas and a solute_tempering section), what each needs, and REST2's first
 * temperature. */
static void ladder_checks(schema_ctx *c)
{
    clmd_deck *d = c->d;
    yaml_node_t *r = schema_find(c, "replica_exchange");
    const int remd = d->remd.enabled, rest = d->solute_tempering.enabled;
    yaml_mark_t tm = {0, 0, 0}, lm = {0, 0, 0};
    yaml_node_t *t = remd ? schema_get(c, r, "temperatures", &tm) : NULL;
    yaml_node_t *l = remd ? schema_get(c, r, "lambdas", &lm) : NULL;
    const clmd_mark rest_at = d->solute_tempering.mark;
    if (remd && !t && !l && !rest)
        schema_missing(c, r, "replica_exchange", "temperatures",
                       "a campaign needs a ladder: give exactly one of temperatures "
                       "({min, max, count} or an ascending list), lambdas, or a "
                       "solute_tempering section");
    if (rest && (t || l))
        schema_problem_add(c, t ? tm : lm,
                           t ? "replica_exchange.temperatures" : "replica_exchange.lambdas",
                           "the ladder is given by solute_tempering (at %d:%d): give exactly "
                           "one of temperatures, lambdas or a solute_tempering section",
                           rest_at.line, rest_at.column);
    if (rest && (!r || schema_is_null(r)))
        schema_problem_at(c, rest_at, "solute_tempering",
                          "needs replica_exchange: a REST2 ladder is run as a replica-exchange "
                          "campaign (replica_exchange: {...} without temperatures or lambdas; "
                          "the ladder is solute_tempering.temperatures)");
    if (l && !d->alchemical.enabled)
        schema_problem_add(c, lm, "replica_exchange.lambdas",
                           "a lambda ladder needs the alchemical section (the region whose "
                           "coupling the lambdas scale)");
    if (rest && d->alchemical.enabled)
        schema_problem_at(c, rest_at, "solute_tempering",
                          "solute_tempering and alchemical (given at %d:%d) cannot be used "
                          "together: give one of them",
                          d->alchemical.mark.line, d->alchemical.mark.column);
    /* REST2 scales only the solute's interactions: every replica runs at the physical
     * temperature, which is the ladder's first (unscaled) state. */
    const double T = d->integrator.temperature;
    if (rest && d->solute_tempering.ntemps > 0 && schema_read_ok(c, "integrator.temperature") &&
        d->solute_tempering.temps[0] != T) {
        yaml_node_t *v = schema_find(c, "solute_tempering.temperatures");
        int list = schema_list_len(v) >= 0;
        yaml_node_t *at = list ? schema_list_item(c, v, 0) : schema_get(c, v, "min", NULL);
        schema_problem_add(c, at->start_mark,
                           list ? "solute_tempering.temperatures[0]"
                                : "solute_tempering.temperatures.min",
                           "the first temperature (%g K) must equal integrator.temperature "
                           "(%g K): it is the physical temperature of every replica, the "
                           "others the solute's effective ones",
                           d->solute_tempering.temps[0], T);
    }
}

/* Each rule is checked only when the values involved were read without a problem. */
static void cross_checks(schema_ctx *c)
{
    clmd_deck *d = c->d;
    const double cutoff = d->nonbonded.cutoff_nm;
    const int cutoff_ok = schema_read_ok(c, "nonbonded.cutoff");
    const int method_ok = schema_read_ok(c, "nonbonded.method");
    if (d->nonbonded.switch_nm > 0 && cutoff_ok && !(d->nonbonded.switch_nm < cutoff))
        schema_problem_add(c, schema_find(c, "nonbonded.switch_distance")->start_mark,
                           "nonbonded.switch_distance", "must be less than the cutoff (%g nm)",
                           cutoff);
    if (d->nonbonded.pme_grid[0] > 0 && schema_read_ok(c, "nonbonded.pme_order")) {
        yaml_mark_t at = schema_find(c, "nonbonded.pme_grid")->start_mark;
        for (int i = 0; i < 3; i++)
            if (d->nonbonded.pme_grid[i] < d->nonbonded.pme_order) {
                char key[64];
                snprintf(key, sizeof key, "nonbonded.pme_grid[%d]", i);
                schema_problem_add(c, at, key,
                                   "each grid size must be at least pme_order (%d), got %d",
                                   d->nonbonded.pme_order, d->nonbonded.pme_grid[i]);
            }
    }
    if (d->implicit_solvent.model != CLMD_DECK_GB_NONE &&
        d->nonbonded.method == CLMD_DECK_NB_PME && method_ok)
        schema_problem_at(c, d->implicit_solvent_mark, "implicit_solvent",
                          "implicit solvent needs nonbonded.method nocutoff, cutoff or "
                          "reaction_field, not pme");
    if (d->remd.enabled && d->integrator.type == CLMD_INT_VERLET)
        schema_problem_at(c, d->remd.mark, "replica_exchange",
                          "replica exchange needs a thermostat: set integrator.type to langevin");
    ladder_checks(c);
    if (d->barostat.enabled && d->integrator.type == CLMD_INT_VERLET)
        schema_problem_at(c, d->barostat.mark, "barostat",
                          "NPT needs a thermostat: the barostat runs only with integrator.type "
                          "langevin (verlet is NVE)");
    if (d->barostat.enabled && d->nonbonded.method == CLMD_DECK_NB_NOCUTOFF && method_ok)
        schema_problem_at(c, d->barostat.mark, "barostat",
                          "needs a periodic box and a cutoff method (nonbonded.method cutoff, "
                          "reaction_field or pme), not nocutoff");
    if (d->velocities.from_input && d->system.source_mark.line && d->system.kind != CLMD_SRC_AMBER)
        schema_problem_at(c, d->velocities.mark, "velocities",
                          "from_input needs an amber source whose inpcrd holds velocities; a %s "
                          "has none",
                          d->system.kind == CLMD_SRC_BUILTIN ? "builtin system"
                                                             : "coordinates file");
    /* Minimum image: a periodic cutoff must fit in half the shortest box edge. */
    if (d->nonbonded.method != CLMD_DECK_NB_NOCUTOFF && cutoff_ok && method_ok) {
        double edge = 0;
        const char *what = NULL;
        if (d->system.has_box) {
            edge = fmin(d->system.box[0], fmin(d->system.box[1], d->system.box[2]));
            what = "system.box";
        } else if (d->system.kind == CLMD_SRC_BUILTIN &&
                   d->system.builtin == CLMD_BUILTIN_WATER_BOX && d->system.source_mark.line) {
            edge = d->system.edge_nm;
            what = "system.edge";
        }
        if (what && cutoff > 0.5 * edge) {
            clmd_mark at = d->cutoff_mark.line ? d->cutoff_mark
                           : d->system.has_box ? d->system.box_mark
                                               : d->system.source_mark;
            schema_problem_at(c, at, "nonbonded.cutoff",
                              "the cutoff (%g nm) exceeds half the shortest box edge (%s: %g nm)",
                              cutoff, what, edge);
        }
    }
}

/* ---------------------------------------------------------------- entry points */

void clmd_deck_defaults(clmd_deck *d)
{
    memset(d, 0, sizeof *d);
    d->system.kind = CLMD_SRC_BUILTIN;
    d->system.builtin = CLMD_BUILTIN_LJ_FCC;
    d->system.cells = DEFAULT_CELLS;
    d->system.reduced_density = DEFAULT_REDUCED_DENSITY;
    schema_set_str(d->system.model, sizeof d->system.model, DEFAULT_WATER_MODEL);
    d->system.edge_nm = DEFAULT_WATER_EDGE;
    d->nonbonded.method = CLMD_DECK_NB_CUTOFF;
    d->nonbonded.cutoff_nm = 1.0;
    d->nonbonded.switch_nm = -1.0;
    d->nonbonded.dispersion_correction = 1;
    d->nonbonded.rf_dielectric = 78.3;
    d->nonbonded.ewald_tolerance = 5e-4;
    d->nonbonded.ewald_alpha = 0.0;
    d->nonbonded.pme_order = 5;
    d->nonbonded.skin_nm = 0.1;
    d->nonbonded.skin_auto = 1;
    d->nonbonded.list_tolerance = -1;
    d->nonbonded.list_steps = 0;
    d->implicit_solvent.model = CLMD_DECK_GB_NONE;
    d->implicit_solvent.solvent_dielectric = 78.5;
    d->implicit_solvent.solute_dielectric = 1.0;
    d->implicit_solvent.surface_area = 1;
    d->implicit_solvent.sa_energy = 2.25936;
    d->implicit_solvent.probe_radius_nm = 0.14;
    d->constraints = CLMD_CONSTRAIN_NONE;
    d->constraint_tolerance = 1e-6;
    d->rigid_water = 1;
    d->minimize.max_steps = 1000;
    d->minimize.tolerance = 10.0;
    d->velocities.temperature = 300.0;
    d->velocities.seed = 1;
    d->integrator.type = CLMD_INT_LANGEVIN;
    d->integrator.timestep_ps = 0.002;
    d->integrator.temperature = 300.0;
    d->integrator.friction = 1.0;
    d->integrator.steps = 1000;
    d->integrator.seed = 1;
    d->integrator.remove_com_motion = 1;
    d->integrator.com_interval = 100;
    for (int i = 0; i < 3; i++) d->barostat.pressure_bar[i] = DEFAULT_PRESSURE_BAR;
    d->barostat.interval = 25;
    d->barostat.adapt = 1;
    d->barostat.seed = 13;
    d->remd.exchange_interval = 500;
    d->remd.exchanges = 100;
    d->remd.seed = 11;
    d->alchemical.lambda_sterics = 1.0;
    d->alchemical.lambda_electrostatics = 1.0;
    d->alchemical.softcore_alpha = 0.5;
    d->alchemical.annihilate_sterics = 0;
    schema_set_str(d->output.energies, sizeof d->output.energies, "energies.csv");
    d->output.energies_interval = 100;
    schema_set_str(d->output.checkpoint, sizeof d->output.checkpoint, "state.chk");
    d->output.checkpoint_wall_minutes = 15;
    schema_set_str(d->device, sizeof d->device, "auto");
}

/* Line and column (1-based) of a byte offset, for reader errors that carry only the offset. */
static void offset_to_mark(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void syntax_problem(schema_ctx *c, yaml_parser_t *p, const char *text)
{
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_to_mark(text, p->problem_offset, &line, &col);
        clmd_mark m = {line, col};
        schema_problem_at(c, m, NULL, "YAML syntax error: %s",
                          p->problem ? p->problem : "unreadable");
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        clmd_mark m = {1, 1};
        schema_problem_at(c, m, NULL, "YAML syntax error: out of memory");
        return;
    }
    if (p->context)
        schema_problem_add(c, p->problem_mark, NULL, "YAML syntax error: %s (%s at %d:%d)",
                           p->problem ? p->problem : "?", p->context, (int)p->context_mark.line + 1,
                           (int)p->context_mark.column + 1);
    else
        schema_problem_add(c, p->problem_mark, NULL, "YAML syntax error: %s",
                           p->problem ? p->problem : "?");
}

static void parse_document(schema_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    if (!root) {
        clmd_mark m = {1, 1};
        schema_problem_at(c, m, "system", "the deck is empty; the system key is required");
        return;
    }
    for (size_t i = 0; i < NSECTIONS; i++) {
        const schema_section *s = &SECTIONS[i];
        if (s->flags & SCHEMA_NESTED) continue;
        if (!s->name[0]) {
            if (!schema_read_section(c, s, root, root->start_mark)) return;
            continue;
        }
        yaml_mark_t km;
        yaml_node_t *v = schema_get(c, root, s->name, &km);
        if (v)
            schema_read_section(c, s, v, km);
        else if (s->flags & SCHEMA_REQUIRED)
            schema_missing(c, root, "", s->name, s->why);
    }
    if (d->velocities.temperature < 0 || !d->velocities.given || d->velocities.from_input)
        d->velocities.temperature = d->integrator.temperature;
    cross_checks(c);
}

static int parse_text(const char *text, size_t len, const char *name, const char *dir, clmd_deck *d,
                      clmd_err *err)
{
    clmd_deck_defaults(d);
    schema_set_str(d->path, sizeof d->path, name ? name : "(deck)");
    if (!schema_abs_dir(dir, d->dir, sizeof d->dir))
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot resolve the deck's folder '%s'", d->path,
                            dir ? dir : ".");
    if (!schema_resolve(d->dir, "out", d->output.directory, sizeof d->output.directory))
        return clmd_err_set(err, CLMD_EINPUT, "%s: the deck's folder path is too long", d->path);

    schema_ctx c = {0};
    c.name = d->path;
    c.dir = d->dir;
    c.d = d;
    c.sections = SECTIONS;
    c.nsections = NSECTIONS;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot start the YAML parser", d->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_problem(&c, &parser, text);
    } else {
        c.doc = &doc;
        parse_document(&c, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
        /* A second document would be silently ignored, so it is an error. */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            syntax_problem(&c, &parser, text);
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&more);
            if (r)
                schema_problem_add(&c, r->start_mark, NULL,
                        "a second YAML document; a deck is one document");
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&parser);
    int rc = schema_report(&c, err);
    schema_ctx_free(&c);
    return rc;
}

int clmd_deck_parse_string(const char *text, const char *name, const char *dir, clmd_deck *d,
                           clmd_err *err)
{
    return parse_text(text, strlen(text), name, dir, d, err);
}

int clmd_deck_load(const char *path, clmd_deck *d, clmd_err *err)
{
    clmd_deck_defaults(d);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: %s", path,
                            strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return clmd_err_set(err, CLMD_EINPUT, "%s: is a directory, not a deck file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: %s", path,
                            strerror(errno));
    size_t cap = 1 << 14, len = 0;
    char *buf = clmd_alloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            buf = clmd_realloc(buf, cap, 2 * cap);
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        clmd_free(buf);
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: I/O error", path);
    }
    buf[len] = '\0';
    /* The deck's folder: everything before the last slash ("." when there is none). */
    char dir[CLMD_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int rc = parse_text(buf, len, path, dir, d, err);
    clmd_free(buf);
    return rc;
}

/* ---------------------------------------------------------------- printing */

/* Shortest %g form that reads back to the same double. */
static void put_num(FILE *out, double x)
{
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

/* A double-quoted YAML string with the escapes YAML defines. */
static void put_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void put_path_or_null(FILE *out, const char *s)
{
    if (s[0])
        put_str(out, s);
    else
        fputs("null", out);
}

static void put_stream(FILE *out, const char *key, const char *file, long interval)
{
    fprintf(out, "  %s: ", key);
    if (!file[0]) {
        fputs("null\n", out);
        return;
    }
    fputs("{file: ", out);
    put_str(out, file);
    fprintf(out, ", interval: %ld}\n", interval);
}

/* "[a, b, ...]" of n numbers. */
static void put_nums(FILE *out, const double *x, int n)
{
    fputc('[', out);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        put_num(out, x[i]);
    }
    fputc(']', out);
}

/* "  atoms: [0, "5-9"]" or "  residues: ["LIG"]", one item per item read. */
static void put_selection(FILE *out, const clmd_deck_selection *s)
{
    if (s->nresidues > 0) {
        fputs("  residues: [", out);
        for (int i = 0; i < s->nresidues; i++) {
            if (i) fputs(", ", out);
            put_str(out, s->residue[i]);
        }
    } else {
        fputs("  atoms: [", out);
        for (int i = 0; i < s->nranges; i++) {
            if (i) fputs(", ", out);
            if (s->range[i][0] == s->range[i][1])
                fprintf(out, "%d", s->range[i][0]);
            else
                fprintf(out, "\"%d-%d\"", s->range[i][0], s->range[i][1]);
        }
    }
    fputs("]\n", out);
}

/* One simple field's value, as the parser reads it back. */
static void put_field(FILE *out, const schema_field *f, const void *base)
{
    const void *at = (const char *)base + f->off;
    switch (f->kind) {
    case SCHEMA_NUM: put_num(out, *(const double *)at); break;
    case SCHEMA_INT: fprintf(out, "%d", *(const int *)at); break;
    case SCHEMA_LONG: fprintf(out, "%ld", *(const long *)at); break;
    case SCHEMA_BOOL: fputs(*(const int *)at ? "true" : "false", out); break;
    case SCHEMA_SEED: fprintf(out, "%lu", *(const unsigned long *)at); break;
    case SCHEMA_ENUM: fputs(f->names[*(const int *)at - f->base], out); break;
    case SCHEMA_WORD: fputs(at, out); break;
    case SCHEMA_STR:
    case SCHEMA_PATH: put_str(out, at); break;
    }
}

/* "  key: value" for each field of a table. */
static void put_fields(FILE *out, const schema_field *fields, const void *base)
{
    for (const schema_field *f = fields; f->key; f++) {
        fprintf(out, "  %s: ", f->key);
        put_field(out, f, base);
        fputc('\n', out);
    }
}

void clmd_deck_print(const clmd_deck *d, FILE *out)
{
    const clmd_deck_nonbonded *o = &d->nonbonded;
    fputs("# clmd resolved deck: every key, defaults filled, paths resolved\n", out);
    fputs("title: ", out);
    put_str(out, d->title);
    fputs("\nsystem:\n", out);
    switch (d->system.kind) {
    case CLMD_SRC_BUILTIN:
        fprintf(out, "  builtin: %s\n", E_BUILTIN[d->system.builtin]);
        if (d->system.builtin == CLMD_BUILTIN_LJ_FCC) {
            fprintf(out, "  cells: %d\n  reduced_density: ", d->system.cells);
            put_num(out, d->system.reduced_density);
        } else {
            fprintf(out, "  model: %s\n  edge: ", d->system.model);
            put_num(out, d->system.edge_nm);
        }
        fputc('\n', out);
        break;
    case CLMD_SRC_AMBER:
        fputs("  amber:\n    prmtop: ", out);
        put_str(out, d->system.prmtop);
        fputs("\n    inpcrd: ", out);
        put_str(out, d->system.inpcrd);
        fputc('\n', out);
        break;
    case CLMD_SRC_COORDS:
        fputs("  coordinates: ", out);
        put_str(out, d->system.coordinates);
        fputc('\n', out);
        break;
    }
    if (d->system.kind != CLMD_SRC_AMBER) {
        fputs("  forcefield: ", out);
        put_path_or_null(out, d->system.forcefield);
        fputc('\n', out);
    }
    fputs("  box: ", out);
    if (d->system.has_box) {
        fputc('[', out);
        for (int i = 0; i < 3; i++) {
            if (i) fputs(", ", out);
            put_num(out, d->system.box[i]);
        }
        fputs("]\n", out);
    } else {
        fputs("null\n", out);
    }

    fprintf(out, "nonbonded:\n  method: %s\n  cutoff: ", E_METHOD[o->method]);
    put_num(out, o->cutoff_nm);
    fputs("\n  switch_distance: ", out);
    if (o->switch_nm > 0)
        put_num(out, o->switch_nm);
    else
        fputs("null", out);
    fprintf(out, "\n  dispersion_correction: %s\n  reaction_field_dielectric: ",
            o->dispersion_correction ? "true" : "false");
    put_num(out, o->rf_dielectric);
    fputs("\n  ewald_error_tolerance: ", out);
    put_num(out, o->ewald_tolerance);
    fputs("\n  ewald_alpha: ", out);
    if (o->ewald_alpha > 0)
        put_num(out, o->ewald_alpha);
    else
        fputs("null", out);
    if (o->pme_grid[0] > 0)
        fprintf(out, "\n  pme_grid: [%d, %d, %d]", o->pme_grid[0], o->pme_grid[1], o->pme_grid[2]);
    else
        fputs("\n  pme_grid: null", out);
    fprintf(out, "\n  pme_order: %d\n  neighbor_skin: ", o->pme_order);
    if (o->skin_auto) fputs("auto", out);
    else put_num(out, o->skin_nm);
    fputs("\n  neighbor_tolerance: ", out);
    if (o->list_tolerance > 0) put_num(out, o->list_tolerance);
    else fputs(o->list_tolerance < 0 ? "auto" : "null", out);
    fputs("\n  neighbor_steps: ", out);
    if (o->list_steps > 0) fprintf(out, "%d", o->list_steps);
    else fputs("auto", out);
    fputc('\n', out);

    if (d->implicit_solvent.model == CLMD_DECK_GB_NONE) {
        fputs("implicit_solvent: null\n", out);
    } else {
        fputs("implicit_solvent:\n", out);
        put_fields(out, F_IMPLICIT, d);
    }

    fprintf(out, "constraints: %s\nconstraint_tolerance: ", E_CONSTRAIN[d->constraints]);
    put_num(out, d->constraint_tolerance);
    fprintf(out, "\nrigid_water: %s\n", d->rigid_water ? "true" : "false");
    if (d->minimize.enabled) {
        fprintf(out, "minimize: {max_steps: %ld, tolerance: ", d->minimize.max_steps);
        put_num(out, d->minimize.tolerance);
        fputs("}\n", out);
    } else {
        fputs("minimize: null\n", out);
    }

    if (!d->velocities.given) {
        fputs("# velocities: not given: the input file's velocities if it has any, else drawn at "
              "the integrator temperature with seed 1\n",
              out);
    } else if (d->velocities.from_input) {
        fputs("velocities: from_input\n", out);
    } else {
        fputs("velocities: {temperature: ", out);
        put_num(out, d->velocities.temperature);
        fprintf(out, ", seed: %lu}\n", d->velocities.seed);
    }

    fputs("integrator:\n", out);
    put_fields(out, F_INTEGRATOR, d);

    if (!d->barostat.enabled) {
        fputs("barostat: null\n", out);
    } else {
        fputs("barostat:\n", out);
        put_fields(out, F_BAROSTAT, d);
        fputs("  pressure: ", out);
        const double *p = d->barostat.pressure_bar;
        if (d->barostat.anisotropic) {
            fputc('[', out);
            for (int i = 0; i < 3; i++) {
                if (i) fputs(", ", out);
                put_num(out, p[i]);
            }
            fputc(']', out);
        } else {
            put_num(out, p[0]);
        }
        fputc('\n', out);
    }

    /* (an empty selection: only a struct filled by hand, which no deck gives) */
    const clmd_deck_selection *region = &d->alchemical.region, *solute = &d->solute_tempering.solute;
    if (!d->alchemical.enabled || region->nranges + region->nresidues == 0) {
        fputs("alchemical: null\n", out);
    } else {
        fputs("alchemical:\n", out);
        put_selection(out, region);
        put_fields(out, F_ALCHEMICAL, d);
    }

    const int rest = d->solute_tempering.enabled && d->solute_tempering.ntemps > 0 &&
                     solute->nranges + solute->nresidues > 0;
    if (!rest) {
        fputs("solute_tempering: null\n", out);
    } else {
        fputs("solute_tempering:\n", out);
        put_selection(out, solute);
        fputs("  temperatures: ", out);
        put_nums(out, d->solute_tempering.temps, d->solute_tempering.ntemps);
        fputc('\n', out);
    }

    /* A campaign without a ladder is only a struct filled by hand: nothing to run. */
    if (!d->remd.enabled || (d->remd.ntemps == 0 && d->remd.nlambdas == 0 && !rest)) {
        fputs("replica_exchange: null\n", out);
    } else {
        fputs("replica_exchange:\n", out);
        if (d->remd.ntemps > 0) {
            fputs("  temperatures: ", out);
            put_nums(out, d->remd.temps, d->remd.ntemps);
            fputc('\n', out);
        } else if (d->remd.nlambdas > 0) {
            fputs("  lambdas:\n    sterics: ", out);
            put_nums(out, d->remd.lambda_sterics, d->remd.nlambdas);
            fputs("\n    electrostatics: ", out);
            put_nums(out, d->remd.lambda_electrostatics, d->remd.nlambdas);
            fputc('\n', out);
        } else {
            fputs("  # the ladder: solute_tempering.temperatures\n", out);
        }
        fprintf(out, "  exchange_interval: %ld\n  exchanges: %ld\n  seed: %lu\n"
                "  scheme: %s\n  velocities: %s\n  replicas_per_device: %d\n",
                d->remd.exchange_interval, d->remd.exchanges, d->remd.seed,
                E_REMD_SCHEME[d->remd.scheme], E_REMD_VELOCITIES[d->remd.resample_velocities],
                d->remd.replicas_per_device);
    }

    fputs("output:\n  directory: ", out);
    put_str(out, d->output.directory);
    fputc('\n', out);
    put_stream(out, "trajectory", d->output.trajectory, d->output.trajectory_interval);
    put_stream(out, "energies", d->output.energies, d->output.energies_interval);
    if (!d->output.checkpoint[0]) {
        fputs("  checkpoint: null\n", out);
    } else {
        fputs("  checkpoint: {file: ", out);
        put_str(out, d->output.checkpoint);
        fprintf(out, ", interval: %ld, wall_minutes: ", d->output.checkpoint_interval);
        put_num(out, d->output.checkpoint_wall_minutes);
        fputs("}\n", out);
    }
    fprintf(out, "  overwrite: %s\n", d->output.overwrite ? "true" : "false");

    fputs("device: ", out);
    put_str(out, d->device);
    fputs("\nprobes: ", out);
    if (d->probes_json[0]) {
        fputs("{json: ", out);
        put_str(out, d->probes_json);
        fputs("}\n", out);
    } else {
        fputs("null\n", out);
    }
}
