"""The `simhost` Python API as a script sees it, run through the host binary.

Results, zero-copy and converted inputs, refused inputs with their messages, kernel failures,
the generated signatures and help, and describe(). Run as `simhost tests/scripts/test_api.py`;
the exit code is the verdict.
"""

import inspect
import pydoc
import sys

import numpy as np

import simhost
import simhost_testing

# A small, well-separated system: every call below takes milliseconds.
N = 16
DT = 1e-3
STEPS = 4


def make_inputs(n=N, seed=1):
    rng = np.random.default_rng(seed)
    pos = rng.standard_normal((n, 3))
    vel = 0.1 * rng.standard_normal((n, 3))
    mass = rng.uniform(0.5, 1.5, n)
    return pos, vel, mass


def call(**overrides):
    """nbody with valid defaults, any of them replaced (or removed when given as REMOVE)."""
    pos, vel, mass = make_inputs()
    params = dict(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    for key, value in overrides.items():
        if value is REMOVE:
            params.pop(key)
        else:
            params[key] = value
    return simhost.kernels.nbody(**params)


REMOVE = object()


# ---- Result ----------------------------------------------------------------------------


def test_result_mapping_and_attributes():
    r = call()
    assert list(r.keys()) == ["pos", "vel", "energy", "momentum"], list(r.keys())
    assert len(r) == 4 and "energy" in r and "nope" not in r
    assert r.kernel == "nbody", r.kernel
    assert r["energy"] is r.energy and r["pos"] is r.pos
    assert r.pos.shape == (N, 3) and r.vel.shape == (N, 3), (r.pos.shape, r.vel.shape)
    assert r.energy.shape == (STEPS + 1,) and r.momentum.shape == (3,)
    for name in r:
        assert r[name].dtype == np.float64, (name, r[name].dtype)
    assert np.all(np.isfinite(r.energy))
    # The leapfrog conserves energy well for this small step: the values are real.
    assert abs(r.energy[-1] - r.energy[0]) < 1e-3 * abs(r.energy[0]), r.energy
    # dict(r) works as for any Mapping.
    assert set(dict(r)) == {"pos", "vel", "energy", "momentum"}
    simhost_testing.expect_raises(KeyError, lambda: r["nope"])
    simhost_testing.expect_raises(AttributeError, lambda: r.nope, "nope")


def test_result_params_include_defaults():
    pos, vel, mass = make_inputs()
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    p = r.params
    assert set(p) == {"pos", "vel", "mass", "G", "eps", "dt", "steps"}, set(p)
    assert p["G"] == 1.0 and isinstance(p["G"], float), p["G"]
    assert p["eps"] == 0.01 and isinstance(p["eps"], float), p["eps"]
    assert p["dt"] == DT and p["steps"] == STEPS and isinstance(p["steps"], int), p
    r2 = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS, G=2.5, eps=0.25)
    assert r2.params["G"] == 2.5 and r2.params["eps"] == 0.25, r2.params
    # The params are what the kernel used: running them again reproduces each result bit for
    # bit, and G and eps really changed the physics.
    for result in (r, r2):
        again = simhost.kernels.nbody(**result.params)
        for name in result:
            assert simhost_testing.same_bits(again[name], result[name]), name
    assert not simhost_testing.same_bits(r2.energy, r.energy) and not simhost_testing.same_bits(r2.vel, r.vel)


def test_result_seconds():
    r = call()
    assert isinstance(r.seconds, float), type(r.seconds)
    assert r.seconds > 0, r.seconds


def test_result_read_only():
    r = call()
    simhost_testing.expect_raises(AttributeError, lambda: setattr(r, "energy", 1), "read-only")
    simhost_testing.expect_raises(AttributeError, lambda: setattr(r, "extra", 1), "read-only")
    simhost_testing.expect_raises(AttributeError, lambda: delattr(r, "energy"), "read-only")

    def set_item():
        r["energy"] = 1

    simhost_testing.expect_raises(TypeError, set_item, "item assignment")
    assert r.energy.shape == (STEPS + 1,) and not hasattr(r, "extra")


