"""simhost: Python-scripted simulation with parallel C++ kernels.

Kernels run as parallel C++ (Eigen + oneTBB) with the GIL released: Ctrl-C and ``timeout=``
stop a running kernel within a fraction of a second, and other Python threads keep running
(see docs/threads.md).

    import simhost
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=1e-3, steps=100)
    r.energy, r.pos, r.seconds

The same package serves the ``simhost`` host binary and a plain ``python3``.
"""

import sys as _sys
from time import time as _time


def _refuse_subinterpreters():
    """simhost's native core (pybind11, the one process-wide TBB arena) serves the main
    interpreter only: a first import in a subinterpreter would deadlock, so it is refused."""
    try:
        import _xxsubinterpreters as interpreters  # CPython 3.11-3.12
    except ImportError:
        try:
            import _interpreters as interpreters  # CPython 3.13+
        except ImportError:
            return
    if interpreters.get_current() != interpreters.get_main():
        raise ImportError("simhost cannot be imported in a subinterpreter: its native core "
                          "serves the main interpreter only; import it there, or run kernels "
                          "in a separate process (multiprocessing)", name="simhost")


_refuse_subinterpreters()

if "_simhost_core" in _sys.builtin_module_names:  # inside the simhost host binary
    import _simhost_core as _core
else:  # plain python3: the extension module next to this file
    from . import _core



def _check_numpy(built_for):
    """Refuses a NumPy whose major version differs from the one simhost was built with (its
    arrays' C layout and module names differ between major versions)."""
    try:
        import numpy
    except ImportError as e:
        raise ImportError(f"simhost needs NumPy, which this Python ({_sys.executable}) cannot "
                          f"import ({e}); install it with `apt-get install python3-numpy`",
                          name="simhost") from e

    have = getattr(numpy, "__version__", "unknown")
    if have.split(".")[0] != built_for.split(".")[0]:
        raise ImportError(
            f"simhost was built for NumPy {built_for}, but this Python imports NumPy {have} "
            f"from {getattr(numpy, '__file__', '?')}; use NumPy {built_for.split('.')[0]}.x "
            f"(Debian's python3-numpy) or rebuild simhost against NumPy {have}",
            name="simhost")


_check_numpy(_core._numpy_built_for)

from . import _progress  # noqa: E402
from . import _result  # noqa: E402
from ._result import Result, load  # noqa: E402

__version__ = _core.__version__
__all__ = [
    "Batch",
    "BatchError",
    "BatchSummary",
    "KernelError",
    "Output",
    "Param",
    "Result",
    "Future",
    "UnknownKernelError",
    "arun",
    "batch",
    "describe",
    "get_threads",
    "kernel",
    "kernels",
    "list_kernels",
    "load",
    "load_plugin",
    "open_batch",
    "plugin_failures",
    "plugins",
    "progress",
    "run",
    "set_threads",
    "submit",
]

#: A kernel failed while running (raised with the kernel's name and the reason).
KernelError = _core.KernelError
KernelError.__module__ = __name__
#: No kernel of that name is registered (a LookupError; the message names close matches).
UnknownKernelError = _core.UnknownKernelError
UnknownKernelError.__module__ = __name__
#: A batch cannot start or go on: its folder is in use by another batch, already holds one
#: (resume=True continues it) or holds a different one, or its store cannot be written.
BatchError = _core.BatchError
BatchError.__module__ = __name__

list_kernels = _core.list_kernels
get_threads = _core.get_threads

from . import _plugins  # noqa: E402

Param = _plugins.Param
Output = _plugins.Output
kernel = _plugins.make_decorator(_core)


def describe(name):
    """Everything about a kernel: parameters (type, shape, default, bounds, unit, doc),
    outputs, its source ('built-in', 'plugin FILE', 'Python plugin FILE') and its example
    call, as a dict; its 'text' entry is what `simhost kernels NAME` prints."""
    info = _core.describe(name)
    if info["python"]:
        example = _plugins.registry[name].example
        info["example"] = dict(example() if callable(example) else example or {}) or None
    return info


def load_plugin(path):
    """Loads a plugin at run time: a native shared library (.so) or a Python file (.py).
    Returns the names of the kernels it added; raises ImportError saying why it cannot be
    loaded (the host goes on as before)."""
    return _plugins.load_plugin(_core, path)


def plugins():
    """The plugins that loaded, in order: dicts of file, name, version, abi, kind ('native'
    or 'python') and kernels."""
    return _core._plugins()


def plugin_failures():
    """What could not be loaded, in order: (file, reason) pairs. A failed plugin never stops
    the others or the host."""
    return _core._plugin_failures()

# The thread budget as last set by set_threads(), for the provenance of each call; None
# while it is still the one the process started with (read only when a provenance is made).
_threads = None


def set_threads(threads):
    """Sets the process-wide thread budget (the one TBB arena every kernel runs in). Waits for
    running kernels to finish first (Ctrl-C interrupts the wait)."""
    global _threads
    if _result.initial_threads is None:
        _result.initial_threads = _core.get_threads()
    _core.set_threads(threads)
    _threads = _core.get_threads()


