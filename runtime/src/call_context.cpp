// The call context: a running kernel's access to its outputs.
#include "simhost/call_context.hpp"

#include <fmt/format.h>

namespace simhost {

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

void CallContext::throw_output_dtype(std::string_view name, DType held, DType wanted) const {
  throw KernelError(fmt::format("{}(): output '{}' is a {} array, read as {} elements",
                                m_kernel.name, name, dtype_name(held), dtype_name(wanted)));
}

void CallContext::set_scalar(std::string_view name, double value) {
  OutputSlot& s = slot(name);
  if (s.spec->kind != Kind::Float)
    throw KernelError(fmt::format("{}(): output '{}' is an array, not a scalar", m_kernel.name, name));
  s.scalar = value;
  s.written = true;
}

}  // namespace simhost
