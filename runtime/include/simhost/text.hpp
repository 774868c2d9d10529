// Small text helpers shared by error messages and the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "simhost/signature.hpp"

namespace simhost {

/// Up to `limit` candidates close to `word` (edit distance), closest first.
std::vector<std::string> close_matches(std::string_view word,
                                       const std::vector<std::string>& candidates,
                                       std::size_t limit = 3);
/// True for a name of ASCII letters, digits and '_' that does not start with a digit (a
/// kernel, parameter or output name; a named size of a shape).
bool is_identifier(std::string_view s) noexcept;
/// "'a', 'b' or 'c'".
std::string quoted_list(const std::vector<std::string>& words, std::string_view last_sep = " or ");
/// A number as Python's repr would write it (shortest round-trip form).
std::string number_text(double value);
/// "(5, 3)".
std::string sizes_text(const std::vector<std::int64_t>& shape);
/// The index of flat (C-order) element `flat` in an array of `shape`: "(1, 2)".
std::string index_text(std::int64_t flat, const std::vector<std::int64_t>& shape);
/// A value as a Python literal: 1.0, 3, True, 'rk4', array(float64, (5, 3)).
std::string value_text(const Value& value);
/// The full human-readable signature of a kernel, as `simhost kernels NAME` prints it.
std::string describe_text(const KernelDef& kernel);

}  // namespace simhost
