/* Suite: building systems (force-field files, PDB/XYZ readers, built-in lj_fcc and water_box,
 * clmd_system_from_deck with constraints and rigid water). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/deck.h"
#include "run/load.h"
#include "system/builtin.h"
#include "system/constrain.h"
#include "system/coords.h"
#include "system/forcefield.h"
#include "system/pdb.h"
#include "system/system.h"
#include "system/xyz.h"
#include "testutil.h"

static clmd_ff *load_shipped(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "forcefields/%s.yaml", name);
    clmd_ff *ff = NULL;
    clmd_err err = {0};
    int st = clmd_ff_load(clmd_test_source(rel), &ff, &err);
    if (st) printf("\n  loading %s: %s\n", rel, err.msg);
    CU_ASSERT_EQUAL_FATAL(st, CLMD_OK);
    return ff;
}

static double min_image(const clmd_system *s, int i, int j)
{
    double r2 = 0;
    for (int d = 0; d < 3; d++) {
        double L = s->box[d][d], dx = s->x[3 * i + d] - s->x[3 * j + d];
        dx -= L * round(dx / L);
        r2 += dx * dx;
    }
    return sqrt(r2);
}

static double dist(const double *x, int i, int j)
{
    double r2 = 0;
    for (int d = 0; d < 3; d++) r2 += (x[3 * i + d] - x[3 * j + d]) * (x[3 * i + d] - x[3 * j + d]);
    return sqrt(r2);
}

/* A deck as the parser would leave it for these keys (the parser is tested elsewhere). */
static void deck_init(clmd_deck *d, clmd_source_kind kind)
{
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "test_deck.yaml");
    snprintf(d->dir, sizeof d->dir, ".");
    d->system.kind = kind;
    d->system.cells = 3;
    d->system.reduced_density = 0.8442;
    snprintf(d->system.model, sizeof d->system.model, "tip4pew");
    d->system.edge_nm = 2.0;
    d->system.mark = (clmd_mark){3, 1};
    d->rigid_water = 1;
    d->constraints = CLMD_CONSTRAIN_NONE;
}

