# simhost_add_plugin(): builds a simhost plugin, in simhost's own tree and out of tree alike.
#
#   simhost_add_plugin(NAME <name> SOURCES <file>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Makes the MODULE library target simhost_plugin_<name>, written as <name>.so, linked against
# simhost::plugin_sdk (the C ABI header, the C++ layer and Eigen; never the host's C++), with
# hidden visibility and -Wl,--no-undefined so a missing library shows when the plugin links
# rather than when the host loads it. The library goes to OUTPUT_DIRECTORY (default:
# SIMHOST_PLUGIN_OUTPUT_DIRECTORY if set, else <build>/plugins) and is installed to
# SIMHOST_PLUGIN_INSTALL_DIR (default: lib/simhost/plugins under the install prefix). Add that
# folder to SIMHOST_PLUGIN_PATH, or pass the file to `simhost --plugin`.
include_guard(GLOBAL)


function(simhost_add_plugin)
  cmake_parse_arguments(PARSE_ARGV 0 arg "NO_INSTALL" "NAME;OUTPUT_DIRECTORY" "SOURCES")
  if(NOT arg_NAME OR NOT arg_SOURCES)
    message(FATAL_ERROR "simhost_add_plugin: give NAME <name> and SOURCES <file>...")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "simhost_add_plugin: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_NAME MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "simhost_add_plugin: NAME '${arg_NAME}' must be lower-case letters, "
            "digits and underscores, starting with a letter")
  endif()
  set(target simhost_plugin_${arg_NAME})
  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE simhost::plugin_sdk)
  if(arg_OUTPUT_DIRECTORY)
    set(out ${arg_OUTPUT_DIRECTORY})
  elseif(SIMHOST_PLUGIN_OUTPUT_DIRECTORY)
    set(out ${SIMHOST_PLUGIN_OUTPUT_DIRECTORY})
  else()
    set(out ${CMAKE_BINARY_DIR}/plugins)
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${arg_NAME}
    PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${out}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
  if(NOT arg_NO_INSTALL)
    if(SIMHOST_PLUGIN_INSTALL_DIR)
      set(destination ${SIMHOST_PLUGIN_INSTALL_DIR})
    else()
      set(destination lib/simhost/plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION ${destination})
  endif()
endfunction()
