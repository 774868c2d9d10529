"""Heat on a metal plate with simhost's built-in `heat2d` kernel.

Run it with the host binary or with a plain Python that can import simhost:

    simhost examples/heat_plate.py --out heat_plate.png
    PYTHONPATH=build/release/python /usr/bin/python3 examples/heat_plate.py

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

    from matplotlib.colors import PowerNorm

    # Top row: the four snapshots on ONE colour scale (the same vmin/vmax and one colorbar),
    # so colours compare across times. The scale is a power law (gamma 0.5) rather than
    # linear, so that the late, cooler snapshots (peak ~32 C) still show their shape.
    fig, axd = plt.subplot_mosaic([["s0", "s1", "s2", "s3"], ["cut", "cut", "decay", "decay"]],
                                  figsize=(16, 9), layout="constrained",
                                  gridspec_kw={"height_ratios": [1, 1.1]})
    extent = (0, SIDE * 100, 0, SIDE * 100)  # cm
    norm = PowerNorm(gamma=0.5, vmin=EDGE_T, vmax=SPOT_T)
    snap_axes = [axd[f"s{i}"] for i in range(len(snapshots))]
    for ax, (t, s) in zip(snap_axes, snapshots):
        im = ax.imshow(s, origin="lower", extent=extent, cmap="inferno", norm=norm)
        ax.set(title=f"t = {t:.2f} s (hottest {s.max():.0f} C)", xlabel="x [cm]",
               ylabel="y [cm]")
    fig.colorbar(im, ax=snap_axes, label="temperature [C] (power-law colour scale)",
                 shrink=0.9, ticks=[20, 30, 40, 60, 80, 100, 130, 160, 200])
    ax = axd["cut"]
    row = int(round(0.6 * (n - 1)))  # the row through the spot's centre
    for t, s in snapshots:
        ax.plot(x * 100, s[row], label=f"t = {t:.2f} s")
    ax.set(xlabel="x [cm]", ylabel="temperature [C]",
           title=f"temperature along the cut y = {x[row] * 100:.1f} cm")
    ax.legend()
    ax.grid(True, alpha=0.3)
    k = np.arange(steps + 1)
    ax = axd["decay"]
    ax.semilogy(k, lam**k, color="tab:blue", label=r"discrete scheme: $\lambda^k$")
    ax.semilogy(k, continuous**k, "--", color="tab:gray",
                label=r"continuous equation: $e^{-\alpha \pi^2 (p^2+q^2) k\,dt / L^2}$"
                f" (rates differ by {abs(lam - continuous) / (1 - continuous):.1e}, relative)")
    ax.semilogy(checkpoints, amplitude, "o", color="tab:red", label="measured (heat2d)")
    ax.set(xlabel=f"step k (dt = {dt * 1e3:.3f} ms)",
           ylabel="mode amplitude (relative to k = 0)",
           title=f"decay of the ({p},{q}) sine mode (zero edges)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"heat2d: a hot spot on a {SIDE * 100:.0f} cm copper plate with edges held at "
                 f"{EDGE_T:.0f} C ({n} x {n} points, r = {R})")
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
