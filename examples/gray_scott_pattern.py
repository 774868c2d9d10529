"""Turing patterns with the `gray_scott` plugin kernel (Gray-Scott reaction-diffusion).

Run it with the host binary (the in-tree plugin is loaded from the package's plugins folder;
a plugin built elsewhere is found through SIMHOST_PLUGIN_PATH):

    simhost examples/gray_scott_pattern.py [OUT.png] [--steps 25000]
    PYTHONPATH=build/release/python /usr/bin/python3 examples/gray_scott_pattern.py

As in Pearson (1993, Science 261:189): a 256 x 256 periodic grid at the trivial state u = 1,
v = 0, with a square in the middle set to u = 1/2, v = 1/4 and 1 % noise everywhere. With
F = 0.035, k = 0.065 (Du = 0.16, Dv = 0.08, dt = 1, all dimensionless) the square splits into
spots that divide and fill the grid. Snapshots are taken by calling the kernel again on the
previous result (chained calls give exactly what one long call gives).

It prints what it measured, writes a PNG (default gray_scott.png) of v at three times on one
colour scale, and exits non-zero if the run is clearly wrong: values outside 0 <= u, v <= 1, or
no pattern spreading from the square.
"""

import argparse
import sys
import time

import numpy as np

import simhost

N = 256
F, K = 0.035, 0.065
SQUARE = 20          # side of the seeded square, grid cells
NOISE = 0.01         # amplitude of the uniform noise on both fields
PATTERN_V = 0.1      # a cell with v above this is part of the pattern
MIN_SPREAD = 4.0     # the pattern must cover this many times the square's area at the end
SLACK = 1e-12        # rounding allowed beyond the bounds 0 <= u, v <= 1


def main():
    ap = argparse.ArgumentParser(description="Gray-Scott spots with simhost's gray_scott plugin.")
    ap.add_argument("out", nargs="?", default=None, help="PNG to write (default gray_scott.png)")
    ap.add_argument("--out", dest="out_option", metavar="FILE", help="the same, as an option")
    ap.add_argument("--steps", type=int, default=25000, help="Euler steps in all (default 25000)")
    args = ap.parse_args()
    out = args.out or args.out_option or "gray_scott.png"
    try:
        simhost.describe("gray_scott")
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the plugin is not there
        sys.exit(f"the gray_scott plugin is not loaded ({exc}); build simhost with its in-tree "
                 "plugins, or point SIMHOST_PLUGIN_PATH at the folder of gray_scott.so")

    rng = np.random.default_rng(1993)
    u = np.ones((N, N))
    v = np.zeros((N, N))
    lo, hi = N // 2 - SQUARE // 2, N // 2 + SQUARE // 2
    u[lo:hi, lo:hi] = 0.5
    v[lo:hi, lo:hi] = 0.25
    u -= NOISE * rng.uniform(0.0, 1.0, size=(N, N))  # the fields stay within [0, 1]
    v += NOISE * rng.uniform(0.0, 1.0, size=(N, N))
    print(f"simhost {simhost.__version__}, {simhost.get_threads()} threads; {N} x {N} grid, "
          f"F = {F}, k = {K}")

    checkpoints = [args.steps // 10, args.steps // 3, args.steps]
    snapshots = []
    done, spent = 0, 0.0
    for target in checkpoints:
        t0 = time.perf_counter()
        r = simhost.kernels.gray_scott(u=u, v=v, F=F, k=K, steps=target - done)
        spent += time.perf_counter() - t0
        u, v, done = r.u, r.v, target
        covered = float(np.mean(v > PATTERN_V))
        snapshots.append((done, v, covered))
        print(f"step {done:6d}: v in [{v.min():.3f}, {v.max():.3f}], u in [{u.min():.3f}, "
              f"{u.max():.3f}], pattern (v > {PATTERN_V}) covers {covered:.1%} of the grid")
    print(f"speed: {done} steps in {spent:.2f} s, {N * N * done / spent:.3e} cell updates/s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(snapshots), figsize=(15, 5.4), layout="constrained")
    vmax = max(s.max() for _, s, _ in snapshots)
    for ax, (step, s, covered) in zip(axes, snapshots):
        im = ax.imshow(s, origin="lower", extent=(0, N, 0, N), cmap="viridis", vmin=0.0,
                       vmax=vmax, interpolation="nearest")
        ax.set(title=f"after {step} steps ({covered:.0%} patterned)", xlabel="x (grid cells)",
               ylabel="y (grid cells)")
    fig.colorbar(im, ax=axes, label="v concentration (dimensionless)", shrink=0.9)
    fig.suptitle(f"Gray-Scott reaction-diffusion, F = {F}, k = {K}, {done} steps "
                 f"(Du = 0.16, Dv = 0.08, dt = 1; {N} x {N} periodic grid)")
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")

    ok = True
    fields_ok = all(np.isfinite(x).all() and x.min() >= -SLACK and x.max() <= 1.0 + SLACK
                    for x in (u, v))
    if not fields_ok:
        print(f"FAILED: a field left [0, 1]: u in [{u.min()}, {u.max()}], v in [{v.min()}, "
              f"{v.max()}]", file=sys.stderr)
        ok = False
    spread = snapshots[-1][2] * N * N / SQUARE**2
    if spread < MIN_SPREAD:
        print(f"FAILED: the pattern covers only {spread:.1f} times the seeded square's area "
              f"(expected at least {MIN_SPREAD})", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
