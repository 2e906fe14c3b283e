#include "state/state.h"

#include <string.h>

#include "core/mem.h"
#include "md/rng.h"
#include "system/system.h"

clmd_state *clmd_state_create(const clmd_system *sys)
{
    clmd_state *s = clmd_alloc(sizeof *s);
    s->n = sys->n;
    CLMD_NEW(s->x, 3 * sys->n);
    CLMD_NEW(s->v, 3 * sys->n);
    memcpy(s->x, sys->x, sizeof(double) * 3 * (size_t)sys->n);
    if (sys->v) memcpy(s->v, sys->v, sizeof(double) * 3 * (size_t)sys->n);
    s->periodic = sys->periodic;
    memcpy(s->box, sys->box, sizeof s->box);
    s->box_version = 1;
    clmd_state_set_thermostat(s, 300, 1, 1);
    return s;
}

void clmd_state_destroy(clmd_state **ps)
{
    if (!ps || !*ps) return;
    clmd_free((*ps)->x);
    clmd_free((*ps)->v);
    clmd_free(*ps);
    *ps = NULL;
}

void clmd_state_set_box(clmd_state *s, const double b[3][3])
{
    memcpy(s->box, b, sizeof s->box);
    s->box_version++;
}

void clmd_state_set_thermostat(clmd_state *s, double temperature_K, double friction_per_ps,
                               unsigned long seed)
{
    s->temperature_K = temperature_K;
    s->friction_per_ps = friction_per_ps;
    s->seed = seed;
    clmd_seed_key(seed, s->key);
}

void clmd_state_copy_scalars(clmd_state *dst, const clmd_state *src)
{
    double *x = dst->x, *v = dst->v;
    *dst = *src;
    dst->x = x;
    dst->v = v;
}
