// The list of built-in kernels, and the choice of the CPU level whose code they run.
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "simhost/error.hpp"
#include "simhost/kernels.hpp"
#include "simhost/plugins.hpp"

namespace simhost {

// Each kernel file defines its KernelDef once per built level (kernels/src/cpu_level.hpp).
#define SIMHOST_DECLARE_LEVEL(ns)  \
  namespace ns {                   \
  KernelDef nbody_kernel();        \
  KernelDef mc_asian_kernel();     \
  KernelDef heat2d_kernel();       \
  KernelDef ising2d_kernel();      \
  KernelDef ode_batch_kernel();    \
  }
SIMHOST_DECLARE_LEVEL(cpu_generic)
SIMHOST_DECLARE_LEVEL(cpu_avx2)
SIMHOST_DECLARE_LEVEL(cpu_avx512)
SIMHOST_DECLARE_LEVEL(cpu_native)
#undef SIMHOST_DECLARE_LEVEL

namespace {

using Make = KernelDef (*)();
struct Level {
  Make nbody, mc_asian, heat2d, ising2d, ode_batch;
};

#define SIMHOST_LEVEL(ns) \
  Level { &ns::nbody_kernel, &ns::mc_asian_kernel, &ns::heat2d_kernel, &ns::ising2d_kernel, \
          &ns::ode_batch_kernel }

// The functions of `path`; only built levels are referenced (the others are not linked).
const Level& level(CpuPath path) {
  static const Level none{};
  switch (path) {
#if SIMHOST_CPU_BUILT_GENERIC
    case CpuPath::generic: { static const Level l = SIMHOST_LEVEL(cpu_generic); return l; }
#endif
#if SIMHOST_CPU_BUILT_AVX2
    case CpuPath::avx2: { static const Level l = SIMHOST_LEVEL(cpu_avx2); return l; }
#endif
#if SIMHOST_CPU_BUILT_AVX512
    case CpuPath::avx512: { static const Level l = SIMHOST_LEVEL(cpu_avx512); return l; }
#endif
#if SIMHOST_CPU_BUILT_NATIVE
    case CpuPath::native: { static const Level l = SIMHOST_LEVEL(cpu_native); return l; }
#endif
    default: break;
  }
  return none;
}
#undef SIMHOST_LEVEL

const Level& checked_level(CpuPath path) {
  const Level& l = level(path);
  if (!l.nbody)
    throw Error(fmt::format("the kernels have no {} CPU path in this build (built: {})",
                            cpu_path_name(path), [] {
                              std::string s;
                              for (CpuPath p : cpu_paths_built())
                                s += (s.empty() ? "" : ", ") + std::string(cpu_path_name(p));
                              return s;
                            }()));
  if (!cpu_supports(path))
    throw Error(fmt::format("this CPU cannot run the kernels' {} CPU path", cpu_path_name(path)));
  return l;
}

}  // namespace

std::vector<KernelDef> builtin_kernels(CpuPath path) {
  const Level& l = checked_level(path);
  std::vector<KernelDef> defs;
  for (Make make : {l.nbody, l.mc_asian, l.heat2d, l.ising2d, l.ode_batch}) defs.push_back(make());
  return defs;
}

void add_builtin_kernels(Registry& registry) {
  for (KernelDef& k : builtin_kernels(cpu_path())) registry.add(std::move(k));
}

namespace {
std::mutex g_load_mutex;
bool g_loaded = false;
std::vector<std::string> g_folders;       // searched by load_kernels()
std::vector<std::string> g_python_files;  // given files left to the Python front end
}  // namespace

bool plugins_disabled_by_environment() {
  const char* env = std::getenv("SIMHOST_NO_PLUGINS");
  return env && *env && std::strcmp(env, "0") != 0;
}

bool load_kernels(const KernelSources& sources) {
  std::lock_guard lock(g_load_mutex);
  if (g_loaded) return false;
  Registry& registry = Registry::global();
  add_builtin_kernels(registry);
  g_loaded = true;
  for (const auto& file : sources.plugin_files) {
    if (file.ends_with(".py")) g_python_files.push_back(file);
    else load_plugin(registry, file);
  }
  if (sources.no_plugins || plugins_disabled_by_environment()) return true;
  g_folders = plugin_path_folders();
  g_folders.insert(g_folders.end(), sources.installed_folders.begin(), sources.installed_folders.end());
  for (const auto& folder : g_folders)
    for (const auto& file : native_plugins_in(folder)) load_plugin(registry, file);
  return true;
}

std::vector<std::string> plugin_folders_searched() {
  std::lock_guard lock(g_load_mutex);
  return g_folders;
}

std::vector<std::string> python_plugin_files_given() {
  std::lock_guard lock(g_load_mutex);
  return g_python_files;
}

KernelDef nbody_kernel() { return checked_level(cpu_path()).nbody(); }
KernelDef mc_asian_kernel() { return checked_level(cpu_path()).mc_asian(); }
KernelDef heat2d_kernel() { return checked_level(cpu_path()).heat2d(); }
KernelDef ising2d_kernel() { return checked_level(cpu_path()).ising2d(); }
KernelDef ode_batch_kernel() { return checked_level(cpu_path()).ode_batch(); }

}  // namespace simhost
