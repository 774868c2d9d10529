// The batch engine without Python: .npy bytes against numpy's own, specs and the run tables
// they expand to, the SQLite store, and whole batches through run_batch() with plain hooks.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "simhost/batch.hpp"
#include "simhost/batch_spec.hpp"
#include "simhost/batch_store.hpp"
#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"
#include "simhost/npy.hpp"
#include "simhost/registry.hpp"

using namespace simhost;
using namespace std::literals;
namespace fs = std::filesystem;

namespace {

// ---- test vectors ----
// The bytes numpy 1.24.2 (Debian's python3-numpy) writes, made once with /usr/bin/python3:
//   b = io.BytesIO(); numpy.save(b, a); b.getvalue()
// (numpy.lib.format.write_array(b, a, version=(2, 0)) for kNpyV2Vector), each byte outside
// printable ASCII as a three-digit octal escape. The arrays:
//   kNpyF8Scalar     numpy.array(1.5)                         0-d float64
//   kNpyF8Vector     numpy.array([1.0, -2.5, 0.125])
//   kNpyF8Matrix     numpy.arange(6.0).reshape(2, 3)
//   kNpyF8Empty      numpy.zeros((0,))
//   kNpyF8EmptyRows  numpy.zeros((2, 0))
//   kNpyI8Vector     numpy.array([1, -2, 3], dtype='<i8')
//   kNpyI4Matrix     numpy.array([[7, -8], [9, 10]], dtype='<i4')
//   kNpyI1Vector     numpy.array([-1, 1, 1, -1], dtype='i1')
//   kNpyB1Vector     numpy.array([True, False, True])
//   kNpyF8Ones16d    numpy.ones((1,) * 16)
//   kNpyFortran      numpy.asfortranarray(numpy.arange(4.0).reshape(2, 2))
//   kNpyBigEndianF4  numpy.array([1, 2, 3], dtype='>f4')
//   kNpyLittleF4     numpy.array([1, 2, 3], dtype='<f4')
//   kNpyV2Vector     numpy.array([1.0, -2.5, 0.125]), format version 2.0
constexpr std::string_view kNpyF8Scalar =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape': (), }       "
    "                                                       \012\000\000\000\000\000\000"
    "\370\077"sv;

constexpr std::string_view kNpyF8Vector =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }     "
    "                                                       \012\000\000\000\000\000\000"
    "\360\077\000\000\000\000\000\000\004\300\000\000\000\000\000\000\300\077"sv;

constexpr std::string_view kNpyF8Matrix =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }   "
    "                                                       \012\000\000\000\000\000\000"
    "\000\000\000\000\000\000\000\000\360\077\000\000\000\000\000\000\000@\000\000\000"
    "\000\000\000\010@\000\000\000\000\000\000\020@\000\000\000\000\000\000\024@"sv;

constexpr std::string_view kNpyF8Empty =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }     "
    "                                                       \012"sv;

constexpr std::string_view kNpyF8EmptyRows =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'shape': (2, 0), }   "
    "                                                       \012"sv;

constexpr std::string_view kNpyI8Vector =
    "\223NUMPY\001\000v\000{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }     "
    "                                                       \012\001\000\000\000\000\000"
    "\000\000\376\377\377\377\377\377\377\377\003\000\000\000\000\000\000\000"sv;

constexpr std::string_view kNpyI4Matrix =
    "\223NUMPY\001\000v\000{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }   "
    "                                                       \012\007\000\000\000\370\377"
    "\377\377\011\000\000\000\012\000\000\000"sv;

constexpr std::string_view kNpyI1Vector =
    "\223NUMPY\001\000v\000{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }     "
    "                                                       \012\377\001\001\377"sv;

constexpr std::string_view kNpyB1Vector =
    "\223NUMPY\001\000v\000{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }     "
    "                                                       \012\001\000\001"sv;

constexpr std::string_view kNpyF8Ones16d =
    "\223NUMPY\001\000\266\000{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1,"
    " 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }                                          "
    "                                      \012\000\000\000\000\000\000\360\077"sv;

constexpr std::string_view kNpyFortran =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }    "
    "                                                       \012\000\000\000\000\000\000"
    "\000\000\000\000\000\000\000\000\000@\000\000\000\000\000\000\360\077\000\000\000"
    "\000\000\000\010@"sv;

constexpr std::string_view kNpyBigEndianF4 =
    "\223NUMPY\001\000v\000{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }     "
    "                                                       \012\077\200\000\000@\000\000"
    "\000@@\000\000"sv;

constexpr std::string_view kNpyLittleF4 =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }     "
    "                                                       \012\000\000\200\077\000\000"
    "\000@\000\000@@"sv;

constexpr std::string_view kNpyV2Vector =
    "\223NUMPY\002\000t\000\000\000{'descr': '<f8', 'fortran_order': False, 'shape': (3,)"
    ", }                                                          \012\000\000\000\000"
    "\000\000\360\077\000\000\000\000\000\000\004\300\000\000\000\000\000\000\300\077"sv;

// Made once with /usr/bin/python3 (hashlib, json.dumps(sort_keys=True, separators=(',', ':'))):
// hashlib.sha256(numpy.save bytes of (numpy.arange(16.0) / 16).reshape(4, 4)).hexdigest()
constexpr std::string_view kU0Sha256 =
    "08bda90336baaee2f75725c500d562e768ad7cf9831790c090be22e1663fe6e5";
// sha256('{"kernel":"ising2d","params":{"L":8,"beta":0.5,"seed":7,"sweeps":10}}')[:20]
constexpr std::string_view kIsingRunId = "1c1ebe8bdb7bf07d1d77";
// int(sha256('simhost seed\n2026\n{"L":8,"beta":0.5,"sweeps":10}\n1')[:16], 16) >> 1
constexpr std::uint64_t kDerivedSeed = 1503128816498938765ULL;
// The run id of the same run with that seed:
// sha256('{"kernel":"ising2d","params":{"L":8,"beta":0.5,"seed":1503128816498938765,"sweeps":10}}')[:20]
constexpr std::string_view kDerivedRunId = "ae7f8c22936f1290e104";
// [repr(float(x)) for x in numpy.linspace(0.3, 0.6, 13)]: the values and their JSON text.
// clang-format off
const std::vector<double> kLinspace = {0.3,   0.325, 0.35, 0.375, 0.39999999999999997,
                                       0.425, 0.44999999999999996, 0.475, 0.5,
                                       0.5249999999999999, 0.5499999999999999, 0.575, 0.6};
const std::vector<std::string> kLinspaceJson = {
    "0.3",   "0.325", "0.35", "0.375", "0.39999999999999997", "0.425", "0.44999999999999996",
    "0.475", "0.5", "0.5249999999999999", "0.5499999999999999", "0.575", "0.6"};
// clang-format on
// [repr(10.0 ** float(x)) for x in numpy.linspace(-3, -1, 5)] (Python's pow, glibc's);
// numpy.logspace(-3, -1, 5) differs in its last value (0.09999999999999999, numpy's own
// power loop), so the spec's logspace is 10**x of numpy.linspace's points, not numpy.logspace.
const std::vector<double> kLogspace = {0.001, 0.0031622776601683794, 0.01, 0.03162277660168379,
                                       0.1};

// ---- helpers ----

// A folder of its own under the system's temporary folder, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device random;
    for (;;) {
      m_path =
          (fs::temp_directory_path() / ("simhost_test_batch_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter++) + "_" + std::to_string(random())))
              .string();
      if (fs::create_directory(m_path)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return m_path; }
  std::string operator/(std::string_view name) const { return m_path + "/" + std::string(name); }

 private:
  std::string m_path;
};

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s)); }

// The built-in kernels, in a registry of the tests' own.
const Registry& builtins() {
  static Registry registry;
  static const bool added = [] {
    add_builtin_kernels(registry);
    return true;
  }();
  (void)added;
  return registry;
}

// A spec as the file sweep.toml in `dir` would give it.
BatchSpec parse(const std::string& text, const TempDir& dir) {
  return parse_batch_spec(text, "sweep.toml", dir.path(), builtins());
}

// What parse() throws as SpecError, or a text saying what happened instead.
std::string spec_error(const std::string& text, const TempDir& dir) {
  try {
    parse(text, dir);
  } catch (const SpecError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not a SpecError> ") + e.what();
  }
  return "<no error>";
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

const Value& param(const BatchRun& run, std::string_view name) {
  for (const auto& [n, v] : run.params)
    if (n == name) return v;
  FAIL("run " << run.index << " has no parameter " << name);
  throw std::logic_error("unreachable");
}
double f64(const BatchRun& run, std::string_view name) {
  return std::get<double>(param(run, name));
}
std::int64_t i64(const BatchRun& run, std::string_view name) {
  return std::get<std::int64_t>(param(run, name));
}
std::string str(const BatchRun& run, std::string_view name) {
  return std::get<std::string>(param(run, name));
}

// Rows of a query on a store's database (read-only), every column as text or blob bytes,
// NULL as "<null>".
using Rows = std::vector<std::vector<std::string>>;
Rows query(const std::string& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const int prepared = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (prepared != SQLITE_OK) {
    const std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    FAIL("cannot prepare " << sql << ": " << message);
  }
  Rows rows;
  int rc = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
        row.emplace_back("<null>");
        continue;
      }
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
      row.emplace_back(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_DONE);
  return rows;
}

std::string db_of(const std::string& folder) { return folder + "/batch.sqlite"; }

// "2026-12-02T07:41:57.123Z"
bool is_utc_time(const std::string& t) {
  if (t.size() != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
      t[16] != ':' || t[19] != '.' || t[23] != 'Z')
    return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22})
    if (t[i] < '0' || t[i] > '9') return false;
  return true;
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

