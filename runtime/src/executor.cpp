// The process arena (one thread budget) and asynchronous kernel calls on it.
#include "simhost/executor.hpp"

#include <atomic>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <new>
#include <optional>
#include <thread>

#include <pthread.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include "simhost/call.hpp"
#include "simhost/error.hpp"
#include "simhost/text.hpp"

namespace simhost {

namespace {

constexpr double kMaxDouble = DBL_MAX;

// Counts the threads inside the arena (workers and callers that joined it). Workers stay in
// the arena, holding their slots, for a while after their last task.
class SlotCounter : public tbb::task_scheduler_observer {
 public:
  explicit SlotCounter(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) { observe(true); }
  ~SlotCounter() override { observe(false); }
  SlotCounter(const SlotCounter&) = delete;
  SlotCounter& operator=(const SlotCounter&) = delete;
  int in_use() const noexcept { return m_in_use.load(std::memory_order_acquire); }
  void on_scheduler_entry(bool) override { m_in_use.fetch_add(1, std::memory_order_acq_rel); }
  void on_scheduler_exit(bool) override { m_in_use.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  std::atomic<int> m_in_use{0};
};

struct Pool {
  std::mutex mutex;
  std::condition_variable idle;
  int threads = 0;
  int running = 0;
  bool started = false;        // a kernel has run, so TBB's worker threads exist
  bool forked_child = false;   // this process was forked after they existed
  std::unique_ptr<tbb::global_control> control;
  std::unique_ptr<tbb::task_arena> arena;
  std::unique_ptr<SlotCounter> slots;  // observes `arena`
};

Pool& pool();

// oneTBB is not fork-safe: a child forked after the workers started inherits a scheduler
// whose threads do not exist in it, and a kernel would wait forever. Such a child is told so
// instead. (Forking before any kernel ran is fine.)
void after_fork_in_child() {
  Pool& p = pool();
  new (&p.mutex) std::mutex;  // the parent's lock state means nothing here
  if (p.started) p.forked_child = true;
}

// Deliberately never destroyed: a kernel may still be running on a worker while static
// destructors run at exit, and tearing the arena down under it would be undefined.
Pool& pool() {
  static Pool* p = [] {
    pthread_atfork(nullptr, nullptr, &after_fork_in_child);
    return new Pool;
  }();
  return *p;
}

void check_not_forked(const Pool& p) {
  if (p.forked_child) throw ForkedProcessError();
}

// Kernel calls in progress on this thread: run by it, or started by it and waited for (more
// than one when code run during a call, such as a signal handler, makes another).
thread_local int t_calls_in_progress = 0;

// Requires p.mutex held and no kernel running.
void build_arena(Pool& p, int threads) {
  p.slots.reset();
  p.arena.reset();
  p.control.reset();
  // Kernels run on enqueued tasks that no external thread joins, so the arena reserves no
  // slot for one and needs `threads` workers, which the global limit must therefore allow
  // (it counts an external thread too).
  p.control = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<std::size_t>(threads) + 1);
  p.arena = std::make_unique<tbb::task_arena>(threads, 0);
  p.arena->initialize();
  p.slots = std::make_unique<SlotCounter>(*p.arena);
  p.threads = threads;
}

void ensure_arena(Pool& p) {
  if (!p.arena) build_arena(p, default_threads());
}

}  // namespace

namespace {
[[noreturn]] void throw_bad_threads(std::string_view source, std::string_view text) {
  throw ArgumentValueError(
      fmt::format("{} must be an integer between 1 and {}, got '{}'", source, kMaxThreads, text));
}
}  // namespace

int parse_threads(std::string_view text, std::string_view source) {
  std::int64_t n = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc() || ptr != end || n < 1 || n > kMaxThreads)
    throw_bad_threads(source, text);
  return static_cast<int>(n);
}

int check_threads(std::int64_t threads, std::string_view source) {
  if (threads < 1 || threads > kMaxThreads) throw_bad_threads(source, std::to_string(threads));
  return static_cast<int>(threads);
}

int default_threads() {
  if (const char* env = std::getenv("SIMHOST_THREADS"); env && *env)
    return parse_threads(env, "SIMHOST_THREADS");
  return std::max(1, tbb::info::default_concurrency());
}

