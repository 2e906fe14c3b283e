/* Overflow reports. The device accumulates forces and energies in 64-bit fixed point, which
 * holds +-2^31 kJ/mol/nm; a close contact (two atoms 0.01 nm apart: 1e22 kJ/mol/nm) or
 * coincident atoms (NaN) go far beyond. The kernels saturate such contributions and flag their
 * terms (CLMD_FIXED_LIMIT in ff/term.h, cl/common.cl); the engine reads the flags with the
 * displacement check it makes anyway, or with the energies, and comes here for the message:
 * the step, the terms, and the particles: the one with the largest force (a non-finite one
 * first) and its nearest partner, with their distance. The reference path computes in double
 * precision and holds the same limit, so both paths refuse the same states. */
#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "md/engine_impl.h"
#include "md/vsite.h"
#include "state/state.h"
#include "system/box.h"
#include "system/system.h"

/* Energy components beyond this (kJ/mol) cannot be held by the device's accumulators. */
#define ENERGY_RANGE 2147483648.0 /* 2^31 */

/* The terms that act between particles in space (their contacts are the nonbonded ones). */
#define SPATIAL_TERMS                                                                       \
    ((1u << CLMD_E_LJ) | (1u << CLMD_E_COULOMB) | (1u << CLMD_E_PME_RECIP) |                \
     (1u << CLMD_E_GB) | (1u << CLMD_E_SA))

static int force_bad(double v) { return !(fabs(v) < CLMD_FIXED_LIMIT); }

/* "lj, coulomb" for the bits (bit CLMD_E_NCOMP: "kinetic"). */
static void term_names(unsigned bits, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int c = 0; c <= CLMD_E_NCOMP && len < size; c++)
        if (bits & (1u << c))
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                    c < CLMD_E_NCOMP ? clmd_ecomp_name[c] : "kinetic");
}

/* Largest |component| of particle i's force; infinite when one is not finite. */
static double force_size(const double *f, int i)
{
    double s = 0;
    for (int k = 0; k < 3; k++) {
        if (!isfinite(f[3 * i + k])) return INFINITY;
        s = fmax(s, fabs(f[3 * i + k]));
    }
    return s;
}

static double distance(const clmd_engine *e, const double *x, int i, int j)
{
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = x[3 * j + k] - x[3 * i + k];
    if (e->sys->periodic) clmd_box_min_image(e->st->box, d);
    return sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
}

typedef struct contact {
    int a, b;     /* particles (0-based), b = -1 when a has no partner */
    double d;     /* their distance, nm */
    int nbad;     /* particles whose force is beyond the limit or not finite */
} contact;

/* a: the particle with the largest force. b: its nearest partner: for the spatial terms the
 * nearest one a interacts with (not excluded; its own bonded neighbours and virtual sites are
 * nearer than any clash), for bonded terms alone the nearest massive particle of all (two
 * bonded atoms on top of each other). */
static contact find_contact(const clmd_engine *e, const double *x, const double *f, int spatial)
{
    const clmd_system *s = e->sys;
    contact c = {-1, -1, INFINITY, 0};
    double best = -1;
    for (int i = 0; i < s->n; i++) {
        double fs = force_size(f, i);
        if (force_bad(fs)) c.nbad++;
        if (fs > best) best = fs, c.a = i;
    }
    if (c.a < 0) return c;
    const int seg = clmd_system_segment(s, c.a);
    for (int j = 0; j < s->n; j++) {
        if (j == c.a || clmd_system_segment(s, j) != seg) continue; /* copies never interact */
        if (spatial ? clmd_system_excluded(s, c.a, j) : s->mass[j] == 0) continue;
        double d = distance(e, x, c.a, j);
        if (d < c.d || c.b < 0) c.d = d, c.b = j;
    }
    return c;
}

