// The kernel registry and the checks a signature must pass to be registered.
#include "simhost/registry.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "simhost/bind.hpp"
#include "simhost/text.hpp"

namespace simhost {

namespace {

using Reserved = std::vector<std::pair<std::string, std::string>>;

// What reserves `name` (see Registry::reserve_parameter_names()), or null.
const std::string* reason_of(const Reserved& reserved, std::string_view name) {
  for (const auto& [n, by] : reserved)
    if (n == name) return &by;
  return nullptr;
}

void check_signature(const KernelDef& k, const Reserved& reserved_params,
                     const Reserved& reserved_outputs) {
  auto bad = [&](const std::string& why) {
    return ArgumentValueError(fmt::format("cannot register kernel '{}': {}", k.name, why));
  };
  if (!is_identifier(k.name) || !std::islower(static_cast<unsigned char>(k.name[0])))
    throw bad(
        "the name must be an identifier (ASCII letters, digits and '_') starting with a "
        "lower-case letter");
  if (!k.run) throw bad("it has no run function");
  if (k.summary.empty()) throw bad("it has no one-line summary");
  std::vector<std::string> seen;
  for (const auto& p : k.params) {
    if (!is_identifier(p.name)) throw bad(fmt::format("parameter '{}' is not an identifier", p.name));
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end())
      throw bad(fmt::format("parameter '{}' is declared twice", p.name));
    if (const std::string* by = reason_of(reserved_params, p.name))
      throw bad(fmt::format("parameter name '{}' is reserved by {}", p.name, *by));
    if (p.kind == Kind::Array && p.shape.empty())
      throw bad(fmt::format("array parameter '{}' declares no shape", p.name));
    seen.push_back(p.name);
  }
  seen.clear();
  for (const auto& o : k.outputs) {
    if (!is_identifier(o.name)) throw bad(fmt::format("output '{}' is not an identifier", o.name));
    if (std::find(seen.begin(), seen.end(), o.name) != seen.end())
      throw bad(fmt::format("output '{}' is declared twice", o.name));
    if (const std::string* by = reason_of(reserved_outputs, o.name))
      throw bad(fmt::format("output name '{}' is reserved by {}", o.name, *by));
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

void Registry::validate(const KernelDef& kernel) const {
  std::lock_guard reserve_lock(m_reserve_mutex);
  check_signature(kernel, m_reserved_params, m_reserved_outputs);
}

void Registry::add(KernelDef kernel) {
  std::lock_guard reserve_lock(m_reserve_mutex);
  check_signature(kernel, m_reserved_params, m_reserved_outputs);
  std::lock_guard lock(m_mutex);
  for (const auto& k : m_kernels)
    if (k->name == kernel.name)
      throw ArgumentValueError(fmt::format("cannot register kernel '{}' ({}): a kernel of that "
                                           "name is already registered ({})",
                                           kernel.name, kernel.source, k->source));
  m_kernels.push_back(std::make_unique<KernelDef>(std::move(kernel)));
}

namespace {
// The first of `names` that one of `items` (a kernel's params or outputs) declares, or null.
template <class Items>
const std::string* first_declared(const Items& items, const std::vector<std::string>& names) {
  for (const auto& item : items)
    if (std::find(names.begin(), names.end(), item.name) != names.end()) return &item.name;
  return nullptr;
}
}  // namespace

void Registry::reserve_parameter_names(const std::vector<std::string>& names,
                                       const std::string& reserved_by) {
  std::lock_guard reserve_lock(m_reserve_mutex);
  {
    std::lock_guard lock(m_mutex);
    for (const auto& k : m_kernels)
      if (const std::string* name = first_declared(k->params, names))
        throw ArgumentValueError(
            fmt::format("cannot reserve parameter name '{}' for {}: kernel "
                        "'{}' already declares it",
                        *name, reserved_by, k->name));
  }
  for (const auto& name : names)
    if (!reason_of(m_reserved_params, name)) m_reserved_params.emplace_back(name, reserved_by);
}

void Registry::reserve_output_names(const std::vector<std::string>& names,
                                    const std::string& reserved_by) {
  std::lock_guard reserve_lock(m_reserve_mutex);
  {
    std::lock_guard lock(m_mutex);
    for (const auto& k : m_kernels)
      if (const std::string* name = first_declared(k->outputs, names))
        throw ArgumentValueError(
            fmt::format("cannot reserve output name '{}' for {}: kernel "
                        "'{}' already declares it",
                        *name, reserved_by, k->name));
  }
  for (const auto& name : names)
    if (!reason_of(m_reserved_outputs, name)) m_reserved_outputs.emplace_back(name, reserved_by);
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
