// Native plugins: loading shared libraries of kernels through the C ABI (simhost/plugin.h),
// and the record of what loaded and what failed.
#pragma once

#include <string>
#include <vector>

#include "simhost/plugin.h"
#include "simhost/registry.hpp"

namespace simhost {

/// A plugin that loaded (some of its kernels may still have failed: see plugin_failures()).
struct PluginRecord {
  std::string file;         // as given (the path the user named)
  std::string name;         // the plugin's own name
  std::string version;      // the plugin's own version
  std::string abi;          // the ABI version it was built for, "1.0"
  std::string kind;         // "native" or "python"
  std::vector<std::string> kernels;  // the kernels it added
};

/// A plugin (or one of its kernels) that could not be loaded, and why.
struct PluginFailure {
  std::string file;
  std::string reason;  // one sentence saying what is wrong and, where it helps, what to do
};

/// Loads the native plugin at `path` into `registry`: dlopen (RTLD_NOW | RTLD_LOCAL, never
/// unloaded), the ABI check before any of its code is called, its init, and each kernel it
/// registers. Never throws for a bad plugin: returns false and records the failure (see
/// plugin_failures()); a kernel it registers that is refused (bad descriptor, a name already
/// registered) is recorded as a failure while its other kernels load, and a plugin whose
/// kernels are all refused failed (false). Loading the same file twice loads it once.
/// Thread-safe.
bool load_plugin(Registry& registry, const std::string& path);

/// What loaded and what failed so far, in order. Thread-safe.
std::vector<PluginRecord> loaded_plugins();
std::vector<PluginFailure> plugin_failures();

/// For front ends that load plugins of their own kind (Python files): adds to the records.
void record_plugin(PluginRecord record);
void record_plugin_failure(PluginFailure failure);

/// The folders of SIMHOST_PLUGIN_PATH (':'-separated; empty entries ignored), in order.
std::vector<std::string> plugin_path_folders();

/// The native plugins in `folder`: its *.so files, sorted by name; none when the folder does
/// not exist.
std::vector<std::string> native_plugins_in(const std::string& folder);

/// A kernel descriptor of the C ABI as a KernelDef whose functions call the descriptor's, as
/// load_plugin() registers it: every field checked, shapes parsed, the registry's rules
/// applied (registry.validate()). `file` names the plugin in messages and the kernel's source.
/// Throws ArgumentValueError naming the kernel and the bad field. Front ends that describe
/// kernels of their own (Python plugins) use it so that their kernels obey the same rules.
KernelDef kernel_from_descriptor(const Registry& registry, const SimhostKernelDesc& desc,
                                 const std::string& file);

/// The ABI version this host implements, "1.0", and what it accepts ("1.0").
std::string host_abi_version();

}  // namespace simhost
