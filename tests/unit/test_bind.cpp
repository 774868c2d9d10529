// Binding: Python-like messages for every kind of bad argument, defaults, named sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "simhost/call.hpp"
#include "simhost/kernel.hpp"

using namespace simhost;

namespace {

KernelDef signature() {
  KernelDef k;
  k.name = "demo";
  k.summary = "Binding test signature.";
  ParamSpec pos;
  pos.name = "pos";
  pos.kind = Kind::Array;
  pos.shape = {Dim::named("N"), Dim::fixed(3)};
  ParamSpec mass;
  mass.name = "mass";
  mass.kind = Kind::Array;
  mass.shape = {Dim::named("N")};
  mass.min = Bound{0.0, true};
  ParamSpec dt;
  dt.name = "dt";
  dt.kind = Kind::Float;
  dt.min = Bound{0.0, false};
  ParamSpec steps;
  steps.name = "steps";
  steps.kind = Kind::Int;
  steps.default_value = std::int64_t{10};
  steps.min = Bound{0.0, true};
  ParamSpec method;
  method.name = "method";
  method.kind = Kind::String;
  method.default_value = std::string("rk4");
  method.choices = {"rk4", "dopri5"};
  ParamSpec flag;
  flag.name = "antithetic";
  flag.kind = Kind::Bool;
  flag.default_value = false;
  k.params = {pos, mass, dt, steps, method, flag};
  OutputSpec out;
  out.name = "trace";
  out.shape = {Dim::named("steps", 1), Dim::named("N")};
  k.outputs = {out};
  k.run = [](CallContext&) {};
  return k;
}

struct Arrays {
  std::vector<double> pos = std::vector<double>(12, 0.5);
  std::vector<double> mass = std::vector<double>(4, 1.0);
  ArrayView pos_view() { return {pos.data(), DType::Float64, {4, 3}}; }
  ArrayView mass_view() { return {mass.data(), DType::Float64, {4}}; }
};

using Given = std::vector<std::pair<std::string, Value>>;

}  // namespace

TEST_CASE("binding fills defaults, converts ints to floats and resolves named sizes") {
  Arrays a;
  const KernelDef k = signature();
  Args args = bind(k, {{"dt", std::int64_t{2}}, {"mass", a.mass_view()}, {"pos", a.pos_view()}});
  CHECK(args.f64("dt") == 2.0);
  CHECK(args.i64("steps") == 10);
  CHECK(args.str("method") == "rk4");
  CHECK(args.flag("antithetic") == false);
  CHECK(args.size("N") == 4);
  CHECK(args.array("pos").data == a.pos.data());  // a view, never a copy
  CHECK(output_shape(k.outputs[0], args) == std::vector<std::int64_t>{11, 4});
  // Parameters come back in signature order, whatever order they were given in.
  CHECK(args.items()[0].first == "pos");
  CHECK(args.items()[2].first == "dt");
}

TEST_CASE("unknown, duplicate and missing arguments are TypeErrors worded like Python's") {
  Arrays a;
  const KernelDef k = signature();
  CHECK_THROWS_WITH_AS(bind(k, {{"stesp", std::int64_t{3}}}),
                       "demo() got an unexpected keyword argument 'stesp'; did you mean 'steps'?",
                       ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, {{"qqqqqqq", 1.0}}),
                       "demo() got an unexpected keyword argument 'qqqqqqq'; its parameters are "
                       "'pos', 'mass', 'dt', 'steps', 'method' and 'antithetic'",
                       ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, {{"dt", 1.0}, {"dt", 2.0}}),
                       "demo() got multiple values for argument 'dt'", ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, {{"dt", 1.0}}),
                       "demo() missing 2 required keyword arguments: 'pos' and 'mass'",
                       ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}}),
                       "demo() missing 1 required keyword argument: 'dt'", ArgumentTypeError);
}

TEST_CASE("wrong kinds are TypeErrors that name the parameter, the expectation and the value") {
  Arrays a;
  const KernelDef k = signature();
  Given base{{"pos", a.pos_view()}, {"mass", a.mass_view()}};
  auto with = [&](std::string name, Value v) {
    Given g = base;
    g.emplace_back(std::move(name), std::move(v));
    if (g.back().first != "dt") g.emplace_back("dt", 1.0);
    return g;
  };
  CHECK_THROWS_WITH_AS(bind(k, with("steps", 2.5)),
                       "demo(): parameter 'steps' expects an int, got float 2.5", ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, with("steps", true)),
                       "demo(): parameter 'steps' expects an int, got bool True", ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, with("dt", std::string("x"))),
                       "demo(): parameter 'dt' expects a float, got str 'x'", ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, with("antithetic", std::int64_t{1})),
                       "demo(): parameter 'antithetic' expects a bool, got int 1", ArgumentTypeError);
  std::vector<std::int64_t> ints(12);
  Given wrong_dtype{{"pos", ArrayView{ints.data(), DType::Int64, {4, 3}}}, {"mass", a.mass_view()},
                    {"dt", 1.0}};
  CHECK_THROWS_WITH_AS(bind(k, wrong_dtype),
                       "demo(): parameter 'pos' expects a float64 array, got int64 array of shape "
                       "(4, 3)",
                       ArgumentTypeError);
}

