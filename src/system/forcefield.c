/* Force-field file parser (libyaml document API). The format is documented in
 * docs/forcefields.md; this file checks everything it can at load time so that building a
 * system only fails on problems of the coordinates. */
#include "system/forcefield.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/mem.h"
#include "system/element.h"

#define MAX_PROBLEMS 25

typedef struct {
    const char *file;
    yaml_document_t *doc;
    char buf[sizeof(((clmd_err *)0)->msg)];
    size_t len;
    int nproblems;
} ffp;

static void problem(ffp *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(ffp *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    if (++p->nproblems > MAX_PROBLEMS) return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = n ? (int)n->start_mark.line + 1 : 0, col = n ? (int)n->start_mark.column + 1 : 0;
    if (p->len >= sizeof p->buf - 1) return;
    int w = snprintf(p->buf + p->len, sizeof p->buf - p->len, "%s%s:%d:%d: key '%s': %s",
                     p->len ? "\n" : "", p->file, line, col, key, msg);
    if (w > 0) p->len += (size_t)w;
    if (p->len > sizeof p->buf - 1) p->len = sizeof p->buf - 1;
}

static yaml_node_t *node_at(ffp *p, int index)
{
    return yaml_document_get_node(p->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static int num(ffp *p, const yaml_node_t *n, const char *key, double *out)
{
    const char *s = scalar(n);
    if (!s || !*s) {
        problem(p, n, key, "must be a number");
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) {
        problem(p, n, key, "must be a number, got '%s'", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int str(ffp *p, const yaml_node_t *n, const char *key, char *out, size_t size)
{
    const char *s = scalar(n);
    if (!s || !*s) {
        problem(p, n, key, "must be a non-empty string");
        return -1;
    }
    if (strlen(s) >= size) {
        problem(p, n, key, "'%s' is longer than %zu characters", s, size - 1);
        return -1;
    }
    snprintf(out, size, "%s", s);
    return 0;
}

/* A sequence of names; returns the count or -1. */
static int names(ffp *p, const yaml_node_t *n, const char *key, char (*out)[CLMD_FF_NAME], int max)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        problem(p, n, key, "must be a list of names");
        return -1;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > max) {
        problem(p, n, key, "has %d names; at most %d are allowed", count, max);
        return -1;
    }
    int bad = 0;
    for (int k = 0; k < count; k++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%d]", key, k);
        bad |= str(p, node_at(p, n->data.sequence.items.start[k]), sub, out[k], CLMD_FF_NAME);
    }
    return bad ? -1 : count;
}

static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* Collects the values of the known keys of a mapping into vals[] (NULL when absent) and reports
 * unknown (with the closest known key) and repeated keys. Returns -1 if n is not a mapping. */
static int fields(ffp *p, const yaml_node_t *n, const char *path, const char *const *known,
                  yaml_node_t **vals)
{
    int nk = 0;
    while (known[nk]) vals[nk++] = NULL;
    if (!n || n->type != YAML_MAPPING_NODE) {
        problem(p, n, path, "must be a mapping (key: value)");
        return -1;
    }
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node_at(p, pr->key);
        const char *k = scalar(kn);
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k ? k : "?");
        if (!k) {
            problem(p, kn, path, "keys must be plain names");
            continue;
        }
        int found = -1, best = -1, bestd = 99;
        for (int i = 0; i < nk; i++) {
            if (strcmp(k, known[i]) == 0) found = i;
            int dd = edit_distance(k, known[i]);
            if (dd < bestd) bestd = dd, best = i;
        }
        if (found < 0) {
            if (best >= 0 && bestd <= 2)
                problem(p, kn, sub, "unknown key (did you mean '%s'?)", known[best]);
            else
                problem(p, kn, sub, "unknown key");
        } else if (vals[found]) {
            problem(p, kn, sub, "given twice");
        } else {
            vals[found] = node_at(p, pr->value);
        }
    }
    return 0;
}

static int res_atom(const clmd_ffres *r, const char *name)
{
    for (int a = 0; a < r->natoms; a++) {
        if (strcmp(r->atoms[a].name, name) == 0) return a;
        for (int k = 0; k < r->atoms[a].naliases; k++)
            if (strcmp(r->atoms[a].aliases[k], name) == 0) return a;
    }
    return -1;
}

/* Reads a list of exactly `count` atom names of residue r into idx[]; 0 on success. */
static int atom_list(ffp *p, const clmd_ffres *r, const yaml_node_t *n, const char *key, int count,
                     int *idx)
{
    char nm[CLMD_FF_ALIASES][CLMD_FF_NAME];
    int got = names(p, n, key, nm, CLMD_FF_ALIASES);
    if (got < 0) return -1;
    if (got != count) {
        problem(p, n, key, "must name %d atoms, not %d", count, got);
        return -1;
    }
    for (int k = 0; k < count; k++) {
        idx[k] = res_atom(r, nm[k]);
        if (idx[k] < 0) {
            problem(p, n, key, "atom '%s' is not an atom of residue %s", nm[k], r->name);
            return -1;
        }
        for (int j = 0; j < k; j++)
            if (idx[j] == idx[k]) {
                problem(p, n, key, "atom '%s' is named twice", nm[k]);
                return -1;
            }
    }
    return 0;
}

static int seq_len(const yaml_node_t *n)
{
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int map_len(const yaml_node_t *n)
{
    return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static void parse_types(ffp *p, clmd_ff *ff, const yaml_node_t *n)
{
    if (!n || n->type != YAML_MAPPING_NODE || map_len(n) == 0) {
        problem(p, n, "types", "must be a mapping of type names to {element, mass, charge, "
                               "sigma, epsilon}");
        return;
    }
    static const char *const known[] = {"element", "mass", "charge", "sigma", "epsilon", NULL};
    CLMD_NEW(ff->types, map_len(n));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node_at(p, pr->key), *v[5];
        clmd_fftype *t = &ff->types[ff->ntypes];
        char path[256];
        snprintf(path, sizeof path, "types.%s", scalar(kn) ? scalar(kn) : "?");
        if (str(p, kn, path, t->name, sizeof t->name) != 0) continue;
        if (clmd_ff_find_type(ff, t->name) >= 0) {
            problem(p, kn, path, "type defined twice");
            continue;
        }
        if (fields(p, node_at(p, pr->value), path, known, v) != 0) continue;
        char sub[300];
        if (v[0]) {
            snprintf(sub, sizeof sub, "%s.element", path);
            if (str(p, v[0], sub, t->element, sizeof t->element) == 0) {
                t->atomic_number = clmd_element_number(t->element);
                if (!t->atomic_number)
                    problem(p, v[0], sub, "'%s' is not an element symbol", t->element);
                else
                    snprintf(t->element, sizeof t->element, "%s",
                             clmd_element_symbol(t->atomic_number));
            }
        }
        static const char *const what[4] = {"mass", "charge", "sigma", "epsilon"};
        double *dst[4] = {&t->mass, &t->charge, &t->sigma, &t->epsilon};
        for (int k = 0; k < 4; k++) {
            snprintf(sub, sizeof sub, "%s.%s", path, what[k]);
            if (!v[k + 1]) {
                problem(p, node_at(p, pr->value), sub, "is required (%s)",
                        k == 0 ? "amu" : k == 1 ? "e" : k == 2 ? "nm" : "kJ/mol");
                continue;
            }
            if (num(p, v[k + 1], sub, dst[k]) != 0) continue;
            if (k != 1 && *dst[k] < 0) problem(p, v[k + 1], sub, "must be >= 0");
        }
        ff->ntypes++;
    }
}

static void parse_atoms(ffp *p, const clmd_ff *ff, clmd_ffres *r, const yaml_node_t *n,
                        const char *path)
{
    char key[300];
    snprintf(key, sizeof key, "%s.atoms", path);
    if (!n || n->type != YAML_MAPPING_NODE || map_len(n) == 0) {
        problem(p, n, key, "must map atom names to types (O: tip3p-O, or O: {type: tip3p-O, "
                           "aliases: [OW]})");
        return;
    }
    static const char *const known[] = {"type", "aliases", NULL};
    CLMD_NEW(r->atoms, map_len(n));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node_at(p, pr->key), *vn = node_at(p, pr->value);
        clmd_ffatom *a = &r->atoms[r->natoms];
        char sub[400], tname[32] = "";
        snprintf(sub, sizeof sub, "%s.%s", key, scalar(kn) ? scalar(kn) : "?");
        if (str(p, kn, sub, a->name, sizeof a->name) != 0) continue;
        const yaml_node_t *tn = vn;
        if (vn && vn->type == YAML_MAPPING_NODE) {
            yaml_node_t *v[2];
            fields(p, vn, sub, known, v);
            tn = v[0];
            if (v[1]) {
                char ak[420];
                snprintf(ak, sizeof ak, "%s.aliases", sub);
                int c = names(p, v[1], ak, a->aliases, CLMD_FF_ALIASES);
                if (c > 0) a->naliases = c;
            }
            if (!tn) {
                problem(p, vn, sub, "needs a type");
                continue;
            }
        }
        char tk[420];
        snprintf(tk, sizeof tk, "%s%s", sub, tn == vn ? "" : ".type");
        if (str(p, tn, tk, tname, sizeof tname) != 0) continue;
        a->type = clmd_ff_find_type(ff, tname);
        if (a->type < 0) {
            problem(p, tn, tk, "unknown type '%s'", tname);
            continue;
        }
        /* names and aliases must identify one atom of the template */
        int dup = res_atom(r, a->name) >= 0;
        for (int k = 0; k < a->naliases; k++) dup |= res_atom(r, a->aliases[k]) >= 0;
        if (dup) {
            problem(p, kn, sub, "name or alias already used by another atom of %s", r->name);
            continue;
        }
        r->natoms++;
    }
}

static void parse_bonds(ffp *p, clmd_ffres *r, const yaml_node_t *n, const char *path)
{
    char key[300];
    snprintf(key, sizeof key, "%s.bonds", path);
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(p, n, key, "must be a list of {atoms: [A, B], k: kJ/mol/nm^2, r0: nm}");
        return;
    }
    static const char *const known[] = {"atoms", "k", "r0", NULL};
    CLMD_NEW(r->bonds, seq_len(n));
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *bn = node_at(p, n->data.sequence.items.start[i]), *v[3];
        char sub[320], k2[340];
        snprintf(sub, sizeof sub, "%s[%d]", key, i);
        if (fields(p, bn, sub, known, v) != 0) continue;
        clmd_ffbond *b = &r->bonds[r->nbonds];
        int idx[2], bad = 0;
        snprintf(k2, sizeof k2, "%s.atoms", sub);
        bad |= !v[0] ? (problem(p, bn, k2, "is required"), 1) : atom_list(p, r, v[0], k2, 2, idx) != 0;
        snprintf(k2, sizeof k2, "%s.k", sub);
        bad |= !v[1] ? (problem(p, bn, k2, "is required (kJ/mol/nm^2)"), 1) : num(p, v[1], k2, &b->k) != 0;
        if (!bad && b->k < 0) bad = (problem(p, v[1], k2, "must be >= 0"), 1);
        snprintf(k2, sizeof k2, "%s.r0", sub);
        bad |= !v[2] ? (problem(p, bn, k2, "is required (nm)"), 1) : num(p, v[2], k2, &b->r0) != 0;
        if (!bad && !(b->r0 > 0)) bad = (problem(p, v[2], k2, "must be > 0"), 1);
        if (bad) continue;
        b->a = idx[0], b->b = idx[1];
        r->nbonds++;
    }
}