def test_outputs_own_their_memory():
    pos, vel, mass = make_inputs()
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    for name in r:
        arr = r[name]
        assert isinstance(arr, np.ndarray), (name, type(arr))
        assert arr.flags.owndata, f"output {name!r} does not own its memory (base={arr.base!r})"
        assert arr.flags.writeable, f"output {name!r} is not writeable"
        assert arr.flags.c_contiguous, name
    assert not np.shares_memory(r.pos, pos) and not np.shares_memory(r.vel, vel)
    # Each output owns its own memory: writing into every output of one result changes no
    # other array, and the next call with the same inputs still gives the same values.
    before = {name: r[name].copy() for name in r}
    reference = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    for name in r:
        r[name][...] = -7.0
    for name in r:
        assert not np.shares_memory(r[name], reference[name]), name
        assert simhost_testing.same_bits(reference[name], before[name]), f"writing into r.{name} changed another result"
    again = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    for name in again:
        assert simhost_testing.same_bits(again[name], before[name]), f"output {name!r} of a later call differs"


# ---- Zero copy and conversions --------------------------------------------------------


def test_float64_c_contiguous_passed_without_copy():
    pos, vel, mass = make_inputs()
    saved = [a.copy() for a in (pos, vel, mass)]
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT, steps=STEPS)
    for name, given in (("pos", pos), ("vel", vel), ("mass", mass)):
        used = r.params[name]
        assert used is given, f"{name}: r.params[{name!r}] is not the array given"
        assert np.shares_memory(used, given), name
    for name, given, before in zip(("pos", "vel", "mass"), (pos, vel, mass), saved):
        assert simhost_testing.same_bits(given, before), f"input {name!r} was modified"


def _converted_case(label, pos_in, pos_value):
    """pos_in is refused for zero copy; it must be converted with one copy to float64 C order."""
    _, vel, mass = make_inputs()
    if isinstance(pos_in, np.ndarray):
        saved = pos_in.copy(order="K")
        saved_bytes = pos_in.tobytes(order="A")
    r = simhost.kernels.nbody(pos=pos_in, vel=vel, mass=mass, dt=DT, steps=STEPS)
    used = r.params["pos"]
    assert isinstance(used, np.ndarray), (label, type(used))
    assert used is not pos_in, f"{label}: the input itself was used, expected a converted copy"
    assert used.dtype == np.float64, (label, used.dtype)
    assert used.flags.c_contiguous, f"{label}: the copy is not C-contiguous"
    assert used.shape == (N, 3), (label, used.shape)
    assert np.array_equal(used, pos_value), f"{label}: the copy differs in value from the input"
    if isinstance(pos_in, np.ndarray):
        assert not np.shares_memory(used, pos_in), label
        assert pos_in.dtype == saved.dtype and simhost_testing.same_bits(pos_in, saved), f"{label}: input modified"
        assert pos_in.tobytes(order="A") == saved_bytes, f"{label}: input modified"
    # The kernel saw exactly these values: the same call with the float64 copy agrees bitwise.
    ref = simhost.kernels.nbody(pos=np.ascontiguousarray(pos_value, np.float64), vel=vel,
                                mass=mass, dt=DT, steps=STEPS)
    for name in ref:
        assert simhost_testing.same_bits(r[name], ref[name]), f"{label}: output {name!r} differs"


def test_list_input_converted_with_one_copy():
    pos, _, _ = make_inputs()
    _converted_case("list", pos.tolist(), pos)


def test_int_array_converted_with_one_copy():
    pos_int = (np.arange(N * 3, dtype=np.int64).reshape(N, 3) * 7) % 11 + np.repeat(
        np.arange(N)[:, None] * 13, 3, axis=1)
    _converted_case("int64 array", pos_int, pos_int.astype(np.float64))


def test_fortran_array_converted_with_one_copy():
    pos, _, _ = make_inputs()
    pos_f = np.asfortranarray(pos)
    assert not pos_f.flags.c_contiguous
    _converted_case("Fortran-ordered array", pos_f, pos)


