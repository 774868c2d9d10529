// One plugin registering a good kernel among five whose descriptors the host must refuse,
// each for its own reason; the good one loads, each bad one is reported.
#include <simhost/plugin.hpp>

namespace sp = simhost::plugin;

namespace {

sp::Kernel with_x(const char* name) {
  return sp::Kernel(name, "A kernel of bad_descriptors.")
      .param(sp::array_param("x", "N", "", "values"))
      .output(sp::array_output("y", "N", "", "2 x"))
      .run([](sp::Context& ctx) {
        ctx.output<double>("y").flat() = 2.0 * ctx.input<double>("x").flat();
      });
}

}  // namespace

SIMHOST_PLUGIN("bad_descriptors", "1.0", registry) {
  registry.add(with_x(""));                    // no name
  registry.add(with_x("Bad-Name"));            // not an identifier
  registry.add(sp::Kernel("bad_dtype", "An array of an unknown element type.")
                   .param(sp::array_param("x", "N", "", "values", static_cast<SimhostDType>(42)))
                   .output(sp::float_output("value", "", "never set"))
                   .run([](sp::Context&) {}));
  registry.add(sp::Kernel("bad_default", "A default outside its own bounds.")
                   .param(sp::float_param("dt", -1.0, "s", "time step").above(0))
                   .output(sp::float_output("value", "", "never set"))
                   .run([](sp::Context&) {}));
  registry.add(sp::Kernel("bad_shape", "An output shape naming a size no parameter has.")
                   .param(sp::array_param("x", "N", "", "values"))
                   .output(sp::array_output("y", "M", "", "never set"))
                   .run([](sp::Context&) {}));
  registry.add(with_x("good_kernel"));
}
