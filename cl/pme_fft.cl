/* PME's reciprocal space on the device (src/ff/pme_fft.c): the real-to-complex 3-D FFT of the
 * charge grid, the convolution with the influence function and the complex-to-real inverse, as
 * FFTW's unnormalized r2c/c2r on the half-complex grid [K0][K1][K2/2+1] (z fastest).
 *
 * Each axis is a batch of 1-D complex FFTs: one work-group transforms FFT_T lines held in local
 * memory ([j][t], element j of line t at j * FFT_T + t) by Stockham auto-sort passes of radix
 * 2, 3, 4, 5 or 7, ping-ponging between two local buffers (one barrier per pass). Twiddles come
 * from a table exp(-2 pi i m / N), m < N, made in double on the host. Inverse transforms are
 * conj(FFT(conj(x))), so only the forward passes exist.
 * The z axis packs two real rows a, b into one complex line a + i b and unpacks the two
 * half-spectra after the transform (and the reverse for c2r), so no work is spent on zero
 * imaginary parts. The x axis, the last forward one, also multiplies by the influence function,
 * sums the energy and runs the x inverse in the same kernel (pme_fft_lines, mode 2): the
 * spectrum is read and written once between the y passes.
 *
 * Program defines (set by src/ff/pme_fft.c), one program per axis:
 *   FFT_AXIS 0, 1, 2    transform axis (x, y, z)
 *   FFT_N               line length (the grid size along FFT_AXIS)
 *   FFT_T               lines per work-group (z: pairs of real rows)
 *   FFT_WG              work-group size (a power of two)
 *   FFT_NPASS, FFT_R0.. radices of the passes, product FFT_N
 *   GRID_K0, GRID_K1, GRID_K2, GRID_H2 (= K2/2 + 1)
 *   HAVE_FP64           energy sums in double where the device has it
 * Nothing here uses floating-point atomics: the energy is one fixed-point integer add per
 * work-group of a fixed-order tree sum, so results are the same bits every run. */

typedef float2 cpx;

#if HAVE_FP64
typedef double esum;
#else
typedef float esum;
#endif

