// A plugin that loads cleanly and whose kernel calls std::abort() when run, so its self-test
// (`simhost plugins check`) crashes with SIGABRT. Never run its kernel in a test's own process.
#include <simhost/plugin.hpp>

#include <cstdlib>

namespace sp = simhost::plugin;

SIMHOST_PLUGIN("abort_selftest", "1.0", registry) {
  registry.add(sp::Kernel("abort_in_run", "Calls std::abort() when run.")
                   .param(sp::float_param("x", 1.0, "", "unused"))
                   .output(sp::float_output("value", "", "never set"))
                   .example([](sp::Example& e) { e.set("x", 2.0); })
                   .run([](sp::Context&) { std::abort(); }));
}
