"""heat_implicit (the in-tree plugin) through the host: the exact decay of discrete eigenmodes,
agreement with heat2d at small dt (first and second order), the steady state against a NumPy
Laplace solve, stability and monotone decay far beyond heat2d's limit, thread counts, bad
inputs, cancellation, documentation."""

import math
import sys

import numpy as np

import simhost
import simhost_testing

# Eigenmodes: rounding only (measured <= 3e-14 on these cases), relative to |g^n| max|u0|.
MODE_TOLERANCE = 1e-12
# Small dt against heat2d. Every scheme here maps the sine mode (p, q) of the error
# e = u - u_steady (zero edges) to g(x)^n e, x = alpha dt |lambda_pq| <= 8 alpha dt / dx^2:
# forward Euler (heat2d) g = 1 - x, backward Euler 1/(1 + x), Crank-Nicolson
# (1 - x/2)/(1 + x/2). With y = n x, to leading order in 1/n (x <= 1):
#   BE - FE: e^-y y^2 / n                    <= (4/e^2) / n    (at y = 2)
#   CN - FE: e^-y y^2 / (2n)                 <= (2/e^2) / n
#   CN - (2 FE(dt/2) - FE(dt)) (Richardson): e^-y y^3 (y - 4) / (16 n^2), |.| <= (1/e^2) / n^2
# The modes are orthonormal, so the 2-norm of a difference is at most that bound times
# ||e_0||_2: O(dt), O(dt) and O(dt^2) at a fixed end time. The constants are those suprema;
# SLACK covers the next order in 1/n (over x in (0, 0.8] at n = 40 the exact suprema exceed
# them by at most 1.6e-4 relative). Measured: 2.8 times below each bound.
BE_VS_EXPLICIT = 4 / math.e**2  # times ||e_0||_2 / n
CN_VS_EXPLICIT = 2 / math.e**2  # times ||e_0||_2 / n
CN_VS_RICHARDSON = 1 / math.e**2  # times ||e_0||_2 / n^2
SLACK = 1.05
# Halving dt must divide those differences by 2 (first order) or 4 (second): measured 1.997 -
# 2.000 and 3.993 - 3.998 at n = 40 -> 80 -> 160.
ORDER_TOLERANCE = 0.05  # relative, on the ratio
# The steady state (backward Euler, dt = 1e12 explicit limits, 3 steps): the slowest mode
# keeps (1 + x)^-3 of its amplitude, x = 0.25e12 * 0.028 ~ 7e9, ~3e-30; what remains is
# rounding in a solve of condition ~1e3 (measured 4e-15), relative to the 100-degree edge.
STEADY_TOLERANCE = 1e-12

ALPHA = 1.1e-4  # m^2/s (copper)
DX = 0.01  # m
DT_LIMIT = DX * DX / (4 * ALPHA)  # s: heat2d's limit, r = alpha dt / dx^2 <= 1/4


def heat_implicit(**kw):
    kw.setdefault("alpha", ALPHA)
    kw.setdefault("dx", DX)
    return simhost.run("heat_implicit", **kw).u


def expect_error(exc_type, words, **kw):
    simhost_testing.expect_raises(exc_type, lambda: heat_implicit(**kw), *words)


def growth(scheme, dt, lam, alpha=ALPHA):
    z = dt * alpha * lam
    return 1 / (1 - z) if scheme == "backward_euler" else (1 + z / 2) / (1 - z / 2)


def eigenmode(ny, nx, p, q):
    """sin(pi p i/(Hi+1)) sin(pi q j/(Wi+1)) with zero edges and its eigenvalue of the 5-point
    Laplacian. heat2d's Dirichlet convention: the outermost rows and columns are the fixed
    edges, so the unknowns are the Hi = ny - 2 by Wi = nx - 2 interior points and
    Hi + 1 = ny - 1."""
    hi, wi = ny - 2, nx - 2
    i, j = np.arange(ny)[:, None], np.arange(nx)[None, :]
    u = np.sin(math.pi * p * i / (hi + 1)) * np.sin(math.pi * q * j / (wi + 1))
    u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = 0.0  # exactly zero edges
    lam = -(4 / DX**2) * (math.sin(math.pi * p / (2 * (hi + 1))) ** 2
                          + math.sin(math.pi * q / (2 * (wi + 1))) ** 2)
    return u, lam


