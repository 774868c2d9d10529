// The batch engine: lanes on the process arena, the writer thread, the supervising loop, and
// the coordinator / worker roles of MPI ranks.
#include "simhost/batch.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <pthread.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <tuple>

#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/npy.hpp"

namespace simhost {

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<BatchTransport>& transport_slot() {
  static std::unique_ptr<BatchTransport> t;
  return t;
}

// Message tags between ranks.
enum Tag : int { kHello = 1, kAssign = 2, kResult = 3, kStop = 4 };

// A group of runs is committed this long after its first row at the latest.
constexpr auto kGroupWindow = std::chrono::milliseconds(50);
// Inside a group the writer takes the queue at most this often, whatever arrives meanwhile:
// a wake-up per run would cost more than writing the run.
constexpr auto kWriterPoll = std::chrono::milliseconds(5);

// The writer: the one thread that writes the store.
class Writer {
 public:
  Writer(BatchStore& store, const BatchSpec& spec) : m_store(store), m_spec(spec) {
    m_thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "simhost-writer");  // as top -H and perf show it
      loop();
    });
  }
  ~Writer() { close(); }

  void push(RunResult r) {
    bool wake;
    {
      std::lock_guard lock(m_mutex);
      m_queue.push_back(std::move(r));
      wake = m_idle;
    }
    if (wake) m_cv.notify_one();
  }
  // Writes and commits what is queued, then stops; rethrows the writer's error.
  void close() {
    if (!m_thread.joinable()) return;
    {
      std::lock_guard lock(m_mutex);
      m_closing = true;
    }
    m_cv.notify_one();
    m_thread.join();
  }
  void rethrow_if_failed() {
    std::lock_guard lock(m_mutex);
    if (m_error) std::rethrow_exception(m_error);
  }
  bool failed() {
    std::lock_guard lock(m_mutex);
    return m_error != nullptr;
  }
  std::int64_t done() const noexcept { return m_done.load(std::memory_order_acquire); }
  std::int64_t failed_runs() const noexcept { return m_failed.load(std::memory_order_acquire); }
  std::vector<std::pair<std::string, std::string>> failures() {
    std::lock_guard lock(m_mutex);
    return m_failures;
  }

 private:
  void loop() {
    std::deque<RunResult> batch;
    bool group_open = false;
    Clock::time_point group_start;
    std::int64_t group_done = 0, group_failed = 0;
    std::vector<std::pair<std::string, std::string>> group_failures;
    try {
      for (;;) {
        bool closing;
        {
          std::unique_lock lock(m_mutex);
          if (group_open) {
            const auto until = std::min(group_start + kGroupWindow, Clock::now() + kWriterPoll);
            m_cv.wait_until(lock, until, [&] { return m_closing; });
          } else {
            m_idle = true;
            m_cv.wait(lock, [&] { return !m_queue.empty() || m_closing; });
            m_idle = false;
          }
          batch.swap(m_queue);
          closing = m_closing;
        }
        for (auto& r : batch) {
          if (!group_open) {
            group_open = true;
            group_start = Clock::now();
          }
          m_store.write(r);
          if (r.ok) ++group_done;
          else {
            ++group_failed;
            group_failures.emplace_back(m_spec.runs[static_cast<std::size_t>(r.index)].id, r.error);
          }
        }
        batch.clear();
        if (group_open && (closing || Clock::now() - group_start >= kGroupWindow)) {
          m_store.commit();
          group_open = false;
          m_done.fetch_add(group_done, std::memory_order_acq_rel);
          m_failed.fetch_add(group_failed, std::memory_order_acq_rel);
          group_done = group_failed = 0;
          std::lock_guard lock(m_mutex);
          for (auto& f : group_failures) m_failures.push_back(std::move(f));
          group_failures.clear();
        }
        if (closing) {
          std::lock_guard lock(m_mutex);
          if (m_queue.empty()) break;
        }
      }
    } catch (...) {
      std::lock_guard lock(m_mutex);
      m_error = std::current_exception();
    }
  }

  BatchStore& m_store;
  const BatchSpec& m_spec;
  std::thread m_thread;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<RunResult> m_queue;
  bool m_idle = false;  // waiting for a group's first run: push() wakes it
  bool m_closing = false;
  std::exception_ptr m_error;
  std::atomic<std::int64_t> m_done{0}, m_failed{0};
  std::vector<std::pair<std::string, std::string>> m_failures;
};

