"""simhost.submit, simhost.Future and simhost.arun: kernels alongside concurrent.futures and
asyncio.

A submitted kernel runs on the one TBB arena like any other call. A watcher (a Python
thread) waits with the GIL released for calls to finish, settles their futures and gives
each running call its turn of supervision (timeout, progress: the same native mechanism as
run()), so done callbacks and progress callables run on a Python thread holding the GIL,
never on a TBB worker, and the number of threads does not grow with the number of futures.

User code run by the watcher may block, even on another future (``f.result()`` inside a
done callback): when the watcher has been inside user code for longer than _TAKEOVER, a
standby thread takes its place, so the other futures keep being settled and supervised.
"""

import concurrent.futures
import logging
import os
import signal
import sys
import threading
import time

from . import _progress
from ._result import Result

# How long the watcher may stay inside a callback or progress callable before a standby
# thread takes over its work.
_TAKEOVER = 0.05

from . import _STOP_WAIT  # noqa: E402  (how long the exit waits for cancelled calls)

# concurrent.futures' own logger, which reports exceptions raised by done callbacks.
_LOGGER = logging.getLogger("concurrent.futures")


class Future(concurrent.futures.Future):
    """The future result of a submitted kernel call (a concurrent.futures.Future).

    ``result(timeout)``, ``exception()``, ``done()``, ``add_done_callback()``,
    ``concurrent.futures.wait/as_completed`` and ``asyncio.wrap_future`` work as usual.
    ``cancel()`` also stops a kernel that is already running (at its next chunk boundary,
    well within 0.2 s for the built-in kernels) and then returns True; it returns False only
    when the kernel had already finished.

    A done callback that raises, whatever it raises (SystemExit and KeyboardInterrupt
    included), is logged to the ``concurrent.futures`` logger and the other callbacks still
    run, as concurrent.futures does for Exception; nothing a callback does stops simhost's
    futures.
    """

    def __init__(self, call, kernel, report, prov):
        super().__init__()
        self._call = call
        self._kernel = kernel
        self._report = report
        self._prov = prov  # (start time, thread budget) for the result's provenance
        self._in_user_code = False  # the watcher runs this future's callbacks or progress
        self._settle_lock = threading.RLock()

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

    def _invoke_callbacks(self):
        for callback in self._done_callbacks:
            try:
                callback(self)
            except BaseException:  # noqa: BLE001 - see the class docstring
                _LOGGER.exception("exception calling callback for %r", self)

    def _settle(self):
        """Moves the future to its final state once the kernel has ended. Returns True when
        it ended cancelled. Called by the watcher and by cancel(), whichever comes first."""
        with self._settle_lock:
            if self.done():
                return self.cancelled()
            try:
                outputs, used, seconds = self._call.collect()
            except concurrent.futures.CancelledError:
                self._close_report(False)
                super().cancel()
                self.set_running_or_notify_cancel()
                return True
            except BaseException as e:  # noqa: BLE001 - what ended the call is the result
                self._close_report(False)
                self.set_exception(e)
            else:
                self._close_report(True)
                self.set_result(Result._adopt(self._kernel, outputs, used, seconds, self._prov))
            return False

    def _close_report(self, ok):
        if isinstance(self._report, _progress.Reporter):
            self._report.close(ok)


