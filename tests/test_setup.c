/* Suite: run/setup (the deck's plain values mapped onto the modules' options). */
#include <stdio.h>
#include <string.h>

#include "ff/options.h"
#include "input/deck.h"
#include "run/setup.h"
#include "testutil.h"

static void deck_defaults_map_to_the_ffopts_defaults(void)
{
    clmd_deck d;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string("system: {builtin: lj_fcc}\n", "deck.yaml",
                                                 "/decks", &d, &err), CLMD_OK);
    clmd_ffopts want, got;
    clmd_ffopts_defaults(&want);
    memset(&got, 0x5a, sizeof got); /* every field must be written */
    clmd_ffopts_from_deck(&d, &got);
    CU_ASSERT_EQUAL(got.method, want.method);
    CU_ASSERT_EQUAL(got.cutoff_nm, want.cutoff_nm);
    CU_ASSERT_EQUAL(got.switch_nm, want.switch_nm);
    CU_ASSERT_EQUAL(got.dispersion_correction, want.dispersion_correction);
    CU_ASSERT_EQUAL(got.rf_dielectric, want.rf_dielectric);
    CU_ASSERT_EQUAL(got.ewald_tolerance, want.ewald_tolerance);
    CU_ASSERT_EQUAL(got.ewald_alpha, want.ewald_alpha);
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(got.pme_grid[i], want.pme_grid[i]);
    CU_ASSERT_EQUAL(got.pme_order, want.pme_order);
    CU_ASSERT_EQUAL(got.skin_nm, want.skin_nm);
    CU_ASSERT_EQUAL(got.skin_auto, want.skin_auto);
    CU_ASSERT_EQUAL(got.gb_model, want.gb_model);
    CU_ASSERT_EQUAL(got.solvent_dielectric, want.solvent_dielectric);
    CU_ASSERT_EQUAL(got.solute_dielectric, want.solute_dielectric);
    CU_ASSERT_EQUAL(got.surface_area, want.surface_area);
    CU_ASSERT_EQUAL(got.sa_energy, want.sa_energy);
    CU_ASSERT_EQUAL(got.probe_radius_nm, want.probe_radius_nm);
}

static void every_nonbonded_and_implicit_solvent_key_reaches_ffopts(void)
{
    clmd_deck d;
    clmd_err err = {0};
    const char *deck = "system: {builtin: lj_fcc}\n"
                       "nonbonded: {method: pme, cutoff: 0.9, switch_distance: 0.8,\n"
                       "            dispersion_correction: false, reaction_field_dielectric: 70,\n"
                       "            ewald_error_tolerance: 1e-5, ewald_alpha: 3.5,\n"
                       "            pme_grid: [24, 30, 36], pme_order: 6, neighbor_skin: 0.07}\n";
    int rc = clmd_deck_parse_string(deck, "deck.yaml", "/decks", &d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    clmd_ffopts o;
    clmd_ffopts_from_deck(&d, &o);
    CU_ASSERT_EQUAL(o.method, CLMD_NB_PME);
    CU_ASSERT_EQUAL(o.cutoff_nm, 0.9);
    CU_ASSERT_EQUAL(o.switch_nm, 0.8);
    CU_ASSERT_EQUAL(o.dispersion_correction, 0);
    CU_ASSERT_EQUAL(o.rf_dielectric, 70.0);
    CU_ASSERT_EQUAL(o.ewald_tolerance, 1e-5);
    CU_ASSERT_EQUAL(o.ewald_alpha, 3.5);
    CU_ASSERT_EQUAL(o.pme_grid[0], 24);
    CU_ASSERT_EQUAL(o.pme_grid[1], 30);
    CU_ASSERT_EQUAL(o.pme_grid[2], 36);
    CU_ASSERT_EQUAL(o.pme_order, 6);
    CU_ASSERT_EQUAL(o.skin_nm, 0.07);
    CU_ASSERT_EQUAL(o.skin_auto, 0);

    /* each method and model spelling lands on its ff/ value */
    static const struct {
        const char *word;
        clmd_nbmethod m;
    } methods[] = {{"nocutoff", CLMD_NB_NOCUTOFF},
                   {"cutoff", CLMD_NB_CUTOFF},
                   {"reaction_field", CLMD_NB_REACTION_FIELD},
                   {"pme", CLMD_NB_PME}};
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++) {
        char text[256];
        snprintf(text, sizeof text, "system: {builtin: lj_fcc}\nnonbonded: {method: %s}\n",
                 methods[k].word);
        CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string(text, "deck.yaml", "/decks", &d, &err),
                              CLMD_OK);
        clmd_ffopts_from_deck(&d, &o);
        CU_ASSERT_EQUAL(o.method, methods[k].m);
    }
    const char *gb = "system: {builtin: lj_fcc}\nnonbonded: {method: nocutoff}\n"
                     "implicit_solvent: {model: obc1, solvent_dielectric: 80, solute_dielectric: 2,\n"
                     "                   surface_area: none, surface_tension: 3.0, probe_radius: 0.15}\n";
    CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string(gb, "deck.yaml", "/decks", &d, &err), CLMD_OK);
    clmd_ffopts_from_deck(&d, &o);
    CU_ASSERT_EQUAL(o.gb_model, CLMD_GB_OBC1);
    CU_ASSERT_EQUAL(o.solvent_dielectric, 80.0);
    CU_ASSERT_EQUAL(o.solute_dielectric, 2.0);
    CU_ASSERT_EQUAL(o.surface_area, 0);
    CU_ASSERT_EQUAL(o.sa_energy, 3.0);
    CU_ASSERT_EQUAL(o.probe_radius_nm, 0.15);
    CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string("system: {builtin: lj_fcc}\n"
                                                 "implicit_solvent: {model: obc2}\n", "deck.yaml",
                                                 "/decks", &d, &err), CLMD_OK);
    clmd_ffopts_from_deck(&d, &o);
    CU_ASSERT_EQUAL(o.gb_model, CLMD_GB_OBC2);
    CU_ASSERT_EQUAL(o.skin_auto, 1);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"deck defaults map to the ffopts defaults", deck_defaults_map_to_the_ffopts_defaults},
        {"every nonbonded and implicit_solvent key reaches ffopts", every_nonbonded_and_implicit_solvent_key_reaches_ffopts},
        {NULL, NULL}};
    return clmd_test_main("setup", tests, argc, argv);
}
