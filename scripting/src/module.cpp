// bind_module(): the `simhost` module's native core, shared by the host binary and the
// importable extension. Converts arguments, supervises calls with the GIL released, and
// translates errors once.
#include "module.hpp"

#include <bit>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <unordered_map>

#include <dlfcn.h>
#include <filesystem>

#include <Eigen/Core>
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <tbb/version.h>

#include "simhost/call.hpp"
#include "simhost/cpu.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"
#include "simhost/plugins.hpp"
#include "simhost/registry.hpp"
#include "simhost/text.hpp"

namespace py = pybind11;

namespace simhost {

namespace {

// How often the waiting Python thread wakes to check signals and the timeout, and how often
// at most it reports progress.
constexpr auto kSupervisorTick = std::chrono::milliseconds(20);
constexpr auto kProgressInterval = std::chrono::milliseconds(100);

// The Python thread that runs signal handlers (the interpreter's main thread).
unsigned long main_thread_ident() {
  static const unsigned long ident =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  return ident;
}

py::dtype to_numpy(DType dtype) {
  switch (dtype) {
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int64: return py::dtype::of<std::int64_t>();
    case DType::Int32: return py::dtype::of<std::int32_t>();
    case DType::Int8: return py::dtype::of<std::int8_t>();
    case DType::Bool: return py::dtype::of<bool>();
  }
  throw KernelError("unknown dtype");
}

// A Python str as UTF-8 for names and messages. Text UTF-8 cannot hold (lone surrogates) is
// written as backslash escapes and NUL as \x00, so such a name matches nothing registered and
// reads whole in the error message (which is a C string).
std::string name_text(const py::handle& s) {
  Py_ssize_t size = 0;
  if (const char* utf8 = PyUnicode_AsUTF8AndSize(s.ptr(), &size)) {  // cached: the common case
    const std::string_view text(utf8, static_cast<std::size_t>(size));
    if (text.find('\0') == std::string_view::npos) return std::string(text);
  } else {
    PyErr_Clear();  // lone surrogates
  }
  py::object bytes = py::reinterpret_steal<py::object>(
      PyUnicode_AsEncodedString(s.ptr(), "utf-8", "backslashreplace"));
  if (!bytes) throw py::error_already_set();
  std::string out;
  for (char c : std::string_view(PyBytes_AS_STRING(bytes.ptr()),
                                 static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr()))))
    if (c == '\0') out += "\\x00";
    else out += c;
  return out;
}

// The registered kernel named by `name` (a str), for the front-end function `api`.
const KernelDef& kernel_named(const py::handle& name, std::string_view api) {
  if (!PyUnicode_Check(name.ptr()))
    throw ArgumentTypeError(fmt::format("{}() expects a kernel name (a str) first, got {}", api,
                                        Py_TYPE(name.ptr())->tp_name));
  return Registry::global().get(name_text(name));
}

// The text of the exception Python has set, which is cleared.
std::string fetch_error_text() {
  py::error_already_set e;
  return py::str(e.value()).cast<std::string>();
}

// numpy's masked arrays (numpy.ma.MaskedArray and its subclasses).
bool is_masked(const py::handle& obj) {
  static const py::object masked = py::module_::import("numpy.ma").attr("MaskedArray");
  return py::isinstance(obj, masked);
}

bool is_exact_ndarray(const py::handle& obj) {
  return Py_TYPE(obj.ptr()) == py::detail::npy_api::get().PyArray_Type_;
}

// Refuses a 64-bit integer array for a float64 parameter when an element has no exact float64
// value (numpy would round it silently), naming the first such element.
void check_exact_as_double(const KernelDef& k, const ParamSpec& p, const py::module_& np,
                           const py::array& arr, char kind) {
  const bool is_signed = kind == 'i';
  const auto ints = py::reinterpret_steal<py::array>(
      np.attr("ascontiguousarray")(arr, is_signed ? "int64" : "uint64").release());
  const auto n = static_cast<std::int64_t>(ints.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const void* at = static_cast<const std::byte*>(ints.data()) + 8 * i;
    std::string text;
    if (is_signed) {
      const std::int64_t v = *static_cast<const std::int64_t*>(at);
      if (exact_in_double(v)) continue;
      text = std::to_string(v);
    } else {
      const std::uint64_t v = *static_cast<const std::uint64_t*>(at);
      if (exact_in_double(v)) continue;
      text = std::to_string(v);
    }
    std::vector<std::int64_t> shape;
    for (py::ssize_t d = 0; d < ints.ndim(); ++d) shape.push_back(ints.shape(d));
    throw ArgumentTypeError(fmt::format(
        "{}(): parameter '{}' expects a float64 array, got {} element {} at index {}, which "
        "float64 cannot hold exactly (integers beyond 2**53 are rounded); convert the array "
        "yourself ({}.astype(float)) if rounding is meant",
        k.name, p.name, is_signed ? "int64" : "uint64", text, index_text(i, shape), p.name));
  }
}

