"""The read side of batch stores (simhost._batch): the runs table, outputs bit for bit, errors,
summary.csv, `batch status` text; reading while a writer holds a write transaction, after a
writer was killed, and seeing a writer's lock. Stores are written by the schema
(batch_testing.make_store), writers and lock holders are real child processes."""

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

import numpy as np

import batch_testing
import simhost_testing
from simhost._batch import export, open_batch, status_text
from simhost_testing import expect_raises, same_bits

SIMHOST = os.environ["SIMHOST_BIN"]
PYTHON = os.environ["SIMHOST_PYTHON"]
#: A read of a WAL store never waits for its writer: each read while a write transaction is
#: open finishes within this bound (it would stall for the 10 s busy timeout otherwise).
READ_WHILE_WRITING_S = simhost_testing.scaled(2.0)
COLUMNS = ["idx", "id", "status", "attempts", "seconds", "error", "L", "beta", "start", "pos",
           "seed", "mean_m", "n", "reduce.beta", "reduce.status"]

# A writer child: finishes runs as the batch engine does (row + arrays in one transaction).
# Mode "go": opens a write transaction finishing OPEN_ID, prints "holding", commits once the
# file DIR/go exists. Mode "lock": takes the batch lock as the engine does (LOCK_EX, its pid
# in .lock), commits DONE_ID, then opens a transaction too large for the page cache (its
# uncommitted pages spill into the WAL) and waits to be killed.
WRITER = r"""
import fcntl, io, json, os, sqlite3, sys, time
import numpy as np
folder, mode, done_id, open_id = sys.argv[1:5]

def npy(a):
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()

def finish(con, rid, scale):
    con.execute("UPDATE runs SET status = 'done', attempts = 1, seconds = 1.5, reduce = ?, "
                "outputs = ?, session = 2, finished = '2026-03-02T09:01:00Z' WHERE id = ?",
                (json.dumps({"mean_m": scale}),
                 json.dumps({"magnetization": "db", "energy": "db"}), rid))
    con.executemany("INSERT INTO arrays VALUES ((SELECT idx FROM runs WHERE id = ?), ?, ?)",
                    [(rid, "magnetization", npy(np.arange(50.0) * scale)),
                     (rid, "energy", npy(np.array(scale)))])

if mode == "lock":
    lock = open(os.path.join(folder, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    lock.write(f"pid {os.getpid()} on {os.uname().nodename}\n")  # as the writer writes it
    lock.flush()
con = sqlite3.connect(os.path.join(folder, "batch.sqlite"), isolation_level=None)
con.execute("PRAGMA synchronous=FULL")
if done_id != "-":
    con.execute("BEGIN IMMEDIATE")
    finish(con, done_id, 0.5)
    con.execute("COMMIT")
con.execute("BEGIN IMMEDIATE")
finish(con, open_id, 0.25)
if mode == "lock":
    con.execute("INSERT INTO arrays VALUES ((SELECT idx FROM runs WHERE id = ?), 'big', ?)",
                (open_id, os.urandom(8 << 20)))
print("started", flush=True)
if mode == "lock":
    while True:
        time.sleep(60)
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.01)
con.execute("COMMIT")
print("committed", flush=True)
"""


def same_value(a, b):
    """Equal, NaN equal to NaN, None equal to NaN (an empty cell)."""
    def empty(v):
        return v is None or (isinstance(v, float) and math.isnan(v))
    return (empty(a) and empty(b)) or (not empty(a) and not empty(b) and a == b)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def store(statuses=None, **kwargs):
    tmp = tempfile.TemporaryDirectory()
    folder = os.path.join(tmp.name, "sweep.batch")
    args = {} if statuses is None else {"statuses": statuses}
    made = batch_testing.make_store(folder, **args, **kwargs)
    return tmp, folder, made["runs"]


