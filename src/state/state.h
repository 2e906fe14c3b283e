/* The simulation state: everything about one replica that changes during a run, separate from
 * the immutable topology (system/system.h). Positions and velocities (host copies; on an OpenCL
 * device the engine keeps the live ones in device buffers and fills these on request), the
 * box (a barostat changes it), the thermostat's bath temperature and friction (replica exchange
 * swaps them), the random stream (a Philox key; its counter is the step, so the stream needs no
 * saved generator state), and the step count. Force terms read the box from here at every
 * evaluation; box_version changes with every box change so they refresh derived values only
 * then. A checkpoint writes all of it (run/checkpoint). Create with clmd_state_create, free with
 * clmd_state_destroy. */
#ifndef CLMD_STATE_STATE_H
#define CLMD_STATE_STATE_H

#include <stdint.h>

struct clmd_system;

typedef struct clmd_state {
    int n;                   /* particles */
    long step;
    int periodic;            /* the system has a box */
    double box[3][3];        /* current box rows (nm), reduced form */
    long box_version;        /* changes with every clmd_state_set_box */
    double temperature_K;    /* thermostat bath (and barostat) temperature */
    double friction_per_ps;  /* thermostat friction */
    unsigned long seed;      /* thermostat noise seed */
    uint32_t key[2];         /* Philox key of the noise stream, from seed */
    double *x, *v;           /* [3n] nm, nm/ps */
} clmd_state;

/* A state holding the system's input positions, velocities (zero when it has none) and box. */
clmd_state *clmd_state_create(const struct clmd_system *sys);
void clmd_state_destroy(clmd_state **s);

void clmd_state_set_box(clmd_state *s, const double b[3][3]);
void clmd_state_set_thermostat(clmd_state *s, double temperature_K, double friction_per_ps,
                               unsigned long seed);
/* Copies every scalar field (not the arrays) of src into dst: a barostat trial's undo. */
void clmd_state_copy_scalars(clmd_state *dst, const clmd_state *src);

#endif