// A numpy array as a kernel input: the same memory when it already is C-contiguous, aligned
// and of the declared dtype; otherwise one converted, aligned, C-contiguous copy when numpy
// can convert it without losing information; otherwise a TypeError. Either way the view is
// C-contiguous (the runtime's layout contract, array_view.hpp) and read-only. `holder` keeps
// the memory alive for the call.
ConstArrayView to_view(const KernelDef& k, const ParamSpec& p, const py::handle& obj,
                       py::object& holder) {
  const py::dtype want = to_numpy(p.dtype);
  py::array arr;
  if (py::isinstance<py::array>(obj)) {
    arr = py::reinterpret_borrow<py::array>(obj);
    if (!is_exact_ndarray(obj) && is_masked(obj))
      throw ArgumentTypeError(fmt::format(
          "{}(): parameter '{}' is a masked array, whose mask a kernel would ignore; pass "
          "{}.filled(value) to choose what masked elements hold, or {}.data to use them as "
          "they are",
          k.name, p.name, p.name, p.name));
  } else {
    try {
      arr = py::module_::import("numpy").attr("asarray")(obj);
    } catch (py::error_already_set& e) {
      throw ArgumentValueError(fmt::format("{}(): parameter '{}' could not be read as an array: {}",
                                           k.name, p.name, py::str(e.value()).cast<std::string>()));
    }
  }
  const py::dtype have = arr.dtype();
  const char kind = have.kind();
  constexpr int kDirect = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ |
                          py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  const char order = have.byteorder();  // '=' native, '|' not applicable, or '<' / '>'
  const bool native = order == '=' || order == '|' ||
                      order == (std::endian::native == std::endian::little ? '<' : '>');
  if (native && (arr.flags() & kDirect) == kDirect && have.equal(want)) {
    holder = arr;
  } else {
    py::module_ np = py::module_::import("numpy");
    const std::string want_name(dtype_name(p.dtype));
    if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f') {
      throw ArgumentTypeError(fmt::format("{}(): parameter '{}' expects a {} array, got {} {}",
                                          k.name, p.name, want_name,
                                          have.attr("name").cast<std::string>(),
                                          py::isinstance<py::array>(obj) ? "array" : "data"));
    }
    if (p.dtype == DType::Float64 && (kind == 'i' || kind == 'u') && have.itemsize() == 8)
      check_exact_as_double(k, p, np, arr, kind);
    // np.require copies unless the array already is aligned, C-contiguous and of `want`
    // (native byte order): so a misaligned view gets its one copy too.
    py::object converted;
    if (np.attr("can_cast")(have, want, "safe").cast<bool>()) {
      converted = np.attr("require")(arr, want, "CA");
    } else {
      // Not safe by type (e.g. int64 -> int8, float -> int): accept when these values survive.
      converted = np.attr("require")(arr.attr("astype")(want), want, "CA");
      if (!np.attr("array_equal")(converted, arr).cast<bool>())
        throw ArgumentTypeError(fmt::format(
            "{}(): parameter '{}' expects a {} array, got {} values that do not convert to {} "
            "without loss",
            k.name, p.name, want_name, have.attr("name").cast<std::string>(), want_name));
    }
    holder = converted;
  }
  py::array held = py::reinterpret_borrow<py::array>(holder);
  ConstArrayView view;
  view.data = held.data();
  view.dtype = p.dtype;
  for (py::ssize_t d = 0; d < held.ndim(); ++d) view.shape.push_back(held.shape(d));
  return view;
}

// operator.index(obj) for parameter p (an int or float parameter given an integer-like
// object); a failing __index__() is a TypeError that quotes its error.
py::object index_of(const KernelDef& k, const ParamSpec& p, const py::handle& obj) {
  py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!as_int)
    throw ArgumentTypeError(fmt::format("{}(): parameter '{}' expects {} {}, got {} whose "
                                        "__index__() failed: {}",
                                        k.name, p.name, p.kind == Kind::Int ? "an" : "a",
                                        kind_name(p.kind), Py_TYPE(obj.ptr())->tp_name,
                                        fetch_error_text()));
  return as_int;
}

// A Python int as int64, for an integer parameter. Out of range is a ValueError.
Value int_value(const KernelDef& k, const ParamSpec& p, const py::handle& obj) {
  const py::object as_int = index_of(k, p, obj);
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
  if (overflow != 0)
    throw ArgumentValueError(fmt::format("{}(): parameter '{}' is out of the 64-bit integer range, "
                                         "got {}",
                                         k.name, p.name, py::repr(as_int).cast<std::string>()));
  return static_cast<std::int64_t>(v);
}

// A Python int for a float parameter: its float64 value, refused when that is not exact.
Value int_as_float(const KernelDef& k, const ParamSpec& p, const py::handle& obj) {
  const double x = PyLong_AsDouble(obj.ptr());
  if (x == -1.0 && PyErr_Occurred()) PyErr_Clear();  // too large: not exact either
  else if (PyObject_RichCompareBool(py::float_(x).ptr(), obj.ptr(), Py_EQ) == 1) return x;
  throw ArgumentTypeError(fmt::format(
      "{}(): parameter '{}' expects a float, got int {}, which float64 cannot hold exactly "
      "(integers beyond 2**53 are rounded); pass a float if rounding is meant",
      k.name, p.name, py::repr(obj).cast<std::string>()));
}

// A Python scalar as a kernel value; the binding checks it against the parameter's kind.
// numpy scalars and 0-d arrays count as the Python number they hold.
Value to_value(const KernelDef& k, const ParamSpec& p, const py::handle& given) {
  py::object item;  // the Python scalar of a 0-d array
  PyObject* o = given.ptr();
  if (py::isinstance<py::array>(given)) {
    const auto arr = py::reinterpret_borrow<py::array>(given);
    if (arr.ndim() != 0)
      throw ArgumentTypeError(fmt::format(
          "{}(): parameter '{}' expects {} {}, got a {} array of shape {}; pass a single value", k.name,
          p.name, p.kind == Kind::Int ? "an" : "a", kind_name(p.kind),
          arr.dtype().attr("name").cast<std::string>(),
          py::str(arr.attr("shape")).cast<std::string>()));
    item = arr.attr("item")();
    o = item.ptr();
  }
  static const py::object np_bool = py::module_::import("numpy").attr("bool_");
  static const py::object np_floating = py::module_::import("numpy").attr("floating");
  if (o == Py_None) return std::monostate{};
  if (PyBool_Check(o) || py::isinstance(o, np_bool)) return bool(PyObject_IsTrue(o));
  if (PyFloat_Check(o) || py::isinstance(o, np_floating)) {
    const double x = PyFloat_AsDouble(o);
    if (x == -1.0 && PyErr_Occurred())
      throw ArgumentTypeError(fmt::format("{}(): parameter '{}' expects {}, got {}: {}", k.name,
                                          p.name, kind_name(p.kind), Py_TYPE(o)->tp_name,
                                          fetch_error_text()));
    return x;
  }
  if (PyLong_Check(o) || PyIndex_Check(o)) {
    if (p.kind == Kind::Float) return int_as_float(k, p, index_of(k, p, o));
    return int_value(k, p, o);
  }
  if (PyUnicode_Check(o)) return name_text(o);
  const std::string expected = p.kind == Kind::String ? "a str" : "a " + std::string(kind_name(p.kind));
  throw ArgumentTypeError(fmt::format("{}(): parameter '{}' expects {}, got {}", k.name, p.name,
                                      expected, Py_TYPE(o)->tp_name));
}

