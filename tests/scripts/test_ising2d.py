"""ising2d through the host: bit for bit against a pure-Python implementation written here
(its own Philox4x32-10 for the sweeps and Philox4x64-10 for the hot start, both checked
against Random123's known answers), Onsager's magnetization,
every bad input, bit-identity across thread counts, timeout and the documentation. The exit
code is the verdict."""

import inspect
import math
import sys
import time

import numpy as np

import simhost
import simhost_testing

ising = simhost.kernels.ising2d

# Onsager's <|m|> against the run's average: a statistical check, so the tolerance is this many
# of the run's own standard errors (batch means over ONSAGER_BATCHES blocks, which absorb the
# correlation time); the finite-size bias at L = 64, beta = 0.6 is far below it. Measured:
# standard error 1.3e-4, difference 7e-5; a bias of 1% in beta moves <|m|> by ~1.6e-3.
ONSAGER_STANDARD_ERRORS = 5
ONSAGER_BATCHES = 20
ONSAGER_MAX_STANDARD_ERROR = 2e-3  # a noisy kernel must not pass by its noise
TIMEOUT_S = 0.2
TIMEOUT_DEADLINE_S = 0.7

# ------------------------------------------------------------------------------------------
# Philox4x64-10 and Philox4x32-10 (Salmon et al. 2011, as in Random123) in plain Python integers
# ------------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
# Multipliers and Weyl constants of Philox4xW (W = 64, 32).
PHILOX_CONSTANTS = {64: ((0xD2E7470EE14C6C93, 0xCA5A826395121157),
                         (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)),
                    32: ((0xD2511F53, 0xCD9E8D57), (0x9E3779B9, 0xBB67AE85))}


def philox4xw(counter, key, width):
    """Philox4xW-10's four W-bit output words for a 4-word counter and a 2-word key."""
    (m0, m1), (w0, w1) = PHILOX_CONSTANTS[width]
    mask = (1 << width) - 1
    x0, x1, x2, x3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + w0) & mask
            k1 = (k1 + w1) & mask
        p0 = m0 * x0
        p1 = m1 * x2
        x0, x1, x2, x3 = ((p1 >> width) ^ x1 ^ k0, p1 & mask, (p0 >> width) ^ x3 ^ k1, p0 & mask)
    return x0, x1, x2, x3


def philox4x64(counter, key):
    return philox4xw(counter, key, 64)


def philox4x32(counter, key):
    return philox4xw(counter, key, 32)


