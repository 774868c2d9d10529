"""Python plugins, run through the host binary: a .py file in a SIMHOST_PLUGIN_PATH folder
whose @simhost.kernel composes a built-in kernel and NumPy is a kernel like any other (listed,
described, help(), `simhost kernels`; called with run, kernels.x and submit), its arguments
are bound by the built-ins' binder, the kernels it calls honour its timeout; a file that
cannot be imported is reported and the host goes on; a name already taken is refused, naming
both sources.

This process fills a plugin folder and runs the tests in a child host whose
SIMHOST_PLUGIN_PATH is that folder, so that the plugins load in the host's own loading step as
a user's do; it relays the child's verdict.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

import simhost
import simhost_testing
from simhost_testing import expect_raises, same_bits

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIMHOST_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
SIMHOST_BIN = os.environ.get("SIMHOST_BIN",
                             os.path.join(SOURCE_DIR, "build", "release", "bin", "simhost"))
# Set in the child host: the plugin folder the parent filled.
FOLDER_ENV = "SIMHOST_TEST_PYTHON_PLUGIN_FOLDER"
FOLDER = os.environ.get(FOLDER_ENV)

# A running kernel stops within this long of its timeout (scaled only under ThreadSanitizer).
RESPONSE_S = simhost_testing.scaled(0.5)
CHILD_LIMIT_S = simhost_testing.scaled(120.0)

SUMMARY = "Two heat2d runs, the second from where the first ended, and the mean of the result."

PLUGINS = {
    # The plugin under test: heat2d twice, and NumPy for the mean.
    "heat_twice.py": f'''
        import numpy as np

        import simhost

        CALLS = []  # the arguments of each call that reached the body


        @simhost.kernel(
            "{SUMMARY}",
            params=[simhost.Param.array("u0", "ny, nx", unit="K", doc="initial field"),
                    simhost.Param.float("r", 0.2, above=0, at_most=0.25,
                                        doc="mesh ratio alpha dt / h^2"),
                    simhost.Param.int("steps", 100, at_least=0, doc="steps of each run")],
            outputs=[simhost.Output.array("u", "ny, nx", unit="K", doc="the field at the end"),
                     simhost.Output.float("mean", unit="K", doc="its mean")],
            doc="heat2d from u0, then heat2d again from its result.",
            example={{"u0": np.eye(8), "steps": 3}})
        def heat_twice(u0, r, steps):
            CALLS.append((u0, r, steps))
            first = simhost.kernels.heat2d(u0=u0, r=r, steps=steps)
            second = simhost.kernels.heat2d(u0=first.u, r=r, steps=steps)
            return {{"u": second.u, "mean": float(np.mean(second.u))}}
        ''',
    "broken_syntax.py": '''
        import simhost

        def broken(:
            pass
        ''',
    "raises_at_import.py": '''
        import simhost

        raise RuntimeError("the calibration data is missing")
        ''',
    # A built-in's name.
    "dup_heat2d.py": '''
        import simhost


        @simhost.kernel("A second heat2d.", params=[simhost.Param.float("r", 0.2)],
                        outputs=[simhost.Output.float("mean")])
        def heat2d(r):
            return {"mean": r}
        ''',
    # Not a plugin: files whose names start with '_' are not loaded.
    "_helpers.py": '''
        raise RuntimeError("a private module was loaded as a plugin")
        ''',
}


def path_of(name):
    return os.path.join(FOLDER, name)


def failures_of(name):
    return [reason for file, reason in simhost.plugin_failures() if file == path_of(name)]


def host(*args):
    """The host binary run with `args` in this process's environment (the same folder)."""
    return subprocess.run([SIMHOST_BIN, *args], capture_output=True, text=True,
                          timeout=CHILD_LIMIT_S)


def field(ny, nx, seed):
    return np.random.default_rng(seed).uniform(0.0, 100.0, (ny, nx))


def reference(u0, r, steps):
    first = simhost.kernels.heat2d(u0=u0, r=r, steps=steps)
    return simhost.kernels.heat2d(u0=first.u, r=r, steps=steps).u


# ---- Listed and described like any kernel --------------------------------------------------


