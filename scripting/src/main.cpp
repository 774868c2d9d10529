// The simhost host binary: simhost's own options and subcommands, then CPython's own main
// (Py_RunMain), so scripts, -c, -m, -, the REPL, exit codes and tracebacks are python3's.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <pybind11/embed.h>

#include "module.hpp"
#include "simhost/cpu.hpp"
#include "simhost/error.hpp"
#include "simhost/executor.hpp"
#include "simhost/batch_mpi.hpp"
#include "simhost/kernels.hpp"
#include "simhost/plugins.hpp"
#include "simhost/registry.hpp"
#include "simhost/text.hpp"

namespace py = pybind11;

PYBIND11_EMBEDDED_MODULE(_simhost_core, m) { simhost::bind_module(m); }

namespace {

constexpr int kUsageExit = 2;

constexpr std::string_view kUsage =
    "usage: simhost [--threads N] [--plugin FILE]... [--no-plugins] [python options]\n"
    "               [FILE | -c CMD | -m MODULE | -] [args...]\n"
    "       simhost run FILE [args...]\n"
    "       simhost kernels [NAME]\n"
    "       simhost plugins [check FILE]\n"
    "       simhost batch SPEC [--out DIR] [--jobs J] [--resume] [--retry-failed] [--dry-run]\n"
    "       simhost batch status|export DIR\n";

void print_help() {
  std::fputs(kUsage.data(), stdout);
  std::fputs(
      "\n"
      "Runs a Python script with the embedded CPython; `import simhost` gives the kernels.\n"
      "Everything after simhost's own options is handled exactly as python3 handles it.\n"
      "\n"
      "commands:\n"
      "  run FILE [args]   run a script (the same as `simhost FILE [args]`)\n"
      "  kernels           list the registered kernels\n"
      "  kernels NAME      show a kernel's parameters (type, shape, default, bounds, unit)\n"
      "                    and outputs\n"
      "  plugins           list the plugins that loaded (file, ABI, kernels) and those that\n"
      "                    failed (file, reason)\n"
      "  plugins check FILE  load a plugin in a child process, validate its kernels and run\n"
      "                    their self-tests; a crash is reported, not suffered\n"
      "  batch SPEC        run a parameter sweep (a TOML spec) into a SQLite store; resumable\n"
      "                    (docs/batches.md; `simhost batch --help`)\n"
      "  batch status DIR  counts and failed runs of a batch, running or not\n"
      "  batch export DIR  write DIR/summary.csv\n"
      "\n"
      "options (before the script or command):\n"
      "  --threads N       thread budget for kernels (default: SIMHOST_THREADS, else all CPUs)\n"
      "  --plugin FILE     load the native (.so) or Python (.py) plugin FILE first\n"
      "                    (repeatable; loaded even with --no-plugins)\n"
      "  --no-plugins      safe mode: search no plugin folder (SIMHOST_PLUGIN_PATH, the\n"
      "                    installed one); the same as SIMHOST_NO_PLUGINS=1\n"
      "  --version         print where simhost is installed, the versions of simhost,\n"
      "                    Python, NumPy, oneTBB, Eigen and pybind11, and the CPU path\n"
      "                    the kernels run\n"
      "  -h, --help        print this help\n"
      "  python options    -c, -m, -u, -X, -W, -I, -E, -O, -B, -i, ... as for python3\n"
      "\n"
      "environment:\n"
      "  SIMHOST_THREADS   default thread budget (an integer from 1 to 1024)\n"
      "  SIMHOST_PLUGIN_PATH  folders of plugins (':'-separated), searched before the\n"
      "                    installed plugin folder\n"
      "  SIMHOST_NO_PLUGINS  1: safe mode, as --no-plugins\n"
      "  SIMHOST_PROGRESS  1: draw progress bars even when stderr is not a terminal;\n"
      "                    0: draw none\n"
      "  VIRTUAL_ENV       an activated virtual environment: the host takes its prefix and\n"
      "                    site-packages, as the venv's python does (ignored under -I)\n"
      "  SIMHOST_CPU       the kernels' CPU path: generic (any x86-64), avx2 (x86-64-v3) or\n"
      "                    avx512 (x86-64-v4); default: the best this CPU runs (see --version)\n"
      "  OMPI_COMM_WORLD_SIZE\n"
      "  PMIX_RANK\n"
      "  PMI_RANK          set by mpirun or srun: `simhost batch` then starts MPI and\n"
      "                    shares the batch out over the ranks\n"
      "  PYTHON*           as for python3 (PYTHONPATH, PYTHONWARNINGS, ...)\n",
      stdout);
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "simhost: %s\n%sTry 'simhost --help' for more information.\n",
               message.c_str(), kUsage.data());
  std::exit(kUsageExit);
}

