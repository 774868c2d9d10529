// ode_batch against exact solutions, conservation laws, an independent scalar rk4 written here,
// its own save grid, and bit-identity across thread counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>
#include <thread>

#include "cancel_check.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"

using namespace simhost;

namespace {

// rk4's global error goes as dt^4: halving dt divides it by 16 = 2^4.
constexpr double kOrderTolerance = 0.3;
// S + I + R is a sum of three rounded components: its relative drift stays at rounding level.
constexpr double kConservationTolerance = 1e-13;
// rk4's drift of the Lotka-Volterra invariant, measured as 1.3e-3 dt^4 T on these orbits
// (T the run time); the bound leaves a factor ~4.
constexpr double kLvDriftPerDt4T = 5e-3;
// dopri5 controls the local error per step; the global error may exceed rtol by the number
// of error-accumulating steps, ~10x here.
constexpr double kDopri5GlobalFactor = 10.0;
// An independent scalar rk4 (no fused multiply-adds) agrees with the kernel to rounding
// amplified by a short, mildly chaotic run.
constexpr double kReferenceTolerance = 1e-11;
// The same scalar rk4 for every system and every row, relative to the row's largest |y0|
// component: fused vs separate multiply-adds, measured 2.4e-15 (Lorenz, t = 1, mildly
// chaotic) and <= 7.5e-16 for the other three systems.
constexpr double kEverySystemReferenceTolerance = 2e-14;
// SIR's exact invariant S(t) = S0 exp(-(beta/gamma)(R(t) - R0)/N), relative to N: rk4's
// error at dt = 0.1 over t = 200, measured 4.4e-9; dopri5 at rtol 1e-10, measured 1.8e-11.
constexpr double kSirInvariantRk4Tolerance = 2e-8;
constexpr double kSirInvariantDopri5Tolerance = 1e-10;

const KernelDef& ode() {
  static Registry registry;
  static const bool added = (add_builtin_kernels(registry), true);
  (void)added;
  return registry.get("ode_batch");
}

using Given = std::vector<std::pair<std::string, Value>>;

struct Solution {
  std::vector<double> y, t, trajectory;
};

ConstArrayView rows(std::vector<double>& v, std::int64_t width) {
  return ConstArrayView{
      v.data(), DType::Float64, {static_cast<std::int64_t>(v.size()) / width, width}};
}

Solution solve(Given given) {
  auto call = run_call(ode(), std::move(given));
  auto copy = [&](const char* name) {
    auto v = call->output(name).array.as<double>();
    return std::vector<double>(v.begin(), v.end());
  };
  return {copy("y"), copy("t"), copy("trajectory")};
}

// Exact harmonic oscillator: x = x0 cos(wt) + v0/w sin(wt), v = dx/dt.
void harmonic_exact(double x0, double v0, double w, double t, double* out) {
  out[0] = x0 * std::cos(w * t) + v0 / w * std::sin(w * t);
  out[1] = -x0 * w * std::sin(w * t) + v0 * std::cos(w * t);
}

// Largest |error| over all frames and systems of a harmonic trajectory, relative to the
// amplitude of each system.
double harmonic_error(const Solution& s, const std::vector<double>& y0, double w) {
  const std::size_t m = y0.size() / 2;
  double worst = 0;
  for (std::size_t k = 0; k < s.t.size(); ++k)
    for (std::size_t i = 0; i < m; ++i) {
      double want[2];
      harmonic_exact(y0[2 * i], y0[2 * i + 1], w, s.t[k], want);
      const double amp = std::hypot(y0[2 * i], y0[2 * i + 1] / w);
      for (int c = 0; c < 2; ++c)
        worst = std::max(
            worst, std::abs(s.trajectory[(k * m + i) * 2 + c] - want[c]) / (amp * (c ? w : 1)));
    }
  return worst;
}

std::vector<double> lorenz_states(int m, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> xy(-15, 15), z(5, 40);
  std::vector<double> y;
  for (int i = 0; i < m; ++i) y.insert(y.end(), {xy(rng), xy(rng), z(rng)});
  return y;
}

// A sweep of rho (sigma and beta fixed), one row per system.
std::vector<double> lorenz_sweep(int m) {
  std::vector<double> p;
  for (int i = 0; i < m; ++i) p.insert(p.end(), {10.0, 0.5 + 0.3 * i, 8.0 / 3.0});
  return p;
}

}  // namespace

