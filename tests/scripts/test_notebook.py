"""A real Jupyter notebook (nbclient + ipykernel) that imports this build's simhost, runs a
kernel with progress=True and a loop in simhost.progress(): its outputs hold the results
and the bars' final state (100%, n/n). Offline and self-contained: the kernelspec, Jupyter's
and IPython's folders and HOME are temporary folders."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import simhost
import simhost_testing

PYTHON = os.environ["SIMHOST_PYTHON"]
PYTHONPATH = os.environ["SIMHOST_PYTHONPATH"]
KERNEL_NAME = "simhost-test"
STEPS = 30
SEEDS = [1, 2, 3, 4]

CELLS = [
    "import json, sys\nimport numpy as np\nimport simhost\n"
    "print(json.dumps({'file': simhost.__file__, 'tqdm': 'tqdm' in sys.modules}))",
    # One call with its own bar.
    "n = 2000\nrng = np.random.default_rng(0)\n"
    "b = dict(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1 / n), "
    "dt=1e-3)\n"
    f"r = simhost.kernels.nbody(**b, steps={STEPS}, progress=True)\n"
    "print(json.dumps({'energy': r.energy.tobytes().hex(), 'tqdm': 'tqdm' in sys.modules}))",
    # A loop of calls with one bar.
    "ex = simhost.describe('mc_asian')['example']\nprices = []\n"
    f"for seed in simhost.progress({SEEDS!r}, desc='seeds'):\n"
    "    prices.append(simhost.kernels.mc_asian(**dict(ex, seed=seed), progress=True).price)\n"
    "print(json.dumps({'prices': prices}))",
]

# Runs in a plain python3 with nbclient: executes the notebook, writes the executed one.
DRIVER = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name=sys.argv[3], timeout=120, startup_timeout=60).execute()
nbformat.write(nb, sys.argv[2])
"""


def write_notebook(path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "simhost (test build)",
                                 "language": "python"}
    nbformat.write(nb, path)


def write_kernelspec(jupyter_path):
    """A kernel that imports this build's simhost: python3 with the build's python folder
    on PYTHONPATH (and, in a sanitizer build, its runtimes preloaded)."""
    folder = os.path.join(jupyter_path, "kernels", KERNEL_NAME)
    os.makedirs(folder)
    env = {"PYTHONPATH": PYTHONPATH, "SIMHOST_PROGRESS": "",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if os.environ.get("SIMHOST_PYTHON_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["SIMHOST_PYTHON_PRELOAD"]
    with open(os.path.join(folder, "kernel.json"), "w") as f:
        json.dump({"argv": [PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "simhost (test build)", "language": "python",
                   "env": env}, f)


def text(o):
    return "".join(o["text"]) if isinstance(o["text"], list) else o["text"]  # lines on disk


def cell_outputs(cell):
    """(the JSON the cell printed, its stderr text)."""
    stdout = "".join(text(o) for o in cell["outputs"]
                     if o["output_type"] == "stream" and o["name"] == "stdout")
    stderr = "".join(text(o) for o in cell["outputs"]
                     if o["output_type"] == "stream" and o["name"] == "stderr")
    errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    return json.loads(stdout), stderr


def final_text_bars(stderr):
    """What the notebook shows of text bars: each line's text after its last carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in stderr.split("\n")]


def widget_texts(nb):
    """With ipywidgets installed (not part of setup.sh) tqdm draws widgets; nbclient keeps their
    final state in the notebook's metadata: (progress values and maxima, label texts)."""
    state = nb["metadata"].get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    bars = [(m["state"].get("value"), m["state"].get("max")) for m in state.values()
            if m.get("model_name") == "FloatProgressModel"]
    labels = [m["state"].get("value", "") for m in state.values()
              if m.get("model_name") == "HTMLModel"]
    return bars, labels


def test_a_notebook_runs_kernels_with_bars_and_shows_them_finished():
    with tempfile.TemporaryDirectory() as tmp:
        jupyter_path = os.path.join(tmp, "jupyter")
        write_kernelspec(jupyter_path)
        source, executed = os.path.join(tmp, "in.ipynb"), os.path.join(tmp, "out.ipynb")
        write_notebook(source)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "IPYTHON", "PYTHONPATH"))}
        env.update(JUPYTER_PATH=jupyter_path, JUPYTER_CONFIG_DIR=os.path.join(tmp, "config"),
                   JUPYTER_DATA_DIR=os.path.join(tmp, "data"),
                   JUPYTER_RUNTIME_DIR=os.path.join(tmp, "runtime"),
                   IPYTHONDIR=os.path.join(tmp, "ipython"), HOME=home,
                   JUPYTER_PLATFORM_DIRS="0")
        t0 = time.monotonic()
        p = subprocess.run([PYTHON, "-c", DRIVER, source, executed, KERNEL_NAME], env=env,
                           capture_output=True, text=True, timeout=100, cwd=tmp)
        elapsed = time.monotonic() - t0
        assert p.returncode == 0, p
        print(f"  the notebook ran in {elapsed:.1f} s")
        with open(executed) as f:
            nb = json.load(f)

    first, second, third = (cell_outputs(c) for c in nb["cells"])
    # The kernel imported this build's simhost, and no tqdm until a bar was drawn.
    assert os.path.dirname(os.path.dirname(first[0]["file"])) == os.path.abspath(PYTHONPATH), \
        first
    assert first[0]["tqdm"] is False and second[0]["tqdm"] is True, (first, second)

    # The values: the same as this process computes with the same build.
    n = 2000
    rng = np.random.default_rng(0)
    b = dict(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1 / n),
             dt=1e-3)
    energy = simhost.kernels.nbody(**b, steps=STEPS).energy
    assert second[0]["energy"] == energy.tobytes().hex(), "nbody energies differ"
    ex = simhost.describe("mc_asian")["example"]
    prices = [simhost.kernels.mc_asian(**dict(ex, seed=s)).price for s in SEEDS]
    assert third[0]["prices"] == prices, (third[0]["prices"], prices)

    bars, labels = widget_texts(nb)
    if importlib.util.find_spec("ipywidgets") is not None and bars:
        assert (STEPS, STEPS) in bars and (len(SEEDS), len(SEEDS)) in bars, bars
        assert any(f"{STEPS}/{STEPS}" in t for t in labels), labels
        assert any(f"{len(SEEDS)}/{len(SEEDS)}" in t for t in labels), labels
        return
    # Text bars (tqdm.auto without ipywidgets): the final state of each bar.
    shown = final_text_bars(second[1])
    assert any(re.search(rf"nbody: 100%.*\b{STEPS}/{STEPS} \[", s) for s in shown), second[1]
    shown = final_text_bars(third[1])
    n_seeds = len(SEEDS)
    assert any(re.search(rf"seeds: 100%.*\b{n_seeds}/{n_seeds} \[", s) for s in shown), \
        third[1]
    assert "mc_asian: " not in third[1], third[1]  # no bar per call: the one loop bar
    assert re.search(r"seeds: .*mc_asian \d+%", third[1]), third[1]  # the calls report into it


TESTS = [test_a_notebook_runs_kernels_with_bars_and_shows_them_finished]

if __name__ == "__main__":
    missing = [m for m in ("nbclient", "nbformat", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if missing:  # a failure, not a skip: setup.sh installs them
        sys.exit(f"test_notebook: missing {', '.join(missing)}: run setup.sh (Debian's "
                 f"python3-nbclient, python3-nbformat, python3-ipykernel)")
    sys.exit(simhost_testing.run(TESTS))
