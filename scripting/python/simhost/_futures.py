"""simhost.submit, simhost.Future and simhost.arun: kernels alongside concurrent.futures and
asyncio.

A submitted kernel runs on the one TBB arena like any other call. One watcher thread (a
Python thread, started on the first submit) waits with the GIL released for calls to finish,
settles their futures, enforces timeouts and reports progress, so done-callbacks and progress
callables run on a Python thread holding the GIL, never on a TBB worker, and the number of
threads does not grow with the number of futures.
"""

import asyncio
import concurrent.futures
import os
import signal
import sys
import threading
import time

from . import _progress
from ._result import Result

# How often the watcher wakes without a completion (timeouts, progress).
_TICK = 0.02
_PROGRESS_INTERVAL = 0.1


class Future(concurrent.futures.Future):
    """The future result of a submitted kernel call (a concurrent.futures.Future).

    ``result(timeout)``, ``exception()``, ``done()``, ``add_done_callback()``,
    ``concurrent.futures.wait/as_completed`` and ``asyncio.wrap_future`` work as usual.
    ``cancel()`` also stops a kernel that is already running (at its next chunk boundary,
    well within 0.2 s for the built-in kernels) and then returns True; it returns False only
    when the kernel had already finished.
    """

    def __init__(self, call, kernel, timeout, report):
        super().__init__()
        self._call = call
        self._kernel = kernel
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._report = report
        self._last_report = 0.0
        self._timed_out = False
        self._report_error = None
        self._settle_lock = threading.Lock()

    @property
    def kernel(self):
        """The kernel's name."""
        return self._kernel

    def progress(self):
        """(done, total) in the kernel's progress unit, as of now."""
        return self._call.progress()

    def running(self):
        return not self.done()

    def cancel(self):
        if self.done():
            return self.cancelled()
        self._call.cancel()
        self._call.wait()  # with the GIL released; the kernel stops at its next chunk
        return self._settle()

    def _settle(self):
        """Moves the future to its final state once the kernel has ended. Returns True when
        it ended cancelled. Called by the watcher and by cancel(), whichever comes first."""
        with self._settle_lock:
            if self.done():
                return self.cancelled()
            try:
                outputs, used, seconds = self._call.collect()
            except concurrent.futures.CancelledError:
                if self._report_error is not None:
                    self.set_exception(self._report_error)
                elif self._timed_out:
                    self.set_exception(TimeoutError(
                        f"{self._kernel}() did not finish within timeout={self._timeout} s and "
                        f"was cancelled"))
                else:
                    super().cancel()
                    self.set_running_or_notify_cancel()
                    return True
            except BaseException as e:  # noqa: BLE001 - the kernel's error is the result
                self.set_exception(e)
            else:
                try:
                    if self._report is not None:  # the final report, as run() gives
                        self._report(*self._call.progress())
                except BaseException as e:  # noqa: BLE001 - the callable's error is the result
                    self.set_exception(e)
                else:
                    self.set_result(Result._adopt(self._kernel, outputs, used, seconds))
            finally:
                if isinstance(self._report, _progress.Bar):
                    self._report.close()
            return False

    def _supervise(self, now):
        """One watcher tick for a future whose kernel is still running."""
        if self._deadline is not None and now > self._deadline and not self._timed_out:
            self._timed_out = True
            self._call.cancel()
        if self._report is not None and now - self._last_report >= _PROGRESS_INTERVAL:
            self._last_report = now
            try:
                self._report(*self._call.progress())
            except BaseException as e:  # noqa: BLE001 - it cancels the kernel, then is raised
                self._report_error = e
                self._report = None
                self._call.cancel()


class _Watcher:
    """The one thread that settles every future."""

    def __init__(self, core):
        self._core = core
        self._lock = threading.Lock()
        self._futures = set()
        self._added = threading.Event()
        self._thread = None
        self._stopping = False

    def add(self, future):
        with self._lock:
            self._futures.add(future)
            if self._thread is None:
                # Not a daemon: stop() ends it at exit, so it is never inside the native
                # core while the interpreter finalizes.
                self._thread = threading.Thread(target=self._loop, name="simhost-futures",
                                                daemon=False)
                self._thread.start()
        self._added.set()

    def stop(self):
        """Ends the thread (after every future has settled); called at exit."""
        with self._lock:
            thread, self._stopping = self._thread, True
        self._added.set()
        if thread is not None:
            thread.join()

    def in_flight(self):
        with self._lock:
            return [f for f in self._futures if not f.done()]

    def _loop(self):
        epoch = self._core._completion_epoch()
        while True:
            with self._lock:
                futures = list(self._futures)
                if self._stopping and not futures:
                    return
            if not futures:
                self._added.wait()
                self._added.clear()
                continue
            now = time.monotonic()
            for f in futures:
                if f._call.done():
                    f._settle()
                elif not f.done():
                    f._supervise(now)
                if f.done():
                    with self._lock:
                        self._futures.discard(f)
            epoch = self._core._wait_for_completion(epoch, _TICK)


def install(core, unit_of):
    """Creates submit() and arun() for the package, and the exit-time wait."""
    watcher = _Watcher(core)

    def submit(name, /, *, timeout=None, progress=None, **params):
        """Starts kernel ``name`` and returns a :class:`Future` at once.

        Arguments are checked and outputs allocated before it returns (bad arguments raise
        here, not in the future). ``timeout`` (seconds) cancels the kernel and sets
        TimeoutError on the future; ``progress`` is as for :func:`run`, called from
        simhost's watcher thread. Many futures share the one thread budget.
        """
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"{name}(): timeout expects a number of seconds or None, got "
                                f"{type(timeout).__name__}")
            if not timeout > 0 or timeout == float("inf"):
                raise ValueError(f"{name}(): timeout must be a positive number of seconds, "
                                 f"got {timeout!r}")
        report = _progress.reporter(progress, name, unit_of)
        future = Future(core._submit(name, params), name, timeout, report)
        watcher.add(future)
        return future

    async def arun(name, /, *, timeout=None, progress=None, **params):
        """``await simhost.arun(name, **params)``: the asyncio form of :func:`run`. Cancelling
        the awaiting task cancels the kernel."""
        return await asyncio.wrap_future(
            submit(name, timeout=timeout, progress=progress, **params))

    def wait_at_exit():
        # Like concurrent.futures: a script that ends while futures run waits for them.
        # When it ends by an uncaught Ctrl-C, or Ctrl-C arrives during this wait, the
        # kernels are cancelled instead and the process ends by SIGINT, as python3 does.
        pending = watcher.in_flight()
        try:
            if getattr(sys, "last_type", None) is KeyboardInterrupt:
                _cancel_all(pending)
            elif pending:
                concurrent.futures.wait(pending)
        except KeyboardInterrupt:
            _cancel_all(pending)
            watcher.stop()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        watcher.stop()

    threading._register_atexit(wait_at_exit)
    return submit, arun


def _cancel_all(futures):
    for f in futures:
        f._call.cancel()
    for f in futures:
        f._call.wait()
        f._settle()
