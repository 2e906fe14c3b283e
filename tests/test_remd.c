/* Suite: temperature replica exchange. The swap step and the campaign statistics as pure
 * functions (remd/exchange.h) on toys with exact answers: detailed balance against exact
 * Boltzmann distributions, acceptance against the mean of min(1, exp(-d)), harmonic oscillators
 * whose mean energies and free energies are known in closed form; the replica-exchange log
 * (io/remdlog.h) written, cut and read back; and whole campaigns through the clmd program: the
 * temperature of every state, bit-identical resume, 2-rank MPI equal to one process, bad decks,
 * and clmd remd-report.
 *
 * Statistical tests draw their random numbers from Philox (md/rng.h) with fixed keys, so each
 * gives the same numbers on every run; each margin is stated beside its test with the reason. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mem.h"
#include "io/remdlog.h"
#include "md/rng.h"
#include "remd/exchange.h"
#include "system/system.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers: random numbers, chi-square, block averages
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    uint32_t key[2];
    uint64_t n;
} stream;

static stream stream_make(uint64_t seed)
{
    stream s = {{0, 0}, 0};
    clmd_seed_key(seed, s.key);
    return s;
}

static double uniform(stream *s) { return clmd_uniform(s->key, s->n++, 0x7e57u); }

static double gaussian(stream *s)
{
    double a = uniform(s), b = uniform(s);
    return sqrt(-2 * log(a)) * cos(2 * M_PI * b);
}

/* P(X > x) for X ~ chi-square with an even number of degrees of freedom nu (closed form). */
static double chi2_sf_even(double x, int nu)
{
    double term = 1, sum = 1;
    for (int i = 1; i < nu / 2; i++) {
        term *= x / 2 / i;
        sum += term;
    }
    return exp(-x / 2) * sum;
}

/* Pearson's statistic of counts n[m] against probabilities p[m] over N samples. */
static double chi2_stat(const long *n, const double *p, int M, long N)
{
    double x = 0;
    for (int m = 0; m < M; m++) {
        double e = N * p[m];
        x += (n[m] - e) * (n[m] - e) / e;
    }
    return x;
}

/* Mean of x[0..n) and its standard error from B contiguous blocks (n a multiple of B). */
static double block_mean(const double *x, long n, int B, double *se)
{
    long len = n / B;
    double mean = 0, m2 = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (long t = b * len; t < (b + 1) * len; t++) s += x[t];
        s /= len;
        mean += s;
        m2 += s * s;
    }
    mean /= B;
    double var = (m2 / B - mean * mean) * B / (B - 1);
    *se = sqrt(var > 0 ? var / B : 0);
    return mean;
}

static int is_permutation(const int *p, int K)
{
    int seen[CLMD_REMD_MAX_STATES] = {0};
    for (int r = 0; r < K; r++) {
        if (p[r] < 0 || p[r] >= K || seen[p[r]]) return 0;
        seen[p[r]] = 1;
    }
    return 1;
}

static const uint32_t KEY[2] = {0x1234567u, 0x89abcdeu};

/* ---------------------------------------------------------------------------------------------
 * 1. The swap step
 * ------------------------------------------------------------------------------------------- */

/* Identical rows (every replica has the same reduced energy in each state) give d = 0 for every
 * pair: every attempt is accepted, in both schemes. The energies are dyadic so d is exactly 0
 * in floating point. Neighbours attempt floor(K/2) pairs on even rounds and floor((K-1)/2) on
 * odd ones; "all" makes K^3 attempts. */
static void identical_rows_always_swap(void)
{
    for (int scheme = 0; scheme < 2; scheme++)
        for (int K = 2; K <= 7; K++) {
            double u[49];
            for (int r = 0; r < K; r++)
                for (int k = 0; k < K; k++) u[r * K + k] = 0.125 * k * k - 3.5 * k;
            int state_of[7];
            for (int r = 0; r < K; r++) state_of[r] = r;
            for (long round = 0; round < 64; round++) {
                long prop[49] = {0}, acc[49] = {0};
                int n = clmd_remd_exchange((clmd_remd_scheme)scheme, K, u, state_of, KEY, round, prop, acc);
                long attempts = scheme == CLMD_REMD_ALL ? (long)K * K * K : (round & 1 ? (K - 1) / 2 : K / 2);
                CU_ASSERT_EQUAL(n, attempts);
                CU_ASSERT_EQUAL(memcmp(prop, acc, sizeof prop), 0);
                long total = 0;
                for (int i = 0; i < K; i++)
                    for (int j = i + 1; j < K; j++) total += prop[i * K + j];
                CU_ASSERT_EQUAL(total, attempts);
                CU_ASSERT(is_permutation(state_of, K));
            }
        }
}

/* Neighbours: even rounds try the pairs (0,1),(2,3)..; odd rounds (1,2),(3,4)..; with every swap
 * accepted the assignment after two rounds is known exactly (K = 5: the top state waits on even
 * rounds, the bottom one on odd rounds). */
static void neighbors_alternate_even_and_odd_pairs(void)
{
    const int K = 5;
    double u[25] = {0};
    int s[5] = {0, 1, 2, 3, 4};
    long prop[25] = {0}, acc[25] = {0};
    CU_ASSERT_EQUAL(clmd_remd_exchange(CLMD_REMD_NEIGHBORS, K, u, s, KEY, 0, prop, acc), 2);
    const int after0[5] = {1, 0, 3, 2, 4};
    CU_ASSERT_EQUAL(memcmp(s, after0, sizeof s), 0);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            int lo = i < j ? i : j, hi = i < j ? j : i;
            long want = hi == lo + 1 && lo % 2 == 0 ? 1 : 0;
            CU_ASSERT_EQUAL(prop[i * K + j], want);
        }
    memset(prop, 0, sizeof prop);
    /* an odd round (a large one: only its parity counts) */
    CU_ASSERT_EQUAL(clmd_remd_exchange(CLMD_REMD_NEIGHBORS, K, u, s, KEY, 1000001, prop, acc), 2);
    const int after1[5] = {2, 0, 4, 1, 3};
    CU_ASSERT_EQUAL(memcmp(s, after1, sizeof s), 0);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            int lo = i < j ? i : j, hi = i < j ? j : i;
            long want = hi == lo + 1 && lo % 2 == 1 ? 1 : 0;
            CU_ASSERT_EQUAL(prop[i * K + j], want);
        }
}

/* Random energies over many rounds, both schemes, odd and even K: state_of stays a permutation,
 * proposed and accepted stay symmetric with accepted <= proposed and an empty diagonal,
 * neighbours only ever pair adjacent states, the return value is the round's accepted swaps, the
 * same inputs give the same decisions (a restart depends on it), and a NaN energy never swaps. */
static void counts_symmetric_and_state_of_a_permutation(void)
{
    stream rng = stream_make(101);
    for (int scheme = 0; scheme < 2; scheme++)
        for (int K = 6; K <= 7; K++) {
            double u[49];
            int s[7], s2[7];
            long prop[49] = {0}, acc[49] = {0};
            for (int r = 0; r < K; r++) s[r] = r;
            int ok_perm = 1, ok_sym = 1, ok_adj = 1, ok_ret = 1, ok_det = 1;
            long swaps = 0;
            for (long round = 0; round < 2000; round++) {
                for (int r = 0; r < K; r++) {
                    double U = 20 * gaussian(&rng);
                    for (int k = 0; k < K; k++) u[r * K + k] = (1.0 + 0.05 * k) * U;
                }
                long before = 0;
                for (int i = 0; i < K; i++)
                    for (int j = i + 1; j < K; j++) before += acc[i * K + j];
                memcpy(s2, s, sizeof s);
                long p2[49] = {0}, a2[49] = {0};
                int n = clmd_remd_exchange((clmd_remd_scheme)scheme, K, u, s, KEY, round, prop, acc);
                int n2 = clmd_remd_exchange((clmd_remd_scheme)scheme, K, u, s2, KEY, round, p2, a2);
                ok_det &= n == n2 && memcmp(s, s2, sizeof(int) * K) == 0;
                long after = 0;
                for (int i = 0; i < K; i++)
                    for (int j = i + 1; j < K; j++) after += acc[i * K + j];
                ok_ret &= after - before == n;
                swaps += n;
                ok_perm &= is_permutation(s, K);
            }
            for (int i = 0; i < K; i++) {
                ok_sym &= prop[i * K + i] == 0 && acc[i * K + i] == 0;
                for (int j = 0; j < K; j++) {
                    ok_sym &= prop[i * K + j] == prop[j * K + i] && acc[i * K + j] == acc[j * K + i] &&
                              acc[i * K + j] <= prop[i * K + j];
                    if (scheme == CLMD_REMD_NEIGHBORS && abs(i - j) != 1) ok_adj &= prop[i * K + j] == 0;
                }
            }
            CU_ASSERT(ok_perm);
            CU_ASSERT(ok_sym);
            CU_ASSERT(ok_adj);
            CU_ASSERT(ok_ret);
            CU_ASSERT(ok_det);
            CU_ASSERT(swaps > 0); /* the energies allow swaps: some happened */
        }
    /* a NaN energy (a blown-up replica) never swaps */
    for (int scheme = 0; scheme < 2; scheme++) {
        const int K = 4;
        double u[16] = {0};
        for (int k = 0; k < K; k++) u[1 * K + k] = NAN;
        int s[4] = {0, 1, 2, 3};
        long prop[16] = {0}, acc[16] = {0};
        for (long round = 0; round < 50; round++)
            clmd_remd_exchange((clmd_remd_scheme)scheme, K, u, s, KEY, round, prop, acc);
        CU_ASSERT_EQUAL(s[1], 1);
        for (int k = 0; k < K; k++) CU_ASSERT_EQUAL(acc[1 * K + k], 0);
    }
}

/* Neighbours, K = 4, 200,000 rounds of fresh random energies (u = beta_k U_r, U_r Gaussian):
 * each attempt's acceptance probability p = min(1, exp(-d)) is computed here before the call, and
 * the accepted count of each pair must equal sum p within 4 sigma, sigma^2 = sum p(1 - p) (a sum
 * of independent Bernoulli trials). A test that compared with exp(+d), or with exp(-d/2), is off
 * by hundreds of sigma. */