// A run on its way through this process.
struct Work {
  std::int64_t index = 0;
  int attempts = 0;
  std::shared_ptr<OwnedArgs> setup;  // the setup hook's values
};

// A run whose kernel finished and whose reduce hook is still to run.
struct Reducing {
  Work work;
  std::shared_ptr<Call> call;
  double seconds = 0;
};

struct Running {
  std::shared_ptr<Call> call;
  Clock::time_point deadline;
  bool timed_out = false;
};

std::string append_i64(std::string s, std::int64_t v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

class Engine {
 public:
  Engine(const BatchSpec& spec, const BatchOptions& options, BatchHooks& hooks,
         BatchTransport* transport)
      : m_spec(spec), m_options(options), m_hooks(hooks), m_transport(transport),
        m_jobs(options.jobs > 0 ? options.jobs : default_jobs()),
        m_front_end(!spec.kernel->front_end.empty()) {}

  BatchSummary run();

 private:
  int rank() const { return m_transport ? m_transport->rank() : 0; }
  int ranks() const { return m_transport ? m_transport->size() : 1; }
  // Runs accepted ahead of the lanes. With a hook (Python, on the calling thread: a setup's
  // arrays, or a finished kernel's outputs waiting for the reduce hook, are held meanwhile)
  // or several ranks (a deep queue on one rank would leave the others idle at the end) 2 per
  // job; otherwise a waiting run is an index, and a deeper queue lets the lanes go on
  // without waking the calling thread for each run.
  bool shallow() const { return m_spec.setup || m_spec.reduce || ranks() > 1; }
  std::int64_t ahead() const {
    return (shallow() ? 2 : kDeepAhead) * static_cast<std::int64_t>(m_jobs);
  }
  // The calling thread refills the queue once this few runs are in flight.
  std::int64_t refill_at() const { return shallow() ? ahead() - 1 : ahead() / 2; }
  static constexpr std::int64_t kDeepAhead = 64;

  // ---- local runs ----
  void add_local(std::int64_t index);
  void spawn_lanes();  // requires m_mutex
  void lane() noexcept;
  void execute(Work w);
  void finish_local(RunResult r);
  void encode_outputs(const Call& call, RunResult& r) const;
  void reduce_pending();
  void run_front_end(std::int64_t index);
  void check_timeouts();
  void stop_local();
  void sink(RunResult r);

  // ---- ranks ----
  void coordinate_messages();
  void assign(int to);
  void work_messages();

  void report(bool final);

  const BatchSpec& m_spec;
  const BatchOptions& m_options;
  BatchHooks& m_hooks;
  BatchTransport* m_transport;
  const int m_jobs;
  const bool m_front_end;
  Writer* m_writer = nullptr;  // rank 0

  std::mutex m_mutex;
  std::condition_variable m_cv;  // the supervising thread waits on it
  std::deque<Work> m_ready;
  int m_lanes = 0;
  std::int64_t m_local_in_flight = 0;  // accepted here, not yet handed to the sink
  std::deque<Reducing> m_reducing;
  std::deque<RunResult> m_outbox;  // worker ranks: results to send to rank 0
  std::list<Running> m_running;
  bool m_stopping = false;
  std::exception_ptr m_lane_error;

  // rank 0
  std::vector<std::int64_t> m_todo;
  std::size_t m_next = 0;
  std::vector<int> m_rank_capacity, m_rank_in_flight;
  std::vector<bool> m_rank_hello, m_rank_stopped;
  // worker ranks
  bool m_stop_received = false;

  Clock::time_point m_started = Clock::now(), m_last_report;
  std::int64_t m_done_before = 0, m_failed_before = 0;
};

void Engine::sink(RunResult r) {
  if (m_writer) {
    m_writer->push(std::move(r));
  } else {
    std::lock_guard lock(m_mutex);
    m_outbox.push_back(std::move(r));
  }
}

void Engine::finish_local(RunResult r) {
  sink(std::move(r));
  bool wake;
  {
    std::lock_guard lock(m_mutex);
    --m_local_in_flight;
    wake = m_local_in_flight <= refill_at();  // with several ranks: always
  }
  if (wake) m_cv.notify_all();
}

void Engine::add_local(std::int64_t index) {
  Work w;
  w.index = index;
  if (m_spec.setup) {
    const BatchRun& run = m_spec.runs[static_cast<std::size_t>(index)];
    const auto t0 = Clock::now();
    try {
      w.setup = std::make_shared<OwnedArgs>(m_hooks.setup(run));
    } catch (const Cancelled&) {
      return;  // the batch is stopping: the run stays pending
    } catch (const std::exception& e) {
      RunResult r;
      r.index = index;
      r.attempts = 1;
      r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      r.error = e.what();
      sink(std::move(r));
      return;
    }
  }
  std::lock_guard lock(m_mutex);
  ++m_local_in_flight;
  m_ready.push_back(std::move(w));
  spawn_lanes();
}

void Engine::spawn_lanes() {
  while (!m_stopping && m_lanes < m_jobs && m_lanes < static_cast<int>(m_ready.size())) {
    ++m_lanes;
    enqueue([this] { lane(); });
  }
}

void Engine::lane() noexcept {
  for (;;) {
    Work w;
    {
      // The lane ends in the same critical section that finds no work, so that work added
      // meanwhile is never left without a lane (spawn_lanes() counts this one until then).
      std::lock_guard lock(m_mutex);
      if (m_ready.empty() || m_stopping || m_lane_error) {
        --m_lanes;
        // Under the lock: once it is released, stop_local() may see no lane and the engine
        // go away, so nothing of it may be touched after (not even its condition variable).
        m_cv.notify_all();
        break;
      }
      w = std::move(m_ready.front());
      m_ready.pop_front();
    }
    try {
      execute(std::move(w));
    } catch (...) {
      std::lock_guard lock(m_mutex);
      if (!m_lane_error) m_lane_error = std::current_exception();
    }
  }
}

void Engine::encode_outputs(const Call& call, RunResult& r) const {
  for (const auto& name : m_spec.outputs) {
    const OutputSlot& slot = call.output(name);
    if (slot.spec->kind == Kind::Array)
      r.outputs.push_back({name, npy_encode(slot.array.data, slot.array.dtype, slot.array.shape)});
    else
      r.outputs.push_back({name, npy_encode(&slot.scalar, DType::Float64, {})});
  }
}

void Engine::execute(Work w) {
  const BatchRun& run = m_spec.runs[static_cast<std::size_t>(w.index)];
  auto params = run.params;
  if (w.setup)
    for (const auto& [k, v] : w.setup->values()) params.emplace_back(k, v);
  ++w.attempts;
  const auto t0 = Clock::now();
  std::string error;
  bool timed_out = false;
  std::shared_ptr<Call> call;
  std::list<Running>::iterator it;
  bool registered = false;
  try {
    call = prepare_call(*m_spec.kernel, std::move(params));
    {
      std::lock_guard lock(m_mutex);
      const auto deadline = m_spec.timeout
                                ? t0 + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(*m_spec.timeout))
                                : Clock::time_point::max();
      it = m_running.insert(m_running.end(), Running{call, deadline});
      registered = true;
      if (m_stopping) call->cancel();
    }
    run_nested(call);
    {
      std::lock_guard lock(m_mutex);
      timed_out = it->timed_out;
      m_running.erase(it);
      registered = false;
    }
    call->rethrow_if_failed();
  } catch (const Cancelled&) {
    if (registered) {
      std::lock_guard lock(m_mutex);
      timed_out = it->timed_out;
      m_running.erase(it);
    }
    if (!timed_out) {  // the batch is stopping: the run stays pending
      std::lock_guard lock(m_mutex);
      --m_local_in_flight;
      m_cv.notify_all();
      return;
    }
    error = fmt::format("{}(): timed out after {} s (the spec's timeout)", m_spec.kernel->name,
                        *m_spec.timeout);
  } catch (const std::exception& e) {
    if (registered) {
      std::lock_guard lock(m_mutex);
      m_running.erase(it);
    }
    error = e.what();
    if (error.empty()) error = "the run failed (no message)";
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!error.empty()) {
    {
      std::lock_guard lock(m_mutex);
      if (w.attempts <= m_spec.retries && !m_stopping) {
        m_ready.push_back(std::move(w));
        return;  // this lane takes it again (or another one)
      }
    }
    RunResult r;
    r.index = w.index;
    r.attempts = w.attempts;
    r.seconds = seconds;
    r.error = std::move(error);
    finish_local(std::move(r));
    return;
  }
  if (m_spec.reduce) {
    {
      std::lock_guard lock(m_mutex);
      m_reducing.push_back({std::move(w), std::move(call), seconds});
    }
    m_cv.notify_all();
    return;
  }
  RunResult r;
  r.index = w.index;
  r.ok = true;
  r.attempts = w.attempts;
  r.seconds = seconds;
  encode_outputs(*call, r);
  finish_local(std::move(r));
}

