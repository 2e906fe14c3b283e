#include "io/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

static const char MAGIC[8] = {'C', 'L', 'M', 'D', 'C', 'K', 'P', 'T'};
static const uint32_t BYTE_ORDER_MARK = 0x01020304u;
enum { HEADER_BYTES = 16, RECORD_BYTES = 64, NAME_BYTES = 48, TYPE_END = 0 };

/* ---- CRC-32 ------------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t clmd_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

size_t clmd_ckpt_type_size(clmd_ckpt_type type)
{
    switch (type) {
    case CLMD_CKPT_BYTES: return 1;
    case CLMD_CKPT_I32:
    case CLMD_CKPT_U32:
    case CLMD_CKPT_F32: return 4;
    case CLMD_CKPT_I64:
    case CLMD_CKPT_U64:
    case CLMD_CKPT_F64: return 8;
    }
    return 0;
}

const char *clmd_ckpt_type_name(clmd_ckpt_type type)
{
    switch (type) {
    case CLMD_CKPT_BYTES: return "bytes";
    case CLMD_CKPT_I32: return "i32";
    case CLMD_CKPT_I64: return "i64";
    case CLMD_CKPT_U32: return "u32";
    case CLMD_CKPT_U64: return "u64";
    case CLMD_CKPT_F32: return "f32";
    case CLMD_CKPT_F64: return "f64";
    }
    return "?";
}

/* The 64-byte entry record, packed by hand so the layout does not depend on the compiler. */
typedef struct record {
    char name[NAME_BYTES];
    uint32_t type, size;
    uint64_t count;
} record;

static void record_pack(const record *r, unsigned char out[RECORD_BYTES])
{
    memcpy(out, r->name, NAME_BYTES);
    memcpy(out + 48, &r->type, 4);
    memcpy(out + 52, &r->size, 4);
    memcpy(out + 56, &r->count, 8);
}

static void record_unpack(const unsigned char in[RECORD_BYTES], record *r)
{
    memcpy(r->name, in, NAME_BYTES);
    memcpy(&r->type, in + 48, 4);
    memcpy(&r->size, in + 52, 4);
    memcpy(&r->count, in + 56, 8);
}

static size_t pad8(size_t n) { return (8 - n % 8) % 8; }

/* ---- writer ------------------------------------------------------------------------------- */

struct clmd_ckpt_writer {
    FILE *f;
    char *path, *tmp;
    char *membuf;    /* memory writers (open_memstream): the bytes, and their count */
    size_t memlen;
    int memory;
    uint32_t crc;
    int failed; /* a put failed: the file is unusable */
    int n, cap;
    char (*names)[NAME_BYTES];
};

/* Writes bytes and folds them into the checksum; 0 on success, else errno. */
static int w_bytes(clmd_ckpt_writer *w, const void *p, size_t n)
{
    if (n == 0) return 0;
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n) return errno ? errno : EIO;
    w->crc = clmd_crc32(w->crc, p, n);
    return 0;
}

static void writer_free(clmd_ckpt_writer *w)
{
    clmd_free(w->names);
    clmd_free(w->path);
    clmd_free(w->tmp);
    clmd_free(w);
}

static int write_header(clmd_ckpt_writer *w)
{
    unsigned char head[HEADER_BYTES];
    uint32_t version = CLMD_CKPT_VERSION;
    memcpy(head, MAGIC, 8);
    memcpy(head + 8, &version, 4);
    memcpy(head + 12, &BYTE_ORDER_MARK, 4);
    return w_bytes(w, head, sizeof head);
}

int clmd_ckpt_writer_open(const char *path, clmd_ckpt_writer **out, clmd_err *err)
{
    *out = NULL;
    clmd_ckpt_writer *w;
    CLMD_NEW(w, 1);
    w->path = clmd_strdup(path);
    size_t len = strlen(path) + 5;
    w->tmp = clmd_alloc(len);
    snprintf(w->tmp, len, "%s.tmp", path);
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        int e = errno;
        clmd_err_set(err, CLMD_ERUNTIME, "cannot create checkpoint %s: %s", w->tmp, strerror(e));
        writer_free(w);
        return CLMD_ERUNTIME;
    }
    int e = write_header(w);
    if (e) {
        clmd_err_set(err, CLMD_ERUNTIME, "cannot write checkpoint %s: %s", w->tmp, strerror(e));
        clmd_ckpt_writer_abort(&w);
        return CLMD_ERUNTIME;
    }
    *out = w;
    return CLMD_OK;
}


