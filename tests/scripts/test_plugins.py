"""Native plugins, run through the host binary: loading and every way it fails, the errors of
plugin kernels, Ctrl-C and timeout= in them, their reproducibility, their description, safe
mode and `simhost plugins check`.

The plugins are real shared libraries built by tests/plugins/CMakeLists.txt into the folder
SIMHOST_TEST_PLUGIN_DIR (set by CTest); the broken files that are not libraries (a text file,
truncated copies, a 32-bit ELF class) are made here from a good plugin. Each failure is
checked three ways: simhost.load_plugin() in this process (ImportError), a child host given
the file with --plugin, and a child host whose SIMHOST_PLUGIN_PATH folder holds it (with
`simhost plugins`). crash_init.so and abort_selftest.so's kernel crash: only
`simhost plugins check` runs them, in its own child process.
"""

import contextlib
import io
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

import simhost
import simhost_testing
from simhost_testing import expect_raises, same_bits

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIMHOST_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
SIMHOST_BIN = os.environ.get("SIMHOST_BIN",
                             os.path.join(SOURCE_DIR, "build", "release", "bin", "simhost"))
PLUGIN_DIR = os.path.abspath(os.environ.get(
    "SIMHOST_TEST_PLUGIN_DIR", os.path.join(SOURCE_DIR, "build", "release", "tests", "plugins")))

# The promise under test: a running kernel stops within this long of Ctrl-C or its timeout
# (scaled only under ThreadSanitizer, see simhost_testing.TIME_SCALE).
RESPONSE_S = simhost_testing.scaled(0.5)
# Generous limits that only bound a hang, not a promise.
EXIT_LIMIT_S = simhost_testing.scaled(30.0)
CHILD_LIMIT_S = simhost_testing.scaled(120.0)


def plugin(name):
    """The built test plugin `name` (tests/plugins/CMakeLists.txt)."""
    path = os.path.join(PLUGIN_DIR, name + ".so")
    assert os.path.isfile(path), f"{path} is missing: build the tests (SIMHOST_TEST_PLUGIN_DIR)"
    return path


def host_abi():
    """(major, minor) of the ABI the host was built with, read from the SDK's header."""
    with open(os.path.join(SOURCE_DIR, "plugins", "include", "simhost", "plugin.h")) as f:
        text = f.read()
    major = int(re.search(r"#define SIMHOST_ABI_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define SIMHOST_ABI_MINOR (\d+)", text).group(1))
    return major, minor


ABI_MAJOR, ABI_MINOR = host_abi()
ACCEPTED = (f"this host accepts ABI {ABI_MAJOR}.0" if ABI_MINOR == 0
            else f"this host accepts ABI {ABI_MAJOR}.0 to {ABI_MAJOR}.{ABI_MINOR}")
NOT_LOADABLE = "not a shared library this machine can load"

# The scratch folder of this run (made in main()).
WORK = None


def host(*args, env=None):
    """Runs the host binary with `args` in a clean plugin environment plus `env`."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SIMHOST_PLUGIN_PATH", "SIMHOST_NO_PLUGINS")}
    clean.update(env or {})
    return subprocess.run([SIMHOST_BIN, *args], capture_output=True, text=True, env=clean,
                          timeout=CHILD_LIMIT_S)


# What a child host prints after its loading step, then after running `after` (a kernel call
# that shows the host went on), as one JSON line.
STATE = """
import json, simhost
state = {"failures": simhost.plugin_failures(), "plugins": simhost.plugins(),
         "kernels": simhost.list_kernels()}
