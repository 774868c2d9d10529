// my_kernels: a simhost plugin with one kernel, damped_oscillators (many independent damped
// harmonic oscillators advanced with their exact propagator). Copy, rename, replace.
#include <algorithm>
#include <cstdint>
#include <functional>

#include <Eigen/Core>
#include <unsupported/Eigen/MatrixFunctions>

#include <simhost/plugin.hpp>

namespace sp = simhost::plugin;

namespace {

// Oscillators per chunk of parallel work, and steps per parallel loop: a chunk is at most
// kGrain * kStepsPerLoop updates (well under a millisecond), so Ctrl-C and timeout= are
// honoured quickly (the host checks cancellation before each chunk) and progress moves.
constexpr std::int64_t kGrain = 4096;
constexpr std::int64_t kStepsPerLoop = 64;

// The exact one-step map (x, v) -> M (x, v) of x'' = -omega^2 x - 2 zeta omega x' over dt:
// M = exp(A dt) with A = [[0, 1], [-omega^2, -2 zeta omega]]. Eigen's matrix exponential
// (a Pade approximant with scaling and squaring) is accurate to rounding for every damping
// ratio, stiff overdamped oscillators included, where the closed forms of the three regimes
// would meet 0 * inf (e^(-zeta omega dt) cosh(...)) or lose digits near zeta = 1.
Eigen::Matrix2d propagator(double omega, double zeta, double dt) {
  Eigen::Matrix2d a;
  a << 0.0, 1.0,  //
      -omega * omega, -2.0 * zeta * omega;
  return (a * dt).exp();
}

void damped_oscillators(sp::Context& ctx) {
  const auto x0 = ctx.input<double>("x0");  // read-only views of the caller's arrays
  const auto v0 = ctx.input<double>("v0");
  auto x = ctx.output<double>("x");  // preallocated, uninitialised
  auto v = ctx.output<double>("v");
  const double omega = ctx.f64("omega");
  const std::int64_t steps = ctx.i64("steps");
  const std::int64_t n = ctx.size("N");
  const Eigen::Matrix2d m = propagator(omega, ctx.f64("zeta"), ctx.f64("dt"));

  ctx.parallel_for(0, n, kGrain, [&](std::int64_t lo, std::int64_t hi) {
    x.flat().segment(lo, hi - lo) = x0.flat().segment(lo, hi - lo);
    v.flat().segment(lo, hi - lo) = v0.flat().segment(lo, hi - lo);
  });

  ctx.progress_total(steps);
  for (std::int64_t done = 0; done < steps; done += kStepsPerLoop) {
    const std::int64_t block = std::min(kStepsPerLoop, steps - done);
    ctx.parallel_for(0, n, kGrain, [&](std::int64_t lo, std::int64_t hi) {
      auto xs = x.flat().segment(lo, hi - lo);
      auto vs = v.flat().segment(lo, hi - lo);
      Eigen::ArrayXd next(hi - lo);
      for (std::int64_t k = 0; k < block; ++k) {
        next = m(0, 0) * xs + m(0, 1) * vs;
        vs = m(1, 0) * xs + m(1, 1) * vs;
        xs = next;
      }
    });
    ctx.progress_add(block);
  }

  // A sum users see: deterministic_reduce gives the same bits at any thread count.
  const double energy = ctx.deterministic_reduce(
      0, n, kGrain, 0.0,
      [&](std::int64_t lo, std::int64_t hi) {
        const auto xs = x.flat().segment(lo, hi - lo);
        const auto vs = v.flat().segment(lo, hi - lo);
        return 0.5 * (vs.square() + omega * omega * xs.square()).sum();
      },
      std::plus<double>());
  ctx.set_output("energy", energy);
}

}  // namespace

SIMHOST_PLUGIN("my_kernels", "0.1.0", registry) {
  registry.add(
      sp::Kernel("damped_oscillators", "Independent damped harmonic oscillators, advanced exactly")
          .doc("Advances N oscillators x'' = -omega^2 x - 2 zeta omega x' by `steps` steps of "
               "`dt` with the exact propagator of the linear equation (no discretisation "
               "error: the result is the analytic solution at t = steps * dt, up to rounding), "
               "for any damping ratio: under- (zeta < 1), critically (zeta = 1) or overdamped.")
          .param(sp::array_param("x0", "N", "m", "initial positions"))
          .param(sp::array_param("v0", "N", "m/s", "initial velocities"))
          .param(sp::float_param("omega", 1.0, "rad/s", "undamped angular frequency").above(0))
          .param(sp::float_param("zeta", 0.1, "", "damping ratio (0: undamped)").at_least(0))
          .param(sp::float_param("dt", 0.01, "s", "time step").above(0))
          .param(sp::int_param("steps", 1000, "number of time steps").at_least(0))
          .output(sp::array_output("x", "N", "m", "positions at t = steps * dt"))
          .output(sp::array_output("v", "N", "m/s", "velocities at t = steps * dt"))
          .output(sp::float_output("energy", "J/kg",
                                   "total mechanical energy per unit mass at the end, "
                                   "sum of (v^2 + omega^2 x^2) / 2"))
          .progress_unit("steps")
          .example([](sp::Example& e) {
            // The self-test (`simhost plugins check`): a small call that runs in milliseconds.
            const double x0[] = {1.0, 0.5, 0.0, -0.25, -1.0, 2.0, 0.0, 0.1};
            const double v0[] = {0.0, 0.0, 1.0, 0.5, 0.0, -1.0, 0.0, 0.2};
            e.array<double>("x0", {8}, x0).array<double>("v0", {8}, v0);
            e.set("omega", 2.0).set("zeta", 0.05).set("dt", 0.01).set("steps", 100);
          })
          .run(damped_oscillators));
}