int clmd_ckpt_put(clmd_ckpt_writer *w, const char *name, clmd_ckpt_type type, const void *data,
                  size_t count, clmd_err *err)
{
    CLMD_ASSERT(w);
    if (w->failed)
        return clmd_err_set(err, CLMD_ERUNTIME, "checkpoint %s: an earlier write failed", w->tmp);
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > CLMD_CKPT_NAME_MAX)
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: entry name '%s' must have 1 to %d "
                            "characters", w->path, name ? name : "", CLMD_CKPT_NAME_MAX);
    size_t esize = clmd_ckpt_type_size(type);
    if (esize == 0)
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: entry '%s' has unknown type %d",
                            w->path, name, (int)type);
    if (count > 0 && !data)
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: entry '%s' has no data", w->path,
                            name);
    if (count > (SIZE_MAX - 8) / esize)
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: entry '%s' is too large", w->path,
                            name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->names[i], name) == 0)
            return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: entry '%s' written twice",
                                w->path, name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        w->names = clmd_realloc(w->names, (size_t)w->cap * NAME_BYTES, (size_t)cap * NAME_BYTES);
        w->cap = cap;
    }
    memset(w->names[w->n], 0, NAME_BYTES);
    memcpy(w->names[w->n], name, nlen);

    record r;
    memset(&r, 0, sizeof r);
    memcpy(r.name, name, nlen);
    r.type = (uint32_t)type;
    r.size = (uint32_t)esize;
    r.count = count;
    unsigned char rec[RECORD_BYTES];
    record_pack(&r, rec);
    static const unsigned char zeros[8];
    size_t bytes = count * esize;
    int e = w_bytes(w, rec, sizeof rec);
    if (!e) e = w_bytes(w, data, bytes);
    if (!e) e = w_bytes(w, zeros, pad8(bytes));
    if (e) {
        w->failed = 1;
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write checkpoint %s (entry '%s'): %s",
                            w->tmp, name, strerror(e));
    }
    w->n++;
    return CLMD_OK;
}

int clmd_ckpt_put_i64(clmd_ckpt_writer *w, const char *name, int64_t value, clmd_err *err)
{
    return clmd_ckpt_put(w, name, CLMD_CKPT_I64, &value, 1, err);
}

int clmd_ckpt_put_u64(clmd_ckpt_writer *w, const char *name, uint64_t value, clmd_err *err)
{
    return clmd_ckpt_put(w, name, CLMD_CKPT_U64, &value, 1, err);
}

int clmd_ckpt_put_f64(clmd_ckpt_writer *w, const char *name, double value, clmd_err *err)
{
    return clmd_ckpt_put(w, name, CLMD_CKPT_F64, &value, 1, err);
}

/* fsync of the folder makes the rename itself durable; file systems that cannot sync a
 * folder (EINVAL) are not an error. */
static int sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return 0;
    int e = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
    close(fd);
    return e;
}

/* The end record and the checksum. */
static int write_trailer(clmd_ckpt_writer *w)
{
    record end;
    memset(&end, 0, sizeof end);
    end.type = TYPE_END;
    end.count = (uint64_t)w->n;
    unsigned char rec[RECORD_BYTES];
    record_pack(&end, rec);
    int e = w_bytes(w, rec, sizeof rec);
    uint32_t crc = w->crc;
    if (!e) e = w_bytes(w, &crc, sizeof crc);
    return e;
}

static int write_header(clmd_ckpt_writer *w);

int clmd_ckpt_writer_open_memory(clmd_ckpt_writer **out, clmd_err *err)
{
    *out = NULL;
    clmd_ckpt_writer *w;
    CLMD_NEW(w, 1);
    w->memory = 1;
    w->path = clmd_strdup("(memory)");
    w->tmp = clmd_strdup("(memory)");
    w->f = open_memstream(&w->membuf, &w->memlen);
    if (!w->f) {
        writer_free(w);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot open a checkpoint in memory");
    }
    if (write_header(w)) {
        clmd_ckpt_writer_abort(&w);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot write a checkpoint in memory");
    }
    *out = w;
    return CLMD_OK;
}

