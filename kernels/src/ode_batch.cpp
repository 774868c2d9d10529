// ode_batch: many independent small ODE systems (Lorenz, harmonic, SIR, Lotka-Volterra) at once.
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <immintrin.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/text.hpp"

#include "cpu_level.hpp"  // last: see there

// The lane arithmetic below has an AVX-512 form, an AVX2 form and a portable form that perform
// the very same IEEE operations (explicit fused multiply-adds, no reassociation), so all give
// the same bits. SIMHOST_ODE_PORTABLE forces the portable form (so does SIMHOST_CPU=generic).
#if SIMHOST_CPU_AVX512 && !defined(SIMHOST_ODE_PORTABLE)
#define SIMHOST_ODE_AVX512 1
#define SIMHOST_ODE_AVX2 0
#elif SIMHOST_CPU_AVX2 && !defined(SIMHOST_ODE_PORTABLE)
#define SIMHOST_ODE_AVX512 0
#define SIMHOST_ODE_AVX2 1
#else
#define SIMHOST_ODE_AVX512 0
#define SIMHOST_ODE_AVX2 0
#endif

SIMHOST_CPU_BEGIN
namespace simhost::SIMHOST_CPU_NS {

namespace {

// ------------------------------------------------------------------------------------------
// Eight lanes of doubles: one system per lane.
// ------------------------------------------------------------------------------------------

constexpr int kLanes = 8;

#if SIMHOST_ODE_AVX512

struct Vec {
  __m512d v;
};
using Mask = __mmask8;

inline Vec splat(double x) { return {_mm512_set1_pd(x)}; }
inline Vec load(const double* p) { return {_mm512_load_pd(p)}; }
inline void store(double* p, Vec a) { _mm512_store_pd(p, a.v); }
inline Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm512_div_pd(a.v, b.v)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }    // a b + c
inline Vec fms(Vec a, Vec b, Vec c) { return {_mm512_fmsub_pd(a.v, b.v, c.v)}; }    // a b - c
inline Vec fnma(Vec a, Vec b, Vec c) { return {_mm512_fnmadd_pd(a.v, b.v, c.v)}; }  // c - a b
inline Vec vabs(Vec a) { return {_mm512_abs_pd(a.v)}; }
inline Vec vsqrt(Vec a) { return {_mm512_maskz_sqrt_pd(0xFF, a.v)}; }
// max/min as x86 defines them: a > b ? a : b (b when either is NaN). The maskz forms avoid a
// false -Wmaybe-uninitialized in GCC 12's headers.
inline Vec vmax(Vec a, Vec b) { return {_mm512_maskz_max_pd(0xFF, a.v, b.v)}; }
inline Vec vmin(Vec a, Vec b) { return {_mm512_maskz_min_pd(0xFF, a.v, b.v)}; }
inline Mask lt(Vec a, Vec b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ); }
inline Mask le(Vec a, Vec b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LE_OQ); }
inline Mask ge(Vec a, Vec b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_GE_OQ); }
inline Vec select(Mask m, Vec a, Vec b) { return {_mm512_mask_blend_pd(m, b.v, a.v)}; }  // m ? a : b
// The bits of a as a signed integer, converted to double, and back (truncating).
inline Vec bits_as_double(Vec a) { return {_mm512_cvtepi64_pd(_mm512_castpd_si512(a.v))}; }
inline Vec double_as_bits(Vec a) { return {_mm512_castsi512_pd(_mm512_cvttpd_epi64(a.v))}; }

#elif SIMHOST_ODE_AVX2

// Eight lanes as two AVX2 registers; masks are the eight lane bits, as on AVX-512.
struct Vec {
  __m256d lo, hi;
};
using Mask = unsigned;

inline Vec splat(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
inline Vec load(const double* p) { return {_mm256_load_pd(p), _mm256_load_pd(p + 4)}; }
inline void store(double* p, Vec a) {
  _mm256_store_pd(p, a.lo);
  _mm256_store_pd(p + 4, a.hi);
}
inline Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
inline Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)}; }
inline Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)}; }
inline Vec operator/(Vec a, Vec b) { return {_mm256_div_pd(a.lo, b.lo), _mm256_div_pd(a.hi, b.hi)}; }
inline Vec fma(Vec a, Vec b, Vec c) {
  return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
inline Vec fms(Vec a, Vec b, Vec c) {
  return {_mm256_fmsub_pd(a.lo, b.lo, c.lo), _mm256_fmsub_pd(a.hi, b.hi, c.hi)};
}
inline Vec fnma(Vec a, Vec b, Vec c) {
  return {_mm256_fnmadd_pd(a.lo, b.lo, c.lo), _mm256_fnmadd_pd(a.hi, b.hi, c.hi)};
}
inline Vec vabs(Vec a) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  return {_mm256_andnot_pd(sign, a.lo), _mm256_andnot_pd(sign, a.hi)};
}
inline Vec vsqrt(Vec a) { return {_mm256_sqrt_pd(a.lo), _mm256_sqrt_pd(a.hi)}; }
// a > b ? a : b (b when either is NaN), as on AVX-512 and in the portable form.
inline Vec vmax(Vec a, Vec b) { return {_mm256_max_pd(a.lo, b.lo), _mm256_max_pd(a.hi, b.hi)}; }
inline Vec vmin(Vec a, Vec b) { return {_mm256_min_pd(a.lo, b.lo), _mm256_min_pd(a.hi, b.hi)}; }
template <int kPredicate>
inline Mask compare(Vec a, Vec b) {
  const auto lo = static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(a.lo, b.lo, kPredicate)));
  const auto hi = static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(a.hi, b.hi, kPredicate)));
  return lo | (hi << 4);
}
inline Mask lt(Vec a, Vec b) { return compare<_CMP_LT_OQ>(a, b); }
inline Mask le(Vec a, Vec b) { return compare<_CMP_LE_OQ>(a, b); }
inline Mask ge(Vec a, Vec b) { return compare<_CMP_GE_OQ>(a, b); }
inline Vec select(Mask m, Vec a, Vec b) {  // m ? a : b
  const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(m));
  const __m256i lo = _mm256_setr_epi64x(1, 2, 4, 8), hi = _mm256_setr_epi64x(16, 32, 64, 128);
  const __m256d in_lo = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(bits, lo), lo));
  const __m256d in_hi = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(bits, hi), hi));
  return {_mm256_blendv_pd(b.lo, a.lo, in_lo), _mm256_blendv_pd(b.hi, a.hi, in_hi)};
}
// AVX2 has no 64-bit integer <-> double conversions: one lane at a time (dopri5's step-size
// guess only).
inline Vec bits_as_double(Vec a) {
  alignas(32) std::int64_t b[kLanes];
  alignas(32) double d[kLanes];
  std::memcpy(b, &a, sizeof b);
  for (int l = 0; l < kLanes; ++l) d[l] = static_cast<double>(b[l]);
  return load(d);
}
inline Vec double_as_bits(Vec a) {
  alignas(32) double d[kLanes];
  store(d, a);
  alignas(32) std::int64_t b[kLanes];
  for (int l = 0; l < kLanes; ++l) b[l] = static_cast<std::int64_t>(d[l]);
  Vec r;
  std::memcpy(&r, b, sizeof r);
  return r;
}

