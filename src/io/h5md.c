#include "io/h5md.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "core/mem.h"

enum { N_STD_OBS = 4, SCALAR_CHUNK = 512 };
static const char *const STD_OBS[N_STD_OBS] = {"potential_energy", "kinetic_energy",
                                               "total_energy", "temperature"};
static const char *const STD_OBS_UNIT[N_STD_OBS] = {"kJ mol-1", "kJ mol-1", "kJ mol-1", "K"};

struct clmd_h5md {
    hid_t file;
    char *path;
    int n, periodic, velocities, n_extra;
    hid_t step, time, pos, vel, edges; /* datasets; vel/edges are -1 when absent */
    hid_t *obs;                        /* N_STD_OBS + n_extra value datasets */
    float *buf;                        /* [3n] frame scratch, so writing allocates nothing */
    long frames, last_step;
    double last_time;
    int failed; /* a frame write failed half-way: the series may disagree in length */
};

/* ---- HDF5 error handling: silence the library's printing, keep its message ---------------- */

typedef struct quiet {
    H5E_auto2_t func;
    void *data;
} quiet;

static quiet quiet_begin(void)
{
    quiet q;
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static void quiet_end(quiet q) { H5Eset_auto2(H5E_DEFAULT, q.func, q.data); }

typedef struct walk {
    char api[64], detail[256];
} walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    walk *w = data;
    if (n == 0) snprintf(w->api, sizeof w->api, "%s", e->func_name ? e->func_name : "?");
    snprintf(w->detail, sizeof w->detail, "%s", e->desc ? e->desc : "");
    return 0;
}

/* "PATH: cannot WHAT (H5Xxx: innermost HDF5 message)", CLMD_ERUNTIME. */
static int h5fail(clmd_err *err, const char *path, const char *what)
{
    walk w = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (w.api[0])
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot %s (%s: %s)", path, what, w.api,
                            w.detail);
    return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot %s", path, what);
}

/* ---- small writers ------------------------------------------------------------------------ */

/* A group, with any missing intermediate groups ("particles/all"). */
static hid_t mkgroup(hid_t loc, const char *name)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(loc, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return g;
}

/* Fixed-length string attribute (H5MD metadata), count strings of one length. */
static int attr_fixed_strings(hid_t obj, const char *name, const char *const *s, int count)
{
    size_t len = 1;
    for (int i = 0; i < count; i++)
        if (strlen(s[i]) + 1 > len) len = strlen(s[i]) + 1;
    char *packed = clmd_calloc((size_t)count, len);
    for (int i = 0; i < count; i++) memcpy(packed + (size_t)i * len, s[i], strlen(s[i]));
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, len);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    hsize_t dims[1] = {(hsize_t)count};
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, packed) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    clmd_free(packed);
    return ok ? 0 : -1;
}

static int attr_fixed_string(hid_t obj, const char *name, const char *s)
{
    return attr_fixed_strings(obj, name, &s, 1);
}

/* Variable-length ASCII string attribute: the form the H5MD units module asks for `unit`
 * (and the one h5py hands back as str, which MDAnalysis's unit lookup needs). */
static int attr_vlen_string(hid_t obj, const char *name, const char *s)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_ASCII);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, &s) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    return ok ? 0 : -1;
}

static int attr_ints(hid_t obj, const char *name, const int *v, int count)
{
    hsize_t dims[1] = {(hsize_t)count};
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return ok ? 0 : -1;
}

/* Creates an extensible dataset of shape (0, item...) chunked by (chunk, item...). */
static hid_t series_dataset(hid_t group, const char *name, hid_t type, int item_rank,
                            const hsize_t *item, hsize_t chunk, const char *unit)
{
    hsize_t dims[4] = {0}, maxdims[4] = {H5S_UNLIMITED}, cdims[4] = {chunk};
    for (int i = 0; i < item_rank; i++) dims[i + 1] = maxdims[i + 1] = cdims[i + 1] = item[i];
    hid_t space = H5Screate_simple(item_rank + 1, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, item_rank + 1, cdims);
    hid_t ds = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (ds >= 0 && unit && attr_vlen_string(ds, "unit", unit) < 0) {
        H5Dclose(ds);
        return -1;
    }
    return ds;
}

/* A time-dependent element `name` under parent whose step and time are hard links to the
 * position element's; returns its value dataset. */
