"""The `simhost` package imported by a plain python3 (the extension module on PYTHONPATH).

It is the package from the build tree, its core is the compiled extension, and a kernel call
gives the same bits as the same call run through the host binary. Run as
`PYTHONPATH=build/release/python python3 tests/embed/test_import.py`; the exit code is the
verdict.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import simhost_testing

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIMHOST_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
SIMHOST_BIN = os.environ.get("SIMHOST_BIN",
                             os.path.join(SOURCE_DIR, "build", "release", "bin", "simhost"))
SIMHOST_PYTHONPATH = os.environ.get("SIMHOST_PYTHONPATH",
                                    os.path.join(SOURCE_DIR, "build", "release", "python"))
HOST_LIMIT_S = 60.0

OUTPUTS = ("pos", "vel", "energy", "momentum")


def inputs():
    rng = np.random.default_rng(2024)
    n = 300
    return dict(pos=rng.standard_normal((n, 3)), vel=0.1 * rng.standard_normal((n, 3)),
                mass=rng.uniform(0.5, 1.5, n), dt=1e-3, steps=25, eps=0.05)


def is_under(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def test_import_in_plain_python():
    import simhost

    assert "_simhost_core" not in sys.builtin_module_names, "this is not a plain python3"
    assert is_under(simhost.__file__, SIMHOST_PYTHONPATH), (
        f"simhost was imported from {simhost.__file__}, not from {SIMHOST_PYTHONPATH}")
    assert isinstance(simhost.__version__, str) and simhost.__version__
    assert "nbody" in simhost.list_kernels(), simhost.list_kernels()
    assert issubclass(simhost.UnknownKernelError, LookupError)


def test_core_is_the_extension_module():
    import simhost

    core = simhost._core
    assert core.__name__ == "simhost._core", core.__name__
    assert core.__file__.endswith(".so"), core.__file__
    assert is_under(core.__file__, os.path.join(SIMHOST_PYTHONPATH, "simhost")), core.__file__
    assert core.__version__ == simhost.__version__, (core.__version__, simhost.__version__)


def test_same_bits_as_the_host_binary():
    import simhost

    args = inputs()
    r = simhost.kernels.nbody(**args)
    assert np.all(np.isfinite(r.energy)) and not np.array_equal(r.pos, args["pos"])
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("pos", "vel", "mass"):
            np.save(os.path.join(tmp, f"in_{name}.npy"), args[name])
        script = textwrap.dedent(f"""
            import os, sys
            import numpy as np
            import simhost
            assert "_simhost_core" in sys.builtin_module_names, "not the host binary"
            assert simhost._core.__name__ == "_simhost_core", simhost._core.__name__
            tmp = {tmp!r}
            arrays = {{n: np.load(os.path.join(tmp, f"in_{{n}}.npy"))
                      for n in ("pos", "vel", "mass")}}
            r = simhost.kernels.nbody(**arrays, dt={args['dt']!r}, steps={args['steps']!r},
                                      eps={args['eps']!r})
            for name in r:
                np.save(os.path.join(tmp, f"out_{{name}}.npy"), r[name])
            print("host done")
        """)
        proc = subprocess.run([SIMHOST_BIN, "-c", script], capture_output=True, text=True,
                              timeout=HOST_LIMIT_S)
        assert proc.returncode == 0, (
            f"the host failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        assert "host done" in proc.stdout, proc.stdout
        for name in OUTPUTS:
            host = np.load(os.path.join(tmp, f"out_{name}.npy"))
            mine = r[name]
            assert host.dtype == mine.dtype and host.shape == mine.shape, (
                name, host.dtype, host.shape, mine.dtype, mine.shape)
            assert host.tobytes() == mine.tobytes(), (
                f"output {name!r} differs bitwise between python3 and the host binary "
                f"(max abs diff {np.max(np.abs(host - mine))})")


def test_set_and_get_threads():
    import simhost

    before = simhost.get_threads()
    assert isinstance(before, int) and before >= 1, before
    try:
        ref = None
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            assert simhost.get_threads() == threads, (simhost.get_threads(), threads)
            r = simhost.kernels.nbody(**inputs())
            if ref is None:
                ref = r
            for name in OUTPUTS:
                assert r[name].tobytes() == ref[name].tobytes(), (name, threads)
        try:
            simhost.set_threads(0)
        except ValueError:
            pass
        else:
            raise AssertionError("set_threads(0) did not raise ValueError")
        assert simhost.get_threads() == 3, simhost.get_threads()
    finally:
        simhost.set_threads(before)
    assert simhost.get_threads() == before


TESTS = [
    test_import_in_plain_python,
    test_core_is_the_extension_module,
    test_same_bits_as_the_host_binary,
    test_set_and_get_threads,
]


def main():
    return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
