/* The deck reader's machinery (see schema.h): problems, typed scalars, paths, and the one
 * routine that reads a table of fields. */
#include "input/schema.h"

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

#include "core/mem.h"

/* ---------------------------------------------------------------- problems */

static void vproblem(schema_ctx *c, int line, int column, const char *key, const char *fmt,
                     va_list ap)
{
    if (c->nprob == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        c->probs = clmd_realloc(c->probs, (size_t)c->cap * sizeof *c->probs,
                                (size_t)cap * sizeof *c->probs);
        c->cap = cap;
    }
    schema_problem *p = &c->probs[c->nprob];
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

void schema_problem_add(schema_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, (int)m.line + 1, (int)m.column + 1, key, fmt, ap);
    va_end(ap);
}

void schema_problem_at(schema_ctx *c, clmd_mark m, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, m.line > 0 ? m.line : 1, m.column > 0 ? m.column : 1, key, fmt, ap);
    va_end(ap);
}

static int problem_cmp(const void *a, const void *b)
{
    const schema_problem *p = a, *q = b;
    if (p->line != q->line) return p->line < q->line ? -1 : 1;
    if (p->column != q->column) return p->column < q->column ? -1 : 1;
    return p->order - q->order;
}

int schema_report(schema_ctx *c, clmd_err *err)
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

clmd_mark schema_mark(yaml_mark_t m)
{
    clmd_mark r = {(int)m.line + 1, (int)m.column + 1};
    return r;
}

/* Copies with zero fill, so equal strings leave equal bytes in the struct. */
void schema_set_str(char *dst, size_t n, const char *src)
{
    memset(dst, 0, n);
    size_t len = strlen(src);
    memcpy(dst, src, len < n - 1 ? len : n - 1);
}

void schema_join(char *out, size_t n, const char *parent, const char *key)
{
    if (parent && parent[0])
        snprintf(out, n, "%s.%s", parent, key);
    else
        snprintf(out, n, "%s", key);
}

int schema_streq_ci(const char *a, const char *b)
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
const char *schema_closest(const char *word, const char *const *known)
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
int schema_resolve(const char *dir, const char *rel, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    if (rel[0] != '/') push_segments(out, n, &len, dir);
    if (len < n) push_segments(out, n, &len, rel);
    if (len >= n) return 0;
    if (len == 0) snprintf(out, n, "/");
    return 1;
}

int schema_abs_dir(const char *dir, char *out, size_t n)
{
    if (!dir || !dir[0]) dir = ".";
    if (dir[0] == '/') return schema_resolve("/", dir, out, n);
    char cwd[CLMD_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return 0;
    return schema_resolve(cwd, dir, out, n);
}

/* ---------------------------------------------------------------- nodes */

yaml_node_t *schema_node(schema_ctx *c, int id) { return yaml_document_get_node(c->doc, id); }

const char *schema_sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int schema_is_null(const yaml_node_t *n)
{
    if (!is_plain(n)) return 0;
    const char *s = schema_sval(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* How a node reads in "got ..." messages. */
const char *schema_describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (schema_is_null(n)) return "null";
    if (is_plain(n))
        snprintf(buf, len, "'%.80s'", schema_sval(n));
    else
        snprintf(buf, len, "the quoted string \"%.80s\"", schema_sval(n));
    return buf;
}

/* The value of `key` in mapping `map` (first occurrence), or NULL when absent. */
yaml_node_t *schema_get(schema_ctx *c, yaml_node_t *map, const char *key, yaml_mark_t *keymark)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = schema_node(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(schema_sval(k), key) == 0) {
            if (keymark) *keymark = k->start_mark;
            return schema_node(c, p->value);
        }
    }
    return NULL;
}

static void unknown_key(schema_ctx *c, yaml_node_t *k, const char *path, const char *key,
                        const char *const *keys)
{
    const char *near = schema_closest(key, keys);
    if (near) {
        schema_problem_add(c, k->start_mark, path, "unknown key; did you mean '%s'?", near);
        return;
    }
    /* A key that exists in another section was probably written one level off. */
    char homes[256] = "";
    size_t len = 0;
    int found = 0;
    for (size_t s = 0; s < c->nsections; s++) {
        if (!in_list(key, c->sections[s].keys)) continue;
        char full[128];
        schema_join(full, sizeof full, c->sections[s].name, key);
        if (strcmp(full, path) == 0) continue;
        len += (size_t)snprintf(homes + len, sizeof homes - len, "%s'%s'", found ? " or " : "",
                                full);
        if (len >= sizeof homes) break;
        found++;
    }
    if (found) {
        schema_problem_add(c, k->start_mark, path, "unknown key here; did you mean %s?", homes);
        return;
    }
    char all[512];
    list_words(all, sizeof all, keys);
    schema_problem_add(c, k->start_mark, path, "unknown key (known keys here: %s)", all);
}