static hid_t linked_element(hid_t parent, const char *name, hid_t type, int item_rank,
                            const hsize_t *item, hsize_t chunk, const char *unit)
{
    hid_t g = mkgroup(parent, name);
    if (g < 0) return -1;
    hid_t ds = -1;
    if (H5Lcreate_hard(parent, "/particles/all/position/step", g, "step", H5P_DEFAULT,
                       H5P_DEFAULT) >= 0 &&
        H5Lcreate_hard(parent, "/particles/all/position/time", g, "time", H5P_DEFAULT,
                       H5P_DEFAULT) >= 0)
        ds = series_dataset(g, "value", type, item_rank, item, chunk, unit);
    H5Gclose(g);
    return ds;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* particles/all/species as an Enumeration of the distinct names (numbered in sorted order). */
static int write_species(hid_t all, const char *const *names, int n)
{
    const char **sorted = clmd_calloc((size_t)n, sizeof *sorted);
    for (int i = 0; i < n; i++) sorted[i] = names[i] && names[i][0] ? names[i] : "?";
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_name);
    int nu = 0;
    for (int i = 0; i < n; i++)
        if (nu == 0 || strcmp(sorted[i], sorted[nu - 1]) != 0) sorted[nu++] = sorted[i];
    hid_t type = H5Tenum_create(H5T_NATIVE_INT);
    int ok = type >= 0;
    for (int i = 0; ok && i < nu; i++) ok = H5Tenum_insert(type, sorted[i], &i) >= 0;
    int *ids = clmd_calloc((size_t)n, sizeof *ids);
    for (int i = 0; ok && i < n; i++) {
        const char *key = names[i] && names[i][0] ? names[i] : "?";
        const char **hit = bsearch(&key, sorted, (size_t)nu, sizeof *sorted, cmp_name);
        CLMD_ASSERT(hit);
        ids[i] = (int)(hit - sorted);
    }
    if (ok) {
        hsize_t dims[1] = {(hsize_t)n};
        hid_t space = H5Screate_simple(1, dims, NULL);
        hid_t ds = H5Dcreate2(all, "species", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) >= 0;
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(space);
    }
    if (type >= 0) H5Tclose(type);
    clmd_free(ids);
    clmd_free(sorted);
    return ok ? 0 : -1;
}

/* A time-independent per-particle double array (mass, charge). */
static int write_per_particle(hid_t all, const char *name, const double *v, int n,
                              const char *unit)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(all, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0 &&
             attr_vlen_string(ds, "unit", unit) >= 0;
    if (ok && strcmp(name, "charge") == 0) ok = attr_fixed_string(ds, "type", "effective") >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space);
    return ok ? 0 : -1;
}

/* parameters/clmd: title attribute and the deck as one fixed-length string dataset. */
static int write_parameters(hid_t file, const char *title, const char *deck)
{
    hid_t p = mkgroup(file, "parameters");
    hid_t g = p >= 0 ? mkgroup(p, "clmd") : -1;
    int ok = g >= 0;
    if (ok && title) ok = attr_fixed_string(g, "title", title[0] ? title : " ") >= 0;
    if (ok) ok = attr_fixed_string(g, "build", CLMD_COMPILER " " CLMD_CFLAGS) >= 0;
    if (ok && deck) {
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, strlen(deck) + 1);
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t ds = H5Dcreate2(g, "deck", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, deck) >= 0;
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(space);
        H5Tclose(type);
    }
    if (g >= 0) H5Gclose(g);
    if (p >= 0) H5Gclose(p);
    return ok ? 0 : -1;
}

static int check_opts(const char *path, const clmd_h5md_opts *o, clmd_err *err)
{
    if (o->n_particles <= 0)
        return clmd_err_set(err, CLMD_EINPUT, "%s: a trajectory needs particles (n = %d)", path,
                            o->n_particles);
    if (o->n_extra < 0 || (o->n_extra > 0 && !o->extra_names))
        return clmd_err_set(err, CLMD_EINPUT, "%s: %d extra observables but no names", path,
                            o->n_extra);
    for (int i = 0; i < o->n_extra; i++) {
        const char *name = o->extra_names[i];
        if (!name || !name[0] || strchr(name, '/') || strcmp(name, ".") == 0)
            return clmd_err_set(err, CLMD_EINPUT, "%s: extra observable %d has a bad name '%s'",
                                path, i + 1, name ? name : "(null)");
        for (int k = 0; k < N_STD_OBS; k++)
            if (strcmp(name, STD_OBS[k]) == 0)
                return clmd_err_set(err, CLMD_EINPUT,
                                    "%s: extra observable '%s' would replace a standard one",
                                    path, name);
        for (int k = 0; k < i; k++)
            if (strcmp(name, o->extra_names[k]) == 0)
                return clmd_err_set(err, CLMD_EINPUT, "%s: extra observable '%s' named twice",
                                    path, name);
    }
    return CLMD_OK;
}