TEST_CASE("bad values are ValueErrors: bounds, NaN, shapes, disagreeing sizes, choices") {
  Arrays a;
  const KernelDef k = signature();
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}, {"dt", 0.0}}),
                       "demo(): parameter 'dt' must be > 0.0, got 0.0", ArgumentValueError);
  CHECK_THROWS_WITH_AS(
      bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}, {"dt", std::nan("")}}),
      "demo(): parameter 'dt' must be finite, got nan", ArgumentValueError);
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()},
                                {"mass", a.mass_view()},
                                {"dt", 1.0},
                                {"steps", std::int64_t{-1}}}),
                       "demo(): parameter 'steps' must be >= 0, got -1", ArgumentValueError);
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()},
                                {"mass", a.mass_view()},
                                {"dt", 1.0},
                                {"method", std::string("rk5")}}),
                       "demo(): parameter 'method' must be one of 'rk4' or 'dopri5', got 'rk5'; "
                       "did you mean 'rk4'?",
                       ArgumentValueError);

  a.pos[7] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'pos' contains inf at index (2, 1); expected finite "
                       "values",
                       ArgumentValueError);
  a.pos[7] = 0.5;
  a.mass[3] = -1.0;
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'mass' must have every element >= 0.0, got -1.0 at "
                       "index (3,)",
                       ArgumentValueError);
  a.mass[3] = 1.0;

  ArrayView flat{a.pos.data(), DType::Float64, {12}};
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", flat}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'pos' expects shape (N, 3), got (12,)",
                       ArgumentValueError);
  ArrayView two_cols{a.pos.data(), DType::Float64, {6, 2}};
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", two_cols}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'pos' expects shape (N, 3), got (6, 2)",
                       ArgumentValueError);
  ArrayView short_mass{a.mass.data(), DType::Float64, {3}};
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", short_mass}, {"dt", 1.0}}),
                       "demo(): parameter 'mass' expects shape (N,), got (3,): N must agree with "
                       "'pos', where N = 4",
                       ArgumentValueError);
}

TEST_CASE("optional parameters default to None and accept a value of their kind") {
  KernelDef k;
  k.name = "lattice";
  k.summary = "Optional-parameter test signature.";
  k.params = {optional(int_param("L", std::nullopt, "Lattice size.")).at_least(2),
              optional(array_param("spins", {Dim::named("L"), Dim::named("L")}, "", "Initial spins.",
                                   DType::Int8))};
  k.run = [](CallContext&) {};
  Args none = bind(k, {});
  CHECK_FALSE(none.has("L"));
  CHECK_FALSE(none.has("spins"));
  Args some = bind(k, {{"L", std::int64_t{4}}, {"spins", std::monostate{}}});
  CHECK(some.has("L"));
  CHECK(some.i64("L") == 4);
  CHECK_THROWS_WITH_AS(bind(k, {{"L", std::int64_t{1}}}),
                       "lattice(): parameter 'L' must be >= 2, got 1", ArgumentValueError);
  std::vector<std::int8_t> spins(6, 1);
  CHECK_THROWS_WITH_AS(
      bind(k, {{"spins", ArrayView{spins.data(), DType::Int8, {2, 3}}}}),
      "lattice(): parameter 'spins' expects shape (L, L), got (2, 3): L must agree with 'spins', "
      "where L = 2",
      ArgumentValueError);
}

TEST_CASE("a kernel's cross-parameter check and computed output shapes run before it starts") {
  KernelDef k;
  k.name = "sweeps";
  k.summary = "Check-hook test signature.";
  k.params = {int_param("sweeps", 10, "Sweeps.").at_least(0),
              int_param("measure_every", 3, "Sweeps between measurements.").at_least(1)};
  OutputSpec m = array_output("m", {Dim::named("K")}, "", "Measurements.");
  m.shape_fn = [](const Args& a) {
    return std::vector<std::int64_t>{a.i64("sweeps") / a.i64("measure_every")};
  };
  k.outputs = {m};
  k.check = [](const Args& a) {
    if (a.i64("measure_every") > a.i64("sweeps"))
      throw ArgumentValueError("sweeps(): measure_every must not exceed sweeps");
  };
  bool ran = false;
  k.run = [&](CallContext&) { ran = true; };
  auto call = run_call(k, {});
  CHECK(ran);
  CHECK(call->output("m").array.shape == std::vector<std::int64_t>{3});
  ran = false;
  CHECK_THROWS_WITH_AS(prepare_call(k, {{"measure_every", std::int64_t{20}}}),
                       "sweeps(): measure_every must not exceed sweeps", ArgumentValueError);
  CHECK_FALSE(ran);
}
