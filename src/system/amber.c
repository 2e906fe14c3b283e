/* Amber prmtop (format 7+) and ASCII inpcrd/rst7 reader. The %FORMAT line of each section
 * drives fixed-width parsing; every section is checked against the counts POINTERS promises
 * before anything is built, so a truncated file is reported at the section it breaks in.
 * Conventions follow OpenMM's amber_file_parser, the reference the tests compare with. */
#include "system/amber.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "system/system.h"

#define KCAL 4.184         /* kJ per kcal */
#define AMBER_CHARGE 18.2223 /* prmtop charge units per e */
#define AMBER_VEL 20.455   /* Amber restart velocity units per A/ps */

/* ---------------------------------------------------------------- file reading */

static int read_file(const char *path, char **out, size_t *len, clmd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return clmd_err_set(err, CLMD_EINPUT, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = clmd_alloc(cap + 1);
    for (;;) {
        if (n == cap) {
            buf = clmd_realloc(buf, cap + 1, 2 * cap + 1);
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        clmd_free(buf);
        return clmd_err_set(err, CLMD_EINPUT, "cannot read %s", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CLMD_OK;
}

/* Splits buf into NUL-terminated lines in place (\n, \r\n); returns the line starts. */
static char **split_lines(char *buf, size_t len, int *nlines)
{
    int n = 0, cap = 1024;
    char **lines = clmd_alloc((size_t)cap * sizeof *lines);
    char *p = buf, *end = buf + len;
    while (p < end) {
        if (n == cap) {
            lines = clmd_realloc(lines, (size_t)cap * sizeof *lines, (size_t)2 * cap * sizeof *lines);
            cap *= 2;
        }
        lines[n++] = p;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r') nl[-1] = '\0';
        p = nl + 1;
    }
    *nlines = n;
    return lines;
}

/* ---------------------------------------------------------------- prmtop sections */

typedef struct sect {
    char name[64];
    int line;        /* 1-based line of the %FLAG */
    char kind;       /* 'a' text, 'I' integer, 'E' real (E, F, D formats) */
    int width;
    int n, cap;
    long *ival;
    double *rval;
    const char **sval; /* into the file buffer, each NUL-terminated copy below */
    char *sbuf;        /* text items, width+1 bytes each */
} sect;

typedef struct prmtop {
    const char *path;
    sect *s;
    int ns, caps;
} prmtop;

static void prmtop_free(prmtop *p)
{
    for (int i = 0; i < p->ns; i++) {
        clmd_free(p->s[i].ival);
        clmd_free(p->s[i].rval);
        clmd_free(p->s[i].sval);
        clmd_free(p->s[i].sbuf);
    }
    clmd_free(p->s);
    p->s = NULL;
    p->ns = p->caps = 0;
}

static const sect *find(const prmtop *p, const char *name)
{
    for (int i = 0; i < p->ns; i++)
        if (strcmp(p->s[i].name, name) == 0) return &p->s[i];
    return NULL;
}

/* Parses "(10I8)", "(5E16.8)", "(20a4)", "(8(F9.5))" into the item kind and field width. */
/* Nonzero when three angles (degrees, each in (0, 180)) form a cell: the squared volume factor
 * 1 - cos^2 a - cos^2 b - cos^2 g + 2 cos a cos b cos g is positive (it is not for alpha +
 * beta <= gamma, or all three >= 120). */
static int cell_angles_ok(double a, double b, double g)
{
    if (!(a > 0 && a < 180 && b > 0 && b < 180 && g > 0 && g < 180)) return 0;
    const double d = M_PI / 180, ca = cos(a * d), cb = cos(b * d), cg = cos(g * d);
    return 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 1e-9;
}

static int parse_format(const char *line, char *kind, int *width)
{
    const char *p = strchr(line, '(');
    if (!p) return -1;
    p++;
    while (isdigit((unsigned char)*p)) p++; /* repeat count: the line length decides */
    if (*p == '(') p++;
    char k = (char)toupper((unsigned char)*p++);
    if (k == 'A') k = 'a';
    else if (k == 'F' || k == 'D') k = 'E';
    else if (k != 'I' && k != 'E') return -1;
    char *end;
    long w = strtol(p, &end, 10);
    if (end == p || w <= 0 || w > 80) return -1;
    *kind = k;
    *width = (int)w;
    return 0;
}

static void sect_push_room(sect *s)
{
    if (s->n < s->cap) return;
    int nc = s->cap ? 2 * s->cap : 64;
    if (s->kind == 'I') s->ival = clmd_realloc(s->ival, (size_t)s->cap * sizeof(long), (size_t)nc * sizeof(long));
    else if (s->kind == 'E')
        s->rval = clmd_realloc(s->rval, (size_t)s->cap * sizeof(double), (size_t)nc * sizeof(double));
    else
        s->sbuf = clmd_realloc(s->sbuf, (size_t)s->cap * (size_t)(s->width + 1),
                               (size_t)nc * (size_t)(s->width + 1));
    s->cap = nc;
}

/* Splits one data line into fixed-width fields of the section's format. */
static int parse_data_line(const prmtop *p, sect *s, char *line, int lineno, clmd_err *err)
{
    /* trailing blanks are padding (as OpenMM reads it), also in text sections */
    size_t len = strlen(line);
    while (len > 0 && isspace((unsigned char)line[len - 1])) len--;
    for (size_t at = 0; at < len; at += (size_t)s->width) {
        char field[96];
        size_t w = len - at < (size_t)s->width ? len - at : (size_t)s->width;
        memcpy(field, line + at, w);
        field[w] = '\0';
        sect_push_room(s);
        if (s->kind == 'a') {
            char *dst = s->sbuf + (size_t)s->n * (size_t)(s->width + 1);
            memcpy(dst, field, w + 1);
            s->n++;
            continue;
        }
        char *q = field;
        while (isspace((unsigned char)*q)) q++;
        if (!*q)
            return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s: value %d is blank",
                                p->path, lineno, s->name, s->n + 1);
        char *end;
        errno = 0;
        if (s->kind == 'I') {
            long v = strtol(q, &end, 10);
            while (isspace((unsigned char)*end)) end++;
            if (end == q || *end || errno)
                return clmd_err_set(err, CLMD_EINPUT,
                                    "%s:%d: section %s: value %d ('%s') is not an integer",
                                    p->path, lineno, s->name, s->n + 1, q);
            s->ival[s->n++] = v;
        } else {
            for (char *c = q; *c; c++)
                if (*c == 'D' || *c == 'd') *c = 'E'; /* Fortran double exponent */
            double v = strtod(q, &end);
            while (isspace((unsigned char)*end)) end++;
            if (end == q || *end || !isfinite(v))
                return clmd_err_set(err, CLMD_EINPUT,
                                    "%s:%d: section %s: value %d ('%s') is not a number",
                                    p->path, lineno, s->name, s->n + 1, q);
            s->rval[s->n++] = v;
        }
    }
    return CLMD_OK;
}

static int prmtop_read(prmtop *p, const char *path, clmd_err *err)
{
    char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, err);
    if (rc) return rc;
    int nlines;
    char **lines = split_lines(buf, len, &nlines);
    p->path = path;
    sect *cur = NULL;
    int have_format = 0;
    for (int l = 0; l < nlines && !rc; l++) {
        char *line = lines[l];
        if (strncmp(line, "%FLAG", 5) == 0) {
            char name[64];
            if (sscanf(line + 5, "%63s", name) != 1) {
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: %%FLAG without a section name", path, l + 1);
                break;
            }
            if (find(p, name)) {
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s appears twice", path, l + 1, name);
                break;
            }
            if (p->ns == p->caps) {
                int nc = p->caps ? 2 * p->caps : 64;
                p->s = clmd_realloc(p->s, (size_t)p->caps * sizeof *p->s, (size_t)nc * sizeof *p->s);
                p->caps = nc;
            }
            cur = &p->s[p->ns++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", name);
            cur->line = l + 1;
            have_format = 0;
        } else if (strncmp(line, "%FORMAT", 7) == 0) {
            if (!cur) {
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: %%FORMAT before any %%FLAG", path, l + 1);
                break;
            }
            if (have_format) {
                /* the section's storage follows its one format: a second would reinterpret it */
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s has a second %%FORMAT line",
                                  path, l + 1, cur->name);
                break;
            }
            if (parse_format(line + 7, &cur->kind, &cur->width)) {
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s: cannot read the format '%s'",
                                  path, l + 1, cur->name, line);
                break;
            }
            have_format = 1;
        } else if (line[0] == '%') {
            continue; /* %VERSION, %COMMENT */
        } else if (!cur) {
            if (line[strspn(line, " \t")] == '\0') continue;
            break; /* data before any %FLAG: an old-style file, reported below */
        } else if (!have_format) {
            if (line[strspn(line, " \t")] == '\0') continue;
            rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s has data but no %%FORMAT line",
                              path, l + 1, cur->name);
        } else {
            rc = parse_data_line(p, cur, line, l + 1, err);
        }
    }
    /* text items point into sbuf, which may have moved while growing: set them at the end */
    for (int i = 0; i < p->ns; i++) {
        sect *s = &p->s[i];
        if (s->kind != 'a' || s->n == 0) continue;
        s->sval = clmd_alloc((size_t)s->n * sizeof *s->sval);
        for (int k = 0; k < s->n; k++) s->sval[k] = s->sbuf + (size_t)k * (size_t)(s->width + 1);
    }
    clmd_free(lines);
    clmd_free(buf);
    if (!rc && p->ns == 0)
        rc = clmd_err_set(err, CLMD_EINPUT,
                          "%s: no %%FLAG sections: this is not an Amber 7+ topology (old-style "
                          "pre-Amber 7 prmtop files are not read; convert with ParmEd or tleap)",
                          path);
    return rc;
}

