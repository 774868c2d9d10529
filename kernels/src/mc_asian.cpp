// mc_asian: Monte Carlo price of an arithmetic-average Asian call under geometric Brownian motion.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <type_traits>

#include <immintrin.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/random.hpp"

#include "cpu_level.hpp"  // last: see there
#define SIMHOST_MC_ASIAN_AVX512 SIMHOST_CPU_AVX512

SIMHOST_CPU_BEGIN
namespace simhost::SIMHOST_CPU_NS {

namespace {

// Samples (paths, or antithetic pairs) are simulated eight at a time, one per SIMD lane.
constexpr std::int64_t kLanes = 8;
// Time steps whose normals are generated at once: a fixed 16 KiB buffer however many steps
// there are (even, so every block starts at an even variate index).
constexpr std::int64_t kStepBlock = 256;
// Lane groups per reduction chunk: at most kMaxGroups (512 samples) and about kChunkSteps
// path-steps, so a chunk takes well under a millisecond at any `steps` and the chunking
// depends on the parameters alone (never on the threads).
constexpr std::int64_t kMaxGroups = 64;
constexpr std::int64_t kChunkSteps = std::int64_t{1} << 17;

struct Model {
  double S0, K, r, sigma, T;
  std::int64_t steps;
  double drift;     // (r - sigma^2/2) dt, the mean log-return of one step
  double vol;       // sigma sqrt(dt), its standard deviation
  double discount;  // exp(-r T)
};

// The discrete geometric-average call: ln G = (1/n) sum_k ln S(t_k) is normal with mean
// ln S0 + (r - sigma^2/2) T (n+1)/(2n) and variance sigma^2 T (n+1)(2n+1)/(6 n^2), so
// E[e^{-rT} (G - K)^+] is a Black-Scholes-type formula (Kemna & Vorst 1990; Glasserman 2004,
// Sec. 4.1).
double geometric_asian_call(const Model& m) {
  const double n = static_cast<double>(m.steps);
  const double mean = std::log(m.S0) + (m.r - 0.5 * m.sigma * m.sigma) * m.T * (n + 1) / (2 * n);
  const double sd = m.sigma * std::sqrt(m.T * (n + 1) * (2 * n + 1) / (6 * n * n));
  const double d2 = (mean - std::log(m.K)) / sd, d1 = d2 + sd;
  auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); };
  return m.discount * (std::exp(mean + 0.5 * sd * sd) * cdf(d1) - m.K * cdf(d2));
}

// The start of the step block after the one at k0: k0 + kStepBlock, or `steps` when that is
// the end (without forming k0 + kStepBlock, which would overflow for steps near 2^63).
inline std::int64_t next_block(std::int64_t k0, std::int64_t steps) {
  return steps - k0 > kStepBlock ? k0 + kStepBlock : steps;
}

// Discounted payoffs of one sample (a path, or the mean of an antithetic pair).
struct Payoffs {
  double asian, geometric, european;
};

// exp(x) on every CPU path, the same IEEE operations in one lane or many: x = n ln2 + r with
// n = nearest(x / ln2) and |r| <= ln2/2 (ln2 in two parts), e^r by its Taylor series to r^13
// (truncation < 1e-17 relative) in fused multiply-adds, times 2^n rounded once. Overflows to
// inf and underflows to 0 like exp.
constexpr double kInvLn2 = 0x1.71547652b82fep0;
constexpr double kInvFactorial[14] = {1.0,
                                      1.0,
                                      1.0 / 2,
                                      1.0 / 6,
                                      1.0 / 24,
                                      1.0 / 120,
                                      1.0 / 720,
                                      1.0 / 5040,
                                      1.0 / 40320,
                                      1.0 / 362880,
                                      1.0 / 3628800,
                                      1.0 / 39916800,
                                      1.0 / 479001600,
                                      1.0 / 6227020800};

