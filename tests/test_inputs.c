/* Suite: the example decks in inputs/ work from a fresh clone. Every .yaml deck there (found by
 * listing the folder, so a new deck is covered) reads only files inside the repository and runs a
 * few steps on the default device, writing an energy log with rows. The decks write beside
 * themselves (out/argon...), so each runs as a copy in a scratch folder with its input paths made
 * absolute and its outputs sent to the scratch folder: the test never writes into the source tree
 * or over a user's results, and checks that with `clmd check` before it runs anything. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_DECKS 64
#define STEPS "2" /* the argon deck has 32,000 atoms: a couple of steps keep the suite quick */

/* ---- text helpers ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *p)
{
    sb_put(b, p, strlen(p));
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sbuf b = {0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) sb_put(&b, chunk, got);
    fclose(f);
    if (!b.s) sb_puts(&b, "");
    return b.s;
}

/* ---- the deck transform ---- */

/* Keys whose value is an input file, resolved against the deck's folder. */
static const char *const input_keys[] = {"prmtop", "inpcrd", "coordinates", "forcefield", NULL};

static int is_key_at(const char *text, const char *p, const char *key)
{
    size_t k = strlen(key);
    if (p > text && !strchr(" \t\n{,", p[-1])) return 0;
    return strncmp(p, key, k) == 0 && p[k] == ':' && (p[k + 1] == ' ' || p[k + 1] == '\t');
}

/* Writes v as a YAML double-quoted scalar. */
static void put_quoted(sbuf *b, const char *v)
{
    sb_puts(b, "\"");
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') sb_puts(b, "\\");
        sb_put(b, v, 1);
    }
    sb_puts(b, "\"");
}

/* A copy of deck text to run from scratch: input paths (prmtop, inpcrd, coordinates, forcefield)
 * made absolute against deckdir, output.directory set to scratch/out and probes.json to
 * scratch/probes.json. Block and flow mappings, quoted values and comments are handled; an input
 * value that is null or already absolute is kept, as is `json: null`. Returns a malloc'd string. */
static char *deck_for_scratch(const char *text, const char *deckdir, const char *scratch)
{
    sbuf b = {0};
    const char *p = text;
    while (*p) {
        if (*p == '#' && (p == text || strchr(" \t\n", p[-1]))) { /* a comment: copy it as is */
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            sb_put(&b, p, len);
            p += len;
            continue;
        }
        const char *key = NULL;
        int input = 0;
        for (int i = 0; input_keys[i] && !key; i++)
            if (is_key_at(text, p, input_keys[i])) key = input_keys[i], input = 1;
        if (!key && is_key_at(text, p, "directory")) key = "directory";
        if (!key && is_key_at(text, p, "json")) key = "json";
        if (!key) {
            sb_put(&b, p, 1);
            p++;
            continue;
        }
        /* copy "key:" and the blanks after it, then read the value */
        const char *v = p + strlen(key) + 1;
        while (*v == ' ' || *v == '\t') v++;
        sb_put(&b, p, (size_t)(v - p));
        const char *end;
        char val[4096];
        if (*v == '"' || *v == '\'') {
            end = strchr(v + 1, *v);
            end = end ? end + 1 : v + strlen(v);
            snprintf(val, sizeof val, "%.*s", (int)(end - v - 2 > 0 ? end - v - 2 : 0), v + 1);
        } else {
            end = v;
            while (*end && !strchr(",}\n", *end) && !(end[0] == ' ' && end[1] == '#')) end++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            snprintf(val, sizeof val, "%.*s", (int)(end - v), v);
        }
        int null = !val[0] || !strcmp(val, "null") || !strcmp(val, "~") || !strcmp(val, "Null") ||
                   !strcmp(val, "NULL");
        char path[8192];
        if (input && !null && val[0] != '/') {
            snprintf(path, sizeof path, "%s/%s", deckdir, val);
            put_quoted(&b, path);
        } else if (!input && !(null && !strcmp(key, "json"))) {
            snprintf(path, sizeof path, "%s/%s", scratch,
                     !strcmp(key, "directory") ? "out" : "probes.json");
            put_quoted(&b, path);
        } else {
            sb_put(&b, v, (size_t)(end - v));
        }
        p = end;
    }
    if (!b.s) sb_puts(&b, "");
    return b.s;
}

