"""The host passes CPython's own tests of the interpreter wherever python3 passes them.

Usage: parity.py MODULE (e.g. test_cmd_line). Runs `SIMHOST_BIN -m test MODULE -v` (so the
tests spawn the host itself as sys.executable) and `SIMHOST_PYTHON -m test MODULE -v` in
turn, and fails when a test fails or errors under the host but passes under python3. The
tests come from Debian's libpython3.11-testsuite (installed by setup.sh).
"""

import os
import re
import subprocess
import sys
import tempfile

# "test_name (test.module.Class.test_name) ... FAIL", and the subTest form
# "test_name (test.module.Class.test_name) [subtest] ... ERROR"; CPython's verbose runner
# prints the first line of a docstring in place of the name when there is one, so the id in
# parentheses is what identifies a test.
RESULT = re.compile(r"\((test\.[\w.]+)\)(?: \[[^\]]*\])?(?: \([^)]*\))?\s*\.\.\.\s*(FAIL|ERROR)\s*$")
SUMMARY = re.compile(r"^(FAIL|ERROR): (\w+) \((test\.[\w.]+)\)")


def failures(interpreter, module):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "SIMHOST_", "VIRTUAL_ENV"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory() as cwd:  # the tests write into their working folder
        p = subprocess.run([interpreter, "-m", "test", module, "-v"], cwd=cwd, env=env,
                           capture_output=True, text=True, errors="replace", timeout=900)
    out = p.stdout + p.stderr
    if "Tests result:" not in out:
        raise SystemExit(f"{interpreter} -m test {module} did not run its tests "
                         f"(exit {p.returncode}):\n{out[-3000:]}")
    failed = set()
    for line in out.splitlines():
        m = RESULT.search(line) or SUMMARY.search(line)
        if m:
            failed.add(m.group(1) if m.re is RESULT else m.group(3))
    ran = re.search(r"^Ran (\d+) tests?", out, re.M)
    return failed, int(ran.group(1)) if ran else 0, out


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: parity.py MODULE")
    module = sys.argv[1]
    host = os.environ["SIMHOST_BIN"]
    python = os.environ.get("SIMHOST_PYTHON", "/usr/bin/python3")
    host_failed, host_ran, host_out = failures(host, module)
    py_failed, py_ran, _ = failures(python, module)
    print(f"{module}: python3 ran {py_ran} tests, {len(py_failed)} failed"
          f"{' (' + ', '.join(sorted(py_failed)) + ')' if py_failed else ''}; "
          f"the host ran {host_ran}, {len(host_failed)} failed")
    only_host = sorted(host_failed - py_failed)
    if host_ran < py_ran:
        print(f"the host ran fewer tests ({host_ran}) than python3 ({py_ran})")
    if only_host or host_ran < py_ran:
        print("failing under the host only:\n  " + "\n  ".join(only_host))
        print("--- the host's output (end) ---\n" + host_out[-12000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
