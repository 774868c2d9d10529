"""Batch throughput: many tiny runs into a fresh store, against a plain loop in the same run.

    build/release/bin/simhost bench/batch.py [--runs N] [--reps K] [--threads T] [--quick]
                                             [--no-mpi] [--json PATH]

Each contender does the same N runs of `nbody` (8 bodies, 1 step, dt swept over N values)
and keeps every output (pos, vel, energy, momentum). A time is the wall clock of the whole
call, from the spec's path to summary.csv written:

- `simhost.batch()`, no reduce: a fresh store, T threads, the default jobs.
- `simhost.batch()`, a trivial Python reduce (one float per run).
- `simhost batch` (the command line, one process, T threads): the process, start-up included.
- `mpirun -n 2 simhost batch --threads 1` (when mpirun is on PATH): mpirun, start-up included.
- the plain loop a user would write without batches: `simhost.run` per run, `np.savez` of
  its outputs and a JSON line of its parameters (no fsync, so it keeps its results less
  safely than the store does).

For each batch, "the batch itself" is the store's own session time (first run started to
last run committed). Repetitions go round-robin over the contenders; the median is shown.

Targets (informational; a MISS does not fail the run): >= 30,000 committed runs/s without a
reduce, >= 10,000 runs/s with the Python reduce, >= 10x the plain loop. The check (exit 1 on
failure): every store is complete, the stores of the batch contenders are identical in runs
and arrays (docs/batches.md: whatever jobs, threads or ranks), and sampled runs equal the
plain loop's bit for bit. See bench/README.md.
"""

import argparse
import datetime
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import run as bench_run  # sibling module: machine facts, load measurement

TARGET_NO_REDUCE = 30_000.0
TARGET_REDUCE = 10_000.0
TARGET_VS_LOOP = 10.0
BODIES = 8
OUTPUTS = ("pos", "vel", "energy", "momentum")
SAMPLE = 200  # runs compared bit for bit with the plain loop

SPEC = """\
kernel = "nbody"
seed = 1
{reduce}
[params]
pos = {{ npy = "pos.npy" }}
vel = {{ npy = "vel.npy" }}
mass = {{ npy = "mass.npy" }}
steps = 1

[grid]
dt = {{ linspace = [1e-4, 1e-2, {runs}] }}
"""

REDUCE = """\
def trivial(outputs, params):
    return {"e_end": float(outputs["energy"][-1])}
"""


def write_inputs(folder, runs):
    rng = np.random.default_rng(2026)
    np.save(os.path.join(folder, "pos.npy"), rng.standard_normal((BODIES, 3)))
    np.save(os.path.join(folder, "vel.npy"), 0.1 * rng.standard_normal((BODIES, 3)))
    np.save(os.path.join(folder, "mass.npy"), np.full(BODIES, 1.0 / BODIES))
    with open(os.path.join(folder, "reduce.py"), "w") as f:
        f.write(REDUCE)
    paths = {}
    for name, reduce in (("plain", ""), ("reduce", 'reduce = "reduce.py:trivial"')):
        paths[name] = os.path.join(folder, f"{name}.toml")
        with open(paths[name], "w") as f:
            f.write(SPEC.format(reduce=reduce, runs=runs))
    return paths


def iso_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def session_seconds(out):
    """The batch's own time, first session start to last session end, from the store."""
    with sqlite3.connect(f"file:{os.path.join(out, 'batch.sqlite')}?mode=ro", uri=True) as db:
        started, ended = db.execute("SELECT min(started), max(ended) FROM sessions").fetchone()
    return iso_seconds(ended) - iso_seconds(started)


def store_content(out):
    """What two stores of one spec share: runs (without timings) and arrays."""
    with sqlite3.connect(f"file:{os.path.join(out, 'batch.sqlite')}?mode=ro", uri=True) as db:
        runs = db.execute("SELECT idx, id, params, status, error, reduce, outputs FROM runs "
                          "ORDER BY idx").fetchall()
        arrays = db.execute("SELECT idx, name, npy FROM arrays ORDER BY idx, name").fetchall()
    return runs, arrays


def plain_loop(simhost, folder, out, runs):
    """The loop a user writes without batches, its outputs into the new folder `out`."""
    pos = np.load(os.path.join(folder, "pos.npy"))
    vel = np.load(os.path.join(folder, "vel.npy"))
    mass = np.load(os.path.join(folder, "mass.npy"))
    os.makedirs(out)
    with open(os.path.join(out, "runs.jsonl"), "w") as log:
        for i, dt in enumerate(np.linspace(1e-4, 1e-2, runs)):
            r = simhost.run("nbody", pos=pos, vel=vel, mass=mass, dt=float(dt), steps=1)
            np.savez(os.path.join(out, f"{i}.npz"), **{k: r[k] for k in OUTPUTS})
            log.write(json.dumps({"idx": i, "dt": float(dt), "steps": 1,
                                  "seconds": r.seconds}) + "\n")


