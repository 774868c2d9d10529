"""A Python plugin: a kernel written in Python that composes a built-in kernel and NumPy.

Load it with `simhost --plugin examples/python_plugin/heat_twice.py script.py`, put it in a
SIMHOST_PLUGIN_PATH folder, or call simhost.load_plugin() on it. Then
`simhost.run("heat_twice", u0=..., r=0.2, steps=50)` like any kernel (docs/plugins.md).
"""

import numpy as np

import simhost


@simhost.kernel(
    "Two heat2d runs, the second from where the first ended, and the mean of the result.",
    params=[simhost.Param.array("u0", "ny, nx", unit="temperature", doc="initial field"),
            simhost.Param.float("r", 0.2, above=0, at_most=0.25, doc="mesh ratio alpha dt / h^2"),
            simhost.Param.int("steps", 100, at_least=0, doc="steps of each run")],
    outputs=[simhost.Output.array("u", "ny, nx", unit="temperature", doc="the field at the end"),
             simhost.Output.float("mean", unit="temperature", doc="its mean")],
    example={"u0": np.eye(8), "steps": 3})
def heat_twice(u0, r, steps):
    first = simhost.kernels.heat2d(u0=u0, r=r, steps=steps)
    second = simhost.kernels.heat2d(u0=first.u, r=r, steps=steps)
    return {"u": second.u, "mean": float(second.u.mean())}
