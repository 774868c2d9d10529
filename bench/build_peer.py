"""A timing worker for `bench/run.py --native-build DIR`: serves run.py's calls in a process
of one build of simhost (two builds cannot share a process). run.py starts two, alike: one
in DIR's host binary (the -march=native build), one in its own build (the dispatched one).

    DIR/bin/simhost bench/build_peer.py      (started by run.py, not by hand)

Protocol: pickled requests on stdin, one pickled reply each on stdout (anything printed goes
to stderr): ("hello",) -> {"cpu", "version"}; ("load", kernel, threads, warm_inputs, inputs)
sets the thread count, runs the warm-up call and keeps the inputs -> {"threads"}; ("time",)
runs the kept call once -> {"wall", "kernel_seconds"} (wall clock around simhost.run, as
run.py times the dispatched build); ("outputs", names) -> {name: array} of the last call;
("quit",). A failure replies {"error": text}.
"""

import pickle
import sys
import time
import traceback

import numpy as np

import simhost
import simhost._core


def serve(inp, out):
    state = {}
    while True:
        try:
            req = pickle.load(inp)
        except EOFError:
            return 0
        op = req[0]
        try:
            if op == "quit":
                return 0
            if op == "hello":
                reply = {"cpu": simhost._core._library_versions().get("cpu"),
                         "version": simhost.__version__}
            elif op == "load":
                _, kernel, threads, warm, inputs = req
                simhost.set_threads(threads)
                simhost.run(kernel, **warm)
                state = {"kernel": kernel, "inputs": inputs}
                reply = {"threads": simhost.get_threads()}
            elif op == "time":
                t0 = time.perf_counter()
                res = simhost.run(state["kernel"], **state["inputs"])
                wall = time.perf_counter() - t0
                state["result"] = res
                reply = {"wall": wall, "kernel_seconds": float(res.seconds)}
            elif op == "outputs":
                reply = {n: np.asarray(getattr(state["result"], n)) for n in req[1]}
            else:
                reply = {"error": f"unknown request {op!r}"}
        except Exception:  # reported to run.py, which stops with the message
            reply = {"error": traceback.format_exc()}
        pickle.dump(reply, out)
        out.flush()


if __name__ == "__main__":
    channel = sys.stdout.buffer
    sys.stdout = sys.stderr
    sys.exit(serve(sys.stdin.buffer, channel))
