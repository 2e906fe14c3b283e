/* A tiny streaming JSON writer for clmd's machine-readable outputs (eval, probes).
 * The caller writes the structure; these helpers handle commas, escaping and number format. */
#ifndef CLMD_CORE_JSON_H
#define CLMD_CORE_JSON_H

#include <stdio.h>

typedef struct clmd_json {
    FILE *f;
    int depth;
    int need_comma[64];
} clmd_json;

void clmd_json_init(clmd_json *j, FILE *f);
void clmd_json_begin_object(clmd_json *j, const char *key); /* key NULL inside arrays/top */
void clmd_json_end_object(clmd_json *j);
void clmd_json_begin_array(clmd_json *j, const char *key);
void clmd_json_end_array(clmd_json *j);
void clmd_json_string(clmd_json *j, const char *key, const char *value);
void clmd_json_number(clmd_json *j, const char *key, double value); /* %.17g, null if not finite */
void clmd_json_int(clmd_json *j, const char *key, long value);
void clmd_json_bool(clmd_json *j, const char *key, int value);
/* Writes a JSON-escaped string literal. */
void clmd_json_quote(FILE *f, const char *s);

#endif
