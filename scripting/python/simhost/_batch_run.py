"""Running batches: simhost.batch(), `simhost batch SPEC ...`, and the hooks through which the
engine (C++, runtime/src/batch/) runs a spec's Python glue: setup and reduce functions and
Python kernels. The hooks are called on the thread that called batch(), never on a worker."""

import difflib
import hashlib
import importlib.util
import io
import json
import math
import numbers
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

import simhost
from simhost import _core, _progress


@dataclass
class BatchSummary:
    """What simhost.batch() came to. Counts are of the whole batch (runs committed before a
    resume included); `ran` is what this call committed; `failures` are (run id, error) of
    the runs that failed in this call."""
    out: str
    total: int
    done: int
    failed: int
    pending: int
    skipped: int
    ran: int
    seconds: float
    jobs: int
    ranks: int = 1
    interrupted: bool = False
    failures: list = field(default_factory=list)

    @property
    def ok(self):
        """True when every run of the batch is done."""
        return self.done == self.total

    def __str__(self):
        text = (f"{self.out}: {self.done} of {self.total} runs done, {self.failed} failed, "
                f"{self.pending} pending ({self.ran} runs in {self.seconds:.2f} s")
        if self.ran and self.seconds > 0:
            text += f", {self.ran / self.seconds:,.0f} runs/s"
        return text + ")"


def _error_text(what, exc):
    """The error stored for a run whose Python hook raised: the exception and its traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{what} raised {type(exc).__name__}: {exc}\n{tb}"


def _scalar(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None  # JSON has no NaN or inf
    raise TypeError


def _load_hook(hook, role):
    """The function a spec names as "file.py:function"; ValueError naming the spec's line."""
    file, function, place = hook
    name = f"_simhost_batch_{role}_{hashlib.sha256(file.encode()).hexdigest()[:12]}"
    module = sys.modules.get(name)
    if module is None:
        folder = os.path.dirname(file)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # the hook may import its neighbours
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise ValueError(f"{place}: {os.path.basename(file)} failed to import: "
                             f"{type(e).__name__}: {e}") from e
        sys.modules[name] = module
    fn = getattr(module, function, None)
    if not callable(fn):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        close = difflib.get_close_matches(function, names, 1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"{place}: {os.path.basename(file)} has no function '{function}'{hint}")
    return fn


class Hooks:
    """The engine's view of the spec's Python parts (see simhost/batch.hpp, BatchHooks)."""

    def __init__(self, spec, show_progress):
        self.spec = spec
        self.kernel = spec.kernel
        self.outputs = list(spec.outputs)
        self.setup_fn = self.reduce_fn = None
        self.setup_name = self.reduce_name = ""
        self.show_progress = show_progress
        self.line_shown = False

    def prepare(self, setup, reduce):
        if setup:
            self.setup_fn = _load_hook(setup, "setup")
            self.setup_name = f"setup hook {os.path.basename(setup[0])}:{setup[1]}"
        if reduce:
            self.reduce_fn = _load_hook(reduce, "reduce")
            self.reduce_name = f"reduce hook {os.path.basename(reduce[0])}:{reduce[1]}"

    def _setup(self, params):
        out = self.setup_fn(dict(params))
        if not isinstance(out, dict) or not all(isinstance(k, str) for k in out):
            raise TypeError(f"{self.setup_name} returned {type(out).__name__}; it must return a "
                            f"dict of parameter name -> array or value")
        return out

    def setup(self, params):
        try:
            return self._setup(params)
        except Exception as e:
            return _error_text(self.setup_name, e)

    def _reduce(self, outputs, params):
        out = self.reduce_fn(outputs, params)
        if not isinstance(out, dict):
            raise TypeError(f"{self.reduce_name} returned {type(out).__name__}; it must return a "
                            f"dict of scalars (str -> int, float, bool or str)")
        clean = {}
        for k, v in out.items():
            if not isinstance(k, str):
                raise TypeError(f"{self.reduce_name} returned a key {k!r}; keys must be str")
            try:
                clean[k] = _scalar(v)
            except TypeError:
                raise TypeError(f"{self.reduce_name} returned {k!r}: {type(v).__name__}; values "
                                f"must be scalars (int, float, bool or str)") from None
        return json.dumps(clean, sort_keys=True)

    def reduce(self, outputs, params):
        try:
            return True, self._reduce(outputs, params)
        except Exception as e:
            return False, _error_text(self.reduce_name, e)

    def run_kernel(self, params):
        """A Python kernel's whole run: setup, the kernel, reduce."""
        try:
            if self.setup_fn:
                params.update(self._setup(params))
            result = simhost.run(self.kernel, timeout=self.spec.timeout, **params)
            outputs = {name: result[name] for name in self.outputs}
            blobs = []
            for name, value in outputs.items():
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(value), allow_pickle=False)
                blobs.append((name, buf.getvalue()))
            reduced = self._reduce(outputs, params) if self.reduce_fn else ""
            return True, "", blobs, reduced
        except KeyboardInterrupt:
            raise
        except Exception as e:
            return False, _error_text(f"{self.kernel}()", e) if not isinstance(
                e, (ValueError, TypeError, TimeoutError, simhost.KernelError)) else str(e), [], ""

    def progress(self, total, done, failed, todo, seconds, rate, final):
        if not self.show_progress:
            return
        left = total - done - failed
        eta = ""
        if rate > 0 and left > 0:
            s = int(left / rate + 0.5)
            eta = f", ETA {s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
        line = (f"batch {self.kernel}: {done}/{total} done, {failed} failed, "
                f"{rate:,.0f} runs/s{eta}")
        end = "\n" if final else ""
        sys.stderr.write(f"\r{line}\x1b[K{end}")
        sys.stderr.flush()


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"a batch spec holds numbers, strings, booleans, lists and dicts; got "
                    f"{type(v).__name__} ({v!r})")


