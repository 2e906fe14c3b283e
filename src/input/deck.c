/* The input deck: libyaml loads the document, then one walk over it fills a clmd_deck whose
 * defaults were set first. Every problem is collected with its line:column and dotted key,
 * sorted by position and returned together; nothing here allocates memory the caller keeps. */
#include "input/deck.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/mem.h"

/* ---------------------------------------------------------------- known keys and values */

static const char *const K_TOP[] = {"title", "system", "nonbonded", "implicit_solvent",
                                    "constraints", "constraint_tolerance", "rigid_water",
                                    "velocities", "minimize", "integrator", "replica_exchange",
                                    "output", "device", "probes", NULL};
static const char *const K_MIN[] = {"max_steps", "tolerance", NULL};
static const char *const K_SYSTEM[] = {"builtin", "cells", "reduced_density", "model", "edge",
                                       "forcefield", "amber", "coordinates", "box", NULL};
static const char *const K_AMBER[] = {"prmtop", "inpcrd", NULL};
static const char *const K_NB[] = {"method", "cutoff", "switch_distance", "dispersion_correction",
                                   "reaction_field_dielectric", "ewald_error_tolerance",
                                   "ewald_alpha", "pme_grid", "pme_order", "neighbor_skin", NULL};
static const char *const K_GB[] = {"model", "solvent_dielectric", "solute_dielectric",
                                   "surface_area", "surface_tension", "probe_radius", NULL};
static const char *const K_VEL[] = {"temperature", "seed", NULL};
static const char *const K_INT[] = {"type", "timestep", "temperature", "friction", "steps",
                                    "seed", "remove_com_motion", "com_interval", NULL};
static const char *const K_REMD[] = {"temperatures", "exchange_interval", "exchanges", "seed",
                                     NULL};
static const char *const K_LADDER[] = {"min", "max", "count", NULL};
static const char *const K_OUT[] = {"directory", "trajectory", "energies", "checkpoint",
                                    "overwrite", NULL};
static const char *const K_FILE[] = {"file", "interval", NULL};
static const char *const K_PROBES[] = {"json", NULL};

/* Every mapping the deck has, so that a key written in the wrong section can be pointed home. */
static const struct {
    const char *path;
    const char *const *keys;
} SECTIONS[] = {{"", K_TOP},
                {"system", K_SYSTEM},
                {"system.amber", K_AMBER},
                {"nonbonded", K_NB},
                {"implicit_solvent", K_GB},
                {"velocities", K_VEL},
                {"integrator", K_INT},
                {"replica_exchange", K_REMD},
                {"replica_exchange.temperatures", K_LADDER},
                {"output", K_OUT},
                {"output.trajectory", K_FILE},
                {"output.energies", K_FILE},
                {"output.checkpoint", K_FILE},
                {"probes", K_PROBES}};

/* Enum spellings, in the order of the C enums they map to. */
static const char *const E_BUILTIN[] = {"lj_fcc", "water_box", NULL};
static const char *const E_MODEL[] = {"tip4pew", "tip3p", NULL};
static const char *const E_METHOD[] = {"nocutoff", "cutoff", "reaction_field", "pme", NULL};
static const char *const E_GB[] = {"obc1", "obc2", NULL}; /* clmd_gbmodel minus one */
static const char *const E_SURFACE[] = {"none", "ace", NULL};
static const char *const E_CONSTRAIN[] = {"none", "hbonds", "allbonds", NULL};
static const char *const E_INTEGRATOR[] = {"langevin", "verlet", NULL};

#define MAX_CELLS 500 /* 4*cells^3 atoms must fit an int */

/* ---------------------------------------------------------------- problems */

typedef struct deck_problem {
    int line, column, order;
    char text[640];
} deck_problem;

typedef struct deck_ctx {
    const char *name; /* file name used in messages */
    const char *dir;  /* absolute folder that relative paths resolve against */
    yaml_document_t *doc;
    clmd_deck *d;
    deck_problem *probs;
    int nprob, cap;
} deck_ctx;

static void vproblem(deck_ctx *c, int line, int column, const char *key, const char *fmt,
                     va_list ap)
{
    if (c->nprob == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        c->probs = clmd_realloc(c->probs, (size_t)c->cap * sizeof *c->probs,
                                (size_t)cap * sizeof *c->probs);
        c->cap = cap;
    }
    deck_problem *p = &c->probs[c->nprob];
    p->line = line;
    p->column = column;
    p->order = c->nprob++;
    char what[512];
    vsnprintf(what, sizeof what, fmt, ap);
    if (key)
        snprintf(p->text, sizeof p->text, "%s:%d:%d: key '%s': %s", c->name, line, column, key,
                 what);
    else
        snprintf(p->text, sizeof p->text, "%s:%d:%d: %s", c->name, line, column, what);
}

static void problem(deck_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(deck_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, (int)m.line + 1, (int)m.column + 1, key, fmt, ap);
    va_end(ap);
}

static void problem_at(deck_ctx *c, clmd_mark m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem_at(deck_ctx *c, clmd_mark m, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, m.line > 0 ? m.line : 1, m.column > 0 ? m.column : 1, key, fmt, ap);
    va_end(ap);
}

static int problem_cmp(const void *a, const void *b)
{
    const deck_problem *p = a, *q = b;
    if (p->line != q->line) return p->line < q->line ? -1 : 1;
    if (p->column != q->column) return p->column < q->column ? -1 : 1;
    return p->order - q->order;
}

/* All problems, in file order, one per line; what does not fit err->msg is counted. */
static int report(deck_ctx *c, clmd_err *err)
{
    if (c->nprob == 0) return CLMD_OK;
    qsort(c->probs, (size_t)c->nprob, sizeof *c->probs, problem_cmp);
    char msg[sizeof err->msg];
    size_t len = 0, room = sizeof msg - 48; /* keeps space for the "more problems" line */
    msg[0] = '\0';
    int shown = 0;
    for (int i = 0; i < c->nprob; i++) {
        size_t need = strlen(c->probs[i].text) + (shown ? 1 : 0);
        if (len + need >= room && shown) break;
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", shown ? "\n" : "",
                                c->probs[i].text);
        if (len >= sizeof msg) len = sizeof msg - 1;
        shown++;
    }
    if (shown < c->nprob)
        snprintf(msg + len, sizeof msg - len, "\n(%d more problems not shown)", c->nprob - shown);
    return clmd_err_set(err, CLMD_EINPUT, "%s", msg);
}

/* ---------------------------------------------------------------- small helpers */

static clmd_mark to_mark(yaml_mark_t m)
{
    clmd_mark r = {(int)m.line + 1, (int)m.column + 1};
    return r;
}

/* Copies with zero fill, so equal strings leave equal bytes in the struct. */
static void set_str(char *dst, size_t n, const char *src)
{
    memset(dst, 0, n);
    size_t len = strlen(src);
    memcpy(dst, src, len < n - 1 ? len : n - 1);
}

static void join_key(char *out, size_t n, const char *parent, const char *key)
{
    if (parent && parent[0])
        snprintf(out, n, "%s.%s", parent, key);
    else
        snprintf(out, n, "%s", key);
}

static int streq_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent swaps), case-insensitive. */
static int edit_distance(const char *a, const char *b)
{
    enum { M = 64 };
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > M - 1) la = M - 1;
    if (lb > M - 1) lb = M - 1;
    int t[M][M];
    for (int i = 0; i <= la; i++) t[i][0] = i;
    for (int j = 0; j <= lb; j++) t[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = t[i - 1][j - 1] + (ca != cb);
            if (t[i - 1][j] + 1 < best) best = t[i - 1][j] + 1;
            if (t[i][j - 1] + 1 < best) best = t[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && t[i - 2][j - 2] + 1 < best)
                best = t[i - 2][j - 2] + 1;
            t[i][j] = best;
        }
    return t[la][lb];
}

