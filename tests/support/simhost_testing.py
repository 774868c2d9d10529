"""The one runner and assertion helpers for simhost's Python test files.

Script tests (run through the host binary) and embed tests (plain python3) both find this
module on PYTHONPATH, which CTest sets. A test file lists its test functions and ends with
``sys.exit(simhost_testing.run(TESTS))``.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback

#: How much slower than a release build this one runs kernels: SIMHOST_TEST_TIME_SCALE, set
#: by the tsan preset (instrumented kernels run 10-100x slower); 1 elsewhere, where tests
#: check the promises themselves (Ctrl-C within 0.5 s, ...).
TIME_SCALE = max(1.0, float(os.environ.get("SIMHOST_TEST_TIME_SCALE", "1") or 1))

#: True in a sanitizer preset's test run: tests/CMakeLists.txt gives every Python test there
#: the sanitizer's options (ASAN_OPTIONS or TSAN_OPTIONS), script and embed tests alike.
SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def scaled(seconds):
    """A timing bound for this build: `seconds` times TIME_SCALE."""
    return seconds * TIME_SCALE

# A script whose whole subject cannot be tested on this machine (a missing CPU feature, say)
# exits with this status instead of returning early as a pass: CTest's SKIP_RETURN_CODE
# (tests/CMakeLists.txt) then reports it as Skipped. Never for a single test among others
# that ran: that one fails or is left out of TESTS with a printed reason.
SKIP_EXIT_CODE = 77


def run(tests):
    """Runs each test function, prints its name with PASS or FAIL (and the traceback), then
    the closing line 'N passed, N failed'. Returns the exit status: 0 when all passed."""
    failed = []
    for test in tests:
        t0 = time.monotonic()
        try:
            test()
        except Exception:  # noqa: BLE001 - collect every failure, report them all
            failed.append(test.__name__)
            print(f"{test.__name__} FAIL ({time.monotonic() - t0:.1f} s)")
            traceback.print_exc(file=sys.stdout)
        else:
            print(f"{test.__name__} PASS ({time.monotonic() - t0:.1f} s)")
        sys.stdout.flush()
    print(f"{len(tests) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


def expect_raises(exc_type, fn, *fragments):
    """Calls fn and requires an exception of exc_type (or a subclass) whose message contains
    every fragment; returns the exception."""
    try:
        fn()
    except exc_type as e:
        msg = str(e)
        missing = [f for f in fragments if f not in msg]
        assert not missing, f"{exc_type.__name__} message {msg!r} lacks {missing}"
        return e
    except BaseException as e:  # noqa: BLE001 - report the wrong exception
        raise AssertionError(f"expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"expected {exc_type.__name__}, nothing was raised")


def same_bits(a, b):
    """True when a and b (arrays or numbers) have the same dtype, shape and bytes."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_result(r, ref, label):
    """Requires two kernel results with the same outputs, bit for bit."""
    assert list(r) == list(ref), (label, list(r), list(ref))
    for name in ref:
        assert same_bits(r[name], ref[name]), f"{label}: output {name!r} differs bitwise"


def ensure_sigint_not_ignored():
    """Makes SIGINT raise KeyboardInterrupt here again when it is ignored (as in a test started
    in the background by a shell): a child inherits an ignored SIGINT and Python then installs
    no KeyboardInterrupt handler, so a Ctrl-C test would test nothing. This process's own
    handler is reset to the default in a child at exec."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Child:
    """A real child process (the host running a script) whose stdout lines are read, with
    their arrival times, as they come: for tests that signal it and time its answers.

    The child's protocol: it prints 'sigint-handler ...' first when SIGINT would not raise
    KeyboardInterrupt in it, and 'started' just before the call under test; every line is
    flushed at once."""

    #: Generous limits that only bound a hang (start-up), not a promise.
    START_LIMIT_S = 60.0
    #: CPU time the child spends after 'started' before wait_kernel_running() returns: nothing
    #: but the kernel runs then, so this shows it is inside the kernel (a progress callable
    #: would show it too, but would move the call off the plain run-on-the-calling-thread
    #: path under test).
    KERNEL_CPU_S = 0.2

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.append(self.proc.stderr.read()),
                         daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put((time.monotonic(), None))  # end of output

    def next_line(self, limit):
        """(arrival time, line) of the next line; line None at the end of the output."""
        try:
            return self.lines.get(timeout=limit)
        except queue.Empty:
            raise AssertionError(f"the child printed nothing for {limit} s") from None

    def wait_started(self):
        while True:
            _, line = self.next_line(self.START_LIMIT_S)
            assert line is not None, f"the child ended before starting: {self.stderr_text()}"
            assert not line.startswith("sigint-handler"), (
                "the child has no KeyboardInterrupt handler for SIGINT (inherited SIG_IGN?): "
                + line)
            if line == "started":
                return

    def cpu_seconds(self):
        """User + system CPU time of the child so far (/proc/PID/stat fields 14 and 15)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_kernel_running(self):
        """After wait_started(): waits until the child has burnt KERNEL_CPU_S of CPU time
        in its kernel call."""
        start = self.cpu_seconds()
        end = time.monotonic() + self.START_LIMIT_S
        while self.cpu_seconds() - start < self.KERNEL_CPU_S:
            assert self.proc.poll() is None, f"the child ended early: {self.stderr_text()}"
            assert time.monotonic() < end, "the child's kernel never ran"
            time.sleep(0.01)

    def interrupt(self, response_s, limit_s):
        """Sends SIGINT to the child, whose kernel runs (after wait_kernel_running()), and
        asserts that it prints "interrupted" (its KeyboardInterrupt) within response_s."""
        assert self.proc.poll() is None, f"the child ended early: {self.stderr_text()}"
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        arrived, line = self.next_line(limit_s)
        latency = arrived - sent
        assert line == "interrupted", f"expected 'interrupted', got {line!r}: {self.stderr_text()}"
        print(f"  KeyboardInterrupt {latency * 1000:.0f} ms after SIGINT")
        assert latency < response_s, (
            f"KeyboardInterrupt arrived {latency:.3f} s after SIGINT, promised < {response_s} s")

    def stderr_text(self, limit=5.0):
        try:
            self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            return "<still running>"
        time.sleep(0.1)
        return "".join(self.stderr)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