#else

struct Vec {
  double v[kLanes];
};
using Mask = unsigned;

template <class F>
inline Vec lanewise(F f) {
  Vec r;
  for (int l = 0; l < kLanes; ++l) r.v[l] = f(l);
  return r;
}
template <class F>
inline Mask maskwise(F f) {
  Mask m = 0;
  for (int l = 0; l < kLanes; ++l) m |= f(l) ? (1u << l) : 0u;
  return m;
}
inline Vec splat(double x) { return lanewise([&](int) { return x; }); }
inline Vec load(const double* p) { return lanewise([&](int l) { return p[l]; }); }
inline void store(double* p, Vec a) { std::memcpy(p, a.v, sizeof a.v); }
inline Vec operator+(Vec a, Vec b) { return lanewise([&](int l) { return a.v[l] + b.v[l]; }); }
inline Vec operator-(Vec a, Vec b) { return lanewise([&](int l) { return a.v[l] - b.v[l]; }); }
inline Vec operator*(Vec a, Vec b) { return lanewise([&](int l) { return a.v[l] * b.v[l]; }); }
inline Vec operator/(Vec a, Vec b) { return lanewise([&](int l) { return a.v[l] / b.v[l]; }); }
inline Vec fma(Vec a, Vec b, Vec c) {
  return lanewise([&](int l) { return std::fma(a.v[l], b.v[l], c.v[l]); });
}
inline Vec fms(Vec a, Vec b, Vec c) {
  return lanewise([&](int l) { return std::fma(a.v[l], b.v[l], -c.v[l]); });
}
inline Vec fnma(Vec a, Vec b, Vec c) {
  return lanewise([&](int l) { return std::fma(-a.v[l], b.v[l], c.v[l]); });
}
inline Vec vabs(Vec a) { return lanewise([&](int l) { return std::fabs(a.v[l]); }); }
inline Vec vsqrt(Vec a) { return lanewise([&](int l) { return std::sqrt(a.v[l]); }); }
inline Vec vmax(Vec a, Vec b) {
  return lanewise([&](int l) { return a.v[l] > b.v[l] ? a.v[l] : b.v[l]; });
}
inline Vec vmin(Vec a, Vec b) {
  return lanewise([&](int l) { return a.v[l] < b.v[l] ? a.v[l] : b.v[l]; });
}
inline Mask lt(Vec a, Vec b) { return maskwise([&](int l) { return a.v[l] < b.v[l]; }); }
inline Mask le(Vec a, Vec b) { return maskwise([&](int l) { return a.v[l] <= b.v[l]; }); }
inline Mask ge(Vec a, Vec b) { return maskwise([&](int l) { return a.v[l] >= b.v[l]; }); }
inline Vec select(Mask m, Vec a, Vec b) {
  return lanewise([&](int l) { return (m >> l) & 1u ? a.v[l] : b.v[l]; });
}
inline Vec bits_as_double(Vec a) {
  return lanewise([&](int l) {
    std::int64_t b;
    std::memcpy(&b, &a.v[l], sizeof b);
    return static_cast<double>(b);
  });
}
inline Vec double_as_bits(Vec a) {
  return lanewise([&](int l) {
    const auto b = static_cast<std::int64_t>(a.v[l]);
    double d;
    std::memcpy(&d, &b, sizeof d);
    return d;
  });
}

#endif

// ------------------------------------------------------------------------------------------
// The systems. Each has D state components, P parameters (the columns of `p`, in this order),
// and a right-hand side written once for eight lanes. All are autonomous: f depends on y only.
// ------------------------------------------------------------------------------------------

struct Lorenz {
  static constexpr int D = 3, P = 3;
  struct Coef {
    Vec sigma, rho, beta;
  };
  static Coef prepare(const Vec* p) { return {p[0], p[1], p[2]}; }
  static void rhs(const Coef& c, const Vec* y, Vec* f) {
    f[0] = c.sigma * (y[1] - y[0]);           // sigma (y - x)
    f[1] = fms(y[0], c.rho - y[2], y[1]);     // x (rho - z) - y
    f[2] = fms(y[0], y[1], c.beta * y[2]);    // x y - beta z
  }
};

