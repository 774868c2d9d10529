// Blocks of Philox4x32-10 variates: known answers, purity, agreement of the AVX-512 and
// one-at-a-time code, accuracy against long-double libm, and the distribution of the normals.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "simhost/random.hpp"

using namespace simhost;

namespace {

constexpr double kLogRelativeTolerance = 1e-15;   // polynomial ln u against long-double libm
constexpr double kTurnAbsoluteTolerance = 5e-16;  // cos/sin(2 pi u), |value| <= 1
constexpr double kNormalTolerance = 2e-15;        // |z - z_ref| / radius
constexpr double kSigmas = 5;                     // moment checks: standard errors allowed

std::vector<double> normals(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                            std::size_t n) {
  std::vector<double> v(n);
  philox4x32_normals(seed, stream, first, v);
  return v;
}

// Box-Muller in long double with libm, from Random123's own Philox4x32 words.
void reference_pair(std::uint64_t seed, std::uint64_t stream, std::uint64_t block, double out[2],
                    double& radius) {
  const auto w = detail::philox4x32_words(seed, stream, block);
  const auto ua =
      static_cast<long double>(((static_cast<std::uint64_t>(w[1]) << 32 | w[0]) >> 12) + 0.5L) *
      0x1p-52L;
  const auto ub =
      static_cast<long double>(((static_cast<std::uint64_t>(w[3]) << 32 | w[2]) >> 12) + 0.5L) *
      0x1p-52L;
  const long double r = std::sqrt(-2 * std::log(ua));
  const long double angle = 2 * std::numbers::pi_v<long double> * ub;
  out[0] = static_cast<double>(r * std::cos(angle));
  out[1] = static_cast<double>(r * std::sin(angle));
  radius = static_cast<double>(r);
}

}  // namespace

