#include "probe/probe.h"

#include <string.h>
#include <time.h>

#include "buildinfo.h"
#include "core/json.h"
#include "core/mem.h"

/* Name and nesting level of each probe, in enum order. */
static const struct {
    const char *name;
    int level;
} table[P_NPROBES] = {
    [P_TOTAL] = {"md_loop", 0},          [P_SETUP] = {"setup", 0},
    [P_NLIST_CHECK] = {"nlist_check", 1}, [P_NLIST_BUILD] = {"nlist_build", 1},
    [P_NLIST_PRUNE] = {"nlist_prune", 1},
    [P_UPLOAD] = {"upload", 1},          [P_DOWNLOAD] = {"download", 1},
    [P_FORCE_CLEAR] = {"force_clear", 1}, [P_NONBONDED] = {"nonbonded", 1},
    [P_PAIRS14] = {"pairs14", 1},        [P_BONDED] = {"bonded", 1},
    [P_CMAP] = {"cmap", 1},
    [P_PME_SPREAD] = {"pme_spread", 2},  [P_PME_GRID_COPY] = {"pme_grid_copy", 2},
    [P_PME_FFT_FWD] = {"pme_fft_forward", 2}, [P_PME_CONVOLVE] = {"pme_convolve", 2},
    [P_PME_INFLUENCE] = {"pme_influence", 2},
    [P_PME_FFT_INV] = {"pme_fft_inverse", 2}, [P_PME_GATHER] = {"pme_gather", 2},
    [P_GB_RADII] = {"gb_radii", 1},      [P_GB_FORCE] = {"gb_force", 1},
    [P_SA] = {"surface_area", 1},        [P_VSITE_BUILD] = {"vsite_build", 1},
    [P_VSITE_SPREAD] = {"vsite_spread", 1}, [P_INTEGRATE] = {"integrate", 1},
    [P_CONSTRAINTS] = {"constraints", 1}, [P_ENERGY] = {"energy", 1},
    [P_OUT_TRAJ] = {"output_trajectory", 1}, [P_OUT_ENERGY] = {"output_energies", 1},
    [P_CHECKPOINT] = {"checkpoint", 1},  [P_REMD_EXCHANGE] = {"remd_exchange", 1},
    [P_BAROSTAT] = {"barostat", 1},      [P_BOX_SCALE] = {"box_scale", 2},
    [P_PRESSURE] = {"pressure", 1},      [P_REMD_MD] = {"remd_md", 1},
    [P_REMD_ENERGIES] = {"remd_energies", 1}, [P_MPI_WAIT] = {"mpi_wait", 2},
    [P_MINIMIZE] = {"minimize", 0},
};

enum { MAX_SAMPLES = 200000, MAX_COUNTERS = 32, MAX_INFO = 48 };

typedef struct phase {
    long calls;
    long untimed;   /* device calls counted without a timing (sampled launches) */
    double total_ns;
    double t0;
    int device;
    float *samples; /* ns, the first MAX_SAMPLES calls */
    int nsamples, cap;
} phase;

struct clmd_probe {
    int enabled;
    int loop_id; /* begin_loop calls so far (the OpenCL layer times each phase's first launch
                  * of a loop) */
    phase ph[P_NPROBES];
    char counter_name[MAX_COUNTERS][48];
    long counter[MAX_COUNTERS];
    int ncounters;
    char info_key[MAX_INFO][48];
    char info_val[MAX_INFO][256];
    int ninfo;
};

double clmd_probe_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

clmd_probe *clmd_probe_create(int enabled)
{
    clmd_probe *p = clmd_alloc(sizeof *p);
    p->enabled = enabled;
    return p;
}

void clmd_probe_destroy(clmd_probe **pp)
{
    if (!pp || !*pp) return;
    for (int i = 0; i < P_NPROBES; i++) clmd_free((*pp)->ph[i].samples);
    clmd_free(*pp);
    *pp = NULL;
}

int clmd_probe_enabled(const clmd_probe *p) { return p && p->enabled; }

void clmd_probe_start(clmd_probe *p, clmd_probe_id id)
{
    if (!p || !p->enabled) return;
    p->ph[id].t0 = clmd_probe_clock_ns();
}

