// Batches from Python: simhost._core's spec and run functions, and the hooks through which the
// engine runs the spec's Python glue (setup, reduce, Python kernels) on the calling thread.
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <sqlite3.h>

#include <cstring>

#include "module.hpp"
#include "simhost/batch.hpp"
#include "simhost/batch_spec.hpp"
#include "simhost/batch_store.hpp"
#include "simhost/executor.hpp"
#include "simhost/npy.hpp"

namespace py = pybind11;

namespace simhost::detail {

namespace {

py::object to_python(const Value& v) {
  if (const auto* a = std::get_if<ConstArrayView>(&v)) {
    py::array out(numpy_dtype(a->dtype), a->shape);
    if (a->bytes()) std::memcpy(out.mutable_data(), a->data, a->bytes());
    return out;
  }
  if (const auto* d = std::get_if<double>(&v)) return py::float_(*d);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return py::int_(*i);
  if (const auto* b = std::get_if<bool>(&v)) return py::bool_(*b);
  if (const auto* s = std::get_if<std::string>(&v)) return py::str(*s);
  return py::none();
}

py::dict params_of(const BatchRun& run) {
  py::dict d;
  for (const auto& [k, v] : run.params) d[py::str(k)] = to_python(v);
  return d;
}

py::object hook_tuple(const std::optional<BatchHook>& h) {
  if (!h) return py::none();
  return py::make_tuple(h->file, h->function, h->place.text());
}

// The spec's Python glue, run by the Python object `py` (simhost._batch_run.Hooks). Its
// methods report a failed run by returning the error text (with traceback), never by raising,
// so no Python exception crosses the engine.
class PythonHooks final : public BatchHooks {
 public:
  explicit PythonHooks(py::object hooks) : m_py(std::move(hooks)) {}

  void prepare(const BatchSpec& spec) override {
    py::gil_scoped_acquire gil;
    m_kernel = spec.kernel;
    m_py.attr("prepare")(hook_tuple(spec.setup), hook_tuple(spec.reduce));
  }

  OwnedArgs setup(const BatchRun& run) override {
    py::gil_scoped_acquire gil;
    py::object out = call("setup", params_of(run));
    if (py::isinstance<py::str>(out)) throw Error(out.cast<std::string>());
    const auto values = out.cast<py::dict>();
    OwnedArgs args;
    std::vector<std::pair<std::string, py::object>> holders;
    try {
      for (auto& [name, value] : values_from_python(*m_kernel, values, holders)) {
        for (const auto& [given, _] : run.params)
          if (given == name)
            throw ArgumentTypeError(fmt::format(
                "setup hook: returned '{}', which the spec sets already", name));
        if (const auto* a = std::get_if<ConstArrayView>(&value)) args.array(name, *a);
        else args.set(name, value);
      }
    } catch (const Error& e) {
      throw Error(fmt::format("setup hook: {}", e.what()));
    }
    return args;
  }

  std::string reduce(const BatchRun& run, const std::vector<OutputSlot>& outputs) override {
    py::gil_scoped_acquire gil;
    py::dict outs;
    for (const auto& s : outputs) {
      if (s.spec->kind == Kind::Array)
        outs[py::str(s.spec->name)] = to_python(ConstArrayView(s.array));
      else
        outs[py::str(s.spec->name)] = py::float_(s.scalar);
    }
    const auto [ok, text] = call("reduce", outs, params_of(run)).cast<std::pair<bool, std::string>>();
    if (!ok) throw Error(text);
    return text;
  }

  void run_in_front_end(const BatchRun& run, RunResult& result) override {
    py::gil_scoped_acquire gil;
    const auto out = call("run_kernel", params_of(run)).cast<py::tuple>();
    if (!out[0].cast<bool>()) throw Error(out[1].cast<std::string>());
    for (auto item : out[2].cast<py::list>()) {
      const auto pair = item.cast<py::tuple>();
      result.outputs.push_back({pair[0].cast<std::string>(), pair[1].cast<std::string>()});
    }
    result.reduce_json = out[3].cast<std::string>();
  }

  bool keep_going() override {
    py::gil_scoped_acquire gil;
    if (m_interrupt) return false;
    if (PyErr_CheckSignals() == 0) return true;
    m_interrupt = std::make_unique<py::error_already_set>();
    return false;
  }

  void progress(const BatchProgress& p, bool final) override {
    py::gil_scoped_acquire gil;
    m_py.attr("progress")(p.total, p.done, p.failed, p.todo, p.seconds, p.runs_per_second, final);
  }

  // The exception that stopped the batch (KeyboardInterrupt), re-raised by the caller.
  std::unique_ptr<py::error_already_set> m_interrupt;

 private:
  // Calls a method of the Python side. Ctrl-C inside a hook stops the batch (the engine sees
  // Cancelled and leaves the run pending), rather than failing that run.
  template <class... A>
  py::object call(const char* method, A&&... args) {
    try {
      return m_py.attr(method)(std::forward<A>(args)...);
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_KeyboardInterrupt)) throw;
      if (!m_interrupt) m_interrupt = std::make_unique<py::error_already_set>(std::move(e));
      throw Cancelled();
    }
  }

  py::object m_py;
  const KernelDef* m_kernel = nullptr;
};

std::shared_ptr<BatchSpec> load_spec(const py::object& source, const std::string& origin,
                                     const std::string& folder) {
  if (py::isinstance<py::str>(source) && origin.empty()) {
    const std::string path = source.cast<std::string>();
    return std::make_shared<BatchSpec>(load_batch_spec(path, Registry::global()));
  }
  // TOML text (a spec given as a dict, written out by the Python side).
  return std::make_shared<BatchSpec>(
      parse_batch_spec(source.cast<std::string>(), origin, folder, Registry::global()));
}