TEST_CASE("rk4 on the harmonic oscillator matches cos and sin with fourth-order convergence") {
  const double w = 2.0, T = 10.0;
  std::vector<double> y0 = {1.0, 0.0, 0.3, -1.2, -2.0, 0.5};
  auto error_at = [&](double dt) {
    const auto steps = static_cast<std::int64_t>(std::lround(T / dt));
    return harmonic_error(solve({{"system", std::string("harmonic")},
                                 {"y0", rows(y0, 2)},
                                 {"omega", w},
                                 {"dt", dt},
                                 {"steps", steps},
                                 {"save_every", std::int64_t{1}}}),
                          y0, w);
  };
  const double coarse = error_at(0.02), fine = error_at(0.01);
  const double order = std::log2(coarse / fine);
  CAPTURE(coarse);
  CAPTURE(fine);
  CHECK(coarse < 1e-5);  // (w dt)^4 w T / 120 ~ 4e-6
  CHECK(order == doctest::Approx(4.0).epsilon(kOrderTolerance / 4.0));
}

TEST_CASE("dopri5 meets its tolerance on the harmonic oscillator, tighter for smaller rtol") {
  const double w = 1.5;
  std::vector<double> y0 = {1.0, 0.0, 0.3, -1.2, -2.0, 0.5};
  double previous = 1.0;
  for (double rtol : {1e-5, 1e-7, 1e-9}) {
    CAPTURE(rtol);
    const Solution s = solve({{"system", std::string("harmonic")},
                              {"y0", rows(y0, 2)},
                              {"omega", w},
                              {"dt", 0.25},
                              {"steps", std::int64_t{80}},
                              {"save_every", std::int64_t{2}},
                              {"method", std::string("dopri5")},
                              {"rtol", rtol},
                              {"atol", rtol * 1e-3}});
    const double err = harmonic_error(s, y0, w);
    CAPTURE(err);
    CHECK(err <= kDopri5GlobalFactor * rtol);
    CHECK(err < previous);
    previous = err;
  }
}

namespace {

// m SIR systems (y0 rows S, I, R; p rows beta, gamma), alternately as fractions and head
// counts, drawn from `seed`.
std::pair<std::vector<double>, std::vector<double>> sir_batch(int m, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> y0, p;
  for (int i = 0; i < m; ++i) {
    const double scale = i % 2 ? 1.0 : 1e6;
    y0.insert(y0.end(), {scale * (0.5 + 0.5 * u(rng)), scale * 0.1 * u(rng), scale * 0.3 * u(rng)});
    p.insert(p.end(), {0.1 + u(rng), 0.05 + 0.5 * u(rng)});
  }
  return {y0, p};
}

}  // namespace

TEST_CASE("SIR conserves S + I + R to rounding with either method") {
  const int m = 37;
  auto [y0, p] = sir_batch(m, 4);  // rows() views them
  for (const char* method : {"rk4", "dopri5"}) {
    CAPTURE(method);
    const Solution s = solve({{"system", std::string("sir")},
                              {"y0", rows(y0, 3)},
                              {"p", rows(p, 2)},
                              {"dt", 0.1},
                              {"steps", std::int64_t{2000}},
                              {"save_every", std::int64_t{10}},
                              {"method", std::string(method)}});
    double worst = 0;
    for (std::size_t k = 0; k < s.t.size(); ++k)
      for (int i = 0; i < m; ++i) {
        const double* y = &s.trajectory[(k * m + static_cast<std::size_t>(i)) * 3];
        const double n0 = y0[3 * i] + y0[3 * i + 1] + y0[3 * i + 2];
        worst = std::max(worst, std::abs((y[0] + y[1] + y[2]) - n0) / n0);
      }
    CAPTURE(worst);
    CHECK(worst < kConservationTolerance);
    // The epidemic has run its course: few infected remain at t = 200 for these rates.
    CHECK(s.y[1] < 1e-3 * (s.y[0] + s.y[1] + s.y[2]));
  }
}

