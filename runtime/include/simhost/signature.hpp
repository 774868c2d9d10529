// A kernel's signature: typed parameters with defaults and bounds, named outputs, the
// KernelDef that pairs them with the run function, and arguments that own their arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "simhost/array_view.hpp"
#include "simhost/error.hpp"

namespace simhost {

/// What a parameter or output holds.
enum class Kind : int { Float = 1, Int = 2, Bool = 3, String = 4, Array = 5 };

/// "float", "int", "bool", "str", "array".
std::string_view kind_name(Kind kind) noexcept;

/// A parameter value before or after binding (std::monostate: None, an optional parameter
/// left out). Arrays are read-only views: binding never writes an input.
using Value = std::variant<std::monostate, double, std::int64_t, bool, std::string, ConstArrayView>;

/// One dimension of a declared shape: a fixed size, a named size shared between parameters
/// ("N"), or an integer parameter plus an offset ("steps+1", outputs only).
struct Dim {
  std::string symbol;       // empty for a fixed size
  std::int64_t offset = 0;  // the fixed size, or what is added to the symbol's value

  /// A dimension of exactly n.
  static Dim fixed(std::int64_t n) { return {{}, n}; }
  /// The named size (or int parameter) `s`, plus `plus`.
  static Dim named(std::string s, std::int64_t plus = 0) { return {std::move(s), plus}; }
  /// "3", "N", "steps+1".
  std::string text() const;
};

/// "(N, 3)", "(steps+1,)", "()".
std::string shape_text(const std::vector<Dim>& shape);

/// A bound on a number (or on every element of an array).
struct Bound {
  double value = 0;
  bool inclusive = true;
};

/// One typed parameter of a kernel.
struct ParamSpec {
  std::string name;
  Kind kind = Kind::Float;
  std::string doc;
  std::string unit;                 // "" when dimensionless
  DType dtype = DType::Float64;     // arrays only
  std::vector<Dim> shape;           // arrays only
  std::optional<Value> default_value;  // absent: required; std::monostate: optional (None)
  std::optional<Bound> min, max;    // numbers, and array elements
  std::vector<std::string> choices; // strings: the accepted values
  bool finite = true;               // floats and float arrays: refuse NaN and inf
  /// Has no default: every call must give it.
  bool required() const noexcept { return !default_value.has_value(); }
  /// May be None (the default): the kernel checks Args::has() to see whether it was given.
  bool optional() const noexcept {
    return default_value && std::holds_alternative<std::monostate>(*default_value);
  }

  // Bounds, chainable: float_param("dt", ...).above(0).
  ParamSpec& above(double v) { min = Bound{v, false}; return *this; }
  ParamSpec& at_least(double v) { min = Bound{v, true}; return *this; }
  ParamSpec& below(double v) { max = Bound{v, false}; return *this; }
  ParamSpec& at_most(double v) { max = Bound{v, true}; return *this; }
};

/// Builders for the common parameter kinds (std::nullopt as default: required).
ParamSpec array_param(std::string name, std::vector<Dim> shape, std::string unit, std::string doc,
                      DType dtype = DType::Float64);
ParamSpec float_param(std::string name, std::optional<double> default_value, std::string unit,
                      std::string doc);
ParamSpec int_param(std::string name, std::optional<std::int64_t> default_value, std::string doc);
/// Makes a parameter optional: None by default (arrays and numbers alike).
ParamSpec optional(ParamSpec p);
ParamSpec bool_param(std::string name, bool default_value, std::string doc);
ParamSpec string_param(std::string name, std::optional<std::string> default_value,
                       std::vector<std::string> choices, std::string doc);
/// The one seed parameter of every seeded kernel (built-in or plugin): `seed`, an int in
/// [0, 2^63 - 1], default 0, with the same documentation everywhere. `what` says what the
/// seed keys ("the Philox streams of the paths"); the rule is appended to it.
ParamSpec seed_param(std::string what);

class Args;  // bind.hpp

/// One named output. Arrays are allocated by the caller before the kernel runs.
struct OutputSpec {
  std::string name;
  Kind kind = Kind::Array;  // Array or Float
  std::string doc;
  std::string unit;
  DType dtype = DType::Float64;
  std::vector<Dim> shape;  // resolved against the bound arguments
  /// Float outputs (scalars and float64 arrays): the call fails with KernelError when the
  /// kernel wrote NaN or inf, which finite inputs only produce when the simulation overflowed
  /// or went unstable. Set false where non-finite values are legitimate results.
  bool finite = true;
  /// Computes the shape instead of `shape` when the sizes are not sums of named sizes
  /// (e.g. sweeps / measure_every); `shape` then documents it. It must not overflow for any
  /// arguments bind() accepts: sums and products of parameters go through size_add() and
  /// size_mul(). Negative sizes are refused.
  std::function<std::vector<std::int64_t>(const Args&)> shape_fn;
  /// The parameters (or named sizes) that shape_fn reads, named with their values when the
  /// output would be too large ("steps=..., save_every=1 would need ... bytes"). Empty: the
  /// symbols of `shape` (with shape_fn: every int parameter).
  std::vector<std::string> sized_by;
};

/// a + b and a * b for sizes computed in a shape_fn (non-negative operands). Throw
/// SizeOverflow past 2^63 - 1; output_shape() reports it naming the output and parameters.
std::int64_t size_add(std::int64_t a, std::int64_t b);
std::int64_t size_mul(std::int64_t a, std::int64_t b);

/// Builders for outputs: an array of the given shape, or a float.
OutputSpec array_output(std::string name, std::vector<Dim> shape, std::string unit, std::string doc,
                        DType dtype = DType::Float64);
OutputSpec float_output(std::string name, std::string unit, std::string doc);

/// Arguments that own their arrays: the views among values() point into memory this object
/// holds, valid while it lives (moving it keeps them valid). What a kernel's example is made
/// of; a plugin's example arrives as views of its own memory and is copied with array().
class OwnedArgs {
 public:
  OwnedArgs() = default;
  OwnedArgs(OwnedArgs&&) noexcept = default;
  OwnedArgs& operator=(OwnedArgs&&) noexcept = default;
  OwnedArgs(const OwnedArgs&) = delete;
  OwnedArgs& operator=(const OwnedArgs&) = delete;

