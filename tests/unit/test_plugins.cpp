// The plugin loader without Python: real plugins (tests/plugins) loaded into a registry of
// the test's own, called through run_call(), and the descriptor checks of the C ABI.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/plugins.hpp"
#include "simhost/registry.hpp"

using namespace simhost;

namespace {

std::string test_plugin(const std::string& name) {
  return std::string(SIMHOST_TEST_PLUGIN_DIR) + "/" + name + ".so";
}

// The reason load_plugin() recorded for `file` last.
std::string reason_for(const std::string& file) {
  std::string reason;
  for (const auto& f : plugin_failures())
    if (f.file == file) reason = f.reason;
  return reason;
}

}  // namespace

TEST_CASE("a C plugin's kernel runs through run_call() with the host's loops, the same bits at 1 and 3 threads") {
  Registry registry;
  const std::string file = test_plugin("c_scale");
  REQUIRE(load_plugin(registry, file));
  CHECK(load_plugin(registry, file));  // loaded once: the second call finds it
  const KernelDef& k = registry.get("c_scale");
  CHECK(k.source == "plugin " + file);
  CHECK(k.params.size() == 2);
  CHECK(k.find_param("factor")->default_value.has_value());
  CHECK(k.outputs[0].shape.size() == 1);
  CHECK(k.outputs[0].shape[0].symbol == "N");

  std::vector<double> x(10007);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1 * static_cast<double>(i)) * 1e3;
  const ConstArrayView view{x.data(), DType::Float64, {static_cast<std::int64_t>(x.size())}};
  std::vector<double> totals;
  for (int threads : {1, 3}) {
    set_threads(threads);
    auto call = run_call(k, {{"x", view}, {"factor", 0.5}});
    const auto y = call->output("y").array.as<double>();
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(y[i] == 0.5 * x[i]);
    totals.push_back(call->output("total").scalar);
    CHECK(call->progress().done() == static_cast<std::int64_t>(x.size()));
  }
  set_threads(default_threads());
  CHECK(totals[0] == totals[1]);  // bitwise: deterministic_reduce
  double sum = 0;
  for (double v : x) sum += 0.5 * v;
  CHECK(std::abs(totals[0] - sum) <= 1e-9 * std::abs(sum) + 1e-9);
}

TEST_CASE("the ABI version is checked before any of the plugin's code runs, both ways") {
  Registry registry;
  const std::string major = test_plugin("abi_major2");
  CHECK_FALSE(load_plugin(registry, major));
  CHECK(reason_for(major) == "it was built for plugin ABI 2.0, and this host accepts ABI 1.0; "
                             "rebuild it against this simhost's SDK");
  const std::string minor = test_plugin("abi_minor99");
  CHECK_FALSE(load_plugin(registry, minor));
  CHECK(reason_for(minor).starts_with("it was built for plugin ABI 1.99, newer than this host's"));
  CHECK(registry.names().empty());
}

TEST_CASE("a descriptor is checked field by field, naming the kernel and the field") {
  const Registry registry;
  SimhostParamDesc p{};
  p.struct_size = sizeof p;
  p.kind = SIMHOST_KIND_ARRAY;
  p.name = "u";
  p.dtype = SIMHOST_DTYPE_FLOAT64;
  p.shape = "(H, W)";
  SimhostOutputDesc o{};
  o.struct_size = sizeof o;
  o.kind = SIMHOST_KIND_ARRAY;
  o.name = "u";
  o.dtype = SIMHOST_DTYPE_FLOAT64;
  o.shape = "H, W+1";
  SimhostKernelDesc d{};
  d.struct_size = sizeof d;
  d.name = "shapes";
  d.summary = "shapes";
  d.params = &p;
  d.n_params = 1;
  d.outputs = &o;
  d.n_outputs = 1;
  d.run = [](SimhostCall*, void*) -> SimhostStatus { return SIMHOST_STATUS_OK; };
  const KernelDef k = kernel_from_descriptor(registry, d, "f.so");
  REQUIRE(k.outputs[0].shape.size() == 2);
  CHECK(k.outputs[0].shape[1].symbol == "W");
  CHECK(k.outputs[0].shape[1].offset == 1);

  o.shape = "H, M";
  CHECK_THROWS_WITH_AS(kernel_from_descriptor(registry, d, "f.so"),
                       "kernel 'shapes': output 'u' has the shape 'H, M', whose size 'M' is "
                       "neither an int parameter nor a named size of an array parameter",
                       ArgumentValueError);
  o.shape = "H, W";
  p.dtype = 17;
  CHECK_THROWS_WITH_AS(kernel_from_descriptor(registry, d, "f.so"),
                       "kernel 'shapes': parameter 'u' has the unknown dtype 17 (expected "
                       "SIMHOST_DTYPE_FLOAT64, _INT64, _INT32, _INT8 or _BOOL)",
                       ArgumentValueError);
  p.dtype = SIMHOST_DTYPE_FLOAT64;
  p.shape = "H, 3x";
  CHECK_THROWS_WITH_AS(kernel_from_descriptor(registry, d, "f.so"),
                       "kernel 'shapes': parameter 'u' has the shape 'H, 3x': '3x' is neither a "
                       "size nor a name",
                       ArgumentValueError);
  p.shape = "H, W";
  d.run = nullptr;
  CHECK_THROWS_WITH_AS(kernel_from_descriptor(registry, d, "f.so"),
                       "kernel 'shapes' has no run function", ArgumentValueError);
}
