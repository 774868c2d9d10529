// A batch spec: the TOML file that names a kernel, its fixed parameters and a sweep, read and
// checked before any run starts, and the table of runs it expands to.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simhost/error.hpp"
#include "simhost/npy.hpp"
#include "simhost/registry.hpp"
#include "simhost/signature.hpp"

namespace simhost {

/// Where something is in a spec: its file, line (0: unknown, e.g. a spec given as a dict) and
/// dotted key ("grid.beta").
struct SpecPlace {
  std::string file;
  int line = 0;
  std::string key;
  /// "sweep.toml:12: grid.beta" (the parts known).
  std::string text() const;
};

/// An error in a spec, reported before any run starts. what() is "<place>: <message>".
/// Python: ValueError.
class SpecError : public ArgumentValueError {
 public:
  SpecError(const SpecPlace& place, const std::string& message);
};

/// A Python function named in a spec as "file.py:function" (setup or reduce).
struct BatchHook {
  std::string file;      // absolute path (relative paths are taken from the spec's folder)
  std::string function;
  SpecPlace place;
};

/// One run of a batch: a point of the sweep with every parameter the spec gives it.
struct BatchRun {
  std::int64_t index = 0;   // position in the run table
  std::string id;           // stable id: see run_id()
  /// Parameters for the kernel (fixed, swept, seed), in the kernel's parameter order. Arrays
  /// are views of the spec's memory (BatchSpec::arrays), valid while the spec lives.
  std::vector<std::pair<std::string, Value>> params;
  std::string params_json;  // canonical JSON object of the same (sorted keys)
};

/// A checked spec and its run table. Move-only (it owns the arrays its runs view).
struct BatchSpec {
  std::string path;         // the spec file as given; "<dict>" etc. for a spec without one
  std::string folder;       // relative paths in the spec are taken from here
  std::string text;         // the TOML text
  std::string sha256;       // of `text`
  const KernelDef* kernel = nullptr;
  std::uint64_t seed = 0;   // the batch seed
  std::vector<std::string> outputs;  // the outputs kept, in the kernel's order
  std::optional<BatchHook> setup, reduce;
  std::optional<double> timeout;     // seconds per attempt
  int retries = 0;
  std::int64_t replicates = 1;
  bool derives_seed = false;         // the kernel's seed is derived per run (see derive_seed())
  std::string fixed_json;            // canonical JSON of the fixed parameters ([params])
  std::vector<BatchRun> runs;
  std::vector<std::unique_ptr<NpyArray>> arrays;  // memory of the .npy parameters
};

/// Reads and checks the spec file at `path` against `registry`'s kernels, expanding its run
/// table. Throws SpecError naming the file, line and key for every error: TOML syntax, an
/// unknown key, kernel, parameter or output (with close matches), a wrong type, a value out
/// of the kernel's bounds, an empty sweep, zip lists of unequal length, a missing file, a
/// parameter set twice. A spec without a setup hook binds every run as the kernel would
/// (cross-parameter checks, output sizes) before returning.
BatchSpec load_batch_spec(const std::string& path, const Registry& registry);

/// The same for TOML text; `origin` names it in errors and `folder` anchors relative paths.
BatchSpec parse_batch_spec(std::string text, std::string origin, std::string folder,
                           const Registry& registry);

/// The run id: the first 20 hex digits of SHA-256 of {"kernel": NAME, "params": PARAMS_JSON}.
std::string run_id(std::string_view kernel, std::string_view params_json);

/// The seed of a run whose kernel's seed the spec leaves to the batch: 63 bits of SHA-256 of
/// the batch seed, the run's other parameters (canonical JSON) and its replicate number. A
/// pure function of what the run is, never of the order runs execute in.
std::uint64_t derive_seed(std::uint64_t batch_seed, std::string_view params_json,
                          std::int64_t replicate);

/// Lower-case hex SHA-256 of `data`, and of a file's bytes (throws ArgumentValueError naming
/// the file when it cannot be read).
std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::string& path);

}  // namespace simhost
