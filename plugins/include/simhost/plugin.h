/* The simhost plugin ABI: the pure C interface between the simhost host and a native plugin.
 *
 * A plugin is a shared library that exports two symbols (see SIMHOST_PLUGIN_EXPORT):
 *   - `simhost_plugin_abi`, a SimhostPluginAbi constant: the ABI version the plugin was built
 *     against and the sizes of the basic types it uses. The host reads it, without calling any
 *     code of the plugin, and refuses the plugin unless its major version equals the host's and
 *     its minor version is not newer than the host's;
 *   - `simhost_plugin_init`, a SimhostPluginInitFn: called once, on the thread that loads the
 *     plugin, with the host's function table; it registers the plugin's kernels.
 *
 * Rules that keep a plugin built today loading in every later host of the same major version:
 *   - every struct that crosses starts with its own size (`struct_size`, set by whoever fills
 *     the struct), so a newer side reads only the fields an older side knew;
 *   - the host function table only grows at its end; a field's comment says since which ABI
 *     version it exists (a plugin checks host->abi_minor before using a newer one);
 *   - enumerations cross as int32_t with the explicit values below; no struct is passed by
 *     value; every function returns a status or documents why it cannot fail;
 *   - nothing C++ crosses: no exceptions, STL, Eigen or TBB types, no RTTI.
 * What a minor version may add: functions at the end of SimhostHost, fields at the end of a
 * struct (zero, the value of an older plugin's absent field, keeps the old meaning), status,
 * dtype and kind values. What never changes within a major version: the two symbols, the
 * meaning and position of every existing field and value.
 *
 * Memory and threads: strings and arrays handed to the host are read during the call that
 * receives them (the host copies what it keeps); strings and arrays the host hands out stay
 * valid until the kernel call (or the init) returns. Kernel functions run on the host's TBB
 * threads without Python's GIL and must not call into Python.
 *
 * This header compiles as C99 and as C++. docs/plugins.md is the guide. */
#ifndef SIMHOST_PLUGIN_H
#define SIMHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define SIMHOST_ABI_MAJOR 1
#define SIMHOST_ABI_MINOR 0

/* Marks the two symbols a plugin exports (plugins are built with hidden visibility). */
#if defined(__GNUC__)
#define SIMHOST_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SIMHOST_PLUGIN_EXPORT
#endif

/* ---- Status codes (since 1.0) --------------------------------------------------------- */

/* What every function of the ABI returns. The message of a failure is set with
 * SimhostHost::set_error() (by the plugin) and read with SimhostHost::last_error() (per
 * thread). */
typedef int32_t SimhostStatus;
#define SIMHOST_STATUS_OK 0
/* The kernel failed (Python: simhost.KernelError). */
#define SIMHOST_STATUS_ERROR 1
/* A value is unusable: out of bounds, bad shape, unknown choice (Python: ValueError). */
#define SIMHOST_STATUS_INVALID_VALUE 2
/* Wrong kind or type: unknown parameter name, wrong dtype (Python: TypeError). */
#define SIMHOST_STATUS_INVALID_TYPE 3
/* Memory could not be had (Python: MemoryError). */
#define SIMHOST_STATUS_OUT_OF_MEMORY 4
/* The call was cancelled (Ctrl-C, timeout=, Future.cancel()): return it at once, unchanged. */
#define SIMHOST_STATUS_CANCELLED 5

/* ---- Values ----------------------------------------------------------------------------- */

/* Element types of arrays (since 1.0); numpy's names in comments. */
typedef int32_t SimhostDType;
#define SIMHOST_DTYPE_FLOAT64 1 /* float64: double */
#define SIMHOST_DTYPE_INT64 2   /* int64: int64_t */
#define SIMHOST_DTYPE_INT32 3   /* int32: int32_t */
#define SIMHOST_DTYPE_INT8 4    /* int8: int8_t */
#define SIMHOST_DTYPE_BOOL 5    /* bool: one byte, 0 or 1 */

/* What a parameter or output holds (since 1.0). Outputs are ARRAY or FLOAT. */
typedef int32_t SimhostKind;
#define SIMHOST_KIND_FLOAT 1  /* double */
#define SIMHOST_KIND_INT 2    /* int64_t */
#define SIMHOST_KIND_BOOL 3   /* int32_t, 0 or 1 */
#define SIMHOST_KIND_STRING 4 /* UTF-8, NUL-terminated */
#define SIMHOST_KIND_ARRAY 5  /* SimhostArray */

