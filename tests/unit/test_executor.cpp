// The executor: one thread budget, asynchronous calls, cancellation, errors, determinism.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <tbb/task_arena.h>

#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/parallel.hpp"

#include "cancel_check.hpp"

using namespace simhost;
using namespace std::chrono_literals;

namespace {

KernelDef looping_kernel() {
  // Runs parallel chunks until cancelled (or `rounds` rounds), counting progress.
  KernelDef k;
  k.name = "spin";
  k.summary = "Spins in parallel chunks.";
  ParamSpec count;
  count.name = "rounds";
  count.kind = Kind::Int;
  count.default_value = std::int64_t{1'000'000'000};
  k.params = {count};
  OutputSpec threads;
  threads.name = "threads";
  threads.kind = Kind::Float;
  k.outputs = {threads};
  // "threads" is the most threads that ran chunks at the same time: the budget bounds that,
  // not how many distinct threads take part over a whole call (TBB's workers may leave the
  // arena and others join it between rounds).
  k.run = [](CallContext& ctx) {
    std::atomic<int> inside{0}, most{0};
    const auto rounds = ctx.args().i64("rounds");
    ctx.progress().set_total(rounds);
    for (std::int64_t r = 0; r < rounds; ++r) {
      parallel_for(ctx, 0, 64, 1, [&](std::int64_t, std::int64_t) {
        const int now = inside.fetch_add(1) + 1;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        volatile double x = 0;
        for (int i = 0; i < 20000; ++i) x = x + 1e-9 * i;
        inside.fetch_sub(1);
      });
      ctx.progress().add(1);
    }
    ctx.set_scalar("threads", static_cast<double>(most.load()));
  };
  return k;
}

}  // namespace

TEST_CASE("the thread budget is settable, and kernels never use more threads than it") {
  const KernelDef k = looping_kernel();
  for (int n : {1, 2, 3}) {
    CAPTURE(n);
    set_threads(n);
    CHECK(get_threads() == n);
    auto call = run_call(k, {{"rounds", std::int64_t{20}}});
    CHECK(call->output("threads").scalar >= 1);
    CHECK(call->output("threads").scalar <= n);
    CHECK(call->progress().done() == 20);
    CHECK(call->progress().total() == 20);
  }
  CHECK_THROWS_WITH_AS(set_threads(0),
                       "the thread count must be an integer between 1 and 1024, got '0'",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(set_threads(1025),
                       "the thread count must be an integer between 1 and 1024, got '1025'",
                       ArgumentValueError);
  CHECK(get_threads() == 3);  // unchanged by the refused counts
}

TEST_CASE("a running kernel stops promptly when cancelled, and the executor stays usable") {
  set_threads(2);
  const KernelDef k = looping_kernel();
  auto call = prepare_call(k, {});
  testing::start_and_wait_until_running(call);
  const auto t0 = std::chrono::steady_clock::now();
  call->cancel();
  REQUIRE(call->wait_for(testing::scaled(500ms)));
  CHECK(std::chrono::steady_clock::now() - t0 < testing::scaled(500ms));
  CHECK_THROWS_AS(call->rethrow_if_failed(), Cancelled);
  auto again = run_call(k, {{"rounds", std::int64_t{2}}});
  CHECK(again->progress().done() == 2);
}

TEST_CASE("two calls run at the same time on the one arena") {
  set_threads(2);
  const KernelDef k = looping_kernel();
  auto a = prepare_call(k, {});
  auto b = prepare_call(k, {});
  start(a);
  start(b);
  // Both make progress while both are in flight.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((a->progress().done() == 0 || b->progress().done() == 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  CHECK(a->progress().done() > 0);
  CHECK(b->progress().done() > 0);
  a->cancel();
  b->cancel();
  a->wait();
  b->wait();
}

TEST_CASE("failures inside a kernel become KernelErrors that name the kernel") {
  KernelDef k;
  k.name = "broken";
  k.summary = "Always fails.";
  OutputSpec y;
  y.name = "y";
  y.kind = Kind::Float;
  k.outputs = {y};
  k.run = [](CallContext&) { throw std::runtime_error("matrix is singular"); };
  CHECK_THROWS_WITH_AS(run_call(k, {}), "broken(): matrix is singular", KernelError);
  k.run = [](CallContext&) {};
  CHECK_THROWS_WITH_AS(run_call(k, {}),
                       "broken(): the kernel finished without setting output 'y'", KernelError);
  k.run = [](CallContext& ctx) { ctx.args().f64("nope"); };
  CHECK_THROWS_WITH_AS(run_call(k, {}),
                       "broken(): the kernel asked for parameter 'nope', which is not in its "
                       "signature",
                       KernelError);
}

TEST_CASE("deterministic_reduce gives the same bits at 1, 2, 3 and 16 threads") {
  KernelDef k;
  k.name = "sum";
  k.summary = "Sums an ill-conditioned series.";
  OutputSpec s;
  s.name = "s";
  s.kind = Kind::Float;
  k.outputs = {s};
  k.run = [](CallContext& ctx) {
    const double total = deterministic_reduce(
        ctx, 0, 1'000'003, 1000, 0.0,
        [](std::int64_t lo, std::int64_t hi) {
          double acc = 0;
          for (std::int64_t i = lo; i < hi; ++i) acc += (i % 2 ? 1e16 : -1e16) / (static_cast<double>(i) + 1.0) + 1.0 / 3;
          return acc;
        },
        [](double a, double b) { return a + b; });
    ctx.set_scalar("s", total);
  };
  set_threads(1);
  const double reference = run_call(k, {})->output("s").scalar;
  for (int n : {2, 3, 16}) {
    CAPTURE(n);
    set_threads(n);
    for (int repeat = 0; repeat < 5; ++repeat) CHECK(run_call(k, {})->output("s").scalar == reference);
  }
}

TEST_CASE("SIMHOST_THREADS sets the default budget and a bad value is refused with its text") {
  setenv("SIMHOST_THREADS", "3", 1);
  CHECK(default_threads() == 3);
  setenv("SIMHOST_THREADS", "two", 1);
  CHECK_THROWS_WITH_AS(default_threads(),
                       "SIMHOST_THREADS must be an integer between 1 and 1024, got 'two'",
                       ArgumentValueError);
  setenv("SIMHOST_THREADS", "0", 1);
  CHECK_THROWS_WITH_AS(default_threads(),
                       "SIMHOST_THREADS must be an integer between 1 and 1024, got '0'",
                       ArgumentValueError);
  unsetenv("SIMHOST_THREADS");
  CHECK(default_threads() >= 1);
}

TEST_CASE("one parser reads every thread count given as text, with one message shape") {
  CHECK(parse_threads("1", "--threads") == 1);
  CHECK(parse_threads("1024", "--threads") == 1024);
  for (const char* bad :
       {"", "0", "-1", "1025", "+2", " 2", "2 ", "2.0", "two", "0x10", "99999999999999999999999"}) {
    CAPTURE(bad);
    const std::string expected =
        "--threads must be an integer between 1 and 1024, got '" + std::string(bad) + "'";
    CHECK_THROWS_WITH_AS(parse_threads(bad, "--threads"), expected.c_str(), ArgumentValueError);
  }
  CHECK(check_threads(16, "threads") == 16);
  CHECK_THROWS_WITH_AS(check_threads(std::int64_t{1} << 40, "threads"),
                       "threads must be an integer between 1 and 1024, got '1099511627776'",
                       ArgumentValueError);
}

// ---- Calls run by the calling thread (run_here) ----

namespace {

// Records which threads ran its chunks, and runs until cancelled or `rounds` rounds.
struct ThreadLog {
  std::mutex mutex;
  std::set<std::thread::id> ids;
};

KernelDef logging_kernel(std::shared_ptr<ThreadLog> log) {
  KernelDef k = looping_kernel();
  k.name = "logged";
  k.run = [log](CallContext& ctx) {
    const auto rounds = ctx.args().i64("rounds");
    for (std::int64_t r = 0; r < rounds; ++r) {
      parallel_for(ctx, 0, 16, 1, [&](std::int64_t, std::int64_t) {
        std::lock_guard lock(log->mutex);
        log->ids.insert(std::this_thread::get_id());
      });
      ctx.progress().add(1);
    }
    ctx.set_scalar("threads", static_cast<double>(log->ids.size()));
  };
  return k;
}

// run_here() declines while workers of an earlier call still hold every slot (for a moment
// after it); tries until it runs, for up to a second.
bool run_here_soon(const std::shared_ptr<Call>& call, CallerDuty* duty = nullptr) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (run_here(call, duty)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

}  // namespace

TEST_CASE("run_here runs the call on the calling thread, within the budget") {
  for (int n : {1, 2}) {
    CAPTURE(n);
    set_threads(n);
    auto log = std::make_shared<ThreadLog>();
    const KernelDef k = logging_kernel(log);
    auto call = prepare_call(k, {{"rounds", std::int64_t{50}}});
    REQUIRE(run_here_soon(call));
    CHECK(call->done());
    call->rethrow_if_failed();
    CHECK(log->ids.count(std::this_thread::get_id()) == 1);
    CHECK(log->ids.size() <= static_cast<std::size_t>(n));
    CHECK(call->progress().done() == 50);
  }
}

TEST_CASE("run_here declines while another call runs, and the call then runs on a worker") {
  set_threads(2);
  const KernelDef spin = looping_kernel();
  auto busy = prepare_call(spin, {});
  testing::start_and_wait_until_running(busy);

  auto log = std::make_shared<ThreadLog>();
  const KernelDef k = logging_kernel(log);
  auto call = prepare_call(k, {{"rounds", std::int64_t{3}}});
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(run_here(call));
  CHECK(std::chrono::steady_clock::now() - t0 < testing::scaled(100ms));  // declined at once
  CHECK_FALSE(call->done());
  CHECK(log->ids.empty());
  start(call);
  REQUIRE(call->wait_for(10s));
  call->rethrow_if_failed();
  CHECK(log->ids.count(std::this_thread::get_id()) == 0);
  busy->cancel();
  busy->wait();
}

TEST_CASE("the caller's duty runs on the calling thread from cancellation checks and can stop the kernel") {
  set_threads(2);
  const KernelDef spin = looping_kernel();
  auto call = prepare_call(spin, {});
  int duties = 0;
  bool elsewhere = false;
  const auto caller = std::this_thread::get_id();
  CallerDuty duty(5ms, [&] {
    elsewhere = elsewhere || std::this_thread::get_id() != caller;
    if (++duties == 3) call->cancel();
  });
  REQUIRE(run_here_soon(call, &duty));
  CHECK(duties == 3);
  CHECK_FALSE(elsewhere);
  CHECK_THROWS_AS(call->rethrow_if_failed(), Cancelled);
  CHECK(call->progress().done() > 0);
}

TEST_CASE("the thread count cannot change from inside a running kernel") {
  KernelDef k;
  k.name = "resizer";
  k.summary = "Changes the thread count from inside.";
  k.outputs = {float_output("y", "", "A value it never gets to set.")};
  k.run = [](CallContext& ctx) {
    set_threads(3);
    ctx.set_scalar("y", 1);
  };
  set_threads(2);
  CHECK_THROWS_WITH_AS(run_call(k, {}),
                       "resizer(): the thread count cannot change while this thread has a "
                       "kernel call in progress (set_threads was called from code that runs "
                       "during a call, such as a signal handler); change it between calls",
                       KernelError);
  CHECK(get_threads() == 2);
}
