// A plugin named TEST_PLUGIN_NAME registering one kernel named TEST_KERNEL_NAME (compile
// definitions): built as dup_nbody (the built-in's name) and as dup_a and dup_b (the same new
// name twice), whose second registration must be refused naming both sources.
#include <simhost/plugin.hpp>

namespace sp = simhost::plugin;

SIMHOST_PLUGIN(TEST_PLUGIN_NAME, "1.0", registry) {
  registry.add(sp::Kernel(TEST_KERNEL_NAME, "A kernel whose name is taken.")
                   .param(sp::float_param("x", 1.0, "", "copied to value"))
                   .output(sp::float_output("value", "", "x"))
                   .run([](sp::Context& ctx) { ctx.set_output("value", ctx.f64("x")); }));
}
