"""The simhost command line behaves like python3: scripts, -c, -m, -, the REPL, exit codes.

Run through the host binary by CTest (`simhost tests/scripts/test_cli.py`); it spawns the
binary named by SIMHOST_BIN as a real subprocess and compares what it does with what
SIMHOST_PYTHON (the reference python3) does on the same input. The exit code is the verdict.
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import simhost_testing

SIMHOST = os.environ.get("SIMHOST_BIN", "")
PYTHON = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
TIMEOUT_S = 30  # every subprocess call is bounded by this
REPL_DEADLINE_S = 20  # the whole interactive session
VERSION_RE = r"\d+\.\d+(?:\.\d+)?"

# Environment variables that would change how either interpreter starts; each test sets
# what it needs on top of a clean copy.
_SCRUBBED = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH", "PYTHONINSPECT", "PYTHONWARNINGS", "SIMHOST_THREADS",
)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run(exe, args, *, cwd=None, input=None, env=None, timeout=TIMEOUT_S):
    """Runs `exe args...` and returns the CompletedProcess (text mode, output captured)."""
    return subprocess.run([exe, *args], cwd=cwd, input=input, env=env or clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


def sim(args, **kw):
    return run(SIMHOST, args, **kw)


def ref(args, **kw):
    return run(PYTHON, args, **kw)


def describe(p):
    return f"rc={p.returncode}\n--- stdout:\n{p.stdout}--- stderr:\n{p.stderr}"


def check(cond, message, *procs):
    if not cond:
        raise AssertionError(message + "".join("\n" + describe(p) for p in procs))


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


def same_outcome(args_sim, args_ref=None, *, compare_stderr="last", **kw):
    """Runs simhost and python3 on the same input and asserts the same exit code, stdout and
    stderr (all of it, or its last line). Returns both processes."""
    s = sim(args_sim, **kw)
    r = ref(args_sim if args_ref is None else args_ref, **kw)
    check(s.returncode == r.returncode,
          f"exit code: simhost {s.returncode}, python3 {r.returncode}", s, r)
    check(s.stdout == r.stdout, "stdout differs (simhost first, python3 second)", s, r)
    if compare_stderr == "all":
        check(s.stderr == r.stderr, "stderr differs (simhost first, python3 second)", s, r)
    elif compare_stderr == "last":
        check(last_line(s.stderr) == last_line(r.stderr),
              "last stderr line differs (simhost first, python3 second)", s, r)
    return s, r


# A script that reports how it was started, as JSON on stdout.
REPORT = """\
import json, sys
print(json.dumps({"argv": sys.argv, "name": __name__, "file": globals().get("__file__"),
                  "path0": sys.path[0]}))
