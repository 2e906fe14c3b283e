/* Suite: system module (topology containers, exclusions, box). */
#include <math.h>

#include "system/system.h"
#include "testutil.h"

static void exclusions_are_symmetric_sorted_and_deduplicated(void)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, 5);
    const int pairs[][2] = {{0, 3}, {3, 0}, {1, 2}, {4, 0}, {2, 1}, {0, 1}};
    clmd_system_set_exclusions(s, 6, pairs);
    CU_ASSERT_EQUAL(s->excl_start[1] - s->excl_start[0], 3); /* 0: 1 3 4 */
    CU_ASSERT_EQUAL(s->excl[s->excl_start[0]], 1);
    CU_ASSERT_EQUAL(s->excl[s->excl_start[0] + 2], 4);
    CU_ASSERT(clmd_system_excluded(s, 3, 0));
    CU_ASSERT(clmd_system_excluded(s, 2, 1));
    CU_ASSERT(!clmd_system_excluded(s, 2, 3));
    CU_ASSERT(!clmd_system_excluded(s, 4, 4));
    clmd_system_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
}

static void triclinic_box_is_reduced_and_keeps_volume(void)
{
    clmd_system *s = clmd_system_create();
    clmd_system_alloc_particles(s, 1);
    /* truncated-octahedron-like cell: a=b=c=4, angles 70.53, 109.47, 70.53 */
    clmd_system_set_box_angles(s, 4, 4, 4, 70.5288, 109.4712, 70.5288);
    double v = clmd_system_box_volume(s);
    /* volume of a triclinic cell from its edge lengths and angles */
    double ca = cos(70.5288 * M_PI / 180), cb = cos(109.4712 * M_PI / 180), cg = ca;
    double vref = 64 * sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg);
    ASSERT_REL(v, vref, 1e-10, 0, "volume", "reduction only adds lattice vectors");
    CU_ASSERT(fabs(s->box[1][0]) <= 0.5 * s->box[0][0] + 1e-12);
    CU_ASSERT(fabs(s->box[2][1]) <= 0.5 * s->box[1][1] + 1e-12);
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_system_validate(s, &err), CLMD_OK);
    clmd_system_destroy(&s);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"exclusions are symmetric, sorted and deduplicated", exclusions_are_symmetric_sorted_and_deduplicated},
        {"triclinic box is reduced and keeps its volume", triclinic_box_is_reduced_and_keeps_volume},
        {NULL, NULL}};
    return clmd_test_main("system", tests, argc, argv);
}
