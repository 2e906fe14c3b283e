#include "md/constraints.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/vsite.h"
#include "system/system.h"

/* Enough for hbonds stars and small rings; a cluster still unconverged after this many sweeps
 * is a broken geometry, not a slow one. */
enum { MAX_ITER = 1000, WG = 64 };

struct clmd_constraints {
    int n;
    double tol;
    double *invmass;      /* [n] */
    int nsettle;
    int *water;           /* [3 nsettle]: O, H1, H2 */
    double *wdist;        /* [2 nsettle]: d(O-H), d(H-H) */
    int nclusters, ncons;
    int *cstart;          /* [nclusters + 1] into ci, cj, cd */
    int *ci, *cj;
    double *cd;
    int *astart, *atoms;  /* the particles of each cluster, CSR */
    int max_iter_seen;
    /* device */
    int on_device;
    clmd_mdbuf b;
    cl_mem d_water, d_wdist, d_cstart, d_cij, d_cd2, d_astart, d_atoms;
    cl_kernel k_pos, k_vel;  /* cl/constraints.cl: waters and clusters in one launch each */
    int gs;                  /* work-groups of waters (clusters take the rest) */
    /* cl/units.cl, made by units_prepare: the indices below npad in no water, cluster or
     * water-owned site; each water's site (-1: none), the site tables (borrowed) */
    int units_ready, nfree, sites_left;
    cl_mem d_free, d_wsite, vs_atoms, vs_w;
};

static int uf_find(int *parent, int i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static int rel_equal(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

/* Finds the SETTLE waters: marks their constraints in `settled` and fills c->water/wdist. */
static void find_waters(clmd_constraints *c, const clmd_system *s, char *settled)
{
    int n = s->n, nc = s->nconstraints;
    int *deg = clmd_calloc((size_t)n, sizeof(int));
    int *first = clmd_calloc((size_t)n, sizeof(int)), *second = clmd_calloc((size_t)n, sizeof(int));
    for (int k = 0; k < nc; k++) {
        const int ends[2] = {s->constraints[k].i, s->constraints[k].j};
        for (int e = 0; e < 2; e++) {
            int a = ends[e];
            if (deg[a] == 0) first[a] = k;
            else if (deg[a] == 1) second[a] = k;
            deg[a]++;
        }
    }
    CLMD_NEW(c->water, 3 * (size_t)(nc / 3 + 1));
    CLMD_NEW(c->wdist, 2 * (size_t)(nc / 3 + 1));
    for (int k = 0; k < nc; k++) {
        if (settled[k]) continue;
        int a = s->constraints[k].i, b = s->constraints[k].j;
        if (deg[a] != 2 || deg[b] != 2) continue;
        /* the third atom: a's other partner, which must close the triangle with b */
        int ka = first[a] == k ? second[a] : first[a];
        int x = s->constraints[ka].i == a ? s->constraints[ka].j : s->constraints[ka].i;
        if (deg[x] != 2 || x == b) continue;
        int kb = first[b] == k ? second[b] : first[b];
        int y = s->constraints[kb].i == b ? s->constraints[kb].j : s->constraints[kb].i;
        if (y != x) continue;
        const int kk[3] = {k, kb, ka};
        /* side lengths: d(a,b) = k, d(b,x) = kb, d(a,x) = ka; the apex is the atom whose two
         * sides are equal and whose partners have equal masses */
        const double dab = s->constraints[k].d, dbx = s->constraints[kb].d, dax = s->constraints[ka].d;
        int o = -1, h1 = -1, h2 = -1;
        double doh = 0, dhh = 0;
        if (rel_equal(dab, dax) && rel_equal(s->mass[b], s->mass[x])) o = a, h1 = b, h2 = x, doh = dab, dhh = dbx;
        else if (rel_equal(dab, dbx) && rel_equal(s->mass[a], s->mass[x])) o = b, h1 = a, h2 = x, doh = dab, dhh = dax;
        else if (rel_equal(dax, dbx) && rel_equal(s->mass[a], s->mass[b])) o = x, h1 = a, h2 = b, doh = dax, dhh = dab;
        if (o < 0 || !(dhh < 2 * doh)) continue;
        int w = c->nsettle++;
        c->water[3 * w] = o, c->water[3 * w + 1] = h1, c->water[3 * w + 2] = h2;
        c->wdist[2 * w] = doh, c->wdist[2 * w + 1] = dhh;
        for (int m = 0; m < 3; m++) settled[kk[m]] = 1;
    }
    clmd_free(deg);
    clmd_free(first);
    clmd_free(second);
}

/* Groups the remaining constraints into connected clusters, in order of first appearance. */
static void build_clusters(clmd_constraints *c, const clmd_system *s, const char *settled)
{
    int n = s->n, nc = s->nconstraints;
    int *parent = clmd_calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) parent[i] = i;
    for (int k = 0; k < nc; k++) {
        if (settled[k]) continue;
        int a = uf_find(parent, s->constraints[k].i), b = uf_find(parent, s->constraints[k].j);
        if (a != b) parent[a < b ? b : a] = a < b ? a : b;
    }
    /* cluster id of each root, numbered by first constraint */
    int *cid = clmd_calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) cid[i] = -1;
    for (int k = 0; k < nc; k++) {
        if (settled[k]) continue;
        int r = uf_find(parent, s->constraints[k].i);
        if (cid[r] < 0) cid[r] = c->nclusters++;
        c->ncons++;
    }
    CLMD_NEW(c->cstart, (size_t)c->nclusters + 1);
    CLMD_NEW(c->astart, (size_t)c->nclusters + 1);
    CLMD_NEW(c->ci, c->ncons);
    CLMD_NEW(c->cj, c->ncons);
    CLMD_NEW(c->cd, c->ncons);
    for (int k = 0; k < nc; k++)
        if (!settled[k]) c->cstart[cid[uf_find(parent, s->constraints[k].i)] + 1]++;
    for (int q = 0; q < c->nclusters; q++) c->cstart[q + 1] += c->cstart[q];
    int *fill = clmd_calloc((size_t)c->nclusters + 1, sizeof(int));
    for (int k = 0; k < nc; k++) {
        if (settled[k]) continue;
        int q = cid[uf_find(parent, s->constraints[k].i)], at = c->cstart[q] + fill[q]++;
        c->ci[at] = s->constraints[k].i;
        c->cj[at] = s->constraints[k].j;
        c->cd[at] = s->constraints[k].d;
    }
    /* particles of each cluster: every particle whose root is a cluster root */
    int natoms = 0;
    for (int i = 0; i < n; i++)
        if (cid[uf_find(parent, i)] >= 0) c->astart[cid[uf_find(parent, i)] + 1]++, natoms++;
    for (int q = 0; q < c->nclusters; q++) c->astart[q + 1] += c->astart[q];
    CLMD_NEW(c->atoms, natoms);
    memset(fill, 0, sizeof(int) * ((size_t)c->nclusters + 1));
    for (int i = 0; i < n; i++) {
        int q = cid[uf_find(parent, i)];
        if (q >= 0) c->atoms[c->astart[q] + fill[q]++] = i;
    }
    clmd_free(fill);
    clmd_free(cid);
    clmd_free(parent);
}

