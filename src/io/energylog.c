#include "io/energylog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

struct clmd_energylog {
    FILE *f;
    char *path;
    int n_extra;
    long last_step;
};

int clmd_energylog_open(const char *path, const char *const *extra, int n_extra,
                        clmd_energylog **out, clmd_err *err)
{
    *out = NULL;
    if (n_extra < 0 || (n_extra > 0 && !extra))
        return clmd_err_set(err, CLMD_EINPUT, "%s: %d extra columns but no names", path, n_extra);
    for (int i = 0; i < n_extra; i++) {
        const char *name = extra[i];
        if (!name || !name[0] || strpbrk(name, ",\"\r\n"))
            return clmd_err_set(err, CLMD_EINPUT,
                                "%s: extra column %d name '%s' must be non-empty without commas, "
                                "quotes or line breaks",
                                path, i + 1, name ? name : "(null)");
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot create energy log %s: %s", path,
                            strerror(e));
    }
    fputs("step,time_ps,potential,kinetic,total,temperature_K", f);
    for (int i = 0; i < n_extra; i++) fprintf(f, ",%s", extra[i]);
    fputc('\n', f);
    if (ferror(f) || fflush(f) != 0) {
        int e = errno;
        fclose(f);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write energy log %s: %s", path,
                            strerror(e ? e : EIO));
    }
    clmd_energylog *log;
    CLMD_NEW(log, 1);
    log->f = f;
    log->path = clmd_strdup(path);
    log->n_extra = n_extra;
    log->last_step = -1;
    *out = log;
    return CLMD_OK;
}

long clmd_energylog_last_step(const clmd_energylog *log) { return log->last_step; }

int clmd_energylog_continue(const char *path, const char *const *extra, int n_extra, long last_step,
                            clmd_energylog **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r+");
    if (!f) {
        if (errno == ENOENT) return clmd_energylog_open(path, extra, n_extra, out, err);
        int e = errno;
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot open energy log %s: %s", path, strerror(e));
    }
    /* the header this run would write */
    size_t hlen = strlen("step,time_ps,potential,kinetic,total,temperature_K") + 2;
    for (int i = 0; i < n_extra; i++) hlen += strlen(extra[i]) + 1;
    char *want = clmd_alloc(hlen), *line = NULL;
    snprintf(want, hlen, "step,time_ps,potential,kinetic,total,temperature_K");
    for (int i = 0; i < n_extra; i++) {
        strncat(want, ",", hlen - strlen(want) - 1);
        strncat(want, extra[i], hlen - strlen(want) - 1);
    }
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    int rc = CLMD_OK;
    if (len <= 0 || strncmp(line, want, strlen(want)) != 0 ||
        (line[strlen(want)] != '\n' && line[strlen(want)] != '\0')) {
        rc = clmd_err_set(err, CLMD_EINPUT, "%s: its columns are not the ones this run writes "
                          "(a log of another system or version?): cannot continue it", path);
    }
    /* keep every row up to last_step; what follows was written after the checkpoint */
    long keep = len > 0 ? (long)len : 0, last = -1;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        char *end;
        long step = strtol(line, &end, 10);
        if (end == line || *end != ',' || line[len - 1] != '\n' || step > last_step) break;
        keep += (long)len;
        last = step;
    }
    clmd_free(want);
    free(line);
    if (!rc && (fflush(f) != 0 || ftruncate(fileno(f), keep) != 0 || fseek(f, 0, SEEK_END) != 0)) {
        int e = errno;
        rc = clmd_err_set(err, CLMD_ERUNTIME, "cannot continue energy log %s: %s", path,
                          strerror(e));
    }
    if (rc) {
        fclose(f);
        return rc;
    }
    clmd_energylog *log;
    CLMD_NEW(log, 1);
    log->f = f;
    log->path = clmd_strdup(path);
    log->n_extra = n_extra;
    log->last_step = last;
    *out = log;
    return CLMD_OK;
}

int clmd_energylog_write(clmd_energylog *log, long step, double time_ps, const clmd_thermo *t,
                         const double *extra, clmd_err *err)
{
    CLMD_ASSERT(log && t && (log->n_extra == 0 || extra));
    FILE *f = log->f;
    errno = 0;
    fprintf(f, "%ld,%.10g,%.10g,%.10g,%.10g,%.10g", step, time_ps, t->potential, t->kinetic,
            t->total, t->temperature_k);
    for (int i = 0; i < log->n_extra; i++) fprintf(f, ",%.10g", extra[i]);
    fputc('\n', f);
    log->last_step = step;
    /* One flush per row: rows are rare (every ~100 steps) and a killed run keeps them all. */
    if (ferror(f) || fflush(f) != 0) {
        int e = errno ? errno : EIO;
        clearerr(f);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write energy log %s at step %ld: %s",
                            log->path, step, strerror(e));
    }
    return CLMD_OK;
}

int clmd_energylog_close(clmd_energylog **log, clmd_err *err)
{
    if (!log || !*log) return CLMD_OK;
    clmd_energylog *l = *log;
    int rc = CLMD_OK;
    if (fclose(l->f) != 0) {
        int e = errno;
        rc = clmd_err_set(err, CLMD_ERUNTIME, "cannot close energy log %s: %s", l->path,
                          strerror(e));
    }
    clmd_free(l->path);
    clmd_free(l);
    *log = NULL;
    return rc;
}
