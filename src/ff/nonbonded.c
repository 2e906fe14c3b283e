/* Nonbonded term: Lennard-Jones + Coulomb (no cutoff, reaction-field cutoff as OpenMM's
 * CutoffPeriodic/CutoffNonPeriodic, or Ewald real space for PME) over the cluster neighbor list;
 * 1-4 exceptions and Ewald exclusion corrections in a second kernel; the long-range dispersion
 * correction (OpenMM's formula) as a constant. Kernels: cl/nonbonded.cl. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ff/dev.h"
#include "ff/plan.h"
#include "ff/pme_ref.h"
#include "ff/term.h"
#include "nlist/nlist.h"
#include "probe/probe.h"
#include "system/box.h"
#include "system/system.h"

typedef struct nb_pair { /* one record of the pairs kernel */
    int i, j;
    double qq14;   /* exception charge product, e^2 */
    double sigma;  /* exception LJ sigma, nm */
    double eps;    /* exception LJ epsilon, kJ/mol */
    double qq_erf; /* charge product for the Ewald exclusion correction, e^2 (0 if none) */
} nb_pair;

typedef struct nonbonded {
    const clmd_system *sys;
    clmd_ffopts o;
    int coulomb;    /* 0 none, 1 plain, 2 reaction field, 3 Ewald (plan->coulomb) */
    int cutoff_on;  /* pairs beyond the cutoff ignored */
    int periodic;
    double krf, crf, alpha;
    double disp_coef; /* dispersion correction times the volume: E_disp = disp_coef / V */
    /* with a scaled region: the correction's rest-rest, region-rest and region-region parts
     * (times V); a copy's is rest + f_re re + f_rr rr (see disp_copy) */
    double disp_ee, disp_re, disp_rr;
    /* soft-core sterics: the class pairs of region-rest [0] and region-region [1] (sigma, eps,
     * count), whose tail is integrated at each lambda, and OpenMM's normalization 2 pi N^2 /
     * (N (N + 1) / 2) */
    int sc_n[2];
    double *sc_sig[2], *sc_eps[2], *sc_cnt[2];
    double disp_norm;
    int region, softcore, annihilate;
    int elec_mode;    /* 0 charges scaled, 1 openmmtools PME (1-4 linear), 2 openmmtools linear */
    double alpha_sc;
    int npairs;
    nb_pair *pairs;
    /* device */
    cl_kernel k_nb;
    cl_kernel k_pairs; /* CPU devices: the 1-4 records in a launch of their own */
    cl_uint p14_arg;   /* the pair kernel's first 1-4 argument (cl/nonbonded.cl PAIRS14_ARGS) */
    cl_mem ljp, pair_ij, pair_par, e_disp;
    long nl_version, box_version, scale_version;
} nonbonded;

/* OpenMM's long-range dispersion correction for plain truncation or switching at the cutoff:
 * atoms grouped into classes of equal (sigma, eps); E = 8 pi N^2 (<eps s^12>/(9 rc^9) -
 * <eps s^6>/(3 rc^3) + <switch integral>) / V, averages over the N(N+1)/2 class-weighted pairs.
 * The switching integrals of r^-12 and r^-6 do not depend on the pair, so they are done once. */
typedef struct lj_class {
    double sigma, eps;
} lj_class;

static int cmp_class(const void *a, const void *b)
{
    const lj_class *p = a, *q = b;
    if (p->sigma != q->sigma) return (p->sigma > q->sigma) - (p->sigma < q->sigma);
    return (p->eps > q->eps) - (p->eps < q->eps);
}

/* The correction times the volume (it scales as 1/V; the box may change during a run); with
 * `which` (0 everything, 1 rest-rest, 2 region-rest, 3 region-region) only those pairs, the
 * normalization of the whole system kept (OpenMM's N^2 / (N (N+1) / 2) factor). */
static double dispersion_part(const clmd_system *sys, const clmd_ffopts *o, int which);

static double dispersion_coefficient(const clmd_system *sys, const clmd_ffopts *o)
{
    return dispersion_part(sys, o, 0);
}

static double dispersion_part_pairs(const clmd_system *sys, const clmd_ffopts *o, int which,
                                   int *npairs, double **sig_out, double **eps_out, double **cnt_out);

static double dispersion_part(const clmd_system *sys, const clmd_ffopts *o, int which)
{
    return dispersion_part_pairs(sys, o, which, NULL, NULL, NULL, NULL);
}

/* The same, and (npairs not NULL) the class pairs it summed: their sigma, eps and count. With
 * soft-core sterics a region-region class with itself counts n (n - 1) / 2 pairs, as an
 * interaction group does in OpenMM (openmmtools' alchemical forces). */