/* A parameter's default (since 1.0). Zero, the value of a zero-filled descriptor: required. */
typedef int32_t SimhostDefault;
#define SIMHOST_DEFAULT_REQUIRED 0 /* no default: the caller must give it */
#define SIMHOST_DEFAULT_VALUE 1    /* the default_* field of the parameter's kind */
#define SIMHOST_DEFAULT_NONE 2     /* optional, None by default (SimhostHost::has tells) */

/* A view of an n-dimensional array owned by the host (since 1.0). C-contiguous (row-major),
 * aligned to its element size: strides[i] is the product of shape[i+1..ndim), in elements,
 * and is given so that code written for strided views works unchanged. `data` is read-only
 * for inputs (`writable` is NULL); outputs have writable == data, allocated by the host before
 * the kernel runs. Shape and strides stay valid until the kernel call returns. */
typedef struct SimhostArray {
  uint32_t struct_size;   /* sizeof(SimhostArray), set by the caller before asking */
  SimhostDType dtype;
  int32_t ndim;
  int32_t reserved;       /* zero */
  const int64_t* shape;   /* ndim sizes */
  const int64_t* strides; /* ndim strides, in elements */
  int64_t size;           /* the number of elements, the product of shape */
  const void* data;       /* the first element (NULL when size is 0) */
  void* writable;         /* outputs: data; inputs: NULL */
} SimhostArray;

/* ---- Kernel descriptors: what the plugin registers ---------------------------------- */

/* One parameter (since 1.0). Zero-filled fields mean: float, required, no unit, no bounds,
 * NaN and inf refused. */
typedef struct SimhostParamDesc {
  uint32_t struct_size; /* sizeof(SimhostParamDesc) */
  SimhostKind kind;
  const char* name;     /* an identifier: dt, steps, beta */
  const char* doc;      /* one or two sentences */
  const char* unit;     /* "" or NULL when dimensionless */
  /* Arrays: element type and symbolic shape, comma-separated dimensions, each a size ("3"), a
   * named size shared between parameters ("N") or "": "N, 3", "H, W". */
  SimhostDType dtype;
  const char* shape;
  /* The default, read from the field of the parameter's kind when default_kind is VALUE. */
  SimhostDefault default_kind;
  double default_float;
  int64_t default_int;
  int32_t default_bool;
  const char* default_string;
  /* Bounds on numbers and on every element of numeric arrays. */
  int32_t has_min;
  int32_t min_inclusive;
  double min;
  int32_t has_max;
  int32_t max_inclusive;
  double max;
  /* Strings: the accepted values (n_choices of them; none: any string). */
  const char* const* choices;
  int32_t n_choices;
  /* Floats and float arrays: nonzero accepts NaN and inf (refused by default). */
  int32_t allow_nonfinite;
} SimhostParamDesc;

/* One named output (since 1.0). */
typedef struct SimhostOutputDesc {
  uint32_t struct_size; /* sizeof(SimhostOutputDesc) */
  SimhostKind kind;     /* ARRAY or FLOAT */
  const char* name;
  const char* doc;
  const char* unit;
  SimhostDType dtype;   /* arrays */
  /* Arrays: the shape, as for parameters; a dimension may also be an int parameter plus an
   * offset ("steps+1") or a named size of the array parameters ("N"). */
  const char* shape;
  /* Nonzero: NaN and inf are legitimate values (by default the call fails with a KernelError
   * when the kernel wrote one, which usually means the simulation went unstable). */
  int32_t allow_nonfinite;
} SimhostOutputDesc;

/* The state of one kernel call, opaque: arguments, outputs, progress, cancellation. */
typedef struct SimhostCall SimhostCall;
/* Arguments under construction for a kernel's example, opaque. */
typedef struct SimhostExample SimhostExample;

/* Runs the kernel (since 1.0). `user` is SimhostKernelDesc::user. Returns OK, CANCELLED (as
 * returned by a host function), or a failure after SimhostHost::set_error(). Runs on a host
 * thread inside the host's TBB arena, never with Python's GIL. */
typedef SimhostStatus (*SimhostKernelFn)(SimhostCall* call, void* user);
/* Checks the arguments across parameters ("L must be even"), after each was checked against
 * its own declaration and before outputs are allocated (since 1.0). Reads arguments with the
 * SimhostHost getters; returns OK, or INVALID_VALUE / INVALID_TYPE after set_error(). */
typedef SimhostStatus (*SimhostCheckFn)(SimhostCall* call, void* user);
/* Fills a small valid set of arguments that runs in milliseconds: the kernel's self-test
 * input, used by `simhost plugins check` and simhost.describe(name)["example"] (since 1.0). */
