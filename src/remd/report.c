/* The campaign report: statistics printed and written as JSON, and two plots written as SVG by
 * clmd itself (no Python needed): each replica's walk over the ladder and the acceptance of each
 * neighbour pair. Used at the end of a campaign and by `clmd remd-report OUTDIR`. */
#include "remd/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "input/deck.h"
#include "io/outfile.h"
#include "io/remdlog.h"

/* Distinct colours for up to 10 replicas (then they repeat, drawn thinner). */
static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static int finish(FILE *f, const char *tmp, const char *path, clmd_err *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write %s", path);
    }
    return CLMD_OK;
}

static FILE *start(const char *path, char *tmp, size_t size, clmd_err *err)
{
    snprintf(tmp, size, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) clmd_err_set(err, CLMD_ERUNTIME, "cannot write %s: %s", path, strerror(errno));
    return f;
}

int clmd_remd_write_walk_svg(const char *path, int K, long rounds, const int *history,
                             const double *ladder, const char *unit, clmd_err *err)
{
    char tmp[CLMD_PATH_MAX + 16];
    FILE *f = start(path, tmp, sizeof tmp, err);
    if (!f) return CLMD_ERUNTIME;
    const double W = 860, H = 420, L = 70, R = 110, T = 30, B = 50;
    const double pw = W - L - R, ph = H - T - B;
    /* a walk is readable over a few hundred rounds: a longer campaign shows its last WINDOW */
    enum { WINDOW = 120 };
    const long t0 = rounds > WINDOW + 1 ? rounds - 1 - WINDOW : 0;
    const long last = rounds - 1 > t0 ? rounds - 1 - t0 : 1;
    const long s = 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    if (t0 > 0)
        fprintf(f, "<text x=\"%g\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Replica walks over "
                "the ladder (%d replicas; rounds %ld-%ld of %ld)</text>\n", (L + L + pw) / 2, K, t0,
                rounds - 1, rounds - 1);
    else
        fprintf(f, "<text x=\"%g\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Replica walks over "
                "the ladder (%d replicas, %ld rounds)</text>\n", (L + L + pw) / 2, K, rounds - 1);
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n",
            L, T, pw, ph);
    for (int k = 0; k < K; k++) {
        double y = T + ph - (K > 1 ? ph * k / (K - 1) : ph / 2);
        if (K <= 16 || k % ((K + 15) / 16) == 0 || k == K - 1)
            fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.4g</text>\n", L - 6, y + 4, ladder[k]);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#eeeeee\"/>\n", L, y, L + pw, y);
    }
    for (int i = 0; i <= 4; i++) {
        double x = L + pw * i / 4;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%ld</text>\n", x, T + ph + 16,
                t0 + (long)llround((double)last * i / 4));
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">exchange round</text>\n", L + pw / 2,
            H - 10);
    fprintf(f, "<text transform=\"translate(16,%g) rotate(-90)\" text-anchor=\"middle\">state (%s)</text>\n",
            T + ph / 2, unit);
    const int shown = K < 10 ? K : 10;
    /* replicas 0 and K-1 stand out, the others stay in the background */
    for (int r = 0; r < K; r++) {
        const int bold = r == 0 || r == K - 1;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" stroke-opacity=\"%s\" points=\"",
                palette[r % 10], bold ? "2.2" : "1.0", bold ? "0.95" : "0.3");
        for (long t = t0; t < rounds; t += s) {
            double x = L + pw * (double)(t - t0) / last;
            int k = history[t * K + r];
            double y = T + ph - (K > 1 ? ph * k / (K - 1) : ph / 2);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "\"/>\n");
    }
    for (int r = 0; r < shown; r++)
        fprintf(f, "<text x=\"%g\" y=\"%g\" fill=\"%s\" font-size=\"11\">replica %d</text>\n",
                L + pw + 10, T + 12 + 14.0 * r, palette[r], r);
    fprintf(f, "</svg>\n");
    return finish(f, tmp, path, err);
}

int clmd_remd_write_acceptance_svg(const char *path, int K, const double *acceptance,
                                   const double *ladder, const char *unit, clmd_err *err)
{
    char tmp[CLMD_PATH_MAX + 16];
    FILE *f = start(path, tmp, sizeof tmp, err);
    if (!f) return CLMD_ERUNTIME;
    const double W = 760, H = 360, L = 60, R = 20, T = 30, B = 70;
    const double pw = W - L - R, ph = H - T - B;
    const int n = K - 1 > 0 ? K - 1 : 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Acceptance of "
            "swaps between neighbouring states</text>\n", W / 2);
    for (int i = 0; i <= 4; i++) {
        double y = T + ph - ph * i / 4;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#dddddd\"/>\n", L, y, L + pw, y);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, i / 4.0);
    }
    const double bw = pw / n;
    for (int i = 0; i + 1 < K; i++) {
        double a = acceptance[i];
        if (!isfinite(a)) a = 0;
        double x = L + bw * i, h = ph * a;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\"/>\n",
                x + 0.15 * bw, T + ph - h, 0.7 * bw, h);
        if (K <= 24 || i % ((K + 23) / 24) == 0) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n", x + bw / 2,
                    T + ph - h - 4, acceptance[i]);
            fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-35)\" text-anchor=\"end\">"
                    "%.4g-%.4g</text>\n", x + bw / 2, T + ph + 14, ladder[i], ladder[i + 1]);
        }
    }
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n",
            L, T, pw, ph);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">state pair (%s)</text>\n", L + pw / 2,
            H - 6, unit);
    fprintf(f, "</svg>\n");
    return finish(f, tmp, path, err);
}

