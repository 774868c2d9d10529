// Reading a batch spec (toml++), checking it against the kernel, and expanding its runs.
#include "simhost/batch_spec.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>
#include <toml++/toml.h>
#include <unordered_set>

#include "simhost/bind.hpp"
#include "simhost/random.hpp"
#include "simhost/text.hpp"

namespace simhost {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string SpecPlace::text() const {
  std::string s = file;
  if (line > 0) s += fmt::format(":{}", line);
  if (!key.empty()) s += (s.empty() ? "" : ": ") + key;
  return s;
}

SpecError::SpecError(const SpecPlace& place, const std::string& message)
    : ArgumentValueError(place.text().empty() ? message : place.text() + ": " + message) {}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr))
    throw Error("SHA-256 failed (OpenSSL's EVP_Digest)");
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArgumentValueError(fmt::format("{}: cannot open the file", path));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ArgumentValueError(fmt::format("{}: cannot read the file", path));
  return sha256_hex(data);
}

std::string run_id(std::string_view kernel, std::string_view params_json) {
  // Both parts are JSON already (the kernel name as a JSON string), so the text is canonical.
  const std::string text =
      fmt::format("{{\"kernel\":{},\"params\":{}}}", json(std::string(kernel)).dump(), params_json);
  return sha256_hex(text).substr(0, 20);
}

namespace {

std::uint64_t first_word(const std::string& hex) { return std::stoull(hex.substr(0, 16), nullptr, 16); }

}  // namespace

std::uint64_t derive_seed(std::uint64_t batch_seed, std::string_view params_json,
                          std::int64_t replicate) {
  const std::string text = fmt::format("simhost seed\n{}\n{}\n{}", batch_seed, params_json, replicate);
  return first_word(sha256_hex(text)) >> 1;  // 63 bits: every kernel's seed range
}

namespace {

constexpr std::int64_t kMaxRuns = 10'000'000;

const std::vector<std::string> kTopKeys = {"kernel", "seed", "outputs", "setup", "reduce",
                                           "timeout", "retries", "replicates", "params", "grid",
                                           "zip", "random"};

std::string toml_type(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "list";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "value";
  }
}

// One value of a parameter: as the kernel takes it, and its canonical JSON.
// The canonical text of a JSON value (docs/batches.md, "Run ids"): compact, keys sorted (the
// json objects are std::maps), strings as nlohmann escapes them (UTF-8 kept, as
// json.dumps(ensure_ascii=False)), and floats in their shortest round-trip form as Python's
// repr writes them: nlohmann's own dump() uses Grisu2, which is round-trip but not always
// shortest (5.58765690525698 would come out as 5.5876569052569796).
void append_canonical(std::string& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : v.items()) {
        if (!first) out += ',';
        first = false;
        out += json(key).dump();
        out += ':';
        append_canonical(out, value);
      }
      out += '}';
      break;
    }
    case json::value_t::array: {
      out += '[';
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        append_canonical(out, v[i]);
      }
      out += ']';
      break;
    }
    case json::value_t::number_float: out += number_text(v.get<double>()); break;
    default: out += v.dump(); break;  // null, booleans, integers, strings
  }
}

std::string canonical_text(const json& v) {
  std::string out;
  append_canonical(out, v);
  return out;
}

struct Resolved {
  Value value;
  json canonical;
  std::string text;  // canonical_text(canonical), filled before the runs are expanded
};

json json_of(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d)) return *d;
    return std::isnan(*d) ? "nan" : (*d > 0 ? "inf" : "-inf");
  }
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return nullptr;
}

std::string expected_text(const ParamSpec& p) {
  switch (p.kind) {
    case Kind::Float: return "a float";
    case Kind::Int: return "an integer";
    case Kind::Bool: return "true or false";
    case Kind::String:
      return p.choices.empty() ? std::string("a string") : "one of " + quoted_list(p.choices);
    case Kind::Array: return "an array";
  }
  return "a value";
}

