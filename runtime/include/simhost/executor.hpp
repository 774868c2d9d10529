// The one thread budget of the process: a single TBB arena that every kernel runs in.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace simhost {

/// The largest thread budget.
inline constexpr int kMaxThreads = 1024;

/// The one parser of a thread budget given as text (a `--threads` value, SIMHOST_THREADS):
/// a decimal integer in [1, kMaxThreads], nothing else (no sign, no spaces). `source` names
/// where the text came from. Throws ArgumentValueError "<source> must be an integer between
/// 1 and 1024, got '<text>'".
int parse_threads(std::string_view text, std::string_view source);

/// The one range check of a thread budget given as a number: returns it when in
/// [1, kMaxThreads], else throws ArgumentValueError worded as parse_threads() words it.
int check_threads(std::int64_t threads, std::string_view source);

/// The budget used when nothing sets one: SIMHOST_THREADS if set (through parse_threads()),
/// else the number of CPUs this process may run on. Throws ArgumentValueError for a bad
/// SIMHOST_THREADS.
int default_threads();

/// The current thread budget (number of TBB threads that run kernels).
int get_threads();

/// Sets the thread budget (1..kMaxThreads). Waits for kernels that are running to finish
/// before the arena is replaced. Throws ArgumentValueError for a bad count (check_threads(),
/// naming "the thread count"), and Error on a thread with a call in progress (see
/// CallInProgress), which would wait for that call.
void set_threads(int threads);

/// Like set_threads(), but waits at most `wait` for running kernels; returns false, having
/// changed nothing, when some still run then. Lets a front end stay responsive (Ctrl-C)
/// while it waits, by calling this in a loop.
bool try_set_threads(int threads, std::chrono::nanoseconds wait);

/// While alive, marks the calling thread as having a kernel call in progress: running it, or
/// waiting for a call it started. set_threads() refuses on such a thread (code run during a
/// call, such as a signal handler, would otherwise wait for that call to end). Kernels
/// running on the arena are marked already; callers that wait for a call mark themselves.
class CallInProgress {
 public:
  CallInProgress() noexcept;
  ~CallInProgress();
  CallInProgress(const CallInProgress&) = delete;
  CallInProgress& operator=(const CallInProgress&) = delete;
};

/// Runs `task` asynchronously on the process arena (used by start()). `task` must not throw.
/// Throws ForkedProcessError in a process forked after kernel threads started (oneTBB is not
/// fork-safe), rather than hanging.
void enqueue(std::function<void()> task);

/// Runs `task` on the calling thread inside the process arena and returns true, or returns
/// false without running it when the arena has no free slot for this thread (used by
/// run_here()). `task` must not throw. Throws like enqueue() in a forked process.
bool execute_here(const std::function<void()>& task);

}  // namespace simhost