// p 2^n rounded once (AVX-512's scalef): ldexp, with n past any finite result clamped.
inline double times_power_of_two(double p, double n) {
  return std::ldexp(p, std::isnan(n) ? 0 : static_cast<int>(std::clamp(n, -2200.0, 2200.0)));
}

inline double exp_taylor(double x) {
  const double n = std::nearbyint(x * kInvLn2);
  double r = std::fma(-n, detail::kLn2Hi, x);
  r = std::fma(-n, detail::kLn2Lo, r);
  double p = kInvFactorial[13];
  for (int k = 12; k >= 0; --k) p = std::fma(p, r, kInvFactorial[k]);
  return times_power_of_two(p, n);
}

// The payoff (S0 price - K)^+ as the vector code forms it: one fused multiply-add, and +0
// (x86 max) where it is not positive.
inline double call_payoff(double S0, double price, double K) {
  const double v = std::fma(S0, price, -K);
  return v > 0.0 ? v : 0.0;
}

#if SIMHOST_MC_ASIAN_AVX512

// exp_taylor in eight lanes.
inline __m512d exp8(__m512d x) {
  const __m512d n = _mm512_maskz_roundscale_pd(0xFF, _mm512_mul_pd(x, _mm512_set1_pd(kInvLn2)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(detail::kLn2Hi), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(detail::kLn2Lo), r);
  __m512d p = _mm512_set1_pd(kInvFactorial[13]);
  for (int k = 12; k >= 0; --k) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kInvFactorial[k]));
  return _mm512_maskz_scalef_pd(0xFF, p, n);
}

// The samples first .. first + 7, one per lane: a path each (Paths = 1) or an antithetic pair
// each (Paths = 2, the mirror path taking -Z). Sample j uses stream first + j, step k its
// variate k. Each lane runs its steps in order, ln(S/S0) summed step by step.
template <int Paths>
void simulate_lanes(const CallContext& ctx, const Model& model, std::uint64_t seed,
                    std::uint64_t first, double* z, Payoffs* out) {
  const __m512d a = _mm512_set1_pd(model.drift);
  const __m512d b[2] = {_mm512_set1_pd(model.vol), _mm512_set1_pd(-model.vol)};
  __m512d log_ratio[Paths], sum_ratio[Paths], sum_log[Paths];
  for (int p = 0; p < Paths; ++p) log_ratio[p] = sum_ratio[p] = sum_log[p] = _mm512_setzero_pd();
  for (std::int64_t k0 = 0; k0 < model.steps; k0 = next_block(k0, model.steps)) {
    const std::int64_t m = std::min(kStepBlock, model.steps - k0);
    philox4x32_normals_x8(seed, first, static_cast<std::uint64_t>(k0), static_cast<std::size_t>(m),
                          {z, static_cast<std::size_t>(kLanes * m)});
    for (std::int64_t k = 0; k < m; ++k) {
      const __m512d zk = _mm512_loadu_pd(z + kLanes * k);
      for (int p = 0; p < Paths; ++p) {
        log_ratio[p] = _mm512_add_pd(log_ratio[p], _mm512_fmadd_pd(zk, b[p], a));
        sum_ratio[p] = _mm512_add_pd(sum_ratio[p], exp8(log_ratio[p]));
        sum_log[p] = _mm512_add_pd(sum_log[p], log_ratio[p]);
      }
    }
    if (m == kStepBlock) ctx.check_cancelled();  // very long paths
  }
  const __m512d n = _mm512_set1_pd(static_cast<double>(model.steps));
  const __m512d S0 = _mm512_set1_pd(model.S0), K = _mm512_set1_pd(model.K);
  const __m512d zero = _mm512_setzero_pd();
  const __m512d weight = _mm512_set1_pd(model.discount / Paths);
  __m512d asian = zero, geometric = zero, european = zero;
  auto payoff = [&](__m512d price) {
    return _mm512_maskz_max_pd(0xFF, _mm512_fmsub_pd(S0, price, K), zero);
  };
  for (int p = 0; p < Paths; ++p) {
    asian = _mm512_add_pd(asian, payoff(_mm512_div_pd(sum_ratio[p], n)));
    geometric = _mm512_add_pd(geometric, payoff(exp8(_mm512_div_pd(sum_log[p], n))));
    european = _mm512_add_pd(european, payoff(exp8(log_ratio[p])));
  }
  alignas(64) double lanes[3][kLanes];
  _mm512_store_pd(lanes[0], _mm512_mul_pd(weight, asian));
  _mm512_store_pd(lanes[1], _mm512_mul_pd(weight, geometric));
  _mm512_store_pd(lanes[2], _mm512_mul_pd(weight, european));
  for (int j = 0; j < kLanes; ++j) out[j] = {lanes[0][j], lanes[1][j], lanes[2][j]};
}

