# The in-tree plugins (every plugins/<name>/ with a CMakeLists.txt), each built with
# simhost_add_plugin() as an out-of-tree plugin is. They go where the built host looks for
# installed plugins (the package's plugins folder) and are installed there: they come with
# simhost. Included after scripting/, which sets SIMHOST_INSTALL_PYTHONDIR.
set(SIMHOST_PLUGIN_OUTPUT_DIRECTORY ${SIMHOST_PYTHON_DIR}/simhost/plugins)
set(SIMHOST_PLUGIN_INSTALL_DIR ${SIMHOST_INSTALL_PYTHONDIR}/simhost/plugins)
file(GLOB plugin_dirs LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*)
foreach(dir IN LISTS plugin_dirs)
  if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/CMakeLists.txt)
    get_filename_component(plugin_name ${dir} NAME)
    add_subdirectory(${dir} ${PROJECT_BINARY_DIR}/plugins/${plugin_name})
  endif()
endforeach()
