"""Child process for test_supervision.py: runs a kernel for minutes until Ctrl-C arrives.

    simhost _interrupt_child.py caught     catches KeyboardInterrupt, prints "interrupted",
                                           then runs a short call and prints its result
    simhost _interrupt_child.py uncaught   lets KeyboardInterrupt end the process

Every line is flushed at once: the parent times the lines as they arrive.
"""

import signal
import sys
import time

import numpy as np


def long_inputs():
    # N = 20000 bodies for 10000 steps: minutes of work, ~0.5 s per step on two cores.
    rng = np.random.default_rng(7)
    n = 20000
    return dict(pos=rng.standard_normal((n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1.0 / n),
                dt=1e-4, steps=10000)


def short_inputs():
    rng = np.random.default_rng(3)
    n = 256
    return dict(pos=rng.standard_normal((n, 3)), vel=0.1 * rng.standard_normal((n, 3)),
                mass=rng.uniform(0.5, 1.5, n), dt=1e-3, steps=10)


def say(*words):
    print(*words, flush=True)


def main():
    import simhost

    mode = sys.argv[1]
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        say("sigint-handler", repr(signal.getsignal(signal.SIGINT)))
    long = long_inputs()
    say("started")
    if mode == "uncaught":
        simhost.kernels.nbody(**long)
        say("finished")  # minutes later: the test has failed by then
        return 0
    try:
        simhost.kernels.nbody(**long)
        say("finished")
    except KeyboardInterrupt:
        say("interrupted")
    t0 = time.monotonic()
    r = simhost.kernels.nbody(**short_inputs())
    seconds = time.monotonic() - t0
    say("followup", f"{seconds:.6f}", r.energy.tobytes().hex(), r.pos.tobytes().hex())
    return 0


if __name__ == "__main__":
    sys.exit(main())
