"""The host in a virtual environment behaves like that environment's python.

A venv made here (``python3 -m venv --system-site-packages``, so Debian's NumPy is seen) gets
a small local package installed with its pip (built from files this test writes; no index,
no network). With the venv activated (VIRTUAL_ENV) or the host binary inside it, the host's
prefixes and site-packages must be exactly those the venv's python reports, the package must
import, and sys.executable must run Python (subprocess, multiprocessing, pip).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import simhost_testing

SIMHOST = os.environ["SIMHOST_BIN"]
PYTHON = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
BUILD_PACKAGES = os.environ.get("SIMHOST_PYTHONPATH", "")  # the build tree's package folder
TIMEOUT_S = 120

# What each interpreter reports about where it is; the build tree's own package folder (which
# the host adds to sys.path in the build tree only) is left out of the comparison.
REPORT = textwrap.dedent(f"""
    import json, os, site, sys, sysconfig
    print(json.dumps({{
        "prefix": sys.prefix, "exec_prefix": sys.exec_prefix,
        "base_prefix": sys.base_prefix, "base_exec_prefix": sys.base_exec_prefix,
        "site_packages": site.getsitepackages(),
        "user_site": site.ENABLE_USER_SITE,
        "purelib": sysconfig.get_path("purelib"),
        "path": [p for p in sys.path[1:] if os.path.realpath(p) != os.path.realpath({BUILD_PACKAGES!r})],
    }}))
""")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "SIMHOST_THREADS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def call(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, **kw)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


class Venv:
    """A venv in a temporary folder with the package `venvprobe` installed by its pip."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="simhost-venv-")
        self.dir = os.path.join(self.tmp, "env")
        call([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", self.dir])
        self.python = os.path.join(self.dir, "bin", "python")
        src = os.path.join(self.tmp, "src")
        write(os.path.join(src, "pyproject.toml"), """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "venvprobe"
            version = "1.2.3"
        """)
        write(os.path.join(src, "venvprobe", "__init__.py"), "VALUE = 'installed in the venv'\n")
        # The system's pip (Debian's python3-pip), run by the venv's python, installs into
        # the venv; --no-index and --no-build-isolation keep it off the network.
        call([self.python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
              "--no-deps", "--quiet", src], env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def site_packages(self):
        return os.path.join(self.dir, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                            "site-packages")


def report(cmd, env):
    return json.loads(call(cmd + ["-c", REPORT], env=env, cwd=tempfile.gettempdir()).stdout)


def test_activated_venv_gives_the_host_the_venvs_prefixes_and_site_packages():
    with Venv() as v:
        want = report([v.python], clean_env())
        assert want["prefix"] == v.dir and v.site_packages() in want["site_packages"], want
        got = report([SIMHOST], clean_env(VIRTUAL_ENV=v.dir))
        assert got == want, f"host in the activated venv:\n{got}\nthe venv's python:\n{want}"
        p = call([SIMHOST, "-c", "import venvprobe; print(venvprobe.VALUE, venvprobe.__file__)"],
                 env=clean_env(VIRTUAL_ENV=v.dir))
        assert p.stdout.split()[:4] == ["installed", "in", "the", "venv"], p.stdout
        assert p.stdout.split()[-1].startswith(v.site_packages()), p.stdout
        # Without the venv the package is not there: it came from the venv, not elsewhere.
        p = subprocess.run([SIMHOST, "-c", "import venvprobe"], capture_output=True, text=True,
                           env=clean_env(), timeout=TIMEOUT_S)
        assert p.returncode == 1 and "No module named 'venvprobe'" in p.stderr, p.stderr


def test_the_host_inside_a_venv_is_that_venvs_without_activation():
    with Venv() as v:
        want = report([v.python], clean_env())
        inside = os.path.join(v.dir, "bin", "simhost")
        shutil.copy2(SIMHOST, inside)
        got = report([inside], clean_env())
        assert got == want, f"host inside the venv:\n{got}\nthe venv's python:\n{want}"
        # An activated other venv does not take over a host that lives in its own venv.
        with Venv() as other:
            assert report([inside], clean_env(VIRTUAL_ENV=other.dir)) == want


def test_sys_executable_runs_python_for_subprocess_multiprocessing_and_pip():
    with Venv() as v:
        env = clean_env(VIRTUAL_ENV=v.dir)
        script = os.path.join(v.tmp, "children.py")
        write(script, """
            import multiprocessing, os, subprocess, sys

            def where(_):
                import venvprobe
                return sys.prefix, venvprobe.VALUE

            if __name__ == "__main__":
                print("executable", sys.executable)
                out = subprocess.run([sys.executable, "-c", "import sys, venvprobe; print(sys.prefix)"],
                                     capture_output=True, text=True, check=True).stdout.strip()
                print("subprocess", out)
                for method in ("spawn", "forkserver"):
                    with multiprocessing.get_context(method).Pool(1) as pool:
                        print(method, *pool.map(where, [0])[0])
                pip = subprocess.run([sys.executable, "-m", "pip", "show", "venvprobe"],
                                     capture_output=True, text=True, check=True).stdout
                print("pip", [l.split(": ", 1)[1] for l in pip.splitlines() if l.startswith("Location")][0])
        """)
        out = call([SIMHOST, script], env=env).stdout.splitlines()
        lines = dict(line.split(" ", 1) for line in out)
        assert os.path.samefile(lines["executable"], SIMHOST), out
        assert lines["subprocess"] == v.dir, out
        for method in ("spawn", "forkserver"):
            assert lines[method] == f"{v.dir} installed in the venv", (method, out)
        assert lines["pip"] == v.site_packages(), out


def test_a_venv_variable_naming_no_venv_is_a_warning_and_isolated_mode_ignores_it():
    with tempfile.TemporaryDirectory() as not_a_venv:
        p = call([SIMHOST, "-c", "import sys; print(sys.prefix)"],
                 env=clean_env(VIRTUAL_ENV=not_a_venv))
        assert p.stdout.strip() == sys.base_prefix, p.stdout
        assert p.stderr == (f"simhost: warning: VIRTUAL_ENV={not_a_venv} is not a virtual "
                            "environment (it has no pyvenv.cfg); using the system Python's "
                            "prefix\n"), p.stderr
    with Venv() as v:
        p = call([SIMHOST, "-I", "-c", "import sys; print(sys.prefix)"],
                 env=clean_env(VIRTUAL_ENV=v.dir))
        assert p.stdout.strip() == sys.base_prefix and p.stderr == "", p


TESTS = [
    test_activated_venv_gives_the_host_the_venvs_prefixes_and_site_packages,
    test_the_host_inside_a_venv_is_that_venvs_without_activation,
    test_sys_executable_runs_python_for_subprocess_multiprocessing_and_pip,
    test_a_venv_variable_naming_no_venv_is_a_warning_and_isolated_mode_ignores_it,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
