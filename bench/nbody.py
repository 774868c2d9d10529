"""Reference implementations of the `nbody` kernel for the benchmark: NumPy and Numba.

Both implement exactly the physics of simhost's built-in `nbody` kernel, so their results
can be compared with it number for number:

  acceleration  a_i = G * sum_{j != i} m_j (x_j - x_i) / (|x_j - x_i|^2 + eps^2)^(3/2)
  potential     phi_i = sum_{j != i} m_j / sqrt(|x_j - x_i|^2 + eps^2)   (same pass as a_i)
                U = -0.5 * G * sum_i m_i phi_i
  kinetic       K = 0.5 * sum_i m_i |v_i|^2
  integrator    kick-drift-kick leapfrog:
                  a, U = acc(x); energy[0] = K(v) + U
                  each step: v += dt/2 a; x += dt v; a, U = acc(x); v += dt/2 a;
                             energy[k] = K(v) + U

Every function takes pos (N,3), vel (N,3), mass (N,) float64 and returns
(pos, vel, energy, momentum): final positions and velocities, the (steps+1,) total energy
and the (3,) final total momentum sum_i m_i v_i. Inputs are never modified.

Numba is optional: `HAVE_NUMBA` says whether `numba_nbody` / `numba_nbody_fastmath` exist.
"""

import math

import numpy as np

__all__ = [
    "HAVE_NUMBA",
    "numpy_nbody",
    "numba_nbody",
    "numba_nbody_fastmath",
    "plummer",
    "pair_interactions",
]


def _check_inputs(pos, vel, mass):
    pos = np.ascontiguousarray(pos, dtype=np.float64)
    vel = np.ascontiguousarray(vel, dtype=np.float64)
    mass = np.ascontiguousarray(mass, dtype=np.float64)
    n = mass.shape[0]
    if mass.ndim != 1 or pos.shape != (n, 3) or vel.shape != (n, 3):
        raise ValueError(
            f"expected pos (N,3), vel (N,3), mass (N,); got {pos.shape}, {vel.shape}, {mass.shape}"
        )
    return pos, vel, mass


def pair_interactions(n, steps):
    """Pairwise force evaluations one run performs: N*(N-1) ordered pairs, steps+1 times."""
    return n * (n - 1) * (steps + 1)


# ----------------------------------------------------------------------------------------
# NumPy
# ----------------------------------------------------------------------------------------

# Rows per block: keep each (rows, N) temporary near 8 MiB, so N=4096 needs ~100 MiB at
# most instead of the ~1.5 GiB a full N x N evaluation would allocate.
_BLOCK_ELEMENTS = 1 << 20


def _numpy_accel(pos, mass, G, eps2):
    n = mass.shape[0]
    acc = np.empty_like(pos)
    phi = np.empty(n)
    rows = max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        dx = x[None, :] - x[i0:i1, None]
        dy = y[None, :] - y[i0:i1, None]
        dz = z[None, :] - z[i0:i1, None]
        inv = dx * dx
        inv += dy * dy
        inv += dz * dz
        inv += eps2
        np.sqrt(inv, out=inv)
        with np.errstate(divide="ignore"):  # eps = 0: the diagonal is 1/0, zeroed below
            np.divide(1.0, inv, out=inv)  # 1/sqrt(r^2 + eps^2)
        k = np.arange(i1 - i0)
        inv[k, i0 + k] = 0.0  # j == i contributes nothing (not even m_i/eps to phi)
        phi[i0:i1] = inv @ mass
        inv3 = inv * inv
        inv3 *= inv
        inv3 *= mass[None, :]  # m_j / (r^2 + eps^2)^(3/2)
        acc[i0:i1, 0] = np.einsum("ij,ij->i", dx, inv3)
        acc[i0:i1, 1] = np.einsum("ij,ij->i", dy, inv3)
        acc[i0:i1, 2] = np.einsum("ij,ij->i", dz, inv3)
    acc *= G
    return acc, -0.5 * G * float(np.dot(mass, phi))


def _numpy_kinetic(vel, mass):
    return 0.5 * float(np.dot(mass, np.einsum("ij,ij->i", vel, vel)))


def numpy_nbody(pos, vel, mass, G, eps, dt, steps):
    """Vectorised NumPy reference (row-blocked O(N^2) work, O(N * block) memory)."""
    pos, vel, mass = _check_inputs(pos, vel, mass)
    x = pos.copy()
    v = vel.copy()
    eps2 = float(eps) * float(eps)
    energy = np.empty(steps + 1)
    a, u = _numpy_accel(x, mass, G, eps2)
    energy[0] = _numpy_kinetic(v, mass) + u
    half = 0.5 * dt
    for k in range(1, steps + 1):
        v += half * a
        x += dt * v
        a, u = _numpy_accel(x, mass, G, eps2)
        v += half * a
        energy[k] = _numpy_kinetic(v, mass) + u
    momentum = mass @ v
    return x, v, energy, momentum


# ----------------------------------------------------------------------------------------
# Numba: prange over bodies i, a plain inner loop over j, one pass for accel and potential.
# Reductions that users see (U, K, momentum) are plain serial loops, so the result does not
# depend on the thread count.
# ----------------------------------------------------------------------------------------

