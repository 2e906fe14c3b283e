/* What one OpenCL command costs the host on a device: enqueues of a small kernel with 2 and
 * with 30 arguments, a buffer fill, an asynchronous read into pageable and into pinned memory
 * (with and without a flush), and a buffer copy, each N times in a loop, then one clFinish.
 * Prints microseconds per command (host time of the loop, and with the finish). Not a test:
 * docs/benchmarks-gpu-lists.md ("What a kernel launch costs") has the H100/H200 numbers.
 * Build: cc -O2 -o launch-cost bench/device/launch-cost.c -lOpenCL; run: launch-cost [N]. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static const char *src =
    "__kernel void k2(__global float *a, int n) { int i = get_global_id(0); if (i < n) a[i] += 1.0f; }\n"
    "__kernel void k30(__global float *a0, __global float *a1, __global float *a2, __global float *a3,\n"
    "  __global float *a4, __global float *a5, __global float *a6, __global float *a7, __global float *a8,\n"
    "  __global float *a9, __global float *b0, __global float *b1, __global float *b2, __global float *b3,\n"
    "  __global float *b4, __global float *b5, __global float *b6, __global float *b7, __global float *b8,\n"
    "  __global float *b9, int c0, int c1, int c2, int c3, int c4, float4 d0, float4 d1, float4 d2,\n"
    "  float4 d3, int n) { int i = get_global_id(0); if (i < n) a0[i] += a1[i] + b9[i] + c0 + d0.x; }\n";

static void report(const char *what, double t0, double t1, double t2, int n)
{
    printf("%-44s %7.2f us each, %7.2f with the finish\n", what, (t1 - t0) / n, (t2 - t0) / n);
}

int main(int argc, char **argv)
{
    const int N = argc > 1 ? atoi(argv[1]) : 20000;
    cl_platform_id p[8];
    cl_uint np = 0;
    clGetPlatformIDs(8, p, &np);
    cl_device_id d = 0;
    for (cl_uint i = 0; i < np && !d; i++)
        if (clGetDeviceIDs(p[i], CL_DEVICE_TYPE_GPU, 1, &d, NULL) != CL_SUCCESS) d = 0;
    if (!d && (np == 0 || clGetDeviceIDs(p[0], CL_DEVICE_TYPE_ALL, 1, &d, NULL) != CL_SUCCESS)) {
        fprintf(stderr, "launch-cost: no OpenCL device\n");
        return 1;
    }
    char name[256];
    clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof name, name, NULL);
    printf("device %s, %d commands per row\n", name, N);
    cl_int e;
    cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &e);
    cl_command_queue q = clCreateCommandQueue(c, d, 0, &e);
    cl_program pr = clCreateProgramWithSource(c, 1, &src, NULL, &e);
    if (clBuildProgram(pr, 1, &d, "", NULL, NULL) != CL_SUCCESS) {
        fprintf(stderr, "launch-cost: build failed\n");
        return 1;
    }
    cl_kernel k2 = clCreateKernel(pr, "k2", &e), k30 = clCreateKernel(pr, "k30", &e);
    int n = 2304;
    size_t g = (size_t)(n + 63) / 64 * 64, l = 64;
    cl_mem m[20];
    float zero = 0;
    for (int i = 0; i < 20; i++) {
        m[i] = clCreateBuffer(c, CL_MEM_READ_WRITE, sizeof(float) * (size_t)n, NULL, &e);
        clEnqueueFillBuffer(q, m[i], &zero, sizeof zero, 0, sizeof(float) * (size_t)n, 0, NULL, NULL);
    }
    clSetKernelArg(k2, 0, sizeof(cl_mem), &m[0]);
    clSetKernelArg(k2, 1, sizeof(int), &n);
    for (int i = 0; i < 20; i++) clSetKernelArg(k30, (cl_uint)i, sizeof(cl_mem), &m[i]);
    for (int i = 0; i < 5; i++) clSetKernelArg(k30, (cl_uint)(20 + i), sizeof(int), &i);
    cl_float4 f4 = {{1, 2, 3, 4}};
    for (int i = 0; i < 4; i++) clSetKernelArg(k30, (cl_uint)(25 + i), sizeof f4, &f4);
    clSetKernelArg(k30, 29, sizeof(int), &n);
    cl_mem pin = clCreateBuffer(c, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, 64, NULL, &e);
    void *pinned = clEnqueueMapBuffer(q, pin, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, 64, 0, NULL,
                                      NULL, &e);
    void *pageable = malloc(64);
    clFinish(q);
    double t0, t1, t2;
    cl_event ev;
    t0 = now_us();
    for (int i = 0; i < N; i++) clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, &l, 0, NULL, NULL);
    t1 = now_us(), clFinish(q), t2 = now_us();
    report("kernel, 2 arguments", t0, t1, t2, N);
    t0 = now_us();
    for (int i = 0; i < N; i++) clEnqueueNDRangeKernel(q, k30, 1, NULL, &g, &l, 0, NULL, NULL);
    t1 = now_us(), clFinish(q), t2 = now_us();
    report("kernel, 30 arguments", t0, t1, t2, N);
    t0 = now_us();
    for (int i = 0; i < N; i++)
        clEnqueueFillBuffer(q, m[1], &zero, sizeof zero, 0, sizeof(float) * (size_t)n, 0, NULL, NULL);
    t1 = now_us(), clFinish(q), t2 = now_us();
    report("buffer fill", t0, t1, t2, N);
    void *dst[2] = {pageable, pinned};
    const char *label[2] = {"kernel + async read, pageable, + flush", "kernel + async read, pinned, + flush"};
    for (int k = 0; k < 2; k++) {
        t0 = now_us();
        for (int i = 0; i < N / 10; i++) {
            clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, &l, 0, NULL, NULL);
            clEnqueueReadBuffer(q, m[0], CL_FALSE, 0, 16, dst[k], 0, NULL, &ev);
            clFlush(q);
            clReleaseEvent(ev);
        }
        t1 = now_us(), clFinish(q), t2 = now_us();
        report(label[k], t0, t1, t2, N / 10);
    }
    t0 = now_us();
    for (int i = 0; i < N / 10; i++) {
        clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, &l, 0, NULL, NULL);
        clFlush(q);
    }
    t1 = now_us(), clFinish(q), t2 = now_us();
    report("kernel + flush", t0, t1, t2, N / 10);
    t0 = now_us();
    for (int i = 0; i < N / 10; i++) {
        clEnqueueNDRangeKernel(q, k2, 1, NULL, &g, &l, 0, NULL, NULL);
        clEnqueueCopyBuffer(q, m[0], m[2], 0, 0, 16, 0, NULL, NULL);
    }
    t1 = now_us(), clFinish(q), t2 = now_us();
    report("kernel + buffer copy", t0, t1, t2, N / 10);
    free(pageable);
    return 0;
}
