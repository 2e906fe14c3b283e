#include "ocl/ocl.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

const char *clmd_cl_embedded(const char *name); /* generated from the cl folder */

enum { MAX_PROGRAMS = 64, MAX_EVENTS = 512, MAX_KERNEL_COUNTS = 64 };

struct clmd_ocl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int is_gpu, compute_units;
    char device_name[256], platform_name[256], driver[256], description[900];
    clmd_probe *probe;
    int profiling;
    struct {
        char *key;
        cl_program prog;
    } programs[MAX_PROGRAMS];
    int nprograms;
    cl_event events[MAX_EVENTS];
    clmd_probe_id event_probe[MAX_EVENTS];
    int nevents;
    /* device timings: launch k of a kernel is timed when k % sample_every == 0 (16 on GPUs, 1
     * on CPU devices, CLMD_PROBE_SAMPLE to choose), counted per kernel as one phase may take
     * several kernels in turn; the probes scale a phase's total by its calls over its timed
     * calls */
    int sample_every, nkernel_counts;
    int pid_loop[P_NPROBES]; /* 1 + the probes' loop id when the phase last had a launch timed */
    struct {
        cl_kernel k;
        long launches;
    } kernel_counts[MAX_KERNEL_COUNTS];
    long launches;          /* kernel launches so far (the probes' launches per step) */
};

const char *clmd_ocl_errstr(cl_int code)
{
    switch (code) {
#define E(x) \
    case x: return #x;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_BUILD_PROGRAM_FAILURE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT) E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
        E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT)
        E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE) E(CL_INVALID_GLOBAL_WORK_SIZE)
        E(CL_INVALID_PLATFORM) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL platform installed)";
    default: return "unknown OpenCL error";
    }
}

static const char *HINT =
    "run `clmd devices` to see the OpenCL devices, or use `--device reference` for the "
    "double-precision CPU reference path";

static int get_platforms(cl_platform_id **out, cl_uint *n, clmd_err *err)
{
    *n = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, n);
    if (rc != CL_SUCCESS || *n == 0)
        return clmd_err_set(err, CLMD_ERUNTIME, "no OpenCL platform found (%s); %s",
                            clmd_ocl_errstr(rc), HINT);
    *out = clmd_calloc(*n, sizeof **out);
    CL_CHECK(clGetPlatformIDs(*n, *out, NULL), err);
    return CLMD_OK;
}

static void lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

int clmd_ocl_list(FILE *out, clmd_err *err)
{
    cl_platform_id *plats = NULL;
    cl_uint np = 0;
    int rc = get_platforms(&plats, &np, err);
    if (rc == CLMD_OK) {
        for (cl_uint p = 0; p < np; p++) {
            char pname[256] = "", pver[256] = "";
            clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
            clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof pver, pver, NULL);
            fprintf(out, "platform %u: %s (%s)\n", p, pname, pver);
            cl_uint nd = 0;
            if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS) nd = 0;
            cl_device_id devs[64];
            if (nd > 64) nd = 64;
            if (nd) clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
            for (cl_uint d = 0; d < nd; d++) {
                char dname[256] = "", drv[128] = "";
                cl_device_type type = 0;
                cl_uint cu = 0;
                cl_ulong mem = 0;
                clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof dname, dname, NULL);
                clGetDeviceInfo(devs[d], CL_DRIVER_VERSION, sizeof drv, drv, NULL);
                clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
                clGetDeviceInfo(devs[d], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
                clGetDeviceInfo(devs[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
                char spec[64];
                snprintf(spec, sizeof spec, "%.20s", pname);
                char *sp = strchr(spec, ' ');
                if (sp) *sp = 0;
                lower(spec);
                fprintf(out, "  device %u: %s [%s, %u compute units, %.1f GiB, driver %s]  --device %s:%u\n",
                        d, dname, (type & CL_DEVICE_TYPE_GPU) ? "GPU" : "CPU", cu,
                        (double)mem / (1 << 30), drv, spec, d);
            }
        }
    } else {
        fprintf(out, "no OpenCL platforms: %s\n", err->msg);
    }
    fprintf(out, "reference: double-precision CPU reference path  --device reference\n");
    clmd_free(plats);
    return CLMD_OK;
}

