// The plugin SDK's C++ layer: write a kernel as an ordinary C++ function, header-only, over
// the C ABI of simhost/plugin.h (compiled into the plugin; needs C++17 and Eigen).
//
//   #include <simhost/plugin.hpp>
//   namespace sp = simhost::plugin;
//
//   void decay(sp::Context& ctx) {
//     const auto x0 = ctx.input<double>("x0");          // read-only, dtype checked
//     auto x = ctx.output<double>("x");
//     const double f = std::exp(-ctx.f64("rate") * ctx.f64("t"));
//     ctx.parallel_for(0, x0.size(), 4096, [&](std::int64_t lo, std::int64_t hi) {
//       x.flat().segment(lo, hi - lo) = f * x0.flat().segment(lo, hi - lo);
//     });
//   }
//
//   SIMHOST_PLUGIN("decay", "1.0", registry) {
//     registry.add(sp::Kernel("decay", "Exponential decay of every element")
//                      .param(sp::array_param("x0", "N", "", "initial values"))
//                      .param(sp::float_param("rate", 1.0, "1/s", "decay rate").at_least(0))
//                      .param(sp::float_param("t", {}, "s", "elapsed time").at_least(0))
//                      .output(sp::array_output("x", "N", "", "values at t"))
//                      .run(decay));
//   }
//
// Every exception a kernel, check or example throws is caught at the ABI boundary and becomes
// a status plus message: std::bad_alloc -> MemoryError in Python, ValueError -> ValueError,
// TypeError -> TypeError, anything else -> simhost.KernelError naming the plugin and kernel.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "simhost/plugin.h"

namespace simhost::plugin {

// ---- Errors ---------------------------------------------------------------------------

/// A failure with its ABI status. Throw the subclasses below, or any std::exception.
class Error : public std::runtime_error {
 public:
  Error(SimhostStatus status, const std::string& message)
      : std::runtime_error(message), m_status(status) {}
  SimhostStatus status() const noexcept { return m_status; }

 private:
  SimhostStatus m_status;
};
/// An unusable value (Python: ValueError). Throw it from a check for bad argument combinations.
class ValueError : public Error {
 public:
  explicit ValueError(const std::string& message) : Error(SIMHOST_STATUS_INVALID_VALUE, message) {}
};
/// A wrong kind or type (Python: TypeError).
class TypeError : public Error {
 public:
  explicit TypeError(const std::string& message) : Error(SIMHOST_STATUS_INVALID_TYPE, message) {}
};
/// The call was cancelled; thrown by check_cancelled() and the loops. Let it propagate.
class Cancelled : public Error {
 public:
  Cancelled() : Error(SIMHOST_STATUS_CANCELLED, "the kernel call was cancelled") {}
};

namespace detail {

/// The host's function table, set when the host initialises the plugin.
inline const SimhostHost* g_host = nullptr;

inline const SimhostHost& host() { return *g_host; }

/// Throws the exception that matches a failed status, with the host's message.
inline void check(SimhostStatus status) {
  if (status == SIMHOST_STATUS_OK) return;
  if (status == SIMHOST_STATUS_CANCELLED) throw Cancelled();
  const std::string message = host().last_error();
  switch (status) {
    case SIMHOST_STATUS_INVALID_VALUE: throw ValueError(message);
    case SIMHOST_STATUS_INVALID_TYPE: throw TypeError(message);
    case SIMHOST_STATUS_OUT_OF_MEMORY: throw std::bad_alloc();
    default: throw Error(status, message);
  }
}

/// Runs f and turns whatever it throws into a status plus this thread's error message: the
/// guard around every function the host calls. Never throws.
template <class F>
SimhostStatus guard(F&& f) noexcept {
  try {
    f();
    return SIMHOST_STATUS_OK;
  } catch (const Cancelled&) {
    return SIMHOST_STATUS_CANCELLED;
  } catch (const Error& e) {
    host().set_error(e.what());
    return e.status();
  } catch (const std::bad_alloc& e) {
    host().set_error(e.what());
    return SIMHOST_STATUS_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    host().set_error(e.what());
    return SIMHOST_STATUS_ERROR;
  } catch (...) {
    host().set_error("an exception that is not a std::exception");
    return SIMHOST_STATUS_ERROR;
  }
}

template <class T>
constexpr SimhostDType dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double>) return SIMHOST_DTYPE_FLOAT64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return SIMHOST_DTYPE_INT64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return SIMHOST_DTYPE_INT32;
  else if constexpr (std::is_same_v<T, std::int8_t>) return SIMHOST_DTYPE_INT8;
  else {
    static_assert(std::is_same_v<T, bool>, "not an element type of simhost arrays");
    return SIMHOST_DTYPE_BOOL;
  }
}