  /// Adds a number, bool, string or None (for an array, use array()).
  OwnedArgs& set(std::string name, Value value);
  /// Adds an array argument: a copy of the shape-many elements at view.data (C order).
  OwnedArgs& array(std::string name, const ConstArrayView& view);
  /// Adds an array argument from its elements (C order; their count must match `shape`).
  template <class T>
  OwnedArgs& array(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& data) {
    static_assert(!std::is_same_v<T, bool>,
                  "std::vector<bool> has no data(): pass a ConstArrayView");
    return array(std::move(name), ConstArrayView{data.data(), dtype_of<T>(), std::move(shape)},
                 data.size());
  }
  /// In the order they were added; the arrays are views of this object's memory.
  const std::vector<std::pair<std::string, Value>>& values() const noexcept { return m_values; }

 private:
  OwnedArgs& array(std::string name, const ConstArrayView& view, std::size_t elements);
  std::vector<std::pair<std::string, Value>> m_values;
  std::vector<std::unique_ptr<std::byte[]>> m_memory;
};

class CallContext;  // call_context.hpp

/// A kernel: its signature plus the function that runs it. Built-in and plugin kernels are
/// the same thing to the runtime.
struct KernelDef {
  std::string name;
  std::string summary;  // one line
  std::string doc;      // the rest: method, units, references
  std::vector<ParamSpec> params;
  std::vector<OutputSpec> outputs;
  std::string progress_unit = "steps";
  /// Optional checks across parameters (e.g. "L must be even", "give L or spins, not
  /// both"), run after binding and before outputs are allocated. Throws ArgumentValueError
  /// or ArgumentTypeError.
  std::function<void(const Args&)> check;
  /// Runs on a TBB worker inside the process arena, never with the GIL. Throws simhost
  /// errors (or std::bad_alloc); any other exception becomes a KernelError.
  std::function<void(CallContext&)> run;
  /// A small valid set of arguments that runs in milliseconds: the kernel's self-test input
  /// (simhost.describe(name)["example"], the limit tests, plugin checks). Each call builds
  /// new buffers. Optional; when given, registration checks that it binds.
  std::function<OwnedArgs()> example;
  /// Where the kernel comes from: "built-in", "plugin FILE" or "Python plugin FILE".
  std::string source = "built-in";
  /// Empty for kernels the runtime runs. "python": a kernel the Python front end runs itself
  /// (a Python plugin); the runtime only binds its arguments, and its run function refuses.
  std::string front_end;

  /// The parameter (output) called `name`, or null.
  const ParamSpec* find_param(std::string_view name) const noexcept;
  const OutputSpec* find_output(std::string_view name) const noexcept;
};

}  // namespace simhost
