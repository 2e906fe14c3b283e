#include "remd/comm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"

#ifdef CLMD_HAVE_MPI
#include <mpi.h>
#endif

static clmd_comm world = {0, 1, 0};
static double wait_s;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void clmd_comm_init(int *argc, char ***argv, clmd_comm *c)
{
    (void)argc;
    (void)argv;
    world.rank = 0;
    world.size = 1;
    world.mpi = 0;
#ifdef CLMD_HAVE_MPI
    /* only under a launcher (mpirun sets these): a plain start stays one process and needs no
     * MPI installation at run time beyond the library itself */
    int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
    if (launched && MPI_Init(argc, argv) == MPI_SUCCESS) {
        world.mpi = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    }
#endif
    if (c) *c = world;
}

void clmd_comm_finish(clmd_comm *c)
{
#ifdef CLMD_HAVE_MPI
    if (world.mpi) MPI_Finalize();
#endif
    world.mpi = 0;
    if (c) c->mpi = 0;
}

const clmd_comm *clmd_comm_world(void) { return &world; }

void clmd_comm_abort(int code)
{
#ifdef CLMD_HAVE_MPI
    if (world.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)code;
}

void clmd_comm_block(const clmd_comm *c, int rank, int R, int *first, int *count)
{
    int base = R / c->size, extra = R % c->size;
    *first = rank * base + (rank < extra ? rank : extra);
    *count = base + (rank < extra ? 1 : 0);
}

#ifdef CLMD_HAVE_MPI
static int counts_displs(const clmd_comm *c, int R, int per, int **counts, int **displs)
{
    CLMD_NEW(*counts, c->size);
    CLMD_NEW(*displs, c->size);
    for (int p = 0; p < c->size; p++) {
        int f, n;
        clmd_comm_block(c, p, R, &f, &n);
        (*counts)[p] = n * per;
        (*displs)[p] = f * per;
    }
    return 0;
}
#endif

int clmd_comm_allgather(const clmd_comm *c, int R, int per, const double *mine, double *all,
                        clmd_err *err)
{
    if (!c->mpi || c->size == 1) {
        memcpy(all, mine, sizeof(double) * (size_t)R * (size_t)per);
        return CLMD_OK;
    }
#ifdef CLMD_HAVE_MPI
    int *counts, *displs, f, n;
    counts_displs(c, R, per, &counts, &displs);
    clmd_comm_block(c, c->rank, R, &f, &n);
    double t0 = now_s();
    int rc = MPI_Allgatherv(mine, n * per, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE,
                            MPI_COMM_WORLD);
    wait_s += now_s() - t0;
    clmd_free(counts);
    clmd_free(displs);
    if (rc != MPI_SUCCESS) return clmd_err_set(err, CLMD_ERUNTIME, "MPI_Allgatherv failed (%d)", rc);
#endif
    (void)err;
    return CLMD_OK;
}

int clmd_comm_gather(const clmd_comm *c, int R, int per, const double *mine, double *all,
                     clmd_err *err)
{
    if (!c->mpi || c->size == 1) {
        memcpy(all, mine, sizeof(double) * (size_t)R * (size_t)per);
        return CLMD_OK;
    }
#ifdef CLMD_HAVE_MPI
    int *counts, *displs, f, n;
    counts_displs(c, R, per, &counts, &displs);
    clmd_comm_block(c, c->rank, R, &f, &n);
    double t0 = now_s();
    int rc = MPI_Gatherv(mine, n * per, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0,
                         MPI_COMM_WORLD);
    wait_s += now_s() - t0;
    clmd_free(counts);
    clmd_free(displs);
    if (rc != MPI_SUCCESS) return clmd_err_set(err, CLMD_ERUNTIME, "MPI_Gatherv failed (%d)", rc);
#endif
    (void)err;
    return CLMD_OK;
}

int clmd_comm_gather_bytes(const clmd_comm *c, int nmine, const long *sizes, const void *bytes,
                           int *nall, long **all_sizes, void **all, clmd_err *err)
{
    long mine = 0;
    for (int i = 0; i < nmine; i++) mine += sizes[i];
    *nall = 0;
    *all_sizes = NULL;
    *all = NULL;
    if (!c->mpi || c->size == 1) {
        *nall = nmine;
        CLMD_NEW(*all_sizes, nmine + 1);
        memcpy(*all_sizes, sizes, sizeof(long) * (size_t)nmine);
        *all = clmd_alloc((size_t)mine + 1);
        memcpy(*all, bytes, (size_t)mine);
        return CLMD_OK;
    }
#ifdef CLMD_HAVE_MPI
    double t0 = now_s();
    int *nb = NULL, *nd = NULL, *bc = NULL, *bd = NULL, mine_i = (int)mine;
    const int root = c->rank == 0;
    if (root) {
        CLMD_NEW(nb, c->size);
        CLMD_NEW(nd, c->size);
        CLMD_NEW(bc, c->size);
        CLMD_NEW(bd, c->size);
    }
    int rc = mine > 0x7fffffffL ? MPI_ERR_COUNT : MPI_SUCCESS;
    /* how many blobs and bytes each rank has, then their sizes, then the bytes */
    if (rc == MPI_SUCCESS) rc = MPI_Gather(&nmine, 1, MPI_INT, nb, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) rc = MPI_Gather(&mine_i, 1, MPI_INT, bc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS && root) {
        long at = 0;
        for (int p = 0; p < c->size; p++) {
            nd[p] = *nall;
            *nall += nb[p];
            bd[p] = (int)at;
            at += bc[p];
            if (at > 0x7fffffffL) rc = MPI_ERR_COUNT;
        }
        CLMD_NEW(*all_sizes, *nall + 1);
        *all = clmd_alloc((size_t)at + 1);
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(sizes, nmine, MPI_LONG, *all_sizes, nb, nd, MPI_LONG, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(bytes, mine_i, MPI_BYTE, *all, bc, bd, MPI_BYTE, 0, MPI_COMM_WORLD);
    wait_s += now_s() - t0;
    clmd_free(nb);
    clmd_free(nd);
    clmd_free(bc);
    clmd_free(bd);
    if (rc != MPI_SUCCESS) return clmd_err_set(err, CLMD_ERUNTIME, "MPI_Gatherv of checkpoint data failed (%d)", rc);
#endif
    (void)err;
    return CLMD_OK;
}

int clmd_comm_bcast(const clmd_comm *c, double *v, int n, clmd_err *err)
{
    (void)v;
    (void)n;
    (void)err;
#ifdef CLMD_HAVE_MPI
    if (c->mpi && c->size > 1) {
        double t0 = now_s();
        int rc = MPI_Bcast(v, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        wait_s += now_s() - t0;
        if (rc != MPI_SUCCESS) return clmd_err_set(err, CLMD_ERUNTIME, "MPI_Bcast failed (%d)", rc);
    }
#else
    (void)c;
#endif
    return CLMD_OK;
}

long clmd_comm_max(const clmd_comm *c, long x)
{
#ifdef CLMD_HAVE_MPI
    if (c->mpi && c->size > 1) {
        long y = x;
        double t0 = now_s();
        MPI_Allreduce(&x, &y, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
        wait_s += now_s() - t0;
        return y;
    }
#else
    (void)c;
#endif
    return x;
}

double clmd_comm_wait_s(void) { return wait_s; }