static double dispersion_part_pairs(const clmd_system *sys, const clmd_ffopts *o, int which,
                                   int *npairs, double **sig_out, double **eps_out, double **cnt_out)
{
    int n = sys->n, ncls = 0;
    lj_class *all;
    CLMD_NEW(all, n);
    /* region particles are their own classes: eps kept, sigma marked by the sign */
    for (int i = 0; i < n; i++)
        all[i] = (lj_class){sys->region && sys->region[i] ? -sys->sigma[i] - 1 : sys->sigma[i],
                            sys->epsilon[i]};
    qsort(all, (size_t)n, sizeof *all, cmp_class);
    lj_class *cls;
    double *cnt;
    CLMD_NEW(cls, n);
    CLMD_NEW(cnt, n);
    for (int i = 0; i < n; i++) {
        if (ncls == 0 || cmp_class(&cls[ncls - 1], &all[i]) != 0) cls[ncls++] = all[i];
        cnt[ncls - 1] += 1;
    }
    clmd_free(all);
    const double rc = o->cutoff_nm;
    double i12 = 0, i6 = 0; /* (1/4) integral over [rs, rc] of r^2 r^-k (1 - S(r)) dr */
    if (o->switch_nm > 0 && o->switch_nm < rc) {
        const int m = 4000; /* Simpson's rule; the integrand is smooth */
        double rs = o->switch_nm, h = (rc - rs) / m;
        for (int k = 0; k <= m; k++) {
            double r = rs + k * h, t = (r - rs) / (rc - rs);
            double S = 1 + t * t * t * (-10 + t * (15 - 6 * t));
            double w = ((k == 0 || k == m) ? 1 : (k % 2 ? 4 : 2)) * (1 - S) * h / 3 * 0.25;
            double r2 = r * r, r6 = r2 * r2 * r2;
            i12 += w * 4 * r2 / (r6 * r6);
            i6 += w * 4 * r2 / r6;
        }
    }
    double sum1 = 0, sum2 = 0, sum3 = 0;
    if (npairs) {
        *npairs = 0;
        CLMD_NEW(*sig_out, ncls * ncls + 1);
        CLMD_NEW(*eps_out, ncls * ncls + 1);
        CLMD_NEW(*cnt_out, ncls * ncls + 1);
    }
    for (int a = 0; a < ncls; a++)
        for (int b = a; b < ncls; b++) {
            const int ra = cls[a].sigma < 0, rb = cls[b].sigma < 0;
            const int kind = ra + rb == 0 ? 1 : ra + rb == 1 ? 2 : 3;
            if (which && kind != which) continue;
            const double self = kind == 3 && o->region_softcore ? -1 : 1;
            double count = a == b ? 0.5 * cnt[a] * (cnt[a] + self) : cnt[a] * cnt[b];
            const double sa = ra ? -cls[a].sigma - 1 : cls[a].sigma, sb = rb ? -cls[b].sigma - 1 : cls[b].sigma;
            double sig = 0.5 * (sa + sb), eps = sqrt(cls[a].eps * cls[b].eps);
            double s2 = sig * sig, s6 = s2 * s2 * s2;
            sum1 += count * eps * s6 * s6;
            sum2 += count * eps * s6;
            sum3 += count * eps * (s6 * s6 * i12 - s6 * i6);
            if (npairs) {
                (*sig_out)[*npairs] = sig;
                (*eps_out)[*npairs] = eps;
                (*cnt_out)[(*npairs)++] = count;
            }
        }
    double pairs = 0.5 * (double)n * (n + 1);
    clmd_free(cls);
    clmd_free(cnt);
    return 8 * M_PI * (double)n * n *
           (sum1 / pairs / (9 * pow(rc, 9)) - sum2 / pairs / (3 * pow(rc, 3)) + sum3 / pairs);
}

/* Sum over the class pairs of group g of count * integral over r >= rc (with switching: of
 * (1 - S) over r >= rs) of r^2 U_sc(r) dr, the soft-core LJ at lambda l, and of dU_sc/dl (*dl).
 * A change of lambda costs one integral per class pair, never a sum over particle pairs. */
static double softcore_tail(const nonbonded *nb, int g, double l, double *dl)
{
    const double rc = nb->o.cutoff_nm, a = nb->alpha_sc;
    const int sw = nb->o.switch_nm > 0 && nb->o.switch_nm < rc;
    double e = 0, d = 0;
    for (int k = 0; k < nb->sc_n[g]; k++) {
        const double s6 = pow(nb->sc_sig[g][k], 6), eps4 = 4 * nb->sc_eps[g][k];
        double ek = 0, dk = 0;
        /* r >= rc with u = 1/r: the integrand u^-4 U(1/u) goes as u^2, smooth down to u = 0 */
        const int m = 400;
        const double h = 1 / rc / m;
        for (int j = 0; j <= m; j++) {
            const double u = j * h, w = ((j == 0 || j == m) ? 1 : (j % 2 ? 4 : 2)) * h / 3;
            if (u == 0) continue;
            const double r2 = 1 / (u * u), r6 = r2 * r2 * r2, D = a * s6 * (1 - l) + r6, x = s6 / D;
            const double u4 = u * u * u * u;
            ek += w * l * eps4 * x * (x - 1) / u4;
            dk += w * eps4 * (x * (x - 1) + l * (2 * x - 1) * a * x * x) / u4;
        }
        if (sw) {
            /* the switched shell [rs, rc]: (1 - S) of the pair energy */
            const int ms = 400;
            const double rs = nb->o.switch_nm, hs = (rc - rs) / ms;
            for (int j = 0; j <= ms; j++) {
                const double r = rs + j * hs, t = (r - rs) / (rc - rs);
                const double S = 1 + t * t * t * (-10 + t * (15 - 6 * t));
                const double w = ((j == 0 || j == ms) ? 1 : (j % 2 ? 4 : 2)) * hs / 3 * (1 - S);
                const double r2 = r * r, r6 = r2 * r2 * r2, D = a * s6 * (1 - l) + r6, x = s6 / D;
                ek += w * r2 * l * eps4 * x * (x - 1);
                dk += w * r2 * eps4 * (x * (x - 1) + l * (2 * x - 1) * a * x * x);
            }
        }
        e += nb->sc_cnt[g][k] * ek;
        d += nb->sc_cnt[g][k] * dk;
    }
    *dl = d;
    return e;
}

/* A copy's dispersion correction times V, and its derivative in lambda_sterics (times V). */
static double disp_copy(const nonbonded *nb, const clmd_region_scale *sc, double *dudl)
{
    if (!nb->region || !sc) {
        if (dudl) *dudl = 0;
        return nb->disp_coef;
    }
    if (nb->softcore) {
        /* openmmtools: the soft-core tails at this lambda (region-rest; region-region when
         * annihilated, else plain LJ), OpenMM's normalization */
        double d1 = 0, d2 = 0, e = nb->disp_ee;
        e += nb->disp_norm * softcore_tail(nb, 0, sc->sterics, &d1);
        if (nb->annihilate) e += nb->disp_norm * softcore_tail(nb, 1, sc->sterics, &d2);
        else e += nb->disp_rr;
        if (dudl) *dudl = nb->disp_norm * (d1 + d2);
        return e;
    }
    const double lj = sc->lj, l = sc->sterics;
    const double f_re = nb->softcore ? l * lj : lj;
    const double f_rr = nb->softcore && nb->annihilate ? l * lj * lj : lj * lj;
    if (dudl)
        *dudl = nb->softcore ? nb->disp_re * lj + (nb->annihilate ? nb->disp_rr * lj * lj : 0) : 0;
    return nb->disp_ee + f_re * nb->disp_re + f_rr * nb->disp_rr;
}

