"""Futures and asyncio: simhost.submit / Future / arun, cancellation, callbacks, the one
thread budget, and how the process ends while futures run."""

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np

import simhost
import simhost_testing

SIMHOST = os.environ["SIMHOST_BIN"]
CANCEL_WITHIN = 0.2      # seconds: the promise for cancel() of a running kernel
EXTRA_THREADS = 3        # main thread, the futures watcher, and one spare


def bodies(n, seed=0):
    rng = np.random.default_rng(seed)
    return dict(pos=rng.normal(size=(n, 3)), vel=0.1 * rng.normal(size=(n, 3)),
                mass=np.full(n, 1.0 / n), dt=1e-3)


LONG = bodies(20000, seed=1)    # ~0.1-0.2 s per step: minutes for thousands of steps
MEDIUM = bodies(4000, seed=2)   # milliseconds per step: progress shows at once even under load


def wait_running(future, deadline=10.0):
    """Waits until the kernel has made progress, so a cancel lands while it runs."""
    end = time.monotonic() + deadline
    while future.progress()[0] == 0:
        assert time.monotonic() < end, "the kernel never started"
        time.sleep(0.005)


def test_submit_returns_a_concurrent_future_with_the_sequential_result():
    inputs = bodies(300)
    f = simhost.submit("nbody", **inputs, steps=15)
    assert isinstance(f, simhost.Future) and isinstance(f, concurrent.futures.Future)
    r = f.result(timeout=30)
    ref = simhost.run("nbody", **inputs, steps=15)
    for name in ("pos", "vel", "energy", "momentum"):
        assert simhost_testing.same_bits(r[name], ref[name]), name
    assert f.done() and not f.cancelled() and f.exception() is None
    assert r.kernel == "nbody" and r.params["steps"] == 15


def test_bad_arguments_raise_at_submit_and_kernel_errors_land_in_the_future():
    simhost_testing.expect_raises(TypeError, lambda: simhost.submit("nbody", **bodies(4), stesp=1),
                                  "did you mean 'steps'")
    simhost_testing.expect_raises(simhost.UnknownKernelError, lambda: simhost.submit("nbdy"),
                                  "nbody")
    bad = bodies(4)
    bad["pos"][1] = bad["pos"][0]
    f = simhost.submit("nbody", **bad, eps=0.0, steps=2)
    e = f.exception(timeout=30)
    assert isinstance(e, simhost.KernelError) and "nbody" in str(e), repr(e)
    simhost_testing.expect_raises(simhost.KernelError, f.result)


def test_cancel_stops_a_running_kernel_quickly():
    calls = []
    f = simhost.submit("nbody", **MEDIUM, steps=10**7)
    f.add_done_callback(lambda fut: calls.append((fut.cancelled(),
                                                  threading.current_thread().name)))
    wait_running(f)
    t0 = time.monotonic()
    assert f.cancel() is True
    elapsed = time.monotonic() - t0
    assert elapsed < CANCEL_WITHIN, f"cancel took {elapsed:.3f} s"
    assert f.cancelled() and f.done()
    simhost_testing.expect_raises(concurrent.futures.CancelledError, f.result)
    # Exactly once, on a Python thread: this one or the watcher, whichever settled it first.
    assert len(calls) == 1 and calls[0][0] is True, calls
    assert calls[0][1] in (threading.current_thread().name, "simhost-futures"), calls
    assert f.cancel() is True                                       # idempotent
    done = simhost.submit("nbody", **bodies(16), steps=1)
    done.result(timeout=30)
    assert done.cancel() is False                                   # already finished


def test_done_callbacks_run_on_a_python_thread_holding_the_gil():
    seen = []
    event = threading.Event()

    def callback(fut):
        # Running Python code at all proves the GIL is held; the thread must be a Python one.
        seen.append((threading.current_thread().name, fut.result().energy.shape))
        event.set()

    f = simhost.submit("nbody", **bodies(2000), steps=20)
    f.add_done_callback(callback)
    assert event.wait(30), "the callback never ran"
    name, shape = seen[0]
    assert len(seen) == 1 and shape == (21,), seen
    assert name in {t.name for t in threading.enumerate()} | {"MainThread"}, name


def test_wait_and_as_completed_over_many_futures_match_sequential_runs():
    inputs = bodies(200, seed=5)
    futures = {simhost.submit("nbody", **inputs, steps=k): k for k in range(1, 21)}
    done, not_done = concurrent.futures.wait(futures, timeout=60)
    assert len(done) == 20 and not not_done
    order = [futures[f] for f in concurrent.futures.as_completed(futures)]
    assert sorted(order) == list(range(1, 21))
    for f, k in futures.items():
        assert simhost_testing.same_bits(f.result().energy, simhost.run("nbody", **inputs, steps=k).energy), k


def test_many_futures_share_the_one_thread_budget():
    before = len(os.listdir("/proc/self/task"))
    futures = [simhost.submit("nbody", **bodies(1500, seed=k), steps=40) for k in range(50)]
    during = len(os.listdir("/proc/self/task"))
    concurrent.futures.wait(futures, timeout=120)
    assert all(f.done() for f in futures)
    budget = simhost.get_threads()
    assert during <= budget + EXTRA_THREADS, (before, during, budget)


def test_timeout_and_progress_on_futures():
    f = simhost.submit("nbody", **LONG, steps=100000, timeout=0.3)
    t0 = time.monotonic()
    e = f.exception(timeout=30)
    assert isinstance(e, TimeoutError) and "timeout=0.3" in str(e), repr(e)
    assert time.monotonic() - t0 < 0.3 + 0.5
    reports, threads = [], set()

    def report(done, total):
        reports.append((done, total))
        threads.add(threading.current_thread().name)

    g = simhost.submit("nbody", **bodies(6000), steps=30, progress=report)
    g.result(timeout=60)
    assert reports and reports[-1] == (30, 30), reports
    assert threads == {"simhost-futures"}, threads

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop("enough")

    h = simhost.submit("nbody", **LONG, steps=100000, progress=stop)
    assert isinstance(h.exception(timeout=30), Stop)