int get_threads() {
  Pool& p = pool();
  std::lock_guard lock(p.mutex);
  ensure_arena(p);
  return p.threads;
}

namespace {

// Replaces the arena once no kernel runs, waiting at most `wait` (forever when absent).
bool change_threads(int threads, std::optional<std::chrono::nanoseconds> wait) {
  check_threads(threads, "the thread count");
  if (t_calls_in_progress > 0)
    throw Error(
        "the thread count cannot change while this thread has a kernel call in progress "
        "(set_threads was called from code that runs during a call, such as a signal "
        "handler); change it between calls");
  Pool& p = pool();
  std::unique_lock lock(p.mutex);
  check_not_forked(p);
  if (p.arena && p.threads == threads) return true;
  const auto idle = [&] { return p.running == 0; };
  if (!wait) p.idle.wait(lock, idle);
  else if (!p.idle.wait_for(lock, *wait, idle)) return false;
  build_arena(p, threads);
  return true;
}

}  // namespace

void set_threads(int threads) { change_threads(threads, std::nullopt); }

bool try_set_threads(int threads, std::chrono::nanoseconds wait) {
  return change_threads(threads, wait);
}

namespace {

// Counts a call in as running (p.mutex held); returns the arena it runs on.
tbb::task_arena& admit(Pool& p) {
  p.started = true;
  ++p.running;
  return *p.arena;
}

// Counts a call out, waking set_threads() when it was the last.
void finish(Pool& p) {
  std::lock_guard lock(p.mutex);
  if (--p.running == 0) p.idle.notify_all();
}

}  // namespace

void enqueue(std::function<void()> task) {
  Pool& p = pool();
  std::unique_lock lock(p.mutex);
  check_not_forked(p);
  ensure_arena(p);
  tbb::task_arena& arena = admit(p);
  lock.unlock();
  arena.enqueue([task = std::move(task), &p] {
    {
      CallInProgress mark;
      task();
    }
    finish(p);
  });
}

CallInProgress::CallInProgress() noexcept { ++t_calls_in_progress; }
CallInProgress::~CallInProgress() { --t_calls_in_progress; }

bool execute_here(const std::function<void()>& task) {
  Pool& p = pool();
  std::unique_lock lock(p.mutex);
  check_not_forked(p);
  ensure_arena(p);
  // The arena reserves no slot for callers (so that enqueued calls get the whole budget).
  // A caller that finds no free slot would wait inside execute() until a worker takes its
  // functor, unsupervised, for as long as the workers are busy with other calls. So this
  // thread joins only when no other call runs and a slot is free.
  if (p.running > 0 || p.slots->in_use() >= p.threads) return false;
  tbb::task_arena& arena = admit(p);
  lock.unlock();
  // A worker may still take the last slot first; execute() then hands the functor to that
  // (idle) worker, which must not run the task.
  const std::thread::id caller = std::this_thread::get_id();
  bool ran = false;
  arena.execute([&] {
    if (std::this_thread::get_id() != caller) return;
    ran = true;
    CallInProgress mark;
    task();
  });
  finish(p);
  return ran;
}

// ---- Completions ----

namespace {
struct Completions {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t epoch = 0;
};
Completions& completions() {
  static Completions* c = new Completions;  // never destroyed, like the pool
  return *c;
}
void notify_completion() {
  Completions& c = completions();
  {
    std::lock_guard lock(c.mutex);
    ++c.epoch;
  }
  c.changed.notify_all();
}
}  // namespace

std::uint64_t completion_epoch() noexcept {
  Completions& c = completions();
  std::lock_guard lock(c.mutex);
  return c.epoch;
}

std::uint64_t wait_for_completion(std::uint64_t seen, std::chrono::nanoseconds timeout) {
  Completions& c = completions();
  std::unique_lock lock(c.mutex);
  c.changed.wait_for(lock, timeout, [&] { return c.epoch != seen; });
  return c.epoch;
}

// ---- Calls in progress ----