def test_the_runs_frame_has_one_typed_row_per_run():
    tmp, folder, runs = store()
    with tmp:
        frame = open_batch(folder).runs
        assert list(frame.columns) == COLUMNS, list(frame.columns)
        dtypes = {c: str(t) for c, t in frame.dtypes.items()}
        assert dtypes == {"idx": "int64", "id": "object", "status": "object",
                          "attempts": "int64", "seconds": "float64", "error": "object",
                          "L": "int64", "beta": "float64", "start": "object", "pos": "object",
                          "seed": "int64", "mean_m": "float64", "n": "float64",
                          "reduce.beta": "float64", "reduce.status": "object"}, dtypes
        assert list(frame.index) == list(range(len(runs))) and frame.index.name is None
        assert frame.sort_values("idx").equals(frame)   # idx: a column, not ambiguous
        for run in runs:
            row = frame.loc[run["idx"]]
            p, r = run["params"], run["reduce"] or {}
            expected = {"idx": run["idx"], "id": run["id"], "status": run["status"],
                        "attempts": run["attempts"], "seconds": run["seconds"],
                        "error": run["error"], "L": p["L"], "beta": p["beta"],
                        "start": p["start"], "pos": "pos.npy", "seed": p["seed"],
                        "mean_m": r.get("mean_m"), "n": r.get("n"),
                        "reduce.beta": r.get("beta"), "reduce.status": r.get("status")}
            for column, value in expected.items():
                assert same_value(row[column], value), (run["idx"], column, row[column], value)
        # A fresh frame per access: changing one leaves the next untouched.
        frame.loc[0, "status"] = "changed"
        assert open_batch(folder).runs.loc[0, "status"] == runs[0]["status"]
    # A parameter named like a run column is prefixed "param.".
    tmp, folder, runs = store(("done", "pending"), extra_params={"seconds": 2.5})
    with tmp:
        frame = open_batch(folder).runs
        assert "param.seconds" in frame.columns and list(frame["param.seconds"]) == [2.5, 2.5]
        assert frame.loc[0, "seconds"] == runs[0]["seconds"] and math.isnan(frame.loc[1, "seconds"])
    # No runs at all: the six run columns, typed.
    tmp, folder, _ = store(())
    with tmp:
        frame = open_batch(folder).runs
        assert list(frame.columns) == COLUMNS[:6] and len(frame) == 0
        assert [str(t) for t in frame.dtypes] == ["int64", "object", "object", "int64",
                                                  "float64", "object"]


def test_load_gives_back_the_saved_arrays_bit_for_bit():
    tmp, folder, runs = store()
    with tmp:
        b = open_batch(folder)
        places = set()
        for run in runs:
            if run["status"] != "done":
                continue
            got = b.load(run["id"])
            assert list(got) == ["magnetization", "energy", "spins"], list(got)
            for name, array in run["outputs"].items():
                assert same_bits(got[name], array), (run["id"], name)
            # A scalar output is a 0-d array; float() gives the number.
            energy = run["outputs"]["energy"]
            assert got["energy"].shape == () and float(got["energy"]) == float(energy)
            assert same_bits(b.load(run["idx"])["spins"], run["outputs"]["spins"])  # by idx
            places.add(os.path.exists(os.path.join(folder, "arrays", run["id"], "spins.npy")))
        assert places == {True}   # spins came from files, the others from the arrays table
        assert b.params(runs[0]["id"]) == runs[0]["params"]
        assert b.params(1) == runs[1]["params"]


