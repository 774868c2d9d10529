"""The glue between pip and CMake: CMake builds, setuptools only packs what it built.

`pip install --no-build-isolation .` configures a release build in build/pip (or uses the
configured build folder named by SIMHOST_CMAKE_BUILD_DIR), builds the host binary and the
extension, installs them into a staging folder with `cmake --install`, and packs the
package and bin/simhost into the wheel pip installs: the package into the environment's
site-packages, the host binary into its bin/.
"""

import os
import re
import shutil
import subprocess
import sys

from setuptools import Command, Distribution, setup
from setuptools.command.build import build
from distutils.command.build_scripts import build_scripts  # setuptools (66) has none of its own

ROOT = os.path.dirname(os.path.abspath(__file__))
STAGE = os.path.join(ROOT, "build", "pip-stage")  # what `cmake --install` puts for the wheel


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(simhost VERSION ([0-9.]+)", f.read())
    if not m:
        raise RuntimeError("setup.py: no 'project(simhost VERSION x.y.z' in CMakeLists.txt")
    return m.group(1)


def run(cmd):
    print("setup.py:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


class BuildWithCMake(Command):
    """Builds with CMake, then puts the installed package into build_lib (the first step of
    `build`, before build_scripts takes the staged host binary)."""

    description = "build the host binary and the extension with CMake"
    user_options = []

    def initialize_options(self):
        self.build_lib = None

    def finalize_options(self):
        self.set_undefined_options("build", ("build_lib", "build_lib"))

    def run(self):
        build_dir = os.environ.get("SIMHOST_CMAKE_BUILD_DIR") or os.path.join(ROOT, "build", "pip")
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            # The interpreter running pip is a venv's python whose base is the system one;
            # the build is pinned to that base interpreter (and its NumPy), as the presets pin
            # /usr/bin/python3.
            python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
            run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja",
                 "-DCMAKE_BUILD_TYPE=Release", f"-DPython3_EXECUTABLE={python}",
                 "-DSIMHOST_BUILD_TESTS=OFF"])
        # Everything `cmake --install` installs: the host, the extension, the in-tree plugins.
        run(["cmake", "--build", build_dir])
        shutil.rmtree(STAGE, ignore_errors=True)
        run(["cmake", "--install", build_dir, "--prefix", STAGE])
        package = None
        for dirpath, dirnames, _ in os.walk(os.path.join(STAGE, "lib")):
            # The package (lib/python3.X/...-packages/simhost), not lib/cmake/simhost.
            if "simhost" in dirnames and os.path.exists(
                    os.path.join(dirpath, "simhost", "__init__.py")):
                package = os.path.join(dirpath, "simhost")
                break
        if package is None:
            raise RuntimeError(f"setup.py: `cmake --install` put no simhost package under {STAGE}/lib")
        target = os.path.join(self.build_lib, "simhost")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(package, target)


class CopyHostBinary(build_scripts):
    """The one "script" is the compiled host binary: copied as it is (setuptools would read
    it as text to look for a #! line to rewrite)."""

    def copy_scripts(self):
        self.mkpath(self.build_dir)
        outfiles = []
        for script in self.scripts:
            out = os.path.join(self.build_dir, os.path.basename(script))
            shutil.copy2(script, out)
            os.chmod(out, 0o755)
            outfiles.append(out)
        return outfiles, outfiles


class Build(build):
    sub_commands = [("build_cmake", None)] + build.sub_commands


class BinaryDistribution(Distribution):
    """The wheel holds a compiled extension and binary: tagged for this Python and platform."""

    def has_ext_modules(self):
        return True


setup(
    version=project_version(),
    distclass=BinaryDistribution,
    cmdclass={"build": Build, "build_cmake": BuildWithCMake, "build_scripts": CopyHostBinary},
    packages=[],
    # The host binary, as `cmake --install` staged it: pip installs it into the
    # environment's bin/.
    scripts=[os.path.relpath(os.path.join(STAGE, "bin", "simhost"), ROOT)],
)
