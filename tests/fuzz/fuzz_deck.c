/* Fuzz target: the input deck (clmd_deck_parse_string). Any text must either fail with
 * CLMD_EINPUT and a message, or give a deck that clmd_deck_print writes back as YAML which
 * parses again to a deck printing the same (the promise of deck.h). Relative paths resolve
 * against inputs/, so the seed decks reach the files they name when the reference data is
 * present. */
#include "fuzz.h"

#include "input/deck.h"

static char *print_deck(const clmd_deck *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f != NULL);
    clmd_deck_print(d, f);
    FUZZ_CHECK(fclose(f) == 0);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static clmd_deck deck, again; /* tens of kB each: kept off the stack */
    static clmd_err err;
    char *text = fuzz_text(data, size);
    const char *dir = CLMD_SOURCE_DIR "/inputs";
    int rc = clmd_deck_parse_string(text, "fuzz.yaml", dir, &deck, &err);
    free(text);
    if (rc != CLMD_OK) {
        FUZZ_CHECK(rc == CLMD_EINPUT && err.msg[0] != '\0');
        return 0;
    }
    char *printed = print_deck(&deck);
    rc = clmd_deck_parse_string(printed, "printed.yaml", dir, &again, &err);
    if (rc != CLMD_OK) fprintf(stderr, "fuzz: the printed deck does not parse:\n%s\n%s\n", printed, err.msg);
    FUZZ_CHECK(rc == CLMD_OK);
    char *reprinted = print_deck(&again);
    if (strcmp(printed, reprinted) != 0)
        fprintf(stderr, "fuzz: printed twice, the deck changed:\n%s\n---\n%s\n", printed, reprinted);
    FUZZ_CHECK(strcmp(printed, reprinted) == 0);
    free(printed);
    free(reprinted);
    return 0;
}
