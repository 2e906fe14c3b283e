/* The pair-list buffer from the energy drift it allows (verletbuf.h). */
#include "nlist/verletbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/plan.h"
#include "system/system.h"

/* how an atom moves: the centre it moves with (per-dimension variance im3 kT t^2) and, when
 * constrained to a heavier partner, a rotation (variance rf kT t^2 on an arm of length^2 a2) */
typedef struct motion {
    double im3, rf, a2;
} motion;

typedef struct aclass {
    int motion;    /* index into motions */
    double q;      /* charge, quantized */
    double sig, eps; /* Lorentz-Berthelot parameters (lj_table: type in `type`) */
    int type;
    long count;
} aclass;

/* one pair of classes: the Taylor coefficients of their potential at the cutoff, -V', V''/2,
 * -V'''/6 (kJ/mol/nm^k), and the number of such pairs */
typedef struct cpair {
    int ma, mb;
    double c[3];
    double count;
} cpair;

struct clmd_verletbuf {
    int nmotions, nclasses;
    motion *motions;
    size_t npairs;
    cpair *pairs;
    double rc, density, natoms;
};

/* The potential per unit parameter at distance r, smooth beyond the cutoff (the switch's
 * polynomial continued): which 0 the r^-12 part, 1 the r^-6 part (both times the switch),
 * 2 the Coulomb part per e^2. */
static double unit_potential(const clmd_ffplan *p, int which, double r)
{
    if (which < 2) {
        const double r6 = 1.0 / (r * r * r * r * r * r);
        double v = which == 0 ? r6 * r6 : r6, rsw = p->o.switch_nm, rc = p->o.cutoff_nm;
        if (rsw > 0 && rsw < rc) {
            const double x = (r - rsw) / (rc - rsw);
            if (x > 0) v *= 1 - x * x * x * (10 - x * (15 - 6 * x));
        }
        return v;
    }
    switch (p->coulomb) {
    case 1: return CLMD_COULOMB / r;
    case 2: return CLMD_COULOMB * (1 / r + p->krf * r * r - p->crf);
    case 3: return CLMD_COULOMB * erfc(p->ewald_alpha * r) / r;
    default: return 0;
    }
}

/* -V', V''/2, -V'''/6 at the cutoff by central differences (fourth order for the first two) */
static void taylor(const clmd_ffplan *p, int which, double out[3])
{
    const double rc = p->o.cutoff_nm, h = 2e-3 * rc;
    double v[5];
    for (int k = 0; k < 5; k++) v[k] = unit_potential(p, which, rc + (k - 2) * h);
    const double d1 = (v[0] - 8 * v[1] + 8 * v[3] - v[4]) / (12 * h);
    const double d2 = (-v[0] + 16 * v[1] - 30 * v[2] + 16 * v[3] - v[4]) / (12 * h * h);
    const double d3 = (-v[0] + 2 * v[1] - 2 * v[3] + v[4]) / (2 * h * h * h);
    out[0] = -d1;
    out[1] = d2 / 2;
    out[2] = -d3 / 6;
}

static int cmp_class(const void *a, const void *b)
{
    const aclass *x = a, *y = b;
    if (x->motion != y->motion) return x->motion < y->motion ? -1 : 1;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    if (x->sig != y->sig) return x->sig < y->sig ? -1 : 1;
    if (x->eps != y->eps) return x->eps < y->eps ? -1 : 1;
    return 0;
}

/* the index of motion m in the table (added when new) */
static int motion_index(clmd_verletbuf *vb, motion m, int *cap)
{
    for (int k = 0; k < vb->nmotions; k++) {
        const motion *o = &vb->motions[k];
        if (fabs(o->im3 - m.im3) <= 1e-3 * m.im3 && fabs(o->rf - m.rf) <= 1e-3 * fabs(m.rf) &&
            fabs(o->a2 - m.a2) <= 1e-3 * m.a2)
            return k;
    }
    if (vb->nmotions == *cap) {
        const int old = *cap;
        *cap = old ? 2 * old : 16;
        vb->motions = clmd_realloc(vb->motions, sizeof *vb->motions * (size_t)old,
                                   sizeof *vb->motions * (size_t)*cap);
    }
    vb->motions[vb->nmotions] = m;
    return vb->nmotions++;
}

