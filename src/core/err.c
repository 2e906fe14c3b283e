#include "core/err.h"

#include <stdarg.h>
#include <string.h>

int clmd_err_set(clmd_err *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int clmd_err_prefix(clmd_err *err, const char *fmt, ...)
{
    if (!err) return CLMD_ERUNTIME;
    char head[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%.500s: %.1500s", head, old);
    return err->code;
}

void clmd_err_clear(clmd_err *err)
{
    if (!err) return;
    err->code = CLMD_OK;
    err->msg[0] = '\0';
}
