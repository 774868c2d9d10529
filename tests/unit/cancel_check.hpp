// The one check, shared by the kernels' unit tests, that a running kernel stops promptly
// when its call is cancelled, and the wait for a call to be running that it uses.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <thread>

#include "simhost/call.hpp"

namespace simhost::testing {

/// What DESIGN.md promises for Ctrl-C, timeout= and Future.cancel().
inline constexpr auto kCancelWithin = std::chrono::milliseconds(500);

/// A timing bound as the tests apply it: times SIMHOST_TEST_TIME_SCALE when that is set (the
/// tsan preset sets it: instrumented kernels run many times slower, each chunk with them),
/// else as given. Release and asan runs check the promise itself.
inline std::chrono::nanoseconds scaled(std::chrono::nanoseconds bound) {
  static const double factor = [] {
    const char* env = std::getenv("SIMHOST_TEST_TIME_SCALE");
    const double f = env ? std::atof(env) : 1.0;
    return f >= 1.0 ? f : 1.0;
  }();
  const double ns = static_cast<double>(bound.count()) * factor;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

/// Starts `call` and waits until it surely runs, however busy the machine is: until it has
/// reported progress, or the process has spent 200 ms of CPU time since the start, which
/// nothing but the kernel does while this thread sleeps (a kernel may report progress only
/// after long stretches, such as dopri5 over a whole tile of systems).
inline void start_and_wait_until_running(const std::shared_ptr<Call>& call) {
  const std::clock_t c0 = std::clock();
  const auto busy = static_cast<std::clock_t>(CLOCKS_PER_SEC / 5);
  start(call);
  const auto running = [&] { return call->progress().done() > 0 || std::clock() - c0 >= busy; };
  const auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::seconds(60));
  while (!running() && !call->done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool ran = running();
  if (!ran) {  // failing: stop it first, it may read the caller's inputs
    call->cancel();
    call->wait();
  }
  REQUIRE(ran);
  REQUIRE_FALSE(call->done());
}

/// For a call that reports no progress for a long time (one path of 4e8 steps): starts it and
/// waits until the process has spent `cpu` of CPU time since, which nothing but the kernel
/// does while this thread sleeps, so it is surely running.
inline void start_and_wait_until_busy(const std::shared_ptr<Call>& call,
                                      std::chrono::milliseconds cpu) {
  const std::clock_t c0 = std::clock();
  start(call);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const auto needed = static_cast<std::clock_t>(cpu.count() * (CLOCKS_PER_SEC / 1000));
  while (std::clock() - c0 < needed && !call->done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(std::clock() - c0 >= needed);
  REQUIRE_FALSE(call->done());
}

/// Starts `call`, waits until it runs, cancels it, and checks that it ends with Cancelled
/// within kCancelWithin (scaled).
inline void check_stops_promptly_when_cancelled(const std::shared_ptr<Call>& call) {
  start_and_wait_until_running(call);
  const auto t0 = std::chrono::steady_clock::now();
  call->cancel();
  const bool stopped = call->wait_for(scaled(kCancelWithin));
  // The caller's inputs must outlive the kernel: a late one is waited for, then reported.
  if (!stopped) call->wait();
  CHECK(stopped);
  CHECK(std::chrono::steady_clock::now() - t0 < scaled(kCancelWithin));
  CHECK_THROWS_AS(call->rethrow_if_failed(), Cancelled);
}

}  // namespace simhost::testing
