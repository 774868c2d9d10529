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

UnexpectedParameterError::UnexpectedParameterError(std::string kernel, std::string name,
                                                   std::string hint)
    : ArgumentTypeError(kernel + "(): unexpected parameter '" + name + "'; " + hint),
      m_kernel(std::move(kernel)),
      m_name(std::move(name)),
      m_hint(std::move(hint)) {}

MissingParametersError::MissingParametersError(std::string kernel, std::vector<std::string> names)
    : ArgumentTypeError(kernel + "(): missing " + std::to_string(names.size()) + " required " +
                        (names.size() == 1 ? "parameter: " : "parameters: ") +
                        quoted_list(names, " and ")),
      m_kernel(std::move(kernel)),
      m_names(std::move(names)) {}

ForkedProcessError::ForkedProcessError()
    : Error(
          "simhost kernels cannot run in a process forked from one whose kernel threads had "
          "started (oneTBB is not fork-safe)") {}

UnknownKernelError::UnknownKernelError(std::string name, std::vector<std::string> close_matches)
    : Error(unknown_kernel_message(name, close_matches)),
      m_name(std::move(name)),
      m_close(std::move(close_matches)) {}

}  // namespace simhost
