// .npy encoding and decoding (the format numpy documents in numpy.lib.format).
#include "simhost/npy.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "simhost/error.hpp"

namespace simhost {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

std::string_view descr_of(DType dtype) {
  switch (dtype) {
    case DType::Float64: return "<f8";
    case DType::Int64: return "<i8";
    case DType::Int32: return "<i4";
    case DType::Int8: return "|i1";
    case DType::Bool: return "|b1";
  }
  return "?";
}

std::optional<DType> dtype_of_descr(std::string_view d) {
  for (DType t : {DType::Float64, DType::Int64, DType::Int32, DType::Int8, DType::Bool})
    if (d == descr_of(t)) return t;
  // numpy writes single-byte types with '|'; accept '<' and '=' too.
  if (d == "<i1" || d == "=i1") return DType::Int8;
  if (d == "<b1" || d == "=b1") return DType::Bool;
  return std::nullopt;
}

std::string shape_tuple(const std::vector<std::int64_t>& shape) {
  if (shape.empty()) return "()";
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The value text after 'key': in numpy's header dict.
std::optional<std::string_view> dict_value(std::string_view header, std::string_view key) {
  const std::string quoted = fmt::format("'{}'", key);
  auto at = header.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at = header.find(':', at + quoted.size());
  if (at == std::string_view::npos) return std::nullopt;
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  return header.substr(at);
}

}  // namespace

// numpy.lib.format's GROWTH_AXIS_MAX_DIGITS.
constexpr std::size_t kGrowthAxisDigits = 21;

std::string npy_encode(const void* data, DType dtype, const std::vector<std::int64_t>& shape) {
  const std::size_t bytes = detail::byte_count(dtype, shape);
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   descr_of(dtype), shape_tuple(shape));
  // As numpy.save pads it (numpy.lib.format): room for the first dimension to grow to 21
  // digits, then spaces so that magic (6) + version (2) + length (2) + header + '\n' is a
  // multiple of 64, at least one space (64 when it already is one).
  if (!shape.empty()) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisDigits) header.append(kGrowthAxisDigits - digits, ' ');
  }
  const std::size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append(64 - unpadded % 64, ' ');
  header += '\n';
  std::string out;
  out.reserve(kMagicSize + 4 + header.size() + bytes);
  out.append(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  if (bytes) out.append(static_cast<const char*>(data), bytes);
  return out;
}

NpyArray npy_decode(std::span<const std::byte> bytes, std::string_view source) {
  const auto fail = [&](const std::string& why) {
    return ArgumentValueError(fmt::format("{}: {}", source, why));
  };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kMagicSize + 4 || std::memcmp(p, kMagic, kMagicSize) != 0)
    throw fail("not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save");
  const int major = p[6];
  std::size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = p[8] | (std::size_t{p[9]} << 8);
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated .npy header");
    header_len = p[8] | (std::size_t{p[9]} << 8) | (std::size_t{p[10]} << 16) |
                 (std::size_t{p[11]} << 24);
    header_at = 12;
  } else {
    throw fail(fmt::format(".npy format version {}.{} is not read (1.0, 2.0 and 3.0 are)", major,
                           int{p[7]}));
  }
  if (bytes.size() < header_at + header_len) throw fail("truncated .npy header");
  const std::string_view header(reinterpret_cast<const char*>(p + header_at), header_len);

  const auto descr_v = dict_value(header, "descr");
  const auto order_v = dict_value(header, "fortran_order");
  const auto shape_v = dict_value(header, "shape");
  if (!descr_v || !order_v || !shape_v || descr_v->empty() || (*descr_v)[0] != '\'')
    throw fail("malformed .npy header (no descr, fortran_order or shape)");
  const auto descr_end = descr_v->find('\'', 1);
  if (descr_end == std::string_view::npos) throw fail("malformed .npy header (descr)");
  const std::string_view descr = descr_v->substr(1, descr_end - 1);
  const auto dtype = dtype_of_descr(descr);
  if (!dtype)
    throw fail(fmt::format("dtype '{}' is not read; simhost arrays are float64 ('<f8'), int64, "
                           "int32, int8 or bool (convert with a.astype(...))",
                           descr));
  if (order_v->starts_with("True"))
    throw fail("Fortran-ordered arrays are not read; save numpy.ascontiguousarray(a)");
  if (!order_v->starts_with("False")) throw fail("malformed .npy header (fortran_order)");

  std::vector<std::int64_t> shape;
  if (shape_v->empty() || (*shape_v)[0] != '(') throw fail("malformed .npy header (shape)");
  std::size_t i = 1;
  while (i < shape_v->size() && (*shape_v)[i] != ')') {
    const char c = (*shape_v)[i];
    if (c == ' ' || c == ',') {
      ++i;
      continue;
    }
    if (c < '0' || c > '9') throw fail("malformed .npy header (shape)");
    std::int64_t n = 0;
    while (i < shape_v->size() && (*shape_v)[i] >= '0' && (*shape_v)[i] <= '9') {
      if (n > (INT64_MAX - 9) / 10) throw fail("shape in the .npy header is too large");
      n = n * 10 + ((*shape_v)[i] - '0');
      ++i;
    }
    shape.push_back(n);
  }
  if (i >= shape_v->size()) throw fail("malformed .npy header (shape)");

  std::size_t nbytes = 0;
  try {
    nbytes = detail::byte_count(*dtype, shape);
  } catch (const ArgumentValueError&) {
    throw fail(fmt::format("shape {} is too large for any array", shape_tuple(shape)));
  }
  const std::size_t data_at = header_at + header_len;
  if (bytes.size() - data_at != nbytes)
    throw fail(fmt::format("holds {} bytes of data, but a {} array of shape {} has {}{}",
                           bytes.size() - data_at, dtype_name(*dtype), shape_tuple(shape), nbytes,
                           bytes.size() - data_at < nbytes ? " (truncated file?)" : ""));
  NpyArray out;
  out.memory = std::make_unique<std::byte[]>(nbytes ? nbytes : 1);
  if (nbytes) std::memcpy(out.memory.get(), p + data_at, nbytes);
  out.view = ConstArrayView{out.memory.get(), *dtype, std::move(shape)};
  return out;
}

NpyArray npy_load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArgumentValueError(fmt::format("{}: cannot open the file ({})", path, std::strerror(errno)));
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ArgumentValueError(fmt::format("{}: cannot read the file", path));
  return npy_decode(std::as_bytes(std::span(data)), path);
}

}  // namespace simhost
