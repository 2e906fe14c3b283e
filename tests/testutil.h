/* Shared helpers for clmd's CUnit suites: a main() that runs one suite and prints
 * "<suite>: P passed, F failed, S skipped", loud skips (skips for missing reference data fail the
 * suite), a relative-tolerance assert that says why
 * the tolerance is what it is, reference-data lookup through CLMD_TEST_DATA, and a small JSON
 * reader for the OpenMM reference files. */
#ifndef CLMD_TESTUTIL_H
#define CLMD_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdio.h>

#include "ff/plan.h"
#include "ff/term.h"

typedef struct clmd_test {
    const char *name;
    void (*fn)(void);
} clmd_test;

/* Runs the tests (terminated by {NULL, NULL}) as one suite and prints
 * "<suite>: P passed, F failed, S skipped": a test that called a skip function and did not fail is
 * skipped, never passed. When some skipped for missing reference data it adds the line
 * "<suite>: D data skips (...): names" and returns non-zero, as for a failure. */
int clmd_test_main(const char *suite, const clmd_test *tests, int argc, char **argv);

/* Path of a file under the reference data folder (CLMD_TEST_DATA, default tests/data in the
 * source tree), or NULL when it is absent; the caller then skips with CLMD_SKIP_DATA. */
const char *clmd_test_data(const char *rel);
/* Path of a file in the source tree (inputs/, forcefields/...). */
const char *clmd_test_source(const char *rel);
/* Path of the clmd program built beside the tests. */
const char *clmd_test_binary(void);
/* A fresh empty scratch directory for this test. */
const char *clmd_test_tmpdir(void);

/* Skips for a reason outside clmd and its data (running as root, no OpenCL device, an optional
 * tool not installed): counted as skipped, the suite still passes. */
void clmd_test_skip(const char *test, const char *why);
#define CLMD_SKIP(why)                        \
    do {                                      \
        clmd_test_skip(__func__, (why));      \
        return;                               \
    } while (0)
/* Skips because a reference or input file from the data folder is missing: the comparison did not
 * run, so the suite fails (exit status 1) after reporting it as a data skip. */
void clmd_test_skip_data(const char *test, const char *why);
#define CLMD_SKIP_DATA(why)                   \
    do {                                      \
        clmd_test_skip_data(__func__, (why)); \
        return;                               \
    } while (0)

/* Asserts |a - b| <= tol * max(|b|, floor) and prints both values and the reason on failure. */
void clmd_assert_rel(double a, double b, double tol, double floor, const char *what,
                     const char *why, const char *file, int line);
#define ASSERT_REL(a, b, tol, floor, what, why) \
    clmd_assert_rel((a), (b), (tol), (floor), (what), (why), __FILE__, __LINE__)
/* Asserts value < bound, printing both. */
void clmd_assert_below(double value, double bound, const char *what, const char *file, int line);
#define ASSERT_BELOW(value, bound, what) clmd_assert_below((value), (bound), (what), __FILE__, __LINE__)

/* The force-field plan of system s with options o (ff/plan.h), in one of 8 static slots reused
 * in turn, for the terms a test builds itself. A plan that cannot be made fails the test
 * (CU_FAIL, with the message) and comes back filled with the options only. */
const clmd_ffplan *clmd_test_plan(const struct clmd_system *s, const clmd_ffopts *o);
/* The evaluation environment a term sees, with s's own box (version 1). */
clmd_fenv clmd_test_fenv(const struct clmd_system *s, const clmd_ffplan *plan, struct clmd_dev *dev);

/* Alanine dipeptide in TIP3P water from the test data (Amber files), hydrogen bonds
 * constrained; NULL when the files are absent (skip with CLMD_SKIP_DATA). */
struct clmd_system *clmd_test_ala2_water(void);

/* Global force error sqrt(sum |f - ref|^2 / sum |ref|^2) over n particles ([3n] arrays). */
double clmd_force_rms_rel(const double *f, const double *ref, int n);

/* Minimal JSON document model, enough for the reference files. */
typedef enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ } clmd_jv_kind;
typedef struct clmd_jv {
    clmd_jv_kind kind;
    double num;
    char *str;
    int n;                 /* array/object length */
    struct clmd_jv **item; /* array items / object values */
    char **key;            /* object keys */
} clmd_jv;
clmd_jv *clmd_jv_load(const char *path); /* NULL on error (message on stderr) */
void clmd_jv_free(clmd_jv *v);
const clmd_jv *clmd_jv_get(const clmd_jv *obj, const char *key); /* NULL if absent */
double clmd_jv_num(const clmd_jv *v, double fallback);
/* Reads an [[x,y,z],...] array into a new [3n] array; returns n or -1. */
int clmd_jv_vec3s(const clmd_jv *arr, double **out);

/* Runs a command, returns its exit status; output captured into *out (malloc'd) if out != NULL. */
int clmd_test_run(const char *cmd, char **out);
/* Writes text to a file (for decks in tests). Returns 0 on success. */
int clmd_test_write_file(const char *path, const char *text);

#endif