int clmd_ocl_open(const char *spec, clmd_probe *probe, clmd_ocl **out, clmd_err *err)
{
    *out = NULL;
    cl_platform_id *plats = NULL;
    cl_uint np = 0;
    int rc = get_platforms(&plats, &np, err);
    if (rc) return rc;

    char want[256];
    int want_index = -1;
    snprintf(want, sizeof want, "%s", spec && *spec ? spec : "auto");
    char *colon = strrchr(want, ':');
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || v < 0) {
            clmd_free(plats);
            return clmd_err_set(err, CLMD_EINPUT, "--device '%s': the index after ':' must be a "
                                "non-negative integer; %s", spec, HINT);
        }
        want_index = (int)v;
        *colon = 0;
    }
    lower(want);
    int is_auto = strcmp(want, "auto") == 0;

    cl_platform_id chosen_p = NULL;
    cl_device_id chosen_d = NULL;
    /* auto: first GPU anywhere, else the first device of any type. */
    for (int pass = 0; pass < 2 && !chosen_d; pass++) {
        int seen = 0;
        for (cl_uint p = 0; p < np && !chosen_d; p++) {
            char pname[256] = "", pvendor[256] = "";
            clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
            clGetPlatformInfo(plats[p], CL_PLATFORM_VENDOR, sizeof pvendor, pvendor, NULL);
            lower(pname);
            lower(pvendor);
            cl_uint nd = 0;
            cl_device_id devs[64];
            if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, devs, &nd) != CL_SUCCESS) continue;
            if (nd > 64) nd = 64;
            for (cl_uint d = 0; d < nd && !chosen_d; d++) {
                char dname[256] = "";
                cl_device_type type = 0;
                clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof dname, dname, NULL);
                clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
                lower(dname);
                int match;
                if (is_auto) match = pass == 1 || (type & CL_DEVICE_TYPE_GPU);
                else match = strstr(pname, want) || strstr(pvendor, want) || strstr(dname, want);
                if (!match) continue;
                if (want_index < 0 || seen == want_index) {
                    chosen_p = plats[p];
                    chosen_d = devs[d];
                }
                seen++;
            }
        }
        if (!is_auto) break;
    }
    clmd_free(plats);
    if (!chosen_d)
        return clmd_err_set(err, CLMD_ERUNTIME, "no OpenCL device matches '%s'; %s", spec, HINT);

    clmd_ocl *o = clmd_alloc(sizeof *o);
    o->platform = chosen_p;
    o->device = chosen_d;
    o->probe = probe;
    o->profiling = clmd_probe_enabled(probe);
    cl_device_type type = 0;
    cl_uint cu = 1;
    clGetDeviceInfo(o->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(o->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(o->device, CL_DEVICE_NAME, sizeof o->device_name, o->device_name, NULL);
    clGetDeviceInfo(o->device, CL_DRIVER_VERSION, sizeof o->driver, o->driver, NULL);
    clGetPlatformInfo(o->platform, CL_PLATFORM_NAME, sizeof o->platform_name, o->platform_name, NULL);
    /* GPU-style kernels on GPUs; CLMD_GPU_KERNELS=1 selects them anywhere (tests run them on
     * PoCL so both variants are checked on every machine) */
    const char *force_gpu = getenv("CLMD_GPU_KERNELS");
    o->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0 || (force_gpu && strcmp(force_gpu, "1") == 0);
    o->compute_units = (int)cu;
    /* an event per launch costs a GPU's driver more than the small rows' kernels (H100, NVIDIA
     * OpenCL: ala2-pme 4989 steps/s timing every launch, 8312 one in 8, 9309 one per kernel);
     * CPU devices time every launch */
    const char *every = getenv("CLMD_PROBE_SAMPLE");
    o->sample_every = every && atoi(every) > 0 ? atoi(every) : (type & CL_DEVICE_TYPE_GPU) ? 16 : 1;
    snprintf(o->description, sizeof o->description, "%s / %s (driver %s)", o->platform_name,
             o->device_name, o->driver);

    cl_int e;
    o->context = clCreateContext(NULL, 1, &o->device, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        clmd_ocl_close(&o);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot create an OpenCL context on %s: %s; %s",
                            spec, clmd_ocl_errstr(e), HINT);
    }
    o->queue = clCreateCommandQueue(o->context, o->device,
                                    o->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &e);
    if (e != CL_SUCCESS) {
        clmd_ocl_close(&o);
        return clmd_err_set(err, CLMD_ERUNTIME, "cannot create an OpenCL queue: %s; %s",
                            clmd_ocl_errstr(e), HINT);
    }
    *out = o;
    return CLMD_OK;
}

