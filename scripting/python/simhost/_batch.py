"""Reading a batch store back: simhost.open_batch(), `simhost batch status`, summary.csv.

A batch folder holds batch.sqlite (WAL mode), arrays/<run id>/<output>.npy for large outputs,
summary.csv and .lock (docs: the batch contract). Everything here only reads the store, through
read-only SQLite connections, so it works while the batch still runs (a WAL reader sees the last
committed state and never waits for the writer) and after its writer was killed (what was
committed is there; the rest is pending). The one file written is summary.csv, by export().

    b = open_batch("sweep.batch")
    b.counts                 # {"done": 24, "failed": 1, "pending": 0}
    b.runs                   # pandas.DataFrame, one row per run
    b.load(b.runs.id[0])     # {"magnetization": array(...), ...}

pandas is imported only by Batch.runs. The run table (Batch.runs, summary.csv) is read by the
native core (read_run_table in the store's C++), so the CSV and the DataFrame have one source.
"""

import json
import operator
import os
import sqlite3
from pathlib import Path

from simhost import _core

#: The newest store format this module reads (the batch table's "format" key).
FORMAT = 1

STORE_NAME = "batch.sqlite"
LOCK_NAME = ".lock"
SUMMARY_NAME = "summary.csv"
STATUSES = ("done", "failed", "pending")
#: Columns of every run, before its parameters and reduce values.
RUN_COLUMNS = ("idx", "id", "status", "attempts", "seconds", "error")
#: At most this many failed runs are listed by status_text().
STATUS_FAILED_SHOWN = 20

_TABLES = ("batch", "sessions", "runs", "arrays")
_HINT = "run `simhost batch SPEC --out DIR` first"
_TRACEBACK_HEAD = "Traceback (most recent call last)"


def _locate(path):
    """(batch folder, store file) for a batch folder or its batch.sqlite."""
    p = Path(os.path.abspath(os.fspath(path)))
    if p.is_file():
        return p.parent, p
    if not p.is_dir():
        raise FileNotFoundError(f"{p} holds no {STORE_NAME}: there is no such folder ({_HINT})")
    store = p / STORE_NAME
    if not store.is_file():
        raise FileNotFoundError(f"{p} holds no {STORE_NAME}, so it is not a batch folder ({_HINT})")
    return p, store


def _connect(store):
    """A read-only connection in autocommit mode (reads see the last commit; _snapshot() groups
    several reads into one read transaction)."""
    from urllib.parse import quote

    # timeout: a reader waits only while a WAL index is being rebuilt after a crash.
    return sqlite3.connect(f"file:{quote(str(store))}?mode=ro", uri=True, timeout=10.0,
                           isolation_level=None, check_same_thread=False)


class _Reader:
    """A connection for one operation, closed after it; `with` it as a read transaction."""

    def __init__(self, store):
        self.con = _connect(store)

    def __enter__(self):
        try:
            self.con.execute("BEGIN")  # deferred: one consistent snapshot for what follows
        except BaseException:
            self.con.close()
            raise
        return self.con

    def __exit__(self, *exc):
        try:
            if self.con.in_transaction:
                self.con.execute("COMMIT")
        finally:
            self.con.close()


def _check_store(store):
    """Raises ValueError unless `store` is a simhost batch store of a format read here; returns
    the batch table as a dict."""
    what = f"{store} is not a simhost batch store"
    try:
        with _Reader(store) as con:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "batch" not in tables:
                raise ValueError(f"{what}: it has no `batch` table")
            meta = dict(con.execute("SELECT key, value FROM batch"))
    except sqlite3.DatabaseError as e:  # not SQLite at all ("file is not a database")
        raise ValueError(f"{what}: {e}") from None
    if "format" not in meta:
        raise ValueError(f"{what}: its `batch` table has no format key")
    fmt = meta["format"]
    try:
        newer = int(fmt) > FORMAT
    except ValueError:
        raise ValueError(f"{what}: its format {fmt!r} is not a number") from None
    if newer:
        raise ValueError(f"{store} is a batch store of format {fmt}, newer than this simhost "
                         f"reads (format {FORMAT}): read it with a newer simhost")
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise ValueError(f"{what}: it lacks the table(s) {', '.join(missing)}")
    return meta


def _counts(con):
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"):
        counts[status] = n
    return counts


def _sessions(con):
    cur = con.execute("SELECT * FROM sessions ORDER BY session")
    names = [d[0] for d in cur.description]
    sessions = []
    for row in cur:
        s = dict(zip(names, row))
        for key in ("versions", "plugins"):
            if isinstance(s.get(key), str):
                try:
                    s[key] = json.loads(s[key])
                except ValueError:
                    pass  # kept as the text the store holds
        sessions.append(s)
    return sessions


