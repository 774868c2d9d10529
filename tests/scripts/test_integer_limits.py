"""Every integer parameter of every registered kernel at the limits of 64 bits.

For each kernel in simhost.list_kernels() (built-ins and plugins alike) and each of its int
parameters, the kernel's declared example is run with that parameter set to 2**31, 2**53,
2**62, 2**63 - 1 (and past the int64 range, and at its own bounds and one either side), with
timeout=0.3. Each case must either succeed, time out (TimeoutError: the kernel honoured the
timeout), or raise a ValueError or MemoryError that names the parameter (and the output, when
it is about a size). A signal, a KernelError, a TypeError, a SystemError or a hang fails, with
the case named; under the asan preset a UBSan report (signed overflow, division by zero)
aborts the process, so the last case printed is the one at fault.

Also: the one seed rule of every seeded kernel, and the declared examples themselves.
Run as `simhost tests/scripts/test_integer_limits.py`; the exit code is the verdict.
"""

import faulthandler
import sys
import time

import numpy as np

import simhost
import simhost_testing

faulthandler.enable()  # a fatal signal prints the Python stack (and so the case) first

VALUES = (2**31, 2**53, 2**62, 2**63 - 1)
BEYOND = (2**63, -(2**63) - 1, -(2**63))  # past the int64 range, and its lowest value
TIMEOUT = 0.3
# A case that takes longer than this did not honour timeout= (a kernel checks for
# cancellation at least every few milliseconds). Only a hang detector: allocating and
# freeing a 16 GiB output takes seconds under AddressSanitizer (its shadow memory).
SLOW = simhost_testing.scaled(30.0)


def int_cases(info):
    """(parameter, value) pairs to try for one kernel's describe() dict."""
    for p in info["params"]:
        if p["kind"] != "int":
            continue
        values = set(VALUES) | set(BEYOND)
        for bound in (p["min"], p["max"]):
            if bound is not None:
                values |= {bound["value"] - 1, bound["value"], bound["value"] + 1}
        for v in sorted(values):
            yield p["name"], v


def outcome(name, example, outputs, param, value):
    """Runs one case; returns what happened ('ok', 'timeout', 'ValueError', 'MemoryError') or
    raises AssertionError naming the case."""
    case = f"{name}({param}={value})"
    print(f"  {case}", flush=True)  # the last line printed names a case that kills the process
    t0 = time.monotonic()
    try:
        simhost.run(name, **dict(example, **{param: value}), timeout=TIMEOUT)
        result = "ok"
    except TimeoutError:
        result = "timeout"
    except (ValueError, MemoryError) as e:
        msg = str(e)
        assert f"'{param}'" in msg or f"{param}=" in msg, \
            f"{case}: {type(e).__name__} does not name parameter {param!r}: {msg}"
        if "bytes" in msg:
            assert any(f"'{o}'" in msg for o in outputs), \
                f"{case}: {type(e).__name__} about a size names no output of {outputs}: {msg}"
        result = type(e).__name__
    except BaseException as e:  # noqa: BLE001 - KernelError, TypeError, SystemError, ...
        raise AssertionError(f"{case}: unexpected {type(e).__name__}: {e}") from e
    elapsed = time.monotonic() - t0
    assert elapsed < SLOW, f"{case}: took {elapsed:.1f} s with timeout={TIMEOUT} ({result})"
    return result


def results_of(name, example):
    r = simhost.run(name, **example)
    return {k: np.array(v, copy=True) for k, v in r.items()}


def test_every_int_parameter_at_the_limits_of_64_bits():
    kernels = simhost.list_kernels()
    assert kernels, "no kernels registered"
    tally = {}
    for name in kernels:
        info = simhost.describe(name)
        example = info["example"]
        assert example is not None, f"{name} declares no example, so its limits are not tested"
        before = results_of(name, example)
        outputs = [o["name"] for o in info["outputs"]]
        for param, value in int_cases(info):
            result = outcome(name, example, outputs, param, value)
            tally[result] = tally.get(result, 0) + 1
        # The process is healthy afterwards: the example gives the same bits as before.
        after = results_of(name, example)
        for k in before:
            assert simhost_testing.same_bits(before[k], after[k]), f"{name}: output {k!r} changed after the sweep"
    print(f"   outcomes: {tally}")


def test_sizes_are_refused_with_the_parameter_the_output_and_the_bytes():
    ex = simhost.describe("nbody")["example"]
    # (2**62 + 1) * 8 bytes do not fit in 64 bits: a ValueError, like numpy's for an array
    # larger than any address space, with the exact count.
    simhost_testing.expect_raises(
        ValueError, lambda: simhost.run("nbody", **dict(ex, steps=2**62)),
        "nbody(): steps=4611686018427387904 would need 36893488147419103240 bytes for output "
        "'energy'")
    # 2**53 + 1 doubles fit in 64 bits but in no machine's memory: a MemoryError, raised before
    # anything is allocated.
    simhost_testing.expect_raises(
        MemoryError, lambda: simhost.run("nbody", **dict(ex, steps=2**53)),
        "nbody(): steps=9007199254740992 would need 72057594037928", "for output 'energy'",
        "more than can be allocated")
    ex = simhost.describe("ode_batch")["example"]
    simhost_testing.expect_raises(
        ValueError, lambda: simhost.run("ode_batch", **dict(ex, steps=2**63 - 1, save_every=1)),
        "steps=9223372036854775807, save_every=1 would need more than", "for output 't'")
    ex = simhost.describe("ising2d")["example"]
    simhost_testing.expect_raises(
        ValueError, lambda: simhost.run("ising2d", **dict(ex, sweeps=2**62)),
        "ising2d(): sweeps=4611686018427387904, measure_every=1 would need "
        "36893488147419103232 bytes for output 'magnetization'")


