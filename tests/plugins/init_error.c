/* A plugin whose simhost_plugin_init registers a kernel and then fails with a message: the
 * host must refuse the whole plugin (the kernel too) and report the message. */
#include <simhost/plugin.h>

static SimhostStatus never_run(SimhostCall* call, void* user) {
  (void)call;
  (void)user;
  return SIMHOST_STATUS_OK;
}

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =
    SIMHOST_PLUGIN_ABI_INIT("init_error", "1.0");

SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* host,
                                                        SimhostPlugin* plugin) {
  SimhostKernelDesc k = {.struct_size = sizeof(SimhostKernelDesc)};
  k.name = "init_error_kernel";
  k.summary = "Registered before the init fails; must not be added.";
  k.run = never_run;
  if (host->register_kernel(plugin, &k) != SIMHOST_STATUS_OK) return SIMHOST_STATUS_ERROR;
  host->set_error("the licence file /nonexistent/licence.txt is missing");
  return SIMHOST_STATUS_ERROR;
}