/* The known word closest to `word`, or NULL when none is close enough to be a likely typo:
 * at most 2 edits, or a third of the longer word, or `word` is the start of a known one. */
static const char *closest(const char *word, const char *const *known)
{
    const char *best = NULL;
    int bestd = INT_MAX;
    size_t lw = strlen(word);
    for (int i = 0; known[i]; i++) {
        int d = edit_distance(word, known[i]);
        size_t lk = strlen(known[i]), lmax = lw > lk ? lw : lk;
        int close = d <= 2 || 3 * (size_t)d <= lmax ||
                    (lw >= 3 && strncasecmp(known[i], word, lw) == 0);
        if (close && d < bestd) {
            bestd = d;
            best = known[i];
        }
    }
    return best;
}

static int in_list(const char *word, const char *const *known)
{
    for (int i = 0; known[i]; i++)
        if (strcmp(word, known[i]) == 0) return 1;
    return 0;
}

static void list_words(char *out, size_t n, const char *const *words)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; words[i] && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", words[i]);
}

/* ---------------------------------------------------------------- nodes */

static yaml_node_t *node(deck_ctx *c, int id) { return yaml_document_get_node(c->doc, id); }

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int is_null(const yaml_node_t *n)
{
    if (!is_plain(n)) return 0;
    const char *s = sval(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* How a node reads in "got ..." messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(n)) return "null";
    if (is_plain(n))
        snprintf(buf, len, "'%.80s'", sval(n));
    else
        snprintf(buf, len, "the quoted string \"%.80s\"", sval(n));
    return buf;
}

/* The value of `key` in mapping `map` (first occurrence), or NULL when absent. */
static yaml_node_t *get(deck_ctx *c, yaml_node_t *map, const char *key, yaml_mark_t *keymark)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0) {
            if (keymark) *keymark = k->start_mark;
            return node(c, p->value);
        }
    }
    return NULL;
}

static void unknown_key(deck_ctx *c, yaml_node_t *k, const char *path, const char *key,
                        const char *const *keys)
{
    const char *near = closest(key, keys);
    if (near) {
        problem(c, k->start_mark, path, "unknown key; did you mean '%s'?", near);
        return;
    }
    /* A key that exists in another section was probably written one level off. */
    char homes[256] = "";
    size_t len = 0;
    int found = 0;
    for (size_t s = 0; s < sizeof SECTIONS / sizeof SECTIONS[0]; s++) {
        if (!in_list(key, SECTIONS[s].keys)) continue;
        char full[128];
        join_key(full, sizeof full, SECTIONS[s].path, key);
        if (strcmp(full, path) == 0) continue;
        len += (size_t)snprintf(homes + len, sizeof homes - len, "%s'%s'", found ? " or " : "",
                                full);
        if (len >= sizeof homes) break;
        found++;
    }
    if (found) {
        problem(c, k->start_mark, path, "unknown key here; did you mean %s?", homes);
        return;
    }
    char all[512];
    list_words(all, sizeof all, keys);
    problem(c, k->start_mark, path, "unknown key (known keys here: %s)", all);
}

/* Checks that n is a mapping of known, distinct, scalar keys. Returns 1 when n is a mapping. */
static int check_map(deck_ctx *c, yaml_node_t *n, const char *path, const char *const *keys)
{
    char buf[128];
    if (n->type != YAML_MAPPING_NODE) {
        problem(c, n->start_mark, path[0] ? path : "(top level)",
                "expected a mapping of keys, got %s", describe(n, buf, sizeof buf));
        return 0;
    }
    yaml_node_pair_t *start = n->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            problem(c, k->start_mark, path[0] ? path : "(top level)",
                    "a key must be a name, got %s", describe(k, buf, sizeof buf));
            continue;
        }
        char full[256];
        join_key(full, sizeof full, path, sval(k));
        int dup = 0;
        for (yaml_node_pair_t *q = start; q < p && !dup; q++) {
            yaml_node_t *k2 = node(c, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp(sval(k2), sval(k)) == 0) {
                problem(c, k->start_mark, full, "duplicate key (first given at %d:%d)",
                        (int)k2->start_mark.line + 1, (int)k2->start_mark.column + 1);
                dup = 1;
            }
        }
        if (!dup && !in_list(sval(k), keys)) unknown_key(c, k, full, sval(k), keys);
    }
    return 1;
}

/* ---------------------------------------------------------------- typed reads */

enum { ABSENT = 0, GOOD = 1, BAD = -1, NUL = 2 };

typedef struct range {
    double lo, hi;
    char has_lo, lo_open, has_hi, hi_open;
} range;
#define ANY ((range){0, 0, 0, 0, 0, 0})
#define GT(a) ((range){(a), 0, 1, 1, 0, 0})
#define GE(a) ((range){(a), 0, 1, 0, 0, 0})
#define OPEN(a, b) ((range){(a), (b), 1, 1, 1, 1})
#define CLOSED(a, b) ((range){(a), (b), 1, 0, 1, 0})

static int check_range(deck_ctx *c, yaml_node_t *v, const char *path, range r, double x)
{
    int ok = (!r.has_lo || (r.lo_open ? x > r.lo : x >= r.lo)) &&
             (!r.has_hi || (r.hi_open ? x < r.hi : x <= r.hi));
    if (ok) return 1;
    if (r.has_lo && r.has_hi)
        problem(c, v->start_mark, path, "must be in %c%g, %g%c (got %s)", r.lo_open ? '(' : '[',
                r.lo, r.hi, r.hi_open ? ')' : ']', sval(v));
    else if (r.has_lo)
        problem(c, v->start_mark, path, "must be %s %g (got %s)", r.lo_open ? ">" : ">=", r.lo,
                sval(v));
    else
        problem(c, v->start_mark, path, "must be %s %g (got %s)", r.hi_open ? "<" : "<=", r.hi,
                sval(v));
    return 0;
}

/* A finite number from a plain scalar; type problems are reported. */
static int scalar_num(deck_ctx *c, yaml_node_t *v, const char *path, int nullable, double *out)
{
    char buf[128];
    if (is_plain(v) && !is_null(v)) {
        const char *s = sval(v);
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (end != s && *end == '\0') {
            if (!isfinite(x)) {
                problem(c, v->start_mark, path, "must be a finite number (got %s)", s);
                return 0;
            }
            *out = x;
            return 1;
        }
    }
    problem(c, v->start_mark, path, "expected a number%s, got %s", nullable ? " or null" : "",
            describe(v, buf, sizeof buf));
    return 0;
}

/* An integer from a plain scalar; 1e6 and 100.0 are accepted when the value is whole. */
static int scalar_int(deck_ctx *c, yaml_node_t *v, const char *path, long *out)
{
    char buf[128];
    if (is_plain(v) && !is_null(v)) {
        const char *s = sval(v);
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end != s && *end == '\0' && errno == 0) {
            *out = x;
            return 1;
        }
        double y = strtod(s, &end);
        if (end != s && *end == '\0' && isfinite(y) && y == floor(y) && fabs(y) < 9.0e18) {
            *out = (long)y;
            return 1;
        }
        if (end != s && *end == '\0') {
            problem(c, v->start_mark, path, "expected a whole number, got %s", s);
            return 0;
        }
    }
    problem(c, v->start_mark, path, "expected an integer, got %s", describe(v, buf, sizeof buf));
    return 0;
}

