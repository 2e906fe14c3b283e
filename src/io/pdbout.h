/* A PDB file of the system's atoms, written beside an H5MD trajectory so that analysis tools
 * that need a topology (MDAnalysis: Universe("traj.pdb", "traj.h5")) get atom and residue names,
 * elements and the box; H5MD itself carries no topology. Coordinates in Angstrom, as PDB wants;
 * serial numbers wrap at 100000 and residue numbers at 10000 (as other engines do), so large
 * systems stay readable. Written to a temporary file and renamed. */
#ifndef CLMD_IO_PDBOUT_H
#define CLMD_IO_PDBOUT_H

#include "core/err.h"

typedef struct clmd_pdb_atoms {
    int n;
    const char (*name)[8];      /* atom names */
    const int *residue;         /* residue index of each atom (0-based), NULL: one residue */
    const char (*resname)[8];   /* residue names by index, NULL: "MOL" */
    const int *atomic_number;   /* NULL or 0: element left blank */
    const double *x;            /* [3n] nm */
    int periodic;
    double box[3][3];           /* rows, nm */
    const char *title;
} clmd_pdb_atoms;

int clmd_pdb_write(const char *path, const clmd_pdb_atoms *a, clmd_err *err);

#endif
