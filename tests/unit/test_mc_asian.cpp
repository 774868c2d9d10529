// mc_asian against closed forms (Black-Scholes, the discrete geometric-average call), an
// independent path-by-path recomputation, variance-reduction theory, bad inputs and
// bit-identity across thread counts.
#include <Random123/philox.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "cancel_check.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"
#include "simhost/random.hpp"

using namespace simhost;

namespace {

constexpr double kStderrs = 4;  // Monte Carlo estimates vs exact values
// Kernel vs the path-by-path recomputation from libm normals and a running product of exps
// (the kernel: polynomial log/cos/sin, exp of the running log-price): rounding that grows with
// the number of steps, measured 2.7e-15 at 37 steps and 1.8e-14 at 1030 (relative, or
// absolute below 1).
constexpr double kRecomputeTolerance = 1e-13;
constexpr double kMinStderrReduction = 20;   // control variate, at the money, 64 dates
constexpr double kVarianceTolerance = 0.05;  // sample vs exact variance (relative)

struct Option {
  double S0 = 100, K = 100, r = 0.05, sigma = 0.2, T = 1;
  std::int64_t steps = 64;
};

struct Estimate {
  double price, stderr, european, european_stderr, geometric, geometric_stderr;
};

const KernelDef& mc_asian() {
  static Registry registry;
  static const bool added = (add_builtin_kernels(registry), true);
  (void)added;
  return registry.get("mc_asian");
}

std::vector<std::pair<std::string, Value>> inputs(const Option& o, std::int64_t paths,
                                                  std::int64_t seed, bool antithetic,
                                                  bool control_variate) {
  return {{"S0", o.S0},
          {"K", o.K},
          {"r", o.r},
          {"sigma", o.sigma},
          {"T", o.T},
          {"steps", o.steps},
          {"paths", paths},
          {"seed", seed},
          {"antithetic", antithetic},
          {"control_variate", control_variate}};
}

Estimate price(const Option& o, std::int64_t paths, std::int64_t seed = 1, bool antithetic = false,
               bool control_variate = false) {
  auto call = run_call(mc_asian(), inputs(o, paths, seed, antithetic, control_variate));
  auto get = [&](const char* name) { return call->output(name).scalar; };
  return {get("price"),           get("stderr"),    get("european"),
          get("european_stderr"), get("geometric"), get("geometric_stderr")};
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double black_scholes_call(const Option& o) {
  const double sd = o.sigma * std::sqrt(o.T);
  const double d1 = (std::log(o.S0 / o.K) + (o.r + 0.5 * o.sigma * o.sigma) * o.T) / sd;
  return o.S0 * normal_cdf(d1) - o.K * std::exp(-o.r * o.T) * normal_cdf(d1 - sd);
}

// The discrete geometric-average call (Kemna & Vorst 1990 for the continuous average;
// Glasserman 2004, Sec. 4.1 for dates t_k = k T/n, k = 1..n). ln G = (1/n) sum_k ln S(t_k) is
// normal, mean M = ln S0 + (r - sigma^2/2) (1/n) sum_k t_k and variance
// V = (sigma/n)^2 sum_j sum_k min(t_j, t_k); then e^{-rT} E(G - K)^+ =
// e^{-rT} (e^{M + V/2} N(d1) - K N(d2)), d2 = (M - ln K)/sqrt(V), d1 = d2 + sqrt(V).
// The sums are done term by term here; the kernel uses their closed forms
// (1/n) sum t_k = T (n+1)/(2n) and sum sum min = T n (n+1)(2n+1)/6.
double geometric_asian_call(const Option& o) {
  const auto n = static_cast<double>(o.steps);
  const double dt = o.T / n;
  double sum_t = 0, sum_min = 0;
  for (std::int64_t j = 1; j <= o.steps; ++j) {
    sum_t += static_cast<double>(j) * dt;
    for (std::int64_t k = 1; k <= o.steps; ++k) sum_min += static_cast<double>(std::min(j, k)) * dt;
  }
  const double M = std::log(o.S0) + (o.r - 0.5 * o.sigma * o.sigma) * sum_t / n;
  const double V = o.sigma * o.sigma * sum_min / (n * n);
  const double d2 = (M - std::log(o.K)) / std::sqrt(V), d1 = d2 + std::sqrt(V);
  return std::exp(-o.r * o.T) * (std::exp(M + 0.5 * V) * normal_cdf(d1) - o.K * normal_cdf(d2));
}

// Variate k of stream p keyed by seed, rebuilt here from Random123's raw Philox4x32-10 words
// and libm, following the mapping documented in random.hpp and docs/kernels/mc_asian.md
// (nothing of the kernel's generator is used): counter (k/2 low, k/2 high, p low, p high),
// key (seed low, seed high); words (w1:w0) and (w3:w2) give u_a and u_b, the midpoints of
// cells of 2^-52 from their top 52 bits; z = sqrt(-2 ln u_a) cos(2 pi u_b), sin for odd k.
std::vector<double> documented_normals(std::uint64_t seed, std::uint64_t stream, std::size_t n) {
  std::vector<double> z(n);
  const r123::Philox4x32::key_type key{
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint64_t block = k / 2;
    const r123::Philox4x32::ctr_type ctr{
        {static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
         static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
    const auto w = r123::Philox4x32()(ctr, key);
    auto unit = [](std::uint32_t lo, std::uint32_t hi) {
      const std::uint64_t word = (static_cast<std::uint64_t>(hi) << 32) | lo;
      return (static_cast<double>(word >> 12) + 0.5) * 0x1.0p-52;
    };
    const double ua = unit(w.v[0], w.v[1]), ub = unit(w.v[2], w.v[3]);
    const double radius = std::sqrt(-2.0 * std::log(ua));
    const double angle = 2.0 * std::numbers::pi * ub;
    z[k] = radius * (k % 2 == 0 ? std::cos(angle) : std::sin(angle));
  }
  return z;
}

// The discounted payoffs of `paths` paths (or paths/2 antithetic pairs) recomputed one step
// at a time with std::exp from the documented normals: variate k of stream p.
struct Samples {
  std::vector<double> asian, geometric, european;
};

Samples recompute(const Option& o, std::int64_t paths, std::uint64_t seed, bool antithetic) {
  Samples s;
  const double dt = o.T / static_cast<double>(o.steps);
  const double drift = (o.r - 0.5 * o.sigma * o.sigma) * dt, vol = o.sigma * std::sqrt(dt);
  const double disc = std::exp(-o.r * o.T);
  const std::int64_t samples = antithetic ? paths / 2 : paths;
  for (std::int64_t p = 0; p < samples; ++p) {
    const std::vector<double> z =
        documented_normals(seed, static_cast<std::uint64_t>(p), static_cast<std::size_t>(o.steps));
    double a = 0, g = 0, e = 0;
    for (double sign : {1.0, -1.0}) {
      double S = o.S0, sum = 0, sum_log = 0;
      for (double zk : z) {
        S *= std::exp(drift + sign * vol * zk);
        sum += S;
        sum_log += std::log(S);
      }
      const double w = antithetic ? 0.5 : 1.0;
      a += w * disc * std::max(sum / static_cast<double>(o.steps) - o.K, 0.0);
      g += w * disc * std::max(std::exp(sum_log / static_cast<double>(o.steps)) - o.K, 0.0);
      e += w * disc * std::max(S - o.K, 0.0);
      if (!antithetic) break;
    }
    s.asian.push_back(a);
    s.geometric.push_back(g);
    s.european.push_back(e);
  }
  return s;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

double standard_error(const std::vector<double>& v) {
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  const auto n = static_cast<double>(v.size());
  return std::sqrt(ss / (n - 1) / n);
}

double relative_to_one(double got, double want) {
  return std::abs(got - want) / std::max(1.0, std::abs(want));
}

bool close(double got, double want, double tolerance) {
  return relative_to_one(got, want) <= tolerance;
}

// E[f] and E[f^2] of f(x) = g(x) + h(-x) over x ~ N(0, 1) by Simpson's rule on [-12, 12].
template <class F>
std::pair<double, double> normal_moments(F f) {
  constexpr int kIntervals = 24000;
  const double lo = -12, h = 24.0 / kIntervals;
  double m1 = 0, m2 = 0;
  for (int i = 0; i <= kIntervals; ++i) {
    const double x = lo + i * h;
    const double w = (i == 0 || i == kIntervals ? 1 : (i % 2 ? 4 : 2)) * h / 3 *
                     std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
    const double fx = f(x);
    m1 += w * fx;
    m2 += w * fx * fx;
  }
  return {m1, m2};
}

}  // namespace

TEST_CASE("the european output is within 4 standard errors of Black-Scholes") {
  for (Option o : {Option{}, Option{100, 90, 0.03, 0.3, 2, 50}, Option{50, 60, -0.01, 0.4, 0.5, 13},
                   Option{100, 100, 0.05, 0.2, 1, 1}}) {
    const Estimate e = price(o, 200000, 7);
    const double exact = black_scholes_call(o);
    CAPTURE(o.K);
    CAPTURE(exact);
    CAPTURE(e.european);
    CAPTURE(e.european_stderr);
    CHECK(e.european_stderr > 0);
    CHECK(std::abs(e.european - exact) < kStderrs * e.european_stderr);
  }
}

TEST_CASE("the geometric output is within 4 standard errors of the discrete closed form") {
  for (Option o : {Option{}, Option{100, 90, 0.03, 0.3, 2, 12}, Option{50, 60, -0.01, 0.4, 0.5, 5},
                   Option{100, 110, 0.05, 0.25, 1, 1100}}) {  // 1100: crosses a block of steps
    const Estimate e = price(o, o.steps > 1000 ? 20000 : 200000, 3);
    const double exact = geometric_asian_call(o);
    CAPTURE(o.steps);
    CAPTURE(exact);
    CAPTURE(e.geometric);
    CHECK(std::abs(e.geometric - exact) < kStderrs * e.geometric_stderr);
  }
  // The double sums above agree with the closed forms the kernel uses.
  const Option o;
  const double n = static_cast<double>(o.steps);
  double sum_min = 0;
  for (std::int64_t j = 1; j <= o.steps; ++j)
    for (std::int64_t k = 1; k <= o.steps; ++k) sum_min += static_cast<double>(std::min(j, k));
  CHECK(sum_min == doctest::Approx(n * (n + 1) * (2 * n + 1) / 6).epsilon(1e-14));
}

TEST_CASE(
    "every output equals a path-by-path recomputation from raw Philox words, libm normals and "
    "std::exp") {
  for (std::int64_t steps : {1, 7, 8, 9, 37, 1030}) {
    for (bool antithetic : {false, true}) {
      Option o;
      o.steps = steps;
      o.sigma = 0.3;
      o.K = 95;
      const std::int64_t paths = 24;
      const Estimate e = price(o, paths, 11, antithetic);
      const Samples s = recompute(o, paths, 11, antithetic);
      CAPTURE(steps);
      CAPTURE(antithetic);
      const double worst =
          std::max({relative_to_one(e.price, mean(s.asian)),
                    relative_to_one(e.stderr, standard_error(s.asian)),
                    relative_to_one(e.geometric, mean(s.geometric)),
                    relative_to_one(e.geometric_stderr, standard_error(s.geometric)),
                    relative_to_one(e.european, mean(s.european)),
                    relative_to_one(e.european_stderr, standard_error(s.european))});
      MESSAGE("steps " << steps << ", antithetic " << antithetic << ": largest difference "
                       << worst);
      CHECK(close(e.price, mean(s.asian), kRecomputeTolerance));
      CHECK(close(e.stderr, standard_error(s.asian), kRecomputeTolerance));
      CHECK(close(e.geometric, mean(s.geometric), kRecomputeTolerance));
      CHECK(close(e.geometric_stderr, standard_error(s.geometric), kRecomputeTolerance));
      CHECK(close(e.european, mean(s.european), kRecomputeTolerance));
      CHECK(close(e.european_stderr, standard_error(s.european), kRecomputeTolerance));
    }
  }
}

TEST_CASE("with one monitoring date the three payoffs coincide") {
  Option o;
  o.steps = 1;
  const Estimate e = price(o, 1000, 5);
  CHECK(e.price == doctest::Approx(e.european).epsilon(1e-14));
  CHECK(e.geometric == doctest::Approx(e.european).epsilon(1e-14));
  CHECK(e.stderr == doctest::Approx(e.european_stderr).epsilon(1e-12));
}

TEST_CASE(
    "the control variate cuts the standard error by more than 20x and agrees with the plain "
    "estimate") {
  const Option o;  // at the money, 64 dates: measured reduction ~36x
  const Estimate plain = price(o, 100000, 21);
  const Estimate cv = price(o, 100000, 21, false, true);
  const double reduction = plain.stderr / cv.stderr;
  MESSAGE("control variate: stderr " << plain.stderr << " -> " << cv.stderr << " (" << reduction
                                     << "x)");
  CHECK(reduction > kMinStderrReduction);
  CHECK(std::abs(cv.price - plain.price) < kStderrs * std::hypot(plain.stderr, cv.stderr));
  // The other outputs stay plain estimates.
  CHECK(cv.european == plain.european);
  CHECK(cv.geometric == plain.geometric);
  CHECK(cv.geometric_stderr == plain.geometric_stderr);
  // And an independent run (another seed, 10x the paths) agrees with the controlled estimate.
  const Estimate big = price(o, 1000000, 99);
  CHECK(std::abs(cv.price - big.price) < kStderrs * std::hypot(big.stderr, cv.stderr));
  // With antithetic pairs as well, still consistent and still much better than plain.
  const Estimate both = price(o, 100000, 21, true, true);
  CHECK(plain.stderr / both.stderr > kMinStderrReduction);
  CHECK(std::abs(both.price - plain.price) < kStderrs * std::hypot(plain.stderr, both.stderr));
}

TEST_CASE("antithetic pairs reduce the european variance as much as theory says") {
  // The european payoff depends on the path only through x = sum_k Z_k / sqrt(steps) ~ N(0,1),
  // and its antithetic partner through -x, so the exact variances are one-dimensional
  // integrals: Var f(x) for plain paths and Var (f(x) + f(-x))/2 for pairs.
  const Option o;
  const double disc = std::exp(-o.r * o.T);
  auto payoff = [&](double x) {
    return disc * std::max(o.S0 * std::exp((o.r - 0.5 * o.sigma * o.sigma) * o.T +
                                           o.sigma * std::sqrt(o.T) * x) -
                               o.K,
                           0.0);
  };
  const auto [m1, m2] = normal_moments(payoff);
  const auto [p1, p2] = normal_moments([&](double x) { return 0.5 * (payoff(x) + payoff(-x)); });
  const double var_plain = m2 - m1 * m1, var_pair = p2 - p1 * p1;
  CHECK(m1 == doctest::Approx(black_scholes_call(o)).epsilon(1e-10));  // the quadrature works
  // Variance per path: a pair costs two paths.
  const double theory = var_plain / (2 * var_pair);

  constexpr std::int64_t kPaths = 400000;
  const Estimate plain = price(o, kPaths, 8);
  const Estimate anti = price(o, kPaths, 8, true);
  const double sample_plain = plain.european_stderr * plain.european_stderr * kPaths;
  const double sample_pair = anti.european_stderr * anti.european_stderr * (kPaths / 2);
  const double measured = sample_plain / (2 * sample_pair);
  MESSAGE("antithetic variance ratio per path: measured " << measured << ", theory " << theory);
  CHECK(sample_plain == doctest::Approx(var_plain).epsilon(kVarianceTolerance));
  CHECK(sample_pair == doctest::Approx(var_pair).epsilon(kVarianceTolerance));
  CHECK(measured == doctest::Approx(theory).epsilon(2 * kVarianceTolerance));
  CHECK(theory > 1.5);  // a call at the money gains about 2x
  // The asian payoff gains too (no simple theory; at least the same order).
  CHECK(plain.stderr * plain.stderr * kPaths / (2 * anti.stderr * anti.stderr * (kPaths / 2)) >
        1.5);
}

TEST_CASE("results are bit-identical at 1, 2, 3 and 16 threads") {
  Option o;
  o.steps = 37;  // not a multiple of the SIMD width
  for (bool antithetic : {false, true}) {
    for (bool cv : {false, true}) {
      set_threads(1);
      const Estimate reference = price(o, 30002, 17, antithetic, cv);  // ragged chunks
      for (int n : {2, 3, 16}) {
        SUBCASE((std::to_string(n) + " threads, antithetic " + std::to_string(antithetic) +
                 ", control variate " + std::to_string(cv))
                    .c_str()) {
          set_threads(n);
          const Estimate e = price(o, 30002, 17, antithetic, cv);
          CHECK(e.price == reference.price);
          CHECK(e.stderr == reference.stderr);
          CHECK(e.european == reference.european);
          CHECK(e.european_stderr == reference.european_stderr);
          CHECK(e.geometric == reference.geometric);
          CHECK(e.geometric_stderr == reference.geometric_stderr);
        }
      }
    }
  }
  set_threads(2);
}

TEST_CASE("another seed gives another estimate, the same seed the same one") {
  const Option o;
  CHECK(price(o, 1000, 1).price != price(o, 1000, 2).price);
  CHECK(price(o, 1000, 1).price == price(o, 1000, 1).price);
}

TEST_CASE("bad inputs are refused with messages naming the parameter") {
  const Option o;
  auto refused = [&](std::vector<std::pair<std::string, Value>> changes, const char* words) {
    auto given = inputs(o, 1000, 1, false, false);
    for (auto& [name, value] : changes) {
      bool found = false;
      for (auto& [n, v] : given)
        if (n == name) v = value, found = true;
      if (!found) given.emplace_back(name, value);
    }
    CAPTURE(words);
    CHECK_THROWS_WITH_AS(run_call(mc_asian(), given), doctest::Contains(words), ArgumentValueError);
  };
  refused({{"sigma", 0.0}}, "mc_asian(): parameter 'sigma' must be > 0");
  refused({{"sigma", -0.2}}, "parameter 'sigma' must be > 0");
  refused({{"T", 0.0}}, "parameter 'T' must be > 0");
  refused({{"S0", -1.0}}, "parameter 'S0' must be > 0");
  refused({{"S0", std::nan("")}}, "parameter 'S0' must be finite");
  refused({{"K", 0.0}}, "parameter 'K' must be > 0");
  refused({{"r", std::numeric_limits<double>::infinity()}}, "parameter 'r' must be finite");
  refused({{"steps", std::int64_t{0}}}, "parameter 'steps' must be >= 1");
  refused({{"paths", std::int64_t{1}}}, "parameter 'paths' must be >= 2");
  refused({{"seed", std::int64_t{-1}}}, "parameter 'seed' must be >= 0");
  refused({{"antithetic", true}, {"paths", std::int64_t{1001}}},
          "parameter 'paths' must be even with antithetic=True");
  refused({{"antithetic", true}, {"paths", std::int64_t{2}}}, "must be >= 4 with antithetic=True");
  refused({{"sigma", 30.0}}, "sigma * sqrt(T) must be <= 20");
  refused({{"r", 3.0}, {"T", 100.0}}, "|r| * T must be <= 200");
}

TEST_CASE("progress counts paths") {
  auto call = run_call(mc_asian(), inputs(Option{}, 5000, 1, true, false));
  CHECK(mc_asian().progress_unit == "paths");
  CHECK(call->progress().total() == 5000);
  CHECK(call->progress().done() == 5000);
}

TEST_CASE("a bench-size mc_asian call stops within half a second of cancellation") {
  set_threads(2);
  Option o;
  o.steps = 252;
  auto call = prepare_call(mc_asian(), inputs(o, 4000000, 1, false, false));
  testing::check_stops_promptly_when_cancelled(call);
}

TEST_CASE("very long paths are cancelled inside a path") {
  set_threads(1);
  Option o;
  o.steps = 400000000;  // one chunk is one path of 4e8 steps: seconds of work
  auto call = prepare_call(mc_asian(), inputs(o, 2, 1, false, false));
  // Progress counts whole paths, so it shows nothing here: wait for the kernel's CPU time.
  testing::start_and_wait_until_busy(call, std::chrono::milliseconds(50));
  CHECK(call->progress().done() == 0);  // still inside the first path
  const auto t0 = std::chrono::steady_clock::now();
  call->cancel();
  REQUIRE(call->wait_for(testing::scaled(testing::kCancelWithin)));
  CHECK(std::chrono::steady_clock::now() - t0 < testing::scaled(testing::kCancelWithin));
  CHECK_THROWS_AS(call->rethrow_if_failed(), Cancelled);
  set_threads(2);
}
