// The built-in kernels, registered through the same registry API plugins use.
#pragma once

#include <string>
#include <vector>

#include "simhost/cpu.hpp"
#include "simhost/kernel.hpp"
#include "simhost/registry.hpp"

namespace simhost {

/// Adds every built-in kernel, compiled for the CPU level cpu_path() chose, to `registry`.
/// Throws ArgumentValueError when one of their names is registered already (naming both
/// sources), and Error (from cpu_path()) when SIMHOST_CPU is bad.
void add_builtin_kernels(Registry& registry);

/// Where load_kernels() takes plugins from, besides SIMHOST_PLUGIN_PATH.
struct KernelSources {
  /// Plugin files named by the front end (`--plugin FILE`), loaded first, in order, even in
  /// safe mode; *.py files are left to the Python front end (python_plugin_files_given()).
  std::vector<std::string> plugin_files;
  /// The installed plugin folder(s), searched after SIMHOST_PLUGIN_PATH.
  std::vector<std::string> installed_folders;
  /// Safe mode (`--no-plugins`): no folder is searched. SIMHOST_NO_PLUGINS=1 sets it too.
  bool no_plugins = false;
};

/// The one loading step of a process: adds the built-in kernels to Registry::global(), then
/// the native plugins of `sources.plugin_files`, of each SIMHOST_PLUGIN_PATH folder and of
/// each installed folder, in that order. A plugin that fails (or a kernel whose name is taken,
/// the error naming both sources) is recorded in plugin_failures() and loading goes on.
/// Runs once per process: later calls do nothing and return false. Thread-safe. Throws Error
/// (from cpu_path()) when SIMHOST_CPU is bad.
bool load_kernels(const KernelSources& sources);

/// True when SIMHOST_NO_PLUGINS is set to a value other than "" or "0".
bool plugins_disabled_by_environment();

/// The folders load_kernels() searched, in order (empty before it ran, and in safe mode):
/// where a front end looks for plugins of its own kind (Python files).
std::vector<std::string> plugin_folders_searched();

/// The *.py files among KernelSources::plugin_files, for the Python front end to load.
std::vector<std::string> python_plugin_files_given();

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
