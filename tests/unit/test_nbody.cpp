// nbody against physics (circular orbit, conservation laws), an independent direct sum, and
// bit-identity across thread counts.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "cancel_check.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"

using namespace simhost;

namespace {

constexpr double kOrbitDriftTolerance = 1e-6;
constexpr double kRoundingTolerance = 1e-12;
// The two-body orbit after one radian (1000 steps of dt = 1e-3) against the exact circle:
// leapfrog's O(dt^2) phase error, measured 7.2e-8 in position and 8.2e-8 in velocity; half a
// kick too many or too few moves a velocity by dt/2 |a| = 2.5e-4.
constexpr double kOrbitStateTolerance = 1.5e-7;
// The kernel against the plain leapfrog written here: the same operations, sums in another
// order (8 lanes with AVX-512); measured <= 6e-17 relative (max |difference| / max |value|)
// for positions and velocities. The energy K + U cancels: measured 1.6e-14 relative to |E|.
constexpr double kLeapfrogReferenceTolerance = 1e-14;
constexpr double kLeapfrogEnergyTolerance = 1e-13;

struct Bodies {
  std::vector<double> pos, vel, mass;
  std::int64_t n() const { return static_cast<std::int64_t>(mass.size()); }
};

Bodies random_bodies(int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.5, 1.5);
  Bodies b;
  for (int i = 0; i < 3 * n; ++i) b.pos.push_back(normal(rng));
  for (int i = 0; i < 3 * n; ++i) b.vel.push_back(0.3 * normal(rng));
  for (int i = 0; i < n; ++i) b.mass.push_back(uniform(rng) / n);
  return b;
}

const KernelDef& nbody() {
  static Registry registry;
  static const bool added = (add_builtin_kernels(registry), true);
  (void)added;
  return registry.get("nbody");
}

std::shared_ptr<Call> evolve(Bodies& b, double dt, std::int64_t steps, double eps = 0.01) {
  return run_call(nbody(), {{"pos", ConstArrayView{b.pos.data(), DType::Float64, {b.n(), 3}}},
                            {"vel", ConstArrayView{b.vel.data(), DType::Float64, {b.n(), 3}}},
                            {"mass", ConstArrayView{b.mass.data(), DType::Float64, {b.n()}}},
                            {"eps", eps},
                            {"dt", dt},
                            {"steps", steps}});
}

std::vector<double> copy_of(const Call& call, const char* name) {
  auto v = call.output(name).array.as<double>();
  return {v.begin(), v.end()};
}

// Total energy by a plain double loop over pairs, independent of the kernel's method.
double direct_energy(const Bodies& b, double G, double eps) {
  double kinetic = 0, potential = 0;
  for (std::int64_t i = 0; i < b.n(); ++i) {
    const double* v = &b.vel[3 * i];
    kinetic += 0.5 * b.mass[i] * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (std::int64_t j = i + 1; j < b.n(); ++j) {
      double r2 = eps * eps;
      for (int d = 0; d < 3; ++d) r2 += std::pow(b.pos[3 * j + d] - b.pos[3 * i + d], 2);
      potential -= G * b.mass[i] * b.mass[j] / std::sqrt(r2);
    }
  }
  return kinetic + potential;
}

}  // namespace

TEST_CASE("the initial energy equals a direct pairwise sum") {
  Bodies b = random_bodies(101, 7);
  auto call = evolve(b, 1e-3, 0);
  const double expected = direct_energy(b, 1.0, 0.01);
  CHECK(copy_of(*call, "energy").size() == 1);
  CHECK(copy_of(*call, "energy")[0] == doctest::Approx(expected).epsilon(kRoundingTolerance));
  // Zero steps leave positions and velocities exactly as given.
  CHECK(copy_of(*call, "pos") == b.pos);
  CHECK(copy_of(*call, "vel") == b.vel);
}

