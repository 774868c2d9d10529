// ising2d: the 2D Ising model on an L x L periodic square lattice, checkerboard Metropolis.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <vector>

#include <immintrin.h>

#include "simhost/kernels.hpp"
#include "simhost/parallel.hpp"
#include "simhost/random.hpp"

#include "cpu_level.hpp"  // last: see there

SIMHOST_CPU_BEGIN
namespace simhost::SIMHOST_CPU_NS {

namespace {

// Rows per parallel chunk. The result does not depend on it (every site's random word is a
// function of the site and the sweep alone), but it is fixed so that the work split is too.
constexpr std::int64_t kRowGrain = 8;
// Largest L accepted: keeps L^2 and every index far inside 64 bits.
constexpr std::int64_t kMaxL = std::int64_t{1} << 20;
// Philox4x64 stream of the hot start (the sweeps draw from Philox4x32, streams 2t + c).
constexpr std::uint64_t kHotStartStream = ~std::uint64_t{0};
// A site is flipped when (r >> 1) < threshold, r its 32-bit random word: the threshold is
// p * 2^31 (rounded down), so 2^31 means "always" and 0 "never".
constexpr std::uint32_t kAlways = std::uint32_t{1} << 31;
// Sites per segment (one AVX-512 register of int8 spins, two AVX2 ones).
constexpr std::int64_t kSegment = 64;

// Flip thresholds by key = s*nb + 4 + (s < 0), where s is the spin and nb the sum of its four
// neighbours: even keys are s = +1, odd keys s = -1. The energy change of a flip is
// dE = 2 s (nb + h) = 2 (s nb) + 2 s h.
using Thresholds = std::array<std::uint32_t, 16>;

Thresholds flip_thresholds(double beta, double h) {
  Thresholds thr{};
  for (int snb = -4; snb <= 4; snb += 2) {
    for (int s : {1, -1}) {
      const double dE = 2.0 * snb + 2.0 * s * h;
      // beta = 0 accepts everything (and avoids 0 * inf when |h| is huge).
      const double p = beta == 0 ? 1.0 : std::exp(-beta * dE);
      const auto key = static_cast<std::size_t>(snb + 4 + (s < 0 ? 1 : 0));
      thr[key] =
          !(p < 1.0) ? kAlways : static_cast<std::uint32_t>(std::ldexp(p, 31));  // floor, < 2^31
    }
  }
  return thr;
}

// The lattice split by colour: colour c = (i + j) mod 2 holds the sites (i, j) of its colour,
// row i at [i * stride + 1, i * stride + 1 + H) with H = L / 2 and k = j div 2. Each row has a
// ghost copy of its last site before its first and of its first after its last, so that the
// left/right neighbours of a whole row are plain (unaligned) loads.
//
// Neighbours of colour-c site (i, k), with off = (i + c) mod 2 (so j = 2k + off): up and down
// are (i -+ 1, k) and left/right are (i, k) and (i, k - 1 + 2 off) in the other colour.
struct Lattice {
  std::int64_t L = 0, H = 0, stride = 0;
  std::vector<std::int8_t> colour[2];

