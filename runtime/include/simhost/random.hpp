// Counter-based random numbers for every stochastic kernel (Random123's Philox4x64-10).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>

#include <Random123/philox.h>

#include "simhost/cpu.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// The AVX-512 block generator is compiled into every translation unit (with a target
// attribute, so no -mavx512f is needed) and chosen at run time on CPUs that have it.
#define SIMHOST_RANDOM_AVX512 1
#define SIMHOST_TARGET_AVX512 __attribute__((target("avx512f,avx512dq")))
#else
#define SIMHOST_RANDOM_AVX512 0
#endif

namespace simhost {

/// Random numbers as a pure function of (seed, stream, counter): no state, no thread
/// identity, so a seeded run is bit-identical at any thread count and in any order of
/// evaluation. Derive `stream` and `counter` from what is simulated (path index and time
/// step, lattice site and sweep), never from the thread. Thread-safe (immutable).
class Philox {
 public:
  using Words = std::array<std::uint64_t, 4>;

  Philox(std::uint64_t seed, std::uint64_t stream) noexcept : m_key{{seed, stream}} {}

  /// Four independent 64-bit words for (counter, sub).
  Words bits(std::uint64_t counter, std::uint64_t sub = 0) const noexcept {
    const r123::Philox4x64::ctr_type ctr{{counter, sub, 0, 0}};
    const auto out = r123::Philox4x64()(ctr, m_key);
    return {out.v[0], out.v[1], out.v[2], out.v[3]};
  }

  /// Four uniforms in the open interval (0, 1), with 52 random bits each.
  std::array<double, 4> uniform(std::uint64_t counter, std::uint64_t sub = 0) const noexcept {
    const Words w = bits(counter, sub);
    return {to_open_unit(w[0]), to_open_unit(w[1]), to_open_unit(w[2]), to_open_unit(w[3])};
  }

  /// Four standard normal variates (Box-Muller on two pairs of uniforms).
  std::array<double, 4> normal(std::uint64_t counter, std::uint64_t sub = 0) const noexcept {
    const auto u = uniform(counter, sub);
    std::array<double, 4> z;
    for (int k = 0; k < 2; ++k) {
      const double radius = std::sqrt(-2.0 * std::log(u[2 * k]));
      const double angle = 2.0 * std::numbers::pi * u[2 * k + 1];
      z[2 * k] = radius * std::cos(angle);
      z[2 * k + 1] = radius * std::sin(angle);
    }
    return z;
  }

  /// The top 52 bits of a word as the midpoint of one of 2^52 equal cells of (0, 1): never
  /// 0 (safe for log) nor 1 (with 53 bits the top midpoint would round to 1.0).
  static double to_open_unit(std::uint64_t word) noexcept {
    return (static_cast<double>(word >> 12) + 0.5) * 0x1.0p-52;
  }

