"""The result of a kernel call: a read-only mapping from output name to array or float, with
its provenance, saved to and loaded from one .npz file."""

from collections.abc import Mapping

_set = object.__setattr__  # Result's own __setattr__ refuses every write
_new = object.__new__

# The .npz layout (FORMAT_VERSION 1): each output under its own name (a 0-d array for a
# scalar output), each array parameter under PARAM_PREFIX + its name, the provenance as JSON
# in a 0-d unicode array under PROVENANCE_KEY, and under FORMAT_KEY a JSON object
# {"format": "simhost.Result", "version": 1, "outputs": {name: "array"|"float"|...}}.
FORMAT_KEY = "__simhost__"
PROVENANCE_KEY = "__provenance__"
PARAM_PREFIX = "__param__."
FORMAT_NAME = "simhost.Result"
FORMAT_VERSION = 1

_SCALARS = {"float": float, "int": int, "bool": bool, "str": str}
_KIND_OF = {t: name for name, t in _SCALARS.items()}


class Result(Mapping):
    """Outputs of one kernel call.

    A read-only mapping from output name to numpy array (owning its memory) or float, with
    attribute access (``r.energy``). ``r.kernel`` is the kernel's name, ``r.params`` every
    parameter as used (defaults included), ``r.seconds`` the kernel's wall time and
    ``r.provenance`` where and how the result was made. ``r.save(path)`` writes it to one
    .npz file; ``simhost.load(path)`` reads it back.
    """

    __slots__ = ("_outputs", "_kernel", "_params", "_seconds", "_prov")

    def __init__(self, kernel, outputs, params, seconds, provenance=None):
        if provenance is None:  # made here, not by a kernel call: no start time is known
            provenance = (None, _native().get_threads())
        else:
            provenance = dict(provenance)
        self._fill(kernel, dict(outputs), dict(params), float(seconds), provenance)

    @classmethod
    def _adopt(cls, kernel, outputs, params, seconds, prov):
        """A Result that takes over `outputs` and `params`, new dicts nobody else holds
        (skips __init__'s copies on the per-call path). `prov` is the provenance dict, or
        (start time.time(), thread budget) from which it is made when first asked for."""
        # The per-call path: the slots set inline (half the time of a call to _fill).
        self = _new(cls)
        _set(self, "_kernel", kernel)
        _set(self, "_outputs", outputs)
        _set(self, "_params", params)
        _set(self, "_seconds", seconds)
        _set(self, "_prov", prov)
        return self

    def _fill(self, kernel, outputs, params, seconds, prov):
        _set(self, "_kernel", kernel)
        _set(self, "_outputs", outputs)
        _set(self, "_params", params)
        _set(self, "_seconds", seconds)
        _set(self, "_prov", prov)

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

    @property
    def provenance(self):
        """Where and how this result was made, a new dict each time (see docs/python.md):
        simhost, kernel, plugin, params, seeds, threads, cpu, host, started, seconds,
        versions."""
        prov = self._provenance()
        out = dict(prov)
        for key in ("params", "seeds", "versions"):
            out[key] = dict(prov[key])
        return out

    def _provenance(self):
        prov = self._prov
        if type(prov) is tuple:  # made from what the call captured, once
            prov = _make_provenance(self._kernel, self._params, self._seconds, *prov)
            _set(self, "_prov", prov)
        return prov

    def save(self, path):
        """Writes this result to one .npz file at `path` (which must end in .npz): outputs,
        array parameters and the provenance as JSON, readable by ``numpy.load`` without
        simhost and without pickle. The file is written under a temporary name and renamed,
        so `path` holds either the old file or the whole new one."""
        _save(self, path)

    def __getitem__(self, name):
        return self._outputs[name]

    def __iter__(self):
        return iter(self._outputs)

    def __len__(self):
        return len(self._outputs)

    def __reduce__(self):
        # Pickle, copy and deepcopy rebuild a Result from its parts (copy.deepcopy copies
        # the arrays; pickle sends them), never through __setattr__ or __getattr__. The
        # provenance travels made (its host is this one, not the receiver's).
        return (Result._adopt, (self._kernel, dict(self._outputs), dict(self._params),
                                self._seconds, self._provenance()))

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


def _native():
    import simhost

    return simhost._core


_static = None

# The thread budget the process started with, read by simhost.set_threads() before it first
# changes it; a call made before that records None and gets this (or the budget now).
initial_threads = None


def _static_provenance():
    """What is the same for every call of this process, gathered once."""
    global _static
    if _static is None:
        import platform
        import socket

        import numpy

        core = _native()
        libs = dict(core._library_versions())
        _static = {
            "simhost": core.__version__,
            # The CPU path the kernels run (SIMHOST_CPU or the CPU's best; docs/host.md).
            "cpu": libs["cpu"],
            "host": socket.gethostname(),
            "versions": {
                "simhost": core.__version__,
                "python": platform.python_version(),
                "numpy": numpy.__version__,
                "oneTBB": libs.get("oneTBB"),
                "Eigen": libs.get("Eigen"),
                "pybind11": libs.get("pybind11"),
            },
        }
    return _static


def _plugin_file(kernel):
    """The file of the plugin (native or Python) kernel `kernel` comes from, or None."""
    try:
        source = _native().describe(kernel)["source"]
    except LookupError:
        return None
    for prefix in ("Python plugin ", "plugin "):
        if source.startswith(prefix):
            return source[len(prefix):]
    return None


