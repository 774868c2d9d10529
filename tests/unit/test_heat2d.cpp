// heat2d against the discrete eigenmodes, conservation, fixed edges, and a plain loop written
// here (bit for bit, at 1, 2, 3 and 16 threads, over sizes that exercise every code path).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>

#include "cancel_check.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"

using namespace simhost;

namespace {

constexpr double kModeTolerance = 1e-12;          // relative to lambda^steps * max|u0|
constexpr double kConservationTolerance = 1e-12;  // relative to the sum of |u0|
const double kPi = std::acos(-1.0);

struct Field {
  std::int64_t ny = 0, nx = 0;
  std::vector<double> v;
  double& at(std::int64_t i, std::int64_t j) { return v[static_cast<std::size_t>(i * nx + j)]; }
  double at(std::int64_t i, std::int64_t j) const {
    return v[static_cast<std::size_t>(i * nx + j)];
  }
};

Field random_field(std::int64_t ny, std::int64_t nx, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Field f{ny, nx, std::vector<double>(static_cast<std::size_t>(ny * nx))};
  for (double& x : f.v) x = uniform(rng);
  return f;
}

const KernelDef& heat2d() {
  static Registry registry;
  static const bool added = (add_builtin_kernels(registry), true);
  (void)added;
  return registry.get("heat2d");
}

std::vector<std::pair<std::string, Value>> arguments(Field& u0, double r, std::int64_t steps,
                                                     const std::string& boundary) {
  return {{"u0", ConstArrayView{u0.v.data(), DType::Float64, {u0.ny, u0.nx}}},
          {"r", r},
          {"steps", steps},
          {"boundary", boundary}};
}

Field evolve(Field u0, double r, std::int64_t steps, const std::string& boundary = "dirichlet") {
  auto call = run_call(heat2d(), arguments(u0, r, steps, boundary));
  auto out = call->output("u").array.as<double>();
  return {u0.ny, u0.nx, {out.begin(), out.end()}};
}

// The scheme as the issue states it, one point at a time, swapping two buffers.
Field plain_loop(Field u, double r, std::int64_t steps, bool periodic) {
  Field next = u;
  const std::int64_t ny = u.ny, nx = u.nx;
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::int64_t i = 0; i < ny; ++i)
      for (std::int64_t j = 0; j < nx; ++j) {
        if (!periodic && (i == 0 || j == 0 || i == ny - 1 || j == nx - 1)) continue;
        const std::int64_t up = (i + ny - 1) % ny, down = (i + 1) % ny;
        const std::int64_t left = (j + nx - 1) % nx, right = (j + 1) % nx;
        next.at(i, j) = u.at(i, j) + r * (u.at(down, j) + u.at(up, j) + u.at(i, right) +
                                          u.at(i, left) - 4.0 * u.at(i, j));
      }
    std::swap(u, next);
  }
  return u;
}

}  // namespace

TEST_CASE("a discrete sine mode decays by exactly lambda per step") {
  // u0 = sin(p pi x) sin(q pi y), x = j hx, y = i hy, zero edges, is an eigenvector of the
  // 5-point update with eigenvalue 1 - 4 r (sin^2(p pi hx/2) + sin^2(q pi hy/2)).
  const std::int64_t ny = 41, nx = 57;
  const int p = 2, q = 3;
  const double r = 0.2, hx = 1.0 / (nx - 1), hy = 1.0 / (ny - 1);
  Field u0{ny, nx, std::vector<double>(ny * nx, 0.0)};
  for (std::int64_t i = 1; i < ny - 1; ++i)
    for (std::int64_t j = 1; j < nx - 1; ++j)
      u0.at(i, j) = std::sin(p * kPi * static_cast<double>(j) * hx) *
                    std::sin(q * kPi * static_cast<double>(i) * hy);
  const double lambda =
      1 -
      4 * r * (std::pow(std::sin(p * kPi * hx / 2), 2) + std::pow(std::sin(q * kPi * hy / 2), 2));
  for (std::int64_t steps : {1, 17, 400}) {
    CAPTURE(steps);
    const Field u = evolve(u0, r, steps);
    const double scale = std::pow(lambda, static_cast<double>(steps));
    double worst = 0;
    for (std::size_t n = 0; n < u.v.size(); ++n)
      worst = std::max(worst, std::abs(u.v[n] - scale * u0.v[n]));
    CHECK(worst <= kModeTolerance * scale);
  }
}

TEST_CASE("periodic edges conserve the total heat") {
  for (auto [ny, nx] : {std::pair<std::int64_t, std::int64_t>{300, 37}, {3, 3}, {64, 2100}}) {
    CAPTURE(ny);
    CAPTURE(nx);
    const Field u0 = random_field(ny, nx, 5);
    const Field u = evolve(u0, 0.25, 45, "periodic");
    double before = 0, after = 0, scale = 0;
    for (double x : u0.v) before += x, scale += std::abs(x);
    for (double x : u.v) after += x;
    CHECK(std::abs(after - before) <= kConservationTolerance * scale);
  }
}

