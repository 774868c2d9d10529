"""The one runner and assertion helpers for simhost's Python test files.

Script tests (run through the host binary) and embed tests (plain python3) both find this
module on PYTHONPATH, which CTest sets. A test file lists its test functions and ends with
``sys.exit(simhost_testing.run(TESTS))``.
"""

import os
import sys
import time
import traceback

#: How much slower than a release build this one runs kernels: SIMHOST_TEST_TIME_SCALE, set
#: by the tsan preset (instrumented kernels run 10-100x slower); 1 elsewhere, where tests
#: check the promises themselves (Ctrl-C within 0.5 s, ...).
TIME_SCALE = max(1.0, float(os.environ.get("SIMHOST_TEST_TIME_SCALE", "1") or 1))


def scaled(seconds):
    """A timing bound for this build: `seconds` times TIME_SCALE."""
    return seconds * TIME_SCALE

# A script whose whole subject cannot be tested on this machine (a missing CPU feature, say)
# exits with this status instead of returning early as a pass: CTest's SKIP_RETURN_CODE
# (tests/CMakeLists.txt) then reports it as Skipped. Never for a single test among others
# that ran: that one fails or is left out of TESTS with a printed reason.
SKIP_EXIT_CODE = 77


def run(tests):
    """Runs each test function, prints its name with PASS or FAIL (and the traceback), then
    the closing line 'N passed, N failed'. Returns the exit status: 0 when all passed."""
    failed = []
    for test in tests:
        t0 = time.monotonic()
        try:
            test()
        except Exception:  # noqa: BLE001 - collect every failure, report them all
            failed.append(test.__name__)
            print(f"{test.__name__} FAIL ({time.monotonic() - t0:.1f} s)")
            traceback.print_exc(file=sys.stdout)
        else:
            print(f"{test.__name__} PASS ({time.monotonic() - t0:.1f} s)")
        sys.stdout.flush()
    print(f"{len(tests) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


def expect_raises(exc_type, fn, *fragments):
    """Calls fn and requires an exception of exc_type (or a subclass) whose message contains
    every fragment; returns the exception."""
    try:
        fn()
    except exc_type as e:
        msg = str(e)
        missing = [f for f in fragments if f not in msg]
        assert not missing, f"{exc_type.__name__} message {msg!r} lacks {missing}"
        return e
    except BaseException as e:  # noqa: BLE001 - report the wrong exception
        raise AssertionError(f"expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"expected {exc_type.__name__}, nothing was raised")


def same_bits(a, b):
    """True when a and b (arrays or numbers) have the same dtype, shape and bytes."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_result(r, ref, label):
    """Requires two kernel results with the same outputs, bit for bit."""
    assert list(r) == list(ref), (label, list(r), list(ref))
    for name in ref:
        assert same_bits(r[name], ref[name]), f"{label}: output {name!r} differs bitwise"