/* Fetches a section as integers or reals with exactly `count` values. A missing section is an
 * error when required (or when count > 0 and required < 0, i.e. needed only when non-empty). */
static int get_ints(const prmtop *p, const char *name, long count, const char *why, int required,
                    const long **out, clmd_err *err)
{
    *out = NULL;
    const sect *s = find(p, name);
    if (!s) {
        if (required > 0 || (required < 0 && count > 0))
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s: required section %s is missing (the file may be truncated)",
                                p->path, name);
        return CLMD_OK;
    }
    if (s->kind != 'I' && s->n > 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s should hold integers", p->path,
                            s->line, name);
    if (s->n != count)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section %s has %d values, expected %ld (%s)%s", p->path,
                            s->line, name, s->n, count, why,
                            s->n < count ? ": the file is truncated or inconsistent" : "");
    *out = s->ival;
    return CLMD_OK;
}

static int get_reals(const prmtop *p, const char *name, long count, const char *why, int required,
                     const double **out, clmd_err *err)
{
    *out = NULL;
    const sect *s = find(p, name);
    if (!s) {
        if (required > 0 || (required < 0 && count > 0))
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s: required section %s is missing (the file may be truncated)",
                                p->path, name);
        return CLMD_OK;
    }
    if (s->kind != 'E' && s->n > 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s should hold real numbers",
                            p->path, s->line, name);
    if (s->n != count)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section %s has %d values, expected %ld (%s)%s", p->path,
                            s->line, name, s->n, count, why,
                            s->n < count ? ": the file is truncated or inconsistent" : "");
    *out = s->rval;
    return CLMD_OK;
}

static int get_text(const prmtop *p, const char *name, long count, const char *why,
                    const char *const **out, clmd_err *err)
{
    *out = NULL;
    const sect *s = find(p, name);
    if (!s)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s: required section %s is missing (the file may be truncated)",
                            p->path, name);
    if (s->kind != 'a' && s->n > 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s should hold text", p->path,
                            s->line, name);
    if (s->n != count)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section %s has %d values, expected %ld (%s)%s", p->path,
                            s->line, name, s->n, count, why,
                            s->n < count ? ": the file is truncated or inconsistent" : "");
    *out = (const char *const *)s->sval;
    return CLMD_OK;
}

