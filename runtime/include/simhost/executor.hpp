// The one thread budget of the process: a single TBB arena that every kernel runs in.
#pragma once

#include <functional>

namespace simhost {

/// The budget used when nothing sets one: SIMHOST_THREADS if set, else the number of CPUs
/// this process may run on. Throws ArgumentValueError when SIMHOST_THREADS is not a
/// positive integer.
int default_threads();

/// The current thread budget (number of TBB threads that run kernels).
int get_threads();

/// Sets the thread budget (1..kMaxThreads). Waits for kernels that are running to finish
/// before the arena is replaced. Throws ArgumentValueError for a bad count.
void set_threads(int threads);

inline constexpr int kMaxThreads = 1024;

/// Runs `task` asynchronously on the process arena (used by start()). `task` must not throw.
/// Throws simhost::Error in a process forked after kernel threads started (oneTBB is not
/// fork-safe), rather than hanging.
void enqueue(std::function<void()> task);

}  // namespace simhost
