// Which of the kernels' CPU code paths this process runs: chosen once, from the CPU and SIMHOST_CPU.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace simhost {

/// The CPU levels kernels are compiled for (kernels/CMakeLists.txt, SIMHOST_CPU_LEVELS).
/// Ordered: a CPU that runs a level runs every level before it.
///   generic  x86-64 baseline (SSE2): runs on any x86-64 CPU; the portable paths, the reference
///   avx2     x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE
///   avx512   x86-64-v4: v3 plus AVX-512 F, BW, CD, DQ, VL
///   native   the one level of a -march=native build (SIMHOST_NATIVE=ON): the build machine's CPU
enum class CpuPath : int { generic = 0, avx2 = 1, avx512 = 2, native = 3 };

/// "generic", "avx2", "avx512" or "native".
std::string_view cpu_path_name(CpuPath path) noexcept;

/// The levels this build has, in order (generic first; {native} alone in a native build).
const std::vector<CpuPath>& cpu_paths_built() noexcept;

/// Whether this CPU can run `path` (native: always, as the binary is built for the machine).
bool cpu_supports(CpuPath path) noexcept;

/// The built levels this CPU can run, in order.
std::vector<CpuPath> cpu_paths_available();

/// The level every kernel runs in this process, chosen at the first call (thread-safe): the
/// value of SIMHOST_CPU when set and non-empty, else the last built level this CPU runs.
/// Throws Error, naming the allowed values and what this CPU supports, when SIMHOST_CPU names
/// no built level or one this CPU cannot run (and again on every later call).
CpuPath cpu_path();

/// cpu_path() without the throw: the generic level (the one every CPU runs) when SIMHOST_CPU
/// is bad. For code that must not throw; front ends report the error through cpu_path().
CpuPath cpu_path_or_generic() noexcept;

/// "avx2 (available: generic, avx2; built: generic, avx2, avx512)": the level in use, the ones
/// this CPU could use, and the ones the build has. Throws like cpu_path().
std::string cpu_path_description();

}  // namespace simhost