inline const char* dtype_name(SimhostDType d) noexcept {
  switch (d) {
    case SIMHOST_DTYPE_FLOAT64: return "float64";
    case SIMHOST_DTYPE_INT64: return "int64";
    case SIMHOST_DTYPE_INT32: return "int32";
    case SIMHOST_DTYPE_INT8: return "int8";
    case SIMHOST_DTYPE_BOOL: return "bool";
    default: return "unknown";
  }
}

/// The array `name` as elements of T, checked.
template <class T>
SimhostArray array_of(SimhostCall* call, const char* name, bool output) {
  SimhostArray a{};
  a.struct_size = sizeof(SimhostArray);
  check(output ? host().get_output(call, name, &a) : host().get_array(call, name, &a));
  if (a.dtype != dtype_of<T>())
    throw TypeError(std::string(output ? "output '" : "parameter '") + name + "' holds " +
                    dtype_name(a.dtype) + " elements, read as " + dtype_name(dtype_of<T>()));
  return a;
}

}  // namespace detail

// ---- Arrays ---------------------------------------------------------------------------

/// A C-contiguous (row-major) array of T: an input (T is const) or an output. Valid during
/// the kernel call.
template <class T>
class ArrayRef {
 public:
  using Element = std::remove_const_t<T>;
  using Flat = Eigen::Map<std::conditional_t<std::is_const_v<T>,
                                             const Eigen::Array<Element, Eigen::Dynamic, 1>,
                                             Eigen::Array<Element, Eigen::Dynamic, 1>>>;
  using Matrix = Eigen::Map<std::conditional_t<
      std::is_const_v<T>,
      const Eigen::Matrix<Element, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
      Eigen::Matrix<Element, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>>;

  explicit ArrayRef(const SimhostArray& a) : m_array(a) {}

  T* data() const noexcept {
    if constexpr (std::is_const_v<T>) return static_cast<T*>(m_array.data);
    else return static_cast<T*>(m_array.writable);
  }
  int ndim() const noexcept { return m_array.ndim; }
  /// The size of dimension i (0 <= i < ndim()).
  std::int64_t shape(int i) const noexcept { return m_array.shape[i]; }
  std::int64_t size() const noexcept { return m_array.size; }
  /// Every element, in C order, as an Eigen column array.
  Flat flat() const { return Flat(data(), static_cast<Eigen::Index>(size())); }
  /// A 2-D array as a row-major Eigen matrix (rows = shape(0), cols = shape(1)); a 1-D array
  /// as one column. Throws TypeError for more dimensions.
  Matrix matrix() const {
    if (ndim() > 2) throw TypeError("matrix() of an array with " + std::to_string(ndim()) + " dimensions");
    const Eigen::Index rows = ndim() == 0 ? 1 : shape(0);
    const Eigen::Index cols = ndim() == 2 ? shape(1) : 1;
    return Matrix(data(), rows, cols);
  }

 private:
  SimhostArray m_array;
};

// ---- What a running kernel sees -------------------------------------------------------

/// One kernel call: its arguments, outputs, progress, cancellation, parallel loops and
/// random streams. Thread-safe: the kernel's loop bodies may use it concurrently.
class Context {
 public:
  explicit Context(SimhostCall* call) noexcept : m_call(call) {}

  double f64(const char* name) const { double v = 0; detail::check(h().get_float(m_call, name, &v)); return v; }
  std::int64_t i64(const char* name) const { std::int64_t v = 0; detail::check(h().get_int(m_call, name, &v)); return v; }
  bool flag(const char* name) const { std::int32_t v = 0; detail::check(h().get_bool(m_call, name, &v)); return v != 0; }
  std::string_view str(const char* name) const {
    const char* v = nullptr;
    detail::check(h().get_string(m_call, name, &v));
    return v;
  }
  /// False when an optional parameter was left as None.
  bool has(const char* name) const { std::int32_t v = 0; detail::check(h().has(m_call, name, &v)); return v != 0; }
  /// A named size of the array parameters ("N").
  std::int64_t size(const char* symbol) const { std::int64_t v = 0; detail::check(h().get_size(m_call, symbol, &v)); return v; }