class _Watcher:
    """Settles and supervises every future, on one thread at a time (see the module doc)."""

    def __init__(self, core):
        self._core = core
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._futures = set()
        self._owner = None  # the thread doing the work
        self._standby = None  # a thread ready to take over when the owner is stuck
        self._busy_since = None  # when the owner entered user code
        self._threads = []
        self._stopping = False

    def add(self, future):
        with self._lock:
            self._futures.add(future)
            if self._owner is None and self._standby is None:
                self._spawn()
            self._changed.notify_all()

    def stop(self):
        """Ends the threads (after every future has settled); called at exit."""
        with self._lock:
            self._stopping = True
            threads = list(self._threads)
            self._changed.notify_all()
        for t in threads:
            t.join()

    def in_flight(self):
        with self._lock:
            return [f for f in self._futures if not f.done()]

    def _spawn(self):
        # Not a daemon: stop() ends it at exit, so it is never inside the native core while
        # the interpreter finalizes. Called with the lock held.
        t = threading.Thread(target=self._run, name="simhost-futures", daemon=False)
        self._threads.append(t)
        t.start()

    def _claim(self, me):
        """Waits (lock held) until `me` should do the work; False when it should end."""
        while self._owner is not me:
            if self._stopping and not self._futures:
                return False
            stuck = (self._busy_since is not None
                     and time.monotonic() - self._busy_since >= _TAKEOVER)
            if self._owner is None or stuck:
                self._owner, self._busy_since = me, None
                if self._standby is me:
                    self._standby = None
                return True
            if self._standby not in (None, me):
                return False  # a standby exists already: this thread is not needed
            self._standby = me
            # Looks again every _TAKEOVER while there is work (no wake-up per callback).
            self._changed.wait(_TAKEOVER if self._futures else None)
        return True

    def _run(self):
        me = threading.current_thread()
        epoch = self._core._completion_epoch()
        while True:
            with self._lock:
                if not self._claim(me):
                    if self._owner is me:
                        self._owner = None
                    self._threads.remove(me)
                    return
                futures = list(self._futures)
                if not futures:
                    if self._stopping:
                        self._owner = None
                        self._changed.notify_all()
                        continue
                    self._changed.wait()
                    continue
            for f in futures:
                if f._in_user_code or f.done():
                    if f.done():
                        with self._lock:
                            self._futures.discard(f)
                    continue
                settle = f._call.done()
                if not settle and f._report is None:
                    f._call.tick()  # the timeout alone: no Python code runs
                    continue
                self._enter(f)
                try:
                    if settle:
                        f._settle()
                    else:
                        f._call.tick()
                except BaseException:  # noqa: BLE001 - the machinery must go on
                    _LOGGER.exception("simhost: error while settling %r", f)
                finally:
                    still_owner = self._leave(f, me)
                if f.done():
                    with self._lock:
                        self._futures.discard(f)
                if not still_owner:
                    break  # a standby took over while this thread was in user code
            else:
                epoch = self._core._wait_for_completion(epoch, self._core._TICK)

    def _enter(self, future):
        future._in_user_code = True
        with self._lock:
            self._busy_since = time.monotonic()
            if self._standby is None and not self._stopping:
                self._spawn()

    def _leave(self, future, me):
        future._in_user_code = False
        with self._lock:
            if self._owner is me:
                self._busy_since = None
                return True
            return False


def install(core, unit_of, package):
    """Creates submit() and arun() for the package, and the exit-time wait. From `package`
    (the simhost module): _before_first_call, the hook to call before a kernel call (or
    None), and _threads, the thread budget to record in each result's provenance."""
    watcher = _Watcher(core)

    def submit(name, /, *, timeout=None, progress=None, **params):
        """Starts kernel ``name`` and returns a :class:`Future` at once.

        Arguments are checked and outputs allocated before it returns (bad arguments raise
        here, not in the future). ``timeout`` (seconds) cancels the kernel and sets
        TimeoutError on the future; ``progress`` is as for :func:`run`, called from
        simhost's watcher thread (inside simhost.progress(), into that bar). Many futures
        share the one thread budget.
        """
        if package._before_first_call is not None:
            package._before_first_call()
        if name in package._plugins.registry:
            return package._plugins.submit(name, lambda: package.run(
                name, timeout=timeout, progress=progress, **params))
        report = _progress.reporter(progress, name, unit_of)
        prov = (time.time(), package._threads)
        future = Future(core._submit(name, params, timeout, report), name, report, prov)
        watcher.add(future)
        return future

    async def arun(name, /, *, timeout=None, progress=None, **params):
        """``await simhost.arun(name, **params)``: the asyncio form of :func:`run`. Cancelling
        the awaiting task cancels the kernel."""
        import asyncio  # imported here: only a coroutine needs it, and it costs start-up time

        return await asyncio.wrap_future(
            submit(name, timeout=timeout, progress=progress, **params))

    def wait_at_exit():
        # Like concurrent.futures: a script that ends while futures run waits for them.
        # When it ends by an uncaught Ctrl-C, or Ctrl-C arrives during this wait, every
        # kernel is cancelled instead (futures, and calls other threads are inside, which
        # then raise KeyboardInterrupt) and the process ends by SIGINT, as python3 does.
        # This runs before the interpreter waits for non-daemon threads.
        pending = watcher.in_flight()
        try:
            last = getattr(sys, "last_type", None)
            if isinstance(last, type) and issubclass(last, KeyboardInterrupt):
                core._stop_all_calls(_STOP_WAIT)
                _cancel_all(pending)
            elif pending:
                concurrent.futures.wait(pending)
        except KeyboardInterrupt:
            core._stop_all_calls(_STOP_WAIT)
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