TEST_CASE("SIR keeps its exact invariant S exp((beta/gamma) R / N) in every system") {
  // dS/dR = -(beta/gamma) S / N with N constant, so S exp((beta/gamma) R / N) is constant:
  // a right-hand side whose terms merely cancel (S + I + R) does not keep it.
  const int m = 37;
  auto [y0, p] = sir_batch(m, 6);  // rows() views them
  for (const char* method : {"rk4", "dopri5"}) {
    CAPTURE(method);
    const Solution s = solve({{"system", std::string("sir")},
                              {"y0", rows(y0, 3)},
                              {"p", rows(p, 2)},
                              {"dt", 0.1},
                              {"steps", std::int64_t{2000}},
                              {"save_every", std::int64_t{10}},
                              {"method", std::string(method)},
                              {"rtol", 1e-10},
                              {"atol", 1e-12}});
    double worst = 0, moved = 0;
    for (std::size_t k = 0; k < s.t.size(); ++k)
      for (int i = 0; i < m; ++i) {
        const double* y = &s.trajectory[(k * m + static_cast<std::size_t>(i)) * 3];
        const double* start = &y0[3 * static_cast<std::size_t>(i)];
        const double n = start[0] + start[1] + start[2];
        const double ratio = p[2 * i] / p[2 * i + 1];
        const double want = start[0] * std::exp(-ratio * (y[2] - start[2]) / n);
        worst = std::max(worst, std::abs(y[0] - want) / n);
        moved = std::max(moved, std::abs(y[0] - start[0]) / n);
      }
    MESSAGE(std::string(method) << ": SIR invariant error " << worst << " (S moved by up to "
                                << moved << " of N)");
    CHECK(worst < (std::string(method) == "rk4" ? kSirInvariantRk4Tolerance
                                                : kSirInvariantDopri5Tolerance));
    CHECK(moved > 0.1);  // the epidemic happened: the check is not of a standing state
  }
}