static void acceptance_matches_min_1_exp_minus_delta(void)
{
    const int K = 4;
    const long rounds = 200000;
    const double beta[4] = {1.0, 1.1, 1.2, 1.3};
    stream rng = stream_make(202);
    double expect[3] = {0}, var[3] = {0}, u[16];
    int s[4] = {0, 1, 2, 3};
    long prop[16] = {0}, acc[16] = {0};
    for (long round = 0; round < rounds; round++) {
        for (int r = 0; r < K; r++) {
            double U = 8 * gaussian(&rng);
            for (int k = 0; k < K; k++) u[r * K + k] = beta[k] * U;
        }
        int in[4];
        for (int r = 0; r < K; r++) in[s[r]] = r;
        for (int i = (int)(round & 1); i + 1 < K; i += 2) {
            int a = in[i], b = in[i + 1];
            double d = u[a * K + i + 1] + u[b * K + i] - u[a * K + i] - u[b * K + i + 1];
            double p = fmin(1, exp(-d));
            expect[i] += p;
            var[i] += p * (1 - p);
        }
        clmd_remd_exchange(CLMD_REMD_NEIGHBORS, K, u, s, KEY, round, prop, acc);
    }
    for (int i = 0; i + 1 < K; i++) {
        double z = (acc[i * K + i + 1] - expect[i]) / sqrt(var[i]);
        printf("\n  pair %d-%d: %ld of %ld accepted, expected %.1f (z = %.2f)", i, i + 1,
               acc[i * K + i + 1], prop[i * K + i + 1], expect[i], z);
        ASSERT_BELOW(fabs(z), 4, "|accepted - sum p| / sigma (neighbours)");
        CU_ASSERT_EQUAL(prop[i * K + i + 1], rounds / 2); /* (0,1), (2,3) even rounds, (1,2) odd */
    }
}

/* "all", K = 2: each round makes K^3 = 8 attempts on the one pair, each seeing the previous
 * ones, so an accepted swap flips the sign of d for the next attempt. The exact distribution of
 * the number accepted in a round follows from a two-state recursion (original or swapped, count
 * so far), giving its mean and variance; summed over 200,000 independent rounds, the observed
 * total must be within 4 sigma. */
static void all_scheme_acceptance_matches_exact_chain(void)
{
    const int K = 2, tries = 8;
    const long rounds = 200000;
    stream rng = stream_make(303);
    double expect = 0, var = 0, u[4];
    int s[2] = {0, 1};
    long prop[4] = {0}, acc[4] = {0};
    for (long round = 0; round < rounds; round++) {
        for (int r = 0; r < K; r++) {
            double U = 2 * gaussian(&rng);
            u[r * K + 0] = 1.0 * U;
            u[r * K + 1] = 1.4 * U;
        }
        /* d of the current assignment; after a swap it is -d */
        int a = s[0] == 0 ? 0 : 1, b = 1 - a; /* a holds state 0 */
        double d = u[a * K + 1] + u[b * K + 0] - u[a * K + 0] - u[b * K + 1];
        const double pr[2] = {fmin(1, exp(-d)), fmin(1, exp(d))};
        double dist[2][9] = {{1}, {0}};
        for (int t = 0; t < tries; t++) {
            double nd[2][9] = {{0}};
            for (int st = 0; st < 2; st++)
                for (int c = 0; c <= t; c++) {
                    double q = dist[st][c];
                    if (q == 0) continue;
                    nd[1 - st][c + 1] += q * pr[st];
                    nd[st][c] += q * (1 - pr[st]);
                }
            memcpy(dist, nd, sizeof dist);
        }
        double m1 = 0, m2 = 0;
        for (int st = 0; st < 2; st++)
            for (int c = 0; c <= tries; c++) {
                m1 += c * dist[st][c];
                m2 += (double)c * c * dist[st][c];
            }
        expect += m1;
        var += m2 - m1 * m1;
        clmd_remd_exchange(CLMD_REMD_ALL, K, u, s, KEY, round, prop, acc);
    }
    double z = (acc[1] - expect) / sqrt(var);
    printf("\n  all-pairs K=2: %ld of %ld accepted, expected %.1f (z = %.2f)", acc[1], prop[1], expect, z);
    CU_ASSERT_EQUAL(prop[1], rounds * tries);
    ASSERT_BELOW(fabs(z), 4, "|accepted - exact mean| / sigma (all-pairs)");
}

/* Detailed balance on a toy with known weights: 4 states (beta 0.3 .. 1.6) and configurations
 * of 5 energy levels. Before each round every replica draws its configuration exactly from the
 * Boltzmann distribution of the state it holds; after the swap step, the configuration found in
 * each state must still follow that state's Boltzmann distribution (the swap step keeps the
 * product distribution invariant). Pearson chi-square over 100,000 rounds with 4 degrees of
 * freedom, each state required above p = 1e-4 (4 states x 2 schemes: a false alarm about once
 * in 1,200 seeds). A negative control (identical rows: every pair swaps whatever the
 * configurations) fails the same check by far, showing the test can fail. */
