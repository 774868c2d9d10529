// The one bind_module() shared by the host's embedded module and the importable extension.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "simhost/registry.hpp"

namespace simhost {

/// Reserves in `registry` the names the Python API uses itself (simhost.run()'s name,
/// timeout and progress; simhost.Result's attributes), so that no kernel declares them as a
/// parameter or output. Called before any kernel is added (bind_module() does, and the host
/// binary first thing); calling it again changes nothing.
void reserve_python_names(Registry& registry);

/// Fills the native core module (`_simhost_core` in the host, `simhost._core` as an extension).
void bind_module(pybind11::module_& m);

/// Versions of simhost and the libraries it was built with (for --version).
pybind11::dict library_versions();

}  // namespace simhost

#include <string>
#include <utility>
#include <vector>

#include "simhost/signature.hpp"

namespace simhost::detail {

/// The numpy dtype of a simhost dtype.
pybind11::dtype numpy_dtype(DType dtype);

/// A kernel's arguments from a dict of Python values, as simhost.run() converts them;
/// `holders` keeps the memory of array arguments alive. Throws the binding errors.
std::vector<std::pair<std::string, Value>> values_from_python(
    const KernelDef& kernel, const pybind11::dict& params,
    std::vector<std::pair<std::string, pybind11::object>>& holders);

/// Binds simhost._core's batch functions (scripting/src/batch.cpp).
void bind_batch(pybind11::module_& m);

}  // namespace simhost::detail