  explicit Lattice(std::int64_t side) : L(side), H(side / 2), stride(side / 2 + 2) {
    for (auto& c : colour) c.assign(static_cast<std::size_t>(L * stride), 1);
  }
  std::int8_t* row(int c, std::int64_t i) {
    return colour[c].data() + static_cast<std::size_t>(i * stride + 1);
  }
  // The spin of site (i, j) of the full lattice, in its colour array.
  std::int8_t& site(std::int64_t i, std::int64_t j) {
    return row(static_cast<int>((i + j) & 1), i)[j >> 1];
  }
  void set_ghosts(int c, std::int64_t i) {
    std::int8_t* r = row(c, i);
    r[-1] = r[H - 1];
    r[H] = r[0];
  }
};

// Per-row measurement counts: spins +1 after the update and (white rows only) the sum over
// the row of s * (sum of the four neighbours), i.e. the row's share of the bond sum.
struct RowCounts {
  std::int64_t up = 0;
  std::int64_t bond = 0;
};

// The random words of a sweep (docs/kernels/ising2d.md): site k of colour-c row i in sweep t,
// written k = 32 m + 8 q + l (0 <= l < 8, 0 <= q < 4), takes 32-bit word q of Philox4x32-10
// with key seed and counter (8 m + l, i, stream = 2 t + c), i.e. of
// detail::philox4x32_words(seed, stream, (i << 32) + 8 m + l). Eight consecutive counters
// fill the eight 64-bit lanes of a vector, and the layout makes each of their four output
// words eight consecutive sites.

#if SIMHOST_CPU_AVX512

// The words of sites k0 .. k0 + 32 G - 1 (k0 a multiple of 64; words past the row's end are
// made too, and not used): G groups of eight counters through Philox4x32-10 side by side.
template <int kGroups>
inline void random_words_x8(std::uint64_t seed, std::uint64_t stream, std::uint64_t row,
                            std::int64_t k0, std::uint32_t* out) {
  constexpr __mmask8 kAll8 = 0xFF;
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  __m512i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    const auto first = static_cast<long long>(8 * (k0 / 32 + g));
    c0[g] = _mm512_add_epi64(_mm512_set1_epi64(first), lane);
    c1[g] = _mm512_set1_epi64(static_cast<long long>(row));
    c2[g] = _mm512_set1_epi64(static_cast<long long>(stream & 0xffffffffULL));
    c3[g] = _mm512_set1_epi64(static_cast<long long>(stream >> 32));
  }
  detail::philox4x32_rounds_x8<kGroups>(seed, c0, c1, c2, c3);
  // The words are the low halves of the lanes (the high halves hold garbage).
  auto* dst = reinterpret_cast<__m256i*>(out);
  for (int g = 0; g < kGroups; ++g) {
    _mm256_store_si256(dst + 4 * g + 0, _mm512_maskz_cvtepi64_epi32(kAll8, c0[g]));
    _mm256_store_si256(dst + 4 * g + 1, _mm512_maskz_cvtepi64_epi32(kAll8, c1[g]));
    _mm256_store_si256(dst + 4 * g + 2, _mm512_maskz_cvtepi64_epi32(kAll8, c2[g]));
    _mm256_store_si256(dst + 4 * g + 3, _mm512_maskz_cvtepi64_epi32(kAll8, c3[g]));
  }
}

// The words of sites k0 .. k0 + n - 1: one group of counters for up to 32 sites, two above.
inline void random_words(std::uint64_t seed, std::uint64_t stream, std::uint64_t row,
                         std::int64_t k0, std::int64_t n, std::uint32_t* out) {
  if (n <= 32) random_words_x8<1>(seed, stream, row, k0, out);
  else random_words_x8<2>(seed, stream, row, k0, out);
}

// Metropolis for the n <= 64 sites k0 .. k0 + n - 1 of one row (lanes beyond n masked off):
// int8 neighbour sums and flip keys for all 64 lanes, then four groups of 16 lanes widened to
// 32 bits to look up the thresholds and compare them with the random words.
inline void update_segment(std::int8_t* own, const std::int8_t* up, const std::int8_t* down,
                           const std::int8_t* same, std::int64_t side, const std::uint32_t* rnd,
                           __m512i thr, std::int64_t k0, std::int64_t n, RowCounts& counts) {
  const __mmask64 valid = n >= kSegment ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
  const __m512i zero = _mm512_setzero_si512();
  const __m512i four = _mm512_set1_epi8(4);
  // Masked loads never touch the bytes of masked-off lanes (no faults, no reads past a row).
  const __m512i s = _mm512_maskz_loadu_epi8(valid, own + k0);
  const __m512i nb =
      _mm512_add_epi8(_mm512_add_epi8(_mm512_maskz_loadu_epi8(valid, up + k0),
                                      _mm512_maskz_loadu_epi8(valid, down + k0)),
                      _mm512_add_epi8(_mm512_maskz_loadu_epi8(valid, same + k0),
                                      _mm512_maskz_loadu_epi8(valid, same + k0 + side)));
  const __mmask64 negative = _mm512_movepi8_mask(s);
  const __m512i snb = _mm512_mask_sub_epi8(nb, negative, zero, nb);
  __m512i key = _mm512_add_epi8(snb, four);
  key = _mm512_mask_add_epi8(key, negative, key, _mm512_set1_epi8(1));

  // The maskz forms with all-ones masks are the plain instructions; GCC 12 warns about the
  // undefined pass-through operand of the unmasked intrinsics under -Wall.
  constexpr __mmask16 kAll16 = 0xFFFF;
  auto accept = [&](__m128i key16, int q) -> std::uint64_t {
    const __m512i k32 = _mm512_maskz_cvtepu8_epi32(kAll16, key16);
    const __m512i t = _mm512_maskz_permutexvar_epi32(kAll16, k32, thr);
    const __m512i r = _mm512_maskz_srli_epi32(kAll16, _mm512_load_si512(rnd + 16 * q), 1);
    return static_cast<std::uint64_t>(_mm512_cmplt_epu32_mask(r, t));
  };
  const __mmask64 flip = valid & (accept(_mm512_maskz_extracti32x4_epi32(0xF, key, 0), 0) |
                                  (accept(_mm512_maskz_extracti32x4_epi32(0xF, key, 1), 1) << 16) |
                                  (accept(_mm512_maskz_extracti32x4_epi32(0xF, key, 2), 2) << 32) |
                                  (accept(_mm512_maskz_extracti32x4_epi32(0xF, key, 3), 3) << 48));
  _mm512_mask_storeu_epi8(own + k0, valid, _mm512_mask_sub_epi8(s, flip, zero, s));

  // Counts after the update: s > 0 now where (s < 0) != flipped; s * nb changes sign on flips.
  // The byte sums of s * nb + 4 (in 0..8) carry a bias of 4 per valid site.
  counts.up += std::popcount(static_cast<std::uint64_t>(valid & ~(negative ^ flip)));
  const __m512i snb_new = _mm512_mask_sub_epi8(snb, flip, zero, snb);
  const __m512i sums = _mm512_sad_epu8(_mm512_maskz_add_epi8(valid, snb_new, four), zero);
  alignas(64) std::int64_t lanes[8];
  _mm512_store_si512(lanes, sums);
  for (std::int64_t v : lanes) counts.bond += v;
  counts.bond -= 4 * n;
}

#else

// The Metropolis step one site at a time, for sites k0 + t0 .. k0 + t1 - 1 (rnd[t] the word of
// site k0 + t): the whole of it on CPUs without AVX2, a row's last sites on AVX2.
inline void update_sites(std::int8_t* own, const std::int8_t* up, const std::int8_t* down,
                         const std::int8_t* same, std::int64_t side, const std::uint32_t* rnd,
                         const Thresholds& thr, std::int64_t k0, std::int64_t t0, std::int64_t t1,
                         RowCounts& counts) {
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t k = k0 + t;
    const int nb = up[k] + down[k] + same[k] + same[k + side];
    int s = own[k];
    const int snb = s * nb;
    const auto key = static_cast<std::size_t>(snb + 4 + (s < 0 ? 1 : 0));
    if ((rnd[t] >> 1) < thr[key]) s = -s;
    own[k] = static_cast<std::int8_t>(s);
    counts.up += s > 0;
    counts.bond += s * nb;
  }
}

