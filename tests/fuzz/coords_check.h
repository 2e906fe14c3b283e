/* What the PDB and XYZ targets check on a clmd_coords the readers accepted: the promises of
 * coords.h (atoms, finite positions, trimmed NUL-terminated names, residue indices in range, a
 * valid unit cell whose vectors span a volume). */
#ifndef CLMD_FUZZ_COORDS_CHECK_H
#define CLMD_FUZZ_COORDS_CHECK_H

#include <math.h>

#include "system/coords.h"

static inline void check_coords(const clmd_coords *c)
{
    FUZZ_CHECK(c->n > 0 && c->nres >= 0);
    for (int i = 0; i < c->n; i++) {
        for (int d = 0; d < 3; d++) FUZZ_CHECK(isfinite(c->x[3 * i + d]));
        FUZZ_CHECK(memchr(c->name[i], '\0', sizeof c->name[i]) != NULL);
        FUZZ_CHECK(memchr(c->element[i], '\0', sizeof c->element[i]) != NULL);
        FUZZ_CHECK(c->atomic_number[i] >= 0 && c->atomic_number[i] < 200);
        FUZZ_CHECK(c->res[i] >= -1 && c->res[i] < c->nres);
        FUZZ_CHECK(c->line[i] >= 1);
    }
    for (int r = 0; r < c->nres; r++) FUZZ_CHECK(memchr(c->resname[r], '\0', sizeof c->resname[r]) != NULL);
    if (c->has_cell) {
        for (int k = 0; k < 3; k++) FUZZ_CHECK(isfinite(c->cell[k]) && c->cell[k] > 0);
        for (int k = 3; k < 6; k++) FUZZ_CHECK(c->cell[k] > 0 && c->cell[k] < 180);
        /* the cell must be one: the box built from it has a volume, and gives the cell back */
        double box[3][3], again[6];
        clmd_cell_vectors(c->cell, box);
        double vol = box[0][0] * box[1][1] * box[2][2];
        FUZZ_CHECK(isfinite(vol) && vol > 0);
        FUZZ_CHECK(clmd_cell_from_vectors(box, again) == CLMD_OK);
    }
}

#endif