  /// The input array `name`, read-only; throws TypeError unless its dtype is T's.
  template <class T>
  ArrayRef<const T> input(const char* name) const { return ArrayRef<const T>(detail::array_of<T>(m_call, name, false)); }
  /// The preallocated output array `name` (uninitialised); throws TypeError unless T matches.
  template <class T>
  ArrayRef<T> output(const char* name) const { return ArrayRef<T>(detail::array_of<T>(m_call, name, true)); }
  /// Sets the float output `name`.
  void set_output(const char* name, double value) const { detail::check(h().set_float_output(m_call, name, value)); }

  /// The total work in the kernel's progress unit, and work done (from any thread).
  void progress_total(std::int64_t total) const noexcept { h().progress_total(m_call, total); }
  void progress_add(std::int64_t n) const noexcept { h().progress_add(m_call, n); }
  /// Throws Cancelled when the call was cancelled; call it between chunks of serial work.
  void check_cancelled() const { detail::check(h().check_cancelled(m_call)); }

  /// body(lo, hi) over [begin, end) in chunks of at most `grain`, in parallel on the host's
  /// threads; cancellation is checked before each chunk. The first exception a chunk throws
  /// stops the loop and is rethrown here.
  template <class Body>
  void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, Body&& body) const {
    Loop<std::remove_reference_t<Body>> loop{&body};
    const SimhostStatus status = h().parallel_for(
        m_call, begin, end, grain,
        [](void* user, std::int64_t lo, std::int64_t hi) -> SimhostStatus {
          auto* l = static_cast<Loop<std::remove_reference_t<Body>>*>(user);
          return l->run([&] { (*l->body)(lo, hi); });
        },
        &loop);
    loop.rethrow();
    detail::check(status);
  }

  /// A reduction bit-identical at any thread count: body(lo, hi) returns the partial result
  /// of a chunk; combine(left, right) joins neighbours, always in the same order. T must be
  /// trivially copyable (a double, a small struct of numbers).
  template <class T, class Body, class Combine>
  T deterministic_reduce(std::int64_t begin, std::int64_t end, std::int64_t grain, T identity,
                         Body&& body, Combine&& combine) const {
    static_assert(std::is_trivially_copyable_v<T>, "partial results cross the ABI as bytes");
    struct Fns {
      std::remove_reference_t<Body>* body;
      std::remove_reference_t<Combine>* combine;
    } fns{&body, &combine};
    Loop<Fns> loop{&fns};
    T result = identity;
    const SimhostStatus status = h().deterministic_reduce(
        m_call, begin, end, grain, sizeof(T), &identity,
        [](void* user, std::int64_t lo, std::int64_t hi, void* partial) -> SimhostStatus {
          auto* l = static_cast<Loop<Fns>*>(user);
          return l->run([&] {
            const T value = (*l->body->body)(lo, hi);
            std::memcpy(partial, &value, sizeof(T));
          });
        },
        [](void* user, void* left, const void* right) -> SimhostStatus {
          auto* l = static_cast<Loop<Fns>*>(user);
          return l->run([&] {
            T a, b;
            std::memcpy(&a, left, sizeof(T));
            std::memcpy(&b, right, sizeof(T));
            const T c = (*l->body->combine)(a, b);
            std::memcpy(left, &c, sizeof(T));
          });
        },
        &loop, &result);
    loop.rethrow();
    detail::check(status);
    return result;
  }

  /// out[i] = uniform variate first + i on (0, 1) of (seed, stream), as the built-in kernels
  /// draw them: a pure function of its arguments.
  void uniforms(std::uint64_t seed, std::uint64_t stream, std::uint64_t first, double* out,
                std::size_t n) const {
    detail::check(h().philox_uniforms(seed, stream, first, n, out));
  }
  /// The same for standard normal variates.
  void normals(std::uint64_t seed, std::uint64_t stream, std::uint64_t first, double* out,
               std::size_t n) const {
    detail::check(h().philox_normals(seed, stream, first, n, out));
  }

  SimhostCall* handle() const noexcept { return m_call; }

 private:
  // A loop body and the first exception one of its chunks threw.
  template <class F>
  struct Loop {
    F* body;
    std::exception_ptr error{};
    std::mutex mutex{};
    template <class Run>
    SimhostStatus run(Run&& r) noexcept {
      try {
        r();
        return SIMHOST_STATUS_OK;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        return SIMHOST_STATUS_ERROR;
      }
    }
    void rethrow() {
      if (error) std::rethrow_exception(error);
    }
  };
  static const SimhostHost& h() { return detail::host(); }
  SimhostCall* m_call;
};

