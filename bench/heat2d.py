"""Reference implementations of the `heat2d` kernel for the benchmark: NumPy and Numba.

Both implement exactly the scheme of simhost's built-in `heat2d` kernel, one step per pass
over the grid with two buffers swapped after each step:

  u_new[i, j] = u[i, j] + r * (u[i+1, j] + u[i-1, j] + u[i, j+1] + u[i, j-1] - 4 u[i, j])

with the sum evaluated left to right, as written. Dirichlet edges keep u0's values; periodic
edges wrap. Neither NumPy nor Numba (without fastmath) fuses a multiply and an add, so both
give results bit-identical to simhost's (which promises exactly this evaluation order).

Every function takes u0 (ny, nx) float64, r, steps, boundary and returns the tuple (u,).
Inputs are never modified. Numba is optional: `HAVE_NUMBA` says whether `numba_heat2d`
exists.

    build/release/bin/simhost bench/run.py --only heat2d   # times the three, and the share
                                                         # of the machine's copy bandwidth
"""

import numpy as np

__all__ = [
    "HAVE_NUMBA",
    "numpy_heat2d",
    "numba_heat2d",
    "hot_spot",
    "point_updates",
    
    "benchmark",
]


def _check_inputs(u0, r, steps, boundary):
    u0 = np.ascontiguousarray(u0, dtype=np.float64)
    if u0.ndim != 2 or min(u0.shape) < 3:
        raise ValueError(f"expected u0 of shape (ny, nx) with ny, nx >= 3, got {u0.shape}")
    if not 0 < r <= 0.25:
        raise ValueError(f"the explicit scheme is stable only for 0 < r <= 1/4, got r = {r}")
    if boundary not in ("dirichlet", "periodic"):
        raise ValueError(f"boundary must be 'dirichlet' or 'periodic', got {boundary!r}")
    return u0, float(r), int(steps)


def point_updates(ny, nx, steps):
    """Grid points advanced by one run: every point, every step (edges included)."""
    return ny * nx * steps


# ----------------------------------------------------------------------------------------
# NumPy: whole-array slices, one temporary per term.
# ----------------------------------------------------------------------------------------


def numpy_heat2d(u0, r, steps, boundary="dirichlet"):
    """Vectorised NumPy reference: one pass over the grid per step."""
    u0, r, steps = _check_inputs(u0, r, steps, boundary)
    u = u0.copy()
    v = u0.copy()  # the Dirichlet edges of both buffers stay u0's
    for _ in range(steps):
        if boundary == "periodic":
            s, n = np.roll(u, -1, axis=0), np.roll(u, 1, axis=0)
            e, w = np.roll(u, -1, axis=1), np.roll(u, 1, axis=1)
            np.add(u, r * (s + n + e + w - 4.0 * u), out=v)
        else:
            c = u[1:-1, 1:-1]
            s, n, e, w = u[2:, 1:-1], u[:-2, 1:-1], u[1:-1, 2:], u[1:-1, :-2]
            v[1:-1, 1:-1] = c + r * (s + n + e + w - 4.0 * c)
        u, v = v, u
    return (u,)


# ----------------------------------------------------------------------------------------
# Numba: prange over rows, a plain loop over columns, two buffers swapped after each step.
# Indices are written offset so that each is provably non-negative: Numba then drops its
# negative-index wrap-around checks and vectorises the inner loop (its fastest plain form).
# ----------------------------------------------------------------------------------------

from peers import HAVE_NUMBA, numba, prange  # noqa: F401  (re-exported)


