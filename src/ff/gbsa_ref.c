/* GBSA/OBC double-precision reference (see gbsa_ref.h for the model and the OpenMM conventions).
 *
 * The evaluation is written as the five stages the OpenCL path will run, each a function below, so the
 * kernels can be checked stage by stage against this file:
 *   1. gbsa_born_sums   pairs i<j within the cutoff: HCT integral T both ways (S_i += T(i<-j),
 *                       S_j += T(j<-i)). Kernel: the cluster-pair list walked like the nonbonded one but
 *                       with no exclusion masks (GB counts bonded pairs) and with the diagonal cluster
 *                       pairs, S accumulated in 64-bit fixed point so the sum is order-independent.
 *                       (Alternatively one work-item per atom over a full neighbour list, no atomics.)
 *   2. gbsa_born_radii  per atom: B_i and dB_i/dS_i from S_i; the self energy and the ACE term only need
 *                       B_i, so their energies and dE/dB seeds are added here too.
 *   3. gbsa_pair_forces pairs i<j: Still pair energy, its direct force along r_ij, and dE/dB_i, dE/dB_j
 *                       accumulated per atom (fixed point, like the forces).
 *   4. gbsa_born_chain  per atom: g_i = dE/dB_i * dB_i/dS_i.
 *   5. gbsa_chain_forces pairs i<j: g_i dT(i<-j)/dr + g_j dT(j<-i)/dr along r_ij.
 * Stages 1, 3, 5 share the pair set and the minimum-image distance; 2 and 4 are one work-item per atom
 * (4 can be folded into the start of 5 when each work-item reads g for its two clusters). */
#include "ff/gbsa_ref.h"

#include <math.h>
#include <stddef.h>

#include "core/mem.h"
#include "system/system.h"

void clmd_gbsa_params_init(clmd_gbsa_params *p, clmd_gbmodel model)
{
    p->offset_nm = CLMD_GBSA_OFFSET_NM;
    if (model == CLMD_GB_OBC1) {
        /* OpenMM's app layer: customgbforces.GBSAOBC1Force */
        p->alpha = 0.8;
        p->beta = 0.0;
        p->gamma = 2.909125;
        p->inside_correction = 0;
        p->coulomb = CLMD_GBSA_COULOMB_CUSTOMGB;
    } else {
        /* OpenMM's GBSAOBCForce (ObcTypeII) */
        p->alpha = 1.0;
        p->beta = 0.8;
        p->gamma = 4.85;
        p->inside_correction = 1;
        p->coulomb = CLMD_GBSA_COULOMB_OPENMM;
    }
    p->solute_dielectric = 1.0;
    p->solvent_dielectric = 78.5;
    p->surface_area = 1;
    p->sa_energy = 2.25936;
    p->probe_radius_nm = 0.14;
    p->cutoff_nm = 0.0;
    p->charge = p->radius = p->scale = NULL;
}

/* What every stage needs: the inputs plus the per-atom scratch. */
typedef struct gbsa_ctx {
    const clmd_gbsa_params *p;
    int n;
    const double *x;
    const double (*box)[3];
    double rc2; /* cutoff^2, or HUGE_VAL */
    double *sum, *born, *dbds, *dedb;
} gbsa_ctx;

/* d = x_j - x_i, minimum image as OpenMM's ReferenceForce::getDeltaRPeriodic; returns |d|^2. */
static double gbsa_delta(const gbsa_ctx *c, int i, int j, double d[3])
{
    for (int k = 0; k < 3; k++) d[k] = c->x[3 * j + k] - c->x[3 * i + k];
    if (c->box) {
        for (int v = 2; v >= 0; v--) {
            double s = floor(d[v] / c->box[v][v] + 0.5);
            for (int k = 0; k < 3; k++) d[k] -= s * c->box[v][k];
        }
    }
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
}

/* HCT integral of atom j's scaled sphere (radius srj) seen from atom i (offset radius ori) at distance r,
 * and its derivative in r. Returns 0 when the sphere does not reach i. The derivative is the partial at
 * fixed L and U: dT/dU = 0 always and dT/dL = 0 when L is ori or r - srj. When i lies inside j's sphere,
 * L = srj - r moves with r: without the inside correction that adds 2/L^2 (what OpenMM's CustomGBForce
 * differentiates); with it, the correction's own derivative cancels that term exactly (OpenMM's built-in). */
