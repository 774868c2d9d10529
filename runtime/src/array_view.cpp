// Array views: element types and sizes.
#include "simhost/array_view.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "simhost/error.hpp"
#include "simhost/text.hpp"

namespace simhost {

std::string_view dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
    case DType::Int8: return "int8";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

std::size_t dtype_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Int32: return 4;
    case DType::Int8:
    case DType::Bool: return 1;
  }
  return 0;
}

namespace detail {

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  if (std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d < 0; }))
    throw ArgumentValueError(
        fmt::format("an array of shape {} has a negative dimension", sizes_text(shape)));
  // Empty when any dimension is 0, however large the others are.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  std::int64_t n = 1;
  bool overflow = false;
  for (auto d : shape)
    if (!overflow) overflow = __builtin_mul_overflow(n, d, &n);
  if (overflow)
    throw ArgumentValueError(fmt::format("an array of shape {} has more than 2^63 - 1 elements",
                                         sizes_text(shape)));
  return n;
}

std::size_t byte_count(DType dtype, const std::vector<std::int64_t>& shape) {
  std::int64_t b = 0;
  if (__builtin_mul_overflow(element_count(shape), static_cast<std::int64_t>(dtype_size(dtype)),
                             &b))
    throw ArgumentValueError(fmt::format("a {} array of shape {} has more than 2^63 - 1 bytes",
                                         dtype_name(dtype), sizes_text(shape)));
  return static_cast<std::size_t>(b);
}

void throw_dtype_mismatch(DType held, DType wanted) {
  throw KernelError(fmt::format("an array of {} elements was read as {} elements", dtype_name(held),
                                dtype_name(wanted)));
}

}  // namespace detail

}  // namespace simhost