def plate(ny=25, nx=31, seed=7):
    """Edges at 100 (top), 20 (bottom) and linear between on the sides; a rough interior."""
    u0 = np.zeros((ny, nx))
    u0[:, 0] = u0[:, -1] = np.linspace(100.0, 20.0, ny)
    u0[0, :], u0[-1, :] = 100.0, 20.0
    u0[1:-1, 1:-1] = np.random.default_rng(seed).uniform(0.0, 50.0, size=(ny - 2, nx - 2))
    return u0


def laplace_steady_state(u0):
    """The discrete harmonic field with u0's edges: a dense NumPy solve of the 5-point system."""
    ny, nx = u0.shape
    my, mx = ny - 2, nx - 2
    a, b = np.zeros((my * mx, my * mx)), np.zeros(my * mx)
    for i in range(1, ny - 1):
        for j in range(1, nx - 1):
            k = (i - 1) * mx + (j - 1)
            a[k, k] = 4.0
            for ii, jj in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 < ii < ny - 1 and 0 < jj < nx - 1:
                    a[k, (ii - 1) * mx + (jj - 1)] = -1.0
                else:
                    b[k] += u0[ii, jj]
    u = u0.copy()
    u[1:-1, 1:-1] = np.linalg.solve(a, b).reshape(my, mx)
    return u


def test_eigenmodes_decay_by_g_to_the_n():
    ny, nx = 33, 41  # not square: p runs along the rows (y), q along the columns (x)
    cases = [  # scheme, (p, q), dt in heat2d limits, steps
        ("backward_euler", (1, 1), 100.0, 5),
        ("backward_euler", (3, 2), 0.5, 40),
        ("backward_euler", (3, 2), 10.0, 10),
        ("backward_euler", (7, 5), 0.5, 40),
        ("crank_nicolson", (1, 1), 100.0, 5),
        ("crank_nicolson", (3, 2), 0.5, 40),
        ("crank_nicolson", (3, 2), 10.0, 10),
        ("crank_nicolson", (7, 5), 100.0, 5),  # g ~ -0.77: CN barely damps stiff modes
    ]
    for scheme, (p, q), limits, steps in cases:
        u0, lam = eigenmode(ny, nx, p, q)
        dt = limits * DT_LIMIT
        scale = growth(scheme, dt, lam) ** steps
        assert 0.01 < abs(scale) < 0.95, (scheme, p, q, scale)  # decayed, still measurable
        u = heat_implicit(u0=u0, dt=dt, steps=steps, scheme=scheme)
        err = np.max(np.abs(u - scale * u0)) / (abs(scale) * np.max(np.abs(u0)))
        assert err < MODE_TOLERANCE, f"{scheme} mode ({p}, {q}), {limits} x limit: {err:.3g}"


def test_default_scheme_is_crank_nicolson():
    u0, lam = eigenmode(12, 10, 2, 1)
    u = heat_implicit(u0=u0, dt=3 * DT_LIMIT, steps=4)
    assert simhost_testing.same_bits(
        u, heat_implicit(u0=u0, dt=3 * DT_LIMIT, steps=4, scheme="crank_nicolson"))
    assert not np.array_equal(
        u, heat_implicit(u0=u0, dt=3 * DT_LIMIT, steps=4, scheme="backward_euler"))


def test_steady_state_matches_a_laplace_solve():
    u0 = plate()
    want = laplace_steady_state(u0)
    # Backward Euler only: Crank-Nicolson's factor tends to -1 for large dt (no damping).
    u = heat_implicit(u0=u0, dt=1e12 * DT_LIMIT, steps=3, scheme="backward_euler")
    err = np.max(np.abs(u - want)) / 100.0
    assert err < STEADY_TOLERANCE, f"relative error {err:.3g}"


def test_small_dt_agrees_with_heat2d_to_first_and_second_order():
    u0 = plate()
    e0 = np.linalg.norm((u0 - laplace_steady_state(u0))[1:-1, 1:-1])
    end_time = 40 * 0.4 * DT_LIMIT  # 40 steps at r = 0.1 (x <= 8 r <= 1 for the bounds)
    gaps = []
    for n in (40, 80, 160):
        dt = end_time / n
        r = ALPHA * dt / DX**2
        explicit = simhost.run("heat2d", u0=u0, r=r, steps=n).u
        richardson = 2 * simhost.run("heat2d", u0=u0, r=r / 2, steps=2 * n).u - explicit
        be = heat_implicit(u0=u0, dt=dt, steps=n, scheme="backward_euler")
        cn = heat_implicit(u0=u0, dt=dt, steps=n, scheme="crank_nicolson")
        gap = (np.linalg.norm(be - explicit), np.linalg.norm(cn - explicit),
               np.linalg.norm(cn - richardson))
        bound = (SLACK * BE_VS_EXPLICIT * e0 / n, SLACK * CN_VS_EXPLICIT * e0 / n,
                 SLACK * CN_VS_RICHARDSON * e0 / n**2)
        for what, g, b in zip(("BE - heat2d", "CN - heat2d", "CN - Richardson"), gap, bound):
            assert g <= b, f"n = {n}: ||{what}||_2 = {g:.4g} > {b:.4g}"
        gaps.append(gap)
    for coarse, fine in zip(gaps, gaps[1:]):
        for what, order, c, f in zip(("BE - heat2d", "CN - heat2d", "CN - Richardson"),
                                     (1, 1, 2), coarse, fine):
            assert abs(c / f / 2**order - 1) < ORDER_TOLERANCE, (what, c / f)


