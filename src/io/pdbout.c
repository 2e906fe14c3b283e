#include "io/pdbout.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "system/element.h"

/* Box lengths (A) and angles (degrees) of three box vectors (nm). */
static void cell(const double b[3][3], double p[6])
{
    double len[3];
    for (int i = 0; i < 3; i++) len[i] = sqrt(b[i][0] * b[i][0] + b[i][1] * b[i][1] + b[i][2] * b[i][2]);
    const int pairs[3][2] = {{1, 2}, {0, 2}, {0, 1}};
    for (int k = 0; k < 3; k++) {
        const double *u = b[pairs[k][0]], *w = b[pairs[k][1]];
        double c = (u[0] * w[0] + u[1] * w[1] + u[2] * w[2]) / (len[pairs[k][0]] * len[pairs[k][1]]);
        p[3 + k] = acos(c > 1 ? 1 : c < -1 ? -1 : c) * 180.0 / M_PI;
    }
    for (int i = 0; i < 3; i++) p[i] = 10 * len[i];
}

int clmd_pdb_write(const char *path, const clmd_pdb_atoms *a, clmd_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write %s: %s", path, strerror(e));
    }
    if (a->title && a->title[0]) fprintf(f, "TITLE     %.70s\n", a->title);
    fprintf(f, "REMARK    topology of the H5MD trajectory beside this file (written by clmd)\n");
    if (a->periodic) {
        double p[6];
        cell(a->box, p);
        fprintf(f, "CRYST1%9.3f%9.3f%9.3f%7.2f%7.2f%7.2f P 1           1\n", p[0], p[1], p[2],
                p[3], p[4], p[5]);
    }
    for (int i = 0; i < a->n; i++) {
        int r = a->residue ? a->residue[i] : 0;
        const char *rn = a->resname ? a->resname[r] : "MOL";
        const char *el = a->atomic_number && a->atomic_number[i] > 0
                             ? clmd_element_symbol(a->atomic_number[i]) : "";
        /* PDB's atom-name column: a one-letter element's name starts in column 14 */
        char name[8];
        snprintf(name, sizeof name, strlen(a->name[i]) < 4 && strlen(el) == 1 ? " %s" : "%s",
                 a->name[i]);
        fprintf(f, "ATOM  %5d %-4.4s %-3.3s %c%4d    %8.3f%8.3f%8.3f%6.2f%6.2f          %2s\n",
                (i + 1) % 100000, name, rn, 'A', (r + 1) % 10000, 10 * a->x[3 * i],
                10 * a->x[3 * i + 1], 10 * a->x[3 * i + 2], 1.0, 0.0, el);
    }
    fprintf(f, "END\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write %s: %s", path, strerror(e ? e : EIO));
    }
    return CLMD_OK;
}
