// A plugin whose registration block throws after registering a kernel: the C++ layer turns
// the exception into a failed init with its message, and the host adds none of its kernels.
#include <simhost/plugin.hpp>

#include <stdexcept>

namespace sp = simhost::plugin;

SIMHOST_PLUGIN("init_throws", "1.0", registry) {
  registry.add(sp::Kernel("init_throws_kernel", "Registered before the init throws; not added.")
                   .output(sp::float_output("value", "", "never set"))
                   .run([](sp::Context&) {}));
  throw std::runtime_error("cannot read the coefficient table coefficients.dat");
}