/* Copies a fixed-width name without its padding. */
static void copy_name(char dst[8], const char *src)
{
    while (*src == ' ') src++;
    size_t n = strlen(src);
    while (n > 0 && src[n - 1] == ' ') n--;
    if (n > 7) n = 7;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---------------------------------------------------------------- sections clmd knows */

/* Sections that describe the system but do not change its energy. */
static const char *const informational[] = {
    "TITLE", "SOLTY", "HBCUT", "AMBER_ATOM_TYPE", "TREE_CHAIN_CLASSIFICATION", "JOIN_ARRAY",
    "IROTAT", "SOLVENT_POINTERS", "ATOMS_PER_MOLECULE", "RADIUS_SET", "FORCE_FIELD_TYPE",
    "RESIDUE_NUMBER", "RESIDUE_CHAINID", "RESIDUE_ICODE", "ATOM_ELEMENT", "MOLECULE_NUMBER",
    NULL};

/* Sections read (or checked) by the loader below. */
static const char *const handled[] = {
    "POINTERS", "ATOM_NAME", "CHARGE", "ATOMIC_NUMBER", "MASS", "ATOM_TYPE_INDEX",
    "NUMBER_EXCLUDED_ATOMS", "NONBONDED_PARM_INDEX", "RESIDUE_LABEL", "RESIDUE_POINTER",
    "BOND_FORCE_CONSTANT", "BOND_EQUIL_VALUE", "ANGLE_FORCE_CONSTANT", "ANGLE_EQUIL_VALUE",
    "DIHEDRAL_FORCE_CONSTANT", "DIHEDRAL_PERIODICITY", "DIHEDRAL_PHASE", "SCEE_SCALE_FACTOR",
    "SCNB_SCALE_FACTOR", "LENNARD_JONES_ACOEF", "LENNARD_JONES_BCOEF", "LENNARD_JONES_CCOEF",
    "BONDS_INC_HYDROGEN", "BONDS_WITHOUT_HYDROGEN", "ANGLES_INC_HYDROGEN",
    "ANGLES_WITHOUT_HYDROGEN", "DIHEDRALS_INC_HYDROGEN", "DIHEDRALS_WITHOUT_HYDROGEN",
    "EXCLUDED_ATOMS_LIST", "HBOND_ACOEF", "HBOND_BCOEF", "BOX_DIMENSIONS", "RADII", "SCREEN",
    "IPOL", "POLARIZABILITY", "CMAP_COUNT", "CMAP_RESOLUTION", "CMAP_INDEX", "CHARMM_CMAP_COUNT",
    "CHARMM_CMAP_RESOLUTION", "CHARMM_CMAP_INDEX", NULL};

static int in_list(const char *name, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

/* Every section must be known: one that clmd cannot interpret could change the energy. */
static int check_sections(const prmtop *p, clmd_err *err)
{
    for (int i = 0; i < p->ns; i++) {
        const sect *s = &p->s[i];
        const char *n = s->name;
        if (in_list(n, informational) || in_list(n, handled)) continue;
        if (strncmp(n, "CMAP_PARAMETER_", 15) == 0 || strncmp(n, "CHARMM_CMAP_PARAMETER_", 22) == 0)
            continue; /* checked against CMAP_COUNT by read_cmap */
        if (strcmp(n, "CTITLE") == 0 || strncmp(n, "CHARMM_", 7) == 0 ||
            strncmp(n, "LENNARD_JONES_14_", 17) == 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: CHAMBER (CHARMM force field) topologies are "
                                "not supported",
                                p->path, s->line, n);
        if (strncmp(n, "LES_", 4) == 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: locally enhanced sampling (LES) is not supported",
                                p->path, s->line, n);
        if (strncmp(n, "PERT_", 5) == 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: perturbation topologies are not supported",
                                p->path, s->line, n);
        if (strncmp(n, "CAP_", 4) == 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: the solvent cap (IFCAP) is not supported",
                                p->path, s->line, n);
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section %s is not supported (clmd does not know whether it "
                            "changes the energy)",
                            p->path, s->line, n);
    }
    return CLMD_OK;
}

/* ---------------------------------------------------------------- elements */

static const struct { const char *sym; double mass; } elements[] = {
    {"", 0},       {"H", 1.008},   {"He", 4.003},  {"Li", 6.94},   {"Be", 9.012},
    {"B", 10.81},  {"C", 12.011},  {"N", 14.007},  {"O", 15.999},  {"F", 18.998},
    {"Ne", 20.18}, {"Na", 22.99},  {"Mg", 24.305}, {"Al", 26.982}, {"Si", 28.085},
    {"P", 30.974}, {"S", 32.06},   {"Cl", 35.45},  {"Ar", 39.948}, {"K", 39.098},
    {"Ca", 40.078}, {"Sc", 44.956}, {"Ti", 47.867}, {"V", 50.942}, {"Cr", 51.996},
    {"Mn", 54.938}, {"Fe", 55.845}, {"Co", 58.933}, {"Ni", 58.693}, {"Cu", 63.546},
    {"Zn", 65.38}, {"Ga", 69.723}, {"Ge", 72.63},  {"As", 74.922}, {"Se", 78.971},
    {"Br", 79.904}, {"Kr", 83.798}, {"Rb", 85.468}, {"Sr", 87.62}, {"Y", 88.906},
    {"Zr", 91.224}, {"Nb", 92.906}, {"Mo", 95.95}, {"Tc", 98.0},   {"Ru", 101.07},
    {"Rh", 102.91}, {"Pd", 106.42}, {"Ag", 107.87}, {"Cd", 112.41}, {"In", 114.82},
    {"Sn", 118.71}, {"Sb", 121.76}, {"Te", 127.6}, {"I", 126.9},   {"Xe", 131.29},
    {"Cs", 132.91}, {"Ba", 137.33}};
#define NELEMENTS ((int)(sizeof elements / sizeof elements[0]))

static int element_by_symbol(const char *sym)
{
    for (int z = 1; z < NELEMENTS; z++)
        if (strcmp(elements[z].sym, sym) == 0) return z;
    return 0;
}

/* Atomic number from the atom name and mass when the file has no ATOMIC_NUMBER: a two-letter
 * symbol wins when the mass agrees (CL, NA, MG, ZN, CA as calcium), else the first letter
 * (which survives hydrogen mass repartitioning), else the element nearest in mass. */
static int guess_element(const char *name, double mass)
{
    if (mass < 0.5) return 0; /* extra point */
    const char *p = name;
    while (*p && !isalpha((unsigned char)*p)) p++;
    char two[3] = {0}, one[2] = {0};
    if (p[0]) {
        one[0] = (char)toupper((unsigned char)p[0]);
        if (isalpha((unsigned char)p[1])) {
            two[0] = one[0];
            two[1] = (char)tolower((unsigned char)p[1]);
        }
    }
    int z = two[0] ? element_by_symbol(two) : 0;
    if (z && fabs(elements[z].mass - mass) < 1.0) return z;
    z = one[0] ? element_by_symbol(one) : 0;
    if (z) return z;
    int best = 0;
    for (int k = 1; k < NELEMENTS; k++)
        if (fabs(elements[k].mass - mass) < 1.0 &&
            (!best || fabs(elements[k].mass - mass) < fabs(elements[best].mass - mass)))
            best = k;
    return best;
}

/* ---------------------------------------------------------------- pair set */

/* Open-addressing set of atom pairs (i < j), to keep one 1-4 exception per pair. */
typedef struct pairset { uint64_t *slot; size_t cap; } pairset;

static void pairset_init(pairset *s, size_t expected)
{
    s->cap = 64;
    while (s->cap < 2 * expected + 1) s->cap *= 2;
    s->slot = clmd_alloc(s->cap * sizeof *s->slot); /* zero = empty; keys are stored +1 */
}

/* Returns 1 when the pair was new. */
static int pairset_add(pairset *s, int i, int j)
{
    uint64_t key = ((uint64_t)(uint32_t)i << 32 | (uint32_t)j) + 1;
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (s->cap - 1);
    while (s->slot[h]) {
        if (s->slot[h] == key) return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->slot[h] = key;
    return 1;
}

static int same_pair2(int a, int b, int i, int j)
{
    return (a == i && b == j) || (a == j && b == i);
}

/* growable list of excluded pairs */
typedef struct pairlist { int (*p)[2]; int n, cap; } pairlist;

static void pairlist_add(pairlist *l, int i, int j)
{
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 1024;
        l->p = clmd_realloc(l->p, (size_t)l->cap * sizeof *l->p, (size_t)nc * sizeof *l->p);
        l->cap = nc;
    }
    l->p[l->n][0] = i;
    l->p[l->n][1] = j;
    l->n++;
}

/* ---------------------------------------------------------------- topology */

enum { P_NATOM, P_NTYPES, P_NBONH, P_MBONA, P_NTHETH, P_MTHETA, P_NPHIH, P_MPHIA, P_NHPARM,
       P_NPARM, P_NEXT, P_NRES, P_NBONA, P_NTHETA, P_NPHIA, P_NUMBND, P_NUMANG, P_NPTRA,
       P_NATYP, P_NPHB, P_IFPERT, P_NBPER, P_NGPER, P_NDPER, P_MBPER, P_MGPER, P_MDPER,
       P_IFBOX, P_NMXRS, P_IFCAP, P_NUMEXTRA, P_COUNT };
static const char *const pointer_names[] = {
    "NATOM", "NTYPES", "NBONH", "MBONA", "NTHETH", "MTHETA", "NPHIH", "MPHIA", "NHPARM",
    "NPARM", "NEXT", "NRES", "NBONA", "NTHETA", "NPHIA", "NUMBND", "NUMANG", "NPTRA",
    "NATYP", "NPHB", "IFPERT", "NBPER", "NGPER", "NDPER", "MBPER", "MGPER", "MDPER",
    "IFBOX", "NMXRS", "IFCAP", "NUMEXTRA"};

/* Checks an atom's coordinate index (3*atom in the file) and returns the atom, or -1. */
static int atom_of(long coord, int natom)
{
    if (coord < 0 || coord % 3 != 0 || coord / 3 >= natom) return -1;
    return (int)(coord / 3);
}

typedef struct lj {
    double *a, *b;      /* kcal/mol A^12, kcal/mol A^6 per type pair [nt*nt] */
    double *rhalf, *ek; /* per type: Rmin/2 (A), epsilon (kcal/mol), OpenMM's way */
} lj;

/* CMAP correction maps and terms: CMAP_COUNT (terms, maps), CMAP_RESOLUTION (grid size of each
 * map), CMAP_PARAMETER_nn (kcal/mol), CMAP_INDEX (five atom numbers and a map number per term,
 * 1-based). ParmEd writes the same sections with a CHARMM_ prefix; either spelling is read.
 * The file's grid starts at -180 degrees with phi the slow index; clmd keeps OpenMM's layout
 * (system.h: energy[i + size*j] at phi = i*2pi/size, psi = j*2pi/size), converted exactly as
 * OpenMM's amber_file_parser does, by rotating each index by half the grid. With drop_cmap the
 * terms are counted into *ndropped and nothing is added. */
static int read_cmap(const prmtop *p, const clmd_amber_opts *opts, int natom, clmd_system *sys,
                     long *ndropped, clmd_err *err)
{
    const char *path = p->path;
    const sect *cc = find(p, "CMAP_COUNT"), *charmm = find(p, "CHARMM_CMAP_COUNT");
    const char *pre = charmm ? "CHARMM_" : "";
    char name[64];
    *ndropped = 0;
    if (cc && charmm)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: both CMAP_COUNT and CHARMM_CMAP_COUNT: which CMAP is meant?",
                            path, charmm->line);
    if (!cc) cc = charmm;
    if (!cc) {
        for (int i = 0; i < p->ns; i++) {
            const char *n = p->s[i].name;
            if (strstr(n, "CMAP_") == n || strstr(n, "CHARMM_CMAP_") == n)
                return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s without %sCMAP_COUNT",
                                    path, p->s[i].line, n, strncmp(n, "CHARMM_", 7) ? "" : "CHARMM_");
        }
        return CLMD_OK;
    }
    if (cc->kind != 'I' || cc->n < 2)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section %s should hold two integers (terms, maps)", path,
                            cc->line, cc->name);
    long nterms = cc->ival[0], nmaps = cc->ival[1];
    if (nterms < 0 || nterms > 100000000 || nmaps < 0 || nmaps > 9999 || (nterms > 0 && !nmaps))
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s: %ld terms, %ld maps", path,
                            cc->line, cc->name, nterms, nmaps);
    /* a map section beyond the count would be silently unused: the file is inconsistent */
    for (int i = 0; i < p->ns; i++) {
        const char *n = p->s[i].name;
        size_t lp = strlen(pre);
        if (strncmp(n, pre, lp) != 0 || strncmp(n + lp, "CMAP_PARAMETER_", 15) != 0) {
            if (strstr(n, "CMAP_PARAMETER_"))
                return clmd_err_set(err, CLMD_EINPUT, "%s:%d: section %s does not go with %s",
                                    path, p->s[i].line, n, cc->name);
            continue;
        }
        char *end;
        long k = strtol(n + lp + 15, &end, 10);
        if (end == n + lp + 15 || *end || k < 1 || k > nmaps)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s, but %s promises maps 1..%ld", path,
                                p->s[i].line, n, cc->name, nmaps);
    }
    if (opts && opts->drop_cmap) {
        *ndropped = nterms;
        return CLMD_OK;
    }
    const long *res, *idx;
    int rc;
    snprintf(name, sizeof name, "%sCMAP_RESOLUTION", pre);
    if ((rc = get_ints(p, name, nmaps, "maps of CMAP_COUNT", -1, &res, err))) return rc;
    for (long m = 0; m < nmaps; m++) {
        long n = res[m];
        /* OpenMM's layout has a node at 0 and the file's at -180 degrees: they coincide, and the
           conversion is a plain index rotation, only for an even number of points */
        if (n < 4 || n > 4096 || n % 2)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: map %ld has resolution %ld (an even number "
                                "4..4096 is needed)",
                                path, find(p, name)->line, name, m + 1, n);
        char pname[64];
        snprintf(pname, sizeof pname, "%sCMAP_PARAMETER_%02ld", pre, m + 1);
        const double *par;
        if ((rc = get_reals(p, pname, n * n, "resolution squared", 1, &par, err))) return rc;
        double *e;
        CLMD_NEW(e, n * n);
        for (long i = 0; i < n; i++)     /* phi index in OpenMM's layout */
            for (long j = 0; j < n; j++) /* psi index */
                e[i + n * j] = KCAL * par[n * ((i + n / 2) % n) + (j + n / 2) % n];
        clmd_system_add_cmap_map(sys, (int)n, e);
        clmd_free(e);
    }
    snprintf(name, sizeof name, "%sCMAP_INDEX", pre);
    if ((rc = get_ints(p, name, 6 * nterms, "6 per term of CMAP_COUNT", -1, &idx, err))) return rc;
    for (long k = 0; k < nterms; k++) {
        const long *t = idx + 6 * k;
        int ok = t[5] >= 1 && t[5] <= nmaps;
        for (int q = 0; q < 5; q++) ok = ok && t[q] >= 1 && t[q] <= natom;
        if (!ok)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section %s: term %ld (%ld %ld %ld %ld %ld map %ld) is out "
                                "of range (atoms 1..%d, maps 1..%ld)",
                                path, find(p, name)->line, name, k + 1, t[0], t[1], t[2], t[3],
                                t[4], t[5], natom, nmaps);
        clmd_system_add_cmap(sys, (int)t[0] - 1, (int)t[1] - 1, (int)t[2] - 1, (int)t[3] - 1,
                             (int)t[4] - 1, (int)t[5] - 1);
    }
    return CLMD_OK;
}

