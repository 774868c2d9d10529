// ising2d against Onsager's exact solution, exact limits (beta -> infinity, beta = 0), exact
// enumeration of a 4 x 4 lattice, a site-by-site reference, and bit-identity across threads.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <numeric>
#include <string>
#include <thread>

#include "cancel_check.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"
#include "simhost/random.hpp"

using namespace simhost;

namespace {

// Onsager's values against run averages: a statistical check, so the tolerance is this many
// of the run's own standard errors (batch means over kBatches blocks, which absorbs the
// correlation time of a few sweeps); the finite-size bias at L = 128 is exponentially small
// away from T_c. Measured standard errors: <|m|> 1.1e-4 and 1.3e-4, <e> 3.2e-4 and 3.5e-4
// (beta = 0.6, seeds 1 and 2; differences from Onsager 0.8 sigma at most); <e> 4.3e-4
// (beta = 0.2, 0.5 sigma). A fixed 0.01, as before, accepted beta off by 1%, which moves
// <|m|> by 1.6e-3 and <e> by 5e-3.
constexpr double kOnsagerStandardErrors = 5;
constexpr int kBatches = 20;
// The standard errors themselves must be small: a noisy kernel must not pass by noise.
constexpr double kMaxOnsagerStandardError = 1e-3;
// <|m|> at beta = 0.2, L = 128: the expected value is ~sqrt(chi / L^2) ~ 0.01.
constexpr double kDisorderedMagnetizationBound = 0.05;
// |<e>| at beta = 0 from a hot start: the initial energy's spread is sqrt(2) / L = 0.011.
constexpr double kInfiniteTemperatureEnergyBound = 0.05;
// Long-run averages (200000 sweeps) on a 4 x 4 lattice against exact enumeration: the spread
// over 20 seeds is 0.0018 for <e> and <m>, 0.001 for <|m|>, so this is >= 5 standard errors.
constexpr double kEnumerationTolerance = 0.01;

using Spins = std::vector<std::int8_t>;

const KernelDef& ising2d() {
  static Registry registry;
  static const bool added = (add_builtin_kernels(registry), true);
  (void)added;
  return registry.get("ising2d");
}

struct Run {
  Spins spins;
  std::vector<double> magnetization, energy;
};

template <class T>
std::vector<T> copy_of(const Call& call, const char* name) {
  auto v = call.output(name).array.as<T>();
  return {v.begin(), v.end()};
}

Run collect(const Call& call) {
  return {copy_of<std::int8_t>(call, "spins"), copy_of<double>(call, "magnetization"),
          copy_of<double>(call, "energy")};
}

using Params = std::vector<std::pair<std::string, Value>>;

Run run(Params params) { return collect(*run_call(ising2d(), std::move(params))); }

Params lattice(std::int64_t L, double beta, std::int64_t sweeps, std::int64_t seed,
               std::string start = "cold") {
  return {{"L", L}, {"beta", beta}, {"sweeps", sweeps}, {"seed", seed}, {"start", start}};
}

double mean_abs(const std::vector<double>& v, std::size_t from) {
  double s = 0;
  for (std::size_t k = from; k < v.size(); ++k) s += std::abs(v[k]);
  return s / static_cast<double>(v.size() - from);
}

double mean(const std::vector<double>& v, std::size_t from) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(from), v.end(), 0.0) /
         static_cast<double>(v.size() - from);
}

// The standard error of the mean of v[from..] by batch means over kBatches equal blocks.
double batch_standard_error(const std::vector<double>& v, std::size_t from, bool absolute) {
  const std::size_t size = (v.size() - from) / kBatches;
  std::vector<double> means;
  for (int b = 0; b < kBatches; ++b) {
    double sum = 0;
    for (std::size_t k = 0; k < size; ++k) {
      const double x = v[from + static_cast<std::size_t>(b) * size + k];
      sum += absolute ? std::abs(x) : x;
    }
    means.push_back(sum / static_cast<double>(size));
  }
  const double m = std::accumulate(means.begin(), means.end(), 0.0) / kBatches;
  double ss = 0;
  for (double x : means) ss += (x - m) * (x - m);
  return std::sqrt(ss / (kBatches - 1) / kBatches);
}

// Onsager: spontaneous magnetization and internal energy per site of the infinite lattice.
double onsager_magnetization(double beta) {
  const double beta_c = std::log(1.0 + std::sqrt(2.0)) / 2;
  return beta <= beta_c ? 0.0 : std::pow(1.0 - std::pow(std::sinh(2 * beta), -4.0), 0.125);
}