static void lj_fcc_has_4n3_atoms_at_the_density_and_fcc_nearest_distance(void)
{
    clmd_ff *ff = load_shipped("argon");
    clmd_system *s = NULL, *again = NULL;
    clmd_err err = {0};
    const int cells = 5;
    const double rho = 0.8442, sigma = ff->types[0].sigma;
    CU_ASSERT_EQUAL_FATAL(clmd_builtin_lj_fcc(ff, cells, rho, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->n, 4 * cells * cells * cells);
    ASSERT_REL(s->n / clmd_system_box_volume(s) * pow(sigma, 3), rho, 1e-12, 0, "rho*",
               "exact lattice arithmetic");
    double dmin = INFINITY;
    for (int i = 0; i < s->n; i++) {
        for (int d = 0; d < 3; d++) CU_ASSERT(s->x[3 * i + d] >= 0 && s->x[3 * i + d] < s->box[d][d]);
        for (int j = i + 1; j < s->n; j++) {
            double r = min_image(s, i, j);
            if (r < dmin) dmin = r;
        }
    }
    double a = cbrt(4 / rho) * sigma;
    ASSERT_REL(dmin, a / sqrt(2.0), 1e-9, 0, "nearest neighbour", "fcc: a/sqrt(2), rounding only");
    ASSERT_REL(s->mass[7], 39.948, 0, 0, "mass", "copied from argon.yaml");
    ASSERT_REL(s->epsilon[7], 0.996, 0, 0, "epsilon", "copied from argon.yaml");
    CU_ASSERT_EQUAL(clmd_builtin_lj_fcc(ff, cells, rho, &again, &err), CLMD_OK);
    CU_ASSERT(memcmp(s->x, again->x, sizeof(double) * 3 * (size_t)s->n) == 0); /* deterministic */
    clmd_system_destroy(&s);
    clmd_system_destroy(&again);
    /* One past the limit the deck also enforces is refused before anything is allocated. */
    CU_ASSERT_EQUAL(clmd_builtin_lj_fcc(ff, CLMD_LJ_FCC_MAX_CELLS + 1, rho, &s, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cells must be in 1..200"));
    clmd_ff_destroy(&ff);
}

/* Number of particles an OpenMM reference file was made with. */
static int reference_particles(const char *json)
{
    const char *path = clmd_test_data(json);
    if (!path) return -1;
    clmd_jv *v = clmd_jv_load(path);
    int n = v ? (int)clmd_jv_num(clmd_jv_get(v, "particles"), -1) : -1;
    clmd_jv_free(v);
    return n;
}

static void pdb_lj_argon_reads_every_atom_box_and_parameters(void)
{
    const char *pdb = clmd_test_data("systems/lj_argon.pdb");
    if (!pdb) CLMD_SKIP_DATA("systems/lj_argon.pdb not found (set CLMD_TEST_DATA)");
    clmd_coords *c = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_pdb_read(pdb, &c, &err), CLMD_OK);
    int nref = reference_particles("lj_argon_disp_on.json");
    CU_ASSERT_EQUAL(c->n, nref);
    CU_ASSERT(c->has_cell);
    ASSERT_REL(c->cell[0], 4.5752, 1e-12, 0, "a", "CRYST1 45.752 A");
    CU_ASSERT_EQUAL(c->atomic_number[0], 18);
    /* first HETATM: 45.717 45.682 0.030 A */
    ASSERT_REL(c->x[0], 4.5717, 1e-12, 0, "x0", "A -> nm");
    ASSERT_REL(c->x[2], 0.0030, 1e-12, 0, "z0", "A -> nm");
    clmd_ff *ff = load_shipped("argon");
    clmd_system *s = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ff_build(ff, c, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->n, nref);
    CU_ASSERT(s->periodic && clmd_system_box_is_rectangular(s));
    ASSERT_REL(s->box[2][2], 4.5752, 1e-12, 0, "box", "CRYST1");
    CU_ASSERT_EQUAL(s->ntypes, 1);
    ASSERT_REL(s->sigma[nref - 1], 0.3405, 0, 0, "sigma", "argon.yaml");
    CU_ASSERT_EQUAL(s->excl_start[s->n], 0);
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
    clmd_coords_destroy(&c);
}

static void pdb_tip4pew_box_gives_waters_with_m_sites_and_exclusions(void)
{
    const char *pdb = clmd_test_data("systems/tip4pew_box.pdb");
    if (!pdb) CLMD_SKIP_DATA("systems/tip4pew_box.pdb not found (set CLMD_TEST_DATA)");
    clmd_coords *c = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_coords_read(pdb, &c, &err), CLMD_OK);
    int nref = reference_particles("tip4pew_box.json");
    CU_ASSERT_EQUAL(c->n, nref);
    CU_ASSERT_EQUAL(c->nres * 4, c->n);
    clmd_ff *ff = load_shipped("tip4pew");
    clmd_system *s = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ff_build(ff, c, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->n, nref);
    CU_ASSERT_EQUAL(s->nresidues, nref / 4);
    CU_ASSERT_EQUAL(s->nvsites, nref / 4);
    CU_ASSERT_EQUAL(s->nbonds, 2 * (nref / 4));
    CU_ASSERT_EQUAL(s->nangles, nref / 4);
    ASSERT_REL(s->box[0][0], 3.0, 1e-12, 0, "box", "CRYST1 30.000 A");
    double qtot = 0, worst = 0;
    int bad_excl = 0;
    for (int i = 0; i < s->n; i++) qtot += s->charge[i];
    for (int w = 0; w < s->nvsites; w++) {
        const clmd_vsite *v = &s->vsites[w];
        CU_ASSERT(v->site == 4 * w + 3 && v->a == 4 * w && v->b == 4 * w + 1 && v->c == 4 * w + 2);
        CU_ASSERT_EQUAL(s->mass[v->site], 0);
        /* the file's M equals the weighted average of the file's O, H1, H2 */
        for (int d = 0; d < 3; d++) {
            double m = v->w[0] * s->x[3 * v->a + d] + v->w[1] * s->x[3 * v->b + d] +
                       v->w[2] * s->x[3 * v->c + d];
            if (fabs(m - s->x[3 * v->site + d]) > worst) worst = fabs(m - s->x[3 * v->site + d]);
        }
        /* every pair inside a water excluded: 3 partners each, none outside */
        for (int k = 0; k < 4; k++) {
            int i = 4 * w + k;
            bad_excl += s->excl_start[i + 1] - s->excl_start[i] != 3;
            for (int q = s->excl_start[i]; q < s->excl_start[i + 1]; q++)
                bad_excl += s->excl[q] / 4 != w;
        }
    }
    CU_ASSERT_EQUAL(bad_excl, 0);
    ASSERT_BELOW(worst, 1.5e-4, "max |M - (w O + w H1 + w H2)| (nm); PDB coordinates carry 5e-5 nm");
    ASSERT_REL(qtot, 0, 0, 1e-9, "net charge", "neutral water");
    clmd_system_destroy(&s);
    clmd_ff_destroy(&ff);
    clmd_coords_destroy(&c);
}

static void pdb_reader_handles_models_ter_altloc_triclinic_and_element_fallback(void)
{
    const char *dir = clmd_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/t.pdb", dir);
    const char *text =
        "REMARK test\n"
        "CRYST1   30.000   30.000   30.000  60.00  60.00  90.00 P 1           1\n"
        "MODEL        1\n"
        "ATOM      1  N   ALA A   1       1.000   2.000   3.000  1.00  0.00\n"
        "ATOM      2  CA AALA A   1       1.500   2.000   3.000  0.50  0.00           C\n"
        "ATOM      3  CA BALA A   1       9.500   9.000   9.000  0.50  0.00           C\n"
        "TER\n"
        "ATOM      4 CA   CA  A   1       5.000   5.000   5.000  1.00  0.00\n"
        "ENDMDL\n"
        "MODEL        2\n"
        "ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00  0.00           N\n"
        "ENDMDL\n"
        "END\n";
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, text), 0);
    clmd_coords *c = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_pdb_read(path, &c, &err), CLMD_OK);
    CU_ASSERT_EQUAL(c->n, 3);    /* altloc B and model 2 dropped */
    CU_ASSERT_EQUAL(c->nres, 2); /* TER starts a new residue even with the same number */
    CU_ASSERT_EQUAL(c->atomic_number[0], 7);  /* " N  " -> N */
    CU_ASSERT_EQUAL(c->atomic_number[1], 6);  /* element column */
    CU_ASSERT_EQUAL(c->atomic_number[2], 20); /* "CA  " left-aligned -> calcium */
    ASSERT_REL(c->x[3], 0.15, 1e-12, 0, "x of CA", "A -> nm");
    CU_ASSERT_EQUAL(c->line[2], 8);
    ASSERT_REL(c->cell[3], 60, 0, 0, "alpha", "CRYST1");
    clmd_coords_destroy(&c);

    /* a bad number names file:line and the columns */
    snprintf(path, sizeof path, "%s/bad.pdb", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, "REMARK\n"
                                                     "ATOM      1  N   ALA A   1       1.000   2.0x0   3.000\n"),
                          0);
    CU_ASSERT_EQUAL(clmd_pdb_read(path, &c, &err), CLMD_EINPUT);
    char want[4300];
    snprintf(want, sizeof want, "%s:2: ATOM record: y (columns 39-46)", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (!strstr(err.msg, want)) printf("\n  got: %s\n", err.msg);
    CU_ASSERT_PTR_NULL(c);
}