 private:
  r123::Philox4x64::key_type m_key;
};

// ---------------------------------------------------------------------------------------------
// Blocks of variates: Philox4x32-10, vectorised across counters.
//
// For kernels that need many variates per stream (every time step of a Monte Carlo path, every
// site of a row), filling a block at once is several times faster than calling Philox::normal
// per value: eight counters run through Philox4x32-10 side by side in AVX-512 lanes, and the
// Box-Muller transform uses polynomial log/sin/cos (relative error ~1e-15) instead of libm.
//
// The numbers are a pure function of (seed, stream, index): variate `index` of a stream comes
// from Philox4x32-10 (Random123, Salmon et al. 2011) with key (seed_lo, seed_hi) and counter
// (block_lo, block_hi, stream_lo, stream_hi), block = index / 2. The four 32-bit output words
// w0..w3 make two 64-bit words (w1:w0) and (w3:w2), whose top 52 bits give two uniforms on the
// open interval (0, 1) (cell midpoints, as Philox::to_open_unit), u_a and u_b:
//   uniforms: variate 2*block is u_a, variate 2*block + 1 is u_b;
//   normals:  variate 2*block is sqrt(-2 ln u_a) cos(2 pi u_b), 2*block + 1 the same with sin.
// Two layouts: philox4x32_normals fills consecutive variates of one stream (a path's steps);
// philox4x32_normals_x8 fills them for eight consecutive streams side by side (eight paths in
// SIMD lanes). A CPU without AVX-512 runs the same arithmetic one value at a time (std::fma where
// the vector code fuses), so the results are bit-identical on every x86-64 CPU (tested).
// Independent of the Philox (4x64) class above: a block and Philox::normal do not give the same
// numbers.
// ---------------------------------------------------------------------------------------------

namespace detail {

/// Philox4x32-10's four output words for the (seed, stream, block) mapping described above.
inline std::array<std::uint32_t, 4> philox4x32_words(std::uint64_t seed, std::uint64_t stream,
                                                     std::uint64_t block) noexcept {
  const r123::Philox4x32::ctr_type ctr{
      {static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
       static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
  const r123::Philox4x32::key_type key{
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const auto out = r123::Philox4x32()(ctr, key);
  return {out.v[0], out.v[1], out.v[2], out.v[3]};
}

inline constexpr std::uint64_t kOneBits = 0x3ff0000000000000ULL;  // the bits of 1.0
// 1 - 2^-53: (1 + k 2^-52) - kUnitOffset = (k + 1/2) 2^-52 exactly, the cell midpoint.
inline constexpr double kUnitOffset = 0x1.fffffffffffffp-1;
inline constexpr std::uint64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdULL;  // the bits of sqrt(1/2)
inline constexpr double kLn2Hi = 0x1.62e42fee00000p-1;   // ln 2 with 21 trailing zero bits
inline constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;  // ln 2 - kLn2Hi
inline constexpr double kRoundShift = 0x1.8p52;          // x + this - this rounds x to an integer
// ln z = s * sum_n kLogSeries[n] s^(2n), s = (z-1)/(z+1), |s| <= 0.1716: 2 atanh(s) truncated
// after s^19 (the next term is < 2e-17 relative).
inline constexpr double kLogSeries[10] = {2.0,        2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,
                                          2.0 / 9.0,  2.0 / 11.0, 2.0 / 13.0, 2.0 / 15.0,
                                          2.0 / 17.0, 2.0 / 19.0};
// sin(pi y / 2) = y * sum_k kSinSeries[k] y^(2k) and cos(pi y / 2) = sum_k kCosSeries[k] y^(2k)
// on |y| <= 1/2 (Taylor; truncation < 7e-17 and < 3e-18 relative): (-1)^k (pi/2)^n / n!.
inline constexpr double kSinSeries[8] = {
    0x1.921fb54442d18p+0,  -0x1.4abbce625be53p-1,  0x1.466bc6775aae2p-4,  -0x1.32d2cce62bd86p-8,
    0x1.50783487ee782p-13, -0x1.e3074fde8871fp-19, 0x1.e8f434d018d63p-25, -0x1.6fadb9f155744p-31};
inline constexpr double kCosSeries[9] = {
    0x1.0000000000000p+0,  -0x1.3bd3cc9be45dep+0,  0x1.03c1f081b5ac4p-2,
    -0x1.55d3c7e3cbffap-6, 0x1.e1f506891babbp-11,  -0x1.a6d1f2a204a8cp-16,
    0x1.f9d38a3763cc3p-22, -0x1.b6e24f44b128fp-28, 0x1.20c62c2f2d7f5p-34};

/// The uniform on (0, 1) made of the top 52 bits of hi:lo (bit-exact as in the vector code).
inline double unit_from_words(std::uint32_t lo, std::uint32_t hi) noexcept {
  const std::uint64_t w = (static_cast<std::uint64_t>(hi) << 32) | lo;
  return std::bit_cast<double>((w >> 12) | kOneBits) - kUnitOffset;
}

/// ln u for 0 < u < 1, the polynomial the vector code uses (a few ulp from the true value).
inline double log_unit(double u) noexcept {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(u);
  // u = 2^k z with z in [sqrt(1/2), sqrt(2)), taken apart with integer arithmetic.
  const std::uint64_t tmp = bits - kSqrtHalfBits;
  const std::int64_t k = static_cast<std::int64_t>(tmp) >> 52;
  const double z = std::bit_cast<double>(bits - (tmp & (0xfffULL << 52)));
  const double f = z - 1.0;  // exact
  const double s = f / (2.0 + f);
  const double w = s * s;
  double p = kLogSeries[9];
  for (int n = 8; n >= 0; --n) p = std::fma(p, w, kLogSeries[n]);
  const double log_z = s * p;
  const double kd = static_cast<double>(k);
  return std::fma(kd, kLn2Hi, std::fma(kd, kLn2Lo, log_z));
}

/// cos(2 pi u) and sin(2 pi u) for 0 < u < 1, as the vector code computes them.
inline void cos_sin_turn(double u, double& c, double& s) noexcept {
  // 4u = q + y exactly, q the nearest integer (0..4), |y| <= 1/2: quarter turns and the rest.
  const double x = 4.0 * u;
  const double shifted = x + kRoundShift;
  const std::uint64_t q = std::bit_cast<std::uint64_t>(shifted);  // q in the low bits
  const double y = x - (shifted - kRoundShift);
  const double t = y * y;
  double ps = kSinSeries[7];
  for (int k = 6; k >= 0; --k) ps = std::fma(ps, t, kSinSeries[k]);
  double pc = kCosSeries[8];
  for (int k = 7; k >= 0; --k) pc = std::fma(pc, t, kCosSeries[k]);
  const double sin_y = y * ps;
  // Rotate by q quarter turns: odd q swaps cos and sin; the signs follow the quadrant.
  const bool swap = (q & 1) != 0;
  const std::uint64_t cos_sign = ((q + 1) & 2) << 62, sin_sign = (q & 2) << 62;
  c = std::bit_cast<double>(std::bit_cast<std::uint64_t>(swap ? sin_y : pc) ^ cos_sign);
  s = std::bit_cast<double>(std::bit_cast<std::uint64_t>(swap ? pc : sin_y) ^ sin_sign);
}

/// Variates 2*block and 2*block + 1 of (seed, stream), one at a time (no SIMD).
inline void philox4x32_pair(std::uint64_t seed, std::uint64_t stream, std::uint64_t block,
                            bool normal, double out[2]) noexcept {
  const auto w = philox4x32_words(seed, stream, block);
  const double ua = unit_from_words(w[0], w[1]), ub = unit_from_words(w[2], w[3]);
  if (!normal) {
    out[0] = ua;
    out[1] = ub;
    return;
  }
  const double radius = std::sqrt(-2.0 * log_unit(ua));
  double c, s;
  cos_sin_turn(ub, c, s);
  out[0] = radius * c;
  out[1] = radius * s;
}

/// Fills out[0..n) with variates first.. of (seed, stream), one pair at a time.
inline void philox4x32_fill_portable(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                                     double* out, std::size_t n, bool normal) noexcept {
  std::size_t i = 0;
  while (i < n) {
    double pair[2];
    const std::uint64_t index = first + i;
    philox4x32_pair(seed, stream, index / 2, normal, pair);
    const std::size_t from = index % 2, take = std::min<std::size_t>(2 - from, n - i);
    for (std::size_t k = 0; k < take; ++k) out[i + k] = pair[from + k];
    i += take;
  }
}

/// Fills out[k * 8 + j] with variate first + k of stream first_stream + j, one pair at a time.
inline void philox4x32_fill_x8_portable(std::uint64_t seed, std::uint64_t first_stream,
                                        std::uint64_t first, double* out, std::size_t count,
                                        bool normal) noexcept {
  for (std::size_t k = 0; k < count; ++k) {
    const std::uint64_t index = first + k;
    for (std::uint64_t j = 0; j < 8; ++j) {
      double pair[2];
      philox4x32_pair(seed, first_stream + j, index / 2, normal, pair);
      out[8 * k + j] = pair[index % 2];
    }
  }
}

#if SIMHOST_RANDOM_AVX512

// All lanes. The zero-masked forms of shifts, multiplies and sqrt are used because GCC 12
// warns (-Wmaybe-uninitialized, a false positive) about the unmasked ones.
inline constexpr __mmask8 kAll = 0xFF;

/// unit_from_words in eight lanes whose high halves may hold garbage.
SIMHOST_TARGET_AVX512 inline __m512d unit_from_words_x8(__m512i lo, __m512i hi) {
  // ((hi << 32) | (lo & 0xffffffff)) >> 12 as the mantissa of a number in [1, 2).
  const __m512i w =
      _mm512_ternarylogic_epi64(_mm512_maskz_slli_epi64(kAll, hi, 32), lo,
                                _mm512_set1_epi64(0xffffffffLL), 0xF8);  // a | (b & c)
  const __m512i mantissa = _mm512_maskz_srli_epi64(kAll, w, 12);
  return _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(
                           mantissa, _mm512_set1_epi64(static_cast<long long>(kOneBits)))),
                       _mm512_set1_pd(kUnitOffset));
}

/// Philox4x32-10 on G groups of eight counters at once (so that their long dependency chains
/// overlap). Each 64-bit lane holds one 32-bit word in its low half; the high half may hold
/// garbage, which _mm512_mul_epu32 ignores and unit_from_words_x8 removes.
template <int G>
SIMHOST_TARGET_AVX512 inline void philox4x32_rounds_x8(std::uint64_t seed, __m512i (&c0)[G],
                                                       __m512i (&c1)[G], __m512i (&c2)[G],
                                                       __m512i (&c3)[G]) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57);
  // The round keys advance by the Weyl constants modulo 2^32 (32-bit adds in the low halves).
  __m512i key0 = _mm512_set1_epi64(static_cast<long long>(seed & 0xffffffffULL));
  __m512i key1 = _mm512_set1_epi64(static_cast<long long>(seed >> 32));
  const __m512i w0 = _mm512_set1_epi64(0x9E3779B9), w1 = _mm512_set1_epi64(0xBB67AE85);
  for (int round = 0; round < 10; ++round) {
    for (int g = 0; g < G; ++g) {
      const __m512i p0 = _mm512_maskz_mul_epu32(kAll, c0[g], m0);
      const __m512i p1 = _mm512_maskz_mul_epu32(kAll, c2[g], m1);
      c0[g] = _mm512_ternarylogic_epi64(_mm512_maskz_srli_epi64(kAll, p1, 32), c1[g], key0,
                                        0x96);  // a ^ b ^ c
      c1[g] = p1;
      c2[g] = _mm512_ternarylogic_epi64(_mm512_maskz_srli_epi64(kAll, p0, 32), c3[g], key1, 0x96);
      c3[g] = p0;
    }
    key0 = _mm512_add_epi32(key0, w0);
    key1 = _mm512_add_epi32(key1, w1);
  }
}

/// Box-Muller in eight lanes, exactly as philox4x32_pair: even = r cos, odd = r sin.
SIMHOST_TARGET_AVX512 inline void box_muller_x8(__m512d ua, __m512d ub, __m512d& even,
                                                __m512d& odd) {
  // ln ua: ua = 2^k z, z in [sqrt(1/2), sqrt(2)).
  const __m512i bits = _mm512_castpd_si512(ua);
  const __m512i tmp =
      _mm512_sub_epi64(bits, _mm512_set1_epi64(static_cast<long long>(kSqrtHalfBits)));
  const __m512i k = _mm512_maskz_srai_epi64(kAll, tmp, 52);
  const __m512d z = _mm512_castsi512_pd(_mm512_sub_epi64(
      bits, _mm512_and_si512(tmp, _mm512_set1_epi64(static_cast<long long>(0xfffULL << 52)))));
  const __m512d f = _mm512_sub_pd(z, _mm512_set1_pd(1.0));
  const __m512d s = _mm512_div_pd(f, _mm512_add_pd(_mm512_set1_pd(2.0), f));
  const __m512d w = _mm512_mul_pd(s, s);
  __m512d p = _mm512_set1_pd(kLogSeries[9]);
  for (int n = 8; n >= 0; --n) p = _mm512_fmadd_pd(p, w, _mm512_set1_pd(kLogSeries[n]));
  const __m512d log_z = _mm512_mul_pd(s, p);
  const __m512d kd = _mm512_cvtepi64_pd(k);
  const __m512d log_u = _mm512_fmadd_pd(kd, _mm512_set1_pd(kLn2Hi),
                                        _mm512_fmadd_pd(kd, _mm512_set1_pd(kLn2Lo), log_z));
  const __m512d radius = _mm512_maskz_sqrt_pd(kAll, _mm512_mul_pd(_mm512_set1_pd(-2.0), log_u));
  // cos and sin of 2 pi ub.
  const __m512d x = _mm512_mul_pd(_mm512_set1_pd(4.0), ub);
  const __m512d shifted = _mm512_add_pd(x, _mm512_set1_pd(kRoundShift));
  const __m512i q = _mm512_castpd_si512(shifted);
  const __m512d y = _mm512_sub_pd(x, _mm512_sub_pd(shifted, _mm512_set1_pd(kRoundShift)));
  const __m512d t = _mm512_mul_pd(y, y);
  __m512d ps = _mm512_set1_pd(kSinSeries[7]);
  for (int j = 6; j >= 0; --j) ps = _mm512_fmadd_pd(ps, t, _mm512_set1_pd(kSinSeries[j]));
  __m512d pc = _mm512_set1_pd(kCosSeries[8]);
  for (int j = 7; j >= 0; --j) pc = _mm512_fmadd_pd(pc, t, _mm512_set1_pd(kCosSeries[j]));
  const __m512d sin_y = _mm512_mul_pd(y, ps);
  const __mmask8 swap = _mm512_test_epi64_mask(q, _mm512_set1_epi64(1));
  const __m512i two = _mm512_set1_epi64(2);
  const __m512i cos_sign = _mm512_maskz_slli_epi64(
      kAll, _mm512_and_si512(_mm512_add_epi64(q, _mm512_set1_epi64(1)), two), 62);
  const __m512i sin_sign = _mm512_maskz_slli_epi64(kAll, _mm512_and_si512(q, two), 62);
  const __m512d c = _mm512_castsi512_pd(
      _mm512_xor_si512(_mm512_castpd_si512(_mm512_mask_blend_pd(swap, pc, sin_y)), cos_sign));
  const __m512d sn = _mm512_castsi512_pd(
      _mm512_xor_si512(_mm512_castpd_si512(_mm512_mask_blend_pd(swap, sin_y, pc)), sin_sign));
  even = _mm512_mul_pd(radius, c);
  odd = _mm512_mul_pd(radius, sn);
}

/// Variates 2*block .. 2*block + 16*G - 1 of one stream, in order: the lanes are 8*G
/// consecutive counters.
template <int G>
SIMHOST_TARGET_AVX512 inline void philox4x32_counters_x8(std::uint64_t seed, std::uint64_t stream,
                                                         std::uint64_t block, bool normal,
                                                         double* out) {
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  __m512i c0[G], c1[G], c2[G], c3[G];
  for (int g = 0; g < G; ++g) {
    const __m512i blocks = _mm512_add_epi64(
        _mm512_set1_epi64(static_cast<long long>(block + 8 * static_cast<unsigned>(g))), lane);
    c0[g] = blocks;
    c1[g] = _mm512_maskz_srli_epi64(kAll, blocks, 32);
    c2[g] = _mm512_set1_epi64(static_cast<long long>(stream & 0xffffffffULL));
    c3[g] = _mm512_set1_epi64(static_cast<long long>(stream >> 32));
  }
  philox4x32_rounds_x8<G>(seed, c0, c1, c2, c3);
  // Interleave: variate 2l is even[l], 2l + 1 is odd[l].
  const __m512i first_half = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i second_half = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  for (int g = 0; g < G; ++g) {
    __m512d even = unit_from_words_x8(c0[g], c1[g]), odd = unit_from_words_x8(c2[g], c3[g]);
    if (normal) box_muller_x8(even, odd, even, odd);
    _mm512_storeu_pd(out + 16 * g, _mm512_permutex2var_pd(even, first_half, odd));
    _mm512_storeu_pd(out + 16 * g + 8, _mm512_permutex2var_pd(even, second_half, odd));
  }
}

/// Variates 2*block .. 2*block + 2G - 1 of the eight streams first_stream + j (the lanes):
/// out[8 * i + j] is variate 2*block + i of stream first_stream + j.
template <int G>
SIMHOST_TARGET_AVX512 inline void philox4x32_streams_x8(std::uint64_t seed,
                                                        std::uint64_t first_stream,
                                                        std::uint64_t block, bool normal,
                                                        double* out) {
  const __m512i streams = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(first_stream)),
                                           _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  __m512i c0[G], c1[G], c2[G], c3[G];
  for (int g = 0; g < G; ++g) {
    const std::uint64_t b = block + static_cast<unsigned>(g);
    c0[g] = _mm512_set1_epi64(static_cast<long long>(b & 0xffffffffULL));
    c1[g] = _mm512_set1_epi64(static_cast<long long>(b >> 32));
    c2[g] = streams;
    c3[g] = _mm512_maskz_srli_epi64(kAll, streams, 32);
  }
  philox4x32_rounds_x8<G>(seed, c0, c1, c2, c3);
  for (int g = 0; g < G; ++g) {
    __m512d even = unit_from_words_x8(c0[g], c1[g]), odd = unit_from_words_x8(c2[g], c3[g]);
    if (normal) box_muller_x8(even, odd, even, odd);
    _mm512_storeu_pd(out + 16 * g, even);
    _mm512_storeu_pd(out + 16 * g + 8, odd);
  }
}

