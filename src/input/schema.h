/* The deck reader's machinery, private to input/: a libyaml document walked by tables.
 *
 * A section is a YAML mapping described by one schema_section: its dotted name, the keys it
 * allows, whether null is allowed, where its key's mark goes, and a table of simple fields
 * (key, kind, range, offset of the value in the struct, choice names) that one routine reads.
 * Keys that are not simple (a list, a word or a number, a cross-key rule) are read by the
 * section's own function. Every problem is collected with its line:column and dotted key,
 * sorted by position and returned together by schema_report(). Nothing here allocates memory
 * that outlives schema_ctx_free(). input/deck.c holds the deck's tables. */
#ifndef CLMD_INPUT_SCHEMA_H
#define CLMD_INPUT_SCHEMA_H

#include <stddef.h>
#include <yaml.h>

#include "core/err.h"
#include "input/deck.h"

/* An allowed interval of a number; a bound is open or closed, or absent. */
typedef struct schema_range {
    double lo, hi;
    char has_lo, lo_open, has_hi, hi_open;
} schema_range;

/* Initializers (tables) ... */
#define SCHEMA_ANY {0, 0, 0, 0, 0, 0}
#define SCHEMA_GT(a) {(a), 0, 1, 1, 0, 0}
#define SCHEMA_GE(a) {(a), 0, 1, 0, 0, 0}
#define SCHEMA_OPEN(a, b) {(a), (b), 1, 1, 1, 1}
#define SCHEMA_CLOSED(a, b) {(a), (b), 1, 0, 1, 0}
/* ... and values (function arguments). */
#define SCHEMA_R(init) ((schema_range)init)

typedef enum schema_kind {
    SCHEMA_NUM,  /* double, finite */
    SCHEMA_INT,  /* int: a whole number (1e6 and 4.0 accepted) */
    SCHEMA_LONG, /* long: likewise */
    SCHEMA_BOOL, /* int 0/1: true/false, yes/no, any case */
    SCHEMA_SEED, /* unsigned long: digits only */
    SCHEMA_ENUM, /* int (a C enum): the index of the word in names, plus base */
    SCHEMA_WORD, /* char[size]: one of names, stored in the table's spelling */
    SCHEMA_STR,  /* char[size]: any scalar */
    SCHEMA_PATH  /* char[size]: resolved against the deck's folder */
} schema_kind;

enum {
    SCHEMA_NULLABLE = 1,  /* null allowed: keeps the default (a field) or means off (a section) */
    SCHEMA_REQUIRED = 2,  /* absent is a problem, reported at the mapping that lacks it */
    SCHEMA_MUST_READ = 4, /* SCHEMA_PATH: a readable regular file */
    SCHEMA_NESTED = 8     /* a section read by its parent's function, not from the top */
};

/* What a read found. */
enum { SCHEMA_ABSENT = 0, SCHEMA_GOOD = 1, SCHEMA_BAD = -1, SCHEMA_NULL = 2 };

/* One simple key. Offsets are from the base the fields are read into (the deck for sections);
 * a mark offset of 0 means the key's mark is not kept (offset 0 of the deck is its path). */
typedef struct schema_field {
    const char *key;
    schema_kind kind;
    size_t off;
    schema_range range;       /* NUM, INT, LONG */
    const char *const *names; /* ENUM, WORD (NULL-terminated) */
    int base;                 /* ENUM: stored value = index of the word + base */
    unsigned flags;
    size_t size;              /* WORD, STR, PATH: the buffer's size */
    size_t mark_off;          /* where the key's line:column goes (a clmd_mark) */
    const char *why;          /* REQUIRED: what the missing-key message suggests */
} schema_field;

typedef struct schema_ctx schema_ctx;

/* One mapping of the deck. Read by schema_read_section(): null (when allowed) or a mapping
 * of known keys; then the fields; then `parse` for the special keys. */
typedef struct schema_section {
    const char *name;              /* dotted path; "" is the top level */
    const char *const *keys;       /* allowed keys, in the order messages list them */
    unsigned flags;                /* SCHEMA_NULLABLE, SCHEMA_REQUIRED, SCHEMA_NESTED */
    size_t mark_off;               /* where the section key's mark goes (0: nowhere) */
    size_t enabled_off;            /* an int set to 1 when a mapping is given (0: none) */
    const schema_field *fields;    /* simple keys (NULL or ended by a NULL key) */
    void (*parse)(schema_ctx *c, yaml_node_t *map); /* special keys, after the fields */
    void (*scalar)(schema_ctx *c, yaml_node_t *v);  /* a non-null scalar instead of a mapping */
    const char *expect;            /* "expected <expect>, got ..." for a value of another type */
    const char *if_null;           /* the message for null when null is not allowed */
    const char *why;               /* SCHEMA_REQUIRED: what the missing-key message suggests */
} schema_section;

