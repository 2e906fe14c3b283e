/* What a campaign reports: its mixing statistics (remd/exchange.h's summary) printed, as
 * summary.json, and as two SVG plots (each replica's walk over the ladder; the acceptance of
 * each neighbour pair). The end of a campaign writes them into its output directory, and
 * `clmd remd-report OUTDIR` makes them from the replica_exchange.h5 of a running, killed or
 * finished campaign. */
#ifndef CLMD_REMD_REPORT_H
#define CLMD_REMD_REPORT_H

#include <stdio.h>

#include "core/err.h"
#include "remd/exchange.h"

/* summary.json (the format of docs/input.md), atomically. */
int clmd_remd_write_summary(const char *path, const clmd_remd_summary *s, const double *ladder,
                            clmd_err *err);
/* history[t*K + r]: the state of replica r at round t (t = 0..rounds-1, 0 the start). */
int clmd_remd_write_walk_svg(const char *path, int K, long rounds, const int *history,
                             const double *ladder, const char *unit, clmd_err *err);
int clmd_remd_write_acceptance_svg(const char *path, int K, const double *acceptance,
                                   const double *ladder, const char *unit, clmd_err *err);
void clmd_remd_print_summary(const clmd_remd_summary *s, const double *ladder, const char *unit,
                             FILE *out);
/* Reads OUTDIR/replica_exchange.h5, prints the statistics to out and writes summary.json,
 * walk.svg and acceptance.svg next to it. */
int clmd_remd_report_dir(const char *dir, FILE *out, clmd_err *err);

#endif
