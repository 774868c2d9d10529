/* A plugin whose init reads an unmapped address (SIGSEGV): `simhost plugins check` must
 * report the crash while loading. Never load it in a test's own process. The address is not
 * null, so that UBSan's null check (asan preset) does not end the process first. */
#include <simhost/plugin.h>

#include <stdint.h>

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =
    SIMHOST_PLUGIN_ABI_INIT("crash_init", "1.0");

SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* host,
                                                        SimhostPlugin* plugin) {
  int* volatile table = (int*)(uintptr_t)64; /* volatile: the compiler cannot see through it */
  (void)host;
  (void)plugin;
  return (SimhostStatus)*table;
}