static void parse_angles(ffp *p, clmd_ffres *r, const yaml_node_t *n, const char *path)
{
    char key[300];
    snprintf(key, sizeof key, "%s.angles", path);
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(p, n, key, "must be a list of {atoms: [A, B, C], k: kJ/mol/rad^2, theta0: degrees}");
        return;
    }
    static const char *const known[] = {"atoms", "k", "theta0", NULL};
    CLMD_NEW(r->angles, seq_len(n));
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *an = node_at(p, n->data.sequence.items.start[i]), *v[3];
        char sub[320], k2[340];
        snprintf(sub, sizeof sub, "%s[%d]", key, i);
        if (fields(p, an, sub, known, v) != 0) continue;
        clmd_ffangle *a = &r->angles[r->nangles];
        int idx[3], bad = 0;
        double deg = 0;
        snprintf(k2, sizeof k2, "%s.atoms", sub);
        bad |= !v[0] ? (problem(p, an, k2, "is required"), 1) : atom_list(p, r, v[0], k2, 3, idx) != 0;
        snprintf(k2, sizeof k2, "%s.k", sub);
        bad |= !v[1] ? (problem(p, an, k2, "is required (kJ/mol/rad^2)"), 1) : num(p, v[1], k2, &a->k) != 0;
        if (!bad && a->k < 0) bad = (problem(p, v[1], k2, "must be >= 0"), 1);
        snprintf(k2, sizeof k2, "%s.theta0", sub);
        bad |= !v[2] ? (problem(p, an, k2, "is required (degrees)"), 1) : num(p, v[2], k2, &deg) != 0;
        if (!bad && !(deg > 0 && deg <= 180)) bad = (problem(p, v[2], k2, "must be in (0, 180] degrees"), 1);
        if (bad) continue;
        a->a = idx[0], a->b = idx[1], a->c = idx[2];
        a->theta0 = deg * M_PI / 180.0;
        r->nangles++;
    }
}