def _toml_key(k):
    if not isinstance(k, str):
        raise TypeError(f"a batch spec's keys are str, got {k!r}")
    return k if k and all(c.isalnum() or c in "_-" for c in k) else json.dumps(k)


def toml_text(spec):
    """A spec given as a dict, written as the TOML the engine reads."""
    lines, tables = [], []
    for k, v in spec.items():
        if isinstance(v, dict) and k in ("params", "grid", "zip", "random"):
            tables.append((k, v))
        elif k == "zip" and isinstance(v, list) and all(isinstance(g, dict) for g in v):
            tables.extend(("[zip]", g) for g in v)
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables:
        lines.append(f"[{k}]" if not k.startswith("[") else "[[zip]]")
        lines.extend(f"{_toml_key(n)} = {_toml_value(x)}" for n, x in v.items())
    return "\n".join(lines) + "\n"


def load_spec(spec):
    """The checked spec: a path (str or os.PathLike) or a dict."""
    if isinstance(spec, dict):
        return _core._load_batch_spec(toml_text(spec), "<dict>", os.getcwd())
    if isinstance(spec, (str, os.PathLike)):
        return _core._load_batch_spec(os.fspath(spec))
    raise TypeError(f"simhost.batch(): spec must be a path to a TOML file or a dict, got "
                    f"{type(spec).__name__}")


def default_out(spec):
    if spec.path.startswith("<"):
        raise ValueError("simhost.batch(): a spec given as a dict needs out=FOLDER")
    stem = os.path.splitext(os.path.basename(spec.path))[0]
    return os.path.join(os.getcwd(), stem + ".batch")


def _versions():
    v = dict(_core._library_versions())
    v.update({"simhost": _core.__version__, "python": platform.python_version(),
              "numpy": np.__version__})
    b = _core._batch_versions()
    v["sqlite"] = b["sqlite"]
    if b["mpi"]:
        v["mpi"] = b["mpi"]
    return v


def _plugins():
    out = []
    for p in simhost.plugins():
        try:
            with open(p["file"], "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            digest = None
        out.append({"file": p["file"], "sha256": digest, "kind": p.get("kind"),
                    "kernels": list(p.get("kernels", []))})
    return out


def dry_run_text(spec):
    runs = spec.runs
    lines = [f"{len(runs)} runs of {spec.kernel} ({spec.path}; outputs kept: "
             f"{', '.join(spec.outputs)})"]
    lines += [f"{idx:>6}  {rid}  {params}" for idx, rid, params in runs]
    return "\n".join(lines)


def batch(spec, out=None, *, jobs=None, threads=None, resume=False, retry_failed=False,
          dry_run=False, progress=None, command=None):
    """Runs a parameter sweep (see docs/batches.md): spec is a TOML file's path or a dict of
    the same keys. Results go to the folder `out` (default ./<spec stem>.batch): a SQLite
    store that simhost.open_batch() and pandas read. jobs: runs at once (default: the thread
    budget); threads: the thread budget (simhost.set_threads); resume: continue the batch in
    `out`, skipping its finished runs; retry_failed: with resume, redo failed runs too;
    dry_run: return the run table [(idx, id, params)] without running anything; progress:
    a progress line on stderr (default: when stderr is a terminal; SIMHOST_PROGRESS=0/1
    decides when set). Returns a BatchSummary; spec errors raise ValueError or TypeError
    before any run starts; Ctrl-C stops within a fraction of a second, keeping every
    finished run, and raises KeyboardInterrupt."""
    if retry_failed and not resume:
        raise ValueError("simhost.batch(): retry_failed=True needs resume=True")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral)
                             or not 1 <= jobs <= 1024):
        raise ValueError(f"simhost.batch(): jobs must be an integer between 1 and 1024, got {jobs!r}")
    checked = load_spec(spec)
    if dry_run:
        return [(idx, rid, json.loads(params)) for idx, rid, params in checked.runs]
    if threads is not None:
        simhost.set_threads(threads)
    out = os.path.abspath(os.fspath(out)) if out is not None else default_out(checked)
    show = _progress._draws(True if progress is None else bool(progress))
    if _core._batch_versions()["rank"] != 0:
        show = False
    hooks = Hooks(checked, show)
    if command is None:
        command = f"simhost.batch({spec if not isinstance(spec, dict) else '<dict>'!s})"
    s = _core._run_batch(checked, out, int(jobs or 0), bool(resume), bool(retry_failed), command,
                         json.dumps(_versions(), sort_keys=True), json.dumps(_plugins()), hooks)
    summary = BatchSummary(**s)
    if _core._batch_versions()["rank"] == 0:
        from simhost import _batch
        _batch.export(out)
    return summary


