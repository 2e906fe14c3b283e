/* Force-field options that come from the deck's nonbonded and implicit_solvent sections.
 * Plain struct; clmd_ffopts_defaults() fills the defaults documented in docs/input.md. */
#ifndef CLMD_FF_OPTIONS_H
#define CLMD_FF_OPTIONS_H

typedef enum clmd_nbmethod {
    CLMD_NB_NOCUTOFF = 0,
    CLMD_NB_CUTOFF,         /* plain truncation (periodic if the system has a box) */
    CLMD_NB_REACTION_FIELD, /* OpenMM CutoffPeriodic/CutoffNonPeriodic Coulomb */
    CLMD_NB_PME
} clmd_nbmethod;

typedef enum clmd_gbmodel { CLMD_GB_NONE = 0, CLMD_GB_OBC1, CLMD_GB_OBC2 } clmd_gbmodel;

typedef struct clmd_ffopts {
    clmd_nbmethod method;
    double cutoff_nm;            /* nonbonded cutoff */
    double switch_nm;            /* LJ switching starts here; <= 0: no switching */
    int dispersion_correction;   /* long-range LJ correction (periodic cutoffs only) */
    double rf_dielectric;        /* reaction-field solvent dielectric (OpenMM: 78.3) */
    double ewald_tolerance;      /* PME: picks alpha and grid */
    double ewald_alpha;          /* PME: > 0 forces alpha (1/nm) */
    int pme_grid[3];             /* PME: all > 0 forces the grid */
    int pme_order;               /* B-spline order (5) */
    double skin_nm;              /* neighbor-list buffer (the starting value when skin_auto) */
    int skin_auto;               /* 1: the engine tunes the buffer to the rebuild rate */
    double list_tolerance;       /* > 0: lists live list_steps steps with buffers sized from
                                  * this energy drift (kJ/mol/ps per atom); 0: exact lists;
                                  * < 0 (auto): 0.005 on OpenCL devices (not with GB or a
                                  * given skin), exact on the reference path */
    int list_steps;              /* with list_tolerance: the outer list's life (0: auto) */
    clmd_gbmodel gb_model;
    double solvent_dielectric;   /* GB */
    double solute_dielectric;    /* GB */
    int surface_area;            /* 1: ACE nonpolar term */
    double sa_energy;            /* ACE surface tension, kJ/mol/nm^2 (2.25936) */
    double probe_radius_nm;      /* ACE solvent probe (0.14) */
    /* The system's region (system.h) and how its interactions are scaled; each copy's factors
     * are the engine's (clmd_engine_set_segment_scale), these are how they act:
     * alchemical (openmmtools' AlchemicalFactory): soft-core LJ between the region and the rest
     * with lambda_sterics, U = lambda 4 eps x (x - 1), x = sigma^6 / (alpha sigma^6 (1 - lambda) +
     * r^6); the region's charges times lambda_electrostatics everywhere (PME included);
     * annihilate: soft-core inside the region too. REST2: charges and LJ depths scaled (no
     * soft-core) and the region's torsions. */
    int region_softcore;         /* 1: alchemical soft-core sterics */
    int region_annihilate;       /* 1: soft-core inside the region too */
    double softcore_alpha;       /* 0.5 */
} clmd_ffopts;

static inline void clmd_ffopts_defaults(clmd_ffopts *o)
{
    o->method = CLMD_NB_CUTOFF;
    o->cutoff_nm = 1.0;
    o->switch_nm = -1.0;
    o->dispersion_correction = 1;
    o->rf_dielectric = 78.3;
    o->ewald_tolerance = 5e-4;
    o->ewald_alpha = 0.0;
    o->pme_grid[0] = o->pme_grid[1] = o->pme_grid[2] = 0;
    o->pme_order = 5;
    o->skin_nm = 0.1;
    o->skin_auto = 1;
    o->list_tolerance = -1;
    o->list_steps = 0;
    o->gb_model = CLMD_GB_NONE;
    o->solvent_dielectric = 78.5;
    o->solute_dielectric = 1.0;
    o->surface_area = 1;
    o->sa_energy = 2.25936;
    o->probe_radius_nm = 0.14;
    o->region_softcore = 0;
    o->region_annihilate = 0;
    o->softcore_alpha = 0.5;
}

#endif
