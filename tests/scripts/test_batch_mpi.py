"""Batches under real MPI ranks (Open MPI's mpirun): a 2-rank batch gives the store a
single-process batch gives, row for row and byte for byte; a rank killed with SIGKILL ends the
job, and --resume redoes only what was not committed, to the same store."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import simhost_testing as t

HOST = sys.executable
MPIRUN = shutil.which("mpirun")
MPI_FLAGS = ["--allow-run-as-root", "--oversubscribe", "-q"]  # CI runs as root on 2 cores

SPEC = """\
kernel = "ising2d"
seed = 11
replicates = 3
outputs = ["magnetization", "energy"]
reduce = "reduce.py:summary"
[params]
L = 16
sweeps = {sweeps}
[grid]
beta = {{ linspace = [0.3, 0.6, {points}] }}
"""

REDUCE = """\
def summary(outputs, params):
    m = outputs["magnetization"]
    return {"abs_m": float(abs(m).mean()), "beta": params["beta"]}
"""


def folder():
    d = tempfile.mkdtemp(prefix="simhost_batch_mpi_")
    with open(os.path.join(d, "reduce.py"), "w") as f:
        f.write(REDUCE)
    return d


def write_spec(d, sweeps, points):
    path = os.path.join(d, "sweep.toml")
    with open(path, "w") as f:
        f.write(SPEC.format(sweeps=sweeps, points=points))
    return path


def contents(out):
    """What two equal batches share: every run's identity, status, reduce result and outputs."""
    con = sqlite3.connect(os.path.join(out, "batch.sqlite"))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = con.execute("SELECT idx, id, params, status, error, reduce, outputs FROM runs "
                           "ORDER BY idx").fetchall()
        arrays = con.execute("SELECT idx, name, npy FROM arrays ORDER BY idx, name").fetchall()
        return runs, arrays
    finally:
        con.close()


def batch(args, mpi_ranks=0, **kw):
    cmd = [HOST, "batch", *args]
    if mpi_ranks:
        cmd = [MPIRUN, *MPI_FLAGS, "-n", str(mpi_ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=t.scaled(120), **kw)


def test_two_ranks_give_the_single_process_store():
    d = folder()
    spec = write_spec(d, sweeps=200, points=12)
    single = batch([spec, "--out", os.path.join(d, "single")])
    assert single.returncode == 0, single.stderr
    two = batch([spec, "--out", os.path.join(d, "two"), "--threads", "1"], mpi_ranks=2)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "36 of 36 runs done" in two.stdout, two.stdout
    a, b = contents(os.path.join(d, "single")), contents(os.path.join(d, "two"))
    assert len(a[0]) == 36 and all(r[3] == "done" for r in a[0])
    assert a == b, "the 2-rank store differs from the single-process one"
    con = sqlite3.connect(os.path.join(d, "two", "batch.sqlite"))
    ranks, versions = con.execute("SELECT ranks, versions FROM sessions").fetchone()
    con.close()
    assert ranks == 2 and "Open MPI" in versions, (ranks, versions)
    shutil.rmtree(d)


def rank_pid(parent, rank):
    """The pid of MPI rank `rank` (its OMPI_COMM_WORLD_RANK) among `parent`'s descendants."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and _ancestor(int(pid), parent):
            return int(pid)
    return None


def _ancestor(pid, parent):
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid == parent:
            return True
    return False


def committed(out):
    try:
        con = sqlite3.connect(f"file:{os.path.join(out, 'batch.sqlite')}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_a_killed_rank_ends_the_job_and_resume_completes_it():
    d = folder()
    # 60 runs of about 25 ms each: 1.5 s on 2 ranks, so the kill (after 5 commits) comes well
    # before the end even on a loaded machine.
    spec = write_spec(d, sweeps=30000, points=20)
    ref = batch([spec, "--out", os.path.join(d, "ref")])
    assert ref.returncode == 0, ref.stderr
    out = os.path.join(d, "killed")
    job = subprocess.Popen([MPIRUN, *MPI_FLAGS, "-n", "2", HOST, "batch", spec, "--out", out,
                            "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.monotonic() + t.scaled(60)
    while committed(out) < 5 and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.02)
    worker = rank_pid(job.pid, 1)
    assert worker is not None and job.poll() is None, "rank 1 not found while the job runs"
    os.kill(worker, signal.SIGKILL)
    try:
        _, err = job.communicate(timeout=t.scaled(30))
    except subprocess.TimeoutExpired:
        job.kill()
        raise AssertionError("mpirun did not end the job after a rank was killed")
    assert job.returncode != 0, "a job with a killed rank must fail"
    done_then = committed(out)
    assert 5 <= done_then < 60, done_then
    resumed = batch([spec, "--out", out, "--resume", "--threads", "1"], mpi_ranks=2)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    ran = int(resumed.stdout.split("(")[1].split(" run")[0])
    assert ran == 60 - done_then, (ran, done_then)  # only what was not committed
    assert contents(out) == contents(os.path.join(d, "ref"))
    shutil.rmtree(d)


TESTS = [test_two_ranks_give_the_single_process_store,
         test_a_killed_rank_ends_the_job_and_resume_completes_it]

if __name__ == "__main__":
    if MPIRUN is None:
        print("SKIP: no mpirun on PATH (setup.sh installs openmpi-bin)")
        sys.exit(t.SKIP_EXIT_CODE)
    if t.SANITIZED:
        print("SKIP: Open MPI's libraries are not built for the sanitizers")
        sys.exit(t.SKIP_EXIT_CODE)
    sys.exit(t.run(TESTS))
