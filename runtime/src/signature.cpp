// Signature types: parameter and output builders, owned arguments, kernel lookups.
#include "simhost/signature.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "simhost/text.hpp"

namespace simhost {

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
  if (std::holds_alternative<ConstArrayView>(value))
    throw KernelError(fmt::format("OwnedArgs::set('{}'): give arrays with array(), which copies "
                                  "them",
                                  name));
  m_values.emplace_back(std::move(name), std::move(value));
  return *this;
}

OwnedArgs& OwnedArgs::array(std::string name, const ConstArrayView& view) {
  return array(std::move(name), view, static_cast<std::size_t>(view.size()));
}

OwnedArgs& OwnedArgs::array(std::string name, const ConstArrayView& view, std::size_t elements) {
  if (elements != static_cast<std::size_t>(view.size()))
    throw KernelError(fmt::format("OwnedArgs::array('{}'): {} elements given for shape {}", name,
                                  elements, sizes_text(view.shape)));
  const std::size_t n = view.bytes();
  auto memory = std::make_unique<std::byte[]>(std::max<std::size_t>(n, 1));
  if (n > 0) std::memcpy(memory.get(), view.data, n);
  m_values.emplace_back(std::move(name), ConstArrayView{memory.get(), view.dtype, view.shape});
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

}  // namespace simhost