static void nb_describe(const clmd_term *t, FILE *out)
{
    const nonbonded *nb = t->impl;
    static const char *cname[] = {"no Coulomb (no charges)", "plain Coulomb",
                                  "reaction-field Coulomb", "Ewald real space"};
    fprintf(out, "nonbonded: LJ + %s", cname[nb->coulomb]);
    if (nb->cutoff_on) fprintf(out, ", cutoff %.4g nm", nb->o.cutoff_nm);
    if (nb->coulomb == 2) fprintf(out, " (dielectric %.4g)", nb->o.rf_dielectric);
    if (nb->coulomb == 3) fprintf(out, " (alpha %.6g /nm)", nb->alpha);
    if (nb->o.switch_nm > 0 && nb->cutoff_on) fprintf(out, ", LJ switch from %.4g nm", nb->o.switch_nm);
    if (nb->disp_coef != 0)
        fprintf(out, ", dispersion correction %.6g kJ/mol nm^3 / V (%.6g kJ/mol in the input box)",
                nb->disp_coef, nb->disp_coef / clmd_system_box_volume(nb->sys));
    fprintf(out, ", %d exception/exclusion records\n", nb->npairs);
}

/* LJ + Coulomb of one pair at squared distance r2, in double precision (the reference). */
static void pair_energy(const nonbonded *nb, double qq, double sig, double eps, double r2,
                        double *elj, double *ec, double *f_over_r)
{
    double inv_r2 = 1 / r2, r = sqrt(r2), inv_r = 1 / r;
    double s2 = sig * sig * inv_r2, s6 = s2 * s2 * s2;
    double e = 4 * eps * (s6 * s6 - s6), f = 4 * eps * (12 * s6 * s6 - 6 * s6) * inv_r2;
    if (nb->cutoff_on && nb->o.switch_nm > 0 && r > nb->o.switch_nm) {
        double w = 1 / (nb->o.cutoff_nm - nb->o.switch_nm), t = (r - nb->o.switch_nm) * w;
        double sw = 1 + t * t * t * (-10 + t * (15 - 6 * t));
        double dsw = t * t * (-30 + t * (60 - 30 * t)) * w;
        f = f * sw - e * dsw / r;
        e *= sw;
    }
    double c = 0;
    qq *= CLMD_COULOMB;
    switch (nb->coulomb) {
    case 1:
        c = qq * inv_r;
        f += c * inv_r2;
        break;
    case 2:
        c = qq * (inv_r + nb->krf * r2 - nb->crf);
        f += qq * (inv_r * inv_r2 - 2 * nb->krf);
        break;
    case 3: {
        double ar = nb->alpha * r, ec_ = erfc(ar);
        c = qq * ec_ * inv_r;
        f += qq * (ec_ * inv_r + nb->alpha * M_2_SQRTPI * exp(-ar * ar)) * inv_r2;
        break;
    }
    default: break;
    }
    *elj = e;
    *ec = c;
    *f_over_r = f;
}

static void add_pair_force(double *f, int i, int j, const double d[3], double f_over_r)
{
    for (int k = 0; k < 3; k++) {
        f[3 * i + k] -= f_over_r * d[k];
        f[3 * j + k] += f_over_r * d[k];
    }
}

typedef struct ref_ctx {
    const nonbonded *nb;
    const double *x;
    const double (*box)[3];
    double *f, elj, ec;
    const clmd_region_scale *sc; /* the region's factors (NULL: no region) */
    double dudl, ere, err;       /* dU/dlambda_sterics; unscaled region Coulomb energies */
} ref_ctx;

/* Soft-core LJ (openmmtools): U = l 4 eps x (x - 1), x = sig^6 / (alpha sig^6 (1 - l) + r^6);
 * *f_over_r = -dU/dr / r, *dudl = dU/dl; the LJ switch (if any) applied as to plain LJ. */
static double softcore(const nonbonded *nb, double sig, double eps, double l, double r2,
                       double *f_over_r, double *dudl)
{
    const double s6 = pow(sig, 6), r6 = r2 * r2 * r2, D = nb->alpha_sc * s6 * (1 - l) + r6;
    const double x = D > 0 ? s6 / D : 0;
    double e = l * 4 * eps * x * (x - 1);
    double f = D > 0 ? 6 * l * 4 * eps * (2 * x - 1) * x * r2 * r2 / D : 0;
    double dl = 4 * eps * (x * (x - 1) + l * (2 * x - 1) * nb->alpha_sc * x * x);
    const double r = sqrt(r2);
    if (nb->cutoff_on && nb->o.switch_nm > 0 && r > nb->o.switch_nm) {
        double w = 1 / (nb->o.cutoff_nm - nb->o.switch_nm), t = (r - nb->o.switch_nm) * w;
        double sw = 1 + t * t * t * (-10 + t * (15 - 6 * t));
        double dsw = t * t * (-30 + t * (60 - 30 * t)) * w;
        f = f * sw - e * dsw / r;
        e *= sw;
        dl *= sw;
    }
    *f_over_r = f;
    *dudl = dl;
    return e;
}

