#include "ff/dev.h"

#include <stdio.h>
#include <string.h>

#include "ff/term.h"
#include "system/box.h"

int clmd_dev_box_args(const clmd_dev *d, cl_kernel k, int first, clmd_err *err)
{
    CLMD_ARG(k, first, d->box, err);
    CLMD_ARG(k, first + 1, d->inv_box, err);
    CLMD_ARG(k, first + 2, d->box_b, err);
    CLMD_ARG(k, first + 3, d->box_c, err);
    CLMD_ARG(k, first + 4, d->box_lo, err);
    CLMD_ARG(k, first + 5, d->box_b_lo, err);
    CLMD_ARG(k, first + 6, d->box_c_lo, err);
    return CLMD_OK;
}

static void split(double v, cl_float *hi, cl_float *lo)
{
    *hi = (float)v;
    *lo = (float)(v - (double)*hi);
}

void clmd_dev_set_box(clmd_dev *d, const double b[3][3], long version)
{
    d->box_version = version;
    memcpy(d->box_rows, b, sizeof d->box_rows);
    memset(&d->box, 0, sizeof d->box);
    memset(&d->inv_box, 0, sizeof d->inv_box);
    memset(&d->box_b, 0, sizeof d->box_b);
    memset(&d->box_c, 0, sizeof d->box_c);
    memset(&d->box_lo, 0, sizeof d->box_lo);
    memset(&d->box_b_lo, 0, sizeof d->box_b_lo);
    memset(&d->box_c_lo, 0, sizeof d->box_c_lo);
    for (int k = 0; k < 3; k++) {
        split(b[k][k], &d->box.s[k], &d->box_lo.s[k]);
        d->inv_box.s[k] = (float)(1 / b[k][k]);
        split(b[1][k], &d->box_b.s[k], &d->box_b_lo.s[k]);
        split(b[2][k], &d->box_c.s[k], &d->box_c_lo.s[k]);
    }
}

void clmd_dev_shift_table(const double b[3][3], cl_float4 table[54])
{
    memset(table, 0, sizeof(cl_float4) * 54);
    for (int c = 0; c < 27; c++) {
        int n[3] = {c / 9 - 1, c / 3 % 3 - 1, c % 3 - 1};
        for (int d = 0; d < 3; d++) {
            double v = n[0] * b[0][d] + n[1] * b[1][d] + n[2] * b[2][d];
            split(v, &table[c].s[d], &table[27 + c].s[d]);
        }
    }
}

void clmd_dev_box_view(clmd_dev *boxdev, int has_box, const double b[3][3], long version)
{
    memset(boxdev, 0, sizeof *boxdev);
    boxdev->periodic = has_box;
    boxdev->triclinic = has_box && !clmd_box_is_rectangular(b);
    if (has_box) clmd_dev_set_box(boxdev, b, version);
    boxdev->box_version = version;
}

const char *clmd_dev_defines(const clmd_dev *d)
{
    /* callers copy the text into their program's defines at once */
    static char b[1024];
    const int nseg = d->nseg > 1 ? d->nseg : 1;
    int len = snprintf(b, sizeof b, "#define PERIODIC %d\n#define TRICLINIC %d\n",
                       d->periodic != 0, d->periodic && d->triclinic);
    for (int c = 0; c < CLMD_E_NCOMP; c++)
        len += snprintf(b + len, sizeof b - (size_t)len, "#define %s %d\n", clmd_ecomp_define[c], c);
    snprintf(b + len, sizeof b - (size_t)len,
             "#define E_FLAGS %d\n#define E_STRIDE %d\n#define NSEG %d\n#define SEG_LEN %d\n"
             "#define E_DUDL_S %d\n#define E_DUDL_E %d\n#define E_ELEC_RE %d\n#define E_ELEC_RR %d\n",
             CLMD_E_FLAGS, CLMD_E_SLOTS, nseg, nseg > 1 ? d->seg_stride : 0x3fffffff, CLMD_E_DUDL_S,
             CLMD_E_DUDL_E, CLMD_E_ELEC_RE, CLMD_E_ELEC_RR);
    return b;
}
