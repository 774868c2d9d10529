"""Plot a finished examples/ising_sweep.toml batch against Onsager's exact solution.

    simhost batch examples/ising_sweep.toml --out ising_sweep.batch
    /usr/bin/python3 examples/plot_ising_sweep.py ising_sweep.batch [--png FILE]

It reads the runs with simhost.open_batch(DIR).runs when simhost can be imported, and
otherwise DIR/summary.csv (the same columns), so it runs with NumPy, pandas and matplotlib
alone. The replicates of each beta are averaged; the error bars are the standard error of
that mean from the replicates' spread. Two panels, <|m|> and <e> per site against beta, are
drawn over the infinite lattice's exact values with beta_c marked, and written to
ising_sweep.png next to the batch folder (--png to choose the file). It prints the table
and exits non-zero where the physics is clearly wrong far from beta_c.
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd
from onsager import BETA_C, onsager_energy, onsager_magnetization  # examples/onsager.py


def read_runs(folder):
    """The batch's runs table: simhost's reader when it is there, else summary.csv."""
    try:
        import simhost
    except ImportError:  # a plain interpreter without simhost on its path
        simhost = None
    if hasattr(simhost, "open_batch"):
        return simhost.open_batch(folder).runs
    return pd.read_csv(os.path.join(folder, "summary.csv"))


def main():
    ap = argparse.ArgumentParser(description="Plot an ising_sweep batch against Onsager.")
    ap.add_argument("folder", nargs="?", default="ising_sweep.batch",
                    help="the batch folder (default ./ising_sweep.batch)")
    ap.add_argument("--png", "--out", dest="png",
                    help="PNG to write (default ising_sweep.png next to the folder)")
    args = ap.parse_args()
    folder = args.folder.rstrip("/") or "/"
    png = args.png or os.path.join(os.path.dirname(os.path.abspath(folder)), "ising_sweep.png")

    runs = read_runs(folder)
    done = runs[runs["status"] == "done"]
    if len(done) < len(runs):
        print(f"{len(runs) - len(done)} of {len(runs)} runs are not done; plotting the rest",
              file=sys.stderr)
    if done.empty:
        print(f"no finished runs in {folder}", file=sys.stderr)
        return 1

    # One row per beta: the mean over its replicates and the standard error of that mean.
    by_beta = done.groupby("beta")[["abs_m", "energy"]]
    mean, n = by_beta.mean(), by_beta.count()
    err = by_beta.std(ddof=1) / np.sqrt(n)  # NaN where a beta has a single replicate
    betas = mean.index.to_numpy()
    size = f"L = {int(done['L'].iloc[0])}, " if "L" in done else ""
    lo, hi = int(n["abs_m"].min()), int(n["abs_m"].max())
    reps = str(hi) if lo == hi else f"{lo}-{hi}"
    label = f"ising2d, {size}mean of {reps} runs"

    exact_m = np.array([onsager_magnetization(b) for b in betas])
    exact_e = np.array([onsager_energy(b) for b in betas])
    print(f"{len(done)} runs, {reps} replicates per beta; beta_c = {BETA_C:.4f}")
    print(f"{'beta':>6} {'<|m|>':>17} {'Onsager':>8}   {'<e>':>17} {'Onsager':>8} {'dev/SE':>7}")
    for k, b in enumerate(betas):
        dev = (mean["energy"].iloc[k] - exact_e[k]) / err["energy"].iloc[k]
        print(f"{b:6.3f} {mean['abs_m'].iloc[k]:7.4f} +- {err['abs_m'].iloc[k]:.4f}"
              f" {exact_m[k]:8.4f}   {mean['energy'].iloc[k]:7.4f} +- {err['energy'].iloc[k]:.4f}"
              f" {exact_e[k]:8.4f} {dev:7.1f}")

    import matplotlib

    matplotlib.use("Agg")  # writes files, needs no display
    import matplotlib.pyplot as plt

    fine = np.linspace(betas.min(), betas.max(), 800)
    fig, (ax_m, ax_e) = plt.subplots(1, 2, figsize=(12, 5))
    ax_m.plot(fine, [onsager_magnetization(b) for b in fine], "k-", lw=1.5,
              label="Onsager (infinite lattice)")
    ax_e.plot(fine, [onsager_energy(b) for b in fine], "k-", lw=1.5,
              label="Onsager (infinite lattice)")
    ax_m.errorbar(betas, mean["abs_m"], yerr=err["abs_m"], fmt="o", ms=4, capsize=3,
                  color="tab:blue", label=label)
    ax_e.errorbar(betas, mean["energy"], yerr=err["energy"], fmt="o", ms=4, capsize=3,
                  color="tab:red", label=label)
    for ax in (ax_m, ax_e):
        ax.axvline(BETA_C, color="tab:gray", ls="--", lw=1,
                   label=r"$\beta_c = \ln(1+\sqrt{2})/2$")
        ax.set_xlabel(r"inverse temperature $\beta$ [$1/J$]")
        ax.grid(True, alpha=0.3)
    ax_m.set(ylabel=r"$\langle |m| \rangle$ per site (dimensionless)", title="magnetization")
    ax_e.set(ylabel=r"$\langle e \rangle$ per site [$J$]", title="energy")
    ax_m.legend(loc="upper left", fontsize="small")
    ax_e.legend(loc="upper right", fontsize="small")
    fig.suptitle(f"2D Ising batch {os.path.basename(os.path.abspath(folder))}: {len(done)} runs, "
                 f"error bars 1 standard error over the replicates")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")

    # Far from beta_c a 32 x 32 lattice is within a few 1e-3 of the exact values; anything off
    # by 0.03 means the kernel or the spec is broken (a field h, for one, moves both curves).
    bad = [f"beta={b}: <|m|> = {mean['abs_m'].iloc[k]:.4f}" for k, b in enumerate(betas)
           if b >= 0.5 and abs(mean["abs_m"].iloc[k] - exact_m[k]) > 0.03]
    bad += [f"beta={b}: <e> = {mean['energy'].iloc[k]:.4f}" for k, b in enumerate(betas)
            if abs(b - BETA_C) > 0.06 and abs(mean["energy"].iloc[k] - exact_e[k]) > 0.03]
    if bad:
        print("far from Onsager's solution: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