static void handle_free(clmd_h5md *h)
{
    clmd_free(h->obs);
    clmd_free(h->buf);
    clmd_free(h->path);
    clmd_free(h);
}

/* Closes every id the handle holds; returns 0 when the file closed cleanly. */
static int close_ids(clmd_h5md *h)
{
    hid_t ds[5] = {h->step, h->time, h->pos, h->vel, h->edges};
    for (int i = 0; i < 5; i++)
        if (ds[i] >= 0) H5Dclose(ds[i]);
    for (int i = 0; h->obs && i < N_STD_OBS + h->n_extra; i++)
        if (h->obs[i] >= 0) H5Dclose(h->obs[i]);
    return h->file >= 0 ? (H5Fclose(h->file) >= 0 ? 0 : -1) : 0;
}

static int create_layout(clmd_h5md *h, const clmd_h5md_opts *o)
{
    hid_t f = h->file;
    const char *version = o->creator_version ? o->creator_version
                                             : CLMD_VERSION " (" CLMD_GIT_COMMIT ")";

    hid_t g = mkgroup(f, "h5md");
    if (g < 0) return -1;
    const int h5md_version[2] = {1, 1}, units_version[2] = {1, 0};
    int ok = attr_ints(g, "version", h5md_version, 2) >= 0;
    hid_t sub = mkgroup(g, "author");
    ok = ok && sub >= 0 && attr_fixed_string(sub, "name", o->author ? o->author : "unknown") >= 0;
    if (sub >= 0) H5Gclose(sub);
    sub = mkgroup(g, "creator");
    ok = ok && sub >= 0 && attr_fixed_string(sub, "name", "clmd") >= 0 &&
         attr_fixed_string(sub, "version", version) >= 0;
    if (sub >= 0) H5Gclose(sub);
    sub = mkgroup(g, "modules/units");
    ok = ok && sub >= 0 && attr_ints(sub, "version", units_version, 2) >= 0 &&
         attr_vlen_string(sub, "system", "SI") >= 0;
    if (sub >= 0) H5Gclose(sub);
    H5Gclose(g);
    if (!ok) return -1;

    hid_t all = mkgroup(f, "particles/all");
    if (all < 0) return -1;
    hid_t box = mkgroup(all, "box");
    const int three = 3;
    const char *periodic[3] = {"periodic", "periodic", "periodic"}, *none[3] = {"none", "none",
                                                                                  "none"};
    ok = box >= 0 && attr_ints(box, "dimension", &three, 1) >= 0 &&
         attr_fixed_strings(box, "boundary", o->periodic ? periodic : none, 3) >= 0;
    if (box >= 0) H5Gclose(box);

    /* position owns the step and time datasets every other element links to. */
    hid_t pos = ok ? mkgroup(all, "position") : -1;
    const hsize_t item_n3[2] = {(hsize_t)h->n, 3}, item_33[2] = {3, 3};
    if (pos >= 0) {
        h->step = series_dataset(pos, "step", H5T_STD_I64LE, 0, NULL, SCALAR_CHUNK, NULL);
        h->time = series_dataset(pos, "time", H5T_IEEE_F64LE, 0, NULL, SCALAR_CHUNK, "ps");
        /* One frame per chunk: a frame is written whole and read whole. */
        h->pos = series_dataset(pos, "value", H5T_IEEE_F32LE, 2, item_n3, 1, "nm");
        H5Gclose(pos);
    }
    ok = ok && h->step >= 0 && h->time >= 0 && h->pos >= 0;
    if (ok && o->periodic) {
        h->edges = linked_element(all, "box/edges", H5T_IEEE_F64LE, 2, item_33, SCALAR_CHUNK / 8,
                                  "nm");
        ok = h->edges >= 0;
    }
    if (ok && h->velocities) {
        h->vel = linked_element(all, "velocity", H5T_IEEE_F32LE, 2, item_n3, 1, "nm ps-1");
        ok = h->vel >= 0;
    }
    if (ok && o->names) ok = write_species(all, o->names, h->n) >= 0;
    if (ok && o->mass) ok = write_per_particle(all, "mass", o->mass, h->n, "u") >= 0;
    if (ok && o->charge) ok = write_per_particle(all, "charge", o->charge, h->n, "e") >= 0;
    H5Gclose(all);
    if (!ok) return -1;

    hid_t obs = mkgroup(f, "observables");
    if (obs < 0) return -1;
    for (int i = 0; ok && i < N_STD_OBS + h->n_extra; i++) {
        int std = i < N_STD_OBS;
        const char *name = std ? STD_OBS[i] : o->extra_names[i - N_STD_OBS];
        const char *unit = std ? STD_OBS_UNIT[i] : (o->extra_unit ? o->extra_unit : "kJ mol-1");
        /* Observables hard-link position's step/time through their own path. */
        hid_t eg = mkgroup(obs, name);
        ok = eg >= 0 &&
             H5Lcreate_hard(f, "/particles/all/position/step", eg, "step", H5P_DEFAULT,
                            H5P_DEFAULT) >= 0 &&
             H5Lcreate_hard(f, "/particles/all/position/time", eg, "time", H5P_DEFAULT,
                            H5P_DEFAULT) >= 0;
        if (ok) {
            h->obs[i] = series_dataset(eg, "value", H5T_IEEE_F64LE, 0, NULL, SCALAR_CHUNK, unit);
            ok = h->obs[i] >= 0;
        }
        if (eg >= 0) H5Gclose(eg);
    }
    H5Gclose(obs);
    if (ok && (o->title || o->deck_text)) ok = write_parameters(f, o->title, o->deck_text) >= 0;
    return ok ? 0 : -1;
}

