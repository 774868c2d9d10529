// heat2d: explicit 5-point diffusion on a rectangle, temporally blocked (several steps per pass).
#include <fmt/format.h>
#include <tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <immintrin.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/text.hpp"

#include "cpu_level.hpp"  // last: see there

// Every output point is u + r*((((S + N) + E) + W) - 4u), rounded after each operation in that
// order. The file is compiled with -ffp-contract=off (kernels/CMakeLists.txt): a fused
// multiply-add in one code path and not in another would break bit-identity with a plain loop
// (the unit tests compare with one, compiled without FMA, bit for bit).

SIMHOST_CPU_BEGIN
namespace simhost::SIMHOST_CPU_NS {

namespace {

// Rows per tile. The decomposition into tiles is fixed by the grid alone (never by the thread
// count); results do not depend on it anyway, since every value is recomputed from the same
// operands in the same order, whichever tile computes it.
constexpr std::int64_t kTileRows = 256;
// Steps advanced per pass over the grid (the temporal blocking depth), at most. A tile keeps
// three rows per step in a per-thread ring, sized to stay in L2 (1 MiB per core).
// (Never more than half the rows of a one-tile grid, so that the halo copies of a pass stay
// smaller than the grid.)
constexpr std::int64_t kMaxDepth = 16;
constexpr std::int64_t kRingBytes = 640 * 1024;
// Smallest grid: three points per direction (one interior point with Dirichlet edges; three
// distinct points around each periodic ring).
constexpr std::int64_t kMinPoints = 3;
// Doubles per SIMD block; ring rows are aligned to it and padded by one block on each side.
constexpr std::int64_t kLanes = 8;

// The update of one point; the evaluation order is the contract (see the top of the file).
inline double point(double n, double c, double s, double e, double w, double r) {
  return c + r * ((((s + n) + e) + w) - 4.0 * c);
}

// A ring row holds a grid row at [0, nx) with one ghost on each side ([-1] and [nx]: the
// periodic neighbours), padded to whole blocks; the row pointer is 64-byte aligned and the
// row owns one block before it and at least one after its last block.
std::int64_t row_stride(std::int64_t nx) {
  return (nx + kLanes - 1) / kLanes * kLanes + 2 * kLanes;
}

#if SIMHOST_CPU_AVX512

// c[j+1 .. j+8] and c[j-1 .. j+6] from the aligned blocks at j-8, j and j+8.
inline __m512d east(__m512d cur, __m512d next) {
  return _mm512_castsi512_pd(
      _mm512_maskz_alignr_epi64(0xFF, _mm512_castpd_si512(next), _mm512_castpd_si512(cur), 1));
}
inline __m512d west(__m512d prev, __m512d cur) {
  return _mm512_castsi512_pd(
      _mm512_maskz_alignr_epi64(0xFF, _mm512_castpd_si512(cur), _mm512_castpd_si512(prev), 7));
}

// One row from the ring rows above (n), at (c) and below (s): every point of [0, nx), edges
// included (their neighbours are the ghosts), in blocks of 8 with aligned loads only. Into a
// ring row (aligned, whole blocks) or into the grid (any alignment, the last block masked).
template <bool kToGrid>
void update_row(double* out, const double* n, const double* c, const double* s, std::int64_t nx,
                double r) {
  const __m512d vr = _mm512_set1_pd(r), four = _mm512_set1_pd(4.0);
  __m512d prev = _mm512_load_pd(c - kLanes), cur = _mm512_load_pd(c);
  for (std::int64_t j = 0; j < nx; j += kLanes) {
    const __m512d next = _mm512_load_pd(c + j + kLanes);
    const __m512d sum = _mm512_add_pd(
        _mm512_add_pd(_mm512_add_pd(_mm512_load_pd(s + j), _mm512_load_pd(n + j)), east(cur, next)),
        west(prev, cur));
    const __m512d v =
        _mm512_add_pd(cur, _mm512_mul_pd(vr, _mm512_sub_pd(sum, _mm512_mul_pd(four, cur))));
    if constexpr (!kToGrid) {
      _mm512_store_pd(out + j, v);
    } else if (j + kLanes <= nx) {
      _mm512_storeu_pd(out + j, v);
    } else {
      _mm512_mask_storeu_pd(out + j, static_cast<__mmask8>((1u << (nx - j)) - 1u), v);
    }
    prev = cur;
    cur = next;
  }
}

#else  // portable path: the same points, the same order, one at a time

template <bool kToGrid>
void update_row(double* out, const double* n, const double* c, const double* s, std::int64_t nx,
                double r) {
  for (std::int64_t j = 0; j < nx; ++j) out[j] = point(n[j], c[j], s[j], c[j + 1], c[j - 1], r);
}

#endif

inline std::int64_t mod(std::int64_t i, std::int64_t n) { return ((i % n) + n) % n; }

struct Grid {
  std::int64_t ny, nx;
  double r;
  bool periodic;
  std::int64_t tiles;   // of kTileRows rows (the last may be shorter)
  std::int64_t depth;   // steps per pass, at most
  std::int64_t stride;  // of a ring row
};

// One pass: advances every row by k steps from src to dst. With in_place (src == dst), each
// tile reads the rows of its neighbours (its halo) from `halo`, a copy taken before the pass,
// because the neighbours overwrite them meanwhile; its own row i it has copied into its ring
// before it writes row i.
struct Pass {
  const double* src;
  double* dst;
  std::int64_t k;
  bool in_place;
  double* halo;  // tiles x 2*depth rows (in_place only)
};

std::int64_t tile_begin(std::int64_t t) { return t * kTileRows; }
std::int64_t tile_end(const Grid& g, std::int64_t t) { return std::min(g.ny, (t + 1) * kTileRows); }

// The grid row holding unwrapped row i (periodic rows wrap), or -1 outside a Dirichlet grid.
std::int64_t source_row(const Grid& g, std::int64_t i) {
  if (g.periodic) return mod(i, g.ny);
  return i >= 0 && i < g.ny ? i : -1;
}

// Copies rows [a-k, a) and [b, b+k) of tile t, as they are before the pass.
void take_halo(const Grid& g, const Pass& p, std::int64_t t) {
  const std::int64_t a = tile_begin(t), b = tile_end(g, t), k = p.k;
  double* halo = p.halo + t * 2 * g.depth * g.nx;
  for (std::int64_t h = 0; h < 2 * k; ++h) {
    const std::int64_t row = source_row(g, h < k ? a - k + h : b + (h - k));
    if (row >= 0) std::memcpy(halo + h * g.nx, p.src + row * g.nx, sizeof(double) * g.nx);
  }
}

// Per-thread scratch of advance_tile: 3 ring rows for each step 0 .. depth-1 and the two
// Dirichlet edge rows, each 64-byte aligned. Zeroed once, so padding lanes stay finite.
class Ring {
 public:
  explicit Ring(const Grid& g)
      : m_stride(g.stride),
        m_edges(3 * g.depth),
        m_memory(static_cast<std::size_t>((3 * g.depth + 2) * g.stride + kLanes), 0.0) {}
  // Row i of step l (rows of a step reuse 3 slots), then the Dirichlet rows 0 and ny-1.
  double* step(std::int64_t l, std::int64_t i) { return row(3 * l + mod(i, 3)); }
  double* edge(bool bottom) { return row(m_edges + (bottom ? 1 : 0)); }