int clmd_constraints_create(const clmd_system *s, double tol, int use_settle,
                            clmd_constraints **out, clmd_err *err)
{
    *out = NULL;
    if (s->nconstraints == 0) return CLMD_OK;
    if (!(tol > 0 && tol < 0.1))
        return clmd_err_set(err, CLMD_EINPUT, "constraint tolerance must be in (0, 0.1), not %g", tol);
    for (int k = 0; k < s->nconstraints; k++) {
        const clmd_constraint *q = &s->constraints[k];
        if (q->i < 0 || q->j < 0 || q->i >= s->n || q->j >= s->n || q->i == q->j)
            return clmd_err_set(err, CLMD_EINPUT, "constraint %d joins particles %d and %d", k + 1,
                                q->i + 1, q->j + 1);
        if (!(q->d > 0))
            return clmd_err_set(err, CLMD_EINPUT, "constraint %d (%d-%d) has length %g nm", k + 1,
                                q->i + 1, q->j + 1, q->d);
        if (!(s->mass[q->i] > 0) || !(s->mass[q->j] > 0))
            return clmd_err_set(err, CLMD_EINPUT,
                                "constraint %d-%d involves a massless particle (virtual site?)",
                                q->i + 1, q->j + 1);
    }
    clmd_constraints *c = clmd_alloc(sizeof *c);
    c->n = s->n;
    c->tol = tol;
    CLMD_NEW(c->invmass, s->n);
    for (int i = 0; i < s->n; i++) c->invmass[i] = s->mass[i] > 0 ? 1 / s->mass[i] : 0;
    char *settled = clmd_calloc((size_t)s->nconstraints, 1);
    if (use_settle) find_waters(c, s, settled);
    build_clusters(c, s, settled);
    clmd_free(settled);
    *out = c;
    return CLMD_OK;
}

