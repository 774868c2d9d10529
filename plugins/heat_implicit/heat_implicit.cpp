// heat_implicit: implicit (backward Euler / Crank-Nicolson) 5-point diffusion on a rectangle
// with Dirichlet edges, by one sparse Cholesky factorisation reused at every step.
#include <simhost/plugin.hpp>

#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sp = simhost::plugin;

namespace {

// Smallest grid: three points per direction, one interior point inside the fixed edges
// (heat2d's bound for its Dirichlet edges).
constexpr std::int64_t kMinPoints = 3;
// Interior points per chunk of the parallel right-hand side loops (whole rows per chunk).
constexpr std::int64_t kPointsPerChunk = 16384;

// 64-bit indices: the factor's fill-in of a large grid must not overflow Eigen's default int.
using SparseMatrix = Eigen::SparseMatrix<double, Eigen::ColMajor, std::int64_t>;
// Reads the lower triangle only, which is all assemble() stores.
using Cholesky = Eigen::SimplicialLDLT<SparseMatrix, Eigen::Lower>;

// The shortest text that reads back as v (Python's repr of a float).
std::string number_text(double v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

// The weight of the implicit half of the step: 1 for backward Euler, 1/2 for Crank-Nicolson.
double theta_of(std::string_view scheme) { return scheme == "backward_euler" ? 1.0 : 0.5; }

struct Grid {
  std::int64_t ny, nx;  // all points, edges included
  std::int64_t my, mx;  // interior points (the unknowns): ny - 2, nx - 2
  double r;             // alpha dt / dx^2
  double theta;
};

Grid grid_of(const sp::Context& ctx) {
  Grid g;
  g.ny = ctx.size("ny");
  g.nx = ctx.size("nx");
  g.my = g.ny - 2;
  g.mx = g.nx - 2;
  const double dx = ctx.f64("dx");
  g.r = ctx.f64("alpha") * ctx.f64("dt") / (dx * dx);
  g.theta = theta_of(ctx.str("scheme"));
  return g;
}

// A = I - theta dt alpha L on the interior points, numbered k = (i-1) mx + (j-1) for grid
// point (i, j), where L is the 5-point Laplacian (u[i+1,j] + u[i-1,j] + u[i,j+1] + u[i,j-1]
// - 4 u[i,j]) / dx^2 and the edge values are moved to the right-hand side. Symmetric positive
// definite (diagonally dominant, positive diagonal); only its lower triangle is stored.
SparseMatrix assemble(const Grid& g) {
  const std::int64_t n = g.my * g.mx;
  const double diag = 1.0 + 4.0 * g.theta * g.r, off = -g.theta * g.r;
  SparseMatrix a(n, n);
  a.reserve(Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>::Constant(n, 3));
  for (std::int64_t i = 0; i < g.my; ++i) {
    for (std::int64_t j = 0; j < g.mx; ++j) {
      const std::int64_t k = i * g.mx + j;
      a.insert(k, k) = diag;                          // rows in increasing order:
      if (j + 1 < g.mx) a.insert(k + 1, k) = off;     // the east neighbour
      if (i + 1 < g.my) a.insert(k + g.mx, k) = off;  // the south neighbour
    }
  }
  a.makeCompressed();
  return a;
}

void check_heat_implicit(const sp::Context& ctx) {
  const std::int64_t ny = ctx.size("ny"), nx = ctx.size("nx");
  if (ny < kMinPoints || nx < kMinPoints)
    throw sp::ValueError("parameter 'u0' must have at least " + std::to_string(kMinPoints) +
                         " points in each direction (ny, nx >= " + std::to_string(kMinPoints) +
                         "; the outermost rows and columns are the fixed edges), got shape (" +
                         std::to_string(ny) + ", " + std::to_string(nx) + ")");
  const Grid g = grid_of(ctx);
  // 1 + 8 r bounds every entry the factorisation forms (the pivots of a diagonally dominant
  // matrix stay between 1 and its diagonal); it must be a finite number.
  if (!std::isfinite(1.0 + 8.0 * g.r))
    throw sp::ValueError("the mesh ratio alpha*dt/dx^2 overflows (" + number_text(g.r) +
                         "): reduce dt or alpha, or use a larger dx");
}

void run_heat_implicit(sp::Context& ctx) {
  const Grid g = grid_of(ctx);
  const auto u0 = ctx.input<double>("u0");
  auto out = ctx.output<double>("u");
  const double* src = u0.data();
  double* u = out.data();
  const std::int64_t steps = ctx.i64("steps");
  ctx.progress_total(steps);
  std::memcpy(u, src, sizeof(double) * static_cast<std::size_t>(g.ny * g.nx));
  if (steps == 0) return;

  Cholesky cholesky;
  cholesky.compute(assemble(g));
  if (cholesky.info() != Eigen::Success)
    throw std::runtime_error(
        "the sparse Cholesky factorisation (Eigen::SimplicialLDLT) of I - theta*dt*alpha*L "
        "failed (" +
        std::string(cholesky.info() == Eigen::NumericalIssue ? "numerical issue" : "error") +
        ") for alpha*dt/dx^2 = " + number_text(g.r));

  const std::int64_t n = g.my * g.mx, nx = g.nx, mx = g.mx;
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kPointsPerChunk / mx);
  // The edge values enter every step with weight theta r (implicit half) + (1 - theta) r
  // (explicit half, which the stencil below reads from the grid): edge[k] = theta r * (sum of
  // the fixed neighbours of interior point k), constant over the steps.
  Eigen::VectorXd edge(n), rhs(n), x(n);
  const double implicit_r = g.theta * g.r, explicit_r = (1.0 - g.theta) * g.r;
  ctx.parallel_for(0, g.my, rows_per_chunk, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo + 1; i < hi + 1; ++i) {
      for (std::int64_t j = 1; j < nx - 1; ++j) {
        double fixed = 0.0;
        if (i == 1) fixed += src[(i - 1) * nx + j];
        if (i == g.ny - 2) fixed += src[(i + 1) * nx + j];
        if (j == 1) fixed += src[i * nx + j - 1];
        if (j == nx - 2) fixed += src[i * nx + j + 1];
        edge[(i - 1) * mx + (j - 1)] = implicit_r * fixed;
      }
    }
  });

  for (std::int64_t s = 0; s < steps; ++s) {
    ctx.check_cancelled();
    // rhs = (I + (1 - theta) dt alpha L) u + edge terms, each point from its own operands in a
    // fixed order: the same bits whichever thread computes it.
    ctx.parallel_for(0, g.my, rows_per_chunk, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo + 1; i < hi + 1; ++i) {
        const double* c = u + i * nx;
        for (std::int64_t j = 1; j < nx - 1; ++j) {
          const double sum = (((c[j + nx] + c[j - nx]) + c[j + 1]) + c[j - 1]) - 4.0 * c[j];
          const std::int64_t k = (i - 1) * mx + (j - 1);
          rhs[k] = (c[j] + explicit_r * sum) + edge[k];
        }
      }
    });
    x = cholesky.solve(rhs);  // serial: Eigen's sparse Cholesky is
    ctx.parallel_for(0, g.my, rows_per_chunk, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo + 1; i < hi + 1; ++i)
        std::memcpy(u + i * nx + 1, x.data() + (i - 1) * mx, sizeof(double) * mx);
    });
    ctx.progress_add(1);
  }
}