struct Harmonic {
  static constexpr int D = 2, P = 1;
  struct Coef {
    Vec minus_omega2;
  };
  static Coef prepare(const Vec* p) { return {splat(0.0) - p[0] * p[0]}; }
  static void rhs(const Coef& c, const Vec* y, Vec* f) {
    f[0] = y[1];                 // dx/dt = v
    f[1] = c.minus_omega2 * y[0];  // dv/dt = -omega^2 x
  }
};

struct Sir {
  static constexpr int D = 3, P = 2;
  struct Coef {
    Vec beta, gamma;
  };
  static Coef prepare(const Vec* p) { return {p[0], p[1]}; }
  static void rhs(const Coef& c, const Vec* y, Vec* f) {
    const Vec n = (y[0] + y[1]) + y[2];
    const Vec infection = (c.beta * y[0]) * y[1] / n;  // beta S I / N
    const Vec recovery = c.gamma * y[1];              // gamma I
    f[0] = splat(0.0) - infection;
    f[1] = infection - recovery;
    f[2] = recovery;
  }
};

struct LotkaVolterra {
  static constexpr int D = 2, P = 4;
  struct Coef {
    Vec alpha, beta, gamma, delta;
  };
  static Coef prepare(const Vec* p) { return {p[0], p[1], p[2], p[3]}; }
  static void rhs(const Coef& c, const Vec* y, Vec* f) {
    f[0] = y[0] * fnma(c.beta, y[1], c.alpha);  // x (alpha - beta y)
    f[1] = y[1] * fms(c.delta, y[0], c.gamma);  // y (delta x - gamma)
  }
};

// What the user sees of each system: names, state, parameters and their defaults.
struct SystemInfo {
  std::string_view name;
  int d;
  std::vector<std::string> state;
  std::vector<std::string> params;
  std::vector<double> defaults;
};

const std::vector<SystemInfo>& systems() {
  static const std::vector<SystemInfo> list = {
      {"lorenz", 3, {"x", "y", "z"}, {"sigma", "rho", "beta"}, {10.0, 28.0, 8.0 / 3.0}},
      {"harmonic", 2, {"x", "v"}, {"omega"}, {1.0}},
      {"sir", 3, {"S", "I", "R"}, {"beta", "gamma"}, {0.3, 0.1}},
      {"lotka_volterra", 2, {"x", "y"}, {"alpha", "beta", "gamma", "delta"},
       {2.0 / 3.0, 4.0 / 3.0, 1.0, 1.0}},
  };
  return list;
}

// Every named scalar parameter of any system, in signature order.
const std::vector<std::string>& scalar_param_names() {
  static const std::vector<std::string> names = {"sigma", "rho",   "beta", "omega",
                                                 "gamma", "alpha", "delta"};
  return names;
}

const SystemInfo& system_info(std::string_view name) {
  for (const auto& s : systems())
    if (s.name == name) return s;
  throw KernelError(fmt::format("ode_batch(): no system '{}'", name));  // bind() refuses earlier
}

// ------------------------------------------------------------------------------------------
// One call's inputs and outputs, and the first failure (lowest system index) of the call.
// ------------------------------------------------------------------------------------------

struct Job {
  std::int64_t m = 0;
  const double* y0 = nullptr;  // (M, D)
  const double* p = nullptr;   // (M, P), or null: the scalars below for every system
  std::array<double, 4> scalars{};
  double t0 = 0, dt = 0, rtol = 0, atol = 0;
  std::int64_t steps = 0, save_every = 0;
  double* y = nullptr;     // (M, D)
  double* traj = nullptr;  // (K, M, D), or null
};

// Which system failed is reported deterministically: every tile reports its lowest failing
// system and the lowest over the call wins, whatever order the threads finish in.
class FirstFailure {
 public:
  void report(std::int64_t system, std::string message) {
    std::lock_guard lock(m_mutex);
    if (system < m_system) {
      m_system = system;
      m_message = std::move(message);
    }
  }
  void throw_if_any() const {
    if (m_system != std::numeric_limits<std::int64_t>::max()) throw KernelError(m_message);
  }

 private:
  std::mutex m_mutex;
  std::int64_t m_system = std::numeric_limits<std::int64_t>::max();
  std::string m_message;
};

// Loads `width` columns of rows first .. first+count-1 of a row-major array into lanes (one row
// per lane); lanes past `count` repeat row `pad`, so they compute something harmless.
inline void load_rows(const double* rows, int width, std::int64_t first, int count,
                      std::int64_t pad, Vec* out) {
  alignas(64) double buf[4][kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const std::int64_t row = l < count ? first + l : pad;
    for (int c = 0; c < width; ++c) buf[c][l] = rows[row * width + c];
  }
  for (int c = 0; c < width; ++c) out[c] = load(buf[c]);
}

inline void store_rows(double* rows, int width, std::int64_t first, int count, const Vec* in) {
  alignas(64) double buf[4][kLanes];
  for (int c = 0; c < width; ++c) store(buf[c], in[c]);
  for (int l = 0; l < count; ++l)
    for (int c = 0; c < width; ++c) rows[(first + l) * width + c] = buf[c][l];
}

// The tile's parameter coefficients for 8 lanes starting at system `first`.
template <class Sys>
typename Sys::Coef load_coef(const Job& job, std::int64_t first, int count, std::int64_t pad) {
  Vec raw[Sys::P];
  if (job.p) {
    load_rows(job.p, Sys::P, first, count, pad, raw);
  } else {
    for (int j = 0; j < Sys::P; ++j) raw[j] = splat(job.scalars[static_cast<std::size_t>(j)]);
  }
  return Sys::prepare(raw);
}

