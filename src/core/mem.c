#include "core/mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each block carries a 64-byte header holding its size, so the counters stay exact and the
 * payload stays 64-byte aligned (cache line, AVX-512 friendly). */
enum { HEADER = 64 };

/* atomic: the neighbor-list search grows its buffers from several threads */
static _Atomic size_t current_bytes, peak_bytes, allocations;

void *clmd_alloc_at(size_t bytes, const char *file, int line)
{
    void *base = NULL;
    if (posix_memalign(&base, HEADER, bytes + HEADER) != 0 || !base) {
        fprintf(stderr, "clmd: out of memory allocating %zu bytes at %s:%d\n", bytes, file, line);
        abort();
    }
    memset(base, 0, bytes + HEADER);
    *(size_t *)base = bytes;
    atomic_fetch_add(&allocations, 1);
    size_t now = atomic_fetch_add(&current_bytes, bytes) + bytes;
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
    }
    return (char *)base + HEADER;
}

void *clmd_realloc_at(void *p, size_t old_bytes, size_t new_bytes, const char *file, int line)
{
    (void)old_bytes;
    void *q = clmd_alloc_at(new_bytes, file, line);
    if (p) {
        size_t have = *(size_t *)((char *)p - HEADER);
        memcpy(q, p, have < new_bytes ? have : new_bytes);
        clmd_free(p);
    }
    return q;
}

void clmd_free(void *p)
{
    if (!p) return;
    char *base = (char *)p - HEADER;
    atomic_fetch_sub(&current_bytes, *(size_t *)base);
    free(base);
}

char *clmd_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = clmd_alloc(n);
    memcpy(d, s, n);
    return d;
}

size_t clmd_mem_current(void) { return atomic_load(&current_bytes); }
size_t clmd_mem_peak(void) { return atomic_load(&peak_bytes); }

size_t clmd_mem_allocations(void) { return atomic_load(&allocations); }
