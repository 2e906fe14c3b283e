/* clmd_ff_build(): coordinates + force field -> system (declared in forcefield.h).
 * Coordinates are cut into units (a file residue, or in files without residues a run of atoms
 * matching a template's element sequence, or a single atom), each unit gets a template or
 * per-atom match rules, and the system is written unit by unit in file order, with virtual
 * sites the file left out appended to their unit. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "system/coords.h"
#include "system/forcefield.h"
#include "system/system.h"

typedef struct {
    int first, count;      /* file atoms first .. first+count-1 */
    const clmd_ffres *t;   /* template, or NULL: per-atom match rules */
    int map;               /* offset of this unit's template->file map in build.map */
    int out;               /* first output particle */
    int nout;              /* output particles (file atoms + inserted virtual sites) */
} unit;

typedef struct {
    int nunits, capunits;
    unit *units;
    int nmap, capmap;
    int *map;   /* per templated unit: [t->natoms] file atom index, or -1 (virtual site to insert) */
    int *tatom; /* [c->n] template atom of each file atom, -1 when untemplated */
    int *type;  /* [c->n] ff type of each file atom */
} build;

static unit *add_unit(build *b)
{
    if (b->nunits == b->capunits) {
        int nc = b->capunits ? 2 * b->capunits : 256;
        b->units = clmd_realloc(b->units, sizeof *b->units * (size_t)b->capunits,
                                sizeof *b->units * (size_t)nc);
        b->capunits = nc;
    }
    unit *u = &b->units[b->nunits++];
    memset(u, 0, sizeof *u);
    return u;
}

static int add_map(build *b, int natoms)
{
    if (b->nmap + natoms > b->capmap) {
        int nc = b->capmap ? 2 * b->capmap : 1024;
        while (nc < b->nmap + natoms) nc *= 2;
        b->map = clmd_realloc(b->map, sizeof(int) * (size_t)b->capmap, sizeof(int) * (size_t)nc);
        b->capmap = nc;
    }
    int off = b->nmap;
    for (int k = 0; k < natoms; k++) b->map[off + k] = -1;
    b->nmap += natoms;
    return off;
}

static int tmpl_atom(const clmd_ffres *t, const char *name)
{
    for (int a = 0; a < t->natoms; a++) {
        if (strcmp(t->atoms[a].name, name) == 0) return a;
        for (int k = 0; k < t->atoms[a].naliases; k++)
            if (strcmp(t->atoms[a].aliases[k], name) == 0) return a;
    }
    return -1;
}

/* Does file atom i fit template atom a (files without residue names)? Real atoms by element
 * (or by name when the type has no element), virtual sites by having no element. */
static int fits(const clmd_ff *ff, const clmd_coords *c, int i, const clmd_ffres *t, int a)
{
    const clmd_fftype *ty = &ff->types[t->atoms[a].type];
    if (t->atoms[a].is_vsite) return c->atomic_number[i] == 0;
    if (ty->atomic_number) return c->atomic_number[i] == ty->atomic_number;
    return tmpl_atom(t, c->name[i]) == a;
}

/* Tries template t at file atom i of a file without residues: all atoms in order, or the real
 * atoms only (virtual sites then inserted). Returns the atoms used, 0 when it does not fit. */
static int try_template(build *b, const clmd_ff *ff, const clmd_coords *c, int i,
                        const clmd_ffres *t)
{
    for (int with_sites = 1; with_sites >= 0; with_sites--) {
        int k = i, ok = 1;
        for (int a = 0; a < t->natoms && ok; a++) {
            if (!with_sites && t->atoms[a].is_vsite) continue;
            ok = k < c->n && c->res[k] < 0 && fits(ff, c, k, t, a);
            k++;
        }
        if (!ok || k == i) continue;
        unit *u = add_unit(b);
        u->first = i, u->count = k - i, u->t = t, u->map = add_map(b, t->natoms);
        k = i;
        for (int a = 0; a < t->natoms; a++) {
            if (!with_sites && t->atoms[a].is_vsite) continue;
            b->map[u->map + a] = k;
            b->tatom[k] = a;
            b->type[k] = t->atoms[a].type;
            k++;
        }
        return u->count;
    }
    return 0;
}

