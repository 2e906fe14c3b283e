#include "system/xyz.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "system/coords.h"
#include "system/element.h"
#include "system/system.h"

/* Reads one line into *buf (grown as needed), without its newline; returns 0 at end of file. */
static int next_line(FILE *f, char **buf, size_t *cap, int *lineno)
{
    ssize_t got = getline(buf, cap, f);
    if (got < 0) return 0;
    (*lineno)++;
    while (got > 0 && ((*buf)[got - 1] == '\n' || (*buf)[got - 1] == '\r')) (*buf)[--got] = '\0';
    return 1;
}

/* Finds key="value" (key case-insensitive) in an extended-XYZ comment; copies the value. */
static int find_key(const char *comment, const char *key, char *value, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = comment; *p; p++) {
        if ((p == comment || isspace((unsigned char)p[-1])) && strncasecmp(p, key, klen) == 0 &&
            p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t n = 0;
            if (*v == '"') {
                v++;
                while (v[n] && v[n] != '"') n++;
            } else {
                while (v[n] && !isspace((unsigned char)v[n])) n++;
            }
            if (n >= size) n = size - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            return 1;
        }
    }
    return 0;
}

static int invert3(const double m[3][3], double inv[3][3])
{
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if (det == 0) return -1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int i1 = (j + 1) % 3, i2 = (j + 2) % 3, j1 = (i + 1) % 3, j2 = (i + 2) % 3;
            inv[i][j] = (m[i1][j1] * m[i2][j2] - m[i1][j2] * m[i2][j1]) / det;
        }
    return 0;
}

/* The canonical vectors of a cell (a along x, b in the xy plane), or -1 when lengths and angles
 * no longer describe a cell: a lattice sheared so far that an angle rounds to 0 or 180 degrees,
 * or whose canonical vectors lose the volume (NaN, flat, overflowing). */
static int canonical(const double cell[6], double can[3][3])
{
    double back[6];
    for (int k = 3; k < 6; k++)
        if (!(cell[k] > 0 && cell[k] < 180)) return -1;
    clmd_cell_vectors(cell, can);
    return clmd_cell_from_vectors(can, back) == CLMD_OK ? 0 : -1;
}

/* Gives c room for cap atoms, keeping the first `used`. The room follows the atom lines read
 * (doubling up to the count), not the count line alone, which would otherwise let a file of a
 * few bytes claim gigabytes. */
static void grow(clmd_coords **c, int used, int cap)
{
    clmd_coords *old = *c, *g = clmd_coords_create(cap, 0);
    memcpy(g->x, old->x, sizeof(double) * 3 * (size_t)used);
    memcpy(g->name, old->name, sizeof *g->name * (size_t)used);
    memcpy(g->element, old->element, sizeof *g->element * (size_t)used);
    memcpy(g->atomic_number, old->atomic_number, sizeof(int) * (size_t)used);
    memcpy(g->line, old->line, sizeof(int) * (size_t)used);
    g->has_cell = old->has_cell;
    memcpy(g->cell, old->cell, sizeof g->cell);
    memcpy(g->source, old->source, sizeof g->source);
    clmd_coords_destroy(c);
    *c = g;
}

