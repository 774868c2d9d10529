// Counter-based random numbers for every stochastic kernel (Random123's Philox4x64-10).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

#include <Random123/philox.h>

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

}  // namespace simhost
