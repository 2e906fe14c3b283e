/* Double-precision CPU reference for Ewald electrostatics (see pme_ref.h). */
#include "ff/pme_ref.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "system/system.h"

#define PME_MAX_ORDER 16

/* ---- parameters ---- */

int clmd_pme_legal_size(int n, clmd_pme_grid_rule rule)
{
    if (n < 1) return 1;
    if (rule == CLMD_PME_GRID_ANY) return n;
    for (;; n++) {
        int rest = n;
        static const int primes[] = {2, 3, 5, 7};
        for (int p = 0; p < 4; p++)
            while (rest % primes[p] == 0) rest /= primes[p];
        if (rest == 1) return n;
    }
}

int clmd_pme_params(double cutoff_nm, double tol, const double box[3][3], double alpha_forced,
                    const int grid_forced[3], clmd_pme_grid_rule rule, double *alpha,
                    int grid[3], clmd_err *err)
{
    if (!(cutoff_nm > 0))
        return clmd_err_set(err, CLMD_EINPUT, "PME: cutoff must be > 0 (got %g nm)", cutoff_nm);
    if (!(tol > 0 && tol < 0.5))
        return clmd_err_set(err, CLMD_EINPUT,
                            "PME: ewald_error_tolerance must be in (0, 0.5) (got %g)", tol);
    for (int d = 0; d < 3; d++)
        if (!(box[d][d] > 0))
            return clmd_err_set(err, CLMD_EINPUT, "PME: box vector %d has a non-positive "
                                "diagonal element (%g nm)", d, box[d][d]);
    double a = alpha_forced > 0 ? alpha_forced : sqrt(-log(2.0 * tol)) / cutoff_nm;
    int forced = grid_forced && grid_forced[0] > 0 && grid_forced[1] > 0 && grid_forced[2] > 0;
    for (int d = 0; d < 3; d++) {
        /* the same expression, in the same order, as OpenMM 7.7 so the ceil() agrees exactly */
        int k = forced ? grid_forced[d] : (int)ceil(2 * a * box[d][d] / (3 * pow(tol, 0.2)));
        if (!forced && k < 6) k = 6;
        grid[d] = clmd_pme_legal_size(k, rule);
    }
    *alpha = a;
    return CLMD_OK;
}

/* ---- B-splines ---- */

void clmd_pme_bspline(int order, double w, double *theta, double *dtheta)
{
    /* Cox-de Boor recursion on c[j] = M_k(w + j), starting from M_1 = 1 on [0, 1). */
    double c[PME_MAX_ORDER + 1];
    CLMD_ASSERT(order >= 2 && order <= PME_MAX_ORDER);
    c[0] = 1.0;
    for (int k = 2; k <= order; k++) {
        if (k == order && dtheta) /* M_n'(x) = M_{n-1}(x) - M_{n-1}(x - 1) */
            for (int j = 0; j < order; j++)
                dtheta[j] = (j < order - 1 ? c[j] : 0.0) - (j > 0 ? c[j - 1] : 0.0);
        double inv = 1.0 / (k - 1);
        c[k - 1] = 0.0;
        for (int j = k - 1; j >= 0; j--)
            c[j] = ((w + j) * c[j] + (j > 0 ? (k - w - j) * c[j - 1] : 0.0)) * inv;
    }
    for (int j = 0; j < order; j++) theta[j] = c[j];
}

