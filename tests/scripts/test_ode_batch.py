"""ode_batch through the host: exact solutions, conservation laws, an independent NumPy rk4
written here, the parameter interface, every bad input, bit-identity across thread counts,
timeout and the documentation. The exit code is the verdict."""

import inspect
import sys
import time

import numpy as np

import simhost
import simhost_testing

ode = simhost.kernels.ode_batch

ORDER_TOLERANCE = 0.3            # observed rk4 order must be 4 +- this
CONSERVATION_TOLERANCE = 1e-13   # relative drift of S + I + R (rounding only)
LV_DRIFT_PER_DT4_T = 5e-3        # rk4 invariant drift / (dt^4 T); measured 1.3e-3
DOPRI5_GLOBAL_FACTOR = 10.0      # global error / rtol allowed for dopri5
REFERENCE_TOLERANCE = 1e-11      # vs the NumPy rk4 below, short non-chaotic horizon
TIMEOUT_S = 0.2
TIMEOUT_DEADLINE_S = 0.7


def harmonic_exact(y0, w, t):
    """x = x0 cos(wt) + v0/w sin(wt), v = dx/dt, for every time in t and row of y0: (K, M, 2)."""
    t = np.asarray(t)[:, None]
    x0, v0 = y0[:, 0], y0[:, 1]
    x = x0 * np.cos(w * t) + v0 / w * np.sin(w * t)
    v = -x0 * w * np.sin(w * t) + v0 * np.cos(w * t)
    return np.stack([x, v], axis=2)


def harmonic_error(r, y0, w):
    amp = np.hypot(y0[:, 0], y0[:, 1] / w)
    err = np.abs(r.trajectory - harmonic_exact(y0, w, r.t))
    return max((err[..., 0] / amp).max(), (err[..., 1] / (amp * w)).max())


def numpy_lorenz_rk4(y0, p, dt, steps):
    """Independent rk4 for Lorenz systems with per-row (sigma, rho, beta), plain NumPy."""
    sigma, rho, beta = p[:, 0], p[:, 1], p[:, 2]

    def f(y):
        x, yy, z = y[:, 0], y[:, 1], y[:, 2]
        return np.stack([sigma * (yy - x), x * (rho - z) - yy, x * yy - beta * z], axis=1)

    y = y0.copy()
    for _ in range(steps):
        k1 = f(y)
        k2 = f(y + 0.5 * dt * k1)
        k3 = f(y + 0.5 * dt * k2)
        k4 = f(y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def lorenz_states(m, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-15, 15, m), rng.uniform(-15, 15, m),
                            rng.uniform(5, 40, m)])


def expect_error(exc_type, parts, **kw):
    return str(simhost_testing.expect_raises(exc_type, lambda: ode(**kw), *parts))


# ------------------------------------------------------------------------------------------


def test_rk4_harmonic_fourth_order():
    w, T = 2.0, 10.0
    y0 = np.array([[1.0, 0.0], [0.3, -1.2], [-2.0, 0.5]])
    errs = []
    for dt in (0.02, 0.01):
        r = ode(system="harmonic", y0=y0, omega=w, dt=dt, steps=round(T / dt), save_every=1)
        assert r.trajectory.shape == (round(T / dt) + 1, 3, 2)
        errs.append(harmonic_error(r, y0, w))
    order = np.log2(errs[0] / errs[1])
    assert errs[0] < 1e-5, errs
    assert abs(order - 4.0) <= ORDER_TOLERANCE, f"observed order {order:.3f}, errors {errs}"
    print(f"   rk4 errors {errs[0]:.2e}, {errs[1]:.2e}: observed order {order:.3f}")


def test_dopri5_meets_rtol_on_harmonic():
    w = 1.5
    y0 = np.array([[1.0, 0.0], [0.3, -1.2], [-2.0, 0.5]])
    previous = np.inf
    for rtol in (1e-5, 1e-7, 1e-9):
        r = ode(system="harmonic", y0=y0, omega=w, dt=0.25, steps=80, save_every=2,
                method="dopri5", rtol=rtol, atol=rtol * 1e-3)
        err = harmonic_error(r, y0, w)
        assert err <= DOPRI5_GLOBAL_FACTOR * rtol, (rtol, err)
        assert err < previous, (rtol, err, previous)
        previous = err
        print(f"   dopri5 rtol {rtol:.0e}: max relative error {err:.2e} ({err / rtol:.1f} rtol)")