def test_backward_euler_at_100_times_the_limit_decays_monotonically():
    u0 = np.zeros((40, 50))
    u0[1:-1, 1:-1] = np.random.default_rng(3).uniform(-10.0, 10.0, size=(38, 48))
    dt = 100 * DT_LIMIT  # r = 25
    simhost_testing.expect_raises(ValueError, lambda: simhost.run(
        "heat2d", u0=u0, r=ALPHA * dt / DX**2, steps=1), "<= 0.25")
    norms, u = [np.max(np.abs(u0))], u0
    for _ in range(30):
        u = heat_implicit(u0=u, dt=dt, steps=1, scheme="backward_euler")
        assert np.all(np.isfinite(u))
        norms.append(np.max(np.abs(u)))
    # I + r K is an M-matrix: the maximum principle makes every step a max-norm contraction.
    assert all(b < a for a, b in zip(norms, norms[1:])), norms
    assert norms[-1] < 1e-3 * norms[0], norms[-1]
    # One call of 30 steps (one factorisation, reused) is the 30 chained calls, bit for bit.
    assert simhost_testing.same_bits(
        heat_implicit(u0=u0, dt=dt, steps=30, scheme="backward_euler"), u)
    # Crank-Nicolson at that dt is stable in the 2-norm (not monotone in the max-norm).
    two, v = [np.linalg.norm(u0)], u0
    for _ in range(10):
        v = heat_implicit(u0=v, dt=dt, steps=1, scheme="crank_nicolson")
        two.append(np.linalg.norm(v))
    assert all(b <= a for a, b in zip(two, two[1:])), two


def test_edges_held_exactly_input_unchanged_zero_steps():
    u0 = plate(30, 20)
    keep = u0.copy()
    u = heat_implicit(u0=u0, dt=7 * DT_LIMIT, steps=6)
    assert np.array_equal(u0, keep)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert np.array_equal(u[edge], u0[edge])
    assert not np.array_equal(u[1:-1, 1:-1], u0[1:-1, 1:-1])
    same = heat_implicit(u0=u0, dt=DT_LIMIT, steps=0)
    assert np.array_equal(same, u0) and same is not u0
    # The 3 x 3 grid (one unknown): u = (u + (1-theta) r (S+N+E+W-4u) + theta r (S+N+E+W)) /
    # (1 + 4 theta r).
    small = np.array([[0.0, 1.0, 0.0], [2.0, 5.0, 3.0], [0.0, 4.0, 0.0]])
    r = 2.0
    got = heat_implicit(u0=small, alpha=1.0, dx=1.0, dt=r, steps=1, scheme="backward_euler")
    assert math.isclose(got[1, 1], (5.0 + r * 10.0) / (1 + 4 * r), rel_tol=1e-15)
    got = heat_implicit(u0=small, alpha=1.0, dx=1.0, dt=r, steps=1, scheme="crank_nicolson")
    assert math.isclose(got[1, 1], (5.0 + r / 2 * (10.0 - 20.0) + r / 2 * 10.0) / (1 + 2 * r),
                        rel_tol=1e-15)


def test_bit_identical_at_1_2_3_threads():
    u0 = plate(301, 257, seed=4)  # 299 interior rows: 5 chunks of 64 rows
    before = simhost.get_threads()
    try:
        results = {}
        for threads in (1, 2, 3):
            simhost.set_threads(threads)
            results[threads] = [heat_implicit(u0=u0, dt=30 * DT_LIMIT, steps=7, scheme=s)
                                for s in ("backward_euler", "crank_nicolson")]
        for threads in (2, 3):
            for a, b in zip(results[1], results[threads]):
                assert simhost_testing.same_bits(a, b), f"threads={threads} differs from 1"
    finally:
        simhost.set_threads(before)