// Groups side by side: measured on Zen 5, 1 is latency-bound (1.8 ns a normal), 3 gives
// 1.2 ns and 4 runs out of registers.
inline constexpr int kGroups = 3;

SIMHOST_TARGET_AVX512 inline void philox4x32_fill_avx512(std::uint64_t seed, std::uint64_t stream,
                                                         std::uint64_t first, double* out,
                                                         std::size_t n, bool normal) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t index = first + i;
    if (index % 2 == 0 && n - i >= 16 * kGroups) {
      philox4x32_counters_x8<kGroups>(seed, stream, index / 2, normal, out + i);
      i += 16 * kGroups;
    } else if (index % 2 == 0 && n - i >= 16) {
      philox4x32_counters_x8<1>(seed, stream, index / 2, normal, out + i);
      i += 16;
    } else {  // a ragged start or end: a whole group into a scratch block
      double group[16];
      philox4x32_counters_x8<1>(seed, stream, index / 2, normal, group);
      const std::size_t from = index % 2, take = std::min<std::size_t>(16 - from, n - i);
      std::memcpy(out + i, group + from, take * sizeof(double));
      i += take;
    }
  }
}

SIMHOST_TARGET_AVX512 inline void philox4x32_fill_x8_avx512(std::uint64_t seed,
                                                            std::uint64_t first_stream,
                                                            std::uint64_t first, double* out,
                                                            std::size_t count, bool normal) {
  std::size_t k = 0;
  while (k < count) {
    const std::uint64_t index = first + k;
    if (index % 2 == 0 && count - k >= 2 * kGroups) {
      philox4x32_streams_x8<kGroups>(seed, first_stream, index / 2, normal, out + 8 * k);
      k += 2 * kGroups;
    } else {  // one pair of rows into a scratch block
      double rows[16];
      philox4x32_streams_x8<1>(seed, first_stream, index / 2, normal, rows);
      const std::size_t from = index % 2, take = std::min<std::size_t>(2 - from, count - k);
      std::memcpy(out + 8 * k, rows + 8 * from, 8 * take * sizeof(double));
      k += take;
    }
  }
}