TEST_CASE("rk4 equals an independent scalar rk4 for every system and every row") {
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> u(0, 1);
  const int m = 45;  // one full rk4 tile of 32 and a ragged one
  const double dt = 0.005;
  const std::int64_t steps = 200;
  struct Case {
    const char* system;
    int d, np;
    std::function<void(const double*, const double*, double*)> f;  // (p, y, dy/dt)
    std::function<double()> state, param;
  };
  const std::vector<Case> cases = {
      {"lorenz", 3, 3,
       [](const double* c, const double* y, double* f) {
         f[0] = c[0] * (y[1] - y[0]);
         f[1] = y[0] * (c[1] - y[2]) - y[1];
         f[2] = y[0] * y[1] - c[2] * y[2];
       },
       [&] { return -15 + 30 * u(rng); }, [&] { return 1 + 30 * u(rng); }},
      {"harmonic", 2, 1,
       [](const double* c, const double* y, double* f) {
         f[0] = y[1];
         f[1] = -(c[0] * c[0]) * y[0];
       },
       [&] { return -2 + 4 * u(rng); }, [&] { return 0.2 + 3 * u(rng); }},
      {"sir", 3, 2,
       [](const double* c, const double* y, double* f) {
         const double n = y[0] + y[1] + y[2], infection = c[0] * y[0] * y[1] / n;
         f[0] = -infection;
         f[1] = infection - c[1] * y[1];
         f[2] = c[1] * y[1];
       },
       [&] { return 0.05 + u(rng); }, [&] { return 0.05 + 2 * u(rng); }},
      {"lotka_volterra", 2, 4,
       [](const double* c, const double* y, double* f) {
         f[0] = y[0] * (c[0] - c[1] * y[1]);
         f[1] = y[1] * (c[3] * y[0] - c[2]);
       },
       [&] { return 0.2 + 2 * u(rng); }, [&] { return 0.3 + u(rng); }},
  };
  for (const Case& c : cases) {
    const std::string system = c.system;
    CAPTURE(system);
    std::vector<double> y0, p;
    for (int i = 0; i < m * c.d; ++i) y0.push_back(c.state());
    for (int i = 0; i < m * c.np; ++i) p.push_back(c.param());
    const Solution s = solve({{"system", std::string(c.system)},
                              {"y0", rows(y0, c.d)},
                              {"p", rows(p, c.np)},
                              {"dt", dt},
                              {"steps", steps},
                              {"save_every", std::int64_t{50}}});
    REQUIRE(s.t.size() == 5);
    double worst = 0;
    for (int i = 0; i < m; ++i) {
      const double* pi = &p[static_cast<std::size_t>(i * c.np)];
      std::vector<double> y(y0.begin() + i * c.d, y0.begin() + (i + 1) * c.d);
      std::vector<double> k1(c.d), k2(c.d), k3(c.d), k4(c.d), tmp(c.d);
      double scale = 0;
      for (double v : y) scale = std::max(scale, std::abs(v));
      auto compare = [&](const double* got) {
        for (int j = 0; j < c.d; ++j) worst = std::max(worst, std::abs(got[j] - y[j]) / scale);
      };
      for (std::int64_t n = 0; n < steps; ++n) {
        if (n % 50 == 0) compare(&s.trajectory[(static_cast<std::size_t>(n / 50) * m + i) * c.d]);
        c.f(pi, y.data(), k1.data());
        for (int j = 0; j < c.d; ++j) tmp[j] = y[j] + 0.5 * dt * k1[j];
        c.f(pi, tmp.data(), k2.data());
        for (int j = 0; j < c.d; ++j) tmp[j] = y[j] + 0.5 * dt * k2[j];
        c.f(pi, tmp.data(), k3.data());
        for (int j = 0; j < c.d; ++j) tmp[j] = y[j] + dt * k3[j];
        c.f(pi, tmp.data(), k4.data());
        for (int j = 0; j < c.d; ++j) y[j] += dt / 6.0 * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]);
      }
      compare(&s.y[static_cast<std::size_t>(i * c.d)]);
    }
    MESSAGE(system << ": largest difference from the scalar rk4 " << worst);
    CHECK(worst < kEverySystemReferenceTolerance);
  }
}

TEST_CASE("Lotka-Volterra keeps its invariant to rk4's dt^4 accuracy and to dopri5's tolerance") {
  const double alpha = 2.0 / 3.0, beta = 4.0 / 3.0, gamma = 1.0, delta = 1.0, T = 20.0;
  std::vector<double> y0 = {1.0, 0.5, 2.0, 1.0, 0.5, 0.2};
  auto invariant = [&](const double* y) {
    return delta * y[0] - gamma * std::log(y[0]) + beta * y[1] - alpha * std::log(y[1]);
  };
  auto drift = [&](const Solution& s) {
    double worst = 0;
    for (std::size_t k = 0; k < s.t.size(); ++k)
      for (std::size_t i = 0; i < 3; ++i)
        worst = std::max(
            worst, std::abs(invariant(&s.trajectory[(k * 3 + i) * 2]) - invariant(&y0[2 * i])));
    return worst;
  };
  auto run = [&](double dt, const char* method, double rtol) {
    return solve({{"system", std::string("lotka_volterra")},
                  {"y0", rows(y0, 2)},
                  {"dt", dt},
                  {"steps", static_cast<std::int64_t>(std::lround(T / dt))},
                  {"save_every", std::int64_t{1}},
                  {"method", std::string(method)},
                  {"rtol", rtol},
                  {"atol", rtol * 1e-3}});
  };
  for (double dt : {0.1, 0.05, 0.025}) {
    CAPTURE(dt);
    const double d = drift(run(dt, "rk4", 1e-8));
    CAPTURE(d);
    CHECK(d < kLvDriftPerDt4T * std::pow(dt, 4) * T);
    CHECK(d > 0.1 * kLvDriftPerDt4T * std::pow(dt, 4) * T);  // it is rk4's error, not luck
  }
  for (double rtol : {1e-6, 1e-9}) {
    CAPTURE(rtol);
    CHECK(drift(run(0.1, "dopri5", rtol)) < kDopri5GlobalFactor * rtol);
  }
}