double onsager_energy(double beta) {
  const double t = std::tanh(2 * beta);
  const double k = 2 * std::sinh(2 * beta) / std::pow(std::cosh(2 * beta), 2);
  return -(1 / t) * (1 + 2 / std::numbers::pi * (2 * t * t - 1) * std::comp_ellint_1(k));
}

// ---- An independent, site-by-site implementation of the documented algorithm -------------

// The documented random word of colour site k = 32 m + 8 q + l of row i in sweep t, colour
// c: word q of Philox4x32-10 (Random123's, called directly) with key (seed low, seed high)
// and counter (8 m + l, i, stream low, stream high), stream = 2 t + c.
std::uint32_t site_word(std::uint64_t seed, std::uint64_t stream, std::int64_t i, std::int64_t k) {
  const std::int64_t m = k / 32, q = (k % 32) / 8, l = k % 8;
  const r123::Philox4x32::ctr_type ctr{{static_cast<std::uint32_t>(8 * m + l),
                                        static_cast<std::uint32_t>(i),
                                        static_cast<std::uint32_t>(stream),
                                        static_cast<std::uint32_t>(stream >> 32)}};
  const r123::Philox4x32::key_type key{
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  return r123::Philox4x32()(ctr, key).v[q];
}

bool metropolis_accepts(std::uint32_t r, int s, int nb, double beta, double h) {
  const double dE = 2.0 * s * (nb + h);
  const double p = beta == 0 ? 1.0 : std::exp(-beta * dE);
  const std::uint64_t threshold =
      p >= 1 ? (std::uint64_t{1} << 31) : static_cast<std::uint64_t>(std::floor(p * 0x1p31));
  return (r >> 1) < threshold;
}

Spins hot_start(std::int64_t L, std::uint64_t seed) {
  const Philox rng(seed, ~std::uint64_t{0});
  Spins s(static_cast<std::size_t>(L * L));
  for (std::int64_t i = 0; i < L; ++i)
    for (std::int64_t j = 0; j < L; ++j) {
      const auto w = rng.bits(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(j / 256));
      const std::int64_t b = j % 256;
      s[static_cast<std::size_t>(i * L + j)] =
          (w[static_cast<std::size_t>(b / 64)] >> (b % 64)) & 1 ? 1 : -1;
    }
  return s;
}

Run reference(Spins s, std::int64_t L, double beta, double h, std::int64_t sweeps,
              std::uint64_t seed, std::int64_t measure_every) {
  auto at = [&](std::int64_t i, std::int64_t j) -> std::int8_t& {
    return s[static_cast<std::size_t>(((i + L) % L) * L + (j + L) % L)];
  };
  Run out;
  for (std::int64_t t = 0; t < sweeps; ++t) {
    for (int c = 0; c < 2; ++c) {
      const std::uint64_t stream = 2 * static_cast<std::uint64_t>(t) + static_cast<std::uint64_t>(c);
      Spins next = s;  // all sites of a colour see the other colour as it was
      for (std::int64_t i = 0; i < L; ++i)
        for (std::int64_t j = 0; j < L; ++j) {
          if ((i + j) % 2 != c) continue;
          const int nb = at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1);
          const int spin = at(i, j);
          if (metropolis_accepts(site_word(seed, stream, i, j / 2), spin, nb, beta, h))
            next[static_cast<std::size_t>(i * L + j)] = static_cast<std::int8_t>(-spin);
        }
      s = next;
    }
    if ((t + 1) % measure_every == 0) {
      std::int64_t total = 0, bonds = 0;
      for (std::int64_t i = 0; i < L; ++i)
        for (std::int64_t j = 0; j < L; ++j) {
          total += at(i, j);
          bonds += at(i, j) * (at(i + 1, j) + at(i, j + 1));
        }
      const double n = static_cast<double>(L * L);
      out.magnetization.push_back(static_cast<double>(total) / n);
      out.energy.push_back((-static_cast<double>(bonds) - h * static_cast<double>(total)) / n);
    }
  }
  out.spins = s;
  return out;
}

Spins checkerboard_mix(std::int64_t L) {
  // A deterministic non-trivial state: stripes and a block, so every neighbour sum occurs.
  Spins s(static_cast<std::size_t>(L * L));
  for (std::int64_t i = 0; i < L; ++i)
    for (std::int64_t j = 0; j < L; ++j)
      s[static_cast<std::size_t>(i * L + j)] = ((i * 7 + j * j) % 5 < 2) ? 1 : -1;
  return s;
}

