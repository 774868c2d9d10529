"""``simhost.kernels``: one function per registered kernel, generated from the registry.

Each function has a real signature (keyword-only parameters with their defaults, annotated
with type, shape and unit) and a docstring built from the kernel's documentation, so
``help()`` and ``inspect.signature()`` show what ``simhost kernels NAME`` shows. No kernel
has a hand-written binding.
"""

import inspect
import sys
import types


def _annotation(p):
    if p["kind"] == "array":
        text = f"{p['dtype']} array {p['shape']}"
    else:
        text = p["kind"]
    if p["unit"]:
        text += f" [{p['unit']}]"
    return text


def _make(name, run, core):
    info = core.describe(name)
    params = []
    for p in info["params"]:
        default = inspect.Parameter.empty if p["required"] else p["default"]
        params.append(
            inspect.Parameter(
                p["name"], inspect.Parameter.KEYWORD_ONLY, default=default,
                annotation=_annotation(p),
            )
        )
    params.append(
        inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation="float [s] | None")
    )
    params.append(
        inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation="bool | callable(done, total) | None")
    )

    def kernel(**params):
        return run(name, **params)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__module__ = "simhost.kernels"
    kernel.__signature__ = inspect.Signature(params, return_annotation="simhost.Result")
    kernel.__doc__ = (
        info["text"]
        + "\ntimeout: seconds after which the kernel is cancelled and TimeoutError raised.\n"
        + f"progress: True for a bar on stderr, or a callable receiving (done, total) in "
        f"{info['progress_unit']}.\n"
        + "Returns a simhost.Result (a read-only mapping of the outputs above).\n"
    )
    return kernel


class _KernelsModule(types.ModuleType):
    """Every registered kernel as a function: ``simhost.kernels.nbody(pos=..., ...)``."""

    def __init__(self, name, run, core):
        super().__init__(name, _KernelsModule.__doc__)
        self.__dict__["_run"] = run
        self.__dict__["_core"] = core

    def __getattr__(self, name):
        if name.startswith("__") or name not in self._core.list_kernels():
            raise AttributeError(
                f"module 'simhost.kernels' has no kernel {name!r}; "
                f"registered kernels: {', '.join(self._core.list_kernels())}"
            )
        fn = _make(name, self._run, self._core)
        self.__dict__[name] = fn  # cached: the registry never removes a kernel
        return fn

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._core.list_kernels()))


def install(package, run, core):
    module = _KernelsModule(package + ".kernels", run, core)
    sys.modules[module.__name__] = module
    return module