static void xyz_round_trip_keeps_positions_box_and_topology(void)
{
    clmd_ff *ff = load_shipped("tip4pew");
    clmd_system *s = NULL, *back = NULL;
    clmd_coords *c = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_builtin_water_box(ff, 1.6, &s, &err), CLMD_OK);
    const char *dir = clmd_test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/w.xyz", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_xyz_write(path, s, "water \"box\"", &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(clmd_coords_read(path, &c, &err), CLMD_OK);
    CU_ASSERT_EQUAL(c->n, s->n);
    CU_ASSERT_EQUAL_FATAL(clmd_ff_build(ff, c, &back, &err), CLMD_OK);
    CU_ASSERT_EQUAL_FATAL(back->n, s->n);
    double worst = 0;
    for (int i = 0; i < 3 * s->n; i++)
        if (fabs(back->x[i] - s->x[i]) > worst) worst = fabs(back->x[i] - s->x[i]);
    ASSERT_BELOW(worst, 1e-9, "max position change (nm) after XYZ round trip; written to 1e-9 nm");
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            ASSERT_REL(back->box[a][b], s->box[a][b], 1e-12, 1e-12, "box", "%.10g Angstrom");
    CU_ASSERT_EQUAL(back->nresidues, s->nresidues);
    CU_ASSERT_EQUAL(back->nvsites, s->nvsites);
    CU_ASSERT_EQUAL(back->nbonds, s->nbonds);
    CU_ASSERT_EQUAL(back->excl_start[back->n], s->excl_start[s->n]);
    for (int i = 0; i < s->n; i++) CU_ASSERT_EQUAL(back->charge[i], s->charge[i]);
    clmd_coords_destroy(&c);
    clmd_system_destroy(&back);

    /* XYZ without M sites: the force field inserts them after each water's atoms */
    snprintf(path, sizeof path, "%s/nom.xyz", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "6\nno lattice here\n");
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 3; k++) {
            int i = 4 * w + k;
            fprintf(f, "%s %.8f %.8f %.8f\n", k ? "H" : "O", 10 * s->x[3 * i], 10 * s->x[3 * i + 1],
                    10 * s->x[3 * i + 2]);
        }
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(clmd_coords_read(path, &c, &err), CLMD_OK);
    CU_ASSERT(!c->has_cell);
    CU_ASSERT_EQUAL_FATAL(clmd_ff_build(ff, c, &back, &err), CLMD_OK);
    CU_ASSERT_EQUAL(back->n, 8);
    CU_ASSERT_EQUAL(back->nvsites, 2);
    CU_ASSERT(!back->periodic);
    CU_ASSERT(fabs(back->x[3 * 7 + 1] - s->x[3 * 7 + 1]) < 1e-9); /* M of water 2 rebuilt */
    clmd_coords_destroy(&c);
    clmd_system_destroy(&back);
    clmd_system_destroy(&s);

    /* a rotated lattice: positions come back in the canonical frame */
    snprintf(path, sizeof path, "%s/rot.xyz", dir);
    CU_ASSERT_EQUAL_FATAL(
        clmd_test_write_file(path, "1\nLattice=\"0 20 0 -20 0 0 0 0 20\" Properties=species:S:1:pos:R:3\n"
                                   "Ar 0.0 2.0 1.0\n"),
        0);
    CU_ASSERT_EQUAL_FATAL(clmd_coords_read(path, &c, &err), CLMD_OK);
    ASSERT_REL(c->x[0], 0.2, 1e-12, 0, "x", "fractional (0.1, 0, 0.05) of a 2 nm cell");
    ASSERT_REL(c->x[1], 0.0, 0, 1e-12, "y", "fractional (0.1, 0, 0.05) of a 2 nm cell");
    ASSERT_REL(c->x[2], 0.1, 1e-12, 0, "z", "fractional (0.1, 0, 0.05) of a 2 nm cell");
    clmd_coords_destroy(&c);

    snprintf(path, sizeof path, "%s/short.xyz", dir);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, "3\ncomment\nAr 0 0 0\nAr 1 1 x\n"), 0);
    CU_ASSERT_EQUAL(clmd_coords_read(path, &c, &err), CLMD_EINPUT);
    char want[4300];
    snprintf(want, sizeof want, "%s:4: atom 2: coordinate z", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (!strstr(err.msg, want)) printf("\n  got: %s\n", err.msg);
    clmd_ff_destroy(&ff);
}