ConstArrayView view(Spins& s, std::int64_t L) {
  return ConstArrayView{s.data(), DType::Int8, {L, L}};
}

}  // namespace

TEST_CASE("ising2d matches a site-by-site reference of the documented algorithm bit for bit") {
  // L = 2 and 6: rows shorter than the SIMD segment; 132: one segment and a ragged tail;
  // 256: whole segments only.
  for (std::int64_t L : {2, 6, 132, 256}) {
    CAPTURE(L);
    SUBCASE(("hot start, L = " + std::to_string(L)).c_str()) {
      const Run got = run({{"L", L},
                           {"beta", 0.35},
                           {"h", 0.3},
                           {"sweeps", std::int64_t{5}},
                           {"seed", std::int64_t{77}},
                           {"start", std::string("hot")},
                           {"measure_every", std::int64_t{2}}});
      const Run want = reference(hot_start(L, 77), L, 0.35, 0.3, 5, 77, 2);
      CHECK(got.spins == want.spins);
      CHECK(got.magnetization == want.magnetization);
      CHECK(got.energy == want.energy);
    }
    SUBCASE(("given spins, L = " + std::to_string(L)).c_str()) {
      Spins initial = checkerboard_mix(L);
      const Run got = run({{"spins", view(initial, L)},
                           {"beta", 0.6},
                           {"h", -0.2},
                           {"sweeps", std::int64_t{4}},
                           {"seed", std::int64_t{0x7FFFFFFFFFFFFFFD}}});
      const Run want = reference(checkerboard_mix(L), L, 0.6, -0.2, 4, 0x7FFFFFFFFFFFFFFD, 1);
      CHECK(got.spins == want.spins);
      CHECK(got.magnetization == want.magnetization);
      CHECK(got.energy == want.energy);
    }
  }
}

TEST_CASE("below T_c the magnetization and energy match Onsager's at beta = 0.6, L = 128") {
  const double beta = 0.6;
  for (std::int64_t seed : {1, 2}) {
    CAPTURE(seed);
    // 200 sweeps to equilibrate from the cold start (the correlation time here is a few
    // sweeps), then 1000 measured.
    const Run r = run(lattice(128, beta, 1200, seed));
    const double m = mean_abs(r.magnetization, 200), e = mean(r.energy, 200);
    const double m_err = batch_standard_error(r.magnetization, 200, true);
    const double e_err = batch_standard_error(r.energy, 200, false);
    MESSAGE("seed ", seed, ": <|m|> = ", m, " +- ", m_err, " (Onsager ",
            onsager_magnetization(beta), "), <e> = ", e, " +- ", e_err, " (Onsager ",
            onsager_energy(beta), ")");
    CHECK(m_err < kMaxOnsagerStandardError);
    CHECK(e_err < kMaxOnsagerStandardError);
    CHECK(std::abs(m - onsager_magnetization(beta)) < kOnsagerStandardErrors * m_err);
    CHECK(std::abs(e - onsager_energy(beta)) < kOnsagerStandardErrors * e_err);
  }
}

TEST_CASE("above T_c the magnetization vanishes and the energy matches Onsager's at beta = 0.2") {
  const double beta = 0.2;
  const Run r = run(lattice(128, beta, 1100, 5, "hot"));
  const double m = mean_abs(r.magnetization, 100), e = mean(r.energy, 100);
  const double e_err = batch_standard_error(r.energy, 100, false);
  MESSAGE("<|m|> = ", m, ", <e> = ", e, " +- ", e_err, " (Onsager ", onsager_energy(beta), ")");
  CHECK(m < kDisorderedMagnetizationBound);
  CHECK(e_err < kMaxOnsagerStandardError);
  CHECK(std::abs(e - onsager_energy(beta)) < kOnsagerStandardErrors * e_err);
}

TEST_CASE("at beta = 10 from a cold start nothing flips: the energy is -2 - h per site exactly") {
  // Every flip costs dE >= 8 - 2|h|, accepted with probability exp(-10 dE) < 2^-31: never.
  for (double h : {0.0, 0.5, -0.5}) {
    CAPTURE(h);
    const Run r = run({{"L", std::int64_t{64}},
                       {"beta", 10.0},
                       {"h", h},
                       {"sweeps", std::int64_t{20}},
                       {"seed", std::int64_t{9}}});
    REQUIRE(r.energy.size() == 20);
    for (std::size_t k = 0; k < r.energy.size(); ++k) {
      CHECK(r.energy[k] == -2.0 - h);
      CHECK(r.magnetization[k] == 1.0);
    }
    CHECK(std::all_of(r.spins.begin(), r.spins.end(), [](std::int8_t s) { return s == 1; }));
  }
}

