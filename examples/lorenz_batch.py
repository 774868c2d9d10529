"""Lorenz attractor with `ode_batch`: chaos measured from nearby trajectories, and a sweep of rho.

Run it with the host binary or a plain Python that can import simhost:

    simhost examples/lorenz_batch.py --out lorenz.png
    PYTHONPATH=build/release/python /usr/bin/python3 examples/lorenz_batch.py

Two batches of independent Lorenz systems, each one kernel call:

1. Divergence. 64 points on the attractor, each with 16 neighbours 1e-9 away in random
   directions (1088 systems). The separations grow as exp(lambda t) until they reach the size
   of the attractor; the slope of the mean log-separation is the largest Lyapunov exponent,
   lambda ~ 0.906 for the classic parameters (sigma = 10, rho = 28, beta = 8/3).
2. A sweep of rho over 600 systems, one value per system (the per-system parameter array p).
   Below rho = 1 every orbit decays to the origin; between 1 and ~24.7 it settles on one of the
   fixed points C = (+-sqrt(beta (rho - 1)), +-sqrt(beta (rho - 1)), rho - 1); above, chaos
   and periodic windows. The plot shows the maxima of z(t) after a transient.

Prints what it measured and exits non-zero if the physics is clearly wrong.
"""

import argparse
import sys
import time

import numpy as np

import simhost

SIGMA, BETA = 10.0, 8.0 / 3.0
LYAPUNOV_LITERATURE = 0.9056  # Sprott (2003), Chaos and Time-Series Analysis


def divergence(rng, n_ref=64, n_near=16, d0=1e-9, dt=0.005, t_end=25.0):
    """Mean log(separation / d0) of neighbours from their reference point, over time."""
    # Start anywhere and integrate for t = 30 to land on the attractor.
    start = rng.uniform(-10, 10, (n_ref, 3)) + [0.0, 0.0, 25.0]
    ref = simhost.kernels.ode_batch(system="lorenz", y0=start, dt=0.01, steps=3000).y

    dirs = rng.normal(size=(n_ref, n_near, 3))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    y0 = np.concatenate([ref[:, None, :], ref[:, None, :] + d0 * dirs], axis=1).reshape(-1, 3)
    r = simhost.kernels.ode_batch(system="lorenz", y0=y0, dt=dt, steps=round(t_end / dt),
                                  save_every=4)
    traj = r.trajectory.reshape(len(r.t), n_ref, n_near + 1, 3)
    sep = np.linalg.norm(traj[:, :, 1:] - traj[:, :, :1], axis=3)
    return r, traj, np.log(sep / d0).mean(axis=(1, 2))


def rho_sweep(m=600, rho_max=200.0, dt=0.005, t_end=80.0, save_every=4):
    """One Lorenz system per value of rho, all from (1, 1, 1)."""
    rho = np.linspace(0.5, rho_max, m)
    p = np.column_stack([np.full(m, SIGMA), rho, np.full(m, BETA)])
    r = simhost.kernels.ode_batch(system="lorenz", y0=np.tile([1.0, 1.0, 1.0], (m, 1)), p=p,
                                  dt=dt, steps=round(t_end / dt), save_every=save_every)
    return rho, r