// A parameter set in one place of the spec, its values one per row of its axis (one value for
// a fixed parameter).
struct Axis {
  std::vector<std::string> names;                 // the parameters it sets
  std::vector<std::vector<Resolved>> rows;        // rows[r][j]: value of names[j] in row r
};

class Parser {
 public:
  Parser(std::string origin, std::string folder, const Registry& registry, bool lines)
      : m_origin(std::move(origin)), m_folder(std::move(folder)), m_registry(registry),
        m_lines(lines) {}

  BatchSpec parse(std::string text);

 private:
  SpecPlace place(const toml::node* n, std::string key) const {
    return {m_origin, (m_lines && n) ? static_cast<int>(n->source().begin.line) : 0, std::move(key)};
  }
  std::vector<std::pair<std::string, const toml::node*>> ordered(const toml::table& t) const;
  const ParamSpec& param(const std::string& name, const SpecPlace& at, const std::string& where);
  Resolved resolve(const ParamSpec& p, Value v, const SpecPlace& at, std::string_view what = {});
  Resolved resolve_node(const ParamSpec& p, const toml::node& n, const SpecPlace& at);
  std::vector<Resolved> axis_values(const ParamSpec& p, const toml::node& n, const SpecPlace& at);
  double number(const toml::node& n, const SpecPlace& at, std::string_view what) const;
  std::int64_t integer(const toml::node& n, const SpecPlace& at, std::string_view what) const;
  std::string path_of(const std::string& file) const;
  BatchHook hook(const toml::node& n, const SpecPlace& at) const;
  void parse_random(const toml::table& t, const std::string& key);
  void check_runs();

  std::string m_origin, m_folder;
  const Registry& m_registry;
  bool m_lines;
  BatchSpec m_spec;
  SpecPlace m_replicates_at;  // where `replicates` is set (its errors after the params name it)
  const KernelDef* m_kernel = nullptr;
  std::vector<std::pair<std::string, SpecPlace>> m_set_at;  // parameter -> where it is set
  std::vector<std::pair<std::string, Resolved>> m_fixed;
  std::vector<Axis> m_axes;
};

std::vector<std::pair<std::string, const toml::node*>> Parser::ordered(const toml::table& t) const {
  std::vector<std::pair<std::string, const toml::node*>> items;
  for (auto&& [k, v] : t) items.emplace_back(std::string(k.str()), &v);
  // toml++ keeps keys sorted; the spec's order is the order in the file.
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    const auto& sa = a.second->source().begin;
    const auto& sb = b.second->source().begin;
    return sa.line != sb.line ? sa.line < sb.line : sa.column < sb.column;
  });
  return items;
}

const ParamSpec& Parser::param(const std::string& name, const SpecPlace& at, const std::string& where) {
  const ParamSpec* p = m_kernel->find_param(name);
  if (!p) {
    try {
      throw_unexpected_argument(*m_kernel, name);
    } catch (const Error& e) {
      throw SpecError(at, e.what());
    }
  }
  for (const auto& [n, first] : m_set_at)
    if (n == name)
      throw SpecError(at, fmt::format("parameter '{}' is set twice: in {} and at {}", name, where,
                                      first.text()));
  m_set_at.emplace_back(name, at);
  return *p;
}

Resolved Parser::resolve(const ParamSpec& p, Value v, const SpecPlace& at, std::string_view what) {
  try {
    v = check_param(*m_kernel, p, std::move(v));
  } catch (const Error& e) {
    throw SpecError(at, what.empty() ? std::string(e.what()) : fmt::format("{}: {}", what, e.what()));
  }
  json j = json_of(v);
  return {std::move(v), std::move(j), {}};
}

std::string Parser::path_of(const std::string& file) const {
  const fs::path p(file);
  return (p.is_absolute() ? p : fs::path(m_folder) / p).lexically_normal().string();
}

