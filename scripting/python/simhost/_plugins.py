"""Plugins from Python: simhost.load_plugin(), simhost.plugins(), simhost.plugin_failures(),
and Python kernels (the @simhost.kernel decorator).

A Python kernel is described like a native one (typed parameters with defaults and bounds,
named outputs with shapes) and registered through the same descriptor checks, so binding,
error messages, describe(), help() and `simhost kernels` are the same for it. Its body is an
ordinary Python function that composes built-in kernels and NumPy; it runs on the calling
thread, with the GIL, and receives its arguments bound (defaults filled in, arrays converted
to their declared dtype, read-only).
"""

import contextvars
import importlib.util
import os
import sys
import time
import traceback

import numpy as np

_REQUIRED = object()

# name -> PythonKernel
registry = {}

# The deadline (time.monotonic()) of the Python kernel this context runs inside, if any:
# kernels it calls get at most the time that is left.
deadline = contextvars.ContextVar("simhost_deadline", default=None)


class Param(dict):
    """A parameter of a Python kernel; build it with the class methods."""

    @classmethod
    def _make(cls, kind, name, default, unit, doc, **extra):
        p = cls(kind=kind, name=name, unit=unit, doc=doc)
        if default is not _REQUIRED:
            p["default"] = default
        for key, value in extra.items():
            if value is not None:
                p[key] = value
        return p

    @classmethod
    def float(cls, name, default=_REQUIRED, *, unit="", doc="", above=None, at_least=None,
              below=None, at_most=None, allow_nonfinite=False):
        """A float; bounds: above/at_least (exclusive/inclusive minimum), below/at_most."""
        return cls._bounded("float", name, default, unit, doc, above, at_least, below, at_most,
                            allow_nonfinite=allow_nonfinite)

    @classmethod
    def int(cls, name, default=_REQUIRED, *, doc="", above=None, at_least=None, below=None,
            at_most=None):
        """An int, with bounds as for float()."""
        return cls._bounded("int", name, default, "", doc, above, at_least, below, at_most)

    @classmethod
    def bool(cls, name, default, *, doc=""):
        return cls._make("bool", name, default, "", doc)

    @classmethod
    def str(cls, name, default=_REQUIRED, *, choices=(), doc=""):
        """A string; `choices` lists the accepted values (empty: any)."""
        return cls._make("str", name, default, "", doc, choices=list(choices))

    @classmethod
    def array(cls, name, shape, *, dtype="float64", unit="", doc="", optional=False,
              above=None, at_least=None, below=None, at_most=None, allow_nonfinite=False):
        """An array of symbolic shape ("N, 3"); optional=True makes it None by default."""
        return cls._bounded("array", name, None if optional else _REQUIRED, unit, doc, above,
                            at_least, below, at_most, dtype=dtype, shape=shape,
                            allow_nonfinite=allow_nonfinite)

    @classmethod
    def _bounded(cls, kind, name, default, unit, doc, above, at_least, below, at_most, **extra):
        p = cls._make(kind, name, default, unit, doc, **extra)
        if above is not None and at_least is not None or below is not None and at_most is not None:
            raise TypeError(f"parameter {name!r}: give one lower bound (above or at_least) and "
                            f"one upper bound (below or at_most)")
        if above is not None or at_least is not None:
            p["min"], p["min_inclusive"] = (at_least, True) if above is None else (above, False)
        if below is not None or at_most is not None:
            p["max"], p["max_inclusive"] = (at_most, True) if below is None else (below, False)
        return p


class Output(dict):
    """An output of a Python kernel."""

    @classmethod
    def array(cls, name, shape, *, dtype="float64", unit="", doc="", allow_nonfinite=False):
        return cls(kind="array", name=name, shape=shape, dtype=dtype, unit=unit, doc=doc,
                   allow_nonfinite=allow_nonfinite)

    @classmethod
    def float(cls, name, *, unit="", doc="", allow_nonfinite=False):
        return cls(kind="float", name=name, unit=unit, doc=doc, allow_nonfinite=allow_nonfinite)


class PythonKernel:
    __slots__ = ("name", "fn", "outputs", "example", "file")

    def __init__(self, name, fn, outputs, example, file):
        self.name, self.fn, self.outputs, self.example, self.file = name, fn, outputs, example, file


def _source_file(fn):
    code = getattr(fn, "__code__", None)
    return os.path.abspath(code.co_filename) if code else getattr(fn, "__module__", "?")


def make_decorator(core):
    def kernel(summary, *, params=(), outputs=(), doc="", name=None, progress_unit="calls",
               example=None):
        """Registers the decorated function as the kernel ``name`` (default: its own name).

        ``params`` and ``outputs`` are lists of :class:`simhost.Param` and
        :class:`simhost.Output`; the function takes the parameters as keyword arguments and
        returns a dict of its outputs. ``example`` is a dict (or a function returning one)
        of small arguments that run in milliseconds, its self-test. The kernel is then
        called like any other: ``simhost.run``, ``simhost.kernels.<name>``, ``submit``."""
        def register(fn):
            kname = name or fn.__name__
            file = _source_file(fn)
            spec = {"name": kname, "summary": summary, "doc": doc or (fn.__doc__ or ""),
                    "params": [dict(p) for p in params], "outputs": [dict(o) for o in outputs],
                    "progress_unit": progress_unit, "file": file}
            core._register_python_kernel(spec)
            registry[kname] = PythonKernel(kname, fn, [dict(o) for o in outputs], example, file)
            return fn
        return register
    return kernel