typedef SimhostStatus (*SimhostExampleFn)(SimhostExample* example, void* user);

/* A kernel (since 1.0). The host copies everything during register_kernel(). */
typedef struct SimhostKernelDesc {
  uint32_t struct_size; /* sizeof(SimhostKernelDesc) */
  const char* name;     /* an identifier starting with a lower-case letter */
  const char* summary;  /* one line */
  const char* doc;      /* the rest: method, units, references */
  const SimhostParamDesc* params;
  int32_t n_params;
  const SimhostOutputDesc* outputs;
  int32_t n_outputs;
  const char* progress_unit; /* what progress counts: "steps" when NULL */
  SimhostKernelFn run;
  SimhostCheckFn check;      /* optional (NULL) */
  SimhostExampleFn example;  /* optional (NULL), strongly advised */
  void* user;                /* passed to run, check and example */
} SimhostKernelDesc;

/* ---- Functions the host gives to kernels' loops ---------------------------------------- */

/* A chunk [lo, hi) of a parallel loop (since 1.0). Returns OK, or a failure after
 * set_error(), which stops the loop. */
typedef SimhostStatus (*SimhostRangeFn)(void* user, int64_t lo, int64_t hi);
/* Computes the partial result of chunk [lo, hi) into `partial`, which holds the identity on
 * entry (since 1.0). */
typedef SimhostStatus (*SimhostReduceFn)(void* user, int64_t lo, int64_t hi, void* partial);
/* Combines two partial results: left = left (+) right, where left covers the indices just
 * before right's (since 1.0). */
typedef SimhostStatus (*SimhostCombineFn)(void* user, void* left, const void* right);

/* The plugin as the host sees it while it loads, opaque. */
typedef struct SimhostPlugin SimhostPlugin;

/* The host's function table (since 1.0). Valid for the life of the process; all functions
 * are thread-safe. Functions taking a SimhostCall are for use during that call only. */