void clmd_pme_bspline_moduli(int order, int K, double *mod)
{
    double m[PME_MAX_ORDER];
    clmd_pme_bspline(order, 0.0, m, NULL); /* m[j] = M(j), m[0] = 0 */
    double *raw;
    CLMD_NEW(raw, K);
    for (int i = 0; i < K; i++) {
        double sc = 0, ss = 0;
        for (int k = 0; k + 1 < order; k++) {
            double arg = 2 * M_PI * (double)i * (double)k / K;
            sc += m[k + 1] * cos(arg);
            ss += m[k + 1] * sin(arg);
        }
        raw[i] = sc * sc + ss * ss;
    }
    /* Exact zeros (Nyquist, odd order) would divide by zero; their exp() factor is negligible
     * anyway, so any finite stand-in works: the neighbours' mean, as OpenMM does. */
    for (int i = 0; i < K; i++)
        mod[i] = raw[i] < 1e-7 ? 0.5 * (raw[(i + K - 1) % K] + raw[(i + 1) % K]) : raw[i];
    clmd_free(raw);
}

/* ---- box ---- */

static void cross(const double a[3], const double b[3], double c[3])
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

static double dot3(const double a[3], const double b[3])
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

int clmd_pme_recip_box(const double box[3][3], double recip[3][3], double *volume, clmd_err *err)
{
    double bc[3];
    cross(box[1], box[2], bc);
    double v = dot3(box[0], bc);
    double scale = fabs(box[0][0]) + fabs(box[1][1]) + fabs(box[2][2]);
    if (!(v > 1e-12 * scale * scale * scale))
        return clmd_err_set(err, CLMD_EINPUT,
                            "periodic box is degenerate or left-handed (volume %g nm^3)", v);
    cross(box[1], box[2], recip[0]);
    cross(box[2], box[0], recip[1]);
    cross(box[0], box[1], recip[2]);
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 3; k++) recip[d][k] /= v;
    if (volume) *volume = v;
    return CLMD_OK;
}

/* Signed frequency of grid index k (OpenMM's convention: index K/2 of an even grid is -K/2). */
static int freq(int k, int K)
{
    return k < (K + 1) / 2 ? k : k - K;
}

/* The influence function from precomputed B-spline moduli (they depend only on order and grid). */
static void influence_fill(const int grid[3], double *const mod[3], double alpha,
                           const double recip[3][3], double volume, double *g)
{
    int K0 = grid[0], K1 = grid[1], K2 = grid[2], H2 = K2 / 2 + 1;
    double pre = CLMD_COULOMB / (M_PI * volume), fac = M_PI * M_PI / (alpha * alpha);
    for (int k0 = 0; k0 < K0; k0++) {
        int m0 = freq(k0, K0);
        for (int k1 = 0; k1 < K1; k1++) {
            int m1 = freq(k1, K1);
            for (int k2 = 0; k2 < H2; k2++) {
                int m2 = freq(k2, K2);
                double mv[3];
                for (int c = 0; c < 3; c++)
                    mv[c] = m0 * recip[0][c] + m1 * recip[1][c] + m2 * recip[2][c];
                double msq = dot3(mv, mv);
                size_t at = ((size_t)k0 * K1 + k1) * H2 + k2;
                g[at] = (k0 || k1 || k2)
                            ? pre * exp(-fac * msq) / (msq * mod[0][k0] * mod[1][k1] * mod[2][k2])
                            : 0.0;
            }
        }
    }
}

int clmd_pme_influence_moduli(int order, const int grid[3], double alpha, const double box[3][3],
                              const double *const mod[3], double *g, clmd_err *err)
{
    double recip[3][3], v;
    int rc = clmd_pme_recip_box(box, recip, &v, err);
    if (rc) return rc;
    if (order < 2 || order > PME_MAX_ORDER || !(alpha > 0))
        return clmd_err_set(err, CLMD_EINPUT, "PME influence: bad order %d or alpha %g", order, alpha);
    influence_fill(grid, (double **)mod, alpha, recip, v, g);
    return CLMD_OK;
}