static void parse_rigid(ffp *p, const clmd_ff *ff, clmd_ffres *r, const yaml_node_t *n,
                        const char *path)
{
    char key[300], k2[340];
    snprintf(key, sizeof key, "%s.rigid_water", path);
    static const char *const known[] = {"oxygen", "hydrogens", "oh", "hh", NULL};
    yaml_node_t *v[4];
    if (fields(p, n, key, known, v) != 0) return;
    int bad = 0, o = -1, h[2] = {-1, -1};
    char oname[CLMD_FF_NAME];
    snprintf(k2, sizeof k2, "%s.oxygen", key);
    if (!v[0]) bad = (problem(p, n, k2, "is required"), 1);
    else if (str(p, v[0], k2, oname, sizeof oname) != 0) bad = 1;
    else if ((o = res_atom(r, oname)) < 0)
        bad = (problem(p, v[0], k2, "atom '%s' is not an atom of residue %s", oname, r->name), 1);
    snprintf(k2, sizeof k2, "%s.hydrogens", key);
    if (!v[1]) bad = (problem(p, n, k2, "is required"), 1);
    else if (atom_list(p, r, v[1], k2, 2, h) != 0) bad = 1;
    snprintf(k2, sizeof k2, "%s.oh", key);
    if (!v[2]) bad = (problem(p, n, k2, "is required (nm)"), 1);
    else if (num(p, v[2], k2, &r->rigid_oh) != 0) bad = 1;
    snprintf(k2, sizeof k2, "%s.hh", key);
    if (!v[3]) bad = (problem(p, n, k2, "is required (nm)"), 1);
    else if (num(p, v[3], k2, &r->rigid_hh) != 0) bad = 1;
    if (bad) return;
    if (o == h[0] || o == h[1]) {
        problem(p, v[0], key, "the oxygen is also listed as a hydrogen");
        return;
    }
    if (!(r->rigid_oh > 0 && r->rigid_hh > 0 && r->rigid_hh < 2 * r->rigid_oh)) {
        problem(p, n, key, "oh %g and hh %g nm do not make a triangle (need 0 < hh < 2 oh)",
                r->rigid_oh, r->rigid_hh);
        return;
    }
    const int idx[3] = {o, h[0], h[1]};
    for (int k = 0; k < 3; k++)
        if (ff->types[r->atoms[idx[k]].type].mass <= 0) {
            problem(p, n, key, "atom %s has a massless type and cannot be constrained",
                    r->atoms[idx[k]].name);
            return;
        }
    r->rigid_o = o, r->rigid_h[0] = h[0], r->rigid_h[1] = h[1];
    r->rigid = 1;
}