#if SIMHOST_CPU_AVX2

// The words of sites k0 .. k0 + 32 G - 1 as on AVX-512, eight counters per AVX2 register:
// word q of the eight counters 8 m .. 8 m + 7 is the eight sites 32 m + 8 q ...
template <int kGroups>
inline void random_words_x8(std::uint64_t seed, std::uint64_t stream, std::uint64_t row,
                            std::int64_t k0, std::uint32_t* out) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    c0[g] = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(8 * (k0 / 32 + g))), lane);
    c1[g] = _mm256_set1_epi32(static_cast<int>(row));
    c2[g] = _mm256_set1_epi32(static_cast<int>(stream & 0xffffffffULL));
    c3[g] = _mm256_set1_epi32(static_cast<int>(stream >> 32));
  }
  detail::philox4x32_rounds_x8_avx2<kGroups>(seed, c0, c1, c2, c3);
  auto* dst = reinterpret_cast<__m256i*>(out);
  for (int g = 0; g < kGroups; ++g) {
    _mm256_store_si256(dst + 4 * g + 0, c0[g]);
    _mm256_store_si256(dst + 4 * g + 1, c1[g]);
    _mm256_store_si256(dst + 4 * g + 2, c2[g]);
    _mm256_store_si256(dst + 4 * g + 3, c3[g]);
  }
}