/* Atoms per nm^3 about an average atom: a grid of cells about the cutoff in size over the box
 * (or the atoms' bounding box), sum of count^2 over the atom count and the cell volume. */
static double effective_density(const clmd_system *sys, int n, const unsigned char *use,
                                const double box[3][3], double rc)
{
    double lo[3] = {INFINITY, INFINITY, INFINITY}, len[3];
    int nc[3];
    if (box) {
        for (int d = 0; d < 3; d++) {
            len[d] = box[d][d];
            nc[d] = (int)(len[d] / rc);
            if (nc[d] < 1) nc[d] = 1;
        }
    } else {
        double hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int i = 0; i < n; i++)
            if (use[i])
                for (int d = 0; d < 3; d++) {
                    lo[d] = fmin(lo[d], sys->x[3 * i + d]);
                    hi[d] = fmax(hi[d], sys->x[3 * i + d]);
                }
        for (int d = 0; d < 3; d++) {
            nc[d] = (int)((hi[d] - lo[d]) / rc) + 1;
            len[d] = nc[d] * rc;
        }
    }
    const size_t ncell = (size_t)nc[0] * nc[1] * nc[2];
    long *cnt = clmd_calloc(ncell, sizeof *cnt);
    long natoms = 0;
    for (int i = 0; i < n; i++) {
        if (!use[i]) continue;
        const double *x = &sys->x[3 * i];
        double f[3];
        if (box) {
            /* fractional coordinates of the reduced box (rows a, b, c; lower triangular) */
            f[2] = x[2] / box[2][2];
            f[1] = (x[1] - f[2] * box[2][1]) / box[1][1];
            f[0] = (x[0] - f[2] * box[2][0] - f[1] * box[1][0]) / box[0][0];
            for (int d = 0; d < 3; d++) f[d] -= floor(f[d]);
        } else {
            for (int d = 0; d < 3; d++) f[d] = (x[d] - lo[d]) / len[d];
        }
        int c[3];
        for (int d = 0; d < 3; d++) {
            c[d] = (int)(f[d] * nc[d]);
            if (c[d] >= nc[d]) c[d] = nc[d] - 1;
            if (c[d] < 0) c[d] = 0;
        }
        cnt[((size_t)c[2] * nc[1] + c[1]) * nc[0] + c[0]]++;
        natoms++;
    }
    double s2 = 0;
    for (size_t k = 0; k < ncell; k++) s2 += (double)cnt[k] * (double)cnt[k];
    clmd_free(cnt);
    double vol = box ? box[0][0] * box[1][1] * box[2][2] : len[0] * len[1] * len[2];
    return natoms > 0 ? s2 / (double)natoms / (vol / (double)ncell) : 0;
}