int clmd_ckpt_writer_finish_memory(clmd_ckpt_writer **wp, void **bytes, size_t *n, clmd_err *err)
{
    clmd_ckpt_writer *w = *wp;
    *bytes = NULL;
    *n = 0;
    int e = w->failed ? EIO : write_trailer(w);
    if (fclose(w->f) != 0 && !e) e = EIO;
    w->f = NULL;
    if (e) {
        free(w->membuf);
        writer_free(w);
        *wp = NULL;
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot finish a checkpoint in memory");
    }
    *bytes = w->membuf;
    *n = w->memlen;
    writer_free(w);
    *wp = NULL;
    return CLMD_OK;
}

int clmd_ckpt_writer_commit(clmd_ckpt_writer **wp, clmd_err *err)
{
    CLMD_ASSERT(wp && *wp);
    clmd_ckpt_writer *w = *wp;
    if (w->failed) {
        clmd_err_set(err, CLMD_ERUNTIME, "checkpoint %s: an earlier write failed; %s kept",
                     w->tmp, w->path);
        clmd_ckpt_writer_abort(wp);
        return CLMD_ERUNTIME;
    }
    int e = write_trailer(w);
    const char *step = "write";
    if (!e && fflush(w->f) != 0) e = errno ? errno : EIO, step = "flush";
    if (!e && fsync(fileno(w->f)) != 0) e = errno, step = "fsync";
    if (e) {
        clmd_err_set(err, CLMD_ERUNTIME, "cannot %s checkpoint %s: %s; %s kept", step, w->tmp,
                     strerror(e), w->path);
        clmd_ckpt_writer_abort(wp);
        return CLMD_ERUNTIME;
    }
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0) {
        e = errno;
        clmd_err_set(err, CLMD_ERUNTIME, "cannot close checkpoint %s: %s; %s kept", w->tmp,
                     strerror(e), w->path);
        clmd_ckpt_writer_abort(wp);
        return CLMD_ERUNTIME;
    }
    if (rename(w->tmp, w->path) != 0) {
        e = errno;
        clmd_err_set(err, CLMD_ERUNTIME, "cannot rename checkpoint %s to %s: %s", w->tmp,
                     w->path, strerror(e));
        clmd_ckpt_writer_abort(wp);
        return CLMD_ERUNTIME;
    }
    e = sync_parent(w->path);
    int rc = CLMD_OK;
    if (e)
        rc = clmd_err_set(err, CLMD_ERUNTIME, "checkpoint %s written but its folder could not "
                          "be synced: %s", w->path, strerror(e));
    writer_free(w);
    *wp = NULL;
    return rc;
}

void clmd_ckpt_writer_abort(clmd_ckpt_writer **wp)
{
    if (!wp || !*wp) return;
    clmd_ckpt_writer *w = *wp;
    if (w->f) fclose(w->f);
    if (w->memory) {
        free(w->membuf);
        writer_free(w);
        *wp = NULL;
        return;
    }
    /* Only a regular file we made is removed (a folder in the way is left alone). */
    struct stat st;
    if (lstat(w->tmp, &st) == 0 && S_ISREG(st.st_mode)) unlink(w->tmp);
    writer_free(w);
    *wp = NULL;
}

/* ---- reader ------------------------------------------------------------------------------- */

typedef struct entry {
    char name[NAME_BYTES];
    clmd_ckpt_type type;
    size_t count;
    off_t offset; /* of the data */
} entry;

struct clmd_ckpt_reader {
    FILE *f;
    char *path;
    int n;
    entry *e;
    unsigned char *buf; /* scratch for the checksum pass */
};

/* Reads exactly n bytes (folding them into *crc); returns the count read. */
static size_t r_bytes(FILE *f, void *p, size_t n, uint32_t *crc)
{
    size_t got = fread(p, 1, n, f);
    *crc = clmd_crc32(*crc, p, got);
    return got;
}

/* Sets "checkpoint PATH: WHAT", frees the half-opened reader and returns CLMD_EINPUT. */
static int bad(clmd_ckpt_reader *r, clmd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(clmd_ckpt_reader *r, clmd_err *err, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: %s", r->path, what);
    clmd_ckpt_reader_close(&r);
    return CLMD_EINPUT;
}

static int reader_open_stream(FILE *f, const char *path, clmd_ckpt_reader **out, clmd_err *err);

int clmd_ckpt_reader_open(const char *path, clmd_ckpt_reader **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return clmd_err_set(err, CLMD_EINPUT, "cannot open checkpoint %s: %s", path, strerror(e));
    }
    return reader_open_stream(f, path, out, err);
}