/* ---------------------------------------------------------------- extra points */

/* What one residue holding extra points is made of, and the force-field lengths (nm) and angle
 * that place its extra point. */
typedef struct epres {
    int o, h[2], ep[2];   /* atoms; ep[1] only to name a second extra point */
    int no, nh, nep, nother, other;
    double oh[2], hh, oe, hoh;
    int has_oh[2], has_hh, has_oe, has_hoh, bad_ep_bond;
} epres;

/* The extra points (massless atoms) become virtual sites, as OpenMM's AmberPrmtopFile makes
 * them: one per water (one O and two H besides it), the ThreeParticleAverageSite
 *   x_EP = (1 - w) x_O + w/2 x_H1 + w/2 x_H2,  w = d_OE / sqrt(d_OH^2 - (d_HH/2)^2),
 * with the force field's O-EP, O-H and H-H bond lengths (tleap writes all three; without an
 * H-H bond the H-O-H angle gives d_HH), so that the site sits at d_OE from O on the bisector of
 * the rigid water. Bonds and angles with an extra point leave the lists (dihedrals never got
 * there): Amber deletes them, since the site's frame fixes it; OpenMM 7.7 keeps the O-EP bond,
 * which costs nothing for rigid water, as its length then never changes. Other layouts
 * (TIP5P's two lone pairs, extra points off water) are errors naming the residue and atom. */
static int place_extra_points(const prmtop *p, clmd_system *sys, clmd_err *err)
{
    int n = sys->n, nr = sys->nresidues, nep = 0;
    for (int i = 0; i < n; i++) nep += sys->mass[i] == 0;
    if (nep == 0) return CLMD_OK;
    int line = find(p, "ATOM_NAME")->line, rc = CLMD_OK;
    epres *w;
    CLMD_NEW(w, nr);
    for (int r = 0; r < nr; r++) w[r].o = w[r].h[0] = w[r].h[1] = w[r].ep[0] = w[r].ep[1] = w[r].other = -1;
    for (int i = 0; i < n; i++) {
        epres *e = &w[sys->residue[i]];
        if (sys->mass[i] == 0) {
            if (e->nep < 2) e->ep[e->nep] = i;
            e->nep++;
        } else if (sys->atomic_number[i] == 8) {
            e->o = i;
            e->no++;
        } else if (sys->atomic_number[i] == 1) {
            if (e->nh < 2) e->h[e->nh] = i;
            e->nh++;
        } else {
            if (e->other < 0) e->other = i;
            e->nother++;
        }
    }
    for (int r = 0; r < nr && !rc; r++) {
        const epres *e = &w[r];
        if (e->nep == 0) continue;
        int water = e->no == 1 && e->nh == 2 && e->nother == 0;
        if (!water)
            rc = clmd_err_set(err, CLMD_EINPUT,
                              "%s:%d: extra point %s (atom %d) is in residue %s %d, which is not a "
                              "water (one O and two H%s%s%s): clmd supports extra points only as "
                              "the one extra point of a 4-point water (TIP4P-Ew, OPC)",
                              p->path, line, sys->name[e->ep[0]], e->ep[0] + 1, sys->resname[r],
                              r + 1, e->other >= 0 ? "; it has " : "",
                              e->other >= 0 ? sys->name[e->other] : "",
                              e->other >= 0 ? " too" : "");
        else if (e->nep > 1)
            rc = clmd_err_set(err, CLMD_EINPUT,
                              "%s:%d: water %s %d has %d extra points (%s, atom %d, and %s, atom "
                              "%d): 5-point water (TIP5P lone pairs, OpenMM's OutOfPlaneSite) is "
                              "not supported; clmd supports one extra point per water",
                              p->path, line, sys->resname[r], r + 1, e->nep, sys->name[e->ep[0]],
                              e->ep[0] + 1, sys->name[e->ep[1]], e->ep[1] + 1);
    }
    /* the lengths and the angle that place each site, from the terms the file gives */
    for (int k = 0; k < sys->nbonds && !rc; k++) {
        int i = sys->bonds[k].i, j = sys->bonds[k].j;
        epres *e = &w[sys->residue[i]];
        if (e->nep == 0 || sys->residue[j] != sys->residue[i]) {
            if (sys->mass[i] == 0 || sys->mass[j] == 0)
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s: a bond joins extra point %s (atom %d) to atom %s (atom %d) "
                                  "of another residue",
                                  p->path, sys->name[sys->mass[i] == 0 ? i : j],
                                  (sys->mass[i] == 0 ? i : j) + 1,
                                  sys->name[sys->mass[i] == 0 ? j : i], (sys->mass[i] == 0 ? j : i) + 1);
            continue;
        }
        double r0 = sys->bonds[k].r0;
        int ep = sys->mass[i] == 0 ? i : sys->mass[j] == 0 ? j : -1;
        int other = ep == i ? j : i;
        if (ep >= 0) {
            if (other == e->o) e->oe = r0, e->has_oe = 1;
            else e->bad_ep_bond = 1;
        } else if (same_pair2(i, j, e->o, e->h[0])) {
            e->oh[0] = r0, e->has_oh[0] = 1;
        } else if (same_pair2(i, j, e->o, e->h[1])) {
            e->oh[1] = r0, e->has_oh[1] = 1;
        } else if (same_pair2(i, j, e->h[0], e->h[1])) {
            e->hh = r0, e->has_hh = 1;
        }
    }
    for (int k = 0; k < sys->nangles && !rc; k++) {
        const clmd_angle *a = &sys->angles[k];
        epres *e = &w[sys->residue[a->j]];
        if (e->nep && a->j == e->o && same_pair2(a->i, a->k, e->h[0], e->h[1]))
            e->hoh = a->theta0, e->has_hoh = 1;
    }
    for (int r = 0; r < nr && !rc; r++) {
        const epres *e = &w[r];
        if (e->nep == 0) continue;
        const char *why = NULL;
        if (e->bad_ep_bond) why = "its extra point is bonded to a hydrogen, not to the oxygen";
        else if (!e->has_oe) why = "no O-EP bond gives the extra point's distance from the oxygen";
        else if (!e->has_oh[0] || !e->has_oh[1]) why = "it lacks an O-H bond";
        else if (fabs(e->oh[0] - e->oh[1]) > 1e-9 * e->oh[0])
            why = "its two O-H bonds differ in length (the site is placed on a symmetric water)";
        else if (!e->has_hh && !e->has_hoh) why = "neither an H-H bond nor an H-O-H angle gives its shape";
        double hh = e->has_hh ? e->hh : 2 * e->oh[0] * sin(0.5 * e->hoh);
        double height = e->oh[0] * e->oh[0] - 0.25 * hh * hh; /* O to the H-H midpoint, squared */
        if (!why && !(height > 0)) why = "its O-H and H-H lengths do not make a triangle";
        if (why) {
            rc = clmd_err_set(err, CLMD_EINPUT,
                              "%s:%d: cannot place extra point %s (atom %d) of water %s %d: %s",
                              p->path, line, sys->name[e->ep[0]], e->ep[0] + 1, sys->resname[r],
                              r + 1, why);
            break;
        }
        double wh = e->oe / sqrt(height);
        clmd_system_add_vsite(sys, e->ep[0], e->o, e->h[0], e->h[1], 1 - wh, wh / 2, wh / 2);
    }
    clmd_free(w);
    if (rc) return rc;
    int m = 0;
    for (int k = 0; k < sys->nbonds; k++)
        if (sys->mass[sys->bonds[k].i] != 0 && sys->mass[sys->bonds[k].j] != 0)
            sys->bonds[m++] = sys->bonds[k];
    sys->nbonds = m;
    m = 0;
    for (int k = 0; k < sys->nangles; k++) {
        const clmd_angle *a = &sys->angles[k];
        if (sys->mass[a->i] != 0 && sys->mass[a->j] != 0 && sys->mass[a->k] != 0)
            sys->angles[m++] = sys->angles[k];
    }
    sys->nangles = m;
    return CLMD_OK;
}

