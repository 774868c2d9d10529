/* A plugin written in C99 against simhost/plugin.h alone (no C++ layer): scale(x, factor)
 * multiplies every element of x by factor, in parallel on the host's threads, and sums the
 * result with the host's deterministic reduction. */
#include <simhost/plugin.h>

#include <stdio.h>

static const SimhostHost* host;

typedef struct {
  const double* x;
  double* y;
  double factor;
} ScaleJob;

static SimhostStatus scale_chunk(void* user, int64_t lo, int64_t hi) {
  ScaleJob* job = (ScaleJob*)user;
  for (int64_t i = lo; i < hi; ++i) job->y[i] = job->factor * job->x[i];
  return SIMHOST_STATUS_OK;
}

static SimhostStatus sum_chunk(void* user, int64_t lo, int64_t hi, void* partial) {
  const ScaleJob* job = (const ScaleJob*)user;
  double s = *(double*)partial;
  for (int64_t i = lo; i < hi; ++i) s += job->y[i];
  *(double*)partial = s;
  return SIMHOST_STATUS_OK;
}

static SimhostStatus sum_combine(void* user, void* left, const void* right) {
  (void)user;
  *(double*)left += *(const double*)right;
  return SIMHOST_STATUS_OK;
}

static SimhostStatus scale_run(SimhostCall* call, void* user) {
  (void)user;
  SimhostArray x = {.struct_size = sizeof(SimhostArray)}, y = {.struct_size = sizeof(SimhostArray)};
  ScaleJob job;
  double total = 0, zero = 0;
  SimhostStatus s;
  if ((s = host->get_array(call, "x", &x)) != SIMHOST_STATUS_OK) return s;
  if ((s = host->get_output(call, "y", &y)) != SIMHOST_STATUS_OK) return s;
  if ((s = host->get_float(call, "factor", &job.factor)) != SIMHOST_STATUS_OK) return s;
  job.x = (const double*)x.data;
  job.y = (double*)y.writable;
  host->progress_total(call, x.size);
  if ((s = host->parallel_for(call, 0, x.size, 1024, scale_chunk, &job)) != SIMHOST_STATUS_OK)
    return s;
  if ((s = host->deterministic_reduce(call, 0, x.size, 1024, sizeof(double), &zero, sum_chunk,
                                      sum_combine, &job, &total)) != SIMHOST_STATUS_OK)
    return s;
  host->progress_add(call, x.size);
  return host->set_float_output(call, "total", total);
}

static SimhostStatus scale_example(SimhostExample* e, void* user) {
  static const double x[4] = {1, 2, 3, 4};
  static const int64_t shape[1] = {4};
  SimhostStatus s;
  (void)user;
  if ((s = host->example_array(e, "x", SIMHOST_DTYPE_FLOAT64, 1, shape, x)) != SIMHOST_STATUS_OK)
    return s;
  return host->example_float(e, "factor", 2.5);
}

SIMHOST_PLUGIN_EXPORT const SimhostPluginAbi simhost_plugin_abi =
    SIMHOST_PLUGIN_ABI_INIT("c_scale", "1.0");

SIMHOST_PLUGIN_EXPORT SimhostStatus simhost_plugin_init(const SimhostHost* h, SimhostPlugin* plugin) {
  SimhostParamDesc params[2] = {{.struct_size = sizeof(SimhostParamDesc)},
                                {.struct_size = sizeof(SimhostParamDesc)}};
  SimhostOutputDesc outputs[2] = {{.struct_size = sizeof(SimhostOutputDesc)},
                                  {.struct_size = sizeof(SimhostOutputDesc)}};
  SimhostKernelDesc k = {.struct_size = sizeof(SimhostKernelDesc)};
  host = h;
  params[0].kind = SIMHOST_KIND_ARRAY;
  params[0].name = "x";
  params[0].doc = "the values to scale";
  params[0].dtype = SIMHOST_DTYPE_FLOAT64;
  params[0].shape = "N";
  params[1].kind = SIMHOST_KIND_FLOAT;
  params[1].name = "factor";
  params[1].doc = "what every element is multiplied by";
  params[1].default_kind = SIMHOST_DEFAULT_VALUE;
  params[1].default_float = 1.0;
  outputs[0].kind = SIMHOST_KIND_ARRAY;
  outputs[0].name = "y";
  outputs[0].doc = "factor * x";
  outputs[0].dtype = SIMHOST_DTYPE_FLOAT64;
  outputs[0].shape = "N";
  outputs[1].kind = SIMHOST_KIND_FLOAT;
  outputs[1].name = "total";
  outputs[1].doc = "the sum of y, the same bits at any thread count";
  k.name = "c_scale";
  k.summary = "Scales an array (a plugin written in C).";
  k.doc = "y = factor * x, element by element; total = sum(y).";
  k.params = params;
  k.n_params = 2;
  k.outputs = outputs;
  k.n_outputs = 2;
  k.progress_unit = "elements";
  k.run = scale_run;
  k.example = scale_example;
  return h->register_kernel(plugin, &k);
}