void Engine::reduce_pending() {
  for (;;) {
    Reducing item;
    {
      std::lock_guard lock(m_mutex);
      if (m_reducing.empty()) return;
      item = std::move(m_reducing.front());
      m_reducing.pop_front();
    }
    const BatchRun& run = m_spec.runs[static_cast<std::size_t>(item.work.index)];
    const auto t0 = Clock::now();
    RunResult r;
    r.index = item.work.index;
    r.attempts = item.work.attempts;
    try {
      r.reduce_json = m_hooks.reduce(run, item.call->outputs());
      r.ok = true;
      encode_outputs(*item.call, r);
    } catch (const Cancelled&) {
      std::lock_guard lock(m_mutex);  // the batch is stopping: the run stays pending, and so
      --m_local_in_flight;            // do those still queued (stop_local() drops them)
      return;
    } catch (const std::exception& e) {
      r.ok = false;
      r.error = e.what();
      r.reduce_json.clear();
      r.outputs.clear();
    }
    r.seconds = item.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
    finish_local(std::move(r));
  }
}

void Engine::run_front_end(std::int64_t index) {
  const BatchRun& run = m_spec.runs[static_cast<std::size_t>(index)];
  RunResult r;
  r.index = index;
  for (int attempt = 1;; ++attempt) {
    const auto t0 = Clock::now();
    r = RunResult{};
    r.index = index;
    r.attempts = attempt;
    try {
      m_hooks.run_in_front_end(run, r);
      r.ok = true;
    } catch (const Cancelled&) {
      return;  // the batch is stopping: the run stays pending
    } catch (const std::exception& e) {
      r.ok = false;
      r.error = e.what();
      r.outputs.clear();
      r.reduce_json.clear();
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r.ok || attempt > m_spec.retries || !m_hooks.keep_going()) break;
  }
  sink(std::move(r));
}

