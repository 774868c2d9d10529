"""simhost benchmark: time simhost's kernels against NumPy and Numba references.

    build/release/bin/simhost bench/run.py [--quick] [--json PATH] ...
    PYTHONPATH=build/release/python python3 bench/run.py [...]

See bench/README.md for what is measured and how to read the output. Exit status: 0 when
every result matches its reference (targets missed are reported, not failed), 1 on a
numerical mismatch, 2 when the benchmark cannot run at all.

To add a kernel, write its references in a sibling module (like nbody.py) and append one
entry to BENCHMARKS below; nothing else in this file is kernel-specific.
"""

import argparse
import datetime
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

# sys.path[0] is this script's folder under both the host binary and plain python3.
try:
    import heat2d
    import ising2d
    import mc_asian
    import nbody
    import ode_batch
    import sizes
except ImportError as exc:
    sys.exit(
        f"bench/run.py: cannot import a sibling module of run.py ({exc}); "
        f"sys.path[0] is {sys.path[0]!r} but should be the folder of run.py"
    )

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------------------
# The table of benchmarks
# ----------------------------------------------------------------------------------------
#
# One dict per kernel:
#   kernel      name in simhost's registry, called as simhost.run(kernel, **inputs)
#   params      default sizes and physics parameters; quick: overrides for --quick;
#               warmup: overrides for the untimed warm-up call (compiles Numba, starts pools)
#   size        params -> short size label for the table ("N=4096")
#   inputs      (params, seed) -> keyword arguments of the kernel (arrays and scalars)
#   outputs     names of the result fields compared and kept
#   peers       reference implementations: name, fn(**inputs) -> tuple in `outputs` order,
#               threaded (honours numba.set_num_threads), extra (shown, not a target peer)
#   reference   peers whose result simhost must match, first available wins
#   compare     (simhost_out, ref_out) -> (difference, detail dict)
#   measure     what compare's difference is (default "max rel diff")
#   tolerance   largest difference accepted (in compare's measure), a number or a function
#               of params (for checks whose expected difference depends on the size)
#   bitwise_across_threads
#               True where the kernel promises bit-identical results at any thread count:
#               simhost's outputs at every thread count must then equal the first row's
#               bit for bit, or the run fails like a mismatch
#   work        params -> (amount, unit) of work per run, for a rate in the JSON
#   flops       params -> floating-point operations the algorithm needs per run (optional;
#               the count's convention is documented beside each entry)
#   bytes       params -> bytes a one-pass-per-step implementation moves per run (optional)
#   targets     goals shown as PASS/MISS: speedup over a peer at a thread count,
#               simhost's own scaling between two thread counts, its best time at a thread
#               count ("time", set on REFERENCE_MACHINE) or its share of the FMA peak ("peak");
#               "bound" names what limits it where it is missed, and the docs that show it


# What keeps nbody from its time and peak goals, and where the docs measure it.
NBODY_BOUND = "the divide and square-root chains, docs/kernels/nbody.md#on-an-avx2-cpu"


def nbody_inputs(p, seed):
    pos, vel, mass = nbody.plummer(p["N"], seed=seed)
    return dict(
        pos=pos, vel=vel, mass=mass, G=p["G"], eps=p["eps"], dt=p["dt"], steps=p["steps"]
    )


# simhost vs its reference (Numba, or NumPy) on the nbody bench, relative to each |E| and to
# the largest |component| of pos and vel: the same operations, sums in another order (8 lanes
# with AVX-512). Measured against Numba: energy 7.9e-16, pos and vel 0 (--quick, N = 256,
# 2 steps); energy 5.9e-15, pos and vel 0 (N = 4096, 10 steps; NumPy: pos 1e-16, vel 2e-16).
# Half a kick too many or too few moves vel by ~dt/2 |a|, ~1e-4 relative.
NBODY_TOLERANCE = 1e-13


def compare_nbody(sim, ref):
    """Largest relative difference over the energy history (relative to each |E_ref|) and the
    final positions and velocities (relative to the largest |component| of the reference)."""
    e_s = np.asarray(sim["energy"], dtype=np.float64)
    e_r = np.asarray(ref["energy"], dtype=np.float64)
    if e_s.shape != e_r.shape:
        return float("inf"), {"error": f"energy shape {e_s.shape}, expected {e_r.shape}"}
    if not np.all(np.isfinite(e_s)):
        return float("inf"), {"error": "simhost energy has NaN or Inf"}
    rel = float(np.max(np.abs(e_s - e_r) / np.maximum(np.abs(e_r), np.finfo(float).tiny)))
    detail = {"energy_rel": rel}
    worst = rel
    for name in ("pos", "vel"):
        a = np.asarray(sim[name], dtype=np.float64)
        b = np.asarray(ref[name], dtype=np.float64)
        if a.shape != b.shape:
            return float("inf"), {"error": f"{name} shape {a.shape}, expected {b.shape}"}
        if not np.all(np.isfinite(a)):
            return float("inf"), {"error": f"simhost {name} has NaN or Inf"}
        diff = float(np.max(np.abs(a - b), initial=0.0))
        name_rel = diff / max(float(np.max(np.abs(b), initial=0.0)), np.finfo(float).tiny)
        detail[f"{name}_max_abs"] = diff
        detail[f"{name}_rel"] = name_rel
        worst = max(worst, name_rel)
    return worst, detail