static void detailed_balance_on_a_discrete_toy(void)
{
    enum { K = 4, M = 5 };
    const double beta[K] = {0.3, 0.6, 1.0, 1.6}, E[M] = {0, 1, 2, 3.5, 5};
    const long rounds = 100000;
    double P[K][M];
    for (int k = 0; k < K; k++) {
        double z = 0;
        for (int m = 0; m < M; m++) z += P[k][m] = exp(-beta[k] * E[m]);
        for (int m = 0; m < M; m++) P[k][m] /= z;
    }
    for (int pass = 0; pass < 3; pass++) {
        int control = pass == 2;
        clmd_remd_scheme scheme = pass == 1 ? CLMD_REMD_ALL : CLMD_REMD_NEIGHBORS;
        stream rng = stream_make(404 + (uint64_t)pass);
        long hist[K][M] = {{0}}, prop[K * K] = {0}, acc[K * K] = {0};
        int s[K] = {0, 1, 2, 3}, cfg[K];
        double u[K * K];
        for (long round = 0; round < rounds; round++) {
            for (int r = 0; r < K; r++) {
                double x = uniform(&rng), c = 0;
                int m = 0;
                while (m < M - 1 && x > (c += P[s[r]][m])) m++;
                cfg[r] = m;
                for (int k = 0; k < K; k++) u[r * K + k] = control ? 0 : beta[k] * E[m];
            }
            clmd_remd_exchange(scheme, K, u, s, KEY, round, prop, acc);
            for (int r = 0; r < K; r++) hist[s[r]][cfg[r]]++;
        }
        double worst = 1;
        for (int k = 0; k < K; k++) {
            double x = chi2_stat(hist[k], P[k], M, rounds), p = chi2_sf_even(x, M - 1);
            if (!control) {
                printf("\n  %s, state %d: chi2 = %.2f (4 dof), p = %.3g", pass ? "all" : "neighbors", k, x, p);
                CU_ASSERT(p > 1e-4);
            }
            worst = fmin(worst, p);
        }
        long accepted = 0;
        for (int i = 0; i + 1 < K; i++) accepted += acc[i * K + i + 1];
        CU_ASSERT(accepted > 0);
        if (control) {
            printf("\n  control (every pair swaps): smallest p = %.3g", worst);
            CU_ASSERT(worst < 1e-10);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * 2. Harmonic oscillators: exact mean energies, visits, free energies
 * ------------------------------------------------------------------------------------------- */

static double fermi(double z) { return z > 0 ? exp(-z) / (1 + exp(-z)) : 1 / (1 + exp(z)); }

/* Bennett's acceptance ratio with equal sample sizes: df = f1 - f0 from forward works
 * wf = u1 - u0 on samples of state 0 and reverse works wr = u0 - u1 on samples of state 1; the
 * root of sum fermi(wf - df) = sum fermi(wr + df), by bisection (the left side grows with df,
 * the right side falls). */
static double bar(const double *wf, const double *wr, long n)
{
    double lo = -100, hi = 100;
    for (int it = 0; it < 200 && hi - lo > 1e-12; it++) {
        double df = 0.5 * (lo + hi), g = 0;
        for (long i = 0; i < n; i++) g += fermi(wf[i] - df) - fermi(wr[i] + df);
        if (g > 0) hi = df;
        else lo = df;
    }
    return 0.5 * (lo + hi);
}

/* d-dimensional harmonic oscillators U = |x|^2 / 2 (k_B = 1, spring constant 1) on a geometric
 * ladder of K = 6 temperatures 1 .. 3; before each round each replica's configuration is drawn
 * exactly (x ~ N(0, T) per coordinate) at the temperature of the state it holds; u = U / T_k.
 * After the swaps, per state over 40,000 rounds cut into 100 blocks of 400 (standard errors from
 * the spread of the block estimates; a block is required to be at least 10 relaxation times of
 * the state index, from clmd_remd_summarize, so the blocks are nearly independent):
 *  - the mean potential equals d/2 T_k within 4 standard errors;
 *  - every replica spends 1/K of its rounds in each state: each of the 36 fractions within 4.5
 *    standard errors (the worst of 36; with a t distribution of 99 degrees of freedom a fair
 *    sampler exceeds 4.5 about once in 1,000 seeds), and none below half of 1/K;
 *  - BAR between neighbours, from the u values the swap step saw, recovers
 *    f_{k+1} - f_k = -(d/2) ln(T_{k+1} / T_k) and f_k - f_0 within 3 sigma each. */
static void harmonic_oscillators_exact_answers(clmd_remd_scheme scheme)
{
    enum { K = 6, D = 10, B = 100 };
    const long rounds = 40000, len = rounds / B;
    double T[K];
    for (int k = 0; k < K; k++) T[k] = pow(3.0, (double)k / (K - 1));
    stream rng = stream_make(scheme == CLMD_REMD_ALL ? 606 : 505);
    double *Ust = clmd_calloc((size_t)rounds * K, sizeof(double)); /* U of the config in state k */
    int *hist = clmd_calloc((size_t)(rounds + 1) * K, sizeof(int));
    int s[K];
    long prop[K * K] = {0}, acc[K * K] = {0};
    double u[K * K], U[K];
    for (int r = 0; r < K; r++) s[r] = hist[r] = r;
    for (long t = 0; t < rounds; t++) {
        for (int r = 0; r < K; r++) {
            double sum = 0, sd = sqrt(T[s[r]]);
            for (int i = 0; i < D; i++) {
                double x = sd * gaussian(&rng);
                sum += x * x;
            }
            U[r] = 0.5 * sum;
            for (int k = 0; k < K; k++) u[r * K + k] = U[r] / T[k];
        }
        clmd_remd_exchange(scheme, K, u, s, KEY, t, prop, acc);
        for (int r = 0; r < K; r++) {
            Ust[t * K + s[r]] = U[r];
            hist[(t + 1) * K + r] = s[r];
        }
    }
    const char *name = scheme == CLMD_REMD_ALL ? "all" : "neighbors";
    double *series = clmd_calloc((size_t)rounds, sizeof(double));
    /* mean potential per state */
    for (int k = 0; k < K; k++) {
        for (long t = 0; t < rounds; t++) series[t] = Ust[t * K + k];
        double se, m = block_mean(series, rounds, B, &se), want = 0.5 * D * T[k];
        printf("\n  %s: state %d (T = %.4f): <U> = %.4f, exact %.4f, se %.4f (z = %.2f)", name, k,
               T[k], m, want, se, (m - want) / se);
        ASSERT_BELOW(fabs(m - want) / se, 4, "|<U> - d/2 T| / standard error");
    }
    /* visits: each replica ~1/K of its rounds in each state */
    double worst_z = 0, lowest = 1;
    for (int r = 0; r < K; r++)
        for (int k = 0; k < K; k++) {
            for (long t = 0; t < rounds; t++) series[t] = hist[(t + 1) * K + r] == k;
            double se, f = block_mean(series, rounds, B, &se);
            worst_z = fmax(worst_z, fabs(f - 1.0 / K) / se);
            lowest = fmin(lowest, f);
        }
    printf("\n  %s: fraction of rounds of a replica in a state: lowest %.4f (1/K = %.4f), worst z %.2f",
           name, lowest, 1.0 / K, worst_z);
    ASSERT_BELOW(worst_z, 4.5, "worst |fraction - 1/K| / block standard error (of 36)");
    CU_ASSERT(lowest > 0.5 / K);
    /* the summary of this history: round trips happened, relaxation is short against a block */
    clmd_remd_summary sum;
    clmd_remd_summarize(K, rounds + 1, hist, prop, acc, T, &sum);
    long trips = 0;
    for (int r = 0; r < K; r++) trips += sum.round_trips[r];
    printf("\n  %s: acceptance", name);
    for (int i = 0; i + 1 < K; i++) printf(" %.3f", sum.acceptance[i]);
    printf("; relaxation %.2f rounds; %ld round trips", sum.relaxation, trips);
    CU_ASSERT(trips > 0);
    ASSERT_BELOW(sum.relaxation * 10, (double)len, "10 x relaxation time vs block length (rounds)");
    clmd_remd_summary_free(&sum);
    /* free energies by BAR between neighbours, from the u samples; sigma of f_k - f_0 from the
     * spread of the blocks' sums (neighbouring pairs share a state's samples: not independent) */
    double *wf = clmd_calloc((size_t)rounds, sizeof(double)), *wr = clmd_calloc((size_t)rounds, sizeof(double));
    double f = 0, fb[B] = {0};
    for (int k = 0; k + 1 < K; k++) {
        for (long t = 0; t < rounds; t++) {
            /* u_j(x) = U / T_j for the configuration held in state k (forward) or k+1 (reverse) */
            wf[t] = Ust[t * K + k] / T[k + 1] - Ust[t * K + k] / T[k];
            wr[t] = Ust[t * K + k + 1] / T[k] - Ust[t * K + k + 1] / T[k + 1];
        }
        double all = bar(wf, wr, rounds), m = 0, m2 = 0, c = 0, c2 = 0;
        for (int b = 0; b < B; b++) {
            double x = bar(wf + b * len, wr + b * len, len);
            m += x;
            m2 += x * x;
            fb[b] += x;
            c += fb[b];
            c2 += fb[b] * fb[b];
        }
        m /= B;
        c /= B;
        double sigma = sqrt((m2 / B - m * m) / (B - 1)), sigma_f = sqrt((c2 / B - c * c) / (B - 1));
        double want = -0.5 * D * log(T[k + 1] / T[k]), want_f = -0.5 * D * log(T[k + 1] / T[0]);
        f += all;
        printf("\n  %s: f%d - f%d = %.5f (exact %.5f, sigma %.5f, z %.2f); f%d - f0 = %.5f (exact "
               "%.5f, sigma %.5f, z %.2f)", name, k + 1, k, all, want, sigma, (all - want) / sigma,
               k + 1, f, want_f, sigma_f, (f - want_f) / sigma_f);
        ASSERT_BELOW(fabs(all - want) / sigma, 3, "|BAR f_k+1 - f_k - exact| / sigma");
        ASSERT_BELOW(fabs(f - want_f) / sigma_f, 3, "|BAR f_k - f_0 - exact| / sigma");
    }
    clmd_free(wf);
    clmd_free(wr);
    clmd_free(series);
    clmd_free(Ust);
    clmd_free(hist);
}

static void harmonic_oscillators_neighbors(void) { harmonic_oscillators_exact_answers(CLMD_REMD_NEIGHBORS); }
static void harmonic_oscillators_all(void) { harmonic_oscillators_exact_answers(CLMD_REMD_ALL); }

/* ---------------------------------------------------------------------------------------------
 * 3. Statistics on hand-made histories
 * ------------------------------------------------------------------------------------------- */

/* Eigenvalues of the n x n tridiagonal matrix (2 on the diagonal, -1 beside it) are
 * 2 - 2 cos(k pi / (n + 1)), k = 1..n; and of a diagonal matrix, its diagonal, sorted. */
static void symmetric_eigenvalues_of_known_matrices(void)
{
    for (int n = 1; n <= 9; n++) {
        double a[81] = {0}, eig[9], want[9];
        for (int i = 0; i < n; i++) {
            a[i * n + i] = 2;
            if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = -1;
            want[i] = 2 - 2 * cos((n - i) * M_PI / (n + 1)); /* descending */
        }
        clmd_symmetric_eigenvalues(n, a, eig);
        for (int i = 0; i < n; i++)
            ASSERT_REL(eig[i], want[i], 1e-12, 1, "tridiagonal eigenvalue", "closed form; Jacobi converges to ~1e-15");
    }
    double d[16] = {0.5, 0, 0, 0, 0, -1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0.25}, eig[4];
    clmd_symmetric_eigenvalues(4, d, eig);
    const double want[4] = {3, 0.5, 0.25, -1};
    for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(eig[i], want[i]);
}

/* A history of K = 3 whose answers are counted by hand:
 *   replica 0: 0 1 2 1 0 1 2 2 0   two round trips (rounds 0->4 and 4->8): 4 rounds each
 *   replica 1: 1 0 0 0 1 0 0 1 1   never at the top: none
 *   replica 2: 2 2 1 2 2 2 1 0 2   starts at the top; reaches the bottom at 7, not back: none
 * and acceptance = accepted / proposed per neighbour pair (0 where nothing was proposed). */
static void round_trips_and_acceptance_counted_exactly(void)
{
    enum { K = 3, R = 9 };
    const int rep[K][R] = {{0, 1, 2, 1, 0, 1, 2, 2, 0}, {1, 0, 0, 0, 1, 0, 0, 1, 1}, {2, 2, 1, 2, 2, 2, 1, 0, 2}};
    int h[R * K];
    for (int t = 0; t < R; t++)
        for (int r = 0; r < K; r++) h[t * K + r] = rep[r][t];
    for (int t = 0; t < R; t++) CU_ASSERT_FATAL(is_permutation(h + t * K, K));
    const long prop[9] = {0, 10, 0, 10, 0, 4, 0, 4, 0}, acc[9] = {0, 7, 0, 7, 0, 1, 0, 1, 0};
    const double ladder[3] = {300, 350, 400};
    clmd_remd_summary s;
    clmd_remd_summarize(K, R, h, prop, acc, ladder, &s);
    CU_ASSERT_EQUAL(s.K, K);
    CU_ASSERT_EQUAL(s.rounds, R);
    CU_ASSERT_EQUAL(s.round_trips[0], 2);
    CU_ASSERT_EQUAL(s.round_trips[1], 0);
    CU_ASSERT_EQUAL(s.round_trips[2], 0);
    CU_ASSERT_EQUAL(s.mean_round_trip, 4.0);
    CU_ASSERT_EQUAL(s.acceptance[0], 0.7);
    CU_ASSERT_EQUAL(s.acceptance[1], 0.25);
    /* transitions counted by hand over the 8 steps x 3 replicas */
    const double count[9] = {3, 4, 1, 4, 1, 3, 1, 3, 4};
    for (int i = 0; i < K; i++) {
        double row = 0;
        for (int j = 0; j < K; j++) row += count[i * K + j];
        for (int j = 0; j < K; j++)
            ASSERT_REL(s.transition[i * K + j], count[i * K + j] / row, 1e-15, 1e-15,
                       "transition matrix entry", "counted by hand");
    }
    /* lambda2: the second eigenvalue of the symmetrized matrix */
    double sym[9], eig[3];
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) sym[i * K + j] = 0.5 * (s.transition[i * K + j] + s.transition[j * K + i]);
    clmd_symmetric_eigenvalues(K, sym, eig);
    CU_ASSERT_EQUAL(s.lambda2, eig[1]);
    ASSERT_REL(s.relaxation, 1 / (1 - eig[1]), 1e-15, 0, "relaxation", "1 / (1 - lambda2)");
    clmd_remd_summary_free(&s);
    /* nothing proposed: acceptance 0, not NaN */
    const long zero[9] = {0};
    clmd_remd_summarize(K, R, h, zero, zero, ladder, &s);
    CU_ASSERT_EQUAL(s.acceptance[0], 0);
    CU_ASSERT_EQUAL(s.acceptance[1], 0);
    clmd_remd_summary_free(&s);
}

/* A deterministic cycle: every round each replica moves from state i to (i + 1) mod 3. The
 * transition matrix is the cyclic shift; its symmetric part has eigenvalues 1, -1/2, -1/2, so
 * lambda2 = -1/2 and the relaxation time 2/3 round. Over rounds 0..6 replica 0 makes 2 round
 * trips, replicas 1 and 2 one each, every one 3 rounds long; the state index never correlates
 * positively, so its inefficiency is 1. Equal acceptances suggest the same ladder back. */
static void deterministic_cycle_and_two_state_matrix(void)
{
    enum { K = 3, R = 7 };
    int h[R * K];
    for (int t = 0; t < R; t++)
        for (int r = 0; r < K; r++) h[t * K + r] = (r + t) % K;
    const long prop[9] = {0, 6, 0, 6, 0, 6, 0, 6, 0}, acc[9] = {0, 3, 0, 3, 0, 3, 0, 3, 0};
    const double ladder[3] = {300, 330, 363};
    clmd_remd_summary s;
    clmd_remd_summarize(K, R, h, prop, acc, ladder, &s);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) CU_ASSERT_EQUAL(s.transition[i * K + j], j == (i + 1) % K ? 1.0 : 0.0);
    ASSERT_REL(s.lambda2, -0.5, 1e-12, 0, "lambda2 of the 3-cycle", "closed form");
    ASSERT_REL(s.relaxation, 2.0 / 3, 1e-12, 0, "relaxation of the 3-cycle", "1 / (1 - lambda2)");
    CU_ASSERT_EQUAL(s.round_trips[0], 2);
    CU_ASSERT_EQUAL(s.round_trips[1], 1);
    CU_ASSERT_EQUAL(s.round_trips[2], 1);
    CU_ASSERT_EQUAL(s.mean_round_trip, 3.0);
    CU_ASSERT_EQUAL(s.inefficiency, 1.0);
    for (int k = 0; k < K; k++)
        ASSERT_REL(s.suggested[k], ladder[k], 1e-12, 0, "suggested ladder", "equal acceptances: unchanged");
    clmd_remd_summary_free(&s);

    /* two states swapping in 2 of 8 steps: P = [[3/4, 1/4], [1/4, 3/4]], eigenvalues 1 and 1/2 */
    enum { R2 = 9 };
    const int r0[R2] = {0, 0, 1, 1, 1, 1, 0, 0, 0};
    int h2[R2 * 2];
    for (int t = 0; t < R2; t++) {
        h2[t * 2] = r0[t];
        h2[t * 2 + 1] = 1 - r0[t];
    }
    const long p2[4] = {0, 8, 8, 0}, a2[4] = {0, 2, 2, 0};
    const double l2[2] = {1, 2};
    clmd_remd_summarize(2, R2, h2, p2, a2, l2, &s);
    CU_ASSERT_EQUAL(s.transition[0], 0.75);
    CU_ASSERT_EQUAL(s.transition[1], 0.25);
    ASSERT_REL(s.lambda2, 0.5, 1e-14, 0, "lambda2 of the two-state matrix", "closed form");
    ASSERT_REL(s.relaxation, 2.0, 1e-13, 0, "relaxation of the two-state matrix", "1 / (1 - 1/2)");
    CU_ASSERT_EQUAL(s.acceptance[0], 0.25);
    CU_ASSERT_EQUAL(s.suggested[0], 1);
    CU_ASSERT_EQUAL(s.suggested[1], 2);
    clmd_remd_summary_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * 4. The replica-exchange log
 * ------------------------------------------------------------------------------------------- */

enum { LR = 3 };

/* Round t's data, different for each (t, version) so a kept or a dropped row is recognised. */
static void log_round(int t, int version, double *u, int *st, long *prop, long *acc)
{
    for (int r = 0; r < LR; r++) {
        for (int k = 0; k < LR; k++) u[r * LR + k] = 1000.0 * version + 100.0 * t + 10 * r + k + 0.125;
        st[r] = (r + t + version) % LR;
    }
    for (int i = 0; i < LR * LR; i++) {
        prop[i] = (i % 4 == 1) ? 1 + t + version : 0;
        acc[i] = (i % 4 == 1) ? (t + version) % 2 : 0;
    }
}

static void remdlog_create_append_continue_read(void)
{
    const char *tmp = clmd_test_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    char path[4200];
    snprintf(path, sizeof path, "%s/replica_exchange.h5", tmp);
    const double temps[LR] = {300, 330.5, 363.125};
    clmd_remdlog_opts o = {LR, LR, temps, -1, "neighbors", 50, {NULL, NULL, NULL}, {NULL, NULL, NULL}};
    clmd_err err = {0};
    clmd_remdlog *l = NULL;
    double u[LR * LR];
    int st[LR];
    long prop[LR * LR], acc[LR * LR];
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_create(path, &o, &l, &err), CLMD_OK);
    for (int t = 0; t < 6; t++) {
        log_round(t, 0, u, st, prop, acc);
        CU_ASSERT_EQUAL(clmd_remdlog_append(l, u, st, prop, acc, &err), CLMD_OK);
    }
    CU_ASSERT_EQUAL(clmd_remdlog_rounds(l), 6);
    CU_ASSERT_EQUAL(clmd_remdlog_close(&l, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(l);
    /* a restart from round 4: rounds 4 and 5 are dropped and written again (version 1) */
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_continue(path, &o, 4, &l, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_remdlog_rounds(l), 4);
    for (int t = 4; t < 7; t++) {
        log_round(t, 1, u, st, prop, acc);
        CU_ASSERT_EQUAL(clmd_remdlog_append(l, u, st, prop, acc, &err), CLMD_OK);
    }
    CU_ASSERT_EQUAL(clmd_remdlog_close(&l, &err), CLMD_OK);
    clmd_remdlog_data d;
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_read(path, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.replicas, LR);
    CU_ASSERT_EQUAL(d.states, LR);
    CU_ASSERT_EQUAL(d.rounds, 7);
    CU_ASSERT_EQUAL(d.exchange_interval, 50);
    CU_ASSERT_EQUAL(memcmp(d.temperatures, temps, sizeof temps), 0);
    long psum[LR * LR] = {0}, asum[LR * LR] = {0};
    int ok_u = 1, ok_s = 1;
    for (int t = 0; t < 7 && d.rounds == 7; t++) {
        log_round(t, t < 4 ? 0 : 1, u, st, prop, acc);
        ok_u &= memcmp(d.energies + (size_t)t * LR * LR, u, sizeof u) == 0;
        ok_s &= memcmp(d.history + (size_t)t * LR, st, sizeof st) == 0;
        for (int i = 0; i < LR * LR; i++) {
            psum[i] += prop[i];
            asum[i] += acc[i];
        }
    }
    CU_ASSERT(ok_u);
    CU_ASSERT(ok_s);
    CU_ASSERT_EQUAL(memcmp(d.proposed, psum, sizeof psum), 0);
    CU_ASSERT_EQUAL(memcmp(d.accepted, asum, sizeof asum), 0);
    clmd_remdlog_data_free(&d);
    /* the root attributes: no pressure without a barostat, the scheme by name */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), root = H5Gopen2(f, "/", H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0 && root >= 0);
    CU_ASSERT_EQUAL(H5Aexists(root, "pressure_bar"), 0);
    CU_ASSERT(H5Aexists(root, "scheme") > 0);
    H5Gclose(root);
    H5Fclose(f);
    /* continuing past the end keeps every round; a log of another size is refused; a missing one
     * is created */
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_continue(path, &o, 100, &l, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_remdlog_rounds(l), 7);
    CU_ASSERT_EQUAL(clmd_remdlog_close(&l, &err), CLMD_OK);
    const double t4[4] = {300, 310, 320, 330};
    clmd_remdlog_opts o4 = {4, 4, t4, -1, "neighbors", 50, {NULL, NULL, NULL}, {NULL, NULL, NULL}};
    CU_ASSERT_EQUAL(clmd_remdlog_continue(path, &o4, 3, &l, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replica-exchange log"));
    char fresh[4300];
    snprintf(fresh, sizeof fresh, "%s/fresh.h5", tmp);
    clmd_remdlog_opts op = {LR, LR, temps, 1.01325, "all", 20};
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_continue(fresh, &op, 5, &l, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_remdlog_rounds(l), 0);
    CU_ASSERT_EQUAL(clmd_remdlog_close(&l, &err), CLMD_OK);
    f = H5Fopen(fresh, H5F_ACC_RDONLY, H5P_DEFAULT);
    root = H5Gopen2(f, "/", H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0 && root >= 0);
    double pb = 0;
    hid_t a = H5Aopen(root, "pressure_bar", H5P_DEFAULT);
    CU_ASSERT(a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, &pb) >= 0);
    if (a >= 0) H5Aclose(a);
    CU_ASSERT_EQUAL(pb, 1.01325);
    H5Gclose(root);
    H5Fclose(f);
    CU_ASSERT_EQUAL(clmd_remdlog_read(fresh, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.rounds, 0);
    CU_ASSERT_EQUAL(d.exchange_interval, 20);
    clmd_remdlog_data_free(&d);
}

/* ---------------------------------------------------------------------------------------------
 * 5. Campaigns through the clmd program
 * ------------------------------------------------------------------------------------------- */

static char cmd[16384];

static int run_clmd(const char *args, char **out)
{
    snprintf(cmd, sizeof cmd, "%s %s", clmd_test_binary(), args);
    return clmd_test_run(cmd, out);
}

/* Runs clmd with args; on an unexpected status prints the output. Returns the status. */
static int run_expect(const char *args, int want)
{
    char *out = NULL;
    int rc = run_clmd(args, &out);
    if (rc != want) printf("\n  clmd %s: status %d, expected %d:\n%s\n", args, rc, want, out ? out : "");
    free(out);
    return rc;
}

static char *write_deck(const char *dir, const char *name, const char *text)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CU_ASSERT_EQUAL(clmd_test_write_file(path, text), 0);
    return path;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *t = malloc((size_t)n + 1);
    size_t got = fread(t, 1, (size_t)n, f);
    fclose(f);
    t[got] = 0;
    if (len) *len = got;
    return t;
}

/* 1: the files are byte for byte equal; 0 and a message otherwise. */
static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *ta = read_text(a, &na), *tb = read_text(b, &nb);
    int same = ta && tb && na == nb && memcmp(ta, tb, na) == 0;
    if (!same) printf("\n  %s and %s differ%s", a, b, ta && tb ? "" : " (one is missing)");
    free(ta);
    free(tb);
    return same;
}

/* A whole dataset as raw bytes of its own (file) type: compared bit for bit. */
static void *read_dataset(const char *file, const char *name, size_t *bytes)
{
    *bytes = 0;
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    void *buf = NULL;
    if (d >= 0) {
        hid_t sp = H5Dget_space(d), ft = H5Dget_type(d), mt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
        size_t n = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(mt);
        buf = calloc(n + 1, 1);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            buf = NULL;
        } else {
            *bytes = n;
        }
        H5Tclose(mt);
        H5Tclose(ft);
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Fclose(f);
    return buf;
}

static int same_dataset(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    void *va = read_dataset(a, name, &na), *vb = read_dataset(b, name, &nb);
    int same = va && vb && na == nb && memcmp(va, vb, na) == 0;
    if (!same) printf("\n  %s differs between %s (%zu bytes) and %s (%zu bytes)", name, a, na, b, nb);
    free(va);
    free(vb);
    return same;
}

/* Every output of two campaign directories (K states) equal: each state's energies.csv byte for
 * byte and its trajectory's datasets, replica_exchange.h5's datasets, summary.json and the
 * checkpoint byte for byte. */
static int campaigns_equal(const char *a, const char *b, int K, int traj, int same_split)
{
    char pa[4300], pb[4300];
    int ok = 1;
    for (int k = 0; k < K; k++) {
        snprintf(pa, sizeof pa, "%s/state_%03d/energies.csv", a, k);
        snprintf(pb, sizeof pb, "%s/state_%03d/energies.csv", b, k);
        ok &= same_file(pa, pb);
        if (!traj) continue;
        snprintf(pa, sizeof pa, "%s/state_%03d/traj.h5", a, k);
        snprintf(pb, sizeof pb, "%s/state_%03d/traj.h5", b, k);
        static const char *const sets[] = {"/particles/all/position/value", "/particles/all/position/step",
                                           "/particles/all/position/time", "/observables/potential_energy/value"};
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) ok &= same_dataset(pa, pb, sets[i]);
    }
    snprintf(pa, sizeof pa, "%s/replica_exchange.h5", a);
    snprintf(pb, sizeof pb, "%s/replica_exchange.h5", b);
    static const char *const sets[] = {"energies", "states", "proposed", "accepted"};
    for (size_t i = 0; i < 4; i++) ok &= same_dataset(pa, pb, sets[i]);
    /* the checkpoint holds one blob per engine: equal only for the same split of the replicas */
    static const char *const files[] = {"summary.json", "walk.svg", "acceptance.svg", "state.chk"};
    for (size_t i = 0; i < (same_split ? 4u : 3u); i++) {
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        ok &= same_file(pa, pb);
    }
    return ok;
}

/* A CSV file as a table of numbers: the header's names and the rows. */
typedef struct {
    int ncol;
    long nrow;
    char name[32][32];
    double *v; /* [nrow * ncol] */
} table;

static int table_read(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    char *text = read_text(path, NULL);
    if (!text) return -1;
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    for (char *p = line, *tok; p; p = tok ? tok + 1 : NULL) {
        tok = strchr(p, ',');
        if (tok) *tok = 0;
        if (t->ncol < 32) snprintf(t->name[t->ncol++], 32, "%s", p);
    }
    long cap = 256;
    t->v = calloc((size_t)cap * t->ncol, sizeof(double));
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (t->nrow == cap) t->v = realloc(t->v, sizeof(double) * (size_t)(cap *= 2) * t->ncol);
        char *p = line;
        for (int c = 0; c < t->ncol; c++) {
            char *end;
            t->v[t->nrow * t->ncol + c] = strtod(p, &end);
            p = *end == ',' ? end + 1 : end;
        }
        t->nrow++;
    }
    free(text);
    return 0;
}

