"""MBAR helpers shared by bench/fe's scripts (pymbar 3 or 4, through scripts/pymbar_compat.py),
applied the same way to clmd's and openmmtools' replica-exchange energies and to independent
lambda windows.

Replica exchange (mbar_replica_exchange): u[t][r][k] is replica r's reduced energy in state k at
iteration t, sampled[t][r] the state that replica was propagated in before that evaluation
(clmd's replica_exchange.h5: the states row of t - 1; openmmtools: its own row t). Drop the
first `discard` fraction, subsample every replica's rows together by a statistical inefficiency
(g_from "differences", the default: of sum_r of each replica's energy difference to the next
state; "total": of the total reduced energy sum_r u[t][r][sampled[t][r]], as scripts/remd_mbar.py
and openmmtools' analyzer, which for a solvated system is dominated by the solvent's own
fluctuations), one sample per state per kept row.

Windows (mbar_windows): u_kln[k] = [K][F_k], window k's frames evaluated in every state; each
window subsampled by the statistical inefficiency of its energy difference to a neighbour.
"""
import logging
import os
import sys

import numpy as np

logging.getLogger("pymbar").setLevel(logging.ERROR)
# the one place that maps pymbar 3's and 4's names (imported where pymbar is first needed)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))


def _mbar(u_kn, N_k):
    import pymbar_compat as pm
    m = pm.mbar(u_kn, N_k)
    Df, dDf = pm.free_energy_differences(m)
    return {"Delta_f": Df, "dDelta_f": dDf, "overlap": pm.overlap(m)[0], "N_k": np.asarray(N_k)}


def mbar_replica_exchange(u, sampled, discard=0.1, states=None, g_from="differences"):
    """MBAR of a replica-exchange energy matrix; `states` restricts it to a subset of the states
    (the samples drawn in them, evaluated in them). u and sampled may also be lists, one entry per
    independent run of the same ladder: each is equilibrated and subsampled on its own, and the
    samples are pooled."""
    import pymbar_compat as pm
    runs = list(zip(u, sampled)) if isinstance(u, (list, tuple)) else [(u, sampled)]
    K = runs[0][0].shape[2]
    sel = list(range(K)) if states is None else list(states)
    per_state = {k: [] for k in sel}
    gs, rows_all, disc, kept = [], 0, 0, 0
    for uu, ss in runs:
        T, R, _ = uu.shape
        t0 = int(np.floor(discard * T))
        rows = np.arange(t0, T)
        ar = np.arange(R)
        if g_from == "total":  # scripts/remd_mbar.py's (and openmmtools' analyzer's) choice
            u_tot = np.array([uu[t, ar, ss[t]].sum() for t in rows])
        else:
            # what MBAR's estimates are made of: every replica's energy difference to the next
            # state of the ladder (the previous one for the last), summed over the replicas. The
            # total energy of a solvated system also carries the solvent's own, slower and much
            # larger fluctuations, which do not enter the free-energy differences.
            nb = np.where(ss < K - 1, ss + 1, ss - 1)
            u_tot = np.array([(uu[t, ar, nb[t]] - uu[t, ar, ss[t]]).sum() for t in rows])
        g = pm.statistical_inefficiency(u_tot)
        keep = rows[pm.subsample_correlated_data(u_tot, g)]
        for k in sel:
            for t in keep:
                r = int(np.nonzero(ss[t] == k)[0][0])
                per_state[k].append(uu[t, r, sel])
        gs.append(g)
        rows_all += T
        disc += t0
        kept += int(keep.size)
    u_kn = np.array([c for k in sel for c in per_state[k]]).T
    out = _mbar(u_kn, np.array([len(per_state[k]) for k in sel]))
    out.update(g=gs[0] if len(gs) == 1 else gs, rows=rows_all, discarded=disc, kept=kept, states=sel, runs=len(runs))
    return out


def mbar_windows(u_kln):
    """MBAR of independent windows: u_kln[k] is [K][F_k]."""
    import pymbar_compat as pm
    K = len(u_kln)
    parts, N_k, gs = [], [], []
    for k, u in enumerate(u_kln):
        nb = [j for j in (k - 1, k + 1) if 0 <= j < K]
        g = 1.0
        for j in nb:
            d = u[j] - u[k]
            if np.std(d) > 0:
                g = max(g, pm.statistical_inefficiency(d))
        idx = pm.subsample_correlated_data(u[nb[0]] - u[k], g)
        parts.append(u[:, idx])
        N_k.append(idx.size)
        gs.append(g)
    out = _mbar(np.concatenate(parts, axis=1), np.array(N_k))
    out["g"] = gs
    return out


def summary(res, i, j):
    """f_j - f_i and its uncertainty."""
    return float(res["Delta_f"][i, j]), float(res["dDelta_f"][i, j])
