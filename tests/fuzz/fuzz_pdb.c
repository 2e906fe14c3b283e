/* Fuzz target: the PDB reader (clmd_pdb_read, as clmd_coords_read calls it for .pdb). A file
 * must either fail with CLMD_EINPUT and a message or give coordinates that keep coords.h's
 * promises (coords_check.h). */
#include "fuzz.h"

#include "coords_check.h"
#include "system/pdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256];
    int fd = fuzz_file(data, size, path, sizeof path);
    FUZZ_CHECK(fd >= 0);
    clmd_coords *c = NULL;
    clmd_err err = {0};
    int rc = clmd_pdb_read(path, &c, &err);
    if (rc != CLMD_OK) {
        FUZZ_CHECK(rc == CLMD_EINPUT && err.msg[0] != '\0' && c == NULL);
    } else {
        FUZZ_CHECK(c != NULL);
        check_coords(c);
        clmd_coords_destroy(&c);
        FUZZ_CHECK(c == NULL);
    }
    fuzz_file_close(fd, path);
    return 0;
}