void Engine::check_timeouts() {
  if (!m_spec.timeout) return;
  const auto now = Clock::now();
  std::lock_guard lock(m_mutex);
  for (auto& r : m_running)
    if (!r.timed_out && now >= r.deadline) {
      r.timed_out = true;
      r.call->cancel();
    }
}

// Stops the local runs: those not started stay pending, running kernels are cancelled (and
// stay pending), finished ones still reach the sink.
void Engine::stop_local() {
  std::unique_lock lock(m_mutex);
  m_stopping = true;
  m_local_in_flight -= static_cast<std::int64_t>(m_ready.size() + m_reducing.size());
  m_ready.clear();
  m_reducing.clear();
  for (auto& r : m_running) r.call->cancel();
  m_cv.wait(lock, [&] { return m_lanes == 0; });
}

void Engine::report(bool final) {
  const auto now = Clock::now();
  if (!final && now - m_last_report < std::chrono::milliseconds(100)) return;
  m_last_report = now;
  BatchProgress p;
  p.total = static_cast<std::int64_t>(m_spec.runs.size());
  const std::int64_t done = m_writer ? m_writer->done() : 0;
  const std::int64_t failed = m_writer ? m_writer->failed_runs() : 0;
  p.done = m_done_before + done;
  p.failed = m_failed_before + failed;
  p.todo = static_cast<std::int64_t>(m_todo.size());
  p.seconds = std::chrono::duration<double>(now - m_started).count();
  p.runs_per_second = p.seconds > 0 ? static_cast<double>(done + failed) / p.seconds : 0;
  m_hooks.progress(p, final);
}

