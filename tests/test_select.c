/* Suite: selections of the deck (alchemical regions, REST2 solutes) resolved in a system
 * (system/select.c): indices, ranges and residue names on the alanine-dipeptide systems of
 * tests/data, and the messages for what a system does not have. */
#include <stdlib.h>
#include <string.h>

#include "input/deck.h"
#include "system/amber.h"
#include "system/select.h"
#include "system/system.h"
#include "testutil.h"

/* Loads a data-folder system; NULL (and a loud data skip by the caller) when it is absent. */
static clmd_system *load(const char *prmtop, const char *inpcrd)
{
    char p[4096], c[4096];
    const char *pp = clmd_test_data(prmtop);
    if (!pp) return NULL;
    snprintf(p, sizeof p, "%s", pp);
    const char *cc = clmd_test_data(inpcrd);
    if (!cc) return NULL;
    snprintf(c, sizeof c, "%s", cc);
    clmd_system *s = NULL;
    clmd_err err = {0};
    int rc = clmd_amber_load(p, c, &s, &err);
    if (rc) printf("\n  load %s failed: %s\n", prmtop, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
    return s;
}

static clmd_system *ala2_implicit(void)
{
    return load("systems/alanine-dipeptide-implicit.prmtop",
                "systems/alanine-dipeptide-implicit.inpcrd");
}

/* The alchemical region of a deck written around `alchemical` (a flow mapping's contents). */
static void region_of(const char *alchemical, clmd_deck *d)
{
    char text[1024];
    snprintf(text, sizeof text, "system: {builtin: lj_fcc}\nalchemical: {%s}\n", alchemical);
    clmd_err err = {0};
    int rc = clmd_deck_parse_string(text, "deck.yaml", "/decks", d, &err);
    if (rc) printf("\n%s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, CLMD_OK);
}

/* Resolves the region; the flags (malloc'd) or NULL on an error (then in *err). */
static unsigned char *resolve(const clmd_system *s, const clmd_deck *d, int *count, clmd_err *err)
{
    unsigned char *flags = malloc((size_t)s->n);
    memset(flags, 0xAB, (size_t)s->n); /* whatever was there must be overwritten */
    clmd_err_clear(err);
    int rc = clmd_selection_flags(s, &d->alchemical.region, d->path, flags, count, err);
    if (rc == CLMD_OK) return flags;
    CU_ASSERT_EQUAL(rc, CLMD_EINPUT);
    CU_ASSERT_EQUAL(*count, 0);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL_FATAL(flags[i], 0);
    free(flags);
    return NULL;
}

static int count_lines(const char *s)
{
    int n = *s ? 1 : 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* ---------------------------------------------------------------- tests */

static void residue_names_select_every_particle_of_those_residues(void)
{
    clmd_system *s = ala2_implicit();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    CU_ASSERT_EQUAL_FATAL(s->n, 22);
    clmd_deck d;
    clmd_err err = {0};
    int count = -1;
    region_of("residues: [ALA]", &d);
    unsigned char *f = resolve(s, &d, &count, &err);
    if (!f) printf("\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    /* ACE 1-6, ALA 7-16, NME 17-22 (the prmtop's RESIDUE_POINTER, 1-based) */
    CU_ASSERT_EQUAL(count, 10);
    for (int i = 0; i < s->n; i++) {
        CU_ASSERT_EQUAL(f[i], i >= 6 && i <= 15);
        CU_ASSERT_EQUAL(f[i], strcmp(s->resname[s->residue[i]], "ALA") == 0);
    }
    free(f);

    region_of("residues: [NME, ACE]", &d);
    f = resolve(s, &d, &count, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 12);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL(f[i], i < 6 || i > 15);
    free(f);
    clmd_system_destroy(&s);
}

static void indices_and_ranges_select_those_particles(void)
{
    clmd_system *s = ala2_implicit();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    clmd_deck d;
    clmd_err err = {0};
    int count = -1;
    region_of("atoms: [0, \"5-9\"]", &d);
    unsigned char *f = resolve(s, &d, &count, &err);
    if (!f) printf("\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 6);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL(f[i], i == 0 || (i >= 5 && i <= 9));
    free(f);

    /* overlaps count once; the last particle is reachable */
    region_of("atoms: [\"2-6\", \"4-8\", 21, 21]", &d);
    f = resolve(s, &d, &count, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 8);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL(f[i], (i >= 2 && i <= 8) || i == 21);
    free(f);
    region_of("atoms: [\"0-21\"]", &d);
    f = resolve(s, &d, &count, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 22);
    free(f);
    clmd_system_destroy(&s);
}

static void solvent_residues_in_explicit_water(void)
{
    clmd_system *s = load("systems/alanine-dipeptide-explicit.prmtop",
                          "systems/alanine-dipeptide-explicit.inpcrd");
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-explicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    /* 2269 atoms: the dipeptide's 22 and 749 three-site waters */
    CU_ASSERT_EQUAL_FATAL(s->n, 2269);
    clmd_deck d;
    clmd_err err = {0};
    int count = -1;
    region_of("residues: [WAT]", &d);
    unsigned char *f = resolve(s, &d, &count, &err);
    if (!f) printf("\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 3 * 749);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL_FATAL(f[i], i >= 22);
    free(f);
    region_of("residues: [ALA]", &d);
    f = resolve(s, &d, &count, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 10);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL_FATAL(f[i], i >= 6 && i <= 15);
    free(f);
    clmd_system_destroy(&s);
}

static void a_residue_takes_its_virtual_sites(void)
{
    clmd_system *s = load("ep/ala2_tip4pew.prmtop", "ep/ala2_tip4pew.inpcrd");
    if (!s) CLMD_SKIP_DATA("ep/ala2_tip4pew.prmtop/.inpcrd not in CLMD_TEST_DATA");
    /* 22 dipeptide atoms and 380 TIP4P-Ew waters, each with its extra point */
    CU_ASSERT_EQUAL_FATAL(s->n, 1542);
    CU_ASSERT_EQUAL_FATAL(s->nvsites, 380);
    clmd_deck d;
    clmd_err err = {0};
    int count = -1;
    region_of("residues: [WAT]", &d);
    unsigned char *f = resolve(s, &d, &count, &err);
    if (!f) printf("\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(count, 4 * 380);
    for (int k = 0; k < s->nvsites; k++) CU_ASSERT_EQUAL_FATAL(f[s->vsites[k].site], 1);
    free(f);
    clmd_system_destroy(&s);
}

static void what_the_system_lacks_is_named_with_the_deck_key(void)
{
    clmd_system *s = ala2_implicit();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    clmd_deck d;
    clmd_err err = {0};
    int count = -1;
    /* alchemical: {atoms: ...} on line 2; the mark is the atoms key, column 14 */
    region_of("atoms: [21, 22, \"20-25\", \"3-4\"]", &d);
    CU_ASSERT_PTR_NULL(resolve(s, &d, &count, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "deck.yaml:2:14: key 'alchemical.atoms[1]': particle 22 "
                                           "does not exist: the system has 22 particles (0 to 21)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "deck.yaml:2:14: key 'alchemical.atoms[2]': the range "
                                           "20-25 goes past the last particle"));
    CU_ASSERT_EQUAL(count_lines(err.msg), 2);

    region_of("residues: [ALA, LIG, ala]", &d);
    CU_ASSERT_PTR_NULL(resolve(s, &d, &count, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "deck.yaml:2:14: key 'alchemical.residues[1]': no "
                                           "residue is named 'LIG' (the system's residues: ACE, "
                                           "ALA, NME)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "deck.yaml:2:14: key 'alchemical.residues[2]': no "
                                           "residue is named 'ala' (names are matched exactly: "
                                           "did you mean 'ALA'?)"));
    CU_ASSERT_EQUAL(count_lines(err.msg), 2);

    /* the solute of REST2 is named as its own key */
    clmd_err perr = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_deck_parse_string("system: {builtin: lj_fcc}\n"
                                                 "replica_exchange: {}\n"
                                                 "solute_tempering:\n"
                                                 "  temperatures: [300, 400]\n"
                                                 "  residues: [GLY]\n", "rest.yaml", "/decks",
                                                 &d, &perr), CLMD_OK);
    unsigned char flags[22];
    CU_ASSERT_EQUAL(clmd_selection_flags(s, &d.solute_tempering.solute, d.path, flags, &count,
                                         &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "rest.yaml:5:3: key 'solute_tempering.residues[0]': "
                                           "no residue is named 'GLY'"));

    /* a selection built by hand (no mark, no key) that selects nothing */
    clmd_deck_selection none;
    memset(&none, 0, sizeof none);
    CU_ASSERT_EQUAL(clmd_selection_flags(s, &none, "x.yaml", flags, &count, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "x.yaml:1:1: key 'atoms': selects no particle"));
    CU_ASSERT_EQUAL(count, 0);
    clmd_system_destroy(&s);
}

static void many_problems_are_counted_when_they_overflow(void)
{
    clmd_system *s = ala2_implicit();
    if (!s) CLMD_SKIP_DATA("alanine-dipeptide-implicit.prmtop/.inpcrd not in CLMD_TEST_DATA");
    clmd_deck_selection sel;
    memset(&sel, 0, sizeof sel);
    snprintf(sel.key, sizeof sel.key, "alchemical.atoms");
    sel.mark.line = 7;
    sel.mark.column = 5;
    sel.nranges = CLMD_MAX_SELECTION;
    for (int i = 0; i < CLMD_MAX_SELECTION; i++) sel.range[i][0] = sel.range[i][1] = 100 + i;
    unsigned char flags[22];
    int count = -1;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_selection_flags(s, &sel, "deck.yaml", flags, &count, &err), CLMD_EINPUT);
    CU_ASSERT(strncmp(err.msg, "deck.yaml:7:5: key 'alchemical.atoms[0]': particle 100", 54) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "more problems not shown)"));
    CU_ASSERT(strlen(err.msg) < sizeof err.msg - 1);
    clmd_system_destroy(&s);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"residue names select every particle of those residues", residue_names_select_every_particle_of_those_residues},
        {"indices and ranges select those particles", indices_and_ranges_select_those_particles},
        {"solvent residues in explicit water", solvent_residues_in_explicit_water},
        {"a residue takes its virtual sites", a_residue_takes_its_virtual_sites},
        {"what the system lacks is named with the deck key", what_the_system_lacks_is_named_with_the_deck_key},
        {"many problems are counted when they overflow", many_problems_are_counted_when_they_overflow},
        {NULL, NULL}};
    return clmd_test_main("select", tests, argc, argv);
}
