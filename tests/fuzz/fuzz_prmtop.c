/* Fuzz target: the Amber topology reader (clmd_amber_load_opts without coordinates). Any file
 * must either fail with CLMD_EINPUT and a message or give a system that passes
 * clmd_system_validate, whose exclusions are well formed and whose parameters are finite; a
 * file naming CMAP is read a second time with drop_cmap. */
#include "fuzz.h"

#include <math.h>

#include "system/amber.h"
#include "system/system.h"

static void load(const char *path, const clmd_amber_opts *opts)
{
    clmd_system *sys = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load_opts(path, NULL, opts, &sys, &err);
    if (rc != CLMD_OK) {
        FUZZ_CHECK(rc == CLMD_EINPUT && err.msg[0] != '\0' && sys == NULL);
        return;
    }
    FUZZ_CHECK(sys != NULL && sys->n > 0);
    FUZZ_CHECK(clmd_system_validate(sys, &err) == CLMD_OK);
    for (int i = 0; i < sys->n; i++) {
        FUZZ_CHECK(sys->residue[i] >= 0 && sys->residue[i] < sys->nresidues);
        FUZZ_CHECK(sys->type[i] >= 0 && (sys->ntypes == 0 || sys->type[i] < sys->ntypes));
        FUZZ_CHECK(memchr(sys->name[i], '\0', sizeof sys->name[i]) != NULL);
        /* parameters the force terms will use: a NaN or infinity here poisons a whole run */
        FUZZ_CHECK(isfinite(sys->charge[i]));
        FUZZ_CHECK(isfinite(sys->sigma[i]));
        FUZZ_CHECK(isfinite(sys->epsilon[i]));
    }
    for (int k = 0; k < sys->nbonds; k++)
        FUZZ_CHECK(isfinite(sys->bonds[k].k) && isfinite(sys->bonds[k].r0));
    for (int k = 0; k < sys->nangles; k++)
        FUZZ_CHECK(isfinite(sys->angles[k].kf) && isfinite(sys->angles[k].theta0));
    for (int k = 0; k < sys->ntorsions; k++)
        FUZZ_CHECK(isfinite(sys->torsions[k].kf) && isfinite(sys->torsions[k].phase));
    for (int k = 0; k < sys->npairs; k++)
        FUZZ_CHECK(isfinite(sys->pairs[k].qq) && isfinite(sys->pairs[k].sigma) &&
                   isfinite(sys->pairs[k].eps));
    for (int i = 0; i < sys->n; i++) /* exclusions: sorted, symmetric, no self */
        for (int k = sys->excl_start[i]; k < sys->excl_start[i + 1]; k++) {
            int j = sys->excl[k];
            FUZZ_CHECK(j >= 0 && j < sys->n && j != i);
            FUZZ_CHECK(k == sys->excl_start[i] || sys->excl[k - 1] < j);
            FUZZ_CHECK(clmd_system_excluded(sys, j, i));
        }
    clmd_system_destroy(&sys);
    FUZZ_CHECK(sys == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256];
    int fd = fuzz_file(data, size, path, sizeof path);
    FUZZ_CHECK(fd >= 0);
    load(path, NULL);
    if (memmem(data, size, "CMAP", 4)) {
        clmd_amber_opts opts = {.drop_cmap = 1};
        load(path, &opts);
    }
    fuzz_file_close(fd, path);
    return 0;
}