int clmd_remd_write_summary(const char *path, const clmd_remd_summary *s, const double *ladder,
                            clmd_err *err)
{
    char tmp[CLMD_PATH_MAX + 16];
    FILE *f = start(path, tmp, sizeof tmp, err);
    if (!f) return CLMD_ERUNTIME;
    const int K = s->K;
    clmd_json j;
    clmd_json_init(&j, f);
    clmd_json_begin_object(&j, NULL);
    clmd_json_begin_array(&j, "states");
    for (int k = 0; k < K; k++) clmd_json_number(&j, NULL, ladder[k]);
    clmd_json_end_array(&j);
    clmd_json_int(&j, "rounds", s->rounds - 1);
    clmd_json_begin_array(&j, "acceptance");
    for (int i = 0; i + 1 < K; i++) clmd_json_number(&j, NULL, s->acceptance[i]);
    clmd_json_end_array(&j);
    clmd_json_begin_array(&j, "transition_matrix");
    for (int i = 0; i < K; i++) {
        clmd_json_begin_array(&j, NULL);
        for (int k = 0; k < K; k++) clmd_json_number(&j, NULL, s->transition[i * K + k]);
        clmd_json_end_array(&j);
    }
    clmd_json_end_array(&j);
    clmd_json_number(&j, "lambda2", s->lambda2);
    clmd_json_number(&j, "relaxation_rounds", isfinite(s->relaxation) ? s->relaxation : -1);
    clmd_json_begin_array(&j, "round_trips");
    for (int r = 0; r < K; r++) clmd_json_int(&j, NULL, s->round_trips[r]);
    clmd_json_end_array(&j);
    clmd_json_number(&j, "mean_round_trip_rounds", s->mean_round_trip);
    clmd_json_number(&j, "state_index_inefficiency", s->inefficiency);
    clmd_json_begin_array(&j, "suggested_states");
    for (int k = 0; k < K; k++) clmd_json_number(&j, NULL, s->suggested[k]);
    clmd_json_end_array(&j);
    clmd_json_end_object(&j);
    fputc('\n', f);
    return finish(f, tmp, path, err);
}

void clmd_remd_print_summary(const clmd_remd_summary *s, const double *ladder, const char *unit,
                             FILE *out)
{
    const int K = s->K;
    fprintf(out, "replica exchange after %ld rounds, %d states (%s):", s->rounds - 1, K, unit);
    for (int k = 0; k < K; k++) fprintf(out, " %.4g", ladder[k]);
    fprintf(out, "\n  acceptance per neighbour pair:");
    for (int i = 0; i + 1 < K; i++) fprintf(out, " %.3f", s->acceptance[i]);
    long trips = 0;
    for (int r = 0; r < K; r++) trips += s->round_trips[r];
    fprintf(out, "\n  transition matrix: second eigenvalue %.4f, relaxation %.3g rounds\n",
            s->lambda2, s->relaxation);
    fprintf(out, "  round trips (lowest to highest state and back): %ld", trips);
    if (trips) fprintf(out, ", %.3g rounds each on average", s->mean_round_trip);
    fprintf(out, "; per replica:");
    for (int r = 0; r < K; r++) fprintf(out, " %ld", s->round_trips[r]);
    fprintf(out, "\n  statistical inefficiency of the state index: %.3g rounds\n", s->inefficiency);
    fprintf(out, "  a ladder evening out the acceptance:");
    for (int k = 0; k < K; k++) fprintf(out, " %.4g", s->suggested[k]);
    fprintf(out, "\n");
}

int clmd_remd_report_dir(const char *dir, FILE *out, clmd_err *err)
{
    char path[CLMD_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/replica_exchange.h5", dir);
    clmd_remdlog_data d;
    int rc = clmd_remdlog_read(path, &d, err);
    if (rc) return rc;
    if (d.replicas != d.states) {
        clmd_remdlog_data_free(&d);
        return clmd_err_set(err, CLMD_EINPUT, "%s: %d replicas for %d states", path, d.replicas, d.states);
    }
    const int K = d.states;
    /* the history with the start (every replica in its own state) in front */
    int *hist = clmd_calloc((size_t)(d.rounds + 1) * K, sizeof *hist);
    for (int r = 0; r < K; r++) hist[r] = r;
    memcpy(hist + K, d.history, sizeof(int) * (size_t)d.rounds * K);
    clmd_remd_summary s;
    clmd_remd_summarize(K, d.rounds + 1, hist, d.proposed, d.accepted, d.temperatures, &s);
    clmd_remd_print_summary(&s, d.temperatures, "K", out);
    char p[CLMD_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/summary.json", dir);
    rc = clmd_remd_write_summary(p, &s, d.temperatures, err);
    snprintf(p, sizeof p, "%s/walk.svg", dir);
    if (!rc) rc = clmd_remd_write_walk_svg(p, K, d.rounds + 1, hist, d.temperatures, "K", err);
    snprintf(p, sizeof p, "%s/acceptance.svg", dir);
    if (!rc) rc = clmd_remd_write_acceptance_svg(p, K, s.acceptance, d.temperatures, "K", err);
    if (!rc) fprintf(out, "wrote %s/summary.json, %s/walk.svg, %s/acceptance.svg\n", dir, dir, dir);
    clmd_remd_summary_free(&s);
    clmd_free(hist);
    clmd_remdlog_data_free(&d);
    return rc;
}