static int contains(const char *msg, const char *what)
{
    if (strstr(msg, what)) return 1;
    printf("\n  expected '%s' in:\n%s\n", what, msg);
    return 0;
}

static void forcefield_errors_name_line_column_and_key(void)
{
    const char *text = "clmd_forcefield: 1\n"                                        /* 1 */
                       "types:\n"                                                    /* 2 */
                       "  A: {element: Ar, mass: 39.9, charge: 0, sigma: abc, epsilon: 1}\n" /* 3 */
                       "  B: {element: Xx, mass: 1, charge: 0, sigma: 0.3, epsilom: 1}\n"   /* 4 */
                       "residues:\n"                                                 /* 5 */
                       "  W:\n"                                                      /* 6 */
                       "    atoms: {O: A, H: nope}\n"                                /* 7 */
                       "    bonds:\n"                                                /* 8 */
                       "      - {atoms: [O, Q], k: 1, r0: 0.1}\n"                    /* 9 */
                       "    virtual_sites:\n"                                        /* 10 */
                       "      - {site: O, atoms: [O, O, O], weights: [1, 0, 0]}\n"; /* 11 */
    clmd_ff *ff = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_ff_parse_string(text, "bad.yaml", &ff, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(ff);
    CU_ASSERT(contains(err.msg, "bad.yaml:3:50: key 'types.A.sigma': must be a number, got 'abc'"));
    CU_ASSERT(contains(err.msg, "bad.yaml:4:16: key 'types.B.element': 'Xx' is not an element"));
    CU_ASSERT(contains(err.msg, "bad.yaml:4:52: key 'types.B.epsilom': unknown key (did you mean 'epsilon'?)"));
    CU_ASSERT(contains(err.msg, "key 'types.B.epsilon': is required"));
    CU_ASSERT(contains(err.msg, "bad.yaml:7:22: key 'residues.W.atoms.H': unknown type 'nope'"));
    CU_ASSERT(contains(err.msg, "bad.yaml:9:17: key 'residues.W.bonds[0].atoms': atom 'Q' is not an atom of residue W"));
    CU_ASSERT(contains(err.msg, "bad.yaml:11:26: key 'residues.W.virtual_sites[0].atoms': atom 'O' is named twice"));

    CU_ASSERT_EQUAL(clmd_ff_parse_string("types:\n  A: {mass: 1\n", "syn.yaml", &ff, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "syn.yaml:3:1: YAML syntax error"));

    CU_ASSERT_EQUAL(clmd_ff_parse_string("", "empty.yaml", &ff, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "empty.yaml"));

    /* an M site with mass is refused: the integrator would move it */
    const char *heavy_m = "types:\n"
                          "  O: {element: O, mass: 16, charge: 0, sigma: 0.3, epsilon: 0.6}\n"
                          "  H: {element: H, mass: 1, charge: 0.5, sigma: 1, epsilon: 0}\n"
                          "  M: {mass: 1, charge: -1, sigma: 1, epsilon: 0}\n"
                          "residues:\n"
                          "  HOH:\n"
                          "    atoms: {O: O, H1: H, H2: H, M: M}\n"
                          "    virtual_sites:\n"
                          "      - {site: M, atoms: [O, H1, H2], weights: [0.8, 0.1, 0.1]}\n";
    CU_ASSERT_EQUAL(clmd_ff_parse_string(heavy_m, "m.yaml", &ff, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "m.yaml:9:16: key 'residues.HOH.virtual_sites[0]': atom M is a virtual site but its type has mass 1"));
}

/* Extracts attribute `attr` of the first line of `path` containing `tag`; NAN when absent. */
static double xml_attr(const char *path, const char *tag, const char *attr)
{
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    char line[1024], key[64];
    double v = NAN;
    snprintf(key, sizeof key, " %s=\"", attr);
    while (fgets(line, sizeof line, f))
        if (strstr(line, tag)) {
            char *p = strstr(line, key);
            if (p) v = strtod(p + strlen(key), NULL);
            break;
        }
    fclose(f);
    return v;
}

static const char *openmm_data(const char *file)
{
    static char paths[4][4096];
    static int slot;
    char *path = paths[slot++ % 4];
    const char *env = getenv("CLMD_OPENMM_DATA");
    char *out = NULL;
    if (env && *env) {
        snprintf(path, 4096, "%s/%s", env, file);
    } else if (clmd_test_run("/usr/bin/python3 -c \"import openmm.app, os; "
                             "print(os.path.dirname(openmm.app.__file__))\" 2>/dev/null",
                             &out) == 0 && out) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(path, 4096, "%s/data/%s", out, file);
    } else {
        free(out);
        return NULL;
    }
    free(out);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fclose(f);
    return path;
}