def test_strided_slice_converted_with_one_copy():
    pos, _, _ = make_inputs()
    big = np.zeros((2 * N, 3))
    big[::2] = pos
    sliced = big[::2]
    assert not sliced.flags.c_contiguous
    _converted_case("non-contiguous slice", sliced, pos)
    assert np.array_equal(big[1::2], np.zeros((N, 3))), "the parent array was modified"


def test_float32_array_converted_with_one_copy():
    pos, _, _ = make_inputs()
    pos32 = pos.astype(np.float32)
    _converted_case("float32 array", pos32, pos32.astype(np.float64))


def test_inputs_never_modified():
    pos, vel, mass = make_inputs()
    saved = [a.copy() for a in (pos, vel, mass)]
    r = simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=0.01, steps=50)
    assert not np.array_equal(r.pos, pos), "the bodies did not move: the test proves nothing"
    for name, given, before in zip(("pos", "vel", "mass"), (pos, vel, mass), saved):
        assert simhost_testing.same_bits(given, before), f"input {name!r} was modified"


# ---- Refused inputs --------------------------------------------------------------------


def test_complex_array_refused():
    pos, _, _ = make_inputs()
    simhost_testing.expect_raises(TypeError, lambda: call(pos=pos.astype(np.complex128)), "'pos'", "float64",
                  "complex")


def test_object_and_string_arrays_refused():
    pos, _, _ = make_inputs()
    simhost_testing.expect_raises(TypeError, lambda: call(pos=pos.astype(object)), "'pos'", "float64", "object")
    simhost_testing.expect_raises(TypeError, lambda: call(pos=np.full((N, 3), "a")), "'pos'", "float64")
    simhost_testing.expect_raises(TypeError, lambda: call(pos=[["a", "b", "c"]] * N), "'pos'", "float64")
    simhost_testing.expect_raises(TypeError, lambda: call(mass="heavy"), "'mass'", "float64")


def test_wrong_shapes_refused():
    pos, _, _ = make_inputs()
    simhost_testing.expect_raises(ValueError, lambda: call(pos=np.ascontiguousarray(pos[:, :2])), "'pos'",
                  "(N, 3)", f"({N}, 2)")
    simhost_testing.expect_raises(ValueError, lambda: call(pos=np.ascontiguousarray(pos[:, 0])), "'pos'",
                  "(N, 3)", f"({N},)")
    simhost_testing.expect_raises(ValueError, lambda: call(pos=pos.reshape(1, N, 3)), "'pos'", "(N, 3)",
                  f"(1, {N}, 3)")


def test_mismatched_n_refused():
    _, vel, _ = make_inputs()
    e = simhost_testing.expect_raises(ValueError, lambda: call(vel=np.ascontiguousarray(vel[:5])), "'vel'", "N",
                      "(5, 3)")
    assert str(N) in str(e), f"the message does not give N = {N}: {e}"
    _, _, mass = make_inputs()
    simhost_testing.expect_raises(ValueError, lambda: call(mass=np.ascontiguousarray(mass[:-1])), "'mass'", "N")


def test_non_finite_inputs_refused():
    pos, _, _ = make_inputs()
    bad = pos.copy()
    bad[3, 1] = np.nan
    simhost_testing.expect_raises(ValueError, lambda: call(pos=bad), "'pos'", "nan", "(3, 1)")
    bad = pos.copy()
    bad[2, 0] = np.inf
    simhost_testing.expect_raises(ValueError, lambda: call(pos=bad), "'pos'", "inf", "(2, 0)")


def test_negative_mass_refused():
    _, _, mass = make_inputs()
    bad = mass.copy()
    bad[4] = -1.0
    simhost_testing.expect_raises(ValueError, lambda: call(mass=bad), "'mass'", ">= 0", "-1", "4")


