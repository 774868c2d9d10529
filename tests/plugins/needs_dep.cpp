// A plugin linked against libsimhost_test_dep.so, found through its RUNPATH
// ($ORIGIN/../plugin_deps): it loads where that library is, and fails naming it where not.
#include <simhost/plugin.hpp>

extern "C" double simhost_test_dep_triple(double x);

namespace sp = simhost::plugin;

SIMHOST_PLUGIN("needs_dep", "1.0", registry) {
  registry.add(sp::Kernel("dep_triple", "3 x, computed by libsimhost_test_dep.so.")
                   .param(sp::float_param("x", {}, "", "the value"))
                   .output(sp::float_output("value", "", "3 x"))
                   .run([](sp::Context& ctx) {
                     ctx.set_output("value", simhost_test_dep_triple(ctx.f64("x")));
                   }));
}