def test_sir_conserves_population():
    rng = np.random.default_rng(3)
    m = 41
    scale = np.where(np.arange(m) % 2 == 0, 1e6, 1.0)[:, None]  # head counts and fractions
    y0 = scale * np.column_stack([rng.uniform(0.5, 1, m), rng.uniform(0, 0.1, m),
                                  rng.uniform(0, 0.3, m)])
    p = np.column_stack([rng.uniform(0.1, 1.1, m), rng.uniform(0.05, 0.55, m)])
    for method in ("rk4", "dopri5"):
        r = ode(system="sir", y0=y0, p=p, dt=0.1, steps=2000, save_every=10, method=method)
        n0 = y0.sum(axis=1)
        drift = (np.abs(r.trajectory.sum(axis=2) - n0) / n0).max()
        assert drift < CONSERVATION_TOLERANCE, (method, drift)
        print(f"   {method}: max relative drift of S+I+R {drift:.1e}")


def test_lotka_volterra_invariant():
    a, b, g, d, T = 2 / 3, 4 / 3, 1.0, 1.0, 20.0
    y0 = np.array([[1.0, 0.5], [2.0, 1.0], [0.5, 0.2]])

    def V(y):
        return d * y[..., 0] - g * np.log(y[..., 0]) + b * y[..., 1] - a * np.log(y[..., 1])

    drifts = []
    for dt in (0.1, 0.05):
        r = ode(system="lotka_volterra", y0=y0, dt=dt, steps=round(T / dt), save_every=1)
        drift = np.abs(V(r.trajectory) - V(y0)).max()
        assert drift < LV_DRIFT_PER_DT4_T * dt**4 * T, (dt, drift)
        drifts.append(drift)
    assert 12 < drifts[0] / drifts[1] < 20, drifts  # fourth order: ~16
    for rtol in (1e-6, 1e-9):
        r = ode(system="lotka_volterra", y0=y0, dt=0.1, steps=200, save_every=1,
                method="dopri5", rtol=rtol, atol=rtol * 1e-3)
        drift = np.abs(V(r.trajectory) - V(y0)).max()
        assert drift < DOPRI5_GLOBAL_FACTOR * rtol, (rtol, drift)
    print(f"   rk4 invariant drift {drifts[0]:.2e} (dt 0.1), {drifts[1]:.2e} (dt 0.05)")


def test_rk4_matches_numpy_reference_with_rho_sweep():
    m = 45  # a full tile and a ragged one
    y0 = lorenz_states(m, 9)
    p = np.column_stack([np.full(m, 10.0), np.linspace(0.5, 30, m), np.full(m, 8 / 3)])
    r = ode(system="lorenz", y0=y0, p=p, dt=0.005, steps=200)
    want = numpy_lorenz_rk4(y0, p, 0.005, 200)
    rel = np.abs(r.y - want).max() / np.abs(want).max()
    assert rel < REFERENCE_TOLERANCE, rel
    print(f"   vs NumPy rk4: max relative difference {rel:.1e}")


def test_dopri5_matches_fine_rk4_on_lorenz():
    y0 = lorenz_states(20, 4)
    fine = ode(system="lorenz", y0=y0, dt=1e-4, steps=10000)  # rk4 error ~1e-13 here
    r = ode(system="lorenz", y0=y0, dt=0.1, steps=10, method="dopri5", rtol=1e-10, atol=1e-12)
    rel = np.abs(r.y - fine.y).max() / np.abs(fine.y).max()
    assert rel < 1e-8, rel
    print(f"   dopri5 (rtol 1e-10) vs rk4 (dt 1e-4) at t = 1: {rel:.1e}")


