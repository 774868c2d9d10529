// Signature types, bound-argument accessors and the call context.
#include "simhost/kernel.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

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

std::string_view kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::Float: return "float";
    case Kind::Int: return "int";
    case Kind::Bool: return "bool";
    case Kind::String: return "str";
    case Kind::Array: return "array";
  }
  return "unknown";
}

std::int64_t ArrayView::size() const {
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

std::size_t ArrayView::bytes() const {
  std::int64_t b = 0;
  if (__builtin_mul_overflow(size(), static_cast<std::int64_t>(dtype_size(dtype)), &b))
    throw ArgumentValueError(fmt::format("a {} array of shape {} has more than 2^63 - 1 bytes",
                                         dtype_name(dtype), sizes_text(shape)));
  return static_cast<std::size_t>(b);
}

std::int64_t size_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw SizeOverflow();
  return r;
}

std::int64_t size_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw SizeOverflow();
  return r;
}

std::string Dim::text() const {
  if (symbol.empty()) return std::to_string(offset);
  if (offset == 0) return symbol;
  return fmt::format("{}{:+}", symbol, offset);
}

std::string shape_text(const std::vector<Dim>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape[i].text();
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

ParamSpec array_param(std::string name, std::vector<Dim> shape, std::string unit, std::string doc,
                      DType dtype) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = Kind::Array;
  p.shape = std::move(shape);
  p.unit = std::move(unit);
  p.doc = std::move(doc);
  p.dtype = dtype;
  return p;
}

ParamSpec float_param(std::string name, std::optional<double> default_value, std::string unit,
                      std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = Kind::Float;
  if (default_value) p.default_value = *default_value;
  p.unit = std::move(unit);
  p.doc = std::move(doc);
  return p;
}

ParamSpec int_param(std::string name, std::optional<std::int64_t> default_value, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = Kind::Int;
  if (default_value) p.default_value = *default_value;
  p.doc = std::move(doc);
  return p;
}

ParamSpec bool_param(std::string name, bool default_value, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = Kind::Bool;
  p.default_value = default_value;
  p.doc = std::move(doc);
  return p;
}

ParamSpec string_param(std::string name, std::optional<std::string> default_value,
                       std::vector<std::string> choices, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.kind = Kind::String;
  if (default_value) p.default_value = std::move(*default_value);
  p.choices = std::move(choices);
  p.doc = std::move(doc);
  return p;
}

ParamSpec seed_param(std::string what) {
  ParamSpec p = int_param(
      "seed", 0,
      what + ". An int in [0, 2^63 - 1] (default 0): equal seeds give bit-identical results at "
             "any thread count, different seeds independent streams.");
  return p.at_least(0);
}

ParamSpec optional(ParamSpec p) {
  p.default_value = std::monostate{};
  return p;
}

OutputSpec array_output(std::string name, std::vector<Dim> shape, std::string unit, std::string doc,
                        DType dtype) {
  OutputSpec o;
  o.name = std::move(name);
  o.kind = Kind::Array;
  o.shape = std::move(shape);
  o.unit = std::move(unit);
  o.doc = std::move(doc);
  o.dtype = dtype;
  return o;
}

OutputSpec float_output(std::string name, std::string unit, std::string doc) {
  OutputSpec o;
  o.name = std::move(name);
  o.kind = Kind::Float;
  o.unit = std::move(unit);
  o.doc = std::move(doc);
  return o;
}

OwnedArgs& OwnedArgs::set(std::string name, Value value) {
  if (std::holds_alternative<ArrayView>(value))
    throw KernelError(fmt::format("OwnedArgs::set('{}'): give arrays with array(), which copies "
                                  "them",
                                  name));
  m_values.emplace_back(std::move(name), std::move(value));
  return *this;
}

OwnedArgs& OwnedArgs::array(std::string name, const ArrayView& view) {
  return array(std::move(name), view, static_cast<std::size_t>(view.size()));
}

OwnedArgs& OwnedArgs::array(std::string name, const ArrayView& view, std::size_t elements) {
  if (elements != static_cast<std::size_t>(view.size()))
    throw KernelError(fmt::format("OwnedArgs::array('{}'): {} elements given for shape {}", name,
                                  elements, sizes_text(view.shape)));
  const std::size_t n = view.bytes();
  auto memory = std::make_unique<std::byte[]>(std::max<std::size_t>(n, 1));
  if (n > 0) std::memcpy(memory.get(), view.data, n);
  m_values.emplace_back(std::move(name), ArrayView{memory.get(), view.dtype, view.shape});
  m_memory.push_back(std::move(memory));
  return *this;
}

const ParamSpec* KernelDef::find_param(std::string_view n) const noexcept {
  for (const auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

const OutputSpec* KernelDef::find_output(std::string_view n) const noexcept {
  for (const auto& o : outputs)
    if (o.name == n) return &o;
  return nullptr;
}

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
const ArrayView& Args::array(std::string_view name) const {
  return get_as<ArrayView>(value(name), m_kernel, name, "array");
}
std::int64_t Args::size(std::string_view symbol) const {
  for (const auto& [s, n] : m_sizes)
    if (s == symbol) return n;
  throw KernelError(fmt::format("{}(): the kernel asked for size '{}', which no parameter's shape "
                                "defines",
                                m_kernel, symbol));
}

OutputSlot& CallContext::slot(std::string_view name) {
  for (auto& s : m_outputs)
    if (s.spec->name == name) return s;
  throw KernelError(fmt::format("{}(): the kernel wrote output '{}', which is not in its "
                                "signature",
                                m_kernel.name, name));
}

ArrayView& CallContext::array_output(std::string_view name) {
  OutputSlot& s = slot(name);
  if (s.spec->kind != Kind::Array)
    throw KernelError(fmt::format("{}(): output '{}' is a scalar, not an array", m_kernel.name, name));
  s.written = true;
  return s.array;
}

void CallContext::set_scalar(std::string_view name, double value) {
  OutputSlot& s = slot(name);
  if (s.spec->kind != Kind::Float)
    throw KernelError(fmt::format("{}(): output '{}' is an array, not a scalar", m_kernel.name, name));
  s.scalar = value;
  s.written = true;
}

}  // namespace simhost
