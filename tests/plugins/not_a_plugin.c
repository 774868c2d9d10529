/* An ordinary shared library: it exports a function, and no simhost symbol. */
__attribute__((visibility("default"))) int not_a_plugin_answer(void) { return 42; }
