"""Batches survive what happens to real processes: SIGKILL at random moments (then --resume),
Ctrl-C, a second writer on the same folder, `batch status` while a batch runs. Every batch is
`simhost batch` run by the host binary in a subprocess and signalled for real; every result is
compared with one uninterrupted batch of the same spec (runs and arrays tables row for row, the
bytes of every output file), and every store must pass SQLite's integrity check.

The spec: ising2d, 300 runs (L 16 and 364 x 25 betas x 6 replicates, 100 sweeps, hot start),
about 2 s on two cores (25 sweeps under the sanitizers, where 100 took 30 s a batch); L = 364
makes the spins output (int8, 132,624 bytes as .npy) larger than the store's 128 KiB file
threshold, so half the runs write arrays/<id>/spins.npy; a reduce hook adds scalars to every
run (the Ctrl-C test runs the same spec without it, see test_regression_ctrl_c_in_reduce_hook).
Checks of engine bugs found and fixed are the test_regression_* functions.
Kill delays come from a seeded random.Random (SIMHOST_TEST_SEED
overrides the seed), so a failing sequence can be replayed (timing still varies).
"""

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter

import simhost_testing
from simhost_testing import SANITIZED, Child, scaled

SIMHOST = os.environ.get("SIMHOST_BIN") or sys.executable
SEED = int(os.environ.get("SIMHOST_TEST_SEED", "20260301"))
TOTAL = 300
FILE_THRESHOLD = 128 * 1024  # the contract: outputs larger than this go to files
MIN_KILLS = 40
MID_BATCH_KILLS = 10  # of them, at least, land mid-batch (unless too few runs are left)
CTRL_C_RESPONSE_S = scaled(0.5)  # the promise: Ctrl-C ends the batch within 0.5 s
LIMIT_S = scaled(60.0)  # bounds a hang of any one subprocess, not a promise
RESUME_NOTE = "continue with --resume"

# The kernel's work sets how long a run lasts, not what is checked: an instrumented ising2d
# runs ~70x slower, and at 100 sweeps the sanitizer run of this file took 235 s of the CI.
SWEEPS = 25 if SANITIZED else 100

SPEC = f"""\
kernel = "ising2d"
seed = 2026
reduce = "reduce.py:summary"
replicates = 6

[params]
sweeps = {SWEEPS}
start = "hot"

[grid]
L = [16, 364]
beta = {{ linspace = [0.2, 0.7, 25] }}
"""

REDUCE = """\
import numpy as np


def summary(outputs, params):
    m = np.asarray(outputs["magnetization"])
    s = np.asarray(outputs["spins"])
    return {"abs_m": float(np.abs(m).mean()), "e_last": float(outputs["energy"][-1]),
            "spin_sum": int(s.sum(dtype=np.int64)), "side": int(s.shape[0])}
"""

#: Files a finished batch folder holds besides arrays/<id>/<output>.npy named by its runs.
FOLDER_FILES = {".lock", "batch.sqlite", "batch.sqlite-wal", "batch.sqlite-shm", "summary.csv"}

WORK = tempfile.TemporaryDirectory(prefix="simhost_durability_")
SPEC_PATH = os.path.join(WORK.name, "sweep.toml")
# The same runs without the reduce hook, for the Ctrl-C test (test_regression_ctrl_c_in_reduce_hook).
PLAIN_SPEC_PATH = os.path.join(WORK.name, "sweep_plain.toml")
ENV = dict(os.environ, SIMHOST_PROGRESS="0", PYTHONDONTWRITEBYTECODE="1")
SEEN = {}  # what the writer test saw, for the known bugs' checks
REF = {}  # the uninterrupted batches: spec path -> folder, seconds, snapshot; and "startup"


def folder(name):
    return os.path.join(WORK.name, name)


def batch_args(out, *extra, spec=SPEC_PATH):
    return ["batch", spec, "--out", out, *extra]