static int table_col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncol; c++)
        if (strcmp(t->name[c], name) == 0) return c;
    return -1;
}

static void table_free(table *t)
{
    free(t->v);
    t->v = NULL;
}

static int have_opencl(void)
{
    char *out = NULL;
    int rc = run_clmd("devices", &out);
    int yes = rc == 0 && out && strstr(out, "platform 0") != NULL;
    free(out);
    return yes;
}

/* The backend of the campaign tests: the extra arguments of `clmd run`. Every end-to-end test
 * of a campaign's results (temperatures, resume) runs once per backend. */
#define BACKEND_ONE_AT_A_TIME "--replicas-per-device 1"
/* All of a process's replicas as copies in one engine (one launch per kernel for all). */
#define BACKEND_BATCHED "--replicas-per-device auto"

/* 5a. Argon (256 LJ atoms, built in), 4 states 100-112 K, Langevin at friction 20/ps: every
 * state's mean kinetic temperature within 2% of its target.
 * Why this system and length: the instantaneous kinetic temperature of N_dof = 3*256 - 3 = 765
 * degrees of freedom fluctuates by sqrt(2 / N_dof) = 5.1%. Energies are written every 5 steps
 * (0.025 ps) for 400 rounds of 10 steps (20 ps per replica), the first 2 ps left out: 720 rows
 * per state. At friction 20/ps the kinetic energy decorrelates within ~0.05 ps, so about 1 row
 * in 4 is independent: the standard error of each state's mean is about 5.1% / sqrt(180) = 0.4%,
 * and the 2% bound is about 5 standard errors (the test prints the block estimate of each).
 * The alanine dipeptide (51 degrees of freedom, 20% fluctuations) would need ~40x the samples.
 * A plain Langevin run of this system at 100 and 112 K (16,000 steps) reads +0.38% (the
 * integrator's kinetic-temperature error at 5 fs), so the bound also leaves room for that.
 * The same campaign checks that swaps happened (the replica column of each state's energies.csv
 * changes), that replica_exchange.h5 holds one row per round, that its reduced energies are the
 * rows' U / (k_B T_k), that every row sits in the file of the state its replica held, and that
 * the swap step replayed on the logged energies gives the logged assignments and counts. */
