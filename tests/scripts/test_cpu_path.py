"""The kernels' CPU path: SIMHOST_CPU, `simhost --version`, `--help`, the library versions.

Run through the host binary by CTest; spawns the binary named by SIMHOST_BIN (and the plain
python3 named by SIMHOST_PYTHON, with SIMHOST_PYTHONPATH) as subprocesses with SIMHOST_CPU set
to each value of interest. The exit code is the verdict.
"""

import os
import re
import subprocess
import sys

import simhost._core
import simhost_testing

SIMHOST = os.environ.get("SIMHOST_BIN", "")
PYTHON = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
PYTHONPATH = os.environ.get("SIMHOST_PYTHONPATH", "")
TIMEOUT_S = 60
USAGE_EXIT = 2
ALL_PATHS = ("generic", "avx2", "avx512", "native")
VERSION_LINE = re.compile(r"^CPU path (\w+) \(available: ([\w, ]+); built: ([\w, ]+)\)$", re.M)


def env_with(cpu):
    env = {k: v for k, v in os.environ.items() if k != "SIMHOST_CPU"}
    if cpu is not None:
        env["SIMHOST_CPU"] = cpu
    return env


def sim(args, cpu):
    return subprocess.run([SIMHOST, *args], env=env_with(cpu), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def describe(p):
    return f"rc={p.returncode}\n--- stdout:\n{p.stdout}--- stderr:\n{p.stderr}"


def version(cpu):
    """(in use, available, built) from `simhost --version` with SIMHOST_CPU=cpu."""
    p = sim(["--version"], cpu)
    assert p.returncode == 0, describe(p)
    m = VERSION_LINE.search(p.stdout)
    assert m, f"no 'CPU path' line in --version:\n{describe(p)}"
    return m.group(1), m.group(2).split(", "), m.group(3).split(", ")


def paths():
    _, available, built = version(None)
    return available, built


def test_default_is_the_last_available_path_and_matches_the_library_versions():
    in_use, available, built = version(None)
    assert set(built) <= set(ALL_PATHS) and built, built
    assert built == ["native"] or built[0] == "generic", built
    assert available and set(available) <= set(built), (available, built)
    assert in_use == available[-1], (in_use, available)
    # This process (CTest gives it no SIMHOST_CPU for script.cpu_path) reports the same.
    if not os.environ.get("SIMHOST_CPU"):
        assert simhost._core._library_versions()["cpu"] == in_use
    p = sim(["-c", "import simhost._core as c; print(c._library_versions()['cpu'])"], None)
    assert p.returncode == 0 and p.stdout == in_use + "\n", describe(p)


def test_each_available_path_can_be_forced_and_runs_a_kernel():
    available, _ = paths()
    code = ("import numpy as np, simhost, simhost._core as c\n"
            "u = np.zeros((9, 9)); u[4, 4] = 1.0\n"
            "r = simhost.run('heat2d', u0=u, r=0.25, steps=1)\n"
            "print(c._library_versions()['cpu'], r.u[4, 4], r.u[3, 4])\n")
    for path in available:
        assert version(path)[0] == path
        p = sim(["-c", code], path)
        # One step with r = 1/4 leaves 0 at the centre and 1/4 at each neighbour, on every path.
        assert p.returncode == 0 and p.stdout == f"{path} 0.0 0.25\n", describe(p)


def test_an_unknown_value_is_a_usage_error_naming_the_allowed_values():
    available, built = paths()
    for bad in ("avx3", "AVX2", "generic "):
        for args in (["-c", "print('ran')"], ["--version"], ["kernels"]):
            p = sim(args, bad)
            assert p.returncode == USAGE_EXIT, describe(p)
            assert "ran" not in p.stdout, describe(p)
            want = (f"simhost: SIMHOST_CPU must be one of the CPU paths this build has "
                    f"({', '.join(built)}), got '{bad}' (this CPU runs: {', '.join(available)})")
            assert p.stderr.startswith(want + "\n"), describe(p)


def test_a_path_this_cpu_cannot_run_is_a_usage_error():
    available, built = paths()
    missing = [p for p in built if p not in available]
    if not missing:
        print("  (this CPU runs every built path: nothing to refuse)")
    for path in missing:
        p = sim(["-c", "print('ran')"], path)
        assert p.returncode == USAGE_EXIT and "ran" not in p.stdout, describe(p)
        assert f"SIMHOST_CPU={path}: this CPU cannot run the {path} path (it runs: " \
               f"{', '.join(available)}; allowed values: {', '.join(built)})" in p.stderr, describe(p)
    # And a path the build does not have (a native build has only `native`).
    for path in (p for p in ALL_PATHS if p not in built):
        p = sim(["-c", "print('ran')"], path)
        assert p.returncode == USAGE_EXIT and "must be one of the CPU paths" in p.stderr, describe(p)


def test_empty_means_unset():
    assert version("")[0] == version(None)[0]


def test_plain_python_import_fails_with_the_same_message():
    env = dict(env_with("avx3"), PYTHONPATH=PYTHONPATH)
    if os.environ.get("SIMHOST_PYTHON_PRELOAD"):  # a sanitizer build: its runtimes first
        env["LD_PRELOAD"] = os.environ["SIMHOST_PYTHON_PRELOAD"]
    p = subprocess.run([PYTHON, "-c", "import simhost"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S)
    assert p.returncode == 1, describe(p)
    assert "ImportError: SIMHOST_CPU must be one of the CPU paths this build has" in p.stderr, describe(p)


def test_help_documents_simhost_cpu():
    p = sim(["--help"], "avx3")  # --help works whatever SIMHOST_CPU says
    assert p.returncode == 0, describe(p)
    assert re.search(r"^  SIMHOST_CPU +the kernels' CPU path: generic .* avx2 .* or$", p.stdout, re.M), p.stdout
    assert "avx512 (x86-64-v4)" in p.stdout, p.stdout


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]

if __name__ == "__main__":
    if not SIMHOST or not os.access(SIMHOST, os.X_OK):
        print(f"SIMHOST_BIN is not an executable: {SIMHOST!r}")
        sys.exit(1)
    sys.exit(simhost_testing.run(TESTS))