def test_bad_dt_refused():
    simhost_testing.expect_raises(ValueError, lambda: call(dt=0), "'dt'", "> 0")
    simhost_testing.expect_raises(ValueError, lambda: call(dt=0.0), "'dt'", "> 0")
    simhost_testing.expect_raises(ValueError, lambda: call(dt=-1), "'dt'", "> 0", "-1")
    simhost_testing.expect_raises(ValueError, lambda: call(dt=float("nan")), "'dt'", "nan")
    simhost_testing.expect_raises(TypeError, lambda: call(dt="x"), "'dt'", "float", "str")


def test_bad_steps_refused():
    simhost_testing.expect_raises(ValueError, lambda: call(steps=-1), "'steps'", ">= 0", "-1")
    simhost_testing.expect_raises(TypeError, lambda: call(steps=2.5), "'steps'", "int", "2.5")
    simhost_testing.expect_raises(TypeError, lambda: call(steps=True), "'steps'", "int", "bool")


def test_numpy_scalars_accepted():
    r = call(steps=np.int64(5), dt=np.float32(DT))
    assert r.energy.shape == (6,), r.energy.shape
    assert r.params["steps"] == 5 and type(r.params["steps"]) is int, r.params["steps"]
    assert r.params["dt"] == float(np.float32(DT)), r.params["dt"]
    assert isinstance(r.params["dt"], float), type(r.params["dt"])
    # ... and the kernel computed with those values: the same as plain Python numbers.
    plain = call(steps=5, dt=float(np.float32(DT)))
    for name in plain:
        assert simhost_testing.same_bits(r[name], plain[name]), name


def test_unknown_parameter_like_python():
    e = simhost_testing.expect_raises(TypeError, lambda: call(stesp=3))
    expected = "nbody() got an unexpected keyword argument 'stesp'; did you mean 'steps'?"
    assert str(e) == expected, str(e)
    e = simhost_testing.expect_raises(TypeError, lambda: call(stesp=3, steps=REMOVE))
    assert "unexpected keyword argument 'stesp'" in str(e), str(e)


def test_missing_parameter():
    e = simhost_testing.expect_raises(TypeError, lambda: call(steps=REMOVE))
    assert str(e) == "nbody() missing 1 required keyword argument: 'steps'", str(e)
    e = simhost_testing.expect_raises(TypeError, lambda: simhost.run("nbody"), "missing", "'pos'", "'vel'",
                      "'mass'", "'dt'", "'steps'")
    assert "'G'" not in str(e) and "'eps'" not in str(e), str(e)


def test_unknown_kernel():
    e = simhost_testing.expect_raises(simhost.UnknownKernelError, lambda: simhost.run("nbdy", steps=1), "'nbdy'",
                      "'nbody'")
    assert isinstance(e, LookupError), type(e).__mro__
    simhost_testing.expect_raises(LookupError, lambda: simhost.run("nbdy"))
    simhost_testing.expect_raises(LookupError, lambda: simhost.describe("nbdy"), "nbody")
    simhost_testing.expect_raises(AttributeError, lambda: simhost.kernels.nbdy, "nbdy")
    assert not hasattr(simhost.kernels, "nbdy")


def test_set_threads_refused():
    before = simhost.get_threads()
    simhost_testing.expect_raises(ValueError, lambda: simhost.set_threads(0), "0")
    simhost_testing.expect_raises(ValueError, lambda: simhost.set_threads(-3), "-3")
    simhost_testing.expect_raises(TypeError, lambda: simhost.set_threads(1.5), "int", "float")
    simhost_testing.expect_raises(TypeError, lambda: simhost.set_threads("2"), "int")
    assert simhost.get_threads() == before, (simhost.get_threads(), before)


def test_bad_timeout_refused():
    simhost_testing.expect_raises(ValueError, lambda: call(timeout=-1), "timeout", "-1")
    simhost_testing.expect_raises(ValueError, lambda: call(timeout=0), "timeout")
    simhost_testing.expect_raises(TypeError, lambda: call(timeout="x"), "timeout", "str")
    simhost_testing.expect_raises(TypeError, lambda: simhost.run("nbody", timeout="x"), "timeout")


# ---- Kernel failure --------------------------------------------------------------------