int clmd_pme_influence(int order, const int grid[3], double alpha, const double box[3][3],
                       double *g, clmd_err *err)
{
    if (order < 2 || order > PME_MAX_ORDER)
        return clmd_err_set(err, CLMD_EINPUT, "PME influence: bad order %d or alpha %g", order, alpha);
    double *mod[3];
    for (int d = 0; d < 3; d++) {
        CLMD_NEW(mod[d], grid[d]);
        clmd_pme_bspline_moduli(order, grid[d], mod[d]);
    }
    int rc = clmd_pme_influence_moduli(order, grid, alpha, box, (const double *const *)mod, g, err);
    for (int d = 0; d < 3; d++) clmd_free(mod[d]);
    return rc;
}

/* ---- PME ---- */

struct clmd_pme_ref {
    int n, order, K[3];
    double alpha;
    double *grid;         /* real grid [K0][K1][K2]: charges, then potential */
    fftw_complex *cgrid;  /* half-complex grid [K0][K1][K2/2+1] */
    double *g;            /* influence function on the half-complex grid */
    double *mod[3];       /* B-spline moduli per dimension, made at create */
    double gbox[3][3];    /* box the influence function was made for */
    int g_valid;
    double box[3][3], recip[3][3];
    fftw_plan fwd, bwd;
    int *idx;             /* [3n] grid index of floor(u) per dimension */
    double *theta, *dtheta; /* [3n*order]: atom i, dimension d at ((3i + d) * order) */
};

int clmd_pme_ref_create(int n, double alpha, const int grid[3], int order, clmd_pme_ref **pme,
                        clmd_err *err)
{
    *pme = NULL;
    if (n < 0) return clmd_err_set(err, CLMD_EINPUT, "PME: negative particle count %d", n);
    if (!(alpha > 0)) return clmd_err_set(err, CLMD_EINPUT, "PME: alpha must be > 0 (got %g)", alpha);
    if (order < 3 || order > PME_MAX_ORDER)
        return clmd_err_set(err, CLMD_EINPUT, "PME: B-spline order must be 3..%d (got %d)",
                            PME_MAX_ORDER, order);
    for (int d = 0; d < 3; d++)
        if (grid[d] < order)
            return clmd_err_set(err, CLMD_EINPUT, "PME: grid dimension %d is %d, smaller than "
                                "the B-spline order %d", d, grid[d], order);
    clmd_pme_ref *p;
    CLMD_NEW(p, 1);
    p->n = n;
    p->order = order;
    p->alpha = alpha;
    memcpy(p->K, grid, sizeof p->K);
    size_t nreal = (size_t)grid[0] * grid[1] * grid[2];
    size_t nhalf = (size_t)grid[0] * grid[1] * (grid[2] / 2 + 1);
    p->grid = clmd_alloc(nreal * sizeof *p->grid);
    p->cgrid = clmd_alloc(nhalf * sizeof *p->cgrid);
    p->g = clmd_alloc(nhalf * sizeof *p->g);
    for (int d = 0; d < 3; d++) {
        CLMD_NEW(p->mod[d], grid[d]);
        clmd_pme_bspline_moduli(order, grid[d], p->mod[d]);
    }
    CLMD_NEW(p->idx, 3 * (size_t)n);
    CLMD_NEW(p->theta, 3 * (size_t)n * order);
    CLMD_NEW(p->dtheta, 3 * (size_t)n * order);
    /* FFTW_ESTIMATE: plans in no time and never touches the arrays, results are deterministic */
    p->fwd = fftw_plan_dft_r2c_3d(grid[0], grid[1], grid[2], p->grid, p->cgrid, FFTW_ESTIMATE);
    p->bwd = fftw_plan_dft_c2r_3d(grid[0], grid[1], grid[2], p->cgrid, p->grid, FFTW_ESTIMATE);
    if (!p->fwd || !p->bwd) {
        clmd_pme_ref_destroy(&p);
        return clmd_err_set(err, CLMD_ERUNTIME, "PME: FFTW could not plan a %dx%dx%d transform",
                            grid[0], grid[1], grid[2]);
    }
    *pme = p;
    return CLMD_OK;
}

