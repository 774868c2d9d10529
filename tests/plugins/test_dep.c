/* A small shared library of its own that the needs_dep plugin links against. */
__attribute__((visibility("default"))) double simhost_test_dep_triple(double x) { return 3 * x; }
