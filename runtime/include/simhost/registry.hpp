// The process-wide registry of kernels: Python, the CLI, batches and plugins all use it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "simhost/signature.hpp"

namespace simhost {

/// Name -> kernel. Thread-safe; kernels are never removed, so returned references stay valid
/// for the life of the process.
class Registry {
 public:
  /// The process-wide registry (empty until the host or module adds the built-in kernels).
  static Registry& global();

  /// Adds a kernel. Throws ArgumentValueError for an invalid name or signature, or a name
  /// that is already registered.
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