static int rd_num(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key, range r,
                  int nullable, double *out, clmd_mark *km)
{
    char path[256];
    join_key(path, sizeof path, parent, key);
    yaml_mark_t m;
    yaml_node_t *v = get(c, map, key, &m);
    if (!v) return ABSENT;
    if (km) *km = to_mark(m);
    if (nullable && is_null(v)) return NUL;
    double x;
    if (!scalar_num(c, v, path, nullable, &x) || !check_range(c, v, path, r, x)) return BAD;
    *out = x;
    return GOOD;
}

static int rd_long(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key, range r,
                   long *out, clmd_mark *km)
{
    char path[256];
    join_key(path, sizeof path, parent, key);
    yaml_mark_t m;
    yaml_node_t *v = get(c, map, key, &m);
    if (!v) return ABSENT;
    if (km) *km = to_mark(m);
    long x;
    if (!scalar_int(c, v, path, &x) || !check_range(c, v, path, r, (double)x)) return BAD;
    *out = x;
    return GOOD;
}

static int rd_int(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key, range r,
                  int *out, clmd_mark *km)
{
    long x = *out;
    int st = rd_long(c, map, parent, key, r, &x, km);
    if (st == GOOD && (x < INT_MIN || x > INT_MAX)) {
        char path[256];
        join_key(path, sizeof path, parent, key);
        problem(c, get(c, map, key, NULL)->start_mark, path, "too large (got %ld)", x);
        return BAD;
    }
    if (st == GOOD) *out = (int)x;
    return st;
}

static int rd_seed(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                   unsigned long *out)
{
    char path[256], buf[128];
    join_key(path, sizeof path, parent, key);
    yaml_node_t *v = get(c, map, key, NULL);
    if (!v) return ABSENT;
    if (is_plain(v) && !is_null(v)) {
        const char *s = sval(v);
        char *end;
        errno = 0;
        unsigned long x = strtoul(s, &end, 10);
        if (isdigit((unsigned char)s[0]) && *end == '\0' && errno == 0) {
            *out = x;
            return GOOD;
        }
    }
    problem(c, v->start_mark, path, "expected a non-negative integer seed below 2^64, got %s",
            describe(v, buf, sizeof buf));
    return BAD;
}

static int rd_bool(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key, int *out)
{
    char path[256], buf[128];
    join_key(path, sizeof path, parent, key);
    yaml_node_t *v = get(c, map, key, NULL);
    if (!v) return ABSENT;
    if (is_plain(v)) {
        const char *s = sval(v);
        if (streq_ci(s, "true") || streq_ci(s, "yes")) {
            *out = 1;
            return GOOD;
        }
        if (streq_ci(s, "false") || streq_ci(s, "no")) {
            *out = 0;
            return GOOD;
        }
    }
    problem(c, v->start_mark, path, "expected true or false (yes/no), got %s",
            describe(v, buf, sizeof buf));
    return BAD;
}

/* A scalar that must be one of `names` (case-insensitive); *out is its index. */
static int enum_value(deck_ctx *c, yaml_node_t *v, const char *path, const char *const *names,
                      int *out)
{
    char buf[128], all[256];
    if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
        for (int i = 0; names[i]; i++)
            if (streq_ci(sval(v), names[i])) {
                *out = i;
                return 1;
            }
    }
    list_words(all, sizeof all, names);
    const char *near = v->type == YAML_SCALAR_NODE ? closest(sval(v), names) : NULL;
    if (near)
        problem(c, v->start_mark, path, "expected one of %s; got %s (did you mean '%s'?)", all,
                describe(v, buf, sizeof buf), near);
    else
        problem(c, v->start_mark, path, "expected one of %s; got %s", all,
                describe(v, buf, sizeof buf));
    return 0;
}

static int rd_enum(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                   const char *const *names, int *out, clmd_mark *km)
{
    char path[256];
    join_key(path, sizeof path, parent, key);
    yaml_mark_t m;
    yaml_node_t *v = get(c, map, key, &m);
    if (!v) return ABSENT;
    if (km) *km = to_mark(m);
    int x;
    if (!enum_value(c, v, path, names, &x)) return BAD;
    *out = x;
    return GOOD;
}

/* Any scalar as text; null gives NUL when allowed. */
static int rd_str(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                  int nullable, char *out, size_t n, clmd_mark *km)
{
    char path[256];
    join_key(path, sizeof path, parent, key);
    yaml_mark_t m;
    yaml_node_t *v = get(c, map, key, &m);
    if (!v) return ABSENT;
    if (km) *km = to_mark(m);
    if (nullable && is_null(v)) return NUL;
    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        char buf[128];
        problem(c, v->start_mark, path, "expected a string%s, got %s", nullable ? " or null" : "",
                describe(v, buf, sizeof buf));
        return BAD;
    }
    if (v->data.scalar.length >= n) {
        problem(c, v->start_mark, path, "too long (at most %zu characters)", n - 1);
        return BAD;
    }
    set_str(out, n, sval(v));
    return GOOD;
}

/* Appends the path segments of `p` to out (absolute), dropping "" and "." segments. */
static void push_segments(char *out, size_t n, size_t *len, const char *p)
{
    while (*p) {
        while (*p == '/') p++;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t seg = (size_t)(e - p);
        if (seg && !(seg == 1 && p[0] == '.')) {
            if (*len + seg + 1 < n) {
                out[(*len)++] = '/';
                memcpy(out + *len, p, seg);
                *len += seg;
                out[*len] = '\0';
            } else {
                *len = n; /* marks overflow */
                return;
            }
        }
        p = e;
    }
}

/* `rel` against absolute `dir`; returns 0 when the result does not fit. */
static int resolve(const char *dir, const char *rel, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    if (rel[0] != '/') push_segments(out, n, &len, dir);
    if (len < n) push_segments(out, n, &len, rel);
    if (len >= n) return 0;
    if (len == 0) snprintf(out, n, "/");
    return 1;
}

static int abs_dir(const char *dir, char *out, size_t n)
{
    if (!dir || !dir[0]) dir = ".";
    if (dir[0] == '/') return resolve("/", dir, out, n);
    char cwd[CLMD_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return 0;
    return resolve(cwd, dir, out, n);
}

/* A path resolved against the deck's folder; must_read checks that it is a readable file. */
static int rd_path(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                   int nullable, int must_read, char *out, size_t n, clmd_mark *km)
{
    char path[256], text[CLMD_PATH_MAX];
    join_key(path, sizeof path, parent, key);
    int st = rd_str(c, map, parent, key, nullable, text, sizeof text, km);
    if (st != GOOD) return st;
    yaml_node_t *v = get(c, map, key, NULL);
    if (!text[0]) {
        problem(c, v->start_mark, path, "the path is empty");
        return BAD;
    }
    char full[CLMD_PATH_MAX];
    if (!resolve(c->dir, text, full, sizeof full) || strlen(full) >= n) {
        problem(c, v->start_mark, path, "the resolved path is too long (at most %zu characters)",
                n - 1);
        return BAD;
    }
    if (must_read) {
        struct stat sb;
        if (stat(full, &sb) != 0 || access(full, R_OK) != 0) {
            problem(c, v->start_mark, path, "cannot read '%s': %s", full, strerror(errno));
            return BAD;
        }
        if (S_ISDIR(sb.st_mode)) {
            problem(c, v->start_mark, path, "'%s' is a directory, not a file", full);
            return BAD;
        }
    }
    set_str(out, n, full);
    return GOOD;
}

/* A required key is absent: reported at the mapping that should hold it. */
static void missing(deck_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                    const char *why)
{
    char path[256];
    join_key(path, sizeof path, parent, key);
    problem(c, map->start_mark, path, "required key is missing%s%s", why ? ": " : "",
            why ? why : "");
}

/* ---------------------------------------------------------------- sections */

static void parse_box(deck_ctx *c, yaml_node_t *sys)
{
    clmd_deck *d = c->d;
    yaml_mark_t m;
    yaml_node_t *v = get(c, sys, "box", &m);
    if (!v) return;
    d->system.box_mark = to_mark(m);
    if (is_null(v)) return;
    int n = v->type == YAML_SEQUENCE_NODE
                ? (int)(v->data.sequence.items.top - v->data.sequence.items.start)
                : -1;
    if (n != 3) {
        char buf[128];
        if (n >= 0) snprintf(buf, sizeof buf, "a list of %d", n);
        problem(c, v->start_mark, "system.box",
                "expected a list of three edge lengths [x, y, z] in nm, got %s",
                n < 0 ? describe(v, buf, sizeof buf) : buf);
        return;
    }
    double box[3];
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        yaml_node_t *e = node(c, v->data.sequence.items.start[i]);
        char path[64];
        snprintf(path, sizeof path, "system.box[%d]", i);
        if (!scalar_num(c, e, path, 0, &box[i]) || !check_range(c, e, path, GT(0), box[i]))
            ok = 0;
    }
    if (!ok) return;
    d->system.has_box = 1;
    memcpy(d->system.box, box, sizeof box);
}

