#include "system/constrain.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "system/forcefield.h"
#include "system/system.h"

int clmd_is_hydrogen(const clmd_system *s, int i)
{
    if (s->atomic_number[i] > 0) return s->atomic_number[i] == 1;
    return s->mass[i] > 0 && s->mass[i] < 1.5;
}

static int is_water_name(const char *n)
{
    return strcmp(n, "HOH") == 0 || strcmp(n, "WAT") == 0 || strcmp(n, "SOL") == 0;
}

static int same_pair(int a, int b, int i, int j)
{
    return (a == i && b == j) || (a == j && b == i);
}

/* Makes the waters rigid; drop_bond/drop_angle mark what leaves the lists. */
static int rigid_waters(clmd_system *s, const clmd_ff *ff, char *drop_bond, char *drop_angle,
                        clmd_err *err)
{
    /* particles of each residue (CSR) */
    int nr = s->nresidues;
    if (nr <= 0) return CLMD_OK;
    for (int i = 0; i < s->n; i++)
        if (s->residue[i] < 0 || s->residue[i] >= nr)
            return clmd_err_set(err, CLMD_EINPUT, "particle %d has residue index %d of %d", i + 1,
                                s->residue[i], nr);
    int *start = clmd_calloc((size_t)nr + 1, sizeof(int)), *fill = clmd_calloc((size_t)nr, sizeof(int));
    int *members = clmd_calloc((size_t)s->n, sizeof(int));
    for (int i = 0; i < s->n; i++) start[s->residue[i] + 1]++;
    for (int r = 0; r < nr; r++) start[r + 1] += start[r];
    for (int i = 0; i < s->n; i++) members[start[s->residue[i]] + fill[s->residue[i]]++] = i;
    /* bonds and angles by residue of their first atom, to avoid a scan per water */
    int *bstart = clmd_calloc((size_t)nr + 1, sizeof(int)), *blist = clmd_calloc((size_t)s->nbonds + 1, sizeof(int));
    int *astart = clmd_calloc((size_t)nr + 1, sizeof(int)), *alist = clmd_calloc((size_t)s->nangles + 1, sizeof(int));
    for (int k = 0; k < s->nbonds; k++) bstart[s->residue[s->bonds[k].i] + 1]++;
    for (int k = 0; k < s->nangles; k++) astart[s->residue[s->angles[k].i] + 1]++;
    for (int r = 0; r < nr; r++) bstart[r + 1] += bstart[r], astart[r + 1] += astart[r];
    memset(fill, 0, sizeof(int) * (size_t)nr);
    for (int k = 0; k < s->nbonds; k++) {
        int r = s->residue[s->bonds[k].i];
        blist[bstart[r] + fill[r]++] = k;
    }
    memset(fill, 0, sizeof(int) * (size_t)nr);
    for (int k = 0; k < s->nangles; k++) {
        int r = s->residue[s->angles[k].i];
        alist[astart[r] + fill[r]++] = k;
    }

    int status = CLMD_OK;
    for (int r = 0; r < nr && !status; r++) {
        int o = -1, h[2] = {-1, -1}, nh = 0, nmassive = 0, other = 0;
        for (int m = start[r]; m < start[r + 1]; m++) {
            int i = members[m];
            if (s->mass[i] <= 0) continue; /* virtual sites ride along */
            nmassive++;
            if (clmd_is_hydrogen(s, i)) {
                if (nh < 2) h[nh] = i;
                nh++;
            } else if (s->atomic_number[i] == 8 || (s->atomic_number[i] == 0 && s->mass[i] > 15 && s->mass[i] < 17)) {
                o = i;
            } else {
                other++;
            }
        }
        int named = is_water_name(s->resname[r]);
        int shape = nmassive == 3 && nh == 2 && o >= 0 && !other;
        double d_oh[2] = {0, 0}, d_hh = 0, theta = 0;
        int has_oh[2] = {0, 0}, has_hh = 0, has_theta = 0;
        if (shape)
            for (int q = bstart[r]; q < bstart[r + 1]; q++) {
                const clmd_bond *b = &s->bonds[blist[q]];
                for (int k = 0; k < 2; k++)
                    if (same_pair(b->i, b->j, o, h[k])) d_oh[k] = b->r0, has_oh[k] = 1;
                if (same_pair(b->i, b->j, h[0], h[1])) d_hh = b->r0, has_hh = 1;
            }
        if (!named && !(shape && has_oh[0] && has_oh[1])) continue;
        if (!shape) {
            status = clmd_err_set(err, CLMD_EINPUT,
                                  "residue %s %d is named as water but its massive atoms are not "
                                  "one O and two H",
                                  s->resname[r], r + 1);
            break;
        }
        for (int q = astart[r]; q < astart[r + 1]; q++) {
            const clmd_angle *an = &s->angles[alist[q]];
            if (an->j == o && same_pair(an->i, an->k, h[0], h[1])) theta = an->theta0, has_theta = 1;
        }
        const clmd_ffres *t = ff ? clmd_ff_find_residue(ff, s->resname[r]) : NULL;
        if (t && t->rigid) {
            d_oh[0] = d_oh[1] = t->rigid_oh;
            d_hh = t->rigid_hh;
        } else {
            if (!has_oh[0] || !has_oh[1]) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "water %s %d: no O-H bond gives the O-H distance to "
                                      "constrain (and no force-field rigid_water geometry)",
                                      s->resname[r], r + 1);
                break;
            }
            if (!has_hh) {
                if (!has_theta) {
                    status = clmd_err_set(err, CLMD_EINPUT,
                                          "water %s %d: neither an H-H bond nor an H-O-H angle "
                                          "gives the H-H distance to constrain",
                                          s->resname[r], r + 1);
                    break;
                }
                d_hh = sqrt(d_oh[0] * d_oh[0] + d_oh[1] * d_oh[1] -
                            2 * d_oh[0] * d_oh[1] * cos(theta));
            }
        }
        clmd_system_add_constraint(s, o, h[0], d_oh[0]);
        clmd_system_add_constraint(s, o, h[1], d_oh[1]);
        clmd_system_add_constraint(s, h[0], h[1], d_hh);
        for (int q = bstart[r]; q < bstart[r + 1]; q++) {
            const clmd_bond *b = &s->bonds[blist[q]];
            if (same_pair(b->i, b->j, o, h[0]) || same_pair(b->i, b->j, o, h[1]) ||
                same_pair(b->i, b->j, h[0], h[1]))
                drop_bond[blist[q]] = 1;
        }
        for (int q = astart[r]; q < astart[r + 1]; q++) {
            const clmd_angle *an = &s->angles[alist[q]];
            int in = 0;
            const int atoms[3] = {an->i, an->j, an->k};
            for (int k = 0; k < 3; k++) in += atoms[k] == o || atoms[k] == h[0] || atoms[k] == h[1];
            if (in == 3) drop_angle[alist[q]] = 1;
        }
    }
    clmd_free(start);
    clmd_free(fill);
    clmd_free(members);
    clmd_free(bstart);
    clmd_free(blist);
    clmd_free(astart);
    clmd_free(alist);
    return status;
}

