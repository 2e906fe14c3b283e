/* The input deck: a YAML file (libyaml) parsed into a plain struct with defaults filled first,
 * then validated in one pass that reports problems with file:line:column and the key
 * (unknown keys get the closest known key as a suggestion). The contract is
 * ../shared/INPUT.md; docs/input.md documents every key accepted here.
 *
 * Paths in the deck are resolved against the deck's own folder and stored resolved.
 * The struct owns no heap memory: it can be copied and needs no destroy. */
#ifndef CLMD_INPUT_DECK_H
#define CLMD_INPUT_DECK_H

#include <stdio.h>

#include "core/err.h"

#define CLMD_PATH_MAX 4096
#define CLMD_MAX_REPLICAS 256

/* system.cells: the largest lj_fcc the loader builds (run/load.c checks that the two agree with
 * CLMD_LJ_FCC_MAX_CELLS of system/builtin.h, which says why this many). */
#define CLMD_DECK_MAX_CELLS 200

typedef enum { CLMD_SRC_BUILTIN = 0, CLMD_SRC_AMBER, CLMD_SRC_COORDS } clmd_source_kind;
typedef enum { CLMD_BUILTIN_LJ_FCC = 0, CLMD_BUILTIN_WATER_BOX } clmd_builtin_kind;
typedef enum { CLMD_CONSTRAIN_NONE = 0, CLMD_CONSTRAIN_HBONDS, CLMD_CONSTRAIN_ALLBONDS } clmd_constrain_kind;
typedef enum { CLMD_INT_LANGEVIN = 0, CLMD_INT_VERLET } clmd_integrator_kind;
/* The deck's own spellings of the force-field choices; run/setup.h maps them onto ff/. */
typedef enum {
    CLMD_DECK_NB_NOCUTOFF = 0,
    CLMD_DECK_NB_CUTOFF,
    CLMD_DECK_NB_REACTION_FIELD,
    CLMD_DECK_NB_PME
} clmd_deck_nbmethod;
typedef enum { CLMD_DECK_GB_NONE = 0, CLMD_DECK_GB_OBC1, CLMD_DECK_GB_OBC2 } clmd_deck_gbmodel;

/* nonbonded: (the defaults and meaning of ff/options.h's clmd_ffopts) */
typedef struct clmd_deck_nonbonded {
    clmd_deck_nbmethod method;   /* default cutoff */
    double cutoff_nm;            /* default 1.0 */
    double switch_nm;            /* LJ switching start; <= 0: none (default -1) */
    int dispersion_correction;   /* default 1 */
    double rf_dielectric;        /* reaction-field dielectric, default 78.3 */
    double ewald_tolerance;      /* PME: picks alpha and grid, default 5e-4 */
    double ewald_alpha;          /* PME: > 0 forces alpha (1/nm); default 0 (from tolerance) */
    int pme_grid[3];             /* PME: all > 0 force the grid; default 0 (from tolerance) */
    int pme_order;               /* default 5 */
    double skin_nm;              /* neighbor-list buffer (start value when skin_auto), 0.1 */
    int skin_auto;               /* neighbor_skin: auto (the default) */
    double list_tolerance;       /* neighbor_tolerance, kJ/mol/ps per atom; 0 (null): exact;
                                  * -1: auto (the default) */
    int list_steps;              /* neighbor_steps; 0: auto */
} clmd_deck_nonbonded;

/* implicit_solvent: */
typedef struct clmd_deck_implicit {
    clmd_deck_gbmodel model;     /* default none (implicit_solvent: null) */
    double solvent_dielectric;   /* default 78.5 */
    double solute_dielectric;    /* default 1.0 */
    int surface_area;            /* 1: ACE nonpolar term (default) */
    double sa_energy;            /* surface_tension, kJ/mol/nm^2, default 2.25936 */
    double probe_radius_nm;      /* default 0.14 */
} clmd_deck_implicit;

/* Where a key was written, for messages from later stages (1-based; 0 when defaulted). */
typedef struct clmd_mark {
    int line, column;
} clmd_mark;

#define CLMD_MAX_SELECTION 64