/* The samples of the first `count` events (in the order enqueued), handed to the probes. */
static void harvest_first(clmd_ocl *o, int count)
{
    for (int i = 0; i < count; i++) {
        cl_ulong t0 = 0, t1 = 0;
        if (clGetEventProfilingInfo(o->events[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0,
                                    NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(o->events[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1,
                                    NULL) == CL_SUCCESS) {
            clmd_probe_add_sample(o->probe, o->event_probe[i], (double)(t1 - t0));
            clmd_probe_set_device(o->probe, o->event_probe[i]);
        }
        clReleaseEvent(o->events[i]);
    }
    memmove(o->events, o->events + count, sizeof o->events[0] * (size_t)(o->nevents - count));
    memmove(o->event_probe, o->event_probe + count, sizeof o->event_probe[0] * (size_t)(o->nevents - count));
    o->nevents -= count;
}

static void harvest(clmd_ocl *o) { harvest_first(o, o->nevents); }

/* A full event list, without draining the queue: the commands of the in-order queue finish in
 * order, so the events that completed are a prefix; they are harvested (after waiting for the
 * oldest when none has), and the device keeps the rest of its work. */
static int harvest_completed(clmd_ocl *o, clmd_err *err)
{
    int done = 0;
    while (done < o->nevents) {
        cl_int st = CL_QUEUED;
        CL_CHECK(clGetEventInfo(o->events[done], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st,
                                NULL),
                 err);
        if (st < 0)
            return clmd_err_set(err, CLMD_ERUNTIME, "a kernel on %s failed: %s", o->device_name,
                                clmd_ocl_errstr(st));
        if (st != CL_COMPLETE) break;
        done++;
    }
    if (done == 0) {
        CL_CHECK(clWaitForEvents(1, &o->events[0]), err);
        done = 1;
    }
    harvest_first(o, done);
    return CLMD_OK;
}

void clmd_ocl_close(clmd_ocl **po)
{
    if (!po || !*po) return;
    clmd_ocl *o = *po;
    if (o->queue) {
        clFinish(o->queue);
        harvest(o);
        clReleaseCommandQueue(o->queue);
    }
    for (int i = 0; i < o->nprograms; i++) {
        clReleaseProgram(o->programs[i].prog);
        clmd_free(o->programs[i].key);
    }
    if (o->context) clReleaseContext(o->context);
    clmd_free(o);
    *po = NULL;
}

cl_context clmd_ocl_context(const clmd_ocl *o) { return o->context; }
cl_command_queue clmd_ocl_queue(const clmd_ocl *o) { return o->queue; }
cl_device_id clmd_ocl_device(const clmd_ocl *o) { return o->device; }
int clmd_ocl_is_gpu(const clmd_ocl *o) { return o->is_gpu; }
int clmd_ocl_compute_units(const clmd_ocl *o) { return o->compute_units; }

unsigned long long clmd_ocl_global_mem(const clmd_ocl *o)
{
    cl_ulong v = 0;
    clGetDeviceInfo(o->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof v, &v, NULL);
    return v;
}

unsigned long long clmd_ocl_max_alloc(const clmd_ocl *o)
{
    cl_ulong v = 0;
    clGetDeviceInfo(o->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof v, &v, NULL);
    return v;
}

int clmd_ocl_is_cpu(const clmd_ocl *o)
{
    cl_device_type t = 0;
    clGetDeviceInfo(o->device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    return (t & CL_DEVICE_TYPE_CPU) != 0;
}
const char *clmd_ocl_device_name(const clmd_ocl *o) { return o->device_name; }
const char *clmd_ocl_platform_name(const clmd_ocl *o) { return o->platform_name; }
const char *clmd_ocl_driver_version(const clmd_ocl *o) { return o->driver; }
const char *clmd_ocl_description(const clmd_ocl *o) { return o->description; }

/* ---- program building ---- */

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = clmd_alloc((size_t)len + 1);
    size_t got = fread(s, 1, (size_t)len, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* Kernel source by file name: CLMD_CL_DIR (development) or the copy embedded in the binary. */
static char *kernel_source(const char *file)
{
    const char *dir = getenv("CLMD_CL_DIR");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        char *s = read_text_file(path);
        if (s) return s;
    }
    const char *e = clmd_cl_embedded(file);
    return e ? clmd_strdup(e) : NULL;
}

/* The sources of a program: the files of a space-separated list in order, each after a #line
 * naming it, so that compiler messages point into the right file. NULL (and *missing, the
 * file's name, to free) when one is not found. */
static char *program_body(const char *files, char **missing)
{
    char *list = clmd_strdup(files), *save = NULL, *out = clmd_strdup("");
    int nth = 0;
    for (char *f = strtok_r(list, " ", &save); f; f = strtok_r(NULL, " ", &save), nth++) {
        char *src = kernel_source(f);
        if (!src) {
            *missing = clmd_strdup(f);
            clmd_free(list);
            clmd_free(out);
            return NULL;
        }
        size_t len = strlen(out) + strlen(src) + strlen(f) + 64;
        char *cat = clmd_alloc(len);
        /* the first file keeps the plain "#line 1" of a single-file program (cached binaries) */
        if (nth == 0) snprintf(cat, len, "%s", src);
        else snprintf(cat, len, "%s\n#line 1 \"%s\"\n%s", out, f, src);
        clmd_free(out);
        clmd_free(src);
        out = cat;
    }
    clmd_free(list);
    return out;
}

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void clmd_ocl_cache_dir(char *out, size_t n)
{
    const char *d = getenv("CLMD_CACHE_DIR");
    if (d && *d) {
        snprintf(out, n, "%s", d);
        return;
    }
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && *x) snprintf(out, n, "%s/clmd", x);
    else if (home && *home) snprintf(out, n, "%s/.cache/clmd", home);
    else snprintf(out, n, "/tmp/clmd-cache");
}

static void mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static const char *BUILD_OPTIONS = "-cl-mad-enable -cl-no-signed-zeros";

static cl_program load_cached(clmd_ocl *o, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bin = clmd_alloc((size_t)len > 0 ? (size_t)len : 1);
    size_t got = fread(bin, 1, (size_t)len, f);
    fclose(f);
    cl_program prog = NULL;
    if (len > 0 && got == (size_t)len) {
        size_t sz = (size_t)len;
        const unsigned char *b = bin;
        cl_int st, e;
        prog = clCreateProgramWithBinary(o->context, 1, &o->device, &sz, &b, &st, &e);
        if (e != CL_SUCCESS || st != CL_SUCCESS ||
            clBuildProgram(prog, 1, &o->device, BUILD_OPTIONS, NULL, NULL) != CL_SUCCESS) {
            if (prog) clReleaseProgram(prog);
            prog = NULL;
        }
    }
    clmd_free(bin);
    return prog;
}

static void store_cached(clmd_ocl *o, cl_program prog, const char *dir, const char *path)
{
    size_t sz = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS || !sz)
        return;
    unsigned char *bin = clmd_alloc(sz);
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        mkdirs(dir);
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(bin, 1, sz, f) == sz;
            ok = (fclose(f) == 0) && ok;
            if (!ok || rename(tmp, path) != 0) remove(tmp);
        }
    }
    (void)o;
    clmd_free(bin);
}