def test_bad_inputs():
    u0 = np.zeros((8, 8))
    ok = dict(u0=u0, dt=1.0, steps=1)
    expect_error(ValueError, ["heat_implicit()", "'scheme'", "must be one of",
                              "'backward_euler' or 'crank_nicolson'", "got 'crank_nicholson'",
                              "did you mean 'crank_nicolson'?"],
                 **ok, scheme="crank_nicholson")
    expect_error(ValueError, ["'scheme'", "'backward_euler' or 'crank_nicolson'", "got 'rk4'"],
                 **ok, scheme="rk4")
    for name in ("dt", "alpha", "dx"):
        for bad in (0.0, -1.0):
            kw = dict(ok, **{name: bad})
            expect_error(ValueError, ["heat_implicit()", f"'{name}'", "must be > 0",
                                      f"got {bad}"], **kw)
        expect_error(ValueError, [f"'{name}'", "finite"], **dict(ok, **{name: math.inf}))
    for shape in ((2, 8), (8, 2), (1, 1), (2, 2)):
        expect_error(ValueError, ["heat_implicit()", "'u0'", "at least 3 points in each direction",
                                  f"got shape {shape}"], **dict(ok, u0=np.zeros(shape)))
    expect_error(ValueError, ["'u0'", "expects shape (ny, nx)", "got (64,)"],
                 **dict(ok, u0=np.zeros(64)))
    bad = u0.copy()
    bad[3, 4] = np.nan
    expect_error(ValueError, ["'u0'", "nan", "(3, 4)", "finite"], **dict(ok, u0=bad))
    expect_error(ValueError, ["alpha*dt/dx^2 overflows", "reduce dt"],
                 **dict(ok, alpha=1e200, dt=1e200))
    expect_error(ValueError, ["'steps'", ">= 0", "got -1"], **dict(ok, steps=-1))
    expect_error(TypeError, ["'steps'", "int"], **dict(ok, steps=2.5))
    simhost_testing.expect_raises(TypeError, lambda: simhost.run("heat_implicit", u0=u0, dx=DX,
                                                                 dt=1.0, steps=1), "'alpha'")


def test_timeout_cancels_between_steps():
    u0 = plate(130, 130)
    simhost_testing.expect_raises(TimeoutError, lambda: simhost.run(
        "heat_implicit", u0=u0, alpha=ALPHA, dx=DX, dt=DT_LIMIT, steps=10**9, timeout=0.2),
        "heat_implicit()", "timeout=0.2")
    # The host is healthy afterwards.
    assert np.all(np.isfinite(heat_implicit(u0=u0, dt=DT_LIMIT, steps=2)))


def test_documentation_mentions_units_and_the_factorisation():
    d = simhost.describe("heat_implicit")
    params = {p["name"]: p for p in d["params"]}
    assert params["u0"]["unit"] == "temperature"
    assert params["alpha"]["unit"] == "m^2/s"
    assert params["dx"]["unit"] == "m" and params["dt"]["unit"] == "s"
    assert params["scheme"]["default"] == "crank_nicolson"
    assert params["scheme"]["choices"] == ["backward_euler", "crank_nicolson"]
    assert params["dt"]["max"] is None  # no stability limit
    assert d["progress_unit"] == "steps"
    assert [o["name"] for o in d["outputs"]] == ["u"]
    text = simhost.kernels.heat_implicit.__doc__ or ""
    for words in ("SimplicialLDLT", "once per call", "Dirichlet", "heat2d", "bit-identical"):
        assert words in text, words


def main():
    if "heat_implicit" not in simhost.list_kernels():
        print("the heat_implicit plugin did not load:", simhost.plugin_failures())
        return 1
    tests = [
        test_eigenmodes_decay_by_g_to_the_n,
        test_default_scheme_is_crank_nicolson,
        test_steady_state_matches_a_laplace_solve,
        test_small_dt_agrees_with_heat2d_to_first_and_second_order,
        test_backward_euler_at_100_times_the_limit_decays_monotonically,
        test_edges_held_exactly_input_unchanged_zero_steps,
        test_bit_identical_at_1_2_3_threads,
        test_bad_inputs,
        test_timeout_cancels_between_steps,
        test_documentation_mentions_units_and_the_factorisation,
    ]
    return simhost_testing.run(tests)


if __name__ == "__main__":
    sys.exit(main())
