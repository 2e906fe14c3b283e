#include "system/builtin.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "system/coords.h"
#include "system/forcefield.h"
#include "system/system.h"

int clmd_builtin_lj_fcc(const clmd_ff *ff, int cells, double rho, clmd_system **out,
                        clmd_err *err)
{
    *out = NULL;
    if (ff->ntypes != 1)
        return clmd_err_set(err, CLMD_EINPUT,
                            "lj_fcc needs a force field with exactly one atom type; %s has %d",
                            ff->path, ff->ntypes);
    if (cells < 1 || cells > CLMD_LJ_FCC_MAX_CELLS)
        return clmd_err_set(err, CLMD_EINPUT, "lj_fcc: cells must be in 1..%d, not %d",
                            CLMD_LJ_FCC_MAX_CELLS, cells);
    if (!(rho > 0 && rho < 2))
        return clmd_err_set(err, CLMD_EINPUT, "lj_fcc: reduced density must be in (0, 2), not %g",
                            rho);
    const clmd_fftype *t = &ff->types[0];
    if (!(t->sigma > 0 && t->mass > 0))
        return clmd_err_set(err, CLMD_EINPUT, "lj_fcc: type %s of %s needs sigma > 0 and mass > 0",
                            t->name, ff->path);
    double a = cbrt(4.0 / rho) * t->sigma, L = cells * a;
    int n = 4 * cells * cells * cells;
    clmd_system *s = clmd_system_create();
    snprintf(s->source, sizeof s->source, "builtin lj_fcc (cells %d, rho* %g, %.400s)", cells, rho,
             ff->path);
    clmd_system_alloc_particles(s, n);
    s->ntypes = 1;
    s->nresidues = n;
    CLMD_NEW(s->resname, n);
    /* basis shifted by a/4 so that no atom sits on a face of the box */
    static const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
    const char *nm = t->element[0] ? t->element : t->name;
    int p = 0;
    for (int i = 0; i < cells; i++)
        for (int j = 0; j < cells; j++)
            for (int k = 0; k < cells; k++)
                for (int b = 0; b < 4; b++, p++) {
                    s->x[3 * p + 0] = (i + basis[b][0] + 0.25) * a;
                    s->x[3 * p + 1] = (j + basis[b][1] + 0.25) * a;
                    s->x[3 * p + 2] = (k + basis[b][2] + 0.25) * a;
                    s->mass[p] = t->mass;
                    s->charge[p] = t->charge;
                    s->sigma[p] = t->sigma;
                    s->epsilon[p] = t->epsilon;
                    s->atomic_number[p] = t->atomic_number;
                    s->residue[p] = p;
                    snprintf(s->name[p], sizeof s->name[0], "%.7s", nm);
                    snprintf(s->resname[p], sizeof s->resname[0], "%.7s", nm);
                }
    clmd_system_set_exclusions(s, 0, NULL);
    clmd_system_set_box(s, L, L, L);
    int st = clmd_system_validate(s, err);
    if (st) {
        clmd_system_destroy(&s);
        return st;
    }
    *out = s;
    return CLMD_OK;
}

/* splitmix64: a fixed seed makes the water box the same on every run and machine */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
    return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