static void ref_pair(int i, int j, double r2, void *p)
{
    ref_ctx *c = p;
    const nonbonded *nb = c->nb;
    const clmd_system *s = nb->sys;
    double d[3] = {c->x[3 * j] - c->x[3 * i], c->x[3 * j + 1] - c->x[3 * i + 1],
                   c->x[3 * j + 2] - c->x[3 * i + 2]};
    if (nb->periodic) clmd_box_min_image(c->box, d);
    const int ri = c->sc && s->region[i], rj = c->sc && s->region[j];
    /* openmmtools without PME: every Coulomb pair touching the region times lambda */
    const double fq = nb->elec_mode == 2 ? (ri || rj ? c->sc->charge : 1)
                                         : (ri ? c->sc->charge : 1) * (rj ? c->sc->charge : 1);
    const double fl = (ri ? c->sc->lj : 1) * (rj ? c->sc->lj : 1);
    const double sig = 0.5 * (s->sigma[i] + s->sigma[j]), eps = sqrt(s->epsilon[i] * s->epsilon[j]) * fl;
    const double qq = s->charge[i] * s->charge[j];
    double elj, ec, fr;
    const int soft = nb->softcore && c->sc && ((ri != rj) || (nb->annihilate && ri && rj));
    /* Coulomb (and LJ unless soft) as usual, the charges scaled */
    pair_energy(nb, qq * fq, sig, soft ? 0 : eps, r2, &elj, &ec, &fr);
    if (soft) {
        double fs, dl;
        elj = softcore(nb, sig, eps, c->sc->sterics, r2, &fs, &dl);
        fr += fs;
        c->dudl += dl;
    }
    if (ri != rj || (ri && rj)) {
        /* the unscaled Coulomb energy: ec / fq, or recomputed when fq is 0 */
        double e0, ec0, f0;
        pair_energy(nb, qq, sig, 0, r2, &e0, &ec0, &f0);
        if (ri != rj || nb->elec_mode == 2) c->ere += ec0;
        else c->err += ec0;
    }
    c->elj += elj;
    c->ec += ec;
    add_pair_force(c->f, i, j, d, fr);
}

static int nb_reference(clmd_term *t, const clmd_fenv *env, const double *x, double *f, double *e,
                        clmd_err *err)
{
    nonbonded *nb = t->impl;
    const clmd_system *s = nb->sys;
    ref_ctx c = {nb, x, env->box, f, 0, 0, nb->region ? env->scale : NULL, 0, 0, 0};
    if (nb->region && !env->scale)
        return clmd_err_set(err, CLMD_ERUNTIME, "nonbonded reference: a region without its factors");
    if (nb->cutoff_on) {
        if (!env->nl) return clmd_err_set(err, CLMD_ERUNTIME, "nonbonded reference: no neighbor list");
        clmd_nlist_for_each_pair(env->nl, x, env->box, nb->o.cutoff_nm, ref_pair, &c);
    } else {
        for (int i = 0; i < s->n; i++)
            for (int j = i + 1; j < s->n; j++) {
                if (clmd_system_excluded(s, i, j)) continue;
                double d[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
                ref_pair(i, j, d[0] * d[0] + d[1] * d[1] + d[2] * d[2], &c);
            }
    }
    /* exceptions (no cutoff) and Ewald exclusion corrections */
    for (int k = 0; k < nb->npairs; k++) {
        const nb_pair *p = &nb->pairs[k];
        double d[3] = {x[3 * p->j] - x[3 * p->i], x[3 * p->j + 1] - x[3 * p->i + 1],
                       x[3 * p->j + 2] - x[3 * p->i + 2]};
        if (nb->periodic) clmd_box_min_image(env->box, d);
        /* a region's exceptions: charges and LJ depths scaled per particle in the region */
        const int nreg = c.sc ? s->region[p->i] + s->region[p->j] : 0;
        /* the particles' charge factor (Ewald exclusion part), the exception's own (its charge
         * product: linear in lambda in openmmtools' alchemical modes) */
        const double fq = nreg == 0 ? 1 : nreg == 1 ? c.sc->charge : c.sc->charge * c.sc->charge;
        const double fx = nb->elec_mode == 0 ? fq : nreg ? c.sc->charge : 1;
        const double fw = nb->elec_mode == 2 ? fx : fq;
        const double fl = nreg == 0 ? 1 : nreg == 1 ? c.sc->lj : c.sc->lj * c.sc->lj;
        double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2], r = sqrt(r2);
        double qq = CLMD_COULOMB * p->qq14 * fx, ec = qq / r, fr = ec / r2, elj = 0;
        double lin = 0, quad = 0, ex = CLMD_COULOMB * p->qq14 / r; /* unscaled */
        if (nb->elec_mode == 0 && nreg == 2) quad += ex;
        else lin += ex;
        const int soft14 = nb->softcore && c.sc && (nreg == 1 || (nb->annihilate && nreg == 2));
        if (p->eps != 0 && soft14) {
            /* openmmtools: soft-core 1-4 LJ across the region's boundary, no cutoff */
            double fs, dl;
            elj = softcore(nb, p->sigma, p->eps * fl, c.sc->sterics, r2, &fs, &dl);
            fr += fs;
            c.dudl += dl;
        } else if (p->eps != 0) {
            double s2 = p->sigma * p->sigma / r2, s6 = s2 * s2 * s2;
            elj = 4 * p->eps * fl * (s6 * s6 - s6);
            fr += 4 * p->eps * fl * (12 * s6 * s6 - 6 * s6) / r2;
        }
        if (nb->coulomb == 3 && p->qq_erf != 0) {
            double qe = CLMD_COULOMB * p->qq_erf * fw, ar = nb->alpha * r, erf_ar = erf(ar);
            ec -= qe * erf_ar / r;
            fr -= qe * (erf_ar / r - nb->alpha * M_2_SQRTPI * exp(-ar * ar)) / r2;
            double ew = -CLMD_COULOMB * p->qq_erf * erf_ar / r;
            if (nb->elec_mode != 2 && nreg == 2) quad += ew;
            else lin += ew;
        }
        if (nreg > 0) {
            c.ere += lin;
            c.err += quad;
        }
        c.elj += elj;
        c.ec += ec;
        add_pair_force(f, p->i, p->j, d, fr);
    }
    e[CLMD_E_LJ] += c.elj;
    e[CLMD_E_COULOMB] += c.ec;
    double ddisp = 0, V = clmd_box_volume(env->box);
    if (nb->disp_coef != 0) e[CLMD_E_DISP] += disp_copy(nb, c.sc, &ddisp) / V;
    if (c.sc) {
        /* the region's slots (the engine's reference energy buffer holds CLMD_E_SLOTS) */
        e[CLMD_E_DUDL_S] += c.dudl + (nb->disp_coef != 0 ? ddisp / V : 0);
        e[CLMD_E_ELEC_RE] += c.ere;
        e[CLMD_E_ELEC_RR] += c.err;
    }
    return CLMD_OK;
}