def test_errors_name_what_is_wrong():
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "nothing.batch")
        expect_raises(FileNotFoundError, lambda: open_batch(missing), missing,
                      "holds no batch.sqlite", "simhost batch SPEC --out DIR")
        expect_raises(FileNotFoundError, lambda: open_batch(tmp), tmp,
                      "holds no batch.sqlite", "simhost batch SPEC --out DIR")
        expect_raises(FileNotFoundError, lambda: status_text(tmp), "holds no batch.sqlite")
        expect_raises(FileNotFoundError, lambda: export(tmp), "holds no batch.sqlite")

        def folder_with(name, fill):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            fill(os.path.join(d, "batch.sqlite"))
            return d

        def garbage(p):
            with open(p, "wb") as f:
                f.write(b"this is not a database, just text " * 200)

        def sql(*statements):
            def fill(p):
                con = sqlite3.connect(p)
                for s in statements:
                    con.execute(s)
                con.commit()
                con.close()
            return fill

        d = folder_with("garbage", garbage)
        expect_raises(ValueError, lambda: open_batch(d), "is not a simhost batch store")
        expect_raises(ValueError, lambda: open_batch(os.path.join(d, "batch.sqlite")),
                      "is not a simhost batch store")
        d = folder_with("other", sql("CREATE TABLE t (x)"))
        expect_raises(ValueError, lambda: open_batch(d), "not a simhost batch store",
                      "no `batch` table")
        d = folder_with("noformat", sql("CREATE TABLE batch (key TEXT PRIMARY KEY, value TEXT)",
                                        "INSERT INTO batch VALUES ('kernel', 'ising2d')"))
        expect_raises(ValueError, lambda: open_batch(d), "no format key")
        d = folder_with("newer", sql("CREATE TABLE batch (key TEXT PRIMARY KEY, value TEXT)",
                                     "INSERT INTO batch VALUES ('format', '2')"))
        expect_raises(ValueError, lambda: open_batch(d), "format 2", "newer", "format 1")

    tmp, folder, runs = store()
    with tmp:
        b = open_batch(folder)
        assert open_batch(os.path.join(folder, "batch.sqlite")).path == b.path  # the file itself
        rid = runs[2]["id"]
        typo = rid[:-1] + ("0" if rid[-1] != "0" else "1")
        e = expect_raises(KeyError, lambda: b.load(typo), typo, "did you mean", rid)
        assert e.args[0].count("'") <= 8, e.args[0]   # at most three suggestions
        expect_raises(KeyError, lambda: b.load(rid[:8]), "did you mean", rid)  # a prefix
        expect_raises(KeyError, lambda: b.params("zz"), "has no run 'zz'")
        expect_raises(KeyError, lambda: b.load(len(runs)), f"no run of idx {len(runs)}")
        expect_raises(TypeError, lambda: b.load(1.5), "id (str) or its idx (int)")
        pending = next(r for r in runs if r["status"] == "pending")
        expect_raises(ValueError, lambda: b.load(pending["id"]), pending["id"], "is pending",
                      "--resume")
        failed = next(r for r in runs if r["status"] == "failed")
        expect_raises(ValueError, lambda: b.load(failed["id"]), failed["id"], "failed",
                      batch_testing.HOOK_ERROR)


def test_counts_failed_provenance_len_and_repr():
    tmp, folder, runs = store()
    with tmp:
        b = open_batch(folder)
        assert b.counts == {"done": 3, "failed": 2, "pending": 1}
        assert list(b.counts) == ["done", "failed", "pending"]
        assert len(b) == 6 and b.kernel == "ising2d"
        assert b.failed == [(r["id"], r["error"]) for r in runs if r["status"] == "failed"]
        assert "kernel=ising2d" in repr(b) and "6 runs: 3 done, 2 failed, 1 pending" in repr(b)
        prov = b.provenance
        assert set(prov) == {"format", "kernel", "seed", "spec_path", "spec_text",
                             "spec_sha256", "outputs", "created", "total", "sessions"}
        assert prov["spec_text"] == batch_testing.SPEC_TEXT and prov["total"] == "6"
        s1, s2 = prov["sessions"]
        assert (s1["session"], s1["host"], s1["threads"], s1["jobs"], s1["ranks"]) == \
            (1, "node-a", 8, 4, 1)
        assert s1["versions"]["sqlite"] == sqlite3.sqlite_version and s1["versions"]["mpi"] is None
        assert s1["plugins"][0]["kernels"] == ["gray_scott"] and s2["plugins"] == []
    tmp, folder, _ = store(("pending", "pending"))
    with tmp:
        assert open_batch(folder).counts == {"done": 0, "failed": 0, "pending": 2}
        assert open_batch(folder).failed == []


