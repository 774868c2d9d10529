"""Progress reporting for kernel calls: a terminal bar, or the user's callable.

The waiting Python thread calls the reporter with (done, total) in the kernel's own unit at
most ~10 times a second while the kernel runs, and once more when it has finished; never a
TBB worker. An exception raised by a callable cancels the kernel and propagates.
"""

import os
import sys
import time


class Bar:
    """A one-line progress bar on stderr: percent, count, rate in the kernel's unit, ETA."""

    WIDTH = 24

    def __init__(self, kernel, unit, stream=None):
        self.kernel = kernel
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.drawn = False

    def __call__(self, done, total):
        elapsed = time.monotonic() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if total > 0:
            frac = min(max(done / total, 0.0), 1.0)
            filled = int(frac * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            eta = (total - done) / rate if rate > 0 else float("inf")
            text = (f"\r{self.kernel} {frac * 100:5.1f}% [{bar}] {done}/{total} {self.unit} "
                    f"{_number(rate)} {self.unit}/s ETA {_duration(eta)}")
        else:
            text = f"\r{self.kernel} {done} {self.unit} {_number(rate)} {self.unit}/s"
        self.stream.write(text + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _number(x):
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def _duration(seconds):
    if seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def reporter(progress, kernel, unit_of):
    """What to call with (done, total) for run(..., progress=progress), or None.
    unit_of(kernel) gives the kernel's progress unit (looked up only for a bar).

    progress=False: nothing. A callable: that callable. progress=True: a bar on stderr when
    stderr is a terminal. SIMHOST_PROGRESS=0 turns bars off, =1 turns them on (for every
    call that does not pass progress=False or a callable), whatever stderr is.
    """
    if progress is False:
        return None
    if callable(progress) and progress is not True:
        return progress
    if progress is not None and progress is not True:
        raise TypeError(f"{kernel}(): progress expects True, False, None or a callable "
                        f"(done, total), got {type(progress).__name__}")
    forced = os.environ.get("SIMHOST_PROGRESS", "")
    if forced not in ("", "0", "1"):
        raise ValueError(f"SIMHOST_PROGRESS must be 0 or 1, got {forced!r}")
    if forced == "0":
        return None
    if forced == "1" or (progress is True and _stderr_is_terminal()):
        return Bar(kernel, unit_of(kernel))
    return None


def _stderr_is_terminal():
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