static void tip4pew_and_tip3p_parameters_equal_openmm_xml(void)
{
    const char *x4 = openmm_data("tip4pew.xml");
    if (!x4) CLMD_SKIP("OpenMM's tip4pew.xml not found (install python3-openmm or set CLMD_OPENMM_DATA)");
    clmd_ff *ff = load_shipped("tip4pew");
    const clmd_ffres *w = clmd_ff_water(ff);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_EQUAL_FATAL(w->nvsites, 1);
    const char *wn[3] = {"weight1", "weight2", "weight3"};
    for (int k = 0; k < 3; k++)
        ASSERT_REL(w->vsites[0].w[k], xml_attr(x4, "<VirtualSite", wn[k]), 1e-15, 0, wn[k],
                   "same decimal text as OpenMM's file");
    CU_ASSERT_STRING_EQUAL(w->atoms[w->vsites[0].site].name, "M");
    CU_ASSERT_STRING_EQUAL(w->atoms[w->vsites[0].a].name, "O");
    /* the weights reach the built system unchanged */
    clmd_system *s = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_builtin_water_box(ff, 1.5, &s, &err), CLMD_OK);
    for (int k = 0; k < 3; k++)
        ASSERT_REL(s->vsites[s->nvsites - 1].w[k], xml_attr(x4, "<VirtualSite", wn[k]), 1e-15, 0,
                   wn[k], "copied from the force field");
    clmd_system_destroy(&s);

    const char *x3 = openmm_data("tip3p.xml");
    const struct { const char *ff, *xml, *type; } cases[] = {
        {"tip4pew", x4, "tip4pew-O"}, {"tip4pew", x4, "tip4pew-H"}, {"tip4pew", x4, "tip4pew-M"},
        {"tip3p", x3, "tip3p-O"},     {"tip3p", x3, "tip3p-H"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (!cases[k].xml) continue;
        clmd_ff *f = strcmp(cases[k].ff, "tip4pew") == 0 ? ff : load_shipped("tip3p");
        const clmd_fftype *t = &f->types[clmd_ff_find_type(f, cases[k].type)];
        char tag[64];
        snprintf(tag, sizeof tag, "<Atom type=\"%s\"", cases[k].type);
        ASSERT_REL(t->charge, xml_attr(cases[k].xml, tag, "charge"), 1e-15, 1e-15, t->name, "charge");
        ASSERT_REL(t->sigma, xml_attr(cases[k].xml, tag, "sigma"), 1e-15, 0, t->name, "sigma");
        ASSERT_REL(t->epsilon, xml_attr(cases[k].xml, tag, "epsilon"), 1e-15, 1e-15, t->name, "epsilon");
        snprintf(tag, sizeof tag, "<Type name=\"%s\"", cases[k].type);
        ASSERT_REL(t->mass, xml_attr(cases[k].xml, tag, "mass"), 1e-15, 1e-15, t->name, "mass");
        const clmd_ffres *r = clmd_ff_water(f);
        ASSERT_REL(r->bonds[0].k, xml_attr(cases[k].xml, "<Bond class1", "k"), 1e-15, 0, "bond k", "same text");
        ASSERT_REL(r->bonds[0].r0, xml_attr(cases[k].xml, "<Bond class1", "length"), 1e-15, 0, "r0", "same text");
        ASSERT_REL(r->angles[0].k, xml_attr(cases[k].xml, "<Angle class1", "k"), 1e-15, 0, "angle k", "same text");
        ASSERT_REL(r->angles[0].theta0, xml_attr(cases[k].xml, "<Angle class1", "angle"), 1e-11, 0,
                   "theta0", "104.52 deg vs OpenMM's 1.82421813418 rad (11 digits)");
        if (f != ff) clmd_ff_destroy(&f);
    }
    clmd_ff_destroy(&ff);
}