inline void random_words(std::uint64_t seed, std::uint64_t stream, std::uint64_t row,
                         std::int64_t k0, std::int64_t n, std::uint32_t* out) {
  if (n <= 32) random_words_x8<1>(seed, stream, row, k0, out);
  else random_words_x8<2>(seed, stream, row, k0, out);
}

// The flip thresholds minus one as signed 32-bit numbers, in two registers of eight keys:
// (r >> 1) < thr  <=>  !((r >> 1) > thr - 1) in signed arithmetic, as r >> 1 < 2^31 and
// 0 <= thr <= 2^31 (AVX2 has no unsigned compare).
struct Table {
  __m256i lo, hi;
};

inline Table flip_table(const Thresholds& thr) {
  alignas(32) std::int32_t minus1[16];
  for (std::size_t i = 0; i < 16; ++i)
    minus1[i] = static_cast<std::int32_t>(static_cast<std::int64_t>(thr[i]) - 1);
  return {_mm256_load_si256(reinterpret_cast<const __m256i*>(minus1)),
          _mm256_load_si256(reinterpret_cast<const __m256i*>(minus1 + 8))};
}

inline __m256i load(const std::int8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Metropolis for 32 sites k .. k + 31 of a row in one register of int8 spins: flip keys in
// int8, then four groups of eight keys widened to 32 bits to look up the thresholds.
inline void update_32(std::int8_t* own, const std::int8_t* up, const std::int8_t* down,
                      const std::int8_t* same, std::int64_t side, const std::uint32_t* rnd,
                      const Table& table, std::int64_t k, RowCounts& counts) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i four = _mm256_set1_epi8(4);
  const __m256i s = load(own + k);
  const __m256i nb = _mm256_add_epi8(_mm256_add_epi8(load(up + k), load(down + k)),
                                     _mm256_add_epi8(load(same + k), load(same + k + side)));
  const __m256i snb = _mm256_sign_epi8(nb, s);       // s * nb, as s is +-1
  const __m256i negative = _mm256_cmpgt_epi8(zero, s);  // -1 where s < 0
  const __m256i key = _mm256_sub_epi8(_mm256_add_epi8(snb, four), negative);  // 0 .. 9

  const __m256i seven = _mm256_set1_epi32(7);
  std::uint32_t flip_bits = 0;
  for (int g = 0; g < 4; ++g) {
    const __m128i half = g < 2 ? _mm256_castsi256_si128(key) : _mm256_extracti128_si256(key, 1);
    const __m256i k32 = _mm256_cvtepu8_epi32(g % 2 == 0 ? half : _mm_srli_si128(half, 8));
    const __m256i t = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(table.lo, k32),
                                         _mm256_permutevar8x32_epi32(table.hi, k32),
                                         _mm256_cmpgt_epi32(k32, seven));
    const __m256i r = _mm256_srli_epi32(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(rnd + 8 * g)), 1);
    const auto keep = static_cast<std::uint32_t>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(r, t))));
    flip_bits |= (~keep & 0xFFu) << (8 * g);
  }
  // The 32 flip bits back to a byte mask: byte j gets byte j / 8 of the bits, then its bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(flip_bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                       3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i flip = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  const __m256i s_new = _mm256_sub_epi8(_mm256_xor_si256(s, flip), flip);  // -s where flip
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(own + k), s_new);

  counts.up += 32 - std::popcount(static_cast<std::uint32_t>(_mm256_movemask_epi8(s_new)));
  // The byte sums of s * nb + 4 (in 0 .. 8) carry a bias of 4 per site.
  const __m256i sums = _mm256_sad_epu8(_mm256_add_epi8(_mm256_sign_epi8(nb, s_new), four), zero);
  alignas(32) std::int64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sums);
  counts.bond += lanes[0] + lanes[1] + lanes[2] + lanes[3] - 4 * 32;
}