def test_dopri5_overflowing_its_progress_count_fails_cleanly():
    # With 2**61 steps no step is above dopri5's failure threshold (16 eps * steps * dt): a
    # KernelError naming the system, after progress counted 8 * 2**61 system-steps (which
    # saturates instead of overflowing).
    y0 = np.tile([990.0, 10.0, 0.0], (8, 1))
    f = simhost.submit("ode_batch", system="sir", y0=y0, dt=1.0, steps=2**61, method="dopri5")
    e = f.exception(timeout=60)
    assert isinstance(e, simhost.KernelError), repr(e)
    assert "ode_batch(): dopri5 could not integrate system 0" in str(e), str(e)
    assert f.progress() == (2**63 - 1, 2**63 - 1), f.progress()


def seeded_kernels():
    out = {}
    for name in simhost.list_kernels():
        info = simhost.describe(name)
        params = {p["name"]: p for p in info["params"]}
        if "seed" in params:
            out[name] = (info, params["seed"])
    return out


def test_one_seed_rule_for_every_seeded_kernel():
    seeded = seeded_kernels()
    assert {"ising2d", "mc_asian"} <= set(seeded), sorted(seeded)
    rule = "An int in [0, 2^63 - 1] (default 0)"
    sentences = set()
    for name, (info, seed) in seeded.items():
        assert seed["kind"] == "int" and not seed["required"] and seed["default"] == 0, seed
        assert seed["min"] == {"value": 0, "inclusive": True} and seed["max"] is None, seed
        assert rule in seed["doc"], (name, seed["doc"])
        assert "seed (int, default 0, >= 0)" in info["text"], info["text"]
        sentences.add(seed["doc"][seed["doc"].index(rule):])
    assert len(sentences) == 1, f"the seed rule is worded differently: {sentences}"
    messages = {}
    for name, (info, _) in seeded.items():
        ex = info["example"]
        for bad in (-1, -(2**63), 2**63, 2**64):
            e = simhost_testing.expect_raises(
                ValueError, lambda: simhost.run(name, **dict(ex, seed=bad)), f"{name}()",
                "'seed'")
            messages.setdefault(bad, set()).add(str(e).replace(f"{name}()", "KERNEL()"))
        for good in (0, 1, 2**32, 2**63 - 1):
            simhost.run(name, **dict(ex, seed=good))
        # Leaving the seed out is seed=0, bit for bit.
        base = {k: v for k, v in ex.items() if k != "seed"}
        default, zero = results_of(name, base), results_of(name, dict(base, seed=0))
        for k in default:
            assert simhost_testing.same_bits(default[k], zero[k]), (name, k)
        one = results_of(name, dict(base, seed=1))
        assert any(not simhost_testing.same_bits(one[k], zero[k]) for k in one), f"{name}: seed 1 == seed 0"
    for bad, texts in messages.items():
        assert len(texts) == 1, f"seed={bad} is refused in different words: {texts}"
    assert messages[-1] == {"KERNEL(): parameter 'seed' must be >= 0, got -1"}, messages[-1]


def test_examples_are_fresh_small_and_fast():
    for name in simhost.list_kernels():
        a, b = simhost.describe(name)["example"], simhost.describe(name)["example"]
        assert a.keys() == b.keys(), name
        for k, v in a.items():
            if isinstance(v, np.ndarray):
                assert v is not b[k] and v.flags.owndata and v.flags.writeable, (name, k)
                assert v.nbytes <= 1 << 16, (name, k, v.nbytes)
                original = b[k].copy()
                v[...] = 0  # a copy: the next example is unchanged
                assert simhost_testing.same_bits(simhost.describe(name)["example"][k], original), (name, k)
        simhost.run(name, **b)  # warm up
        t0 = time.monotonic()
        r = simhost.run(name, **simhost.describe(name)["example"])
        elapsed = time.monotonic() - t0
        assert elapsed < 0.5 and r.seconds < 0.1, (name, elapsed, r.seconds)


TESTS = [
    test_examples_are_fresh_small_and_fast,
    test_sizes_are_refused_with_the_parameter_the_output_and_the_bytes,
    test_one_seed_rule_for_every_seeded_kernel,
    test_dopri5_overflowing_its_progress_count_fails_cleanly,
    test_every_int_parameter_at_the_limits_of_64_bits,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