// The lowest lane (< count) whose state is not finite, or -1.
template <int D>
int first_nonfinite(const Vec* y, int count) {
  alignas(64) double buf[D][kLanes];
  for (int c = 0; c < D; ++c) store(buf[c], y[c]);
  for (int l = 0; l < count; ++l)
    for (int c = 0; c < D; ++c)
      if (!std::isfinite(buf[c][l])) return l;
  return -1;
}

template <int D>
std::string state_text(const Vec* y, int lane) {
  alignas(64) double buf[D][kLanes];
  for (int c = 0; c < D; ++c) store(buf[c], y[c]);
  std::string out = "[";
  for (int c = 0; c < D; ++c) out += (c ? ", " : "") + number_text(buf[c][lane]);
  return out + "]";
}

// Steps between cancellation checks and progress updates inside one tile's time loop.
constexpr std::int64_t kStepBlock = 2048;

// min(a + b, limit) for 0 <= a <= limit and b >= 0, without forming a + b (which overflows
// when steps are near 2^63).
inline std::int64_t advance(std::int64_t a, std::int64_t b, std::int64_t limit) {
  return limit - a > b ? a + b : limit;
}

// a * b for progress counts (non-negative), 2^63 - 1 when it is larger.
inline std::int64_t count_product(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<std::int64_t>::max() : r;
}

// ------------------------------------------------------------------------------------------
// Classic fourth-order Runge-Kutta, R registers (8 R systems) per tile, all steps at once.
// ------------------------------------------------------------------------------------------

template <class Sys, int R>
void rk4_tile(CallContext& ctx, const Job& job, std::int64_t first, int count,
              FirstFailure& failure) {
  constexpr int D = Sys::D;
  const std::int64_t mk = job.m * D;  // doubles per trajectory frame
  Vec y[R][D], k[R][D], acc[R][D], tmp[R][D];
  typename Sys::Coef coef[R];
  int lanes[R];
  for (int r = 0; r < R; ++r) {
    lanes[r] = std::clamp(count - r * kLanes, 0, kLanes);
    load_rows(job.y0, D, first + r * kLanes, lanes[r], first, y[r]);
    coef[r] = load_coef<Sys>(job, first + r * kLanes, lanes[r], first);
  }
  auto save = [&](std::int64_t frame) {
    for (int r = 0; r < R; ++r)
      store_rows(job.traj + frame * mk, D, first + r * kLanes, lanes[r], y[r]);
  };
  if (job.save_every > 0) save(0);

  const Vec h = splat(job.dt), half_h = splat(0.5 * job.dt), h6 = splat(job.dt / 6.0);
  const Vec two = splat(2.0);
  std::int64_t until_save = job.save_every;
  for (std::int64_t n = 0; n < job.steps;) {
    const std::int64_t block_end = advance(n, kStepBlock, job.steps);
    const std::int64_t block_steps = block_end - n;
    for (; n < block_end; ++n) {
      // The stages of all R registers are interleaved: R independent dependency chains.
      for (int r = 0; r < R; ++r) Sys::rhs(coef[r], y[r], k[r]);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < D; ++c) {
          acc[r][c] = k[r][c];
          tmp[r][c] = fma(half_h, k[r][c], y[r][c]);
        }
      for (int r = 0; r < R; ++r) Sys::rhs(coef[r], tmp[r], k[r]);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < D; ++c) {
          acc[r][c] = fma(two, k[r][c], acc[r][c]);
          tmp[r][c] = fma(half_h, k[r][c], y[r][c]);
        }
      for (int r = 0; r < R; ++r) Sys::rhs(coef[r], tmp[r], k[r]);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < D; ++c) {
          acc[r][c] = fma(two, k[r][c], acc[r][c]);
          tmp[r][c] = fma(h, k[r][c], y[r][c]);
        }
      for (int r = 0; r < R; ++r) Sys::rhs(coef[r], tmp[r], k[r]);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < D; ++c) y[r][c] = fma(h6, acc[r][c] + k[r][c], y[r][c]);
      if (--until_save == 0) {
        save((n + 1) / job.save_every);
        until_save = job.save_every;
      }
    }
    ctx.progress().add(count * block_steps);
    if (n < job.steps) ctx.check_cancelled();
  }
  for (int r = 0; r < R; ++r) {
    store_rows(job.y, D, first + r * kLanes, lanes[r], y[r]);
    if (const int bad = first_nonfinite<D>(y[r], lanes[r]); bad >= 0) {
      failure.report(first + r * kLanes + bad,
                     fmt::format("ode_batch(): system {} became non-finite with rk4 (final state "
                                 "{}): dt = {} is too large for it to be stable; reduce dt or use "
                                 "method='dopri5'",
                                 first + r * kLanes + bad, state_text<D>(y[r], bad),
                                 number_text(job.dt)));
      break;  // registers are in system order: the first bad one holds the lowest index
    }
  }
}

// ------------------------------------------------------------------------------------------
// Dormand-Prince 5(4) with per-system adaptive steps, 8 systems per tile.
// ------------------------------------------------------------------------------------------

// Dormand & Prince (1980), as in Hairer, Norsett & Wanner, Solving ODEs I, table 5.2.
constexpr double a21 = 1.0 / 5.0;
constexpr double a31 = 3.0 / 40.0, a32 = 9.0 / 40.0;
constexpr double a41 = 44.0 / 45.0, a42 = -56.0 / 15.0, a43 = 32.0 / 9.0;
constexpr double a51 = 19372.0 / 6561.0, a52 = -25360.0 / 2187.0, a53 = 64448.0 / 6561.0,
                 a54 = -212.0 / 729.0;
constexpr double a61 = 9017.0 / 3168.0, a62 = -355.0 / 33.0, a63 = 46732.0 / 5247.0,
                 a64 = 49.0 / 176.0, a65 = -5103.0 / 18656.0;