static int match_rule(const clmd_ff *ff, const clmd_coords *c, int i)
{
    const char *resname = c->res[i] >= 0 ? c->resname[c->res[i]] : "";
    for (int m = 0; m < ff->nmatch; m++) {
        const clmd_ffmatch *r = &ff->match[m];
        if (r->residue[0] && strcmp(r->residue, resname) != 0) continue;
        if (r->name[0] && strcmp(r->name, c->name[i]) != 0) continue;
        if (r->element[0] && strcasecmp(r->element, c->element[i]) != 0) continue;
        return r->type;
    }
    return -1;
}

/* Maps the atoms of one file residue onto template t. */
static int map_residue(build *b, const clmd_ff *ff, const clmd_coords *c, unit *u, clmd_err *err)
{
    const clmd_ffres *t = u->t;
    u->map = add_map(b, t->natoms);
    for (int i = u->first; i < u->first + u->count; i++) {
        int a = tmpl_atom(t, c->name[i]);
        if (a < 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: atom '%s' of residue %s is not in template %s (%s:%d)",
                                c->source, c->line[i], c->name[i], c->resname[c->res[i]], t->name,
                                ff->path, t->line);
        if (b->map[u->map + a] >= 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: residue %s has atom '%s' twice (first at line %d)",
                                c->source, c->line[i], c->resname[c->res[i]], c->name[i],
                                c->line[b->map[u->map + a]]);
        b->map[u->map + a] = i;
        b->tatom[i] = a;
        b->type[i] = t->atoms[a].type;
    }
    for (int a = 0; a < t->natoms; a++)
        if (b->map[u->map + a] < 0 && !t->atoms[a].is_vsite)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: residue %s lacks atom '%s' of template %s (%s:%d)",
                                c->source, c->line[u->first], c->resname[c->res[u->first]],
                                t->atoms[a].name, t->name, ff->path, t->line);
    return CLMD_OK;
}

static int untemplated(build *b, const clmd_ff *ff, const clmd_coords *c, unit *u, clmd_err *err)
{
    for (int i = u->first; i < u->first + u->count; i++) {
        b->type[i] = match_rule(ff, c, i);
        if (b->type[i] < 0)
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s:%d: atom '%s' (element '%s', residue '%s') matches no residue "
                                "template and no match rule of %s",
                                c->source, c->line[i], c->name[i], c->element[i],
                                c->res[i] >= 0 ? c->resname[c->res[i]] : "", ff->path);
    }
    return CLMD_OK;
}

typedef struct {
    int n, cap;
    int (*p)[2];
} pairlist;

static void add_pair(pairlist *l, int i, int j)
{
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 1024;
        l->p = clmd_realloc(l->p, sizeof *l->p * (size_t)l->cap, sizeof *l->p * (size_t)nc);
        l->cap = nc;
    }
    l->p[l->n][0] = i;
    l->p[l->n][1] = j;
    l->n++;
}

/* Exclusions and 1-4 pairs of one templated unit: graph distances over the template's bonds
 * (plus the rigid O-H pairs), a virtual site joined to its first parent and to that parent's
 * neighbours (it shares the parent's exclusions, as in OpenMM). */
