// The CPU level a kernel translation unit is compiled for (one object library per level).
//
// A kernel file includes every header first, this one last, and then writes
//
//   SIMHOST_CPU_BEGIN
//   namespace simhost::SIMHOST_CPU_NS { ... KernelDef name_kernel() { ... } }
//   SIMHOST_CPU_END
//
// Between BEGIN and END every function is compiled for the level's instruction sets (GCC's
// `#pragma GCC target`), while everything declared in the headers above keeps the baseline
// x86-64 target. That is what makes one binary safe on any CPU: inline and template functions
// of the headers (std::, Eigen, oneTBB, simhost's own) are emitted as shared (COMDAT) copies
// that the linker deduplicates across translation units, so compiling a whole file with
// -mavx2 could let an AVX2 copy of std::vector<double>::resize serve the generic path too.
// Baseline functions still inline into the level's functions (their instruction sets are a
// subset), and the kernel's own functions, lambdas and templates are in the per-level
// namespace, so no two levels share a symbol. Hence: no #include after SIMHOST_CPU_BEGIN.
//
// In C++ the ISA macros (__AVX2__, __AVX512F__) do not follow the pragma: code tests
// SIMHOST_CPU_AVX512 (the level has AVX-512 F, BW, CD, DQ and VL) or SIMHOST_CPU_AVX2 instead.
#pragma once

#if defined(SIMHOST_CPU_LEVEL_GENERIC)
#define SIMHOST_CPU_NS cpu_generic
#define SIMHOST_CPU_AVX2 0
#define SIMHOST_CPU_AVX512 0
#define SIMHOST_CPU_BEGIN
#define SIMHOST_CPU_END

// Only the instruction sets, not "arch=": GCC never inlines a baseline function into a caller
// of another arch= (or tune=), always into one with a superset of its instruction sets.
#elif defined(SIMHOST_CPU_LEVEL_AVX2)  // x86-64-v3
#define SIMHOST_CPU_NS cpu_avx2
#define SIMHOST_CPU_AVX2 1
#define SIMHOST_CPU_AVX512 0
#define SIMHOST_CPU_BEGIN \
  _Pragma("GCC push_options") \
  _Pragma("GCC target(\"sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe\")")
#define SIMHOST_CPU_END _Pragma("GCC pop_options")

#elif defined(SIMHOST_CPU_LEVEL_AVX512)  // x86-64-v4
#define SIMHOST_CPU_NS cpu_avx512
#define SIMHOST_CPU_AVX2 1
#define SIMHOST_CPU_AVX512 1
#define SIMHOST_CPU_BEGIN \
  _Pragma("GCC push_options") \
  _Pragma("GCC target(\"sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe,avx512f,avx512bw,avx512cd,avx512dq,avx512vl\")")
#define SIMHOST_CPU_END _Pragma("GCC pop_options")

#elif defined(SIMHOST_CPU_LEVEL_NATIVE)  // -march=native on the whole build: the macros tell
#define SIMHOST_CPU_NS cpu_native
#if defined(__AVX2__) && defined(__FMA__)
#define SIMHOST_CPU_AVX2 1
#else
#define SIMHOST_CPU_AVX2 0
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512CD__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__)
#define SIMHOST_CPU_AVX512 1
#else
#define SIMHOST_CPU_AVX512 0
#endif
#define SIMHOST_CPU_BEGIN
#define SIMHOST_CPU_END

#else
#error "kernels/CMakeLists.txt compiles each kernel with one SIMHOST_CPU_LEVEL_<LEVEL> defined"
#endif
