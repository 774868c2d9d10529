"""Size sweeps for bench/run.py --sizes: how each kernel's cost grows with its problem size.

Each kernel is run at a ladder of sizes (SWEEPS below), simhost and Numba in the same process,
at one thread count, each timed as the best of its repetitions. The rate is the benchmark's own
unit of work (pair interactions, point updates, spin updates, path-steps, system-steps) per
second. The machine's limits measured in the same run become ceilings in that unit: peak
FLOP/s divided by the kernel's flops per unit, and copy bandwidth divided by the bytes a
one-pass-per-step scheme moves per unit. Results go to SIZES_DIR/sizes.json and one PNG per
kernel, SIZES_DIR/sizes_KERNEL.png (log-log: rate against size).

The other parameters of a point are chosen so that every point does about the same work as
the bench size (more steps at small sizes, fewer at large ones): the rate is then measured
over comparable times, and the largest sizes stay within seconds for Numba.
"""

import json
import os
import time

import numpy as np


def _steps_for(work, per_step, lo, hi):
    """Steps (sweeps) that make about `work` units of `per_step` each, within [lo, hi]."""
    return int(min(hi, max(lo, round(work / per_step))))


# One entry per kernel of bench/run.py's BENCHMARKS:
#   param     the size parameter, as the x axis
#   label     axis label of the size
#   sizes     the full ladder; quick: the two-point ladder of --quick
#   point     size -> parameter overrides of the point (on top of the bench's params)
#   x         size -> value on the x axis (default: the size itself)
SWEEPS = {
    "nbody": {
        "param": "N", "label": "bodies N",
        "sizes": [512, 1024, 2048, 4096, 8192, 16384, 32768],
        "quick": [64, 128],
        # ~1.8e8 pair interactions a point (the bench's 4096 bodies x 10 steps, which is 11
        # force passes); one step at least.
        "point": lambda n: {"N": n,
                            "steps": _steps_for(4096 * 4095 * 11, n * (n - 1), 2, 1001) - 1},
    },
    "heat2d": {
        "param": "n", "label": "grid n (n x n points)",
        "sizes": [256, 512, 1024, 2048, 4096, 8192],
        "quick": [32, 64],
        # ~8.4e8 point updates a point (the bench's 2048^2 x 200 steps).
        "point": lambda n: {"ny": n, "nx": n, "steps": _steps_for(2048 * 2048 * 200, n * n, 4, 4000)},
    },
    "ising2d": {
        "param": "L", "label": "lattice side L (L x L spins)",
        "sizes": [64, 128, 256, 512, 1024, 2048, 4096],
        # The check is statistical and loose on small lattices (bench/ising2d.py energy_tolerance:
        # 18% at L = 64), so the two-point ladder uses lattices where it is 2.25% and 2%.
        "quick": [512, 1024],
        # ~1e8 spin updates a point (the bench's 1024^2 x 100 sweeps); at most 4000 sweeps.
        "point": lambda n: {"L": n, "sweeps": _steps_for(1024 * 1024 * 100, n * n, 4, 4000)},
    },
    "mc_asian": {
        "param": "paths", "label": "paths (64 dates each)",
        "sizes": [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000],
        "quick": [2_000, 4_000],
        # 64 dates, not the bench's 252, so that Numba's 1e7 paths take seconds, not a minute.
        "point": lambda n: {"paths": n, "steps": 64},
    },
    "ode_batch": {
        "param": "M", "label": "Lorenz systems M (rk4)",
        "sizes": [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000],
        "quick": [100, 300],
        # The bench's 1000 steps at every M: Lorenz is chaotic, and past t = 10 rounding
        # differences (simhost fuses multiply-adds, Numba does not) outgrow the 1e-6 check.
        "point": lambda n: {"M": n, "steps": 1000},
    },
}

QUICK_POINT = {  # --quick: tiny work per point whatever the ladder's rule says
    "nbody": {"steps": 2}, "heat2d": {"steps": 10}, "ising2d": {"sweeps": 10},
    "mc_asian": {"steps": 16}, "ode_batch": {"steps": 20},
}

# Repetitions of one timing run at least this long in all (for the small sizes), at most this
# many calls.
MIN_SECONDS = 0.3
MAX_CALLS = 50


def _time_best(call, reps):
    """Best wall time of at least `reps` calls, more (up to MAX_CALLS) while the total is
    under MIN_SECONDS; and the last result."""
    walls, out = [], None
    while len(walls) < reps or (sum(walls) < MIN_SECONDS and len(walls) < MAX_CALLS):
        t0 = time.perf_counter()
        out = call()
        walls.append(time.perf_counter() - t0)
    return walls, out


def _ceilings(bench, params, limits):
    """The machine's limits in the kernel's unit of work per second, at these parameters."""
    amount, _ = bench["work"](params)
    out = {}
    if "flops" in bench and limits.get("peak_flops"):
        out["peak FLOP/s"] = limits["peak_flops"] / (bench["flops"](params) / amount)
    if "bytes" in bench and limits.get("copy_bandwidth"):
        out["copy bandwidth, one pass a step"] = (
            limits["copy_bandwidth"] / (bench["bytes"](params) / amount))
    return out