int clmd_verletbuf_create(const clmd_system *sys, const clmd_ffplan *plan, const double box[3][3],
                          clmd_verletbuf **out, clmd_err *err)
{
    (void)err;
    clmd_verletbuf *vb = clmd_calloc(1, sizeof *vb);
    /* one copy of batched replicas: they are identical and never interact */
    const int n = sys->nseg > 1 && sys->seg_base ? sys->seg_base->n : sys->n;
    vb->rc = plan->o.cutoff_nm;
    /* per atom: the heaviest partner it is constrained to, and its length */
    double *pm = clmd_calloc((size_t)n, sizeof *pm), *pd = clmd_calloc((size_t)n, sizeof *pd);
    for (int k = 0; k < sys->nconstraints; k++) {
        const clmd_constraint *c = &sys->constraints[k];
        if (c->i >= n || c->j >= n) continue;
        if (sys->mass[c->j] > pm[c->i]) pm[c->i] = sys->mass[c->j], pd[c->i] = c->d;
        if (sys->mass[c->i] > pm[c->j]) pm[c->j] = sys->mass[c->i], pd[c->j] = c->d;
    }
    /* virtual sites: their parents' weights */
    int *site = clmd_alloc(sizeof *site * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) site[i] = -1;
    for (int k = 0; k < sys->nvsites; k++)
        if (sys->vsites[k].site < n) site[sys->vsites[k].site] = k;
    unsigned char *use = clmd_calloc((size_t)(n > 0 ? n : 1), 1);
    double qrms = 0;
    for (int i = 0; i < n; i++) qrms += sys->charge[i] * sys->charge[i];
    qrms = sqrt(qrms / (n > 0 ? n : 1));
    const double qres = qrms > 0 ? 0.01 * qrms : 1;
    aclass *cls = clmd_calloc((size_t)(n > 0 ? n : 1), sizeof *cls);
    int ncls = 0, cap = 0;
    for (int i = 0; i < n; i++) {
        motion m = {0, 0, 0};
        if (site[i] >= 0) {
            const clmd_vsite *v = &sys->vsites[site[i]];
            const int par[3] = {v->a, v->b, v->c};
            for (int k = 0; k < 3; k++)
                if (par[k] >= 0 && par[k] < n && sys->mass[par[k]] > 0 && v->w[k] != 0)
                    m.im3 += v->w[k] * v->w[k] / sys->mass[par[k]];
        } else if (sys->mass[i] > 0) {
            const double mi = sys->mass[i], M = pm[i];
            /* a partner of less than 0.4 times its mass barely holds it (GROMACS's rule) */
            if (M > 0.4 * mi) {
                const double f = M / (mi + M), a = pd[i] * f;
                m.im3 = 1 / (mi + M);
                m.rf = f / mi;
                m.a2 = a * a;
            } else {
                m.im3 = 1 / mi;
            }
        }
        if (!(m.im3 > 0)) continue; /* ghosts of batched copies, massless sites without parents */
        const int lj = sys->epsilon[i] != 0 || (sys->lj_table && sys->type);
        if (sys->charge[i] == 0 && !lj) continue; /* interacts with nothing */
        use[i] = 1;
        aclass *c = &cls[ncls++];
        c->motion = motion_index(vb, m, &cap);
        c->q = qres * nearbyint(sys->charge[i] / qres);
        if (sys->lj_table) {
            c->type = sys->type[i];
        } else {
            c->type = -1;
            c->sig = sys->sigma[i];
            c->eps = sys->epsilon[i];
        }
        c->count = 1;
    }
    vb->natoms = ncls;
    qsort(cls, (size_t)ncls, sizeof *cls, cmp_class);
    int u = 0;
    for (int k = 0; k < ncls; k++) {
        if (u > 0 && cmp_class(&cls[u - 1], &cls[k]) == 0) cls[u - 1].count++;
        else cls[u++] = cls[k];
    }
    vb->nclasses = u;
    /* the Taylor coefficients per unit c12, c6 and charge product */
    double t12[3], t6[3], tq[3];
    taylor(plan, 0, t12);
    taylor(plan, 1, t6);
    taylor(plan, 2, tq);
    vb->npairs = (size_t)u * (size_t)(u + 1) / 2;
    vb->pairs = clmd_calloc(vb->npairs > 0 ? vb->npairs : 1, sizeof *vb->pairs);
    size_t np = 0;
    for (int a = 0; a < u; a++)
        for (int b = a; b < u; b++) {
            const aclass *x = &cls[a], *y = &cls[b];
            double c6, c12;
            if (sys->lj_table) {
                c6 = sys->c6[x->type * sys->ntypes + y->type];
                c12 = sys->c12[x->type * sys->ntypes + y->type];
            } else {
                const double s = 0.5 * (x->sig + y->sig), e = sqrt(x->eps * y->eps);
                const double s6 = s * s * s * s * s * s;
                c6 = 4 * e * s6;
                c12 = c6 * s6;
            }
            const double qq = x->q * y->q;
            cpair *p = &vb->pairs[np];
            for (int k = 0; k < 3; k++) p->c[k] = c12 * t12[k] - c6 * t6[k] + qq * tq[k];
            if (p->c[0] == 0 && p->c[1] == 0 && p->c[2] == 0) continue;
            p->ma = x->motion;
            p->mb = y->motion;
            p->count = a == b ? 0.5 * (double)x->count * (double)(x->count - 1)
                              : (double)x->count * (double)y->count;
            if (p->count > 0) np++;
        }
    vb->npairs = np;
    vb->density = effective_density(sys, n, use, plan->periodic ? box : NULL, vb->rc);
    clmd_free(cls);
    clmd_free(use);
    clmd_free(site);
    clmd_free(pm);
    clmd_free(pd);
    *out = vb;
    return CLMD_OK;
}

void clmd_verletbuf_destroy(clmd_verletbuf **vb)
{
    if (!vb || !*vb) return;
    clmd_free((*vb)->motions);
    clmd_free((*vb)->pairs);
    clmd_free(*vb);
    *vb = NULL;
}

