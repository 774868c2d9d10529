// Binding: checks given arguments against a kernel's signature, in the core's neutral words
// (front ends reword UnexpectedParameterError and MissingParametersError); Args' accessors.
#include "simhost/bind.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "simhost/text.hpp"

namespace simhost {

// Accessors for a name or type the signature does not have are bugs in the kernel itself.
const Value& Args::value(std::string_view name) const {
  for (const auto& [n, v] : m_values)
    if (n == name) return v;
  throw KernelError(fmt::format("{}(): the kernel asked for parameter '{}', which is not in its "
                                "signature",
                                m_kernel, name));
}

namespace {
template <class T>
const T& get_as(const Value& v, std::string_view kernel, std::string_view name,
                std::string_view want) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw KernelError(fmt::format("{}(): the kernel read parameter '{}' as {}, which does not match "
                                "its signature",
                                kernel, name, want));
}
}  // namespace

bool Args::has(std::string_view name) const {
  return !std::holds_alternative<std::monostate>(value(name));
}

double Args::f64(std::string_view name) const {
  return get_as<double>(value(name), m_kernel, name, "float");
}
std::int64_t Args::i64(std::string_view name) const {
  return get_as<std::int64_t>(value(name), m_kernel, name, "int");
}
bool Args::flag(std::string_view name) const {
  return get_as<bool>(value(name), m_kernel, name, "bool");
}
const std::string& Args::str(std::string_view name) const {
  return get_as<std::string>(value(name), m_kernel, name, "str");
}
const ConstArrayView& Args::array(std::string_view name) const {
  return get_as<ConstArrayView>(value(name), m_kernel, name, "array");
}
std::int64_t Args::size(std::string_view symbol) const {
  for (const auto& [s, n] : m_sizes)
    if (s == symbol) return n;
  throw KernelError(fmt::format("{}(): the kernel asked for size '{}', which no parameter's shape "
                                "defines",
                                m_kernel, symbol));
}

void throw_unexpected_argument(const KernelDef& kernel, std::string_view name) {
  std::vector<std::string> names;
  for (const auto& p : kernel.params) names.push_back(p.name);
  auto close = close_matches(name, names);
  throw UnexpectedParameterError(kernel.name, std::string(name),
                                 close.empty() ? "its parameters are " + quoted_list(names, " and ")
                                               : "did you mean " + quoted_list(close) + "?");
}

namespace {

std::string given_type(const Value& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "None"; }
    std::string operator()(double x) const { return "float " + number_text(x); }
    std::string operator()(std::int64_t x) const { return "int " + std::to_string(x); }
    std::string operator()(bool x) const { return std::string("bool ") + (x ? "True" : "False"); }
    std::string operator()(const std::string& x) const { return "str '" + x + "'"; }
    std::string operator()(const ConstArrayView& a) const {
      return fmt::format("{} array of shape {}", dtype_name(a.dtype), sizes_text(a.shape));
    }
  };
  return std::visit(Visitor{}, v);
}

bool violates(const ParamSpec& p, double x, std::string* rule) {
  if (p.min && (p.min->inclusive ? !(x >= p.min->value) : !(x > p.min->value))) {
    *rule = fmt::format("{} {}", p.min->inclusive ? ">=" : ">",
                        p.kind == Kind::Int ? std::to_string(static_cast<std::int64_t>(p.min->value))
                                            : number_text(p.min->value));
    return true;
  }
  if (p.max && (p.max->inclusive ? !(x <= p.max->value) : !(x < p.max->value))) {
    *rule = fmt::format("{} {}", p.max->inclusive ? "<=" : "<",
                        p.kind == Kind::Int ? std::to_string(static_cast<std::int64_t>(p.max->value))
                                            : number_text(p.max->value));
    return true;
  }
  return false;
}

template <class T>
void check_elements(const KernelDef& k, const ParamSpec& p, const ConstArrayView& a) {
  const T* data = a.as<T>().data();
  const std::int64_t n = a.size();
  const bool check_finite = p.finite && std::is_floating_point_v<T>;
  const bool check_bounds = p.min || p.max;
  if (!check_finite && !check_bounds) return;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(data[i]);
    if (check_finite && !std::isfinite(x))
      throw ArgumentValueError(fmt::format(
          "{}(): parameter '{}' contains {} at index {}; expected finite values", k.name, p.name,
          number_text(x), index_text(i, a.shape)));
    std::string rule;
    if (check_bounds && violates(p, x, &rule))
      throw ArgumentValueError(fmt::format("{}(): parameter '{}' must have every element {}, got {} "
                                           "at index {}",
                                           k.name, p.name, rule, number_text(x),
                                           index_text(i, a.shape)));
  }
}