static void parse_vsites(ffp *p, const clmd_ff *ff, clmd_ffres *r, const yaml_node_t *n,
                         const char *path)
{
    char key[300];
    snprintf(key, sizeof key, "%s.virtual_sites", path);
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(p, n, key, "must be a list of {site: M, type: average3, atoms: [A, B, C], "
                           "weights: [wa, wb, wc]}");
        return;
    }
    static const char *const known[] = {"site", "type", "atoms", "weights", NULL};
    CLMD_NEW(r->vsites, seq_len(n));
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *sn = node_at(p, n->data.sequence.items.start[i]), *v[4];
        char sub[320], k2[340], nm[CLMD_FF_NAME], ty[32];
        snprintf(sub, sizeof sub, "%s[%d]", key, i);
        if (fields(p, sn, sub, known, v) != 0) continue;
        clmd_ffvsite *s = &r->vsites[r->nvsites];
        int bad = 0, idx[3];
        snprintf(k2, sizeof k2, "%s.site", sub);
        if (!v[0]) bad = (problem(p, sn, k2, "is required"), 1);
        else if (str(p, v[0], k2, nm, sizeof nm) != 0) bad = 1;
        else if ((s->site = res_atom(r, nm)) < 0)
            bad = (problem(p, v[0], k2, "atom '%s' is not an atom of residue %s", nm, r->name), 1);
        snprintf(k2, sizeof k2, "%s.type", sub);
        if (v[1] && str(p, v[1], k2, ty, sizeof ty) == 0 && strcmp(ty, "average3") != 0)
            bad = (problem(p, v[1], k2, "'%s' is not supported (only average3)", ty), 1);
        snprintf(k2, sizeof k2, "%s.atoms", sub);
        if (!v[2]) bad = (problem(p, sn, k2, "is required"), 1);
        else if (atom_list(p, r, v[2], k2, 3, idx) != 0) bad = 1;
        snprintf(k2, sizeof k2, "%s.weights", sub);
        if (!v[3] || v[3]->type != YAML_SEQUENCE_NODE || seq_len(v[3]) != 3) {
            bad = (problem(p, v[3] ? v[3] : sn, k2, "must be a list of 3 numbers"), 1);
        } else {
            for (int k = 0; k < 3; k++) {
                char k3[360];
                snprintf(k3, sizeof k3, "%s[%d]", k2, k);
                bad |= num(p, node_at(p, v[3]->data.sequence.items.start[k]), k3, &s->w[k]) != 0;
            }
            /* weights not summing to 1 would make the site move when the molecule translates */
            if (!bad && fabs(s->w[0] + s->w[1] + s->w[2] - 1.0) > 1e-6)
                bad = (problem(p, v[3], k2, "weights sum to %.9g; they must sum to 1",
                               s->w[0] + s->w[1] + s->w[2]), 1);
        }
        if (bad) continue;
        if (s->site == idx[0] || s->site == idx[1] || s->site == idx[2]) {
            problem(p, v[0], sub, "the site is one of its own parent atoms");
            continue;
        }
        if (r->atoms[s->site].is_vsite) {
            problem(p, v[0], sub, "atom %s is placed by two virtual sites", r->atoms[s->site].name);
            continue;
        }
        if (ff->types[r->atoms[s->site].type].mass != 0) {
            problem(p, v[0], sub, "atom %s is a virtual site but its type has mass %g (must be 0)",
                    r->atoms[s->site].name, ff->types[r->atoms[s->site].type].mass);
            continue;
        }
        s->a = idx[0], s->b = idx[1], s->c = idx[2];
        r->atoms[s->site].is_vsite = 1;
        r->nvsites++;
    }
    for (int i = 0; i < r->nvsites; i++) {
        const clmd_ffvsite *s = &r->vsites[i];
        if (r->atoms[s->a].is_vsite || r->atoms[s->b].is_vsite || r->atoms[s->c].is_vsite)
            problem(p, n, key, "virtual site %s is built from another virtual site (not supported)",
                    r->atoms[s->site].name);
    }
}