void clmd_constraints_destroy(clmd_constraints **pc)
{
    if (!pc || !*pc) return;
    clmd_constraints *c = *pc;
    cl_kernel ks[] = {c->k_pos, c->k_vel};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i]) clReleaseKernel(ks[i]);
    cl_mem *ms[] = {&c->d_free, &c->d_wsite, &c->d_water, &c->d_wdist, &c->d_cstart, &c->d_cij,
                    &c->d_cd2,   &c->d_astart, &c->d_atoms};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) clmd_ocl_release(ms[i]);
    clmd_free(c->invmass);
    clmd_free(c->water);
    clmd_free(c->wdist);
    clmd_free(c->cstart);
    clmd_free(c->ci);
    clmd_free(c->cj);
    clmd_free(c->cd);
    clmd_free(c->astart);
    clmd_free(c->atoms);
    clmd_free(c);
    *pc = NULL;
}

void clmd_constraints_counts(const clmd_constraints *c, int *nsettle, int *nclusters, int *nshake)
{
    if (nsettle) *nsettle = c ? c->nsettle : 0;
    if (nclusters) *nclusters = c ? c->nclusters : 0;
    if (nshake) *nshake = c ? c->ncons : 0;
}

double clmd_constraints_tolerance(const clmd_constraints *c) { return c->tol; }
int clmd_constraints_max_iterations(const clmd_constraints *c) { return c->max_iter_seen; }

/* ---- host solvers ---- */

static inline double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
static inline void cross3(const double *a, const double *b, double *o)
{
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}
static inline int normalize3(double *a)
{
    double l = sqrt(dot3(a, a));
    if (!(l > 0)) return -1;
    for (int k = 0; k < 3; k++) a[k] /= l;
    return 0;
}

/* SETTLE positions for one water. Derivation (ours, after Miyamoto & Kollman): the constraint
 * displacements lie in the old molecular plane, keep the centre of mass and exert no torque
 * about it when applied at the old positions. In a frame with Z normal to the old plane and
 * X perpendicular to Z and the new O (relative to the new COM), the rigid water is the
 * canonical one (O at (0, ra), H at (-+rc, -rb)) rotated by phi about X and psi about Y,
 * fixed by the preserved z components, then by theta about Z, fixed by the zero torque.
 * p[0..2] are O, H1, H2 (in/out); p0 the old positions. d[0..2] receive the displacements. */
static int settle_one(double mo, double mh, double doh, double dhh, const double *p0[3],
                      double *p[3], double d[3][3])
{
    const double wt = mo + 2 * mh, rc = 0.5 * dhh, h = sqrt(doh * doh - rc * rc);
    const double ra = 2 * mh * h / wt, rb = h - ra;
    double com[3], rel[3][3], ob[3], oc[3], X[3], Y[3], Z[3];
    for (int k = 0; k < 3; k++) {
        com[k] = (mo * p[0][k] + mh * (p[1][k] + p[2][k])) / wt;
        ob[k] = p0[1][k] - p0[0][k];
        oc[k] = p0[2][k] - p0[0][k];
    }
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 3; k++) rel[a][k] = p[a][k] - com[k];
    cross3(ob, oc, Z);
    cross3(rel[0], Z, X);
    cross3(Z, X, Y);
    if (normalize3(X) || normalize3(Y) || normalize3(Z)) return -1;
    /* old positions relative to the old O, new ones relative to the new COM, in the frame */
    const double xb0 = dot3(ob, X), yb0 = dot3(ob, Y), xc0 = dot3(oc, X), yc0 = dot3(oc, Y);
    double x1[3], y1[3], z1[3];
    for (int a = 0; a < 3; a++) x1[a] = dot3(rel[a], X), y1[a] = dot3(rel[a], Y), z1[a] = dot3(rel[a], Z);
    const double sinphi = z1[0] / ra;
    if (!(fabs(sinphi) < 1)) return -1;
    const double cosphi = sqrt(1 - sinphi * sinphi);
    const double sinpsi = (z1[1] - z1[2]) / (2 * rc * cosphi);
    if (!(fabs(sinpsi) < 1)) return -1;
    const double cospsi = sqrt(1 - sinpsi * sinpsi);
    const double x2[3] = {0, -rc * cospsi, rc * cospsi};
    const double y2[3] = {ra * cosphi, -rb * cosphi - rc * sinpsi * sinphi,
                          -rb * cosphi + rc * sinpsi * sinphi};
    const double z2[3] = {ra * sinphi, -rb * sinphi + rc * sinpsi * cosphi,
                          -rb * sinphi - rc * sinpsi * cosphi};
    /* zero torque about Z: alpha sin(theta) + beta cos(theta) = gamma (the O term vanishes
     * because the old positions are taken relative to the old O) */
    const double alpha = xb0 * x2[1] + yb0 * y2[1] + xc0 * x2[2] + yc0 * y2[2];
    const double beta = xb0 * y2[1] - yb0 * x2[1] + xc0 * y2[2] - yc0 * x2[2];
    const double gamma = xb0 * y1[1] - yb0 * x1[1] + xc0 * y1[2] - yc0 * x1[2];
    const double r2 = alpha * alpha + beta * beta, disc = r2 - gamma * gamma;
    if (!(disc >= 0) || !(r2 > 0)) return -1;
    const double sq = sqrt(disc);
    const double sint = (alpha * gamma - beta * sq) / r2, cost = (beta * gamma + alpha * sq) / r2;
    for (int a = 0; a < 3; a++) {
        const double dx = x2[a] * cost - y2[a] * sint - x1[a];
        const double dy = x2[a] * sint + y2[a] * cost - y1[a];
        const double dz = z2[a] - z1[a];
        for (int k = 0; k < 3; k++) {
            d[a][k] = dx * X[k] + dy * Y[k] + dz * Z[k];
            p[a][k] += d[a][k];
        }
    }
    return 0;
}