static void transform_makes_inputs_absolute_and_sends_outputs_to_scratch(void)
{
    const char *deck =
        "# forcefield: in a comment, left alone\n"
        "system:\n"
        "  amber:\n"
        "    prmtop: ../data/a.prmtop   # trailing comment\n"
        "    inpcrd: \"../data/a b.inpcrd\"\n"
        "  coordinates: /abs/x.pdb\n"
        "  forcefield: null\n"
        "other: {forcefield: ff.yaml, coordinates: 'c.pdb'}\n"
        "output:\n"
        "  directory: ../out/x\n"
        "  my_directory: keep\n"
        "  energies: {file: energies.csv, interval: 100}\n"
        "probes: {json: ../out/x/probes.json}\n"
        "probes2: {json: null}\n";
    char *got = deck_for_scratch(deck, "/src/inputs", "/tmp/s");
    const char *want =
        "# forcefield: in a comment, left alone\n"
        "system:\n"
        "  amber:\n"
        "    prmtop: \"/src/inputs/../data/a.prmtop\"   # trailing comment\n"
        "    inpcrd: \"/src/inputs/../data/a b.inpcrd\"\n"
        "  coordinates: /abs/x.pdb\n"
        "  forcefield: null\n"
        "other: {forcefield: \"/src/inputs/ff.yaml\", coordinates: \"/src/inputs/c.pdb\"}\n"
        "output:\n"
        "  directory: \"/tmp/s/out\"\n"
        "  my_directory: keep\n"
        "  energies: {file: energies.csv, interval: 100}\n"
        "probes: {json: \"/tmp/s/probes.json\"}\n"
        "probes2: {json: null}\n";
    if (strcmp(got, want)) printf("\n--- got ---\n%s--- want ---\n%s", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

/* ---- the decks ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .yaml decks in inputs/, sorted; returns how many (names malloc'd into names[]). */
static int list_decks(char **names)
{
    DIR *d = opendir(clmd_test_source("inputs"));
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_DECKS) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len > 5 && !strcmp(e->d_name + len - 5, ".yaml"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

/* Every value of `key: "..."` in clmd check's resolved deck, in turn: *at is the search position. */
static int next_value(const char **at, const char *key, char *val, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s: \"", key);
    for (const char *p = strstr(*at, pat); p; p = strstr(p + 1, pat)) {
        if (p > *at && !strchr(" \t{,", p[-1])) continue;
        const char *v = p + strlen(pat), *q = strchr(v, '"');
        if (!q) return 0;
        snprintf(val, n, "%.*s", (int)(q - v), v);
        *at = q;
        return 1;
    }
    return 0;
}

static int inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/' && !strstr(path, "/../");
}

/* Runs `clmd check` on a deck and returns its output (malloc'd), or NULL when it failed. */
static char *check_deck(const char *deck)
{
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' check '%s'", clmd_test_binary(), deck);
    int rc = clmd_test_run(cmd, &out);
    if (rc) {
        printf("\n  clmd check %s: exit %d\n%s", deck, rc, out ? out : "");
        free(out);
        return NULL;
    }
    return out;
}

static void every_deck_reads_only_files_inside_the_repository(void)
{
    char *names[MAX_DECKS];
    int n = list_decks(names);
    CU_ASSERT_FATAL(n > 0);
    char src[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(clmd_test_source(""), src));
    for (int i = 0; i < n; i++) {
        char deck[PATH_MAX + 512];
        snprintf(deck, sizeof deck, "%s/inputs/%s", src, names[i]);
        char *out = check_deck(deck);
        CU_ASSERT_PTR_NOT_NULL(out);
        int files = 0;
        for (int k = 0; out && input_keys[k]; k++) {
            const char *at = out;
            char val[4096], real[PATH_MAX];
            while (next_value(&at, input_keys[k], val, sizeof val)) {
                files++;
                int ok = realpath(val, real) && inside(real, src);
                printf("\n  %-18s %-11s %s%s", names[i], input_keys[k], val, ok ? "" : "  OUTSIDE");
                CU_ASSERT(ok);
            }
        }
        CU_ASSERT(out == NULL || files > 0 || strstr(out, "builtin:") != NULL);
        free(out);
    }
    printf("\n");
    for (int i = 0; i < n; i++) free(names[i]);
}

/* Checks the energy log: a header, then at least one row of finite numbers. Returns the rows. */
static int energy_rows(const char *path)
{
    char *text = read_text(path);
    if (!text) {
        printf("\n  %s: cannot read", path);
        return -1;
    }
    int rows = 0, bad = 0;
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strncmp(line, "step,", 5)) bad = 1;
    while (!bad && (line = strtok_r(NULL, "\n", &save))) {
        for (char *p = line;;) {
            char *end;
            double v = strtod(p, &end);
            if (end == p || !isfinite(v) || (*end && *end != ',')) {
                printf("\n  %s: bad field in row %d: %s", path, rows + 1, line);
                bad = 1;
                break;
            }
            if (!*end) break;
            p = end + 1;
        }
        rows++;
    }
    free(text);
    return bad ? -1 : rows;
}