static void template_exclusions(const clmd_ff *ff, const clmd_ffres *t, const int *outmap,
                                clmd_system *s, pairlist *excl)
{
    int n = t->natoms;
    if (n < 2) return;
    char *adj = clmd_calloc((size_t)n * (size_t)n, 1);
    for (int k = 0; k < t->nbonds; k++)
        adj[t->bonds[k].a * n + t->bonds[k].b] = adj[t->bonds[k].b * n + t->bonds[k].a] = 1;
    if (t->rigid)
        for (int h = 0; h < 2; h++)
            adj[t->rigid_o * n + t->rigid_h[h]] = adj[t->rigid_h[h] * n + t->rigid_o] = 1;
    for (int k = 0; k < t->nvsites; k++) {
        int site = t->vsites[k].site, a = t->vsites[k].a;
        for (int j = 0; j < n; j++)
            if (adj[a * n + j] && j != site) adj[site * n + j] = adj[j * n + site] = 1;
        adj[site * n + a] = adj[a * n + site] = 1;
    }
    int *dist = clmd_calloc((size_t)n, sizeof(int)), *queue = clmd_calloc((size_t)n, sizeof(int));
    for (int src = 0; src < n; src++) {
        for (int j = 0; j < n; j++) dist[j] = -1;
        int head = 0, tail = 0;
        dist[src] = 0;
        queue[tail++] = src;
        while (head < tail) {
            int v = queue[head++];
            if (dist[v] == 3) continue;
            for (int w = 0; w < n; w++)
                if (adj[v * n + w] && dist[w] < 0) dist[w] = dist[v] + 1, queue[tail++] = w;
        }
        for (int j = src + 1; j < n; j++) {
            if (dist[j] < 1) continue;
            int pi = outmap[src], pj = outmap[j];
            add_pair(excl, pi, pj);
            if (dist[j] == 3) {
                clmd_system_add_pair(s, pi, pj, ff->scale14_coulomb * s->charge[pi] * s->charge[pj],
                                     0.5 * (s->sigma[pi] + s->sigma[pj]),
                                     ff->scale14_lj * sqrt(s->epsilon[pi] * s->epsilon[pj]));
            }
        }
    }
    clmd_free(dist);
    clmd_free(queue);
    clmd_free(adj);
}

