"""What the simhost host binary adds to python3's behaviour (installed by the binary only).

Writing to a closed pipe (``simhost script.py | head``): python3 prints a BrokenPipeError
traceback and "Exception ignored" lines; the host ends quietly by SIGPIPE instead, like
``cat`` or any C tool (status 141 in a shell). Inside the script, writes to a closed pipe
or socket still raise BrokenPipeError as usual; only an uncaught one ends the process.
"""

import atexit
import os
import signal
import sys


def _end_by_sigpipe():
    try:  # nothing more to write: point stdout at /dev/null so no later flush complains
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def install():
    previous = sys.excepthook

    def excepthook(kind, value, traceback):
        if issubclass(kind, BrokenPipeError):
            _end_by_sigpipe()
        previous(kind, value, traceback)

    sys.excepthook = excepthook

    def flush_stdout():
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except BrokenPipeError:
            _end_by_sigpipe()
        except ValueError:  # the script closed stdout itself: nothing to flush
            pass

    atexit.register(flush_stdout)
