// Text helpers: close matches for "did you mean", Python-like number and value formatting.
#include "simhost/text.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace simhost {

namespace {
std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance: a transposition ("stesp" -> "steps") costs one.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}
}  // namespace

std::vector<std::string> close_matches(std::string_view word,
                                       const std::vector<std::string>& candidates,
                                       std::size_t limit) {
  // Accept up to a third of the longer word's length in edits (at least one), or a prefix.
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& c : candidates) {
    const std::size_t dist = edit_distance(word, c);
    const std::size_t allowed = std::max<std::size_t>(1, std::max(word.size(), c.size()) / 3);
    const bool prefix = word.size() >= 2 && c.starts_with(word);
    if (dist <= allowed || prefix) scored.emplace_back(prefix ? 0 : dist, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < limit; ++i) out.push_back(scored[i].second);
  return out;
}

std::string quoted_list(const std::vector<std::string>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? std::string(last_sep) : std::string(", ");
    out += "'" + words[i] + "'";
  }
  return out;
}

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", value);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string sizes_text(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

std::string index_text(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  return sizes_text(idx);
}

std::string value_text(const Value& value) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "None"; }
    std::string operator()(double v) const { return number_text(v); }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(bool v) const { return v ? "True" : "False"; }
    std::string operator()(const std::string& v) const { return "'" + v + "'"; }
    std::string operator()(const ConstArrayView& v) const {
      return fmt::format("array({}, shape={})", dtype_name(v.dtype), sizes_text(v.shape));
    }
  };
  return std::visit(Visitor{}, value);
}

namespace {
std::string type_text(Kind kind, DType dtype, const std::vector<Dim>& shape) {
  if (kind == Kind::Array) return fmt::format("{} array {}", dtype_name(dtype), shape_text(shape));
  return std::string(kind_name(kind));
}

std::string bounds_text(const ParamSpec& p) {
  std::string out;
  auto num = [&](double v) {
    return p.kind == Kind::Int ? std::to_string(static_cast<std::int64_t>(v)) : number_text(v);
  };
  const std::string what = p.kind == Kind::Array ? "each element " : "";
  if (p.min && p.max) {
    out = fmt::format("{}in {}{}, {}{}", what, p.min->inclusive ? "[" : "(", num(p.min->value),
                      num(p.max->value), p.max->inclusive ? "]" : ")");
  } else if (p.min) {
    out = fmt::format("{}{} {}", what, p.min->inclusive ? ">=" : ">", num(p.min->value));
  } else if (p.max) {
    out = fmt::format("{}{} {}", what, p.max->inclusive ? "<=" : "<", num(p.max->value));
  }
  return out;
}
}  // namespace

std::string describe_text(const KernelDef& k) {
  std::string out = fmt::format("{}: {}\n", k.name, k.summary);
  if (!k.doc.empty()) out += "\n" + k.doc + "\n";
  out += "\nParameters:\n";
  for (const auto& p : k.params) {
    std::string facts = type_text(p.kind, p.dtype, p.shape);
    facts += p.required() ? ", required" : ", default " + value_text(*p.default_value);
    if (auto b = bounds_text(p); !b.empty()) facts += ", " + b;
    if (!p.choices.empty()) facts += ", one of " + quoted_list(p.choices);
    if ((p.kind == Kind::Float || (p.kind == Kind::Array && p.dtype == DType::Float64)) && p.finite)
      facts += ", finite";
    if (!p.unit.empty()) facts += ", unit: " + p.unit;
    out += fmt::format("  {} ({})\n      {}\n", p.name, facts, p.doc);
  }
  out += "\nOutputs:\n";
  for (const auto& o : k.outputs) {
    std::string facts = o.kind == Kind::Array ? type_text(o.kind, o.dtype, o.shape) : "float";
    if (!o.unit.empty()) facts += ", unit: " + o.unit;
    out += fmt::format("  {} ({})\n      {}\n", o.name, facts, o.doc);
  }
  out += fmt::format("\nProgress is counted in {}.\n", k.progress_unit);
  return out;
}

bool is_identifier(std::string_view s) noexcept {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace simhost
