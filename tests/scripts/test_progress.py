"""Progress reporting: callables, the tqdm bar, simhost.progress() groups, SIMHOST_PROGRESS,
errors."""

import os
import pty
import re
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
        "progress", "callable", "str", "simhost.progress(")
    simhost_testing.expect_raises(
        TypeError, lambda: simhost.kernels.nbody(**bodies(8), steps=1, progress=2),
        "progress expects True, False, None or a callable", "got int")
    simhost_testing.expect_raises(
        TypeError, lambda: simhost.submit("nbody", **bodies(8), steps=1, progress=[1]),
        "progress expects", "got list")


def test_bad_group_arguments_are_refused():
    expect = simhost_testing.expect_raises
    expect(TypeError, lambda: simhost.progress(5), "simhost.progress()", "iterable", "got int")
    expect(TypeError, lambda: simhost.progress([1], desc=3), "desc expects a str", "got int")
    expect(TypeError, lambda: simhost.progress([1], unit=b"x"), "unit expects a str",
           "got bytes")
    expect(TypeError, lambda: simhost.progress(total=2.5), "total expects an int", "got float")
    expect(TypeError, lambda: simhost.progress(total=True), "total expects an int", "got bool")
    expect(ValueError, lambda: simhost.progress(total=-1), "total must be >= 0", "got -1")
    expect(TypeError, lambda: next(iter(simhost.progress(total=3))), "context manager")
    group = simhost.progress(total=1)
    with group:
        expect(RuntimeError, lambda: group.__enter__(), "already in use")


def test_a_group_counts_items_or_finished_calls_and_takes_the_calls_progress():
    seen = []
    # A callable keeps its own reports inside a group; progress=False stays silent.
    with simhost.progress(total=3, desc="calls") as group:
        simhost.kernels.nbody(**bodies(64), steps=4)
        simhost.kernels.nbody(**bodies(64), steps=4, progress=True)
        simhost.kernels.nbody(**bodies(64), steps=5, progress=lambda d, t: seen.append((d, t)))
        simhost.submit("nbody", **bodies(64), steps=4).result()
        try:
            simhost.kernels.nbody(**bodies(64), steps=4, timeout=-1)  # fails: not counted
        except ValueError:
            pass
    assert seen[-1] == (5, 5), seen
    assert group.n == 3, group.n   # the plain, progress=True and submitted calls finished
    items = list(range(4))
    got = []
    for p in simhost.progress(items, desc="sweep"):
        got.append(p)
        simhost.kernels.nbody(**bodies(64), steps=p + 1)
    assert got == items
    # The group is closed when the loop ends: calls after it are on their own again.
    assert simhost._progress._current.get() is None and simhost._progress.open_groups == 0
    for p in simhost.progress(items):
        if p == 1:
            break
    assert simhost._progress._current.get() is None and simhost._progress.open_groups == 0


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


# tqdm's last line of a finished bar: "nbody: 100%|#####| 30/30 [00:01<00:00, 25.1steps/s]"
FINAL_BAR = re.compile(r"nbody: 100%.*\b30/30 \[\d\d:\d\d<00:00, +[0-9.]+steps/s\]")


def last_draw(text):
    """What a terminal shows at the end: the text after the last carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]


def test_progress_true_draws_a_tqdm_bar_on_a_terminal_only():
    on_tty = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": ""}, terminal=True)
    assert on_tty.returncode == 0, on_tty
    assert any(FINAL_BAR.search(line) for line in last_draw(on_tty.stderr)), on_tty.stderr
    piped = run_child(CHILD.format(progress=True), {"SIMHOST_PROGRESS": ""}, terminal=False)
    assert piped.returncode == 0 and piped.stdout.strip() == "done", piped
    assert piped.stderr == "", piped.stderr


GROUP_CHILD = """
import sys
import numpy as np, simhost
n = 2000
rng = np.random.default_rng(0)
b = dict(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1/n), dt=1e-3)
assert "tqdm" not in sys.modules       # nothing drawn yet: tqdm is not imported
for steps in simhost.progress([4, 6, 8], desc="sweep"):
    simhost.kernels.nbody(**b, steps=steps, progress=True)
print("tqdm" in sys.modules)
"""


def test_a_loop_in_simhost_progress_draws_one_bar_and_no_bar_per_call():
    on_tty = run_child(GROUP_CHILD, {"SIMHOST_PROGRESS": ""}, terminal=True)
    assert on_tty.returncode == 0, on_tty
    shown = last_draw(on_tty.stderr)
    assert any(re.search(r"sweep: 100%.*\b3/3 \[", line) for line in shown), on_tty.stderr
    assert "nbody: " not in on_tty.stderr, on_tty.stderr   # no bar of a call's own
    assert re.search(r"sweep: +\d+%.*1/3 .*nbody \d+%", on_tty.stderr), on_tty.stderr
    assert on_tty.stderr.count("sweep: 100%") >= 1
    assert "True" in on_tty.stderr  # tqdm was imported once a bar was drawn (pty: stdout too)
    piped = run_child(GROUP_CHILD, {"SIMHOST_PROGRESS": ""}, terminal=False)
    assert piped.returncode == 0 and piped.stdout.split() == ["False"], piped
    assert piped.stderr == "", piped.stderr
    forced = run_child(GROUP_CHILD, {"SIMHOST_PROGRESS": "1"}, terminal=False)
    assert forced.returncode == 0 and "sweep: 100%" in forced.stderr, forced


def test_start_up_does_not_import_tqdm():
    p = subprocess.run([SIMHOST, "-c", "import sys, simhost; print('tqdm' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["False"], p


def test_simhost_progress_forces_the_bar_on_and_off():
    forced_on = run_child(CHILD.format(progress=None), {"SIMHOST_PROGRESS": "1"}, terminal=False)
    assert forced_on.returncode == 0, forced_on
    assert any(FINAL_BAR.search(line) for line in last_draw(forced_on.stderr)), forced_on.stderr
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
    test_bad_group_arguments_are_refused,
    test_a_group_counts_items_or_finished_calls_and_takes_the_calls_progress,
    test_progress_true_draws_a_tqdm_bar_on_a_terminal_only,
    test_a_loop_in_simhost_progress_draws_one_bar_and_no_bar_per_call,
    test_start_up_does_not_import_tqdm,
    test_simhost_progress_forces_the_bar_on_and_off,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
