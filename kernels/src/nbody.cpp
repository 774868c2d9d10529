// nbody: direct-summation softened gravity, kick-drift-kick leapfrog.
#include <cmath>
#include <cstring>

#include <Eigen/Core>
#include <fmt/format.h>

#include <immintrin.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/text.hpp"

#include "cpu_level.hpp"  // last: see there

SIMHOST_CPU_BEGIN
namespace simhost::SIMHOST_CPU_NS {

namespace {

// Bodies per parallel chunk. Fixed, so the energy sums are split the same way at any thread
// count; small enough that cancellation is seen within milliseconds even at large N.
constexpr std::int64_t kChunk = 32;

using Rows3 = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, 3, Eigen::RowMajor>>;
using ConstRows3 = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, 3, Eigen::RowMajor>>;

// Acceleration (without the factor G) and potential sum phi_i = sum_{j != i} m_j / r_ij of the
// bodies i0 .. i0+B-1, against every body. Each body's sums run over j in a fixed order, so
// they do not depend on which thread computes them.
struct Field {
  double a[3];
  double phi;
};

#if SIMHOST_CPU_AVX512

// Eight bodies' coordinates from 24 interleaved doubles (x0 y0 z0 x1 ...).
inline void deinterleave(__m512d v0, __m512d v1, __m512d v2, __m512d& x, __m512d& y, __m512d& z) {
  const __m512i xa = _mm512_set_epi64(0, 0, 15, 12, 9, 6, 3, 0);
  const __m512i xb = _mm512_set_epi64(13, 10, 5, 4, 3, 2, 1, 0);
  const __m512i ya = _mm512_set_epi64(0, 0, 0, 13, 10, 7, 4, 1);
  const __m512i yb = _mm512_set_epi64(14, 11, 8, 4, 3, 2, 1, 0);
  const __m512i za = _mm512_set_epi64(0, 0, 0, 14, 11, 8, 5, 2);
  const __m512i zb = _mm512_set_epi64(15, 12, 9, 4, 3, 2, 1, 0);
  x = _mm512_permutex2var_pd(_mm512_permutex2var_pd(v0, xa, v1), xb, v2);
  y = _mm512_permutex2var_pd(_mm512_permutex2var_pd(v0, ya, v1), yb, v2);
  z = _mm512_permutex2var_pd(_mm512_permutex2var_pd(v0, za, v1), zb, v2);
}

// The eight lanes summed in a fixed pairwise order.
inline double lane_sum(__m512d v) {
  alignas(64) double t[8];
  _mm512_store_pd(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

template <int B>
void field_block(const double* pos, const double* mass, std::int64_t n, std::int64_t i0,
                 double eps2, Field* out) {
  __m512d ax[B], ay[B], az[B], ph[B];
  double xi[B], yi[B], zi[B];
  for (int b = 0; b < B; ++b) {
    ax[b] = ay[b] = az[b] = ph[b] = _mm512_setzero_pd();
    xi[b] = pos[3 * (i0 + b)];
    yi[b] = pos[3 * (i0 + b) + 1];
    zi[b] = pos[3 * (i0 + b) + 2];
  }
  const __m512d veps2 = _mm512_set1_pd(eps2);
  const __m512d half = _mm512_set1_pd(0.5);
  const __m512d three_halves = _mm512_set1_pd(1.5);
  for (std::int64_t j0 = 0; j0 < n; j0 += 8) {
    const std::int64_t rem = n - j0;
    __mmask8 valid = 0xFF;
    __m512d v0, v1, v2, mj;
    const double* p = pos + 3 * j0;
    if (rem >= 8) {
      v0 = _mm512_loadu_pd(p);
      v1 = _mm512_loadu_pd(p + 8);
      v2 = _mm512_loadu_pd(p + 16);
      mj = _mm512_loadu_pd(mass + j0);
    } else {
      valid = static_cast<__mmask8>((1u << rem) - 1u);
      const std::int64_t k = 3 * rem;  // doubles left, < 24
      auto mask_for = [&](std::int64_t from) {
        const std::int64_t c = std::clamp<std::int64_t>(k - from, 0, 8);
        return static_cast<__mmask8>((1u << c) - 1u);
      };
      v0 = _mm512_maskz_loadu_pd(mask_for(0), p);
      v1 = _mm512_maskz_loadu_pd(mask_for(8), p + 8);
      v2 = _mm512_maskz_loadu_pd(mask_for(16), p + 16);
      mj = _mm512_maskz_loadu_pd(valid, mass + j0);
    }
    __m512d xj, yj, zj;
    deinterleave(v0, v1, v2, xj, yj, zj);
    for (int b = 0; b < B; ++b) {
      __mmask8 keep = valid;
      const std::int64_t self = i0 + b - j0;
      if (self >= 0 && self < 8) keep = static_cast<__mmask8>(keep & ~(1u << self));
      const __m512d dx = _mm512_sub_pd(xj, _mm512_set1_pd(xi[b]));
      const __m512d dy = _mm512_sub_pd(yj, _mm512_set1_pd(yi[b]));
      const __m512d dz = _mm512_sub_pd(zj, _mm512_set1_pd(zi[b]));
      const __m512d r2 =
          _mm512_fmadd_pd(dx, dx, _mm512_fmadd_pd(dy, dy, _mm512_fmadd_pd(dz, dz, veps2)));
      // 1/sqrt(r2): a 14-bit estimate and two Newton steps (relative error ~1e-16).
      const __m512d hr2 = _mm512_mul_pd(half, r2);
      __m512d inv = _mm512_maskz_rsqrt14_pd(0xFF, r2);
      inv = _mm512_mul_pd(inv, _mm512_fnmadd_pd(_mm512_mul_pd(hr2, inv), inv, three_halves));
      inv = _mm512_mul_pd(inv, _mm512_fnmadd_pd(_mm512_mul_pd(hr2, inv), inv, three_halves));
      const __m512d m_inv = _mm512_mul_pd(mj, inv);
      const __m512d m_inv3 = _mm512_mul_pd(m_inv, _mm512_mul_pd(inv, inv));
      ax[b] = _mm512_mask3_fmadd_pd(dx, m_inv3, ax[b], keep);
      ay[b] = _mm512_mask3_fmadd_pd(dy, m_inv3, ay[b], keep);
      az[b] = _mm512_mask3_fmadd_pd(dz, m_inv3, az[b], keep);
      ph[b] = _mm512_mask_add_pd(ph[b], keep, ph[b], m_inv);
    }
  }
  for (int b = 0; b < B; ++b) {
    out[b].a[0] = lane_sum(ax[b]);
    out[b].a[1] = lane_sum(ay[b]);
    out[b].a[2] = lane_sum(az[b]);
    out[b].phi = lane_sum(ph[b]);
  }
}

#elif SIMHOST_CPU_AVX2

// The portable arithmetic below for the B <= 4 bodies i0 .. i0+B-1 at once, one per AVX2
// lane: every lane adds its terms over j in the same order, with the same unfused operations
// and a correctly rounded sqrt and division, so the sums have the portable path's bits.
template <int B>
void field_block(const double* pos, const double* mass, std::int64_t n, std::int64_t i0,
                 double eps2, Field* out) {
  static_assert(B >= 1 && B <= 4);
  alignas(32) double xs[4], ys[4], zs[4];
  alignas(32) std::int64_t self[4];
  for (int l = 0; l < 4; ++l) {
    const std::int64_t i = i0 + std::min(l, B - 1);  // lanes past B repeat the last body
    xs[l] = pos[3 * i];
    ys[l] = pos[3 * i + 1];
    zs[l] = pos[3 * i + 2];
    self[l] = i;
  }
  const __m256d xi = _mm256_load_pd(xs), yi = _mm256_load_pd(ys), zi = _mm256_load_pd(zs);
  const __m256i index = _mm256_load_si256(reinterpret_cast<const __m256i*>(self));
  const __m256d veps2 = _mm256_set1_pd(eps2), one = _mm256_set1_pd(1.0);
  __m256d ax = _mm256_setzero_pd(), ay = ax, az = ax, ph = ax;
  for (std::int64_t j = 0; j < n; ++j) {
    const __m256d dx = _mm256_sub_pd(_mm256_set1_pd(pos[3 * j]), xi);
    const __m256d dy = _mm256_sub_pd(_mm256_set1_pd(pos[3 * j + 1]), yi);
    const __m256d dz = _mm256_sub_pd(_mm256_set1_pd(pos[3 * j + 2]), zi);
    const __m256d r2 = _mm256_add_pd(
        _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(dx, dx), _mm256_mul_pd(dy, dy)),
                      _mm256_mul_pd(dz, dz)),
        veps2);
    const __m256d inv = _mm256_div_pd(one, _mm256_sqrt_pd(r2));
    const __m256d m_inv = _mm256_mul_pd(_mm256_set1_pd(mass[j]), inv);
    const __m256d m_inv3 = _mm256_mul_pd(_mm256_mul_pd(m_inv, inv), inv);
    // The lane whose body is j keeps its sums (the portable loop skips j == i).
    const __m256d skip = _mm256_castsi256_pd(_mm256_cmpeq_epi64(index, _mm256_set1_epi64x(j)));
    ax = _mm256_blendv_pd(_mm256_add_pd(ax, _mm256_mul_pd(dx, m_inv3)), ax, skip);
    ay = _mm256_blendv_pd(_mm256_add_pd(ay, _mm256_mul_pd(dy, m_inv3)), ay, skip);
    az = _mm256_blendv_pd(_mm256_add_pd(az, _mm256_mul_pd(dz, m_inv3)), az, skip);
    ph = _mm256_blendv_pd(_mm256_add_pd(ph, m_inv), ph, skip);
  }
  alignas(32) double sx[4], sy[4], sz[4], sp[4];
  _mm256_store_pd(sx, ax);
  _mm256_store_pd(sy, ay);
  _mm256_store_pd(sz, az);
  _mm256_store_pd(sp, ph);
  for (int b = 0; b < B; ++b) out[b] = {{sx[b], sy[b], sz[b]}, sp[b]};
}

#else  // portable path

template <int B>
void field_block(const double* pos, const double* mass, std::int64_t n, std::int64_t i0,
                 double eps2, Field* out) {
  for (int b = 0; b < B; ++b) {
    const std::int64_t i = i0 + b;
    const double xi = pos[3 * i], yi = pos[3 * i + 1], zi = pos[3 * i + 2];
    double ax = 0, ay = 0, az = 0, phi = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = pos[3 * j] - xi, dy = pos[3 * j + 1] - yi, dz = pos[3 * j + 2] - zi;
      const double r2 = dx * dx + dy * dy + dz * dz + eps2;
      const double inv = 1.0 / std::sqrt(r2);
      const double m_inv = mass[j] * inv;
      const double m_inv3 = m_inv * inv * inv;
      ax += dx * m_inv3;
      ay += dy * m_inv3;
      az += dz * m_inv3;
      phi += m_inv;
    }
    out[b] = {{ax, ay, az}, phi};
  }
}

#endif

struct Energy {
  double kinetic = 0;
  double potential = 0;  // sum_i m_i phi_i (twice the pair sum, without -G)
};

Energy operator+(Energy a, Energy b) { return {a.kinetic + b.kinetic, a.potential + b.potential}; }

// One force pass: computes every body's field at the current positions, then for each body
// kicks v by kick_before * a, adds its kinetic and potential energy, and kicks by kick_after
// * a. Fusing the kicks into the pass means no acceleration array is ever stored.
Energy force_pass(const CallContext& ctx, const double* pos, double* vel, const double* mass,
                  std::int64_t n, double G, double eps2, double kick_before, double kick_after) {
  return deterministic_reduce(
      ctx, 0, n, kChunk, Energy{},
      [&](std::int64_t lo, std::int64_t hi) {
        Energy e;
        Field f[4];
        for (std::int64_t i0 = lo; i0 < hi; i0 += 4) {
          const std::int64_t count = std::min<std::int64_t>(4, hi - i0);
          switch (count) {
            case 4: field_block<4>(pos, mass, n, i0, eps2, f); break;
            case 3: field_block<3>(pos, mass, n, i0, eps2, f); break;
            case 2: field_block<2>(pos, mass, n, i0, eps2, f); break;
            default: field_block<1>(pos, mass, n, i0, eps2, f); break;
          }
          for (std::int64_t b = 0; b < count; ++b) {
            const std::int64_t i = i0 + b;
            double* v = vel + 3 * i;
            for (int d = 0; d < 3; ++d) {
              const double a = G * f[b].a[d];
              if (kick_before != 0) v[d] += kick_before * a;
            }
            e.kinetic += 0.5 * mass[i] * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            e.potential += mass[i] * f[b].phi;
            if (kick_after != 0)
              for (int d = 0; d < 3; ++d) v[d] += kick_after * (G * f[b].a[d]);
          }
        }
        return e;
      },
      [](Energy a, Energy b) { return a + b; });
}

void run_nbody(CallContext& ctx) {
  const Args& args = ctx.args();
  const std::int64_t n = args.size("N");
  const double G = args.f64("G");
  const double eps = args.f64("eps");
  const double dt = args.f64("dt");
  const std::int64_t steps = args.i64("steps");
  const double* mass = args.array("mass").as<double>().data();

  // The outputs start as copies of the inputs and are evolved in place.
  auto pos_out = ctx.output<double>("pos");
  auto vel_out = ctx.output<double>("vel");
  auto energy = ctx.output<double>("energy");
  std::memcpy(pos_out.data(), args.array("pos").as<double>().data(), pos_out.size_bytes());
  std::memcpy(vel_out.data(), args.array("vel").as<double>().data(), vel_out.size_bytes());
  double* pos = pos_out.data();
  double* vel = vel_out.data();
  const double eps2 = eps * eps;
  const double half_dt = 0.5 * dt;

  ctx.progress().set_total(steps);
  auto total_energy = [&](const Energy& e, std::int64_t step) {
    const double value = e.kinetic - 0.5 * G * e.potential;
    if (!std::isfinite(value))
      throw KernelError(fmt::format(
          "nbody(): the energy became {} at step {}; two bodies probably coincide (eps = {})",
          number_text(value), step, number_text(eps)));
    return value;
  };

  energy[0] = total_energy(force_pass(ctx, pos, vel, mass, n, G, eps2, 0.0, steps > 0 ? half_dt : 0.0), 0);
  for (std::int64_t s = 1; s <= steps; ++s) {
    parallel_for(ctx, 0, n, 256, [&](std::int64_t lo, std::int64_t hi) {
      Rows3(pos + 3 * lo, hi - lo, 3) += dt * ConstRows3(vel + 3 * lo, hi - lo, 3);
    });
    const Energy e = force_pass(ctx, pos, vel, mass, n, G, eps2, half_dt, s < steps ? half_dt : 0.0);
    energy[static_cast<std::size_t>(s)] = total_energy(e, s);
    ctx.progress().add(1);
  }

  auto momentum = ctx.output<double>("momentum");
  const Eigen::Map<const Eigen::VectorXd> m(mass, n);
  Eigen::Map<Eigen::RowVector3d>(momentum.data()) = m.transpose() * ConstRows3(vel, n, 3);
}

}  // namespace

