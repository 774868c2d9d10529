// gray_scott: Gray-Scott reaction-diffusion on a periodic grid, explicit Euler, 5-point Laplacian.
#include <simhost/plugin.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace sp = simhost::plugin;

namespace {

using Index = Eigen::Index;
using Row = Eigen::Map<const Eigen::ArrayXd>;
using RowOut = Eigen::Map<Eigen::ArrayXd>;

// Smallest grid: three points per direction, so that a cell's four neighbours are never itself.
constexpr std::int64_t kMinPoints = 3;
// Cells per parallel chunk (rows are never split): about 0.1 ms of work, so cancellation is seen
// within a fraction of a millisecond. It depends on the grid alone, never on the thread count;
// results do not depend on it anyway (every cell is a pure function of the previous step).
constexpr std::int64_t kChunkCells = 16384;
// Explicit diffusion limit of the 5-point scheme at unit grid spacing: dt * D <= 1/4.
constexpr double kStabilityLimit = 0.25;

// A number as Python writes it (shortest round-trip form, "0.3", "1.0"), for messages.
std::string number_text(double x) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  std::string s(buf, end);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // n: inf, nan
  return s;
}

struct Coefficients {
  double du, dv, f, fk, dt;  // fk = F + k, rounded once
};

// The arithmetic of one cell, written once for a run of cells (Eigen array expressions) and for
// a single cell (doubles): each operation is rounded in exactly this order (the plugin is built
// without fused multiply-adds), which the documentation states and the tests rely on.
//   lap   = ((N + S) + (W + E)) - 4 C           exactly 0 on a uniform field
//   u_new = u + dt * ((Du lap_u - (u v) v) + F (1 - u))
//   v_new = v + dt * ((Dv lap_v + (u v) v) - (F + k) v)
template <class A>
auto laplacian(const A& n, const A& s, const A& w, const A& e, const A& c) {
  return ((n + s) + (w + e)) - 4.0 * c;
}

template <class A>
auto next_u(const A& u, const A& n, const A& s, const A& w, const A& e, const A& v,
            const Coefficients& k) {
  return u + k.dt * ((k.du * laplacian(n, s, w, e, u) - (u * v) * v) + k.f * (1.0 - u));
}

template <class A>
auto next_v(const A& v, const A& n, const A& s, const A& w, const A& e, const A& u,
            const Coefficients& k) {
  return v + k.dt * ((k.dv * laplacian(n, s, w, e, v) + (u * v) * v) - k.fk * v);
}

// Both fields of one time level, H x W, row-major.
struct Fields {
  const double* u;
  const double* v;
};
struct FieldsOut {
  double* u;
  double* v;
};

// Row i of the next level from rows i-1, i, i+1 (wrapping) of the previous one: the interior
// columns 1 .. W-2 as one Eigen expression per field over shifted segments of the rows, the two
// wrap-around columns 0 and W-1 on their own (no modulo in the long loop).
void advance_row(const Fields& in, const FieldsOut& out, Index h, Index w, Index i,
                 const Coefficients& k) {
  const Index up = i == 0 ? h - 1 : i - 1;
  const Index down = i == h - 1 ? 0 : i + 1;
  const Row u_n(in.u + up * w, w), u_c(in.u + i * w, w), u_s(in.u + down * w, w);
  const Row v_n(in.v + up * w, w), v_c(in.v + i * w, w), v_s(in.v + down * w, w);
  RowOut u_out(out.u + i * w, w), v_out(out.v + i * w, w);

  const Index m = w - 2;
  u_out.segment(1, m) = next_u(u_c.segment(1, m), u_n.segment(1, m), u_s.segment(1, m),
                               u_c.segment(0, m), u_c.segment(2, m), v_c.segment(1, m), k);
  v_out.segment(1, m) = next_v(v_c.segment(1, m), v_n.segment(1, m), v_s.segment(1, m),
                               v_c.segment(0, m), v_c.segment(2, m), u_c.segment(1, m), k);
  for (const Index j : {Index{0}, w - 1}) {
    const Index west = j == 0 ? w - 1 : j - 1;
    const Index east = j == w - 1 ? 0 : j + 1;
    u_out(j) = next_u(u_c(j), u_n(j), u_s(j), u_c(west), u_c(east), v_c(j), k);
    v_out(j) = next_v(v_c(j), v_n(j), v_s(j), v_c(west), v_c(east), u_c(j), k);
  }
}