TEST_CASE("rk4 agrees with an independent scalar implementation on a rho sweep, ragged tiles") {
  const int m = 45;  // one full tile of 32 and a ragged one
  std::vector<double> y0 = lorenz_states(m, 9), p = lorenz_sweep(m);
  const double dt = 0.005;
  const std::int64_t steps = 200;
  const Solution s = solve({{"system", std::string("lorenz")},
                            {"y0", rows(y0, 3)},
                            {"p", rows(p, 3)},
                            {"dt", dt},
                            {"steps", steps}});
  for (int i = 0; i < m; ++i) {
    const double sigma = p[3 * i], rho = p[3 * i + 1], beta = p[3 * i + 2];
    auto f = [&](const double* y, double* out) {
      out[0] = sigma * (y[1] - y[0]);
      out[1] = y[0] * (rho - y[2]) - y[1];
      out[2] = y[0] * y[1] - beta * y[2];
    };
    double y[3] = {y0[3 * i], y0[3 * i + 1], y0[3 * i + 2]}, k1[3], k2[3], k3[3], k4[3], tmp[3];
    for (std::int64_t n = 0; n < steps; ++n) {
      f(y, k1);
      for (int c = 0; c < 3; ++c) tmp[c] = y[c] + 0.5 * dt * k1[c];
      f(tmp, k2);
      for (int c = 0; c < 3; ++c) tmp[c] = y[c] + 0.5 * dt * k2[c];
      f(tmp, k3);
      for (int c = 0; c < 3; ++c) tmp[c] = y[c] + dt * k3[c];
      f(tmp, k4);
      for (int c = 0; c < 3; ++c) y[c] += dt / 6.0 * (k1[c] + 2 * k2[c] + 2 * k3[c] + k4[c]);
    }
    for (int c = 0; c < 3; ++c) {
      CAPTURE(i);
      CHECK(s.y[3 * i + c] == doctest::Approx(y[c]).epsilon(kReferenceTolerance).scale(40.0));
    }
  }
}

TEST_CASE("omitted parameters take the documented defaults; scalars equal a constant p") {
  std::vector<double> y0 = lorenz_states(11, 2);
  Given base = {{"system", std::string("lorenz")},
                {"y0", rows(y0, 3)},
                {"dt", 0.01},
                {"steps", std::int64_t{300}}};
  const Solution defaults = solve(base);
  Given named = base;
  named.insert(named.end(), {{"sigma", 10.0}, {"rho", 28.0}, {"beta", 8.0 / 3.0}});
  CHECK(solve(named).y == defaults.y);
  std::vector<double> p;
  for (int i = 0; i < 11; ++i) p.insert(p.end(), {10.0, 28.0, 8.0 / 3.0});
  Given per_system = base;
  per_system.emplace_back("p", rows(p, 3));
  CHECK(solve(per_system).y == defaults.y);
  // And a changed scalar changes the result.
  Given other = base;
  other.emplace_back("rho", 99.96);
  CHECK(solve(other).y != defaults.y);
}