TEST_CASE("Philox4x32-10 reproduces Random123's known-answer vectors") {
  // kat_vectors: philox4x32 10, (counter, key) -> output; counter = (block, stream) and key =
  // seed, each 64-bit number split into its low and high 32-bit words.
  using W = std::array<std::uint32_t, 4>;
  CHECK(detail::philox4x32_words(0, 0, 0) == W{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(detail::philox4x32_words(~0ULL, ~0ULL, ~0ULL) ==
        W{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(detail::philox4x32_words(0x299f31d0a4093822ULL, 0x0370734413198a2eULL,
                                 0x85a308d3243f6a88ULL) ==
        W{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("block uniforms are the documented function of Philox4x32's words") {
  const std::uint64_t seed = 0x123456789abcdefULL, stream = 0xfedcba9876543210ULL;
  std::vector<double> u(70);
  philox4x32_uniforms(seed, stream, 0, u);
  for (std::size_t i = 0; i < u.size(); ++i) {
    const auto w = detail::philox4x32_words(seed, stream, i / 2);
    const std::uint64_t word =
        i % 2 == 0 ? (std::uint64_t{w[1]} << 32 | w[0]) : (std::uint64_t{w[3]} << 32 | w[2]);
    CAPTURE(i);
    CHECK(u[i] == Philox::to_open_unit(word));  // the same cell midpoints as Philox4x64
  }
  // Blocks that cross 2^32 in the low counter word carry into the high one.
  const std::uint64_t near = (1ULL << 32) - 5;
  std::vector<double> v(20);
  philox4x32_uniforms(seed, stream, 2 * near, v);
  const auto w = detail::philox4x32_words(seed, stream, near + 7);
  CHECK(v[14] == Philox::to_open_unit(std::uint64_t{w[1]} << 32 | w[0]));
}

TEST_CASE("a variate depends only on seed, stream and index, not on the block it came in") {
  const auto whole = normals(5, 77, 0, 300);
  for (std::uint64_t first : {0, 1, 2, 15, 16, 17, 31, 100, 257}) {
    for (std::size_t n : {1, 2, 15, 16, 17, 33}) {
      const auto part = normals(5, 77, first, n);
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(first);
        CAPTURE(n);
        CHECK(part[i] == whole[first + i]);
      }
    }
  }
  CHECK(normals(5, 78, 0, 4) != normals(5, 77, 0, 4));
  CHECK(normals(6, 77, 0, 4) != normals(5, 77, 0, 4));
  CHECK(normals(5, 77, 0, 0).empty());
}

TEST_CASE("eight streams side by side hold exactly each stream's variates") {
  const std::uint64_t seed = 31;
  for (std::uint64_t first_stream : {0ULL, 5ULL, 0xfffffffcULL}) {  // the last crosses 2^32
    for (std::uint64_t first : {0, 1, 6, 7}) {
      for (std::size_t count : {1, 2, 5, 6, 7, 40, 301}) {
        std::vector<double> lanes(8 * count), lane_u(8 * count);
        philox4x32_normals_x8(seed, first_stream, first, count, lanes);
        philox4x32_uniforms_x8(seed, first_stream, first, count, lane_u);
        for (std::uint64_t j = 0; j < 8; ++j) {
          const auto z = normals(seed, first_stream + j, first, count);
          std::vector<double> u(count);
          philox4x32_uniforms(seed, first_stream + j, first, u);
          bool same = true;
          for (std::size_t k = 0; k < count; ++k)
            same = same && lanes[8 * k + j] == z[k] && lane_u[8 * k + j] == u[k];
          CAPTURE(first_stream);
          CAPTURE(first);
          CAPTURE(count);
          CAPTURE(j);
          CHECK(same);
        }
      }
    }
  }
  // count is cut to what the span holds.
  std::vector<double> small(8 * 3, -1.0);
  philox4x32_normals_x8(seed, 0, 0, 100, small);
  CHECK(small[8 * 2 + 7] == normals(seed, 7, 2, 1)[0]);
}

// On a CPU (or build) without AVX-512 there is nothing to compare: the case is skipped, which
// doctest reports as skipped rather than passed. CTest runs it alone as unit.avx512 and shows
// it as "Skipped" there (tests/CMakeLists.txt), so a machine that cannot check it says so.
#if SIMHOST_RANDOM_AVX512
TEST_CASE("the AVX-512 and the one-at-a-time code give bit-identical variates" *
          doctest::skip(!detail::cpu_has_avx512())) {
  constexpr std::size_t kCount = 1 << 16;
  for (bool normal : {true, false}) {
    std::vector<double> fast(kCount), slow(kCount);
    for (std::uint64_t stream : {0ULL, 3ULL, 0xffffffff00000001ULL}) {
      detail::philox4x32_fill_avx512(42, stream, 9, fast.data(), kCount, normal);
      detail::philox4x32_fill_portable(42, stream, 9, slow.data(), kCount, normal);
      CAPTURE(normal);
      CAPTURE(stream);
      CHECK(std::equal(fast.begin(), fast.end(), slow.begin()));
    }
    std::vector<double> fast8(8 * 1001), slow8(8 * 1001);
    detail::philox4x32_fill_x8_avx512(42, 77, 3, fast8.data(), 1001, normal);
    detail::philox4x32_fill_x8_portable(42, 77, 3, slow8.data(), 1001, normal);
    CHECK(std::equal(fast8.begin(), fast8.end(), slow8.begin()));
  }
}
#else
TEST_CASE("the AVX-512 and the one-at-a-time code give bit-identical variates" *
          doctest::skip(true)) {}
#endif

// The AVX2 eight-stream generator (CPUs with AVX2 but not AVX-512 run it) against the same
// reference; skipped where the CPU has no AVX2.
#if SIMHOST_RANDOM_AVX512
TEST_CASE("the AVX2 and the one-at-a-time code give bit-identical variates" *
          doctest::skip(!detail::cpu_has_avx2())) {
  for (bool normal : {true, false}) {
    for (std::uint64_t first_stream : {0ULL, 77ULL, 0xfffffffcULL, 0xfffffffffffffffaULL}) {
      for (std::uint64_t first : {0ULL, 3ULL}) {
        std::vector<double> fast8(8 * 1001), slow8(8 * 1001);
        detail::philox4x32_fill_x8_avx2(42, first_stream, first, fast8.data(), 1001, normal);
        detail::philox4x32_fill_x8_portable(42, first_stream, first, slow8.data(), 1001, normal);
        CAPTURE(normal);
        CAPTURE(first_stream);
        CAPTURE(first);
        CHECK(std::equal(fast8.begin(), fast8.end(), slow8.begin()));
      }
    }
  }
}
#endif

TEST_CASE("the polynomial log, cos and sin agree with long-double libm") {
  std::vector<double> us{
      0x1p-53, 0x3p-53,     1e-10,      0.25, 0.5, 0.70710678118654746, 0.70710678118654757,
      0.999,   1 - 0x1p-52, 1 - 0x1p-53};
  for (int i = 1; i < 20000; ++i) us.push_back((i + 0.5) / 20000);
  for (double u : us) {
    CAPTURE(u);
    const long double exact = std::log(static_cast<long double>(u));
    CHECK(std::abs(detail::log_unit(u) - exact) <= kLogRelativeTolerance * std::abs(exact));
    double c, s;
    detail::cos_sin_turn(u, c, s);
    const long double angle = 2 * std::numbers::pi_v<long double> * u;
    CHECK(std::abs(c - std::cos(angle)) <= kTurnAbsoluteTolerance);
    CHECK(std::abs(s - std::sin(angle)) <= kTurnAbsoluteTolerance);
  }
  // Quarter turns are exact.
  double c, s;
  detail::cos_sin_turn(0.25, c, s);
  CHECK(c == 0.0);
  CHECK(s == 1.0);
  detail::cos_sin_turn(0.5, c, s);
  CHECK(c == -1.0);
  CHECK(s == 0.0);
}

TEST_CASE("block normals agree with Box-Muller in long double on the same uniforms") {
  constexpr std::size_t kCount = 1 << 14;
  const auto z = normals(2024, 11, 0, kCount);
  double worst = 0;
  for (std::size_t j = 0; j < kCount / 2; ++j) {
    double ref[2], radius;
    reference_pair(2024, 11, j, ref, radius);
    for (int k = 0; k < 2; ++k) worst = std::max(worst, std::abs(z[2 * j + k] - ref[k]) / radius);
  }
  MESSAGE("largest |z - z_ref| / radius: " << worst);
  CHECK(worst < kNormalTolerance);
}

TEST_CASE("block normals have the moments and tails of the standard normal") {
  constexpr std::size_t kPerStream = 4096, kStreams = 64;
  constexpr double n = kPerStream * kStreams;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0, beyond3 = 0, lag1 = 0, cross = 0;
  std::vector<double> previous;
  for (std::uint64_t s = 0; s < kStreams; ++s) {
    const auto z = normals(99, s, 0, kPerStream);
    for (std::size_t i = 0; i < kPerStream; ++i) {
      const double x = z[i];
      m1 += x;
      m2 += x * x;
      m3 += x * x * x;
      m4 += x * x * x * x;
      beyond3 += std::abs(x) > 3;
      if (i + 1 < kPerStream) lag1 += x * z[i + 1];     // cos and sin of one pair, and neighbours
      if (!previous.empty()) cross += x * previous[i];  // same index, neighbouring streams
    }
    previous = z;
  }
  m1 /= n;
  m2 /= n;
  m3 /= n;
  m4 /= n;
  CHECK(std::abs(m1) < kSigmas / std::sqrt(n));
  CHECK(std::abs(m2 - 1) < kSigmas * std::sqrt(2 / n));
  CHECK(std::abs(m3) < kSigmas * std::sqrt(15 / n));
  CHECK(std::abs(m4 - 3) < kSigmas * std::sqrt(96 / n));
  // P(|Z| > 3) = erfc(3 / sqrt 2) = 0.0026998; binomial standard error.
  const double p3 = std::erfc(3 / std::numbers::sqrt2);
  CHECK(std::abs(beyond3 / n - p3) < kSigmas * std::sqrt(p3 * (1 - p3) / n));
  CHECK(std::abs(lag1 / (n - kStreams)) < kSigmas / std::sqrt(n - kStreams));
  CHECK(std::abs(cross / (n - kPerStream)) < kSigmas / std::sqrt(n - kPerStream));
}

TEST_CASE("block uniforms have the moments of the uniform distribution") {
  constexpr std::size_t kCount = 1 << 18;
  std::vector<double> u(kCount);
  philox4x32_uniforms(7, 1, 0, u);
  double sum = 0, sum2 = 0;
  for (double x : u) {
    sum += x;
    sum2 += x * x;
  }
  const double mean = sum / kCount, var = sum2 / kCount - mean * mean;
  CHECK(std::abs(mean - 0.5) < kSigmas * std::sqrt(1.0 / 12 / kCount));
  CHECK(std::abs(var - 1.0 / 12) < kSigmas * 0.0745 / std::sqrt(kCount));
  CHECK(*std::min_element(u.begin(), u.end()) > 0);
  CHECK(*std::max_element(u.begin(), u.end()) < 1);
}