// ---- ranks ----

void Engine::assign(int to) {
  std::string indices;
  while (m_rank_in_flight[static_cast<std::size_t>(to)] < m_rank_capacity[static_cast<std::size_t>(to)] &&
         m_next < m_todo.size()) {
    indices = append_i64(std::move(indices), m_todo[m_next++]);
    ++m_rank_in_flight[static_cast<std::size_t>(to)];
  }
  if (!indices.empty()) m_transport->send(to, kAssign, std::move(indices));
  if (m_next == m_todo.size() && m_rank_in_flight[static_cast<std::size_t>(to)] == 0 &&
      m_rank_hello[static_cast<std::size_t>(to)] && !m_rank_stopped[static_cast<std::size_t>(to)]) {
    m_transport->send(to, kStop, {});
    m_rank_stopped[static_cast<std::size_t>(to)] = true;
  }
}

void Engine::coordinate_messages() {
  int from = 0, tag = 0;
  std::string bytes;
  while (m_transport->poll(from, tag, bytes)) {
    const auto r = static_cast<std::size_t>(from);
    if (tag == kHello) {
      std::int64_t capacity = 1;
      if (bytes.size() == sizeof capacity) std::memcpy(&capacity, bytes.data(), sizeof capacity);
      m_rank_capacity[r] = static_cast<int>(std::max<std::int64_t>(1, capacity));
      m_rank_hello[r] = true;
    } else if (tag == kResult) {
      m_writer->push(decode_result(bytes));
      --m_rank_in_flight[r];
    }
    assign(from);
  }
}

void Engine::work_messages() {
  int from = 0, tag = 0;
  std::string bytes;
  while (m_transport->poll(from, tag, bytes)) {
    if (tag == kAssign) {
      for (std::size_t at = 0; at + sizeof(std::int64_t) <= bytes.size(); at += sizeof(std::int64_t)) {
        std::int64_t index;
        std::memcpy(&index, bytes.data() + at, sizeof index);
        if (m_front_end) run_front_end(index);
        else add_local(index);
      }
    } else if (tag == kStop) {
      m_stop_received = true;
    }
  }
  std::deque<RunResult> out;
  {
    std::lock_guard lock(m_mutex);
    out.swap(m_outbox);
  }
  for (auto& r : out) m_transport->send(0, kResult, encode_result(r));
}

