// The importable extension simhost._core, for plain python3 (notebooks, pytest).
#include "module.hpp"

PYBIND11_MODULE(_core, m) { simhost::bind_module(m); }
