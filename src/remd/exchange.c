#include "remd/exchange.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/rng.h"

/* Tries to swap the states of replicas a and b; draw is the uniform number of the test. */
static int attempt(int K, const double *u, int *state_of, int a, int b, double draw, long *proposed,
                   long *accepted)
{
    int i = state_of[a], j = state_of[b];
    double d = u[a * K + j] + u[b * K + i] - u[a * K + i] - u[b * K + j];
    proposed[i * K + j]++;
    proposed[j * K + i]++;
    /* d <= 0 always; otherwise with probability exp(-d) (a NaN energy never swaps) */
    int ok = d <= 0 || draw < exp(-d);
    if (!ok) return 0;
    accepted[i * K + j]++;
    accepted[j * K + i]++;
    state_of[a] = j;
    state_of[b] = i;
    return 1;
}

int clmd_remd_exchange(clmd_remd_scheme scheme, int K, const double *u, int *state_of,
                       const uint32_t key[2], long round, long *proposed, long *accepted)
{
    int n = 0;
    if (K < 2) return 0;
    if (scheme == CLMD_REMD_NEIGHBORS) {
        int replica_in[CLMD_REMD_MAX_STATES];
        for (int r = 0; r < K; r++) replica_in[state_of[r]] = r;
        for (int i = (int)(round & 1); i + 1 < K; i += 2) {
            int a = replica_in[i], b = replica_in[i + 1];
            double draw = clmd_uniform(key, (uint64_t)round, (uint32_t)i);
            if (attempt(K, u, state_of, a, b, draw, proposed, accepted)) {
                replica_in[i] = b;
                replica_in[i + 1] = a;
                n++;
            }
        }
        return n;
    }
    /* all: K^3 attempts on random pairs of distinct replicas, each seeing the previous ones */
    const long tries = (long)K * K * K;
    for (long t = 0; t < tries; t++) {
        uint64_t idx = (uint64_t)round * (uint64_t)tries + (uint64_t)t;
        int a = (int)(K * clmd_uniform(key, idx, 0x70616972u));
        int b = (int)((K - 1) * clmd_uniform(key, idx, 0x70616973u));
        if (a >= K) a = K - 1;
        if (b >= K - 1) b = K - 2;
        if (b >= a) b++; /* b uniform over the other replicas */
        n += attempt(K, u, state_of, a, b, clmd_uniform(key, idx, 0x61636370u), proposed, accepted);
    }
    return n;
}

/* ---- statistics ---- */

void clmd_symmetric_eigenvalues(int n, double *a, double *eig)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
        if (off < 1e-30) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) eig[i] = a[i * n + i];
    /* descending */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && eig[j] > eig[j - 1]; j--) {
            double t = eig[j];
            eig[j] = eig[j - 1];
            eig[j - 1] = t;
        }
}

/* Statistical inefficiency g = 1 + 2 sum_t (1 - t/N) C(t)/C(0) of a series, summed until the
 * autocorrelation first drops to zero (Chodera's estimator; 1 for a constant series). */
static double inefficiency(const double *x, long N)
{
    if (N < 3) return 1;
    double mean = 0, var = 0;
    for (long t = 0; t < N; t++) mean += x[t];
    mean /= N;
    for (long t = 0; t < N; t++) var += (x[t] - mean) * (x[t] - mean);
    var /= N;
    if (!(var > 0)) return 1;
    double g = 1;
    for (long lag = 1; lag < N - 1; lag++) {
        double c = 0;
        for (long t = 0; t + lag < N; t++) c += (x[t] - mean) * (x[t + lag] - mean);
        c /= (N - lag) * var;
        if (c <= 0) break;
        g += 2 * c * (1 - (double)lag / N);
    }
    return g < 1 ? 1 : g;
}