state["after"] = eval(AFTER)
print(json.dumps(state))
"""


def host_state(*args, env=None, after="None"):
    p = host(*args, "-c", f"AFTER = {after!r}\n" + STATE, env=env)
    assert p.returncode == 0, f"the child host failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout.splitlines()[-1])


def reasons_of(failures, path):
    return [reason for file, reason in failures if file == path]


def ensure_loaded(path):
    """Loads the plugin `path` into this process (once; a second load adds nothing)."""
    simhost.load_plugin(path)
    assert any(p["file"] == path for p in simhost.plugins()), simhost.plugin_failures()


# ---- The broken files ----------------------------------------------------------------------


def broken_folder():
    """WORK/broken/plugins: every file that must fail to load, as (path, fragments of the
    reason), in the order a folder is searched (by name), plus dup_a.so (which loads, first:
    dup_b.so duplicates its kernel) and bad_descriptors.so (which loads with one kernel)."""
    folder = os.path.join(WORK, "broken", "plugins")
    if os.path.isdir(folder):
        return folder, BROKEN
    os.makedirs(folder)
    good = plugin("c_scale")
    with open(good, "rb") as f:
        image = f.read()

    def put(name, data=None, copy_of=None):
        path = os.path.join(folder, name)
        if copy_of:
            shutil.copyfile(copy_of, path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        return path

    dup_a = put("dup_a.so", copy_of=plugin("dup_a"))
    put("bad_descriptors.so", copy_of=plugin("bad_descriptors"))
    # Cut in the middle of what its segments occupy: dlopen() alone would map pages past the
    # end of the file and die of SIGBUS on them.
    needed = loaded_size(image)
    half = needed // 2
    elf32 = bytearray(image)
    assert elf32[:4] == b"\x7fELF" and elf32[4] == 2, "c_scale.so is not a 64-bit ELF file"
    elf32[4] = 1  # EI_CLASS: ELFCLASS32
    cases = [
        (put("abi_major2.so", copy_of=plugin("abi_major2")),
         ["it was built for plugin ABI 2.0, and " + ACCEPTED,
          "rebuild it against this simhost's SDK"]),
        (put("abi_minor99.so", copy_of=plugin("abi_minor99")),
         [f"it was built for plugin ABI {ABI_MAJOR}.99, newer than this host's: " + ACCEPTED,
          "upgrade simhost or rebuild the plugin"]),
        (put("abi_only.so", copy_of=plugin("abi_only")),
         ["it exports simhost_plugin_abi but no simhost_plugin_init entry point"]),
        (put("dup_b.so", copy_of=plugin("dup_b")),
         [f"cannot register kernel 'twin' (plugin {os.path.join(folder, 'dup_b.so')}): "
          f"a kernel of that name is already registered (plugin {dup_a})"]),
        (put("dup_nbody.so", copy_of=plugin("dup_nbody")),
         [f"cannot register kernel 'nbody' (plugin {os.path.join(folder, 'dup_nbody.so')}): "
          f"a kernel of that name is already registered (built-in)"]),
        (put("elf32.so", bytes(elf32)), [NOT_LOADABLE, "wrong ELF class: ELFCLASS32"]),
        (put("half.so", image[:half]),
         [NOT_LOADABLE, f"the file is truncated: it has {half} bytes, and its ELF headers "
                        f"need {needed}"]),
        (put("init_error.so", copy_of=plugin("init_error")),
         ["its simhost_plugin_init failed: the licence file /nonexistent/licence.txt is missing"]),
        (put("init_throws.so", copy_of=plugin("init_throws")),
         ["its simhost_plugin_init failed: cannot read the coefficient table coefficients.dat"]),
        # Its library is not in ../plugin_deps here.
        (put("needs_dep.so", copy_of=plugin("needs_dep")),
         ["it needs the library libsimhost_test_dep.so, which was not found",
          "add its folder to LD_LIBRARY_PATH"]),
        (put("not_a_plugin.so", copy_of=plugin("not_a_plugin")),
         ["it exports no simhost_plugin_abi symbol, so it is not a simhost plugin"]),
        (put("text.so", b"These are the notes of a plugin, not a plugin.\n" * 4),
         [NOT_LOADABLE, "invalid ELF header"]),
        (put("truncated.so", image[:200]),
         [NOT_LOADABLE, "the file is truncated: it has 200 bytes"]),
    ]
    assert [c[0] for c in cases] == sorted(c[0] for c in cases)
    BROKEN.extend(cases)
    return folder, BROKEN


BROKEN = []


def loaded_size(image):
    """Where the last byte of the loadable segments of a 64-bit little-endian ELF image is
    (an independent reading of its program headers)."""
    (phoff,) = struct.unpack_from("<Q", image, 32)
    phentsize, phnum = struct.unpack_from("<HH", image, 54)
    end = 0
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", image,
                                                                 phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            end = max(end, p_offset + p_filesz)
    assert 0 < end <= len(image), (end, len(image))
    return end

BAD_DESCRIPTOR_REASONS = [
    "a kernel has no name",
    "cannot register kernel 'Bad-Name': the name must be an identifier (ASCII letters, digits "
    "and '_') starting with a lower-case letter",
    "kernel 'bad_dtype': parameter 'x' has the unknown dtype 42 (expected SIMHOST_DTYPE_FLOAT64, "
    "_INT64, _INT32, _INT8 or _BOOL)",
    "cannot register kernel 'bad_default': the default of 'dt' is invalid: bad_default(): "
    "parameter 'dt' must be > 0.0, got -1.0",
    "kernel 'bad_shape': output 'y' has the shape 'M', whose size 'M' is neither an int "
    "parameter nor a named size of an array parameter",
]


def assert_reason(reason, fragments, path):
    missing = [f for f in fragments if f not in reason]
    assert not missing, f"{path}: reason {reason!r} lacks {missing}"


# ---- Loading failures ----------------------------------------------------------------------


def test_load_plugin_raises_import_error_naming_file_and_reason():
    folder, cases = broken_folder()
    dup_a = os.path.join(folder, "dup_a.so")
    assert simhost.load_plugin(dup_a) == ["twin"]
    kernels = simhost.list_kernels()
    for path, fragments in cases:
        before = len(simhost.plugin_failures())
        prefix = f"cannot load plugin {path}: "
        e = expect_raises(ImportError, lambda: simhost.load_plugin(path), prefix, *fragments)
        assert str(e).startswith(prefix), str(e)
        assert simhost.plugin_failures()[before:] == [(path, str(e)[len(prefix):])], (
            path, simhost.plugin_failures()[before:])
        assert simhost.list_kernels() == kernels, f"{path} changed the kernels"
        assert not any(p["file"] == path for p in simhost.plugins()), f"{path} is listed as loaded"
    # None of the kernels registered by a failing init was added; taken names kept their owner.
    assert "init_error_kernel" not in kernels and "init_throws_kernel" not in kernels
    assert simhost.describe("nbody")["source"] == "built-in"
    assert simhost.describe("twin")["source"] == f"plugin {dup_a}"
    # The host goes on: built-in and plugin kernels run.
    assert simhost.run("twin", x=1.5)["value"] == 1.5
    r = simhost.kernels.heat2d(u0=np.eye(8), r=0.25, steps=1)
    assert r.u.shape == (8, 8)


def test_a_file_that_is_not_there():
    path = os.path.join(WORK, "no_such_plugin.so")
    expect_raises(FileNotFoundError, lambda: simhost.load_plugin(path),
                  f"cannot load plugin {path}: no such file")


def test_child_hosts_record_failures_from_plugin_option_and_plugin_path():
    folder, cases = broken_folder()
    dup_a = os.path.join(folder, "dup_a.so")
    bad = os.path.join(folder, "bad_descriptors.so")
    after = ("[simhost.run('twin', x=2.0)['value'],"
             " list(simhost.run('good_kernel', x=[1.0, 2.0])['y'])]")
    options = ["--plugin", dup_a, "--plugin", bad]
    for path, _ in cases:
        options += ["--plugin", path]
    by_option = host_state(*options, after=after)
    by_folder = host_state(env={"SIMHOST_PLUGIN_PATH": folder}, after=after)
    for how, state in (("--plugin", by_option), ("SIMHOST_PLUGIN_PATH", by_folder)):
        for path, fragments in cases:
            reasons = reasons_of(state["failures"], path)
            assert len(reasons) == 1, f"{how}: {path}: {reasons}"
            assert_reason(reasons[0], fragments, f"{how}: {path}")
        assert reasons_of(state["failures"], bad) == BAD_DESCRIPTOR_REASONS, (how, state)
        assert len(state["failures"]) == len(cases) + len(BAD_DESCRIPTOR_REASONS), state["failures"]
        loaded = {p["file"]: p for p in state["plugins"]}
        assert loaded[dup_a]["kernels"] == ["twin"] and loaded[bad]["kernels"] == ["good_kernel"]
        assert loaded[dup_a]["name"] == "dup_a" and loaded[dup_a]["abi"] == f"{ABI_MAJOR}.0"
        assert not any(path in loaded for path, _ in cases), (how, sorted(loaded))
        assert state["after"] == [2.0, [2.0, 4.0]], (how, state["after"])
    # Both ways give the same reasons (in the order of the options, or of the folder's names).
    assert sorted(by_option["failures"]) == sorted(by_folder["failures"]), (
        by_option["failures"], by_folder["failures"])


def test_simhost_plugins_lists_loaded_and_failed_and_exits_1():
    folder, cases = broken_folder()
    p = host("plugins", env={"SIMHOST_PLUGIN_PATH": folder})
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    out = p.stdout
    assert out.startswith(f"plugin folders: {folder}"), out
    loaded, failed = out.split("\nfailed (")
    loaded += "\n"
    dup_a = os.path.join(folder, "dup_a.so")
    bad = os.path.join(folder, "bad_descriptors.so")
    assert f"  {dup_a} (native, ABI {ABI_MAJOR}.0, dup_a 1.0): twin\n" in loaded, out
    assert f"  {bad} (native, ABI {ABI_MAJOR}.0, bad_descriptors 1.0): good_kernel\n" in loaded, out
    assert failed.startswith(f"{len(cases) + len(BAD_DESCRIPTOR_REASONS)}):\n"), out
    for path, fragments in cases:
        lines = [line for line in failed.splitlines() if line.startswith(f"  {path}: ")]
        assert len(lines) == 1, (path, out)
        assert_reason(lines[0], fragments, path)
        assert path not in loaded, (path, out)
    for reason in BAD_DESCRIPTOR_REASONS:
        assert f"  {bad}: {reason}\n" in failed, (reason, out)
    # Nothing failed: exit 0.
    p = host("--plugin", plugin("c_scale"), "plugins")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert f"  {plugin('c_scale')} (native, ABI {ABI_MAJOR}.0, c_scale 1.0): c_scale\n" in p.stdout
    assert "failed (0):" in p.stdout, p.stdout


def test_bad_descriptors_are_each_reported_and_the_good_kernel_loads():
    path = plugin("bad_descriptors")
    before = len(simhost.plugin_failures())
    assert simhost.load_plugin(path) == ["good_kernel"]
    assert simhost.plugin_failures()[before:] == [(path, r) for r in BAD_DESCRIPTOR_REASONS], (
        simhost.plugin_failures()[before:])
    record = [p for p in simhost.plugins() if p["file"] == path]
    assert len(record) == 1 and record[0]["kernels"] == ["good_kernel"], record
    for name in ("Bad-Name", "bad_dtype", "bad_default", "bad_shape"):
        assert name not in simhost.list_kernels(), name
    x = np.array([1.0, -2.5, 3.25])
    assert same_bits(simhost.kernels.good_kernel(x=x).y, 2.0 * x)


def test_missing_dependency_names_the_library():
    # A copy of the plugin with its library beside it, as its RUNPATH $ORIGIN/../plugin_deps
    # wants it: it loads; without the library it fails, naming it.
    plugins = os.path.join(WORK, "dep", "plugins")
    deps = os.path.join(WORK, "dep", "plugin_deps")
    os.makedirs(plugins)
    os.makedirs(deps)
    path = os.path.join(plugins, "needs_dep.so")
    shutil.copyfile(plugin("needs_dep"), path)
    library = os.path.join(deps, "libsimhost_test_dep.so")
    shutil.copyfile(os.path.join(os.path.dirname(PLUGIN_DIR), "plugin_deps",
                                 "libsimhost_test_dep.so"), library)
    state = host_state("--plugin", path, after="simhost.run('dep_triple', x=2.5)['value']")
    assert state["failures"] == [] and state["after"] == 7.5, state
    os.remove(library)
    fragments = ["it needs the library libsimhost_test_dep.so, which was not found",
                 "libsimhost_test_dep.so: cannot open shared object file",
                 "install it, or add its folder to LD_LIBRARY_PATH"]
    expect_raises(ImportError, lambda: simhost.load_plugin(path),
                  f"cannot load plugin {path}: ", *fragments)
    state = host_state("--plugin", path,
                       after="simhost.run('heat2d', u0=[[1.0] * 4] * 4, r=0.1, steps=1)['u'][0][0]")
    assert len(state["failures"]) == 1 and state["failures"][0][0] == path, state
    assert_reason(state["failures"][0][1], fragments, path)
    assert "dep_triple" not in state["kernels"] and state["after"] == 1.0, state
    # With the library's folder on LD_LIBRARY_PATH it loads again, as the message says.
    os.makedirs(os.path.join(WORK, "dep", "elsewhere"))
    moved = os.path.join(WORK, "dep", "elsewhere", "libsimhost_test_dep.so")
    shutil.copyfile(os.path.join(os.path.dirname(PLUGIN_DIR), "plugin_deps",
                                 "libsimhost_test_dep.so"), moved)
    ld = os.path.dirname(moved) + (":" + os.environ["LD_LIBRARY_PATH"]
                                   if os.environ.get("LD_LIBRARY_PATH") else "")
    state = host_state("--plugin", path, env={"LD_LIBRARY_PATH": ld},
                       after="simhost.run('dep_triple', x=-1.0)['value']")
    assert state["failures"] == [] and state["after"] == -3.0, state


# ---- Errors of plugin kernels ----------------------------------------------------------------


def test_kernel_error_names_plugin_file_and_kernel_and_host_stays_usable():
    faults = plugin("faults")
    ensure_loaded(faults)
    expected = (f"fail_in_run(): the solver diverged at step 3 (kernel 'fail_in_run' of plugin "
                f"{faults})")
    calls = {
        "run": lambda: simhost.run("fail_in_run", step=3),
        "kernels.x": lambda: simhost.kernels.fail_in_run(step=3),
        "run with timeout": lambda: simhost.run("fail_in_run", step=3, timeout=60),
        "submit": lambda: simhost.submit("fail_in_run", step=3).result(),
    }
    for how, call in calls.items():
        e = expect_raises(simhost.KernelError, call)
        assert str(e) == expected, (how, str(e))
        # The next call works.
        assert simhost.kernels.sum_reduce(x=[0.5, 0.25, 0.125], grain=1).total == 0.875, how
    assert str(expect_raises(simhost.KernelError, lambda: simhost.kernels.fail_in_run())) == (
        expected.replace("step 3", "step 7"))


def test_exception_on_a_worker_thread_reaches_the_caller():
    faults = plugin("faults")
    ensure_loaded(faults)
    threads = simhost.get_threads()
    simhost.set_threads(2)
    try:
        e = expect_raises(simhost.KernelError, lambda: simhost.kernels.fail_in_worker())
    finally:
        simhost.set_threads(threads)
    pattern = (r"fail_in_worker\(\): chunk \[\d+, \d+\) failed on a worker thread "
               + re.escape(f"(kernel 'fail_in_worker' of plugin {faults})"))
    assert re.fullmatch(pattern, str(e)), str(e)
    assert simhost.kernels.spin(chunks=64, work=10).chunks_done == 64.0


def test_bad_alloc_becomes_memory_error():
    faults = plugin("faults")
    ensure_loaded(faults)
    e = expect_raises(MemoryError, lambda: simhost.kernels.fail_alloc())
    assert str(e) == (f"fail_alloc(): out of memory in the kernel of plugin {faults} "
                      f"(std::bad_alloc)"), str(e)
    assert not isinstance(e, simhost.KernelError)
    assert simhost.kernels.spin(chunks=8, work=10).chunks_done == 8.0


# ---- Cancellation --------------------------------------------------------------------------

CTRL_C_CHILD = """
import signal
import simhost

