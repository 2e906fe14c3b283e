/* Fuzz target: the checkpoint reader (clmd_ckpt_reader_open, then every entry through
 * clmd_ckpt_find/clmd_ckpt_get). The input is read as given and, when its last four bytes are
 * not the CRC-32 of the rest, once more with the checksum made right, so that mutations reach
 * the entry records behind the checksum. A file must either fail with CLMD_EINPUT and a message
 * or open to entries that can all be read back, each exactly as stored. */
#include "fuzz.h"

#include "io/checkpoint.h"

static void read_all(const uint8_t *data, size_t size)
{
    char path[256];
    int fd = fuzz_file(data, size, path, sizeof path);
    FUZZ_CHECK(fd >= 0);
    clmd_ckpt_reader *r = NULL;
    clmd_err err = {0};
    int rc = clmd_ckpt_reader_open(path, &r, &err);
    if (rc != CLMD_OK) {
        FUZZ_CHECK(rc == CLMD_EINPUT && err.msg[0] != '\0' && r == NULL);
        fuzz_file_close(fd, path);
        return;
    }
    int n = clmd_ckpt_count(r);
    FUZZ_CHECK(n >= 0 && clmd_ckpt_name(r, n) == NULL && clmd_ckpt_name(r, -1) == NULL);
    for (int i = 0; i < n; i++) {
        const char *name = clmd_ckpt_name(r, i);
        FUZZ_CHECK(name && name[0] && strlen(name) <= CLMD_CKPT_NAME_MAX);
        clmd_ckpt_type type;
        size_t count;
        FUZZ_CHECK(clmd_ckpt_find(r, name, &type, &count));
        size_t esize = clmd_ckpt_type_size(type);
        FUZZ_CHECK(esize > 0 && count <= size / esize); /* the data lies inside the file */
        unsigned char *buf = malloc(count * esize + 1);
        FUZZ_CHECK(buf != NULL);
        FUZZ_CHECK(clmd_ckpt_get(r, name, type, buf, count, &err) == CLMD_OK);
        /* the reader indexes the entries in file order: find this one's bytes and compare */
        int found = 0;
        for (size_t at = 16; !found && at + 64 + count * esize <= size; at += 8)
            found = memcmp(data + at, name, strlen(name) + 1) == 0 &&
                    memcmp(data + at + 64, buf, count * esize) == 0;
        FUZZ_CHECK(found);
        /* a wrong count or type is refused with a message, never read */
        FUZZ_CHECK(clmd_ckpt_get(r, name, type, buf, count + 1, &err) == CLMD_EINPUT);
        clmd_ckpt_type other = type == CLMD_CKPT_F64 ? CLMD_CKPT_I64 : CLMD_CKPT_F64;
        FUZZ_CHECK(clmd_ckpt_get(r, name, other, buf, count, &err) == CLMD_EINPUT);
        free(buf);
    }
    FUZZ_CHECK(clmd_ckpt_get(r, "no such entry, surely", CLMD_CKPT_BYTES, NULL, 0, &err) ==
                   CLMD_EINPUT ||
               clmd_ckpt_find(r, "no such entry, surely", NULL, NULL));
    clmd_ckpt_reader_close(&r);
    FUZZ_CHECK(r == NULL);
    fuzz_file_close(fd, path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_all(data, size);
    if (size < 4) return 0;
    uint32_t crc = clmd_crc32(0, data, size - 4), stored;
    memcpy(&stored, data + size - 4, 4);
    if (crc == stored) return 0;
    uint8_t *fixed = malloc(size);
    FUZZ_CHECK(fixed != NULL);
    memcpy(fixed, data, size);
    memcpy(fixed + size - 4, &crc, 4);
    read_all(fixed, size);
    free(fixed);
    return 0;
}
