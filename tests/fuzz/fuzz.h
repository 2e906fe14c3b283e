/* Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target defines
 * LLVMFuzzerTestOneInput; bench/fuzz links it with libFuzzer (clang, ASan, UBSan) and ctest links
 * it with replay.c, which feeds it every file of its seed corpus. Include this header first: it
 * asks for memfd_create. */
#ifndef CLMD_FUZZ_H
#define CLMD_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the code under test (not merely a rejected input): abort, so that
 * libFuzzer saves the input and the replay counts it as failed. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz: %s:%d: check '%s' failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* A file holding data, for readers that take a path: an anonymous memory file (memfd, named
 * /proc/self/fd/N; nothing to clean up after a crash) or, where memfd is missing, a file in
 * $TMPDIR or /tmp removed by fuzz_file_close. Returns the descriptor, -1 on failure. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t pathsize)
{
    int fd = memfd_create("clmd-fuzz", 0);
    if (fd >= 0) {
        snprintf(path, pathsize, "/proc/self/fd/%d", fd);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, pathsize, "%s/clmd-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        fd = mkstemp(path);
        if (fd < 0) return -1;
    }
    for (size_t done = 0; done < size;) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0) {
            close(fd);
            if (strncmp(path, "/proc/", 6) != 0) unlink(path);
            return -1;
        }
        done += (size_t)k;
    }
    return fd;
}

static inline void fuzz_file_close(int fd, const char *path)
{
    close(fd);
    if (strncmp(path, "/proc/", 6) != 0) unlink(path);
}

/* The input as a NUL-terminated string (malloc'd; free it). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t) abort();
    memcpy(t, data, size);
    t[size] = '\0';
    return t;
}

#endif
