/* Deck selections resolved in a system (see select.h). */
#include "system/select.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "input/deck.h"
#include "system/system.h"

/* The problems found, one line each, like the deck's messages. */
typedef struct problems {
    char msg[sizeof ((clmd_err *)0)->msg];
    size_t len;
    int n, dropped;
    const char *path;
    clmd_mark at;
} problems;

static void problem(problems *p, const char *key, int item, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(problems *p, const char *key, int item, const char *fmt, ...)
{
    char what[512], line[768], k[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (item >= 0)
        snprintf(k, sizeof k, "%s[%d]", key, item);
    else
        snprintf(k, sizeof k, "%s", key);
    int n = snprintf(line, sizeof line, "%s%s:%d:%d: key '%s': %s", p->n ? "\n" : "", p->path,
                     p->at.line > 0 ? p->at.line : 1, p->at.column > 0 ? p->at.column : 1, k,
                     what);
    p->n++;
    /* keeps room for the count of the lines that do not fit */
    if (p->dropped || p->len + (size_t)n + 48 >= sizeof p->msg) {
        p->dropped++;
        return;
    }
    memcpy(p->msg + p->len, line, (size_t)n + 1);
    p->len += (size_t)n;
}

/* "ACE, ALA, NME, WAT": the system's residue names, each once, in order of first use. */
static void residue_names(const clmd_system *s, char *out, size_t n)
{
    size_t len = 0;
    int shown = 0;
    out[0] = '\0';
    for (int r = 0; r < s->nresidues; r++) {
        int seen = 0;
        for (int q = 0; q < r && !seen; q++) seen = strcmp(s->resname[q], s->resname[r]) == 0;
        if (seen) continue;
        if (shown == 12) {
            snprintf(out + len, n - len, ", ...");
            return;
        }
        int w = snprintf(out + len, n - len, "%s%s", shown ? ", " : "", s->resname[r]);
        if (w < 0 || (size_t)w >= n - len) return;
        len += (size_t)w;
        shown++;
    }
}

int clmd_selection_flags(const clmd_system *s, const clmd_deck_selection *sel,
                         const char *deck_path, unsigned char *flags, int *count, clmd_err *err)
{
    CLMD_ASSERT(s->nseg <= 1); /* a batch: resolve on its seg_base (select.h) */
    problems p;
    p.msg[0] = '\0';
    p.len = 0;
    p.n = p.dropped = 0;
    p.path = deck_path ? deck_path : "(deck)";
    p.at = sel->mark;
    const char *key = sel->key[0] ? sel->key : sel->nresidues ? "residues" : "atoms";
    *count = 0;
    memset(flags, 0, (size_t)s->n);

    for (int i = 0; i < sel->nranges; i++) {
        int a = sel->range[i][0], b = sel->range[i][1];
        if (a < 0 || b < a) {
            problem(&p, key, i, "not an index or a range a-b with 0 <= a <= b (%d-%d)", a, b);
        } else if (b >= s->n) {
            if (a == b)
                problem(&p, key, i, "particle %d does not exist: the system has %d particles "
                        "(0 to %d)", a, s->n, s->n - 1);
            else
                problem(&p, key, i, "the range %d-%d goes past the last particle: the system "
                        "has %d particles (0 to %d)", a, b, s->n, s->n - 1);
        } else {
            memset(flags + a, 1, (size_t)(b - a + 1));
        }
    }

    if (sel->nresidues > 0 && (s->nresidues <= 0 || !s->resname)) {
        problem(&p, key, -1, "the system (%s) has no residues: select its particles by atoms",
                s->source);
    } else if (sel->nresidues > 0) {
        unsigned char *take = clmd_alloc((size_t)s->nresidues);
        memset(take, 0, (size_t)s->nresidues);
        for (int j = 0; j < sel->nresidues; j++) {
            const char *name = sel->residue[j];
            int found = 0;
            const char *near = NULL;
            for (int r = 0; r < s->nresidues; r++) {
                if (strcmp(s->resname[r], name) == 0) {
                    take[r] = 1;
                    found = 1;
                } else if (!near && strcasecmp(s->resname[r], name) == 0) {
                    near = s->resname[r];
                }
            }
            if (found) continue;
            if (near) {
                problem(&p, key, j, "no residue is named '%s' (names are matched exactly: did "
                        "you mean '%s'?)", name, near);
            } else {
                char names[256];
                residue_names(s, names, sizeof names);
                problem(&p, key, j, "no residue is named '%s' (the system's residues: %s)", name,
                        names);
            }
        }
        for (int i = 0; i < s->n; i++) {
            int r = s->residue[i];
            if (r >= 0 && r < s->nresidues && take[r]) flags[i] = 1;
        }
        clmd_free(take);
    }

    int n = 0;
    for (int i = 0; i < s->n; i++) n += flags[i] != 0;
    if (p.n == 0 && n == 0)
        problem(&p, key, -1, "selects no particle (the system has %d)", s->n);
    if (p.n > 0) {
        memset(flags, 0, (size_t)s->n);
        if (p.dropped)
            snprintf(p.msg + p.len, sizeof p.msg - p.len, "\n(%d more problems not shown)",
                     p.dropped);
        return clmd_err_set(err, CLMD_EINPUT, "%s", p.msg);
    }
    *count = n;
    return CLMD_OK;
}