/* Checks that n is a mapping of known, distinct, scalar keys. Returns 1 when n is a mapping. */
int schema_check_map(schema_ctx *c, yaml_node_t *n, const char *path, const char *const *keys)
{
    char buf[128];
    if (n->type != YAML_MAPPING_NODE) {
        schema_problem_add(c, n->start_mark, path[0] ? path : "(top level)",
                           "expected a mapping of keys, got %s",
                           schema_describe(n, buf, sizeof buf));
        return 0;
    }
    yaml_node_pair_t *start = n->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = schema_node(c, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            schema_problem_add(c, k->start_mark, path[0] ? path : "(top level)",
                               "a key must be a name, got %s", schema_describe(k, buf, sizeof buf));
            continue;
        }
        char full[256];
        schema_join(full, sizeof full, path, schema_sval(k));
        int dup = 0;
        for (yaml_node_pair_t *q = start; q < p && !dup; q++) {
            yaml_node_t *k2 = schema_node(c, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp(schema_sval(k2), schema_sval(k)) == 0) {
                schema_problem_add(c, k->start_mark, full, "duplicate key (first given at %d:%d)",
                                   (int)k2->start_mark.line + 1, (int)k2->start_mark.column + 1);
                dup = 1;
            }
        }
        if (!dup && !in_list(schema_sval(k), keys)) unknown_key(c, k, full, schema_sval(k), keys);
    }
    return 1;
}

/* ---------------------------------------------------------------- typed values */

int schema_in_range(schema_ctx *c, yaml_node_t *v, const char *path, schema_range r, double x)
{
    int ok = (!r.has_lo || (r.lo_open ? x > r.lo : x >= r.lo)) &&
             (!r.has_hi || (r.hi_open ? x < r.hi : x <= r.hi));
    if (ok) return 1;
    if (r.has_lo && r.has_hi)
        schema_problem_add(c, v->start_mark, path, "must be in %c%g, %g%c (got %s)",
                           r.lo_open ? '(' : '[', r.lo, r.hi, r.hi_open ? ')' : ']',
                           schema_sval(v));
    else if (r.has_lo)
        schema_problem_add(c, v->start_mark, path, "must be %s %g (got %s)",
                           r.lo_open ? ">" : ">=", r.lo, schema_sval(v));
    else
        schema_problem_add(c, v->start_mark, path, "must be %s %g (got %s)",
                           r.hi_open ? "<" : "<=", r.hi, schema_sval(v));
    return 0;
}

/* A finite number from a plain scalar; type problems are reported. */
int schema_number(schema_ctx *c, yaml_node_t *v, const char *path, int nullable, double *out)
{
    char buf[128];
    if (is_plain(v) && !schema_is_null(v)) {
        const char *s = schema_sval(v);
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (end != s && *end == '\0') {
            if (!isfinite(x)) {
                schema_problem_add(c, v->start_mark, path, "must be a finite number (got %s)", s);
                return 0;
            }
            *out = x;
            return 1;
        }
    }
    schema_problem_add(c, v->start_mark, path, "expected a number%s, got %s",
                       nullable ? " or null" : "", schema_describe(v, buf, sizeof buf));
    return 0;
}

/* An integer from a plain scalar; 1e6 and 100.0 are accepted when the value is whole. */
int schema_integer(schema_ctx *c, yaml_node_t *v, const char *path, long *out)
{
    char buf[128];
    if (is_plain(v) && !schema_is_null(v)) {
        const char *s = schema_sval(v);
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
            schema_problem_add(c, v->start_mark, path, "expected a whole number, got %s", s);
            return 0;
        }
    }
    schema_problem_add(c, v->start_mark, path, "expected an integer, got %s",
                       schema_describe(v, buf, sizeof buf));
    return 0;
}

/* A scalar that must be one of `names` (case-insensitive); *out is its index. */
int schema_choice(schema_ctx *c, yaml_node_t *v, const char *path, const char *const *names,
                  int *out)
{
    char buf[128], all[256];
    if (v->type == YAML_SCALAR_NODE && !schema_is_null(v)) {
        for (int i = 0; names[i]; i++)
            if (schema_streq_ci(schema_sval(v), names[i])) {
                *out = i;
                return 1;
            }
    }
    list_words(all, sizeof all, names);
    const char *near = v->type == YAML_SCALAR_NODE ? schema_closest(schema_sval(v), names) : NULL;
    if (near)
        schema_problem_add(c, v->start_mark, path,
                           "expected one of %s; got %s (did you mean '%s'?)", all,
                           schema_describe(v, buf, sizeof buf), near);
    else
        schema_problem_add(c, v->start_mark, path, "expected one of %s; got %s", all,
                           schema_describe(v, buf, sizeof buf));
    return 0;
}