static int has_suffix_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && streq_ci(s + ls - lx, suffix);
}

static void parse_system(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    yaml_mark_t sm;
    yaml_node_t *sys = get(c, root, "system", &sm);
    if (!sys) {
        missing(c, root, "", "system",
                "give the system's source (builtin, amber or coordinates)");
        return;
    }
    d->system.mark = to_mark(sm);
    if (is_null(sys)) {
        problem(c, sys->start_mark, "system",
                "no system source: give exactly one of builtin, amber, coordinates");
        return;
    }
    if (!check_map(c, sys, "system", K_SYSTEM)) return;

    /* Exactly one source. */
    static const char *const sources[] = {"builtin", "amber", "coordinates"};
    yaml_mark_t first_mark = {0, 0, 0};
    int nsrc = 0, kind = -1;
    for (int i = 0; i < 3; i++) {
        yaml_mark_t m;
        if (!get(c, sys, sources[i], &m)) continue;
        if (nsrc == 0) {
            first_mark = m;
            kind = i;
            d->system.source_mark = to_mark(m);
        } else {
            char path[64];
            join_key(path, sizeof path, "system", sources[i]);
            problem(c, m, path, "more than one system source (%s is given at %d:%d); give exactly "
                                "one of builtin, amber, coordinates",
                    sources[kind], (int)first_mark.line + 1, (int)first_mark.column + 1);
        }
        nsrc++;
    }
    if (nsrc == 0)
        problem(c, sys->start_mark, "system",
                "no system source: give exactly one of builtin, amber, coordinates");

    /* Read every key, so that all problems show; keep only what the source uses. */
    int builtin = CLMD_BUILTIN_LJ_FCC, model = 0;
    int cells = d->system.cells;
    double density = d->system.reduced_density, edge = d->system.edge_nm;
    int has_builtin =
        rd_enum(c, sys, "system", "builtin", E_BUILTIN, &builtin, NULL) == GOOD;
    rd_int(c, sys, "system", "cells", CLOSED(1, MAX_CELLS), &cells, NULL);
    rd_num(c, sys, "system", "reduced_density", GT(0), 0, &density, NULL);
    rd_enum(c, sys, "system", "model", E_MODEL, &model, NULL);
    rd_num(c, sys, "system", "edge", GT(0), 0, &edge, NULL);

    yaml_mark_t am;
    yaml_node_t *amber = get(c, sys, "amber", &am);
    if (amber) {
        if (is_null(amber) || amber->type != YAML_MAPPING_NODE) {
            char buf[128];
            problem(c, amber->start_mark, "system.amber",
                    "expected a mapping {prmtop: FILE, inpcrd: FILE}, got %s",
                    describe(amber, buf, sizeof buf));
        } else if (check_map(c, amber, "system.amber", K_AMBER)) {
            if (rd_path(c, amber, "system.amber", "prmtop", 0, 1, d->system.prmtop,
                        sizeof d->system.prmtop, &d->system.prmtop_mark) == ABSENT)
                missing(c, amber, "system.amber", "prmtop", NULL);
            if (rd_path(c, amber, "system.amber", "inpcrd", 0, 1, d->system.inpcrd,
                        sizeof d->system.inpcrd, &d->system.inpcrd_mark) == ABSENT)
                missing(c, amber, "system.amber", "inpcrd", NULL);
        }
    }
    if (rd_path(c, sys, "system", "coordinates", 0, 1, d->system.coordinates,
                sizeof d->system.coordinates, &d->system.coordinates_mark) == GOOD) {
        const char *p = d->system.coordinates;
        if (!has_suffix_ci(p, ".pdb") && !has_suffix_ci(p, ".ent") && !has_suffix_ci(p, ".xyz")) {
            yaml_node_t *v = get(c, sys, "coordinates", NULL);
            problem(c, v->start_mark, "system.coordinates",
                    "the format is taken from the file name: expected a .pdb, .ent or .xyz file, "
                    "got '%s'", p);
        }
    }
    yaml_mark_t fm;
    yaml_node_t *ff = get(c, sys, "forcefield", &fm);
    int st = rd_path(c, sys, "system", "forcefield", 1, 1, d->system.forcefield,
                     sizeof d->system.forcefield, &d->system.forcefield_mark);
    if (kind == CLMD_SRC_AMBER && ff && st != NUL)
        problem(c, fm, "system.forcefield",
                "not used with an amber source: the prmtop holds the parameters");
    if (kind == CLMD_SRC_COORDS && (st == ABSENT || st == NUL))
        missing(c, st == NUL ? ff : sys, "system", "forcefield",
                "a coordinates source needs a force-field file for its parameters");
    parse_box(c, sys);

    if (kind >= 0) d->system.kind = (clmd_source_kind)kind;
    if (kind == CLMD_SRC_BUILTIN && has_builtin) {
        d->system.builtin = (clmd_builtin_kind)builtin;
        if (builtin == CLMD_BUILTIN_LJ_FCC) {
            d->system.cells = cells;
            d->system.reduced_density = density;
        } else {
            set_str(d->system.model, sizeof d->system.model, E_MODEL[model]);
            d->system.edge_nm = edge;
        }
    }
    if (kind != CLMD_SRC_AMBER) {
        memset(d->system.prmtop, 0, sizeof d->system.prmtop);
        memset(d->system.inpcrd, 0, sizeof d->system.inpcrd);
    }
}

/* Marks whether each nonbonded value that cross-checks use was read without a problem. */
typedef struct nb_state {
    int cutoff_bad, switch_bad, order_bad, grid_bad, method_bad;
    yaml_mark_t switch_at, grid_at;
    int switch_given, grid_given;
} nb_state;