// ---- Declaring kernels ------------------------------------------------------------------

/// A parameter declaration; chain bounds: float_param("dt", 1e-3, "s", "...").above(0).
class Param {
 public:
  Param(SimhostKind kind, std::string name, std::string unit, std::string doc)
      : m_name(std::move(name)), m_unit(std::move(unit)), m_doc(std::move(doc)) {
    m_desc.kind = kind;
  }
  Param& above(double v) { return bound(true, v, false); }
  Param& at_least(double v) { return bound(true, v, true); }
  Param& below(double v) { return bound(false, v, false); }
  Param& at_most(double v) { return bound(false, v, true); }
  /// Accepts NaN and inf (floats and float arrays).
  Param& allow_nonfinite() { m_desc.allow_nonfinite = 1; return *this; }
  /// Makes the parameter optional, None by default (Context::has() tells).
  Param& optional() { m_desc.default_kind = SIMHOST_DEFAULT_NONE; return *this; }

  // Used by the builders below.
  Param& shape(std::string s, SimhostDType dtype) { m_shape = std::move(s); m_desc.dtype = dtype; return *this; }
  Param& choices(std::vector<std::string> c) { m_choices = std::move(c); return *this; }
  Param& default_float(double v) { m_desc.default_kind = SIMHOST_DEFAULT_VALUE; m_desc.default_float = v; return *this; }
  Param& default_int(std::int64_t v) { m_desc.default_kind = SIMHOST_DEFAULT_VALUE; m_desc.default_int = v; return *this; }
  Param& default_bool(bool v) { m_desc.default_kind = SIMHOST_DEFAULT_VALUE; m_desc.default_bool = v; return *this; }
  Param& default_string(std::string v) { m_desc.default_kind = SIMHOST_DEFAULT_VALUE; m_default_string = std::move(v); return *this; }

  /// The C descriptor; its strings point into this object.
  SimhostParamDesc desc() const {
    SimhostParamDesc d = m_desc;
    d.struct_size = sizeof(SimhostParamDesc);
    d.name = m_name.c_str();
    d.unit = m_unit.c_str();
    d.doc = m_doc.c_str();
    d.shape = m_shape.c_str();
    d.default_string = m_default_string.c_str();
    m_choice_ptrs.clear();
    for (const auto& c : m_choices) m_choice_ptrs.push_back(c.c_str());
    d.choices = m_choice_ptrs.data();
    d.n_choices = static_cast<std::int32_t>(m_choice_ptrs.size());
    return d;
  }

 private:
  Param& bound(bool lower, double v, bool inclusive) {
    (lower ? m_desc.has_min : m_desc.has_max) = 1;
    (lower ? m_desc.min : m_desc.max) = v;
    (lower ? m_desc.min_inclusive : m_desc.max_inclusive) = inclusive;
    return *this;
  }
  SimhostParamDesc m_desc{};
  std::string m_name, m_unit, m_doc, m_shape, m_default_string;
  std::vector<std::string> m_choices;
  mutable std::vector<const char*> m_choice_ptrs;
};