TEST_CASE(
    "a two-body circular orbit keeps its energy to 1e-6 and its exact state over 1000 steps") {
  // Two bodies of mass 1/2 at distance 1 circle their centre of mass at speed
  // sqrt(G m / (2 d)) = 1/2 with angular frequency 1 (eps = 0: pure Newtonian gravity).
  Bodies b{{-0.5, 0, 0, 0.5, 0, 0}, {0, -0.5, 0, 0, 0.5, 0}, {0.5, 0.5}};
  auto call = evolve(b, 1e-3, 1000, 0.0);
  const auto energy = copy_of(*call, "energy");
  REQUIRE(energy.size() == 1001);
  CHECK(energy[0] == doctest::Approx(2 * 0.5 * 0.5 * 0.25 - 0.25).epsilon(1e-15));
  double drift = 0;
  for (double e : energy) drift = std::max(drift, std::abs((e - energy[0]) / energy[0]));
  CHECK(drift < kOrbitDriftTolerance);
  // After 1000 steps of dt = 1e-3 the pair has turned by one radian: body 1 is at
  // (1/2)(cos t, sin t, 0) with velocity (1/2)(-sin t, cos t, 0), body 0 opposite.
  const auto pos = copy_of(*call, "pos");
  const auto vel = copy_of(*call, "vel");
  const double t = 1.0;
  const double want_pos[6] = {-0.5 * std::cos(t), -0.5 * std::sin(t), 0,
                              0.5 * std::cos(t),  0.5 * std::sin(t),  0};
  const double want_vel[6] = {0.5 * std::sin(t),  -0.5 * std::cos(t), 0,
                              -0.5 * std::sin(t), 0.5 * std::cos(t),  0};
  double pos_error = 0, vel_error = 0;
  for (int k = 0; k < 6; ++k) {
    pos_error = std::max(pos_error, std::abs(pos[k] - want_pos[k]));
    vel_error = std::max(vel_error, std::abs(vel[k] - want_vel[k]));
  }
  MESSAGE("two-body orbit at t = 1: position error " << pos_error << ", velocity error "
                                                     << vel_error);
  CHECK(pos_error < kOrbitStateTolerance);
  CHECK(vel_error < kOrbitStateTolerance);
}

TEST_CASE("positions, velocities and energies equal a plain leapfrog written here") {
  // Kick-drift-kick exactly as documented, one body at a time, in plain double arithmetic.
  const double G = 0.7, eps = 0.05, dt = 2e-3;
  const std::int64_t steps = 9;
  for (int n : {1, 2, 37, 100}) {  // 37: not a multiple of the SIMD width or the block of 4
    CAPTURE(n);
    Bodies b = random_bodies(n, 17 + static_cast<unsigned>(n));
    auto call =
        run_call(nbody(), {{"pos", ConstArrayView{b.pos.data(), DType::Float64, {b.n(), 3}}},
                           {"vel", ConstArrayView{b.vel.data(), DType::Float64, {b.n(), 3}}},
                           {"mass", ConstArrayView{b.mass.data(), DType::Float64, {b.n()}}},
                           {"G", G},
                           {"eps", eps},
                           {"dt", dt},
                           {"steps", steps}});
    Bodies r = b;
    auto accelerations = [&](const Bodies& x) {
      std::vector<double> a(x.pos.size(), 0.0);
      for (std::int64_t i = 0; i < x.n(); ++i)
        for (std::int64_t j = 0; j < x.n(); ++j) {
          if (i == j) continue;
          double d[3], r2 = eps * eps;
          for (int c = 0; c < 3; ++c) {
            d[c] = x.pos[3 * j + c] - x.pos[3 * i + c];
            r2 += d[c] * d[c];
          }
          const double s = G * x.mass[j] / (r2 * std::sqrt(r2));
          for (int c = 0; c < 3; ++c) a[3 * i + c] += s * d[c];
        }
      return a;
    };
    std::vector<double> energy = {direct_energy(r, G, eps)};
    auto a = accelerations(r);
    for (std::int64_t s = 0; s < steps; ++s) {
      for (std::size_t k = 0; k < r.vel.size(); ++k) r.vel[k] += 0.5 * dt * a[k];
      for (std::size_t k = 0; k < r.pos.size(); ++k) r.pos[k] += dt * r.vel[k];
      a = accelerations(r);
      for (std::size_t k = 0; k < r.vel.size(); ++k) r.vel[k] += 0.5 * dt * a[k];
      energy.push_back(direct_energy(r, G, eps));
    }
    auto relative = [](const std::vector<double>& got, const std::vector<double>& want) {
      REQUIRE(got.size() == want.size());
      double diff = 0, scale = 0;
      for (std::size_t k = 0; k < got.size(); ++k) {
        diff = std::max(diff, std::abs(got[k] - want[k]));
        scale = std::max(scale, std::abs(want[k]));
      }
      return diff / scale;
    };
    const double pos_error = relative(copy_of(*call, "pos"), r.pos);
    const double vel_error = relative(copy_of(*call, "vel"), r.vel);
    const double energy_error = relative(copy_of(*call, "energy"), energy);
    MESSAGE("n = " << n << ": relative differences pos " << pos_error << ", vel " << vel_error
                   << ", energy " << energy_error);
    CHECK(pos_error < kLeapfrogReferenceTolerance);
    CHECK(vel_error < kLeapfrogReferenceTolerance);
    CHECK(energy_error < kLeapfrogEnergyTolerance);
  }
}

