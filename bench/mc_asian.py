"""Reference implementations of the `mc_asian` kernel for the benchmark: NumPy and Numba.

Both simulate exactly what simhost's built-in `mc_asian` does, with their own random numbers
(so results agree statistically, not bit for bit):

  dates      t_k = k T/steps, k = 1..steps (S0 itself is not in the average)
  paths      ln S(t_k) = ln S(t_{k-1}) + (r - sigma^2/2) dt + sigma sqrt(dt) Z_k, exact GBM,
             summed in log space; S(t_k) = exp(ln S(t_k)) at every date
  payoffs    discounted by exp(-r T): asian (mean_k S(t_k) - K)^+, european (S(T) - K)^+,
             geometric (exp(mean_k ln S(t_k)) - K)^+
  antithetic paths in pairs (Z, -Z); statistics over the pair means
  control    price = mean(asian) - beta (mean(geometric) - exact geometric price),
  variate    beta = cov(asian, geometric) / var(geometric) from the same samples

Every function takes the kernel's parameters (S0, K, r, sigma, T, steps, paths, seed,
antithetic, control_variate) and returns (price, stderr, european, european_stderr,
geometric, geometric_stderr), stderr being standard errors of the means.

Numba draws its normals with np.random.standard_normal inside the prange loop (its per-thread
generators), so its result depends on the thread count; NumPy uses one np.random.Generator.
Numba is optional: `HAVE_NUMBA` says whether `numba_mc_asian` exists.
"""

import math

import numpy as np

__all__ = [
    "HAVE_NUMBA",
    "numpy_mc_asian",
    "numba_mc_asian",
    "geometric_asian_call",
    "black_scholes_call",
    "compare",
    "benchmark",
]


def _normal_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black_scholes_call(S0, K, r, sigma, T):
    sd = sigma * math.sqrt(T)
    d1 = (math.log(S0 / K) + (r + 0.5 * sigma**2) * T) / sd
    return S0 * _normal_cdf(d1) - K * math.exp(-r * T) * _normal_cdf(d1 - sd)


def geometric_asian_call(S0, K, r, sigma, T, steps):
    """Exact price of the discrete geometric-average call on dates k T/steps, k = 1..steps:
    ln G is normal with mean ln S0 + (r - sigma^2/2) T (n+1)/(2n) and variance
    sigma^2 T (n+1)(2n+1)/(6 n^2) (Glasserman 2004, Sec. 4.1)."""
    n = float(steps)
    mean = math.log(S0) + (r - 0.5 * sigma**2) * T * (n + 1) / (2 * n)
    sd = sigma * math.sqrt(T * (n + 1) * (2 * n + 1) / (6 * n * n))
    d2 = (mean - math.log(K)) / sd
    return math.exp(-r * T) * (
        math.exp(mean + 0.5 * sd * sd) * _normal_cdf(d2 + sd) - K * _normal_cdf(d2)
    )


def _statistics(asian, european, geometric, control_variate, exact_geometric):
    """Estimates and standard errors from per-sample discounted payoffs."""
    n = asian.size
    se = lambda v: math.sqrt(float(np.var(v, ddof=1)) / n)  # noqa: E731
    price, price_se = float(asian.mean()), se(asian)
    if control_variate:
        g = geometric - geometric.mean()
        var_g = float(g @ g)
        beta = float((asian - asian.mean()) @ g) / var_g if var_g > 0 else 0.0
        adjusted = asian - beta * (geometric - exact_geometric)
        price, price_se = float(adjusted.mean()), se(adjusted)
    return (price, price_se, float(european.mean()), se(european),
            float(geometric.mean()), se(geometric))


def _check(steps, paths, antithetic):
    if antithetic and paths % 2:
        raise ValueError(f"paths must be even with antithetic=True, got {paths}")


# ----------------------------------------------------------------------------------------
# NumPy: blocks of paths, one (block, steps) array of normals at a time
# ----------------------------------------------------------------------------------------

_BLOCK_ELEMENTS = 1 << 20  # normals per block: ~8 MiB per temporary