static void shipped_rigid_geometry_matches_bond_and_angle(void)
{
    const char *models[2] = {"tip4pew", "tip3p"};
    for (int m = 0; m < 2; m++) {
        clmd_ff *ff = load_shipped(models[m]);
        const clmd_ffres *w = clmd_ff_water(ff);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w);
        double r = w->bonds[0].r0, th = w->angles[0].theta0;
        ASSERT_REL(w->rigid_oh, r, 1e-15, 0, "oh", "SETTLE O-H equals the bond length");
        ASSERT_REL(w->rigid_hh, sqrt(2 * r * r * (1 - cos(th))), 1e-11, 0, "hh",
                   "law of cosines, value written with 12 digits");
        clmd_ff_destroy(&ff);
    }
}

static void water_box_has_liquid_density_and_no_close_oxygens(void)
{
    const char *models[2] = {"tip4pew", "tip3p"};
    const double edge[2] = {3.0, 2.2};
    for (int m = 0; m < 2; m++) {
        clmd_ff *ff = load_shipped(models[m]);
        const clmd_ffres *w = clmd_ff_water(ff);
        int na = w->natoms;
        clmd_system *s = NULL;
        clmd_err err = {0};
        CU_ASSERT_EQUAL_FATAL(clmd_builtin_water_box(ff, edge[m], &s, &err), CLMD_OK);
        int nw = s->n / na;
        CU_ASSERT_EQUAL(s->n, nw * na);
        CU_ASSERT_EQUAL(s->nresidues, nw);
        double mass = 0;
        for (int i = 0; i < s->n; i++) mass += s->mass[i];
        double rho = mass / CLMD_AVOGADRO * 1e-3 / (clmd_system_box_volume(s) * 1e-27); /* kg/m^3 */
        ASSERT_REL(rho, CLMD_WATER_DENSITY, 0.5 / nw, 0, "density", "rounded to whole waters");
        double oo = INFINITY, worst_geom = 0;
        for (int a = 0; a < nw; a++) {
            int o = na * a + w->rigid_o, h1 = na * a + w->rigid_h[0], h2 = na * a + w->rigid_h[1];
            worst_geom = fmax(worst_geom, fabs(dist(s->x, o, h1) - w->rigid_oh));
            worst_geom = fmax(worst_geom, fabs(dist(s->x, h1, h2) - w->rigid_hh));
            for (int b = a + 1; b < nw; b++) oo = fmin(oo, min_image(s, o, na * b + w->rigid_o));
        }
        printf("\n  %s: %d waters in %.2f nm, min O-O %.4f nm", models[m], nw, edge[m], oo);
        ASSERT_BELOW(CLMD_WATER_MIN_OO, oo, "0.26 nm below the smallest O-O distance");
        ASSERT_BELOW(worst_geom, 1e-12, "rigid geometry error (nm)");
        if (w->nvsites) {
            CU_ASSERT_EQUAL(s->nvsites, nw);
            CU_ASSERT_STRING_EQUAL(s->name[3], "M"); /* O H1 H2 M order */
            CU_ASSERT_EQUAL(s->vsites[0].site, 3);
        }
        clmd_system_destroy(&s);
        clmd_ff_destroy(&ff);
    }
}

