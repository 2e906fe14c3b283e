#!/usr/bin/env python3
"""MBAR analysis of a clmd replica-exchange campaign.

Reads OUTDIR/replica_exchange.h5 (layout: src/io/remdlog.h), drops an equilibration fraction of
the exchange rounds, subsamples the rest by the statistical inefficiency of the campaign's total
reduced energy (pymbar.timeseries), and runs pymbar's MBAR (pymbar 3 or 4, through
scripts/pymbar_compat.py) on the reduced energies u[replica][state] of every kept round. Prints
the reduced free-energy differences between all states with their uncertainties, the overlap
matrix and the mean potential energy of each state, and writes OUTDIR/mbar.json and
OUTDIR/mbar.png (free energy against state with error bars; the overlap matrix as a heat map).

A Hamiltonian ladder (replica_exchange.lambdas: the attributes lambda_sterics and
lambda_electrostatics; REST2: solute_temperatures) is printed and plotted by those parameters,
and its mean potential is <U_k> in state k (each state has its own potential); f_k - f_0 is then
the free energy difference of the two Hamiltonians in kT (docs/free_energy.md).

For a temperature ladder the reduced free energy is f_k = -ln Z_k (Z_k the configurational
partition function at T_k), so f_k - f_0 = -ln(Z_k / Z_0) is meaningful even though the states
differ in temperature; F_k = kT_k f_k in kJ/mol is not a difference of one Hamiltonian's free
energies and is not printed.

Needs pymbar, h5py and matplotlib: on Debian `apt-get install python3-pymbar python3-h5py
python3-matplotlib` (for /usr/bin/python3), else `pip install pymbar h5py matplotlib`
(docs/guide.md, "Replica exchange").
Usage: scripts/remd_mbar.py OUTDIR [--discard 0.1] [--json FILE] [--png FILE] [--no-plot]
Exit status: 0 success, 1 bad input or usage, 2 MBAR failed.
"""

import argparse
import json
import logging
import os
import sys

# A campaign that is still running holds the file open for writing: read it without the lock
# (the log is flushed after every round). Must be set before HDF5 opens anything.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

KB = 0.00831446261815324  # kJ/mol/K, clmd's CLMD_BOLTZMANN (docs/guide.md, units)


def fail(msg, code=1):
    print(f"remd_mbar: error: {msg}", file=sys.stderr)
    sys.exit(code)