/* A handle for the options (checked by the caller), with every id still closed. */
static clmd_h5md *handle_new(const char *path, const clmd_h5md_opts *o)
{
    clmd_h5md *h;
    CLMD_NEW(h, 1);
    h->path = clmd_strdup(path);
    h->n = o->n_particles;
    h->periodic = o->periodic != 0;
    h->velocities = o->write_velocities != 0;
    h->n_extra = o->n_extra;
    h->step = h->time = h->pos = h->vel = h->edges = -1;
    CLMD_NEW(h->obs, N_STD_OBS + h->n_extra);
    for (int i = 0; i < N_STD_OBS + h->n_extra; i++) h->obs[i] = -1;
    CLMD_NEW(h->buf, 3 * (size_t)h->n);
    h->last_step = -1;
    return h;
}

/* The handle to the caller on success; closed and freed on failure. */
static int hand_out(clmd_h5md *h, int rc, clmd_h5md **out)
{
    if (rc != CLMD_OK) {
        close_ids(h);
        H5Eclear2(H5E_DEFAULT);
        handle_free(h);
    } else {
        *out = h;
    }
    return rc;
}

int clmd_h5md_create(const char *path, const clmd_h5md_opts *o, clmd_h5md **out, clmd_err *err)
{
    *out = NULL;
    int rc = check_opts(path, o, err);
    if (rc != CLMD_OK) return rc;
    clmd_h5md *h = handle_new(path, o);

    quiet q = quiet_begin();
    /* File format of HDF5 1.8 (superblock 2), as the H5MD implementation notes recommend:
     * every reader since 1.8 opens it, and a file left open by a killed run still opens. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    h->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (h->file < 0) {
        rc = h5fail(err, path, "create the trajectory file");
    } else if (create_layout(h, o) < 0 || H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) {
        rc = h5fail(err, path, "write the H5MD layout");
    }
    rc = hand_out(h, rc, out);
    quiet_end(q);
    return rc;
}

/* Opens dataset name under loc and sets its first dimension to frames; -1 on failure. */
static hid_t open_series(hid_t loc, const char *name, hsize_t frames)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t space = H5Dget_space(ds);
    hsize_t dims[4];
    int rank = H5Sget_simple_extent_ndims(space);
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    dims[0] = frames;
    if (rank < 1 || rank > 4 || H5Dset_extent(ds, dims) < 0) {
        H5Dclose(ds);
        return -1;
    }
    return ds;
}

