"""Supervision of running kernels, run through the host binary.

Ctrl-C and timeout= stop a running kernel within 0.5 s and leave the process healthy, other
Python threads run while a kernel runs (the GIL is released), two Python threads can run
kernels at once, and results are bit-identical at any thread count. Run as
`simhost tests/scripts/test_supervision.py`; the exit code is the verdict.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

import simhost

from _interrupt_child import long_inputs, short_inputs
import simhost_testing

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIMHOST_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
SIMHOST_BIN = os.environ.get("SIMHOST_BIN",
                             os.path.join(SOURCE_DIR, "build", "release", "bin", "simhost"))
CHILD = os.path.join(HERE, "_interrupt_child.py")

# The promises under test: a running kernel stops within this long of Ctrl-C or its timeout.
RESPONSE_S = 0.5
# When a SIGALRM fires during a plain call on this thread (which nothing can watch from
# outside while it runs): long after the call began, long before it would end (minutes).
ALARM_AFTER_S = 0.3
# A generous limit that only bounds a hang (exit), not a promise.
EXIT_LIMIT_S = 30.0

OUTPUTS = ("pos", "vel", "energy", "momentum")


def nbody_inputs(n, steps, seed):
    rng = np.random.default_rng(seed)
    return dict(pos=rng.standard_normal((n, 3)), vel=0.1 * rng.standard_normal((n, 3)),
                mass=rng.uniform(0.5, 1.5, n), dt=1e-3, steps=steps)


def Child(mode):
    """The host running _interrupt_child.py in `mode`, its output read as it comes."""
    return simhost_testing.Child([SIMHOST_BIN, CHILD, mode])


# ---- Ctrl-C ----------------------------------------------------------------------------


def test_ctrl_c_interrupts_kernel_and_process_stays_healthy():
    simhost_testing.ensure_sigint_not_ignored()
    reference = simhost.kernels.nbody(**short_inputs())
    child = Child("caught")
    try:
        child.wait_started()
        child.wait_kernel_running()
        child.interrupt(RESPONSE_S, EXIT_LIMIT_S)
        _, line = child.next_line(EXIT_LIMIT_S)
        assert line is not None and line.startswith("followup "), (
            f"the call after Ctrl-C did not complete: {line!r}: {child.stderr_text()}")
        _, seconds, energy_hex, pos_hex = line.split()
        print(f"  follow-up call took {float(seconds) * 1000:.1f} ms")
        assert energy_hex == reference.energy.tobytes().hex(), "follow-up energy differs bitwise"
        assert pos_hex == reference.pos.tobytes().hex(), "follow-up positions differ bitwise"
        rc = child.proc.wait(EXIT_LIMIT_S)
        assert rc == 0, f"exit code {rc}, expected 0: {child.stderr_text()}"
    finally:
        child.kill()


def test_uncaught_ctrl_c_ends_process_by_sigint():
    simhost_testing.ensure_sigint_not_ignored()
    child = Child("uncaught")
    try:
        child.wait_started()
        child.wait_kernel_running()
        assert child.proc.poll() is None, f"the child ended early: {child.stderr_text()}"
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        try:
            rc = child.proc.wait(EXIT_LIMIT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the child still runs {EXIT_LIMIT_S} s after SIGINT") from None
        elapsed = time.monotonic() - sent
        print(f"  exited {elapsed * 1000:.0f} ms after SIGINT, returncode {rc}")
        assert rc == -signal.SIGINT, f"returncode {rc}, expected {-signal.SIGINT} (death by SIGINT)"
        assert elapsed < 1.0, f"the child exited {elapsed:.3f} s after SIGINT, expected < 1 s"
        err = child.stderr_text()
        assert "KeyboardInterrupt" in err, f"no KeyboardInterrupt traceback on stderr: {err!r}"
        printed = []
        while not child.lines.empty():
            printed.append(child.lines.get()[1])
        assert "finished" not in printed, printed
    finally:
        child.kill()


# ---- timeout= --------------------------------------------------------------------------


def test_timeout_cancels_kernel():
    short = short_inputs()
    reference = simhost.kernels.nbody(**short)
    long = long_inputs()
    timeout = 0.3
    t0 = time.monotonic()
    try:
        simhost.kernels.nbody(**long, timeout=timeout)
    except TimeoutError as e:
        elapsed = time.monotonic() - t0
        msg = str(e)
    except BaseException as e:  # noqa: BLE001
        raise AssertionError(f"expected TimeoutError, got {type(e).__name__}: {e}") from e
    else:
        raise AssertionError("a call of minutes with timeout=0.3 returned normally")
    print(f"  TimeoutError after {elapsed * 1000:.0f} ms: {msg}")
    assert elapsed >= timeout, f"TimeoutError after {elapsed:.3f} s, before the timeout"
    assert elapsed < timeout + RESPONSE_S, (
        f"TimeoutError after {elapsed:.3f} s, promised < {timeout + RESPONSE_S} s")
    for fragment in ("nbody", "0.3", "timeout"):
        assert fragment in msg, f"TimeoutError message {msg!r} lacks {fragment!r}"
    # The process stays healthy: the next calls work and give the same bits.
    simhost_testing.assert_same_result(simhost.kernels.nbody(**short), reference, "call after a timeout")
    simhost_testing.assert_same_result(simhost.run("nbody", **short), reference, "run() after a timeout")


def test_generous_timeout_returns_normally():
    short = short_inputs()
    reference = simhost.kernels.nbody(**short)
    r = simhost.kernels.nbody(**short, timeout=60.0)
    simhost_testing.assert_same_result(r, reference, "call with timeout=60")
    r = simhost.run("nbody", **short, timeout=30)
    simhost_testing.assert_same_result(r, reference, "run() with timeout=30")


# ---- Python signal handlers during a call ---------------------------------------------
# A call without timeout or progress runs on the calling thread itself; on the main thread,
# Python's signal handlers still run every tick while the kernel runs, as they do while a
# thread supervises a kernel running on workers.


class Alarm(Exception):
    pass


def call_interrupted_by_alarm(handler, after_s=ALARM_AFTER_S, **call_options):
    """Runs a call of minutes with `handler` on SIGALRM, set to fire after `after_s`; returns
    (the exception the call raised, seconds from the alarm to the exception)."""
    fired = {}

    def on_alarm(signum, frame):
        fired["at"] = time.monotonic()
        handler()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, after_s)
        try:
            simhost.kernels.nbody(**long_inputs(), **call_options)
        except BaseException as e:  # noqa: BLE001
            raised, at = e, time.monotonic()
        else:
            raise AssertionError("a call of minutes returned normally")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert "at" in fired, f"the alarm handler never ran; the call raised {raised!r}"
    return raised, at - fired["at"]


def test_a_signal_handler_exception_stops_a_running_kernel():
    def handler():
        raise Alarm("time is up")

    raised, latency = call_interrupted_by_alarm(handler)
    print(f"  handler's exception raised {latency * 1000:.0f} ms after it ran")
    assert isinstance(raised, Alarm) and str(raised) == "time is up", repr(raised)
    assert latency < RESPONSE_S, f"the kernel stopped {latency:.3f} s after the handler raised"
    short = short_inputs()
    simhost_testing.assert_same_result(simhost.kernels.nbody(**short), simhost.run("nbody", **short),
                       "calls after an interrupted one")


def test_code_run_during_a_kernel_may_call_kernels_but_not_change_threads():
    short = short_inputs()
    reference = simhost.kernels.nbody(**short)
    seen = {}

    def handler():
        seen["nested"] = simhost.kernels.nbody(**short)
        try:
            simhost.set_threads(1)
        except BaseException as e:  # noqa: BLE001
            seen["set_threads"] = e
        raise Alarm("done")

    before = simhost.get_threads()
    # Both ways a call runs: on this thread, and (with a timeout) on workers, supervised.
    for options in ({}, {"timeout": 600.0}):
        seen.clear()
        raised, _ = call_interrupted_by_alarm(handler, **options)
        assert isinstance(raised, Alarm), (options, repr(raised))
        simhost_testing.assert_same_result(seen["nested"], reference, f"a call made by a signal handler {options}")
        err = seen.get("set_threads")
        assert isinstance(err, simhost.KernelError), (options, repr(err))
        assert "cannot change while this thread has a kernel call in progress" in str(err), str(err)
        assert simhost.get_threads() == before


# ---- Threads ---------------------------------------------------------------------------


def test_other_python_threads_run_while_kernel_runs():
    before = simhost.get_threads()
    # One kernel thread, so that on a small machine a core is left for the counting thread:
    # what is measured is the GIL, not a shortage of cores.
    simhost.set_threads(1)
    try:
        probe = nbody_inputs(1024, 4, seed=11)
        per_step = simhost.kernels.nbody(**probe).seconds / 4
        inputs = nbody_inputs(1024, max(1, int(1.0 / max(per_step, 1e-6))), seed=11)

        state = {"n": 0, "stop": False}

        def count():
            n = 0
            while not state["stop"]:
                n += 1
                state["n"] = n

        counter = threading.Thread(target=count, daemon=True)
        counter.start()
        try:
            time.sleep(0.1)  # let it get going
            n0, t0 = state["n"], time.monotonic()
            time.sleep(0.5)  # sleeping releases the GIL: this is the counter's free rate
            n1, t1 = state["n"], time.monotonic()
            free_rate = (n1 - n0) / (t1 - t0)
            r = simhost.kernels.nbody(**inputs)
            n2, t2 = state["n"], time.monotonic()
        finally:
            state["stop"] = True
            counter.join()
        during_rate = (n2 - n1) / (t2 - t1)
        ratio = during_rate / free_rate
        print(f"  kernel {r.seconds:.2f} s; counter {during_rate:.3g}/s during it vs "
              f"{free_rate:.3g}/s free ({ratio:.0%})")
        assert free_rate > 0, "the counting thread did not run at all"
        assert r.seconds >= 0.3, f"the kernel ran only {r.seconds:.3f} s: the test proves nothing"
        assert ratio >= 0.2, (
            f"a Python thread counted at {ratio:.0%} of its free rate while a kernel ran; "
            "expected >= 20% (the GIL must be released)")
    finally:
        simhost.set_threads(before)


def test_two_threads_run_identical_kernels_concurrently():
    before = simhost.get_threads()
    simhost.set_threads(2)
    try:
        # Large enough (~0.05-0.2 s) that the two calls surely overlap. No speed is asserted:
        # on a 2-core machine one call already keeps both threads busy.
        inputs = nbody_inputs(4096, 10, seed=5)
        reference = simhost.kernels.nbody(**inputs)
        for attempt in range(3):
            results, errors = [None, None], []
            barrier = threading.Barrier(2)

            def work(i):
                try:
                    barrier.wait()
                    results[i] = simhost.kernels.nbody(**inputs)
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(EXIT_LIMIT_S)
            assert not any(t.is_alive() for t in threads), "a concurrent call never returned"
            assert not errors, f"a concurrent call failed: {errors!r}"
            for i, r in enumerate(results):
                simhost_testing.assert_same_result(r, reference, f"concurrent call {i} (round {attempt})")
    finally:
        simhost.set_threads(before)


def test_short_kernel_completes_while_long_kernel_runs():
    # Two Python threads really run kernels at the same time: a short call made while a long
    # one runs finishes long before the long one (which only ends by its timeout). If calls
    # were serialized, the short one would return only after the long one.
    before = simhost.get_threads()
    simhost.set_threads(2)
    try:
        short = short_inputs()
        reference = simhost.kernels.nbody(**short)
        long_timeout = 3.0
        outcome = {}
        running = threading.Event()  # set once the long kernel's progress shows it running

        def long_call():
            try:
                # 4000 bodies: steps of milliseconds, so progress shows it running at once
                # (20000 bodies take seconds a step on a loaded machine).
                simhost.kernels.nbody(**nbody_inputs(4000, 10**7, 11), timeout=long_timeout,
                                      progress=lambda done, total: done and running.set())
                outcome["long"] = "returned"
            except TimeoutError:
                outcome["long"] = "timeout"
            except BaseException as e:  # noqa: BLE001
                outcome["long"] = repr(e)
            outcome["long_end"] = time.monotonic()

        t = threading.Thread(target=long_call)
        t.start()
        assert running.wait(long_timeout), "the long kernel never started"
        t0 = time.monotonic()
        r = simhost.kernels.nbody(**short)
        short_end = time.monotonic()
        t.join(EXIT_LIMIT_S)
        assert not t.is_alive(), "the long call never ended"
        print(f"  short call took {(short_end - t0) * 1000:.0f} ms while the long one ran; "
              f"the long one ended {outcome['long_end'] - short_end:.2f} s later")
        assert outcome["long"] == "timeout", f"the long call: {outcome['long']}"
        assert short_end < outcome["long_end"], (
            "the short call returned only after the long one ended: calls are serialized")
        simhost_testing.assert_same_result(r, reference, "short call during a long one")
    finally:
        simhost.set_threads(before)


# ---- Determinism -----------------------------------------------------------------------


def test_bit_identical_across_thread_counts():
    before = simhost.get_threads()
    try:
        inputs = nbody_inputs(1000, 20, seed=42)
        results = {}
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            assert simhost.get_threads() == threads, (simhost.get_threads(), threads)
            results[threads] = simhost.kernels.nbody(**inputs)
        ref = results[1]
        assert not np.array_equal(ref.pos, inputs["pos"]), "the bodies did not move"
        for threads in (2, 3):
            for name in OUTPUTS:
                a, b = results[threads][name], ref[name]
                assert np.array_equal(a, b), f"{name!r} differs at {threads} threads vs 1"
                assert a.tobytes() == b.tobytes(), f"{name!r} differs bitwise at {threads} threads"
    finally:
        simhost.set_threads(before)


TESTS = [
    test_ctrl_c_interrupts_kernel_and_process_stays_healthy,
    test_uncaught_ctrl_c_ends_process_by_sigint,
    test_timeout_cancels_kernel,
    test_generous_timeout_returns_normally,
    test_a_signal_handler_exception_stops_a_running_kernel,
    test_code_run_during_a_kernel_may_call_kernels_but_not_change_threads,
    test_other_python_threads_run_while_kernel_runs,
    test_two_threads_run_identical_kernels_concurrently,
    test_short_kernel_completes_while_long_kernel_runs,
    test_bit_identical_across_thread_counts,
]


def main():
    return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
