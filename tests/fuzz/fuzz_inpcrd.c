/* Fuzz target: the Amber coordinate reader (inpcrd/rst7, read by clmd_amber_load). The first
 * byte picks the atom count of a small generated topology (1 + byte % 24 argon atoms: the
 * reader's rules differ for 1, 2 and more atoms, odd and even); the rest is the inpcrd. A file
 * must either fail with CLMD_EINPUT and a message or give finite positions and velocities and a
 * box that passes clmd_system_validate. */
#include "fuzz.h"

#include <math.h>

#include "system/amber.h"
#include "system/system.h"

/* One section of the generated prmtop: a %FLAG, a %FORMAT and count values, one per line. */
static void section(FILE *f, const char *name, const char *format, const char *item, int count)
{
    fprintf(f, "%%FLAG %s\n%%FORMAT(%s)\n", name, format);
    for (int k = 0; k < count; k++) fprintf(f, "%s\n", item);
}

static void write_prmtop(FILE *f, int natom)
{
    fputs("%VERSION  VERSION_STAMP = V0001.000\n", f);
    /* NATOM NTYPES, 8 term counts 0, NEXT = natom, NRES = 1, ..., NATYP = 1, NMXRS = natom */
    fprintf(f, "%%FLAG POINTERS\n%%FORMAT(10I8)\n%8d%8d", natom, 1);
    for (int k = 2; k < 31; k++) fprintf(f, "%8d", k == 10 || k == 28 ? natom : k == 11 || k == 18);
    fputc('\n', f);
    section(f, "ATOM_NAME", "20a4", "AR", natom);
    section(f, "CHARGE", "5E16.8", "  0.00000000E+00", natom);
    section(f, "MASS", "5E16.8", "  3.99480000E+01", natom);
    section(f, "ATOM_TYPE_INDEX", "10I8", "       1", natom);
    section(f, "NUMBER_EXCLUDED_ATOMS", "10I8", "       1", natom);
    section(f, "EXCLUDED_ATOMS_LIST", "10I8", "       0", natom);
    section(f, "NONBONDED_PARM_INDEX", "10I8", "       1", 1);
    section(f, "RESIDUE_LABEL", "20a4", "AR", 1);
    section(f, "RESIDUE_POINTER", "10I8", "       1", 1);
    section(f, "LENNARD_JONES_ACOEF", "5E16.8", "  1.04049550E+06", 1);
    section(f, "LENNARD_JONES_BCOEF", "5E16.8", "  6.25581680E+02", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int natom = 1 + data[0] % 24;
    char *top = NULL;
    size_t toplen = 0;
    FILE *f = open_memstream(&top, &toplen);
    FUZZ_CHECK(f != NULL);
    write_prmtop(f, natom);
    FUZZ_CHECK(fclose(f) == 0);

    char ppath[256], cpath[256];
    int pfd = fuzz_file((const uint8_t *)top, toplen, ppath, sizeof ppath);
    int cfd = fuzz_file(data + 1, size - 1, cpath, sizeof cpath);
    FUZZ_CHECK(pfd >= 0 && cfd >= 0);
    clmd_system *sys = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(ppath, cpath, &sys, &err);
    if (rc != CLMD_OK) {
        /* the topology is valid, so the complaint must be about the coordinates */
        int named = strstr(err.msg, cpath) != NULL;
        if (!named) fprintf(stderr, "fuzz: the message does not name the inpcrd: %s\n", err.msg);
        FUZZ_CHECK(rc == CLMD_EINPUT && sys == NULL && named);
    } else {
        FUZZ_CHECK(sys != NULL && sys->n == natom);
        FUZZ_CHECK(clmd_system_validate(sys, &err) == CLMD_OK);
        for (int i = 0; i < 3 * natom; i++) FUZZ_CHECK(isfinite(sys->x[i]));
        for (int i = 0; sys->v && i < 3 * natom; i++) FUZZ_CHECK(isfinite(sys->v[i]));
        if (sys->periodic) {
            FUZZ_CHECK(isfinite(clmd_system_box_volume(sys)) && clmd_system_box_volume(sys) > 0);
        }
        clmd_system_destroy(&sys);
    }
    fuzz_file_close(cfd, cpath);
    fuzz_file_close(pfd, ppath);
    free(top);
    return 0;
}