static void temperatures_case(const char *backend)
{
    if (!have_opencl()) CLMD_SKIP("no OpenCL device (clmd devices lists none)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    enum { K = 4, ROUNDS = 400, INTERVAL = 10, EVERY = 5 };
    const double T[K] = {100, 104, 108, 112};
    char text[4096], args[4096];
    snprintf(text, sizeof text,
             "title: argon replica exchange, temperatures\n"
             "system: {builtin: lj_fcc, cells: 4, reduced_density: 0.8442}\n"
             "nonbonded: {method: cutoff, cutoff: 0.85}\n"
             "velocities: {temperature: 100, seed: 3}\n"
             "integrator: {type: langevin, timestep: 0.005, temperature: 100, friction: 20.0, seed: 1}\n"
             "replica_exchange:\n"
             "  temperatures: [%g, %g, %g, %g]\n"
             "  exchange_interval: %d\n"
             "  exchanges: %d\n"
             "  seed: 5\n"
             "output: {directory: out, energies: {file: energies.csv, interval: %d}, checkpoint: null}\n"
             "device: auto\n",
             T[0], T[1], T[2], T[3], INTERVAL, ROUNDS, EVERY);
    const char *deck = write_deck(dir, "argon_remd.yaml", text);
    snprintf(args, sizeof args, "run %s --quiet %s", deck, backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    const long rows = (long)ROUNDS * INTERVAL / EVERY + 1, skip = (long)(2.0 / 0.005) / EVERY;
    char path[4300];
    snprintf(path, sizeof path, "%s/out/replica_exchange.h5", dir);
    clmd_remdlog_data d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_read(path, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.rounds, ROUNDS);
    CU_ASSERT_EQUAL(d.replicas, K);
    CU_ASSERT_EQUAL(d.exchange_interval, INTERVAL);
    CU_ASSERT_EQUAL(memcmp(d.temperatures, T, sizeof T), 0);
    CU_ASSERT_FATAL(d.rounds == ROUNDS && d.replicas == K);
    /* h[t]: the assignment during segment t (h[0] the start); the log's states are the
     * assignment after each round. Replaying the swap step on the logged energies with the
     * campaign's stream (Philox keyed by clmd_seed_key(replica_exchange.seed)) must give every
     * logged assignment: the campaign decides by clmd_remd_exchange on exactly these energies. */
    int *h = clmd_calloc((size_t)(ROUNDS + 1) * K, sizeof(int));
    for (int r = 0; r < K; r++) h[r] = r;
    memcpy(h + K, d.history, sizeof(int) * ROUNDS * K);
    uint32_t key[2];
    clmd_seed_key(5, key);
    int replay_ok = 1, perm_ok = 1;
    {
        int s[K] = {0, 1, 2, 3};
        long prop[K * K] = {0}, acc[K * K] = {0};
        for (long t = 0; t < ROUNDS; t++) {
            clmd_remd_exchange(CLMD_REMD_NEIGHBORS, K, d.energies + t * K * K, s, key, t, prop, acc);
            replay_ok &= memcmp(s, h + (t + 1) * K, sizeof s) == 0;
            perm_ok &= is_permutation(h + (t + 1) * K, K);
        }
        CU_ASSERT_EQUAL(memcmp(prop, d.proposed, sizeof prop), 0);
        CU_ASSERT_EQUAL(memcmp(acc, d.accepted, sizeof acc), 0);
    }
    CU_ASSERT(perm_ok);
    CU_ASSERT(replay_ok);
    long accepted = 0;
    for (int i = 0; i + 1 < K; i++) accepted += d.accepted[i * K + i + 1];
    CU_ASSERT(accepted > 0);
    enum { B = 20 };
    int demux_ok = 1, u_ok = 1;
    double worst_u = 0;
    for (int k = 0; k < K; k++) {
        snprintf(path, sizeof path, "%s/out/state_%03d/energies.csv", dir, k);
        table t;
        CU_ASSERT_EQUAL_FATAL(table_read(path, &t), 0);
        int cT = table_col(&t, "temperature_K"), cr = table_col(&t, "replica"),
            cs = table_col(&t, "step"), cu = table_col(&t, "potential");
        CU_ASSERT_FATAL(cT >= 0 && cr >= 0 && cs >= 0 && cu >= 0);
        CU_ASSERT_EQUAL(t.nrow, rows);
        /* each row comes from the replica that held state k during its segment; a row at a
         * round's end holds the energy the swap test used, U / (k_B T_j) in every state j */
        for (long i = 0; i < t.nrow; i++) {
            const double *row = t.v + i * t.ncol;
            long step = (long)row[cs], seg = step > 0 ? (step - 1) / INTERVAL : 0;
            int r = (int)row[cr];
            if (seg >= ROUNDS || r < 0 || r >= K || h[seg * K + r] != k) {
                demux_ok = 0;
                continue;
            }
            if (step == 0 || step % INTERVAL) continue;
            for (int j = 0; j < K; j++) {
                double want = row[cu] / (CLMD_BOLTZMANN * T[j]), got = d.energies[(seg * K + r) * K + j];
                double rel = fabs(got - want) / fabs(want);
                worst_u = fmax(worst_u, rel);
                u_ok &= rel < 1e-8; /* energies.csv prints 10 significant digits */
            }
        }
        long n = t.nrow - 1 - skip;
        n -= n % B;
        double *x = calloc((size_t)n + 1, sizeof(double));
        int changes = 0;
        for (long i = 0; i < n; i++) x[i] = t.v[(t.nrow - n + i) * t.ncol + cT];
        for (long i = 1; i < t.nrow; i++) changes += t.v[i * t.ncol + cr] != t.v[(i - 1) * t.ncol + cr];
        double se, m = block_mean(x, n, B, &se);
        printf("\n  state %d: mean temperature %.3f K (target %g, %+.2f%%), block standard error "
               "%.3f K (%.2f%%), %d replica changes", k, m, T[k], 100 * (m / T[k] - 1), se,
               100 * se / T[k], changes);
        ASSERT_REL(m, T[k], 0.02, 0, "mean temperature of a state (K)", "issue bound 2%, ~5 standard errors");
        CU_ASSERT(changes > 0);
        free(x);
        table_free(&t);
    }
    printf("\n  reduced energies of the log vs U / kT of the rows: worst relative difference %.2g", worst_u);
    CU_ASSERT(demux_ok);
    CU_ASSERT(u_ok);
    clmd_free(h);
    clmd_remdlog_data_free(&d);
}

static void temperatures_one_replica_at_a_time(void) { temperatures_case(BACKEND_ONE_AT_A_TIME); }

/* Velocities follow a swap: with `velocities: rescale` a replica entering a state of temperature
 * T_new from T_old has its velocities scaled by sqrt(T_new / T_old). Argon (108 atoms), 2 states
 * 100 and 110 K, friction 0.1/ps (nearly Hamiltonian over one step), energies written every
 * step: for every swap, the kinetic temperature one step after it over the one at the round's
 * end (the row just before it) is T_new / T_old to within a third of |T_new / T_old - 1| (one
 * 5 fs step changes the kinetic energy by well under 1%; the ratio is 1.1 or 1/1.1). Without
 * the rescaling it would stay near 1. The temperature test cannot see this: its friction
 * relaxes a wrong kinetic energy within a few steps. */
static void velocities_case(const char *backend)
{
    if (!have_opencl()) CLMD_SKIP("no OpenCL device (clmd devices lists none)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    enum { K = 2, ROUNDS = 40, INTERVAL = 10 };
    const double T[K] = {100, 110};
    char text[4096], args[4096];
    snprintf(text, sizeof text,
             "system: {builtin: lj_fcc, cells: 3, reduced_density: 0.8442}\n"
             "nonbonded: {method: cutoff, cutoff: 0.7}\n"
             "velocities: {temperature: 100, seed: 3}\n"
             "integrator: {type: langevin, timestep: 0.005, temperature: 100, friction: 0.1, seed: 1}\n"
             "replica_exchange: {temperatures: [%g, %g], exchange_interval: %d, exchanges: %d, "
             "velocities: rescale, seed: 8}\n"
             "output: {directory: out, energies: {file: energies.csv, interval: 1}, checkpoint: null}\n"
             "device: auto\n",
             T[0], T[1], INTERVAL, ROUNDS);
    snprintf(args, sizeof args, "run %s --quiet %s", write_deck(dir, "v.yaml", text), backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    /* temperature_K by state and step (rows are written every step from 0) */
    double *Tk[K];
    int ok_rows = 1;
    for (int k = 0; k < K; k++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/out/state_%03d/energies.csv", dir, k);
        table t;
        CU_ASSERT_EQUAL_FATAL(table_read(path, &t), 0);
        int cT = table_col(&t, "temperature_K"), cs = table_col(&t, "step");
        CU_ASSERT_FATAL(cT >= 0 && cs >= 0 && t.nrow == ROUNDS * INTERVAL + 1);
        Tk[k] = calloc((size_t)t.nrow, sizeof(double));
        for (long i = 0; i < t.nrow; i++) {
            ok_rows &= (long)t.v[i * t.ncol + cs] == i;
            Tk[k][i] = t.v[i * t.ncol + cT];
        }
        table_free(&t);
    }
    CU_ASSERT(ok_rows);
    char path[1100];
    snprintf(path, sizeof path, "%s/out/replica_exchange.h5", dir);
    clmd_remdlog_data d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_read(path, &d, &err), CLMD_OK);
    CU_ASSERT_FATAL(d.rounds == ROUNDS && d.replicas == K);
    int swaps = 0, ok = 1;
    double worst = 0;
    for (long t = 0; t + 1 < ROUNDS; t++) { /* the last round's swap has no row after it */
        const int *before = t ? d.history + (t - 1) * K : (const int[K]){0, 1}, *after = d.history + t * K;
        for (int r = 0; r < K; r++) {
            if (before[r] == after[r]) continue;
            long step = (t + 1) * INTERVAL;
            double ratio = Tk[after[r]][step + 1] / Tk[before[r]][step], want = T[after[r]] / T[before[r]];
            double miss = fabs(ratio - want) / fabs(want - 1);
            worst = fmax(worst, miss);
            ok &= miss < 1.0 / 3;
            swaps++;
        }
    }
    printf("\n  %d replica moves; T(after one step) / T(before) vs T_new / T_old: worst miss %.3f of "
           "|T_new / T_old - 1|", swaps, worst);
    CU_ASSERT(swaps >= 4);
    CU_ASSERT(ok);
    clmd_remdlog_data_free(&d);
    for (int k = 0; k < K; k++) free(Tk[k]);
}

static void velocities_one_replica_at_a_time(void) { velocities_case(BACKEND_ONE_AT_A_TIME); }

/* The alanine dipeptide in OBC2 (22 atoms, hbonds constraints), 4 states 300-450 K: the
 * system of inputs/remd_ala2.yaml, shortened. */
static void ala2_deck(char *buf, size_t n, const char *out, const char *device, long exchanges,
                      const char *extra)
{
    const char *prmtop = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    char p[4096];
    snprintf(p, sizeof p, "%s", prmtop ? prmtop : "missing.prmtop");
    const char *inpcrd = clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
    snprintf(buf, n,
             "title: alanine dipeptide replica exchange\n"
             "system:\n"
             "  amber: {prmtop: %s, inpcrd: %s}\n"
             "nonbonded: {method: nocutoff}\n"
             "implicit_solvent: {model: obc2, solvent_dielectric: 78.5, solute_dielectric: 1.0}\n"
             "constraints: hbonds\n"
             "velocities: {temperature: 300, seed: 7}\n"
             "integrator: {type: langevin, timestep: 0.002, temperature: 300, friction: 1.0, seed: 1}\n"
             "replica_exchange:\n"
             "  temperatures: {min: 300, max: 450, count: 4}\n"
             "  exchange_interval: 50\n"
             "  exchanges: %ld\n"
             "  seed: 11\n"
             "%s"
             "output:\n"
             "  directory: %s\n"
             "  trajectory: {file: traj.h5, interval: 100}\n"
             "  energies: {file: energies.csv, interval: 25}\n"
             "  checkpoint: {file: state.chk, interval: 250}\n"
             "device: %s\n",
             p, inpcrd ? inpcrd : "missing.inpcrd", exchanges, extra, out, device);
}

static int have_ala2(void)
{
    return clmd_test_data("systems/alanine-dipeptide-implicit.prmtop") &&
           clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
}

/* 5b. Resume, bit for bit, on PoCL: a campaign of 20 rounds run whole; the same campaign stopped
 * after 10 rounds (--steps 500), continued from its checkpoint to round 14 (--steps 700: more
 * rows, frames and log rounds than the checkpoint holds), then continued again from the round-10
 * checkpoint to the end: every output must equal the uncut campaign's (each state's
 * energies.csv, summary.json, the checkpoint and the SVGs byte for byte; replica_exchange.h5's
 * and the trajectories' datasets bit for bit). The second continuation must drop what the first
 * wrote after round 10. */
static void resume_case(const char *backend)
{
    if (!have_ala2()) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not found");
    if (!have_opencl()) CLMD_SKIP("no OpenCL device (clmd devices lists none)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[16384], args[8192];
    ala2_deck(text, sizeof text, "whole", "auto", 20, "");
    char whole[2048];
    snprintf(whole, sizeof whole, "%s", write_deck(dir, "whole.yaml", text));
    ala2_deck(text, sizeof text, "cut", "auto", 20, "");
    char cut[2048];
    snprintf(cut, sizeof cut, "%s", write_deck(dir, "cut.yaml", text));
    snprintf(args, sizeof args, "run %s --quiet %s", whole, backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    snprintf(args, sizeof args, "run %s --quiet --steps 500 %s", cut, backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    char ck[1100], mid[1100];
    snprintf(ck, sizeof ck, "%s/cut/state.chk", dir);
    snprintf(mid, sizeof mid, "%s/cut/mid.chk", dir);
    snprintf(args, sizeof args, "cp %s %s", ck, mid);
    CU_ASSERT_EQUAL_FATAL(clmd_test_run(args, NULL), 0);
    snprintf(args, sizeof args, "run %s --quiet --steps 700 --restart %s %s", cut, ck, backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    char a[1100];
    snprintf(a, sizeof a, "%s/cut/replica_exchange.h5", dir);
    clmd_remdlog_data d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_read(a, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.rounds, 14);
    clmd_remdlog_data_free(&d);
    snprintf(args, sizeof args, "run %s --quiet --restart %s %s", cut, mid, backend);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    char pw[1100], pc[1100];
    snprintf(pw, sizeof pw, "%s/whole", dir);
    snprintf(pc, sizeof pc, "%s/cut", dir);
    CU_ASSERT(campaigns_equal(pw, pc, 4, 1, 1));
    CU_ASSERT_EQUAL(clmd_remdlog_read(a, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.rounds, 20);
    clmd_remdlog_data_free(&d);
}

static void resume_one_replica_at_a_time(void) { resume_case(BACKEND_ONE_AT_A_TIME); }
static void resume_batched(void) { resume_case(BACKEND_BATCHED); }
static void temperatures_batched(void) { temperatures_case(BACKEND_BATCHED); }
static void velocities_batched(void) { velocities_case(BACKEND_BATCHED); }

/* The batched backend repeats the one-at-a-time one bit for bit where the lists never age (no
 * cutoff): the same forces per copy, the same noise streams (each replica's own seed), the same
 * swaps. Also in batches of 3 (two engines, the last one short). */
static void batched_equals_one_at_a_time(void)
{
    if (!have_ala2()) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not found");
    if (!have_opencl()) CLMD_SKIP("no OpenCL device (clmd devices lists none)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[16384], args[8192], deck[3][2048];
    const char *name[3] = {"one", "all", "three"};
    const char *backend[3] = {BACKEND_ONE_AT_A_TIME, BACKEND_BATCHED, "--replicas-per-device 3"};
    for (int k = 0; k < 3; k++) {
        char file[64];
        snprintf(file, sizeof file, "%s.yaml", name[k]);
        /* PoCL: on GPUs a one-system engine of alanine dipeptide runs GB as one fused kernel
         * (other float sums than the batch's three), so the bitwise property is checked where
         * both run the same kernels */
        ala2_deck(text, sizeof text, name[k], "portable", 12, "");
        snprintf(deck[k], sizeof deck[k], "%s", write_deck(dir, file, text));
        snprintf(args, sizeof args, "run %s --quiet %s", deck[k], backend[k]);
        CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    }
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/one", dir);
    for (int k = 1; k < 3; k++) {
        snprintf(b, sizeof b, "%s/%s", dir, name[k]);
        CU_ASSERT(campaigns_equal(a, b, 4, 1, 0));
    }
}

/* A lambda ladder (Hamiltonian replica exchange): alanine dipeptide in vacuum, atoms 0-9
 * decoupled over 5 states at 300 K. Batched and one-at-a-time campaigns agree bit for bit (the
 * energy matrix is made by rotating each copy's factors through the ladder); the log's diagonal
 * u[r][state of r] is the replica's potential over kT (the row of its state's energies.csv at
 * the round's end); each state's energies.csv has the dU/dlambda columns; and the swaps follow
 * the log's matrix (the swap step replayed on it gives the logged states). */
static void lambda_ladder_campaign(void)
{
    if (!have_opencl()) CLMD_SKIP("no OpenCL device (clmd devices lists none)");
    const char *top = clmd_test_data("systems/alanine-dipeptide-implicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-implicit.inpcrd");
    if (!top || !crd) CLMD_SKIP_DATA("alanine-dipeptide-implicit prmtop/inpcrd");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    const char *name[2] = {"batched", "single"};
    for (int k = 0; k < 2; k++) {
        char text[8192], deck[2048], args[4096];
        snprintf(text, sizeof text,
                 "title: lambda ladder\n"
                 "system:\n  amber: {prmtop: %s, inpcrd: %s}\n"
                 "nonbonded: {method: nocutoff}\nconstraints: hbonds\n"
                 "alchemical: {atoms: [\"0-9\"]}\n"
                 "integrator: {type: langevin, timestep: 0.002, temperature: 300, seed: 1}\n"
                 "replica_exchange:\n"
                 "  lambdas: {sterics: [1.0, 1.0, 0.7, 0.4, 0.0], electrostatics: [1.0, 0.5, 0.0, 0.0, 0.0]}\n"
                 "  exchange_interval: 50\n  exchanges: 40\n  seed: 5\n"
                 "output: {directory: %s, energies: {file: energies.csv, interval: 50}}\n"
                 "device: auto\n", top, crd, name[k]);
        char file[64];
        snprintf(file, sizeof file, "%s.yaml", name[k]);
        snprintf(deck, sizeof deck, "%s", write_deck(dir, file, text));
        snprintf(args, sizeof args, "run %s --quiet %s", deck, k ? BACKEND_ONE_AT_A_TIME : BACKEND_BATCHED);
        CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    }
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/batched", dir);
    snprintf(b, sizeof b, "%s/single", dir);
    CU_ASSERT(campaigns_equal(a, b, 5, 0, 0));
    /* the log's diagonal against the rows */
    char path[1200];
    snprintf(path, sizeof path, "%s/replica_exchange.h5", a);
    clmd_remdlog_data d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_remdlog_read(path, &d, &err), CLMD_OK);
    CU_ASSERT_EQUAL(d.rounds, 40);
    const double kT = CLMD_BOLTZMANN * 300;
    table t[5];
    int ok = 1;
    for (int k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "%s/state_%03d/energies.csv", a, k);
        ok &= table_read(path, &t[k]) == 0;
        CU_ASSERT(table_col(&t[k], "dudl_sterics") >= 0 && table_col(&t[k], "dudl_electrostatics") >= 0);
    }
    CU_ASSERT_FATAL(ok);
    double worst = 0;
    int checked = 0;
    for (long round = 0; round < d.rounds; round++)
        for (int r = 0; r < 5; r++) {
            /* before round's swap the replica held the state of the previous round's end */
            const int st = round == 0 ? r : d.history[(round - 1) * 5 + r];
            const table *tb = &t[st];
            const long row = round + 1; /* rows at steps 0, 50, 100, ...: round t ends at row t+1 */
            if (row >= tb->nrow) continue;
            const double U = tb->v[row * tb->ncol + table_col(tb, "potential")];
            const double rep = tb->v[row * tb->ncol + table_col(tb, "replica")];
            CU_ASSERT_EQUAL((int)rep, r);
            const double u = d.energies[(size_t)round * 25 + (size_t)r * 5 + st];
            worst = fmax(worst, fabs(u - U / kT) / fmax(fabs(U / kT), 1));
            checked++;
        }
    printf("\n  lambda ladder: %d log entries against the rows, worst relative difference %.2g", checked, worst);
    CU_ASSERT(checked == 200);
    ASSERT_BELOW(worst, 1e-8, "u[r][state] vs U/kT of the row (relative)");
    /* the swaps are the swap step on the logged matrix */
    int state_of[5] = {0, 1, 2, 3, 4};
    uint32_t key[2];
    clmd_seed_key(5, key);
    int same = 1;
    for (long round = 0; round < d.rounds; round++) {
        long pr[25] = {0}, ac[25] = {0};
        clmd_remd_exchange(CLMD_REMD_NEIGHBORS, 5, d.energies + (size_t)round * 25, state_of, key,
                           round, pr, ac);
        for (int r = 0; r < 5; r++) same &= state_of[r] == d.history[round * 5 + r];
    }
    CU_ASSERT(same);
    for (int k = 0; k < 5; k++) table_free(&t[k]);
    clmd_remdlog_data_free(&d);
}

static int have_mpirun(void)
{
#ifdef CLMD_HAVE_MPI
    return clmd_test_run("command -v mpirun", NULL) == 0;
#else
    return 0;
#endif
}

#define MPIRUN                                                                     \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 " \
    "mpirun --allow-run-as-root --oversubscribe -np "

/* 5c. Two MPI ranks (two replicas each) give the files of one process, bit for bit. The deck
 * takes the all-pairs scheme and resampled velocities, so those paths run across ranks too. */
static void two_mpi_ranks_equal_one_process(void)
{
    if (!have_ala2()) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not found");
    if (!have_mpirun()) CLMD_SKIP("clmd built without MPI (CLMD_HAVE_MPI) or mpirun not installed");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[16384], args[8192], one[4200], two[4200];
    const char *extra = "  scheme: all\n  velocities: resample\n";
    ala2_deck(text, sizeof text, "one", "reference", 12, extra);
    snprintf(one, sizeof one, "%s", write_deck(dir, "one.yaml", text));
    ala2_deck(text, sizeof text, "two", "reference", 12, extra);
    snprintf(two, sizeof two, "%s", write_deck(dir, "two.yaml", text));
    snprintf(args, sizeof args, "run %s --quiet", one);
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    char *out = NULL;
    snprintf(args, sizeof args, MPIRUN "2 %s run %s --quiet", clmd_test_binary(), two);
    int rc = clmd_test_run(args, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/one", dir);
    snprintf(pb, sizeof pb, "%s/two", dir);
    CU_ASSERT(campaigns_equal(pa, pb, 4, 1, 1));
}

/* Runs `clmd ARGS` expecting exit status 1 and every one of the strings in its output. */
static void expect_error(const char *args, const char *const *want, int nwant)
{
    char *out = NULL;
    int rc = run_clmd(args, &out);
    CU_ASSERT_EQUAL(rc, 1);
    int ok = 1;
    for (int i = 0; i < nwant; i++) ok &= out && strstr(out, want[i]) != NULL;
    CU_ASSERT(ok);
    if (rc != 1 || !ok) {
        printf("\n  clmd %s: status %d, output:\n%s\n  expected:", args, rc, out ? out : "");
        for (int i = 0; i < nwant; i++) printf(" '%s'", want[i]);
    }
    free(out);
}

static const char *SMALL_CAMPAIGN =
    "system: {builtin: lj_fcc, cells: 3}\n"
    "nonbonded: {method: cutoff, cutoff: 0.85}\n"
    "integrator: {type: langevin, timestep: 0.005, temperature: 100}\n"
    "replica_exchange:\n"
    "  temperatures: %s\n"
    "  exchange_interval: %s\n"
    "  exchanges: 2\n"
    "output: {directory: %s, energies: {file: energies.csv, interval: 5}}\n"
    "device: reference\n";

/* 5d. Bad campaigns exit 1 naming file:line and the key: a ladder not ascending, one replica,
 * exchange_interval 0, and a checkpoint of another campaign (another ladder, another number of
 * replicas, a plain run's; a missing or corrupt one exits 1 too). More ranks than replicas is the
 * next test (it needs MPI). */
static void bad_campaigns_exit_1_naming_line_and_key(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[4096], args[4096];
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 90, 110]", "5", "o1");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "descending.yaml", text));
    const char *w1[] = {"descending.yaml:5:", "replica_exchange.temperatures[1]", "ascending"};
    expect_error(args, w1, 3);
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100]", "5", "o2");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "one.yaml", text));
    const char *w2[] = {"one.yaml:5:", "replica_exchange.temperatures"};
    expect_error(args, w2, 2);
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "{min: 100, max: 120, count: 1}", "5", "o2");
    snprintf(args, sizeof args, "check %s", write_deck(dir, "count1.yaml", text));
    const char *w2b[] = {"count1.yaml:5:", "replica_exchange.temperatures.count"};
    expect_error(args, w2b, 2);
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 110]", "0", "o3");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "interval0.yaml", text));
    const char *w3[] = {"interval0.yaml:6:", "replica_exchange.exchange_interval"};
    expect_error(args, w3, 2);
    /* no output was written for any of them */
    snprintf(args, sizeof args, "test ! -e %s/o1 && test ! -e %s/o2 && test ! -e %s/o3", dir, dir, dir);
    CU_ASSERT_EQUAL(clmd_test_run(args, NULL), 0);

    /* a checkpoint of another campaign: another ladder, or another number of replicas */
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 110]", "5", "a");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "a.yaml", text));
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 115]", "5", "b");
    snprintf(args, sizeof args, "run %s --quiet --restart %s/a/state.chk", write_deck(dir, "b.yaml", text), dir);
    const char *w4[] = {"b.yaml:4:", "replica_exchange", "ladder", "a/state.chk"};
    expect_error(args, w4, 4);
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 105, 110]", "5", "c");
    snprintf(args, sizeof args, "run %s --quiet --restart %s/a/state.chk", write_deck(dir, "c.yaml", text), dir);
    const char *w5[] = {"c.yaml:4:", "replica_exchange.temperatures", "a/state.chk"};
    expect_error(args, w5, 3);
    /* a checkpoint that is missing, not a checkpoint, or a plain run's: exit 1 naming it (not
     * an internal error), the plain run's also naming the deck's line and key */
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 110]", "5", "d");
    char deck_d[2048];
    snprintf(deck_d, sizeof deck_d, "%s", write_deck(dir, "d.yaml", text));
    snprintf(args, sizeof args, "run %s --quiet --restart %s/missing.chk", deck_d, dir);
    const char *w6[] = {"missing.chk"};
    expect_error(args, w6, 1);
    snprintf(args, sizeof args, "run %s --quiet --restart %s/a/energies.csv", deck_d, dir);
    const char *w7[] = {"energies.csv"};
    expect_error(args, w7, 1);
    snprintf(text, sizeof text,
             "system: {builtin: lj_fcc, cells: 3}\n"
             "nonbonded: {method: cutoff, cutoff: 0.85}\n"
             "integrator: {type: langevin, timestep: 0.005, temperature: 100, steps: 10}\n"
             "output: {directory: plain}\n"
             "device: reference\n");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "plain.yaml", text));
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    snprintf(args, sizeof args, "run %s --quiet --restart %s/plain/state.chk", deck_d, dir);
    const char *w8[] = {"d.yaml:4:", "replica_exchange", "plain/state.chk"};
    expect_error(args, w8, 3);
    snprintf(args, sizeof args, "test ! -e %s/d", dir);
    CU_ASSERT_EQUAL(clmd_test_run(args, NULL), 0);
}