if HAVE_NUMBA:

    @numba.njit(parallel=True)
    def _step_dirichlet(u, v, r):
        ny, nx = u.shape
        for i in prange(ny - 2):
            for j in range(nx - 2):
                c = u[i + 1, j + 1]
                v[i + 1, j + 1] = c + r * (
                    u[i + 2, j + 1] + u[i, j + 1] + u[i + 1, j + 2] + u[i + 1, j] - 4.0 * c
                )

    @numba.njit(parallel=True)
    def _step_periodic(u, v, r):
        ny, nx = u.shape
        for i in prange(ny):
            up = (i + ny - 1) % ny
            down = (i + 1) % ny
            for j in range(nx):
                left = (j + nx - 1) % nx
                right = (j + 1) % nx
                v[i, j] = u[i, j] + r * (
                    u[down, j] + u[up, j] + u[i, right] + u[i, left] - 4.0 * u[i, j]
                )

    def numba_heat2d(u0, r, steps, boundary="dirichlet"):
        """Numba parallel reference (prange over rows); compiles on the first call."""
        u0, r, steps = _check_inputs(u0, r, steps, boundary)
        step = _step_periodic if boundary == "periodic" else _step_dirichlet
        u = u0.copy()
        v = u0.copy()
        for _ in range(steps):
            step(u, v, r)
            u, v = v, u
        return (u,)

else:
    numba_heat2d = None


def hot_spot(ny, nx, seed=0):
    """A cold plate (0) with a few hot discs (1) at random places: a typical initial field."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ny, 0:nx]
    u = np.zeros((ny, nx))
    for cy, cx in rng.uniform(0.2, 0.8, size=(4, 2)):
        u[(y - cy * ny) ** 2 + (x - cx * nx) ** 2 < (0.05 * min(ny, nx)) ** 2] = 1.0
    return u


# ----------------------------------------------------------------------------------------
# The entry for bench/run.py
# ----------------------------------------------------------------------------------------


def _inputs(p, seed):
    u0 = np.random.default_rng(seed).uniform(0.0, 1.0, size=(p["ny"], p["nx"]))
    return dict(u0=u0, r=p["r"], steps=p["steps"], boundary=p["boundary"])


def _compare(sim, ref):
    """Largest |u_simhost - u_ref| relative to the largest |u_ref|."""
    a = np.asarray(sim["u"], dtype=np.float64)
    b = np.asarray(ref["u"], dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), {"error": f"u shape {a.shape}, expected {b.shape}"}
    if not np.all(np.isfinite(a)):
        return float("inf"), {"error": "simhost u has NaN or Inf"}
    diff = float(np.max(np.abs(a - b)))
    return diff / max(float(np.max(np.abs(b))), np.finfo(float).tiny), {
        "u_max_abs": diff,
        "bitwise_equal": bool(np.array_equal(a, b)),
    }



def benchmark():
    """One entry in bench/run.py's schema."""
    return {
        "kernel": "heat2d",
        "params": {"ny": 2048, "nx": 2048, "steps": 200, "r": 0.2, "boundary": "dirichlet"},
        "quick": {"ny": 128, "nx": 128, "steps": 10},
        "warmup": {"ny": 64, "nx": 64, "steps": 2},
        "size": lambda p: f"{p['ny']}x{p['nx']}, {p['steps']} steps",
        "inputs": _inputs,
        "outputs": ("u",),
        "peers": [
            {"name": "numpy", "fn": numpy_heat2d, "threaded": False},
            {"name": "numba", "fn": numba_heat2d, "threaded": True},
        ],
        "reference": ("numba", "numpy"),
        "compare": _compare,
        # Bit for bit: the kernel and both references do the same IEEE operations in the same
        # order (docs/kernels/heat2d.md); measured 0 at every size and thread count.
        "tolerance": 0.0,
        "bitwise_across_threads": True,
        "work": lambda p: (point_updates(p["ny"], p["nx"], p["steps"]), "point updates"),
        # 6 flops a point update; a one-pass-per-step scheme reads and writes the grid once
        # a step, 16 bytes a point (simhost's temporal blocking moves far less, so its share
        # of the copy bandwidth can exceed 100%).
        "flops": lambda p: 6.0 * point_updates(p["ny"], p["nx"], p["steps"]),
        "bytes": lambda p: 16.0 * point_updates(p["ny"], p["nx"], p["steps"]),
        "targets": [
            {"kind": "speedup", "peer": "numba", "threads": 2, "min": 3.0},
            {"kind": "scaling", "from": 1, "to": 2, "min": 1.9},
            {"kind": "time", "threads": 2, "max": 0.060,
             "bound": "loads from the L2-resident ring, docs/kernels/heat2d.md#on-an-avx2-cpu"},
        ],
    }