def compare_with_loop(store, loop, runs):
    """Bit-for-bit equality of sampled runs; returns the list of differences."""
    problems = []
    with sqlite3.connect(f"file:{os.path.join(store, 'batch.sqlite')}?mode=ro", uri=True) as db:
        for i in np.unique(np.linspace(0, runs - 1, min(SAMPLE, runs)).astype(int)):
            saved = np.load(os.path.join(loop, f"{i}.npz"))
            for name in OUTPUTS:
                row = db.execute("SELECT npy FROM arrays WHERE idx = ? AND name = ?",
                                 (int(i), name)).fetchone()
                if row is None or not np.array_equal(np.load(io.BytesIO(row[0])), saved[name]):
                    problems.append(f"run {i} output {name}")
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs per batch (10000)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions, median (5)")
    parser.add_argument("--threads", type=int, default=2, help="thread budget (2)")
    parser.add_argument("--quick", action="store_true", help="500 runs, 1 repetition (CI)")
    parser.add_argument("--no-mpi", action="store_true", help="leave out the mpirun row")
    parser.add_argument("--simhost", default=None,
                        help="the host binary (default: this one when run by it, else "
                             "build/release/bin/simhost)")
    parser.add_argument("--json", default=os.path.join(bench_run.BENCH_DIR, "results",
                                                       "batch.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.reps = 500, 1
    if not 2 <= args.runs <= 1_000_000 or args.reps < 1 or args.threads < 1:
        parser.error("--runs must be in [2, 1000000], --reps and --threads >= 1")
    import simhost

    in_host = "_simhost_core" in sys.builtin_module_names
    simhost_bin = args.simhost or (sys.executable if in_host else os.path.join(
        bench_run.BENCH_DIR, "..", "build", "release", "bin", "simhost"))
    mpirun = None if args.no_mpi else shutil.which("mpirun")
    sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
    if sanitized:
        mpirun = None  # Open MPI's start-up leaks and races by design

    folder = tempfile.mkdtemp(prefix="simhost-bench-batch-")
    rows = {}   # name -> {"runs_per_s", "us_per_run", ...}
    stores = {}
    try:
        specs = write_inputs(folder, args.runs)
        simhost.set_threads(args.threads)
        # Warm-up: imports, the thread pool, the hooks' module, page cache.
        simhost.batch(specs["reduce"], os.path.join(folder, "warm"), progress=False)
        kernel_us = statistics.median(
            simhost.run("nbody", pos=np.zeros((BODIES, 3)), vel=np.zeros((BODIES, 3)),
                        mass=np.ones(BODIES), dt=1e-3, steps=1).seconds
            for _ in range(200)) * 1e6

        env = dict(os.environ, SIMHOST_PROGRESS="0")
        jobs = []

        def api(spec):
            def call(out):
                s = simhost.batch(specs[spec], out, progress=False)
                if not s.ok:
                    raise SystemExit(f"bench/batch.py: simhost.batch({spec}.toml): {s}")
                jobs.append(s.jobs)
            return call

        def command(cmd):
            def call(out):
                subprocess.run(cmd + ["--out", out], check=True, env=env, stdout=subprocess.DEVNULL)
            return call

        loop_name = "plain loop: simhost.run + np.savez + JSON line"
        # (name, output folder, call(out), whether the store's own session time is shown)
        contenders = [
            ("simhost.batch(), no reduce", "plain", api("plain"), True),
            ("simhost.batch(), Python reduce", "reduce", api("reduce"), True),
            (f"simhost batch (CLI, --threads {args.threads})", "cli",
             command([simhost_bin, "--threads", str(args.threads), "batch", specs["plain"]]), True)]
        if mpirun:
            launch = [mpirun, "-n", "2", "--oversubscribe"]
            if os.geteuid() == 0:
                launch.append("--allow-run-as-root")
            contenders.append(("mpirun -n 2 simhost batch --threads 1", "mpi",
                               command(launch + [simhost_bin, "batch", specs["plain"],
                                                 "--threads", "1"]), True))
        contenders.append((loop_name, "loop",
                           lambda out: plain_loop(simhost, folder, out, args.runs), False))

        # Round-robin: repetition k of every contender runs before repetition k + 1 of any,
        # so a machine that drifts slower or faster meanwhile weighs on all of them alike.
        times = {name: [] for name, *_ in contenders}
        batch_times = {name: [] for name, *_ in contenders}
        with bench_run.OtherLoad() as load:
            for _ in range(args.reps):
                for name, sub, call, own_time in contenders:
                    out = os.path.join(folder, sub)
                    # Before the clock starts: the previous output goes, and what the file
                    # system still has to do for it (writeback, the discards of a disk mounted
                    # with `discard`) is done, so it is charged to no one.
                    shutil.rmtree(out, ignore_errors=True)
                    os.sync()
                    t0 = time.perf_counter()
                    call(out)
                    times[name].append(time.perf_counter() - t0)
                    if own_time:
                        batch_times[name].append(session_seconds(out))
        for name, sub, _, own_time in contenders:
            rows[name] = {"seconds": statistics.median(times[name]), "samples": times[name]}
            if own_time:
                rows[name]["batch_seconds"] = statistics.median(batch_times[name])
            if sub != "loop":
                stores[name] = os.path.join(folder, sub)
        rows["simhost.batch(), no reduce"]["jobs"] = jobs[-1]
        loop_out = os.path.join(folder, "loop")

        for row in rows.values():
            row["runs_per_s"] = args.runs / row["seconds"]
            row["us_per_run"] = row["seconds"] / args.runs * 1e6
            if "batch_seconds" in row:
                row["batch_runs_per_s"] = args.runs / row["batch_seconds"]
                row["batch_us_per_run"] = row["batch_seconds"] / args.runs * 1e6

        # The check: complete, identical stores; equal to the plain loop.
        problems = []
        reference_name = "simhost.batch(), no reduce"
        reference = store_content(stores[reference_name])
        if len(reference[0]) != args.runs or any(r[3] != "done" for r in reference[0]):
            problems.append(f"{reference_name}: the store is not {args.runs} done runs")
        for name, out in stores.items():
            if name == reference_name:
                continue
            runs, arrays = store_content(out)
            if name.endswith("Python reduce"):
                runs = [r[:5] + (None,) + r[6:] for r in runs]  # its reduce column is extra
            if (runs, arrays) != reference:
                problems.append(f"{name}: its store differs from {reference_name}'s")
        problems += compare_with_loop(stores[reference_name], loop_out, args.runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    loop_rate = rows[loop_name]["runs_per_s"]
    print(f"batch throughput: {args.runs} runs of nbody (N={BODIES}, steps=1), every output "
          f"kept, {args.threads} threads, median of {args.reps}")
    print(f"  {'':<52} {'runs/s':>9} {'us/run':>8} {'vs loop':>8}")
    for name, row in rows.items():
        print(f"  {name:<52} {row['runs_per_s']:9.0f} {row['us_per_run']:8.1f} "
              f"{row['runs_per_s'] / loop_rate:7.1f}x")
        if "batch_seconds" in row:
            print(f"  {'  the batch itself (store sessions row)':<52} "
                  f"{row['batch_runs_per_s']:9.0f} {row['batch_us_per_run']:8.1f} "
                  f"{row['batch_runs_per_s'] / loop_rate:7.1f}x")
    spread = sorted(args.runs / t for t in rows[loop_name]["samples"])
    print(f"  (the plain loop ranged {spread[0]:.0f} to {spread[-1]:.0f} runs/s over the "
          f"repetitions: creating {args.runs} files costs what the file system makes it)")
    print(f"  (the kernel itself runs {kernel_us:.1f} us per call by r.seconds; "
          f"jobs: {rows['simhost.batch(), no reduce']['jobs']})")
    if not mpirun:
        why = ("under a sanitizer" if sanitized else
               "--no-mpi" if args.no_mpi else "no mpirun on PATH (setup.sh installs openmpi-bin)")
        print(f"  mpirun row left out: {why}")
    plain = rows["simhost.batch(), no reduce"]["runs_per_s"]
    reduced = rows["simhost.batch(), Python reduce"]["runs_per_s"]
    print("targets (informational):")
    for ok, text in ((plain >= TARGET_NO_REDUCE,
                      f"no reduce >= {TARGET_NO_REDUCE:,.0f} runs/s: {plain:,.0f}"),
                     (reduced >= TARGET_REDUCE,
                      f"Python reduce >= {TARGET_REDUCE:,.0f} runs/s: {reduced:,.0f}"),
                     (plain / loop_rate >= TARGET_VS_LOOP,
                      f"no reduce >= {TARGET_VS_LOOP:g}x the plain loop: "
                      f"{plain / loop_rate:.1f}x")):
        print(f"  [{'PASS' if ok else 'MISS'}] {text}")
    if args.quick:
        print("  (--quick: too few runs for the targets to mean much)")
    if load.fraction is not None and load.fraction > 0.10:
        print(f"  warning: other processes used {load.fraction:.0%} of the CPUs meanwhile; "
              f"these figures are not trustworthy")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"runs": args.runs, "threads": args.threads, "reps": args.reps,
                   "rows": rows, "kernel_us": kernel_us, "other_load": load.fraction,
                   "targets": {"no_reduce_runs_per_s": TARGET_NO_REDUCE,
                               "reduce_runs_per_s": TARGET_REDUCE,
                               "vs_loop": TARGET_VS_LOOP},
                   "problems": problems,
                   "environment": bench_run.environment(simhost, os.getloadavg())},
                  f, indent=2)
    print(f"results written to {args.json}")
    if problems:
        print("!" * 72)
        for p in problems:
            print(f"MISMATCH: {p}")
        print("!" * 72)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
