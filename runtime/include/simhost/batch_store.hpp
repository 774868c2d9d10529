// The store of a batch: one SQLite database (WAL) per output folder, written by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "simhost/batch_spec.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace simhost {

/// One output of a finished run, as .npy bytes.
struct RunOutput {
  std::string name;
  std::string npy;
};

/// What a run attempt came to, on its way to the store.
struct RunResult {
  std::int64_t index = 0;
  bool ok = false;
  int attempts = 0;
  double seconds = 0;
  std::string error;          // failed runs
  std::string reduce_json;    // empty: no reduce hook
  std::vector<RunOutput> outputs;
};

/// Bytes of a RunResult and back (for MPI messages). decode throws Error on malformed bytes.
std::string encode_result(const RunResult& r);
RunResult decode_result(const std::string& bytes);

/// Outputs larger than this are files (DIR/arrays/<run id>/<name>.npy), smaller ones are rows
/// of the arrays table.
inline constexpr std::size_t kFileOutputBytes = 128 * 1024;

/// What a session records about itself (the sessions table).
struct SessionInfo {
  std::string host, command;
  int threads = 0, jobs = 0, ranks = 1;
  std::string versions_json;  // JSON object
  std::string plugins_json;   // JSON list
};

/// How open_store() treats an existing store.
struct StoreOpening {
  bool resume = false;
  bool retry_failed = false;
};

/// An open store. Its methods are called by one thread at a time (the opening thread, then
/// the writer thread): SQLite's one connection, one writer.
class BatchStore {
 public:
  ~BatchStore();
  BatchStore(const BatchStore&) = delete;
  BatchStore& operator=(const BatchStore&) = delete;

  /// The runs still to do (indices, in order): pending ones, and failed ones with retry_failed.
  const std::vector<std::int64_t>& todo() const noexcept { return m_todo; }
  /// Counts of the store's runs when it was opened.
  std::int64_t done_before() const noexcept { return m_done_before; }
  std::int64_t failed_before() const noexcept { return m_failed_before; }
  /// True when this opening created the batch.
  bool created() const noexcept { return m_created; }

  /// Records the session's start (committed at once).
  void begin_session(const SessionInfo& info);
  /// Adds a finished run to the open group; files of large outputs are written (to a
  /// temporary name, fsync'd, renamed) before the call returns.
  void write(const RunResult& result);
  /// Commits the group (after fsync'ing the folders of new files): its runs are finished.
  void commit();
  /// Runs committed as done and as failed, counted in the database now.
  std::pair<std::int64_t, std::int64_t> counts();
  /// Records the session's end (committed at once).
  void end_session();

 private:
  friend std::unique_ptr<BatchStore> open_store(const std::string&, const BatchSpec&,
                                                const StoreOpening&);
  BatchStore() = default;
  void exec(const char* sql);
  void create(const BatchSpec& spec);
  void check_same_batch(const BatchSpec& spec);

  std::string m_folder;
  const BatchSpec* m_spec = nullptr;
  int m_lock_fd = -1;
  sqlite3* m_db = nullptr;
  sqlite3_stmt* m_update = nullptr;
  sqlite3_stmt* m_array = nullptr;
  bool m_in_group = false;
  bool m_created = false;
  std::int64_t m_session = 0;
  std::int64_t m_done_before = 0, m_failed_before = 0;
  std::vector<std::int64_t> m_todo;
  std::vector<std::string> m_dirs_to_sync;
  std::string m_all_db_json;  // the outputs column of a run whose outputs are all in the db
  std::string m_now;          // the open group's time
};

/// Opens the store in `folder` (created if missing) for `spec`, taking the folder's lock (an
/// flock a killed process releases). A new folder, or one whose database holds no committed
/// batch, gets a new batch with every run pending. An existing batch is refused unless
/// `how.resume`; with it, refused when the spec changed the kernel, the fixed parameters, the
/// outputs kept or any run id (the message says what differs). Throws Error when another
/// process holds the lock (naming its pid and host) or SQLite fails.
std::unique_ptr<BatchStore> open_store(const std::string& folder, const BatchSpec& spec,
                                       const StoreOpening& how);

/// One cell of a store's run table: empty (NULL, no value), an integer, a float, a boolean or
/// text.
using TableCell = std::variant<std::monostate, std::int64_t, std::uint64_t, double, bool, std::string>;

/// A store's run table, column by column (values[column][row], rows in run order): idx, id,
/// status, attempts, seconds, error, then one column per parameter (an array parameter as its
/// .npy file name; another non-scalar as its compact JSON), then one per reduce key, each in
/// first-seen order. A parameter named like one of the first six columns is "param.NAME", a
/// reduce key named like a column before it "reduce.NAME".
struct RunTable {
  std::vector<std::string> columns;
  std::vector<std::vector<TableCell>> values;
};

/// Reads the run table of the store file `db_path`, read-only, in one read transaction (so
/// while its batch runs it shows the last commit). Throws BatchError.
RunTable read_run_table(const std::string& db_path);

/// Writes `table` as CSV (Python's csv dialect "excel": "\r\n" line ends, a field quoted
/// when it holds a comma, quote or line break; floats as Python's repr; booleans True/False;
/// empty cells for no value) to `target`, with the error column last, replacing `target` at
/// once: a temporary file in the same folder, fsync'd, renamed. Throws BatchError.
void write_summary_csv(const RunTable& table, const std::string& target);

/// "2026-12-02T07:41:57.123Z": now, in UTC.
std::string utc_now();

}  // namespace simhost