// ==== .npy ====

TEST_CASE(
    "npy_encode writes numpy.save's bytes for every dtype and for 0-d, 1-d, 2-d and empty shapes") {
  const double scalar = 1.5;
  const std::vector<double> vector = {1.0, -2.5, 0.125};
  const std::vector<double> matrix = {0, 1, 2, 3, 4, 5};
  const std::vector<std::int64_t> i8 = {1, -2, 3};
  const std::vector<std::int32_t> i4 = {7, -8, 9, 10};
  const std::vector<std::int8_t> i1 = {-1, 1, 1, -1};
  const bool b1[] = {true, false, true};
  CHECK(npy_encode(&scalar, DType::Float64, {}) == kNpyF8Scalar);
  CHECK(npy_encode(vector.data(), DType::Float64, {3}) == kNpyF8Vector);
  CHECK(npy_encode(matrix.data(), DType::Float64, {2, 3}) == kNpyF8Matrix);
  CHECK(npy_encode(nullptr, DType::Float64, {0}) == kNpyF8Empty);
  CHECK(npy_encode(nullptr, DType::Float64, {2, 0}) == kNpyF8EmptyRows);
  CHECK(npy_encode(i8.data(), DType::Int64, {3}) == kNpyI8Vector);
  CHECK(npy_encode(i4.data(), DType::Int32, {2, 2}) == kNpyI4Matrix);
  CHECK(npy_encode(i1.data(), DType::Int8, {4}) == kNpyI1Vector);
  CHECK(npy_encode(b1, DType::Bool, {3}) == kNpyB1Vector);
}

// numpy.save leaves room after the header dict for the first dimension to grow to 21 digits
// (numpy.lib.format's GROWTH_AXIS_MAX_DIGITS) before padding to 64 bytes, and pads a header
// that is already a multiple of 64 by 64 more. A short dict (every shape above) hides the
// difference from padding the bare dict; from 15 one-digit dimensions on it shows (a
// 192-byte header in numpy.save, 128 without the growth room).
TEST_CASE("a header long enough to need the growth room is padded as numpy.save pads it") {
  const double one = 1.0;
  const std::vector<std::int64_t> shape(16, 1);
  const std::string bytes = npy_encode(&one, DType::Float64, shape);
  CHECK(bytes.size() == kNpyF8Ones16d.size());
  CHECK(bytes == kNpyF8Ones16d);
}

TEST_CASE(
    "npy_decode reads back every dtype and shape numpy wrote, and npy_encode writes the same bytes "
    "again") {
  const std::vector<std::pair<std::string_view, std::vector<std::int64_t>>> cases = {
      {kNpyF8Scalar, {}},     {kNpyF8Vector, {3}},       {kNpyF8Matrix, {2, 3}},
      {kNpyF8Empty, {0}},     {kNpyF8EmptyRows, {2, 0}}, {kNpyI8Vector, {3}},
      {kNpyI4Matrix, {2, 2}}, {kNpyI1Vector, {4}},       {kNpyB1Vector, {3}},
  };
  const std::vector<DType> dtypes = {DType::Float64, DType::Float64, DType::Float64,
                                     DType::Float64, DType::Float64, DType::Int64,
                                     DType::Int32,   DType::Int8,    DType::Bool};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [bytes, shape] = cases[i];
    CAPTURE(i);
    const NpyArray a = npy_decode(bytes_of(bytes), "case.npy");
    CHECK(a.view.dtype == dtypes[i]);
    CHECK(a.view.shape == shape);
    const std::size_t n = a.view.bytes();
    REQUIRE(n <= bytes.size());
    CHECK(std::memcmp(a.view.data, bytes.data() + bytes.size() - n, n) == 0);
    CHECK(npy_encode(a.view.data, a.view.dtype, a.view.shape) == bytes);
  }
  const NpyArray m = npy_decode(bytes_of(kNpyF8Matrix), "m.npy");
  CHECK(m.view.as<double>()[4] == 4.0);
  const NpyArray b = npy_decode(bytes_of(kNpyB1Vector), "b.npy");
  CHECK(b.view.as<bool>()[0]);
  CHECK_FALSE(b.view.as<bool>()[1]);
  const NpyArray s = npy_decode(bytes_of(kNpyF8Scalar), "s.npy");
  CHECK(s.view.as<double>()[0] == 1.5);
  CHECK(s.view.size() == 1);

  // And through a file: npy_load reads what npy_encode wrote.
  TempDir dir;
  const std::vector<std::int32_t> values = {3, 1, 4, 1, 5, 9};
  write_file(dir / "a.npy", npy_encode(values.data(), DType::Int32, {3, 2}));
  const NpyArray f = npy_load(dir / "a.npy");
  CHECK(f.view.shape == std::vector<std::int64_t>{3, 2});
  const auto got = f.view.as<std::int32_t>();
  CHECK(std::vector<std::int32_t>(got.begin(), got.end()) == values);
}

TEST_CASE("a version 2.0 header is read like a 1.0 one") {
  const NpyArray a = npy_decode(bytes_of(kNpyV2Vector), "v2.npy");
  CHECK(a.view.dtype == DType::Float64);
  CHECK(a.view.shape == std::vector<std::int64_t>{3});
  const auto x = a.view.as<double>();
  CHECK(std::vector<double>(x.begin(), x.end()) == std::vector<double>{1.0, -2.5, 0.125});
}

TEST_CASE("npy_decode refuses what it does not read, naming the source and the reason") {
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of("hello, not an array at all"sv), "x.npy"),
                       "x.npy: not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(
      npy_decode(bytes_of("\223NUM"sv), "short.npy"),
      "short.npy: not a .npy file (no \\x93NUMPY magic); save arrays with numpy.save",
      ArgumentValueError);
  CHECK_THROWS_WITH_AS(
      npy_decode(bytes_of(kNpyFortran), "f.npy"),
      "f.npy: Fortran-ordered arrays are not read; save numpy.ascontiguousarray(a)",
      ArgumentValueError);
  for (auto [bytes, descr] :
       {std::pair{kNpyBigEndianF4, ">f4"sv}, std::pair{kNpyLittleF4, "<f4"sv}}) {
    const std::string message = "f4.npy: dtype '" + std::string(descr) +
                                "' is not read; simhost arrays are float64 ('<f8'), int64, int32, "
                                "int8 or bool (convert with a.astype(...))";
    CHECK_THROWS_WITH_AS(npy_decode(bytes_of(bytes), "f4.npy"), message.c_str(),
                         ArgumentValueError);
  }
  // Data one byte short, or one byte long.
  CHECK_THROWS_WITH_AS(
      npy_decode(bytes_of(kNpyF8Vector.substr(0, kNpyF8Vector.size() - 1)), "t.npy"),
      "t.npy: holds 23 bytes of data, but a float64 array of shape (3,) has 24 "
      "(truncated file?)",
      ArgumentValueError);
  const std::string longer = std::string(kNpyF8Vector) + "x";
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(longer), "l.npy"),
                       "l.npy: holds 25 bytes of data, but a float64 array of shape (3,) has 24",
                       ArgumentValueError);
  // The header cut short.
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(kNpyF8Vector.substr(0, 40)), "h.npy"),
                       "h.npy: truncated .npy header", ArgumentValueError);
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(kNpyV2Vector.substr(0, 11)), "h2.npy"),
                       "h2.npy: truncated .npy header", ArgumentValueError);
  // Malformed headers: a key missing, a shape that is not a tuple of integers.
  const auto edited = [](std::string_view bytes, std::string_view from, std::string_view to) {
    std::string s(bytes);
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return s;
  };
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(edited(kNpyF8Vector, "'shape'", "'shope'")), "m.npy"),
                       "m.npy: malformed .npy header (no descr, fortran_order or shape)",
                       ArgumentValueError);
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(edited(kNpyF8Vector, "(3,)", "(x,)")), "m.npy"),
                       "m.npy: malformed .npy header (shape)", ArgumentValueError);
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(edited(kNpyF8Vector, "False", "Maybe")), "m.npy"),
                       "m.npy: malformed .npy header (fortran_order)", ArgumentValueError);
  // An unknown format version.
  std::string v4(kNpyF8Vector);
  v4[6] = '\004';
  CHECK_THROWS_WITH_AS(npy_decode(bytes_of(v4), "v4.npy"),
                       "v4.npy: .npy format version 4.0 is not read (1.0, 2.0 and 3.0 are)",
                       ArgumentValueError);
  // A file that is not there.
  TempDir dir;
  CHECK_THROWS_WITH_AS(npy_load(dir / "missing.npy"),
                       doctest::Contains("missing.npy: cannot open the file"), ArgumentValueError);
}

// ==== specs and run tables ====

