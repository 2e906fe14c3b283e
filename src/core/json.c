#include "core/json.h"

#include <math.h>

void clmd_json_quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void item(clmd_json *j, const char *key)
{
    if (j->need_comma[j->depth]) fputc(',', j->f);
    j->need_comma[j->depth] = 1;
    if (key) {
        clmd_json_quote(j->f, key);
        fputs(": ", j->f);
    }
}

void clmd_json_init(clmd_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    for (int i = 0; i < 64; i++) j->need_comma[i] = 0;
}

void clmd_json_begin_object(clmd_json *j, const char *key)
{
    item(j, key);
    fputc('{', j->f);
    j->need_comma[++j->depth] = 0;
}

void clmd_json_end_object(clmd_json *j)
{
    j->depth--;
    fputc('}', j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void clmd_json_begin_array(clmd_json *j, const char *key)
{
    item(j, key);
    fputc('[', j->f);
    j->need_comma[++j->depth] = 0;
}

void clmd_json_end_array(clmd_json *j)
{
    j->depth--;
    fputc(']', j->f);
}

void clmd_json_string(clmd_json *j, const char *key, const char *value)
{
    item(j, key);
    clmd_json_quote(j->f, value ? value : "");
}

void clmd_json_number(clmd_json *j, const char *key, double value)
{
    item(j, key);
    if (isfinite(value)) fprintf(j->f, "%.17g", value);
    else fputs("null", j->f);
}

void clmd_json_int(clmd_json *j, const char *key, long value)
{
    item(j, key);
    fprintf(j->f, "%ld", value);
}

void clmd_json_bool(clmd_json *j, const char *key, int value)
{
    item(j, key);
    fputs(value ? "true" : "false", j->f);
}
