/* Coordinates as a PDB or XYZ file gives them, before a force field turns them into a system:
 * atom names, elements, residues, positions (nm) and the unit cell. The readers live in pdb.c
 * and xyz.c; clmd_ff_build() (forcefield.h) assigns parameters. Every array is owned by the
 * clmd_coords and released by clmd_coords_destroy(). */
#ifndef CLMD_SYSTEM_COORDS_H
#define CLMD_SYSTEM_COORDS_H

#include "core/err.h"

typedef struct clmd_coords {
    int n;                /* atoms */
    double *x;            /* [3n] positions, nm, in the cell's canonical frame (a along x,
                           * b in the xy plane) when has_cell */
    char (*name)[8];      /* [n] atom names, trimmed ("" when the file has none) */
    char (*element)[4];   /* [n] element as written, trimmed ("" when none) */
    int *atomic_number;   /* [n] 0 when unknown or not an element ("EP", "M") */
    int *res;             /* [n] residue index into resname, or -1 when the file has no
                           * residues (XYZ): the force field then groups atoms itself */
    int *line;            /* [n] line of the file each atom came from, for messages */
    int nres;
    char (*resname)[8];   /* [nres] residue names, trimmed */

    int has_cell;
    double cell[6];       /* a, b, c (nm), alpha, beta, gamma (degrees) */

    char source[512];     /* the file, for messages */
} clmd_coords;

/* Allocates a clmd_coords with room for n atoms and nres residues (arrays zeroed, res = -1). */
clmd_coords *clmd_coords_create(int n, int nres);
void clmd_coords_destroy(clmd_coords **c);

/* Reads a PDB (.pdb, .ent) or XYZ (.xyz, .extxyz) file, chosen by the extension. */
int clmd_coords_read(const char *path, clmd_coords **out, clmd_err *err);

/* Canonical box vectors (rows a, b, c; nm) of a cell given as lengths and angles (degrees):
 * a along x, b in the xy plane. Not reduced; clmd_system_set_box_angles() reduces. */
void clmd_cell_vectors(const double cell[6], double box[3][3]);

/* Lengths (nm) and angles (degrees) of three box vectors; returns CLMD_OK, or CLMD_EINPUT when
 * the vectors are degenerate (zero length or zero volume). */
int clmd_cell_from_vectors(const double box[3][3], double cell[6]);

#endif