def _make_provenance(kernel, params, seconds, started, threads):
    from datetime import datetime, timezone

    static = _static_provenance()
    if threads is None:
        threads = initial_threads if initial_threads is not None else _native().get_threads()
    return {
        "simhost": static["simhost"],
        "kernel": kernel,
        "plugin": _plugin_file(kernel),  # the plugin file a kernel came from; None: built-in
        "params": dict(params),
        # Every seeded kernel takes its seed as `seed` (the runtime's seed_param()).
        "seeds": {k: params[k] for k in ("seed",) if k in params},
        "threads": threads,
        "cpu": static["cpu"],
        "host": static["host"],
        "started": (None if started is None else
                    datetime.fromtimestamp(started, timezone.utc).isoformat()),
        "seconds": seconds,
        "versions": dict(static["versions"]),
    }


def _check_path(path, who):
    import os

    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"{who} expects a path (str or os.PathLike), got "
                        f"{type(path).__name__}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text


def _save(result, path):
    import json
    import os

    import numpy as np

    path = _check_path(path, "Result.save()")
    if not path.endswith(".npz"):
        raise ValueError(f"Result.save(): the path must end in .npz (numpy.savez would append "
                         f"it, so the file would not be where you asked), got {path!r}")
    prov = result._provenance()
    entries, kinds = {}, {}
    for name, value in result._outputs.items():
        if name.startswith("__"):
            raise ValueError(f"Result.save(): output {name!r} collides with the file's own "
                             f"entries (names starting with '__')")
        if isinstance(value, np.ndarray):
            entries[name], kinds[name] = value, "array"
        elif type(value) in _KIND_OF:
            entries[name], kinds[name] = np.array(value), _KIND_OF[type(value)]
        else:
            raise TypeError(f"Result.save(): output {name!r} is a {type(value).__name__}; "
                            f"a result file holds arrays and float, int, bool or str values")
    params = {}
    for name, value in prov["params"].items():
        if isinstance(value, np.ndarray):
            key = PARAM_PREFIX + name
            entries[key] = value
            params[name] = {"array": key, "dtype": value.dtype.str, "shape": list(value.shape)}
        elif value is None or type(value) in _KIND_OF:
            params[name] = value
        else:
            raise TypeError(f"Result.save(): parameter {name!r} is a {type(value).__name__}; "
                            f"a result file holds arrays and float, int, bool, str or None")
    text = json.dumps(dict(prov, params=params), allow_nan=True)
    entries[PROVENANCE_KEY] = np.array(text)
    entries[FORMAT_KEY] = np.array(json.dumps(
        {"format": FORMAT_NAME, "version": FORMAT_VERSION, "outputs": kinds}))
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")  # same folder: rename
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **entries)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path):
    """The :class:`Result` saved by ``Result.save(path)``: the same outputs bit for bit, kernel,
    params, seconds and provenance. Reads exactly the file `path` names (nothing is appended).
    FileNotFoundError when there is none; ValueError when it is not a simhost result."""
    import errno
    import json
    import os
    import zipfile

    import numpy as np

    path = _check_path(path, "simhost.load()")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "simhost.load(): a folder, not a result file", path)
    if not os.path.isfile(path):
        hint = (f" (did you mean {path + '.npz'!r}? nothing is appended to the path)"
                if os.path.isfile(path + ".npz") else "")
        raise FileNotFoundError(errno.ENOENT, f"simhost.load(): no such file{hint}", path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # a .npz is a zip archive
        what = "a .npy array" if magic == b"\x93NUM" else f"it starts with {magic!r}"
        raise ValueError(f"simhost.load(): {path!r} is not a simhost result (not a .npz file: "
                         f"{what})")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"simhost.load(): {path!r} is not a simhost result (not a .npz file "
                         f"numpy can read: {e})") from None
    with npz:
        if FORMAT_KEY not in npz.files or PROVENANCE_KEY not in npz.files:
            raise ValueError(f"simhost.load(): {path!r} is a .npz file but not a simhost result "
                             f"(no {FORMAT_KEY!r} entry); its entries: "
                             f"{', '.join(npz.files) or 'none'}")
        try:
            fmt = json.loads(str(npz[FORMAT_KEY][()]))
            prov = json.loads(str(npz[PROVENANCE_KEY][()]))
            ok = fmt.get("format") == FORMAT_NAME and isinstance(fmt.get("outputs"), dict)
        except (ValueError, AttributeError, TypeError) as e:
            raise ValueError(f"simhost.load(): {path!r} is not a simhost result (unreadable "
                             f"{FORMAT_KEY!r} entry: {e})") from None
        if not ok:
            raise ValueError(f"simhost.load(): {path!r} is not a simhost result ({FORMAT_KEY!r} "
                             f"names format {fmt.get('format')!r})")
        if fmt.get("version") != FORMAT_VERSION:
            raise ValueError(f"simhost.load(): {path!r} is a simhost result of format version "
                             f"{fmt.get('version')!r}; this simhost reads version "
                             f"{FORMAT_VERSION}")
        try:
            outputs = {}
            for name, kind in fmt["outputs"].items():
                value = npz[name]
                outputs[name] = value if kind == "array" else _SCALARS[kind](value[()])
            params = {}
            for name, value in prov["params"].items():
                params[name] = npz[value["array"]] if isinstance(value, dict) else value
            prov["params"] = params
            kernel, seconds = prov["kernel"], float(prov["seconds"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"simhost.load(): {path!r} is a damaged simhost result (missing "
                             f"or bad entry: {e})") from None
    return Result._adopt(kernel, outputs, dict(params), seconds, prov)
