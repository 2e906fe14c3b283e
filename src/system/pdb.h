/* PDB reader: ATOM/HETATM records (fixed columns), CRYST1 unit cell, residues, element
 * columns; MODEL/ENDMDL (first model only), TER (chain break), END. Angstrom -> nm.
 * The caller owns the result (clmd_coords_destroy). */
#ifndef CLMD_SYSTEM_PDB_H
#define CLMD_SYSTEM_PDB_H

#include "core/err.h"

struct clmd_coords;

/* Errors name path:line and the record/columns at fault. */
int clmd_pdb_read(const char *path, struct clmd_coords **out, clmd_err *err);

#endif