TEST_CASE("a grid expands in spec order, its first key outermost, replicates innermost") {
  TempDir dir;
  // h comes before beta in the file (not in the alphabet): h is the outer axis.
  const BatchSpec spec = parse(R"(kernel = "ising2d"
replicates = 2
[params]
L = 4
sweeps = 1
[grid]
h = [0.0, 0.5]
beta = [0.1, 0.2, 0.3]
)",
                               dir);
  CHECK(spec.kernel == builtins().find("ising2d"));
  CHECK(spec.replicates == 2);
  CHECK(spec.derives_seed);
  CHECK(spec.outputs == std::vector<std::string>{"spins", "magnetization", "energy"});
  CHECK(spec.fixed_json == R"({"L":4,"sweeps":1})");
  REQUIRE(spec.runs.size() == 12);
  const std::vector<double> hs = {0.0, 0.5}, betas = {0.1, 0.2, 0.3};
  for (std::size_t idx = 0; idx < spec.runs.size(); ++idx) {
    const BatchRun& run = spec.runs[idx];
    CAPTURE(idx);
    CHECK(run.index == static_cast<std::int64_t>(idx));
    CHECK(f64(run, "h") == hs[idx / 6]);
    CHECK(f64(run, "beta") == betas[idx / 2 % 3]);
    CHECK(i64(run, "L") == 4);
    CHECK(i64(run, "sweeps") == 1);
    // The parameters in the kernel's order, the derived seed among them.
    std::vector<std::string> names;
    for (const auto& [n, v] : run.params) names.push_back(n);
    CHECK(names == std::vector<std::string>{"L", "beta", "h", "sweeps", "seed"});
    CHECK(run.id == run_id("ising2d", run.params_json));
  }
  // The replicates of a point differ by their seed alone.
  CHECK(i64(spec.runs[0], "seed") != i64(spec.runs[1], "seed"));
  CHECK(spec.runs[0].params_json == R"({"L":4,"beta":0.1,"h":0.0,"seed":)" +
                                        std::to_string(i64(spec.runs[0], "seed")) +
                                        R"(,"sweeps":1})");
}

TEST_CASE(
    "linspace gives numpy.linspace's values bit for bit, its endpoints exact, as shortest JSON") {
  TempDir dir;
  const BatchSpec spec = parse(R"(kernel = "ising2d"
[params]
L = 4
sweeps = 1
seed = 3
[grid]
beta = { linspace = [0.3, 0.6, 13] }
)",
                               dir);
  REQUIRE(spec.runs.size() == kLinspace.size());
  for (std::size_t i = 0; i < kLinspace.size(); ++i) {
    CAPTURE(i);
    CHECK(f64(spec.runs[i], "beta") == kLinspace[i]);
    CHECK(spec.runs[i].params_json ==
          R"({"L":4,"beta":)" + kLinspaceJson[i] + R"(,"seed":3,"sweeps":1})");
  }
  CHECK(f64(spec.runs.front(), "beta") == 0.3);
  CHECK(f64(spec.runs.back(), "beta") == 0.6);
  // num = 1: the start alone, as numpy gives it.
  const BatchSpec one = parse(R"(kernel = "ising2d"
[params]
L = 4
sweeps = 1
[grid]
beta = { linspace = [0.25, 0.5, 1] }
)",
                              dir);
  REQUIRE(one.runs.size() == 1);
  CHECK(f64(one.runs[0], "beta") == 0.25);
}

TEST_CASE(
    "logspace gives 10 to the power of linspace's points, range gives integers with stop "
    "excluded") {
  TempDir dir;
  const BatchSpec log = parse(R"(kernel = "ising2d"
[params]
L = 4
sweeps = 1
[grid]
beta = { logspace = [-3, -1, 5] }
)",
                              dir);
  REQUIRE(log.runs.size() == kLogspace.size());
  for (std::size_t i = 0; i < kLogspace.size(); ++i)
    CHECK(f64(log.runs[i], "beta") == kLogspace[i]);

  const auto sweeps_of = [&](const std::string& range) {
    const BatchSpec spec = parse(
        "kernel = \"ising2d\"\n[params]\nL = 4\nbeta = 0.4\n[grid]\nsweeps = " + range + "\n", dir);
    std::vector<std::int64_t> out;
    for (const auto& run : spec.runs) out.push_back(i64(run, "sweeps"));
    return out;
  };
  CHECK(sweeps_of("{ range = [2, 11, 3] }") == std::vector<std::int64_t>{2, 5, 8});
  CHECK(sweeps_of("{ range = [2, 12, 5] }") == std::vector<std::int64_t>{2, 7});
  CHECK(sweeps_of("{ range = [10, 0, -4] }") == std::vector<std::int64_t>{10, 6, 2});
  CHECK(sweeps_of("[5, 1, 3]") == std::vector<std::int64_t>{5, 1, 3});
}

TEST_CASE("zip advances its lists together, after the grid axes and before the replicates") {
  TempDir dir;
  const BatchSpec spec = parse(R"(kernel = "ising2d"
replicates = 2
[params]
L = 4
[grid]
h = [0.0, 0.5]
[zip]
beta = [0.1, 0.2, 0.3]
sweeps = [1, 2, 3]
)",
                               dir);
  REQUIRE(spec.runs.size() == 12);
  for (std::size_t idx = 0; idx < spec.runs.size(); ++idx) {
    CAPTURE(idx);
    const std::size_t z = idx / 2 % 3;
    CHECK(f64(spec.runs[idx], "h") == (idx < 6 ? 0.0 : 0.5));
    CHECK(f64(spec.runs[idx], "beta") == std::vector<double>{0.1, 0.2, 0.3}[z]);
    CHECK(i64(spec.runs[idx], "sweeps") == static_cast<std::int64_t>(z + 1));
  }
}

TEST_CASE("several [[zip]] groups make a product, the first group outermost") {
  TempDir dir;
  const BatchSpec spec = parse(R"(kernel = "ising2d"
[params]
L = 4
[[zip]]
beta = [0.1, 0.2]
sweeps = [1, 2]
[[zip]]
h = [0.0, 0.25, 0.5]
start = ["hot", "cold", "hot"]
)",
                               dir);
  REQUIRE(spec.runs.size() == 6);
  const std::vector<std::string> starts = {"hot", "cold", "hot"};
  for (std::size_t idx = 0; idx < 6; ++idx) {
    CAPTURE(idx);
    CHECK(f64(spec.runs[idx], "beta") == (idx < 3 ? 0.1 : 0.2));
    CHECK(i64(spec.runs[idx], "sweeps") == (idx < 3 ? 1 : 2));
    CHECK(f64(spec.runs[idx], "h") == std::vector<double>{0.0, 0.25, 0.5}[idx % 3]);
    CHECK(str(spec.runs[idx], "start") == starts[idx % 3]);
  }
}

TEST_CASE(
    "random draws are seeded, in bounds, and the same whatever order their keys are written in") {
  TempDir dir;
  const std::string head =
      "kernel = \"ising2d\"\nseed = 11\n[params]\nL = 4\n[random]\ndraws = 40\n";
  const std::string text = head + R"(beta = { uniform = [0.2, 0.4] }
h = { normal = [1.0, 0.5] }
sweeps = { uniform = [1, 3] }
start = { choice = ["hot", "cold"] }
)";
  const std::string reordered = head + R"(start = { choice = ["hot", "cold"] }
sweeps = { uniform = [1, 3] }
h = { normal = [1.0, 0.5] }
beta = { uniform = [0.2, 0.4] }
)";
  const BatchSpec spec = parse(text, dir);
  const BatchSpec again = parse(text, dir);
  const BatchSpec other_order = parse(reordered, dir);
  REQUIRE(spec.runs.size() == 40);
  REQUIRE(other_order.runs.size() == 40);
  std::set<std::int64_t> sweeps;
  std::set<std::string> starts;
  std::set<double> betas;
  double h_sum = 0;
  for (std::size_t d = 0; d < 40; ++d) {
    CAPTURE(d);
    const BatchRun& run = spec.runs[d];
    CHECK(run.params_json == again.runs[d].params_json);
    CHECK(run.params_json == other_order.runs[d].params_json);
    CHECK(run.id == other_order.runs[d].id);
    const double beta = f64(run, "beta");
    CHECK(beta >= 0.2);
    CHECK(beta <= 0.4);
    betas.insert(beta);
    const std::int64_t s = i64(run, "sweeps");
    CHECK(s >= 1);
    CHECK(s <= 3);
    sweeps.insert(s);
    starts.insert(str(run, "start"));
    CHECK(std::isfinite(f64(run, "h")));
    h_sum += f64(run, "h");
  }
  CHECK(betas.size() == 40);
  CHECK(sweeps == std::set<std::int64_t>{1, 2, 3});  // both ends of [1, 3] inclusive
  CHECK(starts == std::set<std::string>{"cold", "hot"});
  // 40 draws of N(1, 0.5): the mean's standard error is 0.08.
  constexpr double kMeanTolerance = 0.4;
  CHECK(std::abs(h_sum / 40 - 1.0) <= kMeanTolerance);

  // A parameter's draws depend on the batch seed and its own name, not on the others drawn.
  const BatchSpec beta_only = parse(
      "kernel = \"ising2d\"\nseed = 11\n[params]\nL = 4\nsweeps = 1\n[random]\ndraws = 40\n"
      "beta = { uniform = [0.2, 0.4] }\n",
      dir);
  for (std::size_t d = 0; d < 40; ++d)
    CHECK(f64(beta_only.runs[d], "beta") == f64(spec.runs[d], "beta"));
  std::string reseeded = text;
  reseeded.replace(reseeded.find("seed = 11"), 9, "seed = 12");
  const BatchSpec other_seed = parse(reseeded, dir);
  std::size_t same = 0;
  for (std::size_t d = 0; d < 40; ++d)
    same += f64(other_seed.runs[d], "beta") == f64(spec.runs[d], "beta");
  CHECK(same == 0);

  // loguniform stays in its bounds and reaches across the decades.
  const BatchSpec log = parse(R"(kernel = "ising2d"
[params]
L = 4
sweeps = 1
[random]
draws = 50
beta = { loguniform = [0.001, 1.0] }
)",
                              dir);
  double lo = 1, hi = 0;
  for (const auto& run : log.runs) {
    lo = std::min(lo, f64(run, "beta"));
    hi = std::max(hi, f64(run, "beta"));
  }
  CHECK(lo >= 0.001);
  CHECK(hi <= 1.0);
  CHECK(lo < 0.01);  // below the geometric middle's decade...
  CHECK(hi > 0.1);   // ...and above it
}