// Converts and checks one value against its spec; returns the stored form.
Value check_value(const KernelDef& k, const ParamSpec& p, Value v,
                  std::vector<std::pair<std::string, std::int64_t>>& sizes,
                  std::vector<std::pair<std::string, std::string>>& size_source) {
  if (std::holds_alternative<std::monostate>(v) && p.optional()) return v;
  auto type_error = [&](std::string_view expected) {
    return ArgumentTypeError(fmt::format("{}(): parameter '{}' expects {}, got {}", k.name, p.name,
                                         expected, given_type(v)));
  };
  switch (p.kind) {
    case Kind::Float: {
      double x;
      if (auto* d = std::get_if<double>(&v)) {
        x = *d;
      } else if (auto* i = std::get_if<std::int64_t>(&v)) {
        if (!exact_in_double(*i))
          throw ArgumentTypeError(fmt::format(
              "{}(): parameter '{}' expects a float, got int {}, which float64 cannot hold "
              "exactly (integers beyond 2**53 are rounded); pass a float if rounding is meant",
              k.name, p.name, *i));
        x = static_cast<double>(*i);
      } else {
        throw type_error("a float");
      }
      if (p.finite && !std::isfinite(x))
        throw ArgumentValueError(fmt::format("{}(): parameter '{}' must be finite, got {}", k.name,
                                             p.name, number_text(x)));
      std::string rule;
      if (violates(p, x, &rule))
        throw ArgumentValueError(fmt::format("{}(): parameter '{}' must be {}, got {}", k.name,
                                             p.name, rule, number_text(x)));
      return x;
    }
    case Kind::Int: {
      auto* i = std::get_if<std::int64_t>(&v);
      if (!i) throw type_error("an int");
      std::string rule;
      if (violates(p, static_cast<double>(*i), &rule))
        throw ArgumentValueError(
            fmt::format("{}(): parameter '{}' must be {}, got {}", k.name, p.name, rule, *i));
      return *i;
    }
    case Kind::Bool:
      if (!std::holds_alternative<bool>(v)) throw type_error("a bool");
      return v;
    case Kind::String: {
      auto* s = std::get_if<std::string>(&v);
      if (!s) throw type_error("a str");
      if (!p.choices.empty() &&
          std::find(p.choices.begin(), p.choices.end(), *s) == p.choices.end()) {
        std::string msg = fmt::format("{}(): parameter '{}' must be one of {}, got '{}'", k.name,
                                      p.name, quoted_list(p.choices), *s);
        if (auto close = close_matches(*s, p.choices, 1); !close.empty())
          msg += "; did you mean '" + close[0] + "'?";
        throw ArgumentValueError(msg);
      }
      return v;
    }
    case Kind::Array: {
      auto* a = std::get_if<ConstArrayView>(&v);
      if (!a)
        throw type_error(fmt::format("a {} array of shape {}", dtype_name(p.dtype), shape_text(p.shape)));
      if (a->dtype != p.dtype)
        throw type_error(fmt::format("a {} array", dtype_name(p.dtype)));
      const auto shape_error = [&](std::string why) {
        return ArgumentValueError(fmt::format("{}(): parameter '{}' expects shape {}, got {}{}",
                                              k.name, p.name, shape_text(p.shape),
                                              sizes_text(a->shape), why));
      };
      if (a->shape.size() != p.shape.size()) throw shape_error("");
      for (std::size_t d = 0; d < p.shape.size(); ++d) {
        const Dim& dim = p.shape[d];
        const std::int64_t got = a->shape[d];
        if (dim.symbol.empty()) {
          if (got != dim.offset) throw shape_error("");
          continue;
        }
        auto it = std::find_if(sizes.begin(), sizes.end(),
                               [&](const auto& s) { return s.first == dim.symbol; });
        if (it == sizes.end()) {
          sizes.emplace_back(dim.symbol, got);
          size_source.emplace_back(dim.symbol, p.name);
        } else if (it->second != got) {
          const auto& src = std::find_if(size_source.begin(), size_source.end(),
                                         [&](const auto& s) { return s.first == dim.symbol; })->second;
          throw shape_error(fmt::format(": {} must agree with '{}', where {} = {}", dim.symbol, src,
                                        dim.symbol, it->second));
        }
      }
      switch (p.dtype) {
        case DType::Float64: check_elements<double>(k, p, *a); break;
        case DType::Int64: check_elements<std::int64_t>(k, p, *a); break;
        case DType::Int32: check_elements<std::int32_t>(k, p, *a); break;
        case DType::Int8: check_elements<std::int8_t>(k, p, *a); break;
        case DType::Bool: break;
      }
      return v;
    }
  }
  throw type_error("a known kind");
}

}  // namespace

