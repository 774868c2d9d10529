"""Benchmark of the gray_scott plugin against the same scheme written as a Numba kernel.

    build/release/bin/simhost bench/gray_scott.py [--n 512] [--steps 200] [--threads 2]
                                                  [--reps 5] [--json PATH]

The in-tree plugin is loaded from the package's plugins folder; a plugin built elsewhere is
found through SIMHOST_PLUGIN_PATH. Both contenders run the scheme of the plugin's doc string,
one explicit Euler step per pass over a periodic n x n grid, two buffers swapped after each
step, with the same IEEE operations in the same order (Numba without fastmath fuses no
multiply-adds), so their results must agree bit for bit; the check is np.allclose at
rtol = 1e-12, and whether the bits are equal is printed and recorded.

The Numba kernel is `@njit(parallel=True)` with `prange` over rows. Two forms are timed: `numba`
handles the wrap-around columns apart from a plain loop over the interior ones (a loop LLVM can
vectorise), `numba_wrap` picks each cell's neighbours with conditionals (the direct
transcription of the formula). The target is measured against the faster of the two.

Both run at the same thread count (numba.set_num_threads and simhost.set_threads). Each first
runs once untimed on a small grid (Numba compiles, the thread pools start), then the contenders
take turns, one call each per repetition, so that a load from other processes hits them alike.
A time is the wall clock around one whole call from Python; the best of the repetitions is
reported. Exit status: 0 when the results agree (a missed target is reported, not failed), 1 on
a mismatch, 2 when the benchmark cannot run (no plugin, no Numba, bad flags).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

import run as bench_run  # sibling module: machine facts, load measurement
from peers import HAVE_NUMBA, numba, prange

SPEEDUP_TARGET = 3.0  # simhost at least this much faster than the faster Numba form
RTOL = 1e-12          # agreement required of the two results (measured: bit for bit)
PARAMS = {"Du": 0.16, "Dv": 0.08, "F": 0.035, "k": 0.065, "dt": 1.0}

if HAVE_NUMBA:

    @numba.njit(inline="always")
    def _cell(u, v, un, vn, i, j, up, down, west, east, du, dv, f, fk, dt):
        uc = u[i, j]
        vc = v[i, j]
        lap_u = ((u[up, j] + u[down, j]) + (u[i, west] + u[i, east])) - 4.0 * uc
        lap_v = ((v[up, j] + v[down, j]) + (v[i, west] + v[i, east])) - 4.0 * vc
        uvv = (uc * vc) * vc
        un[i, j] = uc + dt * ((du * lap_u - uvv) + f * (1.0 - uc))
        vn[i, j] = vc + dt * ((dv * lap_v + uvv) - fk * vc)

    @numba.njit(parallel=True)
    def _step(u, v, un, vn, du, dv, f, fk, dt):
        h, w = u.shape
        for i in prange(h):
            up = i - 1 if i > 0 else h - 1
            down = i + 1 if i < h - 1 else 0
            _cell(u, v, un, vn, i, 0, up, down, w - 1, 1, du, dv, f, fk, dt)
            for j in range(w - 2):  # cell j + 1: every index provably >= 0
                uc = u[i, j + 1]
                vc = v[i, j + 1]
                lap_u = ((u[up, j + 1] + u[down, j + 1]) + (u[i, j] + u[i, j + 2])) - 4.0 * uc
                lap_v = ((v[up, j + 1] + v[down, j + 1]) + (v[i, j] + v[i, j + 2])) - 4.0 * vc
                uvv = (uc * vc) * vc
                un[i, j + 1] = uc + dt * ((du * lap_u - uvv) + f * (1.0 - uc))
                vn[i, j + 1] = vc + dt * ((dv * lap_v + uvv) - fk * vc)
            _cell(u, v, un, vn, i, w - 1, up, down, w - 2, 0, du, dv, f, fk, dt)

    @numba.njit(parallel=True)
    def _step_wrap(u, v, un, vn, du, dv, f, fk, dt):
        h, w = u.shape
        for i in prange(h):
            up = i - 1 if i > 0 else h - 1
            down = i + 1 if i < h - 1 else 0
            for j in range(w):
                west = j - 1 if j > 0 else w - 1
                east = j + 1 if j < w - 1 else 0
                _cell(u, v, un, vn, i, j, up, down, west, east, du, dv, f, fk, dt)


def _numba_run(step, u0, v0, steps, Du, Dv, F, k, dt):
    u, v = u0.copy(), v0.copy()
    un, vn = np.empty_like(u), np.empty_like(v)
    fk = F + k
    for _ in range(steps):
        step(u, v, un, vn, Du, Dv, F, fk, dt)
        u, un = un, u
        v, vn = vn, v
    return u, v


def numba_gray_scott(u0, v0, steps, Du, Dv, F, k, dt):
    """The plugin's scheme in Numba: interior columns in a plain loop, wrap columns apart."""
    return _numba_run(_step, u0, v0, steps, Du, Dv, F, k, dt)


def numba_gray_scott_wrap(u0, v0, steps, Du, Dv, F, k, dt):
    """The same with each cell's neighbours picked by conditionals."""
    return _numba_run(_step_wrap, u0, v0, steps, Du, Dv, F, k, dt)


