// mc_asian: Monte Carlo price of an arithmetic-average Asian call under geometric Brownian motion.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define SIMHOST_MC_ASIAN_AVX512 1
#else
#define SIMHOST_MC_ASIAN_AVX512 0
#endif

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/random.hpp"

namespace simhost {

namespace {

// Time steps whose normals are generated at once: a fixed buffer however many steps there
// are (a multiple of 16, so every block starts at an even variate index).
constexpr std::int64_t kStepBlock = 1024;
// Samples (paths, or antithetic pairs) per reduction chunk: at most this many, and about
// kChunkSteps path-steps, so a chunk takes well under a millisecond at any `steps` and the
// chunking depends on the parameters alone (never on the threads).
constexpr std::int64_t kMaxChunk = 512;
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

// What one path contributes, in units of S0: the arithmetic mean of S(t_k)/S0, the sum of
// ln(S(t_k)/S0) and S(T)/S0.
struct PathSums {
  double mean_ratio = 0;
  double sum_log = 0;
  double final_ratio = 1;
};

#if SIMHOST_MC_ASIAN_AVX512

// exp(x) in eight lanes: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^13
// (truncation < 1e-17 relative), scaled by 2^n. Overflows to inf and underflows to 0 like exp.
inline __m512d exp8(__m512d x) {
  constexpr double kInvLn2 = 0x1.71547652b82fep0;
  const __m512d n = _mm512_maskz_roundscale_pd(0xFF, _mm512_mul_pd(x, _mm512_set1_pd(kInvLn2)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(detail::kLn2Hi), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(detail::kLn2Lo), r);
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
  __m512d p = _mm512_set1_pd(kInvFactorial[13]);
  for (int k = 12; k >= 0; --k) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kInvFactorial[k]));
  return _mm512_maskz_scalef_pd(0xFF, p, n);
}

// The sums of one path (sign = +1) and, with antithetic, of its mirror (sign = -1) over the
// steps k0 .. k0 + m - 1 whose normals are z[0..m). The steps are vectorised: eight log-returns
// at a time, turned into eight log-prices by an in-register prefix sum plus the carry from
// the steps before.
struct Lanes {
  __m512d carry;  // ln(S/S0) after the last step done, in every lane
  __m512d sum_ratio = _mm512_setzero_pd();
  __m512d sum_log = _mm512_setzero_pd();
  __m512d last;  // S/S0 at the last step done, in every lane
};

inline __m512d prefix_sum8(__m512d x) {
  const __m512i by1 = _mm512_set_epi64(6, 5, 4, 3, 2, 1, 0, 0);
  const __m512i by2 = _mm512_set_epi64(5, 4, 3, 2, 1, 0, 0, 0);
  const __m512i by4 = _mm512_set_epi64(3, 2, 1, 0, 0, 0, 0, 0);
  x = _mm512_add_pd(x, _mm512_maskz_permutexvar_pd(0xFE, by1, x));
  x = _mm512_add_pd(x, _mm512_maskz_permutexvar_pd(0xFC, by2, x));
  return _mm512_add_pd(x, _mm512_maskz_permutexvar_pd(0xF0, by4, x));
}

template <int Paths>
void advance(const double* z, std::int64_t m, double drift, double vol, Lanes* lanes) {
  const __m512i top = _mm512_set1_epi64(7);
  const __m512d a = _mm512_set1_pd(drift);
  const __m512d b[2] = {_mm512_set1_pd(vol), _mm512_set1_pd(-vol)};
  for (std::int64_t k = 0; k < m; k += 8) {
    // Past the end the log-returns are 0, so the carry stays the last log-price; those lanes
    // are kept out of the sums.
    const __mmask8 valid =
        m - k >= 8 ? __mmask8(0xFF) : static_cast<__mmask8>((1u << (m - k)) - 1u);
    const __m512d zk = _mm512_maskz_loadu_pd(valid, z + k);
    for (int p = 0; p < Paths; ++p) {
      Lanes& l = lanes[p];
      const __m512d local = prefix_sum8(_mm512_maskz_fmadd_pd(valid, zk, b[p], a));
      const __m512d log_ratio = _mm512_add_pd(local, l.carry);
      const __m512d ratio = exp8(log_ratio);
      l.carry = _mm512_add_pd(l.carry, _mm512_maskz_permutexvar_pd(0xFF, top, local));
      l.sum_ratio = _mm512_mask_add_pd(l.sum_ratio, valid, l.sum_ratio, ratio);
      l.sum_log = _mm512_mask_add_pd(l.sum_log, valid, l.sum_log, log_ratio);
      l.last = _mm512_maskz_permutexvar_pd(0xFF, top, ratio);
    }
  }
}

inline double lane_sum(__m512d v) {
  alignas(64) double t[8];
  _mm512_store_pd(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

// One path (Paths = 1) or an antithetic pair (Paths = 2) from stream `stream`.
template <int Paths>
void simulate(const CallContext& ctx, const Model& model, std::uint64_t seed, std::uint64_t stream,
              double* z, PathSums* out) {
  Lanes lanes[Paths];
  for (auto& l : lanes) {
    l.carry = _mm512_setzero_pd();
    l.last = _mm512_set1_pd(1.0);
  }
  for (std::int64_t k0 = 0; k0 < model.steps; k0 += kStepBlock) {
    const std::int64_t m = std::min(kStepBlock, model.steps - k0);
    philox4x32_normals(seed, stream, static_cast<std::uint64_t>(k0),
                       {z, static_cast<std::size_t>(m)});
    advance<Paths>(z, m, model.drift, model.vol, lanes);
    if (m == kStepBlock) ctx.check_cancelled();  // very long paths
  }
  const double n = static_cast<double>(model.steps);
  for (int p = 0; p < Paths; ++p) {
    out[p].mean_ratio = lane_sum(lanes[p].sum_ratio) / n;
    out[p].sum_log = lane_sum(lanes[p].sum_log);
    out[p].final_ratio = _mm512_cvtsd_f64(lanes[p].last);
  }
}

#else  // portable path: one step at a time

template <int Paths>
void simulate(const CallContext& ctx, const Model& model, std::uint64_t seed, std::uint64_t stream,
              double* z, PathSums* out) {
  double log_ratio[2] = {0, 0}, sum_ratio[2] = {0, 0}, sum_log[2] = {0, 0}, last[2] = {1, 1};
  const double b[2] = {model.vol, -model.vol};
  for (std::int64_t k0 = 0; k0 < model.steps; k0 += kStepBlock) {
    const std::int64_t m = std::min(kStepBlock, model.steps - k0);
    philox4x32_normals(seed, stream, static_cast<std::uint64_t>(k0),
                       {z, static_cast<std::size_t>(m)});
    for (int p = 0; p < Paths; ++p)
      for (std::int64_t k = 0; k < m; ++k) {
        log_ratio[p] += std::fma(b[p], z[k], model.drift);
        last[p] = std::exp(log_ratio[p]);
        sum_ratio[p] += last[p];
        sum_log[p] += log_ratio[p];
      }
    if (m == kStepBlock) ctx.check_cancelled();
  }
  for (int p = 0; p < Paths; ++p)
    out[p] = {sum_ratio[p] / static_cast<double>(model.steps), sum_log[p], last[p]};
}

#endif

// Discounted payoffs of one sample (a path, or the mean of an antithetic pair).
struct Payoffs {
  double asian, geometric, european;
};

Payoffs payoffs(const Model& m, const PathSums& s) {
  const double n = static_cast<double>(m.steps);
  return {m.discount * std::max(m.S0 * s.mean_ratio - m.K, 0.0),
          m.discount * std::max(m.S0 * std::exp(s.sum_log / n) - m.K, 0.0),
          m.discount * std::max(m.S0 * s.final_ratio - m.K, 0.0)};
}

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
  const std::int64_t chunk = std::clamp<std::int64_t>(kChunkSteps / model.steps, 1, kMaxChunk);
  ctx.progress().set_total(paths);

  const Moments total = deterministic_reduce(
      ctx, 0, samples, chunk, Moments{},
      [&](std::int64_t lo, std::int64_t hi) {
        std::array<Payoffs, kMaxChunk> pay;
        alignas(64) std::array<double, kStepBlock> z;
        for (std::int64_t i = lo; i < hi; ++i) {
          PathSums s[2];
          const auto stream = static_cast<std::uint64_t>(i);
          if (antithetic) {
            simulate<2>(ctx, model, seed, stream, z.data(), s);
            const Payoffs p = payoffs(model, s[0]), q = payoffs(model, s[1]);
            pay[static_cast<std::size_t>(i - lo)] = {0.5 * (p.asian + q.asian),
                                                     0.5 * (p.geometric + q.geometric),
                                                     0.5 * (p.european + q.european)};
          } else {
            simulate<1>(ctx, model, seed, stream, z.data(), s);
            pay[static_cast<std::size_t>(i - lo)] = payoffs(model, s[0]);
          }
        }
        ctx.progress().add((hi - lo) * per_sample);
        return moments_of(pay.data(), hi - lo);
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
      int_param("seed", 0, "Seed of the random numbers.").at_least(0),
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
  return k;
}

}  // namespace simhost
