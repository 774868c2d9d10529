/* A library that exports simhost_plugin_abi and no simhost_plugin_init. */
#include <simhost/plugin.h>

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =
    SIMHOST_PLUGIN_ABI_INIT("abi_only", "1.0");