def progress(iterable=None, /, *, desc=None, total=None, unit=None):
    """One progress bar for a loop of kernel calls (tqdm, in a terminal or Jupyter).

    ``for p in simhost.progress(param_sets, desc="sweep"): simhost.run(..., **p)`` yields
    the items and counts them; ``with simhost.progress(total=n, desc="sweep"):`` counts the
    kernel calls that finish inside it. Calls made inside (progress=True or None) draw no
    bar of their own: the group's bar shows their progress after its count. Drawn when a
    bar would be for progress=True (a terminal, Jupyter, SIMHOST_PROGRESS=1).
    """
    return _progress.Group(iterable, desc, total, unit)


def _progress_unit(name):
    return _core.describe(name)["progress_unit"]


def run(name, /, *, timeout=None, progress=None, **params):
    """Runs kernel ``name`` with keyword parameters and returns its :class:`Result`.

    The GIL is released while the kernel runs. ``timeout`` (seconds) cancels the kernel and
    raises TimeoutError when it has not finished in time; Ctrl-C cancels it and raises
    KeyboardInterrupt. ``progress=True`` shows a tqdm bar on stderr (when it is a terminal,
    or in Jupyter; SIMHOST_PROGRESS=0/1 forces it off/on; inside simhost.progress() the
    call reports into that one bar); a callable receives (done, total) in the
    kernel's unit at most ~10 times a second, and an exception it raises cancels the
    kernel and propagates. Float64 C-contiguous arrays are passed without a copy; inputs
    are never modified.
    """
    if _before_first_call is not None:
        _before_first_call()
    if _plugins.deadline.get() is not None:  # inside a Python kernel: at most its time left
        timeout = _plugins.remaining(timeout)
    if name in _plugins.registry:
        return _run_python_kernel(name, timeout, progress, params)
    if (progress is None and not _progress.open_groups
            and _core._getenv("SIMHOST_PROGRESS") is None):
        # The common case, kept short: this is simhost's per-call overhead.
        started = _time()
        outputs, used, seconds = _core._run(name, params, timeout, None)
        return Result._adopt(name, outputs, used, seconds, (started, _threads))
    report = _progress.reporter(progress, name, _progress_unit)
    started = _time()
    ok = False
    try:
        outputs, used, seconds = _core._run(name, params, timeout, report)
        ok = True
    finally:
        if isinstance(report, _progress.Reporter):
            report.close(ok)
    return Result._adopt(name, outputs, used, seconds, (started, _threads))


def _run_python_kernel(name, timeout, progress, params):
    started = _time()
    if progress:  # the kernels it calls report into one bar
        with _progress.Group(None, name, None, None):
            outputs, used, seconds = _plugins.call(_core, name, params, timeout)
    else:
        outputs, used, seconds = _plugins.call(_core, name, params, timeout)
    return Result._adopt(name, outputs, used, seconds, (started, _threads))


def _prefer_forkserver():
    """Makes 'forkserver' the start method multiprocessing uses by default.

    oneTBB is not fork-safe: a child forked from a process whose kernel threads have started
    cannot run kernels. 'forkserver' forks children from a clean server process instead (the
    default CPython itself adopts on Linux from 3.14). Only the default changes: the method
    is not marked as set, so multiprocessing.set_start_method() works as before, and an
    explicit 'fork' child that calls a kernel gets a clear error instead of a hang.

    Done just before the first kernel call starts the kernel threads (a child forked before
    that is safe), so that `import simhost` does not pay for importing multiprocessing.
    """
    global _before_first_call
    _before_first_call = None
    import multiprocessing.context as ctx

    default = getattr(ctx, "_default_context", None)
    concrete = getattr(ctx, "_concrete_contexts", {})
    if (default is not None and getattr(default, "_actual_context", None) is None
            and "forkserver" in concrete):
        default._default_context = concrete["forkserver"]


#: Called (then cleared) before the first kernel call of the process.
_before_first_call = _prefer_forkserver

from . import _kernels  # noqa: E402  (needs run() above)

kernels = _kernels.install(__name__, run, _core)

# The Python half of the one loading step: Python plugin files from the same sources.
_plugins.load_at_import(_core)

# After Ctrl-C at exit: how long to wait for other threads to leave their cancelled calls
# (each stops within a fraction of a second) before the interpreter finalizes.
_STOP_WAIT = 2.0


def _stop_calls_after_ctrl_c():
    """At exit after an uncaught Ctrl-C, cancels the kernels other threads are inside, so the
    process ends by SIGINT at once (the futures' own exit wait does this when they are in use)."""
    if __name__ + "._futures" in _sys.modules:
        return
    last = getattr(_sys, "last_type", None)
    if isinstance(last, type) and issubclass(last, KeyboardInterrupt):
        _core._stop_all_calls(_STOP_WAIT)


import threading as _threading  # noqa: E402  (NumPy has imported it already)

_threading._register_atexit(_stop_calls_after_ctrl_c)
_futures_lock = _threading.Lock()


def _load_futures():
    # submit/arun/Future on first use: concurrent.futures and the watcher cost start-up time
    # that scripts calling run() alone need not pay.
    with _futures_lock:
        if "submit" not in globals():
            from . import _futures

            g = globals()
            g["Future"] = _futures.Future
            g["submit"], g["arun"] = _futures.install(_core, _progress_unit,
                                                      _sys.modules[__name__])


def __getattr__(name):
    if name in ("Future", "submit", "arun"):
        _load_futures()
        return globals()[name]
    if name in ("batch", "BatchSummary"):  # batches on first use: they import more
        from . import _batch_run
        return getattr(_batch_run, name)
    if name in ("open_batch", "Batch"):
        from . import _batch
        return getattr(_batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
