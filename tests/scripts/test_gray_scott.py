"""The gray_scott plugin through the host: the fixed point u = 1, v = 0, a uniform field against
the one-cell ODE, NumPy references of the whole scheme (independent, and in the documented
order: bit for bit), thread counts, progress, bad inputs, timeout, documentation."""

import sys
import time

import numpy as np

import simhost
import simhost_testing

SCHEME_RTOL = 1e-12    # against a NumPy scheme summing the Laplacian in another order
SCHEME_ATOL = 1e-15    # (v stays above ~1e-3 in that test, so this only guards zeros)
ODE_RTOL = 1e-15       # a uniform field against the one-cell ODE (measured: equal bits)
TIMEOUT_LIMIT_S = 0.5  # a timeout=0.05 call must have raised by then
DEFAULTS = {"Du": 0.16, "Dv": 0.08, "F": 0.035, "k": 0.065, "dt": 1.0}


def gray_scott(u, v, steps, **params):
    r = simhost.run("gray_scott", u=u, v=v, steps=steps, **params)
    return r.u, r.v


def expect_error(exc_type, words, **kw):
    simhost_testing.expect_raises(exc_type, lambda: simhost.run("gray_scott", **kw), *words)


def numpy_scheme(u, v, steps, Du, Dv, F, k, dt):
    """The scheme as one would write it in NumPy: np.roll neighbours, the Laplacian summed
    north, south, west, east from the left (the plugin pairs them), so the bits may differ."""
    for _ in range(steps):
        lap_u = (np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1)
                 - 4.0 * u)
        lap_v = (np.roll(v, 1, 0) + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(v, -1, 1)
                 - 4.0 * v)
        uvv = u * v * v
        u, v = u + dt * (Du * lap_u - uvv + F * (1.0 - u)), v + dt * (Dv * lap_v + uvv - (F + k) * v)
    return u, v


def documented_scheme(u, v, steps, Du, Dv, F, k, dt):
    """The scheme in the order the plugin's doc string states, operation for operation:
    lap = ((N + S) + (W + E)) - 4 C, F + k rounded once."""
    fk = F + k

    def lap(c):
        return ((np.roll(c, 1, 0) + np.roll(c, -1, 0)) + (np.roll(c, 1, 1) + np.roll(c, -1, 1))
                - 4.0 * c)

    for _ in range(steps):
        uvv = (u * v) * v
        u, v = (u + dt * ((Du * lap(u) - uvv) + F * (1.0 - u)),
                v + dt * ((Dv * lap(v) + uvv) - fk * v))
    return u, v


def one_cell(u, v, steps, Du, Dv, F, k, dt):
    """The ODE of one cell of a uniform field (its Laplacian is exactly 0), by the same explicit
    Euler steps with the same operations in the same order, on float64 scalars."""
    u, v = np.float64(u), np.float64(v)
    fk = np.float64(F) + np.float64(k)
    for _ in range(steps):
        uvv = (u * v) * v
        u, v = (u + dt * ((Du * 0.0 - uvv) + F * (1.0 - u)),
                v + dt * ((Dv * 0.0 + uvv) - fk * v))
    return u, v


def random_fields(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 1.0, size=shape), rng.uniform(0.05, 0.5, size=shape)


def test_trivial_state_stays_exactly_put():
    for shape, params in (((32, 48), {}), ((3, 3), {"F": 0.06, "k": 0.062, "dt": 1.5})):
        u0, v0 = np.ones(shape), np.zeros(shape)
        u, v = gray_scott(u0, v0, 100, **params)
        assert simhost_testing.same_bits(u, u0) and simhost_testing.same_bits(v, v0), shape


