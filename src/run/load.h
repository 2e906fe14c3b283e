/* Builds the system a deck describes: a built-in generator (lj_fcc, water_box), Amber
 * prmtop/inpcrd, or PDB/XYZ coordinates with a force-field file; then applies the deck's
 * box override, constraints (hbonds/allbonds) and rigid water. It lives in run/, the layer that
 * knows both the deck (input/) and the system (system/), so that neither includes the other.
 * The caller owns the result (clmd_system_destroy). */
#ifndef CLMD_RUN_LOAD_H
#define CLMD_RUN_LOAD_H

#include "core/err.h"

struct clmd_deck;
struct clmd_system;

int clmd_system_from_deck(const struct clmd_deck *deck, struct clmd_system **out, clmd_err *err);

#endif
