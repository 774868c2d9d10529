# The simhost CMake package, for plugin authors: find_package(simhost CONFIG) works against
# the install tree (PREFIX/lib/cmake/simhost) and against the build tree alike (simhost_DIR =
# the build folder), giving simhost::plugin_sdk and simhost_add_plugin().
include(CMakePackageConfigHelpers)
file(STRINGS ${PROJECT_SOURCE_DIR}/plugins/include/simhost/plugin.h abi_lines
     REGEX "^#define SIMHOST_ABI_M(AJOR|INOR) [0-9]+")
string(REGEX REPLACE ".*SIMHOST_ABI_MAJOR ([0-9]+).*" "\\1" SIMHOST_ABI_MAJOR "${abi_lines}")
string(REGEX REPLACE ".*SIMHOST_ABI_MINOR ([0-9]+).*" "\\1" SIMHOST_ABI_MINOR "${abi_lines}")

set(config_in ${PROJECT_SOURCE_DIR}/plugins/cmake/simhostConfig.cmake.in)

# Build tree: the package files in the build folder, the targets exported from it.
set(SIMHOST_CONFIG_BINDIR bin)
set(SIMHOST_CONFIG_PLUGINDIR python/simhost/plugins)
configure_package_config_file(${config_in} ${PROJECT_BINARY_DIR}/simhostConfig.cmake
  INSTALL_DESTINATION ${PROJECT_BINARY_DIR} INSTALL_PREFIX ${PROJECT_BINARY_DIR}
  PATH_VARS SIMHOST_CONFIG_BINDIR SIMHOST_CONFIG_PLUGINDIR)
export(TARGETS simhost_plugin_abi simhost_plugin_sdk NAMESPACE simhost::
  FILE ${PROJECT_BINARY_DIR}/simhostTargets.cmake)
configure_file(${PROJECT_SOURCE_DIR}/plugins/cmake/SimhostPlugin.cmake
  ${PROJECT_BINARY_DIR}/SimhostPlugin.cmake COPYONLY)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/simhostConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)

# Install tree: PREFIX/include/simhost (the SDK headers), PREFIX/lib/cmake/simhost.
set(SIMHOST_CONFIG_BINDIR bin)
set(SIMHOST_CONFIG_PLUGINDIR ${SIMHOST_INSTALL_PYTHONDIR}/simhost/plugins)
set(install_config_dir ${PROJECT_BINARY_DIR}/install-config)
configure_package_config_file(${config_in} ${install_config_dir}/simhostConfig.cmake
  INSTALL_DESTINATION lib/cmake/simhost
  PATH_VARS SIMHOST_CONFIG_BINDIR SIMHOST_CONFIG_PLUGINDIR)
install(TARGETS simhost_plugin_abi simhost_plugin_sdk EXPORT simhostTargets)
install(EXPORT simhostTargets NAMESPACE simhost:: DESTINATION lib/cmake/simhost)
install(FILES ${install_config_dir}/simhostConfig.cmake ${PROJECT_BINARY_DIR}/simhostConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/plugins/cmake/SimhostPlugin.cmake DESTINATION lib/cmake/simhost)
install(FILES ${PROJECT_SOURCE_DIR}/plugins/include/simhost/plugin.h
  ${PROJECT_SOURCE_DIR}/plugins/include/simhost/plugin.hpp DESTINATION include/simhost)