namespace {
// Every running call, as an intrusive list of stack nodes: registering costs a lock and two
// pointer writes, no allocation, on the ~4 us path of a plain call.
struct LiveNode {
  CancelToken* token;
  LiveNode* prev = nullptr;
  LiveNode* next = nullptr;
};
struct LiveCalls {
  std::mutex mutex;
  LiveNode* head = nullptr;
  bool stopped = false;  // stop_all_calls() was called
};
LiveCalls& live_calls() {
  static LiveCalls* l = new LiveCalls;  // never destroyed, like the pool
  return *l;
}

// Registers a running call's token for stop_all_calls() while alive.
class LiveCall {
 public:
  explicit LiveCall(CancelToken& token) : m_node{&token} {
    LiveCalls& l = live_calls();
    std::lock_guard lock(l.mutex);
    if (l.stopped) token.request();
    m_node.next = l.head;
    if (l.head) l.head->prev = &m_node;
    l.head = &m_node;
  }
  ~LiveCall() {
    LiveCalls& l = live_calls();
    std::lock_guard lock(l.mutex);
    if (m_node.prev) m_node.prev->next = m_node.next;
    else l.head = m_node.next;
    if (m_node.next) m_node.next->prev = m_node.prev;
  }
  LiveCall(const LiveCall&) = delete;
  LiveCall& operator=(const LiveCall&) = delete;

 private:
  LiveNode m_node;
};

// The flat index of the first NaN or inf among n doubles, or -1. Parallel on the arena the
// call runs in; the answer does not depend on the split.
std::int64_t first_non_finite(const double* x, std::int64_t n) {
  constexpr std::int64_t kGrain = 1 << 15;
  const auto scan = [x](std::int64_t lo, std::int64_t hi) -> std::int64_t {
    bool bad = false;  // branch-free first; it vectorises
    for (std::int64_t i = lo; i < hi; ++i) bad |= !(std::abs(x[i]) <= kMaxDouble);
    if (bad)
      for (std::int64_t i = lo; i < hi; ++i)
        if (!std::isfinite(x[i])) return i;
    return -1;
  };
  if (n <= kGrain) return scan(0, n);  // small outputs: no parallel loop to start
  return tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0, n, kGrain), std::int64_t{-1},
      [&scan](const tbb::blocked_range<std::int64_t>& r, std::int64_t found) {
        if (found >= 0 && found < r.begin()) return found;
        const std::int64_t i = scan(r.begin(), r.end());
        return i < 0 ? found : found >= 0 ? std::min(found, i) : i;
      },
      [](std::int64_t a, std::int64_t b) { return a < 0 ? b : b < 0 ? a : std::min(a, b); });
}

// Throws KernelError naming the first output that holds NaN or inf where it promises not to.
void check_finite_outputs(const KernelDef& kernel, const std::vector<OutputSlot>& outputs) {
  for (const auto& s : outputs) {
    if (!s.spec->finite) continue;
    double value = 0;
    std::string where;
    if (s.spec->kind == Kind::Float) {
      if (std::isfinite(s.scalar)) continue;
      value = s.scalar;
    } else if (s.spec->kind == Kind::Array && s.array.dtype == DType::Float64) {
      const double* x = s.array.as<const double>().data();
      const std::int64_t i = first_non_finite(x, s.array.size());
      if (i < 0) continue;
      value = x[i];
      where = " at index " + index_text(i, s.array.shape);
    } else {
      continue;
    }
    throw KernelError(fmt::format(
        "{}(): output '{}' is {}{}: the simulation left the range of float64 (overflow or an "
        "instability) for these inputs; check their scale, the time step and the coupling "
        "constants",
        kernel.name, s.spec->name, number_text(value), where));
  }
}
}  // namespace

void stop_all_calls() noexcept {
  LiveCalls& l = live_calls();
  std::lock_guard lock(l.mutex);
  l.stopped = true;
  for (LiveNode* n = l.head; n; n = n->next) n->token->request();
}

bool all_calls_stopped() noexcept {
  LiveCalls& l = live_calls();
  std::lock_guard lock(l.mutex);
  return l.stopped;
}

// ---- Call ----

Call::Call(const KernelDef& kernel, Args args) : m_kernel(kernel), m_args(std::move(args)) {}

