"""simhost installed as its users install it, then used from the installed copy only.

1. `cmake --install BUILD --prefix P` (P a venv made with --system-site-packages, standing for
   any prefix whose python3 searches P/lib/python3.X/dist-packages, as /usr/bin/python3 does
   for /usr/local): P/bin/simhost runs a script that imports simhost and calls a kernel, and
   P's python3 imports the same package without PYTHONPATH. A DESTDIR install for the prefix
   /usr/local must land in a folder on /usr/bin/python3's own sys.path.
2. `pip install --no-build-isolation --no-index SOURCE` into a venv: the venv's bin/simhost and
   the venv's python both run the script; `pip uninstall` removes both again.
Each result must be bitwise the build tree's. Run by plain python3 (SIMHOST_PYTHON).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import simhost_testing  # noqa: E402
from consumer_testing import TIMEOUT_S, call, clean_env  # noqa: E402

SIMHOST = os.environ["SIMHOST_BIN"]
PYTHON = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
SOURCE = os.environ["SIMHOST_SOURCE_DIR"]
BUILD = os.environ["SIMHOST_BUILD_DIR"]

# Prints where simhost came from, then every output of two built-in kernels and of the two
# in-tree plugins (installed with the package) as hex float bits.
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import simhost
    print("package", simhost.__file__)
    for name in ("nbody", "heat2d", "gray_scott", "heat_implicit"):
        r = simhost.run(name, **simhost.describe(name)["example"])
        for k in sorted(r):
            print(name, k, np.asarray(r[k], dtype=np.float64).tobytes().hex())
""")


def outputs(cmd, script, env=None):
    """(package folder, kernel output lines) of running `script` with `cmd`."""
    lines = call(cmd + [script], env=env).stdout.splitlines()
    assert lines[0].startswith("package "), lines[:3]
    return os.path.dirname(lines[0].split(" ", 1)[1]), lines[1:]


def reference(script):
    # The build tree's host, as the tests run it.
    return outputs([SIMHOST], script, env=clean_env())[1]


def script_and_reference(folder):
    """SCRIPT written into `folder`, and what the build tree's host prints running it."""
    script = os.path.join(folder, "use_simhost.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    return script, reference(script)


def make_venv(path):
    call([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", path])
    return os.path.join(path, "bin", "python")


def test_cmake_install_into_a_prefix_python3_searches():
    with tempfile.TemporaryDirectory() as tmp:
        script, want = script_and_reference(tmp)
        prefix = os.path.join(tmp, "prefix")
        python = make_venv(prefix)
        call(["cmake", "--install", BUILD, "--prefix", prefix])
        host = os.path.join(prefix, "bin", "simhost")
        where, got = outputs([host], script)
        assert where.startswith(prefix + os.sep), f"the installed host imported {where}"
        assert got == want, "the installed host's results differ from the build tree's"
        where, got = outputs([python], script)  # no PYTHONPATH: P's python3 finds the package
        assert where.startswith(prefix + os.sep), f"P's python imported {where}"
        assert got == want, "P's python's results differ from the build tree's"
        version = call([host, "--version"]).stdout
        assert f"  binary  {host}\n" in version and f"  package {where}\n" in version, version
        # A host copied out of its prefix finds no package and says so at import.
        stray = os.path.join(tmp, "stray", "simhost")
        os.makedirs(os.path.dirname(stray))
        shutil.copy2(host, stray)
        p = subprocess.run([stray, "-I", "-c", "import simhost"], capture_output=True,
                           text=True, env=clean_env(), timeout=TIMEOUT_S)
        assert p.returncode == 1 and "No module named 'simhost'" in p.stderr, p.stderr


def test_cmake_install_for_usr_local_lands_on_python3s_sys_path():
    with tempfile.TemporaryDirectory() as staging:
        call(["cmake", "--install", BUILD, "--prefix", "/usr/local"],
             env=clean_env(DESTDIR=staging))
        found = [root for root, dirs, _ in os.walk(staging) if "simhost" in dirs
                 and os.path.exists(os.path.join(root, "simhost", "__init__.py"))]
        assert len(found) == 1, found
        folder = found[0][len(staging):]
        path = call([PYTHON, "-c", "import sys; print('\\n'.join(sys.path))"]).stdout.split()
        assert folder in path, f"{folder} is not on {PYTHON}'s sys.path {path}"
        assert os.path.exists(os.path.join(staging, "usr", "local", "bin", "simhost"))


def test_pip_install_into_a_venv_installs_package_and_host():
    with tempfile.TemporaryDirectory() as tmp:
        script, want = script_and_reference(tmp)
        venv = os.path.join(tmp, "venv")
        python = make_venv(venv)
        # The configured build tree is reused (SIMHOST_CMAKE_BUILD_DIR); without it, setup.py
        # configures and builds build/pip itself.
        call([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", SOURCE],
             env=clean_env(SIMHOST_CMAKE_BUILD_DIR=BUILD))
        host = os.path.join(venv, "bin", "simhost")
        site_packages = os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                                     "site-packages")
        for cmd in ([host], [python]):
            where, got = outputs(cmd, script)
            assert where == os.path.join(site_packages, "simhost"), (cmd, where)
            assert got == want, f"{cmd}: results differ from the build tree's"
        shown = call([python, "-m", "pip", "show", "-f", "simhost"]).stdout
        assert "Version: " in shown and f"Location: {site_packages}" in shown, shown
        call([python, "-m", "pip", "uninstall", "-y", "simhost"])
        assert not os.path.exists(host), "pip uninstall left bin/simhost"
        assert not os.path.exists(os.path.join(site_packages, "simhost")), "package left behind"


TESTS = [
    test_cmake_install_into_a_prefix_python3_searches,
    test_cmake_install_for_usr_local_lands_on_python3s_sys_path,
    test_pip_install_into_a_venv_installs_package_and_host,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
