// The kernel registry and the checks a signature must pass to be registered.
#include "simhost/registry.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "simhost/bind.hpp"
#include "simhost/text.hpp"

namespace simhost {

namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '_' || std::isupper(static_cast<unsigned char>(c));
  });
}

// Names the Python layer uses itself: a parameter or output with one of them could not be
// passed or read.
constexpr std::array kReservedParams{"timeout", "progress", "name"};
constexpr std::array kReservedOutputs{"kernel", "params", "seconds", "keys", "items", "values",
                                      "get"};

void validate(const KernelDef& k) {
  auto bad = [&](const std::string& why) {
    return ArgumentValueError(fmt::format("cannot register kernel '{}': {}", k.name, why));
  };
  if (!is_identifier(k.name) || !std::islower(static_cast<unsigned char>(k.name[0])))
    throw bad("the name must be a Python identifier starting with a lower-case letter");
  if (!k.run) throw bad("it has no run function");
  if (k.summary.empty()) throw bad("it has no one-line summary");
  std::vector<std::string> seen;
  for (const auto& p : k.params) {
    if (!is_identifier(p.name)) throw bad(fmt::format("parameter '{}' is not an identifier", p.name));
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end())
      throw bad(fmt::format("parameter '{}' is declared twice", p.name));
    if (std::find(kReservedParams.begin(), kReservedParams.end(), p.name) != kReservedParams.end())
      throw bad(fmt::format("parameter name '{}' is reserved by simhost.run()", p.name));
    if (p.kind == Kind::Array && p.shape.empty())
      throw bad(fmt::format("array parameter '{}' declares no shape", p.name));
    seen.push_back(p.name);
  }
  seen.clear();
  for (const auto& o : k.outputs) {
    if (!is_identifier(o.name)) throw bad(fmt::format("output '{}' is not an identifier", o.name));
    if (std::find(seen.begin(), seen.end(), o.name) != seen.end())
      throw bad(fmt::format("output '{}' is declared twice", o.name));
    if (std::find(kReservedOutputs.begin(), kReservedOutputs.end(), o.name) != kReservedOutputs.end())
      throw bad(fmt::format("output name '{}' is reserved by simhost.Result", o.name));
    if (o.kind != Kind::Array && o.kind != Kind::Float)
      throw bad(fmt::format("output '{}' must be an array or a float", o.name));
    seen.push_back(o.name);
  }
  // Defaults must satisfy their own parameter's rules (arrays have none): bind each alone.
  for (const auto& p : k.params)
    if (p.kind == Kind::Array && !p.required() && !p.optional())
      throw bad(fmt::format("array parameter '{}' may default to None only", p.name));
  for (const auto& p : k.params) {
    if (p.required()) continue;
    KernelDef one;
    one.name = k.name;
    one.params = {p};
    try {
      bind(one, {});
    } catch (const Error& e) {
      throw bad(fmt::format("the default of '{}' is invalid: {}", p.name, e.what()));
    }
  }
  // The example must be a call that prepare_call() accepts.
  if (k.example) {
    try {
      const OwnedArgs example = k.example();
      const Args args = bind(k, example.values());
      if (k.check) k.check(args);
      for (const auto& o : k.outputs)
        if (o.kind == Kind::Array) output_shape(o, args);
    } catch (const Error& e) {
      throw bad(fmt::format("its example is not a valid call: {}", e.what()));
    }
  }
}

}  // namespace

Registry& Registry::global() {
  // Never destroyed, like the executor's pool: a kernel may still run (on a daemon thread or
  // a worker) while static destructors run at exit, and it reads its KernelDef.
  static Registry* registry = new Registry;
  return *registry;
}

void Registry::add(KernelDef kernel) {
  validate(kernel);
  std::lock_guard lock(m_mutex);
  for (const auto& k : m_kernels)
    if (k->name == kernel.name)
      throw ArgumentValueError(fmt::format("cannot register kernel '{}': a kernel of that name is "
                                           "already registered",
                                           kernel.name));
  m_kernels.push_back(std::make_unique<KernelDef>(std::move(kernel)));
}

const KernelDef* Registry::find(std::string_view name) const noexcept {
  std::lock_guard lock(m_mutex);
  for (const auto& k : m_kernels)
    if (k->name == name) return k.get();
  return nullptr;
}

const KernelDef& Registry::get(std::string_view name) const {
  if (const KernelDef* k = find(name)) return *k;
  throw UnknownKernelError(std::string(name), close_matches(name, names()));
}

std::vector<std::string> Registry::names() const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& k : m_kernels) out.push_back(k->name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace simhost
