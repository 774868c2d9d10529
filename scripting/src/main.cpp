// The simhost host binary: simhost's own options and subcommands, then CPython's own main
// (Py_RunMain), so scripts, -c, -m, -, the REPL, exit codes and tracebacks are python3's.
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
#include "simhost/kernels.hpp"
#include "simhost/registry.hpp"
#include "simhost/text.hpp"

namespace py = pybind11;

PYBIND11_EMBEDDED_MODULE(_simhost_core, m) { simhost::bind_module(m); }

namespace {

constexpr int kUsageExit = 2;

constexpr std::string_view kUsage =
    "usage: simhost [--threads N] [python options] [FILE | -c CMD | -m MODULE | -] [args...]\n"
    "       simhost run FILE [args...]\n"
    "       simhost kernels [NAME]\n";

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
      "\n"
      "options (before the script or command):\n"
      "  --threads N       thread budget for kernels (default: SIMHOST_THREADS, else all CPUs)\n"
      "  --version         print the versions of simhost, Python, NumPy, oneTBB and Eigen,\n"
      "                    and the CPU path the kernels run\n"
      "  -h, --help        print this help\n"
      "  python options    -c, -m, -u, -X, -W, -I, -E, -O, -B, -i, ... as for python3\n"
      "\n"
      "environment:\n"
      "  SIMHOST_THREADS   default thread budget\n"
      "  SIMHOST_CPU       the kernels' CPU path: generic (any x86-64), avx2 (x86-64-v3) or\n"
      "                    avx512 (x86-64-v4); default: the best this CPU runs (see --version)\n",
      stdout);
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "simhost: %s\n%sTry 'simhost --help' for more information.\n",
               message.c_str(), kUsage.data());
  std::exit(kUsageExit);
}

// The folder holding the `simhost` package: build/<preset>/python in the build tree,
// <prefix>/lib/simhost/python when installed.
std::string package_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const auto root = exe.parent_path().parent_path();
  for (const auto& candidate : {root / "python", root / "lib" / "simhost" / "python"})
    if (std::filesystem::exists(candidate / "simhost" / "__init__.py", ec)) return candidate.string();
  return {};
}

int kernels_command(int argc, char** argv) {
  auto& registry = simhost::Registry::global();
  simhost::add_builtin_kernels(registry);
  if (argc == 0) {
    std::size_t width = 0;
    for (const auto& n : registry.names()) width = std::max(width, n.size());
    for (const auto& n : registry.names())
      std::printf("%-*s  %s\n", static_cast<int>(width), n.c_str(), registry.get(n).summary.c_str());
    return 0;
  }
  if (argc > 1) usage_error("'kernels' takes at most one kernel name");
  try {
    std::fputs(simhost::describe_text(registry.get(argv[0])).c_str(), stdout);
    return 0;
  } catch (const simhost::UnknownKernelError& e) {
    std::fprintf(stderr, "simhost: %s\n", e.what());
    return kUsageExit;
  }
}

// prepare_interpreter()'s result when Ctrl-C arrived during it: end by SIGINT, as python3 does.
constexpr int kEndBySigint = -2;

// Ends the process by SIGINT (after the interpreter has finalized), as python3 does after an
// uncaught KeyboardInterrupt, so a shell sees the interrupt.
[[noreturn]] void end_by_sigint() {
  std::fflush(stdout);
  std::fflush(stderr);
  std::signal(SIGINT, SIG_DFL);
  std::raise(SIGINT);
  std::_Exit(128 + SIGINT);  // not reached
}

int import_packages();

volatile std::sig_atomic_t g_interrupted_at_startup = 0;
extern "C" void note_sigint(int) { g_interrupted_at_startup = 1; }

// Holds Ctrl-C back while the host imports NumPy and simhost before the user's code: an
// interrupt inside NumPy's C-level imports would surface as a misleading ImportError. The
// signal is noted and, once the imports are done, the process ends by SIGINT, which is what
// python3 does for a Ctrl-C before a script's first line.
class HoldSigint {
 public:
  HoldSigint() {
    struct sigaction note {};
    note.sa_handler = &note_sigint;
    sigemptyset(&note.sa_mask);
    sigaction(SIGINT, &note, &m_previous);
  }
  ~HoldSigint() { sigaction(SIGINT, &m_previous, nullptr); }
  HoldSigint(const HoldSigint&) = delete;
  HoldSigint& operator=(const HoldSigint&) = delete;
  bool interrupted() const { return g_interrupted_at_startup != 0; }

 private:
  struct sigaction m_previous {};
};

