// The counter-based generator: known answers, purity, and the distribution of its variates.
#include <doctest/doctest.h>

#include <cmath>

#include "simhost/random.hpp"

using namespace simhost;

TEST_CASE("Philox4x64-10 reproduces Random123's known-answer vector") {
  // Random123's kat_vectors: philox4x64 10, counter 0, key 0.
  const auto w = Philox(0, 0).bits(0, 0);
  CHECK(w[0] == 0x16554d9eca36314cULL);
  CHECK(w[1] == 0xdb20fe9d672d0fdcULL);
  CHECK(w[2] == 0xd7e772cee186176bULL);
  CHECK(w[3] == 0x7e68b68aec7ba23bULL);
}

TEST_CASE("values are a pure function of seed, stream and counter") {
  const Philox a(42, 7), b(42, 7);
  CHECK(a.bits(123) == b.bits(123));
  CHECK(a.bits(123) != a.bits(124));
  CHECK(a.bits(123) != Philox(42, 8).bits(123));
  CHECK(a.bits(123) != Philox(43, 7).bits(123));
  CHECK(a.bits(123, 1) != a.bits(123, 0));
}

TEST_CASE("uniforms lie in the open unit interval with the right mean and variance") {
  const Philox rng(1, 0);
  constexpr int kDraws = 1 << 18;
  double sum = 0, sum2 = 0, lo = 1, hi = 0;
  for (int i = 0; i < kDraws / 4; ++i)
    for (double u : rng.uniform(static_cast<std::uint64_t>(i))) {
      sum += u;
      sum2 += u * u;
      lo = std::min(lo, u);
      hi = std::max(hi, u);
    }
  const double mean = sum / kDraws, var = sum2 / kDraws - mean * mean;
  // Five standard errors of the mean (sd 1/sqrt(12)) and of the variance (sd ~0.0745/sqrt(n)).
  CHECK(std::abs(mean - 0.5) < 5 * std::sqrt(1.0 / 12 / kDraws));
  CHECK(std::abs(var - 1.0 / 12) < 5 * 0.0745 / std::sqrt(kDraws));
  CHECK(lo > 0);
  CHECK(hi < 1);
  CHECK(Philox::to_open_unit(0) > 0);
  CHECK(Philox::to_open_unit(~0ULL) < 1);
}

TEST_CASE("normals have mean 0, variance 1 and the normal fourth moment") {
  const Philox rng(9, 3);
  constexpr int kDraws = 1 << 18;
  double m1 = 0, m2 = 0, m4 = 0;
  for (int i = 0; i < kDraws / 4; ++i)
    for (double z : rng.normal(static_cast<std::uint64_t>(i))) {
      m1 += z;
      m2 += z * z;
      m4 += z * z * z * z;
    }
  m1 /= kDraws;
  m2 /= kDraws;
  m4 /= kDraws;
  CHECK(std::abs(m1) < 5 / std::sqrt(kDraws));
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2.0 / kDraws));
  CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96.0 / kDraws));
}
