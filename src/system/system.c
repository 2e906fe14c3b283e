#include "system/system.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "system/box.h"

clmd_system *clmd_system_create(void)
{
    clmd_system *s = clmd_alloc(sizeof *s);
    return s;
}

void clmd_system_destroy(clmd_system **sys)
{
    if (!sys || !*sys) return;
    clmd_system *s = *sys;
    clmd_free(s->x);
    clmd_free(s->v);
    clmd_free(s->mass);
    clmd_free(s->charge);
    clmd_free(s->sigma);
    clmd_free(s->epsilon);
    clmd_free(s->type);
    clmd_free(s->atomic_number);
    clmd_free(s->residue);
    clmd_free(s->name);
    clmd_free(s->gb_radius);
    clmd_free(s->gb_scale);
    clmd_free(s->c6);
    clmd_free(s->c12);
    clmd_free(s->resname);
    clmd_free(s->excl_start);
    clmd_free(s->excl);
    clmd_free(s->bonds);
    clmd_free(s->angles);
    clmd_free(s->torsions);
    clmd_free(s->pairs);
    clmd_free(s->constraints);
    clmd_free(s->vsites);
    for (int m = 0; m < s->ncmap_maps; m++) clmd_free(s->cmap_maps[m].energy);
    clmd_free(s->cmap_maps);
    clmd_free(s->cmaps);
    clmd_free(s->region);
    clmd_free(s);
    *sys = NULL;
}

void clmd_system_alloc_particles(clmd_system *s, int n)
{
    s->n = n;
    CLMD_NEW(s->x, 3 * n);
    CLMD_NEW(s->mass, n);
    CLMD_NEW(s->charge, n);
    CLMD_NEW(s->sigma, n);
    CLMD_NEW(s->epsilon, n);
    CLMD_NEW(s->type, n);
    CLMD_NEW(s->atomic_number, n);
    CLMD_NEW(s->residue, n);
    CLMD_NEW(s->name, n);
    CLMD_NEW(s->excl_start, n + 1);
}

void clmd_system_alloc_velocities(clmd_system *s)
{
    if (!s->v) CLMD_NEW(s->v, 3 * s->n);
}

void clmd_system_alloc_gb(clmd_system *s)
{
    if (!s->gb_radius) CLMD_NEW(s->gb_radius, s->n);
    if (!s->gb_scale) CLMD_NEW(s->gb_scale, s->n);
}

/* Grows a list by doubling; elem is the element size. */
static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return p;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    p = clmd_realloc(p, (size_t)*cap * elem, (size_t)nc * elem);
    *cap = nc;
    return p;
}

#define PUSH(list, count, cap, value)                                      \
    do {                                                                   \
        (list) = grow((list), &(cap), (count) + 1, sizeof *(list));        \
        (list)[(count)++] = (value);                                       \
    } while (0)

void clmd_system_add_bond(clmd_system *s, int i, int j, double k, double r0)
{
    PUSH(s->bonds, s->nbonds, s->cap_bonds, ((clmd_bond){i, j, k, r0}));
}

void clmd_system_add_angle(clmd_system *s, int i, int j, int k, double kf, double theta0)
{
    PUSH(s->angles, s->nangles, s->cap_angles, ((clmd_angle){i, j, k, kf, theta0}));
}

void clmd_system_add_torsion(clmd_system *s, int i, int j, int k, int l, int periodicity,
                             double kf, double phase)
{
    PUSH(s->torsions, s->ntorsions, s->cap_torsions,
         ((clmd_torsion){i, j, k, l, periodicity, kf, phase}));
}

void clmd_system_add_pair(clmd_system *s, int i, int j, double qq, double sigma, double eps)
{
    PUSH(s->pairs, s->npairs, s->cap_pairs, ((clmd_pair){i, j, qq, sigma, eps}));
}

void clmd_system_add_constraint(clmd_system *s, int i, int j, double d)
{
    PUSH(s->constraints, s->nconstraints, s->cap_constraints, ((clmd_constraint){i, j, d}));
}

void clmd_system_add_vsite(clmd_system *s, int site, int a, int b, int c, double wa, double wb,
                           double wc)
{
    PUSH(s->vsites, s->nvsites, s->cap_vsites, ((clmd_vsite){site, a, b, c, {wa, wb, wc}}));
}

int clmd_system_add_cmap_map(clmd_system *s, int size, const double *energy)
{
    clmd_cmap_map m = {size, NULL};
    size_t n = size > 0 ? (size_t)size * (size_t)size : 0;
    if (n > 0) {
        CLMD_NEW(m.energy, n);
        memcpy(m.energy, energy, n * sizeof *m.energy);
    }
    PUSH(s->cmap_maps, s->ncmap_maps, s->cap_cmap_maps, m);
    return s->ncmap_maps - 1;
}