/* Velocity SETTLE: the three bond-direction impulses that zero every bond's stretching rate,
 * from the symmetric 3x3 system (Cramer's rule); exact for any masses. */
static int settle_velocities_one(const double *im, const double *p[3], double *v[3])
{
    double eab[3], eac[3], ebc[3], vba[3], vca[3], vcb[3];
    for (int k = 0; k < 3; k++) {
        eab[k] = p[1][k] - p[0][k];
        eac[k] = p[2][k] - p[0][k];
        ebc[k] = p[2][k] - p[1][k];
        vba[k] = v[1][k] - v[0][k];
        vca[k] = v[2][k] - v[0][k];
        vcb[k] = v[2][k] - v[1][k];
    }
    if (normalize3(eab) || normalize3(eac) || normalize3(ebc)) return -1;
    const double cab_ac = dot3(eab, eac), cab_bc = dot3(eab, ebc), cac_bc = dot3(eac, ebc);
    const double m11 = im[0] + im[1], m22 = im[0] + im[2], m33 = im[1] + im[2];
    const double m12 = im[0] * cab_ac, m13 = -im[1] * cab_bc, m23 = im[2] * cac_bc;
    const double b1 = dot3(eab, vba), b2 = dot3(eac, vca), b3 = dot3(ebc, vcb);
    const double det = m11 * (m22 * m33 - m23 * m23) - m12 * (m12 * m33 - m23 * m13) +
                       m13 * (m12 * m23 - m22 * m13);
    if (!(fabs(det) > 0)) return -1;
    const double tab = (b1 * (m22 * m33 - m23 * m23) - m12 * (b2 * m33 - m23 * b3) +
                        m13 * (b2 * m23 - m22 * b3)) / det;
    const double tac = (m11 * (b2 * m33 - m23 * b3) - b1 * (m12 * m33 - m23 * m13) +
                        m13 * (m12 * b3 - b2 * m13)) / det;
    const double tbc = (m11 * (m22 * b3 - b2 * m23) - m12 * (m12 * b3 - b2 * m13) +
                        b1 * (m12 * m23 - m22 * m13)) / det;
    for (int k = 0; k < 3; k++) {
        v[0][k] += im[0] * (tab * eab[k] + tac * eac[k]);
        v[1][k] += im[1] * (-tab * eab[k] + tbc * ebc[k]);
        v[2][k] += im[2] * (-tac * eac[k] - tbc * ebc[k]);
    }
    return 0;
}