// Ends the process by SIGINT (after the interpreter has finalized), as python3 does after an
// uncaught KeyboardInterrupt, so a shell sees the interrupt.
[[noreturn]] void end_by_sigint() {
  std::fflush(stdout);
  std::fflush(stderr);
  std::signal(SIGINT, SIG_DFL);
  std::raise(SIGINT);
  std::_Exit(128 + SIGINT);  // not reached
}

// Ends the process quietly by SIGPIPE, as `cat` ends when its reader has gone: nothing more
// can be written, so stdout is pointed at /dev/null first and no later flush complains.
[[noreturn]] void end_by_sigpipe() {
  const int devnull = ::open("/dev/null", O_WRONLY);
  if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
  std::signal(SIGPIPE, SIG_DFL);
  std::raise(SIGPIPE);
  std::_Exit(128 + SIGPIPE);  // not reached
}

// What the host adds to python3's behaviour, installed before the user's code: an uncaught
// BrokenPipeError (`simhost script.py | head`) ends the process by SIGPIPE instead of a
// traceback and "Exception ignored" lines. Writes to a closed pipe inside the script still
// raise BrokenPipeError as usual. Nothing is imported: start-up stays python3's.
void install_host_hooks() {
  auto sys = py::module_::import("sys");
  py::object previous = sys.attr("excepthook");
  sys.attr("excepthook") = py::cpp_function(
      [previous](py::handle kind, py::handle value, py::handle traceback) {
        if (PyType_Check(kind.ptr()) &&
            PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(kind.ptr()),
                             reinterpret_cast<PyTypeObject*>(PyExc_BrokenPipeError)))
          end_by_sigpipe();
        previous(kind, value, traceback);
      },
      py::name("excepthook"), py::arg("type"), py::arg("value"), py::arg("traceback"));
  py::module_::import("atexit").attr("register")(py::cpp_function([sys] {
    try {
      py::object out = sys.attr("stdout");
      if (!out.is_none()) out.attr("flush")();
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_BrokenPipeError)) end_by_sigpipe();
      if (!e.matches(PyExc_ValueError)) throw;  // ValueError: the script closed stdout itself
    }
  }));
}

// This binary's path, as sys.executable gives it to child processes.
std::string host_executable() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.string();
}

// The folder to put on sys.path for `import simhost`, or "" when site already finds the
// package (installed into a folder python3 searches) or the host cannot tell where it is.
// Looked for next to the binary: <root>/python in the build tree, the install's
// <root>/lib/python3.X/{site,dist}-packages otherwise.
std::string package_dir() {
  const std::string exe = host_executable();
  if (exe.empty()) return {};
  std::error_code ec;
  const auto root = std::filesystem::path(exe).parent_path().parent_path();
  const std::string version = fmt::format("python{}.{}", PY_MAJOR_VERSION, PY_MINOR_VERSION);
  for (const auto& candidate :
       {root / "python", root / "lib" / version / "site-packages",
        root / "lib" / version / "dist-packages", root / "local" / "lib" / version / "dist-packages"})
    if (std::filesystem::exists(candidate / "simhost" / "__init__.py", ec)) return candidate.string();
  return {};
}

// Makes the package importable when site does not already find it, as the entry right after
// the script's folder (where PYTHONPATH's entries go). A ._pth file next to the executable
// fixes sys.path completely, as for python3: then nothing is added.
void add_package_dir() {
  const std::string dir = package_dir();
  if (dir.empty()) return;
  auto sys = py::module_::import("sys");
  py::list path = sys.attr("path");
  std::error_code ec;
  for (const auto& entry : path)
    if (py::isinstance<py::str>(entry) &&
        std::filesystem::equivalent(entry.cast<std::string>(), dir, ec))
      return;
  const auto executable = sys.attr("executable").cast<std::string>();
  for (const std::string& exe : {executable, std::filesystem::weakly_canonical(executable, ec).string()})
    if (!exe.empty() && std::filesystem::exists(exe + "._pth", ec)) return;
  path.insert(0, dir);
}

bool in_venv_folder(const std::filesystem::path& executable) {
  std::error_code ec;
  const auto dir = executable.parent_path();
  return std::filesystem::exists(dir / "pyvenv.cfg", ec) ||
         std::filesystem::exists(dir.parent_path() / "pyvenv.cfg", ec);
}