KernelDef nbody_kernel() {
  KernelDef k;
  k.name = "nbody";
  k.summary = "Direct-summation softened gravity, kick-drift-kick leapfrog.";
  k.doc =
      "Evolves N bodies under mutual gravity, a_i = G sum_{j!=i} m_j (x_j - x_i) / "
      "(|x_j - x_i|^2 + eps^2)^(3/2),\n"
      "with the second-order symplectic kick-drift-kick leapfrog. The potential energy\n"
      "-G sum_{i<j} m_i m_j / sqrt(r_ij^2 + eps^2) is computed in the same O(N^2) pass as the\n"
      "forces. Units are any consistent set (e.g. G = 1 N-body units). Results are\n"
      "bit-identical at any thread count.";
  k.progress_unit = "steps";
  const Dim N = Dim::named("N");
  k.params = {
      array_param("pos", {N, Dim::fixed(3)}, "length", "Initial positions of the N bodies."),
      array_param("vel", {N, Dim::fixed(3)}, "length/time", "Initial velocities."),
      array_param("mass", {N}, "mass", "Masses (each >= 0).").at_least(0),
      float_param("G", 1.0, "length^3/(mass time^2)", "Gravitational constant."),
      float_param("eps", 0.01, "length", "Softening length: forces go as 1/(r^2 + eps^2)^(3/2).")
          .at_least(0),
      float_param("dt", std::nullopt, "time", "Time step.").above(0),
      int_param("steps", std::nullopt, "Number of leapfrog steps.").at_least(0),
  };
  k.outputs = {
      array_output("pos", {N, Dim::fixed(3)}, "length", "Final positions."),
      array_output("vel", {N, Dim::fixed(3)}, "length/time", "Final velocities."),
      array_output("energy", {Dim::named("steps", 1)}, "energy",
                   "Total (kinetic + potential) energy at the start and after each step."),
      array_output("momentum", {Dim::fixed(3)}, "mass length/time",
                   "Final total momentum sum_i m_i v_i."),
  };
  k.run = run_nbody;
  k.example = [] {
    // Three equal masses on a circle, moving around it.
    OwnedArgs a;
    a.array<double>("pos", {3, 3}, {1.0, 0.0, 0.0, -0.5, 0.866, 0.0, -0.5, -0.866, 0.0});
    a.array<double>("vel", {3, 3}, {0.0, 0.5, 0.0, -0.433, -0.25, 0.0, 0.433, -0.25, 0.0});
    a.array<double>("mass", {3}, {1.0, 1.0, 1.0});
    a.set("dt", 1e-3).set("steps", std::int64_t{10});
    return a;
  };
  return k;
}

}  // namespace simhost::SIMHOST_CPU_NS
SIMHOST_CPU_END
