// The one wrapper for kernels' parallel loops and reductions (on the process arena).
#pragma once

#include <cstdint>
#include <utility>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/partitioner.h>

#include "simhost/call_context.hpp"

namespace simhost {

/// Calls body(lo, hi) over [begin, end) in chunks of at most `grain` indices, in parallel.
/// Checks the call's cancellation before each chunk (throws Cancelled). Use it when each
/// index's result does not depend on how the range is split.
template <class Body>
void parallel_for(const CallContext& ctx, std::int64_t begin, std::int64_t end, std::int64_t grain,
                  Body&& body) {
  if (end <= begin) return;
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(begin, end, grain > 0 ? grain : 1),
      [&](const tbb::blocked_range<std::int64_t>& r) {
        ctx.check_cancelled();
        body(r.begin(), r.end());
      },
      tbb::simple_partitioner());
}

/// A reduction whose result is bit-identical for any thread count: the range is split into
/// the same chunks (of at most `grain`) and partial results are combined in the same order
/// every time. body(lo, hi) returns the chunk's partial; combine(a, b) joins left and right.
template <class T, class Body, class Combine>
T deterministic_reduce(const CallContext& ctx, std::int64_t begin, std::int64_t end,
                       std::int64_t grain, T identity, Body&& body, Combine&& combine) {
  if (end <= begin) return identity;
  return tbb::parallel_deterministic_reduce(
      tbb::blocked_range<std::int64_t>(begin, end, grain > 0 ? grain : 1), identity,
      [&](const tbb::blocked_range<std::int64_t>& r, T acc) {
        ctx.check_cancelled();
        return combine(std::move(acc), body(r.begin(), r.end()));
      },
      combine, tbb::simple_partitioner());
}

}  // namespace simhost
