"""clmd's performance-regression harness (standard library only; see bench/README.md).

Modules: stats (medians, speedups, regression rule), capsule (the clmd-bench/1 file and host
facts), systems (benchmark systems and the clmd decks built from them), clmd (the clmd runner and
fidelity), peers (OpenMM, LAMMPS, GROMACS runners), registry (the list of benchmarks), harness
(the interleaved run loop), report (docs/benchmarks.md).
"""


class Blocked(Exception):
    """A runner cannot produce a measurement; str(e) is the reason put in the row."""