#elif SIMHOST_CPU_AVX2

// exp_taylor in four lanes, on N registers at once, in place: every statement runs for all N
// before the next, so the N chains of the series (Horner's, ~70 cycles deep) are interleaved
// in program order and overlap in the core. 2^n is made from its exponent bits where every
// lane's n is in the normal range (p 2^n is then one rounding, as scalef), lane by lane
// otherwise.
template <int N>
inline void exp4(__m256d (&x)[N]) {
  __m256d n[N], r[N], p[N];
  for (int i = 0; i < N; ++i) {
    n[i] = _mm256_round_pd(_mm256_mul_pd(x[i], _mm256_set1_pd(kInvLn2)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r[i] = _mm256_fnmadd_pd(n[i], _mm256_set1_pd(detail::kLn2Hi), x[i]);
    r[i] = _mm256_fnmadd_pd(n[i], _mm256_set1_pd(detail::kLn2Lo), r[i]);
    p[i] = _mm256_set1_pd(kInvFactorial[13]);
  }
  for (int k = 12; k >= 0; --k)
    for (int i = 0; i < N; ++i)
      p[i] = _mm256_fmadd_pd(p[i], r[i], _mm256_set1_pd(kInvFactorial[k]));
  for (int i = 0; i < N; ++i) {
    const __m256d normal =
        _mm256_and_pd(_mm256_cmp_pd(n[i], _mm256_set1_pd(-1022.0), _CMP_GE_OQ),
                      _mm256_cmp_pd(n[i], _mm256_set1_pd(1023.0), _CMP_LE_OQ));
    if (_mm256_movemask_pd(normal) == 0xF) {
      const __m256i e = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n[i])),
                                         _mm256_set1_epi64x(1023));
      x[i] = _mm256_mul_pd(p[i], _mm256_castsi256_pd(_mm256_slli_epi64(e, 52)));
      continue;
    }
    alignas(32) double pl[4], nl[4];
    _mm256_store_pd(pl, p[i]);
    _mm256_store_pd(nl, n[i]);
    for (int l = 0; l < 4; ++l) pl[l] = times_power_of_two(pl[l], nl[l]);
    x[i] = _mm256_load_pd(pl);
  }
}

inline __m256d exp4(__m256d x) {
  __m256d v[1] = {x};
  exp4(v);
  return v[0];
}

