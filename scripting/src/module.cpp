// bind_module(): the `simhost` module's native core, shared by the host binary and the
// importable extension. Converts arguments, supervises calls with the GIL released, and
// translates errors once.
#include "module.hpp"

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <unordered_map>

#include <Eigen/Core>
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <tbb/version.h>

#include "simhost/call.hpp"
#include "simhost/executor.hpp"
#include "simhost/kernels.hpp"
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

// A numpy array as a kernel input: the same memory when it already is C-contiguous, aligned
// and of the declared dtype; otherwise one converted copy when numpy can convert it without
// losing information; otherwise a TypeError. `holder` keeps the memory alive for the call.
ArrayView to_view(const KernelDef& k, const ParamSpec& p, const py::handle& obj, py::object& holder) {
  const py::dtype want = to_numpy(p.dtype);
  py::array arr;
  if (py::isinstance<py::array>(obj)) {
    arr = py::reinterpret_borrow<py::array>(obj);
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
    py::object converted;
    if (np.attr("can_cast")(have, want, "safe").cast<bool>()) {
      converted = np.attr("ascontiguousarray")(arr, want);
    } else {
      // Not safe by type (e.g. int64 -> int8, float -> int): accept when these values survive.
      converted = np.attr("ascontiguousarray")(arr.attr("astype")(want));
      if (!np.attr("array_equal")(converted, arr).cast<bool>())
        throw ArgumentTypeError(fmt::format(
            "{}(): parameter '{}' expects a {} array, got {} values that do not convert to {} "
            "without loss",
            k.name, p.name, want_name, have.attr("name").cast<std::string>(), want_name));
    }
    holder = converted;
  }
  py::array held = py::reinterpret_borrow<py::array>(holder);
  ArrayView view;
  view.data = const_cast<void*>(held.data());
  view.dtype = p.dtype;
  for (py::ssize_t d = 0; d < held.ndim(); ++d) view.shape.push_back(held.shape(d));
  return view;
}

