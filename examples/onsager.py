"""Onsager's exact solution of the 2D Ising model on the infinite square lattice (J = 1,
h = 0, k_B = 1), the reference curves of ising_magnetization.py and plot_ising_sweep.py.
The standard library only, so the plot script still runs without simhost."""

import math

BETA_C = 0.5 * math.log(1.0 + math.sqrt(2.0))  # 0.4407, in units of 1/J
T_C = 1.0 / BETA_C  # Onsager: 2 / ln(1 + sqrt 2) = 2.269, in units of J / k_B


def onsager_magnetization(beta):
    """Spontaneous magnetization per site of the infinite lattice (C. N. Yang, 1952)."""
    return 0.0 if beta <= BETA_C else (1.0 - math.sinh(2.0 * beta) ** -4) ** 0.125


def elliptic_k(k):
    """Complete elliptic integral of the first kind K(k), by the arithmetic-geometric mean."""
    a, b = 1.0, math.sqrt(1.0 - k * k)
    while abs(a - b) > 1e-15 * a:
        a, b = 0.5 * (a + b), math.sqrt(a * b)
    return math.pi / (2.0 * a)


def onsager_energy(beta):
    """Internal energy per site of the infinite lattice, in units of J (Onsager, 1944)."""
    t = math.tanh(2.0 * beta)
    k = 2.0 * math.sinh(2.0 * beta) / math.cosh(2.0 * beta) ** 2
    if k >= 1.0:  # at beta_c exactly K diverges but its prefactor 2 t^2 - 1 vanishes
        return -math.sqrt(2.0)
    return -(1.0 / t) * (1.0 + (2.0 / math.pi) * (2.0 * t * t - 1.0) * elliptic_k(k))