std::optional<double> parse_timeout(const KernelDef& k, const py::handle& timeout) {
  if (timeout.is_none()) return std::nullopt;
  if (PyBool_Check(timeout.ptr()) || !(PyFloat_Check(timeout.ptr()) || PyLong_Check(timeout.ptr())))
    throw ArgumentTypeError(fmt::format("{}(): timeout expects a number of seconds or None, got {}",
                                        k.name, Py_TYPE(timeout.ptr())->tp_name));
  const double t = timeout.cast<double>();
  if (!(t > 0) || !std::isfinite(t))
    throw ArgumentValueError(fmt::format("{}(): timeout must be a positive number of seconds, got {}",
                                         k.name, number_text(t)));
  return t;
}

// Runs f() with the GIL released and takes the GIL back afterwards, outside any destructor.
// While the interpreter finalizes, taking the GIL back ends a daemon thread by a forced
// unwind (pthread_exit); that must not pass through a noexcept destructor (as the GIL
// release guard's is), or the process aborts.
template <class F>
auto without_gil(F&& f) {
  PyThreadState* state = PyEval_SaveThread();
  // The GIL is taken back outside the try: a forced unwind out of PyEval_RestoreThread must
  // not land in the catch below (taking the GIL there again would start a second unwind
  // inside the handler, and the process aborts with "exception not rethrown").
  if constexpr (std::is_void_v<decltype(f())>) {
    try {
      f();
    } catch (...) {
      PyEval_RestoreThread(state);
      throw;
    }
    PyEval_RestoreThread(state);
  } else {
    std::optional<decltype(f())> result;
    try {
      result.emplace(f());
    } catch (...) {
      PyEval_RestoreThread(state);
      throw;
    }
    PyEval_RestoreThread(state);
    return std::move(*result);
  }
}

// Cancels and waits for a call whose waiting thread leaves early (an exception, or a forced
// unwind of a daemon thread at exit), so the kernel never outlives the memory it writes.
struct StopIfAbandoned {
  Call& call;
  ~StopIfAbandoned() {
    if (!call.done()) {
      call.cancel();
      call.wait();
    }
  }
};

// The supervision of one call on behalf of Python: its timeout, its progress reports,
// Python's signal handlers, and what the call's outcome raises. The one mechanism behind
// every way a call is watched; only who gives it its turns differs:
// - the thread that waits for a call running on a worker (PyCall::wait_supervised);
// - the kernel's own cancellation checks on the thread that runs it (PyCall::run);
// - the futures watcher, a Python thread (PyCall::tick).
// Python code runs only on the thread giving the turn, holding the GIL, never on a TBB worker.
class Supervision {
 public:
  using Clock = std::chrono::steady_clock;

  Supervision(std::optional<double> timeout, py::object progress)
      : m_timeout(timeout), m_progress(std::move(progress)) {}

  bool has_timeout() const noexcept { return m_timeout.has_value(); }
  bool reports_progress() const noexcept { return !m_progress.is_none(); }

  /// The timeout counts from here.
  void begin() {
    if (!m_timeout && !reports_progress()) return;  // nothing to time: no clock read
    m_last_report = Clock::now();
    if (m_timeout)
      m_deadline = m_last_report + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(*m_timeout));
  }

  /// One turn: cancels the call when its timeout has passed; runs Python's signal handlers
  /// (when `signals`) and the progress report when due. An exception either raises is kept
  /// for finish() and cancels the call. `released` is this thread's state with the GIL
  /// released (taken for the Python part), or null when the GIL is held. True once the call
  /// must stop.
  bool turn(Call& call, bool signals, PyThreadState* released) {
    if (m_stop) return true;
    const auto now = Clock::now();
    if (m_timeout && now >= m_deadline) {
      m_timed_out = m_stop = true;
      call.cancel();
      return true;
    }
    // Periodic reports wait for the kernel to set its total: a (0, 0) before it starts says
    // nothing, and would break a caller's done <= total. The final report is always made.
    const bool report = reports_progress() && now - m_last_report >= kProgressInterval &&
                        call.progress().total() > 0;
    if (!signals && !report) return false;
    if (released) PyEval_RestoreThread(released);  // see without_gil() for why no RAII guard
    bool raised = signals && PyErr_CheckSignals() != 0;
    if (!raised && report) {
      m_last_report = now;
      raised = !report_progress(call);
    }
    if (raised) {
      keep_error();
      m_stop = true;
      call.cancel();
    }
    if (released) PyEval_SaveThread();
    return m_stop;
  }

  /// With the GIL, once the call has ended: raises what ended it, first what Python code
  /// run for it raised, then TimeoutError, KeyboardInterrupt (the process is being
  /// interrupted: stop_all_calls()), or the kernel's own error; otherwise makes the final
  /// progress report, whose exception is raised too. The same rules for run() and futures.
  void finish(Call& call) {
    if (m_error_type) {
      PyErr_Restore(m_error_type.release().ptr(), m_error_value.release().ptr(),
                    m_error_trace.release().ptr());
      throw py::error_already_set();
    }
    try {
      call.rethrow_if_failed();
    } catch (const Cancelled&) {
      if (m_timed_out) {
        PyErr_SetString(PyExc_TimeoutError,
                        fmt::format("{}() did not finish within timeout={} s and was cancelled",
                                    call.kernel().name, number_text(*m_timeout))
                            .c_str());
        throw py::error_already_set();
      }
      if (all_calls_stopped()) {
        PyErr_SetString(PyExc_KeyboardInterrupt,
                        fmt::format("{}() was cancelled: the process was interrupted",
                                    call.kernel().name)
                            .c_str());
        throw py::error_already_set();
      }
      throw;
    }
    if (reports_progress() && !report_progress(call)) throw py::error_already_set();
  }

 private:
  bool report_progress(Call& call) {
    const Progress& progress = call.progress();
    PyObject* r = PyObject_CallFunction(m_progress.ptr(), "LL", static_cast<long long>(progress.done()),
                                        static_cast<long long>(progress.total()));
    Py_XDECREF(r);
    return r != nullptr;
  }
  void keep_error() {
    PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
    PyErr_Fetch(&type, &value, &trace);
    m_error_type = py::reinterpret_steal<py::object>(type);
    m_error_value = py::reinterpret_steal<py::object>(value);
    m_error_trace = py::reinterpret_steal<py::object>(trace);
  }

  std::optional<double> m_timeout;
  py::object m_progress;
  Clock::time_point m_deadline, m_last_report;
  bool m_stop = false, m_timed_out = false;
  py::object m_error_type, m_error_value, m_error_trace;
};