def say(*words):
    print(*words, flush=True)

if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
    say("sigint-handler", repr(signal.getsignal(signal.SIGINT)))
say("started")
try:
    simhost.kernels.spin()  # hours of chunks
    say("finished")
except KeyboardInterrupt:
    say("interrupted")
say("followup", simhost.kernels.sum_reduce(x=[0.5, 0.25, 0.125]).total)
"""


def test_ctrl_c_interrupts_a_plugin_kernel_in_a_child_host():
    simhost_testing.ensure_sigint_not_ignored()
    child = simhost_testing.Child([SIMHOST_BIN, "--plugin", plugin("faults"), "-c", CTRL_C_CHILD])
    try:
        child.wait_started()
        child.wait_kernel_running()
        child.interrupt(RESPONSE_S, EXIT_LIMIT_S)
        _, line = child.next_line(EXIT_LIMIT_S)
        assert line == "followup 0.875", f"{line!r}: {child.stderr_text()}"
        rc = child.proc.wait(EXIT_LIMIT_S)
        assert rc == 0, f"exit code {rc}, expected 0: {child.stderr_text()}"
    finally:
        child.kill()


def test_timeout_cancels_a_plugin_kernel():
    ensure_loaded(plugin("faults"))
    timeout = 0.3
    seen = []
    def progress(done, total):
        seen.append((done, total))

    for how, kwargs in (("plain", {}), ("with progress", {"progress": progress})):
        t0 = time.monotonic()
        e = expect_raises(TimeoutError, lambda: simhost.kernels.spin(timeout=timeout, **kwargs),
                          "spin()", f"timeout={timeout}")
        elapsed = time.monotonic() - t0
        print(f"  {how}: TimeoutError after {elapsed * 1000:.0f} ms: {e}")
        assert timeout <= elapsed < timeout + RESPONSE_S, (how, elapsed)
    # The plugin's progress reached the callable, in its unit, while it ran.
    assert seen and all(t == 1000000000 for _, t in seen), seen[:3]
    assert all(0 <= d < 1000000000 for d, _ in seen) and seen[-1][0] > 0, seen[-3:]
    assert simhost.kernels.spin(chunks=10, work=10).chunks_done == 10.0


# ---- Results -------------------------------------------------------------------------------


def order_sensitive_values(n, seed):
    """n normal values scaled by powers of ten over 24 decades: the sum's rounding depends on
    the order of additions, so equal bits mean the same order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 12, n)
    assert np.cumsum(x)[-1] != math.fsum(x), "the values do not show the order of additions"
    return x