int clmd_ocl_program(clmd_ocl *o, const char *file, const char *defines, cl_program *out,
                     clmd_err *err)
{
    char key[8192];
    snprintf(key, sizeof key, "%s\n%s", file, defines ? defines : "");
    for (int i = 0; i < o->nprograms; i++)
        if (strcmp(o->programs[i].key, key) == 0) {
            *out = o->programs[i].prog;
            return CLMD_OK;
        }
    if (o->nprograms == MAX_PROGRAMS)
        return clmd_err_set(err, CLMD_ERUNTIME, "too many OpenCL programs");

    char *common = kernel_source("common.cl"), *body = NULL, *missing = NULL;
    if (common) body = program_body(file, &missing);
    if (!common || !body) {
        clmd_free(common);
        clmd_free(body);
        clmd_err_set(err, CLMD_ERUNTIME, "kernel source %s not found (CLMD_CL_DIR=%s)",
                     common ? missing : "common.cl",
                     getenv("CLMD_CL_DIR") ? getenv("CLMD_CL_DIR") : "unset");
        clmd_free(missing);
        return err ? err->code : CLMD_ERUNTIME;
    }
    char head[2048];
    snprintf(head, sizeof head,
             "#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable\n"
             "#define CLMD_GPU %d\n"
             "typedef float real;\ntypedef float2 real2;\ntypedef float3 real3;\ntypedef float4 real4;\n"
             "#define FIXED_SCALE 4294967296.0f\n",
             o->is_gpu);
    size_t len = strlen(head) + strlen(defines ? defines : "") + strlen(common) + strlen(body) + 64;
    char *src = clmd_alloc(len);
    snprintf(src, len, "%s%s\n%s\n#line 1\n%s", head, defines ? defines : "", common, body);
    clmd_free(common);
    clmd_free(body);

    uint64_t h = fnv1a(src, strlen(src), 1469598103934665603ULL);
    h = fnv1a(o->description, strlen(o->description), h);
    h = fnv1a(BUILD_OPTIONS, strlen(BUILD_OPTIONS), h);
    char dir[4096], path[4200];
    clmd_ocl_cache_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%016llx.bin", dir, (unsigned long long)h);

    cl_program prog = load_cached(o, path);
    if (!prog) {
        cl_int e;
        const char *s = src;
        prog = clCreateProgramWithSource(o->context, 1, &s, NULL, &e);
        if (e != CL_SUCCESS) {
            clmd_free(src);
            return clmd_err_set(err, CLMD_ERUNTIME, "clCreateProgramWithSource(%s): %s", file,
                                clmd_ocl_errstr(e));
        }
        e = clBuildProgram(prog, 1, &o->device, BUILD_OPTIONS, NULL, NULL);
        if (e != CL_SUCCESS) {
            size_t loglen = 0;
            clGetProgramBuildInfo(prog, o->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
            char *log = clmd_alloc(loglen + 1);
            clGetProgramBuildInfo(prog, o->device, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
            clmd_err_set(err, CLMD_ERUNTIME, "building kernel %s for %s failed (%s):\n%.1800s",
                         file, o->device_name, clmd_ocl_errstr(e), log);
            clmd_free(log);
            clmd_free(src);
            clReleaseProgram(prog);
            return err ? err->code : CLMD_ERUNTIME;
        }
        store_cached(o, prog, dir, path);
    }
    clmd_free(src);
    o->programs[o->nprograms].key = clmd_strdup(key);
    o->programs[o->nprograms].prog = prog;
    o->nprograms++;
    *out = prog;
    return CLMD_OK;
}

int clmd_ocl_kernel(clmd_ocl *o, cl_program prog, const char *name, cl_kernel *out, clmd_err *err)
{
    (void)o;
    cl_int e;
    *out = clCreateKernel(prog, name, &e);
    if (e != CL_SUCCESS)
        return clmd_err_set(err, CLMD_ERUNTIME, "clCreateKernel(%s): %s", name, clmd_ocl_errstr(e));
    return CLMD_OK;
}

/* Device buffer bytes of the process, live and at their peak (every buffer is made and
 * released here; several engines and threads may share the count). */
static atomic_llong live_bytes, peak_bytes;

static void count_alloc(size_t bytes)
{
    long long now = atomic_fetch_add(&live_bytes, (long long)bytes) + (long long)bytes;
    long long peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {
    }
}

long long clmd_ocl_device_bytes_peak(void) { return atomic_load(&peak_bytes); }
long long clmd_ocl_device_bytes_live(void) { return atomic_load(&live_bytes); }

int clmd_ocl_alloc(clmd_ocl *o, size_t bytes, cl_mem *out, clmd_err *err)
{
    cl_int e;
    *out = clCreateBuffer(o->context, CL_MEM_READ_WRITE, bytes ? bytes : 16, NULL, &e);
    if (e != CL_SUCCESS)
        return clmd_err_set(err, CLMD_ERUNTIME, "allocating %zu bytes on %s: %s", bytes,
                            o->device_name, clmd_ocl_errstr(e));
    count_alloc(bytes ? bytes : 16);
    return clmd_ocl_zero(o, *out, bytes ? bytes : 16, err);
}

int clmd_ocl_alloc_pinned(clmd_ocl *o, size_t bytes, cl_mem *out, void **host, clmd_err *err)
{
    cl_int e;
    *host = NULL;
    *out = clCreateBuffer(o->context, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, bytes ? bytes : 16,
                          NULL, &e);
    if (e != CL_SUCCESS)
        return clmd_err_set(err, CLMD_ERUNTIME, "allocating %zu pinned bytes on %s: %s", bytes,
                            o->device_name, clmd_ocl_errstr(e));
    count_alloc(bytes ? bytes : 16);
    *host = clEnqueueMapBuffer(o->queue, *out, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                               bytes ? bytes : 16, 0, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        clmd_ocl_release(out);
        return clmd_err_set(err, CLMD_ERUNTIME, "mapping %zu pinned bytes on %s: %s", bytes,
                            o->device_name, clmd_ocl_errstr(e));
    }
    memset(*host, 0, bytes);
    return CLMD_OK;
}

void clmd_ocl_release_pinned(clmd_ocl *o, cl_mem *m, void **host)
{
    if (m && *m && host && *host) {
        clEnqueueUnmapMemObject(o->queue, *m, *host, 0, NULL, NULL);
        clFinish(o->queue);
    }
    if (host) *host = NULL;
    clmd_ocl_release(m);
}

long clmd_ocl_launches(const clmd_ocl *o) { return o ? o->launches : 0; }

int clmd_ocl_event_done(cl_event ev)
{
    cl_int st = CL_COMPLETE;
    if (ev && clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) != CL_SUCCESS)
        return 1;
    return st == CL_COMPLETE || st < 0;
}

void clmd_ocl_release(cl_mem *m)
{
    if (m && *m) {
        size_t bytes = 0;
        if (clGetMemObjectInfo(*m, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) == CL_SUCCESS)
            atomic_fetch_sub(&live_bytes, (long long)bytes);
        clReleaseMemObject(*m);
        *m = NULL;
    }
}

int clmd_ocl_write(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, const void *src,
                   clmd_err *err)
{
    if (!bytes) return CLMD_OK;
    CL_CHECK(clEnqueueWriteBuffer(o->queue, m, CL_TRUE, offset, bytes, src, 0, NULL, NULL), err);
    return CLMD_OK;
}

int clmd_ocl_read(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, void *dst, clmd_err *err)
{
    if (!bytes) return CLMD_OK;
    CL_CHECK(clEnqueueReadBuffer(o->queue, m, CL_TRUE, offset, bytes, dst, 0, NULL, NULL), err);
    /* in-order queue: everything enqueued before this read has completed */
    harvest(o);
    return CLMD_OK;
}

int clmd_ocl_read_async(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, void *dst,
                        cl_event *ev, clmd_err *err)
{
    CL_CHECK(clEnqueueReadBuffer(o->queue, m, CL_FALSE, offset, bytes, dst, 0, NULL, ev), err);
    return CLMD_OK;
}

int clmd_ocl_write_async(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, const void *src,
                         clmd_err *err)
{
    CL_CHECK(clEnqueueWriteBuffer(o->queue, m, CL_FALSE, offset, bytes, src, 0, NULL, NULL), err);
    return CLMD_OK;
}

int clmd_ocl_wait(clmd_ocl *o, cl_event *ev, clmd_err *err)
{
    (void)o;
    if (!ev || !*ev) return CLMD_OK;
    cl_int rc = clWaitForEvents(1, ev);
    clReleaseEvent(*ev);
    *ev = NULL;
    CL_CHECK(rc, err);
    return CLMD_OK;
}

int clmd_ocl_zero(clmd_ocl *o, cl_mem m, size_t bytes, clmd_err *err)
{
    const cl_uint zero = 0;
    CL_CHECK(clEnqueueFillBuffer(o->queue, m, &zero, sizeof zero, 0, bytes & ~(size_t)3, 0, NULL,
                                 NULL),
             err);
    return CLMD_OK;
}

int clmd_ocl_launch(clmd_ocl *o, cl_kernel k, size_t global, size_t local, clmd_probe_id pid,
                    clmd_err *err)
{
    return clmd_ocl_launch_batch(o, k, global, local, 1, pid, err);
}

/* Launches of kernel k so far (before this one); kernels past the table's size share its last
 * slot. */
static long kernel_launch_count(clmd_ocl *o, cl_kernel k)
{
    int i = 0;
    while (i < o->nkernel_counts && o->kernel_counts[i].k != k) i++;
    if (i == o->nkernel_counts) {
        if (i == MAX_KERNEL_COUNTS) i--;
        else o->nkernel_counts++;
        o->kernel_counts[i].k = k;
    }
    return o->kernel_counts[i].launches++;
}

int clmd_ocl_launch_batch(clmd_ocl *o, cl_kernel k, size_t global, size_t local, size_t batch,
                          clmd_probe_id pid, clmd_err *err)
{
    if (global == 0 || batch == 0) return CLMD_OK;
    if (local) global = (global + local - 1) / local * local;
    const size_t g2[2] = {global, batch}, l2[2] = {local, 1};
    const cl_uint dims = batch > 1 ? 2 : 1;
    cl_event ev = NULL;
    int timed = 0;
    if (o->profiling) {
        /* one launch in sample_every of each kernel, and each phase's first in a loop (so that
         * a phase with calls has a time) */
        const int loop = clmd_probe_loop_id(o->probe) + 1;
        timed = o->sample_every == 1 || kernel_launch_count(o, k) % o->sample_every == 0 ||
                o->pid_loop[pid] != loop;
        if (timed) o->pid_loop[pid] = loop;
    }
    cl_event *pev = timed ? &ev : NULL;
    if (o->profiling && !timed) clmd_probe_add_untimed(o->probe, pid);
    if (timed && o->nevents == MAX_EVENTS) {
        int rc = harvest_completed(o, err);
        if (rc) return rc;
    }
    cl_int e = clEnqueueNDRangeKernel(o->queue, k, dims, NULL, g2, local ? l2 : NULL, 0, NULL, pev);
    o->launches++;
    if (e != CL_SUCCESS) {
        char name[128] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        return clmd_err_set(err, CLMD_ERUNTIME, "launching kernel %s (global %zu, local %zu) on %s: %s",
                            name, global, local, o->device_name, clmd_ocl_errstr(e));
    }
    if (ev) {
        o->events[o->nevents] = ev;
        o->event_probe[o->nevents] = pid;
        o->nevents++;
    }
    return CLMD_OK;
}

int clmd_ocl_finish(clmd_ocl *o, clmd_err *err)
{
    CL_CHECK(clFinish(o->queue), err);
    harvest(o);
    return CLMD_OK;
}