py::object value_to_python(const Value& v, const py::object& array_holder) {
  struct Visitor {
    const py::object& holder;
    py::object operator()(std::monostate) const { return py::none(); }
    py::object operator()(double x) const { return py::float_(x); }
    py::object operator()(std::int64_t x) const { return py::int_(x); }
    py::object operator()(bool x) const { return py::bool_(x); }
    py::object operator()(const std::string& x) const { return py::str(x); }
    py::object operator()(const ConstArrayView&) const { return holder; }
  };
  return std::visit(Visitor{array_holder}, v);
}

// A kernel's parameter and output names as Python strings, made once per kernel (kernels
// are never removed from the registry). Never destroyed: the interpreter may be gone by the
// time static destructors run.
struct KernelNames {
  std::vector<py::str> params, outputs;
};
const KernelNames& python_names(const KernelDef& k) {
  static auto* cache = new std::unordered_map<const KernelDef*, KernelNames>;  // under the GIL
  auto [it, added] = cache->try_emplace(&k);
  if (added) {
    for (const auto& p : k.params) it->second.params.emplace_back(p.name);
    for (const auto& o : k.outputs) it->second.outputs.emplace_back(o.name);
  }
  return it->second;
}

// A kernel call made from Python: the runtime's Call, its supervision, and the Python
// objects it uses (the input arrays it reads, kept alive; the numpy arrays it writes). Shared
// by run() and submit(). If it is dropped while the kernel runs, it cancels the kernel and
// waits for it, so a kernel never writes to memory Python has let go.
// The arguments of a call from its Python keyword arguments; `holders` keeps the memory of
// array arguments (the given arrays, or their one converted copy) alive, by parameter name.
std::vector<std::pair<std::string, Value>> given_from_python(
    const KernelDef& k, const py::dict& params, std::vector<std::pair<std::string, py::object>>& holders) {
  std::vector<std::pair<std::string, Value>> given;
  given.reserve(params.size());
  for (auto item : params) {
    std::string key = name_text(item.first);
    const ParamSpec* p = k.find_param(key);
    if (!p) throw_unexpected_argument(k, key);
    if (p->kind == Kind::Array && !item.second.is_none()) {
      py::object holder;
      given.emplace_back(key, to_view(k, *p, item.second, holder));
      holders.emplace_back(std::move(key), std::move(holder));
    } else {
      given.emplace_back(std::move(key), to_value(k, *p, item.second));
    }
  }
  return given;
}

class PyCall {
 public:
  static std::shared_ptr<PyCall> prepare(const KernelDef& k, const py::dict& params,
                                         const py::object& timeout, py::object progress) {
    auto self = std::make_shared<PyCall>(parse_timeout(k, timeout), std::move(progress));
    auto given = given_from_python(k, params, self->m_holders);
    const OutputAllocator alloc = [&](const OutputSpec& o, const std::vector<std::int64_t>& shape) {
      std::vector<py::ssize_t> dims(shape.begin(), shape.end());
      try {
        self->m_arrays.emplace_back(to_numpy(o.dtype), dims);
      } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_MemoryError)) throw;
        throw std::bad_alloc();  // prepare_call() names the kernel, parameters and output
      }
      return self->m_arrays.back().mutable_data();
    };
    self->m_call = prepare_call(k, std::move(given), &alloc);
    return self;
  }

  PyCall(std::optional<double> timeout, py::object progress)
      : m_supervision(timeout, std::move(progress)) {}
  PyCall(const PyCall&) = delete;
  PyCall& operator=(const PyCall&) = delete;
  ~PyCall() {
    if (m_started && !m_call->done()) {
      m_call->cancel();
      PyThreadState* state = PyGILState_Check() ? PyEval_SaveThread() : nullptr;
      m_call->wait();
      if (state) PyEval_RestoreThread(state);
    }
  }

  const std::shared_ptr<Call>& call() const { return m_call; }

  // Runs the call to its end with the GIL released, supervised. A call without timeout or
  // progress runs on this thread when the arena has a free slot for it (no hand-off to a
  // worker, ~4 us per call instead of 20-70); on the main thread supervision then takes its
  // turns from the kernel's cancellation checks, running Python's signal handlers (so Ctrl-C
  // stops the kernel). Other threads run no Python code inside a kernel, so a daemon thread
  // never takes the GIL there while the interpreter finalizes. Every other call runs on a
  // worker while this thread takes the turns, waking every tick.
  void run() {
    const bool on_main = PyThread_get_thread_ident() == main_thread_ident();
    m_supervision.begin();
    if (!m_supervision.has_timeout() && !m_supervision.reports_progress()) {
      PyThreadState* const tstate = PyThreadState_Get();
      CallerDuty duty(kSupervisorTick, [&] { m_supervision.turn(*m_call, true, tstate); });
      m_started = without_gil([&] { return simhost::run_here(m_call, on_main ? &duty : nullptr); });
      if (m_started) return;
    }
    CallInProgress waiting;
    start_once();
    StopIfAbandoned guard{*m_call};
    PyThreadState* state = PyEval_SaveThread();
    while (!m_call->wait_for(kSupervisorTick)) {
      if (m_supervision.turn(*m_call, on_main, state)) {
        m_call->wait();
        break;
      }
    }
    PyEval_RestoreThread(state);
  }

  // Starts the call on a worker (for a future, which the watcher then supervises).
  void start_once() {
    if (!m_started) {
      m_supervision.begin();
      start(m_call);  // throws, leaving m_started false, if it cannot start
    }
    m_started = true;
  }

  // The watcher's turn (GIL held): timeout and progress. True once the call must stop.
  bool tick() { return m_supervision.turn(*m_call, false, nullptr); }

  // After the kernel finished: raises what ended it (see Supervision::finish), or returns
  // (outputs, params, seconds).
  py::tuple collect() {
    m_supervision.finish(*m_call);
    const KernelNames& names = python_names(m_call->kernel());
    py::dict outputs;
    std::size_t next_array = 0;
    for (std::size_t i = 0; i < m_call->outputs().size(); ++i) {
      const OutputSlot& slot = m_call->outputs()[i];
      if (slot.spec->kind == Kind::Array) outputs[names.outputs[i]] = m_arrays[next_array++];
      else outputs[names.outputs[i]] = py::float_(slot.scalar);
    }
    py::dict used;
    const auto& items = m_call->args().items();  // in the kernel's parameter order
    for (std::size_t i = 0; i < items.size(); ++i) {
      py::object holder = py::none();
      for (const auto& h : m_holders)
        if (h.first == items[i].first) holder = h.second;
      used[names.params[i]] = value_to_python(items[i].second, holder);
    }
    return py::make_tuple(outputs, used, m_call->seconds());
  }

 private:
  Supervision m_supervision;
  std::shared_ptr<Call> m_call;
  std::vector<std::pair<std::string, py::object>> m_holders;  // arrays given to the kernel
  std::vector<py::array> m_arrays;                            // outputs, in output order
  bool m_started = false;
};

