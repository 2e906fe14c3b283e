/* Suite: io module (no-overwrite policy, energy log, checkpoint container, H5MD trajectory). */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/mem.h"
#include "io/checkpoint.h"
#include "io/energylog.h"
#include "io/h5md.h"
#include "io/outfile.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char *tmpdir_copy(void)
{
    const char *d = clmd_test_tmpdir();
    return d ? strdup(d) : NULL;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Whole file into a malloc'd buffer; *n its size. NULL when unreadable. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static int spit(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* A deterministic pseudo-random stream (splitmix64) for test data. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64() >> 11) / 9007199254740992.0;
}

/* ---- outfile ------------------------------------------------------------------------------ */

static void existing_output_is_refused_before_anything_is_created(void)
{
    char *t = tmpdir_copy();
    char dir[512], path[600], sub[600];
    snprintf(dir, sizeof dir, "%s/out", t);
    snprintf(path, sizeof path, "%s/energies.csv", dir);
    snprintf(sub, sizeof sub, "%s/chk", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0777), 0);
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(path, "old\n"), 0);
    const char *names[] = {"traj.h5", "energies.csv", "chk/state.chk", ""};
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_outfile_prepare(dir, names, 4, 0, &err), CLMD_EINPUT);
    CU_ASSERT_EQUAL(err.code, CLMD_EINPUT);
    char want[700];
    snprintf(want, sizeof want,
             "%s exists: set output.overwrite: true in the deck or pass --overwrite", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
    if (!strstr(err.msg, want)) printf("\n  message: %s\n", err.msg);
    /* refused means untouched: the folder an output implies was not made */
    CU_ASSERT(!is_dir(sub));

    clmd_err_clear(&err);
    CU_ASSERT_EQUAL(clmd_outfile_prepare(dir, names, 4, 1, &err), CLMD_OK);
    CU_ASSERT(is_dir(sub));
    free(t);
}

static void every_existing_output_is_named_in_the_refusal(void)
{
    char *t = tmpdir_copy();
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a.h5", t);
    snprintf(b, sizeof b, "%s/b.csv", t);
    clmd_test_write_file(a, "x");
    clmd_test_write_file(b, "y");
    const char *names[] = {"a.h5", "b.csv", "c.chk"};
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_outfile_prepare(t, names, 3, 0, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, a));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, b));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "c.chk"));
    free(t);
}