Value check_param(const KernelDef& k, const ParamSpec& p, Value v) {
  std::vector<std::pair<std::string, std::int64_t>> sizes;
  std::vector<std::pair<std::string, std::string>> size_source;
  return check_value(k, p, std::move(v), sizes, size_source);
}

Args bind(const KernelDef& k, std::vector<std::pair<std::string, Value>> given) {
  for (std::size_t i = 0; i < given.size(); ++i) {
    if (!k.find_param(given[i].first)) throw_unexpected_argument(k, given[i].first);
    for (std::size_t j = 0; j < i; ++j)
      if (given[j].first == given[i].first)
        throw ArgumentTypeError(
            fmt::format("{}(): parameter '{}' is given more than once", k.name, given[i].first));
  }
  std::vector<std::string> missing;
  for (const auto& p : k.params) {
    if (!p.required()) continue;
    bool found = false;
    for (const auto& g : given) found = found || g.first == p.name;
    if (!found) missing.push_back(p.name);
  }
  if (!missing.empty()) throw MissingParametersError(k.name, std::move(missing));

  Args args;
  args.m_kernel = k.name;
  std::vector<std::pair<std::string, std::string>> size_source;
  for (const auto& p : k.params) {
    auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == p.name; });
    Value v = it != given.end() ? std::move(it->second) : *p.default_value;
    args.m_values.emplace_back(p.name, check_value(k, p, std::move(v), args.m_sizes, size_source));
  }
  return args;
}

namespace {

// Output sizes are computed in 128 bits, so that a size too large for 64 bits can still be
// reported exactly ("would need 36893488147419103240 bytes").
__extension__ using Wide = unsigned __int128;
constexpr Wide kMaxSize = static_cast<Wide>(std::numeric_limits<std::int64_t>::max());

std::string wide_text(Wide v) {
  if (v == 0) return "0";
  std::string digits;
  for (; v > 0; v /= 10) digits.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
  return {digits.rbegin(), digits.rend()};
}

std::string wide_sizes_text(const std::vector<Wide>& dims) {
  std::string out = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i > 0 ? ", " : "") + wide_text(dims[i]);
  return out + (dims.size() == 1 ? ",)" : ")");
}

// "nbody(): steps=... would need" or "nbody(): output ... would need" when nothing names it.
std::string needs_prefix(const OutputSpec& out, const Args& args) {
  const std::string by = sized_by_text(out, args);
  return fmt::format("{}(): {}would need", args.kernel_name(), by.empty() ? "" : by + " ");
}

// `need` says how much ("36893488147419103240 bytes"), `what` describes the output's array,
// `unit` is what the limit of 2^63 - 1 counts.
ArgumentValueError too_large(const OutputSpec& out, const Args& args, const std::string& need,
                             const std::string& what, std::string_view unit = "bytes") {
  return ArgumentValueError(fmt::format("{} {} for output '{}'{}, more than any array can hold "
                                        "(2^63 - 1 {})",
                                        needs_prefix(out, args), need, out.name, what, unit));
}

const std::int64_t* find_size(const Args& args, std::string_view name) {
  for (const auto& [s, n] : args.sizes())
    if (s == name) return &n;
  return nullptr;
}

}  // namespace