/* 5d (MPI). Three ranks for a campaign of two replicas: every rank refuses (exit 1), naming the
 * deck's line and the key, before anything is written. */
static void more_mpi_ranks_than_replicas_exit_1(void)
{
    if (!have_mpirun()) CLMD_SKIP("clmd built without MPI (CLMD_HAVE_MPI) or mpirun not installed");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[4096], args[4096];
    snprintf(text, sizeof text, SMALL_CAMPAIGN, "[100, 110]", "5", "m");
    const char *deck = write_deck(dir, "ranks.yaml", text);
    char *out = NULL;
    snprintf(args, sizeof args, MPIRUN "3 %s run %s --quiet", clmd_test_binary(), deck);
    int rc = clmd_test_run(args, &out);
    /* mpirun exits with the status its ranks gave MPI_Abort */
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ranks.yaml:4:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "replica_exchange.temperatures"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 MPI ranks"));
    if (rc != 1) printf("\n%s\n", out);
    free(out);
    snprintf(args, sizeof args, "test ! -e %s/m", dir);
    CU_ASSERT_EQUAL(clmd_test_run(args, NULL), 0);
}

/* Every value of two JSON documents equal (numbers exactly). */
static int json_equal(const clmd_jv *a, const clmd_jv *b)
{
    if (!a || !b || a->kind != b->kind) return 0;
    switch (a->kind) {
    case JV_NUM: return a->num == b->num;
    case JV_STR: return strcmp(a->str, b->str) == 0;
    case JV_BOOL: return a->num == b->num;
    case JV_NULL: return 1;
    case JV_ARR:
    case JV_OBJ:
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++) {
            if (a->kind == JV_OBJ && strcmp(a->key[i], b->key[i]) != 0) return 0;
            if (!json_equal(a->item[i], b->item[i])) return 0;
        }
        return 1;
    }
    return 0;
}