// Python threads inside run() (from taking its arguments to handing back its result). After
// an interrupt, the exit path waits for them to leave before the interpreter finalizes: a
// thread still inside then would be ended by a forced unwind when it takes the GIL back,
// releasing its Python objects without the GIL.
struct ThreadsInRun {
  std::mutex mutex;
  std::condition_variable left;
  int inside = 0;
};
ThreadsInRun& threads_in_run() {
  static auto* t = new ThreadsInRun;  // never destroyed: threads may still leave at exit
  return *t;
}
struct InRun {
  InRun() {
    std::lock_guard lock(threads_in_run().mutex);
    ++threads_in_run().inside;
  }
  ~InRun() {
    ThreadsInRun& t = threads_in_run();
    std::lock_guard lock(t.mutex);
    if (--t.inside == 0) t.left.notify_all();
  }
  InRun(const InRun&) = delete;
  InRun& operator=(const InRun&) = delete;
};

// _stop_all_calls(wait): cancels every call (stop_all_calls()), then waits with the GIL
// released, at most `wait` seconds, until no other thread is inside run().
void stop_all_calls_and_wait(double wait) {
  stop_all_calls();
  const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(wait));
  without_gil([&] {
    ThreadsInRun& t = threads_in_run();
    std::unique_lock lock(t.mutex);
    t.left.wait_for(lock, limit, [&] { return t.inside == 0; });
  });
}

// _run(name, params, timeout, progress) -> (outputs, params_as_used, seconds)
py::tuple run_kernel(const py::object& name, const py::dict& params, const py::object& timeout,
                     const py::object& progress) {
  InRun inside;
  auto pc = PyCall::prepare(kernel_named(name, "run"), params, timeout, progress);
  pc->run();
  return pc->collect();
}

// _submit(name, params, timeout, progress) -> a started call, for simhost.Future.
std::shared_ptr<PyCall> submit_kernel(const py::object& name, const py::dict& params,
                                      const py::object& timeout, const py::object& progress) {
  auto pc = PyCall::prepare(kernel_named(name, "submit"), params, timeout, progress);
  pc->start_once();
  return pc;
}

// The Python front end's words for the core's neutral errors: a call's parameters are keyword
// arguments here, worded like Python's own TypeError, and processes come from multiprocessing.
std::string python_words(const UnexpectedParameterError& e) {
  return fmt::format("{}() got an unexpected keyword argument '{}'; {}", e.kernel(), e.name(),
                     e.hint());
}
std::string python_words(const MissingParametersError& e) {
  const std::size_t n = e.names().size();
  return fmt::format("{}() missing {} required keyword argument{}: {}", e.kernel(), n,
                     n == 1 ? "" : "s", quoted_list(e.names(), " and "));
}
std::string python_words(const ForkedProcessError& e) {
  return std::string(e.what()) +
         "; start worker processes with the 'forkserver' (simhost's default) or 'spawn' method "
         "of multiprocessing";
}

py::object bound_to_python(const ParamSpec& p, const std::optional<Bound>& b) {
  if (!b) return py::none();
  py::object value = p.kind == Kind::Int ? py::object(py::int_(static_cast<std::int64_t>(b->value)))
                                          : py::object(py::float_(b->value));
  return py::dict(py::arg("value") = value, py::arg("inclusive") = b->inclusive);
}

py::dict describe(const py::object& name) {
  const KernelDef& k = kernel_named(name, "describe");
  py::list params;
  for (const auto& p : k.params) {
    py::dict d;
    d["name"] = p.name;
    d["kind"] = std::string(kind_name(p.kind));
    d["dtype"] = p.kind == Kind::Array ? py::object(py::str(dtype_name(p.dtype))) : py::none();
    d["shape"] = p.kind == Kind::Array ? py::object(py::str(shape_text(p.shape))) : py::none();
    d["required"] = p.required();
    d["default"] = p.required() ? py::none() : value_to_python(*p.default_value, py::none());
    d["min"] = bound_to_python(p, p.min);
    d["max"] = bound_to_python(p, p.max);
    d["choices"] = p.choices;
    d["finite"] = p.finite && (p.kind == Kind::Float || (p.kind == Kind::Array && p.dtype == DType::Float64));
    d["unit"] = p.unit;
    d["doc"] = p.doc;
    params.append(d);
  }
  py::list outputs;
  for (const auto& o : k.outputs) {
    py::dict d;
    d["name"] = o.name;
    d["kind"] = std::string(kind_name(o.kind));
    d["dtype"] = o.kind == Kind::Array ? py::object(py::str(dtype_name(o.dtype))) : py::none();
    d["shape"] = o.kind == Kind::Array ? py::object(py::str(shape_text(o.shape))) : py::none();
    d["unit"] = o.unit;
    d["doc"] = o.doc;
    outputs.append(d);
  }
  py::dict out;
  out["name"] = k.name;
  out["summary"] = k.summary;
  out["doc"] = k.doc;
  out["progress_unit"] = k.progress_unit;
  out["source"] = k.source;
  out["python"] = k.front_end == "python";
  out["params"] = params;
  out["outputs"] = outputs;
  out["text"] = describe_text(k);
  // The kernel's example call, new objects each time: numpy arrays (copies of the memory the
  // example owns) and Python scalars, ready for simhost.run(name, **example); None if none.
  py::object example = py::none();
  if (k.example) {
    const OwnedArgs args = k.example();
    py::dict values;
    for (const auto& [param, v] : args.values()) {
      if (const auto* a = std::get_if<ConstArrayView>(&v)) {
        std::vector<py::ssize_t> shape(a->shape.begin(), a->shape.end());
        values[py::str(param)] = py::array(to_numpy(a->dtype), shape, a->data);  // copies
      } else {
        values[py::str(param)] = value_to_python(v, py::none());
      }
    }
    example = values;
  }
  out["example"] = example;
  return out;
}

