// Array views: inputs are read-only by type, and either view gives its elements only as its
// own dtype (a KernelError naming both dtypes otherwise).
#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "simhost/call.hpp"
#include "simhost/error.hpp"
#include "simhost/signature.hpp"

using namespace simhost;

// Inputs are const by type: a kernel holds a const view and reads const elements.
static_assert(
    std::is_same_v<decltype(std::declval<const Args&>().array("x")), const ConstArrayView&>);
static_assert(std::is_same_v<decltype(std::declval<const ConstArrayView&>().as<double>()),
                             std::span<const double>>);
static_assert(
    std::is_same_v<decltype(std::declval<const ArrayView&>().as<double>()), std::span<double>>);
static_assert(
    std::is_same_v<decltype(std::declval<CallContext&>().output<double>("y")), std::span<double>>);

namespace {

// Reads input `x` and writes output `y` as the element types `mode` names: "right" (float64
// both), "input" (x as int64) or "output" (y as int32).
KernelDef reader() {
  KernelDef k;
  k.name = "reader";
  k.summary = "Reads its array input and output as chosen element types.";
  k.params = {array_param("x", {Dim::named("N")}, "", "the input"),
              string_param("mode", std::nullopt, {"right", "input", "output"}, "what to misread")};
  k.outputs = {array_output("y", {Dim::named("N")}, "", "twice the input")};
  k.run = [](CallContext& ctx) {
    const std::string& mode = ctx.args().str("mode");
    if (mode == "input") ctx.args().array("x").as<std::int64_t>();
    if (mode == "output") ctx.output<std::int32_t>("y");
    const auto x = ctx.args().array("x").as<double>();
    const auto y = ctx.output<double>("y");
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = 2 * x[i];
  };
  return k;
}

}  // namespace

TEST_CASE("an input view gives its elements read-only, and only as its own dtype") {
  std::vector<std::int8_t> spins{1, -1, -1, 1};
  const ConstArrayView v{spins.data(), DType::Int8, {2, 2}};
  const auto elements = v.as<std::int8_t>();
  CHECK(elements.data() == spins.data());  // a view, never a copy
  CHECK(elements.size() == 4);
  CHECK(v.as<const std::int8_t>().size() == 4);
  CHECK(v.bytes() == 4);
  CHECK_THROWS_WITH_AS(v.as<double>(), "an array of int8 elements was read as float64 elements",
                       KernelError);
  CHECK_THROWS_WITH_AS(v.as<bool>(), "an array of int8 elements was read as bool elements",
                       KernelError);
}

TEST_CASE("an output view gives its elements writable, and only as its own dtype") {
  std::vector<double> field(6, 0.0);
  const ArrayView w{field.data(), DType::Float64, {2, 3}};
  w.as<double>()[4] = 2.5;
  CHECK(field[4] == 2.5);
  CHECK_THROWS_WITH_AS(w.as<std::int64_t>(),
                       "an array of float64 elements was read as int64 "
                       "elements",
                       KernelError);
  // Passed on as another call's input, it is the same memory, read-only.
  const ConstArrayView read = w;
  CHECK(read.data == field.data());
  CHECK(read.shape == w.shape);
  CHECK(read.as<double>()[4] == 2.5);
  CHECK_THROWS_WITH_AS(read.as<std::int32_t>(),
                       "an array of float64 elements was read as int32 "
                       "elements",
                       KernelError);
}

TEST_CASE("a kernel reading an input or an output as the wrong dtype fails the call naming both") {
  const KernelDef k = reader();
  const std::vector<double> x{1.0, 2.0, 3.0};
  const auto given = [&](std::string mode) {
    return std::vector<std::pair<std::string, Value>>{
        {"x", ConstArrayView{x.data(), DType::Float64, {3}}}, {"mode", std::move(mode)}};
  };
  auto call = run_call(k, given("right"));
  CHECK(call->output("y").array.as<double>()[2] == 6.0);
  CHECK_THROWS_WITH_AS(run_call(k, given("input")),
                       "an array of float64 elements was read as int64 elements", KernelError);
  CHECK_THROWS_WITH_AS(run_call(k, given("output")),
                       "reader(): output 'y' is a float64 array, read as int32 elements",
                       KernelError);
}