static int gbsa_hct(double ori, double srj, double r, int inside_correction, double *t, double *dtdr)
{
    double u = r + srj;
    if (!(ori < u)) return 0;
    double d = fabs(r - srj);
    double l = ori > d ? ori : d;
    double il = 1.0 / l, iu = 1.0 / u, ir = 1.0 / r;
    double il2 = il * il, iu2 = iu * iu;
    double lnlu = log(l * iu);
    *t = il - iu + 0.25 * (r - srj * srj * ir) * (iu2 - il2) + 0.5 * ir * lnlu;
    *dtdr = 0.25 * (1.0 + srj * srj * ir * ir) * (iu2 - il2) - 0.5 * lnlu * ir * ir;
    if (ori < srj - r) {
        if (inside_correction) *t += 2.0 * (1.0 / ori - il);
        else *dtdr += 2.0 * il2;
    }
    return 1;
}

/* Stage 1. Two atoms at the same place make T singular: their sums become NaN, which the
 * engine's overflow check reports with the particles (md/overflow.c). */
static void gbsa_born_sums(gbsa_ctx *c)
{
    const clmd_gbsa_params *p = c->p;
    for (int i = 0; i < c->n; i++) {
        double ori = p->radius[i] - p->offset_nm, sri = p->scale[i] * ori;
        for (int j = i + 1; j < c->n; j++) {
            double d[3], r2 = gbsa_delta(c, i, j, d);
            if (r2 > c->rc2) continue;
            if (r2 == 0.0) {
                c->sum[i] = c->sum[j] = NAN;
                continue;
            }
            double r = sqrt(r2), orj = p->radius[j] - p->offset_nm, srj = p->scale[j] * orj, t, dt;
            if (gbsa_hct(ori, srj, r, p->inside_correction, &t, &dt)) c->sum[i] += t;
            if (gbsa_hct(orj, sri, r, p->inside_correction, &t, &dt)) c->sum[j] += t;
        }
    }
}

/* Stage 2: Born radii and dB/dS; self and ACE energies with their dE/dB. */
static void gbsa_born_radii(gbsa_ctx *c, double pre, double *e_gb, double *e_sa)
{
    const clmd_gbsa_params *p = c->p;
    double ace = 4.0 * M_PI * p->sa_energy;
    for (int i = 0; i < c->n; i++) {
        double rad = p->radius[i], ori = rad - p->offset_nm;
        double psi = 0.5 * ori * c->sum[i];
        double th = tanh(psi * (p->alpha + psi * (-p->beta + psi * p->gamma)));
        double b = 1.0 / (1.0 / ori - th / rad);
        c->born[i] = b;
        c->dbds[i] = b * b * (1.0 - th * th) * (p->alpha + psi * (-2.0 * p->beta + 3.0 * p->gamma * psi)) *
                     0.5 * ori / rad;
        double qq = pre * p->charge[i] * p->charge[i];
        *e_gb += 0.5 * qq / b;
        c->dedb[i] = -0.5 * qq / (b * b);
        if (p->surface_area) {
            double rp = rad + p->probe_radius_nm, ratio = rad / b, r3 = ratio * ratio * ratio;
            double es = ace * rp * rp * r3 * r3;
            *e_sa += es;
            c->dedb[i] -= 6.0 * es / b;
        }
    }
}

/* Stage 3: Still pair energy, direct forces, dE/dB. */
static void gbsa_pair_forces(gbsa_ctx *c, double pre, double *f, double *e_gb)
{
    const clmd_gbsa_params *p = c->p;
    double shift = p->cutoff_nm > 0.0 ? 1.0 / p->cutoff_nm : 0.0;
    for (int i = 0; i < c->n; i++) {
        for (int j = i + 1; j < c->n; j++) {
            double d[3], r2 = gbsa_delta(c, i, j, d);
            if (r2 > c->rc2) continue;
            double bb = c->born[i] * c->born[j], dd = r2 / (4.0 * bb), ex = exp(-dd);
            double f2 = r2 + bb * ex, fij = sqrt(f2), if3 = 1.0 / (f2 * fij);
            double qq = pre * p->charge[i] * p->charge[j];
            *e_gb += qq * (1.0 / fij - shift);
            double dedr_r = -qq * (1.0 - 0.25 * ex) * if3; /* (dE/dr) / r */
            double dedbb = -0.5 * qq * ex * (1.0 + dd) * if3; /* dE/d(B_i B_j) */
            c->dedb[i] += dedbb * c->born[j];
            c->dedb[j] += dedbb * c->born[i];
            if (f) {
                for (int k = 0; k < 3; k++) {
                    f[3 * i + k] += dedr_r * d[k];
                    f[3 * j + k] -= dedr_r * d[k];
                }
            }
        }
    }
}

