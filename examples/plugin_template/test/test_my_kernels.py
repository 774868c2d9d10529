"""Tests of the damped_oscillators kernel against the analytic solution.

Run by the host with the plugin loaded (what `ctest` does):
    simhost --plugin build/plugins/my_kernels.so test/test_my_kernels.py
or by a Python that imports simhost, given the plugin's file:
    python3 test/test_my_kernels.py build/plugins/my_kernels.so
"""

import sys

import numpy as np
import simhost

# The kernel applies the exact propagator, so it differs from the closed form by rounding
# alone, which grows about linearly with the number of steps (1e-16 per step), relative to
# the size of the state.
TOLERANCE = 1e-11


def assert_close(got, want, label):
    error = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert error < TOLERANCE, f"{label}: relative error {error:.3g}"


def analytic(x0, v0, omega, zeta, t):
    """x(t) and v(t) of x'' = -omega^2 x - 2 zeta omega x' from the characteristic roots."""
    if zeta < 1:
        wd = omega * np.sqrt(1 - zeta * zeta)
        decay = np.exp(-zeta * omega * t)
        cos, sin = np.cos(wd * t), np.sin(wd * t)
        x = decay * (x0 * cos + (v0 + zeta * omega * x0) / wd * sin)
        v = decay * (v0 * cos - (omega * omega * x0 + zeta * omega * v0) / wd * sin)
    elif zeta == 1:
        decay = np.exp(-omega * t)
        x = decay * (x0 + (v0 + omega * x0) * t)
        v = decay * (v0 - omega * (v0 + omega * x0) * t)
    else:
        r2 = -omega * (zeta + np.sqrt(zeta * zeta - 1))
        r1 = omega * omega / r2  # the slow root, without the cancellation of -zeta omega + ...
        c1 = (v0 - r2 * x0) / (r1 - r2)
        c2 = x0 - c1
        x = c1 * np.exp(r1 * t) + c2 * np.exp(r2 * t)
        v = r1 * c1 * np.exp(r1 * t) + r2 * c2 * np.exp(r2 * t)
    return x, v


def energy(x, v, omega):
    return 0.5 * np.sum(v * v + omega * omega * x * x)


def initial_state(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)


def check_against_analytic(zeta, omega=2.0, dt=0.01, steps=300, n=10_000):
    x0, v0 = initial_state(n)
    r = simhost.run("damped_oscillators", x0=x0, v0=v0, omega=omega, zeta=zeta, dt=dt,
                    steps=steps)
    x, v = analytic(x0, v0, omega, zeta, steps * dt)
    assert_close(r.x, x, f"x, zeta = {zeta}")
    assert_close(r.v, v, f"v, zeta = {zeta}")
    assert abs(r.energy - energy(r.x, r.v, omega)) <= 1e-12 * r.energy, r.energy


def test_underdamped():
    check_against_analytic(zeta=0.1)


def test_critically_damped():
    check_against_analytic(zeta=1.0)


def test_overdamped():
    check_against_analytic(zeta=3.0)


def test_stiff_overdamped():
    # The fast mode decays by e^-2000 per step: a closed-form propagator would compute
    # 0 * inf here; the matrix exponential does not.
    check_against_analytic(zeta=1000.0, dt=1.0, steps=10)


def test_undamped_keeps_its_energy_and_period():
    omega, steps = 2.0, 1000
    x0, v0 = initial_state(1000)
    # One whole period: every oscillator is back where it started.
    r = simhost.run("damped_oscillators", x0=x0, v0=v0, omega=omega, zeta=0.0,
                    dt=2 * np.pi / omega / steps, steps=steps)
    assert_close(r.x, x0, "x after one period")
    assert_close(r.v, v0, "v after one period")
    assert abs(r.energy - energy(x0, v0, omega)) < TOLERANCE * r.energy


def test_zero_steps_returns_the_initial_state_and_leaves_inputs_alone():
    x0, v0 = initial_state(100)
    kept = x0.copy(), v0.copy()
    r = simhost.run("damped_oscillators", x0=x0, v0=v0, steps=0)
    assert np.array_equal(r.x, x0) and np.array_equal(r.v, v0)
    r = simhost.run("damped_oscillators", x0=x0, v0=v0)
    assert np.array_equal(x0, kept[0]) and np.array_equal(v0, kept[1])


def test_same_bits_at_any_thread_count():
    x0, v0 = initial_state(50_000)
    threads = simhost.get_threads()
    results = []
    try:
        for n in (1, 2, 4):
            simhost.set_threads(n)
            results.append(simhost.run("damped_oscillators", x0=x0, v0=v0, steps=200))
    finally:
        simhost.set_threads(threads)
    for r in results[1:]:
        assert r.energy == results[0].energy  # deterministic_reduce: the same sum
        assert np.array_equal(r.x, results[0].x) and np.array_equal(r.v, results[0].v)


def test_bad_arguments_are_refused_with_the_parameter_named():
    x0, v0 = initial_state(3)
    for params, fragment in [
        (dict(omega=0.0), "parameter 'omega' must be > 0.0, got 0.0"),
        (dict(zeta=-0.5), "parameter 'zeta' must be >= 0.0, got -0.5"),
        (dict(steps=-1), "parameter 'steps' must be >= 0, got -1"),
        (dict(v0=np.zeros(4)), "parameter 'v0' expects shape (N,), got (4,)"),
    ]:
        try:
            simhost.run("damped_oscillators", **{"x0": x0, "v0": v0, **params})
        except ValueError as e:
            assert fragment in str(e), (fragment, str(e))
        else:
            raise AssertionError(f"{params} was accepted")


TESTS = [value for name, value in list(globals().items()) if name.startswith("test_")]

if __name__ == "__main__":
    if len(sys.argv) > 1:  # a plain python3: load the plugin given on the command line
        simhost.load_plugin(sys.argv[1])
    for test in TESTS:
        test()
        print(test.__name__, "PASS")
    print(len(TESTS), "passed")