"""


# ---------------------------------------------------------------- ways to run code

def test_script_file_with_args():
    with tempfile.TemporaryDirectory() as tmp:
        script = write(os.path.join(tmp, "sub dir", "report.py"), REPORT)
        args = [script, "a", "b c", "--threads", "5", "-x", "--", "-"]
        s, r = same_outcome(args, compare_stderr="all")
        check(s.returncode == 0, "script failed", s)
        got = json.loads(s.stdout)
        check(got["argv"] == [script, "a", "b c", "--threads", "5", "-x", "--", "-"],
              f"sys.argv {got['argv']}", s)
        check(got["name"] == "__main__", f"__name__ {got['name']!r}", s)
        check(got["file"] == script, f"__file__ {got['file']!r}", s)
        check(got["path0"] == os.path.dirname(script), f"sys.path[0] {got['path0']!r}", s)
        check(got["path0"] != os.path.dirname(os.path.realpath(SIMHOST)),
              "sys.path[0] is the binary's folder", s)


def test_script_relative_path_from_other_cwd():
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "pkg", "report.py"), REPORT)
        s, r = same_outcome([os.path.join("pkg", "report.py"), "x"], cwd=tmp,
                            compare_stderr="all")
        got = json.loads(s.stdout)
        check(got["argv"] == [os.path.join("pkg", "report.py"), "x"], f"argv {got['argv']}", s)
        check(os.path.realpath(got["path0"]) == os.path.realpath(os.path.join(tmp, "pkg")),
              f"sys.path[0] {got['path0']!r}", s)


def test_run_subcommand_equals_plain_file():
    with tempfile.TemporaryDirectory() as tmp:
        script = write(os.path.join(tmp, "report.py"), REPORT)
        plain = sim([script, "1", "--help", "two"])
        via_run = sim(["run", script, "1", "--help", "two"])
        r = ref([script, "1", "--help", "two"])
        check(plain.returncode == 0 and via_run.returncode == 0, "a run failed", plain, via_run)
        check(via_run.stdout == plain.stdout == r.stdout,
              "`simhost run FILE` differs from `simhost FILE` / python3", via_run, plain, r)
        got = json.loads(via_run.stdout)
        check(got["argv"] == [script, "1", "--help", "two"], f"argv {got['argv']}", via_run)


def test_dash_c():
    cmd = "import sys; print(sys.argv, __name__, repr(sys.path[0])); print(6*7)"
    s, r = same_outcome(["-c", cmd, "a", "-b"], compare_stderr="all")
    check(s.returncode == 0, "-c failed", s)
    check("['-c', 'a', '-b'] __main__ ''" in s.stdout and "42" in s.stdout,
          "-c output", s)


def test_dash_m_from_cwd():
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "clitestmod.py"), REPORT)
        s, r = same_outcome(["-m", "clitestmod", "x", "-y"], cwd=tmp, compare_stderr="all")
        check(s.returncode == 0, "-m failed", s)
        got = json.loads(s.stdout)
        check(got["argv"][1:] == ["x", "-y"], f"argv {got['argv']}", s)
        check(os.path.realpath(got["argv"][0]) == os.path.realpath(
            os.path.join(tmp, "clitestmod.py")), f"argv[0] {got['argv'][0]!r}", s)
        check(got["name"] == "__main__", f"__name__ {got['name']!r}", s)


def test_dash_m_from_pythonpath():
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as other:
        write(os.path.join(tmp, "clitestmod2.py"), REPORT)
        env = clean_env(PYTHONPATH=tmp)
        s, r = same_outcome(["-m", "clitestmod2", "arg"], cwd=other, env=env,
                            compare_stderr="all")
        check(s.returncode == 0, "-m via PYTHONPATH failed", s)
        got = json.loads(s.stdout)
        check(got["argv"] == [os.path.join(tmp, "clitestmod2.py"), "arg"],
              f"argv {got['argv']}", s)


def test_dash_m_pytest_pass_and_fail():
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "test_ok.py"), "def test_ok():\n    assert 1 + 1 == 2\n")
        write(os.path.join(tmp, "test_bad.py"), "def test_bad():\n    assert 1 + 1 == 3\n")
        for name, want_rc, want_text in (("test_ok.py", 0, "1 passed"),
                                         ("test_bad.py", 1, "1 failed")):
            s = sim(["-m", "pytest", "-q", name], cwd=tmp)
            r = ref(["-m", "pytest", "-q", name], cwd=tmp)
            check(s.returncode == want_rc == r.returncode,
                  f"pytest {name}: want rc {want_rc}, simhost {s.returncode}, "
                  f"python3 {r.returncode}", s, r)
            check(want_text in s.stdout, f"pytest {name}: no {want_text!r}", s)


def test_dash_stdin():
    code = REPORT + "print(sum(range(10)))\n"
    s, r = same_outcome(["-", "p", "q"], input=code, compare_stderr="all")
    check(s.returncode == 0, "stdin script failed", s)
    got = json.loads(s.stdout.splitlines()[0])
    check(got["argv"] == ["-", "p", "q"] and got["path0"] == "", f"report {got}", s)
    check(s.stdout.splitlines()[1] == "45", "stdin script output", s)


def test_interactive_repl_on_a_terminal():
    # A pseudo-terminal (os.openpty), so the REPL sees a tty on stdin/stdout.
    master, slave = os.openpty()
    env = clean_env(TERM="dumb")
    proc = subprocess.Popen([SIMHOST], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    deadline = time.monotonic() + REPL_DEADLINE_S
    buf = bytearray()

    def read_until(token):
        while token not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    return token in buf
                if not chunk:
                    return token in buf
                buf.extend(chunk)
        return True

    try:
        ok = read_until(b">>> ")
        check(ok, f"no '>>> ' prompt; got {bytes(buf)!r}")
        os.write(master, b"print(6*7)\n")
        check(read_until(b"42"), f"no 42; got {bytes(buf)!r}")
        os.write(master, b"import simhost; print(simhost.list_kernels())\n")
        check(read_until(b"'nbody'"), f"no 'nbody'; got {bytes(buf)!r}")
        os.write(master, b"exit()\n")
        read_until(b"\x00never")  # drain until EOF or deadline
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        check(rc == 0, f"REPL exit code {rc}; output {bytes(buf)!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
        os.close(master)


# ---------------------------------------------------------------- the environment

def test_user_site_packages():
    with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as cwd:
        site = os.path.join(base, "lib", "python3.11", "site-packages")
        write(os.path.join(site, "mymod.py"), "VALUE = 'from-user-site'\n")
        env = clean_env(PYTHONUSERBASE=base)
        cmd = "import mymod; print(mymod.VALUE, mymod.__file__)"
        s, r = same_outcome(["-c", cmd], cwd=cwd, env=env, compare_stderr="all")
        check(s.returncode == 0, "import mymod failed", s)
        check(s.stdout.strip() == f"from-user-site {os.path.join(site, 'mymod.py')}",
              "mymod came from the wrong place", s)


def test_the_host_starts_without_numpy_and_import_simhost_says_how_to_install_it():
    # Start-up imports nothing (as python3's): a script that does not use simhost runs even
    # where NumPy is missing; `import simhost` then fails with an ImportError naming NumPy
    # and how to install it.
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "fake", "numpy", "__init__.py"),
              "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n")
        env = clean_env(PYTHONPATH=os.path.join(tmp, "fake"))
        s = sim(["-c", "print('user code ran')"], cwd=tmp, env=env)
        check(s.returncode == 0 and s.stdout == "user code ran\n" and s.stderr == "",
              "a script without simhost should run as with python3", s)
        s = sim(["-c", "import simhost"], cwd=tmp, env=env)
        check(s.returncode == 1, "want exit 1", s)
        last = s.stderr.strip().splitlines()[-1]
        check(last.startswith("ImportError: simhost needs NumPy") and
              "apt-get install python3-numpy" in last and "No module named 'numpy'" in last,
              "the ImportError does not name NumPy, the cause and how to install it", s)


# ---------------------------------------------------------------- kernels subcommand

def kernel_description():
    # Every entry of describe() is JSON but the example's numpy arrays (hence default=).
    p = sim(["-c", "import json, simhost; "
                   "print(json.dumps(simhost.describe('nbody'), default=lambda a: a.tolist()))"])
    check(p.returncode == 0, "simhost.describe('nbody') failed", p)
    return json.loads(p.stdout)


def parse_entries(text, section):
    """{name: (header in parentheses, doc)} for the entries of one section of the text."""
    lines = text.splitlines()
    check(f"{section}:" in lines, f"no '{section}:' section in:\n{text}")
    entries = {}
    current = None
    for line in lines[lines.index(f"{section}:") + 1:]:
        if not line.strip():
            if entries:
                break
            continue
        m = re.match(r"^  (\w+) \((.*)\)$", line)
        if m:
            current = m.group(1)
            entries[current] = [m.group(2), ""]
        elif current and line.startswith("      "):
            entries[current][1] = (entries[current][1] + " " + line.strip()).strip()
        else:
            break
    return {k: tuple(v) for k, v in entries.items()}


def test_kernels_lists_nbody_with_summary():
    p = sim(["kernels"])
    check(p.returncode == 0, "simhost kernels failed", p)
    lines = [line for line in p.stdout.splitlines() if line.split()[:1] == ["nbody"]]
    check(len(lines) == 1, "no single 'nbody' line", p)
    summary = lines[0].split(None, 1)[1].strip() if len(lines[0].split(None, 1)) > 1 else ""
    check(len(summary) > 10, "nbody has no one-line doc", p)
    check(summary == kernel_description()["summary"], "summary differs from describe()", p)


def test_kernels_nbody_shows_parameters_and_outputs():
    p = sim(["kernels", "nbody"])
    check(p.returncode == 0, "simhost kernels nbody failed", p)
    desc = kernel_description()
    check([q["name"] for q in desc["params"]] == ["pos", "vel", "mass", "G", "eps", "dt", "steps"],
          f"parameters {[q['name'] for q in desc['params']]}")
    check([o["name"] for o in desc["outputs"]] == ["pos", "vel", "energy", "momentum"],
          f"outputs {[o['name'] for o in desc['outputs']]}")
    params = parse_entries(p.stdout, "Parameters")
    outputs = parse_entries(p.stdout, "Outputs")
    check(list(params) == [q["name"] for q in desc["params"]],
          f"parameters shown {list(params)}", p)
    check(list(outputs) == [o["name"] for o in desc["outputs"]],
          f"outputs shown {list(outputs)}", p)

    def type_text(entry):
        return f"{entry['dtype']} array" if entry["kind"] == "array" else entry["kind"]

    for q in desc["params"]:
        header, doc = params[q["name"]]
        where = f"parameter {q['name']}: ({header})"
        check(header.startswith(type_text(q)), f"{where}: no type {type_text(q)!r}", p)
        if q["shape"]:
            check(q["shape"] in header, f"{where}: no shape {q['shape']}", p)
        if q["required"]:
            check("required" in header, f"{where}: not marked required", p)
        else:
            check(f"default {q['default']!r}" in header, f"{where}: no default {q['default']!r}", p)
        for bound, ops in (("min", (">=", ">")), ("max", ("<=", "<"))):
            b = q[bound]
            if b:
                op = ops[0] if b["inclusive"] else ops[1]
                shown = rf"{re.escape(op)} {re.escape(repr(b['value']))}"
                check(re.search(rf"(^|, |each element ){shown}(,|$)", header),
                      f"{where}: no bound {op} {b['value']!r}", p)
        if q["unit"]:
            check(f"unit: {q['unit']}" in header, f"{where}: no unit {q['unit']!r}", p)
        check(q["doc"] and doc == q["doc"], f"{where}: doc {doc!r}, want {q['doc']!r}", p)
    # Spot-check known values, so a wrong description cannot pass by agreeing with itself.
    check("default 1.0" in params["G"][0] and "default 0.01" in params["eps"][0], "defaults", p)
    check("> 0.0" in params["dt"][0] and "unit: time" in params["dt"][0], "dt bound/unit", p)
    check(">= 0" in params["steps"][0] and params["steps"][0].startswith("int"), "steps", p)
    for o in desc["outputs"]:
        header, doc = outputs[o["name"]]
        where = f"output {o['name']}: ({header})"
        check(header.startswith(type_text(o)), f"{where}: no type", p)
        if o.get("shape"):
            check(o["shape"] in header, f"{where}: no shape {o['shape']}", p)
        if o.get("unit"):
            check(f"unit: {o['unit']}" in header, f"{where}: no unit", p)
        check(o["doc"] and doc == o["doc"], f"{where}: doc {doc!r}", p)


def test_kernels_unknown_name_suggests():
    p = sim(["kernels", "nbdy"])
    check(p.returncode == 2, "want exit 2", p)
    check("did you mean 'nbody'" in p.stderr, "no suggestion on stderr", p)
    check(p.stdout == "", "something on stdout", p)


# ---------------------------------------------------------------- threads

def threads_of(args, **env):
    return sim([*args, "-c", "import simhost; print(simhost.get_threads())"], env=clean_env(**env))


def test_threads_option_and_env():
    p = threads_of(["--threads", "3"])
    check(p.returncode == 0 and p.stdout.strip() == "3", "--threads 3", p)
    p = threads_of(["--threads=1"])
    check(p.returncode == 0 and p.stdout.strip() == "1", "--threads=1", p)
    p = threads_of([], SIMHOST_THREADS="2")
    check(p.returncode == 0 and p.stdout.strip() == "2", "SIMHOST_THREADS=2", p)
    p = threads_of(["--threads", "3"], SIMHOST_THREADS="2")
    check(p.returncode == 0 and p.stdout.strip() == "3", "--threads 3 must win over env 2", p)


def test_threads_bad_values():
    cases = ((["--threads", "0"], {}, "--threads"),
             (["--threads", "abc"], {}, "--threads"),
             (["--threads"], {}, "--threads"),
             ([], {"SIMHOST_THREADS": "x"}, "SIMHOST_THREADS"))
    for args, env, name in cases:
        p = threads_of(args, **env)
        label = f"{' '.join(args)} {env}"
        check(p.returncode == 2, f"{label}: want exit 2", p)
        check(p.stdout == "", f"{label}: the command ran", p)
        check(name in p.stderr, f"{label}: stderr does not name {name}", p)
        if args[-1:] != ["--threads"]:
            check("integer" in p.stderr, f"{label}: stderr does not say an integer is expected", p)
        check("Traceback" not in p.stderr, f"{label}: traceback", p)


# ---------------------------------------------------------------- start-up

def test_start_up_imports_what_python3_imports():
    # The host imports nothing of its own before the user's code (only the builtin atexit,
    # for its closed-pipe hook); `import simhost` adds NumPy and the package, and leaves
    # asyncio, multiprocessing and concurrent.futures until a call needs them.
    code = "import sys; print(' '.join(sorted(sys.modules)))"
    s, r = sim(["-c", code], env=clean_env()), ref(["-c", code], env=clean_env())
    check(s.returncode == 0 and r.returncode == 0, "listing sys.modules failed", s, r)
    extra = set(s.stdout.split()) - set(r.stdout.split())
    missing = set(r.stdout.split()) - set(s.stdout.split())
    check(extra <= {"atexit"} and not missing,
          f"start-up modules differ from python3's: extra {sorted(extra)}, missing {sorted(missing)}", s)
    s = sim(["-c", "import sys, simhost; print(' '.join(sorted(sys.modules)))"], env=clean_env())
    loaded = set(s.stdout.split())
    check({"numpy", "simhost"} <= loaded, "import simhost did not load NumPy and simhost", s)
    early = loaded & {"asyncio", "multiprocessing", "concurrent.futures", "tqdm", "simhost._futures"}
    check(not early, f"import simhost imported {sorted(early)} before any call needs them", s)


# ---------------------------------------------------------------- --version, --help

def test_version():
    p = sim(["--version"])
    check(p.returncode == 0, "--version failed", p)
    found = {}
    for name in ("simhost", "Python", "NumPy", "oneTBB", "Eigen"):
        m = re.search(rf"^{name}\s+v?({VERSION_RE})\b", p.stdout, re.M)
        check(m, f"no '{name} <version>' line", p)
        found[name] = m.group(1)
    r = ref(["-c", "import platform, numpy; print(platform.python_version()); "
                   "print(numpy.__version__)"])
    check(r.returncode == 0, "reference python3 failed", r)
    py_version, np_version = r.stdout.split()
    check(found["Python"] == py_version, f"Python {found['Python']} != {py_version}", p)
    check(found["NumPy"] == np_version, f"NumPy {found['NumPy']} != {np_version}", p)
    s = sim(["-c", "import simhost; print(simhost.__version__)"])
    check(s.returncode == 0 and found["simhost"] == s.stdout.strip(),
          "simhost version differs from simhost.__version__", p, s)


def test_help():
    p = sim(["--help"])
    check(p.returncode == 0, "--help failed", p)
    for word in ("--threads", "kernels", "run"):
        check(re.search(rf"(^|\s){re.escape(word)}\b", p.stdout), f"--help lacks {word}", p)
    h = sim(["-h"])
    check(h.returncode == 0 and h.stdout == p.stdout, "-h differs from --help", h)
    check("pybind11" in p.stdout, "--help does not say --version prints pybind11's version", p)


# Reads of the environment in the project's code: getenv("X") in C++, os.environ.get("X"),
# os.environ["X"], os.getenv("X") and _core._getenv("X") in Python.
ENV_READ = re.compile(r"""(?:getenv|environ\.get|environ\[|_getenv)\(?\s*["']([A-Z][A-Z0-9_]*)["']""")


def test_help_lists_every_environment_variable_the_code_reads():
    root = os.environ["SIMHOST_SOURCE_DIR"]
    read = {}
    for top in ("runtime", "kernels", "scripting"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".cpp", ".hpp", ".py")):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as f:
                        for var in ENV_READ.findall(f.read()):
                            read.setdefault(var, os.path.relpath(path, root))
    # The scan must see the variables known to be read, or it checks nothing.
    check({"SIMHOST_THREADS", "SIMHOST_PROGRESS", "VIRTUAL_ENV"} <= set(read),
          f"the scan found only {sorted(read)}")
    p = sim(["--help"])
    env_section = p.stdout.split("\nenvironment:\n", 1)[-1]
    missing = {v: where for v, where in read.items()
               if not v.startswith("PYTHON") and not re.search(rf"^\s+{v}\b", env_section, re.M)}
    check(not missing, f"--help's environment section lacks {missing} (variable: file reading it)", p)


def test_an_unknown_host_option_gets_the_closest_one():
    for wrong, meant in (("--thread", "--threads"), ("--thread=4", "--threads"),
                         ("--verison", "--version"), ("--hlep", "--help")):
        p = sim([wrong, "-c", "pass"])
        check(p.returncode == 2, f"{wrong}: want exit 2", p)
        check(p.stderr.startswith(f"simhost: unknown option '{wrong}'; did you mean '{meant}'?\n"),
              f"{wrong}: no did-you-mean for {meant}", p)
    p = sim(["--frobnicate"])
    check(p.returncode == 2 and p.stderr.startswith("simhost: unknown option '--frobnicate'\n"),
          "a far-off option gets no suggestion", p)


# ---------------------------------------------------------------- exit codes

def script_outcome(body, *, compare_stderr="all"):
    with tempfile.TemporaryDirectory() as tmp:
        script = write(os.path.join(tmp, "s.py"), body)
        return same_outcome([script], compare_stderr=compare_stderr, cwd=tmp)


def test_uncaught_exception():
    s, _ = script_outcome("def f():\n    raise ValueError('boom 17')\nprint('before')\nf()\n")
    check(s.returncode == 1, "want exit 1", s)
    check("Traceback (most recent call last):" in s.stderr, "no traceback", s)
    check(last_line(s.stderr) == "ValueError: boom 17", "last line", s)
    check(s.stdout == "before\n", "stdout", s)


def test_sys_exit_code():
    s, _ = script_outcome("import sys\nsys.exit(3)\n")
    check(s.returncode == 3 and s.stderr == "", "sys.exit(3)", s)
    s, _ = same_outcome(["-c", "raise SystemExit(0)"], compare_stderr="all")
    check(s.returncode == 0, "SystemExit(0)", s)


def test_sys_exit_message():
    s, _ = script_outcome("import sys\nsys.exit('fatal: 99 problems')\n")
    check(s.returncode == 1, "want exit 1", s)
    check(s.stderr.strip() == "fatal: 99 problems", "message on stderr", s)


def test_syntax_error():
    s, _ = script_outcome("print('never')\ndef broken(:\n    pass\n")
    check(s.returncode == 1, "want exit 1", s)
    check("SyntaxError" in s.stderr and s.stdout == "", "no SyntaxError", s)


def test_missing_script():
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "no_such_script.py")
        s, r = same_outcome([missing], compare_stderr=None)
        check(s.returncode == 2, "want exit 2", s)
        check("can't open file" in s.stderr and missing in s.stderr, "stderr", s)
        # python3 names itself first; the rest of the message is the same.
        check(s.stderr.split(":", 1)[1] == r.stderr.split(":", 1)[1],
              "message differs from python3's", s, r)
        p = sim(["run", missing])
        check(p.returncode == 2 and "can't open file" in p.stderr, "simhost run missing", p)


def test_bad_options():
    p = sim(["--bogus"])
    check(p.returncode == 2, "--bogus: want exit 2", p)
    check("usage" in p.stderr.lower() and "--bogus" in p.stderr, "--bogus: usage", p)
    check(p.stdout == "", "--bogus: stdout", p)
    s, r = same_outcome(["-Z"], compare_stderr=None)
    check(s.returncode == 2, "-Z: want exit 2", s)
    check("usage" in s.stderr.lower(), "-Z: no usage on stderr", s)
    check(s.stderr.splitlines()[0] == r.stderr.splitlines()[0], "-Z: first line differs", s, r)


def test_keyboard_interrupt_exits_by_sigint():
    s, r = script_outcome("print('start', flush=True)\nraise KeyboardInterrupt\n")
    check(s.returncode == -signal.SIGINT == r.returncode,
          f"want returncode {-signal.SIGINT}, simhost {s.returncode}, python3 {r.returncode}", s, r)
    check(last_line(s.stderr) == "KeyboardInterrupt", "stderr", s)


def test_atexit_runs_once():
    for tail, want_rc in (("print('body')\n", 0), ("import sys\nsys.exit(5)\n", 5),
                          ("raise RuntimeError('x')\n", 1)):
        body = ("import atexit\natexit.register(lambda: print('ATEXIT-MARKER', flush=True))\n"
                + tail)
        s, _ = script_outcome(body, compare_stderr="last")
        check(s.returncode == want_rc, f"want exit {want_rc}", s)
        check(s.stdout.count("ATEXIT-MARKER") == 1, "atexit marker not printed exactly once", s)
    # With the simhost module imported too (python3 has no simhost, so simhost alone here).
    s = sim(["-c", "import atexit, simhost; atexit.register(print, 'ONCE'); print('body')"])
    check(s.returncode == 0 and s.stdout == "body\nONCE\n", "-c atexit with simhost", s)


# ---------------------------------------------------------------- driver

TESTS = [v for k, v in list(globals().items()) if k.startswith("test_") and callable(v)]


def main():
    if not SIMHOST or not os.access(SIMHOST, os.X_OK):
        print(f"SIMHOST_BIN is not an executable: {SIMHOST!r}")
        return 1
    if not os.access(PYTHON, os.X_OK):
        print(f"SIMHOST_PYTHON is not an executable: {PYTHON!r}")
        return 1
    return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