TEST_CASE("at beta = 0 every spin flips each sweep and the energy per site averages 0") {
  // Metropolis accepts every flip at infinite temperature: each sweep reverses the lattice,
  // which leaves the (random) initial energy unchanged and reverses the magnetization.
  const Run r = run(lattice(128, 0.0, 10, 4, "hot"));
  const Spins initial = hot_start(128, 4);
  for (std::size_t k = 0; k < r.energy.size(); ++k) {
    CHECK(r.energy[k] == r.energy[0]);
    if (k > 0) CHECK(r.magnetization[k] == -r.magnetization[k - 1]);
  }
  CHECK(std::abs(mean(r.energy, 0)) < kInfiniteTemperatureEnergyBound);
  Spins reversed(initial.size());
  for (std::size_t n = 0; n < initial.size(); ++n)
    reversed[n] = static_cast<std::int8_t>(-initial[n]);
  CHECK(r.spins == initial);  // ten reversals
  CHECK(r.spins != reversed);
}

TEST_CASE("long-run averages on a 4 x 4 lattice match exact enumeration") {
  // Exact Boltzmann averages over all 2^16 states.
  const std::int64_t L = 4;
  const double beta = 0.3, h = 0.1;
  double Z = 0, E = 0, M = 0, A = 0;
  for (std::uint32_t state = 0; state < (1u << 16); ++state) {
    auto s = [&](std::int64_t i, std::int64_t j) {
      return (state >> (((i + L) % L) * L + (j + L) % L)) & 1 ? 1 : -1;
    };
    int bonds = 0, total = 0;
    for (std::int64_t i = 0; i < L; ++i)
      for (std::int64_t j = 0; j < L; ++j) {
        total += s(i, j);
        bonds += s(i, j) * (s(i + 1, j) + s(i, j + 1));
      }
    const double energy = -bonds - h * total;
    const double w = std::exp(-beta * energy);
    Z += w;
    E += w * energy / 16;
    M += w * total / 16.0;
    A += w * std::abs(total) / 16.0;
  }
  E /= Z;
  M /= Z;
  A /= Z;
  const Run r = run({{"L", L},
                     {"beta", beta},
                     {"h", h},
                     {"sweeps", std::int64_t{200000}},
                     {"seed", std::int64_t{11}},
                     {"start", std::string("hot")}});
  MESSAGE("<e> = ", mean(r.energy, 100), " (exact ", E, "), <m> = ", mean(r.magnetization, 100),
          " (exact ", M, "), <|m|> = ", mean_abs(r.magnetization, 100), " (exact ", A, ")");
  CHECK(std::abs(mean(r.energy, 100) - E) < kEnumerationTolerance);
  CHECK(std::abs(mean(r.magnetization, 100) - M) < kEnumerationTolerance);
  CHECK(std::abs(mean_abs(r.magnetization, 100) - A) < kEnumerationTolerance);
}

TEST_CASE("measurements depend only on the sweep, not on measure_every") {
  // The random numbers are keyed by sweep and site, so measuring less often changes nothing
  // but which sweeps are reported: K = sweeps // measure_every of them.
  const Run every = run(lattice(66, 0.45, 10, 3, "hot"));
  Params third = lattice(66, 0.45, 10, 3, "hot");
  third.emplace_back("measure_every", std::int64_t{3});
  const Run r = run(third);
  REQUIRE(r.magnetization.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(r.magnetization[k] == every.magnetization[3 * k + 2]);
    CHECK(r.energy[k] == every.energy[3 * k + 2]);
  }
  CHECK(r.spins == every.spins);
}

TEST_CASE("the input spins are never modified and zero sweeps return them unchanged") {
  Spins initial = checkerboard_mix(8);
  const Spins before = initial;
  const Run moved = run({{"spins", view(initial, 8)},
                         {"beta", 0.3},
                         {"sweeps", std::int64_t{5}},
                         {"seed", std::int64_t{1}}});
  CHECK(initial == before);
  CHECK(moved.spins != before);
  const Run still = run({{"spins", view(initial, 8)},
                         {"beta", 0.3},
                         {"sweeps", std::int64_t{0}},
                         {"seed", std::int64_t{1}}});
  CHECK(still.spins == before);
  CHECK(still.magnetization.empty());
  CHECK(still.energy.empty());
}