const OutputSlot& Call::output(std::string_view name) const {
  for (const auto& s : m_outputs)
    if (s.spec->name == name) return s;
  throw KernelError(fmt::format("{}() has no output '{}'", m_kernel.name, name));
}

bool Call::done() const {
  std::lock_guard lock(m_mutex);
  return m_done;
}

bool Call::wait_for(std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(m_mutex);
  return m_cv.wait_for(lock, timeout, [&] { return m_done; });
}

void Call::wait() const {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return m_done; });
}

void Call::rethrow_if_failed() const {
  std::lock_guard lock(m_mutex);
  if (m_error) std::rethrow_exception(m_error);
}

double Call::seconds() const {
  std::lock_guard lock(m_mutex);
  return m_seconds;
}

void Call::execute() noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  std::exception_ptr error;
  try {
    LiveCall live(m_cancel);
    m_cancel.check();
    CallContext ctx(m_kernel, m_args, m_outputs, m_progress, m_cancel);
    m_kernel.run(ctx);
    for (const auto& s : m_outputs)
      if (!s.written && s.spec->kind == Kind::Float)
        throw KernelError(fmt::format("{}(): the kernel finished without setting output '{}'",
                                      m_kernel.name, s.spec->name));
    check_finite_outputs(m_kernel, m_outputs);
  } catch (const Cancelled&) {
    error = std::current_exception();
  } catch (const ArgumentTypeError&) {
    error = std::current_exception();
  } catch (const ArgumentValueError&) {
    error = std::current_exception();
  } catch (const KernelError&) {
    error = std::current_exception();
  } catch (const std::bad_alloc&) {
    error = std::current_exception();
  } catch (const std::exception& e) {
    error = std::make_exception_ptr(KernelError(fmt::format("{}(): {}", m_kernel.name, e.what())));
  } catch (...) {
    error = std::make_exception_ptr(
        KernelError(fmt::format("{}(): the kernel failed with an unknown exception", m_kernel.name)));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard lock(m_mutex);
    m_seconds = seconds;
    m_error = error;
    m_done = true;
    m_cv.notify_all();
  }
  notify_completion();
}

namespace {

// Outputs this small are allocated without asking how much memory the machine has.
constexpr std::uint64_t kAskAbove = std::uint64_t{1} << 30;

// The most memory a call's outputs can have: the machine's RAM plus swap (Linux refuses a
// single allocation beyond that under its default overcommit policy), or the process's
// address-space or data-segment limit when one is set lower. `source` says which.
std::uint64_t allocatable_bytes(std::string* source) {
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  *source = "its memory";
  struct sysinfo info {};
  if (sysinfo(&info) == 0) {
    limit = (static_cast<std::uint64_t>(info.totalram) + info.totalswap) * info.mem_unit;
    *source = "its RAM and swap";
  }
  for (const auto& [resource, name] :
       {std::pair{RLIMIT_AS, "the process's address-space limit"},
        std::pair{RLIMIT_DATA, "the process's data-segment limit"}}) {
    struct rlimit rl {};
    if (getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit) {
      limit = rl.rlim_cur;
      *source = name;
    }
  }
  return limit;
}

// "16.0 GiB", "100 bytes".
std::string human_bytes(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) value /= 1024, ++unit;
  return unit == 0 ? fmt::format("{} bytes", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

// "17179869184 bytes (16.0 GiB)", "100 bytes".
std::string bytes_text(std::uint64_t bytes) {
  return bytes < 1024 ? fmt::format("{} bytes", bytes)
                      : fmt::format("{} bytes ({})", bytes, human_bytes(bytes));
}

// The outputs that take a noticeable share (1% or more) of `total`, named for the message:
// "output 'energy'" or "outputs 'magnetization' (8 bytes) and 'energy' (8 bytes)"; `largest`
// receives the largest of them.
std::string outputs_text(const KernelDef& k, const std::vector<std::uint64_t>& bytes,
                         std::uint64_t total, std::size_t* largest) {
  std::vector<std::size_t> named;
  *largest = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] > bytes[*largest]) *largest = i;
    if (bytes[i] > 0 && bytes[i] >= total / 100) named.push_back(i);
  }
  if (named.size() == 1) return fmt::format("output '{}'", k.outputs[named[0]].name);
  std::string out = "outputs ";
  for (std::size_t j = 0; j < named.size(); ++j) {
    if (j > 0) out += j + 1 == named.size() ? " and " : ", ";
    out += fmt::format("'{}' ({} bytes)", k.outputs[named[j]].name, bytes[named[j]]);
  }
  return out;
}

}  // namespace