Resolved Parser::resolve_node(const ParamSpec& p, const toml::node& n, const SpecPlace& at) {
  if (p.kind == Kind::Array) {
    const auto* t = n.as_table();
    const toml::node* file = t ? t->get("npy") : nullptr;
    if (!t || t->size() != 1 || !file || !file->is_string())
      throw SpecError(at, fmt::format("parameter '{}' is a {} array of shape {}: give it as "
                                      "{{ npy = \"file.npy\" }} or from a setup hook, got a TOML {}",
                                      p.name, dtype_name(p.dtype), shape_text(p.shape), toml_type(n)));
    const std::string name = file->as_string()->get();
    const std::string full = path_of(name);
    if (!fs::is_regular_file(full))
      throw SpecError(at, fmt::format("no such file: {} (paths are taken from the spec's folder)", full));
    std::unique_ptr<NpyArray> array;
    try {
      array = std::make_unique<NpyArray>(npy_load(full));
    } catch (const Error& e) {
      throw SpecError(at, e.what());
    }
    Resolved r = resolve(p, array->view, at);
    r.canonical = json{{"npy", name}, {"sha256", sha256_file(full)}};
    m_spec.arrays.push_back(std::move(array));
    return r;
  }
  Value v;
  if (const auto* i = n.as_integer()) v = static_cast<std::int64_t>(i->get());
  else if (const auto* d = n.as_floating_point()) v = d->get();
  else if (const auto* b = n.as_boolean()) v = b->get();
  else if (const auto* s = n.as_string()) v = s->get();
  else
    throw SpecError(at, fmt::format("parameter '{}' expects {}, got a TOML {}", p.name,
                                    expected_text(p), toml_type(n)));
  return resolve(p, std::move(v), at);
}

double Parser::number(const toml::node& n, const SpecPlace& at, std::string_view what) const {
  if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
  if (const auto* d = n.as_floating_point()) return d->get();
  throw SpecError(at, fmt::format("{} must be a number, got a TOML {}", what, toml_type(n)));
}

std::int64_t Parser::integer(const toml::node& n, const SpecPlace& at, std::string_view what) const {
  if (const auto* i = n.as_integer()) return i->get();
  throw SpecError(at, fmt::format("{} must be an integer, got a TOML {}", what, toml_type(n)));
}

std::vector<Resolved> Parser::axis_values(const ParamSpec& p, const toml::node& n,
                                          const SpecPlace& at) {
  std::vector<Resolved> out;
  if (const auto* a = n.as_array()) {
    if (a->empty()) throw SpecError(at, "an empty list: the sweep would have no runs");
    for (const auto& item : *a) out.push_back(resolve_node(p, item, place(&item, at.key)));
    return out;
  }
  const auto* t = n.as_table();
  const std::string forms =
      "a list [a, b, ...], { linspace = [start, stop, num] }, { logspace = [start, stop, num] } "
      "(powers of 10) or { range = [start, stop, step] }";
  if (!t || t->size() != 1)
    throw SpecError(at, fmt::format("a swept parameter takes {}, got a TOML {}", forms, toml_type(n)));
  std::string form;
  const toml::array* args = nullptr;
  for (auto&& [k, v] : *t) {  // the one entry
    form = std::string(k.str());
    args = v.as_array();
  }
  if ((form != "linspace" && form != "logspace" && form != "range") || !args || args->size() != 3)
    throw SpecError(at, fmt::format("a swept parameter takes {}", forms));
  if (form == "range") {
    const std::int64_t start = integer(*args->get(0), at, "range start");
    const std::int64_t stop = integer(*args->get(1), at, "range stop");
    const std::int64_t step = integer(*args->get(2), at, "range step");
    if (step == 0) throw SpecError(at, "range step must not be 0");
    for (std::int64_t x = start; step > 0 ? x < stop : x > stop; x += step) {
      if (static_cast<std::int64_t>(out.size()) >= kMaxRuns)
        throw SpecError(at, fmt::format("the range has more than {} values", kMaxRuns));
      out.push_back(resolve(p, x, at));
      if ((step > 0 && x > INT64_MAX - step) || (step < 0 && x < INT64_MIN - step)) break;
    }
    if (out.empty())
      throw SpecError(at, fmt::format("range [{}, {}, {}] is empty: the sweep would have no runs",
                                      start, stop, step));
    return out;
  }
  const double start = number(*args->get(0), at, form + " start");
  const double stop = number(*args->get(1), at, form + " stop");
  const std::int64_t num = integer(*args->get(2), at, form + " num");
  if (num < 1 || num > kMaxRuns)
    throw SpecError(at, fmt::format("{} num must be between 1 and {}, got {}", form, kMaxRuns, num));
  // As numpy.linspace: start + i * step, the last value exactly stop.
  const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
  for (std::int64_t i = 0; i < num; ++i) {
    double x = (i == num - 1 && num > 1) ? stop : start + static_cast<double>(i) * step;
    if (form == "logspace") x = std::pow(10.0, x);
    out.push_back(resolve(p, x, at));
  }
  return out;
}