/* A required key is absent: reported at the mapping that should hold it. */
void schema_missing(schema_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                    const char *why)
{
    char path[256];
    schema_join(path, sizeof path, parent, key);
    schema_problem_add(c, map->start_mark, path, "required key is missing%s%s", why ? ": " : "",
                       why ? why : "");
}

void schema_ctx_free(schema_ctx *c)
{
    clmd_free(c->probs);
    clmd_free(c->bad);
    c->probs = NULL;
    c->bad = NULL;
    c->nprob = c->cap = c->nbad = c->capbad = 0;
}

int schema_list_len(const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) return -1;
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *schema_list_item(schema_ctx *c, yaml_node_t *list, int i)
{
    return schema_node(c, list->data.sequence.items.start[i]);
}

yaml_node_t *schema_find(schema_ctx *c, const char *path)
{
    yaml_node_t *n = yaml_document_get_root_node(c->doc);
    while (n && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        char key[128];
        if (len >= sizeof key) return NULL;
        memcpy(key, path, len);
        key[len] = '\0';
        n = schema_get(c, n, key, NULL);
        path += len + (dot ? 1 : 0);
    }
    return n;
}

static int scalar_bool(schema_ctx *c, yaml_node_t *v, const char *path, int *out)
{
    char buf[128];
    if (is_plain(v)) {
        const char *s = schema_sval(v);
        if (schema_streq_ci(s, "true") || schema_streq_ci(s, "yes")) {
            *out = 1;
            return 1;
        }
        if (schema_streq_ci(s, "false") || schema_streq_ci(s, "no")) {
            *out = 0;
            return 1;
        }
    }
    schema_problem_add(c, v->start_mark, path, "expected true or false (yes/no), got %s",
                       schema_describe(v, buf, sizeof buf));
    return 0;
}

static int scalar_seed(schema_ctx *c, yaml_node_t *v, const char *path, unsigned long *out)
{
    char buf[128];
    if (is_plain(v) && !schema_is_null(v)) {
        const char *s = schema_sval(v);
        char *end;
        errno = 0;
        unsigned long x = strtoul(s, &end, 10);
        if (isdigit((unsigned char)s[0]) && *end == '\0' && errno == 0) {
            *out = x;
            return 1;
        }
    }
    schema_problem_add(c, v->start_mark, path,
                       "expected a non-negative integer seed below 2^64, got %s",
                       schema_describe(v, buf, sizeof buf));
    return 0;
}

/* Any non-null scalar as text of fewer than n bytes. */
static int scalar_str(schema_ctx *c, yaml_node_t *v, const char *path, int nullable, char *out,
                      size_t n)
{
    if (v->type != YAML_SCALAR_NODE || schema_is_null(v)) {
        char buf[128];
        schema_problem_add(c, v->start_mark, path, "expected a string%s, got %s",
                           nullable ? " or null" : "", schema_describe(v, buf, sizeof buf));
        return 0;
    }
    if (v->data.scalar.length >= n) {
        schema_problem_add(c, v->start_mark, path, "too long (at most %zu characters)", n - 1);
        return 0;
    }
    schema_set_str(out, n, schema_sval(v));
    return 1;
}

/* A path resolved against the deck's folder; must_read checks that it is a readable file. */
static int scalar_path(schema_ctx *c, yaml_node_t *v, const char *path, int nullable,
                       int must_read, char *out, size_t n)
{
    char text[CLMD_PATH_MAX], full[CLMD_PATH_MAX];
    if (!scalar_str(c, v, path, nullable, text, sizeof text)) return 0;
    if (!text[0]) {
        schema_problem_add(c, v->start_mark, path, "the path is empty");
        return 0;
    }
    if (!schema_resolve(c->dir, text, full, sizeof full) || strlen(full) >= n) {
        schema_problem_add(c, v->start_mark, path,
                           "the resolved path is too long (at most %zu characters)", n - 1);
        return 0;
    }
    if (must_read) {
        struct stat sb;
        if (stat(full, &sb) != 0 || access(full, R_OK) != 0) {
            schema_problem_add(c, v->start_mark, path, "cannot read '%s': %s", full,
                               strerror(errno));
            return 0;
        }
        if (S_ISDIR(sb.st_mode)) {
            schema_problem_add(c, v->start_mark, path, "'%s' is a directory, not a file", full);
            return 0;
        }
    }
    schema_set_str(out, n, full);
    return 1;
}

/* ---------------------------------------------------------------- tables */

void schema_note_bad(schema_ctx *c, const char *path)
{
    if (c->nbad == c->capbad) {
        int cap = c->capbad ? 2 * c->capbad : 16;
        c->bad = clmd_realloc(c->bad, (size_t)c->capbad * sizeof *c->bad,
                              (size_t)cap * sizeof *c->bad);
        c->capbad = cap;
    }
    schema_set_str(c->bad[c->nbad++], sizeof *c->bad, path);
}

