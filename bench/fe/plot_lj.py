#!/usr/bin/env python3
"""The figure of docs/free_energy.md for the LJ validation: for every state point analysed by
lj_mu_ex.py (OUT/T*_rho*_windows/result.json), f(lambda) - f(0) with its MBAR error bars and the
EOS values of mu_ex/kT, and the MBAR overlap matrix of the first state point.

Usage: plot_lj.py [--out DIR] [--png FILE]   (defaults: out/fe, docs/free_energy_lj.png)
"""
import argparse
import glob
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "out", "fe"))
    ap.add_argument("--png", default=os.path.join(REPO, "docs", "free_energy_lj.png"))
    a = ap.parse_args()
    res = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(a.out, "T*_windows", "result.json")))]
    if not res:
        raise SystemExit(f"plot_lj: no result.json under {a.out}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.4))
    for r in res:
        lam = r["ladder_sterics"]
        O = np.array(r["overlap_matrix"])
        ax1.plot(lam, r["f_k"], "o-", ms=4, label=f"T*={r['T_star']:g}, rho*={r['rho_star']:g}")
    ax1.set_xlabel("lambda_sterics")
    ax1.set_ylabel("f(lambda) - f(0)  (kT)")
    ax1.set_title("MBAR free energy along the ladder (f(1) - f(0) = mu_ex/kT)", fontsize=9)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    names = sorted(res[0]["eos"])
    for i, r in enumerate(res):
        x = i
        ax2.errorbar([x], [r["mu_ex_over_kT"]], yerr=[r["sigma"]], fmt="ko", capsize=4,
                     label="clmd MBAR" if i == 0 else None)
        if "ti_trapezoid_mu_ex_over_kT" in r:
            ax2.errorbar([x + 0.12], [r["ti_trapezoid_mu_ex_over_kT"]], yerr=[r["ti_sigma"]], fmt="s", color="gray",
                         capsize=4, ms=4, label="clmd TI" if i == 0 else None)
        for j, n in enumerate(names):
            ax2.plot([x - 0.25 + 0.08 * j], [r["eos"][n]["mu_ex_over_kT"]], "_", ms=14, mew=2,
                     color=f"C{j}", label=n if i == 0 else None)
        ax2.fill_between([x - 0.35, x + 0.35], r["mu_ex_over_kT"] - 0.05, r["mu_ex_over_kT"] + 0.05, color="k",
                         alpha=0.07)
    ax2.set_xticks(range(len(res)), [f"T*={r['T_star']:g}\nrho*={r['rho_star']:g}" for r in res])
    ax2.set_ylabel("mu_ex / kT")
    ax2.set_title("clmd against the EOS models (band: +-0.05 kT)", fontsize=9)
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    r = res[0]
    im = ax3.imshow(np.array(r["overlap_matrix"]), cmap="viridis", vmin=0)
    lab = [f"{x:g}" for x in r["ladder_sterics"]]
    ax3.set_xticks(range(len(lab)), lab, rotation=60, fontsize=7)
    ax3.set_yticks(range(len(lab)), lab, fontsize=7)
    ax3.set_title(f"MBAR overlap, T*={r['T_star']:g} rho*={r['rho_star']:g}", fontsize=9)
    fig.colorbar(im, ax=ax3, fraction=0.046)
    fig.tight_layout()
    fig.savefig(a.png, dpi=90)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
