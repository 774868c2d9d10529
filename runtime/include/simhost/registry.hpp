// The process-wide registry of kernels: Python, the CLI, batches and plugins all use it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "simhost/kernel.hpp"

namespace simhost {

/// Name -> kernel. Thread-safe; kernels are never removed, so returned references stay valid
/// for the life of the process.
/// Checks a kernel's signature as Registry::add() does, without adding it: an identifier
/// name, a run function, a summary, well-formed parameters and outputs, defaults within their
/// own bounds, an example that binds. Throws ArgumentValueError naming the kernel.
void validate_kernel(const KernelDef& kernel);

class Registry {
 public:
  /// The process-wide registry (empty until the host or module adds the built-in kernels).
  static Registry& global();

  /// Adds a kernel. Throws ArgumentValueError for an invalid name or signature (see
  /// validate_kernel()), or a name that is already registered (naming both sources).
  void add(KernelDef kernel);
  /// The kernel `name`; throws UnknownKernelError (with close matches) when there is none.
  const KernelDef& get(std::string_view name) const;
  const KernelDef* find(std::string_view name) const noexcept;
  /// Every registered name, sorted.
  std::vector<std::string> names() const;

 private:
  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<KernelDef>> m_kernels;
};

}  // namespace simhost