def test_uniform_field_follows_the_one_cell_ode():
    shape = (5, 7)
    for u_init, v_init, params, steps in ((0.5, 0.25, {}, 500),
                                          (0.9, 0.3, {"F": 0.025, "k": 0.055, "dt": 0.5}, 300),
                                          (0.2, 0.6, {"F": 0.06, "k": 0.05}, 1)):
        p = dict(DEFAULTS, **params)
        u, v = gray_scott(np.full(shape, u_init), np.full(shape, v_init), steps, **params)
        want_u, want_v = one_cell(u_init, v_init, steps, **p)
        for got, want, name in ((u, want_u, "u"), (v, want_v, "v")):
            assert np.all(got == got[0, 0]), f"{name} did not stay uniform"
            rel = abs(got[0, 0] - want) / abs(want)
            assert rel <= ODE_RTOL, f"{name}: {got[0, 0]!r} vs {want!r} (relative {rel:.3g})"
            assert got[0, 0] == want, f"{name}: {got[0, 0]!r} vs the ODE's {want!r}"
        assert abs(want_u - u_init) > 1e-3, "the ODE hardly moved: a weak test"


def test_matches_an_independent_numpy_scheme():
    u0, v0 = random_fields((64, 64), seed=1)
    params = {"Du": 0.2, "Dv": 0.1, "F": 0.04, "k": 0.06, "dt": 1.0}
    u, v = gray_scott(u0, v0, 50, **params)
    want_u, want_v = numpy_scheme(u0, v0, 50, **params)
    assert min(want_u.min(), want_v.min()) > 1e-3, "a field came near 0: the rtol check is weak"
    for got, want, name in ((u, want_u, "u"), (v, want_v, "v")):
        assert got.shape == (64, 64) and got.dtype == np.float64
        err = np.max(np.abs(got - want) / np.abs(want))
        assert np.allclose(got, want, rtol=SCHEME_RTOL, atol=SCHEME_ATOL), (
            f"{name}: largest relative difference {err:.3g}")
    assert np.max(np.abs(u - u0)) > 0.05, "the fields hardly moved: a weak test"


def test_equals_the_documented_order_bit_for_bit():
    # Every shape class of the row loop: the smallest grid, one interior column, odd sizes,
    # rows wider than a SIMD register, many chunks of rows.
    for seed, shape, steps in ((2, (3, 3), 7), (3, (3, 17), 11), (4, (37, 5), 9),
                               (5, (64, 64), 50), (6, (130, 1031), 3)):
        u0, v0 = random_fields(shape, seed)
        params = {"Du": 0.21, "Dv": 0.105, "F": 0.03, "k": 0.057, "dt": 1.1}
        u, v = gray_scott(u0, v0, steps, **params)
        want_u, want_v = documented_scheme(u0, v0, steps, **params)
        for got, want, name in ((u, want_u, "u"), (v, want_v, "v")):
            assert simhost_testing.same_bits(got, want), (
                f"{name} {shape}: largest difference {np.max(np.abs(got - want)):.3g}")


def test_bit_identical_at_1_2_3_threads():
    u0, v0 = random_fields((517, 301), seed=7)
    before = simhost.get_threads()
    try:
        results = {}
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            results[threads] = simhost.run("gray_scott", u=u0, v=v0, steps=41)
        for threads in (2, 3):
            simhost_testing.assert_same_result(results[threads], results[1], f"threads={threads}")
    finally:
        simhost.set_threads(before)


def test_inputs_untouched_and_zero_steps():
    u0, v0 = random_fields((20, 30), seed=8)
    keep_u, keep_v = u0.copy(), v0.copy()
    gray_scott(u0, v0, 7)
    assert np.array_equal(u0, keep_u) and np.array_equal(v0, keep_v)
    u, v = gray_scott(u0, v0, 0)
    assert np.array_equal(u, u0) and np.array_equal(v, v0) and u is not u0 and v is not v0
    u1, v1 = gray_scott(u0, v0, 1)  # one step: no scratch buffers, straight into the outputs
    u2, v2 = gray_scott(*gray_scott(u0, v0, 1), 1)
    assert simhost_testing.same_bits(gray_scott(u0, v0, 2), (u2, v2))
    assert not np.array_equal(u1, u0)


