// Binding: the core's neutral messages for every kind of bad argument, defaults, named sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <new>
#include <string>

#include "simhost/call.hpp"
#include "simhost/kernel.hpp"
#include "simhost/registry.hpp"

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
  ConstArrayView pos_view() { return {pos.data(), DType::Float64, {4, 3}}; }
  ConstArrayView mass_view() { return {mass.data(), DType::Float64, {4}}; }
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

TEST_CASE("unknown, duplicate and missing parameters are TypeErrors in neutral words") {
  Arrays a;
  const KernelDef k = signature();
  CHECK_THROWS_WITH_AS(bind(k, {{"stesp", std::int64_t{3}}}),
                       "demo(): unexpected parameter 'stesp'; did you mean 'steps'?",
                       UnexpectedParameterError);
  CHECK_THROWS_WITH_AS(bind(k, {{"qqqqqqq", 1.0}}),
                       "demo(): unexpected parameter 'qqqqqqq'; its parameters are 'pos', 'mass', "
                       "'dt', 'steps', 'method' and 'antithetic'",
                       UnexpectedParameterError);
  CHECK_THROWS_WITH_AS(bind(k, {{"dt", 1.0}, {"dt", 2.0}}),
                       "demo(): parameter 'dt' is given more than once", ArgumentTypeError);
  CHECK_THROWS_WITH_AS(bind(k, {{"dt", 1.0}}),
                       "demo(): missing 2 required parameters: 'pos' and 'mass'",
                       MissingParametersError);
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", a.pos_view()}, {"mass", a.mass_view()}}),
                       "demo(): missing 1 required parameter: 'dt'", MissingParametersError);
}

