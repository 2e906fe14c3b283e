/* Periodic-box math on box rows b (nm): the three box vectors a, b, c in the reduced
 * (lower-triangular) form OpenMM and GROMACS use: a = (a_x, 0, 0), b = (b_x, b_y, 0),
 * c = (c_x, c_y, c_z), |b_x| <= a_x/2, |c_x| <= a_x/2, |c_y| <= b_y/2. The box of a run lives in
 * its state (state/state.h) and may change every step under a barostat; these functions take it
 * as an argument so no module keeps a copy frozen at setup. Nothing here allocates. */
#ifndef CLMD_SYSTEM_BOX_H
#define CLMD_SYSTEM_BOX_H

#include "core/err.h"

/* Minimum-image displacement d (= xj - xi, nm), in place: c, then b, then a; valid for |d|
 * below half the shortest box width. */
void clmd_box_min_image(const double b[3][3], double d[3]);
double clmd_box_volume(const double b[3][3]);
int clmd_box_is_rectangular(const double b[3][3]);
/* Distance between opposite faces along each axis of the reduced box: a_x, b_y, c_z, and the
 * smallest of them. */
double clmd_box_min_width(const double b[3][3]);
/* The one cutoff-versus-box rule: a cutoff may be at most half the shortest box width, so each
 * pair has one minimum image. CLMD_EINPUT naming both numbers otherwise; `what` names the
 * cutoff ("the nonbonded cutoff"). */
int clmd_box_check_cutoff(const double b[3][3], double cutoff_nm, const char *what, clmd_err *err);
/* Nonzero when b is in the reduced form above with positive diagonal. */
int clmd_box_is_reduced(const double b[3][3]);

#endif