def main():
    ap = argparse.ArgumentParser(description="Lorenz chaos and a rho sweep with ode_batch.")
    ap.add_argument("--out", default="lorenz_batch.png", help="PNG to write")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    failures = []

    t = time.perf_counter()
    r, traj, mean_log = divergence(rng)
    fit = (r.t > 1.0) & (r.t < 15.0)  # after alignment with the unstable direction, before saturation
    lam, intercept = np.polyfit(r.t[fit], mean_log[fit], 1)
    n_sys = traj.shape[1] * traj.shape[2]
    print(f"divergence: {n_sys} systems, {r.params['steps']} rk4 steps of dt = {r.params['dt']}, "
          f"{r.seconds * 1e3:.0f} ms in the kernel")
    print(f"  largest Lyapunov exponent {lam:.3f} (literature {LYAPUNOV_LITERATURE})")
    if not 0.75 < lam < 1.05:
        failures.append(f"Lyapunov exponent {lam:.3f} is far from {LYAPUNOV_LITERATURE}")

    rho, s = rho_sweep()
    print(f"rho sweep: {len(rho)} systems, {s.params['steps']} steps, "
          f"{s.seconds * 1e3:.0f} ms in the kernel ({s.trajectory.nbytes / 1e6:.0f} MB trajectory)")
    decay = rho < 0.8
    origin = np.abs(s.y[decay]).max()
    steady = (rho > 1.5) & (rho < 20.0)
    c = np.sqrt(BETA * (rho[steady] - 1.0))
    fixed = max(np.abs(s.y[steady, 2] - (rho[steady] - 1.0)).max(),
                np.abs(np.abs(s.y[steady, 0]) - c).max())
    print(f"  rho < 0.8: max |y| at t = 80 is {origin:.1e} (decays to the origin)")
    print(f"  1.5 < rho < 20: max distance from the fixed point C is {fixed:.1e}")
    if origin > 1e-6:
        failures.append(f"orbits with rho < 0.8 did not decay ({origin:.2e})")
    if fixed > 1e-3:
        failures.append(f"orbits with 1.5 < rho < 20 did not reach C ({fixed:.2e})")
    print(f"total {time.perf_counter() - t:.2f} s, simhost {simhost.__version__}, "
          f"{simhost.get_threads()} threads")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_a, ax_d, ax_s) = plt.subplots(1, 3, figsize=(16, 5))
    # Attractor (x-z) with one reference trajectory and two of its neighbours parting.
    late = r.t > 12
    ax_a.plot(traj[:, 0, 0, 0], traj[:, 0, 0, 2], lw=0.5, color="0.6", label="reference")
    for j, col in ((1, "tab:red"), (2, "tab:blue")):
        ax_a.plot(traj[late, 0, j, 0], traj[late, 0, j, 2], lw=0.7, color=col,
                  label=f"neighbour {j}, t > 12")
    ax_a.set(xlabel="x (dimensionless)", ylabel="z (dimensionless)",
             title="Lorenz attractor, rho = 28: neighbours 1e-9 apart at t = 0")
    ax_a.legend(loc="upper right", fontsize=8)

    ax_d.plot(r.t, mean_log, color="tab:purple", label="mean ln(d / d0), 1024 pairs")
    ax_d.plot(r.t[fit], lam * r.t[fit] + intercept, "k--", label=f"slope {lam:.3f}")
    ax_d.set(xlabel="time t (dimensionless)", ylabel="ln(d / d0)",
             title="separation of nearby trajectories")
    ax_d.legend(loc="lower right")
    ax_d.grid(alpha=0.3)

    z = s.trajectory[s.t > 30.0, :, 2]  # after the transient
    is_max = (z[1:-1] > z[:-2]) & (z[1:-1] > z[2:])
    k, i = np.nonzero(is_max)
    ax_s.scatter(rho[i], z[1:-1][k, i], s=0.2, color="tab:blue", alpha=0.4, label="maxima of z")
    ax_s.plot(rho[rho > 1], rho[rho > 1] - 1, color="tab:green", lw=0.8,
              label="fixed point z = rho - 1")
    ax_s.set(xlabel="rho (dimensionless)", ylabel="z (dimensionless)", xlim=(0, rho[-1]),
             title=f"rho sweep, {len(rho)} systems in one call (p per system)")
    ax_s.legend(loc="upper left", markerscale=20, fontsize=8)

    fig.suptitle(f"ode_batch: Lorenz systems (sigma = {SIGMA:g}, beta = 8/3), rk4; "
                 "all quantities dimensionless")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")

    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
