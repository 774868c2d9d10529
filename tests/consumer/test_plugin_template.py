"""examples/plugin_template built and used as a plugin author would, against simhost's package.

The build tree is installed with `cmake --install BUILD --prefix P`; a copy of the template is
configured (Ninja) with -DCMAKE_PREFIX_PATH=P, built, and its own ctest run (its Python test
through P's host, and the kernels' self-test). Its plugin then runs through P/bin/simhost
--plugin, through a plain python3 with P's package on PYTHONPATH (simhost.load_plugin), and
from SIMHOST_PLUGIN_PATH, where `simhost plugins` must list it. The same template builds and
passes its ctest against the build tree (-Dsimhost_DIR=BUILD). Run by plain python3.
"""

import glob
import os
import shutil
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import simhost_testing  # noqa: E402
from consumer_testing import call, clean_env  # noqa: E402

PYTHON = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
SOURCE = os.environ.get("SIMHOST_SOURCE_DIR",
                        os.path.normpath(os.path.join(os.path.abspath(__file__), "..", "..", "..")))
BUILD = os.environ["SIMHOST_BUILD_DIR"]
TEMPLATE = os.path.join(SOURCE, "examples", "plugin_template")

# Half a period of undamped oscillators starting at rest: x = -x0 and v = 0, the energy
# that of the start. Checks that, then prints the outputs' bits (to compare two runs) and
# where simhost and the kernel came from. argv[1], when given, is loaded first.
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import simhost
    if len(sys.argv) > 1:
        assert simhost.load_plugin(sys.argv[1]) == ["damped_oscillators"]
    print("package", simhost.__file__)
    print("source", simhost.describe("damped_oscillators")["source"])
    x0 = np.linspace(-1.0, 1.0, 9)
    v0 = np.zeros(9)
    omega, steps = 2.0, 1000
    r = simhost.run("damped_oscillators", x0=x0, v0=v0, omega=omega, zeta=0.0,
                    dt=np.pi / omega / steps, steps=steps)
    assert np.max(np.abs(r.x + x0)) < 1e-12, r.x
    assert np.max(np.abs(r.v)) < 1e-12 * omega, r.v
    want = 0.5 * omega**2 * np.sum(x0 * x0)
    assert abs(r.energy - want) < 1e-12 * want, (r.energy, want)
    for name in ("x", "v", "energy"):
        print(name, np.asarray(r[name], dtype=np.float64).tobytes().hex())
""")


def user(cmd, **env):
    """call(cmd) in clean_env() without the plugin settings of the environment the test runs
    in (SIMHOST_PLUGIN_PATH, SIMHOST_NO_PLUGINS), plus `env`."""
    full = clean_env(**env)
    for name in ("SIMHOST_PLUGIN_PATH", "SIMHOST_NO_PLUGINS"):
        if name not in env:
            full.pop(name, None)
    return call(cmd, env=full)


class Built:
    """The temporary folder with P (the installed prefix), the copied template's build against
    it, and the script; made once, on first use, removed at exit."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="simhost-plugin-template-")
        root = self.tmp.name
        self.prefix = os.path.join(root, "prefix")
        user(["cmake", "--install", BUILD, "--prefix", self.prefix])
        self.host = os.path.join(self.prefix, "bin", "simhost")
        found = glob.glob(os.path.join(self.prefix, "lib", "python3*", "*-packages", "simhost",
                                       "__init__.py"))
        assert len(found) == 1, found
        self.package = os.path.dirname(found[0])
        # The author's copy of the template, away from simhost's source tree.
        self.project = os.path.join(root, "my_kernels")
        shutil.copytree(TEMPLATE, self.project)
        self.build = configure_and_build(self.project, os.path.join(root, "build"),
                                         f"-DCMAKE_PREFIX_PATH={self.prefix}")
        self.plugin = os.path.join(self.build, "plugins", "my_kernels.so")
        self.script = os.path.join(root, "use_my_kernels.py")
        with open(self.script, "w") as f:
            f.write(SCRIPT)


_built = None  # the Built, or the exception that stopped it


def built():
    global _built
    if _built is None:
        try:
            _built = Built()
        except Exception as e:  # noqa: BLE001 - reported by every test that needs it
            _built = e
    if isinstance(_built, Exception):
        raise AssertionError("installing simhost or building the template failed") from _built
    return _built


