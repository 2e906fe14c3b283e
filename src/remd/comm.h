/* The processes of a campaign: MPI ranks (Open MPI) when clmd is built with MPI and started
 * with mpirun, else one process. Replicas are split over the ranks in contiguous blocks; the
 * collectives a campaign needs (every replica's energies on every rank, frames and checkpoint
 * data gathered to rank 0) are here, so the campaign code reads the same with or without MPI. */
#ifndef CLMD_REMD_COMM_H
#define CLMD_REMD_COMM_H

#include "core/err.h"

typedef struct clmd_comm {
    int rank, size;
    int mpi;            /* MPI is initialized (and finalized by clmd_comm_finish) */
} clmd_comm;

/* Starts MPI when the program was built with it and runs under mpirun (a process started
 * without a launcher is rank 0 of 1 and does not touch MPI). Call once from main first. */
void clmd_comm_init(int *argc, char ***argv, clmd_comm *c);
void clmd_comm_finish(clmd_comm *c);
/* The process's comm (set by clmd_comm_init; one process otherwise). */
const clmd_comm *clmd_comm_world(void);
/* Ends every rank of the job (after an error on one: the others would wait forever). */
void clmd_comm_abort(int code);

/* The block of replicas [*first, *first + *count) rank `rank` holds of R. */
void clmd_comm_block(const clmd_comm *c, int rank, int R, int *first, int *count);

/* Every rank's block of `per` doubles per replica, gathered in replica order on every rank:
 * mine holds this rank's count*per values, all receives R*per. */
int clmd_comm_allgather(const clmd_comm *c, int R, int per, const double *mine, double *all,
                        clmd_err *err);
/* The same, to rank 0 only (all may be NULL elsewhere). */
int clmd_comm_gather(const clmd_comm *c, int R, int per, const double *mine, double *all,
                     clmd_err *err);
/* Every rank's byte blobs (nmine of them, sizes[i] bytes each, concatenated in bytes) to rank 0,
 * in rank order: rank 0 gets their number (*nall), sizes (*all_sizes) and bytes (*all), new
 * buffers to clmd_free; elsewhere they come back NULL. */
int clmd_comm_gather_bytes(const clmd_comm *c, int nmine, const long *sizes, const void *bytes,
                           int *nall, long **all_sizes, void **all, clmd_err *err);
/* Sends rank 0's n doubles to every rank. */
int clmd_comm_bcast(const clmd_comm *c, double *v, int n, clmd_err *err);
/* The largest of every rank's x (status codes, step counts) on every rank. */
long clmd_comm_max(const clmd_comm *c, long x);
/* Time spent waiting in collectives (seconds): the campaign's "MPI wait" probe. */
double clmd_comm_wait_s(void);

#endif