TEST_CASE(
    "replicates get distinct derived seeds that depend on what a run is, never on its place") {
  TempDir dir;
  const std::string text = R"(kernel = "ising2d"
seed = 2026
replicates = 3
[params]
L = 8
sweeps = 10
[grid]
beta = [0.3, 0.5]
)";
  const BatchSpec spec = parse(text, dir);
  const BatchSpec again = parse(text, dir);
  REQUIRE(spec.runs.size() == 6);
  std::set<std::int64_t> seeds;
  for (std::size_t i = 0; i < 6; ++i) {
    seeds.insert(i64(spec.runs[i], "seed"));
    CHECK(i64(spec.runs[i], "seed") == i64(again.runs[i], "seed"));
    CHECK(spec.runs[i].id == again.runs[i].id);
    CHECK(i64(spec.runs[i], "seed") >= 0);  // 63 bits
  }
  CHECK(seeds.size() == 6);
  // beta = 0.5, replicate 1: the seed and id computed independently (hashlib).
  const BatchRun& run = spec.runs[4];
  CHECK(f64(run, "beta") == 0.5);
  CHECK(static_cast<std::uint64_t>(i64(run, "seed")) == kDerivedSeed);
  CHECK(derive_seed(2026, R"({"L":8,"beta":0.5,"sweeps":10})", 1) == kDerivedSeed);
  CHECK(run.id == kDerivedRunId);
  // The same point elsewhere in another sweep (index 1, not 4) has the same seed and id.
  std::string moved = text;
  moved.replace(moved.find("[0.3, 0.5]"), 10, "[0.5, 0.7, 0.9]");
  const BatchSpec other = parse(moved, dir);
  CHECK(other.runs[1].id == kDerivedRunId);
  CHECK(static_cast<std::uint64_t>(i64(other.runs[1], "seed")) == kDerivedSeed);
}

TEST_CASE("a run id is the first 20 hex digits of SHA-256 of the canonical kernel and parameters") {
  TempDir dir;
  const BatchSpec spec = parse(R"(kernel = "ising2d"
[params]
sweeps = 10
seed = 7
beta = 0.5
L = 8
)",
                               dir);
  REQUIRE(spec.runs.size() == 1);
  CHECK_FALSE(spec.derives_seed);
  CHECK(spec.runs[0].params_json == R"({"L":8,"beta":0.5,"seed":7,"sweeps":10})");
  CHECK(spec.runs[0].id == kIsingRunId);
  CHECK(run_id("ising2d", R"({"L":8,"beta":0.5,"seed":7,"sweeps":10})") == kIsingRunId);
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// The contract's canonical JSON writes floats as their shortest round-trip text (Python's
// repr and json.dumps), not as nlohmann::json's Grisu2 dump() does: it writes 5.58765690525698
// as 5.5876569052569796 (about 1 double in 1500), which would give the run another id than
// an independent implementation (hashlib over json.dumps) computes. Made with /usr/bin/python3: json.dumps({"kernel": "ising2d", "params": {"L": 4,
// "beta": 5.58765690525698, "seed": 1, "sweeps": 1}}, sort_keys=True, separators=(',', ':'))
// and the first 20 hex digits of its SHA-256.
TEST_CASE("a float's canonical JSON is its shortest round-trip text, as Python's repr writes it") {
  TempDir dir;
  const BatchSpec spec = parse(
      "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\nseed = 1\nbeta = 5.58765690525698\n",
      dir);
  CHECK(f64(spec.runs[0], "beta") == 5.58765690525698);
  CHECK(spec.runs[0].params_json == R"({"L":4,"beta":5.58765690525698,"seed":1,"sweeps":1})");
  CHECK(spec.runs[0].id == "ab765c4f195bd8160863");
}

TEST_CASE("an integer given to a float parameter counts as that float, in the run and its id") {
  TempDir dir;
  const auto spec_with = [&](const std::string& beta) {
    return parse(
        "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\nseed = 1\nbeta = " + beta + "\n", dir);
  };
  const BatchSpec as_int = spec_with("1");
  const BatchSpec as_float = spec_with("1.0");
  CHECK(std::holds_alternative<double>(param(as_int.runs[0], "beta")));
  CHECK(f64(as_int.runs[0], "beta") == 1.0);
  CHECK(as_int.runs[0].params_json == R"({"L":4,"beta":1.0,"seed":1,"sweeps":1})");
  CHECK(as_int.runs[0].id == as_float.runs[0].id);
  CHECK(as_int.fixed_json == as_float.fixed_json);
  // So a list holding 1 and 1.0 repeats a run.
  CHECK(contains(
      spec_error("kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\n[grid]\nbeta = [1, 1.0]\n",
                 dir),
      "runs 0 and 1 have the same parameters"));
}

TEST_CASE(
    "an npy parameter is read from the spec's folder and stands in params_json by its name and "
    "SHA-256") {
  TempDir dir;
  std::vector<double> u0(16);
  for (std::size_t i = 0; i < 16; ++i) u0[i] = static_cast<double>(i) / 16;
  write_file(dir / "u0.npy", npy_encode(u0.data(), DType::Float64, {4, 4}));
  CHECK(sha256_file(dir / "u0.npy") == kU0Sha256);
  const BatchSpec spec = parse(R"(kernel = "heat2d"
[params]
u0 = { npy = "u0.npy" }
steps = 3
[grid]
r = [0.1, 0.2]
)",
                               dir);
  REQUIRE(spec.runs.size() == 2);
  REQUIRE(spec.arrays.size() == 1);
  CHECK(spec.fixed_json ==
        R"({"steps":3,"u0":{"npy":"u0.npy","sha256":")" + std::string(kU0Sha256) + "\"}}");
  for (const auto& run : spec.runs) {
    CHECK(run.params_json == R"({"r":)" + std::string(run.index == 0 ? "0.1" : "0.2") +
                                 R"(,"steps":3,"u0":{"npy":"u0.npy","sha256":")" +
                                 std::string(kU0Sha256) + "\"}}");
    const auto& view = std::get<ConstArrayView>(param(run, "u0"));
    CHECK(view.shape == std::vector<std::int64_t>{4, 4});
    CHECK(view.data == spec.arrays[0]->view.data);  // a view of the spec's memory
    const auto x = view.as<double>();
    CHECK(std::vector<double>(x.begin(), x.end()) == u0);
  }
  // load_batch_spec reads the file and takes relative paths from its folder.
  fs::create_directories(dir / "sub");
  write_file(dir / "sub/sweep.toml",
             "kernel = \"heat2d\"\n[params]\nu0 = { npy = \"../u0.npy\" }\nsteps = 1\nr = 0.2\n");
  const BatchSpec loaded = load_batch_spec(dir / "sub/sweep.toml", builtins());
  CHECK(loaded.path == dir / "sub/sweep.toml");
  CHECK(loaded.sha256 == sha256_hex(read_file(dir / "sub/sweep.toml")));
  CHECK(contains(loaded.runs[0].params_json, std::string(kU0Sha256)));
}

// ==== spec errors ====

TEST_CASE("a TOML syntax error names the spec's line") {
  TempDir dir;
  const std::string e = spec_error("kernel = \"ising2d\"\n[params]\nL = = 4\n", dir);
  CHECK(e.starts_with("sweep.toml:3: TOML syntax: "));
}

TEST_CASE("an unknown top-level key, kernel or parameter names its line and the close match") {
  TempDir dir;
  CHECK(spec_error("kernel = \"ising2d\"\nseeds = 3\n", dir) ==
        "sweep.toml:2: seeds: unknown key 'seeds'; did you mean 'seed'? (the keys are 'kernel', "
        "'seed', 'outputs', 'setup', 'reduce', 'timeout', 'retries', 'replicates', 'params', "
        "'grid', 'zip' or 'random')");
  CHECK(spec_error("seed = 1\nkernel = \"isingg2d\"\n", dir) ==
        "sweep.toml:2: kernel: unknown kernel 'isingg2d'; did you mean 'ising2d'? (`simhost "
        "kernels` lists them)");
  const std::string param = spec_error(
      "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\n[grid]\nbetta = [0.1, 0.2]\n", dir);
  CHECK(param.starts_with("sweep.toml:6: grid.betta: "));
  CHECK(contains(param, "'betta'"));
  CHECK(contains(param, "did you mean 'beta'?"));
  CHECK(spec_error("kernel = \"ising2d\"\n", dir) ==
        "sweep.toml: params: ising2d() needs parameter 'beta' (a float, 1/J): set it in [params], "
        "sweep it, or make it in a setup hook");
}

