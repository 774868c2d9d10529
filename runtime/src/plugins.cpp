// The plugin loader: the host's side of the C ABI (simhost/plugin.h). Descriptors are
// deep-copied into KernelDefs, so binding, errors, describe() and the CLI are the same code
// for built-in and plugin kernels.
#include "simhost/plugins.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>

#include <fmt/format.h>

#include "simhost/call.hpp"
#include "simhost/parallel.hpp"
#include "simhost/plugin.h"
#include "simhost/random.hpp"
#include "simhost/text.hpp"

// The opaque handles of the ABI.
struct SimhostCall {
  const simhost::KernelDef* kernel = nullptr;
  const simhost::Args* args = nullptr;
  simhost::CallContext* ctx = nullptr;         // null while the check runs
  std::deque<std::vector<std::int64_t>> strides;  // handed out until the call returns
};

struct SimhostExample {
  simhost::OwnedArgs* args = nullptr;
};

struct SimhostPlugin {
  std::string file;
  const simhost::Registry* registry = nullptr;  // whose rules its kernels must obey
  std::vector<simhost::KernelDef> kernels;       // registered, added once init succeeds
  std::vector<simhost::PluginFailure> refused;   // kernels whose descriptor was refused
};

namespace simhost {

namespace {

thread_local std::string t_error;

// ---- Errors across the ABI ---------------------------------------------------------------

// A host function's failure: a status and its message.
struct AbiFailure {
  SimhostStatus status;
  std::string message;
};

// Runs f, turning what it throws into a status plus this thread's message.
template <class F>
SimhostStatus guarded(F&& f) noexcept {
  try {
    f();
    return SIMHOST_STATUS_OK;
  } catch (const Cancelled&) {
    t_error = "the kernel call was cancelled";
    return SIMHOST_STATUS_CANCELLED;
  } catch (const AbiFailure& e) {
    t_error = e.message;
    return e.status;
  } catch (const ArgumentTypeError& e) {
    t_error = e.what();
    return SIMHOST_STATUS_INVALID_TYPE;
  } catch (const ArgumentValueError& e) {
    t_error = e.what();
    return SIMHOST_STATUS_INVALID_VALUE;
  } catch (const std::bad_alloc& e) {
    t_error = e.what();
    return SIMHOST_STATUS_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    t_error = e.what();
    return SIMHOST_STATUS_ERROR;
  } catch (...) {
    t_error = "unknown error";
    return SIMHOST_STATUS_ERROR;
  }
}

[[noreturn]] void fail_type(std::string message) {
  throw AbiFailure{SIMHOST_STATUS_INVALID_TYPE, std::move(message)};
}

std::string text_or(const char* s, std::string_view otherwise = {}) {
  return s ? std::string(s) : std::string(otherwise);
}

// The message a plugin set for a failure it returned (it may have set none).
std::string plugin_message(std::string_view otherwise) {
  return t_error.empty() ? std::string(otherwise) : t_error;
}

// Throws the simhost error for a plugin function's failed status; `where` names the kernel
// and the plugin file.
void throw_status(SimhostStatus status, std::string_view kernel, const std::string& file,
                  std::string_view what) {
  if (status == SIMHOST_STATUS_OK) return;
  if (status == SIMHOST_STATUS_CANCELLED) throw Cancelled();
  const std::string message = plugin_message(fmt::format("its {} failed without a message", what));
  t_error.clear();
  switch (status) {
    case SIMHOST_STATUS_INVALID_VALUE:
      throw ArgumentValueError(fmt::format("{}(): {}", kernel, message));
    case SIMHOST_STATUS_INVALID_TYPE:
      throw ArgumentTypeError(fmt::format("{}(): {}", kernel, message));
    case SIMHOST_STATUS_OUT_OF_MEMORY:
      throw AllocationError(
          fmt::format("{}(): out of memory in the kernel of plugin {} ({})", kernel, file, message));
    default:
      throw KernelError(fmt::format("{}(): {} (kernel '{}' of plugin {})", kernel, message, kernel, file));
  }
}

// ---- Arguments and outputs --------------------------------------------------------------

const Value& argument(SimhostCall* call, const char* name, Kind kind) {
  if (!call || !name) fail_type("a null call or name");
  const ParamSpec* p = call->kernel->find_param(name);
  if (!p) fail_type(fmt::format("{}() has no parameter '{}'", call->kernel->name, name));
  if (p->kind != kind)
    fail_type(fmt::format("parameter '{}' of {}() is a {}, read as a {}", name, call->kernel->name,
                          kind_name(p->kind), kind_name(kind)));
  const Value& v = call->args->value(name);
  if (std::holds_alternative<std::monostate>(v))
    fail_type(fmt::format("parameter '{}' of {}() is None (check has() first)", name,
                          call->kernel->name));
  return v;
}

void fill_array(SimhostCall* call, SimhostArray* out, DType dtype, const std::vector<std::int64_t>& shape,
                const void* data, void* writable) {
  if (!out || out->struct_size < offsetof(SimhostArray, writable) + sizeof(void*))
    fail_type("the SimhostArray's struct_size is not set");
  std::vector<std::int64_t> strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  call->strides.push_back(std::move(strides));
  std::int64_t size = 1;
  for (auto d : shape) size *= d;
  out->dtype = static_cast<SimhostDType>(dtype);
  out->ndim = static_cast<std::int32_t>(shape.size());
  out->reserved = 0;
  out->shape = shape.data();
  out->strides = call->strides.back().data();
  out->size = size;
  out->data = size == 0 ? nullptr : data;
  out->writable = size == 0 ? nullptr : writable;
}

CallContext& running(SimhostCall* call) {
  if (!call || !call->ctx) fail_type("outputs, progress and loops exist only while the kernel runs");
  return *call->ctx;
}

// ---- The host function table ---------------------------------------------------------------

void abi_set_error(const char* message) { t_error = message ? message : ""; }
const char* abi_last_error() { return t_error.c_str(); }

SimhostStatus abi_register_kernel(SimhostPlugin* plugin, const SimhostKernelDesc* desc);

SimhostStatus abi_get_float(SimhostCall* c, const char* name, double* v) {
  return guarded([&] { *v = std::get<double>(argument(c, name, Kind::Float)); });
}
SimhostStatus abi_get_int(SimhostCall* c, const char* name, std::int64_t* v) {
  return guarded([&] { *v = std::get<std::int64_t>(argument(c, name, Kind::Int)); });
}
SimhostStatus abi_get_bool(SimhostCall* c, const char* name, std::int32_t* v) {
  return guarded([&] { *v = std::get<bool>(argument(c, name, Kind::Bool)) ? 1 : 0; });
}
SimhostStatus abi_get_string(SimhostCall* c, const char* name, const char** v) {
  return guarded([&] { *v = std::get<std::string>(argument(c, name, Kind::String)).c_str(); });
}
SimhostStatus abi_get_array(SimhostCall* c, const char* name, SimhostArray* a) {
  return guarded([&] {
    const auto& view = std::get<ConstArrayView>(argument(c, name, Kind::Array));
    fill_array(c, a, view.dtype, view.shape, view.data, nullptr);
  });
}
SimhostStatus abi_has(SimhostCall* c, const char* name, std::int32_t* given) {
  return guarded([&] {
    if (!c || !name || !c->kernel->find_param(name))
      fail_type(fmt::format("{}() has no parameter '{}'", c ? c->kernel->name : "?", name ? name : ""));
    *given = c->args->has(name) ? 1 : 0;
  });
}
SimhostStatus abi_get_size(SimhostCall* c, const char* symbol, std::int64_t* v) {
  return guarded([&] {
    if (!c || !symbol) fail_type("a null call or name");
    *v = c->args->size(symbol);
  });
}
SimhostStatus abi_get_output(SimhostCall* c, const char* name, SimhostArray* a) {
  return guarded([&] {
    if (!name) fail_type("a null output name");
    CallContext& ctx = running(c);
    const OutputSpec* o = c->kernel->find_output(name);
    if (!o || o->kind != Kind::Array)
      fail_type(fmt::format("{}() has no array output '{}'", c->kernel->name, name));
    ArrayView& view = ctx.array_output(name);
    fill_array(c, a, view.dtype, view.shape, view.data, view.data);
  });
}
SimhostStatus abi_set_float_output(SimhostCall* c, const char* name, double value) {
  return guarded([&] {
    if (!name) fail_type("a null output name");
    CallContext& ctx = running(c);
    const OutputSpec* o = c->kernel->find_output(name);
    if (!o || o->kind != Kind::Float)
      fail_type(fmt::format("{}() has no float output '{}'", c->kernel->name, name));
    ctx.set_scalar(name, value);
  });
}
void abi_progress_total(SimhostCall* c, std::int64_t total) {
  if (c && c->ctx) c->ctx->progress().set_total(total);
}
void abi_progress_add(SimhostCall* c, std::int64_t n) {
  if (c && c->ctx && n > 0) c->ctx->progress().add(n);
}
SimhostStatus abi_check_cancelled(SimhostCall* c) {
  return guarded([&] { running(c).check_cancelled(); });
}

SimhostStatus abi_parallel_for(SimhostCall* c, std::int64_t begin, std::int64_t end, std::int64_t grain,
                               SimhostRangeFn body, void* user) {
  return guarded([&] {
    if (!body) fail_type("parallel_for() without a body");
    parallel_for(running(c), begin, end, grain, [&](std::int64_t lo, std::int64_t hi) {
      t_error.clear();
      const SimhostStatus s = body(user, lo, hi);
      if (s != SIMHOST_STATUS_OK)
        throw AbiFailure{s, plugin_message("a chunk of parallel_for() failed")};
    });
  });
}

SimhostStatus abi_deterministic_reduce(SimhostCall* c, std::int64_t begin, std::int64_t end,
                                       std::int64_t grain, std::size_t partial_size,
                                       const void* identity, SimhostReduceFn body,
                                       SimhostCombineFn combine, void* user, void* result) {
  return guarded([&] {
    if (!body || !combine || !result || (partial_size > 0 && !identity))
      fail_type("deterministic_reduce() needs a body, a combine, an identity and a result");
    using Bytes = std::vector<std::byte>;
    const auto* id = static_cast<const std::byte*>(identity);
    const Bytes start(id, id + partial_size);
    auto checked = [](SimhostStatus s, const char* what) {
      if (s != SIMHOST_STATUS_OK) throw AbiFailure{s, plugin_message(what)};
    };
    const Bytes out = deterministic_reduce(
        running(c), begin, end, grain, start,
        [&](std::int64_t lo, std::int64_t hi) {
          Bytes partial = start;
          t_error.clear();
          checked(body(user, lo, hi, partial.data()), "a chunk of deterministic_reduce() failed");
          return partial;
        },
        [&](Bytes left, const Bytes& right) {
          t_error.clear();
          checked(combine(user, left.data(), right.data()), "a combine of deterministic_reduce() failed");
          return left;
        });
    std::memcpy(result, out.data(), partial_size);
  });
}

SimhostStatus abi_philox_uniforms(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                                  std::size_t n, double* out) {
  return guarded([&] {
    if (n > 0 && !out) fail_type("philox_uniforms() with a null output");
    philox4x32_uniforms(seed, stream, first, std::span<double>(out, n));
  });
}
SimhostStatus abi_philox_normals(std::uint64_t seed, std::uint64_t stream, std::uint64_t first,
                                 std::size_t n, double* out) {
  return guarded([&] {
    if (n > 0 && !out) fail_type("philox_normals() with a null output");
    philox4x32_normals(seed, stream, first, std::span<double>(out, n));
  });
}

OwnedArgs& example_args(SimhostExample* e, const char* name) {
  if (!e || !e->args || !name) fail_type("a null example or name");
  return *e->args;
}
SimhostStatus abi_example_float(SimhostExample* e, const char* name, double v) {
  return guarded([&] { example_args(e, name).set(name, v); });
}
SimhostStatus abi_example_int(SimhostExample* e, const char* name, std::int64_t v) {
  return guarded([&] { example_args(e, name).set(name, v); });
}
SimhostStatus abi_example_bool(SimhostExample* e, const char* name, std::int32_t v) {
  return guarded([&] { example_args(e, name).set(name, v != 0); });
}
SimhostStatus abi_example_string(SimhostExample* e, const char* name, const char* v) {
  return guarded([&] {
    if (!v) fail_type("a null example string");
    example_args(e, name).set(name, std::string(v));
  });
}

std::optional<DType> dtype_from(SimhostDType d) {
  switch (d) {
    case SIMHOST_DTYPE_FLOAT64: return DType::Float64;
    case SIMHOST_DTYPE_INT64: return DType::Int64;
    case SIMHOST_DTYPE_INT32: return DType::Int32;
    case SIMHOST_DTYPE_INT8: return DType::Int8;
    case SIMHOST_DTYPE_BOOL: return DType::Bool;
    default: return std::nullopt;
  }
}

SimhostStatus abi_example_array(SimhostExample* e, const char* name, SimhostDType dtype,
                                std::int32_t ndim, const std::int64_t* shape, const void* data) {
  return guarded([&] {
    OwnedArgs& args = example_args(e, name);
    const auto d = dtype_from(dtype);
    if (!d) fail_type(fmt::format("example array '{}' has the unknown dtype {}", name, dtype));
    if (ndim < 0 || (ndim > 0 && !shape)) fail_type(fmt::format("example array '{}' has no shape", name));
    ConstArrayView view{data, *d, std::vector<std::int64_t>(shape, shape + ndim)};
    if (view.size() > 0 && !data) fail_type(fmt::format("example array '{}' has no data", name));
    args.array(name, view);
  });
}

const SimhostHost kHost = [] {
  SimhostHost h{};
  h.struct_size = sizeof(SimhostHost);
  h.abi_major = SIMHOST_ABI_MAJOR;
  h.abi_minor = SIMHOST_ABI_MINOR;
  h.host_version = SIMHOST_VERSION;
  h.set_error = &abi_set_error;
  h.last_error = &abi_last_error;
  h.register_kernel = &abi_register_kernel;
  h.get_float = &abi_get_float;
  h.get_int = &abi_get_int;
  h.get_bool = &abi_get_bool;
  h.get_string = &abi_get_string;
  h.get_array = &abi_get_array;
  h.has = &abi_has;
  h.get_size = &abi_get_size;
  h.get_output = &abi_get_output;
  h.set_float_output = &abi_set_float_output;
  h.progress_total = &abi_progress_total;
  h.progress_add = &abi_progress_add;
  h.check_cancelled = &abi_check_cancelled;
  h.parallel_for = &abi_parallel_for;
  h.deterministic_reduce = &abi_deterministic_reduce;
  h.philox_uniforms = &abi_philox_uniforms;
  h.philox_normals = &abi_philox_normals;
  h.example_float = &abi_example_float;
  h.example_int = &abi_example_int;
  h.example_bool = &abi_example_bool;
  h.example_string = &abi_example_string;
  h.example_array = &abi_example_array;
  return h;
}();

// ---- Descriptors -> KernelDef ----------------------------------------------------------------

// A descriptor field that is refused: the message names the kernel and the field.
struct BadDescriptor {
  std::string message;
};

// Reads a descriptor struct of a possibly older or newer plugin: fields past its size are
// zero (their meaning in an older plugin).
template <class T>
T read_struct(const T* p, const char* what, std::string_view kernel) {
  if (!p) throw BadDescriptor{fmt::format("kernel '{}': {} is NULL", kernel, what)};
  const std::uint32_t given = p->struct_size;
  if (given < 2 * sizeof(std::uint32_t))
    throw BadDescriptor{fmt::format("kernel '{}': {} has struct_size {}, too small to be one",
                                    kernel, what, given)};
  T out{};
  std::memcpy(&out, p, std::min<std::size_t>(given, sizeof(T)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// "N, 3", "(steps+1,)", "H, W" -> dims. `what` names the parameter or output for errors.
std::vector<Dim> parse_shape(const char* text, const std::string& what) {
  std::string s = trim(text ? text : "");
  if (s.size() >= 2 && s.front() == '(' && s.back() == ')') s = trim(std::string_view(s).substr(1, s.size() - 2));
  std::vector<Dim> dims;
  if (s.empty()) return dims;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::string part = trim(std::string_view(s).substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? s.size() + 1 : comma + 1;
    if (part.empty()) {
      if (start > s.size()) break;  // a trailing comma: "(N,)"
      throw BadDescriptor{fmt::format("{} has the shape '{}' with an empty dimension", what, text)};
    }
    const std::size_t plus = part.find('+');
    const std::string symbol = trim(std::string_view(part).substr(0, plus));
    std::int64_t offset = 0;
    if (plus != std::string::npos) {
      const std::string num = trim(std::string_view(part).substr(plus + 1));
      char* end = nullptr;
      offset = std::strtoll(num.c_str(), &end, 10);
      if (num.empty() || *end != '\0' || offset < 0)
        throw BadDescriptor{fmt::format("{} has the shape '{}': '{}' is not a size plus a "
                                        "non-negative integer", what, text, part)};
    }
    if (!symbol.empty() && std::isdigit(static_cast<unsigned char>(symbol[0]))) {
      char* end = nullptr;
      const long long n = std::strtoll(symbol.c_str(), &end, 10);
      if (*end != '\0' || plus != std::string::npos)
        throw BadDescriptor{fmt::format("{} has the shape '{}': '{}' is neither a size nor a name",
                                        what, text, part)};
      dims.push_back(Dim::fixed(n));
    } else if (is_identifier(symbol)) {
      dims.push_back(Dim::named(symbol, offset));
    } else {
      throw BadDescriptor{fmt::format("{} has the shape '{}': '{}' is neither a size nor a name",
                                      what, text, part)};
    }
  }
  return dims;
}

// The DType of a descriptor's array; `what` names the parameter or output.
DType descriptor_dtype(SimhostDType d, const std::string& what) {
  const auto dtype = dtype_from(d);
  if (!dtype)
    throw BadDescriptor{fmt::format("{} has the unknown dtype {} (expected SIMHOST_DTYPE_FLOAT64, "
                                    "_INT64, _INT32, _INT8 or _BOOL)", what, d)};
  return *dtype;
}

ParamSpec param_from(const SimhostParamDesc& d, std::string_view kernel) {
  const std::string name = text_or(d.name);
  const std::string what = fmt::format("kernel '{}': parameter '{}'", kernel, name);
  if (name.empty()) throw BadDescriptor{fmt::format("kernel '{}': a parameter has no name", kernel)};
  ParamSpec p;
  p.name = name;
  p.doc = text_or(d.doc);
  p.unit = text_or(d.unit);
  p.finite = d.allow_nonfinite == 0;
  switch (d.kind) {
    case SIMHOST_KIND_FLOAT: p.kind = Kind::Float; break;
    case SIMHOST_KIND_INT: p.kind = Kind::Int; break;
    case SIMHOST_KIND_BOOL: p.kind = Kind::Bool; break;
    case SIMHOST_KIND_STRING: p.kind = Kind::String; break;
    case SIMHOST_KIND_ARRAY: p.kind = Kind::Array; break;
    default:
      throw BadDescriptor{fmt::format("{} has the unknown kind {} (expected SIMHOST_KIND_FLOAT, "
                                      "_INT, _BOOL, _STRING or _ARRAY)", what, d.kind)};
  }
  if (p.kind == Kind::Array) {
    p.dtype = descriptor_dtype(d.dtype, what);
    p.shape = parse_shape(d.shape, what);
    for (const Dim& dim : p.shape)
      if (!dim.symbol.empty() && dim.offset != 0)
        throw BadDescriptor{fmt::format("{}: an input's dimension is a size or a name, not '{}'",
                                        what, dim.text())};
  }
  if (d.has_min) p.min = Bound{d.min, d.min_inclusive != 0};
  if (d.has_max) p.max = Bound{d.max, d.max_inclusive != 0};
  if ((d.has_min && std::isnan(d.min)) || (d.has_max && std::isnan(d.max)))
    throw BadDescriptor{fmt::format("{} has a NaN bound", what)};
  if (d.n_choices < 0 || (d.n_choices > 0 && !d.choices))
    throw BadDescriptor{fmt::format("{} has {} choices but no list of them", what, d.n_choices)};
  for (std::int32_t i = 0; i < d.n_choices; ++i) {
    if (!d.choices[i]) throw BadDescriptor{fmt::format("{} has a NULL choice", what)};
    p.choices.emplace_back(d.choices[i]);
  }
  switch (d.default_kind) {
    case SIMHOST_DEFAULT_REQUIRED: break;
    case SIMHOST_DEFAULT_NONE: p.default_value = Value{}; break;
    case SIMHOST_DEFAULT_VALUE:
      switch (p.kind) {
        case Kind::Float: p.default_value = Value{d.default_float}; break;
        case Kind::Int: p.default_value = Value{d.default_int}; break;
        case Kind::Bool: p.default_value = Value{d.default_bool != 0}; break;
        case Kind::String:
          if (!d.default_string) throw BadDescriptor{fmt::format("{} has a NULL default string", what)};
          p.default_value = Value{std::string(d.default_string)};
          break;
        case Kind::Array:
          throw BadDescriptor{fmt::format("{}: an array may default to None only "
                                          "(SIMHOST_DEFAULT_NONE)", what)};
      }
      break;
    default:
      throw BadDescriptor{fmt::format("{} has the unknown default_kind {}", what, d.default_kind)};
  }
  return p;
}

OutputSpec output_from(const SimhostOutputDesc& d, std::string_view kernel, const KernelDef& k) {
  const std::string name = text_or(d.name);
  const std::string what = fmt::format("kernel '{}': output '{}'", kernel, name);
  if (name.empty()) throw BadDescriptor{fmt::format("kernel '{}': an output has no name", kernel)};
  OutputSpec o;
  o.name = name;
  o.doc = text_or(d.doc);
  o.unit = text_or(d.unit);
  o.finite = d.allow_nonfinite == 0;
  if (d.kind == SIMHOST_KIND_FLOAT) {
    o.kind = Kind::Float;
    return o;
  }
  if (d.kind != SIMHOST_KIND_ARRAY)
    throw BadDescriptor{fmt::format("{} has the kind {}: outputs are SIMHOST_KIND_ARRAY or "
                                    "SIMHOST_KIND_FLOAT", what, d.kind)};
  o.kind = Kind::Array;
  o.dtype = descriptor_dtype(d.dtype, what);
  o.shape = parse_shape(d.shape, what);
  // Each named dimension must be a named size of the array parameters or an int parameter.
  for (const Dim& dim : o.shape) {
    if (dim.symbol.empty()) continue;
    bool known = false;
    for (const auto& p : k.params) {
      if (p.name == dim.symbol && p.kind == Kind::Int) known = true;
      if (p.kind == Kind::Array)
        for (const Dim& pd : p.shape)
          if (pd.symbol == dim.symbol) known = true;
    }
    if (!known)
      throw BadDescriptor{fmt::format("{} has the shape '{}', whose size '{}' is neither an int "
                                      "parameter nor a named size of an array parameter",
                                      what, text_or(d.shape), dim.symbol)};
  }
  return o;
}

// The KernelDef of a descriptor, whose functions call into the plugin.
KernelDef kernel_from(const SimhostKernelDesc& d, const std::string& file) {
  const std::string name = text_or(d.name);
  if (name.empty()) throw BadDescriptor{"a kernel has no name"};
  KernelDef k;
  k.name = name;
  k.source = "plugin " + file;
  k.summary = text_or(d.summary);
  k.doc = text_or(d.doc);
  k.progress_unit = d.progress_unit ? d.progress_unit : "steps";
  if (d.n_params < 0 || (d.n_params > 0 && !d.params))
    throw BadDescriptor{fmt::format("kernel '{}': n_params is {} but params is NULL", name, d.n_params)};
  if (d.n_outputs < 0 || (d.n_outputs > 0 && !d.outputs))
    throw BadDescriptor{fmt::format("kernel '{}': n_outputs is {} but outputs is NULL", name, d.n_outputs)};
  // Arrays of structs: the plugin's struct size is the stride.
  const auto* pbytes = reinterpret_cast<const std::byte*>(d.params);
  const std::size_t pstride = d.n_params > 0 ? d.params[0].struct_size : 0;
  if (d.n_params > 0 && pstride < 2 * sizeof(std::uint32_t))
    throw BadDescriptor{fmt::format("kernel '{}': its parameters' struct_size is {}", name, pstride)};
  for (std::int32_t i = 0; i < d.n_params; ++i) {
    const auto* pd = reinterpret_cast<const SimhostParamDesc*>(pbytes + i * pstride);
    k.params.push_back(param_from(read_struct(pd, "a parameter descriptor", name), name));
  }
  const auto* obytes = reinterpret_cast<const std::byte*>(d.outputs);
  const std::size_t ostride = d.n_outputs > 0 ? d.outputs[0].struct_size : 0;
  if (d.n_outputs > 0 && ostride < 2 * sizeof(std::uint32_t))
    throw BadDescriptor{fmt::format("kernel '{}': its outputs' struct_size is {}", name, ostride)};
  for (std::int32_t i = 0; i < d.n_outputs; ++i) {
    const auto* od = reinterpret_cast<const SimhostOutputDesc*>(obytes + i * ostride);
    k.outputs.push_back(output_from(read_struct(od, "an output descriptor", name), name, k));
  }
  if (!d.run) throw BadDescriptor{fmt::format("kernel '{}' has no run function", name)};

  const SimhostKernelFn run = d.run;
  const SimhostCheckFn check = d.check;
  const SimhostExampleFn example = d.example;
  void* const user = d.user;
  k.run = [run, user, file](CallContext& ctx) {
    SimhostCall call;
    call.kernel = &ctx.kernel();
    call.args = &ctx.args();
    call.ctx = &ctx;
    t_error.clear();
    throw_status(run(&call, user), ctx.kernel().name, file, "run");
  };
  if (check) {
    // The check reads arguments through the signature; the KernelDef itself moves on.
    auto signature = std::make_shared<KernelDef>();
    signature->name = k.name;
    signature->params = k.params;
    signature->outputs = k.outputs;
    k.check = [check, user, file, name, signature](const Args& args) {
      SimhostCall call;
      call.kernel = signature.get();
      call.args = &args;
      t_error.clear();
      throw_status(check(&call, user), name, file, "check");
    };
  }
  if (example)
    k.example = [example, user, file, name]() {
      OwnedArgs args;
      SimhostExample e{&args};
      t_error.clear();
      const SimhostStatus s = example(&e, user);
      if (s != SIMHOST_STATUS_OK)
        throw KernelError(fmt::format("{}(): its example failed: {} (plugin {})", name,
                                      plugin_message("no message"), file));
      return args;
    };
  return k;
}

// ---- Records -----------------------------------------------------------------------------

struct Records {
  std::mutex mutex;
  std::vector<PluginRecord> loaded;
  std::vector<PluginFailure> failures;
  std::vector<std::string> canonical;  // realpath of each loaded native file
};

Records& records() {
  static auto* r = new Records;  // never destroyed, like the registry
  return *r;
}

SimhostStatus abi_register_kernel(SimhostPlugin* plugin, const SimhostKernelDesc* desc) {
  if (!plugin) {
    t_error = "register_kernel() outside simhost_plugin_init";
    return SIMHOST_STATUS_INVALID_TYPE;
  }
  try {
    if (!desc) throw BadDescriptor{"kernel '?': the kernel descriptor is NULL"};
    // Every field checked, then the registry's own rules (names, reserved names, defaults
    // within bounds, the example).
    plugin->kernels.push_back(kernel_from_descriptor(*plugin->registry, *desc, plugin->file));
    return SIMHOST_STATUS_OK;
  } catch (const BadDescriptor& e) {
    t_error = e.message;
  } catch (const std::exception& e) {
    t_error = e.what();
  }
  plugin->refused.push_back({plugin->file, t_error});
  return SIMHOST_STATUS_INVALID_VALUE;
}

// Why dlopen() failed, in words that say what to do.
std::string dlopen_reason(const std::string& path, std::string detail) {
  const std::string prefix = path + ": ";
  if (detail.starts_with(prefix)) detail.erase(0, prefix.size());
  for (const char* bad : {"invalid ELF header", "file too short", "wrong ELF class",
                          "ELF load command", "not an ELF", "ELF file", "only ET_DYN"})
    if (detail.find(bad) != std::string::npos)
      return fmt::format("not a shared library this machine can load ({})", detail);
  if (detail.find("cannot open shared object file") != std::string::npos) {
    const std::string lib = detail.substr(0, detail.find(':'));
    if (lib != path && std::filesystem::path(lib).filename() != std::filesystem::path(path).filename())
      return fmt::format("it needs the library {}, which was not found ({}); install it, or add "
                         "its folder to LD_LIBRARY_PATH", lib, detail);
    return fmt::format("the file cannot be opened ({})", detail);
  }
  if (detail.find("undefined symbol") != std::string::npos)
    return fmt::format("it uses a symbol no loaded library defines ({}); link the plugin "
                       "with -Wl,--no-undefined to see which library it lacks", detail);
  return detail;
}

// dlopen() maps an ELF file's segments without checking that the file holds them, and the
// host then dies of SIGBUS touching a page past its end: a truncated library (an interrupted
// copy or build) is refused before, by the sizes its own headers give. Anything else that is
// wrong with the file is left to dlopen() to tell.
std::optional<std::string> truncated_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh)) return std::nullopt;
  constexpr unsigned char native_data =
      std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != native_data || eh.e_phentsize != sizeof(Elf64_Phdr) ||
      eh.e_phnum == PN_XNUM)
    return std::nullopt;
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  auto truncated = [&](std::uint64_t needed) {
    return fmt::format("the file is truncated: it has {} bytes, and its ELF headers need {} "
                       "(build or copy it again)", size, needed);
  };
  const std::uint64_t headers_end = eh.e_phoff + std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (headers_end > size) return truncated(headers_end);
  in.seekg(static_cast<std::streamoff>(eh.e_phoff));
  std::uint64_t needed = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof ph)) return std::nullopt;
    if (ph.p_type == PT_LOAD) needed = std::max<std::uint64_t>(needed, ph.p_offset + ph.p_filesz);
  }
  if (needed > size) return truncated(needed);
  return std::nullopt;
}

}  // namespace