/// True when this process runs the AVX-512 code: the CPU level in use (simhost::cpu_path(),
/// so SIMHOST_CPU=generic or avx2 turns it off) has AVX-512. Checked once.
inline bool cpu_has_avx512() noexcept {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  return true;  // a -march=native build on a machine with AVX-512
#else
  static const bool yes = cpu_path_or_generic() == CpuPath::avx512;
  return yes;
#endif
}

#endif  // SIMHOST_RANDOM_AVX512

#if SIMHOST_RANDOM_AVX512  // (any x86-64 compiler that has the AVX-512 one has this one)

#define SIMHOST_TARGET_AVX2 __attribute__((target("avx2,fma")))

/// Philox4x32-10 on G groups of eight counters in AVX2 registers, one 32-bit word per lane
/// (no garbage halves): the same arithmetic as philox4x32_rounds_x8, for CPUs without AVX-512.
/// lo and hi of the eight 32 x 32 -> 64-bit products a * m: _mm256_mul_epu32 multiplies the
/// even lanes, so the odd ones are shifted down for a second multiply, and the halves of the
/// two products are blended back into lane order.
SIMHOST_TARGET_AVX2 inline void mulhilo_x8_avx2(__m256i a, __m256i m, __m256i& lo,
                                                           __m256i& hi) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