BatchSummary Engine::run() {
  BatchSummary summary;
  summary.out = m_options.out;
  summary.total = static_cast<std::int64_t>(m_spec.runs.size());
  summary.ranks = ranks();
  summary.jobs = m_jobs;
  m_hooks.prepare(m_spec);

  // Every rank must see the same runs: rank 0 sends a digest of its run table.
  if (ranks() > 1) {
    std::string ids = m_spec.sha256;
    for (const auto& r : m_spec.runs) ids += r.id;
    const std::string mine = sha256_hex(ids);
    std::string digest = mine;
    m_transport->broadcast(digest);
    if (digest != mine)
      throw BatchError(fmt::format("rank {}: the batch differs from rank 0's (a different spec or input "
                              "file on this machine); every rank must see the same files",
                              rank()));
  }

  if (rank() == 0) {
    auto store = open_store(m_options.out, m_spec, {m_options.resume, m_options.retry_failed});
    m_todo = store->todo();
    m_done_before = store->done_before();
    // Failed runs redone with retry_failed count again when they commit (progress only).
    m_failed_before = m_options.retry_failed ? 0 : store->failed_before();
    summary.skipped = summary.total - static_cast<std::int64_t>(m_todo.size());
    SessionInfo info;
    info.command = m_options.command;
    info.threads = get_threads();
    info.jobs = m_jobs;
    info.ranks = ranks();
    info.versions_json = m_options.versions_json;
    info.plugins_json = m_options.plugins_json;
    store->begin_session(info);
    Writer writer(*store, m_spec);
    m_writer = &writer;
    m_rank_capacity.assign(static_cast<std::size_t>(ranks()), 0);
    m_rank_in_flight.assign(static_cast<std::size_t>(ranks()), 0);
    m_rank_hello.assign(static_cast<std::size_t>(ranks()), false);
    m_rank_stopped.assign(static_cast<std::size_t>(ranks()), false);

    bool interrupted = false;
    std::exception_ptr error;
    auto last_poll = Clock::time_point{};
    try {
      for (;;) {
        const auto now = Clock::now();
        if (now - last_poll >= std::chrono::milliseconds(5)) {
          last_poll = now;
          if (!m_hooks.keep_going()) {
            interrupted = true;
            break;
          }
        }
        writer.rethrow_if_failed();
        {
          std::lock_guard lock(m_mutex);
          if (m_lane_error) std::rethrow_exception(m_lane_error);
        }
        if (m_front_end) {
          if (m_next < m_todo.size()) run_front_end(m_todo[m_next++]);
        } else {
          const std::int64_t cap = ahead();
          for (;;) {
            {
              std::lock_guard lock(m_mutex);
              if (m_local_in_flight >= cap) break;
            }
            if (m_next >= m_todo.size()) break;
            add_local(m_todo[m_next++]);
          }
        }
        if (ranks() > 1) coordinate_messages();
        reduce_pending();
        check_timeouts();
        report(false);
        bool remote_busy = false;
        for (int r = 1; r < ranks(); ++r)
          remote_busy = remote_busy || !m_rank_stopped[static_cast<std::size_t>(r)];
        {
          std::unique_lock lock(m_mutex);
          if (m_next >= m_todo.size() && m_local_in_flight == 0 && !remote_busy) break;
          const auto wait = ranks() > 1 ? std::chrono::milliseconds(1) : std::chrono::milliseconds(5);
          m_cv.wait_for(lock, wait, [&] {
            return !m_reducing.empty() ||
                   (m_local_in_flight <= refill_at() && m_next < m_todo.size()) ||
                   (m_next >= m_todo.size() && m_local_in_flight == 0);
          });
        }
      }
    } catch (...) {
      error = std::current_exception();
    }
    stop_local();
    writer.close();
    report(true);
    summary.interrupted = interrupted;
    summary.failures = writer.failures();
    summary.ran = writer.done() + writer.failed_runs();
    m_writer = nullptr;
    try {
      store->end_session();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    if (!error) writer.rethrow_if_failed();
    if (error) {
      if (ranks() > 1) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          fmt::print(stderr, "simhost batch: {}\n", e.what());
        }
        m_transport->abort(1);
      }
      std::rethrow_exception(error);
    }
    if (interrupted && ranks() > 1) m_transport->abort(130);
    std::tie(summary.done, summary.failed) = store->counts();
    summary.pending = summary.total - summary.done - summary.failed;
  } else {
    // A worker rank: ask for work, run it, send the results, until rank 0 says stop.
    m_transport->send(0, kHello, append_i64({}, ahead()));
    try {
      for (;;) {
        if (!m_hooks.keep_going()) {
          stop_local();
          m_transport->abort(130);
        }
        {
          std::lock_guard lock(m_mutex);
          if (m_lane_error) std::rethrow_exception(m_lane_error);
        }
        work_messages();
        reduce_pending();
        check_timeouts();
        std::unique_lock lock(m_mutex);
        if (m_stop_received && m_local_in_flight == 0 && m_outbox.empty()) break;
        m_cv.wait_for(lock, std::chrono::milliseconds(1));
      }
    } catch (const std::exception& e) {
      stop_local();
      fmt::print(stderr, "simhost batch: rank {}: {}\n", rank(), e.what());
      m_transport->abort(1);
    }
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
  return summary;
}

}  // namespace

int default_jobs() { return get_threads(); }

BatchTransport* batch_transport() noexcept { return transport_slot().get(); }

void set_batch_transport(std::unique_ptr<BatchTransport> transport) {
  transport_slot() = std::move(transport);
}

BatchSummary run_batch(const BatchSpec& spec, const BatchOptions& options, BatchHooks& hooks) {
  BatchTransport* t = batch_transport();
  Engine engine(spec, options, hooks, t && t->size() > 1 ? t : nullptr);
  return engine.run();
}

}  // namespace simhost
