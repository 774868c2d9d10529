"""mc_asian through the host: an independent NumPy re-implementation (its own Philox4x32-10,
Box-Muller with libm, paths by cumulative sums), closed forms, variance reduction, bad inputs,
thread bit-identity, timeout and documentation.

Run by CTest as `simhost tests/scripts/test_mc_asian.py`; the exit code is the verdict.
"""

import math
import sys
import time

import numpy as np

import simhost
import simhost_testing

REFERENCE_TOLERANCE = 1e-11  # kernel vs the NumPy re-implementation (relative)
STDERRS = 4.0  # Monte Carlo estimate vs exact value
MIN_CV_REDUCTION = 20.0  # stderr plain / stderr control variate, at the money
VARIANCE_TOLERANCE = 0.1  # measured vs exact antithetic variance ratio (relative)

ATM = dict(S0=100.0, K=100.0, r=0.05, sigma=0.2, T=1.0)

# ----------------------------------------------------------------------------------------
# Independent reference
# ----------------------------------------------------------------------------------------

MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Random123's Philox4x32-10 on arrays of 32-bit values held in uint64."""
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    k0, k1 = int(k0), int(k1)
    for _ in range(10):
        p0 = m0 * c0  # a 32 x 32 -> 64-bit product, exact in uint64
        p1 = m1 * c2
        c0, c1, c2, c3 = (
            ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0)) & MASK32,
            p1 & MASK32,
            ((p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1)) & MASK32,
            p0 & MASK32,
        )
        k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
        k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


def reference_normals(seed, streams, steps):
    """normals[p, k]: variate k of stream p, as documented (Box-Muller with libm)."""
    pairs = (steps + 1) // 2
    block = np.arange(pairs, dtype=np.uint64)[None, :]
    stream = np.asarray(streams, dtype=np.uint64)[:, None]
    shape = (stream.shape[0], pairs)
    w0, w1, w2, w3 = philox4x32_10(
        np.broadcast_to(block & MASK32, shape),
        np.broadcast_to(block >> np.uint64(32), shape),
        np.broadcast_to(stream & MASK32, shape),
        np.broadcast_to(stream >> np.uint64(32), shape),
        seed & 0xFFFFFFFF,
        seed >> 32,
    )

    def unit(lo, hi):
        top52 = ((hi << np.uint64(32)) | lo) >> np.uint64(12)
        return (top52.astype(np.float64) + 0.5) * 2.0**-52

    radius = np.sqrt(-2.0 * np.log(unit(w0, w1)))
    angle = 2.0 * np.pi * unit(w2, w3)
    z = np.empty((shape[0], 2 * pairs))
    z[:, 0::2] = radius * np.cos(angle)
    z[:, 1::2] = radius * np.sin(angle)
    return z[:, :steps]


def reference_price(S0, K, r, sigma, T, steps, paths, seed, antithetic):
    """(price, stderr, european, european_stderr, geometric, geometric_stderr), plain."""
    dt = T / steps
    samples = paths // 2 if antithetic else paths
    z = reference_normals(seed, np.arange(samples), steps)
    disc = math.exp(-r * T)
    payoffs = []
    for sign in (1.0, -1.0) if antithetic else (1.0,):
        log_s = np.log(S0) + np.cumsum((r - 0.5 * sigma**2) * dt + sign * sigma * math.sqrt(dt) * z,
                                       axis=1)
        s = np.exp(log_s)
        payoffs.append(np.stack([
            disc * np.maximum(s.mean(axis=1) - K, 0.0),
            disc * np.maximum(s[:, -1] - K, 0.0),
            disc * np.maximum(np.exp(log_s.mean(axis=1)) - K, 0.0),
        ]))
    y = np.mean(payoffs, axis=0)  # pair means with antithetic
    mean = y.mean(axis=1)
    se = y.std(axis=1, ddof=1) / math.sqrt(samples)
    return mean[0], se[0], mean[1], se[1], mean[2], se[2]


def normal_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black_scholes_call(S0, K, r, sigma, T):
    sd = sigma * math.sqrt(T)
    d1 = (math.log(S0 / K) + (r + 0.5 * sigma**2) * T) / sd
    return S0 * normal_cdf(d1) - K * math.exp(-r * T) * normal_cdf(d1 - sd)


def geometric_asian_call(S0, K, r, sigma, T, steps):
    """Discrete geometric-average call, dates t_k = k T/n, k = 1..n (Kemna & Vorst 1990;
    Glasserman 2004, Sec. 4.1). ln G is normal with mean ln S0 + (r - sigma^2/2) mean(t_k)
    and variance (sigma/n)^2 sum_jk min(t_j, t_k); the sums are done term by term here."""
    t = T * np.arange(1, steps + 1) / steps
    mean = math.log(S0) + (r - 0.5 * sigma**2) * t.mean()
    var = sigma**2 * np.minimum.outer(t, t).sum() / steps**2
    d2 = (mean - math.log(K)) / math.sqrt(var)
    d1 = d2 + math.sqrt(var)
    return math.exp(-r * T) * (math.exp(mean + 0.5 * var) * normal_cdf(d1) - K * normal_cdf(d2))