 private:
  double* row(std::int64_t slot) {
    const auto misaligned = reinterpret_cast<std::uintptr_t>(m_memory.data()) / sizeof(double);
    const auto skip = static_cast<std::int64_t>((kLanes - misaligned % kLanes) % kLanes);
    return m_memory.data() + skip + slot * m_stride + kLanes;
  }
  std::int64_t m_stride, m_edges;
  std::vector<double> m_memory;
};

// Advances the rows [a, b) of tile t by k steps in one sweep over its rows: when row m of the
// input has been copied into the ring, row m-l of step l has its three parents at step l-1 and
// is computed, for l = 1 .. k. The tile is read from memory once; the steps in between live in
// the ring (3 rows per step). At step l the tile also computes the k-l rows beyond each of its
// edges that its neighbours compute too (overlapped tiling), so tiles never wait for each other
// within a pass.
void advance_tile(const Grid& g, const Pass& p, std::int64_t t, Ring& ring) {
  const std::int64_t ny = g.ny, nx = g.nx, k = p.k;
  const std::int64_t a = tile_begin(t), b = tile_end(g, t);
  const double* halo = p.halo + t * 2 * g.depth * nx;
  const auto fixed = [&](std::int64_t i) { return !g.periodic && (i == 0 || i == ny - 1); };
  const auto row = [&](std::int64_t l, std::int64_t i) -> double* {
    if (fixed(i)) return ring.edge(i != 0);  // Dirichlet edge rows never change
    return ring.step(l, i);
  };
  for (std::int64_t m = a - k; m < b + k; ++m) {
    if (const std::int64_t src_row = source_row(g, m); src_row >= 0) {
      const double* in = !p.in_place || (m >= a && m < b)
                             ? p.src + src_row * nx
                             : halo + (m < a ? m - (a - k) : k + (m - b)) * nx;
      double* c = row(0, m);
      std::memcpy(c, in, sizeof(double) * nx);
      c[-1] = g.periodic ? c[nx - 1] : c[0];  // Dirichlet ghosts are never used: any finite
      c[nx] = g.periodic ? c[0] : c[nx - 1];  // value will do
    }
    for (std::int64_t l = 1; l <= k; ++l) {
      const std::int64_t i = m - l;  // the row of step l whose parents are now complete
      if (i < a - (k - l) || i >= b + (k - l) || source_row(g, i) < 0) continue;
      if (fixed(i)) {
        if (l == k && !p.in_place) std::memcpy(p.dst + i * nx, row(0, i), sizeof(double) * nx);
        continue;
      }
      const double* n = row(l - 1, i - 1);
      const double* c = row(l - 1, i);
      const double* s = row(l - 1, i + 1);
      if (l == k) {
        double* out = p.dst + i * nx;
        update_row<true>(out, n, c, s, nx, g.r);
        if (!g.periodic) out[0] = c[0], out[nx - 1] = c[nx - 1];
      } else {
        double* out = ring.step(l, i);
        update_row<false>(out, n, c, s, nx, g.r);
        if (g.periodic) {
          out[-1] = out[nx - 1];
          out[nx] = out[0];
        } else {
          out[0] = c[0];
          out[nx - 1] = c[nx - 1];
        }
      }
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
  g.stride = row_stride(g.nx);
  g.depth = std::clamp<std::int64_t>(kRingBytes / (3 * g.stride * std::int64_t{sizeof(double)}), 1,
                                     std::min(kMaxDepth, std::max<std::int64_t>(1, g.ny / 2)));
  const std::int64_t steps = args.i64("steps");
  const double* u0 = args.array("u0").as<double>().data();
  double* u = ctx.output<double>("u").data();

  ctx.progress().set_total(steps);
  if (steps == 0) {
    std::memcpy(u, u0, sizeof(double) * g.ny * g.nx);
    return;
  }
  // Passes of nearly equal depth. The first reads u0 and writes u; the others work in place.
  // (Rounded up without forming steps + depth - 1, which overflows for steps near 2^63.)
  const std::int64_t passes = steps / g.depth + (steps % g.depth != 0 ? 1 : 0);
  const std::int64_t base = steps / passes, deeper = steps % passes;

  tbb::enumerable_thread_specific<Ring> rings([&] { return Ring(g); });
  const auto halo = std::make_unique_for_overwrite<double[]>(
      passes > 1 ? static_cast<std::size_t>(g.tiles * 2 * g.depth * g.nx) : 0);

  for (std::int64_t s = 0; s < passes; ++s) {
    const Pass p{s == 0 ? u0 : u, u, base + (s < deeper ? 1 : 0), s > 0, halo.get()};
    if (p.in_place)
      parallel_for(ctx, 0, g.tiles, 1, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t t = lo; t < hi; ++t) take_halo(g, p, t);
      });
    parallel_for(ctx, 0, g.tiles, 1, [&](std::int64_t lo, std::int64_t hi) {
      Ring& ring = rings.local();
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
  k.example = [] {
    // A hot square in the middle of a cold 8 x 8 plate.
    std::vector<double> u0(64, 0.0);
    for (int i = 3; i < 5; ++i)
      for (int j = 3; j < 5; ++j) u0[static_cast<std::size_t>(8 * i + j)] = 1.0;
    OwnedArgs a;
    a.array("u0", {8, 8}, u0);
    a.set("r", 0.2).set("steps", std::int64_t{10});
    return a;
  };
  return k;
}

}  // namespace simhost::SIMHOST_CPU_NS
SIMHOST_CPU_END