def test_kernel_failure_raises_kernel_error():
    before = call()  # made before the failure: what a healthy process computes
    pos, vel, mass = make_inputs()
    pos = pos.copy()
    pos[1] = pos[0]  # two bodies at the same point, no softening: the energy is not finite
    e = simhost_testing.expect_raises(simhost.KernelError,
                      lambda: simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT,
                                                    steps=STEPS, eps=0.0), "nbody", "energy")
    assert not isinstance(e, (TypeError, ValueError)), type(e).__mro__
    # The process stays healthy: a call after the failure gives the same bits as before it.
    after = call()
    for name in before:
        assert simhost_testing.same_bits(after[name], before[name]), name
    assert np.all(np.isfinite(after.energy))


def test_allocation_failure_is_memory_error():
    before = call()
    pos, vel, mass = make_inputs()
    # 10**13 energies (73 TiB) cannot be allocated: MemoryError before the kernel starts.
    simhost_testing.expect_raises(MemoryError,
                  lambda: simhost.kernels.nbody(pos=pos, vel=vel, mass=mass, dt=DT,
                                                steps=10**13), "allocate")
    # A broadcast view of 10**11 bodies needs a 2 TiB converted copy: MemoryError too.
    huge = np.broadcast_to(np.zeros(3), (10**11, 3))
    simhost_testing.expect_raises(MemoryError,
                  lambda: simhost.kernels.nbody(pos=huge, vel=huge,
                                                mass=np.broadcast_to(1.0, (10**11,)),
                                                dt=DT, steps=1), "allocate")
    after = call()  # and the process goes on, computing what it computed before
    for name in before:
        assert simhost_testing.same_bits(after[name], before[name]), name


# ---- Signature, help, describe ---------------------------------------------------------


def test_signature():
    sig = inspect.signature(simhost.kernels.nbody)
    names = list(sig.parameters)
    assert names == ["pos", "vel", "mass", "G", "eps", "dt", "steps", "timeout", "progress"], names
    for p in sig.parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, (p.name, p.kind)
    empty = inspect.Parameter.empty
    defaults = {n: p.default for n, p in sig.parameters.items()}
    assert defaults["G"] == 1.0 and defaults["eps"] == 0.01, defaults
    assert defaults["timeout"] is None and defaults["progress"] is None, defaults
    for name in ("pos", "vel", "mass", "dt", "steps"):
        assert defaults[name] is empty, (name, defaults[name])
    # The signature binds like a Python function's.
    sig.bind(pos=1, vel=2, mass=3, dt=4, steps=5)
    simhost_testing.expect_raises(TypeError, lambda: sig.bind(1, 2, 3))
    assert simhost.kernels.nbody.__name__ == "nbody"


def test_help_text():
    for text in (pydoc.render_doc(simhost.kernels.nbody),
                 pydoc.render_doc(simhost.kernels.nbody, renderer=pydoc.plaintext)):
        for fragment in ("length", "time", "Softening", "pos", "steps", "timeout", "energy"):
            assert fragment in text, f"help(simhost.kernels.nbody) lacks {fragment!r}:\n{text}"
    assert "nbody(*, pos" in pydoc.render_doc(simhost.kernels.nbody, renderer=pydoc.plaintext)
    doc = simhost.kernels.nbody.__doc__
    assert "Softening" in doc and "length" in doc, doc


