"""The 2D Ising model's magnetization and energy across the phase transition, with
simhost's built-in `ising2d` kernel, against Onsager's exact solution.

Run it with the host binary or with a plain Python that can import simhost:

    simhost examples/ising_magnetization.py --out ising.png
    PYTHONPATH=build/release/python /usr/bin/python3 examples/ising_magnetization.py

For a few lattice sizes L and temperatures T around the critical point
T_c = 2 / ln(1 + sqrt 2) = 2.269 J/k_B (beta_c = 1/T_c = 0.4407), it runs a few independent
chains (replicas, each with its own seed) from a cold start, averages |m| and the energy per
site over each chain's sweeps after equilibration, and prints and plots the mean over the
replicas with its standard error (from the replicas' spread), next to the exact
infinite-lattice values. Below T_c the lattice orders and |m| follows Onsager's spontaneous
magnetization; above it |m| falls towards 0 as L grows (for a finite lattice it is ~1/L
there). The exit status is non-zero if the physics is clearly wrong.
"""

import argparse
import math
import sys

import numpy as np

import simhost
from onsager import BETA_C, T_C, onsager_energy, onsager_magnetization  # examples/onsager.py


def main():
    ap = argparse.ArgumentParser(description="Ising magnetization vs temperature with simhost.")
    ap.add_argument("--sizes", default="16,32,64", help="lattice sides L (default 16,32,64)")
    ap.add_argument("--sweeps", type=int, default=1500, help="sweeps per run (default 1500)")
    ap.add_argument("--equilibrate", type=int, default=300,
                    help="first sweeps of each run left out of its averages (default 300)")
    ap.add_argument("--replicas", type=int, default=4,
                    help="independent runs per point, seeds SEED, SEED+1, ... (default 4)")
    ap.add_argument("--seed", type=int, default=2024, help="first random seed (default 2024)")
    ap.add_argument("--out", default="ising_magnetization.png",
                    help="PNG to write (default ising_magnetization.png)")
    args = ap.parse_args()
    if args.replicas < 2:
        ap.error("--replicas must be at least 2 (the error bars come from their spread)")
    if not 0 <= args.equilibrate < args.sweeps:
        ap.error("--equilibrate must be between 0 and --sweeps - 1")
    sizes = [int(s) for s in args.sizes.split(",")]
    temps = np.round(np.linspace(1.5, 3.3, 19), 4)  # T in units of J / k_B, steps of 0.1

    # One kernel call per (L, T, replica): the whole run is parallel C++ with the GIL released.
    # A cold start (all +1) orders quickly below T_c and melts within a few sweeps above it.
    # Each replica has its own seed, so the replicas are independent runs, and the spread of
    # their means gives an honest standard error even where the sweeps are strongly
    # correlated (near T_c).
    abs_m = {L: np.empty((len(temps), args.replicas)) for L in sizes}
    energy = {L: np.empty((len(temps), args.replicas)) for L in sizes}
    seconds = 0.0
    for L in sizes:
        for k, T in enumerate(temps):
            for rep in range(args.replicas):
                r = simhost.kernels.ising2d(L=L, beta=float(1.0 / T), sweeps=args.sweeps,
                                            seed=args.seed + rep, start="cold")
                seconds += r.seconds
                abs_m[L][k, rep] = np.abs(r.magnetization[args.equilibrate:]).mean()
                energy[L][k, rep] = r.energy[args.equilibrate:].mean()

    def mean_and_error(samples):
        """Mean over the replicas and its standard error."""
        return samples.mean(axis=1), samples.std(axis=1, ddof=1) / math.sqrt(samples.shape[1])

    m_mean, m_err, e_mean, e_err = {}, {}, {}, {}
    for L in sizes:
        m_mean[L], m_err[L] = mean_and_error(abs_m[L])
        e_mean[L], e_err[L] = mean_and_error(energy[L])

    updates = sum(L * L for L in sizes) * len(temps) * args.replicas * args.sweeps
    print(f"simhost {simhost.__version__}, {simhost.get_threads()} threads: "
          f"{updates:.3g} spin updates in {seconds:.2f} s ({updates / seconds:.3g} per second)")
    print(f"{args.replicas} replicas per point, {args.sweeps} sweeps each "
          f"(the first {args.equilibrate} left out); T_c = {T_C:.4f} J/k_B")
    print(f"{'T':>5} " + " ".join(f"{'|m| L=' + str(L):>16}" for L in sizes)
          + f" {'Onsager':>8}   " + " ".join(f"{'e L=' + str(L):>16}" for L in sizes)
          + f" {'Onsager':>8}")
    for k, T in enumerate(temps):
        beta = 1.0 / T
        print(f"{T:5.2f} "
              + " ".join(f"{m_mean[L][k]:7.4f} +- {m_err[L][k]:.4f}" for L in sizes)
              + f" {onsager_magnetization(beta):8.4f}   "
              + " ".join(f"{e_mean[L][k]:7.4f} +- {e_err[L][k]:.4f}" for L in sizes)
              + f" {onsager_energy(beta):8.4f}")

    # Plot with the Agg backend: it writes files and needs no display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fine = np.linspace(temps[0], temps[-1], 600)
    fig, (ax_m, ax_e) = plt.subplots(1, 2, figsize=(12, 5))
    ax_m.plot(fine, [onsager_magnetization(1.0 / T) for T in fine], "k-", lw=1.5,
              label="Onsager (infinite lattice)")
    ax_e.plot(fine, [onsager_energy(1.0 / T) for T in fine], "k-", lw=1.5,
              label="Onsager (infinite lattice)")
    for i, L in enumerate(sizes):
        shift = 0.012 * (i - (len(sizes) - 1) / 2)  # spread the error bars apart
        ax_m.errorbar(temps + shift, m_mean[L], yerr=m_err[L], fmt="o", ms=4, capsize=3,
                      label=f"L = {L}")
        ax_e.errorbar(temps + shift, e_mean[L], yerr=e_err[L], fmt="o", ms=4, capsize=3,
                      label=f"L = {L}")
    for ax in (ax_m, ax_e):
        ax.axvline(T_C, color="tab:gray", ls="--", lw=1,
                   label=r"$T_c = 2/\ln(1+\sqrt{2}) \approx %.3f$" % T_C)
        ax.set_xlabel(r"temperature $T$ [$J/k_B$]")
        ax.grid(True, alpha=0.3)
    ax_m.set(ylabel=r"$\langle |m| \rangle$ per site (dimensionless)",
             title="magnetization")
    ax_e.set(ylabel=r"$\langle e \rangle$ per site [$J$]", title="energy")
    ax_m.legend(loc="upper right")
    ax_e.legend(loc="lower right")
    fig.suptitle(f"2D Ising model with ising2d (checkerboard Metropolis): mean of "
                 f"{args.replicas} independent runs of {args.sweeps} sweeps, "
                 f"error bars 1 standard error")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")

    # Away from T_c the largest lattice is within a few 1e-3 of the exact values; anything
    # off by 0.03 means the kernel (or the setup) is broken.
    L = max(sizes)
    bad = []
    for k, T in enumerate(temps):
        beta = 1.0 / T
        if beta >= 0.5 and abs(m_mean[L][k] - onsager_magnetization(beta)) > 0.03:
            bad.append(f"T={T}: <|m|> = {m_mean[L][k]:.4f}")
        if abs(beta - BETA_C) > 0.06 and abs(e_mean[L][k] - onsager_energy(beta)) > 0.03:
            bad.append(f"T={T}: <e> = {e_mean[L][k]:.4f}")
    if bad:
        print("FAILED: far from Onsager's solution: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
