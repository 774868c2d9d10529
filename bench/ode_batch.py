"""Reference implementations of the `ode_batch` kernel for the benchmark: NumPy and Numba.

The benchmark integrates M independent Lorenz systems with the classic fourth-order
Runge-Kutta method, exactly the algorithm of `ode_batch(system='lorenz', method='rk4')`:

  f(x, y, z) = (sigma (y - x), x (rho - z) - y, x y - beta z)
  each step:  k1 = f(y); k2 = f(y + dt/2 k1); k3 = f(y + dt/2 k2); k4 = f(y + dt k3)
              y += dt/6 (k1 + 2 k2 + 2 k3 + k4)

Every function takes the kernel's own keyword arguments (system, y0 (M,3), dt, steps and
optionally sigma, rho, beta, t0, method, save_every) and returns (y,): the (M,3) final states.
Only system='lorenz', method='rk4', save_every=0 is implemented. Inputs are never modified.

simhost fuses each multiply-add (one rounding); these references round twice, so results
differ at rounding level (1e-14 after 10 steps), amplified by the chaos of the Lorenz system:
after t = 10 the median system differs by ~3e-11, the worst of 1e5 by ~1e-6 relative.

Numba is optional: `HAVE_NUMBA` says whether `numba_ode_batch` exists.

    build/release/bin/simhost bench/run.py --only ode_batch   # times the three
"""

import numpy as np

__all__ = ["HAVE_NUMBA", "numpy_ode_batch", "numba_ode_batch", "lorenz_states", "benchmark"]

LORENZ_DEFAULTS = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}


def _parse(system, y0, dt, steps, method="rk4", save_every=0, t0=0.0, **params):
    if system != "lorenz" or method != "rk4" or save_every != 0:
        raise NotImplementedError("the references implement lorenz / rk4 / save_every=0 only")
    unknown = set(params) - set(LORENZ_DEFAULTS)
    if unknown:
        raise TypeError(f"unexpected parameters {sorted(unknown)}")
    p = dict(LORENZ_DEFAULTS, **{k: v for k, v in params.items() if v is not None})
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    if y0.ndim != 2 or y0.shape[1] != 3:
        raise ValueError(f"expected y0 of shape (M, 3), got {y0.shape}")
    return y0, float(dt), int(steps), p["sigma"], p["rho"], p["beta"]


# ----------------------------------------------------------------------------------------
# NumPy: vectorised over the M systems, one array operation per term, structure of arrays.
# ----------------------------------------------------------------------------------------


def numpy_ode_batch(**kwargs):
    """Vectorised NumPy reference: each rk4 step is ~40 whole-array operations."""
    y0, dt, steps, sigma, rho, beta = _parse(**kwargs)
    x, y, z = (y0[:, c].copy() for c in range(3))

    def f(x, y, z):
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    half, sixth = 0.5 * dt, dt / 6.0
    for _ in range(steps):
        k1 = f(x, y, z)
        k2 = f(x + half * k1[0], y + half * k1[1], z + half * k1[2])
        k3 = f(x + half * k2[0], y + half * k2[1], z + half * k2[2])
        k4 = f(x + dt * k3[0], y + dt * k3[1], z + dt * k3[2])
        x = x + sixth * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        y = y + sixth * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        z = z + sixth * (k1[2] + 2 * k2[2] + 2 * k3[2] + k4[2])
    return (np.stack([x, y, z], axis=1),)


# ----------------------------------------------------------------------------------------
# Numba: prange over systems, a scalar rk4 loop per system (the state in registers).
# ----------------------------------------------------------------------------------------

from peers import HAVE_NUMBA, numba, prange  # noqa: F401  (re-exported)