def test_listed_described_and_helped():
    assert "heat_twice" in simhost.list_kernels(), simhost.list_kernels()
    d = simhost.describe("heat_twice")
    assert d["source"] == f"Python plugin {path_of('heat_twice.py')}", d["source"]
    assert d["python"] is True and d["summary"] == SUMMARY
    assert d["doc"] == "heat2d from u0, then heat2d again from its result."
    params = {p["name"]: p for p in d["params"]}
    assert list(params) == ["u0", "r", "steps"]
    assert params["u0"]["kind"] == "array" and params["u0"]["shape"] == "(ny, nx)"
    assert params["u0"]["required"] is True and params["u0"]["unit"] == "K"
    assert params["r"]["default"] == 0.2 and params["steps"]["default"] == 100
    assert [(o["name"], o["kind"]) for o in d["outputs"]] == [("u", "array"), ("mean", "float")]
    assert sorted(d["example"]) == ["steps", "u0"], d["example"]
    text = d["text"]
    for line in (f"heat_twice: {SUMMARY}\n",
                 "  u0 (float64 array (ny, nx), required, finite, unit: K)\n      initial field\n",
                 "  r (float, default 0.2, in (0.0, 0.25], finite)\n",
                 "  steps (int, default 100, >= 0)\n      steps of each run\n",
                 "  mean (float, unit: K)\n      its mean\n"):
        assert line in text, (line, text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        help(simhost.kernels.heat_twice)
    shown = out.getvalue()
    signature = ("heat_twice(*, u0: 'float64 array (ny, nx) [K]', r: 'float' = 0.2, "
                 "steps: 'int' = 100,")
    assert signature in shown, shown
    for line in text.strip().splitlines():
        assert line.strip() in shown, (line, shown)
    # The host's commands, in a host with the same folder.
    p = host("kernels")
    assert p.returncode == 0, p.stderr
    assert re.search(rf"^heat_twice +{re.escape(SUMMARY)}$", p.stdout, re.M), p.stdout
    p = host("kernels", "heat_twice")
    assert p.returncode == 0 and p.stdout == text, (p.stdout, p.stderr)
    p = host("plugins")
    assert p.returncode == 1, (p.returncode, p.stdout)  # the broken files failed
    loaded, failed = p.stdout.split("\nfailed (")
    loaded += "\n"
    assert f"  {path_of('heat_twice.py')} (python, simhost_plugin_heat_twice): heat_twice\n" in (
        loaded), p.stdout
    for name in ("broken_syntax.py", "raises_at_import.py", "dup_heat2d.py"):
        assert f"\n  {path_of(name)}: " in failed, (name, p.stdout)


# ---- Called like any kernel --------------------------------------------------------------


def test_called_with_run_kernels_and_submit():
    u0 = field(24, 17, 5)
    keep = u0.copy()
    want = reference(u0, 0.15, 20)
    results = {
        "run": simhost.run("heat_twice", u0=u0, r=0.15, steps=20),
        "kernels.x": simhost.kernels.heat_twice(u0=u0, r=0.15, steps=20),
        "submit": simhost.submit("heat_twice", u0=u0, r=0.15, steps=20).result(),
    }
    for how, r in results.items():
        assert r.kernel == "heat_twice", (how, r.kernel)
        assert same_bits(r.u, want), f"{how}: u differs from heat2d twice"
        assert same_bits(r.mean, float(np.mean(want))), (how, r.mean)
        assert r.params["r"] == 0.15 and r.params["steps"] == 20, (how, r.params)
    assert same_bits(u0, keep), "the input was modified"
    # Defaults and the binder's conversion: an int field becomes float64, read-only.
    calls = sys.modules["simhost_plugin_heat_twice"].CALLS
    r = simhost.kernels.heat_twice(u0=np.arange(30).reshape(5, 6))
    got_u0, got_r, got_steps = calls[-1]
    assert got_u0.dtype == np.float64 and not got_u0.flags.writeable
    assert (got_r, got_steps) == (0.2, 100)
    assert same_bits(r.u, reference(np.arange(30.0).reshape(5, 6), 0.2, 100))
    # Its example runs.
    example = simhost.describe("heat_twice")["example"]
    assert simhost.run("heat_twice", **example).u.shape == (8, 8)


def test_argument_errors_come_from_the_same_binder():
    calls = sys.modules["simhost_plugin_heat_twice"].CALLS
    before = len(calls)
    good = dict(u0=np.eye(8), r=0.2, steps=1)
    # Parameters declared as heat2d's are: the same message, with the kernel's name.
    mistakes = [dict(good, u0="hot"), dict(good, u0=np.ones(5)),
                dict(good, u0=np.full((4, 4), np.nan)), dict(good, r="fast"), dict(good, r=0.0),
                dict(good, steps=1.5), dict(good, steps=-1), dict(r=0.2, steps=1)]
    for args in mistakes:
        try:
            simhost.run("heat2d", **args)
        except (TypeError, ValueError) as e:
            builtin = e
        else:
            raise AssertionError(f"heat2d accepted {args}")
        want = str(builtin).replace("heat2d(", "heat_twice(")
        e = expect_raises(type(builtin), lambda: simhost.kernels.heat_twice(**args))
        assert type(e) is type(builtin) and str(e) == want, (str(e), want)
        print(f"  {type(e).__name__}: {e}")
    expect_raises(ValueError, lambda: simhost.run("heat_twice", **dict(good, r=0.3)),
                  "heat_twice(): parameter 'r' must be <= 0.25, got 0.3")
    expect_raises(TypeError, lambda: simhost.run("heat_twice", **good, dx=0.1),
                  "heat_twice() got an unexpected keyword argument 'dx'; its parameters are "
                  "'u0', 'r' and 'steps'")
    # Refused before the body ran.
    assert len(calls) == before, calls[before:]


def test_timeout_is_honoured_by_the_kernels_it_calls():
    u0 = np.ones((512, 512))
    timeout = 0.3
    for how, call in (
            ("run", lambda: simhost.run("heat_twice", u0=u0, steps=10**8, timeout=timeout)),
            ("submit", lambda: simhost.submit("heat_twice", u0=u0, steps=10**8,
                                              timeout=timeout).result())):
        t0 = time.monotonic()
        e = expect_raises(TimeoutError, call,
                          f"heat_twice() did not finish within timeout={timeout} s: heat2d()")
        elapsed = time.monotonic() - t0
        print(f"  {how}: TimeoutError after {elapsed * 1000:.0f} ms: {e}")
        assert timeout <= elapsed < timeout + RESPONSE_S, (how, elapsed)
        assert isinstance(e.__cause__, TimeoutError), (how, repr(e.__cause__))
    r = simhost.kernels.heat_twice(u0=np.eye(8), steps=2, timeout=60)
    assert same_bits(r.u, reference(np.eye(8), 0.2, 2))


# ---- Failures ------------------------------------------------------------------------------


def test_broken_files_are_reported_and_the_host_goes_on():
    (reason,) = failures_of("broken_syntax.py")
    assert reason.startswith("SyntaxError: invalid syntax (broken_syntax.py, line 3)"), reason
    (reason,) = failures_of("raises_at_import.py")
    assert reason.startswith("RuntimeError: the calibration data is missing"), reason
    assert f'File "{path_of("raises_at_import.py")}", line 3, in <module>' in reason, reason
    assert failures_of("_helpers.py") == []
    loaded = {p["file"]: p for p in simhost.plugins()}
    assert loaded[path_of("heat_twice.py")]["kind"] == "python"
    assert loaded[path_of("heat_twice.py")]["kernels"] == ["heat_twice"]
    for name in ("broken_syntax.py", "raises_at_import.py", "dup_heat2d.py", "_helpers.py"):
        assert path_of(name) not in loaded, name
    # The same reasons from simhost.load_plugin(), as ImportError.
    path = path_of("raises_at_import.py")
    expect_raises(ImportError, lambda: simhost.load_plugin(path),
                  f"cannot load plugin {path}: RuntimeError: the calibration data is missing")
    assert simhost.run("heat_twice", u0=np.eye(4), steps=1).u.shape == (4, 4)


def test_a_name_already_taken_is_refused_naming_both_sources():
    dup = path_of("dup_heat2d.py")
    (reason,) = failures_of("dup_heat2d.py")
    assert reason.startswith(f"ValueError: cannot register kernel 'heat2d' (Python plugin {dup}): "
                             "a kernel of that name is already registered (built-in)"), reason
    assert simhost.describe("heat2d")["source"] == "built-in"
    # Python against Python, loaded at run time.
    with tempfile.TemporaryDirectory() as other:
        again = os.path.join(other, "heat_twice_again.py")
        with open(again, "w") as f:
            f.write(textwrap.dedent('''
                import simhost

                @simhost.kernel("Another heat_twice.", outputs=[simhost.Output.float("mean")])
                def heat_twice():
                    return {"mean": 0.0}
                '''))
        expect_raises(ImportError, lambda: simhost.load_plugin(again),
                      f"cannot load plugin {again}: ValueError: cannot register kernel "
                      f"'heat_twice' (Python plugin {again}): a kernel of that name is already "
                      f"registered (Python plugin {path_of('heat_twice.py')})")
    assert simhost.describe("heat_twice")["source"] == f"Python plugin {path_of('heat_twice.py')}"
    assert simhost.run("heat_twice", u0=np.eye(4), steps=1).u.shape == (4, 4)


TESTS = [
    test_listed_described_and_helped,
    test_called_with_run_kernels_and_submit,
    test_argument_errors_come_from_the_same_binder,
    test_timeout_is_honoured_by_the_kernels_it_calls,
    test_broken_files_are_reported_and_the_host_goes_on,
    test_a_name_already_taken_is_refused_naming_both_sources,
]


def main():
    if FOLDER is not None:  # the child host
        return simhost_testing.run(TESTS)
    with tempfile.TemporaryDirectory(prefix="simhost-python-plugins-") as folder:
        for name, text in PLUGINS.items():
            with open(os.path.join(folder, name), "w") as f:
                f.write(textwrap.dedent(text).lstrip("\n"))
        env = {k: v for k, v in os.environ.items() if k != "SIMHOST_NO_PLUGINS"}
        env.update({"SIMHOST_PLUGIN_PATH": folder, FOLDER_ENV: folder})
        return subprocess.run([SIMHOST_BIN, os.path.abspath(__file__)], env=env,
                              timeout=CHILD_LIMIT_S).returncode


if __name__ == "__main__":
    sys.exit(main())