static int build_topology(const prmtop *p, const clmd_amber_opts *opts, clmd_system *sys,
                          clmd_err *err)
{
    const char *path = p->path;
    int rc;
    const sect *ps = find(p, "POINTERS");
    if (!ps)
        return clmd_err_set(err, CLMD_EINPUT, "%s: required section POINTERS is missing", path);
    if (ps->kind != 'I' || ps->n < 30)
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section POINTERS has %d integers, expected at least 30", path,
                            ps->line, ps->n);
    long P[P_COUNT] = {0};
    for (int k = 0; k < P_COUNT && k < ps->n; k++) {
        P[k] = ps->ival[k];
        if (P[k] < 0 || P[k] > 100000000)
            return clmd_err_set(err, CLMD_EINPUT, "%s:%d: POINTERS %s = %ld is out of range",
                                path, ps->line, pointer_names[k], P[k]);
    }
    int natom = (int)P[P_NATOM], nt = (int)P[P_NTYPES];
    if (natom <= 0 || nt <= 0 || P[P_NRES] <= 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s:%d: POINTERS gives NATOM=%ld NTYPES=%ld NRES=%ld",
                            path, ps->line, P[P_NATOM], P[P_NTYPES], P[P_NRES]);
    if (P[P_IFPERT])
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: POINTERS IFPERT=%ld: perturbation topologies are not supported",
                            path, ps->line, P[P_IFPERT]);
    if (P[P_IFCAP])
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: POINTERS IFCAP=%ld: the solvent cap (CAP_INFO) is not supported",
                            path, ps->line, P[P_IFCAP]);
    if (P[P_MBONA] != P[P_NBONA] || P[P_MTHETA] != P[P_NTHETA] || P[P_MPHIA] != P[P_NPHIA])
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: POINTERS MBONA/MTHETA/MPHIA differ from NBONA/NTHETA/NPHIA "
                            "(constraint terms of old LEaP versions are not supported)",
                            path, ps->line);
    if ((rc = check_sections(p, err))) return rc;

    /* unsupported features hidden in sections that may be present and empty */
    const long *iv;
    const double *rv;
    if ((rc = get_ints(p, "IPOL", 1, "one flag", 0, &iv, err))) return rc;
    if (iv && iv[0])
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section IPOL = %ld: polarizable force fields are not supported",
                            path, find(p, "IPOL")->line, iv[0]);
    if ((rc = get_reals(p, "POLARIZABILITY", natom, "NATOM", 0, &rv, err))) return rc;
    for (int i = 0; rv && i < natom; i++)
        if (rv[i] != 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section POLARIZABILITY: atom %d has polarizability %g; "
                                "polarizable force fields are not supported",
                                path, find(p, "POLARIZABILITY")->line, i + 1, rv[i]);
    long npair_types = (long)nt * (nt + 1) / 2;
    if ((rc = get_reals(p, "LENNARD_JONES_CCOEF", npair_types, "NTYPES*(NTYPES+1)/2", 0, &rv, err)))
        return rc;
    for (long k = 0; rv && k < npair_types; k++)
        if (rv[k] != 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section LENNARD_JONES_CCOEF: 12-6-4 Lennard-Jones terms "
                                "are not supported (value %ld is %g)",
                                path, find(p, "LENNARD_JONES_CCOEF")->line, k + 1, rv[k]);
    const double *hba, *hbb;
    if ((rc = get_reals(p, "HBOND_ACOEF", P[P_NPHB], "NPHB", 0, &hba, err))) return rc;
    if ((rc = get_reals(p, "HBOND_BCOEF", P[P_NPHB], "NPHB", 0, &hbb, err))) return rc;
    for (long k = 0; k < P[P_NPHB]; k++)
        if ((hba && hba[k] != 0) || (hbb && hbb[k] != 0))
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section HBOND_ACOEF: 10-12 hydrogen-bond terms are not "
                                "supported (pair type %ld is nonzero)",
                                path, find(p, hba ? "HBOND_ACOEF" : "HBOND_BCOEF")->line, k + 1);
    long ncmap_dropped = 0;
    if ((rc = read_cmap(p, opts, natom, sys, &ncmap_dropped, err))) return rc;

    /* per-atom sections */
    const char *const *aname, *const *rlabel;
    const double *charge, *mass, *radii, *screen;
    const long *atype, *nexcl, *nbidx, *rptr, *anum;
    if ((rc = get_text(p, "ATOM_NAME", natom, "NATOM", &aname, err))) return rc;
    if ((rc = get_reals(p, "CHARGE", natom, "NATOM", 1, &charge, err))) return rc;
    if ((rc = get_reals(p, "MASS", natom, "NATOM", 1, &mass, err))) return rc;
    if ((rc = get_ints(p, "ATOM_TYPE_INDEX", natom, "NATOM", 1, &atype, err))) return rc;
    if ((rc = get_ints(p, "NUMBER_EXCLUDED_ATOMS", natom, "NATOM", 1, &nexcl, err))) return rc;
    if ((rc = get_ints(p, "NONBONDED_PARM_INDEX", (long)nt * nt, "NTYPES^2", 1, &nbidx, err)))
        return rc;
    if ((rc = get_text(p, "RESIDUE_LABEL", P[P_NRES], "NRES", &rlabel, err))) return rc;
    if ((rc = get_ints(p, "RESIDUE_POINTER", P[P_NRES], "NRES", 1, &rptr, err))) return rc;
    if ((rc = get_ints(p, "ATOMIC_NUMBER", natom, "NATOM", 0, &anum, err))) return rc;
    if ((rc = get_reals(p, "RADII", natom, "NATOM", 0, &radii, err))) return rc;
    if ((rc = get_reals(p, "SCREEN", natom, "NATOM", 0, &screen, err))) return rc;
    if (!radii != !screen)
        return clmd_err_set(err, CLMD_EINPUT, "%s: section %s is present but %s is missing", path,
                            radii ? "RADII" : "SCREEN", radii ? "SCREEN" : "RADII");
    /* parameter tables */
    const double *bk, *br, *ak, *at, *dk, *dn, *dp, *scee, *scnb, *lja, *ljb;
    if ((rc = get_reals(p, "BOND_FORCE_CONSTANT", P[P_NUMBND], "NUMBND", -1, &bk, err))) return rc;
    if ((rc = get_reals(p, "BOND_EQUIL_VALUE", P[P_NUMBND], "NUMBND", -1, &br, err))) return rc;
    if ((rc = get_reals(p, "ANGLE_FORCE_CONSTANT", P[P_NUMANG], "NUMANG", -1, &ak, err))) return rc;
    if ((rc = get_reals(p, "ANGLE_EQUIL_VALUE", P[P_NUMANG], "NUMANG", -1, &at, err))) return rc;
    if ((rc = get_reals(p, "DIHEDRAL_FORCE_CONSTANT", P[P_NPTRA], "NPTRA", -1, &dk, err))) return rc;
    if ((rc = get_reals(p, "DIHEDRAL_PERIODICITY", P[P_NPTRA], "NPTRA", -1, &dn, err))) return rc;
    if ((rc = get_reals(p, "DIHEDRAL_PHASE", P[P_NPTRA], "NPTRA", -1, &dp, err))) return rc;
    if ((rc = get_reals(p, "SCEE_SCALE_FACTOR", P[P_NPTRA], "NPTRA", 0, &scee, err))) return rc;
    if ((rc = get_reals(p, "SCNB_SCALE_FACTOR", P[P_NPTRA], "NPTRA", 0, &scnb, err))) return rc;
    if ((rc = get_reals(p, "LENNARD_JONES_ACOEF", npair_types, "NTYPES*(NTYPES+1)/2", 1, &lja, err)))
        return rc;
    if ((rc = get_reals(p, "LENNARD_JONES_BCOEF", npair_types, "NTYPES*(NTYPES+1)/2", 1, &ljb, err)))
        return rc;
    /* term lists */
    const long *bh, *bn, *ah, *an, *dh, *dnh, *excl;
    if ((rc = get_ints(p, "BONDS_INC_HYDROGEN", 3 * P[P_NBONH], "3*NBONH", -1, &bh, err))) return rc;
    if ((rc = get_ints(p, "BONDS_WITHOUT_HYDROGEN", 3 * P[P_NBONA], "3*NBONA", -1, &bn, err))) return rc;
    if ((rc = get_ints(p, "ANGLES_INC_HYDROGEN", 4 * P[P_NTHETH], "4*NTHETH", -1, &ah, err))) return rc;
    if ((rc = get_ints(p, "ANGLES_WITHOUT_HYDROGEN", 4 * P[P_NTHETA], "4*NTHETA", -1, &an, err)))
        return rc;
    if ((rc = get_ints(p, "DIHEDRALS_INC_HYDROGEN", 5 * P[P_NPHIH], "5*NPHIH", -1, &dh, err))) return rc;
    if ((rc = get_ints(p, "DIHEDRALS_WITHOUT_HYDROGEN", 5 * P[P_NPHIA], "5*NPHIA", -1, &dnh, err)))
        return rc;
    if ((rc = get_ints(p, "EXCLUDED_ATOMS_LIST", P[P_NEXT], "NEXT", 1, &excl, err))) return rc;
    const double *boxd = NULL;
    if (P[P_IFBOX] && (rc = get_reals(p, "BOX_DIMENSIONS", 4, "beta, a, b, c", 1, &boxd, err)))
        return rc;

    /* particles */
    clmd_system_alloc_particles(sys, natom);
    const sect *ts;
    int line;
    for (int i = 0; i < natom; i++) {
        copy_name(sys->name[i], aname[i]);
        sys->charge[i] = charge[i] / AMBER_CHARGE;
        sys->mass[i] = mass[i];
        /* extra points are the massless atoms; Amber names them EP* or LP* (lone pairs) */
        int ep_name = strncmp(sys->name[i], "EP", 2) == 0 || strncmp(sys->name[i], "LP", 2) == 0;
        if (mass[i] != 0 && (ep_name || !(mass[i] > 0))) {
            ts = find(p, "MASS");
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section MASS: atom %d (%s) has mass %g%s", path, ts->line,
                                i + 1, sys->name[i], mass[i],
                                ep_name ? ": its name makes it an extra point, which must be "
                                          "massless" : "");
        }
        if (atype[i] < 1 || atype[i] > nt) {
            ts = find(p, "ATOM_TYPE_INDEX");
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section ATOM_TYPE_INDEX: atom %d has type %ld, outside 1..%d",
                                path, ts->line, i + 1, atype[i], nt);
        }
        sys->type[i] = (int)atype[i] - 1;
        sys->atomic_number[i] = anum ? (anum[i] > 0 ? (int)anum[i] : 0)
                                     : guess_element(sys->name[i], mass[i]);
    }
    if (radii) {
        clmd_system_alloc_gb(sys);
        for (int i = 0; i < natom; i++) {
            sys->gb_radius[i] = 0.1 * radii[i];
            sys->gb_scale[i] = screen[i];
        }
    }

    /* residues */
    sys->nresidues = (int)P[P_NRES];
    CLMD_NEW(sys->resname, sys->nresidues);
    line = find(p, "RESIDUE_POINTER")->line;
    for (int r = 0; r < sys->nresidues; r++) {
        long first = rptr[r], next = r + 1 < sys->nresidues ? rptr[r + 1] : natom + 1;
        if ((r == 0 && first != 1) || first < 1 || next <= first || next > natom + 1)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section RESIDUE_POINTER: residue %d starts at atom %ld, "
                                "the next at %ld (must start at 1 and increase up to NATOM=%d)",
                                path, line, r + 1, first, next, natom);
        copy_name(sys->resname[r], rlabel[r]);
        for (long i = first - 1; i < next - 1; i++) sys->residue[i] = r;
    }

    /* Lennard-Jones types, OpenMM's way: Rmin/2 and epsilon from the diagonal of A and B */
    lj L = {NULL, NULL, NULL, NULL};
    CLMD_NEW(L.a, (size_t)nt * nt);
    CLMD_NEW(L.b, (size_t)nt * nt);
    CLMD_NEW(L.rhalf, nt);
    CLMD_NEW(L.ek, nt);
    rc = CLMD_OK;
    line = find(p, "NONBONDED_PARM_INDEX")->line;
    for (int ti = 0; ti < nt && !rc; ti++)
        for (int tj = 0; tj < nt && !rc; tj++) {
            long idx = nbidx[(long)nt * ti + tj];
            if (idx == 0 || idx > npair_types || idx < -P[P_NPHB] || (idx < 0 && !P[P_NPHB]))
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section NONBONDED_PARM_INDEX: entry %ld (types %d, %d) "
                                  "is %ld, outside 1..%ld",
                                  path, line, (long)nt * ti + tj + 1, ti + 1, tj + 1, idx,
                                  npair_types);
            else if (idx > 0) { /* negative: a 10-12 pair, checked to be zero above */
                L.a[ti * nt + tj] = lja[idx - 1];
                L.b[ti * nt + tj] = ljb[idx - 1];
            }
        }
    int nbfix = 0;
    if (!rc) {
        for (int t = 0; t < nt; t++) {
            double A = L.a[t * nt + t], B = L.b[t * nt + t];
            if (A != 0 && B != 0) {
                L.rhalf[t] = 0.5 * pow(2 * A / B, 1.0 / 6.0);
                L.ek[t] = 0.25 * B * B / A;
            } else {
                L.rhalf[t] = 0.5; /* OpenMM's placeholder Rmin = 1 A; epsilon 0 makes it moot */
                L.ek[t] = 0;
            }
        }
        /* Lorentz-Berthelot holds when every pair matches its combination (OpenMM's 1e-6 test) */
        for (int ti = 0; ti < nt; ti++)
            for (int tj = 0; tj < nt; tj++) {
                double a = L.a[ti * nt + tj], b = L.b[ti * nt + tj];
                double rij = L.rhalf[ti] + L.rhalf[tj], wd = sqrt(L.ek[ti] * L.ek[tj]);
                if (a == 0 || b == 0) {
                    if (a != 0 || b != 0 || wd != 0) nbfix = 1;
                } else if (fabs((a - wd * pow(rij, 12)) / a) > 1e-6 ||
                           fabs((b - 2 * wd * pow(rij, 6)) / b) > 1e-6) {
                    nbfix = 1;
                }
            }
        const double s6 = pow(2.0, -1.0 / 6.0);
        for (int i = 0; i < natom; i++) {
            int t = sys->type[i];
            sys->sigma[i] = 0.1 * 2 * L.rhalf[t] * s6;
            sys->epsilon[i] = KCAL * L.ek[t];
        }
        sys->ntypes = nt;
        sys->lj_table = nbfix;
        CLMD_NEW(sys->c6, (size_t)nt * nt);
        CLMD_NEW(sys->c12, (size_t)nt * nt);
        for (long k = 0; k < (long)nt * nt; k++) {
            sys->c12[k] = L.a[k] * KCAL * 1e-12;
            sys->c6[k] = L.b[k] * KCAL * 1e-6;
        }
    }

    /* bonds, angles, torsions: OpenMM's k is twice Amber's (E = K (r - r0)^2 in Amber) */
    const long *blist[2] = {bh, bn};
    const long bcount[2] = {P[P_NBONH], P[P_NBONA]};
    const char *bname[2] = {"BONDS_INC_HYDROGEN", "BONDS_WITHOUT_HYDROGEN"};
    for (int s = 0; s < 2 && !rc; s++)
        for (long k = 0; k < bcount[s]; k++) {
            const long *e = blist[s] + 3 * k;
            int i = atom_of(e[0], natom), j = atom_of(e[1], natom);
            if (i < 0 || j < 0 || e[2] < 1 || e[2] > P[P_NUMBND]) {
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section %s: bond %ld (%ld %ld type %ld) is out of range "
                                  "(coordinate indices 3*atom < 3*%d, type 1..%ld)",
                                  path, find(p, bname[s])->line, bname[s], k + 1, e[0], e[1], e[2],
                                  natom, P[P_NUMBND]);
                break;
            }
            clmd_system_add_bond(sys, i, j, 2 * bk[e[2] - 1] * KCAL * 100, 0.1 * br[e[2] - 1]);
        }
    const long *alist[2] = {ah, an};
    const long acount[2] = {P[P_NTHETH], P[P_NTHETA]};
    const char *aname2[2] = {"ANGLES_INC_HYDROGEN", "ANGLES_WITHOUT_HYDROGEN"};
    for (int s = 0; s < 2 && !rc; s++)
        for (long k = 0; k < acount[s]; k++) {
            const long *e = alist[s] + 4 * k;
            int i = atom_of(e[0], natom), j = atom_of(e[1], natom), l = atom_of(e[2], natom);
            if (i < 0 || j < 0 || l < 0 || e[3] < 1 || e[3] > P[P_NUMANG]) {
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section %s: angle %ld (%ld %ld %ld type %ld) is out of "
                                  "range (coordinate indices 3*atom < 3*%d, type 1..%ld)",
                                  path, find(p, aname2[s])->line, aname2[s], k + 1, e[0], e[1],
                                  e[2], e[3], natom, P[P_NUMANG]);
                break;
            }
            clmd_system_add_angle(sys, i, j, l, 2 * ak[e[3] - 1] * KCAL, at[e[3] - 1]);
        }

    /* dihedrals; a negative third index marks a dihedral whose 1-4 pair is counted elsewhere
     * (or is not a 1-4 pair at all), a negative fourth one an improper */
    pairset seen;
    pairset_init(&seen, (size_t)(P[P_NPHIH] + P[P_NPHIA]));
    const long *dlist[2] = {dh, dnh};
    const long dcount[2] = {P[P_NPHIH], P[P_NPHIA]};
    const char *dname[2] = {"DIHEDRALS_INC_HYDROGEN", "DIHEDRALS_WITHOUT_HYDROGEN"};
    for (int s = 0; s < 2 && !rc; s++)
        for (long k = 0; k < dcount[s]; k++) {
            const long *e = dlist[s] + 5 * k;
            int i = atom_of(e[0], natom), j = atom_of(e[1], natom);
            int kk = atom_of(labs(e[2]), natom), l = atom_of(labs(e[3]), natom);
            long t = e[4];
            if (i < 0 || j < 0 || kk < 0 || l < 0 || t < 1 || t > P[P_NPTRA]) {
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section %s: dihedral %ld (%ld %ld %ld %ld type %ld) is "
                                  "out of range (coordinate indices 3*atom < 3*%d, the first two "
                                  "positive, type 1..%ld)",
                                  path, find(p, dname[s])->line, dname[s], k + 1, e[0], e[1], e[2],
                                  e[3], t, natom, P[P_NPTRA]);
                break;
            }
            /* Amber deletes every bonded term with an extra point (the site's position is
               fixed by its frame), and its 1-4 pair with it; bonds and angles go in
               place_extra_points */
            if (sys->mass[i] == 0 || sys->mass[j] == 0 || sys->mass[kk] == 0 || sys->mass[l] == 0)
                continue;
            double per = dn[t - 1];
            if (per < 0 || per > 100) {
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section DIHEDRAL_PERIODICITY: type %ld has periodicity %g",
                                  path, find(p, "DIHEDRAL_PERIODICITY")->line, t, per);
                break;
            }
            clmd_system_add_torsion(sys, i, j, kk, l, (int)(0.5 + per), dk[t - 1] * KCAL, dp[t - 1]);
            if (e[2] < 0 || e[3] < 0) continue;
            int a = i < l ? i : l, b = i < l ? l : i;
            if (a == b || !pairset_add(&seen, a, b)) continue;
            double ee = scee ? scee[t - 1] : 1.2, en = scnb ? scnb[t - 1] : 2.0;
            if (!(ee > 0) || !(en > 0)) {
                rc = clmd_err_set(err, CLMD_EINPUT,
                                  "%s:%d: section %s: dihedral type %ld has a 1-4 pair but "
                                  "scaling factor %g",
                                  path, find(p, ee > 0 ? "SCNB_SCALE_FACTOR" : "SCEE_SCALE_FACTOR")->line,
                                  ee > 0 ? "SCNB_SCALE_FACTOR" : "SCEE_SCALE_FACTOR", t,
                                  ee > 0 ? en : ee);
                break;
            }
            double qq = sys->charge[i] * sys->charge[l] / ee, sig, eps;
            int ti = sys->type[i], tl = sys->type[l];
            if (!nbfix) {
                sig = 0.5 * (sys->sigma[i] + sys->sigma[l]);
                eps = sqrt(sys->epsilon[i] * sys->epsilon[l]);
            } else { /* the pair's own A and B */
                double A = L.a[ti * nt + tl], B = L.b[ti * nt + tl];
                sig = A != 0 && B != 0 ? 0.1 * pow(A / B, 1.0 / 6.0) : 0.1;
                eps = A != 0 && B != 0 ? KCAL * 0.25 * B * B / A : 0;
            }
            clmd_system_add_pair(sys, a, b, qq, sig, eps / en);
        }
    clmd_free(seen.slot);
    clmd_free(L.a);
    clmd_free(L.b);
    clmd_free(L.rhalf);
    clmd_free(L.ek);
    if (rc) return rc;
    if ((rc = place_extra_points(p, sys, err))) return rc;

    /* exclusions: the file's list, every 1-2, 1-3 and 1-4 pair of the bond graph, 1-4 pairs,
     * each extra point with the three atoms of its water */
    pairlist ex = {NULL, 0, 0};
    long at0 = 0;
    line = find(p, "NUMBER_EXCLUDED_ATOMS")->line;
    for (int i = 0; i < natom; i++) {
        if (nexcl[i] < 0 || at0 + nexcl[i] > P[P_NEXT]) {
            clmd_free(ex.p);
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section NUMBER_EXCLUDED_ATOMS: atom %d has %ld exclusions, "
                                "past the NEXT=%ld entries of EXCLUDED_ATOMS_LIST",
                                path, line, i + 1, nexcl[i], P[P_NEXT]);
        }
        for (long k = at0; k < at0 + nexcl[i]; k++) {
            long j = excl[k];
            if (j < 0 || j > natom) {
                clmd_free(ex.p);
                return clmd_err_set(err, CLMD_EINPUT,
                                    "%s:%d: section EXCLUDED_ATOMS_LIST: entry %ld (of atom %d) is "
                                    "%ld, outside 0..%d",
                                    path, find(p, "EXCLUDED_ATOMS_LIST")->line, k + 1, i + 1, j, natom);
            }
            if (j > 0 && j - 1 != i) pairlist_add(&ex, i, (int)j - 1);
        }
        at0 += nexcl[i];
    }
    if (at0 != P[P_NEXT]) {
        clmd_free(ex.p);
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s:%d: section NUMBER_EXCLUDED_ATOMS adds up to %ld, but NEXT=%ld",
                            path, line, at0, P[P_NEXT]);
    }
    int *deg, *adj, *start;
    CLMD_NEW(deg, natom);
    CLMD_NEW(start, natom + 1);
    for (int b = 0; b < sys->nbonds; b++) {
        deg[sys->bonds[b].i]++;
        deg[sys->bonds[b].j]++;
    }
    for (int i = 0; i < natom; i++) start[i + 1] = start[i] + deg[i];
    CLMD_NEW(adj, start[natom]);
    memset(deg, 0, sizeof *deg * (size_t)natom);
    for (int b = 0; b < sys->nbonds; b++) {
        int i = sys->bonds[b].i, j = sys->bonds[b].j;
        adj[start[i] + deg[i]++] = j;
        adj[start[j] + deg[j]++] = i;
    }
    for (int i = 0; i < natom; i++)
        for (int x = start[i]; x < start[i + 1]; x++) {
            int j = adj[x];
            if (j > i) pairlist_add(&ex, i, j);
            for (int y = start[j]; y < start[j + 1]; y++) {
                int k = adj[y];
                if (k == i) continue;
                if (k > i) pairlist_add(&ex, i, k);
                for (int z = start[k]; z < start[k + 1]; z++) {
                    int l = adj[z];
                    if (l > i && l != j) pairlist_add(&ex, i, l);
                }
            }
        }
    for (int k = 0; k < sys->npairs; k++) pairlist_add(&ex, sys->pairs[k].i, sys->pairs[k].j);
    for (int k = 0; k < sys->nvsites; k++) {
        const clmd_vsite *v = &sys->vsites[k];
        pairlist_add(&ex, v->site, v->a);
        pairlist_add(&ex, v->site, v->b);
        pairlist_add(&ex, v->site, v->c);
    }
    clmd_system_set_exclusions(sys, ex.n, (const int(*)[2])ex.p);
    clmd_free(ex.p);
    clmd_free(deg);
    clmd_free(start);
    clmd_free(adj);

    if (boxd) {
        double beta = boxd[0];
        if (!(boxd[1] > 0 && boxd[2] > 0 && boxd[3] > 0) || !cell_angles_ok(beta, beta, beta))
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: section BOX_DIMENSIONS: beta %g, a %g, b %g, c %g is not a "
                                "cell (edges must be > 0; one angle used three times must be below "
                                "120 degrees)", path,
                                find(p, "BOX_DIMENSIONS")->line, beta, boxd[1], boxd[2], boxd[3]);
        /* Amber stores one angle; OpenMM uses it for all three (truncated octahedron when 109.47) */
        clmd_system_set_box_angles(sys, 0.1 * boxd[1], 0.1 * boxd[2], 0.1 * boxd[3], beta, beta, beta);
    }
    if (ncmap_dropped > 0) {
        size_t n = strlen(sys->source);
        snprintf(sys->source + n, sizeof sys->source - n, " (%ld CMAP terms left out)",
                 ncmap_dropped);
    }
    return CLMD_OK;
}