void clmd_pme_ref_destroy(clmd_pme_ref **pme)
{
    if (!pme || !*pme) return;
    clmd_pme_ref *p = *pme;
    if (p->fwd) fftw_destroy_plan(p->fwd);
    if (p->bwd) fftw_destroy_plan(p->bwd);
    clmd_free(p->grid);
    clmd_free(p->cgrid);
    clmd_free(p->g);
    for (int d = 0; d < 3; d++) clmd_free(p->mod[d]);
    clmd_free(p->idx);
    clmd_free(p->theta);
    clmd_free(p->dtheta);
    clmd_free(p);
    *pme = NULL;
}

const double *clmd_pme_ref_grid(const clmd_pme_ref *pme, int dims[3])
{
    if (dims) memcpy(dims, pme->K, sizeof pme->K);
    return pme->grid;
}

int clmd_pme_ref_spread(clmd_pme_ref *pme, const double *q, const double *x,
                        const double box[3][3], clmd_err *err)
{
    int rc = clmd_pme_recip_box(box, pme->recip, NULL, err);
    if (rc) return rc;
    memcpy(pme->box, box, sizeof pme->box);
    const int n = pme->n, o = pme->order, K0 = pme->K[0], K1 = pme->K[1], K2 = pme->K[2];
    memset(pme->grid, 0, (size_t)K0 * K1 * K2 * sizeof *pme->grid);
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 3; d++) {
            double s = dot3(x + 3 * i, pme->recip[d]);
            double u = (s - floor(s)) * pme->K[d];
            int i0 = (int)u;
            double w = u - i0;
            if (i0 >= pme->K[d]) i0 -= pme->K[d]; /* s - floor(s) rounded up to 1 */
            pme->idx[3 * i + d] = i0;
            clmd_pme_bspline(o, w, pme->theta + (3 * i + d) * o, pme->dtheta + (3 * i + d) * o);
        }
        /* grid point floor(u) - j gets M(u - (floor(u) - j)) = M(w + j) = theta[j] */
        const double *t0 = pme->theta + 3 * i * o, *t1 = t0 + o, *t2 = t1 + o;
        for (int j0 = 0; j0 < o; j0++) {
            int k0 = (pme->idx[3 * i] - j0 + K0) % K0;
            double w0 = q[i] * t0[j0];
            for (int j1 = 0; j1 < o; j1++) {
                int k1 = (pme->idx[3 * i + 1] - j1 + K1) % K1;
                double w01 = w0 * t1[j1];
                double *row = pme->grid + ((size_t)k0 * K1 + k1) * K2;
                for (int j2 = 0; j2 < o; j2++) {
                    int k2 = (pme->idx[3 * i + 2] - j2 + K2) % K2;
                    row[k2] += w01 * t2[j2];
                }
            }
        }
    }
    return CLMD_OK;
}

int clmd_pme_ref_convolve(clmd_pme_ref *pme, double *e_recip, clmd_err *err)
{
    const int K0 = pme->K[0], K1 = pme->K[1], K2 = pme->K[2], H2 = K2 / 2 + 1;
    if (!pme->g_valid || memcmp(pme->gbox, pme->box, sizeof pme->box) != 0) {
        double v;
        int rc = clmd_pme_recip_box(pme->box, pme->recip, &v, err);
        if (rc) return rc;
        influence_fill(pme->K, pme->mod, pme->alpha, pme->recip, v, pme->g);
        memcpy(pme->gbox, pme->box, sizeof pme->box);
        pme->g_valid = 1;
    }
    fftw_execute(pme->fwd);
    double e = 0;
    for (size_t r = 0; r < (size_t)K0 * K1; r++) {
        fftw_complex *c = pme->cgrid + r * H2;
        const double *g = pme->g + r * H2;
        for (int k2 = 0; k2 < H2; k2++) {
            /* each stored k2 in 1..(K2-1)/2 also stands for its conjugate mirror */
            double wgt = (k2 == 0 || 2 * k2 == K2) ? 1.0 : 2.0;
            e += wgt * g[k2] * (c[k2][0] * c[k2][0] + c[k2][1] * c[k2][1]);
            c[k2][0] *= g[k2];
            c[k2][1] *= g[k2];
        }
    }
    fftw_execute(pme->bwd);
    if (e_recip) *e_recip = 0.5 * e;
    return CLMD_OK;
}