def simhost(args, timeout=LIMIT_S):
    return subprocess.run([SIMHOST, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, text=True, timeout=timeout)


def describe(p):
    return f"rc={p.returncode}\n--- stdout:\n{p.stdout}--- stderr:\n{p.stderr}"


# ---- reading stores (read-only: never recovers or checkpoints a store for the engine) ----

def connect(out):
    path = os.path.join(out, "batch.sqlite")
    if not os.path.exists(path):
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def state(out):
    """(sessions, done, pending) of the store in `out`; None while it has no runs table."""
    con = connect(out)
    if con is None:
        return None
    try:
        if not con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0]:
            return None
        con.execute("BEGIN")
        sessions = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
        done, pending = con.execute("SELECT coalesce(sum(status = 'done'), 0), "
                                    "coalesce(sum(status = 'pending'), 0) FROM runs").fetchone()
        con.execute("COMMIT")
        return sessions, done, pending
    finally:
        con.close()


def snapshot(out):
    """Everything the contract says two identical batches share, plus the bookkeeping."""
    con = connect(out)
    assert con is not None, f"{out} has no batch.sqlite"
    try:
        snap = {
            "integrity": con.execute("PRAGMA integrity_check").fetchall(),
            "runs": con.execute("SELECT idx, id, params, status, error, reduce, outputs FROM runs "
                                "ORDER BY idx").fetchall(),
            "arrays": con.execute("SELECT idx, name, npy FROM arrays ORDER BY idx, name").fetchall(),
            "attempts": Counter(r[0] for r in con.execute("SELECT attempts FROM runs")),
            "run_sessions": {r[0] for r in con.execute("SELECT DISTINCT session FROM runs "
                                                        "WHERE status = 'done'")},
            "sessions": con.execute("SELECT session, started, ended, command FROM sessions "
                                    "ORDER BY session").fetchall(),
            "total": con.execute("SELECT value FROM batch WHERE key = 'total'").fetchone()[0],
        }
    finally:
        con.close()
    files = {}
    for _, _, _, status, _, _, outputs in snap["runs"]:
        for name, where in (json.loads(outputs) if outputs else {}).items():
            if where != "db":
                path = os.path.join(out, where)
                assert os.path.isfile(path), f"{out}: output file {where} named by a run is missing"
                with open(path, "rb") as f:
                    files[where] = hashlib.sha256(f.read()).hexdigest()
    snap["files"] = files
    return snap


def stray_files(out, named):
    """Files in `out` that are neither the store's own nor output files its runs name: returns
    the *.tmp ones (allowed when no run names them); any other stray file fails."""
    tmp, other = [], []
    for root, _, names in os.walk(out):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), out)
            if rel in FOLDER_FILES or rel in named:
                continue
            (tmp if n.endswith(".tmp") else other).append(rel)
    assert not other, f"{out}: files no run names: {sorted(other)[:10]}"
    return sorted(tmp)


