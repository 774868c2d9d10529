// Kernel signatures (typed parameters and outputs), bound arguments and the call context.
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include "simhost/error.hpp"

namespace simhost {

/// Element type of an array parameter or output.
enum class DType : int { Float64 = 1, Int64 = 2, Int32 = 3, Int8 = 4, Bool = 5 };

/// numpy's name of the dtype ("float64", "int8", ...).
std::string_view dtype_name(DType dtype) noexcept;
/// Bytes per element.
std::size_t dtype_size(DType dtype) noexcept;

/// True when float64 holds the integer exactly: its significant bits (between the highest
/// and lowest set bit) fit float64's 53-bit significand. Beyond 2**53 most integers do not.
constexpr bool exact_in_double(std::uint64_t magnitude) noexcept {
  return magnitude == 0 || (magnitude >> std::countr_zero(magnitude)) < (std::uint64_t{1} << 53);
}
constexpr bool exact_in_double(std::int64_t value) noexcept {
  const auto bits = static_cast<std::uint64_t>(value);
  return exact_in_double(value < 0 ? ~bits + 1 : bits);  // |INT64_MIN| = 2**63, exact
}

/// What a parameter or output holds.
enum class Kind : int { Float = 1, Int = 2, Bool = 3, String = 4, Array = 5 };

/// "float", "int", "bool", "str", "array".
std::string_view kind_name(Kind kind) noexcept;

/// The DType of element type T (double, std::int64_t, std::int32_t, std::int8_t, bool).
template <class T>
constexpr DType dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::Int64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::Int32;
  else if constexpr (std::is_same_v<T, std::int8_t>) return DType::Int8;
  else {
    static_assert(std::is_same_v<T, bool>, "not an element type of simhost arrays");
    return DType::Bool;
  }
}

/// A C-contiguous n-dimensional array owned elsewhere (numpy, a batch buffer, a test).
/// The view never owns memory; whoever made it keeps the memory alive for the call.
struct ArrayView {
  void* data = nullptr;
  DType dtype = DType::Float64;
  std::vector<std::int64_t> shape;

  /// Number of elements. Throws ArgumentValueError for a negative dimension or when the
  /// count (or bytes()) exceeds 2^63 - 1, which no array can have.
  std::int64_t size() const;
  std::size_t bytes() const;
  template <class T>
  std::span<T> as() const {
    return {static_cast<T*>(data), static_cast<std::size_t>(size())};
  }
};

/// A parameter value before or after binding.
using Value = std::variant<std::monostate, double, std::int64_t, bool, std::string, ArrayView>;

/// One dimension of a declared shape: a fixed size, a named size shared between parameters
/// ("N"), or an integer parameter plus an offset ("steps+1", outputs only).
struct Dim {
  std::string symbol;       // empty for a fixed size
  std::int64_t offset = 0;  // the fixed size, or what is added to the symbol's value

  static Dim fixed(std::int64_t n) { return {{}, n}; }
  static Dim named(std::string s, std::int64_t plus = 0) { return {std::move(s), plus}; }
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

class Args;

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

class CallContext;

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
  OwnedArgs& array(std::string name, const ArrayView& view);
  /// Adds an array argument from its elements (C order; their count must match `shape`).
  template <class T>
  OwnedArgs& array(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& data) {
    static_assert(!std::is_same_v<T, bool>, "std::vector<bool> has no data(): pass an ArrayView");
    return array(std::move(name), ArrayView{const_cast<T*>(data.data()), dtype_of<T>(),
                                            std::move(shape)},
                 data.size());
  }
  /// In the order they were added; the arrays are views of this object's memory.
  const std::vector<std::pair<std::string, Value>>& values() const noexcept { return m_values; }

 private:
  OwnedArgs& array(std::string name, const ArrayView& view, std::size_t elements);
  std::vector<std::pair<std::string, Value>> m_values;
  std::vector<std::unique_ptr<std::byte[]>> m_memory;
};

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

  const ParamSpec* find_param(std::string_view name) const noexcept;
  const OutputSpec* find_output(std::string_view name) const noexcept;
};

/// Validated arguments of one call: every parameter present (defaults filled in), types
/// converted, shapes checked and named sizes resolved.
class Args {
 public:
  double f64(std::string_view name) const;
  std::int64_t i64(std::string_view name) const;
  bool flag(std::string_view name) const;
  const std::string& str(std::string_view name) const;
  const ArrayView& array(std::string_view name) const;
  const Value& value(std::string_view name) const;
  /// False when an optional parameter was left as None.
  bool has(std::string_view name) const;
  /// The value of a named size ("N") resolved from the array shapes.
  std::int64_t size(std::string_view symbol) const;

  const std::vector<std::pair<std::string, Value>>& items() const noexcept { return m_values; }
  /// The name of the kernel these arguments were bound for.
  const std::string& kernel_name() const noexcept { return m_kernel; }
  const std::vector<std::pair<std::string, std::int64_t>>& sizes() const noexcept { return m_sizes; }

 private:
  friend Args bind(const KernelDef&, std::vector<std::pair<std::string, Value>>);
  std::string m_kernel;
  std::vector<std::pair<std::string, Value>> m_values;
  std::vector<std::pair<std::string, std::int64_t>> m_sizes;
};

/// Checks the given arguments against the kernel's signature and fills in defaults.
/// Throws ArgumentTypeError (unknown, missing, wrong type) or ArgumentValueError (shape,
/// bounds, NaN/inf, choice). Reads array contents (for bounds and finiteness) but never
/// writes them.
Args bind(const KernelDef& kernel, std::vector<std::pair<std::string, Value>> given);