template <int G>
SIMHOST_TARGET_AVX2 inline void philox4x32_rounds_x8_avx2(
    std::uint64_t seed, __m256i (&c0)[G], __m256i (&c1)[G], __m256i (&c2)[G], __m256i (&c3)[G]) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  __m256i key0 = _mm256_set1_epi32(static_cast<int>(seed & 0xffffffffULL));
  __m256i key1 = _mm256_set1_epi32(static_cast<int>(seed >> 32));
  const __m256i w0 = _mm256_set1_epi32(static_cast<int>(0x9E3779B9u));
  const __m256i w1 = _mm256_set1_epi32(static_cast<int>(0xBB67AE85u));
  for (int round = 0; round < 10; ++round) {
    for (int g = 0; g < G; ++g) {
      __m256i lo0, hi0, lo1, hi1;
      mulhilo_x8_avx2(c0[g], m0, lo0, hi0);
      mulhilo_x8_avx2(c2[g], m1, lo1, hi1);
      c0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[g]), key0);
      c1[g] = lo1;
      c2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[g]), key1);
      c3[g] = lo0;
    }
    key0 = _mm256_add_epi32(key0, w0);
    key1 = _mm256_add_epi32(key1, w1);
  }
}

/// unit_from_words in four 64-bit lanes holding hi:lo.
SIMHOST_TARGET_AVX2 inline __m256d unit_from_words_x4(__m256i w) {
  const __m256i mantissa = _mm256_srli_epi64(w, 12);
  return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(
                           mantissa, _mm256_set1_epi64x(static_cast<long long>(kOneBits)))),
                       _mm256_set1_pd(kUnitOffset));
}

