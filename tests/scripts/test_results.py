"""Results: provenance (checked against independent sources), save/load as one .npz for every
kernel, numpy.load without simhost, pickling across a multiprocessing Pool, clear errors."""

import asyncio
import copy
import datetime
import json
import os
import pickle
import platform
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile

import numpy as np

import simhost
import simhost_testing

SIMHOST = os.environ["SIMHOST_BIN"]
PYTHON = os.environ["SIMHOST_PYTHON"]
PROVENANCE_KEYS = {"simhost", "kernel", "plugin", "params", "seeds", "threads", "cpu", "host",
                   "started", "seconds", "versions"}


def example(name):
    return simhost.describe(name)["example"]


def started_at(prov):
    t = datetime.datetime.fromisoformat(prov["started"])
    assert t.utcoffset() == datetime.timedelta(0), prov["started"]   # UTC
    return t.timestamp()


def check_provenance(r, params, before, after, threads):
    """r's provenance against what the caller knows independently."""
    prov = r.provenance
    assert set(prov) == PROVENANCE_KEYS, sorted(prov)
    # The plugin file for plugin kernels, None for built-in ones.
    source = simhost.describe(r.kernel)["source"]
    plugin = None if source == "built-in" else source.removeprefix("Python ").removeprefix("plugin ")
    assert prov["kernel"] == r.kernel and prov["plugin"] == plugin, (prov["plugin"], source)
    assert prov["simhost"] == simhost.__version__
    assert prov["host"] == socket.gethostname()
    assert prov["threads"] == threads
    libs = simhost._core._library_versions()
    assert prov["cpu"] == libs["cpu"] and prov["cpu"] in ("generic", "avx2", "avx512", "native")
    assert prov["versions"] == {"simhost": simhost.__version__,
                                "python": platform.python_version(),
                                "numpy": np.__version__, "oneTBB": libs["oneTBB"],
                                "Eigen": libs["Eigen"], "pybind11": libs["pybind11"]}
    for name, value in params.items():   # every parameter passed, as used
        used = prov["params"][name]
        assert simhost_testing.same_bits(used, value) if isinstance(value, np.ndarray) \
            else (used == value and type(used) is type(value)), (name, used, value)
    assert set(prov["params"]) == {p["name"] for p in simhost.describe(r.kernel)["params"]}
    is_seeded = any(p["name"] == "seed" for p in simhost.describe(r.kernel)["params"])
    assert prov["seeds"] == ({"seed": prov["params"]["seed"]} if is_seeded else {}), prov
    assert prov["seconds"] == r.seconds
    start = started_at(prov)
    # The call started after `before`, and its kernel ran within [start, after].
    assert before - 1e-3 <= start <= after, (before, start, after)
    assert start + r.seconds <= after + 1e-3, (start, r.seconds, after)


def test_every_kernel_result_has_its_provenance():
    threads = simhost.get_threads()
    for name in simhost.list_kernels():
        params = example(name)
        before = time.time()
        r = simhost.run(name, **params)
        after = time.time()
        check_provenance(r, params, before, after, threads)
    # A seed passed is recorded as a seed; provenance is a new dict each time.
    r = simhost.kernels.mc_asian(**dict(example("mc_asian"), seed=12345))
    assert r.provenance["seeds"] == {"seed": 12345}
    r.provenance["params"]["seed"] = 1
    r.provenance["seeds"].clear()
    assert r.provenance["seeds"] == {"seed": 12345} and r.params["seed"] == 12345


def test_futures_and_arun_results_have_provenance_and_the_budget_set():
    old = simhost.get_threads()
    try:
        simhost.set_threads(1)
        before = time.time()
        f = simhost.submit("nbody", **example("nbody"))
        r = f.result(timeout=60)
        a = asyncio.run(simhost.arun("heat2d", **example("heat2d")))
        after = time.time()
        check_provenance(r, example("nbody"), before, after, 1)
        check_provenance(a, example("heat2d"), before, after, 1)
        early = simhost.run("ising2d", **example("ising2d"))
        simhost.set_threads(2)
        late = simhost.run("ising2d", **example("ising2d"))
        # Made after the change, still the budget each call ran with.
        assert early.provenance["threads"] == 1 and late.provenance["threads"] == 2
    finally:
        simhost.set_threads(old)


def test_pickle_copy_and_deepcopy_keep_the_provenance():
    r = simhost.run("nbody", **example("nbody"))
    prov = r.provenance
    for twin in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        simhost_testing.assert_same_result(twin, r, "copy")
        got = twin.provenance
        assert {k: v for k, v in got.items() if k != "params"} == \
            {k: v for k, v in prov.items() if k != "params"}
        for name, value in prov["params"].items():
            assert simhost_testing.same_bits(got["params"][name], value) \
                if isinstance(value, np.ndarray) else got["params"][name] == value, name


