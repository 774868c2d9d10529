// The .npy format (numpy's own file format for one array): encoding outputs, reading inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "simhost/array_view.hpp"

namespace simhost {

/// An array read from .npy bytes: its own C-ordered memory and a view of it.
struct NpyArray {
  std::unique_ptr<std::byte[]> memory;
  ConstArrayView view;  // points into `memory`
};

/// The .npy (format 1.0) bytes of a C-ordered array of `dtype` and `shape` at `data`, as
/// numpy.save writes them (little-endian, header padded to 64 bytes), so numpy.load reads them
/// back bit for bit. A 0-d shape is a scalar.
std::string npy_encode(const void* data, DType dtype, const std::vector<std::int64_t>& shape);

/// Reads .npy bytes (format 1.0, 2.0 or 3.0; little-endian float64, int64, int32, int8 or
/// bool; C order). `source` names where they came from in errors. Throws ArgumentValueError
/// for anything else ("pos.npy: Fortran-ordered arrays are not read; save
/// numpy.ascontiguousarray(a)", "pos.npy: dtype '>f4' is not one of ...", truncated data).
NpyArray npy_decode(std::span<const std::byte> bytes, std::string_view source);

/// Reads a .npy file; throws ArgumentValueError naming the file when it cannot be read or is
/// not a .npy array simhost takes (see npy_decode()).
NpyArray npy_load(const std::string& path);

}  // namespace simhost