def asian(**kw):
    r = simhost.kernels.mc_asian(**kw)
    return (r.price, r.stderr, r.european, r.european_stderr, r.geometric, r.geometric_stderr)


# ----------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------


def test_reference_philox_is_philox():
    # Random123's known-answer vector, so the reference below is really Philox4x32-10.
    zero = np.zeros(1, dtype=np.uint64)
    got = [int(w[0]) for w in philox4x32_10(zero, zero, zero, zero, 0, 0)]
    assert got == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], [hex(g) for g in got]


def test_matches_numpy_reimplementation():
    cases = [
        dict(ATM, steps=1, paths=64, seed=3, antithetic=False),
        dict(ATM, steps=13, paths=300, seed=4, antithetic=False),
        dict(S0=90.0, K=100.0, r=0.02, sigma=0.5, T=2.0, steps=100, paths=200, seed=5,
             antithetic=True),
        dict(ATM, steps=1100, paths=40, seed=2**40 + 7, antithetic=True),  # > one step block
    ]
    names = ("price", "stderr", "european", "european_stderr", "geometric", "geometric_stderr")
    for kw in cases:
        got = asian(**kw)
        want = reference_price(**kw)
        for name, g, w in zip(names, got, want):
            assert abs(g - w) <= REFERENCE_TOLERANCE * max(1.0, abs(w)), (kw, name, g, w)
    print(f"    {len(cases)} cases agree with NumPy to {REFERENCE_TOLERANCE:g} relative")


def test_closed_forms():
    for kw in (dict(ATM, steps=252), dict(S0=100.0, K=110.0, r=0.03, sigma=0.3, T=0.5, steps=12)):
        price, se, eu, eu_se, geo, geo_se = asian(**kw, paths=200000, seed=9)
        bs = black_scholes_call(kw["S0"], kw["K"], kw["r"], kw["sigma"], kw["T"])
        exact_geo = geometric_asian_call(**kw)
        assert abs(eu - bs) < STDERRS * eu_se, (kw, eu, eu_se, bs)
        assert abs(geo - exact_geo) < STDERRS * geo_se, (kw, geo, geo_se, exact_geo)
        # Averaging lowers the price: geometric <= arithmetic <= european (for these inputs
        # the gaps are many standard errors wide).
        assert geo < price < eu, (geo, price, eu)
        print(f"    K={kw['K']}: european {eu:.4f} +- {eu_se:.4f} (BS {bs:.4f}), "
              f"geometric {geo:.4f} +- {geo_se:.4f} (exact {exact_geo:.4f})")


def test_control_variate():
    kw = dict(ATM, steps=252, paths=100000, seed=12)
    plain = asian(**kw)
    cv = asian(**kw, control_variate=True)
    reduction = plain[1] / cv[1]
    assert reduction > MIN_CV_REDUCTION, reduction
    assert abs(cv[0] - plain[0]) < STDERRS * math.hypot(plain[1], cv[1]), (plain, cv)
    assert cv[2:] == plain[2:]  # european and geometric stay plain estimates
    # Against an independent larger run (other seed).
    big = asian(**dict(kw, paths=1000000, seed=13))
    assert abs(cv[0] - big[0]) < STDERRS * math.hypot(big[1], cv[1]), (cv, big)
    print(f"    stderr {plain[1]:.5f} -> {cv[1]:.6f} ({reduction:.0f}x smaller)")