void clmd_system_add_cmap(clmd_system *s, int a, int b, int c, int d, int e, int map)
{
    PUSH(s->cmaps, s->ncmaps, s->cap_cmaps, ((clmd_cmap){a, b, c, d, e, map}));
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void clmd_system_set_exclusions(clmd_system *s, int npairs, const int (*pairs)[2])
{
    int n = s->n;
    int *count = clmd_calloc(n + 1, sizeof *count);
    for (int p = 0; p < npairs; p++) {
        if (pairs[p][0] == pairs[p][1]) continue;
        count[pairs[p][0]]++;
        count[pairs[p][1]]++;
    }
    clmd_free(s->excl_start);
    clmd_free(s->excl);
    CLMD_NEW(s->excl_start, n + 1);
    for (int i = 0; i < n; i++) s->excl_start[i + 1] = s->excl_start[i] + count[i];
    CLMD_NEW(s->excl, s->excl_start[n]);
    memset(count, 0, sizeof *count * (size_t)(n + 1));
    for (int p = 0; p < npairs; p++) {
        int i = pairs[p][0], j = pairs[p][1];
        if (i == j) continue;
        s->excl[s->excl_start[i] + count[i]++] = j;
        s->excl[s->excl_start[j] + count[j]++] = i;
    }
    /* sort each list and drop duplicates, compacting in place */
    int w = 0;
    for (int i = 0; i < n; i++) {
        int b = s->excl_start[i], e = b + count[i];
        qsort(s->excl + b, (size_t)(e - b), sizeof(int), cmp_int);
        int start = w;
        for (int k = b; k < e; k++)
            if (k == b || s->excl[k] != s->excl[k - 1]) s->excl[w++] = s->excl[k];
        s->excl_start[i] = start;
    }
    s->excl_start[n] = w;
    clmd_free(count);
}

int clmd_system_excluded(const clmd_system *s, int i, int j)
{
    if (!s->excl) return 0;
    int lo = s->excl_start[i], hi = s->excl_start[i + 1] - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, v = s->excl[mid];
        if (v == j) return 1;
        if (v < j) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

void clmd_system_set_box(clmd_system *s, double lx, double ly, double lz)
{
    memset(s->box, 0, sizeof s->box);
    s->box[0][0] = lx;
    s->box[1][1] = ly;
    s->box[2][2] = lz;
    s->periodic = 1;
}

void clmd_system_set_box_angles(clmd_system *s, double a, double b, double c, double alpha,
                                double beta, double gamma)
{
    const double deg = M_PI / 180.0;
    double ca = cos(alpha * deg), cb = cos(beta * deg), cg = cos(gamma * deg),
           sg = sin(gamma * deg);
    memset(s->box, 0, sizeof s->box);
    s->box[0][0] = a;
    if (fabs(alpha - 90) < 1e-6 && fabs(beta - 90) < 1e-6 && fabs(gamma - 90) < 1e-6) {
        s->box[1][1] = b;
        s->box[2][2] = c;
    } else {
        s->box[1][0] = b * cg;
        s->box[1][1] = b * sg;
        s->box[2][0] = c * cb;
        s->box[2][1] = c * (ca - cb * cg) / sg;
        double z2 = c * c - s->box[2][0] * s->box[2][0] - s->box[2][1] * s->box[2][1];
        s->box[2][2] = sqrt(z2 > 0 ? z2 : 0);
        /* reduce to the OpenMM/GROMACS form: |c_y| <= b_y/2, |c_x| <= a_x/2, |b_x| <= a_x/2 */
        for (int d = 0; d < 3; d++) s->box[2][d] -= s->box[1][d] * round(s->box[2][1] / s->box[1][1]);
        double f = round(s->box[2][0] / s->box[0][0]);
        s->box[2][0] -= s->box[0][0] * f;
        s->box[1][0] -= s->box[0][0] * round(s->box[1][0] / s->box[0][0]);
    }
    s->periodic = 1;
}

void clmd_min_image(const clmd_system *sys, double d[3])
{
    if (sys->periodic) clmd_box_min_image(sys->box, d);
}

const double (*clmd_system_box(const clmd_system *s))[3]
{
    return s->periodic ? (const double(*)[3])s->box : NULL;
}

int clmd_system_box_is_rectangular(const clmd_system *s) { return clmd_box_is_rectangular(s->box); }

double clmd_system_box_volume(const clmd_system *s) { return clmd_box_volume(s->box); }

int clmd_system_validate(const clmd_system *s, clmd_err *err)
{
    const char *src = s->source[0] ? s->source : "system";
    if (s->n <= 0) return clmd_err_set(err, CLMD_EINPUT, "%s: the system has no particles", src);
    for (int i = 0; i < 3 * s->n; i++)
        if (!isfinite(s->x[i]))
            return clmd_err_set(err, CLMD_EINPUT, "%s: particle %d has a non-finite coordinate",
                                src, i / 3 + 1);
    for (int i = 0; i < s->n; i++)
        if (s->mass[i] < 0 || !isfinite(s->mass[i]))
            return clmd_err_set(err, CLMD_EINPUT, "%s: particle %d has mass %g", src, i + 1,
                                s->mass[i]);
#define CHECK_INDEX(what, k, idx)                                                             \
    if ((idx) < 0 || (idx) >= s->n)                                                           \
        return clmd_err_set(err, CLMD_EINPUT, "%s: %s %d refers to particle %d of %d", src, what, \
                            (k) + 1, (idx) + 1, s->n);
    for (int k = 0; k < s->nbonds; k++) {
        CHECK_INDEX("bond", k, s->bonds[k].i);
        CHECK_INDEX("bond", k, s->bonds[k].j);
    }
    for (int k = 0; k < s->nangles; k++) {
        CHECK_INDEX("angle", k, s->angles[k].i);
        CHECK_INDEX("angle", k, s->angles[k].j);
        CHECK_INDEX("angle", k, s->angles[k].k);
    }
    for (int k = 0; k < s->ntorsions; k++) {
        CHECK_INDEX("torsion", k, s->torsions[k].i);
        CHECK_INDEX("torsion", k, s->torsions[k].j);
        CHECK_INDEX("torsion", k, s->torsions[k].k);
        CHECK_INDEX("torsion", k, s->torsions[k].l);
    }
    for (int k = 0; k < s->npairs; k++) {
        CHECK_INDEX("1-4 pair", k, s->pairs[k].i);
        CHECK_INDEX("1-4 pair", k, s->pairs[k].j);
    }
    for (int k = 0; k < s->nconstraints; k++) {
        CHECK_INDEX("constraint", k, s->constraints[k].i);
        CHECK_INDEX("constraint", k, s->constraints[k].j);
        if (!(s->constraints[k].d > 0))
            return clmd_err_set(err, CLMD_EINPUT, "%s: constraint %d has length %g", src, k + 1,
                                s->constraints[k].d);
    }
    for (int k = 0; k < s->nvsites; k++) {
        CHECK_INDEX("virtual site", k, s->vsites[k].site);
        CHECK_INDEX("virtual site", k, s->vsites[k].a);
        CHECK_INDEX("virtual site", k, s->vsites[k].b);
        CHECK_INDEX("virtual site", k, s->vsites[k].c);
    }
    for (int m = 0; m < s->ncmap_maps; m++) {
        const clmd_cmap_map *q = &s->cmap_maps[m];
        /* the periodic spline through the grid needs at least 3 points per angle (OpenMM's too) */
        if (q->size < 3 || q->size > 4096 || !q->energy)
            return clmd_err_set(err, CLMD_EINPUT, "%s: CMAP map %d has resolution %d (3..4096)",
                                src, m + 1, q->size);
        for (int k = 0; k < q->size * q->size; k++)
            if (!isfinite(q->energy[k]))
                return clmd_err_set(err, CLMD_EINPUT, "%s: CMAP map %d has a non-finite energy",
                                    src, m + 1);
    }
    for (int k = 0; k < s->ncmaps; k++) {
        const clmd_cmap *t = &s->cmaps[k];
        CHECK_INDEX("CMAP term", k, t->a);
        CHECK_INDEX("CMAP term", k, t->b);
        CHECK_INDEX("CMAP term", k, t->c);
        CHECK_INDEX("CMAP term", k, t->d);
        CHECK_INDEX("CMAP term", k, t->e);
        if (t->map < 0 || t->map >= s->ncmap_maps)
            return clmd_err_set(err, CLMD_EINPUT, "%s: CMAP term %d uses map %d of %d", src, k + 1,
                                t->map + 1, s->ncmap_maps);
    }
#undef CHECK_INDEX
    if (s->periodic) {
        const double(*b)[3] = s->box;
        if (!(b[0][0] > 0 && b[1][1] > 0 && b[2][2] > 0) || b[0][1] != 0 || b[0][2] != 0 ||
            b[1][2] != 0)
            return clmd_err_set(err, CLMD_EINPUT, "%s: the box is not in reduced form", src);
    }
    return CLMD_OK;
}

int clmd_system_dof(const clmd_system *s, int com_removed)
{
    /* batched copies: each its own molecule, with its own centre-of-mass removal */
    if (s->nseg > 1) return s->nseg * clmd_system_dof(s->seg_base, com_removed);
    int massive = 0;
    for (int i = 0; i < s->n; i++) massive += s->mass[i] > 0;
    int dof = 3 * massive - s->nconstraints - (com_removed ? 3 : 0);
    return dof > 0 ? dof : 1;
}