// The n <= 64 sites k0 .. k0 + n - 1: whole groups of 32 in AVX2, the rest one at a time
// (plain 32-byte loads would read past the row).
inline void update_segment(std::int8_t* own, const std::int8_t* up, const std::int8_t* down,
                           const std::int8_t* same, std::int64_t side, const std::uint32_t* rnd,
                           const Table& table, const Thresholds& thr, std::int64_t k0,
                           std::int64_t n, RowCounts& counts) {
  std::int64_t t = 0;
  for (; t + 32 <= n; t += 32) update_32(own, up, down, same, side, rnd + t, table, k0 + t, counts);
  update_sites(own, up, down, same, side, rnd, thr, k0, t, n, counts);
}

#else

// The words one counter at a time (bit-identical), and only the counters that sites
// k0 .. k0 + n - 1 use (a short row needs few).
inline void random_words(std::uint64_t seed, std::uint64_t stream, std::uint64_t row,
                         std::int64_t k0, std::int64_t n, std::uint32_t* out) {
  for (std::int64_t g = 0; 32 * g < n; ++g)
    for (std::int64_t l = 0; l < std::min<std::int64_t>(8, n - 32 * g); ++l) {
      const std::uint64_t block = (row << 32) + static_cast<std::uint64_t>(8 * (k0 / 32 + g) + l);
      const auto w = detail::philox4x32_words(seed, stream, block);
      for (std::int64_t q = 0; q < 4; ++q) {
        const std::int64_t t = 32 * g + 8 * q + l;
        if (t < n) out[t] = w[static_cast<std::size_t>(q)];
      }
    }
}

#endif
#endif

// One colour's update of row i (which also refreshes the row's ghosts) and its counts.
RowCounts update_row(Lattice& lat, int c, std::int64_t i, std::uint64_t seed,
                     std::uint64_t stream, const Thresholds& thr) {
  const std::int64_t L = lat.L, H = lat.H;
  std::int8_t* own = lat.row(c, i);
  const std::int8_t* up = lat.row(1 - c, i == 0 ? L - 1 : i - 1);
  const std::int8_t* down = lat.row(1 - c, i == L - 1 ? 0 : i + 1);
  const std::int8_t* same = lat.row(1 - c, i);
  const std::int64_t side = ((i + c) & 1) ? 1 : -1;
  const auto row = static_cast<std::uint64_t>(i);
#if SIMHOST_CPU_AVX512
  const __m512i table = _mm512_loadu_si512(thr.data());
#elif SIMHOST_CPU_AVX2
  const Table table = flip_table(thr);
#endif
  alignas(64) std::uint32_t rnd[kSegment] = {};  // words past a short row's end stay 0
  RowCounts counts;
  for (std::int64_t k0 = 0; k0 < H; k0 += kSegment) {
    const std::int64_t n = std::min(kSegment, H - k0);
    random_words(seed, stream, row, k0, n, rnd);
#if SIMHOST_CPU_AVX512
    update_segment(own, up, down, same, side, rnd, table, k0, n, counts);
#elif SIMHOST_CPU_AVX2
    update_segment(own, up, down, same, side, rnd, table, thr, k0, n, counts);
#else
    update_sites(own, up, down, same, side, rnd, thr, k0, 0, n, counts);
#endif
  }
  lat.set_ghosts(c, i);
  return counts;
}