bool load_plugin(Registry& registry, const std::string& path) {
  Records& r = records();
  std::lock_guard lock(r.mutex);
  auto fail = [&](std::string reason) {
    r.failures.push_back({path, std::move(reason)});
    return false;
  };
  std::error_code ec;
  const auto canonical = std::filesystem::canonical(path, ec);
  if (ec) return fail(fmt::format("the file cannot be opened ({})", ec.message()));
  if (std::find(r.canonical.begin(), r.canonical.end(), canonical.string()) != r.canonical.end())
    return true;  // loaded already
  if (std::filesystem::is_directory(canonical)) return fail("it is a folder, not a plugin file");

  if (const auto why = truncated_elf(path))
    return fail(fmt::format("not a shared library this machine can load ({})", *why));
  ::dlerror();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // never dlclose()d
  if (!handle) {
    const char* e = ::dlerror();
    return fail(dlopen_reason(path, e ? e : "dlopen failed"));
  }
  const auto* abi = static_cast<const SimhostPluginAbi*>(::dlsym(handle, "simhost_plugin_abi"));
  if (!abi)
    return fail("it exports no simhost_plugin_abi symbol, so it is not a simhost plugin (build it "
                "with SIMHOST_PLUGIN() from simhost/plugin.hpp or export the two symbols of "
                "simhost/plugin.h)");
  // "this host accepts ABI 1.0" or "... ABI 1.0 to 1.3".
  const std::string accepted =
      SIMHOST_ABI_MINOR == 0
          ? fmt::format("this host accepts ABI {}.0", SIMHOST_ABI_MAJOR)
          : fmt::format("this host accepts ABI {}.0 to {}.{}", SIMHOST_ABI_MAJOR, SIMHOST_ABI_MAJOR,
                        SIMHOST_ABI_MINOR);
  if (abi->struct_size < offsetof(SimhostPluginAbi, abi_minor) + sizeof(abi->abi_minor))
    return fail(fmt::format("its simhost_plugin_abi has struct_size {}, too small to be one", abi->struct_size));
  if (abi->abi_major != SIMHOST_ABI_MAJOR)
    return fail(fmt::format("it was built for plugin ABI {}.{}, and {}; rebuild it against this "
                            "simhost's SDK", abi->abi_major, abi->abi_minor, accepted));
  if (abi->abi_minor > SIMHOST_ABI_MINOR)
    return fail(fmt::format("it was built for plugin ABI {}.{}, newer than this host's: {}; "
                            "upgrade simhost or rebuild the plugin against this SDK",
                            abi->abi_major, abi->abi_minor, accepted));
  if (abi->struct_size < offsetof(SimhostPluginAbi, name))
    return fail(fmt::format("its simhost_plugin_abi has struct_size {}, too small for ABI {}.{}",
                            abi->struct_size, abi->abi_major, abi->abi_minor));
  const auto sizes_ok = abi->pointer_size == sizeof(void*) && abi->size_t_size == sizeof(std::size_t) &&
                        abi->double_size == sizeof(double) && abi->int64_size == sizeof(std::int64_t);
  if (!sizes_ok)
    return fail(fmt::format("it was compiled with other basic type sizes (pointer {}, size_t {}, "
                            "double {}, int64 {} bytes; this host: {}, {}, {}, {})",
                            abi->pointer_size, abi->size_t_size, abi->double_size, abi->int64_size,
                            sizeof(void*), sizeof(std::size_t), sizeof(double), sizeof(std::int64_t)));
  auto init = reinterpret_cast<SimhostPluginInitFn>(::dlsym(handle, "simhost_plugin_init"));
  if (!init) return fail("it exports simhost_plugin_abi but no simhost_plugin_init entry point");

  SimhostPlugin plugin;
  plugin.file = path;
  plugin.registry = &registry;
  t_error.clear();
  SimhostStatus status = SIMHOST_STATUS_ERROR;
  try {
    status = init(&kHost, &plugin);
  } catch (...) {  // a C plugin built with -fexceptions could let one through
    t_error = "an exception escaped simhost_plugin_init";
  }
  if (status != SIMHOST_STATUS_OK)
    return fail(fmt::format("its simhost_plugin_init failed: {}", plugin_message("no message")));

  PluginRecord rec;
  rec.file = path;
  rec.kind = "native";
  rec.abi = fmt::format("{}.{}", abi->abi_major, abi->abi_minor);
  if (abi->name) rec.name = abi->name;
  if (abi->version) rec.version = abi->version;
  bool refused = !plugin.refused.empty();
  for (auto& f : plugin.refused) r.failures.push_back(std::move(f));
  for (auto& k : plugin.kernels) {
    const std::string name = k.name;
    try {
      registry.add(std::move(k));
      rec.kernels.push_back(name);
    } catch (const Error& e) {
      r.failures.push_back({path, e.what()});
      refused = true;
    }
  }
  // Every kernel it registered was refused (each recorded above): it added nothing, so it
  // failed to load, as any other plugin that cannot be used.
  if (refused && rec.kernels.empty()) return false;
  r.canonical.push_back(canonical.string());
  r.loaded.push_back(std::move(rec));
  return true;
}