// ---- Plugins -------------------------------------------------------------------------------

// The folder of the shared object this code is in: the package folder when it is the
// extension module (in the host binary, the host loaded the kernels before the module).
std::string own_folder() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&own_folder), &info) == 0 || !info.dli_fname) return {};
  return std::filesystem::path(info.dli_fname).parent_path().string();
}

py::list plugins_loaded() {
  py::list out;
  for (const auto& r : loaded_plugins()) {
    py::dict d;
    d["file"] = r.file;
    d["name"] = r.name;
    d["version"] = r.version;
    d["abi"] = r.abi;
    d["kind"] = r.kind;
    d["kernels"] = r.kernels;
    out.append(d);
  }
  return out;
}

py::list plugin_failures_list() {
  py::list out;
  for (const auto& f : plugin_failures()) out.append(py::make_tuple(f.file, f.reason));
  return out;
}

// simhost.load_plugin() of a native file: the kernels it added, or ImportError with the reason.
py::list load_native_plugin(const std::string& path) {
  const std::size_t failures_before = plugin_failures().size();
  const std::size_t loaded_before = loaded_plugins().size();
  const bool ok = without_gil([&] { return load_plugin(Registry::global(), path); });
  const auto failures = plugin_failures();
  if (!ok) {
    // Every reason of this load (a plugin whose kernels were all refused has one each).
    std::string reason;
    for (std::size_t i = failures_before; i < failures.size(); ++i)
      if (failures[i].file == path) reason += (reason.empty() ? "" : "; ") + failures[i].reason;
    if (reason.empty()) reason = "unknown";
    PyErr_SetString(PyExc_ImportError, fmt::format("cannot load plugin {}: {}", path, reason).c_str());
    throw py::error_already_set();
  }
  const auto loaded = loaded_plugins();
  py::list kernels;
  if (loaded.size() > loaded_before)
    for (const auto& k : loaded.back().kernels) kernels.append(k);
  return kernels;
}

// The C ABI's run function of a Python kernel: the Python front end runs those itself.
SimhostStatus python_kernel_run(SimhostCall*, void*) {
  return SIMHOST_STATUS_ERROR;
}

// Registers a kernel of a Python plugin from its description (simhost.kernel()), through the
// C ABI's descriptor, so that it obeys the same rules and reads the same as a native one.
void register_python_kernel(const py::dict& spec) {
  std::deque<std::string> text;  // the descriptor's strings
  auto str = [&](const py::handle& d, const char* key) -> const char* {
    const py::dict dict = py::reinterpret_borrow<py::dict>(d);
    if (!dict.contains(key) || dict[key].is_none()) return nullptr;
    text.push_back(py::str(dict[key]).cast<std::string>());
    return text.back().c_str();
  };
  // The C ABI's kinds and dtypes have the runtime's values (Kind, DType).
  auto kind_of = [](const std::string& name) -> SimhostKind {
    for (Kind k : {Kind::Float, Kind::Int, Kind::Bool, Kind::String, Kind::Array})
      if (kind_name(k) == name) return static_cast<SimhostKind>(k);
    return 0;
  };
  auto dtype_of_name = [](const std::string& d) -> SimhostDType {
    for (DType t : {DType::Float64, DType::Int64, DType::Int32, DType::Int8, DType::Bool})
      if (dtype_name(t) == d) return static_cast<SimhostDType>(t);
    return 0;
  };
  // The fields parameters and outputs share.
  auto common = [&](auto& d, const py::dict& from) {
    d.struct_size = sizeof d;
    d.kind = kind_of(from["kind"].cast<std::string>());
    d.name = str(from, "name");
    d.doc = str(from, "doc");
    d.unit = str(from, "unit");
    if (from.contains("dtype")) d.dtype = dtype_of_name(from["dtype"].cast<std::string>());
    d.shape = str(from, "shape");
    d.allow_nonfinite = from.contains("allow_nonfinite") && from["allow_nonfinite"].cast<bool>();
  };
  std::vector<SimhostParamDesc> params;
  std::deque<std::vector<const char*>> choices;
  for (const auto& item : spec["params"].cast<py::list>()) {
    const py::dict p = item.cast<py::dict>();
    SimhostParamDesc d{};
    common(d, p);
    if (p.contains("default")) {
      const py::object v = p["default"];
      if (v.is_none()) {
        d.default_kind = SIMHOST_DEFAULT_NONE;
      } else {
        d.default_kind = SIMHOST_DEFAULT_VALUE;
        if (d.kind == SIMHOST_KIND_FLOAT) d.default_float = v.cast<double>();
        else if (d.kind == SIMHOST_KIND_INT) d.default_int = v.cast<std::int64_t>();
        else if (d.kind == SIMHOST_KIND_BOOL) d.default_bool = v.cast<bool>();
        else d.default_string = str(p, "default");
      }
    }
    for (const char* side : {"min", "max"}) {
      if (!p.contains(side) || p[side].is_none()) continue;
      const bool lower = side[1] == 'i';
      const double bound = p[side].cast<double>();
      const bool inclusive = p[lower ? "min_inclusive" : "max_inclusive"].cast<bool>();
      (lower ? d.has_min : d.has_max) = 1;
      (lower ? d.min : d.max) = bound;
      (lower ? d.min_inclusive : d.max_inclusive) = inclusive;
    }
    choices.emplace_back();
    if (p.contains("choices"))
      for (const auto& c : p["choices"].cast<py::list>()) {
        text.push_back(py::str(c).cast<std::string>());
        choices.back().push_back(text.back().c_str());
      }
    d.choices = choices.back().data();
    d.n_choices = static_cast<std::int32_t>(choices.back().size());
    params.push_back(d);
  }
  std::vector<SimhostOutputDesc> outputs;
  for (const auto& item : spec["outputs"].cast<py::list>()) {
    const py::dict o = item.cast<py::dict>();
    SimhostOutputDesc d{};
    common(d, o);
    outputs.push_back(d);
  }
  SimhostKernelDesc d{};
  d.struct_size = sizeof d;
  d.name = str(spec, "name");
  d.summary = str(spec, "summary");
  d.doc = str(spec, "doc");
  d.params = params.data();
  d.n_params = static_cast<std::int32_t>(params.size());
  d.outputs = outputs.data();
  d.n_outputs = static_cast<std::int32_t>(outputs.size());
  d.progress_unit = str(spec, "progress_unit");
  d.run = &python_kernel_run;
  const std::string file = spec["file"].cast<std::string>();
  KernelDef k = kernel_from_descriptor(Registry::global(), d, file);
  k.source = "Python plugin " + file;
  k.front_end = "python";
  k.run = [](CallContext& ctx) {
    throw KernelError(fmt::format("{}() is a Python kernel: it runs through simhost.run()",
                                  ctx.kernel().name));
  };
  Registry::global().add(std::move(k));
}