void run_ising2d(CallContext& ctx) {
  const Args& args = ctx.args();
  const bool given_spins = args.has("spins");
  const std::int64_t L = given_spins ? args.array("spins").shape[0] : args.i64("L");
  const double beta = args.f64("beta");
  const double h = args.f64("h");
  const std::int64_t sweeps = args.i64("sweeps");
  const auto seed = static_cast<std::uint64_t>(args.i64("seed"));
  const std::int64_t measure_every = args.i64("measure_every");
  const bool hot = !given_spins && args.has("start") && args.str("start") == "hot";

  ctx.progress().set_total(sweeps);
  Lattice lat(L);
  if (given_spins) {
    const std::int8_t* in = args.array("spins").as<std::int8_t>().data();
    parallel_for(ctx, 0, L, kRowGrain, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i)
        for (std::int64_t j = 0; j < L; ++j) lat.site(i, j) = in[i * L + j];
    });
  } else if (hot) {
    // Site (i, j) is +1 when bit (j mod 256) of Philox(seed, hot stream).bits(i, j div 256),
    // read as 4 words of 64 bits, low bit of word 0 first, is set.
    const Philox rng(seed, kHotStartStream);
    parallel_for(ctx, 0, L, kRowGrain, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i)
        for (std::int64_t j0 = 0; j0 < L; j0 += 256) {
          const Philox::Words w =
              rng.bits(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(j0 / 256));
          for (std::int64_t j = j0; j < std::min(L, j0 + 256); ++j) {
            const std::int64_t b = j - j0;
            const bool bit = (w[static_cast<std::size_t>(b / 64)] >> (b % 64)) & 1u;
            lat.site(i, j) = bit ? 1 : -1;
          }
        }
    });
  }  // cold: the lattice starts all +1
  for (int c = 0; c < 2; ++c)
    for (std::int64_t i = 0; i < L; ++i) lat.set_ghosts(c, i);

  const Thresholds thr = flip_thresholds(beta, h);
  auto magnetization = ctx.output<double>("magnetization");
  auto energy = ctx.output<double>("energy");
  std::vector<RowCounts> black(static_cast<std::size_t>(L)), white(static_cast<std::size_t>(L));
  const double sites = static_cast<double>(L) * static_cast<double>(L);

  for (std::int64_t t = 0; t < sweeps; ++t) {
    for (int c = 0; c < 2; ++c) {
      const std::uint64_t stream = 2 * static_cast<std::uint64_t>(t) + static_cast<std::uint64_t>(c);
      auto& counts = c == 0 ? black : white;
      parallel_for(ctx, 0, L, kRowGrain, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i)
          counts[static_cast<std::size_t>(i)] = update_row(lat, c, i, seed, stream, thr);
      });
    }
    if ((t + 1) % measure_every == 0) {
      // Integer counts: exact, so their order of summation cannot change the result.
      // Every bond joins a black and a white site, so the white rows' s * nb sums are the
      // bond sum sum_<ij> s_i s_j.
      std::int64_t up = 0, bond = 0;
      for (std::int64_t i = 0; i < L; ++i) {
        up += black[static_cast<std::size_t>(i)].up + white[static_cast<std::size_t>(i)].up;
        bond += white[static_cast<std::size_t>(i)].bond;
      }
      const auto total = static_cast<double>(2 * up - L * L);
      const auto k = static_cast<std::size_t>((t + 1) / measure_every - 1);
      magnetization[k] = total / sites;
      energy[k] = (-static_cast<double>(bond) - h * total) / sites;
    }
    ctx.progress().add(1);
  }

  auto out = ctx.output<std::int8_t>("spins");
  parallel_for(ctx, 0, L, kRowGrain, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i)
      for (std::int64_t j = 0; j < L; ++j)
        out[static_cast<std::size_t>(i * L + j)] = lat.site(i, j);
  });
}

// Cross-parameter rules: exactly one of L / spins, L even, spins +-1, start only with L.
void check_ising2d(const Args& args) {
  const bool has_L = args.has("L"), has_spins = args.has("spins");
  if (has_L == has_spins)
    throw ArgumentTypeError(
        has_L ? "ising2d(): give either the lattice size 'L' or an initial 'spins' array, not both"
              : "ising2d(): give the lattice size 'L' or an initial 'spins' array (neither was "
                "given)");
  if (has_L) {
    const std::int64_t L = args.i64("L");
    if (L % 2 != 0)
      throw ArgumentValueError(fmt::format(
          "ising2d(): parameter 'L' must be even (the two checkerboard colours must alternate "
          "across the periodic boundary), got {}",
          L));
    return;
  }
  if (args.has("start"))
    throw ArgumentValueError(fmt::format(
        "ising2d(): parameter 'start' applies only with 'L'; the given 'spins' array is the "
        "initial state, so leave start as None (got '{}')",
        args.str("start")));
  const ConstArrayView& spins = args.array("spins");
  const std::int64_t L = spins.shape[0];
  if (L < 2 || L % 2 != 0 || L > kMaxL)
    throw ArgumentValueError(fmt::format(
        "ising2d(): parameter 'spins' must be an L x L array with L even, 2 <= L <= {}, got "
        "shape ({}, {})",
        kMaxL, spins.shape[0], spins.shape[1]));
  const std::int8_t* s = spins.as<std::int8_t>().data();
  for (std::int64_t n = 0; n < L * L; ++n)
    if (s[n] != 1 && s[n] != -1)
      throw ArgumentValueError(fmt::format(
          "ising2d(): parameter 'spins' must hold only -1 and +1, got {} at index ({}, {})",
          static_cast<int>(s[n]), n / L, n % L));
}