std::vector<PluginRecord> loaded_plugins() {
  std::lock_guard lock(records().mutex);
  return records().loaded;
}

std::vector<PluginFailure> plugin_failures() {
  std::lock_guard lock(records().mutex);
  return records().failures;
}

void record_plugin(PluginRecord record) {
  std::lock_guard lock(records().mutex);
  records().loaded.push_back(std::move(record));
}

void record_plugin_failure(PluginFailure failure) {
  std::lock_guard lock(records().mutex);
  records().failures.push_back(std::move(failure));
}

std::vector<std::string> plugin_path_folders() {
  std::vector<std::string> out;
  const char* env = std::getenv("SIMHOST_PLUGIN_PATH");
  if (!env) return out;
  std::string_view rest(env);
  while (true) {
    const std::size_t colon = rest.find(':');
    const std::string_view part = rest.substr(0, colon);
    if (!part.empty()) out.emplace_back(part);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

std::vector<std::string> native_plugins_in(const std::string& folder) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
    if (entry.path().extension() == ".so" && !entry.is_directory()) out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

KernelDef kernel_from_descriptor(const Registry& registry, const SimhostKernelDesc& desc,
                                 const std::string& file) {
  try {
    KernelDef k = kernel_from(read_struct(&desc, "the kernel descriptor", "?"), file);
    registry.validate(k);
    return k;
  } catch (const BadDescriptor& e) {
    throw ArgumentValueError(e.message);
  }
}

std::string host_abi_version() { return fmt::format("{}.{}", SIMHOST_ABI_MAJOR, SIMHOST_ABI_MINOR); }

}  // namespace simhost
