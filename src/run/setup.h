/* From the deck's plain values to the options of the modules that run them. The deck (input/)
 * knows nothing of ff/; this is the one place that maps one onto the other. */
#ifndef CLMD_RUN_SETUP_H
#define CLMD_RUN_SETUP_H

#include "ff/options.h"

struct clmd_deck;

/* The force-field options of the deck's nonbonded: and implicit_solvent: sections. Every field
 * of *o is set (clmd_ffopts_defaults first, so a field added there keeps its default). */
void clmd_ffopts_from_deck(const struct clmd_deck *d, clmd_ffopts *o);

#endif