static void parse_nonbonded(deck_ctx *c, yaml_node_t *root, nb_state *s)
{
    clmd_deck *d = c->d;
    clmd_ffopts *o = &d->ff;
    const char *P = "nonbonded";
    yaml_mark_t km;
    yaml_node_t *nb = get(c, root, P, &km);
    if (!nb) return;
    d->nonbonded_mark = to_mark(km);
    if (is_null(nb) || !check_map(c, nb, P, K_NB)) return;

    int method = (int)o->method;
    s->method_bad = rd_enum(c, nb, P, "method", E_METHOD, &method, &d->method_mark) == BAD;
    o->method = (clmd_nbmethod)method;
    s->cutoff_bad = rd_num(c, nb, P, "cutoff", GT(0), 0, &o->cutoff_nm, &d->cutoff_mark) == BAD;
    double sw = 0;
    int st = rd_num(c, nb, P, "switch_distance", GT(0), 1, &sw, NULL);
    s->switch_bad = st == BAD;
    if (st == GOOD) {
        o->switch_nm = sw;
        s->switch_given = 1;
        s->switch_at = get(c, nb, "switch_distance", NULL)->start_mark;
    }
    rd_bool(c, nb, P, "dispersion_correction", &o->dispersion_correction);
    rd_num(c, nb, P, "reaction_field_dielectric", GT(0), 0, &o->rf_dielectric, NULL);
    rd_num(c, nb, P, "ewald_error_tolerance", OPEN(0, 1), 0, &o->ewald_tolerance, NULL);
    double alpha = 0;
    if (rd_num(c, nb, P, "ewald_alpha", GT(0), 1, &alpha, NULL) == GOOD) o->ewald_alpha = alpha;
    s->order_bad = rd_int(c, nb, P, "pme_order", CLOSED(3, 12), &o->pme_order, NULL) == BAD;
    {
        /* a number fixes the buffer; "auto" (the default) lets the engine tune it from 0.1 nm */
        yaml_node_t *sk = get(c, nb, "neighbor_skin", NULL);
        if (sk && sk->type == YAML_SCALAR_NODE && streq_ci(sval(sk), "auto")) {
            o->skin_auto = 1;
        } else if (rd_num(c, nb, P, "neighbor_skin", GE(0), 0, &o->skin_nm, NULL) == GOOD) {
            o->skin_auto = 0;
        }
    }

    yaml_node_t *g = get(c, nb, "pme_grid", NULL);
    if (g && !is_null(g)) {
        int n = g->type == YAML_SEQUENCE_NODE
                    ? (int)(g->data.sequence.items.top - g->data.sequence.items.start)
                    : -1;
        if (n != 3) {
            char buf[128];
            if (n >= 0) snprintf(buf, sizeof buf, "a list of %d", n);
            problem(c, g->start_mark, "nonbonded.pme_grid",
                    "expected null or a list of three grid sizes [nx, ny, nz], got %s",
                    n < 0 ? describe(g, buf, sizeof buf) : buf);
            s->grid_bad = 1;
        } else {
            int grid[3];
            for (int i = 0; i < 3; i++) {
                yaml_node_t *e = node(c, g->data.sequence.items.start[i]);
                char path[64];
                long x = 0;
                snprintf(path, sizeof path, "nonbonded.pme_grid[%d]", i);
                if (!scalar_int(c, e, path, &x) || !check_range(c, e, path, CLOSED(1, 65536), x))
                    s->grid_bad = 1;
                grid[i] = (int)x;
            }
            if (!s->grid_bad) {
                memcpy(o->pme_grid, grid, sizeof grid);
                s->grid_given = 1;
                s->grid_at = g->start_mark;
            }
        }
    }
}

static void parse_implicit(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    clmd_ffopts *o = &d->ff;
    const char *P = "implicit_solvent";
    yaml_mark_t km;
    yaml_node_t *gb = get(c, root, P, &km);
    if (!gb) return;
    d->implicit_solvent_mark = to_mark(km);
    if (is_null(gb)) return;
    if (!check_map(c, gb, P, K_GB)) return;
    int model = 0;
    int st = rd_enum(c, gb, P, "model", E_GB, &model, NULL);
    if (st == ABSENT) missing(c, gb, P, "model", "obc1 or obc2");
    if (st == GOOD) o->gb_model = (clmd_gbmodel)(model + 1);
    rd_num(c, gb, P, "solvent_dielectric", GT(0), 0, &o->solvent_dielectric, NULL);
    rd_num(c, gb, P, "solute_dielectric", GT(0), 0, &o->solute_dielectric, NULL);
    rd_enum(c, gb, P, "surface_area", E_SURFACE, &o->surface_area, NULL);
    rd_num(c, gb, P, "surface_tension", GE(0), 0, &o->sa_energy, NULL);
    rd_num(c, gb, P, "probe_radius", GT(0), 0, &o->probe_radius_nm, NULL);
}

static void parse_velocities(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    const char *P = "velocities";
    yaml_mark_t km;
    yaml_node_t *v = get(c, root, P, &km);
    if (!v) return;
    d->velocities.mark = to_mark(km);
    char buf[128];
    if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
        if (streq_ci(sval(v), "from_input")) {
            d->velocities.given = 1;
            d->velocities.from_input = 1;
        } else {
            const char *near = closest(sval(v), (const char *const[]){"from_input", NULL});
            problem(c, v->start_mark, P,
                    "expected a mapping {temperature, seed} or from_input, got %s%s",
                    describe(v, buf, sizeof buf), near ? " (did you mean 'from_input'?)" : "");
        }
        return;
    }
    if (v->type != YAML_MAPPING_NODE) {
        problem(c, v->start_mark, P, "expected a mapping {temperature, seed} or from_input, got %s",
                describe(v, buf, sizeof buf));
        return;
    }
    if (!check_map(c, v, P, K_VEL)) return;
    d->velocities.given = 1;
    d->velocities.temperature = -1; /* the integrator's, filled in later */
    rd_num(c, v, P, "temperature", GE(0), 0, &d->velocities.temperature, NULL);
    rd_seed(c, v, P, "seed", &d->velocities.seed);
}

static void parse_integrator(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    const char *P = "integrator";
    yaml_mark_t km;
    yaml_node_t *in = get(c, root, P, &km);
    if (!in) return;
    d->integrator.mark = to_mark(km);
    if (is_null(in) || !check_map(c, in, P, K_INT)) return;
    int type = (int)d->integrator.type;
    if (rd_enum(c, in, P, "type", E_INTEGRATOR, &type, NULL) == GOOD)
        d->integrator.type = (clmd_integrator_kind)type;
    rd_num(c, in, P, "timestep", GT(0), 0, &d->integrator.timestep_ps, NULL);
    rd_num(c, in, P, "temperature", GT(0), 0, &d->integrator.temperature, NULL);
    rd_num(c, in, P, "friction", GE(0), 0, &d->integrator.friction, NULL);
    rd_long(c, in, P, "steps", GE(0), &d->integrator.steps, NULL);
    rd_seed(c, in, P, "seed", &d->integrator.seed);
    rd_bool(c, in, P, "remove_com_motion", &d->integrator.remove_com_motion);
    rd_int(c, in, P, "com_interval", GE(1), &d->integrator.com_interval, NULL);
}

