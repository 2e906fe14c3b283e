/* PDB format: https://www.wwpdb.org/documentation/file-format (v3.3), columns 1-based.
 * Alternate locations: only blank, 'A' and '1' are kept (the first conformer), as most
 * engines do. A CRYST1 of 1 x 1 x 1 Angstrom with right angles means "no cell" (PDB rule
 * for NMR and EM entries). */
#include "system/pdb.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "system/coords.h"
#include "system/element.h"

/* Copies columns c0..c1 (1-based, inclusive) of line, trimmed of blanks, into out. */
static void field(const char *line, size_t len, int c0, int c1, char *out, size_t size)
{
    size_t k = 0;
    for (int c = c0; c <= c1 && (size_t)c <= len && k + 1 < size; c++) out[k++] = line[c - 1];
    out[k] = '\0';
    size_t b = 0;
    while (out[b] == ' ') b++;
    if (b) memmove(out, out + b, strlen(out + b) + 1);
    k = strlen(out);
    while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\r' || out[k - 1] == '\n')) out[--k] = '\0';
}

/* Parses a number from columns c0..c1; returns 0 on success. */
static int number(const char *line, size_t len, int c0, int c1, double *v)
{
    char buf[32];
    field(line, len, c0, c1, buf, sizeof buf);
    if (!buf[0]) return -1;
    char *end;
    errno = 0;
    *v = strtod(buf, &end);
    return (*end != '\0' || errno == ERANGE || !isfinite(*v)) ? -1 : 0; /* "nan", "inf" too */
}

/* Element from the atom-name columns when the element columns are blank (PDB convention:
 * one-letter elements are right-aligned in columns 13-14, so " CA " is carbon, "CA  " calcium). */
static int element_from_name(const char *line, size_t len, char sym[4])
{
    char c13 = len >= 13 ? line[12] : ' ', c14 = len >= 14 ? line[13] : ' ',
         c15 = len >= 15 ? line[14] : ' ';
    char two[3] = {0}, one[2] = {0};
    if (c13 == ' ' || isdigit((unsigned char)c13)) {
        one[0] = c14;
        two[0] = c14, two[1] = c15;
    } else {
        two[0] = c13, two[1] = c14;
        one[0] = c13;
        int z = clmd_element_number(two);
        if (z) {
            snprintf(sym, 4, "%s", clmd_element_symbol(z));
            return z;
        }
    }
    int z = clmd_element_number(one);
    if (!z && two[1] != ' ') z = clmd_element_number(two);
    snprintf(sym, 4, "%s", clmd_element_symbol(z));
    return z;
}

typedef struct {
    int n, cap, nres, capres;
    double *x;
    char (*name)[8], (*element)[4], (*resname)[8];
    int *z, *res, *line;
} growing;

static void push_atom(growing *g)
{
    if (g->n == g->cap) {
        int nc = g->cap ? 2 * g->cap : 1024;
        g->x = clmd_realloc(g->x, sizeof(double) * 3 * (size_t)g->cap, sizeof(double) * 3 * (size_t)nc);
        g->name = clmd_realloc(g->name, sizeof *g->name * (size_t)g->cap, sizeof *g->name * (size_t)nc);
        g->element = clmd_realloc(g->element, sizeof *g->element * (size_t)g->cap,
                                  sizeof *g->element * (size_t)nc);
        g->z = clmd_realloc(g->z, sizeof(int) * (size_t)g->cap, sizeof(int) * (size_t)nc);
        g->res = clmd_realloc(g->res, sizeof(int) * (size_t)g->cap, sizeof(int) * (size_t)nc);
        g->line = clmd_realloc(g->line, sizeof(int) * (size_t)g->cap, sizeof(int) * (size_t)nc);
        g->cap = nc;
    }
    g->n++;
}

static void push_res(growing *g)
{
    if (g->nres == g->capres) {
        int nc = g->capres ? 2 * g->capres : 256;
        g->resname = clmd_realloc(g->resname, sizeof *g->resname * (size_t)g->capres,
                                  sizeof *g->resname * (size_t)nc);
        g->capres = nc;
    }
    g->nres++;
}

static void free_growing(growing *g)
{
    clmd_free(g->x);
    clmd_free(g->name);
    clmd_free(g->element);
    clmd_free(g->resname);
    clmd_free(g->z);
    clmd_free(g->res);
    clmd_free(g->line);
}

