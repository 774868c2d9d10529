"""The host's commands: `simhost kernels [NAME]`, `simhost plugins [check FILE]` and
`simhost batch ...` (run by the host binary with the package imported, so Python plugins are
seen too)."""

import os
import signal
import subprocess
import sys
import time

import simhost
from simhost import _core

USAGE_EXIT = 2


def _error(message, code=USAGE_EXIT):
    print(f"simhost: {message}", file=sys.stderr)
    return code


def kernels(args):
    if not args:
        names = simhost.list_kernels()
        width = max(map(len, names), default=0)
        for n in names:
            print(f"{n:<{width}}  {_core.describe(n)['summary']}")
        return 0
    if len(args) > 1:
        return _error("'kernels' takes at most one kernel name")
    try:
        sys.stdout.write(_core.describe(args[0])["text"])
    except simhost.UnknownKernelError as e:
        return _error(str(e).strip("'\""))
    return 0


def plugins_list():
    loaded = simhost.plugins()
    failed = simhost.plugin_failures()
    folders = _core._plugin_folders()
    if _core._plugins_disabled() or not folders:
        print("plugin folders: none searched" + (" (safe mode)" if _core._plugins_disabled() else ""))
    else:
        print("plugin folders: " + ", ".join(folders))
    print(f"loaded ({len(loaded)}):")
    for p in loaded:
        what = f"{p['kind']}" + (f", ABI {p['abi']}" if p["abi"] else "")
        if p["name"]:
            what += f", {p['name']}" + (f" {p['version']}" if p["version"] else "")
        print(f"  {p['file']} ({what}): {', '.join(p['kernels']) or 'no kernels'}")
    print(f"failed ({len(failed)}):")
    for file, reason in failed:
        print(f"  {file}: {reason}")
    return 1 if failed else 0


# The child of `plugins check`: it says which phase it is in before each one, so that the
# parent can tell where it crashed.
_PHASE = "@simhost-check-phase "


def _phase(text):
    print(_PHASE + text, flush=True)


def check_child(path):
    _phase("while loading")
    try:
        added = simhost.load_plugin(path)
    except ImportError as e:
        print(f"FAIL {e}", flush=True)
        return 1
    failures = [r for f, r in simhost.plugin_failures() if f == path]
    for reason in failures:
        print(f"FAIL {path}: {reason}", flush=True)
    if not added:
        print(f"FAIL {path}: it registered no kernel", flush=True)
        return 1
    bad = len(failures)
    for name in added:
        _phase(f"in kernel {name}'s self-test")
        info = simhost.describe(name)
        example = info["example"]
        if example is None:
            print(f"FAIL {name}: it declares no example (a small valid call), so it has no "
                  f"self-test", flush=True)
            bad += 1
            continue
        started = time.perf_counter()
        try:
            r = simhost.run(name, **example)
        except Exception as e:  # noqa: BLE001 - reported, the check goes on
            print(f"FAIL {name}: its self-test raised {type(e).__name__}: {e}", flush=True)
            bad += 1
            continue
        ms = 1000 * (time.perf_counter() - started)
        print(f"ok   {name}: self-test ran in {ms:.1f} ms, outputs {', '.join(r.keys())}",
              flush=True)
    return 1 if bad else 0


def plugins_check(path):
    if not os.path.exists(path):
        return _error(f"plugins check: no such file: {path}")
    path = os.path.abspath(path)
    env = dict(os.environ, SIMHOST_NO_PLUGINS="1")
    code = "import sys, simhost._cli as c; sys.exit(c.check_child(sys.argv[1]))"
    child = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE,
                             env=env, text=True)
    phase = "while starting"
    reported = False  # the child printed a FAIL line itself
    for line in child.stdout:
        if line.startswith(_PHASE):
            phase = line[len(_PHASE):].rstrip("\n")
        else:
            reported = reported or line.startswith("FAIL ")
            sys.stdout.write(line)
    rc = child.wait()
    if rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        print(f"FAIL {path}: crashed with {sig} {phase}", flush=True)
        return 1
    if rc == 0:
        print(f"{path}: all checks passed")
    elif not reported:
        print(f"FAIL {path}: the check ended with exit status {rc} {phase}", flush=True)
    return 1 if rc else 0


def main(argv):
    if not argv:
        return _error("no command")
    command, args = argv[0], argv[1:]
    if command == "kernels":
        return kernels(args)
    if command == "plugins":
        if not args:
            return plugins_list()
        if args[0] == "check":
            if len(args) != 2:
                return _error("usage: simhost plugins check FILE")
            return plugins_check(args[1])
        return _error(f"unknown 'plugins' command '{args[0]}'; use `simhost plugins` or "
                      f"`simhost plugins check FILE`")
    if command == "batch":
        from simhost import _batch_run
        # Under MPI this rank's part ends here (MPI_Finalize, or MPI_Abort for a failure, so
        # that no rank waits for this one): the process may end by SystemExit without
        # returning to the host's main.
        try:
            code = _batch_run.main(args, _error)
        except BaseException as e:
            if _core._batch_versions()["ranks"] > 1:
                import traceback
                traceback.print_exc()
                _core._batch_finish(130 if isinstance(e, KeyboardInterrupt) else 2)
            raise
        _core._batch_finish(code)
        return code
    return _error(f"unknown command '{command}'")
