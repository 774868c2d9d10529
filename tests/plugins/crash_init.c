/* A plugin whose init dereferences a null pointer (SIGSEGV): `simhost plugins check` must
 * report the crash while loading. Never load it in a test's own process. */
#include <simhost/plugin.h>

#include <stddef.h>

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =
    SIMHOST_PLUGIN_ABI_INIT("crash_init", "1.0");

SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* host,
                                                        SimhostPlugin* plugin) {
  int* volatile table = NULL; /* volatile: the compiler cannot see it is null */
  (void)host;
  (void)plugin;
  return (SimhostStatus)*table;
}