from peers import HAVE_NUMBA, numba, prange  # noqa: F401  (re-exported)


def _build_numba(fastmath):
    opts = dict(parallel=True, fastmath=fastmath, cache=False)

    @numba.njit(**opts)
    def accel(x, mass, G, eps2, acc, phi):
        n = mass.shape[0]
        for i in prange(n):
            xi = x[i, 0]
            yi = x[i, 1]
            zi = x[i, 2]
            ax = 0.0
            ay = 0.0
            az = 0.0
            p = 0.0
            for j in range(n):
                if j == i:
                    continue
                dx = x[j, 0] - xi
                dy = x[j, 1] - yi
                dz = x[j, 2] - zi
                inv = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz + eps2)
                mj = mass[j]
                p += mj * inv
                s = mj * inv * inv * inv
                ax += s * dx
                ay += s * dy
                az += s * dz
            acc[i, 0] = G * ax
            acc[i, 1] = G * ay
            acc[i, 2] = G * az
            phi[i] = p
        u = 0.0
        for i in range(n):
            u += mass[i] * phi[i]
        return -0.5 * G * u

    @numba.njit(fastmath=fastmath)
    def kinetic(v, mass):
        k = 0.0
        for i in range(mass.shape[0]):
            k += mass[i] * (v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2])
        return 0.5 * k

    @numba.njit(**opts)
    def leapfrog(x, v, mass, G, eps, dt, steps):
        n = mass.shape[0]
        eps2 = eps * eps
        acc = np.empty((n, 3))
        phi = np.empty(n)
        energy = np.empty(steps + 1)
        u = accel(x, mass, G, eps2, acc, phi)
        energy[0] = kinetic(v, mass) + u
        half = 0.5 * dt
        for k in range(1, steps + 1):
            for i in prange(n):
                for d in range(3):
                    v[i, d] += half * acc[i, d]
                    x[i, d] += dt * v[i, d]
            u = accel(x, mass, G, eps2, acc, phi)
            for i in prange(n):
                for d in range(3):
                    v[i, d] += half * acc[i, d]
            energy[k] = kinetic(v, mass) + u
        momentum = np.zeros(3)
        for i in range(n):
            for d in range(3):
                momentum[d] += mass[i] * v[i, d]
        return energy, momentum

    def run(pos, vel, mass, G, eps, dt, steps):
        pos, vel, mass = _check_inputs(pos, vel, mass)
        x = pos.copy()
        v = vel.copy()
        energy, momentum = leapfrog(x, v, mass, float(G), float(eps), float(dt), int(steps))
        return x, v, energy, momentum

    run.__name__ = "numba_nbody_fastmath" if fastmath else "numba_nbody"
    run.__doc__ = (
        f"Numba parallel reference (prange over i, fastmath={fastmath}); "
        "compiles on the first call."
    )
    return run


if HAVE_NUMBA:
    numba_nbody = _build_numba(fastmath=False)
    numba_nbody_fastmath = _build_numba(fastmath=True)
else:
    numba_nbody = None
    numba_nbody_fastmath = None


# ----------------------------------------------------------------------------------------
# Initial conditions
# ----------------------------------------------------------------------------------------


def plummer(n, seed=0):
    """A Plummer sphere of n equal masses in Henon (virial) units: G = 1, M = 1, E = -1/4.

    Sampled as in Aarseth, Henon & Wielen (1974), radii cut at 10 scale radii, then moved
    to the centre-of-mass frame. Returns pos (n,3), vel (n,3), mass (n,).
    """
    rng = np.random.default_rng(seed)
    mass = np.full(n, 1.0 / n)
    # Radius from the inverse cumulative mass profile M(r) = r^3 / (1 + r^2)^(3/2), a = 1.
    r = np.empty(n)
    filled = 0
    while filled < n:
        m = rng.uniform(1e-12, 1.0, size=n - filled)
        cand = 1.0 / np.sqrt(m ** (-2.0 / 3.0) - 1.0)
        cand = cand[cand < 10.0]
        r[filled : filled + cand.size] = cand
        filled += cand.size
    pos = r[:, None] * _isotropic(rng, n)
    # Speed: q = v / v_escape drawn from g(q) = q^2 (1 - q^2)^(7/2) by rejection.
    q = np.empty(n)
    filled = 0
    while filled < n:
        cand = rng.uniform(0.0, 1.0, size=2 * (n - filled))
        accept = rng.uniform(0.0, 0.1, size=cand.size) < cand**2 * (1.0 - cand**2) ** 3.5
        cand = cand[accept][: n - filled]
        q[filled : filled + cand.size] = cand
        filled += cand.size
    speed = q * np.sqrt(2.0) * (1.0 + r * r) ** -0.25
    vel = speed[:, None] * _isotropic(rng, n)
    # Henon units: scale radius a = 3 pi / 16.
    scale = 3.0 * np.pi / 16.0
    pos *= scale
    vel /= np.sqrt(scale)
    pos -= mass @ pos / mass.sum()
    vel -= mass @ vel / mass.sum()
    return pos, vel, mass


def _isotropic(rng, n):
    cos_t = rng.uniform(-1.0, 1.0, size=n)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    ph = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return np.stack([sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t], axis=1)
