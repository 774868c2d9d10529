// The trivial kernel of bench/plugin/overhead.cpp, as a plugin: y = 2 x, nothing else, so a
// call's time is the cost of calling a kernel through the plugin ABI.
#include <simhost/plugin.hpp>

namespace sp = simhost::plugin;

SIMHOST_PLUGIN("bench_trivial", "1.0", registry) {
  registry.add(sp::Kernel("twice_plugin", "y = 2 x (the per-call overhead benchmark's kernel).")
                   .param(sp::float_param("x", 1.0, "", "the input"))
                   .output(sp::float_output("y", "", "2 x"))
                   .run([](sp::Context& ctx) { ctx.set_output("y", 2 * ctx.f64("x")); }));
}