// The AVX-512 simulate_lanes in two AVX2 halves (lanes 0-3 and 4-7), the same operations.
template <int Paths>
void simulate_lanes(const CallContext& ctx, const Model& model, std::uint64_t seed,
                    std::uint64_t first, double* z, Payoffs* out) {
  const __m256d a = _mm256_set1_pd(model.drift);
  const __m256d b[2] = {_mm256_set1_pd(model.vol), _mm256_set1_pd(-model.vol)};
  __m256d log_ratio[Paths][2], sum_ratio[Paths][2], sum_log[Paths][2];
  for (int p = 0; p < Paths; ++p)
    for (int h = 0; h < 2; ++h) log_ratio[p][h] = sum_ratio[p][h] = sum_log[p][h] = _mm256_setzero_pd();
  for (std::int64_t k0 = 0; k0 < model.steps; k0 = next_block(k0, model.steps)) {
    const std::int64_t m = std::min(kStepBlock, model.steps - k0);
    philox4x32_normals_x8(seed, first, static_cast<std::uint64_t>(k0), static_cast<std::size_t>(m),
                          {z, static_cast<std::size_t>(kLanes * m)});
    // kSteps steps at once, their exps interleaved (kSteps x Paths x 2 halves chains): on Zen 3
    // at bench size 1.05 s a call against 1.18 s one step at a time; 4 steps were no faster.
    // Each lane still adds its steps in order, so the bits stay the portable path's.
    constexpr int kSteps = 2;
    auto steps = [&](std::int64_t k, auto count) {
      constexpr int S = decltype(count)::value;
      __m256d e[S * Paths * 2];  // step s, path p, half h at (s * Paths + p) * 2 + h
      for (int s = 0; s < S; ++s)
        for (int h = 0; h < 2; ++h) {
          const __m256d zk = _mm256_loadu_pd(z + kLanes * (k + s) + 4 * h);
          for (int p = 0; p < Paths; ++p) {
            log_ratio[p][h] = _mm256_add_pd(log_ratio[p][h], _mm256_fmadd_pd(zk, b[p], a));
            e[(s * Paths + p) * 2 + h] = log_ratio[p][h];
            sum_log[p][h] = _mm256_add_pd(sum_log[p][h], log_ratio[p][h]);
          }
        }
      exp4(e);
      for (int s = 0; s < S; ++s)
        for (int p = 0; p < Paths; ++p)
          for (int h = 0; h < 2; ++h)
            sum_ratio[p][h] = _mm256_add_pd(sum_ratio[p][h], e[(s * Paths + p) * 2 + h]);
    };
    std::int64_t k = 0;
    for (; m - k >= kSteps; k += kSteps) steps(k, std::integral_constant<int, kSteps>{});
    for (; k < m; ++k) steps(k, std::integral_constant<int, 1>{});
    if (m == kStepBlock) ctx.check_cancelled();  // very long paths
  }
  const __m256d n = _mm256_set1_pd(static_cast<double>(model.steps));
  const __m256d S0 = _mm256_set1_pd(model.S0), K = _mm256_set1_pd(model.K);
  const __m256d zero = _mm256_setzero_pd();
  const __m256d weight = _mm256_set1_pd(model.discount / Paths);
  alignas(32) double lanes[3][kLanes];
  for (int h = 0; h < 2; ++h) {
    __m256d asian = zero, geometric = zero, european = zero;
    for (int p = 0; p < Paths; ++p) {
      // max(v, 0) is v > 0 ? v : +0, as _mm512_max_pd.
      asian = _mm256_add_pd(asian, _mm256_max_pd(_mm256_fmsub_pd(S0, _mm256_div_pd(sum_ratio[p][h], n), K), zero));
      geometric = _mm256_add_pd(
          geometric, _mm256_max_pd(_mm256_fmsub_pd(S0, exp4(_mm256_div_pd(sum_log[p][h], n)), K), zero));
      european = _mm256_add_pd(european, _mm256_max_pd(_mm256_fmsub_pd(S0, exp4(log_ratio[p][h]), K), zero));
    }
    _mm256_store_pd(lanes[0] + 4 * h, _mm256_mul_pd(weight, asian));
    _mm256_store_pd(lanes[1] + 4 * h, _mm256_mul_pd(weight, geometric));
    _mm256_store_pd(lanes[2] + 4 * h, _mm256_mul_pd(weight, european));
  }
  for (int j = 0; j < kLanes; ++j) out[j] = {lanes[0][j], lanes[1][j], lanes[2][j]};
}

#else  // portable path: the same, one lane at a time