int clmd_xyz_read(const char *path, clmd_coords **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return clmd_err_set(err, CLMD_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, status = CLMD_OK;
    clmd_coords *c = NULL;

    if (!next_line(f, &line, &cap, &lineno)) {
        status = clmd_err_set(err, CLMD_EINPUT, "%s:1: empty file (expected the atom count)", path);
        goto done;
    }
    char *end;
    errno = 0;
    long n = strtol(line, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (end == line || *end || errno == ERANGE || n <= 0 || n > 100000000) {
        status = clmd_err_set(err, CLMD_EINPUT,
                              "%s:1: expected the number of atoms (a positive integer), got '%s'",
                              path, line);
        goto done;
    }
    if (!next_line(f, &line, &cap, &lineno)) {
        status = clmd_err_set(err, CLMD_EINPUT, "%s:2: missing comment line", path);
        goto done;
    }
    c = clmd_coords_create(n < 1024 ? (int)n : 1024, 0);
    snprintf(c->source, sizeof c->source, "%s", path);

    double lat[3][3], inv[3][3], can[3][3];
    char value[1024];
    if (find_key(line, "Properties", value, sizeof value) &&
        strncasecmp(value, "species:S:1:pos:R:3", 19) != 0) {
        status = clmd_err_set(err, CLMD_EINPUT,
                              "%s:2: Properties=%s: only files whose columns start with "
                              "species:S:1:pos:R:3 are supported",
                              path, value);
        goto done;
    }
    if (find_key(line, "Lattice", value, sizeof value)) {
        const char *p = value;
        for (int k = 0; k < 9; k++) {
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno == ERANGE || !isfinite(v)) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:2: Lattice=\"%s\": expected 9 numbers (Angstrom), "
                                      "number %d is missing or bad",
                                      path, value, k + 1);
                goto done;
            }
            lat[k / 3][k % 3] = 0.1 * v;
            p = end;
        }
        while (isspace((unsigned char)*p)) p++;
        if (*p || clmd_cell_from_vectors(lat, c->cell) != CLMD_OK || invert3(lat, inv) != 0 ||
            canonical(c->cell, can) != 0) {
            status = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:2: Lattice=\"%s\": expected 9 numbers giving three "
                                  "independent vectors",
                                  path, value);
            goto done;
        }
        c->has_cell = 1;
    }

    for (int i = 0; i < n; i++) {
        if (!next_line(f, &line, &cap, &lineno)) {
            status = clmd_err_set(err, CLMD_EINPUT, "%s:%d: file ends after %d of %ld atoms", path,
                                  lineno + 1, i, n);
            goto done;
        }
        if (i == c->n) grow(&c, i, n - i < i ? (int)n : 2 * i);
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        char *sym = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        size_t slen = (size_t)(p - sym);
        if (slen == 0) {
            status = clmd_err_set(err, CLMD_EINPUT, "%s:%d: expected 'symbol x y z'", path, lineno);
            goto done;
        }
        snprintf(c->name[i], sizeof c->name[0], "%.*s", (int)(slen < 7 ? slen : 7), sym);
        int z = clmd_element_number(c->name[i]);
        if (!z) { /* a number is an atomic number */
            long zz = strtol(c->name[i], &end, 10);
            if (*end == '\0' && zz > 0 && clmd_element_symbol((int)zz)[0]) {
                z = (int)zz;
                snprintf(c->name[i], sizeof c->name[0], "%s", clmd_element_symbol(z));
            }
        }
        c->atomic_number[i] = z;
        snprintf(c->element[i], sizeof c->element[0], "%s", clmd_element_symbol(z));
        c->line[i] = lineno;
        double x[3];
        for (int d = 0; d < 3; d++) {
            errno = 0;
            x[d] = strtod(p, &end);
            if (end == p || errno == ERANGE || !isfinite(x[d]) ||
                (*end && !isspace((unsigned char)*end))) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:%d: atom %d: coordinate %c is missing or not a number",
                                      path, lineno, i + 1, 'x' + d);
                goto done;
            }
            p = end;
            x[d] *= 0.1;
        }
        if (c->has_cell) {
            /* into the canonical frame of the cell (a along x, b in the xy plane) through
             * fractional coordinates, so any lattice orientation is accepted */
            double fr[3];
            for (int k = 0; k < 3; k++) fr[k] = x[0] * inv[0][k] + x[1] * inv[1][k] + x[2] * inv[2][k];
            for (int d = 0; d < 3; d++) x[d] = fr[0] * can[0][d] + fr[1] * can[1][d] + fr[2] * can[2][d];
            if (!(isfinite(x[0]) && isfinite(x[1]) && isfinite(x[2]))) {
                status = clmd_err_set(err, CLMD_EINPUT,
                                      "%s:%d: atom %d: the position overflows in the frame of the "
                                      "cell",
                                      path, lineno, i + 1);
                goto done;
            }
        }
        for (int d = 0; d < 3; d++) c->x[3 * i + d] = x[d];
    }
    if (ferror(f)) status = clmd_err_set(err, CLMD_EINPUT, "%s: read error: %s", path, strerror(errno));
done:
    free(line);
    fclose(f);
    if (status == CLMD_OK) *out = c;
    else clmd_coords_destroy(&c);
    return status;
}

int clmd_xyz_write(const char *path, const clmd_system *s, const char *comment, clmd_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "%d\n", s->n);
    if (s->periodic) {
        fprintf(f, "Lattice=\"");
        for (int k = 0; k < 9; k++) fprintf(f, "%s%.10g", k ? " " : "", 10.0 * s->box[k / 3][k % 3]);
        fprintf(f, "\" ");
    }
    fprintf(f, "Properties=species:S:1:pos:R:3");
    if (comment && *comment) {
        fprintf(f, " comment=\"");
        for (const char *p = comment; *p && *p != '\n'; p++) fputc(*p == '"' ? '\'' : *p, f);
        fputc('"', f);
    }
    fputc('\n', f);
    for (int i = 0; i < s->n; i++) {
        const char *sym = s->atomic_number[i] > 0 ? clmd_element_symbol(s->atomic_number[i])
                                                  : (s->name[i][0] ? s->name[i] : "X");
        fprintf(f, "%-4s %15.8f %15.8f %15.8f\n", sym, 10.0 * s->x[3 * i], 10.0 * s->x[3 * i + 1],
                10.0 * s->x[3 * i + 2]);
    }
    if (fclose(f) != 0)
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: write failed: %s", path, strerror(errno));
    return CLMD_OK;
}
