"""The result of a kernel call: a read-only mapping from output name to array or float."""

from collections.abc import Mapping

_set = object.__setattr__  # Result's own __setattr__ refuses every write


class Result(Mapping):
    """Outputs of one kernel call.

    A read-only mapping from output name to numpy array (owning its memory) or float, with
    attribute access (``r.energy``). ``r.kernel`` is the kernel's name, ``r.params`` every
    parameter as used (defaults included) and ``r.seconds`` the kernel's wall time.
    """

    __slots__ = ("_outputs", "_kernel", "_params", "_seconds")

    def __init__(self, kernel, outputs, params, seconds):
        self._fill(kernel, dict(outputs), dict(params), float(seconds))

    @classmethod
    def _adopt(cls, kernel, outputs, params, seconds):
        """A Result that takes over `outputs` and `params`, new dicts nobody else holds
        (skips __init__'s copies on the per-call path)."""
        self = object.__new__(cls)
        self._fill(kernel, outputs, params, seconds)
        return self

    def _fill(self, kernel, outputs, params, seconds):
        _set(self, "_kernel", kernel)
        _set(self, "_outputs", outputs)
        _set(self, "_params", params)
        _set(self, "_seconds", seconds)

    @property
    def kernel(self):
        """The kernel's name."""
        return self._kernel

    @property
    def params(self):
        """Every parameter as the kernel used it, defaults included (a new dict each time)."""
        return dict(self._params)

    @property
    def seconds(self):
        """Wall time of the kernel itself, in seconds."""
        return self._seconds

    def __getitem__(self, name):
        return self._outputs[name]

    def __iter__(self):
        return iter(self._outputs)

    def __len__(self):
        return len(self._outputs)

    def __reduce__(self):
        # Pickle, copy and deepcopy rebuild a Result from its parts (copy.deepcopy copies
        # the arrays; pickle sends them), never through __setattr__ or __getattr__.
        return (Result._adopt, (self._kernel, dict(self._outputs), dict(self._params),
                                self._seconds))

    def __getattr__(self, name):
        if name.startswith("_"):  # private, or asked for before the slots are filled
            raise AttributeError(name)
        try:
            return self._outputs[name]
        except KeyError:
            raise AttributeError(
                f"{self._kernel}() result has no output {name!r}; its outputs are "
                f"{', '.join(map(repr, self._outputs))}"
            ) from None

    def __setattr__(self, name, value):
        raise AttributeError("a simhost.Result is read-only")

    def __delattr__(self, name):
        raise AttributeError("a simhost.Result is read-only")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._outputs))

    def __repr__(self):
        parts = []
        for k, v in self._outputs.items():
            shape = getattr(v, "shape", None)
            parts.append(f"{k}=array{shape}" if shape is not None else f"{k}={v!r}")
        return f"<simhost.Result {self._kernel}: {', '.join(parts)}; {self._seconds:.4g} s>"