def sum_bound(x):
    """A bound on the rounding error of any order of summing x: (n - 1) eps sum|x|."""
    return (len(x) - 1) * np.finfo(float).eps * float(np.sum(np.abs(x)))


def at_threads(counts, fn):
    threads = simhost.get_threads()
    try:
        out = {}
        for n in counts:
            simhost.set_threads(n)
            assert simhost.get_threads() == n
            out[n] = [fn(), fn()]
        return out
    finally:
        simhost.set_threads(threads)


def test_deterministic_reduce_is_bitwise_identical_at_1_2_3_threads():
    ensure_loaded(plugin("faults"))
    x = order_sensitive_values(100_003, 2024)
    exact = math.fsum(x)
    first = {}
    for grain in (64, 1000):
        totals = at_threads((1, 2, 3), lambda: simhost.kernels.sum_reduce(x=x, grain=grain).total)
        bits = {float(t).hex() for ts in totals.values() for t in ts}
        assert len(bits) == 1, f"grain {grain}: totals differ across thread counts: {totals}"
        total = totals[1][0]
        assert abs(total - exact) <= sum_bound(x), (grain, total, exact)
        print(f"  grain {grain}: {total!r} at 1, 2 and 3 threads (exact {exact!r})")
        first[grain] = total
    # Other chunks add in another order and round otherwise: the bits show the order.
    assert first[64] != first[1000], first