def test_antithetic_variance_matches_theory():
    # The european payoff depends only on x = sum(Z)/sqrt(steps) ~ N(0,1): the exact variance
    # of f(x) and of the pair mean (f(x) + f(-x))/2 are 1-D integrals (Simpson on [-12, 12]).
    S0, K, r, sigma, T = (ATM[k] for k in ("S0", "K", "r", "sigma", "T"))
    x = np.linspace(-12.0, 12.0, 24001)
    w = np.full(x.size, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    w *= (x[1] - x[0]) / 3.0 * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    f = math.exp(-r * T) * np.maximum(
        S0 * np.exp((r - 0.5 * sigma**2) * T + sigma * math.sqrt(T) * x) - K, 0.0)
    pair = 0.5 * (f + f[::-1])
    var_plain = w @ f**2 - (w @ f) ** 2
    var_pair = w @ pair**2 - (w @ pair) ** 2
    theory = var_plain / (2.0 * var_pair)  # per simulated path
    paths = 400000
    plain = asian(**ATM, steps=16, paths=paths, seed=21)
    anti = asian(**ATM, steps=16, paths=paths, seed=21, antithetic=True)
    measured = (plain[3] ** 2 * paths) / (2.0 * anti[3] ** 2 * (paths // 2))
    assert abs(measured / theory - 1.0) < VARIANCE_TOLERANCE, (measured, theory)
    asian_ratio = (plain[1] ** 2 * paths) / (2.0 * anti[1] ** 2 * (paths // 2))
    assert asian_ratio > 1.5, asian_ratio
    print(f"    european variance ratio per path {measured:.3f} (theory {theory:.3f}); "
          f"asian {asian_ratio:.3f}")


def expect_error(exc_type, words, **changes):
    kw = dict(ATM, steps=10, paths=100)
    kw.update(changes)
    simhost_testing.expect_raises(exc_type, lambda: simhost.kernels.mc_asian(**kw), *words)


def test_bad_inputs():
    V, T = ValueError, TypeError
    expect_error(V, ["mc_asian()", "'sigma'", "> 0", "got 0.0"], sigma=0.0)
    expect_error(V, ["'sigma'", "> 0", "got -0.1"], sigma=-0.1)
    expect_error(V, ["'T'", "> 0", "got 0.0"], T=0.0)
    expect_error(V, ["'T'", "> 0"], T=-1.0)
    expect_error(V, ["'steps'", ">= 1", "got 0"], steps=0)
    expect_error(V, ["'paths'", ">= 2", "got 1"], paths=1)
    expect_error(V, ["'paths'", "even", "antithetic=True", "got 101"], paths=101, antithetic=True)
    expect_error(V, ["'paths'", ">= 4", "antithetic=True", "got 2"], paths=2, antithetic=True)
    expect_error(V, ["'S0'", "finite", "nan"], S0=float("nan"))
    expect_error(V, ["'S0'", "> 0"], S0=-5.0)
    expect_error(V, ["'K'", "> 0"], K=0.0)
    expect_error(V, ["'r'", "finite", "inf"], r=float("inf"))
    expect_error(V, ["'sigma'", "finite"], sigma=float("nan"))
    expect_error(V, ["'seed'", ">= 0", "got -1"], seed=-1)
    expect_error(V, ["sigma * sqrt(T)", "<= 20"], sigma=5.0, T=100.0)
    expect_error(V, ["|r| * T", "<= 200"], r=2.5, T=100.0)
    expect_error(T, ["'steps'", "int", "2.5"], steps=2.5)
    expect_error(T, ["'paths'", "int"], paths="many")
    expect_error(T, ["'antithetic'", "bool"], antithetic="yes")
    expect_error(T, ["unexpected keyword argument 'sigam'", "did you mean 'sigma'"], sigam=0.2)
    try:
        simhost.kernels.mc_asian(S0=100.0, K=100.0, r=0.05, T=1.0, steps=4, paths=10)
    except TypeError as e:
        assert "sigma" in str(e), str(e)
    else:
        raise AssertionError("a missing sigma was accepted")


def test_bit_identical_across_threads():
    before = simhost.get_threads()
    try:
        for kw in (dict(ATM, steps=37, paths=30002, seed=5),
                   dict(ATM, steps=37, paths=30002, seed=5, antithetic=True, control_variate=True)):
            results = {}
            for n in (1, 2, 3):
                simhost.set_threads(n)
                results[n] = asian(**kw)
            assert results[1] == results[2] == results[3], results
    finally:
        simhost.set_threads(before)


def test_timeout_on_bench_size_call():
    # The bench size (1e6 paths x 252 steps) finishes in about 0.2 s at 2 threads, so this call
    # is four times that, on one thread (about 1.5 s of work): the timeout must cut it short.
    before = simhost.get_threads()
    simhost.set_threads(1)
    t0 = time.perf_counter()
    try:
        simhost.kernels.mc_asian(**ATM, steps=252, paths=4000000, timeout=0.2)
    except TimeoutError:
        elapsed = time.perf_counter() - t0
        assert elapsed < 0.7, elapsed
        print(f"    TimeoutError after {elapsed:.2f} s")
        return
    finally:
        simhost.set_threads(before)
    raise AssertionError("no TimeoutError from a 4e6-path call with timeout=0.2")


def test_documentation_has_units():
    text = simhost.describe("mc_asian")["text"]
    for part in ("S0 (float, required, > 0.0, finite, unit: currency)", "unit: 1/year",
                 "unit: 1/sqrt(year)", "unit: year", "t_k = k T/steps", "paths"):
        assert part in text, part
    doc = simhost.kernels.mc_asian.__doc__
    assert "unit: currency" in doc and "Progress is counted in paths" in doc


def main():
    tests = [
        test_reference_philox_is_philox,
        test_matches_numpy_reimplementation,
        test_closed_forms,
        test_control_variate,
        test_antithetic_variance_matches_theory,
        test_bad_inputs,
        test_bit_identical_across_threads,
        test_timeout_on_bench_size_call,
        test_documentation_has_units,
    ]
    return simhost_testing.run(tests)


if __name__ == "__main__":
    sys.exit(main())