std::int64_t side_of(const Args& args) {
  return args.has("spins") ? args.array("spins").shape[0] : args.i64("L");
}

std::int64_t measurements(const Args& args) {
  return args.i64("sweeps") / args.i64("measure_every");
}

}  // namespace

KernelDef ising2d_kernel() {
  KernelDef k;
  k.name = "ising2d";
  k.summary = "2D Ising model on a periodic L x L square lattice, checkerboard Metropolis.";
  k.doc =
      "Samples H = -sum_<ij> s_i s_j - h sum_i s_i (J = 1, nearest neighbours, periodic\n"
      "boundaries, spins s = +-1) at inverse temperature beta with single-spin-flip Metropolis.\n"
      "A sweep updates all black sites ((i + j) even) at once, then all white sites; a flip of\n"
      "s with neighbour sum nb costs dE = 2 s (nb + h) and is accepted with probability\n"
      "min(1, exp(-beta dE)). Energies are in units of J, beta in units of 1/J (so beta = J/kT).\n"
      "Give either L (start 'cold' or 'hot') or an initial spins array. Measurements (per-site\n"
      "magnetization and energy) are taken after every measure_every-th sweep. Results are\n"
      "bit-identical for a given seed at any thread count. Scratch memory: one extra copy of the\n"
      "lattice (L^2 bytes, split by colour).";
  k.progress_unit = "sweeps";
  const Dim L = Dim::named("L");
  const Dim K = Dim::named("sweeps//measure_every");
  k.params = {
      optional(int_param("L", std::nullopt,
                         "Lattice side (even): the lattice has L x L sites. Give L or spins."))
          .at_least(2)
          .at_most(static_cast<double>(kMaxL)),
      optional(array_param("spins", {L, L}, "",
                           "Initial state, int8 values -1 or +1 (L even); never modified. Give "
                           "spins or L.",
                           DType::Int8)),
      float_param("beta", std::nullopt, "1/J",
                  "Inverse temperature J/(k_B T); the critical point is ln(1 + sqrt 2)/2 = "
                  "0.4407.")
          .at_least(0),
      float_param("h", 0.0, "J", "External magnetic field (energy per spin per unit s)."),
      int_param("sweeps", std::nullopt, "Number of sweeps (each updates every site once).")
          .at_least(0),
      seed_param("Seed of the Philox random numbers of the sweeps and of the hot start"),
      optional(string_param("start", std::nullopt, {"cold", "hot"},
                            "Initial state with L: 'cold' (all +1; the default) or 'hot' "
                            "(independent random +-1 from the seed). Must be None with spins.")),
      int_param("measure_every", 1,
                "Sweeps between measurements: one after every measure_every-th sweep, "
                "sweeps // measure_every in all.")
          .at_least(1),
  };
  k.outputs = {
      array_output("spins", {L, L}, "", "The final state (int8, +-1).", DType::Int8),
      array_output("magnetization", {K}, "",
                   "Magnetization per site, sum_i s_i / L^2, after each measured sweep."),
      array_output("energy", {K}, "J",
                   "Energy per site, H / L^2, after each measured sweep (ground state: -2 - "
                   "|h|)."),
  };
  k.outputs[0].sized_by = {"L", "spins"};
  k.outputs[1].sized_by = k.outputs[2].sized_by = {"sweeps", "measure_every"};
  k.outputs[0].shape_fn = [](const Args& a) {
    const std::int64_t n = side_of(a);
    return std::vector<std::int64_t>{n, n};
  };
  k.outputs[1].shape_fn = k.outputs[2].shape_fn = [](const Args& a) {
    return std::vector<std::int64_t>{measurements(a)};
  };
  k.check = check_ising2d;
  k.run = run_ising2d;
  k.example = [] {
    OwnedArgs a;
    a.set("L", std::int64_t{8}).set("beta", 0.44).set("sweeps", std::int64_t{10});
    a.set("seed", std::int64_t{1});
    return a;
  };
  return k;
}

}  // namespace simhost::SIMHOST_CPU_NS
SIMHOST_CPU_END