int clmd_constraints_positions_ref(clmd_constraints *c, const double *xref, double *x, double *v,
                                   double dt, clmd_err *err)
{
    const double inv_dt = v && dt > 0 ? 1 / dt : 0;
    for (int w = 0; w < c->nsettle; w++) {
        const int *at = &c->water[3 * w];
        double old[3][3];
        const double *p0[3];
        double *p[3], d[3][3];
        for (int a = 0; a < 3; a++) {
            memcpy(old[a], &xref[3 * at[a]], sizeof old[a]); /* xref may alias x */
            p0[a] = old[a];
            p[a] = &x[3 * at[a]];
        }
        if (settle_one(1 / c->invmass[at[0]], 1 / c->invmass[at[1]], c->wdist[2 * w],
                       c->wdist[2 * w + 1], p0, p, d))
            return clmd_err_set(err, CLMD_ERUNTIME, "SETTLE failed for the water of particles "
                                "%d, %d, %d (the geometry blew up; try a smaller timestep)",
                                at[0] + 1, at[1] + 1, at[2] + 1);
        if (inv_dt != 0)
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < 3; k++) v[3 * at[a] + k] += d[a][k] * inv_dt;
    }
    double *ref = NULL;
    if (xref == x && c->ncons) { /* directions from the configuration as it was */
        ref = clmd_alloc(sizeof(double) * 3 * (size_t)c->n);
        memcpy(ref, x, sizeof(double) * 3 * (size_t)c->n);
        xref = ref;
    }
    int status = CLMD_OK;
    for (int q = 0; q < c->nclusters && !status; q++) {
        int it, done = 0;
        for (it = 0; it < MAX_ITER && !done; it++) {
            done = 1;
            for (int k = c->cstart[q]; k < c->cstart[q + 1]; k++) {
                const int i = c->ci[k], j = c->cj[k];
                double r[3], ro[3];
                for (int m = 0; m < 3; m++) {
                    r[m] = x[3 * i + m] - x[3 * j + m];
                    ro[m] = xref[3 * i + m] - xref[3 * j + m];
                }
                const double d2 = c->cd[k] * c->cd[k], diff = d2 - dot3(r, r);
                if (fabs(diff) <= 2 * c->tol * d2) continue;
                done = 0;
                const double rro = dot3(r, ro), mi = c->invmass[i], mj = c->invmass[j];
                if (!(rro > 1e-6 * d2)) {
                    status = clmd_err_set(err, CLMD_ERUNTIME, "SHAKE failed: constraint %d-%d "
                                          "turned by 90 degrees or more in one step (the "
                                          "simulation blew up; try a smaller timestep)", i + 1, j + 1);
                    break;
                }
                const double g = diff / (2 * rro * (mi + mj));
                for (int m = 0; m < 3; m++) {
                    x[3 * i + m] += g * mi * ro[m];
                    x[3 * j + m] -= g * mj * ro[m];
                    if (inv_dt != 0) {
                        v[3 * i + m] += g * mi * ro[m] * inv_dt;
                        v[3 * j + m] -= g * mj * ro[m] * inv_dt;
                    }
                }
            }
            if (status) break;
        }
        if (!status && !done)
            status = clmd_err_set(err, CLMD_ERUNTIME, "SHAKE did not converge to relative "
                                  "tolerance %g in %d iterations (constraint cluster of particle "
                                  "%d)", c->tol, MAX_ITER, c->ci[c->cstart[q]] + 1);
        if (it > c->max_iter_seen) c->max_iter_seen = it;
    }
    clmd_free(ref);
    return status;
}

int clmd_constraints_velocities_ref(clmd_constraints *c, const double *x, double *v, double dt,
                                    clmd_err *err)
{
    for (int w = 0; w < c->nsettle; w++) {
        const int *at = &c->water[3 * w];
        const double *p[3] = {&x[3 * at[0]], &x[3 * at[1]], &x[3 * at[2]]};
        double *vv[3] = {&v[3 * at[0]], &v[3 * at[1]], &v[3 * at[2]]};
        const double im[3] = {c->invmass[at[0]], c->invmass[at[1]], c->invmass[at[2]]};
        if (settle_velocities_one(im, p, vv))
            return clmd_err_set(err, CLMD_ERUNTIME, "velocity SETTLE failed for the water of "
                                "particles %d, %d, %d (degenerate geometry)", at[0] + 1, at[1] + 1,
                                at[2] + 1);
    }
    const double vtol = c->tol / dt;
    for (int q = 0; q < c->nclusters; q++) {
        int it, done = 0;
        for (it = 0; it < MAX_ITER && !done; it++) {
            done = 1;
            for (int k = c->cstart[q]; k < c->cstart[q + 1]; k++) {
                const int i = c->ci[k], j = c->cj[k];
                double r[3], vij[3];
                for (int m = 0; m < 3; m++) {
                    r[m] = x[3 * i + m] - x[3 * j + m];
                    vij[m] = v[3 * i + m] - v[3 * j + m];
                }
                const double rv = dot3(r, vij), d2 = c->cd[k] * c->cd[k];
                if (fabs(rv) <= vtol * d2) continue;
                done = 0;
                const double mi = c->invmass[i], mj = c->invmass[j];
                const double g = -rv / (dot3(r, r) * (mi + mj));
                for (int m = 0; m < 3; m++) {
                    v[3 * i + m] += g * mi * r[m];
                    v[3 * j + m] -= g * mj * r[m];
                }
            }
        }
        if (!done)
            return clmd_err_set(err, CLMD_ERUNTIME, "RATTLE (velocities) did not converge to "
                                "relative tolerance %g in %d iterations (constraint cluster of "
                                "particle %d)", c->tol, MAX_ITER, c->ci[c->cstart[q]] + 1);
        if (it > c->max_iter_seen) c->max_iter_seen = it;
    }
    return CLMD_OK;
}