def _headline(error):
    """The line of an error message that says what happened: its first line, or for a bare
    Python traceback its last (the exception)."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith(_TRACEBACK_HEAD) else lines[0].strip()


class Batch:
    """A batch store, read back. Each attribute reads the store afresh, so a Batch opened while
    its batch runs shows the runs committed since.

    ``path`` the batch folder; ``kernel`` the kernel's name; ``runs`` a pandas DataFrame of
    every run; ``counts`` the number of runs by status; ``failed`` (id, error) of the failed
    runs; ``provenance`` the batch table and its sessions; ``load(id)`` a run's outputs;
    ``params(id)`` its parameters; ``len()`` the number of runs.
    """

    def __init__(self, path):
        self.path, self._store = _locate(path)
        self._meta = _check_store(self._store)

    @property
    def kernel(self):
        return self._meta.get("kernel")

    @property
    def runs(self):
        """A pandas DataFrame, one row per run in run order, indexed by idx: the columns idx,
        id, status, attempts, seconds (of the last attempt, NaN while pending) and error (None
        unless failed), then one per parameter (an array parameter as its .npy file name),
        then one per key of the reduce hook's result (NaN or None where a run has none). A
        parameter named like one of the first six columns is "param.<name>", a reduce key named
        like a column before it "reduce.<name>"."""
        import numpy as np
        import pandas as pd

        columns, values = _core._batch_table(str(self._store))
        cols = dict(zip(columns, values))
        idx = np.array(cols["idx"], dtype=np.int64)
        data = {}
        for name, values in cols.items():
            if name in ("idx", "attempts"):
                data[name] = np.array(values, dtype=np.int64)
            elif name == "seconds":
                data[name] = np.array([np.nan if v is None else v for v in values], np.float64)
            elif name in ("id", "status", "error") or not values:
                data[name] = pd.Series(values, index=idx, dtype=object)
            else:  # parameters and reduce values: the dtype their values have
                data[name] = pd.Series(values, index=idx)
        # The index holds idx but is unnamed: a name equal to the column would make
        # sort_values("idx") or groupby("idx") ambiguous.
        return pd.DataFrame(data, index=pd.Index(idx), columns=columns)

    @property
    def counts(self):
        """{"done": n, "failed": n, "pending": n} (and any other status the store holds)."""
        with _Reader(self._store) as con:
            return _counts(con)

    @property
    def failed(self):
        """[(run id, error message)] of the failed runs, in run order."""
        with _Reader(self._store) as con:
            return [tuple(r) for r in con.execute(
                "SELECT id, error FROM runs WHERE status = 'failed' ORDER BY idx")]

    @property
    def provenance(self):
        """The batch table (format, kernel, seed, spec_path, spec_text, spec_sha256, outputs,
        created, total: as the text the store holds) and "sessions": one dict per start of
        the batch (session, started, ended, host, threads, jobs, ranks, command, versions,
        plugins; versions and plugins decoded from JSON)."""
        with _Reader(self._store) as con:
            prov = dict(con.execute("SELECT key, value FROM batch"))
            prov["sessions"] = _sessions(con)
        return prov

    def __len__(self):
        with _Reader(self._store) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def __repr__(self):
        c = self.counts
        n = sum(c.values())
        rest = ", ".join(f"{v} {k}" for k, v in c.items())
        return f"<simhost.Batch {str(self.path)!r} kernel={self.kernel}: {n} runs: {rest}>"

    def _row(self, con, run_id, columns):
        """The run's row (columns given) by id, or by idx for an int; KeyError if none."""
        if isinstance(run_id, str):
            row = con.execute(f"SELECT {columns} FROM runs WHERE id = ?", (run_id,)).fetchone()
        else:
            try:
                if isinstance(run_id, bool):
                    raise TypeError
                idx = operator.index(run_id)
            except TypeError:
                raise TypeError(f"a run is named by its id (str) or its idx (int), not "
                                f"{type(run_id).__name__}") from None
            row = con.execute(f"SELECT {columns} FROM runs WHERE idx = ?", (idx,)).fetchone()
        if row is None:
            raise KeyError(self._unknown(con, run_id))
        return row

    def _unknown(self, con, run_id):
        ids = [r[0] for r in con.execute("SELECT id FROM runs ORDER BY idx")]
        if not isinstance(run_id, str):
            return f"batch {self.path} has no run of idx {run_id} (it has {len(ids)} runs)"
        import difflib

        close = [i for i in ids if run_id and i.startswith(run_id)][:3]
        close = close or difflib.get_close_matches(run_id, ids, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        return f"batch {self.path} has no run {run_id!r}{hint}"

    def params(self, run_id):
        """The parameters of one run (id, or idx), as the store holds them: an array parameter
        is {"npy": file name, "sha256": ...}."""
        with _Reader(self._store) as con:
            return json.loads(self._row(con, run_id, "params")[0])

    def load(self, run_id):
        """The outputs of one finished run (id, or idx): {output name: numpy array}, a scalar
        output as a 0-d array (float(a) gives the number). ValueError for a run that is not
        done, KeyError for an id the batch does not have."""
        import io

        import numpy as np

        with _Reader(self._store) as con:
            idx, rid, status, error, outputs = self._row(con, run_id,
                                                         "idx, id, status, error, outputs")
            if status != "done":
                if status == "failed":
                    raise ValueError(f"run {rid} failed, so it has no outputs: {error}")
                raise ValueError(f"run {rid} is {status}: it has no outputs yet (the batch has "
                                 f"not run it; `simhost batch SPEC --resume` does)")
            where = json.loads(outputs) if outputs else {}
            blobs = dict(con.execute("SELECT name, npy FROM arrays WHERE idx = ?", (idx,)))
        result = {}
        for name, place in where.items():
            if place == "db":
                if name not in blobs:
                    raise ValueError(f"the store {self._store} lacks the array of output "
                                     f"{name!r} of run {rid}")
                result[name] = np.load(io.BytesIO(blobs[name]), allow_pickle=False)
            else:
                file = self.path / place
                if not file.is_file():
                    raise FileNotFoundError(f"output {name!r} of run {rid} should be in {file}, "
                                            f"which does not exist")
                result[name] = np.load(file, allow_pickle=False)
        return result


def open_batch(path):
    """The batch store in folder `path` (or the batch.sqlite file itself), to read: a Batch.
    FileNotFoundError when there is none, ValueError for a file that is not a simhost batch
    store or one of a newer format."""
    return Batch(path)


def _lock_holder(folder):
    """The text the writer wrote into .lock (its pid) while a writer holds the lock; None when
    none does."""
    import fcntl

    try:
        f = open(folder / LOCK_NAME, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = f.read(200).decode("utf-8", "replace").strip()
            return text.splitlines()[0] if text else "unknown"
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def status_text(path):
    """What `simhost batch status DIR` prints: the folder, the kernel, the runs by status,
    whether a writer runs the batch now, its sessions and its failed runs."""
    batch = open_batch(path)
    with _Reader(batch._store) as con:
        counts = _counts(con)
        sessions = _sessions(con)
        failed = con.execute("SELECT id, error FROM runs WHERE status = 'failed' "
                             "ORDER BY idx LIMIT ?", (STATUS_FAILED_SHOWN,)).fetchall()
    holder = _lock_holder(batch.path)
    total = sum(counts.values())
    lines = [f"batch {batch.path}",
             f"kernel {batch.kernel}, {_plural(total, 'run')}: "
             + ", ".join(f"{n} {status}" for status, n in counts.items())]
    if holder is not None:
        lines.append(f"writer: running ({holder})")
    elif sessions and sessions[-1].get("ended") is None:
        lines.append(f"writer: none; session {sessions[-1]['session']} never ended (killed?): "
                     f"`simhost batch SPEC --resume` goes on with the pending runs")
    else:
        lines.append("writer: none")
    lines.append(f"{_plural(len(sessions), 'session')}:" if sessions else "sessions: none")
    for i, s in enumerate(sessions):
        if s.get("ended") is not None:
            end = s["ended"]
        else:
            end = "(running)" if holder is not None and i == len(sessions) - 1 else "(no end)"
        parts = [f"  {s.get('session')}: {s.get('started')} to {end}", f"host {s.get('host')}"]
        for key in ("threads", "jobs", "ranks"):
            if s.get(key) is not None:
                parts.append(f"{key} {s[key]}")
        lines.append(", ".join(parts))
    if counts.get("failed"):
        lines.append(f"failed runs ({counts['failed']}):")
        for rid, error in failed:
            lines.append(f"  {rid}  {_headline(error)}")
        if counts["failed"] > len(failed):
            lines.append(f"  ... and {counts['failed'] - len(failed)} more")
    return "\n".join(lines) + "\n"


def export(path, file=None):
    """Writes the run table as CSV to `file` (default DIR/summary.csv), replacing it at once
    (written to a temporary name in the same folder, then renamed); returns its Path. Columns:
    idx, id, status, attempts, seconds, the parameters, the reduce keys (named as in
    Batch.runs), error; an empty cell where a run has no value."""
    batch = open_batch(path)
    target = Path(os.path.abspath(os.fspath(file))) if file is not None else (
        batch.path / SUMMARY_NAME)
    _core._batch_export(str(batch._store), str(target))
    return target