static void parse_ladder(deck_ctx *c, yaml_node_t *t)
{
    clmd_deck *d = c->d;
    const char *P = "replica_exchange.temperatures";
    if (t->type == YAML_SEQUENCE_NODE) {
        int n = (int)(t->data.sequence.items.top - t->data.sequence.items.start);
        if (n < 2 || n > CLMD_MAX_REPLICAS) {
            problem(c, t->start_mark, P, "needs 2 to %d temperatures, got %d", CLMD_MAX_REPLICAS,
                    n);
            return;
        }
        int ok = 1;
        double prev = 0;
        for (int i = 0; i < n; i++) {
            yaml_node_t *e = node(c, t->data.sequence.items.start[i]);
            char path[96];
            double x;
            snprintf(path, sizeof path, "%s[%d]", P, i);
            if (!scalar_num(c, e, path, 0, &x) || !check_range(c, e, path, GT(0), x)) {
                ok = 0;
                continue;
            }
            if (i > 0 && ok && !(x > prev)) {
                problem(c, e->start_mark, path,
                        "temperatures must be strictly ascending (%s after %g)", sval(e), prev);
                ok = 0;
            }
            prev = x;
            d->remd.temps[i] = x;
        }
        if (ok) d->remd.ntemps = n;
        return;
    }
    if (t->type != YAML_MAPPING_NODE) {
        char buf[128];
        problem(c, t->start_mark, P,
                "expected {min, max, count} or an ascending list of temperatures, got %s",
                describe(t, buf, sizeof buf));
        return;
    }
    if (!check_map(c, t, P, K_LADDER)) return;
    double tmin = 0, tmax = 0;
    int count = 0;
    int smin = rd_num(c, t, P, "min", GT(0), 0, &tmin, NULL);
    int smax = rd_num(c, t, P, "max", GT(0), 0, &tmax, NULL);
    int scount = rd_int(c, t, P, "count", CLOSED(2, CLMD_MAX_REPLICAS), &count, NULL);
    if (smin == ABSENT) missing(c, t, P, "min", NULL);
    if (smax == ABSENT) missing(c, t, P, "max", NULL);
    if (scount == ABSENT) missing(c, t, P, "count", NULL);
    if (smin != GOOD || smax != GOOD || scount != GOOD) return;
    if (!(tmax > tmin)) {
        problem(c, get(c, t, "max", NULL)->start_mark, "replica_exchange.temperatures.max",
                "must be greater than min (%g)", tmin);
        return;
    }
    /* Geometric spacing gives roughly equal exchange rates when the heat capacity is flat. */
    for (int i = 0; i < count; i++)
        d->remd.temps[i] = tmin * pow(tmax / tmin, (double)i / (count - 1));
    d->remd.temps[0] = tmin;
    d->remd.temps[count - 1] = tmax;
    d->remd.ntemps = count;
}

static void parse_remd(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    const char *P = "replica_exchange";
    yaml_mark_t km;
    yaml_node_t *r = get(c, root, P, &km);
    if (!r) return;
    d->remd.mark = to_mark(km);
    if (is_null(r) || !check_map(c, r, P, K_REMD)) return;
    d->remd.enabled = 1;
    yaml_node_t *t = get(c, r, "temperatures", NULL);
    if (!t)
        missing(c, r, P, "temperatures", "{min, max, count} or an ascending list");
    else
        parse_ladder(c, t);
    rd_long(c, r, P, "exchange_interval", GE(1), &d->remd.exchange_interval, NULL);
    rd_long(c, r, P, "exchanges", GE(1), &d->remd.exchanges, NULL);
    rd_seed(c, r, P, "seed", &d->remd.seed);
}

/* One output stream: absent keeps the default, null turns it off, {file, interval} sets it;
 * interval 0 also turns it off. */
static void parse_stream(deck_ctx *c, yaml_node_t *out, const char *key, const char *def_file,
                         long def_interval, char *file, size_t n, long *interval)
{
    char P[64];
    join_key(P, sizeof P, "output", key);
    yaml_node_t *v = get(c, out, key, NULL);
    if (!v) return;
    if (is_null(v)) {
        memset(file, 0, n);
        *interval = 0;
        return;
    }
    if (v->type != YAML_MAPPING_NODE) {
        char buf[128];
        problem(c, v->start_mark, P, "expected null or a mapping {file, interval}, got %s",
                describe(v, buf, sizeof buf));
        return;
    }
    if (!check_map(c, v, P, K_FILE)) return;
    char name[CLMD_PATH_MAX];
    long every = def_interval;
    set_str(name, sizeof name, def_file);
    int sf = rd_str(c, v, P, "file", 0, name, sizeof name, NULL);
    if (sf == GOOD && !name[0]) {
        problem(c, get(c, v, "file", NULL)->start_mark, P, "the file name is empty");
        sf = BAD;
    }
    int si = rd_long(c, v, P, "interval", GE(0), &every, NULL);
    if (sf == BAD || si == BAD) return;
    if (every == 0) {
        memset(file, 0, n);
        *interval = 0;
        return;
    }
    set_str(file, n, name);
    *interval = every;
}

static void parse_output(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    const char *P = "output";
    yaml_mark_t km;
    yaml_node_t *o = get(c, root, P, &km);
    if (!o) return;
    d->output.mark = to_mark(km);
    if (is_null(o) || !check_map(c, o, P, K_OUT)) return;
    rd_path(c, o, P, "directory", 0, 0, d->output.directory, sizeof d->output.directory, NULL);
    parse_stream(c, o, "trajectory", "traj.h5", 1000, d->output.trajectory,
                 sizeof d->output.trajectory, &d->output.trajectory_interval);
    parse_stream(c, o, "energies", "energies.csv", 100, d->output.energies,
                 sizeof d->output.energies, &d->output.energies_interval);
    parse_stream(c, o, "checkpoint", "state.chk", 10000, d->output.checkpoint,
                 sizeof d->output.checkpoint, &d->output.checkpoint_interval);
    rd_bool(c, o, P, "overwrite", &d->output.overwrite);
}

static void parse_device(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    char dev[sizeof d->device];
    if (rd_str(c, root, "", "device", 0, dev, sizeof dev, &d->device_mark) != GOOD) return;
    yaml_node_t *v = get(c, root, "device", NULL);
    /* PLATFORM_SUBSTRING[:INDEX]: the index, when present, must be a device number. */
    const char *colon = strrchr(dev, ':');
    int ok = dev[0] != '\0';
    if (ok && colon) {
        char *end;
        errno = 0;
        long idx = strtol(colon + 1, &end, 10);
        ok = colon != dev && end != colon + 1 && *end == '\0' && errno == 0 && idx >= 0;
    }
    if (!ok) {
        problem(c, v->start_mark, "device",
                "expected auto, reference or PLATFORM_SUBSTRING[:INDEX] (e.g. pocl, nvidia:0), "
                "got '%s'", dev);
        return;
    }
    set_str(d->device, sizeof d->device, dev);
}

static void parse_minimize(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    const char *P = "minimize";
    yaml_mark_t km;
    yaml_node_t *m = get(c, root, P, &km);
    if (!m) return;
    d->minimize.mark = to_mark(km);
    if (is_null(m) || !check_map(c, m, P, K_MIN)) return;
    d->minimize.enabled = 1;
    rd_long(c, m, P, "max_steps", GE(1), &d->minimize.max_steps, NULL);
    rd_num(c, m, P, "tolerance", GT(0), 0, &d->minimize.tolerance, NULL);
}

static void parse_probes(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    yaml_mark_t km;
    yaml_node_t *p = get(c, root, "probes", &km);
    if (!p) return;
    d->probes_mark = to_mark(km);
    if (is_null(p) || !check_map(c, p, "probes", K_PROBES)) return;
    rd_path(c, p, "probes", "json", 1, 0, d->probes_json, sizeof d->probes_json, NULL);
}