def test_c_scale_values():
    path = plugin("c_scale")
    ensure_loaded(path)
    x = order_sensitive_values(10_001, 7)
    keep = x.copy()
    factor = -1.75
    results = at_threads((1, 2, 3), lambda: simhost.kernels.c_scale(x=x, factor=factor))
    for n, rs in results.items():
        for r in rs:
            assert same_bits(r.y, factor * x), f"y != factor * x at {n} threads"
            assert same_bits(r.total, results[1][0].total), f"total differs at {n} threads"
    y = factor * x
    assert abs(results[1][0].total - math.fsum(y)) <= sum_bound(y)
    assert same_bits(x, keep), "the input was modified"
    assert same_bits(simhost.run("c_scale", x=x).y, x)  # factor defaults to 1
    r = simhost.run("c_scale", x=[1.0, 2.0, 3.0, 4.0], factor=2.5)
    assert r.provenance["plugin"] == path and r.provenance["kernel"] == "c_scale", r.provenance
    assert list(r.y) == [2.5, 5.0, 7.5, 10.0] and r.total == 25.0
    # The binder's checks and messages, as for built-in kernels.
    expect_raises(TypeError, lambda: simhost.kernels.c_scale(x=x, factor="double"),
                  "c_scale(): parameter 'factor' expects a float, got str 'double'")
    expect_raises(ValueError, lambda: simhost.kernels.c_scale(x=x, factor=float("nan")),
                  "c_scale(): parameter 'factor'")
    expect_raises(TypeError, lambda: simhost.kernels.c_scale(factor=2.0),
                  "c_scale()", "'x'")