/* ---------------------------------------------------------------- inpcrd / rst7 */

/* Reads up to `want` fixed-width 12-character reals from a line; returns how many it read. */
static int read_fields(const char *path, int lineno, const char *line, int want, double *out,
                       clmd_err *err, int *rc)
{
    size_t len = strlen(line);
    while (len > 0 && isspace((unsigned char)line[len - 1])) len--;
    int n = 0;
    for (size_t at = 0; at < len && n < want; at += 12) {
        char field[13];
        size_t w = len - at < 12 ? len - at : 12;
        memcpy(field, line + at, w);
        field[w] = '\0';
        char *q = field, *end;
        while (isspace((unsigned char)*q)) q++;
        double v = strtod(q, &end);
        while (isspace((unsigned char)*end)) end++;
        if (end == q || *end || !isfinite(v)) {
            *rc = clmd_err_set(err, CLMD_EINPUT,
                               "%s:%d: field %d ('%s') is not a number (fields are 12 characters "
                               "wide, 6F12.7)",
                               path, lineno, n + 1, field);
            return n;
        }
        out[n++] = v;
    }
    return n;
}

static int read_inpcrd(const char *path, clmd_system *sys, int *has_box, double box[6],
                       clmd_err *err)
{
    char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, err);
    if (rc) return rc;
    if (len >= 3 && memcmp(buf, "CDF", 3) == 0) {
        clmd_free(buf);
        return clmd_err_set(err, CLMD_EINPUT,
                            "%s: NetCDF restart files are not read; convert it to ASCII (cpptraj, "
                            "ParmEd)",
                            path);
    }
    int nl;
    char **lines = split_lines(buf, len, &nl);
    while (nl > 0 && lines[nl - 1][strspn(lines[nl - 1], " \t")] == '\0') nl--;
    int natom = sys->n;
    *has_box = 0;
    if (nl < 2) {
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: too short for an Amber coordinate file", path);
        goto done;
    }
    char *end;
    long n = strtol(lines[1], &end, 10);
    if (end == lines[1] || (*end && !isspace((unsigned char)*end))) {
        rc = clmd_err_set(err, CLMD_EINPUT, "%s:2: expected the number of atoms, found '%s'", path,
                          lines[1]);
        goto done;
    }
    if (n != natom) {
        rc = clmd_err_set(err, CLMD_EINPUT, "%s:2: %ld atoms, but the topology has %d", path, n,
                          natom);
        goto done;
    }
    int ncl = (natom + 1) / 2, extra = nl - 2 - ncl;
    int hasvel = 0;
    if (extra == 0) {
    } else if (extra == 1 && natom <= 2) {
        /* one more line: velocities or a box; box lengths and angles are large numbers */
        double v[6];
        int k = read_fields(path, nl, lines[nl - 1], 6, v, err, &rc);
        if (rc) goto done;
        int big = 0;
        for (int q = 0; q < k; q++) big |= v[q] >= 60.0;
        if (natom == 1) *has_box = k == 6;
        else *has_box = big;
        hasvel = !*has_box;
    } else if (extra == 1) {
        *has_box = 1;
    } else if (extra == ncl) {
        hasvel = 1;
    } else if (extra == ncl + 1) {
        hasvel = 1;
        *has_box = 1;
    } else {
        rc = clmd_err_set(err, CLMD_EINPUT,
                          "%s: %d lines after the %d coordinate lines; expected 0, 1 (box), %d "
                          "(velocities) or %d (velocities and box): truncated or not an inpcrd",
                          path, extra < 0 ? 0 : extra, ncl, ncl, ncl + 1);
        goto done;
    }
    for (int part = 0; part < 1 + hasvel && !rc; part++) {
        double *dst = part == 0 ? sys->x : (clmd_system_alloc_velocities(sys), sys->v);
        double scale = part == 0 ? 0.1 : 0.1 * AMBER_VEL;
        int first = 2 + part * ncl;
        for (int l = 0; l < ncl && !rc; l++) {
            int want = 2 * l + 1 < natom ? 6 : 3;
            double v[6];
            int k = read_fields(path, first + l + 1, lines[first + l], want, v, err, &rc);
            if (rc) break;
            if (k < want) {
                rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: %d numbers, expected %d (%s of atom %d)",
                                  path, first + l + 1, k, want, part ? "velocities" : "coordinates",
                                  2 * l + 1 + k / 3);
                break;
            }
            for (int q = 0; q < want; q++) dst[6 * l + q] = scale * v[q];
        }
    }
    if (!rc && *has_box) {
        int k = read_fields(path, nl, lines[nl - 1], 6, box, err, &rc);
        if (!rc && k == 3) box[3] = box[4] = box[5] = 90.0;
        else if (!rc && k != 6)
            rc = clmd_err_set(err, CLMD_EINPUT,
                              "%s:%d: the box line has %d numbers, expected a b c [alpha beta gamma]",
                              path, nl, k);
        if (!rc && !(box[0] > 0 && box[1] > 0 && box[2] > 0 && cell_angles_ok(box[3], box[4], box[5])))
            rc = clmd_err_set(err, CLMD_EINPUT, "%s:%d: box %g %g %g %g %g %g is not a valid cell "
                              "(edges must be > 0 and the angles must span a volume)",
                              path, nl, box[0], box[1], box[2], box[3], box[4], box[5]);
    }
