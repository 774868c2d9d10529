// heat2d: explicit 5-point diffusion on a rectangle, temporally blocked (several steps per pass).
#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <tbb/enumerable_thread_specific.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/text.hpp"

// Every output point is u + r*((((S + N) + E) + W) - 4u), rounded after each operation in that
// order. The file is compiled with -ffp-contract=off (kernels/CMakeLists.txt): a fused
// multiply-add in one code path and not in another would break bit-identity with a plain loop
// (the unit tests compare with one, compiled without FMA, bit for bit).

namespace simhost {

namespace {

// Rows per tile. The decomposition into tiles is fixed by the grid alone (never by the thread
// count); results do not depend on it anyway, since every value is recomputed from the same
// operands in the same order, whichever tile computes it.
constexpr std::int64_t kTileRows = 128;
// Steps advanced per pass over the grid (the temporal blocking depth), at most. A tile keeps
// three rows per intermediate step in a per-thread ring, sized to stay in L2 (1 MiB per core).
constexpr std::int64_t kMaxDepth = 16;
constexpr std::int64_t kMinDepth = 4;
constexpr std::int64_t kRingBytes = 640 * 1024;
// Smallest grid: three points per direction (one interior point with Dirichlet edges; three
// distinct points around each periodic ring).
constexpr std::int64_t kMinPoints = 3;

// The update of one point; the evaluation order is the contract (see the top of the file).
inline double point(double n, double c, double s, double e, double w, double r) {
  return c + r * ((((s + n) + e) + w) - 4.0 * c);
}

// One row: out[j] from the rows above (n), at (c) and below (s). Every point goes through
// point(), vectorised or not, so the interior loop and the edge points round identically.
inline void update_row(double* __restrict out, const double* n, const double* c, const double* s,
                       std::int64_t nx, double r, bool periodic) {
  for (std::int64_t j = 1; j < nx - 1; ++j) out[j] = point(n[j], c[j], s[j], c[j + 1], c[j - 1], r);
  if (periodic) {
    out[0] = point(n[0], c[0], s[0], c[1], c[nx - 1], r);
    out[nx - 1] = point(n[nx - 1], c[nx - 1], s[nx - 1], c[0], c[nx - 2], r);
  } else {
    out[0] = c[0];
    out[nx - 1] = c[nx - 1];
  }
}

inline std::int64_t mod(std::int64_t i, std::int64_t n) { return ((i % n) + n) % n; }

struct Grid {
  std::int64_t ny, nx;
  double r;
  bool periodic;
  std::int64_t tiles;  // of kTileRows rows (the last may be shorter)
  std::int64_t depth;  // steps per pass, at most
};

// One pass: advances every row by k steps from src to dst. With in_place (src == dst), each
// tile reads the rows of its neighbours (its halo) from `halo`, a copy taken before the pass,
// because the neighbours overwrite them meanwhile; its own rows it reads before it writes them.
struct Pass {
  const double* src;
  double* dst;
  std::int64_t k;
  bool in_place;
  double* halo;  // tiles x 2*depth rows (in_place only)
};

std::int64_t tile_begin(std::int64_t t) { return t * kTileRows; }
std::int64_t tile_end(const Grid& g, std::int64_t t) { return std::min(g.ny, (t + 1) * kTileRows); }

// Rows [a-k, a) and [b, b+k) of tile t (unwrapped row numbers; periodic rows wrap), or -1 when
// the row is outside a Dirichlet grid.
std::int64_t halo_source(const Grid& g, std::int64_t i) {
  if (g.periodic) return mod(i, g.ny);
  return i >= 0 && i < g.ny ? i : -1;
}

void take_halo(const Grid& g, const Pass& p, std::int64_t t) {
  const std::int64_t a = tile_begin(t), b = tile_end(g, t), k = p.k;
  double* halo = p.halo + t * 2 * g.depth * g.nx;
  for (std::int64_t h = 0; h < 2 * k; ++h) {
    const std::int64_t row = halo_source(g, h < k ? a - k + h : b + (h - k));
    if (row >= 0) std::memcpy(halo + h * g.nx, p.src + row * g.nx, sizeof(double) * g.nx);
  }
}

// Advances the rows [a, b) of tile t by k steps. Row i of intermediate step l (1 <= l < k) is
// computed once its three parents at step l-1 exist, in one sweep over the rows: the tile is
// read from memory once, and the steps in between live in `ring` (3 rows per step). The tile
// recomputes the k-l rows next to each of its edges at step l that its neighbours also
// compute (overlapped tiling), so tiles never wait for each other within a pass.
void advance_tile(const Grid& g, const Pass& p, std::int64_t t, double* ring) {
  const std::int64_t ny = g.ny, nx = g.nx, k = p.k;
  const std::int64_t a = tile_begin(t), b = tile_end(g, t);
  const double* halo = p.halo + t * 2 * g.depth * nx;
  const auto input = [&](std::int64_t i) -> const double* {  // step 0, unwrapped row i
    if (!p.in_place) return p.src + (g.periodic ? mod(i, ny) : i) * nx;
    if (i >= a && i < b) return p.src + i * nx;
    return halo + (i < a ? i - (a - k) : k + (i - b)) * nx;
  };
  const auto fixed = [&](std::int64_t i) { return !g.periodic && (i == 0 || i == ny - 1); };
  const auto row = [&](std::int64_t l, std::int64_t i) -> const double* {
    if (l == 0 || fixed(i)) return input(i);  // Dirichlet edge rows never change
    return ring + ((l - 1) * 3 + mod(i, 3)) * nx;
  };
  for (std::int64_t m = a - k; m < b + k; ++m) {
    for (std::int64_t l = 1; l <= k; ++l) {
      const std::int64_t i = m - l;  // the row of step l whose parents are now complete
      if (i < a - (k - l) || i >= b + (k - l)) continue;
      if (!g.periodic && (i < 0 || i >= ny)) continue;
      if (fixed(i)) {
        if (l == k && !p.in_place) std::memcpy(p.dst + i * nx, input(i), sizeof(double) * nx);
        continue;
      }
      double* out = l == k ? p.dst + i * nx : ring + ((l - 1) * 3 + mod(i, 3)) * nx;
      update_row(out, row(l - 1, i - 1), row(l - 1, i), row(l - 1, i + 1), nx, g.r, g.periodic);
    }
  }
}

void run_heat2d(CallContext& ctx) {
  const Args& args = ctx.args();
  Grid g;
  g.ny = args.size("ny");
  g.nx = args.size("nx");
  g.r = args.f64("r");
  g.periodic = args.str("boundary") == "periodic";
  g.tiles = (g.ny + kTileRows - 1) / kTileRows;
  g.depth = std::clamp<std::int64_t>(kRingBytes / (3 * g.nx * std::int64_t{sizeof(double)}) + 1,
                                     kMinDepth, kMaxDepth);
  const std::int64_t steps = args.i64("steps");
  const double* u0 = static_cast<const double*>(args.array("u0").data);
  double* u = ctx.output<double>("u").data();

  ctx.progress().set_total(steps);
  if (steps == 0) {
    std::memcpy(u, u0, sizeof(double) * g.ny * g.nx);
    return;
  }
  // Passes of nearly equal depth; the shallower ones first, so that only the first pass (which
  // reads u0 and writes u, never in place) can be a single step. An in-place pass needs k >= 2:
  // a tile must have read its row i for the last time before it writes row i.
  const std::int64_t passes = (steps + g.depth - 1) / g.depth;
  const std::int64_t base = steps / passes, deeper = steps % passes;

  const std::int64_t ring_size = std::max<std::int64_t>(g.depth - 1, 1) * 3 * g.nx;
  tbb::enumerable_thread_specific<std::vector<double>> rings(
      [&] { return std::vector<double>(static_cast<std::size_t>(ring_size)); });
  std::vector<double> halo(passes > 1 ? static_cast<std::size_t>(g.tiles * 2 * g.depth * g.nx) : 0);

  for (std::int64_t s = 0; s < passes; ++s) {
    Pass p{s == 0 ? u0 : u, u, base + (s >= passes - deeper ? 1 : 0), s > 0, halo.data()};
    if (p.in_place) {
      if (p.k < 2) throw KernelError("heat2d(): internal error: an in-place pass of one step");
      parallel_for(ctx, 0, g.tiles, 1, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t t = lo; t < hi; ++t) take_halo(g, p, t);
      });
    }
    parallel_for(ctx, 0, g.tiles, 1, [&](std::int64_t lo, std::int64_t hi) {
      double* ring = rings.local().data();
      for (std::int64_t t = lo; t < hi; ++t) advance_tile(g, p, t, ring);
    });
    ctx.progress().add(p.k);
  }
}

