/* The replica-exchange log: one HDF5 file per campaign (replica_exchange.h5) with, per exchange
 * round t (row t is the exchange after MD segment t, t = 0..rounds-1):
 *   /energies   float64 [round][replica][state]  reduced energies u (kT units) the swap test used
 *   /states     int32   [round][replica]         the state each replica holds after the swap
 *   /proposed   int64   [round][state][state]    swaps proposed in the round (symmetric)
 *   /accepted   int64   [round][state][state]    swaps accepted in the round
 * and the ladder as attributes of the root group: "temperatures" (K, kelvin), "pressure_bar"
 * (when a barostat runs), "scheme", "exchange_interval", "replicas", "states", "creator". The
 * layout follows openmmtools' reporter (energies, states, proposed, accepted) so its users find
 * their data. Each round is flushed, so the file is readable while the campaign runs
 * (HDF5_USE_FILE_LOCKING=FALSE) and after a kill. Create with clmd_remdlog_create or continue with
 * clmd_remdlog_continue; close with clmd_remdlog_close. */
#ifndef CLMD_IO_REMDLOG_H
#define CLMD_IO_REMDLOG_H

#include "core/err.h"

typedef struct clmd_remdlog clmd_remdlog;

typedef struct clmd_remdlog_opts {
    int replicas, states;
    const double *temperatures; /* [states] */
    double pressure_bar;        /* < 0: no barostat */
    const char *scheme;         /* "neighbors" | "all" */
    long exchange_interval;
    /* up to three more per-state attributes (Hamiltonian ladders: "lambda_sterics",
     * "lambda_electrostatics"; REST2: "solute_temperatures"); NULL names end the list */
    const char *extra_name[3];
    const double *extra[3];
} clmd_remdlog_opts;

int clmd_remdlog_create(const char *path, const clmd_remdlog_opts *o, clmd_remdlog **out,
                        clmd_err *err);
/* Opens a log written with the same options, keeps rounds 0..rounds-1 and drops the rest (written
 * after the checkpoint a campaign restarts from). A missing file is created. */
int clmd_remdlog_continue(const char *path, const clmd_remdlog_opts *o, long rounds,
                          clmd_remdlog **out, clmd_err *err);
/* Appends one round: u [R*K], states [R], proposed and accepted [K*K] of the round. */
int clmd_remdlog_append(clmd_remdlog *l, const double *u, const int *states, const long *proposed,
                        const long *accepted, clmd_err *err);
long clmd_remdlog_rounds(const clmd_remdlog *l);
int clmd_remdlog_close(clmd_remdlog **l, clmd_err *err);

/* Reads a whole log (for clmd remd-report): its sizes, ladder and the state history
 * (states[t*R + r]) and cumulative counts ([K*K]); the caller frees the arrays with clmd_free. */
typedef struct clmd_remdlog_data {
    int replicas, states;
    long rounds;
    long exchange_interval;
    double *temperatures;  /* [states] */
    int *history;          /* [rounds * replicas] */
    double *energies;      /* [rounds * replicas * states] */
    long *proposed, *accepted; /* [states * states], summed over the rounds */
} clmd_remdlog_data;
int clmd_remdlog_read(const char *path, clmd_remdlog_data *d, clmd_err *err);
void clmd_remdlog_data_free(clmd_remdlog_data *d);

#endif