template <int Paths>
void simulate_lanes(const CallContext& ctx, const Model& model, std::uint64_t seed,
                    std::uint64_t first, double* z, Payoffs* out) {
  double log_ratio[Paths][kLanes] = {}, sum_ratio[Paths][kLanes] = {}, sum_log[Paths][kLanes] = {};
  const double b[2] = {model.vol, -model.vol};
  for (std::int64_t k0 = 0; k0 < model.steps; k0 = next_block(k0, model.steps)) {
    const std::int64_t m = std::min(kStepBlock, model.steps - k0);
    philox4x32_normals_x8(seed, first, static_cast<std::uint64_t>(k0), static_cast<std::size_t>(m),
                          {z, static_cast<std::size_t>(kLanes * m)});
    for (int p = 0; p < Paths; ++p)
      for (std::int64_t j = 0; j < kLanes; ++j)
        for (std::int64_t k = 0; k < m; ++k) {
          log_ratio[p][j] += std::fma(z[kLanes * k + j], b[p], model.drift);
          sum_ratio[p][j] += exp_taylor(log_ratio[p][j]);
          sum_log[p][j] += log_ratio[p][j];
        }
    if (m == kStepBlock) ctx.check_cancelled();
  }
  const double n = static_cast<double>(model.steps);
  auto payoff = [&](double price) { return call_payoff(model.S0, price, model.K); };
  for (int j = 0; j < kLanes; ++j) {
    double asian = 0, geometric = 0, european = 0;
    for (int p = 0; p < Paths; ++p) {
      asian += payoff(sum_ratio[p][j] / n);
      geometric += payoff(exp_taylor(sum_log[p][j] / n));
      european += payoff(exp_taylor(log_ratio[p][j]));
    }
    const double weight = model.discount / Paths;
    out[j] = {weight * asian, weight * geometric, weight * european};
  }
}

#endif

// Count, means and centred (co)moments of the samples of the three payoffs. Chunks compute
// theirs in two passes and are merged pairwise (Chan, Golub & LeVeque 1979), which keeps the
// variances accurate even when the control variate removes almost all of them.
struct Moments {
  double n = 0;
  double mean_a = 0, mean_g = 0, mean_e = 0;
  double aa = 0, gg = 0, ee = 0, ag = 0;  // sums of products of deviations from the means
};

Moments merge(const Moments& x, const Moments& y) {
  if (x.n == 0) return y;
  if (y.n == 0) return x;
  Moments m;
  m.n = x.n + y.n;
  const double da = y.mean_a - x.mean_a, dg = y.mean_g - x.mean_g, de = y.mean_e - x.mean_e;
  const double wy = y.n / m.n, w = x.n * y.n / m.n;
  m.mean_a = x.mean_a + da * wy;
  m.mean_g = x.mean_g + dg * wy;
  m.mean_e = x.mean_e + de * wy;
  m.aa = x.aa + y.aa + da * da * w;
  m.gg = x.gg + y.gg + dg * dg * w;
  m.ee = x.ee + y.ee + de * de * w;
  m.ag = x.ag + y.ag + da * dg * w;
  return m;
}

Moments moments_of(const Payoffs* p, std::int64_t count) {
  Moments m;
  m.n = static_cast<double>(count);
  for (std::int64_t i = 0; i < count; ++i) {
    m.mean_a += p[i].asian;
    m.mean_g += p[i].geometric;
    m.mean_e += p[i].european;
  }
  m.mean_a /= m.n;
  m.mean_g /= m.n;
  m.mean_e /= m.n;
  for (std::int64_t i = 0; i < count; ++i) {
    const double a = p[i].asian - m.mean_a, g = p[i].geometric - m.mean_g,
                 e = p[i].european - m.mean_e;
    m.aa += a * a;
    m.gg += g * g;
    m.ee += e * e;
    m.ag += a * g;
  }
  return m;
}