constexpr double b1 = 35.0 / 384.0, b3 = 500.0 / 1113.0, b4 = 125.0 / 192.0,
                 b5 = -2187.0 / 6784.0, b6 = 11.0 / 84.0;
// e = b(5th order) - b(4th order): the local error estimate h sum_j e_j k_j.
constexpr double e1 = 71.0 / 57600.0, e3 = -71.0 / 16695.0, e4 = 71.0 / 1920.0,
                 e5 = -17253.0 / 339200.0, e6 = 22.0 / 525.0, e7 = -1.0 / 40.0;

// Step-size control (Hairer's DOPRI5 defaults without the PI term, as scipy's RK45):
// h_new = h * clamp(0.9 err^(-1/5), 0.2, 10), and at most h after a rejected step.
constexpr double kSafety = 0.9, kFacMin = 0.2, kFacMax = 10.0;
// err is clamped to where the factor is not clamped anyway, [(0.9/10)^5, (0.9/0.2)^5].
constexpr double kErrLow = 5.9049e-6, kErrHigh = 1845.28125;

// err^(-1/5) for err in [kErrLow, kErrHigh]: a guess from the exponent bits (within 7.4%),
// then four division-free Newton steps on x^-5 = err (relative errors after each: 1.8e-2,
// 9.3e-4, 2.6e-6, ~2e-11). The same IEEE operations on every CPU, so the step sizes, and
// hence the results, are too.
inline Vec inverse_fifth_root(Vec err) {
  // bits(x) ~ 1.2 * 1023 * 2^52 - bits(err) / 5.
  constexpr double kMagic = 1.2 * 1023.0 * 4503599627370496.0;
  Vec x = double_as_bits(fnma(splat(0.2), bits_as_double(err), splat(kMagic)));
  for (int i = 0; i < 4; ++i) {
    const Vec x2 = x * x;
    const Vec x5 = (x2 * x2) * x;
    x = x * fnma(splat(0.2), err * x5, splat(1.2));  // x (1.2 - 0.2 err x^5)
  }
  return x;
}

template <class Sys>
void dopri5_tile(CallContext& ctx, const Job& job, std::int64_t first, int count,
                 FirstFailure& failure) {
  constexpr int D = Sys::D;
  const std::int64_t mk = job.m * D;
  Vec y[D], k1[D], k2[D], k3[D], k4[D], k5[D], k6[D], k7[D], s[D], yn[D];
  load_rows(job.y0, D, first, count, first, y);
  const typename Sys::Coef coef = load_coef<Sys>(job, first, count, first);
  if (job.save_every > 0) store_rows(job.traj, D, first, count, y);
  if (job.steps == 0) {
    store_rows(job.y, D, first, count, y);
    return;
  }

  const Vec rtol = splat(job.rtol), atol = splat(job.atol), zero = splat(0.0);
  const Vec inv_d = splat(1.0 / D);
  // Steps below this are taken as failure: the system is stiff or its solution diverges.
  const double span = static_cast<double>(job.steps) * job.dt;
  Sys::rhs(coef, y, k1);
  Vec t = splat(job.t0);
  Vec h = splat(job.dt);     // the step the controller proposes next, per lane
  Mask after_reject = 0;     // lanes whose last attempt was rejected
  Mask dead = 0;             // lanes that failed (step size underflow)
  Vec dead_t = zero, dead_h = zero;
  std::int64_t attempts = 0, reported_steps = 0;

  // Output points: every save point, and the last step.
  const std::int64_t stride = job.save_every > 0 ? job.save_every : job.steps;
  for (std::int64_t target = std::min(stride, job.steps);;
       target = advance(target, stride, job.steps)) {
    const double t_out_s = job.t0 + static_cast<double>(target) * job.dt;
    const Vec t_out = splat(t_out_s);
    const Vec h_min = splat(16.0 * DBL_EPSILON * std::max(std::fabs(t_out_s), span));
    Mask active = static_cast<Mask>(lt(t, t_out) & ~dead);
    while (active) {
      const Vec remaining = t_out - t;
      const Mask lands = ge(h, remaining);
      const Vec hs = select(active, select(lands, remaining, h), zero);  // idle lanes: h = 0
      for (int c = 0; c < D; ++c) s[c] = fma(hs, splat(a21) * k1[c], y[c]);
      Sys::rhs(coef, s, k2);
      for (int c = 0; c < D; ++c) s[c] = fma(hs, fma(splat(a32), k2[c], splat(a31) * k1[c]), y[c]);
      Sys::rhs(coef, s, k3);
      for (int c = 0; c < D; ++c)
        s[c] = fma(hs, fma(splat(a43), k3[c], fma(splat(a42), k2[c], splat(a41) * k1[c])), y[c]);
      Sys::rhs(coef, s, k4);
      for (int c = 0; c < D; ++c)
        s[c] = fma(hs,
                   fma(splat(a54), k4[c],
                       fma(splat(a53), k3[c], fma(splat(a52), k2[c], splat(a51) * k1[c]))),
                   y[c]);
      Sys::rhs(coef, s, k5);
      for (int c = 0; c < D; ++c)
        s[c] = fma(hs,
                   fma(splat(a65), k5[c],
                       fma(splat(a64), k4[c],
                           fma(splat(a63), k3[c], fma(splat(a62), k2[c], splat(a61) * k1[c])))),
                   y[c]);
      Sys::rhs(coef, s, k6);
      for (int c = 0; c < D; ++c)
        yn[c] = fma(hs,
                    fma(splat(b6), k6[c],
                        fma(splat(b5), k5[c],
                            fma(splat(b4), k4[c], fma(splat(b3), k3[c], splat(b1) * k1[c])))),
                    y[c]);
      Sys::rhs(coef, yn, k7);  // first stage of the next step (FSAL)
      Vec sum = zero;
      for (int c = 0; c < D; ++c) {
        const Vec e =
            hs * fma(splat(e7), k7[c],
                     fma(splat(e6), k6[c],
                         fma(splat(e5), k5[c],
                             fma(splat(e4), k4[c], fma(splat(e3), k3[c], splat(e1) * k1[c])))));
        const Vec scale = fma(rtol, vmax(vabs(y[c]), vabs(yn[c])), atol);
        const Vec q = e / scale;
        sum = fma(q, q, sum);
      }
      const Vec err = vsqrt(sum * inv_d);
      const Mask ok = static_cast<Mask>(le(err, splat(1.0)) & active);

      // NaN errors fall to kErrHigh (the smallest factor), never to kErrLow.
      const Vec err_c = select(le(err, splat(kErrHigh)), vmax(err, splat(kErrLow)), splat(kErrHigh));
      Vec fac = splat(kSafety) * inverse_fifth_root(err_c);
      fac = vmin(fac, select(after_reject, splat(1.0), splat(kFacMax)));
      fac = vmax(fac, splat(kFacMin));
      const Vec h_new = hs * fac;

      const Mask landed = static_cast<Mask>(ok & lands);
      t = select(landed, t_out, select(ok, t + hs, t));
      for (int c = 0; c < D; ++c) {
        y[c] = select(ok, yn[c], y[c]);
        k1[c] = select(ok, k7[c], k1[c]);
      }
      // A step cut short to land on an output time does not shrink the next one.
      h = select(active, select(landed, vmax(h_new, h), h_new), h);
      after_reject = static_cast<Mask>((after_reject & ~active) | (active & ~ok));
      const Mask fails = static_cast<Mask>(active & lt(h, h_min));
      if (fails) {
        dead_t = select(fails, t, dead_t);
        dead_h = select(fails, h, dead_h);
        dead = static_cast<Mask>(dead | fails);
      }
      active = static_cast<Mask>(active & ~landed & ~fails);
      if ((++attempts & 255) == 0) ctx.check_cancelled();
    }
    if (job.save_every > 0 && target % job.save_every == 0)
      store_rows(job.traj + (target / job.save_every) * mk, D, first, count, y);
    ctx.progress().add(count_product(count, target - reported_steps));
    reported_steps = target;
    if (target == job.steps) break;
    ctx.check_cancelled();
  }
  store_rows(job.y, D, first, count, y);

  int bad = -1;
  for (int l = 0; l < count && bad < 0; ++l)
    if ((dead >> l) & 1u) bad = l;
  if (bad >= 0) {
    alignas(64) double tt[kLanes], hh[kLanes];
    store(tt, dead_t);
    store(hh, dead_h);
    failure.report(first + bad,
                   fmt::format("ode_batch(): dopri5 could not integrate system {} past t = {}: "
                               "the step size fell to {} (the system is stiff there or its "
                               "solution diverges); its state is {}",
                               first + bad, number_text(tt[bad]), number_text(hh[bad]),
                               state_text<D>(y, bad)));
  } else if (const int nf = first_nonfinite<D>(y, count); nf >= 0) {
    failure.report(first + nf, fmt::format("ode_batch(): system {} became non-finite with dopri5 "
                                           "(final state {})",
                                           first + nf, state_text<D>(y, nf)));
  }
}

