"""Progress reporting: callables, the terminal bar, SIMHOST_PROGRESS, errors."""

import os
import pty
import select
import subprocess
import sys
import threading
import time

import numpy as np

import simhost
import simhost_testing

SIMHOST = os.environ["SIMHOST_BIN"]
REPORTS_PER_SECOND_MAX = 10


def bodies(n, seed=0):
    rng = np.random.default_rng(seed)
    return dict(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1.0 / n),
                dt=1e-3)


def test_callable_receives_done_and_total_at_most_ten_times_a_second():
    seen, threads = [], set()

    def record(done, total):
        seen.append((done, total))
        threads.add(threading.get_ident())

    t0 = time.monotonic()
    simhost.kernels.nbody(**bodies(6000), steps=30, progress=record)
    elapsed = time.monotonic() - t0
    assert seen, "the callable was never called"
    assert seen[-1] == (30, 30), seen[-1]                 # a final report when finished
    assert all(total == 30 for _, total in seen), seen
    done = [d for d, _ in seen]
    assert done == sorted(done), done                      # never goes backwards
    assert len(seen) <= REPORTS_PER_SECOND_MAX * elapsed + 2, (len(seen), elapsed)
    assert threads == {threading.get_ident()}, "called from another thread than the caller"


def test_an_exception_in_the_callable_cancels_the_kernel_and_propagates():
    class Stop(Exception):
        pass

    def stop(done, total):
        if done >= 2:
            raise Stop(f"stopped at {done} of {total}")

    t0 = time.monotonic()
    e = simhost_testing.expect_raises(
        Stop, lambda: simhost.kernels.nbody(**bodies(8000), steps=100000, progress=stop),
        "stopped at", "of 100000")
    assert time.monotonic() - t0 < 30, "the kernel was not cancelled"
    assert isinstance(e, Stop)
    r = simhost.kernels.nbody(**bodies(64), steps=3)    # the process goes on
    assert r.energy.shape == (4,)


def test_bad_progress_values_are_refused():
    simhost_testing.expect_raises(
        TypeError, lambda: simhost.kernels.nbody(**bodies(8), steps=1, progress="yes"),
        "progress", "callable", "str")


def run_child(code, env_extra, terminal):
    env = dict(os.environ, **env_extra)
    if not terminal:
        return subprocess.run([SIMHOST, "-c", code], env=env, capture_output=True, text=True,
                              timeout=60)
    # stderr (and stdout) on a pseudo-terminal, read until the child exits.
    leader, follower = pty.openpty()
    proc = subprocess.Popen([SIMHOST, "-c", code], env=env, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    proc.wait(timeout=10)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", out.decode())


CHILD = """
import numpy as np, simhost
n = 6000
rng = np.random.default_rng(0)
simhost.kernels.nbody(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1/n),
                      dt=1e-3, steps=30, progress={progress})
print("done")
"""


def test_progress_true_draws_a_bar_on_a_terminal_only():
    on_tty = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": ""}, terminal=True)
    assert on_tty.returncode == 0, on_tty
    for part in ("nbody", "%", "30/30 steps", "steps/s", "ETA"):
        assert part in on_tty.stderr, (part, on_tty.stderr)
    piped = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": ""}, terminal=False)
    assert piped.returncode == 0 and piped.stdout.strip() == "done", piped
    assert piped.stderr == "", piped.stderr


def test_simhost_progress_forces_the_bar_on_and_off():
    forced_on = run_child(CHILD.format(progress=None), {"SIMHOST_PROGRESS": "1"}, terminal=False)
    assert forced_on.returncode == 0, forced_on
    assert "30/30 steps" in forced_on.stderr, forced_on.stderr
    forced_off = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": "0"}, terminal=True)
    assert forced_off.returncode == 0, forced_off
    assert "steps/s" not in forced_off.stderr, forced_off.stderr
    assert "done" in forced_off.stderr  # the pty carries stdout too
    bad = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": "yes"}, terminal=False)
    assert bad.returncode == 1 and "SIMHOST_PROGRESS must be 0 or 1" in bad.stderr, bad


TESTS = [
    test_callable_receives_done_and_total_at_most_ten_times_a_second,
    test_an_exception_in_the_callable_cancels_the_kernel_and_propagates,
    test_bad_progress_values_are_refused,
    test_progress_true_draws_a_bar_on_a_terminal_only,
    test_simhost_progress_forces_the_bar_on_and_off,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