void clmd_pme_ref_gather(clmd_pme_ref *pme, const double *q, double *f_add)
{
    if (!f_add) return;
    const int n = pme->n, o = pme->order, K0 = pme->K[0], K1 = pme->K[1], K2 = pme->K[2];
    for (int i = 0; i < n; i++) {
        if (q[i] == 0.0) continue;
        const double *t0 = pme->theta + 3 * i * o, *t1 = t0 + o, *t2 = t1 + o;
        const double *d0 = pme->dtheta + 3 * i * o, *d1 = d0 + o, *d2 = d1 + o;
        double g0 = 0, g1 = 0, g2 = 0; /* dE/du_d / q */
        for (int j0 = 0; j0 < o; j0++) {
            int k0 = (pme->idx[3 * i] - j0 + K0) % K0;
            for (int j1 = 0; j1 < o; j1++) {
                int k1 = (pme->idx[3 * i + 1] - j1 + K1) % K1;
                const double *row = pme->grid + ((size_t)k0 * K1 + k1) * K2;
                for (int j2 = 0; j2 < o; j2++) {
                    int k2 = (pme->idx[3 * i + 2] - j2 + K2) % K2;
                    double phi = row[k2];
                    g0 += phi * d0[j0] * t1[j1] * t2[j2];
                    g1 += phi * t0[j0] * d1[j1] * t2[j2];
                    g2 += phi * t0[j0] * t1[j1] * d2[j2];
                }
            }
        }
        /* du_d/dx = K_d * recip[d] */
        for (int c = 0; c < 3; c++)
            f_add[3 * i + c] -= q[i] * (g0 * K0 * pme->recip[0][c] + g1 * K1 * pme->recip[1][c] +
                                        g2 * K2 * pme->recip[2][c]);
    }
}

int clmd_pme_ref_compute(clmd_pme_ref *pme, const double *q, const double *x,
                         const double box[3][3], double *f_add, double *e_recip, clmd_err *err)
{
    int rc = clmd_pme_ref_spread(pme, q, x, box, err);
    if (rc) return rc;
    rc = clmd_pme_ref_convolve(pme, e_recip, err);
    if (rc) return rc;
    clmd_pme_ref_gather(pme, q, f_add);
    return CLMD_OK;
}

/* ---- self, plasma, real-space pairs ---- */

double clmd_ewald_self_energy(int n, const double *q, double alpha)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += q[i] * q[i];
    return -alpha / sqrt(M_PI) * CLMD_COULOMB * s;
}

double clmd_ewald_plasma_energy(double qtot, double volume, double alpha)
{
    return -M_PI * CLMD_COULOMB * qtot * qtot / (2 * volume * alpha * alpha);
}

double clmd_ewald_real_pair(double qq, double alpha, double cutoff, const double d[3],
                            double f_i[3])
{
    double r2 = dot3(d, d);
    if (r2 >= cutoff * cutoff) {
        f_i[0] = f_i[1] = f_i[2] = 0;
        return 0;
    }
    double r = sqrt(r2), ar = alpha * r;
    double e = CLMD_COULOMB * qq * erfc(ar) / r;
    /* -dE/dr / r */
    double fr = (e + CLMD_COULOMB * qq * 2 * alpha / sqrt(M_PI) * exp(-ar * ar)) / r2;
    for (int c = 0; c < 3; c++) f_i[c] = fr * d[c];
    return e;
}

