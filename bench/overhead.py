"""simhost's fixed costs: the per-call overhead of simhost.run on a trivial input, against a
Numba njit call and a NumPy ufunc on the same tiny input, and the host's start-up time
against `python3 -c "import numpy"`. All measured in the same run.

    build/release/bin/simhost bench/overhead.py [--calls N] [--starts N] [--json PATH]

Targets (informational; a MISS does not fail the run): per-call overhead <= 5 us, start-up
<= 1.3x python3 importing NumPy, both for `simhost -c pass` and for `simhost -c "import simhost"`
(which imports NumPy too), each as the median ratio of paired runs. See bench/README.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import run as bench_run  # sibling module: machine facts, load measurement

OVERHEAD_TARGET_US = 5.0
STARTUP_TARGET_RATIO = 1.3


def median_us(fn, calls):
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def per_call(simhost, calls):
    pos = np.zeros((1, 3))
    vel = np.zeros((1, 3))
    mass = np.ones(1)
    rows = {}

    def simhost_call():
        return simhost.run("nbody", pos=pos, vel=vel, mass=mass, dt=1.0, steps=0)

    simhost_call()
    kernel_us = statistics.median(simhost_call().seconds for _ in range(200)) * 1e6
    rows["simhost.run (nbody, N=1, steps=0)"] = median_us(simhost_call, calls)
    # With a timeout the call is handed to a worker and supervised (docs/threads.md): the
    # cost that running on the calling thread avoids.
    rows["  same, timeout=60 (runs on a worker)"] = median_us(
        lambda: simhost.run("nbody", pos=pos, vel=vel, mass=mass, dt=1.0, steps=0, timeout=60),
        max(1, calls // 4))
    try:
        import numba

        @numba.njit
        def trivial(pos, vel, dt):
            return pos + dt * vel

        trivial(pos, vel, 1.0)  # compile
        rows["numba njit call (pos + dt*vel)"] = median_us(lambda: trivial(pos, vel, 1.0), calls)
    except ImportError:
        pass
    rows["numpy ufunc (np.add(pos, vel))"] = median_us(lambda: np.add(pos, vel), calls)
    return rows, kernel_us


REFERENCE_START = "python3 -c 'import numpy'"


def startup(simhost_bin, python, starts):
    """Median wall time (ms) of each command, and the median over runs of each command's time
    divided by the reference's in the same round (paired, so drifting load hits both)."""
    commands = {"simhost -c pass": [simhost_bin, "-c", "pass"],
                "simhost -c 'import simhost'": [simhost_bin, "-c", "import simhost"],
                REFERENCE_START: [python, "-c", "import numpy"]}
    times = {name: [] for name in commands}
    for _ in range(starts):
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    medians = {name: statistics.median(t) * 1000.0 for name, t in times.items()}
    ratios = {name: statistics.median(a / b for a, b in zip(t, times[REFERENCE_START]))
              for name, t in times.items() if name != REFERENCE_START}
    return medians, ratios


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per median (20000)")
    parser.add_argument("--starts", type=int, default=20, help="process starts per median (20)")
    parser.add_argument("--simhost", default=None,
                        help="the host binary (default: this one when run by it, else "
                             "build/release/bin/simhost)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the reference python3")
    parser.add_argument("--json", default=os.path.join(bench_run.BENCH_DIR, "results",
                                                       "overhead.json"))
    args = parser.parse_args(argv)
    import simhost

    in_host = "_simhost_core" in sys.builtin_module_names
    simhost_bin = args.simhost or (sys.executable if in_host else os.path.join(
        bench_run.BENCH_DIR, "..", "build", "release", "bin", "simhost"))

    with bench_run.OtherLoad() as load:
        calls, kernel_us = per_call(simhost, args.calls)
        starts, ratios = startup(simhost_bin, args.python, args.starts)
    overhead = calls["simhost.run (nbody, N=1, steps=0)"]

    print(f"per-call time, median of {args.calls} calls:")
    for name, us in calls.items():
        print(f"  {name:<40} {us:9.2f} us")
    print(f"  (of simhost's, the kernel itself ran {kernel_us:.2f} us by r.seconds)")
    print(f"start-up, median of {args.starts} starts:")
    for name, ms in starts.items():
        print(f"  {name:<40} {ms:9.1f} ms")
    print("targets (informational):")
    print(f"  [{'PASS' if overhead <= OVERHEAD_TARGET_US else 'MISS'}] per-call overhead "
          f"<= {OVERHEAD_TARGET_US:g} us: {overhead:.2f} us")
    for name, ratio in ratios.items():
        print(f"  [{'PASS' if ratio <= STARTUP_TARGET_RATIO else 'MISS'}] {name} <= "
              f"{STARTUP_TARGET_RATIO:g}x {REFERENCE_START} (median of paired runs): {ratio:.2f}x")
    if load.fraction is not None and load.fraction > 0.10:
        print(f"  warning: other processes used {load.fraction:.0%} of the CPUs meanwhile; "
              f"these figures are not trustworthy")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"per_call_us": calls, "kernel_us": kernel_us, "startup_ms": starts,
                   "startup_ratio": ratios, "other_load": load.fraction,
                   "targets": {"per_call_us": OVERHEAD_TARGET_US,
                               "startup_ratio": STARTUP_TARGET_RATIO},
                   "environment": bench_run.environment(simhost, os.getloadavg())},
                  f, indent=2)
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
