"""Numba, the peer every benchmark is measured against, when it is installed.

The references import it from here; without Numba the benchmarks still run, without the
Numba columns (HAVE_NUMBA is False and numba is None).
"""

try:
    import numba
    from numba import prange

    HAVE_NUMBA = True
except ImportError:
    numba = None
    prange = range
    HAVE_NUMBA = False