void run_mc_asian(CallContext& ctx) {
  const Args& args = ctx.args();
  Model model{};
  model.S0 = args.f64("S0");
  model.K = args.f64("K");
  model.r = args.f64("r");
  model.sigma = args.f64("sigma");
  model.T = args.f64("T");
  model.steps = args.i64("steps");
  const double dt = model.T / static_cast<double>(model.steps);
  model.drift = (model.r - 0.5 * model.sigma * model.sigma) * dt;
  model.vol = model.sigma * std::sqrt(dt);
  model.discount = std::exp(-model.r * model.T);
  const std::int64_t paths = args.i64("paths");
  const auto seed = static_cast<std::uint64_t>(args.i64("seed"));
  const bool antithetic = args.flag("antithetic");
  const bool control_variate = args.flag("control_variate");

  // A sample is a path, or the mean of an antithetic pair; the stream of its normals is its
  // index, so every sample is the same whatever thread computes it.
  const std::int64_t samples = antithetic ? paths / 2 : paths;
  const std::int64_t per_sample = antithetic ? 2 : 1;
  ctx.progress().set_total(paths);

  // Both without products or sums that overflow for paths or steps near 2^63: floor(a / (b c))
  // = floor(floor(a / b) / c), so the chunk is what kChunkSteps / (kLanes * steps) would be.
  const std::int64_t groups = samples / kLanes + (samples % kLanes != 0 ? 1 : 0);
  const std::int64_t chunk =
      std::clamp<std::int64_t>(kChunkSteps / kLanes / model.steps, 1, kMaxGroups);
  const Moments total = deterministic_reduce(
      ctx, 0, groups, chunk, Moments{},
      [&](std::int64_t lo, std::int64_t hi) {
        std::array<Payoffs, kMaxGroups * kLanes> pay;
        alignas(64) std::array<double, kStepBlock * kLanes> z;
        std::int64_t count = 0;
        for (std::int64_t g = lo; g < hi; ++g) {
          Payoffs lanes[kLanes];
          const auto first = static_cast<std::uint64_t>(g * kLanes);
          if (antithetic)
            simulate_lanes<2>(ctx, model, seed, first, z.data(), lanes);
          else
            simulate_lanes<1>(ctx, model, seed, first, z.data(), lanes);
          // The last group may reach past the last sample: those lanes are dropped.
          const std::int64_t used = std::min(kLanes, samples - g * kLanes);
          std::copy(lanes, lanes + used, pay.begin() + count);
          count += used;
        }
        ctx.progress().add(count * per_sample);
        return moments_of(pay.data(), count);
      },
      merge);

  const double n = total.n;
  auto stderr_of = [n](double centred_sum_of_squares) {
    return std::sqrt(std::max(centred_sum_of_squares, 0.0) / (n - 1) / n);
  };
  double price = total.mean_a, price_stderr = stderr_of(total.aa);
  if (control_variate) {
    // Y - beta (G - E[G]) with beta = cov(Y, G) / var(G) from the same samples (0 when every
    // geometric payoff is the same, e.g. all zero).
    const double beta = total.gg > 0 ? total.ag / total.gg : 0.0;
    price = total.mean_a - beta * (total.mean_g - geometric_asian_call(model));
    price_stderr = stderr_of(total.aa - beta * total.ag);
  }
  ctx.set_scalar("price", price);
  ctx.set_scalar("stderr", price_stderr);
  ctx.set_scalar("european", total.mean_e);
  ctx.set_scalar("european_stderr", stderr_of(total.ee));
  ctx.set_scalar("geometric", total.mean_g);
  ctx.set_scalar("geometric_stderr", stderr_of(total.gg));
}

void check_mc_asian(const Args& args) {
  const std::int64_t paths = args.i64("paths");
  if (args.flag("antithetic")) {
    if (paths % 2 != 0)
      throw ArgumentValueError(fmt::format(
          "mc_asian(): parameter 'paths' must be even with antithetic=True (paths come in "
          "pairs Z, -Z), got {}",
          paths));
    if (paths < 4)
      throw ArgumentValueError(fmt::format(
          "mc_asian(): parameter 'paths' must be >= 4 with antithetic=True (two pairs at "
          "least, for a standard error), got {}",
          paths));
  }
  // Keep every log-price and the discount factor far inside the range of a double.
  const double sigma = args.f64("sigma"), T = args.f64("T"), r = args.f64("r");
  if (sigma * std::sqrt(T) > 20)
    throw ArgumentValueError(fmt::format(
        "mc_asian(): sigma * sqrt(T) must be <= 20 (the standard deviation of ln S(T)), got "
        "sigma = {}, T = {}",
        sigma, T));
  if (std::abs(r) * T > 200)
    throw ArgumentValueError(fmt::format(
        "mc_asian(): |r| * T must be <= 200 (exp(-r T) must be a usable discount factor), got "
        "r = {}, T = {}",
        r, T));
}

}  // namespace