double clmd_ewald_excl_pair(double qq, double alpha, const double d[3], double f_i[3])
{
    double r2 = dot3(d, d), x2 = alpha * alpha * r2;
    const double two_sqrtpi = 2 / sqrt(M_PI);
    double e, fr; /* fr = -dE/dr / r */
    if (x2 < 2.5e-3) {
        /* erf(x)/x and the force both lose digits to cancellation at small x: use the series
         * erf(x)/x = 2/sqrt(pi) sum (-x^2)^k / (k! (2k+1)) and its derivative. */
        double se = 0, sf = 0, te = 1, tf = -1; /* te = (-x^2)^k/k!, tf = -(-x^2)^(k-1)/k! */
        for (int k = 0; k < 9; k++) {
            se += te / (2 * k + 1);
            te *= -x2 / (k + 1);
        }
        for (int k = 1; k < 9; k++) { /* sf = sum_k>=1 (-1)^k 2k x^(2k-2) / (k! (2k+1)) */
            sf += tf * 2 * k / (2 * k + 1);
            tf *= -x2 / (k + 1);
        }
        e = -CLMD_COULOMB * qq * alpha * two_sqrtpi * se;
        fr = CLMD_COULOMB * qq * alpha * alpha * alpha * two_sqrtpi * sf;
    } else {
        double r = sqrt(r2), ar = alpha * r;
        double erfr = erf(ar) / r;
        e = -CLMD_COULOMB * qq * erfr;
        fr = CLMD_COULOMB * qq * (alpha * two_sqrtpi * exp(-ar * ar) - erfr) / r2;
    }
    for (int c = 0; c < 3; c++) f_i[c] = fr * d[c];
    return e;
}

/* ---- plain Ewald sum ---- */