typedef struct SimhostHost {
  uint32_t struct_size; /* sizeof(SimhostHost) of the host: fields beyond it do not exist */
  uint32_t abi_major;   /* the host's ABI version */
  uint32_t abi_minor;
  uint32_t reserved;
  const char* host_version; /* simhost's version, "0.1.0" */

  /* -- Errors (since 1.0) -- */
  /* Sets this thread's error message (copied), for the failure status about to be returned. */
  void (*set_error)(const char* message);
  /* This thread's message of the last failure a host function returned; never NULL. */
  const char* (*last_error)(void);

  /* -- Registration, during simhost_plugin_init only (since 1.0) -- */
  /* Checks and copies a kernel descriptor. INVALID_VALUE / INVALID_TYPE for a bad field (the
   * message names it); such a kernel is reported as a failure of the plugin and the others
   * still load. */
  SimhostStatus (*register_kernel)(SimhostPlugin* plugin, const SimhostKernelDesc* kernel);

  /* -- Arguments, during run and check (since 1.0) -- INVALID_TYPE when the kernel has no
   * parameter `name` of that kind. */
  SimhostStatus (*get_float)(SimhostCall* call, const char* name, double* value);
  SimhostStatus (*get_int)(SimhostCall* call, const char* name, int64_t* value);
  SimhostStatus (*get_bool)(SimhostCall* call, const char* name, int32_t* value);
  /* The string stays valid until the call returns. */
  SimhostStatus (*get_string)(SimhostCall* call, const char* name, const char** value);
  /* An input array: array->struct_size must be set; array->writable is NULL. */
  SimhostStatus (*get_array)(SimhostCall* call, const char* name, SimhostArray* array);
  /* *given = 0 when an optional parameter (SIMHOST_DEFAULT_NONE) was left as None, else 1. */
  SimhostStatus (*has)(SimhostCall* call, const char* name, int32_t* given);
  /* The value of a named size of the array parameters ("N"). */
  SimhostStatus (*get_size)(SimhostCall* call, const char* symbol, int64_t* value);

  /* -- Outputs, during run (since 1.0) -- */
  /* An array output, allocated (uninitialised) before the kernel started. */
  SimhostStatus (*get_output)(SimhostCall* call, const char* name, SimhostArray* array);
  /* Sets a float output. Every output must be written before run returns OK. */
  SimhostStatus (*set_float_output)(SimhostCall* call, const char* name, double value);

  /* -- Progress and cancellation, during run (since 1.0) -- */
  /* The total amount of work, in the kernel's progress unit. */
  void (*progress_total)(SimhostCall* call, int64_t total);
  /* Adds n >= 0 done (from any thread). */
  void (*progress_add)(SimhostCall* call, int64_t n);
  /* CANCELLED when the call was cancelled, else OK. Call it between chunks of work (every
   * few milliseconds) when not inside parallel_for / reduce, which check it themselves. */
  SimhostStatus (*check_cancelled)(SimhostCall* call);

  /* -- Parallel loops on the host's arena and thread budget, during run (since 1.0) -- */
  /* Calls body(user, lo, hi) over [begin, end) in chunks of at most `grain` indices, in
   * parallel, checking cancellation before each chunk. Returns OK, CANCELLED, or the first
   * failure a chunk returned (with its message as this thread's last_error()). */
  SimhostStatus (*parallel_for)(SimhostCall* call, int64_t begin, int64_t end, int64_t grain,
                                SimhostRangeFn body, void* user);
  /* A reduction whose result is bit-identical for any thread count: the range is split into
   * the same chunks of at most `grain` and the partials (each `partial_size` bytes, starting
   * as a copy of `identity`) are combined in the same order every time. The result is
   * written to `result` (partial_size bytes). Returns like parallel_for. */
  SimhostStatus (*deterministic_reduce)(SimhostCall* call, int64_t begin, int64_t end,
                                        int64_t grain, size_t partial_size, const void* identity,
                                        SimhostReduceFn body, SimhostCombineFn combine,
                                        void* user, void* result);

  /* -- Counter-based random numbers, the built-in kernels' streams (since 1.0) -- */
  /* out[i] = uniform variate number first + i on (0, 1) of (seed, stream): a pure function of
   * its arguments (Philox4x32-10), so results do not depend on threads or order. */
  SimhostStatus (*philox_uniforms)(uint64_t seed, uint64_t stream, uint64_t first, size_t n,
                                   double* out);
  /* The same for standard normal variates. */
  SimhostStatus (*philox_normals)(uint64_t seed, uint64_t stream, uint64_t first, size_t n,
                                  double* out);

  /* -- Examples, during a SimhostExampleFn (since 1.0); values are copied -- */
  SimhostStatus (*example_float)(SimhostExample* example, const char* name, double value);
  SimhostStatus (*example_int)(SimhostExample* example, const char* name, int64_t value);
  SimhostStatus (*example_bool)(SimhostExample* example, const char* name, int32_t value);
  SimhostStatus (*example_string)(SimhostExample* example, const char* name, const char* value);
  /* ndim sizes in shape; data holds their product of elements of dtype, C order. */
  SimhostStatus (*example_array)(SimhostExample* example, const char* name, SimhostDType dtype,
                                 int32_t ndim, const int64_t* shape, const void* data);
} SimhostHost;

/* ---- The plugin's two symbols ---------------------------------------------------------- */

/* The plugin's ABI tag (since 1.0), exported as `simhost_plugin_abi`. SIMHOST_PLUGIN_ABI_INIT
 * fills it for the header the plugin is compiled with. */
typedef struct SimhostPluginAbi {
  uint32_t struct_size; /* sizeof(SimhostPluginAbi) */
  uint32_t abi_major;
  uint32_t abi_minor;
  /* The basic types the ABI relies on, as the plugin's compiler lays them out. */
  uint32_t pointer_size;
  uint32_t size_t_size;
  uint32_t double_size;
  uint32_t int64_size;
  uint32_t reserved;    /* zero */
  const char* name;     /* the plugin's name (for messages and `simhost plugins`) */
  const char* version;  /* the plugin's own version */
} SimhostPluginAbi;

#define SIMHOST_PLUGIN_ABI_INIT(plugin_name, plugin_version)                                  \
  {                                                                                           \
    (uint32_t)sizeof(SimhostPluginAbi), SIMHOST_ABI_MAJOR, SIMHOST_ABI_MINOR,                 \
        (uint32_t)sizeof(void*), (uint32_t)sizeof(size_t), (uint32_t)sizeof(double),          \
        (uint32_t)sizeof(int64_t), 0u, (plugin_name), (plugin_version)                        \
  }

/* The plugin's entry point (since 1.0), exported as `simhost_plugin_init`: registers its
 * kernels through host->register_kernel(plugin, ...). Returns OK, or a failure after
 * host->set_error() (then none of its kernels is added). Called once. */
typedef SimhostStatus (*SimhostPluginInitFn)(const SimhostHost* host, SimhostPlugin* plugin);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SIMHOST_PLUGIN_H */
