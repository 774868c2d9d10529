// The registry: registration rules, lookup, close matches.
#include <doctest/doctest.h>

#include "simhost/kernels.hpp"
#include "simhost/registry.hpp"
#include "simhost/text.hpp"

using namespace simhost;

namespace {
KernelDef tiny(std::string name) {
  KernelDef k;
  k.name = std::move(name);
  k.summary = "A tiny test kernel.";
  ParamSpec x;
  x.name = "x";
  x.kind = Kind::Float;
  x.default_value = 1.0;
  k.params.push_back(x);
  OutputSpec y;
  y.name = "y";
  y.kind = Kind::Float;
  k.outputs.push_back(y);
  k.run = [](CallContext& ctx) { ctx.set_scalar("y", 2 * ctx.args().f64("x")); };
  return k;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no exception>";
}
}  // namespace

TEST_CASE("a registered kernel can be found by name and is listed in sorted order") {
  Registry r;
  r.add(tiny("zeta"));
  r.add(tiny("alpha"));
  CHECK(r.get("zeta").name == "zeta");
  CHECK(r.find("nope") == nullptr);
  CHECK(r.names() == std::vector<std::string>{"alpha", "zeta"});
}

TEST_CASE("an unknown kernel name raises UnknownKernelError with the closest names") {
  Registry r;
  r.add(tiny("nbody"));
  r.add(tiny("heat2d"));
  try {
    r.get("nbdy");
    FAIL("expected UnknownKernelError");
  } catch (const UnknownKernelError& e) {
    CHECK(e.name() == "nbdy");
    CHECK(e.close_matches() == std::vector<std::string>{"nbody"});
    CHECK(std::string(e.what()) == "unknown kernel 'nbdy'; did you mean 'nbody'?");
  }
  CHECK(message_of([&] { r.get("zzzzzz"); }) ==
        "unknown kernel 'zzzzzz'; no registered kernel has a similar name");
}

TEST_CASE("registration refuses duplicates and malformed signatures, naming the problem") {
  Registry r;
  r.add(tiny("k"));
  CHECK_THROWS_WITH_AS(r.add(tiny("k")),
                       "cannot register kernel 'k' (built-in): a kernel of that name is already registered (built-in)",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(r.add(tiny("Bad name")),
                       "cannot register kernel 'Bad name': the name must be an identifier (ASCII "
                       "letters, digits and '_') starting with a lower-case letter",
                       ArgumentValueError);
  KernelDef no_run = tiny("norun");
  no_run.run = nullptr;
  CHECK_THROWS_WITH_AS(r.add(no_run), "cannot register kernel 'norun': it has no run function",
                       ArgumentValueError);
  KernelDef bad_default = tiny("bad_default");
  bad_default.params[0].min = Bound{5.0, true};
  CHECK_THROWS_WITH_AS(r.add(bad_default),
                       "cannot register kernel 'bad_default': the default of 'x' is invalid: "
                       "bad_default(): parameter 'x' must be >= 5.0, got 1.0",
                       ArgumentValueError);
}

TEST_CASE("names a front end reserves are refused in kernels, with the front end's reason") {
  Registry r;
  KernelDef reserved = tiny("reserved");
  reserved.params[0].name = "timeout";
  KernelDef reserved_out = tiny("reserved_out");
  reserved_out.outputs[0].name = "seconds";
  r.reserve_parameter_names({"timeout", "progress"}, "simhost.run()");
  r.reserve_output_names({"seconds"}, "simhost.Result");
  r.reserve_parameter_names({"timeout"}, "another front end");  // the first reason stays
  CHECK_THROWS_WITH_AS(r.add(reserved),
                       "cannot register kernel 'reserved': parameter name 'timeout' is reserved by "
                       "simhost.run()",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(r.add(reserved_out),
                       "cannot register kernel 'reserved_out': output name 'seconds' is reserved "
                       "by simhost.Result",
                       ArgumentValueError);
  CHECK(r.names().empty());
  // Unreserved in another registry: the core itself reserves nothing.
  Registry plain;
  plain.add(std::move(reserved));
  plain.add(std::move(reserved_out));
  CHECK(plain.names() == std::vector<std::string>{"reserved", "reserved_out"});
  // A name a registered kernel already declares cannot be reserved after the fact.
  CHECK_THROWS_WITH_AS(plain.reserve_parameter_names({"steps", "timeout"}, "simhost.run()"),
                       "cannot reserve parameter name 'timeout' for simhost.run(): kernel "
                       "'reserved' already declares it",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(plain.reserve_output_names({"seconds"}, "simhost.Result"),
                       "cannot reserve output name 'seconds' for simhost.Result: kernel "
                       "'reserved_out' already declares it",
                       ArgumentValueError);
}

TEST_CASE("the built-in kernels register once; adding them again names both sources") {
  Registry r;
  add_builtin_kernels(r);
  CHECK_THROWS_WITH_AS(add_builtin_kernels(r),
                       "cannot register kernel 'nbody' (built-in): a kernel of that name is "
                       "already registered (built-in)",
                       ArgumentValueError);
  CHECK(r.names() ==
        std::vector<std::string>{"heat2d", "ising2d", "mc_asian", "nbody", "ode_batch"});
  const std::string text = describe_text(r.get("nbody"));
  for (const char* part : {"pos (float64 array (N, 3), required", "dt (float, required, > 0.0",
                           "steps (int, required, >= 0)", "eps (float, default 0.01, >= 0.0",
                           "energy (float64 array (steps+1,)", "unit: length", "momentum"})
    CHECK_MESSAGE(text.find(part) != std::string::npos, part);
}

TEST_CASE("close matches rank transpositions and prefixes first") {
  const std::vector<std::string> names{"steps", "seed", "sweeps", "dt"};
  CHECK(close_matches("stesp", names).front() == "steps");
  CHECK(close_matches("swee", names).front() == "sweeps");
  CHECK(close_matches("qqqqqq", names).empty());
}
