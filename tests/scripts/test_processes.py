"""Processes: multiprocessing with kernels in the children, fork safety, SIGTERM, SIGPIPE."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import simhost_testing

SIMHOST = os.environ["SIMHOST_BIN"]
PYTHON = os.environ["SIMHOST_PYTHON"]

# A worker that runs a kernel; the parent compares the children's results with its own.
WORKER = """
import multiprocessing as mp, sys
import numpy as np
import simhost

def energy(seed):
    rng = np.random.default_rng(seed)
    n = 300
    r = simhost.kernels.nbody(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)),
                              mass=np.full(n, 1 / n), dt=1e-3, steps=5)
    return r.energy.tobytes().hex()
"""


def host(code, *args, timeout=60):
    """Runs code as a script file through the host (spawn and forkserver children import
    the functions they run from the main script, which `-c` code cannot provide)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "main.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(code))
        return subprocess.run([SIMHOST, script, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=tmp)


def test_pool_children_run_kernels_with_the_default_start_method():
    p = host(WORKER + """
if __name__ == "__main__":
    here = [energy(k) for k in range(4)]          # kernel threads exist in the parent now
    print(mp.get_start_method())
    with mp.Pool(2) as pool:
        there = pool.map(energy, range(4))
    print(there == here)
""")
    assert p.returncode == 0, p
    assert p.stdout.split() == ["forkserver", "True"], p


def test_spawn_works_and_the_start_method_can_still_be_chosen():
    p = host(WORKER + """
if __name__ == "__main__":
    mp.set_start_method("spawn")                 # not refused: simhost only changed the default
    here = [energy(k) for k in range(2)]
    with mp.Pool(2) as pool:
        print(pool.map(energy, range(2)) == here, mp.get_start_method())
""")
    assert p.returncode == 0, p
    assert p.stdout.split() == ["True", "spawn"], p


def test_a_fork_child_gets_a_clear_error_instead_of_a_hang():
    p = host(WORKER + """
import os
if __name__ == "__main__":
    energy(0)
    pid = os.fork()
    if pid == 0:
        try:
            energy(1)
            print("child ran a kernel")
        except simhost.KernelError as e:
            print("child:", e)
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent:", energy(2) == energy(2))
""", timeout=30)
    assert p.returncode == 0, p
    assert ("child: simhost kernels cannot run in a process forked from one whose kernel "
            "threads had started (oneTBB is not fork-safe); start worker processes with the "
            "'forkserver' (simhost's default) or 'spawn' method of multiprocessing\n") in p.stdout, p
    assert "parent: True" in p.stdout, p


def test_a_fork_before_any_kernel_ran_is_fine():
    p = host(WORKER + """
import os
if __name__ == "__main__":
    pid = os.fork()
    if pid == 0:
        print("child", len(energy(1)) > 0)
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
""", timeout=30)
    assert p.returncode == 0 and "child True" in p.stdout, p


def test_sigterm_ends_the_host_as_it_ends_python3():
    code = """
import sys, time
import numpy as np
import simhost
n = 20000
rng = np.random.default_rng(0)
print("running", flush=True)
simhost.kernels.nbody(pos=rng.normal(size=(n, 3)), vel=np.zeros((n, 3)), mass=np.full(n, 1 / n),
                      dt=1e-3, steps=100000)
"""
    proc = subprocess.Popen([SIMHOST, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    ref = subprocess.Popen([PYTHON, "-c", "import time; print('x', flush=True); time.sleep(60)"],
                           stdout=subprocess.PIPE, text=True)
    ref.stdout.readline()
    ref.send_signal(signal.SIGTERM)
    ref.communicate(timeout=10)
    assert proc.returncode == ref.returncode == -signal.SIGTERM, (proc.returncode, ref.returncode)
    assert "Fatal" not in err and "terminate" not in err, err


def test_a_closed_pipe_on_stdout_ends_quietly_by_sigpipe():
    for code in ("for i in range(200000): print(i)",                 # fails while printing
                 "import sys; sys.stdout.write('x' * 100)"):          # fails at the final flush
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the host writes anything
        try:
            p = subprocess.run([SIMHOST, "-c", code], stdout=write_end, stderr=subprocess.PIPE,
                               text=True, timeout=60)
        finally:
            os.close(write_end)
        assert p.stderr == "", (code, p.stderr)
        assert p.returncode == -signal.SIGPIPE, (code, p.returncode)
    # The shell's view: `simhost script | head` is quiet and ends with status 128 + SIGPIPE.
    shell = f"'{SIMHOST}' -c 'for i in range(200000): print(i)' | head -n 1; echo ${{PIPESTATUS[0]}}"
    p = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60)
    assert p.stderr == "" and p.stdout.split() == ["0", str(128 + signal.SIGPIPE)], p
    # Inside a script a broken pipe is still an ordinary, catchable exception.
    caught = "import os\nr, w = os.pipe()\nos.close(r)\ntry:\n    os.write(w, b'x')\n" \
             "except BrokenPipeError:\n    print('caught')\n"
    p = host(caught)
    assert p.returncode == 0 and p.stdout.strip() == "caught", p


TESTS = [
    test_pool_children_run_kernels_with_the_default_start_method,
    test_spawn_works_and_the_start_method_can_still_be_chosen,
    test_a_fork_child_gets_a_clear_error_instead_of_a_hang,
    test_a_fork_before_any_kernel_ran_is_fine,
    test_sigterm_ends_the_host_as_it_ends_python3,
    test_a_closed_pipe_on_stdout_ends_quietly_by_sigpipe,
]

if __name__ == "__main__":
    sys.exit(simhost_testing.run(TESTS))
