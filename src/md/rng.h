/* Random numbers for the integrators: Philox4x32-10, counter-based, the same generator as in
 * cl/integrate.cl, so a (key, atom, step) triple gives the same numbers on host and device and
 * a restarted run continues the same random stream without saved generator state. */
#ifndef CLMD_MD_RNG_H
#define CLMD_MD_RNG_H

#include <math.h>
#include <stdint.h>

static inline void clmd_philox(uint32_t ctr[4], const uint32_t key_in[2])
{
    uint32_t key[2] = {key_in[0], key_in[1]};
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0], p1 = (uint64_t)0xCD9E8D57u * ctr[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ ctr[1] ^ key[0], n2 = hi0 ^ ctr[3] ^ key[1];
        ctr[0] = n0;
        ctr[1] = lo1;
        ctr[2] = n2;
        ctr[3] = lo0;
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
}

/* Three standard normals for (atom, step), as the device's gaussian3(). */
static inline void clmd_gaussian3(const uint32_t key[2], uint32_t atom, uint64_t step, double g[3])
{
    uint32_t c[4] = {atom, (uint32_t)step, (uint32_t)(step >> 32), 0x5eedu};
    clmd_philox(c, key);
    double f[4];
    for (int k = 0; k < 4; k++) f[k] = ((double)(c[k] >> 8) + 0.5) / 16777216.0;
    double r1 = sqrt(-2 * log(f[0])), r2 = sqrt(-2 * log(f[2]));
    g[0] = r1 * cos(2 * M_PI * f[1]);
    g[1] = r1 * sin(2 * M_PI * f[1]);
    g[2] = r2 * cos(2 * M_PI * f[3]);
}

/* A uniform number in (0, 1) with 53 random bits, for draw `index` of a stream (a barostat's
 * moves, a replica exchange's swaps): counter-based, so a restart continues the stream from
 * the saved index alone. `purpose` separates several numbers of one draw. */
static inline double clmd_uniform(const uint32_t key[2], uint64_t index, uint32_t purpose)
{
    uint32_t c[4] = {(uint32_t)index, (uint32_t)(index >> 32), purpose, 0x756e69u};
    clmd_philox(c, key);
    uint64_t bits = ((uint64_t)c[0] << 21) ^ ((uint64_t)c[1] >> 11);
    return ((double)(bits & ((1ull << 53) - 1)) + 0.5) / 9007199254740992.0;
}

/* Splits a 64-bit seed into a Philox key (splitmix64 finaliser, so nearby seeds differ). */
static inline void clmd_seed_key(uint64_t seed, uint32_t key[2])
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    key[0] = (uint32_t)z;
    key[1] = (uint32_t)(z >> 32);
}

#endif