def test_parameter_interface():
    y0 = lorenz_states(5, 1)
    rhos = np.array([0.5, 13.0, 24.0, 28.0, 99.96])
    p = np.column_stack([np.full(5, 10.0), rhos, np.full(5, 8 / 3)])
    swept = ode(system="lorenz", y0=y0, p=p, dt=0.01, steps=300, save_every=100)
    for i, rho in enumerate(rhos):  # each row alone, with the scalar: the same bits
        one = ode(system="lorenz", y0=y0[i:i + 1], rho=rho, dt=0.01, steps=300, save_every=100)
        assert np.array_equal(one.y[0], swept.y[i]), i
        assert np.array_equal(one.trajectory[:, 0], swept.trajectory[:, i]), i
    default = ode(system="lorenz", y0=y0, dt=0.01, steps=300)
    explicit = ode(system="lorenz", y0=y0, sigma=10.0, rho=28.0, beta=8 / 3, dt=0.01, steps=300)
    assert np.array_equal(default.y, explicit.y)
    assert np.array_equal(default.y[3], swept.y[3])  # rho = 28 is the default
    assert default.params["rho"] is None and default.params["method"] == "rk4"
    print("   p rows == scalar calls bit for bit; omitted == documented defaults")


def test_output_grid_and_shapes():
    y0 = lorenz_states(7, 2)
    r = ode(system="lorenz", y0=y0, t0=1.5, dt=0.01, steps=23, save_every=5)
    assert r.y.shape == (7, 3) and r.t.shape == (5,) and r.trajectory.shape == (5, 7, 3)
    assert np.array_equal(r.t, 1.5 + np.arange(5) * 5 * 0.01)
    assert np.array_equal(r.trajectory[0], y0)
    short = ode(system="lorenz", y0=y0, t0=1.5, dt=0.01, steps=10)
    assert np.array_equal(short.y, r.trajectory[2])
    none = ode(system="lorenz", y0=y0, dt=0.01, steps=23)
    assert none.t.shape == (0,) and none.trajectory.shape == (0, 7, 3)
    assert np.array_equal(none.y, r.y)
    zero = ode(system="harmonic", y0=np.ones((3, 2)), dt=0.1, steps=0, save_every=1,
               method="dopri5")
    assert np.array_equal(zero.y, np.ones((3, 2))) and zero.trajectory.shape == (1, 3, 2)
    empty = ode(system="sir", y0=np.zeros((0, 3)), dt=0.1, steps=5, save_every=1)
    assert empty.y.shape == (0, 3) and empty.trajectory.shape == (6, 0, 3)
    print("   t, trajectory and y follow the documented grid")


def test_bad_inputs():
    y3 = lorenz_states(4, 0)
    base = dict(y0=y3, dt=0.01, steps=10)
    expect_error(ValueError, ["'system'", "'lorenz'", "'lorenze'", "did you mean 'lorenz'?"],
                 system="lorenze", **base)
    expect_error(ValueError, ["'method'", "'rk4' or 'dopri5'", "'rk45'", "did you mean 'rk4'?"],
                 system="lorenz", method="rk45", **base)
    expect_error(ValueError, ["'y0'", "(M, 2)", "'harmonic'", "'x' and 'v'", "(4, 3)"],
                 system="harmonic", **base)
    expect_error(ValueError, ["'y0'", "(M, d)", "(3,)"], system="lorenz", y0=np.ones(3),
                 dt=0.01, steps=1)
    expect_error(ValueError, ["'dt'", "> 0", "0.0"], system="lorenz", y0=y3, dt=0.0, steps=1)
    expect_error(ValueError, ["'dt'", "> 0", "-0.1"], system="lorenz", y0=y3, dt=-0.1, steps=1)
    expect_error(ValueError, ["'steps'", ">= 0", "-1"], system="lorenz", y0=y3, dt=0.1, steps=-1)
    expect_error(ValueError, ["'rtol'", "> 0"], system="lorenz", rtol=0.0, method="dopri5",
                 **base)
    expect_error(ValueError, ["'atol'", "> 0"], system="lorenz", atol=-1e-9, **base)
    expect_error(ValueError, ["'save_every'", ">= 0"], system="lorenz", save_every=-2, **base)
    bad = y3.copy()
    bad[2, 1] = np.nan
    expect_error(ValueError, ["'y0'", "nan", "(2, 1)", "finite"], system="lorenz", y0=bad,
                 dt=0.01, steps=1)
    expect_error(ValueError, ["'p'", "(M, 3)", "'lorenz'", "'sigma', 'rho', 'beta'", "(4, 2)"],
                 system="lorenz", p=np.ones((4, 2)), **base)
    expect_error(ValueError, ["'p'", "M must agree with 'y0'", "M = 4"],
                 system="lorenz", p=np.ones((5, 3)), **base)
    pn = np.ones((4, 3))
    pn[0, 0] = np.inf
    expect_error(ValueError, ["'p'", "inf"], system="lorenz", p=pn, **base)
    expect_error(ValueError, ["'omega' does not apply to system 'lorenz'",
                              "'sigma', 'rho' and 'beta'"], system="lorenz", omega=2.0, **base)
    expect_error(ValueError, ["not both", "'p' and 'rho'"], system="lorenz",
                 p=np.ones((4, 3)), rho=3.0, **base)
    expect_error(ValueError, ["'sir'", "N = S + I + R > 0", "row 1"], system="sir",
                 y0=np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), dt=0.1, steps=1)
    expect_error(TypeError, ["'y0'", "float64"], system="lorenz", y0="abc", dt=0.1, steps=1)
    expect_error(TypeError, ["unexpected keyword argument 'rhoo'", "did you mean 'rho'"],
                 system="lorenz", rhoo=1.0, **base)
    expect_error(TypeError, ["missing", "'dt'"], system="lorenz", y0=y3, steps=1)
    # A run that becomes unstable is a KernelError naming the system, not silent NaN.
    unstable = np.array([[1.0, 1.0], [1.0, 1.0]])
    expect_error(simhost.KernelError, ["system 1", "non-finite", "reduce dt"],
                 system="harmonic", y0=unstable, p=np.array([[1.0], [100.0]]), dt=0.1, steps=500)
    print("   every bad input refused with the right type and message")


