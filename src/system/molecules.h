/* Molecules: the connected components of the graph whose edges are bonds, constraints and
 * virtual-site parent links (a site belongs to its parents' molecule). The barostat scales each
 * molecule as a rigid unit about its centroid, and the degrees of freedom of the molecular
 * kinetic energy (pressure) count them. Atoms of a molecule are listed in increasing index
 * order; molecules are ordered by their first atom. Create with clmd_molecules_create, free with
 * clmd_molecules_destroy. */
#ifndef CLMD_SYSTEM_MOLECULES_H
#define CLMD_SYSTEM_MOLECULES_H

struct clmd_system;

typedef struct clmd_molecules {
    int n;          /* number of molecules */
    int *start;     /* [n+1]: molecule m holds atoms[start[m] .. start[m+1]-1] */
    int *atoms;     /* [particles] */
    int *of_atom;   /* [particles]: the molecule of each particle */
    int largest;    /* atoms in the largest molecule */
} clmd_molecules;

clmd_molecules *clmd_molecules_create(const struct clmd_system *sys);
void clmd_molecules_destroy(clmd_molecules **m);

#endif