def test_export_writes_a_summary_that_read_csv_reads_back():
    import pandas as pd

    tmp, folder, runs = store()
    with tmp:
        before = sha256(os.path.join(folder, "batch.sqlite"))
        path = export(folder)
        assert str(path) == os.path.join(folder, "summary.csv"), path
        assert sorted(os.listdir(folder)) in (
            ["arrays", "batch.sqlite", "summary.csv"],
            ["arrays", "batch.sqlite", "batch.sqlite-shm", "batch.sqlite-wal", "summary.csv"]), \
            os.listdir(folder)   # no temporary file left
        frame = open_batch(folder).runs
        order = [c for c in COLUMNS if c != "error"] + ["error"]
        exact = pd.read_csv(path, float_precision="round_trip")
        assert list(exact.columns) == order, list(exact.columns)
        for column in order:
            for i, (a, b) in enumerate(zip(exact[column], frame[column])):
                assert same_value(a, b), (column, i, a, b)   # multi-line errors included
        assert exact.loc[1, "error"] == batch_testing.HOOK_ERROR
        default = pd.read_csv(path)   # pandas' default float parser: within a rounding
        assert list(default.dtypes) == list(exact.dtypes)
        assert np.allclose(default["beta"], frame["beta"], rtol=1e-15, atol=0)
        # Written again (a replace), and to a file of one's choosing.
        assert export(folder) == path
        other = os.path.join(tmp.name, "elsewhere", "table.csv")
        os.mkdir(os.path.dirname(other))
        assert str(export(folder, file=other)) == other
        assert os.listdir(os.path.dirname(other)) == ["table.csv"]
        with open(other, "rb") as f, open(path, "rb") as g:
            assert f.read() == g.read()
        # Reading never changes the store.
        open_batch(folder).runs
        status_text(folder)
        assert sha256(os.path.join(folder, "batch.sqlite")) == before
    tmp, folder, _ = store(())
    with tmp:
        with open(export(folder)) as f:
            assert f.read() == ",".join(COLUMNS[:5] + ["error"]) + "\n"


def reference_table(folder):
    """The run table as docs/batches.md defines it, computed here with sqlite3, json and
    Python's own types: the independent reference of the native reader."""
    con = sqlite3.connect(os.path.join(folder, "batch.sqlite"))
    rows = con.execute("SELECT idx, id, status, attempts, seconds, error, params, reduce "
                       "FROM runs ORDER BY idx").fetchall()
    con.close()
    params = [json.loads(r[6]) if r[6] else {} for r in rows]
    reduces = [json.loads(r[7]) if r[7] else {} for r in rows]
    reduces = [r if isinstance(r, dict) else {} for r in reduces]
    pnames = list(dict.fromkeys(k for p in params for k in p))
    rnames = list(dict.fromkeys(k for r in reduces for k in r))
    fixed = ["idx", "id", "status", "attempts", "seconds", "error"]
    pcols = ["param." + n if n in fixed else n for n in pnames]
    rcols = ["reduce." + n if n in fixed + pcols else n for n in rnames]

    def cell(v):
        if isinstance(v, dict) and isinstance(v.get("npy"), str):
            return v["npy"]
        if isinstance(v, (dict, list)):
            return json.dumps(v, separators=(",", ":"), sort_keys=True)
        return v

    table = [list(r[:6]) + [cell(p.get(n)) for n in pnames] + [cell(q.get(n)) for n in rnames]
             for r, p, q in zip(rows, params, reduces)]
    return fixed + pcols + rcols, table