/// A float parameter (std::nullopt / {}: required).
inline Param float_param(std::string name, std::optional<double> default_value, std::string unit,
                         std::string doc) {
  Param p(SIMHOST_KIND_FLOAT, std::move(name), std::move(unit), std::move(doc));
  if (default_value) p.default_float(*default_value);
  return p;
}
/// An int parameter (std::nullopt / {}: required).
inline Param int_param(std::string name, std::optional<std::int64_t> default_value, std::string doc) {
  Param p(SIMHOST_KIND_INT, std::move(name), "", std::move(doc));
  if (default_value) p.default_int(*default_value);
  return p;
}
inline Param bool_param(std::string name, bool default_value, std::string doc) {
  return Param(SIMHOST_KIND_BOOL, std::move(name), "", std::move(doc)).default_bool(default_value);
}
/// A string parameter; `choices` lists the accepted values (empty: any).
inline Param string_param(std::string name, std::optional<std::string> default_value,
                          std::vector<std::string> choices, std::string doc) {
  Param p(SIMHOST_KIND_STRING, std::move(name), "", std::move(doc));
  if (default_value) p.default_string(*default_value);
  return p.choices(std::move(choices));
}
/// An array parameter of symbolic shape "N, 3" (required; .optional() makes it None by default).
inline Param array_param(std::string name, std::string shape, std::string unit, std::string doc,
                         SimhostDType dtype = SIMHOST_DTYPE_FLOAT64) {
  return Param(SIMHOST_KIND_ARRAY, std::move(name), std::move(unit), std::move(doc))
      .shape(std::move(shape), dtype);
}

/// An output declaration.
class Output {
 public:
  Output(SimhostKind kind, std::string name, std::string shape, std::string unit, std::string doc,
         SimhostDType dtype)
      : m_name(std::move(name)), m_shape(std::move(shape)), m_unit(std::move(unit)), m_doc(std::move(doc)) {
    m_desc.kind = kind;
    m_desc.dtype = dtype;
  }
  /// NaN and inf are legitimate values of this output.
  Output& allow_nonfinite() { m_desc.allow_nonfinite = 1; return *this; }
  SimhostOutputDesc desc() const {
    SimhostOutputDesc d = m_desc;
    d.struct_size = sizeof(SimhostOutputDesc);
    d.name = m_name.c_str();
    d.shape = m_shape.c_str();
    d.unit = m_unit.c_str();
    d.doc = m_doc.c_str();
    return d;
  }

 private:
  SimhostOutputDesc m_desc{};
  std::string m_name, m_shape, m_unit, m_doc;
};

/// An array output of symbolic shape ("H, W", "steps+1").
inline Output array_output(std::string name, std::string shape, std::string unit, std::string doc,
                           SimhostDType dtype = SIMHOST_DTYPE_FLOAT64) {
  return Output(SIMHOST_KIND_ARRAY, std::move(name), std::move(shape), std::move(unit), std::move(doc), dtype);
}
inline Output float_output(std::string name, std::string unit, std::string doc) {
  return Output(SIMHOST_KIND_FLOAT, std::move(name), "", std::move(unit), std::move(doc),
                SIMHOST_DTYPE_FLOAT64);
}

/// A kernel's example arguments (its self-test input), built in its example function.
class Example {
 public:
  explicit Example(SimhostExample* e) noexcept : m_e(e) {}
  Example& set(const char* name, double v) { detail::check(detail::host().example_float(m_e, name, v)); return *this; }
  Example& set(const char* name, std::int64_t v) { detail::check(detail::host().example_int(m_e, name, v)); return *this; }
  Example& set(const char* name, int v) { return set(name, static_cast<std::int64_t>(v)); }
  Example& set(const char* name, bool v) { detail::check(detail::host().example_bool(m_e, name, v)); return *this; }
  Example& set(const char* name, const char* v) { detail::check(detail::host().example_string(m_e, name, v)); return *this; }
  /// An array of `shape` from its elements in C order (copied).
  template <class T>
  Example& array(const char* name, const std::vector<std::int64_t>& shape, const T* data) {
    detail::check(detail::host().example_array(m_e, name, detail::dtype_of<T>(),
                                               static_cast<std::int32_t>(shape.size()), shape.data(), data));
    return *this;
  }

 private:
  SimhostExample* m_e;
};

/// A kernel: its signature and its functions. Register it with Registry::add().
class Kernel {
 public:
  using Run = std::function<void(Context&)>;
  using Check = std::function<void(const Context&)>;
  using MakeExample = std::function<void(Example&)>;