/* Checks between sections, each made only when the values involved were read cleanly. */
static void cross_checks(deck_ctx *c, yaml_node_t *root, const nb_state *s)
{
    clmd_deck *d = c->d;
    const clmd_ffopts *o = &d->ff;
    if (s->switch_given && !s->cutoff_bad && !(o->switch_nm < o->cutoff_nm))
        problem(c, s->switch_at, "nonbonded.switch_distance",
                "must be less than the cutoff (%g nm)", o->cutoff_nm);
    if (s->grid_given && !s->order_bad)
        for (int i = 0; i < 3; i++)
            if (o->pme_grid[i] < o->pme_order) {
                char key[64];
                snprintf(key, sizeof key, "nonbonded.pme_grid[%d]", i);
                problem(c, s->grid_at, key,
                        "each grid size must be at least pme_order (%d), got %d", o->pme_order,
                        o->pme_grid[i]);
            }
    if (o->gb_model != CLMD_GB_NONE && o->method == CLMD_NB_PME && !s->method_bad)
        problem_at(c, d->implicit_solvent_mark, "implicit_solvent",
                   "implicit solvent needs nonbonded.method nocutoff, cutoff or reaction_field, "
                   "not pme");
    if (d->remd.enabled && d->integrator.type == CLMD_INT_VERLET)
        problem_at(c, d->remd.mark, "replica_exchange",
                   "replica exchange needs a thermostat: set integrator.type to langevin");
    if (d->velocities.from_input && d->system.source_mark.line && d->system.kind != CLMD_SRC_AMBER)
        problem_at(c, d->velocities.mark, "velocities",
                   "from_input needs an amber source whose inpcrd holds velocities; a %s has none",
                   d->system.kind == CLMD_SRC_BUILTIN ? "builtin system" : "coordinates file");
    /* Minimum image: a periodic cutoff must fit in half the shortest box edge. */
    if (o->method != CLMD_NB_NOCUTOFF && !s->cutoff_bad && !s->method_bad) {
        double edge = 0;
        const char *what = NULL;
        if (d->system.has_box) {
            edge = fmin(d->system.box[0], fmin(d->system.box[1], d->system.box[2]));
            what = "system.box";
        } else if (d->system.kind == CLMD_SRC_BUILTIN &&
                   d->system.builtin == CLMD_BUILTIN_WATER_BOX && d->system.source_mark.line) {
            edge = d->system.edge_nm;
            what = "system.edge";
        }
        if (what && o->cutoff_nm > 0.5 * edge) {
            clmd_mark at = d->cutoff_mark.line ? d->cutoff_mark
                           : d->system.has_box ? d->system.box_mark
                                               : d->system.source_mark;
            problem_at(c, at, "nonbonded.cutoff",
                       "the cutoff (%g nm) exceeds half the shortest box edge (%s: %g nm)",
                       o->cutoff_nm, what, edge);
        }
    }
    (void)root;
}

/* ---------------------------------------------------------------- entry points */

void clmd_deck_defaults(clmd_deck *d)
{
    memset(d, 0, sizeof *d);
    d->system.kind = CLMD_SRC_BUILTIN;
    d->system.builtin = CLMD_BUILTIN_LJ_FCC;
    d->system.cells = 10;
    d->system.reduced_density = 0.8442;
    set_str(d->system.model, sizeof d->system.model, "tip4pew");
    d->system.edge_nm = 3.0;
    clmd_ffopts_defaults(&d->ff);
    d->constraints = CLMD_CONSTRAIN_NONE;
    d->constraint_tolerance = 1e-6;
    d->rigid_water = 1;
    d->minimize.max_steps = 1000;
    d->minimize.tolerance = 10.0;
    d->velocities.temperature = 300.0;
    d->velocities.seed = 1;
    d->integrator.type = CLMD_INT_LANGEVIN;
    d->integrator.timestep_ps = 0.002;
    d->integrator.temperature = 300.0;
    d->integrator.friction = 1.0;
    d->integrator.steps = 1000;
    d->integrator.seed = 1;
    d->integrator.remove_com_motion = 1;
    d->integrator.com_interval = 100;
    d->remd.exchange_interval = 500;
    d->remd.exchanges = 100;
    d->remd.seed = 11;
    set_str(d->output.energies, sizeof d->output.energies, "energies.csv");
    d->output.energies_interval = 100;
    set_str(d->device, sizeof d->device, "auto");
}

/* Line and column (1-based) of a byte offset, for reader errors that carry only the offset. */
static void offset_to_mark(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void syntax_problem(deck_ctx *c, yaml_parser_t *p, const char *text)
{
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_to_mark(text, p->problem_offset, &line, &col);
        clmd_mark m = {line, col};
        problem_at(c, m, NULL, "YAML syntax error: %s", p->problem ? p->problem : "unreadable");
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        clmd_mark m = {1, 1};
        problem_at(c, m, NULL, "YAML syntax error: out of memory");
        return;
    }
    if (p->context)
        problem(c, p->problem_mark, NULL, "YAML syntax error: %s (%s at %d:%d)",
                p->problem ? p->problem : "?", p->context, (int)p->context_mark.line + 1,
                (int)p->context_mark.column + 1);
    else
        problem(c, p->problem_mark, NULL, "YAML syntax error: %s", p->problem ? p->problem : "?");
}

static void parse_document(deck_ctx *c, yaml_node_t *root)
{
    clmd_deck *d = c->d;
    if (!root) {
        clmd_mark m = {1, 1};
        problem_at(c, m, "system", "the deck is empty; the system key is required");
        return;
    }
    if (!check_map(c, root, "", K_TOP)) return;
    nb_state nbs = {0};
    char title[sizeof d->title];
    int st = rd_str(c, root, "", "title", 1, title, sizeof title, NULL);
    if (st == GOOD) set_str(d->title, sizeof d->title, title);
    parse_system(c, root);
    parse_nonbonded(c, root, &nbs);
    parse_implicit(c, root);
    int con = (int)d->constraints;
    if (rd_enum(c, root, "", "constraints", E_CONSTRAIN, &con, &d->constraints_mark) == GOOD)
        d->constraints = (clmd_constrain_kind)con;
    rd_num(c, root, "", "constraint_tolerance", OPEN(0, 1), 0, &d->constraint_tolerance, NULL);
    rd_bool(c, root, "", "rigid_water", &d->rigid_water);
    parse_velocities(c, root);
    parse_minimize(c, root);
    parse_integrator(c, root);
    parse_remd(c, root);
    parse_output(c, root);
    parse_device(c, root);
    parse_probes(c, root);
    if (d->velocities.temperature < 0 || !d->velocities.given || d->velocities.from_input)
        d->velocities.temperature = d->integrator.temperature;
    cross_checks(c, root, &nbs);
}

static int parse_text(const char *text, size_t len, const char *name, const char *dir,
                      clmd_deck *d, clmd_err *err)
{
    clmd_deck_defaults(d);
    set_str(d->path, sizeof d->path, name ? name : "(deck)");
    if (!abs_dir(dir, d->dir, sizeof d->dir))
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot resolve the deck's folder '%s'",
                            d->path, dir ? dir : ".");
    if (!resolve(d->dir, "out", d->output.directory, sizeof d->output.directory))
        return clmd_err_set(err, CLMD_EINPUT, "%s: the deck's folder path is too long", d->path);

    deck_ctx c = {0};
    c.name = d->path;
    c.dir = d->dir;
    c.d = d;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot start the YAML parser", d->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_problem(&c, &parser, text);
    } else {
        c.doc = &doc;
        parse_document(&c, yaml_document_get_root_node(&doc));
        yaml_document_delete(&doc);
        /* A second document would be silently ignored, so it is an error. */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            syntax_problem(&c, &parser, text);
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&more);
            if (r)
                problem(&c, r->start_mark, NULL,
                        "a second YAML document; a deck is one document");
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&parser);
    int rc = report(&c, err);
    clmd_free(c.probs);
    return rc;
}

int clmd_deck_parse_string(const char *text, const char *name, const char *dir, clmd_deck *d,
                           clmd_err *err)
{
    return parse_text(text, strlen(text), name, dir, d, err);
}

int clmd_deck_load(const char *path, clmd_deck *d, clmd_err *err)
{
    clmd_deck_defaults(d);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: %s", path,
                            strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return clmd_err_set(err, CLMD_EINPUT, "%s: is a directory, not a deck file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: %s", path,
                            strerror(errno));
    size_t cap = 1 << 14, len = 0;
    char *buf = clmd_alloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            buf = clmd_realloc(buf, cap, 2 * cap);
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        clmd_free(buf);
        return clmd_err_set(err, CLMD_EINPUT, "%s: cannot read the deck: I/O error", path);
    }
    buf[len] = '\0';
    /* The deck's folder: everything before the last slash ("." when there is none). */
    char dir[CLMD_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int rc = parse_text(buf, len, path, dir, d, err);
    clmd_free(buf);
    return rc;
}