def test_summary_csv_is_byte_for_byte_what_pythons_csv_module_writes():
    import csv
    import io

    tmp, folder, _ = store(extra_params={"grid": [1, {"b": 2, "a": 1}], "note": "x,y"})
    with tmp:
        tricky = [{"text": 'say "hi", then\nleave', "flag": True, "none": None, "tiny": 1e-05,
                   "whole": 100.0, "huge": 1e16, "neg": -0.0, "big": 2 ** 62, "many": [1, 2]},
                  {"flag": False, "text": " lead\rcr", "tiny": 123456789.123, "extra": "é"},
                  "not an object"]
        con = sqlite3.connect(os.path.join(folder, "batch.sqlite"), isolation_level=None)
        for idx, value in enumerate(tricky):
            con.execute("UPDATE runs SET reduce = ? WHERE idx = ?", (json.dumps(value), idx))
        con.close()
        columns, table = reference_table(folder)
        order = [c for c in columns if c != "error"] + ["error"]
        pick = [columns.index(c) for c in order]
        want = io.StringIO(newline="")
        w = csv.writer(want)
        w.writerow(order)
        for row in table:
            w.writerow(["" if row[i] is None else row[i] for i in pick])
        with open(export(folder), "rb") as f:
            got = f.read()
        assert got == want.getvalue().encode(), (got[:600], want.getvalue()[:600])
        # The frame holds the same cells, with the same column names.
        frame = open_batch(folder).runs
        assert list(frame.columns) == columns, list(frame.columns)
        for j, name in enumerate(columns):
            for i, row in enumerate(table):
                assert same_value(frame[name].iloc[i], row[j]), (name, i, frame[name].iloc[i], row[j])