def summary_rows(text):
    """summary.csv's rows without the columns that differ between equal batches."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, c in enumerate(rows[0]) if c not in ("attempts", "seconds")]
    return [[r[i] for i in keep] for r in rows]


def assert_same_as_reference(out, label, spec=SPEC_PATH):
    """The batch in `out` equals the uninterrupted one of `spec`: same runs and arrays row for
    row, same output files byte for byte, the same summary.csv (attempts and seconds aside),
    every run done exactly once, an intact store. Returns the snapshot and the stray *.tmp
    files."""
    ref, got = REF[spec]["snapshot"], snapshot(out)
    assert got["integrity"] == [("ok",)], f"{label}: integrity_check: {got['integrity'][:5]}"
    assert got["total"] == str(TOTAL), (label, got["total"])
    runs = got["runs"]
    assert len(runs) == TOTAL and [r[0] for r in runs] == list(range(TOTAL)), (
        f"{label}: run indices {[r[0] for r in runs][:5]}... ({len(runs)} runs)")
    assert len({r[1] for r in runs}) == TOTAL, f"{label}: duplicated run ids"
    statuses = Counter(r[3] for r in runs)
    assert statuses == {"done": TOTAL}, f"{label}: statuses {dict(statuses)}"
    for a, b in zip(ref["runs"], runs):
        assert a == b, f"{label}: run {a[0]} differs:\n  reference {a}\n  got       {b}"
    # Each run committed once: a run committed twice would count 2 attempts.
    assert got["attempts"] == {1: TOTAL}, f"{label}: attempts {dict(got['attempts'])}"
    assert len(got["arrays"]) == len(ref["arrays"]), (
        f"{label}: {len(got['arrays'])} arrays rows, reference {len(ref['arrays'])}")
    for a, b in zip(ref["arrays"], got["arrays"]):
        assert a[:2] == b[:2] and a[2] == b[2], f"{label}: arrays row {a[:2]} / {b[:2]} differs"
    assert got["files"] == ref["files"], (
        f"{label}: output files differ: "
        f"{sorted(k for k in ref['files'] if got['files'].get(k) != ref['files'][k])[:5]}")
    with open(os.path.join(REF[spec]["folder"], "summary.csv")) as f:
        ref_csv = summary_rows(f.read())
    with open(os.path.join(out, "summary.csv")) as f:
        got_csv = summary_rows(f.read())
    assert got_csv == ref_csv, f"{label}: summary.csv differs (attempts and seconds aside)"
    known = {s[0] for s in got["sessions"]}
    assert got["run_sessions"] <= known, (label, got["run_sessions"] - known)
    return got, stray_files(out, set(got["files"]))


# ---- the tests ----

def reference_batch(spec, name):
    out = folder(name)
    t0 = time.monotonic()
    p = simhost(batch_args(out, spec=spec))
    seconds = time.monotonic() - t0
    assert p.returncode == 0, describe(p)
    assert f"{TOTAL} of {TOTAL} runs done" in p.stdout, describe(p)
    snap = snapshot(out)
    assert snap["integrity"] == [("ok",)], snap["integrity"]
    assert Counter(r[3] for r in snap["runs"]) == {"done": TOTAL}
    assert snap["attempts"] == {1: TOTAL}, snap["attempts"]
    assert len(snap["sessions"]) == 1 and snap["sessions"][0][2] is not None, snap["sessions"]
    # Half the runs (L = 364) keep spins in a file, the other outputs stay in the database.
    assert len(snap["files"]) == TOTAL // 2, len(snap["files"])
    for where in snap["files"]:
        assert os.path.getsize(os.path.join(out, where)) > FILE_THRESHOLD, where
    assert len(snap["arrays"]) == 3 * TOTAL - TOTAL // 2, len(snap["arrays"])
    assert not stray_files(out, set(snap["files"]))
    REF[spec] = dict(folder=out, seconds=seconds, snapshot=snap)
    print(f"  uninterrupted {os.path.basename(spec)}: {seconds:.2f} s for {TOTAL} runs")
    return snap


def test_reference_batches():
    with open(SPEC_PATH, "w") as f:
        f.write(SPEC)
    with open(PLAIN_SPEC_PATH, "w") as f:
        f.write(SPEC.replace('reduce = "reduce.py:summary"\n', ""))
    with open(os.path.join(WORK.name, "reduce.py"), "w") as f:
        f.write(REDUCE)
    snap = reference_batch(SPEC_PATH, "A")
    reduced = [json.loads(r[5]) for r in snap["runs"]]
    assert [r["side"] for r in reduced] == [16] * (TOTAL // 2) + [364] * (TOTAL // 2)
    plain = reference_batch(PLAIN_SPEC_PATH, "A0")
    assert all(r[5] is None for r in plain["runs"]), "reduce values without a reduce hook"
    # The hook changes nothing but the reduce column.
    assert [r[:5] + r[6:] for r in plain["runs"]] == [r[:5] + r[6:] for r in snap["runs"]]
    assert plain["arrays"] == snap["arrays"] and plain["files"] == snap["files"]
    # The start-up alone (the host, numpy, the spec and its hook, no store): a batch's dry run.
    t1 = time.monotonic()
    assert simhost(["batch", SPEC_PATH, "--dry-run"]).returncode == 0
    REF["startup"] = time.monotonic() - t1
    print(f"  start-up {REF['startup']:.2f} s")


def test_sigkill_at_random_moments_then_resume_gives_the_same_batch():
    out = folder("B")
    rng = random.Random(SEED)
    ref_s, startup = REF[SPEC_PATH]["seconds"], REF["startup"]
    landed = Counter()
    commands = []  # the command of every start that recorded a session, in order
    kills = starts = 0
    t_loop = time.monotonic()
    while kills < MIN_KILLS:
        before = state(out)
        # The first start, and every start while no store exists yet, is the plain command.
        args = batch_args(out, "--jobs", str(rng.choice((1, 2, 3))),
                          *(["--resume"] if before is not None else []))
        sessions0, done0, pending0 = before if before is not None else (0, 0, TOTAL)
        # When to kill. While no store exists: a random moment, first within the start-up (the
        # store appears at about a dry run's duration), then ever later. Then, until
        # MID_BATCH_KILLS have landed mid-batch, by progress (timings shift with the machine's
        # load): 0-20 ms after a random number of this start's runs, up to a third of those
        # pending, were committed. Then at a random moment, one time in four anywhere within
        # the reference's duration, else within this start's expected life (start-up, then its
        # share of the reference's time for the runs still pending): these hit start-ups, the
        # last runs, and starts with nothing left to do.
        target = None
        if before is None:
            delay = rng.uniform(0.05, max(0.1, 0.8 * startup * (1 + starts)))
        elif pending0 > 1 and landed["mid-batch"] < MID_BATCH_KILLS:
            target = done0 + rng.randint(1, max(1, pending0 // 3))
            delay = rng.uniform(0.0, 0.02)
        else:
            upper = (ref_s if rng.random() < 0.25
                     else startup + (ref_s - startup) * pending0 / TOTAL)
            delay = rng.uniform(0.05, max(0.1, upper))
        with tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen([SIMHOST, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=err,
                                 stdin=subprocess.DEVNULL, text=True)
            if target is not None:
                end = time.monotonic() + LIMIT_S
                while p.poll() is None and (state(out) or (0, 0))[1] < target:
                    assert time.monotonic() < end, f"start {starts + 1} made no progress"
                    time.sleep(0.005)
            try:
                rc = p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                rc = p.wait(timeout=LIMIT_S)
            err.seek(0)
            stderr = err.read()
        starts += 1
        after = state(out)
        sessions1, done1, pending1 = after if after is not None else (0, 0, TOTAL)
        added = sessions1 - sessions0
        assert added in (0, 1), f"start {starts} ({args}) added {added} sessions"
        assert done1 >= done0, f"start {starts}: done runs went from {done0} to {done1}"
        if added:
            commands.append("simhost " + " ".join(args))
        if rc == 0:
            assert after is not None and pending1 == 0 and added == 1, (
                f"start {starts} exited 0 with {after}: {stderr}")
            landed["exited before the kill"] += 1
            continue
        assert rc == -signal.SIGKILL, f"start {starts} ({args}) ended with {rc}: {stderr}"
        kills += 1
        if after is None:
            landed["before the store existed"] += 1
        elif not added:
            landed["start-up, before its session"] += 1
        elif pending1 > 0:
            landed["mid-batch"] += 1
        else:
            landed["after its runs were all done"] += 1
    t_final = time.monotonic()
    p = simhost(batch_args(out, "--resume"))
    assert p.returncode == 0, describe(p)
    assert f"{TOTAL} of {TOTAL} runs done" in p.stdout, describe(p)
    commands.append("simhost " + " ".join(batch_args(out, "--resume")))
    final_s = time.monotonic() - t_final
    snap, tmp = assert_same_as_reference(out, "after SIGKILLs")
    # One session per start that got as far as recording one, numbered 1.., with its command;
    # each ended one was ended by its own process (the killed ones may have ended theirs).
    sessions = snap["sessions"]
    assert [s[0] for s in sessions] == list(range(1, len(sessions) + 1)), sessions
    assert [s[3] for s in sessions] == commands, (
        f"sessions' commands {[s[3] for s in sessions]}\nstarts that recorded one {commands}")
    assert sessions[-1][2] is not None, sessions[-1]
    assert [s[1] for s in sessions] == sorted(s[1] for s in sessions), "session start times"
    print(f"  {starts} starts, {kills} SIGKILLs in {t_final - t_loop:.1f} s, then a final "
          f"--resume ({final_s:.2f} s); {len(sessions)} sessions recorded")
    for what in ("before the store existed", "start-up, before its session", "mid-batch",
                 "after its runs were all done", "exited before the kill"):
        print(f"    {what}: {landed[what]}")
    print(f"  stray *.tmp files: {tmp if tmp else 'none'}")
    assert landed["mid-batch"] >= 5, f"too few kills landed mid-batch to mean much: {dict(landed)}"


def interrupt_batch(spec, out, when_done):
    """Starts `simhost batch spec --out out` as a real child process, sends it SIGINT once
    `when_done` runs are done; returns (exit status, seconds from SIGINT to its exit, stderr,
    runs done at the signal)."""
    simhost_testing.ensure_sigint_not_ignored()
    child = Child([SIMHOST, *batch_args(out, spec=spec)], env=ENV)
    try:
        end = time.monotonic() + LIMIT_S
        while True:
            s = state(out)
            assert child.proc.poll() is None, (
                f"the batch ended before it could be interrupted: {child.stderr_text()}")
            if s is not None and s[1] >= when_done:
                break
            assert time.monotonic() < end, f"the batch never got going: {s}"
            time.sleep(0.01)
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        while True:  # the end of its output: the process has exited
            arrived, line = child.next_line(LIMIT_S)
            if line is None:
                break
        rc = child.proc.wait(LIMIT_S)
    finally:
        child.kill()
    return rc, arrived - sent, child.stderr_text(), s[1]


def test_ctrl_c_stops_within_half_a_second_and_resume_completes():
    # The spec without its reduce hook: a Ctrl-C that lands in a hook fails the run and is
    # otherwise ignored (test_regression_ctrl_c_in_reduce_hook). Interrupted once more than half the
    # runs are done: the L = 364 runs, whose spins go to files, are under way.
    out = folder("D")
    rc, latency, stderr, done_at_signal = interrupt_batch(PLAIN_SPEC_PATH, out, TOTAL * 0.55)
    print(f"  SIGINT with {done_at_signal} runs done: exit {rc} {latency * 1000:.0f} ms later")
    assert rc == 130, f"exit {rc}: {stderr}"
    assert RESUME_NOTE in stderr, stderr
    assert latency < CTRL_C_RESPONSE_S, (
        f"the batch exited {latency:.3f} s after SIGINT, promised < {CTRL_C_RESPONSE_S} s")
    snap = snapshot(out)
    assert snap["integrity"] == [("ok",)], snap["integrity"]
    statuses = Counter(r[3] for r in snap["runs"])
    assert set(statuses) == {"done", "pending"}, dict(statuses)
    assert done_at_signal <= statuses["done"] < TOTAL, (done_at_signal, dict(statuses))
    for idx, rid, params, status, error, reduce, outputs in snap["runs"]:
        if status == "pending":
            assert error is None and reduce is None and outputs is None, (idx, error, outputs)
        else:
            assert ((idx, rid, params, status, error, reduce, outputs)
                    == REF[PLAIN_SPEC_PATH]["snapshot"]["runs"][idx])
    pending = {r[0] for r in snap["runs"] if r[3] == "pending"}
    assert not [a[:2] for a in snap["arrays"] if a[0] in pending], "arrays of pending runs"
    assert len(snap["sessions"]) == 1 and snap["sessions"][0][2] is not None, (
        f"an interrupted session ends itself: {snap['sessions']}")
    print(f"  kept {statuses['done']} done, {statuses['pending']} pending")
    p = simhost(batch_args(out, "--resume", spec=PLAIN_SPEC_PATH))
    assert p.returncode == 0, describe(p)
    assert f"({statuses['pending']} runs in" in p.stdout, describe(p)
    snap, tmp = assert_same_as_reference(out, "after Ctrl-C and --resume", PLAIN_SPEC_PATH)
    assert len(snap["sessions"]) == 2, snap["sessions"]
    assert not tmp, tmp


def done_count(status):
    m = re.search(r"(\d+) done, (\d+) failed, (\d+) pending", status)
    assert m, status
    return int(m.group(1))


def test_one_writer_per_folder_and_status_while_running():
    out = folder("C")
    # One lane on one thread: about 1.5 times the reference's duration, room for the probes.
    child = Child([SIMHOST, *batch_args(out, "--jobs", "1", "--threads", "1")], env=ENV)
    try:
        pid = child.proc.pid
        end = time.monotonic() + LIMIT_S
        while (s := state(out)) is None or s[0] < 1 or s[1] < 10:
            assert child.proc.poll() is None, f"the batch ended early: {child.stderr_text()}"
            assert time.monotonic() < end, f"the batch never got going: {s}"
            time.sleep(0.01)
        first = simhost(["batch", "status", out])
        assert first.returncode == 0, describe(first)
        assert "writer: running" in first.stdout and re.search(rf"\bpid {pid}\b", first.stdout), (
            f"status while pid {pid} runs the batch:\n{first.stdout}")
        assert "(running)" in first.stdout, first.stdout
        later = simhost(["batch", "status", out])
        assert later.returncode == 0, describe(later)
        # Frozen from here (it keeps its lock), so that the batch cannot finish during the
        # probes below, however fast it runs.
        child.proc.send_signal(signal.SIGSTOP)
        assert child.proc.poll() is None, (
            "the batch finished during the probes: they tested nothing; make it longer")
        counts = done_count(first.stdout), done_count(later.stdout)
        print(f"  status while running: {counts[0]} then {counts[1]} done (pid {pid})")
        assert counts[1] > counts[0], (first.stdout, later.stdout)
        for extra in ((), ("--resume",)):
            second = simhost(batch_args(out, *extra))
            # The contract's exit status for a refused store is 2 (test_regression_refusal_exit_code).
            assert second.returncode != 0, describe(second)
            SEEN.setdefault("refusals", []).append(second)
            assert "in use by another batch" in second.stderr, describe(second)
            assert re.search(rf"\bpid {pid}\b", second.stderr), describe(second)
        SEEN["status"] = (first.stdout, pid)
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(LIMIT_S)
        killed_at = time.time()
    finally:
        child.kill()
    killed_state = state(out)
    status = simhost(["batch", "status", out])
    assert status.returncode == 0, describe(status)
    assert "writer: none; session 1 never ended" in status.stdout, status.stdout
    # The killed writer's lock went with it: a --resume takes the folder at once.
    p = simhost(batch_args(out, "--resume"))
    assert p.returncode == 0, describe(p)
    assert "in use" not in p.stderr, describe(p)
    assert f"({killed_state[2]} runs in" in p.stdout, (killed_state, describe(p))
    snap, tmp = assert_same_as_reference(out, "after a refused second writer and SIGKILL")
    sessions = snap["sessions"]
    assert len(sessions) == 2 and sessions[0][2] is None and sessions[1][2] is not None, sessions
    from datetime import datetime
    started = datetime.fromisoformat(sessions[1][1].replace("Z", "+00:00")).timestamp()
    print(f"  the --resume after SIGKILL recorded its session {started - killed_at:.2f} s after "
          f"the kill (status ran in between)")
    assert started - killed_at < scaled(5.0), "the resume waited for the dead writer's lock"
    print(f"  stray *.tmp files: {tmp if tmp else 'none'}")


# ---- regressions: engine bugs found and fixed ----

def test_regression_refusal_exit_code():
    """a batch refused because
    its folder is in use by another batch exits 1, the contract says 2 ("usage/spec/store-refusal
    errors"). The engine throws simhost::Error, which reaches Python as simhost.KernelError, and
    _batch_run.main() maps KernelError to exit 1 (so does "already holds a batch"). Checks the
    refusals test_one_writer_per_folder_and_status_while_running saw."""
    assert SEEN.get("refusals"), "the writer test did not get as far as the refusals"
    for p in SEEN["refusals"]:
        assert p.returncode == 2, describe(p)


def test_regression_ctrl_c_in_reduce_hook():
    """a Ctrl-C that arrives
    while a reduce hook runs is taken by the hook (KeyboardInterrupt raised in its Python
    code), and the engine records that run as failed ("KeyboardInterrupt: <EMPTY MESSAGE>",
    runtime/src/batch/engine.cpp Engine::reduce_pending() catches it as any std::exception)
    and goes on with the batch: it runs to the end and exits 1, seconds later, instead of
    exiting 130 within 0.5 s with that run still pending. With a hook that takes 20 ms, every
    Ctrl-C lands in one."""
    folder_ = os.path.join(WORK.name, "slow_hook")
    os.makedirs(folder_)
    with open(os.path.join(folder_, "reduce.py"), "w") as f:
        f.write("import time\n\n\ndef summary(outputs, params):\n    time.sleep(0.02)\n"
                "    return {'x': 1.0}\n")
    spec = os.path.join(folder_, "slow.toml")
    with open(spec, "w") as f:
        f.write('kernel = "ising2d"\nreduce = "reduce.py:summary"\nreplicates = 200\n'
                "[params]\nL = 16\nsweeps = 10\nbeta = 0.4\n")
    out = os.path.join(folder_, "out")
    rc, latency, stderr, _ = interrupt_batch(spec, out, 20)
    statuses = Counter(r[3] for r in snapshot(out)["runs"])
    print(f"  Ctrl-C in a reduce hook: exit {rc} {latency:.2f} s later, {dict(statuses)}")
    assert rc == 130 and latency < CTRL_C_RESPONSE_S, f"exit {rc} {latency:.2f} s later: {stderr}"
    assert "failed" not in statuses, dict(statuses)


def test_regression_status_repeats_pid():
    """`simhost batch status`
    prints "writer: running (pid pid 1234 on HOST)": the .lock holds "pid 1234 on HOST" (the
    engine, runtime/src/batch/store.cpp) and status_text (scripting/python/simhost/_batch.py)
    wraps it in "(pid ...)" again. Checks the status test_one_writer_per_folder_and_status_
    while_running saw."""
    assert "status" in SEEN, "the writer test did not get as far as the status"
    text, pid = SEEN["status"]
    assert f"writer: running (pid {pid} on " in text, text


# The regression checks run with the others.
REGRESSIONS = [test_regression_ctrl_c_in_reduce_hook, test_regression_refusal_exit_code,
              test_regression_status_repeats_pid]

TESTS = [
    test_reference_batches,
    test_sigkill_at_random_moments_then_resume_gives_the_same_batch,
    test_ctrl_c_stops_within_half_a_second_and_resume_completes,
    test_one_writer_per_folder_and_status_while_running,
]

if __name__ == "__main__":
    t0 = time.monotonic()
    print(f"seed {SEED} (SIMHOST_TEST_SEED), folders under {WORK.name}")
    try:
        code = simhost_testing.run(TESTS + REGRESSIONS)
    finally:
        print(f"total {time.monotonic() - t0:.1f} s")
        WORK.cleanup()
    sys.exit(code)
