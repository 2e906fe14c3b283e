/* Force-field files (YAML, format in docs/forcefields.md): atom types with LJ parameters,
 * residue templates (atoms, bonds, angles, rigid-water geometry, virtual sites) and per-atom
 * matching rules for simple fluids. clmd_ff_load() parses and validates a file (every problem
 * reported with file:line:column and key); clmd_ff_build() turns coordinates (coords.h) into a
 * clmd_system with parameters, bonds, angles, virtual sites, exclusions and 1-4 pairs.
 *
 * The clmd_ff is a plain read-only structure owned by its creator and released with
 * clmd_ff_destroy(); units are clmd's (nm, kJ/mol, e, amu, radians: angles are written in
 * degrees in the file and stored in radians). */
#ifndef CLMD_SYSTEM_FORCEFIELD_H
#define CLMD_SYSTEM_FORCEFIELD_H

#include <stddef.h>

#include "core/err.h"

struct clmd_coords;
struct clmd_system;

#define CLMD_FF_NAME 8     /* atom and residue names: up to 7 characters */
#define CLMD_FF_ALIASES 8  /* alternative names per residue or atom */

typedef struct clmd_fftype {
    char name[32];
    char element[4];   /* "" for virtual sites and united atoms */
    int atomic_number; /* 0 when element is "" */
    double mass;       /* amu; 0 for virtual sites */
    double charge;     /* e */
    double sigma;      /* nm */
    double epsilon;    /* kJ/mol */
} clmd_fftype;

typedef struct clmd_ffatom {
    char name[CLMD_FF_NAME];
    int naliases;
    char aliases[CLMD_FF_ALIASES][CLMD_FF_NAME];
    int type;     /* index into clmd_ff.types */
    int is_vsite; /* 1 when a virtual site of the template places this atom */
} clmd_ffatom;

/* Atom indices below are into the template's atoms[]. */
typedef struct clmd_ffbond { int a, b; double k, r0; } clmd_ffbond;              /* kJ/mol/nm^2, nm */
typedef struct clmd_ffangle { int a, b, c; double k, theta0; } clmd_ffangle;     /* kJ/mol/rad^2, rad */
typedef struct clmd_ffvsite { int site, a, b, c; double w[3]; } clmd_ffvsite;   /* average of 3 */

typedef struct clmd_ffres {
    char name[CLMD_FF_NAME];
    int naliases;
    char aliases[CLMD_FF_ALIASES][CLMD_FF_NAME];
    int natoms, nbonds, nangles, nvsites;
    clmd_ffatom *atoms;
    clmd_ffbond *bonds;
    clmd_ffangle *angles;
    clmd_ffvsite *vsites;
    /* rigid water geometry (SETTLE): oxygen and hydrogens (template atom indices), distances */
    int rigid;
    int rigid_o, rigid_h[2];
    double rigid_oh, rigid_hh; /* nm */
    int line;                  /* where the template starts in the file (1-based) */
} clmd_ffres;

/* Fallback for atoms in no residue template: the first rule whose given fields all match
 * (residue name, atom name, element; empty = any) gives the type. */
typedef struct clmd_ffmatch {
    char residue[CLMD_FF_NAME], name[CLMD_FF_NAME], element[4];
    int type;
} clmd_ffmatch;

typedef struct clmd_ff {
    char path[512];
    char name[128];
    double scale14_coulomb, scale14_lj; /* 1-4 scaling (defaults 0.833333, 0.5 as Amber) */
    int ntypes, nres, nmatch;
    clmd_fftype *types;
    clmd_ffres *res;
    clmd_ffmatch *match;
} clmd_ff;

/* Parses a force-field file. On failure returns CLMD_EINPUT, *out NULL, and a message naming
 * path:line:column and the key of every problem found (one per line). */
int clmd_ff_load(const char *path, clmd_ff **out, clmd_err *err);
/* Same from text in memory; `name` stands for the file in messages. */
int clmd_ff_parse_string(const char *text, const char *name, clmd_ff **out, clmd_err *err);
void clmd_ff_destroy(clmd_ff **ff);

/* Index of the type named `name`, or -1. */
int clmd_ff_find_type(const clmd_ff *ff, const char *name);
/* The residue template named `resname` (or having it as an alias), or NULL. */
const clmd_ffres *clmd_ff_find_residue(const clmd_ff *ff, const char *resname);
/* The first template with rigid-water geometry, or NULL. */
const clmd_ffres *clmd_ff_water(const clmd_ff *ff);

/* Finds a shipped force-field file by name ("tip4pew" or "tip4pew.yaml"): in each folder of
 * $CLMD_FORCEFIELD_PATH (colon-separated), then `dir` (may be NULL), then the source tree's
 * forcefields/. Writes the path to out; returns CLMD_OK or CLMD_EINPUT naming where it looked. */
int clmd_ff_locate(const char *name, const char *dir, char *out, size_t size, clmd_err *err);

/* Builds a system from coordinates. Residues whose name matches a template take the template's
 * types, bonds, angles and virtual sites; virtual sites the file leaves out are inserted after
 * their residue's atoms (positions from the weights). Atoms in files without residues (XYZ)
 * are grouped by matching the templates' element sequences. Remaining atoms are typed one by
 * one by the match rules. Exclusions: 1-2 and 1-3 pairs of each template's bond graph, a
 * virtual site sharing the exclusions of its first parent atom (as OpenMM does); 1-4 pairs are
 * excluded and added back as pair exceptions scaled by scale14. LJ parameters are per particle
 * (Lorentz-Berthelot). Errors name the coordinate file and line. */
int clmd_ff_build(const clmd_ff *ff, const struct clmd_coords *c, struct clmd_system **out,
                  clmd_err *err);

#endif
