// One kernel call: binding, output allocation, asynchronous execution and its outcome.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "simhost/bind.hpp"
#include "simhost/call_context.hpp"
#include "simhost/signature.hpp"

namespace simhost {

/// Allocates the memory of one array output (called on the preparing thread, before the
/// kernel starts). Returns a pointer to shape-many elements of out.dtype; must not return
/// null for a non-empty shape (throw std::bad_alloc instead).
using OutputAllocator =
    std::function<void*(const OutputSpec& out, const std::vector<std::int64_t>& shape)>;

/// A prepared kernel call and, once started, its progress and outcome. Shared between the
/// thread that waits for it and the TBB worker that runs it; all members are thread-safe.
class Call {
 public:
  Call(const KernelDef& kernel, Args args);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  const KernelDef& kernel() const noexcept { return m_kernel; }
  const Args& args() const noexcept { return m_args; }
  /// The outputs; read them only after the call is done.
  std::vector<OutputSlot>& outputs() noexcept { return m_outputs; }
  const OutputSlot& output(std::string_view name) const;
  Progress& progress() noexcept { return m_progress; }

  /// Asks the running kernel to stop at its next chunk boundary.
  void cancel() noexcept { m_cancel.request(); }
  bool cancel_requested() const noexcept { return m_cancel.requested(); }

  /// True when the kernel has finished (successfully, with an error, or cancelled).
  bool done() const;
  /// Waits up to `timeout`; true when done.
  bool wait_for(std::chrono::nanoseconds timeout) const;
  void wait() const;
  /// After done(): rethrows what the kernel threw (Cancelled, KernelError, ...), if anything.
  void rethrow_if_failed() const;
  /// Wall time of the kernel itself, in seconds (valid after done()).
  double seconds() const;

 private:
  friend std::shared_ptr<Call> prepare_call(const KernelDef&,
                                            std::vector<std::pair<std::string, Value>>,
                                            const OutputAllocator*);
  friend void start(const std::shared_ptr<Call>&);
  friend bool run_here(const std::shared_ptr<Call>&, CallerDuty*);
  friend void run_nested(const std::shared_ptr<Call>&);
  void execute() noexcept;

  const KernelDef& m_kernel;
  Args m_args;
  std::vector<OutputSlot> m_outputs;
  std::vector<std::unique_ptr<std::byte[]>> m_owned;  // outputs without an allocator
  Progress m_progress;
  CancelToken m_cancel;

  mutable std::mutex m_mutex;
  mutable std::condition_variable m_cv;
  bool m_done = false;
  std::exception_ptr m_error;
  double m_seconds = 0;
};

/// Binds `given` to the kernel's signature and allocates its outputs with `alloc` (or on
/// the heap, owned by the Call, when alloc is null). Throws the binding errors of bind(), the
/// kernel's check, output_shape()'s ArgumentValueError for an output no array can hold
/// (over 2^63 - 1 bytes), and AllocationError (a std::bad_alloc) when the outputs together
/// need more than the machine's RAM plus swap (or the process's memory limit), checked
/// before anything is allocated, or when an allocation fails. Messages name the kernel,
/// the parameters the sizes come from and the outputs.
std::shared_ptr<Call> prepare_call(const KernelDef& kernel,
                                   std::vector<std::pair<std::string, Value>> given,
                                   const OutputAllocator* alloc = nullptr);

/// Starts a prepared call on the process arena and returns at once. The caller must keep the
/// inputs' memory alive until the call is done.
void start(const std::shared_ptr<Call>& call);

/// Runs a prepared call to its end on the calling thread, which joins the process arena for
/// it (the kernel's parallel loops use the arena's other threads as usual), and returns true.
/// This avoids handing the call to a worker and waiting for it (tens of microseconds). When
/// the arena has no free slot for this thread (its threads are busy, or still hold their
/// slots just after other work), nothing runs and it returns false: start() the call
/// instead. `duty`, if given, is performed from the kernel's cancellation checks on this
/// thread while it runs (see CallerDuty). Throws like start() when kernels cannot run here.
bool run_here(const std::shared_ptr<Call>& call, CallerDuty* duty = nullptr);

/// Runs a prepared call to its end on the calling thread, which must already be a thread of the
/// process arena (inside a task started with enqueue(), such as a batch's lane). While the
/// kernel's parallel loops wait, this thread runs only that call's work (tbb isolation), never
/// another task of the arena, which would nest inside it.
void run_nested(const std::shared_ptr<Call>& call);

/// Cancels every call in progress and every call started from now on, for good: what a
/// process does when it is interrupted while other threads are inside kernels, so that they
/// end at their next chunk boundary instead of running to the end. Thread-safe.
void stop_all_calls() noexcept;

/// True once stop_all_calls() was called (a front end tells such a cancellation apart from
/// one it asked for).
bool all_calls_stopped() noexcept;

/// A counter that goes up each time any call in the process finishes.
std::uint64_t completion_epoch() noexcept;

/// Waits until the completion counter differs from `seen` or `timeout` passes; returns the
/// counter. Lets one thread watch many calls without a thread per call.
std::uint64_t wait_for_completion(std::uint64_t seen, std::chrono::nanoseconds timeout);

/// Prepares and runs on this thread (or, when the arena is full, on a worker, waiting for it);
/// rethrows the kernel's error. For C++ callers and tests.
std::shared_ptr<Call> run_call(const KernelDef& kernel,
                               std::vector<std::pair<std::string, Value>> given);

}  // namespace simhost