int clmd_engine_overflow_error(clmd_engine *e, long step, const clmd_overflow *ovf,
                               const double *forces, const char *advice, clmd_err *err)
{
    const clmd_system *s = e->sys;
    double *f = NULL;
    int rc = clmd_engine_download_positions(e, err);
    if (rc) return rc;
    if (!forces) {
        CLMD_NEW(f, 3 * s->n);
        if (e->reference) memcpy(f, e->f, sizeof(double) * 3 * (size_t)s->n);
        else if ((rc = clmd_engine_read_forces(e, f, NULL, err))) {
            clmd_free(f);
            return rc;
        }
        forces = f;
    }
    /* a kernel flags every component it computes (LJ and Coulomb together): name only the
     * ones this system has */
    unsigned present = 1u << CLMD_E_NCOMP;
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (e->plan.present[c]) present |= 1u << c;
    unsigned fb = (ovf->force & present) ? (ovf->force & present) : ovf->force;
    unsigned eb = (ovf->energy & present) ? (ovf->energy & present) : ovf->energy;
    char fn[256], en[256], what[600];
    term_names(fb, fn, sizeof fn);
    term_names(eb, en, sizeof en);
    if (fb && eb)
        snprintf(what, sizeof what, "the forces of %s and the energies of %s", fn, en);
    else if (fb)
        snprintf(what, sizeof what, "the forces of %s", fn);
    else if (eb)
        snprintf(what, sizeof what, "the %s energ%s", en, strchr(en, ',') ? "ies" : "y");
    else /* flagged, but by no term (a sum beyond the limit) */
        snprintf(what, sizeof what, "the forces or the energy");
    unsigned terms = fb | eb;
    contact c = find_contact(e, e->st->x, forces, (terms & SPATIAL_TERMS) != 0 || !terms);
    clmd_free(f);
    char who[240] = "";
    if (c.a >= 0 && c.b >= 0) {
        /* batched copies: the copy, and the particles as numbered in the input */
        const int ga = clmd_system_segment(s, c.a), gb = clmd_system_segment(s, c.b);
        const int stride = s->nseg > 1 ? s->seg_stride : 0;
        char copy[48] = "";
        if (s->nseg > 1) snprintf(copy, sizeof copy, " of replica copy %d", ga);
        snprintf(who, sizeof who, ": particles %d (%s) and %d (%s)%s are %.4g nm apart",
                 c.a - ga * stride + 1, s->name[c.a], c.b - gb * stride + 1, s->name[c.b], copy, c.d);
    }
    char many[80] = "";
    if (c.nbad > 2)
        snprintf(many, sizeof many, " (%d particles have forces beyond the limit)", c.nbad);
    return clmd_err_set(err, CLMD_ERUNTIME,
                        "step %ld: %s overflowed (beyond %.3g kJ/mol/nm or kJ/mol, or not "
                        "finite)%s%s; %s",
                        step, what, CLMD_FIXED_LIMIT, who, many,
                        advice ? advice
                        : c.b >= 0 && c.d < 1e-6
                            ? "coincident particles have no direction to move apart along (nor "
                              "can the minimizer separate them): move one of them in the input"
                        : step > 0 ? "the simulation blew up: try a smaller timestep, or "
                                     "minimize/equilibrate the input"
                                   : "remove the clash: minimize the input (key minimize in the "
                                     "deck) or check its coordinates");
}

/* Bits of the components a term produced (all but the constant dispersion correction). */
static unsigned term_bits(const double *en)
{
    unsigned b = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (c != CLMD_E_DISP && en[c] != 0) b |= 1u << c;
    return b;
}

int clmd_overflow_check_host(clmd_engine *e, clmd_overflow *ovf, clmd_err *err)
{
    const int n3 = 3 * e->sys->n;
    ovf->force = ovf->energy = 0;
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        if (!(fabs(e->energy[c]) < ENERGY_RANGE)) ovf->energy |= 1u << c;
    int bad = 0;
    for (int i = 0; i < n3 && !bad; i++) bad = force_bad(e->f[i]);
    if (!bad) return CLMD_OK;
    /* which terms: each alone into scratch arrays (only on the way to an error) */
    double *f, en[CLMD_E_NCOMP];
    CLMD_NEW(f, n3);
    clmd_fenv env = clmd_engine_fenv(e, 1);
    int rc = CLMD_OK;
    for (int t = 0; t < e->nterms && !rc; t++) {
        memset(f, 0, sizeof(double) * (size_t)n3);
        memset(en, 0, sizeof en);
        if ((rc = e->terms[t]->ops->reference(e->terms[t], &env, e->st->x, f, en, err))) break;
        if (e->vs) clmd_vsites_spread_ref(e->vs, f);
        int tbad = 0;
        for (int i = 0; i < n3 && !tbad; i++) tbad = force_bad(f[i]);
        if (tbad) ovf->force |= term_bits(en);
    }
    clmd_free(f);
    if (!rc && !ovf->force) /* forces beyond the limit only in sum: every term present */
        for (int c = 0; c < CLMD_E_NCOMP; c++)
            if (c != CLMD_E_DISP && e->plan.present[c]) ovf->force |= 1u << c;
    return rc;
}