BENCHMARKS = [
    {
        "kernel": "nbody",
        "params": {"N": 4096, "steps": 10, "G": 1.0, "eps": 0.01, "dt": 1e-3},
        "quick": {"N": 256, "steps": 2},
        "warmup": {"N": 64, "steps": 1},
        "size": lambda p: f"N={p['N']}",
        "inputs": nbody_inputs,
        "outputs": ("pos", "vel", "energy", "momentum"),
        "peers": [
            {"name": "numpy", "fn": nbody.numpy_nbody, "threaded": False},
            {"name": "numba", "fn": nbody.numba_nbody, "threaded": True},
            {
                "name": "numba_fastmath",
                "fn": nbody.numba_nbody_fastmath,
                "threaded": True,
                "extra": True,
            },
        ],
        "reference": ("numba", "numpy"),
        "compare": compare_nbody,
        "measure": "max rel diff of energy, pos, vel",
        "tolerance": NBODY_TOLERANCE,
        "bitwise_across_threads": True,
        "work": lambda p: (nbody.pair_interactions(p["N"], p["steps"]), "pair interactions"),
        # The customary 20 flops per softened pair interaction (distance, 1/r^3, 3 updates).
        "flops": lambda p: 20.0 * nbody.pair_interactions(p["N"], p["steps"]),
        "targets": [
            {"kind": "speedup", "peer": "numba", "threads": 2, "min": 3.0},
            {"kind": "scaling", "from": 1, "to": 2, "min": 1.9},
            {"kind": "time", "threads": 2, "max": 0.025, "bound": NBODY_BOUND},
            {"kind": "peak", "threads": 2, "min": 0.60, "bound": NBODY_BOUND},
        ],
    },
    mc_asian.benchmark(),
    heat2d.benchmark(),
    ising2d.benchmark(),
    ode_batch.benchmark(),
]


# ----------------------------------------------------------------------------------------
# Machinery
# ----------------------------------------------------------------------------------------


def time_calls(call, reps, cpu=None):
    """Run call() reps times; return (wall seconds per rep, last result). When `cpu` is a
    list, the process CPU seconds of each rep (all threads) are appended to it."""
    walls = []
    out = None
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = call()
        walls.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return walls, out


def summary(walls):
    return {"best": min(walls), "median": statistics.median(walls), "all": walls}


def simhost_outputs(result, names):
    # The documented result fields are attributes: r.pos, r.energy, ...
    return {name: np.asarray(getattr(result, name)) for name in names}


def set_peer_threads(n):
    if nbody.HAVE_NUMBA:
        nbody.numba.set_num_threads(n)


# The machine the absolute "time" targets were set on. Elsewhere they are read against the
# bound that docs/kernels/<kernel>.md explains for that CPU (each target names its section).
REFERENCE_MACHINE = "the 2-core Zen 5 AVX-512 machine"


# The dispatched build (the one running this script) against a -march=native build of the
# same source: within NATIVE_MAX_RATIO of its time on every kernel (dispatched best / native
# best, at every thread count; informational, like the other targets).
NATIVE_MAX_RATIO = 1.03