int clmd_constrain(clmd_system *s, clmd_rigid_bonds kind, int rigid_water, const clmd_ff *ff,
                   clmd_err *err)
{
    char *drop_bond = clmd_calloc((size_t)s->nbonds + 1, 1);
    char *drop_angle = clmd_calloc((size_t)s->nangles + 1, 1);
    int status = CLMD_OK;
    if (rigid_water) status = rigid_waters(s, ff, drop_bond, drop_angle, err);
    if (!status && kind != CLMD_RIGID_NONE) {
        for (int k = 0; k < s->nbonds; k++) {
            const clmd_bond *b = &s->bonds[k];
            if (drop_bond[k]) continue;
            if (kind == CLMD_RIGID_ALLBONDS || clmd_is_hydrogen(s, b->i) ||
                clmd_is_hydrogen(s, b->j)) {
                if (s->mass[b->i] <= 0 || s->mass[b->j] <= 0) {
                    status = clmd_err_set(err, CLMD_EINPUT,
                                          "bond %d-%d involves a massless particle and cannot "
                                          "be constrained",
                                          b->i + 1, b->j + 1);
                    break;
                }
                clmd_system_add_constraint(s, b->i, b->j, b->r0);
                drop_bond[k] = 1;
            }
        }
    }
    if (!status) {
        int w = 0;
        for (int k = 0; k < s->nbonds; k++)
            if (!drop_bond[k]) s->bonds[w++] = s->bonds[k];
        s->nbonds = w;
        w = 0;
        for (int k = 0; k < s->nangles; k++)
            if (!drop_angle[k]) s->angles[w++] = s->angles[k];
        s->nangles = w;
    }
    clmd_free(drop_bond);
    clmd_free(drop_angle);
    return status;
}