std::shared_ptr<Call> prepare_call(const KernelDef& kernel,
                                   std::vector<std::pair<std::string, Value>> given,
                                   const OutputAllocator* alloc) {
  auto call = std::make_shared<Call>(kernel, bind(kernel, std::move(given)));
  const Args& args = call->m_args;
  if (kernel.check) kernel.check(args);
  // Every shape first (an impossible one is a ValueError), then whether the machine can hold
  // them all (a MemoryError otherwise), and only then any allocation.
  std::vector<std::vector<std::int64_t>> shapes(kernel.outputs.size());
  std::vector<std::uint64_t> bytes(kernel.outputs.size(), 0);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kernel.outputs.size(); ++i) {
    const OutputSpec& spec = kernel.outputs[i];
    if (spec.kind != Kind::Array) continue;
    shapes[i] = output_shape(spec, args);  // at most 2^63 - 1 bytes each
    bytes[i] = ArrayView{nullptr, spec.dtype, shapes[i]}.bytes();
    if (__builtin_add_overflow(total, bytes[i], &total))
      total = std::numeric_limits<std::uint64_t>::max();
  }
  if (total > kAskAbove) {
    std::string source;
    const std::uint64_t limit = allocatable_bytes(&source);
    if (total > limit) {
      std::size_t largest = 0;
      const std::string outputs = outputs_text(kernel, bytes, total, &largest);
      const std::string by = sized_by_text(kernel.outputs[largest], args);
      throw AllocationError(fmt::format(
          "{}(): {}would need {} for {}, more than can be allocated on this machine ({} of {})",
          kernel.name, by.empty() ? "" : by + " ", bytes_text(total), outputs, human_bytes(limit),
          source));
    }
  }
  for (std::size_t i = 0; i < kernel.outputs.size(); ++i) {
    const OutputSpec& spec = kernel.outputs[i];
    OutputSlot slot;
    slot.spec = &spec;
    if (spec.kind == Kind::Array) {
      slot.array.dtype = spec.dtype;
      slot.array.shape = std::move(shapes[i]);
      try {
        if (alloc) {
          slot.array.data = (*alloc)(spec, slot.array.shape);
        } else {
          auto buffer = std::make_unique<std::byte[]>(std::max<std::size_t>(bytes[i], 1));
          slot.array.data = buffer.get();
          call->m_owned.push_back(std::move(buffer));
        }
        if (!slot.array.data && bytes[i] > 0) throw std::bad_alloc();
      } catch (const std::bad_alloc&) {
        const std::string by = sized_by_text(spec, args);
        throw AllocationError(fmt::format("{}(): {}needs {} for output '{}', which could not be "
                                          "allocated",
                                          kernel.name, by.empty() ? "" : by + " ",
                                          bytes_text(bytes[i]), spec.name));
      }
    }
    call->m_outputs.push_back(std::move(slot));
  }
  return call;
}

void start(const std::shared_ptr<Call>& call) {
  enqueue([call] { call->execute(); });
}

bool run_here(const std::shared_ptr<Call>& call, CallerDuty* duty) {
  return execute_here([&] {
    call->m_cancel.set_duty(duty);
    call->execute();
    call->m_cancel.set_duty(nullptr);
  });
}

void run_nested(const std::shared_ptr<Call>& call) {
  tbb::this_task_arena::isolate([&] { call->execute(); });
}

std::shared_ptr<Call> run_call(const KernelDef& kernel,
                               std::vector<std::pair<std::string, Value>> given) {
  auto call = prepare_call(kernel, std::move(given));
  if (!run_here(call)) {
    CallInProgress waiting;
    start(call);
    call->wait();
  }
  call->rethrow_if_failed();
  return call;
}

}  // namespace simhost
