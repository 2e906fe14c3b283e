/* The energy log: a CSV file with the header
 *   step,time_ps,potential,kinetic,total,temperature_K[,extra...]
 * (energies in kJ/mol) and one row per clmd_energylog_write(), flushed at once so a killed run
 * keeps every row it wrote. Extra columns (per-term energies, replica temperature...) are named
 * at open. Numbers are printed with 10 significant digits.
 * clmd_energylog_open() returns a handle the caller closes with clmd_energylog_close(). */
#ifndef CLMD_IO_ENERGYLOG_H
#define CLMD_IO_ENERGYLOG_H

#include "core/err.h"
#include "io/thermo.h"

typedef struct clmd_energylog clmd_energylog;

/* Creates (truncates) path and writes the header. Extra column names must be non-empty and free
 * of commas, quotes and line breaks (CLMD_EINPUT otherwise); n_extra may be 0 with extra NULL.
 * The overwrite policy is the caller's (clmd_outfile_prepare). */
int clmd_energylog_open(const char *path, const char *const *extra, int n_extra,
                        clmd_energylog **out, clmd_err *err);

/* Continues the log of a restarted run: path must hold the same header (else CLMD_EINPUT naming
 * the file); rows after step last_step (written after the checkpoint the run restarts from) are
 * cut off and new rows are appended. A missing file is created as by clmd_energylog_open. */
int clmd_energylog_continue(const char *path, const char *const *extra, int n_extra, long last_step,
                            clmd_energylog **out, clmd_err *err);

/* The step of the last row in the log (-1 when it has none). */
long clmd_energylog_last_step(const clmd_energylog *log);

/* Appends one row; extra holds the n_extra values given at open (NULL when n_extra is 0). */
int clmd_energylog_write(clmd_energylog *log, long step, double time_ps, const clmd_thermo *t,
                         const double *extra, clmd_err *err);

/* Closes the file and frees the handle, setting *log to NULL (NULL-safe). Reports a failed
 * close. */
int clmd_energylog_close(clmd_energylog **log, clmd_err *err);

#endif
