/* Bonded references. Force formulas: bonds and pairs along the pair vector; angles from the
 * derivative of theta = atan2(|a x b|, a.b); torsions by the Bekker/Blondel-Karplus
 * decomposition (as GROMACS's do_dih_fup), which stays finite away from collinear atoms. */
#include "ff/bonded_ref.h"

#include <math.h>
#include <stddef.h>

#include "system/box.h"
#include "system/system.h"

static inline double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static inline void cross3(const double *a, const double *b, double *c)
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

void clmd_bonded_ref_delta(const double (*box)[3], const double *xf, const double *xt, double d[3])
{
    for (int k = 0; k < 3; k++) d[k] = xt[k] - xf[k];
    if (box) clmd_box_min_image(box, d);
}

static inline void add3(double *f, int i, const double *v, double s)
{
    if (!f) return;
    f[3 * i] += s * v[0];
    f[3 * i + 1] += s * v[1];
    f[3 * i + 2] += s * v[2];
}

double clmd_bonded_ref_bonds(const clmd_system *sys, const double (*box)[3], const double *x,
                             double *f)
{
    double e = 0;
    for (int b = 0; b < sys->nbonds; b++) {
        const clmd_bond *t = &sys->bonds[b];
        double d[3];
        clmd_bonded_ref_delta(box, x + 3 * t->i, x + 3 * t->j, d);
        double r = sqrt(dot3(d, d)), dr = r - t->r0;
        e += 0.5 * t->k * dr * dr;
        if (r > 0) { /* dE/dr along d: pulls i toward j when stretched */
            double g = t->k * dr / r;
            add3(f, t->i, d, g);
            add3(f, t->j, d, -g);
        }
    }
    return e;
}

double clmd_bonded_ref_angles(const clmd_system *sys, const double (*box)[3], const double *x,
                              double *f)
{
    double e = 0;
    for (int a = 0; a < sys->nangles; a++) {
        const clmd_angle *t = &sys->angles[a];
        double u[3], v[3], c[3];
        clmd_bonded_ref_delta(box, x + 3 * t->j, x + 3 * t->i, u); /* j -> i */
        clmd_bonded_ref_delta(box, x + 3 * t->j, x + 3 * t->k, v); /* j -> k */
        cross3(u, v, c);
        double cn = sqrt(dot3(c, c)), theta = atan2(cn, dot3(u, v)), dt = theta - t->theta0;
        e += 0.5 * t->kf * dt * dt;
        double ru = sqrt(dot3(u, u)), rv = sqrt(dot3(v, v));
        double sn = cn / (ru * rv), cs = cos(theta);
        if (!f || !(sn > 1e-12)) continue; /* straight angle: the gradient direction is undefined */
        double g = t->kf * dt / sn, fi[3], fk[3];
        for (int k = 0; k < 3; k++) {
            fi[k] = g / ru * (v[k] / rv - cs * u[k] / ru);
            fk[k] = g / rv * (u[k] / ru - cs * v[k] / rv);
        }
        add3(f, t->i, fi, 1);
        add3(f, t->k, fk, 1);
        add3(f, t->j, fi, -1);
        add3(f, t->j, fk, -1);
    }
    return e;
}

double clmd_bonded_ref_torsions(const clmd_system *sys, const double (*box)[3], const double *x,
                                double *f)
{
    return clmd_bonded_ref_torsions_region(sys, box, x, f, 1);
}

/* One periodic torsion's energy; its forces added into f (may be NULL). */
static double torsion_one(const clmd_torsion *t, const double (*box)[3], const double *x, double *f)
{
    double rij[3], rkj[3], rkl[3], m[3], n[3], mn[3];
    clmd_bonded_ref_delta(box, x + 3 * t->j, x + 3 * t->i, rij); /* x_i - x_j */
    clmd_bonded_ref_delta(box, x + 3 * t->j, x + 3 * t->k, rkj); /* x_k - x_j */
    clmd_bonded_ref_delta(box, x + 3 * t->l, x + 3 * t->k, rkl); /* x_k - x_l */
    cross3(rij, rkj, m);
    cross3(rkj, rkl, n);
    cross3(m, n, mn);
    double phi = atan2(sqrt(dot3(mn, mn)), dot3(m, n));
    if (dot3(rij, n) < 0) phi = -phi; /* IUPAC sign, as OpenMM */
    double arg = t->periodicity * phi - t->phase;
    const double e = t->kf * (1 + cos(arg));
    double m2 = dot3(m, m), n2 = dot3(n, n), rkj2 = dot3(rkj, rkj);
    if (!f || !(m2 > 0 && n2 > 0 && rkj2 > 0)) return e;
    double dvdphi = -t->kf * t->periodicity * sin(arg), rkjn = sqrt(rkj2);
    double fi[3], fl[3], fj[3], fk[3];
    for (int k = 0; k < 3; k++) {
        fi[k] = -dvdphi * rkjn / m2 * m[k];
        fl[k] = dvdphi * rkjn / n2 * n[k];
    }
    double p = dot3(rij, rkj) / rkj2, r = dot3(rkl, rkj) / rkj2;
    for (int k = 0; k < 3; k++) {
        double s = p * fi[k] - r * fl[k];
        fj[k] = fi[k] - s;
        fk[k] = fl[k] + s;
    }
    add3(f, t->i, fi, 1);
    add3(f, t->j, fj, -1);
    add3(f, t->k, fk, -1);
    add3(f, t->l, fl, 1);
    return e;
}

static int torsion_in_region(const clmd_system *sys, const clmd_torsion *t)
{
    return sys->region && sys->region[t->i] && sys->region[t->j] && sys->region[t->k] &&
           sys->region[t->l];
}

double clmd_bonded_ref_torsions_region(const clmd_system *sys, const double (*box)[3],
                                       const double *x, double *f, double region_factor)
{
    double e = 0;
    for (int q = 0; q < sys->ntorsions; q++) {
        clmd_torsion tq = sys->torsions[q];
        if (torsion_in_region(sys, &tq)) tq.kf *= region_factor;
        e += torsion_one(&tq, box, x, f);
    }
    return e;
}

void clmd_bonded_ref_region_torsions(const clmd_system *sys, const double (*box)[3],
                                     const double *x, double *per_copy)
{
    for (int q = 0; q < sys->ntorsions; q++) {
        const clmd_torsion *t = &sys->torsions[q];
        if (torsion_in_region(sys, t))
            per_copy[clmd_system_segment(sys, t->i)] += torsion_one(t, box, x, NULL);
    }
}

double clmd_bonded_ref_pairs(const clmd_system *sys, const double (*box)[3], const double *x,
                             double *f)
{
    double e = 0;
    for (int p = 0; p < sys->npairs; p++) {
        const clmd_pair *t = &sys->pairs[p];
        double d[3];
        clmd_bonded_ref_delta(box, x + 3 * t->i, x + 3 * t->j, d);
        double r2 = dot3(d, d), r = sqrt(r2);
        double s2 = t->sigma * t->sigma / r2, s6 = s2 * s2 * s2;
        double ec = CLMD_COULOMB * t->qq / r, elj = 4 * t->eps * (s6 * s6 - s6);
        e += ec + elj;
        /* (dE/dr) / r, applied along d as for a bond */
        double g = (-ec - 4 * t->eps * (12 * s6 * s6 - 6 * s6)) / r2;
        add3(f, t->i, d, g);
        add3(f, t->j, d, -g);
    }
    return e;
}