py::dict run(const std::shared_ptr<BatchSpec>& spec, const std::string& out, int jobs, bool resume,
             bool retry_failed, const std::string& command, const std::string& versions_json,
             const std::string& plugins_json, const py::object& hooks_object) {
  if (jobs < 0 || jobs > kMaxThreads)
    throw ArgumentValueError(fmt::format("jobs must be between 1 and {}, got {}", kMaxThreads, jobs));
  BatchOptions options;
  options.out = out;
  options.jobs = jobs;
  options.resume = resume;
  options.retry_failed = retry_failed;
  options.command = command;
  options.versions_json = versions_json;
  options.plugins_json = plugins_json;
  PythonHooks hooks(hooks_object);
  BatchSummary s;
  {
    py::gil_scoped_release release;
    s = run_batch(*spec, options, hooks);
  }
  if (hooks.m_interrupt) throw std::move(*hooks.m_interrupt);
  py::dict d;
  d["out"] = s.out;
  d["total"] = s.total;
  d["done"] = s.done;
  d["failed"] = s.failed;
  d["pending"] = s.pending;
  d["skipped"] = s.skipped;
  d["ran"] = s.ran;
  d["failures"] = s.failures;
  d["seconds"] = s.seconds;
  d["interrupted"] = s.interrupted;
  d["ranks"] = s.ranks;
  d["jobs"] = s.jobs;
  return d;
}

py::object cell_object(const TableCell& cell) {
  struct ToPython {
    py::object operator()(std::monostate) const { return py::none(); }
    py::object operator()(std::int64_t v) const { return py::int_(v); }
    py::object operator()(std::uint64_t v) const { return py::int_(v); }
    py::object operator()(double v) const { return py::float_(v); }
    py::object operator()(bool v) const { return py::bool_(v); }
    py::object operator()(const std::string& v) const { return py::str(v); }
  };
  return std::visit(ToPython{}, cell);
}

py::tuple run_table(const std::string& db_path) {
  RunTable t;
  {
    py::gil_scoped_release nogil;
    t = read_run_table(db_path);
  }
  py::list values;
  for (const auto& column : t.values) {
    py::list cells(column.size());
    for (std::size_t r = 0; r < column.size(); ++r) cells[r] = cell_object(column[r]);
    values.append(std::move(cells));
  }
  return py::make_tuple(py::cast(t.columns), values);
}

}  // namespace

void bind_batch(py::module_& m) {
  // Module-local: the host's embedded core and the simhost._core extension (which a script in
  // the host may import too) each bind it, and a type pybind11 shares can be bound only once.
  py::class_<BatchSpec, std::shared_ptr<BatchSpec>>(m, "_BatchSpec", "A checked batch spec.",
                                                    py::module_local())
      .def_readonly("path", &BatchSpec::path)
      .def_readonly("folder", &BatchSpec::folder)
      .def_readonly("sha256", &BatchSpec::sha256)
      .def_readonly("seed", &BatchSpec::seed)
      .def_readonly("outputs", &BatchSpec::outputs)
      .def_readonly("retries", &BatchSpec::retries)
      .def_readonly("replicates", &BatchSpec::replicates)
      .def_readonly("timeout", &BatchSpec::timeout)
      .def_property_readonly("kernel", [](const BatchSpec& s) { return s.kernel->name; })
      .def_property_readonly("front_end", [](const BatchSpec& s) { return s.kernel->front_end; })
      .def_property_readonly("setup", [](const BatchSpec& s) { return hook_tuple(s.setup); })
      .def_property_readonly("reduce", [](const BatchSpec& s) { return hook_tuple(s.reduce); })
      .def_property_readonly("runs",
                             [](const BatchSpec& s) {
                               py::list runs;
                               for (const auto& r : s.runs)
                                 runs.append(py::make_tuple(r.index, r.id, r.params_json));
                               return runs;
                             },
                             "(idx, id, params as JSON) of every run.");
  m.def("_load_batch_spec", &load_spec, py::arg("source"), py::arg("origin") = "",
        py::arg("folder") = "",
        "Reads and checks a batch spec: a file path, or TOML text with its origin and folder.");
  m.def("_run_batch", &run, py::arg("spec"), py::arg("out"), py::arg("jobs"), py::arg("resume"),
        py::arg("retry_failed"), py::arg("command"), py::arg("versions"), py::arg("plugins"),
        py::arg("hooks"), "Runs a batch (see simhost.batch()); returns its summary as a dict.");
  m.def("_batch_table", &run_table, py::arg("db_path"),
        "(column names, columns as lists) of a store's run table (see Batch.runs).");
  m.def("_batch_export",
        [](const std::string& db_path, const std::string& target) {
          py::gil_scoped_release nogil;
          write_summary_csv(read_run_table(db_path), target);
        },
        py::arg("db_path"), py::arg("target"),
        "Writes a store's run table as CSV to target (see simhost.batch's export).");
  m.def("_batch_finish", [](int code) {
    if (BatchTransport* t = batch_transport()) t->finish(code);
  }, "Ends this rank's MPI part before the process exits with `code` (no-op without MPI).");
  m.def("_batch_versions", [] {
    py::dict v;
    v["sqlite"] = sqlite3_libversion();
    const BatchTransport* t = batch_transport();
    v["mpi"] = t ? t->version() : std::string();
    v["ranks"] = t ? t->size() : 1;
    v["rank"] = t ? t->rank() : 0;
    return v;
  });
}

}  // namespace simhost::detail