// For a Python kernel: its arguments bound as for any kernel (converted, checked, defaults
// filled in, the shapes of its outputs computed), as (params, output shapes).
py::tuple bind_for_python(const py::object& name, const py::dict& params) {
  const KernelDef& k = kernel_named(name, "run");
  std::vector<std::pair<std::string, py::object>> holders;
  const Args args = bind(k, given_from_python(k, params, holders));
  if (k.check) k.check(args);
  py::dict bound;
  for (const auto& [pname, v] : args.items()) {
    py::object holder = py::none();
    for (const auto& [hname, h] : holders)
      if (hname == pname) holder = h;
    bound[py::str(pname)] = value_to_python(v, holder);
  }
  py::dict shapes;
  for (const auto& o : k.outputs) {
    if (o.kind != Kind::Array) {
      shapes[py::str(o.name)] = py::none();
      continue;
    }
    py::tuple shape = py::cast(output_shape(o, args));
    shapes[py::str(o.name)] = shape;
  }
  return py::make_tuple(bound, shapes);
}

}  // namespace

namespace detail {
py::dtype numpy_dtype(DType dtype) { return to_numpy(dtype); }
std::vector<std::pair<std::string, Value>> values_from_python(
    const KernelDef& kernel, const py::dict& params,
    std::vector<std::pair<std::string, py::object>>& holders) {
  return given_from_python(kernel, params, holders);
}
}  // namespace detail

py::dict library_versions() {
  py::dict v;
  v["simhost"] = SIMHOST_VERSION;
  v["oneTBB"] = fmt::format("{}.{}.{}", TBB_VERSION_MAJOR, TBB_VERSION_MINOR, TBB_VERSION_PATCH);
  v["Eigen"] = fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  v["pybind11"] = fmt::format("{}.{}.{}", PYBIND11_VERSION_MAJOR, PYBIND11_VERSION_MINOR,
                              PYBIND11_VERSION_PATCH);
  // The kernels' CPU path in use (generic, avx2, avx512 or native): results' provenance.
  v["cpu"] = std::string(cpu_path_name(cpu_path()));
  return v;
}

void reserve_python_names(Registry& registry) {
  // A kernel parameter with one of these names could not be passed, an output not be read.
  registry.reserve_parameter_names({"timeout", "progress", "name"}, "simhost.run()");
  registry.reserve_output_names({"kernel", "params", "seconds", "keys", "items", "values", "get"},
                                "simhost.Result");
}

