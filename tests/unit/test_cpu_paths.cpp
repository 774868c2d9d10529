// The kernels' CPU paths against each other: every kernel on every path this CPU runs, against
// the generic (portable) path, bit for bit where its docs promise it, else within the tolerance
// they state; and the choice of the path (SIMHOST_CPU, detection).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "simhost/call.hpp"
#include "simhost/cpu.hpp"
#include "simhost/kernels.hpp"

using namespace simhost;

namespace {

// docs/kernels/nbody.md and mc_asian.md: the AVX-512 path computes 1/sqrt(r^2) from a hardware
// estimate refined by Newton steps, and exp by a polynomial (each ~1e-16 relative); the other
// paths use 1/std::sqrt and std::exp, so those two kernels agree across that pair of paths to
// this bound (max |difference| / max |value|, per output), and bit for bit otherwise.
constexpr double kAvx512Tolerance = 1e-12;

bool bitwise_across(const std::string& kernel, CpuPath a, CpuPath b) {
  const bool approximations = kernel == "nbody" || kernel == "mc_asian";
  const bool a512 = a == CpuPath::avx512, b512 = b == CpuPath::avx512;
  return !approximations || a512 == b512;
}

struct Input {
  std::string label;
  std::vector<double> f64a, f64b, f64c;
  std::vector<std::int8_t> spins;
  std::vector<std::pair<std::string, Value>> args;
};

std::vector<double> uniform(std::size_t n, double lo, double hi, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// Inputs that reach every code path: sizes that are not multiples of the SIMD widths (8
// doubles, 64 spins), several tiles, both boundaries and methods, every option.
std::vector<Input> inputs(const std::string& kernel) {
  std::vector<Input> in;
  auto add = [&](std::string label) -> Input& {
    in.push_back(Input{std::move(label), {}, {}, {}, {}, {}});
    return in.back();
  };
  if (kernel == "heat2d") {
    for (const char* boundary : {"dirichlet", "periodic"}) {
      for (std::int64_t ny : {std::int64_t{5}, std::int64_t{300}}) {
        const std::int64_t nx = ny == 5 ? 3 : 37;
        Input& x = add(std::string(boundary) + " " + std::to_string(ny) + "x" + std::to_string(nx));
        x.f64a = uniform(static_cast<std::size_t>(ny * nx), -1, 1, 7);
      }
    }
    for (Input& x : in) {
      const bool periodic = x.label.starts_with("periodic");
      const std::int64_t ny = x.label.find(" 5x") != std::string::npos ? 5 : 300;
      x.args = {{"u0", ConstArrayView{x.f64a.data(), DType::Float64, {ny, ny == 5 ? 3 : 37}}},
                {"r", 0.2},
                {"steps", std::int64_t{37}},
                {"boundary", std::string(periodic ? "periodic" : "dirichlet")}};
    }
  } else if (kernel == "nbody") {
    for (std::int64_t n : {std::int64_t{2}, std::int64_t{45}}) {
      Input& x = add("N=" + std::to_string(n));
      x.f64a = uniform(static_cast<std::size_t>(3 * n), -1, 1, 11);
      x.f64b = uniform(static_cast<std::size_t>(3 * n), -0.1, 0.1, 12);
      x.f64c = uniform(static_cast<std::size_t>(n), 0.5, 2, 13);
    }
    for (Input& x : in) {
      const auto n = static_cast<std::int64_t>(x.f64c.size());
      x.args = {{"pos", ConstArrayView{x.f64a.data(), DType::Float64, {n, 3}}},
                {"vel", ConstArrayView{x.f64b.data(), DType::Float64, {n, 3}}},
                {"mass", ConstArrayView{x.f64c.data(), DType::Float64, {n}}},
                {"dt", 1e-3},
                {"steps", std::int64_t{25}}};
    }
  } else if (kernel == "mc_asian") {
    for (bool anti : {false, true})
      for (bool cv : {false, true}) {
        Input& x = add(std::string("antithetic=") + (anti ? "1" : "0") + " cv=" + (cv ? "1" : "0"));
        x.args = {{"S0", 100.0},     {"K", 95.0},
                  {"r", 0.03},       {"sigma", 0.25},
                  {"T", 1.0},        {"steps", std::int64_t{37}},
                  {"paths", std::int64_t{2006}}, {"seed", std::int64_t{5}},
                  {"antithetic", anti}, {"control_variate", cv}};
      }
  } else if (kernel == "ising2d") {
    for (double h : {0.0, 0.3}) {
      Input& x = add("L=70 hot, h=" + std::to_string(h));
      x.args = {{"L", std::int64_t{70}}, {"beta", 0.44}, {"h", h}, {"sweeps", std::int64_t{12}},
                {"seed", std::int64_t{3}}, {"start", std::string("hot")},
                {"measure_every", std::int64_t{2}}};
    }
    Input& x = add("spins 132x132");
    std::mt19937_64 rng(21);
    x.spins.resize(132 * 132);
    for (auto& s : x.spins) s = (rng() & 1) ? std::int8_t{1} : std::int8_t{-1};
    x.args = {{"spins", ConstArrayView{x.spins.data(), DType::Int8, {132, 132}}},
              {"beta", 0.3},
              {"sweeps", std::int64_t{5}}};
  } else if (kernel == "ode_batch") {
    for (const char* method : {"rk4", "dopri5"}) {
      Input& x = add(std::string("lorenz ") + method);
      x.f64a = uniform(3 * 45, -10, 10, 17);
      x.args = {{"system", std::string("lorenz")},
                {"y0", ConstArrayView{x.f64a.data(), DType::Float64, {45, 3}}},
                {"dt", 0.01},
                {"steps", std::int64_t{200}},
                {"method", std::string(method)},
                {"save_every", std::int64_t{50}},
                {"sigma", 10.0},
                {"rho", 28.0},
                {"beta", 8.0 / 3.0}};
    }
  }
  REQUIRE_MESSAGE(!in.empty(), "no inputs for kernel " << kernel);
  return in;
}

const KernelDef& find(const std::vector<KernelDef>& defs, const std::string& name) {
  const auto it = std::find_if(defs.begin(), defs.end(), [&](const KernelDef& k) { return k.name == name; });
  REQUIRE(it != defs.end());
  return *it;
}

// Relative difference max |a - b| / max |a| of two float64 outputs.
double relative_difference(std::span<const double> a, std::span<const double> b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Every output of `kernel` on `path` against the generic path.
void compare_with_generic(const std::string& kernel, CpuPath path) {
  const std::vector<KernelDef> generic = builtin_kernels(CpuPath::generic);
  const std::vector<KernelDef> other = builtin_kernels(path);
  const bool bitwise = bitwise_across(kernel, CpuPath::generic, path);
  for (Input& x : inputs(kernel)) {
    CAPTURE(kernel);
    CAPTURE(x.label);
    const auto a = run_call(find(generic, kernel), x.args);
    const auto b = run_call(find(other, kernel), x.args);
    REQUIRE(a->outputs().size() == b->outputs().size());
    for (std::size_t i = 0; i < a->outputs().size(); ++i) {
      const OutputSlot& oa = a->outputs()[i];
      const OutputSlot& ob = b->outputs()[i];
      CAPTURE(oa.spec->name);
      if (oa.spec->kind == Kind::Float) {
        if (bitwise)
          CHECK(std::memcmp(&oa.scalar, &ob.scalar, sizeof(double)) == 0);
        else
          CHECK(std::abs(oa.scalar - ob.scalar) <= kAvx512Tolerance * std::abs(oa.scalar));
        continue;
      }
      REQUIRE(oa.array.shape == ob.array.shape);
      REQUIRE(oa.array.bytes() == ob.array.bytes());
      if (bitwise || oa.array.dtype != DType::Float64) {
        CHECK(std::memcmp(oa.array.data, ob.array.data, oa.array.bytes()) == 0);
      } else {
        CHECK(relative_difference(oa.array.as<const double>(), ob.array.as<const double>()) <=
              kAvx512Tolerance);
      }
    }
  }
}

bool has(CpuPath path) {
  const auto built = cpu_paths_available();
  return std::find(built.begin(), built.end(), path) != built.end();
}

}  // namespace

// Run alone by CTest as unit.cpu_paths.avx2 / unit.cpu_paths.avx512 (skipped, not passed, on a
// CPU or build without that path; see tests/CMakeLists.txt).
TEST_CASE("the avx2 path gives the generic path's results" * doctest::skip(!has(CpuPath::avx2))) {
  for (const char* kernel : {"heat2d", "nbody", "mc_asian", "ising2d", "ode_batch"})
    compare_with_generic(kernel, CpuPath::avx2);
}

TEST_CASE("the avx512 path gives the generic path's results" *
          doctest::skip(!has(CpuPath::avx512))) {
  for (const char* kernel : {"heat2d", "nbody", "mc_asian", "ising2d", "ode_batch"})
    compare_with_generic(kernel, CpuPath::avx512);
}

TEST_CASE("CPU paths: the choice is one this build has and this CPU runs") {
  const std::vector<CpuPath>& built = cpu_paths_built();
  REQUIRE(!built.empty());
  // generic first, or native alone
  CHECK((built.front() == CpuPath::generic || (built.size() == 1 && built[0] == CpuPath::native)));
  CHECK(cpu_supports(built.front()));
  const CpuPath chosen = cpu_path();
  CHECK(std::find(built.begin(), built.end(), chosen) != built.end());
  CHECK(cpu_supports(chosen));
  // Without SIMHOST_CPU, the last level this CPU runs (CTest sets it for the *.generic tests).
  const char* env = std::getenv("SIMHOST_CPU");
  if (!env || !*env) CHECK(chosen == cpu_paths_available().back());
  else CHECK(cpu_path_name(chosen) == std::string_view(env));
  // The registered kernels are the chosen level's: same names as every other level's.
  for (CpuPath p : cpu_paths_available()) {
    const auto defs = builtin_kernels(p);
    CHECK(defs.size() == 5);
  }
  CHECK(cpu_path_description().starts_with(std::string(cpu_path_name(chosen)) + " (available: "));
}

TEST_CASE("CPU paths: asking for one this build lacks or this CPU cannot run is an Error") {
  for (CpuPath p : {CpuPath::generic, CpuPath::avx2, CpuPath::avx512, CpuPath::native}) {
    const auto& built = cpu_paths_built();
    if (std::find(built.begin(), built.end(), p) == built.end()) {
      CAPTURE(cpu_path_name(p));
      const std::string expected =
          "no " + std::string(cpu_path_name(p)) + " CPU path in this build";
      CHECK_THROWS_WITH_AS(builtin_kernels(p), doctest::Contains(expected.c_str()), Error);
    } else if (!cpu_supports(p)) {
      CHECK_THROWS_WITH_AS(builtin_kernels(p), doctest::Contains("this CPU cannot run"), Error);
    }
  }
}
