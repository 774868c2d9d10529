"""What a plain python3 importing simhost refuses, each in a child process: an import inside
a subinterpreter (which would deadlock in the native core) and a NumPy of another major
version than the one simhost was built for. The exit code is the verdict.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import simhost_testing

# Only bounds a hang: a refused import must come back at once.
HANG_LIMIT_S = 60.0


def child(code, pythonpath_first=None):
    env = dict(os.environ)
    if pythonpath_first:
        env["PYTHONPATH"] = pythonpath_first + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=HANG_LIMIT_S, env=env)


def test_a_subinterpreter_import_is_refused_not_deadlocked():
    p = child("""
        import sys, _xxsubinterpreters as interpreters
        i = interpreters.create()
        try:
            interpreters.run_string(i, f"import sys; sys.path[:0] = {sys.path!r}; import simhost")
        except interpreters.RunFailedError as e:
            print("refused:", e)
        import simhost  # the main interpreter still imports it
        print(simhost.list_kernels()[:1])
    """)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert ("refused: <class 'ImportError'>: simhost cannot be imported in a subinterpreter"
            in p.stdout), p.stdout
    assert "['" in p.stdout.splitlines()[-1], p.stdout


def test_another_numpy_major_version_is_refused_at_import():
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "numpy"))
        with open(os.path.join(d, "numpy", "__init__.py"), "w") as f:
            f.write('__version__ = "2.1.0"\n')
        p = child("""
            try:
                import simhost
            except ImportError as e:
                print("refused:", e.name, e)
        """, pythonpath_first=d)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    import simhost

    built_for = simhost._core._numpy_built_for
    assert p.stdout.startswith(f"refused: simhost simhost was built for NumPy {built_for}, "), (
        p.stdout)
    assert f"imports NumPy 2.1.0 from {d}" in p.stdout, p.stdout


TESTS = [
    test_a_subinterpreter_import_is_refused_not_deadlocked,
    test_another_numpy_major_version_is_refused_at_import,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
