/* XYZ coordinates: a count line, a comment line, then "symbol x y z" per atom (Angstrom).
 * The comment may carry an extended-XYZ cell, Lattice="ax ay az bx by bz cx cy cz"
 * (Angstrom); without it the system has no box unless the deck gives one. Only the first
 * frame of a multi-frame file is read. The reader's result is owned by the caller
 * (clmd_coords_destroy). */
#ifndef CLMD_SYSTEM_XYZ_H
#define CLMD_SYSTEM_XYZ_H

#include "core/err.h"

struct clmd_coords;
struct clmd_system;

/* Errors name path:line. */
int clmd_xyz_read(const char *path, struct clmd_coords **out, clmd_err *err);

/* Writes a system as extended XYZ: element symbols (the atom name for virtual sites and
 * unknown elements), positions in Angstrom, Lattice= when periodic. `comment` may be NULL. */
int clmd_xyz_write(const char *path, const struct clmd_system *sys, const char *comment,
                   clmd_err *err);

#endif