/* Displacement variance (nm^2) of motion m at kT t^2 = ktt: *v2 the rotation's (a constrained
 * atom on its sphere: the ballistic arc shortened by the arcsine's series, which levels off where
 * x = 4.74, near the uniform spread over the sphere), the return value the total (per
 * dimension of the pair's axis). */
static double motion_var2(const motion *m, double ktt, double *v2)
{
    double r = 0;
    if (m->rf > 0 && m->a2 > 0) {
        double x = ktt * m->rf / m->a2;
        if (x > 4.743) x = 4.743;
        r = m->a2 * x / (1 + x / 3 + 2 * x * x / 45);
    }
    if (v2) *v2 = r;
    return ktt * m->im3 + r;
}

static double motion_var(const motion *m, double ktt) { return motion_var2(m, ktt, NULL); }

/* A rotating (constrained) atom moves in two dimensions: the projection of its displacement on
 * the pair's axis has the density erfc(u / sqrt(2 v2)) shape, not a Gaussian's. It is replaced
 * by a Gaussian shifted by *shift and scaled by *scale that touches it (value and slope) at u0,
 * where the pair's tail is decided (u0 = buffer v2 / v): a tight overestimate of the tail. */
static void two_dof(double v2, double u0, double *shift, double *scale)
{
    const double e = exp(-u0 * u0 / (2 * v2)), c = erfc(u0 / sqrt(2 * v2));
    if (!(c > 1e-300) || !(e > 1e-300)) {
        *shift = 0;
        *scale = 1;
        return;
    }
    *shift = -u0 + sqrt(2 * v2 / M_PI) * e / c;
    *scale = 0.5 * M_PI * exp(e * e / (M_PI * c * c)) * c;
}

/* The Gaussian of the pair (a, b) at buffer s: the variance, and the buffer and weight after
 * the two-dimensional corrections of rotating atoms. */
static double pair_gauss(const clmd_verletbuf *vb, int a, int b, double ktt, double s,
                         double *s_eff, double *w)
{
    double ra, rb;
    const double v = motion_var2(&vb->motions[a], ktt, &ra) + motion_var2(&vb->motions[b], ktt, &rb);
    *s_eff = s;
    *w = 1;
    const double r2[2] = {ra, rb};
    for (int k = 0; k < 2; k++)
        if (r2[k] > 0 && s > 0) {
            double sh, sc;
            two_dof(r2[k], s * r2[k] / v, &sh, &sc);
            *s_eff += sh;
            *w *= sc;
        }
    return v;
}

/* The partial moments of the Gaussian tail beyond the buffer s: J_k = E[(u - s)^(k+1); u > s]
 * / (k + 1) for k = 1..3, u ~ N(0, var). */
static void tail_moments(double s, double var, double j[3])
{
    const double sd = sqrt(var), G = exp(-s * s / (2 * var)) / sqrt(2 * M_PI);
    const double E = 0.5 * erfc(s / (sqrt(2.0) * sd)), s2 = s * s;
    j[0] = 0.5 * ((s2 + var) * E - s * sd * G);
    j[1] = (sd * (s2 + 2 * var) * G - s * (s2 + 3 * var) * E) / 3;
    j[2] = ((s2 * s2 + 6 * s2 * var + 3 * var * var) * E - s * sd * (s2 + 5 * var) * G) / 4;
}

/* The share of the pairs just beyond rlist that a list of clusters of `size` atoms leaves out
 * (its other atoms' spheres cover the rest): the surface about a cluster (HCP spacing at the
 * effective density, tetrahedral clusters of 4; larger clusters counted as 4, which
 * overestimates) over `size` spheres' (GROMACS's estimate). */
static double cluster_share(const clmd_verletbuf *vb, int size, double rlist)
{
    if (size >= 4) size = 4;
    if (size <= 1 || !(vb->density > 0)) return 1;
    const double spacing = cbrt(sqrt(2.0) / vb->density);
    if (rlist < 0.5 * spacing) return 1;
    const double d = 0.5 * spacing / rlist, d2 = d * d;
    double area = 1 + d;
    if (size >= 4)
        area = 1 + (6 * acos(1 / sqrt(3.0)) * d +
                    sqrt(3.0) * d2 * (1 + 5.0 / 18 * d2 + 7.0 / 45 * d2 * d2 + 83.0 / 756 * d2 * d2 * d2)) / M_PI;
    else size = 2;
    return area / size;
}

