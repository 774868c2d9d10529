// Binding: checking a call's arguments against a kernel's signature, the bound Args a
// kernel reads, and the output shapes they resolve.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simhost/signature.hpp"

namespace simhost {

/// True when float64 holds the integer exactly: its significant bits (between the highest
/// and lowest set bit) fit float64's 53-bit significand. Beyond 2**53 most integers do not.
constexpr bool exact_in_double(std::uint64_t magnitude) noexcept {
  return magnitude == 0 || (magnitude >> std::countr_zero(magnitude)) < (std::uint64_t{1} << 53);
}
constexpr bool exact_in_double(std::int64_t value) noexcept {
  const auto bits = static_cast<std::uint64_t>(value);
  return exact_in_double(value < 0 ? ~bits + 1 : bits);  // |INT64_MIN| = 2**63, exact
}

/// Validated arguments of one call: every parameter present (defaults filled in), types
/// converted, shapes checked and named sizes resolved. Read-only once bound; the accessors
/// throw KernelError for a name or type the signature does not have (a bug in the kernel).
class Args {
 public:
  /// The float, int, bool or str parameter `name`.
  double f64(std::string_view name) const;
  std::int64_t i64(std::string_view name) const;
  bool flag(std::string_view name) const;
  const std::string& str(std::string_view name) const;
  /// The array parameter `name`: a read-only view of the caller's memory, valid for the
  /// call; read its elements with as<T>() (checked against its dtype).
  const ConstArrayView& array(std::string_view name) const;
  /// The parameter `name` whatever its kind.
  const Value& value(std::string_view name) const;
  /// False when an optional parameter was left as None.
  bool has(std::string_view name) const;
  /// The value of a named size ("N") resolved from the array shapes.
  std::int64_t size(std::string_view symbol) const;

  /// Every parameter with its value, in the kernel's parameter order.
  const std::vector<std::pair<std::string, Value>>& items() const noexcept { return m_values; }
  /// The name of the kernel these arguments were bound for.
  const std::string& kernel_name() const noexcept { return m_kernel; }
  /// Every named size with its value, in the order the shapes defined them.
  const std::vector<std::pair<std::string, std::int64_t>>& sizes() const noexcept { return m_sizes; }

 private:
  friend Args bind(const KernelDef&, std::vector<std::pair<std::string, Value>>);
  std::string m_kernel;
  std::vector<std::pair<std::string, Value>> m_values;
  std::vector<std::pair<std::string, std::int64_t>> m_sizes;
};

/// Checks the given arguments against the kernel's signature and fills in defaults.
/// Throws ArgumentTypeError (UnexpectedParameterError, MissingParametersError, a parameter
/// given twice, wrong type) or ArgumentValueError (shape, bounds, NaN/inf, choice). Reads array
/// contents (for bounds and finiteness) but never writes them.
Args bind(const KernelDef& kernel, std::vector<std::pair<std::string, Value>> given);

/// Converts and checks one parameter value on its own, as bind() does: its type (an int for a
/// float parameter becomes that float), bounds, finiteness and choices; for an array its dtype,
/// rank, fixed sizes and elements, but not the sizes it shares with other parameters. Returns
/// the stored form. Throws ArgumentTypeError or ArgumentValueError worded as bind() words them.
Value check_param(const KernelDef& kernel, const ParamSpec& param, Value value);

/// The resolved shape of an output for these arguments, computed without overflow. Throws
/// ArgumentValueError, naming the output and the parameters its size comes from, for a
/// negative size or an array no machine can hold: a dimension, an element count or a byte
/// count above 2^63 - 1 (PTRDIFF_MAX, the limit of numpy and of C++ objects alike).
std::vector<std::int64_t> output_shape(const OutputSpec& out, const Args& args);

/// "steps=4611686018427387904" (or "N=5", "y0 of shape (4, 3)"): the arguments an output's
/// size comes from, for error messages; empty when its shape is fixed.
std::string sized_by_text(const OutputSpec& out, const Args& args);

/// Throws UnexpectedParameterError for a parameter name the kernel does not have, with the
/// closest names ("nbody(): unexpected parameter 'stesp'; did you mean 'steps'?").
[[noreturn]] void throw_unexpected_argument(const KernelDef& kernel, std::string_view name);

}  // namespace simhost