void check_heat2d(const Args& args) {
  const double r = args.f64("r");
  if (r > 0.25)
    throw ArgumentValueError(fmt::format(
        "heat2d(): parameter 'r' must be <= 0.25, got {}: the explicit 5-point scheme is stable "
        "only for r = alpha*dt/h^2 <= 1/4 (reduce dt, or use a coarser grid)",
        number_text(r)));
  const std::int64_t ny = args.size("ny"), nx = args.size("nx");
  if (ny < kMinPoints || nx < kMinPoints)
    throw ArgumentValueError(fmt::format(
        "heat2d(): parameter 'u0' must have at least {} points in each direction (ny, nx >= {}), "
        "got shape ({}, {})",
        kMinPoints, kMinPoints, ny, nx));
}

}  // namespace

KernelDef heat2d_kernel() {
  KernelDef k;
  k.name = "heat2d";
  k.summary = "Explicit 5-point diffusion (heat equation) on a rectangular grid.";
  k.doc =
      "Advances u_t = alpha (u_xx + u_yy) on a uniform grid of spacing h by forward Euler:\n"
      "  u[i,j] += r (u[i+1,j] + u[i-1,j] + u[i,j+1] + u[i,j-1] - 4 u[i,j]),  r = alpha dt / h^2,\n"
      "stable for 0 < r <= 1/4. Edges: 'dirichlet' holds the outermost rows and columns at u0's\n"
      "values; 'periodic' wraps both directions. Several steps are advanced per pass over the\n"
      "grid (overlapped temporal blocking), so the grid is streamed from memory once per pass.\n"
      "Results are bit-identical at any thread count and equal a plain loop evaluating the sum\n"
      "in the order written above.";
  k.progress_unit = "steps";
  const Dim ny = Dim::named("ny"), nx = Dim::named("nx");
  k.params = {
      array_param("u0", {ny, nx}, "temperature",
                  "Initial field on the grid: u0[i, j] at y = i h, x = j h (at least 3 x 3)."),
      float_param("r", std::nullopt, "",
                  "Mesh ratio alpha*dt/h^2 (dimensionless); stability needs 0 < r <= 0.25.")
          .above(0),
      int_param("steps", std::nullopt, "Number of time steps of length dt.").at_least(0),
      string_param("boundary", "dirichlet", {"dirichlet", "periodic"},
                   "Edges: 'dirichlet' (edge values held at u0's) or 'periodic' (wrap around)."),
  };
  k.outputs = {
      array_output("u", {ny, nx}, "temperature", "The field after `steps` steps."),
  };
  k.check = check_heat2d;
  k.run = run_heat2d;
  return k;
}

}  // namespace simhost