def initial_fields(n, seed):
    """The trivial state u = 1, v = 0 with noise, and a few squares seeded with u = 1/2,
    v = 1/4 (Pearson's perturbation), so that the run does real pattern-forming work."""
    rng = np.random.default_rng(seed)
    u = 1.0 - 0.02 * rng.uniform(size=(n, n))
    v = 0.02 * rng.uniform(size=(n, n))
    side = max(2, n // 16)
    for y, x in rng.integers(0, n - side, size=(8, 2)):
        u[y:y + side, x:x + side] = 0.5
        v[y:y + side, x:x + side] = 0.25
    return u, v


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/gray_scott.py",
                                 description="gray_scott plugin against Numba.")
    ap.add_argument("--n", type=int, default=512, help="grid side (default 512)")
    ap.add_argument("--steps", type=int, default=200, help="Euler steps (default 200)")
    ap.add_argument("--threads", type=int, default=2, help="threads of both (default 2)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--seed", type=int, default=12345, help="seed of the initial fields")
    ap.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    args = ap.parse_args(argv)
    if args.n < 3 or args.steps < 1 or args.reps < 1 or args.threads < 1:
        ap.error("--n must be >= 3, --steps, --reps and --threads >= 1")
    return args


def main(argv):
    args = parse_args(argv)
    import simhost

    try:
        simhost.describe("gray_scott")
    except Exception as exc:  # noqa: BLE001 - any failure means the plugin is not there
        print(f"bench/gray_scott.py: the gray_scott plugin is not loaded ({exc}); build it "
              "in-tree, or point SIMHOST_PLUGIN_PATH at the folder of gray_scott.so",
              file=sys.stderr)
        return 2
    if not HAVE_NUMBA:
        print("bench/gray_scott.py: Numba is not installed", file=sys.stderr)
        return 2
    if args.threads > numba.config.NUMBA_NUM_THREADS:
        print(f"bench/gray_scott.py: numba allows at most {numba.config.NUMBA_NUM_THREADS} "
              "threads here", file=sys.stderr)
        return 2

    load = os.getloadavg()
    busy = bench_run.cpu_busy_fraction()
    if busy is not None and busy > 0.2:
        print(f"warning: the CPUs were {busy:.0%} busy just before the run; timings may be noisy")
    threads_before = simhost.get_threads()
    simhost.set_threads(args.threads)
    numba.set_num_threads(args.threads)

    contenders = {
        "simhost": lambda u, v: (lambda r: (r.u, r.v))(
            simhost.run("gray_scott", u=u, v=v, steps=args.steps, **PARAMS)),
        "numba": lambda u, v: numba_gray_scott(u, v, args.steps, **PARAMS),
        "numba_wrap": lambda u, v: numba_gray_scott_wrap(u, v, args.steps, **PARAMS),
    }
    warm_u, warm_v = initial_fields(16, args.seed)
    for name, fn in contenders.items():
        fn(warm_u, warm_v)
    u0, v0 = initial_fields(args.n, args.seed)
    times = {name: [] for name in contenders}
    results = {}
    with bench_run.OtherLoad() as other:
        for _ in range(args.reps):
            for name, fn in contenders.items():
                t0 = time.perf_counter()
                results[name] = fn(u0, v0)
                times[name].append(time.perf_counter() - t0)
    simhost.set_threads(threads_before)

    best = {name: min(t) for name, t in times.items()}
    peer = min(("numba", "numba_wrap"), key=best.get)
    speedup = best[peer] / best["simhost"]
    cells = args.n * args.n * args.steps
    agree = {}
    threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
    print(f"gray_scott {args.n}x{args.n}, {args.steps} steps, {threads}, best of "
          f"{args.reps} (other processes used {other.fraction or 0:.0%} of the CPUs)")
    for name, t in best.items():
        line = f"  {name:11s} {t:8.4f} s  {cells / t / 1e6:8.1f} M cell updates/s"
        if name != "simhost":
            u_ok = np.allclose(results["simhost"][0], results[name][0], rtol=RTOL, atol=0)
            v_ok = np.allclose(results["simhost"][1], results[name][1], rtol=RTOL, atol=0)
            same = all(np.array_equal(a, b) for a, b in zip(results["simhost"], results[name]))
            agree[name] = {"allclose": bool(u_ok and v_ok), "bitwise_equal": bool(same)}
            line += (f"  simhost {t / best['simhost']:.2f}x faster; results "
                     f"{'agree' if u_ok and v_ok else 'DIFFER'}"
                     f"{' (bit for bit)' if same else ''}")
        print(line)
    status = "PASS" if speedup >= SPEEDUP_TARGET else "MISS"
    print(f"[{status}] simhost / {peer} speed-up {speedup:.2f}x at {threads} "
          f"(target >= {SPEEDUP_TARGET:g}x)")
    if other.fraction is not None and other.fraction > 0.1:
        print(f"warning: other processes took {other.fraction:.0%} of the CPUs during the "
              "measurement; run it again on a quiet machine")

    if args.json:
        report = {
            "schema": 1,
            "command": [sys.argv[0]] + list(argv),
            "params": dict(PARAMS, n=args.n, steps=args.steps, seed=args.seed),
            "threads": args.threads,
            "reps": args.reps,
            "times": {name: {"best": best[name], "all": t} for name, t in times.items()},
            "cell_updates": cells,
            "peer": peer,
            "speedup": speedup,
            "target": {"min": SPEEDUP_TARGET, "status": status},
            "agreement": agree,
            "other_load": other.fraction,
            "machine": dict(bench_run.environment(simhost, load), cpu_busy_at_start=busy),
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=float)
            f.write("\n")
        print(f"results written to {args.json}")
    if not all(a["allclose"] for a in agree.values()):
        print("MISMATCH: simhost's gray_scott differs from the Numba kernel", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