TEST_CASE("a value of the wrong type or out of the kernel's bounds is refused where it stands") {
  TempDir dir;
  const std::string type =
      spec_error("kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = \"many\"\nbeta = 0.4\n", dir);
  CHECK(type.starts_with("sweep.toml:4: params.sweeps: "));
  CHECK(contains(type, "'sweeps'"));
  CHECK(contains(type, "str 'many'"));
  CHECK(spec_error("kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\nbeta = [0.4]\n", dir) ==
        "sweep.toml:5: params.beta: [params] sets one value per parameter; to sweep 'beta' over a "
        "list, put it under [grid]");
  // The bad value's own line in a list spread over lines.
  CHECK(
      spec_error(
          "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\n[grid]\nbeta = [\n  0.3,\n  -1,\n]\n",
          dir) == "sweep.toml:8: grid.beta: ising2d(): parameter 'beta' must be >= 0.0, got -1.0");
  CHECK(
      spec_error("kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\nbeta = 0.4\nseed = -3\n", dir)
          .starts_with("sweep.toml:6: params.seed: "));
  CHECK(
      spec_error(
          "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\nbeta = 0.4\nstart = \"warm\"\n", dir)
          .starts_with("sweep.toml:6: params.start: "));
  const std::string array =
      spec_error("kernel = \"heat2d\"\n[params]\nu0 = 3\nsteps = 1\nr = 0.2\n", dir);
  CHECK(array ==
        "sweep.toml:3: params.u0: parameter 'u0' is a float64 array of shape (ny, nx): "
        "give it as { npy = \"file.npy\" } or from a setup hook, got a TOML integer");
}

TEST_CASE("empty sweeps and zip lists of unequal length are refused") {
  TempDir dir;
  const std::string head = "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\n";
  CHECK(spec_error(head + "[grid]\nbeta = []\n", dir) ==
        "sweep.toml:6: grid.beta: an empty list: the sweep would have no runs");
  CHECK(spec_error(head + "beta = 0.4\n[grid]\nseed = { range = [5, 5, 1] }\n", dir) ==
        "sweep.toml:7: grid.seed: range [5, 5, 1] is empty: the sweep would have no runs");
  CHECK(spec_error(head + "beta = 0.4\n[grid]\nseed = { range = [0, 5, 0] }\n", dir) ==
        "sweep.toml:7: grid.seed: range step must not be 0");
  CHECK(spec_error(head + "[grid]\nbeta = { linspace = [0.1, 0.2, 0] }\n", dir) ==
        "sweep.toml:6: grid.beta: linspace num must be between 1 and 10000000, got 0");
  CHECK(
      spec_error(
          "kernel = \"ising2d\"\n[params]\nL = 4\n[zip]\nbeta = [0.1, 0.2, 0.3]\nsweeps = [1, 2]\n",
          dir) ==
      "sweep.toml:6: zip.sweeps: zip lists must have equal lengths: 'sweeps' has 2 values, "
      "'beta' has 3");
  CHECK(spec_error(head + "[random]\nbeta = { uniform = [0.1, 0.2] }\n", dir) ==
        "sweep.toml:5: random: [random] needs draws = N, the number of random points");
  CHECK(spec_error(head + "[random]\ndraws = 3\nbeta = { uniform = [0.3, 0.2] }\n", dir) ==
        "sweep.toml:7: random.beta: uniform needs low <= high, got [0.3, 0.2]");
}

TEST_CASE(
    "a missing npy file, a parameter set twice and replicates beside an explicit seed are "
    "refused") {
  TempDir dir;
  CHECK(
      spec_error("kernel = \"heat2d\"\n[params]\nsteps = 1\nr = 0.2\nu0 = { npy = \"nope.npy\" }\n",
                 dir) == "sweep.toml:5: params.u0: no such file: " + (dir / "nope.npy") +
                             " (paths are taken from the spec's folder)");
  write_file(dir / "bad.npy", kNpyBigEndianF4);
  CHECK(contains(
      spec_error("kernel = \"heat2d\"\n[params]\nsteps = 1\nr = 0.2\nu0 = { npy = \"bad.npy\" }\n",
                 dir),
      "sweep.toml:5: params.u0: " + (dir / "bad.npy") + ": dtype '>f4' is not read"));
  CHECK(
      spec_error(
          "kernel = \"ising2d\"\n[params]\nL = 4\nbeta = 0.4\n[grid]\nL = [4, 8]\nsweeps = [1]\n",
          dir) ==
      "sweep.toml:6: grid.L: parameter 'L' is set twice: in [grid] and at sweep.toml:3: params.L");
  const std::string replicates = spec_error(
      "kernel = \"ising2d\"\nreplicates = 2\n[params]\nL = 4\nbeta = 0.4\nsweeps = 1\nseed = 5\n",
      dir);
  CHECK(replicates.starts_with("sweep.toml"));
  CHECK(contains(replicates,
                 "replicates: replicates differ only by seed, which the spec sets itself"));
  CHECK(contains(
      spec_error("kernel = \"heat2d\"\nreplicates = 2\n[params]\nsteps = 1\nr = 0.2\n", dir),
      "heat2d() has no seed parameter"));
}

// Every SpecError names the line: this one is found after the parameters are read, and
// still names the line of `replicates` (line 2 here).
TEST_CASE("replicates beside an explicit seed names the line of replicates") {
  TempDir dir;
  CHECK(spec_error("kernel = \"ising2d\"\nreplicates = 2\n[params]\nL = 4\nbeta = 0.4\nsweeps = "
                   "1\nseed = 5\n",
                   dir)
            .starts_with("sweep.toml:2: replicates: "));
}

TEST_CASE("an unknown output names the close match, duplicate runs name both indices") {
  TempDir dir;
  CHECK(spec_error("kernel = \"ising2d\"\noutputs = [\"energy\", \"magnetisation\"]\n[params]\nL = "
                   "4\nsweeps = 1\nbeta = 0.4\n",
                   dir) ==
        "sweep.toml:2: outputs: ising2d() has no output 'magnetisation'; did you mean "
        "'magnetization'? (its outputs are 'spins', 'magnetization' or 'energy')");
  CHECK(spec_error("kernel = \"ising2d\"\noutputs = []\n", dir) ==
        "sweep.toml:2: outputs: outputs must be a non-empty list of output names");
  // Kept outputs come in the kernel's order, whatever order the spec lists them in.
  const BatchSpec spec = parse(
      "kernel = \"ising2d\"\noutputs = [\"energy\", \"spins\"]\n[params]\nL = 4\nsweeps = 1\nbeta "
      "= 0.4\n",
      dir);
  CHECK(spec.outputs == std::vector<std::string>{"spins", "energy"});
  const std::string dup = spec_error(
      "kernel = \"ising2d\"\n[params]\nL = 4\nsweeps = 1\n[grid]\nbeta = [0.1, 0.2, 0.1]\n", dir);
  CHECK(dup.starts_with("sweep.toml: runs 0 and 2 have the same parameters ("));
  CHECK(contains(dup, "for repeated runs use replicates"));
}

TEST_CASE("a kernel's cross-parameter check failing for one run names that run before any starts") {
  TempDir dir;
  const std::string e = spec_error(
      "kernel = \"ising2d\"\nseed = 1\n[params]\nsweeps = 1\nbeta = 0.4\n[grid]\nL = [4, 6, 7, "
      "8]\n",
      dir);
  CHECK(e.starts_with("sweep.toml: run 2 ({\"L\":7,"));
  CHECK(contains(e, "ising2d(): parameter 'L' must be even"));
  CHECK(contains(
      spec_error("kernel = \"heat2d\"\n[params]\nsteps = 1\n[grid]\nr = [0.2, 0.3]\n", dir),
      "heat2d() needs parameter 'u0'"));
  write_file(dir / "u0.npy",
             npy_encode(std::vector<double>(16, 1.0).data(), DType::Float64, {4, 4}));
  const std::string r = spec_error(
      "kernel = \"heat2d\"\n[params]\nsteps = 1\nu0 = { npy = \"u0.npy\" }\n[grid]\nr = [0.2, "
      "0.3]\n",
      dir);
  CHECK(r.starts_with("sweep.toml: run 1 ("));
  CHECK(contains(r, "heat2d(): parameter 'r' must be <= 0.25, got 0.3"));
}

TEST_CASE(
    "a setup or reduce hook whose file is missing or whose text is not file:function is refused") {
  TempDir dir;
  const std::string head = "kernel = \"ising2d\"\n";
  const std::string tail = "[params]\nL = 4\nsweeps = 1\nbeta = 0.4\n";
  CHECK(spec_error(head + "setup = \"inputs.py:arrays\"\n" + tail, dir) ==
        "sweep.toml:2: setup: no such file: " + (dir / "inputs.py") +
            " (paths are taken from the spec's folder)");
  CHECK(spec_error(head + "reduce = \"reduce.py\"\n" + tail, dir) ==
        "sweep.toml:2: reduce: expects \"file.py:function\", got 'reduce.py'");
  CHECK(spec_error(head + "reduce = \"reduce.py:\"\n" + tail, dir) ==
        "sweep.toml:2: reduce: expects \"file.py:function\", got 'reduce.py:'");
  CHECK(spec_error(head + "reduce = 3\n" + tail, dir) ==
        "sweep.toml:2: reduce: expects \"file.py:function\", got a TOML integer");
  write_file(dir / "reduce.py", "def summary(outputs, params):\n    return {}\n");
  CHECK(spec_error(head + "reduce = \"reduce.py:2summary\"\n" + tail, dir) ==
        "sweep.toml:2: reduce: '2summary' is not a Python function name");
  const BatchSpec spec = parse(head + "reduce = \"reduce.py:summary\"\n" + tail, dir);
  REQUIRE(spec.reduce.has_value());
  CHECK(spec.reduce->file == dir / "reduce.py");
  CHECK(spec.reduce->function == "summary");
  CHECK(spec.reduce->place.text() == "sweep.toml:2: reduce");
}

// ==== the store ====

namespace {

const std::string kStoreSpec = R"(kernel = "ising2d"
[params]
L = 4
sweeps = 2
[grid]
beta = [0.1, 0.2, 0.3]
)";

RunResult done_result(std::int64_t index, std::string npy) {
  RunResult r;
  r.index = index;
  r.ok = true;
  r.attempts = 1;
  r.seconds = 0.5;
  r.outputs.push_back({"magnetization", std::move(npy)});
  return r;
}