static int residue_name_used(const clmd_ff *ff, const char *name)
{
    return clmd_ff_find_residue(ff, name) != NULL;
}

static void parse_residues(ffp *p, clmd_ff *ff, const yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        problem(p, n, "residues", "must map residue names to templates");
        return;
    }
    static const char *const known[] = {"aliases", "atoms", "bonds", "angles", "rigid_water",
                                        "virtual_sites", NULL};
    CLMD_NEW(ff->res, map_len(n));
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = node_at(p, pr->key), *vn = node_at(p, pr->value), *v[6];
        clmd_ffres *r = &ff->res[ff->nres];
        char path[256];
        snprintf(path, sizeof path, "residues.%s", scalar(kn) ? scalar(kn) : "?");
        if (str(p, kn, path, r->name, sizeof r->name) != 0) continue;
        r->line = (int)kn->start_mark.line + 1;
        if (fields(p, vn, path, known, v) != 0) continue;
        if (v[0]) {
            char k2[300];
            snprintf(k2, sizeof k2, "%s.aliases", path);
            int c = names(p, v[0], k2, r->aliases, CLMD_FF_ALIASES);
            if (c > 0) r->naliases = c;
        }
        if (residue_name_used(ff, r->name))
            problem(p, kn, path, "residue name already used by another template");
        for (int k = 0; k < r->naliases; k++)
            if (residue_name_used(ff, r->aliases[k]) || strcmp(r->aliases[k], r->name) == 0)
                problem(p, v[0], path, "alias '%s' already names a template", r->aliases[k]);
        if (!v[1]) problem(p, vn, path, "needs atoms");
        else parse_atoms(p, ff, r, v[1], path);
        if (v[2]) parse_bonds(p, r, v[2], path);
        if (v[3]) parse_angles(p, r, v[3], path);
        if (v[5]) parse_vsites(p, ff, r, v[5], path);
        if (v[4]) parse_rigid(p, ff, r, v[4], path);
        for (int a = 0; a < r->natoms; a++)
            if (!r->atoms[a].is_vsite && ff->types[r->atoms[a].type].mass == 0)
                problem(p, v[1], path,
                        "atom %s has a massless type but no virtual site places it",
                        r->atoms[a].name);
        /* kept even when it had problems, so that later names resolve; the load fails anyway */
        ff->nres++;
    }
}