static void deck_constraints_hbonds_allbonds_and_rigid_water_counts(void)
{
    clmd_deck *d = malloc(sizeof *d);
    clmd_system *s = NULL;
    clmd_err err = {0};
    deck_init(d, CLMD_SRC_BUILTIN);
    d->system.builtin = CLMD_BUILTIN_WATER_BOX;
    snprintf(d->system.model, sizeof d->system.model, "tip3p");
    d->system.edge_nm = 1.8;

    /* rigid water: 3 constraints per water, no bonds, no angles */
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    int nw = s->nresidues;
    CU_ASSERT_EQUAL(s->nconstraints, 3 * nw);
    CU_ASSERT_EQUAL(s->nbonds, 0);
    CU_ASSERT_EQUAL(s->nangles, 0);
    CU_ASSERT_EQUAL(clmd_system_dof(s, 0), 6 * nw);
    ASSERT_REL(s->constraints[2].d, 0.151390065452, 1e-15, 0, "H-H", "tip3p.yaml rigid_water hh");
    clmd_system_destroy(&s);

    /* flexible water with hbonds: O-H constraints, the angle stays */
    d->rigid_water = 0;
    d->constraints = CLMD_CONSTRAIN_HBONDS;
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nconstraints, 2 * nw);
    CU_ASSERT_EQUAL(s->nbonds, 0);
    CU_ASSERT_EQUAL(s->nangles, nw);
    clmd_system_destroy(&s);

    /* rigid TIP4P-Ew with hbonds: still 3 per water; M sites untouched */
    d->rigid_water = 1;
    snprintf(d->system.model, sizeof d->system.model, "tip4pew");
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nconstraints, 3 * s->nresidues);
    CU_ASSERT_EQUAL(s->nvsites, s->nresidues);
    CU_ASSERT_EQUAL(s->nbonds + s->nangles, 0);
    clmd_system_destroy(&s);

    /* hbonds vs allbonds on N2 + a water, from a PDB with a force field of our own */
    const char *dir = clmd_test_tmpdir();
    char ffp[2048], pdb[2048];
    snprintf(ffp, sizeof ffp, "%.2000s/mix.yaml", dir);
    snprintf(pdb, sizeof pdb, "%.2000s/mix.pdb", dir);
    CU_ASSERT_EQUAL_FATAL(
        clmd_test_write_file(ffp, "types:\n"
                                  "  N: {element: N, mass: 14.007, charge: 0, sigma: 0.33, epsilon: 0.3}\n"
                                  "  O: {element: O, mass: 16, charge: -0.8, sigma: 0.315, epsilon: 0.64}\n"
                                  "  H: {element: H, mass: 1.008, charge: 0.4, sigma: 1, epsilon: 0}\n"
                                  "residues:\n"
                                  "  NN: {atoms: {N1: N, N2: N}, bonds: [{atoms: [N1, N2], k: 1e5, r0: 0.11}]}\n"
                                  "  HOH:\n"
                                  "    atoms: {O: O, H1: H, H2: H}\n"
                                  "    bonds: [{atoms: [O, H1], k: 4e5, r0: 0.1}, {atoms: [O, H2], k: 4e5, r0: 0.1}]\n"
                                  "    angles: [{atoms: [H1, O, H2], k: 400, theta0: 109.47}]\n"),
        0);
    CU_ASSERT_EQUAL_FATAL(
        clmd_test_write_file(pdb, "CRYST1   20.000   20.000   20.000  90.00  90.00  90.00 P 1           1\n"
                                  "HETATM    1  N1  NN  A   1       1.000   1.000   1.000  1.00  0.00           N\n"
                                  "HETATM    2  N2  NN  A   1       2.100   1.000   1.000  1.00  0.00           N\n"
                                  "HETATM    3  O   HOH A   2       5.000   5.000   5.000  1.00  0.00           O\n"
                                  "HETATM    4  H1  HOH A   2       5.800   5.600   5.000  1.00  0.00           H\n"
                                  "HETATM    5  H2  HOH A   2       4.200   5.600   5.000  1.00  0.00           H\n"
                                  "END\n"),
        0);
    deck_init(d, CLMD_SRC_COORDS);
    snprintf(d->system.forcefield, sizeof d->system.forcefield, "%s", ffp);
    snprintf(d->system.coordinates, sizeof d->system.coordinates, "%s", pdb);
    d->rigid_water = 0;
    d->constraints = CLMD_CONSTRAIN_HBONDS;
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nconstraints, 2);
    CU_ASSERT_EQUAL(s->nbonds, 1); /* N-N stays a bond */
    CU_ASSERT_EQUAL(s->nangles, 1);
    clmd_system_destroy(&s);
    d->constraints = CLMD_CONSTRAIN_ALLBONDS;
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nconstraints, 3);
    CU_ASSERT_EQUAL(s->nbonds, 0);
    CU_ASSERT_EQUAL(s->nangles, 1);
    clmd_system_destroy(&s);
    /* rigid water without a rigid_water template: H-H from the angle (law of cosines) */
    d->rigid_water = 1;
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nconstraints, 4);
    CU_ASSERT_EQUAL(s->nangles, 0);
    double hh = 0;
    for (int k = 0; k < s->nconstraints; k++)
        if (s->constraints[k].i >= 3 && s->constraints[k].j >= 3) hh = s->constraints[k].d;
    ASSERT_REL(hh, 2 * 0.1 * sin(0.5 * 109.47 * M_PI / 180), 1e-12, 0, "H-H", "law of cosines");
    /* deck box override */
    d->system.has_box = 1;
    d->system.box[0] = 3, d->system.box[1] = 4, d->system.box[2] = 5;
    clmd_system_destroy(&s);
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    ASSERT_REL(s->box[1][1], 4, 0, 0, "box y", "deck box overrides CRYST1");
    clmd_system_destroy(&s);
    free(d);
}