/* ---- the energy at other region factors (Hamiltonian ladders) ---- */

/* The region's pair energies split by how they follow the factors (charge c, LJ s, sterics l):
 * per copy, Coulomb linear and quadratic in c and plain LJ linear and quadratic in s (the
 * unscaled energies), and the soft-core LJ at each distinct lambda_sterics, of pairs with one
 * particle in the region (times s) and with two (times s^2), all unscaled. */
typedef struct states_ctx {
    const nonbonded *nb;
    const double *x;
    const double (*box)[3];
    int nl;             /* distinct lambda_sterics values */
    const double *lam;  /* [nl] */
    double *acc;        /* per copy: cl, cq, ll, lq, then soft [2][nl] */
} states_ctx;

enum { ST_CL, ST_CQ, ST_LL, ST_LQ, ST_SOFT };

static double *st_copy(const states_ctx *c, int i)
{
    return c->acc + (size_t)clmd_system_segment(c->nb->sys, i) * (ST_SOFT + 2 * c->nl);
}

static void st_pair(int i, int j, double r2, void *p)
{
    states_ctx *c = p;
    const nonbonded *nb = c->nb;
    const clmd_system *s = nb->sys;
    const int nreg = (s->region[i] != 0) + (s->region[j] != 0);
    const double sig = 0.5 * (s->sigma[i] + s->sigma[j]), eps = sqrt(s->epsilon[i] * s->epsilon[j]);
    const int soft = nb->softcore && (nreg == 1 || (nb->annihilate && nreg == 2));
    double elj, ec, fr;
    pair_energy(nb, s->charge[i] * s->charge[j], sig, soft ? 0 : eps, r2, &elj, &ec, &fr);
    double *a = st_copy(c, i);
    /* as the pairs kernel scales them: both charges (quadratic for two region particles), or
     * without PME every Coulomb pair touching the region once */
    a[nreg == 1 || nb->elec_mode == 2 ? ST_CL : ST_CQ] += ec;
    if (!soft) {
        a[nreg == 1 ? ST_LL : ST_LQ] += elj;
        return;
    }
    for (int u = 0; u < c->nl; u++) {
        double fs, dl;
        a[ST_SOFT + (nreg - 1) * c->nl + u] += softcore(nb, sig, eps, c->lam[u], r2, &fs, &dl);
    }
}

/* Every pair of a copy with a region particle, by brute force (no cutoff, or no valid list). */
static void st_all_pairs(states_ctx *c)
{
    const clmd_system *s = c->nb->sys;
    const int G = s->nseg > 1 ? s->nseg : 1, stride = s->nseg > 1 ? s->seg_stride : s->n;
    const int n1 = s->nseg > 1 ? s->seg_base->n : s->n;
    const double c2 = c->nb->o.cutoff_nm * c->nb->o.cutoff_nm;
    for (int g = 0; g < G; g++)
        for (int i = g * stride; i < g * stride + n1; i++) {
            if (!s->region[i]) continue;
            for (int j = g * stride; j < g * stride + n1; j++) {
                if (j == i || (s->region[j] && j < i) || clmd_system_excluded(s, i, j)) continue;
                double d[3] = {c->x[3 * j] - c->x[3 * i], c->x[3 * j + 1] - c->x[3 * i + 1],
                               c->x[3 * j + 2] - c->x[3 * i + 2]};
                if (c->nb->periodic) clmd_box_min_image(c->box, d);
                const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                if (c->nb->cutoff_on && !(r2 < c2)) continue;
                st_pair(i, j, r2, c);
            }
        }
}

static int nb_region_energies(clmd_term *t, const clmd_fenv *env, const double *x, int S,
                              const clmd_region_scale *scales, const double *slots, double *out,
                              clmd_err *err)
{
    (void)slots;
    nonbonded *nb = t->impl;
    const clmd_system *s = nb->sys;
    if (!nb->region) return CLMD_OK;
    const int G = s->nseg > 1 ? s->nseg : 1;
    /* the distinct lambda_sterics of every set */
    double *lam = clmd_calloc((size_t)G * S, sizeof *lam);
    int *idx = clmd_calloc((size_t)G * S, sizeof *idx), nl = 0;
    for (int k = 0; k < G * S; k++) {
        int u = 0;
        while (u < nl && lam[u] != scales[k].sterics) u++;
        if (u == nl) lam[nl++] = scales[k].sterics;
        idx[k] = u;
    }
    if (!nb->softcore) nl = 0; /* the soft-core sums are not used */
    const size_t per = ST_SOFT + 2 * (size_t)nl;
    states_ctx c = {nb, x, env->box, nl, lam, clmd_calloc((size_t)G * per, sizeof(double))};
    if (nb->cutoff_on && env->nl)
        clmd_nlist_for_each_flagged_pair(env->nl, x, env->box, nb->o.cutoff_nm, s->region, st_pair, &c);
    else
        st_all_pairs(&c);
    /* exceptions and Ewald exclusion corrections touching the region, split as the reference
     * scales them */
    for (int k = 0; k < nb->npairs; k++) {
        const nb_pair *p = &nb->pairs[k];
        const int nreg = (s->region[p->i] != 0) + (s->region[p->j] != 0);
        if (!nreg) continue;
        double d[3] = {x[3 * p->j] - x[3 * p->i], x[3 * p->j + 1] - x[3 * p->i + 1],
                       x[3 * p->j + 2] - x[3 * p->i + 2]};
        if (nb->periodic) clmd_box_min_image(env->box, d);
        const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2], r = sqrt(r2);
        double *a = st_copy(&c, p->i);
        a[nb->elec_mode == 0 && nreg == 2 ? ST_CQ : ST_CL] += CLMD_COULOMB * p->qq14 / r;
        const int soft14 = nb->softcore && (nreg == 1 || (nb->annihilate && nreg == 2));
        if (p->eps != 0 && soft14) {
            for (int u = 0; u < nl; u++) {
                double fs, dl;
                a[ST_SOFT + (nreg - 1) * nl + u] += softcore(nb, p->sigma, p->eps, lam[u], r2, &fs, &dl);
            }
        } else if (p->eps != 0) {
            const double s2 = p->sigma * p->sigma / r2, s6 = s2 * s2 * s2;
            a[nreg == 1 ? ST_LL : ST_LQ] += 4 * p->eps * (s6 * s6 - s6);
        }
        if (nb->coulomb == 3 && p->qq_erf != 0)
            a[nb->elec_mode != 2 && nreg == 2 ? ST_CQ : ST_CL] -=
                CLMD_COULOMB * p->qq_erf * erf(nb->alpha * r) / r;
    }
    const double V = nb->periodic ? clmd_box_volume(env->box) : 1;
    for (int g = 0; g < G; g++) {
        const double *a = c.acc + (size_t)g * per;
        for (int k = 0; k < S; k++) {
            const clmd_region_scale *sc = &scales[(size_t)g * S + k];
            const double q = sc->charge, l = sc->lj;
            double e = q * a[ST_CL] + q * q * a[ST_CQ] + l * a[ST_LL] + l * l * a[ST_LQ];
            if (nl) {
                const int u = idx[(size_t)g * S + k];
                e += l * a[ST_SOFT + u] + l * l * a[ST_SOFT + nl + u];
            }
            if (nb->disp_coef != 0) e += disp_copy(nb, sc, NULL) / V;
            out[(size_t)g * S + k] += e;
        }
    }
    clmd_free(c.acc);
    clmd_free(lam);
    clmd_free(idx);
    (void)err;
    return CLMD_OK;
}