/* ---------------------------------------------------------------- printing */

/* Shortest %g form that reads back to the same double. */
static void put_num(FILE *out, double x)
{
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

/* A double-quoted YAML string with the escapes YAML defines. */
static void put_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void put_path_or_null(FILE *out, const char *s)
{
    if (s[0])
        put_str(out, s);
    else
        fputs("null", out);
}

static void put_stream(FILE *out, const char *key, const char *file, long interval)
{
    fprintf(out, "  %s: ", key);
    if (!file[0]) {
        fputs("null\n", out);
        return;
    }
    fputs("{file: ", out);
    put_str(out, file);
    fprintf(out, ", interval: %ld}\n", interval);
}

void clmd_deck_print(const clmd_deck *d, FILE *out)
{
    const clmd_ffopts *o = &d->ff;
    fputs("# clmd resolved deck: every key, defaults filled, paths resolved\n", out);
    fputs("title: ", out);
    put_str(out, d->title);
    fputs("\nsystem:\n", out);
    switch (d->system.kind) {
    case CLMD_SRC_BUILTIN:
        fprintf(out, "  builtin: %s\n", E_BUILTIN[d->system.builtin]);
        if (d->system.builtin == CLMD_BUILTIN_LJ_FCC) {
            fprintf(out, "  cells: %d\n  reduced_density: ", d->system.cells);
            put_num(out, d->system.reduced_density);
        } else {
            fprintf(out, "  model: %s\n  edge: ", d->system.model);
            put_num(out, d->system.edge_nm);
        }
        fputc('\n', out);
        break;
    case CLMD_SRC_AMBER:
        fputs("  amber:\n    prmtop: ", out);
        put_str(out, d->system.prmtop);
        fputs("\n    inpcrd: ", out);
        put_str(out, d->system.inpcrd);
        fputc('\n', out);
        break;
    case CLMD_SRC_COORDS:
        fputs("  coordinates: ", out);
        put_str(out, d->system.coordinates);
        fputc('\n', out);
        break;
    }
    if (d->system.kind != CLMD_SRC_AMBER) {
        fputs("  forcefield: ", out);
        put_path_or_null(out, d->system.forcefield);
        fputc('\n', out);
    }
    fputs("  box: ", out);
    if (d->system.has_box) {
        fputc('[', out);
        for (int i = 0; i < 3; i++) {
            if (i) fputs(", ", out);
            put_num(out, d->system.box[i]);
        }
        fputs("]\n", out);
    } else {
        fputs("null\n", out);
    }

    fprintf(out, "nonbonded:\n  method: %s\n  cutoff: ", E_METHOD[o->method]);
    put_num(out, o->cutoff_nm);
    fputs("\n  switch_distance: ", out);
    if (o->switch_nm > 0)
        put_num(out, o->switch_nm);
    else
        fputs("null", out);
    fprintf(out, "\n  dispersion_correction: %s\n  reaction_field_dielectric: ",
            o->dispersion_correction ? "true" : "false");
    put_num(out, o->rf_dielectric);
    fputs("\n  ewald_error_tolerance: ", out);
    put_num(out, o->ewald_tolerance);
    fputs("\n  ewald_alpha: ", out);
    if (o->ewald_alpha > 0)
        put_num(out, o->ewald_alpha);
    else
        fputs("null", out);
    if (o->pme_grid[0] > 0)
        fprintf(out, "\n  pme_grid: [%d, %d, %d]", o->pme_grid[0], o->pme_grid[1], o->pme_grid[2]);
    else
        fputs("\n  pme_grid: null", out);
    fprintf(out, "\n  pme_order: %d\n  neighbor_skin: ", o->pme_order);
    if (o->skin_auto) fputs("auto", out);
    else put_num(out, o->skin_nm);
    fputc('\n', out);

    if (o->gb_model == CLMD_GB_NONE) {
        fputs("implicit_solvent: null\n", out);
    } else {
        fprintf(out, "implicit_solvent:\n  model: %s\n  solvent_dielectric: ",
                E_GB[o->gb_model - 1]);
        put_num(out, o->solvent_dielectric);
        fputs("\n  solute_dielectric: ", out);
        put_num(out, o->solute_dielectric);
        fprintf(out, "\n  surface_area: %s\n  surface_tension: ", E_SURFACE[o->surface_area]);
        put_num(out, o->sa_energy);
        fputs("\n  probe_radius: ", out);
        put_num(out, o->probe_radius_nm);
        fputc('\n', out);
    }

    fprintf(out, "constraints: %s\nconstraint_tolerance: ", E_CONSTRAIN[d->constraints]);
    put_num(out, d->constraint_tolerance);
    fprintf(out, "\nrigid_water: %s\n", d->rigid_water ? "true" : "false");
    if (d->minimize.enabled) {
        fprintf(out, "minimize: {max_steps: %ld, tolerance: ", d->minimize.max_steps);
        put_num(out, d->minimize.tolerance);
        fputs("}\n", out);
    } else {
        fputs("minimize: null\n", out);
    }

    if (!d->velocities.given) {
        fputs("# velocities: not given: the input file's velocities if it has any, else drawn at "
              "the integrator temperature with seed 1\n",
              out);
    } else if (d->velocities.from_input) {
        fputs("velocities: from_input\n", out);
    } else {
        fputs("velocities: {temperature: ", out);
        put_num(out, d->velocities.temperature);
        fprintf(out, ", seed: %lu}\n", d->velocities.seed);
    }

    fprintf(out, "integrator:\n  type: %s\n  timestep: ", E_INTEGRATOR[d->integrator.type]);
    put_num(out, d->integrator.timestep_ps);
    fputs("\n  temperature: ", out);
    put_num(out, d->integrator.temperature);
    fputs("\n  friction: ", out);
    put_num(out, d->integrator.friction);
    fprintf(out,
            "\n  steps: %ld\n  seed: %lu\n  remove_com_motion: %s\n  com_interval: %d\n",
            d->integrator.steps, d->integrator.seed,
            d->integrator.remove_com_motion ? "true" : "false", d->integrator.com_interval);

    if (!d->remd.enabled || d->remd.ntemps == 0) {
        fputs("replica_exchange: null\n", out);
    } else {
        fputs("replica_exchange:\n  temperatures: [", out);
        for (int i = 0; i < d->remd.ntemps; i++) {
            if (i) fputs(", ", out);
            put_num(out, d->remd.temps[i]);
        }
        fprintf(out, "]\n  exchange_interval: %ld\n  exchanges: %ld\n  seed: %lu\n",
                d->remd.exchange_interval, d->remd.exchanges, d->remd.seed);
    }

    fputs("output:\n  directory: ", out);
    put_str(out, d->output.directory);
    fputc('\n', out);
    put_stream(out, "trajectory", d->output.trajectory, d->output.trajectory_interval);
    put_stream(out, "energies", d->output.energies, d->output.energies_interval);
    put_stream(out, "checkpoint", d->output.checkpoint, d->output.checkpoint_interval);
    fprintf(out, "  overwrite: %s\n", d->output.overwrite ? "true" : "false");

    fputs("device: ", out);
    put_str(out, d->device);
    fputs("\nprobes: ", out);
    if (d->probes_json[0]) {
        fputs("{json: ", out);
        put_str(out, d->probes_json);
        fputs("}\n", out);
    } else {
        fputs("null\n", out);
    }
}