def test_progress_counts_steps():
    seen = []
    u0, v0 = random_fields((256, 256), seed=9)
    simhost.run("gray_scott", u=u0, v=v0, steps=300, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (300, 300), seen[-3:]
    done = [d for d, _ in seen]
    assert done == sorted(done) and all(t == 300 for _, t in seen), seen


def test_bad_inputs():
    u0, v0 = np.ones((8, 8)), np.zeros((8, 8))
    expect_error(ValueError, ["gray_scott()", "dt * max(Du, Dv) must be <= 0.25", "stable",
                              "got dt = 2.0", "max(Du, Dv) = 0.16", "product 0.32"],
                 u=u0, v=v0, steps=1, dt=2.0)
    expect_error(ValueError, ["dt * max(Du, Dv) must be <= 0.25", "max(Du, Dv) = 0.3"],
                 u=u0, v=v0, steps=1, Dv=0.3)
    for shape in ((2, 8), (8, 2), (1, 1)):
        expect_error(ValueError, ["gray_scott()", "'u' and 'v'", "at least 3 points",
                                  "H, W >= 3", f"H = {shape[0]}, W = {shape[1]}"],
                     u=np.ones(shape), v=np.zeros(shape), steps=1)
    expect_error(ValueError, ["gray_scott()", "'v'", "expects shape (H, W)", "got (8, 9)",
                              "W must agree with 'u'"], u=u0, v=np.zeros((8, 9)), steps=1)
    expect_error(ValueError, ["'v'", "expects shape (H, W)", "got (7, 8)", "H must agree"],
                 u=u0, v=np.zeros((7, 8)), steps=1)
    expect_error(ValueError, ["'u'", "expects shape (H, W)", "got (64,)"],
                 u=np.ones(64), v=np.zeros(64), steps=1)
    expect_error(ValueError, ["'dt'", "must be > 0", "got 0.0"], u=u0, v=v0, steps=1, dt=0.0)
    expect_error(ValueError, ["'steps'", ">= 0", "got -1"], u=u0, v=v0, steps=-1)
    expect_error(ValueError, ["'F'", ">= 0", "got -0.01"], u=u0, v=v0, steps=1, F=-0.01)
    bad = u0.copy()
    bad[2, 3] = np.nan
    expect_error(ValueError, ["'u'", "finite"], u=bad, v=v0, steps=1)
    expect_error(TypeError, ["missing", "'steps'"], u=u0, v=v0)


def test_timeout_stops_a_big_run():
    u0, v0 = random_fields((1024, 1024), seed=10)
    t0 = time.perf_counter()
    try:
        simhost.run("gray_scott", u=u0, v=v0, steps=1_000_000, timeout=0.05)
    except TimeoutError:
        elapsed = time.perf_counter() - t0
        assert elapsed < simhost_testing.scaled(TIMEOUT_LIMIT_S), f"took {elapsed:.2f} s to stop"
        return
    raise AssertionError("no TimeoutError")


def test_documentation():
    d = simhost.describe("gray_scott")
    assert d["progress_unit"] == "steps"
    assert [p["name"] for p in d["params"]] == ["u", "v", "Du", "Dv", "F", "k", "dt", "steps"]
    assert {o["name"] for o in d["outputs"]} == {"u", "v"}
    for words in ("Pearson 1993, Science 261:189", "dimensionless", "explicit (forward) Euler",
                  "5-point Laplacian", "periodic", "dt * max(Du, Dv) <= 0.25", "bit-identical"):
        assert words in d["doc"], words


def main():
    tests = [
        test_trivial_state_stays_exactly_put,
        test_uniform_field_follows_the_one_cell_ode,
        test_matches_an_independent_numpy_scheme,
        test_equals_the_documented_order_bit_for_bit,
        test_bit_identical_at_1_2_3_threads,
        test_inputs_untouched_and_zero_steps,
        test_progress_counts_steps,
        test_bad_inputs,
        test_timeout_stops_a_big_run,
        test_documentation,
    ]
    return simhost_testing.run(tests)


if __name__ == "__main__":
    sys.exit(main())