USAGE = ("usage: simhost batch SPEC [--out DIR] [--jobs J] [--threads N] [--resume] "
         "[--retry-failed] [--dry-run]\n"
         "       simhost batch status DIR\n"
         "       simhost batch export DIR")


def main(args, error):
    """`simhost batch ...`; `error(message, code)` prints a usage error."""
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] in ("status", "export"):
        if len(args) != 2:
            return error(f"usage: simhost batch {args[0]} DIR")
        from simhost import _batch
        try:
            if args[0] == "status":
                print(_batch.status_text(args[1]))
            else:
                print(_batch.export(args[1]))
        except (FileNotFoundError, ValueError) as e:
            return error(str(e), 2)
        return 0
    spec, options = None, {}
    flags = {"--resume": "resume", "--retry-failed": "retry_failed", "--dry-run": "dry_run"}
    valued = {"--out": "out", "--jobs": "jobs", "--threads": "threads"}
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if name in valued:
            if not eq:
                if i + 1 >= len(args):
                    return error(f"{name} needs a value")
                i += 1
                value = args[i]
            if name in ("--jobs", "--threads"):
                if not value.isdigit() or not 1 <= int(value) <= 1024:
                    return error(f"{name} must be an integer between 1 and 1024, got '{value}'")
                value = int(value)
            options[valued[name]] = value
        elif a in flags:
            options[flags[a]] = True
        elif a.startswith("-"):
            close = difflib.get_close_matches(a, list(flags) + list(valued), 1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return error(f"unknown batch option '{a}'{hint}\n{USAGE}")
        elif spec is None:
            spec = a
        else:
            return error(f"batch takes one spec file, got '{spec}' and '{a}'\n{USAGE}")
        i += 1
    if spec is None:
        return error(f"batch needs a spec file\n{USAGE}")
    if options.get("retry_failed") and not options.get("resume"):
        return error("--retry-failed needs --resume")
    if options.get("dry_run"):
        try:
            print(dry_run_text(load_spec(spec)))
        except (ValueError, TypeError) as e:
            return error(str(e), 2)
        return 0
    command = "simhost batch " + " ".join(args)
    try:
        summary = batch(spec, command=command, **options)
    except KeyboardInterrupt:
        print("simhost batch: interrupted; every finished run is kept: continue with --resume",
              file=sys.stderr)
        return 130
    except (ValueError, TypeError, simhost.BatchError) as e:
        return error(str(e), 2)
    if _core._batch_versions()["rank"] != 0:
        return 0
    print(summary)
    if summary.failures:
        print(f"simhost batch: {len(summary.failures)} runs failed:", file=sys.stderr)
        for rid, err in summary.failures[:20]:
            lines = err.strip().splitlines()
            print(f"  {rid}: {lines[-1] if err.startswith('Traceback') else lines[0]}",
                  file=sys.stderr)
        if len(summary.failures) > 20:
            print(f"  ... and {len(summary.failures) - 20} more "
                  f"(simhost batch status {summary.out})", file=sys.stderr)
        print(f"redo them with: simhost batch {spec} --out {summary.out} --resume --retry-failed",
              file=sys.stderr)
        return 1
    if summary.done != summary.total:  # failed runs left from before, or pending ones
        print(f"simhost batch: {summary.failed} runs failed, {summary.pending} pending: "
              f"`simhost batch status {summary.out}`", file=sys.stderr)
        return 1
    return 0
