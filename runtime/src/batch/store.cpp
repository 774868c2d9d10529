// The batch store: schema, the folder lock, resume checks, group commits, large outputs as files.
#include "simhost/batch_store.hpp"

#include "simhost/text.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>
#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <variant>
#include <nlohmann/json.hpp>

namespace simhost {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- result bytes ----

namespace {

void put_u64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

struct Reader {
  const std::string& bytes;
  std::size_t at = 0;
  std::uint64_t u64() {
    if (bytes.size() - at < 8) throw BatchError("malformed batch result message (truncated)");
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + at, 8);
    at += 8;
    return v;
  }
  std::string str() {
    const std::uint64_t n = u64();
    if (bytes.size() - at < n) throw BatchError("malformed batch result message (truncated)");
    std::string s = bytes.substr(at, n);
    at += n;
    return s;
  }
};

}  // namespace

std::string encode_result(const RunResult& r) {
  std::string out;
  put_u64(out, static_cast<std::uint64_t>(r.index));
  put_u64(out, r.ok ? 1 : 0);
  put_u64(out, static_cast<std::uint64_t>(r.attempts));
  std::uint64_t sec;
  std::memcpy(&sec, &r.seconds, 8);
  put_u64(out, sec);
  put_str(out, r.error);
  put_str(out, r.reduce_json);
  put_u64(out, r.outputs.size());
  for (const auto& o : r.outputs) {
    put_str(out, o.name);
    put_str(out, o.npy);
  }
  return out;
}

