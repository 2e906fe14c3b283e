/* The OpenCL layer: device discovery and selection, program building from the kernel sources
 * embedded at build time (the cl folder, or a folder named by CLMD_CL_DIR during development) with a
 * binary cache, buffers, launches with profiling events handed to the probes in batches.
 * This is the only module that calls the OpenCL API for setup; kernels' arguments are set by
 * their owners through clSetKernelArg (CLMD_ARG). The handle is opaque; clmd_ocl_close frees it. */
#ifndef CLMD_OCL_OCL_H
#define CLMD_OCL_OCL_H

#include <stddef.h>
#include <stdio.h>

#ifdef __APPLE__
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif

#include "core/err.h"
#include "probe/probe.h"

typedef struct clmd_ocl clmd_ocl;

/* Lists every platform and device (with the selection spec that picks it) and the reference. */
int clmd_ocl_list(FILE *out, clmd_err *err);

/* Opens the device chosen by spec: "auto" (first GPU, else first CPU device),
 * "PLATFORM_OR_DEVICE_SUBSTRING[:INDEX]" (case-insensitive). probe may be NULL; with probes
 * enabled the queue records profiling events. */
int clmd_ocl_open(const char *spec, clmd_probe *probe, clmd_ocl **out, clmd_err *err);
void clmd_ocl_close(clmd_ocl **ocl);

cl_context clmd_ocl_context(const clmd_ocl *o);
cl_command_queue clmd_ocl_queue(const clmd_ocl *o);
cl_device_id clmd_ocl_device(const clmd_ocl *o);
/* Nonzero when GPU-style kernels are used: on GPUs, or anywhere with CLMD_GPU_KERNELS=1. */
int clmd_ocl_is_gpu(const clmd_ocl *o);
int clmd_ocl_compute_units(const clmd_ocl *o);
/* Global memory of the device (bytes), and the largest single buffer it allows. */
unsigned long long clmd_ocl_global_mem(const clmd_ocl *o);
unsigned long long clmd_ocl_max_alloc(const clmd_ocl *o);
/* Nonzero for a CPU device (its buffers live in the host's memory). */
int clmd_ocl_is_cpu(const clmd_ocl *o);
const char *clmd_ocl_device_name(const clmd_ocl *o);
const char *clmd_ocl_platform_name(const clmd_ocl *o);
const char *clmd_ocl_driver_version(const clmd_ocl *o);
/* "PLATFORM / DEVICE (driver X)" for logs and JSON. */
const char *clmd_ocl_description(const clmd_ocl *o);

/* Builds cl/<file> after common.cl with the given extra "#define ..." lines (may be NULL);
 * `file` may name several files, separated by spaces, which are joined in that order.
 * A failed build returns an error carrying the compiler's log. Programs are cached in the
 * handle (same file+defines -> same program) and on disk as binaries. */
int clmd_ocl_program(clmd_ocl *o, const char *file, const char *defines, cl_program *out,
                     clmd_err *err);
int clmd_ocl_kernel(clmd_ocl *o, cl_program prog, const char *name, cl_kernel *out,
                    clmd_err *err);

int clmd_ocl_alloc(clmd_ocl *o, size_t bytes, cl_mem *out, clmd_err *err);
void clmd_ocl_release(cl_mem *m);
int clmd_ocl_write(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, const void *src,
                   clmd_err *err); /* blocking */
int clmd_ocl_read(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, void *dst,
                  clmd_err *err); /* blocking; also harvests finished profiling events */
int clmd_ocl_zero(clmd_ocl *o, cl_mem m, size_t bytes, clmd_err *err);
/* Non-blocking copies: *ev completes when the copy has; dst/src must stay valid until then.
 * clmd_ocl_wait waits for and releases the event. */
int clmd_ocl_read_async(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, void *dst,
                        cl_event *ev, clmd_err *err);
int clmd_ocl_write_async(clmd_ocl *o, cl_mem m, size_t offset, size_t bytes, const void *src,
                         clmd_err *err);
int clmd_ocl_wait(clmd_ocl *o, cl_event *ev, clmd_err *err);
/* A buffer in pinned host memory, mapped once for good (*host): asynchronous reads into it
 * overlap with the device's work on GPUs. Release with clmd_ocl_release_pinned. */
int clmd_ocl_alloc_pinned(clmd_ocl *o, size_t bytes, cl_mem *out, void **host, clmd_err *err);
void clmd_ocl_release_pinned(clmd_ocl *o, cl_mem *m, void **host);
/* Kernel launches so far on this handle. */
long clmd_ocl_launches(const clmd_ocl *o);
/* Bytes of device buffers this process holds now, and the most it held at once (pinned host
 * buffers included): the memory a run needs on the device. */
long long clmd_ocl_device_bytes_live(void);
long long clmd_ocl_device_bytes_peak(void);
/* Nonzero when the command of ev has finished (or failed); never waits. */
int clmd_ocl_event_done(cl_event ev);
/* The folder of clmd's caches (kernel binaries, FFT plans): CLMD_CACHE_DIR, else
 * $XDG_CACHE_HOME/clmd, else ~/.cache/clmd. */
void clmd_ocl_cache_dir(char *out, size_t n);

/* Launches a 1-D kernel; global is rounded up to a multiple of local (local 0: driver's choice).
 * The kernel's device time is credited to probe id `pid`. */
int clmd_ocl_launch(clmd_ocl *o, cl_kernel k, size_t global, size_t local, clmd_probe_id pid,
                    clmd_err *err);
/* The same launch repeated over `batch` copies as the second dimension (get_group_id(1) is the
 * copy; one launch for all): batched replicas' grids. batch 1 is clmd_ocl_launch. */
int clmd_ocl_launch_batch(clmd_ocl *o, cl_kernel k, size_t global, size_t local, size_t batch,
                          clmd_probe_id pid, clmd_err *err);
/* Waits for the queue and harvests profiling events. */
int clmd_ocl_finish(clmd_ocl *o, clmd_err *err);

const char *clmd_ocl_errstr(cl_int code);

/* Reports a failed OpenCL call with its name, the error's name and where. */
#define CL_CHECK(call, err)                                                               \
    do {                                                                                  \
        cl_int cl_check_rc_ = (call);                                                     \
        if (cl_check_rc_ != CL_SUCCESS)                                                   \
            return clmd_err_set((err), CLMD_ERUNTIME, "OpenCL: %s failed: %s (%s:%d)", #call, \
                                clmd_ocl_errstr(cl_check_rc_), __FILE__, __LINE__);       \
    } while (0)

/* Sets kernel argument idx to the value of variable v. */
#define CLMD_ARG(kernel, idx, v, err) CL_CHECK(clSetKernelArg((kernel), (idx), sizeof(v), &(v)), err)

#endif
