/* CMAP tables and reference. The node derivatives come from periodic cubic splines (as OpenMM's
 * CMAPTorsionForceImpl builds them), solved here in slope form: on a uniform periodic grid the
 * spline's slopes satisfy d[k-1] + 4 d[k] + d[k+1] = 3 (y[k+1] - y[k-1]) / h, a circulant system
 * whose inverse is known in closed form. Each patch is then the bicubic Hermite interpolant of
 * its four corners' values and derivatives (C = M F M^T with the cubic Hermite matrix M). */
#include "ff/cmap_ref.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "ff/bonded_ref.h"
#include "system/system.h"

void clmd_cmap_ref_spline_slopes(int n, double h, const double *y, double *d)
{
    /* circulant (1, 4, 1)^-1 has entries g_k = A (r^k + r^(n-k)), r the root of r^2 + 4r + 1
       inside the unit circle, A from the k = 0 equation g_(n-1) + 4 g_0 + g_1 = 1 */
    const double r = sqrt(3.0) - 2.0;
    const double rn = pow(r, n), rn1 = pow(r, n - 1);
    const double A = 1.0 / (4.0 * (1.0 + rn) + 2.0 * (r + rn1));
    double *g, *b;
    CLMD_NEW(g, n);
    CLMD_NEW(b, n);
    for (int k = 0; k < n; k++) {
        g[k] = A * (pow(r, k) + pow(r, n - k));
        b[k] = 3.0 * (y[(k + 1) % n] - y[(k + n - 1) % n]) / h;
    }
    for (int k = 0; k < n; k++) {
        double s = 0;
        for (int m = 0; m < n; m++) s += g[(k - m + n) % n] * b[m];
        d[k] = s;
    }
    clmd_free(g);
    clmd_free(b);
}

void clmd_cmap_ref_coefficients(int n, const double *E, double *c)
{
    const double h = 2.0 * M_PI / n;
    double *d1, *d2, *d12, *y, *d;
    CLMD_NEW(d1, n * n);
    CLMD_NEW(d2, n * n);
    CLMD_NEW(d12, n * n);
    CLMD_NEW(y, n);
    CLMD_NEW(d, n);
    for (int j = 0; j < n; j++) { /* dE/dphi along each line of constant psi */
        for (int i = 0; i < n; i++) y[i] = E[i + n * j];
        clmd_cmap_ref_spline_slopes(n, h, y, d);
        for (int i = 0; i < n; i++) d1[i + n * j] = d[i];
    }
    for (int i = 0; i < n; i++) { /* dE/dpsi along each line of constant phi */
        for (int j = 0; j < n; j++) y[j] = E[i + n * j];
        clmd_cmap_ref_spline_slopes(n, h, y, d);
        for (int j = 0; j < n; j++) d2[i + n * j] = d[j];
    }
    for (int j = 0; j < n; j++) { /* d2E/dphi dpsi: the phi-spline of dE/dpsi */
        for (int i = 0; i < n; i++) y[i] = d2[i + n * j];
        clmd_cmap_ref_spline_slopes(n, h, y, d);
        for (int i = 0; i < n; i++) d12[i + n * j] = d[i];
    }
    /* cubic Hermite on [0, 1]: coefficients of t^p from (f(0), f(1), f'(0), f'(1)) */
    static const double M[4][4] = {{1, 0, 0, 0}, {0, 0, 1, 0}, {-3, 3, -2, -1}, {2, -2, 1, 1}};
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            const int i1 = (i + 1) % n, j1 = (j + 1) % n;
            const int k00 = i + n * j, k10 = i1 + n * j, k01 = i + n * j1, k11 = i1 + n * j1;
            /* rows: u-data (value at u = 0, 1, u-slope at 0, 1); columns: the same in v; the
               slopes in patch units (times h) */
            const double F[4][4] = {
                {E[k00], E[k01], d2[k00] * h, d2[k01] * h},
                {E[k10], E[k11], d2[k10] * h, d2[k11] * h},
                {d1[k00] * h, d1[k01] * h, d12[k00] * h * h, d12[k01] * h * h},
                {d1[k10] * h, d1[k11] * h, d12[k10] * h * h, d12[k11] * h * h}};
            double MF[4][4];
            for (int p = 0; p < 4; p++)
                for (int q = 0; q < 4; q++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += M[p][k] * F[k][q];
                    MF[p][q] = s;
                }
            double *cc = c + 16 * (size_t)(i + n * j);
            for (int p = 0; p < 4; p++)
                for (int q = 0; q < 4; q++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += MF[p][k] * M[q][k];
                    cc[4 * p + q] = s;
                }
        }
    clmd_free(d1);
    clmd_free(d2);
    clmd_free(d12);
    clmd_free(y);
    clmd_free(d);
}