/* The GPU kernels read the pruned inner list when the list owner keeps one (ff/dev.h). */
static int prunes(const clmd_dev *dev) { return dev->nl_prune && clmd_ocl_is_gpu(dev->ocl); }

static int nb_setup_device(clmd_term *t, const clmd_fenv *env, clmd_err *err)
{
    nonbonded *nb = t->impl;
    clmd_dev *dev = env->dev;
    const clmd_system *s = nb->sys;
    char defs[1024];
    double sw_start = nb->o.switch_nm;
    /* GPU kernels: erfc of the Ewald real space from a rational approximation times the
     * exp(-(alpha r)^2) the force needs anyway (absolute error below 1.5e-7, Abramowitz and
     * Stegun 7.1.26) instead of the library's erfc; CLMD_NB_ERFC=exact|approx */
    int erfc_approx = 0;
    {
        const char *v = getenv("CLMD_NB_ERFC");
        if (v && *v && strcmp(v, "approx") && strcmp(v, "exact"))
            return clmd_err_set(err, CLMD_EINPUT, "CLMD_NB_ERFC is '%s': use exact or approx", v);
        if (v && strcmp(v, "approx") == 0) erfc_approx = 1;
    }
    int lj_switch = nb->cutoff_on && sw_start > 0 && sw_start < nb->o.cutoff_nm;
    snprintf(defs, sizeof defs,
             "%s#define CUTOFF %d\n#define CUTOFF2 ((real)%.17g)\n#define COULOMB %d\n"
             "#define KRF ((real)%.17g)\n#define CRF ((real)%.17g)\n#define EWALD_ALPHA ((real)%.17g)\n"
             "#define LJ_SWITCH %d\n#define SWITCH_START ((real)%.17g)\n"
             "#define SWITCH_INV_WIDTH ((real)%.17g)\n#define REGION %d\n#define SOFTCORE %d\n"
             "#define ANNIHILATE %d\n#define SC_ALPHA ((real)%.17g)\n#define ELEC_MODE %d\n"
             "#define PRUNE %d\n#define ERFC_APPROX %d\n#define TILE_TASKS %d\n",
             clmd_dev_defines(dev), nb->cutoff_on, nb->o.cutoff_nm * nb->o.cutoff_nm, nb->coulomb,
             nb->krf, nb->crf, nb->alpha, lj_switch, lj_switch ? sw_start : 0.0,
             lj_switch ? 1.0 / (nb->o.cutoff_nm - sw_start) : 0.0, nb->region, nb->softcore,
             nb->annihilate, nb->alpha_sc, nb->elec_mode, prunes(dev), erfc_approx, dev->nl_split > 0);
    cl_program prog;
    int rc;
    if ((rc = clmd_ocl_program(dev->ocl, "nonbonded.cl", defs, &prog, err))) return rc;
    if ((rc = clmd_ocl_kernel(dev->ocl, prog,
                              nb->region ? "nonbonded_region"
                              : dev->nl_tiles ? "nonbonded_tiles" : "nonbonded",
                              &nb->k_nb, err)))
        return rc;

    cl_float2 *lj = clmd_calloc(dev->npad, sizeof *lj);
    for (int i = 0; i < s->n; i++) {
        /* a region particle: the sign bit of sigma/2 (-0 for sigma 0) */
        lj[i].s[0] = copysignf((float)(0.5 * s->sigma[i]), nb->region && s->region[i] ? -1.0f : 1.0f);
        lj[i].s[1] = (float)(2 * sqrt(s->epsilon[i]));
    }
    rc = clmd_ocl_alloc(dev->ocl, sizeof *lj * dev->npad, &nb->ljp, err);
    if (!rc) rc = clmd_ocl_write(dev->ocl, nb->ljp, 0, sizeof *lj * dev->npad, lj, err);
    clmd_free(lj);
    if (rc) return rc;

    int np = nb->npairs;
    cl_int4 *ij = clmd_calloc(np ? np : 1, sizeof *ij);
    cl_float4 *par = clmd_calloc(np ? np : 1, sizeof *par);
    for (int k = 0; k < np; k++) {
        ij[k].s[0] = nb->pairs[k].i;
        ij[k].s[1] = nb->pairs[k].j;
        ij[k].s[2] = nb->region ? s->region[nb->pairs[k].i] + s->region[nb->pairs[k].j] : 0;
        par[k].s[0] = (float)(CLMD_COULOMB * nb->pairs[k].qq14);
        par[k].s[1] = (float)nb->pairs[k].sigma;
        par[k].s[2] = (float)(4 * nb->pairs[k].eps);
        par[k].s[3] = (float)(CLMD_COULOMB * nb->pairs[k].qq_erf);
    }
    rc = clmd_ocl_alloc(dev->ocl, sizeof *ij * (np ? np : 1), &nb->pair_ij, err);
    if (!rc) rc = clmd_ocl_alloc(dev->ocl, sizeof *par * (np ? np : 1), &nb->pair_par, err);
    if (!rc) rc = clmd_ocl_write(dev->ocl, nb->pair_ij, 0, sizeof *ij * np, ij, err);
    if (!rc) rc = clmd_ocl_write(dev->ocl, nb->pair_par, 0, sizeof *par * np, par, err);
    clmd_free(ij);
    clmd_free(par);
    if (rc) return rc;

    cl_kernel k = nb->k_nb;
    CLMD_ARG(k, 0, dev->posq, err);
    CLMD_ARG(k, 1, dev->posq_lo, err);
    CLMD_ARG(k, 2, nb->ljp, err);
    CLMD_ARG(k, 7, dev->force, err);
    CLMD_ARG(k, 8, dev->npad, err);
    CLMD_ARG(k, 9, dev->energy, err);
    CLMD_ARG(k, 20, dev->shift_table, err);
    /* on GPUs the 1-4 records ride on the same launch: the last three arguments (CPU kernels
     * take them too and leave them to pairs14) */
    cl_uint nargs = 0;
    CL_CHECK(clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL), err);
    nb->p14_arg = nargs - 3;
    const int gpu = clmd_ocl_is_gpu(dev->ocl), np_in = gpu ? np : 0;
    CLMD_ARG(k, nb->p14_arg, nb->pair_ij, err);
    CLMD_ARG(k, nb->p14_arg + 1, nb->pair_par, err);
    CLMD_ARG(k, nb->p14_arg + 2, np_in, err);
    /* each copy's region factors (a dummy without a region) and dispersion constants */
    const int G = dev->nseg > 1 ? dev->nseg : 1;
    if ((rc = clmd_ocl_alloc(dev->ocl, sizeof(cl_long) * 2 * (size_t)G, &nb->e_disp, err))) return rc;
    cl_mem scale = dev->seg_scale ? dev->seg_scale : nb->e_disp;
    if (!gpu) {
        if ((rc = clmd_ocl_kernel(dev->ocl, prog, "pairs14", &nb->k_pairs, err))) return rc;
        k = nb->k_pairs;
        CLMD_ARG(k, 0, dev->posq, err);
        CLMD_ARG(k, 1, dev->posq_lo, err);
        CLMD_ARG(k, 2, nb->pair_ij, err);
        CLMD_ARG(k, 3, nb->pair_par, err);
        CLMD_ARG(k, 4, np, err);
        CLMD_ARG(k, 5, dev->force, err);
        CLMD_ARG(k, 6, dev->npad, err);
        CLMD_ARG(k, 7, dev->energy, err);
        CLMD_ARG(k, 9 + CLMD_BOX_NARGS, scale, err);
    }
    if (nb->region) {
        CLMD_ARG(nb->k_nb, 11, nb->e_disp, err);
        CLMD_ARG(nb->k_nb, 21, scale, err);
    }
    nb->nl_version = nb->box_version = nb->scale_version = -1;
    return CLMD_OK;
}

