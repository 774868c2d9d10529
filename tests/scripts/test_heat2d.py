"""heat2d through the host: a NumPy reference written here (bit for bit), the analytic decay of
a sine mode, conservation, fixed edges, thread counts, bad inputs, timeout, documentation."""

import math
import sys
import time

import numpy as np

import simhost
import simhost_testing

MODE_TOLERANCE = 1e-12          # relative to lambda^steps * max|u0|
CONSERVATION_TOLERANCE = 1e-12  # relative to sum |u0|
TIMEOUT_LIMIT_S = 0.7           # a timeout=0.2 call must have raised by then


def reference(u0, r, steps, boundary):
    """The scheme in plain NumPy: u + r*((((S + N) + E) + W) - 4u), two buffers."""
    u = u0.copy()
    for _ in range(steps):
        if boundary == "periodic":
            s, n = np.roll(u, -1, axis=0), np.roll(u, 1, axis=0)
            e, w = np.roll(u, -1, axis=1), np.roll(u, 1, axis=1)
            u = u + r * (s + n + e + w - 4.0 * u)
        else:
            c = u[1:-1, 1:-1]
            new = u.copy()
            s, n, e, w = u[2:, 1:-1], u[:-2, 1:-1], u[1:-1, 2:], u[1:-1, :-2]
            new[1:-1, 1:-1] = c + r * (s + n + e + w - 4.0 * c)
            u = new
    return u


def heat2d(**kw):
    return simhost.kernels.heat2d(**kw).u


def expect_error(exc_type, words, **kw):
    simhost_testing.expect_raises(exc_type, lambda: simhost.kernels.heat2d(**kw), *words)


def test_matches_numpy_bit_for_bit():
    rng = np.random.default_rng(1)
    for ny, nx, steps in ((3, 3, 5), (37, 53, 19), (300, 45, 33), (130, 1031, 3)):
        u0 = rng.uniform(-1.0, 1.0, size=(ny, nx))
        for boundary in ("dirichlet", "periodic"):
            got = heat2d(u0=u0, r=0.21, steps=steps, boundary=boundary)
            want = reference(u0, 0.21, steps, boundary)
            assert got.shape == (ny, nx) and got.dtype == np.float64
            assert np.array_equal(got, want), (
                f"{boundary} {ny}x{nx}: max difference {np.max(np.abs(got - want)):.3g}")


def test_sine_mode_decays_by_lambda():
    ny, nx, p, q, r, steps = 49, 65, 3, 2, 0.25, 300
    y = np.arange(ny)[:, None] / (ny - 1)
    x = np.arange(nx)[None, :] / (nx - 1)
    u0 = np.sin(p * math.pi * x) * np.sin(q * math.pi * y)
    u0[0, :] = u0[-1, :] = u0[:, 0] = u0[:, -1] = 0.0  # exactly zero edges
    lam = 1 - 4 * r * (math.sin(p * math.pi / (nx - 1) / 2) ** 2
                       + math.sin(q * math.pi / (ny - 1) / 2) ** 2)
    got = heat2d(u0=u0, r=r, steps=steps)
    scale = lam**steps
    err = np.max(np.abs(got - scale * u0)) / (scale * np.max(np.abs(u0)))
    assert err < MODE_TOLERANCE, f"relative error {err:.3g} after {steps} steps"
    assert 0.01 < scale < 0.9, scale  # the mode really decayed, and is still measurable


def test_periodic_conserves_heat():
    u0 = np.random.default_rng(2).uniform(0.0, 1.0, size=(257, 130))
    u = heat2d(u0=u0, r=0.25, steps=100, boundary="periodic")
    drift = abs(u.sum() - u0.sum()) / np.abs(u0).sum()
    assert drift < CONSERVATION_TOLERANCE, drift
    assert np.std(u) < 0.5 * np.std(u0)  # and it did diffuse


def test_dirichlet_edges_held_exactly():
    u0 = np.random.default_rng(3).uniform(-5.0, 5.0, size=(200, 77))
    u = heat2d(u0=u0, r=0.2, steps=40)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert np.array_equal(u[edge], u0[edge])
    assert not np.array_equal(u[1:-1, 1:-1], u0[1:-1, 1:-1])


def test_bit_identical_at_1_2_3_threads():
    u0 = np.random.default_rng(4).uniform(-1.0, 1.0, size=(517, 301))
    before = simhost.get_threads()
    try:
        results = {}
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            results[threads] = [heat2d(u0=u0, r=0.24, steps=41, boundary=b)
                                for b in ("dirichlet", "periodic")]
        for threads in (2, 3):
            for a, b in zip(results[1], results[threads]):
                assert np.array_equal(a, b), f"threads={threads} differs from threads=1"
    finally:
        simhost.set_threads(before)