def numpy_mc_asian(S0, K, r, sigma, T, steps, paths, seed=0, antithetic=False,
                   control_variate=False):
    """Vectorised NumPy reference (np.random.default_rng(seed), cumsum in log space)."""
    _check(steps, paths, antithetic)
    rng = np.random.default_rng(seed)
    dt = T / steps
    drift, vol = (r - 0.5 * sigma * sigma) * dt, sigma * math.sqrt(dt)
    disc = math.exp(-r * T)
    samples = paths // 2 if antithetic else paths
    rows = max(1, _BLOCK_ELEMENTS // steps)
    out = np.empty((3, samples))
    for lo in range(0, samples, rows):
        hi = min(samples, lo + rows)
        z = rng.standard_normal((hi - lo, steps))
        acc = 0.0
        for sign in ((1.0, -1.0) if antithetic else (1.0,)):
            log_ratio = np.cumsum(drift + (sign * vol) * z, axis=1)
            s = np.exp(log_ratio)
            acc = acc + np.stack([
                np.maximum(S0 * s.mean(axis=1) - K, 0.0),
                np.maximum(S0 * s[:, -1] - K, 0.0),
                np.maximum(S0 * np.exp(log_ratio.mean(axis=1)) - K, 0.0),
            ])
        out[:, lo:hi] = disc * acc / (2.0 if antithetic else 1.0)
    return _statistics(out[0], out[1], out[2], control_variate,
                       geometric_asian_call(S0, K, r, sigma, T, steps))


# ----------------------------------------------------------------------------------------
# Numba: prange over paths (or pairs), a plain loop over steps, standard_normal per step
# ----------------------------------------------------------------------------------------

from peers import HAVE_NUMBA, numba, prange  # noqa: F401  (re-exported)


if HAVE_NUMBA:

    @numba.njit(parallel=True, cache=False)
    def _numba_payoffs(S0, K, r, sigma, T, steps, samples, seed, antithetic):
        np.random.seed(seed)
        dt = T / steps
        drift = (r - 0.5 * sigma * sigma) * dt
        vol = sigma * math.sqrt(dt)
        disc = math.exp(-r * T)
        out = np.empty((3, samples))
        for p in prange(samples):
            l1 = 0.0
            s1 = 0.0
            g1 = 0.0
            l2 = 0.0
            s2 = 0.0
            g2 = 0.0
            for _ in range(steps):
                z = np.random.standard_normal()
                l1 += drift + vol * z
                s1 += math.exp(l1)
                g1 += l1
                if antithetic:
                    l2 += drift - vol * z
                    s2 += math.exp(l2)
                    g2 += l2
            a = max(S0 * s1 / steps - K, 0.0)
            e = max(S0 * math.exp(l1) - K, 0.0)
            g = max(S0 * math.exp(g1 / steps) - K, 0.0)
            if antithetic:
                a = 0.5 * (a + max(S0 * s2 / steps - K, 0.0))
                e = 0.5 * (e + max(S0 * math.exp(l2) - K, 0.0))
                g = 0.5 * (g + max(S0 * math.exp(g2 / steps) - K, 0.0))
            out[0, p] = disc * a
            out[1, p] = disc * e
            out[2, p] = disc * g
        return out

    def numba_mc_asian(S0, K, r, sigma, T, steps, paths, seed=0, antithetic=False,
                       control_variate=False):
        """Numba parallel reference (prange over paths or pairs); compiles on the first call."""
        _check(steps, paths, antithetic)
        samples = paths // 2 if antithetic else paths
        out = _numba_payoffs(float(S0), float(K), float(r), float(sigma), float(T), int(steps),
                             int(samples), int(seed), bool(antithetic))
        return _statistics(out[0], out[1], out[2], control_variate,
                           geometric_asian_call(S0, K, r, sigma, T, steps))

else:
    numba_mc_asian = None


# ----------------------------------------------------------------------------------------
# The entry for bench/run.py
# ----------------------------------------------------------------------------------------

OUTPUTS = ("price", "stderr", "european", "european_stderr", "geometric", "geometric_stderr")


def compare(sim, ref):
    """Largest |simhost - reference| over price, european and geometric, in units of their
    combined standard error (independent random numbers: a statistical check, not a relative
    difference). Values above ~4 would be a real disagreement."""
    worst = 0.0
    detail = {}
    for name, err in (("price", "stderr"), ("european", "european_stderr"),
                      ("geometric", "geometric_stderr")):
        a, b = float(sim[name]), float(ref[name])
        se = math.hypot(float(sim[err]), float(ref[err]))
        if not (math.isfinite(a) and se > 0):
            return float("inf"), {"error": f"{name}: {a} with combined stderr {se}"}
        z = abs(a - b) / se
        detail[name + "_stderrs_apart"] = z
        worst = max(worst, z)
    return worst, detail


def _inputs(p, seed):
    keys = ("S0", "K", "r", "sigma", "T", "steps", "paths", "antithetic", "control_variate")
    return dict({k: p[k] for k in keys}, seed=seed)


def benchmark():
    """One entry in bench/run.py's schema (see the comment block of BENCHMARKS there)."""
    return {
        "kernel": "mc_asian",
        "params": {"S0": 100.0, "K": 100.0, "r": 0.05, "sigma": 0.2, "T": 1.0, "steps": 252,
                   "paths": 1_000_000, "antithetic": False, "control_variate": False},
        "quick": {"paths": 20_000, "steps": 50},
        "warmup": {"paths": 2_000, "steps": 10},
        "size": lambda p: f"paths={p['paths']:.0e} steps={p['steps']}",
        "inputs": _inputs,
        "outputs": OUTPUTS,
        "peers": [
            {"name": "numpy", "fn": numpy_mc_asian, "threaded": False},
            {"name": "numba", "fn": numba_mc_asian, "threaded": True},
        ],
        "reference": ("numba", "numpy"),
        # Not a relative difference: standard errors apart (see compare()).
        "compare": compare,
        "measure": "distance in combined standard errors",
        "tolerance": 5.0,
        "bitwise_across_threads": True,
        "work": lambda p: (p["paths"] * p["steps"], "path-steps"),
        # An estimate, ~75 flops a path-step: one exp (range reduction and a degree-13
        # polynomial, ~32), half of a Box-Muller pair (log, sqrt, sin or cos polynomials,
        # ~35) and the step and running sums (~8).
        "flops": lambda p: 75.0 * p["paths"] * p["steps"],
        "targets": [
            {"kind": "speedup", "peer": "numba", "threads": 2, "min": 5.0},
            {"kind": "scaling", "from": 1, "to": 2, "min": 1.9},
            {"kind": "time", "threads": 2, "max": 0.100,
             "bound": "normals and exp, part by part, docs/kernels/mc_asian.md#on-an-avx2-cpu"},
        ],
    }