/* The box and what follows from it (the dispersion correction, added once in fixed point by
 * the pair kernel), when the state's box changed. */
static int set_box_args(nonbonded *nb, const clmd_fenv *env, clmd_err *err)
{
    clmd_dev *dev = env->dev;
    if (nb->box_version == dev->box_version &&
        (!nb->region || nb->scale_version == env->scale_version))
        return CLMD_OK;
    int rc;
    const double V = clmd_box_volume(dev->box_rows);
    if (nb->region) {
        /* each copy's correction and its dU/dlambda_sterics, in fixed point */
        const int G = dev->nseg > 1 ? dev->nseg : 1;
        cl_long *ed = clmd_calloc(2 * (size_t)G, sizeof *ed);
        for (int g = 0; g < G && nb->disp_coef != 0; g++) {
            double dl = 0, e = disp_copy(nb, env->scale ? &env->scale[g] : NULL, &dl);
            ed[g] = (cl_long)llround(e / V * CLMD_FIXED_SCALE);
            ed[G + g] = (cl_long)llround(dl / V * CLMD_FIXED_SCALE);
        }
        rc = clmd_ocl_write(dev->ocl, nb->e_disp, 0, sizeof *ed * 2 * (size_t)G, ed, err);
        clmd_free(ed);
        if (rc) return rc;
        nb->scale_version = env->scale_version;
    } else {
        cl_long e_disp = nb->disp_coef != 0 ? (cl_long)llround(nb->disp_coef / V * CLMD_FIXED_SCALE) : 0;
        CLMD_ARG(nb->k_nb, 11, e_disp, err);
    }
    if ((rc = clmd_dev_box_args(dev, nb->k_nb, 12, err)) ||
        (nb->k_pairs && (rc = clmd_dev_box_args(dev, nb->k_pairs, 9, err))))
        return rc;
    nb->box_version = dev->box_version;
    return CLMD_OK;
}

static int nb_enqueue(clmd_term *t, const clmd_fenv *env, int want_energy, clmd_err *err)
{
    nonbonded *nb = t->impl;
    clmd_dev *dev = env->dev;
    cl_kernel k = nb->k_nb;
    if (nb->nl_version != dev->nl_version) {
        const int pr = prunes(dev);
        cl_mem jl = pr ? dev->nl_ijlist : dev->nl_jlist, js = pr ? dev->nl_ijshift : dev->nl_jshift;
        CLMD_ARG(k, 3, dev->nl_cluster_atoms, err);
        CLMD_ARG(k, 4, dev->nl_jstart, err);
        CLMD_ARG(k, 5, jl, err);
        CLMD_ARG(k, 6, dev->nl_nclusters, err);
        CLMD_ARG(k, 19, js, err);
        if (pr) CLMD_ARG(k, nb->region ? 22 : 21, dev->nl_icount, err);
        nb->nl_version = dev->nl_version;
    }
    CLMD_ARG(k, 10, want_energy, err);
    int rc;
    if ((rc = set_box_args(nb, env, err))) return rc;
    /* the kernels' layout (with a region too) is the device's: cl/nonbonded.cl's CLMD_GPU */
    int gpu = clmd_ocl_is_gpu(dev->ocl);
    const size_t groups = dev->nl_tiles && dev->nl_split > 0 ? (size_t)dev->nl_ntasks : (size_t)dev->nl_nclusters;
    size_t global = gpu ? groups * 64 : groups;
    /* CPU devices: the driver picks the work-group size (measured: no effect on PoCL) */
    if ((rc = clmd_ocl_launch(dev->ocl, k, global, gpu ? 64 : 0, P_NONBONDED, err))) return rc;
    if (nb->k_pairs && nb->npairs) {
        CLMD_ARG(nb->k_pairs, 8, want_energy, err);
        rc = clmd_ocl_launch(dev->ocl, nb->k_pairs, (size_t)nb->npairs, 0, P_PAIRS14, err);
    }
    return rc;
}