double clmd_constraints_max_error(const clmd_system *s, const double *x)
{
    double worst = 0;
    for (int k = 0; k < s->nconstraints; k++) {
        const clmd_constraint *q = &s->constraints[k];
        double r[3];
        for (int m = 0; m < 3; m++) r[m] = x[3 * q->i + m] - x[3 * q->j + m];
        double e = fabs(sqrt(dot3(r, r)) - q->d) / q->d;
        if (!(e <= worst)) worst = e; /* NaN wins */
    }
    return worst;
}

double clmd_constraints_max_velocity_error(const clmd_system *s, const double *x, const double *v)
{
    double worst = 0;
    for (int k = 0; k < s->nconstraints; k++) {
        const clmd_constraint *q = &s->constraints[k];
        double r[3], vij[3];
        for (int m = 0; m < 3; m++) {
            r[m] = x[3 * q->i + m] - x[3 * q->j + m];
            vij[m] = v[3 * q->i + m] - v[3 * q->j + m];
        }
        double e = fabs(dot3(r, vij)) / (sqrt(dot3(r, r)) * q->d);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* ---- device ---- */

#define MIXED_ARG(c, k, i, val)                                                        \
    do {                                                                               \
        cl_double d_ = (val);                                                          \
        cl_float f_ = (cl_float)(val);                                                 \
        CL_CHECK((c)->b.fp64 ? clSetKernelArg(k, i, sizeof d_, &d_)                    \
                             : clSetKernelArg(k, i, sizeof f_, &f_), err);             \
    } while (0)

static int upload(clmd_ocl *o, const void *src, size_t bytes, cl_mem *m, clmd_err *err)
{
    int rc = clmd_ocl_alloc(o, bytes > 0 ? bytes : 16, m, err);
    if (!rc && bytes > 0) rc = clmd_ocl_write(o, *m, 0, bytes, src, err);
    return rc;
}

int clmd_constraints_setup_device(clmd_constraints *c, const clmd_mdbuf *b, clmd_err *err)
{
    c->b = *b;
    c->on_device = 1;
    clmd_ocl *o = b->ocl;
    int rc;
    char defs[128];
    snprintf(defs, sizeof defs, "#define HAVE_FP64 %d\n#define WG %d\n", b->fp64, WG);
    clmd_constraints_defines(defs + strlen(defs), sizeof defs - strlen(defs));
    cl_program prog;
    if ((rc = clmd_ocl_program(o, "constraints.cl", defs, &prog, err)) ||
        (rc = clmd_ocl_kernel(o, prog, "constrain_positions", &c->k_pos, err)) ||
        (rc = clmd_ocl_kernel(o, prog, "constrain_velocities", &c->k_vel, err)))
        return rc;

    /* tables: waters as int4, their distances as mixed2; constraints as int2 + d^2 */
    size_t ms = b->fp64 ? sizeof(double) : sizeof(float);
    cl_int4 *wat = clmd_calloc((size_t)c->nsettle + 1, sizeof *wat);
    void *wd = clmd_calloc(2 * ((size_t)c->nsettle + 1), ms);
    for (int w = 0; w < c->nsettle; w++) {
        for (int a = 0; a < 3; a++) wat[w].s[a] = c->water[3 * w + a];
        for (int k = 0; k < 2; k++)
            if (b->fp64) ((double *)wd)[2 * w + k] = c->wdist[2 * w + k];
            else ((float *)wd)[2 * w + k] = (float)c->wdist[2 * w + k];
    }
    cl_int2 *cij = clmd_calloc((size_t)c->ncons + 1, sizeof *cij);
    void *cd2 = clmd_calloc((size_t)c->ncons + 1, ms);
    for (int k = 0; k < c->ncons; k++) {
        cij[k].s[0] = c->ci[k];
        cij[k].s[1] = c->cj[k];
        if (b->fp64) ((double *)cd2)[k] = c->cd[k] * c->cd[k];
        else ((float *)cd2)[k] = (float)(c->cd[k] * c->cd[k]);
    }
    rc = upload(o, wat, sizeof *wat * (size_t)c->nsettle, &c->d_water, err);
    if (!rc) rc = upload(o, wd, 2 * ms * (size_t)c->nsettle, &c->d_wdist, err);
    if (!rc) rc = upload(o, cij, sizeof *cij * (size_t)c->ncons, &c->d_cij, err);
    if (!rc) rc = upload(o, cd2, ms * (size_t)c->ncons, &c->d_cd2, err);
    if (!rc) rc = upload(o, c->cstart, sizeof(int) * ((size_t)c->nclusters + 1), &c->d_cstart, err);
    if (!rc) rc = upload(o, c->astart, sizeof(int) * ((size_t)c->nclusters + 1), &c->d_astart, err);
    if (!rc)
        rc = upload(o, c->atoms, sizeof(int) * (size_t)(c->nclusters ? c->astart[c->nclusters] : 0),
                    &c->d_atoms, err);
    clmd_free(wat);
    clmd_free(wd);
    clmd_free(cij);
    clmd_free(cd2);
    if (rc) return rc;

    c->gs = (c->nsettle + WG - 1) / WG;
    cl_kernel k = c->k_pos;
    CLMD_ARG(k, 0, c->nsettle, err);
    CLMD_ARG(k, 1, c->d_water, err);
    CLMD_ARG(k, 2, c->d_wdist, err);
    CLMD_ARG(k, 3, c->nclusters, err);
    CLMD_ARG(k, 4, c->d_cstart, err);
    CLMD_ARG(k, 5, c->d_cij, err);
    CLMD_ARG(k, 6, c->d_cd2, err);
    CLMD_ARG(k, 7, c->d_astart, err);
    CLMD_ARG(k, 8, c->d_atoms, err);
    CLMD_ARG(k, 9, b->pos, err);
    CLMD_ARG(k, 10, b->pos_old, err);
    CLMD_ARG(k, 11, b->vel, err);
    /* 12: inv_dt */
    MIXED_ARG(c, k, 13, c->tol);
    CLMD_ARG(k, 14, b->posq, err);
    CLMD_ARG(k, 15, b->posq_lo, err);
    CLMD_ARG(k, 16, b->posq_ref, err);
    CLMD_ARG(k, 17, b->flags, err);
    CLMD_ARG(k, 18, b->pos_shift, err);
    CLMD_ARG(k, 19, c->gs, err);
    k = c->k_vel;
    CLMD_ARG(k, 0, c->nsettle, err);
    CLMD_ARG(k, 1, c->d_water, err);
    CLMD_ARG(k, 2, c->nclusters, err);
    CLMD_ARG(k, 3, c->d_cstart, err);
    CLMD_ARG(k, 4, c->d_cij, err);
    CLMD_ARG(k, 5, c->d_cd2, err);
    CLMD_ARG(k, 6, b->pos, err);
    CLMD_ARG(k, 7, b->vel, err);
    /* 8: vtol */
    CLMD_ARG(k, 9, b->flags, err);
    CLMD_ARG(k, 10, c->gs, err);
    return CLMD_OK;
}

/* Work-items of one launch over the waters' and the clusters' work-groups. */
static size_t both(const clmd_constraints *c)
{
    return (size_t)(c->gs + (c->nclusters + WG - 1) / WG) * WG;
}

int clmd_constraints_enqueue_positions(clmd_constraints *c, double dt, clmd_err *err)
{
    if (!c->nsettle && !c->nclusters) return CLMD_OK;
    MIXED_ARG(c, c->k_pos, 12, dt > 0 ? 1 / dt : 0);
    return clmd_ocl_launch(c->b.ocl, c->k_pos, both(c), WG, P_CONSTRAINTS, err);
}

int clmd_constraints_enqueue_velocities(clmd_constraints *c, double dt, clmd_err *err)
{
    if (!c->nsettle && !c->nclusters) return CLMD_OK;
    MIXED_ARG(c, c->k_vel, 8, c->tol / dt);
    return clmd_ocl_launch(c->b.ocl, c->k_vel, both(c), WG, P_CONSTRAINTS, err);
}

void clmd_constraints_defines(char *buf, size_t size)
{
    snprintf(buf, size, "#define MAX_ITER %d\n", MAX_ITER);
}

static int groups_of(int items) { return (items + WG - 1) / WG; }

size_t clmd_constraints_unit_items(const clmd_constraints *c)
{
    return (size_t)(c->gs + groups_of(c->nclusters) + groups_of(c->nfree)) * WG;
}

int clmd_constraints_unit_wg(void) { return WG; }

/* The units' tables, once: a site whose three parents are one SETTLE water is placed by that
 * water's work-item after SETTLE (one site per water; the rest stay with vsite_build), and
 * every index below npad that no water, cluster or such site owns is a free unit. */
static int units_prepare(clmd_constraints *c, const clmd_vsites *vs, clmd_err *err)
{
    if (c->units_ready) return CLMD_OK;
    const int npad = c->b.npad;
    char *owned = clmd_calloc((size_t)npad, 1);
    int *water_of = clmd_alloc(sizeof(int) * (size_t)npad);
    for (int i = 0; i < npad; i++) water_of[i] = -1;
    for (int k = 0; k < 3 * c->nsettle; k++) {
        owned[c->water[k]] = 1;
        water_of[c->water[k]] = k / 3;
    }
    for (int k = 0; c->nclusters && k < c->astart[c->nclusters]; k++) owned[c->atoms[k]] = 1;
    int *wsite = clmd_alloc(sizeof(int) * ((size_t)c->nsettle + 1));
    for (int w = 0; w < c->nsettle; w++) wsite[w] = -1;
    const clmd_vsite *site = NULL;
    int nsites = vs ? clmd_vsites_tables(vs, &site, &c->vs_atoms, &c->vs_w) : 0;
    c->sites_left = nsites;
    for (int k = 0; k < nsites; k++) {
        const int w = water_of[site[k].a];
        if (w < 0 || water_of[site[k].b] != w || water_of[site[k].c] != w || wsite[w] >= 0) continue;
        wsite[w] = k;
        owned[site[k].site] = 1;
        c->sites_left--;
    }
    int *fr = clmd_calloc((size_t)npad + 1, sizeof *fr);
    c->nfree = 0;
    for (int i = 0; i < npad; i++)
        if (!owned[i]) fr[c->nfree++] = i;
    int rc = upload(c->b.ocl, fr, sizeof *fr * (size_t)c->nfree, &c->d_free, err);
    if (!rc) rc = upload(c->b.ocl, wsite, sizeof *wsite * (size_t)c->nsettle, &c->d_wsite, err);
    if (!nsites) c->vs_atoms = c->vs_w = c->d_free; /* unread: any buffer will do */
    clmd_free(owned);
    clmd_free(water_of);
    clmd_free(wsite);
    clmd_free(fr);
    if (!rc) c->units_ready = 1;
    return rc;
}

int clmd_constraints_bind_units(clmd_constraints *c, const clmd_vsites *vs, cl_kernel k,
                                cl_uint first, double dt, int *sites_left, clmd_err *err)
{
    int rc;
    if ((rc = units_prepare(c, vs, err))) return rc;
    *sites_left = c->sites_left;
    cl_uint a = first;
    CLMD_ARG(k, a++, c->nsettle, err);
    CLMD_ARG(k, a++, c->d_water, err);
    CLMD_ARG(k, a++, c->d_wdist, err);
    CLMD_ARG(k, a++, c->nclusters, err);
    CLMD_ARG(k, a++, c->d_cstart, err);
    CLMD_ARG(k, a++, c->d_cij, err);
    CLMD_ARG(k, a++, c->d_cd2, err);
    CLMD_ARG(k, a++, c->d_astart, err);
    CLMD_ARG(k, a++, c->d_atoms, err);
    CLMD_ARG(k, a++, c->nfree, err);
    CLMD_ARG(k, a++, c->d_free, err);
    CLMD_ARG(k, a++, c->gs, err);
    const int gc = groups_of(c->nclusters);
    CLMD_ARG(k, a++, gc, err);
    MIXED_ARG(c, k, a++, c->tol);
    MIXED_ARG(c, k, a++, c->tol / dt);
    MIXED_ARG(c, k, a++, 1 / dt);
    CLMD_ARG(k, a++, c->d_wsite, err);
    CLMD_ARG(k, a++, c->vs_atoms, err);
    CLMD_ARG(k, a++, c->vs_w, err);
    return CLMD_OK;
}