def test_a_result_made_by_hand_has_a_provenance_without_a_start_time():
    r = simhost.Result("mine", {"x": np.arange(3.0), "y": 2.5}, {"n": 3, "seed": 4}, 0.5)
    prov = r.provenance
    assert prov["started"] is None and prov["kernel"] == "mine" and prov["seconds"] == 0.5
    assert prov["seeds"] == {"seed": 4} and prov["threads"] == simhost.get_threads()
    with tempfile.TemporaryDirectory() as tmp:
        r.save(os.path.join(tmp, "mine.npz"))
        q = simhost.load(os.path.join(tmp, "mine.npz"))
    check_same(q, r)
    assert type(q.y) is float and q.provenance["started"] is None
    # One given is kept as given (a copy of it).
    given = dict(prov, host="elsewhere")
    r = simhost.Result("mine", {}, {}, 0.0, provenance=given)
    given["host"] = "changed"
    assert r.provenance["host"] == "elsewhere"


def check_same(q, r):
    """q (loaded) equals r: outputs bit for bit with their types, kernel, params, seconds,
    provenance."""
    assert type(q) is simhost.Result and q.kernel == r.kernel and q.seconds == r.seconds
    simhost_testing.assert_same_result(q, r, r.kernel)
    for name in r:
        assert type(q[name]) is type(r[name]), (name, type(q[name]), type(r[name]))
    assert set(q.params) == set(r.params)
    for name, value in r.params.items():
        if isinstance(value, np.ndarray):
            assert simhost_testing.same_bits(q.params[name], value), name
        else:
            assert q.params[name] == value and type(q.params[name]) is type(value), name
    qp, rp = q.provenance, r.provenance
    assert set(qp["params"]) == set(rp["params"])
    assert {k: v for k, v in qp.items() if k != "params"} == \
        {k: v for k, v in rp.items() if k != "params"}


def test_save_and_load_round_trip_for_every_kernel():
    with tempfile.TemporaryDirectory() as tmp:
        for name in simhost.list_kernels():
            r = simhost.run(name, **example(name))
            path = os.path.join(tmp, f"{name}.npz")
            r.save(path)
            assert sorted(os.listdir(tmp)) == sorted(f"{k}.npz" for k in simhost.list_kernels()
                                                     if k <= name), os.listdir(tmp)  # no temp
            check_same(simhost.load(path), r)
        # mc_asian's outputs are floats: they come back as floats.
        q = simhost.load(os.path.join(tmp, "mc_asian.npz"))
        assert all(type(q[k]) is float for k in q), {k: type(q[k]) for k in q}
        # A path object works; saving again replaces the file.
        import pathlib

        r = simhost.run("nbody", **dict(example("nbody"), steps=3))
        r.save(pathlib.Path(tmp) / "nbody.npz")
        check_same(simhost.load(pathlib.Path(tmp) / "nbody.npz"), r)


READER = """
import json, sys
import numpy as np
assert "simhost" not in sys.modules
f = np.load(sys.argv[1], allow_pickle=False)
prov = json.loads(f["__provenance__"][()])
fmt = json.loads(f["__simhost__"][()])
out = {"files": sorted(f.files), "kernel": prov["kernel"], "host": prov["host"],
       "seed": prov["seeds"].get("seed"), "price": float(f["price"]),
       "price_dtype": str(f["price"].dtype), "format": fmt}
try:
    import simhost
    out["simhost_importable"] = True
except ImportError:
    out["simhost_importable"] = False
print(json.dumps(out))
"""


def test_numpy_reads_a_result_file_without_simhost_or_pickle():
    r = simhost.kernels.mc_asian(**dict(example("mc_asian"), seed=7))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "price.npz")
        r.save(path)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        p = subprocess.run([PYTHON, "-c", READER, path], capture_output=True, text=True,
                           timeout=60, env=env, cwd=tmp)
        assert p.returncode == 0, p
        got = json.loads(p.stdout)
        assert got["simhost_importable"] is False, "the reader must run without simhost"
        assert got["kernel"] == "mc_asian" and got["host"] == socket.gethostname()
        assert got["seed"] == 7 and got["price_dtype"] == "float64"
        assert got["price"] == r.price   # bit for bit through JSON's float repr and .npy
        assert got["files"] == sorted(list(r) + ["__provenance__", "__simhost__"]), got
        assert got["format"]["format"] == "simhost.Result" and got["format"]["version"] == 1
        # An array parameter is its own entry; the JSON names it.
        n = simhost.run("nbody", **example("nbody"))
        n.save(path)
        with np.load(path, allow_pickle=False) as f:
            prov = json.loads(f["__provenance__"][()])
            ref = prov["params"]["pos"]
            assert ref == {"array": "__param__.pos", "dtype": "<f8",
                           "shape": list(n.params["pos"].shape)}, ref
            assert simhost_testing.same_bits(f[ref["array"]], n.params["pos"])


