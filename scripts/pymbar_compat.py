"""The few pymbar calls clmd's analysis scripts make, for pymbar 3 and pymbar 4 alike.

pymbar 4 (PyPI) names them in snake_case and returns dicts; pymbar 3 (Debian's python3-pymbar,
3.1.0, which CI installs) in camelCase and returns tuples unless asked for a dict. The estimators
are the same code in both (MBAR's equations, the statistical inefficiency of Chodera et al.
2007), so the numbers agree to the solver's tolerance. Used by scripts/remd_mbar.py and
bench/fe/fe_mbar.py; the importer quiets pymbar's logging itself.

Importing this module imports pymbar: ImportError when it is missing.
"""

import numpy as np
from pymbar import MBAR
from pymbar import timeseries

# pymbar 3 defines the camelCase names only, pymbar 4 the snake_case names only
PYMBAR4 = hasattr(MBAR, "compute_free_energy_differences")


def version():
    """pymbar's version string ('3.x' where the package does not say)."""
    import pymbar
    v = getattr(pymbar, "__version__", None)
    if v is None:  # pymbar 3 keeps it in pymbar.version
        v = getattr(getattr(pymbar, "version", None), "short_version", None)
    return str(v) if v is not None else ("4.x" if PYMBAR4 else "3.x")


def mbar(u_kn, N_k):
    """An MBAR estimator of reduced energies u_kn [K][N] with N_k samples drawn from each state."""
    return MBAR(u_kn, N_k)


def free_energy_differences(m):
    """(Delta_f, dDelta_f), [K][K] arrays: f_j - f_i and its uncertainty (1 sigma)."""
    if PYMBAR4:
        r = m.compute_free_energy_differences(compute_uncertainty=True)
    else:
        r = m.getFreeEnergyDifferences(compute_uncertainty=True, return_dict=True)
    return np.asarray(r["Delta_f"]), np.asarray(r["dDelta_f"])


def overlap(m):
    """(matrix, scalar): the overlap matrix and 1 - its second largest eigenvalue."""
    r = m.compute_overlap() if PYMBAR4 else m.computeOverlap(return_dict=True)
    # the eigenvalue comes from a general eigensolver: complex with a zero imaginary part
    return np.asarray(r["matrix"]), float(np.real(r["scalar"]))


def expectations(m, A_n, state_dependent=False):
    """(mu, sigma), [K] arrays: <A> in every state and its uncertainty. A_n is [N], or [K][N]
    with state_dependent (A_n[k] the observable of state k)."""
    if PYMBAR4:
        r = m.compute_expectations(A_n, compute_uncertainty=True, state_dependent=state_dependent)
    else:
        r = m.computeExpectations(A_n, compute_uncertainty=True, state_dependent=state_dependent,
                                  return_dict=True)
    return np.asarray(r["mu"]), np.asarray(r["sigma"])


def statistical_inefficiency(A_n):
    """The statistical inefficiency g of the time series A_n (samples per independent sample)."""
    if PYMBAR4:
        return float(timeseries.statistical_inefficiency(A_n))
    return float(timeseries.statisticalInefficiency(A_n))


def subsample_correlated_data(A_t, g):
    """Indices of roughly every g-th sample of A_t, as an int array."""
    if PYMBAR4:
        idx = timeseries.subsample_correlated_data(A_t, g=g)
    else:
        idx = timeseries.subsampleCorrelatedData(A_t, g=g)
    return np.asarray(idx, dtype=int)
