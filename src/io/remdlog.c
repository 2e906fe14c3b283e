#include "io/remdlog.h"

#include <hdf5.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "core/mem.h"

struct clmd_remdlog {
    hid_t file, energies, states, proposed, accepted;
    char *path;
    int R, K;
    long rounds;
    int32_t *ibuf;  /* [R] */
    int64_t *lbuf;  /* [K*K] */
};

static int fail(clmd_err *err, const char *path, const char *what)
{
    H5Eclear2(H5E_DEFAULT);
    return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot %s", path, what);
}

/* An extensible dataset of shape (0, item...). */
static hid_t series(hid_t f, const char *name, hid_t type, int rank, const hsize_t *item)
{
    hsize_t dims[3] = {0}, maxd[3] = {H5S_UNLIMITED}, chunk[3] = {16};
    for (int i = 0; i < rank; i++) dims[i + 1] = maxd[i + 1] = chunk[i + 1] = item[i];
    hid_t sp = H5Screate_simple(rank + 1, dims, maxd), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank + 1, chunk);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return ds;
}

static int attr_doubles(hid_t obj, const char *name, const double *v, int n)
{
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

static int attr_long(hid_t obj, const char *name, long v)
{
    int64_t x = v;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &x) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

static int attr_string(hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, t, &s) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return ok;
}

static clmd_remdlog *handle(const char *path, const clmd_remdlog_opts *o)
{
    clmd_remdlog *l = clmd_alloc(sizeof *l);
    l->file = l->energies = l->states = l->proposed = l->accepted = -1;
    l->path = clmd_strdup(path);
    l->R = o->replicas;
    l->K = o->states;
    CLMD_NEW(l->ibuf, l->R);
    CLMD_NEW(l->lbuf, (size_t)l->K * l->K);
    return l;
}

static void handle_free(clmd_remdlog *l)
{
    hid_t ds[4] = {l->energies, l->states, l->proposed, l->accepted};
    for (int i = 0; i < 4; i++)
        if (ds[i] >= 0) H5Dclose(ds[i]);
    if (l->file >= 0) H5Fclose(l->file);
    clmd_free(l->path);
    clmd_free(l->ibuf);
    clmd_free(l->lbuf);
    clmd_free(l);
}

int clmd_remdlog_create(const char *path, const clmd_remdlog_opts *o, clmd_remdlog **out,
                        clmd_err *err)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    clmd_remdlog *l = handle(path, o);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    l->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    const hsize_t rk[2] = {(hsize_t)l->R, (hsize_t)l->K}, kk[2] = {(hsize_t)l->K, (hsize_t)l->K};
    const hsize_t r1[1] = {(hsize_t)l->R};
    int ok = l->file >= 0 &&
             (l->energies = series(l->file, "energies", H5T_IEEE_F64LE, 2, rk)) >= 0 &&
             (l->states = series(l->file, "states", H5T_STD_I32LE, 1, r1)) >= 0 &&
             (l->proposed = series(l->file, "proposed", H5T_STD_I64LE, 2, kk)) >= 0 &&
             (l->accepted = series(l->file, "accepted", H5T_STD_I64LE, 2, kk)) >= 0;
    hid_t root = ok ? H5Gopen2(l->file, "/", H5P_DEFAULT) : -1;
    ok = ok && root >= 0 && attr_doubles(root, "temperatures", o->temperatures, l->K) &&
         attr_long(root, "replicas", l->R) && attr_long(root, "states", l->K) &&
         attr_long(root, "exchange_interval", o->exchange_interval) &&
         attr_string(root, "scheme", o->scheme) &&
         attr_string(root, "creator", "clmd " CLMD_VERSION " (" CLMD_GIT_COMMIT ")") &&
         (o->pressure_bar < 0 || attr_doubles(root, "pressure_bar", &o->pressure_bar, 1));
    for (int k = 0; ok && k < 3; k++)
        if (o->extra_name[k]) ok = attr_doubles(root, o->extra_name[k], o->extra[k], l->K);
    if (root >= 0) H5Gclose(root);
    if (!ok || H5Fflush(l->file, H5F_SCOPE_LOCAL) < 0) {
        handle_free(l);
        return fail(err, path, "create the replica-exchange log");
    }
    *out = l;
    return CLMD_OK;
}

