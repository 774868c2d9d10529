"""Peak memory of a kernel call is its inputs + outputs + small scratch: no hidden full-size
copies (ode_batch, heat2d; nbody's O(N^2) cost keeps its arrays too small to measure so). Measured as the growth of the process's peak RSS during the call (VmHWM, reset
through /proc/self/clear_refs just before it)."""

import sys

import numpy as np

import simhost
import simhost_testing

MiB = 1 << 20
# What a call may add besides its outputs: per-thread scratch, numpy and Python allocations.
SCRATCH_ALLOWANCE = 24 * MiB


def vm_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def peak_growth(call):
    """Bytes by which the peak RSS rose above the current RSS while call() ran."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = vm_kib("VmRSS")
    result = call()
    return (vm_kib("VmHWM") - before) * 1024, result


def check(name, call, output_bytes, input_bytes):
    growth, result = peak_growth(call)
    print(f"   {name}: inputs {input_bytes / MiB:.0f} MiB, outputs {output_bytes / MiB:.0f} MiB, "
          f"peak grew by {growth / MiB:.1f} MiB")
    # A hidden copy of any input or output would add at least the smallest of them.
    assert growth <= output_bytes + SCRATCH_ALLOWANCE, (growth, output_bytes)
    return result


def test_ode_batch_adds_only_its_outputs():
    m = 4_000_000
    y0 = np.random.default_rng(0).uniform(-10, 10, size=(m, 3))
    r = check("ode_batch rk4 M=4e6", lambda: simhost.kernels.ode_batch(
        system="lorenz", y0=y0, dt=1e-3, steps=2), output_bytes=y0.nbytes + 8 * 1,
        input_bytes=y0.nbytes)
    assert r.y.shape == y0.shape and np.all(np.isfinite(r.y))


def test_heat2d_adds_only_its_output():
    # 4096 x 4096 float64: 128 MiB in and 128 MiB out; temporal blocking keeps per-thread
    # rings of tiles, never a second full grid.
    n = 4096
    y, x = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    u0 = np.sin(np.pi * x) * np.sin(np.pi * y)
    del x, y
    for boundary in ("dirichlet", "periodic"):
        r = check(f"heat2d {n}x{n} {boundary}", lambda: simhost.kernels.heat2d(
            u0=u0, r=0.2, steps=30, boundary=boundary), output_bytes=u0.nbytes,
            input_bytes=u0.nbytes)
        assert r.u.shape == u0.shape and np.all(np.isfinite(r.u))
        assert r.u.max() < u0.max()  # it diffused
        del r


TESTS = [
    test_ode_batch_adds_only_its_outputs,
    test_heat2d_adds_only_its_output,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