/// Box-Muller in four lanes, exactly as philox4x32_pair (and box_muller_x8), on N independent
/// register pairs at once, in place: (u[i], v[i]) become the two normals. Every statement runs
/// for all N before the next, so the N dependency chains (each ~100 cycles deep: the series are
/// Horner's) are interleaved in program order and overlap in the core.
template <int N>
SIMHOST_TARGET_AVX2 inline void box_muller_x4(__m256d (&u)[N], __m256d (&v)[N]) {
  __m256d s[N], kd[N];
  for (int i = 0; i < N; ++i) {
    // ln u: u = 2^k z, z in [sqrt(1/2), sqrt(2)).
    const __m256i bits = _mm256_castpd_si256(u[i]);
    const __m256i tmp =
        _mm256_sub_epi64(bits, _mm256_set1_epi64x(static_cast<long long>(kSqrtHalfBits)));
    // k = tmp >> 52 (arithmetic) is small: the high 32 bits of each lane shifted by 20.
    const __m256i high = _mm256_srai_epi32(tmp, 20);
    const __m128i k = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(high, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7)));
    const __m256d z = _mm256_castsi256_pd(_mm256_sub_epi64(
        bits, _mm256_and_si256(tmp, _mm256_set1_epi64x(static_cast<long long>(0xfffULL << 52)))));
    const __m256d f = _mm256_sub_pd(z, _mm256_set1_pd(1.0));
    s[i] = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
    kd[i] = _mm256_cvtepi32_pd(k);
  }
  __m256d w[N], p[N];
  for (int i = 0; i < N; ++i) {
    w[i] = _mm256_mul_pd(s[i], s[i]);
    p[i] = _mm256_set1_pd(kLogSeries[9]);
  }
  for (int n = 8; n >= 0; --n)
    for (int i = 0; i < N; ++i) p[i] = _mm256_fmadd_pd(p[i], w[i], _mm256_set1_pd(kLogSeries[n]));
  __m256d radius[N];
  for (int i = 0; i < N; ++i) {
    const __m256d log_z = _mm256_mul_pd(s[i], p[i]);
    const __m256d log_u = _mm256_fmadd_pd(kd[i], _mm256_set1_pd(kLn2Hi),
                                          _mm256_fmadd_pd(kd[i], _mm256_set1_pd(kLn2Lo), log_z));
    radius[i] = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), log_u));
  }
  // cos and sin of 2 pi v.
  __m256d y[N], t[N], ps[N], pc[N];
  __m256i q[N];
  for (int i = 0; i < N; ++i) {
    const __m256d x = _mm256_mul_pd(_mm256_set1_pd(4.0), v[i]);
    const __m256d shifted = _mm256_add_pd(x, _mm256_set1_pd(kRoundShift));
    q[i] = _mm256_castpd_si256(shifted);
    y[i] = _mm256_sub_pd(x, _mm256_sub_pd(shifted, _mm256_set1_pd(kRoundShift)));
    t[i] = _mm256_mul_pd(y[i], y[i]);
    ps[i] = _mm256_set1_pd(kSinSeries[7]);
    pc[i] = _mm256_set1_pd(kCosSeries[8]);
  }
  for (int j = 7; j >= 0; --j)
    for (int i = 0; i < N; ++i) {
      if (j < 7) ps[i] = _mm256_fmadd_pd(ps[i], t[i], _mm256_set1_pd(kSinSeries[j]));
      pc[i] = _mm256_fmadd_pd(pc[i], t[i], _mm256_set1_pd(kCosSeries[j]));
    }
  for (int i = 0; i < N; ++i) {
    const __m256d sin_y = _mm256_mul_pd(y[i], ps[i]);
    const __m256i one = _mm256_set1_epi64x(1), two = _mm256_set1_epi64x(2);
    const __m256d swap =
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(q[i], one), one));
    const __m256d cos_sign = _mm256_castsi256_pd(
        _mm256_slli_epi64(_mm256_and_si256(_mm256_add_epi64(q[i], one), two), 62));
    const __m256d sin_sign =
        _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_and_si256(q[i], two), 62));
    const __m256d c = _mm256_xor_pd(_mm256_blendv_pd(pc[i], sin_y, swap), cos_sign);
    const __m256d sn = _mm256_xor_pd(_mm256_blendv_pd(sin_y, pc[i], swap), sin_sign);
    u[i] = _mm256_mul_pd(radius[i], c);
    v[i] = _mm256_mul_pd(radius[i], sn);
  }
}

