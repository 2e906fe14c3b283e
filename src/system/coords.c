#include "system/coords.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "system/pdb.h"
#include "system/xyz.h"

clmd_coords *clmd_coords_create(int n, int nres)
{
    clmd_coords *c = clmd_alloc(sizeof *c);
    c->n = n;
    c->nres = nres;
    CLMD_NEW(c->x, 3 * n);
    CLMD_NEW(c->name, n);
    CLMD_NEW(c->element, n);
    CLMD_NEW(c->atomic_number, n);
    CLMD_NEW(c->res, n);
    CLMD_NEW(c->line, n);
    CLMD_NEW(c->resname, nres);
    for (int i = 0; i < n; i++) c->res[i] = -1;
    return c;
}

void clmd_coords_destroy(clmd_coords **c)
{
    if (!c || !*c) return;
    clmd_coords *p = *c;
    clmd_free(p->x);
    clmd_free(p->name);
    clmd_free(p->element);
    clmd_free(p->atomic_number);
    clmd_free(p->res);
    clmd_free(p->line);
    clmd_free(p->resname);
    clmd_free(p);
    *c = NULL;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

int clmd_coords_read(const char *path, clmd_coords **out, clmd_err *err)
{
    *out = NULL;
    if (has_ext(path, ".pdb") || has_ext(path, ".ent")) return clmd_pdb_read(path, out, err);
    if (has_ext(path, ".xyz") || has_ext(path, ".extxyz")) return clmd_xyz_read(path, out, err);
    return clmd_err_set(err, CLMD_EINPUT,
                        "%s: unknown coordinate format (expected .pdb, .ent, .xyz or .extxyz)",
                        path);
}

void clmd_cell_vectors(const double cell[6], double box[3][3])
{
    const double deg = M_PI / 180.0;
    double a = cell[0], b = cell[1], c = cell[2];
    double ca = cos(cell[3] * deg), cb = cos(cell[4] * deg), cg = cos(cell[5] * deg),
           sg = sin(cell[5] * deg);
    /* exact zeros for right angles, so a rectangular cell stays rectangular */
    if (fabs(cell[3] - 90) < 1e-6) ca = 0;
    if (fabs(cell[4] - 90) < 1e-6) cb = 0;
    if (fabs(cell[5] - 90) < 1e-6) cg = 0, sg = 1;
    memset(box, 0, 9 * sizeof(double));
    box[0][0] = a;
    box[1][0] = b * cg;
    box[1][1] = b * sg;
    box[2][0] = c * cb;
    box[2][1] = c * (ca - cb * cg) / sg;
    double z2 = c * c - box[2][0] * box[2][0] - box[2][1] * box[2][1];
    box[2][2] = sqrt(z2 > 0 ? z2 : 0);
}

int clmd_cell_from_vectors(const double box[3][3], double cell[6])
{
    double len[3];
    for (int i = 0; i < 3; i++)
        len[i] = sqrt(box[i][0] * box[i][0] + box[i][1] * box[i][1] + box[i][2] * box[i][2]);
    if (!(len[0] > 0 && len[1] > 0 && len[2] > 0)) return CLMD_EINPUT;
    double vol = box[0][0] * (box[1][1] * box[2][2] - box[1][2] * box[2][1]) -
                 box[0][1] * (box[1][0] * box[2][2] - box[1][2] * box[2][0]) +
                 box[0][2] * (box[1][0] * box[2][1] - box[1][1] * box[2][0]);
    if (!(fabs(vol) > 1e-12 * len[0] * len[1] * len[2])) return CLMD_EINPUT;
    const int pair[3][2] = {{1, 2}, {0, 2}, {0, 1}}; /* alpha = angle(b,c), beta, gamma */
    for (int k = 0; k < 3; k++) {
        const double *u = box[pair[k][0]], *v = box[pair[k][1]];
        double c = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (len[pair[k][0]] * len[pair[k][1]]);
        if (c > 1) c = 1;
        if (c < -1) c = -1;
        cell[3 + k] = acos(c) * 180.0 / M_PI;
    }
    for (int i = 0; i < 3; i++) cell[i] = len[i];
    return CLMD_OK;
}