std::string vector_npy(std::size_t n, double start) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = start + static_cast<double>(i);
  return npy_encode(x.data(), DType::Float64, {static_cast<std::int64_t>(n)});
}

std::string open_error(const std::string& folder, const BatchSpec& spec, StoreOpening how) {
  try {
    open_store(folder, spec, how);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE(
    "open_store on a new folder creates the batch, sessions, runs and arrays tables, every run "
    "pending") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  auto store = open_store(out, spec, {});
  CHECK(store->created());
  CHECK(store->todo() == std::vector<std::int64_t>{0, 1, 2});
  CHECK(store->done_before() == 0);
  CHECK(store->failed_before() == 0);
  CHECK(fs::is_regular_file(out + "/.lock"));
  CHECK(contains(read_file(out + "/.lock"), "pid " + std::to_string(::getpid())));

  const Rows tables =
      query(db_of(out), "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  CHECK(tables == Rows{{"arrays"}, {"batch"}, {"runs"}, {"sessions"}});
  CHECK(query(db_of(out), "PRAGMA journal_mode") == Rows{{"wal"}});
  std::map<std::string, std::string> batch;
  for (const auto& row : query(db_of(out), "SELECT key, value FROM batch")) batch[row[0]] = row[1];
  CHECK(batch["format"] == "1");
  CHECK(batch["kernel"] == "ising2d");
  CHECK(batch["seed"] == "0");
  CHECK(batch["spec_path"] == "sweep.toml");
  CHECK(batch["spec_text"] == kStoreSpec);
  CHECK(batch["spec_sha256"] == sha256_hex(kStoreSpec));
  CHECK(batch["outputs"] == R"(["spins","magnetization","energy"])");
  CHECK(batch["total"] == "3");
  CHECK(is_utc_time(batch["created"]));
  const Rows runs =
      query(db_of(out),
            "SELECT idx, id, params, status, attempts, outputs, error FROM runs ORDER BY idx");
  REQUIRE(runs.size() == 3);
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(runs[i] == std::vector<std::string>{std::to_string(i), spec.runs[i].id,
                                              spec.runs[i].params_json, "pending", "0", "<null>",
                                              "<null>"});
  CHECK(query(db_of(out), "SELECT count(*) FROM sessions") == Rows{{"0"}});
  CHECK(query(db_of(out), "SELECT count(*) FROM arrays") == Rows{{"0"}});
}

TEST_CASE(
    "committed runs are skipped on resume, failed ones redone with retry_failed, uncommitted ones "
    "stay pending") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  const std::string npy1 = vector_npy(2, 1.0);
  {
    auto store = open_store(out, spec, {});
    SessionInfo info;
    info.command = "simhost batch sweep.toml";
    info.threads = 3;
    info.jobs = 2;
    info.versions_json = R"({"simhost":"test"})";
    info.plugins_json = "[]";
    store->begin_session(info);
    store->write(done_result(1, npy1));
    store->commit();
    RunResult failed;
    failed.index = 2;
    failed.attempts = 2;
    failed.error = "boom";
    store->write(failed);
    store->commit();
    store->write(done_result(0, vector_npy(2, 5.0)));  // never committed
    // Another connection sees the committed rows only.
    CHECK(query(db_of(out), "SELECT idx, status FROM runs ORDER BY idx") ==
          Rows{{"0", "pending"}, {"1", "done"}, {"2", "failed"}});
  }
  CHECK(query(db_of(out), "SELECT idx, status FROM runs ORDER BY idx") ==
        Rows{{"0", "pending"}, {"1", "done"}, {"2", "failed"}});
  const Rows row1 =
      query(db_of(out),
            "SELECT attempts, seconds, error, reduce, outputs, session FROM runs WHERE idx = 1");
  CHECK(row1 == Rows{{"1", "0.5", "<null>", "<null>", R"({"magnetization":"db"})", "1"}});
  CHECK(is_utc_time(query(db_of(out), "SELECT finished FROM runs WHERE idx = 1")[0][0]));
  CHECK(query(db_of(out), "SELECT attempts, error, outputs FROM runs WHERE idx = 2") ==
        Rows{{"2", "boom", "<null>"}});
  CHECK(query(db_of(out), "SELECT idx, name, npy FROM arrays") ==
        Rows{{"1", "magnetization", npy1}});
  const Rows session = query(db_of(out),
                             "SELECT session, host, threads, jobs, ranks, command, versions, "
                             "plugins, spec, ended FROM sessions");
  CHECK(session == Rows{{"1", host_name(), "3", "2", "1", "simhost batch sweep.toml",
                         R"({"simhost":"test"})", "[]", kStoreSpec, "<null>"}});

  {
    auto store = open_store(out, spec, {true, false});
    CHECK_FALSE(store->created());
    CHECK(store->todo() == std::vector<std::int64_t>{0});
    CHECK(store->done_before() == 1);
    CHECK(store->failed_before() == 1);
    store->begin_session({});
    store->end_session();
  }
  const Rows sessions = query(db_of(out), "SELECT session, ended FROM sessions ORDER BY session");
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[0][1] == "<null>");  // the first session was never ended (as after a kill)
  CHECK(sessions[1][0] == "2");
  CHECK(is_utc_time(sessions[1][1]));
  auto retry = open_store(out, spec, {true, true});
  CHECK(retry->todo() == std::vector<std::int64_t>{0, 2});
}

TEST_CASE("reopening a batch without resume is refused, naming --resume") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  {
    auto store = open_store(out, spec, {});
    store->write(done_result(0, vector_npy(2, 1.0)));
    store->commit();
  }
  CHECK(open_error(out, spec, {}) ==
        out +
            " already holds a batch (1 of 3 runs done, 0 failed): pass --resume (resume=True) to "
            "continue it, or choose another --out folder");
  CHECK(open_store(out, spec, {true, false})->todo() == std::vector<std::int64_t>{1, 2});
}

TEST_CASE(
    "resuming with a changed fixed parameter, sweep, outputs or npy file is refused, naming what "
    "differs") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  open_store(out, spec, {});
  const auto changed = [&](std::string_view from, std::string_view to) {
    std::string text = kStoreSpec;
    text.replace(text.find(from), from.size(), to);
    const BatchSpec other = parse(text, dir);
    return open_error(out, other, {true, false});
  };
  const std::string head =
      "cannot resume " + out + ": the spec no longer describes the batch stored there:\n";
  const std::string foot = "\nrestore the spec, or start a new batch with another --out folder";
  const std::string fixed = changed("sweeps = 2", "sweeps = 3");
  CHECK(fixed.starts_with(
      head + "  - fixed parameter 'sweeps' was 2, now 3\n  - 3 run ids differ (run 0 was "));
  CHECK(fixed.ends_with(foot));
  const std::string sweep = changed("0.3]", "0.4]");
  CHECK(sweep.starts_with(head + "  - 1 run ids differ (run 2 was {\"L\":4,\"beta\":0.3,"));
  CHECK(contains(sweep, "now {\"L\":4,\"beta\":0.4,"));
  CHECK(contains(changed("0.3]", "0.3, 0.4]"), "  - the batch had 3 runs, the spec now makes 4"));
  CHECK(contains(
      changed("[params]", "outputs = [\"energy\"]\n[params]"),
      "  - the outputs kept were [\"spins\",\"magnetization\",\"energy\"], now [\"energy\"]"));
  CHECK(contains(changed("sweeps = 2\n", "sweeps = 2\nh = 0.0\n"),
                 "  - fixed parameter 'h' is new (0.0)"));
  // Each refusal let go of the lock: the unchanged spec resumes.
  CHECK(open_store(out, spec, {true, false})->todo() == std::vector<std::int64_t>{0, 1, 2});

  // An array parameter whose file's bytes changed.
  std::vector<double> u0(16, 0.0);
  write_file(dir / "u0.npy", npy_encode(u0.data(), DType::Float64, {4, 4}));
  const std::string heat =
      "kernel = \"heat2d\"\n[params]\nu0 = { npy = \"u0.npy\" }\nsteps = 1\nr = 0.2\n";
  const BatchSpec before = parse(heat, dir);
  open_store(dir / "heat", before, {});
  u0[5] = 1.0;
  write_file(dir / "u0.npy", npy_encode(u0.data(), DType::Float64, {4, 4}));
  const BatchSpec after = parse(heat, dir);
  const std::string e = open_error(dir / "heat", after, {true, false});
  CHECK(contains(
      e, "  - fixed parameter 'u0' was {\"npy\":\"u0.npy\",\"sha256\":\"" +
             before.runs[0].params_json.substr(before.runs[0].params_json.find("sha256") + 9, 64)));
  CHECK(contains(e, "  - 1 run ids differ"));
  CHECK(
      open_error(dir / "heat", after, {})
          .ends_with("pass --resume (resume=True) to continue it, or choose another --out folder"));
}

TEST_CASE(
    "a second opening while the first store lives is refused, naming the holder's pid; then the "
    "lock is free") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  auto first = open_store(out, spec, {});
  CHECK(open_error(out, spec, {true, false}) ==
        out + " is in use by another batch (pid " + std::to_string(::getpid()) + " on " +
            host_name() + "): wait for it to finish, or choose another --out folder");
  first.reset();
  auto second = open_store(out, spec, {true, false});
  CHECK(second->todo().size() == 3);
}