static void nb_destroy(clmd_term *t)
{
    nonbonded *nb = t->impl;
    if (nb->k_nb) clReleaseKernel(nb->k_nb);
    if (nb->k_pairs) clReleaseKernel(nb->k_pairs);
    clmd_ocl_release(&nb->ljp);
    clmd_ocl_release(&nb->pair_ij);
    clmd_ocl_release(&nb->pair_par);
    clmd_ocl_release(&nb->e_disp);
    clmd_free(nb->pairs);
    for (int g = 0; g < 2; g++) {
        clmd_free(nb->sc_sig[g]);
        clmd_free(nb->sc_eps[g]);
        clmd_free(nb->sc_cnt[g]);
    }
    clmd_free(nb);
    clmd_free(t);
}

static const clmd_term_ops nb_ops = {"nonbonded", nb_setup_device, nb_enqueue, nb_reference,
                                     nb_describe, nb_destroy, NULL,
                                     nb_region_energies};

static int cmp_pair(const void *a, const void *b)
{
    const nb_pair *p = a, *q = b;
    if (p->i != q->i) return (p->i > q->i) - (p->i < q->i);
    return (p->j > q->j) - (p->j < q->j);
}

int clmd_nonbonded_create(const clmd_system *sys, const clmd_ffplan *plan, clmd_term **out,
                          clmd_err *err)
{
    *out = NULL;
    const clmd_ffopts *o = &plan->o;
    if (sys->lj_table)
        return clmd_err_set(err, CLMD_EINPUT, "%s: LJ parameters that do not follow the "
                            "Lorentz-Berthelot rule (a type-pair table, e.g. Amber NBFIX) are not "
                            "supported yet", sys->source);
    nonbonded *nb = clmd_alloc(sizeof *nb);
    nb->sys = sys;
    nb->o = *o;
    nb->cutoff_on = plan->cutoff_on;
    nb->periodic = plan->periodic;
    nb->coulomb = plan->coulomb;
    nb->krf = plan->krf;
    nb->crf = plan->crf;
    nb->alpha = plan->ewald_alpha;
    /* batched copies: each copy's own correction (copies do not interact) */
    const clmd_system *one = sys->nseg > 1 ? sys->seg_base : sys;
    nb->region = sys->region != NULL;
    nb->softcore = o->region_softcore;
    nb->annihilate = o->region_annihilate;
    nb->alpha_sc = o->softcore_alpha;
    nb->elec_mode = !nb->softcore ? 0 : nb->coulomb == 3 ? 1 : 2;
    if (plan->present[CLMD_E_DISP]) {
        nb->disp_coef = dispersion_coefficient(one, o);
        if (nb->region) {
            nb->disp_ee = dispersion_part(one, o, 1);
            nb->disp_re = dispersion_part_pairs(one, o, 2, &nb->sc_n[0], &nb->sc_sig[0], &nb->sc_eps[0],
                                                &nb->sc_cnt[0]);
            nb->disp_rr = dispersion_part_pairs(one, o, 3, &nb->sc_n[1], &nb->sc_sig[1], &nb->sc_eps[1],
                                                &nb->sc_cnt[1]);
            nb->disp_norm = 2 * M_PI * (double)one->n * one->n / (0.5 * (double)one->n * (one->n + 1));
        }
    }

    /* records: every exception, plus (Ewald) every charged excluded pair */
    int cap = sys->npairs + (nb->coulomb == 3 && sys->excl ? sys->excl_start[sys->n] / 2 : 0) + 1;
    CLMD_NEW(nb->pairs, cap);
    for (int k = 0; k < sys->npairs; k++) {
        const clmd_pair *p = &sys->pairs[k];
        int i = p->i < p->j ? p->i : p->j, j = p->i < p->j ? p->j : p->i;
        if (!clmd_system_excluded(sys, i, j)) {
            clmd_free(nb->pairs);
            clmd_free(nb);
            return clmd_err_set(err, CLMD_EINPUT, "%s: 1-4 pair %d-%d is not in the exclusion list",
                                sys->source, i + 1, j + 1);
        }
        nb->pairs[nb->npairs++] = (nb_pair){i, j, p->qq, p->sigma, p->eps, 0};
    }
    qsort(nb->pairs, (size_t)nb->npairs, sizeof *nb->pairs, cmp_pair);
    if (nb->coulomb == 3 && sys->excl) {
        int nexc = nb->npairs;
        for (int i = 0; i < sys->n; i++)
            for (int e = sys->excl_start[i]; e < sys->excl_start[i + 1]; e++) {
                int j = sys->excl[e];
                double qq = sys->charge[i] * sys->charge[j];
                if (j <= i || qq == 0) continue;
                nb_pair key = {i, j, 0, 0, 0, 0};
                nb_pair *hit = bsearch(&key, nb->pairs, (size_t)nexc, sizeof key, cmp_pair);
                if (hit) hit->qq_erf = qq;
                else nb->pairs[nb->npairs++] = (nb_pair){i, j, 0, 1, 0, qq};
            }
    }
    clmd_term *t = clmd_alloc(sizeof *t);
    t->ops = &nb_ops;
    t->impl = nb;
    *out = t;
    return CLMD_OK;
}
