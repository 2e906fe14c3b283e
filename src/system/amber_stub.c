/* TEMPORARY: placeholder for clmd_amber_load so that load.c links before the Amber importer
 * (src/system/amber.c, another branch) is merged. Delete this file when amber.c lands. */
#include "system/amber.h"

#include <stddef.h>

int clmd_amber_load(const char *prmtop, const char *inpcrd, struct clmd_system **out,
                    clmd_err *err)
{
    (void)inpcrd;
    if (out) *out = NULL;
    return clmd_err_set(err, CLMD_EINPUT, "%s: Amber import not built (TEMPORARY stub)",
                        prmtop ? prmtop : "prmtop");
}