TEST_CASE(
    "an output larger than kFileOutputBytes is a file under arrays/<run id>, named in the outputs "
    "column") {
  TempDir dir;
  const BatchSpec spec = parse(kStoreSpec, dir);
  const std::string out = dir / "out";
  // 128-byte header + 8 bytes per element: 16368 elements are exactly kFileOutputBytes.
  const std::string at_limit = vector_npy(16368, 0.0);
  const std::string over = vector_npy(16369, 0.0);
  REQUIRE(at_limit.size() == kFileOutputBytes);
  REQUIRE(over.size() == kFileOutputBytes + 8);
  const std::string small = vector_npy(3, 2.0);
  {
    auto store = open_store(out, spec, {});
    store->begin_session({});
    RunResult r = done_result(0, over);
    r.outputs.push_back({"energy", small});
    store->write(r);
    store->write(done_result(1, at_limit));
    store->commit();
    store->end_session();
  }
  const std::string id = spec.runs[0].id;
  const std::string rel = "arrays/" + id + "/magnetization.npy";
  CHECK(read_file(out + "/" + rel) == over);
  CHECK_FALSE(fs::exists(out + "/" + rel + ".tmp"));
  CHECK(npy_decode(bytes_of(read_file(out + "/" + rel)), rel).view.shape ==
        std::vector<std::int64_t>{16369});
  CHECK(query(db_of(out), "SELECT outputs FROM runs WHERE idx = 0") ==
        Rows{{R"({"energy":"db","magnetization":")" + rel + "\"}"}});
  CHECK(query(db_of(out), "SELECT outputs FROM runs WHERE idx = 1") ==
        Rows{{R"({"magnetization":"db"})"}});
  CHECK(query(db_of(out), "SELECT idx, name, length(npy) FROM arrays ORDER BY idx, name") ==
        Rows{{"0", "energy", std::to_string(small.size())},
             {"1", "magnetization", std::to_string(kFileOutputBytes)}});
  CHECK_FALSE(fs::exists(out + "/arrays/" + spec.runs[1].id));
}

TEST_CASE("encode_result and decode_result round-trip a result, and malformed bytes throw Error") {
  RunResult r;
  r.index = 41;
  r.ok = true;
  r.attempts = 3;
  r.seconds = 1.0 / 3;
  r.reduce_json = R"({"m":0.5})";
  r.outputs.push_back({"spins", std::string("\0\1\2\0"sv)});
  r.outputs.push_back({"energy", vector_npy(4, -1.0)});
  const std::string bytes = encode_result(r);
  const RunResult back = decode_result(bytes);
  CHECK(back.index == 41);
  CHECK(back.ok);
  CHECK(back.attempts == 3);
  CHECK(back.seconds == r.seconds);  // bit for bit
  CHECK(back.error.empty());
  CHECK(back.reduce_json == r.reduce_json);
  REQUIRE(back.outputs.size() == 2);
  CHECK(back.outputs[0].name == "spins");
  CHECK(back.outputs[0].npy == r.outputs[0].npy);
  CHECK(back.outputs[1].npy == r.outputs[1].npy);

  RunResult failed;
  failed.index = 7;
  failed.attempts = 1;
  failed.error = "ising2d(): timed out\nsecond line";
  const RunResult f = decode_result(encode_result(failed));
  CHECK_FALSE(f.ok);
  CHECK(f.error == failed.error);
  CHECK(f.outputs.empty());

  // Every truncation of the bytes is refused.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK_THROWS_WITH_AS(decode_result(bytes.substr(0, n)),
                         "malformed batch result message (truncated)", Error);
  }
  // A string length past the end, and an absurd output count.
  std::string long_string = bytes;
  long_string[39] = '\177';  // the error's length: its top byte, now past any message
  CHECK_THROWS_WITH_AS(decode_result(long_string), "malformed batch result message (truncated)",
                       Error);
  std::string count = encode_result(failed);
  const std::size_t count_at = count.size() - 8;
  count[count_at + 7] = '\001';
  CHECK_THROWS_WITH_AS(decode_result(count), "malformed batch result message (output count)",
                       Error);
}

// ==== whole batches ====

namespace {

// The front end's part, without Python: no hooks, a stop condition of the test's choosing,
// and a record of the progress reports.
class PlainHooks final : public BatchHooks {
 public:
  void prepare(const BatchSpec&) override { ++prepared; }
  OwnedArgs setup(const BatchRun&) override {
    throw std::logic_error("no setup hook in these specs");
  }
  std::string reduce(const BatchRun&, const std::vector<OutputSlot>&) override {
    throw std::logic_error("no reduce hook in these specs");
  }
  void run_in_front_end(const BatchRun&, RunResult&) override {
    throw std::logic_error("no front-end kernel in these specs");
  }
  bool keep_going() override {
    ++keep_going_calls;
    if (stopped_at) return false;
    if (stop_when && stop_when(*this)) {
      stopped_at = std::chrono::steady_clock::now();
      return false;
    }
    return true;
  }
  void progress(const BatchProgress& p, bool final) override {
    reports.push_back(p);
    finals += final ? 1 : 0;
  }

  std::function<bool(const PlainHooks&)> stop_when;
  std::optional<std::chrono::steady_clock::time_point> stopped_at;
  int prepared = 0;
  std::int64_t keep_going_calls = 0;
  std::vector<BatchProgress> reports;
  int finals = 0;
};

// Two runs of two bodies at the same place: with eps = 0 (run 0) the energy is infinite at
// step 0 and the kernel fails; with eps = 0.1 (run 1) it runs. `extra` goes at the top.
BatchSpec coincident_bodies(const TempDir& dir, const std::string& extra = "") {
  const std::vector<double> pos(6, 0.0), vel(6, 0.0), mass = {1, 1};
  write_file(dir / "pos.npy", npy_encode(pos.data(), DType::Float64, {2, 3}));
  write_file(dir / "vel.npy", npy_encode(vel.data(), DType::Float64, {2, 3}));
  write_file(dir / "mass.npy", npy_encode(mass.data(), DType::Float64, {2}));
  return parse("kernel = \"nbody\"\n" + extra + R"(outputs = ["energy"]
[params]
pos = { npy = "pos.npy" }
vel = { npy = "vel.npy" }
mass = { npy = "mass.npy" }
dt = 0.01
steps = 2
[grid]
eps = [0.0, 0.1]
)",
               dir);
}

BatchOptions options_for(const std::string& out, int jobs) {
  BatchOptions o;
  o.out = out;
  o.jobs = jobs;
  o.command = "test_batch";
  o.versions_json = "{}";
  o.plugins_json = "[]";
  return o;
}

// What two stores must agree on (the contract's identity: not attempts, seconds, sessions).
Rows store_rows(const std::string& out) {
  Rows rows = query(
      db_of(out), "SELECT idx, id, params, status, error, reduce, outputs FROM runs ORDER BY idx");
  for (auto& row : query(db_of(out), "SELECT idx, name, npy FROM arrays ORDER BY idx, name"))
    rows.push_back(row);
  return rows;
}

// A kernel run far longer than any test waits for (hours), cancelled at its chunk boundaries.
constexpr std::string_view kLongSweeps = "1000000000";

}  // namespace

TEST_CASE("run_batch runs every run into the store, each output the bits run_call() gives") {
  TempDir dir;
  std::vector<double> u0(16 * 12);
  for (std::size_t i = 0; i < u0.size(); ++i) u0[i] = std::sin(0.37 * static_cast<double>(i));
  write_file(dir / "u0.npy", npy_encode(u0.data(), DType::Float64, {16, 12}));
  const BatchSpec spec = parse(R"(kernel = "heat2d"
[params]
u0 = { npy = "u0.npy" }
[grid]
r = [0.1, 0.2, 0.25]
steps = [3, 7]
boundary = ["dirichlet", "periodic"]
)",
                               dir);
  REQUIRE(spec.runs.size() == 12);
  PlainHooks hooks;
  const std::string out = dir / "out";
  const BatchSummary s = run_batch(spec, options_for(out, 2), hooks);
  CHECK(s.out == out);
  CHECK(s.total == 12);
  CHECK(s.done == 12);
  CHECK(s.failed == 0);
  CHECK(s.pending == 0);
  CHECK(s.skipped == 0);
  CHECK(s.ran == 12);
  CHECK(s.jobs == 2);
  CHECK(s.ranks == 1);
  CHECK_FALSE(s.interrupted);
  CHECK(s.failures.empty());
  CHECK(hooks.prepared == 1);
  CHECK(hooks.finals == 1);
  REQUIRE_FALSE(hooks.reports.empty());
  CHECK(hooks.reports.back().done == 12);
  CHECK(hooks.reports.back().total == 12);
  CHECK(hooks.reports.back().todo == 12);

  const Rows runs =
      query(db_of(out), "SELECT idx, status, attempts, outputs, session FROM runs ORDER BY idx");
  const Rows arrays = query(db_of(out), "SELECT idx, name, npy FROM arrays ORDER BY idx");
  REQUIRE(runs.size() == 12);
  REQUIRE(arrays.size() == 12);
  const KernelDef& heat2d = builtins().get("heat2d");
  for (std::size_t i = 0; i < 12; ++i) {
    CAPTURE(i);
    CHECK(runs[i] ==
          std::vector<std::string>{std::to_string(i), "done", "1", R"({"u":"db"})", "1"});
    CHECK(arrays[i][0] == std::to_string(i));
    CHECK(arrays[i][1] == "u");
    const auto call = run_call(heat2d, spec.runs[i].params);
    const ArrayView& u = call->output("u").array;
    const NpyArray stored = npy_decode(bytes_of(arrays[i][2]), "arrays");
    CHECK(stored.view.dtype == DType::Float64);
    CHECK(stored.view.shape == std::vector<std::int64_t>{16, 12});
    CHECK(std::memcmp(stored.view.data, u.data, u.bytes()) == 0);
    CHECK(arrays[i][2] == npy_encode(u.data, u.dtype, u.shape));
  }
  const Rows session =
      query(db_of(out), "SELECT threads, jobs, ranks, command, versions, plugins FROM sessions");
  CHECK(session == Rows{{std::to_string(get_threads()), "2", "1", "test_batch", "{}", "[]"}});
  CHECK(query(db_of(out), "SELECT ended IS NOT NULL FROM sessions") == Rows{{"1"}});

  // Resumed, a finished batch has nothing to do.
  PlainHooks again;
  BatchOptions resume = options_for(out, 2);
  resume.resume = true;
  const BatchSummary r = run_batch(spec, resume, again);
  CHECK(r.done == 12);
  CHECK(r.skipped == 12);
  CHECK(r.ran == 0);
  CHECK(query(db_of(out), "SELECT count(*) FROM sessions") == Rows{{"2"}});
  // And without resume the store is refused before any run.
  PlainHooks refused;
  CHECK_THROWS_WITH_AS(
      run_batch(spec, options_for(out, 2), refused),
      doctest::Contains("already holds a batch (12 of 12 runs done, 0 failed): pass --resume"),
      Error);
}