TEST_CASE("the saved trajectory is the state on the output grid, and steps = 0 returns y0") {
  std::vector<double> y0 = lorenz_states(19, 5);
  for (const char* method : {"rk4", "dopri5"}) {
    CAPTURE(method);
    Given common = {{"system", std::string("lorenz")},
                    {"y0", rows(y0, 3)},
                    {"dt", 0.01},
                    {"t0", 2.5},
                    {"method", std::string(method)}};
    Given long_run = common, short_run = common;
    long_run.insert(long_run.end(), {{"steps", std::int64_t{23}}, {"save_every", std::int64_t{5}}});
    short_run.insert(short_run.end(),
                     {{"steps", std::int64_t{10}}, {"save_every", std::int64_t{5}}});
    const Solution a = solve(long_run), b = solve(short_run);
    REQUIRE(a.t.size() == 5);  // 23 // 5 + 1
    REQUIRE(a.trajectory.size() == 5 * 19 * 3);
    for (std::size_t k = 0; k < 5; ++k) CHECK(a.t[k] == 2.5 + static_cast<double>(5 * k) * 0.01);
    CHECK(std::equal(y0.begin(), y0.end(), a.trajectory.begin()));
    // Frame 2 (t0 + 10 dt) is the final state of the 10-step run, bit for bit.
    CHECK(std::equal(b.y.begin(), b.y.end(), a.trajectory.begin() + 2 * 19 * 3));

    Given none = common;
    none.insert(none.end(), {{"steps", std::int64_t{0}}, {"save_every", std::int64_t{3}}});
    const Solution z = solve(none);
    CHECK(z.y == y0);
    CHECK(z.t == std::vector<double>{2.5});
    CHECK(z.trajectory == y0);
  }
  Given no_save = {{"system", std::string("lorenz")},
                   {"y0", rows(y0, 3)},
                   {"dt", 0.01},
                   {"steps", std::int64_t{7}}};
  const Solution n = solve(no_save);
  CHECK(n.t.empty());
  CHECK(n.trajectory.empty());
}

TEST_CASE("results are bit-identical at 1, 2, 3 and 16 threads") {
  const int m = 333;  // not a multiple of the tile sizes
  std::vector<double> y0 = lorenz_states(m, 11), p = lorenz_sweep(m);
  auto run = [&](const char* method) {
    return solve({{"system", std::string("lorenz")},
                  {"y0", rows(y0, 3)},
                  {"p", rows(p, 3)},
                  {"dt", 0.01},
                  {"steps", std::int64_t{400}},
                  {"save_every", std::int64_t{50}},
                  {"method", std::string(method)},
                  {"rtol", 1e-7}});
  };
  set_threads(1);
  const Solution rk4 = run("rk4"), dopri5 = run("dopri5");
  for (int n : {2, 3, 16}) {
    SUBCASE(("threads = " + std::to_string(n)).c_str()) {
      set_threads(n);
      const Solution a = run("rk4"), b = run("dopri5");
      CHECK(a.y == rk4.y);
      CHECK(a.trajectory == rk4.trajectory);
      CHECK(b.y == dopri5.y);
      CHECK(b.trajectory == dopri5.trajectory);
    }
  }
}

TEST_CASE("progress counts system-steps and ends at M * steps") {
  std::vector<double> y0 = lorenz_states(50, 3);
  for (const char* method : {"rk4", "dopri5"}) {
    auto call = run_call(ode(), {{"system", std::string("lorenz")},
                                 {"y0", rows(y0, 3)},
                                 {"dt", 0.01},
                                 {"steps", std::int64_t{5000}},
                                 {"method", std::string(method)}});
    CHECK(call->progress().total() == 50 * 5000);
    CHECK(call->progress().done() == 50 * 5000);
  }
  CHECK(ode().progress_unit == "system-steps");
}

