#include "system/box.h"

#include <math.h>

void clmd_box_min_image(const double b[3][3], double d[3])
{
    double k = round(d[2] / b[2][2]);
    d[0] -= k * b[2][0];
    d[1] -= k * b[2][1];
    d[2] -= k * b[2][2];
    k = round(d[1] / b[1][1]);
    d[0] -= k * b[1][0];
    d[1] -= k * b[1][1];
    k = round(d[0] / b[0][0]);
    d[0] -= k * b[0][0];
}

double clmd_box_volume(const double b[3][3]) { return b[0][0] * b[1][1] * b[2][2]; }

int clmd_box_is_rectangular(const double b[3][3])
{
    return b[1][0] == 0 && b[2][0] == 0 && b[2][1] == 0;
}

double clmd_box_min_width(const double b[3][3])
{
    double w = b[0][0];
    if (b[1][1] < w) w = b[1][1];
    if (b[2][2] < w) w = b[2][2];
    return w;
}

int clmd_box_check_cutoff(const double b[3][3], double cutoff_nm, const char *what, clmd_err *err)
{
    double w = clmd_box_min_width(b);
    if (!(cutoff_nm <= 0.5 * w))
        return clmd_err_set(err, CLMD_EINPUT, "%s %g nm is more than half the box width (%g nm): "
                            "use a larger box or a shorter cutoff", what, cutoff_nm, w);
    return CLMD_OK;
}

int clmd_box_is_reduced(const double b[3][3])
{
    return b[0][0] > 0 && b[1][1] > 0 && b[2][2] > 0 && b[0][1] == 0 && b[0][2] == 0 &&
           b[1][2] == 0 && fabs(b[1][0]) <= 0.5 * b[0][0] * (1 + 1e-12) &&
           fabs(b[2][0]) <= 0.5 * b[0][0] * (1 + 1e-12) && fabs(b[2][1]) <= 0.5 * b[1][1] * (1 + 1e-12);
}
