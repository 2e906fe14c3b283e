#include "testutil.h"

#include "system/amber.h"
#include "system/constrain.h"
#include "system/system.h"

#include <CUnit/Basic.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Skips are recorded per test (a test that skips several comparisons is one skipped test) and kept
 * apart from passes: a test that skipped counts as skipped unless it also failed. */
enum { SKIP_OTHER = 1, SKIP_DATA = 2 };
static CU_pTest *reg;             /* the registered tests, in order */
static unsigned char *skip_kind; /* per test, SKIP_* bits */
static int ntests;

static void mark_skip(int kind)
{
    CU_pTest t = CU_get_current_test();
    for (int i = 0; t && i < ntests; i++)
        if (reg[i] == t) skip_kind[i] |= (unsigned char)kind;
}

static int test_failed(CU_pTest t)
{
    for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
        if (f->pTest == t) return 1;
    return 0;
}

int clmd_test_main(const char *suite, const clmd_test *tests, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    for (ntests = 0; tests[ntests].name; ntests++) continue;
    reg = calloc((size_t)ntests + 1, sizeof *reg);
    skip_kind = calloc((size_t)ntests + 1, 1);
    if (!reg || !skip_kind) return 2;
    /* CLMD_TEST_ONLY=text: only the tests whose name holds text (while developing) */
    const char *only = getenv("CLMD_TEST_ONLY");
    for (int i = 0; i < ntests; i++)
        if (!only || strstr(tests[i].name, only)) reg[i] = CU_add_test(s, tests[i].name, tests[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned run = CU_get_number_of_tests_run(), failed = CU_get_number_of_tests_failed();
    unsigned skipped = 0, data = 0;
    for (int i = 0; i < ntests; i++) {
        if (!skip_kind[i] || test_failed(reg[i])) continue;
        skipped++;
        if (skip_kind[i] & SKIP_DATA) data++;
    }
    printf("\n%s: %u passed, %u failed, %u skipped\n", suite, run - failed - skipped, failed, skipped);
    /* a comparison that did not run for want of reference data is not a pass: the suite fails */
    if (data) {
        const char *dir = getenv("CLMD_TEST_DATA");
        printf("%s: %u data skips (reference data missing in %s%s): ", suite, data,
               dir && *dir ? dir : CLMD_SOURCE_DIR "/tests/data",
               dir && *dir ? ", from CLMD_TEST_DATA" : "");
        for (int i = 0, k = 0; i < ntests; i++)
            if (skip_kind[i] & SKIP_DATA && !test_failed(reg[i]))
                printf("%s\"%s\"", k++ ? ", " : "", tests[i].name);
        printf("\n");
    }
    free(skip_kind);
    free(reg);
    skip_kind = NULL;
    reg = NULL;
    ntests = 0;
    CU_cleanup_registry();
    return failed || data ? 1 : 0;
}

void clmd_test_skip(const char *test, const char *why)
{
    mark_skip(SKIP_OTHER);
    fprintf(stderr, "\n*** SKIPPED %s: %s ***\n", test, why);
    printf("SKIPPED %s: %s\n", test, why);
}

void clmd_test_skip_data(const char *test, const char *why)
{
    mark_skip(SKIP_DATA);
    fprintf(stderr, "\n*** SKIPPED (reference data missing) %s: %s ***\n", test, why);
    printf("SKIPPED (reference data missing) %s: %s\n", test, why);
}

static char pathbuf[8][4096];
static int pathslot;

const char *clmd_test_data(const char *rel)
{
    const char *dir = getenv("CLMD_TEST_DATA");
    char *buf = pathbuf[pathslot++ % 8];
    if (dir && *dir) snprintf(buf, 4096, "%s/%s", dir, rel);
    else snprintf(buf, 4096, "%s/tests/data/%s", CLMD_SOURCE_DIR, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

const char *clmd_test_source(const char *rel)
{
    char *buf = pathbuf[pathslot++ % 8];
    snprintf(buf, 4096, "%s/%s", CLMD_SOURCE_DIR, rel);
    return buf;
}

const char *clmd_test_binary(void)
{
    const char *b = getenv("CLMD_BINARY");
    return b && *b ? b : "./clmd";
}

const char *clmd_test_tmpdir(void)
{
    static char dir[4096];
    static int counter;
    snprintf(dir, sizeof dir, "test_tmp_%d_%d", (int)getpid(), counter++);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return NULL;
    return dir;
}

void clmd_assert_rel(double a, double b, double tol, double floor, const char *what,
                     const char *why, const char *file, int line)
{
    double scale = fabs(b) > floor ? fabs(b) : floor;
    int ok = isfinite(a) && fabs(a - b) <= tol * scale;
    if (!ok)
        printf("\n  %s:%d: %s = %.10g, expected %.10g (rel tol %.2g, floor %.2g: %s)\n", file,
               line, what, a, b, tol, floor, why);
    CU_assertImplementation(ok, line, what, file, "", CU_FALSE);
}

void clmd_assert_below(double value, double bound, const char *what, const char *file, int line)
{
    int ok = isfinite(value) && value < bound;
    printf("\n  %s = %.4g (bound %.4g)%s", what, value, bound, ok ? "" : "  FAILED");
    CU_assertImplementation(ok, line, what, file, "", CU_FALSE);
}

double clmd_force_rms_rel(const double *f, const double *ref, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < 3 * n; i++) {
        num += (f[i] - ref[i]) * (f[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---- JSON reader ---- */
typedef struct {
    const char *p;
    int bad;
} rd;

static void ws(rd *r)
{
    while (isspace((unsigned char)*r->p)) r->p++;
}

static clmd_jv *value(rd *r);

static char *jstring(rd *r)
{
    r->p++; /* opening quote */
    size_t cap = 64, n = 0;
    char *s = malloc(cap);
    while (*r->p && *r->p != '"') {
        char c = *r->p++;
        if (c == '\\') {
            c = *r->p++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'u') {
                r->p += 4;
                c = '?';
            }
        }
        if (n + 2 > cap) s = realloc(s, cap *= 2);
        s[n++] = c;
    }
    if (*r->p == '"') r->p++;
    else r->bad = 1;
    s[n] = 0;
    return s;
}

static void push(clmd_jv *v, clmd_jv *item, char *key)
{
    v->item = realloc(v->item, sizeof *v->item * (size_t)(v->n + 1));
    if (key) v->key = realloc(v->key, sizeof *v->key * (size_t)(v->n + 1));
    v->item[v->n] = item;
    if (key) v->key[v->n] = key;
    v->n++;
}

static clmd_jv *value(rd *r)
{
    ws(r);
    clmd_jv *v = calloc(1, sizeof *v);
    char c = *r->p;
    if (c == '{' || c == '[') {
        v->kind = c == '{' ? JV_OBJ : JV_ARR;
        r->p++;
        ws(r);
        char close = c == '{' ? '}' : ']';
        if (*r->p == close) {
            r->p++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            ws(r);
            if (v->kind == JV_OBJ) {
                if (*r->p != '"') {
                    r->bad = 1;
                    return v;
                }
                key = jstring(r);
                ws(r);
                if (*r->p++ != ':') r->bad = 1;
            }
            push(v, value(r), key);
            ws(r);
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            if (*r->p == close) {
                r->p++;
                return v;
            }
            r->bad = 1;
            return v;
        }
    } else if (c == '"') {
        v->kind = JV_STR;
        v->str = jstring(r);
    } else if (!strncmp(r->p, "true", 4) || !strncmp(r->p, "false", 5)) {
        v->kind = JV_BOOL;
        v->num = c == 't';
        r->p += c == 't' ? 4 : 5;
    } else if (!strncmp(r->p, "null", 4)) {
        r->p += 4;
    } else if (!strncmp(r->p, "NaN", 3)) {
        v->kind = JV_NUM;
        v->num = NAN;
        r->p += 3;
    } else {
        char *end;
        v->kind = JV_NUM;
        v->num = strtod(r->p, &end);
        if (end == r->p) r->bad = 1;
        r->p = end;
    }
    return v;
}

clmd_jv *clmd_jv_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    size_t got = fread(text, 1, (size_t)len, f);
    fclose(f);
    text[got] = 0;
    rd r = {text, 0};
    clmd_jv *v = value(&r);
    free(text);
    if (r.bad) {
        fprintf(stderr, "%s: malformed JSON\n", path);
        clmd_jv_free(v);
        return NULL;
    }
    return v;
}

void clmd_jv_free(clmd_jv *v)
{
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        clmd_jv_free(v->item[i]);
        if (v->key) free(v->key[i]);
    }
    free(v->item);
    free(v->key);
    free(v->str);
    free(v);
}

const clmd_jv *clmd_jv_get(const clmd_jv *obj, const char *key)
{
    if (!obj || obj->kind != JV_OBJ) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->key[i], key) == 0) return obj->item[i];
    return NULL;
}

double clmd_jv_num(const clmd_jv *v, double fallback)
{
    return v && v->kind == JV_NUM ? v->num : fallback;
}

int clmd_jv_vec3s(const clmd_jv *arr, double **out)
{
    if (!arr || arr->kind != JV_ARR) return -1;
    double *d = malloc(sizeof *d * 3 * (size_t)(arr->n ? arr->n : 1));
    for (int i = 0; i < arr->n; i++) {
        const clmd_jv *row = arr->item[i];
        if (row->kind != JV_ARR || row->n != 3) {
            free(d);
            return -1;
        }
        for (int k = 0; k < 3; k++) d[3 * i + k] = clmd_jv_num(row->item[k], NAN);
    }
    *out = d;
    return arr->n;
}

int clmd_test_run(const char *cmd, char **out)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int clmd_test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

const clmd_ffplan *clmd_test_plan(const clmd_system *s, const clmd_ffopts *o)
{
    static clmd_ffplan plans[8];
    static int next;
    clmd_ffplan *p = &plans[next++ % 8];
    clmd_err err = {0};
    if (clmd_ffplan_make(s, o, p, &err) != CLMD_OK) {
        printf("\n  force-field plan: %s\n", err.msg);
        CU_FAIL("the force-field plan could not be made");
        memset(p, 0, sizeof *p);
        p->o = *o;
    }
    return p;
}

clmd_fenv clmd_test_fenv(const clmd_system *s, const clmd_ffplan *plan, struct clmd_dev *dev)
{
    clmd_fenv env = {s, plan, (const double(*)[3])s->box, 1, NULL, dev, NULL, 0, NULL, 0};
    return env;
}

clmd_system *clmd_test_ala2_water(void)
{
    const char *top = clmd_test_data("systems/alanine-dipeptide-explicit.prmtop");
    const char *crd = clmd_test_data("systems/alanine-dipeptide-explicit.inpcrd");
    if (!top || !crd) return NULL;
    clmd_system *s = NULL;
    clmd_err err = {0};
    if (clmd_amber_load(top, crd, &s, &err) || clmd_constrain(s, CLMD_RIGID_HBONDS, 1, NULL, &err)) {
        clmd_system_destroy(&s);
        return NULL;
    }
    return s;
}