RunResult decode_result(const std::string& bytes) {
  Reader in{bytes};
  RunResult r;
  r.index = static_cast<std::int64_t>(in.u64());
  r.ok = in.u64() != 0;
  r.attempts = static_cast<int>(in.u64());
  const std::uint64_t sec = in.u64();
  std::memcpy(&r.seconds, &sec, 8);
  r.error = in.str();
  r.reduce_json = in.str();
  const std::uint64_t n = in.u64();
  if (n > 1'000'000) throw BatchError("malformed batch result message (output count)");
  for (std::uint64_t i = 0; i < n; ++i) {
    RunOutput o;
    o.name = in.str();
    o.npy = in.str();
    r.outputs.push_back(std::move(o));
  }
  return r;
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

// ---- the store ----

namespace {

constexpr const char* kFormat = "1";

constexpr const char* kSchema = R"sql(
CREATE TABLE batch (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
  session INTEGER PRIMARY KEY, started TEXT, ended TEXT, host TEXT, threads INTEGER,
  jobs INTEGER, ranks INTEGER, command TEXT, versions TEXT, plugins TEXT, spec TEXT);
CREATE TABLE runs (
  idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, params TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, seconds REAL, error TEXT,
  reduce TEXT, outputs TEXT, session INTEGER, finished TEXT);
CREATE TABLE arrays (idx INTEGER NOT NULL, name TEXT NOT NULL, npy BLOB NOT NULL,
  PRIMARY KEY (idx, name)) WITHOUT ROWID;
)sql";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : m_db(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK)
      throw BatchError(fmt::format("batch store: {} ({})", sqlite3_errmsg(db), sql));
  }
  ~Statement() { sqlite3_finalize(m_stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const noexcept { return m_stmt; }
  bool step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw BatchError(fmt::format("batch store: {}", sqlite3_errmsg(m_db)));
    return false;
  }
  std::string text(int col) const {
    const auto* t = sqlite3_column_text(m_stmt, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw BatchError(fmt::format("batch store: cannot open {}: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw BatchError(fmt::format("batch store: fsync of {} failed: {}", path, std::strerror(errno)));
}

// Writes `bytes` to `tmp`, fsyncs it and renames it to `path` (the folder's own fsync is the
// caller's). exclusive: fail if `tmp` exists (a name that must be this writer's alone).
void write_file_durably(const std::string& path, const std::string& bytes,
                        const std::string& tmp, bool exclusive = false) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC),
                        0644);
  if (fd < 0) throw BatchError(fmt::format("batch store: cannot write {}: {}", tmp, std::strerror(errno)));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw BatchError(fmt::format("batch store: cannot write {}: {}", tmp, std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw BatchError(fmt::format("batch store: cannot write {}: {}", tmp, std::strerror(err)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw BatchError(fmt::format("batch store: cannot rename {}: {}", tmp, std::strerror(err)));
  }
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

BatchStore::~BatchStore() {
  sqlite3_finalize(m_update);
  sqlite3_finalize(m_array);
  if (m_db) sqlite3_close_v2(m_db);
  if (m_lock_fd >= 0) ::close(m_lock_fd);  // releases the flock
}

void BatchStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(m_db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(m_db);
    sqlite3_free(err);
    throw BatchError(fmt::format("batch store {}: {}", m_folder, msg));
  }
}

void BatchStore::create(const BatchSpec& spec) {
  exec("BEGIN IMMEDIATE");
  exec("DROP TABLE IF EXISTS arrays; DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS sessions;"
       " DROP TABLE IF EXISTS batch;");
  exec(kSchema);
  {
    Statement put(m_db, "INSERT INTO batch (key, value) VALUES (?, ?)");
    const std::vector<std::pair<std::string, std::string>> items = {
        {"format", kFormat},
        {"kernel", spec.kernel->name},
        {"kernel_source", spec.kernel->source},
        {"seed", std::to_string(spec.seed)},
        {"spec_path", spec.path},
        {"spec_text", spec.text},
        {"spec_sha256", spec.sha256},
        {"fixed", spec.fixed_json},
        {"outputs", json(spec.outputs).dump()},
        {"replicates", std::to_string(spec.replicates)},
        {"total", std::to_string(spec.runs.size())},
        {"created", utc_now()}};
    for (const auto& [k, v] : items) {
      sqlite3_reset(put.get());
      bind_text(put.get(), 1, k);
      bind_text(put.get(), 2, v);
      put.step();
    }
  }
  Statement run(m_db, "INSERT INTO runs (idx, id, params, status) VALUES (?, ?, ?, 'pending')");
  for (const auto& r : spec.runs) {
    sqlite3_reset(run.get());
    sqlite3_bind_int64(run.get(), 1, r.index);
    bind_text(run.get(), 2, r.id);
    bind_text(run.get(), 3, r.params_json);
    run.step();
  }
  exec("COMMIT");
  m_created = true;
}

void BatchStore::check_same_batch(const BatchSpec& spec) {
  std::vector<std::string> diffs;
  {
    Statement get(m_db, "SELECT key, value FROM batch");
    std::map<std::string, std::string> stored;
    while (get.step()) stored[get.text(0)] = get.text(1);
    if (stored["format"] != kFormat)
      throw BatchError(fmt::format("{} holds a batch store of format '{}', which this simhost does not "
                              "write (it writes format {})",
                              m_folder, stored["format"], kFormat));
    if (stored["kernel"] != spec.kernel->name)
      diffs.push_back(fmt::format("the kernel was '{}', now '{}'", stored["kernel"], spec.kernel->name));
    const json was = json::parse(stored["fixed"], nullptr, false);
    const json now = json::parse(spec.fixed_json);
    if (was.is_object()) {
      for (const auto& [k, v] : was.items())
        if (!now.contains(k)) diffs.push_back(fmt::format("fixed parameter '{}' was {}, now not fixed", k, v.dump()));
        else if (now[k] != v)
          diffs.push_back(fmt::format("fixed parameter '{}' was {}, now {}", k, v.dump(), now[k].dump()));
      for (const auto& [k, v] : now.items())
        if (!was.contains(k)) diffs.push_back(fmt::format("fixed parameter '{}' is new ({})", k, v.dump()));
    }
    if (stored["outputs"] != json(spec.outputs).dump())
      diffs.push_back(fmt::format("the outputs kept were {}, now {}", stored["outputs"],
                                  json(spec.outputs).dump()));
  }
  std::int64_t stored_count = 0, differ = 0;
  std::string first;
  {
    Statement get(m_db, "SELECT idx, id, params FROM runs ORDER BY idx");
    while (get.step()) {
      const std::int64_t idx = sqlite3_column_int64(get.get(), 0);
      ++stored_count;
      if (idx < 0 || idx >= static_cast<std::int64_t>(spec.runs.size()) ||
          spec.runs[static_cast<std::size_t>(idx)].id != get.text(1)) {
        if (differ++ == 0)
          first = fmt::format("run {} was {}, now {}", idx, get.text(2),
                              idx < static_cast<std::int64_t>(spec.runs.size())
                                  ? spec.runs[static_cast<std::size_t>(idx)].params_json
                                  : "absent");
      }
    }
  }
  if (stored_count != static_cast<std::int64_t>(spec.runs.size()))
    diffs.push_back(fmt::format("the batch had {} runs, the spec now makes {}", stored_count, spec.runs.size()));
  if (differ) diffs.push_back(fmt::format("{} run ids differ ({})", differ, first));
  if (!diffs.empty()) {
    std::string msg = fmt::format("cannot resume {}: the spec no longer describes the batch stored there:", m_folder);
    for (const auto& d : diffs) msg += "\n  - " + d;
    msg += "\nrestore the spec, or start a new batch with another --out folder";
    throw BatchError(msg);
  }
}

std::unique_ptr<BatchStore> open_store(const std::string& folder, const BatchSpec& spec,
                                       const StoreOpening& how) {
  std::unique_ptr<BatchStore> s(new BatchStore);
  s->m_folder = folder;
  s->m_spec = &spec;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw BatchError(fmt::format("cannot create the batch folder {}: {}", folder, ec.message()));

  const std::string lock = folder + "/.lock";
  s->m_lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->m_lock_fd < 0)
    throw BatchError(fmt::format("cannot open {}: {}", lock, std::strerror(errno)));
  // `simhost batch status` probes the lock with a brief shared flock: retry for a moment.
  bool locked = false;
  for (int attempt = 0; attempt < 20 && !locked; ++attempt) {
    locked = ::flock(s->m_lock_fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!locked) {
    char buf[256] = {};
    (void)!::pread(s->m_lock_fd, buf, sizeof buf - 1, 0);
    std::string who(buf);
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    throw BatchError(fmt::format("{} is in use by another batch ({}): wait for it to finish, or choose "
                            "another --out folder",
                            folder, who.empty() ? "a process holds its lock" : who));
  }
  const std::string who = fmt::format("pid {} on {}\n", ::getpid(), hostname());
  if (::ftruncate(s->m_lock_fd, 0) != 0 || ::pwrite(s->m_lock_fd, who.data(), who.size(), 0) < 0)
    throw BatchError(fmt::format("cannot write {}: {}", lock, std::strerror(errno)));

  const std::string path = folder + "/batch.sqlite";
  // NOMUTEX: the connection is used by one thread at a time (the opening thread, then the
  // writer), so SQLite's per-call connection mutex (about a tenth of the writer's time with
  // many small runs) is not needed.
  if (sqlite3_open_v2(path.c_str(), &s->m_db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    throw BatchError(fmt::format("cannot open {}: {}", path, s->m_db ? sqlite3_errmsg(s->m_db) : "out of memory"));
  sqlite3_busy_timeout(s->m_db, 10000);
  // A new database gets 64 KiB pages (an existing one keeps its own): a group commit of many
  // small runs then writes, and checkpoints, few large pages, and the WAL is checkpointed
  // once it holds 1000 pages (64 MiB) rather than 4 MiB. Measured with bench/batch.py (10,000
  // runs, 2 cores): the writer's time per run falls by about a third against 4 KiB pages.
  s->exec("PRAGMA page_size=65536");
  s->exec("PRAGMA journal_mode=WAL");
  s->exec("PRAGMA synchronous=FULL");
  s->exec("PRAGMA cache_size=-65536");  // 64 MiB: a group never spills to the WAL early

  bool exists = false;
  {
    Statement q(s->m_db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='runs'");
    q.step();
    exists = sqlite3_column_int64(q.get(), 0) > 0;
  }
  if (exists && !how.resume) {
    Statement q(s->m_db, "SELECT sum(status='done'), sum(status='failed'), count(*) FROM runs");
    q.step();
    throw BatchError(fmt::format("{} already holds a batch ({} of {} runs done, {} failed): pass --resume "
                            "(resume=True) to continue it, or choose another --out folder",
                            folder, sqlite3_column_int64(q.get(), 0), sqlite3_column_int64(q.get(), 2),
                            sqlite3_column_int64(q.get(), 1)));
  }
  if (exists) s->check_same_batch(spec);
  else s->create(spec);

  {
    Statement q(s->m_db, "SELECT idx, status FROM runs ORDER BY idx");
    while (q.step()) {
      const std::string status = q.text(1);
      const std::int64_t idx = sqlite3_column_int64(q.get(), 0);
      if (status == "done") ++s->m_done_before;
      else if (status == "failed") ++s->m_failed_before;
      if (status == "pending" || (status == "failed" && how.retry_failed)) s->m_todo.push_back(idx);
    }
  }
  if (sqlite3_prepare_v2(s->m_db,
                         "UPDATE runs SET status = ?, attempts = attempts + ?, seconds = ?, error = ?, "
                         "reduce = ?, outputs = ?, session = ?, finished = ? WHERE idx = ?",
                         -1, &s->m_update, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(s->m_db, "INSERT OR REPLACE INTO arrays (idx, name, npy) VALUES (?, ?, ?)",
                         -1, &s->m_array, nullptr) != SQLITE_OK)
    throw BatchError(fmt::format("batch store: {}", sqlite3_errmsg(s->m_db)));
  return s;
}

void BatchStore::begin_session(const SessionInfo& info) {
  Statement put(m_db,
                "INSERT INTO sessions (started, host, threads, jobs, ranks, command, versions, "
                "plugins, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  bind_text(put.get(), 1, utc_now());
  bind_text(put.get(), 2, info.host.empty() ? hostname() : info.host);
  sqlite3_bind_int(put.get(), 3, info.threads);
  sqlite3_bind_int(put.get(), 4, info.jobs);
  sqlite3_bind_int(put.get(), 5, info.ranks);
  bind_text(put.get(), 6, info.command);
  bind_text(put.get(), 7, info.versions_json);
  bind_text(put.get(), 8, info.plugins_json);
  bind_text(put.get(), 9, m_spec->text);
  put.step();
  m_session = sqlite3_last_insert_rowid(m_db);
}

void BatchStore::write(const RunResult& r) {
  if (!m_in_group) {
    exec("BEGIN IMMEDIATE");
    m_in_group = true;
  }
  const BatchRun& run = m_spec->runs.at(static_cast<std::size_t>(r.index));
  // Where each output goes is written per run only when one goes to a file; otherwise
  // m_all_db_json (the same for every such run) says it.
  const bool all_db = std::none_of(r.outputs.begin(), r.outputs.end(),
                                   [](const RunOutput& o) { return o.npy.size() > kFileOutputBytes; });
  json where = json::object();
  for (const auto& o : r.outputs) {
    if (o.npy.size() > kFileOutputBytes) {
      const std::string rel = fmt::format("arrays/{}/{}.npy", run.id, o.name);
      const std::string dir = fmt::format("{}/arrays/{}", m_folder, run.id);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw BatchError(fmt::format("batch store: cannot create {}: {}", dir, ec.message()));
      write_file_durably(m_folder + "/" + rel, o.npy, m_folder + "/" + rel + ".tmp");
      m_dirs_to_sync.push_back(dir);
      where[o.name] = rel;
    } else {
      sqlite3_reset(m_array);
      sqlite3_bind_int64(m_array, 1, r.index);
      bind_text(m_array, 2, o.name);
      sqlite3_bind_blob64(m_array, 3, o.npy.data(), o.npy.size(), SQLITE_STATIC);
      if (sqlite3_step(m_array) != SQLITE_DONE)
        throw BatchError(fmt::format("batch store: {}", sqlite3_errmsg(m_db)));
      if (!all_db) where[o.name] = "db";
    }
  }
  sqlite3_reset(m_update);
  bind_text(m_update, 1, r.ok ? "done" : "failed");
  sqlite3_bind_int(m_update, 2, r.attempts);
  sqlite3_bind_double(m_update, 3, r.seconds);
  if (r.ok) sqlite3_bind_null(m_update, 4);
  else bind_text(m_update, 4, r.error);
  if (r.reduce_json.empty()) sqlite3_bind_null(m_update, 5);
  else bind_text(m_update, 5, r.reduce_json);
  if (r.ok && all_db) {
    if (m_all_db_json.empty()) {  // the same for every such run
      json all = json::object();
      for (const auto& o : r.outputs) all[o.name] = "db";
      m_all_db_json = all.dump();
    }
    bind_text(m_update, 6, m_all_db_json);
  } else if (r.ok) {
    bind_text(m_update, 6, where.dump());
  }
  else sqlite3_bind_null(m_update, 6);
  sqlite3_bind_int64(m_update, 7, m_session);
  if (m_now.empty()) m_now = utc_now();  // the group's time, taken at its first row
  bind_text(m_update, 8, m_now);
  sqlite3_bind_int64(m_update, 9, r.index);
  if (sqlite3_step(m_update) != SQLITE_DONE)
    throw BatchError(fmt::format("batch store: {}", sqlite3_errmsg(m_db)));
}

void BatchStore::commit() {
  if (!m_in_group) return;
  if (!m_dirs_to_sync.empty()) {
    // The renames of this group's files must be durable before the rows that name them.
    std::sort(m_dirs_to_sync.begin(), m_dirs_to_sync.end());
    m_dirs_to_sync.erase(std::unique(m_dirs_to_sync.begin(), m_dirs_to_sync.end()), m_dirs_to_sync.end());
    for (const auto& d : m_dirs_to_sync) fsync_path(d, O_RDONLY | O_DIRECTORY);
    fsync_path(m_folder + "/arrays", O_RDONLY | O_DIRECTORY);
    m_dirs_to_sync.clear();
  }
  exec("COMMIT");
  m_in_group = false;
  m_now.clear();
}

std::pair<std::int64_t, std::int64_t> BatchStore::counts() {
  Statement q(m_db, "SELECT count(*) FILTER (WHERE status = 'done'), "
                    "count(*) FILTER (WHERE status = 'failed') FROM runs");
  q.step();
  return {sqlite3_column_int64(q.get(), 0), sqlite3_column_int64(q.get(), 1)};
}

void BatchStore::end_session() {
  commit();
  Statement put(m_db, "UPDATE sessions SET ended = ? WHERE session = ?");
  bind_text(put.get(), 1, utc_now());
  sqlite3_bind_int64(put.get(), 2, m_session);
  put.step();
}

// ---- reading: the run table, summary.csv ----

namespace {

constexpr std::array<const char*, 6> kRunColumns = {"idx", "id", "status", "attempts", "seconds", "error"};

// The reader keeps each object's keys in the order its text has them (columns appear in
// first-seen order); a nested value that is not an array parameter is written with sorted keys.
using ordered_json = nlohmann::ordered_json;

TableCell json_cell(const ordered_json& v) {
  switch (v.type()) {
    case ordered_json::value_t::null: return std::monostate{};
    case ordered_json::value_t::boolean: return v.get<bool>();
    case ordered_json::value_t::number_integer: return v.get<std::int64_t>();
    case ordered_json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(u);
      return u;
    }
    case ordered_json::value_t::number_float: return v.get<double>();
    case ordered_json::value_t::string: return v.get<std::string>();
    default: {
      if (v.is_object()) {
        const auto npy = v.find("npy");
        if (npy != v.end() && npy->is_string()) return npy->get<std::string>();
      }
      return json::parse(v.dump()).dump();  // compact, keys sorted
    }
  }
}

TableCell column_cell(sqlite3_stmt* s, int col) {
  switch (sqlite3_column_type(s, col)) {
    case SQLITE_NULL: return std::monostate{};
    case SQLITE_INTEGER: return static_cast<std::int64_t>(sqlite3_column_int64(s, col));
    case SQLITE_FLOAT: return sqlite3_column_double(s, col);
    default: {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
      return std::string(t ? t : "", static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
    }
  }
}

// The columns of one JSON-object column of the runs table (params or reduce).
struct Keyed {
  std::vector<std::string> names;             // first-seen order
  std::map<std::string, std::size_t> column;  // name -> position in names
  std::vector<std::vector<TableCell>> values;

  void add(std::size_t row, const std::string& text) {
    if (text.empty()) return;
    ordered_json object = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!object.is_object()) return;  // not an object (or malformed): no values
    for (auto& [key, value] : object.items()) {
      auto [it, fresh] = column.try_emplace(key, names.size());
      if (fresh) {
        names.push_back(key);
        values.emplace_back();
      }
      auto& cells = values[it->second];
      cells.resize(row + 1);
      cells[row] = json_cell(value);
    }
  }
};

std::string csv_field(const TableCell& cell) {
  struct Text {
    std::string operator()(std::monostate) const { return {}; }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(std::uint64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return number_text(v); }
    std::string operator()(bool v) const { return v ? "True" : "False"; }
    std::string operator()(const std::string& v) const { return v; }
  };
  std::string text = std::visit(Text{}, cell);
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

}  // namespace

RunTable read_run_table(const std::string& db_path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  if (rc != SQLITE_OK)
    throw BatchError(fmt::format("cannot open {}: {}", db_path, raw ? sqlite3_errmsg(raw) : "out of memory"));
  sqlite3_busy_timeout(raw, 10000);  // waits only while a WAL index is rebuilt after a crash
  Statement begin(raw, "BEGIN");      // one snapshot for what follows
  begin.step();
  Statement q(raw, "SELECT idx, id, status, attempts, seconds, error, params, reduce FROM runs ORDER BY idx");
  RunTable t;
  std::vector<std::vector<TableCell>> fixed(kRunColumns.size());
  Keyed params, reduces;
  std::size_t rows = 0;
  while (q.step()) {
    for (std::size_t c = 0; c < kRunColumns.size(); ++c) fixed[c].push_back(column_cell(q.get(), static_cast<int>(c)));
    params.add(rows, q.text(6));
    reduces.add(rows, q.text(7));
    ++rows;
  }
  Statement end(raw, "COMMIT");
  end.step();

  std::set<std::string> taken(kRunColumns.begin(), kRunColumns.end());
  const std::set<std::string> run_columns = taken;
  for (std::size_t c = 0; c < kRunColumns.size(); ++c) {
    t.columns.emplace_back(kRunColumns[c]);
    t.values.push_back(std::move(fixed[c]));
  }
  for (std::size_t k = 0; k < params.names.size(); ++k) {
    const std::string& n = params.names[k];
    t.columns.push_back(run_columns.count(n) ? "param." + n : n);
    params.values[k].resize(rows);
    t.values.push_back(std::move(params.values[k]));
  }
  taken.insert(t.columns.begin() + static_cast<std::ptrdiff_t>(kRunColumns.size()), t.columns.end());
  for (std::size_t k = 0; k < reduces.names.size(); ++k) {
    const std::string& n = reduces.names[k];
    t.columns.push_back(taken.count(n) ? "reduce." + n : n);
    reduces.values[k].resize(rows);
    t.values.push_back(std::move(reduces.values[k]));
  }
  return t;
}

void write_summary_csv(const RunTable& table, const std::string& target) {
  std::vector<std::size_t> order;
  std::size_t error_column = table.columns.size();
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    if (c < kRunColumns.size() && table.columns[c] == "error") error_column = c;
    else order.push_back(c);
  }
  if (error_column < table.columns.size()) order.push_back(error_column);
  std::string out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i) out += ',';
    out += csv_field(table.columns[order[i]]);
  }
  out += "\r\n";
  const std::size_t rows = table.values.empty() ? 0 : table.values[0].size();
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (i) out += ',';
      out += csv_field(table.values[order[i]][r]);
    }
    out += "\r\n";
  }
  const fs::path path(target);
  const std::string tmp = (path.parent_path() / fmt::format(".{}.{}.tmp", path.filename().string(), ::getpid())).string();
  write_file_durably(target, out, tmp, /*exclusive=*/true);
}

}  // namespace simhost
