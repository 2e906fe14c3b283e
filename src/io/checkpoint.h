/* Checkpoint files: a container of named, typed arrays written atomically and read back with
 * every byte checked. The engine stores whatever it needs to continue a run bit for bit (step,
 * time, positions, velocities, neighbor-list reference positions, RNG state, box, replica
 * state); this module knows nothing of their meaning.
 *
 * Writing: clmd_ckpt_writer_open(PATH) opens PATH.tmp; each clmd_ckpt_put() appends an array;
 * clmd_ckpt_writer_commit() writes the trailer, flushes, fsyncs, renames PATH.tmp over PATH and
 * fsyncs the folder. Until the rename the old PATH is untouched, so a crash or a failed write
 * leaves the previous checkpoint intact. Commit and abort free the writer.
 *
 * Reading: clmd_ckpt_reader_open() validates the whole file (magic, version, byte order, the
 * layout of every entry, the CRC-32 of everything before it) and indexes the entries;
 * clmd_ckpt_get() copies one entry out after checking its type and element count. Errors name
 * the file. Values are stored raw in the host's byte order (recorded in the header, refused on a
 * machine of the other order), so floats and doubles come back bit for bit.
 *
 * File layout (version 1): a 16-byte header {magic "CLMDCKPT", u32 version, u32 0x01020304};
 * entries, each a 64-byte record {char name[48] NUL-padded, u32 type, u32 element size,
 * u64 count} followed by count*size bytes zero-padded to a multiple of 8; an end record
 * {name "", type 0, size 0, count = number of entries}; a u32 CRC-32 (IEEE) of all bytes before
 * it. */
#ifndef CLMD_IO_CHECKPOINT_H
#define CLMD_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CLMD_CKPT_VERSION 1
#define CLMD_CKPT_NAME_MAX 47 /* longest entry name */

typedef enum {
    CLMD_CKPT_BYTES = 1, /* opaque bytes (element size 1) */
    CLMD_CKPT_I32,
    CLMD_CKPT_I64,
    CLMD_CKPT_U32,
    CLMD_CKPT_U64,
    CLMD_CKPT_F32,
    CLMD_CKPT_F64
} clmd_ckpt_type;

/* Size in bytes of one element of the type, 0 for an unknown type. */
size_t clmd_ckpt_type_size(clmd_ckpt_type type);
/* "f64", "i32"...; "?" for an unknown type. */
const char *clmd_ckpt_type_name(clmd_ckpt_type type);

/* CRC-32 (IEEE 802.3, as zlib): start with crc 0, feed the result back to continue. */
uint32_t clmd_crc32(uint32_t crc, const void *data, size_t n);

typedef struct clmd_ckpt_writer clmd_ckpt_writer;

/* Starts a checkpoint that will replace path: creates path.tmp (truncating a leftover one). */
int clmd_ckpt_writer_open(const char *path, clmd_ckpt_writer **out, clmd_err *err);

/* Appends an array of count elements. Names are 1..47 characters and unique (CLMD_EINPUT
 * otherwise). count may be 0 (data may then be NULL). After a failure the writer only accepts
 * commit (which fails again) or abort. */
int clmd_ckpt_put(clmd_ckpt_writer *w, const char *name, clmd_ckpt_type type, const void *data,
                  size_t count, clmd_err *err);
int clmd_ckpt_put_i64(clmd_ckpt_writer *w, const char *name, int64_t value, clmd_err *err);
int clmd_ckpt_put_u64(clmd_ckpt_writer *w, const char *name, uint64_t value, clmd_err *err);
int clmd_ckpt_put_f64(clmd_ckpt_writer *w, const char *name, double value, clmd_err *err);

/* Finishes the file and renames it over the target. On any failure the temporary file is
 * removed and the old target left as it was. Frees the writer and sets *w to NULL. */
int clmd_ckpt_writer_commit(clmd_ckpt_writer **w, clmd_err *err);

/* A checkpoint written to memory instead of a file (a replica's state carried inside a
 * campaign's checkpoint, or sent between MPI ranks): finish hands back the bytes (free() them). */
int clmd_ckpt_writer_open_memory(clmd_ckpt_writer **out, clmd_err *err);
int clmd_ckpt_writer_finish_memory(clmd_ckpt_writer **w, void **bytes, size_t *n, clmd_err *err);

/* Gives up: removes the temporary file, frees the writer, sets *w to NULL (NULL-safe). */
void clmd_ckpt_writer_abort(clmd_ckpt_writer **w);

typedef struct clmd_ckpt_reader clmd_ckpt_reader;

/* Opens and validates a checkpoint. Fails with CLMD_EINPUT naming the file and the problem:
 * missing file, not a checkpoint (bad magic), unsupported version, other byte order, truncated,
 * corrupt entry record, bad checksum, trailing bytes. Close with clmd_ckpt_reader_close(). */
int clmd_ckpt_reader_open(const char *path, clmd_ckpt_reader **out, clmd_err *err);

/* The same on n bytes in memory (validated as a file is); name is used in messages. The bytes
 * must stay valid until the reader is closed. */
int clmd_ckpt_reader_open_memory(const void *bytes, size_t n, const char *name,
                                 clmd_ckpt_reader **out, clmd_err *err);

/* Number of entries, and the name of entry i (in file order). */
int clmd_ckpt_count(const clmd_ckpt_reader *r);
const char *clmd_ckpt_name(const clmd_ckpt_reader *r, int i);

/* 1 when the entry exists (then *type and *count are set where non-NULL), else 0. */
int clmd_ckpt_find(const clmd_ckpt_reader *r, const char *name, clmd_ckpt_type *type,
                   size_t *count);

/* Copies entry name into out, which holds count elements of type. Fails with CLMD_EINPUT when
 * the entry is missing or its type or count differ (the message says what the file holds). */
int clmd_ckpt_get(clmd_ckpt_reader *r, const char *name, clmd_ckpt_type type, void *out,
                  size_t count, clmd_err *err);
int clmd_ckpt_get_i64(clmd_ckpt_reader *r, const char *name, int64_t *value, clmd_err *err);
int clmd_ckpt_get_u64(clmd_ckpt_reader *r, const char *name, uint64_t *value, clmd_err *err);
int clmd_ckpt_get_f64(clmd_ckpt_reader *r, const char *name, double *value, clmd_err *err);

void clmd_ckpt_reader_close(clmd_ckpt_reader **r);

#endif