  Kernel(std::string name, std::string summary) : m_name(std::move(name)), m_summary(std::move(summary)) {}
  Kernel& doc(std::string d) { m_doc = std::move(d); return *this; }
  Kernel& param(Param p) { m_params.push_back(std::move(p)); return *this; }
  Kernel& output(Output o) { m_outputs.push_back(std::move(o)); return *this; }
  Kernel& progress_unit(std::string u) { m_progress_unit = std::move(u); return *this; }
  /// A check across parameters; throw ValueError (or TypeError) for a bad combination.
  Kernel& check(Check c) { m_fns->check = std::move(c); return *this; }
  /// The self-test input: a small valid call that runs in milliseconds.
  Kernel& example(MakeExample e) { m_fns->example = std::move(e); return *this; }
  Kernel& run(Run r) { m_fns->run = std::move(r); return *this; }
  const std::string& name() const noexcept { return m_name; }

 private:
  friend class Registry;
  struct Fns {
    Run run;
    Check check;
    MakeExample example;
  };
  std::string m_name, m_summary, m_doc, m_progress_unit = "steps";
  std::vector<Param> m_params;
  std::vector<Output> m_outputs;
  std::shared_ptr<Fns> m_fns = std::make_shared<Fns>();
};

/// Where a plugin's kernels go: the argument of SIMHOST_PLUGIN's body.
class Registry {
 public:
  explicit Registry(SimhostPlugin* plugin) noexcept : m_plugin(plugin) {}
  /// Registers `kernel`. Returns false when the host refused its descriptor; the host then
  /// reports that kernel (and why) among the plugin's failures and the others still load.
  bool add(const Kernel& kernel) {
    // Plugins are never unloaded: the functions live as long as the process.
    auto* fns = new Kernel::Fns(*kernel.m_fns);
    std::vector<SimhostParamDesc> params;
    for (const auto& p : kernel.m_params) params.push_back(p.desc());
    std::vector<SimhostOutputDesc> outputs;
    for (const auto& o : kernel.m_outputs) outputs.push_back(o.desc());
    SimhostKernelDesc d{};
    d.struct_size = sizeof(SimhostKernelDesc);
    d.name = kernel.m_name.c_str();
    d.summary = kernel.m_summary.c_str();
    d.doc = kernel.m_doc.c_str();
    d.params = params.data();
    d.n_params = static_cast<std::int32_t>(params.size());
    d.outputs = outputs.data();
    d.n_outputs = static_cast<std::int32_t>(outputs.size());
    d.progress_unit = kernel.m_progress_unit.c_str();
    d.user = fns;
    d.run = [](SimhostCall* call, void* user) -> SimhostStatus {
      return detail::guard([&] {
        Context ctx(call);
        static_cast<Kernel::Fns*>(user)->run(ctx);
      });
    };
    if (fns->check)
      d.check = [](SimhostCall* call, void* user) -> SimhostStatus {
        return detail::guard([&] { static_cast<Kernel::Fns*>(user)->check(Context(call)); });
      };
    if (fns->example)
      d.example = [](SimhostExample* e, void* user) -> SimhostStatus {
        return detail::guard([&] {
          Example example(e);
          static_cast<Kernel::Fns*>(user)->example(example);
        });
      };
    if (!fns->run) {
      d.run = nullptr;  // the host refuses it, naming the kernel
    }
    return detail::host().register_kernel(m_plugin, &d) == SIMHOST_STATUS_OK;
  }

 private:
  SimhostPlugin* m_plugin;
};

namespace detail {
inline SimhostStatus init(const SimhostHost* host, SimhostPlugin* plugin, void (*body)(Registry&)) noexcept {
  g_host = host;
  return guard([&] {
    Registry registry(plugin);
    body(registry);
  });
}
}  // namespace detail

}  // namespace simhost::plugin

/// Defines the plugin's two exported symbols; the block that follows registers its kernels:
///   SIMHOST_PLUGIN("my_plugin", "1.0", registry) { registry.add(...); }
/// An exception thrown in the block fails the whole plugin, with its message.
#define SIMHOST_PLUGIN(plugin_name, plugin_version, registry)                                  \
  extern "C" SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =                 \
      SIMHOST_PLUGIN_ABI_INIT(plugin_name, plugin_version);                                    \
  static void simhost_plugin_register_kernels(::simhost::plugin::Registry& registry);          \
  extern "C" SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* host,  \
                                                                     SimhostPlugin* plugin) {  \
    return ::simhost::plugin::detail::init(host, plugin, &simhost_plugin_register_kernels);    \
  }                                                                                            \
  static void simhost_plugin_register_kernels(::simhost::plugin::Registry& registry)
