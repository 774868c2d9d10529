// The list of built-in kernels.
#include <mutex>

#include "simhost/kernels.hpp"

namespace simhost {

void add_builtin_kernels(Registry& registry) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  for (auto make : {&nbody_kernel, &mc_asian_kernel, &heat2d_kernel, &ising2d_kernel,
                    &ode_batch_kernel}) {
    KernelDef k = make();
    if (!registry.find(k.name)) registry.add(std::move(k));
  }
}

}  // namespace simhost