POOL = """
import multiprocessing as mp, sys
import simhost

def call(seed):
    ex = simhost.describe("mc_asian")["example"]
    return simhost.kernels.mc_asian(**dict(ex, seed=seed))

if __name__ == "__main__":
    import pickle, socket
    with mp.Pool(2) as pool:
        results = pool.map(call, [1, 2, 3])
    here = [call(s) for s in [1, 2, 3]]
    for r, h in zip(results, here):
        assert type(r) is simhost.Result, type(r)
        assert dict(r) == dict(h), (dict(r), dict(h))
        p = r.provenance
        assert p["seeds"] == {"seed": h.params["seed"]} and p["kernel"] == "mc_asian", p
        assert p["host"] == socket.gethostname() and p["started"] != h.provenance["started"]
    print("ok", len(results))
"""


def test_a_result_crosses_a_multiprocessing_pool_with_its_provenance():
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "main.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(POOL))
        p = subprocess.run([SIMHOST, script], capture_output=True, text=True, timeout=120,
                           cwd=tmp)
    assert p.returncode == 0 and p.stdout.split() == ["ok", "3"], p


def test_clear_errors_for_bad_paths_and_files():
    expect = simhost_testing.expect_raises
    r = simhost.run("heat2d", **example("heat2d"))
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "field")
        expect(ValueError, lambda: r.save(bare), "must end in .npz", "numpy.savez would append",
               repr(bare))
        expect(TypeError, lambda: r.save(3), "Result.save() expects a path", "got int")
        expect(FileNotFoundError, lambda: r.save(os.path.join(tmp, "no", "x.npz")))
        assert os.listdir(tmp) == []
        r.save(bare + ".npz")
        # load reads exactly the path given; a missing file hints at the .npz next to it.
        e = expect(FileNotFoundError, lambda: simhost.load(bare), "no such file",
                   f"did you mean {bare + '.npz'!r}")
        assert e.filename == bare
        expect(FileNotFoundError, lambda: simhost.load(os.path.join(tmp, "x.npz")),
               "no such file")
        expect(IsADirectoryError, lambda: simhost.load(tmp), "a folder")
        expect(TypeError, lambda: simhost.load(None), "simhost.load() expects a path",
               "NoneType")
        text = os.path.join(tmp, "notes.npz")
        with open(text, "w") as f:
            f.write("hello")
        expect(ValueError, lambda: simhost.load(text), "is not a simhost result",
               "not a .npz file", "b'hell'")
        npy = os.path.join(tmp, "a.npy")
        np.save(npy, np.zeros(3))
        expect(ValueError, lambda: simhost.load(npy), "not a .npz file: a .npy array")
        other = os.path.join(tmp, "other.npz")
        np.savez(other, a=np.zeros(2), b=np.ones(2))
        expect(ValueError, lambda: simhost.load(other), "a .npz file but not a simhost result",
               "'__simhost__'", "entries: a, b")
        broken = os.path.join(tmp, "broken.npz")
        with open(bare + ".npz", "rb") as f:
            head = f.read(100)
        with open(broken, "wb") as f:
            f.write(head)  # a zip archive cut short
        expect(ValueError, lambda: simhost.load(broken), "is not a simhost result")
        # A result file of a later format version is refused with both versions named.
        newer = os.path.join(tmp, "newer.npz")
        with np.load(bare + ".npz", allow_pickle=False) as f:
            entries = {k: f[k] for k in f.files}
        entries["__simhost__"] = np.array(json.dumps(
            dict(json.loads(entries["__simhost__"][()]), version=2)))
        np.savez(newer, **entries)
        expect(ValueError, lambda: simhost.load(newer), "format version 2",
               "reads version 1")
        # A damaged one (an output listed but missing) names what is missing.
        with zipfile.ZipFile(bare + ".npz") as z, zipfile.ZipFile(broken, "w") as out:
            for item in z.namelist():
                if item != "u.npy":
                    out.writestr(item, z.read(item))
        expect(ValueError, lambda: simhost.load(broken), "damaged simhost result", "u")


def test_the_provenance_names_the_cpu_path_forced_by_simhost_cpu():
    code = ("import simhost; r = simhost.run('heat2d', **simhost.describe('heat2d')['example']); "
            "print(r.provenance['cpu'])")
    env = dict(os.environ, SIMHOST_CPU="generic")
    p = subprocess.run([os.environ["SIMHOST_BIN"], "-c", code], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0 and p.stdout == "generic\n", (p.stdout, p.stderr)


TESTS = [
    test_the_provenance_names_the_cpu_path_forced_by_simhost_cpu,
    test_every_kernel_result_has_its_provenance,
    test_futures_and_arun_results_have_provenance_and_the_budget_set,
    test_pickle_copy_and_deepcopy_keep_the_provenance,
    test_save_and_load_round_trip_for_every_kernel,
    test_a_result_made_by_hand_has_a_provenance_without_a_start_time,
    test_numpy_reads_a_result_file_without_simhost_or_pickle,
    test_a_result_crosses_a_multiprocessing_pool_with_its_provenance,
    test_clear_errors_for_bad_paths_and_files,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