TEST_CASE("total momentum is conserved to rounding") {
  Bodies b = random_bodies(257, 3);
  double p0[3] = {0, 0, 0}, scale = 0;
  for (std::int64_t i = 0; i < b.n(); ++i)
    for (int d = 0; d < 3; ++d) {
      p0[d] += b.mass[i] * b.vel[3 * i + d];
      scale += std::abs(b.mass[i] * b.vel[3 * i + d]);
    }
  auto call = evolve(b, 1e-3, 50);
  const auto p = copy_of(*call, "momentum");
  for (int d = 0; d < 3; ++d) CHECK(std::abs(p[d] - p0[d]) < kRoundingTolerance * scale);
}

TEST_CASE("results are bit-identical at 1, 2, 3 and 16 threads") {
  Bodies b = random_bodies(333, 11);  // not a multiple of the SIMD width or chunk size
  set_threads(1);
  auto reference = evolve(b, 1e-3, 7);
  for (int n : {2, 3, 16}) {
    SUBCASE(("threads = " + std::to_string(n)).c_str()) {
      set_threads(n);
      auto call = evolve(b, 1e-3, 7);
      for (const char* out : {"pos", "vel", "energy", "momentum"}) {
        CAPTURE(out);
        CHECK(copy_of(*call, out) == copy_of(*reference, out));
      }
    }
  }
}

TEST_CASE("a large nbody call stops within half a second of cancellation") {
  set_threads(2);
  Bodies b = random_bodies(20000, 5);
  auto call =
      prepare_call(nbody(), {{"pos", ConstArrayView{b.pos.data(), DType::Float64, {b.n(), 3}}},
                             {"vel", ConstArrayView{b.vel.data(), DType::Float64, {b.n(), 3}}},
                             {"mass", ConstArrayView{b.mass.data(), DType::Float64, {b.n()}}},
                             {"dt", 1e-3},
                             {"steps", std::int64_t{1000}}});
  testing::check_stops_promptly_when_cancelled(call);
}

TEST_CASE("coinciding bodies without softening fail with a KernelError that says why") {
  Bodies b{{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {1, 1}};
  CHECK_THROWS_WITH_AS(evolve(b, 1e-3, 1, 0.0), doctest::Contains("nbody(): the energy became"),
                       KernelError);
}