def test_describe_and_help_of_a_plugin_kernel():
    path = plugin("c_scale")
    ensure_loaded(path)
    d = simhost.describe("c_scale")
    assert d["source"] == f"plugin {path}", d["source"]
    assert d["summary"] == "Scales an array (a plugin written in C)."
    assert d["doc"] == "y = factor * x, element by element; total = sum(y)."
    assert d["progress_unit"] == "elements" and d["python"] is False
    params = {p["name"]: p for p in d["params"]}
    assert list(params) == ["x", "factor"]
    assert params["x"]["kind"] == "array" and params["x"]["dtype"] == "float64"
    assert params["x"]["shape"] == "(N,)" and params["x"]["required"] is True
    assert params["factor"]["kind"] == "float" and params["factor"]["default"] == 1.0
    assert params["factor"]["doc"] == "what every element is multiplied by"
    assert [(o["name"], o["kind"]) for o in d["outputs"]] == [("y", "array"), ("total", "float")]
    example = d["example"]
    assert sorted(example) == ["factor", "x"] and example["factor"] == 2.5
    assert list(example["x"]) == [1.0, 2.0, 3.0, 4.0]
    assert simhost.run("c_scale", **example).total == 25.0
    text = d["text"]
    for line in ("c_scale: Scales an array (a plugin written in C).\n",
                 "  x (float64 array (N,), required, finite)\n      the values to scale\n",
                 "  factor (float, default 1.0, finite)\n"
                 "      what every element is multiplied by\n",
                 "  total (float)\n      the sum of y, the same bits at any thread count\n",
                 "Progress is counted in elements.\n"):
        assert line in text, (line, text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        help(simhost.kernels.c_scale)
    shown = out.getvalue()
    assert "c_scale(*, x: 'float64 array (N,)', factor: 'float' = 1.0," in shown, shown
    for line in text.strip().splitlines():
        assert line.strip() in shown, (line, shown)
    # `simhost kernels [NAME]` in a host given the plugin prints the same.
    p = host("--plugin", path, "kernels", "c_scale")
    assert p.returncode == 0 and p.stdout == text, (p.stdout, p.stderr)
    p = host("--plugin", path, "kernels")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^c_scale +Scales an array \(a plugin written in C\)\.$", p.stdout,
                     re.M), p.stdout


