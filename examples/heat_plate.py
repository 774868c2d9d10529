"""Heat on a metal plate with simhost's built-in `heat2d` kernel.

Run it with the host binary or with a plain Python that can import simhost:

    simhost examples/heat_plate.py --out heat_plate.png
    PYTHONPATH=build/release/python python3 examples/heat_plate.py

Two experiments on a square copper plate, 0.1 m on a side, whose edges are held at 20 C
(Dirichlet edges):

1. A hot spot (a disc at 200 C) spreads out; snapshots are taken by calling the kernel
   again on the previous result (chained calls give exactly what one long call gives).
2. A single sine mode, u = sin(p pi x / L) sin(q pi y / L), must keep its shape and shrink
   by exactly lambda = 1 - 4 r (sin^2(p pi h / 2L) + sin^2(q pi h / 2L)) per step: the
   measured factor is compared with lambda, and with the continuous equation's
   exp(-alpha pi^2 (p^2 + q^2) dt / L^2).

It prints what it measured, writes a PNG, and exits non-zero if the physics is wrong (the
decay factor off by more than 1e-12, or temperatures leaving the range of the initial data).
"""

import argparse
import math
import sys
import time

import numpy as np

import simhost

ALPHA = 1.11e-4  # thermal diffusivity of copper, m^2/s
SIDE = 0.1  # plate side, m
EDGE_T = 20.0  # edge temperature, C
SPOT_T = 200.0  # initial temperature of the hot spot, C
R = 0.24  # mesh ratio alpha dt / h^2 (the explicit scheme needs r <= 1/4)
DECAY_TOLERANCE = 1e-12  # relative, measured vs discrete lambda


def main():
    ap = argparse.ArgumentParser(description="Heat spreading on a plate with simhost.heat2d.")
    ap.add_argument("--n", type=int, default=257, help="grid points per side (default 257)")
    ap.add_argument("--out", default="heat_plate.png", help="PNG to write (default heat_plate.png)")
    args = ap.parse_args()

    n = args.n
    h = SIDE / (n - 1)  # grid spacing, m
    dt = R * h * h / ALPHA  # time step, s
    x = np.linspace(0.0, SIDE, n)
    X, Y = np.meshgrid(x, x)  # X[i, j] = x_j, Y[i, j] = y_i
    print(f"simhost {simhost.__version__}, {simhost.get_threads()} threads")
    print(f"plate {SIDE} m x {SIDE} m, {n} x {n} points, h = {h * 1e3:.3f} mm, "
          f"dt = {dt * 1e3:.3f} ms (r = {R})")

    # 1. A hot spot: snapshots by chaining calls; each call advances `steps` steps.
    u = np.full((n, n), EDGE_T)
    u[(X - 0.35 * SIDE) ** 2 + (Y - 0.6 * SIDE) ** 2 < (0.08 * SIDE) ** 2] = SPOT_T
    snapshots = [(0.0, u)]
    spent = 0.0
    for seconds in (0.1, 0.5, 2.0):
        steps = round((seconds - snapshots[-1][0]) / dt)
        t0 = time.perf_counter()
        u = simhost.kernels.heat2d(u0=u, r=R, steps=steps, boundary="dirichlet").u
        spent += time.perf_counter() - t0
        snapshots.append((snapshots[-1][0] + steps * dt, u))
    total_steps = round(snapshots[-1][0] / dt)
    for t, s in snapshots:
        print(f"t = {t:5.2f} s: hottest {s.max():6.2f} C, mean {s.mean():6.2f} C")
    print(f"speed: {total_steps} steps in {spent:.3f} s, "
          f"{n * n * total_steps / spent:.3e} point updates/s")

    # 2. The decay of one sine mode (zero edges, so the mode is exact on the grid).
    p, q, steps = 2, 3, 2000
    mode = np.sin(p * math.pi * X / SIDE) * np.sin(q * math.pi * Y / SIDE)
    mode[0, :] = mode[-1, :] = mode[:, 0] = mode[:, -1] = 0.0
    lam = 1 - 4 * R * (math.sin(p * math.pi * h / (2 * SIDE)) ** 2
                       + math.sin(q * math.pi * h / (2 * SIDE)) ** 2)
    continuous = math.exp(-ALPHA * math.pi**2 * (p * p + q * q) * dt / SIDE**2)
    checkpoints = [0, 250, 500, 1000, 2000]
    amplitude = [1.0]
    v = mode
    for a, b in zip(checkpoints, checkpoints[1:]):
        v = simhost.kernels.heat2d(u0=v, r=R, steps=b - a).u
        # Least-squares amplitude of the mode in v; the shape error shows any leak into others.
        amplitude.append(float(np.sum(v * mode) / np.sum(mode * mode)))
    shape_error = float(np.max(np.abs(v - amplitude[-1] * mode)))
    measured = amplitude[-1] ** (1.0 / steps)
    rel = abs(measured - lam) / lam
    print(f"sine mode (p, q) = ({p}, {q}) after {steps} steps: amplitude {amplitude[-1]:.6e}")
    print(f"  decay per step: measured {measured:.15f}, discrete lambda {lam:.15f} "
          f"(relative difference {rel:.1e})")
    print(f"  continuous equation exp(-alpha pi^2 (p^2+q^2) dt / L^2) = {continuous:.15f} "
          f"(the scheme's O(h^2) error: {abs(lam - continuous) / (1 - continuous):.2e} "
          "of the rate)")
    print(f"  largest departure from the mode's shape: {shape_error:.1e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    extent = (0, SIDE * 100, 0, SIDE * 100)  # cm
    for ax, (t, s) in zip([*axes[0], axes[1, 0]], snapshots):
        im = ax.imshow(s, origin="lower", extent=extent, cmap="inferno", vmin=EDGE_T)
        ax.set(title=f"t = {t:.2f} s", xlabel="x [cm]", ylabel="y [cm]")
        fig.colorbar(im, ax=ax, label="temperature [C]", fraction=0.046)
    ax = axes[1, 1]
    row = int(round(0.6 * (n - 1)))  # the row through the spot's centre
    for t, s in snapshots:
        ax.plot(x * 100, s[row], label=f"t = {t:.2f} s")
    ax.set(xlabel="x [cm]", ylabel="temperature [C]", title=f"cut at y = {x[row] * 100:.1f} cm")
    ax.legend()
    ax.grid(True, alpha=0.3)
    k = np.arange(steps + 1)
    ax = axes[1, 2]
    ax.semilogy(k, lam**k, color="tab:blue", label="discrete: lambda^k")
    ax.semilogy(k, continuous**k, "--", color="tab:gray", label="continuous equation")
    ax.semilogy(checkpoints, amplitude, "o", color="tab:red", label="measured (heat2d)")
    ax.set(xlabel="step k", ylabel="mode amplitude", title=f"decay of the ({p},{q}) sine mode")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")

    ok = True
    if not rel < DECAY_TOLERANCE:
        print(f"FAILED: decay factor off by {rel:.2e} (tolerance {DECAY_TOLERANCE:g})",
              file=sys.stderr)
        ok = False
    lo, hi = min(s.min() for _, s in snapshots), max(s.max() for _, s in snapshots)
    if lo < EDGE_T or hi > SPOT_T or not all(np.isfinite(s).all() for _, s in snapshots):
        print(f"FAILED: temperatures left [{EDGE_T}, {SPOT_T}]: [{lo}, {hi}]", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