int schema_read_ok(const schema_ctx *c, const char *path)
{
    for (int i = 0; i < c->nbad; i++)
        if (strcmp(c->bad[i], path) == 0) return 0;
    return 1;
}

int schema_read_field(schema_ctx *c, yaml_node_t *map, const char *parent, const schema_field *f,
                      void *base)
{
    char path[256];
    schema_join(path, sizeof path, parent, f->key);
    yaml_mark_t km;
    yaml_node_t *v = schema_get(c, map, f->key, &km);
    if (!v) {
        if (f->flags & SCHEMA_REQUIRED) schema_missing(c, map, parent, f->key, f->why);
        return SCHEMA_ABSENT;
    }
    if (f->mark_off) *(clmd_mark *)((char *)base + f->mark_off) = schema_mark(km);
    int nullable = (f->flags & SCHEMA_NULLABLE) != 0;
    if (nullable && schema_is_null(v)) return SCHEMA_NULL;
    void *at = (char *)base + f->off;
    int ok = 0;
    switch (f->kind) {
    case SCHEMA_NUM: {
        double x;
        ok = schema_number(c, v, path, nullable, &x) && schema_in_range(c, v, path, f->range, x);
        if (ok) *(double *)at = x;
        break;
    }
    case SCHEMA_INT:
    case SCHEMA_LONG: {
        long x;
        ok = schema_integer(c, v, path, &x) && schema_in_range(c, v, path, f->range, (double)x);
        if (ok && f->kind == SCHEMA_INT && (x < INT_MIN || x > INT_MAX)) {
            schema_problem_add(c, v->start_mark, path, "too large (got %ld)", x);
            ok = 0;
        }
        if (ok && f->kind == SCHEMA_INT) *(int *)at = (int)x;
        if (ok && f->kind == SCHEMA_LONG) *(long *)at = x;
        break;
    }
    case SCHEMA_BOOL:
        ok = scalar_bool(c, v, path, (int *)at);
        break;
    case SCHEMA_SEED:
        ok = scalar_seed(c, v, path, (unsigned long *)at);
        break;
    case SCHEMA_ENUM: /* a C enum, written as an int (input/deck.c asserts their size) */
    case SCHEMA_WORD: {
        int i;
        ok = schema_choice(c, v, path, f->names, &i);
        if (ok && f->kind == SCHEMA_ENUM) *(int *)at = i + f->base;
        if (ok && f->kind == SCHEMA_WORD) schema_set_str(at, f->size, f->names[i]);
        break;
    }
    case SCHEMA_STR:
        ok = scalar_str(c, v, path, nullable, at, f->size);
        break;
    case SCHEMA_PATH:
        ok = scalar_path(c, v, path, nullable, (f->flags & SCHEMA_MUST_READ) != 0, at, f->size);
        break;
    }
    if (!ok) schema_note_bad(c, path);
    return ok ? SCHEMA_GOOD : SCHEMA_BAD;
}

void schema_read_fields(schema_ctx *c, yaml_node_t *map, const char *parent,
                        const schema_field *fields, void *base)
{
    for (const schema_field *f = fields; f && f->key; f++)
        schema_read_field(c, map, parent, f, base);
}

int schema_read_section(schema_ctx *c, const schema_section *s, yaml_node_t *v, yaml_mark_t km)
{
    if (s->mark_off) *(clmd_mark *)((char *)c->d + s->mark_off) = schema_mark(km);
    int null = schema_is_null(v);
    if (null && (s->flags & SCHEMA_NULLABLE)) return 0;
    if (null && s->if_null) {
        schema_problem_add(c, v->start_mark, s->name, "%s", s->if_null);
        return 0;
    }
    if (s->scalar && v->type == YAML_SCALAR_NODE && !null) {
        s->scalar(c, v);
        return 0;
    }
    if (s->expect && v->type != YAML_MAPPING_NODE) {
        char buf[128];
        schema_problem_add(c, v->start_mark, s->name, "expected %s, got %s", s->expect,
                           schema_describe(v, buf, sizeof buf));
        return 0;
    }
    if (!schema_check_map(c, v, s->name, s->keys)) return 0;
    if (s->enabled_off) *(int *)((char *)c->d + s->enabled_off) = 1;
    for (const schema_field *f = s->fields; f && f->key; f++)
        CLMD_ASSERT(in_list(f->key, s->keys)); /* a table's field is one of its allowed keys */
    schema_read_fields(c, v, s->name, s->fields, c->d);
    if (s->parse) s->parse(c, v);
    return 1;
}

const schema_section *schema_section_named(const schema_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nsections; i++)
        if (strcmp(c->sections[i].name, name) == 0) return &c->sections[i];
    CLMD_ASSERT(!"a section the tables name");
    return NULL;
}