TEST_CASE("ising2d results are bit-identical at 1, 2, 3 and 16 threads") {
  // L = 260: rows of 130 sites per colour, two SIMD segments and a ragged tail.
  Params p = lattice(260, 0.44, 12, 21, "hot");
  p.emplace_back("h", 0.05);
  set_threads(1);
  const Run want = run(p);
  for (int n : {2, 3, 16}) {
    SUBCASE(("threads = " + std::to_string(n)).c_str()) {
      set_threads(n);
      const Run got = run(p);
      CHECK(got.spins == want.spins);
      CHECK(got.magnetization == want.magnetization);
      CHECK(got.energy == want.energy);
    }
  }
  set_threads(1);
}

TEST_CASE("ising2d counts progress in sweeps") {
  auto call = run_call(ising2d(), lattice(16, 0.3, 25, 1));
  CHECK(call->progress().total() == 25);
  CHECK(call->progress().done() == 25);
  CHECK(call->kernel().progress_unit == "sweeps");
}

TEST_CASE("a bench-size ising2d call stops within half a second of cancellation") {
  set_threads(2);
  auto call = prepare_call(ising2d(), lattice(1024, 0.44, 100000, 1, "hot"));
  testing::check_stops_promptly_when_cancelled(call);
  CHECK(call->progress().done() < 100000);
  set_threads(1);
}

TEST_CASE("ising2d refuses bad inputs with messages that name the parameter") {
  auto fails = [](Params p, const std::string& part) {
    CAPTURE(part);
    CHECK_THROWS_WITH(prepare_call(ising2d(), std::move(p)), doctest::Contains(part.c_str()));
  };
  const Params base{{"beta", 0.4}, {"sweeps", std::int64_t{1}}, {"seed", std::int64_t{1}}};
  auto with = [&](Params extra) {
    Params p = base;
    p.insert(p.end(), extra.begin(), extra.end());
    return p;
  };
  Spins ok = checkerboard_mix(4), zero = checkerboard_mix(4), odd(9, 1), two(4, 2);
  zero[6] = 0;

  CHECK_THROWS_AS(prepare_call(ising2d(), base), ArgumentTypeError);
  fails(base, "give the lattice size 'L' or an initial 'spins' array (neither was given)");
  CHECK_THROWS_AS(prepare_call(ising2d(), with({{"L", std::int64_t{4}}, {"spins", view(ok, 4)}})),
                  ArgumentTypeError);
  fails(with({{"L", std::int64_t{4}}, {"spins", view(ok, 4)}}), "not both");
  CHECK_THROWS_AS(prepare_call(ising2d(), with({{"L", std::int64_t{5}}})), ArgumentValueError);
  fails(with({{"L", std::int64_t{5}}}), "ising2d(): parameter 'L' must be even");
  fails(with({{"L", std::int64_t{0}}}), "ising2d(): parameter 'L' must be >= 2, got 0");
  fails(with({{"spins", view(zero, 4)}}),
        "ising2d(): parameter 'spins' must hold only -1 and +1, got 0 at index (1, 2)");
  fails(with({{"spins", view(two, 2)}}), "must hold only -1 and +1, got 2 at index (0, 0)");
  fails(with({{"spins", ConstArrayView{odd.data(), DType::Int8, {3, 3}}}}),
        "parameter 'spins' must be an L x L array with L even");
  fails(with({{"spins", ConstArrayView{ok.data(), DType::Int8, {2, 8}}}}),
        "parameter 'spins' expects shape (L, L), got (2, 8)");
  fails(with({{"spins", view(ok, 4)}, {"start", std::string("hot")}}),
        "parameter 'start' applies only with 'L'");
  fails(with({{"L", std::int64_t{4}}, {"start", std::string("warm")}}),
        "parameter 'start' must be one of 'cold' or 'hot', got 'warm'");
  fails({{"L", std::int64_t{4}},
         {"beta", -0.1},
         {"sweeps", std::int64_t{1}},
         {"seed", std::int64_t{1}}},
        "ising2d(): parameter 'beta' must be >= 0.0, got -0.1");
  fails(with({{"L", std::int64_t{4}}, {"measure_every", std::int64_t{0}}}),
        "ising2d(): parameter 'measure_every' must be >= 1, got 0");
  fails(with({{"L", std::int64_t{4}}, {"h", std::nan("")}}),
        "ising2d(): parameter 'h' must be finite, got nan");
  fails({{"L", std::int64_t{4}},
         {"beta", 0.4},
         {"sweeps", std::int64_t{-1}},
         {"seed", std::int64_t{1}}},
        "ising2d(): parameter 'sweeps' must be >= 0, got -1");
}