/* Stage 4: dE/dS per atom (stored over dedb). */
static void gbsa_born_chain(gbsa_ctx *c)
{
    for (int i = 0; i < c->n; i++) c->dedb[i] *= c->dbds[i];
}

/* Stage 5: forces through the Born radii. */
static void gbsa_chain_forces(gbsa_ctx *c, double *f)
{
    const clmd_gbsa_params *p = c->p;
    for (int i = 0; i < c->n; i++) {
        double ori = p->radius[i] - p->offset_nm, sri = p->scale[i] * ori;
        for (int j = i + 1; j < c->n; j++) {
            double d[3], r2 = gbsa_delta(c, i, j, d);
            if (r2 > c->rc2) continue;
            double r = sqrt(r2), orj = p->radius[j] - p->offset_nm, srj = p->scale[j] * orj, t, dt;
            double dedr = 0.0;
            if (gbsa_hct(ori, srj, r, p->inside_correction, &t, &dt)) dedr += c->dedb[i] * dt;
            if (gbsa_hct(orj, sri, r, p->inside_correction, &t, &dt)) dedr += c->dedb[j] * dt;
            double s = dedr / r;
            for (int k = 0; k < 3; k++) {
                f[3 * i + k] += s * d[k];
                f[3 * j + k] -= s * d[k];
            }
        }
    }
}

static int gbsa_check(const clmd_gbsa_params *p, int n, const double *x, const double box[3][3],
                      clmd_err *err)
{
    if (!p) return clmd_err_set(err, CLMD_EINPUT, "GBSA: no parameters");
    if (n < 0) return clmd_err_set(err, CLMD_EINPUT, "GBSA: negative atom count %d", n);
    if (n > 0 && (!x || !p->charge || !p->radius || !p->scale))
        return clmd_err_set(err, CLMD_EINPUT, "GBSA: positions, charges, radii and scale factors are required");
    if (!(p->solute_dielectric > 0.0) || !(p->solvent_dielectric > 0.0))
        return clmd_err_set(err, CLMD_EINPUT, "GBSA: dielectrics must be > 0 (solute %g, solvent %g)",
                            p->solute_dielectric, p->solvent_dielectric);
    if (!(p->offset_nm >= 0.0)) return clmd_err_set(err, CLMD_EINPUT, "GBSA: dielectric offset must be >= 0");
    for (int i = 0; i < n; i++) {
        if (!(p->radius[i] > p->offset_nm))
            return clmd_err_set(err, CLMD_EINPUT,
                                "GBSA: atom %d: radius %g nm must exceed the dielectric offset %g nm", i + 1,
                                p->radius[i], p->offset_nm);
        if (!(p->scale[i] >= 0.0))
            return clmd_err_set(err, CLMD_EINPUT, "GBSA: atom %d: scale factor %g must be >= 0", i + 1,
                                p->scale[i]);
    }
    if (box) {
        if (!(p->cutoff_nm > 0.0))
            return clmd_err_set(err, CLMD_EINPUT, "GBSA: a periodic box needs a cutoff");
        if (box[0][1] != 0.0 || box[0][2] != 0.0 || box[1][2] != 0.0)
            return clmd_err_set(err, CLMD_EINPUT, "GBSA: box vectors are not in reduced (lower-triangular) form");
        for (int k = 0; k < 3; k++)
            if (!(box[k][k] >= 2.0 * p->cutoff_nm))
                return clmd_err_set(err, CLMD_EINPUT,
                                    "GBSA: cutoff %g nm is more than half the box (box vector %d has %g nm)",
                                    p->cutoff_nm, k + 1, box[k][k]);
    }
    return CLMD_OK;
}