// A hot square in a cold 12 x 10 plate, at 40 times heat2d's stability limit.
void example(sp::Example& e) {
  constexpr std::int64_t ny = 12, nx = 10;
  double u0[ny * nx] = {};
  for (std::int64_t i = 4; i < 8; ++i)
    for (std::int64_t j = 3; j < 7; ++j) u0[i * nx + j] = 100.0;
  e.array<double>("u0", {ny, nx}, u0)
      .set("alpha", 1e-4)
      .set("dx", 0.01)
      .set("dt", 10.0)
      .set("steps", 5)
      .set("scheme", "crank_nicolson");
}

}  // namespace

SIMHOST_PLUGIN("heat_implicit", "1.0", registry) {
  registry.add(
      sp::Kernel("heat_implicit",
                 "Implicit 5-point diffusion (heat equation) with fixed edges, any time step.")
          .doc("Advances u_t = alpha (u_xx + u_yy) on a uniform grid of spacing dx with the\n"
               "theta scheme (I - theta dt alpha L) u_new = (I + (1 - theta) dt alpha L) u,\n"
               "L the 5-point Laplacian (u[i+1,j] + u[i-1,j] + u[i,j+1] + u[i,j-1] - 4 u[i,j]) / "
               "dx^2:\n"
               "'backward_euler' (theta = 1, first order in dt) or 'crank_nicolson' (theta = 1/2,\n"
               "second order). Unconditionally stable: no bound on dt (heat2d, explicit, needs\n"
               "alpha dt / dx^2 <= 1/4). Edges are Dirichlet as in heat2d: the outermost rows\n"
               "and columns keep u0's values. The sparse matrix is assembled and factorised\n"
               "(Eigen::SimplicialLDLT) once per call and the factorisation is reused every\n"
               "step; the solves are serial, the right-hand side is built in parallel, and the\n"
               "result is bit-identical at any thread count.")
          .param(sp::array_param("u0", "ny, nx", "temperature",
                                 "Initial field: u0[i, j] at y = i dx, x = j dx (at least 3 x 3); "
                                 "its outermost rows and columns are the fixed edge values."))
          .param(sp::float_param("alpha", {}, "m^2/s", "Diffusivity.").above(0))
          .param(sp::float_param("dx", {}, "m", "Grid spacing (both directions).").above(0))
          .param(sp::float_param("dt", {}, "s",
                                 "Time step; any size (the schemes are unconditionally stable).")
                     .above(0))
          .param(sp::int_param("steps", {}, "Number of time steps of length dt.").at_least(0))
          .param(sp::string_param("scheme", "crank_nicolson", {"backward_euler", "crank_nicolson"},
                                  "'backward_euler' (theta = 1, L-stable, monotone) or "
                                  "'crank_nicolson' (theta = 1/2, second order in dt)."))
          .output(sp::array_output("u", "ny, nx", "temperature", "The field after `steps` steps."))
          .progress_unit("steps")
          .check(check_heat_implicit)
          .example(example)
          .run(run_heat_implicit));
}
