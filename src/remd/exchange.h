/* Replica exchange: the swap step and the statistics of a campaign, as pure functions of
 * reduced energies and state assignments (no engine, no I/O), so they can be tested on toys with
 * known answers and run identically on every MPI rank.
 *
 * A campaign has K thermodynamic states (a temperature ladder; later lambda ladders) and K
 * replicas (configurations). u[r*K + k] is replica r's reduced energy in state k (dimensionless,
 * kT units): for a temperature ladder u = beta_k (U_r + P_k V_r). A swap of the states of
 * replicas a (in state i) and b (in state j) is accepted with probability min(1, exp(-d)),
 *   d = u[a][j] + u[b][i] - u[a][i] - u[b][j],
 * which keeps the joint distribution prod_k exp(-u_k) invariant (detailed balance). Replicas keep
 * their coordinates; only the state labels move. */
#ifndef CLMD_REMD_EXCHANGE_H
#define CLMD_REMD_EXCHANGE_H

#include <stdint.h>

#define CLMD_REMD_MAX_STATES 256 /* the deck's CLMD_MAX_REPLICAS */

typedef enum {
    CLMD_REMD_NEIGHBORS = 0, /* neighbour pairs, even pairs (0,1),(2,3).. on even rounds and odd
                              * pairs (1,2),(3,4).. on odd rounds (GROMACS, LAMMPS) */
    CLMD_REMD_ALL            /* K^3 attempts on random pairs of replicas per round (openmmtools'
                              * swap-all, OpenMM's sampler) */
} clmd_remd_scheme;

/* One round of swap attempts. state_of[r] (in/out) is the state replica r holds (a permutation
 * of 0..K-1). The random numbers are Philox keyed by key, counter = (round, attempt). proposed and
 * accepted ([K*K], state pairs, symmetric) are incremented. Returns the number of accepted swaps. */
int clmd_remd_exchange(clmd_remd_scheme scheme, int K, const double *u, int *state_of,
                       const uint32_t key[2], long round, long *proposed, long *accepted);

/* The statistics of a campaign's history: states[t*K + r] is the state replica r held after
 * round t (t = 0..rounds-1, round 0 the start). */
typedef struct clmd_remd_summary {
    int K;
    long rounds;
    double *acceptance;      /* [K-1]: accepted / proposed for the state pairs (i, i+1) */
    double *transition;      /* [K*K]: row-normalized counts of state i -> state j between rounds */
    double lambda2;          /* second-largest eigenvalue of the symmetrized transition matrix */
    double relaxation;       /* 1 / (1 - lambda2), rounds */
    long *round_trips;       /* [K] per replica: trips from state 0 to state K-1 and back */
    double mean_round_trip;  /* rounds per round trip (over every replica), 0 when none */
    double inefficiency;     /* statistical inefficiency of the state index, mean over replicas */
    double *suggested;       /* [K]: a ladder (same end points) evening out the acceptance */
} clmd_remd_summary;

/* Computes the summary from the history and the cumulative counts; ladder[K] is the current
 * ladder (e.g. temperatures) the suggestion is made from. Free with clmd_remd_summary_free. */
void clmd_remd_summarize(int K, long rounds, const int *states, const long *proposed,
                         const long *accepted, const double *ladder, clmd_remd_summary *s);
void clmd_remd_summary_free(clmd_remd_summary *s);

/* Eigenvalues of a symmetric n x n matrix (row-major; destroyed), descending, by Jacobi
 * rotations. */
void clmd_symmetric_eigenvalues(int n, double *a, double *eig);

#endif
