/* Replays a fuzz target over its corpus without libFuzzer, for ctest with the normal compiler:
 *   fuzz_NAME SUITE FOLDER...
 * feeds every regular file of each folder (sorted by name) to LLVMFuzzerTestOneInput, each in
 * a child process so that one crash neither hides the others nor stops the count, with 60 s of
 * CPU time and 2 GiB of address space per input (hangs and memory blow-ups fail too). Prints
 * "SUITE: N passed, F failed, 0 skipped" (the line scripts/test sums) and exits 1 when an input
 * failed or no input was found. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

/* Runs one input in a child; returns 0 when it came back normally. */
static int replay_one(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return -1;
    }
    /* exactly n bytes, as libFuzzer gives them, so a reader running past the end shows under
     * a memory checker */
    uint8_t *data = malloc(n ? n : 1);
    if (!data) abort();
    memcpy(data, buf, n);
    free(buf);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", path, strerror(errno));
        free(data);
        return -1;
    }
    if (pid == 0) {
        struct rlimit cpu = {60, 60};
        setrlimit(RLIMIT_CPU, &cpu);
#ifndef REPLAY_ASAN
        /* as libFuzzer's -rss_limit_mb: a small input that makes a reader allocate gigabytes is
         * a finding (left off under AddressSanitizer, which reserves terabytes of addresses) */
        struct rlimit mem = {(rlim_t)2 << 30, (rlim_t)2 << 30};
        setrlimit(RLIMIT_AS, &mem);
#endif
        LLVMFuzzerTestOneInput(data, n);
        _exit(0);
    }
    free(data);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "FAILED %s: %s\n", path,
                WTERMSIG(status) == SIGXCPU ? "hangs (over 60 s of CPU)" : strsignal(WTERMSIG(status)));
    else
        fprintf(stderr, "FAILED %s: exit status %d\n", path, WEXITSTATUS(status));
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SUITE FOLDER...\n", argv[0]);
        return 2;
    }
    int passed = 0, failed = 0;
    for (int a = 2; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            fprintf(stderr, "FAILED %s: cannot open the corpus folder: %s\n", argv[a], strerror(errno));
            failed++;
            continue;
        }
        char **names = NULL;
        size_t count = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            if (count == cap) {
                cap = cap ? 2 * cap : 64;
                names = realloc(names, cap * sizeof *names);
                if (!names) abort();
            }
            size_t len = strlen(argv[a]) + strlen(e->d_name) + 2;
            names[count] = malloc(len);
            if (!names[count]) abort();
            snprintf(names[count++], len, "%s/%s", argv[a], e->d_name);
        }
        closedir(dir);
        if (count) qsort(names, count, sizeof *names, by_name);
        for (size_t k = 0; k < count; k++) {
            if (replay_one(names[k]) == 0) passed++;
            else failed++;
            free(names[k]);
        }
        free(names);
    }
    if (passed + failed == 0) {
        fprintf(stderr, "FAILED: no input in the corpus\n");
        failed = 1;
    }
    printf("%s: %d passed, %d failed, 0 skipped\n", argv[1], passed, failed);
    return failed ? 1 : 0;
}