/// philox4x32_streams_x8 in AVX2: variates 2*block .. 2*block + 2G - 1 of the eight streams
/// first_stream + j, out[8 * i + j] variate 2*block + i of stream first_stream + j.
/// stream_lo/hi: the halves of the streams in the 32-bit lane order 0 1 4 5 2 3 6 7, so that
/// pairing a lane's two words into 64 bits (in-lane unpacks) gives streams 0-3 and 4-7 in order.
template <int G>
SIMHOST_TARGET_AVX2 inline void philox4x32_streams_x8_avx2(std::uint64_t seed, __m256i stream_lo,
                                                           __m256i stream_hi, std::uint64_t block,
                                                           bool normal, double* out) {
  __m256i c0[G], c1[G], c2[G], c3[G];
  for (int g = 0; g < G; ++g) {
    const std::uint64_t b = block + static_cast<unsigned>(g);
    c0[g] = _mm256_set1_epi32(static_cast<int>(b & 0xffffffffULL));
    c1[g] = _mm256_set1_epi32(static_cast<int>(b >> 32));
    c2[g] = stream_lo;
    c3[g] = stream_hi;
  }
  philox4x32_rounds_x8_avx2<G>(seed, c0, c1, c2, c3);
  // Per group, the pairs (even, odd) of streams 0-3 and of streams 4-7.
  __m256d even[2 * G], odd[2 * G];
  for (int g = 0; g < G; ++g) {
    even[2 * g] = unit_from_words_x4(_mm256_unpacklo_epi32(c0[g], c1[g]));
    even[2 * g + 1] = unit_from_words_x4(_mm256_unpackhi_epi32(c0[g], c1[g]));
    odd[2 * g] = unit_from_words_x4(_mm256_unpacklo_epi32(c2[g], c3[g]));
    odd[2 * g + 1] = unit_from_words_x4(_mm256_unpackhi_epi32(c2[g], c3[g]));
  }
  if (normal) box_muller_x4<2 * G>(even, odd);
  for (int g = 0; g < G; ++g) {
    _mm256_storeu_pd(out + 16 * g, even[2 * g]);
    _mm256_storeu_pd(out + 16 * g + 4, even[2 * g + 1]);
    _mm256_storeu_pd(out + 16 * g + 8, odd[2 * g]);
    _mm256_storeu_pd(out + 16 * g + 12, odd[2 * g + 1]);
  }
}

// Groups side by side in AVX2 (16 registers; four words per group), their Box-Muller chains
// interleaved: measured on Zen 3 (`simhost_bench_random normals`), 1 group takes 3.8 ns a
// normal, 2 groups 3.1, 3 groups 2.8, 4 groups 2.9 (2 groups each transformed alone: 3.6).
inline constexpr int kGroupsAvx2 = 3;