done:
    clmd_free(lines);
    clmd_free(buf);
    return rc;
}

/* ---------------------------------------------------------------- entry points */

int clmd_amber_load_opts(const char *prmtop_path, const char *inpcrd, const clmd_amber_opts *opts,
                         clmd_system **out, clmd_err *err)
{
    *out = NULL;
    prmtop p = {0};
    int rc = prmtop_read(&p, prmtop_path, err);
    clmd_system *sys = clmd_system_create();
    snprintf(sys->source, sizeof sys->source, "%s", prmtop_path);
    if (!rc) rc = build_topology(&p, opts, sys, err);
    prmtop_free(&p);
    if (!rc && inpcrd) {
        int has_box = 0;
        double box[6] = {0};
        rc = read_inpcrd(inpcrd, sys, &has_box, box, err);
        if (!rc && has_box)
            clmd_system_set_box_angles(sys, 0.1 * box[0], 0.1 * box[1], 0.1 * box[2], box[3],
                                       box[4], box[5]);
    }
    if (!rc) rc = clmd_system_validate(sys, err);
    if (rc) {
        clmd_system_destroy(&sys);
        return rc;
    }
    *out = sys;
    return CLMD_OK;
}

int clmd_amber_load(const char *prmtop, const char *inpcrd, clmd_system **out, clmd_err *err)
{
    return clmd_amber_load_opts(prmtop, inpcrd, NULL, out, err);
}