int clmd_ckpt_reader_open_memory(const void *bytes, size_t n, const char *name,
                                 clmd_ckpt_reader **out, clmd_err *err)
{
    *out = NULL;
    FILE *f = n ? fmemopen((void *)bytes, n, "rb") : NULL;
    if (!f) return clmd_err_set(err, CLMD_EINPUT, "%s: an empty or unreadable checkpoint", name);
    return reader_open_stream(f, name, out, err);
}

static int reader_open_stream(FILE *f, const char *path, clmd_ckpt_reader **out, clmd_err *err)
{
    clmd_ckpt_reader *r;
    CLMD_NEW(r, 1);
    r->f = f;
    r->path = clmd_strdup(path);
    if (fseeko(f, 0, SEEK_END) != 0) return bad(r, err, "cannot find the file's size");
    const off_t file_size = ftello(f);
    if (file_size < 0 || fseeko(f, 0, SEEK_SET) != 0) return bad(r, err, "cannot find the file's size");

    uint32_t crc = 0;
    unsigned char head[HEADER_BYTES];
    size_t got = r_bytes(f, head, sizeof head, &crc);
    if (memcmp(head, MAGIC, got < 8 ? got : 8) != 0 || got == 0)
        return bad(r, err, "not a clmd checkpoint (bad magic)");
    if (got < sizeof head) return bad(r, err, "truncated inside the header");
    uint32_t version, bom;
    memcpy(&version, head + 8, 4);
    memcpy(&bom, head + 12, 4);
    if (bom != BYTE_ORDER_MARK) {
        if (bom == 0x04030201u)
            return bad(r, err, "written on a machine of the other byte order");
        return bad(r, err, "corrupt header (bad byte-order mark)");
    }
    if (version != CLMD_CKPT_VERSION)
        return bad(r, err, "format version %u is not the one this clmd reads (%d)",
                   (unsigned)version, CLMD_CKPT_VERSION);

    int cap = 0;
    r->buf = clmd_alloc(1 << 20);
    for (;;) {
        unsigned char rec[RECORD_BYTES];
        off_t at = ftello(f);
        got = r_bytes(f, rec, sizeof rec, &crc);
        if (got < sizeof rec) {
            return bad(r, err, "truncated: the file ends after %d entries, before the end record",
                       r->n);
        }
        record q;
        record_unpack(rec, &q);
        int name_ok = q.name[NAME_BYTES - 1] == '\0';
        size_t nlen = strnlen(q.name, NAME_BYTES);
        for (size_t i = nlen; i < NAME_BYTES; i++) name_ok = name_ok && q.name[i] == '\0';
        if (q.type == TYPE_END) {
            if (!name_ok || nlen != 0 || q.size != 0 || q.count != (uint64_t)r->n) {
                return bad(r, err, "corrupt end record at byte %lld", (long long)at);
            }
            break;
        }
        size_t esize = clmd_ckpt_type_size((clmd_ckpt_type)q.type);
        if (!name_ok || nlen == 0 || esize == 0 || q.size != esize) {
            return bad(r, err, "corrupt entry record at byte %lld", (long long)at);
        }
        off_t left = file_size - ftello(f);
        if (q.count > (uint64_t)(SIZE_MAX - 8) / esize ||
            (off_t)(q.count * esize + pad8(q.count * esize)) > left) {
            return bad(r, err,
                       "truncated or corrupt: entry '%s' needs %llu bytes, only %lld are left",
                       q.name, (unsigned long long)q.count * esize, (long long)left);
        }
        for (int i = 0; i < r->n; i++)
            if (strcmp(r->e[i].name, q.name) == 0) {
                return bad(r, err, "corrupt: entry '%s' appears twice", q.name);
            }
        if (r->n == cap) {
            int ncap = cap ? 2 * cap : 16;
            r->e = clmd_realloc(r->e, (size_t)cap * sizeof *r->e, (size_t)ncap * sizeof *r->e);
            cap = ncap;
        }
        entry *e = &r->e[r->n++];
        memcpy(e->name, q.name, NAME_BYTES);
        e->type = (clmd_ckpt_type)q.type;
        e->count = (size_t)q.count;
        e->offset = ftello(f);
        /* The data is read here only for the checksum; clmd_ckpt_get reads it again. */
        size_t todo = e->count * esize + pad8(e->count * esize);
        while (todo > 0) {
            size_t chunk = todo < ((size_t)1 << 20) ? todo : ((size_t)1 << 20);
            if (r_bytes(f, r->buf, chunk, &crc) != chunk)
                return bad(r, err, "truncated inside entry '%s'", e->name);
            todo -= chunk;
        }
    }
    clmd_free(r->buf);
    r->buf = NULL;
    uint32_t stored, dummy = 0;
    if (r_bytes(f, &stored, sizeof stored, &dummy) != sizeof stored)
        return bad(r, err, "truncated: the checksum is missing");
    if (stored != crc) return bad(r, err, "bad checksum: the file is corrupt");
    if (fgetc(f) != EOF) return bad(r, err, "unexpected bytes after the checksum");
    *out = r;
    return CLMD_OK;
}