int clmd_ff_build(const clmd_ff *ff, const clmd_coords *c, clmd_system **out, clmd_err *err)
{
    *out = NULL;
    int status = CLMD_OK;
    build b = {0};
    clmd_system *s = NULL;
    pairlist excl = {0};
    int *outmap = NULL;
    CLMD_NEW(b.tatom, c->n);
    CLMD_NEW(b.type, c->n);
    for (int i = 0; i < c->n; i++) b.tatom[i] = b.type[i] = -1;

    /* 1. units and types */
    for (int i = 0; i < c->n;) {
        if (c->res[i] >= 0) {
            unit *u = add_unit(&b);
            u->first = i;
            while (i < c->n && c->res[i] == c->res[u->first]) i++;
            u->count = i - u->first;
            u->t = clmd_ff_find_residue(ff, c->resname[c->res[u->first]]);
            status = u->t ? map_residue(&b, ff, c, u, err) : untemplated(&b, ff, c, u, err);
            if (status) goto fail;
            continue;
        }
        int used = 0;
        for (int r = 0; r < ff->nres && !used; r++) used = try_template(&b, ff, c, i, &ff->res[r]);
        if (!used) {
            unit *u = add_unit(&b);
            u->first = i, u->count = used = 1;
            if ((status = untemplated(&b, ff, c, u, err))) goto fail;
        }
        i += used;
    }

    /* 2. output layout: file atoms, then the unit's missing virtual sites */
    int n = 0, maxt = 1;
    for (int k = 0; k < b.nunits; k++) {
        unit *u = &b.units[k];
        u->out = n;
        u->nout = u->count;
        if (u->t) {
            for (int a = 0; a < u->t->natoms; a++) u->nout += b.map[u->map + a] < 0;
            if (u->t->natoms > maxt) maxt = u->t->natoms;
        }
        n += u->nout;
    }

    s = clmd_system_create();
    snprintf(s->source, sizeof s->source, "%s", c->source);
    clmd_system_alloc_particles(s, n);
    s->nresidues = b.nunits;
    CLMD_NEW(s->resname, b.nunits);
    int *compact = clmd_calloc((size_t)ff->ntypes, sizeof(int));
    for (int t = 0; t < ff->ntypes; t++) compact[t] = -1;
    CLMD_NEW(outmap, maxt);

    for (int k = 0; k < b.nunits; k++) {
        unit *u = &b.units[k];
        const clmd_ffres *t = u->t;
        const char *rn = c->res[u->first] >= 0 ? c->resname[c->res[u->first]] : "";
        snprintf(s->resname[k], sizeof s->resname[0], "%s",
                 rn[0] ? rn : t ? t->name : c->name[u->first]);
        int p = u->out;
        for (int i = u->first; i < u->first + u->count; i++, p++) {
            memcpy(&s->x[3 * p], &c->x[3 * i], 3 * sizeof(double));
            snprintf(s->name[p], sizeof s->name[0], "%s", c->name[i][0] ? c->name[i] : c->element[i]);
            s->type[p] = b.type[i];
            s->atomic_number[p] = c->atomic_number[i];
            if (t) outmap[b.tatom[i]] = p;
        }
        if (t)
            for (int a = 0; a < t->natoms; a++)
                if (b.map[u->map + a] < 0) {
                    snprintf(s->name[p], sizeof s->name[0], "%s", t->atoms[a].name);
                    s->type[p] = t->atoms[a].type;
                    outmap[a] = p++;
                }
        for (p = u->out; p < u->out + u->nout; p++) {
            const clmd_fftype *ty = &ff->types[s->type[p]];
            s->residue[p] = k;
            s->mass[p] = ty->mass;
            s->charge[p] = ty->charge;
            s->sigma[p] = ty->sigma;
            s->epsilon[p] = ty->epsilon;
            if (ty->atomic_number || ty->mass == 0) s->atomic_number[p] = ty->atomic_number;
            if (compact[s->type[p]] < 0) compact[s->type[p]] = s->ntypes++;
        }
        if (!t) continue;
        for (int j = 0; j < t->nbonds; j++)
            clmd_system_add_bond(s, outmap[t->bonds[j].a], outmap[t->bonds[j].b], t->bonds[j].k,
                                 t->bonds[j].r0);
        for (int j = 0; j < t->nangles; j++)
            clmd_system_add_angle(s, outmap[t->angles[j].a], outmap[t->angles[j].b],
                                  outmap[t->angles[j].c], t->angles[j].k, t->angles[j].theta0);
        for (int j = 0; j < t->nvsites; j++) {
            const clmd_ffvsite *v = &t->vsites[j];
            int site = outmap[v->site], pa = outmap[v->a], pb = outmap[v->b], pc = outmap[v->c];
            clmd_system_add_vsite(s, site, pa, pb, pc, v->w[0], v->w[1], v->w[2]);
            if (b.map[u->map + v->site] < 0) /* inserted: place it from its parents */
                for (int d = 0; d < 3; d++)
                    s->x[3 * site + d] = v->w[0] * s->x[3 * pa + d] + v->w[1] * s->x[3 * pb + d] +
                                         v->w[2] * s->x[3 * pc + d];
        }
        template_exclusions(ff, t, outmap, s, &excl);
    }
    for (int p = 0; p < n; p++) s->type[p] = compact[s->type[p]];
    clmd_free(compact);
    clmd_system_set_exclusions(s, excl.n, (const int(*)[2])excl.p);
    if (c->has_cell)
        clmd_system_set_box_angles(s, c->cell[0], c->cell[1], c->cell[2], c->cell[3], c->cell[4],
                                   c->cell[5]);
    if ((status = clmd_system_validate(s, err))) goto fail;
    *out = s;
    s = NULL;
fail:
    clmd_system_destroy(&s);
    clmd_free(excl.p);
    clmd_free(outmap);
    clmd_free(b.units);
    clmd_free(b.map);
    clmd_free(b.tatom);
    clmd_free(b.type);
    return status;
}
