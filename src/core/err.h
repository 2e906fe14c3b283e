/* Error reporting for clmd: every call that can fail returns a status and fills a clmd_err.
 * Library code never prints or exits; only main() does. Messages for input problems name
 * file:line:column and the key, e.g. "deck.yaml:12:3: key 'cutoff': must be > 0". */
#ifndef CLMD_CORE_ERR_H
#define CLMD_CORE_ERR_H

#include <stdio.h>
#include <stdlib.h>

/* Status codes double as the program's exit status. */
enum clmd_status {
    CLMD_OK = 0,
    CLMD_EINPUT = 1,   /* bad input or usage */
    CLMD_ERUNTIME = 2  /* device, I/O, a blown-up simulation */
};

typedef struct clmd_err {
    int code;
    char msg[2048];
} clmd_err;

/* Sets the error (printf-style) and returns code, so callers can write
 * `return clmd_err_set(err, CLMD_EINPUT, "...")`. A NULL err is allowed. */
int clmd_err_set(clmd_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the current message with more context ("while reading X: ..."). */
int clmd_err_prefix(clmd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void clmd_err_clear(clmd_err *err);

/* Always-on invariant check: a failed assert is a bug in clmd, not bad input. */
#define CLMD_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "clmd: internal error: %s:%d: assertion '%s' failed\n", __FILE__, \
                    __LINE__, #cond);                                                        \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#endif
