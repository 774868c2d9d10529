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

Run this file to compare simhost with the references at 1 and 2 threads and with the
memory bandwidth of a plain copy (the limit of a scheme that streams the grid every step):

    build/release/bin/simhost bench/heat2d.py [--ny 2048 --nx 2048 --steps 200 --reps 5]
"""

import argparse
import time

import numpy as np

__all__ = [
    "HAVE_NUMBA",
    "numpy_heat2d",
    "numba_heat2d",
    "hot_spot",
    "point_updates",
    "copy_bandwidth",
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

try:
    import numba
    from numba import prange

    HAVE_NUMBA = True
except ImportError:  # the bench still runs, without the Numba column
    numba = None
    HAVE_NUMBA = False


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

    @numba.njit(parallel=True)
    def _parallel_copy(src, dst):
        rows = src.shape[0]
        for i in prange(rows):
            dst[i, :] = src[i, :]

else:
    numba_heat2d = None


def copy_bandwidth(nbytes=32 << 20, threads=1, reps=10):
    """Best bandwidth of a plain copy of `nbytes` (bytes read + bytes written per second).

    The limit of any scheme that streams the grid once per step: one step reads one array
    and writes another. Uses Numba's prange copy (at `threads`) where Numba exists, else one
    thread of numpy.copyto.
    """
    n = nbytes // 8
    cols = 2048
    src = np.random.default_rng(0).uniform(size=(n // cols, cols))
    dst = np.empty_like(src)
    if HAVE_NUMBA:
        numba.set_num_threads(threads)
        _parallel_copy(src[:8], dst[:8])

        def copy():
            _parallel_copy(src, dst)
    else:
        def copy():
            np.copyto(dst, src)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        copy()
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


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


def _peer(fn):
    return None if fn is None else (lambda **kw: fn(**kw))


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
            {"name": "numpy", "fn": _peer(numpy_heat2d), "threaded": False},
            {"name": "numba", "fn": _peer(numba_heat2d), "threaded": True},
        ],
        "reference": ("numba", "numpy"),
        "compare": _compare,
        "tolerance": 1e-12,
        "work": lambda p: (point_updates(p["ny"], p["nx"], p["steps"]), "point updates"),
        "targets": [
            {"kind": "speedup", "peer": "numba", "threads": 2, "min": 3.0},
            {"kind": "scaling", "from": 1, "to": 2, "min": 1.9},
        ],
    }


# ----------------------------------------------------------------------------------------
# Stand-alone measurement: simhost vs the references, and vs the copy bandwidth
# ----------------------------------------------------------------------------------------


def _best(fn, reps):
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    import simhost

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ny", type=int, default=2048)
    ap.add_argument("--nx", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--r", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    args = ap.parse_args(argv)

    p = {"ny": args.ny, "nx": args.nx, "steps": args.steps, "r": args.r, "boundary": "dirichlet"}
    inputs = _inputs(p, seed=0)
    warm = _inputs(dict(p, ny=64, nx=64, steps=2), seed=0)
    grid_bytes = 8 * args.ny * args.nx
    streamed = 2 * grid_bytes * args.steps  # one read and one write of the grid per step
    print(f"heat2d {args.ny}x{args.nx}, {args.steps} steps, r = {args.r}: "
          f"a one-pass-per-step scheme streams {streamed / 1e9:.1f} GB")

    numpy_time = None
    if not args.no_numpy:
        numpy_time, _ = _best(lambda: numpy_heat2d(**inputs), 1)
    # Rounds over the thread counts, best of each: the load of other processes on a shared
    # machine comes and goes, and interleaving gives every configuration the same chances.
    rows = [{"threads": t, "simhost": float("inf"), "numba": float("inf"), "copy": 0.0}
            for t in args.threads]
    for rnd in range(args.reps):
        for row in rows:
            threads = row["threads"]
            simhost.set_threads(threads)
            if rnd == 0:
                simhost.run("heat2d", **warm)
            t_sim, res = _best(lambda: simhost.run("heat2d", **inputs), 1)
            row["simhost"] = min(row["simhost"], t_sim)
            if HAVE_NUMBA and rnd < max(1, (args.reps + 1) // 2):
                numba.set_num_threads(threads)
                if rnd == 0:
                    numba_heat2d(**warm)
                t_nb, (u_nb,) = _best(lambda: numba_heat2d(**inputs), 1)
                row["numba"] = min(row["numba"], t_nb)
                row["bitwise"] = row.get("bitwise", True) and bool(np.array_equal(res.u, u_nb))
            row["copy"] = max(row["copy"], copy_bandwidth(grid_bytes, threads, reps=3))
    if not HAVE_NUMBA:
        for row in rows:
            row.pop("numba")

    print(f"{'threads':>7} {'simhost':>9} {'numba':>9} {'numpy':>9} {'x numba':>8} {'x numpy':>8} "
          f"{'copy GB/s':>9} {'simhost eff. GB/s':>17} {'numba GB/s':>10}")
    for row in rows:
        nb = row.get("numba")
        print(f"{row['threads']:>7} {row['simhost'] * 1e3:>7.1f}ms "
              + (f"{nb * 1e3:>7.1f}ms " if nb else f"{'-':>9} ")
              + (f"{numpy_time * 1e3:>7.0f}ms " if numpy_time else f"{'-':>9} ")
              + (f"{nb / row['simhost']:>7.2f}x " if nb else f"{'-':>8} ")
              + (f"{numpy_time / row['simhost']:>7.2f}x " if numpy_time else f"{'-':>8} ")
              + f"{row['copy'] / 1e9:>9.1f} {streamed / row['simhost'] / 1e9:>17.1f} "
              + (f"{streamed / nb / 1e9:>10.1f}" if nb else f"{'-':>10}"))
    if len(rows) > 1:
        print(f"simhost scaling {rows[0]['threads']}->{rows[-1]['threads']} threads: "
              f"{rows[0]['simhost'] / rows[-1]['simhost']:.2f}x")
    for row in rows:
        if "bitwise" in row:
            print(f"threads={row['threads']}: simhost bit-identical to numba: {row['bitwise']}")
    print("eff. GB/s: the bytes a one-pass-per-step scheme would stream, per second of the run; "
          "above the copy bandwidth means the grid was streamed less than once per step.")


if __name__ == "__main__":
    main()
