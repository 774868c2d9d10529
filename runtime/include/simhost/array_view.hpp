// Array views: how array arguments and outputs cross into a kernel (element types, layout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace simhost {

/// Element type of an array parameter or output.
enum class DType : int { Float64 = 1, Int64 = 2, Int32 = 3, Int8 = 4, Bool = 5 };

/// numpy's name of the dtype ("float64", "int8", ...).
std::string_view dtype_name(DType dtype) noexcept;
/// Bytes per element.
std::size_t dtype_size(DType dtype) noexcept;

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
  /// Number of bytes (size() times the element size); throws like size().
  std::size_t bytes() const;
  /// The elements, as type T.
  template <class T>
  std::span<T> as() const {
    return {static_cast<T*>(data), static_cast<std::size_t>(size())};
  }
};

}  // namespace simhost
