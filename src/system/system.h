/* The simulated system: topology, parameters, coordinates and box, in clmd's units
 * (nm, ps, kJ/mol, e, amu, radians). Every importer (built-in generators, Amber prmtop/inpcrd,
 * PDB, XYZ) fills one of these; force terms and the engine only read it.
 *
 * Per-particle data is structure-of-arrays. Arrays are owned by the system and released by
 * clmd_system_destroy(); use clmd_system_alloc_particles() and the clmd_system_add_* helpers
 * rather than allocating fields by hand. Particle indices are 0-based, in input order.
 *
 * Energy conventions follow OpenMM, so references compare directly:
 *   bond      E = 1/2 k (r - r0)^2                 k in kJ/mol/nm^2
 *   angle     E = 1/2 k (theta - theta0)^2         k in kJ/mol/rad^2
 *   torsion   E = k (1 + cos(n phi - phase))       k in kJ/mol (proper and improper alike)
 *   LJ        E = 4 eps ((s/r)^12 - (s/r)^6)       per pair, Lorentz-Berthelot unless a table is set
 *   Coulomb   E = 138.935456 q_i q_j / r           (kJ/mol nm / e^2)
 *   CMAP      E = bicubic interpolation of a correction map over two consecutive torsions
 *             (OpenMM's CMAPTorsionForce; see clmd_cmap_map below)
 * Excluded pairs get no direct nonbonded interaction (PME still applies its exclusion
 * correction to them). 1-4 pairs are excluded and then added back as explicit "pair
 * exceptions" with their own charge product and LJ parameters (Amber SCEE/SCNB scaling). */
#ifndef CLMD_SYSTEM_SYSTEM_H
#define CLMD_SYSTEM_SYSTEM_H

#include "core/err.h"

#define CLMD_COULOMB 138.935456          /* kJ mol^-1 nm e^-2 */
#define CLMD_BOLTZMANN 0.00831446261815324 /* kJ mol^-1 K^-1 */

typedef struct clmd_bond { int i, j; double k, r0; } clmd_bond;
typedef struct clmd_angle { int i, j, k; double kf, theta0; } clmd_angle;
typedef struct clmd_torsion { int i, j, k, l, periodicity; double kf, phase; } clmd_torsion;
/* A nonbonded pair exception (Amber 1-4): qq = scaled q_i*q_j (e^2), sigma (nm), eps (kJ/mol). */
typedef struct clmd_pair { int i, j; double qq, sigma, eps; } clmd_pair;
typedef struct clmd_constraint { int i, j; double d; } clmd_constraint;
/* Virtual site: x_site = w[0] x_a + w[1] x_b + w[2] x_c (OpenMM ThreeParticleAverageSite). */
typedef struct clmd_vsite { int site, a, b, c; double w[3]; } clmd_vsite;
/* CMAP correction map (Amber ff19SB, CHARMM): energies (kJ/mol) on a size x size periodic grid
 * over two torsion angles, in OpenMM's layout: energy[i + size*j] is the energy at
 * phi = i*2pi/size, psi = j*2pi/size (i, j = 0..size-1, angles in [0, 2pi)). Owned by the system. */
typedef struct clmd_cmap_map { int size; double *energy; } clmd_cmap_map;
/* CMAP term: phi is the torsion a-b-c-d, psi the torsion b-c-d-e (same sign convention as
 * clmd_torsion), map indexes sys->cmap_maps. */
typedef struct clmd_cmap { int a, b, c, d, e, map; } clmd_cmap;

typedef struct clmd_system {
    int n; /* particles, virtual sites included */

    /* per particle [n] (x and v are [3n], xyz interleaved) */
    double *x;       /* positions, nm */
    double *v;       /* velocities, nm/ps; NULL when the input gave none */
    double *mass;    /* amu; 0 for virtual sites */
    double *charge;  /* e */
    double *sigma;   /* LJ sigma, nm (Lorentz-Berthelot per-particle parameters) */
    double *epsilon; /* LJ epsilon, kJ/mol */
    int *type;       /* LJ type index, 0..ntypes-1 */
    int *atomic_number; /* 0 when unknown (and for virtual sites) */
    int *residue;    /* residue index of each particle, 0-based */
    char (*name)[8]; /* atom names, NUL-terminated */
    /* Generalized Born: intrinsic radius (nm) and overlap scale factor; NULL when absent. */
    double *gb_radius;
    double *gb_scale;

    /* LJ type-pair table [ntypes*ntypes], used instead of per-particle combination when
     * lj_table is nonzero (mixtures that do not follow Lorentz-Berthelot, e.g. Amber NBFIX). */
    int ntypes;
    int lj_table;
    double *c6, *c12; /* E = c12/r^12 - c6/r^6 for the pair of types */

    /* residues */
    int nresidues;
    char (*resname)[8];

    /* box from the input: rows are the three box vectors a, b, c (nm), in OpenMM/GROMACS reduced
     * form (system/box.h). periodic == 0 means no box. A run starts from this box; the box that
     * changes during a run (barostat) is the state's (state/state.h). */
    int periodic;
    double box[3][3];

    /* exclusions, CSR: the partners of particle i are excl[excl_start[i] .. excl_start[i+1]-1],
     * sorted, symmetric (j in i's list iff i in j's), self not included. */
    int *excl_start;
    int *excl;

    int nbonds, nangles, ntorsions, npairs, nconstraints, nvsites;
    clmd_bond *bonds;
    clmd_angle *angles;
    clmd_torsion *torsions;
    clmd_pair *pairs;
    clmd_constraint *constraints;
    clmd_vsite *vsites;

    /* capacities of the growable lists above (managed by the add helpers) */
    int cap_bonds, cap_angles, cap_torsions, cap_pairs, cap_constraints, cap_vsites;

    /* CMAP: the maps and the terms that use them (clmd_system_add_cmap_map/_add_cmap) */
    int ncmap_maps, ncmaps;
    clmd_cmap_map *cmap_maps;
    clmd_cmap *cmaps;
    int cap_cmap_maps, cap_cmaps;

    char source[512]; /* where it came from, for messages and outputs */

    /* A region whose interactions are scaled (alchemical decoupling, REST2's solute): region[i]
     * is 1 for its particles; NULL: none. Set from the deck (system/select.h); the force terms
     * read it with the scaling factors of ff/options.h and the engine's per-copy parameters. */
    unsigned char *region;
    int nregion;

    /* Replicas batched in one system (clmd_system_replicate): nseg independent copies of
     * seg_base, copy s at particles [s * seg_stride, s * seg_stride + seg_base->n); the rest of
     * each stride are ghosts (mass 0, no charge, no LJ, in no list and no term) that align every
     * copy to the kernels' work-groups. Copies never interact: the pair list pairs particles of
     * one copy only. nseg 0 or 1: an ordinary system. seg_base must outlive the system. */
    int nseg, seg_stride;
    const struct clmd_system *seg_base;
} clmd_system;