void clmd_remd_summarize(int K, long rounds, const int *states, const long *proposed,
                         const long *accepted, const double *ladder, clmd_remd_summary *s)
{
    memset(s, 0, sizeof *s);
    s->K = K;
    s->rounds = rounds;
    CLMD_NEW(s->acceptance, K > 1 ? K - 1 : 1);
    CLMD_NEW(s->transition, K * K);
    CLMD_NEW(s->round_trips, K);
    CLMD_NEW(s->suggested, K);
    for (int i = 0; i + 1 < K; i++) {
        long p = proposed[i * K + i + 1];
        s->acceptance[i] = p > 0 ? (double)accepted[i * K + i + 1] / p : 0;
    }
    /* transitions between consecutive rounds */
    double *count;
    CLMD_NEW(count, K * K);
    for (long t = 0; t + 1 < rounds; t++)
        for (int r = 0; r < K; r++) count[states[t * K + r] * K + states[(t + 1) * K + r]] += 1;
    for (int i = 0; i < K; i++) {
        double row = 0;
        for (int j = 0; j < K; j++) row += count[i * K + j];
        for (int j = 0; j < K; j++) s->transition[i * K + j] = row > 0 ? count[i * K + j] / row : (i == j);
    }
    double *sym, *eig;
    CLMD_NEW(sym, K * K);
    CLMD_NEW(eig, K);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) sym[i * K + j] = 0.5 * (s->transition[i * K + j] + s->transition[j * K + i]);
    clmd_symmetric_eigenvalues(K, sym, eig);
    s->lambda2 = K > 1 ? eig[1] : 0;
    s->relaxation = s->lambda2 < 1 ? 1 / (1 - s->lambda2) : INFINITY;
    /* round trips: from the bottom state to the top and back to the bottom */
    long trips = 0, trip_rounds = 0;
    double *series;
    CLMD_NEW(series, rounds > 0 ? rounds : 1);
    double g = 0;
    for (int r = 0; r < K; r++) {
        int phase = 0; /* 0: looking for the bottom, 1: going up, 2: coming down */
        long start = -1;
        for (long t = 0; t < rounds; t++) {
            int k = states[t * K + r];
            series[t] = k;
            if (k == 0 && phase != 1) {
                if (phase == 2) {
                    s->round_trips[r]++;
                    trips++;
                    trip_rounds += t - start;
                }
                phase = 1;
                start = t;
            } else if (k == K - 1 && phase == 1) {
                phase = 2;
            }
        }
        g += inefficiency(series, rounds);
    }
    s->inefficiency = g / K;
    s->mean_round_trip = trips > 0 ? (double)trip_rounds / trips : 0;
    /* a ladder with equal -ln(acceptance) distance between neighbours: distances sqrt(-ln p)
     * (p the pair's acceptance) are laid end to end and cut into K-1 equal parts */
    s->suggested[0] = ladder[0];
    s->suggested[K - 1] = ladder[K - 1];
    if (K > 2) {
        double *cum;
        CLMD_NEW(cum, K);
        for (int i = 0; i + 1 < K; i++)
            cum[i + 1] = cum[i] + sqrt(-log(fmin(fmax(s->acceptance[i], 1e-6), 0.999999)));
        for (int k = 1; k + 1 < K; k++) {
            double target = cum[K - 1] * k / (K - 1);
            int i = 0;
            while (i + 2 < K && cum[i + 1] < target) i++;
            double f = cum[i + 1] > cum[i] ? (target - cum[i]) / (cum[i + 1] - cum[i]) : 0;
            /* geometric between the old neighbours (temperature ladders are near geometric) */
            s->suggested[k] = ladder[i] > 0 && ladder[i + 1] > 0
                                  ? ladder[i] * pow(ladder[i + 1] / ladder[i], f)
                                  : ladder[i] + f * (ladder[i + 1] - ladder[i]);
        }
        clmd_free(cum);
    }
    clmd_free(series);
    clmd_free(sym);
    clmd_free(eig);
    clmd_free(count);
}

void clmd_remd_summary_free(clmd_remd_summary *s)
{
    clmd_free(s->acceptance);
    clmd_free(s->transition);
    clmd_free(s->round_trips);
    clmd_free(s->suggested);
    memset(s, 0, sizeof *s);
}
