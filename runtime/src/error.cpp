// Error types whose messages are composed from their parts.
#include "simhost/error.hpp"

#include "simhost/text.hpp"

namespace simhost {

namespace {
std::string unknown_kernel_message(const std::string& name, const std::vector<std::string>& close) {
  std::string msg = "unknown kernel '" + name + "'";
  if (!close.empty()) msg += "; did you mean " + quoted_list(close) + "?";
  else msg += "; no registered kernel has a similar name";
  return msg;
}
}  // namespace

UnknownKernelError::UnknownKernelError(std::string name, std::vector<std::string> close_matches)
    : Error(unknown_kernel_message(name, close_matches)),
      m_name(std::move(name)),
      m_close(std::move(close_matches)) {}

}  // namespace simhost