inline cpx cmul(cpx a, cpx b) { return (cpx)(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
inline cpx conj_c(cpx a) { return (cpx)(a.x, -a.y); }
inline cpx mul_mi(cpx a) { return (cpx)(a.y, -a.x); } /* -i a */

/* Forward DFTs of size R in place: v_k = sum_m v_m exp(-2 pi i k m / R). The odd ones pair
 * v_k and v_{R-k} = A_k -+ i B_k with A_k = v0 + sum_m (v_m + v_{R-m}) cos(2 pi k m / R) and
 * B_k = sum_m (v_m - v_{R-m}) sin(2 pi k m / R), m = 1..(R-1)/2. */
inline void dft2(cpx *v)
{
    const cpx a = v[0], b = v[1];
    v[0] = a + b;
    v[1] = a - b;
}

inline void dft3(cpx *v)
{
    const cpx s = v[1] + v[2], d = v[1] - v[2];
    const cpx a = v[0] - 0.5f * s, b = mul_mi(0.866025403784438647f * d);
    v[0] = v[0] + s;
    v[1] = a + b;
    v[2] = a - b;
}

inline void dft4(cpx *v)
{
    const cpx s02 = v[0] + v[2], d02 = v[0] - v[2], s13 = v[1] + v[3], d13 = mul_mi(v[1] - v[3]);
    v[0] = s02 + s13;
    v[1] = d02 + d13;
    v[2] = s02 - s13;
    v[3] = d02 - d13;
}

inline void dft5(cpx *v)
{
    const float c1 = 0.309016994374947424f, c2 = -0.809016994374947424f;
    const float s1 = 0.951056516295153572f, s2 = 0.587785252292473129f;
    const cpx S1 = v[1] + v[4], D1 = v[1] - v[4], S2 = v[2] + v[3], D2 = v[2] - v[3];
    const cpx A1 = v[0] + c1 * S1 + c2 * S2, B1 = mul_mi(s1 * D1 + s2 * D2);
    const cpx A2 = v[0] + c2 * S1 + c1 * S2, B2 = mul_mi(s2 * D1 - s1 * D2);
    v[0] = v[0] + S1 + S2;
    v[1] = A1 + B1;
    v[4] = A1 - B1;
    v[2] = A2 + B2;
    v[3] = A2 - B2;
}

inline void dft7(cpx *v)
{
    const float c1 = 0.623489801858733531f, c2 = -0.222520933956314404f,
                c3 = -0.900968867902419126f;
    const float s1 = 0.781831482468029809f, s2 = 0.974927912181823607f, s3 = 0.433883739117558120f;
    const cpx S1 = v[1] + v[6], D1 = v[1] - v[6], S2 = v[2] + v[5], D2 = v[2] - v[5];
    const cpx S3 = v[3] + v[4], D3 = v[3] - v[4];
    const cpx A1 = v[0] + c1 * S1 + c2 * S2 + c3 * S3, B1 = mul_mi(s1 * D1 + s2 * D2 + s3 * D3);
    const cpx A2 = v[0] + c2 * S1 + c3 * S2 + c1 * S3, B2 = mul_mi(s2 * D1 - s3 * D2 - s1 * D3);
    const cpx A3 = v[0] + c3 * S1 + c1 * S2 + c2 * S3, B3 = mul_mi(s3 * D1 - s1 * D2 + s2 * D3);
    v[0] = v[0] + S1 + S2 + S3;
    v[1] = A1 + B1;
    v[6] = A1 - B1;
    v[2] = A2 + B2;
    v[5] = A2 - B2;
    v[3] = A3 + B3;
    v[4] = A3 - B3;
}

/* One Stockham pass of radix R over the FFT_T lines: Ns is the length of the sub-transforms
 * already done. Butterfly j of a line reads elements j + m N/R, twiddles them by
 * exp(-2 pi i m (j mod Ns) / (Ns R)) and writes (j - j mod Ns) R + j mod Ns + m Ns. */
inline void fft_pass(__local const cpx *in, __local cpx *out, const int Ns, const int R,
                     __global const cpx *restrict tw)
{
    const int nb = FFT_N / R, tws = FFT_N / (Ns * R);
    for (int b = get_local_id(0); b < FFT_T * nb; b += FFT_WG) {
        const int t = b % FFT_T, j = b / FFT_T, k = j % Ns;
        cpx v[7];
        for (int m = 0; m < R; m++) v[m] = in[(j + m * nb) * FFT_T + t];
        if (Ns > 1)
            for (int m = 1; m < R; m++) v[m] = cmul(v[m], tw[m * k * tws]);
        if (R == 2) dft2(v);
        else if (R == 3) dft3(v);
        else if (R == 4) dft4(v);
        else if (R == 5) dft5(v);
        else dft7(v);
        const int d = (j - k) * R + k;
        for (int m = 0; m < R; m++) out[(d + m * Ns) * FFT_T + t] = v[m];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Forward FFT of the FFT_T lines in a, using b as the other buffer; returns the one holding
 * the result. The radices are program constants, so every pass is specialized. */
#define FFT_STEP(R)                   \
    {                                 \
        fft_pass(a, b, ns, (R), tw);  \
        ns *= (R);                    \
        __local cpx *const s_ = a;    \
        a = b;                        \
        b = s_;                       \
    }
inline __local cpx *fft_lines(__local cpx *a, __local cpx *b, __global const cpx *restrict tw)
{
    int ns = 1;
#if FFT_NPASS > 0
    FFT_STEP(FFT_R0)
#endif
#if FFT_NPASS > 1
    FFT_STEP(FFT_R1)
#endif
#if FFT_NPASS > 2
    FFT_STEP(FFT_R2)
#endif
#if FFT_NPASS > 3
    FFT_STEP(FFT_R3)
#endif
#if FFT_NPASS > 4
    FFT_STEP(FFT_R4)
#endif
#if FFT_NPASS > 5
    FFT_STEP(FFT_R5)
#endif
#if FFT_NPASS > 6
    FFT_STEP(FFT_R6)
#endif
#if FFT_NPASS > 7
    FFT_STEP(FFT_R7)
#endif
#if FFT_NPASS > 8
    FFT_STEP(FFT_R8)
#endif
#if FFT_NPASS > 9
    FFT_STEP(FFT_R9)
#endif
#if FFT_NPASS > 10
    FFT_STEP(FFT_R10)
#endif
#if FFT_NPASS > 11
    FFT_STEP(FFT_R11)
#endif
#if FFT_NPASS > 12
#error "pme_fft.cl: more than 12 FFT passes"
#endif
    return a;
}

#if FFT_AXIS == 2
/* Real rows of the grid, taken in pairs (2p, 2p + 1); the last pair of an odd count has no
 * second row. */
#define NROWS (GRID_K0 * GRID_K1)

/* Forward z transforms: the fixed-point charge grid (value * FIXED_SCALE, cleared here for
 * the next spread) to the half-complex grid c. With Z = FFT(a + i b), the spectra of the real
 * rows are A_k = (Z_k + conj Z_{N-k}) / 2 and B_k = (Z_k - conj Z_{N-k}) / 2i, k = 0..N/2. */
__kernel __attribute__((reqd_work_group_size(FFT_WG, 1, 1)))
void pme_fft_z_r2c(__global long *restrict grid_fixed, __global cpx *restrict c,
                   __global const cpx *restrict tw)
{
    __local cpx buf[2 * FFT_T * FFT_N];
    /* batched grids: the second dimension of the launch is the grid */
    grid_fixed += (size_t)get_group_id(1) * NROWS * FFT_N;
    c += (size_t)get_group_id(1) * NROWS * GRID_H2;
    const int p0 = get_group_id(0) * FFT_T;
    for (int i = get_local_id(0); i < FFT_T * FFT_N; i += FFT_WG) {
        const int t = i % FFT_T, j = i / FFT_T, ra = 2 * (p0 + t), rb = ra + 1;
        float a = 0, b = 0;
        if (ra < NROWS) {
            const size_t o = (size_t)ra * FFT_N + j;
            a = (float)grid_fixed[o] * (1.0f / FIXED_SCALE);
            grid_fixed[o] = 0;
        }
        if (rb < NROWS) {
            const size_t o = (size_t)rb * FFT_N + j;
            b = (float)grid_fixed[o] * (1.0f / FIXED_SCALE);
            grid_fixed[o] = 0;
        }
        buf[i] = (cpx)(a, b);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __local const cpx *r = fft_lines(buf, buf + FFT_T * FFT_N, tw);
    for (int i = get_local_id(0); i < FFT_T * GRID_H2; i += FFT_WG) {
        const int t = i % FFT_T, k = i / FFT_T, ra = 2 * (p0 + t), rb = ra + 1;
        if (ra >= NROWS) continue;
        const cpx z = r[i], zm = r[(k == 0 ? 0 : FFT_N - k) * FFT_T + t];
        c[(size_t)ra * GRID_H2 + k] = 0.5f * (cpx)(z.x + zm.x, z.y - zm.y);
        if (rb < NROWS) c[(size_t)rb * GRID_H2 + k] = 0.5f * (cpx)(z.y + zm.y, zm.x - z.x);
    }
}

/* Inverse z transforms: half-complex grid c to the real potential grid phi [K0][K1][K2]. The
 * full spectrum of a + i b is Z_k = A_k + i B_k, Z_{N-k} = conj A_k + i conj B_k; as FFTW's
 * c2r, the imaginary parts of A_0 and A_{N/2} (zero for Hermitian data) are ignored. */
__kernel __attribute__((reqd_work_group_size(FFT_WG, 1, 1)))
void pme_fft_z_c2r(__global const cpx *restrict c, __global float *restrict phi,
                   __global const cpx *restrict tw)
{
    __local cpx buf[2 * FFT_T * FFT_N];
    c += (size_t)get_group_id(1) * NROWS * GRID_H2;
    phi += (size_t)get_group_id(1) * NROWS * FFT_N;
    const int p0 = get_group_id(0) * FFT_T;
    for (int i = get_local_id(0); i < FFT_T * GRID_H2; i += FFT_WG) {
        const int t = i % FFT_T, k = i / FFT_T, ra = 2 * (p0 + t), rb = ra + 1;
        cpx A = 0, B = 0;
        if (ra < NROWS) A = c[(size_t)ra * GRID_H2 + k];
        if (rb < NROWS) B = c[(size_t)rb * GRID_H2 + k];
        const int self_mirror = k == 0 || 2 * k == FFT_N;
        if (self_mirror) A.y = B.y = 0;
        /* conjugated on the way in: the inverse is conj(FFT(conj Z)) */
        buf[i] = (cpx)(A.x - B.y, -(A.y + B.x));
        if (!self_mirror) buf[(FFT_N - k) * FFT_T + t] = (cpx)(A.x + B.y, A.y - B.x);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __local const cpx *r = fft_lines(buf, buf + FFT_T * FFT_N, tw);
    for (int i = get_local_id(0); i < FFT_T * FFT_N; i += FFT_WG) {
        const int t = i % FFT_T, j = i / FFT_T, ra = 2 * (p0 + t), rb = ra + 1;
        const cpx y = r[i]; /* conj(a + i b) */
        if (ra < NROWS) phi[(size_t)ra * FFT_N + j] = y.x;
        if (rb < NROWS) phi[(size_t)rb * FFT_N + j] = -y.y;
    }
}

#else
/* Lines along y (K0 * H2 of them, line (x, kz) starting at x K1 H2 + kz, stride H2) or along x
 * (K1 * H2, line ky H2 + kz, stride K1 H2) of the half-complex grid. Consecutive lines are
 * consecutive in memory (within one x plane for y), so a work-group's loads are coalesced. */
#if FFT_AXIS == 1
#define LINE_INNER GRID_H2
#define LINE_OUTER_STRIDE (GRID_K1 * GRID_H2)
#define LINE_STRIDE GRID_H2
#define NLINES (GRID_K0 * GRID_H2)
#else
#define LINE_INNER (GRID_K1 * GRID_H2)
#define LINE_OUTER_STRIDE 0
#define LINE_STRIDE (GRID_K1 * GRID_H2)
#define NLINES (GRID_K1 * GRID_H2)
#endif

inline size_t line_start(int L)
{
    const int o = L / LINE_INNER;
    return (size_t)o * LINE_OUTER_STRIDE + (size_t)(L - o * LINE_INNER);
}

/* Saturated (never an undefined conversion); the reciprocal energy is bounded by the charges
 * and cannot come near the limit for finite positions, which the engine checks. */
inline long esum_to_fixed(esum v)
{
    esum s = v * (esum)FIXED_SCALE;
    if (!(fabs(s) < (esum)4.0e18)) s = copysign((esum)4.0e18, s);
    return (long)(s + (s >= 0 ? (esum)0.5 : (esum)-0.5));
}

/* mode 0: forward transforms in place; 1: inverse; 2 (x axis): forward, multiply by the
 * influence function g (same layout as c), inverse. With want_energy, mode 2 adds
 * 1/2 sum G |S|^2 over the full grid (each stored kz other than 0 and K2/2 stands for its
 * mirror too) into energy[e_index], in fixed point. */
__kernel __attribute__((reqd_work_group_size(FFT_WG, 1, 1)))
void pme_fft_lines(__global cpx *restrict c, __global const cpx *restrict tw, const int mode,
                   __global const float *restrict g, __global long *restrict energy,
                   const int e_index, const int want_energy, const int e_stride)
{
    __local cpx buf[2 * FFT_T * FFT_N];
    __local esum red[FFT_WG];
    c += (size_t)get_group_id(1) * GRID_K0 * GRID_K1 * GRID_H2;
    energy += get_group_id(1) * e_stride;
    const int L0 = get_group_id(0) * FFT_T, lid = get_local_id(0);
    for (int i = lid; i < FFT_T * FFT_N; i += FFT_WG) {
        const int t = i % FFT_T, j = i / FFT_T;
        cpx v = 0;
        if (L0 + t < NLINES) v = c[line_start(L0 + t) + (size_t)j * LINE_STRIDE];
        buf[i] = mode == 1 ? conj_c(v) : v;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __local cpx *r = fft_lines(buf, buf + FFT_T * FFT_N, tw);
    if (mode == 2) {
        esum e = 0;
        for (int i = lid; i < FFT_T * FFT_N; i += FFT_WG) {
            const int t = i % FFT_T, j = i / FFT_T, L = L0 + t;
            if (L >= NLINES) continue;
            const float gk = g[line_start(L) + (size_t)j * LINE_STRIDE];
            const cpx s = r[i];
            const int kz = L % GRID_H2;
            const esum w = kz == 0 || 2 * kz == GRID_K2 ? 1 : 2;
            e += w * (esum)gk * ((esum)s.x * s.x + (esum)s.y * s.y);
            r[i] = conj_c(gk * s);
        }
        if (want_energy) {
            red[lid] = e;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int s = FFT_WG / 2; s > 0; s >>= 1) {
                if (lid < s) red[lid] += red[lid + s];
                barrier(CLK_LOCAL_MEM_FENCE);
            }
            if (lid == 0) atom_add(&energy[e_index], esum_to_fixed((esum)0.5 * red[0]));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        r = fft_lines(r, r == buf ? buf + FFT_T * FFT_N : buf, tw);
    }
    for (int i = lid; i < FFT_T * FFT_N; i += FFT_WG) {
        const int t = i % FFT_T, j = i / FFT_T;
        if (L0 + t >= NLINES) continue;
        const cpx v = r[i];
        c[line_start(L0 + t) + (size_t)j * LINE_STRIDE] = mode == 0 ? v : conj_c(v);
    }
}
#endif