double clmd_verletbuf_drift(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                            double buffer_nm, int ci, int cj)
{
    if (vb->npairs == 0 || vb->natoms <= 0 || steps < 1) return 0;
    const double t = (steps - 1) * dt_ps, ktt = kT * t * t;
    if (!(ktt > 0)) return 0;
    const int nm = vb->nmotions;
    /* the tail moments of each pair of motions, once, with their weights and shells */
    double(*jm)[3] = clmd_alloc(sizeof *jm * (size_t)nm * (size_t)nm);
    double *shell = clmd_alloc(sizeof *shell * (size_t)nm * (size_t)nm);
    for (int a = 0; a < nm; a++)
        for (int b = a; b < nm; b++) {
            double se, w;
            const double v = pair_gauss(vb, a, b, ktt, buffer_nm, &se, &w);
            const double r = vb->rc + buffer_nm + sqrt(v);
            tail_moments(se, v, jm[a * nm + b]);
            for (int k = 0; k < 3; k++) jm[a * nm + b][k] *= w;
            memcpy(jm[b * nm + a], jm[a * nm + b], sizeof jm[0]);
            shell[a * nm + b] = shell[b * nm + a] = 4 * M_PI * r * r;
        }
    double e = 0;
    for (size_t k = 0; k < vb->npairs; k++) {
        const cpair *p = &vb->pairs[k];
        const double *j = jm[p->ma * nm + p->mb];
        const double ek = p->c[0] * j[0] + p->c[1] * j[1] + p->c[2] * j[2];
        e += fabs(ek) * p->count * shell[p->ma * nm + p->mb];
    }
    clmd_free(jm);
    clmd_free(shell);
    const double rl = vb->rc + buffer_nm;
    e *= cluster_share(vb, ci, rl) * cluster_share(vb, cj, rl);
    /* pairs per atom in a shell: density / atoms; per list lifetime and atom */
    return e * vb->density / vb->natoms / (vb->natoms * steps * dt_ps);
}

double clmd_verletbuf_missed(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                             double buffer_nm)
{
    if (vb->npairs == 0 || vb->natoms <= 0 || steps < 1) return 0;
    const double t = (steps - 1) * dt_ps, ktt = kT * t * t;
    if (!(ktt > 0)) return 0;
    double m = 0;
    for (size_t k = 0; k < vb->npairs; k++) {
        const cpair *p = &vb->pairs[k];
        double s, w;
        const double v = pair_gauss(vb, p->ma, p->mb, ktt, buffer_nm, &s, &w);
        const double sd = sqrt(v), r = vb->rc + buffer_nm + sd;
        /* E[(u - s); u > s]: the depth inside the cutoff, integrated over the starting distance */
        const double j0 = sd * exp(-s * s / (2 * v)) / sqrt(2 * M_PI) - s * 0.5 * erfc(s / (sqrt(2.0) * sd));
        m += w * p->count * 4 * M_PI * r * r * j0;
    }
    return m * vb->density / vb->natoms;
}

double clmd_verletbuf_size(const clmd_verletbuf *vb, double kT, double dt_ps, int steps,
                           double tol, int ci, int cj)
{
    const double res = 0.001;
    if (clmd_verletbuf_drift(vb, kT, dt_ps, steps, 0, ci, cj) <= tol) return 0;
    long lo = 0, hi = 1;
    while (clmd_verletbuf_drift(vb, kT, dt_ps, steps, hi * res, ci, cj) > tol && hi < 100000) hi *= 2;
    while (hi - lo > 1) {
        const long mid = (lo + hi) / 2;
        if (clmd_verletbuf_drift(vb, kT, dt_ps, steps, mid * res, ci, cj) > tol) lo = mid;
        else hi = mid;
    }
    return hi * res;
}

double clmd_verletbuf_sigma_max(const clmd_verletbuf *vb, double kT, double dt_ps, int steps)
{
    const double t = steps * dt_ps, ktt = kT * t * t;
    double m = 0;
    for (int k = 0; k < vb->nmotions; k++) m = fmax(m, motion_var(&vb->motions[k], ktt));
    return sqrt(3 * m);
}

int clmd_verletbuf_classes(const clmd_verletbuf *vb) { return vb->nclasses; }

double clmd_verletbuf_density(const clmd_verletbuf *vb) { return vb->density; }