int clmd_ewald_sum(int n, const double *q, const double *x, const double box[3][3], double alpha,
                   double eps, double *f_add, double *energy, clmd_err *err)
{
    double recip[3][3], v;
    int rc = clmd_pme_recip_box(box, recip, &v, err);
    if (rc) return rc;
    if (!(alpha > 0) || !(eps > 0 && eps < 1))
        return clmd_err_set(err, CLMD_EINPUT, "Ewald sum: need alpha > 0 and 0 < eps < 1");
    const double C = CLMD_COULOMB;

    /* positions wrapped into the cell, so displacements have fractional parts in (-1, 1) */
    double *xw;
    CLMD_NEW(xw, 3 * (size_t)n);
    for (int i = 0; i < n; i++) {
        double s[3];
        for (int d = 0; d < 3; d++) s[d] = dot3(x + 3 * i, recip[d]) - floor(dot3(x + 3 * i, recip[d]));
        for (int c = 0; c < 3; c++)
            xw[3 * i + c] = s[0] * box[0][c] + s[1] * box[1][c] + s[2] * box[2][c];
    }

    /* real space: every image with erfc(alpha r) > eps */
    double lo = 0, hi = 40;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (erfc(mid) > eps) lo = mid;
        else hi = mid;
    }
    double rcut = hi / alpha, e_real = 0;
    int N[3];
    for (int d = 0; d < 3; d++) N[d] = (int)floor(rcut * sqrt(dot3(recip[d], recip[d]))) + 1;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double qq = q[i] * q[j];
            if (qq == 0.0) continue;
            for (int n0 = -N[0]; n0 <= N[0]; n0++)
                for (int n1 = -N[1]; n1 <= N[1]; n1++)
                    for (int n2 = -N[2]; n2 <= N[2]; n2++) {
                        if (i == j && !n0 && !n1 && !n2) continue;
                        double dd[3], f[3];
                        for (int c = 0; c < 3; c++)
                            dd[c] = xw[3 * i + c] - xw[3 * j + c] + n0 * box[0][c] +
                                    n1 * box[1][c] + n2 * box[2][c];
                        double e = clmd_ewald_real_pair(qq, alpha, rcut, dd, f);
                        if (i == j) {
                            e_real += 0.5 * e; /* a particle with its own images: no force */
                        } else {
                            e_real += e;
                            if (f_add)
                                for (int c = 0; c < 3; c++) {
                                    f_add[3 * i + c] += f[c];
                                    f_add[3 * j + c] -= f[c];
                                }
                        }
                    }
        }

    /* reciprocal space over half of k-space, every k with exp(-pi^2 k^2/alpha^2) > eps;
     * exp(2 pi i k.r) = prod_d exp(2 pi i m_d s_d) from per-dimension phase tables */
    double kcut = alpha * sqrt(-log(eps)) / M_PI, fac = M_PI * M_PI / (alpha * alpha);
    int M[3];
    for (int d = 0; d < 3; d++) M[d] = (int)floor(kcut * sqrt(dot3(box[d], box[d])));
    double *tab[3], *ex;
    for (int d = 0; d < 3; d++) {
        CLMD_NEW(tab[d], 2 * (size_t)n * (M[d] + 1));
        for (int i = 0; i < n; i++) {
            double s = dot3(xw + 3 * i, recip[d]);
            for (int m = 0; m <= M[d]; m++) {
                tab[d][2 * ((size_t)i * (M[d] + 1) + m)] = cos(2 * M_PI * m * s);
                tab[d][2 * ((size_t)i * (M[d] + 1) + m) + 1] = sin(2 * M_PI * m * s);
            }
        }
    }
    CLMD_NEW(ex, 2 * (size_t)n);
    double e_recip = 0;
    for (int m0 = 0; m0 <= M[0]; m0++)
        for (int m1 = m0 ? -M[1] : 0; m1 <= M[1]; m1++)
            for (int m2 = (m0 || m1) ? -M[2] : 1; m2 <= M[2]; m2++) {
                double kv[3];
                for (int c = 0; c < 3; c++)
                    kv[c] = m0 * recip[0][c] + m1 * recip[1][c] + m2 * recip[2][c];
                double ksq = dot3(kv, kv);
                if (ksq > kcut * kcut) continue;
                double fk = exp(-fac * ksq) / ksq, sre = 0, sim = 0;
                int mm[3] = {m0, m1, m2};
                for (int i = 0; i < n; i++) {
                    double re = 1, im = 0;
                    for (int d = 0; d < 3; d++) {
                        int a = mm[d] < 0 ? -mm[d] : mm[d];
                        const double *t = tab[d] + 2 * ((size_t)i * (M[d] + 1) + a);
                        double tr = t[0], ti = mm[d] < 0 ? -t[1] : t[1];
                        double nr = re * tr - im * ti;
                        im = re * ti + im * tr;
                        re = nr;
                    }
                    ex[2 * i] = re;
                    ex[2 * i + 1] = im;
                    sre += q[i] * re;
                    sim += q[i] * im;
                }
                e_recip += fk * (sre * sre + sim * sim);
                if (f_add) {
                    /* F_i = 4C/V q_i f(k) k Im(conj(S) e_i), summed over the half space */
                    double pre = 4 * C / v * fk;
                    for (int i = 0; i < n; i++) {
                        double im = sre * ex[2 * i + 1] - sim * ex[2 * i];
                        for (int c = 0; c < 3; c++) f_add[3 * i + c] += pre * q[i] * im * kv[c];
                    }
                }
            }
    e_recip *= C / (M_PI * v); /* C/(2 pi V) over all k = C/(pi V) over the half space */

    double qtot = 0;
    for (int i = 0; i < n; i++) qtot += q[i];
    *energy = e_real + e_recip + clmd_ewald_self_energy(n, q, alpha) +
              clmd_ewald_plasma_energy(qtot, v, alpha);
    for (int d = 0; d < 3; d++) clmd_free(tab[d]);
    clmd_free(ex);
    clmd_free(xw);
    return CLMD_OK;
}
