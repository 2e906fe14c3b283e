/* The no-overwrite policy for a run's outputs. Before a run writes anything it calls
 * clmd_outfile_prepare() once with every file it will write (trajectory, energies, checkpoint,
 * probe JSON...): that refuses, naming each file, when any of them exists and overwrite is off,
 * and only then creates the output folder (mkdir -p). Nothing here allocates. */
#ifndef CLMD_IO_OUTFILE_H
#define CLMD_IO_OUTFILE_H

#include <stddef.h>

#include "core/err.h"

/* Joins dir and name into buf ("dir/name"; name alone when it is absolute or dir is empty).
 * Returns CLMD_EINPUT when the result does not fit. */
int clmd_outfile_path(const char *dir, const char *name, char *buf, size_t size, clmd_err *err);

/* Checks the n output files names[i] inside dir (NULL or "" entries are outputs that are off)
 * and creates dir and the folders the names imply. Fails with CLMD_EINPUT, before creating
 * anything, when a file exists and overwrite is 0 ("PATH exists: set output.overwrite: true in
 * the deck or pass --overwrite", one line per file), when one is a folder, or when two outputs
 * name the same file; with CLMD_ERUNTIME when a folder cannot be created or written in. */
int clmd_outfile_prepare(const char *dir, const char *const *names, int n, int overwrite,
                         clmd_err *err);

#endif