// Rows [lo, hi) of the next level. Compiled twice: for the plugin's baseline (x86-64: SSE2) and,
// on x86, for AVX2, chosen once per call. Eigen picks its own SIMD packets at compile time from
// the ISA macros, which for a portable plugin means SSE2 everywhere, and intrinsics are never
// widened; so the plugin builds Eigen without explicit vectorization (EIGEN_DONT_VECTORIZE, see
// CMakeLists.txt), its assignment loops become plain loops over the cells, and the compiler
// vectorizes them for the function they are inlined into (flatten): 2 lanes here, 4 in the AVX2
// copy, which is twice as fast at one thread on an AMD EPYC (Zen 3). Every lane does the same
// IEEE operations in the same order and nothing is fused, so both copies give the same bits.
// Headers keep the baseline target, so no AVX2 instruction exists outside advance_rows_avx2.
inline void advance_rows_body(const Fields& in, const FieldsOut& out, Index h, Index w, Index lo,
                              Index hi, const Coefficients& k) {
  for (Index i = lo; i < hi; ++i) advance_row(in, out, h, w, i, k);
}

__attribute__((flatten)) void advance_rows(const Fields& in, const FieldsOut& out, Index h,
                                           Index w, Index lo, Index hi, const Coefficients& k) {
  advance_rows_body(in, out, h, w, lo, hi, k);
}

#if defined(__x86_64__)
__attribute__((target("avx2"), flatten)) void advance_rows_avx2(const Fields& in,
                                                                const FieldsOut& out, Index h,
                                                                Index w, Index lo, Index hi,
                                                                const Coefficients& k) {
  advance_rows_body(in, out, h, w, lo, hi, k);
}

// The AVX2 copy where the CPU runs it, unless the host was told to run its portable paths
// (SIMHOST_CPU=generic, which the host has validated at start-up; docs/host.md).
bool use_avx2() {
  const char* forced = std::getenv("SIMHOST_CPU");
  return __builtin_cpu_supports("avx2") && !(forced && std::string_view(forced) == "generic");
}
#endif

Coefficients coefficients(const sp::Context& ctx) {
  const double f = ctx.f64("F");
  return {ctx.f64("Du"), ctx.f64("Dv"), f, f + ctx.f64("k"), ctx.f64("dt")};
}

void check_gray_scott(const sp::Context& ctx) {
  const std::int64_t h = ctx.size("H"), w = ctx.size("W");
  if (h < kMinPoints || w < kMinPoints)
    throw sp::ValueError("parameters 'u' and 'v' must have at least 3 points in each direction "
                         "(H, W >= 3), got H = " + std::to_string(h) + ", W = " +
                         std::to_string(w));
  const double dt = ctx.f64("dt"), d = std::max(ctx.f64("Du"), ctx.f64("Dv"));
  if (dt * d > kStabilityLimit)
    throw sp::ValueError(
        "dt * max(Du, Dv) must be <= 0.25 for the explicit scheme to be stable (the diffusion "
        "limit at unit grid spacing), got dt = " +
        number_text(dt) + " and max(Du, Dv) = " + number_text(d) + " (product " +
        number_text(dt * d) + "): reduce dt");
}

void run_gray_scott(sp::Context& ctx) {
  const auto u0 = ctx.input<double>("u");
  const auto v0 = ctx.input<double>("v");
  auto u = ctx.output<double>("u");
  auto v = ctx.output<double>("v");
  const Index h = u0.shape(0), w = u0.shape(1);
  const std::int64_t steps = ctx.i64("steps");
  const Coefficients k = coefficients(ctx);

  ctx.progress_total(steps);
  if (steps == 0) {
    u.flat() = u0.flat();
    v.flat() = v0.flat();
    return;
  }
  // Two time levels: the outputs and a scratch pair, used alternately so that the last step
  // writes the outputs (the first reads the inputs, which are never written). The scratch is
  // left uninitialised: its pages are first touched by the parallel, cancellable first step.
  Eigen::ArrayXd scratch(steps > 1 ? 2 * h * w : 0);
  const FieldsOut levels[2] = {{u.data(), v.data()}, {scratch.data(), scratch.data() + h * w}};
  const std::int64_t grain = std::max<std::int64_t>(1, kChunkCells / w);

#if defined(__x86_64__)
  const auto rows = use_avx2() ? advance_rows_avx2 : advance_rows;
#else
  const auto rows = advance_rows;
#endif
  Fields in{u0.data(), v0.data()};
  for (std::int64_t s = 0; s < steps; ++s) {
    const FieldsOut& out = levels[(steps - 1 - s) % 2];
    ctx.parallel_for(0, h, grain,
                     [&](std::int64_t lo, std::int64_t hi) { rows(in, out, h, w, lo, hi, k); });
    ctx.progress_add(1);
    in = Fields{out.u, out.v};
  }
}

