// The machine's practical throughput limits for bench/run.py and the kernels' docs.
//
//   simhost_bench_peak fma THREADS       double-precision FLOP/s of independent fused
//                                        multiply-add chains in the widest registers this CPU
//                                        has (AVX-512, else AVX2 + FMA, else SSE2 multiply and
//                                        add), on THREADS threads at once
//   simhost_bench_peak sqrt_div THREADS  1/sqrt(x) per second as a correctly rounded square
//                                        root and division (nbody's portable and AVX2 inner
//                                        loop), independent lanes, widest registers
//
// Prints {"what": ..., "threads": T, "isa": "...", "per_second": X}: the best of five runs of
// about 0.2 s each. Enough chains per thread to cover every pipe's latency, few enough to stay
// in registers.
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

__attribute__((target("avx512f"))) double sqrt_div_avx512(long reps, double seed) {
  constexpr int kChains = 8;
  __m512d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm512_set1_pd(seed + k * 1e-3);
  const __m512d one = _mm512_set1_pd(1.0), c = _mm512_set1_pd(1.0 + 1e-9);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 8
    for (int k = 0; k < kChains; ++k)  // x -> 1/sqrt(x) + c stays near 1.6
      a[k] = _mm512_add_pd(_mm512_div_pd(one, _mm512_maskz_sqrt_pd(0xFF, a[k])), c);
  }
  __m512d s = a[0];  // every chain feeds the result, so none is optimised away
  for (int k = 1; k < kChains; ++k) s = _mm512_add_pd(s, a[k]);
  alignas(64) double t[8];
  _mm512_store_pd(t, s);
  return t[0];
}

__attribute__((target("avx2,fma"))) double sqrt_div_avx2(long reps, double seed) {
  constexpr int kChains = 8;
  __m256d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm256_set1_pd(seed + k * 1e-3);
  const __m256d one = _mm256_set1_pd(1.0), c = _mm256_set1_pd(1.0 + 1e-9);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 8
    for (int k = 0; k < kChains; ++k)
      a[k] = _mm256_add_pd(_mm256_div_pd(one, _mm256_sqrt_pd(a[k])), c);
  }
  __m256d s = a[0];
  for (int k = 1; k < kChains; ++k) s = _mm256_add_pd(s, a[k]);
  alignas(32) double t[4];
  _mm256_store_pd(t, s);
  return t[0];
}

double sqrt_div_sse2(long reps, double seed) {
  constexpr int kChains = 8;
  __m128d a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm_set1_pd(seed + k * 1e-3);
  const __m128d one = _mm_set1_pd(1.0), c = _mm_set1_pd(1.0 + 1e-9);
  for (long r = 0; r < reps; ++r) {
#pragma GCC unroll 8
    for (int k = 0; k < kChains; ++k) a[k] = _mm_add_pd(_mm_div_pd(one, _mm_sqrt_pd(a[k])), c);
  }
  __m128d s = a[0];
  for (int k = 1; k < kChains; ++k) s = _mm_add_pd(s, a[k]);
  alignas(16) double t[2];
  _mm_store_pd(t, s);
  return t[0];
}

struct Isa {
  const char* name;
  double (*run)(long, double);
  double per_rep;  // flops (or square roots and divisions) per repetition, per thread
};

Isa best_isa(bool sqrt_div) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return sqrt_div ? Isa{"avx512", sqrt_div_avx512, 8 * 8.0} : Isa{"avx512", chains_avx512, 16 * 8 * 2.0};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return sqrt_div ? Isa{"avx2", sqrt_div_avx2, 8 * 4.0} : Isa{"avx2", chains_avx2, 12 * 4 * 2.0};
  return sqrt_div ? Isa{"sse2", sqrt_div_sse2, 8 * 2.0} : Isa{"sse2", chains_sse2, 12 * 2 * 2.0};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc == 3 ? argv[1] : "";
  char* end = nullptr;
  const long threads = argc == 3 ? std::strtol(argv[2], &end, 10) : 0;
  if (argc != 3 || (what != "fma" && what != "sqrt_div") || *end != '\0' || threads < 1 ||
      threads > 4096) {
    std::fprintf(stderr,
                 "usage: %s fma|sqrt_div THREADS  (THREADS: 1 .. 4096, the threads to run at "
                 "once)\n",
                 argv[0]);
    return 2;
  }
  const Isa isa = best_isa(what == "sqrt_div");
  const long reps = what == "fma" ? kReps : kReps / 20;
  std::vector<double> sink(static_cast<std::size_t>(threads));
  isa.run(reps / 20, 1.0);  // wake the core up
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (long t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { sink[static_cast<std::size_t>(t)] = isa.run(reps, 1.0 + static_cast<double>(t)); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, isa.per_rep * static_cast<double>(reps) *
                                static_cast<double>(threads) / s);
  }
  // The sums keep the chains alive; they are printed too, so that nothing is optimised away.
  double check = 0;
  for (double v : sink) check += v;
  std::printf("{\"what\": \"%s\", \"threads\": %ld, \"isa\": \"%s\", \"per_second\": %.6g, "
              "\"checksum\": %.17g}\n",
              what.c_str(), threads, isa.name, best, check);
  return 0;
}
