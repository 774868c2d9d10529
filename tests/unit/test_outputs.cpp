// Outputs a kernel finished with: non-finite values fail the call unless the output allows
// them (OutputSpec::finite).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "simhost/call.hpp"
#include "simhost/error.hpp"
#include "simhost/parallel.hpp"

using namespace simhost;

namespace {

// Writes `value` at flat index `at` of a (4, 5) array output and into a scalar output.
KernelDef writer(bool finite) {
  KernelDef k;
  k.name = "writer";
  k.summary = "Writes one chosen value.";
  k.params = {float_param("value", 0.0, "", "what to write"),
              int_param("at", 0, "where to write it").at_least(0).below(20)};
  k.params[0].finite = false;  // the input may be NaN/inf: the outputs are under test
  k.outputs = {array_output("field", {Dim::fixed(4), Dim::fixed(5)}, "", "the field"),
               float_output("total", "", "the value again")};
  k.outputs[0].finite = k.outputs[1].finite = finite;
  k.run = [](CallContext& ctx) {
    auto field = ctx.output<double>("field");
    for (auto& x : field) x = 1.0;
    const double v = ctx.args().f64("value");
    field[static_cast<std::size_t>(ctx.args().i64("at"))] = v;
    ctx.set_scalar("total", std::isfinite(v) ? 0.0 : v);
  };
  return k;
}

std::string failure(const KernelDef& k, double value, std::int64_t at) {
  try {
    run_call(k, {{"value", value}, {"at", at}});
  } catch (const KernelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a NaN or inf output fails the call, naming kernel, output, value and index") {
  const KernelDef k = writer(true);
  CHECK(failure(k, 2.5, 7).empty());
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::string at_end = failure(k, inf, 19);
  CHECK(at_end.find("writer(): output 'field' is inf at index (3, 4)") == 0);
  CHECK(at_end.find("range of float64") != std::string::npos);
  CHECK(failure(k, -inf, 0).find("output 'field' is -inf at index (0, 0)") != std::string::npos);
  CHECK(failure(k, nan, 6).find("output 'field' is nan at index (1, 1)") != std::string::npos);
}

TEST_CASE("the first non-finite element is the one named, in large outputs too") {
  KernelDef k;
  k.name = "big";
  k.summary = "A large output with two bad elements.";
  k.outputs = {array_output("x", {Dim::fixed(3'000'000)}, "", "values")};
  k.run = [](CallContext& ctx) {
    auto x = ctx.output<double>("x");
    parallel_for(ctx, 0, static_cast<std::int64_t>(x.size()), 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) x[static_cast<std::size_t>(i)] = 0.5;
    });
    x[2'999'999] = std::numeric_limits<double>::infinity();
    x[1'234'567] = std::numeric_limits<double>::quiet_NaN();
  };
  std::string msg;
  try {
    run_call(k, {});
  } catch (const KernelError& e) {
    msg = e.what();
  }
  CHECK(msg.find("output 'x' is nan at index (1234567,)") != std::string::npos);
}

TEST_CASE("an output declared finite = false may hold NaN and inf") {
  const KernelDef k = writer(false);
  const auto call = run_call(k, {{"value", std::numeric_limits<double>::quiet_NaN()},
                                 {"at", std::int64_t{3}}});
  CHECK(std::isnan(call->output("field").array.as<double>()[3]));
  CHECK(std::isnan(call->output("total").scalar));
}
