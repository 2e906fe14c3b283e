#include "system/molecules.h"

#include "core/mem.h"
#include "system/system.h"

static int find(int *parent, int i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void unite(int *parent, int a, int b)
{
    a = find(parent, a);
    b = find(parent, b);
    /* the smaller index becomes the root, so a molecule's root is its first atom */
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

clmd_molecules *clmd_molecules_create(const clmd_system *s)
{
    const int n = s->n;
    int *parent;
    CLMD_NEW(parent, n);
    for (int i = 0; i < n; i++) parent[i] = i;
    for (int k = 0; k < s->nbonds; k++) unite(parent, s->bonds[k].i, s->bonds[k].j);
    for (int k = 0; k < s->nconstraints; k++) unite(parent, s->constraints[k].i, s->constraints[k].j);
    for (int k = 0; k < s->nvsites; k++) {
        unite(parent, s->vsites[k].site, s->vsites[k].a);
        unite(parent, s->vsites[k].site, s->vsites[k].b);
        unite(parent, s->vsites[k].site, s->vsites[k].c);
    }
    clmd_molecules *m = clmd_alloc(sizeof *m);
    CLMD_NEW(m->of_atom, n);
    CLMD_NEW(m->atoms, n);
    int *index_of_root;
    CLMD_NEW(index_of_root, n);
    for (int i = 0; i < n; i++) {
        int r = find(parent, i);
        if (r == i) index_of_root[i] = m->n++;
        m->of_atom[i] = index_of_root[r];
    }
    CLMD_NEW(m->start, m->n + 1);
    for (int i = 0; i < n; i++) m->start[m->of_atom[i] + 1]++;
    for (int k = 0; k < m->n; k++) {
        m->start[k + 1] += m->start[k];
        int size = m->start[k + 1] - m->start[k];
        if (size > m->largest) m->largest = size;
    }
    int *fill;
    CLMD_NEW(fill, m->n);
    for (int i = 0; i < n; i++) {
        int k = m->of_atom[i];
        m->atoms[m->start[k] + fill[k]++] = i;
    }
    clmd_free(fill);
    clmd_free(index_of_root);
    clmd_free(parent);
    return m;
}

void clmd_molecules_destroy(clmd_molecules **pm)
{
    if (!pm || !*pm) return;
    clmd_molecules *m = *pm;
    clmd_free(m->start);
    clmd_free(m->atoms);
    clmd_free(m->of_atom);
    clmd_free(m);
    *pm = NULL;
}