def configure_and_build(project, build, *options):
    user(["cmake", "-S", project, "-B", build, "-G", "Ninja", *options])
    user(["cmake", "--build", build])
    return build


def cache_entry(build, name):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.rstrip("\n").split("=", 1)[1]
    raise AssertionError(f"{name} is not in {build}/CMakeCache.txt")


def run_script(cmd, **env):
    """(package folder, kernel source, output lines) of SCRIPT run with `cmd`."""
    lines = user(cmd, **env).stdout.splitlines()
    assert lines[0].startswith("package ") and lines[1].startswith("source "), lines[:3]
    return (os.path.dirname(lines[0].split(" ", 1)[1]), lines[1].split(" ", 1)[1], lines[2:])


def assert_ctest_passes(build):
    out = user(["ctest", "--test-dir", build, "--output-on-failure"]).stdout
    assert "100% tests passed, 0 tests failed out of 2" in out, out


def test_template_builds_against_the_installed_package():
    b = built()
    # found in P, not in the build tree or elsewhere on the system
    assert cache_entry(b.build, "simhost_DIR") == os.path.join(b.prefix, "lib", "cmake", "simhost")
    assert os.path.isfile(b.plugin), os.listdir(os.path.join(b.build, "plugins"))
    for header in ("plugin.h", "plugin.hpp"):
        assert os.path.isfile(os.path.join(b.prefix, "include", "simhost", header)), header


def test_its_ctest_passes_with_the_installed_host():
    b = built()
    assert_ctest_passes(b.build)
    tests = user(["ctest", "--test-dir", b.build, "--show-only=json-v1"]).stdout
    assert f'"{b.host}"' in tests, f"ctest does not run {b.host}:\n{tests}"


def test_installed_host_and_plain_python3_run_the_kernel_alike():
    b = built()
    where, source, host_lines = run_script([b.host, "--plugin", b.plugin, b.script])
    assert where == b.package, f"the installed host imported {where}"
    assert source == f"plugin {b.plugin}", source
    where, source, python_lines = run_script([PYTHON, b.script, b.plugin],
                                             PYTHONPATH=os.path.dirname(b.package))
    assert where == b.package, f"{PYTHON} imported {where}"
    assert source == f"plugin {b.plugin}", source
    assert python_lines == host_lines, "python3's results differ from the host's"


def test_simhost_plugins_lists_it_from_SIMHOST_PLUGIN_PATH():
    b = built()
    folder = os.path.dirname(b.plugin)
    listing = user([b.host, "plugins"], SIMHOST_PLUGIN_PATH=folder).stdout
    assert f"plugin folders: {folder}, " in listing, listing
    # SIMHOST_PLUGIN_PATH first, then the installed folder with simhost's own plugins.
    installed = os.path.join(b.package, "plugins")
    assert (f"loaded (3):\n  {b.plugin} (native, ABI 1.0, my_kernels 0.1.0): "
            "damped_oscillators\n"
            f"  {installed}/gray_scott.so (native, ABI 1.0, gray_scott 1.0): gray_scott\n"
            f"  {installed}/heat_implicit.so (native, ABI 1.0, heat_implicit 1.0): heat_implicit\n"
            ) in listing, listing
    assert "failed (0):" in listing, listing
    # and a script then finds the kernel without --plugin
    _, source, _ = run_script([b.host, b.script], SIMHOST_PLUGIN_PATH=folder)
    assert source == f"plugin {b.plugin}", source


def test_template_builds_and_passes_against_the_build_tree():
    b = built()
    build = configure_and_build(b.project, os.path.join(b.tmp.name, "build-tree"),
                                f"-Dsimhost_DIR={BUILD}")
    assert_ctest_passes(build)
    tests = user(["ctest", "--test-dir", build, "--show-only=json-v1"]).stdout
    assert f'"{os.path.join(BUILD, "bin", "simhost")}"' in tests, tests


TESTS = [
    test_template_builds_against_the_installed_package,
    test_its_ctest_passes_with_the_installed_host,
    test_installed_host_and_plain_python3_run_the_kernel_alike,
    test_simhost_plugins_lists_it_from_SIMHOST_PLUGIN_PATH,
    test_template_builds_and_passes_against_the_build_tree,
]

if __name__ == "__main__":
    try:
        sys.exit(simhost_testing.run(TESTS))
    finally:
        if isinstance(_built, Built):
            _built.tmp.cleanup()