std::string sized_by_text(const OutputSpec& out, const Args& args) {
  std::vector<std::string> names = out.sized_by;
  if (names.empty() && out.shape_fn) {
    for (const auto& [name, value] : args.items())
      if (std::holds_alternative<std::int64_t>(value)) names.push_back(name);
  } else if (names.empty()) {
    for (const auto& dim : out.shape)
      if (!dim.symbol.empty() && std::find(names.begin(), names.end(), dim.symbol) == names.end())
        names.push_back(dim.symbol);
  }
  std::vector<std::string> parts;
  for (const auto& name : names) {
    if (const std::int64_t* n = find_size(args, name)) {
      parts.push_back(fmt::format("{}={}", name, *n));
      continue;
    }
    const auto& items = args.items();
    auto it =
        std::find_if(items.begin(), items.end(), [&](const auto& v) { return v.first == name; });
    if (it == items.end() || std::holds_alternative<std::monostate>(it->second)) continue;
    if (const auto* a = std::get_if<ConstArrayView>(&it->second))
      parts.push_back(fmt::format("{} of shape {}", name, sizes_text(a->shape)));
    else
      parts.push_back(fmt::format("{}={}", name, value_text(it->second)));
  }
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i > 0 ? ", " : "") + parts[i];
  return text;
}

namespace {

// The common case without 128-bit scratch vectors: every dimension in [0, 2^63 - 1] and the
// byte count representable. False sends output_shape() to the exact path and its messages.
bool plain_output_shape(const OutputSpec& out, const Args& args, std::vector<std::int64_t>& shape) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (out.shape_fn) return false;
  shape.clear();
  std::int64_t bytes = static_cast<std::int64_t>(dtype_size(out.dtype));
  for (const auto& dim : out.shape) {
    std::int64_t n = dim.offset;
    if (!dim.symbol.empty()) {
      const std::int64_t* size = find_size(args, dim.symbol);
      if (__builtin_add_overflow(n, size ? *size : args.i64(dim.symbol), &n)) return false;
    }
    if (n < 0 || __builtin_mul_overflow(bytes, n, &bytes) || bytes > kMax) return false;
    shape.push_back(n);
  }
  return true;
}

}  // namespace

std::vector<std::int64_t> output_shape(const OutputSpec& out, const Args& args) {
  if (std::vector<std::int64_t> shape; plain_output_shape(out, args, shape)) return shape;
  const auto elem = static_cast<Wide>(dtype_size(out.dtype));
  // Each dimension as a signed 128-bit value first: offset + size cannot overflow there.
  __extension__ std::vector<__int128> signed_dims;
  if (out.shape_fn) {
    std::vector<std::int64_t> shape;
    try {
      shape = out.shape_fn(args);
    } catch (const SizeOverflow&) {
      throw too_large(out, args, fmt::format("more than {} bytes", wide_text(kMaxSize * elem)),
                      fmt::format(" ({})", dtype_name(out.dtype)));
    }
    signed_dims.assign(shape.begin(), shape.end());
  } else {
    for (const auto& dim : out.shape) {
      __extension__ __int128 n = dim.offset;
      if (!dim.symbol.empty()) {
        const std::int64_t* size = find_size(args, dim.symbol);
        n += size ? *size : args.i64(dim.symbol);
      }
      signed_dims.push_back(n);
    }
  }
  std::vector<Wide> dims;
  for (std::size_t d = 0; d < signed_dims.size(); ++d) {
    if (signed_dims[d] < 0)
      throw ArgumentValueError(fmt::format(
          "{} a negative size for output '{}' (dimension {}{})", needs_prefix(out, args),
          out.name, d, out.shape_fn || d >= out.shape.size() ? "" : ", " + out.shape[d].text()));
    dims.push_back(static_cast<Wide>(signed_dims[d]));
  }
  // The element count and the bytes; a zero dimension makes the array empty.
  Wide bytes = elem;
  bool beyond = false;  // more than 2^128 bytes: the count is not even exact in 128 bits
  for (Wide d : dims) beyond = __builtin_mul_overflow(bytes, d, &bytes) || beyond;
  if (std::find(dims.begin(), dims.end(), Wide{0}) != dims.end()) bytes = 0, beyond = false;
  // The message text is made only on the error paths (this runs for every output of every
  // call, a few microseconds in all).
  const auto what = [&] {
    return fmt::format(" ({}, shape {})", dtype_name(out.dtype), wide_sizes_text(dims));
  };
  if (beyond) throw too_large(out, args, "more than 2^128 bytes", what());
  if (bytes > kMaxSize) throw too_large(out, args, wide_text(bytes) + " bytes", what());
  for (Wide d : dims)
    if (d > kMaxSize)
      throw too_large(out, args, wide_text(d) + " elements in one dimension", what(), "elements");
  std::vector<std::int64_t> shape;
  for (Wide d : dims) shape.push_back(static_cast<std::int64_t>(d));
  return shape;
}

}  // namespace simhost