/* A set of particles (the alchemical region, REST2's solute): 0-based particle indices and
 * inclusive ranges "a-b", or residue names (every particle of every residue of that name). The
 * system resolves it (clmd_selection_flags, system/select.h). */
typedef struct clmd_deck_selection {
    int nranges;
    int range[CLMD_MAX_SELECTION][2];   /* first, last (inclusive); a single index has first == last */
    int nresidues;
    char residue[CLMD_MAX_SELECTION][8];
    clmd_mark mark;                     /* the key holding it (atoms: or residues:) */
    char key[32];                       /* that key, dotted ("alchemical.atoms"), for messages */
} clmd_deck_selection;

typedef struct clmd_deck {
    char path[CLMD_PATH_MAX]; /* the deck file as given */
    char dir[CLMD_PATH_MAX];  /* its folder */
    char title[512];

    struct {
        clmd_source_kind kind;
        clmd_builtin_kind builtin;
        int cells;               /* lj_fcc: 4*cells^3 atoms (default 10) */
        double reduced_density;  /* lj_fcc: rho*sigma^3 (default 0.8442) */
        char model[32];          /* water_box: "tip4pew" | "tip3p" (default tip4pew) */
        double edge_nm;          /* water_box: cubic edge (default 3.0) */
        char forcefield[CLMD_PATH_MAX]; /* resolved path, "" when none */
        char prmtop[CLMD_PATH_MAX], inpcrd[CLMD_PATH_MAX]; /* amber */
        char coordinates[CLMD_PATH_MAX];                   /* PDB or XYZ */
        int has_box;             /* box given in the deck (overrides the file's) */
        double box[3];           /* nm, rectangular */
        clmd_mark mark;          /* the `system` key */
        clmd_mark forcefield_mark, prmtop_mark, inpcrd_mark, coordinates_mark;
        clmd_mark source_mark;   /* the builtin/amber/coordinates key */
        clmd_mark box_mark;
    } system;

    clmd_deck_nonbonded nonbonded;
    clmd_deck_implicit implicit_solvent;

    clmd_mark nonbonded_mark;
    clmd_mark method_mark, cutoff_mark; /* nonbonded.method / nonbonded.cutoff */
    clmd_mark implicit_solvent_mark;

    clmd_constrain_kind constraints;   /* default none */
    double constraint_tolerance;       /* relative, default 1e-6 */
    int rigid_water;                   /* default 1 */
    clmd_mark constraints_mark;

    struct {
        int given;               /* 0: key absent: the file's velocities if it has any, else drawn
                                  * at `temperature` (the integrator's) with `seed` */
        int from_input;          /* velocities: from_input (or the key absent and the file has them) */
        double temperature;      /* K, default: the integrator temperature */
        unsigned long seed;      /* default 1 */
        clmd_mark mark;
    } velocities;

    struct {
        int enabled;               /* minimize: {...} given (null or absent: off) */
        long max_steps;            /* default 1000 */
        double tolerance;          /* largest force to stop at, kJ/mol/nm; default 10 */
        clmd_mark mark;
    } minimize;                    /* steepest descent before the dynamics of a fresh run */

    struct {
        clmd_integrator_kind type; /* default langevin */
        double timestep_ps;        /* default 0.002 */
        double temperature;        /* K, default 300 */
        double friction;           /* 1/ps, default 1.0 */
        long steps;                /* default 1000 */
        unsigned long seed;        /* default 1 */
        int remove_com_motion;     /* default 1 */
        int com_interval;          /* steps between removals, default 100 */
        clmd_mark mark;
    } integrator;

    struct {
        int enabled;
        int ntemps;
        double temps[CLMD_MAX_REPLICAS]; /* K, ascending */
        long exchange_interval;          /* steps between attempts (default 500) */
        long exchanges;                  /* number of attempts (default 100) */
        unsigned long seed;              /* default 11 */
        int scheme;                      /* 0 neighbors (default), 1 all */
        int resample_velocities;         /* 0 rescale by sqrt(T_new/T_old) (default), 1 resample */
        int replicas_per_device;         /* 0 (default): all of this process's replicas at once */
        /* A lambda ladder instead of temperatures (lambdas: {sterics: [...], electrostatics:
         * [...]}, lists of equal length, one state per index; needs the alchemical section):
         * nlambdas states, all at integrator.temperature. */
        int nlambdas;
        double lambda_sterics[CLMD_MAX_REPLICAS], lambda_electrostatics[CLMD_MAX_REPLICAS];
        clmd_mark mark;
    } remd;

    /* alchemical: a region whose coupling to the rest is scaled (soft-core LJ with
     * lambda_sterics, the region's charges times lambda_electrostatics); null: off. */
    struct {
        int enabled;
        clmd_deck_selection region;      /* atoms: [...] or residues: [...] */
        double lambda_sterics;           /* default 1 (fully coupled) */
        double lambda_electrostatics;    /* default 1 */
        double softcore_alpha;           /* default 0.5 */
        int annihilate_sterics;          /* default 0: LJ inside the region unchanged */
        clmd_mark mark;
    } alchemical;

    /* solute_tempering (REST2): {atoms|residues: selection, temperatures: [...] or
     * {min, max, count}}: the solute's effective temperatures, the first the physical one; with
     * replica_exchange it is the campaign's ladder (replica_exchange.temperatures then absent). */
    struct {
        int enabled;
        clmd_deck_selection solute;
        int ntemps;
        double temps[CLMD_MAX_REPLICAS];
        clmd_mark mark;
    } solute_tempering;

    struct {
        int enabled;                     /* barostat: {...} given (null or absent: off) */
        int anisotropic;                 /* type: anisotropic (each axis scaled on its own) */
        double pressure_bar[3];          /* x, y, z; all equal when isotropic (default 1.01325) */
        int interval;                    /* steps between Monte Carlo volume moves (default 25) */
        int adapt;                       /* adapt the move size (default 1) */
        unsigned long seed;              /* default 13 */
        clmd_mark mark;                  /* the `barostat` key */
    } barostat;                          /* Monte Carlo barostat (NPT, with Langevin only) */

    struct {
        char directory[CLMD_PATH_MAX];   /* resolved; default "<deck dir>/out" */
        /* Each output is off when its file is "" (its interval is then 0). A file name is
         * relative to `directory` (as written; an absolute name is kept as is). */
        char trajectory[CLMD_PATH_MAX];  /* default off; traj.h5 when given without a file */
        long trajectory_interval;        /* 1000 when given without one */
        char energies[CLMD_PATH_MAX];    /* default energies.csv */
        long energies_interval;          /* default 100 */
        char checkpoint[CLMD_PATH_MAX];  /* default state.chk; "" (null) turns checkpoints off */
        long checkpoint_interval;        /* steps between checkpoints, 0: none (default) */
        double checkpoint_wall_minutes;  /* minutes of wall time between checkpoints, 0: none
                                          * (default 15); one is always written at the end */
        int overwrite;                   /* default 0 */
        clmd_mark mark;
    } output;

    char device[256];                    /* default "auto" */
    char probes_json[CLMD_PATH_MAX];     /* resolved path or "" */
    clmd_mark device_mark, probes_mark;
} clmd_deck;

/* Fills every default (the deck a file with no keys but `system` would give). The struct is
 * zeroed first, so two decks holding the same values compare equal byte for byte apart from
 * path, dir and the marks. dir is left "" (the parse functions set it). */
void clmd_deck_defaults(clmd_deck *d);

/* Parses and validates a deck file. On failure returns CLMD_EINPUT with a message naming
 * path:line:column and the key; the message lists every problem found (one per line, in file
 * order; when they overflow clmd_err.msg the last line counts the rest). After a failure *d
 * holds a mix of defaults and values read: do not use it. */
int clmd_deck_load(const char *path, clmd_deck *d, clmd_err *err);

/* Same, from text in memory; `name` is used in messages and `dir` resolves relative paths
 * (NULL: the working directory). Stored paths are absolute: dir is made absolute with the
 * working directory and "." segments and repeated slashes are dropped ("..", symlinks kept). */
int clmd_deck_parse_string(const char *text, const char *name, const char *dir, clmd_deck *d,
                           clmd_err *err);

/* Writes the resolved deck (every key, defaults included) as YAML that clmd_deck_load accepts
 * and that parses back to the same values (numbers in shortest round-trip form). */
void clmd_deck_print(const clmd_deck *d, FILE *out);

#endif
