/* A replica-exchange campaign (the deck's replica_exchange section): K replicas of one system,
 * each at one thermodynamic state of a temperature ladder (NVT, or NPT with the barostat), run
 * in rounds of exchange_interval steps; after each round the replicas' reduced energies decide
 * swaps of their states (remd/exchange.h), and the thermostat (and velocities) follow the new
 * state. The replicas live in engines that share one OpenCL device (or the reference path),
 * split over MPI ranks when started with mpirun (remd/comm.h); the exchange decisions are
 * computed identically on every rank, so an R-rank campaign repeats the one-process one bit for
 * bit. Outputs, written by rank 0 into output.directory:
 *   state_NNN/energies.csv, traj.h5 (+ traj.pdb)   per thermodynamic state, demultiplexed
 *   replica_exchange.h5                            energies, states, proposed, accepted per round
 *   summary.json                                   mixing statistics (at checkpoints and the end)
 *   state.chk                                      the whole campaign, atomically
 * A restart (--restart) continues every file from the checkpoint's round. */
#ifndef CLMD_REMD_CAMPAIGN_H
#define CLMD_REMD_CAMPAIGN_H

#include <stdio.h>

#include "core/err.h"
#include "remd/exchange.h"
#include "run/run.h"

typedef struct clmd_campaign clmd_campaign;

int clmd_campaign_create(const clmd_run_opts *o, clmd_campaign **out, clmd_err *err);
/* Runs the remaining rounds; progress reports replica-steps (steps done x replicas). */
int clmd_campaign_execute(clmd_campaign *c, clmd_run_progress progress, void *ctx, clmd_err *err);
void clmd_campaign_destroy(clmd_campaign **c);

/* For printing (rank 0): the deck, the ladder, the current statistics, timing. */
const clmd_deck *clmd_campaign_deck(const clmd_campaign *c);
int clmd_campaign_rank(const clmd_campaign *c);
/* Nonzero when execute stopped for the interrupt flag (every rank stops at the same round). */
int clmd_campaign_interrupted(const clmd_campaign *c);
/* Describes the system, device, terms, ladder and layout. */
void clmd_campaign_describe(const clmd_campaign *c, FILE *out);
/* Writes the end-of-campaign report (acceptance per pair, round trips, relaxation, timing). */
void clmd_campaign_report(const clmd_campaign *c, FILE *out);

#endif