/* Sets a series' length to rounds (keeps its item shape). */
static int set_rounds(hid_t ds, long rounds)
{
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3];
    int rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (rank < 1 || rank > 3) return -1;
    dims[0] = (hsize_t)rounds;
    return H5Dset_extent(ds, dims) < 0 ? -1 : 0;
}

static long series_rounds(hid_t ds)
{
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    return (long)dims[0];
}

int clmd_remdlog_continue(const char *path, const clmd_remdlog_opts *o, long rounds,
                          clmd_remdlog **out, clmd_err *err)
{
    *out = NULL;
    if (access(path, F_OK) != 0) return clmd_remdlog_create(path, o, out, err);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    clmd_remdlog *l = handle(path, o);
    l->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int ok = l->file >= 0 && (l->energies = H5Dopen2(l->file, "energies", H5P_DEFAULT)) >= 0 &&
             (l->states = H5Dopen2(l->file, "states", H5P_DEFAULT)) >= 0 &&
             (l->proposed = H5Dopen2(l->file, "proposed", H5P_DEFAULT)) >= 0 &&
             (l->accepted = H5Dopen2(l->file, "accepted", H5P_DEFAULT)) >= 0;
    if (ok) {
        hid_t sp = H5Dget_space(l->energies);
        hsize_t dims[3] = {0};
        ok = H5Sget_simple_extent_ndims(sp) == 3;
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        ok = ok && dims[1] == (hsize_t)l->R && dims[2] == (hsize_t)l->K;
    }
    if (!ok) {
        handle_free(l);
        H5Eclear2(H5E_DEFAULT);
        return clmd_err_set(err, CLMD_EINPUT, "%s: not the replica-exchange log of a campaign of %d "
                            "replicas: cannot continue it", path, o->replicas);
    }
    long have = series_rounds(l->states);
    if (have < rounds) rounds = have;
    if (set_rounds(l->energies, rounds) || set_rounds(l->states, rounds) ||
        set_rounds(l->proposed, rounds) || set_rounds(l->accepted, rounds) ||
        H5Fflush(l->file, H5F_SCOPE_LOCAL) < 0) {
        handle_free(l);
        return fail(err, path, "cut the replica-exchange log at its checkpoint");
    }
    l->rounds = rounds;
    *out = l;
    return CLMD_OK;
}

/* Writes row `row` (the last) of a series from buf. */
static int write_row(hid_t ds, long row, hid_t memtype, const void *buf)
{
    if (set_rounds(ds, row + 1)) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3], start[3] = {(hsize_t)row, 0, 0}, count[3];
    int rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    count[0] = 1;
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mem = H5Screate_simple(rank, count, NULL);
    herr_t st = H5Dwrite(ds, memtype, mem, sp, H5P_DEFAULT, buf);
    H5Sclose(mem);
    H5Sclose(sp);
    return st < 0 ? -1 : 0;
}

int clmd_remdlog_append(clmd_remdlog *l, const double *u, const int *states, const long *proposed,
                        const long *accepted, clmd_err *err)
{
    const int KK = l->K * l->K;
    for (int r = 0; r < l->R; r++) l->ibuf[r] = states[r];
    int ok = write_row(l->energies, l->rounds, H5T_NATIVE_DOUBLE, u) == 0 &&
             write_row(l->states, l->rounds, H5T_NATIVE_INT32, l->ibuf) == 0;
    for (int k = 0; ok && k < KK; k++) l->lbuf[k] = proposed[k];
    ok = ok && write_row(l->proposed, l->rounds, H5T_NATIVE_INT64, l->lbuf) == 0;
    for (int k = 0; ok && k < KK; k++) l->lbuf[k] = accepted[k];
    ok = ok && write_row(l->accepted, l->rounds, H5T_NATIVE_INT64, l->lbuf) == 0 &&
         H5Fflush(l->file, H5F_SCOPE_LOCAL) >= 0;
    if (!ok) return fail(err, l->path, "write an exchange round");
    l->rounds++;
    return CLMD_OK;
}

