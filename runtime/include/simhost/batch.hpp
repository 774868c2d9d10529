// Running a batch: its runs concurrently on the process arena, results into the store, resume,
// and the ranks of an MPI job. The engine is Python-free; the front end supplies the hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "simhost/batch_spec.hpp"
#include "simhost/batch_store.hpp"
#include "simhost/call_context.hpp"

namespace simhost {

/// How to run a batch (simhost batch's options; simhost.batch()'s arguments).
struct BatchOptions {
  std::string out;            // the output folder
  int jobs = 0;               // runs at once on this process; 0: default_jobs()
  bool resume = false;        // continue the batch stored in `out`
  bool retry_failed = false;  // with resume: redo failed runs too
  std::string command;        // the command line, for the sessions table
  std::string versions_json;  // JSON object of the front end's versions (python, numpy, ...)
  std::string plugins_json;   // JSON list of the plugin files loaded ({"file", "sha256", ...})
};

/// The default number of runs at once: the thread budget (each run's kernel still uses idle
/// threads of the arena for its own parallel loops).
int default_jobs();

/// Where a batch stands, for the progress line. Counts are of committed runs.
struct BatchProgress {
  std::int64_t total = 0;    // runs in the batch
  std::int64_t done = 0;     // committed as done (including those done before a resume)
  std::int64_t failed = 0;   // committed as failed
  std::int64_t todo = 0;     // runs this session set out to do
  double seconds = 0;        // since this session started
  double runs_per_second = 0;
};

/// What a batch came to.
struct BatchSummary {
  std::string out;
  std::int64_t total = 0, done = 0, failed = 0, pending = 0;
  std::int64_t skipped = 0;  // already done (or failed, without retry_failed) when it started
  std::int64_t ran = 0;      // runs committed by this session
  std::vector<std::pair<std::string, std::string>> failures;  // (run id, error), this session
  double seconds = 0;
  bool interrupted = false;
  int ranks = 1;
  int jobs = 0;
};

/// The front end's part of a batch (Python: the setup and reduce hooks, Python kernels, signals
/// and the progress line). Every method is called on the thread that called run_batch(), never
/// on a TBB worker; a method that throws fails that run (setup, reduce, run_in_front_end:
/// what() becomes the run's error) or, for the others, the batch.
class BatchHooks {
 public:
  virtual ~BatchHooks() = default;
  /// Checks that the spec's hooks exist (the function in the file), before any run starts;
  /// throws SpecError naming the spec's line and key.
  virtual void prepare(const BatchSpec& spec) = 0;
  /// The setup hook's values for `run` (arrays, or other parameters), appended to its
  /// parameters. Called only when the spec has a setup hook.
  virtual OwnedArgs setup(const BatchRun& run) = 0;
  /// The reduce hook's scalars for a run that finished, as a JSON object text.
  virtual std::string reduce(const BatchRun& run, const std::vector<OutputSlot>& outputs) = 0;
  /// Runs `run` whole (setup, kernel, reduce) for a kernel the front end runs itself
  /// (KernelDef::front_end); fills `result`'s outputs (only those kept) and reduce_json.
  virtual void run_in_front_end(const BatchRun& run, RunResult& result) = 0;
  /// Called every few milliseconds: false stops the batch (Ctrl-C), which then cancels its
  /// running kernels, commits every finished run and returns with interrupted set.
  virtual bool keep_going() = 0;
  /// Called about ten times a second, and once at the end (rank 0 only).
  virtual void progress(const BatchProgress& p, bool final) = 0;
};

/// The messages between the ranks of an MPI job, implemented by the host (Open MPI). Used on
/// the thread that called run_batch() only.
class BatchTransport {
 public:
  virtual ~BatchTransport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "Open MPI v4.1.4, ..." for the provenance.
  virtual std::string version() const = 0;
  /// Sends `bytes` to rank `to`; returns at once (the transport keeps the buffer).
  virtual void send(int to, int tag, std::string bytes) = 0;
  /// A message that has arrived, if any (returns false at once when none has).
  virtual bool poll(int& from, int& tag, std::string& bytes) = 0;
  /// Rank 0's `bytes` on every rank (collective).
  virtual void broadcast(std::string& bytes) = 0;
  /// Ends every rank of the job with `code` (a rank that cannot go on).
  [[noreturn]] virtual void abort(int code) = 0;
  /// Ends this rank's part in the job before the process exits with `exit_code`: normally
  /// for 0 and 1 (every run was handled), else by aborting the job, so that no rank waits
  /// for this one forever. Nothing may be sent afterwards.
  virtual void finish(int exit_code) = 0;
};

/// The transport of this process, or null outside an MPI job. Set once by the host binary
/// before any batch runs.
BatchTransport* batch_transport() noexcept;
void set_batch_transport(std::unique_ptr<BatchTransport> transport);

/// Runs the batch of `spec` into options.out: opens (or creates, or resumes) the store, runs
/// every run still to do, J at once on the process arena, commits their results in groups,
/// and returns the summary. Throws SpecError (via hooks.prepare) and Error (the store is
/// locked, already holds a batch without resume, or holds a different one) before any run
/// starts. Under an MPI transport with more than one rank, rank 0 coordinates and writes,
/// and the others run what it hands them; every rank calls this with the same spec.
BatchSummary run_batch(const BatchSpec& spec, const BatchOptions& options, BatchHooks& hooks);

}  // namespace simhost