// ------------------------------------------------------------------------------------------
// Driver
// ------------------------------------------------------------------------------------------

// Registers per rk4 tile (8 R systems): R independent dependency chains hide the latency of
// each step's. Lorenz on one Zen 5 core ran at 1.98, 1.02, 0.83, 0.83-0.89 ns per system-step
// for R = 1, 2, 3, 4; R = 4 was as fast or faster for the other systems. In AVX2 a lane group
// takes two registers, and R = 2 was fastest (Lorenz, 1e5 x 1000 on two Zen cores: 155-162 ms
// at 2 threads, R = 3 181-188, R = 4 194).
constexpr int kRk4Registers = SIMHOST_ODE_AVX2 ? 2 : 4;
// System-steps per parallel chunk (~1 ms of work): fine enough for 0.5 s cancellation and load
// balance, coarse enough that scheduling costs nothing. Chunks never change results.
constexpr std::int64_t kChunkWork = std::int64_t{1} << 20;

template <class Sys>
void integrate(CallContext& ctx, const Job& job, const std::string& method,
               FirstFailure& failure) {
  const bool rk4 = method == "rk4";
  const int tile = rk4 ? kRk4Registers * kLanes : kLanes;
  const std::int64_t tiles = (job.m + tile - 1) / tile;
  // kChunkWork / (tile * steps) without the product, which overflows (and can wrap to 0, a
  // division by zero) for steps near 2^63: floor(a / (b c)) = floor(floor(a / b) / c).
  const std::int64_t grain =
      std::clamp<std::int64_t>(kChunkWork / tile / std::max<std::int64_t>(job.steps, 1), 1, 64);
  parallel_for(ctx, 0, tiles, grain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::int64_t first = i * tile;
      const int count = static_cast<int>(std::min<std::int64_t>(tile, job.m - first));
      if (rk4) rk4_tile<Sys, kRk4Registers>(ctx, job, first, count, failure);
      else dopri5_tile<Sys>(ctx, job, first, count, failure);
    }
  });
}

std::int64_t frames(const Args& args) {
  const std::int64_t every = args.i64("save_every");
  return every > 0 ? size_add(args.i64("steps") / every, 1) : 0;  // 2^63 for steps = 2^63 - 1
}