clmd_system *clmd_system_create(void);
void clmd_system_destroy(clmd_system **sys);

/* Allocates every per-particle array for n particles (x, mass, charge, sigma, epsilon, type,
 * atomic_number, residue, name); v, gb_* stay NULL until requested. */
void clmd_system_alloc_particles(clmd_system *sys, int n);
void clmd_system_alloc_velocities(clmd_system *sys);
void clmd_system_alloc_gb(clmd_system *sys);

void clmd_system_add_bond(clmd_system *sys, int i, int j, double k, double r0);
void clmd_system_add_angle(clmd_system *sys, int i, int j, int k, double kf, double theta0);
void clmd_system_add_torsion(clmd_system *sys, int i, int j, int k, int l, int periodicity,
                             double kf, double phase);
void clmd_system_add_pair(clmd_system *sys, int i, int j, double qq, double sigma, double eps);
void clmd_system_add_constraint(clmd_system *sys, int i, int j, double d);
void clmd_system_add_vsite(clmd_system *sys, int site, int a, int b, int c, double wa, double wb,
                           double wc);
/* Copies a CMAP map of size x size energies (kJ/mol, layout of clmd_cmap_map) and returns its
 * index for clmd_system_add_cmap. */
int clmd_system_add_cmap_map(clmd_system *sys, int size, const double *energy);
void clmd_system_add_cmap(clmd_system *sys, int a, int b, int c, int d, int e, int map);

/* Builds the exclusion lists from a list of excluded pairs (any order, duplicates allowed). */
void clmd_system_set_exclusions(clmd_system *sys, int npairs, const int (*pairs)[2]);
/* Nonzero when i and j are excluded from each other (binary search). */
int clmd_system_excluded(const clmd_system *sys, int i, int j);

/* Sets a rectangular box. */
void clmd_system_set_box(clmd_system *sys, double lx, double ly, double lz);
/* Sets the box from edge lengths (nm) and angles (degrees), in reduced form. */
void clmd_system_set_box_angles(clmd_system *sys, double a, double b, double c, double alpha,
                                double beta, double gamma);
/* The system's box is the box the input gave (the start of a run); a run's current box is in
 * its state. Minimum-image displacement d (= xj - xi, nm) in the input box, in place; no-op
 * without a box (system/box.h has the same on any box). */
void clmd_min_image(const clmd_system *sys, double d[3]);
/* The input box as the box argument of the references: NULL when the system has none. */
const double (*clmd_system_box(const clmd_system *sys))[3];
int clmd_system_box_is_rectangular(const clmd_system *sys);
double clmd_system_box_volume(const clmd_system *sys);

/* Checks internal consistency (indices in range, masses, box reduced form); returns CLMD_OK or
 * an error naming what is wrong. Importers call it before handing the system out. */
int clmd_system_validate(const clmd_system *sys, clmd_err *err);

/* K >= 2 copies of base in one system (see nseg above), each stride particles long (stride >= base->n,
 * a multiple of 64 for the device kernels), positions and velocities of every copy those of base.
 * The copies' topologies are base's shifted by s * stride. */
int clmd_system_replicate(const clmd_system *base, int K, int stride, clmd_system **out,
                          clmd_err *err);
/* The copy particle i belongs to (0 for an ordinary system). */
static inline int clmd_system_segment(const clmd_system *s, int i)
{
    return s->nseg > 1 ? i / s->seg_stride : 0;
}

/* Degrees of freedom: 3 * (massive particles) - nconstraints - (3 if centre-of-mass motion is removed). */
int clmd_system_dof(const clmd_system *sys, int com_removed);

#endif