/* Uniformly distributed rotation (Shoemake's quaternion method). */
static void random_rotation(uint64_t *st, double r[3][3])
{
    double u1 = uniform(st), u2 = 2 * M_PI * uniform(st), u3 = 2 * M_PI * uniform(st);
    double a = sqrt(1 - u1), b = sqrt(u1);
    double x = a * sin(u2), y = a * cos(u2), z = b * sin(u3), w = b * cos(u3);
    r[0][0] = 1 - 2 * (y * y + z * z), r[0][1] = 2 * (x * y - z * w), r[0][2] = 2 * (x * z + y * w);
    r[1][0] = 2 * (x * y + z * w), r[1][1] = 1 - 2 * (x * x + z * z), r[1][2] = 2 * (y * z - x * w);
    r[2][0] = 2 * (x * z - y * w), r[2][1] = 2 * (y * z + x * w), r[2][2] = 1 - 2 * (x * x + y * y);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Orientation search: random tries per water and sweeps over all waters (see below). */
enum { WATER_TRIES = 24, WATER_SWEEPS = 3 };
/* First shell: the neighbours whose oxygen is this close (nm); any contact below 0.2 nm needs
 * one, and they decide the hydrogen bonds. */
#define WATER_SHELL 0.4

/* The waters and, for each, its first shell: neighbours shell[sstart[w] .. sstart[w+1]-1] with
 * the lattice shift (nm) that takes the neighbour's periodic image next to w. */
typedef struct {
    long nw;
    int natoms;
    double *pos;      /* [nwaters][natoms][3] */
    const int *real;  /* [natoms] 1 for massive atoms */
    const double *q;  /* [natoms] charges (e) */
    int o;            /* template index of the oxygen */
    long *sstart, *shell;
    double *shift;    /* [3] per shell entry */
} waters;

/* The first shells of oxygens O ([nw][3]) in a cubic box of edge L, through a cell grid. */
static void build_shells(waters *g, const double *O, double L)
{
    long nw = g->nw;
    int nc = (int)floor(L / WATER_SHELL);
    if (nc < 3) nc = 1; /* fewer than 3 cells a side: one cell, every pair checked */
    long ncells = (long)nc * nc * nc, *head, *next, *cell;
    CLMD_NEW(head, ncells);
    CLMD_NEW(next, nw);
    CLMD_NEW(cell, nw);
    for (long c = 0; c < ncells; c++) head[c] = -1;
    for (long w = 0; w < nw; w++) {
        int c[3];
        for (int d = 0; d < 3; d++) {
            double f = O[3 * w + d] / L;
            f -= floor(f);
            c[d] = (int)(f * nc);
            if (c[d] >= nc) c[d] = nc - 1;
        }
        cell[w] = ((long)c[0] * nc + c[1]) * nc + c[2];
        next[w] = head[cell[w]];
        head[cell[w]] = w;
    }
    long cap = 16 * nw + 16, n = 0;
    CLMD_NEW(g->sstart, nw + 1);
    CLMD_NEW(g->shell, cap);
    CLMD_NEW(g->shift, 3 * cap);
    int span = nc >= 3 ? 1 : 0;
    for (long w = 0; w < nw; w++) {
        g->sstart[w] = n;
        long ci = cell[w] / ((long)nc * nc), cj = cell[w] / nc % nc, ck = cell[w] % nc;
        for (int di = -span; di <= span; di++)
            for (int dj = -span; dj <= span; dj++)
                for (int dk = -span; dk <= span; dk++) {
                    long c = (((ci + di + nc) % nc) * nc + (cj + dj + nc) % nc) * nc +
                             (ck + dk + nc) % nc;
                    for (long v = head[c]; v >= 0; v = next[v]) {
                        double sh[3], r2 = 0;
                        for (int d = 0; d < 3; d++) {
                            double dx = O[3 * v + d] - O[3 * w + d];
                            sh[d] = -L * round(dx / L);
                            r2 += (dx + sh[d]) * (dx + sh[d]);
                        }
                        if (v == w || r2 > WATER_SHELL * WATER_SHELL) continue;
                        if (n == cap) {
                            size_t b = sizeof(long) * (size_t)cap;
                            g->shell = clmd_realloc(g->shell, b, 2 * b);
                            b = sizeof(double) * 3 * (size_t)cap;
                            g->shift = clmd_realloc(g->shift, b, 2 * b);
                            cap *= 2;
                        }
                        g->shell[n] = v;
                        memcpy(g->shift + 3 * n, sh, sizeof sh);
                        n++;
                    }
                }
    }
    g->sstart[nw] = n;
    clmd_free(head);
    clmd_free(next);
    clmd_free(cell);
}

/* For water `self` at xw ([natoms][3]) against the waters of its first shell below `upto`
 * (those placed): the smallest distance between real atoms, O-O pairs left out (the lattice
 * fixes them), and the Coulomb energy (kJ/mol, plain 1/r, every charged site). */
static double contact(const waters *g, const double *xw, long self, long upto, double *coulomb)
{
    double best = INFINITY, ec = 0;
    for (long e = g->sstart[self]; e < g->sstart[self + 1]; e++) {
        long v = g->shell[e];
        if (v >= upto) continue;
        const double *xo = g->pos + (size_t)v * g->natoms * 3, *sh = g->shift + 3 * e;
        for (int a = 0; a < g->natoms; a++)
            for (int b = 0; b < g->natoms; b++) {
                int both_real = g->real[a] && g->real[b];
                if (!(both_real || (g->q[a] != 0 && g->q[b] != 0))) continue;
                double r2 = 0;
                for (int d = 0; d < 3; d++) {
                    double dx = xo[3 * b + d] + sh[d] - xw[3 * a + d];
                    r2 += dx * dx;
                }
                if (both_real && !(a == g->o && b == g->o) && r2 < best) best = r2;
                if (r2 > 0) ec += g->q[a] * g->q[b] / sqrt(r2);
            }
    }
    *coulomb = 138.935456 * ec;
    return sqrt(best);
}

/* Turns water w (oxygen at O) into the orientation, among `tries` random ones (and its current
 * one in xw when keep), with the lowest Coulomb energy against the placed waters (index below
 * upto) that keeps every contact at least 0.17 nm (an H-bond's H...O, so hydrogen bonds may
 * form), else the one with the widest contact; writes xw. */
static void orient(const waters *g, long w, long upto, const double O[3],
                   const double (*body)[3], uint64_t *rng, int tries, int keep, double *xw)
{
    double trial[64 * 3], best_d = -1, best_e = INFINITY;
    if (keep) best_d = contact(g, xw, w, upto, &best_e);
    for (int t = 0; t < tries; t++) {
        double r[3][3], ec;
        random_rotation(rng, r);
        for (int k = 0; k < g->natoms; k++)
            for (int d = 0; d < 3; d++)
                trial[3 * k + d] = O[d] + r[d][0] * body[k][0] + r[d][1] * body[k][1] +
                                   r[d][2] * body[k][2];
        double dmin = contact(g, trial, w, upto, &ec);
        int ok = dmin >= 0.17, was_ok = best_d >= 0.17;
        if ((ok && (!was_ok || ec < best_e)) || (!ok && !was_ok && dmin > best_d)) {
            best_d = dmin;
            best_e = ec;
            memcpy(xw, trial, sizeof(double) * 3 * (size_t)g->natoms);
        }
    }
}

int clmd_builtin_water_box(const clmd_ff *ff, double L, clmd_system **out, clmd_err *err)
{
    *out = NULL;
    const clmd_ffres *t = clmd_ff_water(ff);
    if (!t)
        return clmd_err_set(err, CLMD_EINPUT,
                            "water_box needs a residue template with rigid_water geometry; %s "
                            "has none",
                            ff->path);
    if (!(L > 0 && L <= 100))
        return clmd_err_set(err, CLMD_EINPUT, "water_box: edge must be in (0, 100] nm, not %g", L);
    double molar = 0; /* g/mol */
    for (int a = 0; a < t->natoms; a++) molar += ff->types[t->atoms[a].type].mass;
    /* molecules per nm^3: (kg/m^3 -> g/nm^3) / (g/mol) * (1/mol) */
    double number_density = CLMD_WATER_DENSITY * 1e3 * 1e-27 / molar * CLMD_AVOGADRO;
    long nw = lround(number_density * L * L * L);
    if (nw < 1)
        return clmd_err_set(err, CLMD_EINPUT, "water_box: an edge of %g nm holds no water", L);

    /* lattice with the widest oxygen spacing that has room for nw sites */
    static const double basis[3][4][3] = {
        {{0, 0, 0}},
        {{0, 0, 0}, {0.5, 0.5, 0.5}},
        {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}};
    static const int nbasis[3] = {1, 2, 4};
    const double nn_factor[3] = {1.0, sqrt(3.0) / 2, 1 / sqrt(2.0)};
    int lat = 0, m = 0;
    double nn = 0;
    for (int k = 0; k < 3; k++) {
        int mk = (int)ceil(cbrt((double)nw / nbasis[k]) - 1e-9);
        while ((long)nbasis[k] * mk * mk * mk < nw) mk++;
        double d = L / mk * nn_factor[k];
        if (d > nn) nn = d, lat = k, m = mk;
    }
    if (nn < CLMD_WATER_MIN_OO)
        return clmd_err_set(err, CLMD_EINPUT,
                            "water_box: %ld waters in a %g nm box would put oxygens %.3f nm apart "
                            "(minimum %.2f); use a larger edge",
                            nw, L, nn, CLMD_WATER_MIN_OO);
    long nsites = (long)nbasis[lat] * m * m * m;
    double a = L / m;
    int *site = clmd_calloc((size_t)nsites, sizeof(int));
    for (long k = 0; k < nsites; k++) site[k] = (int)k;
    uint64_t rng = 0x636c6d64u; /* "clmd" */
    for (long k = nsites - 1; k > 0; k--) { /* Fisher-Yates: which sites hold a water */
        long j = (long)(next_u64(&rng) % (uint64_t)(k + 1));
        int tmp = site[k];
        site[k] = site[j], site[j] = tmp;
    }
    qsort(site, (size_t)nw, sizeof(int), cmp_int); /* keep lattice order for locality */

    /* body frame: O at the origin, H1 and H2 in the xz plane, M from the weights */
    int na = t->natoms, o = t->rigid_o, h1 = t->rigid_h[0], h2 = t->rigid_h[1];
    double body[64][3] = {{0}};
    int real[64];
    if (na > 64) {
        clmd_free(site);
        return clmd_err_set(err, CLMD_EINPUT, "water_box: template %s has more than 64 atoms",
                            t->name);
    }
    double hh = 0.5 * t->rigid_hh, zc = sqrt(t->rigid_oh * t->rigid_oh - hh * hh);
    body[h1][0] = hh, body[h1][2] = zc;
    body[h2][0] = -hh, body[h2][2] = zc;
    for (int k = 0; k < t->nvsites; k++)
        for (int d = 0; d < 3; d++)
            body[t->vsites[k].site][d] = t->vsites[k].w[0] * body[t->vsites[k].a][d] +
                                         t->vsites[k].w[1] * body[t->vsites[k].b][d] +
                                         t->vsites[k].w[2] * body[t->vsites[k].c][d];
    for (int k = 0; k < na; k++) {
        real[k] = !t->atoms[k].is_vsite;
        if (real[k] && k != o && k != h1 && k != h2) {
            clmd_free(site);
            return clmd_err_set(err, CLMD_EINPUT,
                                "water_box: template %s has atom %s that is neither O, H nor a "
                                "virtual site",
                                t->name, t->atoms[k].name);
        }
    }

    double q[64];
    for (int k = 0; k < na; k++) q[k] = ff->types[t->atoms[k].type].charge;
    waters g = {.nw = nw, .natoms = na, .real = real, .q = q, .o = o};
    CLMD_NEW(g.pos, (size_t)nw * na * 3);
    double *O;
    CLMD_NEW(O, 3 * nw);
    for (long w = 0; w < nw; w++) {
        int sidx = site[w], cellidx = sidx / nbasis[lat], b = sidx % nbasis[lat];
        int ci = cellidx / (m * m), cj = (cellidx / m) % m, ck = cellidx % m;
        O[3 * w + 0] = (ci + basis[lat][b][0] + 0.25) * a;
        O[3 * w + 1] = (cj + basis[lat][b][1] + 0.25) * a;
        O[3 * w + 2] = (ck + basis[lat][b][2] + 0.25) * a;
    }
    build_shells(&g, O, L);

    clmd_coords *c = clmd_coords_create((int)(nw * na), (int)nw);
    snprintf(c->source, sizeof c->source, "builtin water_box (%g nm, %.400s)", L, ff->path);
    c->has_cell = 1;
    c->cell[0] = c->cell[1] = c->cell[2] = L;
    c->cell[3] = c->cell[4] = c->cell[5] = 90;
    /* Orientations: a lattice of randomly turned waters has no hydrogen bonds and lies some
     * 30 kJ/mol per water above the liquid, which a run turns into heat (730 K after 0.1 ps
     * at 300 K). Each water takes the orientation of lowest Coulomb energy with its first shell
     * among random tries (orient): first against the waters placed before it, then, in further
     * sweeps, against all of them, keeping its orientation unless a try is better: a
     * hydrogen-bond network of sorts, some 13 kJ/mol per water lower. It stays a lattice:
     * minimize before dynamics (docs/input.md). */
    for (int sweep = 0; sweep < WATER_SWEEPS; sweep++)
        for (long w = 0; w < nw; w++)
            orient(&g, w, sweep ? nw : w, O + 3 * w, (const double(*)[3])body, &rng, WATER_TRIES,
                   sweep > 0, g.pos + (size_t)w * na * 3);
    for (long w = 0; w < nw; w++) {
        const double *xw = g.pos + (size_t)w * na * 3;
        snprintf(c->resname[w], sizeof c->resname[0], "%s", t->name);
        for (int k = 0; k < na; k++) {
            long i = w * na + k;
            memcpy(&c->x[3 * i], &xw[3 * k], 3 * sizeof(double));
            snprintf(c->name[i], sizeof c->name[0], "%s", t->atoms[k].name);
            snprintf(c->element[i], sizeof c->element[0], "%s",
                     ff->types[t->atoms[k].type].element);
            c->atomic_number[i] = ff->types[t->atoms[k].type].atomic_number;
            c->res[i] = (int)w;
        }
    }
    clmd_free(site);
    clmd_free(O);
    clmd_free(g.sstart);
    clmd_free(g.shell);
    clmd_free(g.shift);
    clmd_free(g.pos);
    int st = clmd_ff_build(ff, c, out, err);
    clmd_coords_destroy(&c);
    return st;
}
