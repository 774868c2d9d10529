// What the plugin ABI adds to a kernel call: the same trivial kernel (y = 2 x) registered as
// a built-in KernelDef and loaded as a plugin (bench/plugin/trivial.cpp), each called through
// run_call() (bind, allocate, run on this thread in the arena), alternating, in one process.
//
//   build/release/bin/simhost_bench_plugin_overhead build/release/bench/plugins/bench_trivial.so [calls]
//
// Prints the median time per call of each and the difference (target: <= 0.5 us).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "simhost/call.hpp"
#include "simhost/plugins.hpp"
#include "simhost/registry.hpp"

using namespace std::chrono;

namespace {

double median_ns(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLUGIN.so [calls]\n", argv[0]);
    return 2;
  }
  const int calls = argc > 2 ? std::atoi(argv[2]) : 200000;
  simhost::Registry& registry = simhost::Registry::global();
  simhost::KernelDef builtin;
  builtin.name = "twice_builtin";
  builtin.summary = "y = 2 x";
  builtin.params = {simhost::float_param("x", 1.0, "", "the input")};
  builtin.outputs = {simhost::float_output("y", "", "2 x")};
  builtin.run = [](simhost::CallContext& ctx) { ctx.set_scalar("y", 2 * ctx.args().f64("x")); };
  registry.add(std::move(builtin));
  if (!simhost::load_plugin(registry, argv[1])) {
    std::fprintf(stderr, "cannot load %s: %s\n", argv[1], simhost::plugin_failures().back().reason.c_str());
    return 1;
  }
  const simhost::KernelDef& a = registry.get("twice_builtin");
  const simhost::KernelDef& b = registry.get("twice_plugin");
  // Batches of calls, alternating between the two kernels so that drift affects both alike.
  constexpr int kBatch = 1000;
  std::vector<double> ta, tb;
  double check = 0;
  for (int done = 0; done < calls; done += kBatch) {
    for (int which = 0; which < 2; ++which) {
      const simhost::KernelDef& k = which == 0 ? a : b;
      const auto t0 = steady_clock::now();
      for (int i = 0; i < kBatch; ++i) {
        auto call = simhost::run_call(k, {{"x", simhost::Value{1.5}}});
        check += call->output("y").scalar;
      }
      const double ns = duration<double, std::nano>(steady_clock::now() - t0).count() / kBatch;
      (which == 0 ? ta : tb).push_back(ns);
    }
  }
  const double ma = median_ns(ta), mb = median_ns(tb);
  const bool right = check == 3.0 * static_cast<double>(2 * ta.size() * kBatch);
  std::printf("per call (median of %zu batches of %d): built-in %.3f us, plugin %.3f us, "
              "plugin adds %.3f us (target <= 0.5 us)%s\n",
              ta.size(), kBatch, ma / 1000, mb / 1000, (mb - ma) / 1000,
              right ? "" : " [WRONG RESULTS]");
  return right ? 0 : 1;
}