class BuildWorker:
    """A process of one build of simhost serving the same calls (build_peer.py), timed there.
    --native-build starts two alike, so that the ratio compares like with like: this process
    has also imported Numba and run its thread pool (machine_limits), which the workers have
    not."""

    def __init__(self, command, env, label):
        self.label = label
        self.proc = subprocess.Popen([*command, os.path.join(BENCH_DIR, "build_peer.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        hello = self.ask("hello")
        self.cpu = hello["cpu"]

    @classmethod
    def native(cls, build_dir):
        """A SIMHOST_NATIVE=ON build (`cmake --preset release-native`): its host binary."""
        exe = os.path.join(os.path.abspath(build_dir), "bin", "simhost")
        if not os.access(exe, os.X_OK):
            raise RuntimeError(
                f"--native-build {build_dir}: no host binary {exe}; make one with "
                "`cmake --preset release-native && cmake --build --preset release-native` "
                "(then pass build/release-native)")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SIMHOST_CPU")}
        w = cls([exe], env, os.path.abspath(build_dir))
        if w.cpu != "native":
            w.close()
            raise RuntimeError(
                f"--native-build {build_dir}: that build runs the CPU path {w.cpu!r}, not "
                "'native': configure it with -DSIMHOST_NATIVE=ON (preset release-native)")
        return w

    @classmethod
    def this_build(cls):
        """The build running this script: its host binary, or this python3 with this
        PYTHONPATH (and SIMHOST_CPU, if set)."""
        return cls([sys.executable], dict(os.environ), "this build")

    def ask(self, *request):
        pickle.dump(request, self.proc.stdin)
        self.proc.stdin.flush()
        try:
            reply = pickle.load(self.proc.stdout)
        except EOFError:
            raise RuntimeError(f"the worker of {self.label} exited unexpectedly "
                               f"(status {self.proc.wait()})") from None
        if "error" in reply:
            raise RuntimeError(f"the worker of {self.label} failed:\n{reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.ask("quit")
            except (RuntimeError, OSError):
                pass
            self.proc.wait()


# ----------------------------------------------------------------------------------------
# The machine's limits, measured in the same run
# ----------------------------------------------------------------------------------------

if nbody.HAVE_NUMBA:

    @nbody.numba.njit(parallel=True)
    def _parallel_copy(src, dst):
        for i in nbody.numba.prange(src.shape[0]):
            dst[i, :] = src[i, :]


def copy_bandwidth(threads, nbytes=256 << 20, reps=5):
    """Best bandwidth of a plain copy (bytes read + written per second) at `threads`: the
    limit of any scheme that streams its data once. Numba's prange copy where Numba exists,
    else one thread of numpy.copyto."""
    cols = 4096
    src = np.random.default_rng(0).uniform(size=(nbytes // 8 // cols, cols))
    dst = np.empty_like(src)
    if nbody.HAVE_NUMBA:
        set_peer_threads(threads)
        _parallel_copy(src[:8], dst[:8])
        copy = lambda: _parallel_copy(src, dst)  # noqa: E731
    else:
        copy = lambda: np.copyto(dst, src)  # noqa: E731
    walls, _ = time_calls(copy, reps)
    return 2 * src.nbytes / min(walls)


# 128 independent multiply-add chains: enough to keep every FMA pipe busy (fewer leave them
# waiting on latency, more spill registers); Numba packs them into SIMD FMAs without
# reassociating anything (no fastmath), so the count of flops is exact.
_CHAINS = 128


def _fma_probe():
    src = "def chains(reps, seed):\n"
    src += "".join(f"    a{k} = seed + {k} * 1e-3\n" for k in range(_CHAINS))
    src += "    for _ in range(reps):\n"
    src += "".join(f"        a{k} = a{k} * 0.999999 + 1e-6\n" for k in range(_CHAINS))
    src += "    return " + " + ".join(f"a{k}" for k in range(_CHAINS)) + "\n"
    namespace = {}
    exec(src, namespace)
    chains = nbody.numba.njit(namespace["chains"])

    @nbody.numba.njit(parallel=True)
    def probe(reps, out):
        for t in nbody.numba.prange(out.shape[0]):
            out[t] = chains(reps, t + 1.0)

    return probe


def native_probe():
    """The build's FMA peak probe (bench/probe/peak.cpp) beside the host binary, or None
    (an installed simhost has none)."""
    candidates = [os.path.join(os.path.dirname(os.path.abspath(sys.executable)),
                               "simhost_bench_peak")]
    try:
        import simhost
        package = os.path.dirname(os.path.abspath(simhost.__file__))  # BUILD/python/simhost
        candidates.append(os.path.join(package, "..", "..", "bin", "simhost_bench_peak"))
    except ImportError:
        pass
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def peak_flops(threads, reps=2_000_000):
    """The machine's practical arithmetic peak at `threads` threads, double-precision FLOP/s:
    the native probe's independent FMA chains in the CPU's widest registers where the build
    has it, else Numba's multiply-add chains (which LLVM may not pack into full-width FMAs, so
    that figure can be well under the hardware's), or None without either."""
    probe_exe = native_probe()
    if probe_exe is not None:
        out = subprocess.run([probe_exe, "fma", str(threads)], capture_output=True, text=True)
        if out.returncode == 0:
            return float(json.loads(out.stdout)["per_second"])
        print(f"warning: {probe_exe} failed ({out.stderr.strip()}); using Numba's probe")
    if not nbody.HAVE_NUMBA:
        return None
    probe = _fma_probe()
    set_peer_threads(threads)
    out = np.zeros(threads)
    probe(10, out)
    walls, _ = time_calls(lambda: probe(reps, out), 3)
    return 2.0 * _CHAINS * reps * threads / min(walls)


def machine_limits(thread_counts, quick):
    """Peak FLOP/s and copy bandwidth at each thread count, measured now."""
    size = (16 << 20) if quick else (256 << 20)
    reps = 200_000 if quick else 2_000_000
    limits = {"threads": {}}
    limits["peak_flops_probe"] = ("native FMA chains" if native_probe() else
                                  "numba multiply-add chains")
    for t in thread_counts:
        limits["threads"][t] = {"peak_flops": peak_flops(t, reps),
                                "copy_bandwidth": copy_bandwidth(t, nbytes=size)}
    for t, v in limits["threads"].items():
        flops = "n/a" if v["peak_flops"] is None else f"{v['peak_flops'] / 1e9:.0f} GFLOP/s"
        print(f"machine limits at {t} thread{'s' * (t > 1)}: peak {flops} "
              f"({limits['peak_flops_probe']}), copy bandwidth "
              f"{v['copy_bandwidth'] / 1e9:.1f} GB/s", flush=True)
    return limits


def fraction_of_limits(bench, params, seconds, limits):
    """What share of the machine's peak FLOP/s and copy bandwidth a run of `seconds` used."""
    out = {}
    if "flops" in bench and limits["peak_flops"]:
        rate = bench["flops"](params) / seconds
        out["flops_per_second"] = rate
        out["fraction_of_peak_flops"] = rate / limits["peak_flops"]
    if "bytes" in bench:
        rate = bench["bytes"](params) / seconds
        out["bytes_per_second"] = rate
        out["fraction_of_copy_bandwidth"] = rate / limits["copy_bandwidth"]
    return out


def measure_rows(simhost, bench, args, inputs, warm_inputs, peers):
    """Time simhost and the peers at each thread count; one row per thread count."""
    names = bench["outputs"]
    rows = []
    sim_first = None
    unthreaded = {}  # peers that ignore the thread setting are timed once, reused per row
    for threads in args.threads:
        simhost.set_threads(threads)
        got = simhost.get_threads()
        set_peer_threads(threads)
        row = {"threads": threads, "simhost_get_threads": got, "peers": {}}

        simhost.run(bench["kernel"], **warm_inputs)
        workers = args.workers  # {"dispatched": ..., "native": ...} with --native-build
        for wk in workers.values():
            wk.ask("load", bench["kernel"], threads, warm_inputs, inputs)
        cpu = []
        walls = []
        worker_walls = {name: [] for name in workers}
        worker_kernel = {}
        # With --native-build the workers' calls alternate with simhost's, one each per
        # repetition, so that all see the same machine (other load, clock) as nearly as possible.
        for _ in range(args.reps):
            w, res = time_calls(lambda: simhost.run(bench["kernel"], **inputs), 1, cpu)
            walls += w
            for name, wk in workers.items():
                t = wk.ask("time")
                worker_walls[name].append(t["wall"])
                worker_kernel[name] = t["kernel_seconds"]
        row["simhost"] = summary(walls)
        row["simhost"]["kernel_seconds"] = float(res.seconds)
        # How busy the threads were in the best run: process CPU time / wall time. Near the
        # thread count means no serial part or imbalance; scaling short of it then comes from
        # threads running slower (shared caches and memory, or a virtual machine's host).
        best = walls.index(min(walls))
        row["simhost"]["cpu_seconds"] = cpu[best]
        row["simhost"]["threads_busy"] = cpu[best] / walls[best]
        sim_out = simhost_outputs(res, names)
        if sim_first is None:
            sim_first = sim_out
        row["simhost_bitwise_equal_to_first_row"] = all(
            np.array_equal(sim_out[k], sim_first[k]) for k in names
        )
        print(f"   threads={threads}: simhost {fmt_time(row['simhost']['best'])}", flush=True)
        if workers:
            for name in workers:
                row[name] = summary(worker_walls[name])
                row[name]["kernel_seconds"] = worker_kernel[name]
            row["native_ratio"] = row["dispatched"]["best"] / row["native"]["best"]
            nat_out = workers["native"].ask("outputs", names)
            row["native_bitwise_equal"] = all(
                np.array_equal(sim_out[k], nat_out[k]) for k in names)
            print(f"   threads={threads}: workers: dispatched {fmt_time(row['dispatched']['best'])}"
                  f", native {fmt_time(row['native']['best'])} (dispatched / native = "
                  f"{row['native_ratio']:.3f})", flush=True)

        for peer in peers:
            if not peer["threaded"] and peer["name"] in unthreaded:
                timing, out = unthreaded[peer["name"]]
                entry = dict(timing)
            else:
                peer["fn"](**warm_inputs)
                walls, out = time_calls(lambda: peer["fn"](**inputs), args.reps)
                entry = summary(walls)
                entry["threads"] = threads if peer["threaded"] else "own"
                if not peer["threaded"]:
                    unthreaded[peer["name"]] = (dict(entry), out)
                print(f"   threads={threads}: {peer['name']} {fmt_time(entry['best'])}", flush=True)
            # Compared with this row's simhost result, so every thread count is checked.
            rel, detail = bench["compare"](sim_out, dict(zip(names, out)))
            entry["simhost_rel_diff"] = rel
            entry["simhost_diff_detail"] = detail
            row["peers"][peer["name"]] = entry

        for peer, entry in row["peers"].items():
            row.setdefault("speedup", {})[peer] = entry["best"] / row["simhost"]["best"]
        rows.append(row)
    return rows


def run_benchmark(simhost, bench, args, limits):
    params = dict(bench["params"])
    if args.quick:
        params.update(bench["quick"])
    params.update(args.overrides)
    warm_params = dict(params, **bench["warmup"])
    inputs = bench["inputs"](params, args.seed)
    warm_inputs = bench["inputs"](warm_params, args.seed)
    peers = [
        p for p in bench["peers"] if p["fn"] is not None and p["name"] not in args.skip
    ]
    missing = [p["name"] for p in bench["peers"] if p["fn"] is None]
    label = f"{bench['kernel']} {bench['size'](params)}"
    print(f"== {label}  params {params}", flush=True)
    if missing:
        print(f"   (not available here: {', '.join(missing)})")

    with OtherLoad() as other:
        rows = measure_rows(simhost, bench, args, inputs, warm_inputs, peers)
    if other.fraction is not None and other.fraction > 0.1:
        print(
            f"   warning: other processes used {other.fraction:.0%} of the CPUs during this "
            "benchmark; its timings are not trustworthy"
        )

    # simhost must match its reference at every thread count.
    ref = next((r for r in bench["reference"] if r in (p["name"] for p in peers)), None)
    tolerance = bench["tolerance"]
    if callable(tolerance):
        tolerance = tolerance(params)
    checks = []
    for row in rows:
        if ref is None:
            checks.append({"threads": row["threads"], "reference": None, "ok": None})
            continue
        entry = row["peers"][ref]
        checks.append(
            {
                "threads": row["threads"],
                "reference": ref,
                "rel_diff": entry["simhost_rel_diff"],
                "tolerance": tolerance,
                "measure": bench.get("measure", "max rel diff"),
                "detail": entry["simhost_diff_detail"],
                "ok": bool(entry["simhost_rel_diff"] <= tolerance),
            }
        )
    # Bit-identity across thread counts, part of the verdict where the kernel promises it.
    same = all(row["simhost_bitwise_equal_to_first_row"] for row in rows)
    bitwise = {"promised": bool(bench.get("bitwise_across_threads", False)), "equal": same,
               "threads": [row["threads"] for row in rows]}
    bitwise["ok"] = same if bitwise["promised"] else None

    for row in rows:
        row["limits"] = fraction_of_limits(bench, params, row["simhost"]["best"],
                                           limits["threads"][row["threads"]])
    by_threads = {row["threads"]: row for row in rows}
    targets = []
    for row in rows:
        if "native_ratio" in row:
            value = row["native_ratio"]
            targets.append({
                "kind": "native", "threads": row["threads"], "max": NATIVE_MAX_RATIO,
                "text": f"dispatched within {NATIVE_MAX_RATIO - 1:.0%} of the -march=native "
                        f"build at {row['threads']} threads (time ratio)",
                "value": value, "status": "PASS" if value <= NATIVE_MAX_RATIO else "MISS"})
    for t in bench["targets"]:
        row = by_threads.get(t.get("threads"))  # the row a speedup, time or peak goal reads
        if t["kind"] == "speedup":
            value = row and row.get("speedup", {}).get(t["peer"])
            text = f"simhost >= {t['min']:g}x {t['peer']} at {t['threads']} threads"
        elif t["kind"] == "scaling":
            a, b = by_threads.get(t["from"]), by_threads.get(t["to"])
            value = a and b and a["simhost"]["best"] / b["simhost"]["best"]
            text = f"simhost scaling {t['from']}->{t['to']} threads >= {t['min']:g}x"
        elif t["kind"] == "time":
            value = row and row["simhost"]["best"]
            text = (f"simhost <= {fmt_time(t['max'])} at {t['threads']} threads "
                    f"(set on {REFERENCE_MACHINE})")
        elif t["kind"] == "peak":  # share of the FMA peak measured in this run
            value = row and row["limits"].get("fraction_of_peak_flops")
            text = f"simhost >= {t['min']:.0%} of the FMA peak at {t['threads']} threads"
        else:
            raise ValueError(f"{bench['kernel']}: unknown target kind {t['kind']!r}; expected "
                             "'speedup', 'scaling', 'time' or 'peak'")
        if value is None:
            status = "N/A"
        elif t["kind"] == "time":
            status = "PASS" if value <= t["max"] else "MISS"
        else:
            status = "PASS" if value >= t["min"] else "MISS"
        targets.append(dict(t, text=text, value=value, status=status))

    amount, unit = bench["work"](params)
    return {
        "kernel": bench["kernel"],
        "size": bench["size"](params),
        "params": params,
        "seed": args.seed,
        "reps": args.reps,
        "work": {"amount": amount, "unit": unit},
        "other_load": other.fraction,
        "peers": [p["name"] for p in peers],
        "extra_peers": [p["name"] for p in peers if p.get("extra")],
        "unavailable_peers": missing,
        "rows": rows,
        "checks": checks,
        "bitwise": bitwise,
        "targets": targets,
    }


def fmt_time(seconds):
    return f"{seconds * 1e3:.3g} ms" if seconds < 1.0 else f"{seconds:.3g} s"


def fmt_target_value(t):
    if t["value"] is None:
        return "n/a"
    if t["kind"] == "time":
        return fmt_time(t["value"])
    if t["kind"] == "peak":
        return f"{t['value']:.0%}"
    return f"{t['value']:.{3 if t['kind'] == 'native' else 2}f}x"


def print_table(results, quick):
    cols = ["kernel", "size", "threads", "simhost"]
    peer_names = []
    for r in results:
        peer_names += [p for p in r["peers"] if p not in peer_names]
    cols += peer_names + [f"x {p}" for p in peer_names] + ["scaling"]
    lines = []
    for r in results:
        base = r["rows"][0]["simhost"]["best"]
        for row in r["rows"]:
            cells = [r["kernel"], r["size"], str(row["threads"]), fmt_time(row["simhost"]["best"])]
            cells += [
                fmt_time(row["peers"][p]["best"]) if p in row["peers"] else "-"
                for p in peer_names
            ]
            cells += [
                f"{row['speedup'][p]:.2f}x" if p in row.get("speedup", {}) else "-"
                for p in peer_names
            ]
            first = r["rows"][0]["threads"]
            scaling = base / row["simhost"]["best"]
            cells.append("-" if row is r["rows"][0] else f"{scaling:.2f}x ({first}->{row['threads']})")
            lines.append(cells)
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]
    print()
    for line in [cols, ["-" * w for w in widths]] + lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    print()
    print("times: best wall-clock of the repetitions; 'x PEER' = PEER time / simhost time")
    print("(higher means simhost is faster); scaling = simhost time at the first thread")
    print("count / simhost time at this one.")
    own = sorted({p for r in results for row in r["rows"] for p, e in row["peers"].items()
                  if e["threads"] == "own"})
    if own:
        print(f"{', '.join(own)}: not steered by the thread setting; timed once, shown in each row.")
    print()
    native_rows = [(r, row) for r in results for row in r["rows"] if "native" in row]
    if native_rows:
        print_native_table(native_rows)
    for r in results:
        note = "  (quick run: sizes too small for the targets to mean anything)" if quick else ""
        print(f"targets, {r['kernel']} {r['size']} (informational){note}:")
        for t in r["targets"]:
            print(f"  [{t['status']}] {t['text']}: {fmt_target_value(t)}")
            if t["status"] == "MISS" and "bound" in t:
                print(f"         what bounds it: {t['bound']}")
        for c in r["checks"]:
            if c["reference"] is None:
                print(f"  [----] threads={c['threads']}: no reference available to check against")
            else:
                mark = "OK" if c["ok"] else "MISMATCH"
                print(
                    f"  [{mark}] threads={c['threads']}: simhost vs {c['reference']}, "
                    f"{c['measure']} {c['rel_diff']:.3g} (tolerance {c['tolerance']:g})"
                )
        for row in r["rows"]:
            lim = row["limits"]
            parts = []
            if "fraction_of_peak_flops" in lim:
                parts.append(f"{lim['flops_per_second'] / 1e9:.1f} GFLOP/s = "
                             f"{lim['fraction_of_peak_flops']:.0%} of peak FLOP/s")
            if "fraction_of_copy_bandwidth" in lim:
                parts.append(f"{lim['bytes_per_second'] / 1e9:.1f} GB/s = "
                             f"{lim['fraction_of_copy_bandwidth']:.0%} of copy bandwidth")
            parts.append(f"threads busy {row['simhost']['threads_busy']:.2f} of {row['threads']}")
            print(f"  [limit] threads={row['threads']}: " + "; ".join(parts))
        b = r["bitwise"]
        if b["promised"]:
            mark = "OK" if b["ok"] else "MISMATCH"
            print(f"  [{mark}] simhost results bit-identical across threads {b['threads']} "
                  f"(promised): {b['equal']}")
        else:
            print(f"  [info] simhost results bit-identical across thread counts: {b['equal']}")
        print()


def print_native_table(native_rows):
    cols = ["kernel", "size", "threads", "dispatched", "native", "ratio", "same bits"]
    lines = [[r["kernel"], r["size"], str(row["threads"]), fmt_time(row["dispatched"]["best"]),
              fmt_time(row["native"]["best"]), f"{row['native_ratio']:.3f}",
              "yes" if row["native_bitwise_equal"] else "no"] for r, row in native_rows]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]
    for line in [cols, ["-" * w for w in widths]] + lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    worst = max(row["native_ratio"] for _, row in native_rows)
    print(f"this (dispatched) build vs the -march=native build, each in a worker process of its\n"
          f"own: ratio = dispatched best time / native best time (target <= {NATIVE_MAX_RATIO}; "
          f"worst {worst:.3f});\n'same bits': every output of the native build equal to this "
          "build's bit for bit.")
    print()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_ticks():
    """(total, idle) jiffies of all CPUs from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)
    except (OSError, ValueError, IndexError):
        return None


def cpu_busy_fraction(interval=0.5):
    """Fraction of all CPUs' time spent busy over `interval` seconds (None if unknown)."""
    a = cpu_ticks()
    time.sleep(interval)
    b = cpu_ticks()
    if a is None or b is None or b[0] <= a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


class OtherLoad:
    """Share of all CPUs' time that other processes used while the block ran.

    Busy CPU time from /proc/stat minus this process's own CPU time (all its threads, and
    the children it waited for, e.g. the start-up probes of overhead.py), as a fraction of
    the CPUs' total time; None where /proc/stat is missing.
    """

    @staticmethod
    def _own_cpu():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        self.ticks = cpu_ticks()
        self.own = self._own_cpu()
        self.fraction = None
        return self

    def __exit__(self, *exc):
        end = cpu_ticks()
        own = self._own_cpu() - self.own
        if self.ticks is not None and end is not None and end[0] > self.ticks[0]:
            hz = os.sysconf("SC_CLK_TCK")
            total = (end[0] - self.ticks[0]) / hz
            busy = total - (end[1] - self.ticks[1]) / hz
            self.fraction = max(0.0, (busy - own) / total)
        return False


def git_revision():
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=BENCH_DIR, capture_output=True, text=True
        )
        return {
            "commit": head.stdout.strip() if head.returncode == 0 else None,
            "dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None,
        }
    except OSError:
        return {"commit": None, "dirty": None}


def environment(simhost, load_at_start):
    numba = nbody.numba
    layer = None
    if numba is not None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # only known once a parallel function has run
            pass
    return {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "versions": {
            "simhost": getattr(simhost, "__version__", None),
            "numpy": np.__version__,
            "numba": getattr(numba, "__version__", None),
        },
        "numba_threading_layer": layer,
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS if numba is not None else None,
        "git": git_revision(),
    }


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run.py", description="Benchmark simhost kernels against NumPy and Numba."
    )
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, 1 repetition, and a two-point size sweep (CI smoke)")
    ap.add_argument("--sizes", action="store_true",
                    help="only the size sweeps (bench/sizes.py): each kernel from small to large "
                         "sizes against Numba, at the largest --threads; JSON and one PNG per "
                         "kernel in --sizes-dir (with --quick: two tiny sizes)")
    ap.add_argument("--sizes-dir", metavar="DIR",
                    help="where the size sweeps go (default bench/results, or beside --json)")
    ap.add_argument("--json", metavar="PATH", help="results file (default bench/results/KERNEL.json)")
    ap.add_argument("--only", action="append", metavar="KERNEL", help="run only this kernel (repeatable)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, help="timed repetitions per measurement (default 5; 1 with --quick)")
    ap.add_argument("--seed", type=int, default=12345, help="seed of the initial conditions")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter, e.g. --set N=8192 --set steps=5")
    ap.add_argument("--skip", action="append", default=[], metavar="PEER",
                    help="leave out a reference implementation, e.g. --skip numpy")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--native-build", metavar="DIR",
                    help="also time a -march=native build of simhost (SIMHOST_NATIVE=ON, e.g. "
                         "build/release-native from `cmake --preset release-native`) in the "
                         "same run, alternating with this one")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if args.reps is None:
        args.reps = 1 if args.quick else 5
    if args.reps < 1 or not args.threads or min(args.threads) < 1:
        ap.error("--reps and every --threads value must be >= 1")
    if args.sizes and (args.set or args.native_build):
        ap.error("--sizes sets every point's parameters itself (bench/sizes.py) and times this "
                 "build only: leave out --set and --native-build")
    args.overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set expects KEY=VALUE, got {item!r}")
        args.overrides[key] = json.loads(value)  # 8192 -> int, 1e-3 -> float
    return args


def main(argv):
    args = parse_args(argv)
    selected = [b for b in BENCHMARKS if not args.only or b["kernel"] in args.only]
    if args.list:
        for b in BENCHMARKS:
            print(f"{b['kernel']}: {b['params']}  (--quick: {b['quick']})")
        return 0
    if not selected:
        print(f"bench/run.py: no benchmark named {args.only}", file=sys.stderr)
        return 2
    try:
        import simhost
    except ImportError as exc:
        print(
            f"bench/run.py: cannot import simhost ({exc}). Run it as "
            "`build/release/bin/simhost bench/run.py` or with PYTHONPATH=build/release/python.",
            file=sys.stderr,
        )
        return 2
    if nbody.HAVE_NUMBA:
        limit = nbody.numba.config.NUMBA_NUM_THREADS
        if max(args.threads) > limit:
            print(f"bench/run.py: numba allows at most {limit} threads here", file=sys.stderr)
            return 2

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    busy = cpu_busy_fraction()
    if busy is not None and busy > 0.2:
        print(f"warning: the CPUs were {busy:.0%} busy just before the run; timings may be noisy")

    args.workers = {}
    if args.native_build:
        try:
            args.workers["native"] = BuildWorker.native(args.native_build)
            args.workers["dispatched"] = BuildWorker.this_build()
        except RuntimeError as exc:
            for wk in args.workers.values():
                wk.close()
            print(f"bench/run.py: {exc}", file=sys.stderr)
            return 2
    import simhost._core

    cpu_path = simhost._core._library_versions().get("cpu")
    print(f"simhost CPU path: {cpu_path}" + (
        f"; native build: {args.workers['native'].label}" if args.workers else ""), flush=True)

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    threads_before = simhost.get_threads()
    if args.sizes_dir is None:
        args.sizes_dir = (os.path.join(BENCH_DIR, "results") if args.json is None else
                          os.path.splitext(os.path.abspath(args.json))[0] + "_sizes")
    if args.sizes:  # the sweeps alone
        sweep_threads = max(args.threads)
        limits = machine_limits([sweep_threads], args.quick)
        machine = dict(environment(simhost, load), cpu_busy_at_start=busy, cpu_path=cpu_path,
                       started_utc=started, command=[sys.argv[0]] + list(argv))
        try:
            return sizes.run_sweeps(simhost, selected, args, machine,
                                    limits["threads"][sweep_threads], set_peer_threads)
        finally:
            simhost.set_threads(threads_before)
    limits = machine_limits(args.threads, args.quick)
    try:
        results = [run_benchmark(simhost, b, args, limits) for b in selected]
    except RuntimeError as exc:
        if not args.workers:
            raise
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 2
    finally:
        for wk in args.workers.values():
            wk.close()
    simhost.set_threads(threads_before)

    print_table(results, args.quick)
    report = {
        "schema": 1,
        "started_utc": started,
        "command": [sys.argv[0]] + list(argv),
        "quick": args.quick,
        "threads": args.threads,
        "machine": dict(environment(simhost, load), cpu_busy_at_start=busy, limits=limits,
                        cpu_path=cpu_path),
        "native_build": args.workers and {"dir": args.workers["native"].label,
                                          "cpu_path": args.workers["native"].cpu,
                                          "dispatched_cpu_path": args.workers["dispatched"].cpu,
                                          "max_ratio": NATIVE_MAX_RATIO},
        "benchmarks": results,
    }
    path = args.json or os.path.join(
        BENCH_DIR, "results", (selected[0]["kernel"] if len(selected) == 1 else "all") + ".json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=float)
        f.write("\n")
    print(f"results written to {path}")

    bad = [(r, c) for r in results for c in r["checks"] if c["ok"] is False]
    not_bitwise = [r for r in results if r["bitwise"]["ok"] is False]
    if bad or not_bitwise:
        print("\n" + "!" * 78, file=sys.stderr)
        for r, c in bad:
            print(
                f"MISMATCH: {r['kernel']} {r['size']} threads={c['threads']}: simhost differs "
                f"from {c['reference']} by {c['rel_diff']:.3g} ({c['measure']}; "
                f"tolerance {c['tolerance']:g}); {c['detail']}",
                file=sys.stderr,
            )
        for r in not_bitwise:
            print(
                f"MISMATCH: {r['kernel']} {r['size']}: simhost's results differ between "
                f"threads {r['bitwise']['threads']}, but the kernel promises bit-identity",
                file=sys.stderr,
            )
        print("!" * 78, file=sys.stderr)
        return 1
    if args.quick:  # and the two-point sweeps, so that bench/sizes.py stays runnable
        if max(args.threads) not in limits["threads"]:
            limits = machine_limits([max(args.threads)], True)
        machine = dict(report["machine"], started_utc=started, command=report["command"])
        status = sizes.run_sweeps(simhost, selected, args, machine,
                                  limits["threads"][max(args.threads)], set_peer_threads)
        simhost.set_threads(threads_before)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
