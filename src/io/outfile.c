#include "io/outfile.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/mem.h"

#define OUTFILE_PATH_MAX 4096

int clmd_outfile_path(const char *dir, const char *name, char *buf, size_t size, clmd_err *err)
{
    int n;
    if (name[0] == '/' || !dir || dir[0] == '\0')
        n = snprintf(buf, size, "%s", name);
    else if (dir[strlen(dir) - 1] == '/')
        n = snprintf(buf, size, "%s%s", dir, name);
    else
        n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return clmd_err_set(err, CLMD_EINPUT, "output path '%s/%s' is too long", dir ? dir : "",
                            name);
    return CLMD_OK;
}

/* mkdir -p: creates each missing component; an existing non-folder is an input error. */
static int mkdir_p(const char *path, clmd_err *err)
{
    char buf[OUTFILE_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0) return CLMD_OK;
    if (len >= sizeof buf) return clmd_err_set(err, CLMD_EINPUT, "folder '%s' is too long", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                buf[i] = saved;
                return clmd_err_set(err, CLMD_EINPUT,
                                    "cannot create output folder '%s': '%.*s' is not a folder",
                                    path, (int)i, buf);
            }
        } else if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return clmd_err_set(err, CLMD_ERUNTIME, "cannot create output folder '%s': %s", buf,
                                strerror(e));
        }
        buf[i] = saved;
    }
    return CLMD_OK;
}

/* The folder part of a path ("" when there is none). */
static void dirname_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash == path) n = 1; /* "/file" lives in "/" */
    if (n >= size) n = size - 1;
    memcpy(buf, path, n);
    buf[n] = '\0';
}

/* Appends the line "PATH WHAT" to the error message being collected. */
static void add_line(clmd_err *err, int *nproblems, const char *path, const char *what)
{
    if (!err) {
        (*nproblems)++;
        return;
    }
    if (*nproblems == 0) err->msg[0] = '\0';
    size_t used = strlen(err->msg);
    if (used + 2 >= sizeof err->msg) {
        (*nproblems)++;
        return;
    }
    if (*nproblems > 0) err->msg[used++] = '\n';
    snprintf(err->msg + used, sizeof err->msg - used, "%s %s", path, what);
    (*nproblems)++;
}

int clmd_outfile_prepare(const char *dir, const char *const *names, int n, int overwrite,
                         clmd_err *err)
{
    if (n <= 0) return mkdir_p(dir ? dir : "", err);
    char(*paths)[OUTFILE_PATH_MAX];
    CLMD_NEW(paths, n);
    int nproblems = 0, rc = CLMD_OK;
    for (int i = 0; i < n; i++) {
        paths[i][0] = '\0';
        if (!names || !names[i] || names[i][0] == '\0') continue;
        if ((rc = clmd_outfile_path(dir, names[i], paths[i], sizeof paths[i], err)) != CLMD_OK)
            goto done;
        for (int j = 0; j < i; j++)
            if (strcmp(paths[i], paths[j]) == 0) {
                add_line(err, &nproblems, paths[i], "is named by two outputs");
                break;
            }
        struct stat st;
        if (lstat(paths[i], &st) != 0) continue; /* absent: fine */
        if (S_ISDIR(st.st_mode))
            add_line(err, &nproblems, paths[i], "is a folder; an output file was expected there");
        else if (!overwrite)
            add_line(err, &nproblems, paths[i],
                     "exists: set output.overwrite: true in the deck or pass --overwrite");
    }
    if (nproblems > 0) {
        if (err) err->code = CLMD_EINPUT;
        rc = CLMD_EINPUT;
        goto done;
    }

    /* Only now that nothing is refused do we touch the file system. */
    if ((rc = mkdir_p(dir ? dir : "", err)) != CLMD_OK) goto done;
    for (int i = 0; i < n; i++) {
        if (paths[i][0] == '\0') continue;
        char parent[OUTFILE_PATH_MAX];
        dirname_of(paths[i], parent, sizeof parent);
        if ((rc = mkdir_p(parent, err)) != CLMD_OK) goto done;
        const char *where = parent[0] ? parent : ".";
        if (access(where, W_OK | X_OK) != 0) {
            int e = errno;
            rc = clmd_err_set(err, CLMD_ERUNTIME, "cannot write in output folder '%s': %s", where,
                              strerror(e));
            goto done;
        }
    }
done:
    clmd_free(paths);
    return rc;
}
