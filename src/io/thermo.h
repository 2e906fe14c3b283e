/* Plain values shared by the output writers (H5MD trajectory, energy log): the thermodynamic
 * state of one sample and a view of a per-particle 3-vector array as the caller holds it.
 * Nothing here owns memory. */
#ifndef CLMD_IO_THERMO_H
#define CLMD_IO_THERMO_H

/* One sample of the energies (kJ/mol) and the instantaneous temperature (K). */
typedef struct clmd_thermo {
    double potential;
    double kinetic;
    double total;
    double temperature_k;
} clmd_thermo;

/* n particles' (x, y, z), either float or double, `stride` values per particle with x, y, z
 * first: 3 for packed [3n] arrays, 4 for float4/double4 device layouts (xyz + charge).
 * Exactly one of f and d is set; stride 0 means 3. */
typedef struct clmd_vec3s {
    const float *f;
    const double *d;
    int stride;
} clmd_vec3s;

#endif
