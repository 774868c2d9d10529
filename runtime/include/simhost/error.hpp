// The one exception hierarchy of simhost's C++ code (translated once, in scripting/).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace simhost {

/// Base of every error simhost throws. Messages name the kernel, the parameter, what was
/// expected and what was given.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// No kernel of that name is registered. Python: simhost.UnknownKernelError (a LookupError).
class UnknownKernelError : public Error {
 public:
  UnknownKernelError(std::string name, std::vector<std::string> close_matches);
  const std::string& name() const noexcept { return m_name; }
  const std::vector<std::string>& close_matches() const noexcept { return m_close; }

 private:
  std::string m_name;
  std::vector<std::string> m_close;
};

/// Wrong argument kind: unknown or missing parameter, wrong type or dtype. Python: TypeError.
class ArgumentTypeError : public Error {
 public:
  using Error::Error;
};

/// Right kind, unusable value: bad shape, out of bounds, NaN/inf, unknown choice.
/// Python: ValueError.
class ArgumentValueError : public Error {
 public:
  using Error::Error;
};

/// A kernel failed while running. Python: simhost.KernelError.
class KernelError : public Error {
 public:
  using Error::Error;
};

/// The call was cancelled through its token (Ctrl-C, timeout, Future.cancel()).
class Cancelled : public Error {
 public:
  Cancelled() : Error("the kernel call was cancelled") {}
};

}  // namespace simhost