def test_asyncio_wrap_future_and_arun():
    inputs = bodies(300, seed=9)
    ref = simhost.run("nbody", **inputs, steps=12)

    async def main():
        a = await asyncio.wrap_future(simhost.submit("nbody", **inputs, steps=12))
        b, c = await asyncio.gather(simhost.arun("nbody", **inputs, steps=12),
                                    simhost.arun("nbody", **inputs, steps=3))
        # Cancelling the awaiting task cancels the running kernel: wait until its progress
        # shows it running (reported on the watcher thread), then cancel.
        running = threading.Event()
        task = asyncio.ensure_future(simhost.arun("nbody", **MEDIUM, steps=10**7,
                                                  progress=lambda done, total: done and running.set()))
        end = time.monotonic() + 10.0
        while not running.is_set():
            assert time.monotonic() < end, "the kernel never started"
            await asyncio.sleep(0.005)
        t0 = time.monotonic()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return a, b, c, time.monotonic() - t0

    a, b, c, cancel_seconds = asyncio.run(main())
    assert simhost_testing.same_bits(a.energy, ref.energy) and simhost_testing.same_bits(b.energy, ref.energy)
    assert c.energy.shape == (4,)
    assert cancel_seconds < 1.0, cancel_seconds


def run_script(body, interrupt_after=None):
    """Runs a script through the host in a real subprocess (never a shell job, which would
    ignore SIGINT); optionally sends SIGINT once it prints 'ready'."""
    proc = subprocess.Popen([SIMHOST, "-c", textwrap.dedent(body)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    sent = None
    if interrupt_after is not None:
        line = proc.stdout.readline()
        assert line.strip() == "ready", line
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err, (time.monotonic() - sent) if sent else None


PRELUDE = """
    import time
    import numpy as np, simhost

    def wait_running(future):  # as in the parent: until progress shows the kernel running
        end = time.monotonic() + 10.0
        while future.progress()[0] == 0:
            assert time.monotonic() < end, "the kernel never started"
            time.sleep(0.005)
    n = 20000
    rng = np.random.default_rng(0)
    big = dict(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1 / n),
               dt=1e-3)
    small = dict(big, pos=big["pos"][:2000], vel=big["vel"][:2000], mass=big["mass"][:2000])
"""


def test_a_script_that_ends_while_futures_run_waits_for_them():
    rc, out, err, _ = run_script(PRELUDE + """
    fs = [simhost.submit("nbody", **small, steps=30) for _ in range(3)]
    for f in fs:
        f.add_done_callback(lambda f: print("finished", len(f.result().energy), flush=True))
    print("ending", flush=True)
    """)
    assert rc == 0, (rc, err)
    assert out.split("\n")[0] == "ending", out
    assert out.count("finished 31") == 3, out
    assert "Fatal" not in err and "terminate" not in err, err


def test_ctrl_c_while_waiting_at_exit_cancels_and_ends_by_sigint():
    rc, out, err, after = run_script(PRELUDE + """
    f = simhost.submit("nbody", **small, steps=10**7)  # ms a step: runs at once under load
    wait_running(f)
    print("ready", flush=True)
    """, interrupt_after=0.3)  # time for the script to end and the host to wait at exit
    assert rc == -signal.SIGINT, (rc, err)
    assert after < 1.0, after
    assert "Fatal" not in err and "terminate" not in err, err


def test_uncaught_ctrl_c_with_futures_running_ends_by_sigint_at_once():
    rc, out, err, after = run_script(PRELUDE + """
    f = simhost.submit("nbody", **small, steps=10**7)  # ms a step: runs at once under load
    wait_running(f)
    print("ready", flush=True)
    time.sleep(60)
    """, interrupt_after=0.1)
    assert rc == -signal.SIGINT, (rc, err)
    assert after < 1.0, after
    assert "KeyboardInterrupt" in err and "Fatal" not in err, err


def test_a_daemon_thread_running_a_kernel_at_exit_does_not_abort():
    rc, out, err, _ = run_script(PRELUDE + """
    import threading
    running = threading.Event()  # set by the kernel's progress: it surely runs at exit
    threading.Thread(target=lambda: simhost.run("nbody", **small, steps=10**7,
                                                progress=lambda done, total: done and running.set()),
                     daemon=True).start()
    assert running.wait(10.0), "the kernel never started"
    print("ending", flush=True)
    """)
    assert rc == 0, (rc, err)
    assert "terminate" not in err and "Fatal" not in err and "Abort" not in err, err


TESTS = [
    test_submit_returns_a_concurrent_future_with_the_sequential_result,
    test_bad_arguments_raise_at_submit_and_kernel_errors_land_in_the_future,
    test_cancel_stops_a_running_kernel_quickly,
    test_done_callbacks_run_on_a_python_thread_holding_the_gil,
    test_wait_and_as_completed_over_many_futures_match_sequential_runs,
    test_many_futures_share_the_one_thread_budget,
    test_timeout_and_progress_on_futures,
    test_asyncio_wrap_future_and_arun,
    test_a_script_that_ends_while_futures_run_waits_for_them,
    test_ctrl_c_while_waiting_at_exit_cancels_and_ends_by_sigint,
    test_uncaught_ctrl_c_with_futures_running_ends_by_sigint_at_once,
    test_a_daemon_thread_running_a_kernel_at_exit_does_not_abort,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
