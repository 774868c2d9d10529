// The one bind_module() shared by the host's embedded module and the importable extension.
#pragma once

#include <pybind11/pybind11.h>

namespace simhost {

/// Fills the native core module (`_simhost_core` in the host, `simhost._core` as an extension).
void bind_module(pybind11::module_& m);

/// Versions of simhost and the libraries it was built with (for --version).
pybind11::dict library_versions();

}  // namespace simhost