// Runs after the interpreter starts and before the user's code: makes the package importable
// and checks that NumPy is there (and is the major version simhost was built for). Returns an
// exit code, kEndBySigint, or -1 to go on.
int prepare_interpreter() {
  HoldSigint hold;
  // A Ctrl-C that came before the hold (while CPython started) is pending in Python's own
  // handler: take it now, before it surfaces inside an import.
  if (PyErr_CheckSignals() != 0) {
    PyErr_Clear();
    return kEndBySigint;
  }
  const int rc = import_packages();
  return hold.interrupted() ? kEndBySigint : rc;
}

int import_packages() {
  try {
    const std::string dir = package_dir();
    if (!dir.empty()) py::module_::import("sys").attr("path").attr("insert")(0, dir);
    try {
      py::module_::import("numpy");
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_ImportError)) throw;
      std::fprintf(stderr,
                   "simhost: NumPy cannot be imported by the embedded Python %s (%s); install it "
                   "with `apt-get install python3-numpy`\n",
                   PY_VERSION, py::str(e.value()).cast<std::string>().c_str());
      return 1;
    }
    try {
      py::module_::import("simhost._host").attr("install")();
    } catch (py::error_already_set& e) {
      // simhost's own refusal (another NumPy major version): its message says what to do.
      if (!e.matches(PyExc_ImportError) ||
          py::getattr(e.value(), "name", py::none()).cast<std::string>() != "simhost")
        throw;
      std::fprintf(stderr, "simhost: %s\n", py::str(e.value()).cast<std::string>().c_str());
      return 1;
    }
  } catch (py::error_already_set& e) {
    const bool interrupted = e.matches(PyExc_KeyboardInterrupt);
    e.restore();
    PyErr_Print();
    return interrupted ? kEndBySigint : 1;
  }
  return -1;
}

int print_version() {
  try {
    simhost::cpu_path();  // a bad SIMHOST_CPU: the usage error, not a failed import
  } catch (const simhost::Error& e) {
    usage_error(e.what());
  }
  py::scoped_interpreter interpreter;
  const int rc = prepare_interpreter();
  if (rc == kEndBySigint) end_by_sigint();
  if (rc >= 0) return rc;
  const auto numpy = py::module_::import("numpy").attr("__version__").cast<std::string>();
  const auto libs = simhost::library_versions();
  std::printf("simhost %s\nPython %s\nNumPy %s\noneTBB %s\nEigen %s\npybind11 %s\nCPU path %s\n",
              libs["simhost"].cast<std::string>().c_str(),
              py::module_::import("platform").attr("python_version")().cast<std::string>().c_str(),
              numpy.c_str(), libs["oneTBB"].cast<std::string>().c_str(),
              libs["Eigen"].cast<std::string>().c_str(),
              libs["pybind11"].cast<std::string>().c_str(),
              simhost::cpu_path_description().c_str());
  return 0;
}

int run_python(int argc, char** argv) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 1;
  PyStatus status = PyConfig_SetBytesArgv(&config, argc, argv);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    if (PyStatus_IsExit(status)) return status.exitcode;  // e.g. an unknown python option
    Py_ExitStatusException(status);
  }
  int rc;
  {
    py::gil_scoped_acquire gil;
    rc = prepare_interpreter();
  }
  if (rc >= 0 || rc == kEndBySigint) {
    Py_FinalizeEx();
    if (rc == kEndBySigint) end_by_sigint();
    return rc;
  }
  // Python's own main: runs the script/-c/-m/stdin/REPL, prints tracebacks, handles
  // SystemExit and an uncaught KeyboardInterrupt (exit by SIGINT), and finalizes once.
  return Py_RunMain();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> python_argv{argv[0]};
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
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1 || n > simhost::kMaxThreads)
        usage_error(fmt::format("--threads expects an integer between 1 and {}, got '{}'",
                                simhost::kMaxThreads, value));
      simhost::set_threads(static_cast<int>(n));
    } else if (arg == "--version") {
      return print_version();
    } else if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    } else if (arg.starts_with("--") && arg.size() > 2) {
      usage_error(fmt::format("unknown option '{}'", arg));
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
  if (i < argc && std::string_view(argv[i]) == "kernels") return kernels_command(argc - i - 1, argv + i + 1);
  if (i < argc && std::string_view(argv[i]) == "run") {
    if (++i >= argc) usage_error("'run' needs a script: simhost run FILE [args...]");
  }
  for (; i < argc; ++i) python_argv.push_back(argv[i]);
  return run_python(static_cast<int>(python_argv.size()), python_argv.data());
}