TEST_CASE("a diverging system raises a KernelError naming the lowest failing system") {
  // With beta < 0 both populations feed each other: x' ~ y' ~ x y blows up in finite time.
  std::vector<double> y0 = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
  std::vector<double> p = {0.5, 1.0, 1.0, 1.0, 0.5, -1.0, 1.0, 1.0, 0.5, -2.0, 1.0, 1.0};
  for (const char* method : {"rk4", "dopri5"}) {
    CAPTURE(method);
    CHECK_THROWS_WITH_AS(solve({{"system", std::string("lotka_volterra")},
                                {"y0", rows(y0, 2)},
                                {"p", rows(p, 4)},
                                {"dt", 0.1},
                                {"steps", std::int64_t{100}},
                                {"method", std::string(method)}}),
                         doctest::Contains("system 1 "), KernelError);
  }
}

TEST_CASE("inputs that do not fit the system are refused before the run, saying why") {
  std::vector<double> y2 = {1.0, 0.0, 0.5, 0.5};
  std::vector<double> y3 = {1.0, 0.0, 0.0, 0.5, 0.5, 0.5};
  std::vector<double> p2 = {10.0, 28.0, 8.0, 1.0};
  Given lorenz_y2 = {{"system", std::string("lorenz")},
                     {"y0", rows(y2, 2)},
                     {"dt", 0.1},
                     {"steps", std::int64_t{1}}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), lorenz_y2),
                       "ode_batch(): parameter 'y0' expects shape (M, 3) for system 'lorenz' "
                       "(state 'x', 'y' and 'z'), got (2, 2)",
                       ArgumentValueError);
  Given lorenz_p2 = {{"system", std::string("lorenz")},
                     {"y0", rows(y3, 3)},
                     {"dt", 0.1},
                     {"steps", std::int64_t{1}},
                     {"p", rows(p2, 2)}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), lorenz_p2),
                       "ode_batch(): parameter 'p' expects shape (M, 3) for system 'lorenz' "
                       "(columns 'sigma', 'rho', 'beta'), got (2, 2)",
                       ArgumentValueError);
  Given omega_on_lorenz = {{"system", std::string("lorenz")},
                           {"y0", rows(y3, 3)},
                           {"dt", 0.1},
                           {"steps", std::int64_t{1}},
                           {"omega", 2.0}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), omega_on_lorenz),
                       "ode_batch(): parameter 'omega' does not apply to system 'lorenz', whose "
                       "parameters are 'sigma', 'rho' and 'beta'",
                       ArgumentValueError);
  std::vector<double> p3 = {10.0, 28.0, 2.0, 10.0, 28.0, 2.0};
  Given both = {{"system", std::string("lorenz")}, {"y0", rows(y3, 3)}, {"dt", 0.1},
                {"steps", std::int64_t{1}},        {"p", rows(p3, 3)},  {"rho", 2.0}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), both), doctest::Contains("not both (got 'p' and 'rho')"),
                       ArgumentValueError);
  std::vector<double> empty_sir = {0.0, 0.0, 0.0, 1.0, 0.0, 0.0};
  Given sir = {{"system", std::string("sir")},
               {"y0", rows(empty_sir, 3)},
               {"dt", 0.1},
               {"steps", std::int64_t{1}}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), sir), doctest::Contains("row 0 has N = 0.0"),
                       ArgumentValueError);
  Given typo = {{"system", std::string("lorenze")},
                {"y0", rows(y3, 3)},
                {"dt", 0.1},
                {"steps", std::int64_t{1}}};
  CHECK_THROWS_WITH_AS(prepare_call(ode(), typo), doctest::Contains("did you mean 'lorenz'?"),
                       ArgumentValueError);
}

TEST_CASE("a large ode_batch call stops within half a second of cancellation") {
  set_threads(2);
  for (const char* method : {"rk4", "dopri5"}) {
    CAPTURE(method);
    std::vector<double> y0 = lorenz_states(20000, 1);
    auto call = prepare_call(ode(), {{"system", std::string("lorenz")},
                                     {"y0", rows(y0, 3)},
                                     {"dt", 0.01},
                                     {"steps", std::int64_t{1000000}},
                                     {"method", std::string(method)}});
    testing::check_stops_promptly_when_cancelled(call);
  }
}
