// The built-in kernels, registered through the same registry API plugins use.
#pragma once

#include <vector>

#include "simhost/cpu.hpp"
#include "simhost/kernel.hpp"
#include "simhost/registry.hpp"

namespace simhost {

/// Adds every built-in kernel, compiled for the CPU level cpu_path() chose, to `registry`;
/// does nothing for kernels already there, so the host binary and the Python module may both
/// call it. Thread-safe. Throws Error (from cpu_path()) when SIMHOST_CPU is bad.
void add_builtin_kernels(Registry& registry);

/// The built-in kernels compiled for `path`, in registration order. Each level's kernels are
/// the same kernels (names, parameters, outputs, checks); only their code differs. For tests
/// that compare levels. Throws Error when `path` is not built or this CPU cannot run it.
std::vector<KernelDef> builtin_kernels(CpuPath path);

// Each kernel, compiled for cpu_path() (throws like it).

/// Direct-summation softened gravity with kick-drift-kick leapfrog.
KernelDef nbody_kernel();
/// Explicit 5-point diffusion on a rectangular grid, temporally blocked.
KernelDef heat2d_kernel();

/// Many independent small ODE systems (Lorenz, harmonic, SIR, Lotka-Volterra), rk4 or dopri5.
KernelDef ode_batch_kernel();

/// Monte Carlo arithmetic-average Asian call under geometric Brownian motion.
KernelDef mc_asian_kernel();

/// The 2D Ising model on a periodic square lattice, checkerboard Metropolis.
KernelDef ising2d_kernel();

}  // namespace simhost
