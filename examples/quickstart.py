"""Quickstart: evolve a small star cluster with simhost's built-in `nbody` kernel.

Run it with the host binary or with a plain Python that can import simhost:

    simhost examples/quickstart.py --out cluster.png
    PYTHONPATH=build/release/python /usr/bin/python3 examples/quickstart.py

It builds a Plummer sphere (a standard model of a star cluster) in virial units, lets it
evolve under softened gravity, prints how well the total energy is conserved and how fast
the kernel ran, and draws a picture. The exit status is non-zero if energy conservation is
absurdly bad, so the script doubles as a smoke test.
"""

import argparse
import sys

import numpy as np

import simhost


def plummer(n, seed):
    """Positions, velocities and masses of a Plummer sphere with n equal-mass stars.

    Units are the usual "virial" (Henon) N-body units: G = 1, total mass M = 1 and total
    energy E = -1/4, so the cluster's crossing time is about 2*sqrt(2) ~ 2.8 time units.
    The sampling follows Aarseth, Henon & Wielen (1974).
    """
    rng = np.random.default_rng(seed)
    mass = np.full(n, 1.0 / n)

    # Radii: invert the cumulative mass M(r) = r^3 / (1 + r^2)^(3/2) (scale radius 1),
    # dropping the rare stars beyond 10 scale radii.
    r = np.empty(0)
    while r.size < n:
        m = rng.uniform(1e-12, 1.0, size=n)
        cand = 1.0 / np.sqrt(m ** (-2.0 / 3.0) - 1.0)
        r = np.concatenate([r, cand[cand < 10.0]])
    r = r[:n]

    # Speeds: q = v / v_escape follows q^2 (1 - q^2)^(7/2); draw it by rejection.
    q = np.empty(0)
    while q.size < n:
        cand = rng.uniform(0.0, 1.0, size=2 * n)
        keep = rng.uniform(0.0, 0.1, size=cand.size) < cand**2 * (1.0 - cand**2) ** 3.5
        q = np.concatenate([q, cand[keep]])
    speed = q[:n] * np.sqrt(2.0) * (1.0 + r * r) ** -0.25

    def random_directions():
        cos_t = rng.uniform(-1.0, 1.0, size=n)
        sin_t = np.sqrt(1.0 - cos_t**2)
        phi = rng.uniform(0.0, 2.0 * np.pi, size=n)
        return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)

    pos = r[:, None] * random_directions()
    vel = speed[:, None] * random_directions()

    # Rescale to virial units (Plummer scale radius 3*pi/16) and remove the centre-of-mass
    # position and drift, so the cluster stays put in the picture (total mass is 1, so
    # mass @ pos is the centre of mass).
    scale = 3.0 * np.pi / 16.0
    pos *= scale
    vel /= np.sqrt(scale)
    pos -= mass @ pos
    vel -= mass @ vel
    return pos, vel, mass


def main():
    ap = argparse.ArgumentParser(description="Evolve a Plummer star cluster with simhost.")
    ap.add_argument("--n", type=int, default=1500, help="number of stars (default 1500)")
    ap.add_argument("--steps", type=int, default=400, help="leapfrog steps (default 400)")
    ap.add_argument("--out", default="quickstart.png", help="PNG to write (default quickstart.png)")
    args = ap.parse_args()

    # Physical parameters, all in virial units.
    G = 1.0
    eps = 0.02  # softening length: smooths close encounters so a fixed dt stays accurate
    dt = 2.5e-3  # time step; 400 steps cover one time unit, ~1/3 of a crossing time

    pos0, vel0, mass = plummer(args.n, seed=42)

    # One call runs the whole simulation in parallel C++ (the GIL is released meanwhile).
    # Inputs are not modified; the result holds the final state and the energy history.
    r = simhost.kernels.nbody(
        pos=pos0, vel=vel0, mass=mass, G=G, eps=eps, dt=dt, steps=args.steps
    )

    # r.energy[k] is the total energy after k steps (k = 0 is the initial state). A good
    # integrator keeps it nearly constant; the relative error measures the accuracy.
    e0 = r.energy[0]
    rel_err = np.abs(r.energy - e0) / abs(e0)
    drift = rel_err[-1]

    # The kernel evaluates every ordered pair (i, j), i != j, once per force evaluation,
    # and does steps + 1 evaluations (one for the initial state, one per step).
    pairs = args.n * (args.n - 1) * (args.steps + 1)
    print(f"simhost {simhost.__version__}, {simhost.get_threads()} threads")
    print(f"N = {args.n}, {args.steps} steps of dt = {dt} (t = {args.steps * dt:g})")
    print(f"energy: E0 = {e0:.6f}, final relative drift |E-E0|/|E0| = {drift:.2e}"
          f" (max over the run {rel_err.max():.2e})")
    print(f"momentum: |P| = {np.linalg.norm(r.momentum):.2e}")
    print(f"speed: {r.seconds:.3f} s in the kernel, {pairs / r.seconds:.3e} pair interactions/s")

    # Plot with the Agg backend: it writes files and needs no display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_xy, ax_e) = plt.subplots(1, 2, figsize=(11, 5))
    ax_xy.scatter(pos0[:, 0], pos0[:, 1], s=2, c="tab:gray", alpha=0.6, label="t = 0")
    ax_xy.scatter(r.pos[:, 0], r.pos[:, 1], s=2, c="tab:blue", alpha=0.6,
                  label=f"t = {args.steps * dt:g}")
    ax_xy.set(xlim=(-2, 2), ylim=(-2, 2), aspect="equal", xlabel="x [virial length units]",
              ylabel="y [virial length units]",
              title=f"Plummer cluster, N = {args.n} (x-y projection)")
    ax_xy.legend(loc="upper right", markerscale=4)

    t = dt * np.arange(args.steps + 1)
    ax_e.semilogy(t[1:], np.maximum(rel_err[1:], 1e-17), color="tab:red")
    ax_e.set(xlabel="time [virial time units]", ylabel="|E - E0| / |E0| (dimensionless)",
             title=f"relative energy error (leapfrog, dt = {dt:g})")
    ax_e.grid(True, which="both", alpha=0.3)

    fig.suptitle(f"nbody: a Plummer star cluster in virial units (G = M = 1), eps = {eps:g}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")

    # Leapfrog errors at these settings are orders of magnitude below 1e-2; anything that
    # large means the kernel (or the setup) is broken.
    if not np.isfinite(rel_err).all() or rel_err.max() > 1e-2:
        print(f"FAILED: energy error {rel_err.max():.2e} exceeds 1e-2", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