int clmd_pdb_read(const char *path, clmd_coords **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return clmd_err_set(err, CLMD_EINPUT, "%s: cannot open: %s", path, strerror(errno));

    growing g = {0};
    int status = CLMD_OK, lineno = 0, models = 0, has_cell = 0, chain_break = 1;
    double cell[6] = {0};
    char key[16] = "", prevkey[16] = "";
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char rec[8];
        field(line, len, 1, 6, rec, sizeof rec);
        if (strcmp(rec, "END") == 0 || strcmp(rec, "ENDMDL") == 0) break;
        if (strcmp(rec, "MODEL") == 0) {
            if (++models > 1 || g.n > 0) break; /* only the first model */
            continue;
        }
        if (strcmp(rec, "TER") == 0) {
            chain_break = 1;
            continue;
        }
        if (strcmp(rec, "CRYST1") == 0) {
            static const int cols[6][2] = {{7, 15}, {16, 24}, {25, 33}, {34, 40}, {41, 47}, {48, 54}};
            static const char *names[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
            for (int k = 0; k < 6; k++) {
                if (k >= 3 && len < (size_t)cols[k][0]) {
                    cell[k] = 90.0; /* angles left out: rectangular */
                    continue;
                }
                if (number(line, len, cols[k][0], cols[k][1], &cell[k]) != 0) {
                    status = clmd_err_set(err, CLMD_EINPUT,
                                          "%s:%d: CRYST1 record: %s (columns %d-%d) is not a number",
                                          path, lineno, names[k], cols[k][0], cols[k][1]);
                    goto done;
                }
            }
            if (!(cell[0] > 0 && cell[1] > 0 && cell[2] > 0 && cell[3] > 0 && cell[3] < 180 &&
                  cell[4] > 0 && cell[4] < 180 && cell[5] > 0 && cell[5] < 180)) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:%d: CRYST1 record: cell %g %g %g %g %g %g is not valid",
                                      path, lineno, cell[0], cell[1], cell[2], cell[3], cell[4],
                                      cell[5]);
                goto done;
            }
            has_cell = !(cell[0] == 1 && cell[1] == 1 && cell[2] == 1 && cell[3] == 90 &&
                         cell[4] == 90 && cell[5] == 90);
            for (int k = 0; k < 3; k++) cell[k] *= 0.1;
            /* angles each in range can still describe no cell (alpha + beta < gamma): its
             * vectors would be flat, or the volume out of range */
            double vec[3][3], back[6];
            clmd_cell_vectors(cell, vec);
            if (has_cell && clmd_cell_from_vectors(vec, back) != CLMD_OK) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:%d: CRYST1 record: cell %g %g %g %g %g %g has no volume",
                                      path, lineno, 10 * cell[0], 10 * cell[1], 10 * cell[2],
                                      cell[3], cell[4], cell[5]);
                goto done;
            }
            continue;
        }
        if (strcmp(rec, "ATOM") != 0 && strcmp(rec, "HETATM") != 0) continue;

        if (len < 54) {
            status = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: %s record is %zu characters long; coordinates need "
                                  "columns 31-54",
                                  path, lineno, rec, len);
            goto done;
        }
        char alt = line[16];
        if (alt != ' ' && alt != 'A' && alt != '1') continue;
        double xyz[3];
        static const int xc[3][2] = {{31, 38}, {39, 46}, {47, 54}};
        for (int d = 0; d < 3; d++)
            if (number(line, len, xc[d][0], xc[d][1], &xyz[d]) != 0) {
                char buf[16];
                field(line, len, xc[d][0], xc[d][1], buf, sizeof buf);
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:%d: %s record: %c (columns %d-%d) is not a number: '%s'",
                                      path, lineno, rec, 'x' + d, xc[d][0], xc[d][1], buf);
                goto done;
            }
        /* residue identity: name, chain, sequence number, insertion code */
        char resname[8];
        field(line, len, 18, 21, resname, sizeof resname);
        snprintf(key, sizeof key, "%.4s|%.6s", resname, line + 21);
        if (chain_break || strcmp(key, prevkey) != 0) {
            push_res(&g);
            snprintf(g.resname[g.nres - 1], sizeof g.resname[0], "%s", resname);
            snprintf(prevkey, sizeof prevkey, "%s", key);
            chain_break = 0;
        }
        push_atom(&g);
        int i = g.n - 1;
        for (int d = 0; d < 3; d++) g.x[3 * i + d] = 0.1 * xyz[d];
        field(line, len, 13, 16, g.name[i], sizeof g.name[0]);
        field(line, len, 77, 78, g.element[i], sizeof g.element[0]);
        if (g.element[i][0]) {
            g.z[i] = clmd_element_number(g.element[i]);
        } else {
            g.z[i] = element_from_name(line, len, g.element[i]);
        }
        g.res[i] = g.nres - 1;
        g.line[i] = lineno;
    }
    if (ferror(f)) {
        status = clmd_err_set(err, CLMD_EINPUT, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (g.n == 0) {
        status = clmd_err_set(err, CLMD_EINPUT, "%s: no ATOM or HETATM records", path);
        goto done;
    }

    clmd_coords *c = clmd_coords_create(g.n, g.nres);
    memcpy(c->x, g.x, sizeof(double) * 3 * (size_t)g.n);
    memcpy(c->name, g.name, sizeof *g.name * (size_t)g.n);
    memcpy(c->element, g.element, sizeof *g.element * (size_t)g.n);
    memcpy(c->atomic_number, g.z, sizeof(int) * (size_t)g.n);
    memcpy(c->res, g.res, sizeof(int) * (size_t)g.n);
    memcpy(c->line, g.line, sizeof(int) * (size_t)g.n);
    memcpy(c->resname, g.resname, sizeof *g.resname * (size_t)g.nres);
    c->has_cell = has_cell;
    memcpy(c->cell, cell, sizeof cell);
    snprintf(c->source, sizeof c->source, "%s", path);
    *out = c;
done:
    free(line);
    fclose(f);
    free_growing(&g);
    return status;
}