int clmd_gbsa_ref(const clmd_gbsa_params *p, int n, const double *x, const double box[3][3], double *f,
                  double *e_gb, double *e_sa, double *born_radii_out, clmd_err *err)
{
    int rc = gbsa_check(p, n, x, box, err);
    if (rc != CLMD_OK) return rc;
    gbsa_ctx c = {.p = p, .n = n, .x = x, .box = box,
                  .rc2 = p->cutoff_nm > 0.0 ? p->cutoff_nm * p->cutoff_nm : HUGE_VAL};
    CLMD_NEW(c.sum, n);
    CLMD_NEW(c.born, n);
    CLMD_NEW(c.dbds, n);
    CLMD_NEW(c.dedb, n);
    gbsa_born_sums(&c);
    double pre = -p->coulomb * (1.0 / p->solute_dielectric - 1.0 / p->solvent_dielectric);
    double egb = 0.0, esa = 0.0;
    double *fl = NULL;
    if (f) CLMD_NEW(fl, 3 * n); /* summed apart, then added: callers' f holds other terms' forces */
    gbsa_born_radii(&c, pre, &egb, &esa);
    gbsa_pair_forces(&c, pre, fl, &egb);
    gbsa_born_chain(&c);
    if (f) {
        gbsa_chain_forces(&c, fl);
        for (int k = 0; k < 3 * n; k++) f[k] += fl[k];
        clmd_free(fl);
    }
    if (e_gb) *e_gb = egb;
    if (e_sa) *e_sa = esa;
    if (born_radii_out)
        for (int i = 0; i < n; i++) born_radii_out[i] = c.born[i];
    clmd_free(c.sum);
    clmd_free(c.born);
    clmd_free(c.dbds);
    clmd_free(c.dedb);
    return rc;
}

int clmd_gbsa_params_from_system(clmd_gbsa_params *p, int *periodic, const clmd_system *sys,
                                 const clmd_ffopts *o, clmd_err *err)
{
    if (o->gb_model != CLMD_GB_OBC1 && o->gb_model != CLMD_GB_OBC2)
        return clmd_err_set(err, CLMD_EINPUT, "GBSA: no implicit-solvent model selected");
    if (!sys->gb_radius || !sys->gb_scale || !sys->charge)
        return clmd_err_set(err, CLMD_EINPUT, "%s: the system has no GB radii and scale factors",
                            sys->source[0] ? sys->source : "system");
    clmd_gbsa_params_init(p, o->gb_model);
    p->solute_dielectric = o->solute_dielectric;
    p->solvent_dielectric = o->solvent_dielectric;
    p->surface_area = o->surface_area;
    p->sa_energy = o->sa_energy;
    p->probe_radius_nm = o->probe_radius_nm;
    p->charge = sys->charge;
    p->radius = sys->gb_radius;
    p->scale = sys->gb_scale;
    int per = 0;
    switch (o->method) {
    case CLMD_NB_NOCUTOFF: p->cutoff_nm = 0.0; break;
    case CLMD_NB_CUTOFF:
    case CLMD_NB_REACTION_FIELD:
        if (!(o->cutoff_nm > 0.0))
            return clmd_err_set(err, CLMD_EINPUT, "GBSA: cutoff must be > 0 (got %g nm)", o->cutoff_nm);
        p->cutoff_nm = o->cutoff_nm;
        per = sys->periodic != 0;
        break;
    default:
        return clmd_err_set(err, CLMD_EINPUT,
                            "GBSA: implicit solvent works with no cutoff or a plain/reaction-field cutoff, not PME");
    }
    if (periodic) *periodic = per;
    return CLMD_OK;
}

int clmd_gbsa_ref_system(const clmd_system *sys, const clmd_ffopts *o, const double *x, double *f,
                         double *e_gb, double *e_sa, double *born_radii_out, clmd_err *err)
{
    clmd_gbsa_params p;
    int periodic = 0;
    int rc = clmd_gbsa_params_from_system(&p, &periodic, sys, o, err);
    if (rc != CLMD_OK) return rc;
    return clmd_gbsa_ref(&p, sys->n, x ? x : sys->x, periodic ? (const double(*)[3])sys->box : NULL, f, e_gb,
                         e_sa, born_radii_out, err);
}