def test_input_not_modified_and_zero_steps():
    u0 = np.random.default_rng(5).uniform(size=(20, 30))
    keep = u0.copy()
    heat2d(u0=u0, r=0.1, steps=7)
    assert np.array_equal(u0, keep)
    u = heat2d(u0=u0, r=0.1, steps=0)
    assert np.array_equal(u, u0) and u is not u0


def test_bad_inputs():
    u0 = np.zeros((8, 8))
    expect_error(ValueError, ["heat2d()", "'r'", "<= 0.25", "got 0.3", "stable"],
                 u0=u0, r=0.3, steps=1)
    expect_error(ValueError, ["heat2d()", "'r'", "must be > 0", "got 0.0"], u0=u0, r=0.0, steps=1)
    expect_error(ValueError, ["'r'", "must be > 0", "got -0.1"], u0=u0, r=-0.1, steps=1)
    expect_error(ValueError, ["'r'", "finite"], u0=u0, r=float("nan"), steps=1)
    bad = u0.copy()
    bad[3, 4] = np.nan
    expect_error(ValueError, ["'u0'", "nan", "(3, 4)", "finite"], u0=bad, r=0.1, steps=1)
    expect_error(ValueError, ["'u0'", "expects shape (ny, nx)", "got (64,)"],
                 u0=np.zeros(64), r=0.1, steps=1)
    expect_error(ValueError, ["'u0'", "expects shape (ny, nx)", "got (2, 4, 8)"],
                 u0=np.zeros((2, 4, 8)), r=0.1, steps=1)
    expect_error(ValueError,
                 ["'boundary'", "'dirichlet' or 'periodic'", "did you mean 'periodic'?"],
                 u0=u0, r=0.1, steps=1, boundary="periodc")
    expect_error(ValueError, ["did you mean 'dirichlet'?"], u0=u0, r=0.1, steps=1,
                 boundary="dirichelt")
    for shape in ((2, 8), (8, 2), (1, 1)):
        for boundary in ("dirichlet", "periodic"):
            expect_error(ValueError, ["'u0'", "at least 3 points in each direction", str(shape)],
                         u0=np.zeros(shape), r=0.1, steps=1, boundary=boundary)
    expect_error(ValueError, ["'steps'", ">= 0", "got -1"], u0=u0, r=0.1, steps=-1)
    expect_error(TypeError, ["'steps'", "int"], u0=u0, r=0.1, steps=2.5)
    expect_error(TypeError, ["missing", "'r'"], u0=u0, steps=1)
    expect_error(TypeError, ["unexpected keyword argument 'alpha'"],
                 u0=u0, r=0.1, steps=1, alpha=1.0)


def test_timeout_cancels_a_bench_size_call():
    u0 = np.random.default_rng(6).uniform(size=(2048, 2048))
    t0 = time.perf_counter()
    try:
        simhost.run("heat2d", u0=u0, r=0.2, steps=1_000_000, timeout=0.2)
    except TimeoutError:
        elapsed = time.perf_counter() - t0
        assert elapsed < TIMEOUT_LIMIT_S, f"took {elapsed:.2f} s to stop"
        return
    raise AssertionError("no TimeoutError")


def test_documentation_mentions_units():
    d = simhost.describe("heat2d")
    params = {p["name"]: p for p in d["params"]}
    assert params["u0"]["unit"] == "temperature"
    assert "alpha*dt/h^2" in params["r"]["doc"] and "0.25" in params["r"]["doc"]
    assert d["progress_unit"] == "steps"
    assert {o["name"] for o in d["outputs"]} == {"u"}
    text = simhost.kernels.heat2d.__doc__ or ""
    for words in ("alpha dt / h^2", "dirichlet", "periodic", "temperature"):
        assert words in text, words


def main():
    tests = [
        test_matches_numpy_bit_for_bit,
        test_sine_mode_decays_by_lambda,
        test_periodic_conserves_heat,
        test_dirichlet_edges_held_exactly,
        test_bit_identical_at_1_2_3_threads,
        test_input_not_modified_and_zero_steps,
        test_bad_inputs,
        test_timeout_cancels_a_bench_size_call,
        test_documentation_mentions_units,
    ]
    return simhost_testing.run(tests)


if __name__ == "__main__":
    sys.exit(main())