def test_bit_identical_across_threads():
    m = 333
    y0 = lorenz_states(m, 11)
    p = np.column_stack([np.full(m, 10.0), np.linspace(0.5, 100, m), np.full(m, 8 / 3)])
    before = simhost.get_threads()
    try:
        results = {}
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            results[threads] = [
                ode(system="lorenz", y0=y0, p=p, dt=0.01, steps=400, save_every=50,
                    method=method, rtol=1e-7)
                for method in ("rk4", "dopri5")
            ]
        for threads in (2, 3):
            for a, b in zip(results[1], results[threads]):
                assert np.array_equal(a.y, b.y), threads
                assert np.array_equal(a.trajectory, b.trajectory), threads
    finally:
        simhost.set_threads(before)
    print("   rk4 and dopri5 identical at 1, 2, 3 threads")


def test_timeout_on_a_bench_size_call():
    # The bench's M = 1e5 Lorenz systems, with 100x its steps so it cannot finish in time.
    y0 = lorenz_states(100_000, 0)
    t = time.perf_counter()
    try:
        ode(system="lorenz", y0=y0, dt=0.01, steps=100_000, timeout=TIMEOUT_S)
    except TimeoutError:
        elapsed = time.perf_counter() - t
    else:
        raise AssertionError("a 100000-step bench-size call finished within the timeout")
    assert elapsed < TIMEOUT_DEADLINE_S, elapsed
    # The process is healthy afterwards.
    r = ode(system="harmonic", y0=np.array([[1.0, 0.0]]), dt=0.01, steps=10)
    assert np.isfinite(r.y).all()
    print(f"   TimeoutError after {elapsed:.3f} s")


def test_documentation_mentions_units():
    text = simhost.describe("ode_batch")["text"]
    doc = ode.__doc__
    for part in ("unit: time", "rad/time", "1/time", "1/(time population)", "system-steps",
                 "p = (sigma, rho, beta), defaults (10, 28, 8/3)", "dopri5", "t0 + steps*dt",
                 "bit-identical"):
        assert part in doc, part
        assert part in text, part
    sig = inspect.signature(ode)
    assert sig.parameters["dt"].annotation == "float [time]"
    assert sig.parameters["p"].default is None
    print("   describe() and help() document units, systems and defaults")


def main():
    return simhost_testing.run(
        [v for k, v in globals().items() if k.startswith("test_") and callable(v)])


if __name__ == "__main__":
    sys.exit(main())
