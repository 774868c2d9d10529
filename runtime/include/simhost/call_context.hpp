// What a running kernel sees: its arguments, its output buffers, progress and cancellation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "simhost/bind.hpp"
#include "simhost/error.hpp"
#include "simhost/signature.hpp"

namespace simhost {

/// One output buffer of a call: an array allocated by the caller, or a scalar slot.
struct OutputSlot {
  const OutputSpec* spec = nullptr;  // the output's declaration (in the KernelDef)
  ArrayView array;   // Kind::Array: the preallocated buffer, resolved shape
  double scalar = 0; // Kind::Float: the value the kernel set
  bool written = false;  // the kernel asked for the array, or set the scalar
};

/// A duty of the thread that called a kernel and runs it itself (see run_here() in call.hpp),
/// such as running its language's signal handlers: performed from that thread's cancellation
/// checks, at most once per `interval`. The duty must not throw; to stop the kernel it
/// requests cancellation.
class CallerDuty {
 public:
  /// The duty belongs to the constructing thread; the first turn is due after `interval`.
  CallerDuty(std::chrono::nanoseconds interval, std::function<void()> duty)
      : m_interval(interval), m_next(std::chrono::steady_clock::now() + interval),
        m_duty(std::move(duty)) {}

  /// Performs the duty when called on the thread that created this and it is due.
  void on_check() {
    if (std::this_thread::get_id() != m_thread) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < m_next) return;
    m_duty();
    m_next = std::chrono::steady_clock::now() + m_interval;
  }

 private:
  std::thread::id m_thread = std::this_thread::get_id();
  std::chrono::nanoseconds m_interval;
  std::chrono::steady_clock::time_point m_next;  // touched by m_thread only
  std::function<void()> m_duty;
};

/// Cooperative cancellation: set by the supervisor, read by kernels at chunk boundaries.
/// Thread-safe.
class CancelToken {
 public:
  /// Asks the kernel to stop; it does at its next check().
  void request() noexcept { m_requested.store(true, std::memory_order_relaxed); }
  /// True once request() was called.
  bool requested() const noexcept { return m_requested.load(std::memory_order_relaxed); }
  /// Throws Cancelled when cancellation was requested. Gives the caller's duty, if any, its
  /// turn first.
  void check() const {
    if (m_duty) [[unlikely]]
      m_duty->on_check();
    if (requested()) throw Cancelled();
  }
  /// Set before the kernel starts and cleared after it ends, never while it runs.
  void set_duty(CallerDuty* duty) noexcept { m_duty = duty; }

 private:
  std::atomic<bool> m_requested{false};
  CallerDuty* m_duty = nullptr;
};

/// Progress in the kernel's own unit (steps, paths, sweeps). Written by kernels from any
/// worker, read by the supervisor. Thread-safe. Counts saturate at 2^63 - 1 (a kernel whose
/// total does not fit, such as M systems times 2^62 steps, passes 2^63 - 1).
class Progress {
 public:
  /// How many units the whole call does (set once, before the work starts).
  void set_total(std::int64_t total) noexcept { m_total.store(total, std::memory_order_relaxed); }
  /// Adds n >= 0 done.
  void add(std::int64_t n) noexcept {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t done = m_done.load(std::memory_order_relaxed);
    while (!m_done.compare_exchange_weak(done, done > kMax - n ? kMax : done + n,
                                         std::memory_order_relaxed)) {
    }
  }
  /// Units done so far, and the total (0 until set_total()).
  std::int64_t done() const noexcept { return m_done.load(std::memory_order_relaxed); }
  std::int64_t total() const noexcept { return m_total.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> m_done{0};
  std::atomic<std::int64_t> m_total{0};
};

/// What a running kernel sees: its arguments, its outputs, progress and cancellation.
/// Used by one call on TBB workers; the kernel's own parallel loops may read it concurrently.
class CallContext {
 public:
  /// Made by the executor for one call; every reference must outlive the context.
  CallContext(const KernelDef& kernel, const Args& args, std::vector<OutputSlot>& outputs,
              Progress& progress, const CancelToken& cancel) noexcept
      : m_kernel(kernel), m_args(args), m_outputs(outputs), m_progress(progress), m_cancel(cancel) {}

  /// The kernel being run, and its bound (read-only) arguments.
  const KernelDef& kernel() const noexcept { return m_kernel; }
  const Args& args() const noexcept { return m_args; }
  /// The preallocated array output `name`, as elements of type T, which must be its dtype:
  /// throws KernelError naming the kernel, the output and the dtypes wanted and held.
  template <class T>
  std::span<T> output(std::string_view name) {
    ArrayView& a = array_output(name);
    if (a.dtype != dtype_of<std::remove_const_t<T>>()) [[unlikely]]
      throw_output_dtype(name, a.dtype, dtype_of<std::remove_const_t<T>>());
    return a.as<T>();
  }
  /// The preallocated array output `name` (marks it written). Throws KernelError for a name
  /// the signature does not have or a scalar output.
  ArrayView& array_output(std::string_view name);
  /// Sets the scalar output `name`.
  void set_scalar(std::string_view name, double value);
  /// The call's progress counter (thread-safe).
  Progress& progress() noexcept { return m_progress; }
  /// The call's cancellation token.
  const CancelToken& cancel_token() const noexcept { return m_cancel; }
  /// Throws Cancelled when the call was cancelled; kernels call it at chunk boundaries.
  void check_cancelled() const { m_cancel.check(); }

 private:
  OutputSlot& slot(std::string_view name);
  [[noreturn]] void throw_output_dtype(std::string_view name, DType held, DType wanted) const;
  const KernelDef& m_kernel;
  const Args& m_args;
  std::vector<OutputSlot>& m_outputs;
  Progress& m_progress;
  const CancelToken& m_cancel;
};

}  // namespace simhost
