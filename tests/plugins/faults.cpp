// Kernels that fail in each way a C++ kernel can, one long-running kernel and one
// deterministic reduction: the subjects of tests/scripts/test_plugins.py, written with the
// SDK's C++ layer as a plugin author would.
#include <simhost/plugin.hpp>

#include <chrono>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

namespace sp = simhost::plugin;

namespace {

// A few microseconds to a millisecond of arithmetic the optimiser cannot drop.
double busy(std::int64_t iterations) {
  volatile double sink = 0;
  double x = 1.0;
  for (std::int64_t i = 0; i < iterations; ++i) x = x * 1.0000001 + 1e-9;
  sink = x;
  return sink;
}

void fail_in_run(sp::Context& ctx) {
  throw std::runtime_error("the solver diverged at step " + std::to_string(ctx.i64("step")));
}

// Throws from a chunk that runs on another thread than the kernel's own: the calling
// thread's chunks take a millisecond each, so the host's workers take chunks meanwhile.
void fail_in_worker(sp::Context& ctx) {
  const auto caller = std::this_thread::get_id();
  ctx.parallel_for(0, 10000, 1, [&](std::int64_t lo, std::int64_t hi) {
    if (std::this_thread::get_id() != caller)
      throw std::runtime_error("chunk [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               ") failed on a worker thread");
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
    while (std::chrono::steady_clock::now() < until) busy(100);
  });
  throw std::logic_error("no chunk ran on a worker thread (is the thread budget 1?)");
}

void fail_alloc(sp::Context&) { throw std::bad_alloc(); }

// `chunks` chunks of `work` iterations each, in parallel, counted as progress: with the
// defaults it runs for hours, so only Ctrl-C, timeout= or cancel() end it.
void spin(sp::Context& ctx) {
  const std::int64_t chunks = ctx.i64("chunks");
  const std::int64_t work = ctx.i64("work");
  ctx.progress_total(chunks);
  ctx.parallel_for(0, chunks, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) busy(work);
    ctx.progress_add(hi - lo);
  });
  ctx.set_output("chunks_done", static_cast<double>(chunks));
}

// sum(x), chunk by chunk of `grain` elements, combined by the host in a fixed order.
void sum_reduce(sp::Context& ctx) {
  const auto x = ctx.input<double>("x");
  const double* data = x.data();
  const double total = ctx.deterministic_reduce<double>(
      0, x.size(), ctx.i64("grain"), 0.0,
      [&](std::int64_t lo, std::int64_t hi) {
        double s = 0.0;
        for (std::int64_t i = lo; i < hi; ++i) s += data[i];
        return s;
      },
      [](double a, double b) { return a + b; });
  ctx.set_output("total", total);
}

}  // namespace

SIMHOST_PLUGIN("faults", "1.0", registry) {
  registry.add(sp::Kernel("fail_in_run", "Throws std::runtime_error from its run function.")
                   .param(sp::int_param("step", 7, "the step named in the message"))
                   .output(sp::float_output("value", "", "never set"))
                   .run(fail_in_run));
  registry.add(sp::Kernel("fail_in_worker", "Throws from a parallel_for chunk on a worker thread.")
                   .output(sp::float_output("value", "", "never set"))
                   .run(fail_in_worker));
  registry.add(sp::Kernel("fail_alloc", "Throws std::bad_alloc from its run function.")
                   .output(sp::float_output("value", "", "never set"))
                   .run(fail_alloc));
  registry.add(sp::Kernel("spin", "Busy chunks in parallel until done, cancelled or timed out.")
                   .param(sp::int_param("chunks", 1000000000, "chunks of work").at_least(1))
                   .param(sp::int_param("work", 20000, "iterations per chunk").at_least(1))
                   .output(sp::float_output("chunks_done", "", "chunks, when all ran"))
                   .progress_unit("chunks")
                   .example([](sp::Example& e) { e.set("chunks", 4).set("work", 10); })
                   .run(spin));
  registry.add(sp::Kernel("sum_reduce", "The sum of x by the host's deterministic reduction.")
                   .doc("Chunks of `grain` elements are summed in order, then combined by the host "
                        "in the same order at any thread count.")
                   .param(sp::array_param("x", "N", "", "the values to add"))
                   .param(sp::int_param("grain", 64, "elements per chunk").at_least(1))
                   .output(sp::float_output("total", "", "sum(x)"))
                   .run(sum_reduce));
}