if HAVE_NUMBA:

    @numba.njit(parallel=True, fastmath=False, cache=False)
    def _numba_lorenz_rk4(y0, sigma, rho, beta, dt, steps, out):
        half = 0.5 * dt
        sixth = dt / 6.0
        for i in prange(y0.shape[0]):
            x = y0[i, 0]
            y = y0[i, 1]
            z = y0[i, 2]
            for _ in range(steps):
                k1x = sigma * (y - x)
                k1y = x * (rho - z) - y
                k1z = x * y - beta * z
                tx = x + half * k1x
                ty = y + half * k1y
                tz = z + half * k1z
                k2x = sigma * (ty - tx)
                k2y = tx * (rho - tz) - ty
                k2z = tx * ty - beta * tz
                tx = x + half * k2x
                ty = y + half * k2y
                tz = z + half * k2z
                k3x = sigma * (ty - tx)
                k3y = tx * (rho - tz) - ty
                k3z = tx * ty - beta * tz
                tx = x + dt * k3x
                ty = y + dt * k3y
                tz = z + dt * k3z
                k4x = sigma * (ty - tx)
                k4y = tx * (rho - tz) - ty
                k4z = tx * ty - beta * tz
                x = x + sixth * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
                y = y + sixth * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
                z = z + sixth * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
            out[i, 0] = x
            out[i, 1] = y
            out[i, 2] = z

    def numba_ode_batch(**kwargs):
        """Numba parallel reference (prange over systems); compiles on the first call."""
        y0, dt, steps, sigma, rho, beta = _parse(**kwargs)
        out = np.empty_like(y0)
        _numba_lorenz_rk4(y0, sigma, rho, beta, dt, steps, out)
        return (out,)

else:
    numba_ode_batch = None


# ----------------------------------------------------------------------------------------
# The benchmark entry (schema: the comment block of bench/run.py)
# ----------------------------------------------------------------------------------------


def lorenz_states(m, seed=0):
    """m initial states spread over the Lorenz attractor's neighbourhood."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.uniform(-15, 15, m), rng.uniform(-15, 15, m), rng.uniform(5, 40, m)]
    )


def inputs(p, seed):
    return dict(system="lorenz", y0=lorenz_states(p["M"], seed), dt=p["dt"], steps=p["steps"],
                method="rk4", save_every=0)


def compare_states(sim, ref):
    """Largest |y_simhost - y_ref| over all systems, relative to the largest |y_ref|."""
    a = np.asarray(sim["y"], dtype=np.float64)
    b = np.asarray(ref["y"], dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), {"error": f"y shape {a.shape}, expected {b.shape}"}
    if not np.all(np.isfinite(a)):
        return float("inf"), {"error": "simhost y has NaN or Inf"}
    diff = np.abs(a - b).max(axis=1)
    rel = float(diff.max() / np.abs(b).max())
    return rel, {"y_rel": rel, "y_max_abs": float(diff.max()),
                 "y_median_abs": float(np.median(diff))}



# Chaos amplifies rounding differences (fused vs separate multiply-adds), so the tolerance
# follows the integrated time t = steps dt, relative to max|y|. Measured: 7.6e-15 at t = 0.5
# (--quick, M = 2000, 50 steps); at t = 10 (M = 1e5, 1000 steps) the median system differs by
# 3.4e-11 and the worst by 8.1e-8 (trajectories passing near the saddle at the origin). A
# wrong algorithm differs by O(1).
SHORT_RUN_TIME = 0.5
SHORT_RUN_TOLERANCE = 1e-13
LONG_RUN_TOLERANCE = 1e-6  # up to t = 10; longer runs lose all digits to chaos


def tolerance(p):
    return SHORT_RUN_TOLERANCE if p["steps"] * p["dt"] <= SHORT_RUN_TIME else LONG_RUN_TOLERANCE


def benchmark():
    return {
        "kernel": "ode_batch",
        "params": {"M": 100_000, "steps": 1000, "dt": 0.01},
        "quick": {"M": 2000, "steps": 50},
        "warmup": {"M": 64, "steps": 2},
        "size": lambda p: f"lorenz M={p['M']} steps={p['steps']}",
        "inputs": inputs,
        "outputs": ("y",),
        "peers": [
            {"name": "numpy", "fn": numpy_ode_batch, "threaded": False},
            {"name": "numba", "fn": numba_ode_batch, "threaded": True},
        ],
        "reference": ("numba", "numpy"),
        "compare": compare_states,
        "tolerance": tolerance,
        "bitwise_across_threads": True,
        "work": lambda p: (p["M"] * p["steps"], "system-steps"),
        # Lorenz rk4, 71 flops a system-step: 4 evaluations of f (8 each), 3 stage states
        # (6 each) and the weighted update (21).
        "flops": lambda p: 71.0 * p["M"] * p["steps"],
        "targets": [
            {"kind": "speedup", "peer": "numba", "threads": 2, "min": 4.0},
            {"kind": "scaling", "from": 1, "to": 2, "min": 1.9},
            {"kind": "peak", "threads": 2, "min": 0.90,
             "bound": "stage spills (24 registers live, AVX2 has 16), "
                      "docs/kernels/ode_batch.md#on-an-avx2-cpu"},
        ],
    }
