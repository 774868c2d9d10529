// Throughput of the counter-based normals and uniforms that mc_asian draws (random.hpp's
// philox4x32_normals_x8: eight streams side by side), for the kernels' docs.
//
//   simhost_bench_random normals|uniforms
//
// One thread, on the CPU path simhost itself would use (SIMHOST_CPU=generic|avx2|avx512
// chooses, as for the host). Prints {"what": ..., "cpu_path": ..., "ns_per_variate": X}: the
// best of seven runs of 256-step blocks for 8 x 20000 streams (about 40 million variates).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "simhost/cpu.hpp"
#include "simhost/random.hpp"

int main(int argc, char** argv) {
  const std::string what = argc == 2 ? argv[1] : "";
  if (what != "normals" && what != "uniforms") {
    std::fprintf(stderr, "usage: %s normals|uniforms\n", argv[0]);
    return 2;
  }
  const bool normal = what == "normals";
  constexpr std::size_t kSteps = 256, kGroups = 20000;
  std::vector<double> block(8 * kSteps);
  double check = 0, best = 1e30;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t g = 0; g < kGroups; ++g) {
      if (normal)
        simhost::philox4x32_normals_x8(7, 8 * g, 0, kSteps, block);
      else
        simhost::philox4x32_uniforms_x8(7, 8 * g, 0, kSteps, block);
      check += block[8 * (g % kSteps) + g % 8];  // keeps every block's fill alive
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s / static_cast<double>(8 * kSteps * kGroups));
  }
  const std::string path(simhost::cpu_path_name(simhost::cpu_path_or_generic()));
  std::printf("{\"what\": \"%s\", \"cpu_path\": \"%s\", \"ns_per_variate\": %.4g, "
              "\"checksum\": %.17g}\n",
              what.c_str(), path.c_str(), best * 1e9, check);
  return 0;
}