// The activated virtual environment the host should use as its prefix, or "". A host
// installed inside a venv is that venv's (CPython finds its pyvenv.cfg itself); otherwise
// VIRTUAL_ENV (set by `source venv/bin/activate`) names it, unless -I isolates the host.
std::string active_venv(const PyConfig& config, const std::string& executable) {
  const char* venv = std::getenv("VIRTUAL_ENV");
  if (venv == nullptr || *venv == '\0' || config.isolated || executable.empty() ||
      in_venv_folder(executable))
    return {};
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(venv) / "pyvenv.cfg", ec)) {
    std::fprintf(stderr,
                 "simhost: warning: VIRTUAL_ENV=%s is not a virtual environment (it has no "
                 "pyvenv.cfg); using the system Python's prefix\n",
                 venv);
    return {};
  }
  return venv;
}

PyStatus set_string(PyConfig& config, wchar_t** field, const std::string& value) {
  return PyConfig_SetBytesString(&config, field, value.c_str());
}

// Starts the interpreter as python3 would for these arguments (argv[0] first), in the
// activated virtual environment if there is one. Returns false (with `exit_code` set) when
// CPython's own option handling ended the run (e.g. an unknown python option).
bool start_interpreter(int argc, char** argv, int& exit_code) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 1;
  PyStatus status = PyConfig_SetBytesArgv(&config, argc, argv);
  if (!PyStatus_Exception(status)) status = PyConfig_Read(&config);  // parses -I, -E, ...
  const std::string host = host_executable();
  const std::string venv = PyStatus_Exception(status) ? std::string() : active_venv(config, host);
  if (!venv.empty()) {
    // CPython takes its prefixes and site-packages from the executable's pyvenv.cfg, exactly
    // as the venv's own python does; sys.executable is then set back to this binary.
    status = set_string(config, &config.executable, venv + "/bin/python");
    if (!PyStatus_Exception(status)) status = set_string(config, &config.base_executable, host);
  }
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    if (PyStatus_IsExit(status)) {
      exit_code = status.exitcode;
      return false;
    }
    Py_ExitStatusException(status);
  }
  // The main thread holds the GIL from Py_InitializeFromConfig on. A Ctrl-C that came
  // during start-up surfaces here as a KeyboardInterrupt (importing atexit runs importlib's
  // Python code): the process then ends by SIGINT, as python3 does for a Ctrl-C before a
  // script's first line. Every Python object is gone before the interpreter finalizes.
  bool interrupted = false;
  bool failed = false;
  try {
    if (!venv.empty()) py::module_::import("sys").attr("executable") = host;
    add_package_dir();
    install_host_hooks();
  } catch (py::error_already_set& e) {
    failed = true;
    interrupted = e.matches(PyExc_KeyboardInterrupt);
    if (!interrupted) {
      e.restore();
      PyErr_Print();
    }
  }
  if (!failed) return true;
  Py_FinalizeEx();
  if (interrupted) end_by_sigint();
  exit_code = 1;
  return false;
}

int print_version(char* argv0) {
  try {
    simhost::cpu_path();  // a bad SIMHOST_CPU: the usage error, not a failed import
  } catch (const simhost::Error& e) {
    usage_error(e.what());
  }
  int rc = 0;
  char* argv[] = {argv0, const_cast<char*>("-c"), const_cast<char*>("pass")};
  if (!start_interpreter(3, argv, rc)) return rc;
  {
    py::gil_scoped_acquire gil;
    try {
      const auto libs = simhost::library_versions();
      std::string numpy;
      try {
        numpy = py::module_::import("numpy").attr("__version__").cast<std::string>();
      } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_ImportError)) throw;
        numpy = "not importable (" + py::str(e.value()).cast<std::string>() +
                "; install it with `apt-get install python3-numpy`)";
      }
      const auto spec = py::module_::import("importlib.util").attr("find_spec")("simhost");
      const std::string package =
          spec.is_none() ? std::string("not importable")
                         : py::str(spec.attr("submodule_search_locations")[py::int_(0)]).cast<std::string>();
      std::printf("simhost %s\n  binary  %s\n  package %s\nPython %s (prefix %s)\nNumPy %s\n"
                  "oneTBB %s\nEigen %s\npybind11 %s\nCPU path %s\nplugin ABI %s\n",
                  libs["simhost"].cast<std::string>().c_str(), host_executable().c_str(),
                  package.c_str(),
                  py::module_::import("platform").attr("python_version")().cast<std::string>().c_str(),
                  py::module_::import("sys").attr("prefix").cast<std::string>().c_str(),
                  numpy.c_str(), libs["oneTBB"].cast<std::string>().c_str(),
                  libs["Eigen"].cast<std::string>().c_str(),
                  libs["pybind11"].cast<std::string>().c_str(),
                  simhost::cpu_path_description().c_str(), simhost::host_abi_version().c_str());
    } catch (py::error_already_set& e) {
      e.restore();
      PyErr_Print();
      rc = 1;
    }
  }
  if (Py_FinalizeEx() < 0 && rc == 0) rc = 120;
  return rc;
}