static void parse_match(ffp *p, clmd_ff *ff, const yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(p, n, "match", "must be a list of {type: T, element: E, name: N, residue: R}");
        return;
    }
    static const char *const known[] = {"type", "element", "name", "residue", NULL};
    CLMD_NEW(ff->match, seq_len(n));
    for (int i = 0; i < seq_len(n); i++) {
        yaml_node_t *mn = node_at(p, n->data.sequence.items.start[i]), *v[4];
        char sub[64], k2[96], tname[32];
        snprintf(sub, sizeof sub, "match[%d]", i);
        if (fields(p, mn, sub, known, v) != 0) continue;
        clmd_ffmatch *m = &ff->match[ff->nmatch];
        int bad = 0;
        snprintf(k2, sizeof k2, "%s.type", sub);
        if (!v[0]) bad = (problem(p, mn, k2, "is required"), 1);
        else if (str(p, v[0], k2, tname, sizeof tname) != 0) bad = 1;
        else if ((m->type = clmd_ff_find_type(ff, tname)) < 0)
            bad = (problem(p, v[0], k2, "unknown type '%s'", tname), 1);
        if (v[1]) {
            snprintf(k2, sizeof k2, "%s.element", sub);
            if (str(p, v[1], k2, m->element, sizeof m->element) != 0) bad = 1;
            else if (!clmd_element_number(m->element))
                bad = (problem(p, v[1], k2, "'%s' is not an element symbol", m->element), 1);
            else snprintf(m->element, sizeof m->element, "%s",
                          clmd_element_symbol(clmd_element_number(m->element)));
        }
        snprintf(k2, sizeof k2, "%s.name", sub);
        if (v[2] && str(p, v[2], k2, m->name, sizeof m->name) != 0) bad = 1;
        snprintf(k2, sizeof k2, "%s.residue", sub);
        if (v[3] && str(p, v[3], k2, m->residue, sizeof m->residue) != 0) bad = 1;
        if (!v[1] && !v[2] && !v[3]) bad = (problem(p, mn, sub, "needs element, name or residue"), 1);
        if (!bad) ff->nmatch++;
    }
}