SIMHOST_TARGET_AVX2 inline void philox4x32_fill_x8_avx2(std::uint64_t seed,
                                                        std::uint64_t first_stream,
                                                        std::uint64_t first, double* out,
                                                        std::size_t count, bool normal) {
  alignas(32) std::uint32_t lo[8], hi[8];
  constexpr int kOrder[8] = {0, 1, 4, 5, 2, 3, 6, 7};
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t stream = first_stream + static_cast<unsigned>(kOrder[i]);
    lo[i] = static_cast<std::uint32_t>(stream);
    hi[i] = static_cast<std::uint32_t>(stream >> 32);
  }
  const __m256i stream_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i stream_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
  std::size_t k = 0;
  while (k < count) {
    const std::uint64_t index = first + k;
    if (index % 2 == 0 && count - k >= 2 * kGroupsAvx2) {
      philox4x32_streams_x8_avx2<kGroupsAvx2>(seed, stream_lo, stream_hi, index / 2, normal,
                                              out + 8 * k);
      k += 2 * kGroupsAvx2;
    } else {  // one pair of rows into a scratch block
      double rows[16];
      philox4x32_streams_x8_avx2<1>(seed, stream_lo, stream_hi, index / 2, normal, rows);
      const std::size_t from = index % 2, take = std::min<std::size_t>(2 - from, count - k);
      std::memcpy(out + 8 * k, rows + 8 * from, 8 * take * sizeof(double));
      k += take;
    }
  }
}

/// True when this process runs AVX2 code: the CPU level in use has AVX2 and FMA.
inline bool cpu_has_avx2() noexcept {
#if defined(__AVX2__) && defined(__FMA__)
  return true;
#else
  static const bool yes = cpu_path_or_generic() == CpuPath::avx2 ||
                          cpu_path_or_generic() == CpuPath::avx512;
  return yes;
#endif
}

#endif

inline void philox4x32_fill(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                            std::span<double> out, bool normal) noexcept {
#if SIMHOST_RANDOM_AVX512
  if (cpu_has_avx512()) {
    philox4x32_fill_avx512(seed, stream, first, out.data(), out.size(), normal);
    return;
  }
#endif
  philox4x32_fill_portable(seed, stream, first, out.data(), out.size(), normal);
}

inline void philox4x32_fill_x8(std::uint64_t seed, std::uint64_t first_stream, std::uint64_t first,
                               std::size_t count, std::span<double> out, bool normal) noexcept {
  count = std::min(count, out.size() / 8);
#if SIMHOST_RANDOM_AVX512
  if (cpu_has_avx512()) {
    philox4x32_fill_x8_avx512(seed, first_stream, first, out.data(), count, normal);
    return;
  }
  if (cpu_has_avx2()) {
    philox4x32_fill_x8_avx2(seed, first_stream, first, out.data(), count, normal);
    return;
  }
#endif
  philox4x32_fill_x8_portable(seed, first_stream, first, out.data(), count, normal);
}

}  // namespace detail

/// Fills out[i] with uniform variate number first + i of (seed, stream), on the open interval
/// (0, 1) with 52 random bits (see the block comment above for the exact mapping). A pure
/// function of its arguments; thread-safe.
inline void philox4x32_uniforms(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                                std::span<double> out) noexcept {
  detail::philox4x32_fill(seed, stream, first, out, false);
}

/// Fills out[i] with standard normal variate number first + i of (seed, stream) (Box-Muller;
/// |z| < 8.6 since the uniforms stay 2^-53 away from 0). A pure function of its arguments;
/// thread-safe. Fastest for blocks of 16 or more starting at an even index.
inline void philox4x32_normals(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                               std::span<double> out) noexcept {
  detail::philox4x32_fill(seed, stream, first, out, true);
}

/// The same variates for eight streams side by side, for kernels that keep eight streams in
/// SIMD lanes (eight Monte Carlo paths, eight lattice rows): out[8 * k + j] is variate first + k
/// of stream first_stream + j, for k < count (out must hold 8 * count values; count is cut to
/// out.size() / 8). Bit-identical to philox4x32_uniforms on each stream. Thread-safe.
inline void philox4x32_uniforms_x8(std::uint64_t seed, std::uint64_t first_stream,
                                   std::uint64_t first, std::size_t count,
                                   std::span<double> out) noexcept {
  detail::philox4x32_fill_x8(seed, first_stream, first, count, out, false);
}

/// philox4x32_normals for the eight streams first_stream + j side by side: out[8 * k + j] is
/// variate first + k of stream first_stream + j, for k < count (out holds 8 * count values).
/// Bit-identical to philox4x32_normals on each stream. Fastest when first and count are even.
/// Thread-safe.
inline void philox4x32_normals_x8(std::uint64_t seed, std::uint64_t first_stream,
                                  std::uint64_t first, std::size_t count,
                                  std::span<double> out) noexcept {
  detail::philox4x32_fill_x8(seed, first_stream, first, count, out, true);
}

}  // namespace simhost