void clmd_probe_add_sample(clmd_probe *p, clmd_probe_id id, double ns)
{
    if (!p || !p->enabled) return;
    phase *ph = &p->ph[id];
    ph->calls++;
    ph->total_ns += ns;
    if (ph->nsamples < MAX_SAMPLES) {
        if (ph->nsamples == ph->cap) {
            int nc = ph->cap ? 2 * ph->cap : 256;
            ph->samples = clmd_realloc(ph->samples, sizeof(float) * ph->cap, sizeof(float) * nc);
            ph->cap = nc;
        }
        ph->samples[ph->nsamples++] = (float)ns;
    }
}

void clmd_probe_stop(clmd_probe *p, clmd_probe_id id)
{
    if (!p || !p->enabled) return;
    clmd_probe_add_sample(p, id, clmd_probe_clock_ns() - p->ph[id].t0);
}

/* Phases outside the MD loop: no share of it, kept by clmd_probe_begin_loop. */
static int before_loop(int i) { return i == P_SETUP || i == P_MINIMIZE; }

void clmd_probe_begin_loop(clmd_probe *p)
{
    if (!p) return;
    p->loop_id++;
    for (int i = 0; i < P_NPROBES; i++) {
        if (before_loop(i)) continue;
        phase *ph = &p->ph[i];
        ph->calls = 0;
        ph->untimed = 0;
        ph->total_ns = 0;
        ph->nsamples = 0;
    }
    for (int k = 0; k < p->ncounters; k++) p->counter[k] = 0;
}

void clmd_probe_set_device(clmd_probe *p, clmd_probe_id id)
{
    if (p) p->ph[id].device = 1;
}

void clmd_probe_add_untimed(clmd_probe *p, clmd_probe_id id)
{
    if (!p || !p->enabled) return;
    p->ph[id].calls++;
    p->ph[id].untimed++;
    p->ph[id].device = 1;
}

/* The phase's time: the sum of its timings, scaled by calls over timed calls when only some
 * were timed. */
static double phase_ns(const struct phase *ph)
{
    const long timed = ph->calls - ph->untimed;
    return ph->untimed > 0 && timed > 0 ? ph->total_ns * (double)ph->calls / (double)timed : ph->total_ns;
}

static int counter_slot(clmd_probe *p, const char *name, int create)
{
    for (int i = 0; i < p->ncounters; i++)
        if (strcmp(p->counter_name[i], name) == 0) return i;
    if (!create || p->ncounters == MAX_COUNTERS) return -1;
    snprintf(p->counter_name[p->ncounters], sizeof p->counter_name[0], "%s", name);
    return p->ncounters++;
}

void clmd_probe_count(clmd_probe *p, const char *name, long delta)
{
    if (!p) return;
    int k = counter_slot(p, name, 1);
    if (k >= 0) p->counter[k] += delta;
}

long clmd_probe_counter(const clmd_probe *p, const char *name)
{
    if (!p) return 0;
    int k = counter_slot((clmd_probe *)p, name, 0);
    return k >= 0 ? p->counter[k] : 0;
}

long clmd_probe_calls(const clmd_probe *p, clmd_probe_id id) { return p ? p->ph[id].calls : 0; }
int clmd_probe_loop_id(const clmd_probe *p) { return p ? p->loop_id : 0; }

long clmd_probe_timed_calls(const clmd_probe *p, clmd_probe_id id)
{
    return p ? p->ph[id].calls - p->ph[id].untimed : 0;
}

double clmd_probe_total_ms(const clmd_probe *p, clmd_probe_id id)
{
    return p ? phase_ns(&p->ph[id]) * 1e-6 : 0;
}

const char *clmd_probe_name(clmd_probe_id id) { return table[id].name; }

void clmd_probe_set_info(clmd_probe *p, const char *key, const char *value)
{
    if (!p) return;
    int k = 0;
    while (k < p->ninfo && strcmp(p->info_key[k], key) != 0) k++;
    if (k == MAX_INFO) return;
    if (k == p->ninfo) p->ninfo++;
    snprintf(p->info_key[k], sizeof p->info_key[k], "%s", key);
    snprintf(p->info_val[k], sizeof p->info_val[k], "%s", value ? value : "");
}

