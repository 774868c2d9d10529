"""The 2D Ising model's magnetization and energy across the phase transition, with
simhost's built-in `ising2d` kernel, against Onsager's exact solution.

Run it with the host binary or with a plain Python that can import simhost:

    simhost examples/ising_magnetization.py --out ising.png
    PYTHONPATH=build/release/python python3 examples/ising_magnetization.py

For a few lattice sizes L and inverse temperatures beta around the critical point
beta_c = ln(1 + sqrt 2) / 2 = 0.4407, it equilibrates a lattice, averages |m| and the energy
per site over the following sweeps, prints them next to the exact infinite-lattice values
and plots both. Below T_c (beta > beta_c) the lattice orders and |m| follows Onsager's
spontaneous magnetization; above it |m| falls towards 0 as L grows (for a finite lattice
it is ~1/L there). The exit status is non-zero if the physics is clearly wrong.
"""

import argparse
import math
import sys

import numpy as np

import simhost

BETA_C = 0.5 * math.log(1.0 + math.sqrt(2.0))


def onsager_magnetization(beta):
    """Spontaneous magnetization per site of the infinite lattice (C. N. Yang, 1952)."""
    return 0.0 if beta <= BETA_C else (1.0 - math.sinh(2.0 * beta) ** -4) ** 0.125


def elliptic_k(k):
    """Complete elliptic integral of the first kind K(k), by the arithmetic-geometric mean."""
    a, b = 1.0, math.sqrt(1.0 - k * k)
    while abs(a - b) > 1e-15 * a:
        a, b = 0.5 * (a + b), math.sqrt(a * b)
    return math.pi / (2.0 * a)


def onsager_energy(beta):
    """Internal energy per site of the infinite lattice, in units of J (Onsager, 1944)."""
    t = math.tanh(2.0 * beta)
    k = 2.0 * math.sinh(2.0 * beta) / math.cosh(2.0 * beta) ** 2
    if k >= 1.0:  # at beta_c exactly K diverges but its prefactor 2 t^2 - 1 vanishes
        return -math.sqrt(2.0)
    return -(1.0 / t) * (1.0 + (2.0 / math.pi) * (2.0 * t * t - 1.0) * elliptic_k(k))


def main():
    ap = argparse.ArgumentParser(description="Ising magnetization vs temperature with simhost.")
    ap.add_argument("--sizes", default="16,32,64", help="lattice sides L (default 16,32,64)")
    ap.add_argument("--sweeps", type=int, default=3000, help="sweeps per point (default 3000)")
    ap.add_argument("--equilibrate", type=int, default=500,
                    help="first sweeps left out of the averages (default 500)")
    ap.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    ap.add_argument("--out", default="ising_magnetization.png",
                    help="PNG to write (default ising_magnetization.png)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    betas = np.round(np.linspace(0.30, 0.70, 17), 4)

    # One kernel call per (L, beta): the whole run is parallel C++ with the GIL released.
    # A cold start (all +1) orders quickly below T_c and melts within a few sweeps above it.
    abs_m = {L: [] for L in sizes}
    energy = {L: [] for L in sizes}
    seconds = 0.0
    for L in sizes:
        for beta in betas:
            r = simhost.kernels.ising2d(L=L, beta=float(beta), sweeps=args.sweeps,
                                        seed=args.seed, start="cold")
            seconds += r.seconds
            abs_m[L].append(np.abs(r.magnetization[args.equilibrate:]).mean())
            energy[L].append(r.energy[args.equilibrate:].mean())

    updates = sum(L * L for L in sizes) * len(betas) * args.sweeps
    print(f"simhost {simhost.__version__}, {simhost.get_threads()} threads: "
          f"{updates:.3g} spin updates in {seconds:.2f} s ({updates / seconds:.3g} per second)")
    print(f"{'beta':>6} " + " ".join(f"{'|m| L=' + str(L):>10}" for L in sizes)
          + f" {'Onsager':>8}   " + " ".join(f"{'e L=' + str(L):>9}" for L in sizes)
          + f" {'Onsager':>8}")
    for k, beta in enumerate(betas):
        print(f"{beta:6.3f} " + " ".join(f"{abs_m[L][k]:10.4f}" for L in sizes)
              + f" {onsager_magnetization(beta):8.4f}   "
              + " ".join(f"{energy[L][k]:9.4f}" for L in sizes) + f" {onsager_energy(beta):8.4f}")

    # Plot with the Agg backend: it writes files and needs no display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fine = np.linspace(betas[0], betas[-1], 400)
    fig, (ax_m, ax_e) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_m.plot(fine, [onsager_magnetization(b) for b in fine], "k-", lw=1.5, label="Onsager")
    ax_e.plot(fine, [onsager_energy(b) for b in fine], "k-", lw=1.5, label="Onsager")
    for L in sizes:
        ax_m.plot(betas, abs_m[L], "o", ms=4, label=f"L = {L}")
        ax_e.plot(betas, energy[L], "o", ms=4, label=f"L = {L}")
    for ax in (ax_m, ax_e):
        ax.axvline(BETA_C, color="gray", ls=":", lw=1)
        ax.set_xlabel("beta = J / kT")
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax_m.set(ylabel="<|m|> per site", title="magnetization (checkerboard Metropolis)")
    ax_e.set(ylabel="<e> per site [J]", title="energy")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")

    # Away from T_c the largest lattice is within a few 1e-3 of the exact values; anything
    # off by 0.03 means the kernel (or the setup) is broken.
    L = max(sizes)
    bad = []
    for k, beta in enumerate(betas):
        if beta >= 0.5 and abs(abs_m[L][k] - onsager_magnetization(beta)) > 0.03:
            bad.append(f"beta={beta}: <|m|> = {abs_m[L][k]:.4f}")
        if abs(beta - BETA_C) > 0.06 and abs(energy[L][k] - onsager_energy(beta)) > 0.03:
            bad.append(f"beta={beta}: <e> = {energy[L][k]:.4f}")
    if bad:
        print("FAILED: far from Onsager's solution: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