int clmd_ckpt_count(const clmd_ckpt_reader *r) { return r->n; }

const char *clmd_ckpt_name(const clmd_ckpt_reader *r, int i)
{
    return i >= 0 && i < r->n ? r->e[i].name : NULL;
}

static const entry *find(const clmd_ckpt_reader *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].name, name) == 0) return &r->e[i];
    return NULL;
}

int clmd_ckpt_find(const clmd_ckpt_reader *r, const char *name, clmd_ckpt_type *type,
                   size_t *count)
{
    const entry *e = find(r, name);
    if (!e) return 0;
    if (type) *type = e->type;
    if (count) *count = e->count;
    return 1;
}

int clmd_ckpt_get(clmd_ckpt_reader *r, const char *name, clmd_ckpt_type type, void *out,
                  size_t count, clmd_err *err)
{
    CLMD_ASSERT(r && name);
    const entry *e = find(r, name);
    if (!e) {
        char have[1024] = "";
        size_t used = 0;
        for (int i = 0; i < r->n && used + 2 < sizeof have; i++) {
            int k = snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "", r->e[i].name);
            if (k < 0) break;
            used += (size_t)k;
        }
        return clmd_err_set(err, CLMD_EINPUT, "checkpoint %s: no entry '%s' (it holds: %s)",
                            r->path, name, r->n ? have : "nothing");
    }
    if (e->type != type || e->count != count)
        return clmd_err_set(err, CLMD_EINPUT,
                            "checkpoint %s: entry '%s' holds %zu values of type %s, expected %zu "
                            "of type %s",
                            r->path, name, e->count, clmd_ckpt_type_name(e->type), count,
                            clmd_ckpt_type_name(type));
    size_t bytes = count * clmd_ckpt_type_size(type);
    if (bytes == 0) return CLMD_OK;
    if (fseeko(r->f, e->offset, SEEK_SET) != 0 || fread(out, 1, bytes, r->f) != bytes) {
        int e2 = errno;
        return clmd_err_set(err, CLMD_ERUNTIME, "checkpoint %s: cannot read entry '%s': %s",
                            r->path, name, strerror(e2 ? e2 : EIO));
    }
    return CLMD_OK;
}

int clmd_ckpt_get_i64(clmd_ckpt_reader *r, const char *name, int64_t *value, clmd_err *err)
{
    return clmd_ckpt_get(r, name, CLMD_CKPT_I64, value, 1, err);
}

int clmd_ckpt_get_u64(clmd_ckpt_reader *r, const char *name, uint64_t *value, clmd_err *err)
{
    return clmd_ckpt_get(r, name, CLMD_CKPT_U64, value, 1, err);
}

int clmd_ckpt_get_f64(clmd_ckpt_reader *r, const char *name, double *value, clmd_err *err)
{
    return clmd_ckpt_get(r, name, CLMD_CKPT_F64, value, 1, err);
}

void clmd_ckpt_reader_close(clmd_ckpt_reader **rp)
{
    if (!rp || !*rp) return;
    clmd_ckpt_reader *r = *rp;
    if (r->f) fclose(r->f);
    clmd_free(r->e);
    clmd_free(r->buf);
    clmd_free(r->path);
    clmd_free(r);
    *rp = NULL;
}
