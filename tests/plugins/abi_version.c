/* A plugin tag written by hand with the ABI version TEST_ABI_MAJOR.TEST_ABI_MINOR (compile
 * definitions): the host must refuse it from the tag alone, without calling its init. */
#include <simhost/plugin.h>

#include <stdlib.h>

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi = {
    sizeof(SimhostPluginAbi), TEST_ABI_MAJOR, TEST_ABI_MINOR, sizeof(void*), sizeof(size_t),
    sizeof(double),           sizeof(int64_t), 0u,          "abi_version_test", "1.0"};

SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* host,
                                                        SimhostPlugin* plugin) {
  (void)host;
  (void)plugin;
  abort(); /* a host that calls this has not checked the version */
}
