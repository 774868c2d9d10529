"""Progress reporting for kernel calls: tqdm bars (terminal or Jupyter), or the user's callable.

The waiting Python thread calls the reporter with (done, total) in the kernel's own unit at
most ~10 times a second while the kernel runs, and once more when it has finished; never a
TBB worker. An exception raised by a callable cancels the kernel and propagates.

tqdm is imported only when a bar is drawn: `import simhost` and calls without a bar never
load it. Inside ``simhost.progress(...)`` (a Group) the calls of that context report into
the group's one bar instead of drawing their own.
"""

import contextvars
import os
import sys
import threading
import time

# The innermost Group of the running context (thread or asyncio task), and how many Groups
# are open in the whole process: run()'s per-call path looks at that count only.
_current = contextvars.ContextVar("simhost_progress_group", default=None)
open_groups = 0
_open_lock = threading.Lock()


def _tqdm(**kwargs):
    """A tqdm bar on stderr: tqdm.auto picks a notebook widget inside Jupyter (a text bar
    when ipywidgets is missing, with tqdm's own warning saying so) and a text bar elsewhere."""
    from tqdm.auto import tqdm

    return tqdm(file=sys.stderr, mininterval=0, dynamic_ncols=True, **kwargs)


class Reporter:
    """A reporter simhost made (not the user's callable): closed when its call has ended."""

    def close(self, ok):
        pass


class Bar(Reporter):
    """One call's tqdm bar: percent, count/total, elapsed<remaining, rate in the kernel's unit.
    Created at the first report, so a call that ends before reporting imports nothing."""

    def __init__(self, kernel, unit):
        self.kernel = kernel
        self.unit = unit
        self.bar = None
        self.started = time.time()  # tqdm's clock

    def __call__(self, done, total):
        if self.bar is None:
            self.bar = _tqdm(desc=self.kernel, total=total if total > 0 else None,
                             unit=self.unit)
            # Elapsed time and rate count from the call's start, not from this first report.
            self.bar.start_t = self.bar.last_print_t = self.started
        elif total > 0 and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self, ok):
        if self.bar is not None:
            self.bar.close()


class _GroupCall(Reporter):
    """One call inside a Group: shows its own percentage after the group's bar."""

    def __init__(self, group, kernel):
        self.group = group
        self.kernel = kernel

    def __call__(self, done, total):
        self.group._call_progress(self.kernel, done, total)

    def close(self, ok):
        self.group._call_ended(ok)


def _check_forced():
    forced = os.environ.get("SIMHOST_PROGRESS", "")
    if forced not in ("", "0", "1"):
        raise ValueError(f"SIMHOST_PROGRESS must be 0 or 1, got {forced!r}")
    return forced


def _draws(asked):
    """Whether a bar is drawn: SIMHOST_PROGRESS=0/1 decides when set; otherwise when asked
    for and stderr is a terminal or this is a Jupyter kernel."""
    forced = _check_forced()
    if forced:
        return forced == "1"
    return asked and (_stderr_is_terminal() or _in_jupyter())


def reporter(progress, kernel, unit_of):
    """What to call with (done, total) for run(..., progress=progress), or None.
    unit_of(kernel) gives the kernel's progress unit (looked up only for a bar).

    progress=False: nothing. A callable: that callable. Inside simhost.progress(): the
    group's bar, for progress=True or None. progress=True: a bar on stderr when stderr is a
    terminal or in Jupyter. SIMHOST_PROGRESS=0 turns bars off, =1 turns them on (for every
    call that does not pass progress=False or a callable), whatever stderr is.
    """
    if progress is False:
        return None
    if callable(progress) and progress is not True:
        return progress
    if progress is not None and progress is not True:
        hint = (" (for one bar over a loop of calls, wrap the loop: "
                "`for p in simhost.progress(params, desc=...)`)" if isinstance(progress, str)
                else "")
        raise TypeError(f"{kernel}(): progress expects True, False, None or a callable "
                        f"(done, total), got {type(progress).__name__}{hint}")
    group = _current.get() if open_groups else None
    if group is not None:
        _check_forced()
        return _GroupCall(group, kernel)
    if _draws(progress is True):
        return Bar(kernel, unit_of(kernel))
    return None


