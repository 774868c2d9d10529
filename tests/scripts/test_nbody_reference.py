"""nbody against an independent NumPy implementation written here (relative 1e-12)."""

import sys

import numpy as np

import simhost

RELATIVE_TOLERANCE = 1e-12


def reference(pos, vel, mass, G, eps, dt, steps):
    """Kick-drift-kick leapfrog with all-pairs softened gravity, in plain NumPy."""
    pos, vel = pos.copy(), vel.copy()

    def field(x):
        d = x[None, :, :] - x[:, None, :]             # d[i, j] = x_j - x_i
        r2 = (d**2).sum(axis=2) + eps**2
        np.fill_diagonal(r2, np.inf)                  # no self-interaction
        inv = 1.0 / np.sqrt(r2)
        acc = G * ((mass[None, :] * inv**3)[:, :, None] * d).sum(axis=1)
        potential = -0.5 * G * (mass[:, None] * mass[None, :] * inv).sum()
        return acc, potential

    def kinetic(v):
        return 0.5 * (mass * (v**2).sum(axis=1)).sum()

    acc, u = field(pos)
    energy = [kinetic(vel) + u]
    for _ in range(steps):
        vel += 0.5 * dt * acc
        pos += dt * vel
        acc, u = field(pos)
        vel += 0.5 * dt * acc
        energy.append(kinetic(vel) + u)
    return pos, vel, np.array(energy), (mass[:, None] * vel).sum(axis=0)


def relative_error(got, want):
    return np.max(np.abs(got - want)) / np.max(np.abs(want))


def check(n, steps, G, eps, dt, seed):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3))
    vel = 0.2 * rng.normal(size=(n, 3))
    mass = rng.uniform(0.5, 1.5, size=n) / n
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, G=G, eps=eps, dt=dt, steps=steps)
    want = dict(zip(("pos", "vel", "energy", "momentum"),
                    reference(pos, vel, mass, G, eps, dt, steps)))
    for name, expected in want.items():
        err = relative_error(r[name], expected)
        assert r[name].shape == expected.shape, (name, r[name].shape, expected.shape)
        assert err < RELATIVE_TOLERANCE, f"n={n} {name}: relative error {err:.3g}"
    print(f"n={n:4d} steps={steps:3d} G={G} eps={eps}: max relative errors "
          + ", ".join(f"{k} {relative_error(r[k], v):.1e}" for k, v in want.items()))


def main():
    for threads in (1, 2):
        simhost.set_threads(threads)
        check(n=200, steps=20, G=1.0, eps=0.01, dt=1e-3, seed=1)
        check(n=37, steps=5, G=0.5, eps=0.1, dt=1e-2, seed=2)   # ragged: not a SIMD multiple
        check(n=1, steps=3, G=1.0, eps=0.0, dt=1e-2, seed=3)    # a single body drifts freely
    return 0


if __name__ == "__main__":
    sys.exit(main())