TEST_CASE("dirichlet edges are held at the initial values exactly") {
  const Field u0 = random_field(260, 45, 9);
  const Field u = evolve(u0, 0.25, 33);
  for (std::int64_t j = 0; j < u0.nx; ++j) {
    CHECK(u.at(0, j) == u0.at(0, j));
    CHECK(u.at(u0.ny - 1, j) == u0.at(u0.ny - 1, j));
  }
  for (std::int64_t i = 0; i < u0.ny; ++i) {
    CHECK(u.at(i, 0) == u0.at(i, 0));
    CHECK(u.at(i, u0.nx - 1) == u0.at(i, u0.nx - 1));
  }
  CHECK(u.at(100, 20) != u0.at(100, 20));  // and the interior did move
}

TEST_CASE("zero steps return the initial field") {
  const Field u0 = random_field(5, 4, 1);
  CHECK(evolve(u0, 0.1, 0).v == u0.v);
}

TEST_CASE("results equal a plain loop bit for bit at 1, 2, 3 and 16 threads") {
  // Sizes that reach every path: one tile and several (256 rows each, the last one short, down
  // to a single row), rows shorter and longer than the SIMD width and not a multiple of it,
  // grids so short or rows so long that fewer steps are blocked per pass (down to one), the
  // smallest grids, and step counts that are a single pass, several, and passes of unequal
  // depth.
  struct Case {
    std::int64_t ny, nx, steps;
  };
  const Case cases[] = {{3, 3, 7},     {3, 5, 40},      {5, 3, 21},     {300, 37, 1},
                        {300, 37, 2},  {300, 37, 35},   {129, 9, 16},   {257, 64, 50},
                        {600, 24, 40}, {140, 2100, 29}, {17, 1031, 64}, {260, 9000, 7}};
  for (const std::string boundary : {"dirichlet", "periodic"}) {
    for (const Case& c : cases) {
      const Field u0 = random_field(c.ny, c.nx, static_cast<unsigned>(c.ny * 1000 + c.nx));
      const Field expected = plain_loop(u0, 0.23, c.steps, boundary == "periodic");
      for (int threads : {1, 2, 3, 16}) {
        CAPTURE(boundary);
        CAPTURE(c.ny);
        CAPTURE(c.nx);
        CAPTURE(c.steps);
        CAPTURE(threads);
        set_threads(threads);
        CHECK(evolve(u0, 0.23, c.steps, boundary).v == expected.v);
      }
    }
  }
  set_threads(default_threads());
}

TEST_CASE("progress is counted in steps") {
  Field u0 = random_field(200, 30, 2);
  auto call = run_call(heat2d(), arguments(u0, 0.2, 37, "periodic"));
  CHECK(heat2d().progress_unit == "steps");
  CHECK(call->progress().total() == 37);
  CHECK(call->progress().done() == 37);
}

TEST_CASE("bad inputs are refused with messages that say what was expected") {
  Field u0 = random_field(8, 8, 3);
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(u0, 0.26, 1, "dirichlet")),
                       doctest::Contains("stable only for r = alpha*dt/h^2 <= 1/4"),
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(u0, 0.0, 1, "dirichlet")),
                       doctest::Contains("parameter 'r' must be > 0"), ArgumentValueError);
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(u0, -0.1, 1, "dirichlet")),
                       doctest::Contains("parameter 'r' must be > 0"), ArgumentValueError);
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(u0, 0.1, -1, "dirichlet")),
                       doctest::Contains("parameter 'steps' must be >= 0"), ArgumentValueError);
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(u0, 0.1, 1, "periodc")),
                       doctest::Contains("did you mean 'periodic'?"), ArgumentValueError);
  Field with_nan = u0;
  with_nan.at(2, 5) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(with_nan, 0.1, 1, "dirichlet")),
                       doctest::Contains("'u0' contains nan at index (2, 5)"), ArgumentValueError);
  for (auto [ny, nx] : {std::pair<std::int64_t, std::int64_t>{2, 8}, {8, 2}, {1, 1}}) {
    Field small = random_field(ny, nx, 4);
    CHECK_THROWS_WITH_AS(run_call(heat2d(), arguments(small, 0.1, 1, "periodic")),
                         doctest::Contains("at least 3 points in each direction"),
                         ArgumentValueError);
  }
  std::vector<double> flat(16, 0.0);
  CHECK_THROWS_WITH_AS(
      run_call(heat2d(), {{"u0", ConstArrayView{flat.data(), DType::Float64, {16}}},
                          {"r", 0.1},
                          {"steps", std::int64_t{1}}}),
      doctest::Contains("expects shape (ny, nx), got (16,)"), ArgumentValueError);
}

TEST_CASE("a bench-size heat2d call stops within half a second of cancellation") {
  set_threads(2);
  Field u0 = random_field(2048, 2048, 6);
  auto call = prepare_call(heat2d(), arguments(u0, 0.2, 100000, "dirichlet"));
  testing::check_stops_promptly_when_cancelled(call);
  CHECK(call->progress().done() < 100000);
  set_threads(default_threads());
}