int clmd_ff_parse_string(const char *text, const char *name, clmd_ff **out, clmd_err *err)
{
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot initialize the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        int st = clmd_err_set(err, CLMD_EINPUT, "%s:%d:%d: YAML syntax error: %s%s%s", name,
                              (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                              parser.problem ? parser.problem : "unknown",
                              parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);

    ffp p = {.file = name, .doc = &doc};
    clmd_ff *ff = clmd_alloc(sizeof *ff);
    snprintf(ff->path, sizeof ff->path, "%s", name);
    ff->scale14_coulomb = 0.833333;
    ff->scale14_lj = 0.5;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    static const char *const known[] = {"clmd_forcefield", "name", "reference", "scale14",
                                        "types", "residues", "match", NULL};
    yaml_node_t *v[7];
    if (!root || is_null(root)) {
        problem(&p, root, "types", "the file is empty (a force field needs at least 'types')");
    } else if (fields(&p, root, "", known, v) == 0) {
        double version = 1;
        if (v[0] && num(&p, v[0], "clmd_forcefield", &version) == 0 && version != 1)
            problem(&p, v[0], "clmd_forcefield", "format version %g is not supported (only 1)",
                    version);
        if (v[1]) str(&p, v[1], "name", ff->name, sizeof ff->name);
        if (v[2] && !scalar(v[2])) problem(&p, v[2], "reference", "must be text");
        if (v[3]) {
            static const char *const k14[] = {"coulomb", "lj", NULL};
            yaml_node_t *s[2];
            if (fields(&p, v[3], "scale14", k14, s) == 0) {
                if (s[0]) num(&p, s[0], "scale14.coulomb", &ff->scale14_coulomb);
                if (s[1]) num(&p, s[1], "scale14.lj", &ff->scale14_lj);
            }
        }
        if (!v[4]) problem(&p, root, "types", "is required");
        else parse_types(&p, ff, v[4]);
        if (v[5]) parse_residues(&p, ff, v[5]);
        if (v[6]) parse_match(&p, ff, v[6]);
        if (!p.nproblems && ff->nres == 0 && ff->nmatch == 0)
            problem(&p, root, "residues", "the file has neither residue templates nor match "
                                          "rules, so no atom could be given a type");
    }
    yaml_document_delete(&doc);
    if (p.nproblems) {
        if (p.nproblems > MAX_PROBLEMS)
            snprintf(p.buf + p.len, sizeof p.buf - p.len, "\n(%d more problems)",
                     p.nproblems - MAX_PROBLEMS);
        clmd_ff_destroy(&ff);
        return clmd_err_set(err, CLMD_EINPUT, "%s", p.buf);
    }
    *out = ff;
    return CLMD_OK;
}

int clmd_ff_load(const char *path, clmd_ff **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return clmd_err_set(err, CLMD_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *text = clmd_alloc(cap);
    size_t got;
    while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            text = clmd_realloc(text, cap, 2 * cap);
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        clmd_free(text);
        return clmd_err_set(err, CLMD_EINPUT, "%s: read error", path);
    }
    text[len] = '\0';
    int st = clmd_ff_parse_string(text, path, out, err);
    clmd_free(text);
    return st;
}

void clmd_ff_destroy(clmd_ff **ff)
{
    if (!ff || !*ff) return;
    clmd_ff *f = *ff;
    for (int r = 0; r < f->nres; r++) {
        clmd_free(f->res[r].atoms);
        clmd_free(f->res[r].bonds);
        clmd_free(f->res[r].angles);
        clmd_free(f->res[r].vsites);
    }
    clmd_free(f->res);
    clmd_free(f->types);
    clmd_free(f->match);
    clmd_free(f);
    *ff = NULL;
}

int clmd_ff_find_type(const clmd_ff *ff, const char *name)
{
    for (int t = 0; t < ff->ntypes; t++)
        if (strcmp(ff->types[t].name, name) == 0) return t;
    return -1;
}

const clmd_ffres *clmd_ff_find_residue(const clmd_ff *ff, const char *resname)
{
    for (int r = 0; r < ff->nres; r++) {
        if (strcmp(ff->res[r].name, resname) == 0) return &ff->res[r];
        for (int k = 0; k < ff->res[r].naliases; k++)
            if (strcmp(ff->res[r].aliases[k], resname) == 0) return &ff->res[r];
    }
    return NULL;
}

const clmd_ffres *clmd_ff_water(const clmd_ff *ff)
{
    for (int r = 0; r < ff->nres; r++)
        if (ff->res[r].rigid) return &ff->res[r];
    return NULL;
}

int clmd_ff_locate(const char *name, const char *dir, char *out, size_t size, clmd_err *err)
{
    char file[256];
    size_t n = strlen(name);
    snprintf(file, sizeof file, "%s%s", name,
             n > 5 && strcmp(name + n - 5, ".yaml") == 0 ? "" : ".yaml");
    char looked[1024] = "";
    size_t used = 0;
    const char *env = getenv("CLMD_FORCEFIELD_PATH");
    char dirs[2048] = "";
    snprintf(dirs, sizeof dirs, "%s:%s:%s/forcefields", env ? env : "", dir ? dir : "",
             CLMD_SOURCE_DIR);
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (!*d) continue;
        snprintf(out, size, "%s/%s", d, file);
        if (access(out, R_OK) == 0) return CLMD_OK;
        int w = snprintf(looked + used, sizeof looked - used, "%s%s", used ? ", " : "", d);
        if (w > 0 && (size_t)w < sizeof looked - used) used += (size_t)w;
    }
    out[0] = '\0';
    return clmd_err_set(err, CLMD_EINPUT,
                        "force field '%s' not found (looked in %s; set CLMD_FORCEFIELD_PATH)",
                        file, looked);
}