TEST_CASE("the store is the same row for row at 1 and 2 threads and at 1 and 2 jobs") {
  TempDir dir;
  const BatchSpec spec = parse(R"(kernel = "ising2d"
seed = 99
replicates = 2
[params]
L = 16
sweeps = 30
start = "hot"
[grid]
beta = [0.2, 0.44, 0.7]
h = [0.0, 0.1]
)",
                               dir);
  REQUIRE(spec.runs.size() == 12);
  Rows first;
  for (int threads : {1, 2})
    for (int jobs : {1, 2}) {
      CAPTURE(threads);
      CAPTURE(jobs);
      set_threads(threads);
      PlainHooks hooks;
      const std::string out = dir / fmt::format("t{}j{}", threads, jobs);
      const BatchSummary s = run_batch(spec, options_for(out, jobs), hooks);
      CHECK(s.done == 12);
      const Rows rows = store_rows(out);
      REQUIRE(rows.size() == 12 + 3 * 12);  // 12 runs, 3 outputs each
      if (first.empty())
        first = rows;
      else
        CHECK(rows == first);
      CHECK(query(db_of(out), "SELECT threads, jobs FROM sessions") ==
            Rows{{std::to_string(threads), std::to_string(jobs)}});
    }
  set_threads(default_threads());
  // The runs differ among themselves: the replicates' seeds give different final states.
  CHECK(first[12 + 0][2] != first[12 + 3][2]);  // the energies of runs 0 and 1
}

TEST_CASE(
    "a run past the spec's timeout fails with 'timed out' after 1 + retries attempts; others "
    "finish") {
  TempDir dir;
  const BatchSpec spec = parse(std::string(R"(kernel = "ising2d"
timeout = 0.2
retries = 2
[params]
L = 64
beta = 0.4
measure_every = )") + std::string(kLongSweeps) +
                                   R"(
[grid]
sweeps = [2, )" + std::string(kLongSweeps) +
                                   "]\n",
                               dir);
  REQUIRE(spec.runs.size() == 2);
  CHECK(spec.timeout == 0.2);
  CHECK(spec.retries == 2);
  PlainHooks hooks;
  const std::string out = dir / "out";
  const auto t0 = std::chrono::steady_clock::now();
  const BatchSummary s = run_batch(spec, options_for(out, 2), hooks);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Three attempts of 0.2 s each, cancelled within a fraction of a second each.
  constexpr double kAttemptSeconds = 0.2;
  constexpr double kWholeBatchBound = 20.0;  // far above the ~0.6 s expected: catches a hang
  CHECK(seconds >= 3 * kAttemptSeconds);
  CHECK(seconds < kWholeBatchBound);
  const std::string error = "ising2d(): timed out after 0.2 s (the spec's timeout)";
  CHECK(s.done == 1);
  CHECK(s.failed == 1);
  CHECK(s.pending == 0);
  REQUIRE(s.failures.size() == 1);
  CHECK(s.failures[0] == std::pair{spec.runs[1].id, error});
  CHECK(query(db_of(out), "SELECT idx, status, attempts, error, outputs FROM runs ORDER BY idx") ==
        Rows{{"0", "done", "1", "<null>", R"({"energy":"db","magnetization":"db","spins":"db"})"},
             {"1", "failed", "3", error, "<null>"}});
  const double last_attempt =
      std::stod(query(db_of(out), "SELECT seconds FROM runs WHERE idx = 1")[0][0]);
  CHECK(last_attempt >= kAttemptSeconds);
  CHECK(last_attempt < kWholeBatchBound);
  CHECK(query(db_of(out), "SELECT count(*) FROM arrays WHERE idx = 1") == Rows{{"0"}});
}

TEST_CASE("a kernel error is retried as the spec says and recorded with the kernel's message") {
  TempDir dir;
  const BatchSpec spec = coincident_bodies(dir, "retries = 1\n");
  PlainHooks hooks;
  const std::string out = dir / "out";
  const BatchSummary s = run_batch(spec, options_for(out, 1), hooks);
  CHECK(s.done == 1);
  CHECK(s.failed == 1);
  const Rows rows =
      query(db_of(out), "SELECT idx, status, attempts, error, outputs FROM runs ORDER BY idx");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][1] == "failed");
  CHECK(rows[0][2] == "2");
  CHECK(rows[0][3].starts_with("nbody(): the energy became "));
  CHECK(contains(rows[0][3], "two bodies probably coincide (eps = 0"));
  CHECK(rows[1] == std::vector<std::string>{"1", "done", "1", "<null>", R"({"energy":"db"})"});
  // retry_failed runs it again (and it fails again, twice more).
  PlainHooks again;
  BatchOptions retry = options_for(out, 1);
  retry.resume = true;
  retry.retry_failed = true;
  const BatchSummary r = run_batch(spec, retry, again);
  CHECK(r.ran == 1);
  CHECK(r.skipped == 1);
  CHECK(r.failed == 1);
  CHECK(query(db_of(out), "SELECT attempts, session FROM runs WHERE idx = 0") == Rows{{"4", "2"}});
}

// A retry_failed batch interrupted before it redid its failed runs leaves them failed in
// the store, and the summary counts them so (it reads its counts from the store).
TEST_CASE(
    "an interrupted retry_failed batch still counts the failed runs it did not redo as failed") {
  TempDir dir;
  const BatchSpec spec = coincident_bodies(dir);
  const std::string out = dir / "out";
  PlainHooks first;
  REQUIRE(run_batch(spec, options_for(out, 1), first).failed == 1);
  PlainHooks stopped;
  stopped.stop_when = [](const PlainHooks&) { return true; };  // Ctrl-C before any run
  BatchOptions retry = options_for(out, 1);
  retry.resume = true;
  retry.retry_failed = true;
  const BatchSummary s = run_batch(spec, retry, stopped);
  CHECK(s.interrupted);
  CHECK(s.ran == 0);
  CHECK(query(db_of(out), "SELECT status FROM runs WHERE idx = 0") == Rows{{"failed"}});
  CHECK(s.done == 1);
  CHECK(s.failed == 1);
  CHECK(s.pending == 0);
}

TEST_CASE(
    "keep_going returning false stops the batch within a fraction of a second, unfinished runs "
    "pending") {
  TempDir dir;
  const std::string l = std::string(kLongSweeps);
  const BatchSpec spec = parse(R"(kernel = "ising2d"
[params]
L = 64
beta = 0.4
measure_every = )" + l + R"(
[grid]
sweeps = [2, )" + l + ", " + l + "1, " +
                                   l + "2, " + l + "3]\n",
                               dir);
  REQUIRE(spec.runs.size() == 5);
  constexpr double kGiveUpSeconds = 30.0;  // the first run takes milliseconds
  constexpr double kStopSeconds = 2.0;     // a cancelled kernel ends at its next chunk
  PlainHooks hooks;
  const auto t0 = std::chrono::steady_clock::now();
  hooks.stop_when = [&](const PlainHooks& h) {
    const bool one_done = !h.reports.empty() && h.reports.back().done >= 1;
    return one_done ||
           std::chrono::steady_clock::now() - t0 > std::chrono::duration<double>(kGiveUpSeconds);
  };
  const std::string out = dir / "out";
  const BatchSummary s = run_batch(spec, options_for(out, 2), hooks);
  const auto t1 = std::chrono::steady_clock::now();
  REQUIRE(hooks.stopped_at.has_value());
  CHECK(std::chrono::duration<double>(t1 - *hooks.stopped_at).count() < kStopSeconds);
  CHECK(s.interrupted);
  CHECK(s.done == 1);
  CHECK(s.failed == 0);
  CHECK(s.pending == 4);
  CHECK(s.ran == 1);
  CHECK(hooks.finals == 1);
  CHECK(query(db_of(out), "SELECT idx, status, attempts, error FROM runs ORDER BY idx") ==
        Rows{{"0", "done", "1", "<null>"},
             {"1", "pending", "0", "<null>"},
             {"2", "pending", "0", "<null>"},
             {"3", "pending", "0", "<null>"},
             {"4", "pending", "0", "<null>"}});
  CHECK(query(db_of(out), "SELECT ended IS NOT NULL FROM sessions") == Rows{{"1"}});
  CHECK(open_store(out, spec, {true, false})->todo() == std::vector<std::int64_t>{1, 2, 3, 4});
}