def reference_ising(spins, beta, h, sweeps, seed, measure_every=1):
    """The documented algorithm, one site at a time, with the Philox above.

    Sweep t updates colour c = 0 (sites with i + j even) then c = 1. Site (i, j) of colour c
    is site k = j // 2 of its colour row; writing k = 32 m + 8 q + l, its 32-bit word is
    word q of philox4x32(counter (8 m + l, i, stream low, stream high), key (seed low, seed
    high)), stream = 2 t + c, seed taken mod 2^64. It flips when (word >> 1) < floor(p * 2^31), p = min(1, exp(-beta dE)),
    dE = 2 s (nb + h); p = 1 means "always" (threshold 2^31).
    """
    s = np.array(spins, dtype=np.int64)
    L = s.shape[0]
    seed %= 1 << 64
    key = (seed & MASK32, seed >> 32)
    mags, energies = [], []
    for t in range(sweeps):
        for c in (0, 1):
            new = s.copy()
            for i in range(L):
                words = {}
                stream = 2 * t + c
                for j in range((i + c) % 2, L, 2):
                    k = j // 2
                    block = 8 * (k // 32) + k % 8
                    if block not in words:
                        words[block] = philox4x32((block, i, stream & MASK32, stream >> 32), key)
                    word = words[block][(k % 32) // 8]
                    nb = s[i - 1, j] + s[(i + 1) % L, j] + s[i, j - 1] + s[i, (j + 1) % L]
                    dE = 2.0 * s[i, j] * (nb + h)
                    p = 1.0 if beta == 0 else math.exp(-beta * dE)
                    threshold = 1 << 31 if p >= 1 else math.floor(p * 2.0**31)
                    if (word >> 1) < threshold:
                        new[i, j] = -s[i, j]
            s = new
        if (t + 1) % measure_every == 0:
            total = int(s.sum())
            bonds = int((s * np.roll(s, -1, 0)).sum() + (s * np.roll(s, -1, 1)).sum())
            mags.append(total / L**2)
            energies.append((-bonds - h * total) / L**2)
    return s.astype(np.int8), np.array(mags), np.array(energies)


def reference_hot_start(L, seed):
    """Site (i, j) is +1 when bit j % 256 of philox((i, j // 256, 0, 0), (seed, 2^64 - 1)),
    read as four 64-bit words with the low bit of word 0 first, is set."""
    s = np.empty((L, L), dtype=np.int8)
    for i in range(L):
        for j0 in range(0, L, 256):
            words = philox4x64((i, j0 // 256, 0, 0), (seed % (1 << 64), MASK64))
            for j in range(j0, min(L, j0 + 256)):
                b = j - j0
                s[i, j] = 1 if (words[b // 64] >> (b % 64)) & 1 else -1
    return s


def expect_error(exc_type, parts, **kw):
    return str(simhost_testing.expect_raises(exc_type, lambda: ising(**kw), *parts))


def assert_same(r, want, label):
    spins, mags, energies = want
    assert r.spins.dtype == np.int8, f"{label}: spins dtype {r.spins.dtype}"
    assert np.array_equal(r.spins, spins), f"{label}: final spins differ"
    assert np.array_equal(r.magnetization, mags), f"{label}: {r.magnetization} != {mags}"
    assert np.array_equal(r.energy, energies), f"{label}: {r.energy} != {energies}"


# ------------------------------------------------------------------------------------------


def test_python_philox_reproduces_random123_known_answers():
    # Random123's kat_vectors. philox4x64 10: counter 0, key 0, and the pi digits vector.
    assert philox4x64((0, 0, 0, 0), (0, 0)) == (
        0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)
    assert philox4x64((0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0,
                       0x082EFA98EC4E6C89), (0x452821E638D01377, 0xBE5466CF34E90C6C)) == (
        0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6)
    # philox4x32 10: counter 0, key 0; all ones; the pi digits vector.
    assert philox4x32((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert philox4x32((MASK32,) * 4, (MASK32,) * 2) == (
        0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    assert philox4x32((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
                      (0xA4093822, 0x299F31D0)) == (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


def test_matches_the_python_reference_bit_for_bit():
    rng = np.random.default_rng(3)
    # L = 6: rows of 3 sites per colour; L = 20: one group of 32 sites per row; L = 140: 70
    # sites per row, so two groups, a second SIMD segment and a ragged tail.
    for L, beta, h, sweeps, seed, every in ((6, 0.35, 0.3, 4, 77, 1),
                                            (20, 0.5, -0.1, 3, 2**63 - 5, 2),
                                            (140, 0.44, 0.05, 1, 2**40 + 3, 1)):
        spins = np.where(rng.random((L, L)) < 0.5, -1, 1).astype(np.int8)
        r = ising(spins=spins, beta=beta, h=h, sweeps=sweeps, seed=seed, measure_every=every)
        assert_same(r, reference_ising(spins, beta, h, sweeps, seed, every), f"spins L={L}")
    # The hot start from the seed, then two sweeps.
    r = ising(L=10, start="hot", beta=0.4, sweeps=2, seed=123)
    start = reference_hot_start(10, 123)
    assert abs(int(start.sum())) < 100, "the hot start is not all one sign"
    assert_same(r, reference_ising(start, 0.4, 0.0, 2, 123), "hot start L=10")
    # The cold start is all +1.
    r = ising(L=8, start="cold", beta=0.3, sweeps=2, seed=9)
    assert_same(r, reference_ising(np.ones((8, 8), np.int8), 0.3, 0.0, 2, 9), "cold L=8")
    r0 = ising(L=8, beta=0.3, sweeps=2, seed=9)  # start None with L means cold
    assert np.array_equal(r0.spins, r.spins)


def test_magnetization_matches_onsager_below_tc():
    beta = 0.6
    exact = (1 - math.sinh(2 * beta) ** -4) ** 0.125
    r = ising(L=64, beta=beta, sweeps=2200, seed=1)
    samples = np.abs(r.magnetization[200:])
    m = samples.mean()
    batches = samples[: samples.size // ONSAGER_BATCHES * ONSAGER_BATCHES].reshape(
        ONSAGER_BATCHES, -1).mean(axis=1)
    err = batches.std(ddof=1) / math.sqrt(ONSAGER_BATCHES)
    print(f"  <|m|> = {m:.5f} +- {err:.1e}, Onsager {exact:.5f}")
    assert err < ONSAGER_MAX_STANDARD_ERROR, err
    assert abs(m - exact) < ONSAGER_STANDARD_ERRORS * err, (m, exact, err)


def test_outputs_shapes_and_input_untouched():
    spins = np.where(np.arange(64).reshape(8, 8) % 3 == 0, -1, 1).astype(np.int8)
    before = spins.copy()
    r = ising(spins=spins, beta=0.3, sweeps=10, seed=2, measure_every=3)
    assert np.array_equal(spins, before), "the input spins were modified"
    assert r.spins.shape == (8, 8) and r.spins.dtype == np.int8
    assert r.magnetization.shape == (3,) and r.energy.shape == (3,)
    assert set(np.unique(r.spins)) <= {-1, 1}
    r = ising(L=8, beta=0.3, sweeps=2, seed=2, measure_every=5)
    assert r.magnetization.shape == (0,) and r.energy.shape == (0,)
    # int64 +-1 arrays convert without loss.
    r = ising(spins=before.astype(np.int64), beta=0.3, sweeps=0, seed=2)
    assert np.array_equal(r.spins, before)


def test_bad_inputs_are_refused_with_clear_messages():
    ok = np.ones((4, 4), dtype=np.int8)
    base = dict(beta=0.4, sweeps=1, seed=1)
    expect_error(TypeError, ["ising2d()", "give the lattice size 'L' or an initial 'spins'",
                             "neither was given"], **base)
    expect_error(TypeError, ["ising2d()", "either the lattice size 'L' or an initial 'spins'",
                             "not both"], L=4, spins=ok, **base)
    expect_error(ValueError, ["ising2d(): parameter 'L' must be even", "got 5"], L=5, **base)
    expect_error(ValueError, ["parameter 'L' must be >= 2, got 0"], L=0, **base)
    bad = ok.copy()
    bad[2, 3] = 0
    expect_error(ValueError, ["parameter 'spins' must hold only -1 and +1",
                              "got 0 at index (2, 3)"], spins=bad, **base)
    expect_error(ValueError, ["parameter 'spins' must be an L x L array with L even",
                              "got shape (3, 3)"], spins=np.ones((3, 3), np.int8), **base)
    expect_error(ValueError, ["parameter 'spins' expects shape (L, L), got (4, 6)"],
                 spins=np.ones((4, 6), np.int8), **base)
    expect_error(TypeError, ["parameter 'spins' expects a int8 array",
                             "do not convert to int8 without loss"],
                 spins=np.full((4, 4), 0.5), **base)
    expect_error(ValueError, ["parameter 'start' applies only with 'L'", "got 'hot'"],
                 spins=ok, start="hot", **base)
    expect_error(ValueError, ["parameter 'start' must be one of 'cold' or 'hot'", "got 'warm'"],
                 L=4, start="warm", **base)
    expect_error(ValueError, ["ising2d(): parameter 'beta' must be >= 0.0, got -0.5"],
                 L=4, beta=-0.5, sweeps=1, seed=1)
    expect_error(ValueError, ["parameter 'beta' must be finite, got nan"],
                 L=4, beta=float("nan"), sweeps=1, seed=1)
    expect_error(ValueError, ["ising2d(): parameter 'h' must be finite, got nan"],
                 L=4, h=float("nan"), **base)
    expect_error(ValueError, ["ising2d(): parameter 'measure_every' must be >= 1, got 0"],
                 L=4, measure_every=0, **base)
    expect_error(ValueError, ["ising2d(): parameter 'sweeps' must be >= 0, got -1"],
                 L=4, beta=0.4, sweeps=-1, seed=1)
    expect_error(ValueError, ["ising2d(): parameter 'seed' must be >= 0, got -1"],
                 L=4, beta=0.4, sweeps=1, seed=-1)
    expect_error(TypeError, ["parameter 'sweeps' expects an int, got float"],
                 L=4, beta=0.4, sweeps=1.5, seed=1)
    expect_error(TypeError, ["unexpected keyword argument 'sweep'", "did you mean 'sweeps'"],
                 L=4, beta=0.4, sweep=1, seed=1)


def test_bit_identical_at_1_2_3_threads():
    before = simhost.get_threads()
    try:
        results = []
        for n in (1, 2, 3):
            simhost.set_threads(n)
            results.append(ising(L=260, start="hot", beta=0.44, h=0.05, sweeps=15, seed=8))
        for n, r in zip((2, 3), results[1:]):
            for name in ("spins", "magnetization", "energy"):
                assert np.array_equal(getattr(r, name), getattr(results[0], name)), (n, name)
    finally:
        simhost.set_threads(before)


def test_timeout_stops_a_bench_size_call():
    t0 = time.monotonic()
    try:
        ising(L=1024, start="hot", beta=0.44, sweeps=100000, seed=1, timeout=TIMEOUT_S)
    except TimeoutError:
        elapsed = time.monotonic() - t0
        assert elapsed < TIMEOUT_DEADLINE_S, f"TimeoutError after {elapsed:.2f} s"
    else:
        raise AssertionError("no TimeoutError")
    ising(L=8, beta=0.3, sweeps=1, seed=1)  # the process is healthy afterwards


def test_documentation_states_units():
    info = simhost.describe("ising2d")
    units = {p["name"]: p["unit"] for p in info["params"]}
    assert units["beta"] == "1/J" and units["h"] == "J", units
    assert {o["name"]: o["unit"] for o in info["outputs"]}["energy"] == "J"
    assert info["progress_unit"] == "sweeps"
    doc = ising.__doc__
    for part in ("unit: 1/J", "unit: J", "checkerboard", "sweeps"):
        assert part in doc, part
    assert "L^2 bytes" in doc, "the scratch memory is documented"
    sig = inspect.signature(ising)
    assert sig.parameters["h"].default == 0.0
    assert sig.parameters["L"].default is None and sig.parameters["start"].default is None
    assert sig.parameters["measure_every"].default == 1


TESTS = [
    test_python_philox_reproduces_random123_known_answers,
    test_matches_the_python_reference_bit_for_bit,
    test_magnetization_matches_onsager_below_tc,
    test_outputs_shapes_and_input_untouched,
    test_bad_inputs_are_refused_with_clear_messages,
    test_bit_identical_at_1_2_3_threads,
    test_timeout_stops_a_bench_size_call,
    test_documentation_states_units,
]


def main():
    return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