# ---- Safe mode -------------------------------------------------------------------------------

TINY_PY = '''
import simhost

@simhost.kernel("Twice x.", params=[simhost.Param.float("x", 1.0)],
                outputs=[simhost.Output.float("value")])
def py_twice(x):
    return {"value": 2 * x}
'''


def test_safe_mode_loads_no_folder_plugin_but_plugin_options():
    folder = os.path.join(WORK, "safe")
    os.makedirs(folder)
    shutil.copyfile(plugin("c_scale"), os.path.join(folder, "c_scale.so"))
    with open(os.path.join(folder, "py_twice.py"), "w") as f:
        f.write(TINY_PY)
    faults = plugin("faults")
    path = {"SIMHOST_PLUGIN_PATH": folder}
    safe = dict(path, SIMHOST_NO_PLUGINS="1")

    def files(state):
        return sorted(p["file"] for p in state["plugins"])

    normal = host_state(env=path, after="simhost.run('py_twice', x=4.0)['value']")
    assert "c_scale" in normal["kernels"] and "py_twice" in normal["kernels"], normal
    assert normal["after"] == 8.0
    for how, args, env in (("SIMHOST_NO_PLUGINS=1", (), safe),
                           ("--no-plugins", ("--no-plugins",), path)):
        state = host_state(*args, env=env)
        assert not {"c_scale", "py_twice"} & set(state["kernels"]), (how, state)
        assert state["plugins"] == [] and state["failures"] == [], (how, state)
        # --plugin still loads, native and Python alike.
        state = host_state(*args, "--plugin", faults,
                           "--plugin", os.path.join(folder, "py_twice.py"),
                           env=env, after="simhost.run('spin', chunks=3, work=1)['chunks_done']")
        assert "spin" in state["kernels"] and "py_twice" in state["kernels"], (how, state)
        assert "c_scale" not in state["kernels"], (how, state)
        assert files(state) == sorted([faults, os.path.join(folder, "py_twice.py")]), (how, state)
        assert state["after"] == 3.0
    p = host("plugins", env=safe)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.startswith("plugin folders: none searched (safe mode)\n"), p.stdout
    p = host("--no-plugins", "plugins", env=path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.startswith("plugin folders: none searched"), p.stdout


# ---- simhost plugins check -----------------------------------------------------------------


def crash_env():
    """Under a sanitizer, which catches SIGSEGV itself and exits with a status instead: let the
    signal end the process, as it does in a release build."""
    return {name: ":".join(filter(None, (os.environ.get(name), "handle_segv=0")))
            for name in ("ASAN_OPTIONS", "TSAN_OPTIONS")}


def test_plugins_check():
    good = plugin("c_scale")
    p = host("plugins", "check", good)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert re.search(r"^ok   c_scale: self-test ran in [0-9.]+ ms, outputs y, total$",
                     p.stdout, re.M), p.stdout
    assert p.stdout.endswith(f"{good}: all checks passed\n"), p.stdout
    crash = plugin("crash_init")
    p = host("plugins", "check", crash, env=crash_env())
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert f"FAIL {crash}: crashed with SIGSEGV while loading\n" in p.stdout, p.stdout
    aborts = plugin("abort_selftest")
    p = host("plugins", "check", aborts)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert f"FAIL {aborts}: crashed with SIGABRT in kernel abort_in_run's self-test\n" in (
        p.stdout), p.stdout
    # A file that cannot be loaded fails the check with the loader's reason.
    p = host("plugins", "check", plugin("abi_minor99"))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "newer than this host's: " + ACCEPTED in p.stdout, p.stdout


TESTS = [
    test_load_plugin_raises_import_error_naming_file_and_reason,
    test_a_file_that_is_not_there,
    test_child_hosts_record_failures_from_plugin_option_and_plugin_path,
    test_simhost_plugins_lists_loaded_and_failed_and_exits_1,
    test_bad_descriptors_are_each_reported_and_the_good_kernel_loads,
    test_missing_dependency_names_the_library,
    test_kernel_error_names_plugin_file_and_kernel_and_host_stays_usable,
    test_exception_on_a_worker_thread_reaches_the_caller,
    test_bad_alloc_becomes_memory_error,
    test_ctrl_c_interrupts_a_plugin_kernel_in_a_child_host,
    test_timeout_cancels_a_plugin_kernel,
    test_deterministic_reduce_is_bitwise_identical_at_1_2_3_threads,
    test_c_scale_values,
    test_describe_and_help_of_a_plugin_kernel,
    test_safe_mode_loads_no_folder_plugin_but_plugin_options,
    test_plugins_check,
]


def main():
    global WORK
    if not os.path.isdir(PLUGIN_DIR):
        print(f"no test plugins in {PLUGIN_DIR} (SIMHOST_TEST_PLUGIN_DIR): build the tests first")
        return 1
    with tempfile.TemporaryDirectory(prefix="simhost-plugins-") as work:
        WORK = work
        return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