KernelDef mc_asian_kernel() {
  KernelDef k;
  k.name = "mc_asian";
  k.summary =
      "Monte Carlo price of an arithmetic-average Asian call under geometric Brownian motion.";
  k.doc =
      "Prices the call paying (A - K)^+ at T, A = (1/steps) sum_{k=1..steps} S(t_k), t_k = k "
      "T/steps\n"
      "(the average is over the `steps` equally spaced dates after 0; S0 itself is not in it),\n"
      "under the risk-neutral dS = r S dt + sigma S dW. Each step is exact:\n"
      "S(t_k) = S(t_{k-1}) exp((r - sigma^2/2) dt + sigma sqrt(dt) Z). Payoffs are discounted by\n"
      "exp(-r T). The same paths also price the European call (S(T) - K)^+ and the geometric-\n"
      "average call (G - K)^+, G = (prod_k S(t_k))^(1/steps), whose exact price is known.\n"
      "antithetic: paths come in pairs (Z, -Z) and every estimate and standard error is taken\n"
      "over the pair means. control_variate: price = mean(Y) - beta (mean(G payoff) - exact\n"
      "geometric price), beta = cov/var estimated from the same paths; the european and\n"
      "geometric outputs stay plain means. stderr outputs are standard errors of the means.\n"
      "Normals: path p (pair p with antithetic) uses stream p of the Philox4x32-10 blocks keyed\n"
      "by seed, step k its variate k, so results are bit-identical at any thread count.\n"
      "Money is in any one currency (S0, K and every output); time in years.";
  k.progress_unit = "paths";
  k.params = {
      float_param("S0", std::nullopt, "currency", "Spot price of the underlying at t = 0.")
          .above(0),
      float_param("K", std::nullopt, "currency", "Strike price.").above(0),
      float_param("r", std::nullopt, "1/year", "Risk-free rate, continuously compounded."),
      float_param("sigma", std::nullopt, "1/sqrt(year)", "Volatility of the underlying.").above(0),
      float_param("T", std::nullopt, "year", "Maturity.").above(0),
      int_param("steps", std::nullopt,
                "Monitoring dates t_k = k T/steps, k = 1..steps (also the time steps).")
          .at_least(1),
      int_param("paths", std::nullopt, "Number of simulated paths (even with antithetic).")
          .at_least(2),
      seed_param("Seed of the Philox4x32-10 streams of the paths"),
      bool_param("antithetic", false, "Simulate paths in antithetic pairs (Z, -Z)."),
      bool_param("control_variate", false,
                 "Use the geometric-average call (exact price known) as a control variate."),
  };
  k.outputs = {
      float_output("price", "currency", "Price of the arithmetic-average Asian call."),
      float_output("stderr", "currency", "Standard error of price."),
      float_output("european", "currency", "Price of the European call on the same paths."),
      float_output("european_stderr", "currency", "Standard error of european."),
      float_output("geometric", "currency",
                   "Price of the geometric-average Asian call on the same paths (plain mean)."),
      float_output("geometric_stderr", "currency", "Standard error of geometric."),
  };
  k.check = check_mc_asian;
  k.run = run_mc_asian;
  k.example = [] {
    OwnedArgs a;
    a.set("S0", 100.0).set("K", 100.0).set("r", 0.05).set("sigma", 0.2).set("T", 1.0);
    a.set("steps", std::int64_t{16}).set("paths", std::int64_t{256});
    return a;
  };
  return k;
}

}  // namespace simhost::SIMHOST_CPU_NS
SIMHOST_CPU_END