def test_describe_matches_signature():
    d = simhost.describe("nbody")
    assert d["name"] == "nbody" and d["summary"] and d["doc"], d
    assert d["progress_unit"] == "steps", d["progress_unit"]
    sig = inspect.signature(simhost.kernels.nbody)
    params = {p["name"]: p for p in d["params"]}
    assert [p["name"] for p in d["params"]] == [
        n for n in sig.parameters if n not in ("timeout", "progress")], d
    keys = {"name", "kind", "dtype", "shape", "required", "default", "min", "max", "choices",
            "finite", "unit", "doc"}
    for p in d["params"]:
        assert set(p) == keys, (p["name"], set(p) ^ keys)
        sp = sig.parameters[p["name"]]
        assert p["required"] == (sp.default is inspect.Parameter.empty), p["name"]
        if not p["required"]:
            assert p["default"] == sp.default, (p["name"], p["default"], sp.default)
        assert p["doc"], p["name"]
    assert params["pos"]["kind"] == "array" and params["pos"]["dtype"] == "float64"
    assert params["pos"]["shape"] == "(N, 3)" and params["vel"]["shape"] == "(N, 3)"
    assert params["mass"]["shape"] == "(N,)", params["mass"]["shape"]
    assert params["pos"]["unit"] == "length" and params["dt"]["unit"] == "time", params
    assert params["G"]["kind"] == "float" and params["G"]["default"] == 1.0
    assert params["eps"]["default"] == 0.01 and "Softening" in params["eps"]["doc"]
    assert params["steps"]["kind"] == "int" and params["dt"]["kind"] == "float"
    # Bounds: dt > 0 (exclusive), steps >= 0 (inclusive), every mass element >= 0.
    assert params["dt"]["min"] == {"value": 0.0, "inclusive": False}, params["dt"]["min"]
    assert params["steps"]["min"] == {"value": 0, "inclusive": True}, params["steps"]["min"]
    assert isinstance(params["steps"]["min"]["value"], int)
    assert params["mass"]["min"] == {"value": 0.0, "inclusive": True}, params["mass"]["min"]
    assert params["dt"]["max"] is None and params["steps"]["max"] is None
    assert "each element >= 0" in d["text"], d["text"]
    assert params["pos"]["finite"] is True and params["dt"]["finite"] is True
    outputs = [o["name"] for o in d["outputs"]]
    assert outputs == ["pos", "vel", "energy", "momentum"], outputs
    assert [o["shape"] for o in d["outputs"]][2] == "(steps+1,)", d["outputs"]
    assert "Softening" in d["text"] and "length" in d["text"], d["text"]


def test_module_surface():
    assert isinstance(simhost.__version__, str) and simhost.__version__, simhost.__version__
    assert issubclass(simhost.UnknownKernelError, LookupError)
    assert issubclass(simhost.KernelError, Exception)
    assert "nbody" in simhost.list_kernels(), simhost.list_kernels()
    assert "nbody" in dir(simhost.kernels)
    # The embedded core, not the extension: this file runs in the host binary.
    assert "_simhost_core" in sys.builtin_module_names, sys.builtin_module_names
    r = simhost.run("nbody", pos=make_inputs()[0], vel=make_inputs()[1], mass=make_inputs()[2],
                    dt=DT, steps=STEPS)
    ref = call()
    for name in ref:
        assert simhost_testing.same_bits(r[name], ref[name]), name


TESTS = [
    test_module_surface,
    test_result_mapping_and_attributes,
    test_result_params_include_defaults,
    test_result_seconds,
    test_result_read_only,
    test_outputs_own_their_memory,
    test_float64_c_contiguous_passed_without_copy,
    test_list_input_converted_with_one_copy,
    test_int_array_converted_with_one_copy,
    test_fortran_array_converted_with_one_copy,
    test_strided_slice_converted_with_one_copy,
    test_float32_array_converted_with_one_copy,
    test_inputs_never_modified,
    test_complex_array_refused,
    test_object_and_string_arrays_refused,
    test_wrong_shapes_refused,
    test_mismatched_n_refused,
    test_non_finite_inputs_refused,
    test_negative_mass_refused,
    test_bad_dt_refused,
    test_bad_steps_refused,
    test_numpy_scalars_accepted,
    test_unknown_parameter_like_python,
    test_missing_parameter,
    test_unknown_kernel,
    test_set_threads_refused,
    test_bad_timeout_refused,
    test_kernel_failure_raises_kernel_error,
    test_allocation_failure_is_memory_error,
    test_signature,
    test_help_text,
    test_describe_matches_signature,
]


def main():
    return simhost_testing.run(TESTS)


if __name__ == "__main__":
    sys.exit(main())