def test_export_and_status_need_no_pandas():
    tmp, folder, runs = store()
    with tmp:
        code = ("import sys\n"
                "import simhost._batch as b\n"
                "assert 'pandas' not in sys.modules, 'importing simhost._batch imported pandas'\n"
                "sys.modules['pandas'] = None  # import pandas fails from here on\n"
                "print(b.export(sys.argv[1]))\n"
                "print(b.status_text(sys.argv[1]))\n"
                "try:\n    b.open_batch(sys.argv[1]).runs\n"
                "except ImportError:\n    print('runs needs pandas')\n")
        p = subprocess.run([SIMHOST, "-c", code, folder], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(os.path.join(folder, "summary.csv") + "\n"), p.stdout
        assert "6 runs: 3 done, 2 failed, 1 pending" in p.stdout, p.stdout
        assert p.stdout.rstrip().endswith("runs needs pandas"), p.stdout
        with open(os.path.join(folder, "summary.csv")) as f:
            assert len(f.read().splitlines()) > len(runs)


def test_status_text_shows_counts_sessions_and_failed_runs():
    tmp, folder, runs = store()
    with tmp:
        text = status_text(folder)
        lines = text.splitlines()
        assert lines[0] == f"batch {folder}", lines
        assert "kernel ising2d, 6 runs: 3 done, 2 failed, 1 pending" in lines, lines
        assert "writer: none" in lines, lines
        assert any("2026-03-01T10:00:00Z to 2026-03-01T10:05:00Z" in line and "host node-a" in line
                   and "threads 8" in line and "jobs 4" in line and "ranks 1" in line
                   for line in lines), text
        assert any("host node-b" in line and "threads 16" in line and "ranks 2" in line
                   for line in lines), text
        f1, f2 = [r for r in runs if r["status"] == "failed"]
        # The first line of an error; for a bare traceback, its last line (the exception).
        assert f"  {f1['id']}  reduce hook reduce.py:summary raised ValueError: no magnetization" \
            in lines, text
        assert f"  {f2['id']}  ZeroDivisionError: division by zero" in lines, text
        assert "Traceback" not in text and "more" not in text
    # At most 20 failed runs listed, then how many more.
    tmp, folder, runs = store(("failed",) * 25 + ("done",))
    with tmp:
        text = status_text(folder)
        failed = [r["id"] for r in runs if r["status"] == "failed"]
        shown = [rid for rid in failed if rid in text]
        assert shown == failed[:20], (len(shown), text)
        assert "  ... and 5 more" in text.splitlines(), text
        assert "26 runs: 1 done, 25 failed, 0 pending" in text
    # A session that never ended, no writer: the batch was killed.
    tmp, folder, _ = store(ended=False)
    with tmp:
        with open(os.path.join(folder, ".lock"), "w") as f:
            f.write("4242\n")   # a lock file nobody holds: a writer that is gone
        text = status_text(folder)
        assert "writer: none; session 2 never ended" in text and "pid 4242" not in text, text
        assert "2026-03-02T09:00:00Z to (no end)" in text, text


def test_reads_go_on_while_a_writer_holds_a_write_transaction():
    tmp, folder, runs = store()
    with tmp:
        pending = next(r for r in runs if r["status"] == "pending")
        child = simhost_testing.Child([PYTHON, "-c", WRITER, folder, "go", "-", pending["id"]])
        try:
            child.wait_started()   # its write transaction is open now
            b = open_batch(folder)
            for read in (lambda: b.counts, lambda: b.runs, lambda: status_text(folder),
                         lambda: export(folder), lambda: b.load(runs[0]["id"])):
                t0 = time.monotonic()
                read()
                took = time.monotonic() - t0
                assert took < READ_WHILE_WRITING_S, f"a read waited {took:.2f} s for the writer"
            # The open transaction is invisible.
            assert b.counts == {"done": 3, "failed": 2, "pending": 1}
            assert b.runs.loc[pending["idx"], "status"] == "pending"
            expect_raises(ValueError, lambda: b.load(pending["id"]), "is pending")
            open(os.path.join(folder, "go"), "w").close()
            assert child.next_line(simhost_testing.Child.START_LIMIT_S)[1] == "committed"
            # Committed: the same Batch sees it.
            assert b.counts == {"done": 4, "failed": 2, "pending": 0}
            got = b.load(pending["id"])
            assert same_bits(got["magnetization"], np.arange(50.0) * 0.25)
            assert got["energy"].shape == () and float(got["energy"]) == 0.25
            assert b.runs.loc[pending["idx"], "mean_m"] == 0.25
        finally:
            child.kill()


def test_a_killed_writer_leaves_its_commits_readable_and_its_lock_free():
    tmp, folder, runs = store(("done", "pending", "pending", "failed"), ended=False)
    with tmp:
        first, second = runs[1], runs[2]
        child = simhost_testing.Child([PYTHON, "-c", WRITER, folder, "lock", first["id"],
                                       second["id"]])
        try:
            child.wait_started()
            text = status_text(folder)
            assert f"writer: running (pid {child.proc.pid} on " in text, text
            assert "2026-03-02T09:00:00Z to (running)" in text, text
            # Uncommitted pages of the open transaction are in the WAL already (most of 8 MiB).
            assert os.path.getsize(os.path.join(folder, "batch.sqlite-wal")) > 4 << 20
        finally:
            child.kill()   # SIGKILL, its transaction open
        b = open_batch(folder)
        assert b.counts == {"done": 2, "failed": 1, "pending": 1}, b.counts
        assert same_bits(b.load(first["id"])["magnetization"], np.arange(50.0) * 0.5)
        expect_raises(ValueError, lambda: b.load(second["id"]), "is pending")
        assert list(b.runs["status"]) == ["done", "done", "pending", "failed"]
        text = status_text(folder)
        assert "writer: none; session 2 never ended" in text and "running" not in text, text
        export(folder)


TESTS = [
    test_the_runs_frame_has_one_typed_row_per_run,
    test_load_gives_back_the_saved_arrays_bit_for_bit,
    test_errors_name_what_is_wrong,
    test_counts_failed_provenance_len_and_repr,
    test_export_writes_a_summary_that_read_csv_reads_back,
    test_summary_csv_is_byte_for_byte_what_pythons_csv_module_writes,
    test_export_and_status_need_no_pandas,
    test_status_text_shows_counts_sessions_and_failed_runs,
    test_reads_go_on_while_a_writer_holds_a_write_transaction,
    test_a_killed_writer_leaves_its_commits_readable_and_its_lock_free,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
