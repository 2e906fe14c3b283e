/* The one pair of allocation wrappers: 64-byte aligned, zero-filled, bytes counted.
 * Out of memory is treated as fatal (reported with the size and the caller's location).
 * Free with clmd_free(); clmd_free(NULL) is a no-op. */
#ifndef CLMD_CORE_MEM_H
#define CLMD_CORE_MEM_H

#include <stddef.h>

void *clmd_alloc_at(size_t bytes, const char *file, int line);
void *clmd_realloc_at(void *p, size_t old_bytes, size_t new_bytes, const char *file, int line);
void clmd_free(void *p);
char *clmd_strdup(const char *s);
/* Bytes currently allocated through these wrappers, and the peak. */
size_t clmd_mem_current(void);
size_t clmd_mem_peak(void);
/* Allocations made so far (the per-step path must make none: tests count them). */
size_t clmd_mem_allocations(void);

#define clmd_alloc(bytes) clmd_alloc_at((bytes), __FILE__, __LINE__)
#define clmd_calloc(count, size) clmd_alloc_at((size_t)(count) * (size_t)(size), __FILE__, __LINE__)
#define clmd_realloc(p, old, new) clmd_realloc_at((p), (old), (new), __FILE__, __LINE__)
/* Allocates an array of n elements of *ptr's type. */
#define CLMD_NEW(ptr, n) ((ptr) = clmd_calloc((n) > 0 ? (n) : 1, sizeof *(ptr)))

#endif
