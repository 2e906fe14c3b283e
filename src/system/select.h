/* The particles a deck selection names (input/deck.h's clmd_deck_selection: the alchemical
 * region, REST2's solute), resolved in a system: 0-based particle indices and inclusive ranges,
 * or every particle of every residue with one of the given names (exact spelling; virtual
 * sites belong to their residue, so a residue's extra points are selected with it). Nothing is
 * allocated: the caller owns the flags. */
#ifndef CLMD_SYSTEM_SELECT_H
#define CLMD_SYSTEM_SELECT_H

#include "core/err.h"

struct clmd_system;
typedef struct clmd_deck_selection clmd_deck_selection;

/* Fills flags[0 .. s->n-1] (1: selected, else 0) and *count, the number selected. Indices are
 * those of the system as loaded: s is an ordinary system (nseg <= 1; for a batch of copies
 * resolve on its seg_base and repeat the flags per copy). Every problem (an index or range past
 * the last particle, a residue name that matches no residue, a selection that selects nothing)
 * is reported in one CLMD_EINPUT message, a line each, as deck_path:line:column (sel->mark) and
 * the key (sel->key and the item, e.g. 'alchemical.atoms[2]'); *count is then 0. */
int clmd_selection_flags(const struct clmd_system *s, const clmd_deck_selection *sel,
                         const char *deck_path, unsigned char *flags, int *count, clmd_err *err);

#endif