void clmd_probe_report(const clmd_probe *p, long steps, FILE *out)
{
    if (!p || !p->enabled) return;
    double loop = p->ph[P_TOTAL].total_ns;
    fprintf(out, "\n%-26s %10s %12s %10s %7s\n", "phase", "calls", "total ms", "ms/step", "share");
    for (int i = 0; i < P_NPROBES; i++) {
        const phase *ph = &p->ph[i];
        if (ph->calls == 0) continue;
        char label[64];
        snprintf(label, sizeof label, "%*s%s%s", 2 * table[i].level, "", table[i].name,
                 ph->device ? " [dev]" : "");
        double ms = phase_ns(ph) * 1e-6;
        fprintf(out, "%-26s %10ld %12.3f %10.4f", label, ph->calls, ms,
                steps > 0 ? ms / (double)steps : 0.0);
        if (loop > 0 && !before_loop(i)) fprintf(out, " %6.1f%%\n", 100.0 * phase_ns(ph) / loop);
        else fprintf(out, " %7s\n", "");
    }
    fprintf(out, "share: of md_loop's wall time. Indented rows are part of the row above them;\n"
                 "[dev] rows are device time from OpenCL events, which runs while the host rows\n"
                 "run (a host row that waits for the device, e.g. nlist_check's one read per step,\n"
                 "absorbs the kernels queued before it), so the shares do not add up to 100%%.\n");
    for (int k = 0; k < p->ncounters; k++)
        fprintf(out, "%-26s %10ld\n", p->counter_name[k], p->counter[k]);
}

int clmd_probe_write_json(const clmd_probe *p, long steps, const char *path, clmd_err *err)
{
    if (!p) return CLMD_OK;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return clmd_err_set(err, CLMD_ERUNTIME, "%s: cannot write probe report", path);
    clmd_json j;
    clmd_json_init(&j, f);
    clmd_json_begin_object(&j, NULL);
    clmd_json_string(&j, "schema", "clmd-probes/1");
    clmd_json_begin_object(&j, "build");
    clmd_json_string(&j, "version", CLMD_VERSION);
    clmd_json_string(&j, "git_commit", CLMD_GIT_COMMIT);
    clmd_json_string(&j, "compiler", CLMD_COMPILER);
    clmd_json_string(&j, "flags", CLMD_CFLAGS);
    clmd_json_end_object(&j);
    clmd_json_begin_object(&j, "info");
    for (int k = 0; k < p->ninfo; k++) clmd_json_string(&j, p->info_key[k], p->info_val[k]);
    clmd_json_end_object(&j);
    clmd_json_int(&j, "steps", steps);
    double loop = p->ph[P_TOTAL].total_ns;
    clmd_json_number(&j, "loop_ms", loop * 1e-6);
    clmd_json_number(&j, "steps_per_s", loop > 0 ? steps / (loop * 1e-9) : 0.0);
    clmd_json_begin_object(&j, "counters");
    for (int k = 0; k < p->ncounters; k++) clmd_json_int(&j, p->counter_name[k], p->counter[k]);
    clmd_json_end_object(&j);
    clmd_json_begin_array(&j, "phases");
    for (int i = 0; i < P_NPROBES; i++) {
        const phase *ph = &p->ph[i];
        if (ph->calls == 0) continue;
        clmd_json_begin_object(&j, NULL);
        clmd_json_string(&j, "name", table[i].name);
        clmd_json_int(&j, "level", table[i].level);
        clmd_json_bool(&j, "device", ph->device);
        clmd_json_int(&j, "calls", ph->calls);
        if (ph->untimed) clmd_json_int(&j, "timed_calls", ph->calls - ph->untimed);
        clmd_json_number(&j, "total_ms", phase_ns(ph) * 1e-6);
        clmd_json_number(&j, "ms_per_step", steps > 0 ? phase_ns(ph) * 1e-6 / steps : 0.0);
        clmd_json_number(&j, "share", loop > 0 && !before_loop(i) ? phase_ns(ph) / loop : 0.0);
        clmd_json_begin_array(&j, "samples_ns");
        for (int s = 0; s < ph->nsamples; s++) {
            if (s) fputc(',', f);
            fprintf(f, "%.0f", (double)ph->samples[s]);
        }
        clmd_json_end_array(&j);
        clmd_json_end_object(&j);
    }
    clmd_json_end_array(&j);
    clmd_json_end_object(&j);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return clmd_err_set(err, CLMD_ERUNTIME, "%s: error writing probe report", path);
    }
    return CLMD_OK;
}