int clmd_h5md_continue(const char *path, const clmd_h5md_opts *o, long last_step, clmd_h5md **out,
                       clmd_err *err)
{
    *out = NULL;
    if (access(path, F_OK) != 0) return clmd_h5md_create(path, o, out, err);
    int rc = check_opts(path, o, err);
    if (rc != CLMD_OK) return rc;
    clmd_h5md *h = handle_new(path, o);
    quiet q = quiet_begin();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    h->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    int64_t *steps = NULL;
    double *times = NULL;
    if (h->file < 0) {
        rc = h5fail(err, path, "open the trajectory to continue it");
        goto done;
    }
    /* the frames with a step no later than last_step (a cut-short frame has values but no step) */
    hid_t ds = H5Dopen2(h->file, "/particles/all/position/step", H5P_DEFAULT);
    hid_t pv = H5Dopen2(h->file, "/particles/all/position/value", H5P_DEFAULT);
    hsize_t nsteps = 0, pdims[3] = {0, 0, 0};
    if (ds >= 0) {
        hid_t sp = H5Dget_space(ds);
        H5Sget_simple_extent_dims(sp, &nsteps, NULL);
        H5Sclose(sp);
    }
    if (pv >= 0) {
        hid_t sp = H5Dget_space(pv);
        if (H5Sget_simple_extent_ndims(sp) == 3) H5Sget_simple_extent_dims(sp, pdims, NULL);
        H5Sclose(sp);
        H5Dclose(pv);
    }
    if (ds < 0 || pv < 0 || pdims[1] != (hsize_t)h->n || pdims[2] != 3) {
        if (ds >= 0) H5Dclose(ds);
        H5Eclear2(H5E_DEFAULT);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: not a trajectory of this run's %d particles: "
                          "cannot continue it", path, h->n);
        goto done;
    }
    CLMD_NEW(steps, nsteps ? nsteps : 1);
    CLMD_NEW(times, nsteps ? nsteps : 1);
    hid_t ts = H5Dopen2(h->file, "/particles/all/position/time", H5P_DEFAULT);
    if ((nsteps && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, steps) < 0) ||
        ts < 0 || (nsteps && H5Dread(ts, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, times) < 0)) {
        H5Dclose(ds);
        if (ts >= 0) H5Dclose(ts);
        rc = h5fail(err, path, "read the trajectory's steps");
        goto done;
    }
    H5Dclose(ds);
    H5Dclose(ts);
    hsize_t keep = 0;
    while (keep < nsteps && steps[keep] <= last_step) keep++;
    int ok = (h->step = open_series(h->file, "/particles/all/position/step", keep)) >= 0 &&
             (h->time = open_series(h->file, "/particles/all/position/time", keep)) >= 0 &&
             (h->pos = open_series(h->file, "/particles/all/position/value", keep)) >= 0;
    if (ok && h->periodic) ok = (h->edges = open_series(h->file, "/particles/all/box/edges/value", keep)) >= 0;
    if (ok && h->velocities) ok = (h->vel = open_series(h->file, "/particles/all/velocity/value", keep)) >= 0;
    for (int i = 0; ok && i < N_STD_OBS + h->n_extra; i++) {
        char name[300];
        snprintf(name, sizeof name, "/observables/%s/value",
                 i < N_STD_OBS ? STD_OBS[i] : o->extra_names[i - N_STD_OBS]);
        ok = (h->obs[i] = open_series(h->file, name, keep)) >= 0;
    }
    if (!ok || H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) {
        H5Eclear2(H5E_DEFAULT);
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: its layout is not the one this run writes "
                          "(another system, or other observables): cannot continue it", path);
        goto done;
    }
    h->frames = (long)keep;
    if (keep) {
        h->last_step = (long)steps[keep - 1];
        h->last_time = times[keep - 1];
    }
done:
    clmd_free(steps);
    clmd_free(times);
    rc = hand_out(h, rc, out);
    quiet_end(q);
    return rc;
}