TEST_CASE("unknown and missing parameter errors carry their parts for a front end's words") {
  const KernelDef k = signature();
  try {
    bind(k, {{"stesp", std::int64_t{3}}});
    FAIL("no error");
  } catch (const UnexpectedParameterError& e) {
    CHECK(e.kernel() == "demo");
    CHECK(e.name() == "stesp");
    CHECK(e.hint() == "did you mean 'steps'?");
  }
  try {
    bind(k, {{"dt", 1.0}});
    FAIL("no error");
  } catch (const MissingParametersError& e) {
    CHECK(e.kernel() == "demo");
    CHECK(e.names() == std::vector<std::string>{"pos", "mass"});
  }
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
  Given wrong_dtype{{"pos", ConstArrayView{ints.data(), DType::Int64, {4, 3}}},
                    {"mass", a.mass_view()},
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

  ConstArrayView flat{a.pos.data(), DType::Float64, {12}};
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", flat}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'pos' expects shape (N, 3), got (12,)",
                       ArgumentValueError);
  ConstArrayView two_cols{a.pos.data(), DType::Float64, {6, 2}};
  CHECK_THROWS_WITH_AS(bind(k, {{"pos", two_cols}, {"mass", a.mass_view()}, {"dt", 1.0}}),
                       "demo(): parameter 'pos' expects shape (N, 3), got (6, 2)",
                       ArgumentValueError);
  ConstArrayView short_mass{a.mass.data(), DType::Float64, {3}};
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
      bind(k, {{"spins", ConstArrayView{spins.data(), DType::Int8, {2, 3}}}}),
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

// ---- Output sizes at the limits of 64 bits -------------------------------------------------

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// What output_shape() throws for these arguments (empty when it throws nothing).
std::string shape_error(const KernelDef& k, const Given& given, std::size_t output = 0) {
  try {
    output_shape(k.outputs[output], bind(k, given));
  } catch (const ArgumentValueError& e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("output sizes are computed without overflow and refused, named, when no array holds "
          "them") {
  Arrays a;
  const KernelDef k = signature();  // trace: (steps+1, N) float64, N = 4 here
  auto given = [&](std::int64_t steps) {
    return Given{{"pos", a.pos_view()}, {"mass", a.mass_view()}, {"dt", 0.1}, {"steps", steps}};
  };
  // steps + 1 itself overflows 64 bits: reported exactly, from 128-bit arithmetic.
  std::string e = shape_error(k, given(kMax));
  CHECK(e == "demo(): steps=9223372036854775807, N=4 would need 295147905179352825856 bytes for "
             "output 'trace' (float64, shape (9223372036854775808, 4)), more than any array can "
             "hold (2^63 - 1 bytes)");
  // The product of the dimensions and the element size overflow 64 bits.
  e = shape_error(k, given(std::int64_t{1} << 62));
  CHECK(contains(e, "steps=4611686018427387904"));
  CHECK(contains(e, "would need 147573952589676412960 bytes for output 'trace'"));
  // The largest size that fits: (2^63 - 1) bytes is the limit, one element more is refused.
  const std::int64_t rows = kMax / 32;  // rows * 4 * 8 <= 2^63 - 1 < (rows + 1) * 4 * 8
  CHECK(shape_error(k, given(rows - 1)).empty());
  CHECK(output_shape(k.outputs[0], bind(k, given(rows - 1))) == std::vector<std::int64_t>{rows, 4});
  CHECK(contains(shape_error(k, given(rows)), "more than any array can hold"));

  // A negative size (an offset below zero) names the output and the dimension.
  KernelDef neg = signature();
  neg.outputs[0].shape = {Dim::named("steps", -1)};
  CHECK(shape_error(neg, given(0)) ==
        "demo(): steps=0 would need a negative size for output 'trace' (dimension 0, steps-1)");
}

TEST_CASE("computed shapes: size_add and size_mul overflow is reported for the output, and a "
          "zero dimension makes any array empty") {
  KernelDef k;
  k.name = "frames";
  k.summary = "Computed-shape test signature.";
  k.params = {int_param("steps", 10, "Steps.").at_least(0),
              int_param("every", 1, "Steps between frames.").at_least(1),
              int_param("width", 3, "Width.").at_least(0)};
  OutputSpec t = array_output("t", {Dim::named("K")}, "", "Frames.");
  t.shape_fn = [](const Args& a) {
    return std::vector<std::int64_t>{size_add(a.i64("steps") / a.i64("every"), 1)};
  };
  t.sized_by = {"steps", "every"};
  OutputSpec grid = array_output("grid", {Dim::named("K"), Dim::named("width")}, "", "Grid.",
                                 DType::Int8);
  grid.shape_fn = [](const Args& a) {
    return std::vector<std::int64_t>{size_mul(a.i64("steps"), 2), a.i64("width")};
  };
  k.outputs = {t, grid};
  k.run = [](CallContext&) {};

  CHECK(shape_error(k, {{"steps", kMax}}, 0) ==
        "frames(): steps=9223372036854775807, every=1 would need more than "
        "73786976294838206456 bytes for output 't' (float64), more than any array can hold "
        "(2^63 - 1 bytes)");
  CHECK(contains(shape_error(k, {{"steps", kMax}, {"every", std::int64_t{2}}}, 0),
                 "every=2 would need 36893488147419103232 bytes for output 't' (float64, shape "
                 "(4611686018427387904,))"));
  // Without sized_by, every int parameter is named.
  const std::string e = shape_error(k, {{"steps", std::int64_t{1} << 62}}, 1);
  CHECK(contains(e, "frames(): steps=4611686018427387904, every=1, width=3 would need more than "
                    "9223372036854775807 bytes for output 'grid' (int8)"));
  // (2^63 - 1, 0): no elements, however large the other dimension; it is allocated empty.
  CHECK(shape_error(k, {{"steps", kMax / 2}, {"width", std::int64_t{0}}}, 1).empty());
  auto call = prepare_call(k, {{"steps", std::int64_t{0}}, {"width", std::int64_t{0}}});
  CHECK(call->output("grid").array.size() == 0);
  CHECK(size_add(kMax - 1, 1) == kMax);
  CHECK_THROWS_AS(size_add(kMax, 1), SizeOverflow);
  CHECK(size_mul(std::int64_t{1} << 31, std::int64_t{1} << 31) == std::int64_t{1} << 62);
  CHECK_THROWS_AS(size_mul(std::int64_t{1} << 32, std::int64_t{1} << 31), SizeOverflow);
}

TEST_CASE("outputs larger than the machine's memory are a named MemoryError before anything is "
          "allocated") {
  KernelDef k;
  k.name = "big";
  k.summary = "Allocation test signature.";
  k.params = {int_param("n", 1, "Elements.").at_least(0)};
  k.outputs = {array_output("small", {Dim::fixed(2)}, "", "Two values."),
               array_output("huge", {Dim::named("n")}, "", "n bytes.", DType::Int8)};
  bool ran = false;
  k.run = [&](CallContext&) { ran = true; };
  bool allocated = false;
  const OutputAllocator alloc = [&](const OutputSpec&, const std::vector<std::int64_t>&) -> void* {
    allocated = true;
    throw std::bad_alloc();
  };
  // 2^62 bytes (4 EiB) fit in 64 bits but in no machine's RAM: refused before the allocator
  // is asked for anything, naming the parameter and the output.
  try {
    prepare_call(k, {{"n", std::int64_t{1} << 62}}, &alloc);
    FAIL("no error");
  } catch (const AllocationError& e) {
    const std::string msg = e.what();
    CHECK(contains(msg, "big(): n=4611686018427387904 would need 4611686018427387920 bytes "
                        "(4.0 EiB) for output 'huge', more than can be allocated on this machine"));
  }
  CHECK_FALSE(allocated);
  CHECK_FALSE(ran);
  // An allocation that fails is named the same way (and is a std::bad_alloc: a MemoryError).
  try {
    prepare_call(k, {{"n", std::int64_t{5}}}, &alloc);
    FAIL("no error");
  } catch (const std::bad_alloc& e) {
    CHECK(std::string(e.what()) ==
          "big(): needs 16 bytes for output 'small', which could not be allocated");
  }
}

TEST_CASE("array views count elements and bytes without overflow") {
  ConstArrayView v{nullptr, DType::Float64, {std::int64_t{1} << 31, std::int64_t{1} << 31}};
  CHECK(v.size() == std::int64_t{1} << 62);
  CHECK_THROWS_WITH_AS(v.bytes(), "a float64 array of shape (2147483648, 2147483648) has more "
                                  "than 2^63 - 1 bytes",
                       ArgumentValueError);
  v.shape = {std::int64_t{1} << 32, std::int64_t{1} << 32};  // 2^64 wraps to 0 in 64 bits
  CHECK_THROWS_WITH_AS(v.size(), "an array of shape (4294967296, 4294967296) has more than "
                                 "2^63 - 1 elements",
                       ArgumentValueError);
  v.shape = {kMax, kMax, 0};
  CHECK(v.size() == 0);
  CHECK(v.bytes() == 0);
  v.shape = {3, -1};
  CHECK_THROWS_AS(v.size(), ArgumentValueError);
}

TEST_CASE("progress counts saturate at 2^63 - 1 instead of wrapping") {
  Progress p;
  p.add(kMax - 1);
  p.add(5);
  CHECK(p.done() == kMax);
  p.add(1);
  CHECK(p.done() == kMax);
}

TEST_CASE("a kernel's example owns copies of its arrays and must bind to be registered") {
  std::vector<double> pos(12, 0.5), mass(4, 1.0);
  OwnedArgs ex;
  ex.array("pos", {4, 3}, pos).array("mass", {4}, mass).set("dt", 0.1);
  pos[0] = 7.0;  // the example keeps its own copy
  OwnedArgs moved = std::move(ex);
  const auto& values = moved.values();
  REQUIRE(values.size() == 3);
  const auto& view = std::get<ConstArrayView>(values[0].second);
  CHECK(view.shape == std::vector<std::int64_t>{4, 3});
  CHECK(view.as<double>()[0] == 0.5);
  const KernelDef k = signature();
  Args args = bind(k, moved.values());
  CHECK(args.size("N") == 4);
  CHECK_THROWS_AS(OwnedArgs().array("pos", {4, 4}, pos), KernelError);  // 12 values, 16 wanted
  CHECK_THROWS_AS(OwnedArgs().set("pos", view), KernelError);

  Registry registry;
  KernelDef good = signature();
  good.example = [] {
    OwnedArgs a;
    a.array<double>("pos", {1, 3}, {0.0, 0.0, 0.0}).array<double>("mass", {1}, {1.0});
    a.set("dt", 0.1);
    return a;
  };
  CHECK_NOTHROW(registry.add(good));
  KernelDef bad = signature();
  bad.name = "bad";
  bad.example = [] {
    OwnedArgs a;
    a.array<double>("pos", {1, 3}, {0.0, 0.0, 0.0}).array<double>("mass", {1}, {-1.0});
    a.set("dt", 0.1);
    return a;
  };
  CHECK_THROWS_WITH_AS(registry.add(bad),
                       doctest::Contains("cannot register kernel 'bad': its example is not a "
                                         "valid call: bad(): parameter 'mass'"),
                       ArgumentValueError);
}

TEST_CASE("seed_param is one rule for every seeded kernel: an int in [0, 2^63 - 1], default 0") {
  const ParamSpec p = seed_param("Seed of the streams");
  CHECK(p.name == "seed");
  CHECK(p.kind == Kind::Int);
  CHECK(std::get<std::int64_t>(*p.default_value) == 0);
  REQUIRE(p.min);
  CHECK(p.min->value == 0.0);
  CHECK_FALSE(p.max);
  CHECK(p.doc.starts_with("Seed of the streams. An int in [0, 2^63 - 1] (default 0)"));
}