void clmd_cmap_ref_offsets(const clmd_system *sys, int *off)
{
    off[0] = 0;
    for (int m = 0; m < sys->ncmap_maps; m++)
        off[m + 1] = off[m] + sys->cmap_maps[m].size * sys->cmap_maps[m].size;
}

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

/* One torsion i-j-k-l: its vectors, plane normals and angle (IUPAC sign, as bonded_ref). */
typedef struct tors { double rij[3], rkj[3], rkl[3], m[3], n[3], phi; } tors;

static void torsion(const double (*box)[3], const double *x, int i, int j, int k, int l, tors *t)
{
    clmd_bonded_ref_delta(box, x + 3 * j, x + 3 * i, t->rij); /* x_i - x_j */
    clmd_bonded_ref_delta(box, x + 3 * j, x + 3 * k, t->rkj); /* x_k - x_j */
    clmd_bonded_ref_delta(box, x + 3 * l, x + 3 * k, t->rkl); /* x_k - x_l */
    cross3(t->rij, t->rkj, t->m);
    cross3(t->rkj, t->rkl, t->n);
    /* m x n = rkj (rij . n): the sine part along rkj carries the sign */
    double mn[3];
    cross3(t->m, t->n, mn);
    t->phi = atan2(dot3(mn, t->rkj) / sqrt(dot3(t->rkj, t->rkj)), dot3(t->m, t->n));
}

/* Adds -dE/dphi dphi/dx of one torsion (Bekker / Blondel-Karplus, as bonded_ref). */
static void torsion_force(const tors *t, double dedphi, int i, int j, int k, int l, double *f)
{
    double m2 = dot3(t->m, t->m), n2 = dot3(t->n, t->n), rkj2 = dot3(t->rkj, t->rkj);
    if (!f || !(m2 > 0 && n2 > 0 && rkj2 > 0)) return;
    double rkjn = sqrt(rkj2), p = dot3(t->rij, t->rkj) / rkj2, r = dot3(t->rkl, t->rkj) / rkj2;
    for (int c = 0; c < 3; c++) {
        double fi = -dedphi * rkjn / m2 * t->m[c], fl = dedphi * rkjn / n2 * t->n[c];
        double sv = p * fi - r * fl;
        f[3 * i + c] += fi;
        f[3 * j + c] -= fi - sv;
        f[3 * k + c] -= fl + sv;
        f[3 * l + c] += fl;
    }
}

/* The grid cell of an angle in (-pi, pi] and the position u in [0, 1] inside it. */
static int cell(double angle, int n, double h, double *u)
{
    double a = angle < 0 ? angle + 2.0 * M_PI : angle, x = a / h;
    int s = (int)x;
    if (s > n - 1) s = n - 1; /* angle + 2pi rounded up to 2pi: the end of the last cell */
    if (s < 0) s = 0;
    *u = x - s;
    return s;
}

void clmd_cmap_ref_angles(const clmd_system *sys, const double (*box)[3], int k, const double *x,
                          double *phi, double *psi)
{
    const clmd_cmap *c = &sys->cmaps[k];
    tors A, B;
    torsion(box, x, c->a, c->b, c->c, c->d, &A);
    torsion(box, x, c->b, c->c, c->d, c->e, &B);
    *phi = A.phi;
    *psi = B.phi;
}

double clmd_cmap_ref_eval(const clmd_system *sys, const double (*box)[3], const double *coeff,
                          const int *off, const double *x, double *f)
{
    double etot = 0;
    for (int k = 0; k < sys->ncmaps; k++) {
        const clmd_cmap *c = &sys->cmaps[k];
        const int n = sys->cmap_maps[c->map].size;
        const double h = 2.0 * M_PI / n;
        tors A, B;
        torsion(box, x, c->a, c->b, c->c, c->d, &A);
        torsion(box, x, c->b, c->c, c->d, c->e, &B);
        double u, v;
        int s = cell(A.phi, n, h, &u), t = cell(B.phi, n, h, &v);
        const double *cc = coeff + 16 * (size_t)(off[c->map] + s + n * t);
        /* per power of u: the cubic in v and its v-derivative; then Horner in u */
        double e = 0, dedu = 0, dedv = 0;
        for (int p = 3; p >= 0; p--) {
            const double *r = cc + 4 * p;
            double vp = ((r[3] * v + r[2]) * v + r[1]) * v + r[0];
            double wp = (3 * r[3] * v + 2 * r[2]) * v + r[1];
            if (p > 0) dedu = dedu * u + p * vp;
            e = e * u + vp;
            dedv = dedv * u + wp;
        }
        etot += e;
        torsion_force(&A, dedu / h, c->a, c->b, c->c, c->d, f);
        torsion_force(&B, dedv / h, c->b, c->c, c->d, c->e, f);
    }
    return etot;
}
