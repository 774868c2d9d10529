"""Batch stores written by the schema with the standard library's sqlite3, for tests of the read
side (simhost._batch) that must not depend on the batch engine.

make_store() writes DIR/batch.sqlite exactly as the batch contract lays it out: the four tables,
WAL mode, runs done (outputs in the arrays table and, above 128 KiB, in arrays/<id>/<name>.npy,
written with np.save), failed (an error message) and pending. It returns what it wrote, so a test
compares what it reads with what was saved.
"""

import hashlib
import io
import json
import os
import sqlite3

import numpy as np

SCHEMA = """
CREATE TABLE batch (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
  session INTEGER PRIMARY KEY,
  started TEXT, ended TEXT,
  host TEXT, threads INTEGER, jobs INTEGER, ranks INTEGER, command TEXT,
  versions TEXT,
  plugins TEXT
);
CREATE TABLE runs (
  idx INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  seconds REAL,
  error TEXT,
  reduce TEXT,
  outputs TEXT,
  session INTEGER,
  finished TEXT
);
CREATE TABLE arrays (idx INTEGER NOT NULL, name TEXT NOT NULL, npy BLOB NOT NULL,
                     PRIMARY KEY (idx, name)) WITHOUT ROWID;
"""

#: Outputs larger than this go to files (the contract's 128 KiB).
FILE_THRESHOLD = 128 * 1024
KERNEL = "ising2d"
SPEC_TEXT = 'kernel = "ising2d"\n[params]\nL = 16\npos = { npy = "pos.npy" }\n' \
            '[grid]\nbeta = { linspace = [0.3, 0.6, 6] }\n'
#: The error of the first failed run: a hook's message with its traceback after it.
HOOK_ERROR = ("reduce hook reduce.py:summary raised ValueError: no magnetization\n"
              "Traceback (most recent call last):\n"
              '  File "reduce.py", line 4, in summary\n'
              "    raise ValueError('no magnetization')\n"
              "ValueError: no magnetization")
#: The error of the second: a bare Python traceback, whose last line says what happened.
TRACEBACK_ERROR = ("Traceback (most recent call last):\n"
                   '  File "inputs.py", line 2, in arrays\n'
                   "ZeroDivisionError: division by zero")
POS_SHA256 = hashlib.sha256(b"pos.npy bytes").hexdigest()


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def run_id(params):
    """A run id made the contract's way (the first 20 hex digits of SHA-256 of the JSON of
    kernel and parameters, an array as the SHA-256 of its file): unique and stable, which is
    all the read side relies on; the engine's canonical JSON is its own to define."""
    params = {k: ({"npy": v["sha256"]} if isinstance(v, dict) else v) for k, v in params.items()}
    text = json.dumps({"kernel": KERNEL, "params": dict(sorted(params.items()))},
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def make_store(folder, statuses=("done", "failed", "done", "pending", "failed", "done"),
               ended=True, extra_params=None):
    """Writes folder/batch.sqlite (and arrays/ for large outputs) with one run per entry of
    `statuses`; ended=False leaves the last session without an end time, as a killed writer
    does; extra_params are added to every run's parameters. Returns {"runs": [dict per run:
    idx, id, status, attempts, seconds, error, params, reduce, outputs (name -> array, done
    runs only)], "store": path}."""
    os.makedirs(folder, exist_ok=True)
    store = os.path.join(folder, "batch.sqlite")
    con = sqlite3.connect(store, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.executescript(SCHEMA)
    con.execute("BEGIN")
    meta = {"format": "1", "kernel": KERNEL, "seed": "2026", "spec_path": "/specs/sweep.toml",
            "spec_text": SPEC_TEXT, "spec_sha256": hashlib.sha256(SPEC_TEXT.encode()).hexdigest(),
            "outputs": json.dumps(["magnetization", "energy", "spins"]),
            "created": "2026-03-01T10:00:00Z", "total": str(len(statuses))}
    con.executemany("INSERT INTO batch VALUES (?, ?)", meta.items())
    versions = {"simhost": "0.9.0", "python": "3.11.2", "numpy": "1.24.2", "tbb": "2021.8",
                "eigen": "3.4.0", "sqlite": sqlite3.sqlite_version, "mpi": None}
    plugins = [{"file": "/opt/plugins/libgray.so", "sha256": "ab" * 32, "kernels": ["gray_scott"]}]
    con.execute("INSERT INTO sessions VALUES (1, ?, ?, 'node-a', 8, 4, 1, ?, ?, ?)",
                ("2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z", "simhost batch sweep.toml",
                 json.dumps(versions), json.dumps(plugins)))
    con.execute("INSERT INTO sessions VALUES (2, ?, ?, 'node-b', 16, 2, 2, ?, ?, '[]')",
                ("2026-03-02T09:00:00Z", "2026-03-02T09:01:30Z" if ended else None,
                 "mpirun -n 2 simhost batch sweep.toml --resume", json.dumps(versions)))
    runs = []
    for idx, status in enumerate(statuses):
        beta = float(np.linspace(0.3, 0.6, len(statuses))[idx]) if len(statuses) > 1 else 0.3
        params = {"L": 16, "beta": beta, "start": "hot" if idx % 2 else "cold",
                  "pos": {"npy": "pos.npy", "sha256": POS_SHA256}, "seed": 1000 + idx,
                  **(extra_params or {})}
        rid = run_id(params)
        run = {"idx": idx, "id": rid, "status": status, "params": params, "attempts": 0,
               "seconds": None, "error": None, "reduce": None, "outputs": None}
        where = None
        if status == "done":
            rng = np.random.default_rng(idx)
            outputs = {"magnetization": rng.standard_normal(50),
                       "energy": np.array(-1.5 - idx / 7),  # a scalar output: a 0-d array
                       "spins": rng.integers(-1, 2, (384, 384)).astype(np.int8)}  # 144 KiB
            where = {}
            for name, array in outputs.items():
                data = npy_bytes(array)
                if len(data) > FILE_THRESHOLD:
                    rel = f"arrays/{rid}/{name}.npy"
                    os.makedirs(os.path.join(folder, "arrays", rid), exist_ok=True)
                    np.save(os.path.join(folder, rel), array, allow_pickle=False)
                    where[name] = rel
                else:
                    con.execute("INSERT INTO arrays VALUES (?, ?, ?)", (idx, name, data))
                    where[name] = "db"
            # "beta" and "status" clash with a parameter and a column: "reduce.beta", ...
            reduce = {"mean_m": float(outputs["magnetization"].mean()), "n": 50 + idx,
                      "beta": beta * 2, "status": "ok"}
            run.update(attempts=1, seconds=0.25 + idx, reduce=reduce, outputs=outputs)
        elif status == "failed":
            n_failed = sum(r["status"] == "failed" for r in runs)
            error = HOOK_ERROR if n_failed == 0 else TRACEBACK_ERROR if n_failed == 1 else (
                f"kernel ising2d: run {idx} stopped: timeout after 30 s")
            run.update(attempts=2, seconds=30.5, error=error)
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (idx, rid, json.dumps(params), status, run["attempts"], run["seconds"],
                     run["error"], None if run["reduce"] is None else json.dumps(run["reduce"]),
                     None if where is None else json.dumps(where),
                     None if status == "pending" else 1 + idx % 2,
                     None if status == "pending" else "2026-03-01T10:01:00Z"))
        runs.append(run)
    con.execute("COMMIT")
    con.close()
    return {"runs": runs, "store": store}