def read_log(path):
    """The log's arrays and ladder. energies [T][R][K], states [T][R] (after each round's swap)."""
    import h5py
    import numpy as np

    if not os.path.isfile(path):
        fail(f"{path}: no such file (is OUTDIR the output.directory of a campaign?)")
    try:
        with h5py.File(path, "r") as f:
            for name in ("energies", "states"):
                if name not in f:
                    fail(f"{path}: no /{name} dataset: not a clmd replica-exchange log")
            u = np.asarray(f["energies"][...], dtype=float)
            states = np.asarray(f["states"][...], dtype=int)
            attrs = dict(f.attrs)
    except OSError as e:
        fail(f"{path}: cannot read: {e}")
    if u.ndim != 3 or states.ndim != 2 or u.shape[:2] != states.shape:
        fail(f"{path}: energies {u.shape} and states {states.shape} do not match the layout "
             "[round][replica][state], [round][replica]")
    T, R, K = u.shape
    if R != K:
        fail(f"{path}: {R} replicas for {K} states (clmd campaigns have one replica per state)")
    temps = np.asarray(attrs.get("temperatures", []), dtype=float).ravel()
    if temps.size != K:
        fail(f"{path}: attribute 'temperatures' has {temps.size} values for {K} states")
    for t in range(T):
        if sorted(states[t]) != list(range(K)):
            fail(f"{path}: round {t}: states {states[t].tolist()} are not a permutation of 0..{K - 1}")
    pressure = attrs.get("pressure_bar")
    pressure = float(np.asarray(pressure).ravel()[0]) if pressure is not None else None
    interval = int(attrs["exchange_interval"]) if "exchange_interval" in attrs else None
    # Hamiltonian ladders (one temperature): the lambdas of an alchemical ladder or REST2's
    # solute temperatures, per state; None for a temperature ladder
    ham = {}
    for name in ("lambda_sterics", "lambda_electrostatics", "solute_temperatures"):
        if name in attrs:
            v = np.asarray(attrs[name], dtype=float).ravel()
            if v.size != K:
                fail(f"{path}: attribute '{name}' has {v.size} values for {K} states")
            ham[name] = v
    return u, states, temps, pressure, interval, ham or None


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="MBAR free energies and overlap of a clmd replica-exchange campaign.")
    ap.add_argument("outdir", help="the campaign's output.directory (holds replica_exchange.h5)")
    ap.add_argument("--discard", type=float, default=0.1, metavar="FRACTION",
                    help="fraction of the exchange rounds dropped as equilibration (default 0.1)")
    ap.add_argument("--json", metavar="FILE", help="results as JSON (default OUTDIR/mbar.json)")
    ap.add_argument("--png", metavar="FILE", help="the plot (default OUTDIR/mbar.png)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    ap.add_argument("--verbose", action="store_true", help="show pymbar's own warnings")
    a = ap.parse_args(argv)
    if not (0 <= a.discard < 1):
        fail(f"--discard must be in [0, 1), got {a.discard}")

    if not a.verbose:
        # pymbar warns at import (JAX missing, the timeseries caveat) through logging
        logging.getLogger("pymbar").setLevel(logging.ERROR)
    try:
        import numpy as np
        import pymbar_compat as pm
    except ImportError as e:
        fail(f"{e}: install the analysis packages (Debian: `apt-get install python3-pymbar "
             "python3-h5py python3-matplotlib`; pip: `pip install pymbar h5py matplotlib`)")

    path = os.path.join(a.outdir, "replica_exchange.h5")
    u, states, temps, pressure, interval, ham = read_log(path)
    T, R, K = u.shape

    # Row t of /energies was evaluated on the configurations after MD segment t, which each
    # replica sampled in the state it held *before* round t's swap: states[t-1] (the start,
    # replica r in state r, for t = 0).
    before = np.empty_like(states)
    before[0] = np.arange(R)
    before[1:] = states[:-1]

    t0 = int(np.floor(a.discard * T))
    if T - t0 < 10:
        fail(f"{path}: {T} rounds, {T - t0} after discarding {a.discard:g}: too few for MBAR")
    rows = np.arange(t0, T)
    # The campaign's total reduced energy, sum over replicas of u in the state each sampled:
    # its correlation time covers both the dynamics and the walk over the ladder (as openmmtools
    # subsamples its replica-exchange samples).
    u_total = np.array([u[t, np.arange(R), before[t]].sum() for t in rows])
    g = pm.statistical_inefficiency(u_total)
    keep = rows[pm.subsample_correlated_data(u_total, g)]
    n = keep.size

    # u_kn: samples ordered by the state that drew them; every round draws one sample per state.
    u_kn = np.empty((K, K * n))
    for k in range(K):
        for i, t in enumerate(keep):
            r = int(np.nonzero(before[t] == k)[0][0])
            u_kn[:, k * n + i] = u[t, r, :]
    N_k = np.full(K, n, dtype=int)

    try:
        mbar = pm.mbar(u_kn, N_k)
        Df, dDf = pm.free_energy_differences(mbar)
        O, overlap_scalar = pm.overlap(mbar)
    except Exception as e:  # pymbar raises plain exceptions (ParameterError, LinAlgError, ...)
        fail(f"MBAR failed: {e}", 2)

    # The potential (kJ/mol; with a barostat U + PV, what the exchange uses) of every sample,
    # from its reduced energy in any state: u_k = U / kT_k. A Hamiltonian ladder has one
    # potential per state: <U_k> in state k, a state-dependent observable.
    if ham:
        U_mbar, dU_mbar = pm.expectations(mbar, u_kn * KB * temps[:, None], state_dependent=True)
    else:
        U_mbar, dU_mbar = pm.expectations(mbar, u_kn[0] * KB * temps[0])
    # Directly: every kept round's sample of each state (not subsampled), error from its own
    # statistical inefficiency.
    U_direct, dU_direct, g_state = np.zeros(K), np.zeros(K), np.zeros(K)
    for k in range(K):
        series = np.array([u[t, np.nonzero(before[t] == k)[0][0], k] for t in rows]) * KB * temps[k]
        gk = pm.statistical_inefficiency(series) if series.std() > 0 else 1.0
        U_direct[k] = series.mean()
        dU_direct[k] = series.std(ddof=1) * np.sqrt(gk / series.size)
        g_state[k] = gk

    # The acceptance a swap between any two states would have, from every kept round's pair of
    # samples: min(1, exp(-delta)) averaged. The neighbour pairs repeat the measured acceptance;
    # the others tell how a sparser ladder would mix (e.g. every other state).
    A = np.eye(K)
    for i in range(K):
        for j in range(i + 1, K):
            acc = []
            for t in rows:
                a_, b_ = np.nonzero(before[t] == i)[0][0], np.nonzero(before[t] == j)[0][0]
                d = u[t, a_, j] + u[t, b_, i] - u[t, a_, i] - u[t, b_, j]
                acc.append(min(1.0, float(np.exp(-d))) if d > 0 else 1.0)
            A[i, j] = A[j, i] = float(np.mean(acc))

    unit = "U + PV" if pressure is not None else "U"
    if ham:  # print and plot the states by their Hamiltonian parameters
        keys = list(ham)
        short = {"lambda_sterics": "l_ster", "lambda_electrostatics": "l_elec", "solute_temperatures": "T_sol (K)"}
        col = " ".join(f"{short[k]:>9}" for k in keys)
        vals = [" ".join(f"{ham[k][i]:9.4g}" for k in keys) for i in range(K)]
        labels = ["/".join(f"{ham[k][i]:g}" for k in keys) for i in range(K)]
        axis = "state (" + "/".join(short[k] for k in keys) + ")"
    else:
        col = f"{'T (K)':>9}"
        vals = [f"{x:9.3f}" for x in temps]
        labels = [f"{x:.0f}" for x in temps]
        axis = "state (K)"
    print(f"{path}: {K} states, {T} exchange rounds"
          + (f" of {interval} steps" if interval else "")
          + f"; discarded {t0} ({a.discard:g}), statistical inefficiency {g:.2f} rounds, "
          f"{n} samples per state ({K * n} in all)")
    print("\nreduced free energy f_k - f_0 = -ln(Z_k/Z_0), kT units of each state, +- 1 sigma:")
    print(f"{'state':>5} {col} {'f_k - f_0':>12} {'sigma':>8} {'f_k+1 - f_k':>12} {'sigma':>8}")
    for k in range(K):
        nxt = (f"{Df[k, k + 1]:12.4f} {dDf[k, k + 1]:8.4f}" if k + 1 < K else "")
        print(f"{k:5d} {vals[k]} {Df[0, k]:12.4f} {dDf[0, k]:8.4f} {nxt}")
    print(f"\nmean potential <{unit}> per state (kJ/mol), MBAR and direct (+- 1 sigma):")
    print(f"{'state':>5} {col} {'MBAR':>12} {'sigma':>8} {'direct':>12} {'sigma':>8} {'g (rounds)':>10}")
    for k in range(K):
        print(f"{k:5d} {vals[k]} {U_mbar[k]:12.3f} {dU_mbar[k]:8.3f} {U_direct[k]:12.3f} "
              f"{dU_direct[k]:8.3f} {g_state[k]:10.2f}")
    print("\noverlap matrix (row k: where state k's samples would be counted; "
          "off-diagonal < 0.03 is poor overlap):")
    for k in range(K):
        print("  " + " ".join(f"{O[k, j]:6.3f}" for j in range(K)))
    print(f"overlap: 1 - (second largest eigenvalue) = {overlap_scalar:.4f}; "
          f"neighbour overlaps " + " ".join(f"{O[k, k + 1]:.3f}" for k in range(K - 1)))
    print("\nswap acceptance estimated for every pair of states (from the kept rounds' samples; "
          "the first off-diagonal is the ladder's own):")
    for k in range(K):
        print("  " + " ".join(f"{A[k, j]:6.3f}" for j in range(K)))

    out = {
        "log": os.path.abspath(path),
        "temperatures_K": temps.tolist(),
        **({k: v.tolist() for k, v in ham.items()} if ham else {}),
        "pressure_bar": pressure,
        "exchange_interval": interval,
        "rounds": T,
        "discarded_rounds": t0,
        "statistical_inefficiency_rounds": g,
        "samples_per_state": n,
        "f": Df[0].tolist(),
        "df": dDf[0].tolist(),
        "Delta_f": Df.tolist(),
        "dDelta_f": dDf.tolist(),
        "overlap_matrix": O.tolist(),
        "overlap_scalar": overlap_scalar,
        "potential": unit,
        "mean_potential_mbar_kJ_mol": U_mbar.tolist(),
        "mean_potential_mbar_sigma": dU_mbar.tolist(),
        "mean_potential_direct_kJ_mol": U_direct.tolist(),
        "mean_potential_direct_sigma": dU_direct.tolist(),
        "state_inefficiency_rounds": g_state.tolist(),
        "swap_acceptance_estimate": A.tolist(),
    }
    jpath = a.json or os.path.join(a.outdir, "mbar.json")
    tmp = jpath + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, jpath)
    print(f"\nwrote {jpath}")

    if not a.no_plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            fail(f"{e}: install matplotlib, or pass --no-plot")
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
        if ham:
            ax1.errorbar(range(K), Df[0], yerr=dDf[0], fmt="o-", capsize=3)
            ax1.set_xticks(range(K), labels, rotation=45)
            ax1.set_xlabel(axis)
        else:
            ax1.errorbar(temps, Df[0], yerr=dDf[0], fmt="o-", capsize=3)
            ax1.set_xlabel("temperature (K)")
        ax1.set_ylabel(r"$f_k - f_0 = -\ln(Z_k/Z_0)$")
        ax1.set_title(f"MBAR reduced free energies ({n} samples/state)")
        ax1.grid(alpha=0.3)
        im = ax2.imshow(O, cmap="viridis", vmin=0, vmax=max(float(O.max()), 1e-9))
        for i in range(K):
            for j in range(K):
                if K <= 12:
                    ax2.text(j, i, f"{O[i, j]:.2f}", ha="center", va="center", fontsize=7,
                             color="white" if O[i, j] < 0.6 * O.max() else "black")
        ax2.set_xticks(range(K), labels, rotation=45)
        ax2.set_yticks(range(K), labels)
        ax2.set_xlabel(axis)
        ax2.set_ylabel(axis)
        ax2.set_title("MBAR overlap matrix")
        fig.colorbar(im, ax=ax2)
        fig.tight_layout()
        ppath = a.png or os.path.join(a.outdir, "mbar.png")
        fig.savefig(ppath, dpi=110)
        print(f"wrote {ppath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