static int well_formed_svg(const char *path)
{
    char *t = read_text(path, NULL);
    if (!t) return 0;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == ' ')) t[--n] = 0;
    int ok = strncmp(t, "<svg", 4) == 0 && n >= 6 && strcmp(t + n - 6, "</svg>") == 0;
    free(t);
    return ok;
}

/* 5e. clmd remd-report OUTDIR on a finished campaign rewrites summary.json with the same content
 * as the campaign's own, and well-formed walk.svg and acceptance.svg equal to the campaign's. */
static void remd_report_matches_the_campaign(void)
{
    if (!have_ala2()) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not found");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", clmd_test_tmpdir());
    char text[16384], args[8192];
    ala2_deck(text, sizeof text, "out", "reference", 16, "");
    snprintf(args, sizeof args, "run %s --quiet", write_deck(dir, "r.yaml", text));
    CU_ASSERT_EQUAL_FATAL(run_expect(args, 0), 0);
    snprintf(args, sizeof args, "cd %s/out && mkdir campaign && mv summary.json walk.svg acceptance.svg campaign/", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_run(args, NULL), 0);
    snprintf(args, sizeof args, "remd-report %s/out", dir);
    char *out = NULL;
    int rc = run_clmd(args, &out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(out && strstr(out, "acceptance per neighbour pair") != NULL);
    if (rc) printf("\n%s\n", out);
    free(out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/out/summary.json", dir);
    snprintf(b, sizeof b, "%s/out/campaign/summary.json", dir);
    clmd_jv *ja = clmd_jv_load(a), *jb = clmd_jv_load(b);
    CU_ASSERT_PTR_NOT_NULL(ja);
    CU_ASSERT_PTR_NOT_NULL(jb);
    CU_ASSERT(json_equal(ja, jb));
    CU_ASSERT_EQUAL(clmd_jv_num(clmd_jv_get(ja, "rounds"), -1), 16);
    const clmd_jv *st = clmd_jv_get(ja, "states");
    CU_ASSERT(st && st->kind == JV_ARR && st->n == 4);
    clmd_jv_free(ja);
    clmd_jv_free(jb);
    static const char *const svgs[] = {"walk.svg", "acceptance.svg"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/out/%s", dir, svgs[i]);
        snprintf(b, sizeof b, "%s/out/campaign/%s", dir, svgs[i]);
        CU_ASSERT(well_formed_svg(a));
        CU_ASSERT(well_formed_svg(b));
        CU_ASSERT(same_file(a, b));
    }
    /* a directory without a campaign: exit 1, naming the file */
    snprintf(args, sizeof args, "remd-report %s", dir);
    const char *w[] = {"replica_exchange.h5"};
    expect_error(args, w, 1);
}

int main(int argc, char **argv)
{
    static const clmd_test tests[] = {
        {"identical rows always swap (both schemes)", identical_rows_always_swap},
        {"neighbours alternate even and odd pairs", neighbors_alternate_even_and_odd_pairs},
        {"counts symmetric, state_of a permutation, NaN never swaps", counts_symmetric_and_state_of_a_permutation},
        {"acceptance matches min(1, exp(-d)) (neighbours)", acceptance_matches_min_1_exp_minus_delta},
        {"acceptance matches the exact chain (all pairs)", all_scheme_acceptance_matches_exact_chain},
        {"detailed balance on a discrete toy (chi-square)", detailed_balance_on_a_discrete_toy},
        {"harmonic oscillators: energies, visits, free energies (neighbours)", harmonic_oscillators_neighbors},
        {"harmonic oscillators: energies, visits, free energies (all pairs)", harmonic_oscillators_all},
        {"symmetric eigenvalues of known matrices", symmetric_eigenvalues_of_known_matrices},
        {"round trips and acceptance counted exactly", round_trips_and_acceptance_counted_exactly},
        {"deterministic cycle and two-state transition matrix", deterministic_cycle_and_two_state_matrix},
        {"remdlog: create, append, continue, read back", remdlog_create_append_continue_read},
        {"campaign: every state's temperature within 2% (one replica at a time)", temperatures_one_replica_at_a_time},
        {"campaign: every state's temperature within 2% (batched)", temperatures_batched},
        {"campaign: velocities rescaled with the swap (one replica at a time)", velocities_one_replica_at_a_time},
        {"campaign: velocities rescaled with the swap (batched)", velocities_batched},
        {"campaign: resume bit for bit on PoCL (one replica at a time)", resume_one_replica_at_a_time},
        {"campaign: resume bit for bit on PoCL (batched)", resume_batched},
        {"campaign: batched equals one replica at a time, bit for bit", batched_equals_one_at_a_time},
        {"campaign: lambda ladder (batched = one at a time, log = rows, swaps replayed)", lambda_ladder_campaign},
        {"campaign: 2 MPI ranks equal one process", two_mpi_ranks_equal_one_process},
        {"campaign: bad decks exit 1 naming line and key", bad_campaigns_exit_1_naming_line_and_key},
        {"campaign: more MPI ranks than replicas exit 1 naming line and key", more_mpi_ranks_than_replicas_exit_1},
        {"campaign: remd-report matches the campaign's summary", remd_report_matches_the_campaign},
        {NULL, NULL}};
    return clmd_test_main("test_remd", tests, argc, argv);
}
