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

// The layout contract of both views: the elements are C-contiguous, row-major (the last index
// varies fastest) with no strides and no padding, so element (i, j) of an (n, m) array is
// at flat index i * m + j. Front ends give kernels only such memory (copying anything else
// once); a view never owns memory, and whoever made it keeps the memory alive for the call.

namespace detail {
/// Number of elements of an array of `shape`; throws ArgumentValueError for a negative
/// dimension or more than 2^63 - 1 elements.
std::int64_t element_count(const std::vector<std::int64_t>& shape);
/// Number of bytes of a `dtype` array of `shape`; throws ArgumentValueError past 2^63 - 1.
std::size_t byte_count(DType dtype, const std::vector<std::int64_t>& shape);
/// Throws KernelError naming both dtypes: an array of `held` elements read as `wanted`.
[[noreturn]] void throw_dtype_mismatch(DType held, DType wanted);
/// Throws (see throw_dtype_mismatch()) unless held == wanted.
inline void check_dtype(DType held, DType wanted) {
  if (held != wanted) [[unlikely]]
    throw_dtype_mismatch(held, wanted);
}
}  // namespace detail

/// A read-only view of an array argument (a kernel input): numpy's memory, a batch buffer,
/// a test's vector. Inputs are const by type: a kernel cannot write through it.
struct ConstArrayView {
  const void* data = nullptr;
  DType dtype = DType::Float64;
  std::vector<std::int64_t> shape;

  /// Number of elements. Throws ArgumentValueError for a negative dimension or when the
  /// count (or bytes()) exceeds 2^63 - 1, which no array can have.
  std::int64_t size() const { return detail::element_count(shape); }
  /// Number of bytes (size() times the element size); throws like size().
  std::size_t bytes() const { return detail::byte_count(dtype, shape); }
  /// The elements as type T (double, std::int64_t, std::int32_t, std::int8_t or bool, which
  /// must be the view's dtype: throws KernelError naming the dtype wanted and held).
  template <class T>
  std::span<const T> as() const {
    detail::check_dtype(dtype, dtype_of<std::remove_const_t<T>>());
    return {static_cast<const T*>(data), static_cast<std::size_t>(size())};
  }
};

/// A writable view of an array output, preallocated by the caller before the kernel runs
/// (a numpy array, a batch buffer, the call's own memory). Same layout as ConstArrayView.
struct ArrayView {
  void* data = nullptr;
  DType dtype = DType::Float64;
  std::vector<std::int64_t> shape;

  /// Number of elements; throws like ConstArrayView::size().
  std::int64_t size() const { return detail::element_count(shape); }
  /// Number of bytes; throws like ConstArrayView::bytes().
  std::size_t bytes() const { return detail::byte_count(dtype, shape); }
  /// The elements as type T (const or not), which must be the view's dtype: throws
  /// KernelError naming the dtype wanted and held.
  template <class T>
  std::span<T> as() const {
    detail::check_dtype(dtype, dtype_of<std::remove_const_t<T>>());
    return {static_cast<T*>(data), static_cast<std::size_t>(size())};
  }
  /// The same memory, read-only (an output passed on as another call's input).
  operator ConstArrayView() const { return {data, dtype, shape}; }
};

}  // namespace simhost