void run_ode_batch(CallContext& ctx) {
  const Args& args = ctx.args();
  const SystemInfo& info = system_info(args.str("system"));
  Job job;
  job.m = args.size("M");
  job.y0 = args.array("y0").as<double>().data();
  if (args.has("p")) job.p = args.array("p").as<double>().data();
  for (std::size_t j = 0; j < info.params.size(); ++j)
    job.scalars[j] = args.has(info.params[j]) ? args.f64(info.params[j]) : info.defaults[j];
  job.t0 = args.f64("t0");
  job.dt = args.f64("dt");
  job.steps = args.i64("steps");
  job.save_every = args.i64("save_every");
  job.rtol = args.f64("rtol");
  job.atol = args.f64("atol");
  job.y = ctx.output<double>("y").data();
  auto t_out = ctx.output<double>("t");
  auto traj = ctx.output<double>("trajectory");
  job.traj = traj.empty() ? nullptr : traj.data();
  for (std::size_t k = 0; k < t_out.size(); ++k)
    t_out[k] = job.t0 + static_cast<double>(static_cast<std::int64_t>(k) * job.save_every) * job.dt;

  ctx.progress().set_total(count_product(job.m, job.steps));
  FirstFailure failure;
  const std::string& method = args.str("method");
  if (info.name == "lorenz") integrate<Lorenz>(ctx, job, method, failure);
  else if (info.name == "harmonic") integrate<Harmonic>(ctx, job, method, failure);
  else if (info.name == "sir") integrate<Sir>(ctx, job, method, failure);
  else integrate<LotkaVolterra>(ctx, job, method, failure);
  failure.throw_if_any();
}

// Cross-parameter rules: the state size and parameters must fit the chosen system.
void check_ode_batch(const Args& args) {
  const SystemInfo& info = system_info(args.str("system"));
  const std::string quoted_state = quoted_list(info.state, " and ");
  const std::int64_t d = args.size("d");
  if (d != info.d)
    throw ArgumentValueError(fmt::format(
        "ode_batch(): parameter 'y0' expects shape (M, {}) for system '{}' (state {}), got {}",
        info.d, info.name, quoted_state, sizes_text(args.array("y0").shape)));

  std::vector<std::string> given;
  for (const auto& name : scalar_param_names())
    if (args.has(name)) {
      if (std::find(info.params.begin(), info.params.end(), name) == info.params.end())
        throw ArgumentValueError(fmt::format(
            "ode_batch(): parameter '{}' does not apply to system '{}', whose parameters are {}",
            name, info.name, quoted_list(info.params, " and ")));
      given.push_back(name);
    }
  if (args.has("p")) {
    const auto& shape = args.array("p").shape;
    if (shape[1] != static_cast<std::int64_t>(info.params.size()))
      throw ArgumentValueError(fmt::format(
          "ode_batch(): parameter 'p' expects shape (M, {}) for system '{}' (columns {}), got {}",
          info.params.size(), info.name, quoted_list(info.params, ", "), sizes_text(shape)));
    if (!given.empty())
      throw ArgumentValueError(fmt::format(
          "ode_batch(): give the parameters of system '{}' either per system in 'p' or as "
          "scalars, not both (got 'p' and {})",
          info.name, quoted_list(given, " and ")));
  }

  if (info.name == "sir") {
    // N = S + I + R divides the infection rate; it is conserved, so it must start positive.
    const double* y0 = args.array("y0").as<double>().data();
    for (std::int64_t i = 0; i < args.size("M"); ++i) {
      const double n = (y0[3 * i] + y0[3 * i + 1]) + y0[3 * i + 2];
      if (!(n > 0))
        throw ArgumentValueError(fmt::format(
            "ode_batch(): system 'sir' needs a population N = S + I + R > 0 in every row of "
            "'y0'; row {} has N = {}",
            i, number_text(n)));
    }
  }
}

std::string systems_doc() {
  return R"(Systems (state in the columns of y0; parameters in the columns of p, with defaults):
  lorenz          y = (x, y, z)   dx/dt = sigma (y - x), dy/dt = x (rho - z) - y,
                                  dz/dt = x y - beta z
                  p = (sigma, rho, beta), defaults (10, 28, 8/3); units 1/time, 1, 1/time
  harmonic        y = (x, v)      dx/dt = v, dv/dt = -omega^2 x
                  p = (omega,), default (1,); unit rad/time
  sir             y = (S, I, R)   dS/dt = -beta S I / N, dI/dt = beta S I / N - gamma I,
                                  dR/dt = gamma I, with N = S + I + R (conserved; must be > 0)
                  p = (beta, gamma), defaults (0.3, 0.1); units 1/time
                  (S, I, R may be counts or fractions: only their ratios to N matter)
  lotka_volterra  y = (x, y)      dx/dt = alpha x - beta x y (prey),
                                  dy/dt = delta x y - gamma y (predators)
                  p = (alpha, beta, gamma, delta), defaults (2/3, 4/3, 1, 1);
                  units 1/time, 1/(time population), 1/time, 1/(time population)

System parameters: leave them out for the defaults above; give the ones to change as scalars
(ode_batch(system='lorenz', rho=99.96, ...)), the same for every system; or give all of them
per system as p, shape (M, P), row i for system i (e.g. a sweep of rho over the M systems).
A scalar that does not belong to the chosen system, a p whose P does not match, or p together
with scalars is refused.

Methods:
  rk4     classic fourth-order Runge-Kutta, `steps` fixed steps of dt.
  dopri5  Dormand-Prince 5(4) (the method of scipy's RK45 and Hairer's DOPRI5), each system
          adapting its own step: it integrates from t0 to t0 + steps*dt, landing exactly on
          the output times t0 + k*save_every*dt and on t0 + steps*dt, with as many adaptive
          substeps in between as the tolerance needs. dt is the grid spacing and the first
          trial step. A step is accepted when sqrt(mean_i (e_i / (atol + rtol max(|y_i|,
          |y_new_i|)))^2) <= 1, e_i being the embedded error estimate; the next step is
          h * clamp(0.9 err^(-1/5), 0.2, 10) (at most h right after a rejection). The
          5th-order solution is propagated. rtol and atol are ignored by rk4.

Outputs: y is the state at t0 + steps*dt. With save_every = s > 0, trajectory[k] is the state
at t[k] = t0 + (k*s)*dt for k = 0 .. steps // s (K = steps // s + 1 frames, the initial state
first; when s does not divide steps the final state is only in y). With save_every = 0, t and
trajectory are empty (K = 0).