BatchHook Parser::hook(const toml::node& n, const SpecPlace& at) const {
  const auto* s = n.as_string();
  const std::string text = s ? s->get() : "";
  const auto colon = text.rfind(':');
  if (!s || colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw SpecError(at, fmt::format("expects \"file.py:function\", got {}",
                                    s ? "'" + text + "'" : "a TOML " + toml_type(n)));
  BatchHook h{path_of(text.substr(0, colon)), text.substr(colon + 1), at};
  if (!is_identifier(h.function))
    throw SpecError(at, fmt::format("'{}' is not a Python function name", h.function));
  if (!fs::is_regular_file(h.file))
    throw SpecError(at, fmt::format("no such file: {} (paths are taken from the spec's folder)", h.file));
  return h;
}

void Parser::parse_random(const toml::table& t, const std::string& key) {
  const toml::node* draws_node = t.get("draws");
  if (!draws_node)
    throw SpecError(place(&t, key), "[random] needs draws = N, the number of random points");
  const std::int64_t draws = integer(*draws_node, place(draws_node, key + ".draws"), "draws");
  if (draws < 1 || draws > kMaxRuns)
    throw SpecError(place(draws_node, key + ".draws"),
                    fmt::format("draws must be between 1 and {}, got {}", kMaxRuns, draws));
  Axis axis;
  axis.rows.resize(static_cast<std::size_t>(draws));
  for (const auto& [name, node] : ordered(t)) {
    if (name == "draws") continue;
    const SpecPlace at = place(node, key + "." + name);
    const ParamSpec& p = param(name, at, "[random]");
    const auto* dist = node->as_table();
    const std::string forms =
        "{ uniform = [low, high] }, { loguniform = [low, high] }, { normal = [mean, sd] } or "
        "{ choice = [a, b, ...] }";
    if (!dist || dist->size() != 1)
      throw SpecError(at, fmt::format("a random parameter takes {}", forms));
    std::string kind;
    const toml::array* args = nullptr;
    for (auto&& [k, v] : *dist) {  // the one entry
      kind = std::string(k.str());
      args = v.as_array();
    }
    if (!args || (kind != "choice" && args->size() != 2) ||
        (kind != "uniform" && kind != "loguniform" && kind != "normal" && kind != "choice"))
      throw SpecError(at, fmt::format("a random parameter takes {}", forms));
    if (kind == "choice" && args->empty()) throw SpecError(at, "choice needs a non-empty list");
    double a = 0, b = 0;
    if (kind != "choice") {
      a = number(*args->get(0), at, kind + " low");
      b = number(*args->get(1), at, kind + " high");
      if (kind != "normal" && !(a <= b))
        throw SpecError(at, fmt::format("{} needs low <= high, got [{}, {}]", kind, a, b));
      if (kind == "normal" && !(b >= 0)) throw SpecError(at, "normal needs sd >= 0");
      if (kind == "loguniform" && !(a > 0)) throw SpecError(at, "loguniform needs low > 0");
    }
    // A stream per parameter name, counters by draw: the draws do not depend on the order
    // of the keys or of the runs.
    const Philox rng(m_spec.seed, first_word(sha256_hex("random." + name)));
    std::vector<Resolved> choices;
    if (kind == "choice")
      for (const auto& item : *args) choices.push_back(resolve_node(p, item, place(&item, at.key)));
    for (std::int64_t d = 0; d < draws; ++d) {
      const auto u = rng.uniform(static_cast<std::uint64_t>(d));
      const std::string what = fmt::format("draw {}", d);
      Resolved r;
      if (kind == "choice") {
        const auto i = std::min(choices.size() - 1, static_cast<std::size_t>(u[0] * static_cast<double>(choices.size())));
        r = Resolved{choices[i].value, choices[i].canonical, {}};
      } else if (kind == "normal") {
        const double z = std::sqrt(-2.0 * std::log(u[0])) * std::cos(2.0 * std::numbers::pi * u[1]);
        r = resolve(p, a + b * z, at, what);
      } else if (p.kind == Kind::Int && kind == "uniform") {
        const auto lo = static_cast<std::int64_t>(std::ceil(a)), hi = static_cast<std::int64_t>(std::floor(b));
        if (lo > hi) throw SpecError(at, fmt::format("uniform [{}, {}] holds no integer", a, b));
        const double span = static_cast<double>(hi - lo) + 1.0;
        r = resolve(p, lo + std::min(hi - lo, static_cast<std::int64_t>(u[0] * span)), at, what);
      } else {
        const double x = kind == "uniform" ? a + (b - a) * u[0]
                                           : std::exp(std::log(a) + (std::log(b) - std::log(a)) * u[0]);
        r = resolve(p, x, at, what);
      }
      axis.rows[static_cast<std::size_t>(d)].push_back(std::move(r));
    }
    axis.names.push_back(name);
  }
  if (axis.names.empty())
    throw SpecError(place(&t, key), "[random] draws no parameter: add e.g. x = { uniform = [0, 1] }");
  m_axes.push_back(std::move(axis));
}

BatchSpec Parser::parse(std::string text) {
  toml::table root;
  try {
    root = toml::parse(text, m_origin);
  } catch (const toml::parse_error& e) {
    throw SpecError({m_origin, static_cast<int>(e.source().begin.line), ""},
                    fmt::format("TOML syntax: {}", e.description()));
  }
  m_spec.path = m_origin;
  m_spec.folder = m_folder;
  m_spec.sha256 = sha256_hex(text);
  m_spec.text = std::move(text);

  for (const auto& [key, node] : ordered(root))
    if (std::find(kTopKeys.begin(), kTopKeys.end(), key) == kTopKeys.end()) {
      std::string msg = fmt::format("unknown key '{}'", key);
      if (auto close = close_matches(key, kTopKeys, 1); !close.empty())
        msg += fmt::format("; did you mean '{}'?", close[0]);
      throw SpecError(place(node, key), msg + fmt::format(" (the keys are {})", quoted_list(kTopKeys)));
    }

  const toml::node* kernel_node = root.get("kernel");
  if (!kernel_node || !kernel_node->is_string())
    throw SpecError({m_origin, 0, "kernel"},
                    "the spec needs kernel = \"NAME\" (`simhost kernels` lists them)");
  const std::string kernel_name = kernel_node->as_string()->get();
  m_kernel = m_registry.find(kernel_name);
  if (!m_kernel) {
    std::string msg = fmt::format("unknown kernel '{}'", kernel_name);
    if (auto close = close_matches(kernel_name, m_registry.names(), 3); !close.empty())
      msg += fmt::format("; did you mean {}?", quoted_list(close));
    throw SpecError(place(kernel_node, "kernel"), msg + " (`simhost kernels` lists them)");
  }
  m_spec.kernel = m_kernel;

  if (const auto* n = root.get("seed")) {
    const std::int64_t s = integer(*n, place(n, "seed"), "seed");
    if (s < 0) throw SpecError(place(n, "seed"), fmt::format("seed must be >= 0, got {}", s));
    m_spec.seed = static_cast<std::uint64_t>(s);
  }
  if (const auto* n = root.get("replicates")) {
    m_replicates_at = place(n, "replicates");
    m_spec.replicates = integer(*n, place(n, "replicates"), "replicates");
    if (m_spec.replicates < 1 || m_spec.replicates > kMaxRuns)
      throw SpecError(place(n, "replicates"),
                      fmt::format("replicates must be between 1 and {}, got {}", kMaxRuns, m_spec.replicates));
  }
  if (const auto* n = root.get("retries")) {
    const std::int64_t r = integer(*n, place(n, "retries"), "retries");
    if (r < 0 || r > 100)
      throw SpecError(place(n, "retries"), fmt::format("retries must be between 0 and 100, got {}", r));
    m_spec.retries = static_cast<int>(r);
  }
  if (const auto* n = root.get("timeout")) {
    const double t = number(*n, place(n, "timeout"), "timeout");
    if (!(t > 0) || !std::isfinite(t))
      throw SpecError(place(n, "timeout"), fmt::format("timeout must be > 0 seconds, got {}", t));
    m_spec.timeout = t;
  }
  if (const auto* n = root.get("setup")) m_spec.setup = hook(*n, place(n, "setup"));
  if (const auto* n = root.get("reduce")) m_spec.reduce = hook(*n, place(n, "reduce"));

  if (const auto* n = root.get("outputs")) {
    const auto* list = n->as_array();
    if (!list || list->empty())
      throw SpecError(place(n, "outputs"), "outputs must be a non-empty list of output names");
    std::vector<std::string> names;
    for (const auto& o : m_kernel->outputs) names.push_back(o.name);
    std::vector<std::string> chosen;
    for (const auto& item : *list) {
      const SpecPlace at = place(&item, "outputs");
      if (!item.is_string()) throw SpecError(at, "outputs must be a list of output names (strings)");
      const std::string name = item.as_string()->get();
      if (!m_kernel->find_output(name)) {
        std::string msg = fmt::format("{}() has no output '{}'", m_kernel->name, name);
        if (auto close = close_matches(name, names, 1); !close.empty())
          msg += fmt::format("; did you mean '{}'?", close[0]);
        throw SpecError(at, msg + fmt::format(" (its outputs are {})", quoted_list(names)));
      }
      if (std::find(chosen.begin(), chosen.end(), name) != chosen.end())
        throw SpecError(at, fmt::format("output '{}' is listed twice", name));
      chosen.push_back(name);
    }
    for (const auto& o : names)  // the kernel's order
      if (std::find(chosen.begin(), chosen.end(), o) != chosen.end()) m_spec.outputs.push_back(o);
  } else {
    for (const auto& o : m_kernel->outputs) m_spec.outputs.push_back(o.name);
  }

  const auto table_of = [&](const char* key) -> const toml::table* {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table())
      throw SpecError(place(n, key), fmt::format("'{}' must be a table ([{}])", key, key));
    return n->as_table();
  };
  if (const auto* t = table_of("params"))
    for (const auto& [name, node] : ordered(*t)) {
      const SpecPlace at = place(node, "params." + name);
      const ParamSpec& p = param(name, at, "[params]");
      if (node->is_array() && p.kind != Kind::Array)
        throw SpecError(at, fmt::format("[params] sets one value per parameter; to sweep '{}' "
                                        "over a list, put it under [grid]", name));
      m_fixed.emplace_back(name, resolve_node(p, *node, at));
    }
  if (const auto* t = table_of("grid"))
    for (const auto& [name, node] : ordered(*t)) {
      const SpecPlace at = place(node, "grid." + name);
      const ParamSpec& p = param(name, at, "[grid]");
      Axis axis;
      axis.names.push_back(name);
      for (auto& v : axis_values(p, *node, at)) axis.rows.push_back({std::move(v)});
      m_axes.push_back(std::move(axis));
    }
  if (const toml::node* z = root.get("zip")) {
    std::vector<const toml::table*> groups;
    if (const auto* t = z->as_table()) groups.push_back(t);
    else if (const auto* a = z->as_array(); a && a->is_array_of_tables())
      for (const auto& g : *a) groups.push_back(g.as_table());
    else
      throw SpecError(place(z, "zip"), "zip must be a table ([zip]) or tables ([[zip]])");
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const std::string key = groups.size() > 1 ? fmt::format("zip[{}]", g) : "zip";
      Axis axis;
      std::string first;
      for (const auto& [name, node] : ordered(*groups[g])) {
        const SpecPlace at = place(node, key + "." + name);
        const ParamSpec& p = param(name, at, "[" + key + "]");
        auto values = axis_values(p, *node, at);
        if (axis.names.empty()) {
          axis.rows.resize(values.size());
          first = name;
        } else if (values.size() != axis.rows.size()) {
          throw SpecError(at, fmt::format("zip lists must have equal lengths: '{}' has {} values, "
                                          "'{}' has {}",
                                          name, values.size(), first, axis.rows.size()));
        }
        for (std::size_t r = 0; r < values.size(); ++r) axis.rows[r].push_back(std::move(values[r]));
        axis.names.push_back(name);
      }
      if (axis.names.empty()) throw SpecError(place(groups[g], key), "an empty [zip]: it sweeps nothing");
      m_axes.push_back(std::move(axis));
    }
  }
  if (const auto* t = table_of("random")) parse_random(*t, "random");

  // The seed: given, swept, or derived per run.
  const bool has_seed = m_kernel->find_param("seed") != nullptr;
  const bool seed_set = std::any_of(m_set_at.begin(), m_set_at.end(),
                                    [](const auto& s) { return s.first == "seed"; });
  m_spec.derives_seed = has_seed && !seed_set;
  if (m_spec.replicates > 1 && !m_spec.derives_seed)
    throw SpecError(m_replicates_at,
                    has_seed ? "replicates differ only by seed, which the spec sets itself: remove "
                               "'seed' from the parameters (each run's seed is then derived from "
                               "the batch seed) or set replicates = 1"
                             : fmt::format("replicates differ only by seed, and {}() has no seed "
                                           "parameter: it gives the same result every time",
                                           m_kernel->name));
  if (!m_spec.setup)
    for (const auto& p : m_kernel->params) {
      if (!p.required() || p.name == "seed") continue;
      const bool set = std::any_of(m_set_at.begin(), m_set_at.end(),
                                   [&](const auto& s) { return s.first == p.name; });
      if (!set)
        throw SpecError({m_origin, 0, "params"},
                        fmt::format("{}() needs parameter '{}' ({}{}): set it in [params], sweep it, "
                                    "or make it in a setup hook",
                                    m_kernel->name, p.name, expected_text(p),
                                    p.unit.empty() ? "" : ", " + p.unit));
    }

  // The fixed parameters' canonical form, compared on resume.
  json fixed = json::object();
  for (const auto& [name, r] : m_fixed) fixed[name] = r.canonical;
  m_spec.fixed_json = canonical_text(fixed);

  // Expand: the first axis outermost, replicates innermost.
  std::int64_t total = m_spec.replicates;
  for (const auto& a : m_axes) {
    const auto n = static_cast<std::int64_t>(a.rows.size());
    if (total > kMaxRuns / n)
      throw SpecError({m_origin, 0, ""},
                      fmt::format("the sweep has more than {} runs; split it into several batches", kMaxRuns));
    total *= n;
  }
  std::unordered_set<std::string> ids;
  ids.reserve(static_cast<std::size_t>(total));
  m_spec.runs.reserve(static_cast<std::size_t>(total));
  std::vector<const Resolved*> chosen(m_kernel->params.size(), nullptr);
  const auto param_index = [&](const std::string& name) {
    for (std::size_t i = 0; i < m_kernel->params.size(); ++i)
      if (m_kernel->params[i].name == name) return i;
    return m_kernel->params.size();
  };
  for (const auto& [name, r] : m_fixed) chosen[param_index(name)] = &r;
  std::vector<std::vector<std::size_t>> axis_slots;
  for (const auto& a : m_axes) {
    axis_slots.emplace_back();
    for (const auto& n : a.names) axis_slots.back().push_back(param_index(n));
  }
  const std::size_t seed_slot = param_index("seed");
  // A run's params JSON is assembled from texts made once: each value's canonical text and
  // each key, in sorted key order, so it is byte for byte canonical_text() of the object.
  for (auto& [name, r] : m_fixed) r.text = canonical_text(r.canonical);
  for (auto& a : m_axes)
    for (auto& row : a.rows)
      for (auto& r : row) r.text = canonical_text(r.canonical);
  std::vector<std::size_t> key_order(m_kernel->params.size());
  std::vector<std::string> key_text(m_kernel->params.size());
  for (std::size_t i = 0; i < key_order.size(); ++i) {
    key_order[i] = i;
    key_text[i] = json(m_kernel->params[i].name).dump() + ":";
  }
  std::sort(key_order.begin(), key_order.end(), [&](std::size_t a, std::size_t b) {
    return m_kernel->params[a].name < m_kernel->params[b].name;
  });
  std::string seed_text;
  const auto params_text = [&](bool with_seed) {
    std::string out = "{";
    for (const std::size_t i : key_order) {
      const std::string* value = chosen[i] ? &chosen[i]->text
                                 : (with_seed && i == seed_slot) ? &seed_text : nullptr;
      if (!value) continue;
      if (out.size() > 1) out += ',';
      out += key_text[i];
      out += *value;
    }
    return out + "}";
  };
  for (std::int64_t idx = 0; idx < total; ++idx) {
    std::int64_t rest = idx;
    const std::int64_t replicate = rest % m_spec.replicates;
    rest /= m_spec.replicates;
    for (std::size_t a = m_axes.size(); a-- > 0;) {
      const auto n = static_cast<std::int64_t>(m_axes[a].rows.size());
      const auto& row = m_axes[a].rows[static_cast<std::size_t>(rest % n)];
      rest /= n;
      for (std::size_t j = 0; j < row.size(); ++j) chosen[axis_slots[a][j]] = &row[j];
    }
    BatchRun run;
    run.index = idx;
    std::uint64_t seed = 0;
    if (m_spec.derives_seed) {
      seed = derive_seed(m_spec.seed, params_text(false), replicate);
      seed_text = std::to_string(seed);
    }
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      if (chosen[i]) run.params.emplace_back(m_kernel->params[i].name, chosen[i]->value);
      else if (m_spec.derives_seed && i == seed_slot)
        run.params.emplace_back("seed", static_cast<std::int64_t>(seed));
    }
    run.params_json = params_text(m_spec.derives_seed);
    run.id = run_id(m_kernel->name, run.params_json);
    if (!ids.insert(run.id).second) {
      const auto& first = *std::find_if(m_spec.runs.begin(), m_spec.runs.end(),
                                        [&](const BatchRun& r) { return r.id == run.id; });
      throw SpecError({m_origin, 0, ""},
                      fmt::format("runs {} and {} have the same parameters ({}): a sweep list "
                                  "repeats a value (for repeated runs use replicates)",
                                  first.index, idx, run.params_json));
    }
    m_spec.runs.push_back(std::move(run));
  }
  if (!m_spec.setup) check_runs();
  return std::move(m_spec);
}

// Every run binds as the kernel binds it: cross-parameter checks and output sizes too.
void Parser::check_runs() {
  for (const auto& run : m_spec.runs) {
    try {
      const Args args = bind(*m_kernel, run.params);
      if (m_kernel->check) m_kernel->check(args);
      for (const auto& out : m_kernel->outputs)
        if (out.kind == Kind::Array) (void)output_shape(out, args);
    } catch (const Error& e) {
      throw SpecError({m_origin, 0, ""},
                      fmt::format("run {} ({}): {}", run.index, run.params_json, e.what()));
    }
  }
}

}  // namespace

BatchSpec parse_batch_spec(std::string text, std::string origin, std::string folder,
                           const Registry& registry) {
  const bool lines = !origin.starts_with("<");
  return Parser(std::move(origin), std::move(folder), registry, lines).parse(std::move(text));
}

BatchSpec load_batch_spec(const std::string& path, const Registry& registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const bool exists = fs::exists(path);
    throw SpecError({path, 0, ""}, exists ? "cannot read the spec file"
                                          : "no such spec file (a batch spec is a TOML file: see docs/batches.md)");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path p = fs::absolute(path);
  return parse_batch_spec(std::move(text), path, p.parent_path().string(), registry);
}

}  // namespace simhost