long clmd_remdlog_rounds(const clmd_remdlog *l) { return l->rounds; }

int clmd_remdlog_close(clmd_remdlog **pl, clmd_err *err)
{
    if (!pl || !*pl) return CLMD_OK;
    clmd_remdlog *l = *pl;
    int bad = H5Fflush(l->file, H5F_SCOPE_LOCAL) < 0;
    char path[4096];
    snprintf(path, sizeof path, "%s", l->path);
    handle_free(l);
    *pl = NULL;
    return bad ? fail(err, path, "close the replica-exchange log") : CLMD_OK;
}

static int read_all(hid_t f, const char *name, hid_t memtype, void *buf)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    herr_t st = H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(ds);
    return st < 0 ? -1 : 0;
}

static int read_attr_long(hid_t obj, const char *name, long *v)
{
    int64_t x;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t st = H5Aread(a, H5T_NATIVE_INT64, &x);
    H5Aclose(a);
    *v = (long)x;
    return st < 0 ? -1 : 0;
}

int clmd_remdlog_read(const char *path, clmd_remdlog_data *d, clmd_err *err)
{
    memset(d, 0, sizeof *d);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return clmd_err_set(err, CLMD_EINPUT, "%s: cannot open the replica-exchange log", path);
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    long R = 0, K = 0;
    int ok = root >= 0 && read_attr_long(root, "replicas", &R) == 0 &&
             read_attr_long(root, "states", &K) == 0 &&
             read_attr_long(root, "exchange_interval", &d->exchange_interval) == 0 && R > 0 &&
             K > 0 && R <= 4096 && K <= 4096;
    if (ok) {
        d->replicas = (int)R;
        d->states = (int)K;
        CLMD_NEW(d->temperatures, K);
        hid_t a = H5Aopen(root, "temperatures", H5P_DEFAULT);
        ok = a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, d->temperatures) >= 0;
        if (a >= 0) H5Aclose(a);
    }
    hid_t ds = ok ? H5Dopen2(f, "states", H5P_DEFAULT) : -1;
    if (ds >= 0) {
        d->rounds = series_rounds(ds);
        H5Dclose(ds);
    }
    ok = ok && ds >= 0;
    int64_t *counts = NULL;
    if (ok) {
        size_t KK = (size_t)K * K, n = (size_t)d->rounds;
        CLMD_NEW(d->history, n * R + 1);
        CLMD_NEW(d->energies, n * R * K + 1);
        CLMD_NEW(d->proposed, KK);
        CLMD_NEW(d->accepted, KK);
        CLMD_NEW(counts, n * KK + 1);
        ok = read_all(f, "states", H5T_NATIVE_INT, d->history) == 0 &&
             read_all(f, "energies", H5T_NATIVE_DOUBLE, d->energies) == 0 &&
             read_all(f, "proposed", H5T_NATIVE_INT64, counts) == 0;
        for (size_t t = 0; ok && t < n; t++)
            for (size_t k = 0; k < KK; k++) d->proposed[k] += (long)counts[t * KK + k];
        ok = ok && read_all(f, "accepted", H5T_NATIVE_INT64, counts) == 0;
        for (size_t t = 0; ok && t < n; t++)
            for (size_t k = 0; k < KK; k++) d->accepted[k] += (long)counts[t * KK + k];
    }
    clmd_free(counts);
    if (root >= 0) H5Gclose(root);
    H5Fclose(f);
    if (!ok) {
        clmd_remdlog_data_free(d);
        H5Eclear2(H5E_DEFAULT);
        return clmd_err_set(err, CLMD_EINPUT, "%s: not a clmd replica-exchange log", path);
    }
    return CLMD_OK;
}

void clmd_remdlog_data_free(clmd_remdlog_data *d)
{
    clmd_free(d->temperatures);
    clmd_free(d->history);
    clmd_free(d->energies);
    clmd_free(d->proposed);
    clmd_free(d->accepted);
    memset(d, 0, sizeof *d);
}