static void missing_output_folder_is_created_with_its_parents(void)
{
    char *t = tmpdir_copy();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/x/y/z/", t);
    const char *names[] = {"traj.h5"};
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_outfile_prepare(dir, names, 1, 0, &err), CLMD_OK);
    CU_ASSERT(is_dir(dir));
    char path[700];
    CU_ASSERT_EQUAL(clmd_outfile_path(dir, "traj.h5", path, sizeof path, &err), CLMD_OK);
    char want[700];
    snprintf(want, sizeof want, "%s/x/y/z/traj.h5", t);
    CU_ASSERT_STRING_EQUAL(path, want);
    CU_ASSERT_EQUAL(clmd_outfile_path("", "/abs/f.h5", path, sizeof path, &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(path, "/abs/f.h5");
    free(t);
}

static void outputs_on_one_file_or_on_a_folder_are_refused_even_with_overwrite(void)
{
    char *t = tmpdir_copy();
    char d[600];
    snprintf(d, sizeof d, "%s/taken", t);
    mkdir(d, 0777);
    const char *same[] = {"e.csv", "e.csv"}, *folder[] = {"taken"};
    clmd_err err = {0};
    CU_ASSERT_EQUAL(clmd_outfile_prepare(t, same, 2, 1, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "two outputs"));
    CU_ASSERT_EQUAL(clmd_outfile_prepare(t, folder, 1, 1, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is a folder"));
    char file[600];
    snprintf(file, sizeof file, "%s/plain", t);
    clmd_test_write_file(file, "x");
    char below[700];
    snprintf(below, sizeof below, "%s/plain/sub", t); /* a folder under a file */
    const char *one[] = {"f.h5"};
    CU_ASSERT_EQUAL(clmd_outfile_prepare(below, one, 1, 0, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a folder"));
    free(t);
}

/* ---- energy log --------------------------------------------------------------------------- */

static void energy_log_has_the_header_extra_columns_and_rows_flushed_at_once(void)
{
    const size_t mem0 = clmd_mem_current();
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/energies.csv", t);
    const char *extra[] = {"lj", "coulomb"};
    clmd_energylog *log = NULL;
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(clmd_energylog_open(path, extra, 2, &log, &err), CLMD_OK);
    const clmd_thermo rows[2] = {{-1234.5678901234, 456.78901234567, -777.77887777, 300.123456789},
                                 {-1.0e-7, 3.25e5, 3.2499999e5, 0.0}};
    const double ex[2][2] = {{-2000.000123456, 765.43210987}, {1e-300, -6.02214076e23}};
    CU_ASSERT_EQUAL(clmd_energylog_write(log, 0, 0.0, &rows[0], ex[0], &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_energylog_write(log, 100, 0.2, &rows[1], ex[1], &err), CLMD_OK);

    /* Read before closing: every row must already be on disk. */
    size_t n = 0;
    char *text = (char *)slurp(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    text[n] = '\0';
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    CU_ASSERT_STRING_EQUAL(line, "step,time_ps,potential,kinetic,total,temperature_K,lj,coulomb");
    for (int r = 0; r < 2; r++) {
        line = strtok_r(NULL, "\n", &save);
        CU_ASSERT_PTR_NOT_NULL_FATAL(line);
        double v[8];
        char *p = line;
        for (int k = 0; k < 8; k++) {
            char *end;
            v[k] = strtod(p, &end);
            CU_ASSERT(end != p && (*end == ',' || *end == '\0'));
            p = *end ? end + 1 : end;
        }
        const double want[8] = {r ? 100 : 0,        r ? 0.2 : 0.0,    rows[r].potential,
                                rows[r].kinetic,    rows[r].total,    rows[r].temperature_k,
                                ex[r][0],           ex[r][1]};
        for (int k = 0; k < 8; k++)
            ASSERT_REL(v[k], want[k], 1e-9, 1e-300, "energy log value",
                       "printed with 10 significant digits");
    }
    CU_ASSERT_PTR_NULL(strtok_r(NULL, "\n", &save));
    free(text);
    CU_ASSERT_EQUAL(clmd_energylog_close(&log, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(log);

    const char *bad[] = {"a,b"};
    CU_ASSERT_EQUAL(clmd_energylog_open(path, bad, 1, &log, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NULL(log);
    free(t);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

/* ---- checkpoint --------------------------------------------------------------------------- */

static void crc32_matches_the_standard_check_value(void)
{
    /* The catalogue check value of CRC-32/ISO-HDLC (zlib's crc32). */
    CU_ASSERT_EQUAL(clmd_crc32(0, "123456789", 9), 0xCBF43926u);
    /* Feeding in pieces gives the same. */
    CU_ASSERT_EQUAL(clmd_crc32(clmd_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

enum { CK_N = 1000 };
typedef struct ck_data {
    double x[3 * CK_N], v[3 * CK_N];
    float ref[3 * CK_N];
    uint64_t seeds[4];
    int32_t replica[3];
    double box[9];
} ck_data;

static void ck_fill(ck_data *d)
{
    /* Raw random bits, so NaN payloads, infinities, -0 and subnormals all occur. */
    for (int i = 0; i < 3 * CK_N; i++) {
        uint64_t b = next_u64();
        memcpy(&d->x[i], &b, 8);
        d->v[i] = uniform(-3, 3);
        uint32_t fb = (uint32_t)next_u64();
        memcpy(&d->ref[i], &fb, 4);
    }
    d->v[0] = -0.0;
    d->v[1] = 4.9e-324;
    for (int i = 0; i < 4; i++) d->seeds[i] = next_u64();
    d->replica[0] = 7, d->replica[1] = -1, d->replica[2] = 12;
    for (int i = 0; i < 9; i++) d->box[i] = i % 4 == 0 ? 3.1234567890123 : 0.0;
}

static int ck_write(const char *path, const ck_data *d, long step, clmd_err *err)
{
    clmd_ckpt_writer *w = NULL;
    int rc = clmd_ckpt_writer_open(path, &w, err);
    if (rc) return rc;
    rc = clmd_ckpt_put_i64(w, "step", step, err);
    if (!rc) rc = clmd_ckpt_put_f64(w, "time_ps", step * 0.002, err);
    if (!rc) rc = clmd_ckpt_put(w, "positions", CLMD_CKPT_F64, d->x, 3 * CK_N, err);
    if (!rc) rc = clmd_ckpt_put(w, "velocities", CLMD_CKPT_F64, d->v, 3 * CK_N, err);
    if (!rc) rc = clmd_ckpt_put(w, "nlist_reference", CLMD_CKPT_F32, d->ref, 3 * CK_N, err);
    if (!rc) rc = clmd_ckpt_put(w, "rng", CLMD_CKPT_U64, d->seeds, 4, err);
    if (!rc) rc = clmd_ckpt_put(w, "replica", CLMD_CKPT_I32, d->replica, 3, err);
    if (!rc) rc = clmd_ckpt_put(w, "box", CLMD_CKPT_F64, d->box, 9, err);
    if (!rc) rc = clmd_ckpt_put(w, "deck", CLMD_CKPT_BYTES, "run: 1\n", 7, err);
    if (!rc) rc = clmd_ckpt_put(w, "empty", CLMD_CKPT_F64, NULL, 0, err);
    if (rc) {
        clmd_ckpt_writer_abort(&w);
        return rc;
    }
    return clmd_ckpt_writer_commit(&w, err);
}

static void checkpoint_round_trip_is_bit_exact(void)
{
    char *t = tmpdir_copy();
    char path[600], tmp[620];
    snprintf(path, sizeof path, "%s/state.chk", t);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    static ck_data a, b;
    ck_fill(&a);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ck_write(path, &a, 5000, &err), CLMD_OK);
    CU_ASSERT(!exists(tmp));

    /* A second checkpoint replaces the first. */
    ck_fill(&a);
    CU_ASSERT_EQUAL_FATAL(ck_write(path, &a, 6000, &err), CLMD_OK);

    clmd_ckpt_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ckpt_reader_open(path, &r, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_count(r), 10);
    CU_ASSERT_STRING_EQUAL(clmd_ckpt_name(r, 2), "positions");
    int64_t step = 0;
    double time = 0;
    CU_ASSERT_EQUAL(clmd_ckpt_get_i64(r, "step", &step, &err), CLMD_OK);
    CU_ASSERT_EQUAL(step, 6000);
    CU_ASSERT_EQUAL(clmd_ckpt_get_f64(r, "time_ps", &time, &err), CLMD_OK);
    CU_ASSERT(memcmp(&time, &(double){6000 * 0.002}, 8) == 0);
    memset(&b, 0xA5, sizeof b);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "positions", CLMD_CKPT_F64, b.x, 3 * CK_N, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "velocities", CLMD_CKPT_F64, b.v, 3 * CK_N, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "nlist_reference", CLMD_CKPT_F32, b.ref, 3 * CK_N, &err),
                    CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "rng", CLMD_CKPT_U64, b.seeds, 4, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "replica", CLMD_CKPT_I32, b.replica, 3, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "box", CLMD_CKPT_F64, b.box, 9, &err), CLMD_OK);
    CU_ASSERT(memcmp(a.x, b.x, sizeof a.x) == 0);
    CU_ASSERT(memcmp(a.v, b.v, sizeof a.v) == 0);
    CU_ASSERT(memcmp(a.ref, b.ref, sizeof a.ref) == 0);
    CU_ASSERT(memcmp(a.seeds, b.seeds, sizeof a.seeds) == 0);
    CU_ASSERT(memcmp(a.replica, b.replica, sizeof a.replica) == 0);
    CU_ASSERT(memcmp(a.box, b.box, sizeof a.box) == 0);
    char deck[8] = {0};
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "deck", CLMD_CKPT_BYTES, deck, 7, &err), CLMD_OK);
    CU_ASSERT_STRING_EQUAL(deck, "run: 1\n");
    clmd_ckpt_type type;
    size_t count = 99;
    CU_ASSERT(clmd_ckpt_find(r, "empty", &type, &count));
    CU_ASSERT_EQUAL(count, 0);
    CU_ASSERT_EQUAL(type, CLMD_CKPT_F64);
    clmd_ckpt_reader_close(&r);
    CU_ASSERT_PTR_NULL(r);
    free(t);
}

static void checkpoint_reports_missing_entries_and_size_mismatches_naming_the_file(void)
{
    const size_t mem0 = clmd_mem_current();
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/state.chk", t);
    static ck_data a;
    ck_fill(&a);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ck_write(path, &a, 1, &err), CLMD_OK);
    clmd_ckpt_reader *r = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ckpt_reader_open(path, &r, &err), CLMD_OK);
    double one;
    CU_ASSERT_EQUAL(clmd_ckpt_get_f64(r, "temperature", &one, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no entry 'temperature'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "positions")); /* lists what is there */
    static double big[3 * CK_N + 3];
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "positions", CLMD_CKPT_F64, big, 3 * CK_N + 3, &err),
                    CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "holds 3000 values of type f64, expected 3003"));
    CU_ASSERT_EQUAL(clmd_ckpt_get(r, "positions", CLMD_CKPT_F32, big, 3 * CK_N, &err),
                    CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "of type f32"));
    clmd_ckpt_reader_close(&r);

    /* Bad names are refused at write time. */
    clmd_ckpt_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ckpt_writer_open(path, &w, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_put_i64(w, "", 1, &err), CLMD_EINPUT);
    CU_ASSERT_EQUAL(clmd_ckpt_put_i64(w, "step", 1, &err), CLMD_OK);
    CU_ASSERT_EQUAL(clmd_ckpt_put_i64(w, "step", 2, &err), CLMD_EINPUT);
    char longname[64];
    memset(longname, 'n', sizeof longname - 1);
    longname[63] = '\0';
    CU_ASSERT_EQUAL(clmd_ckpt_put_i64(w, longname, 2, &err), CLMD_EINPUT);
    clmd_ckpt_writer_abort(&w);
    CU_ASSERT_PTR_NULL(w);
    free(t);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

static void every_corrupted_byte_and_every_truncation_is_detected(void)
{
    const size_t mem0 = clmd_mem_current();
    char *t = tmpdir_copy();
    char path[600], bad[620];
    snprintf(path, sizeof path, "%s/small.chk", t);
    snprintf(bad, sizeof bad, "%s/bad.chk", t);
    clmd_err err = {0};
    clmd_ckpt_writer *w = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_ckpt_writer_open(path, &w, &err), CLMD_OK);
    const double x[5] = {0.1, -2.5, 3e10, -0.0, 1.0 / 3.0};
    clmd_ckpt_put_i64(w, "step", 123456789, &err);
    clmd_ckpt_put(w, "x", CLMD_CKPT_F64, x, 5, &err);
    clmd_ckpt_put(w, "tag", CLMD_CKPT_BYTES, "abc", 3, &err);
    CU_ASSERT_EQUAL_FATAL(clmd_ckpt_writer_commit(&w, &err), CLMD_OK);
    size_t n = 0;
    unsigned char *good = slurp(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    /* header 16 + (64+8) + (64+40) + (64+8) + end 64 + crc 4 */
    CU_ASSERT_EQUAL(n, 16 + 72 + 104 + 72 + 64 + 4);

    unsigned char *copy = malloc(n + 8);
    int undetected = 0, wrong_truncation_message = 0;
    clmd_ckpt_reader *r = NULL;
    for (size_t i = 0; i < n; i++) {
        memcpy(copy, good, n);
        copy[i] ^= 0x5A;
        spit(bad, copy, n);
        if (clmd_ckpt_reader_open(bad, &r, &err) == CLMD_OK) {
            undetected++;
            clmd_ckpt_reader_close(&r);
        } else if (!strstr(err.msg, bad)) {
            undetected++; /* the message must name the file */
        }
    }
    for (size_t len = 0; len < n; len++) {
        spit(bad, good, len);
        if (clmd_ckpt_reader_open(bad, &r, &err) == CLMD_OK) {
            undetected++;
            clmd_ckpt_reader_close(&r);
        } else if (len > 0 && !strstr(err.msg, "truncated")) {
            wrong_truncation_message++;
            printf("\n  cut at %zu: %s", len, err.msg);
        }
    }
    CU_ASSERT_EQUAL(undetected, 0);
    CU_ASSERT_EQUAL(wrong_truncation_message, 0);

    /* One flipped data byte is reported as a checksum failure. */
    memcpy(copy, good, n);
    copy[16 + 72 + 64 + 3] ^= 0x01; /* inside the data of "x" */
    spit(bad, copy, n);
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open(bad, &r, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad checksum"));
    /* Bytes after the end are refused, and a foreign file is not a checkpoint. */
    memcpy(copy, good, n);
    memcpy(copy + n, "garbage", 7);
    spit(bad, copy, n + 7);
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open(bad, &r, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "after the checksum"));
    clmd_test_write_file(bad, "step,time_ps\n0,0\n");
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open(bad, &r, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a clmd checkpoint"));
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open("no/such/file.chk", &r, &err), CLMD_EINPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no/such/file.chk"));
    /* The untouched file still reads. */
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open(path, &r, &err), CLMD_OK);
    clmd_ckpt_reader_close(&r);
    free(copy);
    free(good);
    free(t);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

static void failed_checkpoint_write_leaves_the_old_checkpoint_intact(void)
{
    const size_t mem0 = clmd_mem_current();
    char *t = tmpdir_copy();
    char path[600], tmp[620];
    snprintf(path, sizeof path, "%s/state.chk", t);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    static ck_data a, b;
    ck_fill(&a);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(ck_write(path, &a, 100, &err), CLMD_OK);
    size_t n_old = 0;
    unsigned char *old = slurp(path, &n_old);

    /* 1: the temporary file cannot be created (a folder is in the way; works as root too). */
    CU_ASSERT_EQUAL_FATAL(mkdir(tmp, 0777), 0);
    ck_fill(&b);
    CU_ASSERT_EQUAL(ck_write(path, &b, 200, &err), CLMD_ERUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, tmp));
    rmdir(tmp);

    /* 2: the disk fills up in the middle of the write: a file-size limit in a child process
     * makes write() fail with EFBIG after 4 KiB, as ENOSPC would. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &lim);
        clmd_err e2 = {0};
        int rc = ck_write(path, &b, 300, &e2);
        if (rc != CLMD_ERUNTIME || !strstr(e2.msg, tmp)) printf("\n  child: %d %s", rc, e2.msg);
        _exit(rc == CLMD_ERUNTIME && strstr(e2.msg, tmp) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT(!exists(tmp)); /* the partial file was removed */

    size_t n_now = 0;
    unsigned char *now = slurp(path, &n_now);
    CU_ASSERT_EQUAL(n_now, n_old);
    CU_ASSERT(now && old && memcmp(now, old, n_old) == 0);
    clmd_ckpt_reader *r = NULL;
    int64_t step = 0;
    CU_ASSERT_EQUAL(clmd_ckpt_reader_open(path, &r, &err), CLMD_OK);
    if (r) clmd_ckpt_get_i64(r, "step", &step, &err);
    CU_ASSERT_EQUAL(step, 100);
    clmd_ckpt_reader_close(&r);
    free(now);
    free(old);
    free(t);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

/* ---- H5MD --------------------------------------------------------------------------------- */

enum { HN = 7, HFRAMES = 4, HEXTRA = 2 };

/* A small triclinic system moving a little each frame. */
typedef struct traj {
    double x[HFRAMES][3 * HN], v[HFRAMES][4 * HN]; /* v as double4, to exercise the stride */
    double box[HFRAMES][3][3];
    clmd_thermo th[HFRAMES];
    double extra[HFRAMES][HEXTRA];
    long step[HFRAMES];
    double time[HFRAMES];
} traj;

static void traj_fill(traj *tr)
{
    for (int f = 0; f < HFRAMES; f++) {
        for (int i = 0; i < 3 * HN; i++) tr->x[f][i] = uniform(-0.5, 3.5);
        for (int i = 0; i < 4 * HN; i++) tr->v[f][i] = uniform(-2, 2);
        double s = 1.0 + 0.01 * f; /* the box breathes, as under a barostat */
        const double b[3][3] = {{3.0, 0, 0}, {0.9, 2.8, 0}, {-0.7, 0.6, 2.6}};
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) tr->box[f][r][c] = s * b[r][c];
        tr->th[f] = (clmd_thermo){-5000.25 + f, 1200.5 + 2 * f, -3799.75 + 3 * f, 299.5 + f};
        tr->extra[f][0] = -4000.125 - f;
        tr->extra[f][1] = -1000.0625 + f;
        tr->step[f] = 1000L * f;
        tr->time[f] = 2.0 * f; /* ps, dt 2 fs */
    }
}

static const char *const NAMES[HN] = {"OW", "HW1", "HW2", "MW", "OW", "HW1", ""};
static const char *const EXTRA[HEXTRA] = {"lj", "coulomb"};

static int traj_write(const char *path, const traj *tr, int periodic, int frames,
                      clmd_h5md **keep, clmd_err *err)
{
    double mass[HN], charge[HN];
    for (int i = 0; i < HN; i++) mass[i] = 1.008 + i, charge[i] = 0.1 * i - 0.3;
    clmd_h5md_opts o = {.n_particles = HN,
                        .periodic = periodic,
                        .write_velocities = 1,
                        .author = "Test Author",
                        .title = "io suite",
                        .deck_text = "system: {builtin: lj_fcc}\n",
                        .names = NAMES,
                        .mass = mass,
                        .charge = charge,
                        .n_extra = HEXTRA,
                        .extra_names = EXTRA};
    clmd_h5md *h = NULL;
    int rc = clmd_h5md_create(path, &o, &h, err);
    if (rc) return rc;
    for (int f = 0; f < frames && !rc; f++) {
        clmd_h5md_frame fr = {.step = tr->step[f],
                              .time_ps = tr->time[f],
                              .x = {.d = tr->x[f]},
                              .v = {.d = tr->v[f], .stride = 4},
                              .thermo = tr->th[f],
                              .extra = tr->extra[f]};
        memcpy(fr.box, tr->box[f], sizeof fr.box);
        rc = clmd_h5md_write_frame(h, &fr, err);
    }
    if (keep) {
        *keep = h;
        return rc;
    }
    int rc2 = clmd_h5md_close(&h, err);
    return rc ? rc : rc2;
}

/* Reads a string attribute (fixed or variable length; element idx of an array). */
static int read_str_attr(hid_t file, const char *obj, const char *name, int idx, char *out,
                         size_t size)
{
    out[0] = '\0';
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int ok = H5Tget_class(ft) == H5T_STRING && idx < n;
    if (ok && H5Tis_variable_str(ft) > 0) {
        char **v = calloc((size_t)n, sizeof *v);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        ok = H5Aread(a, mt, v) >= 0;
        if (ok) snprintf(out, size, "%s", v[idx]);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        H5Tclose(mt);
        free(v);
    } else if (ok) {
        size_t len = H5Tget_size(ft);
        char *buf = calloc((size_t)n, len + 1);
        hid_t mt = H5Tcopy(ft);
        ok = H5Aread(a, mt, buf) >= 0;
        if (ok) snprintf(out, size, "%.*s", (int)len, buf + (size_t)idx * len);
        H5Tclose(mt);
        free(buf);
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

static int read_int_attr(hid_t file, const char *obj, const char *name, int *v, int n)
{
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    int ok = H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, H5T_NATIVE_INT, v) >= 0;
    H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

/* Dataset shape into dims (rank returned, -1 if absent). */
static int ds_shape(hid_t file, const char *path, hsize_t *dims)
{
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) return -1;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return rank;
}

static int ds_read(hid_t file, const char *path, hid_t memtype, void *out)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return -1;
    herr_t st = H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(d);
    return st < 0 ? -1 : 0;
}

/* Whether two paths are the same object (a hard link), by address. */
static int same_object(hid_t file, const char *a, const char *b)
{
    H5O_info_t ia, ib;
    if (H5Oget_info_by_name(file, a, &ia, H5P_DEFAULT) < 0) return 0;
    if (H5Oget_info_by_name(file, b, &ib, H5P_DEFAULT) < 0) return 0;
    return ia.addr == ib.addr && ia.fileno == ib.fileno;
}

static void h5md_file_has_the_h5md_1_1_groups_attributes_and_units(void)
{
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/traj.h5", t);
    static traj tr;
    traj_fill(&tr);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(traj_write(path, &tr, 1, HFRAMES, NULL, &err), CLMD_OK);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    int v[2] = {0, 0};
    CU_ASSERT_EQUAL(read_int_attr(f, "h5md", "version", v, 2), 0);
    CU_ASSERT(v[0] == 1 && v[1] == 1);
    char s[256];
    CU_ASSERT_EQUAL(read_str_attr(f, "h5md/author", "name", 0, s, sizeof s), 0);
    CU_ASSERT_STRING_EQUAL(s, "Test Author");
    CU_ASSERT_EQUAL(read_str_attr(f, "h5md/creator", "name", 0, s, sizeof s), 0);
    CU_ASSERT_STRING_EQUAL(s, "clmd");
    CU_ASSERT_EQUAL(read_str_attr(f, "h5md/creator", "version", 0, s, sizeof s), 0);
    CU_ASSERT(strlen(s) > 0);
    CU_ASSERT_EQUAL(read_int_attr(f, "h5md/modules/units", "version", v, 2), 0);
    CU_ASSERT(v[0] == 1 && v[1] == 0);

    int dim = 0;
    CU_ASSERT_EQUAL(read_int_attr(f, "particles/all/box", "dimension", &dim, 1), 0);
    CU_ASSERT_EQUAL(dim, 3);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL(read_str_attr(f, "particles/all/box", "boundary", k, s, sizeof s), 0);
        CU_ASSERT_STRING_EQUAL(s, "periodic");
    }
    hsize_t d[4];
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/position/value", d), 3);
    CU_ASSERT(d[0] == HFRAMES && d[1] == HN && d[2] == 3);
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/velocity/value", d), 3);
    CU_ASSERT(d[0] == HFRAMES && d[1] == HN && d[2] == 3);
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/box/edges/value", d), 3);
    CU_ASSERT(d[0] == HFRAMES && d[1] == 3 && d[2] == 3);
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/position/step", d), 1);
    CU_ASSERT(d[0] == HFRAMES);
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/species", d), 1);
    CU_ASSERT(d[0] == HN);

    /* types: float32 positions, int64 step, float64 time */
    hid_t ds = H5Dopen2(f, "particles/all/position/value", H5P_DEFAULT);
    hid_t ty = H5Dget_type(ds);
    CU_ASSERT(H5Tget_class(ty) == H5T_FLOAT && H5Tget_size(ty) == 4);
    H5Tclose(ty);
    hid_t pl = H5Dget_create_plist(ds);
    CU_ASSERT(H5Pget_layout(pl) == H5D_CHUNKED);
    H5Pclose(pl);
    H5Dclose(ds);
    ds = H5Dopen2(f, "particles/all/position/step", H5P_DEFAULT);
    ty = H5Dget_type(ds);
    CU_ASSERT(H5Tget_class(ty) == H5T_INTEGER && H5Tget_size(ty) == 8);
    H5Tclose(ty);
    H5Dclose(ds);
    ds = H5Dopen2(f, "particles/all/position/time", H5P_DEFAULT);
    ty = H5Dget_type(ds);
    CU_ASSERT(H5Tget_class(ty) == H5T_FLOAT && H5Tget_size(ty) == 8);
    H5Tclose(ty);
    H5Dclose(ds);

    struct {
        const char *obj, *unit;
    } units[] = {{"particles/all/position/value", "nm"},
                 {"particles/all/position/time", "ps"},
                 {"particles/all/velocity/value", "nm ps-1"},
                 {"particles/all/box/edges/value", "nm"},
                 {"particles/all/mass", "u"},
                 {"particles/all/charge", "e"},
                 {"observables/potential_energy/value", "kJ mol-1"},
                 {"observables/kinetic_energy/value", "kJ mol-1"},
                 {"observables/total_energy/value", "kJ mol-1"},
                 {"observables/temperature/value", "K"},
                 {"observables/lj/value", "kJ mol-1"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        CU_ASSERT_EQUAL(read_str_attr(f, units[i].obj, "unit", 0, s, sizeof s), 0);
        if (strcmp(s, units[i].unit) != 0)
            printf("\n  %s unit '%s', expected '%s'", units[i].obj, s, units[i].unit);
        CU_ASSERT_STRING_EQUAL(s, units[i].unit);
    }
    /* Every series shares position's step and time, as H5MD asks of the box. */
    const char *linked[] = {"particles/all/box/edges", "particles/all/velocity",
                            "observables/temperature", "observables/coulomb"};
    for (int i = 0; i < 4; i++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "%s/step", linked[i]);
        snprintf(b, sizeof b, "%s/time", linked[i]);
        CU_ASSERT(same_object(f, a, "particles/all/position/step"));
        CU_ASSERT(same_object(f, b, "particles/all/position/time"));
    }

    int64_t steps[HFRAMES];
    double times[HFRAMES], edges[HFRAMES][3][3], temp[HFRAMES], lj[HFRAMES];
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/position/step", H5T_NATIVE_INT64, steps), 0);
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/position/time", H5T_NATIVE_DOUBLE, times), 0);
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/box/edges/value", H5T_NATIVE_DOUBLE, edges), 0);
    CU_ASSERT_EQUAL(ds_read(f, "observables/temperature/value", H5T_NATIVE_DOUBLE, temp), 0);
    CU_ASSERT_EQUAL(ds_read(f, "observables/lj/value", H5T_NATIVE_DOUBLE, lj), 0);
    for (int fr = 0; fr < HFRAMES; fr++) {
        CU_ASSERT_EQUAL(steps[fr], tr.step[fr]);
        CU_ASSERT_EQUAL(times[fr], tr.time[fr]);
        CU_ASSERT(memcmp(edges[fr], tr.box[fr], sizeof edges[fr]) == 0);
        CU_ASSERT_EQUAL(temp[fr], tr.th[fr].temperature_k);
        CU_ASSERT_EQUAL(lj[fr], tr.extra[fr][0]);
    }

    /* species: an enumeration of the names; equal names share a value */
    int sp[HN];
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/species", H5T_NATIVE_INT, sp), 0);
    CU_ASSERT_EQUAL(sp[0], sp[4]);
    CU_ASSERT_EQUAL(sp[1], sp[5]);
    CU_ASSERT_NOT_EQUAL(sp[0], sp[1]);
    ds = H5Dopen2(f, "particles/all/species", H5P_DEFAULT);
    ty = H5Dget_type(ds);
    CU_ASSERT(H5Tget_class(ty) == H5T_ENUM);
    char ename[32] = "";
    H5Tenum_nameof(ty, &sp[3], ename, sizeof ename);
    CU_ASSERT_STRING_EQUAL(ename, "MW");
    H5Tenum_nameof(ty, &sp[6], ename, sizeof ename);
    CU_ASSERT_STRING_EQUAL(ename, "?");
    H5Tclose(ty);
    H5Dclose(ds);
    CU_ASSERT_EQUAL(read_str_attr(f, "parameters/clmd", "title", 0, s, sizeof s), 0);
    CU_ASSERT_STRING_EQUAL(s, "io suite");
    H5Fclose(f);
    free(t);
}

static void h5md_positions_and_velocities_read_back_as_written(void)
{
    const size_t mem0 = clmd_mem_current();
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/traj.h5", t);
    static traj tr;
    traj_fill(&tr);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(traj_write(path, &tr, 1, HFRAMES, NULL, &err), CLMD_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    static float x[HFRAMES][HN][3], v[HFRAMES][HN][3];
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/position/value", H5T_NATIVE_FLOAT, x), 0);
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/velocity/value", H5T_NATIVE_FLOAT, v), 0);
    H5Fclose(f);
    int mismatches = 0;
    for (int fr = 0; fr < HFRAMES; fr++)
        for (int i = 0; i < HN; i++)
            for (int k = 0; k < 3; k++) {
                /* stored as float32: exactly the float nearest the double written */
                mismatches += x[fr][i][k] != (float)tr.x[fr][3 * i + k];
                mismatches += v[fr][i][k] != (float)tr.v[fr][4 * i + k];
            }
    CU_ASSERT_EQUAL(mismatches, 0);

    /* float4 input (xyz + charge) gives the same file content */
    snprintf(path, sizeof path, "%s/traj4.h5", t);
    clmd_h5md_opts o = {.n_particles = HN};
    clmd_h5md *h = NULL;
    CU_ASSERT_EQUAL_FATAL(clmd_h5md_create(path, &o, &h, &err), CLMD_OK);
    static float x4[4 * HN];
    for (int i = 0; i < HN; i++) {
        for (int k = 0; k < 3; k++) x4[4 * i + k] = (float)tr.x[0][3 * i + k];
        x4[4 * i + 3] = 99.0f;
    }
    clmd_h5md_frame fr = {.step = 5, .time_ps = 0.01, .x = {.f = x4, .stride = 4}};
    CU_ASSERT_EQUAL(clmd_h5md_write_frame(h, &fr, &err), CLMD_OK);
    /* steps must increase */
    CU_ASSERT_EQUAL(clmd_h5md_write_frame(h, &fr, &err), CLMD_ERUNTIME);
    CU_ASSERT_EQUAL(clmd_h5md_frames(h), 1);
    /* no positions: refused before anything is written */
    fr.step = 6;
    fr.x = (clmd_vec3s){0};
    CU_ASSERT_EQUAL(clmd_h5md_write_frame(h, &fr, &err), CLMD_ERUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no positions"));
    CU_ASSERT_EQUAL(clmd_h5md_frames(h), 1);
    CU_ASSERT_EQUAL(clmd_h5md_close(&h, &err), CLMD_OK);
    CU_ASSERT_PTR_NULL(h);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hsize_t d[4];
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/position/value", d), 3);
    CU_ASSERT(d[0] == 1);
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/position/value", H5T_NATIVE_FLOAT, x), 0);
    mismatches = 0;
    for (int i = 0; i < HN; i++)
        for (int k = 0; k < 3; k++) mismatches += x[0][i][k] != x4[4 * i + k];
    CU_ASSERT_EQUAL(mismatches, 0);
    /* no velocities asked for: no velocity element */
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/velocity/value", d), -1);
    H5Fclose(f);
    free(t);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

static void h5md_open_system_has_boundary_none_and_no_edges(void)
{
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/gas.h5", t);
    static traj tr;
    traj_fill(&tr);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(traj_write(path, &tr, 0, 2, NULL, &err), CLMD_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    char s[64];
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL(read_str_attr(f, "particles/all/box", "boundary", k, s, sizeof s), 0);
        CU_ASSERT_STRING_EQUAL(s, "none");
    }
    CU_ASSERT(H5Lexists(f, "particles/all/box/edges", H5P_DEFAULT) == 0);
    H5Fclose(f);
    free(t);
}

static void h5md_bad_options_are_refused(void)
{
    const size_t mem0 = clmd_mem_current();
    clmd_err err = {0};
    clmd_h5md *h = NULL;
    clmd_h5md_opts o = {.n_particles = 0};
    CU_ASSERT_EQUAL(clmd_h5md_create("unused.h5", &o, &h, &err), CLMD_EINPUT);
    const char *dup[] = {"lj", "lj"}, *std[] = {"temperature"};
    o = (clmd_h5md_opts){.n_particles = 3, .n_extra = 2, .extra_names = dup};
    CU_ASSERT_EQUAL(clmd_h5md_create("unused.h5", &o, &h, &err), CLMD_EINPUT);
    o = (clmd_h5md_opts){.n_particles = 3, .n_extra = 1, .extra_names = std};
    CU_ASSERT_EQUAL(clmd_h5md_create("unused.h5", &o, &h, &err), CLMD_EINPUT);
    CU_ASSERT(!exists("unused.h5"));
    /* HDF5 failures come back as messages, not as prints */
    o = (clmd_h5md_opts){.n_particles = 3};
    CU_ASSERT_EQUAL(clmd_h5md_create("no/such/folder/t.h5", &o, &h, &err), CLMD_ERUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no/such/folder/t.h5"));
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_EQUAL(clmd_mem_current(), mem0); /* every handle freed, error paths too */
}

static void h5md_file_of_a_killed_run_is_readable(void)
{
    char *t = tmpdir_copy();
    char path[600];
    snprintf(path, sizeof path, "%s/killed.h5", t);
    static traj tr;
    traj_fill(&tr);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        clmd_err e = {0};
        clmd_h5md *h = NULL;
        int rc = traj_write(path, &tr, 1, 3, &h, &e);
        /* Die without closing anything, as SIGKILL would after the third frame. */
        kill(getpid(), SIGKILL);
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hsize_t d[4];
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/position/value", d), 3);
    CU_ASSERT_EQUAL(d[0], 3);
    CU_ASSERT_EQUAL(ds_shape(f, "particles/all/position/step", d), 1);
    CU_ASSERT_EQUAL(d[0], 3);
    static float x[HFRAMES][HN][3];
    CU_ASSERT_EQUAL(ds_read(f, "particles/all/position/value", H5T_NATIVE_FLOAT, x), 0);
    CU_ASSERT_EQUAL(x[2][HN - 1][2], (float)tr.x[2][3 * HN - 1]);
    double e[HFRAMES];
    CU_ASSERT_EQUAL(ds_read(f, "observables/total_energy/value", H5T_NATIVE_DOUBLE, e), 0);
    CU_ASSERT_EQUAL(e[2], tr.th[2].total);
    H5Fclose(f);
    free(t);
}

static void h5dump_reads_the_trajectory_header(void)
{
    if (clmd_test_run("command -v h5dump", NULL) != 0)
        CLMD_SKIP("h5dump not installed (Debian package hdf5-tools)");
    char *t = tmpdir_copy();
    char path[600], cmd[700];
    snprintf(path, sizeof path, "%s/traj.h5", t);
    static traj tr;
    traj_fill(&tr);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(traj_write(path, &tr, 1, HFRAMES, NULL, &err), CLMD_OK);
    snprintf(cmd, sizeof cmd, "h5dump -H '%s'", path);
    char *out = NULL;
    int rc = clmd_test_run(cmd, &out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "GROUP \"h5md\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "GROUP \"position\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "( 4, 7, 3 ) / ( H5S_UNLIMITED, 7, 3 )"));
    CU_ASSERT_PTR_NULL(strstr(out, "h5dump error"));
    if (rc != 0) printf("\n%s\n", out);
    free(out);
    free(t);
}

/* The folder with MDAnalysis + h5py for the cross-check: $CLMD_PYDEPS, else pydeps/ in the
 * build folder (the tests run there), installed from PyPI on first use. */
static const char *mdanalysis_path(void)
{
    static char dir[4200];
    const char *env = getenv("CLMD_PYDEPS");
    char cwd[4096];
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (getcwd(cwd, sizeof cwd)) snprintf(dir, sizeof dir, "%s/pydeps", cwd);
    else return NULL;
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' python3 -c 'import MDAnalysis, h5py'", dir);
    if (clmd_test_run(cmd, NULL) == 0) return dir;
    printf("\n  installing MDAnalysis and h5py into %s (once)...", dir);
    fflush(stdout);
    snprintf(cmd, sizeof cmd,
             "python3 -m pip install --quiet --disable-pip-version-check --upgrade --target '%s' "
             "MDAnalysis h5py",
             dir);
    char *out = NULL;
    int rc = clmd_test_run(cmd, &out);
    if (rc != 0) printf("\n  pip failed:\n%s\n", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' python3 -c 'import MDAnalysis, h5py'", dir);
    return clmd_test_run(cmd, NULL) == 0 ? dir : NULL;
}

static const char *MDA_SCRIPT =
    "import json, sys\n"
    "from MDAnalysis.coordinates.H5MD import H5MDReader\n"
    "r = H5MDReader(sys.argv[1])\n"
    "out = {'n_atoms': int(r.n_atoms), 'n_frames': int(r.n_frames), 'frames': []}\n"
    "for ts in r:\n"
    "    out['frames'].append({'time': float(ts.time),\n"
    "        'positions': ts.positions.astype(float).tolist(),\n"
    "        'velocities': ts.velocities.astype(float).tolist(),\n"
    "        'dimensions': [float(d) for d in ts.dimensions],\n"
    "        'potential_energy': float(ts.data['potential_energy']),\n"
    "        'lj': float(ts.data['lj'])})\n"
    "json.dump(out, open(sys.argv[2], 'w'))\n";

/* Box lengths (nm) and angles (degrees) of three box vectors. */
static void box_params(const double b[3][3], double out[6])
{
    double len[3];
    for (int i = 0; i < 3; i++)
        len[i] = sqrt(b[i][0] * b[i][0] + b[i][1] * b[i][1] + b[i][2] * b[i][2]);
    const int pairs[3][2] = {{1, 2}, {0, 2}, {0, 1}}; /* alpha = angle(b,c), beta, gamma */
    for (int k = 0; k < 3; k++) {
        const double *u = b[pairs[k][0]], *w = b[pairs[k][1]];
        double dot = u[0] * w[0] + u[1] * w[1] + u[2] * w[2];
        out[3 + k] = acos(dot / (len[pairs[k][0]] * len[pairs[k][1]])) * 180.0 / M_PI;
    }
    for (int i = 0; i < 3; i++) out[i] = len[i];
}

static void mdanalysis_reads_the_same_coordinates_box_and_observables(void)
{
    if (clmd_test_run("python3 -c 'import sys'", NULL) != 0) CLMD_SKIP("python3 not found");
    const char *deps = mdanalysis_path();
    if (!deps) CLMD_SKIP("MDAnalysis/h5py could not be installed from PyPI (offline?)");
    char *t = tmpdir_copy();
    char path[600], script[600], json[600], cmd[8000];
    snprintf(path, sizeof path, "%s/traj.h5", t);
    snprintf(script, sizeof script, "%s/read.py", t);
    snprintf(json, sizeof json, "%s/mda.json", t);
    static traj tr;
    traj_fill(&tr);
    clmd_err err = {0};
    CU_ASSERT_EQUAL_FATAL(traj_write(path, &tr, 1, HFRAMES, NULL, &err), CLMD_OK);
    clmd_test_write_file(script, MDA_SCRIPT);
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' python3 '%s' '%s' '%s'", deps, script, path, json);
    char *out = NULL;
    int rc = clmd_test_run(cmd, &out);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) printf("\n%s\n", out);
    free(out);
    clmd_jv *doc = clmd_jv_load(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL(clmd_jv_num(clmd_jv_get(doc, "n_atoms"), -1), HN);
    CU_ASSERT_EQUAL(clmd_jv_num(clmd_jv_get(doc, "n_frames"), -1), HFRAMES);
    const clmd_jv *frames = clmd_jv_get(doc, "frames");
    CU_ASSERT_FATAL(frames && frames->n == HFRAMES);
    for (int f = 0; f < HFRAMES; f++) {
        const clmd_jv *fr = frames->item[f];
        ASSERT_REL(clmd_jv_num(clmd_jv_get(fr, "time"), NAN), tr.time[f], 1e-12, 1e-12,
                   "time (ps)", "stored as float64 in ps, MDAnalysis's unit");
        double *x = NULL, *v = NULL;
        CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(fr, "positions"), &x), HN);
        CU_ASSERT_EQUAL_FATAL(clmd_jv_vec3s(clmd_jv_get(fr, "velocities"), &v), HN);
        for (int i = 0; i < HN; i++)
            for (int k = 0; k < 3; k++) {
                /* MDAnalysis works in Angstrom: nm * 10, in float32 */
                ASSERT_REL(x[3 * i + k], 10.0 * (float)tr.x[f][3 * i + k], 3e-7, 1.0,
                           "position (A)", "float32 storage, one float32 multiply by 10");
                ASSERT_REL(v[3 * i + k], 10.0 * (float)tr.v[f][4 * i + k], 3e-7, 1.0,
                           "velocity (A/ps)", "float32 storage, one float32 multiply by 10");
            }
        free(x);
        free(v);
        double want[6];
        box_params(tr.box[f], want);
        const clmd_jv *dims = clmd_jv_get(fr, "dimensions");
        CU_ASSERT_FATAL(dims && dims->n == 6);
        for (int k = 0; k < 6; k++)
            ASSERT_REL(clmd_jv_num(dims->item[k], NAN), k < 3 ? 10.0 * want[k] : want[k], 2e-6,
                       1.0, k < 3 ? "box length (A)" : "box angle (degrees)",
                       "MDAnalysis holds the cell in float32");
        ASSERT_REL(clmd_jv_num(clmd_jv_get(fr, "potential_energy"), NAN), tr.th[f].potential,
                   1e-15, 1.0, "potential energy", "float64 observable");
        ASSERT_REL(clmd_jv_num(clmd_jv_get(fr, "lj"), NAN), tr.extra[f][0], 1e-15, 1.0,
                   "extra observable", "float64 observable");
    }
    clmd_jv_free(doc);
    free(t);
}

/* A run writes traj.pdb beside traj.h5, and the one-line recipe of the user guide,
 * MDAnalysis.Universe("traj.pdb", "traj.h5"), opens them with names, residues and every frame. */
static void mdanalysis_opens_a_run_with_its_topology(void)
{
    char *t = tmpdir_copy();
    char deck[600], cmd[9000], pdb[700], h5[700];
    snprintf(deck, sizeof deck, "%s/w.yaml", t);
    char text[2048];
    snprintf(text, sizeof text,
             "system: {builtin: water_box, model: tip3p, edge: 1.6, forcefield: %s}\n"
             "nonbonded: {method: cutoff, cutoff: 0.7}\n"
             "integrator: {steps: 20, timestep: 0.001}\n"
             "output: {directory: out, trajectory: {interval: 10}, checkpoint: null}\n",
             clmd_test_source("forcefields/tip3p.yaml"));
    CU_ASSERT_EQUAL_FATAL(clmd_test_write_file(deck, text), 0);
    snprintf(cmd, sizeof cmd, "%s run %s --quiet --device reference", clmd_test_binary(), deck);
    char *out = NULL;
    int rc = clmd_test_run(cmd, &out);
    if (rc) printf("\n%s\n", out);
    free(out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    snprintf(pdb, sizeof pdb, "%s/out/traj.pdb", t);
    snprintf(h5, sizeof h5, "%s/out/traj.h5", t);
    FILE *f = fopen(pdb, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[256];
    int atoms = 0, cryst = 0, hoh = 0;
    while (fgets(line, sizeof line, f)) {
        atoms += strncmp(line, "ATOM  ", 6) == 0;
        cryst += strncmp(line, "CRYST1", 6) == 0;
        hoh += strncmp(line, "ATOM  ", 6) == 0 && strncmp(line + 12, " O   HOH", 8) == 0;
    }
    fclose(f);
    CU_ASSERT(cryst == 1);
    CU_ASSERT(atoms > 0 && atoms % 3 == 0);
    CU_ASSERT_EQUAL(hoh, atoms / 3);
    if (clmd_test_run("python3 -c 'import sys'", NULL) != 0) CLMD_SKIP("python3 not found");
    const char *deps = mdanalysis_path();
    if (!deps) CLMD_SKIP("MDAnalysis/h5py could not be installed from PyPI (offline?)");
    snprintf(cmd, sizeof cmd,
             "PYTHONPATH='%s' python3 -c 'import MDAnalysis as mda; u = mda.Universe(\"%s\", \"%s\", format=\"H5MD\"); "
             "print(len(u.atoms), len(u.residues), len(u.trajectory), u.atoms[0].name, "
             "u.residues[0].resname)'", deps, pdb, h5);
    rc = clmd_test_run(cmd, &out);
    if (rc) printf("\n%s\n", out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    int na = 0, nr = 0, nf = 0;
    char an[16] = "", rn[16] = "";
    CU_ASSERT_EQUAL(sscanf(out, "%d %d %d %15s %15s", &na, &nr, &nf, an, rn), 5);
    printf("\n  MDAnalysis: %d atoms, %d residues, %d frames, first atom %s of %s", na, nr, nf, an, rn);
    CU_ASSERT_EQUAL(na, atoms);
    CU_ASSERT_EQUAL(nr, atoms / 3);
    CU_ASSERT_EQUAL(nf, 3); /* steps 0, 10, 20 */
    free(out);
    free(t);
}

int main(int argc, char **argv)
{
    /* The HDF5 checks below probe for absent paths; keep the library's stack prints quiet. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const clmd_test tests[] = {
        {"existing output is refused before anything is created",
         existing_output_is_refused_before_anything_is_created},
        {"every existing output is named in the refusal",
         every_existing_output_is_named_in_the_refusal},
        {"missing output folder is created with its parents",
         missing_output_folder_is_created_with_its_parents},
        {"outputs on one file or on a folder are refused even with overwrite",
         outputs_on_one_file_or_on_a_folder_are_refused_even_with_overwrite},
        {"energy log has the header, extra columns and rows flushed at once",
         energy_log_has_the_header_extra_columns_and_rows_flushed_at_once},
        {"crc32 matches the standard check value", crc32_matches_the_standard_check_value},
        {"checkpoint round trip is bit exact", checkpoint_round_trip_is_bit_exact},
        {"checkpoint reports missing entries and size mismatches naming the file",
         checkpoint_reports_missing_entries_and_size_mismatches_naming_the_file},
        {"every corrupted byte and every truncation is detected",
         every_corrupted_byte_and_every_truncation_is_detected},
        {"failed checkpoint write leaves the old checkpoint intact",
         failed_checkpoint_write_leaves_the_old_checkpoint_intact},
        {"h5md file has the H5MD 1.1 groups, attributes and units",
         h5md_file_has_the_h5md_1_1_groups_attributes_and_units},
        {"h5md positions and velocities read back as written",
         h5md_positions_and_velocities_read_back_as_written},
        {"h5md open system has boundary none and no edges",
         h5md_open_system_has_boundary_none_and_no_edges},
        {"h5md bad options are refused", h5md_bad_options_are_refused},
        {"h5md file of a killed run is readable", h5md_file_of_a_killed_run_is_readable},
        {"h5dump reads the trajectory header", h5dump_reads_the_trajectory_header},
        {"MDAnalysis reads the same coordinates, box and observables",
         mdanalysis_reads_the_same_coordinates_box_and_observables},
        {"MDAnalysis opens a run with its topology", mdanalysis_opens_a_run_with_its_topology},
        {NULL, NULL}};
    return clmd_test_main("io", tests, argc, argv);
}