static void builtin_decks_find_their_default_force_fields(void)
{
    clmd_deck *d = malloc(sizeof *d);
    clmd_system *s = NULL;
    clmd_err err = {0};
    deck_init(d, CLMD_SRC_BUILTIN);
    d->system.builtin = CLMD_BUILTIN_LJ_FCC;
    d->system.cells = 3;
    int st = clmd_system_from_deck(d, &s, &err);
    if (st) printf("\n  %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, CLMD_OK);
    CU_ASSERT_EQUAL(s->n, 4 * 27);
    ASSERT_REL(s->sigma[0], 0.3405, 0, 0, "sigma", "argon.yaml is lj_fcc's default");
    clmd_system_destroy(&s);
    d->system.builtin = CLMD_BUILTIN_WATER_BOX;
    d->system.edge_nm = 1.5;
    CU_ASSERT_EQUAL_FATAL(clmd_system_from_deck(d, &s, &err), CLMD_OK);
    CU_ASSERT_EQUAL(s->nvsites, s->nresidues); /* model tip4pew */
    clmd_system_destroy(&s);
    snprintf(d->system.model, sizeof d->system.model, "tip5p");
    CU_ASSERT_EQUAL(clmd_system_from_deck(d, &s, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "test_deck.yaml:3:1: key 'system.forcefield': not given, and the default force field 'tip5p.yaml' not found"));
    free(d);
}

static void deck_errors_name_the_deck_line_and_key(void)
{
    clmd_deck *d = malloc(sizeof *d);
    clmd_system *s = NULL;
    clmd_err err = {0};
    deck_init(d, CLMD_SRC_COORDS);
    const char *pdb = clmd_test_data("systems/lj_argon.pdb");
    snprintf(d->system.coordinates, sizeof d->system.coordinates, "%s", pdb ? pdb : "x.pdb");
    d->system.coordinates_mark = (clmd_mark){5, 3};
    CU_ASSERT_EQUAL(clmd_system_from_deck(d, &s, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "test_deck.yaml:5:3: key 'system.coordinates': coordinates need a force field"));

    snprintf(d->system.forcefield, sizeof d->system.forcefield, "/nonexistent/ff.yaml");
    d->system.forcefield_mark = (clmd_mark){6, 14};
    CU_ASSERT_EQUAL(clmd_system_from_deck(d, &s, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "test_deck.yaml:6:14: key 'system.forcefield': /nonexistent/ff.yaml: cannot open"));

    /* argon atoms against a water force field: names the PDB line */
    if (pdb) {
        snprintf(d->system.forcefield, sizeof d->system.forcefield, "%s",
                 clmd_test_source("forcefields/tip3p.yaml"));
        CU_ASSERT_EQUAL(clmd_system_from_deck(d, &s, &err), CLMD_EINPUT);
        char want[4400];
        snprintf(want, sizeof want, "test_deck.yaml:5:3: key 'system.coordinates': %s:2: atom 'AR'", pdb);
        CU_ASSERT(contains(err.msg, want));
    }

    deck_init(d, CLMD_SRC_AMBER);
    snprintf(d->system.prmtop, sizeof d->system.prmtop, "nothing.prmtop");
    d->system.prmtop_mark = (clmd_mark){4, 11};
    CU_ASSERT_EQUAL(clmd_system_from_deck(d, &s, &err), CLMD_EINPUT);
    CU_ASSERT(contains(err.msg, "test_deck.yaml:4:11: key 'system.amber'"));
    CU_ASSERT_PTR_NULL(s);
    free(d);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"lj_fcc has 4n^3 atoms at the density and the fcc nearest distance",
         lj_fcc_has_4n3_atoms_at_the_density_and_fcc_nearest_distance},
        {"PDB lj_argon: every atom, the box and argon parameters",
         pdb_lj_argon_reads_every_atom_box_and_parameters},
        {"PDB tip4pew_box: waters with M sites and intra-water exclusions",
         pdb_tip4pew_box_gives_waters_with_m_sites_and_exclusions},
        {"PDB reader: MODEL, TER, altLoc, triclinic CRYST1, element fallback, errors",
         pdb_reader_handles_models_ter_altloc_triclinic_and_element_fallback},
        {"XYZ round trip keeps positions, box and topology",
         xyz_round_trip_keeps_positions_box_and_topology},
        {"force-field errors name line, column and key", forcefield_errors_name_line_column_and_key},
        {"TIP4P-Ew and TIP3P parameters equal OpenMM's XML",
         tip4pew_and_tip3p_parameters_equal_openmm_xml},
        {"shipped rigid geometry matches the bond and angle", shipped_rigid_geometry_matches_bond_and_angle},
        {"water_box has liquid density and no close oxygens",
         water_box_has_liquid_density_and_no_close_oxygens},
        {"deck constraints: hbonds, allbonds, rigid water counts",
         deck_constraints_hbonds_allbonds_and_rigid_water_counts},
        {"builtin decks find their default force fields", builtin_decks_find_their_default_force_fields},
        {"deck errors name the deck line and key", deck_errors_name_the_deck_line_and_key},
        {NULL, NULL}};
    return clmd_test_main("coords", tests, argc, argv);
}
