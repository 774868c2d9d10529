// The choice of the kernels' CPU level: detection, SIMHOST_CPU, made once per process.
#include "simhost/cpu.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <optional>

#include "simhost/error.hpp"

// kernels/CMakeLists.txt and runtime/CMakeLists.txt define SIMHOST_CPU_BUILT_<LEVEL> for the
// levels of SIMHOST_CPU_LEVELS (all four are 0 or 1; exactly native, or generic plus others).
#if !defined(SIMHOST_CPU_BUILT_GENERIC) || !defined(SIMHOST_CPU_BUILT_AVX2) || \
    !defined(SIMHOST_CPU_BUILT_AVX512) || !defined(SIMHOST_CPU_BUILT_NATIVE)
#error "the build defines which CPU levels the kernels have (SIMHOST_CPU_BUILT_*)"
#endif

namespace simhost {

namespace {

constexpr CpuPath kAll[] = {CpuPath::generic, CpuPath::avx2, CpuPath::avx512, CpuPath::native};

std::string names(const std::vector<CpuPath>& paths) {
  std::string s;
  for (CpuPath p : paths) s += (s.empty() ? "" : ", ") + std::string(cpu_path_name(p));
  return s;
}

// The chosen level, or the message of the error that SIMHOST_CPU caused.
struct Choice {
  CpuPath path = CpuPath::generic;
  std::string error;
};

Choice choose() {
  const std::vector<CpuPath> available = cpu_paths_available();
  const char* env = std::getenv("SIMHOST_CPU");
  if (!env || !*env) return {available.back(), {}};
  const std::string_view want = env;
  std::optional<CpuPath> named;
  for (CpuPath p : cpu_paths_built())
    if (cpu_path_name(p) == want) named = p;
  if (!named)
    return {CpuPath::generic,
            fmt::format("SIMHOST_CPU must be one of the CPU paths this build has ({}), got '{}' "
                        "(this CPU runs: {})",
                        names(cpu_paths_built()), want, names(available))};
  if (!cpu_supports(*named))
    return {CpuPath::generic,
            fmt::format("SIMHOST_CPU={}: this CPU cannot run the {} path (it runs: {}; allowed "
                        "values: {})",
                        want, want, names(available), names(cpu_paths_built()))};
  return {*named, {}};
}

const Choice& choice() {
  static const Choice c = choose();
  return c;
}

}  // namespace

std::string_view cpu_path_name(CpuPath path) noexcept {
  switch (path) {
    case CpuPath::generic: return "generic";
    case CpuPath::avx2: return "avx2";
    case CpuPath::avx512: return "avx512";
    case CpuPath::native: return "native";
  }
  return "?";
}

const std::vector<CpuPath>& cpu_paths_built() noexcept {
  static const std::vector<CpuPath> built = [] {
    const bool has[] = {SIMHOST_CPU_BUILT_GENERIC != 0, SIMHOST_CPU_BUILT_AVX2 != 0,
                        SIMHOST_CPU_BUILT_AVX512 != 0, SIMHOST_CPU_BUILT_NATIVE != 0};
    std::vector<CpuPath> v;
    for (CpuPath p : kAll)
      if (has[static_cast<int>(p)]) v.push_back(p);
    return v;
  }();
  return built;
}

bool cpu_supports(CpuPath path) noexcept {
  __builtin_cpu_init();
  switch (path) {
    case CpuPath::generic:
    case CpuPath::native: return true;
    case CpuPath::avx2: return __builtin_cpu_supports("x86-64-v3");
    case CpuPath::avx512: return __builtin_cpu_supports("x86-64-v4");
  }
  return false;
}

std::vector<CpuPath> cpu_paths_available() {
  std::vector<CpuPath> v;
  for (CpuPath p : cpu_paths_built())
    if (cpu_supports(p)) v.push_back(p);
  return v;
}

CpuPath cpu_path() {
  const Choice& c = choice();
  if (!c.error.empty()) throw Error(c.error);
  return c.path;
}

CpuPath cpu_path_or_generic() noexcept {
  const Choice& c = choice();
  return c.error.empty() ? c.path : cpu_paths_built().front();
}

std::string cpu_path_description() {
  return fmt::format("{} (available: {}; built: {})", cpu_path_name(cpu_path()),
                     names(cpu_paths_available()), names(cpu_paths_built()));
}

}  // namespace simhost
