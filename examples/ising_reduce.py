"""The reduce hook of examples/ising_sweep.toml: one ising2d run's time series to a few numbers.

simhost's batch engine calls summary(outputs, params) once per run, with the outputs the spec
keeps (name -> numpy array) and the run's parameters (name -> value), and stores the dict of
floats it returns with the run (they become columns of summary.csv and of
simhost.open_batch(DIR).runs). It needs only NumPy, so it can be tried on its own:

    r = simhost.kernels.ising2d(L=32, beta=0.5, sweeps=4000, seed=1)
    summary({"magnetization": r.magnetization, "energy": r.energy}, r.params)
"""

import math

import numpy as np

BURN_IN = 0.2  # the first 20 % of each run's measurements are left out (equilibration)
BLOCKS = 20  # batch means: the kept series is cut into this many blocks of equal length


def mean_and_error(series, blocks=BLOCKS):
    """Mean of a correlated time series and its standard error by batch means.

    Consecutive sweeps are correlated (strongly near the critical point), so the naive
    std / sqrt(n) is too small; the means of long blocks are nearly independent, and their
    spread gives the error. Samples past the last whole block are left out of both.
    """
    size = len(series) // blocks
    if size < 1:
        raise ValueError(f"need at least {blocks} measurements after the burn-in, "
                         f"got {len(series)}")
    means = series[: size * blocks].reshape(blocks, size).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(blocks))


def summary(outputs, params):
    """<|m|> and <e> per site after the burn-in, each with its within-run standard error.

    ising2d already reports both per site (magnetization = sum s_i / L^2, energy = H / L^2
    in units of J), so no division by L^2 is needed here and `params` goes unused; it is
    the hook's signature. |m| rather than m: on a finite lattice with h = 0 the
    magnetization flips sign now and then, so <m> is 0 at every temperature while <|m|>
    follows the spontaneous magnetization below beta_c.
    """
    m = np.asarray(outputs["magnetization"], dtype=np.float64)
    e = np.asarray(outputs["energy"], dtype=np.float64)
    start = int(BURN_IN * len(m))
    abs_m, abs_m_se = mean_and_error(np.abs(m[start:]))
    energy, energy_se = mean_and_error(e[start:])
    return {"abs_m": abs_m, "abs_m_se": abs_m_se, "energy": energy, "energy_se": energy_se}