def sweep_kernel(simhost, bench, args, threads, limits, set_peer_threads, peer_name="numba"):
    """All points of one kernel's ladder; a mismatch with the peer is recorded, not raised."""
    spec = SWEEPS[bench["kernel"]]
    sizes = spec["quick"] if args.quick else spec["sizes"]
    peer = next((p for p in bench["peers"] if p["name"] == peer_name and p["fn"] is not None
                 and p["name"] not in args.skip), None)
    simhost.set_threads(threads)
    set_peer_threads(threads)
    warm = bench["inputs"](dict(bench["params"], **bench["warmup"]), args.seed)
    simhost.run(bench["kernel"], **warm)
    if peer:
        peer["fn"](**warm)
    tolerance = bench["tolerance"]
    points = []
    for n in sizes:
        params = dict(bench["params"], **spec["point"](n))
        if args.quick:
            params.update(QUICK_POINT[bench["kernel"]])
        inputs = bench["inputs"](params, args.seed)
        amount, unit = bench["work"](params)
        walls, res = _time_best(lambda: simhost.run(bench["kernel"], **inputs), args.reps)
        point = {"size": n, "params": params, "work": amount,
                 "simhost": {"best": min(walls), "calls": len(walls)},
                 "ceilings": _ceilings(bench, params, limits)}
        point["simhost"]["rate"] = amount / min(walls)
        line = f"   {spec['param']}={n}: simhost {amount / min(walls):.3g} {unit}/s"
        if peer:
            pw, pout = _time_best(lambda: peer["fn"](**inputs), args.reps)
            sim_out = {k: np.asarray(getattr(res, k)) for k in bench["outputs"]}
            diff, detail = bench["compare"](sim_out, dict(zip(bench["outputs"], pout)))
            tol = tolerance(params) if callable(tolerance) else tolerance
            point[peer["name"]] = {"best": min(pw), "calls": len(pw), "rate": amount / min(pw)}
            point["check"] = {"peer": peer["name"], "diff": diff, "tolerance": tol,
                              "measure": bench.get("measure", "max rel diff"),
                              "ok": bool(diff <= tol), "detail": detail}
            line += (f", {peer['name']} {amount / min(pw):.3g} {unit}/s "
                     f"({min(pw) / min(walls):.1f}x)")
            if not point["check"]["ok"]:
                line += f"  MISMATCH {diff:.3g} > {tol:g}"
        print(line, flush=True)
        points.append(point)
    return {"kernel": bench["kernel"], "param": spec["param"], "label": spec["label"],
            "unit": bench["work"](bench["params"])[1], "threads": threads,
            "peer": peer["name"] if peer else None, "points": points}


def plot_kernel(result, path):
    """One log-log figure: rate against size for simhost and the peer, ceilings as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = result["points"]
    x = [p["size"] for p in pts]
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    ax.plot(x, [p["simhost"]["rate"] for p in pts], "o-", color="C0", lw=2, label="simhost")
    peer = result["peer"]
    if peer and all(peer in p for p in pts):
        ax.plot(x, [p[peer]["rate"] for p in pts], "s-", color="C1", lw=2,
                label=f"{peer} (parallel=True)")
    styles = {"peak FLOP/s": ("C3", "--"), "copy bandwidth, one pass a step": ("C2", ":")}
    for name, (colour, style) in styles.items():
        ys = [p["ceilings"].get(name) for p in pts]
        if all(y is not None for y in ys):
            ax.plot(x, ys, style, color=colour, lw=1.5, label=f"machine limit: {name}")
    ax.set_xscale("log", base=2 if result["param"] in ("N", "n", "L") else 10)
    ax.set_yscale("log")
    ax.set_xlabel(result["label"])
    ax.set_ylabel(f"{result['unit']} per second")
    ax.set_title(f"{result['kernel']}: throughput against size, {result['threads']} "
                 f"thread{'s' * (result['threads'] > 1)}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_sweeps(simhost, selected, args, machine, limits, set_peer_threads):
    """Every selected kernel's sweep at the largest of --threads (limits: run.py's
    machine_limits at that count); JSON and PNGs in args.sizes_dir. Returns the exit status:
    1 on a mismatch against the peer, 2 when the PNGs cannot be drawn."""
    threads = max(args.threads)
    results = []
    for bench in selected:
        print(f"== size sweep: {bench['kernel']} at {threads} thread{'s' * (threads > 1)}",
              flush=True)
        results.append(sweep_kernel(simhost, bench, args, threads, limits, set_peer_threads))
    os.makedirs(args.sizes_dir, exist_ok=True)
    report = dict(machine, schema=1, quick=args.quick, threads=threads, limits=limits,
                  sweeps=results)
    path = os.path.join(args.sizes_dir, "sizes.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=float)
        f.write("\n")
    print(f"size sweeps written to {path}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench/run.py: matplotlib is missing, so no PNGs were drawn: install it with "
              "`bash setup.sh` (Debian's python3-matplotlib) and rerun", flush=True)
        return 2
    for r in results:
        png = os.path.join(args.sizes_dir, f"sizes_{r['kernel']}.png")
        plot_kernel(r, png)
        print(f"plot written to {png}")
    bad = [(r["kernel"], p["size"], p["check"]) for r in results for p in r["points"]
           if "check" in p and not p["check"]["ok"]]
    for kernel, size, c in bad:
        print(f"MISMATCH: {kernel} size {size}: simhost differs from {c['peer']} by "
              f"{c['diff']:.3g} ({c['measure']}; tolerance {c['tolerance']:g})")
    return 1 if bad else 0
