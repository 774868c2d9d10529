"""What the consumer tests (tests/consumer/) share: commands run as a user would run them.

A user's shell has none of the test run's Python or pip settings, so every command runs in
clean_env(), and call() requires it to succeed, reporting its output when it does not.
"""

import os
import subprocess
import tempfile

#: The longest one command (a configure, a build, an install, a pip install) may take.
TIMEOUT_S = 600


def clean_env(**extra):
    """The environment without PYTHON*, VIRTUAL_ENV and PIP_* variables (and with pip quiet
    and cache-free, no .pyc files written), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def call(cmd, env=None, cwd=None):
    """Runs `cmd` (in clean_env() and the temporary folder unless told otherwise) and returns
    its CompletedProcess (text output); raises AssertionError with the output's tails when
    it exits non-zero."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                       env=env or clean_env(), cwd=cwd or tempfile.gettempdir())
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    return p