/* Grows a series dataset to `frames` rows and writes row frames-1 from buf (mem type). */
static int append_row(hid_t ds, hsize_t frames, hid_t memtype, const void *buf)
{
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[4], start[4] = {0}, count[4];
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    dims[0] = frames;
    if (H5Dset_extent(ds, dims) < 0) return -1;
    space = H5Dget_space(ds);
    start[0] = frames - 1;
    count[0] = 1;
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mem = H5Screate_simple(rank, count, NULL);
    herr_t st = H5Dwrite(ds, memtype, mem, space, H5P_DEFAULT, buf);
    H5Sclose(mem);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

/* A vector view is usable when exactly one of f and d is set and the stride holds xyz. */
static int vec_ok(const clmd_vec3s *v)
{
    return (!v->f) != (!v->d) && (v->stride == 0 || v->stride >= 3);
}

/* Packs a caller's vector view into float xyz. */
static void pack(float *out, const clmd_vec3s *v, int n)
{
    int stride = v->stride ? v->stride : 3;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            size_t at = (size_t)i * (size_t)stride + (size_t)k;
            out[3 * i + k] = v->f ? v->f[at] : (float)v->d[at];
        }
}

int clmd_h5md_write_frame(clmd_h5md *h, const clmd_h5md_frame *fr, clmd_err *err)
{
    CLMD_ASSERT(h && fr);
    if (h->failed)
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: an earlier frame failed to write", h->path);
    if (fr->step <= h->last_step || (h->frames > 0 && fr->time_ps < h->last_time))
        return clmd_err_set(err, CLMD_ERUNTIME,
                            "%s: frame at step %ld, time %g ps does not follow step %ld, "
                            "time %g ps",
                            h->path, fr->step, fr->time_ps, h->last_step, h->last_time);
    if (!vec_ok(&fr->x) || (h->vel >= 0 && !vec_ok(&fr->v)))
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: frame at step %ld has no %s", h->path,
                            fr->step, vec_ok(&fr->x) ? "velocities" : "positions");
    if (h->n_extra > 0 && !fr->extra)
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: frame at step %ld lacks the %d extra "
                            "observables", h->path, fr->step, h->n_extra);
    quiet q = quiet_begin();
    hsize_t frames = (hsize_t)h->frames + 1;
    int64_t step = fr->step;
    const double obs[N_STD_OBS] = {fr->thermo.potential, fr->thermo.kinetic, fr->thermo.total,
                                   fr->thermo.temperature_k};
    int rc = CLMD_OK;
    /* Values first, step and time last: a frame cut short shows no step without data. */
    pack(h->buf, &fr->x, h->n);
    if (append_row(h->pos, frames, H5T_NATIVE_FLOAT, h->buf) < 0) goto fail;
    if (h->vel >= 0) {
        pack(h->buf, &fr->v, h->n);
        if (append_row(h->vel, frames, H5T_NATIVE_FLOAT, h->buf) < 0) goto fail;
    }
    if (h->edges >= 0 && append_row(h->edges, frames, H5T_NATIVE_DOUBLE, fr->box) < 0) goto fail;
    for (int i = 0; i < N_STD_OBS + h->n_extra; i++) {
        const double *v = i < N_STD_OBS ? &obs[i] : &fr->extra[i - N_STD_OBS];
        if (append_row(h->obs[i], frames, H5T_NATIVE_DOUBLE, v) < 0) goto fail;
    }
    if (append_row(h->time, frames, H5T_NATIVE_DOUBLE, &fr->time_ps) < 0) goto fail;
    if (append_row(h->step, frames, H5T_NATIVE_INT64, &step) < 0) goto fail;
    if (H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) goto fail;
    h->frames++;
    h->last_step = fr->step;
    h->last_time = fr->time_ps;
    goto out;
fail:;
    h->failed = 1;
    char what[96];
    snprintf(what, sizeof what, "write the frame at step %ld", fr->step);
    rc = h5fail(err, h->path, what);
out:
    quiet_end(q);
    return rc;
}

long clmd_h5md_frames(const clmd_h5md *h) { return h->frames; }
long clmd_h5md_last_step(const clmd_h5md *h) { return h->last_step; }

int clmd_h5md_close(clmd_h5md **hp, clmd_err *err)
{
    if (!hp || !*hp) return CLMD_OK;
    clmd_h5md *h = *hp;
    quiet q = quiet_begin();
    int rc = CLMD_OK;
    if (close_ids(h) < 0) rc = h5fail(err, h->path, "close the trajectory file");
    quiet_end(q);
    handle_free(h);
    *hp = NULL;
    return rc;
}
