# A ThreadSanitizer-built oneTBB for the tsan preset: Debian's source of the installed libtbb.
#
# Debian's libtbb is not built with -fsanitize=thread, so TSan cannot see TBB's own
# synchronisation and reports races between TBB's header-inlined code and the library. This
# builds the very same version (`dpkg-query -W libtbb-dev`, Debian's patches applied) with
# oneTBB's own TBB_SANITIZE=thread, and points TBB_DIR at it, so the headers and the library
# the project links come from one tree. Runs at configure time of SIMHOST_SANITIZE=thread
# builds only; the result under <build>/_deps/tbb-tsan/<version>/install is reused by every
# later configure (delete that folder to rebuild it).
#
# Fetching is a build step like apt-get: apt is given a private source list, list folder
# and cache under the build tree, so the system's apt configuration and state are untouched.
# The fetch is skipped when download/ already holds the version's .dsc and tarballs (put them
# there by hand on a machine without network). Needs dpkg-dev (dpkg-source; see setup.sh).

set(SIMHOST_TSAN_TBB_MIRROR "http://deb.debian.org/debian" CACHE STRING
    "Debian mirror the tsan preset fetches oneTBB's source from")
set(SIMHOST_TSAN_TBB_SECURITY_MIRROR "http://deb.debian.org/debian-security" CACHE STRING
    "Debian security mirror the tsan preset fetches oneTBB's source from")

function(simhost_tsan_tbb_fail what)
  message(FATAL_ERROR "tsan preset: cannot build the ThreadSanitizer oneTBB: ${what}\n"
          "(see cmake/tsan_tbb.cmake; a Debian system with libtbb-dev, dpkg-dev and network "
          "access to ${SIMHOST_TSAN_TBB_MIRROR} is needed once per build folder)")
endfunction()

# Runs a command; on failure stops the configure with `what` and the command's output.
function(simhost_tsan_tbb_run what)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "WORKING_DIRECTORY" "COMMAND")
  execute_process(COMMAND ${arg_COMMAND} WORKING_DIRECTORY ${arg_WORKING_DIRECTORY}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    list(JOIN arg_COMMAND " " cmd)
    simhost_tsan_tbb_fail("${what} failed (${rc}):\n  ${cmd}\n${out}")
  endif()
endfunction()

execute_process(COMMAND dpkg-query -W -f=\${Version} libtbb-dev
                RESULT_VARIABLE rc OUTPUT_VARIABLE tbb_deb_version ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT tbb_deb_version)
  simhost_tsan_tbb_fail("Debian's libtbb-dev is not installed (dpkg-query -W libtbb-dev)")
endif()

set(root ${PROJECT_BINARY_DIR}/_deps/tbb-tsan/${tbb_deb_version})
set(prefix ${root}/install)
set(config ${prefix}/lib/cmake/TBB/TBBConfig.cmake)

if(EXISTS ${config} AND EXISTS ${prefix}/lib/libtbb.so)
  message(STATUS "tsan preset: ThreadSanitizer oneTBB ${tbb_deb_version} (cached) in ${prefix}")
else()
  message(STATUS "tsan preset: building a ThreadSanitizer oneTBB ${tbb_deb_version} in ${root}")
  file(REMOVE_RECURSE ${root}/src ${root}/build ${prefix})
  set(download ${root}/download)
  string(REGEX REPLACE "^[0-9]+:" "" file_version ${tbb_deb_version})  # no epoch in file names
  set(dsc ${download}/onetbb_${file_version}.dsc)

  if(NOT EXISTS ${dsc})
    execute_process(COMMAND sh -c ". /etc/os-release && printf %s \"$VERSION_CODENAME\""
                    OUTPUT_VARIABLE codename)
    if(NOT codename)
      simhost_tsan_tbb_fail("no VERSION_CODENAME in /etc/os-release (not Debian?)")
    endif()
    set(apt ${root}/apt)
    file(MAKE_DIRECTORY ${apt}/lists/partial ${apt}/cache/archives/partial ${download})
    file(WRITE ${apt}/onetbb.sources
         "Types: deb-src\n"
         "URIs: ${SIMHOST_TSAN_TBB_MIRROR}\n"
         "Suites: ${codename} ${codename}-updates\n"
         "Components: main\n"
         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
         "Types: deb-src\n"
         "URIs: ${SIMHOST_TSAN_TBB_SECURITY_MIRROR}\n"
         "Suites: ${codename}-security\n"
         "Components: main\n"
         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # Private source list, lists and cache: nothing of the system's apt state is read or
    # written but the keyring. apt's download sandbox user could not write these folders.
    set(apt_options
        -o Dir::Etc::sourcelist=${apt}/onetbb.sources -o Dir::Etc::sourceparts=/nonexistent
        -o Dir::State::Lists=${apt}/lists -o Dir::Cache=${apt}/cache
        -o APT::Sandbox::User=root -q)
    simhost_tsan_tbb_run("fetching Debian's source index (apt-get update)"
      COMMAND apt-get ${apt_options} update WORKING_DIRECTORY ${download})
    string(CONCAT what "fetching the source of onetbb ${tbb_deb_version} (apt-get source; "
           "without network, put its .dsc and tarballs into ${download})")
    simhost_tsan_tbb_run("${what}"
      COMMAND apt-get ${apt_options} source --download-only onetbb=${tbb_deb_version}
      WORKING_DIRECTORY ${download})
    file(REMOVE_RECURSE ${apt})  # the index (~20 MB) is needed no more
  endif()

  find_program(dpkg_source dpkg-source)
  if(NOT dpkg_source)
    simhost_tsan_tbb_fail("dpkg-source not found (install dpkg-dev; setup.sh does)")
  endif()
  simhost_tsan_tbb_run("unpacking the source (dpkg-source -x)"
    COMMAND ${dpkg_source} --no-check -x ${dsc} ${root}/src WORKING_DIRECTORY ${root})

  # Only libtbb (no tbbmalloc, no hwloc binding, no tests); warnings are oneTBB's business.
  simhost_tsan_tbb_run("configuring oneTBB"
    COMMAND ${CMAKE_COMMAND} -S ${root}/src -B ${root}/build -G ${CMAKE_GENERATOR}
      -DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=${prefix}
      -DCMAKE_INSTALL_LIBDIR=lib -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_STRICT=OFF
      -DTBBMALLOC_BUILD=OFF -DTBB_DISABLE_HWLOC_AUTOMATIC_SEARCH=ON
    WORKING_DIRECTORY ${root})
  simhost_tsan_tbb_run("building oneTBB"
    COMMAND ${CMAKE_COMMAND} --build ${root}/build WORKING_DIRECTORY ${root})
  simhost_tsan_tbb_run("installing oneTBB into ${prefix}"
    COMMAND ${CMAKE_COMMAND} --install ${root}/build WORKING_DIRECTORY ${root})
  if(NOT EXISTS ${config})
    simhost_tsan_tbb_fail("the build left no ${config}")
  endif()
  message(STATUS "tsan preset: ThreadSanitizer oneTBB ${tbb_deb_version} built in ${prefix}")
endif()

set(TBB_DIR ${prefix}/lib/cmake/TBB CACHE PATH "oneTBB built with ThreadSanitizer" FORCE)
set(SIMHOST_TSAN_TBB_LIBDIR ${prefix}/lib)