// CPython's own main (Py_RunMain) runs the script/-c/-m/stdin/REPL, prints tracebacks,
// handles SystemExit and an uncaught KeyboardInterrupt (exit by SIGINT), and finalizes once.
// Nothing is imported before the user's code: `import simhost` loads NumPy and the package
// when the script asks for them, so start-up, sys.modules and warning filters are python3's.
int run_python(int argc, char** argv) {
  int rc = 0;
  if (!start_interpreter(argc, argv, rc)) return rc;
  return Py_RunMain();
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything registers a kernel: the host's kernels are the ones Python can call.
  simhost::reserve_python_names(simhost::Registry::global());
  std::vector<char*> python_argv{argv[0]};
  simhost::KernelSources sources;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--threads" || arg.starts_with("--threads=")) {
      std::string value;
      if (arg == "--threads") {
        if (i + 1 >= argc) usage_error("--threads needs a value");
        value = argv[++i];
      } else {
        value = std::string(arg.substr(10));
      }
      int n = 0;
      try {
        n = simhost::parse_threads(value, "--threads");
      } catch (const simhost::ArgumentValueError& e) {
        usage_error(e.what());
      }
      simhost::set_threads(n);
    } else if (arg == "--plugin" || arg.starts_with("--plugin=")) {
      if (arg == "--plugin") {
        if (i + 1 >= argc) usage_error("--plugin needs a file: --plugin FILE");
        sources.plugin_files.emplace_back(argv[++i]);
      } else {
        sources.plugin_files.emplace_back(arg.substr(9));
      }
      if (sources.plugin_files.back().empty()) usage_error("--plugin needs a file: --plugin FILE");
    } else if (arg == "--no-plugins") {
      sources.no_plugins = true;
    } else if (arg == "--version") {
      return print_version(argv[0]);
    } else if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    } else if (arg.starts_with("--") && arg.size() > 2) {
      const std::string name(arg.substr(0, arg.find('=')));
      const auto close = simhost::close_matches(
          name, {"--threads", "--plugin", "--no-plugins", "--version", "--help"}, 1);
      usage_error(fmt::format("unknown option '{}'{}", arg,
                              close.empty() ? "" : fmt::format("; did you mean '{}'?", close[0])));
    } else {
      break;
    }
  }
  // A bad SIMHOST_THREADS or SIMHOST_CPU is a usage error, reported before any script runs.
  try {
    simhost::get_threads();
    simhost::cpu_path();
  } catch (const simhost::Error& e) {
    usage_error(e.what());
  }
  // The one loading step: built-ins, then native plugins (Python plugins load with the
  // package, from the same folders). A failing plugin is recorded, never fatal.
  if (const std::string dir = package_dir(); !dir.empty())
    sources.installed_folders.push_back(dir + "/simhost/plugins");
  simhost::load_kernels(sources);
  // The commands are the package's (simhost._cli), so that they see Python plugins too.
  static char dash_c[] = "-c";
  static char cli[] = "import sys, simhost._cli; sys.exit(simhost._cli.main(sys.argv[1:]))";
  const std::string_view command = i < argc ? std::string_view(argv[i]) : std::string_view();
  if (command == "kernels" || command == "plugins" || command == "batch") {
    python_argv.push_back(dash_c);
    python_argv.push_back(cli);
  }
  // Under mpirun (or srun), a batch's ranks talk over MPI; nothing else uses it.
  if (command == "batch" && simhost::launched_by_mpi()) {
    try {
      simhost::set_batch_transport(simhost::start_mpi());
    } catch (const std::exception& e) {
      fmt::print(stderr, "simhost: {}\n", e.what());
      return 1;
    }
  }
  if (i < argc && std::string_view(argv[i]) == "run") {
    if (++i >= argc) usage_error("'run' needs a script: simhost run FILE [args...]");
  }
  for (; i < argc; ++i) python_argv.push_back(argv[i]);
  const int code = run_python(static_cast<int>(python_argv.size()), python_argv.data());
  simhost::finish_mpi(code);
  return code;
}