def remaining(timeout):
    """The timeout of a kernel called inside a Python kernel: at most its time left."""
    limit = deadline.get()
    if limit is None:
        return timeout
    left = max(limit - time.monotonic(), 0.0)
    return left if timeout is None else min(float(timeout), left)


def call(core, name, params, timeout):
    """Runs Python kernel `name`: (outputs, bound params, seconds). `timeout` is at most the
    time left to the Python kernel this one is called from (run() applies remaining())."""
    k = registry[name]
    bound, shapes = core._bind(name, params)
    args = {}
    for key, value in bound.items():
        if isinstance(value, np.ndarray):
            value = value.view()
            value.flags.writeable = False
        args[key] = value
    mine = None if timeout is None else time.monotonic() + float(timeout)
    limit = deadline.get() if mine is None else mine
    token = deadline.set(limit)
    started = time.perf_counter()
    try:
        got = k.fn(**args)
    except TimeoutError as e:
        # A kernel it called was given the time left of this call's timeout and ran out:
        # the timeout the caller set is this kernel's, so the message names it.
        if mine is not None and time.monotonic() >= mine:
            raise TimeoutError(f"{name}() did not finish within timeout={timeout} s: {e}") from e
        raise
    finally:
        deadline.reset(token)
    seconds = time.perf_counter() - started
    if limit is not None and time.monotonic() > limit:
        raise TimeoutError(f"{name}() did not finish within its timeout")
    return _check_outputs(k, got, shapes), bound, seconds


def _check_outputs(k, got, shapes):
    where = f"{k.name}() (Python kernel of {k.file})"
    if not isinstance(got, dict):
        raise _kernel_error(f"{where} returned {type(got).__name__}, expected a dict of its "
                            f"outputs {', '.join(o['name'] for o in k.outputs)}")
    declared = [o["name"] for o in k.outputs]
    missing = [n for n in declared if n not in got]
    extra = [n for n in got if n not in declared]
    if missing or extra:
        raise _kernel_error(f"{where} returned outputs {sorted(got)}, expected {declared}")
    out = {}
    for o in k.outputs:
        v = got[o["name"]]
        if o["kind"] == "float":
            v = float(v)
            if not o["allow_nonfinite"] and not np.isfinite(v):
                raise _kernel_error(f"{where}: output '{o['name']}' is {v}")
        else:
            want = tuple(shapes[o["name"]])
            arr = np.array(v, dtype=o["dtype"], copy=True, order="C")
            if arr.shape != want:
                raise _kernel_error(f"{where}: output '{o['name']}' has shape {arr.shape}, "
                                    f"expected {want} ({o['shape']})")
            if (not o["allow_nonfinite"] and arr.dtype.kind == "f"
                    and not np.isfinite(arr).all()):
                raise _kernel_error(f"{where}: output '{o['name']}' holds NaN or inf")
            v = arr
        out[o["name"]] = v
    return out


def _kernel_error(message):
    import simhost

    return simhost.KernelError(message)


def load_python_file(core, path):
    """Imports the plugin file `path` as a module (its decorators register its kernels);
    returns their names. Raises ImportError with the traceback's last line on failure."""
    before = set(registry)
    mod_name = "simhost_plugin_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load plugin {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        del sys.modules[mod_name]
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        tb = "".join(traceback.format_exception(e)).rstrip()
        raise ImportError(f"cannot load plugin {path}: {type(e).__name__}: {e}\n{tb}") from e
    added = sorted(set(registry) - before)
    core._record_plugin(path, mod_name, added)
    return added


def load_plugin(core, path):
    """simhost.load_plugin(path)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"cannot load plugin {path}: no such file")
    if path.endswith(".py"):
        return load_python_file(core, path)
    return core._load_native_plugin(path)


def load_at_import(core):
    """The Python half of the loading step: the .py files named with --plugin, then those in
    the plugin folders the native loader searched. Failures are recorded, never raised."""
    files = list(core._python_plugin_files())
    for folder in core._plugin_folders():
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        files += [os.path.join(folder, n) for n in names if n.endswith(".py")
                  and not n.startswith("_")]
    for path in files:
        try:
            load_python_file(core, path)
        except ImportError as e:
            core._record_plugin_failure(path, str(e).split(": ", 1)[-1])


_pool = None


def submit(name, work):
    """submit() of a Python kernel: runs it on a Python thread of a small pool and returns a
    concurrent.futures.Future (cancel() stops it only before it starts; its timeout and the
    kernels it calls behave as in run())."""
    global _pool
    if _pool is None:
        import concurrent.futures

        _pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="simhost-python-kernel")
    return _pool.submit(work)