static void every_deck_runs_a_few_steps_from_a_scratch_copy(void)
{
    char *names[MAX_DECKS];
    int n = list_decks(names);
    CU_ASSERT_FATAL(n > 0);
    char cwd[PATH_MAX], srcdir[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    snprintf(srcdir, sizeof srcdir, "%s", clmd_test_source("inputs"));
    for (int i = 0; i < n; i++) {
        const char *tmp = clmd_test_tmpdir();
        CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
        char scratch[PATH_MAX + 64], orig[8192], copy[PATH_MAX + 128];
        snprintf(scratch, sizeof scratch, "%s/%s", cwd, tmp);
        snprintf(orig, sizeof orig, "%s/%s", srcdir, names[i]);
        snprintf(copy, sizeof copy, "%s/%s", scratch, names[i]);
        char *text = read_text(orig);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        char *deck = deck_for_scratch(text, srcdir, scratch);
        free(text);
        CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(copy, deck), 0);
        free(deck);

        /* before running: every output of the copy resolves inside the scratch folder */
        char *out = check_deck(copy);
        CU_ASSERT_PTR_NOT_NULL(out);
        if (!out) continue;
        char dir[4096] = "", val[4096], energies[8192] = "";
        const char *at = out;
        int safe = next_value(&at, "directory", dir, sizeof dir) && inside(dir, scratch);
        at = out;
        if (next_value(&at, "json", val, sizeof val)) safe = safe && inside(val, scratch);
        at = out;
        while (next_value(&at, "file", val, sizeof val))
            safe = safe && (val[0] == '/' ? inside(val, scratch) : !strstr(val, ".."));
        const char *e = strstr(out, "energies: {file: \"");
        /* a replica-exchange campaign logs each state's energies in dir/state_NNN/ */
        const char *campaign = strstr(out, "replica_exchange:\n") ? "state_000/" : "";
        if (e && next_value(&e, "file", val, sizeof val))
            snprintf(energies, sizeof energies, "%s%s%s%s", val[0] == '/' ? "" : dir,
                     val[0] == '/' ? "" : "/", val[0] == '/' ? "" : campaign, val);
        free(out);
        if (!safe) printf("\n  %s: an output of the scratch copy lies outside %s", names[i], scratch);
        CU_ASSERT_FATAL(safe);
        if (!energies[0]) printf("\n  %s: the deck writes no energy log", names[i]);
        CU_ASSERT(energies[0]);

        char cmd[16384], *log = NULL;
        snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps " STEPS " --quiet", clmd_test_binary(), copy);
        int rc = clmd_test_run(cmd, &log);
        printf("\n  %-18s clmd run --steps " STEPS ": exit %d", names[i], rc);
        if (rc) printf("\n%s", log ? log : "");
        free(log);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc || !energies[0]) continue;
        int rows = energy_rows(energies);
        printf(", %d energy rows", rows);
        CU_ASSERT(rows >= 1);
        if (rows >= 1) {
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
            CU_ASSERT_EQUAL(system(cmd), 0);
        }
    }
    printf("\n");
    for (int i = 0; i < n; i++) free(names[i]);
}

int main(int argc, char **argv)
{
    const clmd_test tests[] = {
        {"deck copy: input paths absolute, outputs in the scratch folder", transform_makes_inputs_absolute_and_sends_outputs_to_scratch},
        {"every inputs/ deck reads only files inside the repository", every_deck_reads_only_files_inside_the_repository},
        {"every inputs/ deck runs " STEPS " steps and logs energies", every_deck_runs_a_few_steps_from_a_scratch_copy},
        {NULL, NULL}};
    return clmd_test_main("inputs", tests, argc, argv);
}