/// The resolved shape of an output for these arguments, computed without overflow. Throws
/// ArgumentValueError, naming the output and the parameters its size comes from, for a
/// negative size or an array no machine can hold: a dimension, an element count or a byte
/// count above 2^63 - 1 (PTRDIFF_MAX, the limit of numpy and of C++ objects alike).
std::vector<std::int64_t> output_shape(const OutputSpec& out, const Args& args);

/// "steps=4611686018427387904" (or "N=5", "y0 of shape (4, 3)"): the arguments an output's
/// size comes from, for error messages; empty when its shape is fixed.
std::string sized_by_text(const OutputSpec& out, const Args& args);

/// Throws the TypeError-like error for a parameter name the kernel does not have, with
/// the closest names ("nbody() got an unexpected keyword argument 'stesp'; did you mean
/// 'steps'?").
[[noreturn]] void throw_unexpected_argument(const KernelDef& kernel, std::string_view name);

/// One output buffer of a call: an array allocated by the caller, or a scalar slot.
struct OutputSlot {
  const OutputSpec* spec = nullptr;
  ArrayView array;   // Kind::Array
  double scalar = 0; // Kind::Float
  bool written = false;
};

/// A duty of the thread that called a kernel and runs it itself (see run_here() in call.hpp),
/// such as running its language's signal handlers: performed from that thread's cancellation
/// checks, at most once per `interval`. The duty must not throw; to stop the kernel it
/// requests cancellation.
class CallerDuty {
 public:
  CallerDuty(std::chrono::nanoseconds interval, std::function<void()> duty)
      : m_interval(interval), m_next(std::chrono::steady_clock::now() + interval),
        m_duty(std::move(duty)) {}

  /// Performs the duty when called on the thread that created this and it is due.
  void on_check() {
    if (std::this_thread::get_id() != m_thread) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < m_next) return;
    m_duty();
    m_next = std::chrono::steady_clock::now() + m_interval;
  }

 private:
  std::thread::id m_thread = std::this_thread::get_id();
  std::chrono::nanoseconds m_interval;
  std::chrono::steady_clock::time_point m_next;  // touched by m_thread only
  std::function<void()> m_duty;
};

/// Cooperative cancellation: set by the supervisor, read by kernels at chunk boundaries.
/// Thread-safe.
class CancelToken {
 public:
  void request() noexcept { m_requested.store(true, std::memory_order_relaxed); }
  bool requested() const noexcept { return m_requested.load(std::memory_order_relaxed); }
  /// Throws Cancelled when cancellation was requested. Gives the caller's duty, if any, its
  /// turn first.
  void check() const {
    if (m_duty) [[unlikely]]
      m_duty->on_check();
    if (requested()) throw Cancelled();
  }
  /// Set before the kernel starts and cleared after it ends, never while it runs.
  void set_duty(CallerDuty* duty) noexcept { m_duty = duty; }

 private:
  std::atomic<bool> m_requested{false};
  CallerDuty* m_duty = nullptr;
};

/// Progress in the kernel's own unit (steps, paths, sweeps). Written by kernels from any
/// worker, read by the supervisor. Thread-safe. Counts saturate at 2^63 - 1 (a kernel whose
/// total does not fit, such as M systems times 2^62 steps, passes 2^63 - 1).
class Progress {
 public:
  void set_total(std::int64_t total) noexcept { m_total.store(total, std::memory_order_relaxed); }
  /// Adds n >= 0 done.
  void add(std::int64_t n) noexcept {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t done = m_done.load(std::memory_order_relaxed);
    while (!m_done.compare_exchange_weak(done, done > kMax - n ? kMax : done + n,
                                         std::memory_order_relaxed)) {
    }
  }
  std::int64_t done() const noexcept { return m_done.load(std::memory_order_relaxed); }
  std::int64_t total() const noexcept { return m_total.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> m_done{0};
  std::atomic<std::int64_t> m_total{0};
};

/// What a running kernel sees: its arguments, its outputs, progress and cancellation.
/// Used by one call on TBB workers; the kernel's own parallel loops may read it concurrently.
class CallContext {
 public:
  CallContext(const KernelDef& kernel, const Args& args, std::vector<OutputSlot>& outputs,
              Progress& progress, const CancelToken& cancel) noexcept
      : m_kernel(kernel), m_args(args), m_outputs(outputs), m_progress(progress), m_cancel(cancel) {}

  const KernelDef& kernel() const noexcept { return m_kernel; }
  const Args& args() const noexcept { return m_args; }
  /// The preallocated array output `name`, as elements of type T (checked against its dtype).
  template <class T>
  std::span<T> output(std::string_view name) {
    return array_output(name).as<T>();
  }
  ArrayView& array_output(std::string_view name);
  /// Sets the scalar output `name`.
  void set_scalar(std::string_view name, double value);
  Progress& progress() noexcept { return m_progress; }
  const CancelToken& cancel_token() const noexcept { return m_cancel; }
  /// Throws Cancelled when the call was cancelled; kernels call it at chunk boundaries.
  void check_cancelled() const { m_cancel.check(); }

 private:
  OutputSlot& slot(std::string_view name);
  const KernelDef& m_kernel;
  const Args& m_args;
  std::vector<OutputSlot>& m_outputs;
  Progress& m_progress;
  const CancelToken& m_cancel;
};

}  // namespace simhost
