// The machine's practical arithmetic peak for bench/run.py: double-precision FLOP/s of
// independent fused multiply-add chains in the widest registers this CPU has (AVX-512, else
// AVX2 + FMA, else SSE2 multiply and add), on T threads at once.
//
//   simhost_bench_fma_peak T     prints {"threads": T, "isa": "...", "flops_per_second": X}
//
// X is the best of five runs of about 0.2 s each. Enough chains per thread to cover the FMA
// latency of every pipe (4 cycles x 2 pipes x 2 for headroom), few enough to stay in registers.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr long kReps = 100'000'000;

__attribute__((target("avx512f"))) double chains_avx512(long reps, double seed) {
  constexpr int kChains = 16;
  __m512d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm512_set1_pd(seed + k * 1e-3);
  const __m512d m = _mm512_set1_pd(0.999999), c = _mm512_set1_pd(1e-6);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 16
    for (int k = 0; k < kChains; ++k) a[k] = _mm512_fmadd_pd(a[k], m, c);
  }
  alignas(64) double t[8];
  __m512d s = a[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_pd(s, a[k]);
  _mm512_store_pd(t, s);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

__attribute__((target("avx2,fma"))) double chains_avx2(long reps, double seed) {
  constexpr int kChains = 12;
  __m256d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm256_set1_pd(seed + k * 1e-3);
  const __m256d m = _mm256_set1_pd(0.999999), c = _mm256_set1_pd(1e-6);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) a[k] = _mm256_fmadd_pd(a[k], m, c);
  }
  alignas(32) double t[4];
  __m256d s = a[0];
  for (int k = 1; k < kChains; ++k) s = _mm256_add_pd(s, a[k]);
  _mm256_store_pd(t, s);
  return t[0] + t[1] + t[2] + t[3];
}

double chains_sse2(long reps, double seed) {  // a multiply and an add: 2 flops per lane
  constexpr int kChains = 12;
  __m128d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm_set1_pd(seed + k * 1e-3);
  const __m128d m = _mm_set1_pd(0.999999), c = _mm_set1_pd(1e-6);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) a[k] = _mm_add_pd(_mm_mul_pd(a[k], m), c);
  }
  __m128d s = a[0];
  for (int k = 1; k < kChains; ++k) s = _mm_add_pd(s, a[k]);
  alignas(16) double t[2];
  _mm_store_pd(t, s);
  return t[0] + t[1];
}

struct Isa {
  const char* name;
  double (*run)(long, double);
  double flops_per_rep;  // per thread
};

Isa best_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512", chains_avx512, 16 * 8 * 2.0};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"avx2", chains_avx2, 12 * 4 * 2.0};
  return {"sse2", chains_sse2, 12 * 2 * 2.0};
}

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  const long threads = argc == 2 ? std::strtol(argv[1], &end, 10) : 0;
  if (argc != 2 || *end != '\0' || threads < 1 || threads > 4096) {
    std::fprintf(stderr, "usage: %s THREADS  (THREADS: 1 .. 4096, the threads to run at once)\n",
                 argv[0]);
    return 2;
  }
  const Isa isa = best_isa();
  std::vector<double> sink(static_cast<std::size_t>(threads));
  isa.run(kReps / 20, 1.0);  // wake the core up
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (long t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { sink[static_cast<std::size_t>(t)] = isa.run(kReps, 1.0 + static_cast<double>(t)); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, isa.flops_per_rep * static_cast<double>(kReps) *
                                static_cast<double>(threads) / s);
  }
  // The sums keep the chains alive; they are printed too, so that nothing is optimised away.
  double check = 0;
  for (double v : sink) check += v;
  std::printf("{\"threads\": %ld, \"isa\": \"%s\", \"flops_per_second\": %.6g, \"checksum\": %.17g}\n",
              threads, isa.name, best, check);
  return 0;
}