class Group:
    """One bar for many kernel calls: ``simhost.progress(...)`` (see docs/python.md).

    Iterated, it yields the items of its iterable and counts them (like tqdm); used as a
    context manager, it counts the kernel calls that finish inside it. Either way the calls
    made in its context (run(), kernels.NAME(), submit(), arun() with progress=True or None)
    draw no bar of their own: their progress is shown after the group's count.
    """

    def __init__(self, iterable, desc, total, unit):
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"simhost.progress(): desc expects a str or None, got "
                            f"{type(desc).__name__}")
        if unit is not None and not isinstance(unit, str):
            raise TypeError(f"simhost.progress(): unit expects a str or None, got "
                            f"{type(unit).__name__}")
        if total is not None:
            if isinstance(total, bool) or not hasattr(type(total), "__index__"):
                raise TypeError(f"simhost.progress(): total expects an int or None, got "
                                f"{type(total).__name__}")
            total = total.__index__()
            if total < 0:
                raise ValueError(f"simhost.progress(): total must be >= 0, got {total}")
        if iterable is not None:
            try:
                iter(iterable)
            except TypeError:
                raise TypeError(f"simhost.progress(): expects an iterable of items to loop "
                                f"over (or none, as a context manager), got "
                                f"{type(iterable).__name__}") from None
            if total is None and hasattr(iterable, "__len__"):
                total = len(iterable)
        self._iterable = iterable
        self._desc = desc
        self._total = total
        self._unit = unit if unit is not None else ("it" if iterable is not None else "calls")
        self._draw = _draws(True)
        self._lock = threading.Lock()
        self._bar = None
        self._count = 0
        self._entered = False
        self._closed = False
        self._token = None

    @property
    def n(self):
        """Items iterated (iterated form) or kernel calls finished (context form) so far."""
        return self._count

    @property
    def total(self):
        return self._total

    def __repr__(self):
        total = "?" if self._total is None else self._total
        return f"<simhost.progress {self._desc or ''!s}: {self._count}/{total} {self._unit}>"

    def __enter__(self):
        global open_groups
        if self._entered:
            raise RuntimeError("simhost.progress(): this bar is already in use; make a new "
                               "one for each loop")
        self._entered = True
        if self._draw:
            self._bar = _tqdm(desc=self._desc, total=self._total, unit=self._unit)
        self._token = _current.set(self)
        with _open_lock:
            open_groups += 1
        return self

    def __exit__(self, *exc):
        global open_groups
        with _open_lock:
            open_groups -= 1
        try:
            _current.reset(self._token)
        except ValueError:  # a generator closed in another context: nothing to restore
            pass
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.set_postfix_str("", refresh=False)
                self._bar.close()
        return False

    def __iter__(self):
        if self._iterable is None:
            raise TypeError("simhost.progress() without an iterable is a context manager: "
                            "use `with simhost.progress(total=..., desc=...):`, or pass the "
                            "items to loop over")
        with self:
            for item in self._iterable:
                yield item
                self._advance()

    def _advance(self):
        with self._lock:
            if self._closed:  # a future that ended after the group did: not its call
                return
            self._count += 1
            if self._bar is not None:
                self._bar.update(1)

    def _call_progress(self, kernel, done, total):
        with self._lock:
            if self._bar is None or self._closed:
                return
            text = f"{kernel} {100 * done // total}%" if total > 0 else f"{kernel} {done}"
            self._bar.set_postfix_str(text, refresh=True)

    def _call_ended(self, ok):
        if ok and self._iterable is None:
            self._advance()


def _stderr_is_terminal():
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _in_jupyter():
    """A Jupyter (ipykernel) kernel runs this code: its stderr is no terminal, yet a bar
    shows in the notebook. Looked up without importing IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # noqa: BLE001 - an odd IPython: no bar rather than an error
        return False