Failure: a system whose state becomes inf/NaN (rk4 with too large a dt), or whose dopri5 step
size falls below 16 eps max(|t|, steps*dt), raises simhost.KernelError naming the lowest such
system index.

Each system is integrated alone, 8 systems per AVX-512 register or pair of AVX2 registers
(rk4 tiles of 32 or 16 systems, kept in registers for all steps), in a fixed order of
operations with fused multiply-adds: results are bit-identical at any thread count and on
every CPU path (AVX-512, AVX2, portable).
Progress is counted in system-steps (M * steps in all).)";
}

}  // namespace

KernelDef ode_batch_kernel() {
  KernelDef k;
  k.name = "ode_batch";
  k.summary = "Many independent small ODE systems (Lorenz, harmonic, SIR, Lotka-Volterra) at once, "
              "rk4 or adaptive dopri5.";
  k.doc = systems_doc();
  k.progress_unit = "system-steps";
  const Dim M = Dim::named("M"), d = Dim::named("d"), P = Dim::named("P"), K = Dim::named("K");
  std::vector<std::string> names;
  for (const auto& s : systems()) names.emplace_back(s.name);
  k.params = {
      string_param("system", std::nullopt, names, "Which ODE system every row of y0 follows."),
      array_param("y0", {M, d}, "state units (see the systems)",
                  "Initial states, one system per row; d = 3 for lorenz and sir, 2 for harmonic "
                  "and lotka_volterra."),
      float_param("t0", 0.0, "time", "Initial time."),
      float_param("dt", std::nullopt, "time",
                  "rk4: the step. dopri5: the output grid spacing and the first trial step.")
          .above(0),
      int_param("steps", std::nullopt, "Number of dt intervals: the run ends at t0 + steps*dt.")
          .at_least(0),
      string_param("method", "rk4", {"rk4", "dopri5"},
                   "rk4 (fixed steps) or dopri5 (adaptive, per system)."),
      float_param("rtol", 1e-8, "", "dopri5 relative tolerance (per step, per component).")
          .above(0),
      float_param("atol", 1e-10, "state units", "dopri5 absolute tolerance.").above(0),
      int_param("save_every", 0,
                "Save the state every this many dt intervals into trajectory (0: no trajectory).")
          .at_least(0),
      optional(float_param("sigma", std::nullopt, "1/time", "lorenz: sigma (default 10).")),
      optional(float_param("rho", std::nullopt, "", "lorenz: rho (default 28).")),
      optional(float_param("beta", std::nullopt, "1/time; lotka_volterra: 1/(time population)",
                           "lorenz: beta (default 8/3); sir: infection rate (default 0.3); "
                           "lotka_volterra: predation rate (default 4/3).")),
      optional(float_param("omega", std::nullopt, "rad/time",
                           "harmonic: angular frequency (default 1).")),
      optional(float_param("gamma", std::nullopt, "1/time",
                           "sir: recovery rate (default 0.1); lotka_volterra: predator death "
                           "rate (default 1).")),
      optional(float_param("alpha", std::nullopt, "1/time",
                           "lotka_volterra: prey growth rate (default 2/3).")),
      optional(float_param("delta", std::nullopt, "1/(time population)",
                           "lotka_volterra: predator growth per prey (default 1).")),
      optional(array_param("p", {M, P}, "as the scalars",
                           "Per-system parameters, row i for system i, columns in the order "
                           "listed for the system (lorenz: sigma, rho, beta). Replaces the "
                           "scalars.")),
  };
  OutputSpec t = array_output("t", {K}, "time", "Output times t0 + k*save_every*dt (K of them).");
  t.shape_fn = [](const Args& args) { return std::vector<std::int64_t>{frames(args)}; };
  t.sized_by = {"steps", "save_every"};
  OutputSpec traj = array_output("trajectory", {K, M, d}, "state units",
                                 "States at the output times; K = steps // save_every + 1, or 0 "
                                 "when save_every = 0.");
  traj.shape_fn = [](const Args& args) {
    return std::vector<std::int64_t>{frames(args), args.size("M"), args.size("d")};
  };
  traj.sized_by = {"steps", "save_every", "y0"};
  k.outputs = {
      array_output("y", {M, d}, "state units", "Final states, at t0 + steps*dt."),
      std::move(t),
      std::move(traj),
  };
  k.check = check_ode_batch;
  k.run = run_ode_batch;
  k.example = [] {
    // Four Lorenz systems near the attractor, a frame every 5 steps.
    OwnedArgs a;
    a.set("system", std::string("lorenz"));
    a.array<double>("y0", {4, 3},
                    {1.0, 1.0, 1.0, -1.0, 2.0, 20.0, 5.0, 5.0, 25.0, -8.0, -8.0, 27.0});
    a.set("dt", 0.01).set("steps", std::int64_t{20}).set("save_every", std::int64_t{5});
    return a;
  };
  return k;
}

}  // namespace simhost::SIMHOST_CPU_NS
SIMHOST_CPU_END