// A 16 x 16 grid at the trivial state u = 1, v = 0, seeded with a 4 x 4 square of
// u = 0.5, v = 0.25 in the middle (Pearson's initial perturbation), 10 steps.
void example_gray_scott(sp::Example& e) {
  constexpr std::int64_t n = 16;
  std::vector<double> u(n * n, 1.0), v(n * n, 0.0);
  for (std::int64_t i = 6; i < 10; ++i)
    for (std::int64_t j = 6; j < 10; ++j) {
      u[static_cast<std::size_t>(i * n + j)] = 0.5;
      v[static_cast<std::size_t>(i * n + j)] = 0.25;
    }
  e.array<double>("u", {n, n}, u.data()).array<double>("v", {n, n}, v.data());
  e.set("steps", 10);
}

const char* const kDoc =
    "Gray-Scott reaction-diffusion (Pearson 1993, Science 261:189) for two species u and v on a\n"
    "periodic H x W grid of unit spacing, in dimensionless units:\n"
    "  du/dt = Du lap(u) - u v^2 + F (1 - u)\n"
    "  dv/dt = Dv lap(v) + u v^2 - (F + k) v\n"
    "advanced by explicit (forward) Euler steps of length dt with the 5-point Laplacian\n"
    "  lap(c)[i,j] = ((c[i-1,j] + c[i+1,j]) + (c[i,j-1] + c[i,j+1])) - 4 c[i,j],\n"
    "indices wrapping around both directions. Stable for dt * max(Du, Dv) <= 0.25 (larger\n"
    "values are refused). Each cell is evaluated with IEEE operations in exactly this order:\n"
    "  u + dt ((Du lap(u) - (u v) v) + F (1 - u)),   v + dt ((Dv lap(v) + (u v) v) - (F + k) v)\n"
    "with F + k rounded once, no fused multiply-adds, so results are bit-identical at any\n"
    "thread count and equal to a NumPy evaluation of the same expressions. The state u = 1,\n"
    "v = 0 is a fixed point; patterns (spots, stripes) grow from a perturbation of it.";

}  // namespace

SIMHOST_PLUGIN("gray_scott", "1.0", registry) {
  registry.add(
      sp::Kernel("gray_scott", "Gray-Scott reaction-diffusion on a periodic grid (explicit Euler).")
          .doc(kDoc)
          .param(sp::array_param("u", "H, W", "",
                                 "Initial concentration of u (dimensionless), u[i, j] at row y = "
                                 "i, column x = j; at least 3 x 3."))
          .param(sp::array_param("v", "H, W", "",
                                 "Initial concentration of v (dimensionless), same shape as u."))
          .param(sp::float_param("Du", 0.16, "", "Diffusion coefficient of u (grid cells^2 per "
                                                 "unit time).")
                     .at_least(0))
          .param(sp::float_param("Dv", 0.08, "", "Diffusion coefficient of v (grid cells^2 per "
                                                 "unit time).")
                     .at_least(0))
          .param(sp::float_param("F", 0.035, "", "Feed rate of u (per unit time).").at_least(0))
          .param(sp::float_param("k", 0.065, "", "Kill rate of v, removed at F + k (per unit "
                                                 "time).")
                     .at_least(0))
          .param(sp::float_param("dt", 1.0, "", "Time step (dimensionless); stability needs "
                                                "dt * max(Du, Dv) <= 0.25.")
                     .above(0))
          .param(sp::int_param("steps", {}, "Number of Euler steps of length dt.").at_least(0))
          .output(sp::array_output("u", "H, W", "", "u after `steps` steps."))
          .output(sp::array_output("v", "H, W", "", "v after `steps` steps."))
          .progress_unit("steps")
          .check(check_gray_scott)
          .example(example_gray_scott)
          .run(run_gray_scott));
}
