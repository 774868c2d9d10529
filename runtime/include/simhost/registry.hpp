// The process-wide registry of kernels: Python, the CLI, batches and plugins all use it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simhost/signature.hpp"

namespace simhost {

/// Name -> kernel. Thread-safe; kernels are never removed, so returned references stay valid
/// for the life of the process.
class Registry {
 public:
  /// The process-wide registry (empty until the host or module adds the built-in kernels).
  static Registry& global();

  /// Adds a kernel. Throws ArgumentValueError for an invalid name or signature (see
  /// validate()), or a name that is already registered (naming both sources).
  void add(KernelDef kernel);
  /// Checks a kernel's signature as add() does, without adding it: an identifier name, a run
  /// function, a summary, well-formed parameters and outputs, no reserved name, defaults
  /// within their own bounds, an example that binds. Throws ArgumentValueError naming the
  /// kernel.
  void validate(const KernelDef& kernel) const;
  /// Reserves parameter (output) names that no kernel may declare because a front end uses
  /// them itself: add() then refuses such a kernel, saying the name "is reserved by
  /// <reserved_by>" (e.g. "simhost.run()"). Made before kernels are added; names already
  /// reserved keep their first reason. Throws ArgumentValueError when a registered kernel
  /// already declares one of `names`.
  void reserve_parameter_names(const std::vector<std::string>& names,
                               const std::string& reserved_by);
  void reserve_output_names(const std::vector<std::string>& names, const std::string& reserved_by);
  /// The kernel `name`; throws UnknownKernelError (with close matches) when there is none.
  const KernelDef& get(std::string_view name) const;
  const KernelDef* find(std::string_view name) const noexcept;
  /// Every registered name, sorted.
  std::vector<std::string> names() const;

 private:
  // Held by add() across validation and insertion, and by reserve_*(), so that no kernel
  // registers with a name reserved meanwhile. Taken before m_mutex.
  mutable std::mutex m_reserve_mutex;
  // Reserved names with what reserves each; guarded by m_reserve_mutex.
  std::vector<std::pair<std::string, std::string>> m_reserved_params, m_reserved_outputs;
  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<KernelDef>> m_kernels;
};

}  // namespace simhost
