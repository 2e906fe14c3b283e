/* Batched replicas as one system: K copies of a system laid end to end with ghost padding, so
 * that one set of device buffers and one launch per kernel serve every copy (remd/campaign.c).
 * What keeps the copies apart is elsewhere: the pair list searches each copy on its own
 * (nlist/nlist.c), the kernels add each copy's energies into its own slots (cl/common.cl,
 * E_SEG), the integrator gives each copy its own bath and noise stream (md/langevin.c). */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "system/system.h"

#define COPY(field, count)                                                                   \
    do {                                                                                     \
        for (int s_ = 0; s_ < K; s_++)                                                       \
            memcpy(out->field + (size_t)s_ * stride * (count), base->field,                  \
                   sizeof *base->field * (size_t)base->n * (count));                         \
    } while (0)

int clmd_system_replicate(const clmd_system *base, int K, int stride, clmd_system **pout,
                          clmd_err *err)
{
    *pout = NULL;
    if (K < 2 || stride < base->n || stride % 64 != 0 || (long)K * stride >= (1L << 24))
        return clmd_err_set(err, CLMD_EINPUT, "cannot batch %d copies of %d particles (stride %d)",
                            K, base->n, stride);
    if (base->nseg > 1)
        return clmd_err_set(err, CLMD_EINPUT, "a batched system cannot be batched again");
    clmd_system *out = clmd_system_create();
    const int n = K * stride, nb = base->n;
    clmd_system_alloc_particles(out, n);
    if (base->v) clmd_system_alloc_velocities(out);
    if (base->gb_radius) clmd_system_alloc_gb(out);
    COPY(x, 3);
    if (base->v) COPY(v, 3);
    COPY(mass, 1);
    COPY(charge, 1);
    COPY(sigma, 1);
    COPY(epsilon, 1);
    COPY(type, 1);
    COPY(atomic_number, 1);
    COPY(name, 1);
    if (base->gb_radius) {
        COPY(gb_radius, 1);
        COPY(gb_scale, 1);
    }
    out->nresidues = K * base->nresidues;
    CLMD_NEW(out->resname, out->nresidues + 1);
    for (int s = 0; s < K; s++) {
        memcpy(out->resname + (size_t)s * base->nresidues, base->resname,
               sizeof *base->resname * (size_t)base->nresidues);
        for (int i = 0; i < stride; i++) {
            int a = s * stride + i;
            if (i < nb) {
                out->residue[a] = base->residue[i] + s * base->nresidues;
            } else {
                /* a ghost: nothing, far from everything, in the copy's last residue */
                out->residue[a] = s * base->nresidues + (base->nresidues > 0 ? base->nresidues - 1 : 0);
                out->sigma[a] = 0.1;
                snprintf(out->name[a], sizeof out->name[a], "GHO");
                out->x[3 * a] = out->x[3 * a + 1] = out->x[3 * a + 2] = 0;
                if (out->gb_radius) {
                    out->gb_radius[a] = 0.1;
                    out->gb_scale[a] = 0;
                }
            }
        }
    }
    if (base->region) {
        CLMD_NEW(out->region, n);
        for (int g = 0; g < K; g++) memcpy(out->region + (size_t)g * stride, base->region, (size_t)nb);
        out->nregion = K * base->nregion;
    }
    out->ntypes = base->ntypes;
    out->lj_table = base->lj_table;
    if (base->c6) {
        size_t tt = (size_t)base->ntypes * base->ntypes;
        CLMD_NEW(out->c6, tt);
        CLMD_NEW(out->c12, tt);
        memcpy(out->c6, base->c6, sizeof(double) * tt);
        memcpy(out->c12, base->c12, sizeof(double) * tt);
    }
    out->periodic = base->periodic;
    memcpy(out->box, base->box, sizeof out->box);
    /* exclusions: each copy's own, shifted */
    const int ne = base->excl_start ? base->excl_start[nb] : 0;
    CLMD_NEW(out->excl_start, n + 1);
    CLMD_NEW(out->excl, (size_t)K * ne + 1);
    for (int s = 0, at = 0; s < K; s++)
        for (int i = 0; i < stride; i++) {
            int a = s * stride + i;
            out->excl_start[a] = at;
            if (i < nb && base->excl_start)
                for (int k = base->excl_start[i]; k < base->excl_start[i + 1]; k++)
                    out->excl[at++] = base->excl[k] + s * stride;
            out->excl_start[a + 1] = at;
        }
    for (int s = 0; s < K; s++) {
        const int o = s * stride;
        for (int k = 0; k < base->nbonds; k++) {
            const clmd_bond *b = &base->bonds[k];
            clmd_system_add_bond(out, b->i + o, b->j + o, b->k, b->r0);
        }
        for (int k = 0; k < base->nangles; k++) {
            const clmd_angle *b = &base->angles[k];
            clmd_system_add_angle(out, b->i + o, b->j + o, b->k + o, b->kf, b->theta0);
        }
        for (int k = 0; k < base->ntorsions; k++) {
            const clmd_torsion *b = &base->torsions[k];
            clmd_system_add_torsion(out, b->i + o, b->j + o, b->k + o, b->l + o, b->periodicity,
                                    b->kf, b->phase);
        }
        for (int k = 0; k < base->npairs; k++) {
            const clmd_pair *b = &base->pairs[k];
            clmd_system_add_pair(out, b->i + o, b->j + o, b->qq, b->sigma, b->eps);
        }
        for (int k = 0; k < base->nconstraints; k++) {
            const clmd_constraint *b = &base->constraints[k];
            clmd_system_add_constraint(out, b->i + o, b->j + o, b->d);
        }
        for (int k = 0; k < base->nvsites; k++) {
            const clmd_vsite *b = &base->vsites[k];
            clmd_system_add_vsite(out, b->site + o, b->a + o, b->b + o, b->c + o, b->w[0], b->w[1],
                                  b->w[2]);
        }
    }
    for (int m = 0; m < base->ncmap_maps; m++)
        clmd_system_add_cmap_map(out, base->cmap_maps[m].size, base->cmap_maps[m].energy);
    for (int s = 0; s < K; s++)
        for (int k = 0; k < base->ncmaps; k++) {
            const clmd_cmap *c = &base->cmaps[k];
            const int o = s * stride;
            clmd_system_add_cmap(out, c->a + o, c->b + o, c->c + o, c->d + o, c->e + o, c->map);
        }
    snprintf(out->source, sizeof out->source, "%.400s (%d copies)", base->source, K);
    out->nseg = K;
    out->seg_stride = stride;
    out->seg_base = base;
    int rc = clmd_system_validate(out, err);
    if (rc) {
        clmd_system_destroy(&out);
        return rc;
    }
    *pout = out;
    return CLMD_OK;
}