typedef struct schema_problem {
    int line, column, order;
    char text[640];
} schema_problem;

struct schema_ctx {
    const char *name;               /* file name used in messages */
    const char *dir;                /* absolute folder that relative paths resolve against */
    yaml_document_t *doc;
    clmd_deck *d;
    const schema_section *sections; /* every mapping, so a misplaced key can be pointed home */
    size_t nsections;
    schema_problem *probs;
    int nprob, cap;
    char (*bad)[128];               /* dotted keys whose value could not be read */
    int nbad, capbad;
};

void schema_ctx_free(schema_ctx *c);

/* ---- problems */
void schema_problem_add(schema_ctx *c, yaml_mark_t m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* At a deck mark (line 0, a defaulted key, reads as 1:1). */
void schema_problem_at(schema_ctx *c, clmd_mark m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A required key is absent: reported at the mapping that should hold it. */
void schema_missing(schema_ctx *c, yaml_node_t *map, const char *parent, const char *key,
                    const char *why);
/* CLMD_OK when there was no problem; else CLMD_EINPUT with every problem, in file order, one
 * per line; what does not fit err->msg is counted. */
int schema_report(schema_ctx *c, clmd_err *err);

/* ---- small helpers */
clmd_mark schema_mark(yaml_mark_t m);
void schema_set_str(char *dst, size_t n, const char *src); /* zero-filled copy */
void schema_join(char *out, size_t n, const char *parent, const char *key);
int schema_streq_ci(const char *a, const char *b);
/* The known word closest to `word` when it is a likely typo, else NULL. */
const char *schema_closest(const char *word, const char *const *known);
/* `rel` against the absolute `dir` ("." segments and repeated slashes dropped); 0: too long. */
int schema_resolve(const char *dir, const char *rel, char *out, size_t n);
/* `dir` (NULL: ".") made absolute with the working directory; 0 on failure. */
int schema_abs_dir(const char *dir, char *out, size_t n);

/* ---- nodes */
yaml_node_t *schema_node(schema_ctx *c, int id);
const char *schema_sval(const yaml_node_t *n);
int schema_is_null(const yaml_node_t *n);
/* How a node reads in "got ..." messages ("a list", "null", "'abc'"). */
const char *schema_describe(const yaml_node_t *n, char *buf, size_t len);
/* The value of `key` in mapping `map` (first occurrence), or NULL; *keymark gets the key's. */
yaml_node_t *schema_get(schema_ctx *c, yaml_node_t *map, const char *key, yaml_mark_t *keymark);
/* The value at a dotted path from the root ("nonbonded.cutoff"), or NULL. */
yaml_node_t *schema_find(schema_ctx *c, const char *path);
/* Checks that n is a mapping of known, distinct, scalar keys; 1 when n is a mapping. */
int schema_check_map(schema_ctx *c, yaml_node_t *n, const char *path, const char *const *keys);
/* Number of items of a list node, -1 for another node. */
int schema_list_len(const yaml_node_t *n);
yaml_node_t *schema_list_item(schema_ctx *c, yaml_node_t *list, int i);

/* ---- typed values of one node (problems reported at the node, under `path`) */
int schema_number(schema_ctx *c, yaml_node_t *v, const char *path, int nullable, double *out);
int schema_integer(schema_ctx *c, yaml_node_t *v, const char *path, long *out);
int schema_in_range(schema_ctx *c, yaml_node_t *v, const char *path, schema_range r, double x);
int schema_choice(schema_ctx *c, yaml_node_t *v, const char *path, const char *const *names,
                  int *out);

/* ---- tables */
/* Values that failed to read, so that rules across keys are checked only on clean values. */
void schema_note_bad(schema_ctx *c, const char *path);
int schema_read_ok(const schema_ctx *c, const char *path);
/* One field of mapping `map` (dotted `parent`) into base; returns SCHEMA_ABSENT, _GOOD, _BAD
 * or _NULL (a nullable field given null: the value is left as it was). */
int schema_read_field(schema_ctx *c, yaml_node_t *map, const char *parent, const schema_field *f,
                      void *base);
void schema_read_fields(schema_ctx *c, yaml_node_t *map, const char *parent,
                        const schema_field *fields, void *base);
/* A section given at v (its key at km) into the deck; 1 when a mapping was read. */
int schema_read_section(schema_ctx *c, const schema_section *s, yaml_node_t *v, yaml_mark_t km);
const schema_section *schema_section_named(const schema_ctx *c, const char *name);

#endif
