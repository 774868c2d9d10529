// The one exception hierarchy of simhost's C++ code (translated once, in scripting/).
#pragma once

#include <new>
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

/// A parameter name the kernel does not have. what() is the core's neutral text
/// ("nbody(): unexpected parameter 'stesp'; did you mean 'steps'?"); a front end words it
/// its own way from the parts (Python: "... got an unexpected keyword argument ...").
class UnexpectedParameterError : public ArgumentTypeError {
 public:
  /// `hint`: what to say next, "did you mean 'steps'?" or "its parameters are ...".
  UnexpectedParameterError(std::string kernel, std::string name, std::string hint);
  const std::string& kernel() const noexcept { return m_kernel; }
  const std::string& name() const noexcept { return m_name; }
  const std::string& hint() const noexcept { return m_hint; }

 private:
  std::string m_kernel, m_name, m_hint;
};

/// Required parameters left out. what() is neutral ("nbody(): missing 2 required parameters:
/// 'pos' and 'dt'"); a front end words it its own way from the parts.
class MissingParametersError : public ArgumentTypeError {
 public:
  MissingParametersError(std::string kernel, std::vector<std::string> names);
  const std::string& kernel() const noexcept { return m_kernel; }
  /// The missing parameters, in the kernel's parameter order.
  const std::vector<std::string>& names() const noexcept { return m_names; }

 private:
  std::string m_kernel;
  std::vector<std::string> m_names;
};

/// Right kind, unusable value: bad shape, out of bounds, NaN/inf, unknown choice.
/// Python: ValueError.
class ArgumentValueError : public Error {
 public:
  using Error::Error;
};

/// A size computed from arguments (by size_add() or size_mul()) exceeds 2^63 - 1.
/// output_shape() turns it into the ArgumentValueError that names the output.
class SizeOverflow : public ArgumentValueError {
 public:
  SizeOverflow() : ArgumentValueError("a size exceeds 2^63 - 1") {}
};

/// Memory for a call's outputs cannot be had: more than the machine has (checked before
/// anything is allocated), or an allocation failed. A std::bad_alloc, so Python sees a
/// MemoryError; the message names the kernel, the parameters and the outputs.
class AllocationError : public std::bad_alloc {
 public:
  explicit AllocationError(std::string message) : m_message(std::move(message)) {}
  const char* what() const noexcept override { return m_message.c_str(); }

 private:
  std::string m_message;
};

/// A kernel failed while running. Python: simhost.KernelError.
class KernelError : public Error {
 public:
  using Error::Error;
};

/// A batch cannot start or go on: its folder is locked by another batch, holds another batch
/// (or one to resume without saying so), or its store cannot be written. Python:
/// simhost.BatchError (a RuntimeError).
class BatchError : public Error {
 public:
  using Error::Error;
};

/// Kernels cannot run in this process: it was forked from one whose kernel threads had
/// started (oneTBB is not fork-safe). what() says so; a front end adds how its users start
/// processes instead (Python: multiprocessing's start methods). Python: simhost.KernelError.
class ForkedProcessError : public Error {
 public:
  ForkedProcessError();
};

/// The call was cancelled through its token (Ctrl-C, timeout, Future.cancel()).
class Cancelled : public Error {
 public:
  Cancelled() : Error("the kernel call was cancelled") {}
};

}  // namespace simhost