void bind_module(py::module_& m) {
  reserve_python_names(Registry::global());
  // In a plain python3 this is the process's one loading step (the host binary made it
  // already): built-ins, then native plugins, the installed folder being the package's.
  if (const std::string dir = own_folder(); !dir.empty())
    load_kernels({{}, {dir + "/plugins"}, false});
  else
    load_kernels({});
  // Resolved here, once: a first resolution inside two racing calls could deadlock, one
  // thread holding the static's guard while running Python, the other the GIL.
  main_thread_ident();
  m.doc() = "Native core of simhost (use the `simhost` package, not this module).";
  m.attr("__version__") = SIMHOST_VERSION;
  m.attr("_numpy_built_for") = SIMHOST_NUMPY_VERSION;

  static py::exception<KernelError> kernel_error(m, "KernelError", PyExc_RuntimeError);
  static py::exception<UnknownKernelError> unknown_kernel(m, "UnknownKernelError", PyExc_LookupError);
  static py::exception<BatchError> batch_error(m, "BatchError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const UnknownKernelError& e) {
      PyErr_SetString(unknown_kernel.ptr(), e.what());
    } catch (const KernelError& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    } catch (const UnexpectedParameterError& e) {
      PyErr_SetString(PyExc_TypeError, python_words(e).c_str());
    } catch (const MissingParametersError& e) {
      PyErr_SetString(PyExc_TypeError, python_words(e).c_str());
    } catch (const ArgumentTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ArgumentValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Cancelled& e) {
      py::object cancelled = py::module_::import("concurrent.futures").attr("CancelledError");
      PyErr_SetString(cancelled.ptr(), e.what());
    } catch (const BatchError& e) {
      PyErr_SetString(batch_error.ptr(), e.what());
    } catch (const ForkedProcessError& e) {
      PyErr_SetString(kernel_error.ptr(), python_words(e).c_str());
    } catch (const Error& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    }
  });

  detail::bind_batch(m);
  m.def("_run", &run_kernel, py::arg("name"), py::arg("params"), py::arg("timeout"),
        py::arg("progress"),
        "Runs a kernel, supervised, with the GIL released: timeout (seconds or None), "
        "progress(done, total) (or None) at most every 0.1 s and once at the end, Ctrl-C; "
        "returns (outputs, params, seconds).");
  py::class_<PyCall, std::shared_ptr<PyCall>>(m, "_Call",
                                               "A submitted kernel call (see simhost.Future).")
      .def("done", [](const PyCall& c) { return c.call()->done(); })
      .def("cancel", [](const PyCall& c) { c.call()->cancel(); },
           "Asks the kernel to stop at its next chunk boundary; returns at once.")
      .def("wait",
           [](const PyCall& c, const py::object& timeout) {
             if (timeout.is_none()) {
               without_gil([&] { c.call()->wait(); });
               return true;
             }
             const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::duration<double>(std::max(timeout.cast<double>(), 0.0)));
             return without_gil([&] { return c.call()->wait_for(t); });
           },
           py::arg("timeout") = py::none(), "Waits with the GIL released; True when done.")
      .def("progress", [](const PyCall& c) {
        return py::make_tuple(c.call()->progress().done(), c.call()->progress().total());
      })
      .def("tick", &PyCall::tick,
           "The watcher's turn of supervision while the kernel runs: cancels it past its "
           "timeout, reports progress when due (an exception there cancels it and is kept for "
           "collect()). True once the call must stop.")
      .def("collect", &PyCall::collect,
           "After done(): (outputs, params, seconds), or raises what ended the call: an "
           "exception of its progress callable, TimeoutError, CancelledError or the kernel's "
           "error.");
  m.def("_submit", &submit_kernel, py::arg("name"), py::arg("params"), py::arg("timeout"),
        py::arg("progress"), "Starts a kernel call and returns at once.");
  m.attr("_TICK") = std::chrono::duration<double>(kSupervisorTick).count();
  m.def("_stop_all_calls", &stop_all_calls_and_wait, py::arg("wait"),
        "Cancels every kernel call in progress and every later one (the process is ending "
        "after Ctrl-C; they raise KeyboardInterrupt), then waits at most `wait` seconds, with "
        "the GIL released, for other threads to leave run().");
  m.def("_getenv",
        [](const char* name) -> py::object {
          const char* value = std::getenv(name);  // os.environ writes through to it
          if (value == nullptr) return py::none();
          return py::str(value);
        },
        py::arg("name"),
        "The environment variable `name`, or None: os.environ.get() without its ~0.5 us of "
        "encoding, for the per-call path.");
  m.def("_completion_epoch", &completion_epoch,
        "A counter that goes up each time any kernel call finishes.");
  m.def("_wait_for_completion",
        [](std::uint64_t seen, double timeout) {
          const auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::duration<double>(timeout));
          return without_gil([&] { return wait_for_completion(seen, t); });
        },
        py::arg("seen"), py::arg("timeout"),
        "Waits (GIL released) until the completion counter differs from `seen`, at most "
        "`timeout` seconds; returns it.");
  m.def("list_kernels", [] { return Registry::global().names(); },
        "Names of every registered kernel, sorted.");
  m.def("describe", &describe, py::arg("name"),
        "Everything about a kernel: parameters (type, shape, default, bounds, unit, doc) and "
        "outputs, as a dict; its 'text' entry is what `simhost kernels NAME` prints.");
  m.def("set_threads",
        [](const py::object& threads) {
          const bool is_int = !PyBool_Check(threads.ptr()) && PyIndex_Check(threads.ptr()) &&
                              !(py::isinstance<py::array>(threads) &&
                                py::reinterpret_borrow<py::array>(threads).ndim() != 0);
          if (!is_int)
            throw ArgumentTypeError(fmt::format("set_threads() expects an int, got {}",
                                                Py_TYPE(threads.ptr())->tp_name));
          py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Index(threads.ptr()));
          if (!as_int)
            throw ArgumentTypeError(fmt::format("set_threads() expects an int, got {} whose "
                                                "__index__() failed: {}",
                                                Py_TYPE(threads.ptr())->tp_name,
                                                fetch_error_text()));
          // The executor checks the range, from the int's decimal text (whatever its size).
          const int n =
              parse_threads(py::str(as_int).cast<std::string>(), "set_threads(): threads");
          // Waits for running kernels, a tick at a time, so Ctrl-C is honoured meanwhile.
          while (!without_gil([&] { return try_set_threads(n, kSupervisorTick); }))
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        },
        py::arg("threads"),
        "Sets the process-wide thread budget (the one TBB arena every kernel runs in). Waits for "
        "running kernels to finish first (Ctrl-C interrupts the wait).");
  m.def("get_threads", &get_threads, "The process-wide thread budget.");
  m.def("_load_native_plugin", &load_native_plugin, py::arg("path"),
        "Loads a native plugin (dlopen, ABI check, init); returns the names of the kernels it "
        "added, or raises ImportError with the reason.");
  m.def("_plugins", &plugins_loaded, "The plugins that loaded: file, name, version, abi, kind, kernels.");
  m.def("_plugin_failures", &plugin_failures_list, "What failed to load: (file, reason) pairs.");
  m.def("_plugin_folders", &plugin_folders_searched,
        "The plugin folders searched at start-up (none in safe mode), in order.");
  m.def("_python_plugin_files", &python_plugin_files_given,
        "The Python plugin files named on the host's command line (--plugin FILE.py).");
  m.def("_plugins_disabled", &plugins_disabled_by_environment, "SIMHOST_NO_PLUGINS is set.");
  m.def("_record_plugin",
        [](const std::string& file, const std::string& name, const std::vector<std::string>& kernels) {
          record_plugin({file, name, "", "", "python", kernels});
        },
        py::arg("file"), py::arg("name"), py::arg("kernels"), "Records a Python plugin that loaded.");
  m.def("_record_plugin_failure",
        [](const std::string& file, const std::string& reason) { record_plugin_failure({file, reason}); },
        py::arg("file"), py::arg("reason"), "Records a plugin that failed to load.");
  m.def("_register_python_kernel", &register_python_kernel, py::arg("spec"),
        "Registers a Python kernel from its description (see simhost.kernel).");
  m.def("_bind", &bind_for_python, py::arg("name"), py::arg("params"),
        "Binds the arguments of a Python kernel: (params, output shapes).");
  m.def("_library_versions", &library_versions, "Versions of simhost and the libraries it was built with.");
}

}  // namespace simhost