// A Python scalar as a kernel value; the binding checks it against the parameter's kind.
Value to_value(const KernelDef& k, const ParamSpec& p, const py::handle& obj) {
  PyObject* o = obj.ptr();
  static const py::object np_bool = py::module_::import("numpy").attr("bool_");
  static const py::object np_floating = py::module_::import("numpy").attr("floating");
  if (o == Py_None) return std::monostate{};
  if (PyBool_Check(o) || py::isinstance(obj, np_bool)) return bool(PyObject_IsTrue(o));
  if (PyFloat_Check(o) || py::isinstance(obj, np_floating)) return PyFloat_AsDouble(o);
  if (PyLong_Check(o) || PyIndex_Check(o)) {
    int overflow = 0;
    py::object as_int = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
    if (overflow != 0)
      throw ArgumentValueError(fmt::format("{}(): parameter '{}' is out of the 64-bit integer range, "
                                           "got {}",
                                           k.name, p.name, py::repr(obj).cast<std::string>()));
    return static_cast<std::int64_t>(v);
  }
  if (PyUnicode_Check(o)) return obj.cast<std::string>();
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
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      PyEval_RestoreThread(state);
    } else {
      auto result = f();
      PyEval_RestoreThread(state);
      return result;
    }
  } catch (...) {
    PyEval_RestoreThread(state);
    throw;
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

// Waits for a started call with the GIL released, waking every tick to run
// Python's signal handlers, check the timeout and report progress. On Ctrl-C (or any
// exception a signal handler or the progress callable raises) and on timeout, the kernel is
// cancelled and waited for before raising, so no kernel ever writes to memory Python has
// let go.
void supervise(const std::shared_ptr<Call>& call, std::optional<double> timeout,
               const py::object& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  auto last_report = t0;
  bool raised = false, timed_out = false;
  StopIfAbandoned guard{*call};
  PyThreadState* state = PyEval_SaveThread();
  while (!call->wait_for(kSupervisorTick)) {
    const auto now = std::chrono::steady_clock::now();
    if (timeout && std::chrono::duration<double>(now - t0).count() > *timeout) {
      timed_out = true;
    } else {
      PyEval_RestoreThread(state);  // see without_gil() for why no RAII guard here
      raised = PyErr_CheckSignals() != 0;
      if (!raised && !progress.is_none() && now - last_report >= kProgressInterval) {
        last_report = now;
        PyObject* r = PyObject_CallFunction(progress.ptr(), "LL", call->progress().done(),
                                            call->progress().total());
        raised = r == nullptr;
        Py_XDECREF(r);
      }
      state = PyEval_SaveThread();
    }
    if (raised || timed_out) {
      call->cancel();
      call->wait();
      break;
    }
  }
  PyEval_RestoreThread(state);
  if (raised) throw py::error_already_set();
  if (timed_out) {
    try {
      call->rethrow_if_failed();
    } catch (const Cancelled&) {
      PyErr_SetString(PyExc_TimeoutError,
                      fmt::format("{}() did not finish within timeout={} s and was cancelled",
                                  call->kernel().name, number_text(*timeout))
                          .c_str());
      throw py::error_already_set();
    }
  }
  call->rethrow_if_failed();
  if (!progress.is_none()) progress(call->progress().done(), call->progress().total());
}

py::object value_to_python(const Value& v, const py::object& array_holder) {
  struct Visitor {
    const py::object& holder;
    py::object operator()(std::monostate) const { return py::none(); }
    py::object operator()(double x) const { return py::float_(x); }
    py::object operator()(std::int64_t x) const { return py::int_(x); }
    py::object operator()(bool x) const { return py::bool_(x); }
    py::object operator()(const std::string& x) const { return py::str(x); }
    py::object operator()(const ArrayView&) const { return holder; }
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

// A kernel call made from Python: the runtime's Call plus the Python objects it uses (the
// input arrays it reads, kept alive; the numpy arrays it writes). Shared by run() and
// submit(). If it is dropped while the kernel runs, it cancels the kernel and waits for it,
// so a kernel never writes to memory Python has let go.
class PyCall {
 public:
  static std::shared_ptr<PyCall> prepare(const KernelDef& k, const py::dict& params) {
    auto self = std::make_shared<PyCall>();
    std::vector<std::pair<std::string, Value>> given;
    given.reserve(params.size());
    for (auto item : params) {
      std::string key = item.first.cast<std::string>();
      const ParamSpec* p = k.find_param(key);
      if (!p) throw_unexpected_argument(k, key);
      if (p->kind == Kind::Array && !item.second.is_none()) {
        py::object holder;
        given.emplace_back(key, to_view(k, *p, item.second, holder));
        self->m_holders.emplace_back(std::move(key), std::move(holder));
      } else {
        given.emplace_back(std::move(key), to_value(k, *p, item.second));
      }
    }
    const OutputAllocator alloc = [&](const OutputSpec& o, const std::vector<std::int64_t>& shape) {
      std::vector<py::ssize_t> dims(shape.begin(), shape.end());
      self->m_arrays.emplace_back(to_numpy(o.dtype), dims);
      return self->m_arrays.back().mutable_data();
    };
    self->m_call = prepare_call(k, std::move(given), &alloc);
    return self;
  }

  PyCall() = default;
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

  // Runs the call on this thread with the GIL released (no hand-off to a worker) and returns
  // true, or returns false having run nothing when the arena has no free slot for this
  // thread. On the main thread, Python's signal handlers run from the kernel's cancellation
  // checks every tick, as supervise() runs them, so Ctrl-C still stops the kernel; an
  // exception a handler raises cancels it and is raised here. Other threads run no Python
  // code meanwhile (signal handlers run on the main thread only), so a daemon thread never
  // takes the GIL inside a kernel while the interpreter finalizes.
  bool run_here() {
    PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
    PyThreadState* const tstate = PyThreadState_Get();
    CallerDuty duty(kSupervisorTick, [&] {
      PyEval_RestoreThread(tstate);
      if (type == nullptr && PyErr_CheckSignals() != 0) {
        PyErr_Fetch(&type, &value, &trace);
        m_call->cancel();
      }
      PyEval_SaveThread();
    });
    CallerDuty* const on_main_thread =
        PyThread_get_thread_ident() == main_thread_ident() ? &duty : nullptr;
    const bool ran = without_gil([&] { return simhost::run_here(m_call, on_main_thread); });
    m_started = ran;
    if (type != nullptr) {
      PyErr_Restore(type, value, trace);
      throw py::error_already_set();
    }
    return ran;
  }

  void start_once() {
    if (!m_started) start(m_call);  // throws, leaving m_started false, if it cannot start
    m_started = true;
  }

  // After the kernel finished: rethrows its error, or returns (outputs, params, seconds).
  py::tuple collect() const {
    m_call->rethrow_if_failed();
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
  std::shared_ptr<Call> m_call;
  std::vector<std::pair<std::string, py::object>> m_holders;  // arrays given to the kernel
  std::vector<py::array> m_arrays;                            // outputs, in output order
  bool m_started = false;
};

// _run(name, params, timeout, progress) -> (outputs, params_as_used, seconds)
// A call without timeout or progress runs on the calling thread (see PyCall::run_here); the
// others, and any call the arena has no free slot for, run on a worker while this thread
// supervises.
py::tuple run_kernel(const std::string& name, const py::dict& params, const py::object& timeout,
                     const py::object& progress) {
  const KernelDef& k = Registry::global().get(name);
  const std::optional<double> limit = parse_timeout(k, timeout);
  auto pc = PyCall::prepare(k, params);
  if (!limit && progress.is_none() && pc->run_here()) return pc->collect();
  CallInProgress waiting;
  pc->start_once();
  supervise(pc->call(), limit, progress);
  return pc->collect();
}

// _submit(name, params) -> a started call, for simhost.Future.
std::shared_ptr<PyCall> submit_kernel(const std::string& name, const py::dict& params) {
  auto pc = PyCall::prepare(Registry::global().get(name), params);
  pc->start_once();
  return pc;
}

py::object bound_to_python(const ParamSpec& p, const std::optional<Bound>& b) {
  if (!b) return py::none();
  py::object value = p.kind == Kind::Int ? py::object(py::int_(static_cast<std::int64_t>(b->value)))
                                          : py::object(py::float_(b->value));
  return py::dict(py::arg("value") = value, py::arg("inclusive") = b->inclusive);
}

py::dict describe(const std::string& name) {
  const KernelDef& k = Registry::global().get(name);
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
      if (const auto* a = std::get_if<ArrayView>(&v)) {
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

}  // namespace

py::dict library_versions() {
  py::dict v;
  v["simhost"] = SIMHOST_VERSION;
  v["oneTBB"] = fmt::format("{}.{}.{}", TBB_VERSION_MAJOR, TBB_VERSION_MINOR, TBB_VERSION_PATCH);
  v["Eigen"] = fmt::format("{}.{}.{}", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  v["pybind11"] = fmt::format("{}.{}.{}", PYBIND11_VERSION_MAJOR, PYBIND11_VERSION_MINOR,
                              PYBIND11_VERSION_PATCH);
  return v;
}

void bind_module(py::module_& m) {
  add_builtin_kernels(Registry::global());
  // Resolved here, once: a first resolution inside two racing calls could deadlock, one
  // thread holding the static's guard while running Python, the other the GIL.
  main_thread_ident();
  m.doc() = "Native core of simhost (use the `simhost` package, not this module).";
  m.attr("__version__") = SIMHOST_VERSION;

  static py::exception<KernelError> kernel_error(m, "KernelError", PyExc_RuntimeError);
  static py::exception<UnknownKernelError> unknown_kernel(m, "UnknownKernelError", PyExc_LookupError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const UnknownKernelError& e) {
      PyErr_SetString(unknown_kernel.ptr(), e.what());
    } catch (const KernelError& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    } catch (const ArgumentTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ArgumentValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Cancelled& e) {
      py::object cancelled = py::module_::import("concurrent.futures").attr("CancelledError");
      PyErr_SetString(cancelled.ptr(), e.what());
    } catch (const Error& e) {
      PyErr_SetString(kernel_error.ptr(), e.what());
    }
  });

  m.def("_run", &run_kernel, py::arg("name"), py::arg("params"), py::arg("timeout"),
        py::arg("progress"),
        "Runs a kernel and waits for it with the GIL released, calling progress(done, total) "
        "(if not None) at most every 0.1 s and once at the end; returns (outputs, params, "
        "seconds).");
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
      .def("collect", &PyCall::collect,
           "After done(): (outputs, params, seconds), or raises the kernel's error.");
  m.def("_submit", &submit_kernel, py::arg("name"), py::arg("params"),
        "Starts a kernel call and returns at once.");
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
          if (PyBool_Check(threads.ptr()) || !PyIndex_Check(threads.ptr()))
            throw ArgumentTypeError(fmt::format("set_threads() expects an int, got {}",
                                                Py_TYPE(threads.ptr())->tp_name));
          const auto n = threads.cast<long long>();
          if (n < 1 || n > kMaxThreads)
            throw ArgumentValueError(fmt::format(
                "set_threads() expects a thread count between 1 and {}, got {}", kMaxThreads, n));
          without_gil([&] { set_threads(static_cast<int>(n)); });  // waits for running kernels
        },
        py::arg("threads"),
        "Sets the process-wide thread budget (the one TBB arena every kernel runs in). Waits for "
        "running kernels to finish first.");
  m.def("get_threads", &get_threads, "The process-wide thread budget.");
  m.def("_library_versions", &library_versions, "Versions of simhost and the libraries it was built with.");
}

}  // namespace simhost
